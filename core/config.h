/* Broker configuration. One static table (core/config_keys.c) describes
 * every broker and topic key and drives parsing into the typed struct
 * ed_config, validation, defaults, `eddy serve --help`, topic configs and
 * the config APIs. The file
 * format is Kafka's server.properties (key = value, # comments); --set
 * overrides the file. Keys use Kafka's names; Eddy's own keys have their
 * prefixes (mqtt., coap., http., mirror., site.id). Modules read the typed
 * fields; the getters by name are for tests that check the table's mapping
 * (asking for a key not in the table is a bug: assert).
 *
 * Kafka keys Eddy knowingly does not use (zookeeper.*, num.network.threads,
 * replication of internal topics, ...) are accepted with a one-line warning
 * so real server.properties files load; any other unknown key is an error. */
#ifndef ED_CORE_CONFIG_H
#define ED_CORE_CONFIG_H

#include "platform/base.h"
#include "storage/log.h"

/* The type of a key's value. LIST is a comma-separated list of choices
 * (cleanup.policy); DOUBLE a number (topic keys only). */
enum ed_config_type {
    ED_CFG_INT,    /* int64 with min/max; accepts Kafka's plain integers */
    ED_CFG_BOOL,   /* true/false */
    ED_CFG_STRING, /* free text (validated by an optional check function) */
    ED_CFG_ENUM,   /* one of a comma-separated list of choices */
    ED_CFG_LIST,   /* comma-separated items, each one of the choices */
    ED_CFG_DOUBLE  /* a number within [min, max] */
};

/* Which field of a partition's struct ed_log_config a topic-level key
 * fills (ED_TF_NONE: accepted, stored and reported, changes nothing on a
 * single node). */
enum ed_topic_field {
    ED_TF_NONE,
    ED_TF_SEGMENT_LEN,
    ED_TF_SEGMENT_MS,
    ED_TF_RETENTION_MS,
    ED_TF_RETENTION_LEN,
    ED_TF_INDEX_INTERVAL,
    ED_TF_FLUSH_MESSAGES,
    ED_TF_FLUSH_MS,
    ED_TF_MAX_MESSAGE,
    ED_TF_CLEANUP,
    ED_TF_TSTYPE,
    ED_TF_COMPRESSION,
    ED_TF_DELETE_RETENTION
};

/* One key of the table in core/config_keys.c, the only description of a
 * config key. A broker key (name) fills the field of struct ed_config at
 * off; a topic key (topic) fills tfield of a partition's ed_log_config. A
 * row with both is a broker default with a topic override (Kafka's
 * log.retention.ms / retention.ms). */
struct ed_config_key {
    const char *name;  /* broker key (Kafka's name), NULL for a topic-only key */
    const char *topic; /* topic-level key, NULL for a broker-only key */
    const char *alias; /* another accepted broker name (Kafka's synonym), or NULL */
    enum ed_config_type type;
    int64_t min, max;    /* INT/DOUBLE bounds */
    int64_t tmin, tmax;  /* the topic key's bounds when they differ (both 0: min, max) */
    const char *def;     /* default as text ("" = unset); topic-only keys: the topic's */
    const char *choices; /* ENUM/LIST: comma-separated */
    bool (*check)(const char *v, char *why, size_t why_len); /* optional extra validation */
    int off; /* offset of the broker key's field in struct ed_config */
    enum ed_topic_field tfield;
    const char *doc;  /* the broker key's documentation (--help, DescribeConfigs) */
    const char *tdoc; /* the topic key's documentation (DescribeConfigs) */
};
/* The table: every key, once. */
extern const struct ed_config_key ed_config_keys[];
extern const int ed_config_n_keys;
#define ED_CONFIG_MAX_KEYS 256
/* The authorizer.class.name that turns ACLs on (Kafka's KRaft authorizer). */
#define ED_CONFIG_AUTHORIZER "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

/* The broker's configuration, typed: one field per broker key of the table
 * (its Kafka name with '_' for '.'); STRING/ENUM/LIST values are owned
 * text (an ENUM value is one of its choices as spelled in the table).
 * Modules read these fields; the defaults live in the table only. */
struct ed_config {
    char *listeners;
    char *advertised_listeners;
    /* listener security and TLS */
    char *listener_security_protocol_map;
    bool allow_plaintext_on_public_listeners;
    char *ssl_keystore_type;
    char *ssl_keystore_location;
    char *ssl_keystore_key;
    char *ssl_keystore_certificate_chain;
    char *ssl_truststore_type;
    char *ssl_truststore_location;
    char *ssl_client_auth;
    char *ssl_principal_mapping_rules;
    char *mqtt_ssl_keystore_location;
    char *mqtt_ssl_truststore_location;
    char *mqtt_ssl_client_auth;
    char *sasl_enabled_mechanisms;
    int64_t connections_max_reauth_ms;
    char *mqtt_allow_anonymous;
    char *authorizer_class_name;
    char *super_users;
    bool allow_everyone_if_no_acl_found;
    char *log_dirs;
    int64_t node_id;
    int64_t num_partitions;
    int64_t default_replication_factor;
    bool auto_create_topics_enable;
    bool delete_topic_enable;
    int64_t eddy_max_topics;
    int64_t eddy_max_partitions;
    int64_t eddy_max_open_segments;
    int64_t eddy_max_partitions_per_request;
    int64_t message_max_bytes;
    int64_t socket_request_max_bytes;
    int64_t max_connections;
    int64_t connections_max_idle_ms;
    int64_t max_connections_per_ip;
    char *max_connections_per_ip_overrides;
    int64_t socket_request_timeout_ms;
    int64_t queued_max_request_bytes;
    int64_t log_segment_bytes;
    int64_t log_roll_ms;
    int64_t log_roll_hours;
    int64_t log_retention_ms;
    int64_t log_retention_minutes;
    int64_t log_retention_hours;
    int64_t log_retention_bytes;
    int64_t log_retention_check_interval_ms;
    int64_t log_flush_offset_checkpoint_interval_ms;
    int64_t log_flush_interval_ms;
    int64_t log_flush_interval_messages;
    int64_t eddy_flush_gather_ms;
    int64_t eddy_flush_gather_bytes;
    int64_t eddy_linger_durable_max_ms;
    char *eddy_ingest_compression_type;
    int64_t flash_endurance_bytes;
    int64_t log_index_interval_bytes;
    char *compression_type;
    char *log_cleanup_policy;
    char *log_message_timestamp_type;
    int64_t log_cleaner_delete_retention_ms;
    int64_t group_initial_rebalance_delay_ms;
    int64_t offsets_retention_minutes;
    int64_t offsets_retention_check_interval_ms;
    int64_t offset_metadata_max_bytes;
    int64_t group_min_session_timeout_ms;
    int64_t group_max_session_timeout_ms;
    int64_t group_max_size;
    int64_t log_dir_budget_bytes;
    int64_t log_dir_min_free_bytes;
    char *log_dir_full_policy;
    char *mqtt_listeners;
    int64_t mqtt_max_packet_bytes;
    int64_t mqtt_max_connections;
    int64_t mqtt_max_inflight;
    int64_t mqtt_max_queued_messages;
    int64_t mqtt_max_queued_bytes;
    char *mqtt_routes;
    char *mqtt_publish_routes;
    int64_t mqtt_linger_ms;
    int64_t mqtt_batch_bytes;
    int64_t mqtt_connect_timeout_ms;
    int64_t mqtt_max_connections_per_ip;
    char *mqtt_max_connections_per_ip_overrides;
    int64_t mqtt_packet_timeout_ms;
    int64_t mqtt_retained_max_bytes;
    int64_t mqtt_retained_max_messages;
    int64_t mqtt_retained_max_total_bytes;
    int64_t mqtt_session_expiry_max;
    int64_t mqtt_session_max_backlog_records;
    int64_t mqtt_session_max_count;
    char *coap_listeners;
    char *coap_routes;
    int64_t coap_linger_ms;
    int64_t coap_batch_bytes;
    int64_t coap_max_pending;
    int64_t coap_max_clients;
    int64_t coap_max_observed;
    char *coap_psk_file;
    int64_t coap_max_observers_per_topic;
    char *http_listeners;
    int64_t http_max_connections;
    int64_t http_max_header_bytes;
    int64_t http_max_body_bytes;
    int64_t http_request_timeout_ms;
    int64_t http_idle_timeout_ms;
    char *site_id;
    char *mirror_bootstrap_servers;
    char *mirror_topics;
    char *mirror_topic_template;
    bool mirror_create_topics;
    char *mirror_checkpoint_topic;
    int64_t mirror_transaction_max_bytes;
    int64_t mirror_transaction_max_ms;
    int64_t mirror_linger_ms;
    int64_t mirror_batch_bytes;
    int64_t mirror_request_timeout_ms;
    int64_t mirror_metadata_max_age_ms;
    char *mirror_compression_type;
    int64_t mirror_rate_bytes_per_sec;
    char *mirror_on_full;
    char *mirror_priority;
    char *mirror_resume_fallback;
    char *mirror_security_protocol;
    char *mirror_sasl_mechanism;
    char *mirror_sasl_username;
    char *mirror_sasl_password;
    char *mirror_ssl_ca_location;
    char *mirror_ssl_certificate_location;
    char *mirror_ssl_key_location;
    char *mirror_ssl_endpoint_identification_algorithm;
    int64_t memory_max_bytes;
    char *log_level;

    bool set[ED_CONFIG_MAX_KEYS]; /* by table row: set by the file or --set */
    /* Kafka's listener.name.<name>.ssl.* keys, in the order set (see
     * ed_config_listener_str) */
    struct ed_config_override *overrides;
    int n_overrides;
    /* mqtt.bridge.<name>.<key>, in the order the names first appear */
    struct ed_config_bridge *bridges;
    int n_bridges;
};

/* One per-listener value: listener.name.<listener>.<key> = value. */
struct ed_config_override {
    char listener[32]; /* as written in the key (Kafka: lower case) */
    const struct ed_config_key *key;
    char *value; /* owned, checked against key's row */
};
#define ED_CONFIG_MAX_OVERRIDES 64
/* The value of an ssl.* key for a Kafka listener: its
 * listener.name.<name>.<key> when set (names compared without regard to
 * case, as Kafka), else the broker-wide value. key must be a STRING or
 * ENUM row of the table. */
const char *ed_config_listener_str(const struct ed_config *c, const char *listener,
                                   const char *key);

/* MQTT pull bridges: mqtt.bridge.<name>.<key>, <name> letters, digits, '_'
 * and '-' (at most 31), <key> a row of ed_config_bridge_keys (the index is
 * ED_CONFIG_BRIDGE_*). Values are checked against the row when set. */
enum {
    ED_CONFIG_BRIDGE_ADDRESS,
    ED_CONFIG_BRIDGE_TOPICS,
    ED_CONFIG_BRIDGE_CLIENT_ID,
    ED_CONFIG_BRIDGE_USERNAME,
    ED_CONFIG_BRIDGE_PASSWORD,
    ED_CONFIG_BRIDGE_KEEPALIVE,
    ED_CONFIG_BRIDGE_MAX_INFLIGHT,
    ED_CONFIG_BRIDGE_PROTOCOL,
    ED_CONFIG_BRIDGE_TLS,
    ED_CONFIG_BRIDGE_CA,
    ED_CONFIG_BRIDGE_CERT,
    ED_CONFIG_BRIDGE_KEY,
    ED_CONFIG_BRIDGE_N_KEYS
};
#define ED_CONFIG_MAX_BRIDGES 8
extern const struct ed_config_key ed_config_bridge_keys[];
struct ed_config_bridge {
    char name[32];
    char *value[ED_CONFIG_BRIDGE_N_KEYS]; /* owned; NULL = not set */
};
/* A bridge key's value, its row's default when not set ("" for none). */
const char *ed_config_bridge_str(const struct ed_config_bridge *br, int key);
/* An INT or BOOL bridge key's value (BOOL: 0 or 1). */
int64_t ed_config_bridge_int(const struct ed_config_bridge *br, int key);

/* The row of a broker key (or its alias), of a topic key; NULL if none. */
const struct ed_config_key *ed_config_key_find(const char *name);
const struct ed_config_key *ed_config_topic_key_find(const char *topic);
/* Kafka settings Eddy accepts and does not use (warned about, not stored). */
bool ed_config_ignored(const char *key);
/* Undoes backslash escapes in place: Java properties' \\, \=, \:, \ , \t,
 * \n, and \s for a space (the topic registry writes values so). */
void ed_config_unescape(char *s);
/* Whether the comma-separated list has the item v[0..len). */
bool ed_config_list_has(const char *list, const char *v, size_t len);
/* The next item of the comma-separated list at *p, blanks around it
 * trimmed: its start, its length in *n; *p moves past it (NULL after the
 * last item). */
const char *ed_config_list_item(const char **p, size_t *n);
/* Checks value (not NULL) against a row's type, bounds and choices (topic:
 * the topic key's bounds). false with one line in why: the problem only,
 * not the key ("'x' is not an integer", "5 is out of range [1, 10]"). */
bool ed_config_key_check(const struct ed_config_key *k, bool topic, const char *value, char *why,
                         size_t why_len);

/* A new config holding every default. */
int ed_config_new(struct ed_config **out);
void ed_config_free(struct ed_config *c);
/* c itself; without one (c NULL: no broker config, as in unit tests) a new
 * config of defaults, left in *own for the caller to free with
 * ed_config_free. NULL when out of memory. */
const struct ed_config *ed_config_or_default(const struct ed_config *c, struct ed_config **own);
/* Sets one key. Unknown key or bad value: ED_ERR_INVAL and one line in why
 * naming the key and the problem. A knowingly ignored Kafka key: ED_OK and
 * one warning in the log. listener.name.<name>.<key>: a per-listener value
 * for the table's ssl.* keys; a key Eddy ignores is warned about, any other
 * is refused. */
int ed_config_set(struct ed_config *c, const char *key, const char *value, char *why,
                  size_t why_len);
/* Loads a properties file; errors name file:line and key. */
int ed_config_load(struct ed_config *c, const char *path, char *why, size_t why_len);

int64_t ed_config_int(const struct ed_config *c, const char *key);
bool ed_config_bool(const struct ed_config *c, const char *key);
/* STRING and ENUM keys (an ENUM value is one of its choices, as spelled in
 * the table). */
const char *ed_config_str(const struct ed_config *c, const char *key);
/* Whether the key was set explicitly (file or --set) rather than defaulted. */
bool ed_config_is_set(const struct ed_config *c, const char *key);

/* Writes the --help text (every key, type, range, default, doc). */
void ed_config_help(void (*print)(void *arg, const char *line), void *arg);

/* ---- derived values ---- */

/* Kafka's precedence: log.retention.ms, else .minutes, else .hours; any
 * negative value means unlimited (-1). */
int64_t ed_config_retention_ms(const struct ed_config *c);
/* log.roll.ms, else log.roll.hours. */
int64_t ed_config_roll_ms(const struct ed_config *c);
/* The broker-wide defaults of every partition log. */
void ed_config_log_defaults(const struct ed_config *c, struct ed_log_config *out);
/* The data directory settings (dir points into c: keep c alive). */
void ed_config_storage(const struct ed_config *c, struct ed_storage_config *out);

/* One entry of a listeners / advertised.listeners value:
 * NAME://host:port, host empty for all interfaces, [v6] in brackets. */
struct ed_config_listener {
    char name[32];
    char host[256];
    uint16_t port;
};
#define ED_CONFIG_MAX_LISTENERS 8
/* Parses a listeners value (comma-separated). ED_ERR_INVAL with why. */
int ed_config_listeners(const char *value, struct ed_config_listener *out, int max, int *n,
                        char *why, size_t why_len);

/* Shared value parsers (also used for topic-level configs). */
bool ed_config_parse_int(const char *s, int64_t *out);
bool ed_config_parse_bool(const char *s, bool *out);
/* cleanup.policy: "delete", "compact" or both, comma-separated. */
bool ed_config_parse_cleanup(const char *s, bool *compact, bool *delete_);
/* compression.type → enum ed_compression, or ED_CONFIG_COMPRESSION_PRODUCER
 * for "producer": producers' batches are stored as sent, and batches Eddy
 * builds itself use eddy.ingest.compression.type. */
#define ED_CONFIG_COMPRESSION_PRODUCER (-1)
bool ed_config_parse_compression(const char *s, int *out);

/* One key as DescribeConfigs (broker resource) and config dumps see it. */
struct ed_config_item {
    const char *name;
    const char *value; /* current value as text; NULL when unset with no default */
    bool is_default;   /* not set by the file or --set */
    bool sensitive;    /* secrets: never shown */
    enum ed_config_type type;
    const char *doc;
};
/* The current value of broker key k as text (numbers written into buf);
 * NULL when unset without a default. */
void ed_config_value(const struct ed_config *c, const struct ed_config_key *k, char *buf,
                     size_t len, const char **value, bool *is_default);
/* Visits every key in table order; item pointers are valid during cb only. */
void ed_config_each(const struct ed_config *c,
                    void (*cb)(void *arg, const struct ed_config_item *item), void *arg);

/* Per-address limits, "host:count,..." (Kafka's
 * max.connections.per.ip.overrides; "[v6]" is kept without brackets, as
 * peers are compared): ED_OK with *n entries, or ED_ERR_INVAL with why. */
#define ED_CONFIG_MAX_HOST_LIMITS 16
struct ed_config_host_limit {
    char host[48];
    int32_t n_max;
};
int ed_config_host_limits(const char *s, struct ed_config_host_limit *out, int max, int *n,
                          char *why, size_t why_len);

#endif
