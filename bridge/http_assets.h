/* The dashboard's files, compiled into the binary gzip-compressed
 * (tools/mkassets.sh makes the table from bridge/assets/ at build time),
 * and the pieces of serving them: finding a file by its plain name,
 * reading a request's Accept-Encoding, and inflating a file for a client
 * that takes no gzip. */
#ifndef ED_BRIDGE_HTTP_ASSETS_H
#define ED_BRIDGE_HTTP_ASSETS_H

#include "bridge/http_parse.h"
#include "platform/base.h"

#include <stdint.h>

struct ed_http_asset {
    const char *name;  /* "app.js": served at /assets/app.js (index.html also at /) */
    const char *ctype; /* Content-Type */
    const uint8_t *gz; /* the file, gzip-compressed */
    size_t gz_len;
    size_t len;       /* uncompressed */
    const char *etag; /* strong, quoted: "\"0123456789abcdef\"" */
};

/* The generated table (build/.../http_assets_gen.c). */
extern const struct ed_http_asset ed_http_assets[];
extern const int ed_http_assets_n;
/* Eddy's version, as tools/eddy.c says it. */
extern const char ed_http_assets_version[];

/* The asset called name, or NULL: unknown, or not a plain file name
 * (letters, digits, '.', '-', '_'; not starting with '.'). */
const struct ed_http_asset *ed_http_assets_find(const char *name);

/* Whether an Accept-Encoding value (NULL: no such header) accepts gzip:
 * "gzip" or "*" listed with a q-value above 0, and gzip not refused with
 * q=0 (RFC 9110, 12.5.3). */
bool ed_http_assets_gzip_ok(const struct ed_http_str *accept);

/* Inflates a into out (at least a->len bytes): ED_OK, ED_ERR_UNSUPPORTED
 * when the build has no gzip (WITH_GZIP=0), ED_ERR_CORRUPT or
 * ED_ERR_NOMEM. */
int ed_http_assets_inflate(const struct ed_http_asset *a, uint8_t *out, size_t cap);

#endif
