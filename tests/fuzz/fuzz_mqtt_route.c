/* libFuzzer target for the route table (bridge/mqtt_route.h): the input's
 * first line is parsed as a route spec (mqtt.routes), the rest is a
 * published topic routed through it. A spec is either taken or refused
 * with ED_ERR_INVAL and a line naming it; a routed topic gives a legal
 * Kafka topic name and a key (the topic, or a template's output within the buffer), or a refusal
 * with a reason; nothing may crash or leak. */
#include <stdlib.h>
#include <string.h>

#include "bridge/mqtt_route.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"

static uint8_t key_buf[ED_MQTT_ROUTE_KEY_MAX];

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
