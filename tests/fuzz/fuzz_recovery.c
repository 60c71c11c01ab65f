/* libFuzzer target for the segment and recovery reader, on the simulated
 * platform: the input becomes the active segment of a partition (and, if the
 * first byte says so, its .index and .timeindex, and an older sealed segment
 * before it). Recovery, reads of every offset, lookups by time, a header scan
 * and an append must never crash, and every batch a read returns must be a
 * valid one at the offset asked for.
 *
 * Input: flags byte (1 index, 2 timeindex, 4 older segment, 8 small
 * segments, 16 the bytes are a sealed segment at base 0, with the indexes,
 * followed by an active one), then for each present index a big-endian
 * 16-bit length and its bytes, then the segment bytes. */
#include "platform/platform.h"
#include "platform/sim/sim.h"
#include "storage/batch.h"
#include "storage/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIR      "d"
#define PART_DIR "d/t-0"

static bool take(const uint8_t **data, size_t *size, const uint8_t **out, size_t *out_len)
{
    if (*size < 2) return false;
    size_t n = (size_t)(*data)[0] << 8 | (*data)[1];
    *data += 2;
    *size -= 2;
    if (n > *size) n = *size;
    *out = *data;
    *out_len = n;
    *data += n;
    *size -= n;
    return true;
}

/* A valid batch of one record at base_offset whose offsets run to
 * base_offset + last_delta (as compaction leaves them). */
static size_t make_batch(uint8_t *b, int64_t base_offset, int32_t last_delta, int64_t ts)
{
    static const uint8_t rec[] = {0x0e, 0, 0, 0, 2, 'k', 4, 'v', 'a', 0};
    memset(b, 0, ED_BATCH_HEADER_LEN);
    size_t len = ED_BATCH_HEADER_LEN + sizeof rec;
    ed_put_be64(b, (uint64_t)base_offset);
    ed_put_be32(b + 8, (uint32_t)(len - ED_BATCH_LOG_OVERHEAD));
    b[16] = 2;
    ed_put_be32(b + 23, (uint32_t)last_delta);
    ed_put_be64(b + 27, (uint64_t)ts);
    ed_put_be64(b + 35, (uint64_t)ts);
    ed_put_be64(b + 43, UINT64_MAX);
    ed_put_be16(b + 51, 0xffff);
    ed_put_be32(b + 53, UINT32_MAX);
    ed_put_be32(b + 57, 1);
    memcpy(b + ED_BATCH_HEADER_LEN, rec, sizeof rec);
    ed_put_be32(b + 17, ed_crc32c(0, b + 21, len - 21));
    return len;
}

static void found(void *arg, const char *topic, int32_t partition, ed_log *log)
{
    (void)topic;
    (void)partition;
    *(ed_log **)arg = log;
}

static int on_header(void *arg, const struct ed_batch_info *b)
{
    ++*(int *)arg;
    return b->record_count < 0; /* any answer is fine; stop on odd ones */
}

static void on_durable(void *arg, int status)
{
    *(int *)arg = status == ED_OK ? 1 : 2;
}

/* Everything read must be whole batches. Segments recovery scanned must
 * give CRC-valid batches at the offsets asked for; a sealed segment with
 * index files is trusted as stored (those files are written only after the
 * segment was synced), so for it only the framing is checked. */
static void read_all(ed_log *log, bool trusted)
{
    int64_t off = ed_log_start_offset(log), end = ed_log_end_offset(log);
    for (int n = 0; off < end && n < 100000; n++) {
        /* a read starts at the batch holding off or a later one (offsets of
         * a lost tail leave gaps); inside a slice, offsets follow on */
        bool first = true;
        struct ed_log_slice s;
        if (ed_log_read(log, off, 1 + (size_t)(off % 5000), &s) != ED_OK) return;
        if (s.len == 0) { /* a gap up to the end: then nothing is readable before it */
            if (!trusted && ed_log_read(log, end - 1, 1, &s) == ED_OK && s.len != 0) abort();
            ed_log_slice_release(&s);
            return;
        }
        uint8_t *buf = malloc(s.len);
        if (ed_log_slice_copy(&s, buf, s.len) != ED_OK) abort();
        size_t at = 0;
        int64_t next = off;
        while (at < s.len) {
            struct ed_batch_info b;
            int rc = trusted ? ed_batch_parse_header(buf + at, s.len - at, &b)
                             : ed_batch_check(buf + at, s.len - at, &b);
            if (rc != ED_OK || ed_batch_total_len(&b) > s.len - at) abort();
            int64_t last = b.base_offset + b.last_offset_delta;
            if (!trusted && (first ? last < off : b.base_offset != next)) abort();
            first = false;
            at += ed_batch_total_len(&b);
            next = last + 1;
        }
        free(buf);
        ed_log_slice_release(&s);
        if (next <= off) return; /* trusted bytes need not move forward */
        off = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ed_sim_reset(1);
    ed_sim_log_to(ED_SIM_LOG_NONE);
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    const uint8_t *idx = NULL, *tidx = NULL;
    size_t idx_len = 0, tidx_len = 0;
    bool has_idx = (flags & 1) && take(&data, &size, &idx, &idx_len);
    bool has_tidx = (flags & 2) && take(&data, &size, &tidx, &tidx_len);
    int64_t base = 0;
    ed_plat_dir_make(DIR);
    ed_plat_dir_make(PART_DIR);
    ed_plat_dir_sync(DIR);
    char path[128];
    if (flags & 16) { /* the input is sealed; a one-batch active segment follows */
        uint8_t b[128];
        size_t n = make_batch(b, 1 << 20, 0, 9000);
        snprintf(path, sizeof path, PART_DIR "/%020d.log", 1 << 20);
        ed_sim_file_put(path, b, n);
    } else if (flags & 4) { /* an older sealed segment with offsets 0..99 */
        uint8_t b[128];
        size_t n = make_batch(b, 0, 99, 1000);
        base = 100;
        snprintf(path, sizeof path, PART_DIR "/%020d.log", 0);
        ed_sim_file_put(path, b, n);
    }
    snprintf(path, sizeof path, PART_DIR "/%020lld.log", (long long)base);
    ed_sim_file_put(path, data, size);
    if (has_idx) {
        snprintf(path, sizeof path, PART_DIR "/%020lld.index", (long long)base);
        ed_sim_file_put(path, idx, idx_len);
    }
    if (has_tidx) {
        snprintf(path, sizeof path, PART_DIR "/%020lld.timeindex", (long long)base);
        ed_sim_file_put(path, tidx, tidx_len);
    }

    struct ed_storage_config cfg;
    ed_storage_config_default(&cfg);
    cfg.dir = DIR;
    cfg.use_flusher_thread = false;
    cfg.log.segment_len = (flags & 8) ? 1024 : 1 << 20;
    cfg.log.index_interval_len = 64;
    ed_storage *st = NULL;
    if (ed_storage_open(&cfg, &st) != ED_OK) return 0;
    ed_log *log = NULL;
    ed_storage_each_log(st, found, &log);
    if (log) {
        read_all(log, (flags & 16) != 0);
        int64_t off, ts;
        ed_log_offset_for_time(log, 0, &off, &ts);
        ed_log_offset_for_time(log, 1000 + (int64_t)size, &off, &ts);
        ed_log_max_timestamp(log, &off, &ts);
        int n = 0;
        ed_log_scan(log, ed_log_start_offset(log), on_header, &n);
        /* the recovered log takes an append right after its end */
        uint8_t b[128];
        int64_t end = ed_log_end_offset(log);
        size_t len = make_batch(b, 0, 0, 5000);
        struct ed_append_result res;
        if (ed_log_append(log, b, len, &res) == ED_OK) {
            if (res.base_offset != end) abort();
            int done = 0;
            if (ed_log_wait_durable(log, res.last_offset, on_durable, &done) == ED_OK)
                for (int i = 0; i < 100 && !done; i++) {
                    ed_sim_clock_advance_ms(10);
                    ed_storage_tick(st, ed_plat_clock_wall_ms());
                    ed_storage_run_completions(st);
                }
            read_all(log, (flags & 16) != 0);
        }
    }
    ed_storage_close(st);
    return 0;
}
