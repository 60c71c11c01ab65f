/* Unit tests of the Kafka server with ApiVersions and Metadata: framing
 * (pipelined, split, large frames), header versions, responses in order,
 * closing on garbage, oversized frames, unknown keys and versions (over the
 * simulated network), a flood of malformed requests logging a bounded
 * number of lines; and over
 * real loopback sockets: one bad connection does not disturb another, the
 * connection limit, the idle timeout and backpressure (reading stops at the
 * open-request limit and resumes once a durable produce is answered). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_data.h"
#include "core/kafka/server.h"
#include "core/topics.h"
#include "log_testutil.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "tconn.h"

struct fx {
    char *dir;
    struct ed_config *cfg;
    struct ed_storage_config sc;
    ed_loop *loop;
    ed_storage *st;
    ed_topics *topics;
    ed_broker b;
    ed_server *srv;
};

static void fx_start(struct fx *f)
{
    ed_config_storage(f->cfg, &f->sc);
    f->sc.use_flusher_thread = false;
    assert_int_equal(ed_plat_loop_new(&f->loop), ED_OK);
    assert_int_equal(ed_storage_open(&f->sc, &f->st), ED_OK);
    assert_int_equal(ed_topics_open_dir(f->st, f->dir, &f->sc.log, &f->topics), ED_OK);
    ed_topics_set_broker_config(f->topics, f->cfg);
    f->b.loop = f->loop;
    f->b.storage = f->st;
    f->b.topics = f->topics;
    f->b.cfg = f->cfg;
    f->b.node_id = 1;
    snprintf(f->b.cluster_id, sizeof f->b.cluster_id, "TestClusterId123456789");
    snprintf(f->b.adv_host, sizeof f->b.adv_host, "gw.example");
    f->b.adv_port = 9092;
    assert_int_equal(ed_server_new(&f->b, &f->srv), ED_OK);
}

static void set(struct fx *f, const char *k, const char *v)
{
    char why[256];
    assert_int_equal(ed_config_set(f->cfg, k, v, why, sizeof why), ED_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    assert_int_equal(ed_config_new(&f->cfg), ED_OK);
    set(f, "log.dirs", f->dir);
    set(f, "log.dir.min.free.bytes", "0");
    set(f, "socket.request.max.bytes", "100000");
    set(f, "eddy.flush.gather.ms", "0"); /* acks=all answered at the next tick */
    fx_start(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tc_close_all();
    ed_server_free(f->srv);
    ed_topics_close(f->topics);
    ed_storage_close(f->st);
    ed_plat_loop_free(f->loop);
    ed_config_free(f->cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void adopt(void *arg, ed_stream *s)
{
    ed_server_adopt(arg, s);
}

/* A client connection over the simulated network. */
static struct tconn *kconn(struct fx *f)
{
    return tc_open(f->loop, adopt, f->srv);
}

/* ---- request building ---- */

/* Starts a request frame: size placeholder + header v1 or v2. */
static void req_begin(ed_kwr *w, int16_t key, int16_t ver, int32_t corr, bool hdr_v2)
{
    ed_kwr_init(w, 1 << 24);
    ed_kwr_reserve_i32(w);
    ed_kwr_i16(w, key);
    ed_kwr_i16(w, ver);
    ed_kwr_i32(w, corr);
    ed_kwr_str(w, "test-client", false);
    ed_kwr_tags(w, hdr_v2);
}

static void req_end(ed_kwr *w)
{
    ed_kwr_patch_i32(w, 0, (int32_t)(w->len - 4));
    assert_true(ed_kwr_ok(w));
}

/* Feeds w to c (and frees w); returns the feed status. */
static int send_req(struct tconn *c, ed_kwr *w)
{
    int rc = tc_feed(c, w->buf, w->len);
    ed_kwr_free(w);
    return rc;
}

/* Takes one response frame out of the captured output. */

static bool next_resp(struct tconn *c, size_t *off, ed_krd *body, int32_t *corr)
{
    size_t len;
    const uint8_t *out = tc_output(c, &len);
    if (*off + 4 > len) return false;
    int32_t size = (int32_t)ed_get_be32(out + *off);
    assert_true(size >= 4);
    assert_true(*off + 4 + (size_t)size <= len);
    ed_krd_init(body, out + *off + 4, (size_t)size);
    *corr = ed_krd_i32(body);
    *off += 4 + (size_t)size;
    return true;
}

struct range {
    int16_t min, max;
    bool seen;
};

static void check_api_keys(ed_krd *r, bool flex)
{
    int32_t n = ed_krd_array(r, flex, 6);
    assert_true(n >= 2);
    bool meta = false, versions = false;
    int16_t last = -1;
    for (int32_t i = 0; i < n; i++) {
        int16_t k = ed_krd_i16(r), lo = ed_krd_i16(r), hi = ed_krd_i16(r);
        ed_krd_tags(r, flex);
        assert_true(k > last); /* ascending, no duplicates */
        last = k;
        assert_non_null(ed_kapi_table[k].fn);
        assert_int_equal(lo, ed_kapi_table[k].min_version);
        assert_int_equal(hi, ed_kapi_table[k].max_version);
        if (k == ED_KAPI_METADATA) meta = lo == 0 && hi == 12;
        if (k == ED_KAPI_API_VERSIONS) versions = lo == 0 && hi == 4;
    }
    assert_true(meta);
    assert_true(versions);
}

/* ---- ApiVersions ---- */

static void test_api_versions(void **state)
{
    struct fx *f = *state;
    struct tconn *c = kconn(f);
    ed_kwr w;
    for (int16_t v = 0; v <= 4; v++) {
        bool flex = v >= 3;
        req_begin(&w, ED_KAPI_API_VERSIONS, v, 100 + v, flex);
        if (flex) {
            ed_kwr_str(&w, "eddy-test", true);
            ed_kwr_str(&w, "1.0.0", true);
            ed_kwr_tags(&w, true);
        }
        req_end(&w);
        assert_int_equal(send_req(c, &w), ED_OK);
    }
    size_t off = 0;
    for (int16_t v = 0; v <= 4; v++) {
        ed_krd r;
        int32_t corr;
        assert_true(next_resp(c, &off, &r, &corr));
        assert_int_equal(corr, 100 + v);
        /* response header v0: the error code follows the correlation id */
        assert_int_equal(ed_krd_i16(&r), 0);
        check_api_keys(&r, v >= 3);
        if (v >= 1) assert_int_equal(ed_krd_i32(&r), 0);
        ed_krd_tags(&r, v >= 3);
        assert_true(ed_krd_ok(&r));
        assert_int_equal(ed_krd_left(&r), 0);
    }
}

static void test_api_versions_unknown_version(void **state)
{
    struct fx *f = *state;
    struct tconn *c = kconn(f);
    ed_kwr w;
    /* a future version with a body we do not know */
    req_begin(&w, ED_KAPI_API_VERSIONS, 77, 5, true);
    ed_kwr_raw(&w, "\x09whatever", 9);
    req_end(&w);
    assert_int_equal(send_req(c, &w), ED_OK);
    ed_krd r;
    int32_t corr;
    size_t off = 0;
    assert_true(next_resp(c, &off, &r, &corr));
    assert_int_equal(corr, 5);
    assert_int_equal(ed_krd_i16(&r), ED_KERR_UNSUPPORTED_VERSION);
    check_api_keys(&r, false); /* v0 format */
    assert_int_equal(ed_krd_left(&r), 0);

    /* v3 with an invalid client software name: INVALID_REQUEST */
    req_begin(&w, ED_KAPI_API_VERSIONS, 3, 6, true);
    ed_kwr_str(&w, "-bad name", true);
    ed_kwr_str(&w, "1", true);
    ed_kwr_tags(&w, true);
    req_end(&w);
    assert_int_equal(send_req(c, &w), ED_OK);
    assert_true(next_resp(c, &off, &r, &corr));
    assert_int_equal(corr, 6);
    assert_int_equal(ed_krd_i16(&r), ED_KERR_INVALID_REQUEST);
    assert_int_equal(ed_krd_array(&r, true, 6), 0);
}

/* ---- Metadata ---- */

struct mtopic {
    int16_t err;
    char name[64];
    bool null_name;
    uint8_t id[16];
    int32_t n_parts;
};

struct mresp {
    int32_t node_id, port, controller;
    char host[64], cluster[32];
    int32_t n_topics;
    struct mtopic t[8];
    int32_t topic_ops;
};

static void parse_metadata(ed_krd *r, int16_t v, struct mresp *m)
{
    bool flex = v >= 9;
    memset(m, 0, sizeof *m);
    if (v >= 3) assert_int_equal(ed_krd_i32(r), 0);
    assert_int_equal(ed_krd_array(r, flex, 1), 1);
    m->node_id = ed_krd_i32(r);
    assert_true(ed_kstr_copy(ed_krd_str(r, flex), m->host, sizeof m->host));
    m->port = ed_krd_i32(r);
    if (v >= 1) assert_int_equal(ed_krd_str(r, flex).len, -1); /* rack */
    ed_krd_tags(r, flex);
    if (v >= 2) assert_true(ed_kstr_copy(ed_krd_str(r, flex), m->cluster, sizeof m->cluster));
    m->controller = v >= 1 ? ed_krd_i32(r) : -1;
    m->n_topics = ed_krd_array(r, flex, 1);
    assert_true(m->n_topics >= 0 && m->n_topics <= 8);
    for (int32_t i = 0; i < m->n_topics; i++) {
        struct mtopic *t = &m->t[i];
        t->err = ed_krd_i16(r);
        ed_kstr name = ed_krd_str(r, flex);
        t->null_name = name.len < 0;
        if (!t->null_name) assert_true(ed_kstr_copy(name, t->name, sizeof t->name));
        if (v >= 10) ed_krd_uuid(r, t->id);
        if (v >= 1) ed_krd_bool(r);
        t->n_parts = ed_krd_array(r, flex, 1);
        for (int32_t p = 0; p < t->n_parts; p++) {
            assert_int_equal(ed_krd_i16(r), 0);
            assert_int_equal(ed_krd_i32(r), p);
            assert_int_equal(ed_krd_i32(r), 1); /* leader */
            if (v >= 7) assert_int_equal(ed_krd_i32(r), 0);
            assert_int_equal(ed_krd_array(r, flex, 4), 1);
            assert_int_equal(ed_krd_i32(r), 1);
            assert_int_equal(ed_krd_array(r, flex, 4), 1);
            assert_int_equal(ed_krd_i32(r), 1);
            if (v >= 5) assert_int_equal(ed_krd_array(r, flex, 4), 0);
            ed_krd_tags(r, flex);
        }
        if (v >= 8) m->topic_ops = ed_krd_i32(r);
        ed_krd_tags(r, flex);
    }
    if (v >= 8 && v <= 10) ed_krd_i32(r);
    ed_krd_tags(r, flex);
    assert_true(ed_krd_ok(r));
    assert_int_equal(ed_krd_left(r), 0);
}

/* names == NULL: null array (v1+) or empty (v0). */
static struct mresp metadata(struct tconn *c, int16_t v, const char *const *names, int n,
                             bool allow_auto, const uint8_t *ids)
{
    bool flex = v >= 9;
    ed_kwr w;
    req_begin(&w, ED_KAPI_METADATA, v, 42, flex);
    if (!names && !ids)
        ed_kwr_array(&w, v == 0 ? 0 : -1, flex);
    else {
        ed_kwr_array(&w, n, flex);
        for (int i = 0; i < n; i++) {
            if (v >= 10) ed_kwr_uuid(&w, ids ? ids + 16 * i : (const uint8_t[16]){0});
            ed_kwr_str(&w, names ? names[i] : NULL, flex);
            ed_kwr_tags(&w, flex);
        }
    }
    if (v >= 4) ed_kwr_bool(&w, allow_auto);
    if (v >= 8 && v <= 10) ed_kwr_bool(&w, false);
    if (v >= 8) ed_kwr_bool(&w, true);
    ed_kwr_tags(&w, flex);
    req_end(&w);
    tc_output_clear(c);
    assert_int_equal(send_req(c, &w), ED_OK);
    ed_krd r;
    int32_t corr;
    size_t off = 0;
    assert_true(next_resp(c, &off, &r, &corr));
    assert_int_equal(corr, 42);
    ed_krd_tags(&r, flex); /* response header v1 from v9 on */
    struct mresp m;
    parse_metadata(&r, v, &m);
    return m;
}

static void test_metadata_versions(void **state)
{
    struct fx *f = *state;
    struct tconn *c = kconn(f);
    assert_int_equal(ed_topics_create(f->topics, "a", 3, NULL, NULL, 0, NULL, NULL), ED_OK);
    assert_int_equal(ed_topics_create(f->topics, "b", 1, NULL, NULL, 0, NULL, NULL), ED_OK);
    for (int16_t v = 0; v <= 12; v++) {
        struct mresp m = metadata(c, v, NULL, 0, false, NULL);
        assert_int_equal(m.node_id, 1);
        assert_string_equal(m.host, "gw.example");
        assert_int_equal(m.port, 9092);
        if (v >= 1) assert_int_equal(m.controller, 1);
        if (v >= 2) assert_string_equal(m.cluster, "TestClusterId123456789");
        assert_int_equal(m.n_topics, 2);
        assert_string_equal(m.t[0].name, "a");
        assert_int_equal(m.t[0].n_parts, 3);
        assert_string_equal(m.t[1].name, "b");
        assert_int_equal(m.t[1].n_parts, 1);
        if (v >= 10)
            assert_memory_equal(m.t[1].id, ed_topic_id(ed_topics_find(f->topics, "b")), 16);
        if (v >= 8) assert_int_equal(m.topic_ops, 0x0DF8);
    }
    /* v1+: an empty list means no topics */
    const char *none[1] = {NULL};
    struct mresp m = metadata(c, 1, none, 0, false, NULL);
    assert_int_equal(m.n_topics, 0);
}

static void test_metadata_named_and_auto(void **state)
{
    struct fx *f = *state;
    struct tconn *c = kconn(f);
    assert_int_equal(ed_topics_create(f->topics, "known", 2, NULL, NULL, 0, NULL, NULL), ED_OK);
    const char *names[] = {"known", "new1", "bad/name", "known"};
    /* v4 without auto-creation: unknown stays unknown, duplicates once */
    struct mresp m = metadata(c, 4, names, 4, false, NULL);
    assert_int_equal(m.n_topics, 3);
    assert_int_equal(m.t[0].err, 0);
    assert_int_equal(m.t[0].n_parts, 2);
    assert_int_equal(m.t[1].err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_int_equal(m.t[2].err, ED_KERR_INVALID_TOPIC_EXCEPTION);
    assert_null(ed_topics_find(f->topics, "new1"));
    /* with auto-creation: created with num.partitions and answered at once */
    m = metadata(c, 9, names, 3, true, NULL);
    assert_int_equal(m.t[1].err, 0);
    assert_string_equal(m.t[1].name, "new1");
    assert_int_equal(m.t[1].n_parts, 1);
    assert_non_null(ed_topics_find(f->topics, "new1"));
    /* v0-3 always allow auto-creation (when the broker does) */
    const char *n2[] = {"new2"};
    m = metadata(c, 1, n2, 1, false, NULL);
    assert_int_equal(m.t[0].err, 0);
    /* the broker can forbid it */
    set(f, "auto.create.topics.enable", "false");
    const char *n3[] = {"new3"};
    m = metadata(c, 12, n3, 1, true, NULL);
    assert_int_equal(m.t[0].err, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_null(ed_topics_find(f->topics, "new3"));
}

static void test_metadata_by_id(void **state)
{
    struct fx *f = *state;
    struct tconn *c = kconn(f);
    ed_topic *t;
    assert_int_equal(ed_topics_create(f->topics, "byid", 2, NULL, NULL, 0, NULL, &t), ED_OK);
    uint8_t ids[32];
    memcpy(ids, ed_topic_id(t), 16);
    memset(ids + 16, 0x5a, 16);
    struct mresp m = metadata(c, 12, NULL, 2, false, ids);
    assert_int_equal(m.n_topics, 2);
    assert_int_equal(m.t[0].err, 0);
    assert_string_equal(m.t[0].name, "byid");
    assert_int_equal(m.t[0].n_parts, 2);
    assert_int_equal(m.t[1].err, ED_KERR_UNKNOWN_TOPIC_ID);
    assert_true(m.t[1].null_name);
    assert_memory_equal(m.t[1].id, ids + 16, 16);
}

/* ---- framing ---- */

static size_t api_versions_frame(uint8_t *out, int32_t corr)
{
    ed_kwr w;
    req_begin(&w, ED_KAPI_API_VERSIONS, 2, corr, false);
    req_end(&w);
    size_t n = w.len;
    memcpy(out, w.buf, n);
    ed_kwr_free(&w);
    return n;
}

static void test_pipelined_and_split(void **state)
{
    struct fx *f = *state;
    struct tconn *c = kconn(f);
    uint8_t buf[4096];
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        n += api_versions_frame(buf + n, 1000 + i);
    /* all at once */
    assert_int_equal(tc_feed(c, buf, n), ED_OK);
    size_t off = 0;
    ed_krd r;
    int32_t corr;
    for (int i = 0; i < 20; i++) {
        assert_true(next_resp(c, &off, &r, &corr));
        assert_int_equal(corr, 1000 + i);
    }
    assert_false(next_resp(c, &off, &r, &corr));
    /* byte by byte */
    tc_output_clear(c);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tc_feed(c, buf + i, 1), ED_OK);
    off = 0;
    for (int i = 0; i < 20; i++) {
        assert_true(next_resp(c, &off, &r, &corr));
        assert_int_equal(corr, 1000 + i);
    }
}

static void test_large_frame(void **state)
{
    struct fx *f = *state;
    struct tconn *c = kconn(f);
    /* a Metadata request naming 3000 unknown topics: ~40 KB, more than the
     * read buffer, read in chunks straight into the request's buffer */
    ed_kwr w;
    req_begin(&w, ED_KAPI_METADATA, 4, 9, false);
    ed_kwr_array(&w, 3000, false);
    char name[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof name, "missing-topic-%05d", i);
        ed_kwr_str(&w, name, false);
    }
    ed_kwr_bool(&w, false); /* no auto-creation */
    req_end(&w);
    assert_true(w.len > 32768);
    for (size_t i = 0; i < w.len; i += 7000)
        assert_int_equal(tc_feed(c, w.buf + i, ED_MIN((size_t)7000, w.len - i)), ED_OK);
    ed_kwr_free(&w);
    size_t off = 0;
    ed_krd r;
    int32_t corr;
    assert_true(next_resp(c, &off, &r, &corr));
    assert_int_equal(corr, 9);
    ed_krd_i32(&r);
    assert_int_equal(ed_krd_array(&r, false, 1), 1);
    ed_krd_i32(&r);
    ed_krd_str(&r, false);
    ed_krd_i32(&r);
    ed_krd_str(&r, false);
    ed_krd_str(&r, false);
    ed_krd_i32(&r);
    assert_int_equal(ed_krd_array(&r, false, 1), 3000);
    assert_int_equal(ed_krd_i16(&r), ED_KERR_UNKNOWN_TOPIC_OR_PARTITION);
    assert_true(ed_kstr_eq(ed_krd_str(&r, false), "missing-topic-00000"));
}

static void expect_closed(struct fx *f, const uint8_t *bytes, size_t len)
{
    struct tconn *c = kconn(f);
    int32_t before = ed_server_n_conns(f->srv);
    assert_int_equal(tc_feed(c, bytes, len), ED_ERR_CLOSED);
    assert_int_equal(ed_server_n_conns(f->srv), before - 1);
    tc_close(c);
}

static void test_bad_frames(void **state)
{
    struct fx *f = *state;
    static const uint8_t zero[] = {0, 0, 0, 0};
    static const uint8_t negative[] = {0xff, 0xff, 0xff, 0xf0};
    static const uint8_t huge[] = {0, 0x10, 0, 0}; /* 1 MiB > 100000 */
    static const uint8_t short_hdr[] = {0, 0, 0, 3, 0, 18, 0};
    static const uint8_t unknown_key[] = {0, 0, 0, 10, 0x00, 0x4f, 0, 0, 0, 0, 0, 1, 0xff, 0xff};
    static const uint8_t negative_key[] = {0, 0, 0, 10, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 0xff, 0xff};
    /* Metadata v13 is beyond our range: Kafka closes too */
    static const uint8_t meta13[] = {0, 0, 0, 12, 0, 3, 0, 13, 0, 0, 0, 1, 0xff, 0xff, 0, 0};
    /* Metadata v1 whose topic array claims more than the frame holds */
    static const uint8_t meta_bad[] = {0, 0, 0, 14,   0,    3, 0, 1,    0,
                                       0, 0, 1, 0xff, 0xff, 0, 0, 0x10, 0};
    /* a client id longer than the frame */
    static const uint8_t bad_client[] = {0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff};
    expect_closed(f, zero, sizeof zero);
    expect_closed(f, negative, sizeof negative);
    expect_closed(f, huge, sizeof huge);
    expect_closed(f, short_hdr, sizeof short_hdr);
    expect_closed(f, unknown_key, sizeof unknown_key);
    expect_closed(f, negative_key, sizeof negative_key);
    expect_closed(f, meta13, sizeof meta13);
    expect_closed(f, meta_bad, sizeof meta_bad);
    expect_closed(f, bad_client, sizeof bad_client);

    /* a good request before the bad one is still answered */
    struct tconn *c = kconn(f);
    uint8_t buf[256];
    size_t n = api_versions_frame(buf, 77);
    memcpy(buf + n, unknown_key, sizeof unknown_key);
    assert_int_equal(tc_feed(c, buf, n + sizeof unknown_key), ED_ERR_CLOSED);
    size_t off = 0;
    ed_krd r;
    int32_t corr;
    assert_true(next_resp(c, &off, &r, &corr));
    assert_int_equal(corr, 77);
    tc_close(c);
}

static int n_warn_lines;
static void count_warn(int level, const char *line)
{
    (void)line;
    if (level == ED_LOG_LEVEL_WARN) n_warn_lines++;
}

/* 10,000 malformed requests (each on its own connection, as a fuzzer sends
 * them) are all refused, and the log gets a bounded number of lines. */
static void test_bad_frames_log_bounded(void **state)
{
    struct fx *f = *state;
    static const uint8_t unknown_key[] = {0, 0, 0, 10, 0x00, 0x4f, 0, 0, 0, 0, 0, 1, 0xff, 0xff};
    struct ed_server_stats before, after;
    ed_server_stats_get(f->srv, &before);
    n_warn_lines = 0;
    uint64_t sup_before = ed_log_rl_suppressed_total();
    ed_log_set_hook(count_warn);
    for (int i = 0; i < 10000; i++)
        expect_closed(f, unknown_key, sizeof unknown_key);
    ed_log_set_hook(NULL);
    ed_server_stats_get(f->srv, &after);
    assert_true(after.n_bad - before.n_bad == 10000);
    assert_true(n_warn_lines <= ED_LOG_RL_BURST);
    assert_true(ed_log_rl_suppressed_total() - sup_before >= 10000 - ED_LOG_RL_BURST);
}

/* ---- over real sockets ---- */

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

struct exchange {
    uint16_t port;
    ed_loop *loop;
    int ok_good;    /* answers on the good connection */
    int bad_closed; /* the bad connection saw EOF */
};

static bool read_full(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k <= 0) return false;
        got += (size_t)k;
    }
    return true;
}

static void *tcp_client(void *arg)
{
    struct exchange *x = arg;
    int good = tcp_connect(x->port), bad = tcp_connect(x->port);
    uint8_t req[128], resp[4096];
    size_t n = api_versions_frame(req, 1);
    /* the good one asks, the bad one sends garbage, the good one asks again */
    if (send(good, req, n, 0) == (ssize_t)n && read_full(good, resp, 4)) {
        uint32_t size = ed_get_be32(resp);
        if (size < sizeof resp && read_full(good, resp, size) && ed_get_be32(resp) == 1)
            x->ok_good++;
    }
    static const uint8_t garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    send(bad, garbage, sizeof garbage - 1, 0);
    uint8_t tmp[16];
    if (recv(bad, tmp, sizeof tmp, 0) == 0) x->bad_closed = 1;
    n = api_versions_frame(req, 2);
    if (send(good, req, n, 0) == (ssize_t)n && read_full(good, resp, 4)) {
        uint32_t size = ed_get_be32(resp);
        if (size < sizeof resp && read_full(good, resp, size) && ed_get_be32(resp) == 2)
            x->ok_good++;
    }
    close(good);
    close(bad);
    ed_plat_loop_stop(x->loop);
    return NULL;
}

static void test_tcp_isolation(void **state)
{
    struct fx *f = *state;
    uint16_t port;
    assert_int_equal(ed_server_listen(f->srv, "127.0.0.1", 0, &port), ED_OK);
    struct exchange x = {.port = port, .loop = f->loop};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, tcp_client, &x), 0);
    assert_int_equal(ed_plat_loop_run(f->loop), ED_OK);
    pthread_join(th, NULL);
    assert_int_equal(x.ok_good, 2);
    assert_int_equal(x.bad_closed, 1);
}

struct limit {
    uint16_t port;
    ed_loop *loop;
    int second_closed;
    int first_ok;
};

static void *limit_client(void *arg)
{
    struct limit *x = arg;
    int a = tcp_connect(x->port);
    uint8_t req[128], resp[4096];
    size_t n = api_versions_frame(req, 3);
    /* make sure the first is accepted before the second arrives */
    if (send(a, req, n, 0) == (ssize_t)n && read_full(a, resp, 4)) x->first_ok = 1;
    int b = tcp_connect(x->port);
    uint8_t tmp[8];
    ssize_t k = recv(b, tmp, sizeof tmp, 0);
    if (k <= 0) x->second_closed = 1;
    close(b);
    close(a);
    ed_plat_loop_stop(x->loop);
    return NULL;
}

static void test_tcp_connection_limit(void **state)
{
    struct fx *f = *state;
    ed_server_free(f->srv);
    set(f, "max.connections", "1");
    assert_int_equal(ed_server_new(&f->b, &f->srv), ED_OK);
    uint16_t port;
    assert_int_equal(ed_server_listen(f->srv, "127.0.0.1", 0, &port), ED_OK);
    struct limit x = {.port = port, .loop = f->loop};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, limit_client, &x), 0);
    assert_int_equal(ed_plat_loop_run(f->loop), ED_OK);
    pthread_join(th, NULL);
    assert_int_equal(x.first_ok, 1);
    assert_int_equal(x.second_closed, 1);
}

static void *idle_client(void *arg)
{
    struct limit *x = arg;
    int a = tcp_connect(x->port);
    uint8_t tmp[8];
    /* say nothing: the server closes the idle connection */
    if (recv(a, tmp, sizeof tmp, 0) == 0) x->second_closed = 1;
    close(a);
    ed_plat_loop_stop(x->loop);
    return NULL;
}

static void test_tcp_idle(void **state)
{
    struct fx *f = *state;
    ed_server_free(f->srv);
    set(f, "connections.max.idle.ms", "200");
    assert_int_equal(ed_server_new(&f->b, &f->srv), ED_OK);
    uint16_t port;
    assert_int_equal(ed_server_listen(f->srv, "127.0.0.1", 0, &port), ED_OK);
    struct limit x = {.port = port, .loop = f->loop};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, idle_client, &x), 0);
    assert_int_equal(ed_plat_loop_run(f->loop), ED_OK);
    pthread_join(th, NULL);
    assert_int_equal(x.second_closed, 1);
    assert_int_equal(ed_server_n_conns(f->srv), 0);
}

/* Backpressure: a client that pipelines many requests and reads slowly
 * makes the server stop reading it; every response still arrives, in
 * order. */
struct flood {
    uint16_t port;
    ed_loop *loop;
    int fd;
    int n;
    int n_in_order;
    atomic_int n_sent;   /* requests fully handed to the socket */
    bool all_sent_first; /* the reader started only after every request was sent */
};

static void *flood_sender(void *arg)
{
    struct flood *x = arg;
    uint8_t buf[256];
    for (int i = 0; i < x->n; i++) {
        ed_kwr w;
        req_begin(&w, ED_KAPI_METADATA, 1, i, false);
        ed_kwr_array(&w, -1, false);
        req_end(&w);
        memcpy(buf, w.buf, w.len);
        size_t len = w.len;
        ed_kwr_free(&w);
        if (send(x->fd, buf, len, 0) != (ssize_t)len) break;
        atomic_store(&x->n_sent, i + 1);
    }
    return NULL;
}

static void *flood_reader(void *arg)
{
    struct flood *x = arg;
    /* Read nothing until the sender is done or has been stuck for a while:
     * either way the broker's output has backed up past its ceiling, however
     * slow or loaded the machine is. */
    int last = -1, still_ms = 0;
    while (still_ms < 500) {
        int now = atomic_load(&x->n_sent);
        if (now == x->n) {
            x->all_sent_first = true;
            break;
        }
        still_ms = now == last ? still_ms + 10 : 0;
        last = now;
        usleep(10000);
    }
    static uint8_t resp[1 << 16];
    for (int i = 0; i < x->n; i++) {
        if (!read_full(x->fd, resp, 4)) break;
        uint32_t size = ed_get_be32(resp);
        if (size > sizeof resp || !read_full(x->fd, resp, size)) break;
        if ((int32_t)ed_get_be32(resp) != i) break;
        x->n_in_order++;
    }
    ed_plat_loop_stop(x->loop);
    return NULL;
}

static void test_tcp_backpressure(void **state)
{
    struct fx *f = *state;
    char name[48];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "topic-with-a-long-name-%02d", i);
        assert_int_equal(ed_topics_create(f->topics, name, 4, NULL, NULL, 0, NULL, NULL), ED_OK);
    }
    uint16_t port;
    assert_int_equal(ed_server_listen(f->srv, "127.0.0.1", 0, &port), ED_OK);
    struct flood x = {.port = port, .loop = f->loop, .n = 20000};
    x.fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 65536;
    setsockopt(x.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(x.fd, (struct sockaddr *)&a, sizeof a), 0);
    pthread_t ts, tr;
    assert_int_equal(pthread_create(&ts, NULL, flood_sender, &x), 0);
    assert_int_equal(pthread_create(&tr, NULL, flood_reader, &x), 0);
    assert_int_equal(ed_plat_loop_run(f->loop), ED_OK);
    pthread_join(ts, NULL);
    pthread_join(tr, NULL);
    close(x.fd);
    assert_int_equal(x.n_in_order, x.n);
    struct ed_server_stats st;
    ed_server_stats_get(f->srv, &st);
    /* Whether the broker paused reading depends on the machine's socket
     * buffers and scheduling; what must hold is that every response came,
     * in order, with no request refused. */
    assert_true(st.n_requests == (uint64_t)x.n);
    assert_int_equal(st.n_bad, 0);
}

/* Backpressure, deterministically: with room for one open request, a
 * produce with acks=all that waits for its flush stops the reading of its
 * connection until the flush answers it; then reading resumes. */
static void produce_acks_all(struct tconn *c, int32_t corr, const uint8_t *batch, size_t len)
{
    ed_kwr w;
    req_begin(&w, ED_KAPI_PRODUCE, 7, corr, false);
    ed_kwr_str(&w, NULL, false); /* transactional id */
    ed_kwr_i16(&w, -1);          /* acks=all */
    ed_kwr_i32(&w, 30000);
    ed_kwr_array(&w, 1, false);
    ed_kwr_str(&w, "bp", false);
    ed_kwr_array(&w, 1, false);
    ed_kwr_i32(&w, 0);
    ed_kwr_bytes(&w, batch, (int32_t)len, false);
    req_end(&w);
    assert_int_equal(send_req(c, &w), ED_OK);
}

static void test_pause_at_inflight_limit(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ed_kapi_data_attach(f->topics), ED_OK);
    assert_int_equal(ed_topics_create(f->topics, "bp", 1, NULL, NULL, 0, NULL, NULL), ED_OK);
    struct ed_server_limits l = *ed_server_limits_get(f->srv);
    l.n_inflight_max = 1;
    ed_server_limits_set(f->srv, &l);
    struct tconn *c = kconn(f);
    uint8_t batch[1024];
    size_t n = lt_batch(batch, sizeof batch, 3, 50, 1700000000000, 1, 1);
    assert_true(n > 0);
    struct ed_server_stats st;
    for (int32_t round = 1; round <= 2; round++) {
        assert_false(!tc_reading(c));
        produce_acks_all(c, round, batch, n);
        /* Not durable yet: no answer, and the connection is not read. */
        size_t len;
        tc_output(c, &len);
        assert_int_equal(len, 0);
        assert_true(!tc_reading(c));
        ed_server_stats_get(f->srv, &st);
        assert_int_equal(st.n_pauses, (uint64_t)round);
        /* The flush answers it and reading resumes. */
        for (int i = 0; i < 100 && len == 0; i++) {
            ed_storage_tick(f->st, ed_plat_clock_wall_ms());
            ed_storage_run_completions(f->st);
            tc_output(c, &len);
        }
        size_t off = 0;
        ed_krd body;
        int32_t corr;
        assert_true(next_resp(c, &off, &body, &corr));
        assert_int_equal(corr, round);
        assert_false(!tc_reading(c));
        tc_output_clear(c);
    }
    tc_close(c);
}

/* A long-poll fetch of partition 0 of "bp" from offset `at`. */
static void fetch_long_poll(struct tconn *c, int32_t corr, int64_t at)
{
    ed_kwr w;
    req_begin(&w, ED_KAPI_FETCH, 11, corr, false);
    ed_kwr_i32(&w, -1);    /* replica */
    ed_kwr_i32(&w, 60000); /* max wait */
    ed_kwr_i32(&w, 1);     /* min bytes */
    ed_kwr_i32(&w, 1 << 20);
    ed_kwr_i8(&w, 0);
    ed_kwr_i32(&w, 0);  /* session id */
    ed_kwr_i32(&w, -1); /* session epoch */
    ed_kwr_array(&w, 1, false);
    ed_kwr_str(&w, "bp", false);
    ed_kwr_array(&w, 1, false);
    ed_kwr_i32(&w, 0);
    ed_kwr_i32(&w, -1); /* current leader epoch */
    ed_kwr_i64(&w, at);
    ed_kwr_i64(&w, -1); /* log start offset */
    ed_kwr_i32(&w, 1 << 20);
    ed_kwr_array(&w, 0, false); /* forgotten topics */
    ed_kwr_str(&w, "", false);  /* rack */
    req_end(&w);
    assert_int_equal(send_req(c, &w), ED_OK);
}

/* A parked request (Produce waiting for its flush, Fetch long-polling)
 * keeps its decoded body (arena) until it is answered, or until its
 * connection closes first: then the arena is freed with the request (LSan
 * checks that nothing leaks at exit) and the counted heap comes back to
 * what it was before the connection. */
static void test_parked_request_freed_on_close(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ed_kapi_data_attach(f->topics), ED_OK);
    assert_int_equal(ed_topics_create(f->topics, "bp", 1, NULL, NULL, 0, NULL, NULL), ED_OK);
    uint8_t batch[1024];
    size_t n = lt_batch(batch, sizeof batch, 3, 50, 1700000000000, -1, -1);
    assert_true(n > 0);
    for (int round = 0; round < 4; round++) {
        bool produce = round < 2;
        struct ed_mem_stats before, parked, after;
        ed_mem_stats_get(&before);
        struct tconn *c = kconn(f);
        if (produce)
            produce_acks_all(c, 1, batch, n);
        else
            fetch_long_poll(c, 1, 6); /* two produced batches of 3 */
        size_t len;
        tc_output(c, &len);
        assert_int_equal(len, 0); /* parked */
        ed_mem_stats_get(&parked);
        assert_true(parked.cur_len > before.cur_len);
        tc_close(c);
        for (int i = 0; i < 10 && ed_server_n_conns(f->srv) > 0; i++)
            ed_plat_loop_run_once(f->loop, 0);
        assert_int_equal(ed_server_n_conns(f->srv), 0);
        ed_storage_tick(f->st, ed_plat_clock_wall_ms());
        ed_storage_run_completions(f->st);
        ed_mem_stats_get(&after);
        /* The first round's append grew the log's memory; the others must
         * give back everything the request and its connection took. */
        if (round > 0) assert_int_equal(after.cur_len, before.cur_len);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_api_versions),
        T(test_api_versions_unknown_version),
        T(test_metadata_versions),
        T(test_metadata_named_and_auto),
        T(test_metadata_by_id),
        T(test_pipelined_and_split),
        T(test_large_frame),
        T(test_bad_frames),
        T(test_bad_frames_log_bounded),
        T(test_tcp_isolation),
        T(test_tcp_connection_limit),
        T(test_tcp_idle),
        T(test_tcp_backpressure),
        T(test_pause_at_inflight_limit),
        T(test_parked_request_freed_on_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
