/* Unit tests of MQTT 5 message expiry (bridge/mqtt_expiry.c): the interval
 * left after a wait (whole seconds, expired at the interval), the property
 * found in a block, lowered in a copy or reported expired, appended for a
 * delivery from the log, and read back from a record's mqtt.expiry header
 * (malformed values refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bridge/mqtt_int.h"
#include "storage/batch.h"

static void test_left(void **state)
{
    (void)state;
    uint32_t left = 0;
    assert_true(ed_mqtt_expiry_left(10, 1000, 1000, &left));
    assert_int_equal(left, 10);
    assert_true(ed_mqtt_expiry_left(10, 1000, 10999, &left));
    assert_int_equal(left, 1);
    /* passed: nothing is left, which is what a delivery already under way
     * carries when it is completed */
    left = 7;
    assert_false(ed_mqtt_expiry_left(10, 1000, 11000, &left));
    assert_int_equal(left, 0);
    left = 7;
    assert_false(ed_mqtt_expiry_left(0, 1000, 1000, &left));
    assert_int_equal(left, 0);
    /* a clock that went back counts as no wait */
    assert_true(ed_mqtt_expiry_left(5, 9000, 1000, &left));
    assert_int_equal(left, 5);
}

static void test_props(void **state)
{
    (void)state;
    /* user property, then Message Expiry Interval 3600, then Content Type */
    static const uint8_t blk[] = {0x26, 0, 1,    'k',  0,    1, 'v', 0x02,
                                  0,    0, 0x0e, 0x10, 0x03, 0, 1,   'j'};
    struct ed_mqtt_bytes props = {blk, sizeof blk};
    uint32_t s = 0;
    assert_true(ed_mqtt_expiry_in_props(props, &s));
    assert_int_equal(s, 3600);
    struct ed_mqtt_subid_buf b;
    /* no wait: as it is */
    assert_int_equal(ed_mqtt_expiry_rewrite(&b, &props, 5000, 5000), 0);
    assert_ptr_equal(props.p, blk);
    /* 61.5 s later: 3539 left, in a copy, the rest unchanged */
    assert_int_equal(ed_mqtt_expiry_rewrite(&b, &props, 5000, 66500), 1);
    assert_ptr_not_equal(props.p, blk);
    assert_int_equal(props.len, sizeof blk);
    assert_true(ed_mqtt_expiry_in_props(props, &s));
    assert_int_equal(s, 3539);
    assert_memory_equal(props.p, blk, 8);
    assert_memory_equal(props.p + 12, blk + 12, 4);
    ed_mqtt_subid_done(&b);
    /* an hour later: expired */
    props = (struct ed_mqtt_bytes){blk, sizeof blk};
    assert_int_equal(ed_mqtt_expiry_rewrite(&b, &props, 5000, 5000 + 3600 * 1000), -1);
    /* none: nothing to do */
    struct ed_mqtt_bytes none = {blk, 7};
    assert_false(ed_mqtt_expiry_in_props(none, &s));
    assert_int_equal(ed_mqtt_expiry_rewrite(&b, &none, 0, 1 << 30), 0);
    /* appended for a delivery from the log */
    struct ed_mqtt_bytes p = ed_mqtt_expiry_append(&b, none, 42);
    assert_int_equal(p.len, 12);
    assert_true(ed_mqtt_expiry_in_props(p, &s));
    assert_int_equal(s, 42);
    const char *why = NULL;
    assert_int_equal(ed_mqtt_props_check(p, ED_MQTT_PUBLISH, false, &why), ED_OK);
    ed_mqtt_subid_done(&b);
}

/* A record whose only header is key = value (Kafka's encoding). */
static struct ed_record with_header(uint8_t *buf, const char *key, const char *value)
{
    size_t n = 0, kl = strlen(key), vl = strlen(value);
    buf[n++] = (uint8_t)(kl * 2);
    memcpy(buf + n, key, kl);
    n += kl;
    buf[n++] = (uint8_t)(vl * 2);
    memcpy(buf + n, value, vl);
    n += vl;
    struct ed_record r;
    memset(&r, 0, sizeof r);
    r.n_headers = 1;
    r.headers = buf;
    r.headers_len = n;
    return r;
}

static void test_record_header(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint32_t s = 0;
    struct ed_record r = with_header(buf, "mqtt.expiry", "3600");
    assert_true(ed_mqtt_expiry_of_record(&r, &s));
    assert_int_equal(s, 3600);
    r = with_header(buf, "mqtt.expiry", "4294967295");
    assert_true(ed_mqtt_expiry_of_record(&r, &s));
    assert_int_equal(s, 4294967295u);
    const char *const bad[] = {"", "-1", "12a", "4294967296", "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = with_header(buf, "mqtt.expiry", bad[i]);
        assert_false(ed_mqtt_expiry_of_record(&r, &s));
    }
    r = with_header(buf, "mqtt.topic", "60");
    assert_false(ed_mqtt_expiry_of_record(&r, &s));
    assert_true(ed_mqtt_expiry_is_header((const uint8_t *)"mqtt.expiry", 11));
    assert_false(ed_mqtt_expiry_is_header((const uint8_t *)"mqtt.expir", 10));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_left),
        cmocka_unit_test(test_props),
        cmocka_unit_test(test_record_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
