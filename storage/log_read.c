/* Reads of a partition log: whole batches by offset (index lookup, then a
 * forward scan of batch headers) handed out as slices of segment files,
 * lookups by timestamp, scans of batch headers, and a walk over every
 * record (loading internal logs). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "log"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/flush.h"
#include "storage/format.h"

/* Makes a sealed segment's on-disk index usable: checked once, rebuilt
 * from the log (and rewritten by the next flush) when it fails. */
static void index_ready(ed_log *log, ed_segment *seg)
{
    if (!seg->index_on_disk || seg->index_checked) return;
    if (ed_index_check_disk(seg) == ED_OK) return;
    ED_LOG_WARN("%s: index files fail their check; rebuilding them from the log", seg->path);
    ed_index_rebuild(seg, log->cfg.index_interval_len);
    ed_flush_request(log);
}

/* Finds the batch holding offset, or the first after it, in seg.
 * ED_ERR_NOENT if the segment ends before. */
static int locate(ed_log *log, ed_segment *seg, int64_t offset, struct ed_hdr_window *w,
                  uint64_t *pos, struct ed_batch_info *b)
{
    index_ready(log, seg);
    uint64_t p = 0;
    int rc = ed_index_lookup_offset(seg, offset, &p);
    if (rc != ED_OK) return rc;
    while (p < seg->len) {
        rc = ed_segment_header(seg, w, p, b);
        if (rc != ED_OK) return rc;
        if (b->base_offset + b->last_offset_delta >= offset) {
            *pos = p;
            return ED_OK;
        }
        p += ed_batch_total_len(b);
    }
    return ED_ERR_NOENT;
}

/* The first batch holding offset or after it, in segments *i and on:
 * its segment (*i), position and header. ED_ERR_NOENT if there is none. */
static int find_batch(ed_log *log, int64_t offset, uint32_t *i, struct ed_hdr_window *w,
                      uint64_t *pos, struct ed_batch_info *b)
{
    for (; *i < log->n_segs; (*i)++) {
        ed_segment *seg = log->segs[*i];
        if (seg->len == 0) continue;
        w->len = 0;
        int rc = locate(log, seg, offset, w, pos, b);
        if (rc != ED_ERR_NOENT) return rc;
    }
    return ED_ERR_NOENT;
}

/* Where the batch holding an offset is: segment index, position, header
 * (w is left on it). */
struct batch_at {
    uint32_t i;
    uint64_t pos;
    struct ed_hdr_window w;
    struct ed_batch_info b;
};

/* ED_ERR_NOENT at the end offset or when no batch holds offset,
 * ED_ERR_RANGE outside [start, end]. */
static int batch_at(ed_log *log, int64_t offset, struct batch_at *at)
{
    if (offset < log->start_offset || offset > log->end_offset) return ED_ERR_RANGE;
    if (offset == log->end_offset) return ED_ERR_NOENT;
    at->i = ed_log_find_segment(log, offset);
    at->pos = 0;
    return find_batch(log, offset, &at->i, &at->w, &at->pos, &at->b);
}

int ed_log_read(ed_log *log, int64_t offset, size_t max_len, struct ed_log_slice *out)
{
    memset(out, 0, sizeof *out);
    out->next_offset = -1;
    struct batch_at at;
    int rc = batch_at(log, offset, &at);
    if (rc != ED_OK) return rc == ED_ERR_NOENT ? ED_OK : rc;
    ed_segment *seg = log->segs[at.i];
    uint64_t pos = at.pos;
    uint64_t end = pos + ed_batch_total_len(&at.b);
    uint64_t limit = max_len > seg->len - pos ? seg->len : pos + max_len;
    if (end < limit) {
        /* Jump to the last indexed batch that still starts inside the
         * limit (every byte before it is whole batches), then scan. */
        uint64_t jump = 0;
        rc = ed_index_lookup_position(seg, limit, &jump);
        if (rc != ED_OK) return rc;
        if (jump > end) end = jump;
        while (end < limit) {
            struct ed_batch_info nb;
            if (ed_segment_header(seg, &at.w, end, &nb) != ED_OK) break;
            if (end + ed_batch_total_len(&nb) > limit) break;
            end += ed_batch_total_len(&nb);
        }
    }
    ed_file *f;
    rc = ed_fdcache_file(seg, &f);
    if (rc != ED_OK) return rc;
    ed_segment_ref(seg);
    out->seg = seg;
    out->file = f;
    out->pos = pos;
    out->len = (size_t)(end - pos);
    out->first_offset = at.b.base_offset;
    if (end == seg->len && at.i + 1 < log->n_segs)
        out->next_offset = log->segs[at.i + 1]->base_offset;
    return ED_OK;
}

int ed_log_bytes_from(ed_log *log, int64_t offset, uint64_t *len)
{
    *len = 0;
    struct batch_at at;
    int rc = batch_at(log, offset, &at);
    if (rc != ED_OK) return rc == ED_ERR_NOENT ? ED_OK : rc;
    uint64_t n = log->segs[at.i]->len - at.pos;
    for (uint32_t j = at.i + 1; j < log->n_segs; j++)
        n += log->segs[j]->len;
    *len = n;
    return ED_OK;
}

void ed_log_slice_release(struct ed_log_slice *s)
{
    if (!s) return;
    ed_segment_unref(s->seg);
    memset(s, 0, sizeof *s);
}

int ed_log_slice_copy(const struct ed_log_slice *s, void *buf, size_t buf_len)
{
    if (!s->seg || s->len == 0) return ED_OK;
    if (buf_len < s->len) return ED_ERR_INVAL;
    size_t got = 0;
    int rc = ed_plat_file_pread(s->file, buf, s->len, s->pos, &got);
    if (rc == ED_OK && got != s->len) rc = ED_ERR_IO;
    return rc;
}

/* Kafka answers a lookup by time with the first record of the found batch
 * whose timestamp is >= ts (and whose offset is still in the log): read the
 * batch and walk its records. If they cannot be read (codec not built in, a
 * damaged batch in a trusted segment) the batch itself is the answer. */
#define REFINE_MAX_RECORDS_LEN (16u << 20)
static void refine_in_batch(ed_log *log, ed_segment *seg, uint64_t pos,
                            const struct ed_batch_info *b, int64_t ts, int64_t *offset,
                            int64_t *timestamp)
{
    size_t total = ed_batch_total_len(b);
    if (b->last_offset_delta == 0 && !ed_batch_is_log_append_time(b)) return;
    uint8_t *buf = total <= ED_SCAN_BUF_LEN ? log->st->scan_buf : ed_malloc(total);
    if (!buf) return;
    size_t got = 0;
    ed_file *f;
    if (ed_fdcache_file(seg, &f) == ED_OK &&
        ed_plat_file_pread(f, buf, total, pos, &got) == ED_OK && got == total) {
        struct ed_batch_iter it;
        struct ed_record r;
        ed_batch_iter_init(&it, REFINE_MAX_RECORDS_LEN);
        if (ed_batch_iter_begin(&it, buf, total) == ED_OK) {
            while (ed_batch_iter_next(&it, &r) == 1) {
                if (r.timestamp >= ts && r.offset >= log->start_offset) {
                    *offset = r.offset;
                    *timestamp = r.timestamp;
                    break;
                }
            }
        }
        ed_batch_iter_release(&it);
    }
    if (buf != log->st->scan_buf) ed_free(buf);
}

int ed_log_offset_for_time(ed_log *log, int64_t ts, int64_t *offset, int64_t *timestamp)
{
    *offset = log->end_offset;
    *timestamp = -1;
    for (uint32_t i = 0; i < log->n_segs; i++) {
        ed_segment *seg = log->segs[i];
        if (seg->len == 0 || seg->max_ts < ts) continue;
        if (seg->next_offset <= log->start_offset) continue;
        index_ready(log, seg);
        int64_t from = seg->base_offset;
        int rc = ed_index_lookup_time(seg, ts, &from);
        if (rc != ED_OK) return rc;
        if (from < log->start_offset) from = log->start_offset;
        uint64_t p = 0;
        rc = ed_index_lookup_offset(seg, from, &p);
        if (rc != ED_OK) return rc;
        struct ed_hdr_window w;
        w.len = 0;
        while (p < seg->len) {
            struct ed_batch_info b;
            rc = ed_segment_header(seg, &w, p, &b);
            if (rc != ED_OK) return rc;
            if (b.max_timestamp >= ts && b.base_offset + b.last_offset_delta >= log->start_offset) {
                *offset = ED_MAX(b.base_offset, log->start_offset);
                *timestamp = b.max_timestamp;
                refine_in_batch(log, seg, p, &b, ts, offset, timestamp);
                return ED_OK;
            }
            p += ed_batch_total_len(&b);
        }
    }
    return ED_OK;
}

int ed_log_max_timestamp(ed_log *log, int64_t *offset, int64_t *timestamp)
{
    *offset = -1;
    *timestamp = -1;
    for (uint32_t i = 0; i < log->n_segs; i++) {
        const ed_segment *seg = log->segs[i];
        if (seg->len > 0 && seg->max_ts > *timestamp && seg->max_ts_off >= log->start_offset) {
            *timestamp = seg->max_ts;
            *offset = seg->max_ts_off;
        }
    }
    return ED_OK;
}

int ed_log_scan(ed_log *log, int64_t from_offset, ed_log_batch_cb cb, void *arg)
{
    if (from_offset < log->start_offset) from_offset = log->start_offset;
    if (from_offset >= log->end_offset) return ED_OK;
    for (uint32_t i = ed_log_find_segment(log, from_offset); i < log->n_segs; i++) {
        struct ed_hdr_window w;
        struct ed_batch_info b;
        uint64_t pos = 0;
        int rc = find_batch(log, from_offset, &i, &w, &pos, &b);
        if (rc == ED_ERR_NOENT) break;
        if (rc != ED_OK) return rc;
        ed_segment *seg = log->segs[i];
        /* The callback may append to this log: stop at today's end. */
        uint64_t end = seg->len;
        ed_segment_ref(seg);
        while (pos < end) {
            rc = ed_segment_header(seg, &w, pos, &b);
            if (rc == ED_OK) rc = cb(arg, &b);
            if (rc != ED_OK) break;
            pos += ed_batch_total_len(&b);
        }
        ed_segment_unref(seg);
        if (rc != ED_OK) return rc;
        from_offset = b.base_offset + b.last_offset_delta + 1;
        if (log->deleted) return ED_ERR_CLOSED;
    }
    return ED_OK;
}

/* Visits the records of the n bytes of whole batches at buf (read from
 * offset off): ED_OK, ED_ERR_CORRUPT, or 1 when cb stopped; *next is the
 * offset after the last batch. */
static int each_in(struct ed_batch_iter *it, const uint8_t *buf, size_t len, int64_t off,
                   ed_log_record_cb cb, void *arg, uint64_t *n_skipped, int64_t *next)
{
    for (size_t pos = 0; pos < len;) {
        struct ed_batch_info bi;
        if (ed_batch_parse_header(buf + pos, len - pos, &bi) != ED_OK ||
            ed_batch_total_len(&bi) > len - pos)
            return ED_ERR_CORRUPT;
        *next = bi.base_offset + bi.last_offset_delta + 1;
        if (!ed_batch_is_control(&bi)) {
            int got = -1;
            if (ed_batch_iter_begin(it, buf + pos, len - pos) == ED_OK) {
                struct ed_record rec;
                while ((got = ed_batch_iter_next(it, &rec)) == 1)
                    if (rec.offset >= off && cb(arg, &rec) != 0) return 1;
            }
            if (got < 0 && n_skipped) (*n_skipped)++;
        }
        pos += ed_batch_total_len(&bi);
    }
    return ED_OK;
}

int ed_log_each_record(ed_log *log, size_t read_len, ed_log_record_cb cb, void *arg,
                       uint64_t *n_skipped, int64_t *at)
{
    return ed_log_each_record_from(log, ed_log_start_offset(log), SIZE_MAX, read_len, cb, arg,
                                   n_skipped, at);
}

int ed_log_each_record_from(ed_log *log, int64_t from, size_t max_bytes, size_t read_len,
                            ed_log_record_cb cb, void *arg, uint64_t *n_skipped, int64_t *at)
{
    int64_t off = from, end = ed_log_end_offset(log);
    uint8_t *buf = NULL;
    size_t cap = 0, total = 0;
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, 16u << 20);
    int rc = ED_OK;
    while (off < end && total < max_bytes) {
        struct ed_log_slice s;
        rc = ed_log_read(log, off, read_len, &s);
        if (rc != ED_OK) break;
        if (s.len == 0) {
            ed_log_slice_release(&s);
            break;
        }
        if (s.len > cap) {
            uint8_t *p = ed_realloc(buf, s.len);
            if (!p) {
                ed_log_slice_release(&s);
                rc = ED_ERR_NOMEM;
                break;
            }
            buf = p;
            cap = s.len;
        }
        rc = ed_log_slice_copy(&s, buf, s.len);
        size_t len = s.len;
        total += len;
        ed_log_slice_release(&s);
        if (rc != ED_OK) break;
        int64_t next = off;
        rc = each_in(&it, buf, len, off, cb, arg, n_skipped, &next);
        if (rc == 1) { /* stopped by cb */
            rc = ED_OK;
            break;
        }
        if (rc != ED_OK || next <= off) break;
        off = next;
    }
    ed_batch_iter_release(&it);
    ed_free(buf);
    if (at) *at = off;
    return rc;
}
