/* HTTP/1.1 request heads parsed in place (see http_parse.h). Strict where
 * leniency lets two readers disagree about where a request ends (request
 * smuggling): CRLF line ends, no folded lines, no blank before a field's
 * colon, one Content-Length value, no Transfer-Encoding. */
#include "bridge/http_parse.h"

#include <stdio.h>
#include <string.h>

static bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Visible ASCII, blanks and obs-text (bytes >= 0x80) may appear in a value. */
static bool is_vchar(uint8_t c)
{
    return c == '\t' || (c >= ' ' && c != 0x7f);
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

bool ed_http_str_ieq(struct ed_http_str s, const char *z)
{
    size_t n = strlen(z);
    if (s.len != n) return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s.p[i]) != lower(z[i])) return false;
    return true;
}

int ed_http_head_end(const uint8_t *p, size_t n, size_t *head_len)
{
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
            *head_len = i + 1;
            return ED_OK;
        }
    return ED_ERR_AGAIN;
}

static int fail(int *status, int code, int rc, char *why, size_t why_len, const char *what)
{
    *status = code;
    snprintf(why, why_len, "%s", what);
    return rc;
}

static const struct {
    const char *name;
    enum ed_http_method m;
} methods[] = {
    {"GET", ED_HTTP_GET}, {"HEAD", ED_HTTP_HEAD},     {"POST", ED_HTTP_POST},
    {"PUT", ED_HTTP_PUT}, {"DELETE", ED_HTTP_DELETE}, {"OPTIONS", ED_HTTP_OPTIONS},
};

/* Whether a comma-separated header value lists token (any case). */
static bool list_has(struct ed_http_str v, const char *token)
{
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t s = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        struct ed_http_str t = {v.p + s, e - s};
        if (e > s && ed_http_str_ieq(t, token)) return true;
    }
    return false;
}

static int parse_request_line(const char *s, size_t n, struct ed_http_req *r, int *status,
                              char *why, size_t why_len)
{
    size_t i = 0;
    while (i < n && is_tchar((uint8_t)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ' ')
        return fail(status, 400, ED_ERR_PROTO, why, why_len, "malformed request line");
    r->method_name = (struct ed_http_str){s, i};
    r->method = ED_HTTP_OTHER;
    for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++)
        if (strlen(methods[k].name) == i && memcmp(methods[k].name, s, i) == 0)
            r->method = methods[k].m;
    size_t t = ++i;
    while (i < n && s[i] != ' ') {
        if ((uint8_t)s[i] <= ' ' || (uint8_t)s[i] >= 0x7f)
            return fail(status, 400, ED_ERR_PROTO, why, why_len,
                        "control or non-ASCII byte in the request target");
        i++;
    }
    if (i == t || i >= n)
        return fail(status, 400, ED_ERR_PROTO, why, why_len, "malformed request line");
    r->target = (struct ed_http_str){s + t, i - t};
    if (r->target.p[0] != '/')
        return fail(status, 400, ED_ERR_PROTO, why, why_len,
                    "request target is not an absolute path");
    const char *q = memchr(r->target.p, '?', r->target.len);
    size_t plen = q ? (size_t)(q - r->target.p) : r->target.len;
    r->path = (struct ed_http_str){r->target.p, plen};
    r->query = q ? (struct ed_http_str){q + 1, r->target.len - plen - 1}
                 : (struct ed_http_str){r->target.p + plen, 0};
    const char *v = s + i + 1;
    size_t vn = n - i - 1;
    if (vn != 8 || memcmp(v, "HTTP/1.", 7) != 0) {
        if (vn >= 5 && memcmp(v, "HTTP/", 5) == 0)
            return fail(status, 505, ED_ERR_PROTO, why, why_len, "HTTP version not supported");
        return fail(status, 400, ED_ERR_PROTO, why, why_len, "malformed request line");
    }
    if (v[7] != '0' && v[7] != '1')
        return fail(status, 505, ED_ERR_PROTO, why, why_len, "HTTP version not supported");
    r->minor = v[7] - '0';
    return ED_OK;
}

static int parse_length(struct ed_http_str v, uint64_t *out)
{
    if (v.len == 0 || v.len > 15) return ED_ERR_PROTO;
    uint64_t x = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return ED_ERR_PROTO;
        x = x * 10 + (uint64_t)(v.p[i] - '0');
    }
    *out = x;
    return ED_OK;
}

int ed_http_parse(const uint8_t *p, size_t head_len, struct ed_http_req *r, int *status, char *why,
                  size_t why_len)
{
    memset(r, 0, sizeof *r);
    *status = 0;
    const char *s = (const char *)p;
    if (head_len < 4 || memcmp(s + head_len - 4, "\r\n\r\n", 4) != 0)
        return fail(status, 400, ED_ERR_PROTO, why, why_len, "request head not ended by CRLF");
    r->head_len = head_len;
    const char *end = s + head_len - 2; /* the final CRLF */
    const char *eol = memchr(s, '\n', (size_t)(end - s));
    if (!eol || eol == s || eol[-1] != '\r')
        return fail(status, 400, ED_ERR_PROTO, why, why_len, "malformed request line");
    int rc = parse_request_line(s, (size_t)(eol - 1 - s), r, status, why, why_len);
    if (rc != ED_OK) return rc;
    bool has_len = false, close = false, keep = false;
    const char *line = eol + 1;
    while (line < end) {
        eol = memchr(line, '\n', (size_t)(end + 1 - line));
        if (!eol || eol == line || eol[-1] != '\r')
            return fail(status, 400, ED_ERR_PROTO, why, why_len, "header line not ended by CRLF");
        size_t n = (size_t)(eol - 1 - line);
        if (line[0] == ' ' || line[0] == '\t')
            return fail(status, 400, ED_ERR_PROTO, why, why_len, "folded header line");
        size_t k = 0;
        while (k < n && is_tchar((uint8_t)line[k]))
            k++;
        if (k == 0 || k >= n || line[k] != ':')
            return fail(status, 400, ED_ERR_PROTO, why, why_len, "malformed header field");
        size_t vs = k + 1, ve = n;
        while (vs < ve && (line[vs] == ' ' || line[vs] == '\t'))
            vs++;
        while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
            ve--;
        for (size_t i = vs; i < ve; i++)
            if (!is_vchar((uint8_t)line[i]))
                return fail(status, 400, ED_ERR_PROTO, why, why_len,
                            "control byte in a header value");
        if (r->n_headers == ED_HTTP_MAX_HEADERS)
            return fail(status, 431, ED_ERR_TOOBIG, why, why_len, "too many header fields");
        struct ed_http_header *h = &r->headers[r->n_headers++];
        h->name = (struct ed_http_str){line, k};
        h->value = (struct ed_http_str){line + vs, ve - vs};
        if (ed_http_str_ieq(h->name, "content-length")) {
            uint64_t len;
            if (parse_length(h->value, &len) != ED_OK || (has_len && len != r->body_len))
                return fail(status, 400, ED_ERR_PROTO, why, why_len, "bad Content-Length");
            has_len = true;
            r->body_len = len;
        } else if (ed_http_str_ieq(h->name, "transfer-encoding")) {
            return fail(status, 501, ED_ERR_UNSUPPORTED, why, why_len,
                        "Transfer-Encoding in a request is not supported (send Content-Length)");
        } else if (ed_http_str_ieq(h->name, "connection")) {
            close = close || list_has(h->value, "close");
            keep = keep || list_has(h->value, "keep-alive");
        } else if (ed_http_str_ieq(h->name, "expect")) {
            r->expect_continue = ed_http_str_ieq(h->value, "100-continue");
        }
        line = eol + 1;
    }
    if (r->minor == 1 && !ed_http_header_get(r, "host"))
        return fail(status, 400, ED_ERR_PROTO, why, why_len, "HTTP/1.1 request without Host");
    r->keep_alive = !close && (r->minor == 1 || keep);
    return ED_OK;
}

const struct ed_http_str *ed_http_header_get(const struct ed_http_req *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (ed_http_str_ieq(r->headers[i].name, name)) return &r->headers[i].value;
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int ed_http_decode(struct ed_http_str s, bool plus_space, char *out, size_t cap)
{
    size_t w = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c == '%') {
            if (s.len - i < 3) return -1;
            int hi = hexval(s.p[i + 1]), lo = hexval(s.p[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            if (c == '\0') return -1;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (w + 1 >= cap) return -1;
        out[w++] = c;
    }
    if (cap == 0) return -1;
    out[w] = '\0';
    return (int)w;
}

int ed_http_query_get(const struct ed_http_req *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *q = r->query.p, *e = r->query.p + r->query.len;
    while (q < e) {
        const char *amp = memchr(q, '&', (size_t)(e - q));
        const char *pe = amp ? amp : e;
        const char *eq = memchr(q, '=', (size_t)(pe - q));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - q) == nl && memcmp(q, name, nl) == 0) {
            struct ed_http_str v = {eq ? eq + 1 : pe, eq ? (size_t)(pe - eq - 1) : 0};
            int n = ed_http_decode(v, true, out, cap);
            return n < 0 ? -2 : n;
        }
        q = pe + 1;
    }
    return -1;
}

int ed_http_path_split(char *path, char **seg, int max)
{
    if (path[0] != '/') return -1;
    int n = 0;
    char *p = path + 1;
    while (*p) {
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        if (!*p || strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
            if (!*p && !slash) break; /* the root: nothing */
            return -1;
        }
        if (n == max) return -1;
        seg[n++] = p;
        if (!slash) break;
        p = slash + 1;
        if (!*p) break; /* one trailing slash */
    }
    return n;
}
