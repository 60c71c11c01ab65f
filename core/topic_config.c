/* Topic-level configs: the topic keys of the config table in Kafka's
 * (alphabetical) order, their validation, each topic's overrides applied
 * over the broker defaults into its partitions' ed_log_config, and the
 * defaults' text as DescribeConfigs shows it. */
#include "core/config.h"
#include "core/topics_int.h"
#include "platform/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const struct ed_config_key *keys_v[ED_TOPIC_MAX_KEYS];
static const char *names_v[ED_TOPIC_MAX_KEYS + 1];
static int n_keys = -1;

/* The topic rows of the table, sorted by topic name (built once). */
static void build(void)
{
    if (n_keys >= 0) return;
    int n = 0;
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *k = &ed_config_keys[i];
        if (!k->topic) continue;
        ED_ASSERT(n < ED_TOPIC_MAX_KEYS);
        int j = n++;
        for (; j > 0 && strcmp(keys_v[j - 1]->topic, k->topic) > 0; j--)
            keys_v[j] = keys_v[j - 1];
        keys_v[j] = k;
    }
    for (int i = 0; i < n; i++)
        names_v[i] = keys_v[i]->topic;
    names_v[n] = NULL;
    n_keys = n;
}

int ed_topics_key_count(void)
{
    build();
    return n_keys;
}

const struct ed_config_key *ed_topics_key_at(int k)
{
    build();
    return keys_v[k];
}

int ed_topics_key_index(const char *key)
{
    build();
    for (int i = 0; i < n_keys; i++)
        if (strcmp(keys_v[i]->topic, key) == 0) return i;
    return -1;
}

const char *const *ed_topics_config_keys(void)
{
    build();
    return names_v;
}

int ed_topics_key_check(int k, const char *value, const char **why)
{
    static char buf[240];
    if (ed_config_key_check(ed_topics_key_at(k), true, value, buf, sizeof buf)) return ED_OK;
    *why = buf;
    return ED_ERR_INVAL;
}

int ed_topics_config_check(const char *key, const char *value, const char **why)
{
    int k = ed_topics_key_index(key);
    if (k < 0) {
        *why = "unknown topic config";
        return ED_ERR_INVAL;
    }
    if (!value) return ED_OK;
    return ed_topics_key_check(k, value, why);
}

static void apply_value(struct ed_log_config *c, const struct ed_config_key *key, const char *v)
{
    int64_t n = 0;
    if (key->type == ED_CFG_INT) ed_config_parse_int(v, &n);
    switch (key->tfield) {
    case ED_TF_NONE:
        break;
    case ED_TF_SEGMENT_LEN:
        c->segment_len = (uint64_t)n;
        break;
    case ED_TF_SEGMENT_MS:
        c->segment_ms = n;
        break;
    case ED_TF_RETENTION_MS:
        c->retention_ms = n < 0 ? -1 : n;
        break;
    case ED_TF_RETENTION_LEN:
        c->retention_len = n < 0 ? -1 : n;
        break;
    case ED_TF_INDEX_INTERVAL:
        c->index_interval_len = (uint32_t)n;
        break;
    case ED_TF_FLUSH_MESSAGES:
        c->flush_interval_messages = n;
        break;
    case ED_TF_FLUSH_MS:
        c->flush_interval_ms = n;
        break;
    case ED_TF_MAX_MESSAGE:
        c->max_message_len = (int32_t)n;
        break;
    case ED_TF_CLEANUP:
        ed_config_parse_cleanup(v, &c->compact, &c->delete_);
        break;
    case ED_TF_TSTYPE:
        c->log_append_time = strcmp(v, "LogAppendTime") == 0;
        break;
    case ED_TF_COMPRESSION: {
        int cc = ED_COMPRESSION_NONE;
        ed_config_parse_compression(v, &cc);
        c->compression = cc;
        break;
    }
    case ED_TF_DELETE_RETENTION:
        c->delete_retention_ms = n;
        break;
    case ED_TF_ZSTD_LEVEL:
        c->zstd_level = (int)n;
        break;
    }
}

void ed_topics_effective(const ed_topics *t, ed_topic *topic)
{
    topic->cfg = t->defaults;
    for (int k = 0; k < ed_topics_key_count(); k++)
        if (topic->ov[k]) apply_value(&topic->cfg, keys_v[k], topic->ov[k]);
}

/* The value of a numeric field of c (false for the others). */
static bool numeric(const struct ed_log_config *c, enum ed_topic_field f, int64_t *out)
{
    switch (f) {
    case ED_TF_SEGMENT_LEN:
        *out = (int64_t)c->segment_len;
        return true;
    case ED_TF_SEGMENT_MS:
        *out = c->segment_ms;
        return true;
    case ED_TF_RETENTION_MS:
        *out = c->retention_ms;
        return true;
    case ED_TF_RETENTION_LEN:
        *out = c->retention_len;
        return true;
    case ED_TF_INDEX_INTERVAL:
        *out = c->index_interval_len;
        return true;
    case ED_TF_FLUSH_MESSAGES:
        *out = c->flush_interval_messages;
        return true;
    case ED_TF_FLUSH_MS:
        *out = c->flush_interval_ms;
        return true;
    case ED_TF_MAX_MESSAGE:
        *out = c->max_message_len;
        return true;
    case ED_TF_DELETE_RETENTION:
        *out = c->delete_retention_ms;
        return true;
    case ED_TF_ZSTD_LEVEL:
        *out = c->zstd_level;
        return true;
    default:
        return false;
    }
}

void ed_topics_render_defaults(ed_topics *t)
{
    static const char *const codecs[] = {"producer", "gzip", "snappy", "lz4", "zstd"};
    const struct ed_log_config *d = &t->defaults;
    for (int k = 0; k < ed_topics_key_count(); k++) {
        char *o = t->deftext[k];
        size_t n = sizeof t->deftext[k];
        enum ed_topic_field f = keys_v[k]->tfield;
        const char *s = keys_v[k]->def;
        int64_t v;
        if (numeric(d, f, &v)) {
            snprintf(o, n, "%" PRId64, v);
            continue;
        }
        if (f == ED_TF_CLEANUP)
            s = d->compact && d->delete_ ? "compact,delete" : d->compact ? "compact" : "delete";
        else if (f == ED_TF_TSTYPE)
            s = d->log_append_time ? "LogAppendTime" : "CreateTime";
        else if (f == ED_TF_COMPRESSION)
            s = t->bcfg                                     ? t->bcfg->compression_type
                : d->compression >= 0 && d->compression < 5 ? codecs[d->compression]
                                                            : "producer";
        snprintf(o, n, "%s", s);
    }
}

const char *ed_topic_config_get(ed_topic *topic, const char *key, bool *is_default)
{
    int k = ed_topics_key_index(key);
    if (k < 0) return NULL;
    if (is_default) *is_default = topic->ov[k] == NULL;
    return topic->ov[k] ? topic->ov[k] : topic->owner->deftext[k];
}

int ed_topic_config_set(ed_topics *t, ed_topic *topic, const char *key, const char *value,
                        const char **why)
{
    static const char *unused;
    if (!why) why = &unused;
    int k = ed_topics_key_index(key);
    if (k < 0) {
        *why = "unknown topic config";
        return ED_ERR_INVAL;
    }
    if (value) {
        int rc = ed_topics_key_check(k, value, why);
        if (rc != ED_OK) return rc;
    }
    char *nv = NULL;
    if (value && !(nv = ed_strdup(value))) return ED_ERR_NOMEM;
    char *old = topic->ov[k];
    topic->ov[k] = nv;
    int rc = ed_topics_persist(t);
    if (rc != ED_OK) {
        topic->ov[k] = old;
        ed_free(nv);
        *why = "could not write the topic registry";
        return rc;
    }
    ed_free(old);
    ed_topics_effective(t, topic);
    for (int32_t p = 0; p < topic->n_partitions; p++)
        if (topic->parts[p]) ed_log_set_config(topic->parts[p]->log, &topic->cfg);
    return ED_OK;
}
