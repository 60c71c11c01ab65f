/* Internals shared by the CoAP listener's files: requests and writes
 * (coap.c), reads and observed topics (coap_read.c). Everything here runs
 * on the loop thread. */
#ifndef ED_BRIDGE_COAP_INT_H
#define ED_BRIDGE_COAP_INT_H

#include "bridge/coap.h"
#include "bridge/coap_psk.h"
#include "bridge/mqtt_route.h"
#include "core/ingest.h"

#define PATH_MAX_LEN 512
#define KEY_MAX_LEN  255

/* A topic path observers registered on: its libcoap resource, and whether
 * an append is still to be announced. */
struct ed_coap_observed {
    char topic[ED_TOPIC_NAME_MAX + 1];
    ed_coap_res *res;
    bool dirty;
};

/* A client endpoint seen recently (address:port), for the HTTP API. */
#define PEERS_MAX     ED_COAP_CLIENTS_MAX
#define PEER_ADDR_MAX 64
struct ed_coap_peer {
    char addr[PEER_ADDR_MAX];                    /* empty: a free slot */
    char identity[ED_COAP_PSK_IDENTITY_MAX + 1]; /* empty: none (plain UDP) */
    uint64_t n_requests;
    uint64_t last_ms; /* the loop's clock */
    uint64_t seq;     /* the listener's request count then: the least recent is replaced */
};

struct ed_coap {
    ed_broker *b;
    ed_coap_ctx *ctx;
    ed_mqtt_routes *routes;
    uint8_t key_buf[KEY_MAX_LEN]; /* a route's KEY template output */
    ed_ingest *ingest;
    ed_coap_psks *psks; /* coaps:// clients' keys (NULL: none) */
    uint32_t max_pending;
    uint32_t rr; /* keyless records: round robin over partitions */
    /* observed topics (coap_read.c) */
    struct ed_coap_observed *obs;
    int n_obs, max_observed;
    uint32_t max_observers; /* of one topic; 0 = no limit */
    bool listening;         /* the append listener is registered */
    ed_timer notify_timer;
    struct ed_coap_stats stats;
    struct ed_coap_peer peers[PEERS_MAX]; /* endpoints seen recently, oldest replaced */
};

/* A failure answered with its code and a diagnostic payload (one
 * rate-limited log line). */
void ed_coap_refuse(ed_coap *m, ed_coap_req *rq, int code, const char *path, const char *why);
/* Whether path is t/TOPIC, and TOPIC copied into name (ED_TOPIC_NAME_MAX
 * + 1): ED_OK or 4.00 with why. */
bool ed_coap_topic_path(const char *path);
int ed_coap_topic_name(const char *path, char *name, const char **why);
/* The CoAP code of an ed_target_topic error. */
int ed_coap_code_of_target(int rc);

/* GET (coap_read.c). */
void ed_coap_on_read(ed_coap *m, ed_coap_req *rq, const char *path);
/* Forgets the observed topics (the context frees their resources). */
void ed_coap_reads_free(ed_coap *m);

#endif
