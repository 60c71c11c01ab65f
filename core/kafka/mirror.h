/* The upstream mirror: copies the local partitions of the topics named by
 * mirror.topics to a central Apache Kafka cluster, exactly once, by writing
 * each step's records and the source partitions' resume points in one
 * upstream transaction (docs/mirror.md). It runs on the broker's loop as a
 * service, keeps a durable local "mirrored up to" mark per partition (a
 * hint and the retention guard: retention and the disk guard keep segments
 * above it) and writes its state for `eddy mirror status`. */
#ifndef ED_CORE_KAFKA_MIRROR_H
#define ED_CORE_KAFKA_MIRROR_H

#include "core/broker.h"

typedef struct ed_mirror ed_mirror;

/* Starts the mirror when mirror.bootstrap.servers is set (ED_OK and
 * nothing otherwise) and registers it as a service of b. A bad setting:
 * ED_ERR_INVAL and why names the key. */
int ed_mirror_start(ed_broker *b, ed_mirror **out, char *why, size_t why_len);

/* Whether pattern (a name, or a regex of whole names: literal characters,
 * '.', '*' after an atom, '\' escapes) matches all of name. */
bool ed_mirror_match(const char *pattern, const char *name);

/* What an answer PRODUCER_FENCED or INVALID_PRODUCER_EPOCH means. */
enum ed_mirror_fence {
    ED_MIRROR_FENCE_STOP,   /* another instance took the transactional id over: stop */
    ED_MIRROR_FENCE_RETAKE, /* within the grace after our own InitProducerId: once, take it back */
    ED_MIRROR_FENCE_TIMED_OUT, /* our transaction outlived its timeout: the upstream aborted it */
};

/* Classifies a fencing answer at now_ms: init_ms is when our
 * InitProducerId succeeded, retaken whether the link was taken back once
 * already, txn_open_ms how long the transaction in flight has been open
 * (-1: none), txn_max_ms the transaction timeout asked of the coordinator.
 * A coordinator aborts a transaction open longer than its timeout and
 * bumps the producer epoch, so the next request of that transaction is
 * answered as if another instance had fenced it. */
enum ed_mirror_fence ed_mirror_fence_kind(uint64_t now_ms, uint64_t init_ms, bool retaken,
                                          int64_t txn_open_ms, int64_t txn_max_ms);

/* The files in the data directory. */
#define ED_MIRROR_STATE_FILE  "mirror.state"
#define ED_MIRROR_STATUS_FILE "mirror-status.json"
#define ED_MIRROR_GAPS_FILE   "mirror.gaps"

#endif
