/* Unit tests of the connection engine (core/conn.h) through the listeners
 * that use it, a Kafka server and an MQTT listener on one broker, over the
 * simulated network: partial frames, backpressure pause and resume, idle
 * close; a frame begun and never finished is closed after its timeout (so
 * half-sent frames cannot hold every connection slot); the per-address
 * connection limit and its overrides; the shared memory budget for frames
 * (a peer announcing a huge frame costs a charge, not the memory, and
 * connections wait for the budget instead of allocating past it). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/mqtt.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/kafka/kapi.h"
#include "core/kafka/server.h"
#include "core/topics.h"
#include "log_testutil.h"
#include "platform/mem.h"
#include "tconn.h"

/* The broker as `eddy serve` assembles it (ed_broker_open and the
 * services), on loopback port 0. */
struct fx {
    char *dir;
    struct ed_config *cfg;
    ed_broker *b;
    ed_loop *loop;
    ed_server *srv;
    ed_mqtt *m;
};

static void set(struct fx *f, const char *k, const char *v)
{
    char why[256];
    assert_int_equal(ed_config_set(f->cfg, k, v, why, sizeof why), ED_OK);
}

static struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    assert_int_equal(ed_config_new(&f->cfg), ED_OK);
    set(f, "log.dirs", f->dir);
    set(f, "log.dir.min.free.bytes", "0");
    set(f, "listeners", "PLAINTEXT://127.0.0.1:0");
    set(f, "mqtt.listeners", "mqtt://127.0.0.1:0");
    set(f, "queued.max.request.bytes", "0");
    return f;
}

/* budget_len: queued.max.request.bytes (0 = none). */
static void fx_start(struct fx *f, size_t budget_len)
{
    char why[256], v[32];
    snprintf(v, sizeof v, "%zu", budget_len);
    set(f, "queued.max.request.bytes", v);
    assert_int_equal(ed_broker_open(f->cfg, &f->b, why, sizeof why), ED_OK);
    assert_int_equal(ed_server_start(f->b, &f->srv, why, sizeof why), ED_OK);
    assert_int_equal(ed_mqtt_start(f->b, &f->m, why, sizeof why), ED_OK);
    f->loop = f->b->loop;
}

static void fx_free(struct fx *f)
{
    tc_close_all();
    ed_broker_close(f->b);
    ed_config_free(f->cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
}

static void adopt_kafka(void *arg, ed_stream *s)
{
    ed_server_adopt(arg, s);
}

static void adopt_mqtt(void *arg, ed_stream *s)
{
    ed_mqtt_adopt(arg, s);
}

static struct tconn *kafka_from(struct fx *f, const char *peer)
{
    return tc_open_from(f->loop, adopt_kafka, f->srv, 1u << 20, peer);
}

/* Runs the loop (waiting up to 10 ms a round) until done(arg) or about 10
 * seconds: for timeouts measured by the loop's own clock. */
static bool run_until(struct fx *f, bool (*done)(void *arg), void *arg)
{
    for (int i = 0; i < 6000; i++) {
        if (done(arg)) return true;
        ed_plat_loop_run_once(f->loop, 10);
    }
    return done(arg);
}

static bool is_closed(void *arg)
{
    return tc_closed(arg);
}

/* An ApiVersions v0 request frame. */
static size_t api_versions(uint8_t *out, int32_t corr)
{
    static const uint8_t body[] = {0, 18, 0, 0, 0, 0, 0, 0, 0, 1, 'x'};
    memcpy(out + 4, body, sizeof body);
    ed_put_be32(out + 8, (uint32_t)corr);
    ed_put_be32(out, sizeof body);
    return 4 + sizeof body;
}

/* Correlation ids of the whole response frames received so far. */
static int responses(struct tconn *c, int32_t *corr, int max)
{
    size_t len, off = 0;
    const uint8_t *o = tc_output(c, &len);
    int n = 0;
    while (off + 8 <= len && n < max) {
        uint32_t size = ed_get_be32(o + off);
        if (off + 4 + size > len) break;
        corr[n++] = (int32_t)ed_get_be32(o + off + 4);
        off += 4 + size;
    }
    return n;
}

/* ---- partial frames, pause and resume, idle ---- */

static void test_kafka_partial_frames_and_idle(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    /* long enough that a loaded emulator never pauses that long between
     * two of the bytes fed below */
    set(f, "connections.max.idle.ms", "2000");
    fx_start(f, 0);
    struct tconn *c = kafka_from(f, "10.0.0.1:1000");
    uint8_t buf[64];
    size_t n = api_versions(buf, 7);
    n += api_versions(buf + n, 8);
    /* byte by byte: nothing is answered before a frame is whole */
    for (size_t i = 0; i < n; i++) {
        int32_t corr[4];
        assert_int_equal(responses(c, corr, 4), i < n / 2 ? 0 : 1);
        assert_int_equal(tc_feed(c, buf + i, 1), ED_OK);
    }
    int32_t corr[4];
    assert_int_equal(responses(c, corr, 4), 2);
    assert_int_equal(corr[0], 7);
    assert_int_equal(corr[1], 8);
    /* nothing open: closed once idle */
    assert_true(run_until(f, is_closed, c));
    struct ed_server_stats st;
    ed_server_stats_get(f->srv, &st);
    assert_int_equal(st.n_idle, 1);
    assert_int_equal(st.n_timeouts, 0);
    fx_free(f);
}

/* An idle connection holds no read buffer: once its frames are handled and
 * nothing is pending, a request leaves (almost) nothing allocated on the
 * broker's side. Measured with the allocator's count, which also sees the test's
 * in-memory pipes: they keep 4 KiB each way (8 KiB), the 16 KiB read
 * buffer came on top of that before. */
static void test_idle_connections_hold_no_buffer(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    fx_start(f, 0);
    enum { N = 16 };
    struct tconn *c[N];
    struct ed_mem_stats before, after;
    for (int i = 0; i < N; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.0.1.%d:1000", i + 1);
        c[i] = kafka_from(f, peer);
    }
    ed_mem_stats_get(&before);
    for (int i = 0; i < N; i++) {
        uint8_t buf[64];
        size_t n = api_versions(buf, 7);
        assert_int_equal(tc_feed(c[i], buf, n), ED_OK);
    }
    for (int i = 0; i < N; i++) {
        int32_t corr[1];
        assert_int_equal(responses(c[i], corr, 1), 1);
        assert_int_equal(corr[0], 7);
    }
    ed_mem_stats_get(&after);
    size_t per_conn = (after.cur_len - before.cur_len) / N;
    print_message("held after one request: %zu bytes per connection\n", per_conn);
    assert_true(per_conn <= 8192 + 1024);
    /* The same for MQTT after CONNECT and its CONNACK. */
    struct tconn *q[N];
    for (int i = 0; i < N; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.0.2.%d:1000", i + 1);
        q[i] = tc_open_from(f->loop, adopt_mqtt, f->m, 1u << 20, peer);
    }
    ed_mem_stats_get(&before);
    for (int i = 0; i < N; i++) {
        char pkt[64];
        char cid[16];
        int cl = snprintf(cid, sizeof cid, "c%02d", i);
        size_t k = 0;
        pkt[k++] = 0x10;
        pkt[k++] = (char)(10 + 2 + cl);
        memcpy(pkt + k, "\x00\x04MQTT\x04\x02\x00\x3c", 10);
        k += 10;
        pkt[k++] = 0;
        pkt[k++] = (char)cl;
        memcpy(pkt + k, cid, (size_t)cl);
        k += (size_t)cl;
        assert_int_equal(tc_feed(q[i], pkt, k), ED_OK);
        size_t olen;
        const uint8_t *o = tc_output(q[i], &olen);
        assert_true(olen >= 4 && o[0] == 0x20);
    }
    ed_mem_stats_get(&after);
    per_conn = (after.cur_len - before.cur_len) / N;
    print_message("mqtt held after CONNECT: %zu bytes per connection\n", per_conn);
    assert_true(per_conn <= 8192 + 64); /* + client id: the byte queue went with the CONNACK */
    fx_free(f);
}

/* A publish-only MQTT client carries no subscription slots: opening and
 * connecting costs the session, not room for 64 filters; the first SUBSCRIBE
 * allocates them. */
static void test_mqtt_session_holds_no_subscription_slots(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    fx_start(f, 0);
    enum { N = 16 };
    struct tconn *q[N];
    struct ed_mem_stats before, after;
    ed_mem_stats_get(&before);
    for (int i = 0; i < N; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.0.3.%d:1000", i + 1);
        q[i] = tc_open_from(f->loop, adopt_mqtt, f->m, 1u << 20, peer);
    }
    ed_mem_stats_get(&after);
    size_t per_conn = (after.cur_len - before.cur_len) / N;
    print_message("mqtt held by an open connection: %zu bytes\n", per_conn);
    assert_true(per_conn <= 1536); /* 64 inline slots alone took 1,536 */
    static const uint8_t connect[] = {0x10, 0x0f, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                      0x02, 0x00, 0x3c, 0x00, 0x03, 's', '0', '1'};
    assert_int_equal(tc_feed(q[0], connect, sizeof connect), ED_OK);
    /* 65 filters in one SUBSCRIBE: the slots grow to the limit of 64 and
     * the last is refused */
    uint8_t sub[3 + 2 + 65 * 6];
    size_t k = 0;
    sub[k++] = 0x82;
    sub[k++] = 0x88; /* remaining length 392 */
    sub[k++] = 0x03;
    sub[k++] = 0x00;
    sub[k++] = 0x01;
    for (int i = 0; i < 65; i++) {
        sub[k++] = 0x00;
        sub[k++] = 0x03;
        sub[k++] = 'f';
        sub[k++] = (uint8_t)('0' + i / 10);
        sub[k++] = (uint8_t)('0' + i % 10);
        sub[k++] = 0x01;
    }
    assert_int_equal(tc_feed(q[0], sub, k), ED_OK);
    size_t olen;
    const uint8_t *o = tc_output(q[0], &olen);
    assert_int_equal(olen, 4 + 2 + 2 + 65);
    assert_true(o[0] == 0x20 && o[4] == 0x90 && o[5] == 67);
    for (int i = 0; i < 64; i++)
        assert_int_equal(o[8 + i], 0x01);
    assert_int_equal(o[8 + 64], 0x80);
    fx_free(f);
}

/* A one-byte protocol for the byte queue: each byte received reserves room
 * for its answer, lets the queue drain (a flush sends what was committed
 * before), then writes the answer into the reservation and commits it. */
static int byte_frame_len(ed_conn *c, const uint8_t *p, size_t n, size_t *len, char *why,
                          size_t why_len)
{
    ED_UNUSED(c);
    ED_UNUSED(p);
    ED_UNUSED(n);
    ED_UNUSED(why);
    ED_UNUSED(why_len);
    *len = 1;
    return ED_OK;
}

/* Starts the broker of f and a set of a one-byte protocol on its loop,
 * with one test client connected to it. */
static ed_conn_set *byte_set_open(struct fx *f, const struct ed_conn_proto *proto, struct tconn **t)
{
    fx_start(f, 0);
    struct ed_conn_limits lim = {.n_conns_max = 4,
                                 .frame_max_len = 16,
                                 .out_ceiling_len = 1u << 16,
                                 .out_max_len = 1u << 16};
    ed_conn_set *set;
    assert_int_equal(ed_conn_set_new(f->loop, proto, NULL, &lim, NULL, &set), ED_OK);
    *t = tc_open_from(f->loop, (void (*)(void *, ed_stream *))ed_conn_set_adopt, set, 1u << 16,
                      "10.0.4.1:1000");
    return set;
}

static void byte_on_frame(ed_conn *c, struct ed_conn_frame *f)
{
    uint8_t *w = ed_conn_out_reserve(c, 2);
    assert_non_null(w);
    ed_conn_flush(c); /* drains the queue: the reservation must survive */
    w[0] = 'a';
    w[1] = f->p[0];
    ed_conn_out_commit(c, 2);
    ed_conn_flush(c);
}

/* The byte queue is freed once drained, never under a reservation not yet
 * committed, and comes back for the next write. */
static void test_byte_queue_freed_when_drained(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    static const struct ed_conn_proto proto = {
        .name = "bytes", .frame_len = byte_frame_len, .on_frame = byte_on_frame};
    struct tconn *t;
    ed_conn_set *set = byte_set_open(f, &proto, &t);
    struct ed_mem_stats before, after;
    tc_pump(t);
    ed_mem_stats_get(&before);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(tc_feed(t, "xy", 2), ED_OK);
        tc_pump(t);
        size_t olen;
        const uint8_t *o = tc_output(t, &olen);
        assert_int_equal(olen, 4);
        assert_memory_equal(o, "axay", 4);
        tc_output_clear(t);
        ed_mem_stats_get(&after);
        print_message("held after round %d: %lld bytes\n", round,
                      (long long)after.cur_len - (long long)before.cur_len);
        /* the simulated network keeps a 4 KiB buffer per direction */
        assert_true(after.cur_len <= before.cur_len + 2 * 4096);
    }
    tc_close(t);
    ed_conn_set_free(set);
    fx_free(f);
}

/* A protocol whose answers become ready out of order: 'h' queues an answer
 * held back until a later 'g', any other byte an answer ready at once. */
static struct ed_conn_out held_out, quick_out[4];
static uint8_t held_byte, quick_bytes[4];
static int n_quick;

static void order_on_frame(ed_conn *c, struct ed_conn_frame *f)
{
    if (f->p[0] == 'g') {
        ed_conn_out_ready(c, &held_out);
        return;
    }
    struct ed_conn_out *o = f->p[0] == 'h' ? &held_out : &quick_out[n_quick];
    uint8_t *b = f->p[0] == 'h' ? &held_byte : &quick_bytes[n_quick++];
    *b = f->p[0];
    memset(o, 0, sizeof *o);
    o->buf = b;
    o->len = 1;
    ed_conn_out_queue(c, o);
    if (f->p[0] != 'h') ed_conn_out_ready(c, o);
}

/* An answer ready behind one that is not (a produce waiting for its sync)
 * asks for no writable events: the stream could take it, the queue could
 * not send it, and level-triggered events would spin the loop until the
 * head is ready. Then everything goes out in order. */
static void test_ready_behind_held_answer_wants_no_write(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    static const struct ed_conn_proto proto = {
        .name = "order", .frame_len = byte_frame_len, .on_frame = order_on_frame};
    struct tconn *t;
    ed_conn_set *set = byte_set_open(f, &proto, &t);
    n_quick = 0;
    assert_int_equal(tc_feed(t, "hrs", 3), ED_OK);
    tc_pump(t);
    size_t olen;
    tc_output(t, &olen);
    assert_int_equal(olen, 0);
    assert_false(ed_memnet_writing(t->server));
    assert_int_equal(tc_feed(t, "g", 1), ED_OK);
    tc_pump(t);
    const uint8_t *o = tc_output(t, &olen);
    assert_int_equal(olen, 3);
    assert_memory_equal(o, "hrs", 3);
    assert_false(ed_memnet_writing(t->server));
    tc_close(t);
    ed_conn_set_free(set);
    fx_free(f);
}

/* A reader that takes nothing: responses back up past the output ceiling,
 * the server stops reading; once the client reads, it resumes and answers
 * everything in order. */
static void test_kafka_backpressure_pause_resume(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    fx_start(f, 0);
    struct ed_server_limits l = *ed_server_limits_get(f->srv);
    l.out_ceiling_len = 2000;
    ed_server_limits_set(f->srv, &l);
    struct tconn *c = tc_open_from(f->loop, adopt_kafka, f->srv, 4096, "10.0.0.2:1");
    uint8_t buf[64];
    int sent = 0;
    /* write until the server stops reading (its side of the pipe fills) */
    while (tc_reading(c) && sent < 10000) {
        size_t n = api_versions(buf, sent++);
        struct ed_iovec v = {buf, n};
        size_t k;
        assert_int_equal(ed_plat_stream_writev(c->client, &v, 1, &k), ED_OK);
        assert_int_equal(k, n);
        tc_pump(c);
    }
    assert_false(tc_reading(c));
    struct ed_server_stats st;
    ed_server_stats_get(f->srv, &st);
    assert_true(st.n_pauses >= 1);
    /* reading the answers lets it go on: every request answered in order */
    int32_t corr[10000];
    int got = 0;
    for (int i = 0; i < 1000 && got < sent; i++) {
        got = responses(c, corr, 10000);
        tc_pump(c);
    }
    assert_int_equal(got, sent);
    for (int i = 0; i < got; i++)
        assert_int_equal(corr[i], i);
    assert_true(tc_reading(c));
    fx_free(f);
}

/* ---- unfinished frames (Kafka and MQTT) ---- */

/* With four connection slots taken by peers that each sent one byte of a
 * request (and a whole MQTT CONNECT never finished), a new client is
 * refused at first, and served once the half-sent frames time out. */
static void test_unfinished_frames_time_out(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "max.connections", "4");
    set(f, "socket.request.timeout.ms", "100");
    set(f, "mqtt.packet.timeout.ms", "100");
    set(f, "connections.max.idle.ms", "0"); /* only the frame timeout applies */
    fx_start(f, 0);
    struct tconn *bad[4];
    for (int i = 0; i < 4; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.0.1.%d:5", i);
        bad[i] = kafka_from(f, peer);
        assert_int_equal(tc_feed(bad[i], "\0", 1), ED_OK);
    }
    struct tconn *mq = tc_open_from(f->loop, adopt_mqtt, f->m, 1u << 20, "10.0.2.1:5");
    assert_int_equal(tc_feed(mq, "\x10\x20\x00\x04MQ", 6), ED_OK); /* CONNECT, cut short */
    struct tconn *late = kafka_from(f, "10.0.3.1:5");
    assert_true(tc_closed(late)); /* max.connections: refused */
    for (int i = 0; i < 4; i++)
        assert_true(run_until(f, is_closed, bad[i]));
    assert_true(run_until(f, is_closed, mq));
    struct ed_server_stats st;
    ed_server_stats_get(f->srv, &st);
    assert_int_equal(st.n_timeouts, 4);
    assert_int_equal(st.n_refused, 1);
    struct ed_mqtt_stats ms;
    ed_mqtt_stats_get(f->m, &ms);
    assert_int_equal(ms.n_timeouts, 1);
    /* a client now gets a slot and an answer */
    struct tconn *good = kafka_from(f, "10.0.3.2:5");
    uint8_t buf[32];
    size_t n = api_versions(buf, 99);
    assert_int_equal(tc_feed(good, buf, n), ED_OK);
    int32_t corr[2];
    assert_int_equal(responses(good, corr, 2), 1);
    assert_int_equal(corr[0], 99);
    /* a client that is slow but finishes in time is served: the clock is
     * per frame, restarted by each whole one */
    assert_false(tc_closed(good));
    fx_free(f);
}

/* ---- per-address limit ---- */

static void test_per_address_limit(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "max.connections.per.ip", "2");
    set(f, "max.connections.per.ip.overrides", "10.9.9.9:3,[::1]:0");
    set(f, "mqtt.max.connections.per.ip", "1");
    fx_start(f, 0);
    struct tconn *a1 = kafka_from(f, "10.0.0.5:1");
    struct tconn *a2 = kafka_from(f, "10.0.0.5:2");
    struct tconn *a3 = kafka_from(f, "10.0.0.5:3");
    struct tconn *b1 = kafka_from(f, "10.0.0.6:1");
    assert_false(tc_closed(a1));
    assert_false(tc_closed(a2));
    assert_true(tc_closed(a3)); /* a third from one address */
    assert_false(tc_closed(b1));
    /* an override raises the limit for one address, 0 lifts it */
    struct tconn *o[4];
    for (int i = 0; i < 4; i++)
        o[i] = kafka_from(f, "10.9.9.9:7");
    assert_false(tc_closed(o[2]));
    assert_true(tc_closed(o[3]));
    for (int i = 0; i < 5; i++)
        assert_false(tc_closed(kafka_from(f, "[::1]:9")));
    /* once one goes, the address may connect again */
    tc_close(a1);
    assert_false(tc_closed(kafka_from(f, "10.0.0.5:4")));
    /* MQTT has its own */
    struct tconn *m1 = tc_open_from(f->loop, adopt_mqtt, f->m, 1 << 20, "10.0.0.5:8");
    struct tconn *m2 = tc_open_from(f->loop, adopt_mqtt, f->m, 1 << 20, "10.0.0.5:9");
    assert_false(tc_closed(m1));
    assert_true(tc_closed(m2));
    struct ed_server_stats st;
    ed_server_stats_get(f->srv, &st);
    assert_int_equal(st.n_refused, 2);
    fx_free(f);
}

static void test_overrides_parse(void **state)
{
    ED_UNUSED(state);
    struct ed_config_host_limit l[ED_CONFIG_MAX_HOST_LIMITS];
    int n;
    char why[128];
    assert_int_equal(ed_config_host_limits("", l, ED_CONFIG_MAX_HOST_LIMITS, &n, why, sizeof why),
                     ED_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ed_config_host_limits("a:1,b.example:20,[fe80::1]:3", l,
                                           ED_CONFIG_MAX_HOST_LIMITS, &n, why, sizeof why),
                     ED_OK);
    assert_int_equal(n, 3);
    assert_string_equal(l[1].host, "b.example");
    assert_int_equal(l[1].n_max, 20);
    assert_string_equal(l[2].host, "fe80::1");
    static const char *const bad[] = {"a", "a:", ":3", "a:x", "a:-1", "a:1:"};
    for (size_t i = 0; i < ED_ARRAY_LEN(bad); i++)
        assert_int_equal(
            ed_config_host_limits(bad[i], l, ED_CONFIG_MAX_HOST_LIMITS, &n, why, sizeof why),
            ED_ERR_INVAL);
    /* and the config refuses them at start-up */
    struct ed_config *cfg;
    assert_int_equal(ed_config_new(&cfg), ED_OK);
    assert_int_equal(ed_config_set(cfg, "max.connections.per.ip.overrides", "a:x", why, sizeof why),
                     ED_ERR_INVAL);
    ed_config_free(cfg);
}

/* ---- the memory budget ---- */

/* Forty peers each announce a request of 16 MiB less one byte and send a
 * byte of it: memory grows by what they sent, not by what they announced
 * (the first one is charged; the others wait for the budget). */
static void test_announced_size_costs_no_memory(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "socket.request.max.bytes", "16777216");
    fx_start(f, 4u << 20);
    struct ed_mem_stats before, after;
    ed_mem_stats_get(&before);
    struct tconn *c[40];
    for (int i = 0; i < 40; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.1.0.%d:1", i);
        c[i] = kafka_from(f, peer);
        static const uint8_t hdr[] = {0x00, 0xff, 0xff, 0xff, 0x00};
        assert_int_equal(tc_feed(c[i], hdr, sizeof hdr), ED_OK);
    }
    ed_mem_stats_get(&after);
    /* about 40 x 16 KiB of read buffers, nowhere near 40 x 16 MiB */
    assert_true(after.cur_len - before.cur_len < (size_t)8 << 20);
    assert_true(ed_conn_budget_used(f->b->budget) <= ((size_t)16 << 20) + 4);
    struct ed_server_stats st;
    ed_server_stats_get(f->srv, &st);
    assert_int_equal(st.n_mem_waits, 39);
    fx_free(f);
}

/* Two 600 KB requests against a 1 MB budget: the second waits (is not read)
 * until the first is answered, then is served; nothing is refused. */
static void test_budget_wait_and_resume(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "socket.request.max.bytes", "1048576");
    fx_start(f, 1000000);
    /* Metadata v4 naming unknown topics, about 600 KB */
    static uint8_t big[2][620000];
    size_t len = 0;
    for (int k = 0; k < 2; k++) {
        uint8_t *p = big[k];
        size_t n = 4;
        static const uint8_t hdr[] = {0, 3, 0, 4, 0, 0, 0, 0, 0, 1, 'x'};
        memcpy(p + n, hdr, sizeof hdr);
        ed_put_be32(p + n + 4, (uint32_t)(k + 1));
        n += sizeof hdr;
        ed_put_be32(p + n, 21000);
        n += 4;
        for (int i = 0; i < 21000; i++) {
            char name[40];
            int l = snprintf(name, sizeof name, "unknown-topic-number-%06d", i);
            ed_put_be16(p + n, (uint16_t)l);
            memcpy(p + n + 2, name, (size_t)l);
            n += 2 + (size_t)l;
        }
        p[n++] = 0; /* allow_auto_topic_creation */
        ed_put_be32(p, (uint32_t)(n - 4));
        len = n;
    }
    assert_true(len > 600000 && len < sizeof big[0]);
    struct tconn *a = kafka_from(f, "10.2.0.1:1");
    struct tconn *b = kafka_from(f, "10.2.0.2:1");
    /* a sends its header first: charged; b's does not fit and waits */
    assert_int_equal(tc_feed(a, big[0], 100), ED_OK);
    assert_int_equal(tc_feed(b, big[1], 100), ED_OK);
    assert_false(tc_reading(b));
    struct ed_server_stats st;
    ed_server_stats_get(f->srv, &st);
    assert_int_equal(st.n_mem_waits, 1);
    assert_int_equal(tc_feed(a, big[0] + 100, len - 100), ED_OK);
    int32_t corr[2];
    assert_int_equal(responses(a, corr, 2), 1);
    assert_int_equal(corr[0], 1);
    /* the budget is free again: b is read and answered */
    assert_int_equal(tc_feed(b, big[1] + 100, len - 100), ED_OK);
    assert_int_equal(responses(b, corr, 2), 1);
    assert_int_equal(corr[0], 2);
    assert_int_equal(ed_conn_budget_used(f->b->budget), 0);
    assert_true(ed_conn_budget_peak(f->b->budget) <= 1000000);
    ed_server_stats_get(f->srv, &st);
    assert_int_equal(st.n_refused + st.n_bad, 0);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_partial_frames_and_idle),
        cmocka_unit_test(test_idle_connections_hold_no_buffer),
        cmocka_unit_test(test_ready_behind_held_answer_wants_no_write),
        cmocka_unit_test(test_mqtt_session_holds_no_subscription_slots),
        cmocka_unit_test(test_byte_queue_freed_when_drained),
        cmocka_unit_test(test_kafka_backpressure_pause_resume),
        cmocka_unit_test(test_unfinished_frames_time_out),
        cmocka_unit_test(test_per_address_limit),
        cmocka_unit_test(test_overrides_parse),
        cmocka_unit_test(test_announced_size_costs_no_memory),
        cmocka_unit_test(test_budget_wait_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
