/* Fetch (API key 1) v4-17 with true long-poll. Each partition's answer is
 * whole batches spliced from its segment files into the response (zero
 * copy): one slice, and a second from the next segment when the first ends
 * at its segment's end with room left under the limits, so that an answer
 * is not cut short at every segment roll. When fewer than min_bytes are available the request
 * pends: it registers a waiter on every partition it reads (an intrusive list headed by
 * ed_partition.fetch_waiters) and a timer for max_wait_ms. An append to one of the partitions
 * re-arms that timer to fire at once, so bursts of appends fold into one re-evaluation on the loop,
 * never inside the producer's request. Partitions are looked up again by name at every evaluation,
 * so a topic deleted meanwhile is answered as unknown.
 *
 * Fetch sessions (KIP-227) are not kept: a full fetch (session epoch 0 or
 * -1) is answered with session id 0, which tells the client no session was
 * created; an incremental fetch gets FETCH_SESSION_ID_NOT_FOUND. From v13
 * topics are named by their id (as Metadata v10+ gives it), and an unknown
 * id is UNKNOWN_TOPIC_ID.
 *
 * The request is decoded (ed_kapi_serve) before this runs and stays in the
 * request's arena while the fetch pends; the response is encoded from its
 * generated struct, each partition's records one or two file slices handed to the
 * encoder's splicer (the bytes go out with sendfile). */
#define ED_LOG_MODULE "fetch"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi_data.h"
#include "core/kafka/kapi_handlers.h"
#include "core/metrics.h"
#include "core/pidstate.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "storage/log.h"

#include <inttypes.h>
#include <string.h>

typedef struct ed_kmsg_fetch_request_fetch_topic ftopic;
typedef struct ed_kmsg_fetch_request_fetch_partition fpart;

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
    const struct ed_kmsg_fetch_request *body; /* req->body */
    int32_t n_waiters;
    uint64_t deadline_ms;
    struct fwaiter *waiters;
    ed_timer timer;
};

/* Slices one partition's answer may take: its segment and the next. */
#define PART_SLICES 2

/* What one partition contributes to the response. */
struct fresult {
    int16_t err;
    int64_t high_watermark;
    int64_t log_start_offset;
    struct ed_log_slice slice[PART_SLICES];
    size_t len;       /* of the slices together */
    const char *name; /* the topic's, once found */
};

static void release_result(struct fresult *r)
{
    for (int i = 0; i < PART_SLICES; i++)
        ed_log_slice_release(&r->slice[i]);
    r->len = 0;
}

/* Adds whole batches from the segments after the first slice's while they
 * fit in limit; a read that fails here only ends the answer early. */
static void read_on(ed_log *log, size_t limit, struct fresult *out)
{
    for (int i = 1; i < PART_SLICES; i++) {
        const struct ed_log_slice *prev = &out->slice[i - 1];
        if (prev->next_offset < 0 || out->len >= limit) return;
        struct ed_log_slice *s = &out->slice[i];
        if (ed_log_read(log, prev->next_offset, limit - out->len, s) != ED_OK) return;
        if (s->len == 0 || s->len > limit - out->len) {
            ed_log_slice_release(s);
            return;
        }
        out->len += s->len;
    }
}

/* Topics by name, or by id in the versions that name them so (KIP-516). */
static bool by_id(const ed_kreq *req)
{
    return ed_kschema_has(&ed_kmsg_fetch_request_fetch_topic_desc, req->api_version, "TopicId");
}

static ed_topic *resolve_topic(ed_kreq *req, const ftopic *t)
{
    if (by_id(req)) return ed_topics_find_id(req->broker->topics, t->topic_id);
    return ed_topics_find_k(req->broker->topics, t->topic);
}

static ed_partition *resolve(ed_kreq *req, const ftopic *t, int32_t index)
{
    ed_topic *topic = resolve_topic(req, t);
    return topic ? ed_topic_partition(topic, index) : NULL;
}

/* Reads one partition: at most limit bytes, or at least one whole batch when
 * min_one (KIP-74), nothing at all when read is false (readiness check of
 * offsets only). */
static void read_part(ed_kreq *req, const ftopic *ft, const fpart *fp, size_t limit, bool min_one,
                      bool read, struct fresult *out)
{
    memset(out, 0, sizeof *out);
    out->high_watermark = -1;
    out->log_start_offset = -1;
    ed_topic *topic = resolve_topic(req, ft);
    ed_partition *p = topic ? ed_topic_partition(topic, fp->partition) : NULL;
    if ((topic || !by_id(req)) &&
        !ed_kapi_allowed(req, ED_ACL_OP_READ, ED_ACL_RES_TOPIC,
                         topic ? ed_kstr_z(ed_topic_name(topic)) : ft->topic)) {
        out->err = ED_KERR_TOPIC_AUTHORIZATION_FAILED;
        return;
    }
    if (!p) {
        out->err =
            !topic && by_id(req) ? ED_KERR_UNKNOWN_TOPIC_ID : ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
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
    out->name = ed_topic_name(topic);
    if (fp->fetch_offset == end || !read || (limit == 0 && !min_one)) return;
    int rc = ed_log_read(p->log, fp->fetch_offset, limit, &out->slice[0]);
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
    out->len = out->slice[0].len;
    if (!min_one && out->len > limit) {
        release_result(out);
        return;
    }
    read_on(p->log, limit, out);
}

static size_t part_limit(const fpart *fp, size_t left)
{
    size_t pm = fp->partition_max_bytes > 0 ? (size_t)fp->partition_max_bytes : 0;
    return pm < left ? pm : left;
}

/* True when the fetch should be answered now. */
static bool ready(struct fetch_ctx *f)
{
    const struct ed_kmsg_fetch_request *body = f->body;
    size_t left = body->max_bytes > 0 ? (size_t)body->max_bytes : 0;
    int64_t bytes = 0;
    bool min_one = true;
    for (int32_t t = 0; t < body->n_topics; t++) {
        const ftopic *ft = &body->topics[t];
        for (int32_t i = 0; i < ft->n_partitions; i++) {
            const fpart *fp = &ft->partitions[i];
            struct fresult r;
            /* With min_bytes <= 1 any data will do: the first partition with
             * data yields a whole batch, so offsets alone decide. */
            bool read = body->min_bytes > 1;
            read_part(f->req, ft, fp, part_limit(fp, left), min_one, read, &r);
            if (r.err) return true;
            if (!read) {
                if (fp->fetch_offset < r.high_watermark) return true;
                continue;
            }
            if (r.len) {
                bytes += (int64_t)r.len;
                left = r.len < left ? left - r.len : 0;
                min_one = false;
                release_result(&r);
                if (bytes >= body->min_bytes) return true;
            }
        }
    }
    return false;
}

/* The slices of a response, PART_SLICES per partition with records, in
 * the order the encoder meets its records (unused ones are empty). */
struct slices {
    struct ed_log_slice *s;
    int32_t n, next;
};

static void splice_next(void *arg, ed_kwr *w, const ed_kbytes *value)
{
    struct slices *sl = arg;
    (void)value; /* its length is the slices' */
    for (int i = 0; i < PART_SLICES; i++, sl->next++)
        if (sl->s[sl->next].len) ed_kwr_splice(w, &sl->s[sl->next]);
}

static void write_response(struct fetch_ctx *f)
{
    ed_kreq *req = f->req;
    const struct ed_kmsg_fetch_request *body = f->body;
    size_t left = body->max_bytes > 0 ? (size_t)body->max_bytes : 0;
    bool min_one = true;
    struct ed_kmsg_fetch_response resp;
    ed_kschema_init(req->api->response, &resp);
    resp.error_code = ED_KERR_NONE;
    resp.session_id = 0; /* no session created */
    int32_t n_parts = 0;
    for (int32_t t = 0; t < body->n_topics; t++)
        n_parts += body->topics[t].n_partitions;
    struct slices sl = {NULL, 0, 0};
    if (!ed_kreq_array(req, body->n_topics, &ed_kmsg_fetch_response_fetchable_topic_response_desc,
                       &resp.n_responses, &resp.responses) ||
        (n_parts > 0 &&
         !(sl.s = ed_karena_alloc(&req->arena, (size_t)n_parts * PART_SLICES * sizeof *sl.s)))) {
        if (req->out.err == ED_OK) req->out.err = ED_ERR_NOMEM;
        return;
    }
    for (int32_t t = 0; t < body->n_topics; t++) {
        const ftopic *ft = &body->topics[t];
        struct ed_kmsg_fetch_response_fetchable_topic_response *out = &resp.responses[t];
        out->topic = ft->topic;
        memcpy(out->topic_id, ft->topic_id, 16);
        if (!ed_kreq_array(req, ft->n_partitions, &ed_kmsg_fetch_response_partition_data_desc,
                           &out->n_partitions, &out->partitions))
            goto release;
        for (int32_t i = 0; i < ft->n_partitions; i++) {
            const fpart *fp = &ft->partitions[i];
            struct ed_kmsg_fetch_response_partition_data *pd = &out->partitions[i];
            struct fresult r;
            read_part(req, ft, fp, part_limit(fp, left), min_one, true, &r);
            pd->partition_index = fp->partition;
            pd->error_code = r.err;
            pd->high_watermark = r.high_watermark;
            pd->last_stable_offset = r.high_watermark; /* no transactions */
            pd->log_start_offset = r.log_start_offset;
            /* aborted_transactions: none; null unless read_committed. */
            pd->n_aborted_transactions = body->isolation_level == 1 ? 0 : -1;
            pd->preferred_read_replica = -1;
            pd->records = (ed_kbytes){NULL, (int32_t)r.len};
            if (r.len) {
                left = r.len < left ? left - r.len : 0;
                min_one = false;
                for (int k = 0; k < PART_SLICES; k++)
                    sl.s[sl.n++] = r.slice[k];
                ed_metrics_out(ED_METRICS_KAFKA, r.name, 0, r.len);
            } else {
                release_result(&r);
            }
        }
    }
    struct ed_ksplicer sp = {splice_next, &sl};
    ed_kreq_respond_spliced(req, &resp, &sp);
release:
    /* Slices the encoder did not take (it failed first) are let go here. */
    for (int32_t i = sl.next; i < sl.n; i++)
        ed_log_slice_release(&sl.s[i]);
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
    for (int32_t t = 0; t < f->body->n_topics; t++) {
        const ftopic *ft = &f->body->topics[t];
        for (int32_t i = 0; i < ft->n_partitions; i++) {
            ed_partition *p = resolve(f->req, ft, ft->partitions[i].partition);
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

int ed_kapi_fetch(ed_kreq *req)
{
    const struct ed_kmsg_fetch_request *body = req->body;
    if (body->session_id != 0 || (body->session_epoch != 0 && body->session_epoch != -1)) {
        /* Only full fetches: Eddy never hands out a session id. */
        struct ed_kmsg_fetch_response resp;
        ed_kschema_init(req->api->response, &resp);
        resp.error_code = ED_KERR_FETCH_SESSION_ID_NOT_FOUND;
        ed_kreq_respond(req, &resp);
        return ED_KAPI_RESPOND;
    }
    int64_t n_parts = 0;
    for (int32_t t = 0; t < body->n_topics; t++)
        n_parts += body->topics[t].n_partitions;
    struct fetch_ctx *f = ed_calloc(1, sizeof *f + (size_t)n_parts * sizeof(struct fwaiter));
    if (!f) {
        ED_LOG_WARN_RL("%s: no memory for a fetch of %" PRId64 " partitions", req->peer, n_parts);
        return ED_KAPI_CLOSE;
    }
    f->req = req;
    f->body = body;
    f->waiters = (struct fwaiter *)(f + 1);

    if (body->max_wait_ms <= 0 || n_parts == 0 || ready(f)) {
        write_response(f);
        ed_free(f);
        return ED_KAPI_RESPOND;
    }
    add_waiters(f);
    ed_loop *loop = req->broker->loop;
    f->deadline_ms = ed_plat_loop_now_ms(loop) + (uint64_t)body->max_wait_ms;
    ed_plat_timer_start(loop, &f->timer, (uint32_t)body->max_wait_ms, on_timer, f);
    req->ctx = f;
    req->cancel = fetch_cancel;
    return ED_KAPI_PENDING;
}
