/* The writer of the kill -9 test, on the real file system: appends batches
 * to CT_FS_PARTS partitions with durable waits (flusher thread, group commit)
 * and prints "ack <id> <partition> <base> <last>" on stdout only after the
 * wait of that batch completed with ED_OK. It runs until it is killed (or
 * for at most a minute, then closes cleanly).
 *
 * Usage: posix_writer DIR FIRST_ID SEED */
#define _POSIX_C_SOURCE 200809L
#include "platform/log.h"
#include "platform/platform.h"
#include "storage/log.h"

#include "common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_INFLIGHT 8

struct pending {
    bool used, done;
    int status;
    int part;
    uint64_t ids[4];
    int64_t bases[4], lasts[4];
    int n;
};

static struct pending inflight[MAX_INFLIGHT];
static ed_log *logs[CT_FS_PARTS];
static uint64_t rng;

static uint64_t rnd(uint64_t n)
{
    rng = ct_mix(rng);
    return rng % n;
}

static void on_durable(void *arg, int status)
{
    struct pending *p = arg;
    p->done = true;
    p->status = status;
    if (status != ED_OK) return;
    for (int i = 0; i < p->n; i++)
        printf("ack %" PRIu64 " %d %" PRId64 " %" PRId64 "\n", p->ids[i], p->part, p->bases[i],
               p->lasts[i]);
    fflush(stdout);
}

static void found_log(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    (void)arg;
    if (strcmp(topic, CT_FS_TOPIC) == 0 && partition >= 0 && partition < CT_FS_PARTS)
        logs[partition] = log;
}

static void nap(void)
{
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: posix_writer DIR FIRST_ID SEED\n");
        return 2;
    }
    uint64_t next_id = strtoull(argv[2], NULL, 10);
    rng = strtoull(argv[3], NULL, 10);
    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = argv[1];
    cfg.use_flusher_thread = true;
    cfg.log.segment_len = 256 * 1024;
    cfg.log.index_interval_len = 1024;
    cfg.log.retention_ms = -1; /* batch timestamps are from 2020 */
    /* a tiny file cache: sealed segments are closed and reopened beside
     * the flusher thread */
    cfg.max_open_segments = 2;
    ed_storage *st = NULL;
    int rc = ed_storage_open(&cfg, &st);
    if (rc != ED_OK) {
        fprintf(stderr, "posix_writer: open %s: %s\n", argv[1], ed_strerror(rc));
        return 1;
    }
    ed_storage_each_log(st, found_log, NULL);
    for (int p = 0; p < CT_FS_PARTS; p++) {
        if (logs[p]) continue;
        rc = ed_storage_create_log(st, CT_FS_TOPIC, p, &cfg.log, &logs[p]);
        if (rc != ED_OK) {
            fprintf(stderr, "posix_writer: create log: %s\n", ed_strerror(rc));
            return 1;
        }
    }
    uint64_t deadline = ed_plat_clock_mono_ms() + 60000;
    while (ed_plat_clock_mono_ms() < deadline) {
        /* a round of concurrent appends, each with its durable wait */
        int n_round = 1 + (int)rnd(MAX_INFLIGHT);
        for (int k = 0; k < n_round; k++) {
            struct pending *p = &inflight[k];
            memset(p, 0, sizeof *p);
            p->used = true;
            p->part = (int)rnd(CT_FS_PARTS);
            p->n = 1 + (rnd(4) == 0 ? (int)rnd(3) : 0);
            uint8_t *buf = NULL;
            size_t len = 0;
            for (int i = 0; i < p->n; i++) {
                p->ids[i] = next_id++;
                size_t blen;
                uint8_t *b =
                    ct_batch_build(p->ids[i], CT_FS_MAX_RECORDS, ct_fs_value_cap(p->ids[i]), &blen);
                buf = realloc(buf, len + blen);
                memcpy(buf + len, b, blen);
                len += blen;
                free(b);
            }
            struct ed_append_result res;
            rc = ed_log_append(logs[p->part], buf, len, &res);
            if (rc != ED_OK) {
                fprintf(stderr, "posix_writer: append: %s\n", ed_strerror(rc));
                return 1;
            }
            size_t at = 0;
            for (int i = 0; i < p->n; i++) {
                struct ct_batch b;
                if (!ct_batch_parse(buf + at, len - at, &b)) {
                    fprintf(stderr, "posix_writer: append broke the caller's batch\n");
                    return 1;
                }
                p->bases[i] = b.base_offset;
                p->lasts[i] = b.last_offset;
                at += b.len;
            }
            free(buf);
            rc = ed_log_wait_durable(logs[p->part], res.last_offset, on_durable, p);
            if (rc != ED_OK) {
                fprintf(stderr, "posix_writer: wait_durable: %s\n", ed_strerror(rc));
                return 1;
            }
        }
        for (;;) {
            ed_storage_run_completions(st);
            int n_done = 0;
            for (int k = 0; k < n_round; k++) {
                if (!inflight[k].done) continue;
                if (inflight[k].status != ED_OK) {
                    fprintf(stderr, "posix_writer: durable wait failed: %s\n",
                            ed_strerror(inflight[k].status));
                    return 1;
                }
                n_done++;
            }
            if (n_done == n_round) break;
            ed_storage_tick(st, ed_plat_clock_wall_ms());
            nap();
        }
    }
    ed_storage_close(st);
    return 0;
}
