/* Where a published message goes in the log: topic names and filters (+ and
 * # wildcards, '/' between levels, as MQTT and CoAP paths use them), the
 * route table that maps topic filters to Kafka topics and record keys, the
 * default mapping (topic with '/' replaced by '.', other characters Kafka
 * does not allow replaced by '_'; key = the topic). The partition is then
 * Kafka's default partitioner's (murmur2 of the key, core/partitioner.h).
 * Protocol-neutral: names are byte runs, nothing here knows MQTT packets.
 *
 * Route syntax (config key mqtt.routes): entries separated by ';', each
 * FILTER=>TOPIC or FILTER=>TOPIC|KEY, e.g.
 *   "sensors/+/temp=>temperature; windfarm/+site/turbine/+id/#=>turbine|{site}-{id}".
 * A filter level "+name" matches one level and captures it as name; a last
 * level "#name" captures the rest (possibly empty). TOPIC and KEY are
 * templates: literal text with {name} for a capture and {topic} for the
 * whole published topic. Without KEY the key is the published topic. The
 * first entry whose filter matches wins; a topic no entry matches takes the
 * default mapping. */
#ifndef ED_BRIDGE_MQTT_ROUTE_H
#define ED_BRIDGE_MQTT_ROUTE_H

#include "platform/base.h"

#define ED_MQTT_ROUTES_MAX 64
/* Parts (literal runs, {name}, {topic}) of one template. */
#define ED_MQTT_ROUTE_PARTS_MAX 32
/* The longest record key a KEY template may give (an MQTT topic's limit). */
#define ED_MQTT_ROUTE_KEY_MAX 65535

/* A topic name a client may publish to: 1..65535 bytes, no '+' or '#'. */
bool ed_mqtt_topic_name_ok(const uint8_t *p, size_t len);
/* A topic filter: '+' and '#' each fill a whole level, '#' only last. */
bool ed_mqtt_filter_ok(const uint8_t *p, size_t len);
/* Whether topic name t matches filter f (a '$' topic is not matched by a
 * filter that starts with a wildcard). */
bool ed_mqtt_filter_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen);

typedef struct ed_mqtt_routes ed_mqtt_routes;
/* Parses a route table (NULL or "" = no routes) given under config key
 * key_name (e.g. "mqtt.routes"). ED_ERR_INVAL with a line in why naming the
 * key, the bad entry and the problem (bad filter or capture name, unknown
 * {name}, unbalanced braces, a literal Kafka does not allow in topic
 * names, too many routes, captures or template parts). */
int ed_mqtt_routes_parse_as(const char *key_name, const char *spec, ed_mqtt_routes **out, char *why,
                            size_t why_len);
/* The same under "mqtt.routes". */
int ed_mqtt_routes_parse(const char *spec, ed_mqtt_routes **out, char *why, size_t why_len);
void ed_mqtt_routes_free(ed_mqtt_routes *r);
int ed_mqtt_routes_count(const ed_mqtt_routes *r);
/* Whether some route has a KEY template (callers then need a key buffer). */
bool ed_mqtt_routes_have_keys(const ed_mqtt_routes *r);

/* Where topic t goes: the Kafka topic, NUL-terminated into topic
 * (topic_len >= 250), and the record key: *key points into t (the default
 * key) or into key_buf (a KEY template's output, at most key_cap bytes).
 * key_buf NULL: the key is not computed (*key and *key_len untouched).
 * ED_OK; ED_ERR_INVAL with *why (static text) when no legal Kafka name
 * follows (longer than 249 characters, "." or "..", a character Kafka does
 * not allow from a capture); ED_ERR_TOOBIG when the key exceeds key_cap. */
int ed_mqtt_routes_apply(const ed_mqtt_routes *r, const uint8_t *t, size_t tlen, char *topic,
                         size_t topic_len, uint8_t *key_buf, size_t key_cap, const uint8_t **key,
                         size_t *key_len, const char **why);
/* Parses publish routes (config key mqtt.publish.routes), the way back
 * from the log to MQTT subscribers: entries KAFKA_TOPIC_PATTERN=>MQTT_TOPIC
 * separated by ';', the pattern's levels separated by '.' ('+name' and
 * '#name' capture as above), the template's parts literal text (no '+' or
 * '#'), {name}, {topic} (the Kafka topic) and {key} (the record's key).
 * Errors as ed_mqtt_routes_parse, naming mqtt.publish.routes. */
int ed_mqtt_publish_routes_parse(const char *spec, ed_mqtt_routes **out, char *why, size_t why_len);
/* The MQTT topic of a record of Kafka topic ktopic with key (key_p,
 * key_len; NULL/0 for none) through publish routes r (first match wins;
 * none: '.' replaced by '/'), into out (cap bytes): its length, or
 * SIZE_MAX with *why (static text) when it does not fit or is no legal
 * MQTT topic name (empty, '+', '#', NUL, not UTF-8). */
size_t ed_mqtt_publish_routes_apply(const ed_mqtt_routes *r, const char *ktopic,
                                    const uint8_t *key_p, size_t key_len, uint8_t *out, size_t cap,
                                    const char **why);
/* The Kafka topic alone (see ed_mqtt_routes_apply). */
int ed_mqtt_routes_resolve(const ed_mqtt_routes *r, const uint8_t *t, size_t tlen, char *out,
                           size_t out_len, const char **why);

#endif
