/* A strict JSON validator (see http_json.h): recursive descent over a
 * bounded cursor, depth-limited, no allocation. */
#include "bridge/http_json.h"

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
