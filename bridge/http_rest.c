/* The read-only JSON endpoints of the HTTP API (docs/http-api.md): an
 * overview, topics and their partitions, records from an offset or a
 * timestamp, consumer groups with lag, the mirror's status and the broker
 * config with secrets redacted. Each answer is built whole in a bounded
 * buffer (bridge/http_out.h) on the loop; records are read from the
 * segments with the storage's reader and shown as JSON when a key or value
 * is valid JSON, as base64 otherwise. For the dashboard: traffic per
 * protocol, disk and flash wear in the overview, and the recent warnings. */
#define ED_LOG_MODULE "http"
#include "bridge/http_assets.h"
#include "bridge/http_int.h"
#include "bridge/http_json.h"
#include "bridge/http_out.h"
#include "core/config.h"
#include "core/group.h"
#include "core/kafka/mirror.h"
#include "core/metrics.h"
#include "core/topics.h"
#include "core/wear.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANSWER_MAX     (4u << 20)
#define RECORDS_DEF    20
#define RECORDS_MAX    500
#define READ_CHUNK_LEN (1u << 20)

static void str(struct ed_http_out *o, const char *s)
{
    ed_http_out_json_str(o, s, strlen(s));
}

/* ---- overview ---- */

static void add_size(void *arg, ed_topic *t)
{
    uint64_t *len = arg;
    for (int32_t i = 0; i < ed_topic_n_partitions(t); i++) {
        ed_partition *p = ed_topic_partition(t, i);
        if (p && p->log) *len += ed_log_size(p->log);
    }
}

/* The wear figures of `eddy status --data`, live: earlier runs' total from
 * the wear file (rewritten every few minutes, so this run's part of it is
 * replaced by the platform's count now), this run's writes since the
 * process started. */
static void wear(struct ed_http_out *o, ed_http *h, const struct ed_config *cfg)
{
    uint64_t io = 0;
    if (ed_plat_io_written(&io) != ED_OK) {
        ed_http_out_printf(o, ",\"wear\":null");
        return;
    }
    int64_t now = ed_plat_clock_wall_ms();
    struct ed_wear_status s = {0};
    bool file = cfg && cfg->log_dirs && ed_wear_read(cfg->log_dirs, &s) == ED_OK;
    uint64_t before = !file                           ? 0
                      : s.updated_ms >= h->started_ms ? s.written_len - s.run_written_len
                                                      : s.written_len; /* the last run's file */
    if (!file) s.since_ms = h->started_ms;
    s.run_written_len = io;
    s.written_len = before + s.run_written_len;
    s.run_start_ms = h->started_ms;
    s.updated_ms = now;
    s.endurance_len = cfg ? (uint64_t)cfg->flash_endurance_bytes : 0;
    double per_hour, days_left;
    ed_wear_estimate(&s, &per_hour, &days_left);
    ed_http_out_printf(o,
                       ",\"wear\":{\"written_bytes\":%" PRIu64 ",\"since_ms\":%" PRId64
                       ",\"run_written_bytes\":%" PRIu64 ",\"endurance_bytes\":%" PRIu64
                       ",\"written_bytes_per_hour\":%.0f,\"days_left\":%.0f}",
                       s.written_len, s.since_ms, s.run_written_len, s.endurance_len,
                       per_hour < 0 ? -1.0 : per_hour, days_left < 0 ? -1.0 : days_left);
}

/* Traffic per protocol, disk use against the budget, and the flash wear
 * figures of `eddy status --data` (the wear file, rewritten every few
 * minutes). */
static void overview_more(struct ed_http_out *o, ed_http *h, const struct ed_metrics *m)
{
    ed_broker *b = h->b;
    ed_http_out_printf(o, ",\"protocols\":{");
    for (int p = 1; p < ED_METRICS_N_PROTO; p++) {
        uint64_t n_in = 0, len_in = 0, n_out = 0, len_out = 0;
        for (int i = 0; i < m->n_topics; i++) {
            n_in += m->topics[i].n_in[p];
            len_in += m->topics[i].len_in[p];
            n_out += m->topics[i].n_out[p];
            len_out += m->topics[i].len_out[p];
        }
        ed_http_out_printf(o,
                           "%s\"%s\":{\"records_in\":%" PRIu64 ",\"bytes_in\":%" PRIu64
                           ",\"records_out\":%" PRIu64 ",\"bytes_out\":%" PRIu64 "}",
                           p > 1 ? "," : "", ed_metrics_proto_name((enum ed_metrics_proto)p), n_in,
                           len_in, n_out, len_out);
    }
    uint64_t used = 0;
    ed_topics_each(b->topics, add_size, &used);
    const struct ed_config *cfg = b->cfg;
    ed_http_out_printf(o, "},\"disk\":{\"used_bytes\":%" PRIu64 ",\"budget_bytes\":%" PRId64 "}",
                       used, cfg ? cfg->log_dir_budget_bytes : 0);
    wear(o, h, cfg);
}

void ed_http_rest_overview(struct ed_http_call *k)
{
    ed_broker *b = k->c->h->b;
    const struct ed_metrics *m = ed_metrics_get();
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_MAX);
    int64_t now = ed_plat_clock_wall_ms();
    ed_http_out_printf(&o, "{\"version\":");
    str(&o, ed_http_assets_version);
    ed_http_out_printf(&o, ",\"cluster_id\":");
    str(&o, b->cluster_id);
    ed_http_out_printf(&o,
                       ",\"node_id\":%d,\"time_ms\":%" PRId64 ",\"uptime_ms\":%" PRId64
                       ",\"topics\":%d,\"partitions\":%d,\"connections\":{",
                       (int)b->node_id, now, now - k->c->h->started_ms,
                       (int)ed_topics_count(b->topics), (int)ed_topics_count_partitions(b->topics));
    for (int p = 1; p < ED_METRICS_N_PROTO; p++)
        ed_http_out_printf(&o, "%s\"%s\":%" PRId64, p > 1 ? "," : "",
                           ed_metrics_proto_name((enum ed_metrics_proto)p), m->n_conns_open[p]);
    uint64_t in_n = 0, in_len = 0, out_len = 0;
    for (int i = 0; i < m->n_topics; i++)
        for (int p = 0; p < ED_METRICS_N_PROTO; p++) {
            in_n += m->topics[i].n_in[p];
            in_len += m->topics[i].len_in[p];
            out_len += m->topics[i].len_out[p];
        }
    ed_http_out_printf(&o,
                       "},\"records_in\":%" PRIu64 ",\"bytes_in\":%" PRIu64
                       ",\"bytes_out\":%" PRIu64 ",\"flash_written_bytes\":%" PRIu64
                       ",\"flushes\":%" PRIu64,
                       in_n, in_len, out_len, m->len_flushed, m->n_flushes);
    overview_more(&o, k->c->h, m);
    ed_http_out_printf(&o, "}\n");
    ed_http_reply_json(k->c, &o);
}

/* ---- topics ---- */

struct list_pass {
    struct ed_http_out *o;
    int n;
};

static void topic_summary(struct ed_http_out *o, ed_topic *t)
{
    int64_t records = 0;
    uint64_t size = 0;
    for (int32_t i = 0; i < ed_topic_n_partitions(t); i++) {
        ed_partition *p = ed_topic_partition(t, i);
        if (!p || !p->log) continue;
        records += ed_log_end_offset(p->log) - ed_log_start_offset(p->log);
        size += ed_log_size(p->log);
    }
    ed_http_out_printf(o, "{\"name\":");
    str(o, ed_topic_name(t));
    ed_http_out_printf(
        o, ",\"partitions\":%d,\"internal\":%s,\"records\":%" PRId64 ",\"size_bytes\":%" PRIu64 "}",
        (int)ed_topic_n_partitions(t), ed_topic_is_internal(t) ? "true" : "false", records, size);
}

static void list_one(void *arg, ed_topic *t)
{
    struct list_pass *lp = arg;
    if (lp->n++) ed_http_out_put(lp->o, ",", 1);
    topic_summary(lp->o, t);
}

void ed_http_rest_topics(struct ed_http_call *k)
{
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_MAX);
    ed_http_out_printf(&o, "{\"topics\":[");
    struct list_pass lp = {&o, 0};
    ed_topics_each(k->c->h->b->topics, list_one, &lp);
    ed_http_out_printf(&o, "]}\n");
    ed_http_reply_json(k->c, &o);
}

static ed_topic *topic_of(struct ed_http_call *k)
{
    ed_topic *t = ed_topics_find(k->c->h->b->topics, k->seg[3]);
    if (!t) ed_http_reply_error(k->c, 404, "no such topic");
    return t;
}

void ed_http_rest_topic(struct ed_http_call *k)
{
    ed_topic *t = topic_of(k);
    if (!t) return;
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_MAX);
    topic_summary(&o, t);
    o.len--; /* reopen the object */
    ed_http_out_printf(&o, ",\"partition_list\":[");
    for (int32_t i = 0; i < ed_topic_n_partitions(t); i++) {
        ed_partition *p = ed_topic_partition(t, i);
        if (!p || !p->log) continue;
        ed_http_out_printf(
            &o,
            "%s{\"partition\":%d,\"start_offset\":%" PRId64 ",\"end_offset\":%" PRId64
            ",\"durable_offset\":%" PRId64 ",\"size_bytes\":%" PRIu64 "}",
            i ? "," : "", (int)i, ed_log_start_offset(p->log), ed_log_end_offset(p->log),
            ed_log_durable_offset(p->log), ed_log_size(p->log));
    }
    ed_http_out_printf(&o, "],\"config\":{");
    int n = 0;
    for (const char *const *key = ed_topics_config_keys(); *key; key++) {
        bool def = true;
        const char *v = ed_topic_config_get(t, *key, &def);
        if (!v) continue;
        ed_http_out_printf(&o, "%s", n++ ? "," : "");
        str(&o, *key);
        ed_http_out_printf(&o, ":{\"value\":");
        str(&o, v);
        ed_http_out_printf(&o, ",\"default\":%s}", def ? "true" : "false");
    }
    ed_http_out_printf(&o, "}}\n");
    ed_http_reply_json(k->c, &o);
}

/* ---- records ---- */

void ed_http_rest_record(struct ed_http_out *o, const struct ed_record *r)
{
    ed_http_out_printf(o, "{\"offset\":%" PRId64 ",\"timestamp\":%" PRId64, r->offset,
                       r->timestamp);
    ed_http_out_field(o, "key", r->key, r->key_len);
    ed_http_out_field(o, "value", r->value, r->value_len);
    ed_http_out_put(o, ",", 1);
    ed_http_out_headers(o, r);
    ed_http_out_put(o, "}", 1);
}

struct rec_pass {
    struct ed_http_out *o;
    int n;
};

static bool one_record(void *arg, const struct ed_record *r)
{
    struct rec_pass *rp = arg;
    if (rp->n++) ed_http_out_put(rp->o, ",", 1);
    ed_http_rest_record(rp->o, r);
    return !rp->o->err;
}

/* An int64 query parameter: 1 and *v, 0 when absent, -1 when malformed. */
int ed_http_query_i64(const struct ed_http_req *r, const char *name, int64_t *v)
{
    char buf[32];
    int n = ed_http_query_get(r, name, buf, sizeof buf);
    if (n == -1) return 0;
    if (n <= 0 || !ed_config_parse_int(buf, v)) return -1;
    return 1;
}

ed_partition *ed_http_rest_partition(struct ed_http_call *k)
{
    ed_topic *t = topic_of(k);
    if (!t) return NULL;
    int64_t part = -1;
    ed_partition *p = ed_config_parse_int(k->seg[5], &part) && part >= 0 && part < INT32_MAX
                          ? ed_topic_partition(t, (int32_t)part)
                          : NULL;
    if (!p || !p->log) {
        ed_http_reply_error(k->c, 404, "no such partition");
        return NULL;
    }
    return p;
}

void ed_http_rest_records(struct ed_http_call *k)
{
    ed_partition *p = ed_http_rest_partition(k);
    if (!p) return;
    ed_topic *t = p->topic;
    int part = (int)p->index;
    int64_t offset = 0, ts = 0, limit = RECORDS_DEF;
    int has_off = ed_http_query_i64(k->r, "offset", &offset),
        has_ts = ed_http_query_i64(k->r, "timestamp", &ts);
    int has_lim = ed_http_query_i64(k->r, "limit", &limit);
    if (has_off < 0 || has_ts < 0 || has_lim < 0 || (has_off && has_ts) || limit < 1 ||
        limit > RECORDS_MAX) {
        ed_http_reply_error(k->c, 400,
                            "offset or timestamp (not both) must be integers, limit 1..500");
        return;
    }
    ed_log *log = p->log;
    int64_t start = ed_log_start_offset(log), end = ed_log_end_offset(log);
    if (has_ts) {
        int64_t found_ts;
        if (ed_log_offset_for_time(log, ts, &offset, &found_ts) != ED_OK) offset = end;
    } else if (!has_off) {
        offset = end - limit; /* the latest records */
    }
    if (offset < start) offset = start;
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_MAX);
    ed_http_out_printf(&o, "{\"topic\":");
    str(&o, ed_topic_name(t));
    ed_http_out_printf(&o,
                       ",\"partition\":%d,\"start_offset\":%" PRId64 ",\"end_offset\":%" PRId64
                       ",\"records\":[",
                       part, start, end);
    struct rec_pass rp = {&o, 0};
    int64_t next = offset;
    int rc = ed_http_read_records(log, offset, limit, one_record, &rp, &next);
    if (rc != ED_OK) {
        ED_LOG_WARN_RL("%s-%d: reading records at %" PRId64 " for HTTP failed: %s",
                       ed_topic_name(t), part, next, ed_strerror(rc));
        ed_http_out_free(&o);
        ed_http_reply_error(k->c, 500, "reading the partition failed");
        return;
    }
    ed_http_out_printf(&o, "],\"next_offset\":%" PRId64 "}\n", next);
    ed_http_reply_json(k->c, &o);
}

int ed_http_read_records(ed_log *log, int64_t from, int64_t limit,
                         bool (*fn)(void *arg, const struct ed_record *r), void *arg, int64_t *next)
{
    int64_t end = ed_log_end_offset(log), pos = from, n = 0;
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, ANSWER_MAX);
    uint8_t *buf = NULL;
    int rc = ED_OK;
    bool more = true;
    while (pos < end && n < limit && rc == ED_OK && more) {
        struct ed_log_slice s;
        rc = ed_log_read(log, pos, READ_CHUNK_LEN, &s);
        if (rc != ED_OK || !s.seg || s.len == 0) {
            if (rc == ED_OK) ed_log_slice_release(&s);
            break;
        }
        size_t len = s.len;
        uint8_t *nb = ed_realloc(buf, len);
        if (nb) buf = nb;
        rc = nb ? ed_log_slice_copy(&s, buf, len) : ED_ERR_NOMEM;
        ed_log_slice_release(&s);
        int64_t before = pos;
        for (size_t off = 0;
             rc == ED_OK && more && off + ED_BATCH_HEADER_LEN <= len && n < limit;) {
            rc = ed_batch_iter_begin(&it, buf + off, len - off);
            if (rc != ED_OK) break;
            off += ed_batch_total_len(&it.info);
            struct ed_record r;
            while (more && n < limit && ed_batch_iter_next(&it, &r) == 1) {
                if (r.offset < pos) continue;
                more = fn(arg, &r);
                n++;
                pos = r.offset + 1;
            }
            int64_t last = it.info.base_offset + it.info.last_offset_delta;
            if (more && n < limit && last + 1 > pos) pos = last + 1; /* control records, gaps */
        }
        if (pos == before) break;
    }
    ed_batch_iter_release(&it);
    ed_free(buf);
    *next = pos;
    return rc;
}

/* ---- groups ---- */

struct group_pass {
    struct ed_http_out *o;
    ed_topics *topics;
    const char *last; /* the group being written */
    int n_groups, n_offsets;
    int64_t lag;
};

static void group_end(struct group_pass *gp)
{
    if (gp->last) ed_http_out_printf(gp->o, "],\"lag\":%" PRId64 "}", gp->lag);
}

static void group_row(void *arg, const struct ed_groups_offset *g)
{
    struct group_pass *gp = arg;
    if (!gp->last || strcmp(gp->last, g->group) != 0) {
        group_end(gp);
        ed_http_out_printf(gp->o, "%s{\"group\":", gp->n_groups++ ? "," : "");
        str(gp->o, g->group);
        ed_http_out_printf(gp->o, ",\"state\":");
        str(gp->o, g->state);
        ed_http_out_printf(gp->o, ",\"members\":%d,\"offsets\":[", (int)g->n_members);
        gp->last = g->group;
        gp->n_offsets = 0;
        gp->lag = 0;
    }
    if (!g->topic) return;
    ed_topic *t = ed_topics_find(gp->topics, g->topic);
    ed_partition *p = t ? ed_topic_partition(t, g->partition) : NULL;
    int64_t end = p && p->log ? ed_log_end_offset(p->log) : -1;
    int64_t lag = end >= 0 && g->offset >= 0 && end > g->offset ? end - g->offset : 0;
    gp->lag += lag;
    ed_http_out_printf(gp->o, "%s{\"topic\":", gp->n_offsets++ ? "," : "");
    str(gp->o, g->topic);
    ed_http_out_printf(gp->o,
                       ",\"partition\":%d,\"committed_offset\":%" PRId64 ",\"end_offset\":%" PRId64
                       ",\"lag\":%" PRId64 "}",
                       (int)g->partition, g->offset, end, lag);
}

void ed_http_rest_groups(struct ed_http_call *k)
{
    ed_broker *b = k->c->h->b;
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_MAX);
    ed_http_out_printf(&o, "{\"groups\":[");
    struct group_pass gp = {&o, b->topics, NULL, 0, 0, 0};
    if (b->groups) ed_groups_offsets_each(b->groups, group_row, &gp);
    group_end(&gp);
    ed_http_out_printf(&o, "]}\n");
    ed_http_reply_json(k->c, &o);
}

/* ---- mirror ---- */

void ed_http_rest_mirror(struct ed_http_call *k)
{
    const struct ed_config *cfg = k->c->h->b->cfg;
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_MAX);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", cfg && cfg->log_dirs ? cfg->log_dirs : ".",
             ED_MIRROR_STATUS_FILE);
    bool on = cfg && cfg->mirror_bootstrap_servers && *cfg->mirror_bootstrap_servers;
    if (!on || !ed_http_read_file(path, &o) || !ed_http_json_valid(o.p, o.len)) {
        ed_http_out_free(&o);
        ed_http_out_init(&o, ANSWER_MAX);
        ed_http_out_printf(&o, "{\"state\":\"%s\",\"partitions\":[]}\n", on ? "starting" : "off");
    }
    ed_http_reply_json(k->c, &o);
}

/* ---- recent warnings ---- */

void ed_http_rest_warnings(struct ed_http_call *k)
{
    struct ed_log_recent *w = ed_malloc(sizeof *w * ED_LOG_RECENT_N);
    if (!w) {
        ed_http_reply_error(k->c, 500, "out of memory");
        return;
    }
    int n = ed_log_recent_get(w, ED_LOG_RECENT_N);
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_MAX);
    ed_http_out_printf(&o, "{\"warnings\":[");
    for (int i = 0; i < n; i++) {
        ed_http_out_printf(&o,
                           "%s{\"time_ms\":%" PRId64 ",\"level\":\"%s\",\"line\":", i ? "," : "",
                           w[i].time_ms, w[i].level == ED_LOG_LEVEL_ERR ? "ERROR" : "WARN");
        str(&o, w[i].line);
        ed_http_out_put(&o, "}", 1);
    }
    ed_http_out_printf(&o, "]}\n");
    ed_free(w);
    ed_http_reply_json(k->c, &o);
}

/* ---- config ---- */

/* Whether a key holds a secret: its value is never shown. */
static bool secret(const char *key)
{
    static const char *const words[] = {"password", "secret", "jaas",
                                        ".key",     "token",  "credential"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i]);
        for (const char *w = strstr(key, words[i]); w; w = strstr(w + 1, words[i]))
            if (w[n] == '\0' || w[n] == '.') return true;
    }
    return false;
}

void ed_http_rest_config(struct ed_http_call *k)
{
    struct ed_config *def;
    const struct ed_config *cfg = ed_config_or_default(k->c->h->b->cfg, &def);
    if (!cfg) {
        ed_http_reply_error(k->c, 500, "out of memory");
        return;
    }
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_MAX);
    ed_http_out_printf(&o, "{\"config\":{");
    int n = 0;
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *key = &ed_config_keys[i];
        if (!key->name) continue;
        ed_http_out_printf(&o, "%s", n++ ? "," : "");
        str(&o, key->name);
        ed_http_out_printf(&o, ":{\"value\":");
        bool set = ed_config_is_set(cfg, key->name);
        if (secret(key->name)) {
            const char *v = key->type == ED_CFG_STRING ? ed_config_str(cfg, key->name) : "";
            ed_http_out_printf(&o, "%s", v && *v ? "\"(redacted)\"" : "\"\"");
        } else if (key->type == ED_CFG_INT) {
            ed_http_out_printf(&o, "%" PRId64, ed_config_int(cfg, key->name));
        } else if (key->type == ED_CFG_BOOL) {
            ed_http_out_printf(&o, "%s", ed_config_bool(cfg, key->name) ? "true" : "false");
        } else if (key->type == ED_CFG_STRING || key->type == ED_CFG_ENUM) {
            const char *v = ed_config_str(cfg, key->name);
            str(&o, v ? v : "");
        } else {
            ed_http_out_printf(&o, "null");
        }
        ed_http_out_printf(&o, ",\"set\":%s}", set ? "true" : "false");
    }
    ed_http_out_printf(&o, "}}\n");
    ed_config_free(def);
    ed_http_reply_json(k->c, &o);
}
