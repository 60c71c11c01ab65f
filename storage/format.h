/* On-disk and on-wire layouts that Eddy stores, byte by byte: Kafka's
 * RecordBatch v2 and its Record (docs/format.md mirrors this). Integers in the
 * batch header are big-endian; inside records they are zigzag varints.
 *
 * RecordBatch v2 (magic 2), 61-byte header then the records:
 *
 *   off len field                 notes
 *   0   8   baseOffset            int64; offset of the first record. Set by
 *                                 the broker on append (outside the CRC).
 *   8   4   length                int32; bytes that follow this field, i.e.
 *                                 total batch size - 12. At least 49.
 *   12  4   partitionLeaderEpoch  int32; set by the broker (outside the CRC).
 *   16  1   magic                 int8; always 2.
 *   17  4   crc                   uint32; CRC32C of bytes 21 .. end of batch.
 *   21  2   attributes            int16; bits 0-2 compression (0 none,
 *                                 1 gzip, 2 snappy, 3 lz4, 4 zstd), bit 3
 *                                 timestamp type (1 = LogAppendTime), bit 4
 *                                 transactional, bit 5 control batch, bit 6
 *                                 delete horizon set (written by log cleaner:
 *                                 baseTimestamp then holds the horizon).
 *   23  4   lastOffsetDelta       int32; offset of the last record minus
 *                                 baseOffset. Kept when compaction removes
 *                                 records, so it can exceed recordCount - 1.
 *   27  8   baseTimestamp         int64; timestamp of the first record (always
 *                                 the create time, even with LogAppendTime);
 *                                 -1 if the batch is empty.
 *   35  8   maxTimestamp          int64; largest record timestamp; with
 *                                 LogAppendTime the broker's append time, which
 *                                 then is every record's timestamp.
 *   43  8   producerId            int64; -1 without idempotence.
 *   51  2   producerEpoch         int16; -1 without idempotence.
 *   53  4   baseSequence          int32; -1 without idempotence.
 *   57  4   recordCount           int32; number of records that follow.
 *   61  ... records               recordCount Records, compressed as one
 *                                 stream by the codec of the attributes.
 *
 * Record (inside the possibly compressed records section):
 *
 *   length          varint   bytes of this record after this field
 *   attributes      int8     unused, 0
 *   timestampDelta  varlong  record timestamp - baseTimestamp
 *   offsetDelta     varint   record offset - baseOffset
 *   keyLength       varint   -1 = null key
 *   key             bytes
 *   valueLength     varint   -1 = null value (a tombstone)
 *   value           bytes
 *   headerCount     varint
 *   headers         headerCount times:
 *     headerKeyLength   varint (>= 0)
 *     headerKey         bytes (UTF-8)
 *     headerValueLength varint (-1 = null)
 *     headerValue       bytes
 *
 * varint/varlong: zigzag-encoded (n << 1 ^ n >> 63), then 7 bits per byte,
 * least significant group first, high bit set on all but the last byte; at
 * most 5 bytes for a varint, 10 for a varlong.
 *
 * Compressed records sections: gzip = RFC 1952 stream; snappy = xerial
 * framing ("\x82SNAPPY\0", version, compatible version, then int32 length +
 * raw snappy block chunks) or one raw snappy block; lz4 = LZ4 frame format;
 * zstd = zstd frame(s). */
#ifndef ED_STORAGE_FORMAT_H
#define ED_STORAGE_FORMAT_H

#define ED_BATCH_OFF_BASE_OFFSET       0
#define ED_BATCH_OFF_LENGTH            8
#define ED_BATCH_OFF_LEADER_EPOCH      12
#define ED_BATCH_OFF_MAGIC             16
#define ED_BATCH_OFF_CRC               17
#define ED_BATCH_OFF_ATTRIBUTES        21
#define ED_BATCH_OFF_LAST_OFFSET_DELTA 23
#define ED_BATCH_OFF_BASE_TIMESTAMP    27
#define ED_BATCH_OFF_MAX_TIMESTAMP     35
#define ED_BATCH_OFF_PRODUCER_ID       43
#define ED_BATCH_OFF_PRODUCER_EPOCH    51
#define ED_BATCH_OFF_BASE_SEQUENCE     53
#define ED_BATCH_OFF_RECORD_COUNT      57
#define ED_BATCH_OFF_RECORDS           61

#define ED_BATCH_MAGIC 2
/* Smallest legal value of the length field: the header after it. */
#define ED_BATCH_MIN_LENGTH (ED_BATCH_OFF_RECORDS - ED_BATCH_OFF_LEADER_EPOCH)

#define ED_BATCH_ATTR_COMPRESSION_MASK 0x07
#define ED_BATCH_ATTR_LOG_APPEND_TIME  0x08
#define ED_BATCH_ATTR_TRANSACTIONAL    0x10
#define ED_BATCH_ATTR_CONTROL          0x20
#define ED_BATCH_ATTR_DELETE_HORIZON   0x40

/* Smallest encoded Record: seven one-byte fields (length, attributes,
 * timestampDelta, offsetDelta, keyLength, valueLength, headerCount). */
#define ED_RECORD_MIN_LEN 7
/* Largest encoded varint / varlong. */
#define ED_VARINT_MAX_LEN  5
#define ED_VARLONG_MAX_LEN 10

#endif
