/* Config APIs: DescribeConfigs (topic and broker resources, synonyms,
 * documentation, types), AlterConfigs and IncrementalAlterConfigs (topic
 * overrides; broker configs are read-only and come from the config file),
 * and the table of topic-level config keys they describe and validate.
 *
 * Every handler reads its whole request once without side effects (a
 * malformed request closes the connection and changes nothing), then reads
 * it again to act and answer. Within one resource every change is checked
 * before the first is applied. */
#include "core/kapi_configs.h"
#include "core/kapi_handlers.h"
#include "core/kclient.h"
#include "core/topics.h"
#include "platform/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "kapi"
#include "platform/log.h"

#define KEY_MAX   256
#define VALUE_MAX 1024

#define T_BOOL ED_KC_TYPE_BOOLEAN
#define T_STR  ED_KC_TYPE_STRING
#define T_INT  ED_KC_TYPE_INT
#define T_LONG ED_KC_TYPE_LONG
#define T_DBL  ED_KC_TYPE_DOUBLE
#define T_LIST ED_KC_TYPE_LIST

static const struct ed_kapi_topic_config topic_configs[] = {
    {"cleanup.policy", T_LIST, 0, 0, "delete,compact", "log.cleanup.policy",
     "What happens to old segments: delete them (retention), compact them (latest value per "
     "key), or both."},
    {"compression.type", T_STR, 0, 0, "uncompressed,zstd,lz4,snappy,gzip,producer",
     "compression.type",
     "Compression of batches Eddy builds for this topic; 'producer' keeps what producers send."},
    {"delete.retention.ms", T_LONG, 0, INT64_MAX, NULL, "log.cleaner.delete.retention.ms",
     "How long tombstones stay readable in a compacted topic."},
    {"file.delete.delay.ms", T_LONG, 0, INT64_MAX, NULL, "log.segment.delete.delay.ms",
     "Delay before a segment removed by retention is deleted from the file system."},
    {"flush.messages", T_LONG, 1, INT64_MAX, NULL, "log.flush.interval.messages",
     "Records appended before a flush is forced."},
    {"flush.ms", T_LONG, 0, INT64_MAX, NULL, "log.flush.interval.ms",
     "Longest time appended records wait before a flush is forced."},
    {"index.interval.bytes", T_INT, 0, INT32_MAX, NULL, "log.index.interval.bytes",
     "Bytes between entries of the sparse offset index."},
    {"follower.replication.throttled.replicas", T_LIST, 0, 0, NULL, NULL,
     "Replication throttling; meaningless on a single node, accepted for compatibility."},
    {"leader.replication.throttled.replicas", T_LIST, 0, 0, NULL, NULL,
     "Replication throttling; meaningless on a single node, accepted for compatibility."},
    {"local.retention.bytes", T_LONG, -2, INT64_MAX, NULL, NULL,
     "Tiered storage local retention; Eddy has no tiered storage (-2 = retention.bytes)."},
    {"local.retention.ms", T_LONG, -2, INT64_MAX, NULL, NULL,
     "Tiered storage local retention; Eddy has no tiered storage (-2 = retention.ms)."},
    {"max.compaction.lag.ms", T_LONG, 1, INT64_MAX, NULL, "log.cleaner.max.compaction.lag.ms",
     "Longest time a record stays uncompacted."},
    {"max.message.bytes", T_INT, 0, INT32_MAX, NULL, "message.max.bytes",
     "Largest record batch accepted for this topic."},
    {"message.timestamp.type", T_STR, 0, 0, "CreateTime,LogAppendTime",
     "log.message.timestamp.type",
     "Whether record timestamps are the producer's (CreateTime) or the broker's at append."},
    {"message.timestamp.after.max.ms", T_LONG, 0, INT64_MAX, NULL, NULL,
     "Largest allowed distance of a record timestamp into the future."},
    {"message.timestamp.before.max.ms", T_LONG, 0, INT64_MAX, NULL, NULL,
     "Largest allowed age of a record timestamp."},
    {"min.cleanable.dirty.ratio", T_DBL, 0, 1, NULL, "log.cleaner.min.cleanable.ratio",
     "Share of uncompacted log that triggers compaction."},
    {"min.compaction.lag.ms", T_LONG, 0, INT64_MAX, NULL, "log.cleaner.min.compaction.lag.ms",
     "Shortest time a record stays uncompacted."},
    {"min.insync.replicas", T_INT, 1, 1, NULL, "min.insync.replicas",
     "Replicas that must acknowledge acks=all writes; Eddy is one node, so always 1."},
    {"preallocate", T_BOOL, 0, 0, NULL, "log.preallocate",
     "Reserve a segment's whole size on disk when it is created."},
    {"remote.storage.enable", T_BOOL, 0, 0, NULL, NULL,
     "Tiered storage; Eddy keeps everything local, so always false."},
    {"retention.bytes", T_LONG, -1, INT64_MAX, NULL, "log.retention.bytes",
     "Largest size a partition may reach before its oldest segments are deleted; -1 = none."},
    {"retention.ms", T_LONG, -1, INT64_MAX, NULL, "log.retention.ms",
     "How long segments are kept before deletion; -1 = forever."},
    {"segment.bytes", T_INT, 14, INT32_MAX, NULL, "log.segment.bytes",
     "Size at which a segment file is closed and a new one started."},
    {"segment.index.bytes", T_INT, 4, INT32_MAX, NULL, "log.index.size.max.bytes",
     "Largest size of a segment's offset index."},
    {"segment.jitter.ms", T_LONG, 0, INT64_MAX, NULL, "log.roll.jitter.ms",
     "Random jitter subtracted from segment.ms."},
    {"segment.ms", T_LONG, 1, INT64_MAX, NULL, "log.roll.ms",
     "Age at which a segment is closed even if not full."},
    {"unclean.leader.election.enable", T_BOOL, 0, 0, NULL, "unclean.leader.election.enable",
     "Meaningless on a single node; accepted for compatibility."},
};

const struct ed_kapi_topic_config *ed_kapi_topic_config_find(const char *name)
{
    for (size_t i = 0; i < ED_ARRAY_LEN(topic_configs); i++)
        if (strcmp(topic_configs[i].name, name) == 0) return &topic_configs[i];
    return NULL;
}

bool ed_kapi_topic_config_is_list(const char *key)
{
    const struct ed_kapi_topic_config *tc = ed_kapi_topic_config_find(key);
    return tc && tc->type == T_LIST;
}

static bool topic_key_known(const char *key)
{
    for (const char *const *k = ed_topics_config_keys(); *k; k++)
        if (strcmp(*k, key) == 0) return true;
    return false;
}

static bool in_choices(const char *choices, const char *v, size_t len)
{
    const char *p = choices;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == len && strncmp(p, v, len) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

bool ed_kapi_topic_config_check(const char *key, const char *value, char *why, size_t why_len)
{
    if (!topic_key_known(key)) {
        snprintf(why, why_len, "Unknown topic config name: %s", key);
        return false;
    }
    if (!value) return true; /* back to the default */
    const char *rwhy = NULL;
    if (ed_topics_config_check(key, value, &rwhy) != ED_OK) {
        snprintf(why, why_len, "Invalid value %s for configuration %s: %s", value, key,
                 rwhy ? rwhy : "rejected");
        return false;
    }
    const struct ed_kapi_topic_config *tc = ed_kapi_topic_config_find(key);
    if (!tc) return true; /* a key only the registry knows */
    char *end;
    switch (tc->type) {
    case T_INT:
    case T_LONG: {
        long long x = strtoll(value, &end, 10);
        if (!*value || *end || x < tc->min || x > tc->max) {
            snprintf(why, why_len,
                     "Invalid value %s for configuration %s: must be an integer in [%" PRId64
                     ", %" PRId64 "]",
                     value, key, tc->min, tc->max);
            return false;
        }
        return true;
    }
    case T_DBL: {
        double x = strtod(value, &end);
        if (!*value || *end || x < (double)tc->min || x > (double)tc->max) {
            snprintf(why, why_len,
                     "Invalid value %s for configuration %s: must be a number in [%" PRId64
                     ", %" PRId64 "]",
                     value, key, tc->min, tc->max);
            return false;
        }
        return true;
    }
    case T_BOOL:
        if (strcmp(value, "true") && strcmp(value, "false")) {
            snprintf(why, why_len, "Invalid value %s for configuration %s: must be true or false",
                     value, key);
            return false;
        }
        return true;
    case T_STR:
    case T_LIST: {
        if (!tc->choices) return true;
        const char *p = value;
        bool list = tc->type == T_LIST;
        for (;;) {
            const char *e = list ? strchr(p, ',') : NULL;
            size_t n = e ? (size_t)(e - p) : strlen(p);
            while (n && *p == ' ')
                p++, n--;
            while (n && p[n - 1] == ' ')
                n--;
            if (!in_choices(tc->choices, p, n)) {
                snprintf(why, why_len,
                         "Invalid value %s for configuration %s: %s must be one of %s", value, key,
                         list ? "each item" : "the value", tc->choices);
                return false;
            }
            if (!e) break;
            p = e + 1;
        }
        return true;
    }
    default:
        return true;
    }
}

/* ---- shared helpers ---- */

/* Walks an array of strings (nullable); returns the count, -1 for null. */
static int32_t skip_str_array(ed_krd *r, bool flex)
{
    int32_t n = ed_krd_array(r, flex, 1);
    for (int32_t i = 0; i < n && ed_krd_ok(r); i++)
        ed_krd_str(r, flex);
    return n;
}

static bool kstr_in(ed_krd keys, int32_t n, bool flex, const char *name)
{
    for (int32_t i = 0; i < n && ed_krd_ok(&keys); i++)
        if (ed_kstr_eq(ed_krd_str(&keys, flex), name)) return true;
    return false;
}

static void node_id_text(const ed_broker *b, char *out, size_t len)
{
    snprintf(out, len, "%" PRId32, b->node_id);
}

static int8_t broker_type(enum ed_config_type t)
{
    switch (t) {
    case ED_CFG_INT:
        return T_LONG;
    case ED_CFG_BOOL:
        return T_BOOL;
    default:
        return T_STR;
    }
}

/* ---- broker config lookups through ed_config_each ---- */

struct find_ctx {
    const char *name;
    bool found;
    char value[VALUE_MAX];
    bool is_default;
};

static void find_cb(void *arg, const struct ed_config_item *it)
{
    struct find_ctx *f = arg;
    if (f->found || strcmp(it->name, f->name) != 0) return;
    f->found = true;
    snprintf(f->value, sizeof f->value, "%s", it->sensitive ? "" : it->value);
    f->is_default = it->is_default;
}

/* ---- DescribeConfigs ---- */

struct synonym {
    const char *name;
    const char *value;
    int8_t source;
};

static void put_config(ed_kwr *w, int16_t v, bool flex, bool synonyms, const char *name,
                       const char *value, bool read_only, int8_t source, bool sensitive,
                       const struct synonym *syn, int n_syn, int8_t type, const char *doc)
{
    ed_kwr_str(w, name, flex);
    ed_kwr_str(w, sensitive ? NULL : value, flex);
    ed_kwr_bool(w, read_only);
    if (v == 0)
        ed_kwr_bool(w, source == ED_KC_SRC_DEFAULT);
    else
        ed_kwr_i8(w, source);
    ed_kwr_bool(w, sensitive);
    if (v >= 1) {
        int n = synonyms ? n_syn : 0;
        ed_kwr_array(w, n, flex);
        for (int i = 0; i < n; i++) {
            ed_kwr_str(w, syn[i].name, flex);
            ed_kwr_str(w, sensitive ? NULL : syn[i].value, flex);
            ed_kwr_i8(w, syn[i].source);
            ed_kwr_tags(w, flex);
        }
    }
    if (v >= 3) {
        ed_kwr_i8(w, type);
        ed_kwr_str(w, doc, flex);
    }
    ed_kwr_tags(w, flex);
}

struct describe_ctx {
    ed_kreq *req;
    bool flex;
    bool synonyms;
    bool docs;
    ed_krd keys;    /* requested names (cursor at their first element) */
    int32_t n_keys; /* -1 = all */
    int32_t count;
    bool write;
};

static bool wanted(const struct describe_ctx *d, const char *name)
{
    return d->n_keys < 0 || kstr_in(d->keys, d->n_keys, d->flex, name);
}

static void describe_topic(struct describe_ctx *d, ed_topic *topic)
{
    ed_kwr *w = &d->req->out;
    int16_t v = d->req->api_version;
    for (const char *const *k = ed_topics_config_keys(); *k; k++) {
        if (!wanted(d, *k)) continue;
        bool is_default = true;
        const char *value = ed_topic_config_get(topic, *k, &is_default);
        if (!value) continue;
        d->count++;
        if (!d->write) continue;
        const struct ed_kapi_topic_config *tc = ed_kapi_topic_config_find(*k);
        struct synonym syn[2];
        int n_syn = 0;
        if (!is_default) syn[n_syn++] = (struct synonym){*k, value, ED_KC_SRC_DYNAMIC_TOPIC};
        struct find_ctx f = {0};
        if (tc && tc->broker_key && d->synonyms) {
            f.name = tc->broker_key;
            ed_config_each(d->req->broker->cfg, find_cb, &f);
            if (f.found)
                syn[n_syn++] =
                    (struct synonym){tc->broker_key, f.value,
                                     f.is_default ? ED_KC_SRC_DEFAULT : ED_KC_SRC_STATIC_BROKER};
        }
        int8_t src = ED_KC_SRC_DYNAMIC_TOPIC;
        if (is_default)
            src = f.found && !f.is_default ? ED_KC_SRC_STATIC_BROKER : ED_KC_SRC_DEFAULT;
        put_config(w, v, d->flex, d->synonyms, *k, value, false, src, false, syn, n_syn,
                   tc ? tc->type : T_STR, d->docs && tc ? tc->doc : NULL);
    }
}

static void broker_cb(void *arg, const struct ed_config_item *it)
{
    struct describe_ctx *d = arg;
    if (!wanted(d, it->name)) return;
    d->count++;
    if (!d->write) return;
    int8_t src = it->is_default ? ED_KC_SRC_DEFAULT : ED_KC_SRC_STATIC_BROKER;
    struct synonym syn = {it->name, it->value, src};
    put_config(&d->req->out, d->req->api_version, d->flex, d->synonyms, it->name, it->value, true,
               src, it->sensitive, &syn, 1, broker_type(it->type), d->docs ? it->doc : NULL);
}

int ed_kapi_describe_configs(ed_kreq *req)
{
    bool flex = req->flex;
    int16_t v = req->api_version;
    ed_krd start = req->rd;
    ed_krd *r = &req->rd;

    int32_t n = ed_krd_array(r, flex, 4);
    for (int32_t i = 0; i < n && ed_krd_ok(r); i++) {
        ed_krd_i8(r);
        ed_krd_str(r, flex);
        skip_str_array(r, flex);
        ed_krd_tags(r, flex);
    }
    bool synonyms = v >= 1 ? ed_krd_bool(r) : false;
    bool docs = v >= 3 ? ed_krd_bool(r) : false;
    ed_krd_tags(r, flex);
    if (!ed_krd_ok(r)) return ED_KAPI_CLOSE;

    *r = start;
    ed_kwr *w = &req->out;
    ed_kwr_i32(w, 0);
    n = ed_krd_array(r, flex, 4);
    ed_kwr_array(w, n < 0 ? 0 : n, flex);
    for (int32_t i = 0; i < n; i++) {
        int8_t type = ed_krd_i8(r);
        ed_kstr name = ed_krd_str(r, flex);
        struct describe_ctx d = {req, flex, synonyms, docs, *r, 0, 0, false};
        d.n_keys = skip_str_array(r, flex);
        if (d.n_keys >= 0) ed_krd_array(&d.keys, flex, 1); /* to the first key */
        ed_krd_tags(r, flex);

        char cname[ED_TOPIC_NAME_MAX + 1], why[400];
        int16_t err = ED_KERR_NONE;
        ed_topic *topic = NULL;
        bool broker_all = false;
        why[0] = '\0';
        if (type == ED_KC_RESOURCE_TOPIC) {
            if (!ed_kstr_copy(name, cname, sizeof cname) || !ed_topics_valid_name(cname)) {
                err = ED_KERR_INVALID_TOPIC_EXCEPTION;
                snprintf(why, sizeof why, "Invalid topic name");
            } else if (!(topic = ed_topics_find(req->broker->topics, cname))) {
                err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
                snprintf(why, sizeof why, "Topic '%s' does not exist.", cname);
            }
        } else if (type == ED_KC_RESOURCE_BROKER) {
            char id[16];
            node_id_text(req->broker, id, sizeof id);
            if (ed_kstr_eq(name, id))
                broker_all = true;
            else if (!ed_kstr_eq(name, "")) {
                err = ED_KERR_INVALID_REQUEST;
                snprintf(why, sizeof why, "Unexpected broker id, expected %s or empty string", id);
            }
        } else {
            err = ED_KERR_INVALID_REQUEST;
            snprintf(why, sizeof why, "Unsupported resource type %d", type);
        }
        ed_kwr_i16(w, err);
        ed_kwr_str(w, err ? why : NULL, flex);
        ed_kwr_i8(w, type);
        ed_kwr_kstr(w, name, flex);
        if (topic) {
            describe_topic(&d, topic);
            ed_kwr_array(w, d.count, flex);
            d.write = true;
            describe_topic(&d, topic);
        } else if (broker_all) {
            ed_config_each(req->broker->cfg, broker_cb, &d);
            ed_kwr_array(w, d.count, flex);
            d.write = true;
            ed_config_each(req->broker->cfg, broker_cb, &d);
        } else {
            ed_kwr_array(w, 0, flex);
        }
        ed_kwr_tags(w, flex);
    }
    ed_kwr_tags(w, flex);
    return ED_KAPI_RESPOND;
}

/* ---- AlterConfigs / IncrementalAlterConfigs ---- */

struct change {
    char key[KEY_MAX];
    char value[VALUE_MAX];
    bool remove;
};

/* Splits a comma list into items, applies APPEND or SUBTRACT of the items of
 * arg, writes the result into out. false if it does not fit. */
static bool list_op(const char *cur, const char *arg, bool append, char *out, size_t out_len)
{
    size_t len = 0;
    out[0] = '\0';
    const char *srcs[2] = {cur, append ? arg : NULL};
    for (int s = 0; s < 2; s++) {
        const char *p = srcs[s];
        while (p && *p) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            while (n && *p == ' ')
                p++, n--;
            while (n && p[n - 1] == ' ')
                n--;
            bool drop = n == 0 || in_choices(out, p, n) || (!append && in_choices(arg, p, n));
            if (!drop) {
                if (len + n + 2 > out_len) return false;
                if (len) out[len++] = ',';
                memcpy(out + len, p, n);
                len += n;
                out[len] = '\0';
            }
            p = e ? e + 1 : NULL;
        }
    }
    return true;
}

/* Reads the changes of one resource from r into ch (n of them), checking
 * each; on a problem sets *err and why. */
static int16_t read_changes(ed_krd *r, bool flex, bool incremental, ed_topic *topic,
                            struct change *ch, int32_t n, char *why, size_t why_len)
{
    int16_t err = ED_KERR_NONE;
    for (int32_t i = 0; i < n; i++) {
        ed_kstr key = ed_krd_str(r, flex);
        int8_t op = incremental ? ed_krd_i8(r) : ED_KC_OP_SET;
        ed_kstr value = ed_krd_str(r, flex);
        ed_krd_tags(r, flex);
        if (err || !topic) continue;
        struct change *c = &ch[i];
        if (!ed_kstr_copy(key, c->key, sizeof c->key)) {
            err = ED_KERR_INVALID_CONFIG;
            snprintf(why, why_len, "Invalid config name");
            continue;
        }
        for (int32_t j = 0; j < i; j++)
            if (strcmp(ch[j].key, c->key) == 0) {
                err = ED_KERR_INVALID_REQUEST;
                snprintf(why, why_len, "Error due to duplicate config keys: %s", c->key);
            }
        if (err) continue;
        char val[VALUE_MAX];
        bool null_value = value.len < 0;
        if (!null_value && !ed_kstr_copy(value, val, sizeof val)) {
            err = ED_KERR_INVALID_CONFIG;
            snprintf(why, why_len, "Value of %s is too long or contains NUL", c->key);
            continue;
        }
        c->remove = false;
        switch (op) {
        case ED_KC_OP_SET:
            if (null_value) {
                /* AlterConfigs: a null value means "back to the default". */
                c->remove = true;
                break;
            }
            snprintf(c->value, sizeof c->value, "%s", val);
            break;
        case ED_KC_OP_DELETE:
            c->remove = true;
            break;
        case ED_KC_OP_APPEND:
        case ED_KC_OP_SUBTRACT: {
            if (!ed_kapi_topic_config_is_list(c->key)) {
                err = ED_KERR_INVALID_CONFIG;
                snprintf(why, why_len, "Config value %s is not allowed for config key: %s",
                         op == ED_KC_OP_APPEND ? "append" : "subtract", c->key);
                continue;
            }
            bool dflt;
            const char *cur = ed_topic_config_get(topic, c->key, &dflt);
            if (!list_op(cur ? cur : "", null_value ? "" : val, op == ED_KC_OP_APPEND, c->value,
                         sizeof c->value)) {
                err = ED_KERR_INVALID_CONFIG;
                snprintf(why, why_len, "Value of %s is too long", c->key);
                continue;
            }
            break;
        }
        default:
            err = ED_KERR_INVALID_REQUEST;
            snprintf(why, why_len, "Unknown config operation %d for %s", op, c->key);
            continue;
        }
        if (!ed_kapi_topic_config_check(c->key, c->remove ? NULL : c->value, why, why_len))
            err = ED_KERR_INVALID_CONFIG;
    }
    return err;
}

static int alter(ed_kreq *req, bool incremental)
{
    bool flex = req->flex;
    ed_krd start = req->rd;
    ed_krd *r = &req->rd;

    int32_t n = ed_krd_array(r, flex, 4);
    for (int32_t i = 0; i < n && ed_krd_ok(r); i++) {
        ed_krd_i8(r);
        ed_krd_str(r, flex);
        int32_t nc = ed_krd_array(r, flex, 2);
        for (int32_t k = 0; k < nc && ed_krd_ok(r); k++) {
            ed_krd_str(r, flex);
            if (incremental) ed_krd_i8(r);
            ed_krd_str(r, flex);
            ed_krd_tags(r, flex);
        }
        ed_krd_tags(r, flex);
    }
    bool validate_only = ed_krd_bool(r);
    ed_krd_tags(r, flex);
    if (!ed_krd_ok(r)) return ED_KAPI_CLOSE;

    *r = start;
    ed_kwr *w = &req->out;
    ed_kwr_i32(w, 0);
    n = ed_krd_array(r, flex, 4);
    ed_kwr_array(w, n < 0 ? 0 : n, flex);
    for (int32_t i = 0; i < n; i++) {
        int8_t type = ed_krd_i8(r);
        ed_kstr name = ed_krd_str(r, flex);
        int32_t nc = ed_krd_array(r, flex, 2);
        char cname[ED_TOPIC_NAME_MAX + 1], why[512];
        int16_t err = ED_KERR_NONE;
        ed_topic *topic = NULL;
        why[0] = '\0';
        if (type == ED_KC_RESOURCE_TOPIC) {
            if (!ed_kstr_copy(name, cname, sizeof cname) || !ed_topics_valid_name(cname)) {
                err = ED_KERR_INVALID_TOPIC_EXCEPTION;
                snprintf(why, sizeof why, "Invalid topic name");
            } else if (!(topic = ed_topics_find(req->broker->topics, cname))) {
                err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
                snprintf(why, sizeof why, "Topic '%s' does not exist.", cname);
            }
        } else if (type == ED_KC_RESOURCE_BROKER) {
            err = ED_KERR_INVALID_REQUEST;
            snprintf(why, sizeof why,
                     "Broker configs are read-only in Eddy: set them in the config file or with "
                     "'eddy serve --set key=value'");
        } else {
            err = ED_KERR_INVALID_REQUEST;
            snprintf(why, sizeof why, "Unsupported resource type %d", type);
        }
        struct change *ch = NULL;
        if (nc > 0 && topic && !err) {
            ch = ed_calloc((size_t)nc, sizeof *ch);
            if (!ch) {
                err = ED_KERR_UNKNOWN_SERVER_ERROR;
                snprintf(why, sizeof why, "Out of memory");
            }
        }
        int16_t cerr =
            read_changes(r, flex, incremental, err ? NULL : topic, ch, nc, why, sizeof why);
        if (!err) err = cerr;
        ed_krd_tags(r, flex);
        if (!err && !validate_only) {
            /* AlterConfigs replaces the whole set of overrides: every
             * override not named goes back to its default. */
            if (!incremental) {
                for (const char *const *k = ed_topics_config_keys(); *k && !err; k++) {
                    bool named = false, dflt = true;
                    for (int32_t j = 0; j < nc; j++)
                        named |= strcmp(ch[j].key, *k) == 0;
                    if (named) continue;
                    ed_topic_config_get(topic, *k, &dflt);
                    const char *cwhy = NULL;
                    if (!dflt && ed_topic_config_set(req->broker->topics, topic, *k, NULL, &cwhy)) {
                        err = ED_KERR_INVALID_CONFIG;
                        snprintf(why, sizeof why, "%s", cwhy ? cwhy : "cannot reset config");
                    }
                }
            }
            for (int32_t j = 0; j < nc && !err; j++) {
                const char *cwhy = NULL;
                int rc = ed_topic_config_set(req->broker->topics, topic, ch[j].key,
                                             ch[j].remove ? NULL : ch[j].value, &cwhy);
                if (rc) {
                    err = ED_KERR_INVALID_CONFIG;
                    snprintf(why, sizeof why, "%s", cwhy ? cwhy : ed_strerror(rc));
                }
            }
            if (!err)
                ED_LOG_INFO("%s: altered %" PRId32 " config(s) of topic %s", req->peer, nc, cname);
        }
        ed_free(ch);
        ed_kwr_i16(w, err);
        ed_kwr_str(w, err ? why : NULL, flex);
        ed_kwr_i8(w, type);
        ed_kwr_kstr(w, name, flex);
        ed_kwr_tags(w, flex);
    }
    ed_kwr_tags(w, flex);
    return ED_KAPI_RESPOND;
}

int ed_kapi_alter_configs(ed_kreq *req)
{
    return alter(req, false);
}

int ed_kapi_incremental_alter_configs(ed_kreq *req)
{
    return alter(req, true);
}
