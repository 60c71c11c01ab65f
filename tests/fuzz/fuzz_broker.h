/* What the fuzz targets of listeners share: a broker context over a real
 * storage and topic registry in a temporary folder (removed at exit), the
 * flusher inline, on one loop, with the config keys the target sets. A
 * target defines _GNU_SOURCE (mkdtemp) before its first include. */
#ifndef ED_TESTS_FUZZ_BROKER_H
#define ED_TESTS_FUZZ_BROKER_H

#include <stdio.h>
#include <stdlib.h>

#include "core/broker.h"
#include "core/config.h"
#include "core/topics.h"
#include "platform/log.h"
#include "storage/log.h"

static struct fuzz_broker {
    char dir[64];
    struct ed_config *cfg;
    ed_storage *st;
    ed_topics *topics;
    ed_loop *loop;
    ed_broker b;
} FB;

static void fuzz_broker_cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", FB.dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", FB.dir);
}

/* Opens FB with the keys sets[0..n) ("key", "value" pairs), or aborts. */
static ed_broker *fuzz_broker_open(const char *name, const char *const *sets, int n)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    snprintf(FB.dir, sizeof FB.dir, "/tmp/eddy-fuzz-%s-XXXXXX", name);
    if (!mkdtemp(FB.dir)) abort();
    atexit(fuzz_broker_cleanup);
    char why[256];
    if (ed_config_new(&FB.cfg) || ed_config_set(FB.cfg, "log.dirs", FB.dir, why, sizeof why))
        abort();
    for (int i = 0; i + 1 < n; i += 2)
        if (ed_config_set(FB.cfg, sets[i], sets[i + 1], why, sizeof why)) abort();
    struct ed_storage_config sc;
    ed_config_storage(FB.cfg, &sc);
    sc.use_flusher_thread = false;
    sc.disk_free_floor_len = 0;
    if (ed_storage_open(&sc, &FB.st) || ed_topics_open(FB.st, &sc.log, &FB.topics)) abort();
    ed_topics_set_broker_config(FB.topics, FB.cfg);
    if (ed_plat_loop_new(&FB.loop)) abort();
    FB.b.loop = FB.loop;
    FB.b.storage = FB.st;
    FB.b.topics = FB.topics;
    FB.b.cfg = FB.cfg;
    return &FB.b;
}

#endif
