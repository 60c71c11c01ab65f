/* What the data-path handlers (Produce, Fetch, ListOffsets,
 * OffsetForLeaderEpoch, InitProducerId; prototypes in kapi_handlers.h) need
 * from the rest of the broker beyond the dispatch contract:
 * - the broker opens ed_broker.pids with ed_pids_open(log.dirs) before
 *   serving and closes it after the last connection is gone;
 * - the topic registry calls ed_kapi_partition_closing for every partition
 *   it is about to free;
 * - the request body in req->rd lies in a buffer the handler may write:
 *   Produce stamps offsets into the batches in place before appending them;
 * - Fetch installs the registry's append listener (ed_topics_set_append_
 *   listener) when its first long-poll waits, and every appender calls
 *   ed_topics_appended. */
#ifndef ED_CORE_KAPI_DATA_H
#define ED_CORE_KAPI_DATA_H

#include "core/topics.h"

/* Called while p and p->log are still valid, before p is freed (topic
 * deleted, registry closed): long-poll fetches waiting on p let go of it
 * and answer soon (finding the partition gone), and the idempotent-producer
 * state of p is freed. */
void ed_kapi_partition_closing(ed_partition *p);

#endif
