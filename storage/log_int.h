/* Internals shared by the storage engine's modules (segment, index, log,
 * recovery, retention, flush, storage): the structures behind ed_segment,
 * ed_log and ed_storage and the calls the modules make on each other.
 *
 * Threads: everything here belongs to the loop thread, except what a flush
 * job hands to the flusher thread: the job's segment list (each held by a
 * reference), the segments' files, and the in-memory index of sealed
 * segments, which no longer changes once a segment is sealed. The file
 * cache closes and reopens files on the loop thread only, and never those
 * of a segment in a flush job. */
#ifndef ED_STORAGE_LOG_INT_H
#define ED_STORAGE_LOG_INT_H

#include <stdatomic.h>

#include "storage/log.h"

#define ED_SEG_DIGITS          20 /* digits of the base offset in file names */
#define ED_INDEX_ENTRY_LEN     8  /* .index: relative offset i32, position i32 */
#define ED_TIMEINDEX_ENTRY_LEN 12 /* .timeindex: timestamp i64, relative offset i32 */
#define ED_STORAGE_PATH_MAX    1024
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
    bool in_job;                   /* part of a flush job in flight */
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
/* Parses "<20 digits><suffix>"; false if name is anything else. */
bool ed_segment_parse_name(const char *name, const char *suffix, int64_t *base);

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

/* ---- recovery (recovery.c) ---- */
struct ed_scan_result {
    uint64_t valid_len;   /* bytes of valid batches from position 0 */
    uint64_t dropped_len; /* bytes after them */
    uint64_t n_batches;
    uint64_t n_records; /* sum of the batches' record counts */
    const char *why;    /* first failed check, NULL if the file is whole */
};
/* Validates every batch of seg from position 0 (framing, offsets following
 * on from the base and below limit_offset, CRC32C), rebuilding seg->idx.
 * Batches ending below trusted_below (the recovery point) are
 * only framed: their CRC is not computed. With truncate, cuts the file at
 * the first bad batch and logs it. buf is a scratch buffer of buf_len
 * bytes. */
int ed_recovery_scan(ed_segment *seg, int64_t limit_offset, int64_t trusted_below,
                     uint32_t interval, bool truncate, uint8_t *buf, size_t buf_len,
                     struct ed_scan_result *res);
/* Opens the partition folder dir: removes segments wholly below start_hint,
 * trusts sealed segments with sane index files, scans the rest (CRC32C only
 * past recovery_point), truncates torn tails. */
int ed_recovery_open_log(ed_storage *st, const char *dir, const char *topic, int32_t partition,
                         const struct ed_log_config *cfg, int64_t start_hint,
                         int64_t recovery_point, ed_log **out);

/* ---- logs (log.c) ---- */
struct ed_waiter {
    int64_t offset;
    ed_durable_cb cb;
    void *arg;
    struct ed_waiter *next;
};

struct ed_flush_seg {
    ed_segment *seg;   /* referenced */
    uint64_t sync_len; /* len when the job was made */
    bool sync;         /* fdatasync the file */
    bool trim;         /* truncate to sync_len first (drop the reservation) */
    bool write_index;  /* write the .index/.timeindex files */
    bool index_done;   /* result: index files written */
    bool trim_done;    /* result: truncated */
};

struct ed_flush_job {
    ed_log *log;
    int64_t target; /* offsets below are durable once the job succeeds */
    struct ed_flush_seg *segs;
    uint32_t n_segs, cap_segs;
    bool sync_dir;
    int status;
    struct ed_flush_job *next; /* flusher queues */
};

struct ed_log {
    ed_storage *st;
    char *topic;
    int32_t partition;
    char *dir;        /* "<data dir>/<topic>-<partition>" */
    char *delete_dir; /* where the folder went when the log was deleted */
    struct ed_log_config cfg;
    ed_segment **segs; /* ascending base offsets; the last is active */
    uint32_t n_segs, cap_segs;
    int64_t start_offset;
    int64_t end_offset;
    int64_t durable_offset;
    int64_t recovery_point; /* offsets below were fdatasynced (recovery-point-offset-checkpoint) */
    uint64_t size;
    struct ed_waiter *wait_head, *wait_tail; /* ascending offsets */
    int64_t unflushed_msgs;
    int64_t unflushed_since_ms; /* wall clock of the oldest unflushed append, -1 */
    bool flush_wanted;
    bool job_busy;
    bool dir_dirty; /* a segment file was created since the last folder sync */
    bool deleted;
    int broken; /* sticky error after a failed fdatasync: appends refuse */
    struct ed_flush_job job;
    int64_t clean_offset;    /* compaction: offsets below were cleaned by the last pass */
    int64_t horizon_due_ms;  /* compaction: earliest tombstone delete horizon, 0 = none */
    int64_t compact_skipped; /* compaction: batches it cannot read were logged below this */
};

int ed_log_new(ed_storage *st, const char *dir, const char *topic, int32_t partition,
               const struct ed_log_config *cfg, ed_log **out);
/* Frees the log and drops its segment references (files stay). */
void ed_log_free(ed_log *log);
int ed_log_push_segment(ed_log *log, ed_segment *seg);
/* Seals the active segment and starts a new one at the end offset. */
int ed_log_roll(ed_log *log, int64_t now_ms);
/* Removes the oldest segment (never the active one): files gone, reference
 * dropped, start offset moved. */
void ed_log_drop_oldest(ed_log *log);
/* True when the active segment is old enough (wall clock since it was
 * created) to roll by segment.ms from the tick. */
bool ed_log_roll_due(const ed_log *log, int64_t now_ms);
/* Index of the segment holding offset (the last with base <= offset). */
uint32_t ed_log_find_segment(const ed_log *log, int64_t offset);
void ed_log_clamp_config(struct ed_log_config *cfg);

/* ---- flush (flush.c) ---- */
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
void ed_flush_note_append(ed_log *log, int64_t n_records, int64_t now_ms);
void ed_flush_job_free(struct ed_flush_job *job);

/* ---- retention (retention.c) ---- */
/* Retention by time and size of every log, then the disk guard. */
void ed_retention_run(ed_storage *st, int64_t now_ms, bool check_space);
/* Frees at least need_len bytes by deleting the oldest sealed segments
 * across logs; returns the bytes freed. */
uint64_t ed_retention_guard(ed_storage *st, uint64_t need_len);
/* May len more bytes be appended to log? ED_OK, or ED_ERR_NOSPC (logged,
 * counted) at the disk budget or below the free-space floor; under
 * disk_full_delete the guard first deletes what it must. */
int ed_retention_admit(ed_storage *st, const ed_log *log, size_t len);

/* ---- compaction (compact.c) ---- */
/* Does a bounded step of compaction work; returns the ms until it wants
 * the next step (small while a pass runs). */
uint32_t ed_compact_tick(ed_storage *st, int64_t now_ms);
/* Drops any pass over log (being deleted). */
void ed_compact_forget(ed_storage *st, ed_log *log);
void ed_compact_free(ed_storage *st);
/* At open of a partition folder, before its segments are listed: removes
 * unfinished .cleaned files and completes committed .swap files. */
int ed_compact_recover_dir(const char *dir);

/* ---- storage (storage.c) ---- */
struct ed_storage {
    struct ed_storage_config cfg;
    char *dir;
    ed_log **logs;
    uint32_t n_logs, cap_logs;
    uint64_t total_len; /* bytes of all segments of all logs */
    struct ed_storage_stats stats;
    void (*notify)(void *arg);
    void *notify_arg;
    ed_retention_hook hook;
    void *hook_arg;
    struct ed_waiter *free_waiters;
    bool in_completions;
    bool threaded;
    ed_thread *thread;
    ed_mutex *mu;
    ed_cond *cv;
    struct ed_flush_job *todo_head, *todo_tail; /* under mu */
    struct ed_flush_job *done_head, *done_tail; /* under mu */
    bool stop;                                  /* under mu */
    ed_log **zombies; /* deleted logs waiting for their flush job to end */
    uint32_t n_zombies, cap_zombies;
    int64_t next_retention_ms;
    int64_t next_space_ms;
    bool guard_now;       /* an append met a full disk: run the guard next tick */
    bool space_low;       /* refuse policy: free space is below the floor */
    bool fs_known;        /* fs_free_len holds a measurement */
    uint64_t fs_free_len; /* free bytes at the last check, less what was appended since */
    uint8_t *scan_buf;
    int64_t next_rp_ms;                  /* next time the recovery points may be written */
    bool rp_dirty;                       /* a recovery point moved since the file was written */
    struct ed_compactor *compactor;      /* compact.c; NULL until first used */
    struct ed_batch_validator validator; /* ed_log_validate: producers' batches */
    struct ed_fdcache fdc;               /* open segment files (fdcache.c) */
};

/* Finishes a deleted log's folder removal and frees it. */
void ed_storage_finish_delete(ed_storage *st, ed_log *log);
/* Writes the log-start-offset checkpoint of every log (DeleteRecords). */
int ed_storage_write_start_offsets(ed_storage *st);
/* Writes the recovery-point-offset-checkpoint of every log. */
int ed_storage_write_recovery_points(ed_storage *st);

#endif
