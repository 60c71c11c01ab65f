/* The consumer-group coordinator of a single-node broker (Kafka's classic
 * group protocol): groups and their members, the rebalance state machine
 * (Empty -> PreparingRebalance -> CompletingRebalance -> Stable, and Dead),
 * session, rebalance and initial-delay deadlines, static membership, and the
 * committed offsets, persisted in the compacted internal topic
 * __consumer_offsets in Kafka's own record formats and loaded from it at
 * open. The Kafka handlers of the group APIs (core/kafka/kapi_group.c) drive it;
 * it lives on the broker's loop thread. */
#ifndef ED_CORE_GROUP_H
#define ED_CORE_GROUP_H

#include "core/broker.h"

/* Kafka's name of the internal offsets topic. */
#define ED_GROUP_OFFSETS_TOPIC "__consumer_offsets"

struct ed_groups_config {
    int32_t initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms */
    int32_t min_session_timeout_ms;     /* group.min.session.timeout.ms */
    int32_t max_session_timeout_ms;     /* group.max.session.timeout.ms */
    int32_t max_group_size;             /* group.max.size */
    int32_t max_metadata_len;           /* offset.metadata.max.bytes */
    int64_t offsets_retention_ms;       /* offsets.retention.minutes, in ms */
    int64_t retention_check_ms;         /* offsets.retention.check.interval.ms */
    uint64_t offsets_segment_len;       /* segment.bytes of __consumer_offsets */
};
/* Kafka's defaults (initial delay 3000 ms, sessions 6 s .. 30 min, ...). */
void ed_groups_config_default(struct ed_groups_config *c);
/* Reads the group.* / offset* keys of a broker config. */
void ed_groups_config_from(const struct ed_config *cfg, struct ed_groups_config *out);

/* Opens the coordinator of broker b (b->topics, b->storage and b->loop
 * set): loads committed offsets and group metadata from __consumer_offsets
 * when the topic exists (it is created on first use otherwise). A damaged
 * record is skipped with a log line; an unreadable log is an error. */
int ed_groups_open(ed_broker *b, const struct ed_groups_config *cfg, ed_groups **out);
/* Frees everything. Pending JoinGroup/SyncGroup requests must have been
 * cancelled by the server first (ed_server_free does it). */
void ed_groups_close(ed_groups *g);

/* The clock the coordinator measures deadlines with (monotonic ms) and
 * stamps commits with (wall ms). By default the loop's cached time and the
 * system clock; tests install a fake one and call ed_groups_advance. */
struct ed_groups_clock {
    uint64_t (*mono_ms)(void *arg);
    int64_t (*wall_ms)(void *arg);
    void *arg;
};
void ed_groups_set_clock(ed_groups *g, const struct ed_groups_clock *clock);
/* Runs every deadline that is due now (session expiry, rebalance and sync
 * timeouts, the initial delay, offsets retention) and re-arms the timer.
 * The coordinator's own timer calls it; tests call it after moving time. */
void ed_groups_advance(ed_groups *g);

struct ed_groups_stats {
    int32_t n_groups;
    int32_t n_members;
    int64_t n_offsets;
    int64_t n_rebalances;   /* generations completed */
    int64_t n_expired;      /* members removed by session or rebalance timeout */
    int64_t n_loaded;       /* records read at open */
    int64_t n_load_skipped; /* records at open that did not parse */
};
void ed_groups_stats_get(const ed_groups *g, struct ed_groups_stats *out);

/* A group as status pages show it; topic NULL for a group without
 * committed offsets. */
struct ed_groups_offset {
    const char *group;
    const char *state; /* "Stable", "Empty", ... */
    int32_t n_members;
    const char *topic;
    int32_t partition;
    int64_t offset; /* committed */
};
/* Calls fn for each committed offset of each group (groups and topics in
 * name order, partitions ascending), and once with topic NULL for a group
 * without any. fn must not change the groups. */
void ed_groups_offsets_each(const ed_groups *g,
                            void (*fn)(void *arg, const struct ed_groups_offset *o), void *arg);

#endif
