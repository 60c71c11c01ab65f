/* RecordBatch v2: header decoding, validation, in-place stamping of offsets
 * and timestamps. Layout and offsets in storage/format.h. */
#include <string.h>

#define ED_LOG_MODULE "batch"
#include "platform/log.h"
#include "storage/batch.h"
#include "storage/format.h"

int ed_batch_parse_header(const uint8_t *buf, size_t len, struct ed_batch_info *out)
{
    if (len < ED_BATCH_HEADER_LEN) return ED_ERR_CORRUPT;
    int32_t length = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_LENGTH);
    if (length < ED_BATCH_MIN_LENGTH || buf[ED_BATCH_OFF_MAGIC] != ED_BATCH_MAGIC)
        return ED_ERR_CORRUPT;
    out->base_offset = (int64_t)ed_get_be64(buf + ED_BATCH_OFF_BASE_OFFSET);
    out->length = length;
    out->leader_epoch = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_LEADER_EPOCH);
    out->crc = ed_get_be32(buf + ED_BATCH_OFF_CRC);
    out->attributes = (int16_t)ed_get_be16(buf + ED_BATCH_OFF_ATTRIBUTES);
    out->last_offset_delta = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_LAST_OFFSET_DELTA);
    out->base_timestamp = (int64_t)ed_get_be64(buf + ED_BATCH_OFF_BASE_TIMESTAMP);
    out->max_timestamp = (int64_t)ed_get_be64(buf + ED_BATCH_OFF_MAX_TIMESTAMP);
    out->producer_id = (int64_t)ed_get_be64(buf + ED_BATCH_OFF_PRODUCER_ID);
    out->producer_epoch = (int16_t)ed_get_be16(buf + ED_BATCH_OFF_PRODUCER_EPOCH);
    out->base_sequence = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_BASE_SEQUENCE);
    out->record_count = (int32_t)ed_get_be32(buf + ED_BATCH_OFF_RECORD_COUNT);
    return ED_OK;
}

static int fail(const char **why, const char *text, int err)
{
    if (why) *why = text;
    return err;
}

int ed_batch_check_why(const uint8_t *buf, size_t len, struct ed_batch_info *out, const char **why)
{
    struct ed_batch_info b;
    if (why) *why = NULL;
    if (len < ED_BATCH_HEADER_LEN) return fail(why, "shorter than a batch header", ED_ERR_CORRUPT);
    if (buf[ED_BATCH_OFF_MAGIC] != ED_BATCH_MAGIC)
        return fail(why, "magic is not 2", ED_ERR_CORRUPT);
    if (ed_batch_parse_header(buf, len, &b) != ED_OK)
        return fail(why, "length field below the header size", ED_ERR_CORRUPT);
    size_t total = ed_batch_total_len(&b);
    if (total > len) return fail(why, "batch extends past the end of the data", ED_ERR_CORRUPT);
    uint32_t crc = ed_crc32c(0, buf + ED_BATCH_OFF_ATTRIBUTES, total - ED_BATCH_OFF_ATTRIBUTES);
    if (crc != b.crc) return fail(why, "CRC32C mismatch", ED_ERR_CORRUPT);
    /* Past the CRC the bytes are what a producer or Eddy wrote; these rules
     * hold for every batch Kafka itself would store. */
    if (ed_batch_compression(&b) > ED_COMPRESSION_ZSTD)
        return fail(why, "unknown compression codec", ED_ERR_CORRUPT);
    if (b.record_count < 0) return fail(why, "negative record count", ED_ERR_CORRUPT);
    if (b.last_offset_delta < 0) return fail(why, "negative last offset delta", ED_ERR_CORRUPT);
    if ((int64_t)b.record_count > (int64_t)b.last_offset_delta + 1)
        return fail(why, "more records than offsets", ED_ERR_CORRUPT);
    if (ed_batch_compression(&b) == ED_COMPRESSION_NONE &&
        (size_t)b.record_count > (total - ED_BATCH_HEADER_LEN) / ED_RECORD_MIN_LEN)
        return fail(why, "record count larger than the records section allows", ED_ERR_CORRUPT);
    if (ed_batch_compression(&b) != ED_COMPRESSION_NONE && b.record_count > 0 &&
        total == ED_BATCH_HEADER_LEN)
        return fail(why, "compressed batch without data", ED_ERR_CORRUPT);
    if (out) *out = b;
    return ED_OK;
}

int ed_batch_check(const uint8_t *buf, size_t len, struct ed_batch_info *out)
{
    const char *why;
    int rc = ed_batch_check_why(buf, len, out, &why);
    if (rc != ED_OK) ED_LOG_DBG("batch rejected: %s", why);
    return rc;
}

int ed_batch_check_client(const struct ed_batch_info *b, const char **why)
{
    if (why) *why = NULL;
    if (b->last_offset_delta < 0)
        return fail(why, "batch has an invalid offset range", ED_ERR_INVAL);
    if (b->record_count <= 0)
        return fail(why, "invalid reported count for record batch", ED_ERR_INVAL);
    if ((int64_t)b->last_offset_delta + 1 != b->record_count)
        return fail(why, "inconsistent batch offset range and count of records", ED_ERR_INVAL);
    if (ed_batch_is_control(b))
        return fail(why, "clients are not allowed to write control records", ED_ERR_INVAL);
    if (b->producer_id >= 0 && b->base_sequence < 0)
        return fail(why, "invalid sequence number in batch with a producer id", ED_ERR_INVAL);
    return ED_OK;
}

static void update_crc(uint8_t *buf)
{
    size_t total = (size_t)(int32_t)ed_get_be32(buf + ED_BATCH_OFF_LENGTH) + ED_BATCH_LOG_OVERHEAD;
    ED_ASSERT(total >= ED_BATCH_HEADER_LEN);
    ed_put_be32(buf + ED_BATCH_OFF_CRC,
                ed_crc32c(0, buf + ED_BATCH_OFF_ATTRIBUTES, total - ED_BATCH_OFF_ATTRIBUTES));
}

void ed_batch_set_max_timestamp(uint8_t *buf, bool log_append_time, int64_t max_timestamp)
{
    uint16_t attr = ed_get_be16(buf + ED_BATCH_OFF_ATTRIBUTES);
    uint16_t new_attr = log_append_time ? (uint16_t)(attr | ED_BATCH_ATTR_LOG_APPEND_TIME)
                                        : (uint16_t)(attr & ~ED_BATCH_ATTR_LOG_APPEND_TIME);
    if (new_attr == attr && (int64_t)ed_get_be64(buf + ED_BATCH_OFF_MAX_TIMESTAMP) == max_timestamp)
        return;
    ed_put_be16(buf + ED_BATCH_OFF_ATTRIBUTES, new_attr);
    ed_put_be64(buf + ED_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)max_timestamp);
    update_crc(buf);
}

void ed_batch_stamp(uint8_t *buf, int64_t base_offset, int32_t leader_epoch,
                    int64_t log_append_time)
{
    ed_put_be64(buf + ED_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
    ed_put_be32(buf + ED_BATCH_OFF_LEADER_EPOCH, (uint32_t)leader_epoch);
    if (log_append_time >= 0) ed_batch_set_max_timestamp(buf, true, log_append_time);
}
