/* Eddy's Kafka client codec: the client's version ranges, error names,
 * result memory, framing, and the request encoders and response decoders
 * of the client-side APIs on the message schema (see kclient.h). */
#include "core/kafka/kclient.h"
#include "core/kafka/msg_gen.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

#ifndef ED_VERSION
#define ED_VERSION "0.1.0"
#endif

/* ---- versions (the client's ranges in the message schema) ---- */

bool ed_kc_api_range(int16_t api_key, int16_t *min, int16_t *max)
{
    const struct ed_kmsg_api *api = ed_kschema_api(api_key);
    if (!api || api->cli_min < 0) return false;
    *min = api->cli_min;
    *max = api->cli_max;
    return true;
}

int16_t ed_kc_flex_from(int16_t api_key)
{
    const struct ed_kmsg_api *api = ed_kschema_api(api_key);
    return api && api->cli_min >= 0 ? api->flex_from : -1;
}

/* ---- error names ---- */

/* clang-format off */
static const char *const kerr_names[] = {
    "NONE", "OFFSET_OUT_OF_RANGE", "CORRUPT_MESSAGE", "UNKNOWN_TOPIC_OR_PARTITION",
    "INVALID_FETCH_SIZE", "LEADER_NOT_AVAILABLE", "NOT_LEADER_OR_FOLLOWER", "REQUEST_TIMED_OUT",
    "BROKER_NOT_AVAILABLE", "REPLICA_NOT_AVAILABLE", "MESSAGE_TOO_LARGE", "STALE_CONTROLLER_EPOCH",
    "OFFSET_METADATA_TOO_LARGE", "NETWORK_EXCEPTION", "COORDINATOR_LOAD_IN_PROGRESS",
    "COORDINATOR_NOT_AVAILABLE", "NOT_COORDINATOR", "INVALID_TOPIC_EXCEPTION",
    "RECORD_LIST_TOO_LARGE", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "INVALID_REQUIRED_ACKS", "ILLEGAL_GENERATION", "INCONSISTENT_GROUP_PROTOCOL",
    "INVALID_GROUP_ID", "UNKNOWN_MEMBER_ID", "INVALID_SESSION_TIMEOUT", "REBALANCE_IN_PROGRESS",
    "INVALID_COMMIT_OFFSET_SIZE", "TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED", "INVALID_TIMESTAMP", "UNSUPPORTED_SASL_MECHANISM",
    "ILLEGAL_SASL_STATE", "UNSUPPORTED_VERSION", "TOPIC_ALREADY_EXISTS", "INVALID_PARTITIONS",
    "INVALID_REPLICATION_FACTOR", "INVALID_REPLICA_ASSIGNMENT", "INVALID_CONFIG", "NOT_CONTROLLER",
    "INVALID_REQUEST", "UNSUPPORTED_FOR_MESSAGE_FORMAT", "POLICY_VIOLATION",
    "OUT_OF_ORDER_SEQUENCE_NUMBER", "DUPLICATE_SEQUENCE_NUMBER", "INVALID_PRODUCER_EPOCH",
    "INVALID_TXN_STATE", "INVALID_PRODUCER_ID_MAPPING", "INVALID_TRANSACTION_TIMEOUT",
    "CONCURRENT_TRANSACTIONS", "TRANSACTION_COORDINATOR_FENCED",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", "SECURITY_DISABLED", "OPERATION_NOT_ATTEMPTED",
    "KAFKA_STORAGE_ERROR", "LOG_DIR_NOT_FOUND", "SASL_AUTHENTICATION_FAILED",
    "UNKNOWN_PRODUCER_ID", "REASSIGNMENT_IN_PROGRESS", "DELEGATION_TOKEN_AUTH_DISABLED",
    "DELEGATION_TOKEN_NOT_FOUND", "DELEGATION_TOKEN_OWNER_MISMATCH",
    "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
    "DELEGATION_TOKEN_EXPIRED", "INVALID_PRINCIPAL_TYPE", "NON_EMPTY_GROUP", "GROUP_ID_NOT_FOUND",
    "FETCH_SESSION_ID_NOT_FOUND", "INVALID_FETCH_SESSION_EPOCH", "LISTENER_NOT_FOUND",
    "TOPIC_DELETION_DISABLED", "FENCED_LEADER_EPOCH", "UNKNOWN_LEADER_EPOCH",
    "UNSUPPORTED_COMPRESSION_TYPE", "STALE_BROKER_EPOCH", "OFFSET_NOT_AVAILABLE",
    "MEMBER_ID_REQUIRED", "PREFERRED_LEADER_NOT_AVAILABLE", "GROUP_MAX_SIZE_REACHED",
    "FENCED_INSTANCE_ID", "ELIGIBLE_LEADERS_NOT_AVAILABLE", "ELECTION_NOT_NEEDED",
    "NO_REASSIGNMENT_IN_PROGRESS", "GROUP_SUBSCRIBED_TO_TOPIC", "INVALID_RECORD",
    "UNSTABLE_OFFSET_COMMIT", "THROTTLING_QUOTA_EXCEEDED", "PRODUCER_FENCED", "RESOURCE_NOT_FOUND",
    "DUPLICATE_RESOURCE", "UNACCEPTABLE_CREDENTIAL", "INCONSISTENT_VOTER_SET",
    "INVALID_UPDATE_VERSION", "FEATURE_UPDATE_FAILED", "PRINCIPAL_DESERIALIZATION_FAILURE",
    "SNAPSHOT_NOT_FOUND", "UNKNOWN_ERROR_99", "UNKNOWN_TOPIC_ID",
};
/* clang-format on */

const char *ed_kc_errname(int16_t code)
{
    if (code == -1) return "UNKNOWN_SERVER_ERROR";
    if (code >= 0 && (size_t)code < ED_ARRAY_LEN(kerr_names)) return kerr_names[code];
    return "UNKNOWN_ERROR_CODE";
}

/* ---- result memory ---- */

/* Decoded messages and results share one arena per result, bounded by a
 * multiple of the response size (set when the first decode starts). */
#define ARENA_PER_BYTE 128
#define ARENA_BASE     (64u << 10)

void ed_kc_free(struct ed_kc_mem *m)
{
    ed_karena_free(&m->arena);
    ed_free(m->resp);
    memset(m, 0, sizeof *m);
}

void *ed_kc_alloc(struct ed_kc_mem *m, ed_krd *r, int32_t n, size_t len)
{
    if (n <= 0 || r->err) return NULL;
    if (!m->arena.limit) ed_karena_init_heap(&m->arena, ARENA_BASE);
    void *p = (size_t)n <= SIZE_MAX / len ? ed_karena_alloc(&m->arena, (size_t)n * len) : NULL;
    if (!p) ed_krd_fail(r, ED_ERR_NOMEM);
    return p;
}

/* An array of n results owned by m; *n_out = n, or 0 when n <= 0. */
static void *results(struct ed_kc_mem *m, ed_krd *r, int32_t n, size_t len, int32_t *n_out)
{
    void *p = ed_kc_alloc(m, r, n, len);
    *n_out = p ? n : 0;
    return p;
}

static int finish(ed_krd *r)
{
    return r->err == ED_ERR_NOMEM ? ED_ERR_NOMEM : (r->err ? ED_ERR_PROTO : ED_OK);
}

int ed_kc_decode(ed_krd *r, int16_t api_key, int16_t ver, struct ed_kc_mem *mem, void *msg)
{
    const struct ed_kmsg_api *api = ed_kschema_api(api_key);
    if (!api) return ED_ERR_INVAL;
    if (!mem->arena.limit)
        ed_karena_init_heap(&mem->arena, ed_krd_left(r) * ARENA_PER_BYTE + ARENA_BASE);
    return ed_kschema_decode_response(api, ver, r, &mem->arena, msg);
}

/* ---- framing ---- */

size_t ed_kc_frame_begin(ed_kwr *w, int16_t api_key, int16_t ver, int32_t correlation_id,
                         const char *client_id)
{
    const struct ed_kmsg_api *api = ed_kschema_api(api_key);
    int16_t hv = ed_kschema_request_header_version(api, ver);
    struct ed_kmsg_request_header h = {api_key, ver, correlation_id, ed_kc_str(client_id)};
    size_t start = ed_kwr_reserve_i32(w);
    ed_kschema_encode(&ed_kmsg_request_header_desc, hv, hv >= 2, w, &h);
    return start;
}

void ed_kc_frame_end(ed_kwr *w, size_t start)
{
    ed_kwr_patch_i32(w, start, (int32_t)(w->len - start - 4));
}

int32_t ed_kc_read_resp_header(ed_krd *r, int16_t api_key, int16_t ver)
{
    int16_t hv = ed_kschema_response_header_version(ed_kschema_api(api_key), ver);
    struct ed_kmsg_response_header h;
    ed_kschema_decode(&ed_kmsg_response_header_desc, hv, hv >= 1, r, NULL, &h);
    return h.correlation_id;
}

/* ---- encoders: fill the request struct, the schema writes it ---- */

ed_kstr ed_kc_str(const char *s)
{
    return s ? (ed_kstr){s, (int32_t)strlen(s)} : (ed_kstr){NULL, -1};
}

void *ed_kc_enc_structs(ed_karena *a, ed_kwr *w, int32_t n, const struct ed_kstruct *d)
{
    uint8_t *p = n > 0 ? ed_karena_alloc(a, (size_t)n * d->size) : NULL;
    if (n > 0 && !p && w->err == ED_OK) w->err = ED_ERR_NOMEM;
    for (int32_t i = 0; p && i < n; i++)
        ed_kschema_init(d, p + (size_t)i * d->size);
    return p;
}

void ed_kc_enc_finish(ed_karena *a, ed_kwr *w, int16_t api_key, int16_t ver, const void *msg)
{
    ed_kschema_encode_request(ed_kschema_api(api_key), ver, w, msg);
    ed_karena_free(a);
}

ed_kstr *ed_kc_enc_strs(ed_karena *a, ed_kwr *w, const char *const *s, int n)
{
    ed_kstr *p = n > 0 ? ed_karena_alloc(a, sizeof *p * (size_t)n) : NULL;
    if (n > 0 && !p && w->err == ED_OK) w->err = ED_ERR_NOMEM;
    for (int i = 0; p && i < n; i++)
        p[i] = ed_kc_str(s[i]);
    return p;
}

void ed_kc_enc_api_versions(ed_kwr *w, int16_t ver)
{
    ED_KC_ENC_BEGIN(api_versions_request, m);
    m.client_software_name = ed_kc_str("eddy");
    m.client_software_version = ed_kc_str(ED_VERSION);
    ed_kc_enc_finish(&a, w, ED_KMSG_API_VERSIONS, ver, &m);
}

void ed_kc_enc_sasl_handshake(ed_kwr *w, int16_t ver, const void *mechanism)
{
    ED_KC_ENC_BEGIN(sasl_handshake_request, m);
    m.mechanism = ed_kc_str(mechanism);
    ed_kc_enc_finish(&a, w, ED_KMSG_SASL_HANDSHAKE, ver, &m);
}

void ed_kc_enc_sasl_authenticate(ed_kwr *w, int16_t ver, const void *token)
{
    const struct ed_kc_sasl_token *t = token;
    ED_KC_ENC_BEGIN(sasl_authenticate_request, m);
    m.auth_bytes = (ed_kbytes){t->p, (int32_t)t->len};
    ed_kc_enc_finish(&a, w, ED_KMSG_SASL_AUTHENTICATE, ver, &m);
}

void ed_kc_sasl_auth_error(char *out, size_t out_len, int16_t err, ed_kstr message)
{
    snprintf(out, out_len, "SASL authentication failed: %s%s%.*s", ed_kc_errname(err),
             message.len > 0 ? ": " : "", message.len > 0 ? (int)message.len : 0,
             message.len > 0 ? message.p : "");
}

void ed_kc_enc_metadata(ed_kwr *w, int16_t ver, const char *const *topics, int n_topics,
                        bool allow_auto_create)
{
    ED_KC_ENC_BEGIN(metadata_request, m);
    m.n_topics = topics ? n_topics : -1;
    m.topics = ED_KC_STRUCTS(m.n_topics, metadata_request_topic);
    for (int i = 0; topics && m.topics && i < n_topics; i++)
        m.topics[i].name = ed_kc_str(topics[i]);
    m.allow_auto_topic_creation = allow_auto_create;
    ed_kc_enc_finish(&a, w, ED_KMSG_METADATA, ver, &m);
}

void ed_kc_enc_create_topics(ed_kwr *w, int16_t ver, const struct ed_kc_new_topic *t, int n,
                             int32_t timeout_ms, bool validate_only)
{
    ED_KC_ENC_BEGIN(create_topics_request, m);
    m.n_topics = n;
    m.topics = ED_KC_STRUCTS(n, create_topics_request_creatable_topic);
    for (int i = 0; m.topics && i < n; i++) {
        struct ed_kmsg_create_topics_request_creatable_topic *d = &m.topics[i];
        d->name = ed_kc_str(t[i].name);
        d->num_partitions = t[i].n_partitions;
        d->replication_factor = t[i].replication_factor;
        d->n_configs = t[i].n_configs;
        d->configs = ED_KC_STRUCTS(t[i].n_configs, create_topics_request_creatable_topic_config);
        for (int k = 0; d->configs && k < t[i].n_configs; k++) {
            d->configs[k].name = ed_kc_str(t[i].configs[k].key);
            d->configs[k].value = ed_kc_str(t[i].configs[k].value);
        }
    }
    m.timeout_ms = timeout_ms;
    m.validate_only = validate_only;
    ed_kc_enc_finish(&a, w, ED_KMSG_CREATE_TOPICS, ver, &m);
}

void ed_kc_enc_delete_topics(ed_kwr *w, int16_t ver, const char *const *names, int n,
                             int32_t timeout_ms)
{
    /* names before v6, {name, id} from v6: the schema writes the one the
     * version has */
    ED_KC_ENC_BEGIN(delete_topics_request, m);
    m.n_topics = m.n_topic_names = n;
    m.topics = ED_KC_STRUCTS(n, delete_topics_request_delete_topic_state);
    m.topic_names = ed_kc_enc_strs(&a, w, names, n);
    for (int i = 0; m.topics && i < n; i++)
        m.topics[i].name = ed_kc_str(names[i]);
    m.timeout_ms = timeout_ms;
    ed_kc_enc_finish(&a, w, ED_KMSG_DELETE_TOPICS, ver, &m);
}

void ed_kc_enc_create_partitions(ed_kwr *w, int16_t ver, const struct ed_kc_new_partitions *p,
                                 int n, int32_t timeout_ms, bool validate_only)
{
    ED_KC_ENC_BEGIN(create_partitions_request, m);
    m.n_topics = n;
    m.topics = ED_KC_STRUCTS(n, create_partitions_request_create_partitions_topic);
    for (int i = 0; m.topics && i < n; i++) {
        m.topics[i].name = ed_kc_str(p[i].topic);
        m.topics[i].count = p[i].count;
        m.topics[i].n_assignments = -1; /* the broker assigns */
    }
    m.timeout_ms = timeout_ms;
    m.validate_only = validate_only;
    ed_kc_enc_finish(&a, w, ED_KMSG_CREATE_PARTITIONS, ver, &m);
}

void ed_kc_enc_describe_configs(ed_kwr *w, int16_t ver, const struct ed_kc_describe_resource *res,
                                int n, bool synonyms, bool docs)
{
    ED_KC_ENC_BEGIN(describe_configs_request, m);
    m.n_resources = n;
    m.resources = ED_KC_STRUCTS(n, describe_configs_request_describe_configs_resource);
    for (int i = 0; m.resources && i < n; i++) {
        m.resources[i].resource_type = res[i].type;
        m.resources[i].resource_name = ed_kc_str(res[i].name);
        m.resources[i].n_configuration_keys = res[i].n_keys < 0 ? -1 : res[i].n_keys;
        m.resources[i].configuration_keys = ed_kc_enc_strs(&a, w, res[i].keys, res[i].n_keys);
    }
    m.include_synonyms = synonyms;
    m.include_documentation = docs;
    ed_kc_enc_finish(&a, w, ED_KMSG_DESCRIBE_CONFIGS, ver, &m);
}

void ed_kc_enc_incremental_alter_configs(ed_kwr *w, int16_t ver,
                                         const struct ed_kc_alter_resource *res, int n,
                                         bool validate_only)
{
    ED_KC_ENC_BEGIN(incremental_alter_configs_request, m);
    m.n_resources = n;
    m.resources = ED_KC_STRUCTS(n, incremental_alter_configs_request_alter_configs_resource);
    for (int i = 0; m.resources && i < n; i++) {
        struct ed_kmsg_incremental_alter_configs_request_alter_configs_resource *d =
            &m.resources[i];
        d->resource_type = res[i].type;
        d->resource_name = ed_kc_str(res[i].name);
        d->n_configs = res[i].n_ops;
        d->configs =
            ED_KC_STRUCTS(res[i].n_ops, incremental_alter_configs_request_alterable_config);
        for (int k = 0; d->configs && k < res[i].n_ops; k++) {
            d->configs[k].name = ed_kc_str(res[i].ops[k].key);
            d->configs[k].config_operation = res[i].ops[k].op;
            d->configs[k].value = ed_kc_str(res[i].ops[k].value);
        }
    }
    m.validate_only = validate_only;
    ed_kc_enc_finish(&a, w, ED_KMSG_INCREMENTAL_ALTER_CONFIGS, ver, &m);
}

int ed_kc_topic_run(const char *const *names, size_t stride, int i, int n)
{
    const char *t = *(const char *const *)((const char *)names + stride * (size_t)i);
    int j = i + 1;
    while (j < n &&
           strcmp(*(const char *const *)((const char *)names + stride * (size_t)j), t) == 0)
        j++;
    return j - i;
}

int ed_kc_count_topics(const char *const *names, size_t stride, int n)
{
    int k = 0;
    for (int i = 0; i < n; i += ed_kc_topic_run(names, stride, i, n))
        k++;
    return k;
}

void ed_kc_enc_produce(ed_kwr *w, int16_t ver, int16_t acks, int32_t timeout_ms,
                       const struct ed_kc_produce_part *p, int n)
{
    ED_KC_ENC_BEGIN(produce_request, m);
    m.acks = acks;
    m.timeout_ms = timeout_ms;
    m.n_topic_data = n ? ed_kc_count_topics(&p[0].topic, sizeof *p, n) : 0;
    m.topic_data = ED_KC_STRUCTS(m.n_topic_data, produce_request_topic_produce_data);
    for (int i = 0, t = 0; m.topic_data && i < n; t++) {
        struct ed_kmsg_produce_request_topic_produce_data *d = &m.topic_data[t];
        int run = ed_kc_topic_run(&p[0].topic, sizeof *p, i, n);
        d->name = ed_kc_str(p[i].topic);
        d->n_partition_data = run;
        d->partition_data = ED_KC_STRUCTS(run, produce_request_partition_produce_data);
        for (int k = 0; d->partition_data && k < run; k++) {
            d->partition_data[k].index = p[i + k].partition;
            d->partition_data[k].records =
                (ed_kbytes){p[i + k].records, (int32_t)p[i + k].records_len};
        }
        i += run;
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_PRODUCE, ver, &m);
}

void ed_kc_enc_fetch(ed_kwr *w, int16_t ver, int32_t max_wait_ms, int32_t min_bytes,
                     int32_t max_bytes, const struct ed_kc_fetch_part *p, int n)
{
    /* a consumer (replica -1), read uncommitted, no fetch session */
    ED_KC_ENC_BEGIN(fetch_request, m);
    m.max_wait_ms = max_wait_ms;
    m.min_bytes = min_bytes;
    m.max_bytes = max_bytes;
    m.n_topics = n ? ed_kc_count_topics(&p[0].topic, sizeof *p, n) : 0;
    m.topics = ED_KC_STRUCTS(m.n_topics, fetch_request_fetch_topic);
    for (int i = 0, t = 0; m.topics && i < n; t++) {
        struct ed_kmsg_fetch_request_fetch_topic *d = &m.topics[t];
        int run = ed_kc_topic_run(&p[0].topic, sizeof *p, i, n);
        d->topic = ed_kc_str(p[i].topic);
        d->n_partitions = run;
        d->partitions = ED_KC_STRUCTS(run, fetch_request_fetch_partition);
        for (int k = 0; d->partitions && k < run; k++) {
            d->partitions[k].partition = p[i + k].partition;
            d->partitions[k].fetch_offset = p[i + k].offset;
            d->partitions[k].partition_max_bytes = p[i + k].max_bytes;
        }
        i += run;
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_FETCH, ver, &m);
}

void ed_kc_enc_list_offsets(ed_kwr *w, int16_t ver, const struct ed_kc_list_part *p, int n)
{
    ED_KC_ENC_BEGIN(list_offsets_request, m);
    m.replica_id = -1;
    m.n_topics = n ? ed_kc_count_topics(&p[0].topic, sizeof *p, n) : 0;
    m.topics = ED_KC_STRUCTS(m.n_topics, list_offsets_request_list_offsets_topic);
    for (int i = 0, t = 0; m.topics && i < n; t++) {
        struct ed_kmsg_list_offsets_request_list_offsets_topic *d = &m.topics[t];
        int run = ed_kc_topic_run(&p[0].topic, sizeof *p, i, n);
        d->name = ed_kc_str(p[i].topic);
        d->n_partitions = run;
        d->partitions = ED_KC_STRUCTS(run, list_offsets_request_list_offsets_partition);
        for (int k = 0; d->partitions && k < run; k++) {
            d->partitions[k].partition_index = p[i + k].partition;
            d->partitions[k].timestamp = p[i + k].timestamp;
        }
        i += run;
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_LIST_OFFSETS, ver, &m);
}

/* ---- decoders: the schema decodes, these copy into the result types ---- */

int ed_kc_dec_api_versions(ed_krd *r, int16_t ver, struct ed_kc_api_versions *out)
{
    /* A broker answers a version it does not know in the v0 form. */
    if (ed_krd_left(r) >= 2 && ed_get_be16(r->p) == 35) ver = 0;
    ED_KC_DEC_BEGIN(ED_KMSG_API_VERSIONS, api_versions_response, m);
    out->error = m->error_code;
    out->apis = results(&out->mem, r, m->n_api_keys, sizeof *out->apis, &out->n_apis);
    for (int32_t i = 0; i < out->n_apis; i++)
        out->apis[i] = (struct ed_kc_api_range){m->api_keys[i].api_key, m->api_keys[i].min_version,
                                                m->api_keys[i].max_version};
    return finish(r);
}

int ed_kc_dec_metadata(ed_krd *r, int16_t ver, struct ed_kc_metadata *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_METADATA, metadata_response, m);
    out->brokers = results(&out->mem, r, m->n_brokers, sizeof *out->brokers, &out->n_brokers);
    for (int32_t i = 0; i < out->n_brokers; i++) {
        const struct ed_kmsg_metadata_response_broker *b = &m->brokers[i];
        out->brokers[i] = (struct ed_kc_broker){b->node_id, b->host, b->port, b->rack};
    }
    out->cluster_id = m->cluster_id;
    out->controller_id = m->controller_id;
    out->topics = results(&out->mem, r, m->n_topics, sizeof *out->topics, &out->n_topics);
    for (int32_t i = 0; i < out->n_topics; i++) {
        const struct ed_kmsg_metadata_response_topic *t = &m->topics[i];
        struct ed_kc_topic_md *d = &out->topics[i];
        d->error = t->error_code;
        d->name = t->name;
        memcpy(d->id, t->topic_id, 16);
        d->internal = t->is_internal;
        d->partitions =
            results(&out->mem, r, t->n_partitions, sizeof *d->partitions, &d->n_partitions);
        for (int32_t k = 0; k < d->n_partitions; k++) {
            const struct ed_kmsg_metadata_response_partition *p = &t->partitions[k];
            d->partitions[k] = (struct ed_kc_part_md){
                p->error_code,      p->partition_index, p->leader_id,     p->leader_epoch,
                p->n_replica_nodes, p->n_isr_nodes,     p->replica_nodes, p->isr_nodes};
        }
    }
    return finish(r);
}

int ed_kc_dec_create_topics(ed_krd *r, int16_t ver, struct ed_kc_create_topics *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_CREATE_TOPICS, create_topics_response, m);
    out->topics = results(&out->mem, r, m->n_topics, sizeof *out->topics, &out->n_topics);
    for (int32_t i = 0; i < out->n_topics; i++) {
        const struct ed_kmsg_create_topics_response_creatable_topic_result *t = &m->topics[i];
        struct ed_kc_created_topic *d = &out->topics[i];
        d->name = t->name;
        memcpy(d->id, t->topic_id, 16);
        d->error = t->error_code;
        d->message = t->error_message;
        d->n_partitions = t->num_partitions;
        d->replication_factor = t->replication_factor;
        /* configs: v5+ (null or listed); -1 when the version has none */
        d->configs = results(&out->mem, r, t->n_configs, sizeof *d->configs, &d->n_configs);
        if (t->n_configs < 0 ||
            !ed_kschema_has(&ed_kmsg_create_topics_response_creatable_topic_result_desc, ver,
                            "Configs"))
            d->n_configs = -1;
        for (int32_t k = 0; k < d->n_configs; k++) {
            const struct ed_kmsg_create_topics_response_creatable_topic_configs *c = &t->configs[k];
            d->configs[k] = (struct ed_kc_topic_config){c->name, c->value, c->read_only,
                                                        c->config_source, c->is_sensitive};
        }
    }
    return finish(r);
}

/* DeleteTopics, CreatePartitions and the alters answer per item with the
 * same few fields; each names them differently. */
static void item(struct ed_kc_item_result *it, ed_kstr name, int8_t type, const uint8_t *id,
                 int16_t error, ed_kstr message)
{
    it->name = name;
    it->resource_type = type;
    if (id) memcpy(it->id, id, 16);
    it->error = error;
    it->message = message;
}

int ed_kc_dec_delete_topics(ed_krd *r, int16_t ver, struct ed_kc_items *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_DELETE_TOPICS, delete_topics_response, m);
    out->items = results(&out->mem, r, m->n_responses, sizeof *out->items, &out->n);
    for (int32_t i = 0; i < out->n; i++) {
        const struct ed_kmsg_delete_topics_response_deletable_topic_result *t = &m->responses[i];
        item(&out->items[i], t->name, 0, t->topic_id, t->error_code, t->error_message);
    }
    return finish(r);
}

int ed_kc_dec_create_partitions(ed_krd *r, int16_t ver, struct ed_kc_items *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_CREATE_PARTITIONS, create_partitions_response, m);
    out->items = results(&out->mem, r, m->n_results, sizeof *out->items, &out->n);
    for (int32_t i = 0; i < out->n; i++) {
        const struct ed_kmsg_create_partitions_response_create_partitions_topic_result *t =
            &m->results[i];
        item(&out->items[i], t->name, 0, NULL, t->error_code, t->error_message);
    }
    return finish(r);
}

int ed_kc_dec_describe_configs(ed_krd *r, int16_t ver, struct ed_kc_describe_configs *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_DESCRIBE_CONFIGS, describe_configs_response, m);
    out->resources = results(&out->mem, r, m->n_results, sizeof *out->resources, &out->n);
    for (int32_t i = 0; i < out->n; i++) {
        const struct ed_kmsg_describe_configs_response_describe_configs_result *s = &m->results[i];
        struct ed_kc_config_resource *d = &out->resources[i];
        d->error = s->error_code;
        d->message = s->error_message;
        d->type = s->resource_type;
        d->name = s->resource_name;
        d->configs = results(&out->mem, r, s->n_configs, sizeof *d->configs, &d->n_configs);
        for (int32_t k = 0; k < d->n_configs; k++) {
            const struct ed_kmsg_describe_configs_response_describe_configs_resource_result *e =
                &s->configs[k];
            struct ed_kc_config_entry *c = &d->configs[k];
            *c = (struct ed_kc_config_entry){e->name,       e->value,         e->read_only,
                                             e->is_default, e->config_source, e->is_sensitive};
            /* v0 says IsDefault; v1+ says where the value comes from */
            if (c->source >= 0) c->is_default = c->source == ED_KC_SRC_DEFAULT;
            c->synonyms = results(&out->mem, r, e->n_synonyms, sizeof *c->synonyms, &c->n_synonyms);
            for (int32_t s2 = 0; s2 < c->n_synonyms; s2++)
                c->synonyms[s2] = (struct ed_kc_synonym){
                    e->synonyms[s2].name, e->synonyms[s2].value, e->synonyms[s2].source};
            c->type = e->config_type;
            c->doc = e->documentation;
        }
    }
    return finish(r);
}

int ed_kc_dec_alter_configs(ed_krd *r, int16_t api_key, int16_t ver, struct ed_kc_items *out)
{
    /* AlterConfigs and IncrementalAlterConfigs answer with the same fields
     * (the same generated layout), read here as the latter's */
    ED_KC_DEC_BEGIN(api_key == ED_KMSG_ALTER_CONFIGS ? ED_KMSG_ALTER_CONFIGS
                                                     : ED_KMSG_INCREMENTAL_ALTER_CONFIGS,
                    incremental_alter_configs_response, m);
    out->items = results(&out->mem, r, m->n_responses, sizeof *out->items, &out->n);
    for (int32_t i = 0; i < out->n; i++) {
        const struct ed_kmsg_incremental_alter_configs_response_alter_configs_resource_response *t =
            &m->responses[i];
        item(&out->items[i], t->resource_name, t->resource_type, NULL, t->error_code,
             t->error_message);
    }
    return finish(r);
}

/* Produce, Fetch and ListOffsets answer per topic, then per partition; the
 * results are one flat list of partitions (each with its topic). */
int ed_kc_dec_produce(ed_krd *r, int16_t ver, struct ed_kc_produce *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_PRODUCE, produce_response, m);
    ED_KC_FLATTEN(n_responses, responses, n_partition_responses, parts)
    {
        const struct ed_kmsg_produce_response_partition_produce_response *p =
            &m->responses[i].partition_responses[k];
        out->parts[j] = (struct ed_kc_produce_result){m->responses[i].name,  p->index,
                                                      p->error_code,         p->base_offset,
                                                      p->log_append_time_ms, p->log_start_offset,
                                                      p->error_message};
    }
    return finish(r);
}

int ed_kc_dec_fetch(ed_krd *r, int16_t ver, struct ed_kc_fetch *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_FETCH, fetch_response, m);
    out->error = m->error_code;
    ED_KC_FLATTEN(n_responses, responses, n_partitions, parts)
    {
        const struct ed_kmsg_fetch_response_partition_data *p = &m->responses[i].partitions[k];
        out->parts[j] = (struct ed_kc_fetch_result){
            m->responses[i].topic, p->partition_index,  p->error_code, p->high_watermark,
            p->last_stable_offset, p->log_start_offset, p->records};
    }
    return finish(r);
}

int ed_kc_dec_list_offsets(ed_krd *r, int16_t ver, struct ed_kc_list_offsets *out)
{
    ED_KC_DEC_BEGIN(ED_KMSG_LIST_OFFSETS, list_offsets_response, m);
    ED_KC_FLATTEN(n_topics, topics, n_partitions, parts)
    {
        const struct ed_kmsg_list_offsets_response_list_offsets_partition_response *p =
            &m->topics[i].partitions[k];
        out->parts[j] = (struct ed_kc_list_result){m->topics[i].name, p->partition_index,
                                                   p->error_code, p->timestamp, p->offset};
    }
    return finish(r);
}
