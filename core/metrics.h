/* The broker's metrics registry: counters, gauges and histograms that the
 * places where things happen bump with one call (records and bytes in and
 * out per topic and protocol, requests and errors per protocol and API,
 * connections per protocol, flushes with their latency and size). All of
 * it is fixed-size memory inside this module, so counting never allocates;
 * it is read on the loop thread by the /metrics page (bridge/http_metrics.c).
 * Everything is called from the loop thread only. */
#ifndef ED_CORE_METRICS_H
#define ED_CORE_METRICS_H

#include "platform/base.h"

enum ed_metrics_proto {
    ED_METRICS_OTHER, /* not said: "other" */
    ED_METRICS_KAFKA,
    ED_METRICS_MQTT,
    ED_METRICS_HTTP,
    ED_METRICS_COAP,
    ED_METRICS_N_PROTO
};

/* Topics with their own counters; traffic of more topics is counted under
 * the topic "_other". */
#ifndef ED_METRICS_MAX_TOPICS
#define ED_METRICS_MAX_TOPICS 128
#endif
/* API numbers counted per protocol (Kafka API keys, MQTT packet types,
 * HTTP routes); larger ones count as ED_METRICS_MAX_API - 1. */
#define ED_METRICS_MAX_API     96
#define ED_METRICS_MAX_BUCKETS 14

struct ed_metrics_hist {
    int n_bounds;
    uint64_t bounds[ED_METRICS_MAX_BUCKETS];     /* upper bounds, ascending (the unit of sum) */
    uint64_t counts[ED_METRICS_MAX_BUCKETS + 1]; /* per bucket, not cumulative; last: +Inf */
    uint64_t sum;
    uint64_t count;
};

struct ed_metrics_topic {
    char name[250];
    uint64_t n_in[ED_METRICS_N_PROTO], len_in[ED_METRICS_N_PROTO];
    uint64_t n_out[ED_METRICS_N_PROTO], len_out[ED_METRICS_N_PROTO];
};

struct ed_metrics {
    int n_topics;
    struct ed_metrics_topic topics[ED_METRICS_MAX_TOPICS]; /* the last one is "_other" when full */
    uint64_t n_requests[ED_METRICS_N_PROTO][ED_METRICS_MAX_API];
    uint64_t n_errors[ED_METRICS_N_PROTO][ED_METRICS_MAX_API];
    uint64_t n_conns_accepted[ED_METRICS_N_PROTO];
    int64_t n_conns_open[ED_METRICS_N_PROTO];
    uint64_t n_bad_input[ED_METRICS_N_PROTO];
    uint64_t n_flushes;
    uint64_t len_flushed;             /* bytes of log segments made durable */
    struct ed_metrics_hist flush_ns;  /* flush latency: submit to completion, ns */
    struct ed_metrics_hist flush_len; /* bytes one flush made durable (group commit) */
};

/* The registry (zeroed at start; the histograms' bounds set). */
const struct ed_metrics *ed_metrics_get(void);
/* The label value of a protocol ("kafka", "mqtt", ...). */
const char *ed_metrics_proto_name(enum ed_metrics_proto p);
/* The protocol a connection engine protocol name stands for ("Kafka"). */
enum ed_metrics_proto ed_metrics_proto_of(const char *name);

/* n records of len bytes appended to topic by protocol p. */
void ed_metrics_in(enum ed_metrics_proto p, const char *topic, uint64_t n, uint64_t len);
/* n records of len bytes sent from topic to a client of protocol p. */
void ed_metrics_out(enum ed_metrics_proto p, const char *topic, uint64_t n, uint64_t len);
/* A request of API api answered (error: refused or failed). */
void ed_metrics_request(enum ed_metrics_proto p, int api, bool error);
/* A connection of protocol p accepted (delta 1) or closed (-1). */
void ed_metrics_conn(enum ed_metrics_proto p, int delta);
/* A connection of protocol p closed for bad input. */
void ed_metrics_bad_input(enum ed_metrics_proto p);
/* One flush made len bytes durable, ns after it was asked for. */
void ed_metrics_flush(uint64_t len, uint64_t ns);
/* Zeroes every counter (tests). */
void ed_metrics_reset(void);

#endif
