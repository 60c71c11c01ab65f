/* Unit tests of the event-loop Kafka link (core/kafka/klink.c) against a
 * fake broker over in-memory streams: version negotiation, pipelined
 * requests answered in order and matched by correlation id, the in-flight
 * limit, a mismatched correlation id, a request timeout that drops the
 * connection and the reconnect that follows, every address of a list
 * tried in turn; and the mirror's topic patterns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/kafka/klink.h"
#include "core/kafka/schema.h"
#include "core/kafka/mirror.h"
#include "platform/mem.h"
#include "platform/memnet.h"

/* The fake broker: one end of a memnet pair per dial. */
struct fake {
    ed_loop *loop;
    ed_stream *srv;
    ed_timer dial_timer;
    ed_dial_cb cb;
    void *cb_arg;
    int n_dials;
    uint8_t in[65536];
    size_t in_len;
    int32_t corr[16]; /* correlation ids of requests received, unanswered */
    int16_t key[16];
    int n_req;
    bool answer_api_versions;
    const char *dead_host; /* dialling it fails at once */
    char hosts[8][32];     /* hosts dialled, in order */
    int n_hosts;
    /* owner side */
    int n_up, n_down;
    char down_why[200];
    int n_resp;
    int16_t resp_keys[16];
};

static void srv_readable(void *arg)
{
    struct fake *f = arg;
    size_t n = 0;
    int rc;
    while ((rc = ed_plat_stream_read(f->srv, f->in + f->in_len, sizeof f->in - f->in_len, &n)) ==
           ED_OK)
        f->in_len += n;
    if (rc == ED_ERR_CLOSED) ed_plat_stream_want_read(f->srv, false); /* the client went */
    while (f->in_len >= 4) {
        size_t len = ed_get_be32(f->in);
        if (f->in_len < 4 + len) break;
        int16_t key = (int16_t)ed_get_be16(f->in + 4);
        int32_t corr = (int32_t)ed_get_be32(f->in + 8);
        f->key[f->n_req] = key;
        f->corr[f->n_req++] = corr;
        memmove(f->in, f->in + 4 + len, f->in_len - 4 - len);
        f->in_len -= 4 + len;
    }
}

static const struct ed_stream_cbs srv_cbs = {srv_readable, NULL};

static void send_frame(struct fake *f, const uint8_t *body, size_t len)
{
    uint8_t hdr[4];
    ed_put_be32(hdr, (uint32_t)len);
    struct ed_iovec v[2] = {{hdr, 4}, {body, len}};
    size_t n = 0;
    assert_int_equal(ed_plat_stream_writev(f->srv, v, 2, &n), ED_OK);
    assert_int_equal(n, 4 + len);
}

/* Answers the oldest request: ApiVersions (v3) with ApiVersions 0..3 and
 * Metadata 0..1; anything else with an empty body after the corr id. */
static void answer(struct fake *f, int32_t corr_override)
{
    assert_true(f->n_req > 0);
    int32_t corr = corr_override ? corr_override : f->corr[0];
    int16_t key = f->key[0];
    memmove(f->corr, f->corr + 1, sizeof f->corr[0] * (size_t)(f->n_req - 1));
    memmove(f->key, f->key + 1, sizeof f->key[0] * (size_t)(f->n_req - 1));
    f->n_req--;
    ed_kwr w;
    ed_kwr_init(&w, 4096);
    ed_kwr_i32(&w, corr);
    if (key == ED_KMSG_API_VERSIONS) {
        struct ed_kmsg_api_versions_response r;
        ed_kschema_init(&ed_kmsg_api_versions_response_desc, &r);
        struct ed_kmsg_api_versions_response_api_version v[2] = {{ED_KMSG_API_VERSIONS, 0, 3},
                                                                 {ED_KMSG_METADATA, 0, 1}};
        r.n_api_keys = 2;
        r.api_keys = v;
        ed_kschema_encode_response(ed_kschema_api(ED_KMSG_API_VERSIONS), 3, &w, &r);
    }
    assert_true(ed_kwr_ok(&w));
    send_frame(f, w.buf, w.len);
    ed_kwr_free(&w);
}

static void on_dial_timer(ed_timer *t, void *arg)
{
    (void)t;
    struct fake *f = arg;
    f->cb(f->cb_arg, ED_OK);
}

static int fake_dial(void *dial_arg, ed_loop *l, const char *host, uint16_t port, ed_dial_cb cb,
                     void *cb_arg, ed_stream **out)
{
    (void)port;
    struct fake *f = dial_arg;
    if (f->n_hosts < 8) snprintf(f->hosts[f->n_hosts++], sizeof f->hosts[0], "%s", host);
    if (f->dead_host && strcmp(host, f->dead_host) == 0) return ED_ERR_NOENT;
    if (f->srv) ed_plat_stream_close(f->srv);
    f->srv = NULL;
    f->in_len = 0;
    f->n_req = 0;
    int rc = ed_memnet_pair(l, 1 << 20, "broker:9092", "client:1", out, &f->srv);
    if (rc) return rc;
    ed_plat_stream_set_cbs(f->srv, &srv_cbs, f);
    f->cb = cb;
    f->cb_arg = cb_arg;
    f->n_dials++;
    ed_plat_timer_start(l, &f->dial_timer, 0, on_dial_timer, f); /* never inside dial */
    return ED_OK;
}

static void on_up(void *arg)
{
    ((struct fake *)arg)->n_up++;
}

static void on_down(void *arg, const char *why)
{
    struct fake *f = arg;
    f->n_down++;
    snprintf(f->down_why, sizeof f->down_why, "%s", why);
}

static const struct ed_klink_cbs cbs = {on_up, on_down};

static void on_resp(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    (void)ver;
    (void)r;
    struct fake *f = arg;
    f->resp_keys[f->n_resp++] = key;
}

static void enc_md(ed_kwr *w, int16_t ver, const void *arg)
{
    (void)arg;
    ed_kc_enc_metadata(w, ver, NULL, 0, false);
}

static void spin(struct fake *f, int rounds)
{
    for (int i = 0; i < rounds; i++)
        ed_plat_loop_run_once(f->loop, 1);
}

static ed_klink *up_link(struct fake *f, uint32_t timeout_ms, int max_in_flight)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(ed_plat_loop_new(&f->loop), ED_OK);
    struct ed_klink_opts o = {0};
    o.request_timeout_ms = timeout_ms;
    o.backoff_ms = 10;
    o.backoff_max_ms = 20;
    o.max_in_flight = max_in_flight;
    o.dial = fake_dial;
    o.dial_arg = f;
    ed_klink *k = NULL;
    assert_int_equal(ed_klink_new(f->loop, "broker", 9092, &o, &cbs, f, &k), ED_OK);
    assert_false(ed_klink_up(k));
    spin(f, 5);
    assert_int_equal(f->n_req, 1);
    assert_int_equal(f->key[0], ED_KMSG_API_VERSIONS);
    answer(f, 0);
    spin(f, 5);
    assert_true(ed_klink_up(k));
    assert_int_equal(f->n_up, 1);
    return k;
}

static void done(struct fake *f, ed_klink *k)
{
    ed_klink_free(k);
    ed_plat_stream_close(f->srv);
    ed_plat_timer_stop(f->loop, &f->dial_timer);
    spin(f, 3);
    ed_plat_loop_free(f->loop);
}

static void test_negotiates_and_pipelines(void **state)
{
    (void)state;
    struct fake f;
    ed_klink *k = up_link(&f, 30000, 5);
    assert_int_equal(ed_klink_version(k, ED_KMSG_METADATA), 1);
    assert_int_equal(ed_klink_version(k, ED_KMSG_PRODUCE), -1);
    assert_int_equal(ed_klink_send(k, ED_KMSG_PRODUCE, enc_md, NULL, 0, on_resp, &f),
                     ED_ERR_UNSUPPORTED);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ed_klink_send(k, ED_KMSG_METADATA, enc_md, NULL, 0, on_resp, &f), ED_OK);
    assert_int_equal(ed_klink_in_flight(k), 3);
    spin(&f, 5);
    assert_int_equal(f.n_req, 3);
    assert_true(f.corr[0] < f.corr[1] && f.corr[1] < f.corr[2]);
    for (int i = 0; i < 3; i++)
        answer(&f, 0);
    spin(&f, 5);
    assert_int_equal(f.n_resp, 3);
    assert_int_equal(ed_klink_in_flight(k), 0);
    assert_int_equal(f.n_down, 0);
    done(&f, k);
}

static void test_in_flight_limit(void **state)
{
    (void)state;
    struct fake f;
    ed_klink *k = up_link(&f, 30000, 2);
    assert_int_equal(ed_klink_send(k, ED_KMSG_METADATA, enc_md, NULL, 0, on_resp, &f), ED_OK);
    assert_int_equal(ed_klink_send(k, ED_KMSG_METADATA, enc_md, NULL, 0, on_resp, &f), ED_OK);
    assert_int_equal(ed_klink_send(k, ED_KMSG_METADATA, enc_md, NULL, 0, on_resp, &f),
                     ED_ERR_AGAIN);
    spin(&f, 5);
    answer(&f, 0);
    spin(&f, 5);
    assert_int_equal(ed_klink_send(k, ED_KMSG_METADATA, enc_md, NULL, 0, on_resp, &f), ED_OK);
    done(&f, k);
}

static void test_wrong_correlation_drops_link(void **state)
{
    (void)state;
    struct fake f;
    ed_klink *k = up_link(&f, 30000, 5);
    assert_int_equal(ed_klink_send(k, ED_KMSG_METADATA, enc_md, NULL, 0, on_resp, &f), ED_OK);
    spin(&f, 5);
    answer(&f, 999999);
    spin(&f, 5);
    assert_int_equal(f.n_resp, 0);
    assert_int_equal(f.n_down, 1);
    assert_non_null(strstr(f.down_why, "correlation"));
    assert_false(ed_klink_up(k));
    done(&f, k);
}

static void test_timeout_then_reconnect(void **state)
{
    (void)state;
    struct fake f;
    ed_klink *k = up_link(&f, 50, 5);
    assert_int_equal(ed_klink_send(k, ED_KMSG_METADATA, enc_md, NULL, 0, on_resp, &f), ED_OK);
    /* the broker never answers: the link is declared dead */
    uint64_t deadline = ed_plat_clock_mono_ms() + 5000;
    while (!f.n_down && ed_plat_clock_mono_ms() < deadline)
        ed_plat_loop_run_once(f.loop, 5);
    assert_int_equal(f.n_down, 1);
    assert_non_null(strstr(f.down_why, "timed out"));
    assert_false(ed_klink_up(k));
    assert_int_equal(ed_klink_send(k, ED_KMSG_METADATA, enc_md, NULL, 0, on_resp, &f),
                     ED_ERR_CLOSED);
    /* after the backoff it dials again and negotiates */
    deadline = ed_plat_clock_mono_ms() + 5000;
    while (f.n_dials < 2 && ed_plat_clock_mono_ms() < deadline)
        ed_plat_loop_run_once(f.loop, 5);
    assert_int_equal(f.n_dials, 2);
    spin(&f, 5);
    assert_int_equal(f.n_req, 1);
    answer(&f, 0);
    spin(&f, 5);
    assert_true(ed_klink_up(k));
    assert_int_equal(f.n_up, 2);
    assert_int_equal(f.n_resp, 0); /* the lost request's callback never ran */
    done(&f, k);
}

/* A list of bootstrap addresses: one that cannot be reached moves the link
 * on to the next, which then serves. */
static void test_tries_each_address(void **state)
{
    (void)state;
    struct fake f;
    memset(&f, 0, sizeof f);
    f.dead_host = "dead";
    assert_int_equal(ed_plat_loop_new(&f.loop), ED_OK);
    struct ed_klink_opts o = {0};
    o.backoff_ms = 10;
    o.backoff_max_ms = 20;
    o.dial = fake_dial;
    o.dial_arg = &f;
    ed_klink *k = NULL;
    assert_int_equal(ed_klink_new(f.loop, "dead", 9092, &o, &cbs, &f, &k), ED_OK);
    assert_int_equal(ed_klink_add_address(k, "broker", 9093), ED_OK);
    for (int i = 0; i < 500 && f.n_req == 0; i++)
        spin(&f, 1);
    assert_true(f.n_down >= 1);
    assert_non_null(strstr(f.down_why, "does not resolve"));
    assert_true(f.n_hosts >= 2);
    assert_string_equal(f.hosts[0], "dead");
    assert_string_equal(f.hosts[f.n_hosts - 1], "broker");
    assert_string_equal(ed_klink_name(k), "broker:9093");
    assert_int_equal(f.n_req, 1);
    answer(&f, 0);
    spin(&f, 5);
    assert_true(ed_klink_up(k));
    assert_int_equal(f.n_up, 1);
    done(&f, k);
}

/* New security settings: a link up keeps its connection; a link waiting
 * out a long backoff dials again at once. */
static void test_set_security_retries_now(void **state)
{
    (void)state;
    struct fake f;
    ed_klink *k = up_link(&f, 1000, 5);
    ed_klink_set_security(k, NULL, 0, "user", "password");
    spin(&f, 5);
    assert_true(ed_klink_up(k));
    assert_int_equal(f.n_dials, 1);
    ed_klink_free(k);

    f.dead_host = "dead";
    struct ed_klink_opts o = {0};
    o.backoff_ms = 60000;
    o.backoff_max_ms = 60000;
    o.dial = fake_dial;
    o.dial_arg = &f;
    assert_int_equal(ed_klink_new(f.loop, "dead", 9092, &o, &cbs, &f, &k), ED_OK);
    spin(&f, 5);
    assert_false(ed_klink_up(k));
    int hosts = f.n_hosts;
    spin(&f, 5);
    assert_int_equal(f.n_hosts, hosts); /* backing off for about a minute */
    f.dead_host = NULL;
    ed_klink_set_security(k, NULL, 0, "user", "password");
    for (int i = 0; i < 50 && f.n_req == 0; i++)
        spin(&f, 1);
    assert_int_equal(f.n_hosts, hosts + 1);
    assert_int_equal(f.n_req, 1);
    answer(&f, 0);
    spin(&f, 5);
    assert_true(ed_klink_up(k));
    done(&f, k);
}

static void test_mirror_patterns(void **state)
{
    (void)state;
    assert_true(ed_mirror_match("alarms", "alarms"));
    assert_false(ed_mirror_match("alarms", "alarms2"));
    assert_false(ed_mirror_match("alarms", "xalarms"));
    assert_true(ed_mirror_match("turbine-.*", "turbine-7"));
    assert_true(ed_mirror_match("turbine-.*", "turbine-"));
    assert_false(ed_mirror_match("turbine-.*", "turbin-7"));
    assert_true(ed_mirror_match("a\\.b", "a.b"));
    assert_false(ed_mirror_match("a\\.b", "axb"));
    assert_true(ed_mirror_match("a.b", "axb"));
    assert_true(ed_mirror_match("x*y", "xxxy"));
    assert_true(ed_mirror_match("x*y", "y"));
    assert_false(ed_mirror_match("x*y", "xz"));
    assert_true(ed_mirror_match(".*", "anything"));
}

/* A transaction open longer than its timeout was aborted by the
 * coordinator, which bumped the epoch: the fencing answer that follows is
 * no other instance, and the mirror must start over rather than stop. */
static void test_mirror_fence_kinds(void **state)
{
    (void)state;
    /* long after start, inside a short transaction: another instance */
    assert_int_equal(ed_mirror_fence_kind(100000, 1000, false, 50, 4000), ED_MIRROR_FENCE_STOP);
    /* long after start, no transaction open */
    assert_int_equal(ed_mirror_fence_kind(100000, 1000, false, -1, 4000), ED_MIRROR_FENCE_STOP);
    /* the transaction outlived mirror.transaction.max.ms (a slow, stalled link) */
    assert_int_equal(ed_mirror_fence_kind(100000, 1000, false, 4000, 4000),
                     ED_MIRROR_FENCE_TIMED_OUT);
    assert_int_equal(ed_mirror_fence_kind(100000, 1000, true, 9000, 4000),
                     ED_MIRROR_FENCE_TIMED_OUT);
    /* just after our own InitProducerId: take the link back once */
    assert_int_equal(ed_mirror_fence_kind(2000, 1000, false, 10, 4000), ED_MIRROR_FENCE_RETAKE);
    assert_int_equal(ed_mirror_fence_kind(2000, 1000, true, 10, 4000), ED_MIRROR_FENCE_STOP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiates_and_pipelines),
        cmocka_unit_test(test_in_flight_limit),
        cmocka_unit_test(test_wrong_correlation_drops_link),
        cmocka_unit_test(test_timeout_then_reconnect),
        cmocka_unit_test(test_tries_each_address),
        cmocka_unit_test(test_set_security_retries_now),
        cmocka_unit_test(test_mirror_patterns),
        cmocka_unit_test(test_mirror_fence_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
