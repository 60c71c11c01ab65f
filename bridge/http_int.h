/* What the HTTP listener (http.c) and its endpoints (http_api.c) share:
 * the listener, one connection's state, and the reply helpers. */
#ifndef ED_BRIDGE_HTTP_INT_H
#define ED_BRIDGE_HTTP_INT_H

#include "bridge/http.h"
#include "bridge/http_out.h"
#include "bridge/http_parse.h"
#include "core/conn.h"

struct ed_http {
    ed_broker *b;
    ed_conn_set *set;
    struct ed_http_limits lim;
    struct ed_http_stats stats;
    bool stopping;              /* a shutdown began: /readyz answers 503 */
    struct ed_http_conn *tails; /* connections streaming a live tail */
    ed_timer tail_timer;        /* sends what was appended, outside the append */
    bool listening;             /* append and remove listeners registered */
    ed_batch_builder *bb;       /* REST produce builds its batch here */
    uint32_t rr;                /* round robin of keyless REST records */
    int64_t started_ms;         /* wall clock at start: the overview's uptime */
};

struct ed_partition;
typedef struct ed_batch_builder ed_batch_builder;

/* A REST produce waiting for its record to be durable. */
struct ed_http_produce {
    bool pending;
    char topic[250];
    int32_t partition;
    int64_t offset;
    char timestamp[48];
    char key_type[8], value_type[8];
    size_t key_len, value_len;
};

typedef struct ed_http_conn {
    ed_http *h;
    ed_conn *conn;
    bool keep_alive;    /* of the request being answered */
    bool head_only;     /* a HEAD request: headers without the body */
    bool close_after;   /* close once the output has left */
    bool sent_continue; /* 100 Continue sent for the request being read */
    int route;          /* of the request being answered, for metrics (0: none) */
    /* a live tail (Server-Sent Events): the partition, the next offset */
    struct ed_partition *tail;
    int64_t tail_next;
    bool tail_dirty;
    bool tailing;  /* on the listener's list of tails */
    bool in_frame; /* the request is being handled (answers may come later) */
    struct ed_http_produce produce;
    uint64_t tail_sent_ms;
    uint64_t tail_round_ms; /* monotonic: no tail round before this */
    struct ed_http_conn *tail_prev, *tail_link;
} ed_http_conn;

/* Answers the request being handled: status line, Content-Type (NULL:
 * none), Content-Length, extra header lines (each ending in CRLF, or
 * NULL), then the body (left out for HEAD). */
void ed_http_reply(ed_http_conn *c, int status, const char *ctype, const void *body, size_t len,
                   const char *extra);
/* Answers with a JSON error body {"error_code":status,"message":...}. */
void ed_http_reply_error(ed_http_conn *c, int status, const char *message);
/* The same with Kafka's name of the error (error, "TOPIC_ALREADY_EXISTS")
 * as "error", NULL: none. */
void ed_http_reply_kerror(ed_http_conn *c, int status, const char *error, const char *message);
/* The reason phrase of a status code. */
const char *ed_http_reason(int status);

#define ED_HTTP_MAX_SEGS 8

/* One request being routed: its decoded path segments. */
struct ed_http_call {
    ed_http_conn *c;
    const struct ed_http_req *r;
    const uint8_t *body;
    char *seg[ED_HTTP_MAX_SEGS];
    int n_seg;
};

/* Answers 200 with the JSON in o (500 when o overflowed or ran out of
 * memory), then frees o. */
void ed_http_reply_json(ed_http_conn *c, struct ed_http_out *o);

/* The read-only REST endpoints (http_rest.c). */
void ed_http_rest_overview(struct ed_http_call *k);
void ed_http_rest_topics(struct ed_http_call *k);
void ed_http_rest_topic(struct ed_http_call *k);
void ed_http_rest_records(struct ed_http_call *k);
void ed_http_rest_groups(struct ed_http_call *k);
void ed_http_rest_mirror(struct ed_http_call *k);
void ed_http_rest_config(struct ed_http_call *k);
void ed_http_rest_warnings(struct ed_http_call *k);
/* GET /api/v1/clients (http_clients.c). */
void ed_http_rest_clients(struct ed_http_call *k);

struct ed_record;
/* One record as a JSON object (offset, timestamp, key, value, headers). */
void ed_http_rest_record(struct ed_http_out *o, const struct ed_record *r);
/* Calls fn for each record of log from offset from on, at most limit, until
 * the end or fn returns false; *next: the offset after the last one seen.
 * ED_OK or the read's error. */
int ed_http_read_records(ed_log *log, int64_t from, int64_t limit,
                         bool (*fn)(void *arg, const struct ed_record *r), void *arg,
                         int64_t *next);
/* An int64 query parameter: 1 and *v, 0 when absent, -1 when malformed. */
int ed_http_query_i64(const struct ed_http_req *r, const char *name, int64_t *v);

/* The partition named by segments 3 (topic) and 5 (partition) of k, or
 * NULL after answering 404. */
struct ed_partition *ed_http_rest_partition(struct ed_http_call *k);

/* GET .../tail: a live tail as Server-Sent Events (http_sse.c). */
void ed_http_sse_start(struct ed_http_call *k);
/* Registers the append and remove listeners (from ed_http_new). */
int ed_http_sse_init(ed_http *h);
void ed_http_sse_fini(ed_http *h);
/* A tailing connection closed: it leaves the list. */
void ed_http_sse_close(ed_http_conn *c);
/* Periodic: a comment line keeps an idle tail's proxies from closing it. */
void ed_http_sse_scan(ed_http_conn *c, uint64_t now_ms);

/* The user a writing request acts as (user, cap bytes): on an https://
 * listener only, from HTTP Basic credentials of the user store or a bearer
 * token of the token store; NULL after answering (403 in clear, 401 with
 * a WWW-Authenticate challenge) (http_produce.c). */
const char *ed_http_authenticate(ed_http_conn *c, const struct ed_http_req *r, char *user,
                                 size_t cap);
/* Whether the request's body is declared application/json; answers 415
 * when not (http_produce.c). */
bool ed_http_json_type(ed_http_conn *c, const struct ed_http_req *r);
/* POST /api/v1/topics and /v3/clusters/{cluster_id}/topics; DELETE
 * /api/v1/topics/{topic} and /v3/clusters/{cluster_id}/topics/{topic}
 * (http_topics.c). */
void ed_http_topics_create(struct ed_http_call *k);
void ed_http_topics_delete(struct ed_http_call *k);
/* POST /v3/clusters/{cluster_id}/topics/{topic}/records (http_produce.c). */
void ed_http_produce(struct ed_http_call *k);
/* GET /v3/clusters. */
void ed_http_clusters(struct ed_http_call *k);
/* A request answered after its handler returned: keep-alive or close, and
 * read the next one. */
void ed_http_request_done(ed_http_conn *c);

/* Handles one whole request (http_api.c). */
void ed_http_api_serve(ed_http_conn *c, const struct ed_http_req *r, const uint8_t *body);
/* The path pattern of route i ("/metrics"), "other" for 0 (none). */
const char *ed_http_api_route_name(int i);

/* GET / and GET /assets/{name}: the dashboard's files (http_assets.c). */
void ed_http_assets_get(struct ed_http_call *k);

/* GET /metrics (http_metrics.c). */
void ed_http_metrics_page(ed_http_conn *c);
/* Reads a whole small file into o: false when missing, unreadable or
 * larger than o's ceiling. */
bool ed_http_read_file(const char *path, struct ed_http_out *o);

#endif
