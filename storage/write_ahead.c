/* Blocks written ahead of a segment's appends: the zero fill past the
 * logical end, and the per-log average of the bytes each flush makes
 * durable, which decides whether the fill pays.
 *
 * Why: a flush whose fdatasync only overwrites blocks that are allocated,
 * written and inside the file's size changes no file-system metadata, so
 * ext4 commits no journal transaction for it (about 12 KiB a sync on the
 * SD-card profile, docs/benchmarks.md). Zeros written ahead cost one more
 * write of every byte later stored there, so they pay while a flush
 * carries less than the journal would cost it; "auto" writes ahead while
 * the average is below ED_WRITE_AHEAD_BELOW_LEN. */
#include <inttypes.h>

#define ED_LOG_MODULE "segment"
#include "platform/log.h"
#include "storage/write_ahead.h"

/* One page per write: a larger write makes the kernel cache the range in
 * large folios (ext4 on Linux 6.x), and a later append of a few bytes
 * dirties, accounts and may write back a whole folio (measured: 500-byte
 * synced appends into zeros written 64 KiB at a time counted 130 bytes
 * written per byte; page-sized zero writes, 9, as appends past the end). */
#define ZERO_CHUNK_LEN 4096u

static const uint8_t zeros[ZERO_CHUNK_LEN];

void ed_write_ahead_note_sync(ed_log *log, uint64_t synced_len)
{
    /* An average over about the last eight syncs, in bytes. */
    if (log->n_syncs_seen == 0)
        log->sync_len_avg = synced_len;
    else
        log->sync_len_avg = log->sync_len_avg - log->sync_len_avg / 8 + synced_len / 8;
    if (log->n_syncs_seen < UINT32_MAX) log->n_syncs_seen++;
}

bool ed_write_ahead_wanted(const ed_log *log)
{
    switch (log->st->cfg.write_ahead) {
    case ED_WRITE_AHEAD_ALWAYS:
        return true;
    case ED_WRITE_AHEAD_NEVER:
        return false;
    default:
        return log->n_syncs_seen >= ED_WRITE_AHEAD_MIN_SYNCS &&
               log->sync_len_avg < ED_WRITE_AHEAD_BELOW_LEN;
    }
}

uint64_t ed_write_ahead_step(const ed_log *log)
{
    if (log->st->cfg.write_ahead == ED_WRITE_AHEAD_ALWAYS) return ED_WRITE_AHEAD_LEN;
    uint64_t want = log->sync_len_avg * ED_WRITE_AHEAD_N_FLUSHES, step = ED_WRITE_AHEAD_MIN_LEN;
    while (step < want && step < ED_WRITE_AHEAD_LEN)
        step *= 2;
    return step;
}

int ed_write_ahead_fill(ed_segment *seg, uint64_t end, uint64_t step, uint64_t limit)
{
    if (end <= seg->file_len) return ED_OK;
    ED_ASSERT(step > 0);
    uint64_t to = (end + step - 1) / step * step;
    if (limit >= end && to > limit) to = limit;
    /* [file_len, end) is written by the append that follows; only what
     * lies past it needs zeros. */
    for (uint64_t pos = end; pos < to;) {
        /* page-aligned pieces after the first */
        size_t len = (size_t)ED_MIN(ZERO_CHUNK_LEN - pos % ZERO_CHUNK_LEN, to - pos);
        int rc = ed_plat_file_pwrite(seg->file, zeros, len, pos);
        pos += len;
        if (rc != ED_OK) {
            /* Part of the zeros may have reached the file: cut it back so
             * that the file is exactly as before. */
            int trc = ed_plat_file_truncate(seg->file, seg->file_len);
            if (trc != ED_OK)
                ED_LOG_ERR("%s.log: cannot cut back to %" PRIu64 " after a failed write: %s",
                           seg->path, seg->file_len, ed_strerror(trc));
            return rc;
        }
    }
    seg->file_len = to;
    if (seg->reserved_end < to) seg->reserved_end = to;
    return ED_OK;
}
