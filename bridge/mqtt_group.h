/* A durable MQTT share group: the record kept for it in __mqtt_sessions
 * and the position it has in each partition (pure logic, no I/O).
 *
 * A share group with at least one persistent member ($share/G/filter held
 * by a session that outlives its connection) reads the log like a
 * persistent session does: per partition, the next offset to look at
 * (read) and the deliveries made from below it that no member has
 * acknowledged yet (in flight). Its position, where delivery resumes
 * after a restart, is the lowest offset in flight, or read when none is;
 * offsets between the two that are not in flight were acknowledged and
 * are not delivered again.
 *
 * Record: key = one 0x00 byte then the whole "$share/G/filter" (a client
 * id holds no U+0000, so the key never names a session); value
 * (big-endian, docs/format.md):
 *
 *   u8 version (1)
 *   | u16 n_members { u16 len | client id }       persistent members
 *   | u32 n_pos { u16 len | Kafka topic | i32 partition | i64 read
 *                 | u16 n_fly { i64 offset } }    in flight, increasing, < read
 *
 * A null value deletes the group. Decoding checks every length and value
 * and takes nothing on error. */
#ifndef ED_BRIDGE_MQTT_GROUP_H
#define ED_BRIDGE_MQTT_GROUP_H

#include "platform/base.h"

#define ED_MQTT_GROUP_VERSION     1
#define ED_MQTT_GROUP_MAX_MEMBERS 65535
#define ED_MQTT_GROUP_MAX_POS     100000
#define ED_MQTT_GROUP_MAX_FLY     65535 /* per partition */

struct ed_mqtt_grp_member {
    const uint8_t *id; /* client id, not NUL-terminated; points into the bytes */
    uint16_t len;
};

struct ed_mqtt_grp_pos {
    const uint8_t *topic; /* Kafka topic name, not NUL-terminated */
    uint16_t topic_len;
    int32_t partition;
    int64_t read;
    uint16_t n_fly;
    uint32_t fly_at; /* its offsets in flight: fly[fly_at .. fly_at + n_fly) */
};

struct ed_mqtt_grp_rec {
    uint16_t n_members;
    uint32_t n_pos, n_fly;
    struct ed_mqtt_grp_member *members;
    struct ed_mqtt_grp_pos *pos;
    int64_t *fly;
};

/* Bytes ed_mqtt_group_encode writes for r. */
size_t ed_mqtt_group_len(const struct ed_mqtt_grp_rec *r);
/* Encodes r into out (cap bytes): the length written, 0 when it does not
 * fit or r breaks the layout's rules. */
size_t ed_mqtt_group_encode(const struct ed_mqtt_grp_rec *r, uint8_t *out, size_t cap);
/* Decodes len bytes at p into *r, whose arrays are allocated (free with
 * ed_mqtt_group_free) and whose strings point into p. ED_OK;
 * ED_ERR_CORRUPT (with *why) for bytes that are not a valid record,
 * ED_ERR_UNSUPPORTED for another version, ED_ERR_NOMEM. *r is zeroed on
 * error. */
int ed_mqtt_group_decode(const uint8_t *p, size_t len, struct ed_mqtt_grp_rec *r, const char **why);
void ed_mqtt_group_free(struct ed_mqtt_grp_rec *r);

/* ---- the position in one partition ---- */

/* A delivery in flight: to a member (to, packet id), or to nobody (to
 * NULL: its member left, or it was in flight when Eddy stopped) and then
 * sent again, with DUP, to the next member with room. */
struct ed_mqtt_gfly {
    int64_t offset;
    const void *to;
    uint16_t id;
};

struct ed_mqtt_gpos {
    int64_t read; /* the next offset to look at */
    struct ed_mqtt_gfly *fly;
    uint32_t n_fly, cap;
};

/* The position: the lowest offset in flight, else read. */
int64_t ed_mqtt_gpos_position(const struct ed_mqtt_gpos *g);
/* Record offset was looked at and is not delivered (no match, QoS 0,
 * expired): read moves past it. */
void ed_mqtt_gpos_skip(struct ed_mqtt_gpos *g, int64_t offset);
/* Record offset went to member to under packet id id (a first delivery:
 * read moves past it). ED_ERR_NOMEM (nothing changed), ED_ERR_TOOBIG at
 * ED_MQTT_GROUP_MAX_FLY. */
int ed_mqtt_gpos_sent(struct ed_mqtt_gpos *g, int64_t offset, const void *to, uint16_t id);
/* The delivery fly[i] was acknowledged (or is given up): it is forgotten
 * and the position moves up to the next lowest in flight. */
void ed_mqtt_gpos_done(struct ed_mqtt_gpos *g, uint32_t i);
/* Member to left: its deliveries in flight go to nobody (sent again to
 * another member). Returns how many. */
uint32_t ed_mqtt_gpos_orphan(struct ed_mqtt_gpos *g, const void *to);
/* The oldest delivery going to nobody (NULL: none). */
struct ed_mqtt_gfly *ed_mqtt_gpos_orphaned(struct ed_mqtt_gpos *g);
/* Retention deleted what is below start: deliveries there are forgotten
 * and read is at least start. Returns how many records were lost that
 * way (in flight, or not yet read). */
uint64_t ed_mqtt_gpos_start_at(struct ed_mqtt_gpos *g, int64_t start);
void ed_mqtt_gpos_free(struct ed_mqtt_gpos *g);

#endif
