/* Unit tests of the admin and config API handlers (CreateTopics,
 * DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs,
 * IncrementalAlterConfigs, DescribeCluster) over a real storage, topic
 * registry and config in a temporary folder. Requests are encoded with the
 * Kafka client's encoders (or by hand where the client has none) and the
 * responses decoded with its decoders, version by version; the registry is
 * checked directly after each change. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/broker.h"
#include "core/config.h"
#include "core/kafka/kapi_configs.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"
#include "core/kafka/kclient.h"
#include "core/topics.h"
#include "log_testutil.h"
#include "platform/mem.h"
#include "platform/net.h"

struct fx {
    char *dir;
    ed_storage *st;
    ed_topics *topics;
    struct ed_config *cfg;
    struct ed_storage_config sc;
    ed_broker b;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    assert_int_equal(ed_config_new(&f->cfg), ED_OK);
    char why[200];
    assert_int_equal(ed_config_set(f->cfg, "num.partitions", "2", why, sizeof why), ED_OK);
    assert_int_equal(ed_config_set(f->cfg, "log.retention.bytes", "123456789", why, sizeof why),
                     ED_OK);
    ed_storage_config_default(&f->sc);
    f->sc.dir = f->dir;
    f->sc.use_flusher_thread = false;
    ed_config_log_defaults(f->cfg, &f->sc.log);
    assert_int_equal(ed_storage_open(&f->sc, &f->st), ED_OK);
    assert_int_equal(ed_topics_open(f->st, &f->sc.log, &f->topics), ED_OK);
    ed_topics_set_broker_config(f->topics, f->cfg);
    f->b.storage = f->st;
    f->b.topics = f->topics;
    f->b.cfg = f->cfg;
    f->b.node_id = 1;
    snprintf(f->b.cluster_id, sizeof f->b.cluster_id, "eddy-test-cluster");
    snprintf(f->b.adv_host, sizeof f->b.adv_host, "gw.local");
    f->b.adv_port = 9092;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ed_topics_close(f->topics);
    ed_storage_close(f->st);
    ed_config_free(f->cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Requests that pend (CreateTopics making its partitions in steps) are
 * completed here, not by a server. */
static int n_completed;

void ed_kreq_complete(ed_kreq *req)
{
    (void)req;
    n_completed++;
}

/* ---- calling handlers ---- */

struct call {
    ed_kreq req;
    uint8_t *body;
    int status;
    ed_krd resp; /* over req.out */
};

static void call(struct fx *f, struct call *c, ed_kapi_fn fn, int16_t key, int16_t ver,
                 const ed_kwr *body)
{
    memset(c, 0, sizeof *c);
    c->body = malloc(body->len + 1);
    if (body->len) memcpy(c->body, body->buf, body->len);
    c->req.api_key = key;
    c->req.api_version = ver;
    c->req.flex = ed_kapi_table[key].flex_from >= 0 && ver >= ed_kapi_table[key].flex_from;
    c->req.broker = &f->b;
    c->req.peer = "test:1";
    ed_krd_init(&c->req.rd, c->body, body->len);
    ed_kwr_init(&c->req.out, 1u << 20);
    assert_ptr_equal(fn, ed_kapi_table[key].fn);
    c->status = ed_kapi_serve(&c->req); /* decodes first where the entry says so */
    assert_true(ed_kwr_ok(&c->req.out));
    ed_krd_init(&c->resp, c->req.out.buf, c->req.out.len);
}

static void call_end(struct call *c)
{
    ed_kreq_release(&c->req);
    ed_kwr_free(&c->req.out);
    free(c->body);
}

static int32_t n_parts(struct fx *f, const char *name)
{
    ed_topic *t = ed_topics_find(f->topics, name);
    return t ? ed_topic_n_partitions(t) : -1;
}

static const char * override(struct fx *f, const char *topic, const char *key)
{
    ed_topic *t = ed_topics_find(f->topics, topic);
    assert_non_null(t);
    bool dflt = true;
    const char *v = ed_topic_config_get(t, key, &dflt);
    return dflt ? NULL : v;
}

/* The error message of the last create() or grow() that failed. */
static char last_msg[512];

static void keep_msg(ed_kstr m)
{
    snprintf(last_msg, sizeof last_msg, "%.*s", m.len > 0 ? (int)m.len : 0, m.p ? m.p : "");
}

/* ---- CreateTopics ---- */

static int16_t create(struct fx *f, int16_t v, const struct ed_kc_new_topic *t, bool validate,
                      struct ed_kc_created_topic *res_out)
{
    ed_kwr w;
    ed_kwr_init(&w, 1 << 16);
    ed_kc_enc_create_topics(&w, v, t, 1, 1000, validate);
    struct call c;
    call(f, &c, ed_kapi_create_topics, 19, v, &w);
    assert_int_equal(c.status, ED_KAPI_RESPOND);
    struct ed_kc_create_topics ct;
    memset(&ct, 0, sizeof ct);
    assert_int_equal(ed_kc_dec_create_topics(&c.resp, v, &ct), ED_OK);
    assert_int_equal(ed_krd_left(&c.resp), 0);
    assert_int_equal(ct.n_topics, 1);
    assert_true(ed_kstr_eq(ct.topics[0].name, t->name));
    int16_t err = ct.topics[0].error;
    if (v >= 1 && err) assert_true(ct.topics[0].message.len > 0);
    if (err) keep_msg(ct.topics[0].message);
    if (res_out) {
        *res_out = ct.topics[0];
        res_out->configs = NULL; /* freed below */
    }
    if (v >= 5 && !err) {
        assert_true(ct.topics[0].n_configs > 0);
        bool seen = false;
        for (int32_t i = 0; i < ct.topics[0].n_configs; i++) {
            const struct ed_kc_topic_config *tc = &ct.topics[0].configs[i];
            if (t->n_configs && ed_kstr_eq(tc->name, t->configs[0].key)) {
                seen = true;
                assert_true(ed_kstr_eq(tc->value, t->configs[0].value));
                assert_int_equal(tc->source, ED_KC_SRC_DYNAMIC_TOPIC);
            }
        }
        assert_true(seen || !t->n_configs);
    }
    ed_kc_free(&ct.mem);
    call_end(&c);
    ed_kwr_free(&w);
    return err;
}

static void test_create_topics_versions(void **state)
{
    struct fx *f = *state;
    struct ed_kc_kv cfg[] = {{"retention.ms", "3600000"}};
    for (int16_t v = 0; v <= 7; v++) {
        char name[32];
        snprintf(name, sizeof name, "topic-v%d", v);
        struct ed_kc_new_topic t = {name, 3, 1, 1, cfg};
        struct ed_kc_created_topic r;
        assert_int_equal(create(f, v, &t, false, &r), 0);
        assert_int_equal(n_parts(f, name), 3);
        assert_string_equal(override(f, name, "retention.ms"), "3600000");
        if (v >= 5) {
            assert_int_equal(r.n_partitions, 3);
            assert_int_equal(r.replication_factor, 1);
        }
        if (v >= 7) assert_memory_equal(r.id, ed_topic_id(ed_topics_find(f->topics, name)), 16);
        /* Again: TOPIC_ALREADY_EXISTS, nothing changes. */
        assert_int_equal(create(f, v, &t, false, NULL), ED_KERR_TOPIC_ALREADY_EXISTS);
    }
}

static void test_create_topics_rules(void **state)
{
    struct fx *f = *state;
    struct ed_kc_new_topic t = {"dflt", -1, -1, 0, NULL};
    struct ed_kc_created_topic r;
    /* -1 partitions → num.partitions (2 here); -1 replication → 1. */
    assert_int_equal(create(f, 7, &t, false, &r), 0);
    assert_int_equal(n_parts(f, "dflt"), 2);
    assert_int_equal(r.n_partitions, 2);
    assert_int_equal(r.replication_factor, 1);

    t = (struct ed_kc_new_topic){"rf3", 1, 3, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), ED_KERR_INVALID_REPLICATION_FACTOR);
    t.replication_factor = 0;
    assert_int_equal(create(f, 4, &t, false, NULL), ED_KERR_INVALID_REPLICATION_FACTOR);
    t = (struct ed_kc_new_topic){"zero", 0, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), ED_KERR_INVALID_PARTITIONS);
    t = (struct ed_kc_new_topic){"bad name", 1, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), ED_KERR_INVALID_TOPIC_EXCEPTION);
    t = (struct ed_kc_new_topic){"..", 1, 1, 0, NULL};
    assert_int_equal(create(f, 3, &t, false, NULL), ED_KERR_INVALID_TOPIC_EXCEPTION);
    struct ed_kc_kv bad[] = {{"retention.ms", "soon"}};
    t = (struct ed_kc_new_topic){"badcfg", 1, 1, 1, bad};
    assert_int_equal(create(f, 7, &t, false, NULL), ED_KERR_INVALID_CONFIG);
    struct ed_kc_kv unknown[] = {{"no.such.config", "1"}};
    t = (struct ed_kc_new_topic){"unkcfg", 1, 1, 1, unknown};
    assert_int_equal(create(f, 7, &t, false, NULL), ED_KERR_INVALID_CONFIG);
    struct ed_kc_kv policy[] = {{"cleanup.policy", "compact,shred"}};
    t = (struct ed_kc_new_topic){"badpolicy", 1, 1, 1, policy};
    assert_int_equal(create(f, 7, &t, false, NULL), ED_KERR_INVALID_CONFIG);
    for (const char *n = "rf3"; n; n = NULL)
        assert_int_equal(n_parts(f, n), -1);
    assert_null(ed_topics_find(f->topics, "zero"));
    assert_null(ed_topics_find(f->topics, "badcfg"));
    assert_null(ed_topics_find(f->topics, "unkcfg"));
    assert_null(ed_topics_find(f->topics, "badpolicy"));

    /* validate_only checks everything and creates nothing. */
    struct ed_kc_kv good[] = {{"retention.bytes", "1000"}};
    t = (struct ed_kc_new_topic){"dry", 4, 1, 1, good};
    assert_int_equal(create(f, 7, &t, true, &r), 0);
    assert_int_equal(r.n_partitions, 4);
    assert_null(ed_topics_find(f->topics, "dry"));
    t = (struct ed_kc_new_topic){"dry", 4, 2, 0, NULL};
    assert_int_equal(create(f, 5, &t, true, NULL), ED_KERR_INVALID_REPLICATION_FACTOR);
}

/* CreateTopics v4 with a manual assignment of n partitions to broker. */
static int16_t create_assigned(struct fx *f, const char *name, int n, int32_t broker,
                               int32_t n_parts_field)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    ed_kwr_array(&w, 1, false);
    ed_kwr_str(&w, name, false);
    ed_kwr_i32(&w, n_parts_field);
    ed_kwr_i16(&w, -1);
    ed_kwr_array(&w, n, false);
    for (int i = 0; i < n; i++) {
        ed_kwr_i32(&w, i);
        ed_kwr_array(&w, 1, false);
        ed_kwr_i32(&w, i == n - 1 ? broker : 1);
    }
    ed_kwr_array(&w, 0, false);
    ed_kwr_i32(&w, 1000);
    ed_kwr_bool(&w, false);
    struct call c;
    call(f, &c, ed_kapi_create_topics, 19, 4, &w);
    struct ed_kc_create_topics ct;
    memset(&ct, 0, sizeof ct);
    assert_int_equal(ed_kc_dec_create_topics(&c.resp, 4, &ct), ED_OK);
    int16_t err = ct.topics[0].error;
    ed_kc_free(&ct.mem);
    call_end(&c);
    ed_kwr_free(&w);
    return err;
}

static void test_create_topics_assignment(void **state)
{
    struct fx *f = *state;
    assert_int_equal(create_assigned(f, "manual", 3, 1, -1), 0);
    assert_int_equal(n_parts(f, "manual"), 3);
    assert_int_equal(create_assigned(f, "elsewhere", 2, 2, -1), ED_KERR_INVALID_REPLICA_ASSIGNMENT);
    assert_int_equal(create_assigned(f, "both", 2, 1, 2), ED_KERR_INVALID_REQUEST);
    assert_null(ed_topics_find(f->topics, "elsewhere"));
    assert_null(ed_topics_find(f->topics, "both"));
}

static void test_create_topics_malformed(void **state)
{
    struct fx *f = *state;
    struct ed_kc_kv cfg[] = {{"retention.ms", "1000"}};
    struct ed_kc_new_topic t = {"never", 2, 1, 1, cfg};
    for (int16_t v = 2; v <= 7; v += 5) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        ed_kc_enc_create_topics(&w, v, &t, 1, 1000, false);
        for (size_t cut = 0; cut < w.len; cut++) {
            ed_kwr p;
            ed_kwr_init(&p, 4096);
            ed_kwr_raw(&p, w.buf, cut);
            struct call c;
            call(f, &c, ed_kapi_create_topics, 19, v, &p);
            assert_int_equal(c.status, ED_KAPI_CLOSE);
            assert_null(ed_topics_find(f->topics, "never"));
            call_end(&c);
            ed_kwr_free(&p);
        }
        ed_kwr_free(&w);
    }
    /* A null topic name (the field is not nullable) is malformed: the
     * valid topic beside it is not created either. */
    ed_kwr w;
    ed_kwr_init(&w, 256);
    ed_kwr_array(&w, 2, false);
    for (int i = 0; i < 2; i++) {
        ed_kwr_str(&w, i == 0 ? NULL : "never2", false);
        ed_kwr_i32(&w, 1);
        ed_kwr_i16(&w, 1);
        ed_kwr_array(&w, 0, false); /* assignments */
        ed_kwr_array(&w, 0, false); /* configs */
    }
    ed_kwr_i32(&w, 1000);
    ed_kwr_bool(&w, false);
    struct call c;
    call(f, &c, ed_kapi_create_topics, 19, 2, &w);
    assert_int_equal(c.status, ED_KAPI_CLOSE);
    assert_int_equal(c.req.out.len, 0);
    assert_null(ed_topics_find(f->topics, "never2"));
    call_end(&c);
    ed_kwr_free(&w);
}

/* ---- DeleteTopics ---- */

/* The first len bytes of the request w close the connection before the
 * handler acts: not a byte of a response written. */
static void expect_close(struct fx *f, ed_kapi_fn fn, int16_t key, int16_t v, const ed_kwr *w,
                         size_t len)
{
    ed_kwr p = *w;
    p.len = len;
    struct call c;
    call(f, &c, fn, key, v, &p);
    assert_int_equal(c.status, ED_KAPI_CLOSE);
    assert_int_equal(c.req.out.len, 0);
    call_end(&c);
}

/* A DeleteTopics request that does not decode deletes nothing and writes
 * nothing: every cut of a valid one, and a null name where the version
 * forbids one (v0-5, once answered as an unknown topic id). DescribeCluster
 * cuts likewise close. */
static void test_delete_topics_malformed(void **state)
{
    struct fx *f = *state;
    struct ed_kc_new_topic t = {"keep", 1, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    const char *names[] = {"keep"};
    for (int16_t v = 0; v <= 6; v++) {
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        ed_kc_enc_delete_topics(&w, v, names, 1, 1000);
        for (size_t cut = 0; cut < w.len; cut++)
            expect_close(f, ed_kapi_delete_topics, 20, v, &w, cut);
        ed_kwr_free(&w);
        if (v <= 5) {
            bool flex = v >= 4;
            ed_kwr_init(&w, 64);
            ed_kwr_array(&w, 1, flex);
            ed_kwr_str(&w, NULL, flex);
            ed_kwr_i32(&w, 1000);
            ed_kwr_tags(&w, flex);
            expect_close(f, ed_kapi_delete_topics, 20, v, &w, w.len);
            ed_kwr_free(&w);
        }
    }
    assert_non_null(ed_topics_find(f->topics, "keep"));
    for (int16_t v = 0; v <= 1; v++) {
        ed_kwr w;
        ed_kwr_init(&w, 64);
        ed_kwr_bool(&w, true);
        if (v >= 1) ed_kwr_i8(&w, 1);
        ed_kwr_tags(&w, true);
        for (size_t cut = 0; cut < w.len; cut++)
            expect_close(f, ed_kapi_describe_cluster, 60, v, &w, cut);
        ed_kwr_free(&w);
    }
}

static void test_delete_topics(void **state)
{
    struct fx *f = *state;
    for (int16_t v = 0; v <= 6; v++) {
        char name[32];
        snprintf(name, sizeof name, "del-v%d", v);
        struct ed_kc_new_topic t = {name, 2, 1, 0, NULL};
        assert_int_equal(create(f, 7, &t, false, NULL), 0);
        const char *names[] = {name, "not-there"};
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        ed_kc_enc_delete_topics(&w, v, names, 2, 1000);
        struct call c;
        call(f, &c, ed_kapi_delete_topics, 20, v, &w);
        assert_int_equal(c.status, ED_KAPI_RESPOND);
        struct ed_kc_items res;
        memset(&res, 0, sizeof res);
        assert_int_equal(ed_kc_dec_delete_topics(&c.resp, v, &res), ED_OK);
        assert_int_equal(ed_krd_left(&c.resp), 0);
        assert_int_equal(res.n, 2);
        assert_true(ed_kstr_eq(res.items[0].name, name));
        assert_int_equal(res.items[0].error, 0);
        assert_int_equal(res.items[1].error, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
        if (v >= 5) assert_true(res.items[1].message.len > 0);
        assert_null(ed_topics_find(f->topics, name));
        ed_kc_free(&res.mem);
        call_end(&c);
        ed_kwr_free(&w);
    }

    /* v6 by topic id: a null name and the id. */
    struct ed_kc_new_topic t = {"by-id", 1, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    uint8_t id[16], unknown[16];
    memcpy(id, ed_topic_id(ed_topics_find(f->topics, "by-id")), 16);
    memset(unknown, 0x5a, sizeof unknown);
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    ed_kwr_array(&w, 2, true);
    for (int i = 0; i < 2; i++) {
        ed_kwr_str(&w, NULL, true);
        ed_kwr_uuid(&w, i ? unknown : id);
        ed_kwr_tags(&w, true);
    }
    ed_kwr_i32(&w, 1000);
    ed_kwr_tags(&w, true);
    struct call c;
    call(f, &c, ed_kapi_delete_topics, 20, 6, &w);
    struct ed_kc_items res;
    memset(&res, 0, sizeof res);
    assert_int_equal(ed_kc_dec_delete_topics(&c.resp, 6, &res), ED_OK);
    assert_int_equal(res.items[0].error, 0);
    assert_true(ed_kstr_eq(res.items[0].name, "by-id"));
    assert_memory_equal(res.items[0].id, id, 16);
    assert_int_equal(res.items[1].error, ED_KERR_UNKNOWN_TOPIC_ID);
    assert_int_equal(res.items[1].name.len, -1);
    assert_null(ed_topics_find(f->topics, "by-id"));
    ed_kc_free(&res.mem);
    call_end(&c);
    ed_kwr_free(&w);
}

/* delete.topic.enable=false: every topic refused as Kafka refuses it, and
 * nothing deleted. */
static void test_delete_topics_disabled(void **state)
{
    struct fx *f = *state;
    char why[128];
    assert_int_equal(ed_config_set(f->cfg, "delete.topic.enable", "false", why, sizeof why), ED_OK);
    struct ed_kc_new_topic t = {"kept", 1, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    for (int16_t v = 0; v <= 6; v++) {
        const char *names[] = {"kept"};
        ed_kwr w;
        ed_kwr_init(&w, 4096);
        ed_kc_enc_delete_topics(&w, v, names, 1, 1000);
        struct call c;
        call(f, &c, ed_kapi_delete_topics, 20, v, &w);
        struct ed_kc_items res;
        memset(&res, 0, sizeof res);
        assert_int_equal(ed_kc_dec_delete_topics(&c.resp, v, &res), ED_OK);
        assert_int_equal(res.n, 1);
        assert_true(ed_kstr_eq(res.items[0].name, "kept"));
        assert_int_equal(res.items[0].error,
                         v < 3 ? ED_KERR_INVALID_REQUEST : ED_KERR_TOPIC_DELETION_DISABLED);
        assert_non_null(ed_topics_find(f->topics, "kept"));
        ed_kc_free(&res.mem);
        call_end(&c);
        ed_kwr_free(&w);
    }
    assert_int_equal(ed_config_set(f->cfg, "delete.topic.enable", "true", why, sizeof why), ED_OK);
}

/* ---- CreatePartitions ---- */

static int16_t grow(struct fx *f, int16_t v, const char *topic, int32_t count, bool validate)
{
    struct ed_kc_new_partitions p = {topic, count};
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    ed_kc_enc_create_partitions(&w, v, &p, 1, 1000, validate);
    struct call c;
    call(f, &c, ed_kapi_create_partitions, 37, v, &w);
    assert_int_equal(c.status, ED_KAPI_RESPOND);
    struct ed_kc_items res;
    memset(&res, 0, sizeof res);
    assert_int_equal(ed_kc_dec_create_partitions(&c.resp, v, &res), ED_OK);
    assert_int_equal(ed_krd_left(&c.resp), 0);
    assert_int_equal(res.n, 1);
    int16_t err = res.items[0].error;
    if (err) assert_true(res.items[0].message.len > 0);
    if (err) keep_msg(res.items[0].message);
    ed_kc_free(&res.mem);
    call_end(&c);
    ed_kwr_free(&w);
    return err;
}

static void test_create_partitions(void **state)
{
    struct fx *f = *state;
    struct ed_kc_new_topic t = {"grow", 2, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    int32_t want = 2;
    for (int16_t v = 0; v <= 3; v++) {
        assert_int_equal(grow(f, v, "grow", want + 5, true), 0); /* validate only */
        assert_int_equal(n_parts(f, "grow"), want);
        want++;
        assert_int_equal(grow(f, v, "grow", want, false), 0);
        assert_int_equal(n_parts(f, "grow"), want);
        assert_int_equal(grow(f, v, "grow", want, false), ED_KERR_INVALID_PARTITIONS);
        assert_int_equal(grow(f, v, "grow", 1, false), ED_KERR_INVALID_PARTITIONS);
        assert_int_equal(grow(f, v, "nope", 9, false), ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    }
    assert_int_equal(n_parts(f, "grow"), 6);
    /* The new partitions take appends. */
    ed_partition *p = ed_topic_partition(ed_topics_find(f->topics, "grow"), 5);
    assert_non_null(p);
    assert_int_equal(ed_log_end_offset(p->log), 0);

    /* An explicit assignment must name this broker for each new partition. */
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    ed_kwr_array(&w, 1, true);
    ed_kwr_str(&w, "grow", true);
    ed_kwr_i32(&w, 8);
    ed_kwr_array(&w, 2, true);
    for (int i = 0; i < 2; i++) {
        ed_kwr_array(&w, 1, true);
        ed_kwr_i32(&w, i ? 3 : 1);
        ed_kwr_tags(&w, true);
    }
    ed_kwr_tags(&w, true);
    ed_kwr_i32(&w, 1000);
    ed_kwr_bool(&w, false);
    ed_kwr_tags(&w, true);
    struct call c;
    call(f, &c, ed_kapi_create_partitions, 37, 3, &w);
    struct ed_kc_items res;
    memset(&res, 0, sizeof res);
    assert_int_equal(ed_kc_dec_create_partitions(&c.resp, 3, &res), ED_OK);
    assert_int_equal(res.items[0].error, ED_KERR_INVALID_REPLICA_ASSIGNMENT);
    assert_int_equal(n_parts(f, "grow"), 6);
    ed_kc_free(&res.mem);
    call_end(&c);
    ed_kwr_free(&w);
}

/* ---- DescribeConfigs ---- */

static const struct ed_kc_config_entry *find_entry(const struct ed_kc_config_resource *r,
                                                   const char *name)
{
    for (int32_t i = 0; i < r->n_configs; i++)
        if (ed_kstr_eq(r->configs[i].name, name)) return &r->configs[i];
    return NULL;
}

static void describe(struct fx *f, int16_t v, const struct ed_kc_describe_resource *res, int n,
                     struct ed_kc_describe_configs *out, struct call *c)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    ed_kc_enc_describe_configs(&w, v, res, n, true, true);
    call(f, c, ed_kapi_describe_configs, 32, v, &w);
    assert_int_equal(c->status, ED_KAPI_RESPOND);
    memset(out, 0, sizeof *out);
    assert_int_equal(ed_kc_dec_describe_configs(&c->resp, v, out), ED_OK);
    assert_int_equal(ed_krd_left(&c->resp), 0);
    ed_kwr_free(&w);
}

static void set_cfg(struct fx *f, const char *key, const char *value)
{
    char why[200];
    assert_int_equal(ed_config_set(f->cfg, key, value, why, sizeof why), ED_OK);
}

/* eddy.max.topics, eddy.max.partitions and eddy.max.partitions.per.request:
 * requests beyond them are refused with Kafka's codes and a message naming
 * the limit, and change nothing. */
static void test_caps(void **state)
{
    struct fx *f = *state;
    set_cfg(f, "eddy.max.topics", "3");
    set_cfg(f, "eddy.max.partitions", "10");
    set_cfg(f, "eddy.max.partitions.per.request", "6");
    struct ed_kc_new_topic t = {"a", 4, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    /* One request may add at most 6 partitions. */
    t = (struct ed_kc_new_topic){"big", 7, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), ED_KERR_INVALID_PARTITIONS);
    assert_non_null(strstr(last_msg, "eddy.max.partitions.per.request"));
    assert_int_equal(grow(f, 3, "a", 11, false), ED_KERR_INVALID_PARTITIONS);
    assert_null(ed_topics_find(f->topics, "big"));
    /* 4 + 6 = 10 fits; then the broker is full, validate_only included. */
    t = (struct ed_kc_new_topic){"b", 6, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    t = (struct ed_kc_new_topic){"c", 1, 1, 0, NULL};
    for (int validate = 0; validate < 2; validate++) {
        last_msg[0] = '\0';
        assert_int_equal(create(f, 7, &t, validate, NULL), ED_KERR_POLICY_VIOLATION);
        assert_non_null(strstr(last_msg, "eddy.max.partitions"));
        assert_null(ed_topics_find(f->topics, "c"));
        last_msg[0] = '\0';
        assert_int_equal(grow(f, 3, "a", 5, validate), ED_KERR_POLICY_VIOLATION);
        assert_non_null(strstr(last_msg, "limit of 10 partitions"));
        assert_int_equal(n_parts(f, "a"), 4);
    }
    /* The topic count. */
    set_cfg(f, "eddy.max.partitions", "100");
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    t = (struct ed_kc_new_topic){"d", 1, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), ED_KERR_POLICY_VIOLATION);
    assert_non_null(strstr(last_msg, "eddy.max.topics"));
    assert_null(ed_topics_find(f->topics, "d"));
    /* A deleted topic frees its place. */
    assert_int_equal(ed_topics_delete(f->topics, ed_topics_find(f->topics, "c")), ED_OK);
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
}

/* ---- creation in steps ---- */

/* Another client's turn of the loop: the registry answers. */
static void check_turn(void *arg)
{
    struct fx *f = arg;
    assert_non_null(ed_topics_find(f->topics, "other"));
    if (lt_count_logs(f->st) < 101) assert_null(ed_topics_find(f->topics, "wide"));
}

/* Sends CreateTopics v7 of one topic (n partitions), or CreatePartitions
 * v3 growing topic to n when grow is set; the handler must pend. */
static void call_pending(struct fx *f, struct call *c, const char *topic, int32_t n, bool grow)
{
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    if (grow) {
        struct ed_kc_new_partitions np = {topic, n};
        ed_kc_enc_create_partitions(&w, 3, &np, 1, 1000, false);
        call(f, c, ed_kapi_create_partitions, 37, 3, &w);
    } else {
        struct ed_kc_new_topic nt = {topic, n, 1, 0, NULL};
        ed_kc_enc_create_topics(&w, 7, &nt, 1, 1000, false);
        call(f, c, ed_kapi_create_topics, 19, 7, &w);
    }
    ed_kwr_free(&w);
    assert_int_equal(c->status, ED_KAPI_PENDING);
    assert_non_null(c->req.cancel);
}

/* The error code a completed CreatePartitions call answered. */
static int16_t grow_answer(struct call *c)
{
    struct ed_kc_items res;
    memset(&res, 0, sizeof res);
    ed_krd_init(&c->resp, c->req.out.buf, c->req.out.len);
    assert_int_equal(ed_kc_dec_create_partitions(&c->resp, 3, &res), ED_OK);
    assert_int_equal(res.n, 1);
    int16_t err = res.items[0].error;
    ed_kc_free(&res.mem);
    call_end(c);
    return err;
}

/* Turns of the loop until there are want logs; each turn at most one
 * step. */
static void turns_until(struct lt_turns *s, int32_t want)
{
    s->want = want;
    s->n_turns = 0;
    s->max_change = 0;
    assert_int_equal(lt_turns_run(s), ED_OK);
    assert_int_equal(lt_count_logs(s->st), want);
    assert_true(s->max_change > 0 && s->max_change <= 16);
}

/* With a loop, CreateTopics of a big topic pends while its partitions are
 * made a bounded number per turn, the loop serving meanwhile, and is
 * answered when all exist; a requester that goes away is not called;
 * CreatePartitions works the same way. */
static void test_create_in_steps(void **state)
{
    struct fx *f = *state;
    struct ed_kc_new_topic nt = {"other", 1, 1, 0, NULL};
    assert_int_equal(create(f, 7, &nt, false, NULL), 0);
    struct lt_turns s = {.st = f->st, .limit = 1000, .check = check_turn, .arg = f};
    assert_int_equal(ed_plat_loop_new(&s.loop), ED_OK);
    ed_topics_set_loop(f->topics, s.loop);
    n_completed = 0;
    struct call c;
    call_pending(f, &c, "wide", 100, false);
    assert_int_equal(lt_count_logs(f->st), 1 + 16); /* the first step */
    assert_null(ed_topics_find(f->topics, "wide"));
    turns_until(&s, 101);
    assert_int_equal(n_completed, 1);
    assert_true(s.n_turns >= (100 - 16) / 16);
    assert_int_equal(n_parts(f, "wide"), 100);
    struct ed_kc_create_topics ct;
    memset(&ct, 0, sizeof ct);
    ed_krd_init(&c.resp, c.req.out.buf, c.req.out.len);
    assert_int_equal(ed_kc_dec_create_topics(&c.resp, 7, &ct), ED_OK);
    assert_int_equal(ct.n_topics, 1);
    assert_int_equal(ct.topics[0].error, 0);
    assert_int_equal(ct.topics[0].n_partitions, 100);
    assert_memory_equal(ct.topics[0].id, ed_topic_id(ed_topics_find(f->topics, "wide")), 16);
    ed_kc_free(&ct.mem);
    call_end(&c);

    /* The connection closes while its topic is being made: no answer, the
     * topic is made all the same. */
    call_pending(f, &c, "wide2", 40, false);
    c.req.cancel(&c.req);
    call_end(&c);
    s.check = NULL;
    turns_until(&s, 101 + 40);
    assert_int_equal(n_parts(f, "wide2"), 40);
    assert_int_equal(n_completed, 1);

    /* CreatePartitions of 50 more: the same steps; the new partitions
     * appear together; another growth meanwhile is refused. */
    call_pending(f, &c, "other", 51, true);
    assert_int_equal(lt_count_logs(f->st), 141 + 16);
    assert_int_equal(n_parts(f, "other"), 1);
    assert_int_equal(grow(f, 3, "other", 60, false), ED_KERR_INVALID_PARTITIONS);
    turns_until(&s, 141 + 50);
    assert_int_equal(n_completed, 2);
    assert_int_equal(n_parts(f, "other"), 51);
    assert_int_equal(grow_answer(&c), 0);

    /* The topic is deleted while it grows: the request is answered with an
     * error and every new log goes with the topic. */
    call_pending(f, &c, "wide2", 90, true);
    assert_int_equal(ed_topics_delete(f->topics, ed_topics_find(f->topics, "wide2")), ED_OK);
    assert_int_equal(n_completed, 3);
    assert_int_equal(grow_answer(&c), ED_KERR_UNKNOWN_SERVER_ERROR);
    turns_until(&s, 100 + 51); /* "wide" and "other" */
    ed_topics_set_loop(f->topics, NULL);
    ed_plat_loop_free(s.loop);
}

static void test_describe_configs(void **state)
{
    struct fx *f = *state;
    struct ed_kc_kv cfg[] = {{"retention.ms", "7200000"}};
    struct ed_kc_new_topic t = {"cfg", 1, 1, 1, cfg};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    for (int16_t v = 0; v <= 4; v++) {
        struct ed_kc_describe_resource res[] = {
            {ED_KC_RESOURCE_TOPIC, "cfg", -1, NULL},
            {ED_KC_RESOURCE_TOPIC, "missing", -1, NULL},
            {ED_KC_RESOURCE_BROKER, "1", -1, NULL},
            {ED_KC_RESOURCE_BROKER, "7", -1, NULL},
            {99, "x", -1, NULL},
        };
        struct ed_kc_describe_configs dc;
        struct call c;
        describe(f, v, res, 5, &dc, &c);
        assert_int_equal(dc.n, 5);
        const struct ed_kc_config_resource *r = &dc.resources[0];
        assert_int_equal(r->error, 0);
        assert_int_equal(r->type, ED_KC_RESOURCE_TOPIC);
        const struct ed_kc_config_entry *e = find_entry(r, "retention.ms");
        assert_non_null(e);
        assert_true(ed_kstr_eq(e->value, "7200000"));
        assert_false(e->is_default);
        assert_false(e->read_only);
        const struct ed_kc_config_entry *d = find_entry(r, "retention.bytes");
        assert_non_null(d);
        assert_true(ed_kstr_eq(d->value, "123456789")); /* the broker's log.retention.bytes */
        assert_true(d->is_default || d->source == ED_KC_SRC_STATIC_BROKER);
        assert_non_null(find_entry(r, "segment.bytes"));
        assert_non_null(find_entry(r, "cleanup.policy"));
        if (v >= 1) {
            assert_int_equal(e->source, ED_KC_SRC_DYNAMIC_TOPIC);
            assert_int_equal(d->source, ED_KC_SRC_STATIC_BROKER);
            assert_true(e->n_synonyms >= 1);
            assert_true(ed_kstr_eq(e->synonyms[0].name, "retention.ms"));
            assert_int_equal(e->synonyms[0].source, ED_KC_SRC_DYNAMIC_TOPIC);
            bool broker_syn = false;
            for (int32_t s = 0; s < d->n_synonyms; s++)
                broker_syn |= ed_kstr_eq(d->synonyms[s].name, "log.retention.bytes");
            assert_true(broker_syn);
        }
        if (v >= 3) {
            assert_int_equal(e->type, ED_KC_TYPE_LONG);
            assert_int_equal(find_entry(r, "cleanup.policy")->type, ED_KC_TYPE_LIST);
            assert_true(e->doc.len > 0);
        }
        assert_int_equal(dc.resources[1].error, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
        assert_int_equal(dc.resources[1].n_configs, 0);
        const struct ed_kc_config_resource *br = &dc.resources[2];
        assert_int_equal(br->error, 0);
        const struct ed_kc_config_entry *np = find_entry(br, "num.partitions");
        assert_non_null(np);
        assert_true(ed_kstr_eq(np->value, "2"));
        assert_true(np->read_only);
        if (v >= 1) assert_int_equal(np->source, ED_KC_SRC_STATIC_BROKER);
        assert_int_equal(dc.resources[3].error, ED_KERR_INVALID_REQUEST);
        assert_int_equal(dc.resources[4].error, ED_KERR_INVALID_REQUEST);
        ed_kc_free(&dc.mem);
        call_end(&c);
    }

    /* Named keys only; unknown names are left out. */
    const char *keys[] = {"retention.ms", "no.such.key"};
    struct ed_kc_describe_resource one = {ED_KC_RESOURCE_TOPIC, "cfg", 2, keys};
    struct ed_kc_describe_configs dc;
    struct call c;
    describe(f, 4, &one, 1, &dc, &c);
    assert_int_equal(dc.resources[0].n_configs, 1);
    assert_true(ed_kstr_eq(dc.resources[0].configs[0].name, "retention.ms"));
    ed_kc_free(&dc.mem);
    call_end(&c);
}

/* Every topic key of the config table is described, with the table's
 * default (or its broker key's value), source, type and documentation; a
 * typo'd topic key is refused with Kafka's text. */
static void test_describe_configs_table(void **state)
{
    struct fx *f = *state;
    struct ed_kc_new_topic t = {"tbl", 1, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    ed_topic *topic = ed_topics_find(f->topics, "tbl");
    struct ed_kc_describe_resource res = {ED_KC_RESOURCE_TOPIC, "tbl", -1, NULL};
    struct ed_kc_describe_configs dc;
    struct call c;
    describe(f, 4, &res, 1, &dc, &c);
    const struct ed_kc_config_resource *r = &dc.resources[0];
    int32_t n_topic_keys = 0;
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *k = &ed_config_keys[i];
        if (!k->topic) continue;
        n_topic_keys++;
        const struct ed_kc_config_entry *e = find_entry(r, k->topic);
        if (!e) fail_msg("%s is not described", k->topic);
        bool dflt = false;
        assert_true(ed_kstr_eq(e->value, ed_topic_config_get(topic, k->topic, &dflt)));
        assert_true(dflt);
        assert_false(e->read_only);
        assert_true(ed_kstr_eq(e->doc, k->tdoc));
        if (!k->name) { /* the table's default */
            assert_true(ed_kstr_eq(e->value, k->def));
            assert_int_equal(e->source, ED_KC_SRC_DEFAULT);
        } else { /* its broker key's, set in the file or not */
            int8_t want =
                ed_config_is_set(f->cfg, k->name) ? ED_KC_SRC_STATIC_BROKER : ED_KC_SRC_DEFAULT;
            assert_int_equal(e->source, want);
        }
        int8_t type = k->type == ED_CFG_BOOL     ? ED_KC_TYPE_BOOLEAN
                      : k->type == ED_CFG_DOUBLE ? ED_KC_TYPE_DOUBLE
                      : k->type == ED_CFG_LIST   ? ED_KC_TYPE_LIST
                      : k->type == ED_CFG_INT    ? e->type
                                                 : ED_KC_TYPE_STRING;
        assert_int_equal(e->type, type);
        if (k->type == ED_CFG_INT)
            assert_true(e->type == ED_KC_TYPE_INT || e->type == ED_KC_TYPE_LONG);
    }
    assert_int_equal(r->n_configs, n_topic_keys);
    assert_true(ed_kstr_eq(find_entry(r, "retention.bytes")->value, "123456789"));
    ed_kc_free(&dc.mem);
    call_end(&c);

    char why[200];
    assert_false(ed_kapi_topic_config_check("retention.msec", "1", why, sizeof why));
    assert_string_equal(why, "Unknown topic config name: retention.msec");
    assert_false(ed_kapi_topic_config_check("retention.ms", "soon", why, sizeof why));
    assert_non_null(strstr(why, "Invalid value soon for configuration retention.ms"));
    assert_true(ed_kapi_topic_config_check("retention.ms", "-1", why, sizeof why));
}

/* ---- IncrementalAlterConfigs / AlterConfigs ---- */

static int16_t incr(struct fx *f, int16_t v, const char *topic, int8_t type,
                    const struct ed_kc_alter_op_item *ops, int n, bool validate)
{
    struct ed_kc_alter_resource r = {type, topic, n, ops};
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    ed_kc_enc_incremental_alter_configs(&w, v, &r, 1, validate);
    struct call c;
    call(f, &c, ed_kapi_incremental_alter_configs, 44, v, &w);
    assert_int_equal(c.status, ED_KAPI_RESPOND);
    struct ed_kc_items res;
    memset(&res, 0, sizeof res);
    assert_int_equal(ed_kc_dec_alter_configs(&c.resp, 44, v, &res), ED_OK);
    assert_int_equal(ed_krd_left(&c.resp), 0);
    assert_int_equal(res.n, 1);
    assert_true(ed_kstr_eq(res.items[0].name, topic));
    assert_int_equal(res.items[0].resource_type, type);
    int16_t err = res.items[0].error;
    if (err) assert_true(res.items[0].message.len > 0);
    ed_kc_free(&res.mem);
    call_end(&c);
    ed_kwr_free(&w);
    return err;
}

static void test_incremental_alter_configs(void **state)
{
    struct fx *f = *state;
    struct ed_kc_new_topic t = {"alt", 1, 1, 0, NULL};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    for (int16_t v = 0; v <= 1; v++) {
        struct ed_kc_alter_op_item set[] = {{"retention.ms", ED_KC_OP_SET, "1000"},
                                            {"cleanup.policy", ED_KC_OP_APPEND, "compact"}};
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, set, 2, true), 0);
        assert_null(override(f, "alt", "retention.ms")); /* validate only */
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, set, 2, false), 0);
        assert_string_equal(override(f, "alt", "retention.ms"), "1000");
        assert_string_equal(override(f, "alt", "cleanup.policy"), "delete,compact");

        struct ed_kc_alter_op_item sub[] = {{"cleanup.policy", ED_KC_OP_SUBTRACT, "delete"}};
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, sub, 1, false), 0);
        assert_string_equal(override(f, "alt", "cleanup.policy"), "compact");

        /* One bad change: nothing of the resource changes. */
        struct ed_kc_alter_op_item mixed[] = {{"retention.bytes", ED_KC_OP_SET, "5000"},
                                              {"retention.ms", ED_KC_OP_APPEND, "1"}};
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, mixed, 2, false),
                         ED_KERR_INVALID_CONFIG);
        assert_null(override(f, "alt", "retention.bytes"));
        struct ed_kc_alter_op_item badval[] = {{"retention.bytes", ED_KC_OP_SET, "lots"}};
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, badval, 1, false),
                         ED_KERR_INVALID_CONFIG);
        struct ed_kc_alter_op_item unknown[] = {{"no.such", ED_KC_OP_SET, "1"}};
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, unknown, 1, false),
                         ED_KERR_INVALID_CONFIG);
        struct ed_kc_alter_op_item dup[] = {{"retention.ms", ED_KC_OP_SET, "5"},
                                            {"retention.ms", ED_KC_OP_SET, "6"}};
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, dup, 2, false),
                         ED_KERR_INVALID_REQUEST);
        struct ed_kc_alter_op_item badop[] = {{"retention.ms", 9, "5"}};
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, badop, 1, false),
                         ED_KERR_INVALID_REQUEST);
        assert_string_equal(override(f, "alt", "retention.ms"), "1000");

        struct ed_kc_alter_op_item del[] = {{"retention.ms", ED_KC_OP_DELETE, NULL},
                                            {"cleanup.policy", ED_KC_OP_DELETE, NULL}};
        assert_int_equal(incr(f, v, "alt", ED_KC_RESOURCE_TOPIC, del, 2, false), 0);
        assert_null(override(f, "alt", "retention.ms"));
        assert_null(override(f, "alt", "cleanup.policy"));

        assert_int_equal(incr(f, v, "gone", ED_KC_RESOURCE_TOPIC, set, 1, false),
                         ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
        /* Broker configs are read-only. */
        struct ed_kc_alter_op_item b[] = {{"num.partitions", ED_KC_OP_SET, "4"}};
        assert_int_equal(incr(f, v, "1", ED_KC_RESOURCE_BROKER, b, 1, false),
                         ED_KERR_INVALID_REQUEST);
        assert_int_equal(ed_config_int(f->cfg, "num.partitions"), 2);
    }
}

static int16_t alter_full(struct fx *f, int16_t v, const char *topic, const struct ed_kc_kv *kv,
                          int n)
{
    bool flex = v >= 2;
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    ed_kwr_array(&w, 1, flex);
    ed_kwr_i8(&w, ED_KC_RESOURCE_TOPIC);
    ed_kwr_str(&w, topic, flex);
    ed_kwr_array(&w, n, flex);
    for (int i = 0; i < n; i++) {
        ed_kwr_str(&w, kv[i].key, flex);
        ed_kwr_str(&w, kv[i].value, flex);
        ed_kwr_tags(&w, flex);
    }
    ed_kwr_tags(&w, flex);
    ed_kwr_bool(&w, false);
    ed_kwr_tags(&w, flex);
    struct call c;
    call(f, &c, ed_kapi_alter_configs, 33, v, &w);
    assert_int_equal(c.status, ED_KAPI_RESPOND);
    struct ed_kc_items res;
    memset(&res, 0, sizeof res);
    assert_int_equal(ed_kc_dec_alter_configs(&c.resp, 33, v, &res), ED_OK);
    assert_int_equal(ed_krd_left(&c.resp), 0);
    int16_t err = res.items[0].error;
    ed_kc_free(&res.mem);
    call_end(&c);
    ed_kwr_free(&w);
    return err;
}

static void test_alter_configs(void **state)
{
    struct fx *f = *state;
    struct ed_kc_kv cfg[] = {{"retention.ms", "1000"}, {"retention.bytes", "2000"}};
    struct ed_kc_new_topic t = {"full", 1, 1, 2, cfg};
    assert_int_equal(create(f, 7, &t, false, NULL), 0);
    for (int16_t v = 0; v <= 2; v++) {
        /* Replaces the whole set: retention.bytes goes back to its default. */
        struct ed_kc_kv one[] = {{"retention.ms", "3000"}};
        assert_int_equal(alter_full(f, v, "full", one, 1), 0);
        assert_string_equal(override(f, "full", "retention.ms"), "3000");
        assert_null(override(f, "full", "retention.bytes"));
        struct ed_kc_kv bad[] = {{"segment.ms", "0"}, {"retention.bytes", "5"}};
        assert_int_equal(alter_full(f, v, "full", bad, 2), ED_KERR_INVALID_CONFIG);
        assert_string_equal(override(f, "full", "retention.ms"), "3000");
        struct ed_kc_kv two[] = {{"retention.bytes", "2000"}, {"retention.ms", "1000"}};
        assert_int_equal(alter_full(f, v, "full", two, 2), 0);
        assert_string_equal(override(f, "full", "retention.bytes"), "2000");
    }
}

/* ---- DescribeCluster ---- */

static void test_describe_cluster(void **state)
{
    struct fx *f = *state;
    for (int16_t v = 0; v <= 1; v++) {
        for (int8_t endpoint = 1; endpoint <= 2; endpoint++) {
            if (v == 0 && endpoint == 2) continue;
            ed_kwr w;
            ed_kwr_init(&w, 64);
            ed_kwr_bool(&w, true);
            if (v >= 1) ed_kwr_i8(&w, endpoint);
            ed_kwr_tags(&w, true);
            struct call c;
            call(f, &c, ed_kapi_describe_cluster, 60, v, &w);
            assert_int_equal(c.status, ED_KAPI_RESPOND);
            ed_krd *r = &c.resp;
            assert_int_equal(ed_krd_i32(r), 0);
            int16_t err = ed_krd_i16(r);
            ed_kstr msg = ed_krd_str(r, true);
            if (endpoint == 2) {
                assert_int_equal(err, 115);
                assert_true(msg.len > 0);
            } else {
                assert_int_equal(err, 0);
                assert_int_equal(msg.len, -1);
            }
            if (v >= 1) assert_int_equal(ed_krd_i8(r), 1);
            assert_true(ed_kstr_eq(ed_krd_str(r, true), "eddy-test-cluster"));
            assert_int_equal(ed_krd_i32(r), 1);
            assert_int_equal(ed_krd_array(r, true, 1), 1);
            assert_int_equal(ed_krd_i32(r), 1);
            assert_true(ed_kstr_eq(ed_krd_str(r, true), "gw.local"));
            assert_int_equal(ed_krd_i32(r), 9092);
            assert_int_equal(ed_krd_str(r, true).len, -1);
            ed_krd_tags(r, true);
            assert_true(ed_krd_i32(r) != INT32_MIN); /* operations were asked for */
            ed_krd_tags(r, true);
            assert_true(ed_krd_ok(r));
            assert_int_equal(ed_krd_left(r), 0);
            call_end(&c);
            ed_kwr_free(&w);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_topics_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_topics_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_topics_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_topics_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_topics_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_topics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_topics_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_partitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_in_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_configs_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_alter_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alter_configs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_cluster, setup, teardown),
    };
    return cmocka_run_group_tests_name("kapi_admin", tests, NULL, NULL);
}
