/* What the HTTP listener (http.c) and its endpoints (http_api.c) share:
 * the listener, one connection's state, and the reply helpers. */
#ifndef ED_BRIDGE_HTTP_INT_H
#define ED_BRIDGE_HTTP_INT_H

#include "bridge/http.h"
#include "bridge/http_parse.h"
#include "core/conn.h"

struct ed_http {
    ed_broker *b;
    ed_conn_set *set;
    struct ed_http_limits lim;
    struct ed_http_stats stats;
    bool stopping; /* a shutdown began: /readyz answers 503 */
};

typedef struct ed_http_conn {
    ed_http *h;
    ed_conn *conn;
    bool keep_alive;    /* of the request being answered */
    bool head_only;     /* a HEAD request: headers without the body */
    bool close_after;   /* close once the output has left */
    bool sent_continue; /* 100 Continue sent for the request being read */
    int route;          /* of the request being answered, for metrics (0: none) */
} ed_http_conn;

/* Answers the request being handled: status line, Content-Type (NULL:
 * none), Content-Length, extra header lines (each ending in CRLF, or
 * NULL), then the body (left out for HEAD). */
void ed_http_reply(ed_http_conn *c, int status, const char *ctype, const void *body, size_t len,
                   const char *extra);
/* Answers with a JSON error body {"error_code":status,"message":...}. */
void ed_http_reply_error(ed_http_conn *c, int status, const char *message);
/* The reason phrase of a status code. */
const char *ed_http_reason(int status);

/* Handles one whole request (http_api.c). */
void ed_http_api_serve(ed_http_conn *c, const struct ed_http_req *r, const uint8_t *body);
/* The path pattern of route i ("/metrics"), "other" for 0 (none). */
const char *ed_http_api_route_name(int i);

struct ed_http_out;
/* GET /metrics (http_metrics.c). */
void ed_http_metrics_page(ed_http_conn *c);
/* Reads a whole small file into o: false when missing, unreadable or
 * larger than o's ceiling. */
bool ed_http_read_file(const char *path, struct ed_http_out *o);

#endif
