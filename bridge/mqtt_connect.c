/* The MQTT listener's CONNECT (see mqtt_int.h): decoding and refusals,
 * authentication against the user store, the client id, the will, the
 * take-over of a connected session and the CONNACK. */
#define ED_LOG_MODULE "mqtt"
#include "bridge/mqtt_int.h"
#include "bridge/mqtt_codec.h"
#include "core/users.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void assign_client_id(ed_mqtt_conn *c)
{
    char id[48];
    snprintf(id, sizeof id, "eddy-%" PRIu64 "-%08x", ++c->m->n_ids,
             (unsigned)(ed_plat_clock_mono_ns() & 0xffffffffu));
    c->client_id = ed_strdup(id);
}

bool ed_mqtt_anonymous_ok(const ed_mqtt *m)
{
    if (m->allow_anonymous >= 0) return m->allow_anonymous == 1;
    return !m->b->users || ed_users_count(m->b->users) == 0;
}

/* User name and password against the user store (the same credentials as
 * Kafka's SASL): 0x86 (3.1.1: return code 4) for a wrong password or an
 * unknown user, 0x87 (3.1.1: 5) for no user name where anonymous clients
 * are refused. False when the connection was refused. */
static bool authenticate(ed_mqtt_conn *c, const struct ed_mqtt_connect *ck)
{
    uint8_t rc = 0;
    const ed_users *u = c->m->b->users;
    if (!ck->has_username) {
        if (!ed_mqtt_anonymous_ok(c->m)) rc = 0x87;
    } else if (!ck->has_password || !u ||
               ed_users_check_password(u, (const char *)ck->username.p, ck->username.len,
                                       ck->password.p, ck->password.len) != ED_OK) {
        rc = 0x86;
    }
    if (!rc && ck->has_username) {
        c->user = ed_strndup((const char *)ck->username.p, ck->username.len);
        if (!c->user) {
            ed_mqtt_close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory");
            return false;
        }
    }
    if (!rc) return true;
    ED_LOG_WARN_RL("refusing MQTT connection from %s: %s", c->peer,
                   rc == 0x87 ? "no user name (anonymous clients are refused)"
                              : "bad user name or password");
    uint8_t b[8];
    ed_mqtt_send_bytes(c, b, ed_mqtt_encode_connack(b, sizeof b, ck->level, false, rc, NULL));
    ed_mqtt_out_flush(c);
    ed_mqtt_conn_close(c, NULL, false);
    return false;
}

void ed_mqtt_on_connect(ed_mqtt_conn *c, uint8_t flags, const uint8_t *body, size_t len)
{
    ed_mqtt *m = c->m;
    struct ed_mqtt_connect ck;
    const char *why = "?";
    int rc = ed_mqtt_decode_connect(body, len, flags, &ck, &why);
    if (rc == ED_ERR_UNSUPPORTED) {
        m->stats.n_bad++;
        ED_LOG_WARN_RL("refusing MQTT connection from %s: %s (level %u)", c->peer, why,
                       (unsigned)ck.level);
        if (ck.level != 0) {
            /* A 3.1.1-style refusal: return code 1, understood by every
             * version's clients. */
            uint8_t b[8];
            ed_mqtt_send_bytes(c, b,
                               ed_mqtt_encode_connack(b, sizeof b, 4, false,
                                                      ED_MQTT_RC_UNSUPPORTED_VERSION, NULL));
            ed_mqtt_out_flush(c);
        }
        ed_mqtt_conn_close(c, NULL, false);
        return;
    }
    if (rc != ED_OK) {
        c->level = 0;
        if (ck.level == 5) {
            /* MQTT 5 may say why in a CONNACK before closing (4.13.1) */
            uint8_t b[8];
            ed_mqtt_send_bytes(
                c, b,
                ed_mqtt_encode_connack(b, sizeof b, 5, false, ed_mqtt_decode_reason(rc), NULL));
            ed_mqtt_out_flush(c);
        }
        ed_mqtt_close_bad(c, ed_mqtt_decode_reason(rc), why);
        return;
    }
    c->level = ck.level;
    c->keepalive_s = ck.keepalive_s;
    /* MQTT 5 clients asking for a longer keep-alive than mqtt.keepalive.max,
     * or none, are told the server's in CONNACK and held to it; 3.1.1 has
     * no way to say so. */
    uint16_t server_ka = 0;
    if (ck.level == 5 && m->lim.keepalive_max_s > 0 &&
        (ck.keepalive_s == 0 || ck.keepalive_s > m->lim.keepalive_max_s))
        server_ka = c->keepalive_s = m->lim.keepalive_max_s;
    c->client_max_packet = ck.max_packet_len;
    c->session_expiry_s = ck.session_expiry_s;
    c->out_window = (uint16_t)ED_MIN(ck.receive_max, m->lim.n_inflight_max);
    uint8_t b[512];
    if (ck.has_auth_method) {
        ED_LOG_WARN("refusing MQTT connection from %s: enhanced authentication is not supported",
                    c->peer);
        ed_mqtt_send_bytes(
            c, b, ed_mqtt_encode_connack(b, sizeof b, 5, false, ED_MQTT_RC_BAD_AUTH_METHOD, NULL));
        ed_mqtt_out_flush(c);
        ed_mqtt_conn_close(c, NULL, false);
        return;
    }
    if (!authenticate(c, &ck)) return;
    bool assigned = false;
    if (ck.client_id.len == 0) {
        if (ck.level == 4 && !ck.clean) {
            ED_LOG_WARN("refusing MQTT connection from %s: empty client id needs clean session",
                        c->peer);
            ed_mqtt_send_bytes(c, b,
                               ed_mqtt_encode_connack(b, sizeof b, 4, false,
                                                      ED_MQTT_RC_CLIENT_ID_NOT_VALID, NULL));
            ed_mqtt_out_flush(c);
            ed_mqtt_conn_close(c, NULL, false);
            return;
        }
        assign_client_id(c);
        assigned = true;
    } else if (ck.client_id.len > CLIENT_ID_MAX) {
        ED_LOG_WARN("refusing MQTT connection from %s: client id of %zu bytes (limit %d)", c->peer,
                    ck.client_id.len, CLIENT_ID_MAX);
        ed_mqtt_send_bytes(c, b,
                           ed_mqtt_encode_connack(b, sizeof b, ck.level, false,
                                                  ED_MQTT_RC_CLIENT_ID_NOT_VALID, NULL));
        ed_mqtt_out_flush(c);
        ed_mqtt_conn_close(c, NULL, false);
        return;
    } else {
        c->client_id = ed_strndup((const char *)ck.client_id.p, ck.client_id.len);
    }
    if (!c->client_id) {
        ed_mqtt_close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory");
        return;
    }
    if (ck.will) {
        if (!ed_mqtt_topic_name_ok(ck.will_topic.p, ck.will_topic.len)) {
            ed_mqtt_close_bad(c, ED_MQTT_RC_TOPIC_NAME_INVALID,
                              "will topic is not a valid topic name");
            return;
        }
        size_t n = ck.will_topic.len + ck.will_payload.len + ck.will_props.len;
        c->will = ed_malloc(n ? n : 1);
        if (!c->will) {
            ed_mqtt_close_bad(c, ED_MQTT_RC_UNSPECIFIED, "out of memory for the will");
            return;
        }
        memcpy(c->will, ck.will_topic.p, ck.will_topic.len);
        if (ck.will_payload.len)
            memcpy(c->will + ck.will_topic.len, ck.will_payload.p, ck.will_payload.len);
        c->will_topic_len = ck.will_topic.len;
        c->will_payload_len = ck.will_payload.len;
        /* The will's properties become the PUBLISH's: all but the Will
         * Delay Interval, which only a will has. */
        uint8_t *wp = c->will + ck.will_topic.len + ck.will_payload.len;
        size_t wn = 0;
        struct ed_mqtt_prop_iter it;
        struct ed_mqtt_prop pr;
        ed_mqtt_prop_iter_init(&it, ck.will_props);
        for (const uint8_t *at = it.p; ed_mqtt_prop_next(&it, &pr); at = it.p) {
            if (pr.id == ED_MQTT_PROP_WILL_DELAY) continue;
            memcpy(wp + wn, at, (size_t)(it.p - at));
            wn += (size_t)(it.p - at);
        }
        c->will_props_len = wn;
        c->will_qos = ck.will_qos;
        c->will_retain = ck.will_retain;
        c->has_will = true;
    }
    /* Take-over: an existing connection with the same client id goes. */
    for (ed_mqtt_conn *o = m->conns; o; o = o->next) {
        if (o == c || !o->connected || o->closing || strcmp(o->client_id, c->client_id) != 0)
            continue;
        ED_LOG_INFO("client %s from %s takes over the session of %s", c->client_id, c->peer,
                    o->peer);
        ed_mqtt_send_disconnect(o, ED_MQTT_RC_SESSION_TAKEN_OVER, "session taken over");
        ed_mqtt_out_flush(o);
        ed_mqtt_conn_close(o, NULL, true);
        break;
    }
    bool present = false;
    uint32_t granted_s = 0;
    int src = ed_mqtt_session_connect(c, &ck, &present, &granted_s);
    if (src != ED_OK) {
        ed_mqtt_send_bytes(
            c, b, ed_mqtt_encode_connack(b, sizeof b, c->level, false, (uint8_t)src, NULL));
        ed_mqtt_out_flush(c);
        ed_mqtt_conn_close(c, NULL, false);
        return;
    }
    c->connected = true;
    struct ed_mqtt_connack_props cp;
    memset(&cp, 0, sizeof cp);
    cp.receive_max = m->lim.n_inflight_max;
    cp.max_packet_len = m->lim.max_packet_len;
    cp.max_qos = -1;
    cp.topic_alias_max = m->lim.topic_alias_max;
    cp.server_keepalive = server_ka;
    /* A client asking for more than mqtt.session.expiry.max is told what
     * it gets (absent would mean "as asked"). */
    cp.session_expiry_zero = c->level == 5 && ck.session_expiry_s > 0 && granted_s == 0;
    if (c->level == 5 && granted_s != ck.session_expiry_s) cp.session_expiry_s = granted_s;
    if (assigned) {
        cp.assigned_client_id.p = (const uint8_t *)c->client_id;
        cp.assigned_client_id.len = strlen(c->client_id);
    }
    ed_mqtt_send_bytes(c, b, ed_mqtt_encode_connack(b, sizeof b, c->level, present, 0, &cp));
    ED_LOG_DBG("MQTT %s client %s connected from %s (keep-alive %u s)",
               c->level == 5 ? "5.0" : "3.1.1", c->client_id, c->peer, (unsigned)c->keepalive_s);
}
