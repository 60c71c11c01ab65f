/* Encoding and decoding of persistent MQTT session records (layout in
 * mqtt_session.h and docs/format.md): bytes read from __mqtt_sessions come
 * from disk, so every length, count and value is checked before anything
 * is allocated or kept. */
#include "bridge/mqtt_session.h"
#include "bridge/mqtt_route.h"
#include "core/bytes.h"
#include "platform/mem.h"

#include <string.h>

#define HEAD_LEN 16 /* version, flags, expiry, saved_ms, next pid */

/* The optional tail of Subscription Identifiers is written only when some
 * subscription has one. */
static bool has_sub_ids(const struct ed_mqtt_sess_rec *r)
{
    for (uint16_t i = 0; i < r->n_subs; i++)
        if (r->subs[i].sub_id) return true;
    return false;
}

size_t ed_mqtt_session_len(const struct ed_mqtt_sess_rec *r)
{
    size_t n = HEAD_LEN + 2 + 4 + 2 + 2;
    for (uint16_t i = 0; i < r->n_subs; i++)
        n += 3 + (size_t)r->subs[i].len;
    if (has_sub_ids(r)) n += 4 * (size_t)r->n_subs;
    for (uint32_t i = 0; i < r->n_pos; i++)
        n += 2 + (size_t)r->pos[i].topic_len + 12;
    n += 2 * (size_t)r->n_in + 15 * (size_t)r->n_out;
    return n;
}

size_t ed_mqtt_session_encode(const struct ed_mqtt_sess_rec *r, uint8_t *out, size_t cap)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    ed_bytes_put_be(&w, ED_MQTT_SESSION_VERSION, 1);
    ed_bytes_put_be(&w, r->flags, 1);
    ed_bytes_put_be(&w, r->expiry_s, 4);
    ed_bytes_put_be(&w, (uint64_t)r->saved_ms, 8);
    ed_bytes_put_be(&w, r->next_pid, 2);
    ed_bytes_put_be(&w, r->n_subs, 2);
    for (uint16_t i = 0; i < r->n_subs; i++) {
        ed_bytes_put_be(&w, r->subs[i].opts, 1);
        ed_bytes_put_be(&w, r->subs[i].len, 2);
        ed_bytes_put_raw(&w, r->subs[i].filter, r->subs[i].len);
    }
    ed_bytes_put_be(&w, r->n_pos, 4);
    for (uint32_t i = 0; i < r->n_pos; i++) {
        ed_bytes_put_be(&w, r->pos[i].topic_len, 2);
        ed_bytes_put_raw(&w, r->pos[i].topic, r->pos[i].topic_len);
        ed_bytes_put_be(&w, (uint32_t)r->pos[i].partition, 4);
        ed_bytes_put_be(&w, (uint64_t)r->pos[i].next, 8);
    }
    ed_bytes_put_be(&w, r->n_in, 2);
    for (uint16_t i = 0; i < r->n_in; i++)
        ed_bytes_put_be(&w, r->in[i], 2);
    ed_bytes_put_be(&w, r->n_out, 2);
    for (uint16_t i = 0; i < r->n_out; i++) {
        ed_bytes_put_be(&w, r->out[i].packet_id, 2);
        ed_bytes_put_be(&w, r->out[i].state, 1);
        ed_bytes_put_be(&w, r->out[i].pos, 4);
        ed_bytes_put_be(&w, (uint64_t)r->out[i].offset, 8);
    }
    if (has_sub_ids(r))
        for (uint16_t i = 0; i < r->n_subs; i++)
            ed_bytes_put_be(&w, r->subs[i].sub_id, 4);
    return w.err == ED_OK ? w.len : 0;
}

/* A Kafka topic name: 1 to 249 of [A-Za-z0-9._-], not "." or "..". */
bool ed_mqtt_session_topic_ok(const uint8_t *p, size_t n)
{
    if (n == 0 || n > 249) return false;
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = p[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok) return false;
    }
    return true;
}

static uint16_t get_u16(ed_bytes_rd *rd)
{
    return (uint16_t)ed_bytes_get_i16(rd);
}

/* The subscriptions: each a valid filter with known option bits. */
static int decode_subs(ed_bytes_rd *rd, struct ed_mqtt_sess_rec *r, const char **why)
{
    r->n_subs = get_u16(rd);
    if (!ed_bytes_rd_ok(rd) || r->n_subs > ED_MQTT_SESSION_MAX_SUBS ||
        (size_t)r->n_subs * 3 > rd->left) {
        *why = "subscription count";
        return ED_ERR_CORRUPT;
    }
    if (r->n_subs) {
        r->subs = ed_calloc(r->n_subs, sizeof *r->subs);
        if (!r->subs) return ED_ERR_NOMEM;
    }
    for (uint16_t i = 0; i < r->n_subs; i++) {
        struct ed_mqtt_sess_sub *s = &r->subs[i];
        s->opts = ed_bytes_get_u8(rd);
        s->len = get_u16(rd);
        s->filter = ed_bytes_get_span(rd, s->len).p;
        if (!ed_bytes_rd_ok(rd) || (s->opts & ~0x0fu) || (s->opts & 3) == 3 ||
            !ed_mqtt_filter_ok(s->filter, s->len)) {
            *why = "subscription";
            return ED_ERR_CORRUPT;
        }
    }
    return ED_OK;
}

static int decode_pos(ed_bytes_rd *rd, struct ed_mqtt_sess_rec *r, const char **why)
{
    r->n_pos = (uint32_t)ed_bytes_get_i32(rd);
    if (!ed_bytes_rd_ok(rd) || r->n_pos > ED_MQTT_SESSION_MAX_POS ||
        (size_t)r->n_pos * 15 > rd->left) {
        *why = "position count";
        return ED_ERR_CORRUPT;
    }
    if (r->n_pos) {
        r->pos = ed_calloc(r->n_pos, sizeof *r->pos);
        if (!r->pos) return ED_ERR_NOMEM;
    }
    for (uint32_t i = 0; i < r->n_pos; i++) {
        struct ed_mqtt_sess_pos *q = &r->pos[i];
        q->topic_len = get_u16(rd);
        q->topic = ed_bytes_get_span(rd, q->topic_len).p;
        q->partition = ed_bytes_get_i32(rd);
        q->next = ed_bytes_get_i64(rd);
        if (!ed_bytes_rd_ok(rd) || !ed_mqtt_session_topic_ok(q->topic, q->topic_len) ||
            q->partition < 0 || q->next < 0) {
            *why = "position";
            return ED_ERR_CORRUPT;
        }
    }
    return ED_OK;
}

static int decode_inflight(ed_bytes_rd *rd, struct ed_mqtt_sess_rec *r, const char **why)
{
    r->n_in = get_u16(rd);
    if (!ed_bytes_rd_ok(rd) || (size_t)r->n_in * 2 > rd->left) {
        *why = "received packet id count";
        return ED_ERR_CORRUPT;
    }
    if (r->n_in) {
        r->in = ed_calloc(r->n_in, sizeof *r->in);
        if (!r->in) return ED_ERR_NOMEM;
    }
    for (uint16_t i = 0; i < r->n_in; i++) {
        r->in[i] = get_u16(rd);
        if (r->in[i] == 0) {
            *why = "received packet id 0";
            return ED_ERR_CORRUPT;
        }
    }
    r->n_out = get_u16(rd);
    if (!ed_bytes_rd_ok(rd) || (size_t)r->n_out * 15 > rd->left) {
        *why = "delivery count";
        return ED_ERR_CORRUPT;
    }
    if (r->n_out) {
        r->out = ed_calloc(r->n_out, sizeof *r->out);
        if (!r->out) return ED_ERR_NOMEM;
    }
    for (uint16_t i = 0; i < r->n_out; i++) {
        struct ed_mqtt_sess_out *o = &r->out[i];
        o->packet_id = get_u16(rd);
        o->state = ed_bytes_get_u8(rd);
        o->pos = (uint32_t)ed_bytes_get_i32(rd);
        o->offset = ed_bytes_get_i64(rd);
        if (!ed_bytes_rd_ok(rd) || o->packet_id == 0 || o->state < ED_MQTT_SESSION_OUT_PUB ||
            o->state > ED_MQTT_SESSION_OUT_ACK || o->pos >= r->n_pos || o->offset < 0) {
            *why = "delivery in flight";
            return ED_ERR_CORRUPT;
        }
    }
    return ED_OK;
}

/* The optional tail: one Subscription Identifier (0..268435455, 0 = none)
 * per subscription, and nothing after it. */
static int decode_sub_ids(ed_bytes_rd *rd, struct ed_mqtt_sess_rec *r, const char **why)
{
    if (r->n_subs == 0 || rd->left != 4 * (size_t)r->n_subs) {
        *why = "bytes after the record";
        return ED_ERR_CORRUPT;
    }
    for (uint16_t i = 0; i < r->n_subs; i++) {
        r->subs[i].sub_id = (uint32_t)ed_bytes_get_i32(rd);
        if (r->subs[i].sub_id > 268435455u) {
            *why = "subscription identifier";
            return ED_ERR_CORRUPT;
        }
    }
    if (!has_sub_ids(r)) { /* written only when some subscription has one */
        *why = "subscription identifiers all 0";
        return ED_ERR_CORRUPT;
    }
    return ED_OK;
}

int ed_mqtt_session_decode(const uint8_t *p, size_t len, struct ed_mqtt_sess_rec *r,
                           const char **why)
{
    memset(r, 0, sizeof *r);
    ed_bytes_rd rd;
    ed_bytes_rd_init(&rd, p, len);
    uint8_t version = ed_bytes_get_u8(&rd);
    if (ed_bytes_rd_ok(&rd) && version != ED_MQTT_SESSION_VERSION) {
        *why = "unknown version";
        return ED_ERR_UNSUPPORTED;
    }
    r->flags = ed_bytes_get_u8(&rd);
    r->expiry_s = (uint32_t)ed_bytes_get_i32(&rd);
    r->saved_ms = ed_bytes_get_i64(&rd);
    r->next_pid = get_u16(&rd);
    int rc = ED_OK;
    if (!ed_bytes_rd_ok(&rd) || (r->flags & ~(unsigned)ED_MQTT_SESSION_CONNECTED)) {
        *why = "header";
        rc = ED_ERR_CORRUPT;
    }
    if (rc == ED_OK) rc = decode_subs(&rd, r, why);
    if (rc == ED_OK) rc = decode_pos(&rd, r, why);
    if (rc == ED_OK) rc = decode_inflight(&rd, r, why);
    if (rc == ED_OK && rd.left != 0) rc = decode_sub_ids(&rd, r, why);
    if (rc == ED_ERR_NOMEM) *why = "out of memory";
    if (rc != ED_OK) ed_mqtt_session_free(r);
    return rc;
}

void ed_mqtt_session_free(struct ed_mqtt_sess_rec *r)
{
    ed_free(r->subs);
    ed_free(r->pos);
    ed_free(r->in);
    ed_free(r->out);
    memset(r, 0, sizeof *r);
}
