/* Unit tests of the persistent MQTT session record (bridge/mqtt_session.h):
 * round trip, truncation at every byte, every checked field refused, an
 * unknown version, trailing bytes, a QoS 1 delivery in flight and
 * allocation failures while decoding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bridge/mqtt_session.h"
#include "platform/mem.h"

static const struct ed_mqtt_sess_sub subs[] = {
    {(const uint8_t *)"plant/+/temp", 12, 1},
    {(const uint8_t *)"alarms/#", 8, 2 | 4 | 8},
};
static const struct ed_mqtt_sess_pos pos[] = {
    {(const uint8_t *)"plant.a.temp", 12, 0, 17},
    {(const uint8_t *)"alarms", 6, 3, 0},
};
static uint16_t in_ids[] = {7, 65535};
static const struct ed_mqtt_sess_out outs[] = {
    {9, ED_MQTT_SESSION_OUT_PUB, 1, 5},
    {10, ED_MQTT_SESSION_OUT_REL, 0, 16},
};

static struct ed_mqtt_sess_rec sample(void)
{
    struct ed_mqtt_sess_rec r = {0};
    r.flags = ED_MQTT_SESSION_CONNECTED;
    r.expiry_s = 604800;
    r.saved_ms = 1796601600000;
    r.next_pid = 11;
    r.n_subs = 2;
    r.subs = (struct ed_mqtt_sess_sub *)subs;
    r.n_pos = 2;
    r.pos = (struct ed_mqtt_sess_pos *)pos;
    r.n_in = 2;
    r.in = in_ids;
    r.n_out = 2;
    r.out = (struct ed_mqtt_sess_out *)outs;
    return r;
}

static size_t encode_sample(uint8_t *buf, size_t cap)
{
    struct ed_mqtt_sess_rec r = sample();
    size_t n = ed_mqtt_session_encode(&r, buf, cap);
    assert_int_equal(n, ed_mqtt_session_len(&r));
    return n;
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = encode_sample(buf, sizeof buf);
    struct ed_mqtt_sess_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_session_decode(buf, n, &d, &why), ED_OK);
    assert_int_equal(d.flags, ED_MQTT_SESSION_CONNECTED);
    assert_int_equal(d.expiry_s, 604800);
    assert_true(d.saved_ms == 1796601600000);
    assert_int_equal(d.next_pid, 11);
    assert_int_equal(d.n_subs, 2);
    assert_int_equal(d.subs[1].len, 8);
    assert_memory_equal(d.subs[1].filter, "alarms/#", 8);
    assert_int_equal(d.subs[1].opts, 14);
    assert_int_equal(d.n_pos, 2);
    assert_memory_equal(d.pos[0].topic, "plant.a.temp", 12);
    assert_int_equal(d.pos[1].partition, 3);
    assert_true(d.pos[0].next == 17);
    assert_int_equal(d.n_in, 2);
    assert_int_equal(d.in[1], 65535);
    assert_int_equal(d.n_out, 2);
    assert_int_equal(d.out[0].packet_id, 9);
    assert_int_equal(d.out[1].state, ED_MQTT_SESSION_OUT_REL);
    assert_int_equal(d.out[0].pos, 1);
    assert_true(d.out[1].offset == 16);
    ed_mqtt_session_free(&d);
    /* an empty session */
    struct ed_mqtt_sess_rec e = {0};
    n = ed_mqtt_session_encode(&e, buf, sizeof buf);
    assert_int_equal(n, 26);
    assert_int_equal(ed_mqtt_session_decode(buf, n, &d, &why), ED_OK);
    assert_int_equal(d.n_subs + d.n_pos + d.n_in + d.n_out, 0);
    ed_mqtt_session_free(&d);
    /* too small a buffer */
    assert_int_equal(encode_sample(buf, sizeof buf) > 0, 1);
    struct ed_mqtt_sess_rec r = sample();
    assert_int_equal(ed_mqtt_session_encode(&r, buf, 20), 0);
}

static void test_truncated_every_byte(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = encode_sample(buf, sizeof buf);
    for (size_t i = 0; i < n; i++) {
        struct ed_mqtt_sess_rec d;
        const char *why = NULL;
        assert_int_equal(ed_mqtt_session_decode(buf, i, &d, &why), ED_ERR_CORRUPT);
        assert_non_null(why);
        assert_null(d.subs);
        assert_null(d.pos);
    }
}

/* Changes byte at to v and expects the decode to refuse it. */
static void refused(size_t at, uint8_t v, int want)
{
    uint8_t buf[512];
    size_t n = encode_sample(buf, sizeof buf);
    buf[at] = v;
    struct ed_mqtt_sess_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_session_decode(buf, n, &d, &why), want);
    assert_non_null(why);
}

static void test_bad_fields(void **state)
{
    (void)state;
    refused(0, 2, ED_ERR_UNSUPPORTED); /* version */
    refused(1, 2, ED_ERR_CORRUPT);     /* unknown flag */
    /* header 16 bytes, n_subs at 16, first sub at 18: opts, len, filter */
    refused(18, 3, ED_ERR_CORRUPT);       /* QoS 3 */
    refused(18, 0x10, ED_ERR_CORRUPT);    /* unknown option bit */
    refused(21 + 5, '#', ED_ERR_CORRUPT); /* "plant#+/temp": not a filter */
    refused(16, 65, ED_ERR_CORRUPT);      /* 65 + 256 subscriptions */
    /* subs end at 18 + 15 + 11 = 44; n_pos at 44, first topic at 50 */
    refused(50, '/', ED_ERR_CORRUPT);  /* not a Kafka topic name */
    refused(62, 0x80, ED_ERR_CORRUPT); /* negative partition */
    refused(66, 0x80, ED_ERR_CORRUPT); /* negative offset */
    /* positions end at 48 + 26 + 20 = 94; n_in at 94, ids at 96, 98 */
    refused(97, 0, ED_ERR_CORRUPT); /* packet id 7 becomes 0 */
    /* n_out at 100, first at 102: id, state, pos, offset */
    refused(104, 0, ED_ERR_CORRUPT);    /* state */
    refused(104, 4, ED_ERR_CORRUPT);    /* state */
    refused(108, 2, ED_ERR_CORRUPT);    /* position index past n_pos */
    refused(109, 0x80, ED_ERR_CORRUPT); /* negative offset */
    /* trailing bytes */
    uint8_t buf[512];
    size_t n = encode_sample(buf, sizeof buf);
    buf[n] = 0;
    struct ed_mqtt_sess_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_session_decode(buf, n + 1, &d, &why), ED_ERR_CORRUPT);
    assert_string_equal(why, "bytes after the record");
    /* a lying count is refused before anything is allocated */
    n = encode_sample(buf, sizeof buf);
    buf[44] = 0x7f;
    ed_mem_fail_nth(2); /* the subscriptions take the first */
    assert_int_equal(ed_mqtt_session_decode(buf, n, &d, &why), ED_ERR_CORRUPT);
    ed_mem_fail_nth(0);
}

/* A QoS 1 delivery in flight (state 3) keeps its packet id and record, so
 * a returning client gets it again with DUP and the same id. */
static void test_qos1_in_flight(void **state)
{
    (void)state;
    static const struct ed_mqtt_sess_out q1[] = {{300, ED_MQTT_SESSION_OUT_ACK, 1, 41}};
    struct ed_mqtt_sess_rec r = sample();
    r.n_out = 1;
    r.out = (struct ed_mqtt_sess_out *)q1;
    uint8_t buf[512];
    size_t n = ed_mqtt_session_encode(&r, buf, sizeof buf);
    assert_int_equal(n, ed_mqtt_session_len(&r));
    assert_int_equal(buf[0], 1); /* still version 1: older records stay readable */
    struct ed_mqtt_sess_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_session_decode(buf, n, &d, &why), ED_OK);
    assert_int_equal(d.n_out, 1);
    assert_int_equal(d.out[0].packet_id, 300);
    assert_int_equal(d.out[0].state, ED_MQTT_SESSION_OUT_ACK);
    assert_int_equal(d.out[0].pos, 1);
    assert_true(d.out[0].offset == 41);
    ed_mqtt_session_free(&d);
}

/* A tail of Subscription Identifiers that are all 0 is never written (the
 * tail is left out then): such bytes are refused, not taken for a record
 * that would encode differently. */
static void test_sub_ids_all_zero_refused(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = encode_sample(buf, sizeof buf);
    memset(buf + n, 0, 8); /* one 0 per subscription */
    struct ed_mqtt_sess_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_session_decode(buf, n + 8, &d, &why), ED_ERR_CORRUPT);
    assert_non_null(why);
    assert_null(d.subs);
    buf[n + 3] = 5; /* the first has one: a record */
    assert_int_equal(ed_mqtt_session_decode(buf, n + 8, &d, &why), ED_OK);
    assert_int_equal(d.subs[0].sub_id, 5);
    ed_mqtt_session_free(&d);
}

static void test_nomem(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t n = encode_sample(buf, sizeof buf);
    for (uint64_t k = 1; k <= 4; k++) {
        struct ed_mqtt_sess_rec d;
        const char *why = NULL;
        ed_mem_fail_nth(k);
        assert_int_equal(ed_mqtt_session_decode(buf, n, &d, &why), ED_ERR_NOMEM);
        ed_mem_fail_nth(0);
        assert_null(d.subs);
        assert_null(d.out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_truncated_every_byte),
        cmocka_unit_test(test_bad_fields), cmocka_unit_test(test_qos1_in_flight),
        cmocka_unit_test(test_nomem),      cmocka_unit_test(test_sub_ids_all_zero_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
