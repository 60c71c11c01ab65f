/* Idempotent producers: the producer-id allocator with its persisted block
 * limit, and the per-partition sequence state (see pidstate.h). Per
 * partition, producers are kept in an array sorted by producer id (ids are
 * handed out in increasing order, so a new producer is usually appended at
 * the end); each keeps a ring of its last ED_PIDSTATE_N_BATCHES batches. */
#define ED_LOG_MODULE "pidstate"
#include "core/pidstate.h"
#include "core/kafka/errors.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "storage/log.h"
#include "storage/segdir.h"

#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---- allocator ---- */

#define PIDS_MAGIC    "EDPI"
#define PIDS_VERSION  1
#define PIDS_FILE_LEN 20

struct ed_pids {
    char *dir;
    char *path;
    char *tmp;
    int64_t next;  /* next id to hand out */
    int64_t limit; /* ids < limit are covered by the file */
};

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = ed_malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static int pids_read(ed_pids *p)
{
    ed_file *f;
    int rc = ed_plat_file_open(p->path, ED_FILE_READ, &f);
    if (rc == ED_ERR_NOENT) return ED_OK;
    if (rc) return rc;
    uint8_t b[PIDS_FILE_LEN];
    size_t n = 0;
    rc = ed_plat_file_pread(f, b, sizeof b, 0, &n);
    ed_plat_file_close(f);
    if (rc) return rc;
    if (n != sizeof b || memcmp(b, PIDS_MAGIC, 4) != 0)
        return ED_ERR_CORRUPT_AT("%s: not a producer-id file", p->path);
    if (ed_get_be16(b + 4) != PIDS_VERSION)
        return ED_ERR_CORRUPT_AT("%s: unknown version %u", p->path, ed_get_be16(b + 4));
    if (ed_crc32c(0, b, 16) != ed_get_be32(b + 16))
        return ED_ERR_CORRUPT_AT("%s: bad checksum", p->path);
    int64_t limit = (int64_t)ed_get_be64(b + 8);
    if (limit < 0) return ED_ERR_CORRUPT_AT("%s: negative limit", p->path);
    p->next = p->limit = limit;
    return ED_OK;
}

/* Crash-safe replace: write a temporary file, sync it, rename it over the
 * old one, sync the folder. A crash leaves either the old or the new file;
 * ids are handed out only after the new limit is durable. */
static int pids_write(ed_pids *p, int64_t limit)
{
    uint8_t b[PIDS_FILE_LEN];
    memcpy(b, PIDS_MAGIC, 4);
    ed_put_be16(b + 4, PIDS_VERSION);
    ed_put_be16(b + 6, 0);
    ed_put_be64(b + 8, (uint64_t)limit);
    ed_put_be32(b + 16, ed_crc32c(0, b, 16));
    ed_file *f;
    int rc = ed_plat_file_open(p->tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc) return rc;
    rc = ed_plat_file_pwrite(f, b, sizeof b, 0);
    if (!rc) rc = ed_plat_file_datasync(f);
    ed_plat_file_close(f);
    if (!rc) rc = ed_plat_path_rename(p->tmp, p->path);
    if (!rc) rc = ed_plat_dir_sync(p->dir);
    if (rc) ED_LOG_ERR("cannot persist producer-id limit in %s: %s", p->path, ed_strerror(rc));
    return rc;
}

int ed_pids_open(const char *dir, ed_pids **out)
{
    ed_pids *p = ed_calloc(1, sizeof *p);
    if (!p) return ED_ERR_NOMEM;
    p->dir = ed_strdup(dir);
    p->path = join(dir, ED_PIDS_FILE);
    p->tmp = join(dir, ED_PIDS_FILE ".tmp");
    int rc = ED_ERR_NOMEM;
    if (!p->dir || !p->path || !p->tmp) goto fail;
    rc = pids_read(p);
    if (rc) goto fail;
    *out = p;
    return ED_OK;
fail:
    ed_pids_close(p);
    return rc;
}

void ed_pids_close(ed_pids *p)
{
    if (!p) return;
    ed_free(p->tmp);
    ed_free(p->path);
    ed_free(p->dir);
    ed_free(p);
}

int ed_pids_allocate(ed_pids *p, int64_t *id)
{
    if (p->next == INT64_MAX) return ED_ERR_RANGE;
    if (p->next >= p->limit) {
        int64_t limit = p->next > INT64_MAX - ED_PIDS_BLOCK ? INT64_MAX : p->next + ED_PIDS_BLOCK;
        int rc = pids_write(p, limit);
        if (rc) return rc;
        p->limit = limit;
    }
    *id = p->next++;
    return ED_OK;
}

int ed_pids_observe(ed_pids *p, int64_t id)
{
    if (id < 0 || id < p->next) return ED_OK;
    if (id == INT64_MAX) return ED_ERR_RANGE;
    p->next = id + 1;
    return ED_OK;
}

/* ---- per-partition sequence state ---- */

struct pbatch {
    int32_t first_seq;
    int32_t last_seq;
    int64_t base_offset;
    int64_t log_append_time;
};

struct pentry {
    int64_t pid;
    uint64_t used; /* LRU stamp */
    int16_t epoch;
    uint8_t n;    /* batches held */
    uint8_t head; /* ring slot of the newest */
    struct pbatch b[ED_PIDSTATE_N_BATCHES];
};

struct pstate {
    struct pentry *e; /* sorted by pid */
    int32_t n;
    int32_t cap;
    uint64_t clock;
    int64_t snap_at; /* offset of the last snapshot written or loaded; -1: none */
};

/* Kafka's sequence arithmetic: sequences wrap from INT32_MAX to 0. */
static int32_t seq_add(int32_t seq, int32_t delta)
{
    if (delta < 0) delta = 0;
    if (seq > INT32_MAX - delta) return delta - (INT32_MAX - seq) - 1;
    return seq + delta;
}

static bool in_sequence(int32_t last, int32_t next)
{
    return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

/* Index of pid, or -(insertion point) - 1. */
static int32_t find(const struct pstate *s, int64_t pid)
{
    int32_t lo = 0, hi = s->n - 1;
    if (s->n > 0 && s->e[hi].pid < pid) return -(s->n) - 1; /* the common append */
    while (lo <= hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (s->e[mid].pid < pid)
            lo = mid + 1;
        else if (s->e[mid].pid > pid)
            hi = mid - 1;
        else
            return mid;
    }
    return -lo - 1;
}

static void evict_lru(struct pstate *s)
{
    int32_t victim = 0;
    for (int32_t i = 1; i < s->n; i++)
        if (s->e[i].used < s->e[victim].used) victim = i;
    memmove(&s->e[victim], &s->e[victim + 1], (size_t)(s->n - victim - 1) * sizeof s->e[0]);
    s->n--;
}

static struct pentry *get_or_add(struct pstate *s, int64_t pid)
{
    int32_t i = find(s, pid);
    if (i >= 0) return &s->e[i];
    if (s->n >= ED_PIDSTATE_MAX_PRODUCERS) {
        evict_lru(s);
        i = find(s, pid);
    }
    if (s->n == s->cap) {
        struct pentry *e = ed_mem_grow(s->e, &s->cap, ED_PIDSTATE_MAX_PRODUCERS, sizeof *e);
        if (!e) return NULL;
        s->e = e;
    }
    int32_t at = -i - 1;
    memmove(&s->e[at + 1], &s->e[at], (size_t)(s->n - at) * sizeof s->e[0]);
    s->n++;
    struct pentry *e = &s->e[at];
    memset(e, 0, sizeof *e);
    e->pid = pid;
    return e;
}

static void record(struct pstate *s, const struct ed_batch_info *b, int64_t base_offset,
                   int64_t log_append_time)
{
    if (b->producer_id < 0 || ed_batch_is_control(b)) return;
    struct pentry *e = get_or_add(s, b->producer_id);
    if (!e) return; /* out of memory: the producer becomes unknown, which is safe */
    if (e->epoch != b->producer_epoch || e->n == 0) {
        e->epoch = b->producer_epoch;
        e->n = 0;
        e->head = ED_PIDSTATE_N_BATCHES - 1;
    }
    e->head = (uint8_t)((e->head + 1) % ED_PIDSTATE_N_BATCHES);
    e->b[e->head] =
        (struct pbatch){b->base_sequence, seq_add(b->base_sequence, b->last_offset_delta),
                        base_offset, log_append_time};
    if (e->n < ED_PIDSTATE_N_BATCHES) e->n++;
    e->used = ++s->clock;
}

struct scan_ctx {
    struct pstate *s;
    ed_pids *pids;
};

static int scan_cb(void *arg, const struct ed_batch_info *b)
{
    struct scan_ctx *c = arg;
    if (b->producer_id < 0) return 0;
    if (c->pids) ed_pids_observe(c->pids, b->producer_id);
    record(c->s, b, b->base_offset, ed_batch_is_log_append_time(b) ? b->max_timestamp : -1);
    return 0;
}

static void pstate_free(struct pstate *s)
{
    if (!s) return;
    ed_free(s->e);
    ed_free(s);
}

/* ---- snapshots (format in pidstate.h) ---- */

#define SNAP_MAGIC      "EDPS"
#define SNAP_VERSION    1
#define SNAP_HEADER_LEN 32
#define SNAP_ENTRY_LEN  12 /* pid, epoch, batch count, reserved */
#define SNAP_BATCH_LEN  24
#define SNAP_MAX_LEN                                                                               \
    (SNAP_HEADER_LEN +                                                                             \
     ED_PIDSTATE_MAX_PRODUCERS * (SNAP_ENTRY_LEN + ED_PIDSTATE_N_BATCHES * SNAP_BATCH_LEN) + 4)

/* The batch holding offset at - 1: a snapshot names it (base offset and
 * CRC) so that a log rewritten below its offset since (a crash that lost
 * the tail, then new appends) is not mistaken for the one it describes. */
struct last_batch {
    int64_t base;
    uint32_t crc;
};

static int last_batch_cb(void *arg, const struct ed_batch_info *b)
{
    struct last_batch *l = arg;
    l->base = b->base_offset;
    l->crc = b->crc;
    return ED_ERR_EXIST; /* the first batch is the one: stop */
}

static int last_batch_below(ed_log *log, int64_t at, struct last_batch *out)
{
    *out = (struct last_batch){-1, 0};
    if (at <= ed_log_start_offset(log)) return ED_OK;
    int rc = ed_log_scan(log, at - 1, last_batch_cb, out);
    return rc == ED_ERR_EXIST ? ED_OK : rc;
}

static int snap_path(char *buf, size_t cap, ed_log *log, int64_t at, const char *suffix)
{
    return ed_segdir_path(buf, cap, ed_log_dir(log), at, suffix);
}

struct snap_list {
    int64_t *at;
    int32_t n;
    int32_t cap;
};

static void snap_list_add(struct snap_list *l, int64_t at)
{
    if (l->n == l->cap) {
        int32_t cap = l->cap ? l->cap * 2 : 8;
        int64_t *v = ed_realloc(l->at, (size_t)cap * sizeof *v);
        if (!v) return; /* not listed: left for a later listing */
        l->at = v;
        l->cap = cap;
    }
    l->at[l->n++] = at;
}

struct snap_files {
    struct snap_list snaps; /* <offset>.snapshot */
    struct snap_list tmps;  /* <offset>.snapshot.tmp */
};

static int snap_list_cb(void *arg, const char *name, bool is_dir)
{
    struct snap_files *d = arg;
    int64_t at;
    if (is_dir) return 0;
    if (ed_segdir_parse_name(name, ED_PIDSTATE_SNAPSHOT_SUFFIX, &at))
        snap_list_add(&d->snaps, at);
    else if (ed_segdir_parse_name(name, ED_PIDSTATE_SNAPSHOT_SUFFIX ".tmp", &at))
        snap_list_add(&d->tmps, at);
    return 0;
}

static void snap_remove(ed_log *log, int64_t at, const char *suffix)
{
    char path[ED_STORAGE_PATH_MAX];
    if (snap_path(path, sizeof path, log, at, suffix) != ED_OK) return;
    if (ed_plat_path_unlink(path) == ED_OK) ED_LOG_DBG("removed %s", path);
}

static void snap_list_free(struct snap_list *l)
{
    ed_free(l->at);
    *l = (struct snap_list){0};
}

/* Lists the snapshot files of log into l, removing those that can no
 * longer be used (below the log start, above keep_max) and temporary ones
 * left by an interrupted write. */
static void snap_list(ed_log *log, int64_t keep_max, struct snap_list *l)
{
    struct snap_files d = {{0}, {0}};
    if (ed_plat_dir_list(ed_log_dir(log), snap_list_cb, &d) != ED_OK) d.snaps.n = d.tmps.n = 0;
    for (int32_t i = 0; i < d.tmps.n; i++)
        snap_remove(log, d.tmps.at[i], ED_PIDSTATE_SNAPSHOT_SUFFIX ".tmp");
    snap_list_free(&d.tmps);
    int64_t start = ed_log_start_offset(log);
    int32_t k = 0;
    for (int32_t i = 0; i < d.snaps.n; i++) {
        if (d.snaps.at[i] < start || d.snaps.at[i] > keep_max)
            snap_remove(log, d.snaps.at[i], ED_PIDSTATE_SNAPSHOT_SUFFIX);
        else
            d.snaps.at[k++] = d.snaps.at[i];
    }
    d.snaps.n = k;
    *l = d.snaps;
}

/* Writes s as the snapshot at offset at (s covers every batch below it):
 * a temporary file renamed over, synced when sync is set. A snapshot is a
 * cache of what the log holds: a torn or stale one is detected and ignored
 * when loaded, so the one written at a roll is not synced on the loop. */
static int snap_write(ed_partition *p, struct pstate *s, int64_t at, bool sync)
{
    ed_log *log = p->log;
    struct last_batch lb;
    int rc = last_batch_below(log, at, &lb);
    if (rc) return rc;
    size_t len = SNAP_HEADER_LEN + 4;
    for (int32_t i = 0; i < s->n; i++)
        len += SNAP_ENTRY_LEN + (size_t)s->e[i].n * SNAP_BATCH_LEN;
    uint8_t *b = ed_malloc(len);
    if (!b) return ED_ERR_NOMEM;
    memcpy(b, SNAP_MAGIC, 4);
    ed_put_be16(b + 4, SNAP_VERSION);
    ed_put_be16(b + 6, 0);
    ed_put_be64(b + 8, (uint64_t)at);
    ed_put_be64(b + 16, (uint64_t)lb.base);
    ed_put_be32(b + 24, lb.crc);
    ed_put_be32(b + 28, (uint32_t)s->n);
    uint8_t *w = b + SNAP_HEADER_LEN;
    for (int32_t i = 0; i < s->n; i++) {
        const struct pentry *e = &s->e[i];
        ed_put_be64(w, (uint64_t)e->pid);
        ed_put_be16(w + 8, (uint16_t)e->epoch);
        w[10] = e->n;
        w[11] = 0;
        w += SNAP_ENTRY_LEN;
        for (int k = e->n - 1; k >= 0; k--) { /* oldest first */
            const struct pbatch *c =
                &e->b[(e->head + ED_PIDSTATE_N_BATCHES - k) % ED_PIDSTATE_N_BATCHES];
            ed_put_be32(w, (uint32_t)c->first_seq);
            ed_put_be32(w + 4, (uint32_t)c->last_seq);
            ed_put_be64(w + 8, (uint64_t)c->base_offset);
            ed_put_be64(w + 16, (uint64_t)c->log_append_time);
            w += SNAP_BATCH_LEN;
        }
    }
    ed_put_be32(w, ed_crc32c(0, b, (size_t)(w - b)));
    char tmp[ED_STORAGE_PATH_MAX], path[ED_STORAGE_PATH_MAX];
    rc = snap_path(tmp, sizeof tmp, log, at, ED_PIDSTATE_SNAPSHOT_SUFFIX ".tmp");
    if (!rc) rc = snap_path(path, sizeof path, log, at, ED_PIDSTATE_SNAPSHOT_SUFFIX);
    ed_file *f = NULL;
    if (!rc) rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (!rc) {
        rc = ed_plat_file_pwrite(f, b, len, 0);
        if (!rc && sync) rc = ed_plat_file_datasync(f);
        ed_plat_file_close(f);
        if (!rc) rc = ed_plat_path_rename(tmp, path);
        if (!rc && sync) rc = ed_plat_dir_sync(ed_log_dir(log));
        if (rc) ed_plat_path_unlink(tmp);
    }
    ed_free(b);
    if (rc) {
        ED_LOG_WARN("%s-%d: cannot write producer state snapshot at %" PRId64 ": %s",
                    ed_topic_name(p->topic), (int)p->index, at, ed_strerror(rc));
        return rc;
    }
    s->snap_at = at;
    struct snap_list l;
    snap_list(log, at, &l); /* drops the ones below the log start */
    snap_list_free(&l);
    return ED_OK;
}

/* Reads and checks the snapshot at offset at into s (empty on entry).
 * ED_ERR_CORRUPT for anything that fails a check. */
static int snap_read(ed_log *log, int64_t at, struct pstate *s, ed_pids *pids)
{
    char path[ED_STORAGE_PATH_MAX];
    int rc = snap_path(path, sizeof path, log, at, ED_PIDSTATE_SNAPSHOT_SUFFIX);
    if (rc) return rc;
    ed_file *f;
    rc = ed_plat_file_open(path, ED_FILE_READ, &f);
    if (rc) return rc;
    uint64_t len = 0;
    uint8_t *b = NULL;
    size_t got = 0;
    rc = ed_plat_file_size(f, &len);
    if (!rc && (len < SNAP_HEADER_LEN + 4 || len > SNAP_MAX_LEN)) rc = ED_ERR_CORRUPT;
    if (!rc) b = ed_malloc((size_t)len);
    if (!rc && !b) rc = ED_ERR_NOMEM;
    if (!rc) rc = ed_plat_file_pread(f, b, (size_t)len, 0, &got);
    ed_plat_file_close(f);
    if (!rc && got != len) rc = ED_ERR_CORRUPT;
    if (!rc && (memcmp(b, SNAP_MAGIC, 4) != 0 || ed_get_be16(b + 4) != SNAP_VERSION ||
                (int64_t)ed_get_be64(b + 8) != at ||
                ed_crc32c(0, b, (size_t)len - 4) != ed_get_be32(b + len - 4)))
        rc = ED_ERR_CORRUPT;
    struct last_batch want, have;
    if (!rc) {
        want = (struct last_batch){(int64_t)ed_get_be64(b + 16), ed_get_be32(b + 24)};
        rc = last_batch_below(log, at, &have);
        if (!rc && (have.base != want.base || have.crc != want.crc)) rc = ED_ERR_CORRUPT;
    }
    uint32_t n = rc ? 0 : ed_get_be32(b + 28);
    if (n > ED_PIDSTATE_MAX_PRODUCERS) rc = ED_ERR_CORRUPT;
    const uint8_t *r = b ? b + SNAP_HEADER_LEN : NULL, *end = b ? b + len - 4 : NULL;
    for (uint32_t i = 0; !rc && i < n; i++) {
        if (end - r < SNAP_ENTRY_LEN) {
            rc = ED_ERR_CORRUPT;
            break;
        }
        struct ed_batch_info bi = {0};
        bi.producer_id = (int64_t)ed_get_be64(r);
        bi.producer_epoch = (int16_t)ed_get_be16(r + 8);
        uint8_t nb = r[10];
        r += SNAP_ENTRY_LEN;
        if (bi.producer_id < 0 || nb == 0 || nb > ED_PIDSTATE_N_BATCHES ||
            (s->n && bi.producer_id <= s->e[s->n - 1].pid) ||
            end - r < (ptrdiff_t)nb * SNAP_BATCH_LEN) {
            rc = ED_ERR_CORRUPT;
            break;
        }
        for (uint8_t k = 0; k < nb; k++, r += SNAP_BATCH_LEN) {
            int32_t first = (int32_t)ed_get_be32(r), last = (int32_t)ed_get_be32(r + 4);
            int64_t base = (int64_t)ed_get_be64(r + 8);
            if (first < 0 || last < 0 || base < 0 || base >= at) {
                rc = ED_ERR_CORRUPT;
                break;
            }
            bi.base_sequence = first;
            bi.last_offset_delta = last >= first ? last - first : INT32_MAX - first + last + 1;
            record(s, &bi, base, (int64_t)ed_get_be64(r + 16));
            if (s->n == 0 || s->e[s->n - 1].pid != bi.producer_id) rc = ED_ERR_NOMEM;
        }
        if (!rc && pids) ed_pids_observe(pids, bi.producer_id);
    }
    if (!rc && r != end) rc = ED_ERR_CORRUPT;
    ed_free(b);
    return rc;
}

/* Loads the newest usable snapshot at or below the log end into s;
 * -1 when there is none (or none close enough to the end to be worth
 * more than the windowed scan). Damaged or stale ones are skipped. */
static int64_t snap_load(ed_partition *p, struct pstate *s, ed_pids *pids)
{
    ed_log *log = p->log;
    int64_t end = ed_log_end_offset(log);
    struct snap_list l;
    snap_list(log, end, &l);
    int64_t used = -1;
    for (;;) {
        int32_t best = -1;
        for (int32_t i = 0; i < l.n; i++)
            if (l.at[i] >= 0 && (best < 0 || l.at[i] > l.at[best])) best = i;
        if (best < 0 || end - l.at[best] > ED_PIDSTATE_SCAN_OFFSETS) break;
        int64_t at = l.at[best];
        l.at[best] = -1;
        int rc = snap_read(log, at, s, pids);
        if (rc == ED_OK) {
            used = at;
            break;
        }
        ED_LOG_WARN("%s-%d: ignoring producer state snapshot at %" PRId64 ": %s",
                    ed_topic_name(p->topic), (int)p->index, at, ed_strerror(rc));
        s->n = 0;
    }
    snap_list_free(&l);
    return used;
}

/* Builds p's state (once): from the newest usable snapshot and the
 * batches after it, else from the tail of its log. */
static int ensure(ed_partition *p, ed_pids *pids, struct pstate **out)
{
    if (p->pid_state) {
        *out = p->pid_state;
        return ED_OK;
    }
    struct pstate *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    int64_t start = ed_log_start_offset(p->log), end = ed_log_end_offset(p->log);
    s->snap_at = snap_load(p, s, pids);
    if (end > start) {
        int64_t from = s->snap_at >= 0                          ? s->snap_at
                       : end - start > ED_PIDSTATE_SCAN_OFFSETS ? end - ED_PIDSTATE_SCAN_OFFSETS
                                                                : start;
        struct scan_ctx c = {s, pids};
        int rc = ed_log_scan(p->log, from, scan_cb, &c);
        if (rc) {
            ED_LOG_ERR("%s-%d: cannot rebuild producer state: %s", ed_topic_name(p->topic),
                       (int)p->index, ed_strerror(rc));
            pstate_free(s);
            return rc;
        }
        if (s->n)
            ED_LOG_INFO(
                "%s-%d: producer state %s, then offsets %" PRId64 "..%" PRId64 ": %d producers",
                ed_topic_name(p->topic), (int)p->index,
                s->snap_at >= 0 ? "loaded from a snapshot" : "rebuilt", from, end - 1, (int)s->n);
    }
    p->pid_state = s;
    *out = s;
    return ED_OK;
}

int ed_pidstate_check(ed_partition *p, ed_pids *pids, const struct ed_batch_info *b,
                      struct ed_pid_check *out)
{
    *out = (struct ed_pid_check){ED_PID_APPEND, 0, -1, -1, NULL};
    if (b->producer_id < 0) return ED_OK;
    if (b->base_sequence < 0) {
        *out = (struct ed_pid_check){ED_PID_REJECT, ED_KERR_INVALID_RECORD, -1, -1,
                                     "batch with a producer id has a negative sequence"};
        return ED_OK;
    }
    struct pstate *s;
    int rc = ensure(p, pids, &s);
    if (rc) return rc;
    int32_t i = find(s, b->producer_id);
    if (i < 0) {
        /* Unknown producer (new, expired or before the rebuild window): any
         * first sequence is accepted. */
        if (pids) ed_pids_observe(pids, b->producer_id);
        return ED_OK;
    }
    const struct pentry *e = &s->e[i];
    if (b->producer_epoch < e->epoch) {
        *out = (struct ed_pid_check){ED_PID_REJECT, ED_KERR_INVALID_PRODUCER_EPOCH, -1, -1,
                                     "producer epoch is older than the last one seen"};
        return ED_OK;
    }
    if (b->producer_epoch > e->epoch || e->n == 0) {
        if (b->producer_epoch > e->epoch && b->base_sequence != 0)
            *out = (struct ed_pid_check){ED_PID_REJECT, ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, -1,
                                         -1, "a new producer epoch must start at sequence 0"};
        return ED_OK;
    }
    int32_t last = seq_add(b->base_sequence, b->last_offset_delta);
    for (int k = 0; k < e->n; k++) {
        const struct pbatch *c =
            &e->b[(e->head + ED_PIDSTATE_N_BATCHES - k) % ED_PIDSTATE_N_BATCHES];
        if (c->first_seq == b->base_sequence && c->last_seq == last) {
            *out = (struct ed_pid_check){ED_PID_DUPLICATE, 0, c->base_offset, c->log_append_time,
                                         "duplicate batch"};
            return ED_OK;
        }
    }
    if (!in_sequence(e->b[e->head].last_seq, b->base_sequence))
        *out = (struct ed_pid_check){ED_PID_REJECT, ED_KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, -1, -1,
                                     "out of order sequence number"};
    return ED_OK;
}

void ed_pidstate_update(ed_partition *p, const struct ed_batch_info *b, int64_t base_offset,
                        int64_t log_append_time)
{
    struct pstate *s = p->pid_state;
    if (!s || b->producer_id < 0) return;
    record(s, b, base_offset, log_append_time);
    /* The first append after a roll snapshots the state (Kafka writes one
     * at each roll): a later start scans at most from here. */
    int64_t active = ed_log_active_base(p->log);
    if (active > s->snap_at && snap_write(p, s, base_offset + b->last_offset_delta + 1, false))
        s->snap_at = active; /* failed (logged): tried again at the next roll, not each append */
}

void ed_pidstate_save(ed_partition *p)
{
    struct pstate *s = p->pid_state;
    if (!s || !p->log) return;
    int64_t end = ed_log_end_offset(p->log);
    if (end != s->snap_at) (void)snap_write(p, s, end, true);
}

void ed_pidstate_release(ed_partition *p)
{
    pstate_free(p->pid_state);
    p->pid_state = NULL;
}

int32_t ed_pidstate_count(const ed_partition *p)
{
    const struct pstate *s = p->pid_state;
    return s ? s->n : 0;
}
