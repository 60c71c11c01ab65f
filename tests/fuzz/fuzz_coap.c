/* libFuzzer target for the CoAP listener: raw datagrams sent over loopback
 * UDP to a real listener, decoded by libcoap and handed to Eddy's handlers,
 * over a real storage and topic registry in a temporary folder. Input: a
 * sequence of datagrams, each a 2-byte big-endian length and that many
 * bytes (the last one takes what is left); byte 0 of the input, bit 0: the
 * gathered records are appended and synced after every datagram (else only
 * at the end). Each run ends with everything appended and synced, every
 * answer read and every confirmable answer acknowledged, so no state but
 * the log carries over between runs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridge/coap.h"
#include "core/config.h"
#include "platform/log.h"
#include "tbroker.h"

static struct {
    char dir[64];
    struct tbroker t;
    ed_coap *m;
    int fd;
} G;

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", G.dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_coap: could not remove %s\n", G.dir);
}

static void init(void)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    snprintf(G.dir, sizeof G.dir, "/tmp/eddy-fuzz-coap-XXXXXX");
    if (!mkdtemp(G.dir)) abort();
    atexit(cleanup);
    char why[256];
    if (ed_config_new(&G.t.cfg) || ed_config_set(G.t.cfg, "log.dirs", G.dir, why, sizeof why) ||
        ed_config_set(G.t.cfg, "log.dir.min.free.bytes", "0", why, sizeof why) ||
        ed_config_set(G.t.cfg, "coap.routes", "#=>fuzz", why, sizeof why) ||
        ed_config_set(G.t.cfg, "coap.max.pending", "8", why, sizeof why))
        abort();
    if (tb_open(&G.t) || ed_coap_new(&G.t.b, false, why, sizeof why, &G.m)) abort();
    uint16_t port = 0;
    if (ed_coap_listen(G.m, "127.0.0.1", 0, &port)) abort();
    G.fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (G.fd < 0 || connect(G.fd, (struct sockaddr *)&a, sizeof a) != 0) abort();
}

/* Reads every answer; a confirmable one is acknowledged, as a client
 * would, so that libcoap sends the next one (one at a time per client). */
static void drain(void)
{
    uint8_t b[2048];
    for (int round = 0; round < 64; round++) {
        ed_coap_process(G.m);
        ssize_t n = recv(G.fd, b, sizeof b, MSG_DONTWAIT);
        if (n < 4) return;
        if (((b[0] >> 4) & 3) == 0) { /* CON: an empty ACK with its message id */
            uint8_t ack[4] = {0x60, 0, b[2], b[3]};
            if (send(G.fd, ack, sizeof ack, 0) != 4) abort();
        }
    }
}

static void sync_all(void)
{
    ed_coap_flush(G.m);
    tb_sync(&G.t);
    drain();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!G.m) init();
    bool sync_each = data[0] & 1;
    data++;
    size--;
    while (size > 0) {
        size_t n = size;
        if (size >= 2) {
            n = (size_t)data[0] << 8 | data[1];
            data += 2;
            size -= 2;
            if (n > size) n = size;
        }
        if (n > 0 && send(G.fd, data, n, 0) < 0) abort();
        data += n;
        size -= n;
        drain();
        if (sync_each) sync_all();
    }
    sync_all();
    return 0;
}
