/* Unit tests of TLS streams (platform/tls.h) over the simulated network
 * with small buffers, so that records and handshake messages arrive in
 * pieces: a handshake and data both ways; a reader that takes a little at
 * a time still gets every byte mbedtls decrypted ahead (it is announced
 * again although the network has nothing more); client certificates
 * required, absent and present (the subject becomes the principal); a
 * server certificate from an unknown authority refused by the client. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/memnet.h"
#include "platform/tls.h"
#include "tls_certs.h"

#define NET_CAP 300 /* bytes in flight per direction: records arrive in pieces */

struct side {
    ed_stream *s;
    size_t chunk; /* read at most this much per readable event */
    uint8_t rx[65536];
    size_t rx_len;
    const uint8_t *tx;
    size_t tx_len, tx_pos;
    bool closed;
};

static void on_readable(void *arg)
{
    struct side *d = arg;
    if (d->closed) return;
    size_t n = 0;
    size_t room = sizeof d->rx - d->rx_len;
    int rc = ed_plat_stream_read(d->s, d->rx + d->rx_len, room < d->chunk ? room : d->chunk, &n);
    if (rc == ED_OK) d->rx_len += n;
    if (rc == ED_ERR_CLOSED) {
        d->closed = true;
        ed_plat_stream_want_read(d->s, false);
    }
}

static void on_writable(void *arg)
{
    struct side *d = arg;
    if (d->closed) return;
    while (d->tx_pos < d->tx_len) {
        struct ed_iovec v = {d->tx + d->tx_pos, d->tx_len - d->tx_pos};
        size_t n = 0;
        if (ed_plat_stream_writev(d->s, &v, 1, &n) != ED_OK) {
            d->closed = true;
            return;
        }
        if (n == 0) return;
        d->tx_pos += n;
    }
    ed_plat_stream_want_write(d->s, false);
}

struct fx {
    ed_loop *loop;
    ed_tls_conf *sconf, *cconf;
    struct side srv, cli;
};

static void conf(struct fx *f, enum ed_tls_client_auth auth, const char *client_ca,
                 bool client_cert)
{
    char why[256] = "";
    struct ed_tls_settings ss = {.server = true,
                                 .cert_pem = SERVER_CRT,
                                 .key_pem = SERVER_KEY,
                                 .ca_pem = CA_PEM,
                                 .client_auth = auth};
    assert_int_equal(ed_plat_tls_conf_new(&ss, &f->sconf, why, sizeof why), ED_OK);
    struct ed_tls_settings cs = {.ca_pem = client_ca, .verify_host = true};
    if (client_cert) {
        cs.cert_pem = CLIENT_CRT;
        cs.key_pem = CLIENT_KEY;
    }
    assert_int_equal(ed_plat_tls_conf_new(&cs, &f->cconf, why, sizeof why), ED_OK);
}

static struct fx *fx_new(enum ed_tls_client_auth auth, const char *client_ca, bool client_cert,
                         const char *host)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_int_equal(ed_plat_loop_new(&f->loop), ED_OK);
    conf(f, auth, client_ca, client_cert);
    ed_stream *a, *b;
    assert_int_equal(ed_memnet_pair(f->loop, NET_CAP, "10.0.0.2:5000", "10.0.0.1:9093", &a, &b),
                     ED_OK);
    assert_int_equal(ed_plat_tls_server(f->loop, f->sconf, a, &f->srv.s), ED_OK);
    assert_int_equal(ed_plat_tls_client(f->loop, f->cconf, b, host, &f->cli.s), ED_OK);
    /* the streams hold their own references */
    ed_plat_tls_conf_unref(f->sconf);
    ed_plat_tls_conf_unref(f->cconf);
    f->srv.chunk = f->cli.chunk = sizeof f->srv.rx;
    struct ed_stream_cbs cbs = {on_readable, on_writable};
    ed_plat_stream_set_cbs(f->srv.s, &cbs, &f->srv);
    ed_plat_stream_set_cbs(f->cli.s, &cbs, &f->cli);
    return f;
}

static void fx_free(struct fx *f)
{
    ed_plat_stream_close(f->srv.s);
    ed_plat_stream_close(f->cli.s);
    for (int i = 0; i < 10; i++)
        ed_plat_loop_run_once(f->loop, 0);
    ed_plat_loop_free(f->loop);
    free(f);
}

/* Turns the loop until done(f) or nothing can happen any more. */
static void run(struct fx *f, bool (*done)(const struct fx *f))
{
    for (int i = 0; i < 20000 && !done(f); i++)
        ed_plat_loop_run_once(f->loop, 0);
}

static bool both_got_all(const struct fx *f)
{
    return (f->srv.rx_len == f->cli.tx_len && f->cli.rx_len == f->srv.tx_len) || f->srv.closed ||
           f->cli.closed;
}

static bool one_closed(const struct fx *f)
{
    return f->srv.closed || f->cli.closed;
}

static bool handshake_done(const struct fx *f)
{
    return one_closed(f) || (ed_plat_tls_handshake(f->srv.s, NULL, 0) == ED_OK &&
                             ed_plat_tls_handshake(f->cli.s, NULL, 0) == ED_OK);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + seed + i / 251);
}

static void test_data_both_ways_in_pieces(void **state)
{
    (void)state;
    static uint8_t up[40000], down[30000];
    fill(up, sizeof up, 1);
    fill(down, sizeof down, 7);
    struct fx *f = fx_new(ED_TLS_AUTH_NONE, CA_PEM, false, "localhost");
    /* Written before the handshake is done: held until it is. */
    f->cli.tx = up;
    f->cli.tx_len = sizeof up;
    f->srv.tx = down;
    f->srv.tx_len = sizeof down;
    ed_plat_stream_want_write(f->cli.s, true);
    ed_plat_stream_want_write(f->srv.s, true);
    run(f, both_got_all);
    assert_false(f->srv.closed || f->cli.closed);
    assert_int_equal(f->srv.rx_len, sizeof up);
    assert_memory_equal(f->srv.rx, up, sizeof up);
    assert_int_equal(f->cli.rx_len, sizeof down);
    assert_memory_equal(f->cli.rx, down, sizeof down);
    assert_null(ed_plat_stream_principal(f->srv.s));
    assert_false(ed_plat_stream_busy(f->srv.s));
    assert_string_equal(ed_plat_stream_peer(f->srv.s), "10.0.0.2:5000");
    fx_free(f);
}

/* The server reads 100 bytes per readable event: after the network is
 * drained, the rest of a 16 KiB record sits decrypted inside mbedtls and
 * only the stream itself can say so. */
static void test_small_reads_drain_held_bytes(void **state)
{
    (void)state;
    static uint8_t up[20000];
    fill(up, sizeof up, 3);
    struct fx *f = fx_new(ED_TLS_AUTH_NONE, CA_PEM, false, "localhost");
    f->srv.chunk = 100;
    f->cli.tx = up;
    f->cli.tx_len = sizeof up;
    ed_plat_stream_want_write(f->cli.s, true);
    run(f, both_got_all);
    assert_int_equal(f->srv.rx_len, sizeof up);
    assert_memory_equal(f->srv.rx, up, sizeof up);
    assert_int_equal(ed_plat_tls_pending(f->srv.s), 0);
    fx_free(f);
}

static void test_client_cert_required(void **state)
{
    (void)state;
    /* without one: refused, both ends see the close */
    struct fx *f = fx_new(ED_TLS_AUTH_REQUIRED, CA_PEM, false, "localhost");
    run(f, one_closed);
    assert_true(f->srv.closed);
    char why[256] = "";
    assert_int_not_equal(ed_plat_tls_handshake(f->srv.s, why, sizeof why), ED_OK);
    assert_null(ed_plat_stream_principal(f->srv.s));
    fx_free(f);
    /* with one: served, its subject is the principal */
    f = fx_new(ED_TLS_AUTH_REQUIRED, CA_PEM, true, "127.0.0.1");
    run(f, handshake_done);
    assert_false(one_closed(f));
    assert_string_equal(ed_plat_stream_principal(f->srv.s), "CN=client");
    fx_free(f);
    /* requested: a client without one is served, anonymous */
    f = fx_new(ED_TLS_AUTH_REQUESTED, CA_PEM, false, "localhost");
    run(f, handshake_done);
    assert_false(one_closed(f));
    assert_null(ed_plat_stream_principal(f->srv.s));
    fx_free(f);
}

static void test_client_refuses_unknown_ca_and_wrong_name(void **state)
{
    (void)state;
    struct fx *f = fx_new(ED_TLS_AUTH_NONE, OTHER_CA_PEM, false, "localhost");
    run(f, one_closed);
    char why[256] = "";
    assert_int_not_equal(ed_plat_tls_handshake(f->cli.s, why, sizeof why), ED_OK);
    assert_non_null(strstr(why, "verif"));
    fx_free(f);
    f = fx_new(ED_TLS_AUTH_NONE, CA_PEM, false, "gateway.example");
    run(f, one_closed);
    assert_int_not_equal(ed_plat_tls_handshake(f->cli.s, why, sizeof why), ED_OK);
    assert_non_null(strstr(why, "verif"));
    fx_free(f);
    f = fx_new(ED_TLS_AUTH_NONE, CA_PEM, false, "127.0.0.2");
    run(f, one_closed);
    assert_int_not_equal(ed_plat_tls_handshake(f->cli.s, why, sizeof why), ED_OK);
    assert_non_null(strstr(why, "127.0.0.2"));
    fx_free(f);
}

static void test_bad_settings(void **state)
{
    (void)state;
    ed_tls_conf *c;
    char why[256] = "";
    struct ed_tls_settings st = {.server = true};
    assert_int_equal(ed_plat_tls_conf_new(&st, &c, why, sizeof why), ED_ERR_INVAL);
    st.cert_pem = SERVER_CRT;
    st.key_pem = CLIENT_KEY; /* not the certificate's key */
    assert_int_equal(ed_plat_tls_conf_new(&st, &c, why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "does not match"));
    st.cert_file = "/nonexistent/server.pem";
    assert_int_equal(ed_plat_tls_conf_new(&st, &c, why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "/nonexistent/server.pem"));
    struct ed_tls_settings req = {.server = true,
                                  .cert_pem = SERVER_CRT,
                                  .key_pem = SERVER_KEY,
                                  .client_auth = ED_TLS_AUTH_REQUIRED};
    assert_int_equal(ed_plat_tls_conf_new(&req, &c, why, sizeof why), ED_ERR_INVAL);
    assert_non_null(strstr(why, "trust store"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_both_ways_in_pieces),
        cmocka_unit_test(test_small_reads_drain_held_bytes),
        cmocka_unit_test(test_client_cert_required),
        cmocka_unit_test(test_client_refuses_unknown_ca_and_wrong_name),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
