/* Unit tests of the service-manager notify port: datagrams reach a real unix
 * socket named by path or by abstract name, nothing is sent without a
 * manager, bad names are refused, and the watchdog interval is read from the
 * environment as systemd sets it. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform/platform.h"

struct listener {
    int fd;
    char dir[256];
    char path[300];
};

/* Reads one pending datagram without waiting; returns its length or -1. */
static ssize_t recv_now(int fd, char *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);
    if (n >= 0) buf[n] = '\0';
    return n;
}

static void listen_path(struct listener *l)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(l->dir, sizeof l->dir, "%s/eddy-notify-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(l->dir));
    snprintf(l->path, sizeof l->path, "%s/notify.sock", l->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(l->path) < sizeof sa.sun_path);
    strcpy(sa.sun_path, l->path);
    l->fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(l->fd >= 0);
    assert_int_equal(bind(l->fd, (struct sockaddr *)&sa, sizeof sa), 0);
}

static void close_path(struct listener *l)
{
    close(l->fd);
    unlink(l->path);
    rmdir(l->dir);
}

static void test_path_socket(void **state)
{
    (void)state;
    struct listener l;
    listen_path(&l);
    assert_int_equal(setenv("NOTIFY_SOCKET", l.path, 1), 0);
    char buf[256];

    assert_int_equal(ed_plat_notify("READY=1"), ED_OK);
    assert_int_equal(recv_now(l.fd, buf, sizeof buf), 7);
    assert_string_equal(buf, "READY=1");

    /* Several state lines travel in one datagram, in order. */
    assert_int_equal(ed_plat_notify("STATUS=serving\nWATCHDOG=1"), ED_OK);
    assert_true(recv_now(l.fd, buf, sizeof buf) > 0);
    assert_string_equal(buf, "STATUS=serving\nWATCHDOG=1");
    assert_int_equal(recv_now(l.fd, buf, sizeof buf), -1); /* exactly one each */

    unsetenv("NOTIFY_SOCKET");
    close_path(&l);
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "@eddy-notify-test-%ld", (long)getpid());
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(sa.sun_path, name, len);
    sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0);
    assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);

    char buf[64];
    assert_int_equal(ed_plat_notify("WATCHDOG=1"), ED_OK);
    assert_int_equal(recv_now(fd, buf, sizeof buf), 10);
    assert_string_equal(buf, "WATCHDOG=1");

    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

static void test_no_manager(void **state)
{
    (void)state;
    struct listener l;
    listen_path(&l);
    char buf[64];
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(ed_plat_notify("READY=1"), ED_OK);
    assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
    assert_int_equal(ed_plat_notify("READY=1"), ED_OK);
    assert_int_equal(recv_now(l.fd, buf, sizeof buf), -1);
    unsetenv("NOTIFY_SOCKET");
    close_path(&l);
}

static void test_bad_names(void **state)
{
    (void)state;
    struct listener l;
    listen_path(&l);
    char buf[64];
    assert_int_equal(setenv("NOTIFY_SOCKET", l.path, 1), 0);
    assert_int_equal(ed_plat_notify(""), ED_ERR_INVAL);
    assert_int_equal(ed_plat_notify(NULL), ED_ERR_INVAL);
    assert_int_equal(recv_now(l.fd, buf, sizeof buf), -1);

    /* Relative paths and other address kinds are not unix socket names. */
    assert_int_equal(setenv("NOTIFY_SOCKET", "relative/notify.sock", 1), 0);
    assert_int_equal(ed_plat_notify("READY=1"), ED_ERR_UNSUPPORTED);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[0] = '/';
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(setenv("NOTIFY_SOCKET", long_name, 1), 0);
    assert_int_equal(ed_plat_notify("READY=1"), ED_ERR_UNSUPPORTED);

    /* A manager that went away is an error, not a crash or a hang. */
    char gone[320];
    snprintf(gone, sizeof gone, "%s/gone.sock", l.dir);
    assert_int_equal(setenv("NOTIFY_SOCKET", gone, 1), 0);
    assert_int_equal(ed_plat_notify("READY=1"), ED_ERR_NOENT);

    unsetenv("NOTIFY_SOCKET");
    close_path(&l);
}

static void test_watchdog_interval(void **state)
{
    (void)state;
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(ed_plat_watchdog_interval_ms(), 0);

    assert_int_equal(setenv("WATCHDOG_USEC", "30000000", 1), 0);
    assert_int_equal(ed_plat_watchdog_interval_ms(), 30000);
    assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
    assert_int_equal(ed_plat_watchdog_interval_ms(), 30000);
    assert_int_equal(setenv("WATCHDOG_PID", "1", 1), 0); /* meant for another process */
    assert_int_equal(ed_plat_watchdog_interval_ms(), 0);
    unsetenv("WATCHDOG_PID");

    assert_int_equal(setenv("WATCHDOG_USEC", "500", 1), 0); /* rounds up, never to "off" */
    assert_int_equal(ed_plat_watchdog_interval_ms(), 1);
    /* 2^40 us: more than 32 bits of milliseconds survive on 32-bit boards. */
    assert_int_equal(setenv("WATCHDOG_USEC", "1099511627776", 1), 0);
    assert_true(ed_plat_watchdog_interval_ms() == 1099511627ull);
    const char *bad[] = {"0", "", "abc", "10s", "-5", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(setenv("WATCHDOG_USEC", bad[i], 1), 0);
        assert_int_equal(ed_plat_watchdog_interval_ms(), 0);
    }
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),       cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_no_manager),        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_watchdog_interval),
    };
    return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
