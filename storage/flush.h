/* Group commit (flush.c): flush jobs per log on a flusher thread (or
 * inline), durable waiters, flush.messages and flush.ms. */
#ifndef ED_STORAGE_FLUSH_H
#define ED_STORAGE_FLUSH_H

#include "storage/log_int.h"

int ed_flush_start(ed_storage *st);
/* Stops the flusher thread after it finished its queue. */
void ed_flush_stop(ed_storage *st);
/* Asks for a flush of log soon (now, if a flusher thread is idle for it). */
void ed_flush_request(ed_log *log);
/* Inline flushes (no thread) and time-based flush requests; returns the ms
 * until the next flush.ms deadline. */
uint32_t ed_flush_tick(ed_storage *st, int64_t now_ms);
/* Flushes every log synchronously on the calling thread (close). */
void ed_flush_all_now(ed_storage *st);
/* Completes every waiter of log with status (log deletion). */
void ed_flush_fail_waiters(ed_log *log, int status);
/* Counts appended records toward flush.messages / flush.ms. */
void ed_flush_note_append(ed_log *log, int64_t n_records, uint64_t len, int64_t now_ms);
void ed_flush_job_free(struct ed_flush_job *job);

#endif
