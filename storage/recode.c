/* Re-encoding a producer's record batch with another codec: records
 * decompressed whole into a reusable buffer, compressed again after a copy
 * of the header whose codec bits, length and CRC are then set. */
#include "storage/recode.h"

#include <string.h>

#include "platform/mem.h"
#include "storage/format.h"

#define RAW_MIN_LEN (64u << 10)

void ed_recode_init(struct ed_recoder *r, size_t max_records_len)
{
    memset(r, 0, sizeof *r);
    r->max_len = max_records_len;
}

void ed_recode_release(struct ed_recoder *r)
{
    ed_codec_release(&r->codec);
    ed_free(r->raw);
    ed_free(r->out);
    size_t max_len = r->max_len;
    memset(r, 0, sizeof *r);
    r->max_len = max_len;
}

void ed_recode_trim(struct ed_recoder *r)
{
    if (r->raw_cap > ED_RECODE_KEEP_LEN) {
        ed_free(r->raw);
        r->raw = NULL;
        r->raw_cap = 0;
    }
    if (r->out_cap > ED_RECODE_KEEP_LEN) {
        ed_free(r->out);
        r->out = NULL;
        r->out_cap = 0;
    }
}

/* Makes *buf hold at least need bytes; the contents need not survive. */
static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return ED_OK;
    ed_free(*buf);
    *buf = ed_malloc(need);
    *cap = *buf ? need : 0;
    return *buf ? ED_OK : ED_ERR_NOMEM;
}

/* The records section of b decompressed into r->raw, trying sizes from the
 * stream's own hint (which may lie) up to r->max_len. */
static int inflate_records(struct ed_recoder *r, int codec, const uint8_t *src, size_t len,
                           size_t *raw_len)
{
    size_t want = ed_codec_size_hint(codec, src, len);
    if (want < len * 4) want = len * 4;
    if (want < RAW_MIN_LEN) want = RAW_MIN_LEN;
    if (r->raw_cap > want) want = r->raw_cap;
    for (;;) {
        if (want > r->max_len) want = r->max_len;
        int rc = reserve(&r->raw, &r->raw_cap, want);
        if (rc != ED_OK) return rc;
        rc = ed_codec_decompress(&r->codec, codec, src, len, r->raw, want, raw_len);
        if (rc != ED_ERR_TOOBIG || want >= r->max_len) return rc;
        want = want > r->max_len / 2 ? r->max_len : want * 2;
    }
}

int ed_recode_batch(struct ed_recoder *r, const uint8_t *buf, size_t len, int codec, int level,
                    uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    struct ed_batch_info b;
    int rc = ed_batch_check(buf, len, &b);
    if (rc != ED_OK) return rc;
    int from = ed_batch_compression(&b);
    if (from == codec) return ED_OK;
    if (ed_batch_is_control(&b) && from == ED_COMPRESSION_NONE) return ED_OK;
    if (!ed_codec_supported(codec, true) || !ed_codec_supported(from, false))
        return ED_ERR_UNSUPPORTED;

    const uint8_t *src = buf + ED_BATCH_OFF_RECORDS;
    size_t src_len = ed_batch_total_len(&b) - ED_BATCH_OFF_RECORDS;
    const uint8_t *raw = src;
    size_t raw_len = src_len;
    if (from != ED_COMPRESSION_NONE) {
        rc = inflate_records(r, from, src, src_len, &raw_len);
        if (rc != ED_OK) return rc == ED_ERR_TOOBIG || rc == ED_ERR_NOMEM ? rc : ED_ERR_CORRUPT;
        raw = r->raw;
    }
    size_t bound = ed_codec_compress_bound(codec, raw_len);
    if (bound > (size_t)INT32_MAX - ED_BATCH_OFF_RECORDS) return ED_ERR_TOOBIG;
    rc = reserve(&r->out, &r->out_cap, ED_BATCH_OFF_RECORDS + bound);
    if (rc != ED_OK) return rc;
    size_t z = 0;
    rc = ed_codec_compress(&r->codec, codec, level, raw, raw_len, r->out + ED_BATCH_OFF_RECORDS,
                           bound, &z);
    if (rc != ED_OK) return rc;

    uint8_t *o = r->out;
    size_t total = ED_BATCH_OFF_RECORDS + z;
    memcpy(o, buf, ED_BATCH_OFF_RECORDS);
    ed_put_be32(o + ED_BATCH_OFF_LENGTH, (uint32_t)(total - ED_BATCH_LOG_OVERHEAD));
    ed_put_be16(o + ED_BATCH_OFF_ATTRIBUTES,
                (uint16_t)((b.attributes & ~ED_BATCH_ATTR_COMPRESSION_MASK) | codec));
    ed_put_be32(o + ED_BATCH_OFF_CRC,
                ed_crc32c(0, o + ED_BATCH_OFF_ATTRIBUTES, total - ED_BATCH_OFF_ATTRIBUTES));
    *out = o;
    *out_len = total;
    return ED_OK;
}
