/* Group commit. A durable waiter (acks=all, QoS >= 1, CoAP CON) completes
 * only after an fdatasync that started after its bytes were written. A
 * log has one flush job in flight; waiters arriving meanwhile wait for the
 * next job, which then covers all of them with one fdatasync. A
 * flusher thread runs the jobs (fdatasync of the segments with unsynced
 * bytes, the folder sync after a roll, the index files of sealed segments),
 * so the loop thread never blocks; finished jobs go back to the loop through
 * the notify callback and ed_storage_run_completions(). Without threads the
 * jobs run inline from ed_storage_tick(). flush.messages and flush.ms bound
 * how long data nobody waits on stays unsynced.
 *
 * Flash wears by the page: each fdatasync writes the partly filled last
 * page of a segment again, whatever little was added to it. So durable
 * waits gather: a log's waits start a sync at once only if its previous
 * sync began at least eddy.flush.gather.ms ago or eddy.flush.gather.bytes
 * are unsynced; otherwise the sync starts when gather.ms has passed since
 * the previous one. A log under light load thus syncs at most 1000 /
 * gather.ms times a second and no wait is held back longer than gather.ms
 * (plus the sync itself); a producer that fills gather.bytes faster is
 * synced as fast as the disk allows, each sync carrying at least that
 * much. gather.ms = 0 syncs as soon as anything waits. A producer held
 * back by its own window (ed_log_flush_soon) is not gathered either: more
 * data cannot come before it is answered.
 *
 * Nor does such a producer wait for the running sync: its log may start a
 * second job beside the first, an fdatasync of the active segment only
 * (nothing else may be pending: no folder sync, index, trim or swap), run
 * by a second flusher thread started at the first need. Jobs complete in
 * the order they were made, whatever order their syncs end in: the second
 * job's target counts on the first job's syncs of other segments, and after
 * a failed first job the second vouches for nothing. */
#include <inttypes.h>
#include <string.h>

#define ED_LOG_MODULE "flush"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/flush.h"
#include "storage/write_ahead.h"

static void syncer_main(void *arg);

/* ---- waiters ---- */

static struct ed_waiter *waiter_get(ed_storage *st)
{
    struct ed_waiter *w = st->free_waiters;
    if (w) {
        st->free_waiters = w->next;
        return w;
    }
    return ed_malloc(sizeof *w);
}

static void waiter_put(ed_storage *st, struct ed_waiter *w)
{
    w->next = st->free_waiters;
    st->free_waiters = w;
}

/* Calls every waiter of a detached list; the log may be gone by then. */
static void call_waiters(ed_storage *st, struct ed_waiter *w, int status)
{
    while (w) {
        struct ed_waiter *next = w->next;
        ed_durable_cb cb = w->cb;
        void *arg = w->arg;
        waiter_put(st, w);
        cb(arg, status);
        w = next;
    }
}

/* Detaches the waiters with offset < below (all if below == INT64_MAX). */
static struct ed_waiter *detach_below(ed_log *log, int64_t below)
{
    struct ed_waiter *head = log->wait_head, **pp = &log->wait_head;
    while (*pp && (*pp)->offset < below)
        pp = &(*pp)->next;
    if (pp == &log->wait_head) return NULL;
    log->wait_head = *pp;
    if (!log->wait_head) log->wait_tail = NULL;
    *pp = NULL;
    return head;
}

void ed_flush_fail_waiters(ed_log *log, int status)
{
    call_waiters(log->st, detach_below(log, INT64_MAX), status);
}

/* ---- jobs ---- */

static bool needs_flush(const ed_log *log)
{
    return log->flush_wanted || log->extra_pending ||
           (log->wait_head && log->wait_head->offset < log->end_offset);
}

/* How long until eddy.flush.gather.ms since log's previous sync has
 * passed (0: it has, or nothing gathers). */
static int64_t gather_time_left(const ed_log *log, int64_t now_ms)
{
    const struct ed_storage_config *c = &log->st->cfg;
    if (log->flush_wanted || c->gather_ms == 0 || log->last_sync_ms == INT64_MIN ||
        now_ms < log->last_sync_ms)
        return 0;
    int64_t left = log->last_sync_ms + (int64_t)c->gather_ms - now_ms;
    return left > 0 ? left : 0;
}

static bool gather_len_reached(const ed_log *log)
{
    uint64_t len = log->st->cfg.gather_len;
    return len > 0 && log->unsynced_len >= len;
}

/* How long log's flush may still gather (0: start it now). */
static int64_t gather_left(ed_log *log, int64_t now_ms)
{
    int64_t left = gather_time_left(log, now_ms);
    if (left == 0) return 0;
    if (gather_len_reached(log)) {
        log->gather_full = true;
        return 0;
    }
    log->gathering = true;
    return left;
}

int64_t ed_log_flush_due_in(const ed_log *log, int64_t now_ms)
{
    return gather_len_reached(log) ? 0 : gather_time_left(log, now_ms);
}

/* The owner's next tick comes within in_ms. */
static void want_tick(ed_storage *st, int64_t now_ms, int64_t in_ms)
{
    if (!st->tick_request || now_ms + in_ms >= st->tick_at_ms) return;
    st->tick_at_ms = now_ms + in_ms;
    st->tick_request(st->tick_request_arg, (uint32_t)in_ms);
}

void ed_storage_set_tick_request(ed_storage *st, void (*request)(void *arg, uint32_t in_ms),
                                 void *arg)
{
    st->tick_request = request;
    st->tick_request_arg = arg;
    st->tick_at_ms = INT64_MAX;
}

static int job_add(struct ed_flush_job *job, const struct ed_flush_seg *fs)
{
    if (job->n_segs == job->cap_segs) {
        uint32_t cap = job->cap_segs ? job->cap_segs * 2 : 4;
        struct ed_flush_seg *p = ed_realloc(job->segs, cap * sizeof *p);
        if (!p) return ED_ERR_NOMEM;
        job->segs = p;
        job->cap_segs = cap;
    }
    job->segs[job->n_segs++] = *fs;
    return ED_OK;
}

/* Fills job with what is unsynced now; an overlapping job takes only the
 * active segment (held by the older job too). */
static int job_build(ed_log *log, struct ed_flush_job *job, bool overlap)
{
    job->log = log;
    job->target = log->end_offset;
    job->n_segs = 0;
    job->status = ED_OK;
    job->overlap = overlap;
    job->ran = false;
    job->next = NULL;
    for (uint32_t i = overlap ? log->n_segs - 1 : 0; i < log->n_segs; i++) {
        ed_segment *seg = log->segs[i];
        /* held by the work handed over (compaction's swap) */
        if (seg->in_job && !overlap) continue;
        struct ed_flush_seg fs = {0};
        fs.seg = seg;
        fs.sync_len = seg->len;
        fs.trim = seg->trim_pending;
        fs.sync = seg->synced_len < seg->len || fs.trim;
        fs.write_index = seg->sealed && !seg->index_on_disk;
        if (!fs.sync && !fs.write_index) continue;
        if (job_add(job, &fs) != ED_OK) {
            job->n_segs = 0;
            return ED_ERR_NOMEM;
        }
    }
    job->sync_dir = log->dir_dirty;
    job->extra = log->extra_pending;
    log->extra_pending = NULL;
    for (uint32_t i = 0; i < job->n_segs; i++) {
        ed_segment_ref(job->segs[i].seg);
        job->segs[i].seg->in_job++;
    }
    log->dir_dirty = false;
    log->flush_wanted = false;
    log->hurry = false;
    log->unflushed_msgs = 0;
    log->unflushed_since_ms = -1;
    log->unsynced_len = 0;
    return ED_OK;
}

/* The flusher's part: only the job's own segments, files and paths. */
static void job_run(struct ed_flush_job *job)
{
    int status = ED_OK;
    bool any_index = false;
    for (uint32_t i = 0; i < job->n_segs && status == ED_OK; i++) {
        struct ed_flush_seg *fs = &job->segs[i];
        /* A segment to sync or trim was not idle when the job was made, so
         * the file cache (fdcache.c) has not closed its file, and cannot
         * while it is in the job. */
        ED_ASSERT(fs->seg->file || (!fs->trim && !fs->sync));
        if (fs->trim) {
            /* Gives back the blocks reserved or written ahead past the end
             * of a sealed segment, or of any at a clean stop (ftruncate to
             * the logical length drops them): such a file is exactly its
             * batches, as Kafka's tools expect. */
            fs->trim_done = ed_plat_file_truncate(fs->seg->file, fs->sync_len) == ED_OK;
        }
        if (fs->sync) status = ed_plat_file_datasync(fs->seg->file);
    }
    if (status == ED_OK) {
        /* A sealed segment's data is on flash now: its index files may
         * appear (open trusts a segment with index files). */
        for (uint32_t i = 0; i < job->n_segs; i++) {
            struct ed_flush_seg *fs = &job->segs[i];
            /* Index files vouch for the file's size: only once trimmed. */
            if (!fs->write_index || (fs->trim && !fs->trim_done)) continue;
            fs->index_done = ed_index_write_files(fs->seg) == ED_OK;
            any_index |= fs->index_done;
        }
    }
    if (status == ED_OK && (job->sync_dir || any_index)) {
        int rc = ed_plat_dir_sync(job->log->dir);
        /* New segment files must be in the folder for their data to count
         * as durable; an index rename that is lost only costs a rescan. */
        if (job->sync_dir) status = rc;
    }
    job->status = status;
    if (job->extra) job->extra->run(job->extra);
}

/* A deleted log's last job ended: its folder goes and the log is freed. */
static void finish_delete(ed_storage *st, ed_log *log)
{
    for (uint32_t i = 0; i < st->n_zombies; i++) {
        if (st->zombies[i] != log) continue;
        st->zombies[i] = st->zombies[--st->n_zombies];
        break;
    }
    ed_log_remove(log);
}

/* The loop's part once a job ran: publish, complete waiters. */
static void job_finish(ed_storage *st, struct ed_flush_job *job)
{
    ed_log *log = job->log;
    /* The older job failed: this one's sync may have found the pages the
     * kernel dropped already clean. */
    if (log->broken && job->status == ED_OK) job->status = log->broken;
    if (job->n_segs > 0 || job->sync_dir) st->stats.n_flushes++;
    uint64_t synced_len = 0;
    for (uint32_t i = 0; i < job->n_segs; i++) {
        struct ed_flush_seg *fs = &job->segs[i];
        ed_segment *seg = fs->seg;
        seg->in_job--;
        if (job->status == ED_OK && fs->sync && seg->synced_len < fs->sync_len)
            synced_len += fs->sync_len - seg->synced_len;
        if (job->status == ED_OK && fs->sync && seg->synced_len < fs->sync_len)
            seg->synced_len = fs->sync_len;
        if (fs->trim_done) {
            seg->trim_pending = false;
            seg->reserved_end = seg->len;
            seg->file_len = seg->len;
        }
        if (fs->index_done) {
            seg->n_disk_off = seg->idx.n_off;
            seg->n_disk_time = seg->idx.n_time;
            seg->index_on_disk = true;
            seg->index_checked = true;
            ed_index_free(&seg->idx);
        }
        ed_segment_unref(seg);
    }
    if (job->status == ED_OK && synced_len > 0) ed_write_ahead_note_sync(log, synced_len);
    if (st->flush_hook && job->status == ED_OK && synced_len > 0)
        st->flush_hook(st->flush_hook_arg, synced_len, ed_plat_clock_mono_ns() - job->start_ns);
    job->n_segs = 0;
    if (job->extra) {
        struct ed_flush_extra *x = job->extra;
        job->extra = NULL;
        x->done(st, x);
    }
    log->n_jobs--;
    log->job_head = log->n_jobs == 0 ? NULL : job == &log->job ? &log->job2 : &log->job;
    log->job_busy = log->n_jobs > 0;
    if (log->deleted) {
        if (!log->job_busy) finish_delete(st, log);
        return;
    }
    struct ed_waiter *ready;
    int status = job->status;
    if (status == ED_OK) {
        if (log->durable_offset < job->target) log->durable_offset = job->target;
        if (log->recovery_point < log->durable_offset) {
            log->recovery_point = log->durable_offset;
            st->rp_dirty = true;
        }
        ready = detach_below(log, log->durable_offset);
    } else {
        /* After a failed fdatasync the kernel may have dropped the dirty
         * pages: no later sync can vouch for them. Refuse further appends
         * and fail every waiter; reopening the storage recovers. */
        if (!log->broken)
            ED_LOG_ERR("%s: flush failed (%s); the log refuses appends until reopened", log->dir,
                       ed_strerror(status));
        log->broken = status;
        ready = detach_below(log, INT64_MAX);
    }
    call_waiters(st, ready, status);
}

/* Completes job once every older job of its log has completed. */
static void finish_in_order(ed_storage *st, struct ed_flush_job *job)
{
    ed_log *log = job->log;
    if (job != log->job_head) {
        job->ran = true;
        return;
    }
    struct ed_flush_job *younger = NULL;
    if (log->n_jobs == 2) younger = job == &log->job ? &log->job2 : &log->job;
    job_finish(st, job); /* the log stays while younger is in flight */
    if (younger && younger->ran) job_finish(st, younger);
}

/* Starts the thread for overlapping jobs at their first need; without it
 * the flusher thread runs them after its other work. */
static void want_thread2(ed_storage *st)
{
    if (st->thread2_tried) return;
    st->thread2_tried = true;
    int rc = ed_plat_thread_start(&st->thread2, syncer_main, st);
    if (rc != ED_OK) {
        st->thread2 = NULL;
        ED_LOG_WARN("no second flusher thread (%s): syncs do not overlap", ed_strerror(rc));
    }
}

static void submit(ed_log *log, int64_t now_ms, bool overlap)
{
    ed_storage *st = log->st;
    struct ed_flush_job *job = &log->job;
    if (log->n_jobs == 1) job = log->job_head == &log->job ? &log->job2 : &log->job;
    if (job_build(log, job, overlap) != ED_OK) {
        log->flush_wanted = true; /* retried from the next tick */
        return;
    }
    if (log->n_jobs++ == 0) log->job_head = job;
    log->job_busy = true;
    job->start_ns = ed_plat_clock_mono_ns();
    if (job->n_segs == 0 && !job->sync_dir && !job->extra) {
        /* Everything appended is already on flash. */
        job_finish(st, job);
        return;
    }
    log->last_sync_ms = now_ms;
    if (log->gather_full)
        st->stats.n_flushes_full++;
    else if (log->gathering)
        st->stats.n_flushes_gathered++;
    log->gathering = false;
    log->gather_full = false;
    if (!st->threaded) {
        job_run(job);
        job_finish(st, job);
        return;
    }
    if (overlap) {
        st->stats.n_flushes_overlapped++;
        want_thread2(st);
    }
    struct ed_flush_job **head = overlap ? &st->sync_head : &st->todo_head;
    struct ed_flush_job **tail = overlap ? &st->sync_tail : &st->todo_tail;
    ed_plat_mutex_lock(st->mu);
    if (*tail)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
    /* A busy flusher takes the job when it is done with its own. */
    if (st->n_idle > 0) ed_plat_cond_broadcast(st->cv);
    ed_plat_mutex_unlock(st->mu);
}

/* A producer held back by its window waits for bytes the running job does
 * not cover, and only the active segment has any: a second job may start. */
static bool can_overlap(const ed_log *log)
{
    const struct ed_flush_job *run = log->job_head;
    if (!log->st->threaded || log->n_jobs != 1 || !log->hurry || log->dir_dirty ||
        log->extra_pending || log->n_segs == 0)
        return false;
    if (run->target >= log->end_offset || !log->wait_tail || log->wait_tail->offset < run->target)
        return false;
    for (uint32_t i = 0; i + 1 < log->n_segs; i++) {
        const ed_segment *seg = log->segs[i];
        if (!seg->in_job && (seg->synced_len < seg->len || seg->trim_pending ||
                             (seg->sealed && !seg->index_on_disk)))
            return false;
    }
    return !log->segs[log->n_segs - 1]->sealed;
}

/* Starts a job for log if one is needed and none is running. Inside
 * ed_storage_run_completions the start waits until every callback ran, so
 * that waiters re-arming from their callbacks share the next flush. */
static void kick(ed_log *log)
{
    ed_storage *st = log->st;
    if (st->in_completions || log->deleted || log->broken) return;
    if (log->job_busy) {
        if (can_overlap(log)) submit(log, ed_plat_clock_wall_ms(), true);
        return;
    }
    if (!needs_flush(log)) return;
    int64_t now = ed_plat_clock_wall_ms();
    int64_t left = gather_left(log, now);
    if (left == 0 && st->threaded)
        submit(log, now, false);
    else
        want_tick(st, now, left); /* without a thread the tick flushes */
}

void ed_flush_request(ed_log *log)
{
    log->flush_wanted = true;
    kick(log);
}

void ed_log_flush_soon(ed_log *log)
{
    log->hurry = true;
    ed_flush_request(log);
}

void ed_flush_note_append(ed_log *log, int64_t n_records, uint64_t len, int64_t now_ms)
{
    log->unsynced_len += len;
    if (log->unflushed_since_ms < 0) log->unflushed_since_ms = now_ms;
    log->unflushed_msgs += n_records;
    if (log->unflushed_msgs >= log->cfg.flush_interval_messages) log->flush_wanted = true;
    kick(log);
}

int ed_log_wait_durable(ed_log *log, int64_t offset, ed_durable_cb cb, void *arg)
{
    if (log->deleted) return ED_ERR_CLOSED;
    if (offset < log->durable_offset) {
        cb(arg, ED_OK);
        return ED_OK;
    }
    if (log->broken) return log->broken;
    struct ed_waiter *w = waiter_get(log->st);
    if (!w) return ED_ERR_NOMEM;
    w->offset = offset;
    w->cb = cb;
    w->arg = arg;
    w->next = NULL;
    if (!log->wait_tail || log->wait_tail->offset <= offset) {
        if (log->wait_tail)
            log->wait_tail->next = w;
        else
            log->wait_head = w;
        log->wait_tail = w;
    } else {
        struct ed_waiter **pp = &log->wait_head;
        while ((*pp)->offset <= offset)
            pp = &(*pp)->next;
        w->next = *pp;
        *pp = w;
    }
    kick(log);
    return ED_OK;
}

/* ---- the flusher threads ---- */

/* The next job for a flusher thread (under mu): the first runs every job,
 * other work first; the second only overlapping ones. */
static struct ed_flush_job *take(ed_storage *st, bool all)
{
    struct ed_flush_job **head = &st->sync_head, **tail = &st->sync_tail;
    if (all && st->todo_head) {
        head = &st->todo_head;
        tail = &st->todo_tail;
    }
    struct ed_flush_job *job = *head;
    if (!job) return NULL;
    *head = job->next;
    if (!*head) *tail = NULL;
    job->next = NULL;
    return job;
}

static void serve(ed_storage *st, bool all)
{
    ed_plat_mutex_lock(st->mu);
    for (;;) {
        struct ed_flush_job *job;
        while (!(job = take(st, all)) && !st->stop) {
            st->n_idle++;
            ed_plat_cond_wait(st->cv, st->mu);
            st->n_idle--;
        }
        if (!job) break; /* stop, and the queues are empty */
        ed_plat_mutex_unlock(st->mu);
        job_run(job);
        ed_plat_mutex_lock(st->mu);
        /* Finished jobs already listed were announced, and the loop has
         * not taken them yet: it takes this one with them, unannounced. */
        bool told = st->done_tail != NULL;
        if (st->done_tail)
            st->done_tail->next = job;
        else
            st->done_head = job;
        st->done_tail = job;
        void (*notify)(void *) = told ? NULL : st->notify;
        void *notify_arg = st->notify_arg;
        ed_plat_mutex_unlock(st->mu);
        if (notify) notify(notify_arg);
        ed_plat_mutex_lock(st->mu);
    }
    ed_plat_mutex_unlock(st->mu);
}

static void flusher_main(void *arg)
{
    serve(arg, true);
}

static void syncer_main(void *arg)
{
    serve(arg, false);
}

int ed_flush_start(ed_storage *st)
{
    st->threaded = false;
    if (!st->cfg.use_flusher_thread || !ed_plat_has_threads()) return ED_OK;
    int rc = ed_plat_mutex_new(&st->mu);
    if (rc == ED_OK) rc = ed_plat_cond_new(&st->cv);
    if (rc == ED_OK) rc = ed_plat_thread_start(&st->thread, flusher_main, st);
    if (rc != ED_OK) {
        ED_LOG_WARN("no flusher thread (%s): flushing inline from the tick", ed_strerror(rc));
        ed_plat_cond_free(st->cv);
        ed_plat_mutex_free(st->mu);
        st->cv = NULL;
        st->mu = NULL;
        return rc == ED_ERR_UNSUPPORTED ? ED_OK : rc;
    }
    st->threaded = true;
    return ED_OK;
}

void ed_flush_stop(ed_storage *st)
{
    if (!st->threaded) return;
    ed_plat_mutex_lock(st->mu);
    st->stop = true;
    ed_plat_cond_broadcast(st->cv);
    ed_plat_mutex_unlock(st->mu);
    ed_plat_thread_join(st->thread);
    ed_plat_thread_join(st->thread2);
    st->thread = NULL;
    st->thread2 = NULL;
    st->thread2_tried = false;
    st->threaded = false;
    ed_storage_run_completions(st);
    ed_plat_cond_free(st->cv);
    ed_plat_mutex_free(st->mu);
    st->cv = NULL;
    st->mu = NULL;
}

void ed_storage_set_notify(ed_storage *st, void (*notify)(void *arg), void *arg)
{
    if (st->mu) ed_plat_mutex_lock(st->mu);
    st->notify = notify;
    st->notify_arg = arg;
    /* Jobs that finished before there was anyone to tell (flushes started
     * while the logs were opened) are announced now, or their waiters would
     * wait until something else woke the loop. */
    bool pending = st->done_head != NULL;
    if (st->mu) ed_plat_mutex_unlock(st->mu);
    if (pending && notify) notify(arg);
}

void ed_storage_run_completions(ed_storage *st)
{
    if (!st->mu) return;
    ed_plat_mutex_lock(st->mu);
    struct ed_flush_job *job = st->done_head;
    st->done_head = st->done_tail = NULL;
    ed_plat_mutex_unlock(st->mu);
    if (!job) return;
    bool nested = st->in_completions;
    st->in_completions = true;
    while (job) {
        struct ed_flush_job *next = job->next;
        job->next = NULL;
        finish_in_order(st, job);
        job = next;
    }
    st->in_completions = nested;
    if (nested) return;
    for (uint32_t i = 0; i < st->n_logs; i++)
        kick(st->logs[i]);
}

uint32_t ed_flush_tick(ed_storage *st, int64_t now_ms)
{
    int64_t next = INT32_MAX;
    for (uint32_t i = 0; i < st->n_logs; i++) {
        ed_log *log = st->logs[i];
        if (log->unflushed_since_ms >= 0) {
            int64_t due = log->unflushed_since_ms + log->cfg.flush_interval_ms;
            if (now_ms >= due)
                log->flush_wanted = true;
            else if (due - now_ms < next)
                next = due - now_ms;
        }
        if (log->job_busy || log->broken || log->deleted || !needs_flush(log)) continue;
        int64_t left = gather_left(log, now_ms);
        if (left > 0) {
            if (left < next) next = left;
            continue;
        }
        bool nested = st->in_completions;
        if (!st->threaded) st->in_completions = true;
        submit(log, now_ms, false);
        st->in_completions = nested;
    }
    return (uint32_t)next;
}

void ed_flush_all_now(ed_storage *st)
{
    ed_flush_stop(st);
    for (uint32_t i = 0; i < st->n_logs; i++) {
        ed_log *log = st->logs[i];
        if (!log->job_busy && !log->broken) submit(log, ed_plat_clock_wall_ms(), false);
        /* Whatever still waits asks for offsets never appended. */
        ed_flush_fail_waiters(log, ED_ERR_CLOSED);
    }
}
