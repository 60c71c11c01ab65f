/* One segment file, <20-digit base offset>.log: creating and opening it,
 * appends that reserve disk blocks ahead (so a full disk fails before a
 * write, never in the middle of a batch) and cut the file back if a write
 * fails anyway, reading batch headers, reference counting and removal.
 * The logical end is seg->len, never the file's size: past it the file
 * may hold zeros written ahead (write_ahead.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "segment"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/segment.h"

/* Longest suffix appended to a segment path: ".timeindex.tmp". */
#define SUFFIX_ROOM 16

static int seg_alloc(const char *dir, int64_t base, int64_t now_ms, ed_segment **out)
{
    char buf[ED_STORAGE_PATH_MAX];
    if (ed_segdir_path(buf, sizeof buf - SUFFIX_ROOM, dir, base, "") != ED_OK) {
        ED_LOG_ERR("segment path too long: %s", dir);
        return ED_ERR_INVAL;
    }
    ed_segment *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    s->path = ed_strdup(buf);
    if (!s->path) {
        ed_free(s);
        return ED_ERR_NOMEM;
    }
    atomic_init(&s->refs, 1);
    s->base_offset = base;
    s->next_offset = base;
    s->max_ts = -1;
    s->max_ts_off = -1;
    s->first_ts = -1;
    s->created_ms = now_ms;
    *out = s;
    return ED_OK;
}

static void seg_free(ed_segment *s)
{
    ed_fdcache_detach(s);
    ed_plat_file_close(s->file);
    ed_index_close(s);
    ed_free(s->path);
    ed_free(s);
}

int ed_segment_path(const ed_segment *seg, const char *suffix, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s%s", seg->path, suffix);
    return n < 0 || (size_t)n >= cap ? ED_ERR_INVAL : ED_OK;
}

static void unlink_quiet(const ed_segment *seg, const char *suffix)
{
    char p[ED_STORAGE_PATH_MAX];
    if (ed_segment_path(seg, suffix, p, sizeof p) != ED_OK) return;
    int rc = ed_plat_path_unlink(p);
    if (rc != ED_OK && rc != ED_ERR_NOENT) ED_LOG_WARN("cannot remove %s: %s", p, ed_strerror(rc));
}

int ed_segment_create(const char *dir, int64_t base, int64_t now_ms, ed_segment **out)
{
    ed_segment *s;
    int rc = seg_alloc(dir, base, now_ms, &s);
    if (rc != ED_OK) return rc;
    /* A file of this name can only be the leftover of an earlier attempt
     * (the base is past every offset in the log): start it afresh, and
     * never let old index files describe the new contents. */
    unlink_quiet(s, ".index");
    unlink_quiet(s, ".timeindex");
    char p[ED_STORAGE_PATH_MAX];
    ed_segment_path(s, ".log", p, sizeof p);
    rc = ed_plat_file_open(p, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &s->file);
    if (rc != ED_OK) {
        ED_LOG_ERR("cannot create segment %s: %s", p, ed_strerror(rc));
        seg_free(s);
        return rc;
    }
    *out = s;
    return ED_OK;
}

int ed_segment_open(const char *dir, int64_t base, int64_t now_ms, bool writable, ed_segment **out)
{
    ed_segment *s;
    int rc = seg_alloc(dir, base, now_ms, &s);
    if (rc != ED_OK) return rc;
    char p[ED_STORAGE_PATH_MAX];
    ed_segment_path(s, ".log", p, sizeof p);
    rc = ed_plat_file_open(p, writable ? ED_FILE_WRITE : ED_FILE_READ, &s->file);
    if (rc == ED_OK) rc = ed_plat_file_size(s->file, &s->len);
    if (rc != ED_OK) {
        ED_LOG_ERR("cannot open segment %s: %s", p, ed_strerror(rc));
        seg_free(s);
        return rc;
    }
    s->synced_len = s->len;
    s->reserved_end = s->len;
    s->file_len = s->len;
    *out = s;
    return ED_OK;
}

void ed_segment_ref(ed_segment *seg)
{
    atomic_fetch_add_explicit(&seg->refs, 1, memory_order_relaxed);
}

void ed_segment_unref(ed_segment *seg)
{
    if (!seg) return;
    if (atomic_fetch_sub_explicit(&seg->refs, 1, memory_order_acq_rel) == 1) seg_free(seg);
}

int ed_segment_append(ed_segment *seg, const struct ed_iovec *iov, int n_iov, size_t len,
                      uint64_t reserve_to)
{
    uint64_t end = seg->len + len;
    if (end > seg->reserved_end) {
        /* Reserve in large chunks (few fallocate calls, contiguous blocks);
         * if the chunk does not fit, try for exactly what this write needs. */
        uint64_t to = (end + ED_SEG_RESERVE_LEN - 1) / ED_SEG_RESERVE_LEN * ED_SEG_RESERVE_LEN;
        if (reserve_to >= end && to > reserve_to) to = reserve_to;
        int rc = ed_plat_file_reserve(seg->file, seg->reserved_end, to - seg->reserved_end);
        if (rc == ED_ERR_NOSPC && to > end) {
            to = end;
            rc = ed_plat_file_reserve(seg->file, seg->reserved_end, to - seg->reserved_end);
        }
        if (rc != ED_OK) return rc;
        seg->reserved_end = to;
    }
    int rc = ed_plat_file_pwritev(seg->file, iov, n_iov, seg->len);
    if (rc != ED_OK) {
        /* Part of the data may have reached the file: cut it so that no
         * reader (nor recovery after a crash) meets a partial batch. */
        int trc = ed_plat_file_truncate(seg->file, seg->len);
        if (trc != ED_OK)
            ED_LOG_ERR("%s.log: cannot cut back to %" PRIu64 " after a failed write: %s", seg->path,
                       seg->len, ed_strerror(trc));
        seg->reserved_end = seg->len;
        seg->file_len = seg->len;
        return rc;
    }
    seg->len = end;
    if (seg->file_len < end) seg->file_len = end;
    return ED_OK;
}

int ed_segment_header(ed_segment *seg, struct ed_hdr_window *w, uint64_t pos,
                      struct ed_batch_info *b)
{
    if (pos + ED_BATCH_HEADER_LEN > seg->len)
        return ED_ERR_CORRUPT_AT("%s.log: batch header at position %" PRIu64
                                 " runs past the segment end %" PRIu64,
                                 seg->path, pos, seg->len);
    if (w->len == 0 || pos < w->pos || pos + ED_BATCH_HEADER_LEN > w->pos + w->len) {
        size_t want = (size_t)ED_MIN((uint64_t)sizeof w->buf, seg->len - pos);
        size_t got = 0;
        ed_file *f;
        int rc = ed_fdcache_file(seg, &f);
        if (rc == ED_OK) rc = ed_plat_file_pread(f, w->buf, want, pos, &got);
        if (rc != ED_OK) return rc;
        if (got < ED_BATCH_HEADER_LEN)
            return ED_ERR_CORRUPT_AT(
                "%s.log: file ends inside the batch header at position %" PRIu64, seg->path, pos);
        w->pos = pos;
        w->len = (uint32_t)got;
    }
    if (ed_batch_parse_header(w->buf + (pos - w->pos), ED_BATCH_HEADER_LEN, b) != ED_OK)
        return ED_ERR_CORRUPT_AT("%s.log: invalid batch header at position %" PRIu64, seg->path,
                                 pos);
    if (pos + ed_batch_total_len(b) > seg->len)
        return ED_ERR_CORRUPT_AT("%s.log: batch at position %" PRIu64
                                 " runs past the segment end %" PRIu64,
                                 seg->path, pos, seg->len);
    return ED_OK;
}

void ed_segment_remove_files(ed_segment *seg)
{
    unlink_quiet(seg, ".log");
    unlink_quiet(seg, ".index");
    unlink_quiet(seg, ".timeindex");
}
