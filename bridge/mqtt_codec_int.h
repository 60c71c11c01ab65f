/* What the MQTT codec's server side (mqtt_codec.c) and client side
 * (mqtt_codec_client.c) share: the bounded cursor with a sticky error that
 * every decoder reads through, and the put helpers every encoder writes
 * with. Internal to the codec. */
#ifndef ED_BRIDGE_MQTT_CODEC_INT_H
#define ED_BRIDGE_MQTT_CODEC_INT_H

#include "bridge/mqtt_codec.h"
#include "core/bytes.h"

/* ---- bounded cursor ---- */

struct cur {
    const uint8_t *p, *end;
    bool bad;
};

static inline void cur_init(struct cur *c, const uint8_t *p, size_t len)
{
    c->p = p;
    c->end = p + len;
    c->bad = false;
}

static inline size_t cur_left(const struct cur *c)
{
    return c->bad ? 0 : (size_t)(c->end - c->p);
}

static inline uint8_t get_u8(struct cur *c)
{
    if (c->bad || !c->p || c->p >= c->end) {
        c->bad = true;
        return 0;
    }
    return *c->p++;
}

static inline uint16_t get_u16(struct cur *c)
{
    if (c->bad || c->end - c->p < 2) {
        c->bad = true;
        return 0;
    }
    uint16_t v = ed_get_be16(c->p);
    c->p += 2;
    return v;
}

static inline uint32_t get_varint(struct cur *c)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t b = get_u8(c);
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return v;
    }
    c->bad = true;
    return 0;
}

static inline struct ed_mqtt_bytes get_n(struct cur *c, size_t n)
{
    struct ed_mqtt_bytes b = {NULL, 0};
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = true;
        return b;
    }
    b.p = c->p;
    b.len = n;
    c->p += n;
    return b;
}

static inline struct ed_mqtt_bytes get_bin(struct cur *c)
{
    uint16_t n = get_u16(c);
    return get_n(c, n);
}

/* A UTF-8 string: length-prefixed and well-formed. */
static inline struct ed_mqtt_bytes get_str(struct cur *c)
{
    struct ed_mqtt_bytes b = get_bin(c);
    if (!c->bad && !ed_mqtt_utf8_ok(b.p, b.len)) c->bad = true;
    return b;
}

/* A packet identifier, which must not be 0; else what in why. */
static inline bool get_packet_id(struct cur *c, uint16_t *out, const char *what, const char **why)
{
    *out = get_u16(c);
    if (!c->bad && *out != 0) return true;
    *why = what;
    return false;
}

/* Reads a property block (length varint + properties) and checks it. */
static inline int get_props(struct cur *c, int type, bool will, struct ed_mqtt_bytes *out,
                            const char **why)
{
    uint32_t n = get_varint(c);
    *out = get_n(c, n);
    if (c->bad) {
        *why = "properties run past the packet";
        return ED_ERR_PROTO;
    }
    return ed_mqtt_props_check(*out, type, will, why);
}

/* ---- encoders ---- */

/* Encoders write into the caller's buffer with the bounded writer of
 * core/bytes.h: overflow makes every later put a no-op. */

static inline void put_varint(ed_bytes_wr *w, uint32_t v)
{
    uint8_t b[4];
    ed_bytes_put_raw(w, b, ed_mqtt_varint_put(b, v));
}

static inline void put_str(ed_bytes_wr *w, const void *s, size_t n)
{
    ed_bytes_put_be(w, (uint16_t)n, 2);
    ed_bytes_put_raw(w, s, n);
}

static inline size_t wr_done(const ed_bytes_wr *w)
{
    return w->err ? 0 : w->len;
}

/* Writes the fixed header; the caller then writes exactly rem bytes. */
static inline void put_fixed(ed_bytes_wr *w, uint8_t first, uint32_t rem)
{
    ed_bytes_put_be(w, first, 1);
    put_varint(w, rem);
}

#endif
