/* Deterministic RecordBatch v2 batches for the crash tests and their check,
 * written from the Kafka format description without the library's batch
 * code, so the two cannot share a mistake. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t ct_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint32_t ct_crc32c(const void *buf, size_t len)
{
    static uint32_t table[256];
    if (!table[1]) /* byte-at-a-time table of the reflected polynomial */
        for (uint32_t n = 0; n < 256; n++) {
            uint32_t c = n;
            for (int k = 0; k < 8; k++)
                c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
            table[n] = c;
        }
    const uint8_t *p = buf;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static void be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* zigzag varint */
static size_t varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

uint8_t *ct_batch_build(uint64_t id, int max_records, size_t max_value, size_t *len)
{
    uint64_t h = ct_mix(id);
    int n = 1 + (int)(h % (uint64_t)max_records);
    size_t cap = 61;
    for (int i = 0; i < n; i++)
        cap += 64 + max_value;
    uint8_t *b = malloc(cap);
    if (!b) abort();
    size_t at = 61;
    uint8_t rec[64 + 32];
    for (int i = 0; i < n; i++) {
        char key[48];
        int key_len = snprintf(key, sizeof key, "id:%llu:%d", (unsigned long long)id, i);
        uint64_t hv = ct_mix(h ^ (uint64_t)(i + 1));
        size_t value_len = max_value ? (size_t)(hv % max_value) : 0;
        /* body: attributes, timestampDelta, offsetDelta, key, value, headers */
        size_t body = 0;
        rec[body++] = 0;
        body += varint(rec + body, i);
        body += varint(rec + body, i);
        body += varint(rec + body, key_len);
        size_t head_len = body;
        size_t tail_len = (size_t)key_len;
        uint8_t vl[10];
        size_t vl_len = varint(vl, (int64_t)value_len);
        size_t total = head_len + tail_len + vl_len + value_len + 1;
        at += varint(b + at, (int64_t)total);
        memcpy(b + at, rec, head_len);
        at += head_len;
        memcpy(b + at, key, tail_len);
        at += tail_len;
        memcpy(b + at, vl, vl_len);
        at += vl_len;
        uint64_t x = hv;
        for (size_t k = 0; k < value_len; k++) {
            if (k % 8 == 0) x = ct_mix(x);
            b[at++] = (uint8_t)(x >> (k % 8 * 8));
        }
        b[at++] = 0; /* no headers */
    }
    int64_t ts = CT_TS0 + (int64_t)id;
    be(b + 0, 0, 8);                       /* baseOffset */
    be(b + 8, at - 12, 4);                 /* length */
    be(b + 12, 0, 4);                      /* partitionLeaderEpoch */
    b[16] = 2;                             /* magic */
    be(b + 21, 0, 2);                      /* attributes */
    be(b + 23, (uint64_t)(n - 1), 4);      /* lastOffsetDelta */
    be(b + 27, (uint64_t)ts, 8);           /* baseTimestamp */
    be(b + 35, (uint64_t)(ts + n - 1), 8); /* maxTimestamp */
    be(b + 43, (uint64_t)-1, 8);           /* producerId */
    be(b + 51, 0xffff, 2);                 /* producerEpoch */
    be(b + 53, 0xffffffffu, 4);            /* baseSequence */
    be(b + 57, (uint64_t)n, 4);            /* recordCount */
    be(b + 17, ct_crc32c(b + 21, at - 21), 4);
    *len = at;
    return b;
}

bool ct_batch_parse(const uint8_t *p, size_t avail, struct ct_batch *out)
{
    if (avail < 61) return false;
    int64_t length = (int32_t)get_be(p + 8, 4);
    if (length < 49 || (uint64_t)length + 12 > avail || p[16] != 2) return false;
    size_t total = (size_t)length + 12;
    if ((uint32_t)get_be(p + 17, 4) != ct_crc32c(p + 21, total - 21)) return false;
    out->base_offset = (int64_t)get_be(p, 8);
    out->last_offset = out->base_offset + (int32_t)get_be(p + 23, 4);
    out->id = (uint64_t)((int64_t)get_be(p + 27, 8) - CT_TS0);
    out->len = total;
    return true;
}

bool ct_batch_matches(const uint8_t *p, size_t len, int64_t base_offset, int max_records,
                      size_t max_value)
{
    struct ct_batch b;
    if (!ct_batch_parse(p, len, &b) || b.base_offset != base_offset) return false;
    size_t want_len = 0;
    uint8_t *want = ct_batch_build(b.id, max_records, max_value, &want_len);
    bool ok = want_len == b.len && memcmp(p + 8, want + 8, 4) == 0 &&
              memcmp(p + 16, want + 16, want_len - 16) == 0;
    free(want);
    return ok;
}

size_t ct_fs_value_cap(uint64_t id)
{
    return ct_mix(id ^ 0xb16b16ull) % 16 == 0 ? 20000 : 400;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = ct_mix(h ^ w);
    }
    uint64_t w = 0;
    memcpy(&w, p + i, len - i);
    return ct_mix(h ^ w ^ (uint64_t)len << 56);
}

uint64_t ct_batch_hash(const uint8_t *p, size_t len)
{
    if (len < 16) return hash_bytes(0, p, len);
    return hash_bytes(hash_bytes(0x5eed, p + 8, 4), p + 16, len - 16);
}
