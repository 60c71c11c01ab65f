/* Shared basics for every module: the error enum, assertions, big-endian get/put. */
#ifndef ED_PLATFORM_BASE_H
#define ED_PLATFORM_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* One error space for the whole code base. ED_OK is 0, errors are negative. */
enum ed_err {
    ED_OK = 0,
    ED_ERR_NOMEM = -1,        /* allocation failed or over the memory limit */
    ED_ERR_IO = -2,           /* an OS call failed; the raw errno is in the log */
    ED_ERR_NOSPC = -3,        /* disk full or over the disk budget */
    ED_ERR_CORRUPT = -4,      /* bytes on disk or wire fail a check */
    ED_ERR_INVAL = -5,        /* bad argument or bad input value */
    ED_ERR_NOENT = -6,        /* no such file, topic, partition, offset */
    ED_ERR_EXIST = -7,        /* already exists */
    ED_ERR_AGAIN = -8,        /* would block; try again later */
    ED_ERR_RANGE = -9,        /* value or offset out of range */
    ED_ERR_TOOBIG = -10,      /* over a size limit */
    ED_ERR_CLOSED = -11,      /* peer closed or object shut down */
    ED_ERR_UNSUPPORTED = -12, /* feature or version not supported */
    ED_ERR_BUSY = -13,        /* resource in use */
    ED_ERR_TIMEOUT = -14,     /* deadline passed */
    ED_ERR_PROTO = -15,       /* protocol violation by the peer */
    ED_ERR_PERM = -16,        /* permission denied */
    ED_ERR__COUNT = 17
};

/* Static text for an ed_err value; never NULL. */
const char *ed_strerror(int err);

/* Internal invariants only: never for anything input can cause (STYLE 10). */
void ed_assert_fail(const char *expr, const char *file, int line);
#define ED_ASSERT(e) ((e) ? (void)0 : ed_assert_fail(#e, __FILE__, __LINE__))

#define ED_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ED_MIN(a, b)    ((a) < (b) ? (a) : (b))
#define ED_MAX(a, b)    ((a) > (b) ? (a) : (b))
#define ED_UNUSED(x)    ((void)(x))

/* Big-endian helpers for wire and disk formats. p need not be aligned. */
static inline uint16_t ed_get_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t ed_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t ed_get_be64(const uint8_t *p)
{
    return (uint64_t)ed_get_be32(p) << 32 | ed_get_be32(p + 4);
}
static inline void ed_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void ed_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void ed_put_be64(uint8_t *p, uint64_t v)
{
    ed_put_be32(p, (uint32_t)(v >> 32));
    ed_put_be32(p + 4, (uint32_t)v);
}

#endif
