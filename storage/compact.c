/* Log compaction (see compact.h): a pass over one log first maps the keys
 * of its dirty closed segments to their latest offsets (a fixed-size hash
 * map: key hash -> offset), then rewrites every closed segment up to the
 * end of what the map covers, in groups of neighbours whose bytes fit one
 * segment, keeping a record unless a later offset holds its key or it is a
 * tombstone whose delete horizon has passed. Batches keep their base offset
 * and last offset delta; a batch keeps its bytes when nothing in it
 * changes. Each group's output is written sequentially to
 * <first base>.<last base>.cleaned, synced, renamed to .swap (the commit
 * point), the old index files and segments are removed and the .swap
 * becomes <first base>.log; ed_compact_recover_dir finishes or rolls back
 * an interrupted swap at open. Work is cut into steps of a byte budget so
 * the loop keeps serving. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "compact"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/compact.h"
#include "storage/format.h"
#include "storage/log_int.h"
#include "storage/varint.h"

#define WBUF_LEN    (256u << 10)             /* output is written in chunks of this size */
#define RBUF_LEN    (256u << 10)             /* input is read in windows of at least this size */
#define N_PIDS      256                      /* producers tracked to keep their last batch */
#define REBUILD_MAX ED_BATCH_RECORDS_MAX_LEN /* what Produce takes, the cleaner reads */

enum phase { P_IDLE = 0, P_MAP, P_COPY };

struct pid_last {
    int64_t pid;
    int64_t last_base; /* base offset of the producer's last batch in the pass */
};

struct ed_compactor {
    struct ed_compact_limits lim;
    int crash_point;
    bool crashed;
    uint32_t next_log; /* round robin */
    int passes_done;

    /* the pass */
    ed_log *log;
    enum phase phase;
    int64_t now_ms;
    ed_segment **segs; /* closed segments of the pass (referenced), from the log start */
    uint32_t n_segs;
    /* offset map */
    uint64_t *mh;
    int64_t *mo;
    uint32_t cap, n, limit;
    int64_t map_end; /* records below are covered by the map */
    uint32_t mi;     /* map cursor: segment, position */
    uint64_t mpos;
    struct pid_last pids[N_PIDS];
    int n_pids;
    bool pids_overflow;
    /* copy */
    uint32_t n_rewrite; /* segments [0, n_rewrite) are rewritten */
    uint32_t gi, gj;    /* the group being written */
    uint32_t ci;        /* copy cursor: segment, position */
    uint64_t cpos;
    ed_file *out;
    uint64_t out_len;
    char out_path[ED_STORAGE_PATH_MAX];
    int64_t min_horizon;
    /* buffers */
    uint8_t *wbuf;
    size_t wlen;
    uint8_t *rbuf;
    size_t rcap, rlen;
    ed_segment *rseg; /* what rbuf holds: [rpos, rpos + rlen) of rseg */
    uint64_t rpos;
    uint8_t *obuf, *zbuf;
    size_t ocap, zcap;
    uint8_t *pbuf; /* the batch held back (see emit) */
    size_t pcap, pend_len;
    int64_t expect; /* the offset the next batch of the output must start at */
    struct ed_batch_iter it;
    struct ed_codec codec;
};

/* ---- setup ---- */

static struct ed_compactor *get(ed_storage *st)
{
    if (st->compactor) return st->compactor;
    struct ed_compactor *c = ed_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->lim.map_len = ED_COMPACT_MAP_LEN;
    c->lim.step_len = ED_COMPACT_STEP_LEN;
    c->lim.min_dirty_ratio = 0.5;
    ed_batch_iter_init(&c->it, REBUILD_MAX);
    st->compactor = c;
    return c;
}

void ed_compact_set_limits(ed_storage *st, const struct ed_compact_limits *lim)
{
    struct ed_compactor *c = get(st);
    if (!c || c->phase != P_IDLE) return;
    c->lim = *lim;
    if (c->lim.map_len < 64) c->lim.map_len = 64;
    if (c->lim.step_len < 4096) c->lim.step_len = 4096;
    ed_free(c->mh);
    ed_free(c->mo);
    c->mh = NULL;
    c->mo = NULL;
    c->cap = 0;
}

void ed_compact_set_crash_point(ed_storage *st, int point)
{
    struct ed_compactor *c = get(st);
    if (c) c->crash_point = point;
}

static void release_segs(struct ed_compactor *c)
{
    for (uint32_t i = 0; i < c->n_segs; i++)
        ed_segment_unref(c->segs[i]);
    ed_free(c->segs);
    c->segs = NULL;
    c->n_segs = 0;
    c->rseg = NULL;
    c->rlen = 0;
}

/* Ends the pass; a half-written group's file is removed. */
static void end_pass(ed_storage *st, struct ed_compactor *c, bool aborted)
{
    if (c->out) {
        ed_plat_file_close(c->out);
        c->out = NULL;
        if (!c->crashed) ed_plat_path_unlink(c->out_path);
    }
    if (aborted && c->log) st->stats.n_compactions_aborted++;
    release_segs(c);
    c->log = NULL;
    c->phase = P_IDLE;
    c->wlen = 0;
    c->pend_len = 0;
}

void ed_compact_forget(ed_storage *st, ed_log *log)
{
    struct ed_compactor *c = st->compactor;
    if (c && c->log == log) {
        ED_LOG_INFO("%s: compaction pass dropped (the log is going away)", log->dir);
        end_pass(st, c, true);
    }
}

void ed_compact_free(ed_storage *st)
{
    struct ed_compactor *c = st->compactor;
    if (!c) return;
    end_pass(st, c, c->phase != P_IDLE);
    ed_free(c->mh);
    ed_free(c->mo);
    ed_free(c->wbuf);
    ed_free(c->rbuf);
    ed_free(c->obuf);
    ed_free(c->zbuf);
    ed_free(c->pbuf);
    ed_batch_iter_release(&c->it);
    ed_codec_release(&c->codec);
    ed_free(c);
    st->compactor = NULL;
}

/* ---- the offset map ---- */

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

static int map_init(struct ed_compactor *c)
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

/* Records offset for the key; false when a new key finds the map full. */
static bool map_put(struct ed_compactor *c, uint64_t h, int64_t offset)
{
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

static int64_t map_get(const struct ed_compactor *c, uint64_t h)
{
    uint32_t mask = c->cap - 1, i = (uint32_t)h & mask;
    while (c->mh[i]) {
        if (c->mh[i] == h) return c->mo[i];
        i = (i + 1) & mask;
    }
    return -1;
}

static void note_pid(struct ed_compactor *c, const struct ed_batch_info *b)
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

/* Must an emptied batch stay (as a header) to keep its producer's last
 * sequence number for the idempotence state rebuilt at open? */
static bool keep_empty(const struct ed_compactor *c, const struct ed_batch_info *b)
{
    if (b->producer_id < 0) return false;
    for (int i = 0; i < c->n_pids; i++)
        if (c->pids[i].pid == b->producer_id) return c->pids[i].last_base <= b->base_offset;
    return true; /* not tracked: keep it to be safe */
}

/* ---- reading batches ---- */

/* Points *out at the whole, checked batch at pos of seg. */
static int read_batch(struct ed_compactor *c, ed_segment *seg, uint64_t pos, const uint8_t **out,
                      struct ed_batch_info *b)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        if (c->rseg == seg && pos >= c->rpos && pos + ED_BATCH_HEADER_LEN <= c->rpos + c->rlen) {
            const uint8_t *p = c->rbuf + (pos - c->rpos);
            size_t avail = (size_t)(c->rpos + c->rlen - pos);
            int rc = ed_batch_parse_header(p, avail, b);
            if (rc != ED_OK)
                return ED_ERR_CORRUPT_AT("%s.log: bad batch header at %" PRIu64, seg->path, pos);
            size_t total = ed_batch_total_len(b);
            if (pos + total > seg->len)
                return ED_ERR_CORRUPT_AT("%s.log: batch at %" PRIu64 " runs past the end",
                                         seg->path, pos);
            if (total <= avail) {
                rc = ed_batch_check(p, total, b);
                if (rc != ED_OK)
                    return ED_ERR_CORRUPT_AT("%s.log: batch at %" PRIu64 " fails its CRC",
                                             seg->path, pos);
                *out = p;
                return ED_OK;
            }
        }
        /* refill the window from pos, large enough for the batch */
        size_t want = RBUF_LEN;
        if (c->rseg == seg && pos >= c->rpos && pos + ED_BATCH_HEADER_LEN <= c->rpos + c->rlen)
            want = ED_MAX(want, ed_batch_total_len(b));
        if (want > seg->len - pos) want = (size_t)(seg->len - pos);
        if (want > c->rcap) {
            uint8_t *p = ed_realloc(c->rbuf, want);
            if (!p) return ED_ERR_NOMEM;
            c->rbuf = p;
            c->rcap = want;
        }
        size_t got = 0;
        ed_file *f;
        int rc = ed_fdcache_file(seg, &f);
        if (rc == ED_OK) rc = ed_plat_file_pread(f, c->rbuf, want, pos, &got);
        if (rc != ED_OK) return rc;
        c->rseg = seg;
        c->rpos = pos;
        c->rlen = got;
    }
    return ED_ERR_CORRUPT_AT("%s.log: cannot read the batch at %" PRIu64, seg->path, pos);
}

/* A batch whose records cannot be read (a decompression bomb, malformed
 * records, a codec not built in): it is kept as it is, its keys are left
 * out of the map, and the pass goes on. Logged once per batch, whichever
 * phase or pass meets it first; false for errors that are not the batch's
 * fault (memory), which end the pass. */
static bool skip_unreadable(ed_storage *st, struct ed_compactor *c, const struct ed_batch_info *b,
                            int rc)
{
    if (rc != ED_ERR_TOOBIG && rc != ED_ERR_CORRUPT && rc != ED_ERR_UNSUPPORTED) return false;
    /* give back the buffer a bomb made the iterator grow */
    if (rc == ED_ERR_TOOBIG) ed_batch_iter_release(&c->it);
    ed_log *log = c->log;
    int64_t last = b->base_offset + b->last_offset_delta;
    if (b->base_offset >= log->compact_skipped) {
        ED_LOG_WARN("%s: compaction keeps the batch at offsets %" PRId64 "..%" PRId64
                    " as it is: its records cannot be read (%s)",
                    log->dir, b->base_offset, last, ed_strerror(rc));
        log->compact_skipped = last + 1;
        st->stats.n_compact_skipped++;
    }
    return true;
}

/* ---- choosing a log ---- */

/* Closed segments a pass may touch: from the log start, sealed, flushed,
 * indexed, not in a flush job; never the active one. */
static uint32_t n_eligible(const ed_log *log)
{
    uint32_t k = 0;
    while (k + 1 < log->n_segs) {
        const ed_segment *s = log->segs[k];
        if (!s->sealed || s->in_job || !s->index_on_disk || s->trim_pending) break;
        k++;
    }
    return k;
}

static bool due(const struct ed_compactor *c, const ed_log *log, int64_t now_ms)
{
    if (!log->cfg.compact || log->deleted || log->broken) return false;
    uint32_t k = n_eligible(log);
    if (k == 0) return false;
    uint64_t total = 0, dirty = 0;
    for (uint32_t i = 0; i < k; i++) {
        total += log->segs[i]->len;
        if (log->segs[i]->next_offset > log->clean_offset) dirty += log->segs[i]->len;
    }
    if (dirty > 0 && (double)dirty >= c->lim.min_dirty_ratio * (double)total) return true;
    return log->horizon_due_ms && now_ms >= log->horizon_due_ms;
}

static int start_pass(ed_storage *st, struct ed_compactor *c, ed_log *log, int64_t now_ms)
{
    uint32_t k = n_eligible(log);
    c->segs = ed_malloc(k * sizeof *c->segs);
    if (!c->segs) return ED_ERR_NOMEM;
    int rc = map_init(c);
    if (rc != ED_OK) {
        ed_free(c->segs);
        c->segs = NULL;
        return rc;
    }
    for (uint32_t i = 0; i < k; i++) {
        c->segs[i] = log->segs[i];
        ed_segment_ref(log->segs[i]);
    }
    c->n_segs = k;
    c->log = log;
    c->now_ms = now_ms;
    c->phase = P_MAP;
    c->mi = 0;
    while (c->mi < k && c->segs[c->mi]->next_offset <= log->clean_offset)
        c->mi++;
    c->mpos = 0;
    c->map_end = -1;
    c->n_pids = 0;
    c->pids_overflow = false;
    c->min_horizon = 0;
    ED_LOG_DBG("%s: compaction pass over %" PRIu32 " segments (dirty from offset %" PRId64 ")",
               log->dir, k, log->clean_offset);
    ED_UNUSED(st);
    return ED_OK;
}

/* Is the pass still valid: the log alive and compacted, and the pass's
 * segments still its first ones? */
static bool still_valid(const struct ed_compactor *c)
{
    const ed_log *log = c->log;
    if (log->deleted || log->broken || !log->cfg.compact) return false;
    if (log->n_segs <= c->n_segs) return false;
    for (uint32_t i = 0; i < c->n_segs; i++)
        if (log->segs[i] != c->segs[i]) return false;
    return true;
}

/* ---- phase 1: the offset map ---- */

static void map_done(struct ed_compactor *c)
{
    if (c->map_end < 0) c->map_end = c->n_segs ? c->segs[c->n_segs - 1]->next_offset : 0;
    /* rewrite every closed segment that starts below the covered end */
    c->n_rewrite = 0;
    while (c->n_rewrite < c->n_segs && c->segs[c->n_rewrite]->base_offset < c->map_end)
        c->n_rewrite++;
    c->phase = P_COPY;
    c->gi = c->gj = 0;
    c->ci = 0;
    c->cpos = 0;
}

/* Maps up to budget bytes; returns the bytes read. */
static int map_step(ed_storage *st, struct ed_compactor *c, uint64_t budget, uint64_t *used)
{
    while (c->mi < c->n_segs && *used < budget) {
        ed_segment *seg = c->segs[c->mi];
        if (c->mpos >= seg->len) {
            c->mi++;
            c->mpos = 0;
            continue;
        }
        const uint8_t *bp;
        struct ed_batch_info b;
        int rc = read_batch(c, seg, c->mpos, &bp, &b);
        if (rc != ED_OK) return rc;
        size_t total = ed_batch_total_len(&b);
        note_pid(c, &b);
        if (!ed_batch_is_control(&b) && b.record_count > 0) {
            rc = ed_batch_iter_begin(&c->it, bp, total);
            struct ed_record r;
            while (rc >= 0 && (rc = ed_batch_iter_next(&c->it, &r)) == 1) {
                if (!r.key) continue;
                if (!map_put(c, key_hash(r.key, r.key_len), r.offset)) {
                    c->map_end = r.offset;
                    ED_LOG_DBG("%s: offset map full at offset %" PRId64
                               "; the rest waits for the next pass",
                               c->log->dir, r.offset);
                    map_done(c);
                    return ED_OK;
                }
            }
            if (rc < 0 && !skip_unreadable(st, c, &b, rc)) return rc;
        }
        c->mpos += total;
        *used += total;
    }
    if (c->mi >= c->n_segs) map_done(c);
    return ED_OK;
}

/* ---- phase 2: rewriting ---- */

static int wflush(struct ed_compactor *c)
{
    if (c->wlen == 0) return ED_OK;
    int rc = ed_plat_file_pwrite(c->out, c->wbuf, c->wlen, c->out_len);
    if (rc != ED_OK) return rc;
    c->out_len += c->wlen;
    c->wlen = 0;
    return ED_OK;
}

static int out_write(struct ed_compactor *c, const uint8_t *p, size_t len)
{
    if (!c->wbuf) {
        c->wbuf = ed_malloc(WBUF_LEN);
        if (!c->wbuf) return ED_ERR_NOMEM;
    }
    if (c->wlen + len > WBUF_LEN) {
        int rc = wflush(c);
        if (rc != ED_OK) return rc;
    }
    if (len > WBUF_LEN) {
        int rc = ed_plat_file_pwrite(c->out, p, len, c->out_len);
        if (rc == ED_OK) c->out_len += len;
        return rc;
    }
    memcpy(c->wbuf + c->wlen, p, len);
    c->wlen += len;
    return ED_OK;
}

/* Offsets stay continuous inside a segment (recovery checks that each
 * batch starts where the previous one ended): the batch before a gap left
 * by removed batches is held back, and when the next one comes its
 * lastOffsetDelta is stretched over the gap (allowed by the format, as in
 * Kafka's compacted batches) if it has no producer id whose sequence
 * depends on it; otherwise an empty batch fills the gap. */
static void write_filler(uint8_t *h, int64_t from, int64_t to)
{
    memset(h, 0, ED_BATCH_HEADER_LEN);
    ed_put_be64(h + ED_BATCH_OFF_BASE_OFFSET, (uint64_t)from);
    ed_put_be32(h + ED_BATCH_OFF_LENGTH, ED_BATCH_HEADER_LEN - ED_BATCH_LOG_OVERHEAD);
    ed_put_be32(h + ED_BATCH_OFF_LEADER_EPOCH, UINT32_MAX);
    h[ED_BATCH_OFF_MAGIC] = ED_BATCH_MAGIC;
    ed_put_be32(h + ED_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(to - from));
    ed_put_be64(h + ED_BATCH_OFF_BASE_TIMESTAMP, UINT64_MAX);
    ed_put_be64(h + ED_BATCH_OFF_MAX_TIMESTAMP, UINT64_MAX);
    ed_put_be64(h + ED_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    ed_put_be16(h + ED_BATCH_OFF_PRODUCER_EPOCH, UINT16_MAX);
    ed_put_be32(h + ED_BATCH_OFF_BASE_SEQUENCE, UINT32_MAX);
    ed_put_be32(h + ED_BATCH_OFF_CRC, ed_crc32c(0, h + ED_BATCH_OFF_ATTRIBUTES,
                                                ED_BATCH_HEADER_LEN - ED_BATCH_OFF_ATTRIBUTES));
}

static int pend_flush(struct ed_compactor *c)
{
    if (c->pend_len == 0) return ED_OK;
    int rc = out_write(c, c->pbuf, c->pend_len);
    c->pend_len = 0;
    return rc;
}

static int emit(struct ed_compactor *c, const uint8_t *p, size_t len)
{
    int64_t base = (int64_t)ed_get_be64(p + ED_BATCH_OFF_BASE_OFFSET);
    int32_t delta = (int32_t)ed_get_be32(p + ED_BATCH_OFF_LAST_OFFSET_DELTA);
    int rc = ED_OK;
    if (base > c->expect) {
        bool stretch = c->pend_len > 0 &&
                       (int64_t)ed_get_be64(c->pbuf + ED_BATCH_OFF_PRODUCER_ID) < 0 &&
                       !(ed_get_be16(c->pbuf + ED_BATCH_OFF_ATTRIBUTES) & ED_BATCH_ATTR_CONTROL);
        if (stretch) {
            int64_t pbase = (int64_t)ed_get_be64(c->pbuf + ED_BATCH_OFF_BASE_OFFSET);
            ed_put_be32(c->pbuf + ED_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(base - 1 - pbase));
            ed_put_be32(c->pbuf + ED_BATCH_OFF_CRC,
                        ed_crc32c(0, c->pbuf + ED_BATCH_OFF_ATTRIBUTES,
                                  c->pend_len - ED_BATCH_OFF_ATTRIBUTES));
            rc = pend_flush(c);
        } else {
            uint8_t h[ED_BATCH_HEADER_LEN];
            write_filler(h, c->expect, base - 1);
            rc = pend_flush(c);
            if (rc == ED_OK) rc = out_write(c, h, sizeof h);
        }
    } else {
        rc = pend_flush(c);
    }
    if (rc != ED_OK) return rc;
    if (len > c->pcap) {
        uint8_t *np = ed_realloc(c->pbuf, len);
        if (!np) return ED_ERR_NOMEM;
        c->pbuf = np;
        c->pcap = len;
    }
    memcpy(c->pbuf, p, len);
    c->pend_len = len;
    c->expect = base + delta + 1;
    return ED_OK;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return ED_OK;
    size_t n = ED_MAX(need, *cap * 2);
    uint8_t *p = ed_realloc(*buf, n);
    if (!p) return ED_ERR_NOMEM;
    *buf = p;
    *cap = n;
    return ED_OK;
}

static size_t put_bytes(uint8_t *o, const uint8_t *p, int32_t len)
{
    size_t n = ed_varint_put(o, len < 0 ? -1 : len);
    if (len > 0) {
        memcpy(o + n, p, (size_t)len);
        n += (size_t)len;
    }
    return n;
}

/* Decides and writes one batch: the bytes as they are, a rebuilt batch with
 * fewer records (or a delete horizon), or nothing. */
static int copy_batch(ed_storage *st, struct ed_compactor *c, const uint8_t *bp,
                      const struct ed_batch_info *b)
{
    size_t total = ed_batch_total_len(b);
    if (b->record_count == 0 && b->producer_id < 0 && !ed_batch_is_control(b))
        return ED_OK; /* a gap filler of an earlier pass: gaps are filled again */
    if (ed_batch_is_control(b) || b->record_count == 0) return emit(c, bp, total);
    int rc = ed_batch_iter_begin(&c->it, bp, total);
    if (rc != ED_OK) return skip_unreadable(st, c, b, rc) ? emit(c, bp, total) : rc;
    bool has_horizon = (b->attributes & ED_BATCH_ATTR_DELETE_HORIZON) != 0;
    bool lat = ed_batch_is_log_append_time(b);
    int64_t drm = c->log->cfg.delete_retention_ms;
    /* First walk: what stays. */
    int32_t kept = 0, tombs = 0;
    struct ed_record r;
    while ((rc = ed_batch_iter_next(&c->it, &r)) == 1) {
        bool keep = true;
        if (r.key && r.offset < c->map_end) {
            int64_t latest = map_get(c, key_hash(r.key, r.key_len));
            if (latest > r.offset) keep = false;
        }
        if (keep && !r.value && has_horizon && c->now_ms >= b->base_timestamp) keep = false;
        if (keep) {
            kept++;
            if (!r.value) tombs++;
        }
    }
    if (rc < 0) return skip_unreadable(st, c, b, rc) ? emit(c, bp, total) : rc;
    st->stats.n_records_compacted += (uint64_t)(b->record_count - kept);
    if (kept == b->record_count && (tombs == 0 || has_horizon)) {
        if (has_horizon && tombs > 0 && (!c->min_horizon || b->base_timestamp < c->min_horizon))
            c->min_horizon = b->base_timestamp;
        return emit(c, bp, total);
    }
    if (kept == 0) {
        if (!keep_empty(c, b)) return ED_OK;
        /* an empty batch: the header alone, records gone */
        uint8_t h[ED_BATCH_HEADER_LEN];
        memcpy(h, bp, ED_BATCH_HEADER_LEN);
        ed_put_be32(h + ED_BATCH_OFF_LENGTH, ED_BATCH_HEADER_LEN - ED_BATCH_LOG_OVERHEAD);
        ed_put_be16(h + ED_BATCH_OFF_ATTRIBUTES,
                    (uint16_t)(b->attributes & ~ED_BATCH_ATTR_COMPRESSION_MASK));
        ed_put_be32(h + ED_BATCH_OFF_RECORD_COUNT, 0);
        ed_put_be32(h + ED_BATCH_OFF_CRC, ed_crc32c(0, h + ED_BATCH_OFF_ATTRIBUTES,
                                                    ED_BATCH_HEADER_LEN - ED_BATCH_OFF_ATTRIBUTES));
        return emit(c, h, sizeof h);
    }
    /* Rebuild: the kept records re-encoded after a fresh header. A new
     * delete horizon moves baseTimestamp; deltas follow it. */
    int64_t base_ts = b->base_timestamp;
    bool horizon = has_horizon;
    if (tombs > 0 && !has_horizon) {
        base_ts = c->now_ms + drm;
        horizon = true;
    }
    if (tombs > 0 && (!c->min_horizon || base_ts < c->min_horizon)) c->min_horizon = base_ts;
    rc = ed_batch_iter_begin(&c->it, bp, total);
    if (rc != ED_OK) return rc;
    size_t need = ED_BATCH_HEADER_LEN;
    while ((rc = ed_batch_iter_next(&c->it, &r)) == 1)
        need += 64 + (size_t)(r.key_len > 0 ? r.key_len : 0) +
                (size_t)(r.value_len > 0 ? r.value_len : 0) + r.headers_len;
    if (rc < 0) return rc;
    rc = grow(&c->obuf, &c->ocap, need);
    if (rc != ED_OK) return rc;
    rc = ed_batch_iter_begin(&c->it, bp, total);
    if (rc != ED_OK) return rc;
    uint8_t *o = c->obuf + ED_BATCH_HEADER_LEN;
    int64_t max_ts = -1;
    while ((rc = ed_batch_iter_next(&c->it, &r)) == 1) {
        bool keep = true;
        if (r.key && r.offset < c->map_end) {
            int64_t latest = map_get(c, key_hash(r.key, r.key_len));
            if (latest > r.offset) keep = false;
        }
        if (keep && !r.value && has_horizon && c->now_ms >= b->base_timestamp) keep = false;
        if (!keep) continue;
        int64_t ts_delta = lat ? 0 : r.timestamp - base_ts;
        if (!lat && r.timestamp > max_ts) max_ts = r.timestamp;
        uint8_t body[64];
        size_t bl = 0;
        body[bl++] = 0; /* attributes */
        bl += ed_varint_put(body + bl, ts_delta);
        bl += ed_varint_put(body + bl, r.offset - b->base_offset);
        size_t body_len = bl + ed_varint_len(r.key ? r.key_len : -1) +
                          (size_t)(r.key_len > 0 ? r.key_len : 0) +
                          ed_varint_len(r.value ? r.value_len : -1) +
                          (size_t)(r.value_len > 0 ? r.value_len : 0) + ed_varint_len(r.n_headers) +
                          r.headers_len;
        o += ed_varint_put(o, (int64_t)body_len);
        memcpy(o, body, bl);
        o += bl;
        o += put_bytes(o, r.key, r.key ? r.key_len : -1);
        o += put_bytes(o, r.value, r.value ? r.value_len : -1);
        o += ed_varint_put(o, r.n_headers);
        if (r.headers_len) memcpy(o, r.headers, r.headers_len);
        o += r.headers_len;
    }
    if (rc < 0) return rc;
    size_t rec_len = (size_t)(o - (c->obuf + ED_BATCH_HEADER_LEN));
    int codec = ed_batch_compression(b);
    uint8_t *out = c->obuf;
    size_t out_len = ED_BATCH_HEADER_LEN + rec_len;
    if (codec != ED_COMPRESSION_NONE && ed_codec_supported(codec, true)) {
        size_t bound = ed_codec_compress_bound(codec, rec_len);
        rc = grow(&c->zbuf, &c->zcap, ED_BATCH_HEADER_LEN + bound);
        size_t z = 0;
        if (rc == ED_OK)
            rc = ed_codec_compress(&c->codec, codec, 0, c->obuf + ED_BATCH_HEADER_LEN, rec_len,
                                   c->zbuf + ED_BATCH_HEADER_LEN, bound, &z);
        if (rc != ED_OK) return rc;
        out = c->zbuf;
        out_len = ED_BATCH_HEADER_LEN + z;
    } else {
        codec = ED_COMPRESSION_NONE;
    }
    memcpy(out, bp, ED_BATCH_HEADER_LEN); /* base offset, epoch, producer fields */
    ed_put_be32(out + ED_BATCH_OFF_LENGTH, (uint32_t)(out_len - ED_BATCH_LOG_OVERHEAD));
    int16_t attr = (int16_t)((b->attributes & ~ED_BATCH_ATTR_COMPRESSION_MASK) | codec);
    if (horizon) attr |= ED_BATCH_ATTR_DELETE_HORIZON;
    ed_put_be16(out + ED_BATCH_OFF_ATTRIBUTES, (uint16_t)attr);
    ed_put_be64(out + ED_BATCH_OFF_BASE_TIMESTAMP, (uint64_t)base_ts);
    if (!lat) ed_put_be64(out + ED_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)max_ts);
    ed_put_be32(out + ED_BATCH_OFF_RECORD_COUNT, (uint32_t)kept);
    ed_put_be32(out + ED_BATCH_OFF_CRC,
                ed_crc32c(0, out + ED_BATCH_OFF_ATTRIBUTES, out_len - ED_BATCH_OFF_ATTRIBUTES));
    return emit(c, out, out_len);
}

static int seg_name(char *buf, size_t cap, const char *dir, int64_t a, int64_t b, const char *sfx)
{
    int n = b >= 0 ? snprintf(buf, cap, "%s/%020" PRId64 ".%020" PRId64 "%s", dir, a, b, sfx)
                   : snprintf(buf, cap, "%s/%020" PRId64 "%s", dir, a, sfx);
    return n < 0 || (size_t)n >= cap ? ED_ERR_INVAL : ED_OK;
}

/* Picks the next group [gi, gj): neighbours whose bytes fit one segment. */
static void next_group(struct ed_compactor *c)
{
    c->gi = c->gj;
    uint64_t sum = 0;
    uint32_t j = c->gi;
    int64_t base = c->segs[c->gi]->base_offset;
    while (j < c->n_rewrite) {
        const ed_segment *s = c->segs[j];
        if (j > c->gi &&
            (sum + s->len > c->log->cfg.segment_len || s->next_offset - 1 - base > INT32_MAX))
            break;
        sum += s->len;
        j++;
    }
    c->gj = j;
    c->ci = c->gi;
    c->cpos = 0;
}

static int open_out(struct ed_compactor *c)
{
    int rc = seg_name(c->out_path, sizeof c->out_path, c->log->dir, c->segs[c->gi]->base_offset,
                      c->segs[c->gj - 1]->base_offset, ".cleaned");
    if (rc == ED_OK)
        rc =
            ed_plat_file_open(c->out_path, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &c->out);
    c->out_len = 0;
    c->wlen = 0;
    c->pend_len = 0;
    c->expect = c->segs[c->gi]->base_offset;
    return rc;
}

/* Stops here if the test asked for a crash at this point. */
static bool crash_here(struct ed_compactor *c, int point)
{
    if (c->crash_point != point) return false;
    ED_LOG_WARN("%s: compaction stopped at crash point %d (test)", c->log->dir, point);
    c->crashed = true;
    return true;
}

/* Commits the written group and puts its segment in the log. */
static int swap_group(ed_storage *st, struct ed_compactor *c)
{
    ed_log *log = c->log;
    int rc = pend_flush(c);
    if (rc == ED_OK) rc = wflush(c);
    if (rc == ED_OK) rc = ed_plat_file_datasync(c->out);
    int crc = ed_plat_file_close(c->out);
    c->out = NULL;
    if (rc == ED_OK) rc = crc;
    if (rc != ED_OK) return rc;
    if (crash_here(c, ED_COMPACT_CRASH_CLEANED)) return ED_ERR_CLOSED;
    if (!still_valid(c)) return ED_ERR_BUSY;
    for (uint32_t i = c->gi; i < c->gj; i++)
        if (c->segs[i]->in_job) return ED_ERR_BUSY;

    ed_segment *first = c->segs[c->gi];
    int64_t b1 = first->base_offset, bk = c->segs[c->gj - 1]->base_offset;
    char swap[ED_STORAGE_PATH_MAX], p[ED_STORAGE_PATH_MAX];
    rc = seg_name(swap, sizeof swap, log->dir, b1, bk, ".swap");
    if (rc == ED_OK) rc = ed_plat_path_rename(c->out_path, swap);
    if (rc == ED_OK) rc = ed_plat_dir_sync(log->dir);
    if (rc != ED_OK) {
        ED_LOG_ERR("%s: cannot commit compacted segment: %s", log->dir, ed_strerror(rc));
        ed_plat_path_unlink(swap);
        return rc;
    }
    /* From here on the cleaned data is the truth: recovery completes the
     * swap if the process dies before the end. */
    c->out_path[0] = '\0';
    if (crash_here(c, ED_COMPACT_CRASH_SWAP)) return ED_ERR_CLOSED;
    for (uint32_t i = c->gi; i < c->gj; i++) {
        ed_segment_path(c->segs[i], ".index", p, sizeof p);
        ed_plat_path_unlink(p);
        ed_segment_path(c->segs[i], ".timeindex", p, sizeof p);
        ed_plat_path_unlink(p);
    }
    for (uint32_t i = c->gi + 1; i < c->gj; i++) {
        ed_segment_path(c->segs[i], ".log", p, sizeof p);
        ed_plat_path_unlink(p);
        if (i == c->gi + 1 && crash_here(c, ED_COMPACT_CRASH_MID_SWAP)) return ED_ERR_CLOSED;
    }
    ed_segment_path(first, ".log", p, sizeof p);
    rc = ed_plat_path_rename(swap, p);
    if (rc == ED_OK) rc = ed_plat_dir_sync(log->dir);
    ed_segment *seg = NULL;
    if (rc == ED_OK)
        rc = ed_segment_open(log->dir, b1, c->segs[c->gj - 1]->created_ms, false, &seg);
    if (rc == ED_OK) rc = ed_index_rebuild(seg, log->cfg.index_interval_len);
    if (rc != ED_OK) {
        /* The files are right (recovery would agree); memory is not: stop
         * using the log as a broken one until it is reopened. */
        ED_LOG_ERR("%s: compacted segment %" PRId64 " swapped in but not opened: %s", log->dir, b1,
                   ed_strerror(rc));
        ed_segment_unref(seg);
        log->broken = rc;
        return rc;
    }
    seg->sealed = true;
    seg->trim_pending = false;
    seg->next_offset = c->segs[c->gj - 1]->next_offset;
    seg->created_ms = c->segs[c->gj - 1]->created_ms;
    /* Replace segments [gi, gj) of the log by the new one. */
    uint64_t old_len = 0;
    for (uint32_t i = c->gi; i < c->gj; i++) {
        old_len += log->segs[i]->len;
        ed_fdcache_detach(log->segs[i]);
        ed_segment_unref(log->segs[i]);
    }
    log->segs[c->gi] = seg;
    ed_fdcache_attach(&st->fdc, seg);
    memmove(log->segs + c->gi + 1, log->segs + c->gj, (log->n_segs - c->gj) * sizeof *log->segs);
    log->n_segs -= c->gj - c->gi - 1;
    log->size = log->size - old_len + seg->len;
    st->total_len = st->total_len - old_len + seg->len;
    st->stats.len_compacted_read += old_len;
    st->stats.len_compacted_written += seg->len;
    ED_LOG_DBG("%s: compacted segments %" PRId64 "..%" PRId64 ": %" PRIu64 " -> %" PRIu64 " bytes",
               log->dir, b1, bk, old_len, seg->len);
    /* The pass's view: the group is now one (referenced) segment. The read
     * window may name a segment freed below: forget it. */
    c->rseg = NULL;
    c->rlen = 0;
    ed_segment_ref(seg);
    for (uint32_t i = c->gi; i < c->gj; i++)
        ed_segment_unref(c->segs[i]);
    c->segs[c->gi] = seg;
    memmove(c->segs + c->gi + 1, c->segs + c->gj, (c->n_segs - c->gj) * sizeof *c->segs);
    uint32_t removed = c->gj - c->gi - 1;
    c->n_segs -= removed;
    c->n_rewrite -= removed;
    c->gj = c->gi + 1;
    ed_flush_request(log); /* writes the new segment's index files */
    return ED_OK;
}

static int copy_step(ed_storage *st, struct ed_compactor *c, uint64_t budget, uint64_t *used)
{
    while (*used < budget) {
        if (!c->out) {
            if (c->gj >= c->n_rewrite) {
                /* the pass is over */
                c->log->clean_offset = c->map_end;
                c->log->horizon_due_ms = c->min_horizon;
                st->stats.n_compactions++;
                c->passes_done++;
                ED_LOG_DBG("%s: compaction pass done; clean up to offset %" PRId64, c->log->dir,
                           c->map_end);
                end_pass(st, c, false);
                return ED_OK;
            }
            next_group(c);
            int rc = open_out(c);
            if (rc != ED_OK) return rc;
        }
        if (c->ci >= c->gj) {
            int rc = swap_group(st, c);
            if (rc != ED_OK) return rc;
            continue;
        }
        ed_segment *seg = c->segs[c->ci];
        if (c->cpos >= seg->len) {
            c->ci++;
            c->cpos = 0;
            continue;
        }
        const uint8_t *bp;
        struct ed_batch_info b;
        int rc = read_batch(c, seg, c->cpos, &bp, &b);
        if (rc == ED_OK) rc = copy_batch(st, c, bp, &b);
        if (rc != ED_OK) return rc;
        size_t total = ed_batch_total_len(&b);
        c->cpos += total;
        *used += total;
    }
    return ED_OK;
}

/* Before a pass writes anything: every producer's last batch in the
 * segments it rewrites (empty batches of other producers' last ones stay). */
static int scan_pids(struct ed_compactor *c)
{
    for (uint32_t i = 0; i < c->n_rewrite; i++) {
        ed_segment *seg = c->segs[i];
        struct ed_hdr_window w;
        w.len = 0;
        for (uint64_t pos = 0; pos < seg->len;) {
            struct ed_batch_info b;
            int rc = ed_segment_header(seg, &w, pos, &b);
            if (rc != ED_OK) return rc;
            note_pid(c, &b);
            pos += ed_batch_total_len(&b);
        }
    }
    return ED_OK;
}

/* ---- driving ---- */

uint32_t ed_compact_tick(ed_storage *st, int64_t now_ms)
{
    struct ed_compactor *c = st->compactor;
    if (c && c->crashed) return 1000;
    if (!c || c->phase == P_IDLE) {
        ed_log *pick = NULL;
        bool any = false;
        for (uint32_t k = 0; k < st->n_logs; k++) {
            ed_log *log = st->logs[k];
            if (log->cfg.compact) any = true;
        }
        if (!any) return 1000;
        if (!c) c = get(st);
        if (!c) return 1000;
        for (uint32_t k = 0; k < st->n_logs && !pick; k++) {
            ed_log *log = st->logs[(c->next_log + k) % st->n_logs];
            if (due(c, log, now_ms)) pick = log;
        }
        if (!pick) return 1000;
        c->next_log = (c->next_log + 1) % st->n_logs;
        if (start_pass(st, c, pick, now_ms) != ED_OK) return 1000;
    }
    if (!still_valid(c)) {
        ED_LOG_INFO("%s: compaction pass abandoned (segments changed under it)", c->log->dir);
        end_pass(st, c, true);
        return 5;
    }
    c->now_ms = now_ms;
    uint64_t used = 0;
    int rc = ED_OK;
    while (rc == ED_OK && used < c->lim.step_len && c->phase != P_IDLE) {
        if (c->phase == P_MAP) {
            rc = map_step(st, c, c->lim.step_len, &used);
            if (rc == ED_OK && c->phase == P_COPY) {
                c->n_pids = 0;
                c->pids_overflow = false;
                rc = scan_pids(c);
            }
        } else {
            rc = copy_step(st, c, c->lim.step_len, &used);
        }
    }
    if (rc != ED_OK) {
        if (c->crashed) return 1000;
        if (rc != ED_ERR_BUSY)
            ED_LOG_WARN("%s: compaction pass failed: %s", c->log->dir, ed_strerror(rc));
        end_pass(st, c, true);
        return 1000;
    }
    return c->phase == P_IDLE ? 1000 : 5;
}

int ed_compact_run(ed_storage *st, int64_t now_ms, int max_steps)
{
    struct ed_compactor *c = get(st);
    if (!c) return 0;
    int before = c->passes_done;
    /* "now": any dirty byte is reason enough */
    double ratio = c->lim.min_dirty_ratio;
    c->lim.min_dirty_ratio = 0;
    for (int i = 0; i < max_steps; i++) {
        if (ed_compact_tick(st, now_ms) >= 1000 && c->phase == P_IDLE) {
            /* let the flusher write index files of new segments, then see
             * whether another pass is due */
            ed_flush_tick(st, now_ms);
            ed_storage_run_completions(st);
            bool more = false;
            for (uint32_t k = 0; k < st->n_logs && !more; k++)
                more = due(c, st->logs[k], now_ms);
            if (!more || c->crashed) break;
        }
    }
    c->lim.min_dirty_ratio = ratio;
    return c->passes_done - before;
}

/* ---- recovery ---- */

struct rec_list {
    char **names;
    uint32_t n, cap;
    int err;
};

static int collect(void *arg, const char *name, bool is_dir)
{
    struct rec_list *l = arg;
    if (is_dir) return 0;
    size_t n = strlen(name);
    if (!(n > 8 && strcmp(name + n - 8, ".cleaned") == 0) &&
        !(n > 5 && strcmp(name + n - 5, ".swap") == 0) &&
        !(n > 4 && strcmp(name + n - 4, ".log") == 0))
        return 0;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 16;
        char **p = ed_realloc(l->names, cap * sizeof *p);
        if (!p) return l->err = ED_ERR_NOMEM;
        l->names = p;
        l->cap = cap;
    }
    l->names[l->n] = ed_strdup(name);
    if (!l->names[l->n]) return l->err = ED_ERR_NOMEM;
    l->n++;
    return 0;
}

/* "<20 digits>.<20 digits><suffix>" */
static bool parse_pair(const char *name, const char *suffix, int64_t *a, int64_t *b)
{
    size_t sn = strlen(suffix);
    if (strlen(name) != 2 * ED_SEG_DIGITS + 1 + sn || name[ED_SEG_DIGITS] != '.' ||
        strcmp(name + 2 * ED_SEG_DIGITS + 1, suffix) != 0)
        return false;
    char first[ED_SEG_DIGITS + 8];
    memcpy(first, name, ED_SEG_DIGITS);
    memcpy(first + ED_SEG_DIGITS, ".log", 5);
    char second[ED_SEG_DIGITS + 8];
    memcpy(second, name + ED_SEG_DIGITS + 1, ED_SEG_DIGITS);
    memcpy(second + ED_SEG_DIGITS, ".log", 5);
    return ed_segment_parse_name(first, ".log", a) && ed_segment_parse_name(second, ".log", b) &&
           *a <= *b;
}

int ed_compact_recover_dir(const char *dir)
{
    struct rec_list l = {0};
    int rc = ed_plat_dir_list(dir, collect, &l);
    if (rc == ED_OK) rc = l.err;
    bool changed = false;
    char p[ED_STORAGE_PATH_MAX];
    for (uint32_t i = 0; i < l.n && rc == ED_OK; i++) {
        int64_t a, b;
        if (!parse_pair(l.names[i], ".cleaned", &a, &b)) continue;
        snprintf(p, sizeof p, "%s/%s", dir, l.names[i]);
        ED_LOG_WARN("%s: removing an unfinished compaction output", p);
        ed_plat_path_unlink(p);
        changed = true;
    }
    for (uint32_t i = 0; i < l.n && rc == ED_OK; i++) {
        int64_t a, b;
        if (!parse_pair(l.names[i], ".swap", &a, &b)) continue;
        ED_LOG_WARN("%s/%s: completing an interrupted compaction swap", dir, l.names[i]);
        /* Old index files and segments of the range go, then the swap
         * file takes the first segment's name (same order as the live
         * swap, so this is idempotent). */
        for (uint32_t k = 0; k < l.n; k++) {
            int64_t base;
            if (!ed_segment_parse_name(l.names[k], ".log", &base) || base < a || base > b) continue;
            seg_name(p, sizeof p, dir, base, -1, ".index");
            ed_plat_path_unlink(p);
            seg_name(p, sizeof p, dir, base, -1, ".timeindex");
            ed_plat_path_unlink(p);
        }
        for (uint32_t k = 0; k < l.n; k++) {
            int64_t base;
            if (!ed_segment_parse_name(l.names[k], ".log", &base) || base <= a || base > b)
                continue;
            seg_name(p, sizeof p, dir, base, -1, ".log");
            ed_plat_path_unlink(p);
        }
        char from[ED_STORAGE_PATH_MAX];
        snprintf(from, sizeof from, "%s/%s", dir, l.names[i]);
        seg_name(p, sizeof p, dir, a, -1, ".log");
        rc = ed_plat_path_rename(from, p);
        if (rc != ED_OK)
            ED_LOG_ERR("cannot complete the compaction swap %s: %s", from, ed_strerror(rc));
        changed = true;
    }
    if (rc == ED_OK && changed) rc = ed_plat_dir_sync(dir);
    for (uint32_t i = 0; i < l.n; i++)
        ed_free(l.names[i]);
    ed_free(l.names);
    return rc;
}
