/* The upstream mirror link: one transactional producer per site that
 * copies local partitions to an Apache Kafka cluster exactly once.
 *
 * Start and every reconnect: Metadata (creating missing upstream topics
 * and the compacted checkpoint topic) → DescribeConfigs (a topic with
 * LogAppendTime is refused, a timestamp window smaller than the backlog's
 * age reported) → FindCoordinator(transaction) →
 * InitProducerId(transactional.id), which fences any earlier incarnation
 * and completes or aborts its open transaction → the checkpoints, read
 * with read_committed up to the last stable offset: the resume point of
 * every source partition. Then, one transaction at a time:
 * AddPartitionsToTxn (data partitions + the checkpoint partition) → one
 * Produce per leader, carrying one batch per upstream partition and the
 * checkpoint records → EndTxn(commit). Only after the commit does the
 * local mark advance (durably: a hint and the retention guard).
 *
 * Any failure that is not plainly retriable drops every connection and
 * starts over from InitProducerId and the checkpoints: the new epoch
 * aborts whatever the failed transaction had written, so nothing is
 * written twice and nothing is skipped; sequences are never reset within
 * an epoch. Being fenced by another instance with the same transactional
 * id stops the mirror (it says so in the log and the status). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "mirror"
#include "platform/log.h"
#include "platform/mem.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "core/kafka/klink.h"
#include "core/kafka/schema.h"
#include "core/kafka/mirror.h"
#include "core/kafka/mirror_int.h"
#include "core/config.h"
#include "core/partitioner.h"
#include "core/sasl.h"
#include "core/topics.h"

/* ---- names and patterns ---- */

static bool match_here(const char *re, const char *s);

static bool match_star(char c, bool any, const char *re, const char *s)
{
    for (;;) {
        if (match_here(re, s)) return true;
        if (!*s || !(any || *s == c)) return false;
        s++;
    }
}

/* re is an atom ('.', '\x' or a literal) optionally followed by '*'. */
static bool match_here(const char *re, const char *s)
{
    if (!*re) return !*s;
    bool any = re[0] == '.';
    char c = re[0];
    const char *after = re + 1;
    if (re[0] == '\\' && re[1]) {
        c = re[1];
        after = re + 2;
    }
    if (*after == '*') return match_star(c, any, after + 1, s);
    if (*s && (any || *s == c)) return match_here(after, s + 1);
    return false;
}

bool ed_mirror_match(const char *pattern, const char *name)
{
    return match_here(pattern, name);
}

enum ed_mirror_fence ed_mirror_fence_kind(uint64_t now_ms, uint64_t init_ms, bool retaken,
                                          int64_t txn_open_ms, int64_t txn_max_ms)
{
    /* the coordinator's clock starts at its AddPartitionsToTxn, after
     * ours: when it has aborted for the timeout, ours is past it too */
    if (txn_open_ms >= 0 && txn_open_ms >= txn_max_ms) return ED_MIRROR_FENCE_TIMED_OUT;
    if (!retaken && now_ms - init_ms < FENCE_GRACE_MS) return ED_MIRROR_FENCE_RETAKE;
    return ED_MIRROR_FENCE_STOP;
}

static bool wanted(const ed_mirror *m, const char *topic)
{
    const char *p = m->topics_cfg;
    char pat[256];
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t a = 0, z = n;
        while (a < z && p[a] == ' ')
            a++;
        while (z > a && p[z - 1] == ' ')
            z--;
        if (z > a && z - a < sizeof pat) {
            memcpy(pat, p + a, z - a);
            pat[z - a] = 0;
            if (ed_mirror_match(pat, topic)) return true;
        }
        p += n;
        if (*p == ',') p++;
    }
    return false;
}

static void upstream_name(const ed_mirror *m, const char *topic, char *out, size_t out_len)
{
    size_t o = 0;
    for (const char *t = m->template_; *t && o + 1 < out_len;) {
        const char *sub = NULL;
        if (strncmp(t, "{site}", 6) == 0) {
            sub = m->site;
            t += 6;
        } else if (strncmp(t, "{topic}", 7) == 0) {
            sub = topic;
            t += 7;
        }
        if (sub) {
            for (; *sub && o + 1 < out_len; sub++)
                out[o++] = *sub;
        } else {
            out[o++] = *t++;
        }
    }
    out[o] = 0;
}

/* ---- errors, state and crash points ---- */

static void set_error(ed_mirror *m, const char *fmt, const char *a, const char *b)
{
    snprintf(m->last_error, sizeof m->last_error, fmt, a, b);
}

/* EDDY_MIRROR_CRASH_AT=point[:n]: the process ends at once, as kill -9
 * would, the n-th time (default 1) it passes that point (crash tests). */
bool ed_mirror_fault_point(ed_mirror *m, const char *point)
{
    if (!m->crash_at) return false;
    size_t n = strcspn(m->crash_at, ":");
    if (strlen(point) != n || strncmp(point, m->crash_at, n) != 0) return false;
    if (--m->crash_n != 0) return false;
    ED_LOG_WARN("fault point %s reached (EDDY_MIRROR_CRASH_AT)", point);
    return true;
}

void ed_mirror_crash_point(ed_mirror *m, const char *point)
{
    if (!ed_mirror_fault_point(m, point)) return;
    ED_LOG_WARN("crash point %s reached (EDDY_MIRROR_CRASH_AT)", point);
    _Exit(137);
}

struct ed_log *ed_mirror_part_log(ed_mirror *m, const struct mpart *p)
{
    ed_topic *t = ed_topics_find(m->b->topics, p->topic);
    ed_partition *pp = t ? ed_topic_partition(t, p->partition) : NULL;
    return pp ? pp->log : NULL;
}

/* ---- the partitions to mirror ---- */

int ed_mirror_find_ut(ed_mirror *m, const char *name)
{
    for (int i = 0; i < m->n_ut; i++)
        if (strcmp(m->ut[i].name, name) == 0) return i;
    return -1;
}

static void free_ut_parts(struct utopic *u)
{
    for (int32_t i = 0; u->bld && i < u->n_parts; i++)
        ed_batch_builder_free(u->bld[i]);
    ed_free(u->leader);
    ed_free(u->seq);
    ed_free(u->n_added);
    ed_free(u->bld);
    ed_free(u->batch);
    ed_free(u->batch_len);
    ed_free(u->acked);
    u->leader = u->seq = u->n_added = NULL;
    u->bld = NULL;
    u->batch = NULL;
    u->batch_len = NULL;
    u->acked = NULL;
    u->n_parts = 0;
}

static int add_ut(ed_mirror *m, const char *name, int32_t n_src)
{
    int i = ed_mirror_find_ut(m, name);
    if (i >= 0) {
        if (n_src > m->ut[i].n_src) m->ut[i].n_src = n_src;
        return i;
    }
    struct utopic *u = ed_realloc(m->ut, sizeof *u * (size_t)(m->n_ut + 1));
    if (!u) return -1;
    m->ut = u;
    memset(&u[m->n_ut], 0, sizeof *u);
    snprintf(u[m->n_ut].name, sizeof u[m->n_ut].name, "%s", name);
    u[m->n_ut].n_src = n_src;
    return m->n_ut++;
}

struct scan {
    ed_mirror *m;
    int n_new;
};

static void scan_topic(void *arg, ed_topic *t)
{
    struct scan *s = arg;
    ed_mirror *m = s->m;
    const char *name = ed_topic_name(t);
    if (ed_topic_is_internal(t) || !wanted(m, name)) return;
    char up[ED_TOPIC_NAME_MAX + 64];
    upstream_name(m, name, up, sizeof up);
    if (!ed_topics_valid_name(up)) {
        ED_LOG_WARN_RL("topic %s: upstream name '%s' is not a valid Kafka topic name", name, up);
        return;
    }
    int32_t n = ed_topic_n_partitions(t);
    int ut = add_ut(m, up, n);
    if (ut < 0) return;
    for (int32_t p = 0; p < n; p++) {
        bool known = false;
        for (int k = 0; k < m->n_mp && !known; k++)
            known = m->mp[k].partition == p && strcmp(m->mp[k].topic, name) == 0;
        if (known) continue;
        struct mpart *mp = ed_realloc(m->mp, sizeof *mp * (size_t)(m->n_mp + 1));
        if (!mp) return;
        m->mp = mp;
        struct mpart *x = &mp[m->n_mp++];
        memset(x, 0, sizeof *x);
        snprintf(x->topic, sizeof x->topic, "%s", name);
        x->partition = p;
        x->ut = ut;
        x->next = x->txn_next = x->ckpt = x->gap_last = x->remap_from = -1;
        x->prio = ed_mirror_priority_of(m, name);
        x->oldest_off = x->lag_len_done = x->rate_done = -1;
        s->n_new++;
    }
}

static int rescan(ed_mirror *m)
{
    struct scan s = {m, 0};
    ed_topics_each(m->b->topics, scan_topic, &s);
    if (s.n_new) m->new_parts = true;
    return s.n_new;
}

void ed_mirror_restart(ed_mirror *m, const char *why)
{
    if (m->phase == P_STOPPED) return;
    ED_LOG_WARN("upstream: %s; starting over from the checkpoints", why);
    set_error(m, "%s%s", why, "");
    m->phase = P_WAIT;
    m->blocked = false;
    m->link_state = "reconnecting";
    ed_plat_timer_stop(m->b->loop, &m->timer);
    for (int i = 0; i < m->n_mp; i++)
        m->mp[i].txn_next = m->mp[i].next;
    ed_klink_reset(m->boot, why);
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].link) ed_klink_reset(m->nodes[i].link, why);
    ed_mirror_write_status(m);
}

static void on_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_mirror_step(arg);
}

void ed_mirror_stop_for_good(ed_mirror *m, const char *fmt, const char *a, const char *b)
{
    set_error(m, fmt, a, b);
    ED_LOG_ERR("mirror stopped: %s", m->last_error);
    m->phase = P_STOPPED;
    m->link_state = "stopped";
    ed_mirror_write_status(m);
    /* the connections go from a timer: this may run inside a link's callback */
    ed_plat_timer_start(m->b->loop, &m->timer, 0, on_timer, m);
}

static void close_links(ed_mirror *m)
{
    ed_klink_free(m->boot);
    m->boot = NULL;
    for (int i = 0; i < m->n_nodes; i++) {
        ed_klink_free(m->nodes[i].link);
        m->nodes[i].link = NULL;
    }
}

void ed_mirror_later(ed_mirror *m, uint32_t ms)
{
    ed_plat_timer_start(m->b->loop, &m->timer, ms, on_timer, m);
}

/* A Kafka error in phase what: retriable ones retry the ed_mirror_step, fencing
 * stops, anything else starts over. */
void ed_mirror_kafka_error(ed_mirror *m, const char *what, int16_t err)
{
    char why[256];
    snprintf(why, sizeof why, "%s failed: %s", what, ed_kc_errname(err));
    if (err == K_PRODUCER_FENCED || err == K_INVALID_PRODUCER_EPOCH) {
        uint64_t now = ed_plat_loop_now_ms(m->b->loop);
        bool in_txn = m->phase >= P_ADD && m->phase <= P_END;
        int64_t open_ms = in_txn ? (int64_t)(now - m->txn_start_ms) : -1;
        switch (ed_mirror_fence_kind(now, m->init_ms, m->fence_retried, open_ms, m->txn_max_ms)) {
        case ED_MIRROR_FENCE_TIMED_OUT:
            /* a slow or stalled link: the coordinator aborted the
             * transaction at its timeout and bumped the epoch; a new
             * InitProducerId and the checkpoints resume exactly once */
            ED_LOG_WARN("transaction open for %lld ms, past mirror.transaction.max.ms=%lld: the "
                        "upstream aborted it (%s)",
                        (long long)open_ms, (long long)m->txn_max_ms, ed_kc_errname(err));
            ed_mirror_restart(m, "transaction timed out upstream (open longer than "
                                 "mirror.transaction.max.ms)");
            return;
        case ED_MIRROR_FENCE_RETAKE:
            /* An InitProducerId that a crashed incarnation sent just
             * before it died can reach the coordinator after ours and
             * fence us once, right after we took the link: take it back,
             * once. A second gateway with the same site.id fences again
             * and stops us. */
            m->fence_retried = true;
            ED_LOG_WARN("fenced %llu ms after taking the link (%s): an earlier incarnation's "
                        "request still in flight? taking it back once",
                        (unsigned long long)(now - m->init_ms), ed_kc_errname(err));
            ed_mirror_restart(m, "fenced right after start");
            return;
        case ED_MIRROR_FENCE_STOP:
            break;
        }
        ed_mirror_stop_for_good(
            m,
            "fenced: another instance with transactional.id %s took over the link "
            "(%s); two gateways share site.id?",
            m->txn_id, ed_kc_errname(err));
        return;
    }
    if ((err == K_NOT_COORD || err == K_COORD_NOT_AVAILABLE) &&
        (m->phase == P_ADD || m->phase == P_END)) {
        ed_mirror_coord_moved(m, why);
        return;
    }
    if (err == K_NOT_COORD || err == K_COORD_NOT_AVAILABLE) {
        set_error(m, "%s%s", why, "");
        m->phase = P_COORD;
        ed_mirror_later(m, RETRY_MS);
        return;
    }
    if (err == K_CONCURRENT_TXNS || err == K_COORD_LOADING || err == K_LEADER_NOT_AVAILABLE) {
        /* the same ed_mirror_step again; the previous transaction's markers are
         * usually written within milliseconds */
        ed_mirror_later(m, err == K_CONCURRENT_TXNS ? CONCURRENT_RETRY_MS : RETRY_MS / 4);
        return;
    }
    ed_mirror_restart(m, why);
}

/* ---- requests ---- */

void ed_mirror_enc_metadata(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    const char *names[256];
    int n = 0;
    for (int i = 0; i < m->n_ut && n < 256; i++)
        names[n++] = m->ut[i].name;
    ed_kc_enc_metadata(w, ver, names, n, false);
}

static void enc_create(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    struct ed_kc_new_topic t[256];
    static const struct ed_kc_kv compact = {"cleanup.policy", "compact"};
    int n = 0;
    for (int i = 0; i < m->n_ut && n < 256; i++) {
        const struct utopic *u = &m->ut[i];
        if (u->n_parts) continue;
        bool ck = i == m->ck_ut;
        t[n++] = (struct ed_kc_new_topic){u->name, ck ? 1 : u->n_src, -1, ck ? 1 : 0,
                                          ck ? &compact : NULL};
    }
    ed_kc_enc_create_topics(w, ver, t, n, 30000, false);
}

static void enc_find_coord(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    ED_KC_ENC_BEGIN(find_coordinator_request, r);
    r.key_type = 1; /* transaction */
    if (ver >= 4) {
        const char *k = m->txn_id;
        r.n_coordinator_keys = 1;
        r.coordinator_keys = ed_kc_enc_strs(&a, w, &k, 1);
    } else {
        r.key = ed_kc_str(m->txn_id);
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_FIND_COORDINATOR, ver, &r);
}

static void enc_init_pid(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    ED_KC_ENC_BEGIN(init_producer_id_request, r);
    r.transactional_id = ed_kc_str(m->txn_id);
    r.transaction_timeout_ms = (int32_t)m->txn_max_ms;
    r.producer_id = -1;
    r.producer_epoch = -1;
    ed_kc_enc_finish(&a, w, ED_KMSG_INIT_PRODUCER_ID, ver, &r);
}

/* ---- responses ---- */

bool ed_mirror_decode(ed_mirror *m, ed_krd *r, int16_t key, int16_t ver, struct ed_kc_mem *mem,
                      void *msg, const char *what)
{
    memset(mem, 0, sizeof *mem);
    if (ed_kc_decode(r, key, ver, mem, msg) == ED_OK) return true;
    ed_kc_free(mem);
    char why[128];
    snprintf(why, sizeof why, "malformed %s response", what);
    ed_mirror_restart(m, why);
    return false;
}

static void on_metadata(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ED_UNUSED(key);
    ed_mirror *m = arg;
    if (m->phase != P_META) return;
    struct ed_kc_metadata md;
    if (!ed_mirror_dec_metadata(m, r, ver, &md)) return;
    bool missing = false, wait = false;
    const char *missing_name = NULL;
    for (int32_t i = 0; i < md.n_topics; i++) {
        const struct ed_kc_topic_md *t = &md.topics[i];
        char name[ED_TOPIC_NAME_MAX + 1];
        if (!ed_kstr_copy(t->name, name, sizeof name)) continue;
        int ui = ed_mirror_find_ut(m, name);
        if (ui < 0) continue;
        struct utopic *u = &m->ut[ui];
        if (t->error == K_UNKNOWN_TOPIC) {
            free_ut_parts(u);
            missing = true;
            if (!missing_name || ui == m->ck_ut) missing_name = u->name;
            if (ui == m->ck_ut && m->have_state && m->scan_fallback) {
                ED_LOG_WARN("the checkpoint topic %s is missing upstream although this site has "
                            "mirrored before: creating it, the resume points come from a scan "
                            "of the upstream partitions (mirror.resume.fallback=scan)",
                            m->ck_topic);
            } else if (ui == m->ck_ut && m->have_state) {
                ed_kc_free(&md.mem);
                ed_mirror_stop_for_good(
                    m,
                    "the checkpoint topic %s is missing upstream although this site "
                    "has mirrored before (%s): refusing to mirror rather than start "
                    "again from the beginning",
                    m->ck_topic, m->state_path);
                return;
            }
            continue;
        }
        int32_t n = ed_mirror_md_parts(t);
        if (t->error || n == 0) {
            wait = true;
            continue;
        }
        if (n != u->n_parts) {
            free_ut_parts(u);
            if (ed_mirror_ut_resize(u, n) != ED_OK) {
                free_ut_parts(u);
                wait = true;
                continue;
            }
        }
        for (int32_t k = 0; k < t->n_partitions; k++) {
            int32_t leader = t->partitions[k].leader;
            u->leader[t->partitions[k].index] = leader;
            if (leader < 0 || t->partitions[k].error) wait = true;
        }
    }
    ed_kc_free(&md.mem);
    if (missing && m->create_topics) {
        m->phase = P_CREATE;
        ed_mirror_step(m);
        return;
    }
    if (missing || wait) {
        if (missing)
            set_error(m, "upstream topic %s is missing (mirror.create.topics=false)%s",
                      missing_name ? missing_name : "?", "");
        /* a topic just created has no leaders for a moment */
        ed_mirror_later(m, missing ? 5000 : METADATA_RETRY_MS);
        return;
    }
    m->next_meta_ms = ed_plat_loop_now_ms(m->b->loop) + (uint64_t)m->meta_age_ms;
    m->ck_part = 0; /* Eddy creates the checkpoint topic with one partition */
    if (m->ut[m->ck_ut].n_parts > 1)
        m->ck_part =
            ed_partitioner_pick((const uint8_t *)m->site, strlen(m->site), m->ut[m->ck_ut].n_parts);
    m->phase = P_CONFIGS;
    ed_mirror_step(m);
}

static void on_create(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ED_UNUSED(key);
    ed_mirror *m = arg;
    if (m->phase != P_CREATE) return;
    struct ed_kc_create_topics ct;
    memset(&ct, 0, sizeof ct);
    if (ed_kc_dec_create_topics(r, ver, &ct) != ED_OK) {
        ed_kc_free(&ct.mem);
        ed_mirror_restart(m, "malformed CreateTopics response");
        return;
    }
    for (int32_t i = 0; i < ct.n_topics; i++) {
        char name[ED_TOPIC_NAME_MAX + 1] = "?";
        ed_kstr_copy(ct.topics[i].name, name, sizeof name);
        if (ct.topics[i].error == 0)
            ED_LOG_INFO("created upstream topic %s", name);
        else if (ct.topics[i].error != K_TOPIC_EXISTS) {
            ED_LOG_WARN_RL("cannot create upstream topic %s: %s", name,
                           ed_kc_errname(ct.topics[i].error));
            set_error(m, "cannot create upstream topic %s: %s", name,
                      ed_kc_errname(ct.topics[i].error));
        }
    }
    ed_kc_free(&ct.mem);
    m->phase = P_META;
    ed_mirror_later(m, METADATA_RETRY_MS); /* let the new topics reach the metadata */
}

/* P_COORD before InitProducerId, P_RECOORD within a transaction whose
 * coordinator moved. */
static void on_find_coord(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_COORD && m->phase != P_RECOORD) return;
    struct ed_kmsg_find_coordinator_response c;
    struct ed_kc_mem mem;
    if (!ed_mirror_decode(m, r, key, ver, &mem, &c, "FindCoordinator")) return;
    int16_t err = c.error_code;
    int32_t id = c.node_id, port = c.port;
    ed_kstr host = c.host;
    if (ver >= 4) {
        err = c.n_coordinators > 0 ? c.coordinators[0].error_code : K_COORD_NOT_AVAILABLE;
        if (c.n_coordinators > 0) {
            id = c.coordinators[0].node_id;
            host = c.coordinators[0].host;
            port = c.coordinators[0].port;
        }
    }
    if (err == 0) ed_mirror_note_node(m, id, host, port);
    ed_kc_free(&mem);
    if (err == K_COORD_NOT_AVAILABLE || err == K_COORD_LOADING || err == K_NOT_COORD) {
        if (m->phase == P_RECOORD)
            ed_mirror_coord_moved(m, ed_kc_errname(err));
        else
            ed_mirror_later(m, RETRY_MS);
        return;
    }
    if (err) {
        ed_mirror_kafka_error(m, "FindCoordinator", err);
        return;
    }
    if (m->phase == P_RECOORD) {
        ed_mirror_coord_found(m, id);
        return;
    }
    m->coord = id;
    m->phase = P_INIT;
    ed_mirror_step(m);
}

static void on_init_pid(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_INIT) return;
    struct ed_kmsg_init_producer_id_response ip;
    struct ed_kc_mem mem;
    if (!ed_mirror_decode(m, r, key, ver, &mem, &ip, "InitProducerId")) return;
    ed_kc_free(&mem);
    if (ip.error_code) {
        ed_mirror_kafka_error(m, "InitProducerId", ip.error_code);
        return;
    }
    m->pid = ip.producer_id;
    m->epoch = ip.producer_epoch;
    m->init_ms = ed_plat_loop_now_ms(m->b->loop);
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++)
            m->ut[i].seq[p] = 0; /* a new epoch starts its sequences at 0 */
    ED_LOG_INFO("transactional id %s: producer id %" PRId64 " epoch %d", m->txn_id, m->pid,
                (int)m->epoch);
    for (int i = 0; i < m->n_mp; i++)
        m->mp[i].ckpt = -1;
    m->ck_pos = 0;
    m->ck_lso = -1;
    m->phase = P_CKPT;
    ed_mirror_step(m);
}

/* ---- the ed_mirror_step machine ---- */

static void send_or_wait(ed_mirror *m, ed_klink *k, int16_t api, ed_kc_enc_fn enc, const void *arg,
                         ed_klink_resp_cb cb)
{
    if (!k) return; /* blocked: on_up steps again */
    int rc = ed_klink_send(k, api, enc, arg, 0, cb, m);
    if (rc == ED_ERR_CLOSED || rc == ED_ERR_AGAIN) {
        m->blocked = true;
        return;
    }
    if (rc) {
        char why[160];
        snprintf(why, sizeof why, "cannot send %s: %s", ed_kschema_api(api)->name, ed_strerror(rc));
        ed_mirror_restart(m, why);
    }
}

void ed_mirror_send_to(ed_mirror *m, int32_t id, int16_t api, ed_kc_enc_fn enc, const void *arg,
                       ed_klink_resp_cb cb)
{
    send_or_wait(m, ed_mirror_link_to(m, id), api, enc, arg, cb);
}

/* An append to a local partition wakes a sleeping mirror after linger.ms
 * (to gather), at once when a batch's worth has gathered or the partition
 * is new to the mirror. Only arms the timer: this may run inside a storage
 * completion. */
static void on_append(void *arg, ed_partition *part)
{
    ed_mirror *m = arg;
    if (m->phase != P_IDLE || !m->sleeping) return;
    const char *name = ed_topic_name(part->topic);
    struct mpart *p = NULL;
    for (int i = 0; i < m->n_mp && !p; i++)
        if (m->mp[i].partition == part->index && strcmp(m->mp[i].topic, name) == 0) p = &m->mp[i];
    uint32_t delay = (uint32_t)m->linger_ms;
    if (!p) {
        if (ed_topic_is_internal(part->topic) || !wanted(m, name)) return;
        m->next_rescan_ms = 0;
        delay = 0;
    } else if (ed_log_size(part->log) >= p->idle_len + (uint64_t)m->batch_len) {
        delay = 0;
    }
    if (m->woken && delay) return;
    m->woken = true;
    ed_mirror_later(m, delay);
}

static void idle(ed_mirror *m)
{
    uint64_t now = ed_plat_loop_now_ms(m->b->loop);
    if (now >= m->next_rescan_ms) {
        m->next_rescan_ms = now + RESCAN_MS;
        rescan(m);
    }
    if (m->new_parts) { /* new partitions: their topics and checkpoints first */
        m->new_parts = false;
        m->phase = P_META;
        ed_mirror_step(m);
        return;
    }
    m->sleeping = m->woken = false;
    if (now >= m->next_meta_ms) { /* leaders and partition counts, now and then */
        m->phase = P_REFRESH;
        ed_mirror_step(m);
        return;
    }
    if (!ed_mirror_check_start(m)) return;
    uint32_t owed_ms = ed_mirror_rate_wait_ms(m);
    if (owed_ms) { /* the bandwidth cap: wait for the bucket */
        ed_mirror_later(m, owed_ms);
        return;
    }
    m->txn_t_ns[0] = ed_plat_clock_mono_ns();
    if (!ed_mirror_build_txn(m)) {
        /* records appended but not yet on flash (the mirror copies only
         * what is): look again soon; else sleep until an append */
        bool pending = false;
        for (int i = 0; i < m->n_mp; i++) {
            struct mpart *p = &m->mp[i];
            ed_log *log = ed_mirror_part_log(m, p);
            p->idle_len = log ? ed_log_size(log) : 0;
            pending |= log && ed_log_durable_offset(log) < ed_log_end_offset(log);
            p->lag = 0;
        }
        m->sleeping = !pending;
        if (m->state_dirty) ed_mirror_save_state(m);
        if (m->n_txns != m->n_txns_idle) { /* caught up: a state change */
            m->n_txns_idle = m->n_txns;
            ed_mirror_write_status(m);
        }
        ed_mirror_txn_trim(m); /* caught up: hold no copy buffers while idle */
        ed_mirror_later(m, pending ? FLUSH_POLL_MS : RESCAN_MS);
        return;
    }
    m->phase = P_ADD;
    m->txn_start_ms = ed_plat_loop_now_ms(m->b->loop);
    ed_mirror_step(m);
}

bool ed_mirror_check_start(ed_mirror *m)
{
    for (int i = 0; i < m->n_mp && !m->drop_oldest; i++) {
        struct mpart *p = &m->mp[i];
        ed_log *log = ed_mirror_part_log(m, p);
        int64_t start = log ? ed_log_start_offset(log) : 0;
        if (p->next < 0 || p->next >= start) continue;
        char tp[300], what[200];
        snprintf(tp, sizeof tp, "%s-%d", p->topic, (int)p->partition);
        snprintf(what, sizeof what, "offsets %" PRId64 "..%" PRId64, p->next, start - 1);
        ed_mirror_stop_for_good(m,
                                "%s: %s were deleted locally before they were mirrored; "
                                "mirror.on.full=block never skips them (drop-oldest would "
                                "announce them upstream as a gap and go on)",
                                tp, what);
        return false;
    }
    return true;
}

void ed_mirror_step(ed_mirror *m)
{
    m->blocked = false;
    switch (m->phase) {
    case P_WAIT:
        return;
    case P_STOPPED:
        close_links(m);
        return;
    case P_META:
        send_or_wait(m, ed_klink_up(m->boot) ? m->boot : NULL, ED_KMSG_METADATA,
                     ed_mirror_enc_metadata, m, on_metadata);
        if (!ed_klink_up(m->boot)) m->blocked = true;
        return;
    case P_CREATE:
        send_or_wait(m, ed_klink_up(m->boot) ? m->boot : NULL, ED_KMSG_CREATE_TOPICS, enc_create, m,
                     on_create);
        if (!ed_klink_up(m->boot)) m->blocked = true;
        return;
    case P_CONFIGS:
        if (ed_klink_up(m->boot) && ed_klink_version(m->boot, ED_KMSG_DESCRIBE_CONFIGS) < 0) {
            /* a broker without DescribeConfigs: nothing to check with */
            m->phase = P_COORD;
            ed_mirror_step(m);
            return;
        }
        send_or_wait(m, ed_klink_up(m->boot) ? m->boot : NULL, ED_KMSG_DESCRIBE_CONFIGS,
                     ed_mirror_enc_configs, m, ed_mirror_on_configs);
        if (!ed_klink_up(m->boot)) m->blocked = true;
        return;
    case P_COORD:
        send_or_wait(m, ed_klink_up(m->boot) ? m->boot : NULL, ED_KMSG_FIND_COORDINATOR,
                     enc_find_coord, m, on_find_coord);
        if (!ed_klink_up(m->boot)) m->blocked = true;
        return;
    case P_INIT:
        send_or_wait(m, ed_mirror_link_to(m, m->coord), ED_KMSG_INIT_PRODUCER_ID, enc_init_pid, m,
                     on_init_pid);
        return;
    case P_CKPT:
        send_or_wait(m, ed_mirror_link_to(m, m->ut[m->ck_ut].leader[m->ck_part]), ED_KMSG_FETCH,
                     ed_mirror_enc_ckpt_fetch, m, ed_mirror_on_ckpt_fetch);
        return;
    case P_SCAN:
        ed_mirror_scan_step(m);
        return;
    case P_IDLE:
        idle(m);
        return;
    case P_REFRESH:
    case P_LEADERS:
        send_or_wait(m, ed_mirror_meta_link(m), ED_KMSG_METADATA, ed_mirror_enc_metadata, m,
                     ed_mirror_on_refresh);
        return;
    case P_RECOORD:
        send_or_wait(m, ed_mirror_meta_link(m), ED_KMSG_FIND_COORDINATOR, enc_find_coord, m,
                     on_find_coord);
        return;
    case P_ADD:
        m->txn_t_ns[1] = ed_plat_clock_mono_ns();
        send_or_wait(m, ed_mirror_link_to(m, m->coord), ED_KMSG_ADD_PARTITIONS_TO_TXN,
                     ed_mirror_enc_add_parts, m, ed_mirror_on_add_parts);
        return;
    case P_PRODUCE:
        ed_mirror_txn_pump(m);
        return;
    case P_END:
        m->txn_t_ns[3] = ed_plat_clock_mono_ns();
        send_or_wait(m, ed_mirror_link_to(m, m->coord), ED_KMSG_END_TXN, ed_mirror_enc_end_txn, m,
                     ed_mirror_on_end_txn);
        return;
    }
}

/* ---- retention ---- */

/* A partition of a mirrored topic keeps every segment not yet upstream;
 * one created since the last scan is found here first (nothing of it is
 * upstream yet). */
static bool retention_hook(void *arg, ed_log *log, int64_t last_offset, bool guard)
{
    ED_UNUSED(guard);
    ed_mirror *m = arg;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < m->n_mp; i++) {
            struct mpart *p = &m->mp[i];
            if (ed_mirror_part_log(m, p) != log) continue;
            int64_t upto = p->next >= 0 ? p->next : p->mark;
            return last_offset < upto; /* keep what is not upstream yet */
        }
        if (round == 0 && rescan(m) == 0) break;
    }
    return true;
}

/* ---- service ---- */

static void mirror_shutdown(void *obj)
{
    ed_mirror *m = obj;
    ed_plat_timer_stop(m->b->loop, &m->timer);
    ed_plat_timer_stop(m->b->loop, &m->status_timer);
    if (m->phase != P_STOPPED) m->link_state = "shut down";
    if (m->state_dirty) ed_mirror_save_state(m);
    ed_mirror_write_status(m);
    m->phase = P_STOPPED;
}

static void mirror_free(void *obj)
{
    ed_mirror *m = obj;
    ed_plat_timer_stop(m->b->loop, &m->timer);
    ed_plat_timer_stop(m->b->loop, &m->status_timer);
    ed_storage_set_retention_hook(m->b->storage, NULL, NULL);
    ed_storage_set_drop_hook(m->b->storage, NULL);
    ed_topics_del_append_listener(m->b->topics, on_append, m);
    ed_klink_free(m->boot);
    for (int i = 0; i < m->n_nodes; i++)
        ed_klink_free(m->nodes[i].link);
    for (int i = 0; i < m->n_ut; i++)
        free_ut_parts(&m->ut[i]);
    ed_free(m->ut);
    ed_free(m->mp);
    ed_free(m->gaps);
    ed_free(m->rbuf);
    ed_log_slice_release(&m->rslice);
    ed_free(m->hdrs);
    ed_batch_iter_release(&m->it);
    ed_codec_release(&m->codec);
    ed_free(m->topics_cfg);
    ed_free(m->prio_cfg);
    ed_plat_tls_conf_unref(m->tls);
    memset(m->sasl_password, 0, sizeof m->sasl_password);
    ed_free(m);
}

int ed_mirror_start(ed_broker *b, ed_mirror **out, char *why, size_t why_len)
{
    if (out) *out = NULL;
    if (why_len) why[0] = 0;
    const struct ed_config *cfg = b->cfg;
    const char *servers = cfg->mirror_bootstrap_servers;
    if (!servers[0]) return ED_OK;
    const char *site = cfg->site_id;
    if (!site[0] || strlen(site) >= 128 || strchr(site, '|')) {
        snprintf(why, why_len,
                 "mirror.bootstrap.servers is set: site.id must name this site "
                 "(1..127 characters, no '|')");
        return ED_ERR_INVAL;
    }
    ed_mirror *m = ed_calloc(1, sizeof *m);
    if (!m) return ED_ERR_NOMEM;
    m->b = b;
    m->cfg = cfg;
    snprintf(m->site, sizeof m->site, "%s", site);
    snprintf(m->txn_id, sizeof m->txn_id, "eddy-mirror-%s-upstream", site);
    snprintf(m->template_, sizeof m->template_, "%s", cfg->mirror_topic_template);
    snprintf(m->ck_topic, sizeof m->ck_topic, "%s", cfg->mirror_checkpoint_topic);
    m->topics_cfg = ed_strdup(cfg->mirror_topics);
    m->prio_cfg = ed_strdup(cfg->mirror_priority);
    m->create_topics = cfg->mirror_create_topics;
    m->txn_max_len = cfg->mirror_transaction_max_bytes;
    m->txn_max_ms = cfg->mirror_transaction_max_ms;
    m->linger_ms = cfg->mirror_linger_ms;
    m->batch_len = cfg->mirror_batch_bytes;
    m->request_ms = cfg->mirror_request_timeout_ms;
    m->meta_age_ms = cfg->mirror_metadata_max_age_ms;
    m->compression = ED_COMPRESSION_NONE;
    m->rate = m->tokens = cfg->mirror_rate_bytes_per_sec;
    m->round_ms = m->txn_max_ms; /* unknown: one round until measured */
    m->tokens_ms = ed_plat_loop_now_ms(b->loop);
    const char *dir = cfg->log_dirs;
    snprintf(m->state_path, sizeof m->state_path, "%s/%s", dir, ED_MIRROR_STATE_FILE);
    snprintf(m->status_path, sizeof m->status_path, "%s/%s", dir, ED_MIRROR_STATUS_FILE);
    snprintf(m->gaps_path, sizeof m->gaps_path, "%s/%s", dir, ED_MIRROR_GAPS_FILE);
    m->drop_oldest = strcmp(cfg->mirror_on_full, "drop-oldest") == 0;
    m->scan_fallback = strcmp(cfg->mirror_resume_fallback, "scan") == 0;
    m->link_state = "connecting";
    m->coord = -1;
    m->pid = -1;
    m->epoch = -1;
    ed_batch_iter_init(&m->it, 64u << 20);
    m->codec.zstd_table_log = ZSTD_TABLE_LOG;
    m->crash_at = getenv("EDDY_MIRROR_CRASH_AT");
    if (m->crash_at) {
        const char *c = strchr(m->crash_at, ':');
        m->crash_n = c ? strtol(c + 1, NULL, 10) : 1;
    }
    int rc = ED_ERR_NOMEM;
    if (!m->topics_cfg || !m->prio_cfg) goto fail;
    rc = ed_mirror_priority_check(m->prio_cfg, why, why_len);
    if (rc) goto fail;
    rc = ed_mirror_link_security(m, cfg, why, why_len);
    if (rc) goto fail;
    if (!ed_config_parse_compression(cfg->mirror_compression_type, &m->compression) ||
        !ed_codec_supported(m->compression, true)) {
        snprintf(why, why_len, "mirror.compression.type: '%s' is not built into this Eddy",
                 cfg->mirror_compression_type);
        rc = ED_ERR_UNSUPPORTED;
        goto fail;
    }
    if (m->drop_oldest && strcmp(cfg->log_dir_full_policy, "delete-oldest") != 0) {
        snprintf(why, why_len,
                 "mirror.on.full=drop-oldest deletes acknowledged data: it needs "
                 "log.dir.full.policy=delete-oldest (now '%s')",
                 cfg->log_dir_full_policy);
        rc = ED_ERR_INVAL;
        goto fail;
    }
    if (!ed_topics_valid_name(m->ck_topic)) {
        snprintf(why, why_len, "mirror.checkpoint.topic: '%s' is not a valid topic name",
                 m->ck_topic);
        rc = ED_ERR_INVAL;
        goto fail;
    }
    rc = ED_ERR_NOMEM;
    m->ck_ut = add_ut(m, m->ck_topic, 1);
    if (m->ck_ut < 0) goto fail;
    rescan(m);
    ed_mirror_load_state(m);
    ed_mirror_gap_load(m);
    m->next_rescan_ms = ed_plat_loop_now_ms(b->loop) + RESCAN_MS;
    rc = ed_mirror_bootstrap_link(m, servers, why, why_len);
    if (rc) goto fail;
    struct ed_broker_service svc = {"mirror", m, mirror_shutdown, mirror_free,
                                    ed_mirror_link_reload};
    rc = ed_topics_add_append_listener(b->topics, on_append, m);
    if (rc) goto fail;
    ed_storage_set_retention_hook(b->storage, retention_hook, m);
    if (m->drop_oldest) ed_storage_set_drop_hook(b->storage, ed_mirror_gap_drop);
    ed_plat_timer_start(b->loop, &m->status_timer, 0, ed_mirror_on_status, m);
    rc = ed_broker_add_service(b, &svc); /* on error the broker frees it */
    if (rc) {
        snprintf(why, why_len, "cannot register the mirror: %s", ed_strerror(rc));
        return rc;
    }
    ED_LOG_INFO("mirror: %d partition%s of '%s' to %s as site %s", m->n_mp, m->n_mp == 1 ? "" : "s",
                m->topics_cfg, servers, m->site);
    if (out) *out = m;
    return ED_OK;
fail:
    if (!why[0] || rc == ED_ERR_NOMEM) snprintf(why, why_len, "mirror: %s", ed_strerror(rc));
    mirror_free(m);
    return rc;
}
