/* Live tails of a partition as Server-Sent Events (text/event-stream): one
 * event per record (id = offset, data = the record as JSON, the shape of
 * the records endpoint). The registry's append notification (the one the
 * Fetch long-poll uses) only marks the tails of that partition and arms a
 * zero-delay timer; records are read and written from the timer, at most
 * SSE_BATCH per round, never inside the append. A tail is for eyes: after a
 * full round it waits SSE_ROUND_MS before the next (so each tail costs the
 * broker at most SSE_BATCH records per SSE_ROUND_MS, however busy the
 * partition), and a tail more than SSE_SKIP_AFTER records behind the end
 * skips to the newest SSE_BATCH, announcing the gap as a "skipped" event
 * (every record is read with the records endpoint or a Kafka consumer,
 * not a live tail). A reader that lets more than
 * SSE_OUT_MAX bytes wait unsent is dropped (logged): the broker never holds
 * more than that per tail. A tail ends with its connection, or when its
 * topic is deleted. */
#define ED_LOG_MODULE "http"
#include "bridge/http_int.h"
#include "core/metrics.h"
#include "core/topics.h"
#include "platform/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SSE_BATCH        200
#define SSE_OUT_MAX      (256u << 10)
#define SSE_HEARTBEAT_MS 15000
#define SSE_ROUND_MS     100
#define SSE_SKIP_AFTER   (10 * SSE_BATCH)

static void on_timer(ed_timer *t, void *arg);

/* The tails' timer fires within delay_ms (sooner if already due sooner). */
static void arm(ed_http *h, uint32_t delay_ms)
{
    uint64_t due = ed_plat_clock_mono_ms() + delay_ms;
    if (!ed_plat_timer_armed(&h->tail_timer) || h->tail_timer.due_ms > due)
        ed_plat_timer_start(h->b->loop, &h->tail_timer, delay_ms, on_timer, h);
}

static bool one_event(void *arg, const struct ed_record *r)
{
    struct ed_http_out *o = arg;
    ed_http_out_printf(o, "id: %" PRId64 "\nevent: record\ndata: ", r->offset);
    ed_http_rest_record(o, r);
    ed_http_out_put(o, "\n\n", 2);
    return !o->err && o->len < SSE_OUT_MAX / 2;
}

/* Sends what the tail has not sent yet (one round). */
static void pump(ed_http_conn *c)
{
    c->tail_dirty = false;
    if (!c->tail || ed_conn_closing(c->conn)) return;
    uint64_t now = ed_plat_clock_mono_ms();
    if (now < c->tail_round_ms) { /* paced: the next round later */
        c->tail_dirty = true;
        arm(c->h, (uint32_t)(c->tail_round_ms - now));
        return;
    }
    if (ed_conn_out_pending(c->conn) > SSE_OUT_MAX) {
        ED_LOG_WARN_RL("dropping the live tail of %s-%d to %s: more than %u bytes wait unread",
                       ed_topic_name(c->tail->topic), (int)c->tail->index, ed_conn_peer(c->conn),
                       SSE_OUT_MAX);
        ed_conn_close(c->conn, "slow live-tail reader");
        return;
    }
    ed_log *log = c->tail->log;
    int64_t start = ed_log_start_offset(log), end = ed_log_end_offset(log);
    if (c->tail_next < start) c->tail_next = start; /* retention went past it */
    if (c->tail_next >= end) return;
    struct ed_http_out o;
    ed_http_out_init(&o, SSE_OUT_MAX);
    if (end - c->tail_next > SSE_SKIP_AFTER) {
        int64_t to = end - SSE_BATCH;
        ed_http_out_printf(&o,
                           "event: skipped\ndata: {\"from\":%" PRId64 ",\"to\":%" PRId64 "}\n\n",
                           c->tail_next, to);
        c->tail_next = to;
    }
    int64_t next = c->tail_next;
    int rc = ed_http_read_records(log, c->tail_next, SSE_BATCH, one_event, &o, &next);
    if (rc == ED_OK && !o.err && o.len > 0) {
        if (next - c->tail_next >= SSE_BATCH) c->tail_round_ms = now + SSE_ROUND_MS;
        c->tail_next = next;
        c->tail_sent_ms = ed_conn_now_ms(c->conn);
        if (ed_conn_write(c->conn, o.p, o.len)) ed_conn_flush(c->conn);
    } else if (rc != ED_OK || o.err) {
        ED_LOG_WARN_RL("live tail of %s-%d at %" PRId64 ": %s", ed_topic_name(c->tail->topic),
                       (int)c->tail->index, c->tail_next,
                       rc != ED_OK ? ed_strerror(rc) : "a record larger than the tail's buffer");
        ed_conn_close(c->conn, "live tail failed");
    }
    ed_http_out_free(&o);
    if (!ed_conn_closing(c->conn) && c->tail_next < ed_log_end_offset(log)) {
        c->tail_dirty = true; /* the rest next round */
        arm(c->h, c->tail_round_ms > now ? (uint32_t)(c->tail_round_ms - now) : 0);
    }
}

static void on_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_http *h = arg;
    for (ed_http_conn *c = h->tails, *n; c; c = n) {
        n = c->tail_link;
        if (c->tail_dirty) pump(c);
    }
}

static void on_append(void *arg, ed_partition *p)
{
    ed_http *h = arg;
    bool any = false;
    for (ed_http_conn *c = h->tails; c; c = c->tail_link)
        if (c->tail == p) any = c->tail_dirty = true;
    if (any) arm(h, 0);
}

/* The partition goes (its topic deleted): its tails end. */
static void on_remove(void *arg, ed_partition *p)
{
    ed_http *h = arg;
    for (ed_http_conn *c = h->tails, *n; c; c = n) {
        n = c->tail_link;
        if (c->tail != p) continue;
        c->tail = NULL;
        ed_conn_close(c->conn, "topic deleted");
    }
}

int ed_http_sse_init(ed_http *h)
{
    if (!h->b->topics) return ED_OK;
    int rc = ed_topics_add_append_listener(h->b->topics, on_append, h);
    if (rc == ED_OK) rc = ed_topics_add_remove_listener(h->b->topics, on_remove, h);
    if (rc != ED_OK) {
        ed_topics_del_append_listener(h->b->topics, on_append, h);
        return rc;
    }
    h->listening = true;
    return ED_OK;
}

void ed_http_sse_fini(ed_http *h)
{
    if (h->listening) {
        ed_topics_del_append_listener(h->b->topics, on_append, h);
        ed_topics_del_remove_listener(h->b->topics, on_remove, h);
    }
    if (h->b->loop) ed_plat_timer_stop(h->b->loop, &h->tail_timer);
}

void ed_http_sse_close(ed_http_conn *c)
{
    ed_http *h = c->h;
    if (!c->tailing) return;
    c->tailing = false;
    if (c->tail_prev)
        c->tail_prev->tail_link = c->tail_link;
    else if (h->tails == c)
        h->tails = c->tail_link;
    if (c->tail_link) c->tail_link->tail_prev = c->tail_prev;
    c->tail_prev = c->tail_link = NULL;
    c->tail = NULL;
}

void ed_http_sse_scan(ed_http_conn *c, uint64_t now_ms)
{
    if (!c->tail || now_ms - c->tail_sent_ms < SSE_HEARTBEAT_MS) return;
    c->tail_sent_ms = now_ms;
    static const char beat[] = ": keep-alive\n\n";
    if (ed_conn_write(c->conn, beat, sizeof beat - 1)) ed_conn_flush(c->conn);
}

void ed_http_sse_start(struct ed_http_call *k)
{
    ed_http_conn *c = k->c;
    ed_partition *p = ed_http_rest_partition(k);
    if (!p) return;
    int64_t from = ed_log_end_offset(p->log);
    if (ed_http_query_i64(k->r, "offset", &from) < 0) {
        ed_http_reply_error(c, 400, "offset must be an integer");
        return;
    }
    if (c->head_only || !c->h->listening) {
        ed_http_reply(c, c->h->listening ? 200 : 503, "text/event-stream", NULL, 0, NULL);
        return;
    }
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                               "Connection: close\r\n\r\n";
    char hello[320];
    int n = snprintf(hello, sizeof hello, ": live tail of %s-%d from offset %" PRId64 "\n\n",
                     ed_topic_name(p->topic), (int)p->index, from);
    if (!ed_conn_write(c->conn, head, sizeof head - 1) ||
        !ed_conn_write(c->conn, hello, (size_t)ED_MIN(n, (int)sizeof hello - 1)))
        return;
    ed_metrics_request(ED_METRICS_HTTP, c->route, false);
    c->keep_alive = false;
    c->tail = p;
    c->tail_next = from;
    c->tail_sent_ms = ed_conn_now_ms(c->conn);
    c->tailing = true;
    c->tail_prev = NULL;
    c->tail_link = c->h->tails;
    if (c->h->tails) c->h->tails->tail_prev = c;
    c->h->tails = c;
    c->tail_dirty = true;
    c->tail_round_ms = 0;
    arm(c->h, 0);
}
