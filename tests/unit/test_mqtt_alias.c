/* Unit tests of MQTT 5 topic aliases from a client (bridge/mqtt_alias.h)
 * and of the codec parts they need: the Topic Alias read from a PUBLISH,
 * set and used, replaced, refused (0, above the maximum, never set), the
 * property removed wherever it sits in the block, the table growing only
 * up to the alias used, allocation failures; CONNACK's Topic Alias
 * Maximum and Server Keep Alive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bridge/mqtt_alias.h"
#include "platform/mem.h"

/* A PUBLISH QoS 0 body (MQTT 5) with topic t and property block props. */
struct body {
    uint8_t b[256];
    size_t len;
};

static void mk_body(struct body *o, const char *t, const uint8_t *props, size_t props_len,
                    const char *payload)
{
    size_t tl = strlen(t);
    o->len = 0;
    o->b[o->len++] = (uint8_t)(tl >> 8);
    o->b[o->len++] = (uint8_t)tl;
    memcpy(o->b + o->len, t, tl);
    o->len += tl;
    o->b[o->len++] = (uint8_t)props_len;
    if (props_len) memcpy(o->b + o->len, props, props_len);
    o->len += props_len;
    memcpy(o->b + o->len, payload, strlen(payload));
    o->len += strlen(payload);
}

static void decode(const struct body *o, struct ed_mqtt_publish *pk)
{
    const char *why = NULL;
    assert_int_equal(ed_mqtt_decode_publish(o->b, o->len, 0, 5, pk, &why), ED_OK);
}

/* Resolves body o against *tab (maximum max): the result code. */
static int resolve(ed_mqtt_aliases **tab, uint16_t max, const struct body *o,
                   struct ed_mqtt_publish *pk, uint8_t **scratch)
{
    const char *why = NULL;
    decode(o, pk);
    int rc = ed_mqtt_alias_resolve(tab, max, pk, scratch, &why);
    if (rc != ED_OK) assert_non_null(why);
    return rc;
}

static void assert_topic(const struct ed_mqtt_publish *pk, const char *t)
{
    assert_int_equal(pk->topic.len, strlen(t));
    assert_memory_equal(pk->topic.p, t, strlen(t));
}

static void test_set_use_replace(void **state)
{
    (void)state;
    ed_mqtt_aliases *tab = NULL;
    struct body o;
    struct ed_mqtt_publish pk;
    uint8_t *scratch = NULL;
    static const uint8_t a3[] = {0x23, 0, 3};
    /* no alias: untouched, nothing allocated */
    mk_body(&o, "plain", NULL, 0, "x");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_OK);
    assert_topic(&pk, "plain");
    assert_null(tab);
    /* alias 3 set with a topic, the property removed */
    mk_body(&o, "site/t7/temp", a3, sizeof a3, "21.5");
    decode(&o, &pk);
    assert_true(pk.has_topic_alias);
    assert_int_equal(pk.topic_alias, 3);
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_OK);
    assert_topic(&pk, "site/t7/temp");
    assert_int_equal(pk.props.len, 0);
    assert_null(scratch);
    assert_int_equal(pk.payload.len, 4);
    assert_int_equal(ed_mqtt_alias_count(tab), 1);
    /* alias 3 with an empty topic: the mapped one */
    mk_body(&o, "", a3, sizeof a3, "22.0");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_OK);
    assert_topic(&pk, "site/t7/temp");
    assert_memory_equal(pk.payload.p, "22.0", 4);
    /* replaced by a new topic */
    mk_body(&o, "site/t8/rpm", a3, sizeof a3, "9");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_OK);
    mk_body(&o, "", a3, sizeof a3, "10");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_OK);
    assert_topic(&pk, "site/t8/rpm");
    assert_int_equal(ed_mqtt_alias_count(tab), 1);
    ed_mqtt_alias_free(tab);
}

static void test_refused(void **state)
{
    (void)state;
    ed_mqtt_aliases *tab = NULL;
    struct body o;
    struct ed_mqtt_publish pk;
    uint8_t *scratch = NULL;
    static const uint8_t a0[] = {0x23, 0, 0};
    static const uint8_t a17[] = {0x23, 0, 17};
    static const uint8_t a16[] = {0x23, 0, 16};
    static const uint8_t a1[] = {0x23, 0, 1};
    mk_body(&o, "t", a0, sizeof a0, "x");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_MQTT_RC_TOPIC_ALIAS_INVALID);
    mk_body(&o, "t", a17, sizeof a17, "x");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_MQTT_RC_TOPIC_ALIAS_INVALID);
    mk_body(&o, "t", a1, sizeof a1, "x");
    assert_int_equal(resolve(&tab, 0, &o, &pk, &scratch), ED_MQTT_RC_TOPIC_ALIAS_INVALID);
    assert_null(tab);
    /* an empty topic with an alias never set: protocol error, also when
     * another alias is set */
    mk_body(&o, "", a16, sizeof a16, "x");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_MQTT_RC_PROTOCOL_ERROR);
    mk_body(&o, "t", a1, sizeof a1, "x");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_OK);
    mk_body(&o, "", a16, sizeof a16, "x");
    assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_MQTT_RC_PROTOCOL_ERROR);
    ed_mqtt_alias_free(tab);
}

/* The Topic Alias property leaves the block wherever it is; the other
 * properties stay, in order. */
static void test_property_removed(void **state)
{
    (void)state;
    ed_mqtt_aliases *tab = NULL;
    struct body o;
    struct ed_mqtt_publish pk;
    uint8_t *scratch = NULL;
    /* user property ("k","v"), then Content Type "j" */
    static const uint8_t user[] = {0x26, 0, 1, 'k', 0, 1, 'v'};
    static const uint8_t ctype[] = {0x03, 0, 1, 'j'};
    static const uint8_t alias[] = {0x23, 0, 2};
    uint8_t props[32];
    uint8_t want[32];
    memcpy(want, user, sizeof user);
    memcpy(want + sizeof user, ctype, sizeof ctype);
    size_t want_len = sizeof user + sizeof ctype;
    for (int where = 0; where < 3; where++) {
        size_t n = 0;
        if (where == 0) {
            memcpy(props + n, alias, sizeof alias);
            n += sizeof alias;
        }
        memcpy(props + n, user, sizeof user);
        n += sizeof user;
        if (where == 1) {
            memcpy(props + n, alias, sizeof alias);
            n += sizeof alias;
        }
        memcpy(props + n, ctype, sizeof ctype);
        n += sizeof ctype;
        if (where == 2) {
            memcpy(props + n, alias, sizeof alias);
            n += sizeof alias;
        }
        mk_body(&o, "a/b", props, n, "p");
        assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_OK);
        assert_int_equal(pk.props.len, want_len);
        assert_memory_equal(pk.props.p, want, want_len);
        const char *why = NULL;
        assert_int_equal(ed_mqtt_props_check(pk.props, ED_MQTT_PUBLISH, false, &why), ED_OK);
        if (where == 1)
            assert_non_null(scratch);
        else
            assert_null(scratch);
        ed_free(scratch);
        assert_memory_equal(pk.payload.p, "p", 1);
    }
    ed_mqtt_alias_free(tab);
}

/* The table grows to the alias used, never past the maximum. */
static void test_growth_and_nomem(void **state)
{
    (void)state;
    ed_mqtt_aliases *tab = NULL;
    struct body o;
    struct ed_mqtt_publish pk;
    uint8_t *scratch = NULL;
    static const uint8_t big[] = {0x23, 0xff, 0xff};
    static const uint8_t a5[] = {0x23, 0, 5};
    mk_body(&o, "far", big, sizeof big, "x");
    assert_int_equal(resolve(&tab, 65535, &o, &pk, &scratch), ED_OK);
    mk_body(&o, "near", a5, sizeof a5, "x");
    assert_int_equal(resolve(&tab, 65535, &o, &pk, &scratch), ED_OK);
    mk_body(&o, "", big, sizeof big, "x");
    assert_int_equal(resolve(&tab, 65535, &o, &pk, &scratch), ED_OK);
    assert_topic(&pk, "far");
    assert_int_equal(ed_mqtt_alias_count(tab), 2);
    ed_mqtt_alias_free(tab);
    /* allocation failures: an error, nothing leaks, a later call works */
    static const uint8_t user_mid[] = {0x26, 0, 1, 'k', 0, 1, 'v', 0x23, 0, 5, 0x03, 0, 1, 'j'};
    for (uint64_t k = 1; k <= 4; k++) {
        tab = NULL;
        mk_body(&o, "x/y", user_mid, sizeof user_mid, "x");
        ed_mem_fail_nth(k);
        int rc = resolve(&tab, 16, &o, &pk, &scratch);
        ed_mem_fail_nth(0);
        assert_int_equal(rc, ED_MQTT_RC_UNSPECIFIED);
        assert_int_equal(resolve(&tab, 16, &o, &pk, &scratch), ED_OK);
        ed_free(scratch);
        ed_mqtt_alias_free(tab);
    }
}

/* CONNACK (MQTT 5) carries Topic Alias Maximum and Server Keep Alive when
 * set, neither when not. */
static void test_connack_props(void **state)
{
    (void)state;
    uint8_t b[128];
    struct ed_mqtt_connack_props cp;
    memset(&cp, 0, sizeof cp);
    cp.max_qos = -1;
    cp.topic_alias_max = 16;
    cp.server_keepalive = 30;
    size_t n = ed_mqtt_encode_connack(b, sizeof b, 5, false, 0, &cp);
    assert_true(n > 2);
    struct ed_mqtt_connack ca;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_decode_connack(b + 2, n - 2, 0, 5, &ca, &why), ED_OK);
    assert_int_equal(ca.server_keepalive, 30);
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    uint32_t alias_max = 0;
    ed_mqtt_prop_iter_init(&it, ca.props);
    while (ed_mqtt_prop_next(&it, &pr))
        if (pr.id == ED_MQTT_PROP_TOPIC_ALIAS_MAX) alias_max = pr.num;
    assert_int_equal(alias_max, 16);
    cp.topic_alias_max = 0;
    cp.server_keepalive = 0;
    n = ed_mqtt_encode_connack(b, sizeof b, 5, false, 0, &cp);
    assert_int_equal(ed_mqtt_decode_connack(b + 2, n - 2, 0, 5, &ca, &why), ED_OK);
    assert_int_equal(ca.server_keepalive, 0);
    assert_int_equal(ca.props.len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_use_replace),  cmocka_unit_test(test_refused),
        cmocka_unit_test(test_property_removed), cmocka_unit_test(test_growth_and_nomem),
        cmocka_unit_test(test_connack_props),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
