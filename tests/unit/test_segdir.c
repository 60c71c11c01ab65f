/* The partition-folder listing (storage/segdir): segment files parsed and
 * sorted by base offset and kind, odd and stray names kept apart,
 * subfolders sorted, gaps between base offsets kept as they are, many
 * segments, an empty folder, a missing one, and the name parser's edges. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_testutil.h"
#include "platform/mem.h"
#include "storage/segdir.h"

static void touch(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    assert_true(fd >= 0);
    close(fd);
}

static void mkdir_in(const char *dir, const char *name)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void touch_seg(const char *dir, int64_t base, const char *suffix)
{
    char name[64];
    lt_seg_name(name, sizeof name, base, suffix);
    touch(dir, name);
}

static void test_sorted_by_base_and_kind(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    /* created out of order, with a gap between the base offsets */
    touch_seg(dir, 5000, ".timeindex");
    touch_seg(dir, 5000, ".log");
    touch_seg(dir, 0, ".index");
    touch_seg(dir, 100, ".log");
    touch_seg(dir, 0, ".log");
    touch_seg(dir, 5000, ".index");
    touch_seg(dir, 0, ".timeindex");
    struct ed_segdir l;
    assert_int_equal(ed_segdir_list(dir, &l), ED_OK);
    assert_int_equal(l.n_files, 7);
    assert_int_equal(l.n_segment_files, 7);
    static const struct {
        int64_t base;
        enum ed_segdir_kind kind;
    } want[] = {{0, ED_SEGDIR_LOG},         {0, ED_SEGDIR_INDEX},  {0, ED_SEGDIR_TIMEINDEX},
                {100, ED_SEGDIR_LOG},       {5000, ED_SEGDIR_LOG}, {5000, ED_SEGDIR_INDEX},
                {5000, ED_SEGDIR_TIMEINDEX}};
    for (uint32_t i = 0; i < 7; i++) {
        assert_int_equal(l.files[i].base, want[i].base);
        assert_int_equal(l.files[i].kind, want[i].kind);
    }
    assert_string_equal(l.files[4].name, "00000000000000005000.log");
    assert_int_equal(l.n_bases, 3);
    assert_int_equal(l.bases[0], 0);
    assert_int_equal(l.bases[1], 100);
    assert_int_equal(l.bases[2], 5000);
    assert_true(ed_segdir_has_log(&l, 100));
    assert_false(ed_segdir_has_log(&l, 99));
    assert_int_equal(l.n_dirs, 0);
    ed_segdir_free(&l);
    lt_close_and_remove(NULL, dir);
}

static void test_odd_and_stray_names(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    touch_seg(dir, 7, ".log");
    static const char *const odd[] = {
        "0000000000000000007.log",   /* 19 digits */
        "000000000000000000007.log", /* 21 digits */
        "0000000000000000000a.log",  /* not a digit */
        "00000000000000000007.LOG",  /* case */
        "00000000000000000007.log.tmp",
        "00000000000000000007.index.tmp",
        "99999999999999999999.log", /* above INT64_MAX */
        "00000000000000000007.00000000000000000009.swap",
        "leftover",
        ".log",
    };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++)
        touch(dir, odd[i]);
    mkdir_in(dir, "zz");
    mkdir_in(dir, "00000000000000000008.log"); /* a folder is never a segment */
    mkdir_in(dir, "aa");
    struct ed_segdir l;
    assert_int_equal(ed_segdir_list(dir, &l), ED_OK);
    assert_int_equal(l.n_bases, 1);
    assert_int_equal(l.bases[0], 7);
    assert_int_equal(l.n_segment_files, 1);
    assert_int_equal(l.n_files, 1 + sizeof odd / sizeof *odd);
    for (uint32_t i = l.n_segment_files; i < l.n_files; i++) {
        assert_int_equal(l.files[i].kind, ED_SEGDIR_OTHER);
        assert_int_equal(l.files[i].base, -1);
        if (i > l.n_segment_files) assert_true(strcmp(l.files[i - 1].name, l.files[i].name) < 0);
    }
    assert_int_equal(l.n_dirs, 3);
    assert_string_equal(l.dirs[0], "00000000000000000008.log");
    assert_string_equal(l.dirs[1], "aa");
    assert_string_equal(l.dirs[2], "zz");
    ed_segdir_free(&l);
    lt_close_and_remove(NULL, dir);
}

static void test_many_segments(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    enum { N = 300 };
    /* bases in a scrambled order, far apart and close together */
    for (int i = 0; i < N; i++) {
        int64_t k = (int64_t)((i * 7919) % N);
        touch_seg(dir, k * k * 1000 + k, ".log");
        if (k % 3 == 0) touch_seg(dir, k * k * 1000 + k, ".index");
        if (k % 5 == 0) {
            char name[16];
            snprintf(name, sizeof name, "d%03d", (int)k);
            mkdir_in(dir, name);
        }
    }
    struct ed_segdir l;
    assert_int_equal(ed_segdir_list(dir, &l), ED_OK);
    assert_int_equal(l.n_bases, N);
    assert_int_equal(l.n_segment_files, N + N / 3);
    for (int64_t k = 0; k < N; k++)
        assert_int_equal(l.bases[k], k * k * 1000 + k);
    assert_int_equal(l.n_dirs, N / 5);
    for (uint32_t i = 1; i < l.n_dirs; i++)
        assert_true(strcmp(l.dirs[i - 1], l.dirs[i]) < 0);
    for (uint32_t i = 1; i < l.n_segment_files; i++)
        assert_true(
            l.files[i - 1].base < l.files[i].base ||
            (l.files[i - 1].base == l.files[i].base && l.files[i - 1].kind < l.files[i].kind));
    ed_segdir_free(&l);
    lt_close_and_remove(NULL, dir);
}

static void test_empty_and_missing(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    struct ed_segdir l;
    assert_int_equal(ed_segdir_list(dir, &l), ED_OK);
    assert_int_equal(l.n_files, 0);
    assert_int_equal(l.n_bases, 0);
    assert_int_equal(l.n_dirs, 0);
    assert_false(ed_segdir_has_log(&l, 0));
    ed_segdir_free(&l);
    char missing[4096];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    assert_int_equal(ed_segdir_list(missing, &l), ED_ERR_NOENT);
    assert_int_equal(l.n_files, 0);
    assert_null(l.files);
    ed_segdir_free(&l);
    lt_close_and_remove(NULL, dir);
}

static void test_out_of_memory_leaves_nothing(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    for (int i = 0; i < 40; i++)
        touch_seg(dir, i, ".log");
    mkdir_in(dir, "sub");
    /* every allocation in turn fails: a clean error, nothing held */
    for (uint64_t n = 1;; n++) {
        struct ed_mem_stats before;
        ed_mem_stats_get(&before);
        ed_mem_fail_nth(n);
        struct ed_segdir l;
        int rc = ed_segdir_list(dir, &l);
        ed_mem_fail_nth(0);
        if (rc == ED_OK) {
            assert_int_equal(l.n_bases, 40);
            ed_segdir_free(&l);
            break;
        }
        assert_int_equal(rc, ED_ERR_NOMEM);
        assert_null(l.files);
        struct ed_mem_stats after;
        ed_mem_stats_get(&after);
        assert_int_equal(after.cur_len, before.cur_len);
    }
    lt_close_and_remove(NULL, dir);
}

static void test_names(void **state)
{
    (void)state;
    int64_t b = 0;
    assert_true(ed_segdir_parse_name("09223372036854775807.log", ".log", &b));
    assert_int_equal(b, INT64_MAX);
    assert_false(ed_segdir_parse_name("09223372036854775808.log", ".log", &b));
    assert_true(ed_segdir_parse_name("00000000000000000042", "", &b));
    assert_int_equal(b, 42);
    assert_false(ed_segdir_parse_name("00000000000000000042.log", ".index", &b));
    assert_int_equal(ed_segdir_kind_of("00000000000000000042.timeindex", &b), ED_SEGDIR_TIMEINDEX);
    assert_int_equal(b, 42);
    assert_int_equal(ed_segdir_kind_of("00000000000000000042.cleaned", &b), ED_SEGDIR_OTHER);
    assert_int_equal(b, -1);
    char p[40];
    assert_int_equal(ed_segdir_path(p, sizeof p, "d", 42, ".log"), ED_OK);
    assert_string_equal(p, "d/00000000000000000042.log");
    assert_int_equal(ed_segdir_path(p, 10, "d", 42, ".log"), ED_ERR_INVAL);
    assert_string_equal(p, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sorted_by_base_and_kind),
        cmocka_unit_test(test_odd_and_stray_names),
        cmocka_unit_test(test_many_segments),
        cmocka_unit_test(test_empty_and_missing),
        cmocka_unit_test(test_out_of_memory_leaves_nothing),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
