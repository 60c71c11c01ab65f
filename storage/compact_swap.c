/* Swapping a compacted group into its log without a sync on the loop
 * thread. The loop finishes the output file, checks the pass is still
 * valid, holds the group's segments (in_job: retention, DeleteRecords, the
 * file cache and flush jobs leave them alone; their index files are opened
 * first so readers keep them) and hands the swap to the log's next flush
 * job. The flusher thread then does what the crash-safety order needs:
 * fdatasync and close the .cleaned file, rename it to .swap and sync the
 * folder (the commit point), remove the group's index files and its other
 * segments, rename the .swap to the first segment's name, sync the folder,
 * open the new segment and rebuild its index. The completion, on the loop,
 * puts the new segment in place of the group (found again by identity, as
 * older segments may have gone meanwhile), or, if the swap did not commit,
 * removes the output; a log deleted meanwhile keeps its files until its
 * folder goes. compact_recover.c completes or rolls back a swap a crash
 * interrupted, whichever side of the commit it stopped. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "compact"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/compact_int.h"

struct ed_compact_swap {
    struct ed_flush_extra x; /* first: the flush job's handle */
    ed_log *log;
    ed_file *out; /* the .cleaned file, written, not yet synced */
    char dir[ED_STORAGE_PATH_MAX], cleaned[ED_STORAGE_PATH_MAX], swap[ED_STORAGE_PATH_MAX];
    ed_segment **group; /* referenced, in_job */
    uint32_t n_group;
    int64_t b1, created_ms;
    uint32_t interval;
    int crash_point;
    /* results, written by the flusher */
    int status;
    bool committed, crashed;
    ed_segment *seg; /* the new segment, opened and indexed */
};

static void release(struct ed_compact_swap *w)
{
    ed_plat_file_close(w->out);
    for (uint32_t i = 0; i < w->n_group; i++) {
        w->group[i]->in_job = false;
        ed_segment_unref(w->group[i]);
    }
    ed_free(w->group);
    ed_segment_unref(w->seg);
    ed_free(w);
}

/* Stops here if the test asked for a crash at this point. */
static bool crash_here(struct ed_compact_swap *w, int point)
{
    if (w->crash_point != point) return false;
    w->crashed = true;
    return true;
}

/* The flusher's part: only the swap's own files and segments. */
static void swap_run(struct ed_flush_extra *x)
{
    struct ed_compact_swap *w = (struct ed_compact_swap *)x;
    int rc = ed_plat_file_datasync(w->out);
    int crc = ed_plat_file_close(w->out);
    w->out = NULL;
    if (rc == ED_OK) rc = crc;
    if (rc == ED_OK && crash_here(w, ED_COMPACT_CRASH_CLEANED)) return;
    if (rc == ED_OK) rc = ed_plat_path_rename(w->cleaned, w->swap);
    if (rc == ED_OK) rc = ed_plat_dir_sync(w->dir);
    if (rc != ED_OK) {
        ed_plat_path_unlink(w->swap);
        w->status = rc;
        return;
    }
    /* From here on the cleaned data is the truth: recovery completes the
     * swap if the process dies before the end. */
    w->committed = true;
    if (crash_here(w, ED_COMPACT_CRASH_SWAP)) return;
    char p[ED_STORAGE_PATH_MAX];
    for (uint32_t i = 0; i < w->n_group; i++) {
        ed_segment_path(w->group[i], ".index", p, sizeof p);
        ed_plat_path_unlink(p);
        ed_segment_path(w->group[i], ".timeindex", p, sizeof p);
        ed_plat_path_unlink(p);
    }
    for (uint32_t i = 1; i < w->n_group; i++) {
        ed_segment_path(w->group[i], ".log", p, sizeof p);
        ed_plat_path_unlink(p);
        if (i == 1 && crash_here(w, ED_COMPACT_CRASH_MID_SWAP)) return;
    }
    ed_segment_path(w->group[0], ".log", p, sizeof p);
    rc = ed_plat_path_rename(w->swap, p);
    if (rc == ED_OK) rc = ed_plat_dir_sync(w->dir);
    /* A segment no log holds yet: reading it here touches nothing the loop
     * uses. */
    if (rc == ED_OK) rc = ed_segment_open(w->dir, w->b1, w->created_ms, false, &w->seg);
    if (rc == ED_OK) rc = ed_index_rebuild(w->seg, w->interval);
    w->status = rc;
}

/* Puts the new segment in place of the group in the log; false if the
 * group is no longer there whole (it cannot go while held). */
static bool install(ed_storage *st, ed_log *log, struct ed_compact_swap *w)
{
    uint32_t k = 0;
    while (k < log->n_segs && log->segs[k] != w->group[0])
        k++;
    if (k + w->n_group > log->n_segs) return false;
    for (uint32_t i = 0; i < w->n_group; i++)
        if (log->segs[k + i] != w->group[i]) return false;
    ed_segment *seg = w->seg;
    w->seg = NULL;
    seg->sealed = true;
    seg->trim_pending = false;
    seg->next_offset = w->group[w->n_group - 1]->next_offset;
    seg->created_ms = w->created_ms;
    uint64_t old_len = 0;
    for (uint32_t i = 0; i < w->n_group; i++) {
        old_len += log->segs[k + i]->len;
        ed_fdcache_detach(log->segs[k + i]);
        ed_segment_unref(log->segs[k + i]);
    }
    log->segs[k] = seg;
    ed_fdcache_attach(&st->fdc, seg);
    memmove(log->segs + k + 1, log->segs + k + w->n_group,
            (log->n_segs - k - w->n_group) * sizeof *log->segs);
    log->n_segs -= w->n_group - 1;
    log->size = log->size - old_len + seg->len;
    st->total_len = st->total_len - old_len + seg->len;
    st->stats.len_compacted_read += old_len;
    st->stats.len_compacted_written += seg->len;
    ED_LOG_DBG("%s: compacted segments %" PRId64 "..%" PRId64 ": %" PRIu64 " -> %" PRIu64 " bytes",
               log->dir, w->b1, w->group[w->n_group - 1]->base_offset, old_len, seg->len);
    return true;
}

/* The pass's view: the group [gi, gj) is now the one new segment. */
static void pass_view(struct ed_compactor *c, ed_segment *seg)
{
    /* The read window may name a segment freed by the swap: forget it. */
    c->rseg = NULL;
    c->rlen = 0;
    ed_segment_ref(seg);
    for (uint32_t i = c->gi; i < c->gj; i++)
        ed_segment_unref(c->segs[i]);
    c->segs[c->gi] = seg;
    memmove(c->segs + c->gi + 1, c->segs + c->gj, (c->n_segs - c->gj) * sizeof *c->segs);
    memmove(c->changes + c->gi + 1, c->changes + c->gj, c->n_segs - c->gj);
    uint32_t removed = c->gj - c->gi - 1;
    c->n_segs -= removed;
    c->n_rewrite -= removed;
    c->gj = c->gi + 1;
}

/* The loop's part once the flush job ran. */
static void swap_done(ed_storage *st, struct ed_flush_extra *x)
{
    struct ed_compact_swap *w = (struct ed_compact_swap *)x;
    struct ed_compactor *c = st->compactor;
    bool ours = c && c->swap == w; /* the pass is still waiting for it */
    if (ours) c->swap = NULL;
    ed_log *log = w->log;
    if (w->crashed) {
        ED_LOG_WARN("%s: compaction stopped at crash point %d (test)", w->dir, w->crash_point);
        if (ours) c->crashed = true;
    } else if (!w->committed) {
        /* Nothing changed but the output, which goes. */
        ED_LOG_ERR("%s: cannot commit compacted segment: %s", w->dir, ed_strerror(w->status));
        ed_plat_path_unlink(w->cleaned);
        if (ours) ed_compact_end_pass(st, c, true);
    } else if (log->deleted) {
        /* its folder goes with everything in it */
    } else if (w->status != ED_OK || !install(st, log, w)) {
        /* The files are right (recovery would agree); memory is not: stop
         * using the log as a broken one until it is reopened. */
        ED_LOG_ERR("%s: compacted segment %" PRId64 " swapped in but not opened: %s", w->dir, w->b1,
                   ed_strerror(w->status != ED_OK ? w->status : ED_ERR_CORRUPT));
        log->broken = w->status != ED_OK ? w->status : ED_ERR_CORRUPT;
        if (ours) ed_compact_end_pass(st, c, true);
    } else {
        ed_segment *seg = log->segs[ed_log_find_segment(log, w->b1)];
        if (ours) pass_view(c, seg);
        ed_flush_request(log); /* writes the new segment's index files */
    }
    release(w);
}

int ed_compact_swap_start(ed_storage *st, struct ed_compactor *c)
{
    ed_log *log = c->log;
    if (log->extra_pending) return ED_ERR_BUSY;
    for (uint32_t i = c->gi; i < c->gj; i++)
        if (c->segs[i]->in_job) return ED_ERR_BUSY;
    struct ed_compact_swap *w = ed_calloc(1, sizeof *w);
    uint32_t n = c->gj - c->gi;
    if (w) w->group = ed_malloc(n * sizeof *w->group);
    if (!w || !w->group) {
        ed_free(w);
        return ED_ERR_NOMEM;
    }
    w->x.run = swap_run;
    w->x.done = swap_done;
    w->log = log;
    w->b1 = c->segs[c->gi]->base_offset;
    w->created_ms = c->segs[c->gj - 1]->created_ms;
    w->interval = log->cfg.index_interval_len;
    w->crash_point = c->crash_point;
    snprintf(w->dir, sizeof w->dir, "%s", log->dir);
    snprintf(w->cleaned, sizeof w->cleaned, "%s", c->out_path);
    int rc = ed_compact_pair_name(w->swap, sizeof w->swap, log->dir, w->b1,
                                  c->segs[c->gj - 1]->base_offset, ".swap");
    if (rc != ED_OK) {
        ed_free(w->group);
        ed_free(w);
        return rc;
    }
    for (uint32_t i = 0; i < n; i++) {
        ed_segment *s = c->segs[c->gi + i];
        /* a reader that meets the segment later uses these open files */
        if (s->index_on_disk) ed_index_open_files(s);
        ed_segment_ref(s);
        s->in_job = true;
        w->group[w->n_group++] = s;
    }
    w->out = c->out;
    c->out = NULL;
    c->swap = w;
    log->extra_pending = &w->x;
    ed_flush_request(log);
    ED_UNUSED(st);
    return ED_OK;
}

void ed_compact_swap_drop(struct ed_compactor *c)
{
    struct ed_compact_swap *w = c->swap;
    if (!w) return;
    c->swap = NULL;
    if (w->log->extra_pending != &w->x) return; /* in a flush job: its completion ends it */
    /* Never handed to the flusher: nothing was committed. */
    w->log->extra_pending = NULL;
    ed_plat_file_close(w->out);
    w->out = NULL;
    ed_plat_path_unlink(w->cleaned);
    release(w);
}
