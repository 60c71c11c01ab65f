/* Config APIs: DescribeConfigs (topic and broker resources, synonyms,
 * documentation, types), AlterConfigs and IncrementalAlterConfigs (topic
 * overrides; broker configs are read-only and come from the config file),
 * on the message schema: a request is decoded whole before anything
 * changes (a malformed one closes the connection), the response is built
 * as a struct and encoded at the request's version. Keys, types, bounds,
 * defaults and documentation come from the config table; within one
 * resource every change is checked before the first is applied. */
#include "core/config.h"
#include "core/kafka/kapi_acl.h"
#include "core/kafka/msg_gen.h"
#include "core/kafka/kapi_configs.h"
#include "core/kafka/kapi_handlers.h"
#include "core/kafka/kclient.h"
#include "core/topics.h"
#include "platform/mem.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "kapi"
#include "platform/log.h"

#define KEY_MAX   256
#define VALUE_MAX 1024

/* ---- the topic keys as Kafka describes them ---- */

static int8_t kafka_type(const struct ed_config_key *k, bool topic)
{
    switch (k->type) {
    case ED_CFG_INT:
        /* broker keys are longs; topic keys ints when their bounds are */
        return topic && (k->tmax ? k->tmax : k->max) <= INT32_MAX ? ED_KC_TYPE_INT
                                                                  : ED_KC_TYPE_LONG;
    case ED_CFG_BOOL:
        return ED_KC_TYPE_BOOLEAN;
    case ED_CFG_DOUBLE:
        return ED_KC_TYPE_DOUBLE;
    case ED_CFG_LIST:
        return ED_KC_TYPE_LIST;
    default:
        return ED_KC_TYPE_STRING;
    }
}

const struct ed_kapi_topic_config *ed_kapi_topic_config_find(const char *name)
{
    static struct ed_kapi_topic_config v[ED_CONFIG_MAX_KEYS];
    const struct ed_config_key *k = ed_config_topic_key_find(name);
    if (!k) return NULL;
    struct ed_kapi_topic_config *e = &v[k - ed_config_keys];
    if (!e->name)
        *e = (struct ed_kapi_topic_config){k->topic, kafka_type(k, true), k->name, k->tdoc};
    return e;
}

bool ed_kapi_topic_config_is_list(const char *key)
{
    const struct ed_kapi_topic_config *tc = ed_kapi_topic_config_find(key);
    return tc && tc->type == ED_KC_TYPE_LIST;
}

bool ed_kapi_topic_config_check(const char *key, const char *value, char *why, size_t why_len)
{
    const struct ed_config_key *k = ed_config_topic_key_find(key);
    if (!k) {
        snprintf(why, why_len, "Unknown topic config name: %s", key);
        return false;
    }
    char inner[300];
    if (!value || ed_config_key_check(k, true, value, inner, sizeof inner)) return true;
    snprintf(why, why_len, "Invalid value %s for configuration %s: %s", value, key, inner);
    return false;
}

/* ---- shared helpers ---- */

static ed_kstr kz(const char *s)
{
    return (ed_kstr){s, s ? (int32_t)strlen(s) : -1};
}

/* A copy of s in the arena (NULL stays null). */
static ed_kstr kdup(ed_karena *a, const char *s)
{
    if (!s) return kz(NULL);
    size_t n = strlen(s);
    char *p = ed_karena_alloc(a, n + 1);
    if (!p) return kz("");
    memcpy(p, s, n);
    return (ed_kstr){p, (int32_t)n};
}

static bool kstr_in(const ed_kstr *keys, int32_t n, const char *name)
{
    for (int32_t i = 0; i < n; i++)
        if (ed_kstr_eq(keys[i], name)) return true;
    return false;
}

/* The resource a request names: its topic, or an error code and text. */
static int16_t find_topic(ed_kreq *req, int8_t type, ed_kstr name, ed_topic **topic, char *why,
                          size_t why_len)
{
    char cname[ED_TOPIC_NAME_MAX + 1];
    *topic = NULL;
    if (type != ED_KC_RESOURCE_TOPIC) {
        snprintf(why, why_len, "Unsupported resource type %d", type);
        return ED_KERR_INVALID_REQUEST;
    }
    if (!ed_kstr_copy(name, cname, sizeof cname) || !ed_topics_valid_name(cname)) {
        snprintf(why, why_len, "Invalid topic name");
        return ED_KERR_INVALID_TOPIC_EXCEPTION;
    }
    if (!(*topic = ed_topics_find(req->broker->topics, cname))) {
        snprintf(why, why_len, "Topic '%s' does not exist.", cname);
        return ED_KERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    return ED_KERR_NONE;
}

/* Whether req's principal may do op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on
 * a resource, as Kafka checks it: a broker's configs belong to the cluster.
 * The refusal's code and text, or NONE. Other types fail later. */
static int16_t configs_denied(ed_kreq *req, enum ed_acl_op op, int8_t type, ed_kstr name, char *why,
                              size_t why_len)
{
    if (type == ED_KC_RESOURCE_BROKER &&
        !ed_kapi_allowed_z(req, op, ED_ACL_RES_CLUSTER, ED_ACL_CLUSTER_NAME)) {
        snprintf(why, why_len, "Cluster authorization failed.");
        return ED_KERR_CLUSTER_AUTHORIZATION_FAILED;
    }
    if (type == ED_KC_RESOURCE_TOPIC && !ed_kapi_allowed(req, op, ED_ACL_RES_TOPIC, name)) {
        snprintf(why, why_len, "Topic authorization failed.");
        return ED_KERR_TOPIC_AUTHORIZATION_FAILED;
    }
    return ED_KERR_NONE;
}

/* ---- DescribeConfigs ---- */

typedef struct ed_kmsg_describe_configs_response_describe_configs_resource_result dc_entry;
typedef struct ed_kmsg_describe_configs_response_describe_configs_synonym dc_synonym;
typedef struct ed_kmsg_describe_configs_response_describe_configs_result dc_result;

struct describe {
    ed_karena *a;
    const struct ed_config *cfg;
    bool synonyms, docs;
    const ed_kstr *keys; /* requested names */
    int32_t n_keys;      /* -1 = all */
};

static dc_entry *add_entry(dc_result *res)
{
    dc_entry *e = &res->configs[res->n_configs++];
    ed_kschema_init(&ed_kmsg_describe_configs_response_describe_configs_resource_result_desc, e);
    return e;
}

static void set_synonyms(struct describe *d, dc_entry *e, const dc_synonym *syn, int n)
{
    e->n_synonyms = 0;
    if (!d->synonyms || n == 0) return;
    e->synonyms = ed_karena_alloc(d->a, (size_t)n * sizeof *syn);
    if (!e->synonyms) return;
    memcpy(e->synonyms, syn, (size_t)n * sizeof *syn);
    e->n_synonyms = n;
}

static void describe_topic(struct describe *d, ed_topic *topic, dc_result *res)
{
    const char *const *names = ed_topics_config_keys();
    int32_t cap = 0;
    while (names[cap])
        cap++;
    res->configs = ed_karena_alloc(d->a, (size_t)cap * sizeof *res->configs + 1);
    if (!res->configs) return;
    for (const char *const *k = names; *k; k++) {
        if (d->n_keys >= 0 && !kstr_in(d->keys, d->n_keys, *k)) continue;
        bool is_default = true;
        const char *value = ed_topic_config_get(topic, *k, &is_default);
        if (!value) continue;
        const struct ed_config_key *key = ed_config_topic_key_find(*k);
        dc_entry *e = add_entry(res);
        dc_synonym syn[2];
        int n_syn = 0;
        if (!is_default)
            syn[n_syn++] = (dc_synonym){kz(*k), kdup(d->a, value), ED_KC_SRC_DYNAMIC_TOPIC};
        /* the broker key that gives the default, when it has a value */
        char buf[24];
        const char *bval = NULL;
        bool bdefault = true;
        if (key->name) ed_config_value(d->cfg, key, buf, sizeof buf, &bval, &bdefault);
        if (bval)
            syn[n_syn++] = (dc_synonym){kz(key->name), kdup(d->a, bval),
                                        bdefault ? ED_KC_SRC_DEFAULT : ED_KC_SRC_STATIC_BROKER};
        int8_t src = ED_KC_SRC_DYNAMIC_TOPIC;
        if (is_default) src = bval && !bdefault ? ED_KC_SRC_STATIC_BROKER : ED_KC_SRC_DEFAULT;
        e->name = kz(*k);
        e->value = kdup(d->a, value);
        e->read_only = false;
        e->is_default = is_default; /* v0: no topic override */
        e->config_source = src;
        e->is_sensitive = false;
        set_synonyms(d, e, syn, n_syn);
        e->config_type = kafka_type(key, true);
        e->documentation = kz(d->docs ? key->tdoc : NULL);
    }
}

static void describe_broker(struct describe *d, dc_result *res)
{
    res->configs = ed_karena_alloc(d->a, (size_t)ed_config_n_keys * sizeof *res->configs);
    if (!res->configs) return;
    for (int i = 0; i < ed_config_n_keys; i++) {
        const struct ed_config_key *key = &ed_config_keys[i];
        if (!key->name || (d->n_keys >= 0 && !kstr_in(d->keys, d->n_keys, key->name))) continue;
        char buf[24];
        const char *value;
        bool is_default;
        ed_config_value(d->cfg, key, buf, sizeof buf, &value, &is_default);
        bool sensitive = strstr(key->name, "password") || strstr(key->name, "secret");
        if (sensitive) value = NULL;
        int8_t src = is_default ? ED_KC_SRC_DEFAULT : ED_KC_SRC_STATIC_BROKER;
        dc_entry *e = add_entry(res);
        dc_synonym syn = {kz(key->name), kdup(d->a, value), src};
        e->name = kz(key->name);
        e->value = kdup(d->a, value);
        e->read_only = true;
        e->is_default = is_default;
        e->config_source = src;
        e->is_sensitive = sensitive;
        set_synonyms(d, e, &syn, 1);
        e->config_type = kafka_type(key, false);
        e->documentation = kz(d->docs ? key->doc : NULL);
    }
}

/* The decoded request and the response being built live in one arena,
 * bounded like a response. */
static void init_arena(ed_karena *a)
{
    ed_karena_init_heap(a, ED_KAPI_RESPONSE_MAX);
}

int ed_kapi_describe_configs(ed_kreq *req)
{
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_DESCRIBE_CONFIGS);
    int16_t v = req->api_version;
    ed_karena a;
    init_arena(&a);
    struct ed_kmsg_describe_configs_request body;
    if (ed_kschema_decode_request(api, v, &req->rd, &a, &body) != ED_OK) {
        ed_karena_free(&a);
        return ED_KAPI_CLOSE;
    }
    struct ed_kmsg_describe_configs_response resp;
    ed_kschema_init(api->response, &resp);
    int32_t n = ED_MAX(body.n_resources, 0);
    resp.results = ed_karena_alloc(&a, (size_t)n * sizeof *resp.results + 1);
    resp.n_results = resp.results ? n : 0;
    char id[16];
    snprintf(id, sizeof id, "%" PRId32, req->broker->node_id);
    for (int32_t i = 0; i < resp.n_results; i++) {
        const struct ed_kmsg_describe_configs_request_describe_configs_resource *rq =
            &body.resources[i];
        dc_result *res = &resp.results[i];
        ed_kschema_init(&ed_kmsg_describe_configs_response_describe_configs_result_desc, res);
        res->resource_type = rq->resource_type;
        res->resource_name = rq->resource_name;
        res->n_configs = 0;
        struct describe d = {&a,
                             req->broker->cfg,
                             body.include_synonyms,
                             body.include_documentation,
                             rq->configuration_keys,
                             rq->n_configuration_keys};
        char why[400];
        int16_t err = configs_denied(req, ED_ACL_OP_DESCRIBE_CONFIGS, rq->resource_type,
                                     rq->resource_name, why, sizeof why);
        if (!err && rq->resource_type == ED_KC_RESOURCE_BROKER) {
            if (ed_kstr_eq(rq->resource_name, id))
                describe_broker(&d, res);
            else if (!ed_kstr_eq(rq->resource_name, "")) {
                err = ED_KERR_INVALID_REQUEST;
                snprintf(why, sizeof why, "Unexpected broker id, expected %s or empty string", id);
            }
        } else if (!err) {
            ed_topic *topic;
            err = find_topic(req, rq->resource_type, rq->resource_name, &topic, why, sizeof why);
            if (!err) describe_topic(&d, topic, res);
        }
        res->error_code = err;
        res->error_message = err ? kdup(&a, why) : kz(NULL);
    }
    ed_kschema_encode_response(api, v, &req->out, &resp);
    ed_karena_free(&a);
    return ED_KAPI_RESPOND;
}

/* ---- AlterConfigs / IncrementalAlterConfigs ---- */

struct change {
    char key[KEY_MAX];
    char value[VALUE_MAX];
    bool remove;
};

/* One requested change, as both requests carry it (AlterConfigs: SET). */
struct op {
    ed_kstr key, value;
    int8_t op;
};

/* Splits a comma list into items, applies APPEND or SUBTRACT of the items of
 * arg, writes the result into out. false if it does not fit. */
static bool list_op(const char *cur, const char *arg, bool append, char *out, size_t out_len)
{
    size_t len = 0;
    out[0] = '\0';
    const char *srcs[2] = {cur, append ? arg : NULL};
    for (int s = 0; s < 2; s++) {
        for (const char *p = srcs[s]; p && *p;) {
            size_t n;
            const char *item = ed_config_list_item(&p, &n);
            bool drop = n == 0 || ed_config_list_has(out, item, n) ||
                        (!append && ed_config_list_has(arg, item, n));
            if (drop) continue;
            if (len + n + 2 > out_len) return false;
            if (len) out[len++] = ',';
            memcpy(out + len, item, n);
            len += n;
            out[len] = '\0';
        }
    }
    return true;
}

/* Reads the changes of one resource into ch, checking each; the first
 * problem gives the error code and why. */
static int16_t read_changes(const struct op *ops, int32_t n, ed_topic *topic, struct change *ch,
                            char *why, size_t why_len)
{
    for (int32_t i = 0; i < n; i++) {
        struct change *c = &ch[i];
        if (!ed_kstr_copy(ops[i].key, c->key, sizeof c->key)) {
            snprintf(why, why_len, "Invalid config name");
            return ED_KERR_INVALID_CONFIG;
        }
        for (int32_t j = 0; j < i; j++)
            if (strcmp(ch[j].key, c->key) == 0) {
                snprintf(why, why_len, "Error due to duplicate config keys: %s", c->key);
                return ED_KERR_INVALID_REQUEST;
            }
        char val[VALUE_MAX];
        bool null_value = ops[i].value.len < 0;
        if (!null_value && !ed_kstr_copy(ops[i].value, val, sizeof val)) {
            snprintf(why, why_len, "Value of %s is too long or contains NUL", c->key);
            return ED_KERR_INVALID_CONFIG;
        }
        c->remove = false;
        switch (ops[i].op) {
        case ED_KC_OP_SET:
            /* AlterConfigs: a null value means "back to the default". */
            c->remove = null_value;
            if (!null_value) snprintf(c->value, sizeof c->value, "%s", val);
            break;
        case ED_KC_OP_DELETE:
            c->remove = true;
            break;
        case ED_KC_OP_APPEND:
        case ED_KC_OP_SUBTRACT: {
            if (!ed_kapi_topic_config_is_list(c->key)) {
                snprintf(why, why_len, "Config value %s is not allowed for config key: %s",
                         ops[i].op == ED_KC_OP_APPEND ? "append" : "subtract", c->key);
                return ED_KERR_INVALID_CONFIG;
            }
            bool dflt;
            const char *cur = ed_topic_config_get(topic, c->key, &dflt);
            if (!list_op(cur ? cur : "", null_value ? "" : val, ops[i].op == ED_KC_OP_APPEND,
                         c->value, sizeof c->value)) {
                snprintf(why, why_len, "Value of %s is too long", c->key);
                return ED_KERR_INVALID_CONFIG;
            }
            break;
        }
        default:
            snprintf(why, why_len, "Unknown config operation %d for %s", ops[i].op, c->key);
            return ED_KERR_INVALID_REQUEST;
        }
        if (!ed_kapi_topic_config_check(c->key, c->remove ? NULL : c->value, why, why_len))
            return ED_KERR_INVALID_CONFIG;
    }
    return ED_KERR_NONE;
}

/* Applies the checked changes (AlterConfigs first resets every override it
 * does not name: it replaces the whole set). */
static int16_t apply_changes(ed_kreq *req, ed_topic *topic, const struct change *ch, int32_t n,
                             bool incremental, char *why, size_t why_len)
{
    ed_topics *ts = req->broker->topics;
    for (const char *const *k = ed_topics_config_keys(); *k && !incremental; k++) {
        bool named = false, dflt = true;
        for (int32_t j = 0; j < n; j++)
            named |= strcmp(ch[j].key, *k) == 0;
        if (named) continue;
        ed_topic_config_get(topic, *k, &dflt);
        const char *cwhy = NULL;
        if (!dflt && ed_topic_config_set(ts, topic, *k, NULL, &cwhy)) {
            snprintf(why, why_len, "%s", cwhy ? cwhy : "cannot reset config");
            return ED_KERR_INVALID_CONFIG;
        }
    }
    for (int32_t j = 0; j < n; j++) {
        const char *cwhy = NULL;
        int rc =
            ed_topic_config_set(ts, topic, ch[j].key, ch[j].remove ? NULL : ch[j].value, &cwhy);
        if (rc) {
            snprintf(why, why_len, "%s", cwhy ? cwhy : ed_strerror(rc));
            return ED_KERR_INVALID_CONFIG;
        }
    }
    ED_LOG_INFO("%s: altered %" PRId32 " config(s) of topic %s", req->peer, n,
                ed_topic_name(topic));
    return ED_KERR_NONE;
}

/* One resource of either request: its changes as ops, the answer in res. */
static void alter_one(ed_kreq *req, ed_karena *a, int8_t type, ed_kstr name, const struct op *ops,
                      int32_t n, bool incremental, bool validate_only, int16_t *err_out,
                      ed_kstr *msg_out)
{
    char why[512];
    ed_topic *topic = NULL;
    int16_t err = configs_denied(req, ED_ACL_OP_ALTER_CONFIGS, type, name, why, sizeof why);
    if (!err && type == ED_KC_RESOURCE_BROKER) {
        err = ED_KERR_INVALID_REQUEST;
        snprintf(why, sizeof why,
                 "Broker configs are read-only in Eddy: set them in the config file or with "
                 "'eddy serve --set key=value'");
    } else if (!err) {
        err = find_topic(req, type, name, &topic, why, sizeof why);
    }
    struct change *ch = NULL;
    if (!err && n > 0 && !(ch = ed_calloc((size_t)n, sizeof *ch))) {
        err = ED_KERR_UNKNOWN_SERVER_ERROR;
        snprintf(why, sizeof why, "Out of memory");
    }
    if (!err) err = read_changes(ops, n, topic, ch, why, sizeof why);
    if (!err && !validate_only)
        err = apply_changes(req, topic, ch, n, incremental, why, sizeof why);
    ed_free(ch);
    *err_out = err;
    *msg_out = err ? kdup(a, why) : kz(NULL);
}

int ed_kapi_alter_configs(ed_kreq *req)
{
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_ALTER_CONFIGS);
    int16_t v = req->api_version;
    ed_karena a;
    init_arena(&a);
    struct ed_kmsg_alter_configs_request body;
    if (ed_kschema_decode_request(api, v, &req->rd, &a, &body) != ED_OK) {
        ed_karena_free(&a);
        return ED_KAPI_CLOSE;
    }
    struct ed_kmsg_alter_configs_response resp;
    ed_kschema_init(api->response, &resp);
    int32_t n = ED_MAX(body.n_resources, 0);
    resp.responses = ed_karena_alloc(&a, (size_t)n * sizeof *resp.responses + 1);
    resp.n_responses = resp.responses ? n : 0;
    for (int32_t i = 0; i < resp.n_responses; i++) {
        const struct ed_kmsg_alter_configs_request_alter_configs_resource *rq = &body.resources[i];
        int32_t nc = ED_MAX(rq->n_configs, 0);
        struct op *ops = ed_karena_alloc(&a, (size_t)nc * sizeof *ops + 1);
        for (int32_t k = 0; ops && k < nc; k++)
            ops[k] = (struct op){rq->configs[k].name, rq->configs[k].value, ED_KC_OP_SET};
        struct ed_kmsg_alter_configs_response_alter_configs_resource_response *r =
            &resp.responses[i];
        r->resource_type = rq->resource_type;
        r->resource_name = rq->resource_name;
        alter_one(req, &a, rq->resource_type, rq->resource_name, ops, ops ? nc : 0, false,
                  body.validate_only, &r->error_code, &r->error_message);
    }
    ed_kschema_encode_response(api, v, &req->out, &resp);
    ed_karena_free(&a);
    return ED_KAPI_RESPOND;
}

int ed_kapi_incremental_alter_configs(ed_kreq *req)
{
    const struct ed_kmsg_api *api = ed_kschema_api(ED_KMSG_INCREMENTAL_ALTER_CONFIGS);
    int16_t v = req->api_version;
    ed_karena a;
    init_arena(&a);
    struct ed_kmsg_incremental_alter_configs_request body;
    if (ed_kschema_decode_request(api, v, &req->rd, &a, &body) != ED_OK) {
        ed_karena_free(&a);
        return ED_KAPI_CLOSE;
    }
    struct ed_kmsg_incremental_alter_configs_response resp;
    ed_kschema_init(api->response, &resp);
    int32_t n = ED_MAX(body.n_resources, 0);
    resp.responses = ed_karena_alloc(&a, (size_t)n * sizeof *resp.responses + 1);
    resp.n_responses = resp.responses ? n : 0;
    for (int32_t i = 0; i < resp.n_responses; i++) {
        const struct ed_kmsg_incremental_alter_configs_request_alter_configs_resource *rq =
            &body.resources[i];
        int32_t nc = ED_MAX(rq->n_configs, 0);
        struct op *ops = ed_karena_alloc(&a, (size_t)nc * sizeof *ops + 1);
        for (int32_t k = 0; ops && k < nc; k++)
            ops[k] = (struct op){rq->configs[k].name, rq->configs[k].value,
                                 rq->configs[k].config_operation};
        struct ed_kmsg_incremental_alter_configs_response_alter_configs_resource_response *r =
            &resp.responses[i];
        r->resource_type = rq->resource_type;
        r->resource_name = rq->resource_name;
        alter_one(req, &a, rq->resource_type, rq->resource_name, ops, ops ? nc : 0, true,
                  body.validate_only, &r->error_code, &r->error_message);
    }
    ed_kschema_encode_response(api, v, &req->out, &resp);
    ed_karena_free(&a);
    return ED_KAPI_RESPOND;
}
