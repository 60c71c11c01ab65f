/* Metadata 0-12: this broker as the only broker and controller, the cluster
 * id, and the requested topics (v0: empty list = all; v1+: null = all,
 * empty = none; v10+ by topic id) with auto-creation when the request and
 * the broker allow it. A topic created here is answered with its partitions
 * at once (no LEADER_NOT_AVAILABLE round trip: Eddy creates synchronously
 * and is the leader of everything). */
#define ED_LOG_MODULE "metadata"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi.h"
#include "core/kafka/kapi_handlers.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"

#include <string.h>

/* KIP-430 bitfields when no authorizer is configured: every operation that
 * applies to the resource is allowed. */
#define TOPIC_OPS         0x0DF8 /* READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE/ALTER_CONFIGS */
#define CLUSTER_OPS       0x1FA0 /* CREATE ALTER DESCRIBE CLUSTER_ACTION *_CONFIGS IDEMPOTENT_WRITE */
#define OPS_NOT_REQUESTED INT32_MIN
#define DEDUPE_MAX        1000

struct mreq {
    ed_kreq *req;
    ed_broker *b;
    bool include_topic_ops;
    bool null_names; /* unknown topic ids may be answered with a null name */
    int32_t node_id; /* the replica and ISR lists of every partition */
    struct ed_kmsg_metadata_response *resp;
    int32_t cap; /* entries allocated in resp->topics */
};

/* The next topic entry (NULL: arena exhausted, req->out failed). */
static struct ed_kmsg_metadata_response_topic *fill_topic(struct mreq *m, int16_t err, ed_kstr name,
                                                          const uint8_t *id, ed_topic *topic)
{
    if (m->resp->n_topics >= m->cap) return NULL;
    struct ed_kmsg_metadata_response_topic *t = &m->resp->topics[m->resp->n_topics++];
    t->error_code = err;
    t->name = name.len < 0 && !m->null_names ? (ed_kstr){"", 0} : name;
    if (id) memcpy(t->topic_id, id, 16);
    t->is_internal = topic && ed_topic_is_internal(topic);
    t->topic_authorized_operations =
        m->include_topic_ops ? ed_kapi_allowed_ops(m->req, ED_ACL_RES_TOPIC, name, TOPIC_OPS)
                             : OPS_NOT_REQUESTED;
    int32_t n = topic ? ed_topic_n_partitions(topic) : 0;
    if (!ed_kreq_array(m->req, n, &ed_kmsg_metadata_response_partition_desc, &t->n_partitions,
                       &t->partitions))
        return NULL;
    for (int32_t i = 0; i < n; i++) {
        struct ed_kmsg_metadata_response_partition *p = &t->partitions[i];
        p->error_code = ED_KERR_NONE;
        p->partition_index = i;
        p->leader_id = m->node_id;
        p->leader_epoch = 0;
        p->n_replica_nodes = p->n_isr_nodes = 1;
        p->replica_nodes = p->isr_nodes = &m->node_id;
        p->n_offline_replicas = 0;
    }
    return t;
}

static void fill_known(struct mreq *m, ed_topic *topic)
{
    const char *name = ed_topic_name(topic);
    fill_topic(m, ED_KERR_NONE, ed_kstr_z(name), ed_topic_id(topic), topic);
}

/* Listing every topic shows only those the principal may describe. */
static void each_topic(void *arg, ed_topic *topic)
{
    struct mreq *m = arg;
    if (ed_kapi_allowed_z(m->req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_TOPIC, ed_topic_name(topic)))
        fill_known(m, topic);
}

/* A topic asked for by name that does not exist yet. */
static void fill_missing(struct mreq *m, ed_kstr name, bool allow_auto)
{
    char cname[ED_TOPIC_NAME_MAX + 1];
    if (!ed_kstr_copy(name, cname, sizeof cname) || !ed_topics_valid_name(cname)) {
        fill_topic(m, ED_KERR_INVALID_TOPIC_EXCEPTION, name, NULL, NULL);
        return;
    }
    /* auto-creation needs CREATE on the cluster or the topic (Kafka) */
    if (allow_auto &&
        !ed_kapi_allowed_z(m->req, ED_ACL_OP_CREATE, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME) &&
        !ed_kapi_allowed(m->req, ED_ACL_OP_CREATE, ED_ACL_RES_TOPIC, name))
        allow_auto = false;
    if (allow_auto && m->b->topics) {
        ed_topic *topic = NULL;
        int rc = ed_topics_auto_create(m->b->topics, cname, &topic);
        if (rc == ED_OK) {
            fill_known(m, topic);
            return;
        }
        if (rc == ED_ERR_EXIST) { /* a topic of that name is still being deleted */
            fill_topic(m, ED_KERR_LEADER_NOT_AVAILABLE, name, NULL, NULL);
            return;
        }
        if (rc != ED_ERR_NOENT && rc != ED_ERR_TOOBIG) { /* a cap: logged by the registry */
            ED_LOG_WARN_RL("auto-creating topic %s: %s", cname, ed_strerror(rc));
            fill_topic(m, ED_KERR_LEADER_NOT_AVAILABLE, name, NULL, NULL);
            return;
        }
    }
    fill_topic(m, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION, name, NULL, NULL);
}

static bool same_topic(const struct ed_kmsg_metadata_request_topic *a,
                       const struct ed_kmsg_metadata_request_topic *b)
{
    return a->name.len == b->name.len && memcmp(a->topic_id, b->topic_id, 16) == 0 &&
           (b->name.len <= 0 || memcmp(a->name.p, b->name.p, (size_t)b->name.len) == 0);
}

/* Answers the requested topics, each distinct one once (as Kafka does). */
static void fill_requested(struct mreq *m, struct ed_kmsg_metadata_request *body)
{
    int32_t n = body->n_topics;
    struct ed_kmsg_metadata_request_topic *wants = body->topics;
    int32_t n_out = 0;
    for (int32_t i = 0; i < n; i++) {
        bool dup = false;
        for (int32_t k = 0; k < i && i < DEDUPE_MAX && !dup; k++)
            dup = same_topic(&wants[k], &wants[i]);
        if (dup)
            wants[i].name.len = -2; /* marked: skip */
        else
            n_out++;
    }
    ed_kreq_array(m->req, n_out, &ed_kmsg_metadata_response_topic_desc, &m->cap, &m->resp->topics);
    for (int32_t i = 0; i < n; i++) {
        struct ed_kmsg_metadata_request_topic *q = &wants[i];
        if (q->name.len == -2) continue;
        if (q->name.len < 0) { /* by topic id */
            ed_topic *topic = m->b->topics ? ed_topics_find_id(m->b->topics, q->topic_id) : NULL;
            if (topic)
                fill_known(m, topic);
            else
                fill_topic(m, ED_KERR_UNKNOWN_TOPIC_ID, q->name, q->topic_id, NULL);
            continue;
        }
        ed_topic *topic = m->b->topics ? ed_topics_find_k(m->b->topics, q->name) : NULL;
        if (!ed_kapi_allowed(m->req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_TOPIC, q->name))
            fill_topic(m, ED_KERR_TOPIC_AUTHORIZATION_FAILED, q->name, NULL, NULL);
        else if (topic)
            fill_known(m, topic);
        else
            fill_missing(m, q->name, body->allow_auto_topic_creation);
    }
}

int ed_kapi_metadata(ed_kreq *req)
{
    struct ed_kmsg_metadata_request *body = req->body;
    ed_broker *b = req->broker;
    struct ed_kmsg_metadata_response resp;
    ed_kschema_init(req->api->response, &resp);
    struct mreq m = {
        req,
        b,
        body->include_topic_authorized_operations,
        ed_kschema_nullable(&ed_kmsg_metadata_response_topic_desc, req->api_version, "Name"),
        b->node_id,
        &resp,
        0};

    struct ed_kmsg_metadata_response_broker self = {b->node_id,
                                                    ed_kstr_z(ed_broker_adv_host(b, req->listener)),
                                                    (int32_t)ed_broker_adv_port(b, req->listener),
                                                    {NULL, -1}};
    resp.n_brokers = 1; /* this one */
    resp.brokers = &self;
    resp.cluster_id = ed_kstr_z(b->cluster_id);
    resp.controller_id = b->node_id;
    /* as Kafka: 0 without DESCRIBE on the cluster */
    bool may_describe =
        ed_kapi_allowed_z(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME);
    resp.cluster_authorized_operations =
        !body->include_cluster_authorized_operations ? OPS_NOT_REQUESTED
        : may_describe                               ? ed_kapi_allowed_ops(req, ED_ACL_RES_CLUSTER,
                                                                           ed_kstr_z(ED_ACL_CLUSTER_NAME), CLUSTER_OPS)
                                                     : 0;

    /* Null asks for every topic; so does an empty list in v0 (a behaviour of
     * that version, not a layout: v1+ answers none). */
    bool all = body->n_topics < 0 || (req->api_version == 0 && body->n_topics == 0);
    if (all) {
        int32_t n = b->topics ? ed_topics_count(b->topics) : 0;
        ed_kreq_array(req, n, &ed_kmsg_metadata_response_topic_desc, &m.cap, &resp.topics);
        if (b->topics) ed_topics_each(b->topics, each_topic, &m);
    } else {
        fill_requested(&m, body);
    }
    if (ed_kwr_ok(&req->out)) ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}
