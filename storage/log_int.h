/* The structures of partition logs and of the data directory, shared by
 * the storage files above the segment (docs/architecture.md, "Storage":
 * the order of the storage files), and the calls on a log as an object
 * (log.c): making, freeing and removing one, its segment list. Rolling,
 * reads and appends are in log_roll.c, log_read.c and log_append.c;
 * group commit in flush.c. */
#ifndef ED_STORAGE_LOG_INT_H
#define ED_STORAGE_LOG_INT_H

#include "storage/segdir.h"
#include "storage/recode.h"
#include "storage/segment.h"

struct ed_compactor; /* compact_int.h */

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

/* Work another storage module hands to a log's next flush job (the swap
 * of a compacted segment): run on the flusher thread after the job's syncs
 * (inline without a thread), then done on the loop thread when the job
 * completes, before a deleted log is freed. */
struct ed_flush_extra {
    void (*run)(struct ed_flush_extra *x);
    void (*done)(ed_storage *st, struct ed_flush_extra *x);
};

struct ed_flush_job {
    ed_log *log;
    struct ed_flush_extra *extra; /* NULL, or the work handed over with the job */
    int64_t target;               /* offsets below are durable once the job succeeds */
    struct ed_flush_seg *segs;
    uint32_t n_segs, cap_segs;
    bool sync_dir;
    int status;
    uint64_t start_ns;         /* when it was submitted (the flush hook's latency) */
    bool overlap;              /* only the active segment's fdatasync, begun beside an older job */
    bool ran;                  /* finished before the log's older job: completes after it */
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
    uint64_t unsynced_len;      /* bytes appended since the last flush job was made */
    int64_t last_sync_ms;       /* wall clock when the last flush job that synced began */
    uint64_t sync_len_avg;      /* bytes made durable per flush, recent average (write_ahead.c) */
    uint32_t n_syncs_seen;      /* flushes that made bytes durable since the log was opened */
    bool flush_wanted;
    bool gathering;   /* a flush waits for eddy.flush.gather.ms (counted when it starts) */
    bool gather_full; /* ... or started early: eddy.flush.gather.bytes were unsynced */
    bool job_busy;    /* a flush job in flight (job_head, and perhaps one more) */
    bool hurry;       /* ed_log_flush_soon since the last job was made */
    bool dir_dirty;   /* a segment file was created since the last folder sync */
    bool deleted;
    int broken;                    /* sticky error after a failed fdatasync: appends refuse */
    struct ed_flush_job job, job2; /* at most two in flight, completed in order */
    struct ed_flush_job *job_head; /* the older job in flight, NULL if none */
    uint8_t n_jobs;                /* jobs in flight */
    struct ed_flush_extra *extra_pending; /* for the next flush job */
    int64_t clean_offset;    /* compaction: offsets below were cleaned by the last pass */
    int64_t horizon_due_ms;  /* compaction: earliest tombstone delete horizon, 0 = none */
    int64_t compact_skipped; /* compaction: batches it cannot read were logged below this */
};

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
    ed_retention_drop_hook drop_hook; /* called with hook_arg */
    bool guard_kept;                  /* the guard's last run stopped at segments the hook keeps */
    void *hook_arg;
    ed_flush_hook flush_hook;
    void *flush_hook_arg;
    struct ed_waiter *free_waiters;
    bool in_completions;
    bool threaded;
    ed_thread *thread;
    ed_mutex *mu;
    ed_cond *cv;
    struct ed_flush_job *todo_head, *todo_tail; /* under mu */
    struct ed_flush_job *done_head, *done_tail; /* under mu */
    struct ed_flush_job *sync_head, *sync_tail; /* under mu: overlapping jobs */
    ed_thread *thread2;                         /* runs overlapping jobs only */
    bool thread2_tried;
    bool stop;        /* under mu */
    uint32_t n_idle;  /* under mu: flusher threads waiting for a job */
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
    struct ed_recoder recoder;           /* ed_log_recode: a topic's compression.type */
    struct ed_fdcache fdc;               /* open segment files (fdcache.c) */
    void (*tick_request)(void *arg, uint32_t in_ms);
    void *tick_request_arg;
    int64_t tick_at_ms; /* when the owner will call ed_storage_tick next */
};

int ed_log_new(ed_storage *st, const char *dir, const char *topic, int32_t partition,
               const struct ed_log_config *cfg, ed_log **out);
/* Frees the log and drops its segment references (files stay). */
void ed_log_free(ed_log *log);
int ed_log_push_segment(ed_log *log, ed_segment *seg);
/* Index of the segment holding offset (the last with base <= offset). */
uint32_t ed_log_find_segment(const ed_log *log, int64_t offset);
void ed_log_clamp_config(struct ed_log_config *cfg);
/* Removes a deleted log's folder (where the delete renamed it) and frees
 * the log. */
void ed_log_remove(ed_log *log);
/* The active segment: the last one. */
static inline ed_segment *ed_log_active(const ed_log *log)
{
    return log->segs[log->n_segs - 1];
}

#endif
