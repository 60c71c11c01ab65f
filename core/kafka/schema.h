/* The table-driven Kafka message codec: decodes a request or response body
 * (or a request/response header) into the generated C struct of its message
 * (core/kafka/msg_gen.h) and encodes such a struct back, at any version
 * inside the range Eddy supports. Flexible versions (compact lengths, tagged
 * fields) come from the tables, never from the caller.
 *
 * Decoding is all-or-nothing: a truncated or malformed input (a length
 * beyond the bytes left, a null where the version forbids one, a tagged
 * field whose size lies) fails the whole decode before the caller acts on
 * anything. Strings, bytes and records point into the input bytes
 * (zero-copy; keep them alive as long as the struct); arrays are carved from
 * a caller-provided bounded arena. Unknown tagged fields are skipped. */
#ifndef ED_CORE_KAFKA_SCHEMA_H
#define ED_CORE_KAFKA_SCHEMA_H

#include "core/kafka/kwire.h"

#define ED_KV_MAX 127 /* "and every later version" */

enum ed_ktype {
    ED_KT_BOOL,
    ED_KT_INT8,
    ED_KT_INT16,
    ED_KT_UINT16,
    ED_KT_INT32,
    ED_KT_UINT32,
    ED_KT_INT64,
    ED_KT_FLOAT64,
    ED_KT_UUID,
    ED_KT_STRING, /* ed_kstr */
    ED_KT_BYTES,  /* ed_kbytes */
    ED_KT_RECORDS,
    ED_KT_STRUCT
};
enum ed_kfield_flag {
    ED_KF_ARRAY = 1,    /* int32_t count at off (-1 = null), pointer at off_ptr */
    ED_KF_DEF_NULL = 2, /* the default is null */
    ED_KF_NOFLEX = 4    /* never a compact encoding (the header's ClientId) */
};

struct ed_kstruct;
/* One field of a message or nested struct (32 bytes: the tables hold about
 * 600). Version bounds are inclusive; -1 bounds mean never (not nullable,
 * not tagged). */
struct ed_kfield {
    uint16_t off;
    uint16_t off_ptr;
    uint16_t name_off; /* Kafka's name at ed_kmsg_field_names + name_off */
    uint8_t type;
    uint8_t flags;
    int8_t v_min, v_max;
    int8_t null_min, null_max;
    int16_t tag;
    int8_t tag_min, tag_max;
    int32_t def; /* default of a number or bool */
    const struct ed_kstruct *sub;
};
struct ed_kstruct {
    const char *name;
    uint32_t size;
    uint16_t n_fields;
    const struct ed_kfield *fields;
};
/* One API: the versions described (the union of both sides), the first
 * flexible version (-1 none), what the server serves and what the client
 * calls (-1, -1 = that side does not). */
struct ed_kmsg_api {
    int16_t key;
    int16_t min, max;
    int16_t flex_from;
    int16_t srv_min, srv_max;
    int16_t cli_min, cli_max;
    const char *name;
    const struct ed_kstruct *request;
    const struct ed_kstruct *response;
};

/* A bump allocator for decoded arrays: a fixed buffer (ed_karena_init), or
 * heap chunks up to limit bytes in all (ed_karena_init_heap), released by
 * ed_karena_free. Decoding a struct without arrays needs no arena (NULL). */
typedef struct ed_karena {
    uint8_t *buf;
    size_t used, cap;
    size_t limit, total;
    void *chunks;
} ed_karena;
void ed_karena_init(ed_karena *a, void *buf, size_t cap);
void ed_karena_init_heap(ed_karena *a, size_t limit);
void ed_karena_free(ed_karena *a);
/* Zeroed, aligned; NULL when the bound is reached or memory is out. */
void *ed_karena_alloc(ed_karena *a, size_t len);

/* The API described for key, or NULL. */
const struct ed_kmsg_api *ed_kschema_api(int16_t api_key);
bool ed_kschema_flexible(const struct ed_kmsg_api *api, int16_t ver);
/* Header versions: request v2 when flexible else v1; response v1 when
 * flexible, except ApiVersions (always v0). */
int16_t ed_kschema_request_header_version(const struct ed_kmsg_api *api, int16_t ver);
int16_t ed_kschema_response_header_version(const struct ed_kmsg_api *api, int16_t ver);

/* Whether the struct s has the field named (Kafka's name) at version ver:
 * for callers that merge two shapes of one message (e.g. a single group
 * before a version, a batch of groups after). */
bool ed_kschema_has(const struct ed_kstruct *s, int16_t ver, const char *field);
/* Whether that field may be null at version ver (false when absent). */
bool ed_kschema_nullable(const struct ed_kstruct *s, int16_t ver, const char *field);
/* Kafka's name of a field ("ThrottleTimeMs"). */
const char *ed_kschema_field_name(const struct ed_kfield *f);
/* Sets every field of out (a struct of s) to its default. */
void ed_kschema_init(const struct ed_kstruct *s, void *out);
/* Decodes the struct s at version ver from r into out (defaults first).
 * flex: the version is flexible. ED_OK, ED_ERR_PROTO (malformed or
 * truncated; r is failed) or ED_ERR_NOMEM (arena bound). */
int ed_kschema_decode(const struct ed_kstruct *s, int16_t ver, bool flex, ed_krd *r, ed_karena *a,
                      void *out);
/* Encodes in at version ver; fields absent in ver are left out. A null
 * where ver does not allow one fails w with ED_ERR_INVAL. */
void ed_kschema_encode(const struct ed_kstruct *s, int16_t ver, bool flex, ed_kwr *w,
                       const void *in);

/* Records whose bytes are not in memory (Fetch: a slice of a segment file,
 * sent with sendfile): a records value with p == NULL and len > 0 is
 * encoded as its length, then splice(arg, w, value) appends exactly len
 * bytes to w (e.g. with ed_kwr_splice). Values are met in the order of the
 * struct's fields and arrays. Without a splicer such a value fails w with
 * ED_ERR_INVAL, as does a splice of another length. */
struct ed_ksplicer {
    void (*splice)(void *arg, ed_kwr *w, const ed_kbytes *value);
    void *arg;
};
void ed_kschema_encode_spliced(const struct ed_kstruct *s, int16_t ver, bool flex, ed_kwr *w,
                               const void *in, const struct ed_ksplicer *sp);

/* Message shortcuts: body of api's request/response at ver. */
int ed_kschema_decode_request(const struct ed_kmsg_api *api, int16_t ver, ed_krd *r, ed_karena *a,
                              void *out);
int ed_kschema_decode_response(const struct ed_kmsg_api *api, int16_t ver, ed_krd *r, ed_karena *a,
                               void *out);
void ed_kschema_encode_request(const struct ed_kmsg_api *api, int16_t ver, ed_kwr *w,
                               const void *in);
void ed_kschema_encode_response(const struct ed_kmsg_api *api, int16_t ver, ed_kwr *w,
                                const void *in);

#endif
