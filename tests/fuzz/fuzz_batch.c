/* libFuzzer target for RecordBatch v2 input: ed_batch_check, full record
 * iteration (with decompression bounded to 1 MiB), the same batch read in
 * pieces (ed_batch_iter_begin_read, which must agree) and the streaming record
 * validator (ed_batch_validate, both rules) over arbitrary bytes read as a
 * run of batches; the same bytes with a valid CRC patched in, so that the
 * record and codec decoders are reached; each codec's decompressor on its
 * own, single-shot and streamed. The validator must agree with the
 * iterator, which decompresses whole and parses records in one piece; a
 * batch the iterator reads is re-encoded (storage/recode.c) to another
 * codec, which must keep its header fields. */
#include <string.h>

#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "storage/format.h"
#include "storage/recode.h"

#define LIMIT (1u << 20)

static struct ed_batch_iter it, it2;
static struct ed_batch_validator val;
static struct ed_codec codec;
static struct ed_recoder recoder;
static uint8_t out[64 * 1024];
static bool ready;

/* The validator's verdict against the iterator's: the same, except where
 * the validator is documented to differ (LZ4 content checksums are not
 * verified while streaming; a zstd window above the streaming bound;
 * libzstd's streaming decoder takes a few malformed frames its one-shot
 * decoder refuses, e.g. an empty RLE block without its byte). */
static void cross_check(const uint8_t *buf, size_t len, int iter_rc)
{
    struct ed_batch_fault f;
    struct ed_batch_info info;
    int rc = ed_batch_validate(&val, buf, len, false, &info, &f);
    if ((rc == ED_OK) != (f.why == NULL)) __builtin_trap();
    if (ed_batch_validate(&val, buf, len, true, NULL, &f) == ED_OK && rc != ED_OK)
        __builtin_trap(); /* the client rules are stricter, never looser */
    if (rc == ED_ERR_UNSUPPORTED) return;
    if (iter_rc == ED_OK && rc != ED_OK) __builtin_trap();
    int comp = ed_batch_compression(&info);
    if (rc == ED_OK && iter_rc != ED_OK && comp != ED_COMPRESSION_LZ4 &&
        comp != ED_COMPRESSION_ZSTD)
        __builtin_trap();
}

static int stream_sink(void *arg, const uint8_t *p, size_t n)
{
    volatile uint8_t *x = arg;
    *x ^= p[0] ^ p[n - 1];
    return ED_OK;
}

/* The batch re-encoded with the codec len picks: a valid batch whose
 * header says the same as the original's. */
static void recode_check(const uint8_t *buf, size_t len)
{
    uint8_t *o;
    size_t olen;
    int to = (int)(len % 5);
    if (ed_recode_batch(&recoder, buf, len, to, 1, &o, &olen) != ED_OK || !o) return;
    struct ed_batch_info a, b;
    if (ed_batch_check(buf, len, &a) != ED_OK || ed_batch_check(o, olen, &b) != ED_OK)
        __builtin_trap();
    if (ed_batch_compression(&b) != to || b.record_count != a.record_count ||
        b.producer_id != a.producer_id || b.base_sequence != a.base_sequence ||
        b.max_timestamp != a.max_timestamp || (b.attributes & ~7) != (a.attributes & ~7))
        __builtin_trap();
    ed_recode_trim(&recoder);
}

static int read_mem(void *arg, size_t at, uint8_t *b, size_t n)
{
    memcpy(b, (const uint8_t *)arg + at, n);
    return ED_OK;
}

/* The batch read in pieces (ed_batch_iter_begin_read): where both reads
 * succeed, the records section comes out the same. */
static void pieces_check(const uint8_t *buf, size_t len, int whole_rc)
{
    if (len < ED_BATCH_HEADER_LEN) return;
    int rc = ed_batch_iter_begin_read(&it2, buf, len, read_mem, (void *)(uintptr_t)buf);
    if (rc == ED_OK && whole_rc == ED_OK &&
        (it2.end - it2.pos != it.end - it.pos ||
         memcmp(it2.pos, it.pos, (size_t)(it.end - it.pos))))
        __builtin_trap();
    if (rc == ED_OK && whole_rc != ED_OK && whole_rc != ED_ERR_CORRUPT) __builtin_trap();
}

/* Reads every record; touching the bytes lets ASan see any overread. */
static void read_batch(const uint8_t *buf, size_t len)
{
    struct ed_record r;
    int rc = ed_batch_iter_begin(&it, buf, len);
    pieces_check(buf, len, rc);
    if (rc != ED_OK) {
        cross_check(buf, len, rc);
        return;
    }
    volatile uint8_t sink = 0;
    while ((rc = ed_batch_iter_next(&it, &r)) == 1) {
        if (r.key_len > 0) sink ^= r.key[0] ^ r.key[r.key_len - 1];
        if (r.value_len > 0) sink ^= r.value[0] ^ r.value[r.value_len - 1];
        size_t cur = 0;
        struct ed_record_header h;
        while (ed_record_next_header(&r, &cur, &h) == 1) {
            if (h.key_len > 0) sink ^= h.key[h.key_len - 1];
            if (h.value_len > 0) sink ^= h.value[h.value_len - 1];
        }
    }
    (void)sink;
    cross_check(buf, len, rc);
    if (rc == 0) recode_check(buf, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        ed_batch_iter_init(&it, LIMIT);
        ed_batch_iter_init(&it2, LIMIT);
        ed_batch_validator_init(&val, LIMIT);
        ed_recode_init(&recoder, LIMIT);
        ready = true;
    }
    /* 1: as found in a segment: batches back to back */
    size_t pos = 0;
    struct ed_batch_info info;
    while (pos < size && ed_batch_check(data + pos, size - pos, &info) == ED_OK) {
        read_batch(data + pos, ed_batch_total_len(&info));
        pos += ed_batch_total_len(&info);
    }
    /* 2: one batch with length, magic and CRC made right */
    if (size >= ED_BATCH_HEADER_LEN && size <= 16 * 1024 * 1024) {
        uint8_t *copy = ed_malloc(size);
        if (copy) {
            memcpy(copy, data, size);
            ed_put_be32(copy + ED_BATCH_OFF_LENGTH, (uint32_t)(size - ED_BATCH_LOG_OVERHEAD));
            copy[ED_BATCH_OFF_MAGIC] = ED_BATCH_MAGIC;
            ed_put_be32(copy + ED_BATCH_OFF_CRC, ed_crc32c(0, copy + ED_BATCH_OFF_ATTRIBUTES,
                                                           size - ED_BATCH_OFF_ATTRIBUTES));
            read_batch(copy, size);
            /* stamping a valid batch keeps it valid */
            if (ed_batch_check(copy, size, &info) == ED_OK) {
                ed_batch_stamp(copy, 1000, 1, 1700000000000);
                if (ed_batch_check(copy, size, &info) != ED_OK) __builtin_trap();
            }
            ed_free(copy);
        }
    }
    /* 3: a codec on raw input: first byte picks it */
    if (size >= 1) {
        size_t n;
        int rc = ed_codec_decompress(&codec, data[0] % 5, data + 1, size - 1, out, sizeof out, &n);
        if (rc == ED_OK && n > sizeof out) __builtin_trap();
        volatile uint8_t x = 0;
        (void)ed_codec_decompress_stream(&codec, data[0] % 5, data + 1, size - 1, LIMIT,
                                         stream_sink, (void *)&x);
    }
    return 0;
}
