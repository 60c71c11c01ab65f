/* Unit tests of the POSIX event loop: timer ordering, stop and re-arm, a
 * wake-up signalled from another thread, SIGTERM delivered on the loop, and
 * a TCP echo over loopback (reads, gather writes, backpressure toggles). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "platform/mem.h"
#include "platform/net.h"

/* ---- timers ---- */

struct tctx {
    ed_loop *loop;
    int order[16];
    int n;
    int stop_after;
};

struct ttimer {
    ed_timer t;
    struct tctx *c;
    int id;
};

static void fired(ed_timer *t, void *arg)
{
    struct ttimer *tt = arg;
    ED_UNUSED(t);
    tt->c->order[tt->c->n++] = tt->id;
    if (tt->c->n == tt->c->stop_after) ed_plat_loop_stop(tt->c->loop);
}

static void test_timers_order(void **state)
{
    (void)state;
    struct tctx c = {0};
    assert_int_equal(ed_plat_loop_new(&c.loop), ED_OK);
    struct ttimer t[6];
    memset(t, 0, sizeof t);
    /* 50 ms apart: arming six timers must not reorder their due times even
     * on a slow emulated CPU (the order checked is the heap's, not the
     * clock's). */
    static const uint32_t delays[6] = {300, 50, 200, 10, 100, 250};
    for (int i = 0; i < 6; i++) {
        t[i].c = &c;
        t[i].id = i;
        ed_plat_timer_start(c.loop, &t[i].t, delays[i], fired, &t[i]);
        assert_true(ed_plat_timer_armed(&t[i].t));
    }
    /* stop one in the middle of the heap, re-arm another later */
    ed_plat_timer_stop(c.loop, &t[2].t);
    assert_false(ed_plat_timer_armed(&t[2].t));
    ed_plat_timer_start(c.loop, &t[1].t, 400, fired, &t[1]);
    c.stop_after = 5;
    assert_int_equal(ed_plat_loop_run(c.loop), ED_OK);
    assert_int_equal(c.n, 5);
    static const int want[5] = {3, 4, 5, 0, 1};
    for (int i = 0; i < 5; i++)
        assert_int_equal(c.order[i], want[i]);
    for (int i = 0; i < 6; i++)
        assert_false(ed_plat_timer_armed(&t[i].t));
    ed_plat_loop_free(c.loop);
}

/* Many timers with random delays come out sorted (heap invariant). */
struct many {
    ed_loop *loop;
    ed_timer t[300];
    uint64_t due[300];
    uint64_t fired_due[300];
    int n_fired;
    ed_timer stopper;
};

static void many_fired(ed_timer *t, void *arg)
{
    struct many *m = arg;
    m->fired_due[m->n_fired++] = t->due_ms;
}

static void many_stop(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    struct many *m = arg;
    ed_plat_loop_stop(m->loop);
}

static void test_timers_many(void **state)
{
    (void)state;
    struct many *m = calloc(1, sizeof *m);
    assert_int_equal(ed_plat_loop_new(&m->loop), ED_OK);
    for (int i = 0; i < 300; i++) {
        uint8_t r;
        ed_plat_random(&r, 1);
        ed_plat_timer_start(m->loop, &m->t[i], r % 40, many_fired, m);
    }
    int n_stopped = 0;
    for (int i = 0; i < 300; i += 3, n_stopped++)
        ed_plat_timer_stop(m->loop, &m->t[i]);
    /* re-arming an armed timer moves it, never duplicates it */
    ed_plat_timer_start(m->loop, &m->t[1], 5, many_fired, m);
    ed_plat_timer_start(m->loop, &m->t[1], 7, many_fired, m);
    ed_plat_timer_start(m->loop, &m->stopper, 80, many_stop, m);
    assert_int_equal(ed_plat_loop_run(m->loop), ED_OK);
    assert_int_equal(m->n_fired, 300 - n_stopped);
    for (int k = 1; k < m->n_fired; k++)
        assert_true(m->fired_due[k] >= m->fired_due[k - 1]);
    for (int i = 0; i < 300; i++)
        assert_false(ed_plat_timer_armed(&m->t[i]));
    ed_plat_loop_free(m->loop);
    free(m);
}

/* ---- wake-ups from another thread ---- */

struct wctx {
    ed_loop *loop;
    ed_wakeup *w;
    int calls;
    _Atomic int sent;
};

static void on_wake(void *arg)
{
    struct wctx *c = arg;
    c->calls++;
    if (c->sent == 100) ed_plat_loop_stop(c->loop);
}

static void *signaller(void *arg)
{
    struct wctx *c = arg;
    for (int i = 0; i < 100; i++) {
        c->sent++;
        ed_plat_wakeup_signal(c->w);
        if (i % 10 == 0) usleep(1000);
    }
    return NULL;
}

static void test_wakeup_thread(void **state)
{
    (void)state;
    struct wctx c = {0};
    assert_int_equal(ed_plat_loop_new(&c.loop), ED_OK);
    assert_int_equal(ed_plat_wakeup_new(c.loop, on_wake, &c, &c.w), ED_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, signaller, &c), 0);
    assert_int_equal(ed_plat_loop_run(c.loop), ED_OK);
    pthread_join(th, NULL);
    assert_true(c.calls >= 1);
    assert_true(c.calls <= 100); /* signals fold */
    ed_plat_wakeup_free(c.w);
    ed_plat_loop_free(c.loop);
}

/* A loop stopped from another thread returns. */
static void *stopper_thread(void *arg)
{
    usleep(20000);
    ed_plat_loop_stop(arg);
    return NULL;
}

static void test_stop_from_thread(void **state)
{
    (void)state;
    ed_loop *l;
    assert_int_equal(ed_plat_loop_new(&l), ED_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper_thread, l), 0);
    assert_int_equal(ed_plat_loop_run(l), ED_OK);
    pthread_join(th, NULL);
    ed_plat_loop_free(l);
}

/* A stop requested before run is honoured once; the loop then runs again. */
static void stop_cb(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_plat_loop_stop(arg);
}

static void test_stop_before_run(void **state)
{
    (void)state;
    ed_loop *l;
    assert_int_equal(ed_plat_loop_new(&l), ED_OK);
    ed_plat_loop_stop(l);
    assert_int_equal(ed_plat_loop_run(l), ED_OK); /* returns at once */
    ed_timer t = {0};
    ed_plat_timer_start(l, &t, 5, stop_cb, l);
    assert_int_equal(ed_plat_loop_run(l), ED_OK); /* runs until the timer */
    assert_false(ed_plat_timer_armed(&t));
    ed_plat_loop_free(l);
}

/* ---- signals ---- */

static int n_sig;
static void on_sig(void *arg)
{
    n_sig++;
    ed_plat_loop_stop(arg);
}

static void raise_term(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ED_UNUSED(arg);
    kill(getpid(), SIGTERM);
}

static void test_signal(void **state)
{
    (void)state;
    ed_loop *l;
    assert_int_equal(ed_plat_loop_new(&l), ED_OK);
    assert_int_equal(ed_plat_loop_on_signal(l, on_sig, l), ED_OK);
    ed_timer t = {0};
    ed_plat_timer_start(l, &t, 1, raise_term, NULL);
    assert_int_equal(ed_plat_loop_run(l), ED_OK);
    assert_int_equal(n_sig, 1);
    /* SIGPIPE is ignored: writing to a closed pipe returns EPIPE */
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    assert_int_equal(write(p[1], "x", 1), -1);
    close(p[1]);
    ed_plat_loop_free(l);
}

/* ---- TCP echo ---- */

struct echo {
    ed_loop *loop;
    ed_listener *ls;
    ed_stream *s;
    uint8_t buf[1 << 16];
    size_t have;  /* bytes buffered, not yet echoed */
    size_t total; /* bytes echoed */
    bool closed;
    int n_accepts;
};

static void echo_flush(struct echo *e)
{
    while (e->have > 0) {
        /* Split into two iovecs to exercise gather writes. */
        size_t half = e->have / 2;
        struct ed_iovec v[2] = {{e->buf, half}, {e->buf + half, e->have - half}};
        size_t n;
        int rc = ed_plat_stream_writev(e->s, v, 2, &n);
        if (rc != ED_OK) {
            e->closed = true;
            return;
        }
        if (n == 0) break;
        memmove(e->buf, e->buf + n, e->have - n);
        e->have -= n;
        e->total += n;
    }
    /* Backpressure: stop reading while output is stuck. */
    ed_plat_stream_want_write(e->s, e->have > 0);
    ed_plat_stream_want_read(e->s, e->have < sizeof e->buf);
}

static void echo_readable(void *arg)
{
    struct echo *e = arg;
    size_t n;
    int rc = ed_plat_stream_read(e->s, e->buf + e->have, sizeof e->buf - e->have, &n);
    if (rc == ED_ERR_AGAIN) return;
    if (rc != ED_OK) {
        e->closed = true;
        ed_plat_stream_close(e->s);
        e->s = NULL;
        ed_plat_loop_stop(e->loop);
        return;
    }
    e->have += n;
    echo_flush(e);
}

static void echo_writable(void *arg)
{
    echo_flush(arg);
}

static void on_conn(void *arg, ed_stream *s)
{
    struct echo *e = arg;
    e->n_accepts++;
    e->s = s;
    assert_non_null(strstr(ed_plat_stream_peer(s), "127.0.0.1:"));
    struct ed_stream_cbs cbs = {echo_readable, echo_writable};
    ed_plat_stream_set_cbs(s, &cbs, e);
}

struct client_arg {
    uint16_t port;
    size_t len;
    int ok;
};

static void *client(void *arg)
{
    struct client_arg *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) return NULL;
    uint8_t *out = malloc(c->len), *in = malloc(c->len);
    for (size_t i = 0; i < c->len; i++)
        out[i] = (uint8_t)(i * 7 + 3);
    /* Send everything before reading, so the server's output backs up and
     * it must pause reading. A 4 MiB echo with a 64 KiB server buffer. */
    size_t sent = 0, got = 0;
    while (got < c->len) {
        if (sent < c->len) {
            ssize_t n = send(fd, out + sent, ED_MIN((size_t)65536, c->len - sent), MSG_DONTWAIT);
            if (n > 0) sent += (size_t)n;
        }
        ssize_t n = recv(fd, in + got, c->len - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0)
            break;
        else
            usleep(100);
    }
    c->ok = got == c->len && memcmp(in, out, c->len) == 0;
    close(fd);
    free(out);
    free(in);
    return NULL;
}

static void test_tcp_echo(void **state)
{
    (void)state;
    struct echo *e = calloc(1, sizeof *e);
    assert_int_equal(ed_plat_loop_new(&e->loop), ED_OK);
    assert_int_equal(ed_plat_tcp_listen(e->loop, "127.0.0.1", 0, on_conn, e, &e->ls), ED_OK);
    uint16_t port = ed_plat_listener_port(e->ls);
    assert_true(port != 0);
    struct client_arg ca = {.port = port, .len = 4u << 20};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, client, &ca), 0);
    assert_int_equal(ed_plat_loop_run(e->loop), ED_OK); /* stops at EOF */
    pthread_join(th, NULL);
    assert_true(ca.ok);
    assert_int_equal(e->total, ca.len);
    assert_int_equal(e->n_accepts, 1);
    ed_plat_listener_close(e->ls);
    ed_plat_loop_free(e->loop);
    free(e);
}

/* Listening twice on the same port fails cleanly; "localhost" resolves. */
static void test_listen_errors(void **state)
{
    (void)state;
    ed_loop *l;
    ed_listener *a, *b;
    assert_int_equal(ed_plat_loop_new(&l), ED_OK);
    assert_int_equal(ed_plat_tcp_listen(l, "localhost", 0, on_conn, NULL, &a), ED_OK);
    ed_listener *c;
    assert_int_equal(ed_plat_tcp_listen(l, "127.0.0.1", 0, on_conn, NULL, &c), ED_OK);
    assert_true(ed_plat_tcp_listen(l, "127.0.0.1", ed_plat_listener_port(c), on_conn, NULL, &b) <
                0);
    ed_plat_listener_close(c);
    assert_int_equal(ed_plat_tcp_listen(l, "no.such.host.invalid", 0, on_conn, NULL, &b),
                     ED_ERR_INVAL);
    ed_plat_listener_close(a);
    ed_plat_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_order),  cmocka_unit_test(test_timers_many),
        cmocka_unit_test(test_wakeup_thread), cmocka_unit_test(test_stop_from_thread),
        cmocka_unit_test(test_signal),        cmocka_unit_test(test_tcp_echo),
        cmocka_unit_test(test_listen_errors), cmocka_unit_test(test_stop_before_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
