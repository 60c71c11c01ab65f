/* Unit tests of the bounded cache of open segment files on real files:
 * many partitions with many rolled segments keep at most
 * eddy.max.open.segments .log files open while every record reads back;
 * a slice held across evictions keeps its file; retention deletes
 * segments whose files were closed; a reopen of the data directory stays
 * within the bound and reads everything back; a segment that cannot be
 * reopened fails its read with an error. Open files are counted in
 * /proc/self/fd. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log_testutil.h"
#include "platform/log.h"
#include "storage/batch.h"
#include "storage/log.h"

#define N_PARTS   6
#define N_BATCHES 12
#define N_RECS    4
#define BOUND     8

struct fx {
    char *dir;
    ed_storage *st;
    struct ed_storage_config cfg;
    struct ed_log_config lc;
};

static int setup(void **state)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    lt_config(&f->cfg, f->dir, false);
    f->cfg.max_open_segments = BOUND;
    ed_log_config_default(&f->lc);
    f->lc.retention_ms = -1;
    f->lc.segment_len = 500; /* one batch of 4 x 100-byte records per segment */
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lt_close_and_remove(f->st, f->dir);
    free(f);
    return 0;
}

static int open_logs(const struct fx *f)
{
    return lt_count_open_files(f->dir, ".log");
}

/* The flusher settles every log, then a tick lets idle files close. */
static void settle(struct fx *f)
{
    for (int p = 0; p < N_PARTS; p++)
        lt_wait_durable_all(f->st, lt_find_log(f->st, "t", p));
    ed_storage_tick(f->st, ed_plat_clock_wall_ms());
}

/* N_PARTS partitions of N_BATCHES batches each, one segment per batch;
 * partition p's batch i carries fill byte p * 16 + i. */
static void fill(struct fx *f)
{
    for (int p = 0; p < N_PARTS; p++) {
        ed_log *log;
        assert_int_equal(ed_storage_create_log(f->st, "t", p, &f->lc, &log), ED_OK);
        for (int i = 0; i < N_BATCHES; i++) {
            uint8_t buf[2048];
            struct ed_append_result r;
            size_t len = lt_batch(buf, sizeof buf, N_RECS, 100, 5, 1, (uint8_t)(p * 16 + i));
            assert_true(len > 0);
            assert_int_equal(ed_log_append(log, buf, len, &r), ED_OK);
        }
    }
    settle(f);
}

/* Reads partition p from offset 0 batch by batch through slices and checks
 * each batch's CRC, offsets and fill; the open .log files stay at the
 * bound (active segments count: they are always open). */
static void read_back(struct fx *f, int p, int64_t from)
{
    ed_log *log = lt_find_log(f->st, "t", p);
    assert_non_null(log);
    int64_t off = from;
    while (off < ed_log_end_offset(log)) {
        struct ed_log_slice s;
        assert_int_equal(ed_log_read(log, off, 1, &s), ED_OK);
        assert_true(s.len > 0);
        uint8_t out[2048];
        assert_true(s.len <= sizeof out);
        assert_int_equal(ed_log_slice_copy(&s, out, sizeof out), ED_OK);
        size_t len = s.len;
        ed_log_slice_release(&s);
        struct ed_batch_info b;
        assert_int_equal(ed_batch_check(out, len, &b), ED_OK);
        assert_int_equal(b.base_offset, off);
        assert_int_equal(b.last_offset_delta, N_RECS - 1);
        uint8_t want[2048];
        size_t wlen =
            lt_batch(want, sizeof want, N_RECS, 100, 5, 1, (uint8_t)(p * 16 + off / N_RECS));
        assert_int_equal(wlen, len);
        /* past the header (offsets, CRC differ): the records are the same */
        assert_memory_equal(out + ED_BATCH_HEADER_LEN, want + ED_BATCH_HEADER_LEN,
                            wlen - ED_BATCH_HEADER_LEN);
        off = b.base_offset + b.last_offset_delta + 1;
        assert_true(open_logs(f) <= BOUND);
    }
}

static void test_bound_and_read_back(void **state)
{
    struct fx *f = *state;
    fill(f);
    /* 72 segments, 6 of them active */
    assert_true(open_logs(f) <= BOUND);
    for (int p = 0; p < N_PARTS; p++)
        read_back(f, p, 0);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_open_segments <= BOUND);
    assert_true(s.n_segment_files_closed > 0);
    assert_true(s.n_segment_files_reopened > 0);
    assert_int_equal(s.n_segment_reopen_failed, 0);
    assert_int_equal(s.n_segment_open_over_bound, 0);
    /* index files are closed with their segment */
    assert_true(lt_count_open_files(f->dir, ".index") <= BOUND);
    assert_true(lt_count_open_files(f->dir, ".timeindex") <= BOUND);
}

static void test_slice_held_across_evictions(void **state)
{
    struct fx *f = *state;
    fill(f);
    ed_log *log0 = lt_find_log(f->st, "t", 0);
    struct ed_log_slice held;
    assert_int_equal(ed_log_read(log0, 0, 1, &held), ED_OK);
    /* every other partition's old segments are opened and closed again */
    for (int p = 1; p < N_PARTS; p++)
        read_back(f, p, 0);
    ed_storage_tick(f->st, ed_plat_clock_wall_ms());
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_segment_files_closed > 0);
    uint8_t out[2048], want[2048];
    assert_int_equal(ed_log_slice_copy(&held, out, sizeof out), ED_OK);
    size_t wlen = lt_batch(want, sizeof want, N_RECS, 100, 5, 1, 0);
    assert_int_equal(held.len, wlen);
    assert_memory_equal(out + ED_BATCH_HEADER_LEN, want + ED_BATCH_HEADER_LEN,
                        wlen - ED_BATCH_HEADER_LEN);
    ed_log_slice_release(&held);
}

static void test_retention_deletes_closed(void **state)
{
    struct fx *f = *state;
    fill(f);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_segment_files_closed > 0);
    /* retention.bytes = 0: every sealed segment of partition 2 goes, most
     * of them with their files closed */
    ed_log *log = lt_find_log(f->st, "t", 2);
    struct ed_log_config lc = f->lc;
    lc.retention_len = 0;
    ed_log_set_config(log, &lc);
    ed_storage_tick(f->st, ed_plat_clock_wall_ms() + 400000);
    char part[1024];
    lt_part_path(part, sizeof part, f->dir, "t", 2, "");
    assert_int_equal(lt_count_suffix(part, ".log"), 1);
    /* only the active segment, with the last batch, is left */
    assert_int_equal(ed_log_start_offset(log), ed_log_end_offset(log) - N_RECS);
    assert_int_equal(lt_count_open_files(part, ".log"), 1);
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_open_segments <= BOUND);
    for (int p = 0; p < N_PARTS; p++)
        read_back(f, p, p == 2 ? ed_log_start_offset(log) : 0);
}

static void test_reopen_within_bound(void **state)
{
    struct fx *f = *state;
    fill(f);
    ed_storage_close(f->st);
    f->st = NULL;
    assert_int_equal(lt_count_open_files(f->dir, ""), 0);
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    assert_true(open_logs(f) <= BOUND);
    for (int p = 0; p < N_PARTS; p++)
        read_back(f, p, 0);
    /* and new data still goes in after the reopen */
    ed_log *log = lt_find_log(f->st, "t", 5);
    uint8_t buf[2048];
    struct ed_append_result r;
    size_t len = lt_batch(buf, sizeof buf, N_RECS, 100, 5, 1, (uint8_t)(5 * 16 + N_BATCHES));
    assert_int_equal(ed_log_append(log, buf, len, &r), ED_OK);
    settle(f);
    read_back(f, 5, (int64_t)N_BATCHES * N_RECS);
    assert_true(open_logs(f) <= BOUND);
}

/* A closed segment whose file is gone: the read fails with an error and a
 * log line, the broker goes on, and the other segments still read. */
static void test_reopen_failure_is_an_error(void **state)
{
    struct fx *f = *state;
    fill(f);
    char p[1024], name[64];
    lt_seg_name(name, sizeof name, 0, ".log");
    lt_part_path(p, sizeof p, f->dir, "t", 1, name);
    assert_int_equal(lt_count_open_files(p, ""), 0); /* closed by the cache */
    assert_int_equal(unlink(p), 0);
    ed_log *log = lt_find_log(f->st, "t", 1);
    struct ed_log_slice s;
    assert_int_not_equal(ed_log_read(log, 0, 1, &s), ED_OK);
    struct ed_storage_stats st;
    ed_storage_stats_get(f->st, &st);
    assert_int_equal(st.n_segment_reopen_failed, 1);
    read_back(f, 1, N_RECS);
    assert_true(lt_count_open_files(f->dir, ".index") <= BOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bound_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slice_held_across_evictions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_deletes_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_within_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_failure_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
