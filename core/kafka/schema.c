/* The table-driven Kafka message codec (see schema.h): one decoder and one
 * encoder walk the generated field tables of core/kafka/msg_gen.c. */
#include "core/kafka/msg_gen.h"
#include "platform/mem.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- arena ---- */

struct chunk {
    struct chunk *next;
    max_align_t data[];
};

void ed_karena_init(ed_karena *a, void *buf, size_t cap)
{
    const size_t align = _Alignof(max_align_t);
    size_t pad = (align - (uintptr_t)buf % align) % align;
    memset(a, 0, sizeof *a);
    a->buf = (uint8_t *)buf + (pad < cap ? pad : cap);
    a->cap = pad < cap ? cap - pad : 0;
    a->limit = a->cap;
}

void ed_karena_init_heap(ed_karena *a, size_t limit)
{
    memset(a, 0, sizeof *a);
    a->limit = limit;
}

void ed_karena_free(ed_karena *a)
{
    struct chunk *c = a->chunks;
    while (c) {
        struct chunk *n = c->next;
        ed_free(c);
        c = n;
    }
    a->chunks = NULL;
    a->buf = NULL;
    a->used = a->cap = a->total = 0;
}

void *ed_karena_alloc(ed_karena *a, size_t len)
{
    const size_t align = _Alignof(max_align_t);
    if (!a || len > a->limit - a->total) return NULL;
    len = (len + align - 1) & ~(align - 1);
    if (len > a->limit - a->total) return NULL;
    if (!a->buf || len > a->cap - a->used) {
        if (!a->chunks && a->buf) return NULL; /* a fixed buffer is exhausted */
        size_t cap = len > 4096 ? len : 4096;
        struct chunk *c = ed_malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->chunks;
        a->chunks = c;
        a->buf = (uint8_t *)c->data;
        a->cap = cap;
        a->used = 0;
    }
    void *p = a->buf + a->used;
    a->used += len;
    a->total += len;
    memset(p, 0, len);
    return p;
}

/* ---- versions ---- */

const struct ed_kmsg_api *ed_kschema_api(int16_t api_key)
{
    for (size_t i = 0; i < ED_KMSG_N_APIS; i++)
        if (ed_kmsg_apis[i].key == api_key) return &ed_kmsg_apis[i];
    return NULL;
}

bool ed_kschema_flexible(const struct ed_kmsg_api *api, int16_t ver)
{
    return api->flex_from >= 0 && ver >= api->flex_from;
}

int16_t ed_kschema_request_header_version(const struct ed_kmsg_api *api, int16_t ver)
{
    return ed_kschema_flexible(api, ver) ? 2 : 1;
}

int16_t ed_kschema_response_header_version(const struct ed_kmsg_api *api, int16_t ver)
{
    return ed_kschema_flexible(api, ver) && api->key != ED_KMSG_API_VERSIONS ? 1 : 0;
}

static bool has(int16_t v, int16_t lo, int16_t hi)
{
    return lo >= 0 && v >= lo && v <= hi;
}

static bool tagged(const struct ed_kfield *f, int16_t v)
{
    return f->tag >= 0 && has(v, f->tag_min, f->tag_max);
}

static size_t elem_size(const struct ed_kfield *f)
{
    switch (f->type) {
    case ED_KT_BOOL:
        return sizeof(bool);
    case ED_KT_INT8:
        return 1;
    case ED_KT_INT16:
    case ED_KT_UINT16:
        return 2;
    case ED_KT_INT32:
    case ED_KT_UINT32:
        return 4;
    case ED_KT_INT64:
    case ED_KT_FLOAT64:
        return 8;
    case ED_KT_UUID:
        return 16;
    case ED_KT_STRING:
        return sizeof(ed_kstr);
    case ED_KT_BYTES:
    case ED_KT_RECORDS:
        return sizeof(ed_kbytes);
    default:
        return f->sub->size;
    }
}

/* Smallest wire size of one array element (0 for structs: a struct's
 * elements are bounded by the arena instead). */
static size_t wire_min(const struct ed_kfield *f)
{
    switch (f->type) {
    case ED_KT_STRUCT:
        return 0;
    case ED_KT_STRING:
    case ED_KT_BYTES:
    case ED_KT_RECORDS:
        return 1;
    case ED_KT_BOOL:
        return 1;
    default:
        return elem_size(f);
    }
}

/* ---- defaults ---- */

/* Integers and bools travel through int64_t between the wire and the
 * struct, so each type is switched on once per direction. */
static bool is_int(uint8_t t)
{
    return t <= ED_KT_INT64;
}

static void store_int(uint8_t t, uint8_t *p, int64_t v)
{
    switch (t) {
    case ED_KT_BOOL:
        *(bool *)p = v != 0;
        break;
    case ED_KT_INT8:
        *(int8_t *)p = (int8_t)v;
        break;
    case ED_KT_INT16:
        *(int16_t *)p = (int16_t)v;
        break;
    case ED_KT_UINT16:
        *(uint16_t *)p = (uint16_t)v;
        break;
    case ED_KT_INT32:
        *(int32_t *)p = (int32_t)v;
        break;
    case ED_KT_UINT32:
        *(uint32_t *)p = (uint32_t)v;
        break;
    default:
        *(int64_t *)p = v;
        break;
    }
}

static int64_t load_int(uint8_t t, const uint8_t *p)
{
    switch (t) {
    case ED_KT_BOOL:
        return *(const bool *)p;
    case ED_KT_INT8:
        return *(const int8_t *)p;
    case ED_KT_INT16:
        return *(const int16_t *)p;
    case ED_KT_UINT16:
        return *(const uint16_t *)p;
    case ED_KT_INT32:
        return *(const int32_t *)p;
    case ED_KT_UINT32:
        return *(const uint32_t *)p;
    default:
        return *(const int64_t *)p;
    }
}

static void set_default(const struct ed_kfield *f, uint8_t *p)
{
    bool def_null = f->flags & ED_KF_DEF_NULL;
    if (f->flags & ED_KF_ARRAY)
        *(int32_t *)p = def_null ? -1 : 0;
    else if (is_int(f->type))
        store_int(f->type, p, f->def);
    else if (f->type == ED_KT_FLOAT64) {
        double d = (double)f->def;
        memcpy(p, &d, sizeof d);
    } else if (f->type == ED_KT_STRING)
        *(ed_kstr *)p = def_null ? (ed_kstr){NULL, -1} : (ed_kstr){"", 0};
    else if (f->type == ED_KT_BYTES || f->type == ED_KT_RECORDS)
        *(ed_kbytes *)p = def_null ? (ed_kbytes){NULL, -1} : (ed_kbytes){NULL, 0};
    else if (f->type == ED_KT_STRUCT)
        ed_kschema_init(f->sub, p);
    /* uuid: zero */
}

const char *ed_kschema_field_name(const struct ed_kfield *f)
{
    return ed_kmsg_field_names + f->name_off;
}

bool ed_kschema_has(const struct ed_kstruct *s, int16_t ver, const char *field)
{
    for (uint16_t i = 0; i < s->n_fields; i++)
        if (strcmp(ed_kschema_field_name(&s->fields[i]), field) == 0)
            return has(ver, s->fields[i].v_min, s->fields[i].v_max);
    return false;
}

bool ed_kschema_nullable(const struct ed_kstruct *s, int16_t ver, const char *field)
{
    for (uint16_t i = 0; i < s->n_fields; i++)
        if (strcmp(ed_kschema_field_name(&s->fields[i]), field) == 0)
            return has(ver, s->fields[i].v_min, s->fields[i].v_max) &&
                   has(ver, s->fields[i].null_min, s->fields[i].null_max);
    return false;
}

void ed_kschema_init(const struct ed_kstruct *s, void *out)
{
    memset(out, 0, s->size);
    for (uint16_t i = 0; i < s->n_fields; i++)
        set_default(&s->fields[i], (uint8_t *)out + s->fields[i].off);
}

/* ---- decoding ---- */

struct dec {
    int16_t v;
    bool flex;
    ed_karena *a;
};

static void dec_struct(const struct dec *d, const struct ed_kstruct *s, ed_krd *r, uint8_t *out);

/* One value of f's element type at p. */
static int64_t read_int(ed_krd *r, uint8_t t)
{
    switch (t) {
    case ED_KT_BOOL:
        return ed_krd_bool(r);
    case ED_KT_INT8:
        return ed_krd_i8(r);
    case ED_KT_INT16:
        return ed_krd_i16(r);
    case ED_KT_UINT16:
        return (uint16_t)ed_krd_i16(r);
    case ED_KT_INT32:
        return ed_krd_i32(r);
    case ED_KT_UINT32:
        return ed_krd_u32(r);
    default:
        return ed_krd_i64(r);
    }
}

/* One value of f's element type at p. */
static void dec_value(const struct dec *d, const struct ed_kfield *f, bool nullable, ed_krd *r,
                      uint8_t *p)
{
    bool flex = d->flex && !(f->flags & ED_KF_NOFLEX);
    if (is_int(f->type)) {
        store_int(f->type, p, read_int(r, f->type));
    } else if (f->type == ED_KT_FLOAT64) {
        int64_t bits = ed_krd_i64(r);
        memcpy(p, &bits, 8);
    } else if (f->type == ED_KT_UUID) {
        ed_krd_uuid(r, p);
    } else if (f->type == ED_KT_STRING) {
        *(ed_kstr *)p = ed_krd_str(r, flex);
        if (((ed_kstr *)p)->len < 0 && !nullable) ed_krd_fail(r, ED_ERR_PROTO);
    } else if (f->type == ED_KT_BYTES || f->type == ED_KT_RECORDS) {
        *(ed_kbytes *)p = ed_krd_bytes(r, flex);
        if (((ed_kbytes *)p)->len < 0 && !nullable) ed_krd_fail(r, ED_ERR_PROTO);
    } else {
        dec_struct(d, f->sub, r, p);
    }
}

static void dec_field(const struct dec *d, const struct ed_kfield *f, ed_krd *r, uint8_t *base)
{
    bool nullable = has(d->v, f->null_min, f->null_max);
    uint8_t *p = base + f->off;
    if (!(f->flags & ED_KF_ARRAY)) {
        dec_value(d, f, nullable, r, p);
        return;
    }
    int32_t n = ed_krd_array(r, d->flex, wire_min(f));
    if (r->err) return;
    if (n < 0 && !nullable) {
        ed_krd_fail(r, ED_ERR_PROTO);
        return;
    }
    *(int32_t *)p = n;
    if (n <= 0) return;
    size_t es = elem_size(f);
    /* Every element takes at least one byte on the wire (a struct has at
     * least one field, or its tag section when flexible). */
    if ((size_t)n > ed_krd_left(r) || (size_t)n > SIZE_MAX / es) {
        ed_krd_fail(r, ED_ERR_PROTO);
        return;
    }
    uint8_t *arr = ed_karena_alloc(d->a, (size_t)n * es);
    if (!arr) {
        ed_krd_fail(r, ED_ERR_NOMEM);
        return;
    }
    memcpy(base + f->off_ptr, &arr, sizeof arr);
    for (int32_t i = 0; i < n && !r->err; i++) {
        uint8_t *e = arr + (size_t)i * es;
        if (f->type == ED_KT_STRUCT) ed_kschema_init(f->sub, e);
        dec_value(d, f, false, r, e);
    }
}

static void dec_tags(const struct dec *d, const struct ed_kstruct *s, ed_krd *r, uint8_t *out)
{
    uint32_t n = ed_krd_uvarint(r);
    for (uint32_t i = 0; i < n && !r->err; i++) {
        uint32_t tag = ed_krd_uvarint(r);
        uint32_t len = ed_krd_uvarint(r);
        if (r->err || len > ed_krd_left(r)) {
            ed_krd_fail(r, ED_ERR_PROTO);
            return;
        }
        const struct ed_kfield *f = NULL;
        for (uint16_t k = 0; k < s->n_fields && !f; k++)
            if (tagged(&s->fields[k], d->v) && (uint32_t)s->fields[k].tag == tag) f = &s->fields[k];
        if (!f) { /* a tag this version does not know: skipped */
            ed_krd_skip(r, len);
            continue;
        }
        /* The field must fill exactly the size its tag claims. */
        ed_krd sub;
        ed_krd_init(&sub, r->p, len);
        dec_field(d, f, &sub, out);
        if (sub.err || ed_krd_left(&sub)) {
            ed_krd_fail(r, sub.err == ED_ERR_NOMEM ? ED_ERR_NOMEM : ED_ERR_PROTO);
            return;
        }
        ed_krd_skip(r, len);
    }
}

static void dec_struct(const struct dec *d, const struct ed_kstruct *s, ed_krd *r, uint8_t *out)
{
    for (uint16_t i = 0; i < s->n_fields && !r->err; i++) {
        const struct ed_kfield *f = &s->fields[i];
        if (has(d->v, f->v_min, f->v_max) && !tagged(f, d->v)) dec_field(d, f, r, out);
    }
    if (d->flex && !r->err) dec_tags(d, s, r, out);
}

int ed_kschema_decode(const struct ed_kstruct *s, int16_t ver, bool flex, ed_krd *r, ed_karena *a,
                      void *out)
{
    struct dec d = {ver, flex, a};
    ed_kschema_init(s, out);
    dec_struct(&d, s, r, out);
    if (r->err == ED_OK) return ED_OK;
    return r->err == ED_ERR_NOMEM ? ED_ERR_NOMEM : ED_ERR_PROTO;
}

/* ---- encoding ---- */

struct enc {
    int16_t v;
    bool flex;
    const struct ed_ksplicer *sp;
};

static void wfail(ed_kwr *w, int err)
{
    if (w->err == ED_OK) w->err = err;
}

static void enc_struct(const struct enc *e, const struct ed_kstruct *s, ed_kwr *w,
                       const uint8_t *in);

static void write_int(ed_kwr *w, uint8_t t, int64_t v)
{
    switch (t) {
    case ED_KT_BOOL:
    case ED_KT_INT8:
        ed_kwr_i8(w, (int8_t)v);
        break;
    case ED_KT_INT16:
    case ED_KT_UINT16:
        ed_kwr_i16(w, (int16_t)v);
        break;
    case ED_KT_INT32:
    case ED_KT_UINT32:
        ed_kwr_u32(w, (uint32_t)v);
        break;
    default:
        ed_kwr_i64(w, v);
        break;
    }
}

/* Records held elsewhere (p NULL, len > 0): the length here, the bytes
 * from the splicer. */
static void enc_spliced(const struct enc *e, bool flex, ed_kwr *w, const ed_kbytes *b)
{
    if (!e->sp) {
        wfail(w, ED_ERR_INVAL);
        return;
    }
    if (flex)
        ed_kwr_uvarint(w, (uint32_t)b->len + 1);
    else
        ed_kwr_i32(w, b->len);
    size_t want = ed_kwr_total_len(w) + (size_t)b->len;
    e->sp->splice(e->sp->arg, w, b);
    if (w->err == ED_OK && ed_kwr_total_len(w) != want) wfail(w, ED_ERR_INVAL);
}

static void enc_value(const struct enc *e, const struct ed_kfield *f, bool nullable, ed_kwr *w,
                      const uint8_t *p)
{
    bool cflex = e->flex && !(f->flags & ED_KF_NOFLEX);
    if (is_int(f->type)) {
        write_int(w, f->type, load_int(f->type, p));
    } else if (f->type == ED_KT_FLOAT64) {
        int64_t bits;
        memcpy(&bits, p, 8);
        ed_kwr_i64(w, bits);
    } else if (f->type == ED_KT_UUID) {
        ed_kwr_uuid(w, p);
    } else if (f->type == ED_KT_STRING) {
        const ed_kstr *s = (const ed_kstr *)p;
        if (s->len < 0 && !nullable) wfail(w, ED_ERR_INVAL);
        ed_kwr_kstr(w, *s, cflex);
    } else if (f->type == ED_KT_RECORDS && !((const ed_kbytes *)p)->p &&
               ((const ed_kbytes *)p)->len > 0) {
        enc_spliced(e, cflex, w, (const ed_kbytes *)p);
    } else if (f->type == ED_KT_BYTES || f->type == ED_KT_RECORDS) {
        const ed_kbytes *b = (const ed_kbytes *)p;
        if (b->len < 0 && !nullable) wfail(w, ED_ERR_INVAL);
        ed_kwr_bytes(w, b->p, b->len, cflex);
    } else {
        enc_struct(e, f->sub, w, p);
    }
}

static void enc_field(const struct enc *e, const struct ed_kfield *f, ed_kwr *w,
                      const uint8_t *base)
{
    bool nullable = has(e->v, f->null_min, f->null_max);
    const uint8_t *p = base + f->off;
    if (!(f->flags & ED_KF_ARRAY)) {
        enc_value(e, f, nullable, w, p);
        return;
    }
    int32_t n = *(const int32_t *)p;
    const uint8_t *arr;
    memcpy(&arr, base + f->off_ptr, sizeof arr);
    if ((n < 0 && !nullable) || (n > 0 && !arr) || n < -1) {
        wfail(w, ED_ERR_INVAL);
        return;
    }
    ed_kwr_array(w, n, e->flex);
    size_t es = elem_size(f);
    for (int32_t i = 0; i < n && w->err == ED_OK; i++)
        enc_value(e, f, false, w, arr + (size_t)i * es);
}

static bool is_default(int16_t v, const struct ed_kfield *f, const uint8_t *base);

static bool struct_default(int16_t v, const struct ed_kstruct *s, const uint8_t *p)
{
    for (uint16_t i = 0; i < s->n_fields; i++)
        if (has(v, s->fields[i].v_min, s->fields[i].v_max) && !is_default(v, &s->fields[i], p))
            return false;
    return true;
}

/* Whether a (tagged) field holds its default, so it is not written. */
static bool is_default(int16_t v, const struct ed_kfield *f, const uint8_t *base)
{
    const uint8_t *p = base + f->off;
    bool def_null = f->flags & ED_KF_DEF_NULL;
    if (f->flags & ED_KF_ARRAY) return *(const int32_t *)p == (def_null ? -1 : 0);
    static const uint8_t zero[16];
    if (is_int(f->type)) return load_int(f->type, p) == f->def;
    switch (f->type) {
    case ED_KT_FLOAT64: {
        double d;
        memcpy(&d, p, sizeof d);
        return d == (double)f->def;
    }
    case ED_KT_UUID:
        return memcmp(p, zero, 16) == 0;
    case ED_KT_STRING:
        return ((const ed_kstr *)p)->len == (def_null ? -1 : 0);
    case ED_KT_BYTES:
    case ED_KT_RECORDS:
        return ((const ed_kbytes *)p)->len == (def_null ? -1 : 0);
    default:
        return struct_default(v, f->sub, p);
    }
}

/* Tagged fields go out in ascending tag order, each as tag, size, value
 * (never spliced records: a tag's size is known before it is written). */
static void enc_tags(const struct enc *e, const struct ed_kstruct *s, ed_kwr *w, const uint8_t *in)
{
    int16_t v = e->v;
    uint32_t n = 0;
    for (uint16_t i = 0; i < s->n_fields; i++)
        if (tagged(&s->fields[i], v) && !is_default(v, &s->fields[i], in)) n++;
    ed_kwr_uvarint(w, n);
    int32_t last = -1;
    struct enc te = {v, true, NULL};
    for (uint32_t k = 0; k < n && w->err == ED_OK; k++) {
        const struct ed_kfield *next = NULL;
        for (uint16_t i = 0; i < s->n_fields; i++) {
            const struct ed_kfield *f = &s->fields[i];
            if (tagged(f, v) && f->tag > last && (!next || f->tag < next->tag) &&
                !is_default(v, f, in))
                next = f;
        }
        if (!next) break;
        ed_kwr tmp;
        ed_kwr_init(&tmp, w->max);
        enc_field(&te, next, &tmp, in);
        if (tmp.err) wfail(w, tmp.err);
        ed_kwr_uvarint(w, (uint32_t)next->tag);
        ed_kwr_uvarint(w, (uint32_t)tmp.len);
        ed_kwr_raw(w, tmp.buf, tmp.len);
        ed_kwr_free(&tmp);
        last = next->tag;
    }
}

static void enc_struct(const struct enc *e, const struct ed_kstruct *s, ed_kwr *w,
                       const uint8_t *in)
{
    for (uint16_t i = 0; i < s->n_fields && w->err == ED_OK; i++) {
        const struct ed_kfield *f = &s->fields[i];
        if (has(e->v, f->v_min, f->v_max) && !tagged(f, e->v)) enc_field(e, f, w, in);
    }
    if (e->flex) enc_tags(e, s, w, in);
}

void ed_kschema_encode(const struct ed_kstruct *s, int16_t ver, bool flex, ed_kwr *w,
                       const void *in)
{
    struct enc e = {ver, flex, NULL};
    enc_struct(&e, s, w, in);
}

void ed_kschema_encode_spliced(const struct ed_kstruct *s, int16_t ver, bool flex, ed_kwr *w,
                               const void *in, const struct ed_ksplicer *sp)
{
    struct enc e = {ver, flex, sp};
    enc_struct(&e, s, w, in);
}

int ed_kschema_decode_request(const struct ed_kmsg_api *api, int16_t ver, ed_krd *r, ed_karena *a,
                              void *out)
{
    return ed_kschema_decode(api->request, ver, ed_kschema_flexible(api, ver), r, a, out);
}

int ed_kschema_decode_response(const struct ed_kmsg_api *api, int16_t ver, ed_krd *r, ed_karena *a,
                               void *out)
{
    return ed_kschema_decode(api->response, ver, ed_kschema_flexible(api, ver), r, a, out);
}

void ed_kschema_encode_request(const struct ed_kmsg_api *api, int16_t ver, ed_kwr *w,
                               const void *in)
{
    ed_kschema_encode(api->request, ver, ed_kschema_flexible(api, ver), w, in);
}

void ed_kschema_encode_response(const struct ed_kmsg_api *api, int16_t ver, ed_kwr *w,
                                const void *in)
{
    ed_kschema_encode(api->response, ver, ed_kschema_flexible(api, ver), w, in);
}
