/* Committed offsets: the per-group map in memory and its log, the internal
 * compacted topic __consumer_offsets (one partition), in Kafka's record
 * formats so that Kafka's tools can read it:
 *
 *   key   OffsetCommitKey v1     int16 1, string group, string topic, int32 partition
 *   value OffsetCommitValue v3   int16 3, int64 offset, int32 leaderEpoch,
 *                                string metadata, int64 commitTimestamp
 *   key   GroupMetadataKey v2    int16 2, string group
 *   value GroupMetadataValue v3  int16 3, string protocolType, int32 generation,
 *                                nullable string protocol, nullable string leader,
 *                                int64 currentStateTimestamp, [member]: string
 *                                memberId, nullable string groupInstanceId,
 *                                string clientId, string clientHost, int32
 *                                rebalanceTimeout, int32 sessionTimeout, bytes
 *                                subscription, bytes assignment
 *
 * A null value is a tombstone (offset deleted, group deleted). Strings are
 * int16-length, bytes int32-length, big-endian (Kafka's non-flexible
 * encodings). Loading replays the log in order; compaction (storage/) keeps
 * the latest record per key, so replay stays short. Offsets of empty groups
 * expire after offsets.retention.minutes. */
#define ED_LOG_MODULE "offsets"
#include "core/group_int.h"
#include "core/bytes.h"
#include "core/topics.h"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define KEY_OFFSET_V0 0
#define KEY_OFFSET_V1 1
#define KEY_GROUP     2
#define LOAD_READ_LEN (1u << 20)

/* ---- the offsets map ---- */

struct topic_key {
    const struct ed_group *grp;
    const char *topic;
};

static int topic_cmp(const void *arg, int32_t i)
{
    const struct topic_key *k = arg;
    return strcmp(k->grp->topics[i].name, k->topic);
}

static int32_t topic_index(const struct ed_group *grp, const char *topic, bool *found)
{
    struct topic_key k = {grp, topic};
    return ed_group_lower_bound(grp->n_topics, topic_cmp, &k, found);
}

struct part_key {
    const struct ed_gtopic *t;
    int32_t partition;
};

static int part_cmp(const void *arg, int32_t i)
{
    const struct part_key *k = arg;
    int32_t p = k->t->parts[i].partition;
    return p < k->partition ? -1 : p > k->partition;
}

static int32_t part_index(const struct ed_gtopic *t, int32_t partition, bool *found)
{
    struct part_key k = {t, partition};
    return ed_group_lower_bound(t->n, part_cmp, &k, found);
}

struct ed_goffset *ed_group_offset(struct ed_group *grp, const char *topic, int32_t partition)
{
    bool found;
    int32_t ti = topic_index(grp, topic, &found);
    if (!found) return NULL;
    struct ed_gtopic *t = &grp->topics[ti];
    int32_t pi = part_index(t, partition, &found);
    return found ? &t->parts[pi] : NULL;
}

int ed_group_offset_set(struct ed_group *grp, const char *topic, int32_t partition, int64_t offset,
                        int32_t leader_epoch, const char *metadata, size_t metadata_len,
                        int64_t commit_ts)
{
    char *md = ed_strndup(metadata ? metadata : "", metadata ? metadata_len : 0);
    if (!md) return ED_ERR_NOMEM;
    bool found;
    int32_t ti = topic_index(grp, topic, &found);
    if (!found) {
        if (grp->n_topics == grp->cap_topics) {
            int32_t cap = grp->cap_topics ? grp->cap_topics * 2 : 4;
            struct ed_gtopic *p = ed_realloc(grp->topics, (size_t)cap * sizeof *p);
            if (!p) goto nomem;
            grp->topics = p;
            grp->cap_topics = cap;
        }
        char *name = ed_strdup(topic);
        if (!name) goto nomem;
        memmove(grp->topics + ti + 1, grp->topics + ti,
                (size_t)(grp->n_topics - ti) * sizeof *grp->topics);
        memset(&grp->topics[ti], 0, sizeof grp->topics[ti]);
        grp->topics[ti].name = name;
        grp->n_topics++;
    }
    struct ed_gtopic *t = &grp->topics[ti];
    int32_t pi = part_index(t, partition, &found);
    if (!found) {
        if (t->n == t->cap) {
            int32_t cap = t->cap ? t->cap * 2 : 4;
            struct ed_goffset *p = ed_realloc(t->parts, (size_t)cap * sizeof *p);
            if (!p) goto nomem;
            t->parts = p;
            t->cap = cap;
        }
        memmove(t->parts + pi + 1, t->parts + pi, (size_t)(t->n - pi) * sizeof *t->parts);
        t->parts[pi].metadata = NULL;
        t->n++;
        grp->n_offsets++;
    }
    struct ed_goffset *o = &t->parts[pi];
    ed_free(o->metadata);
    o->partition = partition;
    o->offset = offset;
    o->leader_epoch = leader_epoch;
    o->commit_ts = commit_ts;
    o->metadata = md;
    return ED_OK;
nomem:
    ed_free(md);
    return ED_ERR_NOMEM;
}

bool ed_group_offset_del(struct ed_group *grp, const char *topic, int32_t partition)
{
    bool found;
    int32_t ti = topic_index(grp, topic, &found);
    if (!found) return false;
    struct ed_gtopic *t = &grp->topics[ti];
    int32_t pi = part_index(t, partition, &found);
    if (!found) return false;
    ed_free(t->parts[pi].metadata);
    memmove(t->parts + pi, t->parts + pi + 1, (size_t)(t->n - pi - 1) * sizeof *t->parts);
    t->n--;
    grp->n_offsets--;
    if (t->n == 0) {
        ed_free(t->parts);
        ed_free(t->name);
        memmove(grp->topics + ti, grp->topics + ti + 1,
                (size_t)(grp->n_topics - ti - 1) * sizeof *grp->topics);
        grp->n_topics--;
    }
    return true;
}

void ed_group_offsets_free(struct ed_group *grp)
{
    for (int32_t i = 0; i < grp->n_topics; i++) {
        struct ed_gtopic *t = &grp->topics[i];
        for (int32_t k = 0; k < t->n; k++)
            ed_free(t->parts[k].metadata);
        ed_free(t->parts);
        ed_free(t->name);
    }
    ed_free(grp->topics);
    grp->topics = NULL;
    grp->n_topics = grp->cap_topics = 0;
    grp->n_offsets = 0;
}

/* ---- record encoders ---- */

int ed_gstore_offset_key(const char *group, const char *topic, int32_t partition, struct ed_grec *r)
{
    ed_bytes_wr w;
    ed_bytes_wr_init(&w, 1u << 16);
    ed_bytes_put_be(&w, KEY_OFFSET_V1, 2);
    ed_bytes_put_str(&w, group);
    ed_bytes_put_str(&w, topic);
    ed_bytes_put_be(&w, (uint32_t)partition, 4);
    return ed_bytes_wr_take(&w, &r->key, &r->key_len);
}

int ed_gstore_offset_value(int64_t offset, int32_t leader_epoch, const char *metadata,
                           int64_t commit_ts, struct ed_grec *r)
{
    ed_bytes_wr w;
    ed_bytes_wr_init(&w, 1u << 16);
    ed_bytes_put_be(&w, 3, 2);
    ed_bytes_put_be(&w, (uint64_t)offset, 8);
    ed_bytes_put_be(&w, (uint32_t)leader_epoch, 4);
    ed_bytes_put_str(&w, metadata ? metadata : "");
    ed_bytes_put_be(&w, (uint64_t)commit_ts, 8);
    return ed_bytes_wr_take(&w, &r->value, &r->value_len);
}

int ed_gstore_group_key(const char *group, struct ed_grec *r)
{
    ed_bytes_wr w;
    ed_bytes_wr_init(&w, 1u << 16);
    ed_bytes_put_be(&w, KEY_GROUP, 2);
    ed_bytes_put_str(&w, group);
    return ed_bytes_wr_take(&w, &r->key, &r->key_len);
}

int ed_gstore_group_value(const ed_groups *g, const struct ed_group *grp, struct ed_grec *r)
{
    ED_UNUSED(g);
    ed_bytes_wr w;
    ed_bytes_wr_init(&w, 16u << 20);
    ed_bytes_put_be(&w, 3, 2);
    ed_bytes_put_str(&w, grp->protocol_type ? grp->protocol_type : "");
    ed_bytes_put_be(&w, (uint32_t)grp->generation, 4);
    ed_bytes_put_str(&w, grp->protocol);
    ed_bytes_put_str(&w, grp->leader);
    ed_bytes_put_be(&w, (uint64_t)grp->state_ts, 8);
    bool stable = grp->state == ED_GS_STABLE;
    ed_bytes_put_be(&w, (uint32_t)(stable ? grp->n_members : 0), 4);
    for (const struct ed_gmember *m = grp->members; stable && m; m = m->next) {
        ed_bytes_put_str(&w, m->id);
        ed_bytes_put_str(&w, m->instance_id);
        ed_bytes_put_str(&w, m->client_id ? m->client_id : "");
        ed_bytes_put_str(&w, m->client_host ? m->client_host : "");
        ed_bytes_put_be(&w, (uint32_t)m->rebalance_timeout_ms, 4);
        ed_bytes_put_be(&w, (uint32_t)m->session_timeout_ms, 4);
        const struct ed_gproto *p = ed_gmember_proto(m, grp->protocol);
        ed_bytes_put_run(&w, p ? p->meta : (const uint8_t *)"", p ? p->meta_len : 0);
        ed_bytes_put_run(&w, m->assignment ? m->assignment : (const uint8_t *)"",
                         m->assignment_len);
    }
    return ed_bytes_wr_take(&w, &r->value, &r->value_len);
}

void ed_grecs_free(struct ed_grec *r, int n)
{
    for (int i = 0; i < n; i++) {
        ed_free(r[i].key);
        ed_free(r[i].value);
        r[i].key = r[i].value = NULL;
    }
}

/* ---- the log ---- */

int ed_gstore_ensure(ed_groups *g)
{
    if (g->part) return ED_OK;
    ed_topics *topics = g->b->topics;
    ed_topic *t = ed_topics_find(topics, ED_GROUP_OFFSETS_TOPIC);
    const char *why = NULL;
    if (!t) {
        char seg[32];
        snprintf(seg, sizeof seg, "%" PRIu64, g->cfg.offsets_segment_len);
        const char *keys[] = {"cleanup.policy", "segment.bytes"};
        const char *values[] = {"compact", seg};
        int rc = ed_topics_create(topics, ED_GROUP_OFFSETS_TOPIC, 1, keys, values, 2, &why, &t);
        if (rc != ED_OK) {
            ED_LOG_ERR("cannot create %s: %s (%s)", ED_GROUP_OFFSETS_TOPIC, ed_strerror(rc),
                       why ? why : "");
            return rc;
        }
        ED_LOG_INFO("created %s (1 partition, compacted)", ED_GROUP_OFFSETS_TOPIC);
    } else {
        bool is_def = false;
        const char *pol = ed_topic_config_get(t, "cleanup.policy", &is_def);
        if (!pol || !strstr(pol, "compact")) {
            /* e.g. auto-created by a Metadata request before first use */
            int rc = ed_topic_config_set(topics, t, "cleanup.policy", "compact", &why);
            if (rc != ED_OK)
                ED_LOG_WARN("%s: cannot make it compacted: %s", ED_GROUP_OFFSETS_TOPIC,
                            why ? why : ed_strerror(rc));
        }
    }
    g->part = ed_topic_partition(t, 0);
    return g->part ? ED_OK : ED_ERR_NOENT;
}

/* Appends the builder's finished batch to buf. */
static int push_batch(ed_groups *g, uint8_t **buf, size_t *len, size_t *cap)
{
    uint8_t *b;
    size_t n;
    int rc = ed_batch_builder_finish(g->builder, &b, &n);
    if (rc != ED_OK) return rc;
    if (n == 0) return ED_OK;
    if (*len + n > *cap) {
        size_t c = ED_MAX(*cap * 2, *len + n);
        uint8_t *p = ed_realloc(*buf, c);
        if (!p) return ED_ERR_NOMEM;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf + *len, b, n);
    *len += n;
    return ED_OK;
}

int ed_gstore_append(ed_groups *g, const struct ed_grec *r, int n, int64_t *last)
{
    int rc = ed_gstore_ensure(g);
    if (rc != ED_OK) return rc;
    if (n <= 0) return ED_ERR_INVAL;
    int64_t now = ed_groups_wall(g);
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    rc = ed_batch_builder_begin(g->builder, ED_COMPRESSION_NONE, now, -1, -1, -1);
    for (int i = 0; i < n && rc == ED_OK; i++) {
        rc = ed_batch_builder_add(g->builder, r[i].key, r[i].key_len, r[i].value, r[i].value_len,
                                  NULL, 0, now);
        if (rc == ED_ERR_TOOBIG && ed_batch_builder_count(g->builder) > 0) {
            rc = push_batch(g, &buf, &len, &cap);
            if (rc == ED_OK)
                rc = ed_batch_builder_begin(g->builder, ED_COMPRESSION_NONE, now, -1, -1, -1);
            if (rc == ED_OK) i--; /* the same record into the new batch */
        }
    }
    if (rc == ED_OK) rc = push_batch(g, &buf, &len, &cap);
    struct ed_append_result res;
    if (rc == ED_OK) rc = ed_log_append(g->part->log, buf, len, &res);
    ed_free(buf);
    if (rc != ED_OK) {
        ED_LOG_WARN_RL("%s: cannot append %d records: %s", ED_GROUP_OFFSETS_TOPIC, n,
                       ed_strerror(rc));
        return rc;
    }
    *last = res.last_offset;
    ed_topics_appended(g->b->topics, g->part);
    return ED_OK;
}

void ed_gstore_write_group(ed_groups *g, const struct ed_group *grp, bool tombstone)
{
    if (g->loading) return;
    struct ed_grec r = {0};
    int rc = ed_gstore_group_key(grp->id, &r);
    if (rc == ED_OK && !tombstone) rc = ed_gstore_group_value(g, grp, &r);
    int64_t last;
    if (rc == ED_OK) rc = ed_gstore_append(g, &r, 1, &last);
    if (rc != ED_OK) ED_LOG_WARN_RL("group %s: metadata not written: %s", grp->id, ed_strerror(rc));
    ed_grecs_free(&r, 1);
}

/* ---- loading ---- */

static bool copy_str(ed_kstr s, char *out, size_t cap)
{
    if (s.len < 0 || (size_t)s.len >= cap || (s.len && memchr(s.p, 0, (size_t)s.len))) return false;
    if (s.len) memcpy(out, s.p, (size_t)s.len);
    out[s.len] = '\0';
    return true;
}

/* A string of a record value: int16 length, or in the flexible versions
 * (4 and up) a compact one (unsigned varint length + 1, 0 = null). */
static ed_kstr value_str(ed_bytes_rd *r, bool flex)
{
    if (!flex) return ed_bytes_get_str(r);
    ed_bytes_run s = ed_bytes_get_span(r, (int64_t)ed_bytes_get_uvarint(r) - 1);
    return (ed_kstr){(const char *)s.p, s.len};
}

/* Skips the tagged fields that end a flexible record value. */
static void skip_tags(ed_bytes_rd *r, bool flex)
{
    if (!flex) return;
    uint32_t n = ed_bytes_get_uvarint(r);
    for (uint32_t i = 0; i < n && ed_bytes_rd_ok(r); i++) {
        ed_bytes_get_uvarint(r); /* tag */
        ed_bytes_get_span(r, ed_bytes_get_uvarint(r));
    }
}

static bool apply_offset(ed_groups *g, ed_bytes_rd *k, const uint8_t *value, int32_t value_len)
{
    char group[ED_GROUP_ID_MAX + 1], topic[ED_TOPIC_NAME_MAX + 1];
    ed_kstr gs = ed_bytes_get_str(k), ts = ed_bytes_get_str(k);
    int32_t partition = ed_bytes_get_i32(k);
    if (!ed_bytes_rd_ok(k) || k->left != 0 || !copy_str(gs, group, sizeof group) ||
        !copy_str(ts, topic, sizeof topic))
        return false;
    if (!value) {
        struct ed_group *grp = ed_group_find_z(g, group);
        if (grp) {
            ed_group_offset_del(grp, topic, partition);
            if (grp->n_offsets == 0 && grp->n_members == 0 && !grp->protocol_type)
                ed_group_remove(g, grp);
        }
        return true;
    }
    ed_bytes_rd v;
    ed_bytes_rd_init(&v, value, (size_t)value_len);
    int16_t ver = ed_bytes_get_i16(&v);
    bool flex = ver >= 4;
    int64_t offset = ed_bytes_get_i64(&v);
    int32_t epoch = ver >= 3 ? ed_bytes_get_i32(&v) : -1;
    ed_kstr md = value_str(&v, flex);
    int64_t ts_commit = ed_bytes_get_i64(&v);
    if (ver == 1) ed_bytes_get_i64(&v); /* expireTimestamp */
    skip_tags(&v, flex);
    if (!ed_bytes_rd_ok(&v) || ver < 0 || ver > 4 || md.len < 0) return false;
    struct ed_group *grp = ed_group_get(g, group, strlen(group));
    if (!grp) return false;
    return ed_group_offset_set(grp, topic, partition, offset, epoch, md.p, (size_t)md.len,
                               ts_commit) == ED_OK;
}

static bool apply_group(ed_groups *g, ed_bytes_rd *k, const uint8_t *value, int32_t value_len)
{
    char group[ED_GROUP_ID_MAX + 1];
    ed_kstr gs = ed_bytes_get_str(k);
    if (!ed_bytes_rd_ok(k) || k->left != 0 || !copy_str(gs, group, sizeof group)) return false;
    struct ed_group *grp = ed_group_find_z(g, group);
    if (!value) {
        if (grp) {
            ed_free(grp->protocol_type);
            grp->protocol_type = NULL;
            /* a group with members (never at start-up) stays */
            if (grp->n_offsets == 0 && grp->n_members == 0) ed_group_remove(g, grp);
        }
        return true;
    }
    ed_bytes_rd v;
    ed_bytes_rd_init(&v, value, (size_t)value_len);
    int16_t ver = ed_bytes_get_i16(&v);
    bool flex = ver >= 4;
    ed_kstr ptype = value_str(&v, flex);
    int32_t generation = ed_bytes_get_i32(&v);
    value_str(&v, flex); /* protocol */
    value_str(&v, flex); /* leader */
    int64_t state_ts = ver >= 2 ? ed_bytes_get_i64(&v) : -1;
    /* Members are not restored: after a restart every consumer rejoins. */
    if (!ed_bytes_rd_ok(&v) || ver < 0 || ver > 4 || ptype.len < 0) return false;
    if (!grp) grp = ed_group_get(g, group, strlen(group));
    if (!grp) return false;
    ed_free(grp->protocol_type);
    grp->protocol_type = ptype.len > 0 ? ed_strndup(ptype.p, (size_t)ptype.len) : NULL;
    grp->generation = generation;
    if (state_ts > 0) grp->state_ts = state_ts;
    return true;
}

bool ed_gstore_apply(ed_groups *g, const uint8_t *key, int32_t key_len, const uint8_t *value,
                     int32_t value_len)
{
    if (!key || key_len < 2) return false;
    ed_bytes_rd k;
    ed_bytes_rd_init(&k, key, (size_t)key_len);
    int16_t ver = ed_bytes_get_i16(&k);
    if (ver == KEY_OFFSET_V0 || ver == KEY_OFFSET_V1) return apply_offset(g, &k, value, value_len);
    if (ver == KEY_GROUP) return apply_group(g, &k, value, value_len);
    return true; /* Kafka's newer record types: nothing Eddy keeps */
}

static int load_record(void *arg, const struct ed_record *rec)
{
    ed_groups *g = arg;
    g->stats.n_loaded++;
    if (!ed_gstore_apply(g, rec->key, rec->key_len, rec->value, rec->value_len))
        g->stats.n_load_skipped++;
    return 0;
}

int ed_gstore_load(ed_groups *g)
{
    ed_topic *t = ed_topics_find(g->b->topics, ED_GROUP_OFFSETS_TOPIC);
    if (!t) return ED_OK;
    int rc = ed_gstore_ensure(g);
    if (rc != ED_OK) return rc;
    g->loading = true;
    uint64_t t0 = ed_plat_clock_mono_ms();
    uint64_t n_bad = 0;
    int64_t off = 0;
    rc = ed_log_each_record(g->part->log, LOAD_READ_LEN, load_record, g, &n_bad, &off);
    g->stats.n_load_skipped += (int64_t)n_bad;
    g->loading = false;
    if (rc != ED_OK) {
        ED_LOG_ERR("%s: cannot load committed offsets at offset %" PRId64 ": %s",
                   ED_GROUP_OFFSETS_TOPIC, off, ed_strerror(rc));
        return rc;
    }
    /* Loaded groups have no members: they are Empty since the restart at
     * the latest (their offsets expire from then on). */
    int64_t now = ed_groups_wall(g);
    int64_t n_off = 0;
    for (int32_t i = 0; i < g->n_groups; i++) {
        struct ed_group *grp = g->groups[i];
        if (grp->state_ts <= 0 || grp->state_ts > now) grp->state_ts = now;
        n_off += grp->n_offsets;
    }
    if (g->stats.n_load_skipped)
        ED_LOG_WARN("%s: %" PRId64 " records did not parse and were skipped",
                    ED_GROUP_OFFSETS_TOPIC, g->stats.n_load_skipped);
    ED_LOG_INFO("loaded %" PRId32 " groups and %" PRId64 " committed offsets from %" PRId64
                " records in %" PRIu64 " ms",
                g->n_groups, n_off, g->stats.n_loaded, ed_plat_clock_mono_ms() - t0);
    return ED_OK;
}

/* ---- retention ---- */

/* Expires offsets of Empty groups: all of them once the group has been
 * empty for the retention time (a consumer group), or each one by its
 * commit time (a group that only ever committed). */
void ed_gstore_expire(ed_groups *g)
{
    int64_t now = ed_groups_wall(g);
    int64_t ret = g->cfg.offsets_retention_ms;
    for (int32_t i = 0; i < g->n_groups; i++) {
        struct ed_group *grp = g->groups[i];
        if (grp->state != ED_GS_EMPTY || grp->n_members > 0) continue;
        bool whole = grp->protocol_type && now - grp->state_ts >= ret;
        int n = 0;
        for (int32_t t = 0; t < grp->n_topics; t++)
            for (int32_t k = 0; k < grp->topics[t].n; k++)
                if (whole || now - grp->topics[t].parts[k].commit_ts >= ret) n++;
        bool drop_group = n == grp->n_offsets && (whole || !grp->protocol_type);
        if (n == 0 && !drop_group) continue;
        struct ed_grec *recs = ed_calloc((size_t)n + 1, sizeof *recs);
        if (!recs) return;
        int k = 0, rc = ED_OK;
        for (int32_t t = 0; t < grp->n_topics && rc == ED_OK; t++)
            for (int32_t p = 0; p < grp->topics[t].n && rc == ED_OK; p++)
                if (whole || now - grp->topics[t].parts[p].commit_ts >= ret)
                    rc = ed_gstore_offset_key(grp->id, grp->topics[t].name,
                                              grp->topics[t].parts[p].partition, &recs[k++]);
        if (rc == ED_OK && drop_group) rc = ed_gstore_group_key(grp->id, &recs[k++]);
        int64_t last;
        if (rc == ED_OK && k > 0) rc = ed_gstore_append(g, recs, k, &last);
        ed_grecs_free(recs, k);
        ed_free(recs);
        if (rc != ED_OK) return; /* the log refuses: try again next time */
        ED_LOG_INFO("group %s: %d committed offsets expired (offsets.retention.minutes)%s", grp->id,
                    n, drop_group ? "; group removed" : "");
        if (drop_group) {
            ed_group_remove(g, grp);
            i--;
            continue;
        }
        for (int32_t t = grp->n_topics - 1; t >= 0; t--) {
            for (int32_t p = grp->topics[t].n - 1; p >= 0; p--) {
                struct ed_gtopic *tp = &grp->topics[t];
                if (now - tp->parts[p].commit_ts < ret) continue;
                int32_t n_topics = grp->n_topics;
                ed_group_offset_del(grp, tp->name, tp->parts[p].partition);
                if (grp->n_topics != n_topics) break; /* the topic's last offset went */
            }
        }
    }
}
