/* Deleting a topic on the simulated platform with the disk full: the
 * deletion works and frees the space (the registry and checkpoints are
 * rewritten with the space it freed or the reserve), survives a restart,
 * and without any way to record it fails cleanly changing nothing; then a
 * power cut at every mutating call of the deletion in turn: after
 * recovery the topic is either whole (every partition with all its
 * synced data) or gone (no partition, no folder), the other topic is
 * untouched, and the broker deletes it cleanly afterwards.
 *
 * Usage: sim_topics [--seed S] */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "core/topics.h"
#include "platform/platform.h"
#include "platform/sim/sim.h"
#include "storage/log.h"

#define DIR       "data"
#define N_DOOMED  3
#define N_BATCHES 4
#define MAX_SWEEP 2000

static uint64_t seed = 1;

/* The registry runs without a loop here (deletions finish inside
 * ed_topics_delete): no timer is started. */
#include "sim_noloop.h"

struct world {
    struct ed_storage_config sc;
    ed_storage *st;
    ed_topics *t;
    /* what each partition holds once synced: doomed 0..2, keep */
    int64_t end[N_DOOMED + 1];
    uint64_t size[N_DOOMED + 1];
};

static void up(struct world *w)
{
    ed_storage_config_default(&w->sc);
    w->sc.dir = DIR;
    w->sc.use_flusher_thread = false;
    assert_int_equal(ed_storage_open(&w->sc, &w->st), ED_OK);
    assert_int_equal(ed_topics_open_dir(w->st, DIR, &w->sc.log, &w->t), ED_OK);
}

static void down(struct world *w)
{
    ed_topics_close(w->t);
    ed_storage_close(w->st);
    w->t = NULL;
    w->st = NULL;
}

static void on_durable(void *arg, int status)
{
    *(int *)arg = status == ED_OK ? 1 : -1;
}

static void fill(struct world *w, ed_log *log, int slot)
{
    for (int i = 0; i < N_BATCHES; i++) {
        size_t len;
        uint8_t *b = ct_batch_build((uint64_t)slot * 100 + (uint64_t)i, 10, 900, &len);
        struct ed_append_result res;
        assert_int_equal(ed_log_append(log, b, len, &res), ED_OK);
        free(b);
    }
    int done = 0;
    assert_int_equal(ed_log_wait_durable(log, ed_log_end_offset(log) - 1, on_durable, &done),
                     ED_OK);
    for (int i = 0; i < 100 && !done; i++) {
        ed_sim_clock_advance_ms(100);
        ed_storage_tick(w->st, ed_plat_clock_wall_ms());
        ed_storage_run_completions(w->st);
    }
    assert_int_equal(done, 1);
    w->end[slot] = ed_log_end_offset(log);
    w->size[slot] = ed_log_size(log);
}

/* A fresh file system holding "doomed" (3 partitions) and "keep" (1), all
 * synced, and a disk with not one byte free. */
static void build(struct world *w, uint64_t s)
{
    ed_sim_reset(s);
    ed_sim_log_to(ED_SIM_LOG_NONE);
    up(w);
    ed_topic *d, *k;
    assert_int_equal(ed_topics_create(w->t, "doomed", N_DOOMED, NULL, NULL, 0, NULL, &d), ED_OK);
    assert_int_equal(ed_topics_create(w->t, "keep", 1, NULL, NULL, 0, NULL, &k), ED_OK);
    for (int p = 0; p < N_DOOMED; p++)
        fill(w, ed_topic_partition(d, p)->log, p);
    fill(w, ed_topic_partition(k, 0)->log, N_DOOMED);
    ed_sim_set_disk_limit(ed_sim_disk_usage());
}

static void check_keep(struct world *w)
{
    ed_topic *k = ed_topics_find(w->t, "keep");
    assert_non_null(k);
    ed_log *log = ed_topic_partition(k, 0)->log;
    assert_int_equal(ed_log_end_offset(log), w->end[N_DOOMED]);
    assert_int_equal(ed_log_size(log), w->size[N_DOOMED]);
}

static int count_doomed(void *arg, const char *name, bool is_dir)
{
    (void)is_dir;
    if (strncmp(name, "doomed-", 7) == 0) ++*(int *)arg;
    return 0;
}

/* "whole": every partition with all its data; "gone": nothing left. */
static bool doomed_state(struct world *w)
{
    ed_topic *d = ed_topics_find(w->t, "doomed");
    int folders = 0;
    assert_int_equal(ed_plat_dir_list(DIR, count_doomed, &folders), ED_OK);
    if (!d) {
        assert_int_equal(folders, 0);
        return false;
    }
    assert_int_equal(ed_topic_n_partitions(d), N_DOOMED);
    assert_int_equal(folders, N_DOOMED);
    for (int p = 0; p < N_DOOMED; p++) {
        ed_partition *part = ed_topic_partition(d, p);
        assert_non_null(part);
        assert_int_equal(ed_log_end_offset(part->log), w->end[p]);
        assert_int_equal(ed_log_size(part->log), w->size[p]);
    }
    return true;
}

static void test_delete_on_full_disk(void **state)
{
    (void)state;
    struct world w;
    build(&w, seed);
    uint64_t full = ed_sim_disk_usage();
    assert_int_equal(ed_topics_delete(w.t, ed_topics_find(w.t, "doomed")), ED_OK);
    assert_false(doomed_state(&w));
    check_keep(&w);
    assert_true(ed_sim_disk_usage() < full);
    down(&w);
    up(&w);
    assert_false(doomed_state(&w));
    check_keep(&w);
    /* The name is free again and the space can be used. */
    ed_topic *d;
    assert_int_equal(ed_topics_create(w.t, "doomed", 1, NULL, NULL, 0, NULL, &d), ED_OK);
    assert_int_equal(ed_log_end_offset(ed_topic_partition(d, 0)->log), 0);
    down(&w);
    ed_sim_shutdown();
}

/* Without the reserve and without a byte free the deletion cannot even be
 * recorded: it fails and changes nothing, before and after a restart. */
static void test_delete_without_reserve(void **state)
{
    (void)state;
    struct world w;
    build(&w, seed);
    ed_sim_set_disk_limit(0);
    assert_int_equal(ed_plat_path_unlink(DIR "/eddy-reserve"), ED_OK);
    ed_sim_set_disk_limit(ed_sim_disk_usage());
    assert_int_equal(ed_topics_delete(w.t, ed_topics_find(w.t, "doomed")), ED_ERR_NOSPC);
    assert_true(doomed_state(&w));
    check_keep(&w);
    down(&w);
    up(&w);
    assert_true(doomed_state(&w));
    check_keep(&w);
    down(&w);
    ed_sim_shutdown();
}

/* A power cut before each mutating call of a deletion on a full disk. */
static void test_delete_crash_sweep(void **state)
{
    (void)state;
    int n_whole = 0, n_gone = 0;
    uint64_t k;
    for (k = 1; k <= MAX_SWEEP; k++) {
        struct world w;
        build(&w, seed + k);
        ed_sim_crash_at(k);
        int rc = ed_topics_delete(w.t, ed_topics_find(w.t, "doomed"));
        bool crashed = ed_sim_crashed();
        ed_sim_crash_at(0);
        if (!crashed) {
            assert_int_equal(rc, ED_OK);
            assert_false(doomed_state(&w));
            down(&w);
            ed_sim_shutdown();
            break;
        }
        down(&w); /* the dead process's objects: every call fails */
        ed_sim_reboot();
        up(&w);
        if (doomed_state(&w))
            n_whole++;
        else
            n_gone++;
        check_keep(&w);
        /* Whatever the cut left, the broker deletes it (given room). */
        ed_sim_set_disk_limit(0);
        ed_topic *d = ed_topics_find(w.t, "doomed");
        if (d) assert_int_equal(ed_topics_delete(w.t, d), ED_OK);
        assert_false(doomed_state(&w));
        down(&w);
        up(&w);
        assert_false(doomed_state(&w));
        check_keep(&w);
        down(&w);
        ed_sim_shutdown();
    }
    assert_true(k <= MAX_SWEEP);
    assert_true(n_whole > 0 && n_gone > 0);
    printf("sim_topics: %" PRIu64 " power cuts: %d left the topic whole, %d gone\n", k - 1, n_whole,
           n_gone);
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--seed") == 0) seed = strtoull(argv[i + 1], NULL, 10);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delete_on_full_disk),
        cmocka_unit_test(test_delete_without_reserve),
        cmocka_unit_test(test_delete_crash_sweep),
    };
    return cmocka_run_group_tests_name("sim_topics", tests, NULL, NULL);
}
