/* libFuzzer target for the data-path Kafka handlers: Produce, Fetch,
 * ListOffsets, InitProducerId and OffsetForLeaderEpoch decode request bodies
 * of every version they serve, over a real storage and topic registry in a
 * temporary folder. Input: byte 0 picks the API, byte 1 the version, the
 * rest is the request body. Pending requests are cancelled as a closing
 * connection would. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_data.h"
#include "core/kafka/kapi_handlers.h"
#include "core/pidstate.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "storage/log.h"

static struct {
    char dir[64];
    ed_storage *st;
    ed_topics *topics;
    ed_loop *loop;
    ed_pids *pids;
    ed_broker b;
} G;

void ed_kreq_complete(ed_kreq *req)
{
    (void)req;
}

void ed_kreq_drop(ed_kreq *req)
{
    (void)req;
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", G.dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_kapi_data: could not remove %s\n", G.dir);
}

static void init(void)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    snprintf(G.dir, sizeof G.dir, "/tmp/eddy-fuzz-kapi-XXXXXX");
    if (!mkdtemp(G.dir)) abort();
    atexit(cleanup);
    struct ed_storage_config sc;
    ed_storage_config_default(&sc);
    sc.dir = G.dir;
    sc.use_flusher_thread = false;
    if (ed_storage_open(&sc, &G.st) || ed_topics_open(G.st, &sc.log, &G.topics) ||
        ed_pids_open(G.dir, &G.pids) || ed_plat_loop_new(&G.loop) || ed_kapi_data_attach(G.topics))
        abort();
    ed_topic *t;
    const char *why;
    if (ed_topics_create(G.topics, "t", 2, NULL, NULL, 0, &why, &t)) abort();
    G.b.loop = G.loop;
    G.b.storage = G.st;
    G.b.topics = G.topics;
    G.b.pids = G.pids;
}

static const int16_t keys[] = {0, 1, 2, 22, 23};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if (!G.st) init();
    int16_t key = keys[data[0] % (sizeof keys / sizeof keys[0])];
    const struct ed_kapi_entry *e = &ed_kapi_table[key];
    int16_t v = (int16_t)(e->min_version + data[1] % (e->max_version - e->min_version + 1));
    size_t len = size - 2;
    uint8_t *body = malloc(len + 1);
    memcpy(body, data + 2, len);
    ed_kreq req;
    memset(&req, 0, sizeof req);
    req.api_key = key;
    req.api_version = v;
    req.flex = v >= e->flex_from;
    req.broker = &G.b;
    req.peer = "fuzz";
    ed_krd_init(&req.rd, body, len);
    ed_kwr_init(&req.out, ED_KAPI_RESPONSE_MAX);
    int st = ed_kapi_serve(&req); /* decodes through the schema first */
    if (st == ED_KAPI_PENDING && req.cancel) req.cancel(&req);
    /* Durable waits of a cancelled produce complete here. */
    ed_storage_tick(G.st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(G.st);
    ed_kreq_release(&req);
    ed_kwr_free(&req.out);
    free(body);
    return 0;
}
