/* The clean-shutdown marker (cleanstop.c): <data dir>/eddy-clean-shutdown,
 * written at a clean stop after the final fdatasyncs, holding for each log
 * its active segment's size, next offset and in-memory indexes, so that
 * the next open need not read the active segments (docs/format.md). It is
 * removed, durably, at open before anything is appended. */
#ifndef ED_STORAGE_CLEANSTOP_H
#define ED_STORAGE_CLEANSTOP_H

#include "storage/checkpoint.h"

#define ED_CLEANSTOP_FILE     "eddy-clean-shutdown"
#define ED_CLEANSTOP_MAGIC    "EDCS"
#define ED_CLEANSTOP_VERSION  1
#define ED_CLEANSTOP_HDR_LEN  16         /* magic, version, reserved, n_logs, header CRC */
#define ED_CLEANSTOP_FILE_MAX (1u << 28) /* a larger file is ignored */

/* One log's entry: its active segment as the clean stop left it. */
struct ed_cleanstop_log {
    char topic[ED_TOPIC_MAX + 1];
    int32_t partition;
    int64_t base;        /* the active segment's base offset */
    uint64_t len;        /* its size in bytes */
    int64_t next_offset; /* one past its last offset (base if empty) */
    int64_t first_ts, max_ts, max_ts_off;
    struct ed_index idx; /* its indexes; owned here until taken */
};

struct ed_cleanstop {
    struct ed_cleanstop_log *logs;
    uint32_t n_logs;
    bool present; /* a marker file was there (valid or not): it must go */
};

/* Reads the marker of the data directory. A missing file gives no
 * entries; a damaged one (checksum, framing, impossible values) gives none
 * either and is logged; only memory can fail. */
int ed_cleanstop_read(ed_storage *st, struct ed_cleanstop *cs);
/* The entry of topic/partition, NULL if none. */
struct ed_cleanstop_log *ed_cleanstop_find(struct ed_cleanstop *cs, const char *topic,
                                           int32_t partition);
/* Removes the marker and syncs the data directory, so that a crash later
 * never finds it (call before the first append). */
int ed_cleanstop_remove(ed_storage *st);
/* Writes the marker for every log whose active segment is wholly synced
 * (after the final flushes of a clean stop). */
int ed_cleanstop_write(ed_storage *st);
void ed_cleanstop_free(struct ed_cleanstop *cs);

#endif
