/* Topic creation and deletion over HTTP: POST /api/v1/topics and DELETE
 * /api/v1/topics/{topic}, and the same in Confluent REST Proxy v3's shape
 * (POST /v3/clusters/{cluster_id}/topics, DELETE
 * /v3/clusters/{cluster_id}/topics/{topic}). They call the topic
 * registry's own create and delete (core/topics.h), as Kafka's
 * CreateTopics and DeleteTopics do, with Kafka's authorization: CREATE on
 * the cluster or the topic, DELETE on the topic. Writing rules as for
 * REST produce: an authenticated user (Basic or bearer token) on an
 * https:// listener; a creation's body must be application/json (CSRF);
 * a DELETE has no body, and a browser cannot send one to another site
 * without a CORS preflight, which Eddy never grants. Errors carry Kafka's
 * error name ("error") where one fits. */
#define ED_LOG_MODULE "http"
#include "bridge/http_int.h"
#include "bridge/http_json.h"
#include "core/acl.h"
#include "core/config.h"
#include "core/topics.h"
#include "platform/log.h"

#include <stdio.h>
#include <string.h>

#define MAX_CONFIGS 32

/* Whether the path is not a v3 one or names this cluster; answers 404
 * otherwise. */
static bool v3_cluster_ok(struct ed_http_call *k)
{
    if (strcmp(k->seg[0], "v3") != 0) return true;
    if (strcmp(k->seg[2], k->c->h->b->cluster_id) == 0) return true;
    ed_http_reply_error(k->c, 404, "no such cluster");
    return false;
}

/* A creation's request. */
struct create_req {
    char name[ED_TOPIC_NAME_MAX + 2];
    int64_t partitions;
    char keys[MAX_CONFIGS][128], values[MAX_CONFIGS][256];
    const char *kp[MAX_CONFIGS], *vp[MAX_CONFIGS];
    int n_configs;
};

/* {"name": ..., "partitions": N, "configs": [{"name": k, "value": v}]},
 * or v3's "topic_name", "partitions_count" (and "replication_factor",
 * which must be 1 when given) into q: NULL, or what is wrong. */
static const char *read_create(struct ed_http_json body, bool v3, struct create_req *q)
{
    struct ed_http_json v = {NULL, 0}, item = {NULL, 0}, f = {NULL, 0};
    if (!ed_http_json_member(body, v3 ? "topic_name" : "name", &v) ||
        ed_http_json_string(v, q->name, sizeof q->name) < 0)
        return v3 ? "topic_name must be a string" : "name must be a string";
    if (ed_http_json_member(body, v3 ? "partitions_count" : "partitions", &v) &&
        !ed_http_json_int(v, &q->partitions))
        return "the partition count must be an integer";
    int64_t rf = 1;
    if (ed_http_json_member(body, "replication_factor", &v) &&
        (!ed_http_json_int(v, &rf) || rf != 1))
        return "replication_factor must be 1 (one broker)";
    if (!ed_http_json_member(body, "configs", &v)) return NULL;
    if (v.len == 0 || v.p[0] != '[') return "configs must be an array of {name, value}";
    for (int i = 0; ed_http_json_item(v, i, &item); i++) {
        if (i == MAX_CONFIGS) return "at most 32 configs";
        if (!ed_http_json_member(item, "name", &f) ||
            ed_http_json_string(f, q->keys[i], sizeof q->keys[i]) < 0 ||
            !ed_http_json_member(item, "value", &f) ||
            ed_http_json_string(f, q->values[i], sizeof q->values[i]) < 0)
            return "a config needs a name and a string value";
        q->kp[i] = q->keys[i];
        q->vp[i] = q->values[i];
        q->n_configs = i + 1;
    }
    return NULL;
}

static void created(ed_http_conn *c, bool v3, ed_topic *t)
{
    ed_broker *b = c->h->b;
    struct ed_http_out o;
    ed_http_out_init(&o, 4096);
    const char *name = ed_topic_name(t);
    if (v3) {
        ed_http_out_printf(&o, "{\"kind\":\"KafkaTopic\",\"cluster_id\":");
        ed_http_out_json_str(&o, b->cluster_id, strlen(b->cluster_id));
        ed_http_out_printf(&o, ",\"topic_name\":");
        ed_http_out_json_str(&o, name, strlen(name));
        ed_http_out_printf(&o,
                           ",\"is_internal\":false,\"replication_factor\":1,"
                           "\"partitions_count\":%d}\n",
                           (int)ed_topic_n_partitions(t));
    } else {
        ed_http_out_printf(&o, "{\"name\":");
        ed_http_out_json_str(&o, name, strlen(name));
        ed_http_out_printf(&o, ",\"partitions\":%d}\n", (int)ed_topic_n_partitions(t));
    }
    if (o.err)
        ed_http_reply_error(c, 500, "the answer is larger than its limit or out of memory");
    else
        ed_http_reply(c, 201, "application/json", o.p, o.len, NULL);
    ed_http_out_free(&o);
}

void ed_http_topics_create(struct ed_http_call *k)
{
    ed_http_conn *c = k->c;
    ed_broker *b = c->h->b;
    bool v3 = strcmp(k->seg[0], "v3") == 0;
    char user[256];
    if (!ed_http_json_type(c, k->r) || !ed_http_authenticate(c, k->r, user, sizeof user) ||
        !v3_cluster_ok(k))
        return;
    struct ed_http_json body = {k->body, (size_t)k->r->body_len};
    if (!ed_http_json_valid(body.p, body.len) || body.len == 0 || body.p[0] != '{') {
        ed_http_reply_error(c, 400, "the body is not a JSON object");
        return;
    }
    struct create_req q;
    memset(&q, 0, sizeof q);
    q.partitions = b->cfg ? b->cfg->num_partitions : 1;
    const char *bad = read_create(body, v3, &q);
    if (bad) {
        ed_http_reply_error(c, 400, bad);
        return;
    }
    if (!ed_topics_valid_name(q.name)) {
        ed_http_reply_kerror(c, 400, "INVALID_TOPIC_EXCEPTION",
                             "a topic name is 1 to 249 characters of [a-zA-Z0-9._-], not . or ..");
        return;
    }
    const char *peer = ed_conn_peer(c->conn);
    if (!ed_acl_authorize_user(b->acl, user, peer, ED_ACL_OP_CREATE, ED_ACL_RES_CLUSTER,
                               ED_ACL_CLUSTER_NAME, strlen(ED_ACL_CLUSTER_NAME)) &&
        !ed_acl_authorize_user(b->acl, user, peer, ED_ACL_OP_CREATE, ED_ACL_RES_TOPIC, q.name,
                               strlen(q.name))) {
        ed_http_reply_kerror(c, 403, "TOPIC_AUTHORIZATION_FAILED",
                             "not authorized to create this topic");
        return;
    }
    int64_t per_req = b->cfg ? b->cfg->eddy_max_partitions_per_request : 1000;
    if (q.partitions < 1 || q.partitions > per_req) {
        char why[160];
        snprintf(why, sizeof why,
                 "the partition count must be 1 to %lld (eddy.max.partitions.per.request)",
                 (long long)per_req);
        ed_http_reply_kerror(c, 400, "INVALID_PARTITIONS", why);
        return;
    }
    const char *why = NULL;
    ed_topic *t = NULL;
    int rc = ed_topics_create(b->topics, q.name, (int32_t)q.partitions, q.kp, q.vp, q.n_configs,
                              &why, &t);
    if (rc == ED_OK) {
        ED_LOG_INFO("HTTP user %s created topic %s with %d partitions", user, q.name,
                    (int)q.partitions);
        created(c, v3, t);
    } else if (rc == ED_ERR_EXIST) {
        ed_http_reply_kerror(c, 409, "TOPIC_ALREADY_EXISTS", "the topic already exists");
    } else if (rc == ED_ERR_INVAL) {
        ed_http_reply_kerror(c, 400, q.n_configs ? "INVALID_CONFIG" : "INVALID_PARTITIONS",
                             why ? why : "invalid topic settings");
    } else if (rc == ED_ERR_TOOBIG) {
        ed_http_reply_kerror(c, 400, "POLICY_VIOLATION", why ? why : "over the broker's limits");
    } else if (rc == ED_ERR_NOSPC) {
        ed_http_reply_kerror(c, 507, "KAFKA_STORAGE_ERROR", "the disk is full");
    } else {
        ED_LOG_WARN_RL("HTTP create of topic %s failed: %s", q.name, ed_strerror(rc));
        ed_http_reply_kerror(c, 500, "UNKNOWN_SERVER_ERROR", "the topic could not be created");
    }
}

void ed_http_topics_delete(struct ed_http_call *k)
{
    ed_http_conn *c = k->c;
    ed_broker *b = c->h->b;
    bool v3 = strcmp(k->seg[0], "v3") == 0;
    const char *name = k->seg[v3 ? 4 : 3];
    char user[256];
    if (!ed_http_authenticate(c, k->r, user, sizeof user) || !v3_cluster_ok(k)) return;
    if (b->cfg && !b->cfg->delete_topic_enable) {
        ed_http_reply_kerror(c, 403, "TOPIC_DELETION_DISABLED",
                             "topic deletion is off (delete.topic.enable=false)");
        return;
    }
    /* authorization first, as Kafka: no hint whether the topic exists */
    if (!ed_acl_authorize_user(b->acl, user, ed_conn_peer(c->conn), ED_ACL_OP_DELETE,
                               ED_ACL_RES_TOPIC, name, strlen(name))) {
        ed_http_reply_kerror(c, 403, "TOPIC_AUTHORIZATION_FAILED",
                             "not authorized to delete this topic");
        return;
    }
    ed_topic *t = ed_topics_find(b->topics, name);
    if (!t) {
        ed_http_reply_kerror(c, 404, "UNKNOWN_TOPIC_OR_PARTITION", "no such topic");
        return;
    }
    if (ed_topic_is_internal(t)) {
        ed_http_reply_kerror(c, 403, "INVALID_TOPIC_EXCEPTION",
                             "an internal topic is never deleted");
        return;
    }
    int rc = ed_topics_delete(b->topics, t);
    if (rc != ED_OK) {
        ED_LOG_WARN_RL("HTTP delete of topic %s failed: %s", name, ed_strerror(rc));
        ed_http_reply_kerror(c, rc == ED_ERR_NOSPC ? 507 : 500,
                             rc == ED_ERR_NOSPC ? "KAFKA_STORAGE_ERROR" : "UNKNOWN_SERVER_ERROR",
                             "the topic could not be deleted");
        return;
    }
    ED_LOG_INFO("HTTP user %s deleted topic %s", user, name);
    ed_http_reply(c, 204, NULL, "", 0, NULL);
}
