/* Unit tests of the HTTP API's JSON validator and body reader
 * (bridge/http_json.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bridge/http_json.h"

static bool valid(const char *s)
{
    return ed_http_json_valid(s, strlen(s));
}

static void test_valid(void **state)
{
    (void)state;
    const char *ok[] = {"0",
                        "-1.5e+3",
                        " {\"a\": [1, true, null, \"\\u00e9\\n\"]} ",
                        "\"\xc3\xa9\"",
                        "[]",
                        "{}",
                        "\"\\ud83d\\ude00\""};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(valid(ok[i]));
    const char *bad[] = {
        "",         "01",      "1.",  "+1",  "{a:1}", "[1,]",  "{\"a\"}",          "\"\x01\"",
        "\"\xff\"", "\"\\x\"", "tru", "1 2", "\"abc", "[1] x", "\"\xed\xa0\x80\"", "{\"a\":1,}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(valid(bad[i]));
    char deep[80];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    assert_false(ed_http_json_valid(deep, 80)); /* deeper than 32 */
    assert_true(ed_http_json_valid(deep + 10, 60));
}

static void test_reader(void **state)
{
    (void)state;
    const char *s = "{\"partition_id\": 2, \"value\": {\"type\": \"STRING\", \"data\": "
                    "\"a\\u00e9\\ud83d\\ude00\\n\"}, \"headers\": [{\"name\": \"h\"}, 7]}";
    struct ed_http_json body = {(const uint8_t *)s, strlen(s)}, v = {NULL, 0}, d = {NULL, 0};
    assert_true(ed_http_json_valid(body.p, body.len));
    int64_t n = 0;
    assert_true(ed_http_json_member(body, "partition_id", &v));
    assert_true(ed_http_json_int(v, &n));
    assert_int_equal(n, 2);
    assert_true(ed_http_json_member(body, "value", &v));
    assert_true(ed_http_json_member(v, "data", &d));
    char out[32];
    assert_int_equal(ed_http_json_string(d, out, sizeof out), 8);
    assert_memory_equal(out, "a\xc3\xa9\xf0\x9f\x98\x80\n", 9);
    assert_int_equal(ed_http_json_string(d, out, 5), -1); /* no room */
    assert_false(ed_http_json_member(body, "missing", &v));
    assert_false(ed_http_json_member(body, "partition", &v));
    assert_true(ed_http_json_member(body, "headers", &v));
    assert_true(ed_http_json_item(v, 1, &d));
    assert_true(ed_http_json_int(d, &n));
    assert_int_equal(n, 7);
    assert_false(ed_http_json_item(v, 2, &d));
    assert_false(ed_http_json_item(body, 0, &d)); /* not an array */
    struct ed_http_json nul = {(const uint8_t *)"\"a\\u0000\"", 9};
    assert_int_equal(ed_http_json_string(nul, out, sizeof out), -1);
    struct ed_http_json big = {(const uint8_t *)"12345678901234567890", 20};
    assert_false(ed_http_json_int(big, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
