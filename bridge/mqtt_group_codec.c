/* Encoding and decoding of durable MQTT share group records (layout in
 * mqtt_group.h and docs/format.md): bytes read from __mqtt_sessions come
 * from disk, so every length, count and value is checked before anything
 * is allocated or kept. */
#include "bridge/mqtt_group.h"
#include "bridge/mqtt_session.h"
#include "core/bytes.h"
#include "platform/mem.h"

#include <string.h>

size_t ed_mqtt_group_len(const struct ed_mqtt_grp_rec *r)
{
    size_t n = 1 + 2 + 4;
    for (uint16_t i = 0; i < r->n_members; i++)
        n += 2 + (size_t)r->members[i].len;
    for (uint32_t i = 0; i < r->n_pos; i++)
        n += 2 + (size_t)r->pos[i].topic_len + 4 + 8 + 2 + 8 * (size_t)r->pos[i].n_fly;
    return n;
}

size_t ed_mqtt_group_encode(const struct ed_mqtt_grp_rec *r, uint8_t *out, size_t cap)
{
    ed_bytes_wr w;
    ed_bytes_wr_fixed(&w, out, cap);
    ed_bytes_put_be(&w, ED_MQTT_GROUP_VERSION, 1);
    ed_bytes_put_be(&w, r->n_members, 2);
    for (uint16_t i = 0; i < r->n_members; i++) {
        ed_bytes_put_be(&w, r->members[i].len, 2);
        ed_bytes_put_raw(&w, r->members[i].id, r->members[i].len);
    }
    ed_bytes_put_be(&w, r->n_pos, 4);
    for (uint32_t i = 0; i < r->n_pos; i++) {
        const struct ed_mqtt_grp_pos *q = &r->pos[i];
        if ((uint64_t)q->fly_at + q->n_fly > r->n_fly) return 0;
        ed_bytes_put_be(&w, q->topic_len, 2);
        ed_bytes_put_raw(&w, q->topic, q->topic_len);
        ed_bytes_put_be(&w, (uint32_t)q->partition, 4);
        ed_bytes_put_be(&w, (uint64_t)q->read, 8);
        ed_bytes_put_be(&w, q->n_fly, 2);
        for (uint16_t k = 0; k < q->n_fly; k++)
            ed_bytes_put_be(&w, (uint64_t)r->fly[q->fly_at + k], 8);
    }
    return w.err == ED_OK ? w.len : 0;
}

static uint16_t get_u16(ed_bytes_rd *rd)
{
    return (uint16_t)ed_bytes_get_i16(rd);
}

/* The members: client ids of 1 to 65535 bytes without U+0000. */
static int decode_members(ed_bytes_rd *rd, struct ed_mqtt_grp_rec *r, const char **why)
{
    r->n_members = get_u16(rd);
    if (!ed_bytes_rd_ok(rd) || (size_t)r->n_members * 3 > rd->left) {
        *why = "member count";
        return ED_ERR_CORRUPT;
    }
    if (r->n_members) {
        r->members = ed_calloc(r->n_members, sizeof *r->members);
        if (!r->members) return ED_ERR_NOMEM;
    }
    for (uint16_t i = 0; i < r->n_members; i++) {
        struct ed_mqtt_grp_member *mb = &r->members[i];
        mb->len = get_u16(rd);
        mb->id = ed_bytes_get_span(rd, mb->len).p;
        if (!ed_bytes_rd_ok(rd) || mb->len == 0 || memchr(mb->id, 0, mb->len)) {
            *why = "member";
            return ED_ERR_CORRUPT;
        }
    }
    return ED_OK;
}

/* The positions, each with its offsets in flight (increasing, below read);
 * the offsets of all positions go into one array, counted first. */
static int decode_pos(ed_bytes_rd *rd, struct ed_mqtt_grp_rec *r, const char **why)
{
    r->n_pos = (uint32_t)ed_bytes_get_i32(rd);
    if (!ed_bytes_rd_ok(rd) || r->n_pos > ED_MQTT_GROUP_MAX_POS ||
        (size_t)r->n_pos * 17 > rd->left) {
        *why = "position count";
        return ED_ERR_CORRUPT;
    }
    if (r->n_pos) {
        r->pos = ed_calloc(r->n_pos, sizeof *r->pos);
        if (!r->pos) return ED_ERR_NOMEM;
    }
    ed_bytes_rd first = *rd;
    for (int pass = 0; pass < 2; pass++) {
        *rd = first;
        uint32_t n_fly = 0;
        for (uint32_t i = 0; i < r->n_pos; i++) {
            struct ed_mqtt_grp_pos *q = &r->pos[i];
            q->topic_len = get_u16(rd);
            q->topic = ed_bytes_get_span(rd, q->topic_len).p;
            q->partition = ed_bytes_get_i32(rd);
            q->read = ed_bytes_get_i64(rd);
            q->n_fly = get_u16(rd);
            q->fly_at = n_fly;
            if (!ed_bytes_rd_ok(rd) || !ed_mqtt_session_topic_ok(q->topic, q->topic_len) ||
                q->partition < 0 || q->read < 0 || (size_t)q->n_fly * 8 > rd->left) {
                *why = "position";
                return ED_ERR_CORRUPT;
            }
            int64_t prev = -1;
            for (uint16_t k = 0; k < q->n_fly; k++) {
                int64_t off = ed_bytes_get_i64(rd);
                if (off <= prev || off >= q->read) {
                    *why = "offset in flight";
                    return ED_ERR_CORRUPT;
                }
                prev = off;
                if (pass == 1) r->fly[n_fly + k] = off;
            }
            n_fly += q->n_fly;
        }
        if (pass == 0 && n_fly) {
            r->fly = ed_calloc(n_fly, sizeof *r->fly);
            if (!r->fly) return ED_ERR_NOMEM;
        }
        r->n_fly = n_fly;
    }
    return ED_OK;
}

int ed_mqtt_group_decode(const uint8_t *p, size_t len, struct ed_mqtt_grp_rec *r, const char **why)
{
    memset(r, 0, sizeof *r);
    ed_bytes_rd rd;
    ed_bytes_rd_init(&rd, p, len);
    uint8_t version = ed_bytes_get_u8(&rd);
    if (!ed_bytes_rd_ok(&rd)) {
        *why = "header";
        return ED_ERR_CORRUPT;
    }
    if (version != ED_MQTT_GROUP_VERSION) {
        *why = "unknown version";
        return ED_ERR_UNSUPPORTED;
    }
    int rc = decode_members(&rd, r, why);
    if (rc == ED_OK) rc = decode_pos(&rd, r, why);
    if (rc == ED_OK && rd.left != 0) {
        *why = "bytes after the record";
        rc = ED_ERR_CORRUPT;
    }
    if (rc == ED_ERR_NOMEM) *why = "out of memory";
    if (rc != ED_OK) ed_mqtt_group_free(r);
    return rc;
}

void ed_mqtt_group_free(struct ed_mqtt_grp_rec *r)
{
    ed_free(r->members);
    ed_free(r->pos);
    ed_free(r->fly);
    memset(r, 0, sizeof *r);
}
