/* Test helper: writes a partition log with Eddy's storage engine, for
 * checking it with other tools (Apache Kafka's kafka-dump-log, eddy check).
 *
 *   mklog DIR TOPIC [--batches N] [--records R] [--value-bytes V]
 *         [--segment-bytes B] [--interval I] [--compression none|gzip|snappy|lz4|zstd]
 *         [--log-append-time] [--write-ahead auto|always|never]
 *
 * Record i (offset i) has key "key-<i>", value "value-<i>-" padded to V
 * bytes with letters, one header "h" = "<i>", timestamp 1700000000000 + i.
 * Prints "segments <n>" and "end_offset <n>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform/platform.h"
#include "storage/batch.h"
#include "storage/log.h"

static int codec(const char *name)
{
    static const char *const n[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, n[i]) == 0) return i;
    return -1;
}

struct counter {
    int n;
};

static void count_cb(void *arg, const char *topic, int32_t p, ed_log *log)
{
    (void)topic;
    (void)p;
    (void)log;
    ((struct counter *)arg)->n++;
}

static int count_segments(void *arg, const char *name, bool is_dir)
{
    size_t n = strlen(name);
    if (!is_dir && n > 4 && strcmp(name + n - 4, ".log") == 0) (*(int *)arg)++;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mklog DIR TOPIC [options]\n");
        return 2;
    }
    const char *dir = argv[1], *topic = argv[2];
    long n_batches = 100, n_records = 5, value_len = 40, interval = 4096;
    long long segment_len = 1 << 20;
    int comp = 0, write_ahead = ED_WRITE_AHEAD_AUTO;
    bool lat = false;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--log-append-time") == 0) {
            lat = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "mklog: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--batches") == 0)
            n_batches = atol(v);
        else if (strcmp(a, "--records") == 0)
            n_records = atol(v);
        else if (strcmp(a, "--value-bytes") == 0)
            value_len = atol(v);
        else if (strcmp(a, "--segment-bytes") == 0)
            segment_len = atoll(v);
        else if (strcmp(a, "--interval") == 0)
            interval = atol(v);
        else if (strcmp(a, "--compression") == 0)
            comp = codec(v);
        else if (strcmp(a, "--write-ahead") == 0)
            write_ahead = strcmp(v, "always") == 0  ? ED_WRITE_AHEAD_ALWAYS
                          : strcmp(v, "never") == 0 ? ED_WRITE_AHEAD_NEVER
                                                    : ED_WRITE_AHEAD_AUTO;
        else {
            fprintf(stderr, "mklog: unknown option %s\n", a);
            return 2;
        }
    }
    if (comp < 0 || n_batches < 1 || n_records < 1 || value_len < 16 || value_len > 100000) {
        fprintf(stderr, "mklog: bad option value\n");
        return 2;
    }

    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = dir;
    cfg.use_flusher_thread = false;
    cfg.log.retention_ms = -1;
    cfg.write_ahead = write_ahead;
    ed_storage *st;
    ed_log *log;
    if (ed_storage_open(&cfg, &st) != ED_OK) return 1;
    struct ed_log_config lc = cfg.log;
    lc.segment_len = (uint64_t)segment_len;
    lc.index_interval_len = (uint32_t)interval;
    lc.log_append_time = lat;
    lc.max_message_len = 64 << 20;
    int rc = ed_storage_create_log(st, topic, 0, &lc, &log);
    if (rc != ED_OK) {
        fprintf(stderr, "mklog: create: %s\n", ed_strerror(rc));
        return 1;
    }
    ed_batch_builder *b;
    if (ed_batch_builder_new(64 << 20, &b) != ED_OK) return 1;
    char *value = malloc((size_t)value_len);
    long long offset = 0;
    for (long k = 0; k < n_batches; k++) {
        int64_t ts0 = 1700000000000LL + offset;
        rc = ed_batch_builder_begin(b, comp, ts0, -1, -1, -1);
        for (long r = 0; r < n_records && rc == ED_OK; r++, offset++) {
            char key[32], hv[32];
            int kl = snprintf(key, sizeof key, "key-%lld", offset);
            int hl = snprintf(hv, sizeof hv, "%lld", offset);
            int vl = snprintf(value, (size_t)value_len, "value-%lld-", offset);
            for (long c = vl; c < value_len; c++)
                value[c] = (char)('a' + (offset + c) % 26);
            struct ed_record_header h = {(const uint8_t *)"h", 1, (const uint8_t *)hv, hl};
            rc = ed_batch_builder_add(b, key, (size_t)kl, value, (size_t)value_len, &h, 1,
                                      1700000000000LL + offset);
        }
        uint8_t *out;
        size_t out_len;
        struct ed_append_result res;
        if (rc == ED_OK) rc = ed_batch_builder_finish(b, &out, &out_len);
        if (rc == ED_OK) rc = ed_log_append(log, out, out_len, &res);
        if (rc != ED_OK) {
            fprintf(stderr, "mklog: batch %ld: %s\n", k, ed_strerror(rc));
            return 1;
        }
        ed_storage_tick(st, ed_plat_clock_wall_ms());
    }
    /* Flush, write the sealed segments' indexes, close. */
    for (int i = 0; i < 3; i++)
        ed_storage_tick(st, ed_plat_clock_wall_ms());
    long long end = (long long)ed_log_end_offset(log);
    struct counter c = {0};
    ed_storage_each_log(st, count_cb, &c);
    ed_batch_builder_free(b);
    free(value);
    ed_storage_close(st);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-0", dir, topic);
    int n_segs = 0;
    ed_plat_dir_list(path, count_segments, &n_segs);
    printf("segments %d\nend_offset %lld\n", n_segs, end);
    return c.n == 1 ? 0 : 1;
}
