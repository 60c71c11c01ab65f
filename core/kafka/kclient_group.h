/* The client side of Kafka's group APIs for Eddy's own tools and tests:
 * request encoders and response decoders of FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch (batched
 * v8+ form included), ListGroups, DescribeGroups, DeleteGroups and
 * OffsetDelete at every version Eddy serves, blocking calls over an
 * ed_kclient, and the consumer protocol's subscription and assignment
 * formats (what Kafka's consumers put in the opaque group bytes).
 * Conventions as in kclient.h: decoded strings point into the response,
 * arrays belong to the result's mem (ed_kc_free). */
#ifndef ED_CORE_KCLIENT_GROUP_H
#define ED_CORE_KCLIENT_GROUP_H

#include "core/kafka/kclient.h"

/* ---- FindCoordinator ---- */
struct ed_kc_coordinator {
    ed_kstr key; /* v4+; empty before */
    int32_t node_id;
    ed_kstr host;
    int32_t port;
    int16_t error;
    ed_kstr message;
};
struct ed_kc_find_coordinator {
    struct ed_kc_mem mem;
    int32_t n;
    struct ed_kc_coordinator *coordinators;
};
/* key_type 0 = group, 1 = transaction. Before v4 only keys[0] is sent. */
void ed_kc_enc_find_coordinator(ed_kwr *w, int16_t ver, int8_t key_type, const char *const *keys,
                                int n);
int ed_kc_dec_find_coordinator(ed_krd *r, int16_t ver, struct ed_kc_find_coordinator *out);

/* ---- JoinGroup ---- */
struct ed_kc_protocol {
    const char *name;
    const uint8_t *meta;
    int32_t meta_len;
};
struct ed_kc_join_req {
    const char *group;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    const char *member_id;   /* "" for a new member */
    const char *instance_id; /* NULL: dynamic member */
    const char *protocol_type;
    int n_protocols;
    const struct ed_kc_protocol *protocols;
};
struct ed_kc_join_member {
    ed_kstr member_id;
    ed_kstr instance_id;
    ed_kbytes metadata;
};
struct ed_kc_join {
    struct ed_kc_mem mem;
    int16_t error;
    int32_t generation;
    ed_kstr protocol_type;
    ed_kstr protocol;
    ed_kstr leader;
    bool skip_assignment;
    ed_kstr member_id;
    int32_t n_members;
    struct ed_kc_join_member *members;
};
void ed_kc_enc_join_group(ed_kwr *w, int16_t ver, const struct ed_kc_join_req *q);
int ed_kc_dec_join_group(ed_krd *r, int16_t ver, struct ed_kc_join *out);

/* ---- SyncGroup ---- */
struct ed_kc_assignment {
    const char *member_id;
    const uint8_t *data;
    int32_t len;
};
struct ed_kc_sync_req {
    const char *group;
    int32_t generation;
    const char *member_id;
    const char *instance_id;   /* v3+ */
    const char *protocol_type; /* v5+, NULL = null */
    const char *protocol;      /* v5+, NULL = null */
    int n;
    const struct ed_kc_assignment *assignments;
};
struct ed_kc_sync {
    struct ed_kc_mem mem;
    int16_t error;
    ed_kstr protocol_type;
    ed_kstr protocol;
    ed_kbytes assignment;
};
void ed_kc_enc_sync_group(ed_kwr *w, int16_t ver, const struct ed_kc_sync_req *q);
int ed_kc_dec_sync_group(ed_krd *r, int16_t ver, struct ed_kc_sync *out);

/* ---- Heartbeat ---- */
struct ed_kc_heartbeat_req {
    const char *group;
    int32_t generation;
    const char *member_id;
    const char *instance_id;
};
struct ed_kc_error {
    struct ed_kc_mem mem;
    int16_t error;
};
void ed_kc_enc_heartbeat(ed_kwr *w, int16_t ver, const struct ed_kc_heartbeat_req *q);
int ed_kc_dec_heartbeat(ed_krd *r, int16_t ver, struct ed_kc_error *out);

/* ---- LeaveGroup ---- */
struct ed_kc_leave_member {
    const char *member_id;
    const char *instance_id; /* v3+ */
};
struct ed_kc_leave_req {
    const char *group;
    int n; /* v0-2 send members[0].member_id only */
    const struct ed_kc_leave_member *members;
};
struct ed_kc_leave_result {
    ed_kstr member_id;
    ed_kstr instance_id;
    int16_t error;
};
struct ed_kc_leave {
    struct ed_kc_mem mem;
    int16_t error;
    int32_t n;
    struct ed_kc_leave_result *members;
};
void ed_kc_enc_leave_group(ed_kwr *w, int16_t ver, const struct ed_kc_leave_req *q);
int ed_kc_dec_leave_group(ed_krd *r, int16_t ver, struct ed_kc_leave *out);

/* ---- OffsetCommit ---- */
struct ed_kc_commit_part {
    const char *topic; /* entries of one topic adjacent */
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    const char *metadata; /* NULL = null */
};
struct ed_kc_commit_req {
    const char *group;
    int32_t generation; /* -1 with member "" for a standalone commit */
    const char *member_id;
    const char *instance_id;
    int n;
    const struct ed_kc_commit_part *parts;
};
struct ed_kc_part_error {
    ed_kstr topic;
    int32_t partition;
    int16_t error;
};
struct ed_kc_part_errors {
    struct ed_kc_mem mem;
    int16_t error; /* OffsetDelete's top-level error */
    int32_t n;
    struct ed_kc_part_error *parts;
};
void ed_kc_enc_offset_commit(ed_kwr *w, int16_t ver, const struct ed_kc_commit_req *q);
int ed_kc_dec_offset_commit(ed_krd *r, int16_t ver, struct ed_kc_part_errors *out);

/* ---- OffsetFetch ---- */
struct ed_kc_tp {
    const char *topic; /* entries of one topic adjacent */
    int32_t partition;
};
struct ed_kc_fetch_group {
    const char *group;
    int n; /* -1: every committed offset (v2+) */
    const struct ed_kc_tp *parts;
};
struct ed_kc_committed {
    ed_kstr topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    ed_kstr metadata;
    int16_t error;
};
struct ed_kc_group_offsets {
    ed_kstr group; /* v8+; empty before */
    int16_t error;
    int32_t n;
    struct ed_kc_committed *parts;
};
struct ed_kc_offset_fetch {
    struct ed_kc_mem mem;
    int32_t n_groups;
    struct ed_kc_group_offsets *groups;
};
/* Before v8 only groups[0] is sent. */
void ed_kc_enc_offset_fetch(ed_kwr *w, int16_t ver, const struct ed_kc_fetch_group *g, int n,
                            bool require_stable);
int ed_kc_dec_offset_fetch(ed_krd *r, int16_t ver, struct ed_kc_offset_fetch *out);

/* ---- ListGroups ---- */
struct ed_kc_listed_group {
    ed_kstr group;
    ed_kstr protocol_type;
    ed_kstr state; /* v4+ */
    ed_kstr type;  /* v5+ */
};
struct ed_kc_list_groups {
    struct ed_kc_mem mem;
    int16_t error;
    int32_t n;
    struct ed_kc_listed_group *groups;
};
struct ed_kc_list_groups_req {
    int n_states;
    const char *const *states;
    int n_types;
    const char *const *types;
};
void ed_kc_enc_list_groups(ed_kwr *w, int16_t ver, const struct ed_kc_list_groups_req *q);
int ed_kc_dec_list_groups(ed_krd *r, int16_t ver, struct ed_kc_list_groups *out);

/* ---- DescribeGroups ---- */
struct ed_kc_group_member {
    ed_kstr member_id;
    ed_kstr instance_id;
    ed_kstr client_id;
    ed_kstr client_host;
    ed_kbytes metadata;
    ed_kbytes assignment;
};
struct ed_kc_described_group {
    int16_t error;
    ed_kstr group;
    ed_kstr state;
    ed_kstr protocol_type;
    ed_kstr protocol;
    int32_t n_members;
    struct ed_kc_group_member *members;
    int32_t authorized_ops;
};
struct ed_kc_describe_groups {
    struct ed_kc_mem mem;
    int32_t n;
    struct ed_kc_described_group *groups;
};
struct ed_kc_describe_groups_req {
    int n;
    const char *const *groups;
    bool include_ops;
};
void ed_kc_enc_describe_groups(ed_kwr *w, int16_t ver, const struct ed_kc_describe_groups_req *q);
int ed_kc_dec_describe_groups(ed_krd *r, int16_t ver, struct ed_kc_describe_groups *out);

/* ---- DeleteGroups (results as name + error) ---- */
struct ed_kc_names {
    int n;
    const char *const *names;
};
void ed_kc_enc_delete_groups(ed_kwr *w, int16_t ver, const struct ed_kc_names *q);
int ed_kc_dec_delete_groups(ed_krd *r, int16_t ver, struct ed_kc_items *out);

/* ---- OffsetDelete ---- */
struct ed_kc_offset_delete_req {
    const char *group;
    int n;
    const struct ed_kc_tp *parts;
};
void ed_kc_enc_offset_delete(ed_kwr *w, int16_t ver, const struct ed_kc_offset_delete_req *q);
int ed_kc_dec_offset_delete(ed_krd *r, int16_t ver, struct ed_kc_part_errors *out);

/* ---- blocking calls (negotiated versions) ---- */
int ed_kclient_find_coordinator(ed_kclient *c, int8_t key_type, const char *key,
                                struct ed_kc_find_coordinator *out);
int ed_kclient_join_group(ed_kclient *c, const struct ed_kc_join_req *q, struct ed_kc_join *out);
int ed_kclient_sync_group(ed_kclient *c, const struct ed_kc_sync_req *q, struct ed_kc_sync *out);
int ed_kclient_heartbeat(ed_kclient *c, const struct ed_kc_heartbeat_req *q,
                         struct ed_kc_error *out);
int ed_kclient_leave_group(ed_kclient *c, const struct ed_kc_leave_req *q, struct ed_kc_leave *out);
int ed_kclient_offset_commit(ed_kclient *c, const struct ed_kc_commit_req *q,
                             struct ed_kc_part_errors *out);
int ed_kclient_offset_fetch(ed_kclient *c, const struct ed_kc_fetch_group *g, int n,
                            struct ed_kc_offset_fetch *out);
int ed_kclient_list_groups(ed_kclient *c, const struct ed_kc_list_groups_req *q,
                           struct ed_kc_list_groups *out);
int ed_kclient_describe_groups(ed_kclient *c, const struct ed_kc_describe_groups_req *q,
                               struct ed_kc_describe_groups *out);
int ed_kclient_delete_groups(ed_kclient *c, const struct ed_kc_names *q, struct ed_kc_items *out);
int ed_kclient_offset_delete(ed_kclient *c, const struct ed_kc_offset_delete_req *q,
                             struct ed_kc_part_errors *out);

/* ---- the consumer protocol (protocol type "consumer") ---- */
/* ConsumerProtocolSubscription v0: topics and null user data. */
int ed_kc_consumer_subscription(ed_kwr *w, const char *const *topics, int n);
/* ConsumerProtocolAssignment v0 of (topic, partition) pairs, one topic's
 * entries adjacent. */
int ed_kc_consumer_assignment(ed_kwr *w, const struct ed_kc_tp *parts, int n);
/* Walks an assignment: calls cb for every (topic, partition). ED_ERR_PROTO
 * if the bytes are not an assignment of any version. */
int ed_kc_consumer_assignment_each(const uint8_t *p, int32_t len,
                                   void (*cb)(void *arg, ed_kstr topic, int32_t partition),
                                   void *arg);

#endif
