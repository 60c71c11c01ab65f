/* Admin APIs: CreateTopics, DeleteTopics, CreatePartitions and
 * DescribeCluster, answered as a single-node Kafka cluster would (one
 * broker, replication factor 1, that broker the controller). CreateTopics
 * and CreatePartitions pend while the registry makes big topics' logs in
 * steps.
 *
 * Every handler first reads its whole request without side effects, so a
 * malformed request closes the connection and changes nothing; it then
 * reads the request again to act and answer. */
#include "core/kapi_configs.h"
#include "core/kapi_handlers.h"
#include "core/kclient.h"
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
    int64_t per_req = ed_config_int(b->cfg, "eddy.max.partitions.per.request");
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

/* Checks a manual assignment list (CreateTopics/CreatePartitions): every
 * partition must have exactly this broker as its only replica. Reads n
 * entries from r; with_index reads CreateTopics' partition index first and
 * requires the indexes to be first..first+n-1. */
static bool check_assignment(ed_krd *r, bool flex, int32_t n, bool with_index, int32_t first,
                             int32_t node_id, char *why, size_t why_len)
{
    bool ok = true;
    for (int32_t i = 0; i < n; i++) {
        int32_t idx = with_index ? ed_krd_i32(r) : first + i;
        int32_t nb = ed_krd_array(r, flex, 4);
        int32_t b0 = -1;
        for (int32_t k = 0; k < nb; k++) {
            int32_t b = ed_krd_i32(r);
            if (k == 0) b0 = b;
        }
        ed_krd_tags(r, flex);
        if (!ok) continue;
        if (idx < first || idx >= first + n) {
            snprintf(why, why_len, "Partition index %" PRId32 " is out of range in the assignment",
                     idx);
            ok = false;
        } else if (nb != 1 || b0 != node_id) {
            snprintf(why, why_len,
                     "Partition %" PRId32 " must have exactly one replica, on broker %" PRId32
                     " (this is a single-node cluster)",
                     idx, node_id);
            ok = false;
        }
    }
    /* Duplicate indexes make the range check above insufficient only when
     * some index is missing; with n entries all in range and distinct the
     * assignment is complete. Distinctness is checked by the caller's
     * second walk when needed; a duplicate here means a gap elsewhere. */
    return ok;
}

/* True when the n partition indexes at r (CreateTopics assignments) are all
 * distinct; r is a copy positioned at the first entry. */
static bool indexes_distinct(ed_krd r, bool flex, int32_t n)
{
    uint8_t seen[ED_KAPI_MAX_PARTITIONS / 8 + 1];
    memset(seen, 0, sizeof seen);
    for (int32_t i = 0; i < n; i++) {
        int32_t idx = ed_krd_i32(&r);
        int32_t nb = ed_krd_array(&r, flex, 4);
        ed_krd_skip(&r, (size_t)(nb > 0 ? nb : 0) * 4);
        ed_krd_tags(&r, flex);
        if (idx < 0 || idx >= ED_KAPI_MAX_PARTITIONS) return false;
        if (seen[idx / 8] & (1u << (idx % 8))) return false;
        seen[idx / 8] |= (uint8_t)(1u << (idx % 8));
    }
    return true;
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

/* Reads n config pairs from r, copies and checks them. */
static int16_t read_new_configs(ed_krd *r, bool flex, int32_t n, struct new_configs *out, char *why,
                                size_t why_len)
{
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
        ed_kstr k = ed_krd_str(r, flex);
        ed_kstr v = ed_krd_str(r, flex);
        ed_krd_tags(r, flex);
        if (err) continue;
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

/* Writes CreateTopics v5+ configs: the topic's effective configs, or for a
 * validate-only request the requested overrides plus the broker defaults
 * that are known. */
static void put_created_configs(ed_kreq *req, ed_topic *topic, const struct new_configs *nc)
{
    ed_kwr *w = &req->out;
    const char *const *keys = ed_topics_config_keys();
    int32_t count = 0;
    /* Two walks: count, then write. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) ed_kwr_array(w, count, true);
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
            ed_kwr_str(w, *k, true);
            ed_kwr_str(w, value, true);
            ed_kwr_bool(w, false);
            ed_kwr_i8(w, src);
            ed_kwr_bool(w, false);
            ed_kwr_tags(w, true);
        }
    }
}

/* A CreateTopics or CreatePartitions request waiting for work in steps: its response is
 * written (as if every creation succeeds) before it pends; err_at[slot]
 * is where a pending topic's error code sits, patched if it fails. */
struct create_wait {
    ed_kreq *req;
    ed_topics *topics;
    int32_t n, cap, n_left;
    size_t *err_at;
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
    if (rc != ED_OK) {
        int16_t err =
            rc == ED_ERR_NOSPC ? ED_KERR_KAFKA_STORAGE_ERROR : ED_KERR_UNKNOWN_SERVER_ERROR;
        if (cw->err_at[slot] + 2 <= cw->req->out.len)
            ed_put_be16(cw->req->out.buf + cw->err_at[slot], (uint16_t)err);
    }
    if (--cw->n_left > 0) return;
    ed_kreq *req = cw->req;
    req->ctx = NULL;
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
        size_t *v = ed_realloc(cw->err_at, (size_t)cap * sizeof *v);
        if (!v) return -1;
        cw->err_at = v;
        cw->cap = cap;
    }
    return cw->n;
}

/* Marks the topic whose error code is written next as pending. */
static void create_wait_mark(struct create_wait *cw, const ed_kwr *w)
{
    cw->err_at[cw->n++] = w->len;
    cw->n_left++;
}

/* The handler's status once its response is written. */
static int create_wait_end(ed_kreq *req, struct create_wait *cw)
{
    if (cw && cw->n_left > 0) {
        /* Answered when the last of its topics has all its partitions. */
        req->ctx = cw;
        req->cancel = create_cancel;
        return ED_KAPI_PENDING;
    }
    create_wait_free(cw);
    return ED_KAPI_RESPOND;
}

int ed_kapi_create_topics(ed_kreq *req)
{
    bool flex = req->flex;
    int16_t v = req->api_version;
    ed_krd start = req->rd;
    ed_krd *r = &req->rd;

    int32_t n = ed_krd_array(r, flex, 10);
    for (int32_t i = 0; i < n && ed_krd_ok(r); i++) {
        ed_krd_str(r, flex);
        ed_krd_i32(r);
        ed_krd_i16(r);
        int32_t na = ed_krd_array(r, flex, 5);
        for (int32_t k = 0; k < na && ed_krd_ok(r); k++) {
            ed_krd_i32(r);
            int32_t nb = ed_krd_array(r, flex, 4);
            ed_krd_skip(r, (size_t)(nb > 0 ? nb : 0) * 4);
            ed_krd_tags(r, flex);
        }
        int32_t nc = ed_krd_array(r, flex, 2);
        for (int32_t k = 0; k < nc && ed_krd_ok(r); k++) {
            ed_krd_str(r, flex);
            ed_krd_str(r, flex);
            ed_krd_tags(r, flex);
        }
        ed_krd_tags(r, flex);
    }
    ed_krd_i32(r); /* timeout: creation is immediate */
    bool validate_only = v >= 1 ? ed_krd_bool(r) : false;
    ed_krd_tags(r, flex);
    if (!ed_krd_ok(r)) return ED_KAPI_CLOSE;

    *r = start;
    ed_kwr *w = &req->out;
    const ed_broker *b = req->broker;
    if (v >= 2) ed_kwr_i32(w, 0);
    n = ed_krd_array(r, flex, 10);
    ed_kwr_array(w, n < 0 ? 0 : n, flex);
    int64_t used = 0; /* partitions this request adds */
    struct create_wait *cw = NULL;
    for (int32_t i = 0; i < n; i++) {
        ed_kstr name = ed_krd_str(r, flex);
        int32_t n_parts = ed_krd_i32(r);
        int16_t rf = ed_krd_i16(r);
        int32_t na = ed_krd_array(r, flex, 5);
        ed_krd assign_at = *r;
        char cname[ED_TOPIC_NAME_MAX + 1], why[512];
        int16_t err = ED_KERR_NONE;
        why[0] = '\0';
        bool name_ok = ed_kstr_copy(name, cname, sizeof cname) && ed_topics_valid_name(cname);
        if (!name_ok) {
            err = ED_KERR_INVALID_TOPIC_EXCEPTION;
            snprintf(why, sizeof why,
                     "Topic name is invalid: it must be 1 to %d characters of [a-zA-Z0-9._-] "
                     "and not '.' or '..'",
                     ED_TOPIC_NAME_MAX);
        } else if (ed_topics_find(b->topics, cname)) {
            err = ED_KERR_TOPIC_ALREADY_EXISTS;
            snprintf(why, sizeof why, "Topic '%s' already exists.", cname);
        }
        if (na > 0) {
            bool ok = check_assignment(r, flex, na, true, 0, b->node_id, why, sizeof why);
            if (!err && (n_parts != -1 || rf != -1)) {
                err = ED_KERR_INVALID_REQUEST;
                snprintf(why, sizeof why,
                         "Both numPartitions or replicationFactor and replicasAssignments were "
                         "set. Both cannot be used at the same time.");
            } else if (!err && (!ok || na > ED_KAPI_MAX_PARTITIONS ||
                                !indexes_distinct(assign_at, flex, na))) {
                err = ED_KERR_INVALID_REPLICA_ASSIGNMENT;
                if (ok)
                    snprintf(why, sizeof why, "Partition indexes must be 0..%d, each once",
                             (int)na - 1);
            }
            n_parts = na;
            rf = 1;
        } else {
            if (n_parts == -1) n_parts = (int32_t)ed_config_int(b->cfg, "num.partitions");
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
        int32_t nc = ed_krd_array(r, flex, 2);
        struct new_configs cfgs;
        char cwhy_buf[300] = "";
        int16_t cerr = read_new_configs(r, flex, nc, &cfgs, cwhy_buf, sizeof cwhy_buf);
        if (!err && cerr) {
            err = cerr;
            snprintf(why, sizeof why, "%s", cwhy_buf);
        }
        ed_krd_tags(r, flex);
        if (!err) err = check_caps(b, cname, 1, n_parts, &used, why, sizeof why);

        ed_topic *topic = NULL;
        bool pending = false;
        if (!err && !validate_only) {
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

        ed_kwr_kstr(w, name, flex);
        if (v >= 7) ed_kwr_uuid(w, topic ? ed_topic_id(topic) : zero_id);
        if (pending) create_wait_mark(cw, w);
        ed_kwr_i16(w, err);
        if (v >= 1) ed_kwr_str(w, err ? why : NULL, flex);
        if (v >= 5) {
            ed_kwr_i32(w, err ? -1 : n_parts);
            ed_kwr_i16(w, err ? -1 : rf);
            if (err)
                ed_kwr_array(w, 0, true);
            else
                put_created_configs(req, topic, &cfgs);
        }
        ed_kwr_tags(w, flex);
        configs_free(&cfgs);
    }
    ed_kwr_tags(w, flex);
    return create_wait_end(req, cw);
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

int ed_kapi_delete_topics(ed_kreq *req)
{
    bool flex = req->flex;
    int16_t v = req->api_version;
    ed_krd start = req->rd;
    ed_krd *r = &req->rd;

    int32_t n = ed_krd_array(r, flex, v >= 6 ? 17 : 1);
    for (int32_t i = 0; i < n && ed_krd_ok(r); i++) {
        ed_krd_str(r, flex);
        if (v >= 6) {
            uint8_t id[16];
            ed_krd_uuid(r, id);
            ed_krd_tags(r, flex);
        }
    }
    ed_krd_i32(r);
    ed_krd_tags(r, flex);
    if (!ed_krd_ok(r)) return ED_KAPI_CLOSE;

    *r = start;
    ed_kwr *w = &req->out;
    ed_topics *topics = req->broker->topics;
    if (v >= 1) ed_kwr_i32(w, 0);
    n = ed_krd_array(r, flex, v >= 6 ? 17 : 1);
    ed_kwr_array(w, n < 0 ? 0 : n, flex);
    for (int32_t i = 0; i < n; i++) {
        ed_kstr name = ed_krd_str(r, flex);
        uint8_t id[16] = {0};
        if (v >= 6) {
            ed_krd_uuid(r, id);
            ed_krd_tags(r, flex);
        }
        ed_topic *topic = NULL;
        int16_t err = ED_KERR_NONE;
        char why[300] = "";
        char cname[ED_TOPIC_NAME_MAX + 1] = "";
        bool by_id = name.len < 0;
        if (by_id) {
            struct id_find f = {id, NULL};
            if (memcmp(id, zero_id, 16) != 0) ed_topics_each(topics, id_cb, &f);
            topic = f.found;
            if (!topic) {
                err = ED_KERR_UNKNOWN_TOPIC_ID;
                snprintf(why, sizeof why, "Topic id does not exist.");
            }
        } else if (!ed_kstr_copy(name, cname, sizeof cname) ||
                   !(topic = ed_topics_find(topics, cname))) {
            err = ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
            snprintf(why, sizeof why, "This server does not host this topic-partition.");
        }
        if (topic) {
            snprintf(cname, sizeof cname, "%s", ed_topic_name(topic));
            memcpy(id, ed_topic_id(topic), 16);
            if (ed_topic_is_internal(topic)) {
                err = ED_KERR_INVALID_TOPIC_EXCEPTION;
                snprintf(why, sizeof why, "Internal topic %s cannot be deleted.", cname);
            } else {
                int rc = ed_topics_delete(topics, topic);
                if (rc) {
                    err = rc == ED_ERR_NOSPC ? ED_KERR_KAFKA_STORAGE_ERROR
                                             : ED_KERR_UNKNOWN_SERVER_ERROR;
                    snprintf(why, sizeof why, "Cannot delete topic %s: %s", cname, ed_strerror(rc));
                }
            }
        }
        if (by_id && !cname[0])
            ed_kwr_str(w, NULL, flex);
        else if (by_id)
            ed_kwr_str(w, cname, flex);
        else
            ed_kwr_kstr(w, name, flex);
        if (v >= 6) ed_kwr_uuid(w, id);
        ed_kwr_i16(w, err);
        if (v >= 5) ed_kwr_str(w, err ? why : NULL, flex);
        ed_kwr_tags(w, flex);
    }
    ed_kwr_tags(w, flex);
    return ED_KAPI_RESPOND;
}

/* ---- CreatePartitions ---- */

int ed_kapi_create_partitions(ed_kreq *req)
{
    bool flex = req->flex;
    ed_krd start = req->rd;
    ed_krd *r = &req->rd;

    int32_t n = ed_krd_array(r, flex, 8);
    for (int32_t i = 0; i < n && ed_krd_ok(r); i++) {
        ed_krd_str(r, flex);
        ed_krd_i32(r);
        int32_t na = ed_krd_array(r, flex, 4);
        for (int32_t k = 0; k < na && ed_krd_ok(r); k++) {
            int32_t nb = ed_krd_array(r, flex, 4);
            ed_krd_skip(r, (size_t)(nb > 0 ? nb : 0) * 4);
            ed_krd_tags(r, flex);
        }
        ed_krd_tags(r, flex);
    }
    ed_krd_i32(r);
    bool validate_only = ed_krd_bool(r);
    ed_krd_tags(r, flex);
    if (!ed_krd_ok(r)) return ED_KAPI_CLOSE;

    *r = start;
    ed_kwr *w = &req->out;
    const ed_broker *b = req->broker;
    ed_kwr_i32(w, 0);
    n = ed_krd_array(r, flex, 8);
    ed_kwr_array(w, n < 0 ? 0 : n, flex);
    int64_t used = 0; /* partitions this request adds */
    struct create_wait *cw = NULL;
    for (int32_t i = 0; i < n; i++) {
        ed_kstr name = ed_krd_str(r, flex);
        int32_t count = ed_krd_i32(r);
        int32_t na = ed_krd_array(r, flex, 4);
        char cname[ED_TOPIC_NAME_MAX + 1], why[300] = "";
        int16_t err = ED_KERR_NONE;
        ed_topic *topic = NULL;
        int32_t cur = 0;
        if (!ed_kstr_copy(name, cname, sizeof cname) ||
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
        if (na > 0) {
            char awhy[200];
            bool ok = check_assignment(r, flex, na, false, cur, b->node_id, awhy, sizeof awhy);
            if (!err && !ok) {
                err = ED_KERR_INVALID_REPLICA_ASSIGNMENT;
                snprintf(why, sizeof why, "%s", awhy);
            }
        }
        ed_krd_tags(r, flex);
        if (!err) err = check_caps(b, cname, 0, count - cur, &used, why, sizeof why);
        bool pending = false;
        if (!err && !validate_only) {
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
        ed_kwr_kstr(w, name, flex);
        if (pending) create_wait_mark(cw, w);
        ed_kwr_i16(w, err);
        ed_kwr_str(w, err ? why : NULL, flex);
        ed_kwr_tags(w, flex);
    }
    ed_kwr_tags(w, flex);
    return create_wait_end(req, cw);
}

/* ---- DescribeCluster ---- */

/* Cluster operations a client may perform (no ACLs in Eddy yet): CREATE,
 * ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
 * IDEMPOTENT_WRITE as bits of Kafka's AclOperation codes. */
#define CLUSTER_OPS ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12))

int ed_kapi_describe_cluster(ed_kreq *req)
{
    int16_t v = req->api_version;
    ed_krd *r = &req->rd;
    bool include_ops = ed_krd_bool(r);
    int8_t endpoint = v >= 1 ? ed_krd_i8(r) : 1;
    ed_krd_tags(r, true);
    if (!ed_krd_ok(r)) return ED_KAPI_CLOSE;

    const ed_broker *b = req->broker;
    ed_kwr *w = &req->out;
    ed_kwr_i32(w, 0);
    if (endpoint != 1) {
        ed_kwr_i16(w, 115); /* UNSUPPORTED_ENDPOINT_TYPE */
        ed_kwr_str(w, "Eddy has no separate controller endpoints", true);
    } else {
        ed_kwr_i16(w, ED_KERR_NONE);
        ed_kwr_str(w, NULL, true);
    }
    if (v >= 1) ed_kwr_i8(w, 1);
    ed_kwr_str(w, b->cluster_id, true);
    ed_kwr_i32(w, b->node_id);
    ed_kwr_array(w, 1, true);
    ed_kwr_i32(w, b->node_id);
    ed_kwr_str(w, ed_broker_adv_host(b, req->listener), true);
    ed_kwr_i32(w, ed_broker_adv_port(b, req->listener));
    ed_kwr_str(w, NULL, true);
    ed_kwr_tags(w, true);
    ed_kwr_i32(w, include_ops ? CLUSTER_OPS : INT32_MIN);
    ed_kwr_tags(w, true);
    return ED_KAPI_RESPOND;
}
