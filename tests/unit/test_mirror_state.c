/* Unit tests of the parser of mirror.state (the mirror's local marks and,
 * from version 2, the mapping in force after an upstream topic grew):
 * version 1 files still read, version 2 entries whole, anything malformed
 * refused whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/kafka/mirror_int.h"
#include "platform/base.h"
#include "platform/mem.h"
#include "storage/batch.h"

/* The image of a file of version ver holding n entries of topic "grow",
 * partitions 0.., mark 100 * p, map count 1, remap from 600 (version 2). */
static size_t image(uint8_t *b, uint16_t ver, uint32_t n)
{
    size_t o = 18;
    for (uint32_t p = 0; p < n; p++) {
        ed_put_be16(b + o, 4);
        memcpy(b + o + 2, "grow", 4);
        o += 6;
        ed_put_be32(b + o, p);
        ed_put_be64(b + o + 4, 100u * p);
        o += 12;
        if (ver >= 2) {
            ed_put_be32(b + o, 1);
            ed_put_be64(b + o + 4, 600);
            o += 12;
        }
    }
    ed_put_be32(b, STATE_MAGIC);
    ed_put_be16(b + 4, ver);
    ed_put_be32(b + 6, n);
    ed_put_be32(b + 10, ed_crc32c(0, b + 18, o - 18));
    ed_put_be32(b + 14, ed_crc32c(0, b, 14));
    return o;
}

/* Recomputes the CRCs after a test changed a byte of the image. */
static void reseal(uint8_t *b, size_t len)
{
    ed_put_be32(b + 10, ed_crc32c(0, b + 18, len - 18));
    ed_put_be32(b + 14, ed_crc32c(0, b, 14));
}

/* Parses b, which must hold n_want entries. */
static struct ed_mirror_state_entry *parse_ok(const uint8_t *b, size_t len, uint32_t n_want)
{
    struct ed_mirror_state_entry *e = NULL;
    uint32_t n = 0;
    char why[128];
    assert_int_equal(ed_mirror_state_parse(b, len, &e, &n, why, sizeof why), ED_OK);
    assert_int_equal(n, n_want);
    return e;
}

static void test_version_1_still_read(void **state)
{
    (void)state;
    uint8_t b[256];
    struct ed_mirror_state_entry *e = parse_ok(b, image(b, 1, 3), 3);
    assert_string_equal(e[2].topic, "grow");
    assert_int_equal(e[2].partition, 2);
    assert_int_equal(e[2].mark, 200);
    assert_int_equal(e[2].map_n, 0); /* no mapping recorded: taken from the upstream */
    assert_int_equal(e[2].remap_from, -1);
    ed_free(e);
}

static void test_version_2_mapping(void **state)
{
    (void)state;
    uint8_t b[256];
    struct ed_mirror_state_entry *e = parse_ok(b, image(b, 2, 2), 2);
    assert_int_equal(e[1].mark, 100);
    assert_int_equal(e[1].map_n, 1);
    assert_int_equal(e[1].remap_from, 600);
    ed_free(e);
}

static void expect_corrupt(const uint8_t *b, size_t len, const char *want)
{
    struct ed_mirror_state_entry *e = (void *)1;
    uint32_t n = 7;
    char why[128] = "";
    assert_int_equal(ed_mirror_state_parse(b, len, &e, &n, why, sizeof why), ED_ERR_CORRUPT);
    assert_null(e);
    assert_int_equal(n, 0);
    assert_non_null(strstr(why, want));
}

static void test_bad_input_refused_whole(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t len = image(b, 2, 2);
    b[30] ^= 1; /* a flipped bit in the body */
    expect_corrupt(b, len, "body CRC");
    len = image(b, 2, 2);
    expect_corrupt(b, len - 1, "body CRC");
    reseal(b, len - 1); /* truncated, CRCs made right: the last entry runs past the end */
    expect_corrupt(b, len - 1, "past the end");
    len = image(b, 3, 1);
    expect_corrupt(b, len, "unknown version");
    len = image(b, 2, 1);
    ed_put_be32(b + 18 + 6 + 12, 0xffffffffu); /* a negative map count */
    reseal(b, len);
    expect_corrupt(b, len, "mapping");
    len = image(b, 2, 1);
    ed_put_be32(b + 6, 1000000); /* more entries than bytes */
    reseal(b, len);
    expect_corrupt(b, len, "more entries");
    len = image(b, 2, 1);
    b[len] = 0;
    reseal(b, len + 1);
    expect_corrupt(b, len + 1, "after the last entry");
    expect_corrupt(b, 10, "magic");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_1_still_read),
        cmocka_unit_test(test_version_2_mapping),
        cmocka_unit_test(test_bad_input_refused_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
