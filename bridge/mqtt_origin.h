/* The record headers Eddy adds to every record an MQTT message makes (a
 * publish to the listener, a will, a message the pull bridge pulls), and
 * reading them back (docs/format.md):
 *
 *   mqtt.topic   the MQTT topic, empty when it is the record's key (always)
 *   mqtt.qos     the publish QoS: one ASCII digit "0", "1" or "2" (always)
 *   mqtt.retain  "1" when the publish had RETAIN (else absent)
 *   mqtt.client  the publisher's client id, only when the publisher has a
 *                persistent session with a No Local subscription (else
 *                absent)
 *
 * They follow the MQTT 5 user properties, in this order: only those after
 * the last mqtt.topic are Eddy's (a user property of the same name is not
 * taken for one). A record without mqtt.topic is not
 * MQTT's (a Kafka producer's); an MQTT record without mqtt.qos (written
 * before Eddy kept it) counts as QoS 2, delivered at the subscription's
 * QoS. */
#ifndef ED_BRIDGE_MQTT_ORIGIN_H
#define ED_BRIDGE_MQTT_ORIGIN_H

#include "bridge/mqtt_codec.h"
#include "storage/batch.h"

#define ED_MQTT_ORIGIN_HEADER "mqtt.topic"
/* Headers ed_mqtt_origin_put adds at most. */
#define ED_MQTT_ORIGIN_N 4

/* What an MQTT message's record says about it. */
struct ed_mqtt_origin {
    bool mqtt;                  /* it has the mqtt.topic header */
    struct ed_mqtt_bytes topic; /* the MQTT topic (the key when the header is empty) */
    uint8_t qos;                /* 2 when not said */
    bool retain;
    struct ed_mqtt_bytes client; /* len 0: not said */
};

/* Appends Eddy's headers for a message on topic (key_is_topic: the record's
 * key is that topic) to h, which has room for ED_MQTT_ORIGIN_N more;
 * client.len 0 leaves mqtt.client out. Values point into topic, client or
 * static text. Returns how many were added. */
int ed_mqtt_origin_put(struct ed_record_header *h, struct ed_mqtt_bytes topic, bool key_is_topic,
                       uint8_t qos, bool retain, struct ed_mqtt_bytes client);
/* Reads Eddy's headers of rec into *out (pointers into rec). */
void ed_mqtt_origin_get(const struct ed_record *rec, struct ed_mqtt_origin *out);
/* Whether a header of this name is one of Eddy's (not a user property to
 * pass on). */
bool ed_mqtt_origin_is_own(const uint8_t *key, size_t len);

#endif
