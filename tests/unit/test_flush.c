/* Group commit. fdatasync is interposed here (the test binary's definition
 * wins over the C library's) to count calls, to hold the flusher inside a
 * call, and to make one fail. Proves: a durable waiter completes only after
 * an fdatasync that covers its bytes; waiters that arrive while a flush runs
 * share the next one; flush.messages and flush.ms flush data nobody waits
 * on; deleted logs and closed storage complete their waiters; a failed
 * fdatasync fails waiters and stops appends. Both with the flusher thread
 * and inline from the tick. A producer held back by its window gets a
 * second sync beside the running one; jobs complete in the order they were
 * made, each waiter only after a sync that began after its bytes, and other
 * waits still gather. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log_testutil.h"
#include "platform/mem.h"
#include "storage/log.h"
#include "storage/log_int.h" /* white box: the finished-jobs list */

/* ---- the interposed fdatasync ---- */
static atomic_int n_syncs;
static atomic_int fail_errno;
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static atomic_bool blocked;
static atomic_int n_blocked;  /* calls held at the closed gate */
static unsigned gate_tickets; /* calls that met the closed gate, in order */
static unsigned gate_passes;  /* bit k: the k-th of them may go on */

int fdatasync(int fd)
{
    pthread_mutex_lock(&gate_mu);
    if (gate_closed) {
        unsigned t = gate_tickets++;
        atomic_fetch_add(&n_blocked, 1);
        atomic_store(&blocked, true);
        while (gate_closed && !(gate_passes & (1u << t)))
            pthread_cond_wait(&gate_cv, &gate_mu);
        atomic_store(&blocked, atomic_fetch_sub(&n_blocked, 1) > 1);
    }
    pthread_mutex_unlock(&gate_mu);
    int e = atomic_exchange(&fail_errno, 0);
    if (e) {
        errno = e;
        return -1;
    }
    atomic_fetch_add(&n_syncs, 1);
    return (int)syscall(SYS_fdatasync, fd);
}

static void gate(bool closed)
{
    pthread_mutex_lock(&gate_mu);
    gate_closed = closed;
    gate_tickets = 0;
    gate_passes = 0;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* Lets the ticket-th call held at the closed gate go on. */
static void let_through(unsigned ticket)
{
    pthread_mutex_lock(&gate_mu);
    gate_passes |= 1u << ticket;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* However long the flusher threads take to get there: no time limit. */
static void wait_blocked(int n)
{
    while (atomic_load(&n_blocked) < n)
        usleep(1000);
}

/* ---- fixture ---- */
struct fx {
    char *dir;
    ed_storage *st;
    ed_log *log;
    struct ed_storage_config cfg;
};

static atomic_int n_notified;
static void on_notify(void *arg)
{
    (void)arg;
    atomic_fetch_add(&n_notified, 1);
}

/* eddy.flush.gather.* of the next start (0: sync at once) */
static uint32_t next_gather_ms;
static uint64_t next_gather_len;

static void start(struct fx *f, bool threaded, const struct ed_log_config *lc)
{
    f->dir = lt_tmpdir();
    lt_config(&f->cfg, f->dir, threaded);
    f->cfg.gather_ms = next_gather_ms;
    f->cfg.gather_len = next_gather_len;
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    ed_storage_set_notify(f->st, on_notify, NULL);
    assert_int_equal(ed_storage_create_log(f->st, "t", 0, lc, &f->log), ED_OK);
    lt_wait_durable_all(f->st, f->log); /* the flush after creation */
}

static void stop(struct fx *f)
{
    if (f->st) ed_storage_close(f->st);
    lt_rmtree(f->dir);
    free(f->dir);
}

static int64_t append1(struct fx *f)
{
    uint8_t buf[4096];
    size_t len = lt_batch(buf, sizeof buf, 2, 100, ed_plat_clock_wall_ms(), 1, 7);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(f->log, buf, len, &r), ED_OK);
    return r.last_offset;
}

struct waiter {
    struct fx *f;
    int64_t offset;
    volatile bool done;
    int status;
    int syncs_seen;  /* fdatasync calls made when the callback ran */
    int64_t durable; /* the log's durable offset then */
    int rank;        /* completions before this one, all waiters counted */
};

static int n_completed;

static void on_durable(void *arg, int status)
{
    struct waiter *w = arg;
    assert_false(w->done);
    w->done = true;
    w->status = status;
    w->syncs_seen = atomic_load(&n_syncs);
    w->rank = n_completed++;
    w->durable = status == ED_OK ? ed_log_durable_offset(w->f->log) : -1;
}

static void wait_on(struct fx *f, struct waiter *w, int64_t offset)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->offset = offset;
    assert_int_equal(ed_log_wait_durable(f->log, offset, on_durable, w), ED_OK);
}

static void test_inline_waiters_share_one_flush(void **state)
{
    (void)state;
    struct fx f = {0};
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    start(&f, false, &lc);
    struct ed_storage_stats s0, s1;
    ed_storage_stats_get(f.st, &s0);
    int syncs0 = atomic_load(&n_syncs);
    struct waiter w[3];
    for (int i = 0; i < 3; i++)
        wait_on(&f, &w[i], append1(&f));
    /* Nothing is durable before the flush. */
    for (int i = 0; i < 3; i++)
        assert_false(w[i].done);
    assert_int_equal(atomic_load(&n_syncs), syncs0);
    assert_true(ed_log_durable_offset(f.log) <= w[0].offset);
    ed_storage_run_completions(f.st); /* no thread: nothing to run */
    assert_false(w[0].done);
    ed_storage_tick(f.st, ed_plat_clock_wall_ms());
    for (int i = 0; i < 3; i++) {
        assert_true(w[i].done);
        assert_int_equal(w[i].status, ED_OK);
        assert_int_equal(w[i].syncs_seen, syncs0 + 1);
        assert_true(w[i].durable > w[i].offset);
    }
    ed_storage_stats_get(f.st, &s1);
    assert_int_equal(s1.n_flushes, s0.n_flushes + 1);
    /* Already durable: completes at once, no new flush. */
    struct waiter again;
    wait_on(&f, &again, w[1].offset);
    assert_true(again.done);
    assert_int_equal(atomic_load(&n_syncs), syncs0 + 1);
    stop(&f);
}

static void test_threaded_group_commit(void **state)
{
    (void)state;
    struct fx f = {0};
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    start(&f, true, &lc);
    int syncs0 = atomic_load(&n_syncs);
    atomic_store(&n_notified, 0);

    /* A is written and waited on: the flusher starts an fdatasync for it,
     * and we hold it inside that call. */
    gate(true);
    struct waiter a, later[8];
    wait_on(&f, &a, append1(&f));
    /* However long the flusher takes to get there (a loaded machine's
     * disk can take seconds): no time limit in the test itself. */
    while (!atomic_load(&blocked))
        usleep(1000);
    /* Eight more producers append and wait while that flush runs. */
    for (int i = 0; i < 8; i++)
        wait_on(&f, &later[i], append1(&f));
    for (int k = 0; k < 20; k++) {
        ed_storage_run_completions(f.st);
        usleep(500);
    }
    /* No one is complete while the fdatasync has not returned. */
    assert_false(a.done);
    for (int i = 0; i < 8; i++)
        assert_false(later[i].done);
    gate(false);
    lt_wait_flag(f.st, &a.done);
    for (int i = 0; i < 8; i++)
        lt_wait_flag(f.st, &later[i].done);
    assert_int_equal(a.status, ED_OK);
    assert_int_equal(a.syncs_seen, syncs0 + 1);
    /* The eight shared exactly one more fdatasync. */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(later[i].status, ED_OK);
        assert_int_equal(later[i].syncs_seen, syncs0 + 2);
        assert_true(later[i].durable > later[i].offset);
    }
    assert_int_equal(atomic_load(&n_syncs), syncs0 + 2);
    assert_true(atomic_load(&n_notified) >= 2);
    stop(&f);
}

static int n_tick_requests;
static uint32_t tick_request_ms;
static void on_tick_request(void *arg, uint32_t in_ms)
{
    (void)arg;
    n_tick_requests++;
    tick_request_ms = in_ms;
}

/* eddy.flush.gather.ms with the flusher thread: a wait soon after a sync
 * starts no sync but asks for a tick when the gathering ends; gather.bytes
 * unsynced start the sync at once; the tick starts it once gather.ms has
 * passed; every acknowledgement follows the fdatasync that covers it. */
static void test_threaded_gathering(void **state)
{
    (void)state;
    struct fx f = {0};
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    next_gather_ms = 30000; /* longer than the test: only the tick ends it */
    next_gather_len = 8192;
    start(&f, true, &lc); /* the folder sync after creation began gather.ms */
    next_gather_ms = 0;
    next_gather_len = 0;
    ed_storage_set_tick_request(f.st, on_tick_request, NULL);
    n_tick_requests = 0;
    int syncs0 = atomic_load(&n_syncs);
    struct ed_storage_stats s0, s1;
    ed_storage_stats_get(f.st, &s0);

    struct waiter a, b, c;
    wait_on(&f, &a, append1(&f));
    assert_int_equal(n_tick_requests, 1);
    assert_true(tick_request_ms > 0 && tick_request_ms <= 30000);
    assert_false(f.log->job_busy); /* gathering: no job */
    ed_storage_tick(f.st, ed_plat_clock_wall_ms());
    for (int k = 0; k < 20; k++) {
        ed_storage_run_completions(f.st);
        usleep(500);
    }
    assert_false(a.done);
    assert_int_equal(atomic_load(&n_syncs), syncs0);

    /* 8 KiB unsynced: the sync starts at once and covers a too. */
    static uint8_t big[12000];
    size_t len = lt_batch(big, sizeof big, 4, 2000, ed_plat_clock_wall_ms(), 1, 7);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(f.log, big, len, &r), ED_OK);
    wait_on(&f, &b, r.last_offset);
    lt_wait_flag(f.st, &a.done);
    lt_wait_flag(f.st, &b.done);
    assert_int_equal(a.status, ED_OK);
    assert_int_equal(a.syncs_seen, syncs0 + 1);
    assert_int_equal(b.syncs_seen, syncs0 + 1);
    assert_true(b.durable > b.offset);

    /* A small one gathers again until a tick after gather.ms. */
    wait_on(&f, &c, append1(&f));
    for (int k = 0; k < 20; k++) {
        ed_storage_run_completions(f.st);
        usleep(500);
    }
    assert_false(c.done);
    ed_storage_tick(f.st, ed_plat_clock_wall_ms() + 30001);
    lt_wait_flag(f.st, &c.done);
    assert_int_equal(c.status, ED_OK);
    assert_int_equal(c.syncs_seen, syncs0 + 2);
    ed_storage_stats_get(f.st, &s1);
    assert_int_equal(s1.n_flushes_full, s0.n_flushes_full + 1);
    assert_int_equal(s1.n_flushes_gathered, s0.n_flushes_gathered + 1);
    stop(&f);
}

static void test_flush_messages_and_ms(void **state)
{
    (void)state;
    struct fx f = {0};
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    lc.flush_interval_messages = 4;
    lc.flush_interval_ms = 60000;
    start(&f, false, &lc);
    int syncs0 = atomic_load(&n_syncs);
    int64_t now = ed_plat_clock_wall_ms();
    append1(&f); /* 2 records */
    ed_storage_tick(f.st, now);
    assert_int_equal(atomic_load(&n_syncs), syncs0);
    append1(&f); /* 4 records: flush.messages reached */
    ed_storage_tick(f.st, now);
    assert_int_equal(atomic_load(&n_syncs), syncs0 + 1);
    assert_true(ed_log_durable_offset(f.log) == ed_log_end_offset(f.log));

    /* flush.ms: one record's batch waits until the interval passed. */
    lc.flush_interval_messages = INT64_MAX;
    lc.flush_interval_ms = 1000;
    ed_log_set_config(f.log, &lc);
    append1(&f);
    ed_storage_tick(f.st, now + 10);
    assert_int_equal(atomic_load(&n_syncs), syncs0 + 1);
    uint32_t next = ed_storage_tick(f.st, now + 20);
    assert_true(next <= 1000);
    ed_storage_tick(f.st, now + 5000);
    assert_int_equal(atomic_load(&n_syncs), syncs0 + 2);
    assert_true(ed_log_durable_offset(f.log) == ed_log_end_offset(f.log));
    stop(&f);
}

static void test_delete_and_close_complete_waiters(void **state)
{
    (void)state;
    struct fx f = {0};
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    start(&f, false, &lc);
    struct waiter w1, w2, w3;
    wait_on(&f, &w1, append1(&f));
    ed_log *other;
    assert_int_equal(ed_storage_create_log(f.st, "u", 1, &lc, &other), ED_OK);
    ed_log *keep = f.log;
    assert_int_equal(ed_storage_delete_log(f.st, keep), ED_OK);
    assert_true(w1.done);
    assert_int_equal(w1.status, ED_ERR_CLOSED);

    /* Close: an appended offset is flushed, a future one is refused. */
    f.log = other;
    int64_t off = append1(&f);
    wait_on(&f, &w2, off);
    wait_on(&f, &w3, off + 100);
    ed_storage_close(f.st);
    f.st = NULL;
    assert_true(w2.done && w2.status == ED_OK);
    assert_true(w3.done && w3.status == ED_ERR_CLOSED);
    stop(&f);
}

static void test_failed_sync(void **state)
{
    (void)state;
    struct fx f = {0};
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    start(&f, true, &lc);
    struct waiter w;
    atomic_store(&fail_errno, EIO);
    wait_on(&f, &w, append1(&f));
    lt_wait_flag(f.st, &w.done);
    assert_int_equal(w.status, ED_ERR_IO);
    uint8_t buf[4096];
    size_t len = lt_batch(buf, sizeof buf, 1, 10, 1, 1, 1);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(f.log, buf, len, &r), ED_ERR_IO);
    /* Reopening recovers: what is in the file is valid and syncs again. */
    ed_storage_close(f.st);
    assert_int_equal(ed_storage_open(&f.cfg, &f.st), ED_OK);
    f.log = lt_find_log(f.st, "t", 0);
    assert_non_null(f.log);
    lt_wait_durable_all(f.st, f.log);
    assert_int_equal(ed_log_append(f.log, buf, len, &r), ED_OK);
    stop(&f);
}

/* Runs the completions of the job the next notify announces (the flusher
 * parks a job on the finished list before it notifies). */
static void complete_next(struct fx *f, int notified_before)
{
    while (atomic_load(&n_notified) == notified_before)
        usleep(1000);
    ed_storage_run_completions(f->st);
}

/* A log with default settings and the flusher thread. */
static void start_threaded(struct fx *f)
{
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    start(f, true, &lc);
}

/* Closes the gate, then a waits in job A (the gate's ticket 0) and b, held
 * back by its window, in job B beside it (ticket 1). */
static void two_jobs(struct fx *f, struct waiter *a, struct waiter *b)
{
    gate(true);
    wait_on(f, a, append1(f));
    wait_blocked(1);
    wait_on(f, b, append1(f));
    assert_int_equal(f->log->n_jobs, 1); /* nobody is held back by a window yet */
    ed_log_flush_soon(f->log);
    assert_int_equal(f->log->n_jobs, 2);
    wait_blocked(2); /* B's fdatasync began after b's bytes were written */
}

/* Two jobs in flight, their syncs ending in the other order: the younger
 * job's waiters complete only after the older job's, and after them. */
static void test_overlap_completes_in_order(void **state)
{
    (void)state;
    struct fx f = {0};
    start_threaded(&f);
    int syncs0 = atomic_load(&n_syncs);
    struct ed_storage_stats s0, s1;
    ed_storage_stats_get(f.st, &s0);
    struct waiter a, b;
    two_jobs(&f, &a, &b);
    int nn = atomic_load(&n_notified);
    let_through(1);
    complete_next(&f, nn);
    assert_false(a.done);
    assert_false(b.done);
    assert_int_equal(f.log->n_jobs, 2);
    let_through(0);
    lt_wait_flag(f.st, &a.done);
    lt_wait_flag(f.st, &b.done);
    gate(false);
    assert_int_equal(a.status, ED_OK);
    assert_int_equal(b.status, ED_OK);
    assert_true(a.rank < b.rank);
    assert_true(b.durable > b.offset);
    assert_int_equal(atomic_load(&n_syncs), syncs0 + 2);
    assert_int_equal(f.log->n_jobs, 0);
    ed_storage_stats_get(f.st, &s1);
    assert_int_equal(s1.n_flushes_overlapped, s0.n_flushes_overlapped + 1);
    stop(&f);
}

/* A sync that began before a waiter's bytes were written never completes
 * it, however the jobs overlap; at most two jobs run for a log. */
static void test_overlap_waits_for_a_later_sync(void **state)
{
    (void)state;
    struct fx f = {0};
    start_threaded(&f);
    int syncs0 = atomic_load(&n_syncs);
    struct waiter a, b, c;
    two_jobs(&f, &a, &b);
    wait_on(&f, &c, append1(&f));
    ed_log_flush_soon(f.log);
    assert_int_equal(f.log->n_jobs, 2); /* c waits for a third job */
    int nn = atomic_load(&n_notified);
    let_through(0); /* A ends: it began before b's and c's bytes */
    complete_next(&f, nn);
    assert_true(a.done);
    assert_false(b.done);
    assert_false(c.done);
    wait_blocked(2); /* the third job's sync, made once A completed */
    nn = atomic_load(&n_notified);
    let_through(1); /* B ends: it began before c's bytes */
    complete_next(&f, nn);
    assert_true(b.done);
    assert_false(c.done);
    assert_int_equal(b.syncs_seen, syncs0 + 2);
    let_through(2);
    lt_wait_flag(f.st, &c.done);
    gate(false);
    assert_int_equal(c.status, ED_OK);
    assert_int_equal(c.syncs_seen, syncs0 + 3);
    assert_true(c.durable > c.offset);
    stop(&f);
}

/* eddy.flush.gather.ms still bounds the syncs of waits nobody hurries:
 * while a job runs they start no second one, and once it ended they gather
 * until gather.ms after the last sync began (the overlapping one too). */
static void test_overlap_keeps_gathering(void **state)
{
    (void)state;
    struct fx f = {0};
    next_gather_ms = 30000; /* longer than the test: only the tick ends it */
    start_threaded(&f);
    next_gather_ms = 0;
    int syncs0 = atomic_load(&n_syncs);
    gate(true);
    struct waiter a, b, c;
    wait_on(&f, &a, append1(&f));
    assert_int_equal(f.log->n_jobs, 0); /* gathering */
    ed_log_flush_soon(f.log);           /* a window is full */
    assert_int_equal(f.log->n_jobs, 1);
    wait_blocked(1);
    wait_on(&f, &b, append1(&f));
    assert_int_equal(f.log->n_jobs, 1);
    ed_log_flush_soon(f.log);
    assert_int_equal(f.log->n_jobs, 2);
    wait_blocked(2);
    gate(false);
    lt_wait_flag(f.st, &a.done);
    lt_wait_flag(f.st, &b.done);
    assert_int_equal(atomic_load(&n_syncs), syncs0 + 2);
    /* Light load again: one small wait, no hurry. */
    wait_on(&f, &c, append1(&f));
    for (int k = 0; k < 20; k++) {
        ed_storage_run_completions(f.st);
        usleep(500);
    }
    assert_false(c.done);
    assert_int_equal(f.log->n_jobs, 0);
    ed_storage_tick(f.st, ed_plat_clock_wall_ms() + 30001);
    lt_wait_flag(f.st, &c.done);
    assert_int_equal(c.syncs_seen, syncs0 + 3);
    stop(&f);
}

static void test_no_leaks(void **state)
{
    (void)state;
    struct ed_mem_stats m;
    ed_mem_stats_get(&m);
    assert_int_equal(m.cur_len, 0);
}

/* A flush that finishes before the owner installs its notify callback (the
 * flushes started while recovered logs are opened) is announced when the
 * callback is installed, so its waiters do not wait for some unrelated
 * wake-up of the loop. */
static bool has_done_jobs(ed_storage *st)
{
    ed_plat_mutex_lock(st->mu);
    bool done = st->done_head != NULL;
    ed_plat_mutex_unlock(st->mu);
    return done;
}

static void test_notify_set_after_flush_finished(void **state)
{
    (void)state;
    struct fx f = {0};
    f.dir = lt_tmpdir();
    lt_config(&f.cfg, f.dir, true);
    assert_int_equal(ed_storage_open(&f.cfg, &f.st), ED_OK);
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    assert_int_equal(ed_storage_create_log(f.st, "t", 0, &lc, &f.log), ED_OK);
    struct waiter w;
    wait_on(&f, &w, append1(&f));
    /* No notify yet: wait until the flusher has parked the job, however
     * long that takes on a loaded machine. */
    while (!has_done_jobs(f.st))
        usleep(1000);
    atomic_store(&n_notified, 0);
    ed_storage_set_notify(f.st, on_notify, NULL);
    assert_int_equal(atomic_load(&n_notified), 1);
    assert_false(w.done);
    ed_storage_run_completions(f.st);
    lt_wait_flag(f.st, &w.done);
    assert_int_equal(w.status, ED_OK);
    stop(&f);
}

/* Jobs that finish while the loop has not yet taken the finished ones are
 * announced once: one wake-up of the loop completes them all. */
static int n_done_jobs(ed_storage *st)
{
    int n = 0;
    ed_plat_mutex_lock(st->mu);
    for (const struct ed_flush_job *j = st->done_head; j; j = j->next)
        n++;
    ed_plat_mutex_unlock(st->mu);
    return n;
}

static void test_finished_jobs_announced_once(void **state)
{
    (void)state;
    struct fx f = {0};
    start_threaded(&f);
    struct fx g = f; /* a second log of the same storage */
    struct ed_log_config lc;
    ed_log_config_default(&lc);
    assert_int_equal(ed_storage_create_log(f.st, "u", 0, &lc, &g.log), ED_OK);
    lt_wait_durable_all(f.st, g.log);
    gate(true);
    struct waiter a, b;
    wait_on(&f, &a, append1(&f));
    wait_blocked(1);              /* a's job is inside its fdatasync */
    wait_on(&g, &b, append1(&g)); /* b's job waits behind it */
    int nn = atomic_load(&n_notified);
    gate(false);
    while (n_done_jobs(f.st) < 2)
        usleep(1000);
    assert_int_equal(atomic_load(&n_notified), nn + 1);
    assert_false(a.done);
    assert_false(b.done);
    ed_storage_run_completions(f.st);
    assert_true(a.done);
    assert_true(b.done);
    assert_int_equal(a.status, ED_OK);
    assert_int_equal(b.status, ED_OK);
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inline_waiters_share_one_flush),
        cmocka_unit_test(test_threaded_group_commit),
        cmocka_unit_test(test_threaded_gathering),
        cmocka_unit_test(test_flush_messages_and_ms),
        cmocka_unit_test(test_delete_and_close_complete_waiters),
        cmocka_unit_test(test_failed_sync),
        cmocka_unit_test(test_notify_set_after_flush_finished),
        cmocka_unit_test(test_finished_jobs_announced_once),
        cmocka_unit_test(test_overlap_completes_in_order),
        cmocka_unit_test(test_overlap_waits_for_a_later_sync),
        cmocka_unit_test(test_overlap_keeps_gathering),
        cmocka_unit_test(test_no_leaks),
    };
    return cmocka_run_group_tests_name("flush", tests, NULL, NULL);
}
