/* Kafka RecordBatch v2 (magic 2): validation of batches received from
 * producers or read from disk, record iteration, and building batches for
 * data that Eddy itself brings in (bridges, CLI). Layout in storage/format.h.
 * CRC32C covers bytes 21..end (attributes to the last record). */
#ifndef ED_STORAGE_BATCH_H
#define ED_STORAGE_BATCH_H

#include "platform/base.h"

#define ED_BATCH_HEADER_LEN   61 /* baseOffset..recordCount */
#define ED_BATCH_LOG_OVERHEAD 12 /* baseOffset + length: bytes not counted by length */

enum ed_compression {
    ED_COMPRESSION_NONE = 0,
    ED_COMPRESSION_GZIP = 1,
    ED_COMPRESSION_SNAPPY = 2,
    ED_COMPRESSION_LZ4 = 3,
    ED_COMPRESSION_ZSTD = 4
};

/* The decoded header of one batch. */
struct ed_batch_info {
    int64_t base_offset;
    int32_t length; /* bytes after the length field */
    int32_t leader_epoch;
    uint32_t crc;
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t base_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t record_count;
};

static inline size_t ed_batch_total_len(const struct ed_batch_info *b)
{
    return (size_t)b->length + ED_BATCH_LOG_OVERHEAD;
}
static inline int ed_batch_compression(const struct ed_batch_info *b)
{
    return b->attributes & 7;
}
static inline bool ed_batch_is_log_append_time(const struct ed_batch_info *b)
{
    return (b->attributes & 8) != 0;
}
static inline bool ed_batch_is_transactional(const struct ed_batch_info *b)
{
    return (b->attributes & 16) != 0;
}
static inline bool ed_batch_is_control(const struct ed_batch_info *b)
{
    return (b->attributes & 32) != 0;
}

/* Decodes the 61-byte header at buf (len >= ED_BATCH_HEADER_LEN) without
 * checking the CRC. ED_ERR_CORRUPT if magic != 2 or length is impossible. */
int ed_batch_parse_header(const uint8_t *buf, size_t len, struct ed_batch_info *out);

/* Full check of one batch at buf: header sane, whole batch within len, CRC32C
 * correct. Records are not decoded. On success *out is filled. */
int ed_batch_check(const uint8_t *buf, size_t len, struct ed_batch_info *out);

/* Like ed_batch_check, and on failure *why (if not NULL) points to a static
 * text naming the first check that failed (for logs and Produce error
 * messages). On success *why is NULL. */
int ed_batch_check_why(const uint8_t *buf, size_t len, struct ed_batch_info *out, const char **why);

/* The extra rules Kafka's broker applies to a batch a client produced
 * (LogValidator.validateBatch): lastOffsetDelta + 1 == recordCount > 0, no
 * control batch, a producer id requires baseSequence >= 0. ED_ERR_INVAL
 * (Kafka's INVALID_RECORD) if one fails, with *why as above. Apply after
 * ed_batch_check. */
int ed_batch_check_client(const struct ed_batch_info *b, const char **why);

/* Sets the timestamp type bit and maxTimestamp of a checked batch in place
 * and recomputes the CRC, unless both already have these values (Kafka's
 * setMaxTimestamp). */
void ed_batch_set_max_timestamp(uint8_t *buf, bool log_append_time, int64_t max_timestamp);

/* Stamps a stored batch in place: base offset and partition leader epoch
 * (outside the CRC). If log_append_time >= 0 also sets the timestamp type
 * bit, maxTimestamp and baseTimestamp as Kafka does and recomputes the CRC. */
void ed_batch_stamp(uint8_t *buf, int64_t base_offset, int32_t leader_epoch,
                    int64_t log_append_time);
/* Kafka leaves baseTimestamp and the records untouched when it stamps
 * LogAppendTime: readers take maxTimestamp as every record's timestamp. */

/* CRC32C (Castagnoli), hardware accelerated where the CPU has it. */
uint32_t ed_crc32c(uint32_t crc, const void *buf, size_t len);
/* Name of the implementation in use ("sse4.2", "armv8", "sw"), for logs. */
const char *ed_crc32c_impl(void);

#endif
