/* What the data-path handlers (Produce, Fetch, ListOffsets,
 * OffsetForLeaderEpoch, InitProducerId; prototypes in kapi_handlers.h) need
 * from the rest of the broker beyond the dispatch contract:
 * - the broker opens ed_broker.pids with ed_pids_open(log.dirs) before
 *   serving and closes it after the last connection is gone;
 * - ed_kapi_data_attach is called once after the topic registry is opened;
 * - the request body in req->rd lies in a buffer the handler may write:
 *   Produce stamps offsets into the batches in place before appending them;
 * - every appender (Produce, bridges) calls ed_topics_appended. */
#ifndef ED_CORE_KAPI_DATA_H
#define ED_CORE_KAPI_DATA_H

#include "core/topics.h"

/* Hooks the data path into the registry: the append listener wakes
 * long-poll fetches, and a remove listener calls ed_kapi_partition_closing.
 * Owns the registry's (single) append listener. */
int ed_kapi_data_attach(ed_topics *t);

/* Called while p and p->log are still valid, before p is freed (topic
 * deleted, registry closed): long-poll fetches waiting on p let go of it
 * and answer soon (finding the partition gone), and the idempotent-producer
 * state of p is freed. */
void ed_kapi_partition_closing(ed_partition *p);

#endif
