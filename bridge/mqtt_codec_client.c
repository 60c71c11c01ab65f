/* The client side of the MQTT codec (see mqtt_codec.h), used by the pull
 * bridge: CONNECT, SUBSCRIBE, PINGREQ and DISCONNECT encoders, CONNACK
 * and SUBACK decoders. */
#include "bridge/mqtt_codec_int.h"

#include <string.h>

size_t ed_mqtt_encode_connect(uint8_t *out, size_t cap, const struct ed_mqtt_connect_opts *o)
{
    uint8_t pb[32];
    ed_bytes_wr p;
    ed_bytes_wr_fixed(&p, pb, sizeof pb);
    if (o->level == 5) {
        if (o->session_expiry_s) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_SESSION_EXPIRY, 1);
            ed_bytes_put_be(&p, o->session_expiry_s, 4);
        }
        if (o->receive_max) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_RECEIVE_MAX, 1);
            ed_bytes_put_be(&p, o->receive_max, 2);
        }
        if (o->max_packet_len) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_MAX_PACKET_SIZE, 1);
            ed_bytes_put_be(&p, o->max_packet_len, 4);
        }
    }
    if (o->client_id.len > 65535 || o->username.len > 65535 || o->password.len > 65535 ||
        (o->level != 4 && o->level != 5))
        return 0;
    size_t rem = 10 + 2 + o->client_id.len;
    if (o->level == 5) rem += ed_mqtt_varint_len((uint32_t)p.len) + p.len;
    if (o->has_username) rem += 2 + o->username.len;
    if (o->has_password) rem += 2 + o->password.len;
    uint8_t flags = (uint8_t)((o->clean ? 0x02 : 0) | (o->has_password ? 0x40 : 0) |
                              (o->has_username ? 0x80 : 0));
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    put_fixed(&w, ED_MQTT_CONNECT << 4, (uint32_t)rem);
    put_str(&w, "MQTT", 4);
    ed_bytes_put_be(&w, o->level, 1);
    ed_bytes_put_be(&w, flags, 1);
    ed_bytes_put_be(&w, o->keepalive_s, 2);
    if (o->level == 5) {
        put_varint(&w, (uint32_t)p.len);
        ed_bytes_put_raw(&w, pb, p.len);
    }
    put_str(&w, o->client_id.p, o->client_id.len);
    if (o->has_username) put_str(&w, o->username.p, o->username.len);
    if (o->has_password) put_str(&w, o->password.p, o->password.len);
    return wr_done(&w);
}

size_t ed_mqtt_encode_subscribe(uint8_t *out, size_t cap, uint8_t level, uint16_t packet_id,
                                const struct ed_mqtt_bytes *filters, const uint8_t *qos, int n)
{
    size_t rem = 2 + (level == 5 ? 1 : 0);
    for (int i = 0; i < n; i++) {
        if (filters[i].len > 65535 || qos[i] > 2) return 0;
        rem += 2 + filters[i].len + 1;
    }
    if (n <= 0 || packet_id == 0 || rem > ED_MQTT_MAX_REMAINING) return 0;
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    put_fixed(&w, ED_MQTT_SUBSCRIBE << 4 | 2, (uint32_t)rem);
    ed_bytes_put_be(&w, packet_id, 2);
    if (level == 5) ed_bytes_put_be(&w, 0, 1); /* no properties */
    for (int i = 0; i < n; i++) {
        put_str(&w, filters[i].p, filters[i].len);
        ed_bytes_put_be(&w, qos[i], 1);
    }
    return wr_done(&w);
}

size_t ed_mqtt_encode_pingreq(uint8_t *out, size_t cap)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    put_fixed(&w, ED_MQTT_PINGREQ << 4, 0);
    return wr_done(&w);
}

size_t ed_mqtt_encode_client_disconnect(uint8_t *out, size_t cap)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    put_fixed(&w, ED_MQTT_DISCONNECT << 4, 0);
    return wr_done(&w);
}

int ed_mqtt_decode_connack(const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                           struct ed_mqtt_connack *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->receive_max = 65535;
    out->max_qos = 2;
    if (flags != 0) {
        *why = "CONNACK with fixed-header flags";
        return ED_ERR_PROTO;
    }
    struct cur c;
    cur_init(&c, body, len);
    uint8_t ack = get_u8(&c);
    out->reason = get_u8(&c);
    if (c.bad || (ack & 0xfe) != 0) {
        *why = "CONNACK too short or with reserved flags";
        return ED_ERR_PROTO;
    }
    out->session_present = ack & 1;
    if (out->session_present && out->reason != 0) {
        *why = "CONNACK refusal with a session present";
        return ED_ERR_PROTO;
    }
    if (level == 5) {
        int rc = get_props(&c, ED_MQTT_CONNACK, false, &out->props, why);
        if (rc) return rc;
        struct ed_mqtt_prop_iter it;
        struct ed_mqtt_prop pr;
        ed_mqtt_prop_iter_init(&it, out->props);
        while (ed_mqtt_prop_next(&it, &pr)) {
            if (pr.id == ED_MQTT_PROP_RECEIVE_MAX) out->receive_max = (uint16_t)pr.num;
            if (pr.id == ED_MQTT_PROP_MAX_QOS) out->max_qos = (uint8_t)pr.num;
            if (pr.id == ED_MQTT_PROP_SERVER_KEEP_ALIVE) out->server_keepalive = (uint16_t)pr.num;
            if (pr.id == ED_MQTT_PROP_MAX_PACKET_SIZE) out->max_packet_len = pr.num;
            if (pr.id == ED_MQTT_PROP_ASSIGNED_CLIENT_ID) out->assigned_client_id = pr.data;
            if (pr.id == ED_MQTT_PROP_REASON_STRING) out->reason_string = pr.data;
        }
    } else if (out->reason > 5) {
        *why = "CONNACK with an unknown return code";
        return ED_ERR_PROTO;
    }
    if (cur_left(&c) != 0) {
        *why = "bytes left over after CONNACK";
        return ED_ERR_PROTO;
    }
    return ED_OK;
}

const char *ed_mqtt_connack_text(uint8_t level, uint8_t reason)
{
    if (level != 5) {
        static const char *const rc311[] = {
            "accepted",           "unacceptable protocol version", "client identifier rejected",
            "server unavailable", "bad user name or password",     "not authorized"};
        return reason < ED_ARRAY_LEN(rc311) ? rc311[reason] : "unknown return code";
    }
    switch (reason) {
    case 0x00:
        return "success";
    case 0x84:
        return "unsupported protocol version";
    case 0x85:
        return "client identifier not valid";
    case 0x86:
        return "bad user name or password";
    case 0x87:
        return "not authorized";
    case 0x88:
        return "server unavailable";
    case 0x89:
        return "server busy";
    case 0x8A:
        return "banned";
    case 0x8C:
        return "bad authentication method";
    case 0x95:
        return "packet too large";
    case 0x97:
        return "quota exceeded";
    case 0x9F:
        return "connection rate exceeded";
    default:
        return reason >= 0x80 ? "refused" : "unexpected reason code";
    }
}

int ed_mqtt_decode_suback(const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                          struct ed_mqtt_suback *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (flags != 0) {
        *why = "SUBACK with fixed-header flags";
        return ED_ERR_PROTO;
    }
    struct cur c;
    cur_init(&c, body, len);
    if (!get_packet_id(&c, &out->packet_id, "SUBACK without a packet identifier", why))
        return ED_ERR_PROTO;
    if (level == 5) {
        int rc = get_props(&c, ED_MQTT_SUBACK, false, &out->props, why);
        if (rc) return rc;
    }
    out->codes = c.p;
    out->n = (int)cur_left(&c);
    if (out->n == 0) {
        *why = "SUBACK without reason codes";
        return ED_ERR_PROTO;
    }
    for (int i = 0; i < out->n; i++) {
        uint8_t v = out->codes[i];
        if (v > 2 && v < 0x80) {
            *why = "SUBACK with an invalid reason code";
            return ED_ERR_PROTO;
        }
    }
    return ED_OK;
}
