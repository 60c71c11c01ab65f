/* Unit tests of RecordBatch v2 and CRC32C: known answers, hardware vs
 * portable paths, header validation against hand-written batches, every
 * single-bit flip and truncation rejected, stamping. */
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
#include "storage/crc32c.h"
#include "storage/format.h"
#include "storage/snappy.h"
#include "storage/varint.h"

#if ED_WITH_ZSTD
#include <zstd.h>
#endif
#if ED_WITH_GZIP
#include <zlib.h>
#endif
#if ED_WITH_LZ4
#include <lz4frame.h>
#endif

/* ---- helpers independent of the code under test ---- */

/* Bit-at-a-time CRC32C, the definition itself. */
static uint32_t ref_crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static size_t put_varlong(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)); /* zigzag */
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

/* Writes one uncompressed record with a key "k<i>" and value "value-<i>". */
static size_t raw_record(uint8_t *out, int i, int64_t ts_delta)
{
    uint8_t body[64];
    char key[16], val[32];
    int kl = snprintf(key, sizeof key, "k%d", i);
    int vl = snprintf(val, sizeof val, "value-%d", i);
    size_t n = 0;
    body[n++] = 0; /* attributes */
    n += put_varlong(body + n, ts_delta);
    n += put_varlong(body + n, i);
    n += put_varlong(body + n, kl);
    memcpy(body + n, key, (size_t)kl);
    n += (size_t)kl;
    n += put_varlong(body + n, vl);
    memcpy(body + n, val, (size_t)vl);
    n += (size_t)vl;
    n += put_varlong(body + n, 0); /* no headers */
    size_t h = put_varlong(out, (int64_t)n);
    memcpy(out + h, body, n);
    return h + n;
}

/* An uncompressed batch of n records written byte by byte. */
static size_t raw_batch(uint8_t *out, int n, int64_t base_ts)
{
    size_t pos = ED_BATCH_HEADER_LEN;
    for (int i = 0; i < n; i++)
        pos += raw_record(out + pos, i, i * 10);
    memset(out, 0, ED_BATCH_HEADER_LEN);
    ed_put_be64(out + 0, 0);
    ed_put_be32(out + 8, (uint32_t)(pos - 12));
    ed_put_be32(out + 12, 0xffffffffu);
    out[16] = 2;
    ed_put_be16(out + 21, 0);
    ed_put_be32(out + 23, (uint32_t)(n - 1));
    ed_put_be64(out + 27, (uint64_t)base_ts);
    ed_put_be64(out + 35, (uint64_t)(base_ts + (n - 1) * 10));
    ed_put_be64(out + 43, UINT64_MAX);
    ed_put_be16(out + 51, 0xffff);
    ed_put_be32(out + 53, 0xffffffffu);
    ed_put_be32(out + 57, (uint32_t)n);
    ed_put_be32(out + 17, ref_crc32c(out + 21, pos - 21));
    return pos;
}

static void refresh_crc(uint8_t *b, size_t len)
{
    ed_put_be32(b + 17, ref_crc32c(b + 21, len - 21));
}

/* ---- CRC32C ---- */

static void test_crc_known_answers(void **state)
{
    (void)state;
    uint8_t buf[48];
    assert_int_equal(ed_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(ed_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(ed_crc32c(0, "", 0), 0);
    /* RFC 3720 appendix B.4 */
    memset(buf, 0, 32);
    assert_int_equal(ed_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, 32);
    assert_int_equal(ed_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(ed_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(ed_crc32c(0, buf, 32), 0x113FDB5Cu);
    static const uint8_t iscsi_read[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(ed_crc32c(0, iscsi_read, 48), 0xD9963A56u);
    assert_int_equal(ed_crc32c_sw(0, iscsi_read, 48), 0xD9963A56u);
    assert_int_equal(ed_crc32c_hw(0, iscsi_read, 48), 0xD9963A56u);
    /* chaining: crc(a || b) == crc(crc(a), b) */
    uint32_t c = ed_crc32c(0, "12345", 5);
    assert_int_equal(ed_crc32c(c, "6789", 4), 0xE3069283u);
    const char *impl = ed_crc32c_impl();
    assert_true(strcmp(impl, "sse4.2+vpclmulqdq") == 0 || strcmp(impl, "sse4.2") == 0 ||
                strcmp(impl, "armv8") == 0 || strcmp(impl, "sw") == 0);
    assert_int_equal(strcmp(impl, "sw") != 0, ed_crc32c_hw_available());
}

static void test_crc_paths_agree(void **state)
{
    (void)state;
    enum { MAXLEN = 300, SLACK = 16 };
    uint8_t *buf = malloc(MAXLEN + SLACK);
    assert_non_null(buf);
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < MAXLEN + SLACK; i++)
            buf[i] = (uint8_t)rnd();
        for (size_t len = 0; len <= MAXLEN; len++) {
            for (size_t mis = 0; mis < 8; mis++) {
                uint32_t want = ref_crc32c(buf + mis, len);
                assert_int_equal(ed_crc32c_sw(0, buf + mis, len), want);
                assert_int_equal(ed_crc32c_hw(0, buf + mis, len), want);
                assert_int_equal(ed_crc32c(0, buf + mis, len), want);
            }
        }
    }
    free(buf);
}

/* Large buffers exercise the interleaved paths; every split point of a
 * chained computation must give the same answer. */
static void test_crc_large(void **state)
{
    (void)state;
    size_t n = 200000;
    uint8_t *buf = malloc(n + 8);
    assert_non_null(buf);
    for (size_t i = 0; i < n + 8; i++)
        buf[i] = (uint8_t)rnd();
    static const size_t lens[] = {767,   768,   769,   3071,  3072,   3073,
                                  24575, 24576, 24577, 65536, 100003, 200000};
    for (size_t k = 0; k < ED_ARRAY_LEN(lens); k++) {
        for (size_t mis = 0; mis < 8; mis += 3) {
            uint32_t want = ref_crc32c(buf + mis, lens[k]);
            assert_int_equal(ed_crc32c_sw(0, buf + mis, lens[k]), want);
            assert_int_equal(ed_crc32c_hw(0, buf + mis, lens[k]), want);
            size_t cut = lens[k] / 3 + mis;
            uint32_t c = ed_crc32c(0, buf + mis, cut);
            assert_int_equal(ed_crc32c(c, buf + mis + cut, lens[k] - cut), want);
        }
    }
    free(buf);
}

/* The carry-less multiplication path (AVX-512 VPCLMULQDQ, for long
 * buffers) agrees with the bitwise reference around every boundary of its
 * rounds (256 bytes), the 16-byte folds and the size from which ed_crc32c
 * takes it (4 KiB), at every misalignment, chained from random CRCs, and
 * on vectors computed independently. On a CPU without it the path falls
 * back to the CRC instruction and this checks that instead. */
static void test_crc_clmul_agrees(void **state)
{
    (void)state;
    print_message("carry-less multiplication path %s\n",
                  ed_crc32c_clmul_available() ? "in use" : "not available: fallback checked");
    enum { MAXLEN = 70000, SLACK = 64 };
    uint8_t *buf = malloc(MAXLEN + SLACK);
    assert_non_null(buf);
    for (size_t i = 0; i < MAXLEN + SLACK; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    /* independently computed (bit by bit) for this pattern */
    assert_int_equal(ed_crc32c_clmul(0, buf, 8192), 0x70949443u);
    assert_int_equal(ed_crc32c(0, buf, 8192), 0x70949443u);
    assert_int_equal(ed_crc32c_clmul(0, buf, 4099), 0x992e36c3u);
    assert_int_equal(ed_crc32c_clmul(0, "123456789", 9), 0xE3069283u);
    for (size_t i = 0; i < MAXLEN + SLACK; i++)
        buf[i] = (uint8_t)rnd();
    static const size_t base[] = {0, 256, 512, 768, 1024, 4096, 8192, 65536};
    for (size_t k = 0; k < ED_ARRAY_LEN(base); k++) {
        for (size_t d = 0; d < 48; d++) {
            size_t len = base[k] + d >= 24 ? base[k] + d - 24 : d;
            size_t mis = (d * 5 + k) % 64;
            uint32_t init = (uint32_t)rnd();
            uint32_t want = ed_crc32c_sw(init, buf + mis, len);
            assert_int_equal(ed_crc32c_clmul(init, buf + mis, len), want);
            assert_int_equal(ed_crc32c(init, buf + mis, len), want);
        }
    }
    for (int round = 0; round < 300; round++) {
        size_t len = (size_t)rnd() % MAXLEN, mis = (size_t)rnd() % SLACK;
        uint32_t init = (uint32_t)rnd();
        assert_int_equal(ed_crc32c_clmul(init, buf + mis, len), ed_crc32c_sw(init, buf + mis, len));
    }
    free(buf);
}

/* ---- header, check, stamp ---- */

static void test_check_hand_written(void **state)
{
    (void)state;
    uint8_t b[1024];
    size_t n = raw_batch(b, 3, 1700000000000);
    struct ed_batch_info info;
    assert_int_equal(ed_batch_check(b, n, &info), ED_OK);
    assert_int_equal(ed_batch_total_len(&info), n);
    assert_int_equal(info.base_offset, 0);
    assert_int_equal(info.leader_epoch, -1);
    assert_int_equal(info.record_count, 3);
    assert_int_equal(info.last_offset_delta, 2);
    assert_int_equal(info.base_timestamp, 1700000000000);
    assert_int_equal(info.max_timestamp, 1700000000020);
    assert_int_equal(info.producer_id, -1);
    assert_int_equal(info.producer_epoch, -1);
    assert_int_equal(info.base_sequence, -1);
    assert_int_equal(ed_batch_compression(&info), ED_COMPRESSION_NONE);
    assert_false(ed_batch_is_log_append_time(&info));
    assert_int_equal(ed_batch_check_client(&info, NULL), ED_OK);
    /* trailing bytes after the batch are not part of it */
    assert_int_equal(ed_batch_check(b, n + 10, &info), ED_OK);
    assert_int_equal(ed_batch_total_len(&info), n);
    /* header parse alone ignores the CRC */
    b[n - 1] ^= 1;
    assert_int_equal(ed_batch_parse_header(b, ED_BATCH_HEADER_LEN, &info), ED_OK);
    assert_int_equal(ed_batch_check(b, n, &info), ED_ERR_CORRUPT);
    /* an empty batch (what compaction leaves) is valid on disk */
    n = raw_batch(b, 0, -1);
    ed_put_be32(b + 23, 4);
    refresh_crc(b, n);
    assert_int_equal(ed_batch_check(b, n, &info), ED_OK);
    assert_int_equal(info.record_count, 0);
    assert_int_equal(ed_batch_check_client(&info, NULL), ED_ERR_INVAL);
}

static void test_check_rules(void **state)
{
    (void)state;
    uint8_t b[1024];
    struct ed_batch_info info;
    const char *why;
    size_t n = raw_batch(b, 2, 1000);

    ed_put_be32(b + 57, (uint32_t)-1); /* record count */
    refresh_crc(b, n);
    assert_int_equal(ed_batch_check_why(b, n, &info, &why), ED_ERR_CORRUPT);
    assert_non_null(why);
    ed_put_be32(b + 57, 3); /* more records than offsets */
    refresh_crc(b, n);
    assert_int_equal(ed_batch_check(b, n, &info), ED_ERR_CORRUPT);
    ed_put_be32(b + 57, 2);
    ed_put_be32(b + 23, (uint32_t)-1); /* last offset delta */
    refresh_crc(b, n);
    assert_int_equal(ed_batch_check(b, n, &info), ED_ERR_CORRUPT);
    ed_put_be32(b + 23, 1);
    b[22] = 5; /* unknown codec */
    refresh_crc(b, n);
    assert_int_equal(ed_batch_check(b, n, &info), ED_ERR_CORRUPT);
    b[22] = 0;
    refresh_crc(b, n);
    assert_int_equal(ed_batch_check_why(b, n, &info, &why), ED_OK);
    assert_null(why);
    b[16] = 1; /* magic */
    assert_int_equal(ed_batch_check(b, n, &info), ED_ERR_CORRUPT);
    assert_int_equal(ed_batch_parse_header(b, n, &info), ED_ERR_CORRUPT);
    b[16] = 2;
    ed_put_be32(b + 8, 48); /* length below the header */
    assert_int_equal(ed_batch_parse_header(b, n, &info), ED_ERR_CORRUPT);
    ed_put_be32(b + 8, 0x80000000u);
    assert_int_equal(ed_batch_parse_header(b, n, &info), ED_ERR_CORRUPT);
    ed_put_be32(b + 8, (uint32_t)(n - 12));

    /* uncompressed: a count the bytes cannot hold */
    n = raw_batch(b, 1, 1000);
    ed_put_be32(b + 23, 100);
    ed_put_be32(b + 57, 100);
    refresh_crc(b, n);
    assert_int_equal(ed_batch_check(b, n, &info), ED_ERR_CORRUPT);

    /* client-only rules */
    n = raw_batch(b, 2, 1000);
    assert_int_equal(ed_batch_check(b, n, &info), ED_OK);
    info.attributes |= ED_BATCH_ATTR_CONTROL;
    assert_int_equal(ed_batch_check_client(&info, &why), ED_ERR_INVAL);
    assert_non_null(why);
    info.attributes = 0;
    info.producer_id = 7;
    assert_int_equal(ed_batch_check_client(&info, NULL), ED_ERR_INVAL);
    info.base_sequence = 0;
    assert_int_equal(ed_batch_check_client(&info, NULL), ED_OK);
    info.record_count = 1;
    assert_int_equal(ed_batch_check_client(&info, NULL), ED_ERR_INVAL);
}

static void test_check_every_bit_flip(void **state)
{
    (void)state;
    uint8_t b[256], orig[256];
    struct ed_batch_info info;
    size_t n = raw_batch(orig, 2, 5000);
    assert_true(n <= sizeof b);
    for (size_t bit = 0; bit < n * 8; bit++) {
        memcpy(b, orig, n);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = ed_batch_check(b, n, &info);
        /* baseOffset and partitionLeaderEpoch are outside the CRC: a flip
         * there is not detectable, and Kafka overwrites both on append. */
        if (bit / 8 < ED_BATCH_OFF_LENGTH ||
            (bit / 8 >= ED_BATCH_OFF_LEADER_EPOCH && bit / 8 < ED_BATCH_OFF_MAGIC))
            assert_int_equal(rc, ED_OK);
        else
            assert_int_equal(rc, ED_ERR_CORRUPT);
    }
}

static void test_check_truncations(void **state)
{
    (void)state;
    uint8_t b[256];
    struct ed_batch_info info;
    size_t n = raw_batch(b, 3, 5000);
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan catches overreads */
        assert_non_null(copy);
        memcpy(copy, b, len);
        assert_int_equal(ed_batch_check(copy, len, &info), ED_ERR_CORRUPT);
        free(copy);
    }
    /* a length field shortened by k bytes breaks the CRC (or the header) */
    for (size_t k = 1; k < n - ED_BATCH_HEADER_LEN + 12; k++) {
        uint8_t c[256];
        memcpy(c, b, n);
        ed_put_be32(c + 8, (uint32_t)(n - 12 - k));
        assert_int_equal(ed_batch_check(c, n, &info), ED_ERR_CORRUPT);
    }
}

static void test_stamp(void **state)
{
    (void)state;
    uint8_t b[512], orig[512];
    struct ed_batch_info info;
    size_t n = raw_batch(orig, 4, 1234567);
    memcpy(b, orig, n);

    /* CreateTime: offsets and epoch only, CRC and all else untouched */
    ed_batch_stamp(b, 4242, 7, -1);
    assert_int_equal(ed_batch_check(b, n, &info), ED_OK);
    assert_int_equal(info.base_offset, 4242);
    assert_int_equal(info.leader_epoch, 7);
    assert_memory_equal(b + 16, orig + 16, n - 16);

    /* LogAppendTime: type bit and maxTimestamp, fresh CRC, base timestamp
     * and records unchanged */
    ed_batch_stamp(b, 99, 3, 1800000000000);
    assert_int_equal(ed_batch_check(b, n, &info), ED_OK);
    assert_int_equal(info.base_offset, 99);
    assert_int_equal(info.leader_epoch, 3);
    assert_true(ed_batch_is_log_append_time(&info));
    assert_int_equal(info.max_timestamp, 1800000000000);
    assert_int_equal(info.base_timestamp, 1234567);
    assert_int_equal(info.crc, ref_crc32c(b + 21, n - 21));
    assert_memory_equal(b + ED_BATCH_OFF_RECORDS, orig + ED_BATCH_OFF_RECORDS,
                        n - ED_BATCH_OFF_RECORDS);
    assert_memory_equal(b + ED_BATCH_OFF_LAST_OFFSET_DELTA, orig + ED_BATCH_OFF_LAST_OFFSET_DELTA,
                        ED_BATCH_OFF_MAX_TIMESTAMP - ED_BATCH_OFF_LAST_OFFSET_DELTA);

    /* back to CreateTime with the records' maximum */
    ed_batch_set_max_timestamp(b, false, 1234567 + 30);
    assert_int_equal(ed_batch_check(b, n, &info), ED_OK);
    assert_false(ed_batch_is_log_append_time(&info));
    assert_int_equal(info.max_timestamp, 1234567 + 30);
    assert_memory_equal(b + 16, orig + 16, n - 16);
}

/* ---- varints ---- */

static void test_varint(void **state)
{
    (void)state;
    static const int64_t vals[] = {0,         1,         -1,        63,        -64,
                                   64,        -65,       8191,      -8192,     8192,
                                   INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 1700000000000};
    uint8_t b[16];
    for (size_t i = 0; i < ED_ARRAY_LEN(vals); i++) {
        size_t n = ed_varint_put(b, vals[i]);
        assert_int_equal(n, ed_varint_len(vals[i]));
        int64_t v64;
        assert_int_equal(ed_varint_get64(b, b + n, &v64), n);
        assert_true(v64 == vals[i]);
        for (size_t k = 0; k < n; k++) /* truncated */
            assert_int_equal(ed_varint_get64(b, b + k, &v64), 0);
        int32_t v32;
        if (vals[i] >= INT32_MIN && vals[i] <= INT32_MAX) {
            assert_int_equal(ed_varint_get32(b, b + n, &v32), n);
            assert_int_equal(v32, vals[i]);
        } else {
            assert_int_equal(ed_varint_get32(b, b + n, &v32), 0); /* overflow */
        }
    }
    /* one-byte examples from Kafka's encoding: 0 -> 00, -1 -> 01, 1 -> 02 */
    assert_int_equal(ed_varint_put(b, -1), 1);
    assert_int_equal(b[0], 1);
    assert_int_equal(ed_varint_put(b, 1), 1);
    assert_int_equal(b[0], 2);
    /* 5-byte varint whose last byte carries bits beyond 32 */
    static const uint8_t over32[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    int32_t v32;
    assert_int_equal(ed_varint_get32(over32, over32 + 5, &v32), 0);
    static const uint8_t max32[] = {0xfe, 0xff, 0xff, 0xff, 0x0f}; /* INT32_MAX */
    assert_int_equal(ed_varint_get32(max32, max32 + 5, &v32), 5);
    assert_int_equal(v32, INT32_MAX);
    static const uint8_t long6[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    assert_int_equal(ed_varint_get32(long6, long6 + 6, &v32), 0);
    uint8_t long11[11];
    memset(long11, 0x80, 10);
    long11[10] = 0;
    int64_t v64;
    assert_int_equal(ed_varint_get64(long11, long11 + 11, &v64), 0);
    static const uint8_t over64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03};
    assert_int_equal(ed_varint_get64(over64, over64 + 10, &v64), 0);
}

/* ---- build, check, iterate ---- */

struct want_rec {
    const char *key, *value; /* NULL = null */
    int64_t ts;
    int n_headers;
};

static const struct ed_record_header hdrs[2] = {
    {(const uint8_t *)"trace", 5, (const uint8_t *)"abc", 3},
    {(const uint8_t *)"nullv", 5, NULL, -1},
};

static int add_want(ed_batch_builder *b, const struct want_rec *w)
{
    return ed_batch_builder_add(b, w->key, w->key ? strlen(w->key) : 0, w->value,
                                w->value ? strlen(w->value) : 0, hdrs, (size_t)w->n_headers, w->ts);
}

static void expect_records(const uint8_t *batch, size_t len, const struct want_rec *want,
                           int n_want, int64_t base_offset)
{
    struct ed_batch_iter it;
    struct ed_record r;
    ed_batch_iter_init(&it, 1 << 20);
    assert_int_equal(ed_batch_iter_begin(&it, batch, len), ED_OK);
    for (int i = 0; i < n_want; i++) {
        assert_int_equal(ed_batch_iter_next(&it, &r), 1);
        assert_int_equal(r.offset, base_offset + i);
        assert_int_equal(r.timestamp, want[i].ts);
        if (want[i].key) {
            assert_int_equal(r.key_len, strlen(want[i].key));
            assert_memory_equal(r.key, want[i].key, (size_t)r.key_len);
        } else {
            assert_int_equal(r.key_len, -1);
            assert_null(r.key);
        }
        if (want[i].value) {
            assert_int_equal(r.value_len, strlen(want[i].value));
            assert_memory_equal(r.value, want[i].value, (size_t)r.value_len);
        } else {
            assert_int_equal(r.value_len, -1);
            assert_null(r.value);
        }
        assert_int_equal(r.n_headers, want[i].n_headers);
        size_t cur = 0;
        struct ed_record_header h;
        for (int k = 0; k < want[i].n_headers; k++) {
            assert_int_equal(ed_record_next_header(&r, &cur, &h), 1);
            assert_int_equal(h.key_len, hdrs[k].key_len);
            assert_memory_equal(h.key, hdrs[k].key, (size_t)h.key_len);
            assert_int_equal(h.value_len, hdrs[k].value_len);
            if (hdrs[k].value)
                assert_memory_equal(h.value, hdrs[k].value, (size_t)h.value_len);
            else
                assert_null(h.value);
        }
        assert_int_equal(ed_record_next_header(&r, &cur, &h), 0);
    }
    assert_int_equal(ed_batch_iter_next(&it, &r), 0);
    assert_int_equal(ed_batch_iter_next(&it, &r), 0);
    ed_batch_iter_release(&it);
}

static const int all_codecs[] = {ED_COMPRESSION_NONE, ED_COMPRESSION_GZIP, ED_COMPRESSION_SNAPPY,
                                 ED_COMPRESSION_LZ4, ED_COMPRESSION_ZSTD};

static void test_build_round_trip(void **state)
{
    (void)state;
    static const struct want_rec want[] = {
        {"sensor-1", "{\"t\":21.5,\"rpm\":1200}", 1700000000000, 0},
        {NULL, "value without key", 1700000000005, 1},
        {"k", "", 1699999999990, 2}, /* earlier than the first: negative delta */
        {"tombstone", NULL, 1700000000100, 0},
        {"", "{\"t\":21.5,\"rpm\":1200}{\"t\":21.5,\"rpm\":1200}", 1700000000050, 2},
    };
    struct ed_mem_stats m0, m1;
    ed_mem_stats_get(&m0);
    for (size_t c = 0; c < ED_ARRAY_LEN(all_codecs); c++) {
        int codec = all_codecs[c];
        ed_batch_builder *b;
        assert_int_equal(ed_batch_builder_new(64 * 1024, &b), ED_OK);
        if (!ed_codec_supported(codec, true)) { /* built without it: a clean refusal */
            assert_int_equal(ed_batch_builder_begin(b, codec, 1, -1, -1, -1), ED_ERR_UNSUPPORTED);
            ed_batch_builder_free(b);
            continue;
        }
        /* twice with the same builder: buffers and contexts are reused */
        for (int round = 0; round < 2; round++) {
            assert_int_equal(ed_batch_builder_begin(b, codec, 1, 77, 3, 1000), ED_OK);
            for (size_t i = 0; i < ED_ARRAY_LEN(want); i++)
                assert_int_equal(add_want(b, &want[i]), ED_OK);
            /* pad with compressible records so every codec really compresses */
            struct want_rec all[64];
            memcpy(all, want, sizeof want);
            for (size_t i = ED_ARRAY_LEN(want); i < ED_ARRAY_LEN(all); i++) {
                all[i] = (struct want_rec){"sensor-1", "{\"t\":21.5,\"rpm\":1200}",
                                           1700000000200 + (int64_t)i, 0};
                assert_int_equal(add_want(b, &all[i]), ED_OK);
            }
            assert_int_equal(ed_batch_builder_count(b), ED_ARRAY_LEN(all));
            uint8_t *out;
            size_t len;
            assert_int_equal(ed_batch_builder_finish(b, &out, &len), ED_OK);
            struct ed_batch_info info;
            assert_int_equal(ed_batch_check(out, len, &info), ED_OK);
            assert_int_equal(ed_batch_total_len(&info), len);
            assert_int_equal(ed_batch_compression(&info), codec);
            assert_int_equal(info.record_count, ED_ARRAY_LEN(all));
            assert_int_equal(info.last_offset_delta, ED_ARRAY_LEN(all) - 1);
            assert_int_equal(info.base_timestamp, 1700000000000);
            assert_int_equal(info.max_timestamp, 1700000000200 + 63);
            assert_int_equal(info.producer_id, 77);
            assert_int_equal(info.producer_epoch, 3);
            assert_int_equal(info.base_sequence, 1000);
            assert_int_equal(info.leader_epoch, -1);
            assert_int_equal(ed_batch_check_client(&info, NULL), ED_OK);
            if (codec != ED_COMPRESSION_NONE) assert_true(len < 64 * 40); /* really compressed */
            expect_records(out, len, all, (int)ED_ARRAY_LEN(all), 0);
            /* stamped for a log: offsets follow, the records still read */
            ed_batch_stamp(out, 5000, 2, -1);
            expect_records(out, len, all, (int)ED_ARRAY_LEN(all), 5000);
        }
        ed_batch_builder_free(b);
    }
    ed_mem_stats_get(&m1);
    assert_int_equal(m1.cur_len, m0.cur_len);
}

#if ED_WITH_ZSTD
/* Fills b (begun) with about len bytes of CSV-like records. */
static void fill_csv(ed_batch_builder *b, size_t len)
{
    char v[96];
    for (int i = 0; (size_t)i * 60 < len; i++) {
        int n = snprintf(v, sizeof v, "01 01 2018 %02d:%02d,%d.%04d,5.%06d,416.3289,%d.99", i % 24,
                         i % 60, 380 + i % 97, i % 9973, i * 7 % 999983, 250 + i % 31);
        assert_int_equal(ed_batch_builder_add(b, "T1", 2, v, (size_t)n, NULL, 0, 1000 + i), ED_OK);
    }
}

/* Builders sharing one codec hold one zstd context between them; a capped
 * table log keeps that context well below the level's own for a 1 MiB
 * batch, and the batch still reads back; trim gives every buffer back. */
static void test_build_shared_small_zstd(void **state)
{
    (void)state;
    struct ed_mem_stats m0, m1, m2;
    size_t held[2];
    for (int capped = 0; capped < 2; capped++) {
        struct ed_codec codec;
        memset(&codec, 0, sizeof codec);
        codec.zstd_table_log = capped ? 15 : 0;
        ed_batch_builder *b[3];
        ed_mem_stats_get(&m0);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(ed_batch_builder_new(1 << 20, &b[i]), ED_OK);
            ed_batch_builder_set_codec(b[i], &codec);
            assert_int_equal(ed_batch_builder_begin(b[i], ED_COMPRESSION_ZSTD, 1, 9, 0, 0), ED_OK);
            fill_csv(b[i], 1000000);
            uint8_t *out;
            size_t len;
            assert_int_equal(ed_batch_builder_finish(b[i], &out, &len), ED_OK);
            struct ed_batch_info info;
            assert_int_equal(ed_batch_check(out, len, &info), ED_OK);
            assert_int_equal(ed_batch_compression(&info), ED_COMPRESSION_ZSTD);
            assert_true(len < 1000000 / 2);
            struct ed_batch_iter it;
            ed_batch_iter_init(&it, 4u << 20);
            assert_int_equal(ed_batch_iter_begin(&it, out, len), ED_OK);
            struct ed_record rec;
            int32_t n = 0;
            while (ed_batch_iter_next(&it, &rec) == 1)
                n++;
            assert_int_equal(n, info.record_count);
            ed_batch_iter_release(&it);
        }
        ed_mem_stats_get(&m1);
        /* three builders of 1 MiB batches (records, compressed copy) and
         * one context: no context per builder */
        held[capped] = m1.cur_len - m0.cur_len;
        assert_true(held[capped] < 3 * (2u << 20) + (1400u << 10));
        for (int i = 0; i < 3; i++)
            ed_batch_builder_trim(b[i]);
        ed_codec_release(&codec);
        ed_mem_stats_get(&m2);
        assert_true(m2.cur_len - m0.cur_len < 3 * 1024); /* the builders themselves */
        for (int i = 0; i < 3; i++)
            ed_batch_builder_free(b[i]);
    }
    /* the capped context is more than 0.5 MB smaller */
    assert_true(held[0] > held[1] + (512u << 10));
}
#endif

static void test_build_limits(void **state)
{
    (void)state;
    ed_batch_builder *b;
    uint8_t *out;
    size_t len;
    char val[200];
    memset(val, 'x', sizeof val);
    assert_int_equal(ed_batch_builder_new(100, &b), ED_ERR_INVAL);
    assert_int_equal(ed_batch_builder_new(1000, &b), ED_OK);
    assert_int_equal(ed_batch_builder_add(b, NULL, 0, "v", 1, NULL, 0, 5), ED_ERR_INVAL);
    assert_int_equal(ed_batch_builder_begin(b, 9, 0, -1, -1, -1), ED_ERR_UNSUPPORTED);
    assert_int_equal(ed_batch_builder_begin(b, ED_COMPRESSION_NONE, 42, -1, -1, -1), ED_OK);
    assert_int_equal(ed_batch_builder_finish(b, &out, &len), ED_ERR_INVAL); /* empty */
    int n = 0, rc;
    while ((rc = ed_batch_builder_add(b, NULL, 0, val, sizeof val, NULL, 0, -1)) == ED_OK)
        n++;
    assert_int_equal(rc, ED_ERR_TOOBIG);
    assert_int_equal(n, 4); /* 61 + 4 * ~207 <= 1000 < 61 + 5 * ~207 */
    assert_int_equal(ed_batch_builder_count(b), 4);
    assert_int_equal(ed_batch_builder_finish(b, &out, &len), ED_OK);
    assert_true(len <= 1000);
    struct ed_batch_info info;
    assert_int_equal(ed_batch_check(out, len, &info), ED_OK);
    assert_int_equal(info.record_count, 4);
    assert_int_equal(info.base_timestamp, 42); /* default timestamp */
    assert_int_equal(ed_batch_builder_add(b, NULL, 0, "v", 1, NULL, 0, 5), ED_ERR_INVAL);
    /* a record larger than a whole batch never fits */
    assert_int_equal(ed_batch_builder_begin(b, ED_COMPRESSION_SNAPPY, 0, -1, -1, -1), ED_OK);
    char big[2000];
    memset(big, 'y', sizeof big);
    assert_int_equal(ed_batch_builder_add(b, NULL, 0, big, sizeof big, NULL, 0, 1), ED_ERR_TOOBIG);
    assert_int_equal(ed_batch_builder_count(b), 0);
    /* incompressible data is stored uncompressed rather than grown */
    uint8_t noise[800];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (uint8_t)rnd();
    assert_int_equal(ed_batch_builder_add(b, NULL, 0, noise, sizeof noise, NULL, 0, 1), ED_OK);
    assert_int_equal(ed_batch_builder_finish(b, &out, &len), ED_OK);
    assert_int_equal(ed_batch_check(out, len, &info), ED_OK);
    assert_int_equal(ed_batch_compression(&info), ED_COMPRESSION_NONE);
    assert_true(len <= 1000);
    /* bad header arguments */
    assert_int_equal(ed_batch_builder_begin(b, ED_COMPRESSION_NONE, 0, -1, -1, -1), ED_OK);
    struct ed_record_header bad = {NULL, 3, NULL, -1};
    assert_int_equal(ed_batch_builder_add(b, NULL, 0, "v", 1, &bad, 1, 1), ED_ERR_INVAL);
    ed_batch_builder_free(b);
}

/* A stored batch whose records section is replaced by data (and header
 * fields set for it): for feeding the iterator crafted sections. */
static size_t craft_batch(uint8_t *out, int codec, const uint8_t *data, size_t len, int32_t count,
                          int32_t last_delta)
{
    memset(out, 0, ED_BATCH_HEADER_LEN);
    ed_put_be32(out + 8, (uint32_t)(ED_BATCH_HEADER_LEN + len - 12));
    out[16] = 2;
    ed_put_be16(out + 21, (uint16_t)codec);
    ed_put_be32(out + 23, (uint32_t)last_delta);
    ed_put_be64(out + 43, UINT64_MAX);
    ed_put_be16(out + 51, 0xffff);
    ed_put_be32(out + 53, 0xffffffffu);
    ed_put_be32(out + 57, (uint32_t)count);
    memcpy(out + ED_BATCH_HEADER_LEN, data, len);
    refresh_crc(out, ED_BATCH_HEADER_LEN + len);
    return ED_BATCH_HEADER_LEN + len;
}

/* Runs the iterator over a batch to the end: ED_OK or the first error. */
static int iterate_all(const uint8_t *batch, size_t len, size_t limit, int *n_records)
{
    struct ed_batch_iter it;
    struct ed_record r;
    int rc;
    *n_records = 0;
    ed_batch_iter_init(&it, limit);
    rc = ed_batch_iter_begin(&it, batch, len);
    if (rc == ED_OK) {
        while ((rc = ed_batch_iter_next(&it, &r)) == 1)
            (*n_records)++;
    }
    ed_batch_iter_release(&it);
    return rc;
}

static void test_iter_rejects_bad_records(void **state)
{
    (void)state;
    uint8_t b[512], c[512];
    int n;
    size_t len = raw_batch(b, 3, 1000);
    assert_int_equal(iterate_all(b, len, 4096, &n), ED_OK);
    assert_int_equal(n, 3);

    /* every truncation of the records section, with the header told the
     * shorter length and a fresh CRC, fails cleanly in check or iteration */
    for (size_t cut = ED_BATCH_HEADER_LEN; cut < len; cut++) {
        memcpy(c, b, cut);
        ed_put_be32(c + 8, (uint32_t)(cut - 12));
        refresh_crc(c, cut);
        assert_true(iterate_all(c, cut, 4096, &n) < 0);
    }
    /* every single byte of the records section changed (CRC fixed up): no
     * crash, no overread; the result is either an error or records */
    for (size_t pos = ED_BATCH_HEADER_LEN; pos < len; pos++) {
        for (int v = 0; v < 256; v += 17) {
            memcpy(c, b, len);
            c[pos] = (uint8_t)v;
            refresh_crc(c, len);
            (void)iterate_all(c, len, 4096, &n);
        }
    }
    /* a trailing byte after the last record */
    uint8_t rec[256];
    size_t rl = raw_record(rec, 0, 0);
    rec[rl] = 0;
    len = craft_batch(c, ED_COMPRESSION_NONE, rec, rl + 1, 1, 0);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_ERR_CORRUPT);
    len = craft_batch(c, ED_COMPRESSION_NONE, rec, rl, 1, 0);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_OK);
    /* offset deltas must ascend */
    size_t r2 = raw_record(rec, 0, 0);
    r2 += raw_record(rec + r2, 0, 0); /* two records with delta 0 */
    len = craft_batch(c, ED_COMPRESSION_NONE, rec, r2, 2, 1);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_ERR_CORRUPT);
    assert_int_equal(n, 1);
    /* delta beyond lastOffsetDelta */
    r2 = raw_record(rec, 0, 0);
    r2 += raw_record(rec + r2, 5, 0);
    len = craft_batch(c, ED_COMPRESSION_NONE, rec, r2, 2, 4);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_ERR_CORRUPT);
    len = craft_batch(c, ED_COMPRESSION_NONE, rec, r2, 2, 5); /* compacted: a gap is fine */
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_OK);
    /* empty batch with bytes in it */
    len = craft_batch(c, ED_COMPRESSION_NONE, rec, 8, 0, 0);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_ERR_CORRUPT);
    len = craft_batch(c, ED_COMPRESSION_NONE, rec, 0, 0, 0);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_OK);
    assert_int_equal(n, 0);
    /* negative header count, key length -2 */
    static const uint8_t neg_headers[] = {0x0c, 0, 0, 0, 0x01, 0x01, 0x01};
    len = craft_batch(c, ED_COMPRESSION_NONE, neg_headers, sizeof neg_headers, 1, 0);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_ERR_CORRUPT);
    static const uint8_t key_m2[] = {0x0c, 0, 0, 0, 0x03, 0x01, 0x00};
    len = craft_batch(c, ED_COMPRESSION_NONE, key_m2, sizeof key_m2, 1, 0);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_ERR_CORRUPT);
    static const uint8_t minimal[] = {0x0c, 0, 0, 0, 0x01, 0x01, 0x00};
    len = craft_batch(c, ED_COMPRESSION_NONE, minimal, sizeof minimal, 1, 0);
    assert_int_equal(iterate_all(c, len, 4096, &n), ED_OK);
    assert_int_equal(n, 1);
}

static void test_log_append_time_records(void **state)
{
    (void)state;
    uint8_t b[512];
    size_t len = raw_batch(b, 3, 1000);
    ed_batch_stamp(b, 10, 0, 99999);
    struct ed_batch_iter it;
    struct ed_record r;
    ed_batch_iter_init(&it, 4096);
    assert_int_equal(ed_batch_iter_begin(&it, b, len), ED_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ed_batch_iter_next(&it, &r), 1);
        assert_int_equal(r.offset, 10 + i);
        assert_int_equal(r.timestamp, 99999);
    }
    assert_int_equal(ed_batch_iter_next(&it, &r), 0);
    ed_batch_iter_release(&it);
}

/* Records of a batch as raw bytes, to compress with reference libraries. */
static size_t raw_section(uint8_t *out, int n)
{
    size_t pos = 0;
    for (int i = 0; i < n; i++)
        pos += raw_record(out + pos, i, i * 10);
    return pos;
}

static void test_reference_compressors(void **state)
{
    (void)state;
    enum { N = 400 };
    uint8_t *sec = malloc(N * 40), *z = malloc(N * 80), *b = malloc(N * 80 + 64);
    assert_non_null(sec);
    assert_non_null(z);
    assert_non_null(b);
    size_t sec_len = raw_section(sec, N), z_len, len;
    int n;
#if ED_WITH_GZIP
    { /* zlib's gzip, as two concatenated members as Java may read them */
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        size_t half = sec_len / 2;
        z_len = 0;
        for (int part = 0; part < 2; part++) {
            assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
            zs.next_in = sec + (part ? half : 0);
            zs.avail_in = (uInt)(part ? sec_len - half : half);
            zs.next_out = z + z_len;
            zs.avail_out = (uInt)(N * 80 - z_len);
            assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
            z_len = (size_t)(zs.next_out - z);
            deflateEnd(&zs);
        }
        len = craft_batch(b, ED_COMPRESSION_GZIP, z, z_len, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_OK);
        assert_int_equal(n, N);
        /* limit just below the section: refused, never truncated */
        assert_int_equal(iterate_all(b, len, sec_len - 1, &n), ED_ERR_TOOBIG);
        assert_int_equal(iterate_all(b, len, sec_len, &n), ED_OK);
        /* trailing garbage after the gzip stream */
        z[z_len] = 0x55;
        len = craft_batch(b, ED_COMPRESSION_GZIP, z, z_len + 1, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_ERR_CORRUPT);
        /* truncated stream */
        len = craft_batch(b, ED_COMPRESSION_GZIP, z, z_len - 5, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_ERR_CORRUPT);
        /* Eddy's gzip output read by zlib */
        struct ed_codec codec = {0};
        size_t ol;
        assert_int_equal(ed_codec_compress(&codec, ED_COMPRESSION_GZIP, 0, sec, sec_len, z,
                                           ed_codec_compress_bound(ED_COMPRESSION_GZIP, sec_len),
                                           &z_len),
                         ED_OK);
        uint8_t *back = malloc(sec_len);
        memset(&zs, 0, sizeof zs);
        assert_int_equal(inflateInit2(&zs, 31), Z_OK);
        zs.next_in = z;
        zs.avail_in = (uInt)z_len;
        zs.next_out = back;
        zs.avail_out = (uInt)sec_len;
        assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
        ol = (size_t)(zs.next_out - back);
        inflateEnd(&zs);
        assert_int_equal(ol, sec_len);
        assert_memory_equal(back, sec, sec_len);
        free(back);
        ed_codec_release(&codec);
    }
#endif
#if ED_WITH_LZ4
    { /* liblz4's frame API with every checksum and linked blocks */
        LZ4F_preferences_t prefs;
        memset(&prefs, 0, sizeof prefs);
        prefs.frameInfo.blockSizeID = LZ4F_max64KB;
        prefs.frameInfo.blockMode = LZ4F_blockLinked;
        prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
        prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
        prefs.frameInfo.contentSize = sec_len;
        z_len = LZ4F_compressFrame(z, N * 80, sec, sec_len, &prefs);
        assert_false(LZ4F_isError(z_len));
        len = craft_batch(b, ED_COMPRESSION_LZ4, z, z_len, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_OK);
        assert_int_equal(n, N);
        assert_int_equal(iterate_all(b, len, sec_len - 1, &n), ED_ERR_TOOBIG);
        /* a flipped byte in the data is caught by a checksum */
        z[z_len / 2] ^= 0x10;
        len = craft_batch(b, ED_COMPRESSION_LZ4, z, z_len, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_ERR_CORRUPT);
        /* plain frame, independent blocks, no checksums */
        memset(&prefs, 0, sizeof prefs);
        prefs.frameInfo.blockMode = LZ4F_blockIndependent;
        z_len = LZ4F_compressFrame(z, N * 80, sec, sec_len, &prefs);
        len = craft_batch(b, ED_COMPRESSION_LZ4, z, z_len, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_OK);
        /* dictionary id flag: not something Eddy can decode */
        uint8_t dict_frame[] = {0x04, 0x22, 0x4d, 0x18, 0x61, 0x40, 0, 0, 0, 0, 0};
        dict_frame[10] = 0; /* header checksum irrelevant: refused before */
        len = craft_batch(b, ED_COMPRESSION_LZ4, dict_frame, sizeof dict_frame, 1, 0);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_ERR_UNSUPPORTED);
        /* Eddy's LZ4 frame read by liblz4 */
        struct ed_codec codec = {0};
        assert_int_equal(ed_codec_compress(&codec, ED_COMPRESSION_LZ4, 0, sec, sec_len, z,
                                           ed_codec_compress_bound(ED_COMPRESSION_LZ4, sec_len),
                                           &z_len),
                         ED_OK);
        LZ4F_dctx *d;
        assert_false(LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
        uint8_t *back = malloc(sec_len + 1);
        size_t dst_len = sec_len + 1, src_len = z_len;
        size_t r = LZ4F_decompress(d, back, &dst_len, z, &src_len, NULL);
        assert_int_equal(r, 0); /* frame complete */
        assert_int_equal(dst_len, sec_len);
        assert_memory_equal(back, sec, sec_len);
        LZ4F_freeDecompressionContext(d);
        free(back);
        ed_codec_release(&codec);
    }
#endif
#if ED_WITH_ZSTD
    { /* libzstd, with and without the content size in the frame */
        z_len = ZSTD_compress(z, N * 80, sec, sec_len, 3);
        assert_false(ZSTD_isError(z_len));
        len = craft_batch(b, ED_COMPRESSION_ZSTD, z, z_len, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_OK);
        assert_int_equal(n, N);
        assert_int_equal(iterate_all(b, len, sec_len - 1, &n), ED_ERR_TOOBIG);
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        z_len = ZSTD_compress2(cc, z, N * 80, sec, sec_len);
        ZSTD_freeCCtx(cc);
        assert_int_equal(ed_codec_size_hint(ED_COMPRESSION_ZSTD, z, z_len), 0);
        len = craft_batch(b, ED_COMPRESSION_ZSTD, z, z_len, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_OK);
        assert_int_equal(n, N);
        len = craft_batch(b, ED_COMPRESSION_ZSTD, z, z_len - 1, N, N - 1);
        assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_ERR_CORRUPT);
    }
#endif
    /* codecs not built in are refused, whatever the bytes */
    struct ed_codec none = {0};
    size_t ol;
    for (size_t c = 1; c < ED_ARRAY_LEN(all_codecs); c++)
        if (!ed_codec_supported(all_codecs[c], false))
            assert_int_equal(
                ed_codec_decompress(&none, all_codecs[c], sec, sec_len, z, N * 80, &ol),
                ED_ERR_UNSUPPORTED);
    assert_int_equal(ed_codec_decompress(&none, 7, sec, sec_len, z, N * 80, &ol),
                     ED_ERR_UNSUPPORTED);
    ed_codec_release(&none);
    (void)z_len;
    (void)len;
    (void)n;
    free(sec);
    free(z);
    free(b);
}

/* A zip bomb: a small batch whose records inflate far beyond the limit is
 * refused with ED_ERR_TOOBIG, and memory stays near the limit. */
static void test_zip_bomb(void **state)
{
    (void)state;
    size_t big = 64u << 20, limit = 1u << 20;
    uint8_t *zeros = calloc(1, big), *z = malloc(1 << 20), *b = malloc((1 << 20) + 64);
    assert_non_null(zeros);
    int n_bombs = 0;
    for (size_t c = 1; c < ED_ARRAY_LEN(all_codecs); c++) {
        int codec = all_codecs[c];
        if (!ed_codec_supported(codec, true)) continue;
        struct ed_codec enc = {0};
        size_t cap = ed_codec_compress_bound(codec, big), z_len;
        uint8_t *zz = malloc(cap);
        assert_non_null(zz);
        assert_int_equal(ed_codec_compress(&enc, codec, 0, zeros, big, zz, cap, &z_len), ED_OK);
        ed_codec_release(&enc);
        if (z_len > (1 << 20)) { /* lz4 and snappy cannot compress 64 MiB that far */
            free(zz);
            continue;
        }
        memcpy(z, zz, z_len);
        free(zz);
        size_t len = craft_batch(b, codec, z, z_len, 1000, 999);
        struct ed_mem_stats m0, m1;
        ed_mem_stats_get(&m0);
        int n;
        assert_int_equal(iterate_all(b, len, limit, &n), ED_ERR_TOOBIG);
        ed_mem_stats_get(&m1);
        assert_true(m1.peak_len - m0.cur_len < limit + (1u << 20)); /* buffer + contexts */
        n_bombs++;
    }
    assert_int_equal(n_bombs, ED_WITH_GZIP + ED_WITH_LZ4 + ED_WITH_ZSTD);
    free(zeros);
    free(z);
    free(b);
}

/* ---- validating every record ---- */

/* ed_batch_validate over a batch: the result, and the fault's record. */
static int validate(const uint8_t *b, size_t len, bool client, size_t limit, int32_t *record)
{
    struct ed_batch_validator v;
    struct ed_batch_fault f = {0, NULL};
    ed_batch_validator_init(&v, limit);
    int rc = ed_batch_validate(&v, b, len, client, NULL, &f);
    ed_batch_validator_release(&v);
    assert_true(rc == ED_OK ? f.why == NULL : f.why != NULL);
    if (record) *record = f.record;
    return rc;
}

/* A batch compressed with the code's own compressor (0 if not built in). */
static size_t compressed_batch(uint8_t *out, int codec, const uint8_t *sec, size_t sec_len,
                               int32_t count, int32_t last_delta)
{
    struct ed_codec enc = {0};
    size_t bound = ed_codec_compress_bound(codec, sec_len), z_len = 0;
    uint8_t *z = malloc(bound + 1);
    int rc = ed_codec_compress(&enc, codec, 0, sec, sec_len, z, bound, &z_len);
    ed_codec_release(&enc);
    size_t len = rc == ED_OK ? craft_batch(out, codec, z, z_len, count, last_delta) : 0;
    free(z);
    return len;
}

/* The malformed batches of issue reports, each with a valid CRC: refused
 * (the record named where there is one), while ed_batch_check, which only
 * looks at the header and CRC, takes them all. */
static void test_validate_poisoned(void **state)
{
    (void)state;
    uint8_t sec[512], b[1024];
    size_t len, n;
    int32_t rec;
    struct ed_batch_info bi;

    /* a good one, each codec, both modes */
    n = raw_section(sec, 3);
    for (size_t c = 0; c < ED_ARRAY_LEN(all_codecs); c++) {
        if (!ed_codec_supported(all_codecs[c], true)) continue;
        len = c ? compressed_batch(b, all_codecs[c], sec, n, 3, 2)
                : craft_batch(b, ED_COMPRESSION_NONE, sec, n, 3, 2);
        assert_int_equal(validate(b, len, true, 1 << 20, NULL), ED_OK);
        assert_int_equal(validate(b, len, false, 1 << 20, NULL), ED_OK);
    }

    /* garbage record bytes */
    for (size_t i = 0; i < 40; i++)
        sec[i] = (uint8_t)(0x9d * i + 0x35);
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, 40, 1, 0);
    assert_int_equal(ed_batch_check(b, len, &bi), ED_OK);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    assert_int_equal(rec, 0);

    /* a record whose length lies: longer, then shorter than its fields */
    n = raw_section(sec, 2);
    sec[0] = (uint8_t)(sec[0] + 2);
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, n, 2, 1);
    assert_int_equal(ed_batch_check(b, len, &bi), ED_OK);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    sec[0] = (uint8_t)(sec[0] - 4);
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, n, 2, 1);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    assert_int_equal(rec, 0);
    size_t first = raw_record(sec, 0, 0);
    n = first + raw_record(sec + first, 1, 0);
    sec[first] = (uint8_t)(sec[first] + 2); /* the second record's */
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, n, 2, 1);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    assert_int_equal(rec, 1);

    /* the gzip flag on data that is not gzip */
    n = raw_section(sec, 2);
    len = craft_batch(b, ED_COMPRESSION_GZIP, sec, n, 2, 1);
    assert_int_equal(ed_batch_check(b, len, &bi), ED_OK);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec),
                     ED_WITH_GZIP ? ED_ERR_CORRUPT : ED_ERR_UNSUPPORTED);
    assert_int_equal(rec, -1);

    /* two records in a batch whose header says one */
    n = raw_section(sec, 2);
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, n, 1, 0);
    assert_int_equal(ed_batch_check(b, len, &bi), ED_OK);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    assert_int_equal(validate(b, len, false, 1 << 20, NULL), ED_ERR_CORRUPT);
    for (size_t c = 1; c < ED_ARRAY_LEN(all_codecs); c++) {
        if (!ed_codec_supported(all_codecs[c], true)) continue;
        len = compressed_batch(b, all_codecs[c], sec, n, 1, 0);
        assert_int_equal(ed_batch_check(b, len, &bi), ED_OK);
        assert_int_equal(validate(b, len, true, 1 << 20, NULL), ED_ERR_CORRUPT);
    }
    /* ... and one record where it says two */
    n = raw_section(sec, 1);
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, n, 2, 1);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    assert_int_equal(rec, 1);

    /* record count and lastOffsetDelta disagree: a client may not, a
     * compacted batch may */
    n = raw_section(sec, 2);
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, n, 2, 2);
    assert_int_equal(validate(b, len, true, 1 << 20, NULL), ED_ERR_INVAL);
    assert_int_equal(validate(b, len, false, 1 << 20, NULL), ED_OK);

    /* offset deltas not 0..n-1 in order: 0, 0 */
    first = raw_record(sec, 0, 0);
    n = first + raw_record(sec + first, 0, 0);
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, n, 2, 1);
    assert_int_equal(ed_batch_check(b, len, &bi), ED_OK);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    assert_int_equal(rec, 1);
    /* 1, 2 with a gap before them: a client's must start at 0 */
    first = raw_record(sec, 1, 0);
    n = first + raw_record(sec + first, 2, 0);
    len = craft_batch(b, ED_COMPRESSION_NONE, sec, n, 2, 2);
    assert_int_equal(validate(b, len, false, 1 << 20, NULL), ED_OK);
    ed_put_be32(b + 23, 1);
    refresh_crc(b, len);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    assert_int_equal(rec, 0);

    /* a bad varint: the key length over-long (11 bytes), then truncated by
     * the record's end */
    static const uint8_t long_key[] = {0x1c, 0,    0,    0,    0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x00};
    len = craft_batch(b, ED_COMPRESSION_NONE, long_key, sizeof long_key, 1, 0);
    assert_int_equal(ed_batch_check(b, len, &bi), ED_OK);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    static const uint8_t cut_key[] = {0x08, 0, 0, 0, 0x81, 0x81, 0x81};
    len = craft_batch(b, ED_COMPRESSION_NONE, cut_key, sizeof cut_key, 1, 0);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);

    /* a header count that lies: 3 announced, 1 there */
    static const uint8_t few_headers[] = {0x16, 0,    0,   0,    0x01, 0x01,
                                          0x06, 0x02, 'h', 0x02, 'v',  0x00};
    len = craft_batch(b, ED_COMPRESSION_NONE, few_headers, sizeof few_headers, 1, 0);
    assert_int_equal(ed_batch_check(b, len, &bi), ED_OK);
    assert_int_equal(validate(b, len, true, 1 << 20, &rec), ED_ERR_CORRUPT);
    static const uint8_t one_header[] = {0x16, 0,    0,   0,    0x01, 0x01,
                                         0x02, 0x02, 'h', 0x02, 'v',  0x00};
    len = craft_batch(b, ED_COMPRESSION_NONE, one_header, sizeof one_header, 1, 0);
    assert_int_equal(validate(b, len, true, 1 << 20, NULL), ED_ERR_CORRUPT); /* byte left */
    len = craft_batch(b, ED_COMPRESSION_NONE, one_header, sizeof one_header - 1, 1, 0);
    b[ED_BATCH_HEADER_LEN] = 0x14; /* 10 bytes */
    refresh_crc(b, len);
    assert_int_equal(validate(b, len, true, 1 << 20, NULL), ED_OK);

    /* codec ids beyond zstd, and codecs not built in */
    n = raw_section(sec, 1);
    for (int codec = 0; codec < 8; codec++) {
        len = craft_batch(b, codec, sec, n, 1, 0);
        int rc = validate(b, len, true, 1 << 20, NULL);
        if (codec > ED_COMPRESSION_ZSTD)
            assert_int_equal(rc, ED_ERR_CORRUPT);
        else if (!ed_codec_supported(codec, false))
            assert_int_equal(rc, ED_ERR_UNSUPPORTED);
        else if (codec == ED_COMPRESSION_NONE)
            assert_int_equal(rc, ED_OK);
        else
            assert_true(rc < 0); /* plain bytes under a codec flag */
    }
}

/* The streaming walk and the iterator (which decompresses whole and parses
 * records in one piece) agree on every batch: records of every size across
 * the codecs' window boundaries, with every kind of damage compressed in. */
static void test_validate_agrees_with_iterator(void **state)
{
    (void)state;
    enum { N = 3000 };
    size_t cap = (size_t)N * 400;
    uint8_t *sec = malloc(cap), *b = malloc(cap * 2 + 64);
    size_t n = 0;
    for (int i = 0; i < N; i++) { /* values of 0..700 bytes, some headers */
        uint8_t body[1024];
        size_t k = 0;
        int vl = (int)(rnd() % 700);
        body[k++] = 0;
        k += put_varlong(body + k, i);
        k += put_varlong(body + k, i);
        k += put_varlong(body + k, i % 3 ? 2 : -1);
        if (i % 3) {
            body[k++] = 'k';
            body[k++] = (uint8_t)i;
        }
        k += put_varlong(body + k, vl);
        for (int j = 0; j < vl; j++)
            body[k++] = (uint8_t)(j * i);
        int nh = i % 4 == 0 ? 2 : 0;
        k += put_varlong(body + k, nh);
        for (int h = 0; h < nh; h++) {
            k += put_varlong(body + k, 1);
            body[k++] = 'h';
            k += put_varlong(body + k, h ? -1 : 1);
            if (!h) body[k++] = 'x';
        }
        n += put_varlong(sec + n, (int64_t)k);
        memcpy(sec + n, body, k);
        n += k;
    }
    assert_true(n < cap && n > 3 * ED_CODEC_STREAM_LEN);
    uint8_t *bad = malloc(n + 16);
    int trials = 0;
    for (size_t c = 0; c < ED_ARRAY_LEN(all_codecs); c++) {
        int codec = all_codecs[c];
        if (!ed_codec_supported(codec, true)) continue;
        for (int t = 0; t < 40; t++) {
            memcpy(bad, sec, n);
            size_t bl = n;
            int32_t count = N;
            if (t == 1) count = N - 1;
            if (t == 2) bl = n - 1;
            if (t > 2) bad[rnd() % n] = (uint8_t)rnd(); /* one byte anywhere */
            size_t len = codec ? compressed_batch(b, codec, bad, bl, count, count - 1)
                               : craft_batch(b, codec, bad, bl, count, count - 1);
            int n_it;
            int want = iterate_all(b, len, 1u << 30, &n_it);
            int got = validate(b, len, false, 1u << 30, NULL);
            if (t == 0) assert_int_equal(got, ED_OK);
            if (t == 1 || t == 2) assert_int_equal(got, ED_ERR_CORRUPT);
            assert_int_equal(got == ED_OK, want == ED_OK);
            trials++;
        }
    }
    assert_true(trials >= 40);
    free(bad);
    free(sec);
    free(b);
}

/* One record whose 64 MiB value is zeros, compressed to a few KiB: with a
 * smaller limit it is refused, with a larger one it passes; either way the
 * validator holds only its window, never the records. */
static void test_validate_bomb_bounded(void **state)
{
    (void)state;
    size_t big = 64u << 20;
    uint8_t *sec = calloc(1, big + 32), *b = malloc((4u << 20) + 64);
    size_t k = 0;
    uint8_t head[32];
    head[k++] = 0;                            /* attributes */
    k += put_varlong(head + k, 0);            /* timestamp delta */
    k += put_varlong(head + k, 0);            /* offset delta */
    k += put_varlong(head + k, -1);           /* null key */
    k += put_varlong(head + k, (int64_t)big); /* value length */
    size_t h = put_varlong(sec, (int64_t)(k + big + 1));
    memcpy(sec + h, head, k);
    size_t n = h + k + big + 1; /* the value is zeros; header count 0 */
    int n_bombs = 0;
    for (size_t c = 1; c < ED_ARRAY_LEN(all_codecs); c++) {
        int codec = all_codecs[c];
        if (!ed_codec_supported(codec, true) || codec == ED_COMPRESSION_SNAPPY) continue;
        size_t len = compressed_batch(b, codec, sec, n, 1, 0);
        if (len == 0 || len > (4u << 20)) continue;
        for (int pass = 0; pass < 2; pass++) {
            struct ed_mem_stats m0, m1;
            ed_mem_stats_get(&m0);
            int rc = validate(b, len, true, pass ? 128u << 20 : 1u << 20, NULL);
            ed_mem_stats_get(&m1);
            assert_int_equal(rc, pass ? ED_OK : ED_ERR_TOOBIG);
            assert_true(m1.peak_len - m0.cur_len < (9u << 20)); /* window + zstd window */
        }
        n_bombs++;
    }
    assert_int_equal(n_bombs, ED_WITH_GZIP + ED_WITH_LZ4 + ED_WITH_ZSTD);
    free(sec);
    free(b);
}

static void test_snappy_formats(void **state)
{
    (void)state;
    enum { N = 300 };
    uint8_t *sec = malloc(N * 40), *z = malloc(N * 80), *b = malloc(N * 80 + 64);
    size_t sec_len = raw_section(sec, N), len;
    int n;
    size_t blk = ed_snappy_compress(sec, sec_len, z);
    len = craft_batch(b, ED_COMPRESSION_SNAPPY, z, blk, N, N - 1);
    assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_OK);
    assert_int_equal(n, N);
    /* xerial framing, two chunks, as the Java client writes */
    uint8_t *x = malloc(N * 80);
    static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    memcpy(x, hdr, 16);
    size_t pos = 16, half = sec_len / 2;
    size_t c1 = ed_snappy_compress(sec, half, x + pos + 4);
    ed_put_be32(x + pos, (uint32_t)c1);
    pos += 4 + c1;
    size_t c2 = ed_snappy_compress(sec + half, sec_len - half, x + pos + 4);
    ed_put_be32(x + pos, (uint32_t)c2);
    pos += 4 + c2;
    assert_int_equal(ed_snappy_declared_len(x, pos), sec_len);
    len = craft_batch(b, ED_COMPRESSION_SNAPPY, x, pos, N, N - 1);
    assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_OK);
    assert_int_equal(n, N);
    /* chunk length past the end */
    ed_put_be32(x + 16 + 4 + c1, (uint32_t)c2 + 1);
    len = craft_batch(b, ED_COMPRESSION_SNAPPY, x, pos, N, N - 1);
    assert_int_equal(iterate_all(b, len, 1 << 20, &n), ED_ERR_CORRUPT);
    /* hand-made block: "abcabcabcabc" = literal "abc" + copy(offset 3, len 9) */
    static const uint8_t blk2[] = {12, 0x08, 'a', 'b', 'c', 0x15, 0x03};
    uint8_t out[16];
    size_t ol;
    assert_int_equal(ed_snappy_decompress_block(blk2, sizeof blk2, out, sizeof out, &ol), ED_OK);
    assert_int_equal(ol, 12);
    assert_memory_equal(out, "abcabcabcabc", 12);
    assert_int_equal(ed_snappy_decompress_block(blk2, sizeof blk2, out, 11, &ol), ED_ERR_TOOBIG);
    static const uint8_t bad_off[] = {12, 0x08, 'a', 'b', 'c', 0x15, 0x04}; /* before start */
    assert_int_equal(ed_snappy_decompress_block(bad_off, sizeof bad_off, out, 16, &ol),
                     ED_ERR_CORRUPT);
    static const uint8_t short_out[] = {13, 0x08, 'a', 'b', 'c', 0x15, 0x03}; /* says 13 */
    assert_int_equal(ed_snappy_decompress_block(short_out, sizeof short_out, out, 16, &ol),
                     ED_ERR_CORRUPT);
    free(sec);
    free(z);
    free(b);
    free(x);
}

/* Batches written by Apache Kafka's own client library (kafka-clients 3.9.2,
 * MemoryRecordsBuilder, the producer's batch writer), one per codec, with
 * the records of kafka_recs; the NONE and ZSTD ones idempotent (producer id
 * 4242, epoch 1, base sequence 7). The "-stamped" twins are what Kafka's
 * broker code makes of them with setLastOffset(1003),
 * setPartitionLeaderEpoch(5) and setMaxTimestamp(LOG_APPEND_TIME,
 * 1800000000000). Hex, generated for Eddy's tests. */
struct kafka_fixture {
    int codec;
    const char *hex, *stamped_hex;
};
static const struct kafka_fixture kafka_fixtures[] = {
    {ED_COMPRESSION_NONE,
     "00000000000000000000006dffffffff0261300dd70000000000030000018bcfe568000000018bcf"
     "e56864000000000000109200010000000700000004300000001073656e736f722d31147b2274223a"
     "32312e357d0022000e02010476310404683102780468320110000104046b3201000e00c801060000"
     "00",
     "00000000000003e80000006d0000000502074696e80008000000030000018bcfe56800000001a318"
     "5c5000000000000000109200010000000700000004300000001073656e736f722d31147b2274223a"
     "32312e357d0022000e02010476310404683102780468320110000104046b3201000e00c801060000"
     "00"},
    {ED_COMPRESSION_GZIP,
     "000000000000000000000080ffffffff02a0c2d55f0001000000030000018bcfe568000000018bcf"
     "e56864ffffffffffffffffffffffffffff000000041f8b08000000000000ff3360606010284ecd2b"
     "ce2fd23514a9562a51b23232d433ad655062e063626429336461c93064aa60c930621460606461c9"
     "366264e06338c1c806d4070016a3b4833c000000",
     "00000000000003e8000000800000000502a04529140009000000030000018bcfe56800000001a318"
     "5c5000ffffffffffffffffffffffffffff000000041f8b08000000000000ff3360606010284ecd2b"
     "ce2fd23514a9562a51b23232d433ad655062e063626429336461c93064aa60c930621460606461c9"
     "366264e06338c1c806d4070016a3b4833c000000"},
    {ED_COMPRESSION_SNAPPY,
     "000000000000000000000083ffffffff0235824a170002000000030000018bcfe568000000018bcf"
     "e56864ffffffffffffffffffffffffffff0000000482534e41505059000000000100000001000000"
     "3e3cec300000001073656e736f722d31147b2274223a32312e357d0022000e020104763104046831"
     "02780468320110000104046b3201000e00c80106000000",
     "00000000000003e8000000830000000502e1a0e7f1000a000000030000018bcfe56800000001a318"
     "5c5000ffffffffffffffffffffffffffff0000000482534e41505059000000000100000001000000"
     "3e3cec300000001073656e736f722d31147b2274223a32312e357d0022000e020104763104046831"
     "02780468320110000104046b3201000e00c80106000000"},
    {ED_COMPRESSION_LZ4,
     "00000000000000000000007cffffffff02fa301d980003000000030000018bcfe568000000018bcf"
     "e56864ffffffffffffffffffffffffffff0000000404224d186040823c000080300000001073656e"
     "736f722d31147b2274223a32312e357d0022000e0201047631040468310278046832011000010404"
     "6b3201000e00c8010600000000000000",
     "00000000000003e80000007c000000050293b94c75000b000000030000018bcfe56800000001a318"
     "5c5000ffffffffffffffffffffffffffff0000000404224d186040823c000080300000001073656e"
     "736f722d31147b2274223a32312e357d0022000e0201047631040468310278046832011000010404"
     "6b3201000e00c8010600000000000000"},
    {ED_COMPRESSION_ZSTD,
     "000000000000000000000079ffffffff0247e2857a0004000000030000018bcfe568000000018bcf"
     "e5686400000000000010920001000000070000000428b52ffd0058e00100300000001073656e736f"
     "722d31147b2274223a32312e357d0022000e02010476310404683102780468320110000104046b32"
     "01000e00c80106000000010000",
     "00000000000003e8000000790000000502c8b9ed09000c000000030000018bcfe56800000001a318"
     "5c500000000000000010920001000000070000000428b52ffd0058e00100300000001073656e736f"
     "722d31147b2274223a32312e357d0022000e02010476310404683102780468320110000104046b32"
     "01000e00c80106000000010000"},
};

static const struct want_rec kafka_recs[] = {
    {"sensor-1", "{\"t\":21.5}", 1700000000000, 0},
    {NULL, "v1", 1700000000007, 0}, /* headers h1=x, h2=null: checked below */
    {"k2", NULL, 1699999999999, 0},
    {"", "", 1700000000100, 0},
};

static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void test_kafka_client_batches(void **state)
{
    (void)state;
    uint8_t b[512], stamped[512];
    for (size_t f = 0; f < ED_ARRAY_LEN(kafka_fixtures); f++) {
        const struct kafka_fixture *kf = &kafka_fixtures[f];
        size_t len = unhex(b, sizeof b, kf->hex);
        assert_int_equal(unhex(stamped, sizeof stamped, kf->stamped_hex), len);
        struct ed_batch_info info;
        assert_int_equal(ed_batch_check(b, len, &info), ED_OK);
        assert_int_equal(ed_batch_total_len(&info), len);
        assert_int_equal(ed_batch_compression(&info), kf->codec);
        assert_int_equal(ed_batch_check_client(&info, NULL), ED_OK);
        assert_int_equal(info.record_count, 4);
        assert_int_equal(info.base_timestamp, 1700000000000);
        assert_int_equal(info.max_timestamp, 1700000000100);
        bool idem = kf->codec == ED_COMPRESSION_NONE || kf->codec == ED_COMPRESSION_ZSTD;
        assert_int_equal(info.producer_id, idem ? 4242 : -1);
        assert_int_equal(info.producer_epoch, idem ? 1 : -1);
        assert_int_equal(info.base_sequence, idem ? 7 : -1);

        struct ed_batch_iter it;
        struct ed_record r;
        ed_batch_iter_init(&it, 4096);
        if (!ed_codec_supported(kf->codec, false)) {
            /* built without the codec: the batch is valid, its records unreadable */
            assert_int_equal(ed_batch_iter_begin(&it, b, len), ED_ERR_UNSUPPORTED);
            assert_int_equal(ed_batch_iter_next(&it, &r), ED_ERR_UNSUPPORTED);
            ed_batch_stamp(b, 1000, 5, 1800000000000);
            assert_memory_equal(b, stamped, len);
            ed_batch_iter_release(&it);
            continue;
        }
        assert_int_equal(ed_batch_iter_begin(&it, b, len), ED_OK);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(ed_batch_iter_next(&it, &r), 1);
            assert_int_equal(r.offset, i);
            assert_int_equal(r.timestamp, kafka_recs[i].ts);
            assert_int_equal(r.key_len, kafka_recs[i].key ? (int)strlen(kafka_recs[i].key) : -1);
            assert_int_equal(r.value_len,
                             kafka_recs[i].value ? (int)strlen(kafka_recs[i].value) : -1);
            if (r.key_len > 0) assert_memory_equal(r.key, kafka_recs[i].key, (size_t)r.key_len);
            if (r.value_len > 0)
                assert_memory_equal(r.value, kafka_recs[i].value, (size_t)r.value_len);
            assert_int_equal(r.n_headers, i == 1 ? 2 : 0);
            if (i == 1) {
                size_t cur = 0;
                struct ed_record_header h;
                assert_int_equal(ed_record_next_header(&r, &cur, &h), 1);
                assert_int_equal(h.key_len, 2);
                assert_memory_equal(h.key, "h1", 2);
                assert_int_equal(h.value_len, 1);
                assert_memory_equal(h.value, "x", 1);
                assert_int_equal(ed_record_next_header(&r, &cur, &h), 1);
                assert_memory_equal(h.key, "h2", 2);
                assert_int_equal(h.value_len, -1);
                assert_int_equal(ed_record_next_header(&r, &cur, &h), 0);
            }
        }
        assert_int_equal(ed_batch_iter_next(&it, &r), 0);

        /* Eddy's stamp makes exactly the bytes Kafka's broker code makes */
        ed_batch_stamp(b, 1000, 5, 1800000000000);
        assert_memory_equal(b, stamped, len);
        assert_int_equal(ed_batch_iter_begin(&it, b, len), ED_OK);
        while (ed_batch_iter_next(&it, &r) == 1)
            assert_int_equal(r.timestamp, 1800000000000);
        ed_batch_iter_release(&it);
    }
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_known_answers),
        cmocka_unit_test(test_crc_paths_agree),
        cmocka_unit_test(test_crc_large),
        cmocka_unit_test(test_crc_clmul_agrees),
        cmocka_unit_test(test_check_hand_written),
        cmocka_unit_test(test_check_rules),
        cmocka_unit_test(test_check_every_bit_flip),
        cmocka_unit_test(test_check_truncations),
        cmocka_unit_test(test_stamp),
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_build_round_trip),
        cmocka_unit_test(test_build_limits),
        cmocka_unit_test(test_iter_rejects_bad_records),
        cmocka_unit_test(test_log_append_time_records),
        cmocka_unit_test(test_reference_compressors),
        cmocka_unit_test(test_zip_bomb),
        cmocka_unit_test(test_snappy_formats),
        cmocka_unit_test(test_validate_poisoned),
        cmocka_unit_test(test_validate_agrees_with_iterator),
        cmocka_unit_test(test_validate_bomb_bounded),
        cmocka_unit_test(test_kafka_client_batches),
#if ED_WITH_ZSTD
        /* last: it raises the high-water mark the bomb tests measure from */
        cmocka_unit_test(test_build_shared_small_zstd),
#endif
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
