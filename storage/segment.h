/* Internals of one segment: its structure, its sparse indexes (index.c),
 * and the storage-wide cache of its open files (fdcache.c); segment.c,
 * index.c and fdcache.c implement it, everything above them in storage/
 * uses it (docs/architecture.md, "Storage": the order of the storage
 * files).
 *
 * Threads: everything here belongs to the loop thread, except what a flush
 * job hands to the flusher thread: the job's segment list (each held by a
 * reference), the segments' files, and the in-memory index of sealed
 * segments, which no longer changes once a segment is sealed. The file
 * cache closes and reopens files on the loop thread only, and never those
 * of a segment in a flush job. */
#ifndef ED_STORAGE_SEGMENT_H
#define ED_STORAGE_SEGMENT_H

#include <stdatomic.h>

#include "storage/batch.h"
#include "storage/log.h"
#include "storage/segdir.h"

#define ED_INDEX_ENTRY_LEN     8  /* .index: relative offset i32, position i32 */
#define ED_TIMEINDEX_ENTRY_LEN 12 /* .timeindex: timestamp i64, relative offset i32 */
#ifndef ED_SEG_RESERVE_LEN
#define ED_SEG_RESERVE_LEN (1u << 20) /* disk blocks reserved ahead of the writer */
#endif
#ifndef ED_SCAN_BUF_LEN
#define ED_SCAN_BUF_LEN (256u << 10) /* recovery reads the log in chunks of this size */
#endif
#define ED_HDR_WINDOW_LEN 4096 /* batch headers are read in windows of this size */

/* ---- indexes (index.c) ---- */
struct ed_index_entry {
    uint32_t rel; /* offset - segment base: the last offset of the batch at pos */
    uint32_t pos; /* byte position of that batch in the .log */
};
struct ed_time_entry {
    int64_t ts;   /* largest timestamp up to the batch ending at base+rel */
    uint32_t rel; /* last offset of the batch holding ts, relative */
};
/* A segment's sparse indexes in memory, Kafka's entries in native form. */
struct ed_index {
    struct ed_index_entry *off;
    uint32_t n_off, cap_off;
    struct ed_time_entry *time;
    uint32_t n_time, cap_time;
    uint64_t len_since_entry; /* bytes appended since the last offset entry */
};

/* ---- segments (segment.c) ---- */
struct ed_segment {
    atomic_int refs;
    int64_t base_offset;
    int64_t next_offset;   /* one past the last offset of the last batch; base if empty */
    uint64_t len;          /* bytes of complete batches: all that readers may see */
    uint64_t synced_len;   /* bytes covered by a completed fdatasync */
    uint64_t reserved_end; /* disk blocks reserved up to this position */
    ed_file *file;
    char *path;                    /* "<log dir>/<20-digit base offset>", no suffix */
    int64_t max_ts;                /* largest batch maxTimestamp, -1 if none */
    int64_t max_ts_off;            /* last offset of the batch that holds max_ts */
    int64_t first_ts;              /* maxTimestamp of the first batch (roll by time), -1 */
    int64_t created_ms;            /* wall clock when created or opened */
    bool sealed;                   /* rolled: takes no more appends */
    bool index_on_disk;            /* .index/.timeindex files describe this segment */
    bool index_checked;            /* ... and have been validated */
    uint8_t in_job;                /* flush jobs in flight (or a swap) holding it */
    bool trim_pending;             /* sealed: drop the reservation past len */
    struct ed_index idx;           /* in memory while !index_on_disk */
    ed_file *idx_file, *tidx_file; /* on-disk indexes, opened on first use */
    uint32_t n_disk_off, n_disk_time;
    struct ed_fdcache *cache; /* set while the segment is in a log: its files may be closed */
    ed_segment *lru_prev, *lru_next; /* in cache's list while attached with file open */
    bool lru_linked;
};

/* A window of a segment's bytes for reading consecutive batch headers with
 * few preads. */
struct ed_hdr_window {
    uint64_t pos;
    uint32_t len;
    uint8_t buf[ED_HDR_WINDOW_LEN];
};

/* Creates a new empty segment file <dir>/<base>.log (replacing a stale one
 * and its indexes). */
int ed_segment_create(const char *dir, int64_t base, int64_t now_ms, ed_segment **out);
/* Opens an existing segment file; len is the file size, nothing validated. */
int ed_segment_open(const char *dir, int64_t base, int64_t now_ms, bool writable, ed_segment **out);
void ed_segment_ref(ed_segment *seg);
void ed_segment_unref(ed_segment *seg); /* frees on the last reference */
/* Builds "<seg path><suffix>" into buf. */
int ed_segment_path(const ed_segment *seg, const char *suffix, char *buf, size_t cap);
/* Appends len bytes at seg->len with one gather write, reserving disk ahead
 * (up to reserve_to, a hint) so a full disk fails before writing. On a
 * failed write the file is cut back to the old end. seg->len advances only
 * on success. */
int ed_segment_append(ed_segment *seg, const struct ed_iovec *iov, int n_iov, size_t len,
                      uint64_t reserve_to);
/* Reads and decodes the batch header at pos, which must lie below seg->len
 * together with the whole batch. ED_ERR_CORRUPT (logged) otherwise. */
int ed_segment_header(ed_segment *seg, struct ed_hdr_window *w, uint64_t pos,
                      struct ed_batch_info *b);
/* Removes the segment's files (.log first; orphan indexes are cleaned at open). */
void ed_segment_remove_files(ed_segment *seg);

/* ---- open segment files (fdcache.c) ---- */
/* A storage-wide list of the segments whose .log is open, most recently
 * used first, and a soft bound on their number. Loop thread only. */
struct ed_fdcache {
    uint32_t max_open;
    uint32_t n_open; /* attached segments with their .log open */
    ed_segment *head, *tail;
    uint64_t n_closed, n_reopened, n_reopen_failed, n_over_bound;
};
/* Puts a segment that joins a log under the cache, then closes the files
 * of least recently used idle segments beyond the bound. */
void ed_fdcache_attach(struct ed_fdcache *fc, ed_segment *seg);
/* Takes a segment that leaves its log (or is freed) out of the cache: its
 * file stays open until the segment is freed. */
void ed_fdcache_detach(ed_segment *seg);
/* The segment's .log, reopened (read-only once sealed) if the cache closed
 * it; marks it most recently used. An error (logged) if it cannot be
 * reopened (ED_ERR_IO when the file is gone). Loop thread only; the flusher uses the files of its
 * job's segments, which the cache never closes. */
int ed_fdcache_file(ed_segment *seg, ed_file **out);
/* Closes idle files, least recently used first, until at most the bound
 * are open (or none is idle). */
void ed_fdcache_trim(struct ed_fdcache *fc);

/* ---- index (index.c) ---- */
/* Makes room for n more entries of each kind (before a write, so that an
 * append either fully succeeds or changes nothing). */
int ed_index_reserve(struct ed_index *ix, uint32_t n);
/* Records one appended batch at pos: max timestamp and, every interval
 * bytes, an offset and time entry (Kafka's LogSegment rules). Room must have
 * been reserved. */
void ed_index_note_batch(ed_segment *seg, const struct ed_batch_info *b, uint64_t pos,
                         uint32_t interval);
/* On roll: the final time entry for the segment's largest timestamp. */
void ed_index_seal(ed_segment *seg);
void ed_index_free(struct ed_index *ix);
/* Writes seg->idx as <path>.index and .timeindex (tmp file, fsync, rename);
 * the caller syncs the folder. Runs on the flusher thread. */
int ed_index_write_files(ed_segment *seg);
/* Cheap checks of a sealed segment's index files at open (sizes, the last
 * time entry); sets index_on_disk and max_ts when they pass. */
void ed_index_probe_files(ed_segment *seg);
/* Full check of a sealed segment's index files before first use: entries
 * ascending and inside the log, the last offset entry naming a real batch.
 * ED_ERR_CORRUPT (logged) when they fail. Opens the files for lookups. */
int ed_index_check_disk(ed_segment *seg);
/* Opens a sealed segment's index files for lookups, so that they stay
 * readable if the files are unlinked (compaction's swap). */
int ed_index_open_files(ed_segment *seg);
/* Rebuilds seg->idx from the log's batch headers and forgets the files. */
int ed_index_rebuild(ed_segment *seg, uint32_t interval);
/* Position to start a forward scan for target: the batch of the largest
 * indexed offset <= target, else 0. */
int ed_index_lookup_offset(ed_segment *seg, int64_t target, uint64_t *pos);
/* Largest indexed batch position <= limit (0 if none). */
int ed_index_lookup_position(ed_segment *seg, uint64_t limit, uint64_t *pos);
/* Offset to start a forward scan for timestamp ts: from the largest time
 * entry <= ts, else the segment base. */
int ed_index_lookup_time(ed_segment *seg, int64_t ts, int64_t *offset);
/* Closes the on-disk index files and frees in-memory entries. */
void ed_index_close(ed_segment *seg);

#endif
