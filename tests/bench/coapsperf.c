/* CoAP load generator on libcoap's client, for coap:// against coaps://
 * (DTLS-PSK) in the CoAP benchmark (tests/bench/coap_vs_mqtt.sh):
 * ENDPOINTS sessions (one UDP socket each, as many sensors) first connect
 * (over DTLS: the handshake), then share REQUESTS confirmable POSTs of
 * BYTES bytes to /t/TOPIC, each session one request at a time. A request
 * is done when its 2.04 arrives (the separate CON answer after the flush).
 *
 *   coapsperf -p PORT -n REQUESTS -s BYTES [-c ENDPOINTS] [-t TOPIC]
 *             [-u IDENTITY -k KEY] [-H]
 *
 * -u/-k: coaps:// with that pre-shared key; -H: connect only, then stop.
 * Output: one line "sessions= connect_s= sent= seconds= rec_s= p50_ms=
 * p99_ms="; exit status 1 on any failure. */
#define _GNU_SOURCE
#include <coap3/coap.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_EP 1024

struct ep {
    coap_session_t *s;
    bool connected, busy;
    double t0;
};

static struct ep eps[MAX_EP];
static int n_ep, n_connected, n_done, n_failed;
static double *lat;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct ep *ep_of(const coap_session_t *s)
{
    for (int i = 0; i < n_ep; i++)
        if (eps[i].s == s) return &eps[i];
    return NULL;
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
    struct ep *e = ep_of(s);
    if (!e) return 0;
    if ((ev == COAP_EVENT_DTLS_CONNECTED || ev == COAP_EVENT_SESSION_CONNECTED) && !e->connected) {
        e->connected = true;
        n_connected++;
    } else if (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_SESSION_FAILED) {
        n_failed++;
    }
    return 0;
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *got,
                                   const coap_mid_t mid)
{
    (void)sent;
    (void)mid;
    struct ep *e = ep_of(s);
    if (!e || !e->busy) return COAP_RESPONSE_OK;
    if (coap_pdu_get_code(got) != COAP_RESPONSE_CODE(204)) n_failed++;
    lat[n_done++] = (now() - e->t0) * 1e3;
    e->busy = false;
    return COAP_RESPONSE_OK;
}

static void post(struct ep *e, const char *topic, const uint8_t *body, size_t len)
{
    coap_pdu_t *p = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST,
                                  coap_new_message_id(e->s), coap_session_max_pdu_size(e->s));
    uint8_t tok[8];
    size_t tl = 0;
    coap_session_new_token(e->s, &tl, tok);
    coap_add_token(p, tl, tok);
    coap_add_option(p, COAP_OPTION_URI_PATH, 1, (const uint8_t *)"t");
    coap_add_option(p, COAP_OPTION_URI_PATH, strlen(topic), (const uint8_t *)topic);
    coap_add_data(p, len, body);
    e->busy = true;
    e->t0 = now();
    if (coap_send(e->s, p) == COAP_INVALID_MID) n_failed++;
}

/* libcoap's work now, then a wait for its descriptor (at most 5 ms: its
 * own timers are in there too). */
static void turn(coap_context_t *ctx)
{
    coap_io_process(ctx, COAP_IO_NO_WAIT);
    struct pollfd p = {.fd = coap_context_get_coap_fd(ctx), .events = POLLIN};
    poll(&p, 1, 5);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int port = 0, n = 1000, size = 64, c = 1;
    const char *topic = "bench", *id = NULL, *key = NULL;
    bool connect_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-H")) {
            connect_only = true;
            continue;
        }
        if (!v) return 2;
        i++;
        if (!strcmp(a, "-p"))
            port = atoi(v);
        else if (!strcmp(a, "-n"))
            n = atoi(v);
        else if (!strcmp(a, "-s"))
            size = atoi(v);
        else if (!strcmp(a, "-c"))
            c = atoi(v);
        else if (!strcmp(a, "-t"))
            topic = v;
        else if (!strcmp(a, "-u"))
            id = v;
        else if (!strcmp(a, "-k"))
            key = v;
        else
            return 2;
    }
    if (port <= 0 || c < 1 || c > MAX_EP || n < 0 || size < 0 || size > 1024 || (!id != !key)) {
        fprintf(stderr, "usage: coapsperf -p PORT -n REQUESTS -s BYTES [-c ENDPOINTS] [-t TOPIC] "
                        "[-u IDENTITY -k KEY] [-H]\n");
        return 2;
    }
    coap_startup();
    coap_set_log_level(getenv("COAPSPERF_DEBUG") ? LOG_DEBUG : LOG_ERR);
    coap_context_t *ctx = coap_new_context(NULL);
    coap_register_event_handler(ctx, on_event);
    coap_register_response_handler(ctx, on_response);
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)port);
    dst.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dst.size = sizeof dst.addr.sin;
    lat = calloc((size_t)n + 1, sizeof *lat);
    uint8_t body[1024];
    memset(body, 'r', sizeof body);
    double t0 = now();
    for (int i = 0; i < c; i++) {
        if (id) {
            coap_dtls_cpsk_t cp = {.version = COAP_DTLS_CPSK_SETUP_VERSION};
            cp.psk_info.identity.s = (const uint8_t *)id;
            cp.psk_info.identity.length = strlen(id);
            cp.psk_info.key.s = (const uint8_t *)key;
            cp.psk_info.key.length = strlen(key);
            eps[i].s = coap_new_client_session_psk2(ctx, NULL, &dst, COAP_PROTO_DTLS, &cp);
        } else {
            eps[i].s = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
            eps[i].connected = true; /* nothing to set up */
            n_connected++;
        }
        if (!eps[i].s) return 1;
        n_ep++;
    }
    while (n_connected < c && n_failed == 0 && now() - t0 < 60)
        turn(ctx);
    double connect_s = now() - t0;
    if (n_connected < c) {
        fprintf(stderr, "coapsperf: %d of %d sessions connected\n", n_connected, c);
        return 1;
    }
    int sent = 0;
    double t1 = now();
    while (!connect_only && n_done < n && n_failed == 0 && now() - t1 < 600) {
        for (int i = 0; i < c && sent < n; i++)
            if (!eps[i].busy) {
                post(&eps[i], topic, body, (size_t)size);
                sent++;
            }
        turn(ctx);
    }
    double secs = now() - t1;
    qsort(lat, (size_t)n_done, sizeof *lat, cmp);
    printf("sessions=%d connect_s=%.3f sent=%d seconds=%.3f rec_s=%.0f p50_ms=%.2f p99_ms=%.2f\n",
           c, connect_s, n_done, secs, n_done / (secs > 0 ? secs : 1), n_done ? lat[n_done / 2] : 0,
           n_done ? lat[(size_t)(n_done * 0.99)] : 0);
    for (int i = 0; i < n_ep; i++)
        coap_session_release(eps[i].s);
    coap_free_context(ctx);
    coap_cleanup();
    free(lat);
    return n_failed || (!connect_only && n_done < n) ? 1 : 0;
}
