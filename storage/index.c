/* A segment's sparse indexes in Kafka's formats: .index (8-byte entries:
 * relative offset int32, position int32) and .timeindex (12-byte entries:
 * timestamp int64, relative offset int32), big-endian, one entry every
 * index.interval.bytes. The active segment's indexes live in memory and are
 * written once when it rolls (tmp file, fsync, rename); sealed segments are
 * looked up from their files, which are checked before first use and
 * rebuilt from the log when they fail a check. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "index"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/segment.h"

#define IO_CHUNK 4096

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) return ED_OK;
    uint64_t n = *cap ? (uint64_t)*cap * 2 : 64;
    if (n < need) n = need;
    if (n > UINT32_MAX / 2) return ED_ERR_NOMEM;
    void *p = ed_realloc(*arr, (size_t)n * elem);
    if (!p) return ED_ERR_NOMEM;
    *arr = p;
    *cap = (uint32_t)n;
    return ED_OK;
}

int ed_index_reserve(struct ed_index *ix, uint32_t n)
{
    if (n > UINT32_MAX / 4) return ED_ERR_NOMEM;
    int rc = grow((void **)&ix->off, &ix->cap_off, ix->n_off + n, sizeof *ix->off);
    if (rc == ED_OK) /* one more time entry for the final one at roll */
        rc = grow((void **)&ix->time, &ix->cap_time, ix->n_time + n + 1, sizeof *ix->time);
    return rc;
}

static void time_maybe_append(ed_segment *seg)
{
    struct ed_index *ix = &seg->idx;
    int64_t last_ts = ix->n_time ? ix->time[ix->n_time - 1].ts : -1;
    if (seg->max_ts <= last_ts) return;
    if (ix->n_time == ix->cap_time &&
        grow((void **)&ix->time, &ix->cap_time, ix->n_time + 1, sizeof *ix->time) != ED_OK) {
        ED_LOG_WARN_RL("%s.timeindex: no memory for an entry; lookups by time scan further",
                       seg->path);
        return;
    }
    ix->time[ix->n_time].ts = seg->max_ts;
    ix->time[ix->n_time].rel = (uint32_t)(seg->max_ts_off - seg->base_offset);
    ix->n_time++;
}

void ed_index_note_batch(ed_segment *seg, const struct ed_batch_info *b, uint64_t pos,
                         uint32_t interval)
{
    struct ed_index *ix = &seg->idx;
    int64_t last = b->base_offset + b->last_offset_delta;
    if (pos == 0) seg->first_ts = b->max_timestamp;
    if (b->max_timestamp > seg->max_ts) {
        seg->max_ts = b->max_timestamp;
        seg->max_ts_off = last;
    }
    /* Kafka's rule: an entry for the batch that starts after more than
     * interval bytes went by since the last entry. Entries name the batch's
     * last offset, which kafka-dump-log checks. */
    if (ix->len_since_entry > interval) {
        ED_ASSERT(ix->n_off < ix->cap_off);
        ix->off[ix->n_off].rel = (uint32_t)(last - seg->base_offset);
        ix->off[ix->n_off].pos = (uint32_t)pos;
        ix->n_off++;
        time_maybe_append(seg);
        ix->len_since_entry = 0;
    }
    ix->len_since_entry += ed_batch_total_len(b);
    seg->next_offset = last + 1;
}

void ed_index_seal(ed_segment *seg)
{
    /* Like Kafka at roll: the segment's largest timestamp always gets an
     * entry, so retention and MAX_TIMESTAMP can read it from the file. */
    time_maybe_append(seg);
}

void ed_index_free(struct ed_index *ix)
{
    ed_free(ix->off);
    ed_free(ix->time);
    memset(ix, 0, sizeof *ix);
}

void ed_index_close(ed_segment *seg)
{
    ed_plat_file_close(seg->idx_file);
    ed_plat_file_close(seg->tidx_file);
    seg->idx_file = seg->tidx_file = NULL;
    ed_index_free(&seg->idx);
}

/* ---- writing the files ---- */

static int write_file(ed_segment *seg, const char *suffix, bool time)
{
    char tmp[ED_STORAGE_PATH_MAX], dst[ED_STORAGE_PATH_MAX], sfx[32];
    snprintf(sfx, sizeof sfx, "%s.tmp", suffix);
    int rc = ed_segment_path(seg, sfx, tmp, sizeof tmp);
    if (rc == ED_OK) rc = ed_segment_path(seg, suffix, dst, sizeof dst);
    if (rc != ED_OK) return rc;
    ed_file *f;
    rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc != ED_OK) return rc;
    const struct ed_index *ix = &seg->idx;
    uint8_t buf[IO_CHUNK];
    size_t fill = 0;
    uint64_t off = 0;
    uint32_t n = time ? ix->n_time : ix->n_off;
    size_t elen = time ? ED_TIMEINDEX_ENTRY_LEN : ED_INDEX_ENTRY_LEN;
    for (uint32_t i = 0; i < n && rc == ED_OK; i++) {
        if (time) {
            ed_put_be64(buf + fill, (uint64_t)ix->time[i].ts);
            ed_put_be32(buf + fill + 8, ix->time[i].rel);
        } else {
            ed_put_be32(buf + fill, ix->off[i].rel);
            ed_put_be32(buf + fill + 4, ix->off[i].pos);
        }
        fill += elen;
        if (fill + elen > sizeof buf || i + 1 == n) {
            rc = ed_plat_file_pwrite(f, buf, fill, off);
            off += fill;
            fill = 0;
        }
    }
    if (rc == ED_OK) rc = ed_plat_file_datasync(f);
    int crc = ed_plat_file_close(f);
    if (rc == ED_OK) rc = crc;
    if (rc == ED_OK) rc = ed_plat_path_rename(tmp, dst);
    if (rc != ED_OK) {
        ED_LOG_ERR("cannot write %s: %s", dst, ed_strerror(rc));
        ed_plat_path_unlink(tmp);
    }
    return rc;
}

int ed_index_write_files(ed_segment *seg)
{
    /* The time index goes last: a crash between the two renames leaves a
     * segment without a .timeindex, which open treats as unindexed. */
    int rc = write_file(seg, ".index", false);
    if (rc == ED_OK) rc = write_file(seg, ".timeindex", true);
    return rc;
}

/* ---- on-disk indexes of sealed segments ---- */

static int file_len(ed_segment *seg, const char *suffix, uint64_t *len)
{
    char p[ED_STORAGE_PATH_MAX];
    bool is_dir = false;
    int rc = ed_segment_path(seg, suffix, p, sizeof p);
    if (rc == ED_OK) rc = ed_plat_path_stat(p, &is_dir, len);
    if (rc == ED_OK && is_dir) rc = ED_ERR_INVAL;
    return rc;
}

void ed_index_probe_files(ed_segment *seg)
{
    uint64_t ilen = 0, tlen = 0;
    seg->index_on_disk = false;
    if (file_len(seg, ".index", &ilen) != ED_OK || file_len(seg, ".timeindex", &tlen) != ED_OK)
        return;
    if (ilen % ED_INDEX_ENTRY_LEN || tlen % ED_TIMEINDEX_ENTRY_LEN ||
        ilen / ED_INDEX_ENTRY_LEN > UINT32_MAX / 2 ||
        tlen / ED_TIMEINDEX_ENTRY_LEN > UINT32_MAX / 2) {
        ED_LOG_WARN("%s: index file sizes %" PRIu64 "/%" PRIu64
                    " are not whole entries; rebuilding",
                    seg->path, ilen, tlen);
        return;
    }
    seg->n_disk_off = (uint32_t)(ilen / ED_INDEX_ENTRY_LEN);
    seg->n_disk_time = (uint32_t)(tlen / ED_TIMEINDEX_ENTRY_LEN);
    seg->max_ts = -1;
    seg->max_ts_off = -1;
    if (seg->n_disk_time > 0) {
        char p[ED_STORAGE_PATH_MAX];
        ed_file *f;
        uint8_t e[ED_TIMEINDEX_ENTRY_LEN];
        size_t got = 0;
        ed_segment_path(seg, ".timeindex", p, sizeof p);
        if (ed_plat_file_open(p, ED_FILE_READ, &f) != ED_OK) return;
        int rc = ed_plat_file_pread(f, e, sizeof e, tlen - sizeof e, &got);
        ed_plat_file_close(f);
        if (rc != ED_OK || got != sizeof e) return;
        uint32_t rel = ed_get_be32(e + 8);
        if (rel > INT32_MAX) {
            ED_LOG_WARN("%s.timeindex: last entry has relative offset %" PRIu32 "; rebuilding",
                        seg->path, rel);
            return;
        }
        seg->max_ts = (int64_t)ed_get_be64(e);
        seg->max_ts_off = seg->base_offset + rel;
    }
    seg->index_on_disk = true;
    seg->index_checked = false;
}

static int open_index_file(ed_segment *seg, const char *suffix, ed_file **f)
{
    if (*f) return ED_OK;
    char p[ED_STORAGE_PATH_MAX];
    int rc = ed_segment_path(seg, suffix, p, sizeof p);
    if (rc == ED_OK) rc = ed_plat_file_open(p, ED_FILE_READ, f);
    return rc;
}

int ed_index_open_files(ed_segment *seg)
{
    int rc = open_index_file(seg, ".index", &seg->idx_file);
    if (rc == ED_OK) rc = open_index_file(seg, ".timeindex", &seg->tidx_file);
    return rc;
}

/* Reads entries [first, first+n) of an index file into buf. */
static int read_entries(ed_file *f, size_t elen, uint32_t first, uint32_t n, uint8_t *buf)
{
    size_t got = 0;
    int rc = ed_plat_file_pread(f, buf, (size_t)n * elen, (uint64_t)first * elen, &got);
    if (rc == ED_OK && got != (size_t)n * elen) rc = ED_ERR_CORRUPT;
    return rc;
}

/* Calls fn on entries [0, n_entries) of an index file, read in chunks;
 * stops at the first error. */
static int each_entry(const ed_segment *seg, ed_file *f, size_t elen, uint32_t n_entries,
                      const char *suffix, int (*fn)(void *arg, uint32_t i, const uint8_t *e),
                      void *arg)
{
    uint8_t buf[IO_CHUNK];
    const uint32_t per = (uint32_t)(IO_CHUNK / elen);
    for (uint32_t i = 0; i < n_entries; i += per) {
        uint32_t n = ED_MIN(per, n_entries - i);
        if (read_entries(f, elen, i, n, buf) != ED_OK)
            return ED_ERR_CORRUPT_AT("%s%s: short read", seg->path, suffix);
        for (uint32_t k = 0; k < n; k++) {
            int rc = fn(arg, i + k, buf + k * elen);
            if (rc != ED_OK) return rc;
        }
    }
    return ED_OK;
}

struct off_check {
    ed_segment *seg;
    struct ed_hdr_window w;
    int64_t prev_rel, prev_pos;
};

static int check_off_entry(void *arg, uint32_t i, const uint8_t *e)
{
    struct off_check *c = arg;
    ed_segment *seg = c->seg;
    int64_t rel = ed_get_be32(e);
    int64_t pos = ed_get_be32(e + 4);
    if (rel <= c->prev_rel || pos <= c->prev_pos || rel > INT32_MAX || (uint64_t)pos >= seg->len ||
        seg->base_offset + rel >= seg->next_offset)
        return ED_ERR_CORRUPT_AT("%s.index: entry %" PRIu32 " (offset %" PRId64
                                 ", position %" PRId64 ") is out of order or range",
                                 seg->path, i, seg->base_offset + rel, pos);
    struct ed_batch_info b;
    if (ed_segment_header(seg, &c->w, (uint64_t)pos, &b) != ED_OK ||
        b.base_offset + b.last_offset_delta != seg->base_offset + rel)
        return ED_ERR_CORRUPT_AT("%s.index: entry %" PRIu32 " (offset %" PRId64
                                 ", position %" PRId64 ") does not match the log",
                                 seg->path, i, seg->base_offset + rel, pos);
    c->prev_rel = rel;
    c->prev_pos = pos;
    return ED_OK;
}

struct time_check {
    const ed_segment *seg;
    int64_t prev_ts, prev_rel;
};

static int check_time_entry(void *arg, uint32_t i, const uint8_t *e)
{
    struct time_check *c = arg;
    const ed_segment *seg = c->seg;
    int64_t ts = (int64_t)ed_get_be64(e);
    int64_t rel = ed_get_be32(e + 8);
    if (ts <= c->prev_ts || rel < c->prev_rel || rel > INT32_MAX ||
        seg->base_offset + rel >= seg->next_offset)
        return ED_ERR_CORRUPT_AT("%s.timeindex: entry %" PRIu32 " (timestamp %" PRId64
                                 ", offset %" PRId64 ") is out of order or range",
                                 seg->path, i, ts, seg->base_offset + rel);
    c->prev_ts = ts;
    c->prev_rel = rel;
    return ED_OK;
}

int ed_index_check_disk(ed_segment *seg)
{
    int rc = open_index_file(seg, ".index", &seg->idx_file);
    if (rc == ED_OK) rc = open_index_file(seg, ".timeindex", &seg->tidx_file);
    if (rc != ED_OK) return ED_ERR_CORRUPT_AT("%s: cannot open its index files", seg->path);
    uint64_t ilen = 0, tlen = 0;
    rc = ed_plat_file_size(seg->idx_file, &ilen);
    if (rc == ED_OK) rc = ed_plat_file_size(seg->tidx_file, &tlen);
    if (rc != ED_OK) return rc;
    if (ilen != (uint64_t)seg->n_disk_off * ED_INDEX_ENTRY_LEN ||
        tlen != (uint64_t)seg->n_disk_time * ED_TIMEINDEX_ENTRY_LEN)
        return ED_ERR_CORRUPT_AT("%s: index files changed size since open", seg->path);

    /* Every offset entry must name a real batch boundary and that batch's
     * last offset (what kafka-dump-log verifies): reads jump to these
     * positions without scanning the bytes before them. One header read
     * per entry, once per segment and process. */
    struct off_check oc = {seg, {0, 0, {0}}, -1, -1};
    rc = each_entry(seg, seg->idx_file, ED_INDEX_ENTRY_LEN, seg->n_disk_off, ".index",
                    check_off_entry, &oc);
    if (rc != ED_OK) return rc;
    struct time_check tc = {seg, INT64_MIN, 0};
    rc = each_entry(seg, seg->tidx_file, ED_TIMEINDEX_ENTRY_LEN, seg->n_disk_time, ".timeindex",
                    check_time_entry, &tc);
    if (rc != ED_OK) return rc;
    seg->index_checked = true;
    return ED_OK;
}

int ed_index_rebuild(ed_segment *seg, uint32_t interval)
{
    ed_plat_file_close(seg->idx_file);
    ed_plat_file_close(seg->tidx_file);
    seg->idx_file = seg->tidx_file = NULL;
    seg->index_on_disk = false;
    seg->index_checked = false;
    ed_index_free(&seg->idx);
    seg->max_ts = -1;
    seg->max_ts_off = -1;
    struct ed_hdr_window w = {0};
    uint64_t pos = 0;
    int rc = ED_OK;
    while (pos < seg->len) {
        struct ed_batch_info b;
        rc = ed_segment_header(seg, &w, pos, &b);
        if (rc == ED_OK && (b.base_offset < seg->base_offset ||
                            b.base_offset + b.last_offset_delta - seg->base_offset > INT32_MAX))
            rc = ED_ERR_CORRUPT_AT("%s.log: batch at position %" PRIu64 " has offset %" PRId64
                                   " outside the segment",
                                   seg->path, pos, b.base_offset);
        if (rc == ED_OK) rc = ed_index_reserve(&seg->idx, 1);
        if (rc != ED_OK) break;
        ed_index_note_batch(seg, &b, pos, interval);
        pos += ed_batch_total_len(&b);
    }
    ed_index_seal(seg);
    if (rc != ED_OK)
        ED_LOG_ERR("%s.log: index rebuilt only up to position %" PRIu64 ": %s", seg->path, pos,
                   ed_strerror(rc));
    else
        ED_LOG_INFO("%s: rebuilt index (%" PRIu32 " offset, %" PRIu32 " time entries)", seg->path,
                    seg->idx.n_off, seg->idx.n_time);
    return rc;
}

/* ---- lookups ---- */

static int disk_off_entry(ed_segment *seg, uint32_t i, uint32_t *rel, uint32_t *pos)
{
    uint8_t e[ED_INDEX_ENTRY_LEN];
    int rc = open_index_file(seg, ".index", &seg->idx_file);
    if (rc == ED_OK) rc = read_entries(seg->idx_file, sizeof e, i, 1, e);
    if (rc != ED_OK) return rc;
    *rel = ed_get_be32(e);
    *pos = ed_get_be32(e + 4);
    return ED_OK;
}

static int off_entry(ed_segment *seg, uint32_t i, uint32_t *rel, uint32_t *pos)
{
    if (!seg->index_on_disk) {
        *rel = seg->idx.off[i].rel;
        *pos = seg->idx.off[i].pos;
        return ED_OK;
    }
    return disk_off_entry(seg, i, rel, pos);
}

static uint32_t n_off_entries(const ed_segment *seg)
{
    return seg->index_on_disk ? seg->n_disk_off : seg->idx.n_off;
}

/* Binary search for the last entry whose key (rel offset or position,
 * both strictly ascending) is <= key; *found false if none. */
static int search_off(ed_segment *seg, bool by_pos, uint64_t key, uint32_t *rel_out,
                      uint32_t *pos_out, bool *found)
{
    uint32_t lo = 0, hi = n_off_entries(seg);
    *found = false;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2, rel, pos;
        int rc = off_entry(seg, mid, &rel, &pos);
        if (rc != ED_OK) return rc;
        if ((by_pos ? pos : rel) <= key) {
            *found = true;
            *rel_out = rel;
            *pos_out = pos;
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return ED_OK;
}

/* The position of the last offset entry at or below key (a relative
 * offset, or a position with by_pos), 0 if none. */
static int lookup_pos(ed_segment *seg, bool by_pos, uint64_t key, uint64_t *pos)
{
    uint32_t rel = 0, p = 0;
    bool found;
    *pos = 0;
    int rc = search_off(seg, by_pos, key, &rel, &p, &found);
    if (rc == ED_OK && found) *pos = p;
    return rc;
}

int ed_index_lookup_offset(ed_segment *seg, int64_t target, uint64_t *pos)
{
    *pos = 0;
    if (target < seg->base_offset) return ED_OK;
    return lookup_pos(seg, false, (uint64_t)(target - seg->base_offset), pos);
}

int ed_index_lookup_position(ed_segment *seg, uint64_t limit, uint64_t *pos)
{
    return lookup_pos(seg, true, limit, pos);
}

int ed_index_lookup_time(ed_segment *seg, int64_t ts, int64_t *offset)
{
    *offset = seg->base_offset;
    uint32_t lo = 0, hi = seg->index_on_disk ? seg->n_disk_time : seg->idx.n_time;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t ets;
        uint32_t rel;
        if (seg->index_on_disk) {
            uint8_t e[ED_TIMEINDEX_ENTRY_LEN];
            int rc = open_index_file(seg, ".timeindex", &seg->tidx_file);
            if (rc == ED_OK) rc = read_entries(seg->tidx_file, sizeof e, mid, 1, e);
            if (rc != ED_OK) return rc;
            ets = (int64_t)ed_get_be64(e);
            rel = ed_get_be32(e + 8);
        } else {
            ets = seg->idx.time[mid].ts;
            rel = seg->idx.time[mid].rel;
        }
        if (ets <= ts) {
            *offset = seg->base_offset + rel;
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return ED_OK;
}
