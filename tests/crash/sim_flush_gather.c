/* The flash-friendly flush policy (eddy.flush.gather.ms / .bytes) on the
 * simulated platform's clock, without a flusher thread: the storage tick
 * runs exactly when it asked to (its returned delay, or the tick request
 * made when a wait arrives). A producer appends one batch at a time and
 * waits for it to be durable, with at most `window` waits outstanding (as
 * MQTT's acknowledgement slots or a Kafka client's requests in flight).
 * Proves: no acknowledgement comes before an fdatasync that began after
 * its append; a steady light load syncs at most once per gather.ms and no
 * acknowledgement waits longer than gather.ms; a sparse producer is synced
 * at once; a producer that fills gather.bytes faster is synced at once per
 * gather.bytes, not held back; under overload the sync budget holds and the
 * producer is held back by its window instead; a producer whose window is
 * full and that says so (ed_log_flush_soon) is synced at once, not held
 * back per gather.ms, and still never acknowledged before its sync.
 * Through the ingest path (core/ingest.c, as MQTT and CoAP use it): a
 * batch of records that all wait for durability gathers until its
 * partition's flush is due, so each flush appends about one batch, no
 * record is answered before a sync that began after its batch was
 * appended, and none waits longer than gather.ms plus the short linger; a
 * record nobody waits for keeps its batch to the short linger.
 *
 * Usage: sim_flush_gather [--seed S] */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ingest.h"
#include "core/topics.h"
#include "platform/platform.h"
#include "platform/sim/sim.h"
#include "storage/batch.h"
#include "storage/log.h"

#define GATHER_MS  100
#define GATHER_LEN (64 * 1024)
#define MAX_ACKS   20000

static uint64_t seed = 1;

struct ack {
    uint64_t syncs_at_append; /* datasyncs done when the batch was appended */
    int64_t append_ms;
    int64_t done_ms; /* -1 while waiting */
};

struct world {
    ed_storage *st;
    ed_log *log;
    ed_batch_builder *bb;
    int64_t tick_at; /* when the storage is ticked next */
    struct ack acks[MAX_ACKS];
    int n_acks, n_waiting;
};

static uint64_t datasyncs(void)
{
    struct ed_sim_stats s;
    ed_sim_stats_get(&s);
    return s.n_datasyncs;
}

static struct world *cur;

static void on_tick_request(void *arg, uint32_t in_ms)
{
    struct world *w = arg;
    int64_t at = ed_plat_clock_wall_ms() + in_ms;
    if (at < w->tick_at) w->tick_at = at;
}

static void on_durable(void *arg, int status)
{
    struct ack *a = arg;
    assert_int_equal(status, ED_OK);
    assert_int_equal(a->done_ms, -1);
    /* The promise: a sync that began after the append came first. */
    assert_true(datasyncs() > a->syncs_at_append);
    a->done_ms = ed_plat_clock_wall_ms();
    cur->n_waiting--;
}

/* A fresh simulated disk and storage, ticked as it asks; sc is its config. */
static void open_storage(struct world *w, struct ed_storage_config *sc)
{
    cur = w;
    ed_sim_reset(seed);
    ed_storage_config_default(sc);
    sc->dir = "data";
    sc->use_flusher_thread = false;
    sc->gather_ms = GATHER_MS;
    sc->gather_len = GATHER_LEN;
    assert_int_equal(ed_storage_open(sc, &w->st), ED_OK);
    ed_storage_set_tick_request(w->st, on_tick_request, w);
}

static void up(struct world *w)
{
    memset(w, 0, sizeof *w);
    struct ed_storage_config sc;
    open_storage(w, &sc);
    assert_int_equal(ed_storage_create_log(w->st, "t", 0, &sc.log, &w->log), ED_OK);
    assert_int_equal(ed_batch_builder_new(1 << 20, &w->bb), ED_OK);
    /* The new segment's folder sync began the interval: let it pass. */
    ed_storage_tick(w->st, ed_plat_clock_wall_ms());
    ed_sim_clock_advance_ms(GATHER_MS);
    w->tick_at = ed_plat_clock_wall_ms();
}

static void down(struct world *w)
{
    ed_batch_builder_free(w->bb);
    ed_storage_close(w->st);
    ed_sim_shutdown();
}

/* One batch of one record of value_len bytes, appended and waited for. */
static void produce(struct world *w, size_t value_len)
{
    static uint8_t value[64 * 1024];
    assert_true(value_len <= sizeof value && w->n_acks < MAX_ACKS);
    int64_t now = ed_plat_clock_wall_ms();
    assert_int_equal(ed_batch_builder_begin(w->bb, ED_COMPRESSION_NONE, now, -1, -1, -1), ED_OK);
    assert_int_equal(ed_batch_builder_add(w->bb, "k", 1, value, value_len, NULL, 0, now), ED_OK);
    uint8_t *buf;
    size_t len;
    assert_int_equal(ed_batch_builder_finish(w->bb, &buf, &len), ED_OK);
    struct ed_append_result res;
    assert_int_equal(ed_log_append(w->log, buf, len, &res), ED_OK);
    struct ack *a = &w->acks[w->n_acks++];
    a->syncs_at_append = datasyncs();
    a->append_ms = now;
    a->done_ms = -1;
    w->n_waiting++;
    assert_int_equal(ed_log_wait_durable(w->log, res.last_offset, on_durable, a), ED_OK);
}

struct load {
    int64_t every_ms; /* the producer wants to append this often */
    size_t value_len;
    int window; /* most waits outstanding */
    int64_t run_ms;
    bool urgent; /* a full window asks for the flush at once */
};

struct outcome {
    int64_t max_wait_ms, syncs, produced;
};

/* Runs a load on the simulated clock, event by event. */
static void run(struct world *w, const struct load *ld, struct outcome *out)
{
    int64_t t0 = ed_plat_clock_wall_ms(), next_send = t0;
    uint64_t s0 = datasyncs();
    int first = w->n_acks;
    for (;;) {
        int64_t now = ed_plat_clock_wall_ms();
        if (now >= w->tick_at) {
            w->tick_at = INT64_MAX;
            uint32_t next = ed_storage_tick(w->st, now);
            if (now + next < w->tick_at) w->tick_at = now + next;
        }
        if (now < t0 + ld->run_ms && now >= next_send && w->n_waiting < ld->window) {
            produce(w, ld->value_len);
            if (ld->urgent && w->n_waiting >= ld->window) ed_log_flush_soon(w->log);
            next_send += ld->every_ms;
            if (next_send < now) next_send = now; /* held back: no burst to catch up */
            continue;
        }
        if (now >= t0 + ld->run_ms && w->n_waiting == 0) break;
        int64_t to = w->tick_at;
        if (now < t0 + ld->run_ms && w->n_waiting < ld->window && next_send < to) to = next_send;
        assert_true(to > now && to < now + 10 * 1000);
        ed_sim_clock_advance_ms(to - now);
    }
    out->syncs = (int64_t)(datasyncs() - s0);
    out->produced = w->n_acks - first;
    out->max_wait_ms = 0;
    for (int i = first; i < w->n_acks; i++) {
        const struct ack *a = &w->acks[i];
        assert_true(a->done_ms >= 0);
        if (a->done_ms - a->append_ms > out->max_wait_ms)
            out->max_wait_ms = a->done_ms - a->append_ms;
    }
}

/* A fresh data directory, the load, and its outcome. */
static struct outcome run_fresh(const char *what, struct load ld)
{
    struct world *w = malloc(sizeof *w);
    assert_non_null(w);
    up(w);
    struct outcome o;
    run(w, &ld, &o);
    down(w);
    free(w);
    printf("%s: %" PRId64 " appends, %" PRId64 " syncs, longest wait %" PRId64 " ms\n", what,
           o.produced, o.syncs, o.max_wait_ms);
    return o;
}

/* 100 records/s of 70 B for 10 s: one sync per gather.ms at most, and no
 * acknowledgement held back longer than gather.ms. */
static void test_light_load_budget_and_latency(void **state)
{
    (void)state;
    struct load ld = {.every_ms = 10, .value_len = 70, .window = 1000, .run_ms = 10000};
    struct outcome o = run_fresh("light load", ld);
    assert_int_equal(o.produced, 1000);
    assert_true(o.syncs <= ld.run_ms / GATHER_MS + 1);
    assert_true(o.syncs >= ld.run_ms / GATHER_MS - 1); /* and they do happen */
    assert_true(o.max_wait_ms <= GATHER_MS);
}

/* A record every 250 ms: each is synced at once, nothing waits. */
static void test_sparse_producer_not_delayed(void **state)
{
    (void)state;
    struct load ld = {.every_ms = 250, .value_len = 70, .window = 1, .run_ms = 5000};
    struct outcome o = run_fresh("sparse", ld);
    assert_int_equal(o.produced, 20);
    assert_int_equal(o.syncs, 20);
    assert_int_equal(o.max_wait_ms, 0);
}

/* 16 KiB every ms (16 MB/s): a sync per gather.bytes, at once. */
static void test_fast_producer_not_slowed(void **state)
{
    (void)state;
    struct load ld = {.every_ms = 1, .value_len = 16 * 1024, .window = 64, .run_ms = 2000};
    struct outcome o = run_fresh("fast producer", ld);
    assert_int_equal(o.produced, 2000);
    /* each sync of the data carried at least gather.bytes (4 batches of
     * 16 KiB), besides the index files of the 2 segments rolled */
    assert_true(o.syncs <= o.produced / 4 + 8);
    assert_true(o.max_wait_ms <= 4);
}

/* A producer that wants 2,000 small records/s with 8 in flight: the sync
 * budget holds (at most one per gather.ms) and the producer is held back
 * to its window per gather.ms instead. */
static void test_overload_backpressure(void **state)
{
    (void)state;
    struct load ld = {.every_ms = 1, .value_len = 100, .window = 8, .run_ms = 5000};
    struct outcome o = run_fresh("overload", ld);
    assert_true(o.syncs <= ld.run_ms / GATHER_MS + 1);
    /* held back: 8 per sync, not the 5,000 it wanted */
    assert_true(o.produced <= 8 * (o.syncs + 1));
    assert_true(o.produced >= 8 * (o.syncs - 1));
    assert_true(o.max_wait_ms <= GATHER_MS);
}

/* The same producer, now saying when its window is full: each full window
 * is synced at once (no gather.ms wait), so it sends all it wanted instead
 * of 8 per gather.ms; each acknowledgement still follows its sync
 * (on_durable). Only the last few, after it stopped with its window not
 * full, wait for gather.ms. */
static void test_full_window_synced_at_once(void **state)
{
    (void)state;
    struct load ld = {.every_ms = 1, .value_len = 100, .window = 8, .run_ms = 5000, .urgent = true};
    struct outcome o = run_fresh("full window, urgent", ld);
    assert_int_equal(o.produced, 5000);
    assert_true(o.syncs >= 5000 / 8 - 1); /* a sync per full window */
    assert_true(o.max_wait_ms <= GATHER_MS);
}

/* Urgency that never comes (the window is never full): the light load of
 * the first test gathers exactly as before. */
static void test_everyday_load_still_gathers(void **state)
{
    (void)state;
    struct load ld = {
        .every_ms = 10, .value_len = 70, .window = 20, .run_ms = 10000, .urgent = true};
    struct outcome o = run_fresh("light load, window 20", ld);
    assert_int_equal(o.produced, 1000);
    assert_true(o.syncs <= ld.run_ms / GATHER_MS + 1);
    assert_true(o.max_wait_ms <= GATHER_MS);
}

/* ---- through the ingest path ---- */

#define LINGER_MS 2
#define N_IREC    6000

/* The ingest runs without a loop (its deadlines through ed_ingest_tick):
 * no timer is started. */
#include "sim_noloop.h"

struct irec {
    bool durable;
    int64_t add_ms, append_ms, done_ms;
    uint64_t syncs_at_append;
};

struct iworld {
    struct world w; /* st, tick_at; log is the partition's */
    ed_topics *topics;
    ed_partition *p;
    ed_ingest *g;
    int64_t ingest_at; /* the next batch deadline */
    int64_t base;      /* the first record's offset */
    int n, n_appended;
    struct irec r[N_IREC];
};

static void on_ingest_done(void *arg, void *who, uint64_t seq, int status)
{
    (void)arg, (void)seq;
    struct irec *r = who;
    assert_int_equal(status, ED_OK);
    assert_int_equal(r->done_ms, -1);
    /* The promise: a sync that began after the batch was appended. */
    assert_true(r->append_ms >= 0);
    assert_true(datasyncs() > r->syncs_at_append);
    r->done_ms = ed_plat_clock_wall_ms();
}

/* Notes the records appended since the last look (offsets are theirs in
 * order: one partition, nothing else writes to it). */
static void note_appends(struct iworld *iw)
{
    int64_t end = ed_log_end_offset(iw->p->log) - iw->base;
    for (; iw->n_appended < end; iw->n_appended++) {
        struct irec *r = &iw->r[iw->n_appended];
        r->append_ms = ed_plat_clock_wall_ms();
        r->syncs_at_append = datasyncs();
    }
}

static void ingest_tick(struct iworld *iw, int64_t now)
{
    /* The ingest's deadlines are on the monotonic clock, which the
     * simulation advances with the wall clock. */
    uint32_t in_ms = ed_ingest_tick(iw->g, (int64_t)ed_plat_clock_mono_ms());
    note_appends(iw);
    iw->ingest_at = in_ms == UINT32_MAX ? INT64_MAX : now + in_ms;
}

static struct iworld *iup(void)
{
    struct iworld *iw = calloc(1, sizeof *iw);
    assert_non_null(iw);
    struct world *w = &iw->w;
    struct ed_storage_config sc;
    open_storage(w, &sc);
    assert_int_equal(ed_topics_open_dir(w->st, "data", &sc.log, &iw->topics), ED_OK);
    ed_topic *t;
    assert_int_equal(ed_topics_create(iw->topics, "t", 1, NULL, NULL, 0, NULL, &t), ED_OK);
    iw->p = ed_topic_partition(t, 0);
    w->log = iw->p->log;
    static const struct ed_ingest_cbs cbs = {.done = on_ingest_done};
    struct ed_ingest_config ic = {.linger_ms = LINGER_MS,
                                  .durable_max_ms = 10 * GATHER_MS,
                                  .batch_len = 65536,
                                  .what = "records",
                                  .proto = ED_METRICS_MQTT};
    assert_int_equal(ed_ingest_new(NULL, iw->topics, &ic, &cbs, iw, &iw->g), ED_OK);
    ed_storage_tick(w->st, ed_plat_clock_wall_ms());
    ed_sim_clock_advance_ms(GATHER_MS);
    w->tick_at = ed_plat_clock_wall_ms();
    iw->ingest_at = INT64_MAX;
    iw->base = ed_log_end_offset(w->log);
    return iw;
}

static void idown(struct iworld *iw)
{
    ed_ingest_free(iw->g);
    ed_topics_close(iw->topics);
    ed_storage_close(iw->w.st);
    ed_sim_shutdown();
    free(iw);
}

/* A record every ms for run_ms (about the 16 sensors x 100 msg/s of the
 * everyday load); every qos0_every-th nobody waits for (0: none). */
static void irun(struct iworld *iw, int64_t run_ms, int qos0_every)
{
    static const uint8_t value[70];
    struct world *w = &iw->w;
    int64_t t0 = ed_plat_clock_wall_ms(), next_send = t0;
    for (;;) {
        int64_t now = ed_plat_clock_wall_ms();
        if (now >= iw->ingest_at) ingest_tick(iw, now);
        if (now >= w->tick_at) {
            w->tick_at = INT64_MAX;
            uint32_t next = ed_storage_tick(w->st, now);
            if (now + next < w->tick_at) w->tick_at = now + next;
        }
        if (now < t0 + run_ms && now >= next_send) {
            assert_true(iw->n < N_IREC);
            struct irec *r = &iw->r[iw->n];
            r->durable = qos0_every == 0 || (iw->n + 1) % qos0_every != 0;
            r->add_ms = now;
            r->append_ms = r->done_ms = -1;
            assert_int_equal(ed_ingest_add(iw->g, iw->p, "k", 1, value, sizeof value, NULL, 0,
                                           r->durable ? r : NULL, 0),
                             ED_OK);
            iw->n++;
            ingest_tick(iw, now); /* appends nothing not due; learns the deadline */
            next_send += 1;
            continue;
        }
        bool waiting = false;
        for (int i = 0; i < iw->n && !waiting; i++)
            waiting = iw->r[i].durable && iw->r[i].done_ms < 0;
        if (now >= t0 + run_ms && !waiting && iw->ingest_at == INT64_MAX) break;
        int64_t to = ED_MIN(w->tick_at, iw->ingest_at);
        if (now < t0 + run_ms && next_send < to) to = next_send;
        assert_true(to > now && to < now + 10 * 1000);
        ed_sim_clock_advance_ms(to - now);
    }
}

/* Only durable records: each flush appends about one batch (not one per
 * 2 ms), the flushes keep to one per gather.ms, no record is answered
 * before its sync (on_ingest_done) and none waits longer than gather.ms
 * plus the short linger. */
static void test_ingest_durable_batches_gather_until_flush(void **state)
{
    (void)state;
    struct iworld *iw = iup();
    uint64_t s0 = datasyncs();
    irun(iw, 5000, 0);
    struct ed_ingest_stats gs;
    ed_ingest_stats_get(iw->g, &gs);
    int64_t syncs = (int64_t)(datasyncs() - s0), max_wait = 0;
    for (int i = 0; i < iw->n; i++) {
        assert_true(iw->r[i].done_ms >= iw->r[i].append_ms);
        max_wait = ED_MAX(max_wait, iw->r[i].done_ms - iw->r[i].add_ms);
    }
    printf("ingest, durable: %d records, %" PRIu64 " batches, %" PRId64
           " syncs, longest wait %" PRId64 " ms\n",
           iw->n, gs.n_batches, syncs, max_wait);
    assert_int_equal(iw->n, 5000);
    assert_int_equal(gs.n_records, 5000);
    assert_true(syncs <= 5000 / GATHER_MS + 2);
    assert_true(gs.n_batches <= (uint64_t)syncs + 2);
    assert_true(max_wait <= GATHER_MS + LINGER_MS);
    idown(iw);
}

/* One record in ten nobody waits for (MQTT QoS 0): each of those is
 * appended within the short linger, as before (the batch it joins closes
 * then), and the durable ones are still answered only after their sync
 * and within the same bound. */
static void test_ingest_fire_and_forget_keeps_short_linger(void **state)
{
    (void)state;
    struct iworld *iw = iup();
    irun(iw, 2000, 10);
    int64_t max_linger = 0, max_wait = 0;
    for (int i = 0; i < iw->n; i++) {
        if (iw->r[i].durable)
            max_wait = ED_MAX(max_wait, iw->r[i].done_ms - iw->r[i].add_ms);
        else
            max_linger = ED_MAX(max_linger, iw->r[i].append_ms - iw->r[i].add_ms);
    }
    struct ed_ingest_stats gs;
    ed_ingest_stats_get(iw->g, &gs);
    printf("ingest, 1 in 10 QoS 0: %d records, %" PRIu64 " batches, longest QoS 0 linger %" PRId64
           " ms, wait %" PRId64 " ms\n",
           iw->n, gs.n_batches, max_linger, max_wait);
    assert_int_equal(iw->n, 2000);
    assert_true(gs.n_batches >= 2000 / 10);
    assert_true(max_linger <= LINGER_MS);
    assert_true(max_wait <= GATHER_MS + LINGER_MS);
    idown(iw);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--seed") == 0) seed = strtoull(argv[i + 1], NULL, 10);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_light_load_budget_and_latency),
        cmocka_unit_test(test_sparse_producer_not_delayed),
        cmocka_unit_test(test_fast_producer_not_slowed),
        cmocka_unit_test(test_overload_backpressure),
        cmocka_unit_test(test_full_window_synced_at_once),
        cmocka_unit_test(test_everyday_load_still_gathers),
        cmocka_unit_test(test_ingest_durable_batches_gather_until_flush),
        cmocka_unit_test(test_ingest_fire_and_forget_keeps_short_linger),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
