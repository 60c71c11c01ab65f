/* libFuzzer target for the route table (bridge/mqtt_route.h): the input's
 * first line is parsed as a route spec (mqtt.routes), the rest is a
 * published topic routed through it. A spec is either taken or refused
 * with ED_ERR_INVAL and a line naming it; a routed topic gives a legal
 * Kafka topic name and a key (the topic, or a template's output within the buffer), or a refusal
 * with a reason. The same first line is also parsed as publish routes
 * (mqtt.publish.routes) and the rest, cut at its first NUL, taken as a
 * Kafka topic with the whole rest as the record key: a legal MQTT topic
 * within the buffer or a refusal with a reason. Nothing may crash or leak. */
#include <stdlib.h>
#include <string.h>

#include "bridge/mqtt_route.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"

static uint8_t key_buf[ED_MQTT_ROUTE_KEY_MAX];

static uint8_t mqtt_topic[65535];

/* The way back: spec as publish routes, t as Kafka topic and key. */
static void reverse(const char *spec, const uint8_t *t, size_t tlen)
{
    char why[256] = "";
    ed_mqtt_routes *r = NULL;
    int rc = ed_mqtt_publish_routes_parse(spec, &r, why, sizeof why);
    if (rc != ED_OK) {
        if (rc != ED_ERR_INVAL || strncmp(why, "mqtt.publish.routes: route '", 28) != 0) abort();
        return;
    }
    char *ktopic = ed_strndup((const char *)t, tlen);
    if (ktopic) {
        const char *w = NULL;
        size_t cap = tlen && (t[0] & 1) ? 16 : sizeof mqtt_topic;
        size_t n = ed_mqtt_publish_routes_apply(r, ktopic, t, tlen, mqtt_topic, cap, &w);
        if (n == SIZE_MAX ? !w : n > cap || !ed_mqtt_topic_name_ok(mqtt_topic, n)) abort();
        ed_free(ktopic);
    }
    ed_mqtt_routes_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t spec_len = nl ? (size_t)(nl - data) : size;
    char *spec = ed_strndup((const char *)data, spec_len);
    if (!spec) return 0;
    const uint8_t *t = nl ? nl + 1 : data + size;
    size_t tlen = ED_MIN(size - (size_t)(t - data), (size_t)65535);
    char why[256] = "";
    ed_mqtt_routes *r = NULL;
    reverse(spec, t, tlen);
    int rc = ed_mqtt_routes_parse(spec, &r, why, sizeof why);
    ed_free(spec);
    if (rc != ED_OK) {
        if (rc != ED_ERR_INVAL || strncmp(why, "mqtt.routes: route '", 20) != 0) abort();
        return 0;
    }
    char topic[ED_TOPIC_NAME_MAX + 1];
    const uint8_t *key = NULL;
    size_t key_len = 0;
    const char *w = NULL;
    /* a small key buffer too, so that the bound is exercised */
    size_t cap = t < data + size && (t[0] & 1) ? 16 : sizeof key_buf;
    rc = ed_mqtt_routes_apply(r, t, tlen, topic, sizeof topic, key_buf, cap, &key, &key_len, &w);
    if (rc == ED_OK) {
        if (!ed_topics_valid_name(topic)) abort();
        if (!((key == t && key_len == tlen) || (key == key_buf && key_len <= cap))) abort();
    } else if ((rc != ED_ERR_INVAL && rc != ED_ERR_TOOBIG) || !w) {
        abort();
    }
    ed_mqtt_routes_free(r);
    return 0;
}
