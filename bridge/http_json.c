/* A strict JSON validator (see http_json.h): recursive descent over a
 * bounded cursor, depth-limited, no allocation. */
#include "bridge/http_json.h"

#include <string.h>

struct cur {
    const uint8_t *p, *end;
    int depth;
};

size_t ed_http_utf8_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    size_t k = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    if (k == 0 || k > n || (k == 2 && c < 0xc2) || (k == 4 && c > 0xf4)) return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (k == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))) return 0;
    if (k == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))) return 0;
    return k;
}

static void blanks(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static bool lit(struct cur *c, const char *w)
{
    for (; *w; w++, c->p++)
        if (c->p >= c->end || *c->p != (uint8_t)*w) return false;
    return true;
}

static bool is_hex(uint8_t x)
{
    return (x >= '0' && x <= '9') || ((x | 0x20) >= 'a' && (x | 0x20) <= 'f');
}

static bool string(struct cur *c)
{
    c->p++; /* the opening quote */
    while (c->p < c->end) {
        uint8_t x = *c->p;
        if (x == '"') {
            c->p++;
            return true;
        }
        if (x < 0x20) return false;
        if (x == '\\') {
            if (++c->p >= c->end) return false;
            uint8_t e = *c->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++, c->p++)
                    if (c->p >= c->end || !is_hex(*c->p)) return false;
            } else if (!(e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                         e == 'r' || e == 't')) {
                return false;
            }
            continue;
        }
        size_t k = ed_http_utf8_len(c->p, (size_t)(c->end - c->p));
        if (k == 0) return false;
        c->p += k;
    }
    return false;
}

static bool digits(struct cur *c)
{
    const uint8_t *s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > s;
}

static bool number(struct cur *c)
{
    if (*c->p == '-') c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (!digits(c))
        return false;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!digits(c)) return false;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (!digits(c)) return false;
    }
    return true;
}

static bool value(struct cur *c);

/* An object or array: members separated by commas up to close. */
static bool container(struct cur *c, uint8_t close, bool object)
{
    if (++c->depth > ED_HTTP_JSON_MAX_DEPTH) return false;
    c->p++;
    blanks(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        c->depth--;
        return true;
    }
    for (;;) {
        if (object) {
            blanks(c);
            if (c->p >= c->end || *c->p != '"' || !string(c)) return false;
            blanks(c);
            if (c->p >= c->end || *c->p++ != ':') return false;
        }
        if (!value(c)) return false;
        blanks(c);
        if (c->p >= c->end) return false;
        uint8_t x = *c->p++;
        if (x == close) break;
        if (x != ',') return false;
    }
    c->depth--;
    return true;
}

static bool value(struct cur *c)
{
    blanks(c);
    if (c->p >= c->end) return false;
    switch (*c->p) {
    case '{':
        return container(c, '}', true);
    case '[':
        return container(c, ']', false);
    case '"':
        return string(c);
    case 't':
        return lit(c, "true");
    case 'f':
        return lit(c, "false");
    case 'n':
        return lit(c, "null");
    default:
        return (*c->p == '-' || (*c->p >= '0' && *c->p <= '9')) && number(c);
    }
}

bool ed_http_json_valid(const void *p, size_t n)
{
    if (!p) return false;
    struct cur c = {p, (const uint8_t *)p + n, 0};
    if (!value(&c)) return false;
    blanks(&c);
    return c.p == c.end;
}

/* ---- reading ---- */

/* Calls back for each member (name: its raw string with the quotes) or
 * element of the container v, until fn returns true. */
static bool walk(struct ed_http_json v, bool object,
                 bool (*fn)(void *arg, struct ed_http_json name, struct ed_http_json val),
                 void *arg)
{
    struct cur c = {v.p, v.p + v.len, 0};
    blanks(&c);
    if (c.p >= c.end || *c.p != (object ? '{' : '[')) return false;
    c.p++;
    for (;;) {
        blanks(&c);
        if (c.p >= c.end || *c.p == (object ? '}' : ']')) return false;
        struct ed_http_json name = {NULL, 0};
        if (object) {
            const uint8_t *s = c.p;
            if (*c.p != '"' || !string(&c)) return false;
            name = (struct ed_http_json){s, (size_t)(c.p - s)};
            blanks(&c);
            if (c.p >= c.end || *c.p++ != ':') return false;
            blanks(&c);
        }
        const uint8_t *s = c.p;
        if (!value(&c)) return false;
        if (fn(arg, name, (struct ed_http_json){s, (size_t)(c.p - s)})) return true;
        blanks(&c);
        if (c.p >= c.end || *c.p != ',') return false;
        c.p++;
    }
}

struct find {
    const char *name;
    int i;
    struct ed_http_json *out;
};

static bool by_name(void *arg, struct ed_http_json name, struct ed_http_json val)
{
    struct find *f = arg;
    size_t n = strlen(f->name);
    if (name.len != n + 2 || memcmp(name.p + 1, f->name, n) != 0) return false;
    *f->out = val;
    return true;
}

static bool by_index(void *arg, struct ed_http_json name, struct ed_http_json val)
{
    ED_UNUSED(name);
    struct find *f = arg;
    if (f->i-- != 0) return false;
    *f->out = val;
    return true;
}

bool ed_http_json_member(struct ed_http_json v, const char *name, struct ed_http_json *out)
{
    struct find f = {name, 0, out};
    return walk(v, true, by_name, &f);
}

bool ed_http_json_item(struct ed_http_json v, int i, struct ed_http_json *out)
{
    struct find f = {NULL, i, out};
    return i >= 0 && walk(v, false, by_index, &f);
}

static int hex4(const uint8_t *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t x = p[i];
        v = v * 16 + (x <= '9' ? x - '0' : (x | 0x20) - 'a' + 10);
    }
    return v;
}

int ed_http_json_string(struct ed_http_json v, char *out, size_t cap)
{
    if (v.len < 2 || v.p[0] != '"' || cap == 0) return -1;
    size_t w = 0;
    const uint8_t *p = v.p + 1, *end = v.p + v.len - 1;
    while (p < end) {
        uint32_t cp;
        if (*p != '\\') {
            if (w + 1 >= cap) return -1;
            out[w++] = (char)*p++;
            continue;
        }
        p++;
        switch (*p) {
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            cp = (uint32_t)hex4(p + 1);
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 7 && p[1] == '\\' && p[2] == 'u') {
                uint32_t lo = (uint32_t)hex4(p + 3);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            if (cp == 0 || (cp >= 0xd800 && cp < 0xe000)) return -1;
            break;
        default:
            cp = *p;
            break; /* " \ / */
        }
        p++;
        uint8_t u[4];
        size_t k = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (k == 1) u[0] = (uint8_t)cp;
        if (k == 2) u[0] = (uint8_t)(0xc0 | (cp >> 6));
        if (k == 3) u[0] = (uint8_t)(0xe0 | (cp >> 12));
        if (k == 4) u[0] = (uint8_t)(0xf0 | (cp >> 18));
        for (size_t i = 1; i < k; i++)
            u[i] = (uint8_t)(0x80 | ((cp >> (6 * (k - 1 - i))) & 0x3f));
        if (w + k >= cap) return -1;
        memcpy(out + w, u, k);
        w += k;
    }
    out[w] = '\0';
    return (int)w;
}

bool ed_http_json_int(struct ed_http_json v, int64_t *out)
{
    size_t i = 0;
    bool neg = v.len > 0 && v.p[0] == '-';
    if (neg) i++;
    if (i >= v.len || v.len - i > 18) return false;
    int64_t x = 0;
    for (; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return false;
        x = x * 10 + (v.p[i] - '0');
    }
    *out = neg ? -x : x;
    return true;
}
