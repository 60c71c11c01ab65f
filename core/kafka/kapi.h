/* The Kafka API dispatch contract between the server (connections, framing,
 * in-order responses) and the API handlers. The server decodes the request
 * header, looks the key up in ed_kapi_table, writes the response header into
 * req->out and calls ed_kapi_serve, which decodes the whole request body
 * through the message schema (core/kafka/schema.h) into req->body and runs
 * the handler; the handler acts on req->body and appends the response body
 * to req->out, encoded from the generated response struct (ed_kreq_respond).
 *
 * Details handlers rely on:
 * - The server only calls a handler with a version inside [min, max] of its
 *   entry (ApiVersions excepted: it also gets unknown versions, with
 *   req->body NULL, and answers UNSUPPORTED_VERSION itself).
 *   req->flex = version >= flex_from.
 * - A body that does not decode (truncated, a null where the version
 *   forbids one, a lying length, an arena beyond its bound) is answered
 *   ED_KAPI_CLOSE before the handler runs: nothing changes.
 * - req->body and every array in it live in req->arena, bounded by
 *   ED_KAPI_DECODE_FACTOR times the body's length (plus a page) and by the
 *   memory limit; ed_kreq_alloc takes the response's arrays from the same
 *   arena (up to ED_KAPI_RESPONSE_MAX more). ed_kreq_release frees it; the
 *   server calls it when the request is answered, dropped or cancelled, so
 *   a PENDING handler may keep pointers into req->body.
 * - req->out already holds the 4-byte size prefix, the correlation id and
 *   (flexible responses other than ApiVersions) the header's tagged fields.
 *   Handlers only append; never reset or rewind req->out below the length
 *   it had on entry. The server patches the size when the response is done.
 *   req->out's ceiling is ED_KAPI_RESPONSE_MAX bytes of memory (spliced
 *   file bytes do not count); if the writer fails (sticky error) the
 *   connection is closed with a log line, so size responses sensibly.
 * - req->rd covers exactly the request body; its bytes (and req->client_id)
 *   stay valid until the request is completed, dropped or cancelled, so a
 *   PENDING handler may keep pointers into them (e.g. Produce acks=all).
 *   Strings, bytes and records of req->body point into them (zero-copy).
 * - ED_KAPI_CLOSE: the handler may log details; the server logs the close.
 * - ED_KAPI_PENDING: the handler must have set req->cancel (asserted);
 *   ed_kreq_complete may be called before the handler has even returned
 *   (e.g. a durable wait that is already satisfied); the response is then
 *   sent as if RESPOND had been returned.
 * - ed_kreq_complete/ed_kreq_drop may be called from any handler on the loop
 *   thread (e.g. Produce on one connection waking a Fetch on another); they
 *   never close or free a connection synchronously.
 * - cancel: called at most once, on the loop thread, never from inside
 *   ed_kreq_complete or the handler itself; after it returns req is freed. */
#ifndef ED_CORE_KAPI_H
#define ED_CORE_KAPI_H

#include "core/broker.h"
#include "core/kafka/errors.h"
#include "core/kafka/schema.h"
#include "core/kafka/kwire.h"

#include <string.h>

typedef struct ed_kreq ed_kreq;

enum ed_kapi_status {
    ED_KAPI_RESPOND = 0,     /* response in req->out: send it */
    ED_KAPI_PENDING = 1,     /* handler completes later with ed_kreq_complete */
    ED_KAPI_NO_RESPONSE = 2, /* e.g. Produce with acks=0 */
    ED_KAPI_CLOSE = 3        /* malformed: close the connection (logged) */
};

struct ed_kreq {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    ed_kstr client_id;
    bool flex;  /* request/response use flexible encodings */
    ed_krd rd;  /* the request body; valid until completion */
    ed_kwr out; /* response: header written by the server */
    ed_broker *broker;
    const char *peer;      /* "host:port" for logs */
    const char *listener;  /* the listener it came in on: Metadata advertises its address */
    struct ed_kauth *auth; /* the connection's SASL state (core/kafka/kapi_sasl.h) */
    int32_t n_open;        /* the connection's requests not yet answered, this one included */
    /* For PENDING requests: the handler's state, and a cancel callback the
     * server calls if the connection closes first (the handler must then
     * drop every reference to req; the server frees it afterwards). */
    void *ctx;
    void (*cancel)(ed_kreq *req);
    /* Optional, for PENDING requests: called when Eddy stops reading the
     * connection until answers go out (it has as many requests open as it
     * takes), so nothing the client sends can join this one's wait: the
     * handler finishes as soon as it can (durable waits skip gathering). */
    void (*urge)(ed_kreq *req);
    /* The decoded request (see above): api's request struct, or NULL. */
    const struct ed_kmsg_api *api;
    void *body;
    ed_karena arena;
};

typedef int (*ed_kapi_fn)(ed_kreq *req);

struct ed_kapi_entry {
    int16_t min_version;
    int16_t max_version;
    int16_t flex_from; /* first flexible version; -1 = none */
    ed_kapi_fn fn;     /* NULL = not supported (not advertised) */
    const char *name;
    /* The handler reads req->body; false: it still decodes req->rd itself
     * (group and config APIs, until they move to the schema too). */
    bool decoded;
};

#define ED_KAPI_N_KEYS       80
#define ED_KAPI_RESPONSE_MAX (16u * 1024 * 1024)
/* A decoded element takes at most this many times its smallest size on the
 * wire (an empty compact string with its tag byte: 2 bytes, 32 decoded). */
#define ED_KAPI_DECODE_FACTOR 32u

/* API keys used by name across modules. */
enum ed_kapi_key {
    ED_KAPI_PRODUCE = 0,
    ED_KAPI_FETCH = 1,
    ED_KAPI_LIST_OFFSETS = 2,
    ED_KAPI_METADATA = 3,
    ED_KAPI_API_VERSIONS = 18,
    ED_KAPI_CREATE_TOPICS = 19,
    ED_KAPI_INIT_PRODUCER_ID = 22
};
extern const struct ed_kapi_entry ed_kapi_table[ED_KAPI_N_KEYS];

/* Runs req's handler (ed_kapi_table[req->api_key]) after decoding the
 * body in req->rd through the schema into req->body (entries marked
 * decoded; req->rd is left as it was for the others); a body that does not
 * decode is ED_KAPI_CLOSE, the handler not run. The caller sets api_key,
 * api_version, flex, rd, out, broker and peer, and calls ed_kreq_release
 * once the request is done. */
int ed_kapi_serve(ed_kreq *req);
/* Frees req->body and the arena (also the response's arrays). Idempotent. */
void ed_kreq_release(ed_kreq *req);
/* A response array: *n_out = n and *(T **)arr_out = n structs s (each set
 * to its defaults) from req's arena (NULL when n <= 0). false when out of
 * memory or beyond the bound: req->out is then failed with ED_ERR_NOMEM,
 * which closes the connection once the handler returns ED_KAPI_RESPOND. */
bool ed_kreq_array(ed_kreq *req, int32_t n, const struct ed_kstruct *s, int32_t *n_out,
                   void *arr_out);
/* A copy of z in req's arena, for a response (null, with req->out failed
 * with ED_ERR_NOMEM, when out of memory). */
ed_kstr ed_kreq_str(ed_kreq *req, const char *z);
/* Appends resp, the response struct of req->api at req->api_version. */
void ed_kreq_respond(ed_kreq *req, const void *resp);
/* The same with records held elsewhere handed to sp (schema.h). */
void ed_kreq_respond_spliced(ed_kreq *req, const void *resp, const struct ed_ksplicer *sp);

/* A C string as a Kafka string (NULL = null). */
static inline ed_kstr ed_kstr_z(const char *z)
{
    return z ? (ed_kstr){z, (int32_t)strlen(z)} : (ed_kstr){NULL, -1};
}

/* Completes a PENDING request: its response in req->out is sent when every
 * earlier request of the connection has been answered. */
void ed_kreq_complete(ed_kreq *req);
/* Completes a PENDING request that needs no response (acks=0 never pends;
 * this is for symmetry and cleanup). */
void ed_kreq_drop(ed_kreq *req);

#endif
