/* Kafka RecordBatch v2 (magic 2): validation of batches received from
 * producers or read from disk, record iteration, and building batches for
 * data that Eddy itself brings in (bridges, CLI). Layout in storage/format.h.
 * CRC32C covers bytes 21..end (attributes to the last record). */
#ifndef ED_STORAGE_BATCH_H
#define ED_STORAGE_BATCH_H

#include "platform/base.h"
#include "storage/codec.h"

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

/* ---- records ---- */

/* One record header. value_len -1 (and value NULL) is a null value. */
struct ed_record_header {
    const uint8_t *key;
    int32_t key_len;
    const uint8_t *value;
    int32_t value_len;
};

/* One record as the iterator returns it. Pointers point into the batch or
 * into the iterator's buffer: valid until the iterator begins another batch
 * or is released. */
struct ed_record {
    int64_t offset;     /* baseOffset + offsetDelta */
    int64_t timestamp;  /* baseTimestamp + delta; the batch's maxTimestamp with LogAppendTime */
    const uint8_t *key; /* NULL with key_len -1 for a null key */
    int32_t key_len;
    const uint8_t *value; /* NULL with value_len -1 for a null value (tombstone) */
    int32_t value_len;
    int32_t n_headers;
    const uint8_t *headers; /* encoded headers, already checked */
    size_t headers_len;
};

/* Iterates the records of one batch, decompressing it (gzip, snappy, lz4,
 * zstd as built) into a buffer it owns and reuses across batches. Fields are
 * private except info, valid after a successful begin. */
struct ed_batch_iter {
    struct ed_batch_info info;
    const uint8_t *pos, *end; /* unread part of the records section */
    int32_t n_left;
    int32_t prev_delta;
    int err;
    size_t max_len;
    uint8_t *buf;
    size_t buf_cap;
    struct ed_codec codec;
};

/* Prepares it; max_records_len bounds the decompressed records section of
 * any batch (Kafka clients use up to max.message.bytes; a larger section is
 * ED_ERR_TOOBIG, so a zip bomb costs at most this much memory). */
void ed_batch_iter_init(struct ed_batch_iter *it, size_t max_records_len);
/* Checks the batch at buf (as ed_batch_check) and makes its records ready:
 * ED_ERR_CORRUPT, ED_ERR_TOOBIG, ED_ERR_UNSUPPORTED (codec not built in),
 * ED_ERR_NOMEM. buf must stay valid while records are read. */
int ed_batch_iter_begin(struct ed_batch_iter *it, const uint8_t *buf, size_t len);
/* Reads len bytes at byte at of a batch into buf (all of them, or an error). */
typedef int (*ed_batch_read_fn)(void *arg, size_t at, uint8_t *buf, size_t len);
#ifndef ED_BATCH_READ_PIECE
#define ED_BATCH_READ_PIECE (16u << 10) /* bytes read at a time by ed_batch_iter_begin_read */
#endif
/* As ed_batch_iter_begin for a batch of total_len bytes of which only the
 * header (ED_BATCH_HEADER_LEN bytes at head) is in memory: the rest is read
 * through rd, ED_BATCH_READ_PIECE bytes at a time, its CRC32C computed on
 * the way and its records decompressed as they come into the iterator's
 * buffer, so the compressed batch is never held whole. zstd batches only:
 * ED_ERR_UNSUPPORTED for any other (and for an empty batch), which the
 * caller then reads whole. ED_ERR_CORRUPT when the CRC does not match,
 * even if the records decompressed. */
int ed_batch_iter_begin_read(struct ed_batch_iter *it, const uint8_t *head, size_t total_len,
                             ed_batch_read_fn rd, void *arg);
/* Next record: 1 and *rec filled, 0 after the last one, or a negative error
 * (ED_ERR_CORRUPT), which stays for later calls. Every record is decoded
 * with bounds checks: lengths, varints, offset deltas strictly increasing
 * up to lastOffsetDelta, no bytes left over after the last record. */
int ed_batch_iter_next(struct ed_batch_iter *it, struct ed_record *rec);
/* Frees the buffer and codec contexts; it may be initialised again. */
void ed_batch_iter_release(struct ed_batch_iter *it);

/* Walks the headers of rec: *cursor starts at 0. Returns 1 and fills *h, or
 * 0 after the last header. */
int ed_record_next_header(const struct ed_record *rec, size_t *cursor, struct ed_record_header *h);

/* ---- validating every record (Kafka's LogValidator) ---- */

#ifndef ED_BATCH_RECORDS_MAX_LEN
#define ED_BATCH_RECORDS_MAX_LEN (64u << 20) /* decompressed records section */
#endif

/* Reusable state of ed_batch_validate: codec contexts and their streaming
 * window. A zeroed struct after ed_batch_validator_init is ready. */
struct ed_batch_validator {
    struct ed_codec codec;
    size_t max_len;
};

/* What ed_batch_validate found wrong: record is the index of the bad
 * record (Produce's record_errors), -1 for the batch as a whole; why is a
 * static text. */
struct ed_batch_fault {
    int32_t record;
    const char *why;
};

/* max_records_len bounds a batch's decompressed records section (more is
 * ED_ERR_TOOBIG): the work spent on a decompression bomb. */
void ed_batch_validator_init(struct ed_batch_validator *v, size_t max_records_len);
void ed_batch_validator_release(struct ed_batch_validator *v);

/* Checks the batch at buf as ed_batch_check does, then walks every record:
 * record length, attributes, timestamp delta, offset delta, key, value and
 * headers, each varint bounded, each length inside its record and the
 * record's fields exactly filling it, as many records as the header says
 * and no byte after the last. Compressed batches are decompressed as a
 * stream into the validator's small window, the records walked as bytes
 * come out; nothing is kept. An uncompressed batch is one pass, no
 * allocation.
 * client: a producer's batch (ed_batch_check_client too, and offset deltas
 * exactly 0..count-1); otherwise a stored batch (compaction leaves gaps:
 * deltas ascend up to lastOffsetDelta).
 * ED_OK (and *info if not NULL); ED_ERR_CORRUPT (malformed), ED_ERR_INVAL
 * (a client rule), ED_ERR_UNSUPPORTED (codec not built in, or a zstd window
 * above ED_CODEC_ZSTD_WINDOW_LOG_MAX), ED_ERR_TOOBIG, ED_ERR_NOMEM; *fault
 * says what and where. Nothing is logged. */
int ed_batch_validate(struct ed_batch_validator *v, const uint8_t *buf, size_t len, bool client,
                      struct ed_batch_info *info, struct ed_batch_fault *fault);

/* ---- building batches (bridges, CLI) ---- */

typedef struct ed_batch_builder ed_batch_builder;

/* A builder of batches of at most max_batch_len bytes (>= 128) in one buffer
 * that grows to that size and is then reused. */
int ed_batch_builder_new(size_t max_batch_len, ed_batch_builder **out);
void ed_batch_builder_free(ed_batch_builder *b);
/* Codec level for later batches (0 = codec default, e.g. zstd 3). */
void ed_batch_builder_set_level(ed_batch_builder *b, int level);
/* Compresses with codec (the caller's, outliving b; NULL = b's own) rather
 * than a context of its own: builders used one after the other share one. */
void ed_batch_builder_set_codec(ed_batch_builder *b, struct ed_codec *codec);
#ifndef ED_BATCH_STAGE_LEN
#define ED_BATCH_STAGE_LEN (16u << 10) /* streaming: records gathered, then compressed */
#endif
/* Compresses later batches as records are added (gzip, LZ4, zstd; none
 * and snappy as before) rather than all at once in finish: the builder
 * then holds ED_BATCH_STAGE_LEN bytes of records (or one larger record)
 * and the compressed output as it grows, instead of every record plus an
 * output buffer for the worst case. window_log: zstd's window, 2^window_log
 * bytes (0: the level's own). Such a batch stays compressed even where
 * compression made it a little larger. A stream holds its context from
 * begin to finish, so a streaming builder compresses with a context of its
 * own (set_codec then only lends its zstd table cap); a batch that ends
 * below ED_BATCH_STAGE_LEN is compressed in one go, its context sized for
 * it. */
void ed_batch_builder_set_stream(ed_batch_builder *b, int window_log);
/* Frees the buffers while no batch is open (they grow again when used). */
void ed_batch_builder_trim(ed_batch_builder *b);
/* Starts a batch. compression: enum ed_compression (ED_ERR_UNSUPPORTED if not
 * built in). Records added with a negative timestamp get base_timestamp.
 * producer_id/epoch/base_sequence are -1 without idempotence. */
int ed_batch_builder_begin(ed_batch_builder *b, int compression, int64_t base_timestamp,
                           int64_t producer_id, int16_t producer_epoch, int32_t base_sequence);
/* Appends one record (key or value NULL = null; a header value NULL = null).
 * ED_ERR_TOOBIG if it would take the batch over max_batch_len: the builder is
 * unchanged, so finish this batch and add the record to the next one (on an
 * empty batch the record can never fit). Nothing is allocated per record. */
int ed_batch_builder_add(ed_batch_builder *b, const void *key, size_t key_len, const void *value,
                         size_t value_len, const struct ed_record_header *headers, size_t n_headers,
                         int64_t timestamp);
/* Records added since begin. */
int32_t ed_batch_builder_count(const ed_batch_builder *b);
/* Finishes the batch: compresses the records, writes the header (base offset
 * 0, leader epoch -1, CreateTime, baseTimestamp = first record's) and the
 * CRC. *out points to the builder's buffer, valid until the next begin; the
 * caller may stamp it in place. If compression would make the batch larger
 * it is stored uncompressed. ED_ERR_INVAL if no record was added. */
int ed_batch_builder_finish(ed_batch_builder *b, uint8_t **out, size_t *out_len);

/* CRC32C (Castagnoli), hardware accelerated where the CPU has it. */
uint32_t ed_crc32c(uint32_t crc, const void *buf, size_t len);
/* Name of the implementation in use ("sse4.2", "armv8", "sw"), for logs. */
const char *ed_crc32c_impl(void);

#endif
