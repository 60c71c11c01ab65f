/* Growing response bodies with a ceiling (see http_out.h). */
#include "bridge/http_out.h"
#include "bridge/http_json.h"
#include "platform/crypto.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ed_http_out_init(struct ed_http_out *o, size_t max_len)
{
    memset(o, 0, sizeof *o);
    o->max_len = max_len;
}

void ed_http_out_free(struct ed_http_out *o)
{
    ed_free(o->p);
    memset(o, 0, sizeof *o);
}

/* Room for n more bytes and a NUL. */
static bool room(struct ed_http_out *o, size_t n)
{
    if (o->err) return false;
    if (o->len + n + 1 <= o->cap) return true;
    if (o->len + n > o->max_len) {
        o->err = true;
        return false;
    }
    size_t cap = ED_MAX(o->cap ? o->cap * 2 : 4096, o->len + n + 1);
    char *p = ed_realloc(o->p, cap);
    if (!p) {
        o->err = true;
        return false;
    }
    o->p = p;
    o->cap = cap;
    return true;
}

void ed_http_out_put(struct ed_http_out *o, const void *p, size_t n)
{
    if (!room(o, n)) return;
    memcpy(o->p + o->len, p, n);
    o->len += n;
    o->p[o->len] = '\0';
}

void ed_http_out_printf(struct ed_http_out *o, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->err = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        ed_http_out_put(o, small, (size_t)n);
        return;
    }
    if (!room(o, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(o->p + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

void ed_http_out_json_str(struct ed_http_out *o, const void *sv, size_t n)
{
    const uint8_t *s = sv;
    ed_http_out_put(o, "\"", 1);
    size_t i = 0;
    while (i < n && !o->err) {
        size_t run = i;
        while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\')
            run++;
        if (run > i) {
            ed_http_out_put(o, s + i, run - i);
            i = run;
            continue;
        }
        uint8_t c = s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ed_http_out_put(o, e, 2);
            i++;
        } else if (c < 0x20) {
            ed_http_out_printf(o, "\\u%04x", c);
            i++;
        } else {
            size_t k = ed_http_utf8_len(s + i, n - i);
            if (k == 0) {
                ed_http_out_put(o, "\\ufffd", 6);
                i++;
            } else {
                ed_http_out_put(o, s + i, k);
                i += k;
            }
        }
    }
    ed_http_out_put(o, "\"", 1);
}

void ed_http_out_label(struct ed_http_out *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            ed_http_out_printf(o, "\\%c", *s);
        else if (*s == '\n')
            ed_http_out_put(o, "\\n", 2);
        else
            ed_http_out_put(o, s, 1);
    }
}

void ed_http_out_base64(struct ed_http_out *o, const void *p, size_t n)
{
    size_t need = (n + 2) / 3 * 4;
    if (!room(o, need)) return;
    size_t w = 0;
    if (ed_plat_crypto_b64_encode(p, n, o->p + o->len, o->cap - o->len, &w) != ED_OK) {
        o->err = true;
        return;
    }
    o->len += w;
}

void ed_http_out_field(struct ed_http_out *o, const char *name, const uint8_t *p, int32_t len)
{
    if (len < 0 || !p) {
        ed_http_out_printf(o, ",\"%s\":null", name);
        return;
    }
    if (len > 0 && ed_http_json_valid(p, (size_t)len)) {
        ed_http_out_printf(o, ",\"%s_format\":\"json\",\"%s\":", name, name);
        ed_http_out_put(o, p, (size_t)len);
    } else {
        ed_http_out_printf(o, ",\"%s_format\":\"base64\",\"%s\":\"", name, name);
        ed_http_out_base64(o, p, (size_t)len);
        ed_http_out_put(o, "\"", 1);
    }
}

void ed_http_out_headers(struct ed_http_out *o, const struct ed_record *r)
{
    ed_http_out_printf(o, "\"headers\":[");
    size_t cur = 0;
    struct ed_record_header h;
    for (int i = 0; ed_record_next_header(r, &cur, &h) == 1; i++) {
        ed_http_out_printf(o, "%s{\"key\":", i ? "," : "");
        ed_http_out_json_str(o, h.key, (size_t)h.key_len);
        ed_http_out_field(o, "value", h.value, h.value_len);
        ed_http_out_put(o, "}", 1);
    }
    ed_http_out_put(o, "]", 1);
}
