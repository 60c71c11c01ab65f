/* Kafka's default partitioner for keyed records (see partitioner.h). */
#include "core/partitioner.h"

int32_t ed_partitioner_murmur2(const uint8_t *data, size_t len)
{
    const uint32_t m = 0x5bd1e995;
    uint32_t h = 0x9747b28c ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        const uint8_t *p = data + i * 4;
        uint32_t k =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    const uint8_t *t = data + n4 * 4;
    switch (len & 3) {
    case 3:
        h ^= (uint32_t)t[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)t[1] << 8;
        /* fall through */
    case 1:
        h ^= t[0];
        h *= m;
        break;
    default:
        break;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

int32_t ed_partitioner_pick(const uint8_t *key, size_t len, int32_t n_partitions)
{
    if (n_partitions <= 1) return 0;
    uint32_t h = (uint32_t)ed_partitioner_murmur2(key, len) & 0x7fffffffu;
    return (int32_t)(h % (uint32_t)n_partitions);
}
