/* The verifier of the kill -9 test: recovers the data directory the killed
 * writer left, reads every partition from start to end (each batch must be
 * CRC-valid, at consecutive offsets, and byte for byte the batch of its id),
 * checks that every acknowledged batch ("ack" lines of the writer's output)
 * is there at its acknowledged offsets, and that one more append per
 * partition continues after the recovered end and becomes durable.
 *
 * Usage: posix_verify DIR NEXT_ID ACKFILE...    exit 0 when all holds. */
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

struct seen {
    uint64_t id;
    int part;
    int64_t base;
};

static struct seen *seen;
static size_t n_seen, cap_seen;
static ed_log *logs[CT_FS_PARTS];
static int failures;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "posix_verify: FAIL: " __VA_ARGS__);                                       \
        fputc('\n', stderr);                                                                       \
        failures++;                                                                                \
    } while (0)

static int by_id(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void found_log(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    (void)arg;
    if (strcmp(topic, CT_FS_TOPIC) == 0 && partition >= 0 && partition < CT_FS_PARTS)
        logs[partition] = log;
    else
        FAIL("unexpected log %s-%d", topic, partition);
}

static uint64_t n_batches;

static void scan(int part)
{
    ed_log *log = logs[part];
    int64_t off = ed_log_start_offset(log), end = ed_log_end_offset(log);
    while (off < end) {
        struct ed_log_slice s;
        int rc = ed_log_read(log, off, 1 << 20, &s);
        if (rc != ED_OK) {
            FAIL("part %d: read at %" PRId64 " (end %" PRId64 "): %s", part, off, end,
                 ed_strerror(rc));
            return;
        }
        if (s.len == 0) { /* a gap up to the end: nothing may be readable before it */
            if (ed_log_read(log, end - 1, 1, &s) != ED_OK || s.len != 0)
                FAIL("part %d: empty read at %" PRId64 " but data before end %" PRId64, part, off,
                     end);
            return;
        }
        uint8_t *buf = malloc(s.len);
        rc = ed_log_slice_copy(&s, buf, s.len);
        size_t at = 0;
        while (rc == ED_OK && at < s.len) {
            struct ct_batch b;
            if (!ct_batch_parse(buf + at, s.len - at, &b)) {
                FAIL("part %d: invalid batch served at offset %" PRId64, part, off);
                break;
            }
            /* offsets only grow; a gap is offsets of a lost unsynced tail */
            if (b.last_offset < off || (at > 0 && b.base_offset < off)) {
                FAIL("part %d: batch at %" PRId64 " where %" PRId64 " was next", part,
                     b.base_offset, off);
                break;
            }
            if (!ct_batch_matches(buf + at, b.len, b.base_offset, CT_FS_MAX_RECORDS,
                                  ct_fs_value_cap(b.id)))
                FAIL("part %d: batch id %" PRIu64 " at %" PRId64 " is not what was written", part,
                     b.id, b.base_offset);
            if (n_seen == cap_seen) {
                cap_seen = cap_seen ? cap_seen * 2 : 1024;
                seen = realloc(seen, cap_seen * sizeof *seen);
            }
            seen[n_seen++] = (struct seen){b.id, part, b.base_offset};
            n_batches++;
            at += b.len;
            off = b.last_offset + 1;
        }
        free(buf);
        ed_log_slice_release(&s);
        if (rc != ED_OK || at < s.len) {
            if (rc != ED_OK) FAIL("part %d: slice copy: %s", part, ed_strerror(rc));
            return;
        }
    }
}

static bool done;
static int done_status;

static void on_durable(void *arg, int status)
{
    (void)arg;
    done = true;
    done_status = status;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: posix_verify DIR NEXT_ID ACKFILE...\n");
        return 2;
    }
    uint64_t next_id = strtoull(argv[2], NULL, 10);
    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = argv[1];
    cfg.use_flusher_thread = true;
    cfg.log.segment_len = 256 * 1024;
    cfg.log.index_interval_len = 1024;
    cfg.log.retention_ms = -1; /* batch timestamps are from 2020 */
    ed_storage *st = NULL;
    int rc = ed_storage_open(&cfg, &st);
    if (rc != ED_OK) {
        fprintf(stderr, "posix_verify: FAIL: recovery of %s: %s\n", argv[1], ed_strerror(rc));
        return 1;
    }
    struct ed_storage_stats ss;
    ed_storage_stats_get(st, &ss);
    ed_storage_each_log(st, found_log, NULL);
    for (int p = 0; p < CT_FS_PARTS; p++)
        if (logs[p]) scan(p);
    if (n_seen > 1) qsort(seen, n_seen, sizeof *seen, by_id);

    /* every acknowledged batch is present where it was acknowledged */
    uint64_t n_acked = 0;
    int64_t max_acked[CT_FS_PARTS];
    for (int p = 0; p < CT_FS_PARTS; p++)
        max_acked[p] = -1;
    for (int a = 3; a < argc; a++) {
        FILE *f = fopen(argv[a], "r");
        if (!f) {
            FAIL("cannot read %s", argv[a]);
            continue;
        }
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (!strchr(line, '\n')) break; /* cut by the kill: not a complete ack */
            uint64_t id;
            int part;
            int64_t base, last;
            if (sscanf(line, "ack %" SCNu64 " %d %" SCNd64 " %" SCNd64, &id, &part, &base, &last) !=
                    4 ||
                part < 0 || part >= CT_FS_PARTS) {
                FAIL("bad line in %s: %s", argv[a], line);
                continue;
            }
            n_acked++;
            if (last > max_acked[part]) max_acked[part] = last;
            struct seen key = {id, 0, 0};
            struct seen *s = n_seen ? bsearch(&key, seen, n_seen, sizeof *seen, by_id) : NULL;
            if (!s)
                FAIL("acked batch id %" PRIu64 " (part %d, offset %" PRId64 ") is missing", id,
                     part, base);
            else if (s->part != part || s->base != base)
                FAIL("acked batch id %" PRIu64 " was at part %d offset %" PRId64
                     ", now part %d offset %" PRId64,
                     id, part, base, s->part, s->base);
        }
        fclose(f);
    }

    /* the log takes writes again, after the recovered end */
    for (int p = 0; p < CT_FS_PARTS && failures == 0; p++) {
        if (!logs[p]) {
            if (max_acked[p] >= 0) FAIL("log of part %d with acked batches is gone", p);
            rc = ed_storage_create_log(st, CT_FS_TOPIC, p, &cfg.log, &logs[p]);
            if (rc != ED_OK) {
                FAIL("create log: %s", ed_strerror(rc));
                break;
            }
        }
        size_t len;
        uint8_t *b = ct_batch_build(next_id, CT_FS_MAX_RECORDS, ct_fs_value_cap(next_id), &len);
        next_id++;
        int64_t end = ed_log_end_offset(logs[p]);
        struct ed_append_result res;
        rc = ed_log_append(logs[p], b, len, &res);
        free(b);
        if (rc != ED_OK) {
            FAIL("append after recovery: %s", ed_strerror(rc));
            break;
        }
        if (res.base_offset != end || res.base_offset <= max_acked[p])
            FAIL("part %d: append after recovery got offset %" PRId64 " (end %" PRId64
                 ", acked up to %" PRId64 ")",
                 p, res.base_offset, end, max_acked[p]);
        done = false;
        rc = ed_log_wait_durable(logs[p], res.last_offset, on_durable, NULL);
        for (int i = 0; rc == ED_OK && !done && i < 100000; i++) {
            ed_storage_run_completions(st);
            ed_storage_tick(st, ed_plat_clock_wall_ms());
            struct timespec ts = {0, 100000};
            if (!done) nanosleep(&ts, NULL);
        }
        if (rc != ED_OK || !done || done_status != ED_OK)
            FAIL("durable wait after recovery: %s", ed_strerror(rc ? rc : done_status));
    }
    ed_storage_close(st);
    free(seen);
    printf("posix_verify: %" PRIu64 " acked batches present, %" PRIu64
           " batches read and checked; recovery cut %" PRIu64 " logs (%" PRIu64 " bytes)\n",
           n_acked, n_batches, ss.n_truncated_recovery, ss.len_truncated_recovery);
    return failures ? 1 : 0;
}
