/* Unit tests of the MQTT bridge: the codec (every packet type both ways,
 * Remaining Length limits, UTF-8 and property checks, bad input), topic
 * filters, routes and the partitioner, and sessions over the simulated
 * network against a real storage: CONNECT/CONNACK, refusals, keep-alive
 * pings, QoS 1 PUBACK only after the durable flush, QoS 2 exactly once
 * within a connection, user properties to headers, routes, live
 * subscriptions with QoS downgrade, wills, take-over, limits and
 * backpressure. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/mqtt.h"
#include "bridge/mqtt_codec.h"
#include "bridge/mqtt_route.h"
#include "core/kafka/kclient.h"
#include "core/partitioner.h"
#include "core/config.h"
#include "core/topics.h"
#include "log_testutil.h"
#include "tconn.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"

/* ---- packet building ---- */

struct pk {
    uint8_t b[70000];
    size_t len;
};

static void pu8(struct pk *p, uint8_t v)
{
    p->b[p->len++] = v;
}
static void pu16(struct pk *p, uint16_t v)
{
    pu8(p, (uint8_t)(v >> 8));
    pu8(p, (uint8_t)v);
}
static void praw(struct pk *p, const void *s, size_t n)
{
    if (n) memcpy(p->b + p->len, s, n);
    p->len += n;
}
static void pstr(struct pk *p, const char *s)
{
    pu16(p, (uint16_t)strlen(s));
    praw(p, s, strlen(s));
}

/* Wraps body as a packet with first byte `first` into out. */
static void wrap(struct pk *out, uint8_t first, const struct pk *body)
{
    out->len = 0;
    pu8(out, first);
    out->len += ed_mqtt_varint_put(out->b + out->len, (uint32_t)body->len);
    praw(out, body->b, body->len);
}

static void mk_connect(struct pk *out, uint8_t level, const char *client_id, uint16_t keepalive,
                       const char *will_topic, const char *will_msg)
{
    struct pk b = {.len = 0};
    pstr(&b, "MQTT");
    pu8(&b, level);
    uint8_t flags = 0x02;
    if (will_topic) flags |= 0x04 | 0x08; /* will, QoS 1 */
    pu8(&b, flags);
    pu16(&b, keepalive);
    if (level == 5) pu8(&b, 0);
    pstr(&b, client_id);
    if (will_topic) {
        if (level == 5) pu8(&b, 0);
        pstr(&b, will_topic);
        pstr(&b, will_msg);
    }
    wrap(out, 0x10, &b);
}

/* props: raw MQTT 5 property bytes (level 5 only). */
static void mk_publish(struct pk *out, uint8_t level, uint8_t qos, bool dup, uint16_t id,
                       const char *topic, const char *payload, const uint8_t *props,
                       size_t props_len)
{
    struct pk b = {.len = 0};
    pstr(&b, topic);
    if (qos) pu16(&b, id);
    if (level == 5) {
        pu8(&b, (uint8_t)props_len);
        praw(&b, props, props_len);
    }
    praw(&b, payload, strlen(payload));
    wrap(out, (uint8_t)(0x30 | (dup ? 8 : 0) | qos << 1), &b);
}

static void mk_ack(struct pk *out, int type, uint16_t id)
{
    struct pk b = {.len = 0};
    pu16(&b, id);
    wrap(out, (uint8_t)(type << 4 | (type == ED_MQTT_PUBREL ? 2 : 0)), &b);
}

static void mk_subscribe(struct pk *out, uint8_t level, uint16_t id, const char *filter,
                         uint8_t opts)
{
    struct pk b = {.len = 0};
    pu16(&b, id);
    if (level == 5) pu8(&b, 0);
    pstr(&b, filter);
    pu8(&b, opts);
    wrap(out, 0x82, &b);
}

/* ---- reading output ---- */

struct got {
    int type;
    uint8_t flags;
    const uint8_t *body;
    size_t len;
};

/* Splits the connection's output into packets; returns how many. */
static int packets(struct tconn *c, struct got *g, int max)
{
    size_t len;
    const uint8_t *o = tc_output(c, &len);
    size_t pos = 0;
    int n = 0;
    while (pos < len) {
        uint8_t first;
        uint32_t rem;
        size_t hl;
        assert_int_equal(ed_mqtt_fixed_header(o + pos, len - pos, &first, &rem, &hl), ED_OK);
        assert_true(pos + hl + rem <= len);
        assert_true(n < max);
        g[n].type = first >> 4;
        g[n].flags = first & 15;
        g[n].body = o + pos + hl;
        g[n].len = rem;
        n++;
        pos += hl + rem;
    }
    return n;
}

/* ---- fixture: storage + topics + listener ---- */

struct fx {
    char *dir;
    struct ed_config *cfg;
    struct ed_storage_config sc;
    ed_loop *loop;
    ed_storage *st;
    ed_topics *topics;
    ed_broker b;
    ed_mqtt *m;
};

static void set(struct fx *f, const char *k, const char *v)
{
    char why[256];
    assert_int_equal(ed_config_set(f->cfg, k, v, why, sizeof why), ED_OK);
}

static void fx_start(struct fx *f)
{
    ed_config_storage(f->cfg, &f->sc);
    f->sc.use_flusher_thread = false;
    assert_int_equal(ed_plat_loop_new(&f->loop), ED_OK);
    assert_int_equal(ed_storage_open(&f->sc, &f->st), ED_OK);
    assert_int_equal(ed_topics_open_dir(f->st, f->dir, &f->sc.log, &f->topics), ED_OK);
    ed_topics_set_broker_config(f->topics, f->cfg);
    f->b.loop = f->loop;
    f->b.storage = f->st;
    f->b.topics = f->topics;
    f->b.cfg = f->cfg;
    char why[256];
    assert_int_equal(ed_mqtt_new(&f->b, why, sizeof why, &f->m), ED_OK);
}

static struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    assert_int_equal(ed_config_new(&f->cfg), ED_OK);
    set(f, "log.dirs", f->dir);
    set(f, "log.dir.min.free.bytes", "0");
    set(f, "mqtt.max.packet.bytes", "65536");
    set(f, "eddy.flush.gather.ms", "0"); /* acknowledged at the next tick */
    return f;
}

static int setup(void **state)
{
    struct fx *f = fx_new();
    fx_start(f);
    *state = f;
    return 0;
}

static void fx_free(struct fx *f)
{
    tc_close_all();
    ed_mqtt_free(f->m);
    ed_topics_close(f->topics);
    ed_storage_close(f->st);
    ed_plat_loop_free(f->loop);
    ed_config_free(f->cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void adopt(void *arg, ed_stream *s)
{
    ed_mqtt_adopt(arg, s);
}

/* A client connection over the simulated network. */
static struct tconn *mconn(struct fx *f)
{
    return tc_open(f->loop, adopt, f->m);
}

/* A few rounds of the loop: timers (kicks, reaps) and stream events. */
static void pump(struct fx *f)
{
    for (int i = 0; i < 6; i++)
        ed_plat_loop_run_once(f->loop, 0);
}

/* Appends what is gathered, then lets the flush complete (and the loop
 * run what the completions started: reading resumed connections). */
static void settle(struct fx *f)
{
    ed_mqtt_flush(f->m);
    for (int i = 0; i < 3; i++) {
        ed_storage_tick(f->st, ed_plat_clock_wall_ms());
        ed_storage_run_completions(f->st);
        pump(f);
    }
}

static void feed(struct tconn *c, const struct pk *p)
{
    assert_int_equal(tc_feed(c, p->b, p->len), ED_OK);
}

static struct tconn *connect_as(struct fx *f, uint8_t level, const char *id)
{
    struct tconn *c;
    c = mconn(f);
    struct pk p;
    mk_connect(&p, level, id, 60, NULL, NULL);
    feed(c, &p);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_CONNACK);
    assert_int_equal(g[0].body[1], 0);
    tc_output_clear(c);
    return c;
}

/* Record i of topic-partition: key and value copied out (NUL-terminated). */
static int read_records(struct fx *f, const char *topic, int32_t part, char keys[][64],
                        char vals[][64], char hdrs[][64], int max)
{
    ed_topic *t = ed_topics_find(f->topics, topic);
    if (!t) return -1;
    ed_log *log = ed_topic_partition(t, part)->log;
    int n = 0;
    int64_t off = ed_log_start_offset(log);
    while (off < ed_log_end_offset(log)) {
        struct ed_log_slice sl;
        assert_int_equal(ed_log_read(log, off, 1 << 20, &sl), ED_OK);
        uint8_t *buf = malloc(sl.len);
        assert_int_equal(ed_log_slice_copy(&sl, buf, sl.len), ED_OK);
        size_t pos = 0;
        while (pos < sl.len) {
            struct ed_batch_iter it;
            ed_batch_iter_init(&it, 1 << 20);
            assert_int_equal(ed_batch_iter_begin(&it, buf + pos, sl.len - pos), ED_OK);
            struct ed_record r;
            while (ed_batch_iter_next(&it, &r) == 1) {
                assert_true(n < max);
                snprintf(keys[n], 64, "%.*s", (int)r.key_len, (const char *)r.key);
                snprintf(vals[n], 64, "%.*s", (int)r.value_len, (const char *)r.value);
                hdrs[n][0] = '\0';
                size_t cur = 0;
                struct ed_record_header h;
                while (ed_record_next_header(&r, &cur, &h) == 1) {
                    size_t l = strlen(hdrs[n]);
                    snprintf(hdrs[n] + l, 64 - l, "%.*s=%.*s;", (int)h.key_len, (const char *)h.key,
                             (int)h.value_len, (const char *)h.value);
                }
                n++;
                off = r.offset + 1;
            }
            pos += ed_batch_total_len(&it.info);
            ed_batch_iter_release(&it);
        }
        free(buf);
        ed_log_slice_release(&sl);
    }
    return n;
}

/* ======================= codec ======================= */

static void test_varint_limits(void **state)
{
    ED_UNUSED(state);
    static const uint32_t v[] = {0, 127, 128, 16383, 16384, 2097151, 2097152, 268435455};
    for (size_t i = 0; i < ED_ARRAY_LEN(v); i++) {
        uint8_t b[8] = {0x30};
        size_t n = ed_mqtt_varint_put(b + 1, v[i]);
        assert_int_equal(n, ed_mqtt_varint_len(v[i]));
        assert_int_equal(n, i < 2 ? 1 : i < 4 ? 2 : i < 6 ? 3 : 4);
        uint8_t first;
        uint32_t rem;
        size_t hl;
        assert_int_equal(ed_mqtt_fixed_header(b, 1 + n, &first, &rem, &hl), ED_OK);
        assert_int_equal(rem, v[i]);
        assert_int_equal(hl, 1 + n);
        /* one byte short: more needed */
        assert_int_equal(ed_mqtt_fixed_header(b, n, &first, &rem, &hl), ED_ERR_AGAIN);
    }
    uint8_t five[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    uint8_t first;
    uint32_t rem;
    size_t hl;
    assert_int_equal(ed_mqtt_fixed_header(five, sizeof five, &first, &rem, &hl), ED_ERR_PROTO);
}

static void test_utf8(void **state)
{
    ED_UNUSED(state);
    assert_true(ed_mqtt_utf8_ok((const uint8_t *)"a/b/\xc3\xa9/\xe2\x82\xac", 10));
    assert_true(ed_mqtt_utf8_ok((const uint8_t *)"\xf0\x9f\x98\x80", 4));
    assert_false(ed_mqtt_utf8_ok((const uint8_t *)"a\0b", 3));             /* U+0000 */
    assert_false(ed_mqtt_utf8_ok((const uint8_t *)"\xc0\xaf", 2));         /* overlong */
    assert_false(ed_mqtt_utf8_ok((const uint8_t *)"\xed\xa0\x80", 3));     /* surrogate */
    assert_false(ed_mqtt_utf8_ok((const uint8_t *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(ed_mqtt_utf8_ok((const uint8_t *)"\xe2\x82", 2));         /* truncated */
    assert_false(ed_mqtt_utf8_ok((const uint8_t *)"\xff", 1));
}

static void test_decode_connect(void **state)
{
    ED_UNUSED(state);
    struct pk p;
    mk_connect(&p, 4, "dev-1", 30, "dev/1/status", "gone");
    uint8_t first;
    uint32_t rem;
    size_t hl;
    assert_int_equal(ed_mqtt_fixed_header(p.b, p.len, &first, &rem, &hl), ED_OK);
    struct ed_mqtt_connect ck;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_decode_connect(p.b + hl, rem, 0, &ck, &why), ED_OK);
    assert_int_equal(ck.level, 4);
    assert_int_equal(ck.keepalive_s, 30);
    assert_true(ck.clean);
    assert_memory_equal(ck.client_id.p, "dev-1", 5);
    assert_true(ck.will);
    assert_int_equal(ck.will_qos, 1);
    assert_memory_equal(ck.will_topic.p, "dev/1/status", 12);
    assert_memory_equal(ck.will_payload.p, "gone", 4);
    /* flags of the fixed header must be 0 */
    assert_int_equal(ed_mqtt_decode_connect(p.b + hl, rem, 1, &ck, &why), ED_ERR_PROTO);
    /* every truncation is an error, never a read past the end */
    for (size_t n = 0; n < rem; n++) {
        int rc = ed_mqtt_decode_connect(p.b + hl, n, 0, &ck, &why);
        assert_true(rc == ED_ERR_PROTO || rc == ED_ERR_UNSUPPORTED);
    }
    /* bytes left over */
    struct pk q = p;
    q.b[1]++;
    q.b[q.len++] = 0;
    assert_int_equal(ed_mqtt_decode_connect(q.b + hl, rem + 1, 0, &ck, &why), ED_ERR_PROTO);

    /* wrong protocol name, unsupported level */
    struct pk b = {.len = 0};
    pstr(&b, "MQIsdp");
    pu8(&b, 3);
    pu8(&b, 2);
    pu16(&b, 10);
    pstr(&b, "x");
    assert_int_equal(ed_mqtt_decode_connect(b.b, b.len, 0, &ck, &why), ED_ERR_UNSUPPORTED);
    assert_int_equal(ck.level, 0);
    b.len = 0;
    pstr(&b, "MQTT");
    pu8(&b, 3);
    pu8(&b, 2);
    pu16(&b, 10);
    pstr(&b, "x");
    assert_int_equal(ed_mqtt_decode_connect(b.b, b.len, 0, &ck, &why), ED_ERR_UNSUPPORTED);
    assert_int_equal(ck.level, 3);
    /* reserved flag, password without user name (3.1.1), will QoS 3 */
    static const uint8_t bad_flags[] = {0x03, 0x42, 0x1e, 0x20};
    for (size_t i = 0; i < ED_ARRAY_LEN(bad_flags); i++) {
        b.len = 0;
        pstr(&b, "MQTT");
        pu8(&b, 4);
        pu8(&b, bad_flags[i]);
        pu16(&b, 10);
        pstr(&b, "x");
        assert_int_equal(ed_mqtt_decode_connect(b.b, b.len, 0, &ck, &why), ED_ERR_PROTO);
    }
    /* MQTT 5 with properties: receive maximum and maximum packet size */
    b.len = 0;
    pstr(&b, "MQTT");
    pu8(&b, 5);
    pu8(&b, 2);
    pu16(&b, 10);
    static const uint8_t props[] = {8, 0x21, 0, 10, 0x27, 0, 0, 4, 0};
    praw(&b, props, sizeof props);
    pstr(&b, "");
    assert_int_equal(ed_mqtt_decode_connect(b.b, b.len, 0, &ck, &why), ED_OK);
    assert_int_equal(ck.receive_max, 10);
    assert_int_equal(ck.max_packet_len, 1024);
    assert_int_equal(ck.client_id.len, 0);
    /* a repeated property is a protocol error */
    b.len = 0;
    pstr(&b, "MQTT");
    pu8(&b, 5);
    pu8(&b, 2);
    pu16(&b, 10);
    static const uint8_t twice[] = {6, 0x21, 0, 10, 0x21, 0, 11};
    praw(&b, twice, sizeof twice);
    pstr(&b, "x");
    assert_int_equal(ed_mqtt_decode_connect(b.b, b.len, 0, &ck, &why), ED_ERR_INVAL);
    assert_string_equal(why, "property given twice");
}

/* MQTT 5 tells a Protocol Error (0x82: well-formed, against the rules)
 * from a Malformed Packet (0x81): the decoders answer ED_ERR_INVAL for the
 * first and ED_ERR_PROTO for the second. */
static void test_protocol_error_or_malformed(void **state)
{
    (void)state;
    static const struct {
        int type;
        bool will;
        uint8_t len;
        uint8_t b[12];
        int rc;
    } cases[] = {
        /* Protocol Errors: given twice, values out of range */
        {ED_MQTT_CONNECT, false, 6, {0x11, 0, 0, 0, 1, 0x11}, ED_ERR_PROTO}, /* cut short */
        {ED_MQTT_CONNECT, false, 10, {0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1}, ED_ERR_INVAL},
        {ED_MQTT_CONNECT, false, 3, {0x21, 0, 0}, ED_ERR_INVAL},       /* Receive Maximum 0 */
        {ED_MQTT_CONNECT, false, 5, {0x27, 0, 0, 0, 0}, ED_ERR_INVAL}, /* Max Packet Size 0 */
        {ED_MQTT_CONNECT, false, 2, {0x17, 2}, ED_ERR_INVAL},          /* Request Problem Info */
        {ED_MQTT_CONNECT, false, 2, {0x19, 2}, ED_ERR_INVAL},          /* Request Response Info */
        {ED_MQTT_CONNECT, false, 2, {0x19, 1}, ED_OK},
        {ED_MQTT_PUBLISH, true, 10, {0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 1}, ED_ERR_INVAL}, /* will */
        {ED_MQTT_PUBLISH, false, 2, {0x01, 2}, ED_ERR_INVAL}, /* Payload Format 2 */
        {ED_MQTT_PUBLISH, false, 6, {0x08, 0, 3, 'a', '/', '#'}, ED_ERR_INVAL}, /* Response Topic */
        {ED_MQTT_SUBSCRIBE, false, 4, {0x0b, 1, 0x0b, 2}, ED_ERR_INVAL},
        {ED_MQTT_SUBSCRIBE, false, 2, {0x0b, 0}, ED_ERR_INVAL}, /* Subscription Identifier 0 */
        /* Malformed: unknown, not valid in this packet, cut short */
        {ED_MQTT_PUBLISH, false, 3, {0x22, 0, 5}, ED_ERR_PROTO}, /* Topic Alias Maximum */
        {ED_MQTT_PUBLISH, true, 3, {0x23, 0, 5}, ED_ERR_PROTO},  /* Topic Alias in a will */
        {ED_MQTT_PUBLISH, false, 2, {0x7f, 0}, ED_ERR_PROTO},
        {ED_MQTT_PUBLISH, false, 3, {0x02, 0, 0}, ED_ERR_PROTO},
    };
    for (size_t i = 0; i < ED_ARRAY_LEN(cases); i++) {
        const char *why = NULL;
        struct ed_mqtt_bytes props = {cases[i].b, cases[i].len};
        int rc = ed_mqtt_props_check(props, cases[i].type, cases[i].will, &why);
        if (rc != cases[i].rc) fail_msg("case %zu: %d, not %d (%s)", i, rc, cases[i].rc, why);
    }
    assert_int_equal(ed_mqtt_decode_reason(ED_ERR_INVAL), ED_MQTT_RC_PROTOCOL_ERROR);
    assert_int_equal(ed_mqtt_decode_reason(ED_ERR_PROTO), ED_MQTT_RC_MALFORMED);

    /* Authentication Data without an Authentication Method */
    struct pk b = {.len = 0};
    pstr(&b, "MQTT");
    pu8(&b, 5);
    pu8(&b, 2);
    pu16(&b, 10);
    static const uint8_t data_alone[] = {4, 0x16, 0, 1, 'x'};
    praw(&b, data_alone, sizeof data_alone);
    pstr(&b, "x");
    struct ed_mqtt_connect ck;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_decode_connect(b.b, b.len, 0, &ck, &why), ED_ERR_INVAL);

    /* SUBSCRIBE: QoS 3 and Retain Handling 3 are Protocol Errors in MQTT 5,
     * reserved option bits malformed; no filter at all a Protocol Error */
    static const struct {
        uint8_t level, opt;
        int rc;
    } subs[] = {{5, 3, ED_ERR_INVAL}, {5, 0x30, ED_ERR_INVAL}, {5, 0x40, ED_ERR_PROTO},
                {4, 3, ED_ERR_PROTO}, {4, 0x04, ED_ERR_PROTO}, {5, 0x2e, ED_OK}};
    for (size_t i = 0; i < ED_ARRAY_LEN(subs); i++) {
        uint8_t v5[] = {0, 1, 0, 0, 1, 'a', subs[i].opt}; /* with a property length */
        uint8_t v4[] = {0, 1, 0, 1, 'a', subs[i].opt};
        bool five = subs[i].level == 5;
        struct ed_mqtt_subscribe s;
        int rc = ed_mqtt_decode_subscribe(ED_MQTT_SUBSCRIBE, five ? v5 : v4,
                                          five ? sizeof v5 : sizeof v4, 2, subs[i].level, &s, &why);
        if (rc != subs[i].rc) fail_msg("subscribe case %zu: %d, not %d", i, rc, subs[i].rc);
    }
    uint8_t no_filter[] = {0, 1, 0};
    struct ed_mqtt_subscribe s;
    assert_int_equal(ed_mqtt_decode_subscribe(ED_MQTT_SUBSCRIBE, no_filter, 3, 2, 5, &s, &why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_mqtt_decode_subscribe(ED_MQTT_UNSUBSCRIBE, no_filter, 3, 2, 5, &s, &why),
                     ED_ERR_INVAL);
}

static void test_decode_publish_acks_subscribe(void **state)
{
    ED_UNUSED(state);
    struct pk p;
    static const uint8_t up[] = {0x26, 0, 1, 'k', 0, 2, 'v', '1', 0x01, 1};
    mk_publish(&p, 5, 1, false, 9, "a/b", "hello", up, sizeof up);
    uint8_t first;
    uint32_t rem;
    size_t hl;
    assert_int_equal(ed_mqtt_fixed_header(p.b, p.len, &first, &rem, &hl), ED_OK);
    struct ed_mqtt_publish pb;
    const char *why;
    assert_int_equal(ed_mqtt_decode_publish(p.b + hl, rem, first & 15, 5, &pb, &why), ED_OK);
    assert_int_equal(pb.qos, 1);
    assert_int_equal(pb.packet_id, 9);
    assert_int_equal(pb.payload.len, 5);
    assert_memory_equal(pb.payload.p, "hello", 5);
    assert_int_equal(pb.props.len, sizeof up);
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    ed_mqtt_prop_iter_init(&it, pb.props);
    assert_int_equal(ed_mqtt_prop_next(&it, &pr), 1);
    assert_int_equal(pr.id, ED_MQTT_PROP_USER);
    assert_memory_equal(pr.value.p, "v1", 2);
    assert_int_equal(ed_mqtt_prop_next(&it, &pr), 1);
    assert_int_equal(pr.id, ED_MQTT_PROP_PAYLOAD_FORMAT);
    assert_int_equal(ed_mqtt_prop_next(&it, &pr), 0);
    /* QoS 3, DUP on QoS 0, packet id 0, a property of another packet */
    assert_int_equal(ed_mqtt_decode_publish(p.b + hl, rem, 6, 5, &pb, &why), ED_ERR_PROTO);
    assert_int_equal(ed_mqtt_decode_publish(p.b + hl, rem, 8, 4, &pb, &why), ED_ERR_PROTO);
    mk_publish(&p, 4, 1, false, 0, "a", "x", NULL, 0);
    assert_int_equal(ed_mqtt_decode_publish(p.b + 2, p.len - 2, 2, 4, &pb, &why), ED_ERR_PROTO);
    static const uint8_t wrong[] = {0x21, 0, 5}; /* receive maximum: CONNECT only */
    mk_publish(&p, 5, 0, false, 0, "a", "x", wrong, sizeof wrong);
    assert_int_equal(ed_mqtt_decode_publish(p.b + 2, p.len - 2, 0, 5, &pb, &why), ED_ERR_PROTO);
    static const uint8_t alias[] = {0x23, 0, 1};
    mk_publish(&p, 5, 0, false, 0, "a", "x", alias, sizeof alias);
    assert_int_equal(ed_mqtt_decode_publish(p.b + 2, p.len - 2, 0, 5, &pb, &why), ED_OK);
    assert_true(pb.has_topic_alias);

    /* acknowledgements: flags, packet id, MQTT 5 reason */
    struct ed_mqtt_ack a;
    mk_ack(&p, ED_MQTT_PUBREL, 77);
    assert_int_equal(ed_mqtt_decode_ack(ED_MQTT_PUBREL, p.b + 2, 2, 2, 4, &a, &why), ED_OK);
    assert_int_equal(a.packet_id, 77);
    assert_int_equal(ed_mqtt_decode_ack(ED_MQTT_PUBREL, p.b + 2, 2, 0, 4, &a, &why), ED_ERR_PROTO);
    uint8_t r5[] = {0, 5, 0x10, 0};
    assert_int_equal(ed_mqtt_decode_ack(ED_MQTT_PUBACK, r5, 4, 0, 5, &a, &why), ED_OK);
    assert_int_equal(a.reason, 0x10);
    assert_int_equal(ed_mqtt_decode_ack(ED_MQTT_PUBACK, r5, 3, 0, 4, &a, &why), ED_ERR_PROTO);
    uint8_t zero[] = {0, 0};
    assert_int_equal(ed_mqtt_decode_ack(ED_MQTT_PUBACK, zero, 2, 0, 4, &a, &why), ED_ERR_PROTO);

    /* SUBSCRIBE: list, options, bad flags */
    mk_subscribe(&p, 4, 3, "s/+/t", 1);
    struct ed_mqtt_subscribe s;
    assert_int_equal(
        ed_mqtt_decode_subscribe(ED_MQTT_SUBSCRIBE, p.b + 2, p.len - 2, 2, 4, &s, &why), ED_OK);
    assert_int_equal(s.n, 1);
    struct ed_mqtt_bytes f;
    uint8_t o;
    assert_int_equal(ed_mqtt_subscribe_next(ED_MQTT_SUBSCRIBE, &s, &f, &o), 1);
    assert_int_equal(f.len, 5);
    assert_int_equal(o, 1);
    assert_int_equal(ed_mqtt_subscribe_next(ED_MQTT_SUBSCRIBE, &s, &f, &o), 0);
    assert_int_equal(
        ed_mqtt_decode_subscribe(ED_MQTT_SUBSCRIBE, p.b + 2, p.len - 2, 0, 4, &s, &why),
        ED_ERR_PROTO);
    mk_subscribe(&p, 4, 3, "s", 3); /* QoS 3 */
    assert_int_equal(
        ed_mqtt_decode_subscribe(ED_MQTT_SUBSCRIBE, p.b + 2, p.len - 2, 2, 4, &s, &why),
        ED_ERR_PROTO);
    uint8_t empty_list[] = {0, 1};
    assert_int_equal(ed_mqtt_decode_subscribe(ED_MQTT_SUBSCRIBE, empty_list, 2, 2, 4, &s, &why),
                     ED_ERR_PROTO);
    uint8_t unsub[] = {0, 4, 0, 1, 'x'};
    assert_int_equal(ed_mqtt_decode_subscribe(ED_MQTT_UNSUBSCRIBE, unsub, 5, 2, 4, &s, &why),
                     ED_OK);
    assert_int_equal(s.n, 1);

    /* DISCONNECT and PINGREQ */
    struct ed_mqtt_disconnect d;
    uint8_t dis[] = {0x04, 0};
    assert_int_equal(ed_mqtt_decode_disconnect(dis, 2, 0, 5, &d, &why), ED_OK);
    assert_int_equal(d.reason, 4);
    assert_int_equal(ed_mqtt_decode_disconnect(dis, 2, 0, 4, &d, &why), ED_ERR_PROTO);
    assert_int_equal(ed_mqtt_decode_empty(NULL, 0, 0, &why), ED_OK);
    assert_int_equal(ed_mqtt_decode_empty(dis, 1, 0, &why), ED_ERR_PROTO);
}

static void test_encoders(void **state)
{
    ED_UNUSED(state);
    uint8_t b[600];
    size_t n = ed_mqtt_encode_connack(b, sizeof b, 4, false, 0, NULL);
    assert_int_equal(n, 4);
    assert_memory_equal(b, "\x20\x02\x00\x00", 4);
    n = ed_mqtt_encode_connack(b, sizeof b, 4, false, ED_MQTT_RC_UNSUPPORTED_VERSION, NULL);
    assert_memory_equal(b, "\x20\x02\x00\x01", 4);
    n = ed_mqtt_encode_connack(b, sizeof b, 4, false, ED_MQTT_RC_CLIENT_ID_NOT_VALID, NULL);
    assert_memory_equal(b, "\x20\x02\x00\x02", 4);
    struct ed_mqtt_connack_props cp = {
        .receive_max = 64, .max_packet_len = 1000, .max_qos = -1, .retain_unavailable = true};
    n = ed_mqtt_encode_connack(b, sizeof b, 5, false, 0, &cp);
    static const uint8_t want5[] = {0x20, 13, 0, 0,    10,   0x21, 0, 64,
                                    0x27, 0,  0, 0x03, 0xe8, 0x25, 0};
    assert_int_equal(n, sizeof want5);
    assert_memory_equal(b, want5, sizeof want5);
    assert_int_equal(ed_mqtt_encode_connack(b, 3, 5, false, 0, &cp), 0); /* does not fit */

    n = ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBACK, 4, 0x1234, 0);
    assert_memory_equal(b, "\x40\x02\x12\x34", n);
    n = ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBREL, 5, 1, 0);
    assert_memory_equal(b, "\x62\x02\x00\x01", n);
    n = ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBREC, 5, 1, 0x97);
    assert_int_equal(n, 5);
    assert_memory_equal(b, "\x50\x03\x00\x01\x97", 5);
    n = ed_mqtt_encode_ack(b, sizeof b, ED_MQTT_PUBCOMP, 4, 2, 0x92); /* 3.1.1: no reason */
    assert_memory_equal(b, "\x70\x02\x00\x02", n);

    uint8_t codes[] = {0, 1, 2, 0x80};
    n = ed_mqtt_encode_suback(b, sizeof b, ED_MQTT_SUBACK, 4, 5, codes, 4);
    assert_int_equal(n, 8);
    assert_memory_equal(b, "\x90\x06\x00\x05\x00\x01\x02\x80", 8);
    n = ed_mqtt_encode_suback(b, sizeof b, ED_MQTT_SUBACK, 5, 5, codes, 1);
    assert_memory_equal(b, "\x90\x04\x00\x05\x00\x00", n);
    n = ed_mqtt_encode_suback(b, sizeof b, ED_MQTT_UNSUBACK, 4, 6, codes, 1);
    assert_memory_equal(b, "\xb0\x02\x00\x06", n);
    n = ed_mqtt_encode_pingresp(b, sizeof b);
    assert_memory_equal(b, "\xd0\x00", n);
    n = ed_mqtt_encode_disconnect(b, sizeof b, 0x8E, NULL);
    assert_memory_equal(b, "\xe0\x02\x8e\x00", n);
    n = ed_mqtt_encode_disconnect(b, sizeof b, 0x81, "bad");
    assert_memory_equal(b,
                        "\xe0\x08\x81\x06\x1f\x00\x03"
                        "bad",
                        n);

    struct ed_mqtt_bytes t = {(const uint8_t *)"a/b", 3}, none = {NULL, 0};
    n = ed_mqtt_encode_publish_head(b, sizeof b, 4, 1, false, false, t, 7, none, 2);
    assert_int_equal(n + 2, ed_mqtt_publish_len(4, 1, 3, 0, 2));
    assert_memory_equal(b,
                        "\x32\x09\x00\x03"
                        "a/b\x00\x07",
                        n);
    n = ed_mqtt_encode_publish_head(b, sizeof b, 5, 0, false, false, t, 0, none, 200);
    assert_int_equal(n + 200, ed_mqtt_publish_len(5, 0, 3, 0, 200));
    assert_int_equal(b[0], 0x30);
    /* the Remaining Length limit */
    assert_int_equal(ed_mqtt_publish_len(4, 0, 3, 0, ED_MQTT_MAX_REMAINING), SIZE_MAX);
    assert_int_equal(ed_mqtt_encode_publish_head(b, sizeof b, 4, 0, false, false, t, 0, none,
                                                 ED_MQTT_MAX_REMAINING),
                     0);
}

/* ======================= routes ======================= */

static bool match(const char *f, const char *t)
{
    return ed_mqtt_filter_match((const uint8_t *)f, strlen(f), (const uint8_t *)t, strlen(t));
}

static void test_filters(void **state)
{
    ED_UNUSED(state);
    static const char *const ok[] = {"a", "a/b", "+", "#", "a/+/c", "a/#", "+/+", "/", "a//b"};
    static const char *const bad[] = {"", "a+", "a/#/b", "#a", "a/b#", "++"};
    for (size_t i = 0; i < ED_ARRAY_LEN(ok); i++)
        assert_true(ed_mqtt_filter_ok((const uint8_t *)ok[i], strlen(ok[i])));
    for (size_t i = 0; i < ED_ARRAY_LEN(bad); i++)
        assert_false(ed_mqtt_filter_ok((const uint8_t *)bad[i], strlen(bad[i])));
    assert_true(ed_mqtt_topic_name_ok((const uint8_t *)"a/b", 3));
    assert_false(ed_mqtt_topic_name_ok((const uint8_t *)"a/+", 3));
    assert_false(ed_mqtt_topic_name_ok((const uint8_t *)"", 0));

    assert_true(match("a/b", "a/b"));
    assert_false(match("a/b", "a/c"));
    assert_false(match("a/b", "a"));
    assert_false(match("a", "a/b"));
    assert_true(match("a/+", "a/b"));
    assert_true(match("a/+", "a/"));
    assert_false(match("a/+", "a/b/c"));
    assert_true(match("a/#", "a"));
    assert_true(match("a/#", "a/b/c"));
    assert_true(match("#", "a/b"));
    assert_true(match("+/+", "/x"));
    assert_false(match("+", "/x"));
    assert_true(match("sensors/+/temp", "sensors/t7/temp"));
    assert_false(match("sensors/+/temp", "sensors/t7/hum"));
    assert_false(match("#", "$SYS/x"));
    assert_false(match("+/x", "$SYS/x"));
    assert_true(match("$SYS/#", "$SYS/x"));
}

static void test_routes(void **state)
{
    ED_UNUSED(state);
    ed_mqtt_routes *r;
    char why[256];
    assert_int_equal(ed_mqtt_routes_parse(" sensors/+/temp => temperature ; plant/# =>plant ;", &r,
                                          why, sizeof why),
                     ED_OK);
    assert_int_equal(ed_mqtt_routes_count(r), 2);
    char out[250];
    const char *w;
    assert_int_equal(
        ed_mqtt_routes_resolve(r, (const uint8_t *)"sensors/t1/temp", 15, out, sizeof out, &w),
        ED_OK);
    assert_string_equal(out, "temperature");
    assert_int_equal(ed_mqtt_routes_resolve(r, (const uint8_t *)"plant", 5, out, sizeof out, &w),
                     ED_OK);
    assert_string_equal(out, "plant");
    /* default: '/' -> '.', other characters Kafka does not allow -> '_' */
    const char *t = "$SYS/gw 1/\xc3\xa9t\xc3\xa9";
    assert_int_equal(ed_mqtt_routes_resolve(r, (const uint8_t *)t, strlen(t), out, sizeof out, &w),
                     ED_OK);
    assert_string_equal(out, "_SYS.gw_1.__t__");
    assert_int_equal(ed_mqtt_routes_resolve(r, (const uint8_t *)"/", 1, out, sizeof out, &w),
                     ED_ERR_INVAL);
    char longt[300];
    memset(longt, 'x', sizeof longt);
    assert_int_equal(ed_mqtt_routes_resolve(r, (const uint8_t *)longt, 250, out, sizeof out, &w),
                     ED_ERR_INVAL);
    assert_int_equal(ed_mqtt_routes_resolve(r, (const uint8_t *)longt, 249, out, sizeof out, &w),
                     ED_OK);
    ed_mqtt_routes_free(r);

    static const char *const bad[] = {"a/b", "a/#/c=>t", "a=>", "a=>bad topic", "=>t"};
    for (size_t i = 0; i < ED_ARRAY_LEN(bad); i++) {
        why[0] = '\0';
        assert_int_equal(ed_mqtt_routes_parse(bad[i], &r, why, sizeof why), ED_ERR_INVAL);
        assert_non_null(strstr(why, "mqtt.routes: route '"));
    }
    assert_int_equal(ed_mqtt_routes_parse("", &r, why, sizeof why), ED_OK);
    assert_int_equal(ed_mqtt_routes_count(r), 0);
    ed_mqtt_routes_free(r);
}

/* Applies routes r to topic t: the return code; topic and key (NUL-terminated) into out/key. */
static int apply(const ed_mqtt_routes *r, const char *t, char *out, char *key, const char **why)
{
    static uint8_t kb[ED_MQTT_ROUTE_KEY_MAX];
    const uint8_t *k = NULL;
    size_t klen = 0;
    int rc = ed_mqtt_routes_apply(r, (const uint8_t *)t, strlen(t), out, 250, kb, sizeof kb, &k,
                                  &klen, why);
    if (rc == ED_OK) snprintf(key, 300, "%.*s", (int)klen, (const char *)k);
    return rc;
}

/* Publishes route r gives the record (topic kt, key) as MQTT topic into
 * out (NUL-terminated): its length, or SIZE_MAX. */
static size_t pub_apply(const ed_mqtt_routes *r, const char *kt, const char *key, char *out,
                        size_t cap, const char **why)
{
    size_t n = ed_mqtt_publish_routes_apply(r, kt, (const uint8_t *)key, key ? strlen(key) : 0,
                                            (uint8_t *)out, cap - 1, why);
    if (n != SIZE_MAX) out[n] = '\0';
    return n;
}

/* The way back: Kafka topic patterns ('.' levels) to MQTT topic templates
 * with {key}; the default is the inverse of the default mapping. */
static void test_publish_routes(void **state)
{
    ED_UNUSED(state);
    ed_mqtt_routes *r;
    char why[256], out[300];
    const char *w = NULL;
    assert_int_equal(ed_mqtt_publish_routes_parse(" commands=>site/{key}/cmd ;"
                                                  " plant.+area.#rest => p/{area}/{rest}@{topic};"
                                                  " alarms.+ => a",
                                                  &r, why, sizeof why),
                     ED_OK);
    assert_int_equal(ed_mqtt_routes_count(r), 3);
    assert_false(ed_mqtt_routes_have_keys(r));
    assert_int_equal(pub_apply(r, "commands", "T03", out, sizeof out, &w), 12);
    assert_string_equal(out, "site/T03/cmd");
    assert_int_equal(pub_apply(r, "plant.hall2.line.4", NULL, out, sizeof out, &w), 33);
    assert_string_equal(out, "p/hall2/line.4@plant.hall2.line.4");
    assert_int_equal(pub_apply(r, "alarms.x", NULL, out, sizeof out, &w), 1);
    assert_string_equal(out, "a");
    /* no route: '.' back to '/' */
    assert_int_equal(pub_apply(r, "site.T1.rpm", "k", out, sizeof out, &w), 11);
    assert_string_equal(out, "site/T1/rpm");
    /* a key that gives no legal MQTT topic name: refused with a reason */
    w = NULL;
    assert_int_equal(pub_apply(r, "commands", "a+b", out, sizeof out, &w), SIZE_MAX);
    assert_non_null(w);
    assert_int_equal(pub_apply(r, "commands", "\xff", out, sizeof out, &w), SIZE_MAX);
    assert_int_equal(pub_apply(r, "plant.x.#", NULL, out, sizeof out, &w), SIZE_MAX);
    /* bounded by the caller's buffer */
    assert_int_equal(pub_apply(r, "commands", "0123456789", out, 12, &w), SIZE_MAX);
    assert_int_equal(pub_apply(r, "a.b.c.d", NULL, out, 6, &w), SIZE_MAX);
    ed_mqtt_routes_free(r);

    const char *bad[] = {"x=>a/+/b", "x=>a/#", "x.+y=>{z}", "x.#y.z=>a", "noarrow", "x=>{a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        assert_int_equal(ed_mqtt_publish_routes_parse(bad[i], &r, why, sizeof why), ED_ERR_INVAL);
        assert_non_null(strstr(why, "mqtt.publish.routes: route '"));
    }
    /* {key} belongs to publish routes only */
    assert_int_equal(ed_mqtt_routes_parse("a/+x=>t-{key}", &r, why, sizeof why), ED_ERR_INVAL);
}

static void test_route_templates(void **state)
{
    ED_UNUSED(state);
    ed_mqtt_routes *r;
    char why[256], out[250], key[300];
    const char *w = NULL;
    assert_int_equal(
        ed_mqtt_routes_parse("windfarm/+site/turbine/+id/telemetry=>turbine-telemetry|{site}-{id};"
                             " plant/+area/#rest => plant.{area} | {rest}@{topic} ;"
                             " +/+kind/# => by-kind-{kind} ; all/+ => all",
                             &r, why, sizeof why),
        ED_OK);
    assert_int_equal(ed_mqtt_routes_count(r), 4);
    assert_true(ed_mqtt_routes_have_keys(r));
    assert_int_equal(apply(r, "windfarm/site7/turbine/T03/telemetry", out, key, &w), ED_OK);
    assert_string_equal(out, "turbine-telemetry");
    assert_string_equal(key, "site7-T03");
    /* '#name' takes the rest, empty when "a/#" matches "a" itself */
    assert_int_equal(apply(r, "plant/hall2/line/4", out, key, &w), ED_OK);
    assert_string_equal(out, "plant.hall2");
    assert_string_equal(key, "line/4@plant/hall2/line/4");
    assert_int_equal(apply(r, "plant/hall2", out, key, &w), ED_OK);
    assert_string_equal(key, "@plant/hall2");
    /* unnamed wildcards capture nothing; without KEY the key is the topic */
    assert_int_equal(apply(r, "x/rpm/1", out, key, &w), ED_OK);
    assert_string_equal(out, "by-kind-rpm");
    assert_string_equal(key, "x/rpm/1");
    /* the first matching route wins over later ones and the default */
    assert_int_equal(apply(r, "all/x", out, key, &w), ED_OK);
    assert_string_equal(out, "by-kind-x");
    /* no route: default topic and key */
    assert_int_equal(apply(r, "solo", out, key, &w), ED_OK);
    assert_string_equal(out, "solo");
    assert_string_equal(key, "solo");
    /* a capture Kafka does not allow in a topic name refuses the publish */
    w = NULL;
    assert_int_equal(apply(r, "plant/hall 2/x", out, key, &w), ED_ERR_INVAL);
    assert_non_null(strstr(w, "TOPIC template"));
    assert_int_equal(apply(r, "q/../z", out, key, &w), ED_OK); /* "by-kind-.." is legal */
    char longt[400] = "x/";
    memset(longt + 2, 'k', 300);
    longt[302] = '\0';
    w = NULL;
    assert_int_equal(apply(r, longt, out, key, &w), ED_ERR_INVAL);
    assert_non_null(strstr(w, "longer than 249"));
    ed_mqtt_routes_free(r);

    /* an empty capture can give an empty or dotted name: refused */
    assert_int_equal(ed_mqtt_routes_parse("+a/+b=>{a}", &r, why, sizeof why), ED_OK);
    assert_false(ed_mqtt_routes_have_keys(r));
    assert_int_equal(apply(r, "/x", out, key, &w), ED_ERR_INVAL);
    assert_int_equal(apply(r, "../x", out, key, &w), ED_ERR_INVAL);
    assert_int_equal(apply(r, "ok/x", out, key, &w), ED_OK);
    assert_string_equal(out, "ok");
    ed_mqtt_routes_free(r);

    /* a KEY template's output is bounded by the caller's buffer */
    assert_int_equal(ed_mqtt_routes_parse("#all=>t|{all}{topic}", &r, why, sizeof why), ED_OK);
    uint8_t small[8];
    const uint8_t *k;
    size_t klen;
    assert_int_equal(ed_mqtt_routes_apply(r, (const uint8_t *)"abcd", 4, out, sizeof out, small,
                                          sizeof small, &k, &klen, &w),
                     ED_OK);
    assert_int_equal(klen, 8);
    assert_memory_equal(k, "abcdabcd", 8);
    assert_int_equal(ed_mqtt_routes_apply(r, (const uint8_t *)"abcde", 5, out, sizeof out, small,
                                          sizeof small, &k, &klen, &w),
                     ED_ERR_TOOBIG);
    ed_mqtt_routes_free(r);

    /* bad routes are refused at start, naming the key, the route and the problem */
    static const struct {
        const char *spec, *what;
    } bad[] = {
        {"a/+x/b=>t|{y}", "{y}"},
        {"a/+x=>t-{x", "'{' without '}'"},
        {"a/+x=>t}", "'}' without '{'"},
        {"a/+x=>t|", "KEY is empty"},
        {"a/+x=>|{x}", "TOPIC is empty"},
        {"a/+x/+x=>t", "used twice"},
        {"a/+topic=>t", "reserved"},
        {"a/+x y=>t", "capture name"},
        {"a/#x/b=>t", "bad MQTT topic filter"},
        {"a/b+x=>t", "bad MQTT topic filter"},
        {"a/+x=>t {x}", "[a-zA-Z0-9._-]"},
        {"a=>..", "'.' or '..'"},
        {"a=>{topic}|{}", "{}"},
    };
    for (size_t i = 0; i < ED_ARRAY_LEN(bad); i++) {
        why[0] = '\0';
        assert_int_equal(ed_mqtt_routes_parse(bad[i].spec, &r, why, sizeof why), ED_ERR_INVAL);
        assert_non_null(strstr(why, "mqtt.routes: route '"));
        if (!strstr(why, bad[i].what)) fail_msg("%s: %s", bad[i].spec, why);
    }
    assert_int_equal(ed_mqtt_routes_parse_as("coap.routes", "a=>", &r, why, sizeof why),
                     ED_ERR_INVAL);
    assert_non_null(strstr(why, "coap.routes: route 'a=>'"));
}

static void test_murmur2(void **state)
{
    ED_UNUSED(state);
    /* Kafka's Utils.murmur2 test vectors */
    assert_int_equal(ed_partitioner_murmur2((const uint8_t *)"21", 2), -973932308);
    assert_int_equal(ed_partitioner_murmur2((const uint8_t *)"foobar", 6), -790332482);
    assert_int_equal(ed_partitioner_murmur2((const uint8_t *)"a-little-bit-long-string", 24),
                     -985981536);
    assert_int_equal(ed_partitioner_murmur2((const uint8_t *)"abc", 3), 479470107);
    assert_int_equal(ed_partitioner_pick((const uint8_t *)"abc", 3, 1), 0);
    assert_int_equal(ed_partitioner_pick((const uint8_t *)"21", 2, 7),
                     (int)((uint32_t)(-973932308 & 0x7fffffff) % 7));
}

/* ======================= sessions ======================= */

static void test_connect_ping_disconnect(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 4, "dev-1");
    struct pk p = {.len = 2, .b = {0xc0, 0}};
    feed(c, &p);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PINGRESP);
    p.b[0] = 0xe0;
    assert_int_equal(tc_feed(c, p.b, 2), ED_ERR_CLOSED);
    assert_int_equal(ed_mqtt_n_conns(f->m), 0);

    /* MQTT 5: CONNACK carries the server's limits; an empty id is assigned */
    struct tconn *c5;
    c5 = mconn(f);
    mk_connect(&p, 5, "", 0, NULL, NULL);
    feed(c5, &p);
    assert_int_equal(packets(c5, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_CONNACK);
    assert_int_equal(g[0].body[1], 0);
    struct ed_mqtt_bytes props = {g[0].body + 3, g[0].body[2]};
    assert_int_equal(ed_mqtt_props_check(props, ED_MQTT_CONNECT, false, &(const char *){NULL}),
                     ED_ERR_PROTO); /* server-only properties: not allowed from a client */
    assert_int_equal(ed_mqtt_props_check(props, ED_MQTT_CONNACK, false, &(const char *){NULL}),
                     ED_OK); /* and what a client (the pull bridge) accepts */
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    ed_mqtt_prop_iter_init(&it, props);
    bool assigned = false, recv = false, retain = true; /* Retain Available absent: 1 */
    while (ed_mqtt_prop_next(&it, &pr)) {
        if (pr.id == ED_MQTT_PROP_ASSIGNED_CLIENT_ID) assigned = pr.data.len > 0;
        if (pr.id == ED_MQTT_PROP_RECEIVE_MAX) recv = pr.num == 64;
        if (pr.id == ED_MQTT_PROP_RETAIN_AVAILABLE) retain = pr.num == 1;
    }
    assert_true(assigned && recv && retain);
    pump(f);
}

static void test_connect_refusals(void **state)
{
    struct fx *f = *state;
    lt_capture_logs();
    struct tconn *c;
    struct got g[4];
    struct pk p;
    /* protocol level 3: CONNACK return code 1, then closed */
    c = mconn(f);
    mk_connect(&p, 3, "old", 10, NULL, NULL);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_CONNACK);
    assert_int_equal(g[0].body[1], 1);
    assert_true(lt_log_contains("unsupported protocol level"));
    /* garbage: not CONNECT first */
    c = mconn(f);
    assert_int_equal(tc_feed(c, "GET / HTTP/1.1\r\n\r\n", 18), ED_ERR_CLOSED);
    assert_true(lt_log_contains("not CONNECT"));
    /* 3.1.1 empty client id without clean session: return code 2 */
    c = mconn(f);
    mk_connect(&p, 4, "", 10, NULL, NULL);
    p.b[2 + 6 + 1] = 0; /* connect flags: clean session off */
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].body[1], 2);
    /* a packet over mqtt.max.packet.bytes (65536) */
    c = connect_as(f, 5, "big");
    uint8_t hdr[] = {0x30, 0x80, 0x80, 0x08}; /* 131072 */
    assert_int_equal(tc_feed(c, hdr, sizeof hdr), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_DISCONNECT);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_PACKET_TOO_LARGE);
    assert_true(lt_log_contains("over mqtt.max.packet.bytes"));
    /* a second CONNECT */
    c = connect_as(f, 4, "twice");
    mk_connect(&p, 4, "twice", 10, NULL, NULL);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    /* a 5-byte Remaining Length */
    c = connect_as(f, 4, "five");
    uint8_t five[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(tc_feed(c, five, sizeof five), ED_ERR_CLOSED);
    /* wildcard in a PUBLISH topic (MQTT 5: DISCONNECT 0x90) */
    c = connect_as(f, 5, "wild");
    mk_publish(&p, 5, 0, false, 0, "a/+", "x", NULL, 0);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_TOPIC_NAME_INVALID);
    struct ed_mqtt_stats s;
    ed_mqtt_stats_get(f->m, &s);
    assert_true(s.n_bad >= 6);
    lt_release_logs();
    pump(f);
}

static void test_qos1_puback_after_durable(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 4, "dev-1");
    struct pk p;
    mk_publish(&p, 4, 1, false, 1, "site/t1/temp", "21.5", NULL, 0);
    feed(c, &p);
    mk_publish(&p, 4, 1, false, 2, "site/t1/temp", "21.6", NULL, 0);
    feed(c, &p);
    mk_publish(&p, 4, 0, false, 0, "site/t1/temp", "21.7", NULL, 0);
    feed(c, &p);
    size_t len;
    tc_output(c, &len);
    assert_int_equal(len, 0); /* gathered, not even appended */
    ed_mqtt_flush(f->m);
    tc_output(c, &len);
    assert_int_equal(len, 0); /* appended, not durable: still no PUBACK */
    ed_topic *t = ed_topics_find(f->topics, "site.t1.temp");
    assert_non_null(t);
    ed_log *log = ed_topic_partition(t, 0)->log;
    assert_int_equal(ed_log_end_offset(log), 3);
    assert_int_equal(ed_log_durable_offset(log), 0);
    settle(f);
    assert_int_equal(ed_log_durable_offset(log), 3);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 2);
    assert_int_equal(g[0].type, ED_MQTT_PUBACK);
    assert_int_equal(ed_get_be16(g[0].body), 1);
    assert_int_equal(g[1].type, ED_MQTT_PUBACK);
    assert_int_equal(ed_get_be16(g[1].body), 2);
    char keys[8][64], vals[8][64], hdrs[8][64];
    assert_int_equal(read_records(f, "site.t1.temp", 0, keys, vals, hdrs, 8), 3);
    assert_string_equal(keys[0], "site/t1/temp");
    assert_string_equal(vals[0], "21.5");
    assert_string_equal(vals[2], "21.7");
    struct ed_mqtt_stats s;
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_published, 3);
    assert_int_equal(s.n_batches, 1); /* one batch for the three */
}

/* The acknowledgement ring exists only while acknowledgements are owed: it
 * comes with a QoS 1 publish, and a session that got its PUBACK holds no
 * more than right after its CONNACK. */
static void test_idle_session_holds_no_ack_ring(void **state)
{
    struct fx *f = *state;
    struct pk p;
    struct got g[4];
    for (int round = 0; round < 2; round++) {
        /* round 0 creates the topic and its partition state */
        struct tconn *c = connect_as(f, 4, round ? "dev-2" : "dev-1");
        struct ed_mem_stats before, after;
        ed_mem_stats_get(&before);
        mk_publish(&p, 4, 1, false, 1, "site/t1/temp", "21.5", NULL, 0);
        feed(c, &p);
        ed_mem_stats_get(&after);
        print_message("while owed: %lld bytes\n",
                      (long long)after.cur_len - (long long)before.cur_len);
        if (round) assert_true(after.cur_len > before.cur_len); /* the ring came with it */
        settle(f);
        assert_int_equal(packets(c, g, 4), 1);
        assert_int_equal(g[0].type, ED_MQTT_PUBACK);
        tc_output_clear(c);
        ed_mem_stats_get(&after);
        print_message("after PUBACK: %lld bytes\n",
                      (long long)after.cur_len - (long long)before.cur_len);
        if (round) assert_true(after.cur_len <= before.cur_len);
    }
}

/* Durable waits gather (eddy.flush.gather.ms, here its maximum so that
 * nothing in the test depends on time), but a connection whose QoS 1
 * publishes fill its Receive Maximum can send nothing more: its PUBACKs
 * come at the next flush, without the gather delay. */
static void test_full_window_not_gathered(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    set(f, "eddy.flush.gather.ms", "10000");
    set(f, "mqtt.max.inflight", "4");
    fx_start(f);
    struct tconn *c = connect_as(f, 5, "dev-w");
    struct pk p;
    size_t len;
    struct got g[8];
    /* the partition's first sync starts at once; the next ones gather */
    mk_publish(&p, 5, 1, false, 1, "site/w/temp", "21.4", NULL, 0);
    feed(c, &p);
    settle(f);
    assert_int_equal(packets(c, g, 8), 1);
    tc_output_clear(c);
    for (uint16_t id = 2; id <= 4; id++) {
        mk_publish(&p, 5, 1, false, id, "site/w/temp", "21.5", NULL, 0);
        feed(c, &p);
        settle(f);
        tc_output(c, &len);
        assert_int_equal(len, 0); /* window not full: gathering */
    }
    ed_log *log = ed_topic_partition(ed_topics_find(f->topics, "site.w.temp"), 0)->log;
    assert_int_equal(ed_log_durable_offset(log), 1);
    mk_publish(&p, 5, 1, false, 5, "site/w/temp", "21.6", NULL, 0);
    feed(c, &p); /* four waiting: the window is full */
    settle(f);
    assert_int_equal(ed_log_durable_offset(log), 5);
    assert_int_equal(packets(c, g, 8), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(g[i].type, ED_MQTT_PUBACK);
        assert_int_equal(ed_get_be16(g[i].body), i + 2);
    }
    fx_free(f);
}

static void test_qos2_exactly_once(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 5, "dev-2");
    struct pk p;
    mk_publish(&p, 5, 2, false, 7, "q2", "once", NULL, 0);
    feed(c, &p);
    /* a resend before the flush: not stored again, one PUBREC later */
    mk_publish(&p, 5, 2, true, 7, "q2", "once", NULL, 0);
    feed(c, &p);
    ed_mqtt_flush(f->m);
    size_t len;
    tc_output(c, &len);
    assert_int_equal(len, 0);
    settle(f);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBREC);
    assert_int_equal(ed_get_be16(g[0].body), 7);
    tc_output_clear(c);
    /* a resend after PUBREC: PUBREC again at once, nothing appended */
    feed(c, &p);
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBREC);
    tc_output_clear(c);
    settle(f);
    ed_log *log = ed_topic_partition(ed_topics_find(f->topics, "q2"), 0)->log;
    assert_int_equal(ed_log_end_offset(log), 1);
    /* PUBREL -> PUBCOMP; a second PUBREL -> PUBCOMP "packet id not found" */
    mk_ack(&p, ED_MQTT_PUBREL, 7);
    feed(c, &p);
    feed(c, &p);
    assert_int_equal(packets(c, g, 4), 2);
    assert_int_equal(g[0].type, ED_MQTT_PUBCOMP);
    assert_int_equal(g[0].len, 2);
    assert_int_equal(g[1].type, ED_MQTT_PUBCOMP);
    assert_int_equal(g[1].body[2], ED_MQTT_RC_PACKET_ID_NOT_FOUND);
    tc_output_clear(c);
    /* after release the id is free for a new message */
    mk_publish(&p, 5, 2, false, 7, "q2", "twice", NULL, 0);
    feed(c, &p);
    settle(f);
    assert_int_equal(ed_log_end_offset(log), 2);
}

static void test_user_properties_to_headers(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 5, "dev-3");
    static const uint8_t up[] = {0x26, 0, 4, 'u', 'n', 'i', 't', 0, 1,   'C',
                                 0x26, 0, 3, 's', 'r', 'c', 0,   2, 'g', 'w'};
    struct pk p;
    mk_publish(&p, 5, 1, false, 1, "m/x", "7", up, sizeof up);
    feed(c, &p);
    settle(f);
    char keys[4][64], vals[4][64], hdrs[4][64];
    assert_int_equal(read_records(f, "m.x", 0, keys, vals, hdrs, 4), 1);
    assert_string_equal(hdrs[0], "unit=C;src=gw;mqtt.topic=;mqtt.qos=1;");
    assert_string_equal(keys[0], "m/x");
}

/* Whether a record keyed key is in the partition of topic (of n) that
 * Kafka's default partitioner gives that key. */
static bool key_in_its_partition(struct fx *f, const char *topic, int32_t n, const char *key)
{
    int32_t part = ed_partitioner_pick((const uint8_t *)key, strlen(key), n);
    char keys[8][64], vals[8][64], hdrs[8][64];
    int got = read_records(f, topic, part, keys, vals, hdrs, 8);
    bool found = false;
    for (int k = 0; k < got; k++)
        found |= strcmp(keys[k], key) == 0;
    return found;
}

static void test_routes_and_partitions(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "mqtt.routes",
        "sensors/+/temp=>temperature;"
        "windfarm/+site/turbine/+id/telemetry=>turbine-telemetry|{site}-{id}");
    set(f, "num.partitions", "4");
    fx_start(f);
    struct tconn *c = connect_as(f, 4, "dev-4");
    struct pk p;
    const char *topics[] = {"sensors/a/temp", "sensors/b/temp", "sensors/c/temp", "sensors/d/temp"};
    for (int i = 0; i < 4; i++) {
        mk_publish(&p, 4, 1, false, (uint16_t)(i + 1), topics[i], "v", NULL, 0);
        feed(c, &p);
    }
    settle(f);
    ed_topic *t = ed_topics_find(f->topics, "temperature");
    assert_non_null(t);
    assert_int_equal(ed_topic_n_partitions(t), 4);
    for (int i = 0; i < 4; i++)
        assert_true(key_in_its_partition(f, "temperature", 4, topics[i]));
    /* a KEY template names the key, which picks the partition */
    const char *wt[] = {"windfarm/site7/turbine/T03/telemetry", "windfarm/s1/turbine/T1/telemetry"};
    const char *wk[] = {"site7-T03", "s1-T1"};
    for (int i = 0; i < 2; i++) {
        mk_publish(&p, 4, 1, false, (uint16_t)(10 + i), wt[i], "kW", NULL, 0);
        feed(c, &p);
    }
    settle(f);
    for (int i = 0; i < 2; i++)
        assert_true(key_in_its_partition(f, "turbine-telemetry", 4, wk[i]));
    fx_free(f);

    /* a bad route stops the listener's creation with a message naming it */
    f = fx_new();
    set(f, "mqtt.routes", "ok/#=>fine;bad/#/x=>t");
    ed_config_storage(f->cfg, &f->sc);
    f->b.cfg = f->cfg;
    char why[256];
    ed_mqtt *m;
    assert_int_equal(ed_mqtt_new(&f->b, why, sizeof why, &m), ED_ERR_INVAL);
    assert_non_null(strstr(why, "bad/#/x=>t"));
    ed_config_free(f->cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
}

static void test_publish_errors(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "auto.create.topics.enable", "false");
    set(f, "mqtt.routes", "cap/+x=>c-{x}");
    fx_start(f);
    lt_capture_logs();
    /* MQTT 5: negative PUBACK; the connection goes on */
    struct tconn *c = connect_as(f, 5, "dev-5");
    struct pk p;
    mk_publish(&p, 5, 1, false, 3, "nowhere", "x", NULL, 0);
    feed(c, &p);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBACK);
    assert_int_equal(g[0].body[2], ED_MQTT_RC_TOPIC_NAME_INVALID);
    assert_true(lt_log_contains("auto.create.topics.enable is off"));
    /* a route template that gives an invalid topic name: 0x90, logged */
    mk_publish(&p, 5, 1, false, 4, "cap/a b", "x", NULL, 0);
    feed(c, &p);
    assert_int_equal(packets(c, g, 4), 2);
    assert_int_equal(g[1].type, ED_MQTT_PUBACK);
    assert_int_equal(g[1].body[2], ED_MQTT_RC_TOPIC_NAME_INVALID);
    assert_true(lt_log_contains("'cap/a b' refused: the route's TOPIC template"));
    /* MQTT 3.1.1: closed (no negative PUBACK) */
    struct tconn *c4 = connect_as(f, 4, "dev-6");
    mk_publish(&p, 4, 1, false, 3, "nowhere", "x", NULL, 0);
    assert_int_equal(tc_feed(c4, p.b, p.len), ED_ERR_CLOSED);
    lt_release_logs();
    fx_free(f);
}

/* PUBACKs wait for the flush, so MQTT connections acknowledge TCP
 * segments at once: a client's Nagle would otherwise hold its next publish
 * (and a subscriber's PUBACK) until the delayed acknowledgement. */
static void test_connections_ask_quickack(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 4, "quick");
    assert_true(tc_quickacks(c) > 0);
    tc_close(c);
}

/* The acknowledgement at once is asked for per burst of reads that no
 * reply followed, not for every read, and not when a reply written right
 * away (PINGRESP) carries it. */
static void test_quickack_per_unanswered_burst(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 4, "quick");
    unsigned n0 = tc_quickacks(c);
    struct pk p;
    mk_publish(&p, 4, 1, false, 1, "site/t1/temp", "21.5", NULL, 0);
    feed(c, &p); /* the PUBACK waits for the flush */
    assert_int_equal(tc_quickacks(c), n0 + 1);
    struct pk ping = {.len = 2, .b = {0xc0, 0}};
    feed(c, &ping); /* answered at once */
    assert_int_equal(tc_quickacks(c), n0 + 1);
    settle(f);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 2);
    tc_close(c);
}

/* A read that returns less than the buffer could take ends the readable
 * event: no second read just to be told there is nothing more. */
static void test_short_read_ends_the_event(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 4, "short");
    unsigned n0 = tc_empty_reads(c);
    struct pk ping = {.len = 2, .b = {0xc0, 0}};
    feed(c, &ping);
    feed(c, &ping);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 2);
    assert_int_equal(g[1].type, ED_MQTT_PINGRESP);
    assert_int_equal(tc_empty_reads(c), n0);
    tc_close(c);
}

/* Closes the listener, topics and storage and opens them again on the
 * same folder (a broker restart). */
static void fx_restart(struct fx *f)
{
    tc_close_all();
    ed_mqtt_free(f->m);
    ed_topics_close(f->topics);
    ed_storage_close(f->st);
    ed_plat_loop_free(f->loop);
    fx_start(f);
}

/* The reason code of the only packet c received, an MQTT 5 PUBACK. */
static uint8_t puback_reason(struct tconn *c)
{
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBACK);
    uint8_t r = g[0].len > 2 ? g[0].body[2] : 0;
    tc_output_clear(c);
    return r;
}

/* Publishes a retained message at QoS 1 and lets it reach flash: the
 * PUBACK's reason. */
static uint8_t publish_retained(struct fx *f, struct tconn *c, uint16_t id, const char *topic,
                                const char *payload)
{
    struct pk p;
    mk_publish(&p, 5, 1, false, id, topic, payload, NULL, 0);
    p.b[0] |= 1; /* RETAIN */
    feed(c, &p);
    settle(f);
    return puback_reason(c);
}

/* Subscribes c to filter with options opts; the PUBLISH packets that
 * followed the SUBACK: topics and payloads as "topic=payload" joined by
 * ';' (sorted by the caller's expectation), retain flags counted. */
static int subscribe_get(struct tconn *c, uint8_t level, const char *filter, uint8_t opts,
                         char *out, size_t out_len, int *n_retain)
{
    struct pk p;
    static uint16_t sid = 100;
    mk_subscribe(&p, level, ++sid, filter, opts);
    feed(c, &p);
    struct got g[16];
    int n = packets(c, g, 16);
    assert_true(n >= 1);
    assert_int_equal(g[0].type, ED_MQTT_SUBACK);
    out[0] = '\0';
    *n_retain = 0;
    for (int i = 1; i < n; i++) {
        struct ed_mqtt_publish pb;
        const char *why;
        assert_int_equal(g[i].type, ED_MQTT_PUBLISH);
        assert_int_equal(ed_mqtt_decode_publish(g[i].body, g[i].len, g[i].flags, level, &pb, &why),
                         ED_OK);
        size_t l = strlen(out);
        snprintf(out + l, out_len - l, "%s%.*s=%.*s", l ? ";" : "", (int)pb.topic.len,
                 (const char *)pb.topic.p, (int)pb.payload.len, (const char *)pb.payload.p);
        *n_retain += pb.retain;
        if (pb.qos == 1) {
            mk_ack(&p, ED_MQTT_PUBACK, pb.packet_id);
            feed(c, &p);
        }
    }
    tc_output_clear(c);
    return n - 1;
}

static void test_retained(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "mqtt.retained.max.bytes", "8");
    set(f, "mqtt.retained.max.messages", "3");
    /* each counts topic + payload + 64 */
    set(f, "mqtt.retained.max.total.bytes", "210");
    fx_start(f);
    struct tconn *pub = connect_as(f, 5, "pub");
    assert_int_equal(publish_retained(f, pub, 1, "r/a", "A1"), 0);
    assert_int_equal(publish_retained(f, pub, 2, "r/a", "A2"), 0); /* replaces */
    assert_int_equal(publish_retained(f, pub, 3, "r/b", "B"), 0);
    assert_int_equal(publish_retained(f, pub, 4, "z", "Z"), 0);
    /* bounds: payload size and number of topics; nothing is stored */
    assert_int_equal(publish_retained(f, pub, 5, "r/c", "123456789"), ED_MQTT_RC_QUOTA_EXCEEDED);
    assert_int_equal(publish_retained(f, pub, 6, "r/c", "C"), ED_MQTT_RC_QUOTA_EXCEEDED);
    assert_int_equal(publish_retained(f, pub, 7, "r/b", "B2"), 0); /* an existing topic */
    assert_int_equal(publish_retained(f, pub, 8, "z", ""), 0);     /* deleting frees a place */

    char got[256];
    int n_ret;
    struct tconn *s5 = connect_as(f, 5, "s5");
    /* Retain Handling 0: sent, RETAIN set, at the lower QoS */
    assert_int_equal(subscribe_get(s5, 5, "r/a", 1, got, sizeof got, &n_ret), 1);
    assert_string_equal(got, "r/a=A2");
    assert_int_equal(n_ret, 1);
    /* Retain Handling 1: only for a new subscription */
    assert_int_equal(subscribe_get(s5, 5, "r/a", 0x11, got, sizeof got, &n_ret), 0);
    assert_int_equal(subscribe_get(s5, 5, "r/+", 0x11, got, sizeof got, &n_ret), 2);
    /* Retain Handling 2: never */
    assert_int_equal(subscribe_get(s5, 5, "#", 0x21, got, sizeof got, &n_ret), 0);
    /* MQTT 3.1.1 gets them too, RETAIN set */
    struct tconn *s4 = connect_as(f, 4, "s4");
    assert_int_equal(subscribe_get(s4, 4, "r/b", 0, got, sizeof got, &n_ret), 1);
    assert_string_equal(got, "r/b=B2");
    assert_int_equal(n_ret, 1);

    /* live: RETAIN passed on only with Retain As Published */
    struct tconn *rap = connect_as(f, 5, "rap");
    assert_int_equal(subscribe_get(rap, 5, "live/#", 0x08, got, sizeof got, &n_ret), 0);
    assert_int_equal(subscribe_get(s4, 4, "live/#", 0, got, sizeof got, &n_ret), 0);
    struct pk p;
    mk_publish(&p, 5, 0, false, 0, "live/x", "L", NULL, 0);
    p.b[0] |= 1;
    feed(pub, &p);
    struct got g[4];
    struct ed_mqtt_publish pb;
    const char *why;
    assert_int_equal(packets(rap, g, 4), 1);
    assert_int_equal(ed_mqtt_decode_publish(g[0].body, g[0].len, g[0].flags, 5, &pb, &why), ED_OK);
    assert_true(pb.retain);
    assert_int_equal(packets(s4, g, 4), 1);
    assert_int_equal(ed_mqtt_decode_publish(g[0].body, g[0].len, g[0].flags, 4, &pb, &why), ED_OK);
    assert_false(pb.retain);
    settle(f);
    /* an empty retained payload deletes (and frees a place) */
    assert_int_equal(publish_retained(f, pub, 9, "live/x", ""), 0);
    assert_int_equal(publish_retained(f, pub, 10, "r/a", ""), 0);
    struct tconn *s6 = connect_as(f, 5, "s6");
    assert_int_equal(subscribe_get(s6, 5, "#", 1, got, sizeof got, &n_ret), 1);
    assert_string_equal(got, "r/b=B2");

    /* a will with Will Retain becomes the retained message of its topic */
    struct tconn *dying = mconn(f);
    mk_connect(&p, 4, "dying", 60, "r/b", "offline");
    p.b[9] |= 0x20; /* Will Retain, in the CONNECT flags */
    feed(dying, &p);
    tc_close(dying); /* no DISCONNECT: the will is published */
    settle(f);
    struct tconn *s8 = connect_as(f, 5, "s8");
    assert_int_equal(subscribe_get(s8, 5, "r/b", 1, got, sizeof got, &n_ret), 1);
    assert_string_equal(got, "r/b=offline");
    assert_int_equal(publish_retained(f, pub, 11, "r/b", "B2"), 0);

    /* across a restart, from the compacted internal topic */
    fx_restart(f);
    ed_topic *t = ed_topics_find(f->topics, "__mqtt_retained");
    assert_non_null(t);
    assert_true(ed_topic_is_internal(t));
    struct tconn *s7 = connect_as(f, 4, "s7");
    assert_int_equal(subscribe_get(s7, 4, "#", 1, got, sizeof got, &n_ret), 1);
    assert_string_equal(got, "r/b=B2");
    pub = connect_as(f, 5, "pub2");
    assert_int_equal(publish_retained(f, pub, 1, "r/c", "C"), 0); /* r/a's place is free */
    /* r/b 69 + r/c 68 + r/d 75 bytes > 210: refused though a place is free */
    assert_int_equal(publish_retained(f, pub, 2, "r/d", "12345678"), ED_MQTT_RC_QUOTA_EXCEEDED);
    assert_int_equal(publish_retained(f, pub, 3, "r/d", "123456"), 0); /* 210 */
    fx_free(f);
}

static void test_subscribe_live(void **state)
{
    struct fx *f = *state;
    struct tconn *sub = connect_as(f, 4, "screen");
    struct tconn *sub5 = connect_as(f, 5, "screen5");
    struct tconn *pub = connect_as(f, 5, "sensor");
    struct pk p;
    struct got g[8];
    mk_subscribe(&p, 4, 1, "plant/+/temp", 1);
    feed(sub, &p);
    assert_int_equal(packets(sub, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_SUBACK);
    assert_int_equal(g[0].body[2], 1); /* granted QoS 1 */
    tc_output_clear(sub);
    mk_subscribe(&p, 5, 1, "plant/#", 2);
    feed(sub5, &p);
    assert_int_equal(packets(sub5, g, 8), 1);
    assert_int_equal(g[0].body[3], 2);
    tc_output_clear(sub5);
    /* bad filter: refused in SUBACK */
    mk_subscribe(&p, 4, 2, "plant/#/x", 0);
    feed(sub, &p);
    assert_int_equal(packets(sub, g, 8), 1);
    assert_int_equal(g[0].body[2], 0x80);
    tc_output_clear(sub);

    static const uint8_t up[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
    mk_publish(&p, 5, 2, false, 1, "plant/p1/temp", "30", up, sizeof up);
    feed(pub, &p);
    mk_publish(&p, 5, 0, false, 0, "plant/p1/hum", "50", NULL, 0);
    feed(pub, &p);
    /* QoS 2 publish, QoS 1 subscription: delivered at QoS 1 */
    assert_int_equal(packets(sub, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBLISH);
    assert_int_equal((g[0].flags >> 1) & 3, 1);
    struct ed_mqtt_publish pb;
    const char *why;
    assert_int_equal(ed_mqtt_decode_publish(g[0].body, g[0].len, g[0].flags, 4, &pb, &why), ED_OK);
    assert_memory_equal(pb.topic.p, "plant/p1/temp", 13);
    assert_memory_equal(pb.payload.p, "30", 2);
    uint16_t id = pb.packet_id;
    tc_output_clear(sub);
    mk_ack(&p, ED_MQTT_PUBACK, id);
    feed(sub, &p);
    /* MQTT 5 subscriber: both, QoS 2 and 0, with the user property */
    assert_int_equal(packets(sub5, g, 8), 2);
    assert_int_equal(ed_mqtt_decode_publish(g[0].body, g[0].len, g[0].flags, 5, &pb, &why), ED_OK);
    assert_int_equal(pb.qos, 2);
    assert_int_equal(pb.props.len, sizeof up);
    id = pb.packet_id;
    assert_int_equal(ed_mqtt_decode_publish(g[1].body, g[1].len, g[1].flags, 5, &pb, &why), ED_OK);
    assert_int_equal(pb.qos, 0);
    tc_output_clear(sub5);
    mk_ack(&p, ED_MQTT_PUBREC, id);
    feed(sub5, &p);
    assert_int_equal(packets(sub5, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBREL);
    tc_output_clear(sub5);
    mk_ack(&p, ED_MQTT_PUBCOMP, id);
    feed(sub5, &p);
    /* UNSUBSCRIBE: nothing more */
    struct pk b = {.len = 0};
    pu16(&b, 9);
    pstr(&b, "plant/+/temp");
    wrap(&p, 0xa2, &b);
    feed(sub, &p);
    assert_int_equal(packets(sub, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_UNSUBACK);
    tc_output_clear(sub);
    mk_publish(&p, 5, 0, false, 0, "plant/p2/temp", "31", NULL, 0);
    feed(pub, &p);
    size_t len;
    tc_output(sub, &len);
    assert_int_equal(len, 0);
    settle(f);
}

static void test_will_and_takeover(void **state)
{
    struct fx *f = *state;
    struct tconn *watch = connect_as(f, 4, "watch");
    struct pk p;
    mk_subscribe(&p, 4, 1, "dev/+/status", 0);
    feed(watch, &p);
    tc_output_clear(watch);
    struct tconn *c;
    c = mconn(f);
    mk_connect(&p, 4, "dev-7", 30, "dev/7/status", "offline");
    feed(c, &p);
    /* take-over by the same client id: the first is closed, its will goes */
    struct tconn *c2 = connect_as(f, 4, "dev-7");
    assert_true(tc_closed(c));
    assert_false(tc_closed(c2));
    struct got g[4];
    assert_int_equal(packets(watch, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBLISH);
    tc_output_clear(watch);
    /* a clean DISCONNECT: no will */
    struct tconn *c3;
    c3 = mconn(f);
    mk_connect(&p, 4, "dev-8", 30, "dev/8/status", "offline");
    feed(c3, &p);
    uint8_t dis[] = {0xe0, 0};
    assert_int_equal(tc_feed(c3, dis, 2), ED_ERR_CLOSED);
    size_t len;
    tc_output(watch, &len);
    assert_int_equal(len, 0);
    settle(f);
    char keys[4][64], vals[4][64], hdrs[4][64];
    assert_int_equal(read_records(f, "dev.7.status", 0, keys, vals, hdrs, 4), 1);
    assert_string_equal(vals[0], "offline");
    assert_null(ed_topics_find(f->topics, "dev.8.status"));
    struct ed_mqtt_stats s;
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_wills, 1);
    /* MQTT 5: the connection taken over is told why (0x8E) */
    struct tconn *old5 = connect_as(f, 5, "dev-9");
    struct tconn *new5 = connect_as(f, 5, "dev-9");
    assert_true(tc_closed(old5));
    assert_false(tc_closed(new5));
    assert_int_equal(packets(old5, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_DISCONNECT);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_SESSION_TAKEN_OVER);
    pump(f);
}

static void test_subscriber_limits(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "mqtt.max.inflight", "2");
    fx_start(f);
    struct tconn *sub = connect_as(f, 4, "slow");
    /* an MQTT 5 subscriber with a Maximum Packet Size of 40 bytes */
    struct tconn *small;
    small = mconn(f);
    struct pk b = {.len = 0}, p;
    pstr(&b, "MQTT");
    pu8(&b, 5);
    pu8(&b, 2);
    pu16(&b, 60);
    static const uint8_t props[] = {5, 0x27, 0, 0, 0, 40};
    praw(&b, props, sizeof props);
    pstr(&b, "small");
    wrap(&p, 0x10, &b);
    feed(small, &p);
    tc_output_clear(small);
    mk_subscribe(&p, 4, 1, "t/#", 1);
    feed(sub, &p);
    mk_subscribe(&p, 5, 1, "t/#", 0);
    feed(small, &p);
    tc_output_clear(sub);
    tc_output_clear(small);
    struct tconn *pub = connect_as(f, 4, "pub");
    for (int i = 0; i < 3; i++) {
        mk_publish(&p, 4, 1, false, (uint16_t)(i + 1), "t/x", "short", NULL, 0);
        feed(pub, &p);
        settle(f);
    }
    mk_publish(&p, 4, 0, false, 0, "t/x", "a payload longer than forty bytes, surely", NULL, 0);
    feed(pub, &p);
    /* QoS 1 window of 2 (no PUBACK from the subscriber): the third waits */
    struct got g[8];
    assert_int_equal(packets(sub, g, 8), 3);
    assert_int_equal((g[0].flags >> 1) & 3, 1);
    assert_int_equal((g[1].flags >> 1) & 3, 1);
    assert_int_equal((g[2].flags >> 1) & 3, 0); /* the QoS 0 one still goes */
    struct ed_mqtt_publish pb;
    const char *why;
    assert_int_equal(ed_mqtt_decode_publish(g[0].body, g[0].len, g[0].flags, 4, &pb, &why), ED_OK);
    tc_output_clear(sub);
    /* the small client gets the three short ones, not the long one */
    assert_int_equal(packets(small, g, 8), 3);
    struct ed_mqtt_stats s;
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_dropped, 1);
    /* a PUBACK frees the window: the third leaves */
    mk_ack(&p, ED_MQTT_PUBACK, pb.packet_id);
    feed(sub, &p);
    assert_int_equal(packets(sub, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBLISH);
    assert_int_equal((g[0].flags >> 1) & 3, 1);
    assert_int_equal(ed_mqtt_decode_publish(g[0].body, g[0].len, g[0].flags, 4, &pb, &why), ED_OK);
    assert_memory_equal(pb.payload.p, "short", 5);
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_dropped, 1);
    settle(f);
    fx_free(f);
}

static void mk_connect5(struct pk *out, uint8_t flags, const uint8_t *props, size_t props_len,
                        const char *id, const char *will_topic, const char *will_msg);

/* An MQTT 5 subscriber announcing Receive Maximum n, subscribed to filter
 * at QoS 1; its output cleared. */
static struct tconn *slow_subscriber(struct fx *f, const char *id, uint16_t receive_max,
                                     const char *filter)
{
    struct tconn *c;
    c = mconn(f);
    const uint8_t props[] = {0x21, (uint8_t)(receive_max >> 8), (uint8_t)receive_max};
    struct pk p;
    mk_connect5(&p, 0x02, props, sizeof props, id, NULL, NULL);
    feed(c, &p);
    mk_subscribe(&p, 5, 1, filter, 1);
    feed(c, &p);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 2);
    assert_int_equal(g[0].type, ED_MQTT_CONNACK);
    assert_int_equal(g[1].type, ED_MQTT_SUBACK);
    tc_output_clear(c);
    return c;
}

/* The one PUBLISH in c's output at QoS 1: its payload as a number, *id its
 * packet id; output cleared. */
static int one_delivery(struct tconn *c, uint16_t *id)
{
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBLISH);
    struct ed_mqtt_publish pb;
    const char *why;
    assert_int_equal(ed_mqtt_decode_publish(g[0].body, g[0].len, g[0].flags, 5, &pb, &why), ED_OK);
    assert_int_equal(pb.qos, 1);
    char num[16] = {0};
    memcpy(num, pb.payload.p, ED_MIN(pb.payload.len, sizeof num - 1));
    *id = pb.packet_id;
    tc_output_clear(c);
    return atoi(num);
}

/* n QoS 1 publishes to topic from pub, payloads "0", "1", ... */
static void publish_numbered(struct tconn *pub, const char *topic, int n)
{
    struct pk p;
    for (int i = 0; i < n; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        mk_publish(&p, 5, 1, false, (uint16_t)(i + 1), topic, v, NULL, 0);
        feed(pub, &p);
    }
}

/* Receives deliveries first..first+n-1 one at a time, in order, each only
 * after the PUBACK of the one before; nothing more is left. */
static void ack_numbered(struct tconn *sub, int first, int n)
{
    struct pk p;
    for (int i = first; i < first + n; i++) {
        uint16_t id;
        assert_int_equal(one_delivery(sub, &id), i);
        mk_ack(&p, ED_MQTT_PUBACK, id);
        feed(sub, &p);
    }
    size_t len;
    tc_output(sub, &len);
    assert_int_equal(len, 0);
}

/* Appends n records to partition 0 of Kafka topic kt (created with one
 * partition if missing), as a Kafka producer would: keys key, values
 * "0", "1", ..., header unit=rpm; with origin, the MQTT origin header
 * too. */
static void kafka_produce(struct fx *f, const char *kt, const char *key, int n, bool origin)
{
    ed_topic *t = ed_topics_find(f->topics, kt);
    const char *why = NULL;
    if (!t) assert_int_equal(ed_topics_create(f->topics, kt, 1, NULL, NULL, 0, &why, &t), ED_OK);
    ed_partition *part = ed_topic_partition(t, 0);
    ed_batch_builder *bb;
    assert_int_equal(ed_batch_builder_new(1 << 20, &bb), ED_OK);
    assert_int_equal(ed_batch_builder_begin(bb, 0, 1000, -1, -1, -1), ED_OK);
    struct ed_record_header h[2] = {{(const uint8_t *)"unit", 4, (const uint8_t *)"rpm", 3},
                                    {(const uint8_t *)"mqtt.topic", 10, NULL, 0}};
    for (int i = 0; i < n; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        assert_int_equal(
            ed_batch_builder_add(bb, key, strlen(key), v, strlen(v), h, origin ? 2 : 1, -1), ED_OK);
    }
    uint8_t *buf;
    size_t len;
    assert_int_equal(ed_batch_builder_finish(bb, &buf, &len), ED_OK);
    struct ed_append_result res;
    assert_int_equal(ed_log_append(part->log, buf, len, &res), ED_OK);
    ed_topics_appended(f->topics, part);
    ed_batch_builder_free(bb);
}

/* Kafka to MQTT: records others append reach matching subscribers at the
 * subscription's QoS with their headers as user properties; records
 * carrying the MQTT origin header do not; a subscriber that does not read
 * holds only its window and bounded queue, the rest is dropped. */
static void test_kafka_to_mqtt(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "mqtt.publish.routes", "cmd=>site/{key}/cmd");
    set(f, "mqtt.max.queued.messages", "10");
    fx_start(f);
    struct tconn *slow = slow_subscriber(f, "slow", 1, "site/#");
    struct tconn *sub5 = connect_as(f, 5, "screen5");
    struct pk p;
    struct got g[64];
    mk_subscribe(&p, 5, 1, "site/T1/cmd", 0);
    feed(sub5, &p);
    tc_output_clear(sub5);
    kafka_produce(f, "cmd", "T1", 50, false);
    kafka_produce(f, "cmd", "T1", 5, true); /* MQTT's own: not again */
    kafka_produce(f, "other.topic", "x", 3, false);
    pump(f);
    /* the QoS 0 subscriber gets all 50, with the header as user property */
    assert_int_equal(packets(sub5, g, 64), 50);
    struct ed_mqtt_publish pb;
    const char *why;
    assert_int_equal(ed_mqtt_decode_publish(g[7].body, g[7].len, g[7].flags, 5, &pb, &why), ED_OK);
    assert_int_equal(pb.qos, 0);
    assert_memory_equal(pb.topic.p, "site/T1/cmd", 11);
    assert_memory_equal(pb.payload.p, "7", 1);
    static const uint8_t up[] = {0x26, 0, 4, 'u', 'n', 'i', 't', 0, 3, 'r', 'p', 'm'};
    assert_int_equal(pb.props.len, sizeof up);
    assert_memory_equal(pb.props.p, up, sizeof up);
    /* the one that does not read: one in flight, 10 queued, 39 dropped */
    struct ed_mqtt_stats s;
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_dropped, 39);
    ack_numbered(slow, 0, 11);
    settle(f);
    fx_free(f);
}

static void test_receive_maximum_one_gets_all(void **state)
{
    struct fx *f = *state;
    struct tconn *sub = slow_subscriber(f, "slow5", 1, "meter/#");
    struct tconn *pub = connect_as(f, 5, "meter");
    publish_numbered(pub, "meter/kwh", 100);
    settle(f);
    ack_numbered(sub, 0, 100);
    struct ed_mqtt_stats s;
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_dropped, 0);
    assert_int_equal(s.n_delivered, 100);
    settle(f);
}

static void test_subscriber_queue_bounds(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "mqtt.max.queued.messages", "3");
    set(f, "mqtt.max.queued.bytes", "1000");
    fx_start(f);
    lt_capture_logs();
    struct tconn *sub = slow_subscriber(f, "few", 1, "q/#");
    struct tconn *pub = connect_as(f, 5, "pub");
    /* 1 in flight, 3 held, 6 over mqtt.max.queued.messages */
    publish_numbered(pub, "q/a", 10);
    struct ed_mqtt_stats s;
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_dropped, 6);
    assert_true(
        lt_log_contains("dropped 1 delivery to client few at 127.0.0.1:40000: its window of 1 is "
                        "full and 3 deliveries"));
    assert_true(lt_log_contains("mqtt.max.queued.messages 3"));
    ack_numbered(sub, 0, 4);
    /* bytes: one in flight, then 600-byte payloads: one held, the next over 1000 bytes */
    char big[601];
    memset(big, 'x', 600);
    big[600] = '\0';
    struct pk p;
    for (int i = 0; i < 3; i++) {
        mk_publish(&p, 5, 1, false, (uint16_t)(20 + i), "q/b", big, NULL, 0);
        feed(pub, &p);
    }
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_dropped, 7);
    /* closing with a delivery held drops (and counts) it */
    tc_output_clear(sub);
    static const uint8_t disconnect[] = {0xe0, 0};
    assert_int_equal(tc_feed(sub, disconnect, sizeof disconnect), ED_ERR_CLOSED);
    pump(f);
    ed_mqtt_stats_get(f->m, &s);
    assert_int_equal(s.n_dropped, 8);
    /* within the second of the first line: counted, not logged again */
    assert_false(lt_log_contains("closed while they waited for its window"));
    lt_release_logs();
    settle(f);
    fx_free(f);
}

static void test_inflight_backpressure(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "mqtt.max.inflight", "2");
    fx_start(f);
    struct tconn *c = connect_as(f, 4, "burst");
    struct pk all = {.len = 0}, p;
    for (int i = 1; i <= 5; i++) {
        mk_publish(&p, 4, 1, false, (uint16_t)i, "burst", "x", NULL, 0);
        praw(&all, p.b, p.len);
    }
    assert_int_equal(tc_feed(c, all.b, all.len), ED_OK);
    ed_mqtt_flush(f->m);
    ed_log *log = ed_topic_partition(ed_topics_find(f->topics, "burst"), 0)->log;
    assert_int_equal(ed_log_end_offset(log), 2); /* two taken, three wait */
    struct ed_mqtt_stats s;
    ed_mqtt_stats_get(f->m, &s);
    assert_true(s.n_pauses >= 1);
    for (int i = 0; i < 5; i++)
        settle(f);
    assert_int_equal(ed_log_end_offset(log), 5);
    struct got g[8];
    assert_int_equal(packets(c, g, 8), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(g[i].type, ED_MQTT_PUBACK);
        assert_int_equal(ed_get_be16(g[i].body), i + 1); /* in order */
    }
    fx_free(f);
}

/* compression.type=producer, Kafka's default: the batches Eddy builds use
 * eddy.ingest.compression.type (zstd); none keeps them uncompressed. */
static void test_built_batches_compressed_by_default(void **state)
{
    ED_UNUSED(state);
    for (int none = 0; none < 2; none++) {
        struct fx *f = fx_new();
        if (none) set(f, "compression.type", "none");
        fx_start(f);
        struct tconn *c = connect_as(f, 4, "dflt");
        struct pk p;
        for (int i = 0; i < 4; i++) {
            mk_publish(&p, 4, 1, false, (uint16_t)(i + 1), "d/t", "21.5", NULL, 0);
            feed(c, &p);
        }
        settle(f);
        struct ed_log_slice sl;
        ed_log *log = ed_topic_partition(ed_topics_find(f->topics, "d.t"), 0)->log;
        assert_int_equal(ed_log_read(log, 0, 1 << 20, &sl), ED_OK);
        uint8_t *buf = malloc(sl.len);
        assert_int_equal(ed_log_slice_copy(&sl, buf, sl.len), ED_OK);
        struct ed_batch_info bi;
        assert_int_equal(ed_batch_parse_header(buf, sl.len, &bi), ED_OK);
        free(buf);
        ed_log_slice_release(&sl);
        assert_int_equal(ed_batch_compression(&bi),
                         none ? ED_COMPRESSION_NONE : ED_COMPRESSION_ZSTD);
        fx_free(f);
    }
}

static void test_batches_compressed_per_topic(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "compression.type", "zstd");
    fx_start(f);
    struct tconn *c = connect_as(f, 4, "zip");
    /* the twenty arrive in one read, so no clock (a loaded machine's
     * included) can close the batch between them */
    static struct pk all;
    all.len = 0;
    for (int i = 0; i < 20; i++) {
        struct pk p;
        mk_publish(&p, 4, 1, false, (uint16_t)(i + 1), "zip/me", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                   NULL, 0);
        memcpy(all.b + all.len, p.b, p.len);
        all.len += p.len;
    }
    feed(c, &all);
    settle(f);
    ed_log *log = ed_topic_partition(ed_topics_find(f->topics, "zip.me"), 0)->log;
    struct ed_log_slice sl;
    assert_int_equal(ed_log_read(log, 0, 1 << 20, &sl), ED_OK);
    uint8_t *buf = malloc(sl.len);
    assert_int_equal(ed_log_slice_copy(&sl, buf, sl.len), ED_OK);
    struct ed_batch_info bi;
    assert_int_equal(ed_batch_check(buf, sl.len, &bi), ED_OK);
    assert_int_equal(ed_batch_compression(&bi), ED_COMPRESSION_ZSTD);
    assert_int_equal(bi.record_count, 20); /* one batch for the twenty */
    assert_true(ed_batch_total_len(&bi) < 20 * 30);
    free(buf);
    ed_log_slice_release(&sl);
    char keys[32][64], vals[32][64], hdrs[32][64];
    assert_int_equal(read_records(f, "zip.me", 0, keys, vals, hdrs, 32), 20);
    assert_string_equal(vals[19], "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    fx_free(f);
}

static void test_close_with_pending_acks(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 4, "gone");
    struct pk p;
    mk_publish(&p, 4, 1, false, 1, "gone", "x", NULL, 0);
    feed(c, &p);
    ed_mqtt_flush(f->m);
    /* closed while its PUBACK waits for the flush: freed after it */
    assert_int_equal(tc_feed(c, "\xff\x00", 2), ED_ERR_CLOSED);
    pump(f);
    settle(f);
    pump(f);
    ed_log *log = ed_topic_partition(ed_topics_find(f->topics, "gone"), 0)->log;
    assert_int_equal(ed_log_durable_offset(log), 1);
}

/* ======================= adversarial review ======================= */

/* An MQTT 5 CONNECT: connect flags, CONNECT properties, optional will
 * (QoS 1) with will properties. */
static void mk_connect5(struct pk *out, uint8_t flags, const uint8_t *props, size_t props_len,
                        const char *id, const char *will_topic, const char *will_msg)
{
    struct pk b = {.len = 0};
    pstr(&b, "MQTT");
    pu8(&b, 5);
    if (will_topic) flags |= 0x04 | 0x08;
    pu8(&b, flags);
    pu16(&b, 30);
    pu8(&b, (uint8_t)props_len);
    praw(&b, props, props_len);
    pstr(&b, id);
    if (will_topic) {
        pu8(&b, 0);
        pstr(&b, will_topic);
        pstr(&b, will_msg);
    }
    wrap(out, 0x10, &b);
}

/* Whether property id is in a CONNACK body; its number in *num. */
static bool connack_prop(const struct got *g, uint8_t id, uint32_t *num)
{
    uint32_t plen;
    size_t hl;
    uint8_t first;
    /* the property length is a varint at body[2] */
    uint8_t tmp[6] = {0x20, 0, 0, 0, 0, 0};
    memcpy(tmp + 1, g->body + 2, ED_MIN(g->len - 2, 4));
    assert_int_equal(ed_mqtt_fixed_header(tmp, sizeof tmp, &first, &plen, &hl), ED_OK);
    struct ed_mqtt_bytes props = {g->body + 2 + (hl - 1), plen};
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    ed_mqtt_prop_iter_init(&it, props);
    while (ed_mqtt_prop_next(&it, &pr))
        if (pr.id == id) {
            if (num) *num = pr.num;
            return true;
        }
    return false;
}

/* A topic deleted (Kafka DeleteTopics) while MQTT publishes to one of its
 * partitions are still gathering: the gathered batch must not be appended
 * to the freed partition; the waiting publishers get a negative
 * acknowledgement. */
static void test_topic_deleted_while_gathering(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 5, "doomed");
    struct pk p;
    mk_publish(&p, 5, 1, false, 1, "doomed", "x", NULL, 0);
    feed(c, &p);
    /* a 3.1.1 client too, whose will goes to the same topic: it is closed
     * (no negative PUBACK in 3.1.1) and its will must not land in the
     * partition being freed */
    struct tconn *c4;
    c4 = mconn(f);
    mk_connect(&p, 4, "doomed4", 30, "doomed", "will");
    feed(c4, &p);
    mk_publish(&p, 4, 1, false, 1, "doomed", "z", NULL, 0);
    feed(c4, &p);
    ed_topic *t = ed_topics_find(f->topics, "doomed");
    assert_non_null(t);
    lt_capture_logs();
    assert_int_equal(ed_topics_delete(f->topics, t), ED_OK);
    settle(f); /* the linger flush: nothing may touch the deleted partition */
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBACK);
    assert_int_equal(ed_get_be16(g[0].body), 1);
    assert_true(g[0].len >= 3 && g[0].body[2] >= 0x80);
    assert_true(tc_closed(c4));
    lt_release_logs();
    /* the connection goes on: the next publish recreates the topic */
    tc_output_clear(c);
    mk_publish(&p, 5, 1, false, 2, "doomed", "y", NULL, 0);
    feed(c, &p);
    settle(f);
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].len, 2); /* success */
    char keys[4][64], vals[4][64], hdrs[4][64];
    assert_int_equal(read_records(f, "doomed", 0, keys, vals, hdrs, 4), 2);
    assert_string_equal(vals[0], "will");
    assert_string_equal(vals[1], "y");
    pump(f);
}

/* Disk full while a client's further publishes wait unread: the negative
 * PUBACKs reopen reading inside the failure handling; the publishes read
 * then must still be answered (none lost, none stuck). */
static void test_append_failure_then_more_input(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "mqtt.max.inflight", "2");
    ed_config_storage(f->cfg, &f->sc);
    f->sc.use_flusher_thread = false;
    f->sc.disk_budget_len = 1; /* every append: disk budget reached */
    assert_int_equal(ed_plat_loop_new(&f->loop), ED_OK);
    assert_int_equal(ed_storage_open(&f->sc, &f->st), ED_OK);
    assert_int_equal(ed_topics_open_dir(f->st, f->dir, &f->sc.log, &f->topics), ED_OK);
    ed_topics_set_broker_config(f->topics, f->cfg);
    f->b.loop = f->loop;
    f->b.storage = f->st;
    f->b.topics = f->topics;
    f->b.cfg = f->cfg;
    char why[256];
    assert_int_equal(ed_mqtt_new(&f->b, why, sizeof why, &f->m), ED_OK);
    lt_capture_logs();
    struct tconn *c = connect_as(f, 5, "full");
    struct pk all = {.len = 0}, p;
    for (int i = 1; i <= 3; i++) {
        mk_publish(&p, 5, 1, false, (uint16_t)i, "full", "x", NULL, 0);
        praw(&all, p.b, p.len);
    }
    assert_int_equal(tc_feed(c, all.b, all.len), ED_OK); /* the third waits */
    for (int i = 0; i < 4; i++)
        settle(f);
    struct got g[8];
    assert_int_equal(packets(c, g, 8), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(g[i].type, ED_MQTT_PUBACK);
        assert_int_equal(ed_get_be16(g[i].body), i + 1);
        assert_int_equal(g[i].body[2], ED_MQTT_RC_QUOTA_EXCEEDED);
    }
    lt_release_logs();
    fx_free(f);
}

/* MQTT 5: a DISCONNECT with a reason other than 0x00 publishes the will
 * (MQTT-3.1.2-10, 3.14.4: only 0x00 discards it); 0x00 does not. */
static void test_disconnect_reason_and_will(void **state)
{
    struct fx *f = *state;
    struct tconn *watch = connect_as(f, 4, "watch");
    struct pk p;
    mk_subscribe(&p, 4, 1, "w/#", 0);
    feed(watch, &p);
    tc_output_clear(watch);
    static const uint8_t reasons[] = {0x00, 0x04, 0x80, 0x83};
    static const int wills[] = {0, 1, 1, 1};
    for (int i = 0; i < 4; i++) {
        struct tconn *c;
        c = mconn(f);
        mk_connect5(&p, 0x02, NULL, 0, "willing", "w/status", "gone");
        feed(c, &p);
        tc_output_clear(c);
        uint8_t dis[] = {0xe0, 1, reasons[i]};
        assert_int_equal(tc_feed(c, dis, sizeof dis), ED_ERR_CLOSED);
        struct got g[4];
        assert_int_equal(packets(watch, g, 4), wills[i]);
        tc_output_clear(watch);
    }
    pump(f);
}

/* A 3.1.1 CONNECT with clean session 0 (keepalive 60): CONNACK's session
 * present flag. */
static int connect_kept(struct tconn *c)
{
    struct pk p;
    mk_connect(&p, 4, "keeper", 60, NULL, NULL);
    p.b[2 + 6 + 1] = 0; /* connect flags: clean session off */
    feed(c, &p);
    struct got g[4];
    assert_true(packets(c, g, 4) >= 1); /* deliveries may follow at once */
    assert_int_equal(g[0].type, ED_MQTT_CONNACK);
    assert_int_equal(g[0].body[1], 0);
    return g[0].body[0];
}

/* A new persistent 3.1.1 session "keeper" subscribed to filter. */
static struct tconn *kept_subscriber(struct fx *f, const char *filter, int qos)
{
    struct pk p;
    struct tconn *c = mconn(f);
    assert_int_equal(connect_kept(c), 0);
    tc_output_clear(c);
    mk_subscribe(&p, 4, 1, filter, qos);
    feed(c, &p);
    return c;
}

/* A persistent session outlives its connection: subscriptions are kept,
 * what was published meanwhile is delivered from the log when the client
 * comes back, an acknowledged delivery is not delivered again, and a
 * clean session discards it all. */
static void test_persistent_session_from_the_log(void **state)
{
    struct fx *f = *state;
    struct pk p;
    struct got g[8];
    struct tconn *c = kept_subscriber(f, "k/#", 1);
    uint8_t dis[] = {0xe0, 0};
    assert_int_equal(tc_feed(c, dis, sizeof dis), ED_ERR_CLOSED);
    settle(f);
    struct tconn *pub = connect_as(f, 4, "pub");
    mk_publish(&p, 4, 1, false, 7, "k/x", "v1", NULL, 0);
    feed(pub, &p);
    settle(f);
    assert_int_equal(packets(pub, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBACK);
    /* back: session present, the publish comes from the log */
    c = mconn(f);
    assert_int_equal(connect_kept(c), 1);
    settle(f);
    assert_int_equal(packets(c, g, 8), 2); /* CONNACK, PUBLISH */
    assert_int_equal(g[1].type, ED_MQTT_PUBLISH);
    assert_int_equal((g[1].flags >> 1) & 3, 1);
    assert_int_equal(g[1].len, 2 + 3 + 2 + 2);
    assert_memory_equal(g[1].body + 2, "k/x", 3);
    assert_memory_equal(g[1].body + 7, "v1", 2);
    uint8_t ack[] = {0x40, 2, g[1].body[5], g[1].body[6]};
    assert_int_equal(tc_feed(c, ack, sizeof ack), ED_OK);
    tc_output_clear(c);
    /* live: a publish while connected arrives once */
    mk_publish(&p, 4, 1, false, 8, "k/y", "v2", NULL, 0);
    feed(pub, &p);
    settle(f);
    assert_int_equal(packets(c, g, 8), 1);
    assert_memory_equal(g[0].body + 2, "k/y", 3);
    ack[2] = g[0].body[5];
    ack[3] = g[0].body[6];
    assert_int_equal(tc_feed(c, ack, sizeof ack), ED_OK);
    assert_int_equal(tc_feed(c, dis, sizeof dis), ED_ERR_CLOSED);
    settle(f);
    /* acknowledged: nothing again */
    c = mconn(f);
    assert_int_equal(connect_kept(c), 1);
    settle(f);
    assert_int_equal(packets(c, g, 8), 1); /* CONNACK only */
    assert_int_equal(tc_feed(c, dis, sizeof dis), ED_ERR_CLOSED);
    /* a clean session discards it */
    struct tconn *clean = connect_as(f, 4, "keeper");
    assert_int_equal(tc_feed(clean, dis, sizeof dis), ED_ERR_CLOSED);
    c = mconn(f);
    assert_int_equal(connect_kept(c), 0);
    pump(f);
}

/* A share group with a persistent member outlives its connections: what
 * is published while no member is connected reaches the member back; a
 * member leaving with a delivery unacknowledged hands it to another
 * member (DUP set); the end of the last persistent member's session (a
 * clean start, the way an expired session ends too) ends the group, and
 * nothing published afterwards is kept for it. */
static void test_share_group_outlives_connections(void **state)
{
    struct fx *f = *state;
    struct pk p;
    struct got g[8];
    uint8_t dis[] = {0xe0, 0};
    struct tconn *c = kept_subscriber(f, "$share/g/s/t", 1);
    assert_int_equal(tc_feed(c, dis, sizeof dis), ED_ERR_CLOSED);
    settle(f);
    struct tconn *pub = connect_as(f, 4, "pub");
    mk_publish(&p, 4, 1, false, 7, "s/t", "v1", NULL, 0);
    feed(pub, &p);
    settle(f);
    assert_int_equal(packets(pub, g, 8), 1);
    tc_output_clear(pub);
    /* back: the message waited in the group */
    c = mconn(f);
    assert_int_equal(connect_kept(c), 1);
    settle(f);
    assert_int_equal(packets(c, g, 8), 2); /* CONNACK, PUBLISH */
    assert_int_equal(g[1].type, ED_MQTT_PUBLISH);
    assert_int_equal(g[1].flags & 8, 0);
    assert_memory_equal(g[1].body + 7, "v1", 2);
    /* a clean member joins; the persistent one leaves without PUBACK */
    struct tconn *other = connect_as(f, 4, "other");
    mk_subscribe(&p, 4, 1, "$share/g/s/t", 1);
    feed(other, &p);
    settle(f);
    tc_output_clear(other);
    assert_int_equal(tc_feed(c, dis, sizeof dis), ED_ERR_CLOSED);
    settle(f);
    assert_int_equal(packets(other, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBLISH);
    assert_int_equal(g[0].flags & 8, 8); /* DUP: it went out before */
    assert_memory_equal(g[0].body + 7, "v1", 2);
    uint8_t ack[] = {0x40, 2, g[0].body[5], g[0].body[6]};
    assert_int_equal(tc_feed(other, ack, sizeof ack), ED_OK);
    assert_int_equal(tc_feed(other, dis, sizeof dis), ED_ERR_CLOSED);
    settle(f);
    /* the persistent member's session ends: so does the group */
    struct tconn *clean = connect_as(f, 4, "keeper");
    assert_int_equal(tc_feed(clean, dis, sizeof dis), ED_ERR_CLOSED);
    settle(f);
    mk_publish(&p, 4, 1, false, 8, "s/t", "v2", NULL, 0);
    feed(pub, &p);
    settle(f);
    c = kept_subscriber(f, "$share/g/s/t", 1);
    settle(f);
    assert_int_equal(packets(c, g, 8), 1); /* SUBACK: neither v1 nor v2 */
    assert_int_equal(g[0].type, ED_MQTT_SUBACK);
    pump(f);
}

/* A persistent client's QoS 2 publish: PUBREC once the record and then a
 * save of the session holding its packet id are on flash, PUBCOMP once a
 * save without it is, so that a restart never takes a new publish reusing
 * the id for a resend (nor a resend for a new publish). */
static void test_persistent_qos2_waits_for_saves(void **state)
{
    struct fx *f = *state;
    struct pk p;
    struct got g[4];
    struct tconn *c = mconn(f);
    assert_int_equal(connect_kept(c), 0);
    tc_output_clear(c);
    mk_publish(&p, 4, 2, false, 9, "m/q2", "x", NULL, 0);
    feed(c, &p);
    pump(f);
    assert_int_equal(packets(c, g, 4), 0);
    settle(f); /* the record */
    settle(f); /* the save */
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBREC);
    tc_output_clear(c);
    uint8_t rel[] = {0x62, 2, 0, 9};
    assert_int_equal(tc_feed(c, rel, sizeof rel), ED_OK);
    pump(f);
    assert_int_equal(packets(c, g, 4), 0); /* not before the save */
    settle(f);
    settle(f);
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBCOMP);
    pump(f);
}

/* A subscriber's PUBREC whose turn comes after the periodic session save
 * (which waits for no flush) still gets its PUBREL: that save does not
 * stand in for the durable one the PUBREL waits for. */
static void test_persistent_qos2_pubrel_after_periodic_save(void **state)
{
    struct fx *f = *state;
    struct pk p;
    struct got g[4];
    struct tconn *c = kept_subscriber(f, "r/#", 2);
    settle(f);
    tc_output_clear(c);
    struct tconn *pub = connect_as(f, 4, "pub");
    mk_publish(&p, 4, 2, false, 3, "r/x", "v", NULL, 0);
    feed(pub, &p);
    settle(f); /* the record */
    settle(f); /* the save naming the delivery */
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBLISH);
    uint16_t id = (uint16_t)ed_get_be16(g[0].body + 2 + 3);
    tc_output_clear(c);
    /* The PUBREC is written at once and read only once the periodic save,
     * armed by the delivery, is due too: that save runs after the PUBREC
     * and before the turn the PUBREC asked for. */
    mk_ack(&p, ED_MQTT_PUBREC, id);
    struct ed_iovec v = {p.b, p.len};
    size_t k = 0;
    assert_int_equal(ed_plat_stream_writev(c->client, &v, 1, &k), ED_OK);
    assert_int_equal(k, p.len);
    uint64_t until = ed_plat_clock_mono_ms() + 150;
    while (ed_plat_clock_mono_ms() < until)
        ;
    pump(f);
    settle(f);
    settle(f);
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBREL);
    assert_int_equal(ed_get_be16(g[0].body), id);
    pump(f);
}

/* MQTT 5: a Session Expiry Interval within mqtt.session.expiry.max is
 * granted as asked, so CONNACK leaves it out (MQTT 3.2.2.3.2: absent means
 * the client's value is used). */
static void test_session_expiry_in_connack(void **state)
{
    struct fx *f = *state;
    struct tconn *c;
    c = mconn(f);
    static const uint8_t props[] = {0x11, 0, 0, 0x0e, 0x10}; /* 3600 s */
    struct pk p;
    mk_connect5(&p, 0x00, props, sizeof props, "sess", NULL, NULL);
    feed(c, &p);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_CONNACK);
    assert_int_equal(g[0].body[0], 0); /* session present 0: a new one */
    assert_int_equal(g[0].body[1], 0);
    assert_false(connack_prop(&g[0], ED_MQTT_PROP_SESSION_EXPIRY, NULL));
    /* without one (0 = ends with the connection): nothing to correct */
    struct tconn *c2;
    c2 = mconn(f);
    mk_connect5(&p, 0x02, NULL, 0, "sess2", NULL, NULL);
    feed(c2, &p);
    assert_int_equal(packets(c2, g, 4), 1);
    assert_false(connack_prop(&g[0], ED_MQTT_PROP_SESSION_EXPIRY, NULL));
    tc_output_clear(c2);
    /* ... and may not set one in DISCONNECT (MQTT 3.14.2.2.2): 0x82 */
    lt_capture_logs();
    uint8_t dis[] = {0xe0, 7, 0x00, 5, 0x11, 0, 0, 0, 10};
    assert_int_equal(tc_feed(c2, dis, sizeof dis), ED_ERR_CLOSED);
    assert_int_equal(packets(c2, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_DISCONNECT);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_PROTOCOL_ERROR);
    assert_true(lt_log_contains("Session Expiry"));
    lt_release_logs();
    /* the client that asked for one may change it */
    tc_output_clear(c);
    assert_int_equal(tc_feed(c, dis, sizeof dis), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 4), 0);
    pump(f);
}

/* MQTT 5: the server's DISCONNECT respects the client's Maximum Packet
 * Size: the Reason String is left out when it would not fit
 * (MQTT-3.14.2-3). */
static void test_disconnect_fits_client_max_packet(void **state)
{
    struct fx *f = *state;
    struct tconn *c;
    c = mconn(f);
    static const uint8_t props[] = {0x27, 0, 0, 0, 16};
    struct pk p;
    mk_connect5(&p, 0x02, props, sizeof props, "tiny", NULL, NULL);
    feed(c, &p);
    tc_output_clear(c);
    lt_capture_logs();
    mk_publish(&p, 5, 0, false, 0, "a/#", "x", NULL, 0);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    lt_release_logs();
    size_t len;
    tc_output(c, &len);
    assert_true(len > 0 && len <= 16);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_DISCONNECT);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_TOPIC_NAME_INVALID);
    pump(f);
}

/* Packet-level conformance a real client trips on. */
static void test_conformance_edges(void **state)
{
    struct fx *f = *state;
    lt_capture_logs();
    struct pk p, b;
    struct got g[8];
    struct tconn *c;
    /* CONNECT reserved flag bit 0: closed, no CONNACK */
    c = mconn(f);
    mk_connect(&p, 4, "r", 10, NULL, NULL);
    p.b[9] |= 0x01;
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 8), 0);
    /* will QoS without the will flag */
    c = mconn(f);
    mk_connect(&p, 4, "r", 10, NULL, NULL);
    p.b[9] |= 0x08;
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    /* will retain without the will flag */
    c = mconn(f);
    mk_connect(&p, 4, "r", 10, NULL, NULL);
    p.b[9] |= 0x20;
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    /* 3.1.1 password without user name */
    c = mconn(f);
    b.len = 0;
    pstr(&b, "MQTT");
    pu8(&b, 4);
    pu8(&b, 0x42);
    pu16(&b, 10);
    pstr(&b, "pw");
    pstr(&b, "secret");
    wrap(&p, 0x10, &b);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    /* ... allowed in MQTT 5 */
    c = mconn(f);
    b.len = 0;
    pstr(&b, "MQTT");
    pu8(&b, 5);
    pu8(&b, 0x42);
    pu16(&b, 10);
    pu8(&b, 0);
    pstr(&b, "pw5");
    pstr(&b, "secret");
    wrap(&p, 0x10, &b);
    feed(c, &p);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].body[1], 0);
    /* keep-alive 0 is accepted */
    c = mconn(f);
    mk_connect(&p, 4, "ka0", 0, NULL, NULL);
    feed(c, &p);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].body[1], 0);
    /* CONNECT fixed-header flags must be 0 */
    c = mconn(f);
    mk_connect(&p, 4, "fh", 10, NULL, NULL);
    p.b[0] = 0x12;
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    /* client id with U+0000 or a surrogate: closed */
    c = mconn(f);
    mk_connect(&p, 4, "a_b", 10, NULL, NULL);
    p.b[p.len - 2] = 0;
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    c = mconn(f);
    mk_connect(&p, 4, "\xed\xa0\x80", 10, NULL, NULL);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);

    /* SUBSCRIBE with bad filters: one code each, the connection stays */
    c = connect_as(f, 4, "subs4");
    b.len = 0;
    pu16(&b, 9);
    const char *const bad[] = {"a/#/b", "a+", "#a", "a/b#", "ok/+/x"};
    for (int i = 0; i < 5; i++) {
        pstr(&b, bad[i]);
        pu8(&b, 1);
    }
    wrap(&p, 0x82, &b);
    feed(c, &p);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_SUBACK);
    assert_int_equal(g[0].len, 2 + 5);
    assert_memory_equal(g[0].body + 2, "\x80\x80\x80\x80\x01", 5);
    tc_output_clear(c);
    /* an empty filter is malformed: closed */
    b.len = 0;
    pu16(&b, 10);
    pstr(&b, "");
    pu8(&b, 0);
    wrap(&p, 0x82, &b);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    c = connect_as(f, 5, "subs5");
    mk_subscribe(&p, 5, 3, "a/#/b", 1);
    feed(c, &p);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].body[3], ED_MQTT_RC_TOPIC_FILTER_INVALID);
    tc_output_clear(c);
    /* PUBREL for an unknown packet id: PUBCOMP 0x92 (5.0) */
    mk_ack(&p, ED_MQTT_PUBREL, 77);
    feed(c, &p);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBCOMP);
    assert_int_equal(g[0].body[2], ED_MQTT_RC_PACKET_ID_NOT_FOUND);
    tc_output_clear(c);
    /* PUBACK for an unknown id: ignored */
    mk_ack(&p, ED_MQTT_PUBACK, 78);
    feed(c, &p);
    assert_int_equal(packets(c, g, 8), 0);
    /* a topic alias above the Topic Alias Maximum (16): DISCONNECT 0x94 */
    static const uint8_t alias[] = {0x23, 0, 17};
    mk_publish(&p, 5, 0, false, 0, "t", "x", alias, sizeof alias);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_TOPIC_ALIAS_INVALID);
    /* QoS 1 with packet id 0: closed as malformed */
    c = connect_as(f, 5, "pid0");
    mk_publish(&p, 5, 1, false, 0, "t", "x", NULL, 0);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_DISCONNECT);
    /* an empty topic and no Topic Alias: a Protocol Error, 0x82 (MQTT 5.0,
     * 3.3.2.1); 3.1.1 just closes */
    c = connect_as(f, 5, "empty5");
    mk_publish(&p, 5, 0, false, 0, "", "x", NULL, 0);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_DISCONNECT);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_PROTOCOL_ERROR);
    c = connect_as(f, 4, "empty4");
    mk_publish(&p, 4, 0, false, 0, "", "x", NULL, 0);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 8), 0);
    /* a Subscription Identifier of 0: a Protocol Error, 0x82 (3.8.2.1.2) */
    c = connect_as(f, 5, "subid0");
    b.len = 0;
    pu16(&b, 4);
    pu8(&b, 2);
    pu8(&b, ED_MQTT_PROP_SUBSCRIPTION_ID);
    pu8(&b, 0);
    pstr(&b, "s/#");
    pu8(&b, 1);
    wrap(&p, 0x82, &b);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_DISCONNECT);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_PROTOCOL_ERROR);
    /* a second CONNECT: 0x82 */
    c = connect_as(f, 5, "again");
    mk_connect5(&p, 0x02, NULL, 0, "again", NULL, NULL);
    assert_int_equal(tc_feed(c, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(c, g, 8), 1);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_PROTOCOL_ERROR);
    /* AUTH: 0x82 */
    c = connect_as(f, 5, "auth");
    uint8_t auth[] = {0xf0, 0};
    assert_int_equal(tc_feed(c, auth, 2), ED_ERR_CLOSED);
    lt_release_logs();
    pump(f);
}

/* Topic filter matching at the edges (MQTT 4.7). */
static void test_filter_edges(void **state)
{
    ED_UNUSED(state);
#define M(f, t)                                                                                    \
    ed_mqtt_filter_match((const uint8_t *)(f), strlen(f), (const uint8_t *)(t), strlen(t))
    assert_true(M("a/#", "a")); /* '#' includes the parent level */
    assert_true(M("a/#", "a/"));
    assert_false(M("a/+", "a"));
    assert_true(M("a/+", "a/")); /* '+' matches an empty level */
    assert_true(M("+/+", "/"));
    assert_true(M("/+", "/x"));
    assert_false(M("+", "/x"));
    assert_true(M("#", "/"));
    assert_false(M("#", "$SYS/x")); /* '$' topics: not by leading wildcards */
    assert_false(M("+/x", "$SYS/x"));
    assert_true(M("$SYS/#", "$SYS/x"));
    assert_true(M("$SYS/+", "$SYS/x"));
    assert_true(M("x/$y", "x/$y"));
    assert_true(M("+/$y", "x/$y"));
    assert_false(M("a/b", "a/b/"));
    assert_false(M("a/b/", "a/b"));
    assert_false(M("a/+/#", "a"));
    assert_true(M("a/+/#", "a/b"));
#undef M
}

/* Acknowledgements leave in arrival order even when the publishes went to
 * different partitions whose flushes complete in another order. */
static void test_acks_in_order_across_partitions(void **state)
{
    struct fx *f = *state;
    struct tconn *c = connect_as(f, 5, "multi");
    struct pk p;
    const char *topics[] = {"ord/a", "ord/b", "ord/a", "ord/c", "ord/b"};
    for (int i = 0; i < 5; i++) {
        mk_publish(&p, 5, (uint8_t)(i % 2 + 1), false, (uint16_t)(10 + i), topics[i], "v", NULL, 0);
        feed(c, &p);
    }
    settle(f);
    struct got g[8];
    assert_int_equal(packets(c, g, 8), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(g[i].type, i % 2 ? ED_MQTT_PUBREC : ED_MQTT_PUBACK);
        assert_int_equal(ed_get_be16(g[i].body), 10 + i);
    }
}

/* Taken over while QoS 2 publishes of the old connection wait for their
 * flush: the old one is freed only after, the new one starts clean. */
static void test_takeover_with_qos2_pending(void **state)
{
    struct fx *f = *state;
    struct tconn *old = connect_as(f, 5, "twin");
    struct pk p;
    mk_publish(&p, 5, 2, false, 5, "twin/x", "1", NULL, 0);
    feed(old, &p);
    ed_mqtt_flush(f->m); /* appended, waiting for the flush */
    mk_publish(&p, 5, 2, false, 6, "twin/x", "2", NULL, 0);
    feed(old, &p); /* gathering */
    struct tconn *young = connect_as(f, 5, "twin");
    assert_true(tc_closed(old));
    pump(f); /* old still referenced: kept */
    settle(f);
    pump(f);
    size_t len;
    tc_output(young, &len);
    assert_int_equal(len, 0); /* the old one's PUBRECs go nowhere */
    /* the new connection knows nothing of packet id 5 */
    mk_ack(&p, ED_MQTT_PUBREL, 5);
    feed(young, &p);
    struct got g[4];
    assert_int_equal(packets(young, g, 4), 1);
    assert_int_equal(g[0].type, ED_MQTT_PUBCOMP);
    assert_int_equal(g[0].body[2], ED_MQTT_RC_PACKET_ID_NOT_FOUND);
    char keys[4][64], vals[4][64], hdrs[4][64];
    assert_int_equal(read_records(f, "twin.x", 0, keys, vals, hdrs, 4), 2);
}

/* A will that cannot be stored is not dropped silently: one log line. */
static void test_will_too_many_user_properties_logged(void **state)
{
    struct fx *f = *state;
    struct tconn *c;
    c = mconn(f);
    struct pk b = {.len = 0}, p;
    pstr(&b, "MQTT");
    pu8(&b, 5);
    pu8(&b, 0x02 | 0x04);
    pu16(&b, 30);
    pu8(&b, 0);
    pstr(&b, "chatty");
    struct pk wp = {.len = 0};
    for (int i = 0; i < 65; i++) {
        pu8(&wp, 0x26);
        pstr(&wp, "k");
        pstr(&wp, "v");
    }
    b.len += ed_mqtt_varint_put(b.b + b.len, (uint32_t)wp.len);
    praw(&b, wp.b, wp.len);
    pstr(&b, "chatty/status");
    pstr(&b, "gone");
    wrap(&p, 0x10, &b);
    feed(c, &p);
    struct got g[4];
    assert_int_equal(packets(c, g, 4), 1);
    assert_int_equal(g[0].body[1], 0);
    lt_capture_logs();
    assert_int_equal(tc_feed(c, "\xff\x00", 2), ED_ERR_CLOSED);
    assert_true(
        lt_log_contains("will of 127.0.0.1:40000 to 'chatty/status' dropped: more than 64"));
    lt_release_logs();
    pump(f);
}

/* The PUBLISH packets in c's output (cleared): the first byte of each
 * payload into first, its packet id into pids; how many. */
static int share_got(struct tconn *c, uint8_t level, char *first, uint16_t *pids, int max)
{
    struct got g[16];
    int n = packets(c, g, 16), k = 0;
    for (int i = 0; i < n && k < max; i++) {
        struct ed_mqtt_publish pb;
        const char *why;
        assert_int_equal(g[i].type, ED_MQTT_PUBLISH);
        assert_int_equal(ed_mqtt_decode_publish(g[i].body, g[i].len, g[i].flags, level, &pb, &why),
                         ED_OK);
        first[k] = (char)pb.payload.p[0];
        pids[k++] = pb.packet_id;
    }
    tc_output_clear(c);
    return k;
}

/* $share/{ShareName}/{filter}: each message to one member, round-robin;
 * no retained message; QoS 1 deliveries a member had not acknowledged go
 * to another member when it leaves; bad share names get 0x8F, No Local on
 * a shared subscription closes with 0x82. */
static void test_shared_subscriptions(void **state)
{
    struct fx *f = *state;
    struct tconn *a = connect_as(f, 4, "member-a");
    struct tconn *b = connect_as(f, 5, "member-b");
    struct tconn *pub = connect_as(f, 5, "press");
    assert_int_equal(publish_retained(f, pub, 1, "press/cfg", "R"), 0);
    struct pk p;
    struct got g[8];
    mk_subscribe(&p, 4, 1, "$share/line/press/#", 1);
    feed(a, &p);
    assert_int_equal(packets(a, g, 8), 1); /* the SUBACK, no retained message */
    assert_int_equal(g[0].body[2], 1);
    tc_output_clear(a);
    mk_subscribe(&p, 5, 1, "$share/line/press/#", 1);
    feed(b, &p);
    assert_int_equal(packets(b, g, 8), 1);
    assert_int_equal(g[0].body[3], 1);
    tc_output_clear(b);
    const char *msgs = "abcd";
    for (int i = 0; i < 4; i++) {
        char v[2] = {msgs[i], 0};
        mk_publish(&p, 5, 1, false, (uint16_t)(10 + i), "press/t", v, NULL, 0);
        feed(pub, &p);
        settle(f);
    }
    char fa[8], fb[8];
    uint16_t ia[8], ib[8];
    int na = share_got(a, 4, fa, ia, 8), nb = share_got(b, 5, fb, ib, 8);
    assert_int_equal(na, 2);
    assert_int_equal(nb, 2);
    for (int i = 0; i < 4; i++) /* each once */
        assert_true((memchr(fa, msgs[i], 2) != NULL) != (memchr(fb, msgs[i], 2) != NULL));
    for (int i = 0; i < nb; i++) {
        mk_ack(&p, ED_MQTT_PUBACK, ib[i]);
        feed(b, &p);
    }
    /* a acknowledged one of its two, then goes: the other goes to b */
    mk_ack(&p, ED_MQTT_PUBACK, ia[0]);
    feed(a, &p);
    tc_close(a);
    settle(f);
    char fr[8];
    uint16_t ir[8];
    assert_int_equal(share_got(b, 5, fr, ir, 8), 1);
    assert_int_equal(fr[0], fa[1]);
    /* bad share names; No Local */
    static const char *const bad[] = {"$share//x", "$share/+/x", "$share/g", "$share/g/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mk_subscribe(&p, 5, 2, bad[i], 1);
        feed(b, &p);
        assert_int_equal(packets(b, g, 8), 1);
        assert_int_equal(g[0].body[3], ED_MQTT_RC_TOPIC_FILTER_INVALID);
        tc_output_clear(b);
    }
    mk_subscribe(&p, 5, 3, "$share/line/other", 1 | 4);
    assert_int_equal(tc_feed(b, p.b, p.len), ED_ERR_CLOSED);
    assert_int_equal(packets(b, g, 8), 1);
    assert_int_equal(g[0].type, ED_MQTT_DISCONNECT);
    assert_int_equal(g[0].body[0], ED_MQTT_RC_PROTOCOL_ERROR);
}

int main(void)
{
    ed_log_set_level(ED_LOG_LEVEL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint_limits),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_decode_connect),
        cmocka_unit_test(test_protocol_error_or_malformed),
        cmocka_unit_test(test_decode_publish_acks_subscribe),
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_route_templates),
        cmocka_unit_test(test_publish_routes),
        cmocka_unit_test(test_kafka_to_mqtt),
        cmocka_unit_test(test_murmur2),
        cmocka_unit_test_setup_teardown(test_connect_ping_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_qos1_puback_after_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_session_holds_no_ack_ring, setup, teardown),
        cmocka_unit_test(test_full_window_not_gathered),
        cmocka_unit_test_setup_teardown(test_qos2_exactly_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_properties_to_headers, setup, teardown),
        cmocka_unit_test(test_routes_and_partitions),
        cmocka_unit_test(test_publish_errors),
        cmocka_unit_test(test_retained),
        cmocka_unit_test_setup_teardown(test_connections_ask_quickack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quickack_per_unanswered_burst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_read_ends_the_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subscribe_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_will_and_takeover, setup, teardown),
        cmocka_unit_test(test_subscriber_limits),
        cmocka_unit_test(test_inflight_backpressure),
        cmocka_unit_test_setup_teardown(test_receive_maximum_one_gets_all, setup, teardown),
        cmocka_unit_test(test_subscriber_queue_bounds),
        cmocka_unit_test_setup_teardown(test_close_with_pending_acks, setup, teardown),
        cmocka_unit_test(test_built_batches_compressed_by_default),
        cmocka_unit_test(test_batches_compressed_per_topic),
        cmocka_unit_test(test_filter_edges),
        cmocka_unit_test_setup_teardown(test_conformance_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_reason_and_will, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_expiry_in_connack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistent_session_from_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_share_group_outlives_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistent_qos2_waits_for_saves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistent_qos2_pubrel_after_periodic_save, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shared_subscriptions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_fits_client_max_packet, setup, teardown),
        cmocka_unit_test(test_append_failure_then_more_input),
        cmocka_unit_test_setup_teardown(test_topic_deleted_while_gathering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_acks_in_order_across_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_takeover_with_qos2_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_will_too_many_user_properties_logged, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
