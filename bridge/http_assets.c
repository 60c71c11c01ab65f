/* Serves the dashboard's files compiled into the binary (http_assets.h):
 * GET / answers index.html, GET /assets/{name} any other file, each with
 * its content type, a strong ETag (If-None-Match answers 304) and
 * Cache-Control: no-cache, so a browser keeps its copy and asks again
 * cheaply. The bytes go out gzip-compressed as built (Content-Encoding:
 * gzip) to a client whose Accept-Encoding takes gzip, inflated for one
 * that does not, and 406 where the build has no gzip. Only plain file
 * names are looked up: no path ever reaches a file system. */
#define ED_LOG_MODULE "http"
#include "bridge/http_assets.h"
#include "bridge/http_int.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/codec.h"

#include <stdio.h>
#include <string.h>

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
}

const struct ed_http_asset *ed_http_assets_find(const char *name)
{
    if (!name || !name[0] || name[0] == '.') return NULL;
    for (const char *p = name; *p; p++)
        if (!name_char(*p)) return NULL;
    for (int i = 0; i < ed_http_assets_n; i++)
        if (strcmp(ed_http_assets[i].name, name) == 0) return &ed_http_assets[i];
    return NULL;
}

static bool blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Trims blanks around p[*s..*e). */
static void trim(const char *p, size_t *s, size_t *e)
{
    while (*s < *e && blank(p[*s]))
        (*s)++;
    while (*e > *s && blank(p[*e - 1]))
        (*e)--;
}

/* Whether a q-value is 0 ("0", "0.", "0.000"); anything else counts as
 * above 0. */
static bool q_zero(const char *p, size_t n)
{
    if (n == 0 || p[0] != '0') return false;
    for (size_t i = 1; i < n; i++)
        if (p[i] != '.' && p[i] != '0') return false;
    return true;
}

/* One element of the list, p[s..e): coding *(";" parameter). Sets *gzip
 * or *star to 1 (accepted) or 0 (refused with q=0). */
static void coding(const char *p, size_t s, size_t e, int *gzip, int *star)
{
    size_t t = s;
    while (t < e && p[t] != ';')
        t++;
    size_t ts = s, te = t;
    trim(p, &ts, &te);
    bool zero = false;
    while (t < e) { /* p[t] == ';' */
        size_t ps = t + 1, pe = ps;
        while (pe < e && p[pe] != ';')
            pe++;
        t = pe;
        trim(p, &ps, &pe);
        if (pe - ps >= 2 && (p[ps] == 'q' || p[ps] == 'Q') && p[ps + 1] == '=') {
            ps += 2;
            trim(p, &ps, &pe);
            zero = q_zero(p + ps, pe - ps);
        }
    }
    struct ed_http_str tok = {p + ts, te - ts};
    if (ed_http_str_ieq(tok, "gzip") || ed_http_str_ieq(tok, "x-gzip"))
        *gzip = !zero;
    else if (ed_http_str_ieq(tok, "*"))
        *star = !zero;
}

bool ed_http_assets_gzip_ok(const struct ed_http_str *accept)
{
    if (!accept) return false;
    int gzip = -1, star = -1; /* -1: not listed */
    size_t s = 0;
    while (s < accept->len) {
        size_t e = s;
        while (e < accept->len && accept->p[e] != ',')
            e++;
        coding(accept->p, s, e, &gzip, &star);
        s = e + 1;
    }
    return gzip == 1 || (gzip == -1 && star == 1);
}

int ed_http_assets_inflate(const struct ed_http_asset *a, uint8_t *out, size_t cap)
{
    if (!ed_codec_supported(ED_COMPRESSION_GZIP, false)) return ED_ERR_UNSUPPORTED;
    struct ed_codec codec = {0};
    size_t got = 0;
    int rc = ed_codec_decompress(&codec, ED_COMPRESSION_GZIP, a->gz, a->gz_len, out, cap, &got);
    ed_codec_release(&codec);
    if (rc == ED_OK && got != a->len) rc = ED_ERR_CORRUPT;
    return rc;
}

/* Whether an If-None-Match value names etag (or is "*"). */
static bool etag_matches(const struct ed_http_str *inm, const char *etag)
{
    size_t n = strlen(etag);
    if (!inm) return false;
    if (inm->len == 1 && inm->p[0] == '*') return true;
    for (size_t i = 0; i + n <= inm->len; i++)
        if (memcmp(inm->p + i, etag, n) == 0) return true;
    return false;
}

void ed_http_assets_get(struct ed_http_call *k)
{
    ed_http_conn *c = k->c;
    const struct ed_http_asset *a = ed_http_assets_find(k->n_seg == 0 ? "index.html" : k->seg[1]);
    if (!a) {
        ed_http_reply_error(c, 404, "no such asset");
        return;
    }
    char extra[192];
    if (ed_http_assets_gzip_ok(ed_http_header_get(k->r, "accept-encoding"))) {
        snprintf(extra, sizeof extra,
                 "ETag: %s\r\nCache-Control: no-cache\r\nVary: Accept-Encoding\r\n"
                 "Content-Encoding: gzip\r\n",
                 a->etag);
        if (etag_matches(ed_http_header_get(k->r, "if-none-match"), a->etag)) {
            c->head_only = true; /* Content-Length as a 200 would say, no body */
            ed_http_reply(c, 304, a->ctype, a->gz, a->gz_len, extra);
            return;
        }
        ed_http_reply(c, 200, a->ctype, a->gz, a->gz_len, extra);
        return;
    }
    /* A client that takes no gzip: the same file inflated, without an ETag
     * (it would name the compressed bytes). */
    uint8_t *buf = ed_malloc(a->len ? a->len : 1);
    int rc = buf ? ed_http_assets_inflate(a, buf, a->len) : ED_ERR_NOMEM;
    if (rc == ED_ERR_UNSUPPORTED)
        ed_http_reply_error(c, 406, "this build serves its pages gzip-compressed only");
    else if (rc != ED_OK)
        ed_http_reply_error(c, 500, ed_strerror(rc));
    else
        ed_http_reply(c, 200, a->ctype, buf, a->len,
                      "Cache-Control: no-cache\r\nVary: Accept-Encoding\r\n");
    ed_free(buf);
}
