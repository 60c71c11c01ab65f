/* Unit tests of the ingest path's deadlines (core/ingest.c): a batch whose
 * records all wait for durability gathers until its partition's flush is
 * due, at most durable_max_ms; a record nobody waits for, or a full window
 * (ed_ingest_hurry), closes it at the short linger, a window with every slot
 * taken (ed_ingest_append_now) at once. No loop: the test calls
 * ed_ingest_tick with chosen times on the monotonic clock (the ingest's
 * deadlines), bracketed by readings of it, so nothing depends on how fast
 * the machine is (eddy.flush.gather.ms is 10 s for that). The storage's
 * gathering runs on the wall clock: its flush due time is known to within
 * SLACK_MS on the monotonic one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/ingest.h"
#include "core/topics.h"
#include "log_testutil.h"
#include "tbroker.h"

#define GATHER_MS 10000
#define LINGER_MS 2
#define SLACK_MS  3

static int64_t mono(void)
{
    return (int64_t)ed_plat_clock_mono_ms();
}

struct fx {
    char *dir;
    struct tbroker t;
    ed_partition *p;
    ed_ingest *g;
    int n_done, n_failed;
};

static void on_done(void *arg, void *who, uint64_t seq, int status)
{
    struct fx *f = arg;
    (void)who;
    (void)seq;
    if (status == ED_OK)
        f->n_done++;
    else
        f->n_failed++;
}

static const struct ed_ingest_cbs cbs = {.done = on_done};

static void set(struct fx *f, const char *k, const char *v)
{
    char why[256];
    assert_int_equal(ed_config_set(f->t.cfg, k, v, why, sizeof why), ED_OK);
}

static struct fx *fx_new(uint32_t durable_max_ms)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = lt_tmpdir();
    assert_int_equal(ed_config_new(&f->t.cfg), ED_OK);
    set(f, "log.dirs", f->dir);
    set(f, "log.dir.min.free.bytes", "0");
    set(f, "eddy.flush.gather.ms", "10000");
    assert_int_equal(tb_open(&f->t), ED_OK);
    ed_topic *topic;
    assert_int_equal(ed_topics_create(f->t.topics, "t", 1, NULL, NULL, 0, NULL, &topic), ED_OK);
    f->p = ed_topic_partition(topic, 0);
    assert_non_null(f->p);
    struct ed_ingest_config ic = {.linger_ms = LINGER_MS,
                                  .durable_max_ms = durable_max_ms,
                                  .batch_len = 65536,
                                  .what = "test records",
                                  .proto = ED_METRICS_MQTT};
    assert_int_equal(ed_ingest_new(NULL, f->t.topics, &ic, &cbs, f, &f->g), ED_OK);
    return f;
}

static void fx_free(struct fx *f)
{
    ed_ingest_free(f->g);
    tb_close(&f->t);
    ed_config_free(f->t.cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
}

static int64_t end(const struct fx *f)
{
    return ed_log_end_offset(f->p->log);
}

/* One record; durable: answered through on_done once on flash. */
static void add(struct fx *f, bool durable)
{
    static int who;
    assert_int_equal(
        ed_ingest_add(f->g, f->p, "k", 1, "value", 5, NULL, 0, durable ? &who : NULL, 0), ED_OK);
}

/* A first durable record, appended at the short linger (the log never
 * synced: its flush is due at once) and synced: the partition's previous
 * sync began within [s0, s1] on the wall clock, [m0, m1] on the
 * monotonic one. */
struct when {
    int64_t s0, s1, m0, m1;
};

static void prime(struct fx *f, struct when *w)
{
    add(f, true);
    ed_ingest_tick(f->g, mono() + LINGER_MS);
    assert_int_equal(end(f), 1);
    w->m0 = mono();
    w->s0 = ed_plat_clock_wall_ms();
    tb_sync(&f->t);
    w->s1 = ed_plat_clock_wall_ms();
    w->m1 = mono();
    assert_int_equal(f->n_done, 1);
}

/* Durable records gather until the partition's flush is due (gather.ms
 * after its previous sync began), not for the short linger; that flush
 * then covers them, and they are answered only after it. */
static void test_durable_batch_lingers_until_flush_due(void **state)
{
    (void)state;
    struct fx *f = fx_new(2 * GATHER_MS);
    struct when w;
    prime(f, &w);
    int64_t a1 = mono();
    add(f, true);
    add(f, true);
    assert_int_equal(ed_ingest_tick(f->g, a1 + LINGER_MS) > 0, true);
    assert_int_equal(ed_ingest_tick(f->g, w.m0 + GATHER_MS - SLACK_MS) > 0, true);
    assert_int_equal(end(f), 1); /* still gathering */
    tb_sync(&f->t);
    assert_int_equal(f->n_done, 1);
    assert_int_equal(ed_ingest_tick(f->g, w.m1 + GATHER_MS + SLACK_MS), UINT32_MAX);
    assert_int_equal(end(f), 3); /* one batch, appended when the flush is due */
    assert_int_equal(f->n_done, 1);
    ed_storage_tick(f->t.st, w.s1 + GATHER_MS);
    ed_storage_run_completions(f->t.st);
    assert_int_equal(f->n_done, 3);
    fx_free(f);
}

/* The flush is due in 10 s, but durable_max_ms (3 s) bounds the linger. */
static void test_durable_linger_bounded(void **state)
{
    (void)state;
    struct fx *f = fx_new(3000);
    struct when w;
    prime(f, &w);
    int64_t a0 = mono();
    add(f, true);
    int64_t a1 = mono();
    ed_ingest_tick(f->g, a0 + 2999);
    assert_int_equal(end(f), 1);
    ed_ingest_tick(f->g, a1 + 3000);
    assert_int_equal(end(f), 2);
    fx_free(f);
}

/* A record nobody waits for (MQTT QoS 0) joining a durable batch closes it
 * at the short linger after its first record. */
static void test_fire_and_forget_closes_at_short_linger(void **state)
{
    (void)state;
    struct fx *f = fx_new(2 * GATHER_MS);
    struct when w;
    prime(f, &w);
    int64_t a0 = mono();
    add(f, true);
    add(f, false);
    int64_t a1 = mono();
    ed_ingest_tick(f->g, a0 + LINGER_MS - 1);
    assert_int_equal(end(f), 1);
    ed_ingest_tick(f->g, a1 + LINGER_MS);
    assert_int_equal(end(f), 3);
    fx_free(f);
}

/* A full window (ed_ingest_hurry) closes the batch at the short linger and
 * its sync starts at once, without waiting for gather.ms. */
static void test_hurry_closes_at_short_linger_and_syncs(void **state)
{
    (void)state;
    struct fx *f = fx_new(2 * GATHER_MS);
    struct when w;
    prime(f, &w);
    add(f, true);
    ed_ingest_hurry(f->g, f->p);
    int64_t a1 = mono();
    assert_int_equal(ed_ingest_tick(f->g, a1 + LINGER_MS), UINT32_MAX);
    assert_int_equal(end(f), 2);
    assert_int_equal(f->n_done, 1);
    tb_sync(&f->t); /* well before gather.ms */
    assert_int_equal(f->n_done, 2);
    fx_free(f);
}

/* A window with every slot taken (ed_ingest_append_now): the batch is
 * appended at once, not at the short linger, and its sync starts. */
static void test_append_now_skips_the_linger(void **state)
{
    (void)state;
    struct fx *f = fx_new(2 * GATHER_MS);
    struct when w;
    prime(f, &w);
    add(f, true);
    ed_ingest_append_now(f->g, f->p);
    assert_int_equal(end(f), 2);
    assert_int_equal(ed_ingest_tick(f->g, mono()), UINT32_MAX);
    assert_int_equal(f->n_done, 1);
    tb_sync(&f->t);
    assert_int_equal(f->n_done, 2);
    fx_free(f);
}

/* durable_max_ms = 0: durable records linger like the others. */
static void test_durable_linger_off(void **state)
{
    (void)state;
    struct fx *f = fx_new(0);
    struct when w;
    prime(f, &w);
    add(f, true);
    int64_t a1 = mono();
    ed_ingest_tick(f->g, a1 + LINGER_MS);
    assert_int_equal(end(f), 2);
    fx_free(f);
}

/* The log's flush query itself: due at once before any sync, and
 * gather.ms after the previous one began. */
static void test_flush_due_in(void **state)
{
    (void)state;
    struct fx *f = fx_new(0);
    int64_t now = ed_plat_clock_wall_ms();
    assert_int_equal(ed_log_flush_due_in(f->p->log, now), 0);
    struct when w;
    prime(f, &w);
    assert_true(ed_log_flush_due_in(f->p->log, w.s1) >= GATHER_MS - (w.s1 - w.s0));
    assert_true(ed_log_flush_due_in(f->p->log, w.s1) <= GATHER_MS);
    assert_int_equal(ed_log_flush_due_in(f->p->log, w.s1 + GATHER_MS), 0);
    ed_log_flush_soon(f->p->log); /* asked for: due at once */
    assert_int_equal(ed_log_flush_due_in(f->p->log, w.s1), 0);
    fx_free(f);
}

/* The turbine recording's first n lines (after the header), one record
 * each, into partition p without a wait; returns the CSV bytes added. */
static size_t add_turbine_lines(struct fx *f, ed_partition *p, int n)
{
    FILE *fp = fopen("tests/data/wind-turbine-scada-T1.csv", "rb");
    if (!fp)
        fail_msg("tests/data/wind-turbine-scada-T1.csv not found: run from the project's root");
    char line[256];
    size_t total = 0;
    assert_non_null(fgets(line, sizeof line, fp));
    for (int i = 0; i < n && fgets(line, sizeof line, fp); i++) {
        size_t len = strcspn(line, "\r\n");
        assert_int_equal(ed_ingest_add(f->g, p, "t01", 3, line, len, NULL, 0, NULL, 0), ED_OK);
        total += len;
    }
    fclose(fp);
    return total;
}

/* compression.zstd.level of the topic is the level its batches are built
 * with: the same 400 lines stored at level 19 take at least 5 % fewer
 * bytes than at level 1 (about 9 %; at one level both differ by record
 * timestamps only, well under 1 %), and both fewer than the lines. */
static void test_topic_zstd_level(void **state)
{
    (void)state;
    struct fx *f = fx_new(0);
    const char *why;
    ed_topic *lo, *hi;
    assert_int_equal(ed_topics_create(f->t.topics, "lo", 1, NULL, NULL, 0, NULL, &lo), ED_OK);
    assert_int_equal(ed_topics_create(f->t.topics, "hi", 1, NULL, NULL, 0, NULL, &hi), ED_OK);
    assert_int_equal(ed_topic_config_set(f->t.topics, lo, "compression.type", "zstd", &why), ED_OK);
    assert_int_equal(ed_topic_config_set(f->t.topics, hi, "compression.type", "zstd", &why), ED_OK);
    assert_int_equal(ed_topic_config_set(f->t.topics, lo, "compression.zstd.level", "1", &why),
                     ED_OK);
    assert_int_equal(ed_topic_config_set(f->t.topics, hi, "compression.zstd.level", "19", &why),
                     ED_OK);
    ed_partition *plo = ed_topic_partition(lo, 0), *phi = ed_topic_partition(hi, 0);
    size_t csv = add_turbine_lines(f, plo, 400);
    assert_int_equal(add_turbine_lines(f, phi, 400), csv);
    ed_ingest_tick(f->g, mono() + LINGER_MS);
    assert_int_equal(ed_log_end_offset(plo->log), 400);
    assert_int_equal(ed_log_end_offset(phi->log), 400);
    uint64_t len_lo = ed_log_size(plo->log), len_hi = ed_log_size(phi->log);
    print_message("400 turbine lines, %zu bytes: %llu stored at zstd level 1, %llu at 19\n", csv,
                  (unsigned long long)len_lo, (unsigned long long)len_hi);
    assert_true(len_lo < csv);
    assert_true(len_hi * 100 < len_lo * 95);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durable_batch_lingers_until_flush_due),
        cmocka_unit_test(test_durable_linger_bounded),
        cmocka_unit_test(test_fire_and_forget_closes_at_short_linger),
        cmocka_unit_test(test_hurry_closes_at_short_linger_and_syncs),
        cmocka_unit_test(test_append_now_skips_the_linger),
        cmocka_unit_test(test_durable_linger_off),
        cmocka_unit_test(test_flush_due_in),
        cmocka_unit_test(test_topic_zstd_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
