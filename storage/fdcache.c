/* The bounded cache of open segment files: which sealed segments may have
 * their .log (and index files) closed, closing the least recently used of
 * them beyond eddy.max.open.segments, and reopening a closed one on use.
 *
 * A file is closed only on the loop thread and only when nobody else can be
 * using it: the segment is sealed (never written again), held by its log
 * alone (no slice being sent, no reader, no compaction pass), not in a
 * flush job (the flusher thread touches only its job's segments) and fully
 * synced with no reservation left to trim (so no flush job can need it
 * before it is reopened). */
#include <inttypes.h>

#define ED_LOG_MODULE "fdcache"
#include "platform/log.h"
#include "storage/segment.h"

static void unlink_seg(struct ed_fdcache *fc, ed_segment *seg)
{
    if (!seg->lru_linked) return;
    if (seg->lru_prev)
        seg->lru_prev->lru_next = seg->lru_next;
    else
        fc->head = seg->lru_next;
    if (seg->lru_next)
        seg->lru_next->lru_prev = seg->lru_prev;
    else
        fc->tail = seg->lru_prev;
    seg->lru_prev = seg->lru_next = NULL;
    seg->lru_linked = false;
    fc->n_open--;
}

static void link_head(struct ed_fdcache *fc, ed_segment *seg)
{
    seg->lru_prev = NULL;
    seg->lru_next = fc->head;
    if (fc->head)
        fc->head->lru_prev = seg;
    else
        fc->tail = seg;
    fc->head = seg;
    seg->lru_linked = true;
    fc->n_open++;
}

static bool idle(ed_segment *seg)
{
    return seg->sealed && !seg->in_job && !seg->trim_pending && seg->synced_len == seg->len &&
           atomic_load_explicit(&seg->refs, memory_order_acquire) == 1;
}

/* Closes idle files from the least recently used end until at most limit
 * are open. A busy segment met on the way moves to the front, so each
 * call looks at every open segment at most once. */
static void shrink_to(struct ed_fdcache *fc, uint32_t limit)
{
    uint32_t n_look = fc->n_open;
    while (fc->n_open > limit && n_look-- > 0 && fc->tail) {
        ed_segment *seg = fc->tail;
        unlink_seg(fc, seg);
        if (!idle(seg)) {
            link_head(fc, seg);
            continue;
        }
        ed_plat_file_close(seg->file);
        ed_plat_file_close(seg->idx_file);
        ed_plat_file_close(seg->tidx_file);
        seg->file = seg->idx_file = seg->tidx_file = NULL;
        fc->n_closed++;
    }
}

void ed_fdcache_attach(struct ed_fdcache *fc, ed_segment *seg)
{
    ED_ASSERT(!seg->cache);
    seg->cache = fc;
    if (seg->file) link_head(fc, seg);
    ed_fdcache_trim(fc);
}

void ed_fdcache_detach(ed_segment *seg)
{
    if (!seg->cache) return;
    unlink_seg(seg->cache, seg);
    seg->cache = NULL;
}

void ed_fdcache_trim(struct ed_fdcache *fc)
{
    if (fc->max_open > 0) shrink_to(fc, fc->max_open);
}

int ed_fdcache_file(ed_segment *seg, ed_file **out)
{
    struct ed_fdcache *fc = seg->cache;
    if (seg->file) {
        if (fc && fc->head != seg) {
            unlink_seg(fc, seg);
            link_head(fc, seg);
        }
        *out = seg->file;
        return ED_OK;
    }
    if (fc && fc->max_open > 0) {
        shrink_to(fc, fc->max_open - 1);
        if (fc->n_open >= fc->max_open) fc->n_over_bound++;
    }
    char p[ED_STORAGE_PATH_MAX];
    int rc = ed_segment_path(seg, ".log", p, sizeof p);
    if (rc == ED_OK)
        rc = ed_plat_file_open(p, seg->sealed ? ED_FILE_READ : ED_FILE_WRITE, &seg->file);
    if (rc != ED_OK) {
        seg->file = NULL;
        /* index files a lookup opened just before stay outside the bound
         * unless closed with the failed .log */
        ed_plat_file_close(seg->idx_file);
        ed_plat_file_close(seg->tidx_file);
        seg->idx_file = seg->tidx_file = NULL;
        if (fc) fc->n_reopen_failed++;
        ED_LOG_ERR("cannot reopen segment %s: %s", p, ed_strerror(rc));
        /* A segment file that vanished is a storage error, not "no such
         * offset": readers skip a segment on ED_ERR_NOENT. */
        return rc == ED_ERR_NOENT ? ED_ERR_IO : rc;
    }
    if (fc) {
        fc->n_reopened++;
        link_head(fc, seg);
    }
    *out = seg->file;
    return ED_OK;
}
