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
