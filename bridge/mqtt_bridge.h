/* MQTT pull bridges: Eddy as an MQTT client of another broker (a site's
 * Mosquitto), on the broker's own loop. Each bridge (config keys
 * mqtt.bridge.<name>.*) dials its source (TLS optional), connects with a
 * persistent session (3.1.1 Clean Session 0, MQTT 5 Session Expiry never),
 * subscribes to its filters, routes each PUBLISH through mqtt.routes into
 * the log (the mqtt.topic and mqtt.qos headers as the listener's records
 * have) and to the listener's live subscribers (ed_mqtt_deliver_pulled), and
 * acknowledges QoS 1 (PUBACK) and QoS 2 (PUBREC) only once the record is
 * durable; many messages are in flight at once, made durable together by
 * one flush. A QoS 2 id redelivered before its PUBREL is not stored again.
 * Reconnects with exponential backoff and jitter; PINGREQ when idle and a
 * missing answer closes a half-open connection. */
#ifndef ED_BRIDGE_MQTT_BRIDGE_H
#define ED_BRIDGE_MQTT_BRIDGE_H

#include "core/broker.h"

typedef struct ed_mqtt_bridges ed_mqtt_bridges;
/* The name the service is registered under (ed_broker_service_obj). */
#define ED_MQTT_BRIDGE_SERVICE "MQTT bridges"

/* Starts every configured bridge of broker b (none: *out NULL, ED_OK); the
 * broker owns the service from here. ED_ERR_INVAL with why naming the
 * bridge key at fault (no address or topics, a bad filter, route or TLS
 * file). */
int ed_mqtt_bridge_start(ed_broker *b, ed_mqtt_bridges **out, char *why, size_t why_len);

/* How a bridge reaches its source (tests and fuzz targets pass in-memory
 * pairs): the contract of ed_plat_tcp_dial. */
typedef int (*ed_mqtt_bridge_dial_fn)(void *dial_arg, ed_loop *l, const char *host, uint16_t port,
                                      ed_dial_cb cb, void *cb_arg, ed_stream **out);
/* The bridges of b->cfg, dialling at once through dial (NULL:
 * ed_plat_tcp_dial), not registered with the broker (free with
 * ed_mqtt_bridge_free). *out is NULL when no bridge is configured. */
int ed_mqtt_bridge_new(ed_broker *b, ed_mqtt_bridge_dial_fn dial, void *dial_arg,
                       ed_mqtt_bridges **out, char *why, size_t why_len);
/* Closes every connection (unacknowledged messages come again from the
 * source) and frees; durable waits still registered complete silently. */
void ed_mqtt_bridge_free(ed_mqtt_bridges *s);
/* Appends every gathered batch now (the linger timer does this itself). */
void ed_mqtt_bridge_flush(ed_mqtt_bridges *s);

/* What one bridge is doing, for status and tests. */
struct ed_mqtt_bridge_status {
    const char *name;
    bool connected;         /* CONNACK accepted */
    uint64_t n_in;          /* messages stored */
    uint64_t n_dup;         /* QoS 2 redeliveries not stored again */
    uint64_t n_dropped;     /* messages no route or topic takes (acknowledged, logged) */
    uint64_t n_connects;    /* sessions accepted by the source */
    uint32_t in_flight;     /* QoS 1/2 messages waiting for the disk */
    const char *last_error; /* "" when none */
};
int ed_mqtt_bridge_count(const ed_mqtt_bridges *s);
void ed_mqtt_bridge_status_get(const ed_mqtt_bridges *s, int i, struct ed_mqtt_bridge_status *out);

#endif
