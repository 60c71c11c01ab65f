/* The record of a persistent MQTT session as kept in the compacted internal
 * topic __mqtt_sessions (key = client id, value = this encoding, a null
 * value deletes): its subscriptions, the next offset to deliver in each
 * partition it has looked at, the QoS 2 packet ids received and not yet
 * released, and the QoS 1 and 2 deliveries in flight identified by
 * (partition, offset) with their packet ids. Layout (big-endian, docs/format.md):
 *
 *   u8 version (1) | u8 flags (bit 0: connected when saved) | u32 expiry_s
 *   | i64 saved_ms (Unix epoch) | u16 next packet id
 *   | u16 n_subs  { u8 options (bits 0-1 QoS, 2 No Local, 3 Retain As
 *                   Published) | u16 len | filter }
 *   | u32 n_pos   { u16 len | Kafka topic | i32 partition | i64 next }
 *   | u16 n_in    { u16 packet id }
 *   | u16 n_out   { u16 packet id | u8 state (1 QoS 2 PUBLISH sent, 2
 *                   PUBREL sent, 3 QoS 1 PUBLISH sent) | u32 index into
 *                   the positions | i64 offset }
 *   [ | n_subs x u32 Subscription Identifier (0: none) ]  only when some
 *                   subscription has one: records without stay as version
 *                   1 wrote them
 *
 * State 3 and the identifiers' tail came later within version 1: older
 * Eddy do not resume a session holding a state 3 (they start a new one)
 * and skip a record with the tail.
 *
 * Decoding checks every length and value and takes nothing on error. */
#ifndef ED_BRIDGE_MQTT_SESSION_H
#define ED_BRIDGE_MQTT_SESSION_H

#include "platform/base.h"

#define ED_MQTT_SESSION_VERSION   1
#define ED_MQTT_SESSION_MAX_SUBS  64
#define ED_MQTT_SESSION_MAX_POS   100000
#define ED_MQTT_SESSION_OUT_PUB   1 /* PUBLISH sent, PUBREC awaited */
#define ED_MQTT_SESSION_OUT_REL   2 /* PUBREL sent, PUBCOMP awaited */
#define ED_MQTT_SESSION_OUT_ACK   3 /* QoS 1 PUBLISH sent, PUBACK awaited */
#define ED_MQTT_SESSION_CONNECTED 1 /* flags: saved while connected */

struct ed_mqtt_sess_sub {
    const uint8_t *filter; /* points into the decoded (or caller's) bytes */
    uint16_t len;
    uint8_t opts;
    uint32_t sub_id; /* MQTT 5 Subscription Identifier, 0 = none */
};

struct ed_mqtt_sess_pos {
    const uint8_t *topic; /* Kafka topic name, not NUL-terminated */
    uint16_t topic_len;
    int32_t partition;
    int64_t next;
};

struct ed_mqtt_sess_out {
    uint16_t packet_id;
    uint8_t state;
    uint32_t pos; /* index into pos[] */
    int64_t offset;
};

struct ed_mqtt_sess_rec {
    uint8_t flags;
    uint32_t expiry_s;
    int64_t saved_ms;
    uint16_t next_pid;
    uint16_t n_subs;
    uint32_t n_pos;
    uint16_t n_in, n_out;
    struct ed_mqtt_sess_sub *subs;
    struct ed_mqtt_sess_pos *pos;
    uint16_t *in;
    struct ed_mqtt_sess_out *out;
};

/* Bytes ed_mqtt_session_encode writes for r. */
size_t ed_mqtt_session_len(const struct ed_mqtt_sess_rec *r);
/* Encodes r into out (cap bytes, at least ed_mqtt_session_len): the length
 * written, 0 when it does not fit. */
size_t ed_mqtt_session_encode(const struct ed_mqtt_sess_rec *r, uint8_t *out, size_t cap);
/* Decodes len bytes at p into *r, whose arrays are allocated (free with
 * ed_mqtt_session_free) and whose strings point into p. ED_OK;
 * ED_ERR_CORRUPT (with *why) for bytes that are not a valid record,
 * ED_ERR_UNSUPPORTED for another version, ED_ERR_NOMEM. *r is zeroed on
 * error. */
int ed_mqtt_session_decode(const uint8_t *p, size_t len, struct ed_mqtt_sess_rec *r,
                           const char **why);
void ed_mqtt_session_free(struct ed_mqtt_sess_rec *r);
/* Whether n bytes at p are a valid Kafka topic name (1 to 249 of
 * [A-Za-z0-9._-], not "." or ".."). */
bool ed_mqtt_session_topic_ok(const uint8_t *p, size_t n);

#endif
