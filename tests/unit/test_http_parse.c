/* Unit tests of the HTTP/1.1 request-head parser (bridge/http_parse.c):
 * framing, the rules that keep two readers agreeing on where a request
 * ends, limits, and the path and query helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bridge/http_parse.h"

static int parse(const char *s, struct ed_http_req *r, int *status)
{
    size_t head_len;
    char why[160];
    if (ed_http_head_end((const uint8_t *)s, strlen(s), &head_len) != ED_OK) return ED_ERR_AGAIN;
    return ed_http_parse((const uint8_t *)s, head_len, r, status, why, sizeof why);
}

static void test_request(void **state)
{
    (void)state;
    struct ed_http_req r;
    int st;
    const char *s = "POST /v3/clusters/c/topics/t%2D1/records?a=b+c&x=%41 HTTP/1.1\r\n"
                    "Host: gw\r\nContent-Type: application/json\r\n"
                    "content-length: 12\r\nExpect: 100-continue\r\n\r\n{\"value\":1}x";
    assert_int_equal(parse(s, &r, &st), ED_OK);
    assert_int_equal(r.method, ED_HTTP_POST);
    assert_int_equal(r.minor, 1);
    assert_true(r.keep_alive);
    assert_true(r.expect_continue);
    assert_int_equal(r.body_len, 12);
    assert_int_equal(r.head_len, strlen(s) - 12);
    const struct ed_http_str *ct = ed_http_header_get(&r, "CONTENT-TYPE");
    assert_non_null(ct);
    assert_true(ed_http_str_ieq(*ct, "application/JSON"));
    char v[32];
    assert_int_equal(ed_http_query_get(&r, "a", v, sizeof v), 3);
    assert_string_equal(v, "b c");
    assert_int_equal(ed_http_query_get(&r, "x", v, sizeof v), 1);
    assert_string_equal(v, "A");
    assert_int_equal(ed_http_query_get(&r, "y", v, sizeof v), -1);
    assert_int_equal(ed_http_query_get(&r, "a", v, 3), -2);
    char path[128];
    assert_true(ed_http_decode(r.path, false, path, sizeof path) > 0);
    char *seg[8];
    assert_int_equal(ed_http_path_split(path, seg, 8), 6);
    assert_string_equal(seg[4], "t-1");
    /* HTTP/1.0 closes unless told otherwise; 1.1 keeps unless told */
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &r, &st), ED_OK);
    assert_false(r.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, &st), ED_OK);
    assert_true(r.keep_alive);
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: x, close\r\n\r\n", &r, &st),
                     ED_OK);
    assert_false(r.keep_alive);
    assert_int_equal(parse("GET /healthz HTTP/1.1\r\nHost: a\r\n", &r, &st), ED_ERR_AGAIN);
}

static void expect_refused(const char *s, int status)
{
    struct ed_http_req r;
    int st = 0;
    assert_int_not_equal(parse(s, &r, &st), ED_OK);
    assert_int_equal(st, status);
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("GET / HTTP/1.1\r\n\r\n", 400);                    /* no Host */
    expect_refused("GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400); /* absolute form */
    expect_refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    expect_refused("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    expect_refused("GET / FTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_refused("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_refused("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_refused("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400); /* blank before ':' */
    expect_refused("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400);
    expect_refused("GET / HTTP/1.1\nHost: a\r\n\r\n", 400); /* bare LF */
    expect_refused("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400);
    expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400);
    expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                   400);
    expect_refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999\r\n\r\n", 400);
    expect_refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    char big[64 * 40 + 64];
    size_t w = (size_t)snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < ED_HTTP_MAX_HEADERS; i++)
        w += (size_t)snprintf(big + w, sizeof big - w, "X-%d: y\r\n", i);
    snprintf(big + w, sizeof big - w, "\r\n");
    expect_refused(big, 431);
}

static void test_paths(void **state)
{
    (void)state;
    char *seg[4];
    const char *bad[] = {"/a//b", "/..", "/a/../b", "/./a", "relative"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char p[32];
        strcpy(p, bad[i]);
        assert_int_equal(ed_http_path_split(p, seg, 4), -1);
    }
    char p[32];
    strcpy(p, "/");
    assert_int_equal(ed_http_path_split(p, seg, 4), 0);
    strcpy(p, "/a/b/");
    assert_int_equal(ed_http_path_split(p, seg, 4), 2);
    strcpy(p, "/a/b/c/d/e");
    assert_int_equal(ed_http_path_split(p, seg, 4), -1);
    /* encoded dots become dot segments before the split: refused the same */
    struct ed_http_str s = {"/%2e%2E/etc", 11};
    char out[32];
    assert_int_equal(ed_http_decode(s, false, out, sizeof out), 7);
    assert_int_equal(ed_http_path_split(out, seg, 4), -1);
    struct ed_http_str nul = {"/a%00b", 6}, cut = {"/a%4", 4}, hex = {"/a%zz", 5};
    assert_int_equal(ed_http_decode(nul, false, out, sizeof out), -1);
    assert_int_equal(ed_http_decode(cut, false, out, sizeof out), -1);
    assert_int_equal(ed_http_decode(hex, false, out, sizeof out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
