/* Unit tests of date-time text: RFC 3339 forms with and without fraction
 * and zone parse to the right Unix milliseconds and format back;
 * malformed text is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdint.h>

#include "core/timefmt.h"

static void test_parse_and_format(void **state)
{
    (void)state;
    int64_t ms = -1;
    assert_true(ed_timefmt_parse("2021-02-05T19:14:42Z", &ms));
    assert_int_equal(ms, INT64_C(1612552482000));
    assert_true(ed_timefmt_parse("2021-02-05T19:14:42.5Z", &ms));
    assert_int_equal(ms, INT64_C(1612552482500));
    assert_true(ed_timefmt_parse("2021-02-05T20:14:42.123456+01:00", &ms));
    assert_int_equal(ms, INT64_C(1612552482123));
    assert_true(ed_timefmt_parse("1970-01-01T00:00:00", &ms));
    assert_int_equal(ms, 0);
    assert_true(ed_timefmt_parse("2024-02-29T23:59:59.999-00:30", &ms));
    char out[48];
    ed_timefmt_iso8601(ms, out);
    assert_string_equal(out, "2024-03-01T00:29:59.999Z");
    ed_timefmt_iso8601(INT64_C(1612552482000), out);
    assert_string_equal(out, "2021-02-05T19:14:42.000Z");
    static const char *const bad[] = {"",
                                      "yesterday",
                                      "2021-02-05",
                                      "2021-13-05T00:00:00Z",
                                      "2021-02-05T24:00:00Z",
                                      "2021-02-05T19:14:42.Z",
                                      "2021-02-05T19:14:42Zjunk",
                                      "2021-02-05T19:14:42+0100"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ms = 7;
        assert_false(ed_timefmt_parse(bad[i], &ms));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
