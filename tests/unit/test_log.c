/* Unit tests of the partition log on real files: append/read round trips,
 * reads from inside a batch, max_len limits, roll by size and by time,
 * lookups by timestamp, restart, scans, DeleteRecords, rejected appends,
 * LogAppendTime, index lookups on active and sealed segments, and a full
 * disk (RLIMIT_FSIZE) that must leave no half batch behind. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    lt_config(&f->cfg, f->dir, false);
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

static void open_st(struct fx *f)
{
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
}

static void reopen(struct fx *f, const char *topic, int32_t part)
{
    ed_storage_close(f->st);
    f->st = NULL;
    open_st(f);
    f->log = lt_find_log(f->st, topic, part);
    assert_non_null(f->log);
}

/* Defaults, but no retention by time: the tests use small timestamps. */
static void base_cfg(struct ed_log_config *lc)
{
    ed_log_config_default(lc);
    lc->retention_ms = -1;
}

static void create(struct fx *f, const struct ed_log_config *lc)
{
    if (!f->st) open_st(f);
    assert_int_equal(ed_storage_create_log(f->st, "t", 0, lc, &f->log), ED_OK);
}

/* Appends one batch of n records; returns its length; the stamped bytes are
 * left in buf. */
static size_t append(struct fx *f, uint8_t *buf, size_t cap, int n, size_t vlen, int64_t ts,
                     struct ed_append_result *res)
{
    size_t len = lt_batch(buf, cap, n, vlen, ts, 1, (uint8_t)n);
    assert_true(len > 0);
    assert_int_equal(ed_log_append(f->log, buf, len, res), ED_OK);
    return len;
}

static void read_all(ed_log *log, int64_t off, size_t max_len, uint8_t *out, size_t *out_len,
                     int64_t *first)
{
    struct ed_log_slice s;
    assert_int_equal(ed_log_read(log, off, max_len, &s), ED_OK);
    *out_len = s.len;
    *first = s.first_offset;
    if (s.len) assert_int_equal(ed_log_slice_copy(&s, out, s.len), ED_OK);
    ed_log_slice_release(&s);
}

/* Every batch in buf passes the full check and offsets ascend from first. */
static int check_batches(const uint8_t *buf, size_t len, int64_t first)
{
    int n = 0;
    int64_t next = first;
    for (size_t pos = 0; pos < len; n++) {
        struct ed_batch_info b;
        assert_int_equal(ed_batch_check(buf + pos, len - pos, &b), ED_OK);
        assert_true(b.base_offset == next);
        next = b.base_offset + b.last_offset_delta + 1;
        pos += ed_batch_total_len(&b);
    }
    return n;
}

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    create(f, &lc);
    uint8_t all[64 * 1024], buf[4096];
    size_t all_len = 0;
    for (int i = 0; i < 10; i++) {
        struct ed_append_result r;
        size_t len = append(f, buf, sizeof buf, 3, 50 + (size_t)i, 1000 + i, &r);
        assert_true(r.base_offset == 3 * i);
        assert_true(r.last_offset == 3 * i + 2);
        assert_true(r.log_append_time == -1);
        assert_true(r.log_start_offset == 0);
        memcpy(all + all_len, buf, len);
        all_len += len;
    }
    assert_true(ed_log_end_offset(f->log) == 30);
    assert_true(ed_log_start_offset(f->log) == 0);
    assert_true(ed_log_size(f->log) == all_len);

    uint8_t out[64 * 1024];
    size_t n;
    int64_t first;
    read_all(f->log, 0, SIZE_MAX, out, &n, &first);
    assert_int_equal(n, all_len);
    assert_memory_equal(out, all, all_len);
    assert_int_equal(check_batches(out, n, 0), 10);

    /* From the middle of batch 4 (offsets 12..14): the whole batch. */
    read_all(f->log, 13, SIZE_MAX, out, &n, &first);
    assert_true(first == 12);
    assert_int_equal(check_batches(out, n, 12), 6);

    /* max_len below one batch still returns exactly one (KIP-74). */
    read_all(f->log, 13, 1, out, &n, &first);
    assert_int_equal(check_batches(out, n, 12), 1);
    /* max_len of two and a half batches: two. */
    struct ed_batch_info b;
    assert_int_equal(ed_batch_parse_header(out, n, &b), ED_OK);
    read_all(f->log, 12, ed_batch_total_len(&b) * 2 + 60, out, &n, &first);
    assert_int_equal(check_batches(out, n, 12), 2);

    /* The end offset: an empty slice. Past it or below start: out of range. */
    struct ed_log_slice s;
    assert_int_equal(ed_log_read(f->log, 30, 100, &s), ED_OK);
    assert_null(s.seg);
    assert_int_equal(s.len, 0);
    assert_int_equal(ed_log_read(f->log, 31, 100, &s), ED_ERR_RANGE);
    assert_int_equal(ed_log_read(f->log, -1, 100, &s), ED_ERR_RANGE);
}

static void test_reject_bad_appends(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.max_message_len = 2000;
    create(f, &lc);
    uint8_t buf[8192];
    struct ed_append_result r;
    append(f, buf, sizeof buf, 2, 10, 5, &r);
    uint64_t size = ed_log_size(f->log);

    /* Two good batches and a bad CRC in the second: nothing appended. */
    size_t a = lt_batch(buf, sizeof buf, 2, 10, 5, 1, 1);
    size_t b = lt_batch(buf + a, sizeof buf - a, 2, 10, 5, 1, 2);
    buf[a + b - 1] ^= 0x40;
    assert_int_equal(ed_log_append(f->log, buf, a + b, &r), ED_ERR_CORRUPT);
    /* Truncated data. */
    a = lt_batch(buf, sizeof buf, 2, 10, 5, 1, 1);
    assert_int_equal(ed_log_append(f->log, buf, a - 1, &r), ED_ERR_CORRUPT);
    /* Over max.message.bytes. */
    a = lt_batch(buf, sizeof buf, 3, 1000, 5, 1, 1);
    assert_int_equal(ed_log_append(f->log, buf, a, &r), ED_ERR_TOOBIG);
    assert_int_equal(ed_log_append(f->log, buf, 0, &r), ED_ERR_INVAL);
    assert_true(ed_log_end_offset(f->log) == 2);
    assert_true(ed_log_size(f->log) == size);

    /* A multi-batch append goes in whole, offsets in order. */
    a = lt_batch(buf, sizeof buf, 2, 10, 5, 1, 1);
    b = lt_batch(buf + a, sizeof buf - a, 4, 10, 5, 1, 2);
    assert_int_equal(ed_log_append(f->log, buf, a + b, &r), ED_OK);
    assert_true(r.base_offset == 2 && r.last_offset == 7);
    uint8_t out[8192];
    size_t n;
    int64_t first;
    read_all(f->log, 0, SIZE_MAX, out, &n, &first);
    assert_int_equal(check_batches(out, n, 0), 3);
}

static int count_files(struct fx *f, const char *suffix)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/t-0", f->dir);
    return lt_count_suffix(p, suffix);
}

/* A log of small segments (2000 bytes) holding nb batches of 1..3
 * records: their base offsets and lengths. */
static void fill_small_segments(struct fx *f, int nb, int64_t *bases, size_t *lens)
{
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.segment_len = 2000;
    lc.index_interval_len = 150;
    create(f, &lc);
    uint8_t buf[4096];
    for (int i = 0; i < nb; i++) {
        struct ed_append_result r;
        lens[i] =
            append(f, buf, sizeof buf, 1 + i % 3, 40 + (size_t)(i % 7) * 10, 10000 + i * 10, &r);
        bases[i] = r.base_offset;
    }
}

static void test_roll_by_size_and_indexes(void **state)
{
    struct fx *f = *state;
    int64_t bases[120];
    size_t lens[120];
    int nb = 120;
    fill_small_segments(f, nb, bases, lens);
    int64_t end = ed_log_end_offset(f->log);
    assert_true(count_files(f, ".log") > 5);
    lt_wait_durable_all(f->st, f->log);
    /* Every sealed segment got its two index files; the active one none. */
    assert_int_equal(count_files(f, ".index"), count_files(f, ".log") - 1);
    assert_int_equal(count_files(f, ".timeindex"), count_files(f, ".log") - 1);
    assert_int_equal(count_files(f, ".tmp"), 0);

    /* Every offset reads back as the batch that holds it. */
    uint8_t out[8192];
    for (int pass = 0; pass < 2; pass++) {
        int k = 0;
        for (int64_t off = 0; off < end; off++) {
            while (k + 1 < nb && bases[k + 1] <= off)
                k++;
            size_t n;
            int64_t first;
            read_all(f->log, off, 1, out, &n, &first);
            assert_true(first == bases[k]);
            assert_int_equal(check_batches(out, n, bases[k]), 1);
            /* A large read stays inside one segment and is whole batches. */
            read_all(f->log, off, 100000, out, &n, &first);
            assert_true(n <= 2000 + 1000);
            check_batches(out, n, bases[k]);
        }
        /* Second pass: after a restart, sealed segments use their files. */
        reopen(f, "t", 0);
        assert_true(ed_log_end_offset(f->log) == end);
    }
}

/* The bytes from an offset's batch to the end of the log, across rolled
 * segments (a backlog's size on flash). */
static void test_bytes_from(void **state)
{
    struct fx *f = *state;
    int64_t bases[100];
    size_t lens[100];
    fill_small_segments(f, 100, bases, lens);
    assert_true(count_files(f, ".log") > 3);
    int64_t end = ed_log_end_offset(f->log);
    uint64_t len = 1;
    int k = 0;
    for (int64_t off = 0; off < end; off++) {
        while (k + 1 < 100 && bases[k + 1] <= off)
            k++;
        uint64_t want = 0;
        for (int j = k; j < 100; j++)
            want += lens[j];
        assert_int_equal(ed_log_bytes_from(f->log, off, &len), ED_OK);
        assert_int_equal(len, want);
    }
    assert_int_equal(ed_log_bytes_from(f->log, 0, &len), ED_OK);
    assert_int_equal(len, ed_log_size(f->log));
    assert_int_equal(ed_log_bytes_from(f->log, end, &len), ED_OK);
    assert_int_equal(len, 0);
    assert_int_equal(ed_log_bytes_from(f->log, end + 1, &len), ED_ERR_RANGE);
}

static void test_roll_by_time(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.segment_ms = 1000;
    create(f, &lc);
    uint8_t buf[4096];
    struct ed_append_result r;
    int64_t now = ed_plat_clock_wall_ms();
    append(f, buf, sizeof buf, 1, 10, now - 100000, &r);
    append(f, buf, sizeof buf, 1, 10, now - 99500, &r); /* within 1 s of the first */
    assert_int_equal(count_files(f, ".log"), 1);
    append(f, buf, sizeof buf, 1, 10, now - 98000, &r); /* 2 s later: rolls */
    assert_int_equal(count_files(f, ".log"), 2);
    assert_true(r.base_offset == 2);
    /* The tick rolls an idle active segment older than segment.ms (wall
     * clock since it was created), whatever its records' timestamps... */
    ed_storage_tick(f->st, now + 500);
    assert_int_equal(count_files(f, ".log"), 2);
    ed_storage_tick(f->st, ed_plat_clock_wall_ms() + 5000);
    assert_int_equal(count_files(f, ".log"), 3);
    /* ... but never an empty one. */
    ed_storage_tick(f->st, ed_plat_clock_wall_ms() + 20000);
    assert_int_equal(count_files(f, ".log"), 3);
    assert_true(ed_log_end_offset(f->log) == 3);
}

static void test_offset_for_time(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.segment_len = 1500;
    lc.index_interval_len = 100;
    create(f, &lc);
    uint8_t buf[4096];
    struct ed_append_result r;
    /* Batch i: two records at 1000*(i+1) and 1000*(i+1)+1. */
    for (int i = 0; i < 40; i++) {
        size_t len = lt_batch(buf, sizeof buf, 2, 30, 1000 * (i + 1), 1, 0);
        assert_int_equal(ed_log_append(f->log, buf, len, &r), ED_OK);
    }
    for (int pass = 0; pass < 2; pass++) {
        int64_t off, ts;
        /* Kafka's answer: the first record at or after ts, its timestamp. */
        assert_int_equal(ed_log_offset_for_time(f->log, 0, &off, &ts), ED_OK);
        assert_true(off == 0 && ts == 1000);
        assert_int_equal(ed_log_offset_for_time(f->log, 1500, &off, &ts), ED_OK);
        assert_true(off == 2 && ts == 2000);
        for (int i = 0; i < 40; i++) {
            assert_int_equal(ed_log_offset_for_time(f->log, 1000 * (i + 1), &off, &ts), ED_OK);
            assert_true(off == 2 * i && ts == 1000 * (i + 1));
            assert_int_equal(ed_log_offset_for_time(f->log, 1000 * (i + 1) + 1, &off, &ts), ED_OK);
            assert_true(off == 2 * i + 1);
            assert_true(ts == 1000 * (i + 1) + 1);
            assert_int_equal(ed_log_offset_for_time(f->log, 1000 * (i + 1) + 2, &off, &ts), ED_OK);
            if (i < 39) assert_true(off == 2 * (i + 1) && ts == 1000 * (i + 2));
        }
        assert_int_equal(ed_log_offset_for_time(f->log, 40002, &off, &ts), ED_OK);
        assert_true(off == 80 && ts == -1);
        assert_int_equal(ed_log_max_timestamp(f->log, &off, &ts), ED_OK);
        assert_true(ts == 40001 && off == 79);
        lt_wait_durable_all(f->st, f->log);
        reopen(f, "t", 0);
    }
}

static void test_restart_continues(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.segment_len = 1000;
    create(f, &lc);
    uint8_t buf[4096], all[65536], out[65536];
    size_t all_len = 0;
    struct ed_append_result r;
    for (int i = 0; i < 30; i++) {
        size_t len = append(f, buf, sizeof buf, 2, 60, 100 + i, &r);
        memcpy(all + all_len, buf, len);
        all_len += len;
    }
    for (int round = 0; round < 3; round++) {
        reopen(f, "t", 0);
        assert_true(ed_log_end_offset(f->log) == 60 + 2 * round);
        assert_true(ed_log_size(f->log) == all_len);
        /* Read everything back across segments. */
        size_t got = 0;
        int64_t off = 0;
        while (off < ed_log_end_offset(f->log)) {
            struct ed_log_slice s;
            assert_int_equal(ed_log_read(f->log, off, 100000, &s), ED_OK);
            assert_true(s.len > 0);
            assert_int_equal(ed_log_slice_copy(&s, out + got, s.len), ED_OK);
            got += s.len;
            ed_log_slice_release(&s);
            struct ed_batch_info b;
            size_t p = 0;
            while (p < got) {
                assert_int_equal(ed_batch_parse_header(out + p, got - p, &b), ED_OK);
                p += ed_batch_total_len(&b);
            }
            off = b.base_offset + b.last_offset_delta + 1;
        }
        assert_int_equal(got, all_len);
        assert_memory_equal(out, all, all_len);
        size_t len = append(f, buf, sizeof buf, 2, 60, 500, &r);
        assert_true(r.base_offset == 60 + 2 * round);
        memcpy(all + all_len, buf, len);
        all_len += len;
    }
}

static int count_cb(void *arg, const struct ed_batch_info *b)
{
    int64_t *v = arg;
    assert_true(b->base_offset >= v[1]);
    v[1] = b->base_offset + b->last_offset_delta + 1;
    v[0]++;
    return v[0] == v[2] ? 7 : 0;
}

static void test_scan(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.segment_len = 800;
    create(f, &lc);
    uint8_t buf[4096];
    struct ed_append_result r;
    for (int i = 0; i < 25; i++)
        append(f, buf, sizeof buf, 4, 30, 100, &r);
    int64_t v[3] = {0, 0, -1};
    assert_int_equal(ed_log_scan(f->log, 0, count_cb, v), ED_OK);
    assert_true(v[0] == 25 && v[1] == 100);
    int64_t w[3] = {0, 40, -1};
    assert_int_equal(ed_log_scan(f->log, 42, count_cb, w), ED_OK);
    assert_true(w[0] == 15);
    int64_t x[3] = {0, 0, 3};
    assert_int_equal(ed_log_scan(f->log, 0, count_cb, x), 7);
    assert_true(x[0] == 3);
}

/* ed_log_each_record_from: records from an offset inside a batch, in
 * steps bounded by bytes, each step going on where the last stopped. */
static int record_cb(void *arg, const struct ed_record *rec)
{
    int64_t *v = arg; /* count, next expected offset */
    assert_true(rec->offset == v[1]);
    v[0]++;
    v[1]++;
    return 0;
}

static void test_each_record_from(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.segment_len = 800;
    create(f, &lc);
    uint8_t buf[4096];
    struct ed_append_result r;
    size_t len = 0;
    for (int i = 0; i < 25; i++)
        len = append(f, buf, sizeof buf, 4, 30, 100, &r);
    int64_t v[2] = {0, 42}, at = -1;
    /* about two batches per step, from offset 42 (inside a batch) on */
    int steps = 0;
    for (int64_t from = 42; from < 100; from = at, steps++)
        assert_int_equal(
            ed_log_each_record_from(f->log, from, 2 * len, 2 * len, record_cb, v, NULL, &at),
            ED_OK);
    assert_true(v[0] == 58 && v[1] == 100 && at == 100);
    assert_true(steps >= 4); /* at most 4 of the 15 batches per step */
    /* at the end: nothing, at stays */
    assert_int_equal(ed_log_each_record_from(f->log, 100, SIZE_MAX, 4096, record_cb, v, NULL, &at),
                     ED_OK);
    assert_true(v[0] == 58 && at == 100);
}

static void test_truncate_before(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.segment_len = 600;
    create(f, &lc);
    uint8_t buf[4096];
    struct ed_append_result r;
    for (int i = 0; i < 20; i++)
        append(f, buf, sizeof buf, 5, 20, 100, &r);
    int segs = count_files(f, ".log");
    assert_int_equal(ed_log_truncate_before(f->log, 1000), ED_ERR_RANGE);
    assert_int_equal(ed_log_truncate_before(f->log, 52), ED_OK);
    assert_true(ed_log_start_offset(f->log) == 52);
    assert_true(count_files(f, ".log") < segs);
    struct ed_log_slice s;
    assert_int_equal(ed_log_read(f->log, 51, 100, &s), ED_ERR_RANGE);
    assert_int_equal(ed_log_read(f->log, 52, 1, &s), ED_OK);
    assert_true(s.first_offset == 50); /* the whole batch holding 52 */
    ed_log_slice_release(&s);
    lt_wait_durable_all(f->st, f->log);
    reopen(f, "t", 0);
    assert_true(ed_log_start_offset(f->log) == 52);
    assert_true(ed_log_end_offset(f->log) == 100);
    assert_int_equal(ed_log_truncate_before(f->log, 10), ED_OK); /* below start: nothing */
    assert_true(ed_log_start_offset(f->log) == 52);
}

static void test_log_append_time(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.log_append_time = true;
    create(f, &lc);
    uint8_t buf[4096], out[4096];
    struct ed_append_result r;
    int64_t before = ed_plat_clock_wall_ms();
    append(f, buf, sizeof buf, 3, 20, 5, &r);
    assert_true(r.log_append_time >= before);
    size_t n;
    int64_t first;
    read_all(f->log, 0, SIZE_MAX, out, &n, &first);
    struct ed_batch_info b;
    assert_int_equal(ed_batch_check(out, n, &b), ED_OK);
    assert_true(ed_batch_is_log_append_time(&b));
    assert_true(b.max_timestamp == r.log_append_time);
    int64_t off, ts;
    ed_log_max_timestamp(f->log, &off, &ts);
    assert_true(ts == r.log_append_time && off == 2);
}

static void test_read_holds_segment(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    lc.segment_len = 500;
    lc.retention_len = 0;
    create(f, &lc);
    uint8_t buf[4096], out[4096], copy[4096];
    struct ed_append_result r;
    size_t len = append(f, buf, sizeof buf, 4, 100, 5, &r);
    memcpy(copy, buf, len);
    for (int i = 0; i < 5; i++)
        append(f, buf, sizeof buf, 4, 100, 5, &r);
    struct ed_log_slice s;
    assert_int_equal(ed_log_read(f->log, 0, 1, &s), ED_OK);
    lt_wait_durable_all(f->st, f->log);
    /* retention.bytes = 0 deletes every sealed segment, the sliced one too. */
    ed_storage_tick(f->st, ed_plat_clock_wall_ms());
    assert_int_equal(count_files(f, ".log"), 1);
    assert_true(ed_log_start_offset(f->log) > 0);
    assert_int_equal(ed_log_slice_copy(&s, out, sizeof out), ED_OK);
    assert_int_equal(s.len, len);
    assert_memory_equal(out, copy, len);
    ed_log_slice_release(&s);
}

/* ---- a full disk ---- */

static void test_disk_full(void **state)
{
    struct fx *f = *state;
    struct ed_log_config lc;
    base_cfg(&lc);
    create(f, &lc);
    lt_wait_durable_all(f->st, f->log);
    uint8_t buf[8192], out[65536];
    struct ed_append_result r;
    for (int i = 0; i < 5; i++)
        append(f, buf, sizeof buf, 4, 500, 5, &r);
    uint64_t good = ed_log_size(f->log);
    int64_t end = ed_log_end_offset(f->log);

    /* Files may not grow past good + 3000 bytes: the next appends of about
     * 2 KiB hit the limit part-way through a write. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = good + 3000;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = ED_OK, n_ok = 0;
    for (int i = 0; i < 5 && rc == ED_OK; i++) {
        size_t len = lt_batch(buf, sizeof buf, 4, 500, 5, 1, 9);
        rc = ed_log_append(f->log, buf, len, &r);
        if (rc == ED_OK) n_ok++;
    }
    assert_int_equal(rc, ED_ERR_NOSPC);
    assert_int_equal(n_ok, 1);
    /* The file holds exactly the complete batches: no partial one. */
    char p[1024], name[64];
    lt_seg_name(name, sizeof name, 0, ".log");
    lt_part_path(p, sizeof p, f->dir, "t", 0, name);
    assert_int_equal(lt_file_size(p), (long long)ed_log_size(f->log));
    size_t n;
    int64_t first;
    read_all(f->log, 0, SIZE_MAX, out, &n, &first);
    assert_int_equal(n, ed_log_size(f->log));
    assert_int_equal(check_batches(out, n, 0), 6);
    assert_true(ed_log_end_offset(f->log) == end + 4);

    /* Space returns: the log carries on. */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    append(f, buf, sizeof buf, 4, 500, 5, &r);
    assert_true(r.base_offset == end + 4);
    read_all(f->log, 0, SIZE_MAX, out, &n, &first);
    assert_int_equal(check_batches(out, n, 0), 7);
    lt_wait_durable_all(f->st, f->log);
    reopen(f, "t", 0);
    assert_true(ed_log_end_offset(f->log) == end + 8);
    signal(SIGXFSZ, SIG_DFL);
}

static void test_no_leaks(void **state)
{
    (void)state;
    struct ed_mem_stats m;
    ed_mem_stats_get(&m);
    /* Everything the tests above allocated through ed_malloc was freed. */
    assert_int_equal(m.cur_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject_bad_appends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roll_by_size_and_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bytes_from, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roll_by_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_for_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_record_from, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_append_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_holds_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test(test_no_leaks),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
