/* The mirror's local files: the durable "mirrored up to" mark of each
 * partition (mirror.state) and the status written for `eddy mirror status`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "mirror"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "core/kafka/klink.h"
#include "core/kafka/schema.h"
#include "core/kafka/mirror.h"
#include "core/kafka/mirror_int.h"
#include "core/config.h"
#include "core/partitioner.h"
#include "core/topics.h"

static const char *const phase_names[] = {
    [P_WAIT] = "connecting",    [P_META] = "connecting",   [P_CREATE] = "connecting",
    [P_CONFIGS] = "connecting", [P_COORD] = "connecting",  [P_INIT] = "connecting",
    [P_CKPT] = "connecting",    [P_SCAN] = "connecting",   [P_IDLE] = "mirroring",
    [P_REFRESH] = "mirroring",  [P_ADD] = "mirroring",     [P_PRODUCE] = "mirroring",
    [P_LEADERS] = "mirroring",  [P_RECOORD] = "mirroring", [P_END] = "mirroring",
    [P_STOPPED] = "stopped"};
_Static_assert(ED_ARRAY_LEN(phase_names) == P_STOPPED + 1, "a phase without a name");

/* mirror.state: magic, version, count, body CRC32C, header CRC32C (big
 * endian, docs/format.md), then per partition: topic length (u16), topic,
 * partition (i32), mark (i64), and from version 2 the mapping after an
 * upstream topic grew: map count (i32), remap from (i64). Written to a
 * temporary file, synced, renamed over the old one, the folder synced. */
#define STATE_HEAD_LEN 18
#define STATE_V1_LEN   12 /* an entry's fixed part after the topic: partition, mark */
#define STATE_V2_LEN   24 /* ... then map count, remap from */

int ed_mirror_save_state(ed_mirror *m)
{
    size_t len = STATE_HEAD_LEN;
    for (int i = 0; i < m->n_mp; i++)
        len += 2 + strlen(m->mp[i].topic) + STATE_V2_LEN;
    uint8_t *buf = ed_malloc(len);
    if (!buf) return ED_ERR_NOMEM;
    size_t o = STATE_HEAD_LEN;
    for (int i = 0; i < m->n_mp; i++) {
        const struct mpart *p = &m->mp[i];
        size_t tl = strlen(p->topic);
        ed_put_be16(buf + o, (uint16_t)tl);
        memcpy(buf + o + 2, p->topic, tl);
        o += 2 + tl;
        ed_put_be32(buf + o, (uint32_t)p->partition);
        ed_put_be64(buf + o + 4, (uint64_t)p->mark);
        ed_put_be32(buf + o + 12, (uint32_t)p->map_n);
        ed_put_be64(buf + o + 16, (uint64_t)p->remap_from);
        o += STATE_V2_LEN;
    }
    ed_put_be32(buf, STATE_MAGIC);
    ed_put_be16(buf + 4, STATE_VERSION);
    ed_put_be32(buf + 6, (uint32_t)m->n_mp);
    ed_put_be32(buf + 10, ed_crc32c(0, buf + STATE_HEAD_LEN, len - STATE_HEAD_LEN));
    ed_put_be32(buf + 14, ed_crc32c(0, buf, 14));
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", m->state_path);
    ed_file *f = NULL;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc == ED_OK) rc = ed_plat_file_pwrite(f, buf, len, 0);
    if (rc == ED_OK) rc = ed_plat_file_datasync(f);
    if (f) ed_plat_file_close(f);
    if (rc == ED_OK) rc = ed_plat_path_rename(tmp, m->state_path);
    if (rc == ED_OK) rc = ed_plat_dir_sync(m->cfg->log_dirs);
    ed_free(buf);
    if (rc) ED_LOG_WARN_RL("cannot write %s: %s", m->state_path, ed_strerror(rc));
    m->state_dirty = rc != ED_OK;
    m->state_saved_ms = ed_plat_loop_now_ms(m->b->loop);
    return rc;
}

void ed_mirror_save_state_soon(ed_mirror *m)
{
    m->state_dirty = true;
    if (ed_plat_loop_now_ms(m->b->loop) - m->state_saved_ms >= STATE_SAVE_MS)
        ed_mirror_save_state(m);
}

int ed_mirror_state_parse(const uint8_t *b, size_t len, struct ed_mirror_state_entry **out,
                          uint32_t *n_out, char *why, size_t why_len)
{
    *out = NULL;
    *n_out = 0;
    const char *bad = NULL;
    uint16_t ver = len >= STATE_HEAD_LEN ? ed_get_be16(b + 4) : 0;
    size_t fixed = ver == 1 ? STATE_V1_LEN : STATE_V2_LEN;
    uint32_t n = len >= STATE_HEAD_LEN ? ed_get_be32(b + 6) : 0;
    if (len < STATE_HEAD_LEN || ed_get_be32(b) != STATE_MAGIC)
        bad = "not a mirror.state file (magic)";
    else if (ver < 1 || ver > STATE_VERSION)
        bad = "unknown version";
    else if (ed_get_be32(b + 14) != ed_crc32c(0, b, 14))
        bad = "header CRC mismatch";
    else if (ed_get_be32(b + 10) != ed_crc32c(0, b + STATE_HEAD_LEN, len - STATE_HEAD_LEN))
        bad = "body CRC mismatch";
    else if (n > (len - STATE_HEAD_LEN) / (2 + fixed))
        bad = "more entries than the file holds";
    struct ed_mirror_state_entry *e = NULL;
    if (!bad && n > 0) {
        e = ed_calloc(n, sizeof *e);
        if (!e) return ED_ERR_NOMEM;
    }
    size_t o = STATE_HEAD_LEN;
    for (uint32_t i = 0; !bad && i < n; i++) {
        size_t tl = ed_get_be16(b + o);
        if (tl == 0 || tl > ED_TOPIC_NAME_MAX || len - o - 2 < tl + fixed) {
            bad = "an entry runs past the end or its topic name is too long";
            break;
        }
        memcpy(e[i].topic, b + o + 2, tl);
        e[i].topic[tl] = 0;
        o += 2 + tl;
        e[i].partition = (int32_t)ed_get_be32(b + o);
        e[i].mark = (int64_t)ed_get_be64(b + o + 4);
        e[i].map_n = ver >= 2 ? (int32_t)ed_get_be32(b + o + 12) : 0;
        e[i].remap_from = ver >= 2 ? (int64_t)ed_get_be64(b + o + 16) : -1;
        o += fixed;
        if (memchr(e[i].topic, 0, tl) || e[i].partition < 0 || e[i].map_n < 0 ||
            e[i].remap_from < -1)
            bad = "an entry has a bad topic, partition or mapping";
    }
    if (!bad && o != len) bad = "bytes after the last entry";
    if (bad) {
        ed_free(e);
        snprintf(why, why_len, "%s", bad);
        return ED_ERR_CORRUPT;
    }
    *out = e;
    *n_out = n;
    return ED_OK;
}

/* Reads the marks (and mappings) of the partitions known now; a file that
 * fails its checks is reported and ignored whole (it is a hint), but still
 * says that this site has mirrored before. */
void ed_mirror_load_state(ed_mirror *m)
{
    bool is_dir = false;
    uint64_t size = 0;
    if (ed_plat_path_stat(m->state_path, &is_dir, &size) != ED_OK || is_dir) return;
    m->have_state = true;
    char why[128] = "too small or too large";
    int rc = ED_ERR_CORRUPT;
    struct ed_mirror_state_entry *e = NULL;
    uint32_t n = 0;
    if (size >= STATE_HEAD_LEN && size <= (64u << 20)) {
        uint8_t *buf = ed_malloc((size_t)size);
        if (!buf) return;
        ed_file *f = NULL;
        size_t got = 0;
        rc = ed_plat_file_open(m->state_path, ED_FILE_READ, &f);
        if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
        if (f) ed_plat_file_close(f);
        if (rc == ED_OK && got != size) rc = ED_ERR_IO;
        if (rc == ED_OK)
            rc = ed_mirror_state_parse(buf, (size_t)size, &e, &n, why, sizeof why);
        else
            snprintf(why, sizeof why, "%s", ed_strerror(rc));
        ed_free(buf);
    }
    if (rc != ED_OK) {
        ED_LOG_WARN("%s fails its checks (%s): ignored (the upstream checkpoints decide)",
                    m->state_path, why);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        for (int k = 0; k < m->n_mp; k++) {
            struct mpart *p = &m->mp[k];
            if (p->partition != e[i].partition || strcmp(p->topic, e[i].topic) != 0) continue;
            p->mark = e[i].mark;
            p->map_n = e[i].map_n;
            p->remap_from = e[i].remap_from;
        }
    ed_free(e);
}

/* ---- status ---- */

/* CreateTime of the record at offset in log (-1 when it cannot be read):
 * the batch holding it is read and its records walked. */
static int64_t record_time(ed_log *log, int64_t offset)
{
    struct ed_log_slice s;
    if (ed_log_read(log, offset, 1, &s) != ED_OK || !s.seg) return -1;
    int64_t ts = -1;
    uint8_t *buf = ed_malloc(s.len);
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, 64u << 20);
    if (buf && ed_log_slice_copy(&s, buf, s.len) == ED_OK) {
        size_t off = 0;
        while (ts < 0 && s.len - off >= 61) {
            size_t len = 12 + (size_t)ed_get_be32(buf + off + 8);
            if (len > s.len - off || ed_batch_iter_begin(&it, buf + off, len) != ED_OK) break;
            struct ed_record rec;
            while (ed_batch_iter_next(&it, &rec) == 1)
                if (rec.offset >= offset) {
                    ts = rec.timestamp;
                    break;
                }
            off += len;
        }
    }
    ed_batch_iter_release(&it);
    ed_free(buf);
    ed_log_slice_release(&s);
    return ts;
}

/* The lag in bytes and the CreateTime of the oldest unmirrored record of p
 * (mirrored up to done, log end at end), recomputed when they move. */
static void backlog_detail(struct mpart *p, ed_log *log, int64_t done, int64_t end)
{
    if (!log || done >= end) {
        p->lag_len = 0;
        p->oldest_off = -1;
        return;
    }
    int64_t from = done < ed_log_start_offset(log) ? ed_log_start_offset(log) : done;
    if (p->lag_len_done != done || p->lag_len_end != end) {
        uint64_t len = 0;
        if (ed_log_bytes_from(log, from, &len) == ED_OK) p->lag_len = len;
        p->lag_len_done = done;
        p->lag_len_end = end;
    }
    if (p->oldest_off != done) {
        p->oldest_ts = record_time(log, from);
        p->oldest_off = done;
    }
}

int64_t ed_mirror_backlog_age_ms(ed_mirror *m, struct mpart *p)
{
    ed_log *log = ed_mirror_part_log(m, p);
    int64_t end = log ? ed_log_end_offset(log) : 0;
    int64_t done = p->next >= 0 ? p->next : p->mark;
    backlog_detail(p, log, done, end);
    int64_t now = ed_plat_clock_wall_ms();
    return p->oldest_off >= 0 && p->oldest_ts >= 0 && now > p->oldest_ts ? now - p->oldest_ts : 0;
}

/* Throughput over the last window: records per partition, bytes overall. */
static void rates(ed_mirror *m)
{
    uint64_t now = ed_plat_loop_now_ms(m->b->loop);
    if (m->rate_ms && now - m->rate_ms < RATE_WINDOW_MS) return;
    uint64_t dt = m->rate_ms ? now - m->rate_ms : 0;
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        int64_t done = p->next >= 0 ? p->next : p->mark;
        p->records_per_sec = dt && p->rate_done >= 0 && done > p->rate_done
                                 ? (int64_t)((uint64_t)(done - p->rate_done) * 1000 / dt)
                                 : 0;
        p->rate_done = done;
    }
    m->bytes_per_sec = dt ? (int64_t)((m->n_bytes - m->rate_bytes) * 1000 / dt) : 0;
    m->rate_bytes = m->n_bytes;
    m->rate_ms = now;
}

void ed_mirror_json_str(char *out, size_t len, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
}

void ed_mirror_write_status(ed_mirror *m)
{
    size_t cap = 1024 + (size_t)m->n_mp * 700 + (size_t)m->n_gaps * 400;
    char *buf = ed_malloc(cap);
    if (!buf) return;
    char err[1100], site[300];
    /* a standing problem of an upstream topic's settings shows while
     * nothing newer went wrong */
    ed_mirror_json_str(err, sizeof err, m->last_error[0] ? m->last_error : m->topic_problem);
    ed_mirror_json_str(site, sizeof site, m->site);
    int64_t now_wall = ed_plat_clock_wall_ms();
    rates(m);
    const char *state = phase_names[m->phase];
    if (m->phase == P_STOPPED && strncmp(m->last_error, "fenced", 6) == 0)
        state = "fenced";
    else if (m->phase == P_STOPPED)
        state = "error";
    size_t o = (size_t)snprintf(buf, cap,
                                "{\"site\": \"%s\", \"upstream\": \"%s\", \"state\": \"%s\", "
                                "\"link\": \"%s\", \"transactions\": %" PRIu64
                                ", \"bytes_per_sec\": %" PRId64 ", \"last_error\": \"%s\", "
                                "\"updated_ms\": %" PRId64 ", \"partitions\": [",
                                site, ed_klink_name(m->boot), state, m->link_state, m->n_txns,
                                m->bytes_per_sec, err, now_wall);
    for (int i = 0; i < m->n_mp && o < cap; i++) {
        struct mpart *p = &m->mp[i];
        ed_log *log = ed_mirror_part_log(m, p);
        int64_t end = log ? ed_log_end_offset(log) : 0;
        int64_t done = p->next >= 0 ? p->next : p->mark;
        const char *ps = state;
        if (m->phase >= P_IDLE && m->phase <= P_END) ps = done >= end ? "caught-up" : "mirroring";
        if (m->ut[p->ut].refused) ps = "error";
        backlog_detail(p, log, done, end);
        int64_t age = p->oldest_off >= 0 && p->oldest_ts >= 0 && now_wall > p->oldest_ts
                          ? now_wall - p->oldest_ts
                          : 0;
        o += (size_t)snprintf(buf + o, cap - o,
                              "%s\n  {\"topic\": \"%s\", \"partition\": %d, \"upstream\": \"%s\", "
                              "\"mirrored\": %" PRId64 ", \"end\": %" PRId64 ", \"lag\": %" PRId64
                              ", \"lag_bytes\": %" PRIu64 ", \"oldest_unmirrored_ms\": %" PRId64
                              ", \"records_per_sec\": %" PRId64 ", \"state\": \"%s\"}",
                              i ? "," : "", p->topic, (int)p->partition, m->ut[p->ut].name, done,
                              end, end > done ? end - done : 0, p->lag_len, age, p->records_per_sec,
                              ps);
    }
    if (o < cap) o += (size_t)snprintf(buf + o, cap - o, "\n]");
    if (o < cap) o += ed_mirror_gap_status(m, buf + o, cap - o);
    if (o < cap) o += (size_t)snprintf(buf + o, cap - o, "}\n");
    if (o >= cap) o = cap - 1;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", m->status_path);
    ed_file *f = NULL;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc == ED_OK) rc = ed_plat_file_pwrite(f, buf, o, 0);
    if (f) ed_plat_file_close(f);
    if (rc == ED_OK) ed_plat_path_rename(tmp, m->status_path);
    ed_free(buf);
}

void ed_mirror_on_status(ed_timer *t, void *arg)
{
    ed_mirror *m = arg;
    ed_mirror_write_status(m);
    ed_plat_timer_start(m->b->loop, t, STATUS_MS, ed_mirror_on_status, m);
}
