/* Kafka's zigzag varints (records, headers): encode, size, and bounded
 * decode that rejects truncated, over-long and overflowing encodings. */
#ifndef ED_STORAGE_VARINT_H
#define ED_STORAGE_VARINT_H

#include "platform/base.h"

/* Bytes needed for v as a zigzag varlong (a varint is the same for int32). */
static inline size_t ed_varint_len(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)); /* zigzag */
    size_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

/* Writes v as a zigzag varlong at p (room for 10 bytes); returns bytes. */
static inline size_t ed_varint_put(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63)); /* zigzag */
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

/* Reads an unsigned base-128 value of at most max_bits bits from [p, end).
 * Returns bytes consumed, 0 if truncated or wider than max_bits. */
static inline size_t ed_varint_get_raw(const uint8_t *p, const uint8_t *end, unsigned max_bits,
                                       uint64_t *out)
{
    if (p < end && p[0] < 0x80) { /* most fields of a record: one byte */
        *out = p[0];
        return 1;
    }
    uint64_t v = 0;
    unsigned shift = 0;
    for (size_t i = 0; p + i < end; i++) {
        uint64_t b = p[i];
        if (shift + 7 > max_bits && (b & 0x7f) >> (max_bits - shift) != 0)
            return 0; /* bits beyond the type: overflow */
        v |= (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return i + 1;
        }
        shift += 7;
        if (shift >= max_bits) return 0; /* continuation past the last possible byte */
    }
    return 0;
}

/* Zigzag varint (int32, at most 5 bytes). Returns bytes consumed or 0. */
static inline size_t ed_varint_get32(const uint8_t *p, const uint8_t *end, int32_t *out)
{
    uint64_t z;
    size_t n = ed_varint_get_raw(p, end, 32, &z);
    if (n) *out = (int32_t)((uint32_t)(z >> 1) ^ (uint32_t) - (int32_t)(z & 1));
    return n;
}

/* Zigzag varlong (int64, at most 10 bytes). Returns bytes consumed or 0. */
static inline size_t ed_varint_get64(const uint8_t *p, const uint8_t *end, int64_t *out)
{
    uint64_t z;
    size_t n = ed_varint_get_raw(p, end, 64, &z);
    if (n) *out = (int64_t)((z >> 1) ^ (uint64_t) - (int64_t)(z & 1));
    return n;
}

#endif
