/* MQTT 5 Subscription Identifiers on deliveries (MQTT 5.0, 3.3.4): a
 * PUBLISH to a subscriber carries, after the message's own properties, one
 * Subscription Identifier property for each of its subscriptions that
 * matched and has one. The block is built per delivery, on the stack when
 * small. */
#include "bridge/mqtt_int.h"
#include "platform/mem.h"

#include <string.h>

int ed_mqtt_subid_match(const ed_mqtt_conn *c, struct ed_mqtt_bytes topic, uint32_t *ids)
{
    int n = 0;
    for (int i = 0; i < c->n_subs && n < MAX_SUBS; i++) {
        const struct sub *s = &c->subs[i];
        if (s->sub_id &&
            ed_mqtt_filter_match((const uint8_t *)s->filter, s->len, topic.p, topic.len))
            ids[n++] = s->sub_id;
    }
    return n;
}

struct ed_mqtt_bytes ed_mqtt_subid_props(struct ed_mqtt_subid_buf *b, struct ed_mqtt_bytes props,
                                         const uint32_t *ids, int n)
{
    b->heap = NULL;
    if (n <= 0) return props;
    size_t len = props.len + (size_t)n * 5;
    uint8_t *out = len <= sizeof b->small ? b->small : (b->heap = ed_malloc(len));
    if (!out) return props; /* out of memory: delivered without them */
    if (props.len) memcpy(out, props.p, props.len);
    size_t at = props.len;
    for (int i = 0; i < n; i++) {
        out[at++] = ED_MQTT_PROP_SUBSCRIPTION_ID;
        at += ed_mqtt_varint_put(out + at, ids[i]);
    }
    return (struct ed_mqtt_bytes){out, at};
}

void ed_mqtt_subid_done(struct ed_mqtt_subid_buf *b)
{
    ed_free(b->heap);
    b->heap = NULL;
}
