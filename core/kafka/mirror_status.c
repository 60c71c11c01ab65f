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
 * partition (i32), mark (i64). Written to a temporary file, synced,
 * renamed over the old one, the folder synced. */
int ed_mirror_save_state(ed_mirror *m)
{
    size_t len = 18;
    for (int i = 0; i < m->n_mp; i++)
        len += 2 + strlen(m->mp[i].topic) + 12;
    uint8_t *buf = ed_malloc(len);
    if (!buf) return ED_ERR_NOMEM;
    size_t o = 18;
    for (int i = 0; i < m->n_mp; i++) {
        size_t tl = strlen(m->mp[i].topic);
        ed_put_be16(buf + o, (uint16_t)tl);
        memcpy(buf + o + 2, m->mp[i].topic, tl);
        o += 2 + tl;
        ed_put_be32(buf + o, (uint32_t)m->mp[i].partition);
        ed_put_be64(buf + o + 4, (uint64_t)m->mp[i].mark);
        o += 12;
    }
    ed_put_be32(buf, STATE_MAGIC);
    ed_put_be16(buf + 4, STATE_VERSION);
    ed_put_be32(buf + 6, (uint32_t)m->n_mp);
    ed_put_be32(buf + 10, ed_crc32c(0, buf + 18, len - 18));
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

/* Reads the marks of the partitions known now; a file that fails its
 * checks is reported and ignored (it is a hint), but still says that this
 * site has mirrored before. */
void ed_mirror_load_state(ed_mirror *m)
{
    bool is_dir = false;
    uint64_t size = 0;
    if (ed_plat_path_stat(m->state_path, &is_dir, &size) != ED_OK || is_dir) return;
    m->have_state = true;
    if (size < 18 || size > (64u << 20)) goto bad;
    uint8_t *buf = ed_malloc((size_t)size);
    if (!buf) return;
    ed_file *f = NULL;
    size_t got = 0;
    int rc = ed_plat_file_open(m->state_path, ED_FILE_READ, &f);
    if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
    if (f) ed_plat_file_close(f);
    bool ok = rc == ED_OK && got == size && ed_get_be32(buf) == STATE_MAGIC &&
              ed_get_be16(buf + 4) == STATE_VERSION &&
              ed_get_be32(buf + 14) == ed_crc32c(0, buf, 14) &&
              ed_get_be32(buf + 10) == ed_crc32c(0, buf + 18, (size_t)size - 18);
    uint32_t n = ok ? ed_get_be32(buf + 6) : 0;
    size_t o = 18;
    for (uint32_t i = 0; ok && i < n; i++) {
        if (o + 2 > size) break;
        size_t tl = ed_get_be16(buf + o);
        if (o + 2 + tl + 12 > size || tl > ED_TOPIC_NAME_MAX) break;
        char topic[ED_TOPIC_NAME_MAX + 1];
        memcpy(topic, buf + o + 2, tl);
        topic[tl] = 0;
        o += 2 + tl;
        int32_t part = (int32_t)ed_get_be32(buf + o);
        int64_t mark = (int64_t)ed_get_be64(buf + o + 4);
        o += 12;
        for (int k = 0; k < m->n_mp; k++)
            if (m->mp[k].partition == part && strcmp(m->mp[k].topic, topic) == 0)
                m->mp[k].mark = mark;
    }
    ed_free(buf);
    if (ok) return;
bad:
    ED_LOG_WARN("%s fails its checks: ignored (the upstream checkpoints decide)", m->state_path);
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
