/* The mirror reads its checkpoints: the Fetch of the checkpoint topic
 * (read_committed, up to the last stable offset), each record's resume
 * point, the scan of the upstream partitions for the resume points the
 * checkpoint topic lacks (mirror.resume.fallback=scan), and what follows
 * once every partition's resume point is known. */
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
#include "core/topics.h"

#define SCAN_WINDOW 1000 /* offsets read in the first window of a scan */

/* The Fetch of the checkpoint partition, or while scanning of the
 * upstream partition being scanned. */
void ed_mirror_enc_ckpt_fetch(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    bool scan = m->phase == P_SCAN;
    ED_KC_ENC_BEGIN(fetch_request, r);
    r.max_wait_ms = 0;
    r.min_bytes = 0;
    r.max_bytes = 8 << 20;
    r.isolation_level = 1; /* read_committed: up to the last stable offset */
    r.n_topics = 1;
    r.topics = ED_KC_STRUCTS(1, fetch_request_fetch_topic);
    if (r.topics) {
        r.topics[0].topic = ed_kc_str(m->ut[scan ? m->mp[m->scan_mp].ut : m->ck_ut].name);
        r.topics[0].n_partitions = 1;
        r.topics[0].partitions = ED_KC_STRUCTS(1, fetch_request_fetch_partition);
        if (r.topics[0].partitions) {
            r.topics[0].partitions[0].partition = scan ? m->scan_up : m->ck_part;
            r.topics[0].partitions[0].fetch_offset = scan ? m->scan_pos : m->ck_pos;
            r.topics[0].partitions[0].partition_max_bytes = 8 << 20;
        }
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_FETCH, ver, &r);
}

/* One checkpoint record: key site|topic|partition, value the next offset. */
static void take_ckpt(ed_mirror *m, const struct ed_record *rec, void *arg)
{
    ED_UNUSED(arg);
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
    if (memchr(k, '|', tl)) return; /* a gap record: site|topic|partition|gap|first */
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

typedef void (*record_fn)(ed_mirror *m, const struct ed_record *rec, void *arg);

/* Calls fn for every committed record at or after offset from in pd, the
 * partition of a read_committed Fetch answer: read_committed returns
 * aborted transactions' records too, with the list of aborted transactions
 * (producer id, first offset); as Kafka's consumer does, every entry whose
 * first offset is at or below a batch's last offset marks its producer as
 * aborting until its abort marker, and that producer's batches meanwhile
 * are skipped. Returns the offset after the last whole batch (at least
 * from), -1 when out of memory. */
static int64_t each_committed(ed_mirror *m, const struct ed_kmsg_fetch_response_partition_data *pd,
                              int64_t from, record_fn fn, void *arg)
{
    int64_t aborting[MAX_ABORTING];
    int n_aborting = 0;
    int32_t n_ab = pd->n_aborted_transactions > 0 ? pd->n_aborted_transactions : 0;
    uint8_t *used = n_ab ? ed_calloc((size_t)n_ab, 1) : NULL;
    if (n_ab && !used) return -1;
    const uint8_t *p = pd->records.p;
    size_t left = pd->records.len > 0 ? (size_t)pd->records.len : 0;
    int64_t pos = from;
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
        if (!skip && ed_batch_iter_begin(&m->it, p, blen) == ED_OK) {
            struct ed_record rec;
            while (ed_batch_iter_next(&m->it, &rec) == 1)
                if (rec.offset >= from) fn(m, &rec, arg);
        }
        if (last + 1 > pos) pos = last + 1;
        p += blen;
        left -= blen;
    }
    ed_free(used);
    return pos;
}

static void ckpt_done(ed_mirror *m);
static void resume(ed_mirror *m);

/* Decodes the Fetch answer r (one partition) and walks its committed
 * records from offset from on through fn: true with *pos (the offset after
 * the last batch, at least from) and *lso, or with *err, the Kafka error;
 * false when it could not (the mirror starts over). */
static bool fetch_walk(ed_mirror *m, ed_krd *r, int16_t key, int16_t ver, int64_t from,
                       record_fn fn, int16_t *err, int64_t *pos, int64_t *lso)
{
    struct ed_kmsg_fetch_response f;
    struct ed_kc_mem mem;
    if (!ed_mirror_decode(m, r, key, ver, &mem, &f, "Fetch")) return false;
    const struct ed_kmsg_fetch_response_partition_data *pd = NULL;
    if (f.n_responses > 0 && f.responses[0].n_partitions > 0) pd = &f.responses[0].partitions[0];
    *err = f.error_code ? f.error_code : (pd ? pd->error_code : K_UNKNOWN_TOPIC);
    *pos = from;
    if (!*err) {
        *lso = pd->last_stable_offset >= 0 ? pd->last_stable_offset : pd->high_watermark;
        *pos = each_committed(m, pd, from, fn, NULL);
    }
    ed_kc_free(&mem);
    if (*pos < 0) {
        ed_mirror_restart(m, "out of memory reading a Fetch answer");
        return false;
    }
    return true;
}

void ed_mirror_on_ckpt_fetch(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_CKPT) return;
    int16_t err = 0;
    int64_t pos = 0;
    if (!fetch_walk(m, r, key, ver, m->ck_pos, take_ckpt, &err, &pos, &m->ck_lso)) return;
    if (err) {
        if (err == K_NOT_LEADER || err == K_UNKNOWN_TOPIC || err == K_LEADER_NOT_AVAILABLE) {
            m->phase = P_META; /* refresh the leaders */
            ed_mirror_later(m, RETRY_MS);
            return;
        }
        if (err == K_OFFSET_OUT_OF_RANGE) {
            ed_mirror_stop_for_good(m, "the checkpoint topic %s cannot be read from offset 0 (%s)",
                                    m->ck_topic, "OFFSET_OUT_OF_RANGE");
            return;
        }
        ed_mirror_kafka_error(m, "reading the checkpoints", err);
        return;
    }
    bool progress = pos > m->ck_pos;
    m->ck_pos = pos;
    if (m->ck_pos >= m->ck_lso) {
        ckpt_done(m);
        return;
    }
    ed_mirror_later(m, progress ? 0 : RETRY_MS);
}

/* Every partition's resume point is known. */
static void resume(ed_mirror *m)
{
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        ed_log *log = ed_mirror_part_log(m, p);
        int64_t start = log ? ed_log_start_offset(log) : 0;
        int64_t end = log ? ed_log_end_offset(log) : 0;
        char tp[300];
        snprintf(tp, sizeof tp, "%s-%d", p->topic, (int)p->partition);
        if (p->ckpt < 0 && p->mark > 0) {
            ed_mirror_stop_for_good(
                m,
                "no checkpoint upstream for %s although the local mark says it was "
                "mirrored (checkpoint topic %s deleted or emptied?): refusing to "
                "mirror rather than start again from the beginning",
                tp, m->ck_topic);
            return;
        }
        if (p->ckpt > end) {
            ed_mirror_stop_for_good(
                m,
                "the upstream checkpoint of %s is beyond the local log (%s): another "
                "gateway with the same site.id?",
                tp, "checkpoint > log end offset");
            return;
        }
        /* a first start begins at the log start, or at a range dropped
         * before it was ever mirrored, so that its gap is announced */
        p->next = p->ckpt >= 0 ? p->ckpt : ed_mirror_gap_resume_from(m, p, start);
        p->txn_next = p->next;
    }
    ed_mirror_gap_resumed(m);
    if (!ed_mirror_check_start(m)) return;
    ED_LOG_INFO("mirroring %d partition%s to %s as %s (checkpoints read up to offset %" PRId64 ")",
                m->n_mp, m->n_mp == 1 ? "" : "s", ed_klink_name(m->boot), m->txn_id, m->ck_pos);
    m->last_error[0] = 0;
    m->link_state = "up";
    m->new_parts = false; /* every partition known now has its resume point */
    m->phase = P_IDLE;
    ed_mirror_save_state(m);
    ed_mirror_write_status(m);
    ed_mirror_later(m, 0);
}

/* ---- mirror.resume.fallback=scan ---- */

/* The checkpoints are read; partitions that have none although this site
 * mirrored them are looked for upstream first, under the scan fallback. */
static void ckpt_done(ed_mirror *m)
{
    bool scan = false;
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        p->scan_need = m->scan_fallback && p->ckpt < 0 && p->mark > 0;
        scan |= p->scan_need;
    }
    if (!scan) {
        resume(m);
        return;
    }
    m->phase = P_SCAN;
    m->scan_mp = -1;
    ed_mirror_scan_next(m);
}

static void enc_scan_list(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    struct ed_kc_list_part lp = {m->ut[m->mp[m->scan_mp].ut].name, m->scan_up,
                                 m->scan_step == 0 ? ED_KC_LATEST : ED_KC_EARLIEST};
    ed_kc_enc_list_offsets(w, ver, &lp, 1);
}

static void on_scan_list(void *arg, int16_t key, int16_t ver, ed_krd *r);
static void on_scan_fetch(void *arg, int16_t key, int16_t ver, ed_krd *r);

void ed_mirror_scan_step(ed_mirror *m)
{
    const struct mpart *p = &m->mp[m->scan_mp];
    int32_t leader = m->ut[p->ut].leader[m->scan_up];
    if (m->scan_step < 2)
        ed_mirror_send_to(m, leader, ED_KMSG_LIST_OFFSETS, enc_scan_list, m, on_scan_list);
    else
        ed_mirror_send_to(m, leader, ED_KMSG_FETCH, ed_mirror_enc_ckpt_fetch, m, on_scan_fetch);
}

/* The next upstream partition to scan: the source partition's own when
 * the upstream topic has it, else each in turn (keyed records were spread
 * by murmur2); then the next source partition; then resume. */
void ed_mirror_scan_next(ed_mirror *m)
{
    if (m->scan_mp >= 0) {
        struct mpart *p = &m->mp[m->scan_mp];
        const struct utopic *u = &m->ut[p->ut];
        if (p->partition >= u->n_parts && m->scan_up + 1 < u->n_parts) {
            m->scan_up++;
            m->scan_step = 0;
            ed_mirror_scan_step(m);
            return;
        }
        char tp[300];
        snprintf(tp, sizeof tp, "%s-%d", p->topic, (int)p->partition);
        if (m->scan_found < 0) {
            ed_mirror_stop_for_good(m,
                                    "no checkpoint upstream for %s and no record of it in %s "
                                    "either (mirror.resume.fallback=scan): refusing to mirror "
                                    "rather than start again from the beginning",
                                    tp, u->name);
            return;
        }
        p->ckpt = m->scan_found + 1;
        p->scan_need = false;
        ED_LOG_WARN("%s: no checkpoint upstream; resuming at offset %" PRId64
                    ", after the last record of it found in %s (mirror.resume.fallback=scan)",
                    tp, p->ckpt, u->name);
    }
    int k = m->scan_mp + 1;
    while (k < m->n_mp && !m->mp[k].scan_need)
        k++;
    if (k >= m->n_mp) {
        resume(m);
        return;
    }
    const struct mpart *p = &m->mp[k];
    m->scan_mp = k;
    m->scan_found = -1;
    m->scan_up = p->partition < m->ut[p->ut].n_parts ? p->partition : 0;
    m->scan_step = 0;
    ed_mirror_scan_step(m);
}

/* Reads the window of scan_win offsets below scan_hi; past the start of
 * the upstream partition, the partition is done. */
static void scan_window(ed_mirror *m)
{
    if (m->scan_hi <= m->scan_start) {
        ed_mirror_scan_next(m);
        return;
    }
    m->scan_lo =
        m->scan_hi - m->scan_win > m->scan_start ? m->scan_hi - m->scan_win : m->scan_start;
    m->scan_pos = m->scan_lo;
    m->scan_step = 2;
    ed_mirror_scan_step(m);
}

/* A leader moved or the topic is not there yet: start over from the
 * metadata; anything else as any Kafka error. */
static void scan_error(ed_mirror *m, int16_t err)
{
    if (err == K_NOT_LEADER || err == K_UNKNOWN_TOPIC || err == K_LEADER_NOT_AVAILABLE) {
        m->phase = P_META;
        ed_mirror_later(m, RETRY_MS);
        return;
    }
    ed_mirror_kafka_error(m, "scanning upstream for resume points", err);
}

static void on_scan_list(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ED_UNUSED(key);
    ed_mirror *m = arg;
    if (m->phase != P_SCAN || m->scan_step > 1) return;
    struct ed_kc_list_offsets lo;
    memset(&lo, 0, sizeof lo);
    if (ed_kc_dec_list_offsets(r, ver, &lo) != ED_OK) {
        ed_kc_free(&lo.mem);
        ed_mirror_restart(m, "malformed ListOffsets response");
        return;
    }
    int16_t err = lo.n > 0 ? lo.parts[0].error : K_UNKNOWN_TOPIC;
    int64_t off = lo.n > 0 ? lo.parts[0].offset : -1;
    ed_kc_free(&lo.mem);
    if (err || off < 0) {
        scan_error(m, err ? err : K_LEADER_NOT_AVAILABLE);
        return;
    }
    if (m->scan_step == 0) {
        m->scan_end = off;
        m->scan_step = 1;
        ed_mirror_scan_step(m);
        return;
    }
    m->scan_start = off;
    m->scan_here = -1;
    m->scan_hi = m->scan_end;
    m->scan_win = SCAN_WINDOW;
    scan_window(m);
}

/* A record upstream: its eddy.src names this site's partition being
 * scanned for? */
static void take_src(ed_mirror *m, const struct ed_record *rec, void *arg)
{
    ED_UNUSED(arg);
    const struct mpart *p = &m->mp[m->scan_mp];
    char want[ED_TOPIC_NAME_MAX + 16];
    int wl = snprintf(want, sizeof want, "%s/%d/", p->topic, (int)p->partition);
    bool site = false;
    int64_t src = -1;
    size_t cur = 0;
    struct ed_record_header h;
    while (ed_record_next_header(rec, &cur, &h) == 1) {
        if (h.key_len == 9 && memcmp(h.key, "eddy.site", 9) == 0)
            site = h.value_len == (int32_t)strlen(m->site) &&
                   memcmp(h.value, m->site, (size_t)h.value_len) == 0;
        if (h.key_len == 8 && memcmp(h.key, "eddy.src", 8) == 0 && h.value_len > wl &&
            h.value_len - wl < 20 && memcmp(h.value, want, (size_t)wl) == 0) {
            char num[24];
            memcpy(num, h.value + wl, (size_t)(h.value_len - wl));
            num[h.value_len - wl] = 0;
            char *end = NULL;
            long long v = strtoll(num, &end, 10);
            if (end && !*end && v >= 0) src = v;
        }
    }
    if (!site || src < 0) return;
    if (src > m->scan_here) m->scan_here = src;
    if (src > m->scan_found) m->scan_found = src;
}

static void on_scan_fetch(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_SCAN || m->scan_step != 2) return;
    int16_t err = 0;
    int64_t pos = 0, lso = 0;
    if (!fetch_walk(m, r, key, ver, m->scan_pos, take_src, &err, &pos, &lso)) return;
    if (err == K_OFFSET_OUT_OF_RANGE) { /* retention moved the start: measure again */
        m->scan_step = 0;
        ed_mirror_later(m, RETRY_MS);
        return;
    }
    if (err) {
        scan_error(m, err);
        return;
    }
    bool progress = pos > m->scan_pos;
    m->scan_pos = pos;
    if (pos < m->scan_hi && pos < lso) { /* more of this window */
        if (progress)
            ed_mirror_scan_step(m);
        else
            ed_mirror_later(m, RETRY_MS);
        return;
    }
    if (m->scan_here >= 0) { /* the newest of it in this upstream partition */
        ed_mirror_scan_next(m);
        return;
    }
    m->scan_hi = m->scan_lo;
    m->scan_win *= 2;
    scan_window(m);
}
