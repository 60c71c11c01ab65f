/* Compaction on the simulated platform, flushes inline from the storage's
 * tick as on a board without threads:
 *   1. the loop's compaction steps (ed_compact_tick) make no fdatasync and
 *      no folder sync: the output's sync, the swap's renames and folder
 *      syncs run in the log's flush job;
 *   2. a power cut at every mutating disk call of a compaction pass in
 *      turn (the output's sync, the commit rename, the folder syncs, the
 *      removals; unsynced operations kept, dropped or torn at random)
 *      leaves a log that recovers with every key's latest record (one
 *      record in ten has a key of its own, so every segment holds some
 *      that must survive), every
 *      record it serves at the offset it was written at, and takes appends
 *      after its end.
 *
 * Usage: sim_compact [--seed S] [--verbose] */
#define ED_LOG_MODULE "simcompact"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "platform/sim/sim.h"
#include "storage/compact_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR    "data"
#define N_KEYS 8
#define N_RECS 160 /* per half; one record per batch: offset = sequence number */

static uint64_t seed = 1;
static bool verbose;
static int cut_at; /* the power cut being tested, for messages */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sim_compact: FAIL (seed %" PRIu64 ", cut at call %d): ", seed, cut_at);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static ed_storage *open_storage(void)
{
    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = DIR;
    cfg.use_flusher_thread = false;
    cfg.log.segment_len = 1024; /* many small segments to merge */
    cfg.log.index_interval_len = 128;
    cfg.log.retention_ms = -1;
    cfg.log.compact = true;
    cfg.log.delete_ = false;
    ed_storage *st = NULL;
    int rc = ed_storage_open(&cfg, &st);
    if (rc != ED_OK) fail("open: %s", ed_strerror(rc));
    return st;
}

static ed_log *the_log;
static void found(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    (void)arg;
    (void)topic;
    (void)partition;
    the_log = log;
}

static void flush_all(ed_storage *st)
{
    for (int i = 0; i < 50; i++) {
        ed_sim_clock_advance_ms(1000);
        ed_storage_tick(st, ed_plat_clock_wall_ms());
        ed_storage_run_completions(st);
    }
}

/* Record seq: value "v<seq>", key "u<seq>" for every tenth record (never
 * superseded: it must survive every pass), else "k<seq % N_KEYS>". */
static int key_of(int64_t seq, char *key, size_t cap)
{
    return seq % 10 == 3 ? snprintf(key, cap, "u%d", (int)seq)
                         : snprintf(key, cap, "k%d", (int)(seq % N_KEYS));
}

static void append_range(ed_log *log, ed_batch_builder *b, int from, int to)
{
    for (int seq = from; seq < to; seq++) {
        char key[16], value[32];
        int kl = key_of(seq, key, sizeof key);
        int vl = snprintf(value, sizeof value, "v%d", seq);
        uint8_t *out;
        size_t len;
        struct ed_append_result r;
        if (ed_batch_builder_begin(b, ED_COMPRESSION_NONE, 1700000000000 + seq, -1, -1, -1) !=
                ED_OK ||
            ed_batch_builder_add(b, key, (size_t)kl, value, (size_t)vl, NULL, 0, -1) != ED_OK ||
            ed_batch_builder_finish(b, &out, &len) != ED_OK ||
            ed_log_append(log, out, len, &r) != ED_OK)
            fail("append %d", seq);
        if (r.base_offset != seq) fail("record %d appended at offset %" PRId64, seq, r.base_offset);
    }
}

/* Every record served is the one written at its offset; every key's
 * latest record is there; returns how many records were read. */
static int verify(ed_log *log, int n_written)
{
    int64_t off = ed_log_start_offset(log), end = ed_log_end_offset(log);
    if (end != n_written) fail("end offset %" PRId64 ", %d written", end, n_written);
    int64_t latest_seen[N_KEYS];
    for (int k = 0; k < N_KEYS; k++)
        latest_seen[k] = -1;
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, 1u << 20);
    int n = 0, n_unique = 0;
    while (off < end) {
        struct ed_log_slice s;
        if (ed_log_read(log, off, 1u << 16, &s) != ED_OK || s.len == 0)
            fail("read at %" PRId64, off);
        uint8_t *buf = malloc(s.len);
        if (ed_log_slice_copy(&s, buf, s.len) != ED_OK) fail("copy at %" PRId64, off);
        size_t len = s.len;
        ed_log_slice_release(&s);
        for (size_t pos = 0; pos < len;) {
            if (ed_batch_iter_begin(&it, buf + pos, len - pos) != ED_OK)
                fail("a bad batch served at %" PRId64, off);
            struct ed_record r;
            int got;
            while ((got = ed_batch_iter_next(&it, &r)) == 1) {
                char key[16], value[32];
                key_of(r.offset, key, sizeof key);
                snprintf(value, sizeof value, "v%d", (int)r.offset);
                if (r.key_len != (int32_t)strlen(key) || memcmp(r.key, key, strlen(key)) != 0 ||
                    r.value_len != (int32_t)strlen(value) ||
                    memcmp(r.value, value, strlen(value)) != 0)
                    fail("offset %" PRId64 " holds a record not written there", r.offset);
                if (r.offset % 10 == 3)
                    n_unique++;
                else
                    latest_seen[r.offset % N_KEYS] = r.offset;
                n++;
            }
            if (got != 0) fail("records of the batch at %" PRId64 " unreadable", off);
            off = it.info.base_offset + it.info.last_offset_delta + 1;
            pos += ed_batch_total_len(&it.info);
        }
        free(buf);
    }
    ed_batch_iter_release(&it);
    if (n_unique != (n_written + 6) / 10) fail("%d of the never superseded records", n_unique);
    for (int k = 0; k < N_KEYS; k++) {
        int64_t want = -1;
        for (int64_t seq = 0; seq < n_written; seq++)
            if (seq % 10 != 3 && seq % N_KEYS == k) want = seq;
        if (latest_seen[k] != want)
            fail("key k%d: latest record %" PRId64 ", want %" PRId64, k, latest_seen[k], want);
    }
    return n;
}

/* A log of 2 * N_RECS records over many closed segments, everything
 * synced and indexed, the first half compacted once already (small
 * segments, which the next pass merges into groups). */
static ed_storage *prepare(ed_batch_builder *b)
{
    ed_sim_reset(seed);
    ed_sim_log_to(verbose ? ED_SIM_LOG_STDERR : ED_SIM_LOG_BUFFER);
    ed_storage *st = open_storage();
    /* no pass from the storage's own tick until compact() */
    struct ed_compact_limits lim = {ED_COMPACT_MAP_LEN, ED_COMPACT_STEP_LEN, 2.0};
    ed_compact_set_limits(st, &lim);
    ed_log *log;
    if (ed_storage_create_log(st, "c", 0, NULL, &log) != ED_OK) fail("create");
    append_range(log, b, 0, N_RECS);
    flush_all(st);
    if (ed_compact_run(st, ed_plat_clock_wall_ms(), 10000) < 1) fail("no first pass");
    append_range(log, b, N_RECS, 2 * N_RECS);
    flush_all(st);
    /* small steps: the pass spans many of them */
    lim.min_dirty_ratio = 0;
    lim.step_len = 4096;
    ed_compact_set_limits(st, &lim);
    return st;
}

/* Compaction steps of the loop, each followed by the flush work the tick
 * does (inline here, the flusher thread's part otherwise); counts the
 * syncs made inside the compaction steps. Stops when the pass is over or
 * the power is cut. */
static uint64_t compact(ed_storage *st, bool *crashed)
{
    uint64_t loop_syncs = 0;
    struct ed_storage_stats s0;
    ed_storage_stats_get(st, &s0);
    uint64_t n0 = s0.n_compactions;
    for (int i = 0; i < 10000 && !ed_sim_crashed(); i++) {
        struct ed_sim_stats a, z;
        ed_sim_stats_get(&a);
        uint32_t next = ed_compact_tick(st, ed_plat_clock_wall_ms());
        ed_sim_stats_get(&z);
        loop_syncs += (z.n_datasyncs - a.n_datasyncs) + (z.n_dirsyncs - a.n_dirsyncs);
        ed_flush_tick(st, ed_plat_clock_wall_ms());
        ed_storage_run_completions(st);
        struct ed_storage_stats s;
        ed_storage_stats_get(st, &s);
        if (s.n_compactions > n0 && next >= 1000) break;
    }
    *crashed = ed_sim_crashed();
    return loop_syncs;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
            ed_log_set_level(ED_LOG_LEVEL_DBG);
        } else {
            fprintf(stderr, "usage: sim_compact [--seed S] [--verbose]\n");
            return 2;
        }
    }
    ed_batch_builder *b;
    if (ed_batch_builder_new(4096, &b) != ED_OK) fail("builder");

    /* 1. no sync on the loop */
    ed_storage *st = prepare(b);
    struct ed_storage_stats s0, s;
    ed_storage_stats_get(st, &s0);
    the_log = NULL;
    ed_storage_each_log(st, found, NULL);
    uint64_t size0 = ed_log_size(the_log);
    uint64_t ops0 = ed_sim_op_count();
    bool crashed;
    uint64_t loop_syncs = compact(st, &crashed);
    uint64_t pass_ops = ed_sim_op_count() - ops0;
    ed_storage_stats_get(st, &s);
    if (s.n_compactions <= s0.n_compactions) fail("no compaction pass completed");
    if (loop_syncs != 0)
        fail("%" PRIu64 " syncs made inside compaction steps on the loop", loop_syncs);
    the_log = NULL;
    ed_storage_each_log(st, found, NULL);
    int kept = verify(the_log, 2 * N_RECS);
    uint64_t written = s.len_compacted_written - s0.len_compacted_written;
    uint64_t read = s.len_compacted_read - s0.len_compacted_read;
    ed_storage_close(st);

    /* 2. a power cut at each disk call of the pass in turn */
    int n_cuts = 0, n_recovered_swaps = 0;
    for (cut_at = 1; cut_at <= (int)pass_ops; cut_at++) {
        st = prepare(b);
        ed_sim_crash_at((uint64_t)cut_at);
        compact(st, &crashed);
        ed_sim_crash_at(0);
        if (!crashed) ed_sim_crash_now();
        ed_storage_close(st); /* the dead process's objects */
        ed_sim_reboot();
        n_cuts++;
        st = open_storage();
        the_log = NULL;
        ed_storage_each_log(st, found, NULL);
        if (!the_log) fail("the log is gone");
        if (verify(the_log, 2 * N_RECS) < kept) fail("fewer records than a whole pass keeps");
        if (ed_log_size(the_log) < size0) n_recovered_swaps++;
        append_range(the_log, b, 2 * N_RECS, 2 * N_RECS + N_KEYS);
        flush_all(st);
        verify(the_log, 2 * N_RECS + N_KEYS);
        ed_storage_close(st);
    }
    ed_batch_builder_free(b);
    printf("sim_compact: a pass compacted %" PRIu64 " bytes into %" PRIu64 " with %" PRIu64
           " disk calls, none of them a sync inside a compaction step\n",
           read, written, pass_ops);
    printf("sim_compact: %d power cuts, one at each of them: every log recovered whole "
           "(%d of them with swapped segments)\n",
           n_cuts, n_recovered_swaps);
    ed_sim_shutdown();
    return 0;
}
