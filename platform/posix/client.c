/* POSIX outgoing TCP connections with timeouts (see platform/netclient.h):
 * non-blocking sockets waited on with poll(), optionally through a TLS
 * client stream (platform/tls.h) driven without a loop over a stream on
 * the same socket. */
#define _GNU_SOURCE
#include "platform/netclient.h"
#include "platform/mem.h"
#include "platform/posix/posix_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ED_LOG_MODULE "csock"
#include "platform/log.h"

struct ed_csock {
    int fd;
    ed_stream *tls; /* NULL: plaintext */
};

/* The socket as a stream under TLS: non-blocking reads and writes only; the
 * descriptor stays the ed_csock's. */
struct fd_stream {
    ed_stream base;
    int fd;
};

#define FDS(st) ((struct fd_stream *)(void *)(st))

/* Waits for events on fd until deadline; ED_ERR_TIMEOUT when it passes. */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = ed_plat_clock_mono_ms();
        if (now >= deadline_ms) return ED_ERR_TIMEOUT;
        uint64_t left = deadline_ms - now;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0) return ED_OK;
        if (n < 0 && errno != EINTR) return ed_posix_err(errno);
    }
}

static int map_conn_err(int e)
{
    switch (e) {
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case ENETUNREACH:
    case EHOSTUNREACH:
        return ED_ERR_CLOSED;
    case ETIMEDOUT:
        return ED_ERR_TIMEOUT;
    default:
        return ed_posix_err(e);
    }
}

static int try_addr(const struct addrinfo *ai, uint64_t deadline_ms, int *fd_out)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) return ed_posix_err(errno);
    int rc = ED_OK;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            rc = map_conn_err(errno);
            goto fail;
        }
        rc = wait_fd(fd, POLLOUT, deadline_ms);
        if (rc) goto fail;
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err) {
            rc = map_conn_err(err);
            goto fail;
        }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *fd_out = fd;
    return ED_OK;
fail:
    close(fd);
    return rc;
}

int ed_plat_csock_connect(const char *host, uint16_t port, uint32_t timeout_ms, ed_csock **out)
{
    uint64_t deadline = ed_plat_clock_mono_ms() + timeout_ms;
    char svc[8];
    snprintf(svc, sizeof svc, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host, svc, &hints, &res);
    if (g != 0) {
        ED_LOG_DBG("resolve %s: %s", host, gai_strerror(g));
        return ED_ERR_NOENT;
    }
    int rc = ED_ERR_CLOSED, fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        rc = try_addr(ai, deadline, &fd);
        if (rc == ED_OK || rc == ED_ERR_TIMEOUT) break;
    }
    freeaddrinfo(res);
    if (rc) return rc;
    ed_csock *s = ed_malloc(sizeof *s);
    if (!s) {
        close(fd);
        return ED_ERR_NOMEM;
    }
    s->fd = fd;
    s->tls = NULL;
    *out = s;
    return ED_OK;
}

#if ED_WITH_TLS
static void fds_set_cbs(ed_stream *st, const struct ed_stream_cbs *cbs, void *arg)
{
    ED_UNUSED(st);
    ED_UNUSED(cbs);
    ED_UNUSED(arg);
}

static int fds_read(ed_stream *st, void *buf, size_t len, size_t *n)
{
    *n = 0;
    for (;;) {
        ssize_t r = recv(FDS(st)->fd, buf, len, 0);
        if (r > 0) {
            *n = (size_t)r;
            return ED_OK;
        }
        if (r == 0) return ED_ERR_CLOSED;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return ED_ERR_AGAIN;
        return ED_ERR_CLOSED;
    }
}

static int fds_writev(ed_stream *st, const struct ed_iovec *iov, int n_iov, size_t *n)
{
    *n = 0;
    for (int i = 0; i < n_iov; i++) {
        size_t done = 0;
        while (done < iov[i].len) {
            ssize_t r = send(FDS(st)->fd, (const char *)iov[i].base + done, iov[i].len - done,
                             MSG_NOSIGNAL);
            if (r > 0) {
                done += (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            *n += done;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return ED_OK;
            return ED_ERR_CLOSED;
        }
        *n += done;
    }
    return ED_OK;
}

static int fds_sendfile(ed_stream *st, ed_file *f, uint64_t pos, size_t len, size_t *n)
{
    ED_UNUSED(st);
    ED_UNUSED(f);
    ED_UNUSED(pos);
    ED_UNUSED(len);
    *n = 0;
    return ED_ERR_UNSUPPORTED;
}

static void fds_want(ed_stream *st, bool on)
{
    ED_UNUSED(st);
    ED_UNUSED(on);
}

static const char *fds_peer(const ed_stream *st)
{
    ED_UNUSED(st);
    return "server";
}

static void fds_close(ed_stream *st)
{
    ed_free(st);
}

static const struct ed_stream_ops fds_ops = {
    .set_cbs = fds_set_cbs,
    .read = fds_read,
    .writev = fds_writev,
    .sendfile = fds_sendfile,
    .want_write = fds_want,
    .want_read = fds_want,
    .peer = fds_peer,
    .close = fds_close,
};

/* Waits until the TLS session can go on: its queued bytes sent, or more
 * bytes from the peer. */
static int tls_wait(ed_csock *s, uint64_t deadline_ms)
{
    if (ed_plat_tls_wants_write(s->tls)) {
        int rc = wait_fd(s->fd, POLLOUT, deadline_ms);
        return rc ? rc : ed_plat_tls_flush(s->tls);
    }
    return wait_fd(s->fd, POLLIN, deadline_ms);
}

int ed_plat_csock_start_tls(ed_csock *s, ed_tls_conf *conf, const char *host, uint32_t timeout_ms,
                            char *why, size_t why_len)
{
    uint64_t deadline = ed_plat_clock_mono_ms() + timeout_ms;
    struct fd_stream *fs = ed_calloc(1, sizeof *fs);
    if (!fs) return ED_ERR_NOMEM;
    fs->base.ops = &fds_ops;
    fs->fd = s->fd;
    int rc = ed_plat_tls_client(NULL, conf, &fs->base, host, &s->tls);
    if (rc != ED_OK) return rc;
    for (;;) {
        rc = ed_plat_tls_handshake(s->tls, why, why_len);
        if (rc != ED_ERR_AGAIN) return rc;
        rc = tls_wait(s, deadline);
        if (rc != ED_OK) {
            snprintf(why, why_len, "TLS handshake: %s", ed_strerror(rc));
            return rc;
        }
    }
}

static int tls_write(ed_csock *s, const void *buf, size_t len, uint64_t deadline_ms)
{
    const char *p = buf;
    while (len > 0 || ed_plat_tls_wants_write(s->tls)) {
        size_t n = 0;
        if (len > 0) {
            struct ed_iovec v = {p, len};
            int rc = ed_plat_stream_writev(s->tls, &v, 1, &n);
            if (rc != ED_OK) return rc;
            p += n;
            len -= n;
        }
        if (len > 0 || ed_plat_tls_wants_write(s->tls)) {
            int rc = tls_wait(s, deadline_ms);
            if (rc != ED_OK) return rc;
        }
    }
    return ED_OK;
}

static int tls_read(ed_csock *s, void *buf, size_t len, uint64_t deadline_ms)
{
    char *p = buf;
    while (len > 0) {
        size_t n = 0;
        int rc = ed_plat_stream_read(s->tls, p, len, &n);
        if (rc == ED_OK) {
            p += n;
            len -= n;
            continue;
        }
        if (rc != ED_ERR_AGAIN) return rc;
        rc = tls_wait(s, deadline_ms);
        if (rc != ED_OK) return rc;
    }
    return ED_OK;
}

#else
int ed_plat_csock_start_tls(ed_csock *s, ed_tls_conf *conf, const char *host, uint32_t timeout_ms,
                            char *why, size_t why_len)
{
    ED_UNUSED(s);
    ED_UNUSED(conf);
    ED_UNUSED(host);
    ED_UNUSED(timeout_ms);
    snprintf(why, why_len, "this eddy was built without TLS (WITH_TLS=0)");
    return ED_ERR_UNSUPPORTED;
}
#endif

int ed_plat_csock_write(ed_csock *s, const void *buf, size_t len, uint32_t timeout_ms)
{
    uint64_t deadline = ed_plat_clock_mono_ms() + timeout_ms;
#if ED_WITH_TLS
    if (s->tls) return tls_write(s, buf, len, deadline);
#endif
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = wait_fd(s->fd, POLLOUT, deadline);
            if (rc) return rc;
            continue;
        }
        return map_conn_err(errno);
    }
    return ED_OK;
}

int ed_plat_csock_read(ed_csock *s, void *buf, size_t len, uint32_t timeout_ms)
{
    uint64_t deadline = ed_plat_clock_mono_ms() + timeout_ms;
#if ED_WITH_TLS
    if (s->tls) return tls_read(s, buf, len, deadline);
#endif
    char *p = buf;
    while (len > 0) {
        ssize_t n = recv(s->fd, p, len, 0);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0) return ED_ERR_CLOSED;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(s->fd, POLLIN, deadline);
            if (rc) return rc;
            continue;
        }
        return map_conn_err(errno);
    }
    return ED_OK;
}

void ed_plat_csock_close(ed_csock *s)
{
    if (!s) return;
    if (s->tls) ed_plat_stream_close(s->tls);
    close(s->fd);
    ed_free(s);
}
