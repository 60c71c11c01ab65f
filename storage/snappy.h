/* Snappy decompression as Kafka producers write it: xerial's framing (the
 * Java client's SnappyOutputStream) or a single raw snappy block (librdkafka).
 * No dependency: the block format is decoded here, bounds-checked. */
#ifndef ED_STORAGE_SNAPPY_H
#define ED_STORAGE_SNAPPY_H

#include "platform/base.h"

/* Decompresses one raw snappy block into dst[0..cap). ED_OK and *out_len;
 * ED_ERR_TOOBIG if the block's declared length exceeds cap; ED_ERR_CORRUPT
 * for anything malformed. */
int ed_snappy_decompress_block(const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                               size_t *out_len);

/* Decompresses xerial-framed data (when src starts with its magic) or else
 * one raw block. Same results as ed_snappy_decompress_block. */
int ed_snappy_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len);

/* Calls block(arg, raw, raw_len) for each raw snappy block of src: the
 * chunks of xerial-framed data, or src itself. Stops at the first return
 * other than ED_OK and returns it; ED_ERR_CORRUPT for bad framing. */
typedef int (*ed_snappy_block_fn)(void *arg, const uint8_t *raw, size_t raw_len);
int ed_snappy_each_block(const uint8_t *src, size_t len, ed_snappy_block_fn block, void *arg);

/* Uncompressed length the data declares (sum over xerial chunks), without
 * decoding; 0 if malformed. For sizing the output buffer. */
size_t ed_snappy_declared_len(const uint8_t *src, size_t len);

/* Compresses src as one raw snappy block into dst; dst needs
 * ed_snappy_compress_bound(len) bytes. Returns the compressed length. */
size_t ed_snappy_compress_bound(size_t len);
size_t ed_snappy_compress(const uint8_t *src, size_t len, uint8_t *dst);

#endif
