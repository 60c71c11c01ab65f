/* libFuzzer target for RecordBatch v2 input: ed_batch_check and full record
 * iteration (with decompression bounded to 1 MiB) over arbitrary bytes read
 * as a run of batches; the same bytes with a valid CRC patched in, so that
 * the record and codec decoders are reached; and each codec's decompressor
 * on its own. */
#include <string.h>

#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "storage/format.h"

#define LIMIT (1u << 20)

static struct ed_batch_iter it;
static struct ed_codec codec;
static uint8_t out[64 * 1024];
static bool ready;

/* Reads every record; touching the bytes lets ASan see any overread. */
static void read_batch(const uint8_t *buf, size_t len)
{
    struct ed_record r;
    if (ed_batch_iter_begin(&it, buf, len) != ED_OK) return;
    volatile uint8_t sink = 0;
    while (ed_batch_iter_next(&it, &r) == 1) {
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        ed_batch_iter_init(&it, LIMIT);
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
    }
    return 0;
}
