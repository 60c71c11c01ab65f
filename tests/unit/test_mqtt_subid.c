/* Unit tests of MQTT 5 Subscription Identifiers: the identifiers of the
 * matching subscriptions appended to a delivery's properties (on the stack,
 * on the heap when large, none for none), and their place in the
 * persistent session record: an optional tail that records without
 * identifiers leave out (so records written before stay readable), round
 * trip, a tail of the wrong length or an identifier out of range refused,
 * truncation at every byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bridge/mqtt_int.h"
#include "bridge/mqtt_session.h"
#include "platform/mem.h"

static void test_props_appended(void **state)
{
    (void)state;
    struct ed_mqtt_subid_buf b;
    static const uint8_t user[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
    struct ed_mqtt_bytes props = {user, sizeof user};
    /* none: the properties as they are */
    struct ed_mqtt_bytes p = ed_mqtt_subid_props(&b, props, NULL, 0);
    assert_ptr_equal(p.p, user);
    ed_mqtt_subid_done(&b);
    /* two: after the message's own, as varints */
    static const uint32_t ids[] = {7, 268435455};
    p = ed_mqtt_subid_props(&b, props, ids, 2);
    static const uint8_t want[] = {0x26, 0, 1,    'k',  0,    1,    'v',
                                   0x0b, 7, 0x0b, 0xff, 0xff, 0xff, 0x7f};
    assert_int_equal(p.len, sizeof want);
    assert_memory_equal(p.p, want, sizeof want);
    const char *why = NULL;
    /* only a server's PUBLISH carries them: the check of what clients
     * send refuses them */
    assert_int_equal(ed_mqtt_props_check(p, ED_MQTT_PUBLISH, false, &why), ED_ERR_PROTO);
    ed_mqtt_subid_done(&b);
    /* large properties: on the heap, freed by done */
    static uint8_t big[600];
    for (size_t i = 0; i + 7 <= sizeof big; i += 7)
        memcpy(big + i, user, 7);
    props = (struct ed_mqtt_bytes){big, 595};
    p = ed_mqtt_subid_props(&b, props, ids, 1);
    assert_non_null(b.heap);
    assert_int_equal(p.len, 597);
    assert_memory_equal(p.p, big, 595);
    assert_int_equal(p.p[595], 0x0b);
    assert_int_equal(p.p[596], 7);
    ed_mqtt_subid_done(&b);
    assert_null(b.heap);
}

static void test_matching_subscriptions(void **state)
{
    (void)state;
    struct sub subs[3] = {
        {(char *)"plant/+/temp", 12, 1, false, false, 7},
        {(char *)"plant/#", 7, 0, false, false, 0},
        {(char *)"plant/hall2/#", 13, 2, false, false, 9},
    };
    ed_mqtt_conn c;
    memset(&c, 0, sizeof c);
    c.subs = subs;
    c.n_subs = 3;
    uint32_t ids[MAX_SUBS];
    struct ed_mqtt_bytes t = {(const uint8_t *)"plant/hall2/temp", 16};
    assert_int_equal(ed_mqtt_subid_match(&c, t, ids), 2);
    assert_int_equal(ids[0], 7);
    assert_int_equal(ids[1], 9);
    t = (struct ed_mqtt_bytes){(const uint8_t *)"plant/hall3/rpm", 15};
    assert_int_equal(ed_mqtt_subid_match(&c, t, ids), 0);
}

static const struct ed_mqtt_sess_sub subs[] = {
    {(const uint8_t *)"plant/+/temp", 12, 1, 7},
    {(const uint8_t *)"alarms/#", 8, 2, 0},
};

static struct ed_mqtt_sess_rec sample(const struct ed_mqtt_sess_sub *s)
{
    struct ed_mqtt_sess_rec r = {0};
    r.expiry_s = 60;
    r.next_pid = 1;
    r.n_subs = 2;
    r.subs = (struct ed_mqtt_sess_sub *)s;
    return r;
}

static void test_session_record(void **state)
{
    (void)state;
    uint8_t with[256], without[256];
    struct ed_mqtt_sess_rec r = sample(subs);
    size_t n = ed_mqtt_session_encode(&r, with, sizeof with);
    assert_int_equal(n, ed_mqtt_session_len(&r));
    /* the same subscriptions without identifiers: 8 bytes less, no tail */
    struct ed_mqtt_sess_sub plain[2] = {subs[0], subs[1]};
    plain[0].sub_id = 0;
    r = sample(plain);
    size_t m = ed_mqtt_session_encode(&r, without, sizeof without);
    assert_int_equal(m + 8, n);
    assert_memory_equal(with, without, m);
    struct ed_mqtt_sess_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_session_decode(with, n, &d, &why), ED_OK);
    assert_int_equal(d.subs[0].sub_id, 7);
    assert_int_equal(d.subs[1].sub_id, 0);
    ed_mqtt_session_free(&d);
    /* a record without the tail (as version 1 always wrote them) */
    assert_int_equal(ed_mqtt_session_decode(without, m, &d, &why), ED_OK);
    assert_int_equal(d.subs[0].sub_id, 0);
    ed_mqtt_session_free(&d);
    /* a tail of another length, an identifier above 268435455 */
    for (size_t cut = 1; cut < 8; cut++) {
        assert_int_equal(ed_mqtt_session_decode(with, n - cut, &d, &why), ED_ERR_CORRUPT);
        assert_null(d.subs);
    }
    with[n - 8] = 0x10;
    assert_int_equal(ed_mqtt_session_decode(with, n, &d, &why), ED_ERR_CORRUPT);
    assert_string_equal(why, "subscription identifier");
    /* truncated anywhere before the tail: refused */
    for (size_t k = 0; k < m; k++)
        assert_int_not_equal(ed_mqtt_session_decode(with, k, &d, &why), ED_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_props_appended),
        cmocka_unit_test(test_matching_subscriptions),
        cmocka_unit_test(test_session_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
