/* libFuzzer target for the server side of a TLS stream (platform/tls.h):
 * arbitrary bytes from a client over the simulated network, fed in chunks
 * (byte 0 is the chunk size, 0 = all at once), with client certificates
 * requested so that the certificate parser is reached too. The handshake
 * parser must refuse what is not TLS without crashing, leaking or reading
 * out of bounds; whatever was decrypted is read and dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/log.h"
#include "platform/memnet.h"
#include "platform/tls.h"
#include "tls_certs.h"

static struct {
    ed_loop *loop;
    ed_tls_conf *conf;
} G;

static void init(void)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    char why[256];
    struct ed_tls_settings st = {.server = true,
                                 .cert_pem = SERVER_CRT,
                                 .key_pem = SERVER_KEY,
                                 .ca_pem = CA_PEM,
                                 .client_auth = ED_TLS_AUTH_REQUESTED};
    if (ed_plat_loop_new(&G.loop) || ed_plat_tls_conf_new(&st, &G.conf, why, sizeof why)) abort();
}

struct owner {
    ed_stream *s;
    bool closed;
};

static void on_readable(void *arg)
{
    struct owner *o = arg;
    uint8_t buf[4096];
    size_t n;
    for (;;) {
        int rc = ed_plat_stream_read(o->s, buf, sizeof buf, &n);
        if (rc == ED_OK) continue;
        if (rc != ED_ERR_AGAIN) {
            o->closed = true;
            ed_plat_stream_want_read(o->s, false);
        }
        return;
    }
}

static void on_writable(void *arg)
{
    ED_UNUSED(arg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!G.loop) init();
    if (size < 1) return 0;
    size_t chunk = data[0] ? data[0] : size;
    data++;
    size--;
    ed_stream *a, *b, *srv;
    if (ed_memnet_pair(G.loop, 1u << 20, "10.0.0.2:5000", "10.0.0.1:9093", &a, &b)) abort();
    if (ed_plat_tls_server(G.loop, G.conf, a, &srv)) abort();
    struct owner o = {srv, false};
    struct ed_stream_cbs cbs = {on_readable, on_writable};
    ed_plat_stream_set_cbs(srv, &cbs, &o);
    /* The client end only writes; what the server answers is drained. */
    for (size_t pos = 0; pos < size && !o.closed;) {
        size_t k = size - pos < chunk ? size - pos : chunk;
        struct ed_iovec v = {data + pos, k};
        size_t n = 0;
        if (ed_plat_stream_writev(b, &v, 1, &n) != ED_OK || n == 0) break;
        pos += n;
        for (int i = 0; i < 4; i++) {
            ed_plat_loop_run_once(G.loop, 0);
            uint8_t sink[4096];
            size_t got;
            while (ed_plat_stream_read(b, sink, sizeof sink, &got) == ED_OK)
                ;
        }
    }
    ed_plat_stream_close(srv);
    ed_plat_stream_close(b);
    for (int i = 0; i < 4; i++)
        ed_plat_loop_run_once(G.loop, 0);
    return 0;
}
