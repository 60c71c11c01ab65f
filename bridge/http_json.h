/* JSON for the HTTP API: a strict validator (RFC 8259: one value, UTF-8,
 * nesting at most ED_HTTP_JSON_MAX_DEPTH) used to decide whether a record's
 * value can be shown as JSON, and a small reader of request bodies (object
 * members by name, strings, numbers). Nothing is allocated. */
#ifndef ED_BRIDGE_HTTP_JSON_H
#define ED_BRIDGE_HTTP_JSON_H

#include "platform/base.h"

#define ED_HTTP_JSON_MAX_DEPTH 32

/* Whether p[0..n) is one JSON value (blanks around it allowed). */
bool ed_http_json_valid(const void *p, size_t n);

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
size_t ed_http_utf8_len(const uint8_t *s, size_t n);

#endif

/* ---- reading a body that ed_http_json_valid accepted ---- */

/* A value's raw text within the body. */
struct ed_http_json {
    const uint8_t *p;
    size_t len;
};

/* The value of member name of the object v (false: v is not an object or
 * has no such member). */
bool ed_http_json_member(struct ed_http_json v, const char *name, struct ed_http_json *out);
/* The i-th element of the array v (false: not an array or too short). */
bool ed_http_json_item(struct ed_http_json v, int i, struct ed_http_json *out);
/* A string value decoded into out (cap bytes, escapes and \u pairs made
 * UTF-8, NUL-terminated): its length, or -1 (not a string, a \u0000, no
 * room). */
int ed_http_json_string(struct ed_http_json v, char *out, size_t cap);
/* An integer value in int64 range (false otherwise). */
bool ed_http_json_int(struct ed_http_json v, int64_t *out);
