/* MQTT load generator for the MQTT benchmark (tests/bench/mqtt_vs_mosquitto.sh
 * runs it against Eddy and Mosquitto alike), built on the Eclipse Paho C
 * client's asynchronous API (libpaho-mqtt3a), MQTT 3.1.1, clean sessions:
 *
 *   mqttperf pub -p PORT -q QOS -n MESSAGES -s BYTES [-c CLIENTS] [-w WINDOW]
 *                [-t PREFIX]
 *     CLIENTS connections (one thread each) share MESSAGES publishes of BYTES
 *     bytes; client i publishes to PREFIX/i. Each keeps at most WINDOW
 *     publishes unfinished (QoS 1: until PUBACK, QoS 2: until PUBCOMP,
 *     QoS 0: until written to the socket). QoS 0 ends with one QoS 1 publish
 *     per client (a fence): the broker handles a connection's packets in
 *     order, so its PUBACK means every QoS 0 publish before it was taken in.
 *     The time runs from the first publish to the last acknowledgement.
 *
 *   mqttperf lat -p PORT -q QOS -n MESSAGES -s BYTES -r RATE [-t TOPIC]
 *     One subscriber (subscription QoS = QOS) and one publisher on TOPIC;
 *     the publisher sends MESSAGES at RATE per second, each carrying its send
 *     time (CLOCK_MONOTONIC); latency is the arrival at the subscriber minus
 *     that time. Waits up to 10 s after the last publish for the rest.
 *
 *   mqttperf session -p PORT -i CLIENT_ID -f FILTER [-n MESSAGES] (open|drop|drain)
 *     open: connects with clean session 0, subscribes FILTER at QoS 1 and
 *     disconnects, leaving a persistent session that the broker keeps
 *     messages for; drop: connects with clean session 1 (the session goes);
 *     drain: resumes the session and receives MESSAGES queued for it (the
 *     time runs from the start of the connection to the last arrival).
 *
 * Output: one "key=value ..." line (pub: sent, seconds, rec_s; lat: sent,
 * received, p50_ms, p99_ms, max_ms); exit status 1 on any failure. */
#define _GNU_SOURCE
#include <MQTTAsync.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256

struct opts {
    int port;
    int qos;
    long n;
    int size;
    int clients;
    int window;
    double rate;
    const char *prefix;
    const char *id;
    const char *filter;
};

/* One connection and its window of unfinished publishes. */
struct conn {
    MQTTAsync c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int connected; /* 1 ok, -1 failed */
    int subscribed;
    int disconnected;
    long open;   /* publishes sent, not finished */
    long done;   /* finished */
    long failed; /* refused */
    int64_t last_ns;
    /* lat: */
    int64_t *lat_ns;
    long lat_cap;
    long lat_n;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "mqttperf: %s (%d)\n", what, rc);
    exit(1);
}

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
    struct conn *k = ctx;
    (void)r;
    pthread_mutex_lock(&k->mu);
    k->connected = 1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct conn *k = ctx;
    fprintf(stderr, "mqttperf: connect failed (%d)\n", r ? r->code : 0);
    pthread_mutex_lock(&k->mu);
    k->connected = -1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void on_sent(void *ctx, MQTTAsync_successData *r)
{
    struct conn *k = ctx;
    (void)r;
    pthread_mutex_lock(&k->mu);
    k->open--;
    k->done++;
    k->last_ns = now_ns();
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void on_send_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct conn *k = ctx;
    (void)r;
    pthread_mutex_lock(&k->mu);
    k->open--;
    k->failed++;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void on_subscribed(void *ctx, MQTTAsync_successData *r)
{
    struct conn *k = ctx;
    pthread_mutex_lock(&k->mu);
    k->subscribed = (r && r->alt.qos == 0x80) ? -1 : 1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void on_subscribe_fail(void *ctx, MQTTAsync_failureData *r)
{
    struct conn *k = ctx;
    (void)r;
    pthread_mutex_lock(&k->mu);
    k->subscribed = -1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void on_disconnected(void *ctx, MQTTAsync_successData *r)
{
    struct conn *k = ctx;
    (void)r;
    pthread_mutex_lock(&k->mu);
    k->disconnected = 1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void on_lost(void *ctx, char *cause)
{
    (void)ctx;
    fprintf(stderr, "mqttperf: connection lost: %s\n", cause ? cause : "?");
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    struct conn *k = ctx;
    int64_t t = now_ns();
    int64_t sent = 0;
    (void)topic_len;
    if (m->payloadlen >= (int)sizeof sent) memcpy(&sent, m->payload, sizeof sent);
    pthread_mutex_lock(&k->mu);
    if (k->lat_n < k->lat_cap) k->lat_ns[k->lat_n++] = t - sent;
    k->last_ns = t;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Waits until *flag is non-zero or SECONDS pass; returns the flag. */
static int wait_flag(struct conn *k, const int *flag, int seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&k->mu);
    while (*flag == 0 && pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0) {
    }
    int v = *flag;
    pthread_mutex_unlock(&k->mu);
    return v;
}

/* Starts connecting (clean session CLEAN); conn_wait waits for the CONNACK.
 * Connections are started together: the Paho C client takes up a new
 * socket only when its receive thread's poll comes round (up to a second),
 * so connecting one after the other is slow. */
static void conn_start(struct conn *k, const struct opts *o, const char *id, int clean)
{
    char uri[64];
    int rc;
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", o->port);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    rc = MQTTAsync_create(&k->c, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_create", rc);
    rc = MQTTAsync_setCallbacks(k->c, k, on_lost, on_message, NULL);
    if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_setCallbacks", rc);
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    co.keepAliveInterval = 120;
    co.cleansession = clean;
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.maxInflight = o->window + 1;
    co.onSuccess = on_connect;
    co.onFailure = on_connect_fail;
    co.context = k;
    co.connectTimeout = 30;
    rc = MQTTAsync_connect(k->c, &co);
    if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_connect", rc);
}

static void conn_wait(struct conn *k)
{
    if (wait_flag(k, &k->connected, 30) <= 0) die("no connection within 30 s", 0);
}

static void conn_open(struct conn *k, const struct opts *o, const char *id, int clean)
{
    conn_start(k, o, id, clean);
    conn_wait(k);
}

static void conn_subscribe(struct conn *k, const char *filter, int qos)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_subscribed;
    ro.onFailure = on_subscribe_fail;
    ro.context = k;
    int rc = MQTTAsync_subscribe(k->c, filter, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_subscribe", rc);
    if (wait_flag(k, &k->subscribed, 30) <= 0) die("subscription refused or unanswered", 0);
}

static void conn_close(struct conn *k)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
    d.onSuccess = on_disconnected;
    d.context = k;
    d.timeout = 10000;
    if (MQTTAsync_disconnect(k->c, &d) == MQTTASYNC_SUCCESS) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        pthread_mutex_lock(&k->mu);
        while (!k->disconnected && pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0) {
        }
        pthread_mutex_unlock(&k->mu);
    }
    MQTTAsync_destroy(&k->c);
}

/* Waits (k->mu held) for a callback; a minute without one ends the run. */
static void wait_progress(struct conn *k)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    if (pthread_cond_timedwait(&k->cv, &k->mu, &until) == ETIMEDOUT)
        die("no acknowledgement for 60 s", 0);
}

/* Sends one publish once the window has room. */
static void publish(struct conn *k, const char *topic, void *payload, int len, int qos, int window)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess = on_sent;
    ro.onFailure = on_send_fail;
    ro.context = k;
    pthread_mutex_lock(&k->mu);
    while (k->open >= window)
        wait_progress(k);
    k->open++;
    pthread_mutex_unlock(&k->mu);
    int rc = MQTTAsync_send(k->c, topic, len, payload, qos, 0, &ro);
    if (rc != MQTTASYNC_SUCCESS) die("MQTTAsync_send", rc);
}

static void drain(struct conn *k)
{
    pthread_mutex_lock(&k->mu);
    while (k->open > 0)
        wait_progress(k);
    pthread_mutex_unlock(&k->mu);
}

struct pub_job {
    struct conn k;
    const struct opts *o;
    long n;
    char topic[128];
    pthread_t th;
};

static void *pub_thread(void *arg)
{
    struct pub_job *j = arg;
    char *payload = calloc(1, (size_t)j->o->size + 1);
    if (!payload) die("out of memory", 0);
    memset(payload, 'x', (size_t)j->o->size);
    for (long i = 0; i < j->n; i++)
        publish(&j->k, j->topic, payload, j->o->size, j->o->qos, j->o->window);
    if (j->o->qos == 0) publish(&j->k, j->topic, payload, j->o->size, 1, j->o->window);
    drain(&j->k);
    free(payload);
    return NULL;
}

static int run_pub(const struct opts *o)
{
    struct pub_job *jobs = calloc((size_t)o->clients, sizeof *jobs);
    if (!jobs) die("out of memory", 0);
    for (int i = 0; i < o->clients; i++) {
        char id[64];
        snprintf(id, sizeof id, "mqttperf-%d-%d", (int)getpid(), i);
        jobs[i].o = o;
        jobs[i].n = o->n / o->clients + (i < o->n % o->clients ? 1 : 0);
        snprintf(jobs[i].topic, sizeof jobs[i].topic, "%s/%d", o->prefix, i);
        conn_start(&jobs[i].k, o, id, 1);
    }
    for (int i = 0; i < o->clients; i++)
        conn_wait(&jobs[i].k);
    int64_t t0 = now_ns();
    for (int i = 0; i < o->clients; i++) {
        if (pthread_create(&jobs[i].th, NULL, pub_thread, &jobs[i]) != 0)
            die("pthread_create", errno);
    }
    int64_t t1 = t0;
    long done = 0, failed = 0;
    for (int i = 0; i < o->clients; i++) {
        pthread_join(jobs[i].th, NULL);
        if (jobs[i].k.last_ns > t1) t1 = jobs[i].k.last_ns;
        done += jobs[i].k.done - (o->qos == 0 ? 1 : 0);
        failed += jobs[i].k.failed;
    }
    for (int i = 0; i < o->clients; i++)
        conn_close(&jobs[i].k);
    double s = (double)(t1 - t0) / 1e9;
    printf("sent=%ld failed=%ld seconds=%.3f rec_s=%.0f\n", done, failed, s, (double)done / s);
    free(jobs);
    return failed ? 1 : 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int run_lat(const struct opts *o)
{
    struct conn sub = {0}, pub = {0};
    char id[64];
    sub.lat_cap = o->n;
    sub.lat_ns = calloc((size_t)o->n, sizeof *sub.lat_ns);
    if (!sub.lat_ns) die("out of memory", 0);
    snprintf(id, sizeof id, "mqttperf-%d-sub", (int)getpid());
    conn_open(&sub, o, id, 1);
    conn_subscribe(&sub, o->prefix, o->qos);
    snprintf(id, sizeof id, "mqttperf-%d-pub", (int)getpid());
    conn_open(&pub, o, id, 1);
    int len = o->size < 8 ? 8 : o->size;
    char *payload = calloc(1, (size_t)len);
    if (!payload) die("out of memory", 0);
    memset(payload, 'x', (size_t)len);
    int64_t gap = (int64_t)(1e9 / o->rate), next = now_ns();
    for (long i = 0; i < o->n; i++) {
        struct timespec ts = {(time_t)(next / 1000000000), (long)(next % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
        }
        int64_t t = now_ns();
        memcpy(payload, &t, sizeof t);
        publish(&pub, o->prefix, payload, len, o->qos, o->window);
        next += gap;
    }
    drain(&pub);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&sub.mu);
    while (sub.lat_n < o->n && pthread_cond_timedwait(&sub.cv, &sub.mu, &until) == 0) {
    }
    long got = sub.lat_n;
    pthread_mutex_unlock(&sub.mu);
    conn_close(&pub);
    conn_close(&sub);
    if (got == 0) die("nothing arrived", 0);
    qsort(sub.lat_ns, (size_t)got, sizeof *sub.lat_ns, cmp_i64);
    long i50 = (long)ceil(0.50 * (double)got) - 1, i99 = (long)ceil(0.99 * (double)got) - 1;
    printf("sent=%ld received=%ld failed=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", pub.done, got,
           pub.failed, (double)sub.lat_ns[i50] / 1e6, (double)sub.lat_ns[i99] / 1e6,
           (double)sub.lat_ns[got - 1] / 1e6);
    free(payload);
    free(sub.lat_ns);
    return got == o->n && pub.failed == 0 ? 0 : 1;
}

/* Resumes a persistent session and receives o->n messages queued for it. */
static int run_drain(struct conn *k, const struct opts *o)
{
    k->lat_cap = o->n;
    k->lat_ns = calloc((size_t)o->n, sizeof *k->lat_ns);
    if (!k->lat_ns) die("out of memory", 0);
    int64_t t0 = now_ns();
    conn_open(k, o, o->id, 0);
    long seen = -1;
    pthread_mutex_lock(&k->mu);
    while (k->lat_n < o->n && k->lat_n != seen) { /* on while messages keep coming */
        seen = k->lat_n;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        while (k->lat_n < o->n && pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0) {
        }
    }
    long got = k->lat_n;
    double secs = (double)(k->last_ns - t0) / 1e9;
    pthread_mutex_unlock(&k->mu);
    conn_close(k);
    printf("received=%ld seconds=%.3f rec_s=%.0f\n", got, secs, secs > 0 ? (double)got / secs : 0);
    free(k->lat_ns);
    return got >= o->n ? 0 : 1;
}

static int run_session(const struct opts *o, const char *what)
{
    struct conn k = {0};
    if (strcmp(what, "open") == 0) {
        conn_open(&k, o, o->id, 0);
        conn_subscribe(&k, o->filter, 1);
    } else if (strcmp(what, "drop") == 0) {
        conn_open(&k, o, o->id, 1);
    } else if (strcmp(what, "drain") == 0) {
        return run_drain(&k, o);
    } else {
        die("session: open or drop", 0);
    }
    conn_close(&k);
    printf("session=%s\n", what);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {.qos = 1,
                     .n = 10000,
                     .size = 100,
                     .clients = 1,
                     .window = 64,
                     .rate = 1000,
                     .prefix = "bench"};
    if (argc < 2) {
        fprintf(stderr, "usage: mqttperf pub|lat|session [options] (see tests/bench/mqttperf.c)\n");
        return 2;
    }
    const char *mode = argv[1];
    int ch;
    optind = 2;
    while ((ch = getopt(argc, argv, "p:q:n:s:c:w:r:t:i:f:")) != -1) {
        switch (ch) {
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'q':
            o.qos = atoi(optarg);
            break;
        case 'n':
            o.n = atol(optarg);
            break;
        case 's':
            o.size = atoi(optarg);
            break;
        case 'c':
            o.clients = atoi(optarg);
            break;
        case 'w':
            o.window = atoi(optarg);
            break;
        case 'r':
            o.rate = atof(optarg);
            break;
        case 't':
            o.prefix = optarg;
            break;
        case 'i':
            o.id = optarg;
            break;
        case 'f':
            o.filter = optarg;
            break;
        default:
            return 2;
        }
    }
    if (o.port <= 0 || o.qos < 0 || o.qos > 2 || o.n <= 0 || o.size < 0 || o.clients < 1 ||
        o.clients > MAX_CLIENTS || o.window < 1 || o.rate <= 0) {
        fprintf(stderr, "mqttperf: bad options\n");
        return 2;
    }
    if (strcmp(mode, "pub") == 0) return run_pub(&o);
    if (strcmp(mode, "lat") == 0) return run_lat(&o);
    if (strcmp(mode, "session") == 0 && optind < argc && o.id && o.filter)
        return run_session(&o, argv[optind]);
    fprintf(stderr, "mqttperf: unknown mode or missing options\n");
    return 2;
}
