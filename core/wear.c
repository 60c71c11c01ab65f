/* Flash wear accounting (see wear.h). The file is JSON, one object of
 * unsigned integers, replaced through a temporary file and a rename
 * without a sync: a power cut may lose the last ten minutes of counting,
 * never the data. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "wear"
#include "core/wear.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"

#define MAX_FILE 1024

struct ed_wear {
    char *path;
    struct ed_wear_status s;
    uint64_t base_len;    /* written_len of the earlier runs */
    uint64_t counted_len; /* the platform's count at start */
    int64_t next_ms;
    ed_wear_probe probe;
    void *probe_arg;
};

/* The unsigned integer after "key": in text; false if absent. */
static bool field(const char *text, const char *key, uint64_t *out)
{
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p) return false;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9') return false;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    *out = (uint64_t)v;
    return end != p;
}

int ed_wear_parse(const char *text, struct ed_wear_status *out)
{
    uint64_t since, run_start, updated;
    memset(out, 0, sizeof *out);
    if (!field(text, "written_bytes", &out->written_len) || !field(text, "since_ms", &since) ||
        !field(text, "run_written_bytes", &out->run_written_len) ||
        !field(text, "run_start_ms", &run_start) || !field(text, "updated_ms", &updated) ||
        !field(text, "endurance_bytes", &out->endurance_len))
        return ED_ERR_CORRUPT;
    /* optional: files of earlier versions lack them */
    field(text, "run_compact_read_bytes", &out->run_compact_read_len);
    field(text, "run_compact_written_bytes", &out->run_compact_written_len);
    field(text, "run_compact_segments_unchanged", &out->run_n_compact_unchanged);
    out->since_ms = (int64_t)since;
    out->run_start_ms = (int64_t)run_start;
    out->updated_ms = (int64_t)updated;
    return ED_OK;
}

void ed_wear_estimate(const struct ed_wear_status *s, double *per_hour, double *days_left)
{
    *per_hour = -1;
    *days_left = -1;
    int64_t span = s->updated_ms - s->run_start_ms;
    if (span <= 0) return;
    *per_hour = (double)s->run_written_len * 3600000.0 / (double)span;
    if (s->endurance_len == 0 || *per_hour <= 0) return;
    double left =
        s->endurance_len > s->written_len ? (double)(s->endurance_len - s->written_len) : 0;
    *days_left = left / (*per_hour * 24);
}

static void save(ed_wear *w, int64_t now_ms)
{
    uint64_t n;
    if (ed_plat_io_written(&n) == ED_OK && n >= w->counted_len) {
        w->s.run_written_len = n - w->counted_len;
        w->s.written_len = w->base_len + w->s.run_written_len;
    }
    w->s.updated_ms = now_ms;
    w->next_ms = now_ms + ED_WEAR_SAVE_MS;
    if (w->probe) w->probe(w->probe_arg, &w->s);
    char buf[MAX_FILE];
    int len = snprintf(buf, sizeof buf,
                       "{\"written_bytes\": %" PRIu64 ", \"since_ms\": %" PRId64
                       ", \"run_written_bytes\": %" PRIu64 ", \"run_start_ms\": %" PRId64
                       ", \"updated_ms\": %" PRId64 ", \"endurance_bytes\": %" PRIu64
                       ", \"run_compact_read_bytes\": %" PRIu64
                       ", \"run_compact_written_bytes\": %" PRIu64
                       ", \"run_compact_segments_unchanged\": %" PRIu64 "}\n",
                       w->s.written_len, w->s.since_ms, w->s.run_written_len, w->s.run_start_ms,
                       w->s.updated_ms, w->s.endurance_len, w->s.run_compact_read_len,
                       w->s.run_compact_written_len, w->s.run_n_compact_unchanged);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", w->path);
    ed_file *f = NULL;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc == ED_OK) rc = ed_plat_file_pwrite(f, buf, (size_t)len, 0);
    if (f) ed_plat_file_close(f);
    if (rc == ED_OK) rc = ed_plat_path_rename(tmp, w->path);
    if (rc != ED_OK) ED_LOG_WARN_RL("%s: cannot write: %s", w->path, ed_strerror(rc));
}

static int read_path(const char *path, struct ed_wear_status *out)
{
    ed_file *f = NULL;
    int rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc != ED_OK) return rc;
    char buf[MAX_FILE];
    size_t got = 0;
    rc = ed_plat_file_pread(f, buf, sizeof buf - 1, 0, &got);
    ed_plat_file_close(f);
    if (rc != ED_OK) return rc;
    buf[got] = 0;
    return ed_wear_parse(buf, out);
}

int ed_wear_read(const char *dir, struct ed_wear_status *out)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", dir, ED_WEAR_FILE);
    return read_path(path, out);
}

/* The earlier runs' totals, if the file is there and whole. */
static void load(ed_wear *w, int64_t now_ms)
{
    w->s.since_ms = now_ms;
    struct ed_wear_status old;
    int rc = read_path(w->path, &old);
    if (rc == ED_ERR_CORRUPT) ED_LOG_WARN("%s: unreadable, counting from zero", w->path);
    if (rc != ED_OK) return;
    w->base_len = old.written_len;
    w->s.since_ms = old.since_ms;
}

int ed_wear_open(const char *dir, uint64_t endurance_len, int64_t now_ms, ed_wear **out)
{
    uint64_t n;
    int rc = ed_plat_io_written(&n);
    if (rc != ED_OK) return rc;
    ed_wear *w = ed_calloc(1, sizeof *w);
    size_t plen = strlen(dir) + sizeof ED_WEAR_FILE + 1;
    if (w) w->path = ed_malloc(plen);
    if (!w || !w->path) {
        ed_free(w);
        return ED_ERR_NOMEM;
    }
    snprintf(w->path, plen, "%s/%s", dir, ED_WEAR_FILE);
    w->counted_len = n;
    w->s.endurance_len = endurance_len;
    w->s.run_start_ms = now_ms;
    load(w, now_ms);
    w->s.written_len = w->base_len;
    w->next_ms = now_ms + ED_WEAR_SAVE_MS;
    *out = w;
    return ED_OK;
}

void ed_wear_set_probe(ed_wear *w, ed_wear_probe probe, void *arg)
{
    if (!w) return;
    w->probe = probe;
    w->probe_arg = arg;
}

void ed_wear_tick(ed_wear *w, int64_t now_ms)
{
    if (w && now_ms >= w->next_ms) save(w, now_ms);
}

void ed_wear_close(ed_wear *w, int64_t now_ms)
{
    if (!w) return;
    save(w, now_ms);
    ed_free(w->path);
    ed_free(w);
}
