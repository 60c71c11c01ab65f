/* Eddy's Kafka client: the request/response codec of the client-side APIs
 * and a blocking connection that negotiates versions (see kclient.h). */
#include "core/kclient.h"
#include "platform/mem.h"
#include "platform/netclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "kclient"
#include "platform/log.h"

/* ---- versions ---- */

static const struct {
    int16_t key, min, max, flex;
} apis[] = {
    {ED_KC_PRODUCE, 3, 9, 9},
    {ED_KC_FETCH, 4, 12, 12},
    {ED_KC_LIST_OFFSETS, 1, 7, 6},
    {ED_KC_METADATA, 1, 12, 9},
    {ED_KC_API_VERSIONS, 0, 3, 3},
    {ED_KC_CREATE_TOPICS, 2, 7, 5},
    {ED_KC_DELETE_TOPICS, 1, 6, 4},
    {ED_KC_DESCRIBE_CONFIGS, 1, 4, 4},
    {ED_KC_CREATE_PARTITIONS, 0, 3, 2},
    {ED_KC_INCREMENTAL_ALTER_CONFIGS, 0, 1, 1},
    /* group APIs: codec in kclient_group.c */
    {ED_KC_OFFSET_COMMIT, 2, 9, 8},
    {ED_KC_OFFSET_FETCH, 1, 9, 6},
    {ED_KC_FIND_COORDINATOR, 0, 4, 3},
    {ED_KC_JOIN_GROUP, 0, 9, 6},
    {ED_KC_HEARTBEAT, 0, 4, 4},
    {ED_KC_LEAVE_GROUP, 0, 5, 4},
    {ED_KC_SYNC_GROUP, 0, 5, 4},
    {ED_KC_DESCRIBE_GROUPS, 0, 5, 5},
    {ED_KC_LIST_GROUPS, 0, 5, 3},
    {ED_KC_DELETE_GROUPS, 0, 2, 2},
    {ED_KC_OFFSET_DELETE, 0, 0, -1},
};

bool ed_kc_api_range(int16_t api_key, int16_t *min, int16_t *max)
{
    for (size_t i = 0; i < ED_ARRAY_LEN(apis); i++) {
        if (apis[i].key != api_key) continue;
        *min = apis[i].min;
        *max = apis[i].max;
        return true;
    }
    return false;
}

int16_t ed_kc_flex_from(int16_t api_key)
{
    for (size_t i = 0; i < ED_ARRAY_LEN(apis); i++)
        if (apis[i].key == api_key) return apis[i].flex;
    return -1;
}

static bool is_flex(int16_t api_key, int16_t ver)
{
    int16_t f = ed_kc_flex_from(api_key);
    return f >= 0 && ver >= f;
}

/* ---- error names ---- */

static const char *const kerr_names[] = {"NONE",
                                         "OFFSET_OUT_OF_RANGE",
                                         "CORRUPT_MESSAGE",
                                         "UNKNOWN_TOPIC_OR_PARTITION",
                                         "INVALID_FETCH_SIZE",
                                         "LEADER_NOT_AVAILABLE",
                                         "NOT_LEADER_OR_FOLLOWER",
                                         "REQUEST_TIMED_OUT",
                                         "BROKER_NOT_AVAILABLE",
                                         "REPLICA_NOT_AVAILABLE",
                                         "MESSAGE_TOO_LARGE",
                                         "STALE_CONTROLLER_EPOCH",
                                         "OFFSET_METADATA_TOO_LARGE",
                                         "NETWORK_EXCEPTION",
                                         "COORDINATOR_LOAD_IN_PROGRESS",
                                         "COORDINATOR_NOT_AVAILABLE",
                                         "NOT_COORDINATOR",
                                         "INVALID_TOPIC_EXCEPTION",
                                         "RECORD_LIST_TOO_LARGE",
                                         "NOT_ENOUGH_REPLICAS",
                                         "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
                                         "INVALID_REQUIRED_ACKS",
                                         "ILLEGAL_GENERATION",
                                         "INCONSISTENT_GROUP_PROTOCOL",
                                         "INVALID_GROUP_ID",
                                         "UNKNOWN_MEMBER_ID",
                                         "INVALID_SESSION_TIMEOUT",
                                         "REBALANCE_IN_PROGRESS",
                                         "INVALID_COMMIT_OFFSET_SIZE",
                                         "TOPIC_AUTHORIZATION_FAILED",
                                         "GROUP_AUTHORIZATION_FAILED",
                                         "CLUSTER_AUTHORIZATION_FAILED",
                                         "INVALID_TIMESTAMP",
                                         "UNSUPPORTED_SASL_MECHANISM",
                                         "ILLEGAL_SASL_STATE",
                                         "UNSUPPORTED_VERSION",
                                         "TOPIC_ALREADY_EXISTS",
                                         "INVALID_PARTITIONS",
                                         "INVALID_REPLICATION_FACTOR",
                                         "INVALID_REPLICA_ASSIGNMENT",
                                         "INVALID_CONFIG",
                                         "NOT_CONTROLLER",
                                         "INVALID_REQUEST",
                                         "UNSUPPORTED_FOR_MESSAGE_FORMAT",
                                         "POLICY_VIOLATION",
                                         "OUT_OF_ORDER_SEQUENCE_NUMBER",
                                         "DUPLICATE_SEQUENCE_NUMBER",
                                         "INVALID_PRODUCER_EPOCH",
                                         "INVALID_TXN_STATE",
                                         "INVALID_PRODUCER_ID_MAPPING",
                                         "INVALID_TRANSACTION_TIMEOUT",
                                         "CONCURRENT_TRANSACTIONS",
                                         "TRANSACTION_COORDINATOR_FENCED",
                                         "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
                                         "SECURITY_DISABLED",
                                         "OPERATION_NOT_ATTEMPTED",
                                         "KAFKA_STORAGE_ERROR",
                                         "LOG_DIR_NOT_FOUND",
                                         "SASL_AUTHENTICATION_FAILED",
                                         "UNKNOWN_PRODUCER_ID",
                                         "REASSIGNMENT_IN_PROGRESS",
                                         "DELEGATION_TOKEN_AUTH_DISABLED",
                                         "DELEGATION_TOKEN_NOT_FOUND",
                                         "DELEGATION_TOKEN_OWNER_MISMATCH",
                                         "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
                                         "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
                                         "DELEGATION_TOKEN_EXPIRED",
                                         "INVALID_PRINCIPAL_TYPE",
                                         "NON_EMPTY_GROUP",
                                         "GROUP_ID_NOT_FOUND",
                                         "FETCH_SESSION_ID_NOT_FOUND",
                                         "INVALID_FETCH_SESSION_EPOCH",
                                         "LISTENER_NOT_FOUND",
                                         "TOPIC_DELETION_DISABLED",
                                         "FENCED_LEADER_EPOCH",
                                         "UNKNOWN_LEADER_EPOCH",
                                         "UNSUPPORTED_COMPRESSION_TYPE",
                                         "STALE_BROKER_EPOCH",
                                         "OFFSET_NOT_AVAILABLE",
                                         "MEMBER_ID_REQUIRED",
                                         "PREFERRED_LEADER_NOT_AVAILABLE",
                                         "GROUP_MAX_SIZE_REACHED",
                                         "FENCED_INSTANCE_ID",
                                         "ELIGIBLE_LEADERS_NOT_AVAILABLE",
                                         "ELECTION_NOT_NEEDED",
                                         "NO_REASSIGNMENT_IN_PROGRESS",
                                         "GROUP_SUBSCRIBED_TO_TOPIC",
                                         "INVALID_RECORD",
                                         "UNSTABLE_OFFSET_COMMIT",
                                         "THROTTLING_QUOTA_EXCEEDED",
                                         "PRODUCER_FENCED",
                                         "RESOURCE_NOT_FOUND",
                                         "DUPLICATE_RESOURCE",
                                         "UNACCEPTABLE_CREDENTIAL",
                                         "INCONSISTENT_VOTER_SET",
                                         "INVALID_UPDATE_VERSION",
                                         "FEATURE_UPDATE_FAILED",
                                         "PRINCIPAL_DESERIALIZATION_FAILURE",
                                         "SNAPSHOT_NOT_FOUND",
                                         "UNKNOWN_ERROR_99",
                                         "UNKNOWN_TOPIC_ID"};

const char *ed_kc_errname(int16_t code)
{
    if (code == -1) return "UNKNOWN_SERVER_ERROR";
    if (code >= 0 && (size_t)code < ED_ARRAY_LEN(kerr_names)) return kerr_names[code];
    return "UNKNOWN_ERROR_CODE";
}

/* ---- result memory ---- */

struct block {
    struct block *next;
    max_align_t data[];
};

void ed_kc_free(struct ed_kc_mem *m)
{
    struct block *b = m->blocks;
    while (b) {
        struct block *n = b->next;
        ed_free(b);
        b = n;
    }
    ed_free(m->resp);
    m->resp = NULL;
    m->blocks = NULL;
}

/* Zeroed array of n elements of len bytes owned by m; NULL for n <= 0 or on
 * failure (which fails the cursor). */
static void *alloc_arr(struct ed_kc_mem *m, ed_krd *r, int32_t n, size_t len)
{
    if (n <= 0 || r->err) return NULL;
    struct block *b = ed_calloc(1, sizeof *b + (size_t)n * len);
    if (!b) {
        ed_krd_fail(r, ED_ERR_NOMEM);
        return NULL;
    }
    b->next = m->blocks;
    m->blocks = b;
    return b->data;
}

/* A flat per-partition result array grown by the np partitions of one more
 * topic: a new block holding the old entries (old itself when np is 0);
 * NULL on failure, which fails the cursor. */
static void *grow_flat(struct ed_kc_mem *m, ed_krd *r, void *old, int32_t total, int32_t np,
                       size_t elem)
{
    if (np <= 0) return old;
    void *a = alloc_arr(m, r, total + np, elem);
    if (a && total > 0) memcpy(a, old, (size_t)total * elem);
    return a;
}

void *ed_kc_alloc(struct ed_kc_mem *m, ed_krd *r, int32_t n, size_t len)
{
    return alloc_arr(m, r, n, len);
}

/* ---- framing ---- */

size_t ed_kc_frame_begin(ed_kwr *w, int16_t api_key, int16_t ver, int32_t correlation_id,
                         const char *client_id)
{
    size_t start = ed_kwr_reserve_i32(w);
    ed_kwr_i16(w, api_key);
    ed_kwr_i16(w, ver);
    ed_kwr_i32(w, correlation_id);
    ed_kwr_str(w, client_id, false); /* always int16 length */
    if (is_flex(api_key, ver)) ed_kwr_tags(w, true);
    return start;
}

void ed_kc_frame_end(ed_kwr *w, size_t start)
{
    ed_kwr_patch_i32(w, start, (int32_t)(w->len - start - 4));
}

int32_t ed_kc_read_resp_header(ed_krd *r, int16_t api_key, int16_t ver)
{
    int32_t corr = ed_krd_i32(r);
    if (api_key != ED_KC_API_VERSIONS && is_flex(api_key, ver)) ed_krd_tags(r, true);
    return corr;
}

/* ---- encoders ---- */

void ed_kc_enc_api_versions(ed_kwr *w, int16_t ver)
{
    if (ver >= 3) {
        ed_kwr_str(w, "eddy", true);
#ifdef ED_VERSION
        ed_kwr_str(w, ED_VERSION, true);
#else
        ed_kwr_str(w, "0.1.0", true);
#endif
        ed_kwr_tags(w, true);
    }
}

static const uint8_t zero_uuid[16];

void ed_kc_enc_metadata(ed_kwr *w, int16_t ver, const char *const *topics, int n_topics,
                        bool allow_auto_create)
{
    bool flex = ver >= 9;
    if (!topics) {
        ed_kwr_array(w, -1, flex);
    } else {
        ed_kwr_array(w, n_topics, flex);
        for (int i = 0; i < n_topics; i++) {
            if (ver >= 10) ed_kwr_uuid(w, zero_uuid);
            ed_kwr_str(w, topics[i], flex);
            ed_kwr_tags(w, flex);
        }
    }
    if (ver >= 4) ed_kwr_bool(w, allow_auto_create);
    if (ver >= 8 && ver <= 10) ed_kwr_bool(w, false);
    if (ver >= 8) ed_kwr_bool(w, false);
    ed_kwr_tags(w, flex);
}

void ed_kc_enc_create_topics(ed_kwr *w, int16_t ver, const struct ed_kc_new_topic *t, int n,
                             int32_t timeout_ms, bool validate_only)
{
    bool flex = ver >= 5;
    ed_kwr_array(w, n, flex);
    for (int i = 0; i < n; i++) {
        ed_kwr_str(w, t[i].name, flex);
        ed_kwr_i32(w, t[i].n_partitions);
        ed_kwr_i16(w, t[i].replication_factor);
        ed_kwr_array(w, 0, flex); /* no manual assignment */
        ed_kwr_array(w, t[i].n_configs, flex);
        for (int k = 0; k < t[i].n_configs; k++) {
            ed_kwr_str(w, t[i].configs[k].key, flex);
            ed_kwr_str(w, t[i].configs[k].value, flex);
            ed_kwr_tags(w, flex);
        }
        ed_kwr_tags(w, flex);
    }
    ed_kwr_i32(w, timeout_ms);
    if (ver >= 1) ed_kwr_bool(w, validate_only);
    ed_kwr_tags(w, flex);
}

void ed_kc_enc_delete_topics(ed_kwr *w, int16_t ver, const char *const *names, int n,
                             int32_t timeout_ms)
{
    bool flex = ver >= 4;
    ed_kwr_array(w, n, flex);
    for (int i = 0; i < n; i++) {
        ed_kwr_str(w, names[i], flex);
        if (ver >= 6) {
            ed_kwr_uuid(w, zero_uuid);
            ed_kwr_tags(w, flex);
        }
    }
    ed_kwr_i32(w, timeout_ms);
    ed_kwr_tags(w, flex);
}

void ed_kc_enc_create_partitions(ed_kwr *w, int16_t ver, const struct ed_kc_new_partitions *p,
                                 int n, int32_t timeout_ms, bool validate_only)
{
    bool flex = ver >= 2;
    ed_kwr_array(w, n, flex);
    for (int i = 0; i < n; i++) {
        ed_kwr_str(w, p[i].topic, flex);
        ed_kwr_i32(w, p[i].count);
        ed_kwr_array(w, -1, flex); /* assignments: null */
        ed_kwr_tags(w, flex);
    }
    ed_kwr_i32(w, timeout_ms);
    ed_kwr_bool(w, validate_only);
    ed_kwr_tags(w, flex);
}

void ed_kc_enc_describe_configs(ed_kwr *w, int16_t ver, const struct ed_kc_describe_resource *res,
                                int n, bool synonyms, bool docs)
{
    bool flex = ver >= 4;
    ed_kwr_array(w, n, flex);
    for (int i = 0; i < n; i++) {
        ed_kwr_i8(w, res[i].type);
        ed_kwr_str(w, res[i].name, flex);
        ed_kwr_array(w, res[i].n_keys < 0 ? -1 : res[i].n_keys, flex);
        for (int k = 0; k < res[i].n_keys; k++)
            ed_kwr_str(w, res[i].keys[k], flex);
        ed_kwr_tags(w, flex);
    }
    if (ver >= 1) ed_kwr_bool(w, synonyms);
    if (ver >= 3) ed_kwr_bool(w, docs);
    ed_kwr_tags(w, flex);
}

void ed_kc_enc_incremental_alter_configs(ed_kwr *w, int16_t ver,
                                         const struct ed_kc_alter_resource *res, int n,
                                         bool validate_only)
{
    bool flex = ver >= 1;
    ed_kwr_array(w, n, flex);
    for (int i = 0; i < n; i++) {
        ed_kwr_i8(w, res[i].type);
        ed_kwr_str(w, res[i].name, flex);
        ed_kwr_array(w, res[i].n_ops, flex);
        for (int k = 0; k < res[i].n_ops; k++) {
            ed_kwr_str(w, res[i].ops[k].key, flex);
            ed_kwr_i8(w, res[i].ops[k].op);
            ed_kwr_str(w, res[i].ops[k].value, flex);
            ed_kwr_tags(w, flex);
        }
        ed_kwr_tags(w, flex);
    }
    ed_kwr_bool(w, validate_only);
    ed_kwr_tags(w, flex);
}

/* Counts runs of equal topic names in a list ordered by topic. */
static int topic_run(const char *const *names, size_t stride, int i, int n)
{
    const char *t = *(const char *const *)((const char *)names + stride * (size_t)i);
    int j = i + 1;
    while (j < n &&
           strcmp(*(const char *const *)((const char *)names + stride * (size_t)j), t) == 0)
        j++;
    return j - i;
}

static int count_topics(const char *const *names, size_t stride, int n)
{
    int k = 0;
    for (int i = 0; i < n; i += topic_run(names, stride, i, n))
        k++;
    return k;
}

void ed_kc_enc_produce(ed_kwr *w, int16_t ver, int16_t acks, int32_t timeout_ms,
                       const struct ed_kc_produce_part *p, int n)
{
    bool flex = ver >= 9;
    const char *const *names = n ? &p[0].topic : NULL;
    ed_kwr_str(w, NULL, flex); /* transactional id */
    ed_kwr_i16(w, acks);
    ed_kwr_i32(w, timeout_ms);
    ed_kwr_array(w, n ? count_topics(names, sizeof *p, n) : 0, flex);
    for (int i = 0; i < n;) {
        int run = topic_run(names, sizeof *p, i, n);
        ed_kwr_str(w, p[i].topic, flex);
        ed_kwr_array(w, run, flex);
        for (int k = i; k < i + run; k++) {
            ed_kwr_i32(w, p[k].partition);
            ed_kwr_bytes(w, p[k].records, (int32_t)p[k].records_len, flex);
            ed_kwr_tags(w, flex);
        }
        ed_kwr_tags(w, flex);
        i += run;
    }
    ed_kwr_tags(w, flex);
}

void ed_kc_enc_fetch(ed_kwr *w, int16_t ver, int32_t max_wait_ms, int32_t min_bytes,
                     int32_t max_bytes, const struct ed_kc_fetch_part *p, int n)
{
    bool flex = ver >= 12;
    const char *const *names = n ? &p[0].topic : NULL;
    ed_kwr_i32(w, -1); /* replica id: a consumer */
    ed_kwr_i32(w, max_wait_ms);
    ed_kwr_i32(w, min_bytes);
    ed_kwr_i32(w, max_bytes);
    ed_kwr_i8(w, 0); /* read uncommitted */
    if (ver >= 7) {
        ed_kwr_i32(w, 0);  /* no fetch session */
        ed_kwr_i32(w, -1); /* session epoch: full fetch, no session */
    }
    ed_kwr_array(w, n ? count_topics(names, sizeof *p, n) : 0, flex);
    for (int i = 0; i < n;) {
        int run = topic_run(names, sizeof *p, i, n);
        ed_kwr_str(w, p[i].topic, flex);
        ed_kwr_array(w, run, flex);
        for (int k = i; k < i + run; k++) {
            ed_kwr_i32(w, p[k].partition);
            if (ver >= 9) ed_kwr_i32(w, -1); /* current leader epoch */
            ed_kwr_i64(w, p[k].offset);
            if (ver >= 12) ed_kwr_i32(w, -1); /* last fetched epoch */
            if (ver >= 5) ed_kwr_i64(w, -1);  /* log start offset */
            ed_kwr_i32(w, p[k].max_bytes);
            ed_kwr_tags(w, flex);
        }
        ed_kwr_tags(w, flex);
        i += run;
    }
    if (ver >= 7) ed_kwr_array(w, 0, flex); /* forgotten topics */
    if (ver >= 11) ed_kwr_str(w, "", flex); /* rack */
    ed_kwr_tags(w, flex);
}

void ed_kc_enc_list_offsets(ed_kwr *w, int16_t ver, const struct ed_kc_list_part *p, int n)
{
    bool flex = ver >= 6;
    const char *const *names = n ? &p[0].topic : NULL;
    ed_kwr_i32(w, -1);
    if (ver >= 2) ed_kwr_i8(w, 0);
    ed_kwr_array(w, n ? count_topics(names, sizeof *p, n) : 0, flex);
    for (int i = 0; i < n;) {
        int run = topic_run(names, sizeof *p, i, n);
        ed_kwr_str(w, p[i].topic, flex);
        ed_kwr_array(w, run, flex);
        for (int k = i; k < i + run; k++) {
            ed_kwr_i32(w, p[k].partition);
            if (ver >= 4) ed_kwr_i32(w, -1);
            ed_kwr_i64(w, p[k].timestamp);
            ed_kwr_tags(w, flex);
        }
        ed_kwr_tags(w, flex);
        i += run;
    }
    ed_kwr_tags(w, flex);
}

/* ---- decoders ---- */

static int finish(ed_krd *r)
{
    return r->err == ED_ERR_NOMEM ? ED_ERR_NOMEM : (r->err ? ED_ERR_PROTO : ED_OK);
}

static int32_t *int32_array(struct ed_kc_mem *m, ed_krd *r, bool flex, int32_t *n_out)
{
    int32_t n = ed_krd_array(r, flex, 4);
    int32_t *a = alloc_arr(m, r, n, sizeof *a);
    for (int32_t i = 0; i < n && a; i++)
        a[i] = ed_krd_i32(r);
    *n_out = a ? n : 0;
    return a;
}

int ed_kc_dec_api_versions(ed_krd *r, int16_t ver, struct ed_kc_api_versions *out)
{
    bool flex = ver >= 3;
    out->error = ed_krd_i16(r);
    int32_t n = ed_krd_array(r, flex, 6);
    out->apis = alloc_arr(&out->mem, r, n, sizeof *out->apis);
    for (int32_t i = 0; i < n && out->apis; i++) {
        out->apis[i].key = ed_krd_i16(r);
        out->apis[i].min = ed_krd_i16(r);
        out->apis[i].max = ed_krd_i16(r);
        ed_krd_tags(r, flex);
    }
    out->n_apis = out->apis ? n : 0;
    /* An UNSUPPORTED_VERSION answer is in v0 form: nothing follows. */
    if (out->error == 0 && ver >= 1) ed_krd_i32(r);
    if (out->error == 0) ed_krd_tags(r, flex);
    return finish(r);
}

int ed_kc_dec_metadata(ed_krd *r, int16_t ver, struct ed_kc_metadata *out)
{
    bool flex = ver >= 9;
    if (ver >= 3) ed_krd_i32(r);
    int32_t n = ed_krd_array(r, flex, 10);
    out->brokers = alloc_arr(&out->mem, r, n, sizeof *out->brokers);
    for (int32_t i = 0; i < n && out->brokers; i++) {
        struct ed_kc_broker *b = &out->brokers[i];
        b->node_id = ed_krd_i32(r);
        b->host = ed_krd_str(r, flex);
        b->port = ed_krd_i32(r);
        b->rack = ver >= 1 ? ed_krd_str(r, flex) : (ed_kstr){NULL, -1};
        ed_krd_tags(r, flex);
    }
    out->n_brokers = out->brokers ? n : 0;
    out->cluster_id = ver >= 2 ? ed_krd_str(r, flex) : (ed_kstr){NULL, -1};
    out->controller_id = ver >= 1 ? ed_krd_i32(r) : -1;
    n = ed_krd_array(r, flex, 4);
    out->topics = alloc_arr(&out->mem, r, n, sizeof *out->topics);
    for (int32_t i = 0; i < n && out->topics; i++) {
        struct ed_kc_topic_md *t = &out->topics[i];
        t->error = ed_krd_i16(r);
        t->name = ed_krd_str(r, flex);
        if (ver >= 10) ed_krd_uuid(r, t->id);
        if (ver >= 1) t->internal = ed_krd_bool(r);
        int32_t np = ed_krd_array(r, flex, 14);
        if (np < 0) np = 0; /* a null array holds nothing */
        t->partitions = alloc_arr(&out->mem, r, np, sizeof *t->partitions);
        for (int32_t k = 0; k < np && t->partitions; k++) {
            struct ed_kc_part_md *p = &t->partitions[k];
            p->error = ed_krd_i16(r);
            p->index = ed_krd_i32(r);
            p->leader = ed_krd_i32(r);
            p->leader_epoch = ver >= 7 ? ed_krd_i32(r) : -1;
            p->replicas = int32_array(&out->mem, r, flex, &p->n_replicas);
            p->isr = int32_array(&out->mem, r, flex, &p->n_isr);
            if (ver >= 5) {
                int32_t off;
                int32_array(&out->mem, r, flex, &off);
            }
            ed_krd_tags(r, flex);
        }
        t->n_partitions = t->partitions ? np : 0;
        if (ver >= 8) ed_krd_i32(r);
        ed_krd_tags(r, flex);
    }
    out->n_topics = out->topics ? n : 0;
    if (ver >= 8 && ver <= 10) ed_krd_i32(r);
    ed_krd_tags(r, flex);
    return finish(r);
}

int ed_kc_dec_create_topics(ed_krd *r, int16_t ver, struct ed_kc_create_topics *out)
{
    bool flex = ver >= 5;
    if (ver >= 2) ed_krd_i32(r);
    int32_t n = ed_krd_array(r, flex, 4);
    out->topics = alloc_arr(&out->mem, r, n, sizeof *out->topics);
    for (int32_t i = 0; i < n && out->topics; i++) {
        struct ed_kc_created_topic *t = &out->topics[i];
        t->name = ed_krd_str(r, flex);
        if (ver >= 7) ed_krd_uuid(r, t->id);
        t->error = ed_krd_i16(r);
        t->message = ver >= 1 ? ed_krd_str(r, flex) : (ed_kstr){NULL, -1};
        t->n_partitions = -1;
        t->replication_factor = -1;
        t->n_configs = -1;
        if (ver >= 5) {
            t->n_partitions = ed_krd_i32(r);
            t->replication_factor = ed_krd_i16(r);
            int32_t nc = ed_krd_array(r, flex, 5);
            t->configs = alloc_arr(&out->mem, r, nc, sizeof *t->configs);
            for (int32_t k = 0; k < nc && t->configs; k++) {
                struct ed_kc_topic_config *c = &t->configs[k];
                c->name = ed_krd_str(r, flex);
                c->value = ed_krd_str(r, flex);
                c->read_only = ed_krd_bool(r);
                c->source = ed_krd_i8(r);
                c->sensitive = ed_krd_bool(r);
                ed_krd_tags(r, flex);
            }
            t->n_configs = nc < 0 ? -1 : (t->configs ? nc : 0);
        }
        ed_krd_tags(r, flex);
    }
    out->n_topics = out->topics ? n : 0;
    ed_krd_tags(r, flex);
    return finish(r);
}

int ed_kc_dec_delete_topics(ed_krd *r, int16_t ver, struct ed_kc_items *out)
{
    bool flex = ver >= 4;
    if (ver >= 1) ed_krd_i32(r);
    int32_t n = ed_krd_array(r, flex, 4);
    out->items = alloc_arr(&out->mem, r, n, sizeof *out->items);
    for (int32_t i = 0; i < n && out->items; i++) {
        struct ed_kc_item_result *it = &out->items[i];
        it->name = ed_krd_str(r, flex);
        if (ver >= 6) ed_krd_uuid(r, it->id);
        it->error = ed_krd_i16(r);
        it->message = ver >= 5 ? ed_krd_str(r, flex) : (ed_kstr){NULL, -1};
        ed_krd_tags(r, flex);
    }
    out->n = out->items ? n : 0;
    ed_krd_tags(r, flex);
    return finish(r);
}

int ed_kc_dec_create_partitions(ed_krd *r, int16_t ver, struct ed_kc_items *out)
{
    bool flex = ver >= 2;
    ed_krd_i32(r);
    int32_t n = ed_krd_array(r, flex, 5);
    out->items = alloc_arr(&out->mem, r, n, sizeof *out->items);
    for (int32_t i = 0; i < n && out->items; i++) {
        struct ed_kc_item_result *it = &out->items[i];
        it->name = ed_krd_str(r, flex);
        it->error = ed_krd_i16(r);
        it->message = ed_krd_str(r, flex);
        ed_krd_tags(r, flex);
    }
    out->n = out->items ? n : 0;
    ed_krd_tags(r, flex);
    return finish(r);
}

int ed_kc_dec_describe_configs(ed_krd *r, int16_t ver, struct ed_kc_describe_configs *out)
{
    bool flex = ver >= 4;
    ed_krd_i32(r);
    int32_t n = ed_krd_array(r, flex, 8);
    out->resources = alloc_arr(&out->mem, r, n, sizeof *out->resources);
    for (int32_t i = 0; i < n && out->resources; i++) {
        struct ed_kc_config_resource *res = &out->resources[i];
        res->error = ed_krd_i16(r);
        res->message = ed_krd_str(r, flex);
        res->type = ed_krd_i8(r);
        res->name = ed_krd_str(r, flex);
        int32_t nc = ed_krd_array(r, flex, 6);
        res->configs = alloc_arr(&out->mem, r, nc, sizeof *res->configs);
        for (int32_t k = 0; k < nc && res->configs; k++) {
            struct ed_kc_config_entry *c = &res->configs[k];
            c->name = ed_krd_str(r, flex);
            c->value = ed_krd_str(r, flex);
            c->read_only = ed_krd_bool(r);
            c->source = -1;
            if (ver == 0) {
                c->is_default = ed_krd_bool(r);
            } else {
                c->source = ed_krd_i8(r);
                c->is_default = c->source == ED_KC_SRC_DEFAULT;
            }
            c->sensitive = ed_krd_bool(r);
            if (ver >= 1) {
                int32_t ns = ed_krd_array(r, flex, 3);
                c->synonyms = alloc_arr(&out->mem, r, ns, sizeof *c->synonyms);
                for (int32_t s = 0; s < ns && c->synonyms; s++) {
                    c->synonyms[s].name = ed_krd_str(r, flex);
                    c->synonyms[s].value = ed_krd_str(r, flex);
                    c->synonyms[s].source = ed_krd_i8(r);
                    ed_krd_tags(r, flex);
                }
                c->n_synonyms = c->synonyms ? ns : 0;
            }
            c->doc = (ed_kstr){NULL, -1};
            if (ver >= 3) {
                c->type = ed_krd_i8(r);
                c->doc = ed_krd_str(r, flex);
            }
            ed_krd_tags(r, flex);
        }
        res->n_configs = res->configs ? nc : 0;
        ed_krd_tags(r, flex);
    }
    out->n = out->resources ? n : 0;
    ed_krd_tags(r, flex);
    return finish(r);
}

int ed_kc_dec_alter_configs(ed_krd *r, int16_t api_key, int16_t ver, struct ed_kc_items *out)
{
    bool flex = api_key == 44 ? ver >= 1 : ver >= 2;
    ed_krd_i32(r);
    int32_t n = ed_krd_array(r, flex, 7);
    out->items = alloc_arr(&out->mem, r, n, sizeof *out->items);
    for (int32_t i = 0; i < n && out->items; i++) {
        struct ed_kc_item_result *it = &out->items[i];
        it->error = ed_krd_i16(r);
        it->message = ed_krd_str(r, flex);
        it->resource_type = ed_krd_i8(r);
        it->name = ed_krd_str(r, flex);
        ed_krd_tags(r, flex);
    }
    out->n = out->items ? n : 0;
    ed_krd_tags(r, flex);
    return finish(r);
}

int ed_kc_dec_produce(ed_krd *r, int16_t ver, struct ed_kc_produce *out)
{
    bool flex = ver >= 9;
    int32_t nt = ed_krd_array(r, flex, 5);
    /* Two passes would need a copy of the cursor: the flat result grows by
     * each topic's partitions as they are read. */
    int32_t total = 0;
    struct ed_kc_produce_result *all = NULL;
    for (int32_t i = 0; i < nt && !r->err; i++) {
        ed_kstr topic = ed_krd_str(r, flex);
        int32_t np = ed_krd_array(r, flex, 14);
        if (np < 0) np = 0; /* a null array holds nothing */
        all = grow_flat(&out->mem, r, all, total, np, sizeof *all);
        if (np > 0 && !all) break;
        for (int32_t k = 0; k < np && !r->err; k++) {
            struct ed_kc_produce_result *p = &all[total + k];
            p->topic = topic;
            p->partition = ed_krd_i32(r);
            p->error = ed_krd_i16(r);
            p->base_offset = ed_krd_i64(r);
            p->log_append_time = ver >= 2 ? ed_krd_i64(r) : -1;
            p->log_start_offset = ver >= 5 ? ed_krd_i64(r) : -1;
            p->message = (ed_kstr){NULL, -1};
            if (ver >= 8) {
                int32_t ne = ed_krd_array(r, flex, 3);
                for (int32_t e = 0; e < ne && !r->err; e++) {
                    ed_krd_i32(r);
                    ed_krd_str(r, flex);
                    ed_krd_tags(r, flex);
                }
                p->message = ed_krd_str(r, flex);
            }
            ed_krd_tags(r, flex);
        }
        if (np > 0) total += np;
        ed_krd_tags(r, flex);
    }
    if (ver >= 1) ed_krd_i32(r);
    ed_krd_tags(r, flex);
    out->parts = all;
    out->n = r->err ? 0 : total;
    return finish(r);
}

int ed_kc_dec_fetch(ed_krd *r, int16_t ver, struct ed_kc_fetch *out)
{
    bool flex = ver >= 12;
    ed_krd_i32(r);
    out->error = 0;
    if (ver >= 7) {
        out->error = ed_krd_i16(r);
        ed_krd_i32(r);
    }
    int32_t nt = ed_krd_array(r, flex, 5);
    int32_t total = 0;
    struct ed_kc_fetch_result *all = NULL;
    for (int32_t i = 0; i < nt && !r->err; i++) {
        ed_kstr topic = ed_krd_str(r, flex);
        int32_t np = ed_krd_array(r, flex, 18);
        if (np < 0) np = 0; /* a null array holds nothing */
        all = grow_flat(&out->mem, r, all, total, np, sizeof *all);
        if (np > 0 && !all) break;
        for (int32_t k = 0; k < np && !r->err; k++) {
            struct ed_kc_fetch_result *p = &all[total + k];
            p->topic = topic;
            p->partition = ed_krd_i32(r);
            p->error = ed_krd_i16(r);
            p->high_watermark = ed_krd_i64(r);
            p->last_stable_offset = ed_krd_i64(r);
            p->log_start_offset = ver >= 5 ? ed_krd_i64(r) : -1;
            int32_t na = ed_krd_array(r, flex, 16);
            for (int32_t a2 = 0; a2 < na && !r->err; a2++) {
                ed_krd_i64(r);
                ed_krd_i64(r);
                ed_krd_tags(r, flex);
            }
            if (ver >= 11) ed_krd_i32(r);
            p->records = ed_krd_bytes(r, flex);
            ed_krd_tags(r, flex);
        }
        if (np > 0) total += np;
        ed_krd_tags(r, flex);
    }
    ed_krd_tags(r, flex);
    out->parts = all;
    out->n = r->err ? 0 : total;
    return finish(r);
}

int ed_kc_dec_list_offsets(ed_krd *r, int16_t ver, struct ed_kc_list_offsets *out)
{
    bool flex = ver >= 6;
    if (ver >= 2) ed_krd_i32(r);
    int32_t nt = ed_krd_array(r, flex, 5);
    int32_t total = 0;
    struct ed_kc_list_result *all = NULL;
    for (int32_t i = 0; i < nt && !r->err; i++) {
        ed_kstr topic = ed_krd_str(r, flex);
        int32_t np = ed_krd_array(r, flex, 22);
        if (np < 0) np = 0; /* a null array holds nothing */
        all = grow_flat(&out->mem, r, all, total, np, sizeof *all);
        if (np > 0 && !all) break;
        for (int32_t k = 0; k < np && !r->err; k++) {
            struct ed_kc_list_result *p = &all[total + k];
            p->topic = topic;
            p->partition = ed_krd_i32(r);
            p->error = ed_krd_i16(r);
            p->timestamp = ed_krd_i64(r);
            p->offset = ed_krd_i64(r);
            if (ver >= 4) ed_krd_i32(r);
            ed_krd_tags(r, flex);
        }
        if (np > 0) total += np;
        ed_krd_tags(r, flex);
    }
    ed_krd_tags(r, flex);
    out->parts = all;
    out->n = r->err ? 0 : total;
    return finish(r);
}

/* ---- blocking connection ---- */

struct ed_kclient {
    ed_csock *sock;
    char client_id[64];
    uint32_t timeout_ms;
    size_t max_response_len;
    int32_t next_corr;
    int16_t ver[ED_KC_N_KEYS];
    int16_t bmin[ED_KC_N_KEYS], bmax[ED_KC_N_KEYS]; /* broker's; bmax -1 = absent */
    char err[256];
};

/* ---- the default partitioner ---- */

int32_t ed_kc_murmur2(const uint8_t *data, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28c ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        const uint8_t *p = data + i * 4;
        uint32_t k =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *t = data + n4 * 4;
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)t[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)t[1] << 8;
        /* fall through */
    case 1:
        h ^= t[0];
        h *= m;
        break;
    default:
        break;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

int32_t ed_kc_partition_for(const uint8_t *key, size_t len, int32_t n_partitions)
{
    if (n_partitions <= 1) return 0;
    uint32_t h = (uint32_t)ed_kc_murmur2(key, len) & 0x7fffffffu;
    return (int32_t)(h % (uint32_t)n_partitions);
}

int ed_kc_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port)
{
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb) return ED_ERR_INVAL;
        hl = (size_t)(rb - s - 1);
        s++;
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb[1]) return ED_ERR_INVAL;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon) return ED_ERR_INVAL; /* bare v6 needs [] */
        hl = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (hl == 0 || hl >= host_len) return ED_ERR_INVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = 9092;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || p < 1 || p > 65535) return ED_ERR_INVAL;
        *port = (uint16_t)p;
    }
    return ED_OK;
}

static int fail(ed_kclient *c, int rc, const char *fmt, const char *a)
{
    snprintf(c->err, sizeof c->err, fmt, a);
    return rc;
}

/* Sends the framed request in w; when want_resp, reads the matching
 * response body into *resp (caller frees) and positions r after the header. */
static int roundtrip(ed_kclient *c, ed_kwr *w, int16_t key, int16_t ver, int32_t corr,
                     bool want_resp, uint8_t **resp, ed_krd *r)
{
    if (!ed_kwr_ok(w)) return fail(c, w->err, "request too large (%s)", ed_strerror(w->err));
    if (!c->sock) return fail(c, ED_ERR_CLOSED, "%s", "connection is closed");
    int rc = ed_plat_csock_write(c->sock, w->buf, w->len, c->timeout_ms);
    if (rc) goto io_fail;
    if (!want_resp) return ED_OK;
    uint8_t szb[4];
    rc = ed_plat_csock_read(c->sock, szb, 4, c->timeout_ms);
    if (rc) goto io_fail;
    uint32_t sz = ed_get_be32(szb);
    if (sz < 4 || sz > c->max_response_len) {
        ed_plat_csock_close(c->sock);
        c->sock = NULL;
        return fail(c, ED_ERR_PROTO, "%s", "broker sent a response of impossible size");
    }
    uint8_t *buf = ed_malloc(sz);
    if (!buf) return fail(c, ED_ERR_NOMEM, "%s", "out of memory for the response");
    rc = ed_plat_csock_read(c->sock, buf, sz, c->timeout_ms);
    if (rc) {
        ed_free(buf);
        goto io_fail;
    }
    ed_krd_init(r, buf, sz);
    int32_t got = ed_kc_read_resp_header(r, key, ver);
    if (!ed_krd_ok(r) || got != corr) {
        ed_free(buf);
        ed_plat_csock_close(c->sock);
        c->sock = NULL;
        return fail(c, ED_ERR_PROTO, "%s", "response does not match the request (correlation id)");
    }
    *resp = buf;
    return ED_OK;
io_fail:
    ed_plat_csock_close(c->sock);
    c->sock = NULL;
    return fail(c, rc, "connection lost: %s", ed_strerror(rc));
}

/* Common request path: header, body by enc callback, roundtrip, decode. */
struct call {
    ed_kclient *c;
    int16_t key;
    int16_t ver;
    ed_kwr w;
    size_t start;
    int32_t corr;
};

static int call_begin(struct call *k, ed_kclient *c, int16_t key)
{
    k->c = c;
    k->key = key;
    k->ver = ed_kclient_version(c, key);
    if (k->ver < 0) {
        char name[16];
        snprintf(name, sizeof name, "%d", key);
        return fail(c, ED_ERR_UNSUPPORTED, "the broker supports no version of API key %s", name);
    }
    ed_kwr_init(&k->w, 256u << 20);
    k->corr = c->next_corr++;
    k->start = ed_kc_frame_begin(&k->w, key, k->ver, k->corr, c->client_id);
    return ED_OK;
}

static int call_end(struct call *k, struct ed_kc_mem *mem, ed_krd *r)
{
    ed_kc_frame_end(&k->w, k->start);
    int rc = roundtrip(k->c, &k->w, k->key, k->ver, k->corr, true, &mem->resp, r);
    ed_kwr_free(&k->w);
    return rc;
}

static int decoded(ed_kclient *c, int rc, struct ed_kc_mem *mem)
{
    if (rc == ED_OK) return ED_OK;
    ed_kc_free(mem);
    return fail(c, rc, "malformed response from the broker (%s)", ed_strerror(rc));
}

static int negotiate(ed_kclient *c)
{
    int16_t ver = 3;
    for (int attempt = 0; attempt < 2; attempt++) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        int32_t corr = c->next_corr++;
        size_t start = ed_kc_frame_begin(&w, ED_KC_API_VERSIONS, ver, corr, c->client_id);
        ed_kc_enc_api_versions(&w, ver);
        ed_kc_frame_end(&w, start);
        uint8_t *buf = NULL;
        ed_krd r;
        int rc = roundtrip(c, &w, ED_KC_API_VERSIONS, ver, corr, true, &buf, &r);
        ed_kwr_free(&w);
        if (rc) return rc;
        struct ed_kc_api_versions av;
        memset(&av, 0, sizeof av);
        /* A broker that does not know this version answers in v0 form. */
        ed_krd save = r;
        rc = ed_kc_dec_api_versions(&r, ver, &av);
        if (rc == ED_OK && av.error == 35 && ver > 0) {
            ed_kc_free(&av.mem);
            memset(&av, 0, sizeof av);
            r = save;
            rc = ed_kc_dec_api_versions(&r, 0, &av);
        }
        av.mem.resp = buf;
        if (rc) return decoded(c, rc, &av.mem);
        for (int i = 0; i < ED_KC_N_KEYS; i++) {
            c->bmin[i] = -1;
            c->bmax[i] = -1;
        }
        for (int32_t i = 0; i < av.n_apis; i++) {
            int16_t k = av.apis[i].key;
            if (k < 0 || k >= ED_KC_N_KEYS) continue;
            c->bmin[k] = av.apis[i].min;
            c->bmax[k] = av.apis[i].max;
        }
        int16_t err = av.error;
        ed_kc_free(&av.mem);
        if (err == 35 && attempt == 0) {
            int16_t bmax = c->bmax[ED_KC_API_VERSIONS];
            if (bmax < 0) return fail(c, ED_ERR_PROTO, "%s", "broker does not list ApiVersions");
            ver = bmax < 3 ? bmax : 3;
            continue;
        }
        if (err) return fail(c, ED_ERR_PROTO, "ApiVersions failed: %s", ed_kc_errname(err));
        break;
    }
    for (int k = 0; k < ED_KC_N_KEYS; k++) {
        int16_t mn, mx;
        c->ver[k] = -1;
        if (!ed_kc_api_range((int16_t)k, &mn, &mx) || c->bmax[k] < 0) continue;
        int16_t v = ED_MIN(mx, c->bmax[k]);
        if (v >= mn && v >= c->bmin[k]) c->ver[k] = v;
    }
    return ED_OK;
}

int ed_kclient_connect(const char *hostport, const struct ed_kclient_opts *opts, ed_kclient **out,
                       char *why, size_t why_len)
{
    char host[256];
    uint16_t port;
    if (ed_kc_parse_hostport(hostport, host, sizeof host, &port) != ED_OK) {
        if (why) snprintf(why, why_len, "bad broker address '%s' (want host:port)", hostport);
        return ED_ERR_INVAL;
    }
    ed_kclient *c = ed_calloc(1, sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    snprintf(c->client_id, sizeof c->client_id, "%s",
             opts && opts->client_id ? opts->client_id : "eddy");
    c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : 30000;
    c->max_response_len = opts && opts->max_response_len ? opts->max_response_len : 64u << 20;
    c->next_corr = 1;
    int rc = ed_plat_csock_connect(host, port, c->timeout_ms, &c->sock);
    if (rc) {
        if (why)
            snprintf(why, why_len, "cannot connect to %s: %s", hostport,
                     rc == ED_ERR_CLOSED ? "connection refused" : ed_strerror(rc));
        ed_free(c);
        return rc;
    }
    rc = negotiate(c);
    if (rc) {
        if (why) snprintf(why, why_len, "%s: %s", hostport, c->err);
        ed_kclient_close(c);
        return rc;
    }
    *out = c;
    return ED_OK;
}

void ed_kclient_close(ed_kclient *c)
{
    if (!c) return;
    ed_plat_csock_close(c->sock);
    ed_free(c);
}

int16_t ed_kclient_version(const ed_kclient *c, int16_t api_key)
{
    if (api_key < 0 || api_key >= ED_KC_N_KEYS) return -1;
    return c->ver[api_key];
}

int ed_kclient_set_version(ed_kclient *c, int16_t api_key, int16_t ver)
{
    int16_t mn, mx;
    if (api_key < 0 || api_key >= ED_KC_N_KEYS || !ed_kc_api_range(api_key, &mn, &mx) || ver < mn ||
        ver > mx || ver < c->bmin[api_key] || ver > c->bmax[api_key])
        return ED_ERR_UNSUPPORTED;
    c->ver[api_key] = ver;
    return ED_OK;
}

const char *ed_kclient_last_error(const ed_kclient *c)
{
    return c->err;
}

bool ed_kclient_broker_range(const ed_kclient *c, int16_t api_key, int16_t *min, int16_t *max)
{
    if (api_key < 0 || api_key >= ED_KC_N_KEYS || c->bmax[api_key] < 0) return false;
    *min = c->bmin[api_key];
    *max = c->bmax[api_key];
    return true;
}

int ed_kclient_call(ed_kclient *c, int16_t api_key, ed_kc_enc_fn enc, const void *arg,
                    struct ed_kc_mem *mem, ed_krd *r, int16_t *ver)
{
    struct call k;
    int rc = call_begin(&k, c, api_key);
    if (rc) return rc;
    *ver = k.ver;
    enc(&k.w, k.ver, arg);
    return call_end(&k, mem, r);
}

int ed_kclient_decoded(ed_kclient *c, int rc, struct ed_kc_mem *mem)
{
    return decoded(c, rc, mem);
}

int ed_kclient_metadata(ed_kclient *c, const char *const *topics, int n_topics,
                        bool allow_auto_create, struct ed_kc_metadata *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_METADATA);
    if (rc) return rc;
    ed_kc_enc_metadata(&k.w, k.ver, topics, n_topics, allow_auto_create);
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return decoded(c, ed_kc_dec_metadata(&r, k.ver, out), &out->mem);
}

int ed_kclient_create_topics(ed_kclient *c, const struct ed_kc_new_topic *t, int n,
                             bool validate_only, struct ed_kc_create_topics *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_CREATE_TOPICS);
    if (rc) return rc;
    ed_kc_enc_create_topics(&k.w, k.ver, t, n, (int32_t)c->timeout_ms, validate_only);
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return decoded(c, ed_kc_dec_create_topics(&r, k.ver, out), &out->mem);
}

int ed_kclient_delete_topics(ed_kclient *c, const char *const *names, int n,
                             struct ed_kc_items *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_DELETE_TOPICS);
    if (rc) return rc;
    ed_kc_enc_delete_topics(&k.w, k.ver, names, n, (int32_t)c->timeout_ms);
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return decoded(c, ed_kc_dec_delete_topics(&r, k.ver, out), &out->mem);
}

int ed_kclient_create_partitions(ed_kclient *c, const struct ed_kc_new_partitions *p, int n,
                                 bool validate_only, struct ed_kc_items *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_CREATE_PARTITIONS);
    if (rc) return rc;
    ed_kc_enc_create_partitions(&k.w, k.ver, p, n, (int32_t)c->timeout_ms, validate_only);
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return decoded(c, ed_kc_dec_create_partitions(&r, k.ver, out), &out->mem);
}

int ed_kclient_describe_configs(ed_kclient *c, const struct ed_kc_describe_resource *res, int n,
                                bool synonyms, bool docs, struct ed_kc_describe_configs *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_DESCRIBE_CONFIGS);
    if (rc) return rc;
    ed_kc_enc_describe_configs(&k.w, k.ver, res, n, synonyms, docs);
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return decoded(c, ed_kc_dec_describe_configs(&r, k.ver, out), &out->mem);
}

int ed_kclient_incremental_alter_configs(ed_kclient *c, const struct ed_kc_alter_resource *res,
                                         int n, bool validate_only, struct ed_kc_items *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_INCREMENTAL_ALTER_CONFIGS);
    if (rc) return rc;
    ed_kc_enc_incremental_alter_configs(&k.w, k.ver, res, n, validate_only);
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return decoded(c, ed_kc_dec_alter_configs(&r, ED_KC_INCREMENTAL_ALTER_CONFIGS, k.ver, out),
                   &out->mem);
}

int ed_kclient_produce(ed_kclient *c, int16_t acks, const struct ed_kc_produce_part *p, int n,
                       struct ed_kc_produce *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_PRODUCE);
    if (rc) return rc;
    ed_kc_enc_produce(&k.w, k.ver, acks, (int32_t)c->timeout_ms, p, n);
    if (acks == 0) {
        ed_kc_frame_end(&k.w, k.start);
        rc = roundtrip(c, &k.w, k.key, k.ver, k.corr, false, NULL, NULL);
        ed_kwr_free(&k.w);
        return rc;
    }
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return decoded(c, ed_kc_dec_produce(&r, k.ver, out), &out->mem);
}

int ed_kclient_fetch(ed_kclient *c, int32_t max_wait_ms, int32_t min_bytes, int32_t max_bytes,
                     const struct ed_kc_fetch_part *p, int n, struct ed_kc_fetch *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_FETCH);
    if (rc) return rc;
    ed_kc_enc_fetch(&k.w, k.ver, max_wait_ms, min_bytes, max_bytes, p, n);
    ed_krd r;
    uint32_t saved = c->timeout_ms;
    c->timeout_ms += max_wait_ms > 0 ? (uint32_t)max_wait_ms : 0; /* the broker may hold it */
    rc = call_end(&k, &out->mem, &r);
    c->timeout_ms = saved;
    if (rc) return rc;
    return decoded(c, ed_kc_dec_fetch(&r, k.ver, out), &out->mem);
}

int ed_kclient_list_offsets(ed_kclient *c, const struct ed_kc_list_part *p, int n,
                            struct ed_kc_list_offsets *out)
{
    memset(out, 0, sizeof *out);
    struct call k;
    int rc = call_begin(&k, c, ED_KC_LIST_OFFSETS);
    if (rc) return rc;
    ed_kc_enc_list_offsets(&k.w, k.ver, p, n);
    ed_krd r;
    if ((rc = call_end(&k, &out->mem, &r))) return rc;
    return decoded(c, ed_kc_dec_list_offsets(&r, k.ver, out), &out->mem);
}
