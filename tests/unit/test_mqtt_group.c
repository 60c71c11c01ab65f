/* Unit tests of durable MQTT share groups' pure parts (bridge/mqtt_group.h):
 * the position in a partition (acknowledgements out of order, a member
 * leaving with deliveries in flight, retention) and the group record
 * (round trip, truncation at every byte, bad fields, an unknown version,
 * allocation failures). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "bridge/mqtt_group.h"
#include "platform/mem.h"

static const int member_a = 1, member_b = 2;
#define A ((const void *)&member_a)
#define B ((const void *)&member_b)

static void test_acks_out_of_order(void **state)
{
    (void)state;
    struct ed_mqtt_gpos g = {.read = 10};
    assert_true(ed_mqtt_gpos_position(&g) == 10);
    for (int64_t off = 10; off < 14; off++)
        assert_int_equal(ed_mqtt_gpos_sent(&g, off, off % 2 ? B : A, (uint16_t)off), ED_OK);
    ed_mqtt_gpos_skip(&g, 14); /* not the group's */
    assert_true(g.read == 15);
    assert_true(ed_mqtt_gpos_position(&g) == 10);
    ed_mqtt_gpos_done(&g, 2); /* 12 acknowledged first */
    assert_true(ed_mqtt_gpos_position(&g) == 10);
    ed_mqtt_gpos_done(&g, 0); /* 10 */
    assert_true(ed_mqtt_gpos_position(&g) == 11);
    assert_int_equal(g.n_fly, 2);
    assert_true(g.fly[0].offset == 11 && g.fly[1].offset == 13);
    ed_mqtt_gpos_done(&g, 1); /* 13 */
    assert_true(ed_mqtt_gpos_position(&g) == 11);
    ed_mqtt_gpos_done(&g, 0); /* 11: nothing in flight, the position is read */
    assert_true(ed_mqtt_gpos_position(&g) == 15);
    ed_mqtt_gpos_done(&g, 0); /* nothing there: no change */
    assert_int_equal(g.n_fly, 0);
    ed_mqtt_gpos_free(&g);
}

static void test_member_leaves_in_flight(void **state)
{
    (void)state;
    struct ed_mqtt_gpos g = {.read = 0};
    assert_int_equal(ed_mqtt_gpos_sent(&g, 0, A, 1), ED_OK);
    assert_int_equal(ed_mqtt_gpos_sent(&g, 1, B, 1), ED_OK);
    assert_int_equal(ed_mqtt_gpos_sent(&g, 2, A, 2), ED_OK);
    assert_null(ed_mqtt_gpos_orphaned(&g));
    assert_int_equal(ed_mqtt_gpos_orphan(&g, A), 2);
    assert_int_equal(ed_mqtt_gpos_orphan(&g, A), 0);
    assert_true(ed_mqtt_gpos_position(&g) == 0); /* nothing acknowledged moves it */
    struct ed_mqtt_gfly *f = ed_mqtt_gpos_orphaned(&g);
    assert_non_null(f);
    assert_true(f->offset == 0 && f->to == NULL);
    /* sent again to B: the same entry, read does not move back */
    assert_int_equal(ed_mqtt_gpos_sent(&g, 0, B, 7), ED_OK);
    assert_int_equal(g.n_fly, 3);
    assert_true(g.read == 3);
    f = ed_mqtt_gpos_orphaned(&g);
    assert_true(f->offset == 2);
    assert_int_equal(ed_mqtt_gpos_sent(&g, 2, B, 8), ED_OK);
    assert_null(ed_mqtt_gpos_orphaned(&g));
    ed_mqtt_gpos_free(&g);
}

static void test_retention(void **state)
{
    (void)state;
    struct ed_mqtt_gpos g = {.read = 5};
    assert_int_equal(ed_mqtt_gpos_sent(&g, 5, A, 1), ED_OK);
    assert_int_equal(ed_mqtt_gpos_sent(&g, 9, A, 2), ED_OK);
    assert_true(ed_mqtt_gpos_start_at(&g, 3) == 0);
    assert_true(ed_mqtt_gpos_start_at(&g, 7) == 1); /* 5 in flight is gone */
    assert_true(ed_mqtt_gpos_position(&g) == 9);
    assert_true(ed_mqtt_gpos_start_at(&g, 20) == 1 + 10); /* 9, and 10..19 unread */
    assert_true(g.read == 20 && g.n_fly == 0);
    ed_mqtt_gpos_free(&g);
}

static void test_sent_nomem(void **state)
{
    (void)state;
    struct ed_mqtt_gpos g = {.read = 0};
    ed_mem_fail_nth(1);
    assert_int_equal(ed_mqtt_gpos_sent(&g, 0, A, 1), ED_ERR_NOMEM);
    ed_mem_fail_nth(0);
    assert_int_equal(g.n_fly, 0);
    assert_true(g.read == 0); /* nothing changed */
    ed_mqtt_gpos_free(&g);
}

/* ---- the record ---- */

static const struct ed_mqtt_grp_member members[] = {
    {(const uint8_t *)"turbine-7", 9},
    {(const uint8_t *)"x", 1},
};
static const struct ed_mqtt_grp_pos positions[] = {
    {(const uint8_t *)"wind.telemetry", 14, 0, 40, 2, 0},
    {(const uint8_t *)"alarms", 6, 3, 0, 0, 2},
    {(const uint8_t *)"wind.telemetry", 14, 1, 8, 1, 2},
};
static int64_t fly[] = {17, 39, 7};

static struct ed_mqtt_grp_rec sample(void)
{
    struct ed_mqtt_grp_rec r = {0};
    r.n_members = 2;
    r.members = (struct ed_mqtt_grp_member *)members;
    r.n_pos = 3;
    r.pos = (struct ed_mqtt_grp_pos *)positions;
    r.n_fly = 3;
    r.fly = fly;
    return r;
}

static size_t encode_sample(uint8_t *buf, size_t cap)
{
    struct ed_mqtt_grp_rec r = sample();
    size_t n = ed_mqtt_group_encode(&r, buf, cap);
    assert_int_equal(n, ed_mqtt_group_len(&r));
    return n;
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = encode_sample(buf, sizeof buf);
    struct ed_mqtt_grp_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_group_decode(buf, n, &d, &why), ED_OK);
    assert_int_equal(d.n_members, 2);
    assert_int_equal(d.members[0].len, 9);
    assert_memory_equal(d.members[0].id, "turbine-7", 9);
    assert_int_equal(d.n_pos, 3);
    assert_memory_equal(d.pos[1].topic, "alarms", 6);
    assert_int_equal(d.pos[1].partition, 3);
    assert_true(d.pos[0].read == 40);
    assert_int_equal(d.pos[0].n_fly, 2);
    assert_int_equal(d.n_fly, 3);
    assert_true(d.fly[d.pos[0].fly_at] == 17 && d.fly[d.pos[0].fly_at + 1] == 39);
    assert_true(d.fly[d.pos[2].fly_at] == 7);
    uint8_t back[256];
    assert_int_equal(ed_mqtt_group_encode(&d, back, sizeof back), n);
    assert_memory_equal(back, buf, n);
    ed_mqtt_group_free(&d);
    assert_null(d.members);
    /* too small a buffer: nothing */
    struct ed_mqtt_grp_rec r = sample();
    assert_int_equal(ed_mqtt_group_encode(&r, buf, n - 1), 0);
}

static void test_truncated_every_byte(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = encode_sample(buf, sizeof buf);
    for (size_t len = 0; len < n; len++) {
        struct ed_mqtt_grp_rec d;
        const char *why = NULL;
        assert_int_equal(ed_mqtt_group_decode(buf, len, &d, &why), ED_ERR_CORRUPT);
        assert_non_null(why);
        assert_null(d.members);
        assert_null(d.pos);
        assert_null(d.fly);
    }
}

/* The sample with byte at set to v is refused with want. */
static void refused(size_t at, uint8_t v, int want)
{
    uint8_t buf[256];
    size_t n = encode_sample(buf, sizeof buf);
    assert_true(at < n);
    buf[at] = v;
    struct ed_mqtt_grp_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_group_decode(buf, n, &d, &why), want);
    assert_non_null(why);
    assert_null(d.members);
    assert_null(d.pos);
    assert_null(d.fly);
}

static void test_bad_fields(void **state)
{
    (void)state;
    refused(0, 2, ED_ERR_UNSUPPORTED); /* version */
    refused(0, 0, ED_ERR_UNSUPPORTED);
    refused(2, 9, ED_ERR_CORRUPT);                  /* member count: the bytes do not follow */
    refused(4, 0, ED_ERR_CORRUPT);                  /* first member's length 0 ... then garbage */
    refused(5, 0, ED_ERR_CORRUPT);                  /* a NUL in a client id */
    size_t p0 = 1 + 2 + (2 + 9) + (2 + 1);          /* n_pos */
    refused(p0 + 3, 200, ED_ERR_CORRUPT);           /* position count */
    refused(p0 + 4 + 2, '/', ED_ERR_CORRUPT);       /* not a Kafka topic name */
    refused(p0 + 4 + 2 + 14, 0x80, ED_ERR_CORRUPT); /* partition < 0 */
    refused(p0 + 4 + 2 + 14 + 4, 0x80, ED_ERR_CORRUPT); /* read < 0 */
    size_t fly0 = p0 + 4 + 2 + 14 + 4 + 8 + 2;
    refused(fly0 + 7, 40, ED_ERR_CORRUPT);     /* in flight at read */
    refused(fly0 + 8 + 7, 17, ED_ERR_CORRUPT); /* not increasing */
    refused(fly0 - 1, 3, ED_ERR_CORRUPT);      /* fly count off */
    /* a byte after the record */
    uint8_t buf[256];
    size_t n = encode_sample(buf, sizeof buf - 1);
    buf[n] = 0;
    struct ed_mqtt_grp_rec d;
    const char *why = NULL;
    assert_int_equal(ed_mqtt_group_decode(buf, n + 1, &d, &why), ED_ERR_CORRUPT);
    assert_string_equal(why, "bytes after the record");
}

static void test_decode_nomem(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = encode_sample(buf, sizeof buf);
    for (uint64_t k = 1; k <= 3; k++) {
        struct ed_mqtt_grp_rec d;
        const char *why = NULL;
        ed_mem_fail_nth(k);
        int rc = ed_mqtt_group_decode(buf, n, &d, &why);
        ed_mem_fail_nth(0);
        assert_int_equal(rc, ED_ERR_NOMEM);
        assert_string_equal(why, "out of memory");
        assert_null(d.members);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_out_of_order), cmocka_unit_test(test_member_leaves_in_flight),
        cmocka_unit_test(test_retention),         cmocka_unit_test(test_sent_nomem),
        cmocka_unit_test(test_round_trip),        cmocka_unit_test(test_truncated_every_byte),
        cmocka_unit_test(test_bad_fields),        cmocka_unit_test(test_decode_nomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
