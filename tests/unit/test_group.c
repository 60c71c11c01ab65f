/* Unit tests of the group coordinator: the classic protocol's state machine
 * driven through the real Kafka handlers with requests encoded (and
 * responses decoded) by Eddy's client codec, over a real storage and topic
 * registry in a temporary folder, with a fake clock for session, rebalance
 * and initial-delay deadlines and offsets retention. Committed offsets are
 * checked across restarts of the coordinator and storage. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/broker.h"
#include "core/group.h"
#include "core/group_int.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"
#include "core/kafka/kclient_group.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/net.h"
#include "storage/compact.h"
#include "storage/log.h"

/* ---- fixture ---- */

struct fx {
    char dir[64];
    ed_storage *st;
    ed_topics *topics;
    ed_loop *loop;
    ed_groups *groups;
    struct ed_storage_config sc;
    struct ed_groups_config gc;
    ed_broker b;
    uint64_t mono;
    int64_t wall;
};

struct call {
    ed_kreq req; /* first: ed_kreq_complete finds the call from it */
    uint8_t *body;
    int status;
    bool done;
    int16_t key, ver;
};

/* The server's side of PENDING: the tests stand in for it. */
void ed_kreq_complete(ed_kreq *req)
{
    struct call *c = (struct call *)req;
    assert_false(c->done);
    c->done = true;
}

void ed_kreq_drop(ed_kreq *req)
{
    ((struct call *)req)->done = true;
}

static uint64_t fake_mono(void *arg)
{
    return ((struct fx *)arg)->mono;
}

static int64_t fake_wall(void *arg)
{
    return ((struct fx *)arg)->wall;
}

static void fx_open(struct fx *f)
{
    ed_storage_config_default(&f->sc);
    f->sc.dir = f->dir;
    f->sc.use_flusher_thread = false;
    assert_int_equal(ed_storage_open(&f->sc, &f->st), ED_OK);
    assert_int_equal(ed_topics_open(f->st, &f->sc.log, &f->topics), ED_OK);
    memset(&f->b, 0, sizeof f->b);
    f->b.loop = f->loop;
    f->b.storage = f->st;
    f->b.topics = f->topics;
    f->b.node_id = 7;
    snprintf(f->b.adv_host, sizeof f->b.adv_host, "gateway.local");
    f->b.adv_port = 9092;
    assert_int_equal(ed_groups_open(&f->b, &f->gc, &f->groups), ED_OK);
    struct ed_groups_clock clk = {fake_mono, fake_wall, f};
    ed_groups_set_clock(f->groups, &clk);
    f->b.groups = f->groups;
}

static void fx_close(struct fx *f)
{
    ed_groups_close(f->groups);
    f->groups = NULL;
    ed_topics_close(f->topics);
    ed_storage_close(f->st);
}

static void fx_restart(struct fx *f)
{
    fx_close(f);
    fx_open(f);
}

static int setup_cfg(void **state, int32_t initial_delay)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/eddy-group-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(ed_plat_loop_new(&f->loop), ED_OK);
    ed_groups_config_default(&f->gc);
    f->gc.initial_rebalance_delay_ms = initial_delay;
    f->gc.min_session_timeout_ms = 1000;
    f->mono = 1000000;
    f->wall = 1700000000000LL;
    fx_open(f);
    ed_topic *t;
    const char *why = NULL;
    assert_int_equal(ed_topics_create(f->topics, "t", 6, NULL, NULL, 0, &why, &t), ED_OK);
    assert_int_equal(ed_topics_create(f->topics, "u", 2, NULL, NULL, 0, &why, &t), ED_OK);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_cfg(state, 0);
}

static int setup_delay(void **state)
{
    return setup_cfg(state, 3000);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fx_close(f);
    ed_plat_loop_free(f->loop);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void advance(struct fx *f, uint64_t ms)
{
    f->mono += ms;
    f->wall += (int64_t)ms;
    ed_groups_advance(f->groups);
}

/* Flushes storage so durable waits (OffsetCommit) complete. */
static void flush(struct fx *f)
{
    ed_storage_tick(f->st, ed_plat_clock_wall_ms());
    ed_storage_run_completions(f->st);
}

/* ---- calls ---- */

static void call_start(struct fx *f, struct call *c, int16_t key, int16_t ver, const ed_kwr *body)
{
    memset(c, 0, sizeof *c);
    const struct ed_kapi_entry *e = &ed_kapi_table[key];
    assert_non_null(e->fn);
    assert_true(ver >= e->min_version && ver <= e->max_version);
    c->key = key;
    c->ver = ver;
    c->body = malloc(body->len + 1);
    if (body->len) memcpy(c->body, body->buf, body->len);
    c->req.api_key = key;
    c->req.api_version = ver;
    c->req.correlation_id = 1;
    c->req.client_id = (ed_kstr){"tester", 6};
    c->req.flex = e->flex_from >= 0 && ver >= e->flex_from;
    ed_krd_init(&c->req.rd, c->body, body->len);
    ed_kwr_init(&c->req.out, ED_KAPI_RESPONSE_MAX);
    c->req.broker = &f->b;
    c->req.peer = "10.0.0.5:40000";
    c->status = e->fn(&c->req);
    if (c->status == ED_KAPI_RESPOND) c->done = true;
    if (c->status == ED_KAPI_PENDING && !c->done) assert_non_null(c->req.cancel);
}

static void call_free(struct call *c)
{
    if (c->status == ED_KAPI_PENDING && !c->done && c->req.cancel) c->req.cancel(&c->req);
    ed_kwr_free(&c->req.out);
    free(c->body);
    memset(c, 0, sizeof *c);
}

static ed_krd resp(struct call *c)
{
    assert_true(c->done);
    ed_krd r;
    ed_krd_init(&r, c->req.out.buf, c->req.out.len);
    return r;
}

static char *kdup(ed_kstr s)
{
    char *p = malloc((size_t)(s.len < 0 ? 0 : s.len) + 1);
    if (s.len > 0) memcpy(p, s.p, (size_t)s.len);
    p[s.len < 0 ? 0 : s.len] = '\0';
    return p;
}

static bool kis(ed_kstr s, const char *z)
{
    return s.len == (int32_t)strlen(z) && memcmp(s.p, z, (size_t)s.len) == 0;
}

/* ---- group operations ---- */

struct member {
    char id[256];
    char instance[64];
    int32_t generation;
    bool leader;
    int32_t n_members; /* in the leader's join answer */
    char members[8][256];
};

static struct ed_kc_protocol protos_std[2];
static const uint8_t *want_meta; /* metadata the leader should see */
static int32_t want_len;
static uint8_t sub_meta[256];
static int32_t sub_len;

static const struct ed_kc_protocol *consumer_protocols(int *n)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    const char *topics[] = {"t"};
    ed_kc_consumer_subscription(&w, topics, 1);
    memcpy(sub_meta, w.buf, w.len);
    sub_len = (int32_t)w.len;
    ed_kwr_free(&w);
    protos_std[0] = (struct ed_kc_protocol){"range", sub_meta, sub_len};
    protos_std[1] = (struct ed_kc_protocol){"roundrobin", sub_meta, sub_len};
    *n = 2;
    return protos_std;
}

static void join_start_p(struct fx *f, struct call *c, int16_t ver, const char *group,
                         const char *member_id, const char *instance, const char *ptype,
                         const struct ed_kc_protocol *protos, int n_protos, int32_t session_ms)
{
    ed_kwr w;
    ed_kwr_init(&w, 1u << 20);
    struct ed_kc_join_req q = {group,    session_ms, 60000,    member_id,
                               instance, ptype,      n_protos, protos};
    ed_kc_enc_join_group(&w, ver, &q);
    want_meta = n_protos > 0 ? protos[0].meta : NULL;
    want_len = n_protos > 0 ? protos[0].meta_len : 0;
    call_start(f, c, 11, ver, &w);
    ed_kwr_free(&w);
}

static void join_start(struct fx *f, struct call *c, int16_t ver, const char *group,
                       const char *member_id, const char *instance)
{
    int n;
    const struct ed_kc_protocol *p = consumer_protocols(&n);
    join_start_p(f, c, ver, group, member_id, instance, "consumer", p, n, 10000);
}

/* Decodes a finished join into m; returns the error. */
static int16_t join_result(struct call *c, struct member *m)
{
    ed_krd r = resp(c);
    struct ed_kc_join j;
    memset(&j, 0, sizeof j);
    assert_int_equal(ed_kc_dec_join_group(&r, c->ver, &j), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    if (j.member_id.len > 0) {
        assert_true(j.member_id.len < 256);
        memcpy(m->id, j.member_id.p, (size_t)j.member_id.len);
        m->id[j.member_id.len] = '\0';
    }
    m->generation = j.generation;
    m->leader = j.error == 0 && j.leader.len > 0 && kis(j.leader, m->id);
    m->n_members = j.n_members;
    for (int32_t i = 0; i < j.n_members && i < 8; i++) {
        memcpy(m->members[i], j.members[i].member_id.p, (size_t)j.members[i].member_id.len);
        m->members[i][j.members[i].member_id.len] = '\0';
        assert_int_equal(j.members[i].metadata.len, want_len);
        assert_memory_equal(j.members[i].metadata.p, want_meta, (size_t)want_len);
    }
    if (j.error == 0 && c->ver >= 7) assert_true(kis(j.protocol_type, "consumer"));
    int16_t err = j.error;
    ed_kc_free(&j.mem);
    return err;
}

/* A new member: the v4+ handshake, then a join that may stay parked. */
static void join_new(struct fx *f, struct call *c, int16_t ver, const char *group, struct member *m)
{
    memset(m, 0, sizeof *m);
    if (ver >= 4) {
        join_start(f, c, ver, group, "", NULL);
        assert_true(c->done);
        assert_int_equal(join_result(c, m), ED_KERR_MEMBER_ID_REQUIRED);
        assert_true(strlen(m->id) > 0);
        assert_int_equal(strncmp(m->id, "tester-", 7), 0);
        call_free(c);
        join_start(f, c, ver, group, m->id, NULL);
    } else {
        join_start(f, c, ver, group, "", NULL);
    }
}

static int16_t sync_call(struct fx *f, struct call *c, int16_t ver, const char *group,
                         const struct member *m, const struct ed_kc_assignment *a, int n)
{
    ed_kwr w;
    ed_kwr_init(&w, 1u << 20);
    struct ed_kc_sync_req q = {group, m->generation, m->id, NULL, NULL, NULL, n, a};
    ed_kc_enc_sync_group(&w, ver, &q);
    call_start(f, c, 14, ver, &w);
    ed_kwr_free(&w);
    return 0;
}

static int16_t sync_result(struct call *c, char *out, size_t cap)
{
    ed_krd r = resp(c);
    struct ed_kc_sync s;
    memset(&s, 0, sizeof s);
    assert_int_equal(ed_kc_dec_sync_group(&r, c->ver, &s), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    if (out) {
        assert_true((size_t)s.assignment.len < cap);
        memcpy(out, s.assignment.p, (size_t)s.assignment.len);
        out[s.assignment.len] = '\0';
    }
    int16_t e = s.error;
    ed_kc_free(&s.mem);
    return e;
}

static int16_t heartbeat_v(struct fx *f, int16_t ver, const char *group, const char *member,
                           int32_t gen, const char *instance)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    struct ed_kc_heartbeat_req q = {group, gen, member, instance};
    ed_kc_enc_heartbeat(&w, ver, &q);
    struct call c;
    call_start(f, &c, 12, ver, &w);
    ed_kwr_free(&w);
    ed_krd r = resp(&c);
    struct ed_kc_error e;
    memset(&e, 0, sizeof e);
    assert_int_equal(ed_kc_dec_heartbeat(&r, ver, &e), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    call_free(&c);
    return e.error;
}

static int16_t heartbeat(struct fx *f, const char *group, const struct member *m)
{
    return heartbeat_v(f, 4, group, m->id, m->generation, NULL);
}

static int16_t leave(struct fx *f, int16_t ver, const char *group, const char *member_id,
                     const char *instance)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    struct ed_kc_leave_member lm = {member_id, instance};
    struct ed_kc_leave_req q = {group, 1, &lm};
    ed_kc_enc_leave_group(&w, ver, &q);
    struct call c;
    call_start(f, &c, 13, ver, &w);
    ed_kwr_free(&w);
    ed_krd r = resp(&c);
    struct ed_kc_leave l;
    memset(&l, 0, sizeof l);
    assert_int_equal(ed_kc_dec_leave_group(&r, ver, &l), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    int16_t err = l.error;
    if (ver >= 3) {
        assert_int_equal(err, 0);
        assert_int_equal(l.n, 1);
        err = l.members[0].error;
    }
    ed_kc_free(&l.mem);
    call_free(&c);
    return err;
}

static struct ed_group *grp_of(struct fx *f, const char *id)
{
    return ed_group_find_z(f->groups, id);
}

/* Builds a one-member stable group; m gets its identity. */
static void stable_one(struct fx *f, const char *group, struct member *m)
{
    struct call c;
    join_new(f, &c, 5, group, m);
    assert_true(c.done);
    assert_int_equal(join_result(&c, m), 0);
    assert_true(m->leader);
    call_free(&c);
    struct ed_kc_assignment a = {m->id, (const uint8_t *)"A-all", 5};
    sync_call(f, &c, 3, group, m, &a, 1);
    assert_true(c.done);
    char buf[64];
    assert_int_equal(sync_result(&c, buf, sizeof buf), 0);
    assert_string_equal(buf, "A-all");
    call_free(&c);
}

/* ---- tests: membership ---- */

static void test_single_member_lifecycle(void **state)
{
    struct fx *f = *state;
    struct member a;
    stable_one(f, "g1", &a);
    assert_int_equal(a.generation, 1);
    assert_int_equal(a.n_members, 1);
    assert_string_equal(a.members[0], a.id);
    struct ed_group *g = grp_of(f, "g1");
    assert_int_equal(g->state, ED_GS_STABLE);
    assert_int_equal(heartbeat(f, "g1", &a), 0);
    /* a stable follower rejoining unchanged gets the same generation back */
    assert_int_equal(leave(f, 1, "g1", a.id, NULL), 0);
    assert_int_equal(g->state, ED_GS_EMPTY);
    assert_int_equal(g->generation, 2);
    assert_int_equal(heartbeat(f, "g1", &a), ED_KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(leave(f, 1, "g1", a.id, NULL), ED_KERR_UNKNOWN_MEMBER_ID);
}

static void test_two_members_rebalance(void **state)
{
    struct fx *f = *state;
    struct member a, b;
    stable_one(f, "g", &a);
    struct call cb, ca;
    /* B joins with v3 (no member-id round trip): the group rebalances */
    join_new(f, &cb, 3, "g", &b);
    assert_false(cb.done);
    assert_int_equal(grp_of(f, "g")->state, ED_GS_PREPARING);
    assert_int_equal(heartbeat(f, "g", &a), ED_KERR_REBALANCE_IN_PROGRESS);
    /* a sync in PreparingRebalance is told the same */
    struct ed_kc_assignment none = {a.id, (const uint8_t *)"", 0};
    sync_call(f, &ca, 4, "g", &a, &none, 1);
    assert_int_equal(sync_result(&ca, NULL, 0), ED_KERR_REBALANCE_IN_PROGRESS);
    call_free(&ca);
    join_start(f, &ca, 5, "g", a.id, NULL);
    assert_true(ca.done && cb.done);
    assert_int_equal(join_result(&ca, &a), 0);
    assert_int_equal(join_result(&cb, &b), 0);
    call_free(&ca);
    call_free(&cb);
    assert_int_equal(a.generation, 2);
    assert_int_equal(b.generation, 2);
    assert_true(a.leader);
    assert_false(b.leader);
    assert_int_equal(a.n_members, 2);
    assert_int_equal(b.n_members, 0);
    assert_int_equal(grp_of(f, "g")->state, ED_GS_COMPLETING);
    /* heartbeats while completing are fine; stale generations are not */
    assert_int_equal(heartbeat(f, "g", &b), 0);
    assert_int_equal(heartbeat_v(f, 4, "g", b.id, 1, NULL), ED_KERR_ILLEGAL_GENERATION);
    assert_int_equal(heartbeat_v(f, 4, "g", "nobody", 2, NULL), ED_KERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(heartbeat_v(f, 4, "nogroup", b.id, 2, NULL), ED_KERR_UNKNOWN_MEMBER_ID);
    /* the follower waits for the leader's assignments */
    sync_call(f, &cb, 5, "g", &b, NULL, 0);
    assert_false(cb.done);
    struct member stale = b;
    stale.generation = 1;
    sync_call(f, &ca, 5, "g", &stale, NULL, 0);
    assert_int_equal(sync_result(&ca, NULL, 0), ED_KERR_ILLEGAL_GENERATION);
    call_free(&ca);
    struct ed_kc_assignment as[2] = {{a.id, (const uint8_t *)"AAA", 3},
                                     {b.id, (const uint8_t *)"BB", 2}};
    sync_call(f, &ca, 5, "g", &a, as, 2);
    assert_true(ca.done && cb.done);
    char buf[16];
    assert_int_equal(sync_result(&ca, buf, sizeof buf), 0);
    assert_string_equal(buf, "AAA");
    assert_int_equal(sync_result(&cb, buf, sizeof buf), 0);
    assert_string_equal(buf, "BB");
    call_free(&ca);
    call_free(&cb);
    assert_int_equal(grp_of(f, "g")->state, ED_GS_STABLE);
    assert_int_equal(heartbeat(f, "g", &a), 0);
    assert_int_equal(heartbeat(f, "g", &b), 0);
    /* a stable follower's unchanged rejoin is answered at once */
    join_start(f, &cb, 6, "g", b.id, NULL);
    assert_true(cb.done);
    assert_int_equal(join_result(&cb, &b), 0);
    assert_int_equal(b.generation, 2);
    call_free(&cb);
    assert_int_equal(grp_of(f, "g")->state, ED_GS_STABLE);
    /* late sync in a stable group returns the stored assignment */
    sync_call(f, &cb, 0, "g", &b, NULL, 0);
    assert_int_equal(sync_result(&cb, buf, sizeof buf), 0);
    assert_string_equal(buf, "BB");
    call_free(&cb);
}

static void test_session_timeout(void **state)
{
    struct fx *f = *state;
    struct member a, b;
    stable_one(f, "g", &a);
    struct call ca, cb;
    join_new(f, &cb, 5, "g", &b);
    join_start(f, &ca, 5, "g", a.id, NULL);
    assert_true(ca.done && cb.done);
    join_result(&ca, &a);
    join_result(&cb, &b);
    call_free(&ca);
    call_free(&cb);
    struct ed_kc_assignment as[2] = {{a.id, (const uint8_t *)"x", 1},
                                     {b.id, (const uint8_t *)"y", 1}};
    sync_call(f, &cb, 5, "g", &b, NULL, 0);
    sync_call(f, &ca, 5, "g", &a, as, 2);
    assert_true(ca.done && cb.done);
    call_free(&ca);
    call_free(&cb);
    /* only A heartbeats; B's 10 s session runs out */
    for (int i = 0; i < 3; i++) {
        advance(f, 3000);
        assert_int_equal(heartbeat(f, "g", &a), 0);
    }
    advance(f, 999);
    assert_int_equal(grp_of(f, "g")->n_members, 2);
    advance(f, 1);
    assert_int_equal(grp_of(f, "g")->n_members, 1);
    assert_int_equal(grp_of(f, "g")->state, ED_GS_PREPARING);
    assert_int_equal(heartbeat(f, "g", &a), ED_KERR_REBALANCE_IN_PROGRESS);
    assert_int_equal(heartbeat(f, "g", &b), ED_KERR_UNKNOWN_MEMBER_ID);
    join_start(f, &ca, 5, "g", a.id, NULL);
    assert_true(ca.done);
    assert_int_equal(join_result(&ca, &a), 0);
    assert_int_equal(a.generation, 3);
    assert_int_equal(a.n_members, 1);
    call_free(&ca);
    struct ed_groups_stats s;
    ed_groups_stats_get(f->groups, &s);
    assert_int_equal(s.n_expired, 1);
}

static void test_rebalance_timeout(void **state)
{
    struct fx *f = *state;
    struct member a, b, c;
    stable_one(f, "g", &a);
    struct call ca, cb, cc;
    join_new(f, &cb, 5, "g", &b);
    join_start(f, &ca, 5, "g", a.id, NULL);
    join_result(&ca, &a);
    join_result(&cb, &b);
    call_free(&ca);
    call_free(&cb);
    struct ed_kc_assignment as[2] = {{a.id, (const uint8_t *)"x", 1},
                                     {b.id, (const uint8_t *)"y", 1}};
    sync_call(f, &cb, 5, "g", &b, NULL, 0);
    sync_call(f, &ca, 5, "g", &a, as, 2);
    call_free(&ca);
    call_free(&cb);
    /* C joins; A rejoins; B (a long session) never does */
    join_new(f, &cc, 5, "g", &c);
    assert_false(cc.done);
    join_start(f, &ca, 5, "g", a.id, NULL);
    assert_false(ca.done);
    for (int i = 0; i < 19; i++) {
        advance(f, 3000);
        heartbeat(f, "g", &b); /* B is alive but does not rejoin */
    }
    assert_false(ca.done);
    advance(f, 3001); /* past the 60 s rebalance timeout */
    assert_true(ca.done && cc.done);
    assert_int_equal(join_result(&ca, &a), 0);
    assert_int_equal(join_result(&cc, &c), 0);
    call_free(&ca);
    call_free(&cc);
    assert_int_equal(a.generation, 3);
    assert_int_equal(a.n_members, 2);
    assert_int_equal(heartbeat(f, "g", &b), ED_KERR_UNKNOWN_MEMBER_ID);
    /* nobody syncs: the sync deadline removes both and the group empties */
    advance(f, 60001);
    assert_int_equal(grp_of(f, "g")->state, ED_GS_EMPTY);
    assert_int_equal(grp_of(f, "g")->n_members, 0);
}

static void test_initial_delay(void **state)
{
    struct fx *f = *state;
    struct member a, b;
    struct call ca, cb;
    join_new(f, &ca, 5, "d", &a);
    assert_false(ca.done);
    advance(f, 100);
    join_new(f, &cb, 5, "d", &b);
    assert_false(cb.done);
    advance(f, 2900); /* first delay over, but B came during it: wait again */
    assert_false(ca.done);
    assert_int_equal(grp_of(f, "d")->state, ED_GS_PREPARING);
    advance(f, 3000);
    assert_true(ca.done && cb.done);
    assert_int_equal(join_result(&ca, &a), 0);
    assert_int_equal(join_result(&cb, &b), 0);
    assert_int_equal(a.generation, 1);
    assert_int_equal(a.n_members + b.n_members, 2);
    call_free(&ca);
    call_free(&cb);
}

static void test_member_id_required_pending(void **state)
{
    struct fx *f = *state;
    struct member a;
    struct call c;
    join_start(f, &c, 4, "p", "", NULL);
    assert_int_equal(join_result(&c, &a), ED_KERR_MEMBER_ID_REQUIRED);
    call_free(&c);
    /* the handed-out id is pending; an unknown id is refused */
    join_start(f, &c, 4, "p", "made-up", NULL);
    assert_int_equal(join_result(&c, &(struct member){0}), ED_KERR_UNKNOWN_MEMBER_ID);
    call_free(&c);
    assert_int_equal(grp_of(f, "p")->n_pending, 1);
    advance(f, 10001); /* never came back within its session */
    assert_int_equal(grp_of(f, "p")->n_pending, 0);
    join_start(f, &c, 4, "p", a.id, NULL);
    assert_int_equal(join_result(&c, &a), ED_KERR_UNKNOWN_MEMBER_ID);
    call_free(&c);
}

static void test_static_membership(void **state)
{
    struct fx *f = *state;
    struct member a;
    struct call c;
    memset(&a, 0, sizeof a);
    join_start(f, &c, 5, "s", "", "inst-1");
    assert_true(c.done); /* static members skip the member-id round trip */
    assert_int_equal(join_result(&c, &a), 0);
    call_free(&c);
    assert_int_equal(strncmp(a.id, "inst-1-", 7), 0);
    struct ed_kc_assignment as = {a.id, (const uint8_t *)"P0", 2};
    sync_call(f, &c, 5, "s", &a, &as, 1);
    assert_int_equal(sync_result(&c, NULL, 0), 0);
    call_free(&c);
    /* the instance restarts: same instance id, no member id, same
     * subscription -> a new member id, same generation, no rebalance */
    struct member a2;
    memset(&a2, 0, sizeof a2);
    join_start(f, &c, 9, "s", "", "inst-1");
    assert_true(c.done);
    assert_int_equal(join_result(&c, &a2), 0);
    call_free(&c);
    assert_string_not_equal(a2.id, a.id);
    assert_int_equal(a2.generation, a.generation);
    assert_int_equal(grp_of(f, "s")->state, ED_GS_STABLE);
    /* the old id is fenced, the new one works and keeps the assignment */
    assert_int_equal(heartbeat_v(f, 4, "s", a.id, a.generation, "inst-1"),
                     ED_KERR_FENCED_INSTANCE_ID);
    assert_int_equal(heartbeat_v(f, 4, "s", a2.id, a2.generation, "inst-1"), 0);
    char buf[8];
    sync_call(f, &c, 5, "s", &a2, NULL, 0);
    assert_int_equal(sync_result(&c, buf, sizeof buf), 0);
    assert_string_equal(buf, "P0");
    call_free(&c);
    /* a static member leaves by instance id */
    assert_int_equal(leave(f, 4, "s", a.id, "inst-1"), ED_KERR_FENCED_INSTANCE_ID);
    assert_int_equal(leave(f, 4, "s", "", "inst-1"), 0);
    assert_int_equal(grp_of(f, "s")->state, ED_GS_EMPTY);
}

static void test_protocols(void **state)
{
    struct fx *f = *state;
    uint8_t md[1] = {0};
    struct ed_kc_protocol pa[2] = {{"range", md, 1}, {"roundrobin", md, 1}};
    struct ed_kc_protocol pb[2] = {{"roundrobin", md, 1}, {"range", md, 1}};
    struct ed_kc_protocol pc[1] = {{"roundrobin", md, 1}};
    struct ed_kc_protocol px[1] = {{"sticky", md, 1}};
    struct call c1, c2, c3, cx;
    join_start_p(f, &c1, 3, "v", "", NULL, "consumer", pa, 2, 10000);
    join_start_p(f, &c2, 3, "v", "", NULL, "consumer", pb, 2, 10000);
    join_start_p(f, &c3, 3, "v", "", NULL, "consumer", pc, 1, 10000);
    /* no common protocol, or another protocol type: refused */
    join_start_p(f, &cx, 3, "v", "", NULL, "consumer", px, 1, 10000);
    struct member m;
    assert_int_equal(join_result(&cx, &m), ED_KERR_INCONSISTENT_GROUP_PROTOCOL);
    call_free(&cx);
    join_start_p(f, &cx, 3, "v", "", NULL, "connect", pa, 2, 10000);
    assert_int_equal(join_result(&cx, &m), ED_KERR_INCONSISTENT_GROUP_PROTOCOL);
    call_free(&cx);
    join_start_p(f, &cx, 3, "v2", "", NULL, "consumer", pa, 0, 10000);
    assert_int_equal(join_result(&cx, &m), ED_KERR_INCONSISTENT_GROUP_PROTOCOL);
    call_free(&cx);
    join_start_p(f, &cx, 3, "v2", "", NULL, "consumer", pa, 2, 5);
    assert_int_equal(join_result(&cx, &m), ED_KERR_INVALID_SESSION_TIMEOUT);
    call_free(&cx);
    join_start_p(f, &cx, 3, "", "", NULL, "consumer", pa, 2, 10000);
    assert_int_equal(join_result(&cx, &m), ED_KERR_INVALID_GROUP_ID);
    call_free(&cx);
    /* the group waits for its three members (each joined, none rejoined
     * yet): they are all joined in this first rebalance */
    struct ed_group *g = grp_of(f, "v");
    assert_non_null(g);
    /* The first join completed generation 1 alone; the others started a
     * second rebalance that the first member must join again. */
    assert_true(c1.done);
    struct member m1;
    join_result(&c1, &m1);
    call_free(&c1);
    join_start_p(f, &c1, 3, "v", m1.id, NULL, "consumer", pa, 2, 10000);
    assert_true(c1.done && c2.done && c3.done);
    call_free(&c1);
    call_free(&c2);
    call_free(&c3);
    assert_string_equal(g->protocol, "roundrobin");
    assert_int_equal(g->n_members, 3);
}

static void test_cancelled_join(void **state)
{
    struct fx *f = *state;
    struct member a, b;
    stable_one(f, "c", &a);
    struct call cb, ca;
    join_new(f, &cb, 5, "c", &b);
    assert_false(cb.done);
    /* B's connection closes while it waits */
    cb.req.cancel(&cb.req);
    cb.status = ED_KAPI_RESPOND; /* nothing left to cancel */
    call_free(&cb);
    join_start(f, &ca, 5, "c", a.id, NULL);
    assert_true(ca.done);
    assert_int_equal(join_result(&ca, &a), 0);
    call_free(&ca);
    assert_int_equal(a.n_members, 2);
    struct ed_kc_assignment as = {a.id, (const uint8_t *)"z", 1};
    sync_call(f, &ca, 5, "c", &a, &as, 1);
    assert_true(ca.done);
    call_free(&ca);
    /* B never syncs nor heartbeats: its session ends it */
    for (int i = 0; i < 4; i++) {
        advance(f, 3000);
        heartbeat(f, "c", &a);
    }
    assert_int_equal(grp_of(f, "c")->n_members, 1);
}

/* A follower's parked SyncGroup whose connection closes: the leader's sync
 * completes the generation without touching it; a parked JoinGroup left at
 * close is answered COORDINATOR_NOT_AVAILABLE (ASan: no use after free, no
 * leak of the parked requests' state). */
static void test_cancelled_sync_and_close(void **state)
{
    struct fx *f = *state;
    struct member a, b;
    stable_one(f, "s", &a);
    struct call cb, ca;
    join_new(f, &cb, 5, "s", &b);
    assert_false(cb.done);
    join_start(f, &ca, 5, "s", a.id, NULL);
    assert_true(ca.done && cb.done);
    assert_int_equal(join_result(&ca, &a), 0);
    assert_int_equal(join_result(&cb, &b), 0);
    call_free(&ca);
    call_free(&cb);
    sync_call(f, &cb, 5, "s", &b, NULL, 0);
    assert_false(cb.done);
    /* B's connection closes while its sync waits */
    cb.req.cancel(&cb.req);
    cb.status = ED_KAPI_RESPOND; /* nothing left to cancel */
    call_free(&cb);
    struct ed_kc_assignment as[2] = {{a.id, (const uint8_t *)"AA", 2},
                                     {b.id, (const uint8_t *)"BB", 2}};
    sync_call(f, &ca, 5, "s", &a, as, 2);
    assert_true(ca.done);
    char buf[16];
    assert_int_equal(sync_result(&ca, buf, sizeof buf), 0);
    assert_string_equal(buf, "AA");
    call_free(&ca);
    assert_int_equal(grp_of(f, "s")->state, ED_GS_STABLE);
    /* the leader rejoins: parked until B rejoins, which never happens */
    join_start(f, &ca, 5, "s", a.id, NULL);
    assert_false(ca.done);
    fx_restart(f);
    assert_true(ca.done);
    assert_int_equal(join_result(&ca, &a), ED_KERR_COORDINATOR_NOT_AVAILABLE);
    call_free(&ca);
}

/* Malformed group requests are refused before anything changes: a
 * truncated OffsetCommit for a new group creates neither the group nor
 * __consumer_offsets, a LeaveGroup batch cut in its last member removes no
 * member, a JoinGroup whose protocol count lies creates no group. */
static void test_malformed_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct ed_kc_commit_part cp[2] = {{"t", 0, 5, 0, "m"}, {"t", 1, 6, 0, "m"}};
    for (int16_t v = 2; v <= 9; v++) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        struct ed_kc_commit_req q = {"fresh", -1, "", NULL, 2, cp};
        ed_kc_enc_offset_commit(&w, v, &q);
        w.len -= 3; /* inside the last partition */
        struct call c;
        call_start(f, &c, 8, v, &w);
        assert_int_equal(c.status, ED_KAPI_CLOSE);
        call_free(&c);
        ed_kwr_free(&w);
        assert_null(grp_of(f, "fresh"));
    }
    assert_null(ed_topics_find(f->topics, ED_GROUP_OFFSETS_TOPIC));

    struct member a, b;
    stable_one(f, "L", &a);
    memset(&b, 0, sizeof b);
    for (int16_t v = 3; v <= 5; v++) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        struct ed_kc_leave_member lm[3] = {{a.id, NULL}, {"x", NULL}, {"y", NULL}};
        struct ed_kc_leave_req q = {"L", 3, lm};
        ed_kc_enc_leave_group(&w, v, &q);
        w.len -= 2; /* inside the last member */
        struct call c;
        call_start(f, &c, 13, v, &w);
        assert_int_equal(c.status, ED_KAPI_CLOSE);
        call_free(&c);
        ed_kwr_free(&w);
        assert_int_equal(grp_of(f, "L")->n_members, 1);
        assert_int_equal(grp_of(f, "L")->state, ED_GS_STABLE);
    }

    ed_kwr w;
    ed_kwr_init(&w, 4096);
    int n;
    const struct ed_kc_protocol *pr = consumer_protocols(&n);
    struct ed_kc_join_req jq = {"lj", 10000, 10000, "", NULL, "consumer", n, pr};
    ed_kc_enc_join_group(&w, 5, &jq);
    /* group id, timeouts, member id, null instance id, protocol type */
    size_t at = (2 + 2) + 4 + 4 + 2 + 2 + (2 + 8);
    assert_int_equal(ed_get_be32(w.buf + at), (uint32_t)n);
    ed_put_be32(w.buf + at, (uint32_t)n + 3);
    struct call c;
    call_start(f, &c, 11, 5, &w);
    assert_int_equal(c.status, ED_KAPI_CLOSE);
    call_free(&c);
    ed_kwr_free(&w);
    assert_null(grp_of(f, "lj"));
}

/* A group tombstone replayed while the group has members (the fuzz target
 * replays records into a live coordinator) leaves the group and its
 * members alone instead of freeing them. */
static void test_group_tombstone_with_members(void **state)
{
    struct fx *f = *state;
    struct member a;
    stable_one(f, "gt", &a);
    struct ed_grec r = {0};
    assert_int_equal(ed_gstore_group_key("gt", &r), ED_OK);
    assert_true(ed_gstore_apply(f->groups, r.key, (int32_t)r.key_len, NULL, 0));
    ed_grecs_free(&r, 1);
    assert_non_null(grp_of(f, "gt"));
    assert_int_equal(grp_of(f, "gt")->n_members, 1);
    assert_int_equal(heartbeat(f, "gt", &a), 0);
}

/* ---- tests: offsets ---- */

static struct call *commit_start(struct fx *f, struct call *c, int16_t ver, const char *group,
                                 int32_t gen, const char *member, const struct ed_kc_commit_part *p,
                                 int n)
{
    ed_kwr w;
    ed_kwr_init(&w, 1u << 20);
    struct ed_kc_commit_req q = {group, gen, member, NULL, n, p};
    ed_kc_enc_offset_commit(&w, ver, &q);
    call_start(f, c, 8, ver, &w);
    ed_kwr_free(&w);
    return c;
}

/* Commits and returns the errors (flushing to complete the wait). */
static void commit(struct fx *f, int16_t ver, const char *group, int32_t gen, const char *member,
                   const struct ed_kc_commit_part *p, int n, int16_t *errs)
{
    struct call c;
    commit_start(f, &c, ver, group, gen, member, p, n);
    if (!c.done) flush(f);
    assert_true(c.done);
    ed_krd r = resp(&c);
    struct ed_kc_part_errors e;
    memset(&e, 0, sizeof e);
    assert_int_equal(ed_kc_dec_offset_commit(&r, ver, &e), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    assert_int_equal(e.n, n);
    for (int i = 0; i < n; i++) {
        assert_true(kis(e.parts[i].topic, p[i].topic));
        assert_int_equal(e.parts[i].partition, p[i].partition);
        errs[i] = e.parts[i].error;
    }
    ed_kc_free(&e.mem);
    call_free(&c);
}

static int64_t fetched(struct fx *f, int16_t ver, const char *group, const char *topic,
                       int32_t partition, char *md, int16_t *err)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    struct ed_kc_tp tp = {topic, partition};
    struct ed_kc_fetch_group g = {group, 1, &tp};
    ed_kc_enc_offset_fetch(&w, ver, &g, 1, true);
    struct call c;
    call_start(f, &c, 9, ver, &w);
    ed_kwr_free(&w);
    ed_krd r = resp(&c);
    struct ed_kc_offset_fetch o;
    memset(&o, 0, sizeof o);
    assert_int_equal(ed_kc_dec_offset_fetch(&r, ver, &o), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    assert_int_equal(o.n_groups, 1);
    assert_int_equal(o.groups[0].n, 1);
    if (ver >= 8) assert_true(kis(o.groups[0].group, group));
    int64_t off = o.groups[0].parts[0].offset;
    if (md) {
        char *s = kdup(o.groups[0].parts[0].metadata);
        strcpy(md, s);
        free(s);
    }
    if (err) *err = o.groups[0].parts[0].error ? o.groups[0].parts[0].error : o.groups[0].error;
    ed_kc_free(&o.mem);
    call_free(&c);
    return off;
}

static void test_commit_fetch_versions(void **state)
{
    struct fx *f = *state;
    for (int16_t v = 0; v <= 9; v++) {
        char group[16];
        snprintf(group, sizeof group, "sa-%d", v);
        struct ed_kc_commit_part p[3] = {{"t", 0, 100 + v, 0, "m0"},
                                         {"t", 5, 200 + v, 3, NULL},
                                         {"u", 1, 300 + v, -1, "meta-u"}};
        int16_t errs[3];
        commit(f, v, group, -1, "", p, 3, errs);
        for (int i = 0; i < 3; i++)
            assert_int_equal(errs[i], 0);
    }
    for (int16_t v = 0; v <= 9; v++) {
        for (int16_t fv = 0; fv <= 9; fv++) {
            char group[16], md[64];
            snprintf(group, sizeof group, "sa-%d", v);
            int16_t err = -2;
            assert_int_equal(fetched(f, fv, group, "t", 0, md, &err), 100 + v);
            assert_int_equal(err, 0);
            assert_string_equal(md, "m0");
            assert_int_equal(fetched(f, fv, group, "u", 1, md, &err), 300 + v);
            assert_string_equal(md, "meta-u");
            assert_int_equal(fetched(f, fv, group, "t", 5, md, NULL), 200 + v);
            assert_string_equal(md, ""); /* a null metadata reads back empty */
            assert_int_equal(fetched(f, fv, group, "t", 3, NULL, &err), -1);
            assert_int_equal(err, 0);
        }
    }
    assert_int_equal(fetched(f, 5, "nope", "t", 0, NULL, NULL), -1);
}

static void test_commit_errors(void **state)
{
    struct fx *f = *state;
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct ed_kc_commit_part p[3] = {
        {"t", 0, 1, -1, ""}, {"t", 99, 1, -1, ""}, {"zz", 0, 1, -1, ""}};
    int16_t errs[3];
    commit(f, 8, "e", -1, "", p, 3, errs);
    assert_int_equal(errs[0], 0);
    assert_int_equal(errs[1], ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(errs[2], ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    struct ed_kc_commit_part pb[1] = {{"t", 1, 1, -1, big}};
    commit(f, 8, "e", -1, "", pb, 1, errs);
    assert_int_equal(errs[0], 12); /* OFFSET_METADATA_TOO_LARGE */
    /* a generation for a group that does not exist is stale */
    commit(f, 8, "unknown-g", 3, "m", p, 1, errs);
    assert_int_equal(errs[0], ED_KERR_ILLEGAL_GENERATION);
    assert_null(grp_of(f, "unknown-g"));
    /* members of a live group: wrong generation, unknown member, none */
    struct member a;
    stable_one(f, "live", &a);
    commit(f, 8, "live", a.generation + 1, a.id, p, 1, errs);
    assert_int_equal(errs[0], ED_KERR_ILLEGAL_GENERATION);
    commit(f, 8, "live", a.generation, "stranger", p, 1, errs);
    assert_int_equal(errs[0], ED_KERR_UNKNOWN_MEMBER_ID);
    commit(f, 8, "live", -1, "", p, 1, errs);
    assert_int_equal(errs[0], ED_KERR_UNKNOWN_MEMBER_ID);
    commit(f, 2, "live", a.generation, a.id, p, 1, errs);
    assert_int_equal(errs[0], 0);
    assert_int_equal(fetched(f, 3, "live", "t", 0, NULL, NULL), 1);
}

static void test_offsets_survive_restart(void **state)
{
    struct fx *f = *state;
    struct member a;
    stable_one(f, "keep", &a);
    int16_t errs[2];
    struct ed_kc_commit_part p[2] = {{"t", 2, 42, 0, "x"}, {"t", 3, 43, 0, "y"}};
    commit(f, 7, "keep", a.generation, a.id, p, 2, errs);
    struct ed_kc_commit_part p2[1] = {{"t", 2, 50, 0, "z"}}; /* a later commit wins */
    commit(f, 7, "keep", a.generation, a.id, p2, 1, errs);
    commit(f, 2, "other", -1, "", p, 2, errs);
    int32_t gen = a.generation;
    fx_restart(f);
    char md[8];
    assert_int_equal(fetched(f, 6, "keep", "t", 2, md, NULL), 50);
    assert_string_equal(md, "z");
    assert_int_equal(fetched(f, 6, "keep", "t", 3, md, NULL), 43);
    assert_int_equal(fetched(f, 1, "other", "t", 2, NULL, NULL), 42);
    struct ed_group *g = grp_of(f, "keep");
    assert_non_null(g);
    assert_int_equal(g->state, ED_GS_EMPTY);
    assert_int_equal(g->generation, gen); /* from the group metadata record */
    assert_string_equal(g->protocol_type, "consumer");
    struct ed_groups_stats s;
    ed_groups_stats_get(f->groups, &s);
    assert_int_equal(s.n_load_skipped, 0);
    assert_int_equal(s.n_offsets, 4);
    /* members of before the restart are unknown now */
    assert_int_equal(heartbeat(f, "keep", &a), ED_KERR_UNKNOWN_MEMBER_ID);
}

static int16_t delete_group(struct fx *f, int16_t ver, const char *group)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    const char *names[1] = {group};
    struct ed_kc_names q = {1, names};
    ed_kc_enc_delete_groups(&w, ver, &q);
    struct call c;
    call_start(f, &c, 42, ver, &w);
    ed_kwr_free(&w);
    if (!c.done) flush(f);
    ed_krd r = resp(&c);
    struct ed_kc_items it;
    memset(&it, 0, sizeof it);
    assert_int_equal(ed_kc_dec_delete_groups(&r, ver, &it), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    assert_int_equal(it.n, 1);
    assert_true(kis(it.items[0].name, group));
    int16_t e = it.items[0].error;
    ed_kc_free(&it.mem);
    call_free(&c);
    return e;
}

static void test_delete_groups(void **state)
{
    struct fx *f = *state;
    struct member a;
    stable_one(f, "busy", &a);
    int16_t errs[1];
    struct ed_kc_commit_part p[1] = {{"t", 0, 9, 0, ""}};
    commit(f, 8, "idle", -1, "", p, 1, errs);
    assert_int_equal(delete_group(f, 0, "busy"), ED_KERR_NON_EMPTY_GROUP);
    assert_int_equal(delete_group(f, 1, "ghost"), ED_KERR_GROUP_ID_NOT_FOUND);
    assert_int_equal(delete_group(f, 2, "idle"), 0);
    assert_null(grp_of(f, "idle"));
    assert_int_equal(fetched(f, 8, "idle", "t", 0, NULL, NULL), -1);
    fx_restart(f);
    assert_null(grp_of(f, "idle"));
    assert_int_equal(fetched(f, 8, "idle", "t", 0, NULL, NULL), -1);
}

static int16_t offset_delete(struct fx *f, const char *group, const char *topic, int32_t part,
                             int16_t *top)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    struct ed_kc_tp tp = {topic, part};
    struct ed_kc_offset_delete_req q = {group, 1, &tp};
    ed_kc_enc_offset_delete(&w, 0, &q);
    struct call c;
    call_start(f, &c, 47, 0, &w);
    ed_kwr_free(&w);
    if (!c.done) flush(f);
    ed_krd r = resp(&c);
    struct ed_kc_part_errors e;
    memset(&e, 0, sizeof e);
    assert_int_equal(ed_kc_dec_offset_delete(&r, 0, &e), ED_OK);
    assert_int_equal(ed_krd_left(&r), 0);
    *top = e.error;
    int16_t pe = e.n > 0 ? e.parts[0].error : -100;
    ed_kc_free(&e.mem);
    call_free(&c);
    return pe;
}

static void test_offset_delete(void **state)
{
    struct fx *f = *state;
    struct member a;
    stable_one(f, "od", &a); /* subscribed to t */
    int16_t errs[2], top;
    struct ed_kc_commit_part p[2] = {{"t", 0, 9, 0, ""}, {"u", 0, 9, 0, ""}};
    commit(f, 8, "od", a.generation, a.id, p, 2, errs);
    assert_int_equal(offset_delete(f, "od", "t", 0, &top), ED_KERR_GROUP_SUBSCRIBED_TO_TOPIC);
    assert_int_equal(top, 0);
    assert_int_equal(offset_delete(f, "od", "u", 0, &top), 0);
    assert_int_equal(fetched(f, 8, "od", "u", 0, NULL, NULL), -1);
    assert_int_equal(fetched(f, 8, "od", "t", 0, NULL, NULL), 9);
    assert_int_equal(offset_delete(f, "nope", "u", 0, &top), -100);
    assert_int_equal(top, ED_KERR_GROUP_ID_NOT_FOUND);
    fx_restart(f);
    assert_int_equal(fetched(f, 8, "od", "u", 0, NULL, NULL), -1);
    assert_int_equal(fetched(f, 8, "od", "t", 0, NULL, NULL), 9);
}

static void test_offsets_retention(void **state)
{
    struct fx *f = *state;
    struct member a;
    stable_one(f, "old", &a);
    int16_t errs[1];
    struct ed_kc_commit_part p[1] = {{"t", 0, 5, 0, ""}};
    commit(f, 8, "old", a.generation, a.id, p, 1, errs);
    commit(f, 8, "standalone", -1, "", p, 1, errs);
    assert_int_equal(leave(f, 0, "old", a.id, NULL), 0);
    /* a week less a minute: kept (the member heartbeats are gone, but
     * the group is empty only since the leave) */
    for (int i = 0; i < 7 * 24; i++)
        advance(f, 3600000 - 1000);
    assert_int_equal(fetched(f, 8, "old", "t", 0, NULL, NULL), 5);
    advance(f, 2 * 3600000);
    assert_int_equal(fetched(f, 8, "old", "t", 0, NULL, NULL), -1);
    assert_int_equal(fetched(f, 8, "standalone", "t", 0, NULL, NULL), -1);
    assert_null(grp_of(f, "old"));
    assert_null(grp_of(f, "standalone"));
    fx_restart(f);
    assert_null(grp_of(f, "old"));
    assert_int_equal(fetched(f, 8, "standalone", "t", 0, NULL, NULL), -1);
}

static void test_offset_fetch_batched_and_all(void **state)
{
    struct fx *f = *state;
    int16_t errs[2];
    struct ed_kc_commit_part p[2] = {{"t", 1, 11, 0, "a"}, {"u", 0, 12, 0, "b"}};
    commit(f, 8, "b1", -1, "", p, 2, errs);
    commit(f, 8, "b2", -1, "", p + 1, 1, errs);
    for (int16_t v = 2; v <= 9; v++) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        struct ed_kc_tp tp = {"t", 1};
        struct ed_kc_fetch_group g[3] = {{"b1", -1, NULL}, {"b2", 1, &tp}, {"b3", -1, NULL}};
        int n = v >= 8 ? 3 : 1;
        ed_kc_enc_offset_fetch(&w, v, g, n, false);
        struct call c;
        call_start(f, &c, 9, v, &w);
        ed_kwr_free(&w);
        ed_krd r = resp(&c);
        struct ed_kc_offset_fetch o;
        memset(&o, 0, sizeof o);
        assert_int_equal(ed_kc_dec_offset_fetch(&r, v, &o), ED_OK);
        assert_int_equal(ed_krd_left(&r), 0);
        assert_int_equal(o.n_groups, n);
        /* every committed offset of b1 */
        assert_int_equal(o.groups[0].n, 2);
        assert_true(kis(o.groups[0].parts[0].topic, "t"));
        assert_int_equal(o.groups[0].parts[0].offset, 11);
        assert_true(kis(o.groups[0].parts[1].topic, "u"));
        assert_int_equal(o.groups[0].parts[1].offset, 12);
        if (n == 3) {
            assert_int_equal(o.groups[1].n, 1);
            assert_int_equal(o.groups[1].parts[0].offset, -1);
            assert_int_equal(o.groups[2].n, 0);
            assert_true(kis(o.groups[2].group, "b3"));
        }
        ed_kc_free(&o.mem);
        call_free(&c);
    }
}

/* Years of commits stay small: __consumer_offsets is compacted (latest
 * value per group/topic/partition), and what is left loads back right. */
static void test_offsets_log_compacts(void **state)
{
    struct fx *f = *state;
    f->gc.offsets_segment_len = 4096;
    fx_restart(f);
    int16_t errs[6];
    for (int round = 0; round < 300; round++) {
        struct ed_kc_commit_part p[6];
        for (int k = 0; k < 6; k++)
            p[k] = (struct ed_kc_commit_part){"t", k, 1000 * round + k, 0, "m"};
        commit(f, 8, round % 3 == 0 ? "ca" : "cb", -1, "", p, 6, errs);
        for (int k = 0; k < 6; k++)
            assert_int_equal(errs[k], 0);
    }
    /* one group goes away: its tombstones are compacted too */
    struct ed_kc_commit_part q[1] = {{"u", 0, 5, 0, ""}};
    commit(f, 8, "gone", -1, "", q, 1, errs);
    assert_int_equal(delete_group(f, 2, "gone"), 0);
    ed_topic *t = ed_topics_find(f->topics, ED_GROUP_OFFSETS_TOPIC);
    ed_log *log = ed_topic_partition(t, 0)->log;
    /* the ticks of the flushes already compacted it in the background;
     * one more explicit run, then: bounded, whatever the number of commits */
    ed_compact_run(f->st, ed_plat_clock_wall_ms(), 100000);
    flush(f);
    struct ed_storage_stats ss;
    ed_storage_stats_get(f->st, &ss);
    assert_true(ss.n_compactions >= 1);
    assert_true(ss.n_records_compacted > 1000);
    assert_true(ed_log_end_offset(log) > 1800);
    assert_true(ed_log_size(log) < 3 * 4096 + 2048);
    fx_restart(f);
    for (int k = 0; k < 6; k++) {
        assert_int_equal(fetched(f, 8, "ca", "t", k, NULL, NULL), 1000 * 297 + k);
        assert_int_equal(fetched(f, 8, "cb", "t", k, NULL, NULL), 1000 * 299 + k);
    }
    assert_null(grp_of(f, "gone"));
    struct ed_groups_stats s;
    ed_groups_stats_get(f->groups, &s);
    assert_int_equal(s.n_load_skipped, 0);
    assert_true(s.n_loaded < 300 * 6 / 4); /* replay reads the compacted log */
}

/* ---- tests: listing, describing, finding ---- */

static void test_list_describe(void **state)
{
    struct fx *f = *state;
    struct member a;
    stable_one(f, "lg-stable", &a);
    int16_t errs[1];
    struct ed_kc_commit_part p[1] = {{"t", 0, 1, 0, ""}};
    commit(f, 8, "lg-empty", -1, "", p, 1, errs);
    for (int16_t v = 0; v <= 5; v++) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        const char *states[] = {"stable"};
        struct ed_kc_list_groups_req q = {v >= 4 ? 1 : 0, states, 0, NULL};
        ed_kc_enc_list_groups(&w, v, &q);
        struct call c;
        call_start(f, &c, 16, v, &w);
        ed_kwr_free(&w);
        ed_krd r = resp(&c);
        struct ed_kc_list_groups l;
        memset(&l, 0, sizeof l);
        assert_int_equal(ed_kc_dec_list_groups(&r, v, &l), ED_OK);
        assert_int_equal(ed_krd_left(&r), 0);
        assert_int_equal(l.error, 0);
        assert_int_equal(l.n, v >= 4 ? 1 : 2);
        bool seen = false;
        for (int32_t i = 0; i < l.n; i++) {
            if (!kis(l.groups[i].group, "lg-stable")) continue;
            seen = true;
            assert_true(kis(l.groups[i].protocol_type, "consumer"));
            if (v >= 4) assert_true(kis(l.groups[i].state, "Stable"));
            if (v >= 5) assert_true(kis(l.groups[i].type, "classic"));
        }
        assert_true(seen);
        ed_kc_free(&l.mem);
        call_free(&c);
    }
    for (int16_t v = 0; v <= 5; v++) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        const char *names[] = {"lg-stable", "lg-empty", "lg-none"};
        struct ed_kc_describe_groups_req q = {3, names, true};
        ed_kc_enc_describe_groups(&w, v, &q);
        struct call c;
        call_start(f, &c, 15, v, &w);
        ed_kwr_free(&w);
        ed_krd r = resp(&c);
        struct ed_kc_describe_groups d;
        memset(&d, 0, sizeof d);
        assert_int_equal(ed_kc_dec_describe_groups(&r, v, &d), ED_OK);
        assert_int_equal(ed_krd_left(&r), 0);
        assert_int_equal(d.n, 3);
        assert_true(kis(d.groups[0].state, "Stable"));
        assert_true(kis(d.groups[0].protocol, "range"));
        assert_int_equal(d.groups[0].n_members, 1);
        struct ed_kc_group_member *m = &d.groups[0].members[0];
        assert_true(kis(m->member_id, a.id));
        assert_true(kis(m->client_id, "tester"));
        assert_true(kis(m->client_host, "/10.0.0.5"));
        assert_true(kis((ed_kstr){(const char *)m->assignment.p, m->assignment.len}, "A-all"));
        assert_int_equal(m->metadata.len, sub_len);
        assert_true(kis(d.groups[1].state, "Empty"));
        assert_int_equal(d.groups[1].n_members, 0);
        assert_int_equal(d.groups[2].error, 0);
        assert_true(kis(d.groups[2].state, "Dead"));
        if (v >= 3) assert_true(d.groups[0].authorized_ops > 0);
        ed_kc_free(&d.mem);
        call_free(&c);
    }
}

static void test_find_coordinator(void **state)
{
    struct fx *f = *state;
    assert_null(ed_topics_find(f->topics, ED_GROUP_OFFSETS_TOPIC));
    for (int16_t v = 0; v <= 4; v++) {
        for (int8_t type = 0; type <= (v >= 1 ? 1 : 0); type++) {
            ed_kwr w;
            ed_kwr_init(&w, 4096);
            const char *keys[] = {"grp-a", "grp-b"};
            ed_kc_enc_find_coordinator(&w, v, type, keys, v >= 4 ? 2 : 1);
            struct call c;
            call_start(f, &c, 10, v, &w);
            ed_kwr_free(&w);
            ed_krd r = resp(&c);
            struct ed_kc_find_coordinator fc;
            memset(&fc, 0, sizeof fc);
            assert_int_equal(ed_kc_dec_find_coordinator(&r, v, &fc), ED_OK);
            assert_int_equal(ed_krd_left(&r), 0);
            assert_int_equal(fc.n, v >= 4 ? 2 : 1);
            for (int32_t i = 0; i < fc.n; i++) {
                if (type == 0) {
                    assert_int_equal(fc.coordinators[i].error, 0);
                    assert_int_equal(fc.coordinators[i].node_id, 7);
                    assert_true(kis(fc.coordinators[i].host, "gateway.local"));
                    assert_int_equal(fc.coordinators[i].port, 9092);
                } else {
                    assert_int_equal(fc.coordinators[i].error, ED_KERR_COORDINATOR_NOT_AVAILABLE);
                    assert_true(fc.coordinators[i].message.len > 0);
                }
                if (v >= 4) assert_true(kis(fc.coordinators[i].key, i ? "grp-b" : "grp-a"));
            }
            ed_kc_free(&fc.mem);
            call_free(&c);
        }
    }
    /* the offsets topic exists now, compacted and internal */
    ed_topic *t = ed_topics_find(f->topics, ED_GROUP_OFFSETS_TOPIC);
    assert_non_null(t);
    assert_true(ed_topic_is_internal(t));
    assert_true(ed_log_get_config(ed_topic_partition(t, 0)->log)->compact);
}

/* Every JoinGroup/SyncGroup/Heartbeat/LeaveGroup version, one group each. */
static void test_all_versions(void **state)
{
    struct fx *f = *state;
    for (int16_t v = 0; v <= 9; v++) {
        char group[16];
        snprintf(group, sizeof group, "ver-%d", v);
        struct member m;
        struct call c;
        join_new(f, &c, v, group, &m);
        assert_true(c.done);
        assert_int_equal(join_result(&c, &m), 0);
        assert_true(m.leader);
        call_free(&c);
        int16_t sv = v > 5 ? 5 : v;
        struct ed_kc_assignment as = {m.id, (const uint8_t *)"v", 1};
        sync_call(f, &c, sv, group, &m, &as, 1);
        assert_int_equal(sync_result(&c, NULL, 0), 0);
        call_free(&c);
        assert_int_equal(heartbeat_v(f, v > 4 ? 4 : v, group, m.id, m.generation, NULL), 0);
        assert_int_equal(leave(f, v > 5 ? 5 : v, group, m.id, NULL), 0);
        assert_int_equal(grp_of(f, group)->state, ED_GS_EMPTY);
    }
}

/* Truncated requests of every group API close the connection and change
 * nothing. */
static void test_truncated(void **state)
{
    struct fx *f = *state;
    int16_t keys[] = {8, 9, 10, 11, 12, 13, 14, 15, 16, 42, 47};
    for (size_t k = 0; k < ED_ARRAY_LEN(keys); k++) {
        const struct ed_kapi_entry *e = &ed_kapi_table[keys[k]];
        for (int16_t v = e->min_version; v <= e->max_version; v++) {
            ed_kwr w;
            ed_kwr_init(&w, 4096);
            struct ed_kc_commit_part cp[1] = {{"t", 0, 1, 0, "m"}};
            struct ed_kc_tp tp = {"t", 0};
            struct ed_kc_fetch_group fg = {"tg", 1, &tp};
            const char *names[] = {"tg"};
            int n;
            const struct ed_kc_protocol *pr = consumer_protocols(&n);
            struct ed_kc_join_req jq = {"tg", 10000, 10000, "", NULL, "consumer", n, pr};
            struct ed_kc_sync_req sq = {"tg", 1, "m", NULL, NULL, NULL, 0, NULL};
            struct ed_kc_heartbeat_req hq = {"tg", 1, "m", NULL};
            struct ed_kc_leave_member lm = {"m", NULL};
            struct ed_kc_leave_req lq = {"tg", 1, &lm};
            struct ed_kc_commit_req cq = {"tg", -1, "", NULL, 1, cp};
            struct ed_kc_names dq = {1, names};
            struct ed_kc_describe_groups_req gq = {1, names, false};
            struct ed_kc_list_groups_req lgq = {1, names, 1, names};
            struct ed_kc_offset_delete_req oq = {"tg", 1, &tp};
            switch (keys[k]) {
            case 8:
                ed_kc_enc_offset_commit(&w, v, &cq);
                break;
            case 9:
                ed_kc_enc_offset_fetch(&w, v, &fg, 1, false);
                break;
            case 10:
                ed_kc_enc_find_coordinator(&w, v, 0, names, 1);
                break;
            case 11:
                ed_kc_enc_join_group(&w, v, &jq);
                break;
            case 12:
                ed_kc_enc_heartbeat(&w, v, &hq);
                break;
            case 13:
                ed_kc_enc_leave_group(&w, v, &lq);
                break;
            case 14:
                ed_kc_enc_sync_group(&w, v, &sq);
                break;
            case 15:
                ed_kc_enc_describe_groups(&w, v, &gq);
                break;
            case 16:
                ed_kc_enc_list_groups(&w, v, &lgq);
                break;
            case 42:
                ed_kc_enc_delete_groups(&w, v, &dq);
                break;
            default:
                ed_kc_enc_offset_delete(&w, v, &oq);
                break;
            }
            size_t full = w.len;
            if (keys[k] == 16 && v < 3) {
                ed_kwr_free(&w); /* an empty body: nothing to cut */
                continue;
            }
            for (size_t cut = 0; cut < full; cut++) {
                w.len = cut;
                struct call c;
                call_start(f, &c, keys[k], v, &w);
                if (c.status == ED_KAPI_PENDING && !c.done) flush(f);
                /* no strict prefix of a request is a whole request */
                if (c.status != ED_KAPI_CLOSE)
                    fail_msg("key %d v%d cut at %zu of %zu: status %d", keys[k], v, cut, full,
                             c.status);
                call_free(&c);
            }
            ed_kwr_free(&w);
        }
    }
    /* nothing was committed nor joined by a broken request */
    struct ed_group *g = grp_of(f, "tg");
    assert_true(!g || g->n_members == 0);
}

/* ---- tests: record bytes ---- */

/* The records of __consumer_offsets keep Kafka's exact bytes (Kafka's tools
 * read them): fixed expected encodings of both record kinds. */
static void expect_bytes(const uint8_t *got, size_t got_len, const uint8_t *exp, size_t exp_len)
{
    assert_int_equal(got_len, exp_len);
    assert_memory_equal(got, exp, exp_len);
}

static void test_record_bytes(void **state)
{
    (void)state;
    struct ed_grec r = {0};
    assert_int_equal(ed_gstore_offset_key("g1", "tp", 7, &r), ED_OK);
    assert_int_equal(ed_gstore_offset_value(0x0102030405060708LL, 5, "md", 0x1122334455LL, &r),
                     ED_OK);
    static const uint8_t okey[] = {0, 1, 0, 2, 'g', '1', 0, 2, 't', 'p', 0, 0, 0, 7};
    static const uint8_t oval[] = {0, 3, 1, 2,   3,   4, 5, 6, 7,    8,    0,    0,    0,
                                   5, 0, 2, 'm', 'd', 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55};
    expect_bytes(r.key, r.key_len, okey, sizeof okey);
    expect_bytes(r.value, r.value_len, oval, sizeof oval);
    ed_grecs_free(&r, 1);

    assert_int_equal(ed_gstore_group_key("grp", &r), ED_OK);
    struct ed_gproto protos[] = {{.name = "range", .meta = (uint8_t *)"RM", .meta_len = 2}};
    struct ed_gmember m2 = {.id = "m2",
                            .instance_id = "i2",
                            .client_id = NULL,
                            .client_host = "/h",
                            .session_timeout_ms = 10,
                            .rebalance_timeout_ms = 20,
                            .n_protocols = 0};
    struct ed_gmember m1 = {.next = &m2,
                            .id = "m1",
                            .client_id = "c",
                            .client_host = "h",
                            .session_timeout_ms = 0x100,
                            .rebalance_timeout_ms = 0x200,
                            .n_protocols = 1,
                            .protocols = protos,
                            .assignment = (uint8_t *)"AS",
                            .assignment_len = 2};
    struct ed_group grp = {.id = "grp",
                           .state = ED_GS_STABLE,
                           .generation = 9,
                           .protocol_type = "consumer",
                           .protocol = "range",
                           .leader = "m1",
                           .members = &m1,
                           .n_members = 2,
                           .state_ts = 0x0a0b};
    assert_int_equal(ed_gstore_group_value(NULL, &grp, &r), ED_OK);
    static const uint8_t gkey[] = {0, 2, 0, 3, 'g', 'r', 'p'};
    static const uint8_t gval[] = {0, 3, 0, 8, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', 0, 0, 0, 9,
                                   0, 5, 'r', 'a', 'n', 'g', 'e', 0, 2, 'm', '1', 0, 0, 0, 0, 0, 0,
                                   0x0a, 0x0b, 0, 0, 0, 2,
                                   /* m1 */
                                   0, 2, 'm', '1', 0xff, 0xff, 0, 1, 'c', 0, 1, 'h', 0, 0, 2, 0, 0,
                                   0, 1, 0, 0, 0, 0, 2, 'R', 'M', 0, 0, 0, 2, 'A', 'S',
                                   /* m2: no protocol, no client id, no assignment */
                                   0, 2, 'm', '2', 0, 2, 'i', '2', 0, 0, 0, 2, '/', 'h', 0, 0, 0,
                                   20, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_bytes(r.key, r.key_len, gkey, sizeof gkey);
    expect_bytes(r.value, r.value_len, gval, sizeof gval);
    ed_grecs_free(&r, 1);

    /* not stable: no members, null protocol and leader */
    struct ed_group empty = {.id = "e", .state = ED_GS_EMPTY, .generation = -1, .state_ts = 1};
    assert_int_equal(ed_gstore_group_value(NULL, &empty, &r), ED_OK);
    static const uint8_t eval[] = {0, 3, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0, 0, 0, 0, 0,    0,    0,    1,    0,    0,    0,    0};
    expect_bytes(r.value, r.value_len, eval, sizeof eval);
    ed_grecs_free(&r, 1);
}

/* Values Kafka itself may have written are read: OffsetCommitValue v1 (with
 * expireTimestamp) and the flexible v4 (compact strings, tagged fields),
 * GroupMetadataValue v4; a value cut short or with a lying length is
 * refused and changes nothing. */
static void test_record_read_versions(void **state)
{
    struct fx *f = *state;
    static const uint8_t key[] = {0, 1, 0, 2, 'g', 'v', 0, 1, 't', 0, 0, 0, 3};
    static const uint8_t v1[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 2, 'm', '1', 0,
                                 0, 0, 0, 0, 0, 0, 7, 0, 0, 0,  0, 0, 0,   0,   9};
    assert_true(ed_gstore_apply(f->groups, key, sizeof key, v1, sizeof v1));
    struct ed_goffset *o = ed_group_offset(grp_of(f, "gv"), "t", 3);
    assert_non_null(o);
    assert_int_equal(o->offset, 42);
    assert_int_equal(o->leader_epoch, -1);
    assert_string_equal(o->metadata, "m1");
    assert_int_equal(o->commit_ts, 7);
    /* v4: offset, epoch, compact "xy", timestamp, one tagged field */
    static const uint8_t v4[] = {0,   4,   0, 0, 0, 0, 0, 0, 0, 43, 0, 0, 0, 2,    3,
                                 'x', 'y', 0, 0, 0, 0, 0, 0, 0, 8,  1, 5, 2, 0xaa, 0xbb};
    assert_true(ed_gstore_apply(f->groups, key, sizeof key, v4, sizeof v4));
    o = ed_group_offset(grp_of(f, "gv"), "t", 3);
    assert_int_equal(o->offset, 43);
    assert_int_equal(o->leader_epoch, 2);
    assert_string_equal(o->metadata, "xy");
    assert_int_equal(o->commit_ts, 8);
    /* every cut of v4, and a tagged field longer than the value */
    for (size_t n = 2; n < sizeof v4; n++)
        assert_false(ed_gstore_apply(f->groups, key, sizeof key, v4, (int32_t)n));
    uint8_t lying[sizeof v4];
    memcpy(lying, v4, sizeof v4);
    lying[sizeof v4 - 3] = 9;
    assert_false(ed_gstore_apply(f->groups, key, sizeof key, lying, sizeof lying));
    assert_int_equal(ed_group_offset(grp_of(f, "gv"), "t", 3)->offset, 43);
    /* GroupMetadataValue v4: compact "consumer", generation 5, null
     * protocol and leader, state timestamp, no members, no tags */
    static const uint8_t gkey[] = {0, 2, 0, 2, 'g', 'v'};
    static const uint8_t g4[] = {0, 4, 9, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',  0, 0, 0,
                                 5, 0, 0, 0,   0,   0,   0,   0,   0,   0,   0x10, 1, 0};
    assert_true(ed_gstore_apply(f->groups, gkey, sizeof gkey, g4, sizeof g4));
    assert_string_equal(grp_of(f, "gv")->protocol_type, "consumer");
    assert_int_equal(grp_of(f, "gv")->generation, 5);
    assert_int_equal(grp_of(f, "gv")->state_ts, 0x10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_single_member_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_members_rebalance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebalance_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initial_delay, setup_delay, teardown),
        cmocka_unit_test_setup_teardown(test_member_id_required_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_membership, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocols, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancelled_join, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancelled_sync_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_tombstone_with_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_fetch_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_survive_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_fetch_batched_and_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_log_compacts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_describe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_coordinator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test(test_record_bytes),
        cmocka_unit_test_setup_teardown(test_record_read_versions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
