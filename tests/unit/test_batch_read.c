/* Unit tests of reading a zstd batch in pieces (ed_batch_iter_begin_read,
 * ed_codec_decompress_read): the records read back exactly as from the
 * whole batch, no copy of the compressed batch is held, a bad CRC in any
 * piece, a reader error, a short output buffer and each allocation failing
 * in turn are clean errors, and other codecs are left to the whole read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/base.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/codec.h"

#define CTX_LEN (300u << 10) /* zstd's decompression context, reading a piece at a time */

/* A batch in memory standing in for its segment: pieces come from here. */
struct src {
    const uint8_t *batch;
    size_t len;
    int n_reads;
    int fail_at; /* > 0: that read fails */
};

static int read_src(void *arg, size_t at, uint8_t *buf, size_t len)
{
    struct src *s = arg;
    if (++s->n_reads == s->fail_at) return ED_ERR_IO;
    assert_true(at + len <= s->len);
    memcpy(buf, s->batch + at, len);
    return ED_OK;
}

/* A batch of about len bytes of CSV-like records (the wind turbine
 * recording's shape), compressed with codec as a stream (zstd: no content
 * size in the frame, as Kafka's clients write it). */
static uint8_t *make_batch(int codec, size_t len, size_t *out_len)
{
    ed_batch_builder *b;
    assert_int_equal(ed_batch_builder_new(4u << 20, &b), ED_OK);
    ed_batch_builder_set_stream(b, 20);
    assert_int_equal(ed_batch_builder_begin(b, codec, 1000, -1, -1, -1), ED_OK);
    char v[128];
    for (size_t done = 0, n = 0; done < len; n++) {
        int vl = snprintf(v, sizeof v, "01 01 2018 %02d:%02d,%d.%04d,5.%06d,416.3289,%d.99",
                          (int)(n % 24), (int)(n % 60), (int)(380 + n % 97), (int)(n % 9973),
                          (int)(n * 7 % 999983), (int)(250 + n % 31));
        assert_int_equal(ed_batch_builder_add(b, "T1", 2, v, (size_t)vl, NULL, 0, (int64_t)n),
                         ED_OK);
        done += (size_t)vl;
    }
    uint8_t *out;
    assert_int_equal(ed_batch_builder_finish(b, &out, out_len), ED_OK);
    uint8_t *copy = malloc(*out_len);
    assert_non_null(copy);
    memcpy(copy, out, *out_len);
    ed_batch_builder_free(b);
    return copy;
}

/* A zstd batch of about records_len bytes of records (*len bytes) and an
 * iterator holding at most max_len bytes of records to read it. */
static uint8_t *zstd_batch(size_t records_len, size_t max_len, struct ed_batch_iter *it,
                           size_t *len)
{
    uint8_t *batch = make_batch(ED_COMPRESSION_ZSTD, records_len, len);
    ed_batch_iter_init(it, max_len);
    return batch;
}

/* The records of it, checked against those of the same batch read whole. */
static void same_records(struct ed_batch_iter *it, const uint8_t *batch, size_t len)
{
    struct ed_batch_iter whole;
    ed_batch_iter_init(&whole, 8u << 20);
    assert_int_equal(ed_batch_iter_begin(&whole, batch, len), ED_OK);
    struct ed_record a, b;
    int n = 0;
    while (ed_batch_iter_next(&whole, &a) == 1) {
        assert_int_equal(ed_batch_iter_next(it, &b), 1);
        assert_int_equal(a.offset, b.offset);
        assert_int_equal(a.timestamp, b.timestamp);
        assert_int_equal(a.value_len, b.value_len);
        assert_memory_equal(a.value, b.value, (size_t)a.value_len);
        n++;
    }
    assert_int_equal(ed_batch_iter_next(it, &b), 0);
    assert_int_equal(n, whole.info.record_count);
    ed_batch_iter_release(&whole);
}

/* A 2 MB zstd batch read in pieces: the same records, and the heap grows by
 * the records' buffer and the decompression context (CTX_LEN, below the
 * compressed batch's size), never by a copy of the compressed batch. */
static void test_read_in_pieces(void **state)
{
    (void)state;
#if ED_WITH_ZSTD
    size_t len;
    struct ed_batch_iter it;
    uint8_t *batch = zstd_batch(1900000, 8u << 20, &it, &len);
    assert_true(len > CTX_LEN);
    struct src s = {batch, len, 0, 0};
    struct ed_mem_stats m0, m1;
    ed_mem_stats_get(&m0);
    /* the records' buffer is sized 4x the compressed batch */
    ed_mem_set_limit(m0.cur_len + 4 * len + (250u << 10));
    int rc = ed_batch_iter_begin_read(&it, batch, len, read_src, &s);
    ed_mem_set_limit(0);
    assert_int_equal(rc, ED_OK);
    assert_true(s.n_reads >= (int)(len / ED_BATCH_READ_PIECE));
    same_records(&it, batch, len);
    ed_batch_iter_release(&it);
    /* the whole read (how the mirror read such a batch before): a copy of
     * it beside its records does not fit in the same memory */
    ed_mem_set_limit(m0.cur_len + 4 * len + CTX_LEN);
    uint8_t *copy = ed_malloc(len);
    if (copy) {
        memcpy(copy, batch, len);
        assert_int_equal(ed_batch_iter_begin(&it, copy, len), ED_ERR_NOMEM);
    }
    ed_mem_set_limit(0);
    ed_free(copy);
    ed_batch_iter_release(&it);
    ed_mem_stats_get(&m1);
    assert_int_equal(m1.cur_len, m0.cur_len);
    free(batch);
#endif
}

/* One byte changed anywhere past the header: ED_ERR_CORRUPT (the CRC
 * covers every piece, also where the records still decompress); a reader
 * error is returned as it is. */
static void test_corrupt_or_unreadable(void **state)
{
    (void)state;
#if ED_WITH_ZSTD
    size_t len;
    struct ed_batch_iter it;
    uint8_t *batch = zstd_batch(300000, 8u << 20, &it, &len);
    size_t at[] = {ED_BATCH_HEADER_LEN + 3, len / 2, len - 1};
    for (size_t i = 0; i < ED_ARRAY_LEN(at); i++) {
        batch[at[i]] ^= 0x20;
        struct src s = {batch, len, 0, 0};
        assert_int_equal(ed_batch_iter_begin_read(&it, batch, len, read_src, &s), ED_ERR_CORRUPT);
        struct ed_record r;
        assert_true(ed_batch_iter_next(&it, &r) < 0);
        batch[at[i]] ^= 0x20;
    }
    struct src s = {batch, len, 0, 3};
    assert_int_equal(ed_batch_iter_begin_read(&it, batch, len, read_src, &s), ED_ERR_IO);
    /* a total that is not the header's */
    s.fail_at = 0;
    assert_int_equal(ed_batch_iter_begin_read(&it, batch, len - 1, read_src, &s), ED_ERR_CORRUPT);
    s.n_reads = 0;
    assert_int_equal(ed_batch_iter_begin_read(&it, batch, len, read_src, &s), ED_OK);
    same_records(&it, batch, len);
    ed_batch_iter_release(&it);
    free(batch);
#endif
}

/* Records larger than the iterator may hold: ED_ERR_TOOBIG; larger than
 * its first buffer: read again into a larger one. Another codec, or none:
 * ED_ERR_UNSUPPORTED, for the caller to read the batch whole. */
static void test_sizes_and_codecs(void **state)
{
    (void)state;
#if ED_WITH_ZSTD
    size_t len;
    struct ed_batch_iter it;
    uint8_t *batch = zstd_batch(500000, 400000, &it, &len);
    struct src s = {batch, len, 0, 0};
    assert_int_equal(ed_batch_iter_begin_read(&it, batch, len, read_src, &s), ED_ERR_TOOBIG);
    ed_batch_iter_release(&it);
    ed_batch_iter_init(&it, 8u << 20);
    it.max_len = 8u << 20;
    /* highly compressible: more than 4x, so the first buffer is short */
    ed_batch_builder *b;
    assert_int_equal(ed_batch_builder_new(2u << 20, &b), ED_OK);
    ed_batch_builder_set_stream(b, 20);
    assert_int_equal(ed_batch_builder_begin(b, ED_COMPRESSION_ZSTD, 1, -1, -1, -1), ED_OK);
    static uint8_t zeros[4000];
    for (int i = 0; i < 200; i++)
        assert_int_equal(ed_batch_builder_add(b, NULL, 0, zeros, sizeof zeros, NULL, 0, i), ED_OK);
    uint8_t *z;
    size_t z_len;
    assert_int_equal(ed_batch_builder_finish(b, &z, &z_len), ED_OK);
    s = (struct src){z, z_len, 0, 0};
    assert_int_equal(ed_batch_iter_begin_read(&it, z, z_len, read_src, &s), ED_OK);
    same_records(&it, z, z_len);
    ed_batch_builder_free(b);
    free(batch);
    ed_batch_iter_release(&it);
#endif
    static const int others[] = {ED_COMPRESSION_NONE, ED_COMPRESSION_GZIP, ED_COMPRESSION_LZ4};
    for (size_t c = 0; c < ED_ARRAY_LEN(others); c++) {
        if (!ed_codec_supported(others[c], true)) continue;
        size_t olen;
        uint8_t *o = make_batch(others[c], 50000, &olen);
        struct ed_batch_iter oit;
        ed_batch_iter_init(&oit, 8u << 20);
        struct src os = {o, olen, 0, 0};
        assert_int_equal(ed_batch_iter_begin_read(&oit, o, olen, read_src, &os),
                         ED_ERR_UNSUPPORTED);
        assert_int_equal(os.n_reads, 0);
        ed_batch_iter_release(&oit);
        free(o);
    }
}

/* Each allocation of a read failing in turn: ED_ERR_NOMEM, nothing leaked,
 * and the iterator reads the batch afterwards. */
static void test_alloc_failures(void **state)
{
    (void)state;
#if ED_WITH_ZSTD
    size_t len;
    uint8_t *batch = make_batch(ED_COMPRESSION_ZSTD, 200000, &len);
    struct ed_mem_stats m0, m1;
    ed_mem_stats_get(&m0);
    int n_failed = 0;
    for (uint64_t nth = 1; nth < 20; nth++) {
        struct ed_batch_iter it;
        ed_batch_iter_init(&it, 8u << 20);
        struct src s = {batch, len, 0, 0};
        ed_mem_fail_nth(nth);
        int rc = ed_batch_iter_begin_read(&it, batch, len, read_src, &s);
        ed_mem_fail_nth(0);
        if (rc != ED_OK) {
            assert_int_equal(rc, ED_ERR_NOMEM);
            n_failed++;
            s.n_reads = 0;
            assert_int_equal(ed_batch_iter_begin_read(&it, batch, len, read_src, &s), ED_OK);
        }
        same_records(&it, batch, len);
        ed_batch_iter_release(&it);
    }
    assert_true(n_failed >= 2); /* the records' buffer and the context */
    ed_mem_stats_get(&m1);
    assert_int_equal(m1.cur_len, m0.cur_len);
    free(batch);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_in_pieces),
        cmocka_unit_test(test_corrupt_or_unreadable),
        cmocka_unit_test(test_sizes_and_codecs),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
