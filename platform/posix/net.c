/* POSIX TCP for the event loop: listeners (SO_REUSEADDR, non-blocking
 * accept4, TCP_NODELAY on every connection) and streams (recv, sendmsg
 * gather writes, sendfile from segment files). */
#define _GNU_SOURCE
#define ED_LOG_MODULE "net"
#include "platform/net.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/posix/posix_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define ACCEPTS_PER_EVENT 32
#define MAX_IOV           64
#define EMFILE_PAUSE_MS   100

struct ed_listener {
    struct ed_posix_io io; /* first member */
    ed_loop *loop;
    ed_accept_cb cb;
    void *arg;
    uint16_t port;
    ed_timer pause; /* re-enables accepting after EMFILE */
};

/* A TCP stream: the io first (the loop frees it through it), the stream
 * interface after it. */
struct tcp_stream {
    struct ed_posix_io io; /* first member */
    ed_stream base;
    ed_loop *loop;
    struct ed_stream_cbs cbs;
    void *arg;
    bool want_read;
    bool want_write;
    ed_dial_cb dial_cb; /* set while an outgoing connect is in progress */
    void *dial_arg;
    char peer[64];
};

/* ---- streams ---- */

static void set_peer(struct tcp_stream *s);
static void stream_update(struct tcp_stream *s);

/* The outgoing connect finished: report how, then serve the stream's own
 * events. */
static void dial_done(struct tcp_stream *s)
{
    int e = 0;
    socklen_t len = sizeof e;
    if (getsockopt(s->io.fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) e = errno;
    ed_dial_cb cb = s->dial_cb;
    s->dial_cb = NULL;
    if (e == 0)
        set_peer(s);
    else
        ED_LOG_DBG("connect to %s: %s", s->peer, strerror(e));
    stream_update(s);
    cb(s->dial_arg, e == 0 ? ED_OK : ED_ERR_CLOSED);
}

#define TCP(s) ((struct tcp_stream *)(void *)((char *)(s)-offsetof(struct tcp_stream, base)))

static void stream_update(struct tcp_stream *s)
{
    uint32_t ev = (s->want_read ? EPOLLIN : 0u) | (s->want_write ? EPOLLOUT : 0u);
    if (s->dial_cb) ev = EPOLLOUT; /* writable = the connect has finished */
    ed_posix_io_set(s->loop, &s->io, ev);
}

static void on_stream_event(struct ed_posix_io *io, uint32_t events)
{
    struct tcp_stream *s = (struct tcp_stream *)io;
    if (s->dial_cb) {
        dial_done(s);
        return;
    }
    bool err = (events & (EPOLLERR | EPOLLHUP)) != 0;
    if ((events & EPOLLOUT) || (err && s->want_write)) {
        if (s->cbs.on_writable) s->cbs.on_writable(s->arg);
        if (io->fd < 0) return; /* closed by the callback */
    }
    if ((events & EPOLLIN) || (err && s->want_read)) {
        if (s->cbs.on_readable) s->cbs.on_readable(s->arg);
        if (io->fd < 0) return;
    }
    if (err && !s->want_read && !s->want_write && io->registered) {
        /* epoll reports a hang-up even with an empty mask, again and again:
         * leave the set until the owner wants events, then the re-added
         * descriptor reports it once more and the owner's read sees EOF. */
        ed_posix_io_unwatch(s->loop, io);
    }
}

static void set_peer(struct tcp_stream *s)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getpeername(s->io.fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
            snprintf(s->peer, sizeof s->peer, "[%s]:%u", host, port);
            return;
        }
    }
    snprintf(s->peer, sizeof s->peer, "%s:%u", host, port);
}

static const struct ed_stream_ops tcp_ops;

static struct tcp_stream *stream_new(ed_loop *l, int fd)
{
    struct tcp_stream *s = ed_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base.ops = &tcp_ops;
    s->io.fd = fd;
    s->io.on_event = on_stream_event;
    s->loop = l;
    set_peer(s);
    return s;
}

static void tcp_set_cbs(ed_stream *st, const struct ed_stream_cbs *cbs, void *arg)
{
    struct tcp_stream *s = TCP(st);
    s->cbs = *cbs;
    s->arg = arg;
    s->want_read = true;
    stream_update(s);
}

static void tcp_want_write(ed_stream *st, bool on)
{
    struct tcp_stream *s = TCP(st);
    if (s->want_write == on) return;
    s->want_write = on;
    stream_update(s);
}

static void tcp_want_read(ed_stream *st, bool on)
{
    struct tcp_stream *s = TCP(st);
    if (s->want_read == on) return;
    s->want_read = on;
    stream_update(s);
}

static int io_fail(struct tcp_stream *s, const char *what)
{
    int e = errno;
    if (e != ECONNRESET && e != EPIPE && e != ETIMEDOUT && e != ENOTCONN)
        ED_LOG_DBG("%s %s: %s", what, s->peer, strerror(e));
    return ED_ERR_CLOSED;
}

static void tcp_quickack(struct tcp_stream *s)
{
#ifdef TCP_QUICKACK
    int one = 1;
    setsockopt(s->io.fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#else
    ED_UNUSED(s);
#endif
}

static void tcp_set_quickack(ed_stream *st, bool on)
{
    if (on) tcp_quickack(TCP(st));
}

static int tcp_read(ed_stream *st, void *buf, size_t len, size_t *n)
{
    struct tcp_stream *s = TCP(st);
    *n = 0;
    for (;;) {
        ssize_t r = recv(s->io.fd, buf, len, 0);
        if (r > 0) {
            *n = (size_t)r;
            return ED_OK;
        }
        if (r == 0) return ED_ERR_CLOSED;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return ED_ERR_AGAIN;
        return io_fail(s, "recv");
    }
}

static int tcp_writev(ed_stream *st, const struct ed_iovec *iov, int n_iov, size_t *n)
{
    struct tcp_stream *s = TCP(st);
    struct iovec v[MAX_IOV];
    int k = n_iov < MAX_IOV ? n_iov : MAX_IOV;
    for (int i = 0; i < k; i++) {
        v[i].iov_base = (void *)iov[i].base;
        v[i].iov_len = iov[i].len;
    }
    struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)k};
    *n = 0;
    for (;;) {
        ssize_t r = sendmsg(s->io.fd, &m, MSG_NOSIGNAL);
        if (r >= 0) {
            *n = (size_t)r;
            return ED_OK;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return ED_OK;
        return io_fail(s, "send");
    }
}

static int tcp_sendfile(ed_stream *st, ed_file *f, uint64_t pos, size_t len, size_t *n)
{
    struct tcp_stream *s = TCP(st);
    *n = 0;
    int fd = ed_plat_file_handle(f);
    if (fd < 0) {
        /* No OS handle: bounce through a small buffer. */
        uint8_t buf[16384];
        size_t got = 0;
        int rc = ed_plat_file_pread(f, buf, ED_MIN(len, sizeof buf), pos, &got);
        if (rc != ED_OK) return rc;
        if (got == 0) return ED_ERR_IO;
        struct ed_iovec v = {buf, got};
        return tcp_writev(st, &v, 1, n);
    }
    for (;;) {
        off_t off = (off_t)pos;
        ssize_t r = sendfile(s->io.fd, fd, &off, len);
        if (r > 0) {
            *n = (size_t)r;
            return ED_OK;
        }
        if (r == 0) {
            /* The file is shorter than the slice: a storage bug, not the
             * peer's fault; report it rather than spin. */
            ED_LOG_ERR("sendfile %s: file ends before %llu", s->peer,
                       (unsigned long long)(pos + len));
            return ED_ERR_IO;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return ED_OK;
        return io_fail(s, "sendfile");
    }
}

static const char *tcp_peer(const ed_stream *st)
{
    return TCP(st)->peer;
}

static void tcp_close(ed_stream *st)
{
    struct tcp_stream *s = TCP(st);
    s->cbs.on_readable = NULL;
    s->cbs.on_writable = NULL;
    ed_posix_io_close(s->loop, &s->io);
}

/* getaddrinfo for a TCP host and port, any address family; flags as
 * getaddrinfo's ai_flags. Returns getaddrinfo's code. */
static int resolve_tcp(const char *host, uint16_t port, int flags, struct addrinfo **out)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags;
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    return getaddrinfo(host, port_s, &hints, out);
}

static const struct ed_stream_ops tcp_ops = {
    .set_cbs = tcp_set_cbs,
    .read = tcp_read,
    .writev = tcp_writev,
    .sendfile = tcp_sendfile,
    .want_write = tcp_want_write,
    .want_read = tcp_want_read,
    .peer = tcp_peer,
    .close = tcp_close,
    .set_quickack = tcp_set_quickack,
    .short_read_drains = true,
};

int ed_plat_tcp_dial(ed_loop *l, const char *host, uint16_t port, ed_dial_cb cb, void *arg,
                     ed_stream **out)
{
    struct addrinfo *ai = NULL;
    if (resolve_tcp(host, port, 0, &ai) != 0 || !ai) return ED_ERR_NOENT;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int rc = ed_posix_err(errno);
        freeaddrinfo(ai);
        return rc;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    int e = errno;
    freeaddrinfo(ai);
    if (r != 0 && e != EINPROGRESS) {
        close(fd);
        return ED_ERR_CLOSED;
    }
    struct tcp_stream *s = ed_calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return ED_ERR_NOMEM;
    }
    s->base.ops = &tcp_ops;
    s->io.fd = fd;
    s->io.on_event = on_stream_event;
    s->loop = l;
    s->dial_cb = cb;
    s->dial_arg = arg;
    snprintf(s->peer, sizeof s->peer, "%s:%u", host, (unsigned)port);
    stream_update(s);
    *out = &s->base;
    return ED_OK;
}

/* ---- listeners ---- */

static void on_unpause(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_listener *ls = arg;
    ed_posix_io_set(ls->loop, &ls->io, EPOLLIN);
}

static void on_accept(struct ed_posix_io *io, uint32_t events)
{
    ED_UNUSED(events);
    ed_listener *ls = (ed_listener *)io;
    for (int i = 0; i < ACCEPTS_PER_EVENT && io->fd >= 0; i++) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED) continue;
            if (e == EAGAIN || e == EWOULDBLOCK) return;
            ED_LOG_WARN("accept on port %u: %s; pausing %d ms", ls->port, strerror(e),
                        EMFILE_PAUSE_MS);
            /* Out of descriptors (or memory): stop polling the listener for
             * a moment instead of spinning on a level-triggered event. */
            ed_posix_io_set(ls->loop, io, 0);
            ed_plat_timer_start(ls->loop, &ls->pause, EMFILE_PAUSE_MS, on_unpause, ls);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct tcp_stream *s = stream_new(ls->loop, fd);
        if (!s) {
            ED_LOG_WARN("accept on port %u: out of memory, connection dropped", ls->port);
            close(fd);
            continue;
        }
        ls->cb(ls->arg, &s->base);
    }
}

int ed_plat_tcp_listen(ed_loop *l, const char *host, uint16_t port, ed_accept_cb cb, void *arg,
                       ed_listener **out)
{
    struct addrinfo *res = NULL;
    int g = resolve_tcp(host && host[0] ? host : NULL, port, AI_PASSIVE, &res);
    if (g != 0) {
        ED_LOG_ERR("listen %s:%u: %s", host ? host : "", port, gai_strerror(g));
        return ED_ERR_INVAL;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0) break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        ED_LOG_ERR("listen %s:%u: %s", host ? host : "", port, strerror(e));
        return ed_posix_err(e);
    }
    ed_listener *ls = ed_calloc(1, sizeof *ls);
    if (!ls) {
        close(fd);
        return ED_ERR_NOMEM;
    }
    ls->io.fd = fd;
    ls->io.on_event = on_accept;
    ls->loop = l;
    ls->cb = cb;
    ls->arg = arg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        ls->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
    int rc = ed_posix_io_set(l, &ls->io, EPOLLIN);
    if (rc != ED_OK) {
        close(fd);
        ed_free(ls);
        return rc;
    }
    *out = ls;
    return ED_OK;
}

uint16_t ed_plat_listener_port(const ed_listener *ls)
{
    return ls->port;
}

void ed_plat_listener_close(ed_listener *ls)
{
    if (!ls) return;
    ed_plat_timer_stop(ls->loop, &ls->pause);
    ed_posix_io_close(ls->loop, &ls->io);
}

void ed_plat_net_default_host(char *out, size_t len)
{
    char name[256];
    snprintf(out, len, "127.0.0.1");
    if (gethostname(name, sizeof name) != 0) return;
    name[sizeof name - 1] = '\0';
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(name, NULL, &hints, &res) != 0) return;
    bool local = false;
    for (struct addrinfo *ai = res; ai && !local; ai = ai->ai_next) {
        /* Binding succeeds only for an address this machine owns. */
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        local = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0;
        close(fd);
    }
    freeaddrinfo(res);
    if (local && strlen(name) < len) snprintf(out, len, "%s", name);
}
