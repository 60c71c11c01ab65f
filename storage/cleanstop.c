/* The clean-shutdown marker (see cleanstop.h): encoding it at a clean stop,
 * decoding and checking it at open, removing it before the first append.
 *
 * Layout (integers big-endian; docs/format.md, "Clean-shutdown marker"):
 *
 *   header, 16 bytes: magic "EDCS", version u16 (1), reserved u16 (0),
 *                     n_logs u32, CRC32C u32 of the 12 bytes before it
 *   n_logs records:   length u32 (of the body), CRC32C u32 (of the body),
 *                     body: topic length u16, topic, partition i32,
 *                     active base i64, size u64, next offset i64,
 *                     first timestamp i64, max timestamp i64, offset of the
 *                     max timestamp i64, bytes since the last offset entry
 *                     u64, n_off u32, n_time u32, n_off offset entries
 *                     (relative offset u32, position u32), n_time time
 *                     entries (timestamp i64, relative offset u32)
 *   nothing after the last record.
 *
 * Any failed check makes the whole file count as absent: every active
 * segment is then scanned as after a crash. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "storage"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/cleanstop.h"

#define REC_HDR_LEN    8  /* length, CRC32C */
#define BODY_FIXED     70 /* topic length u16 + the fixed fields after the topic */
#define OFF_ENTRY_LEN  8
#define TIME_ENTRY_LEN 12

static const char NOMEM[] = "out of memory";

/* ---- writing ---- */

/* A log whose active segment the marker may describe: everything in it
 * synced, its folder entry too, nothing in flight. */
static bool describable(const ed_log *log)
{
    if (log->deleted || log->broken || log->job_busy || log->dir_dirty || log->n_segs == 0)
        return false;
    const ed_segment *seg = ed_log_active(log);
    return !seg->sealed && !seg->index_on_disk && seg->synced_len == seg->len &&
           seg->len <= INT32_MAX && seg->next_offset == log->end_offset;
}

static size_t record_len(const ed_log *log)
{
    const ed_segment *seg = ed_log_active(log);
    return REC_HDR_LEN + BODY_FIXED + strlen(log->topic) + (size_t)seg->idx.n_off * OFF_ENTRY_LEN +
           (size_t)seg->idx.n_time * TIME_ENTRY_LEN;
}

static uint8_t *put_record(uint8_t *p, const ed_log *log)
{
    const ed_segment *seg = ed_log_active(log);
    const struct ed_index *ix = &seg->idx;
    size_t tn = strlen(log->topic);
    uint8_t *body = p + REC_HDR_LEN, *q = body;
    ed_put_be16(q, (uint16_t)tn);
    memcpy(q + 2, log->topic, tn);
    q += 2 + tn;
    ed_put_be32(q, (uint32_t)log->partition);
    ed_put_be64(q + 4, (uint64_t)seg->base_offset);
    ed_put_be64(q + 12, seg->len);
    ed_put_be64(q + 20, (uint64_t)seg->next_offset);
    ed_put_be64(q + 28, (uint64_t)seg->first_ts);
    ed_put_be64(q + 36, (uint64_t)seg->max_ts);
    ed_put_be64(q + 44, (uint64_t)seg->max_ts_off);
    ed_put_be64(q + 52, ix->len_since_entry);
    ed_put_be32(q + 60, ix->n_off);
    ed_put_be32(q + 64, ix->n_time);
    q += BODY_FIXED - 2;
    for (uint32_t i = 0; i < ix->n_off; i++, q += OFF_ENTRY_LEN) {
        ed_put_be32(q, ix->off[i].rel);
        ed_put_be32(q + 4, ix->off[i].pos);
    }
    for (uint32_t i = 0; i < ix->n_time; i++, q += TIME_ENTRY_LEN) {
        ed_put_be64(q, (uint64_t)ix->time[i].ts);
        ed_put_be32(q + 8, ix->time[i].rel);
    }
    ed_put_be32(p, (uint32_t)(q - body));
    ed_put_be32(p + 4, ed_crc32c(0, body, (size_t)(q - body)));
    return q;
}

int ed_cleanstop_write(ed_storage *st)
{
    size_t len = ED_CLEANSTOP_HDR_LEN;
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->n_logs; i++) {
        if (!describable(st->logs[i])) continue;
        len += record_len(st->logs[i]);
        n++;
    }
    if (len > ED_CLEANSTOP_FILE_MAX) {
        ED_LOG_INFO("clean-shutdown marker not written (%zu bytes): the next open scans", len);
        return ED_ERR_TOOBIG;
    }
    uint8_t *buf = ed_malloc(len);
    if (!buf) return ED_ERR_NOMEM;
    memcpy(buf, ED_CLEANSTOP_MAGIC, 4);
    ed_put_be16(buf + 4, ED_CLEANSTOP_VERSION);
    ed_put_be16(buf + 6, 0);
    ed_put_be32(buf + 8, n);
    ed_put_be32(buf + 12, ed_crc32c(0, buf, 12));
    uint8_t *p = buf + ED_CLEANSTOP_HDR_LEN;
    for (uint32_t i = 0; i < st->n_logs; i++)
        if (describable(st->logs[i])) p = put_record(p, st->logs[i]);
    ED_ASSERT((size_t)(p - buf) == len);
    int rc = ed_checkpoint_replace(st, ED_CLEANSTOP_FILE, buf, len);
    ed_free(buf);
    return rc;
}

/* ---- reading ---- */

/* A bounded cursor with a sticky error. */
struct cur {
    const uint8_t *p, *end;
    bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *q = c->p;
    c->p += n;
    return q;
}

static uint32_t get32(struct cur *c)
{
    const uint8_t *q = take(c, 4);
    return q ? ed_get_be32(q) : 0;
}

static int64_t get64(struct cur *c)
{
    const uint8_t *q = take(c, 8);
    return q ? (int64_t)ed_get_be64(q) : 0;
}

/* Decodes and checks one record body into e; the reason when it fails. */
static const char *decode_body(struct cur *c, struct ed_cleanstop_log *e)
{
    const uint8_t *q = take(c, 2);
    size_t tn = q ? ed_get_be16(q) : 0;
    const uint8_t *t = take(c, tn);
    if (!t || tn > ED_TOPIC_MAX) return "bad topic length";
    memcpy(e->topic, t, tn);
    e->topic[tn] = '\0';
    if (!ed_checkpoint_topic_valid(e->topic)) return "bad topic name";
    e->partition = (int32_t)get32(c);
    e->base = get64(c);
    e->len = (uint64_t)get64(c);
    e->next_offset = get64(c);
    e->first_ts = get64(c);
    e->max_ts = get64(c);
    e->max_ts_off = get64(c);
    uint64_t since = (uint64_t)get64(c);
    uint32_t n_off = get32(c), n_time = get32(c);
    if (c->bad) return "record too short";
    if (e->partition < 0 || e->base < 0 || e->len > INT32_MAX || e->next_offset < e->base ||
        e->next_offset - e->base > (int64_t)INT32_MAX + 1 ||
        (e->len == 0) != (e->next_offset == e->base) || since > e->len)
        return "impossible segment values";
    if (e->max_ts_off != -1 && (e->max_ts_off < e->base || e->max_ts_off >= e->next_offset))
        return "max timestamp offset outside the segment";
    uint64_t most = e->len / ED_BATCH_HEADER_LEN + 1;
    if (n_off > most || n_time > most) return "more index entries than batches";
    if ((size_t)(c->end - c->p) != (size_t)n_off * OFF_ENTRY_LEN + (size_t)n_time * TIME_ENTRY_LEN)
        return "entries do not fill the record";
    uint32_t n = ED_MAX(n_off, n_time);
    if (ed_index_reserve(&e->idx, n ? n : 1) != ED_OK) return NOMEM;
    int64_t span = e->next_offset - e->base;
    for (uint32_t i = 0; i < n_off; i++) {
        uint32_t rel = get32(c), pos = get32(c);
        if (rel >= span || pos >= e->len ||
            (i > 0 && (rel <= e->idx.off[i - 1].rel || pos <= e->idx.off[i - 1].pos)))
            return "offset entries out of order or range";
        e->idx.off[i].rel = rel;
        e->idx.off[i].pos = pos;
    }
    for (uint32_t i = 0; i < n_time; i++) {
        int64_t ts = get64(c);
        uint32_t rel = get32(c);
        if (rel >= span || (i > 0 && (ts <= e->idx.time[i - 1].ts || rel < e->idx.time[i - 1].rel)))
            return "time entries out of order or range";
        e->idx.time[i].ts = ts;
        e->idx.time[i].rel = rel;
    }
    e->idx.n_off = n_off;
    e->idx.n_time = n_time;
    e->idx.len_since_entry = since;
    return NULL;
}

static const char *decode(const uint8_t *buf, size_t len, struct ed_cleanstop *cs)
{
    if (len < ED_CLEANSTOP_HDR_LEN || memcmp(buf, ED_CLEANSTOP_MAGIC, 4) != 0)
        return "not a clean-shutdown marker";
    if (ed_get_be32(buf + 12) != ed_crc32c(0, buf, 12)) return "header CRC32C mismatch";
    if (ed_get_be16(buf + 4) != ED_CLEANSTOP_VERSION) return "unknown version";
    uint32_t n = ed_get_be32(buf + 8);
    if (n > (len - ED_CLEANSTOP_HDR_LEN) / (REC_HDR_LEN + BODY_FIXED)) return "bad log count";
    cs->logs = ed_calloc(n ? n : 1, sizeof *cs->logs);
    if (!cs->logs) return NOMEM;
    struct cur c = {buf + ED_CLEANSTOP_HDR_LEN, buf + len, false};
    for (uint32_t i = 0; i < n; i++) {
        uint32_t blen = get32(&c), crc = get32(&c);
        const uint8_t *body = take(&c, blen);
        if (!body) return "a record runs past the end";
        if (ed_crc32c(0, body, blen) != crc) return "record CRC32C mismatch";
        struct ed_cleanstop_log *e = &cs->logs[cs->n_logs++];
        struct cur bc = {body, body + blen, false};
        const char *why = decode_body(&bc, e);
        if (why) return why;
        for (uint32_t k = 0; k + 1 < cs->n_logs; k++)
            if (cs->logs[k].partition == e->partition && strcmp(cs->logs[k].topic, e->topic) == 0)
                return "a log named twice";
    }
    if (c.p != c.end) return "bytes after the last record";
    return NULL;
}

int ed_cleanstop_read(ed_storage *st, struct ed_cleanstop *cs)
{
    memset(cs, 0, sizeof *cs);
    char p[ED_STORAGE_PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", st->dir, ED_CLEANSTOP_FILE);
    ed_file *f;
    if (ed_plat_file_open(p, ED_FILE_READ, &f) != ED_OK) return ED_OK;
    cs->present = true;
    uint64_t len = 0;
    uint8_t *buf = NULL;
    const char *why = NULL;
    size_t got = 0;
    if (ed_plat_file_size(f, &len) != ED_OK || len > ED_CLEANSTOP_FILE_MAX) {
        why = "unreadable or too large";
    } else if (!(buf = ed_malloc(len ? (size_t)len : 1))) {
        why = NOMEM;
    } else if (ed_plat_file_pread(f, buf, (size_t)len, 0, &got) != ED_OK || got != len) {
        why = "short read";
    } else {
        why = decode(buf, (size_t)len, cs);
    }
    ed_free(buf);
    ed_plat_file_close(f);
    if (!why) return ED_OK;
    ED_LOG_WARN("%s: %s; ignored (every active segment is scanned)", p, why);
    bool nomem = why == NOMEM;
    ed_cleanstop_free(cs);
    cs->present = true;
    return nomem ? ED_ERR_NOMEM : ED_OK;
}

struct ed_cleanstop_log *ed_cleanstop_find(struct ed_cleanstop *cs, const char *topic,
                                           int32_t partition)
{
    for (uint32_t i = 0; i < cs->n_logs; i++)
        if (cs->logs[i].partition == partition && strcmp(cs->logs[i].topic, topic) == 0)
            return &cs->logs[i];
    return NULL;
}

int ed_cleanstop_remove(ed_storage *st)
{
    char p[ED_STORAGE_PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", st->dir, ED_CLEANSTOP_FILE);
    int rc = ed_plat_path_unlink(p);
    if (rc == ED_ERR_NOENT) rc = ED_OK;
    if (rc == ED_OK) rc = ed_plat_dir_sync(st->dir);
    if (rc != ED_OK) ED_LOG_ERR("cannot remove %s: %s", p, ed_strerror(rc));
    return rc;
}

void ed_cleanstop_free(struct ed_cleanstop *cs)
{
    for (uint32_t i = 0; i < cs->n_logs; i++)
        ed_index_free(&cs->logs[i].idx);
    ed_free(cs->logs);
    memset(cs, 0, sizeof *cs);
}
