/* Re-encoding a producer's record batch with another codec, as Kafka's
 * broker does when a topic's compression.type names a codec other than the
 * batch's (LogValidator): the records section is decompressed whole and
 * compressed again; the header keeps every field (producer id, epoch, base
 * sequence, transactional and control flags, timestamps, record count)
 * except the codec bits, the length and the CRC, and the records keep their
 * bytes. */
#ifndef ED_STORAGE_RECODE_H
#define ED_STORAGE_RECODE_H

#include "storage/batch.h"

#ifndef ED_RECODE_ZSTD_LEVEL_MAX
/* zstd level of a re-encoded batch: the topic's compression.zstd.level up
 * to this, as compaction rebuilds do. The work runs on the event loop: on
 * the turbine recording, level 3 costs about 7 ms of CPU per MiB of
 * records on a 2 GHz x86 core, level 19 0.1 to 0.6 s (docs/benchmarks.md,
 * "Producers' batches recompressed"). */
#define ED_RECODE_ZSTD_LEVEL_MAX 3
#endif
#ifndef ED_RECODE_KEEP_LEN
#define ED_RECODE_KEEP_LEN (4u << 20) /* larger buffers are freed by ed_recode_trim */
#endif

/* Reusable buffers and codec contexts. A zeroed struct after
 * ed_recode_init is ready. */
struct ed_recoder {
    struct ed_codec codec;
    uint8_t *raw; /* the decompressed records section */
    size_t raw_cap;
    uint8_t *out; /* the re-encoded batch */
    size_t out_cap;
    size_t max_len; /* bound of a decompressed records section */
};

/* max_records_len bounds a batch's decompressed records section (more is
 * ED_ERR_TOOBIG), as ed_batch_validator_init. */
void ed_recode_init(struct ed_recoder *r, size_t max_records_len);
void ed_recode_release(struct ed_recoder *r);
/* Frees buffers larger than ED_RECODE_KEEP_LEN (a batch re-encoded before
 * is no longer valid). */
void ed_recode_trim(struct ed_recoder *r);

/* Re-encodes the batch at buf (checked as ed_batch_check: len may hold
 * more bytes after it) with codec (enum ed_compression) at level (0 =
 * codec default). ED_OK with *out pointing into r (valid until the next
 * call or trim) and *out_len its length; *out NULL when the batch stays as
 * it is: it already has that codec, or it is an uncompressed control batch
 * (Kafka compresses no control batch written uncompressed).
 * ED_ERR_CORRUPT (the batch or its compressed data is malformed),
 * ED_ERR_UNSUPPORTED (a codec this build cannot decompress or compress),
 * ED_ERR_TOOBIG (records above max_records_len, or a result above 2 GiB),
 * ED_ERR_NOMEM. The input is never changed. */
int ed_recode_batch(struct ed_recoder *r, const uint8_t *buf, size_t len, int codec, int level,
                    uint8_t **out, size_t *out_len);

#endif
