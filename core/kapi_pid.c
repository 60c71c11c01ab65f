/* InitProducerId (API key 22) v0-5 for idempotent producers: every request
 * without a transactional id gets a fresh producer id at epoch 0, as Kafka
 * does (a v3+ request naming its current id and epoch is also given a new
 * id). Transactions are not supported: a transactional id is answered with
 * UNSUPPORTED_VERSION, which clients treat as fatal for transactions. */
#define ED_LOG_MODULE "pid"
#include "core/kapi_handlers.h"
#include "core/pidstate.h"
#include "platform/log.h"

#include <inttypes.h>

int ed_kapi_init_producer_id(ed_kreq *req)
{
    ed_krd *rd = &req->rd;
    ed_kwr *w = &req->out;
    bool flex = req->flex;
    int16_t v = req->api_version;

    ed_kstr txn_id = ed_krd_str(rd, flex);
    ed_krd_i32(rd); /* transaction_timeout_ms */
    if (v >= 3) {
        ed_krd_i64(rd); /* producer_id */
        ed_krd_i16(rd); /* producer_epoch */
    }
    ed_krd_tags(rd, flex);
    if (!ed_krd_ok(rd)) {
        ED_LOG_DBG("%s: malformed init-producer-id request v%d", req->peer, v);
        return ED_KAPI_CLOSE;
    }

    int16_t err = ED_KERR_NONE;
    int64_t id = -1;
    int16_t epoch = -1;
    if (txn_id.len >= 0) {
        ED_LOG_INFO("%s: transactional producer %.*s refused: transactions are not supported",
                    req->peer, (int)(txn_id.len > 64 ? 64 : txn_id.len), txn_id.p);
        err = ED_KERR_UNSUPPORTED_VERSION;
    } else if (!req->broker->pids) {
        err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        int rc = ed_pids_allocate(req->broker->pids, &id);
        if (rc) {
            /* Retriable for the client: the next try writes the file again. */
            err = ED_KERR_COORDINATOR_NOT_AVAILABLE;
            id = -1;
        } else {
            epoch = 0;
            ED_LOG_DBG("%s: producer id %" PRId64, req->peer, id);
        }
    }
    ed_kwr_i32(w, 0); /* throttle_time_ms */
    ed_kwr_i16(w, err);
    ed_kwr_i64(w, id);
    ed_kwr_i16(w, epoch);
    ed_kwr_tags(w, flex);
    return ED_KAPI_RESPOND;
}
