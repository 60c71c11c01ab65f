/* The dashboard's compiled-in files (bridge/http_assets.c): lookup by plain
 * name only, Accept-Encoding, inflating, and the answers of the real
 * listener over the simulated network: gzip with ETag and 304, inflated
 * bytes for a client without gzip, 404 for unknown names and refusals for
 * every way of spelling a path out of /assets/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge/http.h"
#include "bridge/http_assets.h"
#include "core/config.h"
#include "log_testutil.h"
#include "platform/mem.h"
#include "tbroker.h"
#include "tconn.h"

static void find_plain_names_only(void **state)
{
    (void)state;
    assert_non_null(ed_http_assets_find("index.html"));
    assert_non_null(ed_http_assets_find("app.js"));
    assert_non_null(ed_http_assets_find("app.css"));
    assert_non_null(ed_http_assets_find("uPlot.iife.min.js"));
    assert_non_null(ed_http_assets_find("uPlot.min.css"));
    assert_non_null(ed_http_assets_find("uPlot.LICENSE.txt"));
    static const char *const bad[] = {
        "",        ".",         "..",      "../app.js", "app.js/", "/app.js", "assets/app.js",
        "%2e%2e",  "app.js%00", ".app.js", "app.js ",   "nope.js", "APP.JS",  "..\\app.js",
        "app.js?x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_null(ed_http_assets_find(bad[i]));
    assert_null(ed_http_assets_find(NULL));
    assert_string_equal(ed_http_assets_find("index.html")->ctype, "text/html; charset=utf-8");
    assert_string_equal(ed_http_assets_find("app.js")->ctype, "text/javascript; charset=utf-8");
    assert_string_equal(ed_http_assets_find("app.css")->ctype, "text/css; charset=utf-8");
}

static bool ok(const char *v)
{
    struct ed_http_str s = {v, strlen(v)};
    return ed_http_assets_gzip_ok(&s);
}

static void accept_encoding(void **state)
{
    (void)state;
    assert_false(ed_http_assets_gzip_ok(NULL));
    assert_true(ok("gzip"));
    assert_true(ok("GZip"));
    assert_true(ok("x-gzip"));
    assert_true(ok("gzip, deflate, br, zstd")); /* what browsers send */
    assert_true(ok("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    assert_true(ok("deflate , gzip ; q=0.001"));
    assert_true(ok("*"));
    assert_false(ok(""));
    assert_false(ok(" , ,"));
    assert_false(ok("identity"));
    assert_false(ok("deflate, br"));
    assert_false(ok("gzip;q=0"));
    assert_false(ok("gzip; q=0.000"));
    assert_false(ok("gzip;Q=0."));
    assert_false(ok("*;q=0"));
    assert_false(ok("gzip;q=0, *")); /* gzip refused by name wins */
    assert_false(ok("gzipx"));
    assert_false(ok("gzi"));
}

static void inflate_every_asset(void **state)
{
    (void)state;
    assert_true(ed_http_assets_n >= 6);
    for (int i = 0; i < ed_http_assets_n; i++) {
        const struct ed_http_asset *a = &ed_http_assets[i];
        assert_true(a->gz_len > 18 && a->gz[0] == 0x1f && a->gz[1] == 0x8b);
        assert_true(a->etag[0] == '"' && strlen(a->etag) == 18);
        uint8_t *out = malloc(a->len + 1);
        assert_int_equal(ed_http_assets_inflate(a, out, a->len), ED_OK);
        if (strcmp(a->name, "index.html") == 0) assert_memory_equal(out, "<!doctype html>", 15);
        free(out);
    }
    const struct ed_http_asset *a = ed_http_assets_find("app.js");
    uint8_t small[16];
    assert_int_not_equal(ed_http_assets_inflate(a, small, sizeof small), ED_OK);
}

/* ---- through the listener ---- */

struct fx {
    char *dir;
    struct tbroker t;
    ed_http *h;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    char why[256];
    assert_int_equal(ed_config_new(&f->t.cfg), ED_OK);
    assert_int_equal(ed_config_set(f->t.cfg, "log.dirs", f->dir, why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(f->t.cfg, "log.dir.min.free.bytes", "0", why, sizeof why),
                     ED_OK);
    assert_int_equal(tb_open(&f->t), ED_OK);
    assert_int_equal(ed_http_new(&f->t.b, why, sizeof why, &f->h), ED_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tc_close_all();
    ed_http_free(f->h);
    tb_close(&f->t);
    ed_config_free(f->t.cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void adopt(void *arg, ed_stream *s)
{
    ed_http_adopt(arg, s);
}

struct answer {
    int status;
    char head[2048];
    uint8_t *body;
    size_t body_len;
};

/* Sends one request (its request line gets a Host field) on a new
 * connection and splits the answer. */
static void ask(struct fx *f, const char *req_in, struct answer *a)
{
    char req[512];
    const char *eol = strstr(req_in, "\r\n");
    assert_non_null(eol);
    snprintf(req, sizeof req, "%.*sHost: x\r\n%s", (int)(eol + 2 - req_in), req_in, eol + 2);
    struct tconn *c = tc_open(f->t.loop, adopt, f->h);
    assert_int_equal(tc_feed(c, req, strlen(req)), ED_OK);
    tc_pump(c);
    size_t len;
    const uint8_t *p = tc_output(c, &len);
    const uint8_t *end = NULL;
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
            end = p + i + 4;
            break;
        }
    assert_non_null(end);
    size_t head_len = (size_t)(end - p);
    assert_true(head_len < sizeof a->head);
    memcpy(a->head, p, head_len);
    a->head[head_len] = '\0';
    assert_int_equal(sscanf(a->head, "HTTP/1.1 %d", &a->status), 1);
    a->body_len = len - head_len;
    a->body = malloc(a->body_len + 1);
    memcpy(a->body, end, a->body_len);
    tc_close(c);
}

static void answer_free(struct answer *a)
{
    free(a->body);
    a->body = NULL;
}

static void serves_gzip_with_etag_and_304(void **state)
{
    struct fx *f = *state;
    const struct ed_http_asset *idx = ed_http_assets_find("index.html");
    struct answer a;
    ask(f, "GET / HTTP/1.1\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n", &a);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.head, "Content-Encoding: gzip\r\n"));
    assert_non_null(strstr(a.head, "Content-Type: text/html; charset=utf-8\r\n"));
    assert_non_null(strstr(a.head, "Cache-Control: no-cache\r\n"));
    assert_null(strstr(a.head, "no-store"));
    char etag[64];
    snprintf(etag, sizeof etag, "ETag: %s\r\n", idx->etag);
    assert_non_null(strstr(a.head, etag));
    assert_int_equal(a.body_len, idx->gz_len);
    assert_memory_equal(a.body, idx->gz, idx->gz_len);
    answer_free(&a);

    char req[256];
    snprintf(req, sizeof req,
             "GET /assets/index.html HTTP/1.1\r\nAccept-Encoding: gzip\r\n"
             "If-None-Match: \"other\", %s\r\n\r\n",
             idx->etag);
    ask(f, req, &a);
    assert_int_equal(a.status, 304);
    assert_int_equal(a.body_len, 0);
    assert_non_null(strstr(a.head, etag));
    answer_free(&a);

    ask(f, "HEAD /assets/app.js HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n", &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.body_len, 0);
    assert_non_null(strstr(a.head, "Content-Type: text/javascript; charset=utf-8\r\n"));
    answer_free(&a);
}

static void inflates_for_a_client_without_gzip(void **state)
{
    struct fx *f = *state;
    const struct ed_http_asset *css = ed_http_assets_find("app.css");
    static const char *const reqs[] = {
        "GET /assets/app.css HTTP/1.1\r\n\r\n",
        "GET /assets/app.css HTTP/1.1\r\nAccept-Encoding: identity\r\n\r\n",
        "GET /assets/app.css HTTP/1.1\r\nAccept-Encoding: gzip;q=0, *\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        struct answer a;
        ask(f, reqs[i], &a);
        assert_int_equal(a.status, 200);
        assert_null(strstr(a.head, "Content-Encoding"));
        assert_null(strstr(a.head, "ETag"));
        assert_int_equal(a.body_len, css->len);
        assert_memory_equal(a.body, "/* Eddy's dashboard", 19);
        answer_free(&a);
    }
}

static void refuses_unknown_names_and_traversal(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *path;
        int status;
    } cases[] = {
        {"/assets/nope.js", 404},
        {"/assets/.hidden", 404},
        {"/assets/", 404},
        {"/assets", 404},
        {"/assets/app.js/x", 404},
        {"/assets/../index.html", 400},
        {"/assets/%2e%2e/index.html", 400},
        {"/assets/%2E%2E%2Fbuild%2Feddy", 400},
        {"/assets/..%2f..%2fMakefile", 400},
        {"/assets/app.js%2f..%2f..%2fMakefile", 400},
        {"/assets/x%2Fapp.js", 404},
        {"/assets/%2fetc%2fpasswd", 400},
        {"/assets/..%5capp.js", 404},
        {"/assets/app.js%00.html", 400},
        {"/./assets/app.js", 400},
        {"//assets/app.js", 400},
        {"/index.html", 404},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n",
                 cases[i].path);
        struct answer a;
        ask(f, req, &a);
        bool right = a.status == cases[i].status && !strstr(a.head, "Content-Encoding");
        if (!right) print_error("%s: %d\n", cases[i].path, a.status);
        answer_free(&a);
        assert_true(right);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(find_plain_names_only),
        cmocka_unit_test(accept_encoding),
        cmocka_unit_test(inflate_every_asset),
        cmocka_unit_test_setup_teardown(serves_gzip_with_etag_and_304, setup, teardown),
        cmocka_unit_test_setup_teardown(inflates_for_a_client_without_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_unknown_names_and_traversal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
