/* Unit tests of storage/cstream.c and the batch builder's streaming mode:
 * batches compressed as their records are added decode, with the codecs'
 * own libraries, to exactly the records a builder without streaming
 * writes; a build holds a bounded amount of memory; a failed allocation
 * anywhere is a clean error. */
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
#include "storage/cstream.h"

#if ED_WITH_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader */
#include <zstd.h>
#endif
#if ED_WITH_GZIP
#include <zlib.h>
#endif
#if ED_WITH_LZ4
#include <lz4frame.h>
#endif

#define WINDOW_LOG 15
#define BIG_LEN    (200u << 10) /* one record larger than zstd's window */

static const int stream_codecs[] = {ED_COMPRESSION_GZIP, ED_COMPRESSION_LZ4, ED_COMPRESSION_ZSTD};

/* Adds about len bytes of values: CSV-like records (most with a header), a
 * few larger than a stage and one larger than zstd's window (unless big is
 * NULL), until the batch is full. Returns the number of records, or the first other error. */
static int fill(ed_batch_builder *b, size_t len, uint8_t *big)
{
    char v[96];
    static const struct ed_record_header h = {(const uint8_t *)"eddy.site", 9,
                                              (const uint8_t *)"windfarm-7", 10};
    int n = 0;
    for (size_t done = 0; done < len; n++) {
        int rc;
        if (big && n % 997 == 500) {
            size_t bl = n == 500 ? BIG_LEN : ED_BATCH_STAGE_LEN + 3;
            rc = ed_batch_builder_add(b, "T1", 2, big, bl, NULL, 0, 1000 + n);
            done += bl;
        } else {
            int vl = snprintf(v, sizeof v, "01 01 2018 %02d:%02d,%d.%04d,5.%06d,416.3289,%d.99",
                              n % 24, n % 60, 380 + n % 97, n % 9973, n * 7 % 999983, 250 + n % 31);
            rc = ed_batch_builder_add(b, n % 5 ? "T1" : NULL, 2, v, (size_t)vl, &h, n % 3 ? 1 : 0,
                                      1000 + n);
            done += (size_t)vl;
        }
        if (rc == ED_ERR_TOOBIG) return n;
        if (rc != ED_OK) return rc;
    }
    return n;
}

static uint8_t *make_big(void)
{
    uint8_t *big = malloc(BIG_LEN);
    assert_non_null(big);
    uint32_t x = 12345;
    for (size_t i = 0; i < BIG_LEN; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (uint8_t)(i % 7 ? 'a' + (x >> 24) % 4 : x >> 24); /* half compressible */
    }
    return big;
}

/* A codec to lend builders, its zstd tables capped as the mirror's. */
static void lent_codec(struct ed_codec *c)
{
    memset(c, 0, sizeof *c);
    c->zstd_table_log = 15;
}

/* The records of the batch at out as Eddy's iterator reads them (a
 * negative count on an error). */
static int count_records(const uint8_t *out, size_t len)
{
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, 4u << 20);
    int k = ed_batch_iter_begin(&it, out, len) == ED_OK ? 0 : -1;
    struct ed_record r;
    while (k >= 0 && ed_batch_iter_next(&it, &r) == 1)
        k++;
    if (it.err != ED_OK || (k >= 0 && k != it.info.record_count)) k = -1;
    ed_batch_iter_release(&it);
    return k;
}

#if ED_WITH_ZSTD
/* The zstd frame at src asks its reader for a window of at most
 * 2^WINDOW_LOG bytes (a batch compressed in one go announces its size). */
static bool small_window(const uint8_t *src, size_t len)
{
    ZSTD_frameHeader fh;
    return ZSTD_getFrameHeader(&fh, src, len) == 0 && fh.windowSize <= (1u << WINDOW_LOG);
}
#endif

/* Decompresses a records section with the codec's own library (what Kafka's
 * clients and broker use: zstd-jni and librdkafka call libzstd, zlib,
 * liblz4's frame API). *out is malloc'ed. */
static size_t reference_decompress(int codec, const uint8_t *src, size_t len, size_t want,
                                   uint8_t **out)
{
    uint8_t *dst = malloc(want + 1);
    assert_non_null(dst);
    size_t n = 0;
    switch (codec) {
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD: {
        assert_true(small_window(src, len)); /* a reader needs only this */
        n = ZSTD_decompress(dst, want + 1, src, len);
        assert_false(ZSTD_isError(n));
        break;
    }
#endif
#if ED_WITH_GZIP
    case ED_COMPRESSION_GZIP: {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
        zs.next_in = (Bytef *)(uintptr_t)src;
        zs.avail_in = (uInt)len;
        zs.next_out = dst;
        zs.avail_out = (uInt)want + 1;
        assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
        assert_int_equal(zs.avail_in, 0);
        n = zs.total_out;
        inflateEnd(&zs);
        break;
    }
#endif
#if ED_WITH_LZ4
    case ED_COMPRESSION_LZ4: {
        LZ4F_dctx *d;
        assert_false(LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
        size_t in = len, o = want + 1;
        size_t r = LZ4F_decompress(d, dst, &o, src, &in, NULL);
        assert_int_equal(r, 0); /* the frame ended */
        assert_int_equal(in, len);
        n = o;
        LZ4F_freeDecompressionContext(d);
        break;
    }
#endif
    default:
        fail();
    }
    *out = dst;
    return n;
}

/* For each codec: a 1 MiB batch built as a stream, records spanning many
 * stages, LZ4 blocks and zstd windows, one record larger than the window;
 * its records section decompresses with the codec's own library to
 * exactly what a builder without streaming writes, and Eddy's iterator
 * and validator read it. Twice with one builder and one shared codec. */
static void test_stream_batches_decode(void **state)
{
    (void)state;
    uint8_t *big = make_big();
    struct ed_mem_stats m0, m1;
    ed_mem_stats_get(&m0);
    struct ed_codec codec;
    lent_codec(&codec);
    for (size_t c = 0; c < ED_ARRAY_LEN(stream_codecs); c++) {
        int cd = stream_codecs[c];
        if (!ed_codec_supported(cd, true)) continue;
        ed_batch_builder *plain, *b;
        assert_int_equal(ed_batch_builder_new(1 << 20, &plain), ED_OK);
        assert_int_equal(ed_batch_builder_new(1 << 20, &b), ED_OK);
        ed_batch_builder_set_codec(b, &codec);
        ed_batch_builder_set_stream(b, WINDOW_LOG);
        for (int round = 0; round < 2; round++) {
            assert_int_equal(ed_batch_builder_begin(plain, ED_COMPRESSION_NONE, 1, 9, 2, round),
                             ED_OK);
            assert_int_equal(ed_batch_builder_begin(b, cd, 1, 9, 2, round), ED_OK);
            size_t len = round ? 900000 : 300000;
            int n = fill(plain, len, big);
            assert_true(n > 0);
            assert_int_equal(fill(b, len, big), n);
            uint8_t *raw, *out;
            size_t raw_len, out_len;
            assert_int_equal(ed_batch_builder_finish(plain, &raw, &raw_len), ED_OK);
            assert_int_equal(ed_batch_builder_finish(b, &out, &out_len), ED_OK);
            struct ed_batch_info ri, info;
            assert_int_equal(ed_batch_check(raw, raw_len, &ri), ED_OK);
            assert_int_equal(ed_batch_check(out, out_len, &info), ED_OK);
            assert_int_equal(ed_batch_total_len(&info), out_len);
            assert_int_equal(ed_batch_compression(&info), cd);
            assert_true(out_len < raw_len * 3 / 4);
            /* the header says what the plain one says, but for the codec */
            assert_int_equal(info.record_count, n);
            assert_int_equal(info.last_offset_delta, ri.last_offset_delta);
            assert_int_equal(info.base_timestamp, ri.base_timestamp);
            assert_int_equal(info.max_timestamp, ri.max_timestamp);
            assert_int_equal(info.producer_id, 9);
            assert_int_equal(info.base_sequence, round);
            size_t rec_len = raw_len - ED_BATCH_HEADER_LEN;
            uint8_t *dec;
            size_t dec_len = reference_decompress(cd, out + ED_BATCH_HEADER_LEN,
                                                  out_len - ED_BATCH_HEADER_LEN, rec_len, &dec);
            assert_int_equal(dec_len, rec_len);
            assert_memory_equal(dec, raw + ED_BATCH_HEADER_LEN, rec_len);
            free(dec);
            assert_int_equal(count_records(out, out_len), n);
            struct ed_batch_validator v;
            struct ed_batch_fault f;
            ed_batch_validator_init(&v, 4u << 20);
            assert_int_equal(ed_batch_validate(&v, out, out_len, true, NULL, &f), ED_OK);
            ed_batch_validator_release(&v);
        }
        ed_batch_builder_free(plain);
        ed_batch_builder_free(b);
    }
    ed_codec_release(&codec);
    ed_mem_stats_get(&m1);
    assert_int_equal(m1.cur_len, m0.cur_len);
    free(big);
}

/* A 1 MiB zstd batch of CSV records built as a stream fits in less than
 * the batch's size of memory (a stage, the context with its 32 KiB
 * window, the compressed output): the allocator refuses anything beyond.
 * Built whole, the records alone would take the 1 MiB and the compressed
 * copy a buffer sized for the worst case. */
static void test_stream_build_memory_bounded(void **state)
{
    (void)state;
#if ED_WITH_ZSTD
    struct ed_codec codec;
    lent_codec(&codec);
    ed_batch_builder *b;
    assert_int_equal(ed_batch_builder_new(1 << 20, &b), ED_OK);
    ed_batch_builder_set_codec(b, &codec);
    ed_batch_builder_set_stream(b, WINDOW_LOG);
    struct ed_mem_stats m0;
    ed_mem_stats_get(&m0);
    ed_mem_set_limit(m0.cur_len + (1u << 20));
    assert_int_equal(ed_batch_builder_begin(b, ED_COMPRESSION_ZSTD, 1, -1, -1, -1), ED_OK);
    int n = fill(b, 1000000, NULL);
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = ed_batch_builder_finish(b, &out, &out_len);
    ed_mem_set_limit(0);
    assert_true(n > 9000);
    assert_int_equal(rc, ED_OK);
    assert_true(out_len > 100000);
    ed_batch_builder_free(b);
    ed_codec_release(&codec);
#endif
}

/* Every allocation of a streamed build failing in turn: a clean error,
 * never a bad batch (a stream broken after records went into it refuses
 * to finish), nothing leaked, and the builder builds again. */
static void test_stream_alloc_failures(void **state)
{
    (void)state;
    uint8_t *big = make_big();
    struct ed_mem_stats m0, m1;
    ed_mem_stats_get(&m0);
    for (size_t c = 0; c < ED_ARRAY_LEN(stream_codecs); c++) {
        int cd = stream_codecs[c];
        if (!ed_codec_supported(cd, true)) continue;
        int n_refused = 0;
        for (uint64_t nth = 1; nth < 40; nth++) {
            ed_batch_builder *b;
            assert_int_equal(ed_batch_builder_new(1 << 20, &b), ED_OK);
            ed_batch_builder_set_stream(b, WINDOW_LOG);
            ed_mem_fail_nth(nth);
            int rc = ed_batch_builder_begin(b, cd, 1, -1, -1, -1);
            if (rc == ED_OK) rc = fill(b, 200000, big) > 0 ? ED_OK : ED_ERR_NOMEM;
            uint8_t *out = NULL;
            size_t out_len = 0;
            if (rc == ED_OK) rc = ed_batch_builder_finish(b, &out, &out_len);
            ed_mem_fail_nth(0);
            /* a failed add leaves the records before it: finish makes a
             * whole batch of them, or refuses when the stream is broken
             * (records already compressed, the frame cut short) */
            if (rc != ED_OK) {
                int32_t added = ed_batch_builder_count(b);
                rc = ed_batch_builder_finish(b, &out, &out_len);
                if (rc != ED_OK && added > 0) n_refused++;
            }
            if (rc == ED_OK) assert_true(count_records(out, out_len) > 0);
            /* and again, allocations working */
            assert_int_equal(ed_batch_builder_begin(b, cd, 1, -1, -1, -1), ED_OK);
            assert_true(fill(b, 50000, big) > 0);
            assert_int_equal(ed_batch_builder_finish(b, &out, &out_len), ED_OK);
            assert_true(count_records(out, out_len) > 0);
            ed_batch_builder_free(b);
        }
        assert_true(n_refused > 0); /* failures inside the stream were met */
    }
    ed_mem_stats_get(&m1);
    assert_int_equal(m1.cur_len, m0.cur_len);
    free(big);
}

/* Builders lent one codec and open at the same time (the mirror's batches
 * of several upstream partitions in one round), records added in turn:
 * each stream is whole and reads back. */
static void test_stream_builders_open_together(void **state)
{
    (void)state;
    struct ed_codec codec;
    lent_codec(&codec);
    for (size_t c = 0; c < ED_ARRAY_LEN(stream_codecs); c++) {
        int cd = stream_codecs[c];
        if (!ed_codec_supported(cd, true)) continue;
        ed_batch_builder *b[2];
        for (int i = 0; i < 2; i++) {
            assert_int_equal(ed_batch_builder_new(1 << 20, &b[i]), ED_OK);
            ed_batch_builder_set_codec(b[i], &codec);
            ed_batch_builder_set_stream(b[i], WINDOW_LOG);
            assert_int_equal(ed_batch_builder_begin(b[i], cd, 1, -1, -1, -1), ED_OK);
        }
        char v[64];
        for (int n = 0; n < 20000; n++) {
            int vl =
                snprintf(v, sizeof v, "%d,turbine %d,%d.%03d", n, n % 7, n * 31 % 977, n % 1000);
            assert_int_equal(ed_batch_builder_add(b[n % 2], "T1", 2, v, (size_t)vl, NULL, 0, n),
                             ED_OK);
        }
        for (int i = 0; i < 2; i++) {
            uint8_t *out;
            size_t out_len;
            assert_int_equal(ed_batch_builder_finish(b[i], &out, &out_len), ED_OK);
            struct ed_batch_iter it;
            ed_batch_iter_init(&it, 4u << 20);
            assert_int_equal(ed_batch_iter_begin(&it, out, out_len), ED_OK);
            struct ed_record r;
            int k = 0;
            while (ed_batch_iter_next(&it, &r) == 1) {
                int vl = snprintf(v, sizeof v, "%d,turbine %d,%d.%03d", 2 * k + i, (2 * k + i) % 7,
                                  (2 * k + i) * 31 % 977, (2 * k + i) % 1000);
                assert_int_equal(r.value_len, vl);
                assert_memory_equal(r.value, v, (size_t)vl);
                k++;
            }
            assert_int_equal(it.err, ED_OK);
            assert_int_equal(k, 10000);
#if ED_WITH_ZSTD
            if (cd == ED_COMPRESSION_ZSTD)
                assert_true(small_window(out + ED_BATCH_HEADER_LEN, out_len - ED_BATCH_HEADER_LEN));
#endif
            ed_batch_iter_release(&it);
            ed_batch_builder_free(b[i]);
        }
    }
    ed_codec_release(&codec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_build_memory_bounded),
        cmocka_unit_test(test_stream_batches_decode),
        cmocka_unit_test(test_stream_alloc_failures),
        cmocka_unit_test(test_stream_builders_open_together),
    };
    return cmocka_run_group_tests_name("cstream", tests, NULL, NULL);
}
