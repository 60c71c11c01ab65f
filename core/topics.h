/* The topic/partition registry: which topics exist, their partitions and
 * each partition's log, per-topic config overrides (persisted in the data
 * directory, replaced by atomic rename), auto-creation rules, and the
 * per-partition append listeners that wake long-poll fetches. */
#ifndef ED_CORE_TOPICS_H
#define ED_CORE_TOPICS_H

#include "platform/base.h"
#include "storage/log.h"
#include "core/kwire.h"

typedef struct ed_topics ed_topics;
typedef struct ed_topic ed_topic;
typedef struct ed_partition ed_partition;

#define ED_TOPIC_NAME_MAX 249

/* Called after every successful append to a partition (fetch long-poll). */
typedef void (*ed_append_listener)(void *arg, ed_partition *p);

struct ed_partition {
    ed_topic *topic;
    int32_t index;
    ed_log *log;
    void *fetch_waiters; /* owned by the fetch module */
    void *pid_state;     /* owned by the idempotent-producer module */
};

/* Opens the registry over an opened storage: every log found becomes a
 * partition of its topic; overrides are loaded. */
int ed_topics_open(ed_storage *st, const struct ed_log_config *defaults, ed_topics **out);
void ed_topics_close(ed_topics *t);

ed_topic *ed_topics_find(ed_topics *t, const char *name);
ed_topic *ed_topics_find_k(ed_topics *t, ed_kstr name);
/* Visits topics in name order. */
void ed_topics_each(ed_topics *t, void (*cb)(void *arg, ed_topic *topic), void *arg);
int32_t ed_topics_count(const ed_topics *t);

/* Kafka's topic-name rule: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
bool ed_topics_valid_name(const char *name);
/* Creates a topic with n partitions and the given config overrides
 * (key=value pairs in Kafka's topic-config names; NULL for none).
 * ED_ERR_EXIST, ED_ERR_INVAL (bad name, count or config: *why names it). */
int ed_topics_create(ed_topics *t, const char *name, int32_t n_partitions, const char *const *keys,
                     const char *const *values, int n_configs, const char **why, ed_topic **out);
int ed_topics_delete(ed_topics *t, ed_topic *topic);
/* Grows a topic to n partitions (never shrinks: ED_ERR_INVAL). */
int ed_topics_set_partitions(ed_topics *t, ed_topic *topic, int32_t n);

const char *ed_topic_name(const ed_topic *topic);
int32_t ed_topic_n_partitions(const ed_topic *topic);
ed_partition *ed_topic_partition(ed_topic *topic, int32_t index); /* NULL if out of range */
const uint8_t *ed_topic_id(const ed_topic *topic);                /* 16-byte UUID */
bool ed_topic_is_internal(const ed_topic *topic);

/* Topic config: effective value of a key (override or broker default) as
 * text, and whether it is an override. NULL for an unknown key. */
const char *ed_topic_config_get(ed_topic *topic, const char *key, bool *is_default);
/* Sets (value != NULL) or removes (NULL) an override, validates, applies to
 * the partitions' logs and persists. ED_ERR_INVAL with *why. */
int ed_topic_config_set(ed_topics *t, ed_topic *topic, const char *key, const char *value,
                        const char **why);
/* Names of every topic-level config key Eddy knows, NULL-terminated. */
const char *const *ed_topics_config_keys(void);

void ed_topics_set_append_listener(ed_topics *t, ed_append_listener cb, void *arg);
/* Called by whoever appended to p (produce, bridges). */
void ed_topics_appended(ed_topics *t, ed_partition *p);

#endif
