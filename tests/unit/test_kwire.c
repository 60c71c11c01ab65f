/* Unit tests of the Kafka wire cursor: fixed-width ints, varints and
 * zigzag, classic and compact strings/bytes/arrays, array bounds, tagged
 * fields, sticky errors, and the writer's ceiling, patching and splices of
 * real segment slices. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/kafka/kwire.h"
#include "log_testutil.h"

static void test_fixed(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x80, 0x01, 0xff, 0xfe, 0x80, 0,    0,    0, 0xff,
                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 1};
    ed_krd r;
    ed_krd_init(&r, b, sizeof b);
    assert_int_equal(ed_krd_i8(&r), -128);
    assert_true(ed_krd_bool(&r));
    assert_int_equal(ed_krd_i16(&r), -2);
    assert_int_equal(ed_krd_i32(&r), INT32_MIN);
    assert_true(ed_krd_i64(&r) == -2);
    assert_int_equal(ed_krd_left(&r), 1);
    assert_true(ed_krd_ok(&r));
    assert_int_equal(ed_krd_i16(&r), 0); /* overrun: zero, sticky */
    assert_false(ed_krd_ok(&r));
    assert_int_equal(r.err, ED_ERR_PROTO);
    assert_int_equal(ed_krd_left(&r), 0);
    assert_int_equal(ed_krd_i8(&r), 0);
}

static void test_varints(void **state)
{
    (void)state;
    static const int32_t vals[] = {0, 1, -1, 63, -64, 64, -65, 8191, -8192, INT32_MAX, INT32_MIN};
    static const int64_t lvals[] = {0, -1, 1LL << 40, -(1LL << 40), INT64_MAX, INT64_MIN};
    ed_kwr w;
    ed_kwr_init(&w, 1024);
    for (size_t i = 0; i < ED_ARRAY_LEN(vals); i++)
        ed_kwr_varint(&w, vals[i]);
    for (size_t i = 0; i < ED_ARRAY_LEN(lvals); i++)
        ed_kwr_varlong(&w, lvals[i]);
    ed_kwr_uvarint(&w, 0);
    ed_kwr_uvarint(&w, 127);
    ed_kwr_uvarint(&w, 128);
    ed_kwr_uvarint(&w, UINT32_MAX);
    assert_true(ed_kwr_ok(&w));
    ed_krd r;
    ed_krd_init(&r, w.buf, w.len);
    for (size_t i = 0; i < ED_ARRAY_LEN(vals); i++)
        assert_int_equal(ed_krd_varint(&r), vals[i]);
    for (size_t i = 0; i < ED_ARRAY_LEN(lvals); i++)
        assert_true(ed_krd_varlong(&r) == lvals[i]);
    assert_int_equal(ed_krd_uvarint(&r), 0);
    assert_int_equal(ed_krd_uvarint(&r), 127);
    assert_int_equal(ed_krd_uvarint(&r), 128);
    assert_int_equal(ed_krd_uvarint(&r), UINT32_MAX);
    assert_true(ed_krd_ok(&r));
    assert_int_equal(ed_krd_left(&r), 0);
    /* encodings: 1 → 0x02 (zigzag), -1 → 0x01, 128 → 0x80 0x01 */
    ed_kwr_reset(&w);
    ed_kwr_varint(&w, 1);
    ed_kwr_varint(&w, -1);
    ed_kwr_uvarint(&w, 128);
    assert_int_equal(w.len, 4);
    assert_int_equal(w.buf[0], 2);
    assert_int_equal(w.buf[1], 1);
    assert_int_equal(w.buf[2], 0x80);
    assert_int_equal(w.buf[3], 0x01);
    ed_kwr_free(&w);

    /* too long: a 6-byte uvarint, a value above 32 bits, a cut-off varint */
    static const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    static const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x7f};
    static const uint8_t cut[] = {0x80, 0x80};
    ed_krd_init(&r, six, sizeof six);
    ed_krd_uvarint(&r);
    assert_false(ed_krd_ok(&r));
    ed_krd_init(&r, big, sizeof big);
    ed_krd_uvarint(&r);
    assert_false(ed_krd_ok(&r));
    ed_krd_init(&r, cut, sizeof cut);
    ed_krd_varint(&r);
    assert_false(ed_krd_ok(&r));
    static const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x01};
    ed_krd_init(&r, eleven, sizeof eleven);
    ed_krd_varlong(&r);
    assert_false(ed_krd_ok(&r));
}

static void test_strings(void **state)
{
    (void)state;
    ed_kwr w;
    ed_kwr_init(&w, 1024);
    ed_kwr_str(&w, "abc", false);
    ed_kwr_str(&w, NULL, false);
    ed_kwr_str(&w, "", false);
    ed_kwr_str(&w, "xyz", true);
    ed_kwr_str(&w, NULL, true);
    ed_kwr_str(&w, "", true);
    ed_kwr_bytes(&w, "\x01\x02", 2, false);
    ed_kwr_bytes(&w, NULL, -1, false);
    ed_kwr_bytes(&w, "\x03", 1, true);
    ed_kwr_bytes(&w, NULL, -1, true);
    assert_true(ed_kwr_ok(&w));
    /* classic "abc" = 00 03 'a' 'b' 'c'; null = ff ff; compact "xyz" = 04 ... */
    assert_int_equal(w.buf[0], 0);
    assert_int_equal(w.buf[1], 3);
    assert_int_equal(w.buf[5], 0xff);
    assert_int_equal(w.buf[6], 0xff);
    assert_int_equal(w.buf[9], 4);
    ed_krd r;
    ed_krd_init(&r, w.buf, w.len);
    ed_kstr s = ed_krd_str(&r, false);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.p, "abc", 3);
    assert_true(ed_kstr_eq(s, "abc"));
    assert_false(ed_kstr_eq(s, "ab"));
    s = ed_krd_str(&r, false);
    assert_int_equal(s.len, -1);
    assert_null(s.p);
    assert_false(ed_kstr_eq(s, ""));
    s = ed_krd_str(&r, false);
    assert_int_equal(s.len, 0);
    assert_true(ed_kstr_eq(s, ""));
    s = ed_krd_str(&r, true);
    assert_true(ed_kstr_eq(s, "xyz"));
    assert_int_equal(ed_krd_str(&r, true).len, -1);
    assert_int_equal(ed_krd_str(&r, true).len, 0);
    ed_kbytes b = ed_krd_bytes(&r, false);
    assert_int_equal(b.len, 2);
    assert_int_equal(b.p[1], 2);
    assert_int_equal(ed_krd_bytes(&r, false).len, -1);
    b = ed_krd_bytes(&r, true);
    assert_int_equal(b.len, 1);
    assert_int_equal(b.p[0], 3);
    assert_int_equal(ed_krd_bytes(&r, true).len, -1);
    assert_true(ed_krd_ok(&r));
    assert_int_equal(ed_krd_left(&r), 0);
    ed_kwr_free(&w);

    /* length beyond the buffer; negative lengths other than -1 */
    static const uint8_t over[] = {0, 5, 'a', 'b'};
    ed_krd_init(&r, over, sizeof over);
    s = ed_krd_str(&r, false);
    assert_int_equal(s.len, -1);
    assert_false(ed_krd_ok(&r));
    static const uint8_t neg[] = {0xff, 0xfe};
    ed_krd_init(&r, neg, sizeof neg);
    ed_krd_str(&r, false);
    assert_false(ed_krd_ok(&r));
    static const uint8_t negb[] = {0xff, 0xff, 0xff, 0xf0};
    ed_krd_init(&r, negb, sizeof negb);
    ed_krd_bytes(&r, false);
    assert_false(ed_krd_ok(&r));

    char out[4];
    assert_true(ed_kstr_copy((ed_kstr){"abc", 3}, out, sizeof out));
    assert_string_equal(out, "abc");
    assert_false(ed_kstr_copy((ed_kstr){"abcd", 4}, out, sizeof out)); /* no room for NUL */
    assert_false(ed_kstr_copy((ed_kstr){NULL, -1}, out, sizeof out));
    assert_false(ed_kstr_copy((ed_kstr){"a\0b", 3}, out, sizeof out));
    assert_true(ed_kstr_copy((ed_kstr){"", 0}, out, sizeof out));
    assert_string_equal(out, "");
}

static void test_arrays_and_tags(void **state)
{
    (void)state;
    ed_kwr w;
    ed_kwr_init(&w, 1024);
    ed_kwr_array(&w, 2, false);
    ed_kwr_i32(&w, 7);
    ed_kwr_i32(&w, 8);
    ed_kwr_array(&w, -1, false);
    ed_kwr_array(&w, 1, true);
    ed_kwr_i16(&w, 9);
    ed_kwr_array(&w, -1, true);
    /* a tagged section with two fields: tag 0 (3 bytes), tag 5 (0 bytes) */
    ed_kwr_uvarint(&w, 2);
    ed_kwr_uvarint(&w, 0);
    ed_kwr_uvarint(&w, 3);
    ed_kwr_raw(&w, "xyz", 3);
    ed_kwr_uvarint(&w, 5);
    ed_kwr_uvarint(&w, 0);
    ed_kwr_tags(&w, true);  /* empty section: one 0 byte */
    ed_kwr_tags(&w, false); /* nothing */
    ed_kwr_i8(&w, 42);
    ed_krd r;
    ed_krd_init(&r, w.buf, w.len);
    assert_int_equal(ed_krd_array(&r, false, 4), 2);
    assert_int_equal(ed_krd_i32(&r), 7);
    assert_int_equal(ed_krd_i32(&r), 8);
    assert_int_equal(ed_krd_array(&r, false, 4), -1);
    assert_int_equal(ed_krd_array(&r, true, 2), 1);
    assert_int_equal(ed_krd_i16(&r), 9);
    assert_int_equal(ed_krd_array(&r, true, 2), -1);
    ed_krd_tags(&r, true);
    ed_krd_tags(&r, true);
    ed_krd_tags(&r, false);
    assert_int_equal(ed_krd_i8(&r), 42);
    assert_true(ed_krd_ok(&r));
    ed_kwr_free(&w);

    /* a count the bytes left cannot hold fails before anyone allocates */
    static const uint8_t huge[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    ed_krd_init(&r, huge, sizeof huge);
    assert_int_equal(ed_krd_array(&r, false, 1), 0);
    assert_false(ed_krd_ok(&r));
    static const uint8_t two[] = {0, 0, 0, 2, 0, 0, 0, 1};
    ed_krd_init(&r, two, sizeof two);
    assert_int_equal(ed_krd_array(&r, false, 4), 0); /* 2 x 4 > 4 left */
    assert_false(ed_krd_ok(&r));
    ed_krd_init(&r, two, sizeof two);
    assert_int_equal(ed_krd_array(&r, false, 2), 2); /* 2 x 2 <= 4 */
    assert_true(ed_krd_ok(&r));
    static const uint8_t negarr[] = {0xff, 0xff, 0xff, 0xfe};
    ed_krd_init(&r, negarr, sizeof negarr);
    ed_krd_array(&r, false, 1);
    assert_false(ed_krd_ok(&r));
    /* a tagged field longer than the buffer */
    static const uint8_t badtag[] = {1, 0, 10, 'a'};
    ed_krd_init(&r, badtag, sizeof badtag);
    ed_krd_tags(&r, true);
    assert_false(ed_krd_ok(&r));
}

static void test_sticky(void **state)
{
    (void)state;
    static const uint8_t b[] = {0, 3, 'a', 'b', 'c', 0, 0, 0, 1};
    ed_krd r;
    ed_krd_init(&r, b, sizeof b);
    ed_krd_fail(&r, ED_ERR_INVAL);
    assert_int_equal(r.err, ED_ERR_INVAL);
    assert_int_equal(ed_krd_str(&r, false).len, -1);
    assert_int_equal(ed_krd_i32(&r), 0);
    ed_krd_fail(&r, ED_ERR_PROTO); /* the first error stays */
    assert_int_equal(r.err, ED_ERR_INVAL);
    uint8_t id[16];
    memset(id, 0xaa, sizeof id);
    ed_krd_uuid(&r, id);
    static const uint8_t zero[16];
    assert_memory_equal(id, zero, 16);
}

static void test_writer_limits(void **state)
{
    (void)state;
    ed_kwr w;
    ed_kwr_init(&w, 10);
    size_t pos = ed_kwr_reserve_i32(&w);
    ed_kwr_i32(&w, 1);
    ed_kwr_patch_i32(&w, pos, 0x01020304);
    assert_int_equal(w.buf[0], 1);
    assert_int_equal(w.buf[3], 4);
    ed_kwr_i32(&w, 2); /* 12 > 10 */
    assert_false(ed_kwr_ok(&w));
    assert_int_equal(w.err, ED_ERR_TOOBIG);
    assert_int_equal(w.len, 8);
    ed_kwr_i8(&w, 1); /* sticky */
    assert_int_equal(w.len, 8);
    ed_kwr_reset(&w);
    assert_true(ed_kwr_ok(&w));
    assert_int_equal(w.len, 0);
    ed_kwr_free(&w);

    /* classic strings longer than int16 are refused */
    char *big = malloc(40000);
    memset(big, 'a', 39999);
    big[39999] = '\0';
    ed_kwr_init(&w, 1 << 20);
    ed_kwr_str(&w, big, false);
    assert_false(ed_kwr_ok(&w));
    ed_kwr_free(&w);
    ed_kwr_init(&w, 1 << 20);
    ed_kwr_str(&w, big, true);
    assert_true(ed_kwr_ok(&w));
    ed_krd r;
    ed_krd_init(&r, w.buf, w.len);
    assert_int_equal(ed_krd_str(&r, true).len, 39999);
    ed_kwr_free(&w);
    free(big);
}

static void test_splices(void **state)
{
    (void)state;
    char *dir = lt_tmpdir();
    struct ed_storage_config sc;
    lt_config(&sc, dir, false);
    ed_storage *st;
    assert_int_equal(ed_storage_open(&sc, &st), ED_OK);
    ed_log *log;
    assert_int_equal(ed_storage_create_log(st, "t", 0, &sc.log, &log), ED_OK);
    uint8_t batch[4096];
    size_t blen = lt_batch(batch, sizeof batch, 3, 50, 1000, 1, 'a');
    assert_true(blen > 0);
    struct ed_append_result res;
    assert_int_equal(ed_log_append(log, batch, blen, &res), ED_OK);
    assert_int_equal(ed_log_append(log, batch, blen, &res), ED_OK);

    ed_kwr w;
    ed_kwr_init(&w, 1024);
    ed_kwr_i32(&w, 111);
    struct ed_log_slice s1, s2;
    assert_int_equal(ed_log_read(log, 0, 1, &s1), ED_OK); /* at least one batch */
    assert_int_equal(s1.len, blen);
    ed_kwr_splice(&w, &s1);
    assert_null(s1.seg); /* moved into the writer */
    ed_kwr_i16(&w, 7);
    assert_int_equal(ed_log_read(log, 3, 1 << 20, &s2), ED_OK);
    ed_kwr_splice(&w, &s2);
    assert_int_equal(w.n_splices, 2);
    assert_int_equal(w.splices[0].at, 4);
    assert_int_equal(w.splices[1].at, 6);
    assert_int_equal(w.splice_len, 2 * blen);
    assert_int_equal(ed_kwr_total_len(&w), 6 + 2 * blen);
    /* the spliced bytes are the stored batches */
    uint8_t *copy = malloc(blen);
    assert_int_equal(ed_log_slice_copy(&w.splices[1].slice, copy, blen), ED_OK);
    assert_int_equal(ed_get_be64(copy), 3); /* base offset of the second batch */
    free(copy);
    ed_kwr_reset(&w); /* releases both slices */
    assert_int_equal(w.n_splices, 0);
    assert_int_equal(ed_kwr_total_len(&w), 0);
    /* a splice into a failed writer is released, not leaked */
    assert_int_equal(ed_log_read(log, 0, 1, &s1), ED_OK);
    w.err = ED_ERR_TOOBIG;
    ed_kwr_splice(&w, &s1);
    assert_int_equal(w.n_splices, 0);
    ed_kwr_free(&w);
    ed_storage_close(st);
    lt_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed),   cmocka_unit_test(test_varints),
        cmocka_unit_test(test_strings), cmocka_unit_test(test_arrays_and_tags),
        cmocka_unit_test(test_sticky),  cmocka_unit_test(test_writer_limits),
        cmocka_unit_test(test_splices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
