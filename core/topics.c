/* The topic/partition registry over the storage: topics sorted by name,
 * their partitions' logs, ids and per-topic config overrides, persisted in
 * one small text file replaced atomically, plus meta.properties.
 *
 * eddy-topics.properties layout (UTF-8 text):
 *   line 1: "# eddy topic registry v1 crc32c=<8 hex digits>"; the CRC32C
 *           covers every byte after this line's newline;
 *   then one line per topic: "topic=<name> id=<22-char base64url>
 *           partitions=<n>" followed by " <key>=<value>" for each override,
 *           values escaped (\\ \s \n for backslash, space, newline).
 * Crash safety: the file is written to .tmp, synced, renamed over the old
 * one and the folder synced; creates write the file before the logs,
 * deletes remove the logs before the file, so open() can reconcile. */
#define ED_LOG_MODULE "topics"
#include "core/topics.h"
#include "core/config.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_FILE "eddy-topics.properties"
#define RESERVE_FILE  "eddy-reserve"
#define RESERVE_MIN   (64u * 1024)
/* Partitions a creation makes or a deletion removes per turn of the loop. */
#ifndef ED_TOPICS_STEP
#define ED_TOPICS_STEP 16
#endif
#define STUCK_RETRY_MS       1000
#define META_FILE            "meta.properties"
#define PATH_MAX_LEN         1024
#define MAX_REMOVE_LISTENERS 4
#define PARTITIONS_MAX       100000

/* ---- topic-level config keys ---- */

enum kind { K_INT, K_BOOL, K_DOUBLE, K_CLEANUP, K_COMPRESSION, K_TSTYPE, K_TEXT };
enum field {
    F_NONE,
    F_SEGMENT_LEN,
    F_SEGMENT_MS,
    F_RETENTION_MS,
    F_RETENTION_LEN,
    F_INDEX_INTERVAL,
    F_FLUSH_MESSAGES,
    F_FLUSH_MS,
    F_MAX_MESSAGE,
    F_CLEANUP,
    F_TSTYPE,
    F_COMPRESSION,
    F_DELETE_RETENTION
};

struct tkey {
    const char *name;
    enum kind kind;
    int64_t min, max;
    enum field field;
    const char *def; /* default text for keys not backed by ed_log_config */
};

#define L_MAX INT64_MAX
#define I_MAX 2147483647LL
/* Kafka's topic configs, in Kafka's (alphabetical) order. Keys without a
 * field are accepted, validated, stored and reported, but change nothing in
 * a single-node broker. */
static const struct tkey tkeys[] = {
    {"cleanup.policy", K_CLEANUP, 0, 0, F_CLEANUP, NULL},
    {"compression.type", K_COMPRESSION, 0, 0, F_COMPRESSION, NULL},
    {"delete.retention.ms", K_INT, 0, L_MAX, F_DELETE_RETENTION, NULL},
    {"file.delete.delay.ms", K_INT, 0, L_MAX, F_NONE, "60000"},
    {"flush.messages", K_INT, 1, L_MAX, F_FLUSH_MESSAGES, NULL},
    {"flush.ms", K_INT, 0, L_MAX, F_FLUSH_MS, NULL},
    {"follower.replication.throttled.replicas", K_TEXT, 0, 0, F_NONE, ""},
    {"index.interval.bytes", K_INT, 0, I_MAX, F_INDEX_INTERVAL, NULL},
    {"leader.replication.throttled.replicas", K_TEXT, 0, 0, F_NONE, ""},
    {"local.retention.bytes", K_INT, -2, L_MAX, F_NONE, "-2"},
    {"local.retention.ms", K_INT, -2, L_MAX, F_NONE, "-2"},
    {"max.compaction.lag.ms", K_INT, 1, L_MAX, F_NONE, "9223372036854775807"},
    {"max.message.bytes", K_INT, 0, I_MAX, F_MAX_MESSAGE, NULL},
    {"message.timestamp.after.max.ms", K_INT, 0, L_MAX, F_NONE, "9223372036854775807"},
    {"message.timestamp.before.max.ms", K_INT, 0, L_MAX, F_NONE, "9223372036854775807"},
    {"message.timestamp.type", K_TSTYPE, 0, 0, F_TSTYPE, NULL},
    {"min.cleanable.dirty.ratio", K_DOUBLE, 0, 1, F_NONE, "0.5"},
    {"min.compaction.lag.ms", K_INT, 0, L_MAX, F_NONE, "0"},
    {"min.insync.replicas", K_INT, 1, 1, F_NONE, "1"},
    {"preallocate", K_BOOL, 0, 0, F_NONE, "false"},
    {"remote.storage.enable", K_BOOL, 0, 0, F_NONE, "false"},
    {"retention.bytes", K_INT, -1, L_MAX, F_RETENTION_LEN, NULL},
    {"retention.ms", K_INT, -1, L_MAX, F_RETENTION_MS, NULL},
    {"segment.bytes", K_INT, 14, I_MAX, F_SEGMENT_LEN, NULL},
    {"segment.index.bytes", K_INT, 4, I_MAX, F_NONE, "10485760"},
    {"segment.jitter.ms", K_INT, 0, L_MAX, F_NONE, "0"},
    {"segment.ms", K_INT, 1, L_MAX, F_SEGMENT_MS, NULL},
    {"unclean.leader.election.enable", K_BOOL, 0, 0, F_NONE, "false"},
};
#define N_TKEYS ((int)ED_ARRAY_LEN(tkeys))

static const char *const *key_names(void)
{
    static const char *names[N_TKEYS + 1];
    if (!names[0])
        for (int i = 0; i < N_TKEYS; i++)
            names[i] = tkeys[i].name;
    return names;
}

const char *const *ed_topics_config_keys(void)
{
    return key_names();
}

static int tkey_find(const char *key)
{
    for (int i = 0; i < N_TKEYS; i++)
        if (strcmp(tkeys[i].name, key) == 0) return i;
    return -1;
}

/* ---- registry ---- */

struct ed_topic {
    ed_topics *owner;
    char name[ED_TOPIC_NAME_MAX + 1];
    uint8_t id[16];
    int32_t n_partitions;
    ed_partition **parts;
    char *ov[N_TKEYS]; /* overrides (owned), NULL = default */
    struct ed_log_config cfg;
    bool deleting;   /* recorded as being deleted: hidden, its name still taken */
    bool detached;   /* deleting, and its partitions handed over to doomed */
    bool creating;   /* its logs are being made in steps: hidden, name taken */
    int32_t n_made;  /* partitions whose logs exist, while creating */
    int32_t grow_to; /* CreatePartitions in steps: the new count, 0 = none */
    int32_t n_grown; /* new logs made so far (not yet partitions) */
    ed_log **grow_logs;
    ed_topics_done_cb done; /* told when a creation in steps ends */
    void *done_arg;
    int32_t done_slot;
    ed_log **doomed; /* the logs a deletion has still to remove */
    int32_t n_doomed;
};

struct listener {
    ed_append_listener cb;
    void *arg;
};

struct ed_topics {
    ed_storage *st;
    char *dir; /* NULL: nothing persisted */
    struct ed_log_config defaults;
    const struct ed_config *bcfg;
    char deftext[N_TKEYS][24];
    ed_topic **v; /* sorted by name */
    int32_t n, cap;
    struct listener append;
    struct listener removed[MAX_REMOVE_LISTENERS];
    int n_removed;
    ed_loop *loop; /* with a loop, deletions run in steps from step_timer */
    ed_timer step_timer;
    uint64_t reserve_len; /* bytes of RESERVE_FILE held, 0 when released */
    uint64_t registry_len;
    bool cap_logged; /* the last auto-creation refused by a cap was logged */
    char why[200];   /* the text behind the last *why of a cap */
};

/* ---- small helpers ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 16 bytes → 22 base64url characters (Kafka's Uuid.toString). */
static void uuid_to_text(const uint8_t id[16], char out[23])
{
    int o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)id[i] << 16;
        if (i + 1 < 16) v |= (uint32_t)id[i + 1] << 8;
        if (i + 2 < 16) v |= id[i + 2];
        int n = i + 2 < 16 ? 4 : 2; /* the last group has one byte */
        for (int k = 0; k < n; k++)
            out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
    }
    out[22] = '\0';
}

static bool uuid_from_text(const char *s, uint8_t id[16])
{
    if (strlen(s) != 22) return false;
    uint8_t buf[18] = {0};
    int bi = 0;
    for (int i = 0; i < 24; i += 4) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            v <<= 6;
            if (i + k < 22) {
                const char *p = strchr(b64url, s[i + k]);
                if (!p || !s[i + k]) return false;
                v |= (uint32_t)(p - b64url);
            }
        }
        buf[bi++] = (uint8_t)(v >> 16);
        buf[bi++] = (uint8_t)(v >> 8);
        buf[bi++] = (uint8_t)v;
    }
    memcpy(id, buf, 16);
    return true;
}

/* A random version-4 UUID that is neither zero nor Kafka's reserved ids and
 * whose text does not start with '-' (Kafka avoids those too). */
static void new_uuid(uint8_t id[16])
{
    for (;;) {
        ed_plat_random(id, 16);
        id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
        id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
        char t[23];
        uuid_to_text(id, t);
        if (t[0] != '-') return;
    }
}

bool ed_topics_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > ED_TOPIC_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);
    return n > 0 && n < PATH_MAX_LEN;
}

/* Writes a small file durably: tmp, sync, rename, folder sync. */
static int write_atomic(const char *dir, const char *name, const char *text, size_t len)
{
    char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    if (!path_join(path, dir, name) || !path_join(tmp, dir, name) || strlen(tmp) + 4 >= sizeof tmp)
        return ED_ERR_INVAL;
    strcat(tmp, ".tmp");
    ed_file *f;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc != ED_OK) return rc;
    rc = ed_plat_file_pwrite(f, text, len, 0);
    if (rc == ED_OK) rc = ed_plat_file_datasync(f);
    int rc2 = ed_plat_file_close(f);
    if (rc == ED_OK) rc = rc2;
    if (rc == ED_OK) rc = ed_plat_path_rename(tmp, path);
    if (rc == ED_OK) rc = ed_plat_dir_sync(dir);
    if (rc != ED_OK) {
        ED_LOG_ERR("writing %s: %s", path, ed_strerror(rc));
        ed_plat_path_unlink(tmp);
    }
    return rc;
}

/* Reads a whole small file (NUL-terminated); ED_ERR_NOENT when missing. */
static int read_small(const char *path, char **out, size_t *out_len)
{
    ed_file *f;
    int rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc != ED_OK) return rc;
    uint64_t size = 0;
    rc = ed_plat_file_size(f, &size);
    if (rc == ED_OK && size > (64u << 20)) rc = ED_ERR_TOOBIG;
    char *buf = NULL;
    size_t got = 0;
    if (rc == ED_OK) {
        buf = ed_malloc((size_t)size + 1);
        if (!buf) rc = ED_ERR_NOMEM;
    }
    if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
    ed_plat_file_close(f);
    if (rc != ED_OK) {
        ed_free(buf);
        return rc;
    }
    buf[got] = '\0';
    *out = buf;
    *out_len = got;
    return ED_OK;
}

/* ---- config values ---- */

static bool parse_double01(const char *s, double lo, double hi)
{
    if (!*s) return false;
    char *end;
    double d = strtod(s, &end);
    return *end == '\0' && d >= lo && d <= hi;
}

static int check_value(int k, const char *v, const char **why)
{
    const struct tkey *t = &tkeys[k];
    switch (t->kind) {
    case K_INT: {
        int64_t n;
        if (!ed_config_parse_int(v, &n)) {
            *why = "not an integer";
            return ED_ERR_INVAL;
        }
        if (n < t->min || n > t->max) {
            *why = t->min == 1 && t->max == 1 ? "Eddy is a single node: only 1 is valid"
                                              : "out of range";
            return ED_ERR_INVAL;
        }
        return ED_OK;
    }
    case K_BOOL: {
        bool b;
        if (ed_config_parse_bool(v, &b)) return ED_OK;
        *why = "not true or false";
        return ED_ERR_INVAL;
    }
    case K_DOUBLE:
        if (parse_double01(v, (double)t->min, (double)t->max)) return ED_OK;
        *why = "not a number in range";
        return ED_ERR_INVAL;
    case K_CLEANUP: {
        bool c, d;
        if (ed_config_parse_cleanup(v, &c, &d)) return ED_OK;
        *why = "not delete, compact or compact,delete";
        return ED_ERR_INVAL;
    }
    case K_COMPRESSION: {
        int c;
        if (ed_config_parse_compression(v, &c)) return ED_OK;
        *why = "not producer, uncompressed, gzip, snappy, lz4 or zstd";
        return ED_ERR_INVAL;
    }
    case K_TSTYPE:
        if (strcmp(v, "CreateTime") == 0 || strcmp(v, "LogAppendTime") == 0) return ED_OK;
        *why = "not CreateTime or LogAppendTime";
        return ED_ERR_INVAL;
    case K_TEXT:
        if (strlen(v) < 4096) return ED_OK;
        *why = "too long";
        return ED_ERR_INVAL;
    }
    *why = "unknown";
    return ED_ERR_INVAL;
}

int ed_topics_config_check(const char *key, const char *value, const char **why)
{
    int k = tkey_find(key);
    if (k < 0) {
        *why = "unknown topic config";
        return ED_ERR_INVAL;
    }
    if (!value) return ED_OK;
    return check_value(k, value, why);
}

static void apply_value(struct ed_log_config *c, int k, const char *v)
{
    int64_t n = 0;
    if (tkeys[k].kind == K_INT) ed_config_parse_int(v, &n);
    switch (tkeys[k].field) {
    case F_NONE:
        break;
    case F_SEGMENT_LEN:
        c->segment_len = (uint64_t)n;
        break;
    case F_SEGMENT_MS:
        c->segment_ms = n;
        break;
    case F_RETENTION_MS:
        c->retention_ms = n < 0 ? -1 : n;
        break;
    case F_RETENTION_LEN:
        c->retention_len = n < 0 ? -1 : n;
        break;
    case F_INDEX_INTERVAL:
        c->index_interval_len = (uint32_t)n;
        break;
    case F_FLUSH_MESSAGES:
        c->flush_interval_messages = n;
        break;
    case F_FLUSH_MS:
        c->flush_interval_ms = n;
        break;
    case F_MAX_MESSAGE:
        c->max_message_len = (int32_t)n;
        break;
    case F_CLEANUP:
        ed_config_parse_cleanup(v, &c->compact, &c->delete_);
        break;
    case F_TSTYPE:
        c->log_append_time = strcmp(v, "LogAppendTime") == 0;
        break;
    case F_COMPRESSION: {
        int cc = ED_COMPRESSION_NONE;
        ed_config_parse_compression(v, &cc);
        c->compression = cc;
        break;
    }
    case F_DELETE_RETENTION:
        c->delete_retention_ms = n;
        break;
    }
}

static void effective(const ed_topics *t, ed_topic *topic)
{
    topic->cfg = t->defaults;
    for (int k = 0; k < N_TKEYS; k++)
        if (topic->ov[k]) apply_value(&topic->cfg, k, topic->ov[k]);
}

static void render_defaults(ed_topics *t)
{
    const struct ed_log_config *d = &t->defaults;
    for (int k = 0; k < N_TKEYS; k++) {
        char *o = t->deftext[k];
        size_t n = sizeof t->deftext[k];
        switch (tkeys[k].field) {
        case F_NONE:
            snprintf(o, n, "%s", tkeys[k].def);
            break;
        case F_SEGMENT_LEN:
            snprintf(o, n, "%" PRIu64, d->segment_len);
            break;
        case F_SEGMENT_MS:
            snprintf(o, n, "%" PRId64, d->segment_ms);
            break;
        case F_RETENTION_MS:
            snprintf(o, n, "%" PRId64, d->retention_ms);
            break;
        case F_RETENTION_LEN:
            snprintf(o, n, "%" PRId64, d->retention_len);
            break;
        case F_INDEX_INTERVAL:
            snprintf(o, n, "%" PRIu32, d->index_interval_len);
            break;
        case F_FLUSH_MESSAGES:
            snprintf(o, n, "%" PRId64, d->flush_interval_messages);
            break;
        case F_FLUSH_MS:
            snprintf(o, n, "%" PRId64, d->flush_interval_ms);
            break;
        case F_MAX_MESSAGE:
            snprintf(o, n, "%" PRId32, d->max_message_len);
            break;
        case F_CLEANUP:
            snprintf(o, n, "%s",
                     d->compact && d->delete_ ? "compact,delete"
                     : d->compact             ? "compact"
                                              : "delete");
            break;
        case F_TSTYPE:
            snprintf(o, n, "%s", d->log_append_time ? "LogAppendTime" : "CreateTime");
            break;
        case F_COMPRESSION: {
            static const char *const names[] = {"producer", "gzip", "snappy", "lz4", "zstd"};
            const char *s =
                d->compression >= 0 && d->compression < 5 ? names[d->compression] : "producer";
            if (t->bcfg) s = ed_config_str(t->bcfg, "compression.type");
            snprintf(o, n, "%s", s);
            break;
        }
        case F_DELETE_RETENTION:
            snprintf(o, n, "%" PRId64, d->delete_retention_ms);
            break;
        }
    }
}

/* ---- topics ---- */

static int cmp_name(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    int c = memcmp(a, b, ED_MIN(alen, blen));
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

/* Index of the first topic with name >= key. */
static int32_t lower_bound(const ed_topics *t, const char *p, size_t len)
{
    int32_t lo = 0, hi = t->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (cmp_name(p, len, t->v[mid]->name) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The topic of that name, also one being deleted. */
static ed_topic *find_any(ed_topics *t, const char *p, size_t len)
{
    int32_t i = lower_bound(t, p, len);
    return i < t->n && cmp_name(p, len, t->v[i]->name) == 0 ? t->v[i] : NULL;
}

static bool hidden(const ed_topic *tp)
{
    return tp->deleting || tp->creating;
}

static ed_topic *live(ed_topic *tp)
{
    return tp && !hidden(tp) ? tp : NULL;
}

ed_topic *ed_topics_find(ed_topics *t, const char *name)
{
    return live(find_any(t, name, strlen(name)));
}

ed_topic *ed_topics_find_k(ed_topics *t, ed_kstr name)
{
    if (name.len <= 0 || name.len > ED_TOPIC_NAME_MAX) return NULL;
    return live(find_any(t, name.p, (size_t)name.len));
}

ed_topic *ed_topics_find_id(ed_topics *t, const uint8_t id[16])
{
    for (int32_t i = 0; i < t->n; i++)
        if (!hidden(t->v[i]) && memcmp(t->v[i]->id, id, 16) == 0) return t->v[i];
    return NULL;
}

void ed_topics_each(ed_topics *t, void (*cb)(void *arg, ed_topic *topic), void *arg)
{
    for (int32_t i = 0; i < t->n; i++)
        if (!hidden(t->v[i])) cb(arg, t->v[i]);
}

int32_t ed_topics_count(const ed_topics *t)
{
    int32_t n = 0;
    for (int32_t i = 0; i < t->n; i++)
        n += !hidden(t->v[i]);
    return n;
}

int32_t ed_topics_count_partitions(const ed_topics *t)
{
    int32_t n = 0;
    for (int32_t i = 0; i < t->n; i++)
        if (!hidden(t->v[i])) n += t->v[i]->n_partitions;
    return n;
}

const char *ed_topic_name(const ed_topic *topic)
{
    return topic->name;
}

int32_t ed_topic_n_partitions(const ed_topic *topic)
{
    return topic->n_partitions;
}

ed_partition *ed_topic_partition(ed_topic *topic, int32_t index)
{
    return index >= 0 && index < topic->n_partitions ? topic->parts[index] : NULL;
}

const uint8_t *ed_topic_id(const ed_topic *topic)
{
    return topic->id;
}

static bool internal_name(const char *name)
{
    return strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
}

bool ed_topic_is_internal(const ed_topic *topic)
{
    return internal_name(topic->name);
}

static ed_topic *topic_new(const char *name)
{
    ed_topic *tp = ed_calloc(1, sizeof *tp);
    if (!tp) return NULL;
    snprintf(tp->name, sizeof tp->name, "%s", name);
    return tp;
}

static void notify_removed(ed_topics *t, ed_partition *p)
{
    for (int i = 0; i < t->n_removed; i++)
        t->removed[i].cb(t->removed[i].arg, p);
}

static void topic_free(ed_topic *tp)
{
    for (int32_t i = 0; i < tp->n_partitions; i++)
        ed_free(tp->parts[i]);
    ed_free(tp->parts);
    for (int k = 0; k < N_TKEYS; k++)
        ed_free(tp->ov[k]);
    ed_free(tp->doomed);
    ed_free(tp->grow_logs);
    ed_free(tp);
}

/* Makes room for n partition slots (new ones NULL). */
static int topic_grow(ed_topic *tp, int32_t n)
{
    if (n <= tp->n_partitions) return ED_OK;
    ed_partition **p = ed_realloc(tp->parts, (size_t)n * sizeof *p);
    if (!p) return ED_ERR_NOMEM;
    for (int32_t i = tp->n_partitions; i < n; i++)
        p[i] = NULL;
    tp->parts = p;
    tp->n_partitions = n;
    return ED_OK;
}

static int attach_log(ed_topic *tp, int32_t index, ed_log *log)
{
    ed_partition *p = ed_calloc(1, sizeof *p);
    if (!p) return ED_ERR_NOMEM;
    p->topic = tp;
    p->index = index;
    p->log = log;
    tp->parts[index] = p;
    return ED_OK;
}

static int insert_topic(ed_topics *t, ed_topic *tp)
{
    if (t->n == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 16;
        ed_topic **v = ed_realloc(t->v, (size_t)cap * sizeof *v);
        if (!v) return ED_ERR_NOMEM;
        t->v = v;
        t->cap = cap;
    }
    int32_t i = lower_bound(t, tp->name, strlen(tp->name));
    memmove(t->v + i + 1, t->v + i, (size_t)(t->n - i) * sizeof *t->v);
    t->v[i] = tp;
    t->n++;
    return ED_OK;
}

static void remove_topic(ed_topics *t, ed_topic *tp)
{
    int32_t i = lower_bound(t, tp->name, strlen(tp->name));
    ED_ASSERT(i < t->n && t->v[i] == tp);
    memmove(t->v + i, t->v + i + 1, (size_t)(t->n - i - 1) * sizeof *t->v);
    t->n--;
}

/* ---- persistence ---- */

static void put_escaped(ed_kwr *w, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            ed_kwr_raw(w, "\\\\", 2);
        else if (*s == ' ')
            ed_kwr_raw(w, "\\s", 2);
        else if (*s == '\n')
            ed_kwr_raw(w, "\\n", 2);
        else
            ed_kwr_raw(w, s, 1);
    }
}

static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 's' ? ' ' : *r == 'n' ? '\n' : *r;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static int persist(ed_topics *t)
{
    if (!t->dir) return ED_OK;
    ed_kwr w;
    ed_kwr_init(&w, 64u << 20);
    static const char head[] = "# eddy topic registry v1 crc32c=00000000\n";
    ed_kwr_raw(&w, head, sizeof head - 1);
    for (int32_t i = 0; i < t->n; i++) {
        ed_topic *tp = t->v[i];
        char id[23], line[64];
        uuid_to_text(tp->id, id);
        ed_kwr_raw(&w, "topic=", 6);
        ed_kwr_raw(&w, tp->name, strlen(tp->name));
        int n = snprintf(line, sizeof line, " id=%s partitions=%" PRId32 "%s", id, tp->n_partitions,
                         tp->deleting ? " state=deleting" : "");
        ed_kwr_raw(&w, line, (size_t)n);
        for (int k = 0; k < N_TKEYS; k++) {
            if (!tp->ov[k]) continue;
            ed_kwr_raw(&w, " ", 1);
            ed_kwr_raw(&w, tkeys[k].name, strlen(tkeys[k].name));
            ed_kwr_raw(&w, "=", 1);
            put_escaped(&w, tp->ov[k]);
        }
        ed_kwr_raw(&w, "\n", 1);
    }
    int rc = w.err;
    if (rc == ED_OK) {
        size_t hl = sizeof head - 1;
        uint32_t crc = ed_crc32c(0, w.buf + hl, w.len - hl);
        char hex[9];
        snprintf(hex, sizeof hex, "%08" PRIx32, crc);
        memcpy(w.buf + hl - 9, hex, 8);
        rc = write_atomic(t->dir, REGISTRY_FILE, (const char *)w.buf, w.len);
        if (rc == ED_OK) t->registry_len = w.len;
    }
    ed_kwr_free(&w);
    return rc;
}

/* ---- the reserve ----
 * RESERVE_FILE holds disk blocks (allocated, never written) so that the
 * registry can be rewritten to record a deletion on a full disk: released
 * when that write fails for want of space, taken again once there is
 * room. */

static void reserve_take(ed_topics *t)
{
    uint64_t want = ED_MAX((uint64_t)RESERVE_MIN, 2 * t->registry_len);
    if (!t->dir) return;
    char path[PATH_MAX_LEN];
    if (t->registry_len == 0 && path_join(path, t->dir, REGISTRY_FILE)) {
        bool is_dir;
        uint64_t size = 0;
        if (ed_plat_path_stat(path, &is_dir, &size) == ED_OK) t->registry_len = size;
        want = ED_MAX((uint64_t)RESERVE_MIN, 2 * t->registry_len);
    }
    if (t->reserve_len >= want || !path_join(path, t->dir, RESERVE_FILE)) return;
    ed_file *f;
    int rc = ed_plat_file_open(path, ED_FILE_WRITE | ED_FILE_CREATE, &f);
    if (rc == ED_OK) {
        rc = ed_plat_file_reserve(f, 0, want);
        if (rc == ED_OK) rc = ed_plat_file_datasync(f);
        ed_plat_file_close(f);
    }
    if (rc == ED_OK) {
        if (t->reserve_len == 0) ed_plat_dir_sync(t->dir);
        t->reserve_len = want;
    } else {
        ED_LOG_DBG("cannot reserve %" PRIu64 " bytes in %s: %s", want, path, ed_strerror(rc));
    }
}

static bool reserve_release(ed_topics *t)
{
    char path[PATH_MAX_LEN];
    if (!t->dir || !path_join(path, t->dir, RESERVE_FILE)) return false;
    bool had = ed_plat_path_unlink(path) == ED_OK;
    t->reserve_len = 0;
    if (had) ED_LOG_WARN("disk full: released the %s reserve to record a deletion", path);
    return had;
}

/* persist(), releasing the reserve if the disk is full. */
static int persist_freeing(ed_topics *t)
{
    int rc = persist(t);
    if (rc == ED_ERR_NOSPC && reserve_release(t)) rc = persist(t);
    return rc;
}

/* One line of the registry file into a new (unlinked) topic. */
static int parse_topic_line(char *line, ed_topic **out, int32_t *n_parts)
{
    ed_topic *tp = NULL;
    int32_t np = -1;
    bool have_id = false;
    char *save = line;
    for (;;) {
        char *tok = save;
        while (*tok == ' ')
            tok++;
        if (!*tok) break;
        char *end = strchr(tok, ' ');
        if (end) {
            *end = '\0';
            save = end + 1;
        } else {
            save = tok + strlen(tok);
        }
        char *eq = strchr(tok, '=');
        if (!eq) goto bad;
        *eq = '\0';
        char *key = tok, *val = eq + 1;
        unescape(val);
        if (!tp) {
            if (strcmp(key, "topic") != 0 || !ed_topics_valid_name(val)) goto bad;
            tp = topic_new(val);
            if (!tp) return ED_ERR_NOMEM;
        } else if (strcmp(key, "id") == 0) {
            if (!uuid_from_text(val, tp->id)) goto bad;
            have_id = true;
        } else if (strcmp(key, "partitions") == 0) {
            int64_t n;
            if (!ed_config_parse_int(val, &n) || n < 1 || n > PARTITIONS_MAX) goto bad;
            np = (int32_t)n;
        } else if (strcmp(key, "state") == 0) {
            if (strcmp(val, "deleting") != 0) goto bad;
            tp->deleting = true;
        } else {
            int k = tkey_find(key);
            const char *why;
            if (k < 0 || check_value(k, val, &why) != ED_OK) {
                ED_LOG_WARN("registry: topic %s: dropping override %s=%s", tp->name, key, val);
                continue;
            }
            ed_free(tp->ov[k]);
            tp->ov[k] = ed_strdup(val);
            if (!tp->ov[k]) {
                topic_free(tp);
                return ED_ERR_NOMEM;
            }
        }
    }
    if (!tp || !have_id || np < 1) goto bad;
    *out = tp;
    *n_parts = np;
    return ED_OK;
bad:
    if (tp) topic_free(tp);
    return ED_ERR_CORRUPT;
}

struct loaded {
    ed_topic *tp;
    int32_t n_parts;
};

static void free_loaded(struct loaded *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (v[i].tp) topic_free(v[i].tp);
    ed_free(v);
}

/* Reads the registry file; *n = 0 when it does not exist. */
static int load_registry(const char *dir, struct loaded **out, int32_t *n_out)
{
    char path[PATH_MAX_LEN];
    *out = NULL;
    *n_out = 0;
    if (!path_join(path, dir, REGISTRY_FILE)) return ED_ERR_INVAL;
    char *buf;
    size_t len;
    int rc = read_small(path, &buf, &len);
    if (rc == ED_ERR_NOENT) return ED_OK;
    if (rc != ED_OK) {
        ED_LOG_ERR("reading %s: %s", path, ed_strerror(rc));
        return rc;
    }
    static const char magic[] = "# eddy topic registry v1 crc32c=";
    char *nl = strchr(buf, '\n');
    uint32_t want = 0;
    bool ok = nl && strncmp(buf, magic, sizeof magic - 1) == 0 &&
              nl - buf == (ptrdiff_t)(sizeof magic - 1 + 8);
    if (ok) {
        char hex[9];
        memcpy(hex, buf + sizeof magic - 1, 8);
        hex[8] = '\0';
        char *e;
        want = (uint32_t)strtoul(hex, &e, 16);
        ok = *e == '\0' && ed_crc32c(0, nl + 1, len - (size_t)(nl + 1 - buf)) == want;
    }
    if (!ok) {
        ED_LOG_ERR("%s fails its header or checksum: refusing to guess topic ids and "
                   "configs (move the file away to start with defaults)",
                   path);
        ed_free(buf);
        return ED_ERR_CORRUPT;
    }
    struct loaded *v = NULL;
    int32_t n = 0, cap = 0, line_no = 1;
    for (char *line = nl + 1; *line && rc == ED_OK;) {
        char *e = strchr(line, '\n');
        if (e) *e = '\0';
        line_no++;
        if (*line) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct loaded *nv = ed_realloc(v, (size_t)cap * sizeof *nv);
                if (!nv) {
                    rc = ED_ERR_NOMEM;
                    break;
                }
                v = nv;
            }
            rc = parse_topic_line(line, &v[n].tp, &v[n].n_parts);
            if (rc == ED_OK)
                n++;
            else if (rc == ED_ERR_CORRUPT)
                ED_LOG_ERR("%s:%d: bad topic line", path, line_no);
        }
        line = e ? e + 1 : line + strlen(line);
    }
    ed_free(buf);
    if (rc != ED_OK) {
        free_loaded(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return ED_OK;
}

/* ---- deletion ----
 * Crash-safe on a full disk: the topic is first recorded as being deleted
 * (state=deleting; the reserve is released if the disk is too full for
 * that); from then on it is hidden and its name stays taken. Its logs then
 * go (free first), the checkpoints are rewritten, and only then does the
 * registry forget it. A crash before the record leaves the topic whole; a
 * crash after it leaves the record, and the next open finishes the job. */

/* Hands every partition of tp over to tp->doomed: the listeners drop
 * their state, the partitions are freed, the logs wait for delete_step. */
static int detach_all(ed_topics *t, ed_topic *tp)
{
    ed_log **logs = ed_calloc((size_t)tp->n_partitions + (size_t)tp->n_grown + 1, sizeof *logs);
    if (!logs) return ED_ERR_NOMEM;
    int32_t n = 0;
    for (int32_t i = 0; i < tp->n_grown; i++) /* a growth under way: its new logs go too */
        logs[n++] = tp->grow_logs[i];
    ed_topics_done_cb done = tp->grow_to ? tp->done : NULL;
    void *done_arg = tp->done_arg;
    int32_t done_slot = tp->done_slot;
    ed_free(tp->grow_logs);
    tp->grow_logs = NULL;
    tp->n_grown = tp->grow_to = 0;
    tp->done = NULL;
    for (int32_t p = 0; p < tp->n_partitions; p++) {
        ed_partition *part = tp->parts[p];
        if (!part) continue;
        notify_removed(t, part);
        logs[n++] = part->log;
        ed_free(part);
        tp->parts[p] = NULL;
    }
    tp->doomed = logs;
    tp->n_doomed = n;
    tp->detached = true;
    if (done) done(done_arg, done_slot, ED_ERR_NOENT);
    return ED_OK;
}

enum step { STEP_DONE, STEP_MORE, STEP_STUCK };

/* Removes up to *budget of tp's logs (counted off *budget); once none is
 * left and the checkpoints no longer name them, drops tp from memory (the
 * caller persists). */
static enum step delete_step(ed_topics *t, ed_topic *tp, int32_t *budget)
{
    if (!tp->detached && detach_all(t, tp) != ED_OK) return STEP_STUCK;
    int32_t k = ED_MIN(*budget, tp->n_doomed);
    if (k > 0) {
        int rc = ed_storage_remove_logs(t->st, tp->doomed + tp->n_doomed - k, (uint32_t)k);
        if (rc != ED_OK) ED_LOG_ERR("topic %s: removing logs: %s", tp->name, ed_strerror(rc));
        tp->n_doomed -= k;
        *budget -= k;
    }
    if (tp->n_doomed > 0) return STEP_MORE;
    int rc = ed_storage_write_checkpoints(t->st);
    if (rc != ED_OK) {
        ED_LOG_ERR("topic %s: deletion not finished (%s); retried later", tp->name,
                   ed_strerror(rc));
        return STEP_STUCK;
    }
    remove_topic(t, tp);
    ED_LOG_INFO("deleted topic %s", tp->name);
    topic_free(tp);
    return STEP_DONE;
}

/* Works on pending deletions, removing up to budget logs; persists when a
 * topic went. Returns the delay before more work is due, -1 for none. */
static int64_t run_deletions(ed_topics *t, int32_t budget)
{
    bool gone = false;
    int64_t next = -1;
    for (int32_t i = 0; i < t->n;) {
        ed_topic *tp = t->v[i];
        if (!tp->deleting) {
            i++;
            continue;
        }
        enum step st = delete_step(t, tp, &budget);
        if (st == STEP_DONE) {
            gone = true;
            continue;
        }
        next = st == STEP_MORE ? 0 : next < 0 ? STUCK_RETRY_MS : next;
        i++;
    }
    if (gone && persist(t) == ED_OK) reserve_take(t);
    return next;
}

static bool run_creations(ed_topics *t, int32_t *budget);
static bool run_growths(ed_topics *t, int32_t *budget);

static void on_step(ed_timer *tm, void *arg)
{
    ed_topics *t = arg;
    int32_t budget = ED_TOPICS_STEP;
    bool more = run_creations(t, &budget);
    more = run_growths(t, &budget) || more;
    int64_t next = run_deletions(t, budget);
    if (more) next = 0;
    if (next >= 0 && !ed_plat_timer_armed(tm))
        ed_plat_timer_start(t->loop, tm, (uint32_t)next, on_step, t);
}

/* Without a loop, pending deletions are finished on the spot; with one,
 * the step timer is armed. */
static void reap(ed_topics *t)
{
    if (!t->loop)
        run_deletions(t, INT32_MAX);
    else if (!ed_plat_timer_armed(&t->step_timer))
        ed_plat_timer_start(t->loop, &t->step_timer, 0, on_step, t);
}

void ed_topics_set_loop(ed_topics *t, ed_loop *loop)
{
    if (t->loop && t->loop != loop) ed_plat_timer_stop(t->loop, &t->step_timer);
    t->loop = loop;
    for (int32_t i = 0; i < t->n; i++)
        if (t->v[i]->deleting) reap(t);
}

/* ---- open / close ---- */

struct open_ctx {
    ed_topics *t;
    int err;
    bool adopted;
};

static void adopt_log(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    struct open_ctx *o = arg;
    if (o->err) return;
    ed_topics *t = o->t;
    if (partition < 0 || partition >= PARTITIONS_MAX) {
        ED_LOG_WARN("ignoring partition %s-%d: index out of range", topic, partition);
        return;
    }
    ed_topic *tp = find_any(t, topic, strlen(topic));
    if (!tp) {
        tp = topic_new(topic);
        if (!tp) {
            o->err = ED_ERR_NOMEM;
            return;
        }
        new_uuid(tp->id);
        tp->owner = t;
        if ((o->err = insert_topic(t, tp)) != ED_OK) {
            topic_free(tp);
            return;
        }
        o->adopted = true;
        if (t->dir) ED_LOG_INFO("adopting topic %s found in the data directory", topic);
    }
    if ((o->err = topic_grow(tp, partition + 1)) != ED_OK) return;
    if (tp->parts[partition]) return;
    o->err = attach_log(tp, partition, log);
}

static int open_common(ed_storage *st, const char *dir, const struct ed_log_config *defaults,
                       ed_topics **out)
{
    ed_topics *t = ed_calloc(1, sizeof *t);
    if (!t) return ED_ERR_NOMEM;
    t->st = st;
    t->defaults = *defaults;
    int rc = ED_OK;
    struct loaded *reg = NULL;
    int32_t n_reg = 0;
    if (dir) {
        t->dir = ed_strdup(dir);
        if (!t->dir) rc = ED_ERR_NOMEM;
        if (rc == ED_OK) rc = load_registry(dir, &reg, &n_reg);
    }
    /* Listed topics first (ids, overrides, counts), then every log. */
    for (int32_t i = 0; i < n_reg && rc == ED_OK; i++) {
        ed_topic *tp = reg[i].tp;
        if (find_any(t, tp->name, strlen(tp->name))) continue; /* duplicate line: first wins */
        tp->owner = t;
        rc = topic_grow(tp, reg[i].n_parts);
        if (rc == ED_OK) rc = insert_topic(t, tp);
        if (rc == ED_OK) reg[i].tp = NULL;
    }
    free_loaded(reg, n_reg);
    struct open_ctx o = {t, ED_OK, false};
    if (rc == ED_OK) {
        ed_storage_each_log(st, adopt_log, &o);
        rc = o.err;
    }
    bool dirty = o.adopted;
    for (int32_t i = 0; i < t->n && rc == ED_OK;) {
        ed_topic *tp = t->v[i];
        if (tp->deleting) {
            /* Recorded as being deleted before a crash: finish it. */
            ED_LOG_INFO("finishing the deletion of topic %s", tp->name);
            int32_t all = INT32_MAX;
            if (delete_step(t, tp, &all) == STEP_DONE) {
                dirty = true;
                continue;
            }
            i++;
            continue;
        }
        int32_t have = 0;
        for (int32_t p = 0; p < tp->n_partitions; p++)
            have += tp->parts[p] != NULL;
        if (have == 0) {
            ED_LOG_WARN("topic %s is listed but has no partition logs: dropping it "
                        "(a create that did not finish)",
                        tp->name);
            remove_topic(t, tp);
            topic_free(tp);
            dirty = true;
            continue;
        }
        i++;
    }
    if (rc == ED_OK) render_defaults(t);
    /* Apply overrides; fill partition gaps (interrupted CreatePartitions). */
    for (int32_t i = 0; i < t->n && rc == ED_OK; i++) {
        ed_topic *tp = t->v[i];
        if (tp->deleting) continue;
        effective(t, tp);
        for (int32_t p = 0; p < tp->n_partitions && rc == ED_OK; p++) {
            if (tp->parts[p]) {
                ed_log_set_config(tp->parts[p]->log, &tp->cfg);
                continue;
            }
            ed_log *log;
            ED_LOG_WARN("topic %s: creating missing partition %d", tp->name, p);
            rc = ed_storage_create_log(st, tp->name, p, &tp->cfg, &log);
            if (rc == ED_OK) rc = attach_log(tp, p, log);
            dirty = true;
        }
    }
    if (rc == ED_OK && dir) {
        /* Persist adoptions, drops and fills so ids stay stable. */
        if (dirty) rc = persist_freeing(t);
        if (rc == ED_OK) reserve_take(t);
    }
    if (rc != ED_OK) {
        ed_topics_close(t);
        return rc;
    }
    *out = t;
    return ED_OK;
}

int ed_topics_open(ed_storage *st, const struct ed_log_config *defaults, ed_topics **out)
{
    return open_common(st, NULL, defaults, out);
}

int ed_topics_open_dir(ed_storage *st, const char *dir, const struct ed_log_config *defaults,
                       ed_topics **out)
{
    return open_common(st, dir, defaults, out);
}

void ed_topics_close(ed_topics *t)
{
    if (!t) return;
    if (t->loop) ed_plat_timer_stop(t->loop, &t->step_timer);
    for (int32_t i = 0; i < t->n; i++) {
        ed_topic *tp = t->v[i];
        for (int32_t p = 0; p < tp->n_partitions; p++)
            if (tp->parts[p]) notify_removed(t, tp->parts[p]);
        topic_free(tp);
    }
    ed_free(t->v);
    ed_free(t->dir);
    ed_free(t);
}

void ed_topics_set_broker_config(ed_topics *t, const struct ed_config *cfg)
{
    t->bcfg = cfg;
    render_defaults(t);
}

/* ---- create / delete / grow ---- */

/* Checks a new topic, makes it and records it in the registry (before
 * any log exists: a crash then drops it or fills in its logs at the next
 * open, and the create was never acknowledged); its logs are made by
 * make_logs. */
static int create_begin(ed_topics *t, const char *name, int32_t n_partitions,
                        const char *const *keys, const char *const *values, int n_configs,
                        const char **why, ed_topic **out)
{
    if (!ed_topics_valid_name(name)) {
        *why = "invalid topic name";
        return ED_ERR_INVAL;
    }
    if (n_partitions < 1 || n_partitions > PARTITIONS_MAX) {
        *why = "invalid number of partitions";
        return ED_ERR_INVAL;
    }
    reap(t);
    ed_topic *had = find_any(t, name, strlen(name));
    if (had) {
        *why = had->deleting ? "topic is marked for deletion" : "topic already exists";
        return ED_ERR_EXIST;
    }
    int rc = ED_OK;
    for (int i = 0; i < n_configs && rc == ED_OK; i++)
        rc = ed_topics_config_check(keys[i], values[i], why);
    if (rc == ED_OK) rc = ed_topics_room(t, name, 1, n_partitions, why);
    if (rc != ED_OK) return rc;
    ed_topic *tp = topic_new(name);
    if (!tp) return ED_ERR_NOMEM;
    tp->owner = t;
    new_uuid(tp->id);
    for (int i = 0; i < n_configs && rc == ED_OK; i++) {
        if (!values[i]) continue;
        int k = tkey_find(keys[i]);
        ed_free(tp->ov[k]);
        tp->ov[k] = ed_strdup(values[i]);
        if (!tp->ov[k]) rc = ED_ERR_NOMEM;
    }
    if (rc == ED_OK) rc = topic_grow(tp, n_partitions);
    if (rc != ED_OK) {
        topic_free(tp);
        return rc;
    }
    effective(t, tp);
    rc = insert_topic(t, tp);
    if (rc == ED_OK) rc = persist(t);
    if (rc != ED_OK) {
        if (find_any(t, name, strlen(name)) == tp) remove_topic(t, tp);
        topic_free(tp);
        *why = "could not write the topic registry";
        return rc;
    }
    *out = tp;
    return ED_OK;
}

/* Makes up to budget more of tp's logs. */
static int make_logs(ed_topics *t, ed_topic *tp, int32_t budget)
{
    int rc = ED_OK;
    for (; tp->n_made < tp->n_partitions && budget > 0 && rc == ED_OK; budget--) {
        ed_log *log;
        rc = ed_storage_create_log(t->st, tp->name, tp->n_made, &tp->cfg, &log);
        if (rc == ED_OK) rc = attach_log(tp, tp->n_made, log);
        if (rc == ED_OK) tp->n_made++;
    }
    return rc;
}

/* Undoes a creation that failed: its logs go, then the registry line. */
static void create_fail(ed_topics *t, ed_topic *tp, int rc)
{
    ED_LOG_ERR("creating topic %s: %s", tp->name, ed_strerror(rc));
    ed_log **logs = ed_calloc((size_t)tp->n_partitions, sizeof *logs);
    uint32_t n = 0;
    for (int32_t p = 0; p < tp->n_partitions; p++) {
        if (!tp->parts[p]) continue;
        if (logs)
            logs[n++] = tp->parts[p]->log;
        else
            ed_storage_delete_log(t->st, tp->parts[p]->log);
    }
    if (n) ed_storage_delete_logs(t->st, logs, n);
    ed_free(logs);
    remove_topic(t, tp);
    topic_free(tp);
    persist(t);
}

static void log_created(const ed_topic *tp)
{
    ED_LOG_INFO("created topic %s with %d partition%s", tp->name, (int)tp->n_partitions,
                tp->n_partitions == 1 ? "" : "s");
}

int ed_topics_create(ed_topics *t, const char *name, int32_t n_partitions, const char *const *keys,
                     const char *const *values, int n_configs, const char **why, ed_topic **out)
{
    static const char *unused;
    if (!why) why = &unused;
    ed_topic *tp;
    int rc = create_begin(t, name, n_partitions, keys, values, n_configs, why, &tp);
    if (rc != ED_OK) return rc;
    rc = make_logs(t, tp, INT32_MAX);
    if (rc != ED_OK) {
        *why = "could not create the partition logs";
        create_fail(t, tp, rc);
        return rc;
    }
    log_created(tp);
    if (out) *out = tp;
    return ED_OK;
}

int ed_topics_create_async(ed_topics *t, const char *name, int32_t n_partitions,
                           const char *const *keys, const char *const *values, int n_configs,
                           const char **why, ed_topics_done_cb done, void *arg, int32_t slot,
                           ed_topic **out, bool *pending)
{
    static const char *unused;
    if (!why) why = &unused;
    *pending = false;
    if (!t->loop) return ed_topics_create(t, name, n_partitions, keys, values, n_configs, why, out);
    ed_topic *tp;
    int rc = create_begin(t, name, n_partitions, keys, values, n_configs, why, &tp);
    if (rc != ED_OK) return rc;
    rc = make_logs(t, tp, ED_TOPICS_STEP); /* the first step now */
    if (rc != ED_OK) {
        *why = "could not create the partition logs";
        create_fail(t, tp, rc);
        return rc;
    }
    if (out) *out = tp;
    if (tp->n_made == tp->n_partitions) {
        log_created(tp);
        return ED_OK;
    }
    tp->creating = true;
    tp->done = done;
    tp->done_arg = arg;
    tp->done_slot = slot;
    *pending = true;
    if (!ed_plat_timer_armed(&t->step_timer))
        ed_plat_timer_start(t->loop, &t->step_timer, 0, on_step, t);
    return ED_OK;
}

/* Works on creations in steps, making up to *budget logs (counted off);
 * true while some remain. */
static bool run_creations(ed_topics *t, int32_t *budget)
{
    for (int32_t i = 0; i < t->n; i++) {
        ed_topic *tp = t->v[i];
        if (!tp->creating) continue;
        if (*budget <= 0) return true;
        int32_t before = tp->n_made;
        int rc = make_logs(t, tp, *budget);
        *budget -= tp->n_made - before;
        if (rc == ED_OK && tp->n_made < tp->n_partitions) return true;
        ed_topics_done_cb done = tp->done;
        void *arg = tp->done_arg;
        int32_t slot = tp->done_slot;
        tp->creating = false;
        if (rc != ED_OK)
            create_fail(t, tp, rc);
        else
            log_created(tp);
        if (done) done(arg, slot, rc);
        i = -1; /* the callback may have changed the registry: look again */
    }
    return false;
}

void ed_topics_forget_waiter(ed_topics *t, void *arg)
{
    for (int32_t i = 0; i < t->n; i++)
        if (t->v[i]->done_arg == arg) {
            t->v[i]->done = NULL;
            t->v[i]->done_arg = NULL;
        }
}

int ed_topics_auto_create(ed_topics *t, const char *name, ed_topic **out)
{
    if (!t->bcfg || !ed_config_bool(t->bcfg, "auto.create.topics.enable")) return ED_ERR_NOENT;
    if (!ed_topics_valid_name(name)) return ED_ERR_INVAL;
    int32_t n = (int32_t)ed_config_int(t->bcfg, "num.partitions");
    const char *why = "";
    int rc = ed_topics_create(t, name, n, NULL, NULL, 0, &why, out);
    if (rc == ED_ERR_TOOBIG && !t->cap_logged)
        ED_LOG_WARN("not auto-creating topic %s: %s (said once until a topic is created)", name,
                    why);
    t->cap_logged = rc == ED_ERR_TOOBIG || (t->cap_logged && rc != ED_OK);
    return rc;
}

int ed_topics_room(ed_topics *t, const char *name, int32_t n_topics, int32_t n_partitions,
                   const char **why)
{
    if (!t->bcfg || internal_name(name)) return ED_OK;
    int64_t max_topics = ed_config_int(t->bcfg, "eddy.max.topics");
    int64_t max_parts = ed_config_int(t->bcfg, "eddy.max.partitions");
    int32_t have_topics = 0, have_parts = 0;
    for (int32_t i = 0; i < t->n; i++)
        have_topics += !t->v[i]->deleting; /* topics being created count */
    for (int32_t i = 0; i < t->n; i++)     /* and partitions being added */
        if (t->v[i]->grow_to && !t->v[i]->deleting)
            have_parts += t->v[i]->grow_to - t->v[i]->n_partitions;
    for (int32_t i = 0; i < t->n; i++) /* partitions being deleted still hold files */
        have_parts += t->v[i]->deleting
                          ? (t->v[i]->detached ? t->v[i]->n_doomed : t->v[i]->n_partitions)
                          : t->v[i]->n_partitions;
    if (n_topics > 0 && (int64_t)have_topics + n_topics > max_topics) {
        snprintf(t->why, sizeof t->why,
                 "The broker already holds %" PRId32 " topics, its limit (eddy.max.topics=%" PRId64
                 ")",
                 have_topics, max_topics);
        *why = t->why;
        return ED_ERR_TOOBIG;
    }
    if ((int64_t)have_parts + n_partitions > max_parts) {
        snprintf(t->why, sizeof t->why,
                 "Adding %" PRId32 " partitions to the %" PRId32 " the broker holds would exceed "
                 "its limit of %" PRId64 " partitions (eddy.max.partitions)",
                 n_partitions, have_parts, max_parts);
        *why = t->why;
        return ED_ERR_TOOBIG;
    }
    return ED_OK;
}

int ed_topics_delete(ed_topics *t, ed_topic *topic)
{
    if (topic->deleting) return ED_ERR_NOENT;
    topic->deleting = true;
    int rc = persist_freeing(t);
    if (rc != ED_OK) {
        topic->deleting = false; /* nothing changed */
        ED_LOG_ERR("cannot record the deletion of topic %s: %s", topic->name, ed_strerror(rc));
        return rc;
    }
    /* Decided: whatever fails from here on is finished later. The
     * partitions leave at once (listeners drop their state); their files
     * go in steps. */
    ED_LOG_INFO("deleting topic %s (%d partition%s)", topic->name, (int)topic->n_partitions,
                topic->n_partitions == 1 ? "" : "s");
    detach_all(t, topic);
    if (!t->loop) {
        run_deletions(t, INT32_MAX);
        return ED_OK;
    }
    /* The first step now: a small topic is gone before the answer. */
    int64_t next = run_deletions(t, ED_TOPICS_STEP);
    if (next >= 0 && !ed_plat_timer_armed(&t->step_timer))
        ed_plat_timer_start(t->loop, &t->step_timer, (uint32_t)next, on_step, t);
    return ED_OK;
}

/* Checks a growth of topic to n partitions and prepares it. */
static int grow_begin(ed_topics *t, ed_topic *topic, int32_t n)
{
    if (topic->deleting || topic->creating) return ED_ERR_NOENT;
    if (topic->grow_to) return ED_ERR_BUSY;
    if (n < topic->n_partitions || n > PARTITIONS_MAX) return ED_ERR_INVAL;
    const char *why;
    reap(t);
    int rc = ed_topics_room(t, topic->name, 0, n - topic->n_partitions, &why);
    if (rc != ED_OK) return rc;
    topic->grow_logs = ed_calloc((size_t)(n - topic->n_partitions), sizeof *topic->grow_logs);
    if (!topic->grow_logs) return ED_ERR_NOMEM;
    topic->grow_to = n;
    topic->n_grown = 0;
    return ED_OK;
}

/* Makes up to budget more of a growth's logs. */
static int grow_logs(ed_topics *t, ed_topic *tp, int32_t budget)
{
    int rc = ED_OK;
    for (; tp->n_partitions + tp->n_grown < tp->grow_to && budget > 0 && rc == ED_OK; budget--) {
        ed_log *log;
        rc = ed_storage_create_log(t->st, tp->name, tp->n_partitions + tp->n_grown, &tp->cfg, &log);
        if (rc == ED_OK) tp->grow_logs[tp->n_grown++] = log;
    }
    return rc;
}

/* Ends a growth: on success the new logs become partitions and the count
 * is recorded (logs first, then the count: a crash in between leaves extra
 * logs that the next open adopts); otherwise the new logs go. */
static int grow_end(ed_topics *t, ed_topic *tp, int rc)
{
    int32_t old = tp->n_partitions, n = tp->grow_to;
    if (rc == ED_OK) rc = topic_grow(tp, n);
    for (int32_t i = 0; i < tp->n_grown && rc == ED_OK; i++)
        rc = attach_log(tp, old + i, tp->grow_logs[i]);
    if (rc == ED_OK) rc = persist(t);
    if (rc != ED_OK) {
        for (int32_t p = old; p < tp->n_partitions; p++) {
            ed_free(tp->parts[p]);
            tp->parts[p] = NULL;
        }
        tp->n_partitions = old;
        if (tp->n_grown) ed_storage_delete_logs(t->st, tp->grow_logs, (uint32_t)tp->n_grown);
        ED_LOG_ERR("topic %s: cannot grow to %d partitions: %s", tp->name, (int)n, ed_strerror(rc));
    } else {
        ED_LOG_INFO("topic %s now has %d partitions", tp->name, (int)n);
    }
    ed_free(tp->grow_logs);
    tp->grow_logs = NULL;
    tp->n_grown = tp->grow_to = 0;
    return rc;
}

int ed_topics_set_partitions(ed_topics *t, ed_topic *topic, int32_t n)
{
    if (n == topic->n_partitions && !topic->deleting && !topic->grow_to) return ED_OK;
    int rc = grow_begin(t, topic, n);
    if (rc != ED_OK) return rc;
    return grow_end(t, topic, grow_logs(t, topic, INT32_MAX));
}

int ed_topics_set_partitions_async(ed_topics *t, ed_topic *topic, int32_t n, ed_topics_done_cb done,
                                   void *arg, int32_t slot, bool *pending)
{
    *pending = false;
    if (!t->loop || (n == topic->n_partitions && !topic->deleting && !topic->grow_to))
        return ed_topics_set_partitions(t, topic, n);
    int rc = grow_begin(t, topic, n);
    if (rc != ED_OK) return rc;
    rc = grow_logs(t, topic, ED_TOPICS_STEP); /* the first step now */
    if (rc != ED_OK || topic->n_partitions + topic->n_grown == topic->grow_to)
        return grow_end(t, topic, rc);
    topic->done = done;
    topic->done_arg = arg;
    topic->done_slot = slot;
    *pending = true;
    if (!ed_plat_timer_armed(&t->step_timer))
        ed_plat_timer_start(t->loop, &t->step_timer, 0, on_step, t);
    return ED_OK;
}

/* Works on growths in steps, making up to *budget logs (counted off); true
 * while some remain. */
static bool run_growths(ed_topics *t, int32_t *budget)
{
    for (int32_t i = 0; i < t->n; i++) {
        ed_topic *tp = t->v[i];
        if (!tp->grow_to || tp->deleting) continue;
        if (*budget <= 0) return true;
        int32_t before = tp->n_grown;
        int rc = grow_logs(t, tp, *budget);
        *budget -= tp->n_grown - before;
        if (rc == ED_OK && tp->n_partitions + tp->n_grown < tp->grow_to) return true;
        ed_topics_done_cb done = tp->done;
        void *arg = tp->done_arg;
        int32_t slot = tp->done_slot;
        tp->done = NULL;
        rc = grow_end(t, tp, rc);
        if (done) done(arg, slot, rc);
        i = -1; /* the callback may have changed the registry: look again */
    }
    return false;
}

/* ---- config ---- */

const char *ed_topic_config_get(ed_topic *topic, const char *key, bool *is_default)
{
    int k = tkey_find(key);
    if (k < 0) return NULL;
    if (is_default) *is_default = topic->ov[k] == NULL;
    return topic->ov[k] ? topic->ov[k] : topic->owner->deftext[k];
}

int ed_topic_config_set(ed_topics *t, ed_topic *topic, const char *key, const char *value,
                        const char **why)
{
    static const char *unused;
    if (!why) why = &unused;
    int k = tkey_find(key);
    if (k < 0) {
        *why = "unknown topic config";
        return ED_ERR_INVAL;
    }
    if (value) {
        int rc = check_value(k, value, why);
        if (rc != ED_OK) return rc;
    }
    char *nv = NULL;
    if (value && !(nv = ed_strdup(value))) return ED_ERR_NOMEM;
    char *old = topic->ov[k];
    topic->ov[k] = nv;
    int rc = persist(t);
    if (rc != ED_OK) {
        topic->ov[k] = old;
        ed_free(nv);
        *why = "could not write the topic registry";
        return rc;
    }
    ed_free(old);
    effective(t, topic);
    for (int32_t p = 0; p < topic->n_partitions; p++)
        if (topic->parts[p]) ed_log_set_config(topic->parts[p]->log, &topic->cfg);
    return ED_OK;
}

/* ---- listeners ---- */

void ed_topics_set_append_listener(ed_topics *t, ed_append_listener cb, void *arg)
{
    t->append.cb = cb;
    t->append.arg = arg;
}

int ed_topics_add_remove_listener(ed_topics *t, ed_append_listener cb, void *arg)
{
    for (int i = 0; i < t->n_removed; i++)
        if (t->removed[i].cb == cb && t->removed[i].arg == arg) return ED_OK;
    if (t->n_removed == MAX_REMOVE_LISTENERS) return ED_ERR_TOOBIG;
    t->removed[t->n_removed].cb = cb;
    t->removed[t->n_removed].arg = arg;
    t->n_removed++;
    return ED_OK;
}

void ed_topics_del_remove_listener(ed_topics *t, ed_append_listener cb, void *arg)
{
    for (int i = 0; i < t->n_removed; i++) {
        if (t->removed[i].cb != cb || t->removed[i].arg != arg) continue;
        t->removed[i] = t->removed[--t->n_removed];
        return;
    }
}

void ed_topics_appended(ed_topics *t, ed_partition *p)
{
    if (t->append.cb) t->append.cb(t->append.arg, p);
}

/* ---- meta.properties ---- */

int ed_topics_meta_properties(const char *dir, int32_t node_id, char cluster_id[23])
{
    char path[PATH_MAX_LEN];
    if (!path_join(path, dir, META_FILE)) return ED_ERR_INVAL;
    char *buf;
    size_t len;
    int rc = read_small(path, &buf, &len);
    if (rc == ED_OK) {
        char cid[23] = "";
        int64_t stored = -1;
        for (char *line = buf; *line;) {
            char *e = strchr(line, '\n');
            if (e) *e = '\0';
            size_t n = strlen(line);
            if (n && line[n - 1] == '\r') line[n - 1] = '\0';
            if (strncmp(line, "cluster.id=", 11) == 0)
                snprintf(cid, sizeof cid, "%s", line + 11);
            else if (strncmp(line, "node.id=", 8) == 0)
                ed_config_parse_int(line + 8, &stored);
            else if (strncmp(line, "broker.id=", 10) == 0)
                ed_config_parse_int(line + 10, &stored);
            line = e ? e + 1 : line + n;
        }
        ed_free(buf);
        if (strlen(cid) == 0) {
            ED_LOG_ERR("%s has no cluster.id", path);
            return ED_ERR_CORRUPT;
        }
        if (stored >= 0 && stored != node_id) {
            ED_LOG_ERR("%s: stored node.id %" PRId64 " does not match the configured node.id %d",
                       path, stored, node_id);
            return ED_ERR_INVAL;
        }
        snprintf(cluster_id, 23, "%s", cid);
        return ED_OK;
    }
    if (rc != ED_ERR_NOENT) {
        ED_LOG_ERR("reading %s: %s", path, ed_strerror(rc));
        return rc;
    }
    uint8_t id[16];
    new_uuid(id);
    uuid_to_text(id, cluster_id);
    char text[160];
    int n = snprintf(text, sizeof text,
                     "#\n# Written by Eddy at first start\nversion=1\ncluster.id=%s\nnode.id=%d\n",
                     cluster_id, node_id);
    rc = write_atomic(dir, META_FILE, text, (size_t)n);
    if (rc == ED_OK) ED_LOG_INFO("new cluster id %s", cluster_id);
    return rc;
}
