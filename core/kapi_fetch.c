/* Fetch (API key 1) v4-17 with true long-poll. Each partition's answer is a
 * slice of whole batches spliced from its segment file into the response
 * (zero copy). When fewer than min_bytes are available the request pends:
 * it registers a waiter on every partition it reads (an intrusive list
 * headed by ed_partition.fetch_waiters) and a timer for max_wait_ms. An
 * append to one of the partitions re-arms that timer to fire at once, so
 * bursts of appends fold into one re-evaluation on the loop, never inside the
 * producer's request. Partitions are looked up again by name at every
 * evaluation, so a topic deleted meanwhile is answered as unknown.
 *
 * Fetch sessions (KIP-227) are not kept: a full fetch (session epoch 0 or
 * -1) is answered with session id 0, which tells the client no session was
 * created; an incremental fetch gets FETCH_SESSION_ID_NOT_FOUND. From v13
 * topics are named by their id (as Metadata v10+ gives it), and an unknown
 * id is UNKNOWN_TOPIC_ID. */
#define ED_LOG_MODULE "fetch"
#include "core/kapi_data.h"
#include "core/kapi_handlers.h"
#include "core/pidstate.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "storage/log.h"

#include <inttypes.h>
#include <string.h>

struct ftopic {
    ed_kstr name;   /* v4-12 */
    uint8_t id[16]; /* v13+ */
    int32_t first;
    int32_t n;
};

struct fpart {
    int32_t index;
    int32_t current_leader_epoch;
    int64_t fetch_offset;
    int32_t max_bytes;
};

struct fetch_ctx;

/* One registration of a pending fetch on one partition. */
struct fwaiter {
    struct fwaiter *prev;
    struct fwaiter *next;
    ed_partition *part; /* NULL when not linked */
    struct fetch_ctx *f;
};

struct fetch_ctx {
    ed_kreq *req;
    int32_t min_bytes;
    int32_t max_bytes;
    int8_t isolation;
    int32_t n_topics;
    int32_t n_parts;
    int32_t n_waiters;
    uint64_t deadline_ms;
    struct ftopic *topics;
    struct fpart *parts;
    struct fwaiter *waiters;
    ed_timer timer;
};

/* What one partition contributes to the response. */
struct fresult {
    int16_t err;
    int64_t high_watermark;
    int64_t log_start_offset;
    struct ed_log_slice slice;
};

/* Topics by name up to v12, by id from v13 (KIP-516). */
static ed_topic *resolve_topic(ed_kreq *req, const struct ftopic *t)
{
    if (req->api_version >= 13) return ed_topics_find_id(req->broker->topics, t->id);
    return ed_topics_find_k(req->broker->topics, t->name);
}

static ed_partition *resolve(ed_kreq *req, const struct ftopic *t, int32_t index)
{
    ed_topic *topic = resolve_topic(req, t);
    return topic ? ed_topic_partition(topic, index) : NULL;
}

/* Reads one partition: at most limit bytes, or at least one whole batch when
 * min_one (KIP-74), nothing at all when read is false (readiness check of
 * offsets only). */
static void read_part(ed_kreq *req, const struct ftopic *ft, const struct fpart *fp, size_t limit,
                      bool min_one, bool read, struct fresult *out)
{
    memset(out, 0, sizeof *out);
    out->high_watermark = -1;
    out->log_start_offset = -1;
    ed_topic *topic = resolve_topic(req, ft);
    ed_partition *p = topic ? ed_topic_partition(topic, fp->index) : NULL;
    if (!p) {
        out->err = !topic && req->api_version >= 13 ? ED_KERR_UNKNOWN_TOPIC_ID
                                                    : ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (fp->current_leader_epoch > 0) {
        /* Eddy's leader epoch is always 0: the client knows a newer one. */
        out->err = ED_KERR_UNKNOWN_LEADER_EPOCH;
        return;
    }
    int64_t start = ed_log_start_offset(p->log), end = ed_log_end_offset(p->log);
    if (fp->fetch_offset < start || fp->fetch_offset > end) {
        out->err = ED_KERR_OFFSET_OUT_OF_RANGE;
        return;
    }
    out->high_watermark = end;
    out->log_start_offset = start;
    if (fp->fetch_offset == end || !read || (limit == 0 && !min_one)) return;
    int rc = ed_log_read(p->log, fp->fetch_offset, limit, &out->slice);
    if (rc == ED_ERR_RANGE) {
        out->err = ED_KERR_OFFSET_OUT_OF_RANGE;
        out->high_watermark = out->log_start_offset = -1;
        return;
    }
    if (rc) {
        ED_LOG_WARN_RL("%s-%d: read at %" PRId64 " failed: %s", ed_topic_name(p->topic),
                       (int)p->index, fp->fetch_offset, ed_strerror(rc));
        out->err = ED_KERR_KAFKA_STORAGE_ERROR;
        out->high_watermark = out->log_start_offset = -1;
        return;
    }
    if (!min_one && out->slice.len > limit) ed_log_slice_release(&out->slice);
}

static size_t part_limit(const struct fpart *fp, size_t left)
{
    size_t pm = fp->max_bytes > 0 ? (size_t)fp->max_bytes : 0;
    return pm < left ? pm : left;
}

/* True when the fetch should be answered now. */
static bool ready(struct fetch_ctx *f)
{
    size_t left = f->max_bytes > 0 ? (size_t)f->max_bytes : 0;
    int64_t bytes = 0;
    bool min_one = true;
    for (int32_t t = 0; t < f->n_topics; t++) {
        const struct ftopic *ft = &f->topics[t];
        for (int32_t i = ft->first; i < ft->first + ft->n; i++) {
            const struct fpart *fp = &f->parts[i];
            struct fresult r;
            /* With min_bytes <= 1 any data will do: the first partition with
             * data yields a whole batch, so offsets alone decide. */
            bool read = f->min_bytes > 1;
            read_part(f->req, ft, fp, part_limit(fp, left), min_one, read, &r);
            if (r.err) return true;
            if (!read) {
                if (fp->fetch_offset < r.high_watermark) return true;
                continue;
            }
            if (r.slice.len) {
                bytes += (int64_t)r.slice.len;
                left = r.slice.len < left ? left - r.slice.len : 0;
                min_one = false;
                ed_log_slice_release(&r.slice);
                if (bytes >= f->min_bytes) return true;
            }
        }
    }
    return false;
}

static void write_response(struct fetch_ctx *f)
{
    ed_kreq *req = f->req;
    ed_kwr *w = &req->out;
    bool flex = req->flex;
    int16_t v = req->api_version;
    size_t left = f->max_bytes > 0 ? (size_t)f->max_bytes : 0;
    bool min_one = true;

    ed_kwr_i32(w, 0); /* throttle_time_ms */
    if (v >= 7) {
        ed_kwr_i16(w, ED_KERR_NONE);
        ed_kwr_i32(w, 0); /* session_id: no session created */
    }
    ed_kwr_array(w, f->n_topics, flex);
    for (int32_t t = 0; t < f->n_topics; t++) {
        const struct ftopic *ft = &f->topics[t];
        if (v >= 13)
            ed_kwr_uuid(w, ft->id);
        else
            ed_kwr_kstr(w, ft->name, flex);
        ed_kwr_array(w, ft->n, flex);
        for (int32_t i = ft->first; i < ft->first + ft->n; i++) {
            const struct fpart *fp = &f->parts[i];
            struct fresult r;
            read_part(req, ft, fp, part_limit(fp, left), min_one, true, &r);
            if (r.slice.len) {
                left = r.slice.len < left ? left - r.slice.len : 0;
                min_one = false;
            }
            ed_kwr_i32(w, fp->index);
            ed_kwr_i16(w, r.err);
            ed_kwr_i64(w, r.high_watermark);
            ed_kwr_i64(w, r.high_watermark); /* last_stable_offset: no transactions */
            if (v >= 5) ed_kwr_i64(w, r.log_start_offset);
            /* aborted_transactions: none; null unless read_committed. */
            ed_kwr_array(w, f->isolation == 1 ? 0 : -1, flex);
            if (v >= 11) ed_kwr_i32(w, -1); /* preferred_read_replica */
            if (flex)
                ed_kwr_uvarint(w, (uint32_t)r.slice.len + 1);
            else
                ed_kwr_i32(w, (int32_t)r.slice.len);
            if (r.slice.len)
                ed_kwr_splice(w, &r.slice);
            else
                ed_log_slice_release(&r.slice);
            ed_kwr_tags(w, flex);
        }
        ed_kwr_tags(w, flex);
    }
    ed_kwr_tags(w, flex);
}

static void unlink_waiter(struct fwaiter *w)
{
    if (!w->part) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->part->fetch_waiters = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->part = NULL;
}

static void release(struct fetch_ctx *f)
{
    for (int32_t i = 0; i < f->n_waiters; i++)
        unlink_waiter(&f->waiters[i]);
    ed_plat_timer_stop(f->req->broker->loop, &f->timer);
    ed_free(f);
}

static void finish(struct fetch_ctx *f)
{
    ed_kreq *req = f->req;
    req->ctx = NULL;
    req->cancel = NULL;
    write_response(f);
    release(f);
    ed_kreq_complete(req);
}

static void on_timer(ed_timer *t, void *arg)
{
    (void)t;
    struct fetch_ctx *f = arg;
    ed_loop *loop = f->req->broker->loop;
    uint64_t now = ed_plat_loop_now_ms(loop);
    if (now >= f->deadline_ms || ready(f)) {
        finish(f);
        return;
    }
    ed_plat_timer_start(loop, &f->timer, (uint32_t)(f->deadline_ms - now), on_timer, f);
}

static void wake(struct fetch_ctx *f)
{
    ed_plat_timer_start(f->req->broker->loop, &f->timer, 0, on_timer, f);
}

static void on_append(void *arg, ed_partition *p)
{
    (void)arg;
    for (struct fwaiter *w = p->fetch_waiters; w; w = w->next)
        wake(w->f);
}

void ed_kapi_partition_closing(ed_partition *p)
{
    struct fwaiter *w = p->fetch_waiters;
    while (w) {
        struct fwaiter *next = w->next;
        w->prev = w->next = NULL;
        w->part = NULL;
        wake(w->f);
        w = next;
    }
    p->fetch_waiters = NULL;
    ed_pidstate_release(p);
}

static void on_remove(void *arg, ed_partition *p)
{
    (void)arg;
    ed_kapi_partition_closing(p);
}

int ed_kapi_data_attach(ed_topics *t)
{
    ed_topics_set_append_listener(t, on_append, NULL);
    return ed_topics_add_remove_listener(t, on_remove, NULL);
}

static void fetch_cancel(ed_kreq *req)
{
    struct fetch_ctx *f = req->ctx;
    req->ctx = NULL;
    req->cancel = NULL;
    if (f) release(f);
}

/* Registers f on every distinct partition it reads. */
static void add_waiters(struct fetch_ctx *f)
{
    for (int32_t t = 0; t < f->n_topics; t++) {
        const struct ftopic *ft = &f->topics[t];
        for (int32_t i = ft->first; i < ft->first + ft->n; i++) {
            ed_partition *p = resolve(f->req, ft, f->parts[i].index);
            if (!p) continue;
            bool dup = false;
            for (int32_t k = 0; k < f->n_waiters && !dup; k++)
                dup = f->waiters[k].part == p;
            if (dup) continue;
            struct fwaiter *w = &f->waiters[f->n_waiters++];
            w->f = f;
            w->part = p;
            w->prev = NULL;
            w->next = p->fetch_waiters;
            if (w->next) w->next->prev = w;
            p->fetch_waiters = w;
        }
    }
}

static int session_error(ed_kreq *req, int16_t err)
{
    ed_kwr *w = &req->out;
    ed_kwr_i32(w, 0);
    ed_kwr_i16(w, err);
    ed_kwr_i32(w, 0);
    ed_kwr_array(w, 0, req->flex);
    ed_kwr_tags(w, req->flex);
    return ED_KAPI_RESPOND;
}

int ed_kapi_fetch(ed_kreq *req)
{
    bool flex = req->flex;
    int16_t v = req->api_version;
    ed_krd r1 = req->rd;

    /* Pass 1: framing and sizes. */
    if (v <= 14) ed_krd_i32(&r1); /* replica_id (v15+: in a tagged field) */
    int32_t max_wait_ms = ed_krd_i32(&r1);
    int32_t min_bytes = ed_krd_i32(&r1);
    int32_t max_bytes = v >= 3 ? ed_krd_i32(&r1) : INT32_MAX;
    int8_t isolation = v >= 4 ? ed_krd_i8(&r1) : 0;
    int32_t session_id = 0, session_epoch = -1;
    if (v >= 7) {
        session_id = ed_krd_i32(&r1);
        session_epoch = ed_krd_i32(&r1);
    }
    ed_krd body = r1;
    size_t part_len = 16 + (v >= 5 ? 8 : 0) + (v >= 9 ? 4 : 0) + (v >= 12 ? 5 : 0);
    int32_t n_topics = ed_krd_array(&r1, flex, flex ? 2 : 6);
    int64_t n_parts = 0;
    for (int32_t t = 0; t < n_topics && ed_krd_ok(&r1); t++) {
        if (v >= 13)
            ed_krd_skip(&r1, 16);
        else
            ed_krd_str(&r1, flex);
        int32_t n = ed_krd_array(&r1, flex, part_len);
        for (int32_t i = 0; i < n && ed_krd_ok(&r1); i++) {
            ed_krd_skip(&r1, part_len - (flex ? 1 : 0));
            ed_krd_tags(&r1, flex);
        }
        n_parts += n > 0 ? n : 0;
        ed_krd_tags(&r1, flex);
    }
    if (!ed_krd_ok(&r1) || n_topics < 0) goto malformed;

    if (session_id != 0 || (session_epoch != 0 && session_epoch != -1)) {
        /* Only full fetches: Eddy never hands out a session id. */
        return session_error(req, ED_KERR_FETCH_SESSION_ID_NOT_FOUND);
    }

    struct fetch_ctx *f = ed_calloc(1, sizeof *f + (size_t)n_topics * sizeof(struct ftopic) +
                                           (size_t)n_parts * sizeof(struct fpart) +
                                           (size_t)n_parts * sizeof(struct fwaiter));
    if (!f) {
        ED_LOG_WARN_RL("%s: no memory for a fetch of %" PRId64 " partitions", req->peer, n_parts);
        return ED_KAPI_CLOSE;
    }
    f->req = req;
    f->min_bytes = min_bytes;
    f->max_bytes = max_bytes;
    f->isolation = isolation;
    f->n_topics = n_topics;
    f->n_parts = (int32_t)n_parts;
    f->topics = (struct ftopic *)(f + 1);
    f->parts = (struct fpart *)(f->topics + n_topics);
    f->waiters = (struct fwaiter *)(f->parts + n_parts);

    /* Pass 2: decode into the context. */
    ed_krd *rd = &body;
    ed_krd_array(rd, flex, 0);
    int32_t k = 0;
    for (int32_t t = 0; t < n_topics; t++) {
        struct ftopic *ft = &f->topics[t];
        if (v >= 13)
            ed_krd_uuid(rd, ft->id);
        else
            ft->name = ed_krd_str(rd, flex);
        ft->first = k;
        ft->n = ed_krd_array(rd, flex, 0);
        if (ft->n < 0) ft->n = 0;
        for (int32_t i = 0; i < ft->n && k < f->n_parts; i++, k++) {
            struct fpart *fp = &f->parts[k];
            fp->index = ed_krd_i32(rd);
            fp->current_leader_epoch = v >= 9 ? ed_krd_i32(rd) : -1;
            fp->fetch_offset = ed_krd_i64(rd);
            if (v >= 12) ed_krd_i32(rd); /* last_fetched_epoch */
            if (v >= 5) ed_krd_i64(rd);  /* log_start_offset (followers) */
            fp->max_bytes = ed_krd_i32(rd);
            ed_krd_tags(rd, flex);
        }
        ed_krd_tags(rd, flex);
    }
    if (v >= 7) {
        int32_t n = ed_krd_array(rd, flex, flex ? 2 : 6); /* forgotten_topics_data */
        for (int32_t t = 0; t < n && ed_krd_ok(rd); t++) {
            if (v >= 13)
                ed_krd_skip(rd, 16);
            else
                ed_krd_str(rd, flex);
            int32_t m = ed_krd_array(rd, flex, 4);
            ed_krd_skip(rd, (size_t)(m > 0 ? m : 0) * 4);
            ed_krd_tags(rd, flex);
        }
    }
    if (v >= 11) ed_krd_str(rd, flex); /* rack_id */
    ed_krd_tags(rd, flex);
    if (!ed_krd_ok(rd) || k != f->n_parts) {
        ed_free(f);
        goto malformed;
    }

    if (max_wait_ms <= 0 || f->n_parts == 0 || ready(f)) {
        write_response(f);
        ed_free(f);
        return ED_KAPI_RESPOND;
    }
    add_waiters(f);
    ed_loop *loop = req->broker->loop;
    f->deadline_ms = ed_plat_loop_now_ms(loop) + (uint64_t)max_wait_ms;
    ed_plat_timer_start(loop, &f->timer, (uint32_t)max_wait_ms, on_timer, f);
    req->ctx = f;
    req->cancel = fetch_cancel;
    return ED_KAPI_PENDING;

malformed:
    ED_LOG_DBG("%s: malformed fetch request v%d", req->peer, v);
    return ED_KAPI_CLOSE;
}
