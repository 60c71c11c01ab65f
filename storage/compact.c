/* Log compaction (see compact.h): a pass over one log first maps the keys
 * of its dirty closed segments to their latest offsets (a fixed-size hash
 * map: key hash -> offset), then reads the closed segments up to the end
 * of what the map covers again to find those whose rewrite would change
 * something, and rewrites only those, in groups of neighbours whose bytes
 * fit one segment, keeping a record unless a later offset holds its key or
 * it is a tombstone whose delete horizon has passed. A segment in which
 * every record stays (more distinct keys than the map holds: the map
 * covers only part of the dirty range, whose keys may have no later copy
 * within it) is left as it is, so a pass writes nothing it does not
 * reclaim but delete horizons of new tombstones. Batches keep their base offset
 * and last offset delta; a batch keeps its bytes when nothing in it
 * changes. Each group's output is written sequentially to
 * <first base>.<last base>.cleaned; the flusher thread syncs it, renames it
 * to .swap (the commit point), removes the old index files and segments
 * and makes the .swap <first base>.log (compact_swap.c), so the loop never
 * waits for a sync; ed_compact_recover_dir finishes or rolls back an
 * interrupted swap at open. Work is cut into steps of a byte budget so the
 * loop keeps serving. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "compact"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/compact_int.h"

/* ---- setup ---- */

static struct ed_compactor *get(ed_storage *st)
{
    if (st->compactor) return st->compactor;
    struct ed_compactor *c = ed_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->lim.map_len = ED_COMPACT_MAP_LEN;
    c->lim.step_len = ED_COMPACT_STEP_LEN;
    c->lim.min_dirty_ratio = 0.5;
    ed_batch_iter_init(&c->it, REBUILD_MAX);
    st->compactor = c;
    return c;
}

void ed_compact_set_limits(ed_storage *st, const struct ed_compact_limits *lim)
{
    struct ed_compactor *c = get(st);
    if (!c || c->phase != P_IDLE) return;
    c->lim = *lim;
    if (c->lim.map_len < 64) c->lim.map_len = 64;
    if (c->lim.step_len < 4096) c->lim.step_len = 4096;
    ed_free(c->mh);
    ed_free(c->mo);
    c->mh = NULL;
    c->mo = NULL;
    c->cap = 0;
}

void ed_compact_set_crash_point(ed_storage *st, int point)
{
    struct ed_compactor *c = get(st);
    if (c) c->crash_point = point;
}

static void release_segs(struct ed_compactor *c)
{
    for (uint32_t i = 0; i < c->n_segs; i++)
        ed_segment_unref(c->segs[i]);
    ed_free(c->segs);
    ed_free(c->changes);
    c->segs = NULL;
    c->changes = NULL;
    c->n_segs = 0;
    c->rseg = NULL;
    c->rlen = 0;
}

void ed_compact_end_pass(ed_storage *st, struct ed_compactor *c, bool aborted)
{
    ed_compact_swap_drop(c);
    if (c->out) {
        ed_plat_file_close(c->out);
        c->out = NULL;
        if (!c->crashed) ed_plat_path_unlink(c->out_path);
    }
    if (aborted && c->log) st->stats.n_compactions_aborted++;
    release_segs(c);
    c->log = NULL;
    c->phase = P_IDLE;
    c->wlen = 0;
    c->pend_len = 0;
}

void ed_compact_forget(ed_storage *st, ed_log *log)
{
    struct ed_compactor *c = st->compactor;
    if (c && c->log == log) {
        ED_LOG_INFO("%s: compaction pass dropped (the log is going away)", log->dir);
        ed_compact_end_pass(st, c, true);
    }
}

void ed_compact_free(ed_storage *st)
{
    struct ed_compactor *c = st->compactor;
    if (!c) return;
    ed_compact_end_pass(st, c, c->phase != P_IDLE);
    ed_free(c->mh);
    ed_free(c->mo);
    ed_free(c->wbuf);
    ed_free(c->rbuf);
    ed_free(c->obuf);
    ed_free(c->zbuf);
    ed_free(c->pbuf);
    ed_batch_iter_release(&c->it);
    ed_codec_release(&c->codec);
    ed_free(c);
    st->compactor = NULL;
}

/* ---- reading batches ---- */

/* Points *out at the whole, checked batch at pos of seg. */
static int read_batch(struct ed_compactor *c, ed_segment *seg, uint64_t pos, const uint8_t **out,
                      struct ed_batch_info *b)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        if (c->rseg == seg && pos >= c->rpos && pos + ED_BATCH_HEADER_LEN <= c->rpos + c->rlen) {
            const uint8_t *p = c->rbuf + (pos - c->rpos);
            size_t avail = (size_t)(c->rpos + c->rlen - pos);
            int rc = ed_batch_parse_header(p, avail, b);
            if (rc != ED_OK)
                return ED_ERR_CORRUPT_AT("%s.log: bad batch header at %" PRIu64, seg->path, pos);
            size_t total = ed_batch_total_len(b);
            if (pos + total > seg->len)
                return ED_ERR_CORRUPT_AT("%s.log: batch at %" PRIu64 " runs past the end",
                                         seg->path, pos);
            if (total <= avail) {
                rc = ed_batch_check(p, total, b);
                if (rc != ED_OK)
                    return ED_ERR_CORRUPT_AT("%s.log: batch at %" PRIu64 " fails its CRC",
                                             seg->path, pos);
                *out = p;
                return ED_OK;
            }
        }
        /* refill the window from pos, large enough for the batch */
        size_t want = RBUF_LEN;
        if (c->rseg == seg && pos >= c->rpos && pos + ED_BATCH_HEADER_LEN <= c->rpos + c->rlen)
            want = ED_MAX(want, ed_batch_total_len(b));
        if (want > seg->len - pos) want = (size_t)(seg->len - pos);
        if (want > c->rcap) {
            uint8_t *p = ed_realloc(c->rbuf, want);
            if (!p) return ED_ERR_NOMEM;
            c->rbuf = p;
            c->rcap = want;
        }
        size_t got = 0;
        ed_file *f;
        int rc = ed_fdcache_file(seg, &f);
        if (rc == ED_OK) rc = ed_plat_file_pread(f, c->rbuf, want, pos, &got);
        if (rc != ED_OK) return rc;
        c->rseg = seg;
        c->rpos = pos;
        c->rlen = got;
    }
    return ED_ERR_CORRUPT_AT("%s.log: cannot read the batch at %" PRIu64, seg->path, pos);
}

/* A batch whose records cannot be read (a decompression bomb, malformed
 * records, a codec not built in): it is kept as it is, its keys are left
 * out of the map, and the pass goes on. Logged once per batch, whichever
 * phase or pass meets it first; false for errors that are not the batch's
 * fault (memory), which end the pass. */
bool ed_compact_skip_unreadable(ed_storage *st, struct ed_compactor *c,
                                const struct ed_batch_info *b, int rc)
{
    if (rc != ED_ERR_TOOBIG && rc != ED_ERR_CORRUPT && rc != ED_ERR_UNSUPPORTED) return false;
    /* give back the buffer a bomb made the iterator grow */
    if (rc == ED_ERR_TOOBIG) ed_batch_iter_release(&c->it);
    ed_log *log = c->log;
    int64_t last = b->base_offset + b->last_offset_delta;
    if (b->base_offset >= log->compact_skipped) {
        ED_LOG_WARN("%s: compaction keeps the batch at offsets %" PRId64 "..%" PRId64
                    " as it is: its records cannot be read (%s)",
                    log->dir, b->base_offset, last, ed_strerror(rc));
        log->compact_skipped = last + 1;
        st->stats.n_compact_skipped++;
    }
    return true;
}

/* ---- choosing a log ---- */

/* Closed segments a pass may touch: from the log start, sealed, flushed,
 * indexed, not in a flush job; never the active one. */
static uint32_t n_eligible(const ed_log *log)
{
    uint32_t k = 0;
    while (k + 1 < log->n_segs) {
        const ed_segment *s = log->segs[k];
        if (!s->sealed || s->in_job || !s->index_on_disk || s->trim_pending) break;
        k++;
    }
    return k;
}

static bool due(const struct ed_compactor *c, const ed_log *log, int64_t now_ms)
{
    if (!log->cfg.compact || log->deleted || log->broken) return false;
    uint32_t k = n_eligible(log);
    if (k == 0) return false;
    uint64_t total = 0, dirty = 0;
    for (uint32_t i = 0; i < k; i++) {
        total += log->segs[i]->len;
        if (log->segs[i]->next_offset > log->clean_offset) dirty += log->segs[i]->len;
    }
    if (dirty > 0 && (double)dirty >= c->lim.min_dirty_ratio * (double)total) return true;
    return log->horizon_due_ms && now_ms >= log->horizon_due_ms;
}

static int start_pass(ed_storage *st, struct ed_compactor *c, ed_log *log, int64_t now_ms)
{
    uint32_t k = n_eligible(log);
    c->segs = ed_malloc(k * sizeof *c->segs);
    c->changes = ed_calloc(k, 1);
    int rc = c->segs && c->changes ? ed_compact_map_init(c) : ED_ERR_NOMEM;
    if (rc != ED_OK) {
        ed_free(c->segs);
        ed_free(c->changes);
        c->segs = NULL;
        c->changes = NULL;
        return rc;
    }
    for (uint32_t i = 0; i < k; i++) {
        c->segs[i] = log->segs[i];
        ed_segment_ref(log->segs[i]);
    }
    c->n_segs = k;
    c->log = log;
    c->now_ms = now_ms;
    c->phase = P_MAP;
    c->mi = 0;
    while (c->mi < k && c->segs[c->mi]->next_offset <= log->clean_offset)
        c->mi++;
    c->mpos = 0;
    c->map_end = -1;
    c->n_pids = 0;
    c->pids_overflow = false;
    c->min_horizon = 0;
    ED_LOG_DBG("%s: compaction pass over %" PRIu32 " segments (dirty from offset %" PRId64 ")",
               log->dir, k, log->clean_offset);
    ED_UNUSED(st);
    return ED_OK;
}

/* Is the pass still valid: the log alive and compacted, and the pass's
 * segments still its first ones? */
static bool still_valid(const struct ed_compactor *c)
{
    const ed_log *log = c->log;
    if (log->deleted || log->broken || !log->cfg.compact) return false;
    if (log->n_segs <= c->n_segs) return false;
    for (uint32_t i = 0; i < c->n_segs; i++)
        if (log->segs[i] != c->segs[i]) return false;
    return true;
}

/* ---- phase 1: the offset map ---- */

static void map_done(struct ed_compactor *c)
{
    if (c->map_end < 0) c->map_end = c->n_segs ? c->segs[c->n_segs - 1]->next_offset : 0;
    /* candidates: every closed segment that starts below the covered end */
    c->n_rewrite = 0;
    while (c->n_rewrite < c->n_segs && c->segs[c->n_rewrite]->base_offset < c->map_end)
        c->n_rewrite++;
    c->phase = P_SCAN;
    c->si = 0;
    c->spos = 0;
}

/* Maps up to budget bytes; returns the bytes read. */
static int map_step(ed_storage *st, struct ed_compactor *c, uint64_t budget, uint64_t *used)
{
    while (c->mi < c->n_segs && *used < budget) {
        ed_segment *seg = c->segs[c->mi];
        if (c->mpos >= seg->len) {
            c->mi++;
            c->mpos = 0;
            continue;
        }
        const uint8_t *bp;
        struct ed_batch_info b;
        int rc = read_batch(c, seg, c->mpos, &bp, &b);
        if (rc != ED_OK) return rc;
        size_t total = ed_batch_total_len(&b);
        ed_compact_note_pid(c, &b);
        if (!ed_batch_is_control(&b) && b.record_count > 0) {
            rc = ed_batch_iter_begin(&c->it, bp, total);
            struct ed_record r;
            while (rc >= 0 && (rc = ed_batch_iter_next(&c->it, &r)) == 1) {
                if (!r.key) continue;
                if (!ed_compact_map_put(c, r.key, r.key_len, r.offset)) {
                    c->map_end = r.offset;
                    ED_LOG_DBG("%s: offset map full at offset %" PRId64
                               "; the rest waits for the next pass",
                               c->log->dir, r.offset);
                    map_done(c);
                    return ED_OK;
                }
            }
            if (rc < 0 && !ed_compact_skip_unreadable(st, c, &b, rc)) return rc;
        }
        c->mpos += total;
        *used += total;
    }
    if (c->mi >= c->n_segs) map_done(c);
    return ED_OK;
}

/* ---- phase 2: what a rewrite would change ---- */

/* Scans up to budget bytes. A segment is marked at its first batch that
 * would change; the rest of a segment that stays as it is is read to the
 * end for the delete horizons of its tombstones. */
static int scan_step(ed_storage *st, struct ed_compactor *c, uint64_t budget, uint64_t *used)
{
    while (c->si < c->n_rewrite && *used < budget) {
        ed_segment *seg = c->segs[c->si];
        if (c->spos >= seg->len || c->changes[c->si]) {
            c->si++;
            c->spos = 0;
            continue;
        }
        const uint8_t *bp;
        struct ed_batch_info b;
        int rc = read_batch(c, seg, c->spos, &bp, &b);
        if (rc == ED_OK) rc = ed_compact_batch_changes(st, c, bp, &b);
        if (rc < 0) return rc;
        if (rc == 1) c->changes[c->si] = 1;
        size_t total = ed_batch_total_len(&b);
        c->spos += total;
        *used += total;
    }
    if (c->si >= c->n_rewrite) {
        c->phase = P_COPY;
        c->gi = c->gj = 0;
        c->ci = 0;
        c->cpos = 0;
    }
    return ED_OK;
}

/* ---- phase 3: rewriting ---- */

/* "<dir>/<first base>.<last base><sfx>": a group's output while written. */
int ed_compact_pair_name(char *buf, size_t cap, const char *dir, int64_t a, int64_t b,
                         const char *sfx)
{
    int n = snprintf(buf, cap, "%s/%020" PRId64 ".%020" PRId64 "%s", dir, a, b, sfx);
    return n < 0 || (size_t)n >= cap ? ED_ERR_INVAL : ED_OK;
}

/* Picks the next group [gi, gj): neighbours whose bytes fit one segment,
 * passing over every group of one segment in which nothing changes (its
 * rewrite would copy it byte for byte); false when no group is left. A
 * group of several segments is merged even when nothing in it changes:
 * their files go (a segment costs its index files and a partly filled
 * last block), and the merge happens once. */
static bool next_group(ed_storage *st, struct ed_compactor *c)
{
    for (;;) {
        c->gi = c->gj;
        if (c->gi >= c->n_rewrite) return false;
        uint64_t sum = 0;
        uint32_t j = c->gi;
        int64_t base = c->segs[c->gi]->base_offset;
        while (j < c->n_rewrite) {
            const ed_segment *s = c->segs[j];
            if (j > c->gi &&
                (sum + s->len > c->log->cfg.segment_len || s->next_offset - 1 - base > INT32_MAX))
                break;
            sum += s->len;
            j++;
        }
        c->gj = j;
        if (j - c->gi > 1 || c->changes[c->gi]) break;
        st->stats.n_compact_unchanged++;
    }
    c->ci = c->gi;
    c->cpos = 0;
    return true;
}

static int open_out(struct ed_compactor *c)
{
    int rc = ed_compact_pair_name(c->out_path, sizeof c->out_path, c->log->dir,
                                  c->segs[c->gi]->base_offset, c->segs[c->gj - 1]->base_offset,
                                  ".cleaned");
    if (rc == ED_OK)
        rc =
            ed_plat_file_open(c->out_path, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &c->out);
    c->out_len = 0;
    c->wlen = 0;
    c->pend_len = 0;
    c->expect = c->segs[c->gi]->base_offset;
    return rc;
}

static int copy_step(ed_storage *st, struct ed_compactor *c, uint64_t budget, uint64_t *used)
{
    while (*used < budget) {
        if (!c->out) {
            if (!next_group(st, c)) {
                /* the pass is over */
                c->log->clean_offset = c->map_end;
                c->log->horizon_due_ms = c->min_horizon;
                st->stats.n_compactions++;
                c->passes_done++;
                ED_LOG_DBG("%s: compaction pass done; clean up to offset %" PRId64, c->log->dir,
                           c->map_end);
                ed_compact_end_pass(st, c, false);
                return ED_OK;
            }
            int rc = open_out(c);
            if (rc != ED_OK) return rc;
        }
        if (c->ci >= c->gj) {
            /* The syncs and renames run on the flusher; the pass goes on
             * once the swap's completion has put the new segment in. */
            int rc = ed_compact_out_finish(c);
            if (rc == ED_OK && !still_valid(c)) rc = ED_ERR_BUSY;
            if (rc == ED_OK) rc = ed_compact_swap_start(st, c);
            return rc;
        }
        ed_segment *seg = c->segs[c->ci];
        if (c->cpos >= seg->len) {
            c->ci++;
            c->cpos = 0;
            continue;
        }
        const uint8_t *bp;
        struct ed_batch_info b;
        int rc = read_batch(c, seg, c->cpos, &bp, &b);
        if (rc == ED_OK) rc = ed_compact_copy_batch(st, c, bp, &b);
        if (rc != ED_OK) return rc;
        size_t total = ed_batch_total_len(&b);
        c->cpos += total;
        *used += total;
    }
    return ED_OK;
}

/* Before a pass writes anything: every producer's last batch in the
 * segments it rewrites (empty batches of other producers' last ones stay). */
static int scan_pids(struct ed_compactor *c)
{
    for (uint32_t i = 0; i < c->n_rewrite; i++) {
        ed_segment *seg = c->segs[i];
        struct ed_hdr_window w;
        w.len = 0;
        for (uint64_t pos = 0; pos < seg->len;) {
            struct ed_batch_info b;
            int rc = ed_segment_header(seg, &w, pos, &b);
            if (rc != ED_OK) return rc;
            ed_compact_note_pid(c, &b);
            pos += ed_batch_total_len(&b);
        }
    }
    return ED_OK;
}

/* ---- driving ---- */

uint32_t ed_compact_tick(ed_storage *st, int64_t now_ms)
{
    struct ed_compactor *c = st->compactor;
    if (c && c->crashed) return 1000;
    if (c && c->swap) {
        /* The group's swap waits for the log's next flush job; a log that
         * refuses flushes never runs it: give it up. */
        if (c->log->broken && c->log->extra_pending) ed_compact_end_pass(st, c, true);
        return 5;
    }
    if (!c || c->phase == P_IDLE) {
        ed_log *pick = NULL;
        bool any = false;
        for (uint32_t k = 0; k < st->n_logs; k++) {
            ed_log *log = st->logs[k];
            if (log->cfg.compact) any = true;
        }
        if (!any) return 1000;
        if (!c) c = get(st);
        if (!c) return 1000;
        for (uint32_t k = 0; k < st->n_logs && !pick; k++) {
            ed_log *log = st->logs[(c->next_log + k) % st->n_logs];
            if (due(c, log, now_ms)) pick = log;
        }
        if (!pick) return 1000;
        c->next_log = (c->next_log + 1) % st->n_logs;
        if (start_pass(st, c, pick, now_ms) != ED_OK) return 1000;
    }
    if (!still_valid(c)) {
        ED_LOG_INFO("%s: compaction pass abandoned (segments changed under it)", c->log->dir);
        ed_compact_end_pass(st, c, true);
        return 5;
    }
    c->now_ms = now_ms;
    uint64_t used = 0;
    int rc = ED_OK;
    while (rc == ED_OK && used < c->lim.step_len && c->phase != P_IDLE && !c->swap) {
        if (c->phase == P_MAP) {
            rc = map_step(st, c, c->lim.step_len, &used);
            if (rc == ED_OK && c->phase == P_SCAN) {
                c->n_pids = 0;
                c->pids_overflow = false;
                rc = scan_pids(c);
            }
        } else if (c->phase == P_SCAN) {
            rc = scan_step(st, c, c->lim.step_len, &used);
        } else {
            rc = copy_step(st, c, c->lim.step_len, &used);
        }
    }
    if (rc != ED_OK) {
        if (c->crashed) return 1000;
        if (rc != ED_ERR_BUSY)
            ED_LOG_WARN("%s: compaction pass failed: %s", c->log->dir, ed_strerror(rc));
        ed_compact_end_pass(st, c, true);
        return 1000;
    }
    return c->phase == P_IDLE ? 1000 : 5;
}

int ed_compact_run(ed_storage *st, int64_t now_ms, int max_steps)
{
    struct ed_compactor *c = get(st);
    if (!c) return 0;
    int before = c->passes_done;
    /* "now": any dirty byte is reason enough */
    double ratio = c->lim.min_dirty_ratio;
    c->lim.min_dirty_ratio = 0;
    for (int i = 0; i < max_steps; i++) {
        uint32_t next = ed_compact_tick(st, now_ms);
        /* a swap handed to the flusher: run it (inline without a thread)
         * and its completion */
        for (int k = 0; c->swap && k < 1000000; k++) {
            ed_flush_tick(st, now_ms);
            ed_storage_run_completions(st);
        }
        if (next >= 1000 && c->phase == P_IDLE) {
            /* let the flusher write index files of new segments, then see
             * whether another pass is due */
            ed_flush_tick(st, now_ms);
            ed_storage_run_completions(st);
            bool more = false;
            for (uint32_t k = 0; k < st->n_logs && !more; k++)
                more = due(c, st->logs[k], now_ms);
            if (!more || c->crashed) break;
        }
    }
    c->lim.min_dirty_ratio = ratio;
    return c->passes_done - before;
}
