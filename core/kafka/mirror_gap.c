/* The mirror's gaps under mirror.on.full=drop-oldest: the disk guard's
 * drop hook records every range of unmirrored offsets it deletes (kept
 * durably in mirror.gaps until announced), the gap record a transaction
 * writes to the checkpoint topic as it moves a partition past such a
 * range, and what the status shows of them.
 *
 * mirror.gaps (docs/format.md): the store-file frame (core/store_file.h),
 * magic "EDRG", version 1, one record per range: flags u8 (1 = announced),
 * partition i32, first i64, last i64, records u64, dropped_ms i64, split
 * i64, records below split u64, topic. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "mirror"
#include "platform/log.h"
#include "platform/mem.h"
#include "core/kafka/mirror.h"
#include "core/kafka/mirror_int.h"
#include "core/store_file.h"

#define GAPS_MAGIC     "EDRG"
#define GAPS_VERSION   1
#define GAP_FIXED_LEN  53
#define GAPS_FILE_MAX  (1u << 20)
#define GAPS_ANNOUNCED 16 /* announced ranges kept for the status */

/* ---- the file ---- */

static int parse_gap(const char *path, const uint8_t *b, size_t len, void *elems, uint32_t i)
{
    struct ed_mirror_gap *g = (struct ed_mirror_gap *)elems + i;
    size_t tl = len > GAP_FIXED_LEN ? len - GAP_FIXED_LEN : 0;
    if (len <= GAP_FIXED_LEN || tl > ED_TOPIC_NAME_MAX)
        return ED_ERR_CORRUPT_AT("%s: gap record of %zu bytes", path, len);
    g->announced = (b[0] & 1) != 0;
    g->partition = (int32_t)ed_get_be32(b + 1);
    g->first = (int64_t)ed_get_be64(b + 5);
    g->last = (int64_t)ed_get_be64(b + 13);
    g->n_records = ed_get_be64(b + 21);
    g->dropped_ms = (int64_t)ed_get_be64(b + 29);
    g->split = (int64_t)ed_get_be64(b + 37);
    g->n_below = ed_get_be64(b + 45);
    memcpy(g->topic, b + GAP_FIXED_LEN, tl);
    g->topic[tl] = 0;
    if (g->split < 0) g->split = -1;
    if (g->first < 0 || g->last < g->first || g->last == INT64_MAX || g->partition < 0 ||
        g->split > g->last + 1 || g->n_below > g->n_records)
        return ED_ERR_CORRUPT_AT("%s: gap record %u has offsets %" PRId64 "..%" PRId64, path, i,
                                 g->first, g->last);
    if (!ed_topics_valid_name(g->topic))
        return ED_ERR_CORRUPT_AT("%s: gap record %u names no valid topic", path, i);
    return ED_OK;
}

static int save_gaps(ed_mirror *m, const struct ed_mirror_gap *g, int n)
{
    size_t cap = ED_STORE_FILE_HDR_LEN;
    for (int i = 0; i < n; i++)
        cap += ED_STORE_FILE_REC_HDR + GAP_FIXED_LEN + strlen(g[i].topic);
    uint8_t *b = ed_malloc(cap);
    if (!b) return ED_ERR_NOMEM;
    ed_store_file_put_header(b, GAPS_MAGIC, GAPS_VERSION, (uint32_t)n);
    size_t pos = ED_STORE_FILE_HDR_LEN;
    for (int i = 0; i < n; i++) {
        uint8_t *r = b + pos + ED_STORE_FILE_REC_HDR;
        size_t tl = strlen(g[i].topic);
        r[0] = g[i].announced ? 1 : 0;
        ed_put_be32(r + 1, (uint32_t)g[i].partition);
        ed_put_be64(r + 5, (uint64_t)g[i].first);
        ed_put_be64(r + 13, (uint64_t)g[i].last);
        ed_put_be64(r + 21, g[i].n_records);
        ed_put_be64(r + 29, (uint64_t)g[i].dropped_ms);
        ed_put_be64(r + 37, (uint64_t)g[i].split);
        ed_put_be64(r + 45, g[i].n_below);
        memcpy(r + GAP_FIXED_LEN, g[i].topic, tl);
        pos += ed_store_file_put_record(b + pos, GAP_FIXED_LEN + tl);
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", m->gaps_path);
    int rc = ed_store_file_replace(m->cfg->log_dirs, m->gaps_path, tmp, b, pos);
    ed_free(b);
    if (rc) ED_LOG_WARN_RL("cannot write %s: %s", m->gaps_path, ed_strerror(rc));
    return rc;
}

int ed_mirror_gap_parse(const char *path, const uint8_t *b, size_t len, struct ed_mirror_gap **out,
                        int *n_out)
{
    void *g = NULL;
    size_t n = 0;
    int rc = ed_store_file_parse(
        path, b, len, GAPS_MAGIC, GAPS_VERSION, ED_MIRROR_MAX_GAPS + GAPS_ANNOUNCED,
        GAP_FIXED_LEN + ED_TOPIC_NAME_MAX, sizeof(struct ed_mirror_gap), parse_gap, &g, &n);
    *out = rc == ED_OK ? g : NULL;
    *n_out = rc == ED_OK ? (int)n : 0;
    return rc;
}

void ed_mirror_gap_load(ed_mirror *m)
{
    uint8_t *b = NULL;
    size_t len = 0;
    int rc = ed_store_file_read(m->gaps_path, GAPS_FILE_MAX, &b, &len);
    if (rc == ED_OK && b) rc = ed_mirror_gap_parse(m->gaps_path, b, len, &m->gaps, &m->n_gaps);
    ed_free(b);
    if (rc)
        ED_LOG_ERR("%s cannot be read (%s): the dropped ranges it held are not known any more; "
                   "the gap records upstream will count offsets instead of records",
                   m->gaps_path, ed_strerror(rc));
    for (int i = 0; i < m->n_gaps; i++)
        if (!m->gaps[i].announced)
            ED_LOG_WARN("%s-%d: offsets %" PRId64 "..%" PRId64 " (%" PRIu64 " records) were "
                        "dropped before they were mirrored; not announced upstream yet",
                        m->gaps[i].topic, (int)m->gaps[i].partition, m->gaps[i].first,
                        m->gaps[i].last, m->gaps[i].n_records);
}

/* ---- recording a drop ---- */

static struct mpart *part_of_log(ed_mirror *m, const ed_log *log)
{
    for (int i = 0; i < m->n_mp; i++)
        if (ed_mirror_part_log(m, &m->mp[i]) == log) return &m->mp[i];
    return NULL;
}

/* Records of log in from..last (the segment is still there). */
static uint64_t count_records(ed_mirror *m, ed_log *log, int64_t from, int64_t last)
{
    uint64_t n = 0;
    int64_t pos = from;
    while (pos <= last) {
        size_t len = 0;
        if (ed_mirror_read_local(m, log, pos, &len) != ED_OK || len == 0) break;
        int64_t before = pos;
        size_t off = 0;
        while (off + ED_BATCH_HEADER_LEN <= len && pos <= last) {
            struct ed_batch_info bi;
            if (ed_batch_parse_header(m->rbuf + off, len - off, &bi) != ED_OK ||
                ed_batch_total_len(&bi) > len - off)
                break;
            int64_t b_last = bi.base_offset + bi.last_offset_delta;
            if (b_last >= pos && bi.base_offset >= pos && b_last <= last) {
                n += bi.record_count > 0 ? (uint64_t)bi.record_count : 0;
            } else if (b_last >= pos &&
                       ed_batch_iter_begin(&m->it, m->rbuf + off, len - off) == ED_OK) {
                struct ed_record rec;
                while (ed_batch_iter_next(&m->it, &rec) == 1)
                    n += rec.offset >= pos && rec.offset <= last;
            }
            off += ed_batch_total_len(&bi);
            if (b_last + 1 > pos) pos = b_last + 1;
        }
        if (pos == before) break;
    }
    return n;
}

int ed_mirror_gap_drop(void *arg, ed_log *log, int64_t first, int64_t last)
{
    ed_mirror *m = arg;
    struct mpart *p = part_of_log(m, log);
    if (!p) return ED_OK;
    /* from what is upstream on; a transaction in flight may carry the
     * start of the range: split there, to settle when it ends */
    int64_t upto = p->next >= 0 ? p->next : p->mark;
    int64_t from = first > upto ? first : upto;
    if (from > last) return ED_OK;
    int64_t split = -1;
    uint64_t n_below = 0;
    if (m->phase >= P_ADD && m->phase <= P_END && p->txn_next > from) {
        split = p->txn_next <= last ? p->txn_next : last + 1;
        n_below = count_records(m, log, from, split - 1);
    }
    uint64_t n =
        n_below + (split <= last ? count_records(m, log, split < 0 ? from : split, last) : 0);
    struct ed_mirror_gap *g = NULL;
    for (int i = 0; i < m->n_gaps && !g; i++) {
        struct ed_mirror_gap *x = &m->gaps[i];
        if (!x->announced && x->partition == p->partition && x->last + 1 == from &&
            strcmp(x->topic, p->topic) == 0)
            g = x;
    }
    struct ed_mirror_gap saved = {0};
    bool added = !g;
    if (g) {
        saved = *g;
        g->last = last;
        g->n_records += n;
        if (split >= 0) {
            g->split = split;
            g->n_below += n_below;
        }
    } else {
        if (m->n_gaps >= ED_MIRROR_MAX_GAPS) {
            ED_LOG_WARN_RL("%d dropped ranges wait to be announced: keeping %s-%d", m->n_gaps,
                           p->topic, (int)p->partition);
            return ED_ERR_NOSPC;
        }
        struct ed_mirror_gap *ng = ed_realloc(m->gaps, sizeof *ng * (size_t)(m->n_gaps + 1));
        if (!ng) return ED_ERR_NOMEM;
        m->gaps = ng;
        g = &ng[m->n_gaps++];
        memset(g, 0, sizeof *g);
        snprintf(g->topic, sizeof g->topic, "%s", p->topic);
        g->partition = p->partition;
        g->first = from;
        g->last = last;
        g->n_records = n;
        g->dropped_ms = ed_plat_clock_wall_ms();
        g->split = split;
        g->n_below = n_below;
    }
    /* durable before the segment goes: the range must survive a restart */
    int rc = save_gaps(m, m->gaps, m->n_gaps);
    if (rc) {
        if (added)
            m->n_gaps--;
        else
            *g = saved;
        return rc;
    }
    m->n_ranges_dropped++;
    m->n_records_dropped += n;
    ED_LOG_WARN("mirror.on.full=drop-oldest: %s-%d offsets %" PRId64 "..%" PRId64 " (%" PRIu64
                " records) dropped before they were mirrored%s; announced upstream as a gap once "
                "the mirror moves past them",
                p->topic, (int)p->partition, from, last, n,
                split >= 0 ? " (unless the transaction in flight, which carries the first of "
                             "them, commits)"
                           : "");
    return ED_OK;
}

/* ---- announcing ---- */

/* Records in from..last by the ranges recorded for p (offsets where no
 * range was recorded, or where a recorded one turned out to be upstream
 * already, count one each). */
static uint64_t gap_records(const ed_mirror *m, const struct mpart *p, int64_t from, int64_t last)
{
    uint64_t n = 0;
    int64_t covered = 0;
    for (int i = 0; i < m->n_gaps; i++) {
        const struct ed_mirror_gap *g = &m->gaps[i];
        if (g->announced || g->partition != p->partition || strcmp(g->topic, p->topic) != 0 ||
            g->last < from || g->first > last)
            continue;
        int64_t a = g->first > from ? g->first : from, z = g->last < last ? g->last : last;
        uint64_t cut = (uint64_t)((a - g->first) + (g->last - z));
        n += g->n_records > cut ? g->n_records - cut : 0;
        covered += z - a + 1;
    }
    return n + (uint64_t)(last - from + 1 - covered);
}

int64_t ed_mirror_gap_resume_from(const ed_mirror *m, const struct mpart *p, int64_t start)
{
    int64_t from = start;
    for (int i = 0; i < m->n_gaps; i++) {
        const struct ed_mirror_gap *g = &m->gaps[i];
        if (!g->announced && g->partition == p->partition && strcmp(g->topic, p->topic) == 0 &&
            g->first < from)
            from = g->first;
    }
    return from;
}

int ed_mirror_gap_record(ed_mirror *m, const struct mpart *p, char *key, size_t key_len, char *val,
                         size_t val_len, int *kl, int *vl)
{
    int64_t first = p->next, last = p->gap_last;
    uint64_t n = gap_records(m, p, first, last);
    char site[300], topic[300];
    ed_mirror_json_str(site, sizeof site, m->site);
    ed_mirror_json_str(topic, sizeof topic, p->topic);
    *kl = snprintf(key, key_len, "%s|%s|%d|gap|%" PRId64, m->site, p->topic, (int)p->partition,
                   first);
    *vl = snprintf(val, val_len,
                   "{\"site\": \"%s\", \"topic\": \"%s\", \"partition\": %d, \"first\": %" PRId64
                   ", \"last\": %" PRId64 ", \"records\": %" PRIu64 "}",
                   site, topic, (int)p->partition, first, last, n);
    if (*kl < 0 || (size_t)*kl >= key_len || *vl < 0 || (size_t)*vl >= val_len)
        return ED_ERR_TOOBIG;
    return ED_OK;
}

/* Settles the recorded ranges against the partitions' resume points: the
 * part a committed transaction carried is not a gap (an aborted one's is);
 * a range now passed is announced. Keeps the last GAPS_ANNOUNCED announced
 * ranges for the status, and saves. */
static void settle(ed_mirror *m, const char *how)
{
    bool changed = false;
    for (int i = 0; i < m->n_gaps; i++) {
        struct ed_mirror_gap *g = &m->gaps[i];
        if (g->announced) continue;
        for (int k = 0; k < m->n_mp; k++) {
            const struct mpart *p = &m->mp[k];
            if (p->partition != g->partition || strcmp(p->topic, g->topic) != 0) continue;
            if (g->split >= 0 && p->next >= g->split) {
                g->first = g->split;
                g->n_records -= g->n_below;
                m->n_records_dropped -= m->n_records_dropped >= g->n_below ? g->n_below : 0;
            }
            if (g->split >= 0 && (p->next >= g->split || p->next <= g->first)) {
                g->split = -1;
                g->n_below = 0;
                changed = true;
            }
            if (p->next <= g->last || g->first > g->last) continue;
            g->announced = true;
            changed = true;
            ED_LOG_INFO("%s-%d: the gap %" PRId64 "..%" PRId64 " (%" PRIu64 " records) %s",
                        g->topic, (int)g->partition, g->first, g->last, g->n_records, how);
        }
    }
    if (!changed) return;
    int n_ann = 0;
    for (int i = m->n_gaps - 1; i >= 0; i--) {
        /* all of it was in a committed transaction: no gap at all */
        bool empty = m->gaps[i].first > m->gaps[i].last;
        if (!empty && (!m->gaps[i].announced || ++n_ann <= GAPS_ANNOUNCED)) continue;
        memmove(&m->gaps[i], &m->gaps[i + 1], sizeof *m->gaps * (size_t)(m->n_gaps - i - 1));
        m->n_gaps--;
    }
    save_gaps(m, m->gaps, m->n_gaps); /* if this fails the next commit or start settles again */
}

void ed_mirror_gap_committed(ed_mirror *m)
{
    settle(m, "is announced upstream");
}

void ed_mirror_gap_resumed(ed_mirror *m)
{
    settle(m, "was announced upstream before");
}

/* ---- status ---- */

size_t ed_mirror_gap_status(const ed_mirror *m, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap,
                                ", \"dropped_ranges\": %" PRIu64 ", \"dropped_records\": %" PRIu64
                                ", \"dropped\": [",
                                m->n_ranges_dropped, m->n_records_dropped);
    for (int i = 0; i < m->n_gaps && o < cap; i++) {
        const struct ed_mirror_gap *g = &m->gaps[i];
        o += (size_t)snprintf(buf + o, cap - o,
                              "%s\n  {\"topic\": \"%s\", \"partition\": %d, \"first\": %" PRId64
                              ", \"last\": %" PRId64 ", \"records\": %" PRIu64
                              ", \"dropped_ms\": %" PRId64 ", \"announced\": %s}",
                              i ? "," : "", g->topic, (int)g->partition, g->first, g->last,
                              g->n_records, g->dropped_ms, g->announced ? "true" : "false");
    }
    if (o < cap) o += (size_t)snprintf(buf + o, cap - o, "\n]");
    return o < cap ? o : cap;
}
