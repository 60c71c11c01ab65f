/* ListOffsets (API key 2) v0-7 and OffsetForLeaderEpoch (API key 23) v0-4.
 * ListOffsets answers earliest (-2), latest (-1), max timestamp (-3) and by
 * timestamp: the storage finds the first batch whose max timestamp reaches
 * the target and the exact record is found by walking that batch's records
 * (decompressed if need be: ListOffsets by time is rare, unlike Fetch).
 * Eddy's leader epoch is always 0, so OffsetForLeaderEpoch answers epoch 0
 * with the log end offset and any other epoch as undefined (-1, -1). */
#define ED_LOG_MODULE "offsets"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi_handlers.h"
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
    const struct ed_kmsg_list_offsets_request *body = req->body;
    struct ed_kmsg_list_offsets_response resp;
    ed_kschema_init(req->api->response, &resp);
    /* isolation_level is ignored: no transactions, so the LSO is the end. */
    if (!ed_kreq_array(req, body->n_topics,
                       &ed_kmsg_list_offsets_response_list_offsets_topic_response_desc,
                       &resp.n_topics, &resp.topics))
        return ED_KAPI_RESPOND;
    for (int32_t t = 0; t < body->n_topics; t++) {
        const struct ed_kmsg_list_offsets_request_list_offsets_topic *in = &body->topics[t];
        struct ed_kmsg_list_offsets_response_list_offsets_topic_response *out = &resp.topics[t];
        ed_topic *topic = ed_topics_find_k(req->broker->topics, in->name);
        bool allowed = ed_kapi_allowed(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_TOPIC, in->name);
        out->name = in->name;
        if (!ed_kreq_array(req, in->n_partitions,
                           &ed_kmsg_list_offsets_response_list_offsets_partition_response_desc,
                           &out->n_partitions, &out->partitions))
            return ED_KAPI_RESPOND;
        for (int32_t i = 0; i < in->n_partitions; i++) {
            const struct ed_kmsg_list_offsets_request_list_offsets_partition *ip =
                &in->partitions[i];
            struct ed_kmsg_list_offsets_response_list_offsets_partition_response *op =
                &out->partitions[i];
            struct lo_result r;
            list_one(topic ? ed_topic_partition(topic, ip->partition_index) : NULL,
                     ip->current_leader_epoch, ip->timestamp, &r);
            op->partition_index = ip->partition_index;
            if (!allowed) r = (struct lo_result){ED_KERR_TOPIC_AUTHORIZATION_FAILED, -1, -1, -1};
            op->error_code = r.err;
            op->timestamp = r.timestamp;
            op->offset = r.offset;
            op->leader_epoch = r.leader_epoch;
            /* v0 answers a list of at most max_num_offsets offsets. */
            bool one = r.err == ED_KERR_NONE && r.offset >= 0 && ip->max_num_offsets > 0;
            op->n_old_style_offsets = one ? 1 : 0;
            op->old_style_offsets = one ? &op->offset : NULL;
        }
    }
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}

int ed_kapi_offset_for_leader_epoch(ed_kreq *req)
{
    const struct ed_kmsg_offset_for_leader_epoch_request *body = req->body;
    struct ed_kmsg_offset_for_leader_epoch_response resp;
    ed_kschema_init(req->api->response, &resp);
    if (!ed_kreq_array(
            req, body->n_topics,
            &ed_kmsg_offset_for_leader_epoch_response_offset_for_leader_topic_result_desc,
            &resp.n_topics, &resp.topics))
        return ED_KAPI_RESPOND;
    for (int32_t t = 0; t < body->n_topics; t++) {
        const struct ed_kmsg_offset_for_leader_epoch_request_offset_for_leader_topic *in =
            &body->topics[t];
        struct ed_kmsg_offset_for_leader_epoch_response_offset_for_leader_topic_result *out =
            &resp.topics[t];
        ed_topic *topic = ed_topics_find_k(req->broker->topics, in->topic);
        out->topic = in->topic;
        if (!ed_kreq_array(req, in->n_partitions,
                           &ed_kmsg_offset_for_leader_epoch_response_epoch_end_offset_desc,
                           &out->n_partitions, &out->partitions))
            return ED_KAPI_RESPOND;
        for (int32_t i = 0; i < in->n_partitions; i++) {
            const struct ed_kmsg_offset_for_leader_epoch_request_offset_for_leader_partition *ip =
                &in->partitions[i];
            struct ed_kmsg_offset_for_leader_epoch_response_epoch_end_offset *op =
                &out->partitions[i];
            ed_partition *p = topic ? ed_topic_partition(topic, ip->partition) : NULL;
            op->partition = ip->partition;
            op->error_code = ED_KERR_NONE;
            op->leader_epoch = -1;
            op->end_offset = -1;
            if (!p) {
                op->error_code = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (ip->current_leader_epoch > 0) {
                op->error_code = ED_KERR_UNKNOWN_LEADER_EPOCH;
            } else if (ip->leader_epoch == 0) {
                /* The only epoch there is: it ends at the log end. */
                op->leader_epoch = 0;
                op->end_offset = ed_log_end_offset(p->log);
            }
        }
    }
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}
