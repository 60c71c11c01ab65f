/* Unit tests of the CoAP listener against a real storage (flusher thread
 * off, so a flush happens only when the test ticks the storage) and real
 * UDP on loopback: a confirmable POST gets the empty ACK at once and its
 * CON 2.04 only after the fdatasync covering its record, never at the
 * append; a retransmission while it waits is not appended again; NON gets
 * its NON 2.04 after durability too; keys, Content-Format header, routes;
 * failures with their codes and diagnostic payloads; the pending limit;
 * the pre-shared keys file of coaps:// listeners. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/coap.h"
#include "bridge/coap_psk.h"
#include "core/config.h"
#include "core/topics.h"
#include "log_testutil.h"
#include "tbroker.h"
#include "platform/log.h"
#include "storage/batch.h"

enum { CON = 0, NON = 1, ACK = 2, RST = 3 };
#define POST   2
#define GET    1
#define DELETE 4

/* ---- datagrams ---- */

struct msg {
    uint8_t b[2048];
    size_t len;
};

/* Appends option number num (after the previous one, *last) with value. */
static void opt(struct msg *m, unsigned *last, unsigned num, const void *v, size_t n)
{
    unsigned d = num - *last;
    *last = num;
    uint8_t *h = &m->b[m->len++];
    unsigned dn = d < 13 ? d : 13, ln = n < 13 ? (unsigned)n : 13;
    *h = (uint8_t)(dn << 4 | ln);
    if (d >= 13) m->b[m->len++] = (uint8_t)(d - 13);
    if (n >= 13) m->b[m->len++] = (uint8_t)(n - 13);
    memcpy(m->b + m->len, v, n);
    m->len += n;
}

/* A request: path "a/b", query "k=x" or NULL, Content-Format cf (-1: none). */
static void mk_req(struct msg *m, int type, int code, uint16_t mid, uint8_t tok, const char *path,
                   const char *query, int cf, const char *payload)
{
    m->len = 0;
    m->b[m->len++] = (uint8_t)(0x40 | type << 4 | 1); /* version 1, token length 1 */
    m->b[m->len++] = (uint8_t)code;
    m->b[m->len++] = (uint8_t)(mid >> 8);
    m->b[m->len++] = (uint8_t)mid;
    m->b[m->len++] = tok;
    unsigned last = 0;
    for (const char *p = path; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        opt(m, &last, 11, p, n);
        p += n + (e ? 1 : 0);
    }
    if (cf >= 0) {
        uint8_t v = (uint8_t)cf;
        opt(m, &last, 12, &v, cf ? 1 : 0);
    }
    if (query) opt(m, &last, 15, query, strlen(query));
    if (payload && *payload) {
        m->b[m->len++] = 0xff;
        memcpy(m->b + m->len, payload, strlen(payload));
        m->len += strlen(payload);
    }
}

struct got {
    int type, code, tkl;
    uint16_t mid;
    uint8_t tok;
    char payload[256];
};

/* ---- fixture ---- */

struct fx {
    char *dir;
    struct tbroker t;
    ed_coap *m;
    int fd; /* the client's socket, connected to the listener */
};

static void set(struct fx *f, const char *k, const char *v)
{
    char why[256];
    assert_int_equal(ed_config_set(f->t.cfg, k, v, why, sizeof why), ED_OK);
}

static struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    assert_int_equal(ed_config_new(&f->t.cfg), ED_OK);
    set(f, "log.dirs", f->dir);
    set(f, "log.dir.min.free.bytes", "0");
    set(f, "eddy.flush.gather.ms", "0"); /* the sync starts at the next tick */
    return f;
}

static void fx_start(struct fx *f)
{
    assert_int_equal(tb_open(&f->t), ED_OK);
    char why[256];
    assert_int_equal(ed_coap_new(&f->t.b, false, why, sizeof why, &f->m), ED_OK);
    uint16_t port = 0;
    assert_int_equal(ed_coap_listen(f->m, "127.0.0.1", 0, &port), ED_OK);
    assert_true(port != 0);
    f->fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(f->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(f->fd, (struct sockaddr *)&a, sizeof a), 0);
}

static int setup(void **state)
{
    struct fx *f = fx_new();
    fx_start(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close(f->fd);
    ed_coap_free(f->m);
    tb_close(&f->t);
    ed_config_free(f->t.cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Sends m and lets the listener take it (loopback UDP is delivered at
 * once; libcoap's processing never blocks). */
static void send_msg(struct fx *f, const struct msg *m)
{
    assert_int_equal(send(f->fd, m->b, m->len, 0), (ssize_t)m->len);
    ed_coap_process(f->m);
}

/* The next datagram from the listener: false when none is there. */
static bool recv_msg(struct fx *f, struct got *g)
{
    uint8_t b[2048];
    ssize_t n = recv(f->fd, b, sizeof b, MSG_DONTWAIT);
    if (n < 0) {
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        return false;
    }
    assert_true(n >= 4);
    memset(g, 0, sizeof *g);
    g->type = (b[0] >> 4) & 3;
    g->tkl = b[0] & 15;
    g->code = (b[1] >> 5) * 100 + (b[1] & 31);
    g->mid = (uint16_t)(b[2] << 8 | b[3]);
    if (g->tkl == 1) g->tok = b[4];
    uint8_t *pm = memchr(b + 4 + g->tkl, 0xff, (size_t)n - 4 - (size_t)g->tkl);
    if (pm) snprintf(g->payload, sizeof g->payload, "%.*s", (int)(n - (pm + 1 - b)), pm + 1);
    return true;
}

/* Every answer waiting, codes counted by class: a CON answer is
 * acknowledged as a client does (libcoap sends one CON at a time to an
 * endpoint, the next once the previous is acknowledged). */
static int n_answers(struct fx *f, int code)
{
    struct got g;
    int n = 0;
    while (recv_msg(f, &g)) {
        n += g.code == code;
        if (g.type == CON) {
            uint8_t ack[4] = {0x60, 0, (uint8_t)(g.mid >> 8), (uint8_t)g.mid};
            assert_int_equal(send(f->fd, ack, sizeof ack, 0), 4);
            ed_coap_process(f->m);
        }
    }
    return n;
}

/* Appends what is gathered, then runs the flush (fdatasync) and its
 * completions, then lets libcoap send what became due. */
static void settle(struct fx *f)
{
    ed_coap_flush(f->m);
    for (int i = 0; i < 3; i++) {
        tb_sync(&f->t);
        ed_coap_process(f->m);
    }
}

static ed_log *log_of(struct fx *f, const char *topic)
{
    ed_topic *t = ed_topics_find(f->t.topics, topic);
    return t ? ed_topic_partition(t, 0)->log : NULL;
}

/* Record i of topic partition 0: "key|value|hdr=v;" */
static void record(struct fx *f, const char *topic, int64_t off, char *out, size_t out_len)
{
    struct ed_log_slice sl;
    assert_int_equal(ed_log_read(log_of(f, topic), off, 1 << 20, &sl), ED_OK);
    uint8_t *buf = malloc(sl.len);
    assert_int_equal(ed_log_slice_copy(&sl, buf, sl.len), ED_OK);
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, 1 << 20);
    assert_int_equal(ed_batch_iter_begin(&it, buf, sl.len), ED_OK);
    struct ed_record r;
    out[0] = '\0';
    while (ed_batch_iter_next(&it, &r) == 1) {
        if (r.offset != off) continue;
        int k =
            snprintf(out, out_len, "%.*s|%.*s|", r.key ? (int)r.key_len : 4,
                     r.key ? (const char *)r.key : "null", (int)r.value_len, (const char *)r.value);
        size_t cur = 0;
        struct ed_record_header h;
        while (ed_record_next_header(&r, &cur, &h) == 1)
            k += snprintf(out + k, out_len - (size_t)k, "%.*s=%.*s;", (int)h.key_len,
                          (const char *)h.key, (int)h.value_len, (const char *)h.value);
    }
    ed_batch_iter_release(&it);
    free(buf);
    ed_log_slice_release(&sl);
}

/* ---- tests ---- */

static void test_con_post_answered_only_after_sync(void **state)
{
    struct fx *f = *state;
    struct msg m;
    struct got g;
    mk_req(&m, CON, POST, 0x1001, 0xa1, "t/temps", "k=axle1", 50, "{\"t\":21.5}");
    send_msg(f, &m);
    /* the empty ACK at once, nothing else */
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.type, ACK);
    assert_int_equal(g.code, 0);
    assert_int_equal(g.mid, 0x1001);
    assert_false(recv_msg(f, &g));
    /* a retransmission while it waits: the empty ACK again */
    send_msg(f, &m);
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.type, ACK);
    assert_int_equal(g.code, 0);
    assert_false(recv_msg(f, &g));
    /* appended, not yet synced: still no answer */
    ed_coap_flush(f->m);
    ed_coap_process(f->m);
    ed_log *log = log_of(f, "temps");
    assert_non_null(log);
    assert_int_equal(ed_log_end_offset(log), 1);
    assert_int_equal(ed_log_durable_offset(log), 0);
    assert_false(recv_msg(f, &g));
    /* the sync: a separate CON 2.04 with the request's token */
    settle(f);
    assert_int_equal(ed_log_durable_offset(log), 1);
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.type, CON);
    assert_int_equal(g.code, 204);
    assert_int_equal(g.tok, 0xa1);
    assert_false(recv_msg(f, &g));
    /* stored once, key from k=, Content-Format as a header */
    assert_int_equal(ed_log_end_offset(log), 1);
    char r[256];
    record(f, "temps", 0, r, sizeof r);
    assert_string_equal(r, "axle1|{\"t\":21.5}|content-format=50;");
    struct ed_coap_stats s;
    ed_coap_stats_get(f->m, &s);
    assert_int_equal(s.n_appended, 1);
    assert_int_equal(s.n_durable, 1);
}

static void test_non_post_answered_after_sync(void **state)
{
    struct fx *f = *state;
    struct msg m;
    struct got g;
    mk_req(&m, NON, POST, 0x2001, 0xb2, "t/vib", NULL, -1, "0.02");
    send_msg(f, &m);
    assert_false(recv_msg(f, &g));
    ed_coap_flush(f->m);
    ed_coap_process(f->m);
    assert_false(recv_msg(f, &g)); /* appended, not durable */
    settle(f);
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.type, NON);
    assert_int_equal(g.code, 204);
    assert_int_equal(g.tok, 0xb2);
    char r[256];
    record(f, "vib", 0, r, sizeof r);
    assert_string_equal(r, "null|0.02|");
}

static void test_routes_and_default_mapping(void **state)
{
    struct fx *f = fx_new();
    set(f, "coap.routes", "nacelle/+/vib=>vibration;train/+car/axle/+n=>axle|{car}-{n}");
    fx_start(f);
    *state = f;
    struct msg m;
    mk_req(&m, CON, POST, 0x3001, 1, "nacelle/n7/vib", NULL, -1, "1.5");
    send_msg(f, &m);
    mk_req(&m, CON, POST, 0x3002, 2, "site/t7/temp", "k=t7", 0, "20");
    send_msg(f, &m);
    mk_req(&m, CON, POST, 0x3003, 3, "train/c4/axle/2", NULL, -1, "71");
    send_msg(f, &m);
    settle(f);
    assert_int_equal(n_answers(f, 204), 3);
    char r[256];
    record(f, "vibration", 0, r, sizeof r);
    assert_string_equal(r, "nacelle/n7/vib|1.5|");
    record(f, "site.t7.temp", 0, r, sizeof r);
    assert_string_equal(r, "t7|20|content-format=0;");
    record(f, "axle", 0, r, sizeof r); /* the route's KEY template */
    assert_string_equal(r, "c4-2|71|");
}

static void test_bad_routes_name_the_key(void **state)
{
    ED_UNUSED(state);
    struct fx *f = fx_new();
    set(f, "coap.routes", "a/#/b=>x");
    f->t.b.cfg = f->t.cfg;
    char why[256];
    ed_coap *m = NULL;
    assert_int_equal(ed_coap_new(&f->t.b, false, why, sizeof why, &m), ED_ERR_INVAL);
    assert_null(m);
    assert_non_null(strstr(why, "coap.routes: route 'a/#/b=>x'"));
    ed_config_free(f->t.cfg);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
}

static void expect_key(const ed_coap_psks *t, const char *id, const void *key, size_t key_len)
{
    const uint8_t *k = NULL;
    size_t kl = 0;
    assert_true(ed_coap_psk_find(t, (const uint8_t *)id, strlen(id), &k, &kl));
    assert_int_equal(kl, key_len);
    assert_memory_equal(k, key, key_len);
}

static void test_psk_file_lines(void **state)
{
    ED_UNUSED(state);
    static const char text[] = "# sensors\r\n\nsensor-1:secret:with:colons\r\n"
                               "sensor-2:0x00ff10\nsensor-3:0x\n#last";
    ed_coap_psks *t = NULL;
    char why[128];
    assert_int_equal(ed_coap_psk_parse(text, sizeof text - 1, &t, why, sizeof why), ED_OK);
    assert_int_equal(ed_coap_psk_count(t), 3);
    expect_key(t, "sensor-1", "secret:with:colons", 18);
    expect_key(t, "sensor-2", "\x00\xff\x10", 3);
    expect_key(t, "sensor-3", "0x", 2); /* no digits: the text "0x" */
    const uint8_t *k;
    size_t kl;
    assert_false(ed_coap_psk_find(t, (const uint8_t *)"sensor", 6, &k, &kl));
    assert_false(ed_coap_psk_find(t, (const uint8_t *)"sensor-1x", 9, &k, &kl));
    ed_coap_psk_free(t);
}

static void test_psk_file_refusals_name_the_line(void **state)
{
    ED_UNUSED(state);
    char long_id[80], long_key[80], long_hex[140];
    memset(long_id, 'i', 65);
    strcpy(long_id + 65, ":k");
    strcpy(long_key, "id:");
    memset(long_key + 3, 'k', 65);
    long_key[68] = '\0';
    strcpy(long_hex, "id:0x");
    memset(long_hex + 5, 'a', 130);
    long_hex[135] = '\0';
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"ok:1\nno-colon", "line 2: no ':'"},
        {":key", "line 1: empty identity"},
        {"id:", "line 1: empty key"},
        {"a b:key", "line 1: identity holds a blank"},
        {"id:0xabc", "line 1: a hex key (0x...) needs an even number"},
        {"id:0xzz", "line 1: a hex key (0x...) holds a character"},
        {"id:k1\n#\nid:k2", "line 3: identity named twice"},
    };
    char why[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ed_coap_psks *t = NULL;
        assert_int_equal(ed_coap_psk_parse(bad[i].text, strlen(bad[i].text), &t, why, sizeof why),
                         ED_ERR_INVAL);
        assert_null(t);
        assert_non_null(strstr(why, bad[i].why));
    }
    const char *longs[] = {long_id, long_key, long_hex};
    for (size_t i = 0; i < 3; i++) {
        ed_coap_psks *t = NULL;
        assert_int_equal(ed_coap_psk_parse(longs[i], strlen(longs[i]), &t, why, sizeof why),
                         ED_ERR_INVAL);
        assert_non_null(strstr(why, "longer than 64 bytes"));
    }
}

static void test_psk_file_must_be_private(void **state)
{
    ED_UNUSED(state);
    char *dir = lt_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/psk", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("sensor-1:secret-one\n", fp);
    fclose(fp);
    ed_coap_psks *t = NULL;
    char why[512];
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(ed_coap_psk_load(path, &t, why, sizeof why), ED_ERR_PERM);
    assert_non_null(strstr(why, "chmod 600"));
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(ed_coap_psk_load(path, &t, why, sizeof why), ED_OK);
    expect_key(t, "sensor-1", "secret-one", 10);
    ed_coap_psk_free(t);
    strcat(path, ".none");
    assert_int_equal(ed_coap_psk_load(path, &t, why, sizeof why), ED_ERR_NOENT);
    lt_rmtree(dir);
    free(dir);
}

/* One request answered at once: its code and diagnostic payload. */
static void expect_refusal(struct fx *f, const struct msg *m, int code, const char *diag)
{
    struct got g;
    send_msg(f, m);
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.type, ACK); /* piggybacked */
    assert_int_equal(g.code, code);
    assert_non_null(strstr(g.payload, diag));
    assert_false(recv_msg(f, &g));
}

static void test_refusals_with_codes(void **state)
{
    struct fx *f = fx_new();
    set(f, "auto.create.topics.enable", "false");
    fx_start(f);
    *state = f;
    struct msg m;
    mk_req(&m, CON, POST, 0x4001, 1, "t/no-such", NULL, -1, "1");
    expect_refusal(f, &m, 404, "does not exist");
    mk_req(&m, CON, POST, 0x4002, 2, "t/bad name", NULL, -1, "1");
    expect_refusal(f, &m, 400, "[a-zA-Z0-9._-]");
    mk_req(&m, CON, DELETE, 0x4003, 3, "t/x", NULL, -1, NULL);
    expect_refusal(f, &m, 405, "POST and PUT");
    mk_req(&m, CON, POST, 0x4004, 4, "..", NULL, -1, "1");
    expect_refusal(f, &m, 400, "'.' or '..'");
    mk_req(&m, CON, POST, 0x4005, 5, "", NULL, -1, "1");
    expect_refusal(f, &m, 404, "nothing at /");
    assert_null(ed_topics_find(f->t.topics, "no-such"));
    struct ed_coap_stats s;
    ed_coap_stats_get(f->m, &s);
    assert_int_equal(s.n_failed, 5);
    assert_int_equal(s.n_appended, 0);
}

/* A request from a new socket (its own port) to f's listener: the port. */
static uint16_t request_from(struct fx *f, int *fd)
{
    if (*fd < 0) {
        *fd = socket(AF_INET, SOCK_DGRAM, 0);
        assert_true(*fd >= 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        socklen_t alen = sizeof a;
        assert_int_equal(getpeername(f->fd, (struct sockaddr *)&a, &alen), 0);
        assert_int_equal(connect(*fd, (struct sockaddr *)&a, sizeof a), 0);
    }
    struct msg m;
    mk_req(&m, NON, DELETE, 0x5000, 1, "t/x", NULL, -1, NULL); /* refused: 4.05 */
    assert_int_equal(send(*fd, m.b, m.len, 0), (ssize_t)m.len);
    ed_coap_process(f->m);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&me, &len), 0);
    return ntohs(me.sin_port);
}

struct seen {
    int n;
    char peers[ED_COAP_CLIENTS_MAX][64];
    uint64_t requests[ED_COAP_CLIENTS_MAX];
};

static bool collect(void *arg, const struct ed_coap_client *c)
{
    struct seen *s = arg;
    assert_true(s->n < ED_COAP_CLIENTS_MAX);
    assert_null(c->identity); /* plain UDP */
    snprintf(s->peers[s->n], sizeof s->peers[0], "%s", c->peer);
    s->requests[s->n++] = c->n_requests;
    return true;
}

/* The requests of endpoint port in s, -1 when it is not listed. */
static int64_t requests_of(const struct seen *s, uint16_t port)
{
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)port);
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->peers[i], want) == 0) return (int64_t)s->requests[i];
    return -1;
}

/* The endpoints remembered for the HTTP API: at most ED_COAP_CLIENTS_MAX,
 * a new one replacing the one whose last request is the oldest. */
static void test_clients_table_bounded_least_recent_replaced(void **state)
{
    struct fx *f = *state;
    enum { N = ED_COAP_CLIENTS_MAX + 1 };
    int fds[N];
    uint16_t ports[N];
    for (int i = 0; i < N; i++)
        fds[i] = -1;
    for (int i = 0; i < N - 1; i++)
        ports[i] = request_from(f, &fds[i]);
    assert_int_equal(request_from(f, &fds[0]), ports[0]); /* endpoint 0 again: now the newest */
    ports[N - 1] = request_from(f, &fds[N - 1]);          /* replaces endpoint 1 */
    struct seen *s = calloc(1, sizeof *s);
    ed_coap_clients_each(f->m, collect, s);
    assert_int_equal(s->n, ED_COAP_CLIENTS_MAX);
    assert_int_equal(requests_of(s, ports[0]), 2);
    assert_int_equal(requests_of(s, ports[1]), -1);
    assert_int_equal(requests_of(s, ports[2]), 1);
    assert_int_equal(requests_of(s, ports[N - 1]), 1);
    free(s);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

static void test_pending_limit_answers_503(void **state)
{
    struct fx *f = fx_new();
    set(f, "coap.max.pending", "2");
    fx_start(f);
    *state = f;
    struct msg m;
    struct got g;
    for (int i = 0; i < 2; i++) {
        mk_req(&m, CON, POST, (uint16_t)(0x5001 + i), (uint8_t)(10 + i), "t/busy", NULL, -1, "x");
        send_msg(f, &m);
        assert_true(recv_msg(f, &g));
        assert_int_equal(g.code, 0);
    }
    mk_req(&m, CON, POST, 0x5003, 12, "t/busy", NULL, -1, "x");
    expect_refusal(f, &m, 503, "coap.max.pending");
    settle(f);
    assert_int_equal(n_answers(f, 204), 2);
    /* room again */
    mk_req(&m, CON, POST, 0x5004, 13, "t/busy", NULL, -1, "y");
    send_msg(f, &m);
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.code, 0);
    settle(f);
    assert_int_equal(n_answers(f, 204), 1);
    assert_int_equal(ed_log_end_offset(log_of(f, "busy")), 3);
}

static void test_record_too_large_answers_413(void **state)
{
    struct fx *f = fx_new();
    set(f, "message.max.bytes", "100");
    fx_start(f);
    *state = f;
    char big[1100]; /* one datagram, beyond the smallest batch (1 KiB) */
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    struct msg m;
    struct got g;
    mk_req(&m, CON, POST, 0x6001, 7, "t/small", NULL, -1, big);
    send_msg(f, &m);
    /* the empty ACK, then the refusal as a separate answer */
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.type, ACK);
    assert_int_equal(g.code, 0);
    ed_coap_process(f->m);
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.type, CON);
    assert_int_equal(g.code, 413);
    assert_int_equal(g.tok, 7);
    assert_non_null(strstr(g.payload, "max.message.bytes"));
    assert_int_equal(ed_log_end_offset(log_of(f, "small")), 0);
}

static void test_get_answers_json(void **state)
{
    struct fx *f = *state;
    struct msg m;
    struct got g;
    mk_req(&m, NON, POST, 0x7001, 1, "t/rd", "k=a", -1, "v\"1");
    send_msg(f, &m);
    mk_req(&m, NON, POST, 0x7002, 2, "t/rd", NULL, -1, "v2");
    send_msg(f, &m);
    settle(f);
    assert_int_equal(n_answers(f, 204), 2);
    mk_req(&m, CON, GET, 0x7003, 3, "t/rd", "o=0", -1, NULL);
    send_msg(f, &m);
    assert_true(recv_msg(f, &g));
    assert_int_equal(g.type, ACK);
    assert_int_equal(g.code, 205);
    char want[256];
    snprintf(want, sizeof want, "%s",
             "{\"topic\":\"rd\",\"partition\":0,\"records\":[{\"offset\":0,\"timestamp\":");
    assert_memory_equal(g.payload, want, strlen(want));
    assert_non_null(strstr(g.payload, "\"key\":\"a\",\"value\":\"v\\\"1\",\"headers\":[]}"));
    assert_non_null(
        strstr(g.payload, "\"key\":null,\"value\":\"v2\",\"headers\":[]}],\"next\":2}"));
    mk_req(&m, CON, GET, 0x7004, 4, "t/rd", "o=x", -1, NULL);
    expect_refusal(f, &m, 400, "decimal numbers");
    mk_req(&m, CON, GET, 0x7005, 5, "t/none", NULL, -1, NULL);
    expect_refusal(f, &m, 404, "no such Kafka topic");
}

/* A confirmable GET of path with Observe 0 (register). */
static void mk_observe(struct msg *m, uint16_t mid, uint8_t tok, const char *path)
{
    mk_req(m, CON, GET, mid, tok, path, NULL, -1, NULL);
    /* Observe (6, empty) goes before Uri-Path (11): rebuild the options */
    struct msg t = *m;
    m->len = 5;
    unsigned last = 0;
    opt(m, &last, 6, "", 0);
    /* the first Uri-Path's delta was 11, now 5 */
    t.b[5] = (uint8_t)((5 << 4) | (t.b[5] & 15));
    memcpy(m->b + m->len, t.b + 5, t.len - 5);
    m->len += t.len - 5;
}

/* The next answer, acknowledged when confirmable; its payload. */
static bool next_answer(struct fx *f, struct got *g)
{
    if (!recv_msg(f, g)) return false;
    if (g->type == CON) {
        uint8_t ack[4] = {0x60, 0, (uint8_t)(g->mid >> 8), (uint8_t)g->mid};
        assert_int_equal(send(f->fd, ack, sizeof ack, 0), 4);
        ed_coap_process(f->m);
    }
    return true;
}

static void test_observe_notified_on_append(void **state)
{
    struct fx *f = *state;
    struct msg m;
    struct got g;
    mk_req(&m, NON, POST, 0x8001, 1, "t/obs", NULL, -1, "first");
    send_msg(f, &m);
    settle(f);
    assert_int_equal(n_answers(f, 204), 1);
    /* the first Observe of the topic: an empty ACK, its resource is made
     * and the request handed over again, answered separately */
    mk_observe(&m, 0x8002, 0x77, "t/obs");
    send_msg(f, &m);
    assert_true(next_answer(f, &g));
    assert_int_equal(g.type, ACK);
    assert_int_equal(g.code, 0);
    ed_coap_process(f->m);
    assert_true(next_answer(f, &g));
    assert_int_equal(g.code, 205);
    assert_int_equal(g.tok, 0x77);
    assert_non_null(strstr(g.payload, "\"value\":\"first\""));
    assert_false(recv_msg(f, &g));
    /* an append: a notification with the new record, from the loop */
    mk_req(&m, NON, POST, 0x8003, 2, "t/obs", NULL, -1, "second");
    send_msg(f, &m);
    settle(f);
    ed_plat_loop_run_once(f->t.loop, 0); /* the zero-delay notify timer */
    ed_coap_process(f->m);
    int n_notes = 0, n204 = 0;
    while (next_answer(f, &g)) {
        if (g.code == 204) n204++;
        if (g.code == 205 && g.tok == 0x77 && strstr(g.payload, "\"value\":\"second\"")) n_notes++;
        ed_coap_process(f->m);
    }
    assert_int_equal(n204, 1);
    assert_int_equal(n_notes, 1);
}

int main(void)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_con_post_answered_only_after_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_post_answered_after_sync, setup, teardown),
        cmocka_unit_test_teardown(test_routes_and_default_mapping, teardown),
        cmocka_unit_test(test_bad_routes_name_the_key),
        cmocka_unit_test(test_psk_file_lines),
        cmocka_unit_test(test_psk_file_refusals_name_the_line),
        cmocka_unit_test(test_psk_file_must_be_private),
        cmocka_unit_test_teardown(test_refusals_with_codes, teardown),
        cmocka_unit_test_setup_teardown(test_clients_table_bounded_least_recent_replaced, setup,
                                        teardown),
        cmocka_unit_test_teardown(test_pending_limit_answers_503, teardown),
        cmocka_unit_test_teardown(test_record_too_large_answers_413, teardown),
        cmocka_unit_test_setup_teardown(test_get_answers_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observe_notified_on_append, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
