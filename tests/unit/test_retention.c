/* Retention on real files: by time (a segment's largest timestamp) and by
 * size, never the active segment; the retention hook keeping segments; the
 * disk guard under log.dir.full.policy=delete-oldest keeping all logs under a
 * byte budget (oldest segments first, across partitions, each range logged
 * and counted), refusing appends when only active segments are left, and a
 * free-space floor; segments the hook keeps deleted only through the drop
 * hook; under the default policy (refuse) the budget and the
 * floor refuse appends and delete nothing. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_testutil.h"
#include "platform/mem.h"
#include "storage/log.h"

#define DAY_MS (24LL * 3600 * 1000)

struct fx {
    char *dir;
    ed_storage *st;
    struct ed_storage_config cfg;
    struct ed_log_config lc;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    lt_config(&f->cfg, f->dir, false);
    f->cfg.retention_check_ms = 1;
    ed_log_config_default(&f->lc);
    f->lc.segment_len = 600;
    f->lc.retention_ms = -1; /* switched on by each test once its data is in */
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->st) ed_storage_close(f->st);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static ed_log *mk(struct fx *f, const char *topic)
{
    ed_log *log;
    assert_int_equal(ed_storage_create_log(f->st, topic, 0, &f->lc, &log), ED_OK);
    return log;
}

static void put(ed_log *log, int64_t ts)
{
    uint8_t buf[4096];
    size_t len = lt_batch(buf, sizeof buf, 2, 80, ts, 1, 3);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(log, buf, len, &r), ED_OK);
}

static int n_segments(struct fx *f, const char *topic)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s-0", f->dir, topic);
    return lt_count_suffix(p, ".log");
}

static void settle(struct fx *f, ed_log *log)
{
    lt_wait_durable_all(f->st, log);
}

/* A tick time after every tick the settling loops made. */
static int64_t later(void)
{
    static int64_t k;
    return ed_plat_clock_wall_ms() + 10 * ++k;
}

static void retain(struct fx *f, ed_log *log, int64_t ms, int64_t len)
{
    f->lc.retention_ms = ms;
    f->lc.retention_len = len;
    ed_log_set_config(log, &f->lc);
}

static void test_by_time(void **state)
{
    struct fx *f = *state;
    ed_log *log = mk(f, "t");
    int64_t now = ed_plat_clock_wall_ms();
    for (int i = 0; i < 12; i++)
        put(log, now - 3 * DAY_MS + i);
    int old_segs = n_segments(f, "t");
    for (int i = 0; i < 9; i++)
        put(log, now - 1000 + i);
    settle(f, log);
    int segs = n_segments(f, "t");
    assert_true(old_segs >= 3 && segs > old_segs);
    retain(f, log, DAY_MS, -1);
    ed_storage_tick(f->st, later());
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    /* Every segment whose newest record is older than a day went, except
     * one holding both old and new batches. */
    assert_true(s.n_segments_deleted_retention >= (uint64_t)old_segs - 1);
    assert_int_equal(n_segments(f, "t"), segs - (int)s.n_segments_deleted_retention);
    int64_t off, ts;
    assert_int_equal(ed_log_offset_for_time(log, 0, &off, &ts), ED_OK);
    assert_true(off == ed_log_start_offset(log));
    assert_true(ts >= now - 3 * DAY_MS);
    /* Two days later everything is old: only the active segment remains. */
    ed_storage_tick(f->st, later() + 2 * DAY_MS);
    assert_int_equal(n_segments(f, "t"), 1);
    assert_true(ed_log_end_offset(log) == 42);
    struct ed_log_slice sl;
    int64_t start = ed_log_start_offset(log);
    assert_true(start > 0 && start < 42);
    assert_int_equal(ed_log_read(log, start, 1, &sl), ED_OK);
    assert_true(sl.len > 0);
    ed_log_slice_release(&sl);
}

static void test_by_size(void **state)
{
    struct fx *f = *state;
    ed_log *log = mk(f, "t");
    int64_t now = ed_plat_clock_wall_ms();
    for (int i = 0; i < 30; i++)
        put(log, now + i);
    settle(f, log);
    retain(f, log, -1, 1500);
    uint64_t before = ed_log_size(log);
    assert_true(before > 4000);
    ed_storage_tick(f->st, later());
    uint64_t after = ed_log_size(log);
    /* Kafka's rule: delete while the rest still holds retention.bytes. */
    assert_true(after >= 1500);
    assert_true(after < 1500 + 600 + 300);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_segments_deleted_retention > 0);
    /* retention.bytes = 0: all but the active segment. */
    retain(f, log, -1, 0);
    ed_storage_tick(f->st, later());
    assert_int_equal(n_segments(f, "t"), 1);
}

static int hook_calls;
static int64_t hook_last;
static bool hook_allow_retention, hook_allow_guard;

static bool hook(void *arg, ed_log *log, int64_t last_offset, bool guard)
{
    (void)arg;
    hook_calls++;
    assert_true(last_offset < ed_log_end_offset(log));
    assert_true(last_offset >= ed_log_start_offset(log));
    hook_last = last_offset;
    return guard ? hook_allow_guard : hook_allow_retention;
}

static void test_hook_keeps(void **state)
{
    struct fx *f = *state;
    ed_log *log = mk(f, "t");
    int64_t now = ed_plat_clock_wall_ms();
    for (int i = 0; i < 20; i++)
        put(log, now - 3 * DAY_MS);
    settle(f, log);
    int segs = n_segments(f, "t");
    retain(f, log, DAY_MS, -1);
    ed_storage_set_retention_hook(f->st, hook, NULL);
    hook_calls = 0;
    hook_allow_retention = false;
    ed_storage_tick(f->st, later());
    assert_true(hook_calls > 0);
    assert_int_equal(n_segments(f, "t"), segs);
    hook_allow_retention = true;
    ed_storage_tick(f->st, later());
    assert_int_equal(n_segments(f, "t"), 1);
    assert_true(hook_last == ed_log_start_offset(log) - 1);
}

static void test_guard_budget(void **state)
{
    struct fx *f = *state;
    ed_log *a = mk(f, "a");
    ed_log *b = mk(f, "b");
    int64_t now = ed_plat_clock_wall_ms();
    for (int i = 0; i < 20; i++)
        put(a, now - 100000 + i); /* older data */
    for (int i = 0; i < 20; i++)
        put(b, now - 50000 + i);
    settle(f, a);
    settle(f, b);
    int sa = n_segments(f, "a"), sb = n_segments(f, "b");
    uint64_t total = ed_log_size(a) + ed_log_size(b);
    ed_storage_close(f->st);
    f->cfg.log = f->lc;
    f->cfg.disk_budget_len = total - 1500;
    f->cfg.disk_full_delete = true;
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    a = lt_find_log(f->st, "a", 0);
    b = lt_find_log(f->st, "b", 0);
    ed_storage_tick(f->st, later());
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(ed_log_size(a) + ed_log_size(b) <= f->cfg.disk_budget_len);
    assert_true(s.n_segments_deleted_guard >= 3);
    assert_true(s.len_deleted_guard >= 1500);
    /* The oldest data went first: all from partition a. */
    assert_int_equal(n_segments(f, "a"), sa - (int)s.n_segments_deleted_guard);
    assert_int_equal(n_segments(f, "b"), sb);
    /* Appends keep working inside the budget: the guard makes room. */
    for (int i = 0; i < 20; i++)
        put(b, now + i);
    settle(f, b);
    assert_true(ed_log_size(a) + ed_log_size(b) <= f->cfg.disk_budget_len);
}

static void test_guard_refuses_when_only_active_left(void **state)
{
    struct fx *f = *state;
    ed_storage_close(f->st);
    f->cfg.disk_budget_len = 1000;
    f->cfg.disk_full_delete = true;
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    f->lc.segment_len = 100000;
    ed_log *log = mk(f, "t");
    int64_t now = ed_plat_clock_wall_ms();
    uint8_t buf[4096];
    struct ed_append_result r;
    int rc = ED_OK, n = 0;
    while (rc == ED_OK && n < 100) {
        size_t len = lt_batch(buf, sizeof buf, 2, 80, now, 1, 3);
        rc = ed_log_append(log, buf, len, &r);
        n++;
    }
    assert_int_equal(rc, ED_ERR_NOSPC);
    assert_true(ed_log_size(log) <= 1000);
    assert_true(ed_log_size(log) > 600);
}

/* A log of 20 current batches (40 records) in several segments. */
static ed_log *filled(struct fx *f, const char *topic)
{
    ed_log *log = mk(f, topic);
    int64_t now = ed_plat_clock_wall_ms();
    for (int i = 0; i < 20; i++)
        put(log, now + i);
    settle(f, log);
    return log;
}

/* Appends one batch of two records; returns the status. */
static int try_put(ed_log *log)
{
    uint8_t buf[4096];
    size_t len = lt_batch(buf, sizeof buf, 2, 80, ed_plat_clock_wall_ms(), 1, 3);
    struct ed_append_result r;
    return ed_log_append(log, buf, len, &r);
}

/* Every offset from 0 to end is still readable. */
static void assert_all_readable(ed_log *log, int64_t end)
{
    assert_true(ed_log_start_offset(log) == 0);
    assert_true(ed_log_end_offset(log) == end);
    int64_t off = 0;
    while (off < end) {
        struct ed_log_slice sl;
        assert_int_equal(ed_log_read(log, off, 1 << 20, &sl), ED_OK);
        assert_true(sl.len > 0);
        ed_log_slice_release(&sl);
        off += 2; /* each batch holds two records */
    }
}

/* The default policy with free space below the floor (as on a small volume
 * with the default log.dir.min.free.bytes, or a root file system that other
 * programs filled): nothing acknowledged is deleted, at start or later;
 * appends are refused with ED_ERR_NOSPC and counted; the log is unchanged. */
static void test_floor_refuses_by_default(void **state)
{
    struct fx *f = *state;
    ed_log *log = filled(f, "t");
    int segs = n_segments(f, "t");
    assert_true(segs > 3);
    ed_storage_close(f->st);
    f->cfg.log = f->lc;
    f->cfg.disk_free_floor_len = UINT64_MAX / 2; /* never satisfiable */
    assert_false(f->cfg.disk_full_delete);
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    log = lt_find_log(f->st, "t", 0);
    lt_capture_logs();
    ed_storage_tick(f->st, later());
    ed_storage_tick(f->st, later() + 5000);
    bool said = lt_log_contains("refusing new data (log.dir.full.policy=refuse)");
    lt_release_logs();
    assert_true(said);
    assert_int_equal(n_segments(f, "t"), segs);
    assert_int_equal(try_put(log), ED_ERR_NOSPC);
    assert_int_equal(try_put(log), ED_ERR_NOSPC);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_segments_deleted_guard == 0 && s.len_deleted_guard == 0);
    assert_true(s.n_appends_refused_full == 2);
    assert_int_equal(n_segments(f, "t"), segs);
    assert_all_readable(log, 40);
    /* With room again, appends go on from where they stopped. */
    ed_storage_close(f->st);
    f->cfg.disk_free_floor_len = 0;
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    log = lt_find_log(f->st, "t", 0);
    assert_int_equal(try_put(log), ED_OK);
    settle(f, log);
    assert_all_readable(log, 42);
}

/* The same for the byte budget: over it, nothing is deleted; appends that
 * would pass it are refused; below it they are taken. */
static void test_budget_refuses_by_default(void **state)
{
    struct fx *f = *state;
    ed_log *log = filled(f, "t");
    int segs = n_segments(f, "t");
    uint64_t size = ed_log_size(log);
    ed_storage_close(f->st);
    f->cfg.log = f->lc;
    f->cfg.disk_budget_len = size - 1500;
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    log = lt_find_log(f->st, "t", 0);
    ed_storage_tick(f->st, later());
    assert_int_equal(n_segments(f, "t"), segs);
    assert_int_equal(try_put(log), ED_ERR_NOSPC);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_segments_deleted_guard == 0 && s.n_appends_refused_full == 1);
    assert_all_readable(log, 40);
    ed_storage_close(f->st);
    f->cfg.disk_budget_len = size + 1000;
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    log = lt_find_log(f->st, "t", 0);
    int n_ok = 0, rc;
    while ((rc = try_put(log)) == ED_OK && n_ok < 100)
        n_ok++;
    assert_int_equal(rc, ED_ERR_NOSPC);
    assert_true(n_ok >= 1 && ed_log_size(log) <= f->cfg.disk_budget_len);
    settle(f, log);
    assert_all_readable(log, 40 + 2 * n_ok);
}

/* The drop hook's record of each range, and its answer. */
static int n_drops, drop_answer;
static int64_t drop_first[64], drop_last[64];

static int drop(void *arg, ed_log *log, int64_t first, int64_t last)
{
    (void)arg;
    /* told while the segment is still there */
    assert_true(ed_log_start_offset(log) == first);
    assert_true(first <= last && last < ed_log_end_offset(log));
    if (drop_answer == ED_OK && n_drops < 64) {
        drop_first[n_drops] = first;
        drop_last[n_drops] = last;
    }
    n_drops++;
    return drop_answer;
}

/* Reopens the storage of f over a free-space floor that can never be met,
 * under delete-oldest, with the hook keeping everything; returns log t. */
static ed_log *reopen_over_floor(struct fx *f, ed_retention_drop_hook drop_hook)
{
    ed_storage_close(f->st);
    f->cfg.log = f->lc;
    f->cfg.disk_free_floor_len = UINT64_MAX / 2; /* never satisfiable */
    f->cfg.disk_full_delete = true;
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    ed_storage_set_retention_hook(f->st, hook, NULL);
    ed_storage_set_drop_hook(f->st, drop_hook);
    hook_allow_guard = false;
    hook_calls = 0;
    n_drops = 0;
    return lt_find_log(f->st, "t", 0);
}

/* Without a drop hook (mirror.on.full=block) the guard deletes nothing the
 * hook keeps, even under delete-oldest, and the floor refuses appends. */
static void test_guard_keeps_hooked_segments(void **state)
{
    struct fx *f = *state;
    filled(f, "t");
    int segs = n_segments(f, "t");
    ed_log *log = reopen_over_floor(f, NULL);
    lt_capture_logs();
    ed_storage_tick(f->st, later());
    bool said = lt_log_contains("only active or unmirrored segments are left");
    lt_release_logs();
    assert_true(said);
    assert_true(hook_calls > 0);
    assert_int_equal(n_segments(f, "t"), segs);
    assert_int_equal(try_put(log), ED_ERR_NOSPC);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_segments_deleted_guard == 0 && s.n_appends_refused_full == 1);
    assert_int_equal(n_segments(f, "t"), segs);
    assert_all_readable(log, 40);
}

/* With a drop hook (mirror.on.full=drop-oldest) the guard, with no other
 * choice, deletes kept segments oldest first, telling the hook each range
 * before; a range the hook cannot record stays. */
static void test_guard_drops_through_hook(void **state)
{
    struct fx *f = *state;
    filled(f, "t");
    int segs = n_segments(f, "t");
    drop_answer = ED_ERR_IO;
    ed_log *log = reopen_over_floor(f, drop);
    ed_storage_tick(f->st, later());
    assert_int_equal(n_drops, 1);
    assert_int_equal(n_segments(f, "t"), segs);
    assert_all_readable(log, 40);
    drop_answer = ED_OK;
    log = reopen_over_floor(f, drop);
    lt_capture_logs();
    ed_storage_tick(f->st, later());
    bool named = lt_log_contains("deleting t-0 offsets 0..");
    lt_release_logs();
    assert_true(named);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_segments_deleted_guard, (uint64_t)segs - 1);
    assert_int_equal(n_drops, segs - 1);
    assert_int_equal(n_segments(f, "t"), 1);
    /* the ranges told follow one another from 0 to the new start */
    assert_true(drop_first[0] == 0);
    for (int i = 1; i < n_drops; i++)
        assert_true(drop_first[i] == drop_last[i - 1] + 1);
    assert_true(drop_last[n_drops - 1] + 1 == ed_log_start_offset(log));
    assert_true(ed_log_end_offset(log) == 40);
}

static void test_no_leaks(void **state)
{
    (void)state;
    struct ed_mem_stats m;
    ed_mem_stats_get(&m);
    assert_int_equal(m.cur_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_by_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_by_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hook_keeps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_refuses_when_only_active_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_keeps_hooked_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_drops_through_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_floor_refuses_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_refuses_by_default, setup, teardown),
        cmocka_unit_test(test_no_leaks),
    };
    return cmocka_run_group_tests_name("retention", tests, NULL, NULL);
}
