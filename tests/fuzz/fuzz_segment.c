/* libFuzzer target for the segment and index readers: arbitrary bytes become
 * a partition folder on disk (a sealed segment with its .index and
 * .timeindex files, and an active segment), which storage open recovers,
 * then every read path runs over it (reads by offset with several sizes,
 * lookups by time, scans, appends after recovery) and the offline checker
 * runs on it. Input layout: mode byte, u16 index length, index bytes, u16
 * time index length, time index bytes, u16 sealed log length, sealed log
 * bytes, rest = active log bytes. Mode bit 0 patches valid CRCs into every
 * batch-shaped run so that the index and read paths are reached. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/log.h"
#include "storage/batch.h"
#include "storage/check.h"
#include "storage/checkpoint.h"
#include "storage/cleanstop.h"
#include "storage/format.h"
#include "storage/log.h"
#include "storage/log_int.h"

static char root[256], part[320];

/* Durability does not matter here and fsync would dominate the run time:
 * the target's own definitions replace the C library's. */
int fdatasync(int fd)
{
    (void)fd;
    return 0;
}

int fsync(int fd)
{
    (void)fd;
    return 0;
}

static void put_file(const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", part, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) abort();
    if (n && write(fd, p, n) != (ssize_t)n) abort();
    close(fd);
}

static void clear(void)
{
    static const char *const names[] = {
        "00000000000000000000.log",       "00000000000000000000.index",
        "00000000000000000000.timeindex", "00000000000000001000.log",
        "00000000000000001000.index",     "00000000000000001000.timeindex",
        "00000000000000000000.index.tmp", "00000000000000000000.timeindex.tmp"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", part, names[i]);
        unlink(path);
    }
    /* What the previous input's clean stop left: the clean-shutdown marker
     * and the recovery points describe that input's files, and would make
     * this one's be trusted without a scan. */
    static const char *const root_names[] = {ED_CHECKPOINT_START, ED_CHECKPOINT_RECOVERY,
                                             ED_CLEANSTOP_FILE};
    for (size_t i = 0; i < sizeof root_names / sizeof root_names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", root, root_names[i]);
        unlink(path);
    }
}

/* Gives every batch-shaped run a correct CRC (lengths are left as they are). */
static void patch_crcs(uint8_t *p, size_t n)
{
    size_t pos = 0;
    while (n - pos >= ED_BATCH_HEADER_LEN) {
        uint32_t length = ed_get_be32(p + pos + ED_BATCH_OFF_LENGTH);
        size_t total = (size_t)length + ED_BATCH_LOG_OVERHEAD;
        if (length < ED_BATCH_MIN_LENGTH || total > n - pos) break;
        p[pos + ED_BATCH_OFF_MAGIC] = ED_BATCH_MAGIC;
        ed_put_be32(p + pos + ED_BATCH_OFF_CRC, ed_crc32c(0, p + pos + ED_BATCH_OFF_ATTRIBUTES,
                                                          total - ED_BATCH_OFF_ATTRIBUTES));
        pos += total;
    }
}

static bool take(const uint8_t **d, size_t *n, const uint8_t **out, size_t *len)
{
    if (*n < 2) return false;
    size_t k = (size_t)((*d)[0] << 8 | (*d)[1]);
    *d += 2;
    *n -= 2;
    if (k > *n) k = *n;
    *out = *d;
    *len = k;
    *d += k;
    *n -= k;
    return true;
}

static int count_cb(void *arg, const struct ed_batch_info *b)
{
    (void)b;
    return ++*(int *)arg > 100000;
}

static void each(void *arg, const char *t, int32_t p, ed_log *l)
{
    (void)t;
    (void)p;
    *(ed_log **)arg = l;
}

static void quiet(int level, const char *line)
{
    (void)level;
    (void)line;
}

static void print_nothing(void *arg, bool problem, const char *line)
{
    (void)arg;
    (void)problem;
    (void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(root, sizeof root, "%s/eddy-fuzz-segment-%d", base, (int)getpid());
        snprintf(part, sizeof part, "%s/t-0", root);
        mkdir(root, 0755);
        mkdir(part, 0755);
        ed_log_set_level(ED_LOG_LEVEL_ERR);
        ed_log_set_hook(quiet);
    }
    if (size < 1) return 0;
    uint8_t mode = data[0];
    const uint8_t *d = data + 1, *idx = NULL, *tidx = NULL, *seg = NULL;
    size_t n = size - 1, idx_len = 0, tidx_len = 0, seg_len = 0;
    if (!take(&d, &n, &idx, &idx_len) || !take(&d, &n, &tidx, &tidx_len) ||
        !take(&d, &n, &seg, &seg_len))
        return 0;
    static uint8_t a[65536], b[65536];
    memcpy(a, seg, seg_len);
    memcpy(b, d, n);
    if (mode & 1) {
        patch_crcs(a, seg_len);
        patch_crcs(b, n);
    }
    clear();
    put_file("00000000000000000000.log", a, seg_len);
    if (!(mode & 2)) {
        put_file("00000000000000000000.index", idx, idx_len);
        put_file("00000000000000000000.timeindex", tidx, tidx_len);
    }
    put_file("00000000000000001000.log", b, n);

    if (mode & 4) {
        struct ed_check_report rep;
        ed_check_path(root, false, print_nothing, NULL, &rep);
    }

    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = root;
    cfg.use_flusher_thread = false;
    cfg.log.index_interval_len = mode & 8 ? 0 : 64;
    ed_storage *st;
    if (ed_storage_open(&cfg, &st) != ED_OK) return 0;
    ed_log *log = NULL; /* the only log in the folder */
    ed_storage_each_log(st, each, &log);
    if (log) {
        int64_t start = ed_log_start_offset(log), end = ed_log_end_offset(log);
        static uint8_t out[65536 + 4096];
        /* Walk the log slice by slice (small and large reads alternate),
         * and read from inside each batch too. */
        int64_t off = start;
        for (int step = 0; off < end && step < 64; step++) {
            struct ed_log_slice s;
            size_t max = step & 1 ? 65536 : 1;
            if (ed_log_read(log, off, max, &s) != ED_OK || s.len == 0) {
                off++;
                continue;
            }
            int64_t next = off + 1;
            /* Slices of a segment trusted by its index files: the entries
             * are checked one by one, not the whole chain of batches, so
             * crafted files can make them end off a batch boundary. */
            bool trusted = s.seg->index_on_disk;
            if (s.len <= sizeof out && ed_log_slice_copy(&s, out, sizeof out) == ED_OK) {
                /* Whatever a reader gets from a scanned segment is whole
                 * batches, never a part of one. */
                size_t p = 0;
                while (p + ED_BATCH_HEADER_LEN <= s.len) {
                    struct ed_batch_info bi;
                    if (ed_batch_parse_header(out + p, s.len - p, &bi) != ED_OK) {
                        if (trusted) break;
                        abort();
                    }
                    p += ed_batch_total_len(&bi);
                    next = bi.base_offset + bi.last_offset_delta + 1;
                }
                if (p != s.len && !trusted) abort();
            }
            ed_log_slice_release(&s);
            if (ed_log_read(log, off + 1 < end ? off + 1 : off, 1, &s) == ED_OK)
                ed_log_slice_release(&s);
            off = next > off ? next : off + 1;
        }
        int64_t o, t;
        ed_log_max_timestamp(log, &o, &t);
        ed_log_offset_for_time(log, t, &o, &t);
        ed_log_offset_for_time(log, 0, &o, &t);
        int cnt = 0;
        ed_log_scan(log, start, count_cb, &cnt);
        if (mode & 16) {
            uint8_t batch[ED_BATCH_HEADER_LEN + 16] = {0};
            ed_put_be32(batch + ED_BATCH_OFF_LENGTH, sizeof batch - ED_BATCH_LOG_OVERHEAD);
            batch[ED_BATCH_OFF_MAGIC] = 2;
            ed_put_be32(batch + ED_BATCH_OFF_RECORD_COUNT, 0);
            ed_put_be32(batch + ED_BATCH_OFF_CRC,
                        ed_crc32c(0, batch + ED_BATCH_OFF_ATTRIBUTES,
                                  sizeof batch - ED_BATCH_OFF_ATTRIBUTES));
            struct ed_append_result r;
            if (ed_log_append(log, batch, sizeof batch, &r) == ED_OK && r.base_offset != end)
                abort(); /* offsets continue after recovery */
        }
        ed_storage_tick(st, ed_plat_clock_wall_ms());
    }
    ed_storage_close(st);
    return 0;
}
