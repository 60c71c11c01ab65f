/* The storage engine's public face: a data directory (ed_storage) holding one
 * partition log (ed_log) per topic-partition in Kafka's own layout
 * <log.dirs>/<topic>-<partition>/<20-digit base offset>.log|.index|.timeindex.
 *
 * Threading: every function here is called from the event-loop thread. The
 * storage may run a flusher thread internally; completions of durable waits
 * are always delivered on the loop thread from ed_storage_run_completions(),
 * which the owner calls after the notify callback fired (or periodically).
 * On a port without threads, flushes run inline from ed_storage_tick(). */
#ifndef ED_STORAGE_LOG_H
#define ED_STORAGE_LOG_H

#include "platform/base.h"
#include "platform/platform.h"
#include "storage/batch.h"

typedef struct ed_storage ed_storage;
typedef struct ed_log ed_log;
typedef struct ed_segment ed_segment;

/* Per-log settings; Kafka's topic-level names in comments. */
struct ed_log_config {
    uint64_t segment_len;            /* segment.bytes (default 16 MiB) */
    int64_t segment_ms;              /* segment.ms (roll by age; default 7 days) */
    int64_t retention_ms;            /* retention.ms (-1 = keep forever) */
    int64_t retention_len;           /* retention.bytes (-1 = no limit) */
    uint32_t index_interval_len;     /* index.interval.bytes (default 4096) */
    int64_t flush_interval_messages; /* flush.messages (default: every batch is flushed soon) */
    int64_t flush_interval_ms;       /* flush.ms */
    int32_t max_message_len;         /* max.message.bytes: largest batch accepted */
    bool compact;                    /* cleanup.policy contains compact */
    bool delete_;                    /* cleanup.policy contains delete */
    bool log_append_time;            /* message.timestamp.type=LogAppendTime */
    int compression;                 /* enum ed_compression for batches Eddy builds; negative:
                                      * compression.type=producer (the builder's choice) */
    int64_t delete_retention_ms;     /* delete.retention.ms (tombstones) */
    int zstd_level;                  /* compression.zstd.level of batches Eddy builds with zstd
                                      * (0 = the codec's default, 3; compaction: at most
                                      * ED_COMPACT_ZSTD_LEVEL_MAX) */
};
/* Fills c with Eddy's defaults. */
void ed_log_config_default(struct ed_log_config *c);

/* Settings of the whole data directory. */
struct ed_storage_config {
    const char *dir;                /* log.dirs (one directory) */
    struct ed_log_config log;       /* defaults for new logs */
    uint64_t disk_budget_len;       /* 0 = none: total bytes of all logs */
    uint64_t disk_free_floor_len;   /* 0 = none: keep this much free space */
    bool disk_full_delete;          /* log.dir.full.policy: at the budget or the floor, false
                                     * (refuse) refuses appends with ED_ERR_NOSPC; true
                                     * (delete-oldest) deletes the oldest sealed segments */
    int64_t retention_check_ms;     /* log.retention.check.interval.ms */
    int64_t recovery_checkpoint_ms; /* log.flush.offset.checkpoint.interval.ms: how often the
                                     * recovery points are written (60 s, Kafka's default) */
    bool use_flusher_thread;        /* false: flush inline in ed_storage_tick */
    uint32_t max_open_segments;     /* eddy.max.open.segments: soft bound on segments whose files
                                     * are open; idle sealed ones beyond it are closed, least
                                     * recently used first, and reopened on use. 0 = none */
    uint32_t gather_ms;             /* eddy.flush.gather.ms: durable waits of a log gather this
                                     * long after its previous sync began (0 = sync at once) */
    uint64_t gather_len;            /* eddy.flush.gather.bytes: ... unless this many bytes are
                                     * unsynced: then the sync starts at once */
    int write_ahead; /* ED_WRITE_AHEAD_*: zeros written ahead of the active segment's appends */
};
/* When an active segment's blocks are written ahead (docs/architecture.md,
 * "Blocks written ahead"): while its log's flushes carry little (auto,
 * the default), always, or never (disk blocks only reserved). */
enum { ED_WRITE_AHEAD_AUTO = 0, ED_WRITE_AHEAD_ALWAYS = 1, ED_WRITE_AHEAD_NEVER = 2 };
void ed_storage_config_default(struct ed_storage_config *c);

/* Opens (creating if needed) the data directory, recovering every partition
 * found in it (torn tails truncated at the first invalid batch, with a log
 * line naming file, position and dropped bytes). */
int ed_storage_open(const struct ed_storage_config *cfg, ed_storage **out);
/* Flushes everything, completes all waiters, stops the flusher, frees. */
void ed_storage_close(ed_storage *st);

/* Called on the loop thread when a gathering flush is due sooner than the
 * delay the last ed_storage_tick() returned: the owner calls the tick again
 * within in_ms (without it, the next tick starts the flush). */
void ed_storage_set_tick_request(ed_storage *st, void (*request)(void *arg, uint32_t in_ms),
                                 void *arg);

/* Called (possibly from the flusher thread) whenever completions are ready
 * to be run on the loop thread; the owner wakes its loop and then calls
 * ed_storage_run_completions(). */
void ed_storage_set_notify(ed_storage *st, void (*notify)(void *arg), void *arg);
/* Runs ready durable-wait callbacks on the calling (loop) thread. */
void ed_storage_run_completions(ed_storage *st);
/* Periodic work from the loop: time-based flushes and rolls, retention, the
 * disk guard; inline flushing on ports without threads. Returns the delay in
 * ms until it wants to be called again. */
uint32_t ed_storage_tick(ed_storage *st, int64_t now_ms);

/* Enumerates the logs present (after open): topic, partition, log. */
typedef void (*ed_storage_log_cb)(void *arg, const char *topic, int32_t partition, ed_log *log);
void ed_storage_each_log(ed_storage *st, ed_storage_log_cb cb, void *arg);
/* Creates the log of a new partition; ED_ERR_EXIST if present. The config is
 * copied. Topic names follow Kafka's rule: [a-zA-Z0-9._-], 1..249 chars. */
int ed_storage_create_log(ed_storage *st, const char *topic, int32_t partition,
                          const struct ed_log_config *cfg, ed_log **out);
/* Deletes a partition's log and files. Outstanding slices stay readable
 * until released; pending waiters complete with ED_ERR_CLOSED. */
int ed_storage_delete_log(ed_storage *st, ed_log *log);
/* Deletes n logs (ED_ERR_NOENT, changing nothing, if one is not open):
 * frees first (each folder renamed to <name>.<id>-delete, then removed),
 * then rewrites the checkpoints once. The logs are gone even when the
 * rewrite fails (its error is returned): the checkpoints may then still
 * name them, and no log of the same name may be created until
 * ed_storage_write_checkpoints has succeeded (or the next open). */
int ed_storage_delete_logs(ed_storage *st, ed_log *const *logs, uint32_t n);
/* The first half of ed_storage_delete_logs: the logs and their folders go,
 * the checkpoints are left for one ed_storage_write_checkpoints at the end
 * of a deletion done in steps. */
int ed_storage_remove_logs(ed_storage *st, ed_log *const *logs, uint32_t n);
/* Rewrites log-start-offset-checkpoint and recovery-point-offset-checkpoint
 * from the logs open now. */
int ed_storage_write_checkpoints(ed_storage *st);
/* Replaces a log's settings (retention, segment size, ...). */
void ed_log_set_config(ed_log *log, const struct ed_log_config *cfg);
const struct ed_log_config *ed_log_get_config(const ed_log *log);

/* Counters of the disk guard and retention, for status, metrics and tests. */
struct ed_storage_stats {
    uint64_t n_segments_deleted_retention;
    uint64_t n_segments_deleted_guard; /* dropped by the disk budget/floor (delete-oldest) */
    uint64_t len_deleted_guard;
    uint64_t n_offsets_deleted_guard; /* offsets in the segments the guard dropped */
    uint64_t n_appends_refused_full;  /* appends refused at the disk budget or floor */
    uint64_t n_flushes;               /* fdatasync rounds */
    uint64_t n_flushes_gathered;      /* rounds started by eddy.flush.gather.ms (waits gathered) */
    uint64_t n_flushes_full;          /* rounds started by eddy.flush.gather.bytes */
    uint64_t n_flushes_overlapped;    /* rounds begun beside a running one (a window's waits) */
    uint64_t n_truncated_recovery;    /* logs whose tail was cut at open */
    uint64_t len_truncated_recovery;
    uint64_t n_clean_opens;        /* active segments taken from the clean-shutdown marker */
    uint64_t len_scanned_recovery; /* bytes of segments read batch by batch at open */
    uint64_t n_compactions;        /* compaction passes completed */
    uint64_t n_compactions_aborted;
    uint64_t len_compacted_read;        /* bytes of segments rewritten */
    uint64_t len_compacted_written;     /* bytes of the cleaned segments */
    uint64_t n_records_compacted;       /* records removed (superseded or expired tombstones) */
    uint64_t n_compact_skipped;         /* batches compaction could not read: kept as they are */
    uint64_t n_compact_unchanged;       /* segments a pass found nothing to drop in */
    uint64_t n_open_segments;           /* now: segments of the logs whose .log file is open */
    uint64_t n_segment_files_closed;    /* idle segment files the cache closed */
    uint64_t n_segment_files_reopened;  /* closed segment files opened again on use */
    uint64_t n_segment_reopen_failed;   /* ... and failed to (logged; the read failed) */
    uint64_t n_segment_open_over_bound; /* opened although the bound was reached (none idle) */
    uint64_t n_batches_recoded;         /* producers' batches re-encoded (compression.type) */
    uint64_t len_recoded_in;            /* ... their bytes as sent */
    uint64_t len_recoded_out;           /* ... and as stored */
    uint64_t ns_recoding;               /* loop time spent re-encoding them */
};
void ed_storage_stats_get(const ed_storage *st, struct ed_storage_stats *out);

/* Hook for the upstream mirror: retention and the disk guard ask it before
 * deleting a segment whose records end before last_offset+1; returning false
 * keeps the segment. The disk guard (under disk_full_delete) deletes a kept
 * segment only when it has no other one left and a drop hook is set: the
 * drop hook is told the segment's offsets first..last while the segment is
 * still readable, and ED_OK lets it go (anything else keeps it, and the
 * append that needed the room is refused). Without a drop hook the guard
 * never deletes what the retention hook keeps. */
typedef bool (*ed_retention_hook)(void *arg, ed_log *log, int64_t last_offset, bool guard);
typedef int (*ed_retention_drop_hook)(void *arg, ed_log *log, int64_t first, int64_t last);
void ed_storage_set_retention_hook(ed_storage *st, ed_retention_hook hook, void *arg);
void ed_storage_set_drop_hook(ed_storage *st, ed_retention_drop_hook drop);

/* Called on the loop after every flush round that synced data: the bytes
 * it made durable and the ns from its start to its completion (metrics). */
typedef void (*ed_flush_hook)(void *arg, uint64_t len, uint64_t ns);
void ed_storage_set_flush_hook(ed_storage *st, ed_flush_hook hook, void *arg);

/* ---- appends ---- */
struct ed_append_result {
    int64_t base_offset;     /* first offset assigned */
    int64_t last_offset;     /* last offset assigned */
    int64_t log_append_time; /* -1 unless the log uses LogAppendTime */
    int64_t log_start_offset;
};
/* Appends one or more complete RecordBatch v2 in buf (len bytes), as received
 * from a producer: validates each (ED_ERR_CORRUPT on a bad CRC or framing,
 * ED_ERR_TOOBIG above max_message_len), then assigns offsets by rewriting the
 * headers in buf in place and writes all of them with one gather write.
 * Either every batch is appended or none is. ED_ERR_NOSPC on a full disk,
 * at the disk budget or below the free-space floor (unless disk_full_delete
 * made room) leaves the log as it was. */
int ed_log_append(ed_log *log, uint8_t *buf, size_t len, struct ed_append_result *res);

/* Checks every record of one batch a producer sent (Kafka's LogValidator:
 * ed_batch_validate in client mode, records decompressed as a stream with
 * the storage's reusable validator, at most ED_BATCH_RECORDS_MAX_LEN bytes
 * of records). Changes nothing. Results as ed_batch_validate. Batches
 * Eddy builds itself need not pass through here. */
int ed_log_validate(ed_log *log, const uint8_t *buf, size_t len, struct ed_batch_fault *fault);

/* Applies the log's compression.type to one batch a producer sent, as
 * Kafka's broker does: with a codec other than the batch's (none, gzip,
 * snappy, lz4, zstd; zstd at compression.zstd.level, at most
 * ED_RECODE_ZSTD_LEVEL_MAX) the records are re-encoded with it, every other
 * header field kept (ed_recode_batch). ED_OK and *out NULL when the batch
 * stays as it is (compression.type=producer, the same codec, or larger than
 * max.message.bytes as sent, which the append refuses); else *out is
 * the storage's buffer, valid until the next ed_log_recode or
 * ed_log_recode_done. Errors as ed_recode_batch. */
int ed_log_recode(ed_log *log, const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len);
/* The re-encoded batch was appended or dropped: a large buffer is freed. */
void ed_log_recode_done(ed_log *log);

/* Calls cb(arg, status) on the loop thread once every offset <= offset is
 * durable on the device (status ED_OK), or the flush failed (negative).
 * Concurrent waiters share one fdatasync. May call cb before returning if
 * already durable. */
typedef void (*ed_durable_cb)(void *arg, int status);
int ed_log_wait_durable(ed_log *log, int64_t offset, ed_durable_cb cb, void *arg);
/* A waiter's producer can send nothing more until it is answered (its
 * window is full): the log's waits skip eddy.flush.gather.ms and the sync
 * starts now, or right after the one running. */
void ed_log_flush_soon(ed_log *log);
/* Milliseconds from now_ms (the wall clock) until a durable wait on log
 * would start its sync: 0 if at once (nothing gathers, the previous sync
 * began eddy.flush.gather.ms ago, gather.bytes are unsynced, or a flush is
 * asked for). Data appended before then is covered by that sync, so it
 * can wait that long without delaying its acknowledgement. */
int64_t ed_log_flush_due_in(const ed_log *log, int64_t now_ms);

/* ---- reads ---- */
int64_t ed_log_start_offset(const ed_log *log);   /* first offset kept */
int64_t ed_log_end_offset(const ed_log *log);     /* next offset to assign */
int64_t ed_log_durable_offset(const ed_log *log); /* offsets below are on flash */
uint64_t ed_log_size(const ed_log *log);          /* bytes in all segments */
/* The partition folder, and the base offset of the active segment (it
 * moves at each roll). */
const char *ed_log_dir(const ed_log *log);
int64_t ed_log_active_base(const ed_log *log);

/* A contiguous run of whole batches inside one segment file, for zero-copy
 * sending. Holds a reference on the segment: release it when sent. */
struct ed_log_slice {
    ed_segment *seg;      /* NULL when empty */
    ed_file *file;        /* the segment's file, valid until released */
    uint64_t pos;         /* byte position in the file */
    size_t len;           /* bytes: a whole number of batches */
    int64_t first_offset; /* base offset of the first batch */
    int64_t next_offset;  /* ends at its segment's end: where the log goes on, else -1 */
};
/* Reads from the batch containing offset, adding whole batches while the
 * total stays <= max_len, but always at least one batch (KIP-74). Stops at
 * the end of that segment; when a later segment follows, next_offset names
 * the offset a further read continues from. offset == end offset → empty
 * slice, ED_OK. Offsets outside [start, end] → ED_ERR_RANGE. */
int ed_log_read(ed_log *log, int64_t offset, size_t max_len, struct ed_log_slice *out);
void ed_log_slice_release(struct ed_log_slice *s);
/* Bytes of the log from the batch holding offset to its end (a backlog's
 * size on flash): 0 at the end offset, ED_ERR_RANGE outside [start, end]. */
int ed_log_bytes_from(ed_log *log, int64_t offset, uint64_t *len);
/* Copies a slice's bytes into buf (buf_len >= s->len); for clients without
 * zero-copy (tests, tools, lwIP). */
int ed_log_slice_copy(const struct ed_log_slice *s, void *buf, size_t buf_len);

/* Kafka's ListOffsets by time: the first record (at or after the log start)
 * whose timestamp is >= ts, in the first batch whose max timestamp is >= ts,
 * and that record's timestamp; *offset = end offset and *timestamp = -1 if
 * none. (If the batch's records cannot be decoded, its base offset and max
 * timestamp.) */
int ed_log_offset_for_time(ed_log *log, int64_t ts, int64_t *offset, int64_t *timestamp);
/* Largest timestamp in the log and its offset (ListOffsets MAX_TIMESTAMP). */
int ed_log_max_timestamp(ed_log *log, int64_t *offset, int64_t *timestamp);

/* Visits every batch header from the batch containing from_offset to the end
 * (idempotent-producer state rebuild, tools). A non-zero return stops. */
typedef int (*ed_log_batch_cb)(void *arg, const struct ed_batch_info *b);
int ed_log_scan(ed_log *log, int64_t from_offset, ed_log_batch_cb cb, void *arg);

/* Visits every record from the log start to the end, in offset order
 * (loading the state an internal compacted log holds): control batches
 * are passed over; a batch whose records cannot be decoded counts in
 * *n_skipped (may be NULL) and is passed over; cb returning non-zero
 * stops. Reads read_len bytes at a time into one buffer. ED_OK, or the
 * read's error (ED_ERR_CORRUPT for a batch that does not parse) with
 * *at (may be NULL) the offset where it stopped. */
typedef int (*ed_log_record_cb)(void *arg, const struct ed_record *r);
int ed_log_each_record(ed_log *log, size_t read_len, ed_log_record_cb cb, void *arg,
                       uint64_t *n_skipped, int64_t *at);
/* The same from offset from (within [start, end]) on, stopping once about
 * max_bytes of batches were read (whole reads of read_len): *at is where
 * the next call goes on (the end offset once everything was visited). */
int ed_log_each_record_from(ed_log *log, int64_t from, size_t max_bytes, size_t read_len,
                            ed_log_record_cb cb, void *arg, uint64_t *n_skipped, int64_t *at);

/* Deletes records below offset (DeleteRecords / retention by the mirror). */
int ed_log_truncate_before(ed_log *log, int64_t offset);

#endif
