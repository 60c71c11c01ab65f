/* libFuzzer target for the admin and config handlers (CreateTopics,
 * DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
 * IncrementalAlterConfigs, DescribeCluster) over a real storage, topic
 * registry and broker config in a temporary folder. Input: byte 0 picks the
 * API, byte 1 the version, the rest is the request body. Topics the input
 * creates are bounded by the registry; a few are pre-created. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker.h"
#include "core/config.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"
#include "core/topics.h"
#include "platform/log.h"
#include "storage/log.h"

static struct {
    char dir[64];
    ed_storage *st;
    ed_topics *topics;
    struct ed_config *cfg;
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

static void init(void)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    snprintf(G.dir, sizeof G.dir, "/tmp/eddy-fuzz-admin-XXXXXX");
    if (!mkdtemp(G.dir) || ed_config_new(&G.cfg)) abort();
    struct ed_storage_config sc;
    ed_storage_config_default(&sc);
    sc.dir = G.dir;
    sc.use_flusher_thread = false;
    ed_config_log_defaults(G.cfg, &sc.log);
    if (ed_storage_open(&sc, &G.st) || ed_topics_open(G.st, &sc.log, &G.topics)) abort();
    ed_topics_set_broker_config(G.topics, G.cfg);
    ed_topic *t;
    const char *why;
    if (ed_topics_create(G.topics, "t", 2, NULL, NULL, 0, &why, &t)) abort();
    G.b.storage = G.st;
    G.b.topics = G.topics;
    G.b.cfg = G.cfg;
    G.b.node_id = 1;
    snprintf(G.b.cluster_id, sizeof G.b.cluster_id, "fuzz");
    snprintf(G.b.adv_host, sizeof G.b.adv_host, "localhost");
    G.b.adv_port = 9092;
}

static const int16_t keys[] = {19, 20, 37, 32, 33, 44, 60};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    if (!G.st) init();
    int16_t key = keys[data[0] % (sizeof keys / sizeof keys[0])];
    const struct ed_kapi_entry *e = &ed_kapi_table[key];
    if (!e->fn) abort();
    int16_t v = (int16_t)(e->min_version + data[1] % (e->max_version - e->min_version + 1));
    size_t len = size - 2;
    uint8_t *body = malloc(len + 1);
    memcpy(body, data + 2, len);
    ed_kreq req;
    memset(&req, 0, sizeof req);
    req.api_key = key;
    req.api_version = v;
    req.flex = e->flex_from >= 0 && v >= e->flex_from;
    req.broker = &G.b;
    req.peer = "fuzz";
    ed_krd_init(&req.rd, body, len);
    ed_kwr_init(&req.out, ED_KAPI_RESPONSE_MAX);
    ed_kapi_serve(&req); /* decodes through the schema first */
    ed_kreq_release(&req);
    ed_kwr_free(&req.out);
    free(body);
    /* Keep the registry small: drop topics the input created. */
    if (ed_topics_count(G.topics) > 64) {
        ed_topics_close(G.topics);
        ed_storage_close(G.st);
        ed_config_free(G.cfg);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", G.dir);
        if (system(cmd)) abort();
        G.st = NULL;
        init();
    }
    return 0;
}
