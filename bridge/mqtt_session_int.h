/* Internals shared by the files of persistent MQTT sessions (the design is
 * described atop mqtt_session.c): the index, the store's state, a
 * connected session's positions, and the calls between the index
 * (mqtt_session_index.c), saving (mqtt_session_save.c), delivery
 * (mqtt_session_deliver.c) and the lifecycle (mqtt_session.c). */
#ifndef ED_BRIDGE_MQTT_SESSION_INT_H
#define ED_BRIDGE_MQTT_SESSION_INT_H

#include "bridge/mqtt_int.h"
#include "bridge/mqtt_session.h"

#define SESSIONS_TOPIC "__mqtt_sessions"
#define READ_LEN       (64u << 10)

/* An index entry: one stored session. */
struct sent {
    struct sent *next;
    uint32_t hash;
    bool exact;          /* from is the offset of its latest record (else a lower bound) */
    int64_t from;        /* where its latest record is, or starts to be looked for */
    int64_t deadline_ms; /* wall clock of expiry; INT64_MAX while connected */
    char id[];
};

struct ed_mqtt_sessions {
    ed_mqtt *m;
    ed_partition *part; /* of __mqtt_sessions, once it exists */
    struct sent **b;
    uint32_t n_buckets, n;
    uint32_t expiry_max_s;
    int64_t backlog_max;
    uint32_t n_max;
    bool listening;
    ed_timer pump_timer, save_timer, sweep_timer;
    uint8_t *buf; /* encoding */
    size_t buf_cap;
    uint8_t *topic; /* an MQTT topic recovered from a record */
    uint64_t n_skipped, n_expired;
};

struct spos {
    ed_partition *p;
    int64_t read; /* the next offset to look at */
};

struct ed_mqtt_sess {
    uint32_t expiry_s;
    struct spos *pos;
    uint32_t n_pos, pos_cap;
    uint32_t gen, saved_gen; /* saves with a wait: issued, durable */
    bool dirty, pump, want_wait, resend;
};

/* ---- the index (mqtt_session_index.c) ---- */
struct sent *ed_mqtt_session_index_find(ed_mqtt_sessions *s, const char *id, size_t len);
/* Adds or updates the entry of id: NULL when out of memory. */
struct sent *ed_mqtt_session_index_put(ed_mqtt_sessions *s, const char *id, size_t len,
                                       int64_t from, bool exact, int64_t deadline_ms);
void ed_mqtt_session_index_del(ed_mqtt_sessions *s, const char *id, size_t len);
int64_t ed_mqtt_session_deadline_of(int64_t from_ms, uint32_t expiry_s);

/* ---- saving (mqtt_session_save.c) ---- */
/* Finds or creates __mqtt_sessions (s->part); *why on error. */
int ed_mqtt_session_ensure_topic(ed_mqtt_sessions *s, const char **why);
/* Deletes the stored session of id (a tombstone) and its index entry. */
void ed_mqtt_session_forget(ed_mqtt_sessions *s, const char *id);
/* Resets the waits a failed save held. */
void ed_mqtt_session_unwait(ed_mqtt_conn *c, uint32_t gen);
/* Stores c's session; wait: with a durable wait for what waits on it. */
void ed_mqtt_session_save(ed_mqtt_conn *c, bool wait, bool ending);

/* ---- positions (mqtt_session_deliver.c) ---- */
struct spos *ed_mqtt_session_pos_find(ed_mqtt_sess *ss, const ed_partition *p);
/* The position in p (added at read when new): NULL when out of memory. */
struct spos *ed_mqtt_session_pos_add(ed_mqtt_sess *ss, ed_partition *p, int64_t read);

#endif
