/* MQTT 5 Message Expiry Interval (MQTT 5.0, 3.3.2.3.3): how long a message
 * may wait for a subscriber. A publish's interval is kept in its record as
 * the header mqtt.expiry (decimal seconds; the record's timestamp is its
 * arrival) and in a retained message's own properties; a delivery that
 * waited carries what is left of it, and one whose interval has passed is
 * not made (but one already sent, in flight, is completed: 0 is left). */
#include "bridge/mqtt_int.h"
#include "platform/mem.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define EXPIRY_HEADER "mqtt.expiry"

bool ed_mqtt_expiry_left(uint32_t interval_s, int64_t since_ms, int64_t now_ms, uint32_t *left_s)
{
    int64_t waited_s = now_ms > since_ms ? (now_ms - since_ms) / 1000 : 0;
    *left_s = waited_s >= (int64_t)interval_s ? 0 : interval_s - (uint32_t)waited_s;
    return *left_s > 0;
}

bool ed_mqtt_expiry_in_props(struct ed_mqtt_bytes props, uint32_t *interval_s)
{
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    ed_mqtt_prop_iter_init(&it, props);
    while (ed_mqtt_prop_next(&it, &pr))
        if (pr.id == ED_MQTT_PROP_MESSAGE_EXPIRY) {
            *interval_s = pr.num;
            return true;
        }
    return false;
}

int ed_mqtt_expiry_rewrite(struct ed_mqtt_subid_buf *b, struct ed_mqtt_bytes *props,
                           int64_t since_ms, int64_t now_ms)
{
    b->heap = NULL;
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    ed_mqtt_prop_iter_init(&it, *props);
    for (const uint8_t *at = it.p; ed_mqtt_prop_next(&it, &pr); at = it.p) {
        if (pr.id != ED_MQTT_PROP_MESSAGE_EXPIRY) continue;
        uint32_t left;
        if (!ed_mqtt_expiry_left(pr.num, since_ms, now_ms, &left)) return -1;
        if (left == pr.num) return 0;
        uint8_t *out = props->len <= sizeof b->small ? b->small : (b->heap = ed_malloc(props->len));
        if (!out) return 0; /* out of memory: the interval as published */
        memcpy(out, props->p, props->len);
        size_t v = (size_t)(at - props->p) + 1; /* the value after the 1-byte identifier */
        out[v] = (uint8_t)(left >> 24);
        out[v + 1] = (uint8_t)(left >> 16);
        out[v + 2] = (uint8_t)(left >> 8);
        out[v + 3] = (uint8_t)left;
        props->p = out;
        return 1;
    }
    return 0;
}

bool ed_mqtt_expiry_of_record(const struct ed_record *rec, uint32_t *interval_s)
{
    size_t cur = 0, n = strlen(EXPIRY_HEADER);
    struct ed_record_header h;
    while (ed_record_next_header(rec, &cur, &h) == 1) {
        if ((size_t)h.key_len != n || memcmp(h.key, EXPIRY_HEADER, n) != 0) continue;
        if (h.value_len < 1 || h.value_len > 10) return false;
        uint64_t v = 0;
        for (int32_t i = 0; i < h.value_len; i++) {
            if (h.value[i] < '0' || h.value[i] > '9') return false;
            v = v * 10 + (uint64_t)(h.value[i] - '0');
        }
        if (v > UINT32_MAX) return false;
        *interval_s = (uint32_t)v;
        return true;
    }
    return false;
}

bool ed_mqtt_expiry_put_header(struct ed_mqtt_bytes props, char buf[ED_MQTT_EXPIRY_BUF],
                               struct ed_record_header *h)
{
    uint32_t s;
    if (!ed_mqtt_expiry_in_props(props, &s)) return false;
    int n = snprintf(buf, ED_MQTT_EXPIRY_BUF, "%" PRIu32, s);
    *h = (struct ed_record_header){(const uint8_t *)EXPIRY_HEADER, (int32_t)strlen(EXPIRY_HEADER),
                                   (const uint8_t *)buf, n};
    return true;
}

bool ed_mqtt_expiry_is_header(const uint8_t *key, size_t len)
{
    return len == strlen(EXPIRY_HEADER) && memcmp(key, EXPIRY_HEADER, len) == 0;
}

struct ed_mqtt_bytes ed_mqtt_expiry_append(struct ed_mqtt_subid_buf *b, struct ed_mqtt_bytes props,
                                           uint32_t left_s)
{
    b->heap = NULL;
    size_t len = props.len + 5;
    uint8_t *out = len <= sizeof b->small ? b->small : (b->heap = ed_malloc(len));
    if (!out) return props;
    if (props.len) memcpy(out, props.p, props.len);
    out[props.len] = ED_MQTT_PROP_MESSAGE_EXPIRY;
    out[props.len + 1] = (uint8_t)(left_s >> 24);
    out[props.len + 2] = (uint8_t)(left_s >> 16);
    out[props.len + 3] = (uint8_t)(left_s >> 8);
    out[props.len + 4] = (uint8_t)left_s;
    return (struct ed_mqtt_bytes){out, len};
}
