/* Unit tests of the re-encoder (a topic's compression.type applied to a
 * producer's batch): every pair of codecs keeps every header field but the
 * codec, and every record byte; control batches and same-codec batches stay
 * as they are; bombs, unknown codecs and corrupt data are refused without
 * touching the input; large buffers are given back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "platform/base.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/format.h"
#include "storage/recode.h"

static const int codecs[] = {ED_COMPRESSION_NONE, ED_COMPRESSION_GZIP, ED_COMPRESSION_SNAPPY,
                             ED_COMPRESSION_LZ4, ED_COMPRESSION_ZSTD};

static void set_attr_bits(uint8_t *p, size_t len, uint16_t bits)
{
    uint16_t a = ed_get_be16(p + ED_BATCH_OFF_ATTRIBUTES);
    ed_put_be16(p + ED_BATCH_OFF_ATTRIBUTES, (uint16_t)(a | bits));
    ed_put_be32(p + ED_BATCH_OFF_CRC,
                ed_crc32c(0, p + ED_BATCH_OFF_ATTRIBUTES, len - ED_BATCH_OFF_ATTRIBUTES));
}

/* A producer's batch of n turbine-like records in codec, copied to *out
 * (the caller frees): producer 77 epoch 3 sequence 1000, transactional,
 * headers, a null key and a tombstone among them, timestamps out of order,
 * offsets stamped as a log would (base 5000, leader epoch 2). */
static size_t make_batch(int codec, int n, uint8_t **out)
{
    ed_batch_builder *b;
    assert_int_equal(ed_batch_builder_new(16u << 20, &b), ED_OK);
    assert_int_equal(ed_batch_builder_begin(b, codec, 1700000000000, 77, 3, 1000), ED_OK);
    for (int i = 0; i < n; i++) {
        char k[16], v[96];
        int kl = snprintf(k, sizeof k, "T%d", i % 5);
        int vl = snprintf(v, sizeof v, "01 01 2018 %02d:%02d,%d.%04d,5.%06d,416.3289", i % 24,
                          i % 60, 380 + i % 97, i % 9973, i * 7 % 999983);
        struct ed_record_header h = {(const uint8_t *)"site", 4, (const uint8_t *)"s1", 2};
        assert_int_equal(ed_batch_builder_add(b, i == 1 ? NULL : k, (size_t)kl, i == 2 ? NULL : v,
                                              (size_t)vl, &h, i % 2,
                                              1700000000000 + (i * 37) % 101),
                         ED_OK);
    }
    uint8_t *p;
    size_t len;
    assert_int_equal(ed_batch_builder_finish(b, &p, &len), ED_OK);
    ed_batch_stamp(p, 5000, 2, -1);
    set_attr_bits(p, len, ED_BATCH_ATTR_TRANSACTIONAL);
    *out = ed_malloc(len);
    assert_non_null(*out);
    memcpy(*out, p, len);
    ed_batch_builder_free(b);
    return len;
}

/* The records of a and b agree field by field. */
static void expect_same_records(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    struct ed_batch_iter ia, ib;
    ed_batch_iter_init(&ia, 64u << 20);
    ed_batch_iter_init(&ib, 64u << 20);
    assert_int_equal(ed_batch_iter_begin(&ia, a, alen), ED_OK);
    assert_int_equal(ed_batch_iter_begin(&ib, b, blen), ED_OK);
    struct ed_record ra, rb;
    int n = 0, rc;
    while ((rc = ed_batch_iter_next(&ia, &ra)) == 1) {
        assert_int_equal(ed_batch_iter_next(&ib, &rb), 1);
        assert_int_equal(ra.offset, rb.offset);
        assert_int_equal(ra.timestamp, rb.timestamp);
        assert_int_equal(ra.key_len, rb.key_len);
        assert_int_equal(ra.value_len, rb.value_len);
        assert_true(ra.key_len <= 0 || memcmp(ra.key, rb.key, (size_t)ra.key_len) == 0);
        assert_true(ra.value_len <= 0 || memcmp(ra.value, rb.value, (size_t)ra.value_len) == 0);
        assert_int_equal(ra.n_headers, rb.n_headers);
        assert_int_equal(ra.headers_len, rb.headers_len);
        assert_true(ra.headers_len == 0 || memcmp(ra.headers, rb.headers, ra.headers_len) == 0);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(ed_batch_iter_next(&ib, &rb), 0);
    assert_true(n > 0);
    ed_batch_iter_release(&ia);
    ed_batch_iter_release(&ib);
}

static void test_every_codec_pair(void **state)
{
    (void)state;
    struct ed_mem_stats m0, m1;
    ed_mem_stats_get(&m0);
    struct ed_recoder r;
    ed_recode_init(&r, 64u << 20);
    for (size_t f = 0; f < ED_ARRAY_LEN(codecs); f++) {
        if (!ed_codec_supported(codecs[f], true)) continue;
        uint8_t *in;
        size_t len = make_batch(codecs[f], 300, &in);
        uint8_t *copy = ed_malloc(len);
        assert_non_null(copy);
        memcpy(copy, in, len);
        struct ed_batch_info a;
        assert_int_equal(ed_batch_check(in, len, &a), ED_OK);
        assert_int_equal(ed_batch_compression(&a), codecs[f]);
        for (size_t t = 0; t < ED_ARRAY_LEN(codecs); t++) {
            int to = codecs[t];
            uint8_t *out;
            size_t out_len;
            if (!ed_codec_supported(to, true)) {
                assert_int_equal(ed_recode_batch(&r, in, len, to, 0, &out, &out_len),
                                 ED_ERR_UNSUPPORTED);
                continue;
            }
            assert_int_equal(ed_recode_batch(&r, in, len, to, 0, &out, &out_len), ED_OK);
            assert_memory_equal(in, copy, len); /* the input is untouched */
            if (to == codecs[f]) {
                assert_null(out);
                continue;
            }
            assert_non_null(out);
            struct ed_batch_info b;
            assert_int_equal(ed_batch_check(out, out_len, &b), ED_OK);
            assert_int_equal(ed_batch_total_len(&b), out_len);
            assert_int_equal(ed_batch_compression(&b), to);
            assert_int_equal(b.attributes & ~7, a.attributes & ~7);
            assert_true(ed_batch_is_transactional(&b));
            assert_int_equal(b.base_offset, 5000);
            assert_int_equal(b.leader_epoch, 2);
            assert_int_equal(b.last_offset_delta, a.last_offset_delta);
            assert_int_equal(b.base_timestamp, a.base_timestamp);
            assert_int_equal(b.max_timestamp, a.max_timestamp);
            assert_int_equal(b.producer_id, 77);
            assert_int_equal(b.producer_epoch, 3);
            assert_int_equal(b.base_sequence, 1000);
            assert_int_equal(b.record_count, 300);
            if (to != ED_COMPRESSION_NONE) assert_true(out_len < len || f != 0);
            expect_same_records(in, len, out, out_len);
        }
        ed_free(copy);
        ed_free(in);
    }
    ed_recode_release(&r);
    ed_mem_stats_get(&m1);
    assert_int_equal(m1.cur_len, m0.cur_len);
}

/* An uncompressed control batch is never compressed (as in Kafka); one
 * header check failing changes nothing. */
static void test_control_and_bad_input(void **state)
{
    (void)state;
    struct ed_recoder r;
    ed_recode_init(&r, 64u << 20);
    uint8_t *in;
    size_t len = make_batch(ED_COMPRESSION_NONE, 3, &in);
    set_attr_bits(in, len, ED_BATCH_ATTR_CONTROL);
    uint8_t *out = (uint8_t *)&r;
    size_t out_len = 1;
    assert_int_equal(ed_recode_batch(&r, in, len, ED_COMPRESSION_GZIP, 0, &out, &out_len), ED_OK);
    assert_null(out);
    assert_int_equal(out_len, 0);
    in[len - 1] ^= 1; /* the CRC no longer holds */
    assert_int_equal(ed_recode_batch(&r, in, len, ED_COMPRESSION_GZIP, 0, &out, &out_len),
                     ED_ERR_CORRUPT);
    assert_null(out);
    assert_int_equal(
        ed_recode_batch(&r, in, ED_BATCH_HEADER_LEN - 1, ED_COMPRESSION_GZIP, 0, &out, &out_len),
        ED_ERR_CORRUPT);
    ed_free(in);
    ed_recode_release(&r);
}

#if ED_WITH_GZIP || ED_WITH_ZSTD
/* A fresh batch of n records in codec (*in, freed by the caller) re-encoded
 * uncompressed: the result code. */
static int fresh_to_none(struct ed_recoder *r, int codec, int n, uint8_t **in, size_t *len,
                         size_t *out_len)
{
    uint8_t *out;
    *len = make_batch(codec, n, in);
    return ed_recode_batch(r, *in, *len, ED_COMPRESSION_NONE, 0, &out, out_len);
}
#endif

#if ED_WITH_GZIP
/* Compressed data that does not decompress, behind a valid CRC, is
 * ED_ERR_CORRUPT; records above the bound are ED_ERR_TOOBIG after at most
 * the bound was allocated; a codec number Kafka does not have is refused. */
static void test_corrupt_bomb_and_unknown_codec(void **state)
{
    (void)state;
    struct ed_recoder r;
    ed_recode_init(&r, 8u << 10);
    uint8_t *in, *out;
    size_t len, out_len;
    /* ~100 KiB of records */
    assert_int_equal(fresh_to_none(&r, ED_COMPRESSION_GZIP, 2000, &in, &len, &out_len),
                     ED_ERR_TOOBIG);
    assert_true(r.raw_cap <= 8u << 10);
    memset(in + ED_BATCH_OFF_RECORDS + 10, 0xA5, 16);
    set_attr_bits(in, len, 0);
    ed_recode_release(&r);
    ed_recode_init(&r, 64u << 20);
    assert_int_equal(ed_recode_batch(&r, in, len, ED_COMPRESSION_NONE, 0, &out, &out_len),
                     ED_ERR_CORRUPT);
    ed_free(in);
    len = make_batch(ED_COMPRESSION_NONE, 3, &in);
    assert_int_equal(ed_recode_batch(&r, in, len, 6, 0, &out, &out_len), ED_ERR_UNSUPPORTED);
    ed_free(in);
    ed_recode_release(&r);
}
#endif

#if ED_WITH_ZSTD
/* A batch above ED_RECODE_KEEP_LEN leaves no large buffer after trim; a
 * small one keeps its buffers for the next batch. */
static void test_trim(void **state)
{
    (void)state;
    struct ed_recoder r;
    ed_recode_init(&r, 64u << 20);
    uint8_t *in;
    size_t len, out_len;
    /* ~5 MiB of records */
    assert_int_equal(fresh_to_none(&r, ED_COMPRESSION_ZSTD, 80000, &in, &len, &out_len), ED_OK);
    assert_true(out_len > ED_RECODE_KEEP_LEN);
    ed_recode_trim(&r);
    assert_null(r.raw);
    assert_null(r.out);
    ed_free(in);
    assert_int_equal(fresh_to_none(&r, ED_COMPRESSION_ZSTD, 10, &in, &len, &out_len), ED_OK);
    ed_recode_trim(&r);
    assert_non_null(r.raw);
    assert_non_null(r.out);
    ed_free(in);
    ed_recode_release(&r);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_codec_pair),
        cmocka_unit_test(test_control_and_bad_input),
#if ED_WITH_GZIP
        cmocka_unit_test(test_corrupt_bomb_and_unknown_codec),
#endif
#if ED_WITH_ZSTD
        cmocka_unit_test(test_trim),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
