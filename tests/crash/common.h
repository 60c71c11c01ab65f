/* Helpers shared by the crash tests: deterministic RecordBatch v2 batches
 * named by an id (encoded independently of storage/batch.c, with a CRC32C of
 * their own) so that a verifier can rebuild the exact bytes of any batch it
 * reads, and a checker for whole runs of batches. */
#ifndef TESTS_CRASH_COMMON_H
#define TESTS_CRASH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Batch ids are carried in baseTimestamp = CT_TS0 + id. */
#define CT_TS0 1600000000000LL

/* The batch of id: 1..max_records records (key "id:<id>:<i>", values of
 * pseudo-random length below max_value and content), no compression,
 * baseOffset 0, producer fields -1. Returns malloc'd bytes (free()). */
uint8_t *ct_batch_build(uint64_t id, int max_records, size_t max_value, size_t *len);
/* CRC32C (Castagnoli), a byte at a time from a table. */
uint32_t ct_crc32c(const void *buf, size_t len);

/* What ct_batch_parse found in one stored batch. */
struct ct_batch {
    int64_t base_offset;
    int64_t last_offset;
    uint64_t id;
    size_t len; /* total bytes */
};
/* Checks the batch at p (avail bytes): magic 2, sane length within avail, CRC
 * right. Returns false for anything else. */
bool ct_batch_parse(const uint8_t *p, size_t avail, struct ct_batch *out);
/* True if the stored batch at p (one valid batch) is byte for byte the batch
 * of its id built with these limits, at base_offset (the partition leader
 * epoch, stamped by the broker, is not compared). */
bool ct_batch_matches(const uint8_t *p, size_t len, int64_t base_offset, int max_records,
                      size_t max_value);

/* 64-bit mix for deterministic pseudo-random choices. */
uint64_t ct_mix(uint64_t x);
/* A 64-bit hash of a stored batch's bytes that the broker does not stamp
 * (all but baseOffset and partitionLeaderEpoch), to compare batches fast. */
uint64_t ct_batch_hash(const uint8_t *p, size_t len);

/* The real-file-system tests (kill -9, torn tails) use one shape for all
 * batches: ids name their content, 1 in 16 batches is large. */
#define CT_FS_MAX_RECORDS 10
size_t ct_fs_value_cap(uint64_t id);
/* Their logs: topic "k", partitions 0..CT_FS_PARTS-1. */
#define CT_FS_TOPIC "k"
#define CT_FS_PARTS 3

#endif
