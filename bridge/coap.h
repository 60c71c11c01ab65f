/* The CoAP listener: constrained sensors POST or PUT readings over UDP
 * (RFC 7252) into the log, answered 2.04 Changed only once the record is on
 * flash. A request to /t/TOPIC appends its payload as one record to Kafka
 * topic TOPIC (Uri-Query k=KEY sets the key); any other path is routed
 * like an MQTT topic name (coap.routes, mqtt_route.h: the first matching
 * filter's topic, else '/' becomes '.') with the path as the key. The
 * Content-Format option is kept as the record header "content-format".
 * Records are gathered per partition (core/ingest.h); a confirmable
 * request gets the empty ACK at once and a separate confirmable 2.04 after
 * the fdatasync covering its record, a non-confirmable one a NON 2.04 at
 * the same moment; a retransmission while it waits is not appended again.
 * Over coaps:// (DTLS-PSK) the client's PSK identity is its principal
 * User:identity for the ACLs, as an MQTT user name is.
 * Failures: 4.00 (bad path or topic name), 4.03 (ACLs), 4.04 (no such
 * topic, auto-creation off), 4.05 (method), 4.13 (record too large), 5.03
 * (storage refused or failed, too many requests waiting), each with a
 * diagnostic payload. The CoAP machinery is libcoap's, behind
 * platform/coap.h. */
#ifndef ED_BRIDGE_COAP_H
#define ED_BRIDGE_COAP_H

#include "core/broker.h"
#include "platform/coap.h"

typedef struct ed_coap ed_coap;

/* Starts the CoAP service of a broker made by ed_broker_open from
 * coap.listeners (none: nothing is started, *out is NULL); the broker owns
 * it from here. ED_OK, or an error with why. */
int ed_coap_start(ed_broker *b, ed_coap **out, char *why, size_t why_len);

/* A listener for broker b (b->loop, b->topics and b->cfg set; b->acl may
 * be NULL: no authorizer); dtls: it will have DTLS endpoints (libcoap with
 * OpenSSL is loaded only then). The routes (coap.routes) are parsed here:
 * ED_ERR_INVAL with why naming the bad route. */
int ed_coap_new(ed_broker *b, bool dtls, char *why, size_t why_len, ed_coap **out);
/* Frees the listener; requests still waiting for the disk get no answer
 * (their clients retransmit). */
void ed_coap_free(ed_coap *m);
/* Listens on UDP host:port (port 0 = any); *bound gets the port. */
int ed_coap_listen(ed_coap *m, const char *host, uint16_t port, uint16_t *bound);
/* The same for DTLS with pre-shared keys: psks (bridge/coap_psk.h) become
 * the listener's keys (it frees them); a client's identity is its
 * principal, User:identity, for the ACLs. */
typedef struct ed_coap_psks ed_coap_psks;
int ed_coap_listen_dtls(ed_coap *m, ed_coap_psks *psks, const char *host, uint16_t port,
                        uint16_t *bound);
/* Appends every gathered batch now (the linger timer does this itself). */
void ed_coap_flush(ed_coap *m);
/* Runs libcoap's pending work now (the loop does this itself). */
void ed_coap_process(ed_coap *m);

struct ed_coap_stats {
    uint64_t n_requests; /* requests handled (retransmissions libcoap absorbed not counted) */
    uint64_t n_appended; /* records taken into the log */
    uint64_t n_durable;  /* answered 2.04 after the flush */
    uint64_t n_failed;   /* answered with an error */
};
void ed_coap_stats_get(const ed_coap *m, struct ed_coap_stats *out);

/* Client endpoints are remembered for the HTTP API: the 256 seen most
 * recently, each forgotten after 10 minutes without a request. */
#define ED_COAP_CLIENTS_MAX    256
#define ED_COAP_CLIENT_IDLE_MS (10u * 60u * 1000u)
struct ed_coap_client {
    const char *peer;     /* host:port */
    const char *identity; /* the DTLS-PSK identity (NULL: plain UDP) */
    uint64_t n_requests;
    uint64_t last_ms; /* the loop's clock at its last request */
};
/* Calls fn for each endpoint seen within ED_COAP_CLIENT_IDLE_MS until it
 * returns false. */
void ed_coap_clients_each(const ed_coap *m, bool (*fn)(void *arg, const struct ed_coap_client *c),
                          void *arg);

#endif
