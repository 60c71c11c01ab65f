/* Idempotent producers: the broker-wide producer-id allocator (ids handed out
 * in blocks whose upper bound is persisted in a small file replaced by atomic
 * rename, so no id is ever handed out twice, across restarts) and the
 * per-partition sequence state that detects duplicate and out-of-order
 * batches (the last ED_PIDSTATE_N_BATCHES batches of every producer).
 *
 * Per-partition state hangs off ed_partition.pid_state. It is built lazily,
 * the first time a partition is produced to, by scanning the batch headers of
 * the tail of its log (at most ED_PIDSTATE_SCAN_OFFSETS offsets back from the
 * end): enough to recover the last batches of every producer that wrote
 * recently, which is what in-flight retries after a restart need. A producer
 * whose last batch lies before the window is treated as unknown (its next
 * batch is accepted with any sequence, as Kafka 2.5+ does).
 *
 * Snapshots (as Kafka's .snapshot files): the state is written to
 * "<20-digit offset>.snapshot" in the partition folder at the first append
 * after each segment roll and at a clean stop; it covers every batch below
 * that offset. The lazy build loads the newest snapshot at or below the log
 * end that passes its checks (checksum, and the base offset and CRC of the
 * batch just below its offset still in the log) and scans only the batches
 * after it; with none usable it scans the window as above. Snapshots below
 * the log start, above the log end or half written are removed. Layout in
 * docs/format.md. */
#ifndef ED_CORE_PIDSTATE_H
#define ED_CORE_PIDSTATE_H

#include "platform/base.h"
#include "storage/batch.h"
#include "core/topics.h"

/* Batches remembered per producer and partition (Kafka: 5, the maximum
 * number of in-flight requests of an idempotent producer). */
#define ED_PIDSTATE_N_BATCHES 5
#ifndef ED_PIDSTATE_MAX_PRODUCERS
#define ED_PIDSTATE_MAX_PRODUCERS 1024 /* per partition; least recently used evicted */
#endif
#ifndef ED_PIDSTATE_SCAN_OFFSETS
#define ED_PIDSTATE_SCAN_OFFSETS 65536 /* rebuild window, in offsets from the log end */
#endif
#define ED_PIDSTATE_SNAPSHOT_SUFFIX ".snapshot"
#ifndef ED_PIDS_BLOCK
#define ED_PIDS_BLOCK 1000 /* ids reserved per write of the allocator file */
#endif

/* ---- producer-id allocator ---- */
typedef struct ed_pids ed_pids;

/* File name of the allocator state inside the data directory. Layout (20
 * bytes, big-endian): magic "EDPI" (4), version u16 = 1, reserved u16 = 0,
 * limit i64 (every id below it may have been handed out; after a restart ids
 * are handed out from it), crc32c u32 of the 16 bytes before. */
#define ED_PIDS_FILE "producer-ids"

/* Opens the allocator over the data directory dir (reading ED_PIDS_FILE if
 * present). ED_ERR_CORRUPT if the file exists but fails its checks. */
int ed_pids_open(const char *dir, ed_pids **out);
void ed_pids_close(ed_pids *p);
/* Hands out a new producer id. Writes and syncs the file once per
 * ED_PIDS_BLOCK ids (blocking, small). */
int ed_pids_allocate(ed_pids *p, int64_t *id);
/* Makes sure ids <= id are never handed out (seen in a log). */
int ed_pids_observe(ed_pids *p, int64_t id);

/* ---- per-partition sequence state ---- */
enum ed_pid_verdict {
    ED_PID_APPEND = 0, /* in sequence (or not idempotent): append it */
    ED_PID_DUPLICATE,  /* already appended: answer with dup_base_offset */
    ED_PID_REJECT      /* answer with kerr */
};

struct ed_pid_check {
    int verdict;
    int16_t kerr;                /* enum ed_kerr for ED_PID_REJECT */
    int64_t dup_base_offset;     /* for ED_PID_DUPLICATE */
    int64_t dup_log_append_time; /* -1 unless the log uses LogAppendTime */
    const char *why;             /* static text for logs and error_message */
};

/* Checks a batch about to be appended to p against the producer's state,
 * building that state from the log first if needed (pids may be NULL; it is
 * told about the largest producer id seen). Changes nothing on the state
 * except the lazy build; ED_OK or an allocation/scan error. */
int ed_pidstate_check(ed_partition *p, ed_pids *pids, const struct ed_batch_info *b,
                      struct ed_pid_check *out);
/* Records a batch appended at base_offset (call after a successful append
 * whose check said ED_PID_APPEND). Batches without a producer id are
 * ignored. Allocation failure forgets the producer (safe: it becomes
 * unknown). */
void ed_pidstate_update(ed_partition *p, const struct ed_batch_info *b, int64_t base_offset,
                        int64_t log_append_time);
/* Writes p's state as a snapshot at its log end (synced), if it was built
 * and the log moved since the last snapshot: call at a clean stop, before
 * ed_pidstate_release. Failure is logged (the next start scans instead). */
void ed_pidstate_save(ed_partition *p);
/* Frees p's state (the partition is going away). */
void ed_pidstate_release(ed_partition *p);
/* Number of producers tracked for p (tests, metrics). */
int32_t ed_pidstate_count(const ed_partition *p);

#endif
