/* Compression codecs of record batches: zlib for gzip, liblz4's block API
 * inside an LZ4 frame codec written here (so that every byte of the frame is
 * checked and nothing is allocated behind Eddy's back), libzstd, and the
 * built-in snappy. */
#include <limits.h>
#include <string.h>

#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "storage/codec_int.h"
#include "storage/snappy.h"

#if ED_WITH_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createDCtx_advanced: counted memory */
#include <zstd.h>
#include <zstd_errors.h>
#endif
#if ED_WITH_GZIP
#include <zlib.h>
#endif
#if ED_WITH_LZ4
#include <lz4.h>
#endif

bool ed_codec_supported(int codec, bool compress)
{
    (void)compress;
    switch (codec) {
    case ED_COMPRESSION_NONE:
    case ED_COMPRESSION_SNAPPY:
        return true;
    case ED_COMPRESSION_GZIP:
        return ED_WITH_GZIP;
    case ED_COMPRESSION_LZ4:
        return ED_WITH_LZ4;
    case ED_COMPRESSION_ZSTD:
        return ED_WITH_ZSTD;
    default:
        return false;
    }
}

static inline uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Output window of a stream, allocated on first use. */
static int stream_buf(struct ed_codec *c, size_t len)
{
    if (c->sbuf_cap >= len) return ED_OK;
    ed_free(c->sbuf);
    c->sbuf_cap = 0;
    c->sbuf = ed_malloc(len);
    if (!c->sbuf) return ED_ERR_NOMEM;
    c->sbuf_cap = len;
    return ED_OK;
}

/* Hands n bytes of a stream's output to the sink, counting them against
 * max_out. */
static int stream_emit(ed_codec_sink sink, void *arg, const uint8_t *p, size_t n, size_t max_out,
                       size_t *total)
{
    if (n > max_out - *total) return ED_ERR_TOOBIG;
    *total += n;
    return n ? sink(arg, p, n) : ED_OK;
}

/* ---- gzip ---- */
#if ED_WITH_GZIP
static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size && items > SIZE_MAX / size) return Z_NULL;
    return ed_malloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    ed_free(p);
}

/* The codec's inflater, reset for a new stream. */
static int gzip_inflater(struct ed_codec *c, z_stream **out)
{
    z_stream *zs = c->inflate;
    if (!zs) {
        zs = ed_calloc(1, sizeof *zs);
        if (!zs) return ED_ERR_NOMEM;
        zs->zalloc = z_alloc;
        zs->zfree = z_free;
        if (inflateInit2(zs, 16 + MAX_WBITS) != Z_OK) { /* gzip wrapper only, as Kafka */
            ed_free(zs);
            return ED_ERR_NOMEM;
        }
        c->inflate = zs;
    } else if (inflateReset(zs) != Z_OK) {
        return ED_ERR_CORRUPT;
    }
    *out = zs;
    return ED_OK;
}

/* At the end of a gzip member: true if another member follows (Java's
 * GZIPInputStream reads concatenated members too) and the inflater is
 * ready for it. */
static bool gzip_next_member(z_stream *zs)
{
    return zs->avail_in >= 2 && zs->next_in[0] == 0x1f && zs->next_in[1] == 0x8b &&
           inflateReset(zs) == Z_OK;
}

static int gzip_decompress(struct ed_codec *c, const uint8_t *src, size_t len, uint8_t *dst,
                           size_t cap, size_t *out_len)
{
    z_stream *zs;
    if (len > UINT_MAX) return ED_ERR_TOOBIG;
    int rc = gzip_inflater(c, &zs);
    if (rc != ED_OK) return rc;
    uint8_t probe;
    bool probing = false;
    zs->next_in = (Bytef *)(uintptr_t)src;
    zs->avail_in = (uInt)len;
    zs->next_out = dst;
    zs->avail_out = (uInt)ED_MIN(cap, UINT_MAX);
    for (;;) {
        if (zs->avail_out == 0) {
            /* Output is full: one more byte tells "exact fit" from "too
             * small" without a second pass. */
            if (probing) return ED_ERR_TOOBIG;
            probing = true;
            zs->next_out = &probe;
            zs->avail_out = 1;
        }
        rc = inflate(zs, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            if (zs->avail_in == 0) break;
            if (gzip_next_member(zs)) continue;
            return ED_ERR_CORRUPT;
        }
        if (rc == Z_OK || (rc == Z_BUF_ERROR && zs->avail_out == 0)) continue;
        if (rc == Z_MEM_ERROR) return ED_ERR_NOMEM;
        return ED_ERR_CORRUPT; /* bad data, or input ended inside the stream */
    }
    if (probing && zs->avail_out == 0) return ED_ERR_TOOBIG;
    *out_len = probing ? ED_MIN(cap, UINT_MAX) : (size_t)(zs->next_out - dst);
    return ED_OK;
}

static int gzip_stream(struct ed_codec *c, const uint8_t *src, size_t len, size_t max_out,
                       ed_codec_sink sink, void *arg)
{
    z_stream *zs;
    if (len > UINT_MAX) return ED_ERR_TOOBIG;
    int rc = gzip_inflater(c, &zs);
    if (rc == ED_OK) rc = stream_buf(c, ED_CODEC_STREAM_LEN);
    if (rc != ED_OK) return rc;
    zs->next_in = (Bytef *)(uintptr_t)src;
    zs->avail_in = (uInt)len;
    size_t total = 0;
    for (;;) {
        zs->next_out = c->sbuf;
        zs->avail_out = (uInt)ED_CODEC_STREAM_LEN;
        int zrc = inflate(zs, Z_NO_FLUSH);
        if (zrc == Z_MEM_ERROR) return ED_ERR_NOMEM;
        if (zrc != Z_OK && zrc != Z_STREAM_END && !(zrc == Z_BUF_ERROR && zs->avail_out == 0))
            return ED_ERR_CORRUPT; /* bad data */
        rc = stream_emit(sink, arg, c->sbuf, (size_t)(zs->next_out - c->sbuf), max_out, &total);
        if (rc != ED_OK) return rc;
        if (zrc == Z_STREAM_END) {
            if (zs->avail_in == 0) return ED_OK;
            if (!gzip_next_member(zs)) return ED_ERR_CORRUPT;
        } else if (zs->avail_in == 0 && zs->avail_out != 0) {
            return ED_ERR_CORRUPT; /* the input ended inside the stream */
        }
    }
}

int ed_codec_deflater(struct ed_codec *c, int level)
{
    z_stream *zs = c->deflate;
    if (level == 0) level = Z_DEFAULT_COMPRESSION;
    if (zs && c->deflate_level != level) {
        deflateEnd(zs);
        ed_free(zs);
        c->deflate = zs = NULL;
    }
    if (zs) return deflateReset(zs) == Z_OK ? ED_OK : ED_ERR_INVAL;
    zs = ed_calloc(1, sizeof *zs);
    if (!zs) return ED_ERR_NOMEM;
    zs->zalloc = z_alloc;
    zs->zfree = z_free;
    if (deflateInit2(zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        ed_free(zs);
        return ED_ERR_NOMEM;
    }
    c->deflate = zs;
    c->deflate_level = level;
    return ED_OK;
}

static int gzip_compress(struct ed_codec *c, int level, const uint8_t *src, size_t len,
                         uint8_t *dst, size_t cap, size_t *out_len)
{
    if (len > UINT_MAX || cap > UINT_MAX) return ED_ERR_TOOBIG;
    int rc = ed_codec_deflater(c, level);
    if (rc != ED_OK) return rc;
    z_stream *zs = c->deflate;
    zs->next_in = (Bytef *)(uintptr_t)src;
    zs->avail_in = (uInt)len;
    zs->next_out = dst;
    zs->avail_out = (uInt)cap;
    if (deflate(zs, Z_FINISH) != Z_STREAM_END) return ED_ERR_TOOBIG;
    *out_len = (size_t)(zs->next_out - dst);
    return ED_OK;
}
#endif

/* ---- LZ4 frame format (lz4_Frame_format.md) ---- */
#if ED_WITH_LZ4
#define LZ4F_MAGIC                0x184D2204u
#define LZ4F_SKIPPABLE_MASK       0xFFFFFFF0u
#define LZ4F_SKIPPABLE            0x184D2A50u
#define LZ4F_FLG_INDEPENDENT      0x20
#define LZ4F_FLG_BLOCK_CHECKSUM   0x10
#define LZ4F_FLG_CONTENT_SIZE     0x08
#define LZ4F_FLG_CONTENT_CHECKSUM 0x04
#define LZ4F_FLG_DICT_ID          0x01
#define LZ4F_BLOCK_LEN            65536 /* what Eddy writes, as Kafka's clients do */

/* xxHash32, the frame's checksum (header, blocks, content). */
static inline uint32_t rotl32(uint32_t x, int r)
{
    return x << r | x >> (32 - r);
}

static uint32_t xxh32(const uint8_t *p, size_t len, uint32_t seed)
{
    const uint32_t P1 = 2654435761u, P2 = 2246822519u, P3 = 3266489917u, P4 = 668265263u,
                   P5 = 374761393u;
    const uint8_t *end = p + len;
    uint32_t h;
    if (len >= 16) {
        uint32_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        for (; end - p >= 16; p += 16) {
            v1 = rotl32(v1 + get_le32(p) * P2, 13) * P1;
            v2 = rotl32(v2 + get_le32(p + 4) * P2, 13) * P1;
            v3 = rotl32(v3 + get_le32(p + 8) * P2, 13) * P1;
            v4 = rotl32(v4 + get_le32(p + 12) * P2, 13) * P1;
        }
        h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
    } else {
        h = seed + P5;
    }
    h += (uint32_t)len;
    for (; end - p >= 4; p += 4)
        h = rotl32(h + get_le32(p) * P3, 17) * P4;
    for (; p < end; p++)
        h = rotl32(h + *p * P5, 11) * P1;
    h ^= h >> 15;
    h *= P2;
    h ^= h >> 13;
    h *= P3;
    h ^= h >> 16;
    return h;
}

/* Where an LZ4 frame's blocks go: into one caller buffer (single-shot), or,
 * with a sink, through a window of one block plus 64 KiB of history that
 * linked blocks may refer to. */
struct lz4_out {
    uint8_t *dst;
    size_t cap, op;
    struct ed_codec *c; /* streaming only: owner of the window */
    ed_codec_sink sink;
    void *arg;
    size_t max_out, total;
};

/* Streaming: makes room for one block of block_max bytes after at most
 * 64 KiB of this frame's history (hist bytes are there now). */
static int lz4_room(struct lz4_out *o, size_t *frame_start, size_t block_max)
{
    size_t want = 65536 + block_max;
    if (o->c->sbuf_cap < want) {
        uint8_t *p = ed_malloc(want);
        if (!p) return ED_ERR_NOMEM;
        size_t keep = ED_MIN(o->op - *frame_start, (size_t)65536);
        if (keep) memcpy(p, o->dst + o->op - keep, keep);
        ed_free(o->c->sbuf);
        o->c->sbuf = o->dst = p;
        o->c->sbuf_cap = o->cap = want;
        o->op = keep;
        *frame_start = 0;
    } else if (o->cap - o->op < block_max) {
        size_t keep = ED_MIN(o->op - *frame_start, (size_t)65536);
        memmove(o->dst, o->dst + o->op - keep, keep);
        o->op = keep;
        *frame_start = 0;
    }
    return ED_OK;
}

/* Streaming: hands the block just written at [from, op) to the sink. */
static int lz4_emit(struct lz4_out *o, size_t from)
{
    return stream_emit(o->sink, o->arg, o->dst + from, o->op - from, o->max_out, &o->total);
}

static int lz4_walk(const uint8_t *src, size_t len, struct lz4_out *o)
{
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 4) return ED_ERR_CORRUPT;
        uint32_t magic = get_le32(src + pos);
        if ((magic & LZ4F_SKIPPABLE_MASK) == LZ4F_SKIPPABLE) {
            if (len - pos < 8 || get_le32(src + pos + 4) > len - pos - 8) return ED_ERR_CORRUPT;
            pos += 8 + get_le32(src + pos + 4);
            continue;
        }
        if (magic != LZ4F_MAGIC) return ED_ERR_CORRUPT;
        pos += 4;
        if (len - pos < 3) return ED_ERR_CORRUPT;
        uint8_t flg = src[pos], bd = src[pos + 1];
        if (flg >> 6 != 1 || (flg & 0x02) || (bd & 0x8f) || ((bd >> 4) & 7) < 4)
            return ED_ERR_CORRUPT;
        if (flg & LZ4F_FLG_DICT_ID) return ED_ERR_UNSUPPORTED; /* no dictionaries in Kafka */
        size_t block_max = (size_t)1 << (8 + 2 * ((bd >> 4) & 7));
        size_t desc_len = 2 + ((flg & LZ4F_FLG_CONTENT_SIZE) ? 8 : 0);
        if (len - pos < desc_len + 1) return ED_ERR_CORRUPT;
        uint64_t content_len = UINT64_MAX;
        if (flg & LZ4F_FLG_CONTENT_SIZE)
            content_len = (uint64_t)get_le32(src + pos + 2) | (uint64_t)get_le32(src + pos + 6)
                                                                  << 32;
        if (((xxh32(src + pos, desc_len, 0) >> 8) & 0xff) != src[pos + desc_len])
            return ED_ERR_CORRUPT;
        pos += desc_len + 1;
        size_t frame_start = o->op;
        uint64_t frame_out = 0;
        size_t sum_len = (flg & LZ4F_FLG_BLOCK_CHECKSUM) ? 4 : 0;
        for (;;) {
            if (len - pos < 4) return ED_ERR_CORRUPT;
            uint32_t bsize = get_le32(src + pos);
            pos += 4;
            if (bsize == 0) break; /* end mark */
            bool stored = bsize & 0x80000000u;
            bsize &= 0x7fffffffu;
            if (bsize > block_max || bsize > len - pos || len - pos - bsize < sum_len)
                return ED_ERR_CORRUPT;
            if (sum_len && xxh32(src + pos, bsize, 0) != get_le32(src + pos + bsize))
                return ED_ERR_CORRUPT;
            if (o->sink) {
                int rc = lz4_room(o, &frame_start, block_max);
                if (rc != ED_OK) return rc;
            }
            size_t from = o->op;
            if (stored) {
                if (o->cap - o->op < bsize) return ED_ERR_TOOBIG;
                memcpy(o->dst + o->op, src + pos, bsize);
                o->op += bsize;
            } else {
                size_t room = ED_MIN(o->cap - o->op, block_max);
                int r;
                if (flg & LZ4F_FLG_INDEPENDENT) {
                    r = LZ4_decompress_safe((const char *)src + pos, (char *)o->dst + o->op,
                                            (int)bsize, (int)room);
                } else {
                    /* Linked blocks refer to up to 64 KiB of this frame's
                     * earlier output, which sits right before dst + op. */
                    size_t dict = ED_MIN(o->op - frame_start, (size_t)65536);
                    r = LZ4_decompress_safe_usingDict(
                        (const char *)src + pos, (char *)o->dst + o->op, (int)bsize, (int)room,
                        (const char *)o->dst + o->op - dict, (int)dict);
                }
                if (r < 0) return room < block_max ? ED_ERR_TOOBIG : ED_ERR_CORRUPT;
                o->op += (size_t)r;
            }
            frame_out += o->op - from;
            if (o->sink) {
                int rc = lz4_emit(o, from);
                if (rc != ED_OK) return rc;
            }
            pos += bsize + sum_len;
        }
        if (flg & LZ4F_FLG_CONTENT_CHECKSUM) {
            if (len - pos < 4) return ED_ERR_CORRUPT;
            if (!o->sink &&
                xxh32(o->dst + frame_start, o->op - frame_start, 0) != get_le32(src + pos))
                return ED_ERR_CORRUPT;
            pos += 4;
        }
        if (content_len != UINT64_MAX && content_len != frame_out) return ED_ERR_CORRUPT;
    }
    return ED_OK;
}

static int lz4_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    struct lz4_out o = {.dst = dst, .cap = cap};
    int rc = lz4_walk(src, len, &o);
    if (rc == ED_OK) *out_len = o.op;
    return rc;
}

static int lz4_stream(struct ed_codec *c, const uint8_t *src, size_t len, size_t max_out,
                      ed_codec_sink sink, void *arg)
{
    struct lz4_out o = {
        .dst = c->sbuf, .cap = c->sbuf_cap, .c = c, .sink = sink, .arg = arg, .max_out = max_out};
    return lz4_walk(src, len, &o);
}

static size_t lz4_bound(size_t len)
{
    return 7 + 4 + len + 4 * (len / LZ4F_BLOCK_LEN + 1);
}

static int lz4_compress(struct ed_codec *c, const uint8_t *src, size_t len, uint8_t *dst,
                        size_t cap, size_t *out_len)
{
    if (cap < lz4_bound(len)) return ED_ERR_TOOBIG;
    if (!c->lz4_state) {
        c->lz4_state = ed_malloc((size_t)LZ4_sizeofState());
        if (!c->lz4_state) return ED_ERR_NOMEM;
    }
    size_t op = 0;
    put_le32(dst, LZ4F_MAGIC);
    op += 4;
    dst[op++] = 0x40 | LZ4F_FLG_INDEPENDENT; /* version 01 */
    dst[op++] = 0x40;                        /* block max 64 KiB */
    dst[op] = (uint8_t)(xxh32(dst + 4, 2, 0) >> 8);
    op++;
    for (size_t pos = 0; pos < len; pos += LZ4F_BLOCK_LEN) {
        int n = (int)ED_MIN((size_t)LZ4F_BLOCK_LEN, len - pos);
        int r = LZ4_compress_fast_extState(c->lz4_state, (const char *)src + pos,
                                           (char *)dst + op + 4, n, n - 1, 1);
        uint32_t word = (uint32_t)r;
        if (r <= 0) { /* incompressible: store the block as it is */
            memcpy(dst + op + 4, src + pos, (size_t)n);
            r = n;
            word = (uint32_t)n | 0x80000000u;
        }
        put_le32(dst + op, word);
        op += 4 + (size_t)r;
    }
    memset(dst + op, 0, 4); /* end mark */
    *out_len = op + 4;
    return ED_OK;
}
#endif

/* ---- zstd ---- */
#if ED_WITH_ZSTD
static void *zstd_alloc(void *opaque, size_t len)
{
    (void)opaque;
    return ed_malloc(len);
}

static void zstd_free(void *opaque, void *p)
{
    (void)opaque;
    ed_free(p);
}

static const ZSTD_customMem zstd_mem = {zstd_alloc, zstd_free, NULL};

static int zstd_decompress(struct ed_codec *c, const uint8_t *src, size_t len, uint8_t *dst,
                           size_t cap, size_t *out_len)
{
    if (!c->zstd_dctx) {
        c->zstd_dctx = ZSTD_createDCtx_advanced(zstd_mem);
        if (!c->zstd_dctx) return ED_ERR_NOMEM;
    }
    if (len == 0) { /* zstd wants at least one frame */
        *out_len = 0;
        return ED_OK;
    }
    /* Single-shot: the output buffer is the window, so no window memory is
     * allocated whatever the frame header claims. */
    size_t r = ZSTD_decompressDCtx(c->zstd_dctx, dst, cap, src, len);
    if (ZSTD_isError(r)) {
        ZSTD_ErrorCode e = ZSTD_getErrorCode(r);
        if (e == ZSTD_error_dstSize_tooSmall) return ED_ERR_TOOBIG;
        if (e == ZSTD_error_memory_allocation) return ED_ERR_NOMEM;
        return ED_ERR_CORRUPT;
    }
    *out_len = r;
    return ED_OK;
}

static int zstd_stream(struct ed_codec *c, const uint8_t *src, size_t len, size_t max_out,
                       ed_codec_sink sink, void *arg)
{
    if (!c->zstd_dctx) {
        c->zstd_dctx = ZSTD_createDCtx_advanced(zstd_mem);
        if (!c->zstd_dctx) return ED_ERR_NOMEM;
    }
    int rc = stream_buf(c, ED_CODEC_STREAM_LEN);
    if (rc != ED_OK) return rc;
    /* Streaming keeps a window of the frame's size: bounded here, so that a
     * frame header cannot make Eddy allocate what it claims. */
    ZSTD_DCtx_reset(c->zstd_dctx, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(ZSTD_DCtx_setParameter(c->zstd_dctx, ZSTD_d_windowLogMax,
                                            ED_CODEC_ZSTD_WINDOW_LOG_MAX)))
        return ED_ERR_NOMEM;
    ZSTD_inBuffer in = {src, len, 0};
    size_t total = 0, left = 0;
    while (in.pos < in.size) {
        ZSTD_outBuffer out = {c->sbuf, ED_CODEC_STREAM_LEN, 0};
        left = ZSTD_decompressStream(c->zstd_dctx, &out, &in);
        if (ZSTD_isError(left)) {
            ZSTD_ErrorCode e = ZSTD_getErrorCode(left);
            if (e == ZSTD_error_memory_allocation) return ED_ERR_NOMEM;
            if (e == ZSTD_error_frameParameter_windowTooLarge) return ED_ERR_UNSUPPORTED;
            return ED_ERR_CORRUPT;
        }
        rc = stream_emit(sink, arg, c->sbuf, out.pos, max_out, &total);
        if (rc != ED_OK) return rc;
        if (out.pos < out.size && in.pos == in.size) break;
    }
    /* Output still buffered in the context comes out with more calls. */
    while (left != 0) {
        ZSTD_outBuffer out = {c->sbuf, ED_CODEC_STREAM_LEN, 0};
        left = ZSTD_decompressStream(c->zstd_dctx, &out, &in);
        if (ZSTD_isError(left) || (out.pos == 0 && left != 0)) return ED_ERR_CORRUPT;
        rc = stream_emit(sink, arg, c->sbuf, out.pos, max_out, &total);
        if (rc != ED_OK) return rc;
    }
    return ED_OK;
}

int ed_codec_zstd_cctx(struct ed_codec *c)
{
    if (!c->zstd_cctx) c->zstd_cctx = ZSTD_createCCtx_advanced(zstd_mem);
    return c->zstd_cctx ? ED_OK : ED_ERR_NOMEM;
}

static int zstd_compress(struct ed_codec *c, int level, const uint8_t *src, size_t len,
                         uint8_t *dst, size_t cap, size_t *out_len)
{
    if (ed_codec_zstd_cctx(c) != ED_OK) return ED_ERR_NOMEM;
    if (!level) level = ZSTD_CLEVEL_DEFAULT;
    size_t r;
    if (c->zstd_table_log) {
        /* the level's parameters for this size, with the tables capped */
        ZSTD_compressionParameters p = ZSTD_getCParams(level, len, 0);
        unsigned hl = ED_MIN(p.hashLog, (unsigned)c->zstd_table_log);
        unsigned cl = ED_MIN(p.chainLog, (unsigned)c->zstd_table_log - 1);
        ZSTD_CCtx_reset(c->zstd_cctx, ZSTD_reset_session_and_parameters);
        r = ZSTD_CCtx_setParameter(c->zstd_cctx, ZSTD_c_compressionLevel, level);
        if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c->zstd_cctx, ZSTD_c_hashLog, (int)hl);
        if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(c->zstd_cctx, ZSTD_c_chainLog, (int)cl);
        if (!ZSTD_isError(r)) r = ZSTD_compress2(c->zstd_cctx, dst, cap, src, len);
    } else {
        r = ZSTD_compressCCtx(c->zstd_cctx, dst, cap, src, len, level);
    }
    if (ZSTD_isError(r))
        return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? ED_ERR_NOMEM : ED_ERR_TOOBIG;
    *out_len = r;
    return ED_OK;
}
#endif

/* The "codec" none: the bytes as they are. */
static int copy_plain(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    if (len > cap) return ED_ERR_TOOBIG;
    memcpy(dst, src, len);
    *out_len = len;
    return ED_OK;
}

int ed_codec_decompress(struct ed_codec *c, int codec, const uint8_t *src, size_t len, uint8_t *dst,
                        size_t cap, size_t *out_len)
{
    switch (codec) {
    case ED_COMPRESSION_NONE:
        return copy_plain(src, len, dst, cap, out_len);
    case ED_COMPRESSION_SNAPPY:
        return ed_snappy_decompress(src, len, dst, cap, out_len);
#if ED_WITH_GZIP
    case ED_COMPRESSION_GZIP:
        return gzip_decompress(c, src, len, dst, cap, out_len);
#endif
#if ED_WITH_LZ4
    case ED_COMPRESSION_LZ4:
        return lz4_decompress(src, len, dst, cap, out_len);
#endif
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD:
        return zstd_decompress(c, src, len, dst, cap, out_len);
#endif
    default:
        (void)c;
        return ED_ERR_UNSUPPORTED;
    }
}

struct snappy_sink {
    struct ed_codec *c;
    ed_codec_sink sink;
    void *arg;
    size_t max_out, total;
};

/* One raw block: its output is needed whole (copies may reach back to its
 * start), so it is decoded into the window, whose size the block's real
 * expansion bounds: an element of n input bytes writes at most 22 n bytes. */
static int snappy_block(void *arg, const uint8_t *raw, size_t raw_len)
{
    struct snappy_sink *s = arg;
    size_t want = ed_snappy_declared_len(raw, raw_len);
    if (want > s->max_out - s->total) return ED_ERR_TOOBIG;
    if (raw_len > SIZE_MAX / 22 || want > raw_len * 22) return ED_ERR_CORRUPT;
    int rc = stream_buf(s->c, ED_MAX(want, (size_t)1));
    size_t got = 0;
    if (rc == ED_OK) rc = ed_snappy_decompress_block(raw, raw_len, s->c->sbuf, want, &got);
    if (rc == ED_OK) rc = stream_emit(s->sink, s->arg, s->c->sbuf, got, s->max_out, &s->total);
    return rc;
}

static int stream_any(struct ed_codec *c, int codec, const uint8_t *src, size_t len, size_t max_out,
                      ed_codec_sink sink, void *arg)
{
    switch (codec) {
    case ED_COMPRESSION_NONE: {
        size_t total = 0;
        return stream_emit(sink, arg, src, len, max_out, &total);
    }
    case ED_COMPRESSION_SNAPPY: {
        struct snappy_sink s = {c, sink, arg, max_out, 0};
        return ed_snappy_each_block(src, len, snappy_block, &s);
    }
#if ED_WITH_GZIP
    case ED_COMPRESSION_GZIP:
        return gzip_stream(c, src, len, max_out, sink, arg);
#endif
#if ED_WITH_LZ4
    case ED_COMPRESSION_LZ4:
        return lz4_stream(c, src, len, max_out, sink, arg);
#endif
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD:
        return zstd_stream(c, src, len, max_out, sink, arg);
#endif
    default:
        return ED_ERR_UNSUPPORTED;
    }
}

int ed_codec_decompress_stream(struct ed_codec *c, int codec, const uint8_t *src, size_t len,
                               size_t max_out, ed_codec_sink sink, void *arg)
{
    int rc = stream_any(c, codec, src, len, max_out, sink, arg);
    /* A large window (a big snappy block or LZ4 block size, a zstd frame's
     * window) serves one batch: it is not kept for the next one. */
    if (c->sbuf_cap > ED_CODEC_STREAM_KEEP_LEN) {
        ed_free(c->sbuf);
        c->sbuf = NULL;
        c->sbuf_cap = 0;
    }
#if ED_WITH_ZSTD
    if (c->zstd_dctx && ZSTD_sizeof_DCtx(c->zstd_dctx) > ED_CODEC_STREAM_KEEP_LEN) {
        ZSTD_freeDCtx(c->zstd_dctx);
        c->zstd_dctx = NULL;
    }
#endif
    return rc;
}

int ed_codec_decompress_read(struct ed_codec *c, int codec, ed_codec_source src, void *arg,
                             uint8_t *piece, size_t piece_len, uint8_t *dst, size_t cap,
                             size_t *out_len)
{
#if ED_WITH_ZSTD
    if (codec != ED_COMPRESSION_ZSTD) return ED_ERR_UNSUPPORTED;
    if (!c->zstd_dctx) {
        c->zstd_dctx = ZSTD_createDCtx_advanced(zstd_mem);
        if (!c->zstd_dctx) return ED_ERR_NOMEM;
    }
    ZSTD_DCtx *d = c->zstd_dctx;
    ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(
            ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, ED_CODEC_ZSTD_WINDOW_LOG_MAX)) ||
        ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_stableOutBuffer, 1)))
        return ED_ERR_NOMEM;
    ZSTD_outBuffer out = {dst, cap, 0};
    size_t left = 1; /* zstd wants at least one frame */
    for (;;) {
        size_t n = 0;
        int rc = src(arg, piece, piece_len, &n);
        if (rc != ED_OK) return rc;
        if (n == 0) break;
        ZSTD_inBuffer in = {piece, n, 0};
        while (in.pos < in.size) {
            left = ZSTD_decompressStream(d, &out, &in);
            if (ZSTD_isError(left)) {
                ZSTD_ErrorCode e = ZSTD_getErrorCode(left);
                if (e == ZSTD_error_memory_allocation) return ED_ERR_NOMEM;
                if (e == ZSTD_error_dstSize_tooSmall) return ED_ERR_TOOBIG;
                return ED_ERR_CORRUPT;
            }
            if (out.pos == out.size && in.pos < in.size && left != 0) return ED_ERR_TOOBIG;
        }
    }
    if (left != 0) return out.pos == out.size ? ED_ERR_TOOBIG : ED_ERR_CORRUPT;
    *out_len = out.pos;
    return ED_OK;
#else
    ED_UNUSED(c);
    ED_UNUSED(codec);
    ED_UNUSED(src);
    ED_UNUSED(arg);
    ED_UNUSED(piece);
    ED_UNUSED(piece_len);
    ED_UNUSED(dst);
    ED_UNUSED(cap);
    ED_UNUSED(out_len);
    return ED_ERR_UNSUPPORTED;
#endif
}

size_t ed_codec_size_hint(int codec, const uint8_t *src, size_t len)
{
    switch (codec) {
    case ED_COMPRESSION_SNAPPY:
        return ed_snappy_declared_len(src, len);
    case ED_COMPRESSION_GZIP:
        /* ISIZE trailer of the last member: size mod 2^32. */
        return len >= 18 ? get_le32(src + len - 4) : 0;
    case ED_COMPRESSION_LZ4:
        if (len >= 15 && get_le32(src) == 0x184D2204u && (src[4] & 0x08) && src[10] == 0 &&
            src[11] == 0 && src[12] == 0 && src[13] == 0)
            return get_le32(src + 6);
        return 0;
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD: {
        unsigned long long n = ZSTD_getFrameContentSize(src, len);
        return n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR || n > SIZE_MAX
                   ? 0
                   : (size_t)n;
    }
#endif
    default:
        return 0;
    }
}

size_t ed_codec_compress_bound(int codec, size_t len)
{
    switch (codec) {
    case ED_COMPRESSION_NONE:
        return len;
    case ED_COMPRESSION_SNAPPY:
        return ed_snappy_compress_bound(len);
#if ED_WITH_GZIP
    case ED_COMPRESSION_GZIP:
        /* zlib's conservative deflateBound plus the gzip wrapper. */
        return len + (len >> 5) + (len >> 7) + (len >> 11) + 7 + 18 + 16;
#endif
#if ED_WITH_LZ4
    case ED_COMPRESSION_LZ4:
        return lz4_bound(len);
#endif
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD:
        return ZSTD_compressBound(len);
#endif
    default:
        return 0;
    }
}

int ed_codec_compress(struct ed_codec *c, int codec, int level, const uint8_t *src, size_t len,
                      uint8_t *dst, size_t cap, size_t *out_len)
{
    (void)level;
    switch (codec) {
    case ED_COMPRESSION_NONE:
        return copy_plain(src, len, dst, cap, out_len);
    case ED_COMPRESSION_SNAPPY:
        if (cap < ed_snappy_compress_bound(len) || len > UINT32_MAX) return ED_ERR_TOOBIG;
        *out_len = ed_snappy_compress(src, len, dst);
        return ED_OK;
#if ED_WITH_GZIP
    case ED_COMPRESSION_GZIP:
        return gzip_compress(c, level, src, len, dst, cap, out_len);
#endif
#if ED_WITH_LZ4
    case ED_COMPRESSION_LZ4:
        return lz4_compress(c, src, len, dst, cap, out_len);
#endif
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD:
        return zstd_compress(c, level, src, len, dst, cap, out_len);
#endif
    default:
        (void)c;
        return ED_ERR_UNSUPPORTED;
    }
}

void ed_codec_release(struct ed_codec *c)
{
#if ED_WITH_ZSTD
    ZSTD_freeDCtx(c->zstd_dctx);
    ZSTD_freeCCtx(c->zstd_cctx);
#endif
#if ED_WITH_GZIP
    if (c->inflate) {
        inflateEnd(c->inflate);
        ed_free(c->inflate);
    }
    if (c->deflate) {
        deflateEnd(c->deflate);
        ed_free(c->deflate);
    }
#endif
    ed_free(c->lz4_state);
    ed_free(c->sbuf);
    memset(c, 0, sizeof *c);
}
