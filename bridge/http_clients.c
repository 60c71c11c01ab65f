/* GET /api/v1/clients: the MQTT clients connected and the CoAP endpoints
 * seen recently, walked from the listeners' own tables (nothing is kept
 * for this). Each list is bounded: past ED_HTTP_CLIENTS_MAX entries it
 * stops and "truncated" is true. Times are shown on the wall clock. */
#define ED_LOG_MODULE "http"
#include "bridge/http_int.h"
#include "bridge/http_out.h"
#include "platform/platform.h"
#if ED_WITH_MQTT
#include "bridge/mqtt.h"
#endif
#if ED_WITH_COAP
#include "bridge/coap.h"
#endif

#include <inttypes.h>
#include <string.h>

#define ED_HTTP_CLIENTS_MAX 500
#define ANSWER_LEN_MAX      (1u << 20)

struct pass {
    struct ed_http_out *o;
    int n;
    bool truncated;
    int64_t wall_ms;  /* the wall clock now */
    uint64_t loop_ms; /* the loop's clock now */
};

#if ED_WITH_MQTT || ED_WITH_COAP
/* A JSON string, or null for NULL. */
static void str(struct ed_http_out *o, const char *s)
{
    if (s)
        ed_http_out_json_str(o, s, strlen(s));
    else
        ed_http_out_put(o, "null", 4);
}

/* A time of the loop's clock on the wall clock. */
static int64_t wall_of(const struct pass *ps, uint64_t loop_ms)
{
    return ps->wall_ms - (int64_t)(ps->loop_ms - ED_MIN(loop_ms, ps->loop_ms));
}

/* Opens the next entry with its first member, key: value; false (and the
 * list cut) when it would be one too many. */
static bool entry(struct pass *ps, const char *key, const char *value)
{
    if (ps->n >= ED_HTTP_CLIENTS_MAX) {
        ps->truncated = true;
        return false;
    }
    ed_http_out_printf(ps->o, "%s{\"%s\":", ps->n++ ? "," : "", key);
    str(ps->o, value);
    return true;
}

#endif

#if ED_WITH_MQTT
static bool mqtt_one(void *arg, const struct ed_mqtt_client *c)
{
    struct pass *ps = arg;
    if (!entry(ps, "client_id", c->client_id)) return false;
    struct ed_http_out *o = ps->o;
    ed_http_out_printf(o, ",\"peer\":");
    str(o, c->peer);
    ed_http_out_printf(o, ",\"protocol\":\"%s\",\"user\":", c->level == 5 ? "5.0" : "3.1.1");
    str(o, c->user);
    ed_http_out_printf(o,
                       ",\"connected_since_ms\":%" PRId64
                       ",\"keepalive_s\":%u,\"persistent_session\":%s,\"subscriptions\":%d"
                       ",\"in_flight_in\":%" PRIu32 ",\"in_flight_out\":%" PRIu32 "}",
                       wall_of(ps, c->accepted_ms), (unsigned)c->keepalive_s,
                       c->persistent ? "true" : "false", c->n_subs, c->n_in_flight_in,
                       c->n_in_flight_out);
    return true;
}
#endif

#if ED_WITH_COAP
static bool coap_one(void *arg, const struct ed_coap_client *c)
{
    struct pass *ps = arg;
    if (!entry(ps, "peer", c->peer)) return false;
    ed_http_out_printf(ps->o, ",\"identity\":");
    str(ps->o, c->identity);
    ed_http_out_printf(ps->o, ",\"requests\":%" PRIu64 ",\"last_request_ms\":%" PRId64 "}",
                       c->n_requests, wall_of(ps, c->last_ms));
    return true;
}
#endif

void ed_http_rest_clients(struct ed_http_call *k)
{
    ed_broker *b = k->c->h->b;
    struct ed_http_out o;
    ed_http_out_init(&o, ANSWER_LEN_MAX);
    struct pass ps = {&o, 0, false, ed_plat_clock_wall_ms(),
                      b->loop ? ed_plat_loop_now_ms(b->loop) : 0};
    ed_http_out_printf(&o, "{\"mqtt\":[");
#if ED_WITH_MQTT
    const ed_mqtt *m = ed_broker_service_obj(b, "MQTT");
    if (m) ed_mqtt_clients_each(m, mqtt_one, &ps);
#endif
    ps.n = 0;
    ed_http_out_printf(&o, "],\"coap\":[");
#if ED_WITH_COAP
    const ed_coap *cp = ed_broker_service_obj(b, "CoAP");
    if (cp) ed_coap_clients_each(cp, coap_one, &ps);
#endif
    ed_http_out_printf(&o, "],\"truncated\":%s}\n", ps.truncated ? "true" : "false");
    ed_http_reply_json(k->c, &o);
}
