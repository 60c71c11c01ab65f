/* A partition log over time: rolling to a new active segment, dropping the
 * oldest segment (retention, DeleteRecords), the age check of the tick,
 * and DeleteRecords itself (the new start is checkpointed before any
 * segment goes). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "log"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/checkpoint.h"
#include "storage/flush.h"
#include "storage/log_roll.h"

int ed_log_roll(ed_log *log, int64_t now_ms)
{
    ed_segment *old = ed_log_active(log);
    if (log->n_segs == log->cap_segs) {
        uint32_t cap = log->cap_segs * 2;
        ed_segment **p = ed_realloc(log->segs, cap * sizeof *p);
        if (!p) return ED_ERR_NOMEM;
        log->segs = p;
        log->cap_segs = cap;
    }
    ed_segment *seg;
    int rc = ed_segment_create(log->dir, log->end_offset, now_ms, &seg);
    if (rc != ED_OK) return rc;
    ed_index_seal(old);
    old->sealed = true;
    old->trim_pending = true;
    ED_ASSERT(ed_log_push_segment(log, seg) == ED_OK);
    log->dir_dirty = true;
    ED_LOG_DBG("%s: rolled at offset %" PRId64 " (%" PRIu64 " bytes)", old->path, log->end_offset,
               old->len);
    /* The sealed segment's index files are written by the next flush. */
    ed_flush_request(log);
    return ED_OK;
}

void ed_log_drop_oldest(ed_log *log)
{
    ED_ASSERT(log->n_segs > 1);
    ed_segment *seg = log->segs[0];
    memmove(log->segs, log->segs + 1, (log->n_segs - 1) * sizeof *log->segs);
    log->n_segs--;
    ed_fdcache_detach(seg);
    log->size -= seg->len;
    log->st->total_len -= seg->len;
    if (log->start_offset < log->segs[0]->base_offset)
        log->start_offset = log->segs[0]->base_offset;
    ED_LOG_DBG("%s: deleted segment (%" PRIu64 " bytes); log starts at %" PRId64, seg->path,
               seg->len, log->start_offset);
    ed_segment_remove_files(seg);
    ed_segment_unref(seg);
    /* The unlinks become durable with the folder sync of the next flush
     * (on the flusher thread): a power cut must not bring the segment back
     * after the log start offset moved past it. */
    log->dir_dirty = true;
    ed_flush_request(log);
}

bool ed_log_roll_due(const ed_log *log, int64_t now_ms)
{
    /* Without an incoming batch there is no record time to compare with:
     * the tick rolls by wall-clock age, so that replayed old data is not
     * rolled on every tick. */
    const ed_segment *seg = ed_log_active(log);
    return seg->len > 0 && now_ms - seg->created_ms > log->cfg.segment_ms;
}

int ed_log_truncate_before(ed_log *log, int64_t offset)
{
    if (log->deleted) return ED_ERR_CLOSED;
    if (offset > log->end_offset || offset < 0) return ED_ERR_RANGE;
    if (offset <= log->start_offset) return ED_OK;
    /* The new start is durable before any segment goes: a power cut then
     * finds either every old segment (and removes those below the start
     * at open) or the ones left; never a hole below the start. A failed
     * checkpoint changes nothing. */
    int64_t old_start = log->start_offset;
    log->start_offset = offset;
    int rc = ed_checkpoint_write_start_offsets(log->st);
    if (rc != ED_OK) {
        log->start_offset = old_start;
        return rc;
    }
    bool dropped = false;
    while (log->n_segs > 1 && log->segs[1]->base_offset <= offset && !log->segs[0]->in_job) {
        ed_log_drop_oldest(log);
        dropped = true;
    }
    log->start_offset = ED_MAX(log->start_offset, offset);
    if (dropped) {
        rc = ed_plat_dir_sync(log->dir);
        if (rc != ED_OK)
            ED_LOG_WARN("%s: cannot sync after deleting segments: %s", log->dir, ed_strerror(rc));
    }
    return ED_OK;
}
