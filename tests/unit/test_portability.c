/* Unit tests of what the x86-64 build machine takes for granted and the
 * boards may not: 64-bit time and file offsets on 32-bit ARM (files past
 * 4 GiB through the platform API, dates past 2038), byte order and
 * alignment of the big-endian helpers (with the high bits that catch sign
 * extension through ARM's unsigned char), 64-bit arithmetic, sizes of the
 * types that the wire and disk formats depend on, the board's CRC32C path, threads. They run on
 * every board (under emulation for ARM) so an x86-only assumption fails before a device does. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "platform/base.h"
#include "platform/platform.h"
#include "storage/batch.h"

#define GIB (1024ull * 1024 * 1024)

static void test_type_sizes(void **state)
{
    (void)state;
    /* 32-bit ARM must still count seconds past 2038 and bytes past 2 GiB. */
    assert_int_equal(sizeof(time_t), 8);
    assert_int_equal(sizeof(off_t), 8);
    assert_int_equal(CHAR_BIT, 8);
    assert_int_equal(sizeof(int64_t), 8);
    /* size_t may be 32 bits: file positions must never pass through it. */
    assert_true(sizeof(size_t) == 4 || sizeof(size_t) == 8);
    assert_true(sizeof(void *) == sizeof(size_t));
}

static void test_time_past_2038(void **state)
{
    (void)state;
    /* 2040-01-01T00:00:00Z does not fit in a signed 32-bit time_t. */
    time_t t = (time_t)2208988800LL;
    assert_true((long long)t == 2208988800LL);
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    assert_int_equal(tm.tm_year + 1900, 2040);
    assert_int_equal(tm.tm_mon, 0);
    assert_int_equal(tm.tm_mday, 1);
    assert_true(timegm(&tm) == t);
    /* The wall clock is past 2020 and its milliseconds need 64 bits. */
    int64_t now = ed_plat_clock_wall_ms();
    assert_true(now > 1577836800000LL);
    assert_true(now > (int64_t)UINT32_MAX);
}

static void test_file_past_4gib(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s/eddy-port-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sparse.log", dir);

    ed_file *f = NULL;
    assert_int_equal(ed_plat_file_open(path, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_EXCL, &f),
                     ED_OK);
    /* A sparse file: only the pages written take space. */
    const uint64_t off = 5 * GIB;
    const char msg[] = "beyond four gibibytes";
    assert_int_equal(ed_plat_file_pwrite(f, msg, sizeof msg, off), ED_OK);
    /* A second write just below the 4 GiB line, so a truncated offset
     * (off modulo 2^32) would land on the wrong bytes and be caught. */
    const char low[] = "below";
    assert_int_equal(ed_plat_file_pwrite(f, low, sizeof low, off - 4 * GIB), ED_OK);
    const char b[] = "ABCDEFGH";
    struct ed_iovec iov[2] = {{b, 4}, {b + 4, 4}};
    const uint64_t off2 = 4 * GIB + 3; /* high and odd */
    assert_int_equal(ed_plat_file_pwritev(f, iov, 2, off2), ED_OK);

    uint64_t size = 0;
    assert_int_equal(ed_plat_file_size(f, &size), ED_OK);
    assert_true(size == off + sizeof msg);
    char got[64];
    size_t n = 0;
    assert_int_equal(ed_plat_file_pread(f, got, sizeof msg, off, &n), ED_OK);
    assert_int_equal(n, sizeof msg);
    assert_memory_equal(got, msg, sizeof msg);
    assert_int_equal(ed_plat_file_pread(f, got, 8, off2, &n), ED_OK);
    assert_int_equal(n, 8);
    assert_memory_equal(got, "ABCDEFGH", 8);
    assert_int_equal(ed_plat_file_pread(f, got, sizeof low, off - 4 * GIB, &n), ED_OK);
    assert_memory_equal(got, low, sizeof low);
    /* Reading across the end returns the short count, not an error. */
    assert_int_equal(ed_plat_file_pread(f, got, sizeof got, off, &n), ED_OK);
    assert_int_equal(n, sizeof msg);
    /* At the end exactly: nothing, no error. */
    assert_int_equal(ed_plat_file_pread(f, got, 8, size, &n), ED_OK);
    assert_int_equal(n, 0);
    /* Reserving blocks far out (64-bit offset split into two registers on
     * 32-bit ARM) must not change the visible size. */
    assert_int_equal(ed_plat_file_reserve(f, 6 * GIB, 65536), ED_OK);
    assert_int_equal(ed_plat_file_size(f, &size), ED_OK);
    assert_true(size == off + sizeof msg);
    /* Holes read as zeros. */
    assert_int_equal(ed_plat_file_pread(f, got, 16, 4 * GIB + 1024, &n), ED_OK);
    assert_int_equal(n, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(got[i], 0);

    bool is_dir = true;
    uint64_t st_size = 0;
    assert_int_equal(ed_plat_path_stat(path, &is_dir, &st_size), ED_OK);
    assert_false(is_dir);
    assert_true(st_size == size);

    /* Truncation to a length above 4 GiB keeps the high part exact. */
    assert_int_equal(ed_plat_file_truncate(f, off + 5), ED_OK);
    assert_int_equal(ed_plat_file_size(f, &size), ED_OK);
    assert_true(size == off + 5);
    assert_int_equal(ed_plat_file_close(f), ED_OK);

    uint64_t free_len = 0, total_len = 0;
    assert_int_equal(ed_plat_fs_space(dir, &free_len, &total_len), ED_OK);
    assert_true(total_len >= free_len);

    assert_int_equal(ed_plat_path_unlink(path), ED_OK);
    assert_int_equal(ed_plat_dir_remove(dir), ED_OK);
}

static void test_be_unaligned(void **state)
{
    (void)state;
    /* Every alignment of the helpers' pointers, with high bits set so that
     * a sign extension through a (signed on x86, unsigned on ARM) char or an
     * int promotion would show. */
    uint8_t buf[32];
    for (size_t a = 0; a < 8; a++) {
        memset(buf, 0x5a, sizeof buf);
        uint8_t *p = buf + 1 + a;
        ed_put_be64(p, 0xfedcba9876543210ull);
        const uint8_t want64[8] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
        assert_memory_equal(p, want64, 8);
        assert_int_equal(p[-1], 0x5a); /* neighbours untouched */
        assert_int_equal(p[8], 0x5a);
        assert_true(ed_get_be64(p) == 0xfedcba9876543210ull);

        ed_put_be32(p, 0x80ff7f01u);
        const uint8_t want32[4] = {0x80, 0xff, 0x7f, 0x01};
        assert_memory_equal(p, want32, 4);
        assert_true(ed_get_be32(p) == 0x80ff7f01u);

        ed_put_be16(p, 0xff80);
        assert_int_equal(p[0], 0xff);
        assert_int_equal(p[1], 0x80);
        assert_int_equal(ed_get_be16(p), 0xff80);

        /* Kafka's signed fields: -1 offsets, negative epochs, INT64_MIN. */
        ed_put_be32(p, (uint32_t)(int32_t)-1);
        assert_int_equal((int32_t)ed_get_be32(p), -1);
        ed_put_be64(p, (uint64_t)INT64_MIN);
        assert_true((int64_t)ed_get_be64(p) == INT64_MIN);
        ed_put_be16(p, (uint16_t)(int16_t)-2);
        assert_int_equal((int16_t)ed_get_be16(p), -2);
    }
}

static void test_uint64_arithmetic(void **state)
{
    (void)state;
    /* 64-bit division and shifts are library calls on 32-bit ARM. */
    volatile uint64_t big = 0x123456789abcdef0ull;
    volatile uint32_t d = 1000;
    assert_true(big / d == 1311768467463790ull);
    assert_true(big % d == 320ull);
    volatile int s = 36;
    assert_true((big >> s) == 0x1234567ull);
    volatile int64_t neg = -5000000000LL;
    assert_true(neg / 1000 == -5000000LL);
    assert_true(neg % 3 == -2);
}

struct handoff {
    ed_mutex *m;
    ed_cond *c;
    int64_t value;
    bool done;
};

static void worker(void *arg)
{
    struct handoff *h = arg;
    ed_plat_mutex_lock(h->m);
    h->value = INT64_C(0x123456789a); /* 64-bit store seen by another thread */
    h->done = true;
    ed_plat_cond_signal(h->c);
    ed_plat_mutex_unlock(h->m);
}

static void test_thread_handoff(void **state)
{
    (void)state;
    /* The flusher's primitives, under the board's C library (an emulator
     * paired with the wrong one hangs or crashes right here). */
    assert_true(ed_plat_has_threads());
    struct handoff h = {0};
    assert_int_equal(ed_plat_mutex_new(&h.m), ED_OK);
    assert_int_equal(ed_plat_cond_new(&h.c), ED_OK);
    ed_thread *t = NULL;
    assert_int_equal(ed_plat_thread_start(&t, worker, &h), ED_OK);
    ed_plat_mutex_lock(h.m);
    int waits = 0;
    while (!h.done && waits++ < 600)
        (void)ed_plat_cond_timedwait(h.c, h.m, 100);
    bool done = h.done;
    int64_t v = h.value;
    ed_plat_mutex_unlock(h.m);
    ed_plat_thread_join(t);
    assert_true(done);
    assert_true(v == INT64_C(0x123456789a));
    ed_plat_cond_free(h.c);
    ed_plat_mutex_free(h.m);
}

static void test_crc32c_board_path(void **state)
{
    (void)state;
    /* The standard check value, on whichever path this build chose. */
    assert_int_equal(ed_crc32c(0, "123456789", 9), 0xE3069283u);
#if defined(__aarch64__)
    /* Every 64-bit Pi has the ARMv8 CRC32 instructions; a board whose flags
     * lost +crc would silently fall back to the table-driven path. */
    assert_string_equal(ed_crc32c_impl(), "armv8");
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_sizes),        cmocka_unit_test(test_time_past_2038),
        cmocka_unit_test(test_file_past_4gib),    cmocka_unit_test(test_be_unaligned),
        cmocka_unit_test(test_uint64_arithmetic), cmocka_unit_test(test_crc32c_board_path),
        cmocka_unit_test(test_thread_handoff),
    };
    return cmocka_run_group_tests_name("portability", tests, NULL, NULL);
}
