/* The service manager's notify protocol (systemd's sd_notify, spoken
 * directly so libsystemd is not needed): one datagram of "KEY=VALUE" lines
 * to the unix socket named by $NOTIFY_SOCKET, and the watchdog interval from
 * $WATCHDOG_USEC. Without a service manager both are no-ops. */
#define _GNU_SOURCE
#define ED_LOG_MODULE "notify"
#include "platform/platform.h"
#include "platform/log.h"
#include "platform/posix/posix_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A failing manager would otherwise log at every watchdog tick. */
static atomic_bool warned;

static int fail(const char *what, const char *where, int e)
{
    if (!atomic_exchange(&warned, true))
        ED_LOG_WARN("%s %s: %s", what, where, strerror(e));
    else
        ED_LOG_DBG("%s %s: %s", what, where, strerror(e));
    return ed_posix_err(e);
}

int ed_plat_notify(const char *state)
{
    if (!state || !*state) return ED_ERR_INVAL;
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !*name) return ED_OK;

    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t name_len = strlen(name);
    /* '/' is a path; '@' an abstract name whose first byte is NUL. Abstract
     * names are not NUL-terminated: the length says where they end. */
    if ((name[0] != '/' && name[0] != '@') || name_len > sizeof sa.sun_path ||
        (name[0] == '/' && name_len == sizeof sa.sun_path)) {
        if (!atomic_exchange(&warned, true))
            ED_LOG_WARN("NOTIFY_SOCKET '%s' is not a unix socket path or abstract name", name);
        return ED_ERR_UNSUPPORTED;
    }
    memcpy(sa.sun_path, name, name_len);
    if (name[0] == '@') sa.sun_path[0] = '\0';
    socklen_t sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len);
    if (name[0] == '/') sa_len++; /* include the terminating NUL */

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail("socket", "", errno);
    size_t len = strlen(state);
    ssize_t n;
    /* Never blocks the loop: a manager that is not reading gets EAGAIN. */
    do
        n = sendto(fd, state, len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, sa_len);
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0) return fail("notify", name, e);
    if ((size_t)n != len) return fail("notify", name, EMSGSIZE);
    return ED_OK;
}

uint64_t ed_plat_watchdog_interval_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    if (!usec || !*usec) return 0;
    /* The variable may be inherited by a child: it is ours only when
     * WATCHDOG_PID is unset or names this process. */
    const char *pid = getenv("WATCHDOG_PID");
    if (pid && *pid) {
        char *end;
        errno = 0;
        unsigned long long p = strtoull(pid, &end, 10);
        if (errno || *end || p != (unsigned long long)getpid()) return 0;
    }
    char *end;
    errno = 0;
    unsigned long long us = strtoull(usec, &end, 10);
    if (errno || *end || usec[0] == '-' || us == 0) return 0;
    return us < 1000 ? 1 : (uint64_t)(us / 1000);
}
