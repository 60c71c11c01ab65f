/* Produce (API key 0) v0-11: validates each partition's record batch
 * (magic 2 only, exactly one batch per partition, header checks, every
 * record walked as Kafka's LogValidator does, compressed ones through a
 * streaming decompressor that keeps nothing, idempotent producer
 * sequences), appends it as received (offsets stamped in place in the
 * request buffer) or re-encoded to the topic's compression.type, wakes
 * long-poll fetches, and
 * answers by acks: 0 never, 1 after the append, -1 once every partition's
 * append is durable (one durable wait per partition; group commit shares the
 * flush). The request has been decoded in full (ed_kapi_serve) before
 * anything is appended, so a malformed request changes nothing; the
 * batches are slices of the request frame. */
#define ED_LOG_MODULE "produce"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi_handlers.h"
#include "core/metrics.h"
#include "core/pidstate.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/log.h"

#include <inttypes.h>
#include <string.h>

struct produce_ctx;

struct presult {
    struct produce_ctx *ctx;
    int32_t index;
    int16_t err;
    const char *msg;
    int64_t base_offset;
    int64_t log_append_time;
    int64_t log_start_offset;
    ed_log *wait_log; /* durable wait target (acks=-1), NULL if none */
    int64_t wait_offset;
    int32_t bad_record; /* index for record_errors (v8+), -1 if none */
    bool idempotent;    /* from a producer with an id (at most 5 requests in flight) */
};

/* Outlives the request when the connection closes during a durable wait;
 * parts[] follows the decoded request's partitions in order. */
struct produce_ctx {
    ed_kreq *req; /* NULL once the connection is gone */
    int32_t n_parts;
    int outstanding; /* durable waits not yet completed (+1 while registering) */
    struct presult *parts;
};

static int16_t kerr_of_append(int rc)
{
    switch (rc) {
    case ED_ERR_CORRUPT:
        return ED_KERR_CORRUPT_MESSAGE;
    case ED_ERR_TOOBIG:
        return ED_KERR_MESSAGE_TOO_LARGE;
    case ED_ERR_INVAL:
        return ED_KERR_INVALID_RECORD;
    case ED_ERR_UNSUPPORTED:
        return ED_KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    case ED_ERR_NOSPC:
    case ED_ERR_IO:
    case ED_ERR_CLOSED:
        return ED_KERR_KAFKA_STORAGE_ERROR;
    default:
        return ED_KERR_UNKNOWN_SERVER_ERROR;
    }
}

static void set_err(struct presult *r, int16_t err, const char *msg)
{
    r->err = err;
    r->msg = msg;
    r->bad_record = -1;
    r->base_offset = -1;
    r->log_append_time = -1;
    r->log_start_offset = -1;
}

/* Header-level checks Kafka makes on a client's batch before appending
 * (ProduceRequest.validateRecords and LogValidator.validateBatch). */
static bool check_batch(ed_kreq *req, ed_kbytes rec, struct ed_batch_info *bi, struct presult *r)
{
    int16_t v = req->api_version;
    if (rec.len <= 0) {
        set_err(r, ED_KERR_INVALID_RECORD,
                "a produce request must have one record batch per "
                "partition");
        return false;
    }
    if (rec.len > 16 && rec.p[16] != 2) {
        /* Message formats v0/v1 are gone (Kafka 4): only magic 2 is stored. */
        if (v >= 3)
            set_err(r, ED_KERR_INVALID_RECORD, "only record batches with magic 2 are allowed");
        else
            set_err(r, ED_KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT,
                    "message format v0/v1 is not supported; use a client with magic 2 batches");
        return false;
    }
    if (ed_batch_parse_header(rec.p, (size_t)rec.len, bi) != ED_OK ||
        ed_batch_total_len(bi) > (size_t)rec.len) {
        set_err(r, ED_KERR_CORRUPT_MESSAGE, "record batch is truncated or malformed");
        return false;
    }
    if (ed_batch_total_len(bi) < (size_t)rec.len) {
        set_err(r, ED_KERR_INVALID_RECORD, "only one record batch per partition is allowed");
        return false;
    }
    if (ed_batch_compression(bi) == ED_COMPRESSION_ZSTD && v < 7) {
        set_err(r, ED_KERR_UNSUPPORTED_COMPRESSION_TYPE, "zstd needs produce version 7 or later");
        return false;
    }
    if (bi->record_count <= 0 || (int64_t)bi->last_offset_delta + 1 != bi->record_count) {
        set_err(r, ED_KERR_INVALID_RECORD, "record count and offset range of the batch disagree");
        return false;
    }
    if (ed_batch_is_control(bi)) {
        set_err(r, ED_KERR_INVALID_RECORD, "clients may not write control batches");
        return false;
    }
    if (ed_batch_is_transactional(bi)) {
        set_err(r, ED_KERR_INVALID_TXN_STATE, "transactions are not supported");
        return false;
    }
    return true;
}

/* Every record of the batch, as Kafka's broker checks them on append: a
 * batch whose CRC holds but whose records do not parse would otherwise be
 * stored and stall every consumer at its offset. Kafka answers
 * INVALID_RECORD naming the record from Produce v8 (KIP-467) and
 * CORRUPT_MESSAGE before. */
static bool check_records(ed_kreq *req, ed_topic *topic, ed_partition *p, ed_kbytes rec,
                          struct presult *r)
{
    struct ed_batch_fault f;
    int rc = ed_log_validate(p->log, rec.p, (size_t)rec.len, &f);
    if (rc == ED_OK) return true;
    ED_LOG_DBG("%s: produce to %s-%d refused: record %d: %s (%s)", req->peer, ed_topic_name(topic),
               (int)r->index, (int)f.record, f.why, ed_strerror(rc));
    int16_t e;
    switch (rc) {
    case ED_ERR_CORRUPT:
        e = f.record >= 0 && req->api_version >= 8 ? ED_KERR_INVALID_RECORD
                                                   : ED_KERR_CORRUPT_MESSAGE;
        break;
    case ED_ERR_UNSUPPORTED:
        e = ED_KERR_UNSUPPORTED_COMPRESSION_TYPE;
        break;
    default:
        e = kerr_of_append(rc);
        break;
    }
    set_err(r, e, f.why);
    if (e == ED_KERR_INVALID_RECORD) r->bad_record = f.record;
    return false;
}

/* The topic's compression.type applied to the batch: *batch is replaced
 * by the re-encoded one when the codec differs. */
static bool recode(ed_kreq *req, ed_topic *topic, ed_partition *p, uint8_t **batch,
                   size_t *batch_len, struct presult *r)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = ed_log_recode(p->log, *batch, *batch_len, &out, &out_len);
    if (rc == ED_OK) {
        if (out) {
            *batch = out;
            *batch_len = out_len;
        }
        return true;
    }
    ED_LOG_WARN_RL("%s: cannot re-encode a batch for %s-%d (compression.type): %s", req->peer,
                   ed_topic_name(topic), (int)r->index, ed_strerror(rc));
    switch (rc) {
    case ED_ERR_UNSUPPORTED:
        set_err(r, ED_KERR_UNSUPPORTED_COMPRESSION_TYPE,
                "the topic's compression.type is not built into this broker");
        break;
    case ED_ERR_TOOBIG:
        set_err(r, ED_KERR_MESSAGE_TOO_LARGE, "the re-encoded record batch is too large");
        break;
    default:
        set_err(r, kerr_of_append(rc), "cannot re-encode the record batch");
        break;
    }
    return false;
}

static void produce_one(ed_kreq *req, ed_topic *topic, ed_kbytes rec, bool wait, struct presult *r)
{
    ed_broker *b = req->broker;
    ed_partition *p = topic ? ed_topic_partition(topic, r->index) : NULL;
    if (!p) {
        set_err(r, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION, NULL);
        return;
    }
    if (ed_topic_is_internal(topic)) {
        set_err(r, ED_KERR_INVALID_TOPIC_EXCEPTION, "cannot produce to an internal topic");
        return;
    }
    struct ed_batch_info bi;
    if (!check_batch(req, rec, &bi, r)) return;
    r->idempotent = bi.producer_id >= 0;
    if (!check_records(req, topic, p, rec, r)) return;

    struct ed_pid_check pc;
    int rc = ed_pidstate_check(p, b->pids, &bi, &pc);
    if (rc) {
        set_err(r, ED_KERR_KAFKA_STORAGE_ERROR, "cannot load producer state");
        return;
    }
    if (pc.verdict == ED_PID_REJECT) {
        ED_LOG_DBG("%s: %s-%d: producer %" PRId64 " epoch %d seq %d: %s", req->peer,
                   ed_topic_name(topic), (int)r->index, bi.producer_id, bi.producer_epoch,
                   bi.base_sequence, pc.why);
        set_err(r, pc.kerr, pc.why);
        return;
    }
    r->err = ED_KERR_NONE;
    r->msg = NULL;
    if (pc.verdict == ED_PID_DUPLICATE) {
        /* Answer as the first time; the original may still be in flight to
         * the flash, so acks=-1 waits for it too. */
        r->base_offset = pc.dup_base_offset;
        r->log_append_time = pc.dup_log_append_time;
        r->log_start_offset = ed_log_start_offset(p->log);
        if (wait) {
            r->wait_log = p->log;
            r->wait_offset = pc.dup_base_offset + bi.last_offset_delta;
        }
        return;
    }
    struct ed_append_result res;
    /* The request body lives in the connection's own buffer, which the
     * server lets handlers write: offsets are stamped in place. A topic
     * whose compression.type names another codec gets the batch
     * re-encoded (Kafka's LogValidator), stamped in the storage's buffer. */
    uint8_t *batch = (uint8_t *)rec.p;
    size_t batch_len = (size_t)rec.len;
    if (!recode(req, topic, p, &batch, &batch_len, r)) return;
    rc = ed_log_append(p->log, batch, batch_len, &res);
    if (batch != rec.p) ed_log_recode_done(p->log);
    if (rc) {
        int16_t e = kerr_of_append(rc);
        if (e == ED_KERR_KAFKA_STORAGE_ERROR || e == ED_KERR_UNKNOWN_SERVER_ERROR)
            ED_LOG_WARN_RL("%s: append to %s-%d failed: %s", req->peer, ed_topic_name(topic),
                           (int)r->index, ed_strerror(rc));
        else
            ED_LOG_DBG("%s: append to %s-%d refused: %s", req->peer, ed_topic_name(topic),
                       (int)r->index, ed_strerror(rc));
        set_err(r, e,
                e == ED_KERR_MESSAGE_TOO_LARGE ? "record batch is larger than "
                                                 "max.message.bytes"
                : e == ED_KERR_CORRUPT_MESSAGE ? "record batch failed its CRC check"
                                               : NULL);
        return;
    }
    ed_pidstate_update(p, &bi, res.base_offset, res.log_append_time);
    ed_metrics_in(ED_METRICS_KAFKA, ed_topic_name(topic), (uint64_t)bi.record_count, rec.len);
    r->base_offset = res.base_offset;
    r->log_append_time = res.log_append_time;
    r->log_start_offset = res.log_start_offset;
    if (wait) {
        r->wait_log = p->log;
        r->wait_offset = res.last_offset;
    }
    ed_topics_appended(b->topics, p);
}

static void write_response(struct produce_ctx *c, ed_kreq *req)
{
    const struct ed_kmsg_produce_request *body = req->body;
    struct ed_kmsg_produce_response resp;
    ed_kschema_init(req->api->response, &resp);
    if (!ed_kreq_array(req, body->n_topic_data,
                       &ed_kmsg_produce_response_topic_produce_response_desc, &resp.n_responses,
                       &resp.responses))
        return;
    int32_t k = 0;
    for (int32_t t = 0; t < body->n_topic_data; t++) {
        const struct ed_kmsg_produce_request_topic_produce_data *in = &body->topic_data[t];
        struct ed_kmsg_produce_response_topic_produce_response *out = &resp.responses[t];
        out->name = in->name;
        if (!ed_kreq_array(req, in->n_partition_data,
                           &ed_kmsg_produce_response_partition_produce_response_desc,
                           &out->n_partition_responses, &out->partition_responses))
            return;
        for (int32_t i = 0; i < in->n_partition_data; i++, k++) {
            const struct presult *r = &c->parts[k];
            struct ed_kmsg_produce_response_partition_produce_response *op =
                &out->partition_responses[i];
            op->index = r->index;
            op->error_code = r->err;
            op->base_offset = r->base_offset;
            op->log_append_time_ms = r->log_append_time;
            op->log_start_offset = r->log_start_offset;
            op->error_message = r->err ? ed_kstr_z(r->msg) : (ed_kstr){NULL, -1};
            if (r->err && r->bad_record >= 0) { /* the record the batch failed on */
                if (!ed_kreq_array(req, 1,
                                   &ed_kmsg_produce_response_batch_index_and_error_message_desc,
                                   &op->n_record_errors, &op->record_errors))
                    return;
                op->record_errors->batch_index = r->bad_record;
                op->record_errors->batch_index_error_message = ed_kstr_z(r->msg);
            }
        }
    }
    ed_kreq_respond(req, &resp);
}

static void durable_done(struct produce_ctx *c)
{
    if (--c->outstanding > 0) return;
    ed_kreq *req = c->req;
    if (req) {
        req->ctx = NULL;
        req->cancel = NULL;
        req->urge = NULL;
        write_response(c, req);
        ed_kreq_complete(req);
    }
    ed_free(c);
}

static void on_durable(void *arg, int status)
{
    struct presult *r = arg;
    r->wait_log = NULL; /* waits no more (the log may go) */
    if (status != ED_OK) {
        ED_LOG_WARN_RL("flush for a produce failed: %s", ed_strerror(status));
        set_err(r, ED_KERR_KAFKA_STORAGE_ERROR, "the flush to storage failed");
    }
    durable_done(r->ctx);
}

/* An idempotent producer sends at most 5 requests before an answer (Kafka's
 * max.in.flight.requests.per.connection limit with idempotence, its default
 * since Kafka 3.0): with 5 open on its connection it can send nothing more,
 * so its partitions' flushes start at once instead of gathering. Other
 * producers' windows are unknown (librdkafka's default is a million): their
 * waits gather until Eddy itself stops reading the connection
 * (produce_urge). */
#define IDEMPOTENT_WINDOW 5

static bool window_full(const ed_kreq *req, const struct presult *r)
{
    return r->idempotent && req->n_open >= IDEMPOTENT_WINDOW;
}

/* Eddy reads no more from the connection until answers go out: the
 * partitions this request still waits on are synced without gathering. */
static void produce_urge(ed_kreq *req)
{
    struct produce_ctx *c = req->ctx;
    for (int32_t i = 0; c && i < c->n_parts; i++)
        if (c->parts[i].wait_log && !c->parts[i].err) ed_log_flush_soon(c->parts[i].wait_log);
}

/* The connection closed while durable waits were pending: the waits cannot
 * be withdrawn, so the context lives until the last one completes. */
static void produce_cancel(ed_kreq *req)
{
    struct produce_ctx *c = req->ctx;
    req->ctx = NULL;
    req->cancel = NULL;
    req->urge = NULL;
    if (c) c->req = NULL;
}

int ed_kapi_produce(ed_kreq *req)
{
    const struct ed_kmsg_produce_request *body = req->body;
    int64_t n_parts = 0;
    for (int32_t t = 0; t < body->n_topic_data; t++)
        n_parts += body->topic_data[t].n_partition_data;
    struct produce_ctx *c = ed_calloc(1, sizeof *c + (size_t)n_parts * sizeof(struct presult));
    if (!c) {
        ED_LOG_WARN_RL("%s: no memory for a produce request of %" PRId64 " partitions", req->peer,
                       n_parts);
        return ED_KAPI_CLOSE;
    }
    c->req = req;
    c->n_parts = (int32_t)n_parts;
    c->parts = (struct presult *)(c + 1);

    /* The whole request has decoded: acting on it may start. */
    int16_t acks = body->acks;
    bool acks_ok = acks == 0 || acks == 1 || acks == -1;
    bool wait = acks == -1;
    int32_t k = 0;
    for (int32_t t = 0; t < body->n_topic_data; t++) {
        const struct ed_kmsg_produce_request_topic_produce_data *td = &body->topic_data[t];
        ed_topic *topic = ed_topics_find_k(req->broker->topics, td->name);
        bool allowed = ed_kapi_allowed(req, ED_ACL_OP_WRITE, ED_ACL_RES_TOPIC, td->name);
        for (int32_t i = 0; i < td->n_partition_data; i++, k++) {
            struct presult *r = &c->parts[k];
            r->ctx = c;
            r->index = td->partition_data[i].index;
            if (!acks_ok)
                set_err(r, ED_KERR_INVALID_REQUIRED_ACKS, NULL);
            else if (!allowed)
                set_err(r, ED_KERR_TOPIC_AUTHORIZATION_FAILED, NULL);
            else
                produce_one(req, topic, td->partition_data[i].records, wait, r);
        }
    }

    if (acks == 0) {
        /* No response: an error can only be signalled by closing the
         * connection, which makes the client refresh its metadata (Kafka). */
        int rc = ED_KAPI_NO_RESPONSE;
        for (int32_t i = 0; i < c->n_parts; i++) {
            if (c->parts[i].err) {
                ED_LOG_INFO("%s: closing: produce with acks=0 failed on partition %d: error %d",
                            req->peer, (int)c->parts[i].index, c->parts[i].err);
                rc = ED_KAPI_CLOSE;
                break;
            }
        }
        ed_free(c);
        return rc;
    }

    c->outstanding = 1;
    if (wait) {
        for (int32_t i = 0; i < c->n_parts; i++) {
            struct presult *r = &c->parts[i];
            if (!r->wait_log || r->err) continue;
            c->outstanding++;
            ed_log *log = r->wait_log;
            bool urgent = window_full(req, r);
            int rc = ed_log_wait_durable(log, r->wait_offset, on_durable, r);
            if (rc) {
                set_err(r, ED_KERR_KAFKA_STORAGE_ERROR, "cannot wait for the flush");
                c->outstanding--;
            } else if (urgent) {
                ed_log_flush_soon(log);
            }
        }
    }
    if (c->outstanding == 1) {
        write_response(c, req);
        ed_free(c);
        return ED_KAPI_RESPOND;
    }
    req->ctx = c;
    req->cancel = produce_cancel;
    req->urge = produce_urge;
    durable_done(c); /* drops the registration reference */
    return ED_KAPI_PENDING;
}
