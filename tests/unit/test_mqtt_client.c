/* Unit tests of the MQTT pull bridge and the codec's client side it uses:
 * CONNECT and SUBSCRIBE read back by the server-side decoders, CONNACK and
 * SUBACK made by the server-side encoders read back by the client-side
 * decoders (3.1.1 and 5), the bytes of PINGREQ and DISCONNECT, malformed
 * server packets refused, the mqtt.bridge.<name>.* config keys, and the
 * bridge against a scripted source over the simulated network: PUBACK and
 * PUBREC only once the flush is done, a QoS 2 redelivery not stored twice. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "bridge/mqtt_bridge.h"
#include "bridge/mqtt_codec.h"
#include "core/config.h"
#include "core/topics.h"
#include "log_testutil.h"
#include "platform/memnet.h"
#include "storage/log.h"
#include "tbroker.h"

#include <stdlib.h>

#define BYTES(s) ((struct ed_mqtt_bytes){(const uint8_t *)(s), sizeof(s) - 1})

/* Decodes a whole packet: the first byte and the body after the fixed
 * header. */
static void split(const uint8_t *p, size_t n, uint8_t *first, const uint8_t **body, size_t *len)
{
    uint32_t rem;
    size_t hl;
    assert_int_equal(ed_mqtt_fixed_header(p, n, first, &rem, &hl), ED_OK);
    assert_int_equal(hl + rem, n);
    *body = p + hl;
    *len = rem;
}

static void test_connect_both_levels(void **state)
{
    ED_UNUSED(state);
    for (uint8_t level = 4; level <= 5; level++) {
        struct ed_mqtt_connect_opts o = {.level = level,
                                         .clean = false,
                                         .keepalive_s = 30,
                                         .client_id = BYTES("eddy-site7-plc"),
                                         .has_username = true,
                                         .username = BYTES("bridge"),
                                         .has_password = true,
                                         .password = BYTES("s3cret"),
                                         .session_expiry_s = UINT32_MAX,
                                         .receive_max = 256,
                                         .max_packet_len = 1048576};
        uint8_t b[200];
        size_t n = ed_mqtt_encode_connect(b, sizeof b, &o);
        assert_true(n > 0);
        assert_int_equal(ed_mqtt_encode_connect(b, n - 1, &o), 0); /* does not fit */
        uint8_t first;
        const uint8_t *body;
        size_t len;
        split(b, n, &first, &body, &len);
        assert_int_equal(first, ED_MQTT_CONNECT << 4);
        struct ed_mqtt_connect c;
        const char *why = NULL;
        assert_int_equal(ed_mqtt_decode_connect(body, len, 0, &c, &why), ED_OK);
        assert_int_equal(c.level, level);
        assert_false(c.clean);
        assert_int_equal(c.keepalive_s, 30);
        assert_int_equal(c.client_id.len, 14);
        assert_memory_equal(c.client_id.p, "eddy-site7-plc", 14);
        assert_true(c.has_username && c.has_password);
        assert_memory_equal(c.password.p, "s3cret", 6);
        if (level == 5) {
            assert_int_equal(c.session_expiry_s, UINT32_MAX);
            assert_int_equal(c.receive_max, 256);
            assert_int_equal(c.max_packet_len, 1048576);
        }
    }
    /* the bytes of a minimal 3.1.1 CONNECT with Clean Session 0 */
    struct ed_mqtt_connect_opts o = {.level = 4, .keepalive_s = 60, .client_id = BYTES("a")};
    uint8_t b[64];
    static const uint8_t want[] = {0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 60, 0, 1, 'a'};
    assert_int_equal(ed_mqtt_encode_connect(b, sizeof b, &o), sizeof want);
    assert_memory_equal(b, want, sizeof want);
    o.level = 3;
    assert_int_equal(ed_mqtt_encode_connect(b, sizeof b, &o), 0);
}

static void test_subscribe_ping_disconnect(void **state)
{
    ED_UNUSED(state);
    struct ed_mqtt_bytes f[2] = {BYTES("plant/#"), BYTES("site/+/temp")};
    uint8_t qos[2] = {1, 2};
    for (uint8_t level = 4; level <= 5; level++) {
        uint8_t b[100];
        size_t n = ed_mqtt_encode_subscribe(b, sizeof b, level, 9, f, qos, 2);
        assert_true(n > 0);
        uint8_t first;
        const uint8_t *body;
        size_t len;
        split(b, n, &first, &body, &len);
        assert_int_equal(first, ED_MQTT_SUBSCRIBE << 4 | 2);
        struct ed_mqtt_subscribe s;
        const char *why = NULL;
        assert_int_equal(ed_mqtt_decode_subscribe(ED_MQTT_SUBSCRIBE, body, len, 2, level, &s, &why),
                         ED_OK);
        assert_int_equal(s.packet_id, 9);
        assert_int_equal(s.n, 2);
        struct ed_mqtt_bytes got;
        uint8_t opt;
        assert_int_equal(ed_mqtt_subscribe_next(ED_MQTT_SUBSCRIBE, &s, &got, &opt), 1);
        assert_int_equal(got.len, 7);
        assert_int_equal(opt, 1);
        assert_int_equal(ed_mqtt_subscribe_next(ED_MQTT_SUBSCRIBE, &s, &got, &opt), 1);
        assert_memory_equal(got.p, "site/+/temp", 11);
        assert_int_equal(opt, 2);
    }
    uint8_t b[8];
    assert_int_equal(ed_mqtt_encode_subscribe(b, sizeof b, 4, 0, f, qos, 2), 0); /* id 0 */
    qos[0] = 3;
    assert_int_equal(ed_mqtt_encode_subscribe(b, sizeof b, 4, 1, f, qos, 2), 0);
    assert_int_equal(ed_mqtt_encode_pingreq(b, sizeof b), 2);
    assert_memory_equal(b, "\xc0\x00", 2);
    assert_int_equal(ed_mqtt_encode_client_disconnect(b, sizeof b), 2);
    assert_memory_equal(b, "\xe0\x00", 2);
}

static void test_connack_both_levels(void **state)
{
    ED_UNUSED(state);
    uint8_t b[600];
    struct ed_mqtt_connack ca;
    const char *why = NULL;
    uint8_t first;
    const uint8_t *body;
    size_t len;
    /* 3.1.1: session present; a refusal's return code */
    size_t n = ed_mqtt_encode_connack(b, sizeof b, 4, true, 0, NULL);
    split(b, n, &first, &body, &len);
    assert_int_equal(ed_mqtt_decode_connack(body, len, first & 15, 4, &ca, &why), ED_OK);
    assert_true(ca.session_present);
    assert_int_equal(ca.reason, 0);
    n = ed_mqtt_encode_connack(b, sizeof b, 4, false, ED_MQTT_RC_NOT_AUTHORIZED, NULL);
    split(b, n, &first, &body, &len);
    assert_int_equal(ed_mqtt_decode_connack(body, len, first & 15, 4, &ca, &why), ED_OK);
    assert_int_equal(ca.reason, 5);
    assert_string_equal(ed_mqtt_connack_text(4, ca.reason), "not authorized");
    /* 5: the properties a client reads */
    struct ed_mqtt_connack_props cp = {.receive_max = 20,
                                       .max_packet_len = 5000,
                                       .max_qos = 1,
                                       .server_keepalive = 15,
                                       .assigned_client_id = BYTES("auto-1"),
                                       .reason_string = "fine"};
    n = ed_mqtt_encode_connack(b, sizeof b, 5, true, 0, &cp);
    split(b, n, &first, &body, &len);
    assert_int_equal(ed_mqtt_decode_connack(body, len, first & 15, 5, &ca, &why), ED_OK);
    assert_true(ca.session_present);
    assert_int_equal(ca.receive_max, 20);
    assert_int_equal(ca.max_packet_len, 5000);
    assert_int_equal(ca.max_qos, 1);
    assert_int_equal(ca.server_keepalive, 15);
    assert_int_equal(ca.assigned_client_id.len, 6);
    assert_int_equal(ca.reason_string.len, 4);
    /* defaults when absent */
    n = ed_mqtt_encode_connack(b, sizeof b, 5, false, ED_MQTT_RC_SERVER_BUSY, NULL);
    split(b, n, &first, &body, &len);
    assert_int_equal(ed_mqtt_decode_connack(body, len, first & 15, 5, &ca, &why), ED_OK);
    assert_int_equal(ca.reason, ED_MQTT_RC_SERVER_BUSY);
    assert_int_equal(ca.receive_max, 65535);
    assert_int_equal(ca.max_qos, 2);
    assert_string_equal(ed_mqtt_connack_text(5, ca.reason), "server busy");
}

static void test_connack_malformed(void **state)
{
    ED_UNUSED(state);
    struct ed_mqtt_connack ca;
    const char *why = NULL;
    static const struct {
        const char *p;
        size_t n;
        uint8_t flags, level;
    } bad[] = {
        {"\x00", 1, 0, 4},                                 /* too short */
        {"\x00\x00", 2, 1, 4},                             /* fixed-header flags */
        {"\x02\x00", 2, 0, 4},                             /* reserved acknowledge flags */
        {"\x01\x05", 2, 0, 4},                             /* a refusal with a session present */
        {"\x00\x06", 2, 0, 4},                             /* unknown 3.1.1 return code */
        {"\x00\x00\x00\x00", 4, 0, 4},                     /* bytes left over */
        {"\x00\x00", 2, 0, 5},                             /* no property length */
        {"\x00\x00\x05\x21\x00", 5, 0, 5},                 /* properties run past the packet */
        {"\x00\x00\x03\x21\x00\x00", 6, 0, 5},             /* Receive Maximum 0 */
        {"\x00\x00\x02\x24\x02", 5, 0, 5},                 /* Maximum QoS 2 */
        {"\x00\x00\x02\x23\x00", 5, 0, 5},                 /* Topic Alias: not in CONNACK */
        {"\x00\x00\x04\x21\x00\x01\x21", 7, 0, 5},         /* truncated second property */
        {"\x00\x00\x06\x21\x00\x01\x21\x00\x02", 9, 0, 5}, /* given twice */
    };
    for (size_t i = 0; i < ED_ARRAY_LEN(bad); i++) {
        why = NULL;
        int rc = ed_mqtt_decode_connack((const uint8_t *)bad[i].p, bad[i].n, bad[i].flags,
                                        bad[i].level, &ca, &why);
        /* MQTT 5 Protocol Errors (a value out of range, a property given
         * twice) are told from malformed packets */
        bool proto_error = i == 8 || i == 9 || i == 12;
        assert_int_equal(rc, proto_error ? ED_ERR_INVAL : ED_ERR_PROTO);
        assert_non_null(why);
    }
}

static void test_suback(void **state)
{
    ED_UNUSED(state);
    uint8_t b[64];
    uint8_t codes[3] = {1, 0x80, 2};
    struct ed_mqtt_suback sa;
    const char *why = NULL;
    uint8_t first;
    const uint8_t *body;
    size_t len;
    for (uint8_t level = 4; level <= 5; level++) {
        size_t n = ed_mqtt_encode_suback(b, sizeof b, ED_MQTT_SUBACK, level, 77, codes, 3);
        split(b, n, &first, &body, &len);
        assert_int_equal(ed_mqtt_decode_suback(body, len, first & 15, level, &sa, &why), ED_OK);
        assert_int_equal(sa.packet_id, 77);
        assert_int_equal(sa.n, 3);
        assert_memory_equal(sa.codes, codes, 3);
    }
    assert_int_equal(ed_mqtt_decode_suback((const uint8_t *)"\x00\x01", 2, 0, 4, &sa, &why),
                     ED_ERR_PROTO); /* no codes */
    assert_int_equal(ed_mqtt_decode_suback((const uint8_t *)"\x00\x00\x01", 3, 0, 4, &sa, &why),
                     ED_ERR_PROTO); /* id 0 */
    assert_int_equal(ed_mqtt_decode_suback((const uint8_t *)"\x00\x01\x03", 3, 0, 4, &sa, &why),
                     ED_ERR_PROTO); /* code 3 */
    assert_int_equal(ed_mqtt_decode_suback((const uint8_t *)"\x00\x01\x01", 3, 2, 4, &sa, &why),
                     ED_ERR_PROTO); /* flags */
    assert_int_equal(
        ed_mqtt_decode_suback((const uint8_t *)"\x00\x01\x02\x21\x00\x01", 6, 0, 5, &sa, &why),
        ED_ERR_PROTO); /* Receive Maximum: not in SUBACK */
}

static void test_bridge_config_keys(void **state)
{
    ED_UNUSED(state);
    struct ed_config *c;
    assert_int_equal(ed_config_new(&c), ED_OK);
    char why[300];
    assert_int_equal(
        ed_config_set(c, "mqtt.bridge.site-a.address", "mqtts://gw:8883", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(c, "mqtt.bridge.site-a.topics", "a/#:2", why, sizeof why),
                     ED_OK);
    assert_int_equal(ed_config_set(c, "mqtt.bridge.b2.max.inflight", "100", why, sizeof why),
                     ED_OK);
    assert_int_equal(c->n_bridges, 2);
    assert_string_equal(c->bridges[0].name, "site-a");
    assert_string_equal(ed_config_bridge_str(&c->bridges[0], ED_CONFIG_BRIDGE_TOPICS), "a/#:2");
    assert_int_equal(ed_config_bridge_int(&c->bridges[0], ED_CONFIG_BRIDGE_MAX_INFLIGHT), 256);
    assert_int_equal(ed_config_bridge_int(&c->bridges[1], ED_CONFIG_BRIDGE_MAX_INFLIGHT), 100);
    assert_int_equal(ed_config_bridge_int(&c->bridges[1], ED_CONFIG_BRIDGE_TLS), 0);
    assert_string_equal(ed_config_bridge_str(&c->bridges[1], ED_CONFIG_BRIDGE_PROTOCOL), "3.1.1");
    /* refused, and nothing changed */
    assert_int_equal(ed_config_set(c, "mqtt.bridge.b2.max.inflight", "0", why, sizeof why),
                     ED_ERR_INVAL);
    assert_non_null(strstr(why, "mqtt.bridge.b2.max.inflight"));
    assert_int_equal(ed_config_set(c, "mqtt.bridge.b2.protocol", "4", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_config_set(c, "mqtt.bridge.b2.colour", "red", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_config_set(c, "mqtt.bridge.bad/name.address", "x:1", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_config_set(c, "mqtt.bridge..address", "x:1", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(ed_config_bridge_int(&c->bridges[1], ED_CONFIG_BRIDGE_MAX_INFLIGHT), 100);
    assert_int_equal(c->n_bridges, 2);
    char key[64];
    for (int i = 2; i < ED_CONFIG_MAX_BRIDGES; i++) {
        snprintf(key, sizeof key, "mqtt.bridge.n%d.address", i);
        assert_int_equal(ed_config_set(c, key, "h:1", why, sizeof why), ED_OK);
    }
    assert_int_equal(ed_config_set(c, "mqtt.bridge.one-too-many.address", "h:1", why, sizeof why),
                     ED_ERR_INVAL);
    assert_int_equal(c->n_bridges, ED_CONFIG_MAX_BRIDGES);
    ed_config_free(c);
}

/* ---- the bridge against a scripted source ---- */

struct src {
    struct tbroker tb;
    char *dir;
    ed_mqtt_bridges *br;
    ed_stream *peer; /* the source's end */
    ed_timer t;
    ed_dial_cb cb;
    void *cb_arg;
    uint8_t got[4096]; /* what the bridge sent, not yet looked at */
    size_t got_len;
};

static void dialled(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    struct src *s = arg;
    s->cb(s->cb_arg, ED_OK);
}

static int dial_mem(void *arg, ed_loop *l, const char *host, uint16_t port, ed_dial_cb cb,
                    void *cb_arg, ed_stream **out)
{
    ED_UNUSED(host);
    ED_UNUSED(port);
    struct src *s = arg;
    if (ed_memnet_pair(l, 1u << 16, "source:1883", "eddy:40000", out, &s->peer) != ED_OK)
        return ED_ERR_NOMEM;
    s->cb = cb;
    s->cb_arg = cb_arg;
    ed_plat_timer_start(l, &s->t, 0, dialled, s);
    return ED_OK;
}

static void pump(struct src *s)
{
    for (int i = 0; i < 6; i++)
        ed_plat_loop_run_once(s->tb.loop, 0);
    size_t n = 0;
    while (s->peer && ed_memnet_pending(s->peer) && s->got_len < sizeof s->got &&
           ed_plat_stream_read(s->peer, s->got + s->got_len, sizeof s->got - s->got_len, &n) ==
               ED_OK)
        s->got_len += n;
}

static void say(struct src *s, const void *p, size_t n)
{
    struct ed_iovec v = {(void *)(uintptr_t)p, n};
    size_t k = 0;
    assert_int_equal(ed_plat_stream_writev(s->peer, &v, 1, &k), ED_OK);
    assert_int_equal(k, n);
    pump(s);
}

/* The next packet the bridge sent: its first byte, and its body copied
 * into body (the rest stays). -1 when there is none. */
static int next_packet(struct src *s, uint8_t *body, size_t *len)
{
    uint8_t first;
    uint32_t rem;
    size_t hl;
    if (ed_mqtt_fixed_header(s->got, s->got_len, &first, &rem, &hl) != ED_OK ||
        hl + rem > s->got_len)
        return -1;
    memcpy(body, s->got + hl, rem);
    *len = rem;
    memmove(s->got, s->got + hl + rem, s->got_len - hl - rem);
    s->got_len -= hl + rem;
    return first;
}

static void sync_disk(struct src *s)
{
    ed_mqtt_bridge_flush(s->br);
    for (int i = 0; i < 3; i++) {
        tb_sync(&s->tb);
        pump(s);
    }
}

/* A bridge connected and subscribed to "plant/#" at QoS 2 (3.1.1). */
static int src_setup(void **state)
{
    struct src *s = calloc(1, sizeof *s);
    s->dir = lt_tmpdir();
    assert_int_equal(ed_config_new(&s->tb.cfg), ED_OK);
    char why[256];
    const char *sets[][2] = {{"log.dirs", s->dir},
                             {"log.dir.min.free.bytes", "0"},
                             {"eddy.flush.gather.ms", "0"},
                             {"mqtt.bridge.t.address", "source:1883"},
                             {"mqtt.bridge.t.topics", "plant/#:2"}};
    for (size_t i = 0; i < ED_ARRAY_LEN(sets); i++)
        assert_int_equal(ed_config_set(s->tb.cfg, sets[i][0], sets[i][1], why, sizeof why), ED_OK);
    assert_int_equal(tb_open(&s->tb), ED_OK);
    assert_int_equal(ed_mqtt_bridge_new(&s->tb.b, dial_mem, s, &s->br, why, sizeof why), ED_OK);
    pump(s);
    uint8_t body[512];
    size_t len;
    assert_int_equal(next_packet(s, body, &len), ED_MQTT_CONNECT << 4);
    say(s, "\x20\x02\x00\x00", 4);
    assert_int_equal(next_packet(s, body, &len), ED_MQTT_SUBSCRIBE << 4 | 2);
    say(s, "\x90\x03\x00\x01\x02", 5);
    *state = s;
    return 0;
}

static int src_teardown(void **state)
{
    struct src *s = *state;
    ed_mqtt_bridge_free(s->br);
    ed_plat_timer_stop(s->tb.loop, &s->t);
    ed_plat_stream_close(s->peer);
    tb_close(&s->tb);
    ed_config_free(s->tb.cfg);
    lt_rmtree(s->dir);
    free(s->dir);
    free(s);
    return 0;
}

static int64_t end_offset(struct src *s, const char *topic)
{
    ed_topic *t = ed_topics_find(s->tb.topics, topic);
    return t ? ed_log_end_offset(ed_topic_partition(t, 0)->log) : 0;
}

static void test_bridge_acks_once_durable(void **state)
{
    struct src *s = *state;
    /* two QoS 1 publishes (ids 5, 6): no PUBACK until the flush */
    static const uint8_t pub[] = {0x32, 12, 0, 7, 'p', 'l', 'a', 'n', 't', '/', 'a', 0, 5, 'x'};
    say(s, pub, sizeof pub);
    uint8_t two[sizeof pub];
    memcpy(two, pub, sizeof pub);
    two[12] = 6;
    say(s, two, sizeof two);
    uint8_t body[64];
    size_t len;
    assert_int_equal(next_packet(s, body, &len), -1);
    sync_disk(s);
    assert_int_equal(end_offset(s, "plant.a"), 2);
    assert_int_equal(next_packet(s, body, &len), ED_MQTT_PUBACK << 4);
    assert_memory_equal(body, "\x00\x05", 2);
    assert_int_equal(next_packet(s, body, &len), ED_MQTT_PUBACK << 4);
    assert_memory_equal(body, "\x00\x06", 2);
    struct ed_mqtt_bridge_status st;
    ed_mqtt_bridge_status_get(s->br, 0, &st);
    assert_true(st.connected);
    assert_int_equal(st.n_in, 2);
    assert_int_equal(st.in_flight, 0);
}

static void test_bridge_qos2_redelivery_stored_once(void **state)
{
    struct src *s = *state;
    static const uint8_t pub[] = {0x34, 12, 0, 7, 'p', 'l', 'a', 'n', 't', '/', 'b', 0, 9, 'y'};
    uint8_t dup[sizeof pub];
    memcpy(dup, pub, sizeof pub);
    dup[0] |= 8;
    say(s, pub, sizeof pub);
    say(s, dup, sizeof dup); /* before the PUBREC */
    uint8_t body[64];
    size_t len;
    assert_int_equal(next_packet(s, body, &len), -1);
    sync_disk(s);
    assert_int_equal(next_packet(s, body, &len), ED_MQTT_PUBREC << 4);
    assert_int_equal(next_packet(s, body, &len), -1); /* one PUBREC for both */
    say(s, dup, sizeof dup);                          /* after it */
    assert_int_equal(next_packet(s, body, &len), ED_MQTT_PUBREC << 4);
    say(s, "\x62\x02\x00\x09", 4);
    assert_int_equal(next_packet(s, body, &len), ED_MQTT_PUBCOMP << 4);
    sync_disk(s);
    assert_int_equal(end_offset(s, "plant.b"), 1);
    struct ed_mqtt_bridge_status st;
    ed_mqtt_bridge_status_get(s->br, 0, &st);
    assert_int_equal(st.n_dup, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_both_levels),
        cmocka_unit_test(test_subscribe_ping_disconnect),
        cmocka_unit_test(test_connack_both_levels),
        cmocka_unit_test(test_connack_malformed),
        cmocka_unit_test(test_suback),
        cmocka_unit_test(test_bridge_config_keys),
        cmocka_unit_test_setup_teardown(test_bridge_acks_once_durable, src_setup, src_teardown),
        cmocka_unit_test_setup_teardown(test_bridge_qos2_redelivery_stored_once, src_setup,
                                        src_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
