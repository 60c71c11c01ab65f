/* The Kafka API handlers that ed_kapi_table points at (signature and
 * statuses in core/kapi.h), and the hooks the data-path handlers need from
 * the topic registry. */
#ifndef ED_CORE_KAPI_HANDLERS_H
#define ED_CORE_KAPI_HANDLERS_H

#include "core/kapi.h"

/* Data path: Produce (0) v0-11, Fetch (1) v4-12, ListOffsets (2) v0-7,
 * InitProducerId (22) v0-5, OffsetForLeaderEpoch (23) v0-4. */
int ed_kapi_produce(ed_kreq *req);
int ed_kapi_fetch(ed_kreq *req);
int ed_kapi_list_offsets(ed_kreq *req);
int ed_kapi_init_producer_id(ed_kreq *req);
int ed_kapi_offset_for_leader_epoch(ed_kreq *req);

/* The topic registry calls this for every partition it is about to free
 * (topic deleted, registry closed), while p and p->log are still valid:
 * long-poll fetches waiting on p let go of it (and answer soon, finding the
 * partition gone) and the idempotent-producer state of p is freed. */
void ed_kapi_partition_closing(ed_partition *p);

#endif
