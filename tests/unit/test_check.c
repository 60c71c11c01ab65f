/* The offline checker (eddy check) on real files: a clean data directory,
 * a torn tail (found, then cut with truncate), a garbled index entry, a
 * missing index file, a single segment file as the argument, batches whose
 * CRC holds but whose records do not parse. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log_testutil.h"
#include "platform/mem.h"
#include "storage/check.h"
#include "storage/format.h"
#include "storage/log.h"

static int n_problem_lines;
static char last_problem[1024];

static void on_line(void *arg, bool problem, const char *line)
{
    (void)arg;
    if (problem) {
        n_problem_lines++;
        snprintf(last_problem, sizeof last_problem, "%s", line);
    }
}

static char *make_dir(int batches)
{
    char *dir = lt_tmpdir();
    struct ed_storage_config c;
    lt_config(&c, dir, false);
    c.log.retention_ms = -1;
    ed_storage *st;
    ed_log *log;
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    struct ed_log_config lc = c.log;
    lc.segment_len = 1000;
    lc.index_interval_len = 100;
    assert_int_equal(ed_storage_create_log(st, "t", 0, &lc, &log), ED_OK);
    int64_t now = ed_plat_clock_wall_ms();
    for (int i = 0; i < batches; i++) {
        uint8_t buf[4096];
        size_t len = lt_batch(buf, sizeof buf, 3, 50, now + i, 1, (uint8_t)i);
        struct ed_append_result r;
        assert_int_equal(ed_log_append(log, buf, len, &r), ED_OK);
    }
    lt_wait_durable_all(st, log);
    ed_storage_close(st);
    return dir;
}

static struct ed_check_report check(const char *path, bool truncate)
{
    struct ed_check_report r;
    n_problem_lines = 0;
    assert_int_equal(ed_check_path(path, truncate, on_line, NULL, &r), ED_OK);
    return r;
}

static void test_clean(void **state)
{
    (void)state;
    char *dir = make_dir(30);
    struct ed_check_report r = check(dir, false);
    assert_int_equal(r.n_partitions, 1);
    assert_true(r.n_segments >= 5);
    assert_int_equal(r.n_batches, 30);
    assert_int_equal(r.n_records, 90);
    assert_int_equal(r.n_problems, 0);
    assert_int_equal(r.n_warnings, 0);
    assert_int_equal(n_problem_lines, 0);
    /* The partition folder and a single segment file work too. */
    char p[1024], name[64];
    snprintf(p, sizeof p, "%s/t-0", dir);
    r = check(p, false);
    assert_int_equal(r.n_batches, 30);
    lt_seg_name(name, sizeof name, 0, ".log");
    lt_part_path(p, sizeof p, dir, "t", 0, name);
    r = check(p, false);
    assert_int_equal(r.n_segments, 1);
    assert_int_equal(r.n_problems, 0);
    lt_rmtree(dir);
    free(dir);
}

static void test_torn_and_truncate(void **state)
{
    (void)state;
    char *dir = make_dir(12);
    char folder[1024];
    snprintf(folder, sizeof folder, "%s/t-0", dir);
    /* The newest segment: append half a batch copied from its own start. */
    char p[1024];
    int64_t best = -1;
    for (int64_t base = 0; base < 36; base++) {
        char name[64];
        lt_seg_name(name, sizeof name, base, ".log");
        lt_part_path(p, sizeof p, dir, "t", 0, name);
        if (lt_exists(p)) best = base;
    }
    char name[64];
    lt_seg_name(name, sizeof name, best, ".log");
    lt_part_path(p, sizeof p, dir, "t", 0, name);
    long long size = lt_file_size(p);
    int fd = open(p, O_RDWR);
    uint8_t half[90];
    assert_int_equal(pread(fd, half, sizeof half, 0), (ssize_t)sizeof half);
    assert_int_equal(pwrite(fd, half, sizeof half, size), (ssize_t)sizeof half);
    close(fd);
    struct ed_check_report r = check(dir, false);
    assert_int_equal(r.n_problems, 1);
    assert_non_null(strstr(last_problem, name));
    assert_non_null(strstr(last_problem, "runs past the end"));
    assert_int_equal(lt_file_size(p), size + 90); /* read-only without truncate */
    r = check(folder, true);
    assert_int_equal(r.n_problems, 0);
    assert_int_equal(r.n_truncated, 1);
    assert_int_equal(r.len_truncated, 90);
    assert_int_equal(lt_file_size(p), size);
    r = check(dir, false);
    assert_int_equal(r.n_problems, 0);
    lt_rmtree(dir);
    free(dir);
}

static void test_bad_indexes(void **state)
{
    (void)state;
    char *dir = make_dir(20);
    char p[1024], name[64];
    lt_seg_name(name, sizeof name, 0, ".index");
    lt_part_path(p, sizeof p, dir, "t", 0, name);
    assert_true(lt_file_size(p) >= 16);
    /* Entry 1 points one byte off its batch. */
    int fd = open(p, O_RDWR);
    uint8_t e[4];
    assert_int_equal(pread(fd, e, 4, 12), 4);
    e[3]++;
    assert_int_equal(pwrite(fd, e, 4, 12), 4);
    close(fd);
    struct ed_check_report r = check(dir, false);
    assert_int_equal(r.n_problems, 1);
    assert_non_null(strstr(last_problem, ".index: entry 1"));
    /* A sealed segment without its time index: a warning (rebuilt at open). */
    lt_seg_name(name, sizeof name, 0, ".timeindex");
    lt_part_path(p, sizeof p, dir, "t", 0, name);
    assert_int_equal(unlink(p), 0);
    r = check(dir, false);
    assert_int_equal(r.n_warnings, 1);
    lt_rmtree(dir);
    free(dir);
}

static void test_no_leaks(void **state)
{
    (void)state;
    struct ed_mem_stats m;
    ed_mem_stats_get(&m);
    assert_int_equal(m.cur_len, 0);
}

/* Batches stored before Produce walked records (the storage's own append
 * checks only header and CRC): each is reported with its partition,
 * offsets and what is wrong; the good ones around them are not. */
static void test_poisoned_batches(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    struct ed_storage_config c;
    lt_config(&c, dir, false);
    c.log.retention_ms = -1;
    ed_storage *st;
    ed_log *log;
    assert_int_equal(ed_storage_open(&c, &st), ED_OK);
    assert_int_equal(ed_storage_create_log(st, "poison", 2, &c.log, &log), ED_OK);
    int64_t now = ed_plat_clock_wall_ms();
    for (int i = 0; i < 6; i++) {
        uint8_t buf[4096];
        size_t len = lt_batch(buf, sizeof buf, 3, 50, now + i, 1, (uint8_t)i);
        uint8_t *rec = buf + ED_BATCH_HEADER_LEN;
        if (i == 2) rec[0] = (uint8_t)(rec[0] + 2);                /* record 0's length lies */
        if (i == 4) ed_put_be16(buf + ED_BATCH_OFF_ATTRIBUTES, 1); /* gzip flag, plain data */
        ed_put_be32(buf + ED_BATCH_OFF_CRC,
                    ed_crc32c(0, buf + ED_BATCH_OFF_ATTRIBUTES, len - ED_BATCH_OFF_ATTRIBUTES));
        struct ed_append_result r;
        assert_int_equal(ed_log_append(log, buf, len, &r), ED_OK);
    }
    lt_wait_durable_all(st, log);
    ed_storage_close(st);

    struct ed_check_report r = check(dir, false);
    assert_int_equal(r.n_batches, 6);
    assert_int_equal(r.n_problems, 2);
    assert_int_equal(n_problem_lines, 2);
    assert_non_null(strstr(last_problem, "poison-2/"));
    assert_non_null(strstr(last_problem, "offsets 12..14"));
    assert_non_null(strstr(last_problem, "decompress"));
    r = check(dir, true); /* not a torn tail: nothing is cut */
    assert_int_equal(r.n_problems, 2);
    assert_int_equal(r.n_truncated, 0);
    lt_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_torn_and_truncate),
        cmocka_unit_test(test_bad_indexes),
        cmocka_unit_test(test_no_leaks),
        cmocka_unit_test(test_poisoned_batches),
    };
    return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
