/* Internals shared by the MQTT pull bridge's files: a bridge's settings and
 * connection state (mqtt_bridge.c runs the connection, mqtt_bridge_conf.c
 * reads the settings from mqtt.bridge.<name>.*). Everything here runs on
 * the loop thread. */
#ifndef ED_BRIDGE_MQTT_BRIDGE_INT_H
#define ED_BRIDGE_MQTT_BRIDGE_INT_H

#include "bridge/mqtt_bridge.h"
#include "bridge/mqtt_codec.h"
#include "bridge/mqtt_route.h"
#include "core/ingest.h"
#include "platform/tls.h"

#define MAX_FILTERS 32

enum state { S_DOWN, S_DIALING, S_CONNECTING, S_UP };

struct slot {
    uint16_t id;
    uint8_t type; /* PUBACK or PUBREC */
    bool done;
    int status;
};

typedef struct link link;
struct link {
    ed_mqtt_bridges *s;
    char name[32];
    /* settings */
    char host[256];
    uint16_t port;
    ed_tls_conf *tls;
    char client_id[256];
    char *username, *password; /* NULL: not sent */
    uint8_t level;
    uint16_t keepalive_s;
    uint32_t cap; /* acknowledgement slots: mqtt.bridge.<name>.max.inflight */
    char *filters_text;
    struct ed_mqtt_bytes filters[MAX_FILTERS];
    uint8_t qos[MAX_FILTERS];
    int n_filters;
    /* connection */
    enum state state;
    ed_stream *st;
    ed_timer timer;
    uint32_t n_failures;
    uint64_t deadline_ms, last_tx_ms, ping_ms; /* ping_ms: PINGREQ unanswered since (0: none) */
    bool subscribed, paused, failed;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint8_t *in;
    size_t in_len, in_cap;
    /* acknowledgements owed, oldest at seq head */
    struct slot *ring;
    uint64_t head;
    uint32_t n;
    uint8_t *qos2; /* bitmap: QoS 2 ids stored and not yet released */
    link *drain_next;
    bool drain;
    /* status */
    bool connected;
    uint64_t n_in, n_dup, n_dropped, n_connects;
    char last_error[200];
};

struct ed_mqtt_bridges {
    ed_broker *b;
    ed_mqtt_bridge_dial_fn dial; /* NULL: ed_plat_tcp_dial */
    void *dial_arg;
    ed_ingest *ingest;
    ed_mqtt_routes *routes;
    uint8_t *key_buf; /* route KEY templates' output (NULL: no route has one) */
    uint32_t max_packet_len;
    link *links;
    int n_links;
    link *drains; /* links with acknowledgements completed by the batch at hand */
};

/* Reads bridge br's settings into l (l->s = s): ED_OK, or ED_ERR_INVAL with
 * why naming the key at fault, ED_ERR_NOMEM. */
int ed_mqtt_bridge_link_setup(ed_mqtt_bridges *s, link *l, const struct ed_config_bridge *br,
                              char *why, size_t why_len);
/* Closes l's connection and frees what its settings hold (set up or not). */
void ed_mqtt_bridge_link_free(link *l);

#endif
