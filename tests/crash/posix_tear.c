/* Torn tails and bit flips in real segment files: builds a data directory
 * once (clean close), then for each iteration copies it, damages the active
 * segment of some partitions (cut at a random length, random bit flips,
 * zeroed ranges, trailing garbage or zeros) and checks that recovery keeps
 * exactly the valid batches before the first bad one, reports the bytes it
 * dropped (stats and a log line naming the count) unless only zeros follow
 * them (blocks written ahead: kept, not damage), serves only intact batches
 * at their offsets, and takes appends after the recovered end.
 *
 * Usage: posix_tear WORKDIR ITERATIONS SEED */
#define _POSIX_C_SOURCE 200809L
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "storage/log.h"

#include "common.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng;
static uint64_t next_id = 1;
static int failures;
static char log_lines[1 << 16];
static size_t log_len;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "posix_tear: FAIL: " __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                                       \
        failures++;                                                                                \
    } while (0)

static uint64_t rnd(uint64_t n)
{
    rng = ct_mix(rng);
    return n ? rng % n : 0;
}

static void hook(int level, const char *line)
{
    (void)level;
    size_t n = strlen(line);
    if (log_len + n < sizeof log_lines) {
        memcpy(log_lines + log_len, line, n);
        log_len += n;
        log_lines[log_len] = '\0';
    }
}

/* True if text holds n as a whole number (not part of a longer one). */
static bool names_number(const char *text, uint64_t n)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, n);
    size_t k = strlen(num);
    for (const char *t = strstr(text, num); t; t = strstr(t + 1, num)) {
        bool left = t == text || t[-1] < '0' || t[-1] > '9';
        bool right = t[k] < '0' || t[k] > '9';
        if (left && right) return true;
    }
    return false;
}

/* ---- plain file helpers ---- */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

static void spill(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, len, f) != len) {
        fprintf(stderr, "posix_tear: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static void copy_tree(const char *from, const char *to)
{
    mkdir(to, 0755);
    DIR *d = opendir(from);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        /* The damage models what a crash does to bytes no recovery point
         * covers yet (below one, recovery checks only the framing), and a
         * crash leaves no clean-shutdown marker. */
        if (strcmp(e->d_name, "recovery-point-offset-checkpoint") == 0 ||
            strcmp(e->d_name, "eddy-clean-shutdown") == 0)
            continue;
        char a[4096], b[4096];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        struct stat st;
        if (stat(a, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            copy_tree(a, b);
        } else {
            size_t len;
            uint8_t *p = slurp(a, &len);
            spill(b, p, len);
            free(p);
        }
    }
    closedir(d);
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char a[4096];
            snprintf(a, sizeof a, "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(a, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(a);
            else
                unlink(a);
        }
        closedir(d);
    }
    rmdir(path);
}

/* The active segment: the .log file with the highest base offset. */
static bool active_segment(const char *part_dir, char *path, size_t path_len, int64_t *base)
{
    DIR *d = opendir(part_dir);
    if (!d) return false;
    char best[64] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n == 24 && strcmp(e->d_name + 20, ".log") == 0 && strcmp(e->d_name, best) > 0)
            memcpy(best, e->d_name, n + 1);
    }
    closedir(d);
    if (!best[0]) return false;
    snprintf(path, path_len, "%s/%s", part_dir, best);
    *base = (int64_t)strtoll(best, NULL, 10);
    return true;
}

/* ---- storage helpers ---- */
static ed_log *logs[CT_FS_PARTS];

static void found_log(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    (void)arg;
    if (strcmp(topic, CT_FS_TOPIC) == 0 && partition >= 0 && partition < CT_FS_PARTS)
        logs[partition] = log;
}

static int open_dir(const char *dir, ed_storage **st)
{
    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = dir;
    cfg.use_flusher_thread = true;
    cfg.log.segment_len = 64 * 1024;
    cfg.log.index_interval_len = 1024;
    cfg.log.retention_ms = -1; /* batch timestamps are from 2020 */
    memset(logs, 0, sizeof logs);
    int rc = ed_storage_open(&cfg, st);
    if (rc != ED_OK) return rc;
    ed_storage_each_log(*st, found_log, NULL);
    for (int p = 0; p < CT_FS_PARTS; p++)
        if (!logs[p]) {
            rc = ed_storage_create_log(*st, CT_FS_TOPIC, p, &cfg.log, &logs[p]);
            if (rc != ED_OK) return rc;
        }
    return ED_OK;
}

static int64_t append_one(ed_log *log)
{
    size_t len;
    uint8_t *b = ct_batch_build(next_id, CT_FS_MAX_RECORDS, ct_fs_value_cap(next_id), &len);
    next_id++;
    struct ed_append_result res;
    int rc = ed_log_append(log, b, len, &res);
    free(b);
    if (rc != ED_OK) {
        FAIL("append: %s", ed_strerror(rc));
        return -1;
    }
    return res.base_offset;
}

/* Reads the whole partition: intact batches at consecutive offsets. */
static void read_all(int part, int64_t want_end)
{
    ed_log *log = logs[part];
    int64_t off = ed_log_start_offset(log), end = ed_log_end_offset(log);
    if (want_end >= 0 && end != want_end)
        FAIL("part %d: end offset %" PRId64 " after recovery, expected %" PRId64, part, end,
             want_end);
    while (off < end) {
        struct ed_log_slice s;
        int rc = ed_log_read(log, off, 100000, &s);
        if (rc != ED_OK || s.len == 0) {
            FAIL("part %d: read at %" PRId64 ": %s", part, off, ed_strerror(rc));
            return;
        }
        uint8_t *buf = malloc(s.len);
        rc = ed_log_slice_copy(&s, buf, s.len);
        size_t at = 0;
        while (rc == ED_OK && at < s.len) {
            struct ct_batch b;
            if (!ct_batch_parse(buf + at, s.len - at, &b) || b.base_offset != off ||
                !ct_batch_matches(buf + at, b.len, off, CT_FS_MAX_RECORDS, ct_fs_value_cap(b.id))) {
                FAIL("part %d: bad batch served at offset %" PRId64, part, off);
                free(buf);
                ed_log_slice_release(&s);
                return;
            }
            at += b.len;
            off = b.last_offset + 1;
        }
        free(buf);
        ed_log_slice_release(&s);
        if (rc != ED_OK) {
            FAIL("slice copy: %s", ed_strerror(rc));
            return;
        }
    }
}

static bool waited;
static void on_durable(void *arg, int status)
{
    (void)arg;
    if (status != ED_OK) FAIL("durable wait: %s", ed_strerror(status));
    waited = true;
}

static void build_base(const char *dir)
{
    ed_storage *st;
    int rc = open_dir(dir, &st);
    if (rc != ED_OK) {
        fprintf(stderr, "posix_tear: open %s: %s\n", dir, ed_strerror(rc));
        exit(1);
    }
    int n = 150 + (int)rnd(150);
    for (int i = 0; i < n; i++)
        append_one(logs[rnd(CT_FS_PARTS)]);
    ed_storage_close(st);
}

/* Damages bytes p[0..*len) in place; returns a short description. */
static const char *damage(uint8_t *p, size_t *len, size_t cap)
{
    uint64_t kind = rnd(6);
    size_t n = *len;
    if (kind == 0 || (kind == 1 && n > 0)) { /* torn tail */
        *len = (size_t)rnd(n + 1);
        if (kind == 1)
            for (int i = 0; i < 3 && *len > 0; i++)
                p[rnd(*len)] ^= (uint8_t)(1u << rnd(8));
        return kind == 0 ? "cut" : "cut+flips";
    }
    if (kind == 2 && n > 0) { /* one flipped bit, anywhere */
        p[rnd(n)] ^= (uint8_t)(1u << rnd(8));
        return "flip";
    }
    if (kind == 3 && n > 0) { /* a zeroed range, as a lost page */
        size_t at = (size_t)rnd(n), k = ED_MIN(n - at, (size_t)(1 + rnd(4096)));
        memset(p + at, 0, k);
        return "zeros";
    }
    if (kind == 4 && n > 0) { /* a flip in the first bytes of a header */
        size_t at = 0, pick = (size_t)rnd(8);
        struct ct_batch b;
        for (size_t i = 0; i < pick && ct_batch_parse(p + at, n - at, &b); i++)
            at += b.len;
        if (at < n) p[at + rnd(ED_MIN((size_t)61, n - at))] ^= (uint8_t)(1u << rnd(8));
        return "header flip";
    }
    /* garbage or zeros after the last batch */
    size_t extra = ED_MIN(cap - n, (size_t)(1 + rnd(3000)));
    bool zeros = rnd(2);
    for (size_t i = 0; i < extra; i++)
        p[n + i] = zeros ? 0 : (uint8_t)rnd(256);
    *len = n + extra;
    return zeros ? "zero tail" : "garbage tail";
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: posix_tear WORKDIR ITERATIONS SEED\n");
        return 2;
    }
    const char *work = argv[1];
    int iterations = atoi(argv[2]);
    rng = strtoull(argv[3], NULL, 10);
    char base[4096], dir[4096];
    snprintf(base, sizeof base, "%s/base", work);
    snprintf(dir, sizeof dir, "%s/dir", work);
    remove_tree(base);
    mkdir(work, 0755);
    build_base(base);
    ed_log_set_hook(hook);
    uint64_t n_dropped_total = 0, n_truncations = 0;
    for (int it = 0; it < iterations && failures == 0; it++) {
        remove_tree(dir);
        copy_tree(base, dir);
        int64_t want_end[CT_FS_PARTS];
        uint64_t want_dropped = 0;
        uint64_t want_truncated = 0;
        const char *what[CT_FS_PARTS] = {"", "", ""};
        uint64_t drop[CT_FS_PARTS] = {0};
        for (int part = 0; part < CT_FS_PARTS; part++) {
            want_end[part] = -1;
            if (rnd(3) == 0 && part != 0) continue; /* leave some partitions alone */
            char pdir[4200], seg[4400];
            snprintf(pdir, sizeof pdir, "%s/%s-%d", dir, CT_FS_TOPIC, part);
            int64_t seg_base;
            if (!active_segment(pdir, seg, sizeof seg, &seg_base)) continue;
            size_t len;
            uint8_t *p = slurp(seg, &len);
            size_t cap = len + 4096;
            p = realloc(p, cap);
            what[part] = damage(p, &len, cap);
            spill(seg, p, len);
            /* what recovery must keep: valid batches at consecutive offsets */
            size_t good = 0;
            int64_t next = seg_base;
            struct ct_batch b;
            while (ct_batch_parse(p + good, len - good, &b) && b.base_offset == next) {
                good += b.len;
                next = b.last_offset + 1;
            }
            want_end[part] = next;
            /* Zeros alone after the last batch are blocks written ahead:
             * kept for the next appends, neither cut nor reported. */
            bool zeros = true;
            for (size_t i = good; i < len && zeros; i++)
                zeros = p[i] == 0;
            if (good < len && !zeros) {
                drop[part] = len - good;
                want_dropped += len - good;
                want_truncated++;
            }
            free(p);
        }
        log_len = 0;
        log_lines[0] = '\0';
        ed_storage *st;
        int rc = open_dir(dir, &st);
        if (rc != ED_OK) {
            FAIL("iteration %d: recovery failed: %s", it, ed_strerror(rc));
            break;
        }
        struct ed_storage_stats ss;
        ed_storage_stats_get(st, &ss);
        if (ss.len_truncated_recovery != want_dropped || ss.n_truncated_recovery != want_truncated)
            FAIL("iteration %d (%s/%s/%s): recovery dropped %" PRIu64 " bytes in %" PRIu64
                 " logs, expected %" PRIu64 " in %" PRIu64,
                 it, what[0], what[1], what[2], ss.len_truncated_recovery, ss.n_truncated_recovery,
                 want_dropped, want_truncated);
        for (int part = 0; part < CT_FS_PARTS; part++)
            if (drop[part] > 0 && !names_number(log_lines, drop[part]))
                FAIL("iteration %d: no log line names the %" PRIu64
                     " bytes dropped from part %d:\n%s",
                     it, drop[part], part, log_lines);
        n_dropped_total += ss.len_truncated_recovery;
        n_truncations += ss.n_truncated_recovery;
        for (int part = 0; part < CT_FS_PARTS; part++)
            read_all(part, want_end[part]);
        for (int part = 0; part < CT_FS_PARTS; part++) {
            int64_t end = ed_log_end_offset(logs[part]);
            int64_t got = append_one(logs[part]);
            if (got != end)
                FAIL("part %d: append after recovery at %" PRId64 ", end %" PRId64, part, got, end);
            waited = false;
            if (ed_log_wait_durable(logs[part], got, on_durable, NULL) == ED_OK)
                for (int i = 0; i < 100000 && !waited; i++) {
                    ed_storage_run_completions(st);
                    ed_storage_tick(st, ed_plat_clock_wall_ms());
                    if (!waited) nanosleep(&(struct timespec){0, 100000}, NULL);
                }
            if (!waited) FAIL("durable wait after recovery did not complete");
        }
        ed_storage_close(st);
        /* a second recovery finds nothing more to cut */
        rc = open_dir(dir, &st);
        if (rc != ED_OK) {
            FAIL("iteration %d: second open: %s", it, ed_strerror(rc));
            break;
        }
        ed_storage_stats_get(st, &ss);
        if (ss.n_truncated_recovery != 0) FAIL("iteration %d: second recovery cut again", it);
        for (int part = 0; part < CT_FS_PARTS; part++)
            read_all(part, -1);
        ed_storage_close(st);
    }
    remove_tree(dir);
    remove_tree(base);
    printf("posix_tear: %d iterations, recovery cut %" PRIu64 " torn logs, %" PRIu64
           " bytes dropped and reported\n",
           iterations, n_truncations, n_dropped_total);
    return failures ? 1 : 0;
}
