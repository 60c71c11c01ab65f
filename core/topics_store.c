/* The topic registry's files: eddy-topics.properties (topic ids,
 * partition counts and config overrides; written whole and replaced
 * atomically), the reserve that lets a deletion be recorded on a full
 * disk, meta.properties (cluster id, node id), and topic ids.
 *
 * eddy-topics.properties layout (UTF-8 text):
 *   line 1: "# eddy topic registry v1 crc32c=<8 hex digits>"; the CRC32C
 *           covers every byte after this line's newline;
 *   then one line per topic: "topic=<name> id=<22-char base64url>
 *           partitions=<n>" followed by " <key>=<value>" for each override,
 *           values escaped (\\ \s \n for backslash, space, newline). */
#define ED_LOG_MODULE "topics"
#include "core/bytes.h"
#include "core/config.h"
#include "core/topics_int.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "storage/batch.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGISTRY_FILE "eddy-topics.properties"
#define RESERVE_FILE  "eddy-reserve"
#define RESERVE_MIN   (64u * 1024)
#define META_FILE     "meta.properties"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 16 bytes → 22 base64url characters (Kafka's Uuid.toString). */
static void uuid_to_text(const uint8_t id[16], char out[23])
{
    int o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)id[i] << 16;
        if (i + 1 < 16) v |= (uint32_t)id[i + 1] << 8;
        if (i + 2 < 16) v |= id[i + 2];
        int n = i + 2 < 16 ? 4 : 2; /* the last group has one byte */
        for (int k = 0; k < n; k++)
            out[o++] = b64url[(v >> (18 - 6 * k)) & 63];
    }
    out[22] = '\0';
}

static bool uuid_from_text(const char *s, uint8_t id[16])
{
    if (strlen(s) != 22) return false;
    uint8_t buf[18] = {0};
    int bi = 0;
    for (int i = 0; i < 24; i += 4) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++) {
            v <<= 6;
            if (i + k < 22) {
                const char *p = strchr(b64url, s[i + k]);
                if (!p || !s[i + k]) return false;
                v |= (uint32_t)(p - b64url);
            }
        }
        buf[bi++] = (uint8_t)(v >> 16);
        buf[bi++] = (uint8_t)(v >> 8);
        buf[bi++] = (uint8_t)v;
    }
    memcpy(id, buf, 16);
    return true;
}

/* A random version-4 UUID that is neither zero nor Kafka's reserved ids and
 * whose text does not start with '-' (Kafka avoids those too). */
void ed_topics_new_uuid(uint8_t id[16])
{
    for (;;) {
        ed_plat_random(id, 16);
        id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
        id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
        char t[23];
        uuid_to_text(id, t);
        if (t[0] != '-') return;
    }
}

static bool path_join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);
    return n > 0 && n < PATH_MAX_LEN;
}

/* Writes a small file durably: tmp, sync, rename, folder sync. */
static int write_atomic(const char *dir, const char *name, const char *text, size_t len)
{
    char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    if (!path_join(path, dir, name) || !path_join(tmp, dir, name) || strlen(tmp) + 4 >= sizeof tmp)
        return ED_ERR_INVAL;
    strcat(tmp, ".tmp");
    ed_file *f;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc != ED_OK) return rc;
    rc = ed_plat_file_pwrite(f, text, len, 0);
    if (rc == ED_OK) rc = ed_plat_file_datasync(f);
    int rc2 = ed_plat_file_close(f);
    if (rc == ED_OK) rc = rc2;
    if (rc == ED_OK) rc = ed_plat_path_rename(tmp, path);
    if (rc == ED_OK) rc = ed_plat_dir_sync(dir);
    if (rc != ED_OK) {
        ED_LOG_ERR("writing %s: %s", path, ed_strerror(rc));
        ed_plat_path_unlink(tmp);
    }
    return rc;
}

/* Reads a whole small file (NUL-terminated); ED_ERR_NOENT when missing. */
static int read_small(const char *path, char **out, size_t *out_len)
{
    ed_file *f;
    int rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc != ED_OK) return rc;
    uint64_t size = 0;
    rc = ed_plat_file_size(f, &size);
    if (rc == ED_OK && size > (64u << 20)) rc = ED_ERR_TOOBIG;
    char *buf = NULL;
    size_t got = 0;
    if (rc == ED_OK) {
        buf = ed_malloc((size_t)size + 1);
        if (!buf) rc = ED_ERR_NOMEM;
    }
    if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
    ed_plat_file_close(f);
    if (rc != ED_OK) {
        ed_free(buf);
        return rc;
    }
    buf[got] = '\0';
    *out = buf;
    *out_len = got;
    return ED_OK;
}

/* ---- persistence ---- */

/* The registry text is built in a growing byte writer (core/bytes.h); its
 * error sticks at the first failure. */
#define REGISTRY_MAX (64u << 20)

static void put_escaped(ed_bytes_wr *w, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            ed_bytes_put_raw(w, "\\\\", 2);
        else if (*s == ' ')
            ed_bytes_put_raw(w, "\\s", 2);
        else if (*s == '\n')
            ed_bytes_put_raw(w, "\\n", 2);
        else
            ed_bytes_put_raw(w, s, 1);
    }
}

int ed_topics_persist(ed_topics *t)
{
    if (!t->dir) return ED_OK;
    ed_bytes_wr w;
    ed_bytes_wr_init(&w, REGISTRY_MAX);
    static const char head[] = "# eddy topic registry v1 crc32c=00000000\n";
    ed_bytes_put_raw(&w, head, sizeof head - 1);
    for (int32_t i = 0; i < t->n; i++) {
        ed_topic *tp = t->v[i];
        char id[23], line[64];
        uuid_to_text(tp->id, id);
        ed_bytes_put_raw(&w, "topic=", 6);
        ed_bytes_put_raw(&w, tp->name, strlen(tp->name));
        int n = snprintf(line, sizeof line, " id=%s partitions=%" PRId32 "%s", id, tp->n_partitions,
                         tp->deleting ? " state=deleting" : "");
        ed_bytes_put_raw(&w, line, (size_t)n);
        for (int k = 0; k < ed_topics_key_count(); k++) {
            if (!tp->ov[k]) continue;
            ed_bytes_put_raw(&w, " ", 1);
            const char *key = ed_topics_key_at(k)->topic;
            ed_bytes_put_raw(&w, key, strlen(key));
            ed_bytes_put_raw(&w, "=", 1);
            put_escaped(&w, tp->ov[k]);
        }
        ed_bytes_put_raw(&w, "\n", 1);
    }
    int rc = w.err;
    if (rc == ED_OK) {
        size_t hl = sizeof head - 1;
        uint32_t crc = ed_crc32c(0, w.buf + hl, w.len - hl);
        char hex[9];
        snprintf(hex, sizeof hex, "%08" PRIx32, crc);
        memcpy(w.buf + hl - 9, hex, 8);
        rc = write_atomic(t->dir, REGISTRY_FILE, (const char *)w.buf, w.len);
        if (rc == ED_OK) t->registry_len = w.len;
    }
    ed_bytes_wr_free(&w);
    return rc;
}

/* ---- the reserve ----
 * RESERVE_FILE holds disk blocks (allocated, never written) so that the
 * registry can be rewritten to record a deletion on a full disk: released
 * when that write fails for want of space, taken again once there is
 * room. */

void ed_topics_reserve_take(ed_topics *t)
{
    uint64_t want = ED_MAX((uint64_t)RESERVE_MIN, 2 * t->registry_len);
    if (!t->dir) return;
    char path[PATH_MAX_LEN];
    if (t->registry_len == 0 && path_join(path, t->dir, REGISTRY_FILE)) {
        bool is_dir;
        uint64_t size = 0;
        if (ed_plat_path_stat(path, &is_dir, &size) == ED_OK) t->registry_len = size;
        want = ED_MAX((uint64_t)RESERVE_MIN, 2 * t->registry_len);
    }
    if (t->reserve_len >= want || !path_join(path, t->dir, RESERVE_FILE)) return;
    ed_file *f;
    int rc = ed_plat_file_open(path, ED_FILE_WRITE | ED_FILE_CREATE, &f);
    if (rc == ED_OK) {
        rc = ed_plat_file_reserve(f, 0, want);
        if (rc == ED_OK) rc = ed_plat_file_datasync(f);
        ed_plat_file_close(f);
    }
    if (rc == ED_OK) {
        if (t->reserve_len == 0) ed_plat_dir_sync(t->dir);
        t->reserve_len = want;
    } else {
        ED_LOG_DBG("cannot reserve %" PRIu64 " bytes in %s: %s", want, path, ed_strerror(rc));
    }
}

static bool reserve_release(ed_topics *t)
{
    char path[PATH_MAX_LEN];
    if (!t->dir || !path_join(path, t->dir, RESERVE_FILE)) return false;
    bool had = ed_plat_path_unlink(path) == ED_OK;
    t->reserve_len = 0;
    if (had) ED_LOG_WARN("disk full: released the %s reserve to record a deletion", path);
    return had;
}

/* persist(), releasing the reserve if the disk is full. */
int ed_topics_persist_freeing(ed_topics *t)
{
    int rc = ed_topics_persist(t);
    if (rc == ED_ERR_NOSPC && reserve_release(t)) rc = ed_topics_persist(t);
    return rc;
}

/* One line of the registry file into a new (unlinked) topic. */
static int parse_topic_line(char *line, ed_topic **out, int32_t *n_parts)
{
    ed_topic *tp = NULL;
    int32_t np = -1;
    bool have_id = false;
    char *save = line;
    for (;;) {
        char *tok = save;
        while (*tok == ' ')
            tok++;
        if (!*tok) break;
        char *end = strchr(tok, ' ');
        if (end) {
            *end = '\0';
            save = end + 1;
        } else {
            save = tok + strlen(tok);
        }
        char *eq = strchr(tok, '=');
        if (!eq) goto bad;
        *eq = '\0';
        char *key = tok, *val = eq + 1;
        ed_config_unescape(val);
        if (!tp) {
            if (strcmp(key, "topic") != 0 || !ed_topics_valid_name(val)) goto bad;
            tp = ed_topics_topic_new(val);
            if (!tp) return ED_ERR_NOMEM;
        } else if (strcmp(key, "id") == 0) {
            if (!uuid_from_text(val, tp->id)) goto bad;
            have_id = true;
        } else if (strcmp(key, "partitions") == 0) {
            int64_t n;
            if (!ed_config_parse_int(val, &n) || n < 1 || n > PARTITIONS_MAX) goto bad;
            np = (int32_t)n;
        } else if (strcmp(key, "state") == 0) {
            if (strcmp(val, "deleting") != 0) goto bad;
            tp->deleting = true;
        } else {
            int k = ed_topics_key_index(key);
            const char *why;
            if (k < 0 || ed_topics_key_check(k, val, &why) != ED_OK) {
                ED_LOG_WARN("registry: topic %s: dropping override %s=%s", tp->name, key, val);
                continue;
            }
            ed_free(tp->ov[k]);
            tp->ov[k] = ed_strdup(val);
            if (!tp->ov[k]) {
                ed_topics_topic_free(tp);
                return ED_ERR_NOMEM;
            }
        }
    }
    if (!tp || !have_id || np < 1) goto bad;
    *out = tp;
    *n_parts = np;
    return ED_OK;
bad:
    if (tp) ed_topics_topic_free(tp);
    return ED_ERR_CORRUPT;
}

void ed_topics_free_loaded(struct ed_topics_loaded *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (v[i].tp) ed_topics_topic_free(v[i].tp);
    ed_free(v);
}

/* Reads the registry file; *n = 0 when it does not exist. */
int ed_topics_load_registry(const char *dir, struct ed_topics_loaded **out, int32_t *n_out)
{
    char path[PATH_MAX_LEN];
    *out = NULL;
    *n_out = 0;
    if (!path_join(path, dir, REGISTRY_FILE)) return ED_ERR_INVAL;
    char *buf;
    size_t len;
    int rc = read_small(path, &buf, &len);
    if (rc == ED_ERR_NOENT) return ED_OK;
    if (rc != ED_OK) {
        ED_LOG_ERR("reading %s: %s", path, ed_strerror(rc));
        return rc;
    }
    static const char magic[] = "# eddy topic registry v1 crc32c=";
    char *nl = strchr(buf, '\n');
    uint32_t want = 0;
    bool ok = nl && strncmp(buf, magic, sizeof magic - 1) == 0 &&
              nl - buf == (ptrdiff_t)(sizeof magic - 1 + 8);
    if (ok) {
        char hex[9];
        memcpy(hex, buf + sizeof magic - 1, 8);
        hex[8] = '\0';
        char *e;
        want = (uint32_t)strtoul(hex, &e, 16);
        ok = *e == '\0' && ed_crc32c(0, nl + 1, len - (size_t)(nl + 1 - buf)) == want;
    }
    if (!ok) {
        ED_LOG_ERR("%s fails its header or checksum: refusing to guess topic ids and "
                   "configs (move the file away to start with defaults)",
                   path);
        ed_free(buf);
        return ED_ERR_CORRUPT;
    }
    struct ed_topics_loaded *v = NULL;
    int32_t n = 0, cap = 0, line_no = 1;
    for (char *line = nl + 1; *line && rc == ED_OK;) {
        char *e = strchr(line, '\n');
        if (e) *e = '\0';
        line_no++;
        if (*line) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct ed_topics_loaded *nv = ed_realloc(v, (size_t)cap * sizeof *nv);
                if (!nv) {
                    rc = ED_ERR_NOMEM;
                    break;
                }
                v = nv;
            }
            rc = parse_topic_line(line, &v[n].tp, &v[n].n_parts);
            if (rc == ED_OK)
                n++;
            else if (rc == ED_ERR_CORRUPT)
                ED_LOG_ERR("%s:%d: bad topic line", path, line_no);
        }
        line = e ? e + 1 : line + strlen(line);
    }
    ed_free(buf);
    if (rc != ED_OK) {
        ed_topics_free_loaded(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return ED_OK;
}

/* ---- meta.properties ---- */

int ed_topics_meta_properties(const char *dir, int32_t node_id, char cluster_id[23])
{
    char path[PATH_MAX_LEN];
    if (!path_join(path, dir, META_FILE)) return ED_ERR_INVAL;
    char *buf;
    size_t len;
    int rc = read_small(path, &buf, &len);
    if (rc == ED_OK) {
        char cid[23] = "";
        int64_t stored = -1;
        for (char *line = buf; *line;) {
            char *e = strchr(line, '\n');
            if (e) *e = '\0';
            size_t n = strlen(line);
            if (n && line[n - 1] == '\r') line[n - 1] = '\0';
            if (strncmp(line, "cluster.id=", 11) == 0)
                snprintf(cid, sizeof cid, "%s", line + 11);
            else if (strncmp(line, "node.id=", 8) == 0)
                ed_config_parse_int(line + 8, &stored);
            else if (strncmp(line, "broker.id=", 10) == 0)
                ed_config_parse_int(line + 10, &stored);
            line = e ? e + 1 : line + n;
        }
        ed_free(buf);
        if (strlen(cid) == 0) {
            ED_LOG_ERR("%s has no cluster.id", path);
            return ED_ERR_CORRUPT;
        }
        if (stored >= 0 && stored != node_id) {
            ED_LOG_ERR("%s: stored node.id %" PRId64 " does not match the configured node.id %d",
                       path, stored, node_id);
            return ED_ERR_INVAL;
        }
        snprintf(cluster_id, 23, "%s", cid);
        return ED_OK;
    }
    if (rc != ED_ERR_NOENT) {
        ED_LOG_ERR("reading %s: %s", path, ed_strerror(rc));
        return rc;
    }
    uint8_t id[16];
    ed_topics_new_uuid(id);
    uuid_to_text(id, cluster_id);
    char text[160];
    int n = snprintf(text, sizeof text,
                     "#\n# Written by Eddy at first start\nversion=1\ncluster.id=%s\nnode.id=%d\n",
                     cluster_id, node_id);
    rc = write_atomic(dir, META_FILE, text, (size_t)n);
    if (rc == ED_OK) ED_LOG_INFO("new cluster id %s", cluster_id);
    return rc;
}
