/* Unit tests of the bounded byte cursor (core/bytes.h): round trips,
 * truncation at every byte, lying and negative lengths, varints, the
 * writer's size limit and allocation failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/bytes.h"
#include "platform/mem.h"

/* One of everything the cursor writes, taken as a fresh buffer. */
static int write_sample(uint8_t **out, size_t *len)
{
    ed_bytes_wr w;
    ed_bytes_wr_init(&w, 1024);
    ed_bytes_put_be(&w, 0xfe, 1);
    ed_bytes_put_be(&w, (uint16_t)(-2), 2);
    ed_bytes_put_be(&w, (uint32_t)(-70000), 4);
    ed_bytes_put_be(&w, (uint64_t)(INT64_MIN + 5), 8);
    ed_bytes_put_str(&w, "hello");
    ed_bytes_put_str(&w, "");
    ed_bytes_put_str(&w, NULL);
    ed_bytes_put_run(&w, "\0\1\2", 3);
    ed_bytes_put_run(&w, NULL, -1);
    ed_bytes_put_run(&w, "", 0);
    return ed_bytes_wr_take(&w, out, len);
}

/* Reads the sample back; false as soon as the reader fails. */
static bool read_sample(const uint8_t *p, size_t len, bool check)
{
    ed_bytes_rd r;
    ed_bytes_rd_init(&r, p, len);
    uint8_t u8 = ed_bytes_get_u8(&r);
    int16_t i16 = ed_bytes_get_i16(&r);
    int32_t i32 = ed_bytes_get_i32(&r);
    int64_t i64 = ed_bytes_get_i64(&r);
    ed_kstr s1 = ed_bytes_get_str(&r), s2 = ed_bytes_get_str(&r), s3 = ed_bytes_get_str(&r);
    ed_bytes_run b1 = ed_bytes_get_run(&r), b2 = ed_bytes_get_run(&r), b3 = ed_bytes_get_run(&r);
    if (!ed_bytes_rd_ok(&r)) {
        /* a failed reader hands out nothing */
        assert_int_equal(r.left, 0);
        assert_int_equal(ed_bytes_get_i32(&r), 0);
        assert_int_equal(ed_bytes_get_run(&r).len, -1);
        return false;
    }
    if (check) {
        assert_int_equal(u8, 0xfe);
        assert_int_equal(i16, -2);
        assert_int_equal(i32, -70000);
        assert_true(i64 == INT64_MIN + 5);
        assert_int_equal(s1.len, 5);
        assert_memory_equal(s1.p, "hello", 5);
        assert_int_equal(s2.len, 0);
        assert_non_null(s2.p);
        assert_int_equal(s3.len, -1);
        assert_null(s3.p);
        assert_int_equal(b1.len, 3);
        assert_memory_equal(b1.p, "\0\1\2", 3);
        assert_int_equal(b2.len, -1);
        assert_null(b2.p);
        assert_int_equal(b3.len, 0);
        assert_int_equal(r.left, 0);
    }
    return true;
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    assert_int_equal(write_sample(&buf, &len), ED_OK);
    static const uint8_t want[] = {0xfe,                                      /* u8 */
                                   0xff, 0xfe,                                /* i16 */
                                   0xff, 0xfe, 0xee, 0x90,                    /* i32 */
                                   0x80, 0,    0,    0,    0,   0,   0,   5,  /* i64 */
                                   0,    5,    'h',  'e',  'l', 'l', 'o',     /* "hello" */
                                   0,    0,    0xff, 0xff,                    /* "", null */
                                   0,    0,    0,    3,    0,   1,   2,       /* 3 bytes */
                                   0xff, 0xff, 0xff, 0xff, 0,   0,   0,   0}; /* null, empty */
    assert_int_equal(len, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    assert_true(read_sample(buf, len, true));
    ed_free(buf);
}

/* Every proper prefix fails the whole read and nothing is read past it. */
static void test_truncated_every_byte(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    assert_int_equal(write_sample(&buf, &len), ED_OK);
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = ed_malloc(n ? n : 1); /* exact size: ASan sees any overread */
        assert_non_null(cut);
        memcpy(cut, buf, n);
        assert_false(read_sample(cut, n, false));
        ed_free(cut);
    }
    assert_true(read_sample(buf, len, false));
    ed_free(buf);
}

static void test_lying_lengths(void **state)
{
    (void)state;
    /* a string claims 9 bytes, 3 follow */
    static const uint8_t s[] = {0, 9, 'a', 'b', 'c'};
    ed_bytes_rd r;
    ed_bytes_rd_init(&r, s, sizeof s);
    ed_kstr k = ed_bytes_get_str(&r);
    assert_false(ed_bytes_rd_ok(&r));
    assert_int_equal(r.err, ED_ERR_PROTO);
    assert_int_equal(k.len, -1);
    assert_null(k.p);
    /* a byte run claims 2^31-1 bytes */
    static const uint8_t b[] = {0x7f, 0xff, 0xff, 0xff, 1, 2};
    ed_bytes_rd_init(&r, b, sizeof b);
    assert_int_equal(ed_bytes_get_run(&r).len, -1);
    assert_false(ed_bytes_rd_ok(&r));
    /* negative lengths below -1 fail; -1 is null and reading goes on */
    static const uint8_t neg[] = {0xff, 0xfe, 'x', 'y'};
    ed_bytes_rd_init(&r, neg, sizeof neg);
    assert_int_equal(ed_bytes_get_str(&r).len, -1);
    assert_false(ed_bytes_rd_ok(&r));
    static const uint8_t negrun[] = {0x80, 0, 0, 0, 'x'};
    ed_bytes_rd_init(&r, negrun, sizeof negrun);
    assert_int_equal(ed_bytes_get_run(&r).len, -1);
    assert_false(ed_bytes_rd_ok(&r));
    static const uint8_t null_then[] = {0xff, 0xff, 0, 7};
    ed_bytes_rd_init(&r, null_then, sizeof null_then);
    assert_int_equal(ed_bytes_get_str(&r).len, -1);
    assert_int_equal(ed_bytes_get_i16(&r), 7);
    assert_true(ed_bytes_rd_ok(&r));
    /* a span the caller measured */
    ed_bytes_rd_init(&r, s, sizeof s);
    assert_int_equal(ed_bytes_get_span(&r, INT64_C(1) << 40).len, -1);
    assert_false(ed_bytes_rd_ok(&r));
    /* a NULL input is empty */
    ed_bytes_rd_init(&r, NULL, 10);
    ed_bytes_get_u8(&r);
    assert_false(ed_bytes_rd_ok(&r));
}

static void test_uvarint(void **state)
{
    (void)state;
    static const uint8_t ok[] = {0x00, 0x7f, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f};
    ed_bytes_rd r;
    ed_bytes_rd_init(&r, ok, sizeof ok);
    assert_int_equal(ed_bytes_get_uvarint(&r), 0);
    assert_int_equal(ed_bytes_get_uvarint(&r), 127);
    assert_int_equal(ed_bytes_get_uvarint(&r), 128);
    assert_true(ed_bytes_get_uvarint(&r) == UINT32_MAX);
    assert_true(ed_bytes_rd_ok(&r));
    /* over 32 bits, too long, cut short */
    static const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    static const uint8_t longer[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t cut[] = {0x80, 0x80};
    const uint8_t *bad[] = {big, longer, cut};
    size_t bad_len[] = {sizeof big, sizeof longer, sizeof cut};
    for (int i = 0; i < 3; i++) {
        ed_bytes_rd_init(&r, bad[i], bad_len[i]);
        assert_int_equal(ed_bytes_get_uvarint(&r), 0);
        assert_false(ed_bytes_rd_ok(&r));
        assert_int_equal(r.left, 0);
    }
}

static void test_writer_limit(void **state)
{
    (void)state;
    ed_bytes_wr w;
    ed_bytes_wr_init(&w, 6);
    ed_bytes_put_be(&w, 1, 4);
    ed_bytes_put_be(&w, 2, 4); /* 8 > 6 */
    assert_int_equal(w.err, ED_ERR_TOOBIG);
    ed_bytes_put_be(&w, 3, 1); /* sticky */
    assert_int_equal(w.len, 4);
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(ed_bytes_wr_take(&w, &out, &len), ED_ERR_TOOBIG);
    assert_null(out);
    assert_null(w.buf);
    /* a string over the int16 length */
    ed_bytes_wr_init(&w, 1u << 20);
    char *z = ed_malloc(40000);
    assert_non_null(z);
    memset(z, 'a', 39999);
    z[39999] = '\0';
    ed_bytes_put_str(&w, z);
    ed_free(z);
    assert_int_equal(ed_bytes_wr_take(&w, &out, &len), ED_ERR_TOOBIG);
    /* a width past 8 bytes is a caller's mistake */
    ed_bytes_wr_init(&w, 16);
    ed_bytes_put_be(&w, 1, 9);
    assert_int_equal(ed_bytes_wr_take(&w, &out, &len), ED_ERR_INVAL);
    /* nothing written is not a record */
    ed_bytes_wr_init(&w, 16);
    assert_int_equal(ed_bytes_wr_take(&w, &out, &len), ED_ERR_INVAL);
}

/* Growth fails at every allocation: the writer reports no memory, frees
 * what it had, and the next try succeeds. */
static void test_writer_nomem(void **state)
{
    (void)state;
    int failed = 0;
    for (uint64_t n = 1;; n++) {
        ed_bytes_wr w;
        ed_bytes_wr_init(&w, 1u << 20);
        ed_mem_fail_nth(n);
        for (int i = 0; i < 100; i++)
            ed_bytes_put_run(&w, "0123456789", 10); /* grows 64 -> 2048 */
        ed_mem_fail_nth(0);
        uint8_t *out = NULL;
        size_t len = 0;
        int rc = ed_bytes_wr_take(&w, &out, &len);
        if (rc == ED_OK) {
            assert_int_equal(len, 1400);
            assert_memory_equal(out + 1386,
                                "\0\0\0\x0a"
                                "012345",
                                10);
            ed_free(out);
            break;
        }
        assert_int_equal(rc, ED_ERR_NOMEM);
        assert_null(out);
        failed++;
    }
    assert_int_equal(failed, 6); /* 64, 128, 256, 512, 1024, 2048 */
}

/* A writer over the caller's buffer fills it and stops at its end; its
 * buffer is never grown nor freed. */
static void test_writer_fixed(void **state)
{
    (void)state;
    uint8_t buf[8] = {0};
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, buf, 7);
    ed_bytes_put_be(&w, 0xfffe, 2);
    ed_bytes_put_be(&w, 0x01020304, 4);
    assert_int_equal(w.err, ED_OK);
    ed_bytes_put_be(&w, 7, 2); /* 8 > 7 */
    assert_int_equal(w.err, ED_ERR_TOOBIG);
    assert_int_equal(w.len, 6);
    static const uint8_t want[] = {0xff, 0xfe, 1, 2, 3, 4, 0, 0};
    assert_memory_equal(buf, want, sizeof want);
    assert_ptr_equal(w.buf, buf);
    ed_bytes_wr_free(&w);
    assert_ptr_equal(w.buf, buf);
    ed_bytes_wr_fixed(&w, NULL, 100);
    ed_bytes_put_be(&w, 1, 1);
    assert_int_equal(w.err, ED_ERR_TOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_truncated_every_byte),
        cmocka_unit_test(test_lying_lengths), cmocka_unit_test(test_uvarint),
        cmocka_unit_test(test_writer_limit),  cmocka_unit_test(test_writer_nomem),
        cmocka_unit_test(test_writer_fixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
