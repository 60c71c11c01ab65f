/* libFuzzer target for the group APIs: FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups,
 * DescribeGroups, DeleteGroups and OffsetDelete decode request bodies of
 * every version they serve, against one coordinator whose groups live on
 * across inputs (so sequences of requests reach deep states), over a real
 * storage in a temporary folder. Input: byte 0 picks the API, byte 1 the
 * version, byte 2 whether a parked request is cancelled (the connection
 * closes) or left waiting for later inputs, the rest is the request body.
 * With byte 0 >= 240 the input is instead one __consumer_offsets record as
 * read back at start-up (byte 1: key length, then key, then value; byte 2
 * odd: a tombstone), replayed into the same coordinator. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker.h"
#include "core/group.h"
#include "core/group_int.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "storage/log.h"

#define N_PARKED 16

static struct {
    char dir[64];
    ed_storage *st;
    ed_topics *topics;
    ed_loop *loop;
    ed_groups *groups;
    ed_broker b;
    uint64_t now;
} G;

/* A request left waiting (a JoinGroup of a rebalance in progress) and the
 * bytes it points into. */
struct parked {
    ed_kreq req;
    uint8_t *body;
    bool done;
};
static struct parked *parked[N_PARKED];

void ed_kreq_complete(ed_kreq *req)
{
    ((struct parked *)req)->done = true;
}

void ed_kreq_drop(ed_kreq *req)
{
    ((struct parked *)req)->done = true;
}

static uint64_t clock_mono(void *arg)
{
    (void)arg;
    return G.now;
}

static int64_t clock_wall(void *arg)
{
    (void)arg;
    return 1700000000000LL + (int64_t)G.now;
}

static void init(void)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    snprintf(G.dir, sizeof G.dir, "/tmp/eddy-fuzz-group-XXXXXX");
    if (!mkdtemp(G.dir)) abort();
    struct ed_storage_config sc;
    ed_storage_config_default(&sc);
    sc.dir = G.dir;
    sc.use_flusher_thread = false;
    if (ed_storage_open(&sc, &G.st) || ed_topics_open(G.st, &sc.log, &G.topics) ||
        ed_plat_loop_new(&G.loop))
        abort();
    ed_topic *t;
    const char *why;
    if (ed_topics_create(G.topics, "t", 3, NULL, NULL, 0, &why, &t)) abort();
    G.b.loop = G.loop;
    G.b.storage = G.st;
    G.b.topics = G.topics;
    G.b.node_id = 1;
    snprintf(G.b.adv_host, sizeof G.b.adv_host, "localhost");
    G.b.adv_port = 9092;
    struct ed_groups_config gc;
    ed_groups_config_default(&gc);
    gc.initial_rebalance_delay_ms = 0;
    gc.min_session_timeout_ms = 1;
    if (ed_groups_open(&G.b, &gc, &G.groups)) abort();
    struct ed_groups_clock clk = {clock_mono, clock_wall, NULL};
    ed_groups_set_clock(G.groups, &clk);
    G.b.groups = G.groups;
}

static void release(struct parked *p)
{
    if (!p->done && p->req.cancel) p->req.cancel(&p->req);
    ed_kwr_free(&p->req.out);
    free(p->body);
    free(p);
}

static const int16_t keys[] = {8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 47};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    if (!G.st) init();
    if (data[0] >= 240) {
        size_t klen = data[1];
        if (klen > size - 3) klen = size - 3;
        const uint8_t *kp = data + 3, *vp = data + 3 + klen;
        size_t vlen = size - 3 - klen;
        uint8_t *k = malloc(klen + 1), *val = malloc(vlen + 1);
        memcpy(k, kp, klen);
        memcpy(val, vp, vlen);
        ed_gstore_apply(G.groups, k, (int32_t)klen, (data[2] & 1) ? NULL : val,
                        (data[2] & 1) ? -1 : (int32_t)vlen);
        free(k);
        free(val);
        return 0;
    }
    int16_t key = keys[data[0] % (sizeof keys / sizeof keys[0])];
    const struct ed_kapi_entry *e = &ed_kapi_table[key];
    int16_t v = (int16_t)(e->min_version + data[1] % (e->max_version - e->min_version + 1));
    bool keep = data[2] & 1;
    G.now += data[2] >> 1; /* time moves: sessions and rebalances expire */
    struct parked *p = calloc(1, sizeof *p);
    size_t len = size - 3;
    p->body = malloc(len + 1);
    memcpy(p->body, data + 3, len);
    p->req.api_key = key;
    p->req.api_version = v;
    p->req.flex = e->flex_from >= 0 && v >= e->flex_from;
    p->req.client_id = (ed_kstr){"fuzz", 4};
    p->req.broker = &G.b;
    p->req.peer = "fuzz:1";
    ed_krd_init(&p->req.rd, p->body, len);
    ed_kwr_init(&p->req.out, ED_KAPI_RESPONSE_MAX);
    int st = e->fn(&p->req);
    if (st != ED_KAPI_PENDING) p->done = true;
    /* Durable waits (OffsetCommit, DeleteGroups) complete with a flush. */
    ed_storage_tick(G.st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(G.st);
    ed_groups_advance(G.groups);
    if (p->done || !keep) {
        release(p);
    } else {
        /* park it; the oldest parked request's connection closes */
        static unsigned next;
        unsigned slot = next++ % N_PARKED;
        if (parked[slot]) release(parked[slot]);
        parked[slot] = p;
    }
    for (int i = 0; i < N_PARKED; i++)
        if (parked[i] && parked[i]->done) {
            release(parked[i]);
            parked[i] = NULL;
        }
    return 0;
}
