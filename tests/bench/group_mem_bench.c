/* Coordinator memory per group and per member, counted by Eddy's allocator
 * (platform/mem.h): N groups of one consumer-protocol member each (a stable
 * generation with a subscription and an assignment, like a consumer of a
 * 6-partition topic), then one group of N members, then committed offsets.
 * Drives the real handlers; prints bytes per group, per member, per offset. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/broker.h"
#include "core/group.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"
#include "core/kafka/kclient_group.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "storage/log.h"

struct breq {
    ed_kreq req; /* first: the completion finds the call from it */
    bool done;
};

void ed_kreq_complete(ed_kreq *req)
{
    ((struct breq *)req)->done = true;
}

void ed_kreq_drop(ed_kreq *req)
{
    ((struct breq *)req)->done = true;
}

static ed_broker B;

/* One request through its handler; a parked request (a join waiting for
 * members that never come back) is cancelled as a closing connection would. */
static void call(int16_t key, int16_t ver, ed_kwr *body, ed_kwr *out)
{
    const struct ed_kapi_entry *e = &ed_kapi_table[key];
    struct breq *b = calloc(1, sizeof *b);
    ed_kreq *req = &b->req;
    req->api_key = key;
    req->api_version = ver;
    req->flex = e->flex_from >= 0 && ver >= e->flex_from;
    req->client_id = (ed_kstr){"consumer-bench-1", 16};
    req->peer = "192.168.1.20:51234";
    req->broker = &B;
    ed_krd_init(&req->rd, body->buf, body->len);
    ed_kwr_init(&req->out, ED_KAPI_RESPONSE_MAX);
    if (e->fn(req) != ED_KAPI_PENDING) b->done = true;
    if (!b->done) {
        /* durable waits (OffsetCommit) complete with a flush */
        ed_storage_tick(B.storage, ed_plat_clock_wall_ms());
        ed_storage_run_completions(B.storage);
    }
    if (!b->done && req->cancel) req->cancel(req);
    if (out) {
        ed_kwr_free(out);
        *out = req->out;
    } else {
        ed_kwr_free(&req->out);
    }
    free(b);
    ed_kwr_reset(body);
}

static uint8_t sub[64], asg[128];
static int32_t sub_len, asg_len;

/* A member joins group (v4 handshake, then join); returns its id. */
static void join(const char *group, char *id, size_t cap, int32_t *gen, bool leader_syncs)
{
    ed_kwr w, out;
    ed_kwr_init(&w, 1 << 20);
    ed_kwr_init(&out, 1 << 20);
    struct ed_kc_protocol p = {"range", sub, sub_len};
    struct ed_kc_join_req q = {group, 45000, 300000, "", NULL, "consumer", 1, &p};
    ed_kc_enc_join_group(&w, 7, &q);
    call(11, 7, &w, &out);
    ed_krd r;
    ed_krd_init(&r, out.buf, out.len);
    struct ed_kc_join j;
    memset(&j, 0, sizeof j);
    ed_kc_dec_join_group(&r, 7, &j);
    snprintf(id, cap, "%.*s", (int)j.member_id.len, j.member_id.p);
    ed_kc_free(&j.mem);
    q.member_id = id;
    ed_kc_enc_join_group(&w, 7, &q);
    call(11, 7, &w, &out);
    ed_krd_init(&r, out.buf, out.len);
    memset(&j, 0, sizeof j);
    ed_kc_dec_join_group(&r, 7, &j);
    *gen = j.generation;
    ed_kc_free(&j.mem);
    if (leader_syncs) {
        struct ed_kc_assignment a = {id, asg, asg_len};
        struct ed_kc_sync_req s = {group, *gen, id, NULL, "consumer", "range", 1, &a};
        ed_kc_enc_sync_group(&w, 5, &s);
        call(14, 5, &w, NULL);
    }
    ed_kwr_free(&w);
    ed_kwr_free(&out);
}

static size_t used(void)
{
    struct ed_mem_stats s;
    ed_mem_stats_get(&s);
    return s.cur_len;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    char dir[] = "/tmp/eddy-bench-groups-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    struct ed_storage_config sc;
    ed_storage_config_default(&sc);
    sc.dir = dir;
    sc.use_flusher_thread = false;
    ed_storage *st;
    ed_topics *topics;
    ed_loop *loop;
    ed_groups *g;
    if (ed_storage_open(&sc, &st) || ed_topics_open(st, &sc.log, &topics) ||
        ed_plat_loop_new(&loop))
        return 1;
    ed_topic *t;
    const char *why;
    ed_topics_create(topics, "sensors", 6, NULL, NULL, 0, &why, &t);
    B.loop = loop;
    B.storage = st;
    B.topics = topics;
    struct ed_groups_config gc;
    ed_groups_config_default(&gc);
    gc.initial_rebalance_delay_ms = 0;
    if (ed_groups_open(&B, &gc, &g)) return 1;
    B.groups = g;
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    const char *topic_list[] = {"sensors"};
    ed_kc_consumer_subscription(&w, topic_list, 1);
    memcpy(sub, w.buf, w.len);
    sub_len = (int32_t)w.len;
    ed_kwr_reset(&w);
    struct ed_kc_tp parts[6];
    for (int i = 0; i < 6; i++)
        parts[i] = (struct ed_kc_tp){"sensors", i};
    ed_kc_consumer_assignment(&w, parts, 6);
    memcpy(asg, w.buf, w.len);
    asg_len = (int32_t)w.len;
    ed_kwr_free(&w);
    /* warm up: the offsets topic and the first allocations */
    char id[256];
    int32_t gen;
    join("warm-up", id, sizeof id, &gen, true);

    char(*ids)[256] = calloc((size_t)n, sizeof *ids);
    int32_t *gens = calloc((size_t)n, sizeof *gens);
    if (!ids || !gens) return 1;
    size_t m0 = used();
    for (int i = 0; i < n; i++) {
        char group[64];
        snprintf(group, sizeof group, "dashboard-%05d", i);
        join(group, ids[i], sizeof ids[i], &gens[i], true);
    }
    size_t m1 = used();
    /* one group, n members: each join of a dynamic member is parked (the
     * others do not rejoin); what is measured is the members' state */
    for (int i = 0; i < n; i++)
        join("big-group", id, sizeof id, &gen, false);
    size_t m2 = used();
    /* committed offsets: the 6 partitions of each of the n groups */
    ed_kwr_init(&w, 1 << 20);
    for (int i = 0; i < n; i++) {
        char group[64];
        snprintf(group, sizeof group, "dashboard-%05d", i);
        struct ed_kc_commit_part cp[6];
        for (int p = 0; p < 6; p++)
            cp[p] = (struct ed_kc_commit_part){"sensors", p, 1000 + i, 0, ""};
        struct ed_kc_commit_req q = {group, gens[i], ids[i], NULL, 6, cp};
        ed_kc_enc_offset_commit(&w, 8, &q);
        call(8, 8, &w, NULL);
    }
    size_t m3 = used();
    ed_kwr_free(&w);
    struct ed_groups_stats gs;
    ed_groups_stats_get(g, &gs);
    printf("groups=%d members=%d offsets=%lld\n", (int)gs.n_groups, (int)gs.n_members,
           (long long)gs.n_offsets);
    printf("per_group_one_member_bytes=%.0f\n", (double)(m1 - m0) / n);
    printf("per_member_bytes=%.0f\n", (double)(m2 - m1) / n);
    printf("per_committed_offset_bytes=%.0f\n", (double)(m3 - m2) / (6.0 * n));
    free(ids);
    free(gens);
    ed_groups_close(g);
    ed_topics_close(topics);
    ed_storage_close(st);
    ed_plat_loop_free(loop);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
