/* librdkafka load generator for the Kafka-protocol benchmark
 * (tests/bench/kafka_vs_eddy.sh runs it against Eddy and Apache Kafka alike):
 *
 *   rdkperf produce -b HOST:PORT -t TOPIC -n RECORDS -s BYTES [-a ACKS]
 *                   [-p PROCESSES] [-r RATE] [-X key=value ...]
 *     PROCESSES producer processes (forked) share RECORDS records of BYTES
 *     bytes each (no key, one fixed payload, no compression). The latency of a
 *     record runs from the produce() call (including any wait for room in the
 *     local queue) to its delivery report, as kafka-producer-perf-test counts
 *     it. Throughput counts from the first produce() of any process to the
 *     last delivery report of all. -r paces the processes to RATE records/s
 *     in all (default: as fast as they can).
 *
 *   rdkperf consume -b HOST:PORT -t TOPIC -n RECORDS [-X key=value ...]
 *     One consumer reads every partition from the beginning (assigned, no
 *     consumer group) until RECORDS records have arrived. The rate counts
 *     from the arrival of the first records to the last (those first ones
 *     left out), so that the client's start-up is not part of it.
 *
 *   rdkperf create -b HOST:PORT -t TOPIC -n PARTITIONS
 *     Creates the topic (CreateTopics, replication factor 1) and waits until
 *     Metadata shows a leader for every partition.
 *
 * -X passes any librdkafka property. Output: one "key=value ..." line
 * (records, seconds, rec_s, mb_s with 10^6 bytes of record value, p50_ms,
 * p99_ms, max_ms, errors); exit status 1 if any record failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Latencies in log buckets of 2 % width, up to about 10^9 µs. */
#define BUCKETS_PER_E 50
#define N_BUCKETS     1100
#define MAX_PROPS     32

struct result {
    int64_t records;
    int64_t errors;
    int64_t bytes;
    int64_t start_us; /* first produce / consume start */
    int64_t end_us;   /* last delivery / record */
    int64_t max_us;
    int64_t hist[N_BUCKETS];
    char err[160];
};

struct opts {
    const char *brokers;
    const char *topic;
    int64_t records;
    int size;
    const char *acks;
    int procs;
    double rate;
    const char *props[MAX_PROPS];
    int n_props;
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int bucket_of(int64_t us)
{
    int b = (int)(log((double)us + 1.0) * BUCKETS_PER_E);
    return b < 0 ? 0 : b >= N_BUCKETS ? N_BUCKETS - 1 : b;
}

static double bucket_ms(int b)
{
    return (exp((b + 0.5) / BUCKETS_PER_E) - 1.0) / 1000.0;
}

static double percentile_ms(const struct result *r, double q)
{
    int64_t total = 0, seen = 0;
    for (int b = 0; b < N_BUCKETS; b++)
        total += r->hist[b];
    if (total == 0) return 0;
    int64_t want = (int64_t)ceil(q * (double)total);
    if (want < 1) want = 1;
    for (int b = 0; b < N_BUCKETS; b++) {
        seen += r->hist[b];
        if (seen >= want) return bucket_ms(b);
    }
    return bucket_ms(N_BUCKETS - 1);
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "rdkperf: %s: %s\n", what, why);
    exit(2);
}

static rd_kafka_conf_t *base_conf(const struct opts *o)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err, sizeof err))
        die("bootstrap.servers", err);
    for (int i = 0; i < o->n_props; i++) {
        char kv[512];
        snprintf(kv, sizeof kv, "%s", o->props[i]);
        char *eq = strchr(kv, '=');
        if (!eq) die(o->props[i], "expected key=value");
        *eq = 0;
        if (rd_kafka_conf_set(conf, kv, eq + 1, err, sizeof err)) die(kv, err);
    }
    return conf;
}

/* ---- produce ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct result *r = opaque;
    int64_t now = now_us();
    if (m->err) {
        if (r->errors++ == 0) snprintf(r->err, sizeof r->err, "%s", rd_kafka_err2str(m->err));
    } else {
        int64_t lat = now - (int64_t)(intptr_t)m->_private;
        r->records++;
        r->bytes += (int64_t)m->len;
        r->hist[bucket_of(lat)]++;
        if (lat > r->max_us) r->max_us = lat;
    }
    r->end_us = now;
}

static void produce_child(const struct opts *o, int64_t count, struct result *r)
{
    char err[256];
    rd_kafka_conf_t *conf = base_conf(o);
    if (rd_kafka_conf_set(conf, "acks", o->acks, err, sizeof err)) die("acks", err);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, r);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) die("rd_kafka_new", err);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt) die("topic", rd_kafka_err2str(rd_kafka_last_error()));
    /* Wait for the topic's metadata so that start-up is not measured. */
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("metadata", "no answer within 10 s");
    rd_kafka_metadata_destroy(md);

    char *payload = malloc((size_t)o->size + 1);
    if (!payload) die("malloc", "out of memory");
    for (int i = 0; i < o->size; i++)
        payload[i] = (char)('a' + (i * 7 + 3) % 26);

    r->start_us = now_us();
    double gap_us = o->rate > 0 ? 1e6 * o->procs / o->rate : 0;
    for (int64_t i = 0; i < count; i++) {
        if (gap_us > 0) {
            /* Paced: wait for this record's turn, serving delivery reports. */
            int64_t due = r->start_us + (int64_t)((double)i * gap_us);
            for (int64_t now = now_us(); now < due; now = now_us()) {
                if (due - now >= 1000)
                    rd_kafka_poll(rk, (int)((due - now) / 1000));
                else
                    usleep((useconds_t)(due - now));
            }
            rd_kafka_poll(rk, 0);
        }
        int64_t t = now_us();
        /* The payload is never freed nor changed: no copy needed. */
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, payload, (size_t)o->size, NULL, 0,
                                (void *)(intptr_t)t) == -1) {
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce", rd_kafka_err2str(e));
            rd_kafka_poll(rk, 5);
        }
        if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    while (r->records + r->errors < count) {
        if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(r->err, sizeof r->err, "flush timed out with %d records outstanding",
                     rd_kafka_outq_len(rk));
            r->errors += count - r->records - r->errors;
            break;
        }
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(payload);
}

static int run_produce(const struct opts *o)
{
    size_t len = sizeof(struct result) * (size_t)o->procs;
    struct result *res = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED) die("mmap", strerror(errno));
    memset(res, 0, len);
    pid_t *pids = calloc((size_t)o->procs, sizeof *pids);
    if (!pids) die("calloc", "out of memory");
    for (int p = 0; p < o->procs; p++) {
        int64_t count = o->records / o->procs + (p < o->records % o->procs ? 1 : 0);
        pid_t pid = fork();
        if (pid < 0) die("fork", strerror(errno));
        if (pid == 0) {
            produce_child(o, count, &res[p]);
            _exit(0);
        }
        pids[p] = pid;
    }
    int failed = 0;
    for (int p = 0; p < o->procs; p++) {
        int st;
        if (waitpid(pids[p], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) failed = 1;
    }
    struct result all = {0};
    all.start_us = INT64_MAX;
    for (int p = 0; p < o->procs; p++) {
        all.records += res[p].records;
        all.errors += res[p].errors;
        all.bytes += res[p].bytes;
        if (res[p].start_us && res[p].start_us < all.start_us) all.start_us = res[p].start_us;
        if (res[p].end_us > all.end_us) all.end_us = res[p].end_us;
        if (res[p].max_us > all.max_us) all.max_us = res[p].max_us;
        for (int b = 0; b < N_BUCKETS; b++)
            all.hist[b] += res[p].hist[b];
        if (res[p].err[0]) fprintf(stderr, "rdkperf: process %d: %s\n", p, res[p].err);
    }
    double secs = all.end_us > all.start_us ? (double)(all.end_us - all.start_us) / 1e6 : 0;
    printf("records=%lld seconds=%.3f rec_s=%.0f mb_s=%.2f p50_ms=%.2f p99_ms=%.2f max_ms=%.1f "
           "errors=%lld processes=%d\n",
           (long long)all.records, secs, secs > 0 ? (double)all.records / secs : 0,
           secs > 0 ? (double)all.bytes / secs / 1e6 : 0, percentile_ms(&all, 0.50),
           percentile_ms(&all, 0.99), (double)all.max_us / 1000.0, (long long)all.errors, o->procs);
    return failed || all.errors || all.records != o->records;
}

/* ---- consume ---- */

static int run_consume(const struct opts *o)
{
    char err[256];
    rd_kafka_conf_t *conf = base_conf(o);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) die("rd_kafka_new", err);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt) die("topic", rd_kafka_err2str(rd_kafka_last_error()));
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err)
        die("metadata", "topic not found");
    int n_parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);

    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    struct result r = {0};
    for (int p = 0; p < n_parts; p++)
        if (rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q) == -1)
            die("consume_start", rd_kafka_err2str(rd_kafka_last_error()));
    /* The clock starts when the first records arrive (the client's own
     * start-up, offset lookups and retry timers are not the broker's rate);
     * those first records are not counted. */
    rd_kafka_message_t *msgs[1024];
    int64_t idle_since = now_us(), got = 0;
    while (got < o->records) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, 1024);
        if (n < 0) die("consume", rd_kafka_err2str(rd_kafka_last_error()));
        int64_t now = now_us();
        if (n == 0 && now - idle_since > 30000000) {
            snprintf(r.err, sizeof r.err, "no records for 30 s");
            break;
        }
        int64_t batch_records = 0, batch_bytes = 0;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                batch_records++;
                batch_bytes += (int64_t)m->len;
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (r.errors++ == 0) snprintf(r.err, sizeof r.err, "%s", rd_kafka_err2str(m->err));
            }
            rd_kafka_message_destroy(m);
        }
        if (batch_records == 0) continue;
        idle_since = now;
        got += batch_records;
        if (r.start_us == 0) {
            r.start_us = now;
            continue;
        }
        r.records += batch_records;
        r.bytes += batch_bytes;
        r.end_us = now;
    }
    for (int p = 0; p < n_parts; p++)
        rd_kafka_consume_stop(rkt, p);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (r.err[0]) fprintf(stderr, "rdkperf: %s\n", r.err);
    double secs = r.end_us > r.start_us ? (double)(r.end_us - r.start_us) / 1e6 : 0;
    printf("records=%lld seconds=%.3f rec_s=%.0f mb_s=%.2f errors=%lld partitions=%d\n",
           (long long)r.records, secs, secs > 0 ? (double)r.records / secs : 0,
           secs > 0 ? (double)r.bytes / secs / 1e6 : 0, (long long)r.errors, n_parts);
    return r.errors || got < o->records;
}

/* ---- create ---- */

static int run_create(const struct opts *o)
{
    char err[256];
    rd_kafka_conf_t *conf = base_conf(o);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) die("rd_kafka_new", err);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(o->topic, (int)o->records, 1, err, sizeof err);
    if (!nt) die("NewTopic", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) die("CreateTopics", "no answer within 30 s");
    if (rd_kafka_event_error(ev)) die("CreateTopics", rd_kafka_event_error_string(ev));
    size_t n = 0;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    if (n != 1) die("CreateTopics", "no result for the topic");
    if (rd_kafka_topic_result_error(tr[0]) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("CreateTopics", rd_kafka_topic_result_error_string(tr[0]));
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);

    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    int ready = 0;
    for (int tries = 0; tries < 300 && !ready; tries++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            ready = md->topic_cnt == 1 && !md->topics[0].err &&
                    md->topics[0].partition_cnt == (int)o->records;
            for (int p = 0; ready && p < md->topics[0].partition_cnt; p++)
                if (md->topics[0].partitions[p].err || md->topics[0].partitions[p].leader < 0)
                    ready = 0;
            rd_kafka_metadata_destroy(md);
        }
        if (!ready) usleep(100000);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (!ready) die(o->topic, "no leader for every partition within 30 s");
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: rdkperf produce -b HOST:PORT -t TOPIC -n RECORDS -s BYTES [-a ACKS] "
                    "[-p PROCESSES] [-r RATE] [-X key=value ...]\n"
                    "       rdkperf consume -b HOST:PORT -t TOPIC -n RECORDS [-X key=value ...]\n"
                    "       rdkperf create -b HOST:PORT -t TOPIC -n PARTITIONS\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct opts o = {.acks = "1", .procs = 1, .size = 100};
    if (argc < 2) usage();
    const char *mode = argv[1];
    if (strcmp(mode, "produce") != 0 && strcmp(mode, "consume") != 0 && strcmp(mode, "create") != 0)
        usage();
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc || a[0] != '-' || strlen(a) != 2) usage();
        const char *v = argv[++i];
        switch (a[1]) {
        case 'b':
            o.brokers = v;
            break;
        case 't':
            o.topic = v;
            break;
        case 'n':
            o.records = strtoll(v, NULL, 10);
            break;
        case 's':
            o.size = atoi(v);
            break;
        case 'a':
            o.acks = v;
            break;
        case 'p':
            o.procs = atoi(v);
            break;
        case 'r':
            o.rate = atof(v);
            break;
        case 'X':
            if (o.n_props == MAX_PROPS) usage();
            o.props[o.n_props++] = v;
            break;
        default:
            usage();
        }
    }
    if (!o.brokers || !o.topic || o.records <= 0 || o.size < 0 || o.procs < 1 || o.procs > 64)
        usage();
    if (strcmp(mode, "create") == 0) return run_create(&o);
    return strcmp(mode, "produce") == 0 ? run_produce(&o) : run_consume(&o);
}
