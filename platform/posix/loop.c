/* The POSIX event loop: level-triggered epoll, a binary timer heap, eventfd
 * wake-ups from other threads, and SIGTERM/SIGINT delivered through an
 * eventfd written by the signal handler (works whatever threads exist and
 * whatever their signal masks, unlike signalfd).
 *
 * Level triggering is deliberate: a paused stream simply drops EPOLLIN from
 * its mask (backpressure) and nothing is lost or needs re-arming; the cost is
 * one epoll_ctl per mask change, which happens only on state changes. */
#define _GNU_SOURCE
#define ED_LOG_MODULE "loop"
#include "platform/net.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/posix/posix_int.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS 64

struct ed_loop {
    int epfd;
    struct ed_posix_io ctl; /* eventfd: stop requests and signals */
    atomic_bool stop;
    uint64_t now_ms;
    ed_timer **heap; /* 1-based binary min-heap on due_ms */
    size_t n_heap;
    size_t cap_heap;
    struct ed_posix_io *dead; /* closed, freed after the current batch */
    void (*sig_cb)(void *arg);
    void *sig_arg;
    void (*hup_cb)(void *arg);
    void *hup_arg;
    bool sig_installed;
};

struct ed_wakeup {
    struct ed_posix_io io; /* first member: freed through the graveyard */
    ed_loop *loop;
    void (*cb)(void *arg);
    void *arg;
};

/* The signal handler can only reach the loop through globals. */
static int sig_fd = -1;
static atomic_int sig_pending;
static atomic_int hup_pending;

static void kick(int fd)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(fd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
    /* EAGAIN means the counter is already non-zero: the loop will wake. */
}

static void drain(int fd)
{
    uint64_t v;
    ssize_t n;
    do
        n = read(fd, &v, sizeof v);
    while (n < 0 && errno == EINTR);
}

/* ---- descriptors ---- */

int ed_posix_io_set(ed_loop *l, struct ed_posix_io *io, uint32_t events)
{
    if (io->fd < 0) return ED_ERR_CLOSED;
    if (io->registered && io->events == events) return ED_OK;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    int op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, io->fd, &ev) < 0) {
        int e = errno;
        ED_LOG_ERR("epoll_ctl fd %d: %s", io->fd, strerror(e));
        return ed_posix_err(e);
    }
    io->registered = true;
    io->events = events;
    return ED_OK;
}

void ed_posix_io_unwatch(ed_loop *l, struct ed_posix_io *io)
{
    if (io->fd >= 0 && io->registered) epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->registered = false;
}

void ed_posix_io_close(ed_loop *l, struct ed_posix_io *io)
{
    if (io->fd >= 0) {
        if (io->registered) epoll_ctl(l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
        close(io->fd);
        io->fd = -1;
        io->registered = false;
    }
    io->next_dead = l->dead;
    l->dead = io;
}

static void bury(ed_loop *l)
{
    while (l->dead) {
        struct ed_posix_io *io = l->dead;
        l->dead = io->next_dead;
        ed_free(io);
    }
}

/* ---- timers ---- */

static void heap_put(ed_loop *l, size_t i, ed_timer *t)
{
    l->heap[i] = t; /* NOLINT(clang-analyzer-core.NullDereference): heap grown by the caller */
    t->heap_idx = i;
}

static void sift_up(ed_loop *l, size_t i)
{
    ed_timer *t = l->heap[i];
    while (i > 1 && l->heap[i / 2]->due_ms > t->due_ms) {
        heap_put(l, i, l->heap[i / 2]);
        i /= 2;
    }
    heap_put(l, i, t);
}

static void sift_down(ed_loop *l, size_t i)
{
    ed_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i;
        if (c > l->n_heap) break;
        if (c + 1 <= l->n_heap && l->heap[c + 1]->due_ms < l->heap[c]->due_ms) c++;
        if (l->heap[c]->due_ms >= t->due_ms) break;
        heap_put(l, i, l->heap[c]);
        i = c;
    }
    heap_put(l, i, t);
}

void ed_plat_timer_stop(ed_loop *l, ed_timer *t)
{
    size_t i = t->heap_idx;
    if (i == 0) return;
    ED_ASSERT(i <= l->n_heap && l->heap[i] == t);
    t->heap_idx = 0;
    ed_timer *last = l->heap[l->n_heap--];
    if (last == t) return;
    heap_put(l, i, last);
    sift_up(l, i);
    sift_down(l, last->heap_idx);
}

void ed_plat_timer_start(ed_loop *l, ed_timer *t, uint32_t delay_ms, ed_timer_cb cb, void *arg)
{
    ed_plat_timer_stop(l, t);
    t->due_ms = ed_plat_clock_mono_ms() + delay_ms;
    t->cb = cb;
    t->arg = arg;
    if (l->n_heap + 1 >= l->cap_heap) {
        size_t cap = l->cap_heap ? l->cap_heap * 2 : 64;
        ed_timer **h = ed_realloc(l->heap, cap * sizeof *h);
        if (!h) {
            /* A timer that cannot be armed would silently never fire: this
             * is an out-of-memory condition the process cannot recover. */
            ED_LOG_ERR("timer heap: out of memory");
            ed_plat_abort();
        }
        l->heap = h;
        l->cap_heap = cap;
    }
    l->n_heap++;
    heap_put(l, l->n_heap, t);
    sift_up(l, l->n_heap);
}

static void run_timers(ed_loop *l)
{
    uint64_t now = ed_plat_clock_mono_ms();
    l->now_ms = now;
    /* Timers armed by callbacks for 0 ms are due "now" but run in the next
     * round so a self-re-arming timer cannot starve I/O. */
    size_t budget = l->n_heap;
    while (budget-- > 0 && l->n_heap > 0 && l->heap[1]->due_ms <= now) {
        ed_timer *t = l->heap[1];
        ed_plat_timer_stop(l, t);
        t->cb(t, t->arg);
    }
}

static int next_timeout(const ed_loop *l)
{
    if (l->n_heap == 0) return -1;
    uint64_t now = ed_plat_clock_mono_ms();
    uint64_t due = l->heap[1]->due_ms;
    if (due <= now) return 0;
    uint64_t d = due - now;
    return d > INT_MAX ? INT_MAX : (int)d;
}

/* ---- the loop ---- */

static void on_ctl(struct ed_posix_io *io, uint32_t events)
{
    ED_UNUSED(events);
    ed_loop *l = (ed_loop *)((char *)io - offsetof(ed_loop, ctl));
    drain(io->fd);
    if (atomic_exchange(&sig_pending, 0) && l->sig_cb) l->sig_cb(l->sig_arg);
    if (atomic_exchange(&hup_pending, 0) && l->hup_cb) l->hup_cb(l->hup_arg);
}

int ed_plat_loop_new(ed_loop **out)
{
    ed_loop *l = ed_calloc(1, sizeof *l);
    if (!l) return ED_ERR_NOMEM;
    l->ctl.fd = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) goto fail;
    l->ctl.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->ctl.fd < 0) goto fail;
    l->ctl.on_event = on_ctl;
    if (ed_posix_io_set(l, &l->ctl, EPOLLIN) != ED_OK) goto fail;
    atomic_init(&l->stop, false);
    l->now_ms = ed_plat_clock_mono_ms();
    *out = l;
    return ED_OK;
fail:;
    int e = errno;
    ED_LOG_ERR("loop: %s", strerror(e));
    if (l->ctl.fd >= 0) close(l->ctl.fd);
    if (l->epfd >= 0) close(l->epfd);
    ed_free(l);
    return ed_posix_err(e);
}

void ed_plat_loop_free(ed_loop *l)
{
    if (!l) return;
    if (l->sig_installed) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        if (l->hup_cb) signal(SIGHUP, SIG_DFL);
        sig_fd = -1;
    }
    bury(l);
    close(l->ctl.fd);
    close(l->epfd);
    ed_free(l->heap);
    ed_free(l);
}

/* One round: due timers, then the events epoll has within timeout_ms
 * (-1: until the next timer). */
static int round_once(ed_loop *l, struct epoll_event *evs, int timeout_ms)
{
    run_timers(l);
    bury(l);
    if (atomic_load(&l->stop)) return ED_OK;
    int t = next_timeout(l);
    if (timeout_ms >= 0 && (t < 0 || t > timeout_ms)) t = timeout_ms;
    int n = epoll_wait(l->epfd, evs, MAX_EVENTS, t);
    if (n < 0) {
        if (errno == EINTR) return ED_OK;
        int e = errno;
        ED_LOG_ERR("epoll_wait: %s", strerror(e));
        return ed_posix_err(e);
    }
    l->now_ms = ed_plat_clock_mono_ms();
    for (int i = 0; i < n; i++) {
        struct ed_posix_io *io = evs[i].data.ptr;
        if (io->fd >= 0) io->on_event(io, evs[i].events);
    }
    return ED_OK;
}

int ed_plat_loop_run(ed_loop *l)
{
    struct epoll_event evs[MAX_EVENTS];
    /* A stop requested before run (another thread, a signal) is honoured;
     * the request is consumed when run returns, so the loop can run again. */
    while (!atomic_load(&l->stop)) {
        int rc = round_once(l, evs, -1);
        if (rc != ED_OK) return rc;
    }
    bury(l);
    atomic_store(&l->stop, false);
    return ED_OK;
}

int ed_plat_loop_run_once(ed_loop *l, int timeout_ms)
{
    struct epoll_event evs[MAX_EVENTS];
    int rc = round_once(l, evs, timeout_ms < 0 ? 0 : timeout_ms);
    run_timers(l); /* timers the events armed for now */
    bury(l);
    return rc;
}

void ed_plat_loop_stop(ed_loop *l)
{
    atomic_store(&l->stop, true);
    kick(l->ctl.fd);
}

uint64_t ed_plat_loop_now_ms(const ed_loop *l)
{
    return l->now_ms;
}

/* ---- signals ---- */

static void on_signal(int sig)
{
    int saved = errno;
    atomic_store(sig == SIGHUP ? &hup_pending : &sig_pending, 1);
    if (sig_fd >= 0) kick(sig_fd);
    errno = saved;
}

int ed_plat_loop_on_signal(ed_loop *l, void (*cb)(void *arg), void *arg)
{
    l->sig_cb = cb;
    l->sig_arg = arg;
    sig_fd = l->ctl.fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0) {
        int e = errno;
        ED_LOG_ERR("sigaction: %s", strerror(e));
        return ed_posix_err(e);
    }
    signal(SIGPIPE, SIG_IGN);
    l->sig_installed = true;
    return ED_OK;
}

int ed_plat_loop_on_reload(ed_loop *l, void (*cb)(void *arg), void *arg)
{
    if (!l->sig_installed) return ED_ERR_INVAL; /* the eventfd path comes with on_signal */
    l->hup_cb = cb;
    l->hup_arg = arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGHUP, &sa, NULL) < 0) {
        int e = errno;
        ED_LOG_ERR("sigaction: %s", strerror(e));
        return ed_posix_err(e);
    }
    return ED_OK;
}

/* ---- wake-ups ---- */

static void on_wakeup(struct ed_posix_io *io, uint32_t events)
{
    ED_UNUSED(events);
    ed_wakeup *w = (ed_wakeup *)io;
    drain(io->fd);
    w->cb(w->arg);
}

int ed_plat_wakeup_new(ed_loop *l, void (*cb)(void *arg), void *arg, ed_wakeup **out)
{
    ed_wakeup *w = ed_calloc(1, sizeof *w);
    if (!w) return ED_ERR_NOMEM;
    w->io.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->io.fd < 0) {
        int e = errno;
        ED_LOG_ERR("eventfd: %s", strerror(e));
        ed_free(w);
        return ed_posix_err(e);
    }
    w->io.on_event = on_wakeup;
    w->loop = l;
    w->cb = cb;
    w->arg = arg;
    int rc = ed_posix_io_set(l, &w->io, EPOLLIN);
    if (rc != ED_OK) {
        close(w->io.fd);
        ed_free(w);
        return rc;
    }
    *out = w;
    return ED_OK;
}

void ed_plat_wakeup_signal(ed_wakeup *w)
{
    kick(w->io.fd);
}

void ed_plat_wakeup_free(ed_wakeup *w)
{
    if (!w) return;
    ed_posix_io_close(w->loop, &w->io);
}
