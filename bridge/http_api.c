/* The endpoints of the HTTP listener: one static table of routes (method,
 * path pattern, handler) and the handlers. A path is percent-decoded and
 * split into segments first; an empty, "." or ".." segment is refused
 * (400) before any route sees it, so no handler can be walked out of its
 * place. GET and HEAD never change state. */
#define ED_LOG_MODULE "http"
#include "bridge/http_int.h"

#include <stdio.h>
#include <string.h>

static void get_healthz(struct ed_http_call *k)
{
    ed_http_reply(k->c, 200, "text/plain; charset=utf-8", "ok\n", 3, NULL);
}

/* Ready while serving; 503 once a shutdown began. */
static void get_readyz(struct ed_http_call *k)
{
    if (k->c->h->stopping) {
        ed_http_reply_error(k->c, 503, "shutting down");
        return;
    }
    static const char ok[] = "{\"status\":\"ready\"}\n";
    ed_http_reply(k->c, 200, "application/json", ok, sizeof ok - 1, NULL);
}

static void get_metrics(struct ed_http_call *k)
{
    ed_http_metrics_page(k->c);
}

enum { M_GET = 1, M_POST = 2, M_DELETE = 4 };

struct route {
    unsigned methods; /* GET implies HEAD */
    const char *pattern;
    void (*get)(struct ed_http_call *k);
};

static const struct route routes[] = {
    {M_GET, "/healthz", get_healthz},
    {M_GET, "/readyz", get_readyz},
    {M_GET, "/metrics", get_metrics},
    {M_GET, "/api/v1/overview", ed_http_rest_overview},
    {M_GET, "/api/v1/topics", ed_http_rest_topics},
    {M_POST, "/api/v1/topics", ed_http_topics_create},
    {M_GET, "/api/v1/topics/{topic}", ed_http_rest_topic},
    {M_DELETE, "/api/v1/topics/{topic}", ed_http_topics_delete},
    {M_GET, "/api/v1/topics/{topic}/partitions/{partition}/records", ed_http_rest_records},
    {M_GET, "/api/v1/topics/{topic}/partitions/{partition}/tail", ed_http_sse_start},
    {M_GET, "/api/v1/groups", ed_http_rest_groups},
    {M_GET, "/api/v1/mirror", ed_http_rest_mirror},
    {M_GET, "/api/v1/config", ed_http_rest_config},
    {M_GET, "/api/v1/warnings", ed_http_rest_warnings},
    {M_GET, "/api/v1/clients", ed_http_rest_clients},
    {M_GET, "/v3/clusters", ed_http_clusters},
    {M_POST, "/v3/clusters/{cluster_id}/topics", ed_http_topics_create},
    {M_DELETE, "/v3/clusters/{cluster_id}/topics/{topic}", ed_http_topics_delete},
    {M_POST, "/v3/clusters/{cluster_id}/topics/{topic}/records", ed_http_produce},
    {M_GET, "/", ed_http_assets_get},
    {M_GET, "/assets/{name}", ed_http_assets_get},
};

#define N_ROUTES ((int)(sizeof routes / sizeof routes[0]))

const char *ed_http_api_route_name(int i)
{
    return i >= 1 && i <= N_ROUTES ? routes[i - 1].pattern : "other";
}

/* Whether the segments match pattern ("/a/{x}/b"). */
static bool match(const char *pattern, char **seg, int n)
{
    const char *p = pattern;
    if (strcmp(pattern, "/") == 0) return n == 0;
    for (int i = 0; i < n; i++) {
        if (*p != '/') return false;
        p++;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool any = len > 1 && p[0] == '{';
        if (!any && (strlen(seg[i]) != len || memcmp(seg[i], p, len) != 0)) return false;
        p += len;
    }
    return *p == '\0';
}

static unsigned method_bit(enum ed_http_method m)
{
    switch (m) {
    case ED_HTTP_GET:
    case ED_HTTP_HEAD:
        return M_GET;
    case ED_HTTP_POST:
        return M_POST;
    case ED_HTTP_DELETE:
        return M_DELETE;
    default:
        return 0;
    }
}

void ed_http_api_serve(ed_http_conn *c, const struct ed_http_req *r, const uint8_t *body)
{
    char path[1024];
    struct ed_http_call k = {c, r, body, {0}, 0};
    if (ed_http_decode(r->path, false, path, sizeof path) < 0 ||
        (k.n_seg = ed_http_path_split(path, k.seg, ED_HTTP_MAX_SEGS)) < 0) {
        ed_http_reply_error(c, 400, "bad path");
        return;
    }
    unsigned allowed = 0;
    for (int i = 0; i < N_ROUTES; i++) {
        if (!match(routes[i].pattern, k.seg, k.n_seg)) continue;
        allowed |= routes[i].methods;
        c->route = i + 1;
        if (routes[i].methods & method_bit(r->method)) {
            routes[i].get(&k);
            return;
        }
    }
    if (!allowed) {
        ed_http_reply_error(c, 404, "no such resource");
        return;
    }
    char extra[96];
    snprintf(extra, sizeof extra, "Allow: %s%s%s\r\n", allowed & M_GET ? "GET, HEAD" : "",
             allowed & M_POST ? (allowed & M_GET ? ", POST" : "POST") : "",
             allowed & M_DELETE ? (allowed & (M_GET | M_POST) ? ", DELETE" : "DELETE") : "");
    c->head_only = false;
    ed_http_reply(c, 405, "application/json",
                  "{\"error_code\":405,\"message\":\"method not allowed\"}\n", 50, extra);
}
