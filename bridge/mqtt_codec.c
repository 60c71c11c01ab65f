/* The server side of the MQTT 3.1.1 / 5.0 codec (see mqtt_codec.h): decoding
 * of the packets a client sends, encoding of the packets the server sends,
 * and the fixed header, UTF-8 and property checks both sides use. Reads go
 * through the bounded cursor of mqtt_codec_int.h; the client side is in
 * mqtt_codec_client.c. */
#include "bridge/mqtt_codec_int.h"

#include <string.h>

/* ---- fixed header ---- */

int ed_mqtt_fixed_header(const uint8_t *p, size_t len, uint8_t *first, uint32_t *rem_len,
                         size_t *hdr_len)
{
    if (len < 2) return ED_ERR_AGAIN;
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (1 + i >= len) return ED_ERR_AGAIN;
        uint8_t b = p[1 + i];
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *first = p[0];
            *rem_len = v;
            *hdr_len = 2 + i;
            return ED_OK;
        }
    }
    return ED_ERR_PROTO;
}

size_t ed_mqtt_varint_len(uint32_t v)
{
    return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

size_t ed_mqtt_varint_put(uint8_t *out, uint32_t v)
{
    size_t n = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        if (v) b |= 0x80;
        out[n++] = b;
    } while (v && n < 4);
    return n;
}

/* ---- UTF-8 ---- */

bool ed_mqtt_utf8_ok(const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t b = p[i];
        if (b < 0x80) {
            if (b == 0) return false;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((b & 0xe0) == 0xc0) {
            n = 2;
            cp = b & 0x1f;
        } else if ((b & 0xf0) == 0xe0) {
            n = 3;
            cp = b & 0x0f;
        } else if ((b & 0xf8) == 0xf0) {
            n = 4;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (len - i < n) return false;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n;
    }
    return true;
}

/* ---- properties ---- */

enum ptype { P_NONE, P_U8, P_U16, P_U32, P_VAR, P_STR, P_BIN, P_PAIR };

#define W  (1u << 0) /* a will's properties */
#define PT (1u << ED_MQTT_PUBLISH)
#define CO (1u << ED_MQTT_CONNECT)
#define AK                                                                                         \
    ((1u << ED_MQTT_PUBACK) | (1u << ED_MQTT_PUBREC) | (1u << ED_MQTT_PUBREL) |                    \
     (1u << ED_MQTT_PUBCOMP))
#define SU (1u << ED_MQTT_SUBSCRIBE)
#define US (1u << ED_MQTT_UNSUBSCRIBE)
#define DI (1u << ED_MQTT_DISCONNECT)
#define AU (1u << ED_MQTT_AUTH)
#define CA (1u << ED_MQTT_CONNACK) /* a server's packets, read by the bridge's client */
#define SA (1u << ED_MQTT_SUBACK)

static const struct {
    uint8_t type;
    uint32_t where; /* packets it may come in */
} props_tab[0x2b] = {
    [ED_MQTT_PROP_PAYLOAD_FORMAT] = {P_U8, PT | W},
    [ED_MQTT_PROP_MESSAGE_EXPIRY] = {P_U32, PT | W},
    [ED_MQTT_PROP_CONTENT_TYPE] = {P_STR, PT | W},
    [ED_MQTT_PROP_RESPONSE_TOPIC] = {P_STR, PT | W},
    [ED_MQTT_PROP_CORRELATION_DATA] = {P_BIN, PT | W},
    [ED_MQTT_PROP_SUBSCRIPTION_ID] = {P_VAR, SU},
    [ED_MQTT_PROP_SESSION_EXPIRY] = {P_U32, CO | DI | CA},
    [ED_MQTT_PROP_ASSIGNED_CLIENT_ID] = {P_STR, CA},
    [ED_MQTT_PROP_SERVER_KEEP_ALIVE] = {P_U16, CA},
    [ED_MQTT_PROP_AUTH_METHOD] = {P_STR, CO | AU | CA},
    [ED_MQTT_PROP_AUTH_DATA] = {P_BIN, CO | AU | CA},
    [ED_MQTT_PROP_REQUEST_PROBLEM_INFO] = {P_U8, CO},
    [ED_MQTT_PROP_WILL_DELAY] = {P_U32, W},
    [ED_MQTT_PROP_REQUEST_RESPONSE_INFO] = {P_U8, CO},
    [ED_MQTT_PROP_RESPONSE_INFO] = {P_STR, CA},
    [ED_MQTT_PROP_SERVER_REFERENCE] = {P_STR, DI | CA},
    [ED_MQTT_PROP_REASON_STRING] = {P_STR, AK | DI | AU | CA | SA},
    [ED_MQTT_PROP_RECEIVE_MAX] = {P_U16, CO | CA},
    [ED_MQTT_PROP_TOPIC_ALIAS_MAX] = {P_U16, CO | CA},
    [ED_MQTT_PROP_TOPIC_ALIAS] = {P_U16, PT},
    [ED_MQTT_PROP_MAX_QOS] = {P_U8, CA},
    [ED_MQTT_PROP_RETAIN_AVAILABLE] = {P_U8, CA},
    [ED_MQTT_PROP_USER] = {P_PAIR, PT | W | CO | AK | SU | US | DI | AU | CA | SA},
    [ED_MQTT_PROP_MAX_PACKET_SIZE] = {P_U32, CO | CA},
    [ED_MQTT_PROP_WILDCARD_SUB_AVAILABLE] = {P_U8, CA},
    [ED_MQTT_PROP_SUB_ID_AVAILABLE] = {P_U8, CA},
    [ED_MQTT_PROP_SHARED_SUB_AVAILABLE] = {P_U8, CA},
};

/* The width in bytes of the fixed-size numeric property types (0: other). */
static const uint8_t prop_width[] = {[P_U8] = 1, [P_U16] = 2, [P_U32] = 4, [P_PAIR] = 0};

/* Reads one property value of its table type into out (the cursor checks
 * bounds): fixed-size numbers big-endian by width, varints, binary data,
 * strings, and a user property's pair of strings. */
static void read_prop(struct cur *c, uint8_t id, struct ed_mqtt_prop *out)
{
    memset(out, 0, sizeof *out);
    out->id = id;
    int t = props_tab[id].type;
    if (prop_width[t]) {
        struct ed_mqtt_bytes b = get_n(c, prop_width[t]);
        for (size_t i = 0; i < b.len; i++)
            out->num = out->num << 8 | b.p[i];
    } else if (t == P_VAR) {
        out->num = get_varint(c);
    } else if (t == P_BIN) {
        out->data = get_bin(c);
    } else if (t == P_STR || t == P_PAIR) {
        out->data = get_str(c);
        if (t == P_PAIR) out->value = get_str(c);
    } else {
        c->bad = true;
    }
}

void ed_mqtt_prop_iter_init(struct ed_mqtt_prop_iter *it, struct ed_mqtt_bytes props)
{
    it->p = props.p;
    it->end = props.p ? props.p + props.len : NULL;
}

int ed_mqtt_prop_next(struct ed_mqtt_prop_iter *it, struct ed_mqtt_prop *out)
{
    if (!it->p || it->p >= it->end) return 0;
    struct cur c;
    cur_init(&c, it->p, (size_t)(it->end - it->p));
    uint32_t id = get_varint(&c);
    if (c.bad || id >= ED_ARRAY_LEN(props_tab) || props_tab[id].type == P_NONE) return 0;
    read_prop(&c, (uint8_t)id, out);
    if (c.bad) return 0;
    it->p = c.p;
    return 1;
}

/* The value of the last property id in a checked block into *num; false
 * when the block has none. */
static bool prop_find(struct ed_mqtt_bytes props, uint8_t id, uint32_t *num)
{
    struct ed_mqtt_prop_iter it;
    struct ed_mqtt_prop pr;
    bool found = false;
    ed_mqtt_prop_iter_init(&it, props);
    while (ed_mqtt_prop_next(&it, &pr)) {
        if (pr.id != id) continue;
        *num = pr.num;
        found = true;
    }
    return found;
}

int ed_mqtt_props_check(struct ed_mqtt_bytes props, int type, bool will, const char **why)
{
    struct cur c;
    cur_init(&c, props.p, props.len);
    uint64_t seen = 0;
    uint32_t mask = will ? W : 1u << type;
    while (cur_left(&c) > 0) {
        uint32_t id = get_varint(&c);
        if (c.bad) {
            *why = "malformed property identifier";
            return ED_ERR_PROTO;
        }
        if (id >= ED_ARRAY_LEN(props_tab) || props_tab[id].type == P_NONE) {
            *why = "unknown property identifier";
            return ED_ERR_PROTO;
        }
        if (!(props_tab[id].where & mask)) {
            *why = "property not allowed in this packet";
            return ED_ERR_PROTO;
        }
        struct ed_mqtt_prop pr;
        read_prop(&c, (uint8_t)id, &pr);
        if (c.bad) {
            *why = "malformed property value";
            return ED_ERR_PROTO;
        }
        /* Well-formed but against the rules: a Protocol Error (MQTT 5.0,
         * 2.2.2.2 and each property's section), not a malformed packet. */
        if (id != ED_MQTT_PROP_USER) {
            if (seen & (1ull << id)) {
                *why = "property given twice";
                return ED_ERR_INVAL;
            }
            seen |= 1ull << id;
        }
        bool bad = false;
        switch (id) {
        case ED_MQTT_PROP_PAYLOAD_FORMAT:
        case ED_MQTT_PROP_REQUEST_PROBLEM_INFO:
        case ED_MQTT_PROP_REQUEST_RESPONSE_INFO:
        case ED_MQTT_PROP_MAX_QOS:
        case ED_MQTT_PROP_RETAIN_AVAILABLE:
        case ED_MQTT_PROP_WILDCARD_SUB_AVAILABLE:
        case ED_MQTT_PROP_SUB_ID_AVAILABLE:
        case ED_MQTT_PROP_SHARED_SUB_AVAILABLE:
            bad = pr.num > 1;
            break;
        case ED_MQTT_PROP_RECEIVE_MAX:
        case ED_MQTT_PROP_MAX_PACKET_SIZE:
            bad = pr.num == 0;
            break;
        case ED_MQTT_PROP_SUBSCRIPTION_ID:
            bad = pr.num == 0;
            break;
        case ED_MQTT_PROP_RESPONSE_TOPIC:
            bad = pr.data.len == 0 || memchr(pr.data.p, '+', pr.data.len) ||
                  memchr(pr.data.p, '#', pr.data.len);
            break;
        default:
            break;
        }
        if (bad) {
            *why = id == ED_MQTT_PROP_SUBSCRIPTION_ID ? "Subscription Identifier 0"
                                                      : "property value out of range";
            return ED_ERR_INVAL;
        }
    }
    return ED_OK;
}

/* ---- decoders ---- */

int ed_mqtt_decode_connect(const uint8_t *body, size_t len, uint8_t flags,
                           struct ed_mqtt_connect *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->receive_max = 65535;
    struct cur c;
    cur_init(&c, body, len);
    struct ed_mqtt_bytes name = get_bin(&c);
    uint8_t level = get_u8(&c);
    if (c.bad) {
        *why = "CONNECT too short for its protocol name and level";
        return ED_ERR_PROTO;
    }
    if (flags != 0) {
        *why = "CONNECT with reserved flags set";
        return ED_ERR_PROTO;
    }
    if (name.len != 4 || memcmp(name.p, "MQTT", 4) != 0) {
        *why = "protocol name is not MQTT";
        return ED_ERR_UNSUPPORTED;
    }
    out->level = level;
    if (level != 4 && level != 5) {
        *why = "unsupported protocol level (Eddy serves 4 = MQTT 3.1.1 and 5 = MQTT 5.0)";
        return ED_ERR_UNSUPPORTED;
    }
    uint8_t cf = get_u8(&c);
    out->keepalive_s = get_u16(&c);
    if (c.bad) {
        *why = "CONNECT variable header truncated";
        return ED_ERR_PROTO;
    }
    if (cf & 0x01) {
        *why = "CONNECT reserved flag set";
        return ED_ERR_PROTO;
    }
    out->clean = (cf & 0x02) != 0;
    out->will = (cf & 0x04) != 0;
    out->will_qos = (cf >> 3) & 3;
    out->will_retain = (cf & 0x20) != 0;
    out->has_password = (cf & 0x40) != 0;
    out->has_username = (cf & 0x80) != 0;
    if (!out->will && (out->will_qos || out->will_retain)) {
        *why = "will QoS or retain set without a will";
        return ED_ERR_PROTO;
    }
    if (out->will_qos == 3) {
        *why = "will QoS 3";
        return ED_ERR_PROTO;
    }
    if (level == 4 && out->has_password && !out->has_username) {
        *why = "password without user name";
        return ED_ERR_PROTO;
    }
    if (level == 5) {
        int rc = get_props(&c, ED_MQTT_CONNECT, false, &out->props, why);
        if (rc) return rc;
        struct ed_mqtt_prop_iter it;
        struct ed_mqtt_prop pr;
        ed_mqtt_prop_iter_init(&it, out->props);
        bool auth_data = false;
        while (ed_mqtt_prop_next(&it, &pr)) {
            if (pr.id == ED_MQTT_PROP_RECEIVE_MAX) out->receive_max = (uint16_t)pr.num;
            if (pr.id == ED_MQTT_PROP_MAX_PACKET_SIZE) out->max_packet_len = pr.num;
            if (pr.id == ED_MQTT_PROP_SESSION_EXPIRY) out->session_expiry_s = pr.num;
            if (pr.id == ED_MQTT_PROP_AUTH_METHOD) out->has_auth_method = true;
            auth_data |= pr.id == ED_MQTT_PROP_AUTH_DATA;
        }
        if (auth_data && !out->has_auth_method) { /* MQTT 5.0, 3.1.2.11.10 */
            *why = "Authentication Data without an Authentication Method";
            return ED_ERR_INVAL;
        }
    }
    out->client_id = get_str(&c);
    if (c.bad) {
        *why = "client identifier missing or not UTF-8";
        return ED_ERR_PROTO;
    }
    if (out->will) {
        if (level == 5) {
            int rc = get_props(&c, ED_MQTT_PUBLISH, true, &out->will_props, why);
            if (rc) return rc;
        }
        out->will_topic = get_str(&c);
        out->will_payload = get_bin(&c);
        if (c.bad) {
            *why = "will topic or payload truncated";
            return ED_ERR_PROTO;
        }
    }
    if (out->has_username) out->username = get_str(&c);
    if (out->has_password) out->password = get_bin(&c);
    if (c.bad) {
        *why = "user name or password truncated";
        return ED_ERR_PROTO;
    }
    if (cur_left(&c) != 0) {
        *why = "bytes left over after the CONNECT payload";
        return ED_ERR_PROTO;
    }
    return ED_OK;
}

int ed_mqtt_decode_publish(const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                           struct ed_mqtt_publish *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->dup = (flags & 8) != 0;
    out->qos = (flags >> 1) & 3;
    out->retain = (flags & 1) != 0;
    if (out->qos == 3) {
        *why = "PUBLISH with QoS 3";
        return ED_ERR_PROTO;
    }
    if (out->qos == 0 && out->dup) {
        *why = "PUBLISH QoS 0 with DUP set";
        return ED_ERR_PROTO;
    }
    struct cur c;
    cur_init(&c, body, len);
    out->topic = get_str(&c);
    if (c.bad) {
        *why = "PUBLISH topic missing or not UTF-8";
        return ED_ERR_PROTO;
    }
    if (out->qos > 0) {
        if (!get_packet_id(&c, &out->packet_id, "PUBLISH without a packet identifier", why))
            return ED_ERR_PROTO;
    }
    if (level == 5) {
        int rc = get_props(&c, ED_MQTT_PUBLISH, false, &out->props, why);
        if (rc) return rc;
        uint32_t alias;
        out->has_topic_alias = prop_find(out->props, ED_MQTT_PROP_TOPIC_ALIAS, &alias);
        if (out->has_topic_alias) out->topic_alias = (uint16_t)alias;
    }
    out->payload.p = c.p;
    out->payload.len = cur_left(&c);
    return ED_OK;
}

int ed_mqtt_decode_ack(int type, const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                       struct ed_mqtt_ack *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (flags != (type == ED_MQTT_PUBREL ? 2 : 0)) {
        *why = "acknowledgement with wrong fixed-header flags";
        return ED_ERR_PROTO;
    }
    struct cur c;
    cur_init(&c, body, len);
    if (!get_packet_id(&c, &out->packet_id, "acknowledgement without a packet identifier", why))
        return ED_ERR_PROTO;
    if (level == 5 && cur_left(&c) > 0) {
        out->reason = get_u8(&c);
        if (cur_left(&c) > 0) {
            int rc = get_props(&c, type, false, &out->props, why);
            if (rc) return rc;
        }
    }
    if (cur_left(&c) != 0) {
        *why = "bytes left over after an acknowledgement";
        return ED_ERR_PROTO;
    }
    return ED_OK;
}

int ed_mqtt_decode_subscribe(int type, const uint8_t *body, size_t len, uint8_t flags,
                             uint8_t level, struct ed_mqtt_subscribe *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (flags != 2) {
        *why = "SUBSCRIBE/UNSUBSCRIBE flags must be 0010";
        return ED_ERR_PROTO;
    }
    struct cur c;
    cur_init(&c, body, len);
    if (!get_packet_id(&c, &out->packet_id, "SUBSCRIBE/UNSUBSCRIBE without a packet identifier",
                       why))
        return ED_ERR_PROTO;
    if (level == 5) {
        int rc = get_props(&c, type, false, &out->props, why);
        if (rc) return rc;
        prop_find(out->props, ED_MQTT_PROP_SUBSCRIPTION_ID, &out->sub_id);
    }
    out->list = c.p;
    out->list_end = c.end;
    while (cur_left(&c) > 0) {
        struct ed_mqtt_bytes f = get_str(&c);
        if (type == ED_MQTT_SUBSCRIBE) {
            uint8_t o = get_u8(&c);
            if (!c.bad && ((level == 4 && (o & 0xfc)) || (level == 5 && (o & 0xc0)))) {
                *why = "reserved bits set in subscription options";
                return ED_ERR_PROTO; /* MQTT-3.8.3-5: malformed */
            }
            if (!c.bad && ((o & 3) == 3 || (level == 5 && ((o >> 4) & 3) == 3))) {
                *why = "subscription options with QoS 3 or Retain Handling 3";
                /* MQTT 5.0, 3.8.3.1: a Protocol Error; 3.1.1 calls QoS 3 malformed */
                return level == 5 ? ED_ERR_INVAL : ED_ERR_PROTO;
            }
        }
        if (c.bad) {
            *why = "topic filter list truncated or not UTF-8";
            return ED_ERR_PROTO;
        }
        if (f.len == 0) {
            *why = "empty topic filter";
            return ED_ERR_PROTO;
        }
        out->n++;
    }
    if (out->n == 0) { /* MQTT 5.0, 3.8.3 and 3.10.3: a Protocol Error */
        *why = "SUBSCRIBE/UNSUBSCRIBE without a topic filter";
        return level == 5 ? ED_ERR_INVAL : ED_ERR_PROTO;
    }
    return ED_OK;
}

int ed_mqtt_subscribe_next(int type, struct ed_mqtt_subscribe *s, struct ed_mqtt_bytes *filter,
                           uint8_t *options)
{
    if (s->list >= s->list_end) return 0;
    struct cur c;
    cur_init(&c, s->list, (size_t)(s->list_end - s->list));
    *filter = get_bin(&c);
    *options = type == ED_MQTT_SUBSCRIBE ? get_u8(&c) : 0;
    if (c.bad) return 0;
    s->list = c.p;
    return 1;
}

int ed_mqtt_decode_disconnect(const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                              struct ed_mqtt_disconnect *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (flags != 0) {
        *why = "DISCONNECT with flags set";
        return ED_ERR_PROTO;
    }
    struct cur c;
    cur_init(&c, body, len);
    if (level == 5 && cur_left(&c) > 0) {
        out->reason = get_u8(&c);
        if (cur_left(&c) > 0) {
            int rc = get_props(&c, ED_MQTT_DISCONNECT, false, &out->props, why);
            if (rc) return rc;
            out->has_session_expiry =
                prop_find(out->props, ED_MQTT_PROP_SESSION_EXPIRY, &out->session_expiry_s);
        }
    }
    if (cur_left(&c) != 0) {
        *why = "bytes left over after DISCONNECT";
        return ED_ERR_PROTO;
    }
    return ED_OK;
}

int ed_mqtt_decode_empty(const uint8_t *body, size_t len, uint8_t flags, const char **why)
{
    ED_UNUSED(body);
    if (flags != 0 || len != 0) {
        *why = "PINGREQ with flags or a body";
        return ED_ERR_PROTO;
    }
    return ED_OK;
}

uint8_t ed_mqtt_decode_reason(int rc)
{
    return rc == ED_ERR_INVAL ? ED_MQTT_RC_PROTOCOL_ERROR : ED_MQTT_RC_MALFORMED;
}

/* ---- encoders ---- */

size_t ed_mqtt_encode_connack(uint8_t *out, size_t cap, uint8_t level, bool session_present,
                              uint8_t reason, const struct ed_mqtt_connack_props *props)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    if (level != 5) {
        uint8_t rc = 0;
        switch (reason) {
        case 0:
            rc = 0;
            break;
        case ED_MQTT_RC_UNSUPPORTED_VERSION:
            rc = 1;
            break;
        case ED_MQTT_RC_CLIENT_ID_NOT_VALID:
            rc = 2;
            break;
        case 0x86:
            rc = 4;
            break;
        case 0x87:
        case ED_MQTT_RC_BAD_AUTH_METHOD:
            rc = 5;
            break;
        default:
            rc = 3; /* server unavailable */
            break;
        }
        put_fixed(&w, ED_MQTT_CONNACK << 4, 2);
        ed_bytes_put_be(&w, session_present && rc == 0 ? 1 : 0, 1);
        ed_bytes_put_be(&w, rc, 1);
        return wr_done(&w);
    }
    /* Properties first into a scratch area, to know their length. */
    uint8_t pb[512];
    ed_bytes_wr p;
    ed_bytes_wr_fixed(&p, pb, sizeof pb);
    if (props) {
        if (props->receive_max) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_RECEIVE_MAX, 1);
            ed_bytes_put_be(&p, props->receive_max, 2);
        }
        if (props->max_packet_len) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_MAX_PACKET_SIZE, 1);
            ed_bytes_put_be(&p, props->max_packet_len, 4);
        }
        if (props->max_qos >= 0 && props->max_qos < 2) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_MAX_QOS, 1);
            ed_bytes_put_be(&p, (uint8_t)props->max_qos, 1);
        }
        if (props->retain_unavailable) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_RETAIN_AVAILABLE, 1);
            ed_bytes_put_be(&p, 0, 1);
        }
        if (props->shared_unavailable) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_SHARED_SUB_AVAILABLE, 1);
            ed_bytes_put_be(&p, 0, 1);
        }
        if (props->sub_ids_unavailable) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_SUB_ID_AVAILABLE, 1);
            ed_bytes_put_be(&p, 0, 1);
        }
        if (props->session_expiry_zero || props->session_expiry_s) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_SESSION_EXPIRY, 1);
            ed_bytes_put_be(&p, props->session_expiry_s, 4);
        }
        if (props->server_keepalive) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_SERVER_KEEP_ALIVE, 1);
            ed_bytes_put_be(&p, props->server_keepalive, 2);
        }
        if (props->topic_alias_max) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_TOPIC_ALIAS_MAX, 1);
            ed_bytes_put_be(&p, props->topic_alias_max, 2);
        }
        if (props->assigned_client_id.len) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_ASSIGNED_CLIENT_ID, 1);
            put_str(&p, props->assigned_client_id.p, props->assigned_client_id.len);
        }
        if (props->reason_string) {
            ed_bytes_put_be(&p, ED_MQTT_PROP_REASON_STRING, 1);
            put_str(&p, props->reason_string, strlen(props->reason_string));
        }
    }
    if (p.err) return 0;
    uint32_t rem = (uint32_t)(2 + ed_mqtt_varint_len((uint32_t)p.len) + p.len);
    put_fixed(&w, ED_MQTT_CONNACK << 4, rem);
    ed_bytes_put_be(&w, session_present && reason == 0 ? 1 : 0, 1);
    ed_bytes_put_be(&w, reason, 1);
    put_varint(&w, (uint32_t)p.len);
    ed_bytes_put_raw(&w, pb, p.len);
    return wr_done(&w);
}

size_t ed_mqtt_encode_ack(uint8_t *out, size_t cap, int type, uint8_t level, uint16_t packet_id,
                          uint8_t reason)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    uint8_t first = (uint8_t)(type << 4 | (type == ED_MQTT_PUBREL ? 2 : 0));
    if (level == 5 && reason != 0) {
        put_fixed(&w, first, 3);
        ed_bytes_put_be(&w, packet_id, 2);
        ed_bytes_put_be(&w, reason, 1);
    } else {
        put_fixed(&w, first, 2);
        ed_bytes_put_be(&w, packet_id, 2);
    }
    return wr_done(&w);
}

size_t ed_mqtt_encode_suback(uint8_t *out, size_t cap, int type, uint8_t level, uint16_t packet_id,
                             const uint8_t *codes, int n)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    bool with_codes = type == ED_MQTT_SUBACK || level == 5;
    uint32_t rem = 2 + (level == 5 ? 1 : 0) + (with_codes ? (uint32_t)n : 0);
    put_fixed(&w, (uint8_t)(type << 4), rem);
    ed_bytes_put_be(&w, packet_id, 2);
    if (level == 5) ed_bytes_put_be(&w, 0, 1); /* no properties */
    if (with_codes) ed_bytes_put_raw(&w, codes, (size_t)n);
    return wr_done(&w);
}

size_t ed_mqtt_encode_pingresp(uint8_t *out, size_t cap)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    put_fixed(&w, ED_MQTT_PINGRESP << 4, 0);
    return wr_done(&w);
}

size_t ed_mqtt_encode_disconnect(uint8_t *out, size_t cap, uint8_t reason,
                                 const char *reason_string)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    size_t rs = reason_string ? ED_MIN(strlen(reason_string), 200) : 0;
    size_t plen = rs ? 3 + rs : 0;
    put_fixed(&w, ED_MQTT_DISCONNECT << 4, (uint32_t)(2 + plen));
    ed_bytes_put_be(&w, reason, 1);
    put_varint(&w, (uint32_t)plen);
    if (rs) {
        ed_bytes_put_be(&w, ED_MQTT_PROP_REASON_STRING, 1);
        put_str(&w, reason_string, rs);
    }
    return wr_done(&w);
}

size_t ed_mqtt_publish_len(uint8_t level, uint8_t qos, size_t topic_len, size_t props_len,
                           size_t payload_len)
{
    size_t rem = 2 + topic_len + (qos ? 2 : 0) + payload_len;
    if (level == 5) rem += ed_mqtt_varint_len((uint32_t)props_len) + props_len;
    if (rem > ED_MQTT_MAX_REMAINING) return SIZE_MAX;
    return 1 + ed_mqtt_varint_len((uint32_t)rem) + rem;
}

size_t ed_mqtt_encode_publish_head(uint8_t *out, size_t cap, uint8_t level, uint8_t qos,
                                   bool retain, bool dup, struct ed_mqtt_bytes topic,
                                   uint16_t packet_id, struct ed_mqtt_bytes props,
                                   size_t payload_len)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    size_t rem = 2 + topic.len + (qos ? 2 : 0) + payload_len;
    if (level == 5) rem += ed_mqtt_varint_len((uint32_t)props.len) + props.len;
    if (rem > ED_MQTT_MAX_REMAINING || topic.len > 65535) return 0;
    uint8_t first = (uint8_t)(ED_MQTT_PUBLISH << 4 | (dup ? 8 : 0) | qos << 1 | (retain ? 1 : 0));
    put_fixed(&w, first, (uint32_t)rem);
    put_str(&w, topic.p, topic.len);
    if (qos) ed_bytes_put_be(&w, packet_id, 2);
    if (level == 5) {
        put_varint(&w, (uint32_t)props.len);
        ed_bytes_put_raw(&w, props.p, props.len);
    }
    return wr_done(&w);
}

const char *ed_mqtt_type_name(int type)
{
    static const char *const names[16] = {"reserved(0)", "CONNECT",  "CONNACK",     "PUBLISH",
                                          "PUBACK",      "PUBREC",   "PUBREL",      "PUBCOMP",
                                          "SUBSCRIBE",   "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                          "PINGREQ",     "PINGRESP", "DISCONNECT",  "AUTH"};
    return type >= 0 && type < 16 ? names[type] : "?";
}
