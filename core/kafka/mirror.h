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

/* The files in the data directory. */
#define ED_MIRROR_STATE_FILE  "mirror.state"
#define ED_MIRROR_STATUS_FILE "mirror-status.json"
#define ED_MIRROR_GAPS_FILE   "mirror.gaps"

#endif
