/* Prototypes of every Kafka API handler (one line each), so the dispatch
 * table in core/kafka/kapi.c can name them; each lives in core/kapi_<name>.c. */
#ifndef ED_CORE_KAPI_HANDLERS_H
#define ED_CORE_KAPI_HANDLERS_H

#include "core/kafka/kapi.h"

int ed_kapi_produce(ed_kreq *req);                         /* 0 */
int ed_kapi_fetch(ed_kreq *req);                           /* 1 */
int ed_kapi_list_offsets(ed_kreq *req);                    /* 2 */
int ed_kapi_metadata(ed_kreq *req);                        /* 3 */
int ed_kapi_offset_commit(ed_kreq *req);                   /* 8 */
int ed_kapi_offset_fetch(ed_kreq *req);                    /* 9 */
int ed_kapi_find_coordinator(ed_kreq *req);                /* 10 */
int ed_kapi_join_group(ed_kreq *req);                      /* 11 */
int ed_kapi_heartbeat(ed_kreq *req);                       /* 12 */
int ed_kapi_leave_group(ed_kreq *req);                     /* 13 */
int ed_kapi_sync_group(ed_kreq *req);                      /* 14 */
int ed_kapi_describe_groups(ed_kreq *req);                 /* 15 */
int ed_kapi_list_groups(ed_kreq *req);                     /* 16 */
int ed_kapi_sasl_handshake(ed_kreq *req);                  /* 17 */
int ed_kapi_api_versions(ed_kreq *req);                    /* 18 */
int ed_kapi_create_topics(ed_kreq *req);                   /* 19 */
int ed_kapi_delete_topics(ed_kreq *req);                   /* 20 */
int ed_kapi_init_producer_id(ed_kreq *req);                /* 22 */
int ed_kapi_offset_for_leader_epoch(ed_kreq *req);         /* 23 */
int ed_kapi_describe_acls(ed_kreq *req);                   /* 29 */
int ed_kapi_create_acls(ed_kreq *req);                     /* 30 */
int ed_kapi_delete_acls(ed_kreq *req);                     /* 31 */
int ed_kapi_describe_configs(ed_kreq *req);                /* 32 */
int ed_kapi_alter_configs(ed_kreq *req);                   /* 33 */
int ed_kapi_sasl_authenticate(ed_kreq *req);               /* 36 */
int ed_kapi_create_partitions(ed_kreq *req);               /* 37 */
int ed_kapi_delete_groups(ed_kreq *req);                   /* 42 */
int ed_kapi_incremental_alter_configs(ed_kreq *req);       /* 44 */
int ed_kapi_offset_delete(ed_kreq *req);                   /* 47 */
int ed_kapi_describe_client_quotas(ed_kreq *req);          /* 48 */
int ed_kapi_describe_user_scram_credentials(ed_kreq *req); /* 50 */
int ed_kapi_alter_user_scram_credentials(ed_kreq *req);    /* 51 */
int ed_kapi_describe_cluster(ed_kreq *req);                /* 60 */

#endif
