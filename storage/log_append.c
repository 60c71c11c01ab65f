/* Appends to a partition log: validating a producer's batches, admitting
 * their bytes past the disk guard, rolling by size, age and offset range,
 * stamping offsets in place and writing all batches with one gather
 * write. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "log"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/flush.h"
#include "storage/format.h"
#include "storage/log_roll.h"
#include "storage/retention.h"
#include "storage/write_ahead.h"

/* Roll-by-time as Kafka measures it: from the first batch's timestamp to the
 * incoming one when batches carry timestamps, else by wall-clock age. */
static bool roll_due(const ed_log *log, const ed_segment *seg, int64_t incoming_ts, int64_t now_ms)
{
    if (seg->len == 0) return false;
    int64_t waited = seg->first_ts >= 0 && incoming_ts >= 0 ? incoming_ts - seg->first_ts
                                                            : now_ms - seg->created_ms;
    return waited > log->cfg.segment_ms;
}

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
    ed_segment *seg = ed_log_active(log);
    if (seg->len > 0 && (seg->len + len > log->cfg.segment_len ||
                         log->end_offset + n_offsets - 1 - seg->base_offset > INT32_MAX ||
                         roll_due(log, seg, log->cfg.log_append_time ? now : in_max_ts, now))) {
        rc = ed_log_roll(log, now);
        if (rc != ED_OK) {
            if (rc == ED_ERR_NOSPC) log->st->guard_now = true;
            return rc;
        }
        seg = ed_log_active(log);
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

    /* 4. One gather write, into blocks written ahead where that pays. A
     * full disk refuses the zeros, not the append: the reservation below
     * then asks for exactly what the write needs. */
    uint64_t at = seg->len;
    if (ed_write_ahead_wanted(log)) {
        rc = ed_write_ahead_fill(seg, seg->len + len, ed_write_ahead_step(log),
                                 log->cfg.segment_len);
        if (rc != ED_OK && rc != ED_ERR_NOSPC) return rc;
    }
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
    ed_flush_note_append(log, n_records, len, now);
    return ED_OK;
}
