/* Streaming compression of a batch's records into a growing buffer: zstd
 * through ZSTD_compressStream2, gzip through deflate, LZ4 one 64 KiB block
 * at a time inside the frame storage/codec.c writes. */
#include <limits.h>
#include <string.h>

#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "storage/codec_int.h"
#include "storage/cstream.h"

#if ED_WITH_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getCParams */
#include <zstd.h>
#include <zstd_errors.h>
#endif
#if ED_WITH_GZIP
#include <zlib.h>
#endif

#define OUT_STEP      (16u << 10) /* the output grows by at least this much */
#define LZ4_BLOCK_LEN (64u << 10) /* Kafka's clients' block size, as storage/codec.c */
#define LZ4_HEAD_LEN  7           /* magic, FLG, BD, HC */

bool ed_cstream_supported(int codec)
{
    return (codec == ED_COMPRESSION_GZIP || codec == ED_COMPRESSION_LZ4 ||
            codec == ED_COMPRESSION_ZSTD) &&
           ed_codec_supported(codec, true);
}

/* At least need bytes free after o->len (and, for want > need, as many as
 * fit below max up to want): grows by half at least, so that a stream of
 * n bytes costs O(log n) reallocations. */
static int out_room(struct ed_cstream_out *o, size_t need, size_t want)
{
    if (o->len <= o->cap && o->cap - o->len >= want) return ED_OK; /* len: room left in front */
    if (o->len > o->max || need > o->max - o->len) return ED_ERR_TOOBIG;
    size_t n = ED_MAX(o->len + want, o->cap + o->cap / 2);
    n = ED_MIN(n, o->max);
    if (n <= o->cap) return o->len <= o->cap && o->cap - o->len >= need ? ED_OK : ED_ERR_TOOBIG;
    uint8_t *p = ed_realloc(o->buf, n);
    if (!p) return ED_ERR_NOMEM;
    o->buf = p;
    o->cap = n;
    return ED_OK;
}

static int put(struct ed_cstream_out *o, const void *p, size_t len)
{
    int rc = out_room(o, len, ED_MAX((size_t)len, (size_t)OUT_STEP));
    if (rc != ED_OK) return rc;
    memcpy(o->buf + o->len, p, len);
    o->len += len;
    return ED_OK;
}

/* ---- zstd ---- */
#if ED_WITH_ZSTD
static int zstd_err(size_t r)
{
    return ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? ED_ERR_NOMEM : ED_ERR_INVAL;
}

static int zstd_begin(struct ed_codec *c, int level, int window_log)
{
    if (ed_codec_zstd_cctx(c) != ED_OK) return ED_ERR_NOMEM;
    if (!level) level = ZSTD_CLEVEL_DEFAULT;
    ZSTD_CCtx *cc = c->zstd_cctx;
    ZSTD_CCtx_reset(cc, ZSTD_reset_session_and_parameters);
    size_t r = ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(r) && window_log)
        r = ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, window_log);
    if (!ZSTD_isError(r) && c->zstd_table_log) {
        ZSTD_compressionParameters p =
            ZSTD_getCParams(level, window_log ? (1ull << window_log) : 0, 0);
        unsigned hl = ED_MIN(p.hashLog, (unsigned)c->zstd_table_log);
        unsigned cl = ED_MIN(p.chainLog, (unsigned)c->zstd_table_log - 1);
        r = ZSTD_CCtx_setParameter(cc, ZSTD_c_hashLog, (int)hl);
        if (!ZSTD_isError(r)) r = ZSTD_CCtx_setParameter(cc, ZSTD_c_chainLog, (int)cl);
    }
    return ZSTD_isError(r) ? zstd_err(r) : ED_OK;
}

/* Feeds in (all of it) or, with ZSTD_e_end, ends the frame. */
static int zstd_run(struct ed_codec *c, ZSTD_inBuffer *in, ZSTD_EndDirective mode,
                    struct ed_cstream_out *o)
{
    for (;;) {
        int rc = out_room(o, 1, OUT_STEP);
        if (rc != ED_OK) return rc;
        ZSTD_outBuffer ob = {o->buf, o->cap, o->len};
        size_t r = ZSTD_compressStream2(c->zstd_cctx, &ob, in, mode);
        o->len = ob.pos;
        if (ZSTD_isError(r)) return zstd_err(r);
        if (mode == ZSTD_e_end ? r == 0 : in->pos == in->size) return ED_OK;
    }
}
#endif

/* ---- gzip ---- */
#if ED_WITH_GZIP
static int gzip_run(struct ed_codec *c, const uint8_t *p, size_t len, int flush,
                    struct ed_cstream_out *o)
{
    z_stream *zs = c->deflate;
    if (len > UINT_MAX) return ED_ERR_TOOBIG;
    zs->next_in = (Bytef *)(uintptr_t)p;
    zs->avail_in = (uInt)len;
    for (;;) {
        int rc = out_room(o, 1, OUT_STEP);
        if (rc != ED_OK) return rc;
        size_t room = ED_MIN(o->cap - o->len, (size_t)UINT_MAX);
        zs->next_out = o->buf + o->len;
        zs->avail_out = (uInt)room;
        int z = deflate(zs, flush);
        o->len += room - zs->avail_out;
        if (z == Z_STREAM_END) return ED_OK;
        if (z != Z_OK && z != Z_BUF_ERROR) return ED_ERR_INVAL;
        if (flush == Z_NO_FLUSH && zs->avail_in == 0) return ED_OK;
    }
}
#endif

/* ---- LZ4 ---- */

/* Compresses the gathered block into o: storage/codec.c writes it as a
 * whole frame (header, the block, end mark) in place over the last
 * LZ4_HEAD_LEN bytes of o, which are put back, and the end mark dropped,
 * so the block follows the frame so far with no copy of its own. */
static int lz4_block(struct ed_cstream *s, struct ed_cstream_out *o)
{
    if (!s->blk_len) return ED_OK;
    size_t bound = ed_codec_compress_bound(ED_COMPRESSION_LZ4, s->blk_len);
    int rc = out_room(o, bound, ED_MAX(bound, (size_t)OUT_STEP));
    if (rc != ED_OK) return rc;
    uint8_t keep[LZ4_HEAD_LEN];
    uint8_t *at = o->buf + o->len - LZ4_HEAD_LEN;
    memcpy(keep, at, LZ4_HEAD_LEN);
    size_t n = 0;
    rc = ed_codec_compress(s->c, ED_COMPRESSION_LZ4, 0, s->blk, s->blk_len, at,
                           o->cap - o->len + LZ4_HEAD_LEN, &n);
    memcpy(at, keep, LZ4_HEAD_LEN);
    if (rc != ED_OK) return rc;
    o->len += n - LZ4_HEAD_LEN - 4;
    s->blk_len = 0;
    return ED_OK;
}

static int lz4_write(struct ed_cstream *s, const uint8_t *p, size_t len, struct ed_cstream_out *o)
{
    if (!s->blk) {
        s->blk = ed_malloc(LZ4_BLOCK_LEN);
        if (!s->blk) return ED_ERR_NOMEM;
    }
    while (len) {
        size_t n = ED_MIN(len, LZ4_BLOCK_LEN - s->blk_len);
        memcpy(s->blk + s->blk_len, p, n);
        s->blk_len += n;
        p += n;
        len -= n;
        if (s->blk_len == LZ4_BLOCK_LEN) {
            int rc = lz4_block(s, o);
            if (rc != ED_OK) return rc;
        }
    }
    return ED_OK;
}

/* ---- the stream ---- */

int ed_cstream_begin(struct ed_cstream *s, struct ed_codec *c, int codec, int level, int window_log,
                     struct ed_cstream_out *o)
{
    s->open = false;
    s->c = c;
    s->codec = codec;
    s->blk_len = 0;
    if (!ed_cstream_supported(codec)) return ED_ERR_UNSUPPORTED;
    int rc = ED_ERR_UNSUPPORTED;
    switch (codec) {
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD:
        rc = zstd_begin(c, level, window_log);
        break;
#endif
#if ED_WITH_GZIP
    case ED_COMPRESSION_GZIP:
        rc = ed_codec_deflater(c, level);
        break;
#endif
    case ED_COMPRESSION_LZ4: {
        /* the frame's header: that of an empty frame (its end mark follows) */
        uint8_t empty[16]; /* lz4_bound(0) */
        size_t n = 0;
        rc = ed_codec_compress(c, ED_COMPRESSION_LZ4, 0, empty, 0, empty, sizeof empty, &n);
        if (rc == ED_OK) rc = put(o, empty, LZ4_HEAD_LEN);
        break;
    }
    default:
        break;
    }
    (void)level;
    (void)window_log;
    s->open = rc == ED_OK;
    return rc;
}

int ed_cstream_write(struct ed_cstream *s, const void *p, size_t len, struct ed_cstream_out *o)
{
    if (!s->open) return ED_ERR_INVAL;
    if (!len) return ED_OK;
    int rc = ED_ERR_UNSUPPORTED;
    switch (s->codec) {
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD: {
        ZSTD_inBuffer in = {p, len, 0};
        rc = zstd_run(s->c, &in, ZSTD_e_continue, o);
        break;
    }
#endif
#if ED_WITH_GZIP
    case ED_COMPRESSION_GZIP:
        rc = gzip_run(s->c, p, len, Z_NO_FLUSH, o);
        break;
#endif
    case ED_COMPRESSION_LZ4:
        rc = lz4_write(s, p, len, o);
        break;
    default:
        break;
    }
    if (rc != ED_OK) s->open = false;
    return rc;
}

int ed_cstream_end(struct ed_cstream *s, struct ed_cstream_out *o)
{
    if (!s->open) return ED_ERR_INVAL;
    s->open = false;
    switch (s->codec) {
#if ED_WITH_ZSTD
    case ED_COMPRESSION_ZSTD: {
        ZSTD_inBuffer in = {NULL, 0, 0};
        return zstd_run(s->c, &in, ZSTD_e_end, o);
    }
#endif
#if ED_WITH_GZIP
    case ED_COMPRESSION_GZIP:
        return gzip_run(s->c, NULL, 0, Z_FINISH, o);
#endif
    case ED_COMPRESSION_LZ4: {
        int rc = lz4_block(s, o);
        static const uint8_t end_mark[4] = {0, 0, 0, 0};
        return rc == ED_OK ? put(o, end_mark, sizeof end_mark) : rc;
    }
    default:
        return ED_ERR_UNSUPPORTED;
    }
}

void ed_cstream_release(struct ed_cstream *s)
{
    ed_free(s->blk);
    memset(s, 0, sizeof *s);
}
