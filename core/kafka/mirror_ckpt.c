/* The mirror reads its checkpoints: the Fetch of the checkpoint topic
 * (read_committed, up to the last stable offset), each record's resume
 * point, and what follows once every partition's resume point is known. */
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

void ed_mirror_enc_ckpt_fetch(ed_kwr *w, int16_t ver, const void *arg)
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

static void ckpt_done(ed_mirror *m);

void ed_mirror_on_ckpt_fetch(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_CKPT) return;
    struct ed_kmsg_fetch_response f;
    struct ed_kc_mem mem;
    if (!ed_mirror_decode(m, r, key, ver, &mem, &f, "Fetch")) return;
    const struct ed_kmsg_fetch_response_partition_data *pd = NULL;
    if (f.n_responses > 0 && f.responses[0].n_partitions > 0) pd = &f.responses[0].partitions[0];
    int16_t err = f.error_code ? f.error_code : (pd ? pd->error_code : K_UNKNOWN_TOPIC);
    if (err) {
        ed_kc_free(&mem);
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
        ed_mirror_restart(m, "out of memory reading the checkpoints");
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
    ed_mirror_later(m, progress ? 0 : RETRY_MS);
}

/* The checkpoints are read: every partition's resume point is known. */
static void ckpt_done(ed_mirror *m)
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
