/* Internals shared by the group coordinator's modules: the registry
 * (group_registry.c), the state machine (group.c), the offsets store over
 * __consumer_offsets (group_store.c), and the API the Kafka handlers of the
 * group APIs (kapi_group.c) drive it through: plain inputs in, outcomes
 * through completion callbacks with the caller's opaque cookie. Error
 * outcomes are Kafka's error numbers (core/kafka/errors.h, a leaf). No
 * Kafka request or wire type appears here. Everything runs on the loop
 * thread. */
#ifndef ED_CORE_GROUP_INT_H
#define ED_CORE_GROUP_INT_H

#include "core/group.h"
#include "storage/batch.h"

#define ED_GROUP_ID_MAX     1024 /* longest group id accepted */
#define ED_GROUP_MEMBER_MAX 1024 /* longest member or instance id accepted */

enum ed_gstate {
    ED_GS_EMPTY = 0,
    ED_GS_PREPARING,  /* PreparingRebalance: collecting JoinGroups */
    ED_GS_COMPLETING, /* CompletingRebalance: waiting for the leader's SyncGroup */
    ED_GS_STABLE,
    ED_GS_DEAD
};
/* Kafka's state names ("PreparingRebalance", ...). */
const char *ed_gstate_name(enum ed_gstate s);

/* A string or byte run the caller owns (len -1 = null); the coordinator
 * copies what it keeps. */
typedef struct ed_gstr {
    const char *p;
    int32_t len;
} ed_gstr;
#define ED_GSTR_NULL ((ed_gstr){NULL, -1})
/* A NUL-terminated string as a run (NULL: null). */
ed_gstr ed_gstr_z(const char *z);
/* strcmp order of z against s (null s as empty). */
int ed_gstr_cmp(const char *z, ed_gstr s);
/* Binary search of a sorted run of n elements: cmp(arg, i) < 0 when
 * element i sorts before the key, 0 when it is the key. Returns the first
 * index not before the key (where it is or would be inserted); *found when
 * the element there is the key. */
int32_t ed_group_lower_bound(int32_t n, int (*cmp)(const void *arg, int32_t i), const void *arg,
                             bool *found);
/* z equals s (a NULL z or null s never does). */
bool ed_gstr_eq(const char *z, ed_gstr s);
/* An ed_malloc'd NUL-terminated copy; NULL for a null s or no memory. */
char *ed_gstr_dup(ed_gstr s);
/* Copies s into out (cap bytes with the NUL); false if null or too long. */
bool ed_gstr_copy(ed_gstr s, char *out, size_t cap);

/* Outcome of a JoinGroup (strings live until the callback returns). */
struct ed_gjoin_result {
    int16_t error;
    int32_t generation;
    const char *protocol_type; /* NULL = null */
    const char *protocol;      /* NULL = none chosen */
    const char *leader;        /* never NULL ("" none) */
    const char *member_id;     /* never NULL */
    bool skip_assignment;
    const struct ed_group *members_of; /* non-NULL: list the group's members */
};
/* Outcome of a SyncGroup. */
struct ed_gsync_result {
    int16_t error;
    const char *protocol_type; /* NULL on error */
    const char *protocol;
    const uint8_t *assignment; /* NULL: empty */
    int32_t assignment_len;
};
/* Where an outcome goes: done is called exactly once with the caller's
 * cookie (non-NULL): during ed_group_join/_sync, or later when the request
 * was parked for the rebalance, unless ed_groups_cancel(cookie) ran first. */
struct ed_gjoin_waiter {
    void (*done)(void *cookie, const struct ed_gjoin_result *r);
    void *cookie;
};
struct ed_gsync_waiter {
    void (*done)(void *cookie, const struct ed_gsync_result *r);
    void *cookie;
};

struct ed_gproto {
    char *name;
    uint8_t *meta;
    int32_t meta_len;
};

struct ed_gmember {
    struct ed_gmember *next;
    char *id;
    char *instance_id; /* NULL: a dynamic member */
    char *client_id;
    char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    int32_t n_protocols;
    struct ed_gproto *protocols; /* in the member's order of preference */
    uint8_t *assignment;         /* opaque bytes from the leader's SyncGroup */
    int32_t assignment_len;
    struct ed_gjoin_waiter join; /* a parked JoinGroup (cookie NULL: none) */
    struct ed_gsync_waiter sync; /* a parked SyncGroup (cookie NULL: none) */
    bool joined;                 /* has (re)joined in the current PreparingRebalance */
    bool synced;                 /* has sent SyncGroup for the current generation */
    uint64_t seen_ms;            /* last heartbeat or request (monotonic) */
};

/* A member id handed out with MEMBER_ID_REQUIRED, not yet joined. */
struct ed_gpending {
    struct ed_gpending *next;
    char *id;
    uint64_t deadline_ms;
};

struct ed_goffset {
    int32_t partition;
    int32_t leader_epoch;
    int64_t offset;
    int64_t commit_ts; /* wall ms */
    char *metadata;    /* never NULL */
};
struct ed_gtopic {
    char *name;
    int32_t n, cap;
    struct ed_goffset *parts; /* ascending partition */
};

struct ed_group {
    char *id;
    enum ed_gstate state;
    int32_t generation;
    char *protocol_type; /* NULL: none yet (offsets only) */
    char *protocol;      /* chosen protocol of the generation, NULL when none */
    char *leader;        /* member id of the leader, NULL when none */
    struct ed_gmember *members;
    int32_t n_members;
    struct ed_gpending *pending;
    int32_t n_pending;
    uint64_t deadline_ms; /* PreparingRebalance: join deadline; Completing: sync deadline */
    bool initial;         /* the initial delayed join of an empty group */
    bool new_in_delay;    /* a member was added during the initial delay */
    int64_t initial_left_ms;
    int64_t state_ts;         /* wall ms of the last state change (Empty: since when) */
    struct ed_gtopic *topics; /* ascending name */
    int32_t n_topics, cap_topics;
    int64_t n_offsets;
};

struct ed_groups {
    ed_broker *b;
    struct ed_groups_config cfg;
    struct ed_groups_clock clock;
    struct ed_group **groups; /* ascending id */
    int32_t n_groups, cap_groups;
    ed_partition *part; /* __consumer_offsets-0, NULL until created */
    ed_batch_builder *builder;
    ed_timer timer;
    uint64_t timer_due; /* mono ms the timer is armed for */
    uint64_t next_retention_ms;
    bool loading;
    struct ed_groups_stats stats;
};

uint64_t ed_groups_mono(const ed_groups *g);
int64_t ed_groups_wall(const ed_groups *g);

/* ---- registry (group_registry.c) ---- */
struct ed_group *ed_group_find(ed_groups *g, ed_gstr id);
struct ed_group *ed_group_find_z(ed_groups *g, const char *id);
/* Finds or creates an Empty group. NULL on allocation failure. */
struct ed_group *ed_group_get(ed_groups *g, const char *id, size_t len);
/* Removes an Empty group with no offsets left from the registry. */
void ed_group_remove(ed_groups *g, struct ed_group *grp);
struct ed_gmember *ed_group_member(struct ed_group *grp, ed_gstr id);
struct ed_gmember *ed_group_member_by_instance(struct ed_group *grp, ed_gstr inst);
/* Frees a member that has no parked request. */
void ed_gmember_free(struct ed_gmember *m);
const struct ed_gproto *ed_gmember_proto(const struct ed_gmember *m, const char *name);
/* True when the group's members subscribe (consumer protocol) to topic, or
 * when that cannot be told (another protocol type). */
bool ed_group_subscribed(const struct ed_group *grp, const char *topic);
/* Kafka's static-member fencing: an instance id known with another member
 * id fences the request. */
bool ed_group_fenced(struct ed_group *grp, ed_gstr member_id, ed_gstr inst);

/* ---- the state machine (group.c) ---- */
struct ed_gjoin_args {
    ed_gstr group_id;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    ed_gstr member_id;
    ed_gstr instance_id; /* null: a dynamic member */
    ed_gstr protocol_type;
    int32_t n_protocols;
    const ed_gstr *proto_names; /* copied */
    const ed_gstr *proto_metas; /* copied */
    ed_gstr client_id;          /* shown by DescribeGroups */
    ed_gstr client_host;
    bool require_known_member; /* KIP-394: a new member must come back with its id */
    struct ed_gjoin_waiter waiter;
};
/* Handles a JoinGroup; its outcome goes to a->waiter. */
void ed_group_join(ed_groups *g, const struct ed_gjoin_args *a);

struct ed_gsync_args {
    ed_gstr group_id;
    int32_t generation;
    ed_gstr member_id;
    ed_gstr instance_id;
    ed_gstr protocol_type; /* null when absent */
    ed_gstr protocol_name; /* null when absent */
    int32_t n_assignments;
    const ed_gstr *assign_members;
    const ed_gstr *assign_bytes; /* copied */
    struct ed_gsync_waiter waiter;
};
/* Handles a SyncGroup; its outcome goes to a->waiter. */
void ed_group_sync(ed_groups *g, const struct ed_gsync_args *a);
/* The caller's cookie goes away (its connection closed): a parked join or
 * sync holding it is forgotten and never reported. */
void ed_groups_cancel(ed_groups *g, void *cookie);
/* Answers a member's parked join and sync with err (at close). */
void ed_gmember_fail(struct ed_gmember *m, int16_t err);
/* Arms the coordinator's timer for due (monotonic ms) unless sooner. */
void ed_groups_arm(ed_groups *g, uint64_t due);

int16_t ed_group_heartbeat(ed_groups *g, ed_gstr group_id, int32_t generation, ed_gstr member_id,
                           ed_gstr instance_id);
/* One leaving member of grp (NULL: unknown group). */
int16_t ed_group_leave(ed_groups *g, struct ed_group *grp, ed_gstr member_id, ed_gstr instance_id);
/* Checks an OffsetCommit's membership fields; creates the group of a
 * standalone (generation < 0) commit. *out is the group on success. */
int16_t ed_group_commit_check(ed_groups *g, ed_gstr group_id, int32_t generation, ed_gstr member_id,
                              ed_gstr instance_id, struct ed_group **out);

/* ---- offsets and __consumer_offsets (group_store.c) ---- */
struct ed_goffset *ed_group_offset(struct ed_group *grp, const char *topic, int32_t partition);
/* Sets an offset in memory (copying metadata). */
int ed_group_offset_set(struct ed_group *grp, const char *topic, int32_t partition, int64_t offset,
                        int32_t leader_epoch, const char *metadata, size_t metadata_len,
                        int64_t commit_ts);
/* Forgets one offset (in memory); false if there was none. */
bool ed_group_offset_del(struct ed_group *grp, const char *topic, int32_t partition);
void ed_group_offsets_free(struct ed_group *grp);

/* One record for __consumer_offsets: key and value (NULL = tombstone). */
struct ed_grec {
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
};
/* Encoders (buffers from ed_malloc, owned by the caller). */
int ed_gstore_offset_key(const char *group, const char *topic, int32_t partition,
                         struct ed_grec *r);
int ed_gstore_offset_value(int64_t offset, int32_t leader_epoch, const char *metadata,
                           int64_t commit_ts, struct ed_grec *r);
int ed_gstore_group_key(const char *group, struct ed_grec *r);
int ed_gstore_group_value(const ed_groups *g, const struct ed_group *grp, struct ed_grec *r);
void ed_grecs_free(struct ed_grec *r, int n);
/* Makes sure __consumer_offsets exists (creates it: 1 partition, compact). */
int ed_gstore_ensure(ed_groups *g);
/* Appends the records as one atomic append; *last gets the last offset.
 * ED_ERR_TOOBIG, ED_ERR_NOSPC, ED_ERR_IO... */
int ed_gstore_append(ed_groups *g, const struct ed_grec *r, int n, int64_t *last);
/* Writes the group's metadata record (or its tombstone when deleted). */
void ed_gstore_write_group(ed_groups *g, const struct ed_group *grp, bool tombstone);
/* Loads every record of __consumer_offsets into the registry. */
int ed_gstore_load(ed_groups *g);
/* Applies one record (at load): offsets and group metadata. Returns false
 * if the record does not parse. */
bool ed_gstore_apply(ed_groups *g, const uint8_t *key, int32_t key_len, const uint8_t *value,
                     int32_t value_len);
/* Offsets retention of Empty groups; writes tombstones. */
void ed_gstore_expire(ed_groups *g);

#endif
