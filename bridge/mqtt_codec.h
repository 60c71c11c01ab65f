/* MQTT 3.1.1 (protocol level 4) and 5.0 (level 5) packets: decoding of every
 * packet a client sends and encoding of every packet the server sends. Pure
 * functions over caller buffers, no I/O and no session logic. Decoded
 * strings and binaries point into the packet's bytes (not NUL-terminated).
 * Every decoder checks lengths against the packet before reading, validates
 * UTF-8 strings and MQTT 5 properties, and names the first problem in *why
 * (static text). */
#ifndef ED_BRIDGE_MQTT_CODEC_H
#define ED_BRIDGE_MQTT_CODEC_H

#include "platform/base.h"

enum ed_mqtt_type {
    ED_MQTT_CONNECT = 1,
    ED_MQTT_CONNACK = 2,
    ED_MQTT_PUBLISH = 3,
    ED_MQTT_PUBACK = 4,
    ED_MQTT_PUBREC = 5,
    ED_MQTT_PUBREL = 6,
    ED_MQTT_PUBCOMP = 7,
    ED_MQTT_SUBSCRIBE = 8,
    ED_MQTT_SUBACK = 9,
    ED_MQTT_UNSUBSCRIBE = 10,
    ED_MQTT_UNSUBACK = 11,
    ED_MQTT_PINGREQ = 12,
    ED_MQTT_PINGRESP = 13,
    ED_MQTT_DISCONNECT = 14,
    ED_MQTT_AUTH = 15
};

/* MQTT 5 reason codes the server sends (3.1.1 CONNACK return codes are
 * mapped from these by the encoder). */
enum ed_mqtt_reason {
    ED_MQTT_RC_SUCCESS = 0x00,
    ED_MQTT_RC_GRANTED_QOS1 = 0x01,
    ED_MQTT_RC_GRANTED_QOS2 = 0x02,
    ED_MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    ED_MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    ED_MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    ED_MQTT_RC_UNSPECIFIED = 0x80,
    ED_MQTT_RC_MALFORMED = 0x81,
    ED_MQTT_RC_PROTOCOL_ERROR = 0x82,
    ED_MQTT_RC_IMPL_SPECIFIC = 0x83,
    ED_MQTT_RC_UNSUPPORTED_VERSION = 0x84,
    ED_MQTT_RC_CLIENT_ID_NOT_VALID = 0x85,
    ED_MQTT_RC_NOT_AUTHORIZED = 0x87,
    ED_MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    ED_MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    ED_MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    ED_MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    ED_MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    ED_MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    ED_MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
    ED_MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    ED_MQTT_RC_PACKET_TOO_LARGE = 0x95,
    ED_MQTT_RC_QUOTA_EXCEEDED = 0x97,
    ED_MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    ED_MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    ED_MQTT_RC_SERVER_BUSY = 0x89,
    ED_MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    ED_MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    ED_MQTT_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
    ED_MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
    ED_MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2
};

/* MQTT 5 property identifiers Eddy reads or writes. */
enum ed_mqtt_prop_id {
    ED_MQTT_PROP_PAYLOAD_FORMAT = 0x01,
    ED_MQTT_PROP_MESSAGE_EXPIRY = 0x02,
    ED_MQTT_PROP_CONTENT_TYPE = 0x03,
    ED_MQTT_PROP_RESPONSE_TOPIC = 0x08,
    ED_MQTT_PROP_CORRELATION_DATA = 0x09,
    ED_MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    ED_MQTT_PROP_SESSION_EXPIRY = 0x11,
    ED_MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
    ED_MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    ED_MQTT_PROP_AUTH_METHOD = 0x15,
    ED_MQTT_PROP_AUTH_DATA = 0x16,
    ED_MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    ED_MQTT_PROP_WILL_DELAY = 0x18,
    ED_MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
    ED_MQTT_PROP_RESPONSE_INFO = 0x1A,
    ED_MQTT_PROP_SERVER_REFERENCE = 0x1C,
    ED_MQTT_PROP_REASON_STRING = 0x1F,
    ED_MQTT_PROP_RECEIVE_MAX = 0x21,
    ED_MQTT_PROP_TOPIC_ALIAS_MAX = 0x22,
    ED_MQTT_PROP_TOPIC_ALIAS = 0x23,
    ED_MQTT_PROP_MAX_QOS = 0x24,
    ED_MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    ED_MQTT_PROP_USER = 0x26,
    ED_MQTT_PROP_MAX_PACKET_SIZE = 0x27,
    ED_MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
    ED_MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    ED_MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A
};

#define ED_MQTT_MAX_REMAINING 268435455u /* largest Remaining Length (4 varint bytes) */

/* Bytes of a string or binary inside a packet. */
struct ed_mqtt_bytes {
    const uint8_t *p;
    size_t len;
};

/* ---- fixed header ---- */

/* Reads the fixed header at p[0..len): ED_OK with the first byte, the
 * Remaining Length and the header's own length; ED_ERR_AGAIN when more bytes
 * are needed; ED_ERR_PROTO when the length varint runs past 4 bytes. */
int ed_mqtt_fixed_header(const uint8_t *p, size_t len, uint8_t *first, uint32_t *rem_len,
                         size_t *hdr_len);
/* Encodes a Remaining Length (<= ED_MQTT_MAX_REMAINING) into out[4]; returns
 * its length (1..4). */
size_t ed_mqtt_varint_put(uint8_t *out, uint32_t v);
/* Length of the varint of v. */
size_t ed_mqtt_varint_len(uint32_t v);

/* ---- validation helpers ---- */

/* Well-formed UTF-8 as MQTT requires: no U+0000, no surrogates, no overlong
 * forms, nothing above U+10FFFF. */
bool ed_mqtt_utf8_ok(const uint8_t *p, size_t len);

/* ---- MQTT 5 properties ---- */

struct ed_mqtt_prop {
    uint8_t id;
    uint32_t num;               /* byte, two-byte, four-byte and varint values */
    struct ed_mqtt_bytes data;  /* strings and binary; a user property's name */
    struct ed_mqtt_bytes value; /* a user property's value */
};
/* Iterates a property block that ed_mqtt_props_check accepted. */
struct ed_mqtt_prop_iter {
    const uint8_t *p, *end;
};
void ed_mqtt_prop_iter_init(struct ed_mqtt_prop_iter *it, struct ed_mqtt_bytes props);
/* 1 and *out filled, 0 at the end. */
int ed_mqtt_prop_next(struct ed_mqtt_prop_iter *it, struct ed_mqtt_prop *out);
/* Checks a property block: known identifiers allowed in packet type (for a
 * will's properties pass ED_MQTT_PUBLISH with will = true), well-formed
 * values, no repeated single-valued property. ED_ERR_PROTO with *why for a
 * malformed block (an unknown identifier, one not valid in this packet, a
 * value cut short: MQTT 5.0, 2.2.2.2); ED_ERR_INVAL with *why for what MQTT
 * 5 calls a Protocol Error (a property given twice, a value out of its
 * range: Receive Maximum or Maximum Packet Size 0, a 0/1 byte above 1,
 * Subscription Identifier 0, a Response Topic with a wildcard). */
int ed_mqtt_props_check(struct ed_mqtt_bytes props, int type, bool will, const char **why);

/* ---- decoding (client to server) ---- */

struct ed_mqtt_connect {
    uint8_t level; /* 4 or 5 */
    bool clean;
    uint16_t keepalive_s;
    struct ed_mqtt_bytes client_id;
    struct ed_mqtt_bytes props;
    bool will;
    uint8_t will_qos;
    bool will_retain;
    struct ed_mqtt_bytes will_props;
    struct ed_mqtt_bytes will_topic;
    struct ed_mqtt_bytes will_payload;
    bool has_username, has_password;
    struct ed_mqtt_bytes username, password;
    /* from the properties (level 5) */
    uint16_t receive_max;      /* 65535 when absent */
    uint32_t max_packet_len;   /* 0 = no limit */
    uint32_t session_expiry_s; /* 0 when absent */
    bool has_auth_method;
};
/* Decodes a CONNECT body (after the fixed header; flags = low nibble of the
 * first byte). ED_ERR_UNSUPPORTED: the protocol name or level is not MQTT
 * 3.1.1 / 5 (out->level holds the level read, 0 if the name was wrong).
 * ED_ERR_PROTO: malformed, with *why; ED_ERR_INVAL: a Protocol Error (MQTT
 * 5), with *why. The other decoders answer the same two. */
int ed_mqtt_decode_connect(const uint8_t *body, size_t len, uint8_t flags,
                           struct ed_mqtt_connect *out, const char **why);

struct ed_mqtt_publish {
    bool dup;
    uint8_t qos;
    bool retain;
    struct ed_mqtt_bytes topic;
    uint16_t packet_id; /* 0 for QoS 0 */
    struct ed_mqtt_bytes props;
    struct ed_mqtt_bytes payload;
    bool has_topic_alias;
    uint16_t topic_alias; /* its value (MQTT 5), 0 when absent */
};
int ed_mqtt_decode_publish(const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                           struct ed_mqtt_publish *out, const char **why);

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
struct ed_mqtt_ack {
    uint16_t packet_id;
    uint8_t reason;
    struct ed_mqtt_bytes props;
};
int ed_mqtt_decode_ack(int type, const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                       struct ed_mqtt_ack *out, const char **why);

/* SUBSCRIBE and UNSUBSCRIBE: the header, then the list through an iterator
 * (the whole list is checked by the decode). */
struct ed_mqtt_subscribe {
    uint16_t packet_id;
    struct ed_mqtt_bytes props;
    uint32_t sub_id; /* Subscription Identifier, 0 if none */
    const uint8_t *list, *list_end;
    int n;
};
int ed_mqtt_decode_subscribe(int type, const uint8_t *body, size_t len, uint8_t flags,
                             uint8_t level, struct ed_mqtt_subscribe *out, const char **why);
/* Next entry: 1 with the filter and (SUBSCRIBE) the options byte, 0 at the end. */
int ed_mqtt_subscribe_next(int type, struct ed_mqtt_subscribe *s, struct ed_mqtt_bytes *filter,
                           uint8_t *options);

struct ed_mqtt_disconnect {
    uint8_t reason;
    struct ed_mqtt_bytes props;
    uint32_t session_expiry_s; /* 0 when absent */
    bool has_session_expiry;
};
int ed_mqtt_decode_disconnect(const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                              struct ed_mqtt_disconnect *out, const char **why);
/* PINGREQ: flags 0 and no body. */
int ed_mqtt_decode_empty(const uint8_t *body, size_t len, uint8_t flags, const char **why);

/* ---- encoding (server to client) ----
 * Each encoder writes one whole packet into out[0..cap) and returns its
 * length, or 0 if it does not fit. */

struct ed_mqtt_connack_props {
    uint16_t receive_max;                    /* 0 = leave out */
    uint32_t max_packet_len;                 /* 0 = leave out */
    int8_t max_qos;                          /* -1 = leave out */
    bool retain_unavailable;                 /* send Retain Available = 0 */
    bool shared_unavailable;                 /* send Shared Subscription Available = 0 */
    bool sub_ids_unavailable;                /* send Subscription Identifiers Available = 0 */
    bool session_expiry_zero;                /* send Session Expiry Interval = 0 */
    uint32_t session_expiry_s;               /* non-zero: send Session Expiry Interval */
    uint16_t server_keepalive;               /* 0 = leave out */
    uint16_t topic_alias_max;                /* 0 = leave out (no aliases) */
    struct ed_mqtt_bytes assigned_client_id; /* len 0 = leave out */
    const char *reason_string;               /* NULL = leave out */
};
/* reason: an MQTT 5 reason code; for level 4 it is mapped to a 3.1.1 return
 * code (0x84 -> 1, 0x85 -> 2, 0x88/0x89 -> 3, 0x86 -> 4, 0x87/0x8C -> 5). */
size_t ed_mqtt_encode_connack(uint8_t *out, size_t cap, uint8_t level, bool session_present,
                              uint8_t reason, const struct ed_mqtt_connack_props *props);
/* PUBACK, PUBREC, PUBREL, PUBCOMP (reason left out when 0, as MQTT 5 allows). */
size_t ed_mqtt_encode_ack(uint8_t *out, size_t cap, int type, uint8_t level, uint16_t packet_id,
                          uint8_t reason);
/* SUBACK / UNSUBACK with one reason code (3.1.1: granted QoS or 0x80) per
 * entry; 3.1.1 UNSUBACK has no codes. */
size_t ed_mqtt_encode_suback(uint8_t *out, size_t cap, int type, uint8_t level, uint16_t packet_id,
                             const uint8_t *codes, int n);
size_t ed_mqtt_encode_pingresp(uint8_t *out, size_t cap);
/* MQTT 5 only (3.1.1 has no server DISCONNECT). */
size_t ed_mqtt_encode_disconnect(uint8_t *out, size_t cap, uint8_t reason,
                                 const char *reason_string);
/* Everything of a PUBLISH but the payload (which follows it on the wire);
 * props is a checked MQTT 5 property block passed through (level 5 only). */
size_t ed_mqtt_encode_publish_head(uint8_t *out, size_t cap, uint8_t level, uint8_t qos,
                                   bool retain, bool dup, struct ed_mqtt_bytes topic,
                                   uint16_t packet_id, struct ed_mqtt_bytes props,
                                   size_t payload_len);
/* Whole length of such a PUBLISH (header, properties and payload). */
size_t ed_mqtt_publish_len(uint8_t level, uint8_t qos, size_t topic_len, size_t props_len,
                           size_t payload_len);

const char *ed_mqtt_type_name(int type);
/* The reason code for a decoder's error: 0x82 Protocol Error for
 * ED_ERR_INVAL, else 0x81 Malformed Packet. */
uint8_t ed_mqtt_decode_reason(int rc);

/* ---- the client side (Eddy pulling from another broker) ----
 * Encoders of what a client sends (CONNECT, SUBSCRIBE, PINGREQ,
 * DISCONNECT; PUBACK/PUBREC/PUBCOMP are ed_mqtt_encode_ack) and decoders
 * of what only a server sends (CONNACK, SUBACK; a server's PUBLISH and
 * PUBREL go through ed_mqtt_decode_publish / ed_mqtt_decode_ack). Same
 * contracts as above: encoders return the length or 0, decoders ED_OK, or
 * ED_ERR_PROTO (malformed) or ED_ERR_INVAL (a Protocol Error) with *why. */

struct ed_mqtt_connect_opts {
    uint8_t level; /* 4 or 5 */
    bool clean;    /* Clean Session (3.1.1) / Clean Start (5) */
    uint16_t keepalive_s;
    struct ed_mqtt_bytes client_id;
    bool has_username, has_password;
    struct ed_mqtt_bytes username, password;
    /* MQTT 5 properties (0 = leave out) */
    uint32_t session_expiry_s;
    uint16_t receive_max;
    uint32_t max_packet_len;
};
size_t ed_mqtt_encode_connect(uint8_t *out, size_t cap, const struct ed_mqtt_connect_opts *o);
/* SUBSCRIBE of n filters, each with its maximum QoS (no other options). */
size_t ed_mqtt_encode_subscribe(uint8_t *out, size_t cap, uint8_t level, uint16_t packet_id,
                                const struct ed_mqtt_bytes *filters, const uint8_t *qos, int n);
size_t ed_mqtt_encode_pingreq(uint8_t *out, size_t cap);
/* A normal DISCONNECT (reason 0) of either level. */
size_t ed_mqtt_encode_client_disconnect(uint8_t *out, size_t cap);

struct ed_mqtt_connack {
    bool session_present;
    uint8_t reason; /* 3.1.1: the return code (0..5); 5: the reason code */
    struct ed_mqtt_bytes props;
    /* from the properties (level 5) */
    uint16_t receive_max;      /* 65535 when absent */
    uint8_t max_qos;           /* 2 when absent */
    uint16_t server_keepalive; /* 0 when absent */
    uint32_t max_packet_len;   /* 0 = no limit */
    struct ed_mqtt_bytes assigned_client_id, reason_string;
};
int ed_mqtt_decode_connack(const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                           struct ed_mqtt_connack *out, const char **why);
/* Text for a CONNACK refusal (3.1.1 return code or MQTT 5 reason code). */
const char *ed_mqtt_connack_text(uint8_t level, uint8_t reason);

struct ed_mqtt_suback {
    uint16_t packet_id;
    struct ed_mqtt_bytes props;
    const uint8_t *codes; /* one per filter: granted QoS, or >= 0x80 refused */
    int n;
};
int ed_mqtt_decode_suback(const uint8_t *body, size_t len, uint8_t flags, uint8_t level,
                          struct ed_mqtt_suback *out, const char **why);

#endif
