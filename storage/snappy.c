/* Snappy block format (and xerial's framing around it): a bounds-checked
 * decoder and a small greedy encoder. Block layout: the uncompressed length
 * as an unsigned varint, then elements whose tag byte's low two bits say
 * literal (0), copy with 11-bit offset (1), 16-bit offset (2), 32-bit (3). */
#include <string.h>

#include "storage/snappy.h"

/* xerial snappy-java stream: 8-byte magic, int32 version, int32 compatible
 * version, then chunks of int32 big-endian length + one raw block. */
static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
#define XERIAL_HEADER_LEN 16

static size_t get_uvarint32(const uint8_t *p, const uint8_t *end, uint32_t *out)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 5 && p + i < end; i++) {
        if (i == 4 && p[i] > 0x0f) return 0;
        v |= (uint32_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

static inline uint32_t get_le(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

int ed_snappy_decompress_block(const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
                               size_t *out_len)
{
    const uint8_t *p = src, *end = src + len;
    uint32_t want;
    size_t n = get_uvarint32(p, end, &want);
    if (n == 0) return ED_ERR_CORRUPT;
    if (want > cap) return ED_ERR_TOOBIG;
    p += n;
    size_t op = 0;
    while (p < end) {
        uint8_t tag = *p++;
        size_t copy_len, offset;
        if ((tag & 3) == 0) {
            size_t lit = (size_t)(tag >> 2) + 1;
            if (lit > 60) {
                unsigned nb = (unsigned)lit - 60; /* 1..4 length bytes */
                if ((size_t)(end - p) < nb) return ED_ERR_CORRUPT;
                lit = (size_t)get_le(p, nb) + 1;
                p += nb;
            }
            if (lit == 0 || (size_t)(end - p) < lit || want - op < lit) return ED_ERR_CORRUPT;
            memcpy(dst + op, p, lit);
            op += lit;
            p += lit;
            continue;
        }
        if ((tag & 3) == 1) {
            if (end - p < 1) return ED_ERR_CORRUPT;
            copy_len = 4 + ((tag >> 2) & 7);
            offset = (size_t)(tag >> 5) << 8 | *p++;
        } else {
            unsigned nb = (tag & 3) == 2 ? 2 : 4;
            if ((size_t)(end - p) < nb) return ED_ERR_CORRUPT;
            copy_len = (size_t)(tag >> 2) + 1;
            offset = get_le(p, nb);
            p += nb;
        }
        if (offset == 0 || offset > op || want - op < copy_len) return ED_ERR_CORRUPT;
        /* Overlapping copies repeat the pattern: byte by byte when close. */
        uint8_t *d = dst + op;
        const uint8_t *s = d - offset;
        if (offset >= copy_len) {
            memcpy(d, s, copy_len);
        } else {
            for (size_t i = 0; i < copy_len; i++)
                d[i] = s[i];
        }
        op += copy_len;
    }
    if (op != want) return ED_ERR_CORRUPT;
    *out_len = op;
    return ED_OK;
}

static bool is_xerial(const uint8_t *src, size_t len)
{
    return len >= XERIAL_HEADER_LEN && memcmp(src, xerial_magic, sizeof xerial_magic) == 0;
}

int ed_snappy_each_block(const uint8_t *src, size_t len, ed_snappy_block_fn block, void *arg)
{
    if (!is_xerial(src, len)) return block(arg, src, len);
    for (size_t pos = XERIAL_HEADER_LEN; pos < len;) {
        if (len - pos < 4) return ED_ERR_CORRUPT;
        uint32_t chunk = ed_get_be32(src + pos);
        pos += 4;
        if (chunk > len - pos) return ED_ERR_CORRUPT;
        int rc = block(arg, src + pos, chunk);
        if (rc != ED_OK) return rc;
        pos += chunk;
    }
    return ED_OK;
}

struct into_buf {
    uint8_t *dst;
    size_t cap, op;
};

static int block_into(void *arg, const uint8_t *raw, size_t raw_len)
{
    struct into_buf *o = arg;
    size_t got;
    int rc = ed_snappy_decompress_block(raw, raw_len, o->dst + o->op, o->cap - o->op, &got);
    if (rc == ED_OK) o->op += got;
    return rc;
}

int ed_snappy_decompress(const uint8_t *src, size_t len, uint8_t *dst, size_t cap, size_t *out_len)
{
    struct into_buf o = {dst, cap, 0};
    int rc = ed_snappy_each_block(src, len, block_into, &o);
    if (rc == ED_OK) *out_len = o.op;
    return rc;
}

size_t ed_snappy_declared_len(const uint8_t *src, size_t len)
{
    uint32_t v;
    if (!is_xerial(src, len)) return get_uvarint32(src, src + len, &v) ? v : 0;
    size_t pos = XERIAL_HEADER_LEN, total = 0;
    while (pos < len) {
        if (len - pos < 4) return 0;
        uint32_t chunk = ed_get_be32(src + pos);
        pos += 4;
        if (chunk > len - pos || !get_uvarint32(src + pos, src + pos + chunk, &v)) return 0;
        if (total > SIZE_MAX - v) return 0;
        total += v;
        pos += chunk;
    }
    return total;
}

/* ---- encoder ---- */

#define FRAGMENT_LEN 65536 /* matches stay inside a fragment: 16-bit offsets */
#define HASH_BITS    12

size_t ed_snappy_compress_bound(size_t len)
{
    return 32 + len + len / 6;
}

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint8_t *emit_literal(uint8_t *op, const uint8_t *lit, size_t n)
{
    size_t m = n - 1;
    if (m < 60) {
        *op++ = (uint8_t)(m << 2);
    } else {
        unsigned nb = m < 256 ? 1 : m < 65536 ? 2 : m < (1u << 24) ? 3 : 4;
        *op++ = (uint8_t)((59 + nb) << 2);
        for (unsigned i = 0; i < nb; i++)
            *op++ = (uint8_t)(m >> (8 * i));
    }
    memcpy(op, lit, n);
    return op + n;
}

static uint8_t *emit_copy(uint8_t *op, size_t offset, size_t n)
{
    while (n > 0) {
        /* Leave at least 4 bytes for the last element when splitting. */
        size_t k = n > 64 ? (n - 64 < 4 ? 60 : 64) : n;
        if (k >= 4 && k <= 11 && offset < 2048) {
            *op++ = (uint8_t)(1 | (k - 4) << 2 | (offset >> 8) << 5);
            *op++ = (uint8_t)offset;
        } else {
            *op++ = (uint8_t)(2 | (k - 1) << 2);
            *op++ = (uint8_t)offset;
            *op++ = (uint8_t)(offset >> 8);
        }
        n -= k;
    }
    return op;
}

static uint8_t *compress_fragment(const uint8_t *src, size_t len, uint8_t *op)
{
    uint16_t table[1u << HASH_BITS];
    memset(table, 0, sizeof table);
    size_t i = 1, lit_start = 0;
    if (len >= 4) table[(load32(src) * 0x1e35a7bdu) >> (32 - HASH_BITS)] = 0;
    while (len >= 4 && i + 4 <= len) {
        uint32_t cur = load32(src + i);
        uint32_t h = (cur * 0x1e35a7bdu) >> (32 - HASH_BITS);
        size_t cand = table[h];
        table[h] = (uint16_t)i;
        if (cand >= i || load32(src + cand) != cur) {
            i++;
            continue;
        }
        size_t n = 4;
        while (i + n < len && src[cand + n] == src[i + n])
            n++;
        if (i > lit_start) op = emit_literal(op, src + lit_start, i - lit_start);
        op = emit_copy(op, i - cand, n);
        i += n;
        lit_start = i;
    }
    if (len > lit_start) op = emit_literal(op, src + lit_start, len - lit_start);
    return op;
}

size_t ed_snappy_compress(const uint8_t *src, size_t len, uint8_t *dst)
{
    uint8_t *op = dst;
    uint64_t v = len;
    while (v >= 0x80) {
        *op++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *op++ = (uint8_t)v;
    for (size_t pos = 0; pos < len; pos += FRAGMENT_LEN)
        op = compress_fragment(src + pos, ED_MIN(FRAGMENT_LEN, len - pos), op);
    return (size_t)(op - dst);
}
