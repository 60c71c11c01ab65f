/* Eddy's own Kafka client: request encoders and response decoders for the
 * APIs the CLI and the upstream mirror need (ApiVersions, Metadata,
 * CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
 * IncrementalAlterConfigs, Produce, Fetch, ListOffsets), and a blocking
 * connection with timeouts over platform/netclient.h that negotiates
 * versions (min of ours and the broker's) and runs one request at a time.
 *
 * The codec (ed_kc_enc_* / ed_kc_dec_*) holds no connection state, so a
 * loop-driven transport can reuse it: encode into an ed_kwr, frame with
 * ed_kc_frame_begin/end, and decode a received body after
 * ed_kc_read_resp_header.
 *
 * Decoded results point into the response bytes and into blocks owned by
 * the result's `mem`; release everything with ed_kc_free(&result.mem). */
#ifndef ED_CORE_KCLIENT_H
#define ED_CORE_KCLIENT_H

#include "core/kafka/msg_gen.h"
#include "core/kafka/kwire.h"

/* API keys are the schema's ED_KMSG_* (core/kafka/msg_gen.h). Version range
 * the client calls for an API key (the schema's API list); false if none. */
bool ed_kc_api_range(int16_t api_key, int16_t *min, int16_t *max);
/* First flexible version of an API the client speaks (-1 = never). */
int16_t ed_kc_flex_from(int16_t api_key);

/* Kafka's name of an error code ("UNKNOWN_TOPIC_OR_PARTITION"), or
 * "UNKNOWN_ERROR_<n>" style text for codes it does not know (static). */
const char *ed_kc_errname(int16_t code);

/* Memory owned by one decoded result. */
struct ed_kc_mem {
    uint8_t *resp;   /* the response bytes (strings point into it) */
    ed_karena arena; /* the decoded message and the result's arrays */
};
void ed_kc_free(struct ed_kc_mem *m);
/* Decodes the response body of api_key/ver with the schema into msg (the
 * response struct of the API); its arrays are owned by mem. ED_OK,
 * ED_ERR_PROTO or ED_ERR_NOMEM. */
int ed_kc_decode(ed_krd *r, int16_t api_key, int16_t ver, struct ed_kc_mem *mem, void *msg);
/* A zeroed array of n elements of len bytes owned by m, for decoders
 * outside kclient.c; NULL for n <= 0 or on failure (which fails r). */
void *ed_kc_alloc(struct ed_kc_mem *m, ed_krd *r, int32_t n, size_t len);

/* ---- results ---- */
struct ed_kc_api_range {
    int16_t key, min, max;
};
struct ed_kc_api_versions {
    struct ed_kc_mem mem;
    int16_t error;
    int32_t n_apis;
    struct ed_kc_api_range *apis;
};

struct ed_kc_broker {
    int32_t node_id;
    ed_kstr host;
    int32_t port;
    ed_kstr rack;
};
struct ed_kc_part_md {
    int16_t error;
    int32_t index;
    int32_t leader;
    int32_t leader_epoch;
    int32_t n_replicas, n_isr;
    int32_t *replicas, *isr;
};
struct ed_kc_topic_md {
    int16_t error;
    ed_kstr name;
    uint8_t id[16];
    bool internal;
    int32_t n_partitions;
    struct ed_kc_part_md *partitions;
};
struct ed_kc_metadata {
    struct ed_kc_mem mem;
    int32_t n_brokers;
    struct ed_kc_broker *brokers;
    ed_kstr cluster_id;
    int32_t controller_id;
    int32_t n_topics;
    struct ed_kc_topic_md *topics;
};

/* A key=value config pair (value NULL = null). */
struct ed_kc_kv {
    const char *key;
    const char *value;
};

struct ed_kc_new_topic {
    const char *name;
    int32_t n_partitions;       /* -1 = broker default */
    int16_t replication_factor; /* -1 = broker default */
    int n_configs;
    const struct ed_kc_kv *configs;
};
struct ed_kc_topic_config {
    ed_kstr name;
    ed_kstr value;
    bool read_only;
    int8_t source;
    bool sensitive;
};
struct ed_kc_created_topic {
    ed_kstr name;
    uint8_t id[16];
    int16_t error;
    ed_kstr message;
    int32_t n_partitions;
    int16_t replication_factor;
    int32_t n_configs; /* -1 = null */
    struct ed_kc_topic_config *configs;
};
struct ed_kc_create_topics {
    struct ed_kc_mem mem;
    int32_t n_topics;
    struct ed_kc_created_topic *topics;
};

/* Per-item outcome of DeleteTopics, CreatePartitions and the alters. */
struct ed_kc_item_result {
    ed_kstr name;
    int8_t resource_type; /* alters only */
    uint8_t id[16];       /* DeleteTopics v6 */
    int16_t error;
    ed_kstr message;
};
struct ed_kc_items {
    struct ed_kc_mem mem;
    int32_t n;
    struct ed_kc_item_result *items;
};

struct ed_kc_new_partitions {
    const char *topic;
    int32_t count; /* the new total */
};

enum ed_kc_resource { ED_KC_RESOURCE_TOPIC = 2, ED_KC_RESOURCE_BROKER = 4 };
/* Kafka's ConfigSource values (DescribeConfigs v1+). */
enum ed_kc_config_source {
    ED_KC_SRC_UNKNOWN = 0,
    ED_KC_SRC_DYNAMIC_TOPIC = 1,
    ED_KC_SRC_DYNAMIC_BROKER = 2,
    ED_KC_SRC_DYNAMIC_DEFAULT_BROKER = 3,
    ED_KC_SRC_STATIC_BROKER = 4,
    ED_KC_SRC_DEFAULT = 5,
    ED_KC_SRC_DYNAMIC_BROKER_LOGGER = 6,
    ED_KC_SRC_CLIENT_METRICS = 7,
    ED_KC_SRC_GROUP = 8
};
/* Kafka's ConfigType values (DescribeConfigs v3+). */
enum ed_kc_config_type {
    ED_KC_TYPE_UNKNOWN = 0,
    ED_KC_TYPE_BOOLEAN = 1,
    ED_KC_TYPE_STRING = 2,
    ED_KC_TYPE_INT = 3,
    ED_KC_TYPE_SHORT = 4,
    ED_KC_TYPE_LONG = 5,
    ED_KC_TYPE_DOUBLE = 6,
    ED_KC_TYPE_LIST = 7,
    ED_KC_TYPE_CLASS = 8,
    ED_KC_TYPE_PASSWORD = 9
};
struct ed_kc_describe_resource {
    int8_t type;
    const char *name;
    int n_keys; /* -1 = all */
    const char *const *keys;
};
struct ed_kc_synonym {
    ed_kstr name;
    ed_kstr value;
    int8_t source;
};
struct ed_kc_config_entry {
    ed_kstr name;
    ed_kstr value;
    bool read_only;
    bool is_default; /* v0; derived from source for v1+ */
    int8_t source;   /* v1+; -1 for v0 */
    bool sensitive;
    int32_t n_synonyms;
    struct ed_kc_synonym *synonyms;
    int8_t type; /* v3+ */
    ed_kstr doc; /* v3+ */
};
struct ed_kc_config_resource {
    int16_t error;
    ed_kstr message;
    int8_t type;
    ed_kstr name;
    int32_t n_configs;
    struct ed_kc_config_entry *configs;
};
struct ed_kc_describe_configs {
    struct ed_kc_mem mem;
    int32_t n;
    struct ed_kc_config_resource *resources;
};

enum ed_kc_alter_op {
    ED_KC_OP_SET = 0,
    ED_KC_OP_DELETE = 1,
    ED_KC_OP_APPEND = 2,
    ED_KC_OP_SUBTRACT = 3
};
struct ed_kc_alter_op_item {
    const char *key;
    int8_t op;
    const char *value;
};
struct ed_kc_alter_resource {
    int8_t type;
    const char *name;
    int n_ops;
    const struct ed_kc_alter_op_item *ops;
};

/* Produce: one entry per partition, its records as complete RecordBatch v2
 * bytes. In every list of partitions (produce, fetch, list offsets) the
 * entries of one topic must be adjacent. */
struct ed_kc_produce_part {
    const char *topic;
    int32_t partition;
    const uint8_t *records;
    size_t records_len;
};
struct ed_kc_produce_result {
    ed_kstr topic;
    int32_t partition;
    int16_t error;
    int64_t base_offset;
    int64_t log_append_time;
    int64_t log_start_offset;
    ed_kstr message; /* v8+ */
};
struct ed_kc_produce {
    struct ed_kc_mem mem;
    int32_t n;
    struct ed_kc_produce_result *parts;
};

struct ed_kc_fetch_part {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int32_t max_bytes;
};
struct ed_kc_fetch_result {
    ed_kstr topic;
    int32_t partition;
    int16_t error;
    int64_t high_watermark;
    int64_t last_stable_offset;
    int64_t log_start_offset;
    ed_kbytes records; /* may end in a partial batch */
};
struct ed_kc_fetch {
    struct ed_kc_mem mem;
    int16_t error; /* v7+ top-level */
    int32_t n;
    struct ed_kc_fetch_result *parts;
};

/* ListOffsets special timestamps. */
#define ED_KC_LATEST   (-1)
#define ED_KC_EARLIEST (-2)
struct ed_kc_list_part {
    const char *topic;
    int32_t partition;
    int64_t timestamp; /* ED_KC_LATEST, ED_KC_EARLIEST or a time in ms */
};
struct ed_kc_list_result {
    ed_kstr topic;
    int32_t partition;
    int16_t error;
    int64_t timestamp;
    int64_t offset;
};
struct ed_kc_list_offsets {
    struct ed_kc_mem mem;
    int32_t n;
    struct ed_kc_list_result *parts;
};

/* ---- codec ---- */
/* Helpers of the encoders (here and in kclient_group.c): a C string as a
 * wire string (NULL = null); n request structs of d with their defaults,
 * from a (NULL for n <= 0; failure fails w); encode msg as api_key's
 * request and release a. */
ed_kstr ed_kc_str(const char *s);
void *ed_kc_enc_structs(ed_karena *a, ed_kwr *w, int32_t n, const struct ed_kstruct *d);
/* n wire strings of s in a (NULL for n <= 0; failure fails w). */
ed_kstr *ed_kc_enc_strs(ed_karena *a, ed_kwr *w, const char *const *s, int n);
void ed_kc_enc_finish(ed_karena *a, ed_kwr *w, int16_t api_key, int16_t ver, const void *msg);
/* Starts an encoder: var, a request struct of ed_kmsg_<type> with its
 * defaults, and the arena a for its arrays (w is the writer). */
#define ED_KC_ENC_BEGIN(type, var)                                                                 \
    struct ed_kmsg_##type var;                                                                     \
    ed_karena a;                                                                                   \
    ed_karena_init_heap(&a, w->max);                                                               \
    ed_kschema_init(&ed_kmsg_##type##_desc, &var)
#define ED_KC_STRUCTS(n, type) ed_kc_enc_structs(&a, w, (n), &ed_kmsg_##type##_desc)
/* Lists of partitions name their topic at a stride and keep a topic's
 * entries adjacent: the length of the run of i's topic, the number of runs. */
int ed_kc_topic_run(const char *const *names, size_t stride, int i, int n);
int ed_kc_count_topics(const char *const *names, size_t stride, int n);
/* In a decoder: out->parts (out->n) gets one entry per partition of every
 * topic of m->topics; the statement that follows fills out->parts[j] from
 * m->topics[i] and its partition k. */
#define ED_KC_FLATTEN(tn, topics, pn, parts)                                                       \
    int32_t total_ = 0;                                                                            \
    for (int32_t i = 0; i < m->tn; i++)                                                            \
        total_ += m->topics[i].pn > 0 ? m->topics[i].pn : 0;                                       \
    out->parts = ed_kc_alloc(&out->mem, r, total_, sizeof *out->parts);                            \
    out->n = out->parts ? total_ : 0;                                                              \
    for (int32_t i = 0, j = 0; j < out->n; i++)                                                    \
        for (int32_t k = 0; k < m->topics[i].pn; k++, j++)
/* Starts a decoder of key into out (r and ver in scope): m, the decoded
 * message of ed_kmsg_<type>, or returns the decoding error. */
#define ED_KC_DEC_BEGIN(key, type, m)                                                              \
    struct ed_kmsg_##type m##_msg;                                                                 \
    const struct ed_kmsg_##type *m = &m##_msg;                                                     \
    int rc_ = ed_kc_decode(r, (key), ver, &out->mem, &m##_msg);                                    \
    if (rc_) return rc_
/* Starts a request frame: size placeholder and request header (v1, or v2
 * with tags when the version is flexible). Returns the frame start. */
size_t ed_kc_frame_begin(ed_kwr *w, int16_t api_key, int16_t ver, int32_t correlation_id,
                         const char *client_id);
/* Patches the frame size. */
void ed_kc_frame_end(ed_kwr *w, size_t start);
/* Reads the response header of api_key/ver (correlation id; tags when
 * flexible, never for ApiVersions). */
int32_t ed_kc_read_resp_header(ed_krd *r, int16_t api_key, int16_t ver);

void ed_kc_enc_api_versions(ed_kwr *w, int16_t ver);
/* SASL for both clients (the ed_kc_enc_fn shape): SaslHandshake with the
 * mechanism's name (a C string), SaslAuthenticate with one token. */
struct ed_kc_sasl_token {
    const uint8_t *p;
    size_t len;
};
void ed_kc_enc_sasl_handshake(ed_kwr *w, int16_t ver, const void *mechanism);
void ed_kc_enc_sasl_authenticate(ed_kwr *w, int16_t ver, const void *token);
/* "SASL authentication failed: NAME[: message]" for a refused
 * SaslAuthenticate. */
void ed_kc_sasl_auth_error(char *out, size_t out_len, int16_t err, ed_kstr message);
/* topics NULL = all topics (v1+). */
void ed_kc_enc_metadata(ed_kwr *w, int16_t ver, const char *const *topics, int n_topics,
                        bool allow_auto_create);
void ed_kc_enc_create_topics(ed_kwr *w, int16_t ver, const struct ed_kc_new_topic *t, int n,
                             int32_t timeout_ms, bool validate_only);
void ed_kc_enc_delete_topics(ed_kwr *w, int16_t ver, const char *const *names, int n,
                             int32_t timeout_ms);
void ed_kc_enc_create_partitions(ed_kwr *w, int16_t ver, const struct ed_kc_new_partitions *p,
                                 int n, int32_t timeout_ms, bool validate_only);
void ed_kc_enc_describe_configs(ed_kwr *w, int16_t ver, const struct ed_kc_describe_resource *res,
                                int n, bool synonyms, bool docs);
void ed_kc_enc_incremental_alter_configs(ed_kwr *w, int16_t ver,
                                         const struct ed_kc_alter_resource *res, int n,
                                         bool validate_only);
void ed_kc_enc_produce(ed_kwr *w, int16_t ver, int16_t acks, int32_t timeout_ms,
                       const struct ed_kc_produce_part *p, int n);
void ed_kc_enc_fetch(ed_kwr *w, int16_t ver, int32_t max_wait_ms, int32_t min_bytes,
                     int32_t max_bytes, const struct ed_kc_fetch_part *p, int n);
void ed_kc_enc_list_offsets(ed_kwr *w, int16_t ver, const struct ed_kc_list_part *p, int n);

/* Decoders take the body after the response header. ED_OK or ED_ERR_PROTO
 * (truncated or malformed), ED_ERR_NOMEM. The caller keeps r's bytes alive
 * as long as the result (the sync client hands them to mem.resp). */
int ed_kc_dec_api_versions(ed_krd *r, int16_t ver, struct ed_kc_api_versions *out);
int ed_kc_dec_metadata(ed_krd *r, int16_t ver, struct ed_kc_metadata *out);
int ed_kc_dec_create_topics(ed_krd *r, int16_t ver, struct ed_kc_create_topics *out);
int ed_kc_dec_delete_topics(ed_krd *r, int16_t ver, struct ed_kc_items *out);
int ed_kc_dec_create_partitions(ed_krd *r, int16_t ver, struct ed_kc_items *out);
int ed_kc_dec_describe_configs(ed_krd *r, int16_t ver, struct ed_kc_describe_configs *out);
int ed_kc_dec_alter_configs(ed_krd *r, int16_t api_key, int16_t ver, struct ed_kc_items *out);
int ed_kc_dec_produce(ed_krd *r, int16_t ver, struct ed_kc_produce *out);
int ed_kc_dec_fetch(ed_krd *r, int16_t ver, struct ed_kc_fetch *out);
int ed_kc_dec_list_offsets(ed_krd *r, int16_t ver, struct ed_kc_list_offsets *out);

/* ---- blocking connection ---- */
typedef struct ed_kclient ed_kclient;

/* TLS to the broker (librdkafka's security.protocol=SSL and ssl.* keys). */
struct ed_kclient_tls {
    const char *ca_file;   /* ssl.ca.location; NULL = the system's store */
    const char *cert_file; /* ssl.certificate.location (client certificate) */
    const char *key_file;  /* ssl.key.location */
    bool no_host_check;    /* ssl.endpoint.identification.algorithm=none */
};

struct ed_kclient_opts {
    const char *client_id;            /* NULL = "eddy" */
    uint32_t timeout_ms;              /* per request and for connecting; 0 = 30000 */
    size_t max_response_len;          /* 0 = 64 MiB */
    const struct ed_kclient_tls *tls; /* NULL = plaintext */
    /* SASL after the version negotiation (librdkafka's key names): a
     * mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; NULL = none) with a
     * user name and password. */
    const char *sasl_mechanism;
    const char *sasl_username;
    const char *sasl_password;
};

/* Splits "host:port" or "[v6addr]:port" (port defaults to 9092 when absent). */
int ed_kc_parse_hostport(const char *s, char *host, size_t host_len, uint16_t *port);

/* Connects to host:port and negotiates versions with ApiVersions. On error
 * *why (when non-NULL) gets one line naming the problem. */
int ed_kclient_connect(const char *hostport, const struct ed_kclient_opts *opts, ed_kclient **out,
                       char *why, size_t why_len);
void ed_kclient_close(ed_kclient *c);
/* Negotiated version of api_key, -1 when the broker and Eddy share none. */
int16_t ed_kclient_version(const ed_kclient *c, int16_t api_key);
/* Forces a version (tests; must be in both ranges): ED_ERR_UNSUPPORTED. */
int ed_kclient_set_version(ed_kclient *c, int16_t api_key, int16_t ver);
/* The last error as one line (transport or decoding). */
const char *ed_kclient_last_error(const ed_kclient *c);
/* The broker's advertised range of api_key; false if absent. */
bool ed_kclient_broker_range(const ed_kclient *c, int16_t api_key, int16_t *min, int16_t *max);

/* Generic request for codecs kept in other files (kclient_group.c): enc
 * writes the body at the negotiated version (*ver gets it); on ED_OK r is
 * positioned after the response header and mem->resp owns the bytes. */
typedef void (*ed_kc_enc_fn)(ed_kwr *w, int16_t ver, const void *arg);
int ed_kclient_call(ed_kclient *c, int16_t api_key, ed_kc_enc_fn enc, const void *arg,
                    struct ed_kc_mem *mem, ed_krd *r, int16_t *ver);
/* Turns a decoder's result into the client's error state (frees mem on
 * failure) and returns rc. */
int ed_kclient_decoded(ed_kclient *c, int rc, struct ed_kc_mem *mem);

int ed_kclient_metadata(ed_kclient *c, const char *const *topics, int n_topics,
                        bool allow_auto_create, struct ed_kc_metadata *out);
int ed_kclient_create_topics(ed_kclient *c, const struct ed_kc_new_topic *t, int n,
                             bool validate_only, struct ed_kc_create_topics *out);
int ed_kclient_delete_topics(ed_kclient *c, const char *const *names, int n,
                             struct ed_kc_items *out);
int ed_kclient_create_partitions(ed_kclient *c, const struct ed_kc_new_partitions *p, int n,
                                 bool validate_only, struct ed_kc_items *out);
int ed_kclient_describe_configs(ed_kclient *c, const struct ed_kc_describe_resource *res, int n,
                                bool synonyms, bool docs, struct ed_kc_describe_configs *out);
int ed_kclient_incremental_alter_configs(ed_kclient *c, const struct ed_kc_alter_resource *res,
                                         int n, bool validate_only, struct ed_kc_items *out);
/* acks 0 sends and returns at once with out->n == 0. */
int ed_kclient_produce(ed_kclient *c, int16_t acks, const struct ed_kc_produce_part *p, int n,
                       struct ed_kc_produce *out);
int ed_kclient_fetch(ed_kclient *c, int32_t max_wait_ms, int32_t min_bytes, int32_t max_bytes,
                     const struct ed_kc_fetch_part *p, int n, struct ed_kc_fetch *out);
int ed_kclient_list_offsets(ed_kclient *c, const struct ed_kc_list_part *p, int n,
                            struct ed_kc_list_offsets *out);

#endif
