/* Recovery on real segment files damaged the ways a crash or a bad disk
 * damages them: a torn tail, a flipped bit, zeros or garbage after the
 * data, an impossible length, offsets going backwards, a sealed segment
 * whose index was never written, corrupt or stale index files, leftovers.
 * Recovery must cut at the first bad batch, say where and how much, serve
 * only valid batches and continue offsets after the last one kept. */
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
#include "storage/batch.h"
#include "storage/log.h"

struct fx {
    char *dir;
    ed_storage *st;
    ed_log *log;
    struct ed_storage_config cfg;
    size_t pos[64]; /* byte position of batch i in its segment */
    size_t len[64];
    int64_t base[64];
    int n;
    bool keep_rp;    /* open_again keeps the recovery-point file */
    bool keep_clean; /* open_again keeps the clean-shutdown marker */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    lt_config(&f->cfg, f->dir, false);
    f->cfg.log.retention_ms = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->st) ed_storage_close(f->st);
    lt_release_logs();
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* A log with n batches of 3 records; segment_len decides the rolls. */
static void fill(struct fx *f, int n, uint64_t segment_len)
{
    struct ed_log_config lc = f->cfg.log;
    lc.segment_len = segment_len;
    lc.index_interval_len = 100;
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    assert_int_equal(ed_storage_create_log(f->st, "t", 0, &lc, &f->log), ED_OK);
    uint8_t buf[4096];
    size_t at = 0;
    int64_t now = ed_plat_clock_wall_ms();
    for (int i = 0; i < n; i++) {
        size_t len = lt_batch(buf, sizeof buf, 3, 40 + (size_t)i, now + i, 1, (uint8_t)i);
        struct ed_append_result r;
        assert_int_equal(ed_log_append(f->log, buf, len, &r), ED_OK);
        if (at + len > segment_len && at > 0) at = 0; /* the log rolled */
        f->pos[i] = at;
        f->len[i] = len;
        f->base[i] = r.base_offset;
        at += len;
    }
    f->n = n;
    lt_wait_durable_all(f->st, f->log);
    ed_storage_close(f->st);
    f->st = NULL;
    f->log = NULL;
}

static void rp_path(struct fx *f, char *out, size_t cap)
{
    snprintf(out, cap, "%s/recovery-point-offset-checkpoint", f->dir);
}

static void clean_path(struct fx *f, char *out, size_t cap)
{
    snprintf(out, cap, "%s/eddy-clean-shutdown", f->dir);
}

/* The damage tests model damage to bytes that the last recovery point did
 * not cover (a crash before it was written): they remove the file, and the
 * clean-shutdown marker, which only a clean stop leaves. */
static void open_again(struct fx *f)
{
    char p[1024];
    rp_path(f, p, sizeof p);
    if (!f->keep_rp) unlink(p);
    clean_path(f, p, sizeof p);
    if (!f->keep_clean) unlink(p);
    lt_capture_logs();
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    f->log = lt_find_log(f->st, "t", 0);
    assert_non_null(f->log);
}

static void seg_path(struct fx *f, int64_t base, const char *suffix, char *out, size_t cap)
{
    char name[64];
    lt_seg_name(name, sizeof name, base, suffix);
    lt_part_path(out, cap, f->dir, "t", 0, name);
}

static void cut_file(const char *path, long long len)
{
    assert_int_equal(truncate(path, len), 0);
}

static void poke(const char *path, long long off, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, off), (ssize_t)len);
    close(fd);
}

static void flip_bit(const char *path, long long off)
{
    int fd = open(path, O_RDWR);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

/* Reads the whole log and checks every batch; returns the batch count. */
static int read_back(struct fx *f)
{
    int n = lt_read_back(f->log, NULL);
    assert_true(n >= 0);
    return n;
}

static void expect_truncation(struct fx *f, uint64_t dropped, const char *why)
{
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_truncated_recovery, 1);
    assert_int_equal(s.len_truncated_recovery, dropped);
    char needle[64];
    snprintf(needle, sizeof needle, "truncating %llu bytes", (unsigned long long)dropped);
    assert_true(lt_log_contains(needle));
    assert_true(lt_log_contains(why));
}

static void test_torn_tail(void **state)
{
    struct fx *f = *state;
    fill(f, 10, 1 << 20);
    char p[1024], needle[256];
    seg_path(f, 0, ".log", p, sizeof p);
    long long size = lt_file_size(p);
    cut_file(p, size - 10);
    open_again(f);
    expect_truncation(f, f->len[9] - 10, "runs past the end of the file");
    snprintf(needle, sizeof needle,
             "00000000000000000000.log: the batch runs past the end of the "
             "file at position %zu",
             f->pos[9]);
    assert_true(lt_log_contains(needle));
    assert_true(ed_log_end_offset(f->log) == f->base[9]);
    assert_int_equal(lt_file_size(p), (long long)f->pos[9]);
    assert_int_equal(read_back(f), 9);
    /* Offsets continue right after the last batch kept. */
    uint8_t buf[4096];
    size_t len = lt_batch(buf, sizeof buf, 2, 10, 5, 1, 0);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(f->log, buf, len, &r), ED_OK);
    assert_true(r.base_offset == f->base[9]);
    assert_int_equal(read_back(f), 10);
}

static void test_bit_flip(void **state)
{
    struct fx *f = *state;
    fill(f, 12, 1 << 20);
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    long long size = lt_file_size(p);
    flip_bit(p, (long long)(f->pos[6] + f->len[6] - 5)); /* inside a value */
    open_again(f);
    expect_truncation(f, (uint64_t)size - f->pos[6], "CRC32C mismatch");
    assert_true(ed_log_end_offset(f->log) == f->base[6]);
    assert_int_equal(read_back(f), 6);
}

static void test_header_damage(void **state)
{
    struct fx *f = *state;
    fill(f, 8, 1 << 20);
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    long long size = lt_file_size(p);
    /* An impossible length in batch 5, offsets going backwards in batch 3:
     * the first damage wins. */
    uint8_t big[4] = {0x7f, 0xff, 0xff, 0xff};
    poke(p, (long long)f->pos[5] + 8, big, 4);
    uint8_t zero[8] = {0};
    poke(p, (long long)f->pos[3], zero, 8);
    open_again(f);
    expect_truncation(f, (uint64_t)size - f->pos[3], "offsets do not follow on");
    assert_true(ed_log_end_offset(f->log) == f->base[3]);
    assert_int_equal(read_back(f), 3);
}

static void test_garbage_after_data(void **state)
{
    struct fx *f = *state;
    fill(f, 5, 1 << 20);
    char p[1024];
    seg_path(f, 0, ".log", p, sizeof p);
    long long size = lt_file_size(p);
    /* What a file system may show after a crash: the size grew, the data
     * did not arrive (zeros), or stale blocks appear. */
    uint8_t junk[3000];
    memset(junk, 0, sizeof junk);
    memset(junk + 1000, 0xa5, 2000);
    poke(p, size, junk, sizeof junk);
    open_again(f);
    expect_truncation(f, sizeof junk, "invalid batch header");
    assert_true(ed_log_end_offset(f->log) == 15);
    assert_int_equal(read_back(f), 5);
}

static void test_empty_active_keeps_offsets(void **state)
{
    struct fx *f = *state;
    fill(f, 20, 700); /* several segments */
    int first_in_active = f->n - 1;
    while (first_in_active > 0 && f->pos[first_in_active] != 0)
        first_in_active--;
    int64_t active_base = f->base[first_in_active];
    char p[1024];
    seg_path(f, active_base, ".log", p, sizeof p);
    assert_true(lt_exists(p));
    flip_bit(p, 30); /* inside the CRC'd part of the first batch */
    open_again(f);
    /* Everything in the active segment is gone; the next offset is its base,
     * above every offset still in the log. */
    assert_true(ed_log_end_offset(f->log) == active_base);
    assert_int_equal(read_back(f), first_in_active);
    uint8_t buf[4096];
    size_t len = lt_batch(buf, sizeof buf, 1, 10, 5, 1, 0);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(f->log, buf, len, &r), ED_OK);
    assert_true(r.base_offset == active_base);
}

static void test_sealed_without_index(void **state)
{
    struct fx *f = *state;
    fill(f, 20, 700);
    /* A crash after a roll, before the sealed segment's index was written:
     * no index files; its tail is torn too. */
    int k = 1;
    while (f->pos[k] != 0)
        k++;                     /* first batch of the second segment */
    int64_t second = f->base[k]; /* its base */
    int j = k + 1;
    while (f->pos[j] != 0)
        j++; /* first batch of the third segment */
    char p[1024];
    seg_path(f, second, ".index", p, sizeof p);
    assert_int_equal(unlink(p), 0);
    seg_path(f, second, ".timeindex", p, sizeof p);
    assert_int_equal(unlink(p), 0);
    seg_path(f, second, ".log", p, sizeof p);
    cut_file(p, (long long)f->pos[j - 1] + 70);
    open_again(f);
    expect_truncation(f, 70, "the batch runs past the end");
    assert_true(ed_log_end_offset(f->log) == f->base[f->n - 1] + 3);
    assert_int_equal(read_back(f), f->n - 1);
    /* The next flush writes its index files again. */
    lt_wait_durable_all(f->st, f->log);
    seg_path(f, second, ".index", p, sizeof p);
    assert_true(lt_exists(p));
    seg_path(f, second, ".timeindex", p, sizeof p);
    assert_true(lt_exists(p));
    ed_storage_close(f->st);
    f->st = NULL;
    open_again(f);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_truncated_recovery, 0);
    assert_int_equal(read_back(f), f->n - 1);
}

static void test_corrupt_index_files(void **state)
{
    struct fx *f = *state;
    fill(f, 30, 900);
    char p[1024];
    /* Garbage entries of the right size in segment 0's .index, a torn
     * .timeindex in the next sealed segment. */
    seg_path(f, 0, ".index", p, sizeof p);
    long long isize = lt_file_size(p);
    assert_true(isize >= 8);
    uint8_t junk[8] = {0xff, 0, 0, 1, 0x7f, 0, 0, 0};
    poke(p, 0, junk, sizeof junk);
    int k = 1;
    while (f->pos[k] != 0)
        k++;
    seg_path(f, f->base[k], ".timeindex", p, sizeof p);
    long long tsize = lt_file_size(p);
    assert_true(tsize >= 12);
    cut_file(p, tsize - 5);
    open_again(f);
    /* Reads are right whatever the index files say. */
    assert_int_equal(read_back(f), f->n);
    for (int i = 0; i < f->n; i++) {
        struct ed_log_slice s;
        assert_int_equal(ed_log_read(f->log, f->base[i] + 1, 1, &s), ED_OK);
        assert_true(s.first_offset == f->base[i]);
        ed_log_slice_release(&s);
    }
    assert_true(lt_log_contains("index files fail their check"));
    assert_true(lt_log_contains("are not whole entries"));
    /* Rewritten by the next flush: no complaint after a restart. */
    lt_wait_durable_all(f->st, f->log);
    ed_storage_close(f->st);
    f->st = NULL;
    open_again(f);
    assert_int_equal(read_back(f), f->n);
    assert_false(lt_log_contains("fail their check"));
    assert_false(lt_log_contains("not whole entries"));
}

static void test_leftovers_removed(void **state)
{
    struct fx *f = *state;
    fill(f, 4, 1 << 20);
    char p[1024];
    /* Index files for the active segment (stale), a temporary file of an
     * interrupted index write, indexes without a log, unrelated files. */
    seg_path(f, 0, ".index", p, sizeof p);
    poke(p, 0, "\0\0\0\0\0\0\0\0", 8);
    seg_path(f, 0, ".timeindex", p, sizeof p);
    poke(p, 0, "", 0);
    seg_path(f, 500, ".index.tmp", p, sizeof p);
    poke(p, 0, "x", 1);
    seg_path(f, 900, ".index", p, sizeof p);
    poke(p, 0, "", 0);
    lt_part_path(p, sizeof p, f->dir, "t", 0, "leader-epoch-checkpoint");
    poke(p, 0, "0\n0\n", 4);
    open_again(f);
    seg_path(f, 0, ".index", p, sizeof p);
    assert_false(lt_exists(p));
    seg_path(f, 0, ".timeindex", p, sizeof p);
    assert_false(lt_exists(p));
    seg_path(f, 500, ".index.tmp", p, sizeof p);
    assert_false(lt_exists(p));
    seg_path(f, 900, ".index", p, sizeof p);
    assert_false(lt_exists(p));
    lt_part_path(p, sizeof p, f->dir, "t", 0, "leader-epoch-checkpoint");
    assert_true(lt_exists(p));
    assert_int_equal(read_back(f), 4);
}

static void read_text(const char *path, char *out, size_t cap)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(out, 1, cap - 1, fp);
    out[n] = '\0';
    fclose(fp);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A clean close writes every log's end as its recovery point, in Kafka's
 * checkpoint format; the next open checks only the framing below it. */
static void test_recovery_point_written_and_trusted(void **state)
{
    struct fx *f = *state;
    fill(f, 12, 1 << 20);
    char p[1024], text[256], want[256];
    rp_path(f, p, sizeof p);
    read_text(p, text, sizeof text);
    snprintf(want, sizeof want, "0\n1\nt 0 %lld\n", (long long)(f->base[11] + 3));
    assert_string_equal(text, want);
    /* A flipped value bit below the point goes unnoticed: proof that the
     * CRC was not computed there. */
    char seg[1024];
    seg_path(f, 0, ".log", seg, sizeof seg);
    flip_bit(seg, (long long)(f->pos[6] + f->len[6] - 5));
    f->keep_rp = true;
    open_again(f);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_truncated_recovery, 0);
    assert_true(ed_log_end_offset(f->log) == f->base[11] + 3);
    assert_true(ed_log_durable_offset(f->log) == f->base[11] + 3);
    /* Framing is still checked: a cut below the point is found, and the
     * point is pulled back to the new end at once. */
    ed_storage_close(f->st);
    f->st = NULL;
    cut_file(seg, (long long)f->pos[9] + 20);
    open_again(f);
    expect_truncation(f, 20, "the file ends inside a batch header");
    assert_true(ed_log_end_offset(f->log) == f->base[9]);
    read_text(p, text, sizeof text);
    snprintf(want, sizeof want, "0\n1\nt 0 %lld\n", (long long)f->base[9]);
    assert_string_equal(text, want);
}

/* After a crash only what follows the recovery point is CRC-checked. */
static void test_recovery_point_tail_checked(void **state)
{
    struct fx *f = *state;
    fill(f, 12, 1 << 20);
    char p[1024], text[128], seg[1024];
    rp_path(f, p, sizeof p);
    snprintf(text, sizeof text, "0\n1\nt 0 %lld\n", (long long)f->base[6]);
    write_text(p, text);
    seg_path(f, 0, ".log", seg, sizeof seg);
    long long size = lt_file_size(seg);
    flip_bit(seg, (long long)(f->pos[3] + f->len[3] - 5)); /* below: not seen */
    flip_bit(seg, (long long)(f->pos[8] + f->len[8] - 5)); /* after: cut there */
    f->keep_rp = true;
    open_again(f);
    expect_truncation(f, (uint64_t)size - f->pos[8], "CRC32C mismatch");
    assert_true(ed_log_end_offset(f->log) == f->base[8]);
    assert_true(ed_log_durable_offset(f->log) == f->base[6]);
    /* A malformed file is reported and ignored: everything is checked. */
    ed_storage_close(f->st);
    f->st = NULL;
    write_text(p, "0\n1\nt zero 5\n");
    open_again(f);
    expect_truncation(f, (uint64_t)f->pos[8] - f->pos[3], "CRC32C mismatch");
    assert_true(lt_log_contains("recovery-point-offset-checkpoint: unreadable or malformed"));
}

/* What open found: active segments from the marker, bytes scanned. */
static void opened(struct fx *f, uint64_t *n_clean, uint64_t *scanned)
{
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    *n_clean = s.n_clean_opens;
    *scanned = s.len_scanned_recovery;
}

#define N_TS 40

/* Every batch found through the index by an offset inside it; the offsets
 * found for timestamps around the fill's (into got); the largest one. */
static void lookups(struct fx *f, int64_t now, int64_t *got)
{
    for (int i = 0; i < f->n; i++) {
        struct ed_log_slice s;
        assert_int_equal(ed_log_read(f->log, f->base[i] + 2, 1, &s), ED_OK);
        assert_true(s.first_offset == f->base[i]);
        ed_log_slice_release(&s);
    }
    for (int i = 0; i < N_TS; i++) {
        int64_t ts = -1;
        got[i] = -1;
        assert_int_equal(ed_log_offset_for_time(f->log, now - 5 + i, &got[i], &ts), ED_OK);
    }
    int64_t ts = -1;
    assert_int_equal(ed_log_max_timestamp(f->log, &got[N_TS], &ts), ED_OK);
    assert_true(got[N_TS] == f->base[f->n - 1] + 2);
}

/* After a clean stop the active segment is taken from the marker: nothing
 * of it is read, lookups and the next offsets are as a scan finds them,
 * and the marker is gone before anything is appended. */
static void test_clean_stop_reads_nothing(void **state)
{
    struct fx *f = *state;
    fill(f, 24, 1 << 20);
    char mark[1024];
    clean_path(f, mark, sizeof mark);
    assert_true(lt_exists(mark));
    f->keep_rp = f->keep_clean = true;
    open_again(f);
    uint64_t n_clean, scanned;
    opened(f, &n_clean, &scanned);
    assert_int_equal(n_clean, 1);
    assert_int_equal(scanned, 0);
    assert_false(lt_exists(mark));
    assert_true(ed_log_end_offset(f->log) == f->base[f->n - 1] + 3);
    assert_int_equal(read_back(f), f->n);
    /* appends go on after the end, and a clean stop describes them too */
    uint8_t buf[4096];
    size_t len = lt_batch(buf, sizeof buf, 3, 64, ed_plat_clock_wall_ms(), 1, 7);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(f->log, buf, len, &r), ED_OK);
    assert_true(r.base_offset == f->base[f->n - 1] + 3);
    lt_wait_durable_all(f->st, f->log);
    ed_storage_close(f->st);
    f->st = NULL;
    open_again(f);
    opened(f, &n_clean, &scanned);
    assert_int_equal(n_clean, 1);
    assert_int_equal(scanned, 0);
    assert_int_equal(read_back(f), f->n + 1);
    assert_true(ed_log_end_offset(f->log) == r.last_offset + 1);
}

/* The indexes taken from the marker are the ones a scan rebuilds. */
static void test_clean_stop_same_index(void **state)
{
    struct fx *f = *state;
    int64_t now = ed_plat_clock_wall_ms();
    fill(f, 24, 1 << 20);
    f->keep_rp = f->keep_clean = true;
    open_again(f);
    uint64_t n_clean, scanned;
    opened(f, &n_clean, &scanned);
    assert_int_equal(n_clean, 1);
    int64_t from_marker[N_TS + 1], from_scan[N_TS + 1];
    lookups(f, now, from_marker);
    ed_storage_close(f->st);
    f->st = NULL;
    f->keep_clean = false;
    open_again(f);
    opened(f, &n_clean, &scanned);
    assert_int_equal(n_clean, 0);
    assert_true(scanned > 0);
    lookups(f, now, from_scan);
    assert_memory_equal(from_marker, from_scan, sizeof from_scan);
}

/* A marker whose segment was cut since (at a batch boundary, so that a
 * scan finds nothing wrong with it) is not trusted: the end is where the
 * file ends. */
static void test_clean_marker_segment_truncated(void **state)
{
    struct fx *f = *state;
    fill(f, 12, 1 << 20);
    char seg[1024];
    seg_path(f, 0, ".log", seg, sizeof seg);
    cut_file(seg, (long long)f->pos[9]);
    f->keep_clean = true;
    open_again(f);
    uint64_t n_clean, scanned;
    opened(f, &n_clean, &scanned);
    assert_int_equal(n_clean, 0);
    assert_true(ed_log_end_offset(f->log) == f->base[9]);
    assert_int_equal(read_back(f), 9);
}

/* A marker failing its checksum is ignored: the active segment is scanned
 * and damage of the same size found. */
static void marker_damaged(struct fx *f, long long at)
{
    fill(f, 12, 1 << 20);
    char seg[1024], mark[1024];
    seg_path(f, 0, ".log", seg, sizeof seg);
    clean_path(f, mark, sizeof mark);
    long long mlen = lt_file_size(mark);
    uint8_t zeros[64] = {0};
    poke(seg, (long long)f->pos[10], zeros, sizeof zeros); /* same size, bad header */
    assert_true(at < mlen);
    flip_bit(mark, at);
    f->keep_clean = true;
    open_again(f);
    uint64_t n_clean, scanned;
    opened(f, &n_clean, &scanned);
    assert_int_equal(n_clean, 0);
    expect_truncation(f, f->len[10] + f->len[11], "invalid batch header");
    assert_true(ed_log_end_offset(f->log) == f->base[10]);
    assert_true(lt_log_contains("eddy-clean-shutdown"));
    assert_false(lt_exists(mark));
}

static void test_clean_marker_bad_record_crc(void **state)
{
    /* the low byte of the first timestamp: no other check looks at it */
    marker_damaged(*state, 16 + 8 + 2 + 1 + 4 + 8 + 8 + 8 + 7);
}

static void test_clean_marker_bad_header_crc(void **state)
{
    marker_damaged(*state, 7); /* the reserved field */
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
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bit_flip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_after_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_active_keeps_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_without_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_index_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftovers_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_point_written_and_trusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_point_tail_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_stop_reads_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_stop_same_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_marker_segment_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_marker_bad_record_crc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_marker_bad_header_crc, setup, teardown),
        cmocka_unit_test(test_no_leaks),
    };
    return cmocka_run_group_tests_name("recovery", tests, NULL, NULL);
}
