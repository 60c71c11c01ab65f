/* Offline verification of Eddy's files (the `eddy check` tool): every batch
 * of every segment (framing, offsets, CRC32C) and every entry of every
 * .index and .timeindex file, for a data directory, one partition folder or
 * one .log file. Read-only unless asked to truncate torn tails. Never run it
 * with truncate on a directory a running broker is using. */
#ifndef ED_STORAGE_CHECK_H
#define ED_STORAGE_CHECK_H

#include "platform/base.h"

struct ed_check_report {
    uint64_t n_partitions;
    uint64_t n_segments;
    uint64_t n_batches;
    uint64_t n_records;   /* from the batch headers */
    uint64_t len;         /* bytes of valid batches */
    uint64_t n_problems;  /* invalid batches, bad index entries, unreadable files */
    uint64_t n_warnings;  /* missing or stale index files: rebuilt at open */
    uint64_t n_truncated; /* segments cut at their first invalid batch */
    uint64_t len_truncated;
};

/* Receives each finished report line (no newline); problem lines are
 * flagged. */
typedef void (*ed_check_print)(void *arg, bool problem, const char *line);

/* Checks path (a data directory, a <topic>-<partition> folder or a .log
 * file). With truncate, a segment with an invalid batch is cut there and its
 * index files removed (open rebuilds them), as recovery would do. Returns
 * ED_OK when it could look at everything (problems are counted in *rep), or
 * the error that stopped it. */
int ed_check_path(const char *path, bool truncate, ed_check_print print, void *arg,
                  struct ed_check_report *rep);

#endif
