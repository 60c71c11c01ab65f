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
#include "storage/crc32c.h"
#include "storage/format.h"

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
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
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
    assert_true(strcmp(impl, "sse4.2") == 0 || strcmp(impl, "armv8") == 0 ||
                strcmp(impl, "sw") == 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_known_answers), cmocka_unit_test(test_crc_paths_agree),
        cmocka_unit_test(test_crc_large),         cmocka_unit_test(test_check_hand_written),
        cmocka_unit_test(test_check_rules),       cmocka_unit_test(test_check_every_bit_flip),
        cmocka_unit_test(test_check_truncations), cmocka_unit_test(test_stamp),
    };
    return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
