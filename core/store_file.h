/* Small checksummed metadata files of the data directory (the user store,
 * the ACL store): reading one whole under a size limit, the common frame
 * (a 16-byte header "MAGC", version u16, reserved u16, n_records u32,
 * crc32c of the 12 bytes before it; then per record len u32, crc32c u32 of
 * the body, body), and the crash-safe replace (write a temporary file,
 * sync it, rename it over, sync the folder). Every check failure is
 * ED_ERR_CORRUPT, logged with the file's path and the reason. */
#ifndef ED_CORE_STORE_FILE_H
#define ED_CORE_STORE_FILE_H

#include "platform/base.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ED_STORE_FILE_HDR_LEN 16
#define ED_STORE_FILE_REC_HDR 8

/* "dir/name" (ed_malloc'd), NULL when out of memory. */
char *ed_store_file_join(const char *dir, const char *name);
/* Where one store lives: its folder, its file and the temporary file a
 * replace goes through (each ed_malloc'd). */
struct ed_store_file_at {
    char *dir;
    char *path;
    char *tmp;
};
/* Fills at for the file name in dir: ED_OK, or ED_ERR_NOMEM with at
 * holding nothing. */
int ed_store_file_at_init(struct ed_store_file_at *at, const char *dir, const char *name);
void ed_store_file_at_free(struct ed_store_file_at *at);
/* Replaces at->path with the len bytes b (see ed_store_file_replace). */
int ed_store_file_save(const struct ed_store_file_at *at, const uint8_t *b, size_t len);
/* Reads the whole file at path: ED_OK with *out (ed_free it; NULL and
 * *len 0 for a missing file), ED_ERR_CORRUPT when it is over max bytes. */
int ed_store_file_read(const char *path, size_t max, uint8_t **out, size_t *len);
/* Checks the header of image b (len bytes): magic (4 bytes), version and
 * at most max_n records; *n gets the record count. */
int ed_store_file_header(const char *path, const uint8_t *b, size_t len, const char *magic,
                         uint16_t version, uint32_t max_n, uint32_t *n);
/* Writes the header for n records into b (ED_STORE_FILE_HDR_LEN bytes). */
void ed_store_file_put_header(uint8_t *b, const char *magic, uint16_t version, uint32_t n);
/* The record i at *pos of b: its body and length (at most max_body, the
 * checksum verified); *pos moves past it. */
int ed_store_file_record(const char *path, const uint8_t *b, size_t len, size_t *pos,
                         size_t max_body, uint32_t i, const uint8_t **body, size_t *body_len);
/* Frames the body_len bytes already at b + ED_STORE_FILE_REC_HDR: writes
 * the record header; returns the record's whole length. */
size_t ed_store_file_put_record(uint8_t *b, size_t body_len);
/* Parses a whole image: the header, then each record's body handed to
 * parse(path, body, len, elems, i), which fills element i of the array of
 * n elements of elem_size bytes (ed_calloc'd; NULL when n is 0) and may
 * look at the elements before it; nothing may follow the last record.
 * ED_OK with *out and *n_out, or the first error and nothing allocated. */
typedef int (*ed_store_file_parse_fn)(const char *path, const uint8_t *body, size_t len,
                                      void *elems, uint32_t i);
int ed_store_file_parse(const char *path, const uint8_t *b, size_t len, const char *magic,
                        uint16_t version, uint32_t max_n, size_t max_body, size_t elem_size,
                        ed_store_file_parse_fn parse, void **out, size_t *n_out);
/* A store's file format, for ed_store_file_open. */
struct ed_store_file_fmt {
    const char *name; /* the file's name in its folder */
    const char *magic;
    uint16_t version;
    uint32_t max_n;
    size_t max_body;
    size_t max_len; /* of the whole file */
    size_t elem_size;
    ed_store_file_parse_fn parse;
};
/* Fills at for fmt's file in dir and parses the store's records
 * (ed_store_file_parse) from image (len bytes) or, when image is NULL, from
 * the file (missing: no records). ED_OK with *elems and *n, or the first
 * error with at holding nothing and nothing allocated. */
int ed_store_file_open(struct ed_store_file_at *at, const char *dir,
                       const struct ed_store_file_fmt *fmt, const uint8_t *image, size_t len,
                       void **elems, size_t *n);
/* Replaces path with the len bytes b through tmp (both in dir): on ED_OK
 * the new content is durable, otherwise the old file is still whole. */
int ed_store_file_replace(const char *dir, const char *path, const char *tmp, const uint8_t *b,
                          size_t len);

#endif
