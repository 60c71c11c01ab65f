/* Helpers for the storage tests: temporary data directories, RecordBatch v2
 * builders, waiting for flush completions, file surgery, counting a
 * registry's steps between turns of a loop. */
#ifndef ED_TESTS_LOG_TESTUTIL_H
#define ED_TESTS_LOG_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform/net.h"
#include "storage/log.h"

/* A fresh directory under $TMPDIR (or /tmp); free with lt_rmtree + free. */
char *lt_tmpdir(void);
void lt_rmtree(const char *path);
/* A test's end: closes st (if any), removes dir and frees it. */
void lt_close_and_remove(ed_storage *st, char *dir);

/* Builds a RecordBatch v2 of n_records records with value_len-byte values
 * (filled with fill + record index), record i stamped base_ts + i * ts_step.
 * Base offset 0, valid CRC32C. Returns its length (0 if cap is too small). */
size_t lt_batch(uint8_t *buf, size_t cap, int n_records, size_t value_len, int64_t base_ts,
                int64_t ts_step, uint8_t fill);

/* Storage config for a test directory: small limits, flusher per flag. */
void lt_config(struct ed_storage_config *c, const char *dir, bool threaded);

/* Runs completions until *flag becomes true (bounded: fails after 10 s). */
void lt_wait_flag(ed_storage *st, volatile bool *flag);
/* Runs ticks/completions until the log's durable offset reaches its end. */
void lt_wait_durable_all(ed_storage *st, ed_log *log);

/* The log of topic-partition in st, NULL if none. */
ed_log *lt_find_log(ed_storage *st, const char *topic, int32_t partition);

/* Path of a file in a partition folder: <dir>/<topic>-<p>/<name>. */
void lt_part_path(char *out, size_t cap, const char *dir, const char *topic, int p,
                  const char *name);
/* Segment file name for base offset and suffix. */
void lt_seg_name(char *out, size_t cap, int64_t base, const char *suffix);
long long lt_file_size(const char *path); /* -1 if missing */
/* Reads the whole log from its start, checking that every batch is whole,
 * CRC-valid and at or past the offset expected; returns the batch count
 * (-1 at the first problem) and the bytes read in *len (if not NULL). */
int lt_read_back(ed_log *log, uint64_t *len);
bool lt_exists(const char *path);
/* Number of files in folder whose names end with suffix. */
int lt_count_suffix(const char *folder, const char *suffix);
/* Number of this process's open descriptors on files whose path starts
 * with under and ends with suffix (from /proc/self/fd). */
int lt_count_open_files(const char *under, const char *suffix);

/* Log lines captured by the hook installed with lt_capture_logs(), which also
 * starts every rate limiter afresh. */
void lt_capture_logs(void);
bool lt_log_contains(const char *needle);
void lt_release_logs(void);

/* Counts the logs open in st. */
int32_t lt_count_logs(ed_storage *st);
/* Another client's turns of the loop while the registry works in steps: a
 * zero-delay timer that, each turn, records the largest change of the
 * number of logs since the last turn and calls check(arg), and stops the
 * loop once there are want logs (or after limit turns). */
struct lt_turns {
    ed_storage *st;
    ed_loop *loop;
    int32_t want, limit;
    void (*check)(void *arg);
    void *arg;
    /* results */
    int n_turns;
    int32_t last, max_change;
    ed_timer tm;
};
/* Runs s->loop until then; the loop's result. */
int lt_turns_run(struct lt_turns *s);

#endif
