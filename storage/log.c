/* A partition log: its list of segments (the last one active), appends that
 * validate, stamp and write a producer's batches with one gather write,
 * rolling by size, age and offset range; reads of whole batches by offset
 * (index lookup, then a forward scan of batch headers), lookups by
 * timestamp, header scans and DeleteRecords. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "log"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/format.h"
#include "storage/log_int.h"

void ed_log_config_default(struct ed_log_config *c)
{
    memset(c, 0, sizeof *c);
    c->segment_len = 16u << 20;             /* flash-sized, not Kafka's 1 GiB */
    c->segment_ms = 7LL * 24 * 3600 * 1000; /* Kafka's log.roll.ms default */
    c->retention_ms = 7LL * 24 * 3600 * 1000;
    c->retention_len = -1;
    c->index_interval_len = 4096;
    /* Durability comes from durable waiters (acks=all, QoS >= 1, CON), each
     * covered by a shared fdatasync. For data nobody waits on, a count bound
     * would only add syncs (flash wear) without a promise to anyone, so it is
     * off (Kafka's own default); flush.ms = 1 s bounds how much un-awaited
     * data a power cut can take. */
    c->flush_interval_messages = INT64_MAX;
    c->flush_interval_ms = 1000;
    c->max_message_len = 1048588; /* Kafka's message.max.bytes: 1 MiB + overhead */
    c->compact = false;
    c->delete_ = true;
    c->log_append_time = false;
    c->compression = ED_COMPRESSION_NONE;
    c->delete_retention_ms = 24LL * 3600 * 1000;
}

void ed_log_clamp_config(struct ed_log_config *c)
{
    /* Index positions are int32: a segment never grows past INT32_MAX. */
    if (c->segment_len < 64) c->segment_len = 64;
    if (c->segment_len > INT32_MAX) c->segment_len = INT32_MAX;
    if (c->segment_ms < 1) c->segment_ms = 1;
    if (c->flush_interval_messages < 1) c->flush_interval_messages = 1;
    if (c->flush_interval_ms < 0) c->flush_interval_ms = 0;
    if (c->max_message_len < 0) c->max_message_len = 0;
    if (c->index_interval_len > INT32_MAX) c->index_interval_len = INT32_MAX;
}

int ed_log_new(ed_storage *st, const char *dir, const char *topic, int32_t partition,
               const struct ed_log_config *cfg, ed_log **out)
{
    ed_log *log = ed_calloc(1, sizeof *log);
    if (!log) return ED_ERR_NOMEM;
    log->st = st;
    log->partition = partition;
    log->topic = ed_strdup(topic);
    log->dir = ed_strdup(dir);
    if (!log->topic || !log->dir) {
        ed_log_free(log);
        return ED_ERR_NOMEM;
    }
    log->cfg = *cfg;
    ed_log_clamp_config(&log->cfg);
    log->unflushed_since_ms = -1;
    *out = log;
    return ED_OK;
}

void ed_log_free(ed_log *log)
{
    if (!log) return;
    for (uint32_t i = 0; i < log->n_segs; i++) {
        ed_fdcache_detach(log->segs[i]);
        ed_segment_unref(log->segs[i]);
    }
    ed_free(log->segs);
    ed_free(log->job.segs);
    ed_free(log->topic);
    ed_free(log->dir);
    ed_free(log->delete_dir);
    ed_free(log);
}

int ed_log_push_segment(ed_log *log, ed_segment *seg)
{
    if (log->n_segs == log->cap_segs) {
        uint32_t cap = log->cap_segs ? log->cap_segs * 2 : 8;
        ed_segment **p = ed_realloc(log->segs, cap * sizeof *p);
        if (!p) return ED_ERR_NOMEM;
        log->segs = p;
        log->cap_segs = cap;
    }
    log->segs[log->n_segs++] = seg;
    log->size += seg->len;
    log->st->total_len += seg->len;
    ed_fdcache_attach(&log->st->fdc, seg);
    return ED_OK;
}

static ed_segment *active(const ed_log *log)
{
    return log->segs[log->n_segs - 1];
}

int ed_log_roll(ed_log *log, int64_t now_ms)
{
    ed_segment *old = active(log);
    if (log->n_segs == log->cap_segs) {
        uint32_t cap = log->cap_segs * 2;
        ed_segment **p = ed_realloc(log->segs, cap * sizeof *p);
        if (!p) return ED_ERR_NOMEM;
        log->segs = p;
        log->cap_segs = cap;
    }
    ed_segment *seg;
    int rc = ed_segment_create(log->dir, log->end_offset, now_ms, &seg);
    if (rc != ED_OK) return rc;
    ed_index_seal(old);
    old->sealed = true;
    old->trim_pending = true;
    ED_ASSERT(ed_log_push_segment(log, seg) == ED_OK);
    log->dir_dirty = true;
    ED_LOG_DBG("%s: rolled at offset %" PRId64 " (%" PRIu64 " bytes)", old->path, log->end_offset,
               old->len);
    /* The sealed segment's index files are written by the next flush. */
    ed_flush_request(log);
    return ED_OK;
}

void ed_log_drop_oldest(ed_log *log)
{
    ED_ASSERT(log->n_segs > 1);
    ed_segment *seg = log->segs[0];
    memmove(log->segs, log->segs + 1, (log->n_segs - 1) * sizeof *log->segs);
    log->n_segs--;
    ed_fdcache_detach(seg);
    log->size -= seg->len;
    log->st->total_len -= seg->len;
    if (log->start_offset < log->segs[0]->base_offset)
        log->start_offset = log->segs[0]->base_offset;
    ED_LOG_DBG("%s: deleted segment (%" PRIu64 " bytes); log starts at %" PRId64, seg->path,
               seg->len, log->start_offset);
    ed_segment_remove_files(seg);
    ed_segment_unref(seg);
    /* The unlinks become durable with the folder sync of the next flush
     * (on the flusher thread): a power cut must not bring the segment back
     * after the log start offset moved past it. */
    log->dir_dirty = true;
    ed_flush_request(log);
}

uint32_t ed_log_find_segment(const ed_log *log, int64_t offset)
{
    uint32_t lo = 0, hi = log->n_segs, found = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base_offset <= offset) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return found;
}

/* Roll-by-time as Kafka measures it: from the first batch's timestamp to the
 * incoming one when batches carry timestamps, else by wall-clock age. */
static bool roll_due(const ed_log *log, const ed_segment *seg, int64_t incoming_ts, int64_t now_ms)
{
    if (seg->len == 0) return false;
    int64_t waited = seg->first_ts >= 0 && incoming_ts >= 0 ? incoming_ts - seg->first_ts
                                                            : now_ms - seg->created_ms;
    return waited > log->cfg.segment_ms;
}

bool ed_log_roll_due(const ed_log *log, int64_t now_ms)
{
    /* Without an incoming batch there is no record time to compare with:
     * the tick rolls by wall-clock age, so that replayed old data is not
     * rolled on every tick. */
    const ed_segment *seg = active(log);
    return seg->len > 0 && now_ms - seg->created_ms > log->cfg.segment_ms;
}

/* ---- appends ---- */

int ed_log_validate(ed_log *log, const uint8_t *buf, size_t len, struct ed_batch_fault *fault)
{
    return ed_batch_validate(&log->st->validator, buf, len, true, NULL, fault);
}

int ed_log_append(ed_log *log, uint8_t *buf, size_t len, struct ed_append_result *res)
{
    if (log->deleted) return ED_ERR_CLOSED;
    if (log->broken) return log->broken;
    if (!buf || len == 0) return ED_ERR_INVAL;
    if (len > INT32_MAX) return ED_ERR_TOOBIG;

    /* 1. Validate everything before changing anything. */
    uint32_t n_batches = 0;
    int64_t n_offsets = 0, n_records = 0, in_max_ts = -1;
    for (size_t pos = 0; pos < len;) {
        struct ed_batch_info b;
        const char *why = NULL;
        int rc = ed_batch_check_why(buf + pos, len - pos, &b, &why);
        if (rc != ED_OK) {
            ED_LOG_DBG("%s-%d: rejected append: batch %" PRIu32 " at byte %zu: %s", log->topic,
                       (int)log->partition, n_batches, pos, why ? why : "invalid");
            return rc;
        }
        size_t total = ed_batch_total_len(&b);
        if (total > (size_t)log->cfg.max_message_len) return ED_ERR_TOOBIG;
        n_offsets += (int64_t)b.last_offset_delta + 1;
        n_records += b.record_count;
        if (b.max_timestamp > in_max_ts) in_max_ts = b.max_timestamp;
        n_batches++;
        pos += total;
    }
    if (log->end_offset > INT64_MAX - n_offsets) return ED_ERR_RANGE;
    if (n_offsets - 1 > INT32_MAX) return ED_ERR_TOOBIG;

    /* 2. Make room: disk budget and free-space floor, roll, index capacity. */
    int rc = ed_retention_admit(log->st, log, len);
    if (rc != ED_OK) return rc;
    int64_t now = ed_plat_clock_wall_ms();
    ed_segment *seg = active(log);
    if (seg->len > 0 && (seg->len + len > log->cfg.segment_len ||
                         log->end_offset + n_offsets - 1 - seg->base_offset > INT32_MAX ||
                         roll_due(log, seg, log->cfg.log_append_time ? now : in_max_ts, now))) {
        rc = ed_log_roll(log, now);
        if (rc != ED_OK) {
            if (rc == ED_ERR_NOSPC) log->st->guard_now = true;
            return rc;
        }
        seg = active(log);
    }
    rc = ed_index_reserve(&seg->idx, n_batches);
    if (rc != ED_OK) return rc;
    ed_storage *st = log->st;

    /* 3. Assign offsets in place (outside the CRC, unless LogAppendTime). */
    int64_t lat = log->cfg.log_append_time ? now : -1;
    int64_t next = log->end_offset;
    for (size_t pos = 0; pos < len;) {
        ed_batch_stamp(buf + pos, next, 0, lat);
        int32_t delta = (int32_t)ed_get_be32(buf + pos + ED_BATCH_OFF_LAST_OFFSET_DELTA);
        next += (int64_t)delta + 1;
        pos +=
            (size_t)(int32_t)ed_get_be32(buf + pos + ED_BATCH_OFF_LENGTH) + ED_BATCH_LOG_OVERHEAD;
    }

    /* 4. One gather write. */
    uint64_t at = seg->len;
    struct ed_iovec iov = {buf, len};
    rc = ed_segment_append(seg, &iov, 1, len, log->cfg.segment_len);
    if (rc != ED_OK) {
        if (rc == ED_ERR_NOSPC) {
            st->guard_now = true;
            ED_LOG_WARN_RL("%s.log: disk full, append of %zu bytes refused", seg->path, len);
        }
        return rc;
    }

    /* 5. Publish: indexes, offsets, sizes. */
    for (size_t pos = 0; pos < len;) {
        struct ed_batch_info b;
        ED_ASSERT(ed_batch_parse_header(buf + pos, len - pos, &b) == ED_OK);
        ed_index_note_batch(seg, &b, at + pos, log->cfg.index_interval_len);
        pos += ed_batch_total_len(&b);
    }
    if (res) {
        res->base_offset = log->end_offset;
        res->last_offset = next - 1;
        res->log_append_time = lat;
        res->log_start_offset = log->start_offset;
    }
    log->end_offset = next;
    log->size += len;
    st->total_len += len;
    ed_flush_note_append(log, n_records, now);
    return ED_OK;
}

/* ---- reads ---- */

int64_t ed_log_start_offset(const ed_log *log)
{
    return log->start_offset;
}

int64_t ed_log_end_offset(const ed_log *log)
{
    return log->end_offset;
}

int64_t ed_log_durable_offset(const ed_log *log)
{
    return log->durable_offset;
}

uint64_t ed_log_size(const ed_log *log)
{
    return log->size;
}

void ed_log_set_config(ed_log *log, const struct ed_log_config *cfg)
{
    log->cfg = *cfg;
    ed_log_clamp_config(&log->cfg);
}

const struct ed_log_config *ed_log_get_config(const ed_log *log)
{
    return &log->cfg;
}

/* Makes a sealed segment's on-disk index usable: checked once, rebuilt
 * from the log (and rewritten by the next flush) when it fails. */
static void index_ready(ed_log *log, ed_segment *seg)
{
    if (!seg->index_on_disk || seg->index_checked) return;
    if (ed_index_check_disk(seg) == ED_OK) return;
    ED_LOG_WARN("%s: index files fail their check; rebuilding them from the log", seg->path);
    ed_index_rebuild(seg, log->cfg.index_interval_len);
    ed_flush_request(log);
}

/* Finds the batch holding offset, or the first after it, in seg.
 * ED_ERR_NOENT if the segment ends before. */
static int locate(ed_log *log, ed_segment *seg, int64_t offset, struct ed_hdr_window *w,
                  uint64_t *pos, struct ed_batch_info *b)
{
    index_ready(log, seg);
    uint64_t p = 0;
    int rc = ed_index_lookup_offset(seg, offset, &p);
    if (rc != ED_OK) return rc;
    while (p < seg->len) {
        rc = ed_segment_header(seg, w, p, b);
        if (rc != ED_OK) return rc;
        if (b->base_offset + b->last_offset_delta >= offset) {
            *pos = p;
            return ED_OK;
        }
        p += ed_batch_total_len(b);
    }
    return ED_ERR_NOENT;
}

int ed_log_read(ed_log *log, int64_t offset, size_t max_len, struct ed_log_slice *out)
{
    memset(out, 0, sizeof *out);
    if (offset < log->start_offset || offset > log->end_offset) return ED_ERR_RANGE;
    if (offset == log->end_offset) return ED_OK;
    for (uint32_t i = ed_log_find_segment(log, offset); i < log->n_segs; i++) {
        ed_segment *seg = log->segs[i];
        struct ed_hdr_window w;
        struct ed_batch_info b;
        uint64_t pos = 0;
        w.len = 0;
        if (seg->len == 0) continue;
        int rc = locate(log, seg, offset, &w, &pos, &b);
        if (rc == ED_ERR_NOENT) continue;
        if (rc != ED_OK) return rc;
        uint64_t end = pos + ed_batch_total_len(&b);
        uint64_t limit = max_len > seg->len - pos ? seg->len : pos + max_len;
        if (end < limit) {
            /* Jump to the last indexed batch that still starts inside the
             * limit (every byte before it is whole batches), then scan. */
            uint64_t jump = 0;
            rc = ed_index_lookup_position(seg, limit, &jump);
            if (rc != ED_OK) return rc;
            if (jump > end) end = jump;
            while (end < limit) {
                struct ed_batch_info nb;
                if (ed_segment_header(seg, &w, end, &nb) != ED_OK) break;
                if (end + ed_batch_total_len(&nb) > limit) break;
                end += ed_batch_total_len(&nb);
            }
        }
        ed_file *f;
        rc = ed_fdcache_file(seg, &f);
        if (rc != ED_OK) return rc;
        ed_segment_ref(seg);
        out->seg = seg;
        out->file = f;
        out->pos = pos;
        out->len = (size_t)(end - pos);
        out->first_offset = b.base_offset;
        return ED_OK;
    }
    return ED_OK;
}

void ed_log_slice_release(struct ed_log_slice *s)
{
    if (!s) return;
    ed_segment_unref(s->seg);
    memset(s, 0, sizeof *s);
}

int ed_log_slice_copy(const struct ed_log_slice *s, void *buf, size_t buf_len)
{
    if (!s->seg || s->len == 0) return ED_OK;
    if (buf_len < s->len) return ED_ERR_INVAL;
    size_t got = 0;
    int rc = ed_plat_file_pread(s->file, buf, s->len, s->pos, &got);
    if (rc == ED_OK && got != s->len) rc = ED_ERR_IO;
    return rc;
}

/* Kafka answers a lookup by time with the first record of the found batch
 * whose timestamp is >= ts (and whose offset is still in the log): read the
 * batch and walk its records. If they cannot be read (codec not built in, a
 * damaged batch in a trusted segment) the batch itself is the answer. */
#define REFINE_MAX_RECORDS_LEN (16u << 20)
static void refine_in_batch(ed_log *log, ed_segment *seg, uint64_t pos,
                            const struct ed_batch_info *b, int64_t ts, int64_t *offset,
                            int64_t *timestamp)
{
    size_t total = ed_batch_total_len(b);
    if (b->last_offset_delta == 0 && !ed_batch_is_log_append_time(b)) return;
    uint8_t *buf = total <= ED_SCAN_BUF_LEN ? log->st->scan_buf : ed_malloc(total);
    if (!buf) return;
    size_t got = 0;
    ed_file *f;
    if (ed_fdcache_file(seg, &f) == ED_OK &&
        ed_plat_file_pread(f, buf, total, pos, &got) == ED_OK && got == total) {
        struct ed_batch_iter it;
        struct ed_record r;
        ed_batch_iter_init(&it, REFINE_MAX_RECORDS_LEN);
        if (ed_batch_iter_begin(&it, buf, total) == ED_OK) {
            while (ed_batch_iter_next(&it, &r) == 1) {
                if (r.timestamp >= ts && r.offset >= log->start_offset) {
                    *offset = r.offset;
                    *timestamp = r.timestamp;
                    break;
                }
            }
        }
        ed_batch_iter_release(&it);
    }
    if (buf != log->st->scan_buf) ed_free(buf);
}

int ed_log_offset_for_time(ed_log *log, int64_t ts, int64_t *offset, int64_t *timestamp)
{
    *offset = log->end_offset;
    *timestamp = -1;
    for (uint32_t i = 0; i < log->n_segs; i++) {
        ed_segment *seg = log->segs[i];
        if (seg->len == 0 || seg->max_ts < ts) continue;
        if (seg->next_offset <= log->start_offset) continue;
        index_ready(log, seg);
        int64_t from = seg->base_offset;
        int rc = ed_index_lookup_time(seg, ts, &from);
        if (rc != ED_OK) return rc;
        if (from < log->start_offset) from = log->start_offset;
        uint64_t p = 0;
        rc = ed_index_lookup_offset(seg, from, &p);
        if (rc != ED_OK) return rc;
        struct ed_hdr_window w;
        w.len = 0;
        while (p < seg->len) {
            struct ed_batch_info b;
            rc = ed_segment_header(seg, &w, p, &b);
            if (rc != ED_OK) return rc;
            if (b.max_timestamp >= ts && b.base_offset + b.last_offset_delta >= log->start_offset) {
                *offset = ED_MAX(b.base_offset, log->start_offset);
                *timestamp = b.max_timestamp;
                refine_in_batch(log, seg, p, &b, ts, offset, timestamp);
                return ED_OK;
            }
            p += ed_batch_total_len(&b);
        }
    }
    return ED_OK;
}

int ed_log_max_timestamp(ed_log *log, int64_t *offset, int64_t *timestamp)
{
    *offset = -1;
    *timestamp = -1;
    for (uint32_t i = 0; i < log->n_segs; i++) {
        const ed_segment *seg = log->segs[i];
        if (seg->len > 0 && seg->max_ts > *timestamp && seg->max_ts_off >= log->start_offset) {
            *timestamp = seg->max_ts;
            *offset = seg->max_ts_off;
        }
    }
    return ED_OK;
}

int ed_log_scan(ed_log *log, int64_t from_offset, ed_log_batch_cb cb, void *arg)
{
    if (from_offset < log->start_offset) from_offset = log->start_offset;
    if (from_offset >= log->end_offset) return ED_OK;
    for (uint32_t i = ed_log_find_segment(log, from_offset); i < log->n_segs; i++) {
        ed_segment *seg = log->segs[i];
        struct ed_hdr_window w;
        struct ed_batch_info b;
        uint64_t pos = 0;
        w.len = 0;
        if (seg->len == 0) continue;
        int rc = locate(log, seg, from_offset, &w, &pos, &b);
        if (rc == ED_ERR_NOENT) continue;
        if (rc != ED_OK) return rc;
        /* The callback may append to this log: stop at today's end. */
        uint64_t end = seg->len;
        ed_segment_ref(seg);
        while (pos < end) {
            rc = ed_segment_header(seg, &w, pos, &b);
            if (rc == ED_OK) rc = cb(arg, &b);
            if (rc != ED_OK) break;
            pos += ed_batch_total_len(&b);
        }
        ed_segment_unref(seg);
        if (rc != ED_OK) return rc;
        from_offset = b.base_offset + b.last_offset_delta + 1;
        if (log->deleted) return ED_ERR_CLOSED;
    }
    return ED_OK;
}

int ed_log_truncate_before(ed_log *log, int64_t offset)
{
    if (log->deleted) return ED_ERR_CLOSED;
    if (offset > log->end_offset || offset < 0) return ED_ERR_RANGE;
    if (offset <= log->start_offset) return ED_OK;
    /* The new start is durable before any segment goes: a power cut then
     * finds either every old segment (and removes those below the start
     * at open) or the ones left; never a hole below the start. A failed
     * checkpoint changes nothing. */
    int64_t old_start = log->start_offset;
    log->start_offset = offset;
    int rc = ed_storage_write_start_offsets(log->st);
    if (rc != ED_OK) {
        log->start_offset = old_start;
        return rc;
    }
    bool dropped = false;
    while (log->n_segs > 1 && log->segs[1]->base_offset <= offset && !log->segs[0]->in_job) {
        ed_log_drop_oldest(log);
        dropped = true;
    }
    log->start_offset = ED_MAX(log->start_offset, offset);
    if (dropped) {
        rc = ed_plat_dir_sync(log->dir);
        if (rc != ED_OK)
            ED_LOG_WARN("%s: cannot sync after deleting segments: %s", log->dir, ed_strerror(rc));
    }
    return ED_OK;
}
