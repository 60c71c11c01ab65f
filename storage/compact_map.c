/* Compaction's offset map: key hashes to the latest offset of each key in
 * a fixed-size open-addressing table (16 bytes a key, filled to 3/4), and
 * the last batch of each producer seen by the pass. */
#include <string.h>

#include "platform/mem.h"
#include "storage/compact_int.h"

static uint64_t key_hash(const uint8_t *p, int32_t len)
{
    /* FNV-1a, then a 64-bit finaliser so nearby keys spread */
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)(uint32_t)len;
    for (int32_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h ? h : 1; /* 0 marks an empty slot */
}

int ed_compact_map_init(struct ed_compactor *c)
{
    if (!c->mh) {
        uint32_t cap = 1;
        while ((uint64_t)cap * 2 * 16 <= c->lim.map_len && cap < (1u << 30))
            cap *= 2;
        c->mh = ed_calloc(cap, sizeof *c->mh);
        c->mo = ed_malloc((size_t)cap * sizeof *c->mo);
        if (!c->mh || !c->mo) {
            ed_free(c->mh);
            ed_free(c->mo);
            c->mh = NULL;
            c->mo = NULL;
            return ED_ERR_NOMEM;
        }
        c->cap = cap;
        c->limit = cap / 4 * 3;
        if (c->limit == 0) c->limit = 1;
    } else {
        memset(c->mh, 0, (size_t)c->cap * sizeof *c->mh);
    }
    c->n = 0;
    return ED_OK;
}

bool ed_compact_map_put(struct ed_compactor *c, const uint8_t *key, int32_t key_len, int64_t offset)
{
    uint64_t h = key_hash(key, key_len);
    uint32_t mask = c->cap - 1, i = (uint32_t)h & mask;
    while (c->mh[i]) {
        if (c->mh[i] == h) {
            if (offset > c->mo[i]) c->mo[i] = offset;
            return true;
        }
        i = (i + 1) & mask;
    }
    if (c->n >= c->limit) return false;
    c->mh[i] = h;
    c->mo[i] = offset;
    c->n++;
    return true;
}

int64_t ed_compact_map_latest(const struct ed_compactor *c, const uint8_t *key, int32_t key_len)
{
    uint64_t h = key_hash(key, key_len);
    uint32_t mask = c->cap - 1, i = (uint32_t)h & mask;
    while (c->mh[i]) {
        if (c->mh[i] == h) return c->mo[i];
        i = (i + 1) & mask;
    }
    return -1;
}

void ed_compact_note_pid(struct ed_compactor *c, const struct ed_batch_info *b)
{
    if (b->producer_id < 0) return;
    for (int i = 0; i < c->n_pids; i++) {
        if (c->pids[i].pid != b->producer_id) continue;
        if (b->base_offset > c->pids[i].last_base) c->pids[i].last_base = b->base_offset;
        return;
    }
    if (c->n_pids == N_PIDS) {
        c->pids_overflow = true;
        return;
    }
    c->pids[c->n_pids].pid = b->producer_id;
    c->pids[c->n_pids].last_base = b->base_offset;
    c->n_pids++;
}

bool ed_compact_keep_empty(const struct ed_compactor *c, const struct ed_batch_info *b)
{
    if (b->producer_id < 0) return false;
    for (int i = 0; i < c->n_pids; i++)
        if (c->pids[i].pid == b->producer_id) return c->pids[i].last_base <= b->base_offset;
    return true; /* not tracked: keep it to be safe */
}
