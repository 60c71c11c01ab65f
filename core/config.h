/* Broker configuration. One static table {name, type, min, max, default,
 * doc} drives parsing, validation, defaults and `eddy serve --help`. The file
 * format is Kafka's server.properties (key = value, # comments); --set
 * overrides the file. Keys use Kafka's names; Eddy's own keys have their
 * prefixes (mqtt., coap., http., mirror., site.id). Values are read by key
 * with typed getters; asking for a key not in the table is a bug (assert).
 *
 * Kafka keys Eddy knowingly does not use (zookeeper.*, num.network.threads,
 * replication of internal topics, ...) are accepted with a one-line warning
 * so real server.properties files load; any other unknown key is an error. */
#ifndef ED_CORE_CONFIG_H
#define ED_CORE_CONFIG_H

#include "platform/base.h"
#include "storage/log.h"

struct ed_config;

enum ed_config_type {
    ED_CFG_INT,    /* int64 with min/max; accepts Kafka's plain integers */
    ED_CFG_BOOL,   /* true/false */
    ED_CFG_STRING, /* free text (validated by an optional check function) */
    ED_CFG_ENUM    /* one of a comma-separated list of choices */
};

/* A new config holding every default. */
int ed_config_new(struct ed_config **out);
void ed_config_free(struct ed_config *c);
/* Sets one key. Unknown key or bad value: ED_ERR_INVAL and one line in why
 * naming the key and the problem. A knowingly ignored Kafka key: ED_OK and
 * one warning in the log. */
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
/* compression.type → enum ed_compression (producer and none → NONE, which
 * applies to batches Eddy builds; producers' batches are stored as sent). */
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
