/* libFuzzer target for the HTTP listener and its request parser:
 * the input is parsed as a request head on its own (bridge/http_parse.h,
 * with the query and path helpers on what it found, and the dashboard's
 * Accept-Encoding reader and asset lookup) and checked as JSON
 * (bridge/http_json.h, which judges record values), then fed to a
 * connection of the real listener over the simulated network
 * (tests/unit/tconn.h), over a real storage and topic registry in a
 * temporary folder. Byte 0 is the chunk size the rest is fed in (0 = all
 * at once). Each run ends with every connection closed. */
#define _GNU_SOURCE /* mkdtemp, in fuzz_broker.h */
#include <string.h>

#include "bridge/http.h"
#include "bridge/http_assets.h"
#include "bridge/http_json.h"
#include "bridge/http_parse.h"
#include "fuzz_broker.h"
#include "tconn.h"

static ed_http *H;

static void init(void)
{
    static const char *const sets[] = {"http.max.header.bytes", "2048", "http.max.body.bytes",
                                       "4096"};
    char why[256];
    if (ed_http_new(fuzz_broker_open("http", sets, 4), why, sizeof why, &H)) abort();
}

static void adopt(void *arg, ed_stream *s)
{
    ed_http_adopt(arg, s);
}

/* The parser alone, and its helpers on what it accepted. */
static void parse_only(const uint8_t *p, size_t n)
{
    size_t head_len;
    if (ed_http_head_end(p, n, &head_len) != ED_OK) return;
    struct ed_http_req r;
    int status;
    char why[160], out[256];
    if (ed_http_parse(p, head_len, &r, &status, why, sizeof why) != ED_OK) {
        if (status < 400 || status > 505) abort();
        return;
    }
    if (r.head_len != head_len || r.target.len == 0 || r.target.p[0] != '/') abort();
    (void)ed_http_header_get(&r, "content-type");
    (void)ed_http_assets_gzip_ok(ed_http_header_get(&r, "accept-encoding"));
    (void)ed_http_query_get(&r, "offset", out, sizeof out);
    char path[1024];
    char *seg[8];
    if (ed_http_decode(r.path, false, path, sizeof path) >= 0) {
        int k = ed_http_path_split(path, seg, 8);
        for (int i = 0; i < k; i++)
            if (!*seg[i] || strcmp(seg[i], "..") == 0 || strcmp(seg[i], ".") == 0) abort();
        /* an asset is found by a plain name only */
        const struct ed_http_asset *a = k > 0 ? ed_http_assets_find(seg[k - 1]) : NULL;
        if (a && (strchr(a->name, '/') || a->name[0] == '.')) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!H) init();
    parse_only(data + 1, size - 1);
    if (ed_http_json_valid(data + 1, size - 1)) {
        /* the reader of request bodies, on what the validator accepted */
        struct ed_http_json v = {data + 1, size - 1}, m = {NULL, 0}, it = {NULL, 0};
        char out[512];
        int64_t n;
        if (ed_http_json_member(v, "value", &m)) (void)ed_http_json_string(m, out, sizeof out);
        if (ed_http_json_item(v, 1, &it)) (void)ed_http_json_int(it, &n);
    }
    struct tconn *c = tc_open(FB.loop, adopt, H);
    size_t chunk = data[0] ? data[0] : size;
    for (size_t pos = 1; pos < size;) {
        size_t n = ED_MIN(chunk, size - pos);
        if (tc_feed(c, data + pos, n) != ED_OK) break;
        pos += n;
        tc_output_clear(c);
    }
    tc_pump(c);
    tc_close_all();
    ed_http_reap(H);
    ed_storage_tick(FB.st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(FB.st);
    return 0;
}
