/* Offline verification for `eddy check`: scans segments with the recovery
 * scanner (without cutting anything unless asked), walks every record of
 * every valid batch (ed_batch_validate: a batch whose CRC holds but whose
 * records do not parse stalls consumers at its offset), then checks every index
 * entry against the log the way Kafka's kafka-dump-log does: an offset
 * entry must point at a batch boundary whose last offset it names, a time
 * entry must name the last offset of a batch whose max timestamp it holds,
 * both strictly ascending. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "check"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/check.h"
#include "storage/recovery.h"

struct ctx {
    ed_check_print print;
    void *arg;
    struct ed_check_report *rep;
    bool truncate;
    uint8_t *buf;
    uint8_t *bbuf; /* one whole batch, for its records */
    size_t bcap;
    struct ed_batch_validator v;
};

__attribute__((format(printf, 3, 4))) static void say(struct ctx *c, bool problem, const char *fmt,
                                                      ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (problem) c->rep->n_problems++;
    c->print(c->arg, problem, line);
}

static bool file_exists(const ed_segment *seg, const char *suffix, uint64_t *len)
{
    char p[ED_STORAGE_PATH_MAX];
    bool is_dir = false;
    return ed_segment_path(seg, suffix, p, sizeof p) == ED_OK &&
           ed_plat_path_stat(p, &is_dir, len) == ED_OK && !is_dir;
}

/* Finds the batch whose last offset is target, scanning from the offset
 * index's position (from 0 if that leads nowhere: the offset index may be
 * the broken one); false if there is none. */
static bool batch_ending_at(ed_segment *seg, int64_t target, struct ed_batch_info *b)
{
    uint64_t start = 0;
    if (ed_index_lookup_offset(seg, target, &start) != ED_OK) start = 0;
    for (int pass = 0; pass < 2; pass++, start = 0) {
        uint64_t pos = start;
        struct ed_hdr_window w;
        w.len = 0;
        while (pos < seg->len) {
            if (ed_segment_header(seg, &w, pos, b) != ED_OK) break;
            int64_t last = b->base_offset + b->last_offset_delta;
            if (last >= target) {
                if (last == target) return true;
                break;
            }
            pos += ed_batch_total_len(b);
        }
        if (start == 0) break;
    }
    return false;
}

static void check_indexes(struct ctx *c, ed_segment *seg, bool active)
{
    uint64_t ilen = 0, tlen = 0;
    bool has_i = file_exists(seg, ".index", &ilen), has_t = file_exists(seg, ".timeindex", &tlen);
    if (active) {
        if (has_i || has_t) {
            c->rep->n_warnings++;
            say(c, false,
                "%s.index/.timeindex: present for the active segment (stale; removed at open)",
                seg->path);
        }
        return;
    }
    if (!has_i || !has_t) {
        c->rep->n_warnings++;
        say(c, false, "%s: no %s file (rebuilt at open)", seg->path,
            !has_i ? ".index" : ".timeindex");
        return;
    }
    if (ilen % ED_INDEX_ENTRY_LEN || tlen % ED_TIMEINDEX_ENTRY_LEN) {
        say(c, true, "%s: index sizes %" PRIu64 "/%" PRIu64 " are not whole entries", seg->path,
            ilen, tlen);
        return;
    }
    seg->n_disk_off = (uint32_t)(ilen / ED_INDEX_ENTRY_LEN);
    seg->n_disk_time = (uint32_t)(tlen / ED_TIMEINDEX_ENTRY_LEN);
    seg->index_on_disk = true;
    seg->index_checked = true;
    char p[ED_STORAGE_PATH_MAX];
    ed_segment_path(seg, ".index", p, sizeof p);
    if (ed_plat_file_open(p, ED_FILE_READ, &seg->idx_file) != ED_OK) {
        say(c, true, "%s: cannot open", p);
        return;
    }
    ed_segment_path(seg, ".timeindex", p, sizeof p);
    if (ed_plat_file_open(p, ED_FILE_READ, &seg->tidx_file) != ED_OK) {
        say(c, true, "%s: cannot open", p);
        return;
    }

    uint64_t bad = 0;
    int64_t prev_rel = -1, prev_pos = -1;
    struct ed_hdr_window w;
    w.len = 0;
    for (uint32_t i = 0; i < seg->n_disk_off; i++) {
        uint8_t e[ED_INDEX_ENTRY_LEN];
        size_t got = 0;
        if (ed_plat_file_pread(seg->idx_file, e, sizeof e, (uint64_t)i * sizeof e, &got) != ED_OK ||
            got != sizeof e)
            break;
        int64_t rel = ed_get_be32(e), pos = ed_get_be32(e + 4);
        struct ed_batch_info b;
        const char *why = NULL;
        if (rel <= prev_rel || pos <= prev_pos)
            why = "not ascending";
        else if (rel > INT32_MAX || (uint64_t)pos >= seg->len)
            why = "outside the log";
        else if (ed_segment_header(seg, &w, (uint64_t)pos, &b) != ED_OK)
            why = "no batch there";
        else if (b.base_offset + b.last_offset_delta != seg->base_offset + rel)
            why = "the batch there ends at another offset";
        if (why && bad++ < 5)
            say(c, true,
                "%s.index: entry %" PRIu32 " (offset %" PRId64 ", position %" PRId64 "): %s",
                seg->path, i, seg->base_offset + rel, pos, why);
        prev_rel = rel;
        prev_pos = pos;
    }
    if (!bad)
        say(c, false, "%s.index: %" PRIu32 " entries: ok", seg->path, seg->n_disk_off);
    else
        c->rep->n_problems += bad > 5 ? bad - 5 : 0;

    uint64_t tbad = 0;
    int64_t prev_ts = INT64_MIN, last_ts = -1;
    for (uint32_t i = 0; i < seg->n_disk_time; i++) {
        uint8_t e[ED_TIMEINDEX_ENTRY_LEN];
        size_t got = 0;
        if (ed_plat_file_pread(seg->tidx_file, e, sizeof e, (uint64_t)i * sizeof e, &got) !=
                ED_OK ||
            got != sizeof e)
            break;
        int64_t ts = (int64_t)ed_get_be64(e), rel = ed_get_be32(e + 8);
        struct ed_batch_info b;
        const char *why = NULL;
        if (ts <= prev_ts)
            why = "timestamps not ascending";
        else if (rel > INT32_MAX || !batch_ending_at(seg, seg->base_offset + rel, &b))
            why = "no batch ends at that offset";
        else if (b.max_timestamp != ts)
            why = "the batch there has another max timestamp";
        if (why && tbad++ < 5)
            say(c, true,
                "%s.timeindex: entry %" PRIu32 " (timestamp %" PRId64 ", offset %" PRId64 "): %s",
                seg->path, i, ts, seg->base_offset + rel, why);
        prev_ts = ts;
        last_ts = ts;
    }
    if (!tbad && seg->max_ts > last_ts) {
        tbad++;
        say(c, true,
            "%s.timeindex: last entry %" PRId64
            " is below the segment's largest timestamp %" PRId64,
            seg->path, last_ts, seg->max_ts);
    }
    if (!tbad)
        say(c, false, "%s.timeindex: %" PRIu32 " entries: ok", seg->path, seg->n_disk_time);
    else
        c->rep->n_problems += tbad > 5 ? tbad - 5 : 0;
}

/* Walks the records of every batch in [0, valid_len) of seg; returns the
 * number of batches found malformed (each a problem, the first five
 * printed), or a negative error that stops the check. */
static int64_t check_records(struct ctx *c, ed_segment *seg, uint64_t valid_len)
{
    int64_t bad = 0;
    struct ed_hdr_window w;
    w.len = 0;
    for (uint64_t pos = 0; pos < valid_len;) {
        struct ed_batch_info b;
        int rc = ed_segment_header(seg, &w, pos, &b);
        if (rc != ED_OK) return rc;
        size_t total = ed_batch_total_len(&b), got = 0;
        if (total > c->bcap) {
            ed_free(c->bbuf);
            c->bcap = 0;
            if (!(c->bbuf = ed_malloc(total))) return ED_ERR_NOMEM;
            c->bcap = total;
        }
        rc = ed_plat_file_pread(seg->file, c->bbuf, total, pos, &got);
        if (rc != ED_OK) return rc;
        struct ed_batch_fault f = {-1, "short read"};
        rc = got == total ? ed_batch_validate(&c->v, c->bbuf, total, false, NULL, &f) : ED_ERR_IO;
        if (rc == ED_ERR_NOMEM) return rc;
        int64_t last = b.base_offset + b.last_offset_delta;
        if (rc == ED_ERR_UNSUPPORTED) {
            c->rep->n_warnings++;
            say(c, false,
                "%s.log: batch at position %" PRIu64 " (offsets %" PRId64 "..%" PRId64
                "): records not checked: %s",
                seg->path, pos, b.base_offset, last, f.why);
        } else if (rc != ED_OK && bad++ >= 5) {
            c->rep->n_problems++; /* counted, not printed */
        } else if (rc != ED_OK) {
            char at[48] = "";
            if (f.record >= 0) snprintf(at, sizeof at, "record %" PRId32 ": ", f.record);
            say(c, true,
                "%s.log: batch at position %" PRIu64 " (offsets %" PRId64 "..%" PRId64 "): %s%s",
                seg->path, pos, b.base_offset, last, at, f.why);
        }
        pos += total;
    }
    return bad;
}

static int check_segment(struct ctx *c, const char *dir, int64_t base, int64_t limit, bool active)
{
    ed_segment *seg;
    int rc = ed_segment_open(dir, base, 0, c->truncate, &seg);
    if (rc != ED_OK) {
        say(c, true, "%s/%020" PRId64 ".log: cannot open: %s", dir, base, ed_strerror(rc));
        return ED_OK;
    }
    c->rep->n_segments++;
    struct ed_scan_result r;
    uint64_t file_len = seg->len;
    rc = ed_recovery_scan(seg, limit, INT64_MIN, 4096, false, c->buf, ED_SCAN_BUF_LEN, &r);
    if (rc != ED_OK) {
        say(c, true, "%s.log: read error: %s", seg->path, ed_strerror(rc));
        ed_segment_unref(seg);
        return rc == ED_ERR_NOMEM ? rc : ED_OK;
    }
    c->rep->n_batches += r.n_batches;
    c->rep->len += r.valid_len;
    c->rep->n_records += r.n_records;
    int64_t bad = check_records(c, seg, r.valid_len);
    if (bad < 0) {
        say(c, true, "%s.log: cannot read its records: %s", seg->path, ed_strerror((int)bad));
        ed_segment_unref(seg);
        return bad == ED_ERR_NOMEM ? (int)bad : ED_OK;
    }
    if (bad > 0) {
        say(c, false,
            "%s.log: %" PRIu64 " batches, %" PRId64 " with malformed records (not cut: "
            "they are not a torn tail)",
            seg->path, r.n_batches, bad);
    }
    if (r.dropped_len == 0 && bad > 0) {
        /* reported above */
    } else if (r.dropped_len == 0) {
        char ahead[64] = "";
        if (r.ahead_len > 0)
            snprintf(ahead, sizeof ahead, " (then %" PRIu64 " bytes of zeros written ahead)",
                     r.ahead_len);
        say(c, false,
            "%s.log: %" PRIu64 " batches, offsets %" PRId64 "..%" PRId64 ", %" PRIu64
            " bytes%s: ok",
            seg->path, r.n_batches, base, seg->next_offset - 1, r.valid_len, ahead);
    } else if (c->truncate) {
        rc = ed_plat_file_truncate(seg->file, r.valid_len);
        if (rc == ED_OK) {
            char p[ED_STORAGE_PATH_MAX];
            ed_segment_path(seg, ".index", p, sizeof p);
            ed_plat_path_unlink(p);
            ed_segment_path(seg, ".timeindex", p, sizeof p);
            ed_plat_path_unlink(p);
            c->rep->n_truncated++;
            c->rep->len_truncated += r.dropped_len;
            say(c, false,
                "%s.log: %s at position %" PRIu64 ": truncated %" PRIu64 " bytes (was %" PRIu64
                "); %" PRIu64 " valid batches kept",
                seg->path, r.why, r.valid_len, r.dropped_len, file_len, r.n_batches);
        } else {
            say(c, true, "%s.log: cannot truncate: %s", seg->path, ed_strerror(rc));
        }
        ed_segment_unref(seg);
        return ED_OK;
    } else {
        say(c, true,
            "%s.log: %s at position %" PRIu64 " (offset %" PRId64 "): %" PRIu64
            " bytes from there are invalid; %" PRIu64 " valid batches before",
            seg->path, r.why, r.valid_len, seg->next_offset, r.dropped_len, r.n_batches);
    }
    ed_index_free(&seg->idx);
    check_indexes(c, seg, active);
    ed_segment_unref(seg);
    return ED_OK;
}

static int check_partition(struct ctx *c, const char *dir)
{
    struct ed_segdir l;
    int rc = ed_segdir_list(dir, &l);
    if (rc != ED_OK) {
        say(c, true, "%s: cannot list: %s", dir, ed_strerror(rc));
        return rc == ED_ERR_NOMEM ? rc : ED_OK;
    }
    c->rep->n_partitions++;
    if (l.n_bases == 0) say(c, false, "%s: no segments", dir);
    for (uint32_t i = 0; i < l.n_bases && rc == ED_OK; i++) {
        bool last = i + 1 == l.n_bases;
        rc = check_segment(c, dir, l.bases[i], last ? INT64_MAX : l.bases[i + 1], last);
    }
    ed_segdir_free(&l);
    return rc;
}

static void ctx_free(struct ctx *c)
{
    ed_free(c->buf);
    ed_free(c->bbuf);
    ed_batch_validator_release(&c->v);
}

int ed_check_path(const char *path, bool truncate, ed_check_print print, void *arg,
                  struct ed_check_report *rep)
{
    memset(rep, 0, sizeof *rep);
    struct ctx c = {print, arg, rep, truncate, ed_malloc(ED_SCAN_BUF_LEN), NULL, 0, {{0}, 0}};
    if (!c.buf) return ED_ERR_NOMEM;
    ed_batch_validator_init(&c.v, ED_BATCH_RECORDS_MAX_LEN);
    bool is_dir = false;
    int rc = ed_plat_path_stat(path, &is_dir, NULL);
    if (rc != ED_OK) {
        say(&c, true, "%s: %s", path, ed_strerror(rc));
        ctx_free(&c);
        return rc;
    }
    if (!is_dir) {
        /* One .log file: its folder and base offset from the name. */
        char dir[ED_STORAGE_PATH_MAX];
        const char *slash = strrchr(path, '/');
        const char *name = slash ? slash + 1 : path;
        int64_t base;
        if (!ed_segdir_parse_name(name, ".log", &base) || strlen(path) >= sizeof dir) {
            say(&c, true, "%s: not a segment file (<20-digit offset>.log)", path);
            ctx_free(&c);
            return ED_ERR_INVAL;
        }
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
        rc = check_segment(&c, dir, base, INT64_MAX, false);
        ctx_free(&c);
        return rc;
    }
    struct ed_segdir l;
    rc = ed_segdir_list(path, &l);
    if (rc == ED_OK && l.n_bases > 0) {
        rc = check_partition(&c, path); /* a partition folder */
    } else if (rc == ED_OK) {
        for (uint32_t i = 0; i < l.n_dirs && rc == ED_OK; i++) {
            size_t n = strlen(l.dirs[i]);
            if (n > 7 && strcmp(l.dirs[i] + n - 7, "-delete") == 0) continue;
            char sub[ED_STORAGE_PATH_MAX];
            int k = snprintf(sub, sizeof sub, "%s/%s", path, l.dirs[i]);
            if (k < 0 || (size_t)k >= sizeof sub) continue;
            rc = check_partition(&c, sub);
        }
    }
    ed_segdir_free(&l);
    ctx_free(&c);
    return rc;
}
