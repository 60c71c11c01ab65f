/* HTTP/1.1 request heads (RFC 9112), parsed in place and bounded: the
 * request line, up to ED_HTTP_MAX_HEADERS header fields, the framing of
 * the body (Content-Length only), keep-alive, and the pieces of a target
 * (path, query, percent-decoding, query parameters). Every string points
 * into the caller's bytes; nothing is allocated. A head that breaks the
 * rules gives the status to answer with (400, 431, 501, 505) and why. */
#ifndef ED_BRIDGE_HTTP_PARSE_H
#define ED_BRIDGE_HTTP_PARSE_H

#include "platform/base.h"

#define ED_HTTP_MAX_HEADERS 32

enum ed_http_method {
    ED_HTTP_GET,
    ED_HTTP_HEAD,
    ED_HTTP_POST,
    ED_HTTP_PUT,
    ED_HTTP_DELETE,
    ED_HTTP_OPTIONS,
    ED_HTTP_OTHER
};

/* A counted string within the request's bytes. */
struct ed_http_str {
    const char *p;
    size_t len;
};

struct ed_http_header {
    struct ed_http_str name, value; /* value without the blanks around it */
};

struct ed_http_req {
    enum ed_http_method method;
    struct ed_http_str method_name;
    struct ed_http_str target; /* as sent: path?query */
    struct ed_http_str path;   /* still percent-encoded */
    struct ed_http_str query;  /* after '?', without it ("" if none) */
    int minor;                 /* HTTP/1.<minor>: 0 or 1 */
    size_t head_len;           /* request line, fields and the blank line */
    uint64_t body_len;         /* Content-Length, 0 when absent */
    bool keep_alive;           /* 1.1 unless "close"; 1.0 only with "keep-alive" */
    bool expect_continue;      /* Expect: 100-continue */
    int n_headers;
    struct ed_http_header headers[ED_HTTP_MAX_HEADERS];
};

/* Finds the end of the head (the blank line) in p[0..n): ED_OK with
 * *head_len (blank line included), or ED_ERR_AGAIN. */
int ed_http_head_end(const uint8_t *p, size_t n, size_t *head_len);

/* Parses the head p[0..head_len) (as found by ed_http_head_end) into r.
 * ED_OK, or ED_ERR_PROTO (400, 505), ED_ERR_TOOBIG (431: too many fields)
 * or ED_ERR_UNSUPPORTED (501: a Transfer-Encoding) with *status and a
 * line in why. */
int ed_http_parse(const uint8_t *p, size_t head_len, struct ed_http_req *r, int *status, char *why,
                  size_t why_len);

/* The value of the first header named name (any case), or NULL. */
const struct ed_http_str *ed_http_header_get(const struct ed_http_req *r, const char *name);

/* Whether s equals the C string z ignoring ASCII case. */
bool ed_http_str_ieq(struct ed_http_str s, const char *z);

/* Percent-decodes s into out (cap bytes, NUL-terminated): its length, or
 * -1 for a bad escape, a decoded NUL, or no room. plus_space turns '+'
 * into ' ' (query values). */
int ed_http_decode(struct ed_http_str s, bool plus_space, char *out, size_t cap);

/* The value of query parameter name, percent-decoded into out: its
 * length, -1 when absent, -2 when malformed or longer than cap - 1. */
int ed_http_query_get(const struct ed_http_req *r, const char *name, char *out, size_t cap);

/* Splits a decoded path into its segments ("/a/b" → "a", "b"): how many
 * (at most max), or -1 for an empty or dot segment ("//", "/./", "/../")
 * or more than max segments. Segments point into path, which it changes
 * (each '/' becomes NUL). */
int ed_http_path_split(char *path, char **seg, int max);

#endif
