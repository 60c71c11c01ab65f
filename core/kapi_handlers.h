/* The Kafka API handlers the dispatch table in kapi.c points at. Each reads
 * its request body from req->rd and appends the response body to req->out
 * (contract in core/kapi.h). */
#ifndef ED_CORE_KAPI_HANDLERS_H
#define ED_CORE_KAPI_HANDLERS_H

#include "core/kapi.h"

/* Admin (kapi_admin.c) */
int ed_kapi_create_topics(ed_kreq *req);     /* key 19, v0-7, flex 5 */
int ed_kapi_delete_topics(ed_kreq *req);     /* key 20, v0-6, flex 4 */
int ed_kapi_create_partitions(ed_kreq *req); /* key 37, v0-3, flex 2 */
int ed_kapi_describe_cluster(ed_kreq *req);  /* key 60, v0-1, flex 0 */

/* Configs (kapi_configs.c) */
int ed_kapi_describe_configs(ed_kreq *req);          /* key 32, v0-4, flex 4 */
int ed_kapi_alter_configs(ed_kreq *req);             /* key 33, v0-2, flex 2 */
int ed_kapi_incremental_alter_configs(ed_kreq *req); /* key 44, v0-1, flex 1 */

#endif
