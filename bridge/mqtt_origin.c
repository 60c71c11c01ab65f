/* The record headers that mark a record as an MQTT message's and keep what
 * delivery from the log needs of the publish: its topic, QoS, RETAIN and,
 * for No Local, its publisher (layout in mqtt_origin.h). */
#include "bridge/mqtt_origin.h"

#include <string.h>

#define QOS_HEADER    "mqtt.qos"
#define RETAIN_HEADER "mqtt.retain"
#define CLIENT_HEADER "mqtt.client"

static const char *const digits[3] = {"0", "1", "2"};

static struct ed_record_header header(const char *name, const uint8_t *value, size_t len)
{
    return (struct ed_record_header){(const uint8_t *)name, (int32_t)strlen(name), value,
                                     (int32_t)len};
}

int ed_mqtt_origin_put(struct ed_record_header *h, struct ed_mqtt_bytes topic, bool key_is_topic,
                       uint8_t qos, bool retain, struct ed_mqtt_bytes client)
{
    int n = 0;
    h[n++] = header(ED_MQTT_ORIGIN_HEADER, topic.p, key_is_topic ? 0 : topic.len);
    h[n++] = header(QOS_HEADER, (const uint8_t *)digits[qos > 2 ? 2 : qos], 1);
    if (retain) h[n++] = header(RETAIN_HEADER, (const uint8_t *)"1", 1);
    if (client.len) h[n++] = header(CLIENT_HEADER, client.p, client.len);
    return n;
}

static bool named(const struct ed_record_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->key_len >= 0 && (size_t)h->key_len == n && memcmp(h->key, name, n) == 0;
}

void ed_mqtt_origin_get(const struct ed_record *rec, struct ed_mqtt_origin *out)
{
    memset(out, 0, sizeof *out);
    out->qos = 2;
    size_t cur = 0;
    struct ed_record_header h;
    while (ed_record_next_header(rec, &cur, &h)) {
        size_t vl = h.value_len > 0 ? (size_t)h.value_len : 0;
        if (named(&h, ED_MQTT_ORIGIN_HEADER)) {
            /* Eddy's own follow its mqtt.topic: user properties of the
             * same names before it are forgotten */
            out->qos = 2;
            out->retain = false;
            out->client = (struct ed_mqtt_bytes){NULL, 0};
            out->mqtt = true;
            out->topic =
                vl ? (struct ed_mqtt_bytes){h.value, vl}
                   : (struct ed_mqtt_bytes){rec->key, rec->key_len > 0 ? (size_t)rec->key_len : 0};
        } else if (named(&h, QOS_HEADER)) {
            out->qos =
                vl == 1 && h.value[0] >= '0' && h.value[0] <= '2' ? (uint8_t)(h.value[0] - '0') : 2;
        } else if (named(&h, RETAIN_HEADER)) {
            out->retain = vl == 1 && h.value[0] == '1';
        } else if (named(&h, CLIENT_HEADER)) {
            out->client = (struct ed_mqtt_bytes){h.value, vl};
        }
    }
    if (!out->mqtt) { /* what only MQTT's records say counts only there */
        out->qos = 2;
        out->retain = false;
        out->client = (struct ed_mqtt_bytes){NULL, 0};
    }
}

bool ed_mqtt_origin_is_own(const uint8_t *key, size_t len)
{
    static const char *const own[] = {ED_MQTT_ORIGIN_HEADER, QOS_HEADER, RETAIN_HEADER,
                                      CLIENT_HEADER};
    for (size_t i = 0; i < ED_ARRAY_LEN(own); i++)
        if (len == strlen(own[i]) && memcmp(key, own[i], len) == 0) return true;
    return false;
}
