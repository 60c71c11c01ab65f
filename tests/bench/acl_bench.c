/* ACL authorizer cost: ns per ed_acl_authorize with 10, 100, 1,000 and
 * 4,000 bindings (a gateway's mix: per-user literal topic and group
 * bindings, some prefixed ones, a wildcard deny for one host), for a
 * request that is allowed, one that is refused, and one on a resource no
 * binding names. Each measurement runs for a bounded time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acl.h"
#include "platform/platform.h"

static struct ed_acl_binding bind(enum ed_acl_res res, enum ed_acl_pattern pat, const char *name,
                                  const char *pr, const char *host, enum ed_acl_op op,
                                  enum ed_acl_perm perm)
{
    return (struct ed_acl_binding){res,          pat, op,         perm, name,
                                   strlen(name), pr,  strlen(pr), host, strlen(host)};
}

/* n bindings: user i may READ and WRITE topic plant.i and READ group
 * dash.i; every tenth user has a prefixed CREATE on site.i.; a DENY of
 * everything from one host. */
#define SCRATCH "build/bench/acl-scratch"

static ed_acl *store(size_t n, char (*names)[3][64])
{
    ed_acl *a;
    ed_plat_path_unlink(SCRATCH "/" ED_ACL_FILE);
    if (ed_acl_open(SCRATCH, &a) != ED_OK) exit(1);
    struct ed_acl_binding *b = calloc(n, sizeof *b);
    if (!b) exit(1);
    size_t k = 0;
    b[k++] = bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, "*", "User:*", "192.0.2.9", ED_ACL_OP_ALL,
                  ED_ACL_PERM_DENY);
    for (size_t i = 0; k < n; i++) {
        snprintf(names[i][0], 64, "User:user-%zu", i);
        snprintf(names[i][1], 64, "plant.%zu", i);
        snprintf(names[i][2], 64, i % 10 ? "dash.%zu" : "site.%zu.", i);
        b[k++] = bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, names[i][1], names[i][0], "*",
                      ED_ACL_OP_READ, ED_ACL_PERM_ALLOW);
        if (k < n)
            b[k++] = bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_LITERAL, names[i][1], names[i][0], "*",
                          ED_ACL_OP_WRITE, ED_ACL_PERM_ALLOW);
        if (k < n)
            b[k++] = i % 10 ? bind(ED_ACL_RES_GROUP, ED_ACL_PAT_LITERAL, names[i][2], names[i][0],
                                   "*", ED_ACL_OP_READ, ED_ACL_PERM_ALLOW)
                            : bind(ED_ACL_RES_TOPIC, ED_ACL_PAT_PREFIXED, names[i][2], names[i][0],
                                   "*", ED_ACL_OP_CREATE, ED_ACL_PERM_ALLOW);
    }
    if (ed_acl_add(a, b, n) != ED_OK) {
        fprintf(stderr, "acl_bench: cannot build the store (run from the project's root)\n");
        exit(1);
    }
    free(b);
    return a;
}

static double measure(const ed_acl *a, const char *pr, const char *host, enum ed_acl_op op,
                      const char *topic, bool want)
{
    const uint64_t budget_ns = 200000000u; /* 0.2 s per measurement */
    uint64_t n = 0, t0 = ed_plat_clock_mono_ns(), t1;
    size_t tl = strlen(topic);
    do {
        for (int i = 0; i < 256; i++)
            if (ed_acl_authorize(a, pr, host, op, ED_ACL_RES_TOPIC, topic, tl) != want) exit(2);
        n += 256;
        t1 = ed_plat_clock_mono_ns();
    } while (t1 - t0 < budget_ns);
    return (double)(t1 - t0) / (double)n;
}

int main(void)
{
    static const size_t sizes[] = {10, 100, 1000, 4000};
    char(*names)[3][64] = calloc(4000, sizeof *names);
    if (!names) return 1;
    ed_plat_dir_make(SCRATCH); /* the store writes its file there */
    printf("%-9s %12s %12s %12s\n", "bindings", "allowed ns", "refused ns", "unnamed ns");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        ed_acl *a = store(sizes[k], names);
        size_t u = sizes[k] / 6; /* a user in the middle */
        double ok = measure(a, names[u][0], "10.0.0.5", ED_ACL_OP_WRITE, names[u][1], true);
        double no = measure(a, names[u][0], "10.0.0.5", ED_ACL_OP_WRITE, names[u + 1][1], false);
        double none = measure(a, names[u][0], "10.0.0.5", ED_ACL_OP_READ, "other.topic", false);
        printf("%-9zu %12.1f %12.1f %12.1f\n", ed_acl_count(a), ok, no, none);
        ed_acl_close(a);
    }
    free(names);
    return 0;
}
