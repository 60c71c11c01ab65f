/* Blocks written ahead of the active segment's appends (storage/write_ahead.c):
 * zeros past the logical end while the broker runs, never past it after a
 * roll or a clean stop; recovery after a crash (a child process that exits
 * without closing: the page cache keeps what it wrote) finds the end by
 * validating batches and keeps the zeros; a torn batch among the zeros is
 * cut before anything is appended after it; readers and `eddy check` never
 * take the zeros for data; the automatic choice follows the bytes per
 * flush. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log_testutil.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/check.h"
#include "storage/log.h"

#define AHEAD (1 << 20) /* ED_WRITE_AHEAD_LEN */

struct fx {
    char *dir;
    ed_storage *st;
    ed_log *log;
    struct ed_storage_config cfg;
    struct ed_log_config lc;
    uint64_t len; /* bytes appended */
    int n;        /* batches appended */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    lt_config(&f->cfg, f->dir, false);
    f->cfg.log.retention_ms = -1;
    f->cfg.write_ahead = ED_WRITE_AHEAD_ALWAYS;
    f->lc = f->cfg.log;
    f->lc.segment_len = 64 << 20;
    f->lc.index_interval_len = 100;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lt_release_logs();
    lt_close_and_remove(f->st, f->dir);
    free(f);
    return 0;
}

static void open_log(struct fx *f)
{
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    f->log = lt_find_log(f->st, "t", 0);
    if (!f->log) assert_int_equal(ed_storage_create_log(f->st, "t", 0, &f->lc, &f->log), ED_OK);
}

static void close_log(struct fx *f)
{
    ed_storage_close(f->st);
    f->st = NULL;
    f->log = NULL;
}

/* Appends n batches of 3 records with value_len-byte values. */
static void append_n(struct fx *f, int n, size_t value_len, bool each_durable)
{
    uint8_t buf[65536];
    for (int i = 0; i < n; i++) {
        size_t len = lt_batch(buf, sizeof buf, 3, value_len, 1000 + f->n, 1, (uint8_t)f->n);
        assert_true(len > 0);
        assert_int_equal(ed_log_append(f->log, buf, len, NULL), ED_OK);
        f->len += len;
        f->n++;
        if (each_durable) lt_wait_durable_all(f->st, f->log);
    }
    lt_wait_durable_all(f->st, f->log);
}

static void seg_path(struct fx *f, int64_t base, const char *suffix, char *out, size_t cap)
{
    char name[64];
    lt_seg_name(name, sizeof name, base, suffix);
    lt_part_path(out, cap, f->dir, "t", 0, name);
}

static bool zeros_in(const char *path, long long from, long long to)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    bool zero = true;
    uint8_t buf[4096];
    for (long long p = from; zero && p < to;) {
        size_t want = (size_t)(to - p < (long long)sizeof buf ? to - p : (long long)sizeof buf);
        ssize_t got = pread(fd, buf, want, p);
        assert_true(got > 0);
        for (ssize_t i = 0; i < got; i++)
            zero = zero && buf[i] == 0;
        p += got;
    }
    close(fd);
    return zero;
}

/* Reads the whole log, checking every batch; returns the batch count and
 * the bytes read. */
static int read_back(struct fx *f, uint64_t *len)
{
    int n = lt_read_back(f->log, len);
    assert_true(n >= 0);
    /* At the end: an empty slice, never the zeros after it. */
    struct ed_log_slice s;
    assert_int_equal(ed_log_read(f->log, ed_log_end_offset(f->log), 1 << 20, &s), ED_OK);
    assert_int_equal(s.len, 0);
    ed_log_slice_release(&s);
    return n;
}

/* The segment file is file_len bytes and the log serves exactly its
 * n_batches appended batches. */
static void expect_log(struct fx *f, const char *seg, long long file_len, int n_batches)
{
    assert_int_equal(lt_file_size(seg), file_len);
    uint64_t len;
    assert_int_equal(read_back(f, &len), n_batches);
    assert_int_equal(len, f->len);
}

/* A crash: a child process appends n batches, waits until they are durable
 * and exits without closing anything. */
static void crash_after(struct fx *f, int n, size_t value_len)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ed_storage *st;
        ed_log *log;
        if (ed_storage_open(&f->cfg, &st) != ED_OK) _exit(2);
        log = lt_find_log(st, "t", 0);
        if (!log && ed_storage_create_log(st, "t", 0, &f->lc, &log) != ED_OK) _exit(3);
        uint8_t buf[65536];
        for (int i = 0; i < n; i++) {
            size_t len = lt_batch(buf, sizeof buf, 3, value_len, 1000 + f->n + i, 1, (uint8_t)i);
            if (ed_log_append(log, buf, len, NULL) != ED_OK) _exit(4);
        }
        lt_wait_durable_all(st, log);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    uint8_t buf[65536];
    for (int i = 0; i < n; i++) {
        size_t len = lt_batch(buf, sizeof buf, 3, value_len, 1000 + f->n, 1, (uint8_t)i);
        f->len += len;
        f->n++;
    }
}

static void expect_no_truncation(struct fx *f)
{
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_truncated_recovery, 0);
    assert_int_equal(s.len_truncated_recovery, 0);
    assert_false(lt_log_contains("truncating"));
}

static void test_appends_land_in_zeros(void **state)
{
    struct fx *f = *state;
    open_log(f);
    append_n(f, 10, 50, true);
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    /* The file holds written zeros up to the next MiB; the log is its
     * batches only. */
    assert_true(zeros_in(p, (long long)f->len, AHEAD));
    assert_int_equal(ed_log_size(f->log), f->len);
    expect_log(f, p, AHEAD, 10);
    /* More appends overwrite the zeros: the file does not grow. */
    append_n(f, 10, 50, true);
    expect_log(f, p, AHEAD, 20);
}

static void test_clean_stop_trims(void **state)
{
    struct fx *f = *state;
    open_log(f);
    append_n(f, 8, 60, false);
    close_log(f);
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    assert_int_equal(lt_file_size(p), (long long)f->len);
    /* Reopened from the clean-shutdown marker, nothing read; the next
     * append writes ahead again. */
    lt_capture_logs();
    open_log(f);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_clean_opens, 1);
    assert_int_equal(s.len_scanned_recovery, 0);
    append_n(f, 1, 60, false);
    expect_log(f, p, AHEAD, 9);
}

/* Walks the whole batches at the start of a file; returns their bytes and
 * the file's size in *file_len. */
static uint64_t valid_prefix(const char *path, long long *file_len)
{
    *file_len = lt_file_size(path);
    assert_true(*file_len >= 0);
    uint8_t *buf = malloc((size_t)*file_len + 1);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, (size_t)*file_len, 0), (ssize_t)*file_len);
    close(fd);
    uint64_t pos = 0;
    struct ed_batch_info b;
    while (pos < (uint64_t)*file_len &&
           ed_batch_check(buf + pos, (size_t)((uint64_t)*file_len - pos), &b) == ED_OK)
        pos += ed_batch_total_len(&b);
    free(buf);
    return pos;
}

struct seg_list {
    int64_t bases[64];
    int n;
};

static int list_cb(void *arg, const char *name, bool is_dir)
{
    struct seg_list *l = arg;
    size_t n = strlen(name);
    if (!is_dir && n == 24 && strcmp(name + 20, ".log") == 0 && l->n < 64)
        l->bases[l->n++] = strtoll(name, NULL, 10);
    return 0;
}

static int cmp_base(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void list_segments(struct fx *f, struct seg_list *l)
{
    char p[1024];
    lt_part_path(p, sizeof p, f->dir, "t", 0, "");
    memset(l, 0, sizeof *l);
    assert_int_equal(ed_plat_dir_list(p, list_cb, l), ED_OK);
    qsort(l->bases, (size_t)l->n, sizeof l->bases[0], cmp_base);
}

static void test_roll_trims_sealed(void **state)
{
    struct fx *f = *state;
    f->lc.segment_len = 3000;
    open_log(f);
    append_n(f, 30, 100, false); /* several rolls */
    struct seg_list l;
    list_segments(f, &l);
    assert_true(l.n > 2);
    /* Every sealed segment is exactly its batches (Kafka's tools read
     * them) and has its index files; the active one holds zeros after its
     * batches, up to the segment size. */
    uint64_t total = 0;
    for (int i = 0; i < l.n; i++) {
        char p[1024];
        long long size;
        seg_path(f, l.bases[i], ".log", p, sizeof p);
        uint64_t valid = valid_prefix(p, &size);
        total += valid;
        if (i + 1 < l.n) {
            assert_int_equal(size, (long long)valid);
            seg_path(f, l.bases[i], ".index", p, sizeof p);
            assert_true(lt_exists(p));
        } else {
            assert_int_equal(size, 3000);
            assert_true(zeros_in(p, (long long)valid, size));
        }
    }
    assert_int_equal(total, f->len);
    uint64_t len;
    assert_int_equal(read_back(f, &len), 30);
    assert_int_equal(len, f->len);
}

static void on_line(void *arg, bool problem, const char *line)
{
    (void)arg;
    if (problem) fprintf(stderr, "check: %s\n", line);
}

/* Reopening after a crash: the end is found by validating batches and the
 * zeros after it stay (not damage: nothing counted, nothing logged), then
 * take the next appends. */
static void test_crash_keeps_zeros(void **state)
{
    struct fx *f = *state;
    crash_after(f, 12, 70);
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    assert_int_equal(lt_file_size(p), AHEAD);
    lt_capture_logs();
    open_log(f);
    expect_no_truncation(f);
    assert_int_equal(ed_log_end_offset(f->log), 36);
    expect_log(f, p, AHEAD, 12);
    append_n(f, 3, 70, true);
    expect_log(f, p, AHEAD, 15);
    /* `eddy check` on the folder: the zeros are not a problem. */
    close_log(f);
    struct ed_check_report rep;
    memset(&rep, 0, sizeof rep);
    assert_int_equal(ed_check_path(f->dir, false, on_line, NULL, &rep), ED_OK);
    assert_int_equal(rep.n_problems, 0);
    assert_int_equal(rep.len, f->len);
}

/* A batch torn by a crash among the zeros is cut before anything is
 * appended; a shorter batch appended there and another crash leave no
 * byte of the torn one for a later recovery to meet. */
static void test_torn_batch_in_zeros(void **state)
{
    struct fx *f = *state;
    crash_after(f, 5, 70);
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    /* The first half of a long batch reached the disk, the rest did not. */
    uint8_t torn[8192];
    size_t tlen = lt_batch(torn, sizeof torn, 20, 300, 5000, 1, 0x5a);
    struct ed_batch_info b;
    assert_int_equal(ed_batch_check(torn, tlen, &b), ED_OK);
    ed_batch_stamp(torn, 15, 0, -1);
    int fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, torn, tlen / 2, (off_t)f->len), (ssize_t)(tlen / 2));
    close(fd);
    /* Recovery, a shorter batch where the torn one began, a crash. */
    uint64_t before = f->len;
    crash_after(f, 1, 10);
    assert_true(f->len - before < tlen / 2);
    assert_true(zeros_in(p, (long long)f->len, AHEAD));
    lt_capture_logs();
    open_log(f);
    expect_no_truncation(f);
    assert_int_equal(ed_log_end_offset(f->log), 18);
    expect_log(f, p, AHEAD, 6);
}

/* Automatic: a log whose flushes carry little writes ahead once it has
 * seen enough of them; one whose flushes carry much never does. */
static void test_auto_small_flushes(void **state)
{
    struct fx *f = *state;
    f->cfg.write_ahead = ED_WRITE_AHEAD_AUTO;
    open_log(f);
    append_n(f, 15, 40, true);
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    assert_int_equal(lt_file_size(p), (long long)f->len); /* not yet decided */
    append_n(f, 3, 40, true);
    /* zeros ahead in a step sized by the flushes: 64 of about 200 bytes */
    assert_int_equal(lt_file_size(p), 16 << 10);
    assert_true(zeros_in(p, (long long)f->len, 16 << 10));
}

static void test_auto_large_flushes(void **state)
{
    struct fx *f = *state;
    f->cfg.write_ahead = ED_WRITE_AHEAD_AUTO;
    open_log(f);
    append_n(f, 20, 6000, true); /* about 18 KiB a flush */
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    assert_int_equal(lt_file_size(p), (long long)f->len);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_appends_land_in_zeros, setup, teardown),
    cmocka_unit_test_setup_teardown(test_clean_stop_trims, setup, teardown),
    cmocka_unit_test_setup_teardown(test_roll_trims_sealed, setup, teardown),
    cmocka_unit_test_setup_teardown(test_crash_keeps_zeros, setup, teardown),
    cmocka_unit_test_setup_teardown(test_torn_batch_in_zeros, setup, teardown),
    cmocka_unit_test_setup_teardown(test_auto_small_flushes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_auto_large_flushes, setup, teardown),
};

int main(void)
{
    return cmocka_run_group_tests(tests, NULL, NULL);
}
