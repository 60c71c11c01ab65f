/* Storage benchmark (tests/bench/storage.sh runs it):
 *
 *   log_bench append DIR --producers N [--record-bytes 1024] [--records 1]
 *                    [--seconds 4] [--partitions 1]
 *     N simulated producers, each appending one batch and waiting until it is
 *     durable before its next append (acks=all), through the flusher thread
 *     and group commit. Reports acknowledged payload MB/s, appends/s,
 *     fdatasync rounds, and write amplification: bytes the process caused to
 *     be written (/proc/self/io write_bytes) / payload bytes.
 *
 *   log_bench wind DIR --file CSV [--producers 8] [--rows 100] [--passes 4]
 *                  [--compression zstd|none]
 *     The same with real sensor rows (one record per CSV line, key = turbine
 *     id, batches of --rows rows built with Eddy's batch builder).
 *
 *   log_bench recovery DIR [--mib 1024] [--partitions 24] [--runs 3] [--cold]
 *     Writes --mib MiB over --partitions logs (16 MiB segments), closes, then
 *     times ed_storage_open (recovery) --runs times; --cold evicts the files
 *     from the page cache first (posix_fadvise DONTNEED); --keep leaves DIR.
 *
 * Output: one "key=value ..." line per run. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "platform/log.h"
#include "platform/platform.h"
#include "storage/batch.h"
#include "storage/log.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long proc_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[256];
    long long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %lld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return def;
}

static bool flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return true;
    return false;
}

static void rm_rf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---- the loop: notify from the flusher, completions here ---- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool woken;

static void notify(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    woken = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_wake(void)
{
    pthread_mutex_lock(&mu);
    if (!woken) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&cv, &mu, &ts);
    }
    woken = false;
    pthread_mutex_unlock(&mu);
}

/* ---- producers ---- */
struct bench;
struct producer {
    struct bench *b;
    ed_log *log;
    uint8_t *batch; /* prebuilt; appends restamp its base offset in place */
    size_t len;
    uint64_t payload; /* payload bytes per batch */
    bool done;
    /* wind mode: a cursor over the rows */
    size_t next_row;
};

struct bench {
    bool stop;
    uint64_t acked_payload, acked_batches, errors;
    int n_outstanding;
    /* wind mode */
    bool wind;
    char **rows;
    size_t *row_len;
    size_t n_rows, rows_per_batch, rows_left;
    int compression;
    ed_batch_builder *builder;
};

static void produce(struct producer *p);

static void on_durable(void *arg, int status)
{
    struct producer *p = arg;
    struct bench *b = p->b;
    b->n_outstanding--;
    if (status != ED_OK) {
        b->errors++;
    } else {
        b->acked_payload += p->payload;
        b->acked_batches++;
    }
    if (b->stop) {
        p->done = true;
        return;
    }
    produce(p);
}

/* Wind mode: the next --rows CSV rows as one batch (key = turbine id). */
static bool build_wind(struct producer *p)
{
    struct bench *b = p->b;
    if (b->rows_left == 0) return false;
    if (ed_batch_builder_begin(b->builder, b->compression, ed_plat_clock_wall_ms(), -1, -1, -1) !=
        ED_OK)
        abort();
    p->payload = 0;
    for (size_t i = 0; i < b->rows_per_batch && b->rows_left; i++, b->rows_left--) {
        size_t r = p->next_row++ % b->n_rows;
        char key[16];
        int kl = snprintf(key, sizeof key, "T%zu", r % 8);
        if (ed_batch_builder_add(b->builder, key, (size_t)kl, b->rows[r], b->row_len[r], NULL, 0,
                                 -1) != ED_OK)
            abort();
        p->payload += b->row_len[r];
    }
    uint8_t *out;
    size_t len;
    if (ed_batch_builder_finish(b->builder, &out, &len) != ED_OK) abort();
    if (len > p->len) {
        p->batch = realloc(p->batch, len);
    }
    memcpy(p->batch, out, len);
    p->len = len;
    return true;
}

static void produce(struct producer *p)
{
    struct bench *b = p->b;
    if (b->wind && !build_wind(p)) {
        b->stop = true;
        p->done = true;
        return;
    }
    struct ed_append_result r;
    int rc = ed_log_append(p->log, p->batch, p->len, &r);
    if (rc != ED_OK) {
        fprintf(stderr, "append: %s\n", ed_strerror(rc));
        exit(1);
    }
    b->n_outstanding++;
    rc = ed_log_wait_durable(p->log, r.last_offset, on_durable, p);
    if (rc != ED_OK) {
        fprintf(stderr, "wait: %s\n", ed_strerror(rc));
        exit(1);
    }
}

/* A batch of n records of value_len bytes, like a producer's. */
static uint8_t *make_batch(int n, size_t value_len, size_t *len)
{
    ed_batch_builder *bb;
    if (ed_batch_builder_new(16 << 20, &bb) != ED_OK) abort();
    ed_batch_builder_begin(bb, ED_COMPRESSION_NONE, ed_plat_clock_wall_ms(), -1, -1, -1);
    char *value = malloc(value_len);
    for (size_t i = 0; i < value_len; i++)
        value[i] = (char)('a' + (i * 7 + i / 13) % 26);
    for (int i = 0; i < n; i++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "k%d", i);
        if (ed_batch_builder_add(bb, key, (size_t)kl, value, value_len, NULL, 0, -1) != ED_OK)
            abort();
    }
    uint8_t *out;
    if (ed_batch_builder_finish(bb, &out, len) != ED_OK) abort();
    uint8_t *copy = malloc(*len);
    memcpy(copy, out, *len);
    ed_batch_builder_free(bb);
    free(value);
    return copy;
}

static int run_append(int argc, char **argv, const char *dir, bool wind)
{
    int n_prod = atoi(arg(argc, argv, "--producers", wind ? "8" : "1"));
    size_t rec_len = (size_t)atol(arg(argc, argv, "--record-bytes", "1024"));
    int n_rec = atoi(arg(argc, argv, "--records", "1"));
    double seconds = atof(arg(argc, argv, "--seconds", "4"));
    int n_parts = atoi(arg(argc, argv, "--partitions", "1"));
    rm_rf(dir);

    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = dir;
    cfg.use_flusher_thread = true;
    ed_storage *st;
    if (ed_storage_open(&cfg, &st) != ED_OK) return 1;
    ed_storage_set_notify(st, notify, NULL);
    ed_log **logs = calloc((size_t)n_parts, sizeof *logs);
    for (int i = 0; i < n_parts; i++)
        if (ed_storage_create_log(st, "bench", i, NULL, &logs[i]) != ED_OK) return 1;
    /* Let the creation flushes finish. */
    for (int i = 0; i < 20; i++) {
        ed_storage_run_completions(st);
        usleep(2000);
    }

    struct bench b = {0};
    b.wind = wind;
    if (wind) {
        const char *file = arg(argc, argv, "--file", NULL);
        FILE *f = file ? fopen(file, "rb") : NULL;
        if (!f) {
            fprintf(stderr, "wind: --file CSV needed\n");
            return 2;
        }
        char line[4096];
        size_t cap = 0;
        bool header = true;
        while (fgets(line, sizeof line, f)) {
            if (header) { /* the column names */
                header = false;
                continue;
            }
            if (b.n_rows == cap) {
                cap = cap ? cap * 2 : 1024;
                b.rows = realloc(b.rows, cap * sizeof *b.rows);
                b.row_len = realloc(b.row_len, cap * sizeof *b.row_len);
            }
            size_t n = strcspn(line, "\r\n");
            b.rows[b.n_rows] = strndup(line, n);
            b.row_len[b.n_rows++] = n;
        }
        fclose(f);
        b.rows_per_batch = (size_t)atol(arg(argc, argv, "--rows", "100"));
        b.rows_left = b.n_rows * (size_t)atol(arg(argc, argv, "--passes", "4"));
        const char *c = arg(argc, argv, "--compression", "zstd");
        b.compression = strcmp(c, "none") == 0 ? ED_COMPRESSION_NONE : ED_COMPRESSION_ZSTD;
        if (ed_batch_builder_new(1 << 20, &b.builder) != ED_OK) return 1;
    }
    struct producer *p = calloc((size_t)n_prod, sizeof *p);
    for (int i = 0; i < n_prod; i++) {
        p[i].b = &b;
        p[i].log = logs[i % n_parts];
        p[i].next_row = (size_t)i * 1000;
        if (!wind) {
            p[i].batch = make_batch(n_rec, rec_len, &p[i].len);
            p[i].payload = (uint64_t)n_rec * rec_len;
        }
    }
    struct ed_storage_stats s0, s1;
    ed_storage_stats_get(st, &s0);
    long long wb0 = proc_write_bytes();
    double t0 = now_s(), t_stop = 0;
    for (int i = 0; i < n_prod; i++)
        produce(&p[i]);
    uint64_t acked_at_stop = 0, batches_at_stop = 0;
    for (;;) {
        wait_wake();
        ed_storage_run_completions(st);
        ed_storage_tick(st, ed_plat_clock_wall_ms());
        double t = now_s();
        if (!b.stop && !wind && t - t0 >= seconds) b.stop = true;
        if (b.stop && t_stop == 0) {
            t_stop = t;
            acked_at_stop = b.acked_payload;
            batches_at_stop = b.acked_batches;
        }
        if (b.stop && b.n_outstanding == 0) break;
    }
    if (wind) {
        t_stop = now_s();
        acked_at_stop = b.acked_payload;
        batches_at_stop = b.acked_batches;
    }
    ed_storage_stats_get(st, &s1);
    uint64_t log_bytes = 0;
    for (int i = 0; i < n_parts; i++)
        log_bytes += ed_log_size(logs[i]);
    ed_storage_close(st);
    long long wb1 = proc_write_bytes();
    double el = t_stop - t0;
    double wa = (double)(wb1 - wb0) / (double)b.acked_payload;
    printf("mode=%s producers=%d partitions=%d record_bytes=%zu records_per_batch=%d "
           "seconds=%.2f payload_mib=%.2f mib_s=%.2f appends_s=%.0f flushes=%llu "
           "batches_per_flush=%.1f log_bytes=%llu write_bytes=%lld wa_payload=%.3f "
           "wa_log=%.3f errors=%llu\n",
           wind ? "wind" : "append", n_prod, n_parts, wind ? 0 : rec_len,
           wind ? (int)b.rows_per_batch : n_rec, el, acked_at_stop / 1048576.0,
           acked_at_stop / 1048576.0 / el, batches_at_stop / el,
           (unsigned long long)(s1.n_flushes - s0.n_flushes),
           (double)b.acked_batches /
               (double)(s1.n_flushes - s0.n_flushes + !(s1.n_flushes - s0.n_flushes)),
           (unsigned long long)log_bytes, wb1 - wb0, wa, (double)(wb1 - wb0) / (double)log_bytes,
           (unsigned long long)b.errors);
    for (int i = 0; i < n_prod; i++)
        free(p[i].batch);
    free(p);
    free(logs);
    if (wind) {
        for (size_t i = 0; i < b.n_rows; i++)
            free(b.rows[i]);
        free(b.rows);
        free(b.row_len);
        ed_batch_builder_free(b.builder);
    }
    rm_rf(dir);
    return 0;
}

/* ---- recovery ---- */

/* Sizes of every file under dir (and of each partition's newest .log, the
 * active segment); with drop, evicts them from the page cache. */
static void scan_dir(const char *dir, bool drop, long long *active_bytes, long long *all_bytes,
                     int *n_files)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char newest[64] = "";
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat s;
        if (stat(p, &s) != 0) continue;
        if (S_ISDIR(s.st_mode)) {
            scan_dir(p, drop, active_bytes, all_bytes, n_files);
            continue;
        }
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".log") == 0 && strcmp(e->d_name, newest) > 0)
            snprintf(newest, sizeof newest, "%s", e->d_name);
        *all_bytes += s.st_size;
        (*n_files)++;
        int fd = drop ? open(p, O_RDONLY) : -1;
        if (fd >= 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    if (d) closedir(d);
    if (newest[0]) {
        char p[4300];
        struct stat s;
        snprintf(p, sizeof p, "%s/%s", dir, newest);
        if (stat(p, &s) == 0) *active_bytes += s.st_size;
    }
}

static int run_recovery(int argc, char **argv, const char *dir)
{
    long long mib = atoll(arg(argc, argv, "--mib", "1024"));
    int n_parts = atoi(arg(argc, argv, "--partitions", "24"));
    int runs = atoi(arg(argc, argv, "--runs", "3"));
    bool cold = flag(argc, argv, "--cold");
    rm_rf(dir);
    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = dir;
    cfg.log.retention_ms = -1;
    ed_storage *st;
    if (ed_storage_open(&cfg, &st) != ED_OK) return 1;
    size_t len;
    uint8_t *batch = make_batch(16, 1024, &len);
    long long per_part = mib * 1048576 / n_parts;
    double tw = now_s();
    for (int i = 0; i < n_parts; i++) {
        ed_log *log;
        if (ed_storage_create_log(st, "recovery", i, NULL, &log) != ED_OK) return 1;
        for (long long done = 0; done < per_part; done += (long long)len) {
            struct ed_append_result r;
            if (ed_log_append(log, batch, len, &r) != ED_OK) return 1;
        }
        ed_storage_tick(st, ed_plat_clock_wall_ms());
        ed_storage_run_completions(st);
    }
    ed_storage_close(st);
    double wrote = now_s() - tw;
    free(batch);
    for (int r = 0; r < runs; r++) {
        long long active = 0, all = 0;
        int n_files = 0;
        if (cold) sync();
        scan_dir(dir, cold, &active, &all, &n_files);
        if (!cold) {
            /* Warm: read everything once so it sits in the page cache. */
            char cmd[4200];
            snprintf(cmd, sizeof cmd, "cat '%s'/*/*.log > /dev/null", dir);
            if (system(cmd) != 0) return 1;
        }
        double t0 = now_s();
        if (ed_storage_open(&cfg, &st) != ED_OK) return 1;
        double t1 = now_s();
        struct ed_storage_stats s;
        ed_storage_stats_get(st, &s);
        ed_storage_close(st);
        printf("mode=recovery cache=%s partitions=%d total_mib=%.1f active_mib=%.1f files=%d "
               "open_ms=%.1f ms_per_gib_total=%.1f ms_per_gib_scanned=%.1f truncated=%llu "
               "write_s=%.1f clean_opens=%llu read_mib=%.1f\n",
               cold ? "cold" : "warm", n_parts, all / 1048576.0, active / 1048576.0, n_files,
               (t1 - t0) * 1000, (t1 - t0) * 1000 / (all / 1073741824.0),
               (t1 - t0) * 1000 / (active / 1073741824.0),
               (unsigned long long)s.n_truncated_recovery, wrote,
               (unsigned long long)s.n_clean_opens, s.len_scanned_recovery / 1048576.0);
    }
    if (!flag(argc, argv, "--keep")) rm_rf(dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: log_bench append|wind|recovery DIR [options]\n");
        return 2;
    }
    ed_log_set_level(ED_LOG_LEVEL_WARN);
    if (strcmp(argv[1], "append") == 0) return run_append(argc, argv, argv[2], false);
    if (strcmp(argv[1], "wind") == 0) return run_append(argc, argv, argv[2], true);
    if (strcmp(argv[1], "recovery") == 0) return run_recovery(argc, argv, argv[2]);
    fprintf(stderr, "log_bench: unknown mode %s\n", argv[1]);
    return 2;
}
