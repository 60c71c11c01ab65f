/* POSIX outgoing TCP connections with timeouts (see platform/netclient.h):
 * non-blocking sockets waited on with poll(). */
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
};

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
    *out = s;
    return ED_OK;
}

int ed_plat_csock_write(ed_csock *s, const void *buf, size_t len, uint32_t timeout_ms)
{
    uint64_t deadline = ed_plat_clock_mono_ms() + timeout_ms;
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
    close(s->fd);
    ed_free(s);
}
