/* ListOffsets (API key 2) v0-7 and OffsetForLeaderEpoch (API key 23) v0-4.
 * ListOffsets answers earliest (-2), latest (-1), max timestamp (-3) and by
 * timestamp: the storage finds the first batch whose max timestamp reaches
 * the target and the exact record is found by walking that batch's records
 * (decompressed if need be: ListOffsets by time is rare, unlike Fetch).
 * Eddy's leader epoch is always 0, so OffsetForLeaderEpoch answers epoch 0
 * with the log end offset and any other epoch as undefined (-1, -1). */
#define ED_LOG_MODULE "offsets"
#include "core/kapi_handlers.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/log.h"

#include <inttypes.h>
#include <string.h>

#define TS_LATEST   -1
#define TS_EARLIEST -2
#define TS_MAX      -3

/* Largest batch read and walked record by record to find the exact offset
 * for a timestamp (and bound of its decompressed records); bigger batches
 * answer at batch granularity. */
#ifndef ED_LISTOFFSETS_WALK_MAX_LEN
#define ED_LISTOFFSETS_WALK_MAX_LEN (4u << 20)
#endif

/* Narrows (off, ts) from batch granularity to the first record at or after
 * off whose timestamp is >= target, decompressing the batch if needed. Any
 * failure keeps the batch-level answer, which is at most one batch early. */
static void refine(ed_log *log, int64_t target, int64_t *off, int64_t *ts)
{
    struct ed_log_slice s;
    if (ed_log_read(log, *off, 0, &s) != ED_OK) return;
    uint8_t *buf = NULL;
    struct ed_batch_iter it;
    ed_batch_iter_init(&it, ED_LISTOFFSETS_WALK_MAX_LEN);
    if (s.len == 0 || s.len > ED_LISTOFFSETS_WALK_MAX_LEN) goto out;
    buf = ed_malloc(s.len);
    if (!buf || ed_log_slice_copy(&s, buf, s.len) != ED_OK) goto out;
    if (ed_batch_iter_begin(&it, buf, s.len) != ED_OK) goto out;
    struct ed_record rec;
    while (ed_batch_iter_next(&it, &rec) == 1) {
        if (rec.offset >= *off && rec.timestamp >= target) {
            *off = rec.offset;
            *ts = rec.timestamp;
            break;
        }
    }
out:
    ed_batch_iter_release(&it);
    ed_free(buf);
    ed_log_slice_release(&s);
}

struct lo_result {
    int16_t err;
    int64_t offset;
    int64_t timestamp;
    int32_t leader_epoch;
};

static void list_one(ed_partition *p, int32_t cur_epoch, int64_t ts, struct lo_result *r)
{
    *r = (struct lo_result){ED_KERR_NONE, -1, -1, -1};
    if (!p) {
        r->err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (cur_epoch > 0) {
        r->err = ED_KERR_UNKNOWN_LEADER_EPOCH;
        return;
    }
    ed_log *log = p->log;
    int rc = ED_OK;
    if (ts == TS_LATEST) {
        r->offset = ed_log_end_offset(log); /* also the last stable offset */
    } else if (ts == TS_EARLIEST || ts < TS_MAX) {
        r->offset = ed_log_start_offset(log);
    } else if (ts == TS_MAX) {
        rc = ed_log_max_timestamp(log, &r->offset, &r->timestamp);
        if (!rc && r->timestamp < 0) r->offset = r->timestamp = -1;
    } else {
        rc = ed_log_offset_for_time(log, ts, &r->offset, &r->timestamp);
        if (!rc && r->timestamp < 0)
            r->offset = -1; /* no record that late */
        else if (!rc)
            refine(log, ts, &r->offset, &r->timestamp);
    }
    if (rc) {
        ED_LOG_WARN_RL("%s-%d: offset lookup failed: %s", ed_topic_name(p->topic), (int)p->index,
                       ed_strerror(rc));
        *r = (struct lo_result){ED_KERR_KAFKA_STORAGE_ERROR, -1, -1, -1};
        return;
    }
    if (r->offset >= 0) r->leader_epoch = 0;
}

int ed_kapi_list_offsets(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    bool flex = req->flex;
    int16_t v = req->api_version;

    ed_krd_i32(rd);               /* replica_id */
    if (v >= 2) ed_krd_i8(rd);    /* isolation_level: no transactions, LSO = end */
    if (v >= 2) ed_kwr_i32(w, 0); /* throttle_time_ms */
    size_t part_len = 12 + (v == 0 ? 4 : 0) + (v >= 4 ? 4 : 0) + (flex ? 1 : 0);
    int32_t n_topics = ed_krd_array(rd, flex, flex ? 2 : 6);
    ed_kwr_array(w, n_topics < 0 ? 0 : n_topics, flex);
    for (int32_t t = 0; t < n_topics && ed_krd_ok(rd); t++) {
        ed_kstr name = ed_krd_str(rd, flex);
        ed_topic *topic = ed_topics_find_k(req->broker->topics, name);
        int32_t n = ed_krd_array(rd, flex, part_len);
        ed_kwr_kstr(w, name, flex);
        ed_kwr_array(w, n < 0 ? 0 : n, flex);
        for (int32_t i = 0; i < n && ed_krd_ok(rd); i++) {
            int32_t index = ed_krd_i32(rd);
            int32_t cur_epoch = v >= 4 ? ed_krd_i32(rd) : -1;
            int64_t ts = ed_krd_i64(rd);
            int32_t max_num = v == 0 ? ed_krd_i32(rd) : 1;
            ed_krd_tags(rd, flex);
            struct lo_result r;
            list_one(topic ? ed_topic_partition(topic, index) : NULL, cur_epoch, ts, &r);
            ed_kwr_i32(w, index);
            ed_kwr_i16(w, r.err);
            if (v == 0) {
                bool one = r.err == ED_KERR_NONE && r.offset >= 0 && max_num > 0;
                ed_kwr_array(w, one ? 1 : 0, flex);
                if (one) ed_kwr_i64(w, r.offset);
            } else {
                ed_kwr_i64(w, r.timestamp);
                ed_kwr_i64(w, r.offset);
                if (v >= 4) ed_kwr_i32(w, r.leader_epoch);
            }
            ed_kwr_tags(w, flex);
        }
        ed_krd_tags(rd, flex);
        ed_kwr_tags(w, flex);
    }
    ed_krd_tags(rd, flex);
    ed_kwr_tags(w, flex);
    if (!ed_krd_ok(rd) || n_topics < 0) {
        ED_LOG_DBG("%s: malformed list-offsets request v%d", req->peer, v);
        return ED_KAPI_CLOSE;
    }
    return ED_KAPI_RESPOND;
}

int ed_kapi_offset_for_leader_epoch(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    bool flex = req->flex;
    int16_t v = req->api_version;

    if (v >= 3) ed_krd_i32(rd);   /* replica_id */
    if (v >= 2) ed_kwr_i32(w, 0); /* throttle_time_ms */
    size_t part_len = 8 + (v >= 2 ? 4 : 0) + (flex ? 1 : 0);
    int32_t n_topics = ed_krd_array(rd, flex, flex ? 2 : 6);
    ed_kwr_array(w, n_topics < 0 ? 0 : n_topics, flex);
    for (int32_t t = 0; t < n_topics && ed_krd_ok(rd); t++) {
        ed_kstr name = ed_krd_str(rd, flex);
        ed_topic *topic = ed_topics_find_k(req->broker->topics, name);
        int32_t n = ed_krd_array(rd, flex, part_len);
        ed_kwr_kstr(w, name, flex);
        ed_kwr_array(w, n < 0 ? 0 : n, flex);
        for (int32_t i = 0; i < n && ed_krd_ok(rd); i++) {
            int32_t index = ed_krd_i32(rd);
            int32_t cur_epoch = v >= 2 ? ed_krd_i32(rd) : -1;
            int32_t epoch = ed_krd_i32(rd);
            ed_krd_tags(rd, flex);
            ed_partition *p = topic ? ed_topic_partition(topic, index) : NULL;
            int16_t err = ED_KERR_NONE;
            int32_t out_epoch = -1;
            int64_t end = -1;
            if (!p)
                err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (cur_epoch > 0)
                err = ED_KERR_UNKNOWN_LEADER_EPOCH;
            else if (epoch == 0) {
                /* The only epoch there is: it ends at the log end. */
                out_epoch = 0;
                end = ed_log_end_offset(p->log);
            }
            ed_kwr_i16(w, err);
            ed_kwr_i32(w, index);
            if (v >= 1) ed_kwr_i32(w, out_epoch);
            ed_kwr_i64(w, end);
            ed_kwr_tags(w, flex);
        }
        ed_krd_tags(rd, flex);
        ed_kwr_tags(w, flex);
    }
    ed_krd_tags(rd, flex);
    ed_kwr_tags(w, flex);
    if (!ed_krd_ok(rd) || n_topics < 0) {
        ED_LOG_DBG("%s: malformed offset-for-leader-epoch request v%d", req->peer, v);
        return ED_KAPI_CLOSE;
    }
    return ED_KAPI_RESPOND;
}
