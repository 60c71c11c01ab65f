/* A protocol-neutral bounded byte cursor: big-endian integers, int16-length
 * strings and int32-length byte runs (length -1 = null), read with a sticky
 * error and written into a growable buffer with a size limit. */
#ifndef ED_CORE_BYTES_H
#define ED_CORE_BYTES_H

#include "core/kstr.h"
#include "platform/base.h"

/* A reader over someone else's bytes. Once a read runs past the end or meets
 * a lying length, err is set, every later read returns 0 or null, and
 * nothing is taken. */
typedef struct ed_bytes_rd {
    const uint8_t *p;
    size_t left;
    int err; /* ED_OK or ED_ERR_PROTO */
} ed_bytes_rd;

/* A byte run pointing into the reader's bytes (len -1 = null). */
typedef struct ed_bytes_run {
    const uint8_t *p;
    int32_t len;
} ed_bytes_run;

void ed_bytes_rd_init(ed_bytes_rd *r, const uint8_t *p, size_t len);
bool ed_bytes_rd_ok(const ed_bytes_rd *r);
uint8_t ed_bytes_get_u8(ed_bytes_rd *r);
int16_t ed_bytes_get_i16(ed_bytes_rd *r);
int32_t ed_bytes_get_i32(ed_bytes_rd *r);
int64_t ed_bytes_get_i64(ed_bytes_rd *r);
/* An unsigned LEB128 varint of at most 5 bytes that fits 32 bits. */
uint32_t ed_bytes_get_uvarint(ed_bytes_rd *r);
/* n bytes whose length the caller read: -1 is null, below -1 or past the
 * end fails the reader. */
ed_bytes_run ed_bytes_get_span(ed_bytes_rd *r, int64_t n);
ed_kstr ed_bytes_get_str(ed_bytes_rd *r);      /* int16 length */
ed_bytes_run ed_bytes_get_run(ed_bytes_rd *r); /* int32 length */

/* A writer that grows its buffer up to max bytes, or fills the caller's
 * buffer. Past max err becomes ED_ERR_TOOBIG, on a failed allocation
 * ED_ERR_NOMEM; later writes do nothing. */
typedef struct ed_bytes_wr {
    uint8_t *buf;
    size_t len, cap, max;
    int err;
    bool fixed; /* buf is the caller's: never grown, never freed */
} ed_bytes_wr;

void ed_bytes_wr_init(ed_bytes_wr *w, size_t max);
/* Writes into out, at most cap bytes. */
void ed_bytes_wr_fixed(ed_bytes_wr *w, uint8_t *out, size_t cap);
void ed_bytes_put_raw(ed_bytes_wr *w, const void *p, size_t len);
/* The low width bytes (1, 2, 4 or 8) of v, big-endian: signed values are
 * written in two's complement. */
void ed_bytes_put_be(ed_bytes_wr *w, uint64_t v, unsigned width);
/* A NUL-terminated string with an int16 length; NULL writes null (-1). */
void ed_bytes_put_str(ed_bytes_wr *w, const char *z);
/* len bytes with an int32 length; len < 0 writes null (-1). */
void ed_bytes_put_run(ed_bytes_wr *w, const void *p, int32_t len);
/* Hands the written bytes to the caller (*out freed with ed_free) and resets
 * the writer; on an error frees them and returns it. Nothing written is an
 * error (ED_ERR_INVAL): callers take records, never empty. */
int ed_bytes_wr_take(ed_bytes_wr *w, uint8_t **out, size_t *len);
void ed_bytes_wr_free(ed_bytes_wr *w);

#endif
