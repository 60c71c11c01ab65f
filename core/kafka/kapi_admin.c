/* Admin APIs: CreateTopics, DeleteTopics, CreatePartitions and
 * DescribeCluster, answered as a single-node Kafka cluster would (one
 * broker, replication factor 1, that broker the controller). CreateTopics
 * and CreatePartitions pend while the registry makes big topics' logs in
 * steps.
 *
 * Each acts on its request decoded through the message schema
 * (ed_kapi_serve: a malformed request closes the connection and changes
 * nothing) and answers with the generated response struct. */
#include "core/kafka/kapi_acl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi_configs.h"
#include "core/kafka/kapi_handlers.h"
#include "core/kafka/kclient.h"
#include "core/topics.h"
#include "platform/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "kapi"
#include "platform/log.h"

/* Partitions one topic may have (a sanity bound on requests). */
#ifndef ED_KAPI_MAX_PARTITIONS
#define ED_KAPI_MAX_PARTITIONS 10000
#endif
#define CONFIG_KEY_MAX   256
#define CONFIG_VALUE_MAX 1024

static const uint8_t zero_id[16];

/* Partitions one request may still add under eddy.max.partitions.per.request
 * (*used counts what earlier topics of the request took): INVALID_PARTITIONS
 * with why when n does not fit, else takes them. Then the broker's caps:
 * POLICY_VIOLATION. */
static int16_t check_caps(const ed_broker *b, const char *name, int32_t n_topics, int32_t n,
                          int64_t *used, char *why, size_t why_len)
{
    int64_t per_req = b->cfg->eddy_max_partitions_per_request;
    if (*used + n > per_req) {
        snprintf(why, why_len,
                 "This request would add %" PRId64 " partitions; at most %" PRId64
                 " may be added per request (eddy.max.partitions.per.request)",
                 *used + n, per_req);
        return ED_KERR_INVALID_PARTITIONS;
    }
    const char *cwhy = NULL;
    if (ed_topics_room(b->topics, name, n_topics, n, &cwhy) != ED_OK) {
        snprintf(why, why_len, "%s", cwhy ? cwhy : "over the broker's limits");
        return ED_KERR_POLICY_VIOLATION;
    }
    *used += n;
    return ED_KERR_NONE;
}

/* One entry of a manual assignment (CreateTopics/CreatePartitions): the
 * partition idx must lie in first..first+n-1 and have exactly this broker as
 * its only replica. */
static bool check_replicas(int32_t idx, int32_t first, int32_t n, int32_t n_brokers,
                           const int32_t *brokers, int32_t node_id, char *why, size_t why_len)
{
    if (idx < first || idx >= first + n) {
        snprintf(why, why_len, "Partition index %" PRId32 " is out of range in the assignment",
                 idx);
        return false;
    }
    if (n_brokers != 1 || brokers[0] != node_id) {
        snprintf(why, why_len,
                 "Partition %" PRId32 " must have exactly one replica, on broker %" PRId32
                 " (this is a single-node cluster)",
                 idx, node_id);
        return false;
    }
    return true;
}

/* CreateTopics' assignments: each in range with one replica here (the
 * first failure explains itself in why), and every index once. */
static bool check_topic_assignment(const struct ed_kmsg_create_topics_request_creatable_topic *t,
                                   int32_t node_id, bool *distinct, char *why, size_t why_len)
{
    uint8_t seen[ED_KAPI_MAX_PARTITIONS / 8 + 1];
    memset(seen, 0, sizeof seen);
    bool ok = true;
    *distinct = true;
    for (int32_t i = 0; i < t->n_assignments; i++) {
        const struct ed_kmsg_create_topics_request_creatable_replica_assignment *a =
            &t->assignments[i];
        if (ok)
            ok = check_replicas(a->partition_index, 0, t->n_assignments, a->n_broker_ids,
                                a->broker_ids, node_id, why, why_len);
        int32_t idx = a->partition_index;
        if (idx < 0 || idx >= ED_KAPI_MAX_PARTITIONS || (seen[idx / 8] & (1u << (idx % 8))))
            *distinct = false;
        else
            seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
    }
    return ok;
}

/* ---- CreateTopics ---- */

struct new_configs {
    int n;
    char **keys;
    char **values;
};

static void configs_free(struct new_configs *c)
{
    for (int i = 0; i < c->n; i++) {
        if (c->keys) ed_free(c->keys[i]);
        if (c->values) ed_free(c->values[i]);
    }
    ed_free(c->keys);
    ed_free(c->values);
    memset(c, 0, sizeof *c);
}

/* Copies and checks the requested topic configs. */
static int16_t read_new_configs(const struct ed_kmsg_create_topics_request_creatable_topic *t,
                                struct new_configs *out, char *why, size_t why_len)
{
    int32_t n = t->n_configs;
    int16_t err = ED_KERR_NONE;
    memset(out, 0, sizeof *out);
    if (n > 0) {
        out->keys = ed_calloc((size_t)n, sizeof *out->keys);
        out->values = ed_calloc((size_t)n, sizeof *out->values);
        if (!out->keys || !out->values) {
            err = ED_KERR_UNKNOWN_SERVER_ERROR;
            snprintf(why, why_len, "Out of memory");
        }
    }
    for (int32_t i = 0; i < n; i++) {
        ed_kstr k = t->configs[i].name;
        ed_kstr v = t->configs[i].value;
        if (err) break;
        char key[CONFIG_KEY_MAX], value[CONFIG_VALUE_MAX];
        if (!ed_kstr_copy(k, key, sizeof key)) {
            err = ED_KERR_INVALID_CONFIG;
            snprintf(why, why_len, "Invalid config name");
            continue;
        }
        if (v.len < 0) {
            err = ED_KERR_INVALID_REQUEST;
            snprintf(why, why_len, "Null value not supported for topic configs: %s", key);
            continue;
        }
        if (!ed_kstr_copy(v, value, sizeof value)) {
            err = ED_KERR_INVALID_CONFIG;
            snprintf(why, why_len, "Value of %s is too long or contains NUL", key);
            continue;
        }
        for (int j = 0; j < out->n && !err; j++)
            if (strcmp(out->keys[j], key) == 0) {
                err = ED_KERR_INVALID_REQUEST;
                snprintf(why, why_len, "Duplicate config key: %s", key);
            }
        if (err) continue;
        if (!ed_kapi_topic_config_check(key, value, why, why_len)) {
            err = ED_KERR_INVALID_CONFIG;
            continue;
        }
        out->keys[out->n] = ed_strdup(key);
        out->values[out->n] = ed_strdup(value);
        out->n++;
        if (!out->keys[out->n - 1] || !out->values[out->n - 1]) {
            err = ED_KERR_UNKNOWN_SERVER_ERROR;
            snprintf(why, why_len, "Out of memory");
        }
    }
    return err;
}

struct default_ctx {
    const char *name;
    const char *value; /* points into the caller's buffer when found */
    char buf[CONFIG_VALUE_MAX];
};

static void default_cb(void *arg, const struct ed_config_item *it)
{
    struct default_ctx *d = arg;
    if (d->value || strcmp(it->name, d->name) != 0) return;
    snprintf(d->buf, sizeof d->buf, "%s", it->value);
    d->value = d->buf;
}

/* The configs of a CreateTopics v5+ result: the topic's effective configs,
 * or for a validate-only request the requested overrides plus the broker
 * defaults that are known. Values are copied: the answer may be sent after
 * the topic is gone. */
static void fill_created_configs(ed_kreq *req, ed_topic *topic, const struct new_configs *nc,
                                 struct ed_kmsg_create_topics_response_creatable_topic_result *res)
{
    const char *const *keys = ed_topics_config_keys();
    int32_t count = 0;
    /* Two walks: count, then fill. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 &&
            !ed_kreq_array(req, count, &ed_kmsg_create_topics_response_creatable_topic_configs_desc,
                           &res->n_configs, &res->configs))
            return;
        int32_t i_out = 0;
        for (const char *const *k = keys; *k; k++) {
            const char *value = NULL;
            int8_t src = ED_KC_SRC_DEFAULT;
            struct default_ctx d = {*k, NULL, {0}};
            if (topic) {
                bool dflt = true;
                value = ed_topic_config_get(topic, *k, &dflt);
                if (!dflt) src = ED_KC_SRC_DYNAMIC_TOPIC;
            } else {
                for (int i = 0; i < nc->n; i++)
                    if (strcmp(nc->keys[i], *k) == 0) {
                        value = nc->values[i];
                        src = ED_KC_SRC_DYNAMIC_TOPIC;
                    }
                const struct ed_kapi_topic_config *tc = ed_kapi_topic_config_find(*k);
                if (!value && tc && tc->broker_key) {
                    d.name = tc->broker_key;
                    ed_config_each(req->broker->cfg, default_cb, &d);
                    value = d.value;
                }
            }
            if (!value) continue;
            if (pass == 0) {
                count++;
                continue;
            }
            struct ed_kmsg_create_topics_response_creatable_topic_configs *c =
                &res->configs[i_out++];
            c->name = ed_kstr_z(*k);
            c->value = ed_kreq_str(req, value);
            c->config_source = src;
        }
    }
}

/* A CreateTopics or CreatePartitions request waiting for work in steps:
 * its response struct is filled (as if every creation succeeds) before it
 * pends, and encoded when the last step is done; err_at[slot] is a pending
 * topic's error code in it, set if that creation fails. */
struct create_wait {
    ed_kreq *req;
    ed_topics *topics;
    const void *resp;
    int32_t n, cap, n_left;
    int16_t **err_at;
};

static void create_wait_free(struct create_wait *cw)
{
    if (!cw) return;
    ed_free(cw->err_at);
    ed_free(cw);
}

static void on_created(void *arg, int32_t slot, int rc)
{
    struct create_wait *cw = arg;
    if (rc != ED_OK)
        *cw->err_at[slot] =
            rc == ED_ERR_NOSPC ? ED_KERR_KAFKA_STORAGE_ERROR : ED_KERR_UNKNOWN_SERVER_ERROR;
    if (--cw->n_left > 0) return;
    ed_kreq *req = cw->req;
    req->ctx = NULL;
    ed_kreq_respond(req, cw->resp);
    create_wait_free(cw);
    ed_kreq_complete(req);
}

static void create_cancel(ed_kreq *req)
{
    struct create_wait *cw = req->ctx;
    ed_topics_forget_waiter(cw->topics, cw);
    create_wait_free(cw);
    req->ctx = NULL;
}

/* A slot for one more pending topic; -1 when out of memory (the caller
 * then creates the topic at once). */
static int32_t create_wait_slot(ed_kreq *req, struct create_wait **cwp)
{
    struct create_wait *cw = *cwp;
    if (!cw) {
        cw = ed_calloc(1, sizeof *cw);
        if (!cw) return -1;
        cw->req = req;
        cw->topics = req->broker->topics;
        *cwp = cw;
    }
    if (cw->n == cw->cap) {
        int32_t cap = cw->cap ? cw->cap * 2 : 8;
        int16_t **v = ed_realloc(cw->err_at, (size_t)cap * sizeof *v);
        if (!v) return -1;
        cw->err_at = v;
        cw->cap = cap;
    }
    return cw->n;
}

/* Marks a topic pending; err is its error code in the response. */
static void create_wait_mark(struct create_wait *cw, int16_t *err)
{
    cw->err_at[cw->n++] = err;
    cw->n_left++;
}

/* The handler's status once its response struct resp (in req's arena) is
 * filled: answered now, or when the last of its topics has all its
 * partitions. */
static int create_wait_end(ed_kreq *req, struct create_wait *cw, const void *resp)
{
    if (cw && cw->n_left > 0) {
        cw->resp = resp;
        req->ctx = cw;
        req->cancel = create_cancel;
        return ED_KAPI_PENDING;
    }
    create_wait_free(cw);
    ed_kreq_respond(req, resp);
    return ED_KAPI_RESPOND;
}

int ed_kapi_create_topics(ed_kreq *req)
{
    const struct ed_kmsg_create_topics_request *body = req->body;
    const ed_broker *b = req->broker;
    /* In the arena: a pending request encodes it when its topics are made. */
    struct ed_kmsg_create_topics_response *resp;
    int32_t one;
    if (!ed_kreq_array(req, 1, req->api->response, &one, &resp) ||
        !ed_kreq_array(req, body->n_topics,
                       &ed_kmsg_create_topics_response_creatable_topic_result_desc, &resp->n_topics,
                       &resp->topics))
        return ED_KAPI_RESPOND;
    int64_t used = 0; /* partitions this request adds */
    struct create_wait *cw = NULL;
    for (int32_t i = 0; i < body->n_topics; i++) {
        const struct ed_kmsg_create_topics_request_creatable_topic *t = &body->topics[i];
        struct ed_kmsg_create_topics_response_creatable_topic_result *res = &resp->topics[i];
        int32_t n_parts = t->num_partitions;
        int16_t rf = t->replication_factor;
        int32_t na = t->n_assignments;
        char cname[ED_TOPIC_NAME_MAX + 1], why[512];
        int16_t err = ED_KERR_NONE;
        why[0] = '\0';
        bool name_ok = ed_kstr_copy(t->name, cname, sizeof cname) && ed_topics_valid_name(cname);
        if (!name_ok) {
            err = ED_KERR_INVALID_TOPIC_EXCEPTION;
            snprintf(why, sizeof why,
                     "Topic name is invalid: it must be 1 to %d characters of [a-zA-Z0-9._-] "
                     "and not '.' or '..'",
                     ED_TOPIC_NAME_MAX);
        } else if (!ed_kapi_allowed_z(req, ED_ACL_OP_CREATE, ED_ACL_RES_CLUSTER,
                                      ED_ACL_CLUSTER_NAME) &&
                   !ed_kapi_allowed(req, ED_ACL_OP_CREATE, ED_ACL_RES_TOPIC, t->name)) {
            err = ED_KERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(why, sizeof why, "Authorization failed.");
        } else if (ed_topics_find(b->topics, cname)) {
            err = ED_KERR_TOPIC_ALREADY_EXISTS;
            snprintf(why, sizeof why, "Topic '%s' already exists.", cname);
        }
        if (na > 0) {
            bool distinct;
            bool ok = check_topic_assignment(t, b->node_id, &distinct, why, sizeof why);
            if (!err && (n_parts != -1 || rf != -1)) {
                err = ED_KERR_INVALID_REQUEST;
                snprintf(why, sizeof why,
                         "Both numPartitions or replicationFactor and replicasAssignments were "
                         "set. Both cannot be used at the same time.");
            } else if (!err && (!ok || na > ED_KAPI_MAX_PARTITIONS || !distinct)) {
                err = ED_KERR_INVALID_REPLICA_ASSIGNMENT;
                if (ok)
                    snprintf(why, sizeof why, "Partition indexes must be 0..%d, each once",
                             (int)na - 1);
            }
            n_parts = na;
            rf = 1;
        } else {
            if (n_parts == -1) n_parts = (int32_t)b->cfg->num_partitions;
            if (rf == -1) rf = 1;
            if (!err && (n_parts <= 0 || n_parts > ED_KAPI_MAX_PARTITIONS)) {
                err = ED_KERR_INVALID_PARTITIONS;
                snprintf(why, sizeof why, "Number of partitions must be between 1 and %d.",
                         ED_KAPI_MAX_PARTITIONS);
            } else if (!err && rf <= 0) {
                err = ED_KERR_INVALID_REPLICATION_FACTOR;
                snprintf(why, sizeof why, "Replication factor must be larger than 0.");
            } else if (!err && rf > 1) {
                err = ED_KERR_INVALID_REPLICATION_FACTOR;
                snprintf(why, sizeof why,
                         "Unable to replicate the partition %d time(s): The target replication "
                         "factor of %d cannot be reached because only 1 broker(s) are registered.",
                         rf, rf);
            }
        }
        struct new_configs cfgs;
        char cwhy_buf[300] = "";
        int16_t cerr = read_new_configs(t, &cfgs, cwhy_buf, sizeof cwhy_buf);
        if (!err && cerr) {
            err = cerr;
            snprintf(why, sizeof why, "%s", cwhy_buf);
        }
        if (!err) err = check_caps(b, cname, 1, n_parts, &used, why, sizeof why);

        ed_topic *topic = NULL;
        bool pending = false;
        if (!err && !body->validate_only) {
            const char *cwhy = NULL;
            int32_t slot = create_wait_slot(req, &cw);
            int rc =
                slot < 0
                    ? ed_topics_create(b->topics, cname, n_parts, (const char *const *)cfgs.keys,
                                       (const char *const *)cfgs.values, cfgs.n, &cwhy, &topic)
                    : ed_topics_create_async(b->topics, cname, n_parts,
                                             (const char *const *)cfgs.keys,
                                             (const char *const *)cfgs.values, cfgs.n, &cwhy,
                                             on_created, cw, slot, &topic, &pending);
            if (rc == ED_ERR_EXIST) {
                err = ED_KERR_TOPIC_ALREADY_EXISTS;
                snprintf(why, sizeof why, "Topic '%s' already exists.", cname);
            } else if (rc == ED_ERR_INVAL) {
                err = cfgs.n ? ED_KERR_INVALID_CONFIG : ED_KERR_INVALID_PARTITIONS;
                snprintf(why, sizeof why, "%s", cwhy ? cwhy : "invalid topic settings");
            } else if (rc == ED_ERR_TOOBIG) {
                err = ED_KERR_POLICY_VIOLATION;
                snprintf(why, sizeof why, "%s", cwhy ? cwhy : "over the broker's limits");
            } else if (rc) {
                err =
                    rc == ED_ERR_NOSPC ? ED_KERR_KAFKA_STORAGE_ERROR : ED_KERR_UNKNOWN_SERVER_ERROR;
                snprintf(why, sizeof why, "Cannot create topic '%s': %s", cname, ed_strerror(rc));
            }
        }

        res->name = t->name;
        if (topic) memcpy(res->topic_id, ed_topic_id(topic), 16);
        if (pending) create_wait_mark(cw, &res->error_code);
        res->error_code = err;
        res->error_message = err ? ed_kreq_str(req, why) : (ed_kstr){NULL, -1};
        res->num_partitions = err ? -1 : n_parts;
        res->replication_factor = err ? -1 : rf;
        if (!err) fill_created_configs(req, topic, &cfgs, res);
        configs_free(&cfgs);
    }
    return create_wait_end(req, cw, resp);
}

/* ---- DeleteTopics ---- */

struct id_find {
    const uint8_t *id;
    ed_topic *found;
};

static void id_cb(void *arg, ed_topic *t)
{
    struct id_find *f = arg;
    if (!f->found && memcmp(ed_topic_id(t), f->id, 16) == 0) f->found = t;
}

/* Deletes one topic named by name, or by id when name is null; fills r. */
static void delete_one(ed_kreq *req, ed_kstr name, const uint8_t *id,
                       struct ed_kmsg_delete_topics_response_deletable_topic_result *r)
{
    ed_topics *topics = req->broker->topics;
    ed_topic *topic = NULL;
    char why[300] = "";
    char cname[ED_TOPIC_NAME_MAX + 1] = "";
    bool by_id = name.len < 0;
    r->name = name;
    memcpy(r->topic_id, id, 16);
    if (by_id) {
        struct id_find f = {id, NULL};
        if (memcmp(id, zero_id, 16) != 0) ed_topics_each(topics, id_cb, &f);
        topic = f.found;
        if (!topic) {
            r->error_code = ED_KERR_UNKNOWN_TOPIC_ID;
            snprintf(why, sizeof why, "Topic id does not exist.");
        }
    } else if (!ed_kapi_allowed(req, ED_ACL_OP_DELETE, ED_ACL_RES_TOPIC, name)) {
        r->error_code = ED_KERR_TOPIC_AUTHORIZATION_FAILED;
        snprintf(why, sizeof why, "Authorization failed.");
    } else if (!ed_kstr_copy(name, cname, sizeof cname) ||
               !(topic = ed_topics_find(topics, cname))) {
        r->error_code = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
        snprintf(why, sizeof why, "This server does not host this topic-partition.");
    }
    if (topic) {
        snprintf(cname, sizeof cname, "%s", ed_topic_name(topic));
        memcpy(r->topic_id, ed_topic_id(topic), 16);
        if (by_id) r->name = ed_kreq_str(req, cname);
        if (by_id && !ed_kapi_allowed_z(req, ED_ACL_OP_DELETE, ED_ACL_RES_TOPIC, cname)) {
            r->error_code = ED_KERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(why, sizeof why, "Authorization failed.");
        } else if (ed_topic_is_internal(topic)) {
            r->error_code = ED_KERR_INVALID_TOPIC_EXCEPTION;
            snprintf(why, sizeof why, "Internal topic %s cannot be deleted.", cname);
        } else {
            int rc = ed_topics_delete(topics, topic);
            if (rc) {
                r->error_code =
                    rc == ED_ERR_NOSPC ? ED_KERR_KAFKA_STORAGE_ERROR : ED_KERR_UNKNOWN_SERVER_ERROR;
                snprintf(why, sizeof why, "Cannot delete topic %s: %s", cname, ed_strerror(rc));
            }
        }
    }
    if (r->error_code) r->error_message = ed_kreq_str(req, why);
}

int ed_kapi_delete_topics(ed_kreq *req)
{
    const struct ed_kmsg_delete_topics_request *body = req->body;
    struct ed_kmsg_delete_topics_response resp;
    ed_kschema_init(req->api->response, &resp);
    /* Topics by name and id (v6+) or by name only: one array is empty. */
    int32_t n_states = body->n_topics > 0 ? body->n_topics : 0;
    int32_t n_names = body->n_topic_names > 0 ? body->n_topic_names : 0;
    if (!ed_kreq_array(req, n_states + n_names,
                       &ed_kmsg_delete_topics_response_deletable_topic_result_desc,
                       &resp.n_responses, &resp.responses))
        return ED_KAPI_RESPOND;
    if (req->broker->cfg && !req->broker->cfg->delete_topic_enable) {
        /* As Kafka: every topic refused, before any other check (v0-v2
         * have no such code and get INVALID_REQUEST). */
        int16_t err =
            req->api_version < 3 ? ED_KERR_INVALID_REQUEST : ED_KERR_TOPIC_DELETION_DISABLED;
        for (int32_t i = 0; i < n_states + n_names; i++) {
            struct ed_kmsg_delete_topics_response_deletable_topic_result *r = &resp.responses[i];
            r->name = i < n_states ? body->topics[i].name : body->topic_names[i - n_states];
            memcpy(r->topic_id, i < n_states ? body->topics[i].topic_id : zero_id, 16);
            r->error_code = err;
            r->error_message =
                ed_kreq_str(req, "Topic deletion is disabled (delete.topic.enable=false).");
        }
        ed_kreq_respond(req, &resp);
        return ED_KAPI_RESPOND;
    }
    for (int32_t i = 0; i < n_states; i++)
        delete_one(req, body->topics[i].name, body->topics[i].topic_id, &resp.responses[i]);
    for (int32_t i = 0; i < n_names; i++)
        delete_one(req, body->topic_names[i], zero_id, &resp.responses[n_states + i]);
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}

/* ---- CreatePartitions ---- */

int ed_kapi_create_partitions(ed_kreq *req)
{
    const struct ed_kmsg_create_partitions_request *body = req->body;
    const ed_broker *b = req->broker;
    struct ed_kmsg_create_partitions_response *resp;
    int32_t one;
    if (!ed_kreq_array(req, 1, req->api->response, &one, &resp) ||
        !ed_kreq_array(req, body->n_topics,
                       &ed_kmsg_create_partitions_response_create_partitions_topic_result_desc,
                       &resp->n_results, &resp->results))
        return ED_KAPI_RESPOND;
    int64_t used = 0; /* partitions this request adds */
    struct create_wait *cw = NULL;
    for (int32_t i = 0; i < body->n_topics; i++) {
        const struct ed_kmsg_create_partitions_request_create_partitions_topic *t =
            &body->topics[i];
        struct ed_kmsg_create_partitions_response_create_partitions_topic_result *res =
            &resp->results[i];
        int32_t count = t->count;
        int32_t na = t->n_assignments;
        char cname[ED_TOPIC_NAME_MAX + 1], why[300] = "";
        int16_t err = ED_KERR_NONE;
        ed_topic *topic = NULL;
        int32_t cur = 0;
        if (!ed_kapi_allowed(req, ED_ACL_OP_ALTER, ED_ACL_RES_TOPIC, t->name)) {
            err = ED_KERR_TOPIC_AUTHORIZATION_FAILED;
            snprintf(why, sizeof why, "Authorization failed.");
        } else if (!ed_kstr_copy(t->name, cname, sizeof cname) ||
                   !(topic = ed_topics_find(b->topics, cname))) {
            err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            snprintf(why, sizeof why, "The topic does not exist.");
        } else {
            cur = ed_topic_n_partitions(topic);
            if (count < cur) {
                err = ED_KERR_INVALID_PARTITIONS;
                snprintf(why, sizeof why,
                         "Topic currently has %" PRId32 " partitions, which is higher than the "
                         "requested %" PRId32 ".",
                         cur, count);
            } else if (count == cur) {
                err = ED_KERR_INVALID_PARTITIONS;
                snprintf(why, sizeof why, "Topic already has %" PRId32 " partitions.", cur);
            } else if (count > ED_KAPI_MAX_PARTITIONS) {
                err = ED_KERR_INVALID_PARTITIONS;
                snprintf(why, sizeof why, "A topic may have at most %d partitions.",
                         ED_KAPI_MAX_PARTITIONS);
            } else if (na >= 0 && na != count - cur) {
                err = ED_KERR_INVALID_REPLICA_ASSIGNMENT;
                snprintf(why, sizeof why,
                         "Increasing the number of partitions by %" PRId32 " but %" PRId32
                         " assignments provided.",
                         count - cur, na);
            }
        }
        for (int32_t k = 0; k < na && !err; k++) {
            char awhy[200];
            if (!check_replicas(cur + k, cur, na, t->assignments[k].n_broker_ids,
                                t->assignments[k].broker_ids, b->node_id, awhy, sizeof awhy)) {
                err = ED_KERR_INVALID_REPLICA_ASSIGNMENT;
                snprintf(why, sizeof why, "%s", awhy);
            }
        }
        if (!err) err = check_caps(b, cname, 0, count - cur, &used, why, sizeof why);
        bool pending = false;
        if (!err && !body->validate_only) {
            int32_t slot = create_wait_slot(req, &cw);
            int rc = slot < 0 ? ed_topics_set_partitions(b->topics, topic, count)
                              : ed_topics_set_partitions_async(b->topics, topic, count, on_created,
                                                               cw, slot, &pending);
            if (rc) {
                err = rc == ED_ERR_INVAL || rc == ED_ERR_BUSY ? ED_KERR_INVALID_PARTITIONS
                      : rc == ED_ERR_TOOBIG                   ? ED_KERR_POLICY_VIOLATION
                                                              : ED_KERR_UNKNOWN_SERVER_ERROR;
                snprintf(why, sizeof why, "Cannot grow topic %s to %" PRId32 " partitions: %s",
                         cname, count, ed_strerror(rc));
            }
        }
        res->name = t->name;
        if (pending) create_wait_mark(cw, &res->error_code);
        res->error_code = err;
        if (err) res->error_message = ed_kreq_str(req, why);
    }
    return create_wait_end(req, cw, resp);
}

/* ---- DescribeCluster ---- */

/* Cluster operations that apply to the cluster: CREATE,
 * ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
 * IDEMPOTENT_WRITE as bits of Kafka's AclOperation codes. */
#define CLUSTER_OPS ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12))

int ed_kapi_describe_cluster(ed_kreq *req)
{
    const struct ed_kmsg_describe_cluster_request *body = req->body;
    const ed_broker *b = req->broker;
    struct ed_kmsg_describe_cluster_response resp;
    ed_kschema_init(req->api->response, &resp);
    if (body->endpoint_type != 1) {
        resp.error_code = 115; /* UNSUPPORTED_ENDPOINT_TYPE */
        resp.error_message = ed_kstr_z("Eddy has no separate controller endpoints");
    }
    resp.endpoint_type = 1;
    resp.cluster_id = ed_kstr_z(b->cluster_id);
    resp.controller_id = b->node_id;
    struct ed_kmsg_describe_cluster_response_describe_cluster_broker self = {
        b->node_id,
        ed_kstr_z(ed_broker_adv_host(b, req->listener)),
        (int32_t)ed_broker_adv_port(b, req->listener),
        {NULL, -1}};
    resp.n_brokers = 1;
    resp.brokers = &self;
    /* as Kafka's broker: anyone may describe the cluster (the admin
     * client does before describing topics); without DESCRIBE on it the
     * authorized operations are 0 */
    bool may_describe =
        ed_kapi_allowed_z(req, ED_ACL_OP_DESCRIBE, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME);
    resp.cluster_authorized_operations =
        !body->include_cluster_authorized_operations ? INT32_MIN
        : may_describe                               ? ed_kapi_allowed_ops(req, ED_ACL_RES_CLUSTER,
                                                                           ed_kstr_z(ED_ACL_CLUSTER_NAME), CLUSTER_OPS)
                                                     : 0;
    ed_kreq_respond(req, &resp);
    return ED_KAPI_RESPOND;
}
