/* Helpers for the storage tests (see log_testutil.h). */
#define _GNU_SOURCE
#include "log_testutil.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "platform/log.h"
#include "storage/batch.h"

char *lt_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/eddy-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        abort();
    }
    return strdup(d);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void lt_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t put_varint(uint8_t *p, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

size_t lt_batch(uint8_t *buf, size_t cap, int n_records, size_t value_len, int64_t base_ts,
                int64_t ts_step, uint8_t fill)
{
    size_t need = 61 + (size_t)n_records * (value_len + 40);
    if (cap < need) return 0;
    memset(buf, 0, 61);
    size_t pos = 61;
    uint8_t body[64];
    for (int i = 0; i < n_records; i++) {
        size_t b = 0;
        body[b++] = 0; /* attributes */
        b += put_varint(body + b, (int64_t)i * ts_step);
        b += put_varint(body + b, i);
        b += put_varint(body + b, -1); /* null key */
        b += put_varint(body + b, (int64_t)value_len);
        size_t rec_len = b + value_len + 1; /* + header count */
        pos += put_varint(buf + pos, (int64_t)rec_len);
        memcpy(buf + pos, body, b);
        pos += b;
        memset(buf + pos, fill + i, value_len);
        pos += value_len;
        buf[pos++] = 0; /* no headers */
    }
    ed_put_be64(buf + 0, 0);
    ed_put_be32(buf + 8, (uint32_t)(pos - 12));
    ed_put_be32(buf + 12, 0);
    buf[16] = 2;
    ed_put_be16(buf + 21, 0);
    ed_put_be32(buf + 23, (uint32_t)(n_records - 1));
    ed_put_be64(buf + 27, (uint64_t)base_ts);
    ed_put_be64(buf + 35, (uint64_t)(base_ts + (int64_t)(n_records - 1) * ts_step));
    ed_put_be64(buf + 43, (uint64_t)-1);
    ed_put_be16(buf + 51, (uint16_t)-1);
    ed_put_be32(buf + 53, (uint32_t)-1);
    ed_put_be32(buf + 57, (uint32_t)n_records);
    ed_put_be32(buf + 17, ed_crc32c(0, buf + 21, pos - 21));
    return pos;
}

void lt_config(struct ed_storage_config *c, const char *dir, bool threaded)
{
    ed_storage_config_default(c);
    c->dir = dir;
    c->use_flusher_thread = threaded;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void lt_wait_flag(ed_storage *st, volatile bool *flag)
{
    double t0 = now_s();
    while (!*flag) {
        ed_storage_run_completions(st);
        ed_storage_tick(st, ed_plat_clock_wall_ms());
        if (*flag) break;
        if (now_s() - t0 > 10) {
            fprintf(stderr, "lt_wait_flag: timed out\n");
            abort();
        }
        usleep(200);
    }
}

void lt_wait_durable_all(ed_storage *st, ed_log *log)
{
    double t0 = now_s();
    while (ed_log_durable_offset(log) < ed_log_end_offset(log)) {
        ed_storage_run_completions(st);
        ed_storage_tick(st, ed_plat_clock_wall_ms());
        if (now_s() - t0 > 10) {
            fprintf(stderr, "lt_wait_durable_all: timed out\n");
            abort();
        }
        usleep(200);
    }
    /* Also let any job in flight (index writes after a roll) finish. */
    for (int i = 0; i < 50; i++) {
        ed_storage_run_completions(st);
        ed_storage_tick(st, ed_plat_clock_wall_ms());
        usleep(200);
    }
}

void lt_part_path(char *out, size_t cap, const char *dir, const char *topic, int p,
                  const char *name)
{
    snprintf(out, cap, "%s/%s-%d/%s", dir, topic, p, name);
}

void lt_seg_name(char *out, size_t cap, int64_t base, const char *suffix)
{
    snprintf(out, cap, "%020lld%s", (long long)base, suffix);
}

int lt_read_back(ed_log *log, uint64_t *len)
{
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    int n = 0;
    uint64_t total = 0;
    int64_t off = ed_log_start_offset(log);
    while (n >= 0 && buf && off < ed_log_end_offset(log)) {
        struct ed_log_slice s;
        if (ed_log_read(log, off, cap, &s) != ED_OK) break;
        if (s.len == 0 || ed_log_slice_copy(&s, buf, cap) != ED_OK) n = -1;
        for (size_t p = 0; n >= 0 && p < s.len; n++) {
            struct ed_batch_info b;
            if (ed_batch_check(buf + p, s.len - p, &b) != ED_OK || b.base_offset < off) {
                n = -1;
                break;
            }
            off = b.base_offset + b.last_offset_delta + 1;
            p += ed_batch_total_len(&b);
        }
        total += s.len;
        ed_log_slice_release(&s);
    }
    if (!buf || off < ed_log_end_offset(log)) n = -1;
    free(buf);
    if (len) *len = total;
    return n;
}

long long lt_file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (long long)st.st_size;
}

bool lt_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int lt_count_suffix(const char *folder, const char *suffix)
{
    DIR *d = opendir(folder);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    size_t k = strlen(suffix);
    while ((e = readdir(d)) != NULL) {
        size_t m = strlen(e->d_name);
        if (m >= k && strcmp(e->d_name + m - k, suffix) == 0) n++;
    }
    closedir(d);
    return n;
}

#define N_LINES 256
static char *lines[N_LINES];
static int n_lines;

static void hook(int level, const char *line)
{
    (void)level;
    if (n_lines < N_LINES) lines[n_lines++] = strdup(line);
}

void lt_capture_logs(void)
{
    lt_release_logs();
    ed_log_rl_reset_all();
    ed_log_set_hook(hook);
}

bool lt_log_contains(const char *needle)
{
    for (int i = 0; i < n_lines; i++)
        if (strstr(lines[i], needle)) return true;
    return false;
}

void lt_release_logs(void)
{
    ed_log_set_hook(NULL);
    for (int i = 0; i < n_lines; i++)
        free(lines[i]);
    n_lines = 0;
}

struct find {
    const char *topic;
    int32_t partition;
    ed_log *log;
};

static void find_cb(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    struct find *f = arg;
    if (partition == f->partition && strcmp(topic, f->topic) == 0) f->log = log;
}

ed_log *lt_find_log(ed_storage *st, const char *topic, int32_t partition)
{
    struct find f = {topic, partition, NULL};
    ed_storage_each_log(st, find_cb, &f);
    return f.log;
}

static void count_log(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    (void)topic, (void)partition, (void)log;
    ++*(int32_t *)arg;
}

int32_t lt_count_logs(ed_storage *st)
{
    int32_t n = 0;
    ed_storage_each_log(st, count_log, &n);
    return n;
}

static void on_turn(ed_timer *tm, void *arg)
{
    struct lt_turns *s = arg;
    int32_t now = lt_count_logs(s->st);
    int32_t change = now > s->last ? now - s->last : s->last - now;
    if (change > s->max_change) s->max_change = change;
    s->last = now;
    s->n_turns++;
    if (s->check) s->check(s->arg);
    if (now == s->want || s->n_turns >= s->limit)
        ed_plat_loop_stop(s->loop);
    else
        ed_plat_timer_start(s->loop, tm, 0, on_turn, s);
}

int lt_turns_run(struct lt_turns *s)
{
    s->last = lt_count_logs(s->st);
    ed_plat_timer_start(s->loop, &s->tm, 0, on_turn, s);
    return ed_plat_loop_run(s->loop);
}

int lt_count_open_files(const char *under, const char *suffix)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    size_t ul = strlen(under), sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[300], target[4096];
        snprintf(p, sizeof p, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(p, target, sizeof target - 1);
        if (len <= 0) continue;
        target[len] = '\0';
        if (strncmp(target, under, ul) == 0 && (size_t)len >= sl &&
            strcmp(target + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

void lt_close_and_remove(ed_storage *st, char *dir)
{
    if (st) ed_storage_close(st);
    lt_rmtree(dir);
    free(dir);
}
