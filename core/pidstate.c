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

#include <inttypes.h>
#include <limits.h>
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
        int32_t cap = s->cap ? s->cap * 2 : 4;
        if (cap > ED_PIDSTATE_MAX_PRODUCERS) cap = ED_PIDSTATE_MAX_PRODUCERS;
        struct pentry *e = ed_realloc(s->e, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        s->e = e;
        s->cap = cap;
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

/* Builds p's state from the tail of its log (once). */
static int ensure(ed_partition *p, ed_pids *pids, struct pstate **out)
{
    if (p->pid_state) {
        *out = p->pid_state;
        return ED_OK;
    }
    struct pstate *s = ed_calloc(1, sizeof *s);
    if (!s) return ED_ERR_NOMEM;
    int64_t start = ed_log_start_offset(p->log), end = ed_log_end_offset(p->log);
    if (end > start) {
        int64_t from =
            end - start > ED_PIDSTATE_SCAN_OFFSETS ? end - ED_PIDSTATE_SCAN_OFFSETS : start;
        struct scan_ctx c = {s, pids};
        int rc = ed_log_scan(p->log, from, scan_cb, &c);
        if (rc) {
            ED_LOG_ERR("%s-%d: cannot rebuild producer state: %s", ed_topic_name(p->topic),
                       (int)p->index, ed_strerror(rc));
            pstate_free(s);
            return rc;
        }
        if (s->n)
            ED_LOG_INFO("%s-%d: producer state rebuilt from offsets %" PRId64 "..%" PRId64
                        ": %d producers",
                        ed_topic_name(p->topic), (int)p->index, from, end - 1, (int)s->n);
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
    if (!p->pid_state || b->producer_id < 0) return;
    record(p->pid_state, b, base_offset, log_append_time);
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
