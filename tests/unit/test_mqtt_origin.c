/* Unit tests of the headers Eddy adds to MQTT messages' records
 * (bridge/mqtt_origin.h): written and read back, the topic in the key,
 * user properties of the same names not taken for Eddy's, records of
 * Kafka producers and of older Eddy, bad values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bridge/mqtt_origin.h"

/* Encodes headers as a Kafka record holds them (zigzag varint lengths, all
 * below 64 here) into buf and points rec at them. */
static void encode(struct ed_record *rec, uint8_t *buf, const struct ed_record_header *h, int n)
{
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        buf[at++] = (uint8_t)(2 * h[i].key_len);
        memcpy(buf + at, h[i].key, (size_t)h[i].key_len);
        at += (size_t)h[i].key_len;
        buf[at++] = (uint8_t)(2 * h[i].value_len);
        if (h[i].value_len) memcpy(buf + at, h[i].value, (size_t)h[i].value_len);
        at += (size_t)h[i].value_len;
    }
    memset(rec, 0, sizeof *rec);
    rec->key = (const uint8_t *)"site/T1/rpm";
    rec->key_len = 11;
    rec->n_headers = n;
    rec->headers = buf;
    rec->headers_len = at;
}

static struct ed_mqtt_bytes bytes(const char *s)
{
    return (struct ed_mqtt_bytes){(const uint8_t *)s, strlen(s)};
}

static struct ed_record_header hdr(const char *k, const char *v)
{
    return (struct ed_record_header){(const uint8_t *)k, (int32_t)strlen(k), (const uint8_t *)v,
                                     (int32_t)strlen(v)};
}

/* Encodes n headers of h, reads them back and checks what they say. */
static void reads_back(const struct ed_record_header *h, int n, const char *topic, uint8_t qos,
                       bool retain, const char *client)
{
    uint8_t buf[256];
    struct ed_record rec;
    struct ed_mqtt_origin o;
    encode(&rec, buf, h, n);
    ed_mqtt_origin_get(&rec, &o);
    assert_true(o.mqtt);
    assert_int_equal(o.topic.len, strlen(topic));
    assert_memory_equal(o.topic.p, topic, strlen(topic));
    assert_int_equal(o.qos, qos);
    assert_int_equal(o.retain, retain);
    assert_int_equal(o.client.len, strlen(client));
    if (*client) assert_memory_equal(o.client.p, client, strlen(client));
}

static void test_round_trip(void **state)
{
    (void)state;
    struct ed_record_header h[ED_MQTT_ORIGIN_N];
    /* everything said */
    int n = ed_mqtt_origin_put(h, bytes("yard/crane"), false, 0, true, bytes("crane-7"));
    assert_int_equal(n, 4);
    reads_back(h, n, "yard/crane", 0, true, "crane-7");
    /* the usual record: topic in the key, QoS 1, 11 bytes of mqtt.qos */
    n = ed_mqtt_origin_put(h, bytes("site/T1/rpm"), true, 1, false, bytes(""));
    assert_int_equal(n, 2);
    assert_int_equal(h[0].value_len, 0);
    assert_int_equal(1 + h[1].key_len + 1 + h[1].value_len, 11);
    reads_back(h, n, "site/T1/rpm", 1, false, "");
}

static void test_user_properties_are_not_eddys(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct ed_record rec;
    struct ed_mqtt_origin o;
    /* a publisher's user properties come first: only what follows the
     * last mqtt.topic counts */
    struct ed_record_header h[] = {hdr("mqtt.client", "victim"), hdr("mqtt.qos", "0"),
                                   hdr("mqtt.retain", "1"), hdr("mqtt.topic", ""),
                                   hdr("mqtt.qos", "1")};
    encode(&rec, buf, h, 5);
    ed_mqtt_origin_get(&rec, &o);
    assert_true(o.mqtt);
    assert_int_equal(o.qos, 1);
    assert_false(o.retain);
    assert_int_equal(o.client.len, 0);
    assert_true(ed_mqtt_origin_is_own((const uint8_t *)"mqtt.client", 11));
    assert_true(ed_mqtt_origin_is_own((const uint8_t *)"mqtt.topic", 10));
    assert_false(ed_mqtt_origin_is_own((const uint8_t *)"mqtt.qo", 7));
    assert_false(ed_mqtt_origin_is_own((const uint8_t *)"unit", 4));
}

static void test_defaults(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct ed_record rec;
    struct ed_mqtt_origin o;
    /* a Kafka producer's record: not MQTT's, whatever headers it has */
    struct ed_record_header k[] = {hdr("mqtt.qos", "0"), hdr("mqtt.client", "x")};
    encode(&rec, buf, k, 2);
    ed_mqtt_origin_get(&rec, &o);
    assert_false(o.mqtt);
    assert_int_equal(o.qos, 2);
    assert_int_equal(o.client.len, 0);
    /* an MQTT record of an older Eddy: no mqtt.qos, counts as QoS 2 */
    struct ed_record_header old[] = {hdr("mqtt.topic", "")};
    encode(&rec, buf, old, 1);
    ed_mqtt_origin_get(&rec, &o);
    assert_true(o.mqtt);
    assert_int_equal(o.qos, 2);
    /* values that are not Eddy's: QoS 2, no RETAIN */
    struct ed_record_header bad[] = {hdr("mqtt.topic", "a/b"), hdr("mqtt.qos", "7"),
                                     hdr("mqtt.retain", "yes")};
    encode(&rec, buf, bad, 3);
    ed_mqtt_origin_get(&rec, &o);
    assert_int_equal(o.qos, 2);
    assert_false(o.retain);
    assert_memory_equal(o.topic.p, "a/b", 3);
    /* no headers at all */
    encode(&rec, buf, NULL, 0);
    ed_mqtt_origin_get(&rec, &o);
    assert_false(o.mqtt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_user_properties_are_not_eddys),
        cmocka_unit_test(test_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
