/* InitProducerId (API key 22) v0-5 for idempotent producers: every request
 * without a transactional id gets a fresh producer id at epoch 0, as Kafka
 * does (a v3+ request naming its current id and epoch is also given a new
 * id). Transactions are not supported: a transactional id is answered with
 * UNSUPPORTED_VERSION, which clients treat as fatal for transactions. */
#define ED_LOG_MODULE "pid"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi_handlers.h"
#include "core/pidstate.h"
#include "platform/log.h"

#include <inttypes.h>

int ed_kapi_init_producer_id(ed_kreq *req)
{
    const struct ed_kmsg_init_producer_id_request *body = req->body;
    struct ed_kmsg_init_producer_id_response resp;
    ed_kschema_init(req->api->response, &resp);
    ed_kstr txn_id = body->transactional_id;
    resp.producer_id = -1;
    resp.producer_epoch = -1;
    if (txn_id.len >= 0 &&
        !ed_kapi_allowed(req, ED_ACL_OP_WRITE, ED_ACL_RES_TRANSACTIONAL_ID, txn_id)) {
        resp.error_code = ED_KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    } else if (txn_id.len < 0 && !ed_kapi_idempotent_allowed(req)) {
        resp.error_code = ED_KERR_CLUSTER_AUTHORIZATION_FAILED;
    } else if (txn_id.len >= 0) {
        ED_LOG_INFO("%s: transactional producer %.*s refused: transactions are not supported",
                    req->peer, (int)(txn_id.len > 64 ? 64 : txn_id.len), txn_id.p);
        resp.error_code = ED_KERR_UNSUPPORTED_VERSION;
    } else if (!req->broker->pids) {
        resp.error_code = ED_KERR_COORDINATOR_NOT_AVAILABLE;
    } else if (ed_pids_allocate(req->broker->pids, &resp.producer_id) != ED_OK) {
        /* Retriable for the client: the next try writes the file again. */
        resp.error_code = ED_KERR_COORDINATOR_NOT_AVAILABLE;
        resp.producer_id = -1;
    } else {
        resp.producer_epoch = 0;
        ED_LOG_DBG("%s: producer id %" PRId64, req->peer, resp.producer_id);
    }
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}
