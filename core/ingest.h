/* The ingest path for records that do not arrive as Kafka batches (MQTT
 * publishes now; CoAP, HTTP produce and the mirror's bookkeeping next):
 * records are gathered per partition into one RecordBatch built in place
 * (compressed per the topic's compression.type), appended with one write
 * after a short linger (or, when every record waits for durability, when
 * the partition's gathered flush is due) or at a size cap, and covered by
 * one durable wait.
 * Each record added with a waiter is answered exactly once, in the order
 * its batch completes: durable, or failed (append refused, flush failed,
 * partition removed while gathering). The protocol keeps its answers in
 * arrival order itself. */
#ifndef ED_CORE_INGEST_H
#define ED_CORE_INGEST_H

#include "core/metrics.h"
#include "core/topics.h"
#include "storage/batch.h"

typedef struct ed_ingest ed_ingest;

struct ed_ingest_cbs {
    /* Record (who, seq) is on flash (status ED_OK) or failed (an ed_err).
     * Called on the loop thread, inside a storage completion or the call
     * that failed: answer from a timer if answering can re-enter. */
    void (*done)(void *arg, void *who, uint64_t seq, int status);
    /* Every record of one batch has had its done (NULL: not needed). */
    void (*batch_done)(void *arg, int status);
};

struct ed_ingest_config {
    uint32_t linger_ms;          /* gather this long before appending */
    uint32_t durable_max_ms;     /* a batch whose records all wait for durability
                                  * gathers until its partition's flush is due, at
                                  * most this long (0: linger_ms like the others) */
    size_t batch_len;            /* append once a partition's records reach this size */
    const char *what;            /* "MQTT publishes": in log lines */
    enum ed_metrics_proto proto; /* whose records, in metrics */
};

struct ed_ingest_stats {
    uint64_t n_records; /* appended */
    uint64_t n_batches; /* appended */
    uint64_t n_failed;  /* records refused or dropped */
};

/* loop may be NULL (then only ed_ingest_flush appends). */
int ed_ingest_new(ed_loop *loop, ed_topics *topics, const struct ed_ingest_config *cfg,
                  const struct ed_ingest_cbs *cbs, void *arg, ed_ingest **out);
/* Waits still registered with the storage complete without calling back. */
void ed_ingest_free(ed_ingest *g);
/* Adds a record to p's gathering batch; with who, (who, seq) is answered
 * once through done. ED_OK, or an error and nothing is kept (no done). */
int ed_ingest_add(ed_ingest *g, ed_partition *p, const void *key, size_t key_len, const void *value,
                  size_t value_len, const struct ed_record_header *h, int n_h, void *who,
                  uint64_t seq);
/* The producer of a record just added to p can send nothing more until it
 * is answered: p's batch is appended at the short linger (linger_ms, not
 * when the flush is due), and then its flush starts at once instead of
 * gathering (ed_log_flush_soon). */
void ed_ingest_hurry(ed_ingest *g, ed_partition *p);
/* The producer of a record just added to p can send nothing more at all
 * (its connection is not read until it is answered): lingering gathers
 * nothing, so p's batch is appended now and its flush starts at once. */
void ed_ingest_append_now(ed_ingest *g, ed_partition *p);
/* Appends every gathered batch now. */
void ed_ingest_flush(ed_ingest *g);
/* Appends the batches whose deadline is at or before now_ms (the monotonic
 * clock, ed_plat_clock_mono_ms); returns the ms until the next deadline (UINT32_MAX: nothing
 * gathers). The linger timer calls it; without a loop, the owner does. */
uint32_t ed_ingest_tick(ed_ingest *g, int64_t now_ms);
void ed_ingest_stats_get(const ed_ingest *g, struct ed_ingest_stats *out);

#endif
