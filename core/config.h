/* Broker configuration. One static table {name, type, min, max, default,
 * doc} drives parsing, validation, defaults and `eddy serve --help`. The file
 * format is Kafka's server.properties (key = value, # comments); --set
 * overrides the file. Keys use Kafka's names; Eddy's own keys have their
 * prefixes (mqtt., coap., http., mirror., site.id). Values are read by key
 * with typed getters; asking for a key not in the table is a bug (assert). */
#ifndef ED_CORE_CONFIG_H
#define ED_CORE_CONFIG_H

#include "platform/base.h"

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
 * naming the key and the problem. */
int ed_config_set(struct ed_config *c, const char *key, const char *value, char *why,
                  size_t why_len);
/* Loads a properties file; errors name file:line and key. */
int ed_config_load(struct ed_config *c, const char *path, char *why, size_t why_len);

int64_t ed_config_int(const struct ed_config *c, const char *key);
bool ed_config_bool(const struct ed_config *c, const char *key);
const char *ed_config_str(const struct ed_config *c, const char *key);

/* Writes the --help text (every key, type, range, default, doc). */
void ed_config_help(void (*print)(void *arg, const char *line), void *arg);

#endif
