/* Writing a segment's blocks ahead of its appends (write_ahead.c): zeros
 * written and synced past the logical end, so that the flushes that follow
 * only overwrite blocks that exist, are written and lie inside the file's
 * size, and need no file-system journal commit; and the per-log choice of
 * when that pays (docs/architecture.md, "Blocks written ahead"). */
#ifndef ED_STORAGE_WRITE_AHEAD_H
#define ED_STORAGE_WRITE_AHEAD_H

#include "storage/log_int.h"

#ifndef ED_WRITE_AHEAD_LEN
#define ED_WRITE_AHEAD_LEN (1u << 20) /* the largest step of zeros written ahead */
#endif
#define ED_WRITE_AHEAD_MIN_LEN   (16u << 10) /* the smallest step */
#define ED_WRITE_AHEAD_N_FLUSHES 64          /* auto: a step holds about this many flushes */
#ifndef ED_WRITE_AHEAD_BELOW_LEN
#define ED_WRITE_AHEAD_BELOW_LEN (12u << 10) /* auto: write ahead while syncs carry less */
#endif
#define ED_WRITE_AHEAD_MIN_SYNCS 16 /* auto: syncs seen before the average counts */

/* Notes one completed flush of a log that made synced_len bytes durable
 * (the average that the automatic choice compares). */
void ed_write_ahead_note_sync(ed_log *log, uint64_t synced_len);
/* Whether the log's next appends that reach past the file's end should
 * write blocks ahead (eddy.storage write_ahead: auto, always, never). */
bool ed_write_ahead_wanted(const ed_log *log);
/* The step of the log's zero fills: ED_WRITE_AHEAD_LEN when always, else
 * ED_WRITE_AHEAD_N_FLUSHES of its recent flushes rounded up to a power of
 * two between ED_WRITE_AHEAD_MIN_LEN and ED_WRITE_AHEAD_LEN, so that a
 * quiet log (or one that rolls often) never carries much more zeros than
 * data, and one journal commit serves many flushes. */
uint64_t ed_write_ahead_step(const ed_log *log);
/* Makes the file hold written zeros up to the next multiple of step at or
 * past end (at most limit when limit >= end), where it holds less. On a
 * failed write the file is cut back to what it held and the error
 * returned; seg->file_len and reserved_end move only on success. */
int ed_write_ahead_fill(ed_segment *seg, uint64_t end, uint64_t step, uint64_t limit);

#endif
