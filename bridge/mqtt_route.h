/* Where an MQTT publish goes in the log: MQTT topic names and filters (+ and
 * # wildcards), the route table that maps topic filters to Kafka topics, the
 * default mapping (MQTT topic with '/' replaced by '.', other characters
 * Kafka does not allow replaced by '_'), and Kafka's default partitioner
 * (murmur2 of the key modulo the partition count, core/partitioner.h).
 *
 * Route syntax (config key mqtt.routes): entries separated by ';', each
 * FILTER=>KAFKA_TOPIC, e.g. "sensors/+/temp=>temperature; plant/#=>plant".
 * The first entry whose filter matches wins; a topic no entry matches takes
 * the default mapping. */
#ifndef ED_BRIDGE_MQTT_ROUTE_H
#define ED_BRIDGE_MQTT_ROUTE_H

#include "platform/base.h"

#define ED_MQTT_ROUTES_MAX 64

/* A topic name a client may publish to: 1..65535 bytes, no '+' or '#'. */
bool ed_mqtt_topic_name_ok(const uint8_t *p, size_t len);
/* A topic filter: '+' and '#' each fill a whole level, '#' only last. */
bool ed_mqtt_filter_ok(const uint8_t *p, size_t len);
/* Whether topic name t matches filter f (a '$' topic is not matched by a
 * filter that starts with a wildcard). */
bool ed_mqtt_filter_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen);

typedef struct ed_mqtt_routes ed_mqtt_routes;
/* Parses a route table (NULL or "" = no routes). ED_ERR_INVAL with a line in
 * why naming the bad entry and the problem. */
int ed_mqtt_routes_parse(const char *spec, ed_mqtt_routes **out, char *why, size_t why_len);
void ed_mqtt_routes_free(ed_mqtt_routes *r);
int ed_mqtt_routes_count(const ed_mqtt_routes *r);

/* The Kafka topic for MQTT topic t, NUL-terminated into out (out_len >= 250):
 * ED_OK, or ED_ERR_INVAL with *why (static text) when no legal Kafka name
 * follows from it (longer than 249 characters, "." or ".."). */
int ed_mqtt_routes_resolve(const ed_mqtt_routes *r, const uint8_t *t, size_t tlen, char *out,
                           size_t out_len, const char **why);

#endif
