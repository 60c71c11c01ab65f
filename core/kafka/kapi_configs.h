/* The Kafka view of the config table (core/config_keys.c) for topic-level
 * keys: Kafka's config_type for DescribeConfigs, the broker key that
 * supplies the default (synonyms), the documentation line, and the check
 * of a value with Kafka's error text. */
#ifndef ED_CORE_KAPI_CONFIGS_H
#define ED_CORE_KAPI_CONFIGS_H

#include "platform/base.h"

struct ed_kapi_topic_config {
    const char *name;
    int8_t type;            /* enum ed_kc_config_type */
    const char *broker_key; /* broker config holding the default, or NULL */
    const char *doc;
};

/* The entry for a topic config key, NULL if Eddy has none. */
const struct ed_kapi_topic_config *ed_kapi_topic_config_find(const char *name);
/* Checks that key is a topic config Eddy stores and value (NULL = remove)
 * suits it. false with one line in why otherwise. */
bool ed_kapi_topic_config_check(const char *key, const char *value, char *why, size_t why_len);
/* True if key is a list-typed config (APPEND/SUBTRACT allowed). */
bool ed_kapi_topic_config_is_list(const char *key);

#endif
