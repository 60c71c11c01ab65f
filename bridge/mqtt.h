/* The MQTT listener: MQTT 3.1.1 and 5.0 clients on the broker's loop.
 * Sessions (CONNECT, keep-alive at 1.5x, take-over by client id, wills on
 * unclean disconnects), PUBLISH into the log through the routes
 * (mqtt_route.h) with publishes gathered per partition into one RecordBatch
 * (short linger, size cap), QoS 1 PUBACK and QoS 2 PUBREC only once the
 * batch holding the publish is durable, exactly-once QoS 2 within a
 * connection, and live SUBSCRIBE delivery of MQTT publishes with + and #
 * filters (QoS 1/2 deliveries beyond a subscriber's window wait in a bounded
 * queue). Persistent sessions (clean session 0, Session Expiry) are kept
 * in __mqtt_sessions and delivered from the log (mqtt_session*.c). Bounded
 * buffers everywhere; a connection whose output
 * backs up or whose acknowledgements are all in flight is not read. */
#ifndef ED_BRIDGE_MQTT_H
#define ED_BRIDGE_MQTT_H

#include "core/broker.h"

typedef struct ed_mqtt ed_mqtt;
/* The name the listener is registered under (ed_broker_service_obj). */
#define ED_MQTT_SERVICE "MQTT"

/* Settings (from the broker's config: mqtt.* keys). */
struct ed_mqtt_limits {
    uint32_t max_packet_len; /* mqtt.max.packet.bytes */
    int32_t n_conns_max;     /* mqtt.max.connections */
    uint16_t n_inflight_max; /* mqtt.max.inflight */
    uint32_t linger_ms;      /* mqtt.linger.ms */
    size_t batch_len;        /* mqtt.batch.bytes */
    uint32_t connect_timeout_ms;
    uint32_t n_queued_max;  /* mqtt.max.queued.messages: held per subscriber */
    size_t queued_max_len;  /* mqtt.max.queued.bytes: held per subscriber */
    size_t out_ceiling_len; /* stop reading while this much output waits */
    size_t out_max_len;     /* close a connection whose output exceeds this */
    /* mqtt.topic.alias.max: CONNACK's Topic Alias Maximum */
    uint16_t topic_alias_max;
    /* mqtt.keepalive.max: 0 = whatever the client asks */
    uint16_t keepalive_max_s;
};

/* Starts the MQTT service of a broker made by ed_broker_open from
 * mqtt.listeners (none: nothing is started, *out is NULL); the broker
 * owns it from here. ED_OK, or an error with why. */
int ed_mqtt_start(ed_broker *b, ed_mqtt **out, char *why, size_t why_len);

/* A listener for broker b (b->loop, b->topics and b->cfg set). The routes
 * (mqtt.routes) are parsed here: ED_ERR_INVAL with why naming the bad
 * route. */
int ed_mqtt_new(ed_broker *b, char *why, size_t why_len, ed_mqtt **out);
/* Closes every connection and listener; pending acknowledgements are
 * dropped (their clients resend after reconnecting). */
void ed_mqtt_free(ed_mqtt *m);
/* Listens on host:port (port 0 = any); *bound gets the port (may be NULL). */
int ed_mqtt_listen(ed_mqtt *m, const char *host, uint16_t port, uint16_t *bound);
/* Shutdown: stop accepting, append what is gathered, close every
 * connection (DISCONNECT 0x8B to MQTT 5 clients). */
void ed_mqtt_shutdown(ed_mqtt *m);
/* Appends every gathered batch now (the linger timer does this itself). */
void ed_mqtt_flush(ed_mqtt *m);
int32_t ed_mqtt_n_conns(const ed_mqtt *m);
const struct ed_mqtt_limits *ed_mqtt_limits_get(const ed_mqtt *m);

struct ed_mqtt_stats {
    uint64_t n_accepted;
    uint64_t n_refused;   /* at accept: connection limits or memory */
    uint64_t n_bad;       /* closed for bad input (logged) */
    uint64_t n_keepalive; /* closed for a missed keep-alive */
    uint64_t n_published; /* publishes appended to the log */
    uint64_t n_batches;   /* record batches appended */
    uint64_t n_failed;    /* publishes refused (route, topic or storage error) */
    uint64_t n_delivered; /* PUBLISH packets sent to subscribers */
    uint64_t n_dropped;   /* deliveries dropped: subscriber's queue full (logged), packet too
                           * big for it, or still queued when it closed */
    uint64_t n_wills;     /* will messages published */
    uint64_t n_pauses;    /* times a connection stopped being read */
    uint64_t n_timeouts;  /* closed for a packet not finished in time */
};
void ed_mqtt_stats_get(const ed_mqtt *m, struct ed_mqtt_stats *out);

/* One connected client, as the HTTP API lists it (strings valid until the
 * loop runs again). */
struct ed_mqtt_client {
    const char *client_id;
    const char *peer;
    const char *user; /* the authenticated user name (NULL: anonymous) */
    uint8_t level;    /* 4: MQTT 3.1.1, 5: MQTT 5 */
    bool persistent;  /* a persistent session (clean session 0, or a Session Expiry) */
    uint16_t keepalive_s;
    uint64_t accepted_ms; /* the loop's clock when the connection was accepted */
    int n_subs;
    uint32_t n_in_flight_in;  /* QoS 1/2 publishes whose acknowledgement is owed */
    uint32_t n_in_flight_out; /* QoS 1/2 deliveries awaiting the client's */
};
/* Calls fn for each connected client (CONNECT accepted, not closing) until
 * it returns false. */
void ed_mqtt_clients_each(const ed_mqtt *m, bool (*fn)(void *arg, const struct ed_mqtt_client *c),
                          void *arg);

/* Delivers a message that reached the log another way than through this
 * listener (the pull bridge: a message pulled from a site broker and
 * stored) to the live subscriptions, as a publish to the listener is: at
 * the lower QoS, RETAIN for Retain As Published. Persistent sessions are
 * not served here: they read the record from the log. */
struct ed_mqtt_publish;
void ed_mqtt_deliver_pulled(ed_mqtt *m, const struct ed_mqtt_publish *pk);

/* Serves a stream as if accepted (tests drive in-memory streams this way). */
void ed_mqtt_adopt(ed_mqtt *m, ed_stream *st);
/* Frees closed connections no durable wait refers to any more (the loop
 * does this on its own). */
void ed_mqtt_reap(ed_mqtt *m);

#endif
