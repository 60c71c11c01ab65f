/* Error texts and the assertion handler shared by every module. */
#include "platform/base.h"
#include "platform/platform.h"

#include <stdio.h>

static const char *const texts[ED_ERR__COUNT] = {
    "ok",
    "out of memory",
    "i/o error",
    "no space left",
    "corrupt data",
    "invalid argument",
    "not found",
    "already exists",
    "try again",
    "out of range",
    "too big",
    "closed",
    "unsupported",
    "busy",
    "timed out",
    "protocol error",
    "permission denied",
};

const char *ed_strerror(int err)
{
    if (err > 0 || -err >= ED_ERR__COUNT) return "unknown error";
    return texts[-err];
}

void ed_assert_fail(const char *expr, const char *file, int line)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "assertion failed: %s at %s:%d\n", expr, file, line);
    ed_plat_log_write(0, buf, n > 0 ? (size_t)ED_MIN(n, (int)sizeof buf - 1) : 0);
    ed_plat_abort();
}
