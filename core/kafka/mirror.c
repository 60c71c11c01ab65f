/* The upstream mirror link: one transactional producer per site that
 * copies local partitions to an Apache Kafka cluster exactly once.
 *
 * Start and every reconnect: Metadata (creating missing upstream topics
 * and the compacted checkpoint topic) → FindCoordinator(transaction) →
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
#include "core/config.h"
#include "core/partitioner.h"
#include "core/topics.h"

#define MAX_NODES           32
#define MAX_ABORTING        32
#define STATUS_MS           1000
#define RESCAN_MS           5000
#define FLUSH_POLL_MS       20 /* idle, records appended but not on flash yet */
#define RETRY_MS            200
#define CONCURRENT_RETRY_MS 5
#define FENCE_GRACE_MS      5000
#define STATE_MAGIC         0x4544524du /* "EDRM" */
#define STATE_VERSION       1

/* Kafka error codes the mirror acts on. */
enum {
    K_OFFSET_OUT_OF_RANGE = 1,
    K_UNKNOWN_TOPIC = 3,
    K_LEADER_NOT_AVAILABLE = 5,
    K_NOT_LEADER = 6,
    K_COORD_LOADING = 14,
    K_COORD_NOT_AVAILABLE = 15,
    K_NOT_COORD = 16,
    K_TOPIC_EXISTS = 36,
    K_INVALID_PRODUCER_EPOCH = 47,
    K_CONCURRENT_TXNS = 51,
    K_PRODUCER_FENCED = 90,
};

enum phase {
    P_WAIT,    /* for the bootstrap connection */
    P_META,    /* Metadata */
    P_CREATE,  /* CreateTopics */
    P_COORD,   /* FindCoordinator */
    P_INIT,    /* InitProducerId */
    P_CKPT,    /* reading the checkpoints */
    P_IDLE,    /* between transactions */
    P_ADD,     /* AddPartitionsToTxn */
    P_PRODUCE, /* Produce requests out */
    P_END,     /* EndTxn */
    P_STOPPED  /* fenced or refused: needs the operator */
};
static const char *const phase_names[] = {"connecting", "connecting", "connecting", "connecting",
                                          "connecting", "connecting", "mirroring",  "mirroring",
                                          "mirroring",  "mirroring",  "stopped"};

struct node {
    int32_t id;
    char host[256];
    uint16_t port;
    ed_klink *link;
};

/* An upstream topic and, per partition, its leader, the producer's next
 * sequence and the batch being built for the current transaction. */
struct utopic {
    char name[ED_TOPIC_NAME_MAX + 1];
    int32_t n_src;   /* partitions of the source (for creation) */
    int32_t n_parts; /* upstream; 0 = unknown or missing */
    int32_t *leader;
    int32_t *seq;
    int32_t *n_added; /* records in this transaction's batch */
    ed_batch_builder **bld;
    uint8_t **batch; /* finished batch of this transaction */
    size_t *batch_len;
};

/* A mirrored source partition. */
struct mpart {
    char topic[ED_TOPIC_NAME_MAX + 1];
    int32_t partition;
    int ut;            /* its upstream topic */
    int64_t next;      /* next source offset to copy (from the checkpoint) */
    int64_t txn_next;  /* next once the open transaction commits */
    int64_t mark;      /* durable local mark: offsets below are upstream */
    int64_t ckpt;      /* value found in the checkpoint topic, -1 none */
    int64_t lag;       /* records not yet upstream */
    uint64_t n_copied; /* records copied since start */
    uint64_t idle_len; /* its log's size when the mirror last went idle */
};

struct ed_mirror {
    ed_broker *b;
    const struct ed_config *cfg;
    char site[128];
    char txn_id[300];
    char template_[256];
    char ck_topic[ED_TOPIC_NAME_MAX + 1];
    char *topics_cfg; /* copy of mirror.topics */
    char state_path[1024], status_path[1024];
    bool create_topics;
    int64_t txn_max_len, txn_max_ms, linger_ms, batch_len, request_ms;
    int compression; /* enum ed_compression of the batches sent upstream */
    int64_t rate;    /* mirror.rate.bytes.per.sec, 0 = unlimited */
    int64_t tokens;  /* bytes the uplink may still send now (below 0: owed) */
    uint64_t tokens_ms;

    ed_klink *boot;
    char boot_host[256];
    uint16_t boot_port;
    struct node nodes[MAX_NODES];
    int n_nodes;
    int32_t coord; /* node id of the transaction coordinator */

    struct utopic *ut;
    int n_ut;
    int ck_ut; /* index of the checkpoint topic */
    int32_t ck_part;
    struct mpart *mp;
    int n_mp;
    bool have_state; /* the local state file existed: this site has mirrored before */
    bool new_parts;  /* partitions found since the checkpoints were read */
    bool fence_retried;
    uint64_t init_ms; /* when InitProducerId last succeeded */

    enum phase phase;
    bool blocked;  /* the phase's request waits for a connection */
    bool sleeping; /* idle, nothing appended: an append wakes it */
    bool woken;    /* an append armed the timer */
    ed_timer timer;
    ed_timer status_timer;
    uint64_t next_rescan_ms;
    int64_t pid;
    int16_t epoch;
    int64_t ck_pos, ck_lso;
    int n_produce_out;
    int rr; /* round-robin start among partitions */
    int64_t txn_len;
    uint64_t n_txns;
    char last_error[512];
    const char *link_state;

    uint8_t *rbuf; /* local batches being copied */
    size_t rbuf_cap;
    struct ed_record_header *hdrs;
    size_t hdrs_cap;
    struct ed_batch_iter it;

    const char *crash_at; /* EDDY_MIRROR_CRASH_AT: point[:n] */
    long crash_n;
};

static void step(ed_mirror *m);
static void write_status(ed_mirror *m);

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
static void crash_point(ed_mirror *m, const char *point)
{
    if (!m->crash_at) return;
    size_t n = strcspn(m->crash_at, ":");
    if (strlen(point) != n || strncmp(point, m->crash_at, n) != 0) return;
    if (--m->crash_n > 0) return;
    ED_LOG_WARN("crash point %s reached (EDDY_MIRROR_CRASH_AT)", point);
    _Exit(137);
}

static struct ed_log *part_log(ed_mirror *m, const struct mpart *p)
{
    ed_topic *t = ed_topics_find(m->b->topics, p->topic);
    ed_partition *pp = t ? ed_topic_partition(t, p->partition) : NULL;
    return pp ? pp->log : NULL;
}

/* mirror.state: magic, version, count, body CRC32C, header CRC32C (big
 * endian, docs/format.md), then per partition: topic length (u16), topic,
 * partition (i32), mark (i64). Written to a temporary file, synced,
 * renamed over the old one, the folder synced. */
static int save_state(ed_mirror *m)
{
    size_t len = 18;
    for (int i = 0; i < m->n_mp; i++)
        len += 2 + strlen(m->mp[i].topic) + 12;
    uint8_t *buf = ed_malloc(len);
    if (!buf) return ED_ERR_NOMEM;
    size_t o = 18;
    for (int i = 0; i < m->n_mp; i++) {
        size_t tl = strlen(m->mp[i].topic);
        ed_put_be16(buf + o, (uint16_t)tl);
        memcpy(buf + o + 2, m->mp[i].topic, tl);
        o += 2 + tl;
        ed_put_be32(buf + o, (uint32_t)m->mp[i].partition);
        ed_put_be64(buf + o + 4, (uint64_t)m->mp[i].mark);
        o += 12;
    }
    ed_put_be32(buf, STATE_MAGIC);
    ed_put_be16(buf + 4, STATE_VERSION);
    ed_put_be32(buf + 6, (uint32_t)m->n_mp);
    ed_put_be32(buf + 10, ed_crc32c(0, buf + 18, len - 18));
    ed_put_be32(buf + 14, ed_crc32c(0, buf, 14));
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", m->state_path);
    ed_file *f = NULL;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc == ED_OK) rc = ed_plat_file_pwrite(f, buf, len, 0);
    if (rc == ED_OK) rc = ed_plat_file_datasync(f);
    if (f) ed_plat_file_close(f);
    if (rc == ED_OK) rc = ed_plat_path_rename(tmp, m->state_path);
    if (rc == ED_OK) rc = ed_plat_dir_sync(m->cfg->log_dirs);
    ed_free(buf);
    if (rc) ED_LOG_WARN_RL("cannot write %s: %s", m->state_path, ed_strerror(rc));
    return rc;
}

/* Reads the marks of the partitions known now; a file that fails its
 * checks is reported and ignored (it is a hint), but still says that this
 * site has mirrored before. */
static void load_state(ed_mirror *m)
{
    bool is_dir = false;
    uint64_t size = 0;
    if (ed_plat_path_stat(m->state_path, &is_dir, &size) != ED_OK || is_dir) return;
    m->have_state = true;
    if (size < 18 || size > (64u << 20)) goto bad;
    uint8_t *buf = ed_malloc((size_t)size);
    if (!buf) return;
    ed_file *f = NULL;
    size_t got = 0;
    int rc = ed_plat_file_open(m->state_path, ED_FILE_READ, &f);
    if (rc == ED_OK) rc = ed_plat_file_pread(f, buf, (size_t)size, 0, &got);
    if (f) ed_plat_file_close(f);
    bool ok = rc == ED_OK && got == size && ed_get_be32(buf) == STATE_MAGIC &&
              ed_get_be16(buf + 4) == STATE_VERSION &&
              ed_get_be32(buf + 14) == ed_crc32c(0, buf, 14) &&
              ed_get_be32(buf + 10) == ed_crc32c(0, buf + 18, (size_t)size - 18);
    uint32_t n = ok ? ed_get_be32(buf + 6) : 0;
    size_t o = 18;
    for (uint32_t i = 0; ok && i < n; i++) {
        if (o + 2 > size) break;
        size_t tl = ed_get_be16(buf + o);
        if (o + 2 + tl + 12 > size || tl > ED_TOPIC_NAME_MAX) break;
        char topic[ED_TOPIC_NAME_MAX + 1];
        memcpy(topic, buf + o + 2, tl);
        topic[tl] = 0;
        o += 2 + tl;
        int32_t part = (int32_t)ed_get_be32(buf + o);
        int64_t mark = (int64_t)ed_get_be64(buf + o + 4);
        o += 12;
        for (int k = 0; k < m->n_mp; k++)
            if (m->mp[k].partition == part && strcmp(m->mp[k].topic, topic) == 0)
                m->mp[k].mark = mark;
    }
    ed_free(buf);
    if (ok) return;
bad:
    ED_LOG_WARN("%s fails its checks: ignored (the upstream checkpoints decide)", m->state_path);
}

/* ---- the partitions to mirror ---- */

static int find_ut(ed_mirror *m, const char *name)
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
    u->leader = u->seq = u->n_added = NULL;
    u->bld = NULL;
    u->batch = NULL;
    u->batch_len = NULL;
    u->n_parts = 0;
}

static int add_ut(ed_mirror *m, const char *name, int32_t n_src)
{
    int i = find_ut(m, name);
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
        x->next = x->txn_next = x->ckpt = -1;
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

/* ---- connections ---- */

static void on_up(void *arg)
{
    ed_mirror *m = arg;
    if (m->phase == P_STOPPED) return;
    if (m->phase == P_WAIT) {
        m->phase = P_META;
        step(m);
    } else {
        if (m->phase >= P_IDLE) m->link_state = "up";
        if (m->blocked) step(m);
    }
}

static void restart(ed_mirror *m, const char *why);

static void on_down(void *arg, const char *why)
{
    ed_mirror *m = arg;
    if (m->phase == P_WAIT || m->phase == P_STOPPED) return;
    if (m->phase == P_IDLE) {
        /* nothing outstanding: only a link we were not using */
        m->link_state = "reconnecting";
        return;
    }
    restart(m, why);
}

static const struct ed_klink_cbs link_cbs = {on_up, on_down};

static struct ed_klink_opts link_opts(const ed_mirror *m)
{
    struct ed_klink_opts o;
    memset(&o, 0, sizeof o);
    o.client_id = "eddy-mirror";
    o.request_timeout_ms = (uint32_t)m->request_ms;
    o.backoff_ms = 200;
    o.backoff_max_ms = 10000;
    o.max_in_flight = 5;
    return o;
}

static struct node *node_by_id(ed_mirror *m, int32_t id)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].id == id) return &m->nodes[i];
    return NULL;
}

static void note_node(ed_mirror *m, int32_t id, ed_kstr host, int32_t port)
{
    char h[256];
    if (!ed_kstr_copy(host, h, sizeof h) || port <= 0 || port > 65535) return;
    struct node *n = node_by_id(m, id);
    if (n && strcmp(n->host, h) == 0 && n->port == port) return;
    if (!n) {
        if (m->n_nodes == MAX_NODES) return;
        n = &m->nodes[m->n_nodes++];
    }
    ed_klink_free(n->link);
    n->link = NULL;
    n->id = id;
    snprintf(n->host, sizeof n->host, "%s", h);
    n->port = (uint16_t)port;
    struct ed_klink_opts o = link_opts(m);
    if (ed_klink_new(m->b->loop, n->host, n->port, &o, &link_cbs, m, &n->link) != ED_OK)
        n->link = NULL;
}

/* The link to node id if it is up; otherwise the phase waits for it. */
static ed_klink *link_to(ed_mirror *m, int32_t id)
{
    struct node *n = node_by_id(m, id);
    if (n && n->link && ed_klink_up(n->link)) return n->link;
    m->blocked = true;
    return NULL;
}

static void restart(ed_mirror *m, const char *why)
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
    write_status(m);
}

static void on_timer(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    step(arg);
}

static void stop_for_good(ed_mirror *m, const char *fmt, const char *a, const char *b)
{
    set_error(m, fmt, a, b);
    ED_LOG_ERR("mirror stopped: %s", m->last_error);
    m->phase = P_STOPPED;
    m->link_state = "stopped";
    write_status(m);
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

static void later(ed_mirror *m, uint32_t ms)
{
    ed_plat_timer_start(m->b->loop, &m->timer, ms, on_timer, m);
}

/* A Kafka error in phase what: retriable ones retry the step, fencing
 * stops, anything else starts over. */
static void kafka_error(ed_mirror *m, const char *what, int16_t err)
{
    char why[256];
    snprintf(why, sizeof why, "%s failed: %s", what, ed_kc_errname(err));
    if (err == K_PRODUCER_FENCED || err == K_INVALID_PRODUCER_EPOCH) {
        /* An InitProducerId that a crashed incarnation sent just before it
         * died can reach the coordinator after ours and fence us once,
         * right after we took the link: take it back, once. A second
         * gateway with the same site.id fences again and stops us. */
        uint64_t now = ed_plat_loop_now_ms(m->b->loop);
        if (!m->fence_retried && now - m->init_ms < FENCE_GRACE_MS) {
            m->fence_retried = true;
            ED_LOG_WARN("fenced %llu ms after taking the link (%s): an earlier incarnation's "
                        "request still in flight? taking it back once",
                        (unsigned long long)(now - m->init_ms), ed_kc_errname(err));
            restart(m, "fenced right after start");
            return;
        }
        stop_for_good(m,
                      "fenced: another instance with transactional.id %s took over the link "
                      "(%s); two gateways share site.id?",
                      m->txn_id, ed_kc_errname(err));
        return;
    }
    if (err == K_NOT_COORD || err == K_COORD_NOT_AVAILABLE) {
        set_error(m, "%s%s", why, "");
        m->phase = P_COORD;
        later(m, RETRY_MS);
        return;
    }
    if (err == K_CONCURRENT_TXNS || err == K_COORD_LOADING || err == K_LEADER_NOT_AVAILABLE) {
        /* the same step again; the previous transaction's markers are
         * usually written within milliseconds */
        later(m, err == K_CONCURRENT_TXNS ? CONCURRENT_RETRY_MS : RETRY_MS / 4);
        return;
    }
    restart(m, why);
}

/* ---- requests ---- */

static void enc_metadata(ed_kwr *w, int16_t ver, const void *arg)
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

static void enc_ckpt_fetch(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    ED_KC_ENC_BEGIN(fetch_request, r);
    r.max_wait_ms = 0;
    r.min_bytes = 0;
    r.max_bytes = 8 << 20;
    r.isolation_level = 1; /* read_committed: up to the last stable offset */
    r.n_topics = 1;
    r.topics = ED_KC_STRUCTS(1, fetch_request_fetch_topic);
    if (r.topics) {
        r.topics[0].topic = ed_kc_str(m->ut[m->ck_ut].name);
        r.topics[0].n_partitions = 1;
        r.topics[0].partitions = ED_KC_STRUCTS(1, fetch_request_fetch_partition);
        if (r.topics[0].partitions) {
            r.topics[0].partitions[0].partition = m->ck_part;
            r.topics[0].partitions[0].fetch_offset = m->ck_pos;
            r.topics[0].partitions[0].partition_max_bytes = 8 << 20;
        }
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_FETCH, ver, &r);
}

static void enc_add_parts(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    ED_KC_ENC_BEGIN(add_partitions_to_txn_request, r);
    r.v3_and_below_transactional_id = ed_kc_str(m->txn_id);
    r.v3_and_below_producer_id = m->pid;
    r.v3_and_below_producer_epoch = m->epoch;
    int nt = 0;
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++)
            if (m->ut[i].batch[p]) {
                nt++;
                break;
            }
    r.n_v3_and_below_topics = nt;
    r.v3_and_below_topics =
        ED_KC_STRUCTS(nt, add_partitions_to_txn_request_add_partitions_to_txn_topic);
    for (int i = 0, t = 0; r.v3_and_below_topics && i < m->n_ut; i++) {
        const struct utopic *u = &m->ut[i];
        int32_t np = 0;
        for (int32_t p = 0; p < u->n_parts; p++)
            np += u->batch[p] != NULL;
        if (!np) continue;
        r.v3_and_below_topics[t].name = ed_kc_str(u->name);
        r.v3_and_below_topics[t].n_partitions = np;
        int32_t *ids = ed_karena_alloc(&a, sizeof *ids * (size_t)np);
        if (!ids) w->err = ED_ERR_NOMEM;
        for (int32_t p = 0, k = 0; ids && p < u->n_parts; p++)
            if (u->batch[p]) ids[k++] = p;
        r.v3_and_below_topics[t].partitions = ids;
        t++;
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_ADD_PARTITIONS_TO_TXN, ver, &r);
}

struct produce_arg {
    const ed_mirror *m;
    int32_t leader;
};

static void enc_produce(ed_kwr *w, int16_t ver, const void *arg)
{
    const struct produce_arg *pa = arg;
    const ed_mirror *m = pa->m;
    ED_KC_ENC_BEGIN(produce_request, r);
    r.transactional_id = ed_kc_str(m->txn_id);
    r.acks = -1;
    r.timeout_ms = (int32_t)m->request_ms;
    int nt = 0;
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++)
            if (m->ut[i].batch[p] && m->ut[i].leader[p] == pa->leader) {
                nt++;
                break;
            }
    r.n_topic_data = nt;
    r.topic_data = ED_KC_STRUCTS(nt, produce_request_topic_produce_data);
    for (int i = 0, t = 0; r.topic_data && i < m->n_ut; i++) {
        const struct utopic *u = &m->ut[i];
        int32_t np = 0;
        for (int32_t p = 0; p < u->n_parts; p++)
            np += u->batch[p] && u->leader[p] == pa->leader;
        if (!np) continue;
        struct ed_kmsg_produce_request_topic_produce_data *d = &r.topic_data[t++];
        d->name = ed_kc_str(u->name);
        d->n_partition_data = np;
        d->partition_data = ED_KC_STRUCTS(np, produce_request_partition_produce_data);
        for (int32_t p = 0, k = 0; d->partition_data && p < u->n_parts; p++)
            if (u->batch[p] && u->leader[p] == pa->leader) {
                d->partition_data[k].index = p;
                d->partition_data[k].records = (ed_kbytes){u->batch[p], (int32_t)u->batch_len[p]};
                k++;
            }
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_PRODUCE, ver, &r);
}

static void enc_end_txn(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    ED_KC_ENC_BEGIN(end_txn_request, r);
    r.transactional_id = ed_kc_str(m->txn_id);
    r.producer_id = m->pid;
    r.producer_epoch = m->epoch;
    r.committed = true;
    ed_kc_enc_finish(&a, w, ED_KMSG_END_TXN, ver, &r);
}

/* ---- responses ---- */

static bool decode(ed_mirror *m, ed_krd *r, int16_t key, int16_t ver, struct ed_kc_mem *mem,
                   void *msg, const char *what)
{
    memset(mem, 0, sizeof *mem);
    if (ed_kc_decode(r, key, ver, mem, msg) == ED_OK) return true;
    ed_kc_free(mem);
    char why[128];
    snprintf(why, sizeof why, "malformed %s response", what);
    restart(m, why);
    return false;
}

static void on_metadata(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ED_UNUSED(key);
    ed_mirror *m = arg;
    if (m->phase != P_META) return;
    struct ed_kc_metadata md;
    memset(&md, 0, sizeof md);
    if (ed_kc_dec_metadata(r, ver, &md) != ED_OK) {
        ed_kc_free(&md.mem);
        restart(m, "malformed Metadata response");
        return;
    }
    for (int32_t i = 0; i < md.n_brokers; i++)
        note_node(m, md.brokers[i].node_id, md.brokers[i].host, md.brokers[i].port);
    bool missing = false, wait = false;
    const char *missing_name = NULL;
    for (int32_t i = 0; i < md.n_topics; i++) {
        const struct ed_kc_topic_md *t = &md.topics[i];
        char name[ED_TOPIC_NAME_MAX + 1];
        if (!ed_kstr_copy(t->name, name, sizeof name)) continue;
        int ui = find_ut(m, name);
        if (ui < 0) continue;
        struct utopic *u = &m->ut[ui];
        if (t->error == K_UNKNOWN_TOPIC) {
            free_ut_parts(u);
            missing = true;
            if (!missing_name || ui == m->ck_ut) missing_name = u->name;
            if (ui == m->ck_ut && m->have_state) {
                ed_kc_free(&md.mem);
                stop_for_good(m,
                              "the checkpoint topic %s is missing upstream although this site "
                              "has mirrored before (%s): refusing to mirror rather than start "
                              "again from the beginning",
                              m->ck_topic, m->state_path);
                return;
            }
            continue;
        }
        int32_t n = 0;
        for (int32_t k = 0; k < t->n_partitions; k++)
            if (t->partitions[k].index >= n) n = t->partitions[k].index + 1;
        if (t->error || n == 0) {
            wait = true;
            continue;
        }
        if (n != u->n_parts) {
            free_ut_parts(u);
            u->leader = ed_calloc((size_t)n, sizeof *u->leader);
            u->seq = ed_calloc((size_t)n, sizeof *u->seq);
            u->n_added = ed_calloc((size_t)n, sizeof *u->n_added);
            u->bld = ed_calloc((size_t)n, sizeof *u->bld);
            u->batch = ed_calloc((size_t)n, sizeof *u->batch);
            u->batch_len = ed_calloc((size_t)n, sizeof *u->batch_len);
            if (!u->leader || !u->seq || !u->n_added || !u->bld || !u->batch || !u->batch_len) {
                free_ut_parts(u);
                wait = true;
                continue;
            }
            u->n_parts = n;
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
        step(m);
        return;
    }
    if (missing || wait) {
        if (missing)
            set_error(m, "upstream topic %s is missing (mirror.create.topics=false)%s",
                      missing_name ? missing_name : "?", "");
        later(m, missing ? 5000 : 500);
        return;
    }
    m->ck_part = 0; /* Eddy creates the checkpoint topic with one partition */
    if (m->ut[m->ck_ut].n_parts > 1)
        m->ck_part =
            ed_partitioner_pick((const uint8_t *)m->site, strlen(m->site), m->ut[m->ck_ut].n_parts);
    m->phase = P_COORD;
    step(m);
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
        restart(m, "malformed CreateTopics response");
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
    later(m, 500); /* let the new topics reach the metadata */
}

static void on_find_coord(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_COORD) return;
    struct ed_kmsg_find_coordinator_response c;
    struct ed_kc_mem mem;
    if (!decode(m, r, key, ver, &mem, &c, "FindCoordinator")) return;
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
    if (err == 0) note_node(m, id, host, port);
    ed_kc_free(&mem);
    if (err) {
        if (err == K_COORD_NOT_AVAILABLE || err == K_COORD_LOADING || err == K_NOT_COORD) {
            later(m, RETRY_MS);
            return;
        }
        kafka_error(m, "FindCoordinator", err);
        return;
    }
    m->coord = id;
    m->phase = P_INIT;
    step(m);
}

static void on_init_pid(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_INIT) return;
    struct ed_kmsg_init_producer_id_response ip;
    struct ed_kc_mem mem;
    if (!decode(m, r, key, ver, &mem, &ip, "InitProducerId")) return;
    ed_kc_free(&mem);
    if (ip.error_code) {
        kafka_error(m, "InitProducerId", ip.error_code);
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
    step(m);
}

/* One checkpoint record: key site|topic|partition, value the next offset. */
static void take_ckpt(ed_mirror *m, const struct ed_record *rec)
{
    size_t sl = strlen(m->site);
    if (rec->key_len <= (int32_t)sl + 2 || memcmp(rec->key, m->site, sl) != 0 ||
        rec->key[sl] != '|')
        return;
    const char *k = (const char *)rec->key + sl + 1;
    size_t kl = (size_t)rec->key_len - sl - 1;
    const char *bar = NULL;
    for (size_t i = kl; i > 0; i--)
        if (k[i - 1] == '|') {
            bar = k + i - 1;
            break;
        }
    if (!bar) return;
    char num[24];
    size_t nl = kl - (size_t)(bar + 1 - k);
    if (nl == 0 || nl >= sizeof num) return;
    memcpy(num, bar + 1, nl);
    num[nl] = 0;
    int32_t part = (int32_t)strtol(num, NULL, 10);
    size_t tl = (size_t)(bar - k);
    int64_t next = -1;
    if (rec->value_len > 0 && rec->value_len < 24) {
        char v[24];
        memcpy(v, rec->value, (size_t)rec->value_len);
        v[rec->value_len] = 0;
        next = strtoll(v, NULL, 10);
    }
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        if (p->partition == part && strlen(p->topic) == tl && memcmp(p->topic, k, tl) == 0)
            p->ckpt = next;
    }
}

static void ckpt_done(ed_mirror *m);

static void on_ckpt_fetch(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_CKPT) return;
    struct ed_kmsg_fetch_response f;
    struct ed_kc_mem mem;
    if (!decode(m, r, key, ver, &mem, &f, "Fetch")) return;
    const struct ed_kmsg_fetch_response_partition_data *pd = NULL;
    if (f.n_responses > 0 && f.responses[0].n_partitions > 0) pd = &f.responses[0].partitions[0];
    int16_t err = f.error_code ? f.error_code : (pd ? pd->error_code : K_UNKNOWN_TOPIC);
    if (err) {
        ed_kc_free(&mem);
        if (err == K_NOT_LEADER || err == K_UNKNOWN_TOPIC || err == K_LEADER_NOT_AVAILABLE) {
            m->phase = P_META; /* refresh the leaders */
            later(m, RETRY_MS);
            return;
        }
        if (err == K_OFFSET_OUT_OF_RANGE) {
            stop_for_good(m, "the checkpoint topic %s cannot be read from offset 0 (%s)",
                          m->ck_topic, "OFFSET_OUT_OF_RANGE");
            return;
        }
        kafka_error(m, "reading the checkpoints", err);
        return;
    }
    m->ck_lso = pd->last_stable_offset >= 0 ? pd->last_stable_offset : pd->high_watermark;
    /* read_committed returns aborted transactions' records too, with the
     * list of aborted transactions (producer id, first offset): as Kafka's
     * consumer does, every entry whose first offset is at or below a
     * batch's last offset marks its producer as aborting until its abort
     * marker; that producer's batches meanwhile are skipped */
    int64_t aborting[MAX_ABORTING];
    int n_aborting = 0;
    int32_t n_ab = pd->n_aborted_transactions > 0 ? pd->n_aborted_transactions : 0;
    uint8_t *used = n_ab ? ed_calloc((size_t)n_ab, 1) : NULL;
    if (n_ab && !used) {
        ed_kc_free(&mem);
        restart(m, "out of memory reading the checkpoints");
        return;
    }
    const uint8_t *p = pd->records.p;
    size_t left = pd->records.len > 0 ? (size_t)pd->records.len : 0;
    int64_t pos = m->ck_pos;
    while (left >= ED_BATCH_HEADER_LEN) {
        struct ed_batch_info bi;
        if (ed_batch_parse_header(p, left, &bi) != ED_OK || ed_batch_total_len(&bi) > left) break;
        size_t blen = ed_batch_total_len(&bi);
        int64_t last = bi.base_offset + bi.last_offset_delta;
        bool skip = false;
        for (int32_t i = 0; i < n_ab; i++) {
            if (used[i] || pd->aborted_transactions[i].first_offset > last) continue;
            used[i] = 1;
            bool known = false;
            for (int k = 0; k < n_aborting; k++)
                known |= aborting[k] == pd->aborted_transactions[i].producer_id;
            if (!known && n_aborting < MAX_ABORTING)
                aborting[n_aborting++] = pd->aborted_transactions[i].producer_id;
        }
        int slot = -1;
        for (int i = 0; i < n_aborting; i++)
            if (aborting[i] == bi.producer_id) slot = i;
        if (ed_batch_is_control(&bi)) {
            if (slot >= 0) aborting[slot] = aborting[--n_aborting];
            skip = true;
        } else if (slot >= 0) {
            skip = true; /* a record of an aborted transaction */
        }
        if (!skip) {
            if (ed_batch_iter_begin(&m->it, p, blen) == ED_OK) {
                struct ed_record rec;
                while (ed_batch_iter_next(&m->it, &rec) == 1)
                    if (rec.offset >= m->ck_pos) take_ckpt(m, &rec);
            }
        }
        if (last + 1 > pos) pos = last + 1;
        p += blen;
        left -= blen;
    }
    ed_free(used);
    ed_kc_free(&mem);
    bool progress = pos > m->ck_pos;
    m->ck_pos = pos;
    if (m->ck_pos >= m->ck_lso) {
        ckpt_done(m);
        return;
    }
    later(m, progress ? 0 : RETRY_MS);
}

/* The checkpoints are read: every partition's resume point is known. */
static void ckpt_done(ed_mirror *m)
{
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        ed_log *log = part_log(m, p);
        int64_t start = log ? ed_log_start_offset(log) : 0;
        int64_t end = log ? ed_log_end_offset(log) : 0;
        char tp[300];
        snprintf(tp, sizeof tp, "%s-%d", p->topic, (int)p->partition);
        if (p->ckpt < 0 && p->mark > 0) {
            stop_for_good(m,
                          "no checkpoint upstream for %s although the local mark says it was "
                          "mirrored (checkpoint topic %s deleted or emptied?): refusing to "
                          "mirror rather than start again from the beginning",
                          tp, m->ck_topic);
            return;
        }
        if (p->ckpt > end) {
            stop_for_good(m,
                          "the upstream checkpoint of %s is beyond the local log (%s): another "
                          "gateway with the same site.id?",
                          tp, "checkpoint > log end offset");
            return;
        }
        p->next = p->ckpt >= 0 ? p->ckpt : start;
        if (p->next < start) {
            ED_LOG_WARN("%s: offsets %" PRId64 "..%" PRId64 " were deleted locally before "
                        "they were mirrored",
                        tp, p->next, start - 1);
            p->next = start;
        }
        p->txn_next = p->next;
    }
    ED_LOG_INFO("mirroring %d partition%s to %s as %s (checkpoints read up to offset %" PRId64 ")",
                m->n_mp, m->n_mp == 1 ? "" : "s", ed_klink_name(m->boot), m->txn_id, m->ck_pos);
    m->last_error[0] = 0;
    m->link_state = "up";
    m->new_parts = false; /* every partition known now has its resume point */
    m->phase = P_IDLE;
    save_state(m);
    write_status(m);
    later(m, 0);
}

/* ---- one transaction ---- */

static void reset_batches(ed_mirror *m)
{
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++) {
            m->ut[i].batch[p] = NULL;
            m->ut[i].n_added[p] = 0;
        }
    m->txn_len = 0;
}

/* Adds a record to upstream partition p of u: ED_ERR_TOOBIG when its batch
 * is full. */
static int add_record(ed_mirror *m, struct utopic *u, int32_t p, const struct ed_record *rec,
                      const struct ed_record_header *h, size_t n_h)
{
    if (!u->bld[p]) {
        int rc = ed_batch_builder_new((size_t)m->batch_len, &u->bld[p]);
        if (rc) return rc;
    }
    if (!u->n_added[p]) {
        int rc = ed_batch_builder_begin(u->bld[p], m->compression, rec->timestamp, m->pid, m->epoch,
                                        u->seq[p]);
        if (rc) return rc;
    }
    int rc =
        ed_batch_builder_add(u->bld[p], rec->key, rec->key ? (size_t)rec->key_len : 0, rec->value,
                             rec->value ? (size_t)rec->value_len : 0, h, n_h, rec->timestamp);
    if (rc == ED_OK) u->n_added[p]++;
    return rc;
}

static int ensure_hdrs(ed_mirror *m, size_t n)
{
    if (n <= m->hdrs_cap) return ED_OK;
    struct ed_record_header *h = ed_realloc(m->hdrs, sizeof *h * n);
    if (!h) return ED_ERR_NOMEM;
    m->hdrs = h;
    m->hdrs_cap = n;
    return ED_OK;
}

/* ---- bandwidth cap: a token bucket of one second's bytes ---- */

/* Record bytes one transaction may take: with a cap, at most one bucket. */
static int64_t txn_cap(const ed_mirror *m)
{
    return m->rate && m->rate < m->txn_max_len ? (m->rate > 1024 ? m->rate : 1024) : m->txn_max_len;
}

static void refill(ed_mirror *m)
{
    uint64_t now = ed_plat_loop_now_ms(m->b->loop);
    uint64_t dt_ms = now - m->tokens_ms;
    int64_t add = (int64_t)(dt_ms < 2000 ? dt_ms : 2000) * m->rate / 1000;
    if (add <= 0) return;
    m->tokens = m->tokens + add > m->rate ? m->rate : m->tokens + add;
    m->tokens_ms = now;
}

/* ms until the bucket is no longer owed anything, 0 = send now. */
static uint32_t rate_wait_ms(ed_mirror *m)
{
    if (!m->rate) return 0;
    refill(m);
    if (m->tokens >= 0) return 0;
    return (uint32_t)((-m->tokens * 1000 + m->rate - 1) / m->rate);
}

/* Copies records of p from p->next on into the transaction's batches.
 * Returns false when the transaction is full. */
static bool take_part(ed_mirror *m, struct mpart *p)
{
    ed_log *log = part_log(m, p);
    if (!log) return true;
    int64_t durable = ed_log_durable_offset(log);
    int64_t start = ed_log_start_offset(log);
    p->lag = durable > p->next ? durable - p->next : 0;
    if (p->next >= durable) return true;
    if (p->next < start) {
        ED_LOG_WARN("%s-%d: offsets %" PRId64 "..%" PRId64 " were deleted before they were "
                    "mirrored",
                    p->topic, (int)p->partition, p->next, start - 1);
        p->next = p->txn_next = start;
    }
    struct utopic *u = &m->ut[p->ut];
    if (!u->n_parts || p->next < 0) return true; /* its checkpoint is not read yet */
    char src[ED_TOPIC_NAME_MAX + 64];
    int64_t pos = p->txn_next;
    for (int64_t before = -1; pos < durable && pos != before;) {
        before = pos;
        struct ed_log_slice s;
        if (ed_log_read(log, pos, (size_t)m->batch_len, &s) != ED_OK || !s.seg) break;
        if (s.len > m->rbuf_cap) {
            uint8_t *nb = ed_realloc(m->rbuf, s.len);
            if (!nb) {
                ed_log_slice_release(&s);
                break;
            }
            m->rbuf = nb;
            m->rbuf_cap = s.len;
        }
        size_t len = s.len;
        int rc = ed_log_slice_copy(&s, m->rbuf, m->rbuf_cap);
        ed_log_slice_release(&s);
        if (rc) break;
        size_t off = 0;
        while (off + ED_BATCH_HEADER_LEN <= len && pos < durable) {
            if (ed_batch_iter_begin(&m->it, m->rbuf + off, len - off) != ED_OK) {
                ED_LOG_WARN_RL("%s-%d: batch at offset %" PRId64 " cannot be read; mirror stalls",
                               p->topic, (int)p->partition, pos);
                p->txn_next = pos;
                return false;
            }
            struct ed_batch_info bi = m->it.info;
            off += ed_batch_total_len(&bi);
            int64_t last = bi.base_offset + bi.last_offset_delta;
            if (last < pos) continue;
            struct ed_record rec;
            while (ed_batch_iter_next(&m->it, &rec) == 1) {
                if (rec.offset < pos || rec.offset >= durable) continue;
                if (ensure_hdrs(m, (size_t)rec.n_headers + 2) != ED_OK) {
                    p->txn_next = pos;
                    return false;
                }
                size_t n_h = 0, cur = 0;
                struct ed_record_header h;
                while (n_h < (size_t)rec.n_headers && ed_record_next_header(&rec, &cur, &h) == 1)
                    m->hdrs[n_h++] = h;
                int sl = snprintf(src, sizeof src, "%s/%d/%" PRId64, p->topic, (int)p->partition,
                                  rec.offset);
                m->hdrs[n_h++] =
                    (struct ed_record_header){(const uint8_t *)"eddy.site", 9,
                                              (const uint8_t *)m->site, (int32_t)strlen(m->site)};
                m->hdrs[n_h++] = (struct ed_record_header){(const uint8_t *)"eddy.src", 8,
                                                           (const uint8_t *)src, sl};
                int32_t up =
                    p->partition < u->n_parts
                        ? p->partition
                        : (rec.key ? ed_partitioner_pick(rec.key, (size_t)rec.key_len, u->n_parts)
                                   : p->partition % u->n_parts);
                if (add_record(m, u, up, &rec, m->hdrs, n_h) != ED_OK) {
                    p->txn_next = pos;
                    return false; /* that batch is full: the rest goes next time */
                }
                m->txn_len += (rec.key_len > 0 ? rec.key_len : 0) +
                              (rec.value_len > 0 ? rec.value_len : 0) + (int64_t)rec.headers_len;
                pos = rec.offset + 1;
                p->n_copied++;
                if (m->txn_len >= txn_cap(m)) {
                    p->txn_next = pos;
                    return false;
                }
            }
            if (last + 1 > pos && last + 1 <= durable) pos = last + 1; /* compaction gaps */
        }
        if (off == 0) break;
    }
    p->txn_next = pos;
    return true;
}

static void txn_failed(ed_mirror *m, const char *why)
{
    restart(m, why);
}

static void finish_batches(ed_mirror *m)
{
    for (int i = 0; i < m->n_ut; i++) {
        struct utopic *u = &m->ut[i];
        for (int32_t p = 0; p < u->n_parts; p++) {
            if (!u->n_added[p]) continue;
            uint8_t *out = NULL;
            size_t len = 0;
            if (ed_batch_builder_finish(u->bld[p], &out, &len) != ED_OK) continue;
            /* transactional: attributes bit 4, inside the CRC (bytes 21..) */
            ed_put_be16(out + 21, (uint16_t)(ed_get_be16(out + 21) | 16u));
            ed_put_be32(out + 17, ed_crc32c(0, out + 21, len - 21));
            u->batch[p] = out;
            u->batch_len[p] = len;
        }
    }
}

/* Builds the next transaction; false if there is nothing to copy. */
static bool build_txn(ed_mirror *m)
{
    reset_batches(m);
    for (int i = 0; i < m->n_mp; i++)
        m->mp[i].txn_next = m->mp[i].next;
    bool any = false;
    for (int k = 0; k < m->n_mp; k++) {
        struct mpart *p = &m->mp[(m->rr + k) % m->n_mp];
        bool more = take_part(m, p);
        if (p->txn_next > p->next) any = true;
        if (!more) break;
    }
    m->rr = m->n_mp ? (m->rr + 1) % m->n_mp : 0;
    if (!any) return false;
    /* the checkpoint records of every partition this transaction moves */
    struct utopic *ck = &m->ut[m->ck_ut];
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        if (p->txn_next <= p->next) continue;
        char key[400], val[24];
        int kl = snprintf(key, sizeof key, "%s|%s|%d", m->site, p->topic, (int)p->partition);
        int vl = snprintf(val, sizeof val, "%" PRId64, p->txn_next);
        struct ed_record rec;
        memset(&rec, 0, sizeof rec);
        rec.key = (const uint8_t *)key;
        rec.key_len = kl;
        rec.value = (const uint8_t *)val;
        rec.value_len = vl;
        rec.timestamp = ed_plat_clock_wall_ms();
        if (add_record(m, ck, m->ck_part, &rec, NULL, 0) != ED_OK) return false;
    }
    finish_batches(m);
    return true;
}

static void on_add_parts(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_ADD) return;
    struct ed_kmsg_add_partitions_to_txn_response a;
    struct ed_kc_mem mem;
    if (!decode(m, r, key, ver, &mem, &a, "AddPartitionsToTxn")) return;
    int16_t err = 0;
    for (int32_t i = 0; i < a.n_results_by_topic_v3_and_below; i++) {
        const struct ed_kmsg_add_partitions_to_txn_response_add_partitions_to_txn_topic_result *t =
            &a.results_by_topic_v3_and_below[i];
        for (int32_t k = 0; k < t->n_results_by_partition; k++)
            if (t->results_by_partition[k].partition_error_code && !err)
                err = t->results_by_partition[k].partition_error_code;
    }
    ed_kc_free(&mem);
    if (err) {
        kafka_error(m, "AddPartitionsToTxn", err);
        return;
    }
    m->phase = P_PRODUCE;
    step(m);
}

static void on_produce(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ED_UNUSED(key);
    ed_mirror *m = arg;
    if (m->phase != P_PRODUCE) return;
    struct ed_kc_produce pr;
    memset(&pr, 0, sizeof pr);
    if (ed_kc_dec_produce(r, ver, &pr) != ED_OK) {
        ed_kc_free(&pr.mem);
        txn_failed(m, "malformed Produce response");
        return;
    }
    int16_t err = 0;
    for (int32_t i = 0; i < pr.n; i++)
        if (pr.parts[i].error && !err) err = pr.parts[i].error;
    ed_kc_free(&pr.mem);
    if (err) {
        /* whatever this transaction wrote is aborted by the new epoch */
        char why[160];
        snprintf(why, sizeof why, "Produce failed: %s", ed_kc_errname(err));
        if (err == K_PRODUCER_FENCED || err == K_INVALID_PRODUCER_EPOCH)
            kafka_error(m, "Produce", err);
        else
            txn_failed(m, why);
        return;
    }
    if (--m->n_produce_out > 0) return;
    crash_point(m, "before-endtxn");
    m->phase = P_END;
    step(m);
}

static void on_end_txn(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_END) return;
    struct ed_kmsg_end_txn_response e;
    struct ed_kc_mem mem;
    if (!decode(m, r, key, ver, &mem, &e, "EndTxn")) return;
    ed_kc_free(&mem);
    if (e.error_code) {
        if (e.error_code == K_CONCURRENT_TXNS || e.error_code == K_COORD_LOADING) {
            later(m, e.error_code == K_CONCURRENT_TXNS ? CONCURRENT_RETRY_MS : RETRY_MS / 4);
            return;
        }
        if (e.error_code == K_PRODUCER_FENCED || e.error_code == K_INVALID_PRODUCER_EPOCH) {
            kafka_error(m, "EndTxn", e.error_code);
            return;
        }
        /* the outcome is the coordinator's to finish: InitProducerId waits
         * for it, and the checkpoints then say what was committed */
        char why[160];
        snprintf(why, sizeof why, "EndTxn failed: %s", ed_kc_errname(e.error_code));
        txn_failed(m, why);
        return;
    }
    crash_point(m, "after-endtxn");
    /* committed: the sequences move on, then the local marks */
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++)
            m->ut[i].seq[p] += m->ut[i].n_added[p];
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        p->next = p->txn_next;
        p->mark = p->next;
    }
    reset_batches(m);
    m->n_txns++;
    save_state(m);
    m->phase = P_IDLE;
    later(m, 0);
}

/* ---- the step machine ---- */

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
        restart(m, why);
    }
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
    later(m, delay);
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
        step(m);
        return;
    }
    m->sleeping = m->woken = false;
    uint32_t owed_ms = rate_wait_ms(m);
    if (owed_ms) { /* the bandwidth cap: wait for the bucket */
        later(m, owed_ms);
        return;
    }
    if (!build_txn(m)) {
        /* records appended but not yet on flash (the mirror copies only
         * what is): look again soon; else sleep until an append */
        bool pending = false;
        for (int i = 0; i < m->n_mp; i++) {
            struct mpart *p = &m->mp[i];
            ed_log *log = part_log(m, p);
            p->idle_len = log ? ed_log_size(log) : 0;
            pending |= log && ed_log_durable_offset(log) < ed_log_end_offset(log);
            p->lag = 0;
        }
        m->sleeping = !pending;
        later(m, pending ? FLUSH_POLL_MS : RESCAN_MS);
        return;
    }
    m->phase = P_ADD;
    step(m);
}

static void step(ed_mirror *m)
{
    m->blocked = false;
    switch (m->phase) {
    case P_WAIT:
        return;
    case P_STOPPED:
        close_links(m);
        return;
    case P_META:
        send_or_wait(m, ed_klink_up(m->boot) ? m->boot : NULL, ED_KMSG_METADATA, enc_metadata, m,
                     on_metadata);
        if (!ed_klink_up(m->boot)) m->blocked = true;
        return;
    case P_CREATE:
        send_or_wait(m, ed_klink_up(m->boot) ? m->boot : NULL, ED_KMSG_CREATE_TOPICS, enc_create, m,
                     on_create);
        if (!ed_klink_up(m->boot)) m->blocked = true;
        return;
    case P_COORD:
        send_or_wait(m, ed_klink_up(m->boot) ? m->boot : NULL, ED_KMSG_FIND_COORDINATOR,
                     enc_find_coord, m, on_find_coord);
        if (!ed_klink_up(m->boot)) m->blocked = true;
        return;
    case P_INIT:
        send_or_wait(m, link_to(m, m->coord), ED_KMSG_INIT_PRODUCER_ID, enc_init_pid, m,
                     on_init_pid);
        return;
    case P_CKPT:
        send_or_wait(m, link_to(m, m->ut[m->ck_ut].leader[m->ck_part]), ED_KMSG_FETCH,
                     enc_ckpt_fetch, m, on_ckpt_fetch);
        return;
    case P_IDLE:
        idle(m);
        return;
    case P_ADD:
        send_or_wait(m, link_to(m, m->coord), ED_KMSG_ADD_PARTITIONS_TO_TXN, enc_add_parts, m,
                     on_add_parts);
        return;
    case P_PRODUCE: {
        /* one request per leader; every leader's link must be up first */
        int32_t leaders[MAX_NODES];
        int n_leaders = 0;
        for (int i = 0; i < m->n_ut; i++)
            for (int32_t p = 0; p < m->ut[i].n_parts; p++) {
                if (!m->ut[i].batch[p]) continue;
                int32_t l = m->ut[i].leader[p];
                bool seen = false;
                for (int k = 0; k < n_leaders; k++)
                    seen |= leaders[k] == l;
                if (!seen && n_leaders < MAX_NODES) leaders[n_leaders++] = l;
            }
        for (int k = 0; k < n_leaders; k++)
            if (!link_to(m, leaders[k])) return;
        crash_point(m, "before-produce");
        for (int i = 0; m->rate && i < m->n_ut; i++)
            for (int32_t p = 0; p < m->ut[i].n_parts; p++)
                if (m->ut[i].batch[p]) m->tokens -= (int64_t)m->ut[i].batch_len[p];
        m->n_produce_out = n_leaders;
        for (int k = 0; k < n_leaders; k++) {
            struct produce_arg pa = {m, leaders[k]};
            int rc = ed_klink_send(link_to(m, leaders[k]), ED_KMSG_PRODUCE, enc_produce, &pa, 0,
                                   on_produce, m);
            if (rc) {
                txn_failed(m, "cannot send Produce");
                return;
            }
        }
        crash_point(m, "after-produce");
        return;
    }
    case P_END:
        send_or_wait(m, link_to(m, m->coord), ED_KMSG_END_TXN, enc_end_txn, m, on_end_txn);
        return;
    }
}

/* ---- status ---- */

static void json_str(char *out, size_t len, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = 0;
}

static void write_status(ed_mirror *m)
{
    size_t cap = 1024 + (size_t)m->n_mp * 600;
    char *buf = ed_malloc(cap);
    if (!buf) return;
    char err[1100], site[300];
    json_str(err, sizeof err, m->last_error);
    json_str(site, sizeof site, m->site);
    const char *state = phase_names[m->phase];
    if (m->phase == P_STOPPED && strncmp(m->last_error, "fenced", 6) == 0)
        state = "fenced";
    else if (m->phase == P_STOPPED)
        state = "error";
    size_t o =
        (size_t)snprintf(buf, cap,
                         "{\"site\": \"%s\", \"upstream\": \"%s:%u\", \"state\": \"%s\", "
                         "\"link\": \"%s\", \"transactions\": %" PRIu64
                         ", \"last_error\": \"%s\", \"updated_ms\": %" PRId64 ", \"partitions\": [",
                         site, m->boot_host, (unsigned)m->boot_port, state, m->link_state,
                         m->n_txns, err, ed_plat_clock_wall_ms());
    for (int i = 0; i < m->n_mp && o < cap; i++) {
        struct mpart *p = &m->mp[i];
        ed_log *log = part_log(m, p);
        int64_t end = log ? ed_log_end_offset(log) : 0;
        int64_t done = p->next >= 0 ? p->next : p->mark;
        const char *ps = state;
        if (m->phase >= P_IDLE && m->phase <= P_END) ps = done >= end ? "caught-up" : "mirroring";
        o += (size_t)snprintf(buf + o, cap - o,
                              "%s\n  {\"topic\": \"%s\", \"partition\": %d, \"upstream\": \"%s\", "
                              "\"mirrored\": %" PRId64 ", \"end\": %" PRId64 ", \"lag\": %" PRId64
                              ", \"state\": \"%s\"}",
                              i ? "," : "", p->topic, (int)p->partition, m->ut[p->ut].name, done,
                              end, end > done ? end - done : 0, ps);
    }
    if (o < cap) o += (size_t)snprintf(buf + o, cap - o, "\n]}\n");
    if (o >= cap) o = cap - 1;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", m->status_path);
    ed_file *f = NULL;
    int rc = ed_plat_file_open(tmp, ED_FILE_WRITE | ED_FILE_CREATE | ED_FILE_TRUNC, &f);
    if (rc == ED_OK) rc = ed_plat_file_pwrite(f, buf, o, 0);
    if (f) ed_plat_file_close(f);
    if (rc == ED_OK) ed_plat_path_rename(tmp, m->status_path);
    ed_free(buf);
}

static void on_status(ed_timer *t, void *arg)
{
    ed_mirror *m = arg;
    write_status(m);
    ed_plat_timer_start(m->b->loop, t, STATUS_MS, on_status, m);
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
            if (part_log(m, p) != log) continue;
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
    write_status(m);
    m->phase = P_STOPPED;
}

static void mirror_free(void *obj)
{
    ed_mirror *m = obj;
    ed_plat_timer_stop(m->b->loop, &m->timer);
    ed_plat_timer_stop(m->b->loop, &m->status_timer);
    ed_storage_set_retention_hook(m->b->storage, NULL, NULL);
    ed_topics_del_append_listener(m->b->topics, on_append, m);
    ed_klink_free(m->boot);
    for (int i = 0; i < m->n_nodes; i++)
        ed_klink_free(m->nodes[i].link);
    for (int i = 0; i < m->n_ut; i++)
        free_ut_parts(&m->ut[i]);
    ed_free(m->ut);
    ed_free(m->mp);
    ed_free(m->rbuf);
    ed_free(m->hdrs);
    ed_batch_iter_release(&m->it);
    ed_free(m->topics_cfg);
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
    m->create_topics = cfg->mirror_create_topics;
    m->txn_max_len = cfg->mirror_transaction_max_bytes;
    m->txn_max_ms = cfg->mirror_transaction_max_ms;
    m->linger_ms = cfg->mirror_linger_ms;
    m->batch_len = cfg->mirror_batch_bytes;
    m->request_ms = cfg->mirror_request_timeout_ms;
    m->compression = ED_COMPRESSION_NONE;
    m->rate = m->tokens = cfg->mirror_rate_bytes_per_sec;
    m->tokens_ms = ed_plat_loop_now_ms(b->loop);
    const char *dir = cfg->log_dirs;
    snprintf(m->state_path, sizeof m->state_path, "%s/%s", dir, ED_MIRROR_STATE_FILE);
    snprintf(m->status_path, sizeof m->status_path, "%s/%s", dir, ED_MIRROR_STATUS_FILE);
    m->link_state = "connecting";
    m->coord = -1;
    m->pid = -1;
    m->epoch = -1;
    ed_batch_iter_init(&m->it, 64u << 20);
    m->crash_at = getenv("EDDY_MIRROR_CRASH_AT");
    if (m->crash_at) {
        const char *c = strchr(m->crash_at, ':');
        m->crash_n = c ? strtol(c + 1, NULL, 10) : 1;
    }
    char first[300];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(servers, ","), servers);
    int rc = ED_ERR_NOMEM;
    if (!m->topics_cfg) goto fail;
    rc = ed_kc_parse_hostport(first, m->boot_host, sizeof m->boot_host, &m->boot_port);
    if (rc) {
        snprintf(why, why_len, "mirror.bootstrap.servers: bad address '%s' (want host:port)",
                 first);
        goto fail;
    }
    if (!ed_config_parse_compression(cfg->mirror_compression_type, &m->compression) ||
        !ed_codec_supported(m->compression, true)) {
        snprintf(why, why_len, "mirror.compression.type: '%s' is not built into this Eddy",
                 cfg->mirror_compression_type);
        rc = ED_ERR_UNSUPPORTED;
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
    load_state(m);
    m->next_rescan_ms = ed_plat_loop_now_ms(b->loop) + RESCAN_MS;
    struct ed_klink_opts o = link_opts(m);
    rc = ed_klink_new(b->loop, m->boot_host, m->boot_port, &o, &link_cbs, m, &m->boot);
    if (rc) goto fail;
    struct ed_broker_service svc = {"mirror", m, mirror_shutdown, mirror_free};
    rc = ed_topics_add_append_listener(b->topics, on_append, m);
    if (rc) goto fail;
    ed_storage_set_retention_hook(b->storage, retention_hook, m);
    ed_plat_timer_start(b->loop, &m->status_timer, 0, on_status, m);
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
