/* The broker's configuration: the typed struct ed_config filled from the key
 * table (defaults, --set, server.properties loading), Kafka's precedence
 * rules, --help, and the walk DescribeConfigs uses. */
#define ED_LOG_MODULE "config"
#include "core/config.h"
#include "core/config_int.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define I64       INT64_MAX
#define ROW(c, f) row_at((int)offsetof(struct ed_config, f))

static int row_index(const struct ed_config_key *k)
{
    return (int)(k - ed_config_keys);
}

static const struct ed_config_key *row_at(int off)
{
    for (int i = 0; i < ed_config_n_keys; i++)
        if (ed_config_keys[i].name && ed_config_keys[i].off == off) return &ed_config_keys[i];
    ED_ASSERT(false);
    return NULL;
}

static int64_t *int_at(struct ed_config *c, const struct ed_config_key *k)
{
    return (int64_t *)(void *)((char *)c + k->off);
}

static bool *bool_at(struct ed_config *c, const struct ed_config_key *k)
{
    return (bool *)(void *)((char *)c + k->off);
}

static char **str_at(struct ed_config *c, const struct ed_config_key *k)
{
    return (char **)(void *)((char *)c + k->off);
}

/* Validates and stores v into k's field; the default path passes
 * set=false. Error text: "key: problem". */
static int assign(struct ed_config *c, const struct ed_config_key *k, const char *v, bool set,
                  char *why, size_t why_len)
{
    char inner[200];
    if (k->type == ED_CFG_INT && !set && !*v) { /* no default: unset */
        *int_at(c, k) = 0;
        c->set[row_index(k)] = false;
        return ED_OK;
    }
    if (!ed_config_key_check(k, false, v, inner, sizeof inner)) {
        if (why && why_len) snprintf(why, why_len, "%s: %s", k->name, inner);
        return ED_ERR_INVAL;
    }
    switch (k->type) {
    case ED_CFG_INT:
        ed_config_parse_int(v, int_at(c, k));
        break;
    case ED_CFG_BOOL:
        ed_config_parse_bool(v, bool_at(c, k));
        break;
    default: {
        char *s = ed_strdup(v);
        if (!s) return ED_ERR_NOMEM;
        ed_free(*str_at(c, k));
        *str_at(c, k) = s;
        break;
    }
    }
    c->set[row_index(k)] = set;
    return ED_OK;
}

int ed_config_new(struct ed_config **out)
{
    ED_ASSERT(ed_config_n_keys <= ED_CONFIG_MAX_KEYS);
    struct ed_config *c = ed_calloc(1, sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *k = &ed_config_keys[i];
        if (!k->name) continue;
        char why[256];
        int rc = assign(c, k, k->def, false, why, sizeof why);
        if (rc != ED_OK) {
            ED_ASSERT(rc == ED_ERR_NOMEM); /* the table's defaults are valid */
            ed_config_free(c);
            return rc;
        }
    }
    *out = c;
    return ED_OK;
}

const struct ed_config *ed_config_or_default(const struct ed_config *c, struct ed_config **own)
{
    *own = NULL;
    if (c) return c;
    return ed_config_new(own) == ED_OK ? *own : NULL;
}

void ed_config_free(struct ed_config *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_overrides; i++)
        ed_free(c->overrides[i].value);
    ed_free(c->overrides);
    ed_config_bridges_free(c);
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *k = &ed_config_keys[i];
        if (k->name && k->type != ED_CFG_INT && k->type != ED_CFG_BOOL) ed_free(*str_at(c, k));
    }
    ed_free(c);
}

/* Edit distance, bounded, for "did you mean" hints. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            c = ED_MIN(c, d[i - 1][j] + 1);
            d[i][j] = ED_MIN(c, d[i][j - 1] + 1);
        }
    return d[la][lb];
}

static int set_listener_key(struct ed_config *c, const char *key, const char *value, char *why,
                            size_t why_len);

int ed_config_set(struct ed_config *c, const char *key, const char *value, char *why,
                  size_t why_len)
{
    const struct ed_config_key *k = ed_config_key_find(key);
    if (k) return assign(c, k, value, true, why, why_len);
    if (strncmp(key, "listener.name.", 14) == 0)
        return set_listener_key(c, key, value, why, why_len);
    if (strncmp(key, "mqtt.bridge.", 12) == 0)
        return ed_config_set_bridge(c, key, value, why, why_len);
    if (ed_config_ignored(key)) {
        ED_LOG_WARN("ignoring Kafka setting %s (not used by Eddy)", key);
        return ED_OK;
    }
    const char *best = NULL;
    int bd = 4;
    for (int i = 0; i < ed_config_n_keys; i++) {
        const char *name = ed_config_keys[i].name;
        int d = name ? distance(key, name) : 99;
        if (d < bd) {
            bd = d;
            best = name;
        }
    }
    if (best)
        ed_config_say(why, why_len, "unknown config key '%s' (did you mean '%s'?)", key, best);
    else
        ed_config_say(why, why_len, "unknown config key '%s'%s", key, "");
    return ED_ERR_INVAL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\f')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int parse_line(struct ed_config *c, const char *path, int line_no, char *line, char *why,
                      size_t why_len)
{
    char *s = trim(line);
    if (!*s || *s == '#' || *s == '!') return ED_OK;
    char *sep = s;
    while (*sep && *sep != '=' && *sep != ':' && *sep != ' ' && *sep != '\t') {
        if (*sep == '\\' && sep[1]) sep++;
        sep++;
    }
    char *value;
    if (*sep) {
        char *k_end = sep;
        while (*sep == ' ' || *sep == '\t')
            sep++;
        if (*sep == '=' || *sep == ':') sep++;
        *k_end = '\0';
        value = trim(sep);
    } else {
        value = sep; /* key alone: empty value */
    }
    ed_config_unescape(s);
    ed_config_unescape(value);
    char inner[300];
    int rc = ed_config_set(c, s, value, inner, sizeof inner);
    if (rc != ED_OK && why && why_len) snprintf(why, why_len, "%s:%d: %s", path, line_no, inner);
    return rc;
}

int ed_config_load(struct ed_config *c, const char *path, char *why, size_t why_len)
{
    ed_file *f;
    int rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc != ED_OK) {
        if (why && why_len) snprintf(why, why_len, "%s: %s", path, ed_strerror(rc));
        return rc;
    }
    uint64_t size = 0;
    rc = ed_plat_file_size(f, &size);
    if (rc == ED_OK && size > 1024 * 1024) rc = ED_ERR_TOOBIG;
    char *buf = rc == ED_OK ? ed_malloc((size_t)size + 1) : NULL;
    if (rc == ED_OK && !buf) rc = ED_ERR_NOMEM;
    size_t got = 0;
    if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
    ed_plat_file_close(f);
    if (rc != ED_OK) {
        if (why && why_len) snprintf(why, why_len, "%s: %s", path, ed_strerror(rc));
        ed_free(buf);
        return rc;
    }
    buf[got] = '\0';
    if (memchr(buf, '\0', got)) {
        if (why && why_len) snprintf(why, why_len, "%s: not a text file", path);
        ed_free(buf);
        return ED_ERR_INVAL;
    }
    /* Logical lines: a line ending in an odd number of backslashes
     * continues on the next one (leading blanks of which are dropped). */
    char *p = buf;
    int line_no = 0;
    while (*p && rc == ED_OK) {
        line_no++;
        int first = line_no;
        char *w = p, *start = p;
        for (;;) {
            char *nl = strchr(p, '\n');
            char *end = nl ? nl : p + strlen(p);
            size_t n = (size_t)(end - p);
            if (n > 0 && p[n - 1] == '\r') n--;
            size_t bs = 0;
            while (bs < n && p[n - 1 - bs] == '\\')
                bs++;
            bool cont = (bs % 2) == 1 && nl;
            memmove(w, p, cont ? n - 1 : n);
            w += cont ? n - 1 : n;
            p = nl ? nl + 1 : end;
            if (!cont) break;
            line_no++;
            while (*p == ' ' || *p == '\t')
                p++;
        }
        *w = '\0';
        rc = parse_line(c, path, first, start, why, why_len);
    }
    ed_free(buf);
    return rc;
}

static const struct ed_config_key *must_find(const char *key, enum ed_config_type t1,
                                             enum ed_config_type t2)
{
    const struct ed_config_key *k = ed_config_key_find(key);
    ED_ASSERT(k && (k->type == t1 || k->type == t2));
    return k;
}

int64_t ed_config_int(const struct ed_config *c, const char *key)
{
    return *int_at((struct ed_config *)c, must_find(key, ED_CFG_INT, ED_CFG_INT));
}

bool ed_config_bool(const struct ed_config *c, const char *key)
{
    return *bool_at((struct ed_config *)c, must_find(key, ED_CFG_BOOL, ED_CFG_BOOL));
}

const char *ed_config_str(const struct ed_config *c, const char *key)
{
    const struct ed_config_key *k = ed_config_key_find(key);
    ED_ASSERT(k && k->type != ED_CFG_INT && k->type != ED_CFG_BOOL);
    return *str_at((struct ed_config *)c, k);
}

bool ed_config_is_set(const struct ed_config *c, const char *key)
{
    const struct ed_config_key *k = ed_config_key_find(key);
    ED_ASSERT(k);
    return c->set[row_index(k)];
}

void ed_config_help(void (*print)(void *arg, const char *line), void *arg)
{
    char line[512];
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *r = &ed_config_keys[i];
        if (!r->name) continue;
        char kind[96];
        switch (r->type) {
        case ED_CFG_INT:
            if (r->max == I64)
                snprintf(kind, sizeof kind, "int >= %" PRId64, r->min);
            else
                snprintf(kind, sizeof kind, "int %" PRId64 "..%" PRId64, r->min, r->max);
            break;
        case ED_CFG_BOOL:
            snprintf(kind, sizeof kind, "true|false");
            break;
        case ED_CFG_ENUM:
            snprintf(kind, sizeof kind, "%s", r->choices);
            for (char *k = kind; *k; k++)
                if (*k == ',') *k = '|';
            break;
        case ED_CFG_LIST:
            snprintf(kind, sizeof kind, "list of %s", r->choices);
            break;
        default:
            snprintf(kind, sizeof kind, "string");
            break;
        }
        snprintf(line, sizeof line, "  %-34s %s; default %s", r->name, kind,
                 *r->def ? r->def : "(unset)");
        print(arg, line);
        snprintf(line, sizeof line, "  %-34s   %s", "", r->doc);
        print(arg, line);
        if (r->topic && strcmp(r->topic, r->name) != 0) {
            snprintf(line, sizeof line, "  %-34s   (topic override: %s)", "", r->topic);
            print(arg, line);
        }
    }
    ed_config_bridge_help(print, arg);
}

/* ---- derived ---- */

int64_t ed_config_retention_ms(const struct ed_config *c)
{
    int64_t v;
    if (c->set[row_index(ROW(c, log_retention_ms))])
        v = c->log_retention_ms;
    else if (c->set[row_index(ROW(c, log_retention_minutes))])
        v = c->log_retention_minutes * 60000;
    else
        v = c->log_retention_hours * 3600000;
    return v < 0 ? -1 : v;
}

int64_t ed_config_roll_ms(const struct ed_config *c)
{
    if (c->set[row_index(ROW(c, log_roll_ms))]) return c->log_roll_ms;
    return c->log_roll_hours * 3600000;
}

void ed_config_log_defaults(const struct ed_config *c, struct ed_log_config *out)
{
    /* Every field comes from the table, so the defaults live in one place. */
    memset(out, 0, sizeof *out);
    out->segment_len = (uint64_t)c->log_segment_bytes;
    out->segment_ms = ed_config_roll_ms(c);
    out->retention_ms = ed_config_retention_ms(c);
    out->retention_len = c->log_retention_bytes < 0 ? -1 : c->log_retention_bytes;
    out->index_interval_len = (uint32_t)c->log_index_interval_bytes;
    out->flush_interval_messages = c->log_flush_interval_messages;
    out->flush_interval_ms = c->log_flush_interval_ms;
    out->max_message_len = (int32_t)c->message_max_bytes;
    bool compact = false, del = true;
    ed_config_parse_cleanup(c->log_cleanup_policy, &compact, &del);
    out->compact = compact;
    out->delete_ = del;
    out->log_append_time = strcmp(c->log_message_timestamp_type, "LogAppendTime") == 0;
    int comp = ED_COMPRESSION_NONE;
    ed_config_parse_compression(c->compression_type, &comp);
    out->compression = comp;
    out->delete_retention_ms = c->log_cleaner_delete_retention_ms;
    out->zstd_level = (int)c->compression_zstd_level;
}

void ed_config_storage(const struct ed_config *c, struct ed_storage_config *out)
{
    memset(out, 0, sizeof *out);
    out->use_flusher_thread = ed_plat_has_threads();
    out->dir = c->log_dirs;
    ed_config_log_defaults(c, &out->log);
    out->disk_budget_len = (uint64_t)c->log_dir_budget_bytes;
    out->disk_free_floor_len = (uint64_t)c->log_dir_min_free_bytes;
    out->disk_full_delete = strcmp(c->log_dir_full_policy, "delete-oldest") == 0;
    out->retention_check_ms = c->log_retention_check_interval_ms;
    out->recovery_checkpoint_ms = c->log_flush_offset_checkpoint_interval_ms;
    out->max_open_segments = (uint32_t)c->eddy_max_open_segments;
    out->gather_ms = (uint32_t)c->eddy_flush_gather_ms;
    out->gather_len = (uint64_t)c->eddy_flush_gather_bytes;
}

void ed_config_value(const struct ed_config *c, const struct ed_config_key *k, char *buf,
                     size_t len, const char **value, bool *is_default)
{
    struct ed_config *m = (struct ed_config *)c;
    *value = NULL;
    *is_default = !c->set[row_index(k)];
    switch (k->type) {
    case ED_CFG_INT:
        if (c->set[row_index(k)] || *k->def) {
            snprintf(buf, len, "%" PRId64, *int_at(m, k));
            *value = buf;
        }
        break;
    case ED_CFG_BOOL:
        *value = *bool_at(m, k) ? "true" : "false";
        break;
    default:
        *value = *str_at(m, k);
        break;
    }
}

void ed_config_each(const struct ed_config *c,
                    void (*cb)(void *arg, const struct ed_config_item *item), void *arg)
{
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *r = &ed_config_keys[i];
        if (!r->name) continue;
        char num[24];
        struct ed_config_item it = {r->name, NULL, true, false, r->type, r->doc};
        it.sensitive = strstr(r->name, "password") || strstr(r->name, "secret");
        ed_config_value(c, r, num, sizeof num, &it.value, &it.is_default);
        cb(arg, &it);
    }
}

/* ---- per-listener keys ---- */

/* listener.name.<name>.<key>: <name> is a listener name's letters, digits
 * and '_'; <key> one of the table's ssl.* keys (stored), or a key Eddy
 * ignores anyway, also behind a SASL mechanism's name as in Kafka's
 * listener.name.x.scram-sha-256.sasl.jaas.config (warned about). */
static int set_listener_key(struct ed_config *c, const char *key, const char *value, char *why,
                            size_t why_len)
{
    const char *name = key + strlen("listener.name.");
    size_t len = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
    struct ed_config_override *o = NULL;
    if (len == 0 || len >= sizeof o->listener || name[len] != '.') {
        ed_config_say(why, why_len, "%s: expected listener.name.<listener name>.<key>%s", key, "");
        return ED_ERR_INVAL;
    }
    const char *sub = name + len + 1;
    const struct ed_config_key *k = ed_config_key_find(sub);
    if (!k || strncmp(sub, "ssl.", 4) != 0) {
        const char *dot = strchr(sub, '.');
        if (!k && (ed_config_ignored(sub) || (dot && ed_config_ignored(dot + 1)))) {
            ED_LOG_WARN("ignoring Kafka setting %s (not used by Eddy)", key);
            return ED_OK;
        }
        ed_config_say(why, why_len, "%s: Eddy takes only ssl.* keys per listener (%s)", key,
                      k ? "set it for every listener" : "unknown key");
        return ED_ERR_INVAL;
    }
    char inner[200];
    if (!ed_config_key_check(k, false, value, inner, sizeof inner)) {
        ed_config_say(why, why_len, "%s: %s", key, inner);
        return ED_ERR_INVAL;
    }
    for (int i = 0; i < c->n_overrides && !o; i++)
        if (c->overrides[i].key == k && strlen(c->overrides[i].listener) == len &&
            strncmp(c->overrides[i].listener, name, len) == 0)
            o = &c->overrides[i];
    char *v = ed_strdup(value);
    if (!v) return ED_ERR_NOMEM;
    if (!o) {
        if (c->n_overrides == ED_CONFIG_MAX_OVERRIDES) {
            ed_free(v);
            ed_config_say(why, why_len, "%s: more than 64 listener.name.* keys%s", key, "");
            return ED_ERR_INVAL;
        }
        struct ed_config_override *grown =
            ed_realloc(c->overrides, (size_t)(c->n_overrides + 1) * sizeof *grown);
        if (!grown) {
            ed_free(v);
            return ED_ERR_NOMEM;
        }
        c->overrides = grown;
        o = &c->overrides[c->n_overrides++];
        memcpy(o->listener, name, len);
        o->listener[len] = '\0';
        o->key = k;
        o->value = NULL;
    }
    ed_free(o->value);
    o->value = v;
    return ED_OK;
}

const char *ed_config_listener_str(const struct ed_config *c, const char *listener, const char *key)
{
    const struct ed_config_key *k = ed_config_key_find(key);
    ED_ASSERT(k && k->type != ED_CFG_INT && k->type != ED_CFG_BOOL);
    for (int i = 0; i < c->n_overrides; i++)
        if (c->overrides[i].key == k && ed_config_ieq(c->overrides[i].listener, listener))
            return c->overrides[i].value;
    return *str_at((struct ed_config *)c, k);
}
