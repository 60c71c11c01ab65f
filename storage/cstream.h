/* Compression of a record batch's records as a stream: bytes go in as the
 * batch is built and compressed bytes come out into a buffer that grows as
 * needed, so neither the whole uncompressed records nor an output buffer
 * sized for the worst case is ever held. gzip, LZ4 (Kafka's frame:
 * independent 64 KiB blocks) and zstd; none and snappy (one raw block)
 * cannot stream. */
#ifndef ED_STORAGE_CSTREAM_H
#define ED_STORAGE_CSTREAM_H

#include "platform/base.h"
#include "storage/codec.h"

/* Where compressed bytes go: buf[0..len) written, grown (ed_realloc) up to
 * max bytes; more is ED_ERR_TOOBIG. A zeroed struct with max set is empty;
 * the caller may leave room in front by setting len before begin. */
struct ed_cstream_out {
    uint8_t *buf;
    size_t cap;
    size_t len;
    size_t max;
};

/* One stream. Its contexts are the codec's (struct ed_codec, reused from
 * one stream to the next and freed by ed_codec_release); the LZ4 block
 * being gathered is the stream's own. A zeroed struct is ready. */
struct ed_cstream {
    struct ed_codec *c;
    int codec;
    bool open;
    uint8_t *blk; /* LZ4: the block being gathered */
    size_t blk_len;
};

/* True if codec (enum ed_compression) can be compressed as a stream in this
 * build. */
bool ed_cstream_supported(int codec);

/* Starts a stream of codec at level (0 = the codec's default) into o.
 * window_log: zstd's window is 2^window_log bytes (0 = the level's own;
 * the context's memory is mostly the window); gzip's is zlib's 32 KiB and
 * LZ4's 64 KiB whatever it says. c->zstd_table_log caps zstd's tables as
 * for ed_codec_compress. ED_ERR_UNSUPPORTED, ED_ERR_NOMEM, ED_ERR_TOOBIG. */
int ed_cstream_begin(struct ed_cstream *s, struct ed_codec *c, int codec, int level, int window_log,
                     struct ed_cstream_out *o);
/* Compresses len bytes at p; output may stay inside the codec until later
 * writes or the end. Errors as begin; after one the stream is unusable
 * until the next begin. */
int ed_cstream_write(struct ed_cstream *s, const void *p, size_t len, struct ed_cstream_out *o);
/* Ends the stream: every byte is in o, the frame complete. */
int ed_cstream_end(struct ed_cstream *s, struct ed_cstream_out *o);
/* Frees what the stream holds of its own (not the codec's contexts). */
void ed_cstream_release(struct ed_cstream *s);

#endif
