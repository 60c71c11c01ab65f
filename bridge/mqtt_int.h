/* Internals shared by the MQTT listener's files: sessions, packets and the
 * engine's callbacks (mqtt.c), publishes into the log through the routes
 * and the ingest path (mqtt_pub.c), subscriptions and live delivery
 * (mqtt_sub.c), retained messages (mqtt_retain.c), records from the log
 * to subscribers (mqtt_out.c), persistent sessions delivered from the log
 * (mqtt_session*.c), shared subscriptions (mqtt_share.c; durable groups in
 * mqtt_share_log.c), MQTT 5
 * subscription identifiers (mqtt_subid.c) and message expiry
 * (mqtt_expiry.c) on deliveries. Everything here runs on the loop thread. */
#ifndef ED_BRIDGE_MQTT_INT_H
#define ED_BRIDGE_MQTT_INT_H

#include "bridge/mqtt.h"
#include "bridge/mqtt_alias.h"
#include "bridge/mqtt_codec.h"
#include "bridge/mqtt_origin.h"
#include "bridge/mqtt_route.h"
#include "core/conn.h"
#include "core/ingest.h"

#define MAX_SUBS      64
#define MAX_HEADERS   64
#define CLIENT_ID_MAX 256

/* An acknowledgement owed to the client, in arrival order. */
struct pend {
    uint16_t packet_id;
    uint8_t type;   /* PUBACK or PUBREC */
    uint8_t reason; /* the first failure of its waits */
    uint8_t waits;  /* durable waits still owed (a retained publish has two) */
    bool done;
    /* QoS 2 of a persistent session: the record is durable and the PUBREC
     * now waits for a session save holding its packet id (sgen: that
     * save's generation, 0 while none is under way) */
    bool sess_wait;
    uint32_t sgen;
};

struct sub {
    char *filter;
    size_t len;
    uint8_t qos;
    bool no_local;
    bool rap;        /* Retain As Published */
    uint32_t sub_id; /* MQTT 5 Subscription Identifier (0: none) */
};

/* An outbound QoS 1/2 delivery awaiting its acknowledgement. A persistent
 * session's deliveries come from the log and name their record (p set);
 * its QoS 2 deliveries wait for a durable session save before the PUBLISH
 * (OUT_SAVE_PUB) and before the PUBREL (OUT_SAVE_REL) go out. */
enum { OUT_FREE = 0, OUT_PUBACK, OUT_PUBREC, OUT_PUBCOMP, OUT_SAVE_PUB, OUT_SAVE_REL };
struct outq {
    uint16_t id;
    uint8_t state;
    uint32_t gen;    /* the session save it waits for (0: none yet) */
    ed_partition *p; /* the record delivered (persistent sessions) */
    int64_t offset;
};

/* A QoS 1/2 delivery waiting for room in the subscriber's window: topic,
 * properties (MQTT 5 subscribers only) and payload, copied. */
/* A message's topic, properties and payload copied one after another into
 * the data[] of the struct that holds it (a held delivery, a share group's
 * message): their lengths, and the three parts found again. */
struct ed_mqtt_packed {
    size_t topic_len, props_len, payload_len;
};
/* Copies the three parts into data (their lengths' sum bytes). */
void ed_mqtt_pack(struct ed_mqtt_packed *k, uint8_t *data, struct ed_mqtt_bytes topic,
                  struct ed_mqtt_bytes props, struct ed_mqtt_bytes payload);
size_t ed_mqtt_packed_len(const struct ed_mqtt_packed *k);
struct ed_mqtt_bytes ed_mqtt_packed_topic(const struct ed_mqtt_packed *k, const uint8_t *data);
struct ed_mqtt_bytes ed_mqtt_packed_props(const struct ed_mqtt_packed *k, const uint8_t *data);
struct ed_mqtt_bytes ed_mqtt_packed_payload(const struct ed_mqtt_packed *k, const uint8_t *data);

struct held {
    struct held *next;
    int64_t at_ms; /* when it began waiting (Unix epoch), for its expiry */
    uint8_t qos;
    bool retain;
    struct ed_mqtt_packed k;
    uint8_t data[];
};

typedef struct ed_mqtt_retained ed_mqtt_retained;
typedef struct ed_mqtt_out ed_mqtt_out;
typedef struct ed_mqtt_sessions ed_mqtt_sessions;
typedef struct ed_mqtt_sess ed_mqtt_sess;
typedef struct ed_mqtt_share ed_mqtt_share;
typedef struct ed_mqtt_share_logs ed_mqtt_share_logs;

/* A client's session: the connection engine's per-connection data. */
typedef struct ed_mqtt_conn ed_mqtt_conn;
struct ed_mqtt_conn {
    ed_mqtt *m;
    ed_conn *conn;
    ed_mqtt_conn *prev, *next; /* the listener's open sessions */
    bool connected, closing, graceful;
    bool no_will; /* closed by Eddy in a way that does not publish the will */
    bool kick;    /* acknowledgements to drain: see on_kick */
    bool drain;   /* on the listener's drains list */
    ed_mqtt_conn *drain_next;
    uint8_t level;
    uint16_t keepalive_s;
    uint64_t last_rx_ms, accepted_ms;
    char *client_id;
    char *user; /* the authenticated user name (NULL: anonymous) */
    char peer[64];
    /* will */
    bool has_will, will_retain;
    uint8_t will_qos;
    uint8_t *will; /* topic, then payload, then props */
    size_t will_topic_len, will_payload_len, will_props_len;
    /* acknowledgements owed, a ring indexed by sequence number (NULL while empty) */
    struct pend *pend;
    uint32_t pend_cap;
    uint64_t pend_head; /* sequence number of the oldest */
    uint32_t pend_n;
    uint8_t *qos2; /* bitmap of QoS 2 packet ids received and not released */
    /* subscriptions and outbound window */
    struct sub *subs; /* allocated at the first SUBSCRIBE, grown up to MAX_SUBS */
    int n_subs;
    int32_t subs_cap;
    struct outq *outq;
    uint16_t out_window;
    uint16_t next_pid;
    struct held *held, *held_tail; /* waiting for the window, oldest first */
    uint32_t n_held;
    size_t held_len; /* bytes of their topics, properties and payloads */
    uint32_t client_max_packet;
    uint32_t session_expiry_s; /* from CONNECT (MQTT 5) */
    ed_mqtt_aliases *aliases;  /* the client's topic aliases (NULL: none used yet) */
    int n_refs;                /* durable waits that name this connection */
    ed_mqtt_sess *sess;        /* a persistent session's state (NULL: clean) */
};

struct ed_mqtt {
    ed_broker *b;
    int allow_anonymous; /* mqtt.allow.anonymous: 1 yes, 0 no, -1 while no user exists */
    struct ed_mqtt_limits lim;
    ed_mqtt_routes *routes;
    ed_mqtt_retained *retained;     /* retained messages (mqtt_retain.c) */
    ed_mqtt_out *out;               /* Kafka to MQTT (mqtt_out.c) */
    ed_mqtt_sessions *sessions;     /* persistent sessions (mqtt_session*.c) */
    ed_mqtt_share *share;           /* shared subscriptions (mqtt_share.c; NULL until used) */
    ed_mqtt_share_logs *share_logs; /* durable share groups (mqtt_share_log.c) */
    uint8_t *key_buf; /* record keys from the routes' KEY templates (NULL: none has one) */
    ed_conn_set *set;
    ed_mqtt_conn *conns; /* open sessions */
    ed_ingest *ingest;   /* publishes gathered per partition, appended, made durable */
    ed_timer kick_timer;
    bool kicked;          /* some connection has kick set */
    ed_mqtt_conn *drains; /* acknowledgements completed by the batch at hand */
    uint64_t n_ids;
    uint64_t last_drop_log_ms;
    uint64_t n_drops_unlogged; /* dropped deliveries since the last line about them */
    struct ed_mqtt_stats stats;
};

/* ---- output: the engine's byte queue ---- */

static inline uint64_t ed_mqtt_now_ms(const ed_mqtt *m)
{
    return m->b->loop ? ed_plat_loop_now_ms(m->b->loop) : 0;
}
/* Room for n more bytes of output, then ed_mqtt_out_commit; NULL (and the
 * connection closed, its will published) past the output limit. */
static inline uint8_t *ed_mqtt_out_room(ed_mqtt_conn *c, size_t n)
{
    return c->closing ? NULL : ed_conn_out_reserve(c->conn, n);
}
static inline void ed_mqtt_out_commit(ed_mqtt_conn *c, size_t n)
{
    ed_conn_out_commit(c->conn, n);
}
static inline void ed_mqtt_out_flush(ed_mqtt_conn *c)
{
    if (!c->closing) ed_conn_flush(c->conn);
}
/* Queues a small packet. */
static inline void ed_mqtt_send_bytes(ed_mqtt_conn *c, const uint8_t *p, size_t n)
{
    if (c->closing || n == 0) return;
    ed_conn_write(c->conn, p, n);
}

/* ---- sessions (mqtt.c) ---- */
/* Closes for bad input: one log line naming the problem (rate-limited);
 * MQTT 5 gets a DISCONNECT with reason first. */
void ed_mqtt_close_bad(ed_mqtt_conn *c, uint8_t reason, const char *what);
/* Closes; the will is published when will is set (and due). */
void ed_mqtt_conn_close(ed_mqtt_conn *c, const char *why, bool will);
/* A closed session is freed from the engine's reap timer. */
void ed_mqtt_arm_reap(ed_mqtt *m);
/* Answers completed failures and reads again from a zero-delay timer. */
void ed_mqtt_kick(ed_mqtt_conn *c);
/* Acknowledgements owed, in arrival order. */
uint64_t ed_mqtt_pend_push(ed_mqtt_conn *c, uint8_t type, uint16_t id);
/* One durable wait of slot seq is over (reason 0: stored); the slot is
 * done when its last wait is. */
void ed_mqtt_pend_complete(ed_mqtt_conn *c, uint64_t seq, uint8_t reason);
/* Slot seq waits for one more record. */
void ed_mqtt_pend_wait_more(ed_mqtt_conn *c, uint64_t seq);
void ed_mqtt_pend_drain(ed_mqtt_conn *c);
bool ed_mqtt_qos2_has(const ed_mqtt_conn *c, uint16_t id);
void ed_mqtt_qos2_set(ed_mqtt_conn *c, uint16_t id, bool on);

/* ---- publishes into the log (mqtt_pub.c) ---- */
extern const struct ed_ingest_cbs ed_mqtt_ingest_cbs;
/* The MQTT reason code for a storage error. */
uint8_t ed_mqtt_reason_of(int rc);
void ed_mqtt_publish(ed_mqtt_conn *c, const struct ed_mqtt_publish *pk, bool is_will);
void ed_mqtt_publish_will(ed_mqtt_conn *c);

/* ---- subscriptions and live delivery (mqtt_sub.c) ---- */
void ed_mqtt_on_subscribe(ed_mqtt_conn *c, int type, uint8_t flags, const uint8_t *body,
                          size_t len);
/* Delivers to every matching subscription; retain: the publish's RETAIN
 * flag, passed on to subscriptions with Retain As Published. */
void ed_mqtt_deliver(ed_mqtt *m, ed_mqtt_conn *from, struct ed_mqtt_bytes topic,
                     struct ed_mqtt_bytes payload, struct ed_mqtt_bytes props, uint8_t qos,
                     bool retain);
/* One delivery to c (through its window and queue). */
void ed_mqtt_deliver_to(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                        struct ed_mqtt_bytes props, uint8_t qos, bool retain);
struct outq *ed_mqtt_outq_find(ed_mqtt_conn *c, uint16_t id);
/* Takes a free window slot in state with the next free packet id:
 * ED_ERR_AGAIN when the window is full. */
int ed_mqtt_outq_take(ed_mqtt_conn *c, uint8_t state, uint16_t *id);
/* Sends one PUBLISH; id is its packet id (QoS 1/2, slot taken). props are
 * already empty for an MQTT 3.1.1 subscriber. */
void ed_mqtt_send_publish(ed_mqtt_conn *c, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                          struct ed_mqtt_bytes props, uint8_t qos, bool retain, bool dup,
                          uint16_t id);
/* A window slot came free: the oldest waiting delivery goes out. */
void ed_mqtt_release_held(ed_mqtt_conn *c);
/* Drops (counted, logged) every delivery still waiting. */
void ed_mqtt_held_clear(ed_mqtt_conn *c);

/* ---- subscription identifiers on deliveries (mqtt_subid.c) ---- */
/* The Subscription Identifiers of c's subscriptions matching topic into
 * ids (room for MAX_SUBS): their number. */
int ed_mqtt_subid_match(const ed_mqtt_conn *c, struct ed_mqtt_bytes topic, uint32_t *ids);
/* A delivery's properties: props, then a Subscription Identifier for each
 * of ids[0..n) (n 0: props as they are), valid until ed_mqtt_subid_done;
 * out of memory: props as they are. */
struct ed_mqtt_subid_buf {
    uint8_t small[256];
    uint8_t *heap;
};
struct ed_mqtt_bytes ed_mqtt_subid_props(struct ed_mqtt_subid_buf *b, struct ed_mqtt_bytes props,
                                         const uint32_t *ids, int n);
void ed_mqtt_subid_done(struct ed_mqtt_subid_buf *b);

/* ---- message expiry (mqtt_expiry.c) ---- */
struct ed_record;
/* The interval left of interval_s after waiting from since_ms to now_ms
 * (Unix epoch), in whole seconds: false (and *left_s 0) when it has passed. */
bool ed_mqtt_expiry_left(uint32_t interval_s, int64_t since_ms, int64_t now_ms, uint32_t *left_s);
bool ed_mqtt_expiry_in_props(struct ed_mqtt_bytes props, uint32_t *interval_s);
/* *props with their Message Expiry Interval lowered by the time since
 * since_ms (a copy in b, freed by ed_mqtt_subid_done): 1 changed, 0 left as
 * they are (none, nothing waited, out of memory), -1 expired. */
int ed_mqtt_expiry_rewrite(struct ed_mqtt_subid_buf *b, struct ed_mqtt_bytes *props,
                           int64_t since_ms, int64_t now_ms);
/* The interval a record keeps in its mqtt.expiry header: false for none. */
bool ed_mqtt_expiry_of_record(const struct ed_record *rec, uint32_t *interval_s);
/* The record header that keeps a publish's Message Expiry Interval, in
 * *h (its value written into buf), when props hold one. */
#define ED_MQTT_EXPIRY_BUF 12
bool ed_mqtt_expiry_put_header(struct ed_mqtt_bytes props, char buf[ED_MQTT_EXPIRY_BUF],
                               struct ed_record_header *h);
bool ed_mqtt_expiry_is_header(const uint8_t *key, size_t len);
/* props and a Message Expiry Interval of left_s (a copy in b). */
struct ed_mqtt_bytes ed_mqtt_expiry_append(struct ed_mqtt_subid_buf *b, struct ed_mqtt_bytes props,
                                           uint32_t left_s);

/* ---- retained messages (mqtt_retain.c) ---- */
/* Loads the retained messages from __mqtt_retained (ED_OK when there is
 * none yet); m->retained is set even on failure (free with close). */
int ed_mqtt_retain_open(ed_mqtt *m, const struct ed_config *cfg, char *why, size_t why_len);
void ed_mqtt_retain_close(ed_mqtt *m);
uint32_t ed_mqtt_retain_count(const ed_mqtt *m);
/* Whether retained publish pk fits the limits: ED_OK or an MQTT reason code
 * with *why. */
int ed_mqtt_retain_check(ed_mqtt *m, const struct ed_mqtt_publish *pk, const char **why);
/* Stores retained publish pk (an empty payload deletes) with (who, seq) as
 * its durable wait (who NULL: none): ED_OK, or an error with *why and
 * nothing stored. */
int ed_mqtt_retain_store(ed_mqtt *m, const struct ed_mqtt_publish *pk, void *who, uint64_t seq,
                         const char **why);
/* Sends c the retained messages filter f matches, at most at QoS qos,
 * with the subscription's identifier sub_id (0: none). */
void ed_mqtt_retain_send(ed_mqtt_conn *c, const uint8_t *f, size_t flen, uint8_t qos,
                         uint32_t sub_id);

/* ---- Kafka to MQTT (mqtt_out.c) ---- */
/* Parses mqtt.publish.routes and starts delivering records appended from
 * now on by others than MQTT publishes; m->out is set even on failure
 * (free with close). */
int ed_mqtt_out_open(ed_mqtt *m, const struct ed_config *cfg, char *why, size_t why_len);
void ed_mqtt_out_close(ed_mqtt *m);
/* The MQTT topic of record rec of Kafka topic ktopic (its mqtt.topic
 * header, or mqtt.publish.routes for records from elsewhere) into buf
 * (65535 bytes), and its headers as MQTT 5 user properties in *props
 * (valid until the next call): the topic's length, or SIZE_MAX when it has
 * none (logged). */
size_t ed_mqtt_out_topic_of(ed_mqtt *m, const char *ktopic, const struct ed_record *rec,
                            uint8_t *buf, struct ed_mqtt_bytes *props);

/* ---- persistent sessions (mqtt_session*.c) ---- */
/* Durable session saves are ingest waits whose seq has this bit set. */
#define ED_MQTT_SESS_SEQ (UINT64_C(1) << 63)
/* Loads the index of sessions from __mqtt_sessions; m->sessions is set
 * even on failure (free with close). */
int ed_mqtt_session_open(ed_mqtt *m, const struct ed_config *cfg, char *why, size_t why_len);
void ed_mqtt_session_close(ed_mqtt *m);
/* After CONNECT was accepted: discards (clean) or resumes the stored
 * session of c's client id, and makes c persistent when ck asks so.
 * *present: whether a session was resumed; *expiry_s: the granted Session
 * Expiry Interval. An MQTT reason code (>= 0x80) refuses the connection. */
int ed_mqtt_session_connect(ed_mqtt_conn *c, const struct ed_mqtt_connect *ck, bool *present,
                            uint32_t *expiry_s);
/* DISCONNECT set a new Session Expiry Interval (MQTT 5). */
void ed_mqtt_session_set_expiry(ed_mqtt_conn *c, uint32_t expiry_s);
/* The connection ends: the session is saved for later (or deleted when its
 * expiry is 0). */
void ed_mqtt_session_end(ed_mqtt_conn *c);
void ed_mqtt_session_free_conn(ed_mqtt_conn *c);
/* Subscriptions or acknowledgements changed: saved soon (batched). */
void ed_mqtt_session_changed(ed_mqtt_conn *c);
/* Reads and delivers from the log again from a zero-delay timer. */
void ed_mqtt_session_pump_soon(ed_mqtt_conn *c);
/* A save with a durable wait from the same timer (an inbound QoS 2 PUBREC
 * waits for it). */
void ed_mqtt_session_save_soon(ed_mqtt_conn *c);
/* An acknowledgement of a delivery from the log (q->p set): true when
 * handled here. */
bool ed_mqtt_session_on_ack(ed_mqtt_conn *c, struct outq *q, int type, uint8_t reason);
/* A session save with a wait (seq without ED_MQTT_SESS_SEQ) is durable. */
void ed_mqtt_session_saved(ed_mqtt_conn *c, uint64_t gen, int status);
/* The first subscription of a persistent session: its positions move to
 * the ends of the partitions (only what is published from now on). */
void ed_mqtt_session_first_sub(ed_mqtt_conn *c);
uint32_t ed_mqtt_session_count(const ed_mqtt *m);
/* Whether a persistent session of client id exists (connected or not). */
bool ed_mqtt_session_exists(ed_mqtt *m, const char *id);
/* Room for a record of len bytes in *buf (*cap bytes, grown): ED_OK,
 * ED_ERR_TOOBIG over the 1 MiB a record of __mqtt_sessions may take,
 * ED_ERR_NOMEM. */
int ed_mqtt_session_room(uint8_t **buf, size_t *cap, size_t len);
/* Appends key and value (NULL: a tombstone) to __mqtt_sessions, no wait. */
int ed_mqtt_session_put(ed_mqtt *m, const void *key, size_t key_len, const void *value,
                        size_t value_len);
/* A record of the log as an MQTT message: topic (in the caller's buf of
 * 65535 bytes), properties (valid until the next call), payload, and its
 * Message Expiry Interval left (expired: it passed; left_s is then 1). */
struct ed_mqtt_msg {
    struct ed_mqtt_bytes topic, props, payload;
    bool expires, expired;
    uint32_t left_s;
};
/* False when rec has no MQTT topic (logged). */
bool ed_mqtt_session_msg_of(ed_mqtt *m, const char *ktopic, const struct ed_record *rec,
                            uint8_t *buf, struct ed_mqtt_msg *g);
/* Sends g (record rec of ktopic) to c at qos under packet id id (slot
 * taken for QoS > 0), with RETAIN retain and the Subscription Identifiers
 * ids[0..n_ids): false (counted, logged) when over c's Maximum Packet
 * Size. */
bool ed_mqtt_session_send_msg(ed_mqtt_conn *c, const char *ktopic, const struct ed_record *rec,
                              const struct ed_mqtt_msg *g, uint8_t qos, bool retain,
                              const uint32_t *ids, int n_ids, uint16_t id, bool dup);

/* ---- shared subscriptions (mqtt_share.c) ---- */
/* Whether filter f starts with $share/. */
bool ed_mqtt_share_is(const uint8_t *f, size_t len);
/* Whether f is a valid $share/{ShareName}/{filter} (ShareName not empty,
 * without / + #, then a valid filter): the filter in *inner. */
bool ed_mqtt_share_split(const uint8_t *f, size_t len, struct ed_mqtt_bytes *inner);
/* Delivers a publish to each matching share group: to one connected
 * member, or queued in the group until one has room. */
void ed_mqtt_share_deliver(ed_mqtt *m, struct ed_mqtt_bytes topic, struct ed_mqtt_bytes payload,
                           struct ed_mqtt_bytes props, uint8_t qos, bool retain);
/* A window slot of c came free: acknowledged shared deliveries are let go
 * and the groups' queues go on. */
void ed_mqtt_share_release(ed_mqtt_conn *c);
/* c's connection ended: its unacknowledged shared deliveries go to other
 * members. */
void ed_mqtt_share_leave(ed_mqtt_conn *c);
/* A SUBSCRIBE of c added (messages waiting may go out) or an UNSUBSCRIBE
 * removed (a group without members and messages is freed) shared
 * subscriptions; a persistent session joins or leaves durable groups. */
void ed_mqtt_share_subscribed(ed_mqtt_conn *c);
void ed_mqtt_share_unsubscribed(ed_mqtt_conn *c);
/* The connected member after *last (in the listener's list, wrapping)
 * of the group of $share filter f that can take a message of QoS qos_in
 * now: its packet id is taken (*id, QoS > 0), *qos is the QoS it gets,
 * *retain RETAIN (retain_in and Retain As Published), *sub_id its
 * subscription's identifier (0: none); *last is set to it. NULL when no
 * member has room. */
ed_mqtt_conn *ed_mqtt_share_pick(ed_mqtt *m, const char *f, size_t len, const ed_mqtt_conn **last,
                                 uint8_t qos_in, bool retain_in, uint8_t *qos, uint16_t *id,
                                 bool *retain, uint32_t *sub_id);

/* ---- durable share groups (mqtt_share_log.c) ---- */
/* A share group with a persistent member delivers from the log from its
 * own positions, kept in __mqtt_sessions (mqtt_group.h), and outlives
 * its members' connections. Open before the sessions are loaded. */
int ed_mqtt_share_log_open(ed_mqtt *m, const struct ed_config *cfg);
void ed_mqtt_share_log_close(ed_mqtt *m);
/* A record of __mqtt_sessions whose key starts with 0x00 (value NULL with
 * value_len 0: a tombstone): ED_OK, or an error for bytes not parsed. */
int ed_mqtt_share_log_load(ed_mqtt *m, const uint8_t *key, size_t key_len, const uint8_t *value,
                           int64_t value_len);
/* Every record was loaded: members without a session leave. */
void ed_mqtt_share_log_loaded(ed_mqtt *m);
/* Whether $share filter f has a durable group (delivered from the log). */
bool ed_mqtt_share_log_has(const ed_mqtt *m, const char *f, size_t len);
/* Persistent session c's shared subscriptions changed or were resumed:
 * it joins and leaves durable groups to match. */
void ed_mqtt_share_log_sync(ed_mqtt_conn *c);
/* The session of client id ended for good: it leaves its groups (a group
 * left without persistent members ends). */
void ed_mqtt_share_log_forget(ed_mqtt *m, const char *id);
/* A window slot of c came free: acknowledged deliveries move positions. */
void ed_mqtt_share_log_release(ed_mqtt_conn *c);
/* c's connection ended: its unacknowledged deliveries go to others. */
void ed_mqtt_share_log_leave(ed_mqtt_conn *c);
void ed_mqtt_share_log_pump_soon(ed_mqtt *m);
void ed_mqtt_share_log_appended(ed_mqtt *m, ed_partition *p);
void ed_mqtt_share_log_removed(ed_mqtt *m, ed_partition *p);
/* Frees the groups (what they still hold is dropped and counted). */
void ed_mqtt_share_close(ed_mqtt *m);

/* ---- CONNECT (mqtt_connect.c) ---- */
/* The first packet of a connection: a CONNECT accepted (CONNACK sent, c
 * connected) or refused (c closing). */
void ed_mqtt_on_connect(ed_mqtt_conn *c, uint8_t flags, const uint8_t *body, size_t len);
/* Whether a client without a user name may connect (mqtt.allow.anonymous,
 * or by default: no user exists). */
bool ed_mqtt_anonymous_ok(const ed_mqtt *m);
/* MQTT 5: a DISCONNECT with reason before closing (3.1.1 has none); in
 * mqtt.c. */
void ed_mqtt_send_disconnect(ed_mqtt_conn *c, uint8_t reason, const char *text);

#endif
