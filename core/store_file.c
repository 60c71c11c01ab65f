/* Small checksummed metadata files (see core/store_file.h): whole-file
 * read, header and record frames, and the crash-safe replace. */
#define ED_LOG_MODULE "store"
#include "core/store_file.h"

#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "storage/batch.h"

#include <stdio.h>
#include <string.h>

char *ed_store_file_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = ed_malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

int ed_store_file_at_init(struct ed_store_file_at *at, const char *dir, const char *name)
{
    at->dir = ed_strdup(dir);
    at->path = ed_store_file_join(dir, name);
    size_t n = at->path ? strlen(at->path) + sizeof ".tmp" : 0;
    at->tmp = n ? ed_malloc(n) : NULL;
    if (at->dir && at->tmp) {
        snprintf(at->tmp, n, "%s.tmp", at->path);
        return ED_OK;
    }
    ed_store_file_at_free(at);
    return ED_ERR_NOMEM;
}

void ed_store_file_at_free(struct ed_store_file_at *at)
{
    ed_free(at->tmp);
    ed_free(at->path);
    ed_free(at->dir);
    at->dir = at->path = at->tmp = NULL;
}

int ed_store_file_save(const struct ed_store_file_at *at, const uint8_t *b, size_t len)
{
    return ed_store_file_replace(at->dir, at->path, at->tmp, b, len);
}

int ed_store_file_read(const char *path, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    ed_file *f;
    int rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc == ED_ERR_NOENT) return ED_OK;
    if (rc) return rc;
    uint64_t size = 0;
    rc = ed_plat_file_size(f, &size);
    uint8_t *b = NULL;
    size_t got = 0;
    if (rc == ED_OK && size > max) rc = ED_ERR_CORRUPT_AT("%s: too large", path);
    if (rc == ED_OK && !(b = ed_malloc(size ? (size_t)size : 1))) rc = ED_ERR_NOMEM;
    if (rc == ED_OK) rc = ed_plat_file_pread(f, b, (size_t)size, 0, &got);
    ed_plat_file_close(f);
    if (rc == ED_OK && got != size) rc = ED_ERR_CORRUPT_AT("%s: changed while read", path);
    if (rc) {
        ed_free(b);
        return rc;
    }
    *out = b;
    *len = got;
    return ED_OK;
}

int ed_store_file_header(const char *path, const uint8_t *b, size_t len, const char *magic,
                         uint16_t version, uint32_t max_n, uint32_t *n)
{
    if (len < ED_STORE_FILE_HDR_LEN || memcmp(b, magic, 4) != 0)
        return ED_ERR_CORRUPT_AT("%s: not a %.4s file", path, magic);
    if (ed_get_be16(b + 4) != version)
        return ED_ERR_CORRUPT_AT("%s: unknown version %u", path, ed_get_be16(b + 4));
    if (ed_crc32c(0, b, 12) != ed_get_be32(b + 12))
        return ED_ERR_CORRUPT_AT("%s: bad header checksum", path);
    *n = ed_get_be32(b + 8);
    if (*n > max_n) return ED_ERR_CORRUPT_AT("%s: %u records, over the limit", path, *n);
    return ED_OK;
}

void ed_store_file_put_header(uint8_t *b, const char *magic, uint16_t version, uint32_t n)
{
    memcpy(b, magic, 4);
    ed_put_be16(b + 4, version);
    ed_put_be16(b + 6, 0);
    ed_put_be32(b + 8, n);
    ed_put_be32(b + 12, ed_crc32c(0, b, 12));
}

int ed_store_file_record(const char *path, const uint8_t *b, size_t len, size_t *pos,
                         size_t max_body, uint32_t i, const uint8_t **body, size_t *body_len)
{
    if (len - *pos < ED_STORE_FILE_REC_HDR)
        return ED_ERR_CORRUPT_AT("%s: truncated at record %u", path, i);
    uint32_t rl = ed_get_be32(b + *pos);
    if (rl > max_body || len - *pos - ED_STORE_FILE_REC_HDR < rl)
        return ED_ERR_CORRUPT_AT("%s: truncated or oversized record %u", path, i);
    const uint8_t *r = b + *pos + ED_STORE_FILE_REC_HDR;
    if (ed_crc32c(0, r, rl) != ed_get_be32(b + *pos + 4))
        return ED_ERR_CORRUPT_AT("%s: bad checksum in record %u", path, i);
    *body = r;
    *body_len = rl;
    *pos += ED_STORE_FILE_REC_HDR + rl;
    return ED_OK;
}

int ed_store_file_parse(const char *path, const uint8_t *b, size_t len, const char *magic,
                        uint16_t version, uint32_t max_n, size_t max_body, size_t elem_size,
                        ed_store_file_parse_fn parse, void **out, size_t *n_out)
{
    uint32_t n;
    int rc = ed_store_file_header(path, b, len, magic, version, max_n, &n);
    if (rc) return rc;
    void *e = n ? ed_calloc(n, elem_size) : NULL;
    if (n && !e) return ED_ERR_NOMEM;
    size_t pos = ED_STORE_FILE_HDR_LEN;
    for (uint32_t i = 0; i < n && rc == ED_OK; i++) {
        const uint8_t *body;
        size_t rl;
        rc = ed_store_file_record(path, b, len, &pos, max_body, i, &body, &rl);
        if (rc == ED_OK) rc = parse(path, body, rl, e, i);
    }
    if (rc == ED_OK && pos != len) rc = ED_ERR_CORRUPT_AT("%s: bytes after the last record", path);
    if (rc) {
        if (e) memset(e, 0, (size_t)n * elem_size);
        ed_free(e);
        return rc;
    }
    *out = e;
    *n_out = n;
    return ED_OK;
}

size_t ed_store_file_put_record(uint8_t *b, size_t body_len)
{
    ed_put_be32(b, (uint32_t)body_len);
    ed_put_be32(b + 4, ed_crc32c(0, b + ED_STORE_FILE_REC_HDR, body_len));
    return ED_STORE_FILE_REC_HDR + body_len;
}

/* A crash leaves the old file or the new one whole; the caller adopts its
 * new state only after the folder sync. */
int ed_store_file_replace(const char *dir, const char *path, const char *tmp, const uint8_t *b,
                          size_t len)
{
    ed_file *f;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (!rc) {
        rc = ed_plat_file_pwrite(f, b, len, 0);
        if (!rc) rc = ed_plat_file_datasync(f);
        ed_plat_file_close(f);
        if (rc) ed_plat_path_unlink(tmp);
    }
    if (!rc) rc = ed_plat_path_rename(tmp, path);
    if (!rc) rc = ed_plat_dir_sync(dir);
    if (rc) ED_LOG_ERR("cannot write %s: %s", path, ed_strerror(rc));
    return rc;
}

int ed_store_file_open(struct ed_store_file_at *at, const char *dir,
                       const struct ed_store_file_fmt *fmt, const uint8_t *image, size_t len,
                       void **elems, size_t *n)
{
    *elems = NULL;
    *n = 0;
    int rc = ed_store_file_at_init(at, dir, fmt->name);
    if (rc) return rc;
    uint8_t *b = NULL;
    if (!image) {
        rc = ed_store_file_read(at->path, fmt->max_len, &b, &len);
        image = b;
    } else if (len > fmt->max_len) {
        rc = ED_ERR_CORRUPT_AT("%s: too large", at->path);
    }
    if (rc == ED_OK && image)
        rc = ed_store_file_parse(at->path, image, len, fmt->magic, fmt->version, fmt->max_n,
                                 fmt->max_body, fmt->elem_size, fmt->parse, elems, n);
    ed_free(b);
    if (rc) ed_store_file_at_free(at);
    return rc;
}
