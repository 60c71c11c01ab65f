/* CoAP load generator for the CoAP benchmark (tests/bench/coap_vs_mqtt.sh):
 * ENDPOINTS client endpoints (one UDP socket each, as many sensors) share
 * REQUESTS confirmable POSTs of BYTES bytes to /t/TOPIC, each endpoint one
 * request at a time, as a sensor does. A request is done when its 2.04
 * arrives (Eddy: a separate CON response after the flush, acknowledged
 * here; or piggybacked). No retransmission is needed on loopback; one is
 * sent after 2 s anyway, counted.
 *
 *   coapperf -p PORT -n REQUESTS -s BYTES [-c ENDPOINTS] [-t TOPIC]
 *
 * Output: one line "sent= seconds= rec_s= p50_ms= p99_ms= wire_bytes=
 * retransmits=", wire_bytes being the UDP payload bytes both ways per
 * request (add 28 bytes of IPv4 and UDP header per datagram); exit status
 * 1 on any failure. Plain sockets, no CoAP library: the datagrams are
 * few and fixed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EP 1024

struct ep {
    int fd;
    uint16_t mid;
    uint8_t tok[2];
    double t0;
    bool busy;
    uint8_t req[1500];
    size_t req_len;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t opt(uint8_t *b, unsigned *last, unsigned num, const void *v, size_t n)
{
    size_t k = 0;
    unsigned d = num - *last;
    *last = num;
    b[k++] = (uint8_t)((d < 13 ? d : 13) << 4 | (n < 13 ? n : 13));
    if (d >= 13) b[k++] = (uint8_t)(d - 13);
    if (n >= 13) b[k++] = (uint8_t)(n - 13);
    memcpy(b + k, v, n);
    return k + n;
}

int main(int argc, char **argv)
{
    int port = 0, n = 1000, size = 64, n_ep = 1;
    const char *topic = "coapperf";
    int o;
    while ((o = getopt(argc, argv, "p:n:s:c:t:")) != -1) {
        if (o == 'p') port = atoi(optarg);
        if (o == 'n') n = atoi(optarg);
        if (o == 's') size = atoi(optarg);
        if (o == 'c') n_ep = atoi(optarg);
        if (o == 't') topic = optarg;
    }
    if (!port || n < 1 || size < 1 || size > 1024 || n_ep < 1 || n_ep > MAX_EP ||
        strlen(topic) > 200) {
        fprintf(stderr, "usage: coapperf -p PORT -n REQUESTS -s BYTES(<=1024) [-c ENDPOINTS] "
                        "[-t TOPIC]\n");
        return 2;
    }
    static struct ep eps[MAX_EP];
    static struct pollfd pfd[MAX_EP];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < n_ep; i++) {
        eps[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (eps[i].fd < 0 || connect(eps[i].fd, (struct sockaddr *)&a, sizeof a) != 0) {
            perror("coapperf: socket");
            return 1;
        }
        pfd[i].fd = eps[i].fd;
        pfd[i].events = POLLIN;
        eps[i].mid = (uint16_t)(i * 977);
    }
    double *lat = calloc((size_t)n, sizeof *lat);
    if (!lat) return 1;
    int sent = 0, done = 0, retransmits = 0, failed = 0;
    uint64_t wire = 0;
    double start = now_s();
    while (done < n) {
        for (int i = 0; i < n_ep && sent < n; i++) {
            struct ep *e = &eps[i];
            if (e->busy) continue;
            e->mid++;
            e->tok[0] = (uint8_t)(sent >> 8);
            e->tok[1] = (uint8_t)sent;
            uint8_t *b = e->req;
            size_t k = 0;
            unsigned last = 0;
            b[k++] = 0x42; /* CON, token length 2 */
            b[k++] = 0x02; /* POST */
            b[k++] = (uint8_t)(e->mid >> 8);
            b[k++] = (uint8_t)e->mid;
            b[k++] = e->tok[0];
            b[k++] = e->tok[1];
            k += opt(b + k, &last, 11, "t", 1);
            k += opt(b + k, &last, 11, topic, strlen(topic));
            b[k++] = 0xff;
            memset(b + k, 'a' + (sent % 26), (size_t)size);
            k += (size_t)size;
            e->req_len = k;
            e->t0 = now_s();
            e->busy = true;
            sent++;
            if (send(e->fd, b, k, 0) < 0) {
                perror("coapperf: send");
                return 1;
            }
            wire += k;
        }
        int r = poll(pfd, (nfds_t)n_ep, 1000);
        if (r < 0 && errno != EINTR) {
            perror("coapperf: poll");
            return 1;
        }
        double t = now_s();
        for (int i = 0; i < n_ep; i++) {
            struct ep *e = &eps[i];
            if (!(pfd[i].revents & POLLIN)) {
                if (e->busy && t - e->t0 > 2.0) { /* lost: resend */
                    if (send(e->fd, e->req, e->req_len, 0) > 0) wire += e->req_len;
                    e->t0 = t;
                    retransmits++;
                }
                continue;
            }
            uint8_t b[1500];
            ssize_t got;
            while ((got = recv(e->fd, b, sizeof b, 0)) >= 4) {
                wire += (uint64_t)got;
                int type = (b[0] >> 4) & 3, tkl = b[0] & 15, code = b[1];
                bool ours = tkl == 2 && got >= 6 && memcmp(b + 4, e->tok, 2) == 0;
                if (type == 0) { /* CON: acknowledge it */
                    uint8_t ack[4] = {0x60, 0, b[2], b[3]};
                    if (send(e->fd, ack, 4, 0) == 4) wire += 4;
                }
                if (code == 0 || !ours || !e->busy) continue; /* empty ACK or stale */
                if (code != 0x44) failed++;
                lat[done++] = t - e->t0;
                e->busy = false;
            }
        }
    }
    double secs = now_s() - start;
    qsort(lat, (size_t)done, sizeof *lat, cmp);
    printf("sent=%d seconds=%.3f rec_s=%.0f p50_ms=%.2f p99_ms=%.2f wire_bytes=%.1f "
           "retransmits=%d failed=%d\n",
           done, secs, done / secs, lat[done / 2] * 1e3, lat[(size_t)(done * 0.99)] * 1e3,
           (double)wire / done, retransmits, failed);
    free(lat);
    return failed ? 1 : 0;
}
