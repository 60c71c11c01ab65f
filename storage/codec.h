/* Compression codecs of Kafka record batches (gzip, snappy, lz4, zstd) behind
 * one interface, each present when built WITH_<CODEC>=1 (snappy always).
 * Decompression is single-shot into a caller buffer of bounded size, or
 * streamed chunk by chunk through a small buffer, so a hostile stream can
 * never make Eddy allocate more than the caller allows. */
#ifndef ED_STORAGE_CODEC_H
#define ED_STORAGE_CODEC_H

#include "platform/base.h"

/* Library contexts, created on first use and reused; all memory is counted
 * through platform/mem.h. A zeroed struct is ready to use. */
struct ed_codec {
    void *zstd_dctx;
    void *zstd_cctx;
    void *inflate; /* z_stream */
    void *deflate; /* z_stream */
    int deflate_level;
    void *lz4_state;
    uint8_t *sbuf; /* streaming output window */
    size_t sbuf_cap;
    /* zstd compression: 0 = the level's own tables; else the hash table
     * holds at most 2^zstd_table_log entries and the chain table half that
     * (a 1 MiB batch at level 3: a context of 0.7 MB instead of 1.3 MB) */
    int zstd_table_log;
};

#ifndef ED_CODEC_STREAM_LEN
#define ED_CODEC_STREAM_LEN (64u << 10) /* gzip/zstd streaming output chunk */
#endif
#ifndef ED_CODEC_STREAM_KEEP_LEN
#define ED_CODEC_STREAM_KEEP_LEN (4u << 20) /* larger windows are freed after use */
#endif
#ifndef ED_CODEC_ZSTD_WINDOW_LOG_MAX
#define ED_CODEC_ZSTD_WINDOW_LOG_MAX 23 /* 8 MiB: zstd levels up to 19 stay below */
#endif

/* Frees the contexts; the struct is zeroed and may be used again. */
void ed_codec_release(struct ed_codec *c);

/* True if this build can decompress (and, with compress, compress) codec,
 * an enum ed_compression value. */
bool ed_codec_supported(int codec, bool compress);

/* Decompresses all of src into dst[0..cap). ED_OK with *out_len;
 * ED_ERR_TOOBIG when the output does not fit in cap (a caller may retry with
 * a larger dst); ED_ERR_CORRUPT for malformed data; ED_ERR_UNSUPPORTED for a
 * codec not built in; ED_ERR_NOMEM. */
int ed_codec_decompress(struct ed_codec *c, int codec, const uint8_t *src, size_t len, uint8_t *dst,
                        size_t cap, size_t *out_len);

/* Receives decompressed bytes in order; any other return than ED_OK stops
 * the stream and is returned by ed_codec_decompress_stream. */
typedef int (*ed_codec_sink)(void *arg, const uint8_t *p, size_t len);

/* Decompresses all of src, handing the output to sink piece by piece and
 * never holding all of it: gzip and zstd through ED_CODEC_STREAM_LEN bytes
 * (plus zlib's 32 KiB window, or a zstd window of at most
 * 2^ED_CODEC_ZSTD_WINDOW_LOG_MAX bytes: a frame asking for more is
 * ED_ERR_UNSUPPORTED), LZ4 one block of the frame plus 64 KiB of history
 * (content checksums are not verified here), snappy one raw block (at most
 * 22 times its compressed size, which bounds any snappy block). More than
 * max_out bytes of output is ED_ERR_TOOBIG; ED_ERR_CORRUPT, ED_ERR_NOMEM
 * as ed_codec_decompress. Windows and contexts above
 * ED_CODEC_STREAM_KEEP_LEN are freed before it returns, so one hostile
 * batch does not leave its memory behind. */
int ed_codec_decompress_stream(struct ed_codec *c, int codec, const uint8_t *src, size_t len,
                               size_t max_out, ed_codec_sink sink, void *arg);

/* Where compressed input comes from piece by piece: up to len bytes into
 * buf, *n = 0 at the end of the input; an error stops the decompression. */
typedef int (*ed_codec_source)(void *arg, uint8_t *buf, size_t len, size_t *n);
/* Decompresses input read from src through piece[0..piece_len) into
 * dst[0..cap), so that the whole compressed input is never held: zstd
 * only, with dst as its window (no window memory of its own, whatever the
 * frame claims; the context keeps one block of input). Errors as
 * ed_codec_decompress (ED_ERR_TOOBIG: cap is short, the caller may read
 * again into a larger dst; ED_ERR_UNSUPPORTED for another codec), or
 * src's. */
int ed_codec_decompress_read(struct ed_codec *c, int codec, ed_codec_source src, void *arg,
                             uint8_t *piece, size_t piece_len, uint8_t *dst, size_t cap,
                             size_t *out_len);

/* The decompressed size the stream's own headers announce, 0 if they do not.
 * Only a hint for sizing a buffer: the data may lie. */
size_t ed_codec_size_hint(int codec, const uint8_t *src, size_t len);

/* Largest compressed size of len bytes; 0 if the codec cannot compress. */
size_t ed_codec_compress_bound(int codec, size_t len);

/* Compresses src into dst (cap >= ed_codec_compress_bound) as Kafka clients
 * do: gzip stream, raw snappy block, LZ4 frame with independent 64 KiB
 * blocks, zstd frame with its content size. level 0 = codec default. */
int ed_codec_compress(struct ed_codec *c, int codec, int level, const uint8_t *src, size_t len,
                      uint8_t *dst, size_t cap, size_t *out_len);

#endif
