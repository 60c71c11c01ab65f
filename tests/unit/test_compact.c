/* Unit tests of log compaction on real files: many updates per key compact
 * to the latest record per key with every offset preserved and the active
 * segment untouched; tombstones get a delete horizon and go only after
 * delete.retention.ms; a tiny offset map needs several passes and ends in
 * the same place, and a pass whose map holds no later copy of any key in a
 * segment leaves it as it is; compressed batches are rebuilt with their codec; an
 * idempotent producer's last batch survives as an empty header; a crash at
 * every point of the swap recovers (rolled back before the commit point,
 * completed after it); passes give way to log deletion and DeleteRecords. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_testutil.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/compact.h"
#include "storage/format.h"
#include "storage/log.h"
#include "storage/compact_int.h"
#include "storage/varint.h"

#define HOUR_MS  (3600LL * 1000)
#define MAX_RECS 4096

/* What was written at each offset. */
struct wrec {
    int64_t offset;
    char key[16];
    char value[64];
    bool tomb;
};

struct fx {
    char *dir;
    ed_storage *st;
    ed_log *log;
    struct ed_storage_config cfg;
    struct ed_log_config lc;
    struct wrec w[MAX_RECS];
    int n_w;
    ed_batch_builder *bb;
};

static void no_auto_compaction(ed_storage *st)
{
    /* background ticks (settling flushes) must not compact on their own */
    struct ed_compact_limits lim = {ED_COMPACT_MAP_LEN, ED_COMPACT_STEP_LEN, 2.0};
    ed_compact_set_limits(st, &lim);
}

static void open_st(struct fx *f)
{
    assert_int_equal(ed_storage_open(&f->cfg, &f->st), ED_OK);
    no_auto_compaction(f->st);
    f->log = lt_find_log(f->st, "c", 0);
    if (f->log) ed_log_set_config(f->log, &f->lc);
}

static int setup(void **state)
{
    ed_log_set_level(ED_LOG_LEVEL_ERR);
    struct fx *f = calloc(1, sizeof *f);
    f->dir = lt_tmpdir();
    lt_config(&f->cfg, f->dir, false);
    ed_log_config_default(&f->lc);
    f->lc.segment_len = 1024;
    f->lc.compact = true;
    f->lc.delete_ = false;
    f->lc.retention_ms = -1;
    f->lc.delete_retention_ms = HOUR_MS;
    f->lc.index_interval_len = 256;
    open_st(f);
    assert_int_equal(ed_storage_create_log(f->st, "c", 0, &f->lc, &f->log), ED_OK);
    assert_int_equal(ed_batch_builder_new(1u << 20, &f->bb), ED_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->st) ed_storage_close(f->st);
    ed_batch_builder_free(f->bb);
    lt_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    ed_storage_close(f->st);
    f->st = NULL;
    open_st(f);
    assert_non_null(f->log);
}

/* Appends one batch of n records (keys[i], values[i] or NULL). */
static void put_batch(struct fx *f, int codec, int64_t pid, int n, const char *const *keys,
                      const char *const *values)
{
    int64_t ts = 1700000000000LL + f->n_w;
    assert_int_equal(
        ed_batch_builder_begin(f->bb, codec, ts, pid, pid >= 0 ? 0 : -1, pid >= 0 ? f->n_w : -1),
        ED_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(ed_batch_builder_add(f->bb, keys[i], strlen(keys[i]), values[i],
                                              values[i] ? strlen(values[i]) : 0, NULL, 0, ts + i),
                         ED_OK);
    uint8_t *b;
    size_t len;
    assert_int_equal(ed_batch_builder_finish(f->bb, &b, &len), ED_OK);
    struct ed_append_result r;
    assert_int_equal(ed_log_append(f->log, b, len, &r), ED_OK);
    for (int i = 0; i < n; i++) {
        assert_true(f->n_w < MAX_RECS);
        struct wrec *w = &f->w[f->n_w++];
        w->offset = r.base_offset + i;
        snprintf(w->key, sizeof w->key, "%s", keys[i]);
        w->tomb = values[i] == NULL;
        snprintf(w->value, sizeof w->value, "%s", values[i] ? values[i] : "");
    }
}

static void put(struct fx *f, const char *key, const char *value)
{
    put_batch(f, ED_COMPRESSION_NONE, -1, 1, &key, &value);
}

/* n_keys keys, rounds updates each, interleaved. */
static void fill(struct fx *f, int n_keys, int rounds)
{
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < n_keys; k++) {
            char key[16], value[64];
            snprintf(key, sizeof key, "k%02d", k);
            snprintf(value, sizeof value, "value-of-%s-round-%03d-padding", key, r);
            put(f, key, value);
        }
}

static void settle(struct fx *f)
{
    lt_wait_durable_all(f->st, f->log);
}

/* ---- reading back ---- */

struct rrec {
    int64_t offset;
    char key[16];
    char value[64];
    bool tomb;
};

static int read_all(struct fx *f, struct rrec *out, int cap)
{
    int n = 0;
    int64_t off = ed_log_start_offset(f->log), end = ed_log_end_offset(f->log);
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, 1u << 20);
    while (off < end) {
        struct ed_log_slice s;
        assert_int_equal(ed_log_read(f->log, off, 1u << 20, &s), ED_OK);
        if (s.len == 0) break;
        uint8_t *buf = malloc(s.len);
        assert_int_equal(ed_log_slice_copy(&s, buf, s.len), ED_OK);
        size_t len = s.len;
        ed_log_slice_release(&s);
        int64_t next = off;
        for (size_t pos = 0; pos < len;) {
            assert_int_equal(ed_batch_iter_begin(&it, buf + pos, len - pos), ED_OK);
            next = it.info.base_offset + it.info.last_offset_delta + 1;
            struct ed_record r;
            int got;
            while ((got = ed_batch_iter_next(&it, &r)) == 1) {
                if (r.offset < off) continue;
                assert_true(n < cap);
                out[n].offset = r.offset;
                assert_true(r.key_len > 0 && r.key_len < 16);
                memcpy(out[n].key, r.key, (size_t)r.key_len);
                out[n].key[r.key_len] = '\0';
                out[n].tomb = r.value == NULL;
                assert_true(r.value_len < 64);
                if (r.value) memcpy(out[n].value, r.value, (size_t)r.value_len);
                out[n].value[r.value ? r.value_len : 0] = '\0';
                n++;
            }
            assert_int_equal(got, 0);
            pos += ed_batch_total_len(&it.info);
        }
        free(buf);
        assert_true(next > off);
        off = next;
    }
    ed_batch_iter_release(&it);
    return n;
}

static const struct wrec *written_at(struct fx *f, int64_t offset)
{
    for (int i = 0; i < f->n_w; i++)
        if (f->w[i].offset == offset) return &f->w[i];
    return NULL;
}

/* The last offset written for key below limit (-1 if none). */
static int64_t latest_below(struct fx *f, const char *key, int64_t limit)
{
    int64_t best = -1;
    for (int i = 0; i < f->n_w; i++)
        if (f->w[i].offset < limit && strcmp(f->w[i].key, key) == 0) best = f->w[i].offset;
    return best;
}

/* Checks the log against what was written: every record read is the one
 * written at its offset; below the cleaned offset only the latest record
 * per key (of the cleaned range) is there, at or above it everything. If
 * tombs_gone, tombstones below the cleaned offset are gone too. Returns the
 * records read. */
static int check_compacted(struct fx *f, bool tombs_gone)
{
    static struct rrec r[MAX_RECS];
    int n = read_all(f, r, MAX_RECS);
    int64_t clean = f->log->clean_offset;
    for (int i = 0; i < n; i++) {
        const struct wrec *w = written_at(f, r[i].offset);
        assert_non_null(w);
        assert_string_equal(r[i].key, w->key);
        assert_string_equal(r[i].value, w->value);
        assert_int_equal(r[i].tomb, w->tomb);
        if (i > 0) assert_true(r[i].offset > r[i - 1].offset);
    }
    /* every expected record is present, nothing else */
    int expect = 0;
    for (int i = 0; i < f->n_w; i++) {
        const struct wrec *w = &f->w[i];
        bool keep = w->offset >= clean || latest_below(f, w->key, clean) == w->offset;
        if (keep && tombs_gone && w->tomb && w->offset < clean) keep = false;
        if (!keep) continue;
        bool found = false;
        for (int k = 0; k < n && !found; k++)
            found = r[k].offset == w->offset;
        if (!found) fail_msg("record at offset %lld (%s) is missing", (long long)w->offset, w->key);
        expect++;
    }
    assert_int_equal(n, expect);
    return n;
}

static char *slurp(const char *path, long long *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    *len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)*len + 1);
    assert_int_equal(fread(b, 1, (size_t)*len, fp), (size_t)*len);
    fclose(fp);
    return b;
}

static void active_path(struct fx *f, char *out, size_t cap)
{
    char name[64];
    lt_seg_name(name, sizeof name, f->log->segs[f->log->n_segs - 1]->base_offset, ".log");
    lt_part_path(out, cap, f->dir, "c", 0, name);
}

static int64_t NOW = 1800000000000LL;

/* ---- tests ---- */

static void test_latest_per_key(void **state)
{
    struct fx *f = *state;
    fill(f, 20, 30);
    settle(f);
    assert_true(f->log->n_segs > 10);
    uint64_t size_before = ed_log_size(f->log);
    int64_t end = ed_log_end_offset(f->log);
    char ap[1024];
    active_path(f, ap, sizeof ap);
    long long alen0;
    char *active0 = slurp(ap, &alen0);
    int64_t active_base = f->log->segs[f->log->n_segs - 1]->base_offset;

    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_compactions >= 1);
    assert_true(s.n_records_compacted > 0);
    assert_true(ed_log_size(f->log) < size_before / 2);
    assert_int_equal(ed_log_end_offset(f->log), end);
    assert_int_equal(ed_log_start_offset(f->log), 0);
    assert_int_equal(f->log->clean_offset, active_base);
    /* the active segment is byte for byte what it was */
    assert_int_equal(f->log->segs[f->log->n_segs - 1]->base_offset, active_base);
    long long alen1;
    char *active1 = slurp(ap, &alen1);
    assert_int_equal(alen0, alen1);
    assert_memory_equal(active0, active1, (size_t)alen0);
    free(active0);
    free(active1);
    int n = check_compacted(f, false);
    assert_true(n >= 20);
    /* a restart reads the same (recovery and index files agree) */
    reopen(f);
    assert_int_equal(ed_log_end_offset(f->log), end);
    f->log->clean_offset = active_base; /* in memory only */
    assert_int_equal(check_compacted(f, false), n);
    /* without index files every sealed segment is scanned at open, and a
     * scan cuts a segment at a batch that does not follow on: compacted
     * segments keep their offsets continuous, so nothing is cut */
    ed_storage_close(f->st);
    f->st = NULL;
    char seg_dir[1024];
    lt_part_path(seg_dir, sizeof seg_dir, f->dir, "c", 0, "");
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -f %s/*.index %s/*.timeindex", seg_dir, seg_dir);
    assert_int_equal(system(cmd), 0);
    open_st(f);
    struct ed_storage_stats rs;
    ed_storage_stats_get(f->st, &rs);
    assert_int_equal(rs.n_truncated_recovery, 0);
    f->log->clean_offset = active_base;
    assert_int_equal(check_compacted(f, false), n);
    /* no compaction leftovers */
    char part[1024];
    lt_part_path(part, sizeof part, f->dir, "c", 0, "");
    assert_int_equal(lt_count_suffix(part, ".cleaned"), 0);
    assert_int_equal(lt_count_suffix(part, ".swap"), 0);
    /* a second run, nothing dirty: nothing changes */
    uint64_t sz = ed_log_size(f->log);
    f->log->clean_offset = active_base;
    assert_int_equal(ed_compact_run(f->st, NOW, 100), 0);
    assert_int_equal(ed_log_size(f->log), sz);
    /* more updates, roll, compact again: still the latest per key */
    fill(f, 20, 10);
    settle(f);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    check_compacted(f, false);
}

/* Compaction of segments whose files the cache closed: the pass reopens
 * them, the result is the same, and the bound holds again afterwards. */
static void test_closed_segment_files(void **state)
{
    struct fx *f = *state;
    f->cfg.max_open_segments = 3;
    reopen(f);
    fill(f, 20, 30);
    settle(f);
    ed_storage_tick(f->st, NOW);
    assert_true(f->log->n_segs > 10);
    assert_true(lt_count_open_files(f->dir, ".log") <= 3);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_segment_files_closed > 0);
    uint64_t size_before = ed_log_size(f->log);
    int64_t end = ed_log_end_offset(f->log);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    ed_storage_tick(f->st, NOW);
    ed_storage_stats_get(f->st, &s);
    assert_true(s.n_compactions >= 1);
    assert_true(s.n_segment_files_reopened > 0);
    assert_int_equal(s.n_segment_reopen_failed, 0);
    assert_true(ed_log_size(f->log) < size_before / 2);
    assert_int_equal(ed_log_end_offset(f->log), end);
    assert_true(check_compacted(f, false) >= 20);
    assert_true(lt_count_open_files(f->dir, ".log") <= 3);
}

static int n_compact_warnings;
static void count_compact_warnings(int level, const char *line)
{
    if (level == ED_LOG_LEVEL_WARN && strstr(line, "compact")) n_compact_warnings++;
}

/* Appends a batch of one record (key "bomb") whose records section, once
 * decompressed, is value_len zero bytes plus the record framing, straight
 * into the log as data from before Produce walked records would be. With
 * plain, the gzip flag is set on uncompressed records instead. */
static int64_t put_unreadable(struct fx *f, size_t value_len, bool plain)
{
    uint8_t head[64];
    size_t k = 0;
    head[k++] = 0;                   /* attributes */
    k += ed_varint_put(head + k, 0); /* timestamp delta */
    k += ed_varint_put(head + k, 0); /* offset delta */
    k += ed_varint_put(head + k, 4); /* key length */
    memcpy(head + k, "bomb", 4);
    k += 4;
    k += ed_varint_put(head + k, (int64_t)value_len); /* value length */
    size_t body = k + value_len + 1;                  /* + header count 0 */
    size_t h = ed_varint_put(head + k, (int64_t)body);
    uint8_t *sec = calloc(1, h + body);
    memcpy(sec, head + k, h);
    memcpy(sec + h, head, k);
    size_t sec_len = h + body, z_len = sec_len;
    uint8_t *b = malloc(ED_BATCH_HEADER_LEN + sec_len + 4096);
    int codec = plain          ? ED_COMPRESSION_GZIP
                : ED_WITH_ZSTD ? ED_COMPRESSION_ZSTD
                               : ED_COMPRESSION_GZIP;
    if (plain) {
        memcpy(b + ED_BATCH_HEADER_LEN, sec, sec_len);
    } else {
        struct ed_codec enc = {0};
        assert_int_equal(ed_codec_compress(&enc, codec, 0, sec, sec_len, b + ED_BATCH_HEADER_LEN,
                                           ed_codec_compress_bound(codec, sec_len), &z_len),
                         ED_OK);
        ed_codec_release(&enc);
    }
    size_t len = ED_BATCH_HEADER_LEN + z_len;
    memset(b, 0, ED_BATCH_HEADER_LEN);
    ed_put_be32(b + ED_BATCH_OFF_LENGTH, (uint32_t)(len - ED_BATCH_LOG_OVERHEAD));
    b[ED_BATCH_OFF_MAGIC] = ED_BATCH_MAGIC;
    ed_put_be16(b + ED_BATCH_OFF_ATTRIBUTES, (uint16_t)codec);
    ed_put_be64(b + ED_BATCH_OFF_BASE_TIMESTAMP, 1700000000000ULL);
    ed_put_be64(b + ED_BATCH_OFF_MAX_TIMESTAMP, 1700000000000ULL);
    ed_put_be64(b + ED_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    ed_put_be16(b + ED_BATCH_OFF_PRODUCER_EPOCH, 0xffff);
    ed_put_be32(b + ED_BATCH_OFF_BASE_SEQUENCE, 0xffffffffu);
    ed_put_be32(b + ED_BATCH_OFF_RECORD_COUNT, 1);
    ed_put_be32(b + ED_BATCH_OFF_CRC,
                ed_crc32c(0, b + ED_BATCH_OFF_ATTRIBUTES, len - ED_BATCH_OFF_ATTRIBUTES));
    struct ed_append_result r;
    assert_int_equal(ed_log_append(f->log, b, len, &r), ED_OK);
    free(sec);
    free(b);
    return r.base_offset;
}

/* A batch the cleaner cannot read (a decompression bomb past its 64 MiB
 * limit, records that are not what the codec flag says) is kept as it is
 * and skipped with one log line, once; the rest of the log is compacted
 * in the same pass, and later passes neither stall nor log it again. */
static void test_unreadable_batch_skipped(void **state)
{
    struct fx *f = *state;
    fill(f, 10, 4);
    int64_t bomb = put_unreadable(f, 80u << 20, false);
    int64_t plain = put_unreadable(f, 100, true);
    fill(f, 10, 4);
    settle(f);
    uint64_t size_before = ed_log_size(f->log);
    int64_t end = ed_log_end_offset(f->log);
    ed_log_set_module_level("compact", ED_LOG_LEVEL_WARN);
    ed_log_set_hook(count_compact_warnings);
    n_compact_warnings = 0;
    int passes = ed_compact_run(f->st, NOW, 20);
    settle(f);
    int warnings = n_compact_warnings;
    passes += ed_compact_run(f->st, NOW, 20); /* nothing dirty: no pass, no line */
    ed_log_set_hook(NULL);
    ed_log_set_module_level("compact", -1);
    assert_int_equal(warnings, 2);
    assert_int_equal(n_compact_warnings, 2);
    assert_true(passes >= 1);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_compact_skipped, 2);
    assert_true(s.n_records_compacted >= 30); /* the first round of updates went */
    assert_true(ed_log_size(f->log) < size_before);
    assert_int_equal(ed_log_end_offset(f->log), end);
    /* both batches are still there, byte for byte as written */
    for (int i = 0; i < 2; i++) {
        struct ed_log_slice sl;
        assert_int_equal(ed_log_read(f->log, i ? plain : bomb, 1u << 20, &sl), ED_OK);
        assert_true(sl.len >= ED_BATCH_HEADER_LEN);
        uint8_t *h = malloc(sl.len);
        assert_int_equal(ed_log_slice_copy(&sl, h, sl.len), ED_OK);
        ed_log_slice_release(&sl);
        assert_int_equal((int64_t)ed_get_be64(h + ED_BATCH_OFF_BASE_OFFSET), i ? plain : bomb);
        assert_int_equal(ed_get_be32(h + ED_BATCH_OFF_RECORD_COUNT), 1);
        assert_int_equal(ed_get_be16(h + ED_BATCH_OFF_ATTRIBUTES) & 7,
                         i ? ED_COMPRESSION_GZIP
                           : (ED_WITH_ZSTD ? ED_COMPRESSION_ZSTD : ED_COMPRESSION_GZIP));
        free(h);
    }
}

/* Unique keys between updates of one hot key: compaction leaves holes in
 * the middle of segments, and still no scan at open may cut anything. */
static void test_gaps_stay_continuous(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 150; i++) {
        char key[16], value[64];
        snprintf(key, sizeof key, "u%03d", i);
        snprintf(value, sizeof value, "unique-%03d", i);
        put(f, key, value);
        snprintf(value, sizeof value, "hot-%03d", i);
        put(f, "hot", value);
        if (i % 7 == 0) put(f, "warm", value);
    }
    settle(f);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    int64_t active_base = f->log->segs[f->log->n_segs - 1]->base_offset;
    int n = check_compacted(f, false);
    ed_storage_close(f->st);
    f->st = NULL;
    char seg_dir[1024];
    lt_part_path(seg_dir, sizeof seg_dir, f->dir, "c", 0, "");
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -f %s/*.index %s/*.timeindex", seg_dir, seg_dir);
    assert_int_equal(system(cmd), 0);
    open_st(f);
    struct ed_storage_stats rs;
    ed_storage_stats_get(f->st, &rs);
    assert_int_equal(rs.n_truncated_recovery, 0);
    f->log->clean_offset = active_base;
    assert_int_equal(check_compacted(f, false), n);
    /* and a second pass over stretched batches and fillers keeps it so */
    fill(f, 3, 30);
    settle(f);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    active_base = f->log->segs[f->log->n_segs - 1]->base_offset;
    n = check_compacted(f, false);
    ed_storage_close(f->st);
    f->st = NULL;
    assert_int_equal(system(cmd), 0);
    open_st(f);
    ed_storage_stats_get(f->st, &rs);
    assert_int_equal(rs.n_truncated_recovery, 0);
    f->log->clean_offset = active_base;
    assert_int_equal(check_compacted(f, false), n);
}

static void test_tombstones(void **state)
{
    struct fx *f = *state;
    fill(f, 10, 5);
    for (int k = 0; k < 5; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%02d", k);
        put(f, key, NULL);
    }
    fill(f, 1, 40); /* k00 comes back after its tombstone; k01..k04 stay deleted */
    settle(f);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    int n1 = check_compacted(f, false);
    int tombs = 0;
    static struct rrec r[MAX_RECS];
    int n = read_all(f, r, MAX_RECS);
    assert_int_equal(n, n1);
    for (int i = 0; i < n; i++)
        if (r[i].tomb) tombs++;
    assert_int_equal(tombs, 4);
    assert_int_equal(f->log->horizon_due_ms, NOW + HOUR_MS);
    /* kept tombstones carry the delete horizon in their batch header */
    int64_t off = 0;
    bool seen_horizon = false;
    for (uint32_t i = 0; i + 1 < f->log->n_segs; i++) {
        (void)off;
        ed_segment *seg = f->log->segs[i];
        struct ed_hdr_window w = {0};
        for (uint64_t pos = 0; pos < seg->len;) {
            struct ed_batch_info b;
            assert_int_equal(ed_segment_header(seg, &w, pos, &b), ED_OK);
            if (b.attributes & ED_BATCH_ATTR_DELETE_HORIZON) {
                seen_horizon = true;
                assert_int_equal(b.base_timestamp, NOW + HOUR_MS);
            }
            pos += ed_batch_total_len(&b);
        }
    }
    assert_true(seen_horizon);
    /* before the horizon: nothing due, tombstones stay */
    assert_int_equal(ed_compact_run(f->st, NOW + HOUR_MS - 1, 1000), 0);
    assert_int_equal(check_compacted(f, false), n1);
    /* after it: they go */
    assert_true(ed_compact_run(f->st, NOW + HOUR_MS, 1000) >= 1);
    settle(f);
    assert_int_equal(check_compacted(f, true), n1 - 4);
    n = read_all(f, r, MAX_RECS);
    for (int i = 0; i < n; i++) {
        assert_false(r[i].tomb);
        for (int k = 1; k < 5; k++) {
            char key[16];
            snprintf(key, sizeof key, "k%02d", k);
            assert_string_not_equal(r[i].key, key);
        }
    }
    assert_int_equal(f->log->horizon_due_ms, 0);
}

/* The same result as one big pass: the cleaned offset at the active
 * segment, and below it the latest record of each of the n_keys keys
 * (each pass removes what its map covers). */
static void check_fully_compacted(struct fx *f, int n_keys)
{
    int64_t active_base = f->log->segs[f->log->n_segs - 1]->base_offset;
    assert_int_equal(f->log->clean_offset, active_base);
    int n = check_compacted(f, false);
    int distinct_closed = 0;
    for (int k = 0; k < n_keys; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%02d", k);
        if (latest_below(f, key, active_base) >= 0) distinct_closed++;
    }
    int in_active = 0;
    for (int i = 0; i < f->n_w; i++)
        if (f->w[i].offset >= active_base) in_active++;
    assert_int_equal(n, distinct_closed + in_active);
}

static void test_small_map_passes(void **state)
{
    struct fx *f = *state;
    fill(f, 40, 8);
    settle(f);
    /* 256 bytes: 16 slots, 12 keys per pass */
    struct ed_compact_limits lim = {256, 4096, 2.0};
    ed_compact_set_limits(f->st, &lim);
    int passes = ed_compact_run(f->st, NOW, 100000);
    assert_true(passes >= 4);
    settle(f);
    check_fully_compacted(f, 40);
}

/* Runs compaction a tick at a time until nothing is due; every group
 * swapped in must reclaim something: fewer bytes, or fewer segments. */
static void compact_reclaiming(struct fx *f, int64_t now)
{
    for (int i = 0; i < 100000; i++) {
        struct ed_storage_stats a, b;
        ed_storage_stats_get(f->st, &a);
        uint32_t segs = f->log->n_segs;
        int passes = ed_compact_run(f->st, now, 1);
        ed_storage_stats_get(f->st, &b);
        uint64_t rd = b.len_compacted_read - a.len_compacted_read;
        uint64_t wr = b.len_compacted_written - a.len_compacted_written;
        if (rd > 0 && !(wr < rd || f->log->n_segs < segs))
            fail_msg("a group of %llu bytes was rewritten into %llu bytes for nothing",
                     (unsigned long long)rd, (unsigned long long)wr);
        if (passes > 0 && f->st->compactor->phase == P_IDLE &&
            f->log->clean_offset == f->log->segs[f->log->n_segs - 1]->base_offset)
            return;
    }
    fail_msg("compaction did not converge");
}

/* More distinct keys than the offset map holds: a pass covers only the
 * first keys of the dirty range, none of which has a later copy within it,
 * so it leaves the segments as they are instead of copying them byte for
 * byte; the passes that follow still end with the latest record per key,
 * and tombstones go after delete.retention.ms. */
static void test_more_keys_than_map(void **state)
{
    struct fx *f = *state;
    fill(f, 60, 2);
    settle(f);
    /* 256 bytes: 16 slots, 12 keys per pass */
    struct ed_compact_limits lim = {256, 4096, 2.0};
    ed_compact_set_limits(f->st, &lim);
    int passes = 0;
    for (int i = 0; i < 1000 && passes == 0; i++)
        passes = ed_compact_run(f->st, NOW, 1);
    assert_int_equal(passes, 1);
    assert_int_equal(f->log->clean_offset, 12);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.len_compacted_written, 0);
    assert_int_equal(s.len_compacted_read, 0);
    assert_true(s.n_compact_unchanged >= 1);

    compact_reclaiming(f, NOW);
    settle(f);
    check_fully_compacted(f, 60);
    ed_storage_stats_get(f->st, &s);
    assert_true(s.len_compacted_written < s.len_compacted_read);

    /* ten keys deleted, then other keys until the tombstones are closed */
    for (int k = 0; k < 10; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%02d", k);
        put(f, key, NULL);
    }
    for (int k = 0; k < 40; k++) {
        char key[16];
        snprintf(key, sizeof key, "x%02d", k);
        put(f, key, "a value that fills the segments up");
    }
    settle(f);
    assert_true(ed_compact_run(f->st, NOW, 100000) >= 1);
    settle(f);
    check_compacted(f, false); /* the tombstones stay for now */
    assert_true(f->log->horizon_due_ms > 0);
    assert_true(ed_compact_run(f->st, NOW + 2 * HOUR_MS, 100000) >= 1);
    settle(f);
    check_compacted(f, true);
}

static void test_compressed(void **state)
{
    struct fx *f = *state;
    int codecs[] = {ED_COMPRESSION_GZIP, ED_COMPRESSION_SNAPPY, ED_COMPRESSION_LZ4,
                    ED_COMPRESSION_ZSTD};
    for (int round = 0; round < 12; round++) {
        int codec = codecs[round % 4];
        if (!ed_codec_supported(codec, true)) codec = ED_COMPRESSION_NONE;
        const char *keys[4] = {"a", "b", "a", "c"}; /* "a" twice in one batch */
        char v[4][64];
        const char *vals[4];
        for (int i = 0; i < 4; i++) {
            snprintf(v[i], sizeof v[i], "r%02d-i%d-some-compressible-text-text-text", round, i);
            vals[i] = v[i];
        }
        put_batch(f, codec, -1, 4, keys, vals);
    }
    fill(f, 3, 10); /* roll past the compressed batches */
    settle(f);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    check_compacted(f, false);
    /* rebuilt batches keep their codec */
    int compressed = 0;
    for (uint32_t i = 0; i + 1 < f->log->n_segs; i++) {
        ed_segment *seg = f->log->segs[i];
        struct ed_hdr_window w = {0};
        for (uint64_t pos = 0; pos < seg->len;) {
            struct ed_batch_info b;
            assert_int_equal(ed_segment_header(seg, &w, pos, &b), ED_OK);
            if (ed_batch_compression(&b) != ED_COMPRESSION_NONE && b.record_count > 0) compressed++;
            pos += ed_batch_total_len(&b);
        }
    }
    assert_true(compressed > 0);
    reopen(f);
    f->log->clean_offset = f->log->segs[f->log->n_segs - 1]->base_offset;
    check_compacted(f, false);
}

static void test_idempotent_last_batch_kept(void **state)
{
    struct fx *f = *state;
    const char *ka = "a";
    const char *v1 = "from-7-first", *v2 = "from-7-second", *v3 = "from-anyone";
    put_batch(f, ED_COMPRESSION_NONE, 7, 1, &ka, &v1);
    int64_t first = f->w[f->n_w - 1].offset;
    put_batch(f, ED_COMPRESSION_NONE, 7, 1, &ka, &v2);
    int64_t second = f->w[f->n_w - 1].offset;
    put_batch(f, ED_COMPRESSION_NONE, -1, 1, &ka, &v3);
    fill(f, 5, 12);
    settle(f);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    check_compacted(f, false);
    bool saw_first = false, saw_second = false;
    int fillers = 0;
    for (uint32_t i = 0; i + 1 < f->log->n_segs; i++) {
        ed_segment *seg = f->log->segs[i];
        struct ed_hdr_window w = {0};
        for (uint64_t pos = 0; pos < seg->len;) {
            struct ed_batch_info b;
            assert_int_equal(ed_segment_header(seg, &w, pos, &b), ED_OK);
            /* (a gap filler may start there: no producer, no records) */
            if (b.base_offset == first && b.producer_id == 7) saw_first = true;
            if (b.record_count == 0 && b.producer_id < 0) fillers++;
            if (b.base_offset == second) {
                saw_second = true;
                assert_int_equal(b.producer_id, 7);
                assert_int_equal(b.record_count, 0);
                assert_int_equal(b.last_offset_delta, 0);
            }
            pos += ed_batch_total_len(&b);
        }
    }
    assert_false(saw_first);
    assert_true(saw_second);
    assert_true(fillers >= 1); /* offset 0 is gone: a filler keeps the segment continuous */
}

static void crash_at(void **state, int point)
{
    struct fx *f = *state;
    /* a first pass leaves small segments: the next one merges them */
    fill(f, 10, 20);
    settle(f);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    fill(f, 10, 20);
    settle(f);
    static struct rrec before[MAX_RECS];
    int n_before = read_all(f, before, MAX_RECS);
    ed_compact_set_crash_point(f->st, point);
    ed_compact_run(f->st, NOW, 10000);
    char part[1024];
    lt_part_path(part, sizeof part, f->dir, "c", 0, "");
    if (point == ED_COMPACT_CRASH_CLEANED) assert_int_equal(lt_count_suffix(part, ".cleaned"), 1);
    if (point != ED_COMPACT_CRASH_CLEANED) assert_int_equal(lt_count_suffix(part, ".swap"), 1);
    int logs_before = lt_count_suffix(part, ".log");
    reopen(f);
    assert_int_equal(lt_count_suffix(part, ".cleaned"), 0);
    assert_int_equal(lt_count_suffix(part, ".swap"), 0);
    static struct rrec after[MAX_RECS];
    int n_after = read_all(f, after, MAX_RECS);
    if (point == ED_COMPACT_CRASH_CLEANED) {
        /* rolled back: everything as before */
        assert_int_equal(n_after, n_before);
        assert_int_equal(lt_count_suffix(part, ".log"), logs_before);
    } else {
        /* completed: the first group is compacted, nothing else lost */
        assert_true(n_after < n_before);
        assert_true(lt_count_suffix(part, ".log") < logs_before);
    }
    for (int i = 0; i < n_after; i++) {
        const struct wrec *w = written_at(f, after[i].offset);
        assert_non_null(w);
        assert_string_equal(after[i].value, w->value);
    }
    /* every key's latest record is still there */
    for (int k = 0; k < 10; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%02d", k);
        int64_t latest = latest_below(f, key, INT64_MAX);
        bool found = false;
        for (int i = 0; i < n_after && !found; i++)
            found = after[i].offset == latest;
        assert_true(found);
    }
    /* and a full pass afterwards ends where it would have */
    f->log->clean_offset = 0;
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    check_compacted(f, false);
}

static void test_crash_cleaned(void **state)
{
    crash_at(state, ED_COMPACT_CRASH_CLEANED);
}

static void test_crash_swap(void **state)
{
    crash_at(state, ED_COMPACT_CRASH_SWAP);
}

static void test_crash_mid_swap(void **state)
{
    crash_at(state, ED_COMPACT_CRASH_MID_SWAP);
}

static void test_leftover_files(void **state)
{
    struct fx *f = *state;
    fill(f, 5, 20);
    settle(f);
    static struct rrec before[MAX_RECS];
    int n_before = read_all(f, before, MAX_RECS);
    char p[1024];
    lt_part_path(p, sizeof p, f->dir, "c", 0, "00000000000000000000.00000000000000000010.cleaned");
    FILE *fp = fopen(p, "wb");
    fputs("half-written garbage", fp);
    fclose(fp);
    reopen(f);
    assert_false(lt_exists(p));
    static struct rrec after[MAX_RECS];
    assert_int_equal(read_all(f, after, MAX_RECS), n_before);
}

static void test_pass_gives_way(void **state)
{
    struct fx *f = *state;
    fill(f, 20, 20);
    settle(f);
    struct ed_compact_limits lim = {ED_COMPACT_MAP_LEN, 4096, 0.0};
    ed_compact_set_limits(f->st, &lim);
    /* a pass spans several ticks; DeleteRecords moves the start under it */
    ed_compact_tick(f->st, NOW);
    assert_int_equal(ed_log_truncate_before(f->log, f->log->segs[2]->base_offset), ED_OK);
    ed_compact_tick(f->st, NOW);
    struct ed_storage_stats s;
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_compactions_aborted, 1);
    /* the next pass works on the new first segments */
    lim.min_dirty_ratio = 2.0;
    ed_compact_set_limits(f->st, &lim);
    assert_true(ed_compact_run(f->st, NOW, 100000) >= 1);
    settle(f);
    /* and a log deleted in the middle of a pass takes the pass with it */
    fill(f, 20, 10);
    settle(f);
    f->log->clean_offset = 0;
    lim.min_dirty_ratio = 0.0;
    ed_compact_set_limits(f->st, &lim);
    ed_compact_tick(f->st, NOW);
    assert_int_equal(ed_storage_delete_log(f->st, f->log), ED_OK);
    f->log = NULL;
    ed_compact_tick(f->st, NOW);
    ed_storage_stats_get(f->st, &s);
    assert_int_equal(s.n_compactions_aborted, 2);
}

/* The swap waits in the log's flush job: until the job ran nothing is
 * synced or swapped, and the group's segments stay (DeleteRecords stops
 * before them); the completion puts the new segment in and the pass goes
 * on. A log deleted while the swap waits takes it along (its output too). */
static void test_swap_in_flush_job(void **state)
{
    struct fx *f = *state;
    fill(f, 20, 20);
    settle(f);
    struct ed_compact_limits lim = {ED_COMPACT_MAP_LEN, 1u << 20, 0.0};
    ed_compact_set_limits(f->st, &lim);
    for (int i = 0; i < 100 && !f->st->compactor->swap; i++)
        ed_compact_tick(f->st, NOW);
    assert_non_null(f->st->compactor->swap);
    char part[1024];
    lt_part_path(part, sizeof part, f->dir, "c", 0, "");
    assert_int_equal(lt_count_suffix(part, ".cleaned"), 1);
    assert_int_equal(lt_count_suffix(part, ".swap"), 0);
    int64_t first = f->log->segs[0]->base_offset;
    uint64_t len0 = f->log->segs[0]->len;
    assert_true(f->log->segs[0]->in_job);
    ed_compact_tick(f->st, NOW); /* waits */
    assert_int_equal(lt_count_suffix(part, ".cleaned"), 1);
    assert_int_equal(ed_log_truncate_before(f->log, f->log->segs[1]->base_offset), ED_OK);
    assert_true(f->log->segs[0]->base_offset == first);
    ed_flush_tick(f->st, NOW);
    ed_storage_run_completions(f->st);
    assert_null(f->st->compactor->swap);
    assert_int_equal(lt_count_suffix(part, ".cleaned"), 0);
    assert_true(f->log->segs[0]->base_offset == first && f->log->segs[0]->len < len0);
    assert_false(f->log->segs[0]->in_job);
    assert_true(ed_compact_run(f->st, NOW, 10000) >= 1);
    settle(f);
    check_compacted(f, false);

    fill(f, 20, 10);
    settle(f);
    f->log->clean_offset = 0;
    for (int i = 0; i < 100 && !f->st->compactor->swap; i++)
        ed_compact_tick(f->st, NOW);
    assert_non_null(f->st->compactor->swap);
    assert_int_equal(ed_storage_delete_log(f->st, f->log), ED_OK);
    f->log = NULL;
    assert_null(f->st->compactor->swap);
    ed_flush_tick(f->st, NOW);
    ed_storage_run_completions(f->st);
    assert_false(lt_exists(part));
}

static void test_not_compacted_without_policy(void **state)
{
    struct fx *f = *state;
    f->lc.compact = false;
    f->lc.delete_ = true;
    ed_log_set_config(f->log, &f->lc);
    fill(f, 5, 20);
    settle(f);
    uint64_t sz = ed_log_size(f->log);
    assert_int_equal(ed_compact_run(f->st, NOW, 1000), 0);
    assert_int_equal(ed_log_size(f->log), sz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_latest_per_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_batch_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_segment_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gaps_stay_continuous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tombstones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_map_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_more_keys_than_map, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_last_batch_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_in_flush_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_cleaned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leftover_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pass_gives_way, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_compacted_without_policy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
