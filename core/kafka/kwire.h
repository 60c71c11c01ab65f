/* Kafka wire primitives on bounded cursors. The reader (ed_krd) has a sticky
 * error: after the first overrun or bad value every get returns zero/empty
 * and the caller checks ed_krd_ok() once at the end. The writer (ed_kwr)
 * grows one buffer up to a ceiling (sticky ED_ERR_TOOBIG/NOMEM), and can
 * splice segment-file slices into the output for zero-copy fetch responses.
 * `flex` selects the flexible (KIP-482) encodings: compact strings, bytes and
 * arrays (unsigned varint length + 1) and tagged fields. */
#ifndef ED_CORE_KWIRE_H
#define ED_CORE_KWIRE_H

#include "platform/base.h"
#include "core/conn.h"
#include "storage/log.h"
#include "core/kstr.h"

/* A byte run pointing into the request buffer; len -1 = null (strings:
 * ed_kstr, core/kstr.h). */
typedef struct ed_kbytes {
    const uint8_t *p;
    int32_t len;
} ed_kbytes;

typedef struct ed_krd {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* ED_OK or the first error */
} ed_krd;

void ed_krd_init(ed_krd *r, const void *buf, size_t len);
static inline bool ed_krd_ok(const ed_krd *r)
{
    return r->err == ED_OK;
}
static inline size_t ed_krd_left(const ed_krd *r)
{
    return (size_t)(r->end - r->p);
}
/* Marks the cursor failed (e.g. a semantic check by the caller). */
void ed_krd_fail(ed_krd *r, int err);

int8_t ed_krd_i8(ed_krd *r);
bool ed_krd_bool(ed_krd *r);
int16_t ed_krd_i16(ed_krd *r);
int32_t ed_krd_i32(ed_krd *r);
int64_t ed_krd_i64(ed_krd *r);
uint32_t ed_krd_u32(ed_krd *r);
uint32_t ed_krd_uvarint(ed_krd *r);
int32_t ed_krd_varint(ed_krd *r);  /* zigzag */
int64_t ed_krd_varlong(ed_krd *r); /* zigzag */
void ed_krd_uuid(ed_krd *r, uint8_t out[16]);
void ed_krd_skip(ed_krd *r, size_t n);
/* STRING / NULLABLE_STRING (int16 length) or COMPACT_ forms when flex. */
ed_kstr ed_krd_str(ed_krd *r, bool flex);
/* BYTES / NULLABLE_BYTES / RECORDS (int32 length) or COMPACT_ forms. */
ed_kbytes ed_krd_bytes(ed_krd *r, bool flex);
/* Array length (-1 = null). Fails the cursor if the count could not fit in
 * the bytes left at min_elem_len bytes each, so callers may allocate n. */
int32_t ed_krd_array(ed_krd *r, bool flex, size_t min_elem_len);
/* Skips a tagged-field section when flex (no-op otherwise). */
void ed_krd_tags(ed_krd *r, bool flex);

/* Copies a wire string into a NUL-terminated buffer; false if it does not
 * fit, is null, or contains a NUL byte. */
bool ed_kstr_copy(ed_kstr s, char *out, size_t out_len);
bool ed_kstr_eq(ed_kstr s, const char *z);

typedef struct ed_kwr {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t max; /* ceiling for len */
    int err;
    struct ed_conn_splice *splices; /* file slices at byte positions */
    int n_splices;
    int cap_splices;
    size_t splice_len; /* sum of spliced bytes */
} ed_kwr;

/* max = ceiling of the in-memory part, in bytes. */
void ed_kwr_init(ed_kwr *w, size_t max);
/* Releases the buffer and every slice still held. */
void ed_kwr_free(ed_kwr *w);
/* Empties the writer (releasing slices), keeping the buffer. */
void ed_kwr_reset(ed_kwr *w);
static inline bool ed_kwr_ok(const ed_kwr *w)
{
    return w->err == ED_OK;
}
/* Total output length: memory bytes plus spliced file bytes. */
static inline size_t ed_kwr_total_len(const ed_kwr *w)
{
    return w->len + w->splice_len;
}

void ed_kwr_raw(ed_kwr *w, const void *p, size_t len);
void ed_kwr_i8(ed_kwr *w, int8_t v);
void ed_kwr_bool(ed_kwr *w, bool v);
void ed_kwr_i16(ed_kwr *w, int16_t v);
void ed_kwr_i32(ed_kwr *w, int32_t v);
void ed_kwr_i64(ed_kwr *w, int64_t v);
void ed_kwr_u32(ed_kwr *w, uint32_t v);
void ed_kwr_uvarint(ed_kwr *w, uint32_t v);
void ed_kwr_varint(ed_kwr *w, int32_t v);
void ed_kwr_varlong(ed_kwr *w, int64_t v);
void ed_kwr_uuid(ed_kwr *w, const uint8_t v[16]);
/* s == NULL writes null. */
void ed_kwr_str(ed_kwr *w, const char *s, bool flex);
void ed_kwr_strn(ed_kwr *w, const char *p, int32_t len, bool flex); /* len -1 = null */
void ed_kwr_kstr(ed_kwr *w, ed_kstr s, bool flex);
void ed_kwr_bytes(ed_kwr *w, const void *p, int32_t len, bool flex); /* len -1 = null */
void ed_kwr_array(ed_kwr *w, int32_t n, bool flex);                  /* n -1 = null */
/* Writes an empty tagged-field section when flex. */
void ed_kwr_tags(ed_kwr *w, bool flex);
/* Reserves 4 bytes to patch later; returns their position. */
size_t ed_kwr_reserve_i32(ed_kwr *w);
void ed_kwr_patch_i32(ed_kwr *w, size_t pos, int32_t v);
/* Moves the slice into the output at the current position (the writer now
 * owns it and releases it). The caller has already written its length. */
void ed_kwr_splice(ed_kwr *w, struct ed_log_slice *slice);

#endif
