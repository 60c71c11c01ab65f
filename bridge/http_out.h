/* Response bodies of the HTTP listener: a text buffer that grows up to a
 * ceiling (printf, JSON strings and base64, records' keys, values and
 * headers as the REST API shows them), with a sticky error once it could
 * not grow, so a page is built without checking every write. */
#ifndef ED_BRIDGE_HTTP_OUT_H
#define ED_BRIDGE_HTTP_OUT_H

#include "platform/base.h"

struct ed_http_out {
    char *p;
    size_t len, cap;
    size_t max_len; /* past this (or out of memory): err */
    bool err;
};

void ed_http_out_init(struct ed_http_out *o, size_t max_len);
void ed_http_out_free(struct ed_http_out *o);
void ed_http_out_printf(struct ed_http_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ed_http_out_put(struct ed_http_out *o, const void *p, size_t n);
/* A JSON string: quotes and escapes (bytes that are not valid UTF-8 are
 * written as U+FFFD). */
void ed_http_out_json_str(struct ed_http_out *o, const void *s, size_t n);
/* A Prometheus label value: \\, \" and \n escaped, no quotes. */
void ed_http_out_label(struct ed_http_out *o, const char *s);
/* Standard base64 with padding. */
void ed_http_out_base64(struct ed_http_out *o, const void *p, size_t n);

/* ---- records, as the REST API and CoAP's JSON show them ---- */
struct ed_record;
/* A key or value: ,"name_format":"json","name":<it> when it is valid
 * JSON, else ,"name_format":"base64","name":"<base64>" (none:
 * ,"name":null). */
void ed_http_out_field(struct ed_http_out *o, const char *name, const uint8_t *p, int32_t len);
/* "headers":[{"key":"...",<its value as ed_http_out_field>},...] */
void ed_http_out_headers(struct ed_http_out *o, const struct ed_record *r);

#endif
