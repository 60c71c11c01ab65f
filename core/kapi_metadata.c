/* Metadata 0-12: this broker as the only broker and controller, the cluster
 * id, and the requested topics (v0: empty list = all; v1+: null = all,
 * empty = none; v10+ by topic id) with auto-creation when the request and
 * the broker allow it. A topic created here is answered with its partitions
 * at once (no LEADER_NOT_AVAILABLE round trip: Eddy creates synchronously
 * and is the leader of everything). */
#define ED_LOG_MODULE "metadata"
#include "core/kapi.h"
#include "core/kapi_handlers.h"
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
    int16_t v;
    bool flex;
    bool include_topic_ops;
    ed_kwr *w;
    ed_broker *b;
};

static void write_partitions(struct mreq *m, ed_topic *topic)
{
    ed_kwr *w = m->w;
    int32_t n = topic ? ed_topic_n_partitions(topic) : 0;
    ed_kwr_array(w, n, m->flex);
    for (int32_t i = 0; i < n; i++) {
        ed_kwr_i16(w, ED_KERR_NONE);
        ed_kwr_i32(w, i);
        ed_kwr_i32(w, m->b->node_id);    /* leader */
        if (m->v >= 7) ed_kwr_i32(w, 0); /* leader epoch */
        ed_kwr_array(w, 1, m->flex);     /* replicas */
        ed_kwr_i32(w, m->b->node_id);
        ed_kwr_array(w, 1, m->flex); /* isr */
        ed_kwr_i32(w, m->b->node_id);
        if (m->v >= 5) ed_kwr_array(w, 0, m->flex); /* offline replicas */
        ed_kwr_tags(w, m->flex);
    }
}

/* One topic entry; name.len < 0 writes a null name (v12+) or "". */
static void write_topic(struct mreq *m, int16_t err, ed_kstr name, const uint8_t *id,
                        ed_topic *topic)
{
    static const uint8_t zero[16];
    ed_kwr *w = m->w;
    ed_kwr_i16(w, err);
    if (name.len < 0 && m->v < 12) name = (ed_kstr){"", 0};
    ed_kwr_kstr(w, name, m->flex);
    if (m->v >= 10) ed_kwr_uuid(w, id ? id : zero);
    if (m->v >= 1) ed_kwr_bool(w, topic && ed_topic_is_internal(topic));
    write_partitions(m, topic);
    if (m->v >= 8) ed_kwr_i32(w, m->include_topic_ops ? TOPIC_OPS : OPS_NOT_REQUESTED);
    ed_kwr_tags(w, m->flex);
}

static void write_known(struct mreq *m, ed_topic *topic)
{
    const char *name = ed_topic_name(topic);
    write_topic(m, ED_KERR_NONE, (ed_kstr){name, (int32_t)strlen(name)}, ed_topic_id(topic), topic);
}

static void each_topic(void *arg, ed_topic *topic)
{
    write_known(arg, topic);
}

/* A topic asked for by name that does not exist yet. */
static void write_missing(struct mreq *m, ed_kstr name, bool allow_auto)
{
    char cname[ED_TOPIC_NAME_MAX + 1];
    if (!ed_kstr_copy(name, cname, sizeof cname) || !ed_topics_valid_name(cname)) {
        write_topic(m, ED_KERR_INVALID_TOPIC_EXCEPTION, name, NULL, NULL);
        return;
    }
    if (allow_auto && m->b->topics) {
        ed_topic *topic = NULL;
        int rc = ed_topics_auto_create(m->b->topics, cname, &topic);
        if (rc == ED_OK) {
            write_known(m, topic);
            return;
        }
        if (rc == ED_ERR_EXIST) { /* a topic of that name is still being deleted */
            write_topic(m, ED_KERR_LEADER_NOT_AVAILABLE, name, NULL, NULL);
            return;
        }
        if (rc != ED_ERR_NOENT && rc != ED_ERR_TOOBIG) { /* a cap: logged by the registry */
            ED_LOG_WARN_RL("auto-creating topic %s: %s", cname, ed_strerror(rc));
            write_topic(m, ED_KERR_LEADER_NOT_AVAILABLE, name, NULL, NULL);
            return;
        }
    }
    write_topic(m, ED_KERR_UNKNOWN_TOPIC_OR_PARTITION, name, NULL, NULL);
}

struct want {
    uint8_t id[16];
    ed_kstr name;
};

int ed_kapi_metadata(ed_kreq *req)
{
    ed_krd *r = &req->rd;
    struct mreq m = {req->api_version, req->flex, false, &req->out, req->broker};
    int16_t v = req->api_version;

    int32_t n = ed_krd_array(r, m.flex, v >= 10 ? 17 : 2);
    if (v == 0 && n < 0) ed_krd_fail(r, ED_ERR_PROTO);
    struct want *wants = NULL;
    if (n > 0) {
        wants = ed_calloc((size_t)n, sizeof *wants);
        if (!wants) return ED_KAPI_CLOSE;
    }
    for (int32_t i = 0; i < n && ed_krd_ok(r); i++) {
        if (v >= 10) ed_krd_uuid(r, wants[i].id);
        wants[i].name = ed_krd_str(r, m.flex);
        if (v < 10 && wants[i].name.len < 0) ed_krd_fail(r, ED_ERR_PROTO);
        ed_krd_tags(r, m.flex);
    }
    bool allow_auto = true;
    if (v >= 4) allow_auto = ed_krd_bool(r);
    bool include_cluster_ops = false;
    if (v >= 8 && v <= 10) include_cluster_ops = ed_krd_bool(r);
    if (v >= 8) m.include_topic_ops = ed_krd_bool(r);
    ed_krd_tags(r, m.flex);
    if (!ed_krd_ok(r)) {
        ed_free(wants);
        return ED_KAPI_CLOSE;
    }
    ed_broker *b = req->broker;
    ed_kwr *w = &req->out;

    if (v >= 3) ed_kwr_i32(w, 0); /* throttle_time_ms */
    ed_kwr_array(w, 1, m.flex);   /* brokers: this one */
    ed_kwr_i32(w, b->node_id);
    ed_kwr_str(w, ed_broker_adv_host(b, req->listener), m.flex);
    ed_kwr_i32(w, ed_broker_adv_port(b, req->listener));
    if (v >= 1) ed_kwr_str(w, NULL, m.flex); /* rack */
    ed_kwr_tags(w, m.flex);
    if (v >= 2) ed_kwr_str(w, b->cluster_id, m.flex);
    if (v >= 1) ed_kwr_i32(w, b->node_id); /* controller */

    bool all = n < 0 || (v == 0 && n == 0);
    if (all) {
        ed_kwr_array(w, b->topics ? ed_topics_count(b->topics) : 0, m.flex);
        if (b->topics) ed_topics_each(b->topics, each_topic, &m);
    } else {
        /* Kafka answers each distinct topic once. */
        int32_t n_out = 0;
        for (int32_t i = 0; i < n; i++) {
            bool dup = false;
            for (int32_t k = 0; k < i && i < DEDUPE_MAX && !dup; k++)
                dup = wants[k].name.len == wants[i].name.len &&
                      memcmp(wants[k].id, wants[i].id, 16) == 0 &&
                      (wants[i].name.len <= 0 ||
                       memcmp(wants[k].name.p, wants[i].name.p, (size_t)wants[i].name.len) == 0);
            if (dup)
                wants[i].name.len = -2; /* marked: skip */
            else
                n_out++;
        }
        ed_kwr_array(w, n_out, m.flex);
        for (int32_t i = 0; i < n; i++) {
            struct want *q = &wants[i];
            if (q->name.len == -2) continue;
            if (q->name.len < 0) { /* by topic id */
                ed_topic *topic = b->topics ? ed_topics_find_id(b->topics, q->id) : NULL;
                if (topic)
                    write_known(&m, topic);
                else
                    write_topic(&m, ED_KERR_UNKNOWN_TOPIC_ID, q->name, q->id, NULL);
                continue;
            }
            ed_topic *topic = b->topics ? ed_topics_find_k(b->topics, q->name) : NULL;
            if (topic)
                write_known(&m, topic);
            else
                write_missing(&m, q->name, allow_auto);
        }
    }
    if (v >= 8 && v <= 10) ed_kwr_i32(w, include_cluster_ops ? CLUSTER_OPS : OPS_NOT_REQUESTED);
    ed_kwr_tags(w, m.flex);
    ed_free(wants);
    return ED_KAPI_RESPOND;
}
