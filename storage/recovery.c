/* Opening a partition folder after a clean stop or a crash: find the
 * segments, trust sealed ones whose index files pass a sanity check (they
 * were written only after the segment was fsynced), take the active one as
 * the clean-shutdown marker describes it when its size still matches, and
 * scan every other segment batch by batch — length, offsets, CRC32C —
 * cutting the file at the first bad batch, logging the file, position and
 * bytes dropped, and rebuilding its indexes. Zeros alone after the last
 * batch are blocks written ahead (write_ahead.c), not damage: an active
 * segment keeps them for its next appends. The next offset continues after
 * the last valid batch (or at the active segment's base), never below an
 * offset still in the log. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "recovery"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/format.h"
#include "storage/compact_int.h"
#include "storage/cleanstop.h"
#include "storage/recovery.h"

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i]) return false;
    return true;
}

int ed_recovery_scan(ed_segment *seg, int64_t limit_offset, int64_t trusted_below,
                     uint32_t interval, bool truncate, uint8_t *buf, size_t buf_len,
                     struct ed_scan_result *res)
{
    memset(res, 0, sizeof *res);
    uint64_t file_len = 0;
    ed_file *f;
    int rc = ed_fdcache_file(seg, &f);
    if (rc == ED_OK) rc = ed_plat_file_size(f, &file_len);
    if (rc != ED_OK) return rc;
    ED_ASSERT(buf_len >= ED_BATCH_HEADER_LEN);
    ed_index_close(seg);
    seg->index_on_disk = false;
    seg->index_checked = false;
    seg->next_offset = seg->base_offset;
    seg->max_ts = -1;
    seg->max_ts_off = -1;
    seg->first_ts = -1;

    uint64_t wpos = 0, pos = 0;
    size_t wlen = 0;
    const char *why = NULL;
    /* Below the recovery point the headers are read in the same large
     * sequential windows as the rest: small reads at each header defeat
     * read-ahead and made a cold open slower, not faster. */
    /* Makes buf hold [p, p + need) (or as much of the file as there is). */
#define WINDOW(p, need)                                                                            \
    do {                                                                                           \
        if ((p) < wpos || (p) + (need) > wpos + wlen) {                                            \
            size_t want_ = (size_t)ED_MIN((uint64_t)buf_len, file_len - (p));                      \
            rc = ed_plat_file_pread(f, buf, want_, (p), &wlen);                                    \
            wpos = (p);                                                                            \
            if (rc != ED_OK) return rc;                                                            \
        }                                                                                          \
    } while (0)

    while (pos < file_len) {
        if (file_len - pos < ED_BATCH_HEADER_LEN) {
            why = "the file ends inside a batch header";
            break;
        }
        WINDOW(pos, ED_BATCH_HEADER_LEN);
        if (wlen < pos - wpos + ED_BATCH_HEADER_LEN) {
            why = "short read";
            break;
        }
        struct ed_batch_info b;
        if (ed_batch_parse_header(buf + (pos - wpos), ED_BATCH_HEADER_LEN, &b) != ED_OK) {
            why = "invalid batch header (magic or length)";
            break;
        }
        uint64_t total = ed_batch_total_len(&b);
        int64_t last = b.base_offset + (int64_t)b.last_offset_delta;
        if (total > file_len - pos) {
            why = "the batch runs past the end of the file";
            break;
        }
        /* Eddy writes a segment's batches at consecutive offsets from its
         * base (compaction fills the gaps it makes); baseOffset is outside
         * the CRC, so continuity is the only guard against a damaged one. */
        if (b.last_offset_delta < 0 || b.base_offset != seg->next_offset) {
            why = "offsets do not follow on";
            break;
        }
        if (last >= limit_offset || last - seg->base_offset > INT32_MAX) {
            why = "offsets run past the segment's range";
            break;
        }
        /* Batches below the recovery point were fdatasynced before it was
         * written: their framing is checked, their CRC is not. */
        uint32_t crc = b.crc;
        if (last >= trusted_below) {
            crc = 0;
            for (uint64_t p = pos + ED_BATCH_OFF_ATTRIBUTES, end = pos + total; p < end;) {
                WINDOW(p, 1);
                if (wlen == 0) break;
                size_t n = (size_t)(ED_MIN(end, wpos + wlen) - p);
                crc = ed_crc32c(crc, buf + (p - wpos), n);
                p += n;
            }
        }
        if (crc != b.crc) {
            why = "CRC32C mismatch";
            break;
        }
        rc = ed_index_reserve(&seg->idx, 1);
        if (rc != ED_OK) return rc;
        ed_index_note_batch(seg, &b, pos, interval);
        pos += total;
        res->n_batches++;
        res->n_records += (uint64_t)(b.record_count > 0 ? b.record_count : 0);
    }
    bool zeros = pos < file_len;
    for (uint64_t p = pos; zeros && p < file_len;) {
        WINDOW(p, 1);
        if (wlen == 0) {
            zeros = false; /* the file ended early: cut, do not trust */
            break;
        }
        size_t n = (size_t)(ED_MIN(file_len, wpos + wlen) - p);
        zeros = all_zero(buf + (p - wpos), n);
        p += n;
    }
#undef WINDOW
    res->valid_len = pos;
    res->dropped_len = zeros ? 0 : file_len - pos;
    res->ahead_len = zeros ? file_len - pos : 0;
    res->why = zeros ? NULL : why;
    seg->len = pos;
    /* Written-ahead zeros stay the active segment's, to be overwritten;
     * anything else past the end is cut below before an append can follow
     * it, so that no later recovery can take stale bytes for data. */
    bool keep = zeros && !seg->sealed;
    seg->file_len = keep ? file_len : pos;
    seg->reserved_end = seg->file_len;
    if (zeros && !keep && truncate) {
        ED_LOG_DBG("%s.log: cutting %" PRIu64 " bytes written ahead at position %" PRIu64,
                   seg->path, res->ahead_len, pos);
        rc = ed_plat_file_truncate(f, pos);
        if (rc != ED_OK) return rc;
    }
    if (res->dropped_len > 0 && truncate) {
        ED_LOG_WARN("%s.log: %s at position %" PRIu64 "; truncating %" PRIu64
                    " bytes (kept %" PRIu64 " batches, next offset %" PRId64 ")",
                    seg->path, why, pos, res->dropped_len, res->n_batches, seg->next_offset);
        rc = ed_plat_file_truncate(f, pos);
        if (rc != ED_OK) return rc;
    }
    return ED_OK;
}

/* ---- opening a partition folder ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void remove_in(const char *dir, const char *name)
{
    char p[ED_STORAGE_PATH_MAX];
    int n = snprintf(p, sizeof p, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof p) return;
    int rc = ed_plat_path_unlink(p);
    if (rc == ED_OK) ED_LOG_INFO("removed leftover file %s", p);
}

static void note_recovered(ed_storage *st, const struct ed_scan_result *r, bool *counted)
{
    if (r->dropped_len == 0) return;
    if (!*counted) st->stats.n_truncated_recovery++;
    *counted = true;
    st->stats.len_truncated_recovery += r->dropped_len;
}

/* Scans seg (CRC32C only past recovery_point), cutting a torn tail. */
static int scan_segment(ed_storage *st, ed_log *log, ed_segment *seg, int64_t limit,
                        int64_t recovery_point, bool *counted)
{
    struct ed_scan_result r;
    uint64_t before = seg->len;
    int rc = ed_recovery_scan(seg, limit, recovery_point, log->cfg.index_interval_len, true,
                              st->scan_buf, ED_SCAN_BUF_LEN, &r);
    if (rc != ED_OK) return rc;
    log->size -= before - seg->len;
    st->total_len -= before - seg->len;
    st->stats.len_scanned_recovery += seg->len + r.dropped_len;
    note_recovered(st, &r, counted);
    if (seg->sealed) ed_index_seal(seg);
    return ED_OK;
}

/* The active segment as the clean stop described it (its size matched):
 * nothing of it is read. */
static void adopt_clean(ed_segment *seg, struct ed_cleanstop_log *clean)
{
    ed_index_close(seg);
    seg->idx = clean->idx;
    memset(&clean->idx, 0, sizeof clean->idx);
    seg->index_on_disk = false;
    seg->index_checked = false;
    seg->next_offset = clean->next_offset;
    seg->first_ts = clean->first_ts;
    seg->max_ts = clean->max_ts;
    seg->max_ts_off = clean->max_ts_off;
    seg->reserved_end = seg->len;
}

int ed_recovery_open_log(ed_storage *st, const char *dir, const char *topic, int32_t partition,
                         const struct ed_log_config *cfg, int64_t start_hint,
                         int64_t recovery_point, struct ed_cleanstop_log *clean, ed_log **out)
{
    ed_log *log = NULL;
    struct ed_segdir l = {0};
    int rc = ed_log_new(st, dir, topic, partition, cfg, &log);
    if (rc != ED_OK) return rc;
    rc = ed_compact_recover_dir(dir); /* before the segments are listed */
    if (rc == ED_OK) rc = ed_segdir_list(dir, &l);
    if (rc != ED_OK) goto fail;
    /* Leftover temporary index files, and index files of no segment. */
    for (uint32_t i = 0; i < l.n_files; i++) {
        const struct ed_segdir_file *f = &l.files[i];
        if (f->kind == ED_SEGDIR_OTHER
                ? ends_with(f->name, ".index.tmp") || ends_with(f->name, ".timeindex.tmp")
                : f->kind != ED_SEGDIR_LOG && !ed_segdir_has_log(&l, f->base))
            remove_in(dir, f->name);
    }

    /* Segments wholly below the checkpointed log start offset were deleted
     * by DeleteRecords; a power cut may have brought their files back. */
    uint32_t first = 0;
    while (first + 1 < l.n_bases && l.bases[first + 1] <= start_hint) {
        char name[64];
        static const char *const sfx[] = {".index", ".timeindex", ".log"};
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "%020" PRId64 "%s", l.bases[first], sfx[k]);
            remove_in(dir, name);
        }
        first++;
    }
    if (first > 0) {
        rc = ed_plat_dir_sync(dir);
        if (rc != ED_OK) goto fail;
    }

    int64_t now = ed_plat_clock_wall_ms();
    int64_t durable = -1;
    bool counted = false;
    for (uint32_t i = first; i < l.n_bases; i++) {
        ed_segment *seg;
        bool last = i + 1 == l.n_bases;
        int64_t limit = last ? INT64_MAX : l.bases[i + 1];
        rc = ed_segment_open(dir, l.bases[i], now, true, &seg);
        if (rc != ED_OK) goto fail;
        rc = ed_log_push_segment(log, seg);
        if (rc != ED_OK) {
            ed_segment_unref(seg);
            goto fail;
        }
        if (!last) {
            ed_index_probe_files(seg);
            if (seg->index_on_disk && seg->max_ts_off >= limit) {
                ED_LOG_WARN("%s.timeindex: last entry names offset %" PRId64
                            " beyond the segment; rebuilding",
                            seg->path, seg->max_ts_off);
                seg->index_on_disk = false;
            }
            seg->sealed = true;
            if (seg->index_on_disk) {
                seg->next_offset = limit;
                continue;
            }
            seg->trim_pending = true;
        } else {
            /* The active segment's indexes live in memory only: files of
             * that name are stale (a Kafka folder, an interrupted roll). */
            char p[ED_STORAGE_PATH_MAX];
            ed_segment_path(seg, ".index", p, sizeof p);
            if (ed_plat_path_unlink(p) == ED_OK) ED_LOG_DBG("removed stale %s", p);
            ed_segment_path(seg, ".timeindex", p, sizeof p);
            if (ed_plat_path_unlink(p) == ED_OK) ED_LOG_DBG("removed stale %s", p);
        }
        if (last && clean && clean->base == seg->base_offset && clean->len == seg->len) {
            adopt_clean(seg, clean);
            st->stats.n_clean_opens++;
        } else {
            rc = scan_segment(st, log, seg, limit, recovery_point, &counted);
            if (rc != ED_OK) goto fail;
        }
        /* What was scanned survived a restart but may sit in the page cache
         * only: durable once the first flush after open has synced it (an
         * adopted segment was synced before the marker; syncing it again
         * costs the first flush nothing). */
        seg->synced_len = 0;
        if (durable < 0) durable = seg->base_offset;
    }
    if (log->n_segs == 0) {
        ed_segment *seg;
        rc = ed_segment_create(dir, start_hint > 0 ? start_hint : 0, now, &seg);
        if (rc != ED_OK) goto fail;
        rc = ed_log_push_segment(log, seg);
        if (rc != ED_OK) {
            ed_segment_unref(seg);
            goto fail;
        }
        log->dir_dirty = true;
    }
    ed_segment *act = log->segs[log->n_segs - 1];
    log->end_offset = act->next_offset;
    log->start_offset = log->segs[0]->base_offset;
    if (start_hint > log->start_offset) log->start_offset = ED_MIN(start_hint, log->end_offset);
    log->durable_offset = durable >= 0 ? durable : log->end_offset;
    /* Offsets below the recovery point were synced before a restart. A
     * point past the recovered end (damage below it, or a stale file) is
     * pulled back, and the caller rewrites the file before any append. */
    log->recovery_point = ED_MIN(recovery_point, log->end_offset);
    if (log->recovery_point < 0) log->recovery_point = 0;
    if (log->durable_offset < log->recovery_point) log->durable_offset = log->recovery_point;
    if (log->durable_offset < log->start_offset) log->durable_offset = log->start_offset;
    log->flush_wanted = true;
    ED_LOG_DBG("%s: opened %" PRIu32 " segments, offsets %" PRId64 "..%" PRId64 ", %" PRIu64
               " bytes",
               dir, log->n_segs, log->start_offset, log->end_offset, log->size);
    *out = log;
    rc = ED_OK;
    goto done;
fail:
    ED_LOG_ERR("cannot open partition folder %s: %s", dir, ed_strerror(rc));
    if (log) {
        st->total_len -= log->size;
        ed_log_free(log);
    }
done:
    ed_segdir_free(&l);
    return rc;
}
