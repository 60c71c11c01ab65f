/* The data directory's checkpoint files (see checkpoint.h): reading them
 * at open, leniently (a damaged file is logged and ignored), and replacing
 * them atomically. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "storage"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/checkpoint.h"

#define CHECKPOINT_MAX (1u << 20)

bool ed_checkpoint_topic_valid(const char *t)
{
    if (!t) return false;
    size_t n = strlen(t);
    if (n == 0 || n > ED_TOPIC_MAX || strcmp(t, ".") == 0 || strcmp(t, "..") == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Cuts the next '\n'-terminated line out of *cur; NULL at the end. */
static char *next_line(char **cur)
{
    char *s = *cur;
    if (!*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cur = nl + 1;
    } else {
        *cur = s + strlen(s);
    }
    return s;
}

void ed_checkpoint_read(ed_storage *st, const char *name, struct ed_checkpoint_entry **out,
                        uint32_t *n_out)
{
    char p[ED_STORAGE_PATH_MAX];
    ed_file *f;
    uint64_t len = 0;
    *out = NULL;
    *n_out = 0;
    snprintf(p, sizeof p, "%s/%s", st->dir, name);
    if (ed_plat_file_open(p, ED_FILE_READ, &f) != ED_OK) return;
    char *buf = NULL;
    struct ed_checkpoint_entry *v = NULL;
    uint32_t n = 0;
    if (ed_plat_file_size(f, &len) != ED_OK || len > CHECKPOINT_MAX) goto bad;
    buf = ed_malloc((size_t)len + 1);
    size_t got = 0;
    if (!buf || ed_plat_file_pread(f, buf, (size_t)len, 0, &got) != ED_OK || got != len) goto bad;
    buf[len] = '\0';
    char *cur = buf, *line = next_line(&cur);
    if (!line || strcmp(line, "0") != 0) goto bad;
    line = next_line(&cur);
    char *end;
    long count = line ? strtol(line, &end, 10) : -1;
    if (!line || *end || count < 0 || count > 1000000) goto bad;
    v = ed_calloc((size_t)count + 1, sizeof *v);
    if (!v) goto bad;
    for (long i = 0; i < count; i++) {
        line = next_line(&cur);
        char t[ED_TOPIC_MAX + 2];
        long long part, off;
        char extra;
        if (!line || strlen(line) > ED_TOPIC_MAX + 40 ||
            sscanf(line, "%250s %lld %lld %c", t, &part, &off, &extra) != 3 ||
            !ed_checkpoint_topic_valid(t) || part < 0 || part > INT32_MAX || off < 0)
            goto bad;
        memcpy(v[n].topic, t, strlen(t) + 1); /* topic_valid: at most ED_TOPIC_MAX */
        v[n].partition = (int32_t)part;
        v[n].offset = off;
        n++;
    }
    ed_free(buf);
    ed_plat_file_close(f);
    *out = v;
    *n_out = n;
    return;
bad:
    ED_LOG_WARN("%s: unreadable or malformed (line %" PRIu32 "); ignored (%s)", p, n + 3,
                strcmp(name, ED_CHECKPOINT_START) == 0
                    ? "log start offsets fall back to the first segments"
                    : "active segments are checked from their start");
    ed_free(v);
    ed_free(buf);
    ed_plat_file_close(f);
}

int ed_checkpoint_replace(ed_storage *st, const char *name, const void *buf, size_t len)
{
    char tmp[ED_STORAGE_PATH_MAX], dst[ED_STORAGE_PATH_MAX];
    snprintf(dst, sizeof dst, "%s/%s", st->dir, name);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", st->dir, name);
    ed_file *f;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc == ED_OK) {
        rc = ed_plat_file_pwrite(f, buf, len, 0);
        if (rc == ED_OK) rc = ed_plat_file_datasync(f);
        int crc = ed_plat_file_close(f);
        if (rc == ED_OK) rc = crc;
    }
    if (rc == ED_OK) rc = ed_plat_path_rename(tmp, dst);
    if (rc == ED_OK) rc = ed_plat_dir_sync(st->dir);
    if (rc != ED_OK) ED_LOG_ERR("cannot write %s: %s", dst, ed_strerror(rc));
    return rc;
}

/* Kafka's checkpoint text: "0", the count, "topic partition offset" per
 * log for which offset_of returns an offset >= 0. */
static int write_offsets(ed_storage *st, const char *name, int64_t (*offset_of)(const ed_log *))
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->n_logs; i++)
        if (offset_of(st->logs[i]) >= 0) n++;
    size_t cap = 32 + (size_t)n * (ED_TOPIC_MAX + 40);
    char *buf = ed_malloc(cap);
    if (!buf) return ED_ERR_NOMEM;
    size_t len = (size_t)snprintf(buf, cap, "0\n%" PRIu32 "\n", n);
    for (uint32_t i = 0; i < st->n_logs; i++) {
        const ed_log *log = st->logs[i];
        int64_t off = offset_of(log);
        if (off < 0) continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s %d %" PRId64 "\n", log->topic,
                                (int)log->partition, off);
    }
    int rc = ed_checkpoint_replace(st, name, buf, len);
    ed_free(buf);
    return rc;
}

/* Every log whose start offset lies past its first segment's base, and
 * every log that ever moved its start (so that segments a power cut brings
 * back below it are removed at open). */
static int64_t start_of(const ed_log *log)
{
    return log->start_offset > 0 ? log->start_offset : -1;
}

static int64_t recovery_point_of(const ed_log *log)
{
    return log->recovery_point;
}

int ed_checkpoint_write_start_offsets(ed_storage *st)
{
    return write_offsets(st, ED_CHECKPOINT_START, start_of);
}

int ed_checkpoint_write_recovery_points(ed_storage *st)
{
    st->rp_dirty = false;
    int rc = write_offsets(st, ED_CHECKPOINT_RECOVERY, recovery_point_of);
    if (rc != ED_OK) st->rp_dirty = true;
    return rc;
}
