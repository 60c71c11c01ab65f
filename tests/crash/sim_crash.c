/* Power cuts at random points of a mixed append workload on the simulated
 * platform, with faults (failed writes, datasyncs, reserves, opens) and a
 * full disk mixed in. After every cut the data directory is recovered and
 * checked:
 *   1. every batch whose durable wait completed with ED_OK is present, byte
 *      for byte, at the offsets assigned when it was appended;
 *   2. everything ed_log_read returns is a whole, CRC-valid batch that some
 *      append produced at exactly that offset (nothing torn, nothing stale);
 *   3. the log takes appends again, and new offsets continue after the
 *      recovered end without reusing an offset of a durable batch.
 * Appends that fail (not because of the cut) must leave the log unchanged.
 *
 * Usage: sim_crash [--crashes N] [--seed S] [--verbose]
 * A failure prints the seed that reproduces it. */
#define ED_LOG_MODULE "simcrash"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "platform/sim/sim.h"
#include "storage/log.h"

#include "common.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PARTS     3
#define MAX_RECORDS 12
#define MAX_VALUE   300
#define BIG_VALUE   6000 /* an occasional batch larger than small segments */
#define DIR         "data"

static const char *const topics[N_PARTS] = {"t", "t", "u"};
static const int32_t partitions[N_PARTS] = {0, 1, 0};

/* One batch this test appended; its id is its index in run.recs. */
struct rec {
    int part;
    int life;
    bool big;
    int64_t base, last;
    uint64_t hash; /* ct_batch_hash of the stored bytes */
    uint32_t len;
    bool durable;  /* a durable wait covering it completed with ED_OK */
    int seen_life; /* the last life whose recovery found it, -1 never */
    bool failed;   /* its append returned an error: it may still turn up after a
                     power cut (at the offsets stamped into it), never durable */
};

struct waiter {
    struct run *r;
    int part;
    int life;
    int64_t offset;
};

struct totals {
    uint64_t crashes, crashes_in_open, lives, appended, durable, verified_durable, read_batches;
    uint64_t append_errors, wait_errors, faults, nospc, truncated_logs, truncated_len;
    uint64_t sim_ops, runs, nospc_runs, fsync_runs, write_fail_runs, gaps, failed_seen;
    uint64_t delete_records, kills, clean_stops, clean_stop_runs;
    uint64_t write_ahead_runs; /* runs whose active segments were always written ahead */
};

struct run {
    uint64_t seed;
    uint64_t rng;
    struct rec *recs;
    size_t n_recs, cap_recs;
    int life;
    ed_storage *st;
    ed_log *logs[N_PARTS];
    int64_t max_durable[N_PARTS];   /* highest last offset of a durable batch */
    int64_t deleted_below[N_PARTS]; /* highest DeleteRecords offset tried */
    int64_t deleted_ok[N_PARTS];    /* highest DeleteRecords offset that succeeded */
    uint64_t segment_len;
    uint64_t open_ops; /* mutating calls the last recovery made */
    int n_waiters;     /* callbacks not yet called */
    bool faults_armed;
    bool datasync_faults; /* writes of a failed datasync are lost to the disk */
    int write_ahead;      /* ED_WRITE_AHEAD_*: zeros written ahead of the appends (by seed) */
    struct totals *t;
};

static bool verbose;

static void begin_run(struct run *r, uint64_t seed, struct totals *t);

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct run *r, const char *fmt, ...)
{
    const char *log = ed_sim_log_text();
    size_t n = strlen(log);
    fprintf(stderr, "---- last log lines ----\n%s\n", n > 6000 ? log + n - 6000 : log);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sim_crash: FAIL (seed %" PRIu64 ", life %d): ", r->seed, r->life);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nreproduce: sim_crash --seed %" PRIu64 " --verbose\n", r->seed);
    exit(1);
}

static uint64_t rnd(struct run *r, uint64_t n)
{
    r->rng = ct_mix(r->rng);
    return n ? r->rng % n : 0;
}

static size_t value_cap(const struct rec *rc)
{
    return rc->big ? BIG_VALUE : MAX_VALUE;
}

/* ---- durable waits ---- */
static void on_durable(void *arg, int status)
{
    struct waiter *w = arg;
    struct run *r = w->r;
    r->n_waiters--;
    if (status == ED_OK) {
        /* every offset <= w->offset of the partition is durable now */
        for (size_t i = 0; i < r->n_recs; i++) {
            struct rec *rc = &r->recs[i];
            /* appended in the waiter's life, or found by its recovery */
            if (rc->part != w->part || rc->last > w->offset || rc->failed ||
                (rc->life != w->life && rc->seen_life != w->life))
                continue;
            if (!rc->durable) r->t->durable++;
            rc->durable = true;
            if (rc->last > r->max_durable[w->part]) r->max_durable[w->part] = rc->last;
        }
    } else {
        r->t->wait_errors++;
    }
    free(w);
}

/* ---- reading and checking ---- */
/* Reads the batches from offset `from` to the end of the log (at most
 * max_reads reads); each must be valid and be exactly what the test appended
 * at that offset. Marks the batches seen in seen[] (may be NULL). */
static void scan(struct run *r, int part, int64_t from, bool *seen, bool may_fail, int max_reads)
{
    ed_log *log = r->logs[part];
    int64_t start = ed_log_start_offset(log), end = ed_log_end_offset(log);
    if (from < start || from > end) return;
    int64_t off = from;
    bool first = true;
    for (int n_reads = 0; off < end && n_reads < max_reads; n_reads++) {
        struct ed_log_slice s;
        size_t max_len = (size_t)(1 + rnd(r, 40000));
        int rc = ed_log_read(log, off, max_len, &s);
        if (rc != ED_OK && may_fail) return; /* an injected fault, e.g. open */
        if (rc != ED_OK)
            fail(r, "part %d: read at %" PRId64 " (end %" PRId64 "): %s", part, off, end,
                 ed_strerror(rc));
        if (s.len == 0) {
            /* only a gap up to the end (offsets lost with a torn tail);
             * then nothing may be readable before the end either */
            if (ed_log_read(log, end - 1, 1, &s) != ED_OK || s.len != 0)
                fail(r, "part %d: empty read at %" PRId64 " but data before end %" PRId64, part,
                     off, end);
            if (seen) r->t->gaps++;
            return;
        }
        uint8_t *buf = malloc(s.len);
        rc = ed_log_slice_copy(&s, buf, s.len);
        if (rc != ED_OK && may_fail) {
            free(buf);
            ed_log_slice_release(&s);
            return;
        }
        if (rc != ED_OK) fail(r, "part %d: slice copy: %s", part, ed_strerror(rc));
        size_t at = 0;
        while (at < s.len) {
            struct ct_batch b;
            if (!ct_batch_parse(buf + at, s.len - at, &b))
                fail(r, "part %d: invalid batch returned by read at %" PRId64 " (slice pos %zu)",
                     part, off, at);
            /* the batch holding off or a later one; a gap is offsets lost
             * with a torn tail, which are never given out again */
            if (b.last_offset < off || (!first && b.base_offset < off))
                fail(r,
                     "part %d: batch %" PRId64 "..%" PRId64 " where offset %" PRId64
                     " was expected",
                     part, b.base_offset, b.last_offset, off);
            if (seen && b.base_offset > off && !(first && off == from)) r->t->gaps++;
            first = false;
            if (b.id >= r->n_recs) fail(r, "part %d: unknown batch id %" PRIu64, part, b.id);
            struct rec *rc2 = &r->recs[b.id];
            if (rc2->part != part || rc2->base != b.base_offset)
                fail(r,
                     "part %d: batch id %" PRIu64 " at offset %" PRId64
                     " was appended to part %d at %" PRId64,
                     part, b.id, b.base_offset, rc2->part, rc2->base);
            if (b.len != rc2->len || ct_batch_hash(buf + at, b.len) != rc2->hash)
                fail(r,
                     "part %d: batch id %" PRIu64 " at %" PRId64 " differs from what was appended",
                     part, b.id, b.base_offset);
            if (seen) seen[b.id] = true;
            r->t->read_batches++;
            at += b.len;
            off = b.last_offset + 1;
        }
        free(buf);
        ed_log_slice_release(&s);
    }
    if (off > end) fail(r, "part %d: batches end at %" PRId64 ", log end %" PRId64, part, off, end);
}

struct found {
    struct run *r;
};

static void found_log(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    struct run *r = arg;
    for (int p = 0; p < N_PARTS; p++)
        if (strcmp(topic, topics[p]) == 0 && partition == partitions[p]) {
            r->logs[p] = log;
            return;
        }
    fail(r, "unexpected log %s-%d after recovery", topic, partition);
}

static void log_config(struct run *r, struct ed_log_config *c)
{
    ed_log_config_default(c);
    c->segment_len = r->segment_len;
    c->index_interval_len = 512;
    c->retention_ms = -1;
    c->retention_len = -1;
}

/* After recovery: every durable batch present and intact, everything
 * readable valid; missing logs (never durable) created again. */
static void verify(struct run *r)
{
    memset(r->logs, 0, sizeof r->logs);
    ed_storage_each_log(r->st, found_log, r);
    bool *seen = calloc(r->n_recs + 1, 1);
    for (int p = 0; p < N_PARTS; p++) {
        if (!r->logs[p]) {
            if (r->max_durable[p] >= 0)
                fail(r, "log %s-%d with durable batches is gone", topics[p], partitions[p]);
            struct ed_log_config c;
            log_config(r, &c);
            int rc = ed_storage_create_log(r->st, topics[p], partitions[p], &c, &r->logs[p]);
            if (rc != ED_OK) fail(r, "create log %d: %s", p, ed_strerror(rc));
            continue;
        }
        scan(r, p, ed_log_start_offset(r->logs[p]), seen, false, INT_MAX);
        if (ed_log_start_offset(r->logs[p]) < r->deleted_ok[p])
            fail(r,
                 "part %d: log starts at %" PRId64 " after DeleteRecords to %" PRId64 " succeeded",
                 p, ed_log_start_offset(r->logs[p]), r->deleted_ok[p]);
        if (ed_log_end_offset(r->logs[p]) <= r->max_durable[p])
            fail(r, "part %d: end offset %" PRId64 " but offset %" PRId64 " was durable", p,
                 ed_log_end_offset(r->logs[p]), r->max_durable[p]);
    }
    for (size_t i = 0; i < r->n_recs; i++) {
        if (seen[i] && r->recs[i].failed) r->t->failed_seen++;
        if (seen[i]) r->recs[i].seen_life = r->life;
        if (!r->recs[i].durable) continue;
        /* deleted by DeleteRecords: below the recovered start only; a
         * DeleteRecords that failed may or may not have moved the start, but
         * every durable batch from the start on is there (no holes) */
        int p = r->recs[i].part;
        if (r->recs[i].last < ed_log_start_offset(r->logs[p])) continue;
        if (!seen[i])
            fail(r,
                 "durable batch id %zu (part %d, offsets %" PRId64 "..%" PRId64
                 ") is missing (log %" PRId64 "..%" PRId64 ", deleted below %" PRId64 ")",
                 i, r->recs[i].part, r->recs[i].base, r->recs[i].last,
                 ed_log_start_offset(r->logs[p]), ed_log_end_offset(r->logs[p]),
                 r->deleted_below[p]);
        r->t->verified_durable++;
    }
    free(seen);
}

/* ---- the workload ---- */
static struct rec *new_rec(struct run *r, int part, bool big)
{
    if (r->n_recs == r->cap_recs) {
        r->cap_recs = r->cap_recs ? r->cap_recs * 2 : 256;
        r->recs = realloc(r->recs, r->cap_recs * sizeof *r->recs);
    }
    struct rec *rc = &r->recs[r->n_recs++];
    memset(rc, 0, sizeof *rc);
    rc->part = part;
    rc->life = r->life;
    rc->big = big;
    rc->base = rc->last = -1;
    rc->seen_life = -1;
    return rc;
}

/* Appends 1..3 batches in one call to partition part; with a durable wait
 * most of the time (always when it must work). Returns the append's status;
 * *last_id is the id of its last batch. */
static int append(struct run *r, int part, bool must_work, size_t *last_id)
{
    ed_log *log = r->logs[part];
    int n = rnd(r, 4) == 0 ? 2 + (int)rnd(r, 2) : 1;
    size_t first_id = r->n_recs;
    uint8_t *buf = NULL;
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        bool big = rnd(r, 40) == 0;
        struct rec *rc = new_rec(r, part, big);
        size_t blen = 0;
        uint8_t *b = ct_batch_build((uint64_t)(rc - r->recs), MAX_RECORDS, value_cap(rc), &blen);
        buf = realloc(buf, len + blen);
        memcpy(buf + len, b, blen);
        len += blen;
        free(b);
    }
    int64_t end_before = ed_log_end_offset(log);
    struct ed_append_result res;
    int rc = ed_log_append(log, buf, len, &res);
    if (rc != ED_OK) {
        /* The write may have put some of it down before failing, and the cut
         * back may not have happened (a power cut right then): such batches
         * may turn up after recovery at the offsets stamped into them. */
        size_t at = 0;
        for (size_t id = first_id; id < r->n_recs; id++) {
            struct ct_batch b;
            if (!ct_batch_parse(buf + at, len - at, &b))
                fail(r, "a failed append left an invalid batch in the caller's buffer");
            r->recs[id].base = b.base_offset;
            r->recs[id].last = b.last_offset;
            r->recs[id].hash = ct_batch_hash(buf + at, b.len);
            r->recs[id].len = (uint32_t)b.len;
            r->recs[id].failed = true;
            at += b.len;
        }
        free(buf);
        if (ed_sim_crashed()) return rc;
        r->t->append_errors++;
        if (must_work) fail(r, "append to part %d failed: %s", part, ed_strerror(rc));
        if (ed_log_end_offset(log) != end_before)
            fail(r, "failed append moved end offset %" PRId64 " -> %" PRId64, end_before,
                 ed_log_end_offset(log));
        return rc;
    }
    if (res.base_offset != end_before)
        fail(r, "part %d: append got offset %" PRId64 ", end was %" PRId64, part, res.base_offset,
             end_before);
    if (res.base_offset <= r->max_durable[part])
        fail(r, "part %d: append reuses offset %" PRId64 " (durable up to %" PRId64 ")", part,
             res.base_offset, r->max_durable[part]);
    size_t at = 0;
    for (size_t id = first_id; id < r->n_recs; id++) {
        struct ct_batch b;
        if (!ct_batch_parse(buf + at, len - at, &b))
            fail(r, "append left an invalid batch in the caller's buffer");
        r->recs[id].base = b.base_offset;
        r->recs[id].last = b.last_offset;
        r->recs[id].hash = ct_batch_hash(buf + at, b.len);
        r->recs[id].len = (uint32_t)b.len;
        if (!ct_batch_matches(buf + at, b.len, b.base_offset, MAX_RECORDS, value_cap(&r->recs[id])))
            fail(r, "append changed the bytes of batch id %zu beyond its offset", id);
        at += b.len;
    }
    if (r->recs[r->n_recs - 1].last != res.last_offset ||
        ed_log_end_offset(log) != res.last_offset + 1)
        fail(r, "part %d: append result %" PRId64 "..%" PRId64 " vs batches/end offset", part,
             res.base_offset, res.last_offset);
    free(buf);
    r->t->appended += (uint64_t)n;
    if (last_id) *last_id = r->n_recs - 1;
    if (must_work || rnd(r, 10) < 7) {
        struct waiter *w = malloc(sizeof *w);
        *w = (struct waiter){r, part, r->life, res.last_offset};
        r->n_waiters++;
        int wrc = ed_log_wait_durable(log, res.last_offset, on_durable, w);
        if (wrc != ED_OK) {
            r->n_waiters--;
            free(w);
            if (!ed_sim_crashed()) r->t->wait_errors++;
            if (must_work) fail(r, "wait_durable: %s", ed_strerror(wrc));
        }
    }
    return ED_OK;
}

static void tick(struct run *r)
{
    ed_sim_clock_advance_ms((int64_t)rnd(r, 30));
    ed_storage_tick(r->st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(r->st);
}

/* Ticks until every durable wait completed (a flush is due within
 * flush.ms at the latest). */
static void settle(struct run *r)
{
    for (int i = 0; i < 200 && r->n_waiters > 0; i++)
        tick(r);
    if (r->n_waiters != 0) fail(r, "%d durable waits did not complete", r->n_waiters);
}

static void step(struct run *r)
{
    uint64_t x = rnd(r, 100);
    int part = (int)rnd(r, N_PARTS);
    if (x < 55) {
        append(r, part, false, NULL);
    } else if (x < 56 && rnd(r, 2) == 0) {
        /* DeleteRecords: drops whole segments below the new start */
        ed_log *log = r->logs[part];
        int64_t start = ed_log_start_offset(log), end = ed_log_end_offset(log);
        int64_t to = start + (int64_t)rnd(r, (uint64_t)(end - start) / 4 + 1);
        int64_t end_before = end;
        int rc = ed_log_truncate_before(log, to);
        /* an attempt that fails (a fault, the power cut) may have dropped
         * segments already: its outcome is unknown, like any failed call */
        if (to > r->deleted_below[part]) r->deleted_below[part] = to;
        if (rc == ED_OK) r->t->delete_records++;
        if (rc == ED_OK && to > r->deleted_ok[part]) r->deleted_ok[part] = to;
        if (ed_log_end_offset(log) != end_before) fail(r, "DeleteRecords moved the end offset");
        if (rc == ED_OK && ed_log_start_offset(log) < to)
            fail(r, "DeleteRecords to %" PRId64 " left the start at %" PRId64, to,
                 ed_log_start_offset(log));
    } else if (x < 90) {
        tick(r);
    } else {
        ed_log *log = r->logs[part];
        int64_t end = ed_log_end_offset(log);
        if (end > 0 && !ed_sim_crashed())
            scan(r, part, (int64_t)rnd(r, (uint64_t)end), NULL, r->faults_armed, 3);
    }
}

/* Picks a fault for this life: none most of the time. */
static void arm_faults(struct run *r)
{
    r->faults_armed = false;
    r->datasync_faults = false;
    uint64_t x = rnd(r, 100);
    if (x < 55) return;
    r->faults_armed = true;
    r->t->faults++;
    if (x < 70) {
        ed_sim_fail_nth(ED_SIM_OP_WRITE, 1 + rnd(r, 60), rnd(r, 2) ? ED_ERR_IO : ED_ERR_NOSPC,
                        rnd(r, 4) == 0);
    } else if (x < 82) {
        ed_sim_fail_nth(ED_SIM_OP_DATASYNC, 1 + rnd(r, 30), ED_ERR_IO, rnd(r, 4) == 0);
        r->datasync_faults = true;
    } else if (x < 86) {
        ed_sim_fail_nth(ED_SIM_OP_RESERVE, 1 + rnd(r, 10), ED_ERR_NOSPC, rnd(r, 2) == 0);
    } else if (x < 90) {
        ed_sim_fail_nth(ED_SIM_OP_OPEN, 1 + rnd(r, 10), ED_ERR_IO, false);
    } else {
        ed_sim_set_disk_limit(ed_sim_disk_usage() + rnd(r, 6) * 4096 + r->segment_len);
    }
}

static void clear_faults(void)
{
    ed_sim_fail_clear();
    ed_sim_set_disk_limit(0);
}

static int open_storage(struct run *r)
{
    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = DIR;
    cfg.use_flusher_thread = false;
    /* a tiny file cache: sealed segments are closed and reopened all along */
    cfg.max_open_segments = 2;
    cfg.write_ahead = r->write_ahead;
    log_config(r, &cfg.log);
    return ed_storage_open(&cfg, &r->st);
}

/* The dead machine's objects are freed while every port call fails. */
static void close_dead(struct run *r)
{
    if (!r->st) return;
    ed_storage_close(r->st);
    r->st = NULL;
    if (r->n_waiters != 0) fail(r, "%d durable waits never completed at close", r->n_waiters);
}

static void count_recovery(struct run *r)
{
    struct ed_storage_stats s;
    ed_storage_stats_get(r->st, &s);
    r->t->truncated_logs += s.n_truncated_recovery;
    r->t->truncated_len += s.len_truncated_recovery;
}

/* Opens after a power cut (which may strike again during recovery). */
static void recover(struct run *r)
{
    for (;;) {
        /* a quarter of the time the power fails again during recovery, at one
         * of the mutating calls an open made last time (truncations, folder
         * syncs, index rewrites, file creations) */
        if (rnd(r, 4) == 0) ed_sim_crash_at(1 + rnd(r, r->open_ops + 1));
        uint64_t ops = ed_sim_op_count();
        int rc = open_storage(r);
        ed_sim_crash_at(0);
        if (!ed_sim_crashed()) r->open_ops = ed_sim_op_count() - ops;
        if (ed_sim_crashed()) {
            if (rc == ED_OK) close_dead(r);
            r->st = NULL;
            r->t->crashes++;
            r->t->crashes_in_open++;
            ed_sim_reboot();
            continue;
        }
        if (rc != ED_OK) fail(r, "open after crash: %s", ed_strerror(rc));
        count_recovery(r);
        return;
    }
}

/* One life: recover, verify, prove the log takes writes, then run until
 * the power is cut at a random mutating call. */
static void life(struct run *r, uint64_t max_ops)
{
    recover(r);
    verify(r);
    /* new appends continue after the recovered end and become durable */
    size_t ids[N_PARTS];
    for (int p = 0; p < N_PARTS; p++)
        append(r, p, true, &ids[p]);
    settle(r);
    for (int p = 0; p < N_PARTS; p++)
        if (!r->recs[ids[p]].durable)
            fail(r, "part %d: first append after recovery did not become durable", p);
    /* A quarter of the lives stop cleanly once and go on from the open that
     * takes the active segments from the clean-shutdown marker (a power
     * cut may strike that open too). */
    if (rnd(r, 4) == 0) {
        ed_storage_close(r->st);
        r->st = NULL;
        r->t->clean_stops++;
        recover(r);
        verify(r);
    }

    arm_faults(r);
    /* A quarter of the lives end with the process killed (between two calls)
     * instead of the power: what it wrote stays in the page cache, unsynced,
     * and the next life's recovery and flushes must not take it as durable
     * before it is synced. */
    /* Not after a failed fdatasync: a restarted process cannot tell the
     * page cache's copy of those writes (never to reach the disk) from good
     * data; see the note on fsync errors in tests/crash/README. */
    bool kill = rnd(r, 4) == 0 && !r->datasync_faults;
    uint64_t kill_at = 1 + rnd(r, max_ops);
    if (!kill) ed_sim_crash_at(1 + rnd(r, max_ops));
    uint64_t ops = ed_sim_op_count(), idle = 0, ops0 = ops;
    while (!ed_sim_crashed()) {
        if (kill && ed_sim_op_count() - ops0 >= kill_at) {
            ed_sim_kill();
            r->t->kills++;
            break;
        }
        step(r);
        /* every log refusing appends (after a failed flush) does no more
         * disk calls: cut the power here */
        idle = ed_sim_op_count() == ops ? idle + 1 : 0;
        ops = ed_sim_op_count();
        if (idle > 500) {
            ed_sim_crash_now();
            kill = false;
        }
    }

    if (verbose)
        fprintf(stderr, "---- life %d ends: %s ----\n", r->life,
                kill ? "process killed" : "power cut");
    close_dead(r);
    clear_faults();
    ed_sim_reboot();
    if (!kill) r->t->crashes++;
    r->t->lives++;
    r->life++;
}

static void one_run(uint64_t seed, int n_lives, struct totals *t)
{
    struct run r;
    struct ed_mem_stats m0;
    ed_mem_stats_get(&m0);
    /* the first life starts from an empty disk */
    begin_run(&r, seed, t);
    close_dead(&r); /* not dead: a clean close of an empty store */
    int rc;
    for (int i = 0; i < n_lives; i++)
        life(&r, 50 + rnd(&r, 1500));

    /* a last recovery, then a clean close and open must change nothing */
    recover(&r);
    verify(&r);
    for (int p = 0; p < N_PARTS; p++)
        append(&r, p, true, NULL);
    ed_storage_close(r.st);
    r.st = NULL;
    if (r.n_waiters != 0) fail(&r, "close left %d waits", r.n_waiters);
    rc = open_storage(&r);
    if (rc != ED_OK) fail(&r, "clean reopen: %s", ed_strerror(rc));
    verify(&r);
    struct ed_storage_stats s;
    ed_storage_stats_get(r.st, &s);
    if (s.n_truncated_recovery != 0) fail(&r, "a clean close left a torn tail");
    ed_storage_close(r.st);
    r.st = NULL;

    struct ed_mem_stats m1;
    ed_mem_stats_get(&m1);
    if (m1.cur_len != m0.cur_len)
        fail(&r, "storage leaked %zu bytes over the run", m1.cur_len - m0.cur_len);
    struct ed_sim_stats ss;
    ed_sim_stats_get(&ss);
    t->sim_ops += ss.n_ops;
    t->nospc += ss.n_nospc;
    t->runs++;
    free(r.recs);
}

static void begin_run(struct run *r, uint64_t seed, struct totals *t)
{
    memset(r, 0, sizeof *r);
    r->seed = seed;
    r->rng = seed * 0x9e3779b97f4a7c15ull + 1;
    r->t = t;
    for (int p = 0; p < N_PARTS; p++)
        r->max_durable[p] = -1;
    static const uint64_t seg_lens[] = {4096, 16384, 65536};
    r->segment_len = seg_lens[rnd(r, 3)];
    /* A third of the runs write every block ahead (each zero fill is one
     * more write a cut can strike), a third never, a third as the log's
     * flushes decide. */
    static const int modes[] = {ED_WRITE_AHEAD_AUTO, ED_WRITE_AHEAD_ALWAYS, ED_WRITE_AHEAD_NEVER};
    r->write_ahead = modes[seed % 3];
    if (r->write_ahead == ED_WRITE_AHEAD_ALWAYS) t->write_ahead_runs++;
    ed_sim_reset(seed);
    ed_sim_log_to(verbose ? ED_SIM_LOG_STDERR : ED_SIM_LOG_BUFFER);
    int rc = open_storage(r);
    if (rc != ED_OK) fail(r, "first open: %s", ed_strerror(rc));
    verify(r);
}

/* Power cut, recovery, verification, clean close. */
static void end_run(struct run *r)
{
    ed_sim_crash_now();
    close_dead(r);
    clear_faults();
    ed_sim_reboot();
    r->t->crashes++;
    r->life++;
    recover(r);
    verify(r);
    ed_storage_close(r->st);
    r->st = NULL;
    free(r->recs);
    r->t->runs++;
}

/* A run whose logs hold n durable appends. */
static void begin_filled(struct run *r, uint64_t seed, struct totals *t, int n)
{
    begin_run(r, seed, t);
    for (int i = 0; i < n; i++)
        append(r, (int)rnd(r, N_PARTS), true, NULL);
    settle(r);
}

/* A full disk: appends fail cleanly with ED_ERR_NOSPC and change nothing,
 * nothing torn is readable, and when space returns the log works again. */
static void nospc_run(uint64_t seed, struct totals *t)
{
    struct run r;
    begin_filled(&r, seed, t, 10);
    ed_sim_set_disk_limit(ed_sim_disk_usage() + rnd(&r, 8) * 4096);
    int rc = ED_OK;
    for (int i = 0; i < 2000 && rc == ED_OK; i++) {
        rc = append(&r, (int)rnd(&r, N_PARTS), false, NULL);
        if (rnd(&r, 3) == 0) tick(&r);
    }
    if (rc != ED_ERR_NOSPC) fail(&r, "full disk: append returned %s, not ENOSPC", ed_strerror(rc));
    for (int i = 0; i < 5; i++) /* more attempts on the full disk */
        append(&r, (int)rnd(&r, N_PARTS), false, NULL);
    settle(&r);
    for (int p = 0; p < N_PARTS; p++)
        scan(&r, p, 0, NULL, false, INT_MAX);
    ed_sim_set_disk_limit(0);
    for (int p = 0; p < N_PARTS; p++) {
        size_t id;
        append(&r, p, true, &id);
        settle(&r);
        if (!r.recs[id].durable) fail(&r, "part %d: not durable after space returned", p);
        scan(&r, p, 0, NULL, false, INT_MAX);
    }
    t->nospc_runs++;
    end_run(&r);
}

/* A failed fdatasync must fail the waits it covered, and nothing written
 * before it may later be reported durable unless it really is: the sim drops
 * the writes of a failed datasync like Linux does, and the power cut shows
 * what is on the disk. */
static void fsync_fail_run(uint64_t seed, struct totals *t)
{
    struct run r;
    begin_run(&r, seed, t);
    for (int i = 0; i < 6; i++)
        append(&r, (int)rnd(&r, N_PARTS), true, NULL);
    settle(&r);
    uint64_t errs = t->wait_errors;
    ed_sim_fail_nth(ED_SIM_OP_DATASYNC, 1, ED_ERR_IO, false);
    for (int p = 0; p < N_PARTS; p++) /* whichever log meets the failure has waiters */
        append(&r, p, true, NULL);
    for (int i = 0; i < 200 && r.n_waiters > 0; i++)
        tick(&r);
    if (t->wait_errors == errs) fail(&r, "a failed fdatasync failed no durable wait");
    /* later appends may work or be refused, but nothing may be acked falsely */
    for (int i = 0; i < 8; i++) {
        append(&r, (int)rnd(&r, N_PARTS), false, NULL);
        tick(&r);
    }
    for (int i = 0; i < 200 && r.n_waiters > 0; i++)
        tick(&r);
    t->fsync_runs++;
    end_run(&r);
}

/* A failed write (an I/O error, or a disk that fills up part way) must
 * leave nothing behind: the append fails, and a clean close and reopen right
 * after finds no torn tail to cut and none of the failed batches. */
static void write_fail_run(uint64_t seed, struct totals *t)
{
    struct run r;
    begin_run(&r, seed, t);
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 4; k++)
            append(&r, (int)rnd(&r, N_PARTS), true, NULL);
        settle(&r);
        int err = rnd(&r, 2) ? ED_ERR_IO : ED_ERR_NOSPC;
        ed_sim_fail_nth(ED_SIM_OP_WRITE, 1, err, false);
        /* Where blocks are written ahead the failed write may be the
         * zeros': a full disk refuses only them, and the append goes on in
         * the blocks it needs (checked below like any other). */
        if (append(&r, (int)rnd(&r, N_PARTS), false, NULL) == ED_OK &&
            (err != ED_ERR_NOSPC || r.write_ahead == ED_WRITE_AHEAD_NEVER))
            fail(&r, "an append whose write failed succeeded");
        ed_sim_fail_clear();
        ed_storage_close(r.st);
        r.st = NULL;
        int rc = open_storage(&r);
        if (rc != ED_OK) fail(&r, "reopen after a failed write: %s", ed_strerror(rc));
        struct ed_storage_stats ss;
        ed_storage_stats_get(r.st, &ss);
        if (ss.len_truncated_recovery != 0)
            fail(&r, "a failed write left %" PRIu64 " bytes in the segment",
                 ss.len_truncated_recovery);
        uint64_t failed_seen = t->failed_seen;
        verify(&r);
        if (t->failed_seen != failed_seen) fail(&r, "a batch of a failed append is readable");
    }
    t->write_fail_runs++;
    end_run(&r);
}

/* The clean-shutdown marker: written by a clean stop, it spares the next
 * open every read of the active segments; that open removes it durably
 * before anything is appended (a power cut right after the open finds no
 * marker), and appends torn by a later power cut are found as after any
 * crash. */
static void clean_stop_run(uint64_t seed, struct totals *t)
{
    struct run r;
    begin_filled(&r, seed, t, 30);
    ed_storage_close(r.st);
    r.st = NULL;
    size_t len = 0;
    uint8_t *m = ed_sim_file_get(DIR "/eddy-clean-shutdown", &len);
    if (!m) fail(&r, "a clean stop left no clean-shutdown marker");
    free(m);
    if (open_storage(&r) != ED_OK) fail(&r, "open after a clean stop");
    struct ed_storage_stats s;
    ed_storage_stats_get(r.st, &s);
    if (s.n_clean_opens != N_PARTS || s.len_scanned_recovery != 0)
        fail(&r,
             "open after a clean stop: %" PRIu64 " logs from the marker, %" PRIu64 " bytes read",
             s.n_clean_opens, s.len_scanned_recovery);
    verify(&r);
    ed_sim_set_crash_mode(ED_SIM_CRASH_DROP_ALL);
    ed_sim_crash_now();
    close_dead(&r);
    ed_sim_reboot();
    ed_sim_set_crash_mode(ED_SIM_CRASH_RANDOM);
    m = ed_sim_file_get(DIR "/eddy-clean-shutdown", &len);
    if (m) fail(&r, "the clean-shutdown marker survived a power cut after the open");
    recover(&r);
    verify(&r);
    /* again, then appends that a power cut tears */
    ed_storage_close(r.st);
    r.st = NULL;
    if (open_storage(&r) != ED_OK) fail(&r, "open after a clean stop");
    verify(&r);
    for (int i = 0; i < 40 && !ed_sim_crashed(); i++) {
        append(&r, (int)rnd(&r, N_PARTS), false, NULL);
        if (rnd(&r, 3) == 0) tick(&r);
    }
    t->clean_stop_runs++;
    end_run(&r);
}

int main(int argc, char **argv)
{
    uint64_t want_crashes = 1000, seed = 0;
    bool one = false;
    const char *env = getenv("CRASH_ITERATIONS");
    if (env) want_crashes = strtoull(env, NULL, 10);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--crashes") == 0 && i + 1 < argc) {
            want_crashes = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
            one = true;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
            ed_log_set_level(ED_LOG_LEVEL_DBG);
        } else {
            fprintf(stderr, "usage: sim_crash [--crashes N] [--seed S] [--verbose]\n");
            return 2;
        }
    }
    struct totals t;
    memset(&t, 0, sizeof t);
    if (one) {
        one_run(seed, 4, &t);
        nospc_run(seed, &t);
        fsync_fail_run(seed, &t);
        write_fail_run(seed, &t);
        clean_stop_run(seed, &t);
    } else {
        uint64_t s = 1;
        for (; t.crashes - t.crashes_in_open < want_crashes; s++)
            one_run(s, 4, &t);
        uint64_t n_extra = want_crashes / 20 + 5;
        for (uint64_t i = 0; i < n_extra; i++) {
            nospc_run(s + i, &t);
            fsync_fail_run(s + i, &t);
            write_fail_run(s + i, &t);
            clean_stop_run(s + i, &t);
        }
    }
    printf("sim_crash: %" PRIu64 " runs, %" PRIu64 " power cuts during the workload and %" PRIu64
           " more during recovery, %" PRIu64 " simulated disk calls\n",
           t.runs, t.crashes - t.crashes_in_open, t.crashes_in_open, t.sim_ops);
    printf("sim_crash: %" PRIu64 " batches appended, %" PRIu64 " acked durable, %" PRIu64
           " durable batches re-verified after cuts, %" PRIu64 " batches read and checked\n",
           t.appended, t.durable, t.verified_durable, t.read_batches);
    printf("sim_crash: %" PRIu64 " lives with faults armed, %" PRIu64 " append errors, %" PRIu64
           " failed durable waits, %" PRIu64 " ENOSPC; recovery cut %" PRIu64
           " torn tails (%" PRIu64 " bytes)\n",
           t.faults, t.append_errors, t.wait_errors, t.nospc, t.truncated_logs, t.truncated_len);
    printf("sim_crash: %" PRIu64 " lives ended by killing the process instead\n", t.kills);
    printf("sim_crash: %" PRIu64 " clean stops inside lives, %" PRIu64
           " clean-stop runs (marker trusted, removed durably, torn appends after it found)\n",
           t.clean_stops, t.clean_stop_runs);
    printf("sim_crash: %" PRIu64 " DeleteRecords calls succeeded in the workload\n",
           t.delete_records);
    printf("sim_crash: %" PRIu64 " batches of failed appends turned up whole after a cut\n",
           t.failed_seen);
    printf("sim_crash: %" PRIu64
           " offset gaps found by recovery checks (offsets of lost unsynced tails, never reused)\n",
           t.gaps);
    printf("sim_crash: %" PRIu64 " runs writing every active segment's blocks ahead (zeros)\n",
           t.write_ahead_runs);
    printf("sim_crash: %" PRIu64 " full-disk, %" PRIu64 " failed-fdatasync and %" PRIu64
           " failed-write runs, each ended by a power cut and verified\n",
           t.nospc_runs, t.fsync_runs, t.write_fail_runs);
    ed_sim_shutdown();
    return 0;
}
