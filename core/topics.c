/* The topic/partition registry over the storage: topics sorted by name,
 * their partitions' logs, creation, growth and deletion (in steps on a
 * loop), the broker's caps, auto-creation and append/remove listeners.
 * Persistence is in topics_store.c, topic configs in topic_config.c.
 * Crash safety: the file is written to .tmp, synced, renamed over the old
 * one and the folder synced; creates write the file before the logs,
 * deletes remove the logs before the file, so open() can reconcile. */
#define ED_LOG_MODULE "topics"
#include "core/config.h"
#include "core/pidstate.h"
#include "core/topics_int.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Partitions a creation makes or a deletion removes per turn of the loop. */
#ifndef ED_TOPICS_STEP
#define ED_TOPICS_STEP 16
#endif
#define STUCK_RETRY_MS 1000

/* ---- small helpers ---- */

bool ed_topics_valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > ED_TOPIC_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* ---- topics ---- */

static int cmp_name(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    int c = memcmp(a, b, ED_MIN(alen, blen));
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

/* Index of the first topic with name >= key. */
static int32_t lower_bound(const ed_topics *t, const char *p, size_t len)
{
    int32_t lo = 0, hi = t->n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (cmp_name(p, len, t->v[mid]->name) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The topic of that name, also one being deleted. */
static ed_topic *find_any(ed_topics *t, const char *p, size_t len)
{
    int32_t i = lower_bound(t, p, len);
    return i < t->n && cmp_name(p, len, t->v[i]->name) == 0 ? t->v[i] : NULL;
}

static bool hidden(const ed_topic *tp)
{
    return tp->deleting || tp->creating;
}

static ed_topic *live(ed_topic *tp)
{
    return tp && !hidden(tp) ? tp : NULL;
}

ed_topic *ed_topics_find(ed_topics *t, const char *name)
{
    return live(find_any(t, name, strlen(name)));
}

ed_topic *ed_topics_find_k(ed_topics *t, ed_kstr name)
{
    if (name.len <= 0 || name.len > ED_TOPIC_NAME_MAX) return NULL;
    return live(find_any(t, name.p, (size_t)name.len));
}

ed_topic *ed_topics_find_id(ed_topics *t, const uint8_t id[16])
{
    for (int32_t i = 0; i < t->n; i++)
        if (!hidden(t->v[i]) && memcmp(t->v[i]->id, id, 16) == 0) return t->v[i];
    return NULL;
}

void ed_topics_each(ed_topics *t, void (*cb)(void *arg, ed_topic *topic), void *arg)
{
    for (int32_t i = 0; i < t->n; i++)
        if (!hidden(t->v[i])) cb(arg, t->v[i]);
}

int32_t ed_topics_count(const ed_topics *t)
{
    int32_t n = 0;
    for (int32_t i = 0; i < t->n; i++)
        n += !hidden(t->v[i]);
    return n;
}

int32_t ed_topics_count_partitions(const ed_topics *t)
{
    int32_t n = 0;
    for (int32_t i = 0; i < t->n; i++)
        if (!hidden(t->v[i])) n += t->v[i]->n_partitions;
    return n;
}

const char *ed_topic_name(const ed_topic *topic)
{
    return topic->name;
}

int32_t ed_topic_n_partitions(const ed_topic *topic)
{
    return topic->n_partitions;
}

ed_partition *ed_topic_partition(ed_topic *topic, int32_t index)
{
    return index >= 0 && index < topic->n_partitions ? topic->parts[index] : NULL;
}

const uint8_t *ed_topic_id(const ed_topic *topic)
{
    return topic->id;
}

static bool internal_name(const char *name)
{
    return strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0 ||
           strcmp(name, "__mqtt_retained") == 0 || strcmp(name, "__mqtt_sessions") == 0;
}

bool ed_topic_is_internal(const ed_topic *topic)
{
    return internal_name(topic->name);
}

ed_topic *ed_topics_topic_new(const char *name)
{
    ed_topic *tp = ed_calloc(1, sizeof *tp);
    if (!tp) return NULL;
    snprintf(tp->name, sizeof tp->name, "%s", name);
    return tp;
}

static void notify_removed(ed_topics *t, ed_partition *p)
{
    for (int i = 0; i < t->removed.n; i++)
        t->removed.v[i].cb(t->removed.v[i].arg, p);
}

void ed_topics_topic_free(ed_topic *tp)
{
    for (int32_t i = 0; i < tp->n_partitions; i++)
        ed_free(tp->parts[i]);
    ed_free(tp->parts);
    for (int k = 0; k < ED_TOPIC_MAX_KEYS; k++)
        ed_free(tp->ov[k]);
    ed_free(tp->doomed);
    ed_free(tp->grow_logs);
    ed_free(tp);
}

/* Makes room for n partition slots (new ones NULL). */
static int topic_grow(ed_topic *tp, int32_t n)
{
    if (n <= tp->n_partitions) return ED_OK;
    ed_partition **p = ed_realloc(tp->parts, (size_t)n * sizeof *p);
    if (!p) return ED_ERR_NOMEM;
    for (int32_t i = tp->n_partitions; i < n; i++)
        p[i] = NULL;
    tp->parts = p;
    tp->n_partitions = n;
    return ED_OK;
}

static int attach_log(ed_topic *tp, int32_t index, ed_log *log)
{
    ed_partition *p = ed_calloc(1, sizeof *p);
    if (!p) return ED_ERR_NOMEM;
    p->topic = tp;
    p->index = index;
    p->log = log;
    tp->parts[index] = p;
    return ED_OK;
}

static int insert_topic(ed_topics *t, ed_topic *tp)
{
    if (t->n == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 16;
        ed_topic **v = ed_realloc(t->v, (size_t)cap * sizeof *v);
        if (!v) return ED_ERR_NOMEM;
        t->v = v;
        t->cap = cap;
    }
    int32_t i = lower_bound(t, tp->name, strlen(tp->name));
    memmove(t->v + i + 1, t->v + i, (size_t)(t->n - i) * sizeof *t->v);
    t->v[i] = tp;
    t->n++;
    return ED_OK;
}

static void remove_topic(ed_topics *t, ed_topic *tp)
{
    int32_t i = lower_bound(t, tp->name, strlen(tp->name));
    ED_ASSERT(i < t->n && t->v[i] == tp);
    memmove(t->v + i, t->v + i + 1, (size_t)(t->n - i - 1) * sizeof *t->v);
    t->n--;
}

/* ---- deletion ----
 * Crash-safe on a full disk: the topic is first recorded as being deleted
 * (state=deleting; the reserve is released if the disk is too full for
 * that); from then on it is hidden and its name stays taken. Its logs then
 * go (free first), the checkpoints are rewritten, and only then does the
 * registry forget it. A crash before the record leaves the topic whole; a
 * crash after it leaves the record, and the next open finishes the job. */

/* Hands every partition of tp over to tp->doomed: the listeners drop
 * their state, the partitions are freed, the logs wait for delete_step. */
static int detach_all(ed_topics *t, ed_topic *tp)
{
    ed_log **logs = ed_calloc((size_t)tp->n_partitions + (size_t)tp->n_grown + 1, sizeof *logs);
    if (!logs) return ED_ERR_NOMEM;
    int32_t n = 0;
    for (int32_t i = 0; i < tp->n_grown; i++) /* a growth under way: its new logs go too */
        logs[n++] = tp->grow_logs[i];
    ed_topics_done_cb done = tp->grow_to ? tp->done : NULL;
    void *done_arg = tp->done_arg;
    int32_t done_slot = tp->done_slot;
    ed_free(tp->grow_logs);
    tp->grow_logs = NULL;
    tp->n_grown = tp->grow_to = 0;
    tp->done = NULL;
    for (int32_t p = 0; p < tp->n_partitions; p++) {
        ed_partition *part = tp->parts[p];
        if (!part) continue;
        notify_removed(t, part);
        logs[n++] = part->log;
        ed_free(part);
        tp->parts[p] = NULL;
    }
    tp->doomed = logs;
    tp->n_doomed = n;
    tp->detached = true;
    if (done) done(done_arg, done_slot, ED_ERR_NOENT);
    return ED_OK;
}

enum step { STEP_DONE, STEP_MORE, STEP_STUCK };

/* Removes up to *budget of tp's logs (counted off *budget); once none is
 * left and the checkpoints no longer name them, drops tp from memory (the
 * caller persists). */
static enum step delete_step(ed_topics *t, ed_topic *tp, int32_t *budget)
{
    if (!tp->detached && detach_all(t, tp) != ED_OK) return STEP_STUCK;
    int32_t k = ED_MIN(*budget, tp->n_doomed);
    if (k > 0) {
        int rc = ed_storage_remove_logs(t->st, tp->doomed + tp->n_doomed - k, (uint32_t)k);
        if (rc != ED_OK) ED_LOG_ERR("topic %s: removing logs: %s", tp->name, ed_strerror(rc));
        tp->n_doomed -= k;
        *budget -= k;
    }
    if (tp->n_doomed > 0) return STEP_MORE;
    int rc = ed_storage_write_checkpoints(t->st);
    if (rc != ED_OK) {
        ED_LOG_ERR("topic %s: deletion not finished (%s); retried later", tp->name,
                   ed_strerror(rc));
        return STEP_STUCK;
    }
    remove_topic(t, tp);
    ED_LOG_INFO("deleted topic %s", tp->name);
    ed_topics_topic_free(tp);
    return STEP_DONE;
}

/* Works on pending deletions, removing up to budget logs; persists when a
 * topic went. Returns the delay before more work is due, -1 for none. */
static int64_t run_deletions(ed_topics *t, int32_t budget)
{
    bool gone = false;
    int64_t next = -1;
    for (int32_t i = 0; i < t->n;) {
        ed_topic *tp = t->v[i];
        if (!tp->deleting) {
            i++;
            continue;
        }
        enum step st = delete_step(t, tp, &budget);
        if (st == STEP_DONE) {
            gone = true;
            continue;
        }
        next = st == STEP_MORE ? 0 : next < 0 ? STUCK_RETRY_MS : next;
        i++;
    }
    if (gone && ed_topics_persist(t) == ED_OK) ed_topics_reserve_take(t);
    return next;
}

static bool run_creations(ed_topics *t, int32_t *budget);
static bool run_growths(ed_topics *t, int32_t *budget);

static void on_step(ed_timer *tm, void *arg)
{
    ed_topics *t = arg;
    int32_t budget = ED_TOPICS_STEP;
    bool more = run_creations(t, &budget);
    more = run_growths(t, &budget) || more;
    int64_t next = run_deletions(t, budget);
    if (more) next = 0;
    if (next >= 0 && !ed_plat_timer_armed(tm))
        ed_plat_timer_start(t->loop, tm, (uint32_t)next, on_step, t);
}

/* Without a loop, pending deletions are finished on the spot; with one,
 * the step timer is armed. */
static void reap(ed_topics *t)
{
    if (!t->loop)
        run_deletions(t, INT32_MAX);
    else if (!ed_plat_timer_armed(&t->step_timer))
        ed_plat_timer_start(t->loop, &t->step_timer, 0, on_step, t);
}

void ed_topics_set_loop(ed_topics *t, ed_loop *loop)
{
    if (t->loop && t->loop != loop) ed_plat_timer_stop(t->loop, &t->step_timer);
    t->loop = loop;
    for (int32_t i = 0; i < t->n; i++)
        if (t->v[i]->deleting) reap(t);
}

/* ---- open / close ---- */

struct open_ctx {
    ed_topics *t;
    int err;
    bool adopted;
};

static void adopt_log(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    struct open_ctx *o = arg;
    if (o->err) return;
    ed_topics *t = o->t;
    if (partition < 0 || partition >= PARTITIONS_MAX) {
        ED_LOG_WARN("ignoring partition %s-%d: index out of range", topic, partition);
        return;
    }
    ed_topic *tp = find_any(t, topic, strlen(topic));
    if (!tp) {
        tp = ed_topics_topic_new(topic);
        if (!tp) {
            o->err = ED_ERR_NOMEM;
            return;
        }
        ed_topics_new_uuid(tp->id);
        tp->owner = t;
        if ((o->err = insert_topic(t, tp)) != ED_OK) {
            ed_topics_topic_free(tp);
            return;
        }
        o->adopted = true;
        if (t->dir) ED_LOG_INFO("adopting topic %s found in the data directory", topic);
    }
    if ((o->err = topic_grow(tp, partition + 1)) != ED_OK) return;
    if (tp->parts[partition]) return;
    o->err = attach_log(tp, partition, log);
}

static int open_common(ed_storage *st, const char *dir, const struct ed_log_config *defaults,
                       ed_topics **out)
{
    ed_topics *t = ed_calloc(1, sizeof *t);
    if (!t) return ED_ERR_NOMEM;
    t->st = st;
    t->defaults = *defaults;
    int rc = ED_OK;
    struct ed_topics_loaded *reg = NULL;
    int32_t n_reg = 0;
    if (dir) {
        t->dir = ed_strdup(dir);
        if (!t->dir) rc = ED_ERR_NOMEM;
        if (rc == ED_OK) rc = ed_topics_load_registry(dir, &reg, &n_reg);
    }
    /* Listed topics first (ids, overrides, counts), then every log. */
    for (int32_t i = 0; i < n_reg && rc == ED_OK; i++) {
        ed_topic *tp = reg[i].tp;
        if (find_any(t, tp->name, strlen(tp->name))) continue; /* duplicate line: first wins */
        tp->owner = t;
        rc = topic_grow(tp, reg[i].n_parts);
        if (rc == ED_OK) rc = insert_topic(t, tp);
        if (rc == ED_OK) reg[i].tp = NULL;
    }
    ed_topics_free_loaded(reg, n_reg);
    struct open_ctx o = {t, ED_OK, false};
    if (rc == ED_OK) {
        ed_storage_each_log(st, adopt_log, &o);
        rc = o.err;
    }
    bool dirty = o.adopted;
    for (int32_t i = 0; i < t->n && rc == ED_OK;) {
        ed_topic *tp = t->v[i];
        if (tp->deleting) {
            /* Recorded as being deleted before a crash: finish it. */
            ED_LOG_INFO("finishing the deletion of topic %s", tp->name);
            int32_t all = INT32_MAX;
            if (delete_step(t, tp, &all) == STEP_DONE) {
                dirty = true;
                continue;
            }
            i++;
            continue;
        }
        int32_t have = 0;
        for (int32_t p = 0; p < tp->n_partitions; p++)
            have += tp->parts[p] != NULL;
        if (have == 0) {
            ED_LOG_WARN("topic %s is listed but has no partition logs: dropping it "
                        "(a create that did not finish)",
                        tp->name);
            remove_topic(t, tp);
            ed_topics_topic_free(tp);
            dirty = true;
            continue;
        }
        i++;
    }
    if (rc == ED_OK) ed_topics_render_defaults(t);
    /* Apply overrides; fill partition gaps (interrupted CreatePartitions). */
    for (int32_t i = 0; i < t->n && rc == ED_OK; i++) {
        ed_topic *tp = t->v[i];
        if (tp->deleting) continue;
        ed_topics_effective(t, tp);
        for (int32_t p = 0; p < tp->n_partitions && rc == ED_OK; p++) {
            if (tp->parts[p]) {
                ed_log_set_config(tp->parts[p]->log, &tp->cfg);
                continue;
            }
            ed_log *log;
            ED_LOG_WARN("topic %s: creating missing partition %d", tp->name, p);
            rc = ed_storage_create_log(st, tp->name, p, &tp->cfg, &log);
            if (rc == ED_OK) rc = attach_log(tp, p, log);
            dirty = true;
        }
    }
    if (rc == ED_OK && dir) {
        /* Persist adoptions, drops and fills so ids stay stable. */
        if (dirty) rc = ed_topics_persist_freeing(t);
        if (rc == ED_OK) ed_topics_reserve_take(t);
    }
    if (rc != ED_OK) {
        ed_topics_close(t);
        return rc;
    }
    *out = t;
    return ED_OK;
}

int ed_topics_open(ed_storage *st, const struct ed_log_config *defaults, ed_topics **out)
{
    return open_common(st, NULL, defaults, out);
}

int ed_topics_open_dir(ed_storage *st, const char *dir, const struct ed_log_config *defaults,
                       ed_topics **out)
{
    return open_common(st, dir, defaults, out);
}

void ed_topics_close(ed_topics *t)
{
    if (!t) return;
    if (t->loop) ed_plat_timer_stop(t->loop, &t->step_timer);
    for (int32_t i = 0; i < t->n; i++) {
        ed_topic *tp = t->v[i];
        for (int32_t p = 0; p < tp->n_partitions; p++) {
            if (!tp->parts[p]) continue;
            ed_pidstate_save(tp->parts[p]); /* a clean stop: the next start scans nothing */
            notify_removed(t, tp->parts[p]);
        }
        ed_topics_topic_free(tp);
    }
    ed_free(t->v);
    ed_free(t->dir);
    ed_free(t);
}

const struct ed_config *ed_topics_broker_config(const ed_topics *t)
{
    return t->bcfg;
}

void ed_topics_set_broker_config(ed_topics *t, const struct ed_config *cfg)
{
    t->bcfg = cfg;
    ed_topics_render_defaults(t);
}

/* ---- create / delete / grow ---- */

/* Checks a new topic, makes it and records it in the registry (before
 * any log exists: a crash then drops it or fills in its logs at the next
 * open, and the create was never acknowledged); its logs are made by
 * make_logs. */
static int create_begin(ed_topics *t, const char *name, int32_t n_partitions,
                        const char *const *keys, const char *const *values, int n_configs,
                        const char **why, ed_topic **out)
{
    if (!ed_topics_valid_name(name)) {
        *why = "invalid topic name";
        return ED_ERR_INVAL;
    }
    if (n_partitions < 1 || n_partitions > PARTITIONS_MAX) {
        *why = "invalid number of partitions";
        return ED_ERR_INVAL;
    }
    reap(t);
    ed_topic *had = find_any(t, name, strlen(name));
    if (had) {
        *why = had->deleting ? "topic is marked for deletion" : "topic already exists";
        return ED_ERR_EXIST;
    }
    int rc = ED_OK;
    for (int i = 0; i < n_configs && rc == ED_OK; i++)
        rc = ed_topics_config_check(keys[i], values[i], why);
    if (rc == ED_OK) rc = ed_topics_room(t, name, 1, n_partitions, why);
    if (rc != ED_OK) return rc;
    ed_topic *tp = ed_topics_topic_new(name);
    if (!tp) return ED_ERR_NOMEM;
    tp->owner = t;
    ed_topics_new_uuid(tp->id);
    for (int i = 0; i < n_configs && rc == ED_OK; i++) {
        if (!values[i]) continue;
        int k = ed_topics_key_index(keys[i]);
        ed_free(tp->ov[k]);
        tp->ov[k] = ed_strdup(values[i]);
        if (!tp->ov[k]) rc = ED_ERR_NOMEM;
    }
    if (rc == ED_OK) rc = topic_grow(tp, n_partitions);
    if (rc != ED_OK) {
        ed_topics_topic_free(tp);
        return rc;
    }
    ed_topics_effective(t, tp);
    rc = insert_topic(t, tp);
    if (rc == ED_OK) rc = ed_topics_persist(t);
    if (rc != ED_OK) {
        if (find_any(t, name, strlen(name)) == tp) remove_topic(t, tp);
        ed_topics_topic_free(tp);
        *why = "could not write the topic registry";
        return rc;
    }
    *out = tp;
    return ED_OK;
}

/* Makes up to budget more of tp's logs. */
static int make_logs(ed_topics *t, ed_topic *tp, int32_t budget)
{
    int rc = ED_OK;
    for (; tp->n_made < tp->n_partitions && budget > 0 && rc == ED_OK; budget--) {
        ed_log *log;
        rc = ed_storage_create_log(t->st, tp->name, tp->n_made, &tp->cfg, &log);
        if (rc == ED_OK) rc = attach_log(tp, tp->n_made, log);
        if (rc == ED_OK) tp->n_made++;
    }
    return rc;
}

/* Undoes a creation that failed: its logs go, then the registry line. */
static void create_fail(ed_topics *t, ed_topic *tp, int rc)
{
    ED_LOG_ERR("creating topic %s: %s", tp->name, ed_strerror(rc));
    ed_log **logs = ed_calloc((size_t)tp->n_partitions, sizeof *logs);
    uint32_t n = 0;
    for (int32_t p = 0; p < tp->n_partitions; p++) {
        if (!tp->parts[p]) continue;
        if (logs)
            logs[n++] = tp->parts[p]->log;
        else
            ed_storage_delete_log(t->st, tp->parts[p]->log);
    }
    if (n) ed_storage_delete_logs(t->st, logs, n);
    ed_free(logs);
    remove_topic(t, tp);
    ed_topics_topic_free(tp);
    ed_topics_persist(t);
}

static void log_created(const ed_topic *tp)
{
    ED_LOG_INFO("created topic %s with %d partition%s", tp->name, (int)tp->n_partitions,
                tp->n_partitions == 1 ? "" : "s");
}

int ed_topics_create(ed_topics *t, const char *name, int32_t n_partitions, const char *const *keys,
                     const char *const *values, int n_configs, const char **why, ed_topic **out)
{
    static const char *unused;
    if (!why) why = &unused;
    ed_topic *tp;
    int rc = create_begin(t, name, n_partitions, keys, values, n_configs, why, &tp);
    if (rc != ED_OK) return rc;
    rc = make_logs(t, tp, INT32_MAX);
    if (rc != ED_OK) {
        *why = "could not create the partition logs";
        create_fail(t, tp, rc);
        return rc;
    }
    log_created(tp);
    if (out) *out = tp;
    return ED_OK;
}

int ed_topics_create_async(ed_topics *t, const char *name, int32_t n_partitions,
                           const char *const *keys, const char *const *values, int n_configs,
                           const char **why, ed_topics_done_cb done, void *arg, int32_t slot,
                           ed_topic **out, bool *pending)
{
    static const char *unused;
    if (!why) why = &unused;
    *pending = false;
    if (!t->loop) return ed_topics_create(t, name, n_partitions, keys, values, n_configs, why, out);
    ed_topic *tp;
    int rc = create_begin(t, name, n_partitions, keys, values, n_configs, why, &tp);
    if (rc != ED_OK) return rc;
    rc = make_logs(t, tp, ED_TOPICS_STEP); /* the first step now */
    if (rc != ED_OK) {
        *why = "could not create the partition logs";
        create_fail(t, tp, rc);
        return rc;
    }
    if (out) *out = tp;
    if (tp->n_made == tp->n_partitions) {
        log_created(tp);
        return ED_OK;
    }
    tp->creating = true;
    tp->done = done;
    tp->done_arg = arg;
    tp->done_slot = slot;
    *pending = true;
    if (!ed_plat_timer_armed(&t->step_timer))
        ed_plat_timer_start(t->loop, &t->step_timer, 0, on_step, t);
    return ED_OK;
}

/* Works on creations in steps, making up to *budget logs (counted off);
 * true while some remain. */
static bool run_creations(ed_topics *t, int32_t *budget)
{
    for (int32_t i = 0; i < t->n; i++) {
        ed_topic *tp = t->v[i];
        if (!tp->creating) continue;
        if (*budget <= 0) return true;
        int32_t before = tp->n_made;
        int rc = make_logs(t, tp, *budget);
        *budget -= tp->n_made - before;
        if (rc == ED_OK && tp->n_made < tp->n_partitions) return true;
        ed_topics_done_cb done = tp->done;
        void *arg = tp->done_arg;
        int32_t slot = tp->done_slot;
        tp->creating = false;
        if (rc != ED_OK)
            create_fail(t, tp, rc);
        else
            log_created(tp);
        if (done) done(arg, slot, rc);
        i = -1; /* the callback may have changed the registry: look again */
    }
    return false;
}

void ed_topics_forget_waiter(ed_topics *t, void *arg)
{
    for (int32_t i = 0; i < t->n; i++)
        if (t->v[i]->done_arg == arg) {
            t->v[i]->done = NULL;
            t->v[i]->done_arg = NULL;
        }
}

int ed_topics_auto_create(ed_topics *t, const char *name, ed_topic **out)
{
    if (!t->bcfg || !t->bcfg->auto_create_topics_enable) return ED_ERR_NOENT;
    if (!ed_topics_valid_name(name)) return ED_ERR_INVAL;
    int32_t n = (int32_t)t->bcfg->num_partitions;
    const char *why = "";
    int rc = ed_topics_create(t, name, n, NULL, NULL, 0, &why, out);
    if (rc == ED_ERR_TOOBIG && !t->cap_logged)
        ED_LOG_WARN("not auto-creating topic %s: %s (said once until a topic is created)", name,
                    why);
    t->cap_logged = rc == ED_ERR_TOOBIG || (t->cap_logged && rc != ED_OK);
    return rc;
}

int ed_topics_room(ed_topics *t, const char *name, int32_t n_topics, int32_t n_partitions,
                   const char **why)
{
    if (!t->bcfg || internal_name(name)) return ED_OK;
    int64_t max_topics = t->bcfg->eddy_max_topics;
    int64_t max_parts = t->bcfg->eddy_max_partitions;
    int32_t have_topics = 0, have_parts = 0;
    for (int32_t i = 0; i < t->n; i++)
        have_topics += !t->v[i]->deleting; /* topics being created count */
    for (int32_t i = 0; i < t->n; i++)     /* and partitions being added */
        if (t->v[i]->grow_to && !t->v[i]->deleting)
            have_parts += t->v[i]->grow_to - t->v[i]->n_partitions;
    for (int32_t i = 0; i < t->n; i++) /* partitions being deleted still hold files */
        have_parts += t->v[i]->deleting
                          ? (t->v[i]->detached ? t->v[i]->n_doomed : t->v[i]->n_partitions)
                          : t->v[i]->n_partitions;
    if (n_topics > 0 && (int64_t)have_topics + n_topics > max_topics) {
        snprintf(t->why, sizeof t->why,
                 "The broker already holds %" PRId32 " topics, its limit (eddy.max.topics=%" PRId64
                 ")",
                 have_topics, max_topics);
        *why = t->why;
        return ED_ERR_TOOBIG;
    }
    if ((int64_t)have_parts + n_partitions > max_parts) {
        snprintf(t->why, sizeof t->why,
                 "Adding %" PRId32 " partitions to the %" PRId32 " the broker holds would exceed "
                 "its limit of %" PRId64 " partitions (eddy.max.partitions)",
                 n_partitions, have_parts, max_parts);
        *why = t->why;
        return ED_ERR_TOOBIG;
    }
    return ED_OK;
}

int ed_topics_delete(ed_topics *t, ed_topic *topic)
{
    if (topic->deleting) return ED_ERR_NOENT;
    topic->deleting = true;
    int rc = ed_topics_persist_freeing(t);
    if (rc != ED_OK) {
        topic->deleting = false; /* nothing changed */
        ED_LOG_ERR("cannot record the deletion of topic %s: %s", topic->name, ed_strerror(rc));
        return rc;
    }
    /* Decided: whatever fails from here on is finished later. The
     * partitions leave at once (listeners drop their state); their files
     * go in steps. */
    ED_LOG_INFO("deleting topic %s (%d partition%s)", topic->name, (int)topic->n_partitions,
                topic->n_partitions == 1 ? "" : "s");
    detach_all(t, topic);
    if (!t->loop) {
        run_deletions(t, INT32_MAX);
        return ED_OK;
    }
    /* The first step now: a small topic is gone before the answer. */
    int64_t next = run_deletions(t, ED_TOPICS_STEP);
    if (next >= 0 && !ed_plat_timer_armed(&t->step_timer))
        ed_plat_timer_start(t->loop, &t->step_timer, (uint32_t)next, on_step, t);
    return ED_OK;
}

/* Checks a growth of topic to n partitions and prepares it. */
static int grow_begin(ed_topics *t, ed_topic *topic, int32_t n)
{
    if (topic->deleting || topic->creating) return ED_ERR_NOENT;
    if (topic->grow_to) return ED_ERR_BUSY;
    if (n < topic->n_partitions || n > PARTITIONS_MAX) return ED_ERR_INVAL;
    const char *why;
    reap(t);
    int rc = ed_topics_room(t, topic->name, 0, n - topic->n_partitions, &why);
    if (rc != ED_OK) return rc;
    topic->grow_logs = ed_calloc((size_t)(n - topic->n_partitions), sizeof *topic->grow_logs);
    if (!topic->grow_logs) return ED_ERR_NOMEM;
    topic->grow_to = n;
    topic->n_grown = 0;
    return ED_OK;
}

/* Makes up to budget more of a growth's logs. */
static int grow_logs(ed_topics *t, ed_topic *tp, int32_t budget)
{
    int rc = ED_OK;
    for (; tp->n_partitions + tp->n_grown < tp->grow_to && budget > 0 && rc == ED_OK; budget--) {
        ed_log *log;
        rc = ed_storage_create_log(t->st, tp->name, tp->n_partitions + tp->n_grown, &tp->cfg, &log);
        if (rc == ED_OK) tp->grow_logs[tp->n_grown++] = log;
    }
    return rc;
}

/* Ends a growth: on success the new logs become partitions and the count
 * is recorded (logs first, then the count: a crash in between leaves extra
 * logs that the next open adopts); otherwise the new logs go. */
static int grow_end(ed_topics *t, ed_topic *tp, int rc)
{
    int32_t old = tp->n_partitions, n = tp->grow_to;
    if (rc == ED_OK) rc = topic_grow(tp, n);
    for (int32_t i = 0; i < tp->n_grown && rc == ED_OK; i++)
        rc = attach_log(tp, old + i, tp->grow_logs[i]);
    if (rc == ED_OK) rc = ed_topics_persist(t);
    if (rc != ED_OK) {
        for (int32_t p = old; p < tp->n_partitions; p++) {
            ed_free(tp->parts[p]);
            tp->parts[p] = NULL;
        }
        tp->n_partitions = old;
        if (tp->n_grown) ed_storage_delete_logs(t->st, tp->grow_logs, (uint32_t)tp->n_grown);
        ED_LOG_ERR("topic %s: cannot grow to %d partitions: %s", tp->name, (int)n, ed_strerror(rc));
    } else {
        ED_LOG_INFO("topic %s now has %d partitions", tp->name, (int)n);
    }
    ed_free(tp->grow_logs);
    tp->grow_logs = NULL;
    tp->n_grown = tp->grow_to = 0;
    return rc;
}

int ed_topics_set_partitions(ed_topics *t, ed_topic *topic, int32_t n)
{
    if (n == topic->n_partitions && !topic->deleting && !topic->grow_to) return ED_OK;
    int rc = grow_begin(t, topic, n);
    if (rc != ED_OK) return rc;
    return grow_end(t, topic, grow_logs(t, topic, INT32_MAX));
}

int ed_topics_set_partitions_async(ed_topics *t, ed_topic *topic, int32_t n, ed_topics_done_cb done,
                                   void *arg, int32_t slot, bool *pending)
{
    *pending = false;
    if (!t->loop || (n == topic->n_partitions && !topic->deleting && !topic->grow_to))
        return ed_topics_set_partitions(t, topic, n);
    int rc = grow_begin(t, topic, n);
    if (rc != ED_OK) return rc;
    rc = grow_logs(t, topic, ED_TOPICS_STEP); /* the first step now */
    if (rc != ED_OK || topic->n_partitions + topic->n_grown == topic->grow_to)
        return grow_end(t, topic, rc);
    topic->done = done;
    topic->done_arg = arg;
    topic->done_slot = slot;
    *pending = true;
    if (!ed_plat_timer_armed(&t->step_timer))
        ed_plat_timer_start(t->loop, &t->step_timer, 0, on_step, t);
    return ED_OK;
}

/* Works on growths in steps, making up to *budget logs (counted off); true
 * while some remain. */
static bool run_growths(ed_topics *t, int32_t *budget)
{
    for (int32_t i = 0; i < t->n; i++) {
        ed_topic *tp = t->v[i];
        if (!tp->grow_to || tp->deleting) continue;
        if (*budget <= 0) return true;
        int32_t before = tp->n_grown;
        int rc = grow_logs(t, tp, *budget);
        *budget -= tp->n_grown - before;
        if (rc == ED_OK && tp->n_partitions + tp->n_grown < tp->grow_to) return true;
        ed_topics_done_cb done = tp->done;
        void *arg = tp->done_arg;
        int32_t slot = tp->done_slot;
        tp->done = NULL;
        rc = grow_end(t, tp, rc);
        if (done) done(arg, slot, rc);
        i = -1; /* the callback may have changed the registry: look again */
    }
    return false;
}

/* ---- listeners ---- */

void ed_topics_set_append_listener(ed_topics *t, ed_append_listener cb, void *arg)
{
    t->append.cb = cb;
    t->append.arg = arg;
}

static int add_listener(struct listeners *l, ed_append_listener cb, void *arg)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i].cb == cb && l->v[i].arg == arg) return ED_OK;
    if (l->n == MAX_LISTENERS) return ED_ERR_TOOBIG;
    l->v[l->n].cb = cb;
    l->v[l->n].arg = arg;
    l->n++;
    return ED_OK;
}

static void del_listener(struct listeners *l, ed_append_listener cb, void *arg)
{
    for (int i = 0; i < l->n; i++) {
        if (l->v[i].cb != cb || l->v[i].arg != arg) continue;
        l->v[i] = l->v[--l->n];
        return;
    }
}

int ed_topics_add_append_listener(ed_topics *t, ed_append_listener cb, void *arg)
{
    return add_listener(&t->appended, cb, arg);
}

void ed_topics_del_append_listener(ed_topics *t, ed_append_listener cb, void *arg)
{
    del_listener(&t->appended, cb, arg);
}

int ed_topics_add_remove_listener(ed_topics *t, ed_append_listener cb, void *arg)
{
    return add_listener(&t->removed, cb, arg);
}

void ed_topics_del_remove_listener(ed_topics *t, ed_append_listener cb, void *arg)
{
    del_listener(&t->removed, cb, arg);
}

void ed_topics_appended(ed_topics *t, ed_partition *p)
{
    if (t->append.cb) t->append.cb(t->append.arg, p);
    for (int i = 0; i < t->appended.n; i++)
        t->appended.v[i].cb(t->appended.v[i].arg, p);
}
