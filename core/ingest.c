/* The ingest path (see ingest.h).
 *
 * A fixed table of gathering batches, one per partition being written; a
 * record for a partition without one takes a free slot, or flushes them all
 * first. A batch's builder is kept for the next batch so its buffer is
 * reused: no allocation per record or per batch in the steady state. Each
 * appended batch with waiters becomes one durable wait; waits are listed so
 * that freeing the ingest can detach those still registered with the
 * storage (they then free themselves without calling back).
 *
 * Each batch has its own deadline. It is the short linger after its first
 * record, unless every record in it waits for durability: then it lingers
 * until its partition's gathered flush is due (ed_log_flush_due_in, read
 * when the batch begins), at most durable_max_ms, since the
 * acknowledgements wait for that flush anyway and a bigger batch
 * compresses better and is written once. A record nobody waits for, or a
 * producer whose window is full (ed_ingest_hurry), brings the deadline back
 * to the short linger; a producer that can send nothing more at all
 * (ed_ingest_append_now) has its batch appended at once. One timer is armed
 * for the earliest deadline. */
#define ED_LOG_MODULE "ingest"
#include "core/config.h"
#include "core/ingest.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <string.h>

#define MAX_GATHER 16

struct waiter {
    void *who;
    uint64_t seq;
};

/* One partition's gathering batch. */
struct gather {
    ed_partition *p; /* NULL: free */
    ed_batch_builder *bb;
    size_t bb_max_len;
    size_t bytes;
    struct waiter *w;
    int n_w, cap_w;
    bool urgent; /* its log's flush starts once it is appended */
    /* The monotonic clock, so that a wall clock stepped at boot cannot hold
     * a batch back. */
    int64_t start_ms; /* its first record */
    int64_t due_ms;   /* appended by then */
};

/* The durable wait of one appended batch. */
struct bwait {
    ed_ingest *g; /* NULL once the ingest is gone */
    struct bwait *prev, *next;
    int n;
    struct waiter w[];
};

struct ed_ingest {
    ed_loop *loop;
    ed_topics *topics;
    struct ed_ingest_config cfg;
    struct ed_ingest_cbs cbs;
    void *arg;
    struct gather gather[MAX_GATHER];
    struct bwait *waits;
    ed_timer linger_timer;
    int64_t timer_at_ms; /* the deadline linger_timer is armed for (monotonic) */
    struct ed_ingest_stats stats;
    int producer_codec; /* for topics with compression.type=producer */
};

static void answer(ed_ingest *g, const struct waiter *w, int n, int status)
{
    for (int i = 0; i < n; i++)
        g->cbs.done(g->arg, w[i].who, w[i].seq, status);
    if (n > 0 && g->cbs.batch_done) g->cbs.batch_done(g->arg, status);
}

static void on_durable(void *arg, int status)
{
    struct bwait *bw = arg;
    ed_ingest *g = bw->g;
    if (g) {
        if (status != ED_OK)
            ED_LOG_WARN_RL("flush of %d %s failed: %s", bw->n, g->cfg.what, ed_strerror(status));
        if (bw->prev)
            bw->prev->next = bw->next;
        else
            g->waits = bw->next;
        if (bw->next) bw->next->prev = bw->prev;
        answer(g, bw->w, bw->n, status);
    }
    ed_free(bw);
}

/* Fails every record waiting on a's batch. */
static void gather_fail(ed_ingest *g, struct gather *a, int status)
{
    int n = a->n_w;
    a->n_w = 0;
    answer(g, a->w, n, status);
}

/* Appends a partition's gathered batch and registers its durable wait. */
static void gather_flush(ed_ingest *g, struct gather *a)
{
    if (!a->p) return;
    ed_partition *p = a->p;
    bool urgent = a->urgent;
    a->p = NULL;
    a->bytes = 0;
    a->urgent = false;
    uint8_t *buf;
    size_t len;
    int rc = ed_batch_builder_finish(a->bb, &buf, &len);
    int32_t n_rec = ed_batch_builder_count(a->bb);
    struct ed_append_result res;
    if (rc == ED_OK) rc = ed_log_append(p->log, buf, len, &res);
    if (rc != ED_OK) {
        g->stats.n_failed += (uint64_t)n_rec;
        ED_LOG_WARN_RL("append of %d %s to %s-%d failed: %s", (int)n_rec, g->cfg.what,
                       ed_topic_name(p->topic), (int)p->index, ed_strerror(rc));
        gather_fail(g, a, rc);
        return;
    }
    g->stats.n_records += (uint64_t)n_rec;
    ed_metrics_in(g->cfg.proto, ed_topic_name(p->topic), (uint64_t)n_rec, len);
    g->stats.n_batches++;
    ed_topics_appended(g->topics, p);
    if (a->n_w == 0) return;
    struct bwait *bw = ed_malloc(sizeof *bw + (size_t)a->n_w * sizeof(struct waiter));
    if (!bw) {
        ED_LOG_WARN_RL("no memory to wait for the flush of %d %s", a->n_w, g->cfg.what);
        gather_fail(g, a, ED_ERR_NOMEM);
        return;
    }
    bw->g = g;
    bw->n = a->n_w;
    memcpy(bw->w, a->w, (size_t)a->n_w * sizeof(struct waiter));
    a->n_w = 0;
    bw->prev = NULL;
    bw->next = g->waits;
    if (g->waits) g->waits->prev = bw;
    g->waits = bw;
    rc = ed_log_wait_durable(p->log, res.last_offset, on_durable, bw);
    if (rc != ED_OK)
        on_durable(bw, rc);
    else if (urgent)
        ed_log_flush_soon(p->log);
}

static void on_linger(ed_timer *t, void *arg);

/* The linger timer fires by a's deadline. */
static void arm_for(ed_ingest *g, const struct gather *a, int64_t now_ms)
{
    if (!g->loop) return;
    if (ed_plat_timer_armed(&g->linger_timer) && g->timer_at_ms <= a->due_ms) return;
    int64_t in_ms = ED_MAX(a->due_ms - now_ms, 0);
    g->timer_at_ms = a->due_ms;
    ed_plat_timer_start(g->loop, &g->linger_timer, (uint32_t)in_ms, on_linger, g);
}

/* a's deadline is no later than the short linger after its first record. */
static void shorten(ed_ingest *g, struct gather *a, int64_t now_ms)
{
    int64_t due = a->start_ms + (int64_t)g->cfg.linger_ms;
    if (due >= a->due_ms) return;
    a->due_ms = due;
    arm_for(g, a, now_ms);
}

/* p's gathering batch, NULL if it has none. */
static struct gather *gather_of(ed_ingest *g, const ed_partition *p)
{
    for (int i = 0; i < MAX_GATHER; i++)
        if (g->gather[i].p == p) return &g->gather[i];
    return NULL;
}

void ed_ingest_hurry(ed_ingest *g, ed_partition *p)
{
    struct gather *a = gather_of(g, p);
    if (!a) {
        ed_log_flush_soon(p->log);
        return;
    }
    a->urgent = true; /* the short linger still gathers the batch */
    shorten(g, a, (int64_t)ed_plat_clock_mono_ms());
}

void ed_ingest_append_now(ed_ingest *g, ed_partition *p)
{
    struct gather *a = gather_of(g, p);
    if (!a) {
        ed_log_flush_soon(p->log);
        return;
    }
    a->urgent = true;
    gather_flush(g, a);
}

void ed_ingest_flush(ed_ingest *g)
{
    for (int i = 0; i < MAX_GATHER; i++)
        gather_flush(g, &g->gather[i]);
}

uint32_t ed_ingest_tick(ed_ingest *g, int64_t now_ms)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < MAX_GATHER; i++) {
        struct gather *a = &g->gather[i];
        if (!a->p) continue;
        if (a->due_ms <= now_ms)
            gather_flush(g, a);
        else if (a->due_ms < next)
            next = a->due_ms;
    }
    return next == INT64_MAX ? UINT32_MAX
                             : (uint32_t)ED_MIN(next - now_ms, (int64_t)UINT32_MAX - 1);
}

static void on_linger(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_ingest *g = arg;
    int64_t now = (int64_t)ed_plat_clock_mono_ms();
    uint32_t in_ms = ed_ingest_tick(g, now);
    if (in_ms == UINT32_MAX) return;
    g->timer_at_ms = now + in_ms;
    ed_plat_timer_start(g->loop, &g->linger_timer, in_ms, on_linger, g);
}

/* A partition about to be freed (its topic deleted): its gathering batch
 * is dropped and its records fail. */
static void on_partition_removed(void *arg, ed_partition *p)
{
    ed_ingest *g = arg;
    for (int i = 0; i < MAX_GATHER; i++) {
        struct gather *a = &g->gather[i];
        if (a->p != p) continue;
        int32_t n = ed_batch_builder_count(a->bb);
        g->stats.n_failed += (uint64_t)n;
        ED_LOG_WARN("%d gathered %s to %s-%d dropped: the topic is being deleted", (int)n,
                    g->cfg.what, ed_topic_name(p->topic), (int)p->index);
        a->p = NULL;
        a->bytes = 0;
        a->urgent = false;
        gather_fail(g, a, ED_ERR_NOENT);
    }
}

/* The gathering batch of partition p; if all slots are busy, the batch
 * due first is appended early to free one. */
static struct gather *gather_get(ed_ingest *g, ed_partition *p, int *rc)
{
    struct gather *free_a = NULL, *first_due = NULL;
    for (int i = 0; i < MAX_GATHER; i++) {
        struct gather *a = &g->gather[i];
        if (a->p == p) return a;
        if (!a->p && !free_a) free_a = a;
        if (a->p && (!first_due || a->due_ms < first_due->due_ms)) first_due = a;
    }
    if (!free_a && first_due) {
        gather_flush(g, first_due);
        if (!first_due->p) free_a = first_due;
    }
    if (!free_a) {
        *rc = ED_ERR_BUSY;
        return NULL;
    }
    const struct ed_log_config *lc = ed_log_get_config(p->log);
    size_t max_len = (size_t)ED_MAX(lc->max_message_len, 1024);
    if (free_a->bb && free_a->bb_max_len != max_len) {
        ed_batch_builder_free(free_a->bb);
        free_a->bb = NULL;
    }
    if (!free_a->bb) {
        *rc = ed_batch_builder_new(max_len, &free_a->bb);
        if (*rc != ED_OK) return NULL;
        free_a->bb_max_len = max_len;
    }
    int comp = lc->compression < 0 ? g->producer_codec : lc->compression;
    if (!ed_codec_supported(comp, true)) comp = ED_COMPRESSION_NONE;
    int64_t wall = ed_plat_clock_wall_ms(), now = (int64_t)ed_plat_clock_mono_ms();
    *rc = ed_batch_builder_begin(free_a->bb, comp, wall, -1, -1, -1);
    if (*rc != ED_OK) return NULL;
    ed_batch_builder_set_level(free_a->bb, comp == ED_COMPRESSION_ZSTD ? lc->zstd_level : 0);
    free_a->p = p;
    free_a->bytes = 0;
    free_a->start_ms = now;
    /* As long as only durable waits join it: until the flush is due. */
    int64_t linger = ED_MIN(ed_log_flush_due_in(p->log, wall), (int64_t)g->cfg.durable_max_ms);
    free_a->due_ms = now + ED_MAX(linger, (int64_t)g->cfg.linger_ms);
    return free_a;
}

/* Room for one more waiter in a's list. */
static bool waiter_room(struct gather *a)
{
    if (a->n_w < a->cap_w) return true;
    int ncap = a->cap_w ? a->cap_w * 2 : 64;
    struct waiter *nw = ed_realloc(a->w, (size_t)ncap * sizeof *nw);
    if (!nw) return false;
    a->w = nw;
    a->cap_w = ncap;
    return true;
}

int ed_ingest_add(ed_ingest *g, ed_partition *p, const void *key, size_t key_len, const void *value,
                  size_t value_len, const struct ed_record_header *h, int n_h, void *who,
                  uint64_t seq)
{
    int rc = ED_OK;
    struct gather *a = gather_get(g, p, &rc);
    if (!a) return rc;
    if (who && !waiter_room(a)) {
        if (ed_batch_builder_count(a->bb) == 0) a->p = NULL;
        return ED_ERR_NOMEM;
    }
    int64_t ts = ed_plat_clock_wall_ms();
    rc = ed_batch_builder_add(a->bb, key, key_len, value, value_len, h, (size_t)n_h, ts);
    if (rc == ED_ERR_TOOBIG && ed_batch_builder_count(a->bb) > 0) {
        gather_flush(g, a);
        a = gather_get(g, p, &rc);
        if (!a) return rc;
        rc = ed_batch_builder_add(a->bb, key, key_len, value, value_len, h, (size_t)n_h, ts);
    }
    if (rc != ED_OK) {
        if (ed_batch_builder_count(a->bb) == 0) a->p = NULL;
        return rc;
    }
    a->bytes += key_len + value_len + 16;
    for (int i = 0; i < n_h; i++)
        a->bytes += (size_t)h[i].key_len + (size_t)ED_MAX(h[i].value_len, 0) + 4;
    if (who) {
        /* After a flush above the record may sit in another slot. */
        if (!waiter_room(a)) return ED_ERR_NOMEM; /* unlikely: answered as failed */
        a->w[a->n_w].who = who;
        a->w[a->n_w].seq = seq;
        a->n_w++;
    } else {
        a->due_ms = ED_MIN(a->due_ms, a->start_ms + (int64_t)g->cfg.linger_ms);
    }
    int64_t now = (int64_t)ed_plat_clock_mono_ms();
    if (a->bytes >= g->cfg.batch_len || a->due_ms < now)
        gather_flush(g, a);
    else
        arm_for(g, a, now);
    return ED_OK;
}

int ed_ingest_new(ed_loop *loop, ed_topics *topics, const struct ed_ingest_config *cfg,
                  const struct ed_ingest_cbs *cbs, void *arg, ed_ingest **out)
{
    ed_ingest *g = ed_calloc(1, sizeof *g);
    if (!g) return ED_ERR_NOMEM;
    g->loop = loop;
    g->topics = topics;
    g->cfg = *cfg;
    g->cbs = *cbs;
    g->arg = arg;
    struct ed_config *own = NULL;
    const struct ed_config *bc =
        ed_config_or_default(topics ? ed_topics_broker_config(topics) : NULL, &own);
    g->producer_codec = ED_COMPRESSION_NONE;
    if (bc) ed_config_parse_compression(bc->eddy_ingest_compression_type, &g->producer_codec);
    ed_config_free(own);
    if (topics) {
        int rc = ed_topics_add_remove_listener(topics, on_partition_removed, g);
        if (rc != ED_OK) {
            ed_free(g);
            return rc;
        }
    }
    *out = g;
    return ED_OK;
}

void ed_ingest_free(ed_ingest *g)
{
    if (!g) return;
    for (struct bwait *bw = g->waits; bw; bw = bw->next)
        bw->g = NULL;
    for (int i = 0; i < MAX_GATHER; i++) {
        ed_batch_builder_free(g->gather[i].bb);
        ed_free(g->gather[i].w);
    }
    if (g->topics) ed_topics_del_remove_listener(g->topics, on_partition_removed, g);
    if (g->loop) ed_plat_timer_stop(g->loop, &g->linger_timer);
    ed_free(g);
}

void ed_ingest_stats_get(const ed_ingest *g, struct ed_ingest_stats *out)
{
    *out = g->stats;
}
