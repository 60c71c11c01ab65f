/* One mirror transaction: the AddPartitionsToTxn, Produce and EndTxn
 * requests and their responses, building the batches from the local
 * logs, and the bandwidth cap. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ED_LOG_MODULE "mirror"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "storage/batch.h"
#include "storage/codec.h"
#include "core/kafka/klink.h"
#include "core/kafka/schema.h"
#include "core/kafka/mirror.h"
#include "core/kafka/mirror_int.h"
#include "core/config.h"
#include "core/topics.h"

void ed_mirror_enc_add_parts(ed_kwr *w, int16_t ver, const void *arg)
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

void ed_mirror_enc_produce(ed_kwr *w, int16_t ver, const void *arg)
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
            if (ed_mirror_unsent(&m->ut[i], p) && m->ut[i].leader[p] == pa->leader) {
                nt++;
                break;
            }
    r.n_topic_data = nt;
    r.topic_data = ED_KC_STRUCTS(nt, produce_request_topic_produce_data);
    for (int i = 0, t = 0; r.topic_data && i < m->n_ut; i++) {
        const struct utopic *u = &m->ut[i];
        int32_t np = 0;
        for (int32_t p = 0; p < u->n_parts; p++)
            np += ed_mirror_unsent(u, p) && u->leader[p] == pa->leader;
        if (!np) continue;
        struct ed_kmsg_produce_request_topic_produce_data *d = &r.topic_data[t++];
        d->name = ed_kc_str(u->name);
        d->n_partition_data = np;
        d->partition_data = ED_KC_STRUCTS(np, produce_request_partition_produce_data);
        for (int32_t p = 0, k = 0; d->partition_data && p < u->n_parts; p++)
            if (ed_mirror_unsent(u, p) && u->leader[p] == pa->leader) {
                d->partition_data[k].index = p;
                d->partition_data[k].records = (ed_kbytes){u->batch[p], (int32_t)u->batch_len[p]};
                k++;
            }
    }
    ed_kc_enc_finish(&a, w, ED_KMSG_PRODUCE, ver, &r);
}

void ed_mirror_enc_end_txn(ed_kwr *w, int16_t ver, const void *arg)
{
    const ed_mirror *m = arg;
    ED_KC_ENC_BEGIN(end_txn_request, r);
    r.transactional_id = ed_kc_str(m->txn_id);
    r.producer_id = m->pid;
    r.producer_epoch = m->epoch;
    r.committed = true;
    ed_kc_enc_finish(&a, w, ED_KMSG_END_TXN, ver, &r);
}

/* ---- one transaction ---- */

/* No batch held: a transaction begins or ended. */
static void clear_batches(ed_mirror *m)
{
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++) {
            m->ut[i].batch[p] = NULL;
            m->ut[i].n_added[p] = 0;
            m->ut[i].acked[p] = false;
        }
}

/* A new round: no record added yet (the transaction's totals stay). The
 * last round's batches stay until this one is finished: a leader that
 * moved may need them again, and a partition's bytes change only once a
 * record of the new round goes into its builder. */
static void reset_round(ed_mirror *m)
{
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++)
            m->ut[i].n_added[p] = 0;
}

/* Adds a record to upstream partition p of u: ED_ERR_TOOBIG when its batch
 * is full. */
static int add_record(ed_mirror *m, struct utopic *u, int32_t p, const struct ed_record *rec,
                      const struct ed_record_header *h, size_t n_h)
{
    if (!u->bld[p]) {
        int rc = ed_batch_builder_new((size_t)m->batch_len, &u->bld[p]);
        if (rc) return rc;
        ed_batch_builder_set_codec(u->bld[p], &m->codec);
        /* compressed as the records come: no batch-sized copy of them. Not
         * the checkpoint batch (a few short records): a stream's context
         * is sized for a whole window and held while the data batches of
         * the round are open beside it, where compressing its records at
         * the end with the shared context takes one sized for them */
        if (u != &m->ut[m->ck_ut]) ed_batch_builder_set_stream(u->bld[p], ZSTD_WINDOW_LOG);
    }
    if (!u->n_added[p]) {
        /* the last round's batch of p is overwritten from here on (an
         * answer for it then finds nothing and aborts the transaction) */
        u->batch[p] = NULL;
        u->acked[p] = false;
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

/* ---- bandwidth cap: a token bucket ---- */

/* The bucket holds one second's bytes, or twice the last transaction's
 * duration (AddPartitionsToTxn to commit) worth when that is longer (long
 * round trips), up to RATE_BUCKET_MAX_MS: what accrues while one
 * transaction is under way must fit, or the round trips and not the cap
 * would set the pace. */
static int64_t bucket(const ed_mirror *m)
{
    int64_t ms = 2 * m->txn_took_ms > 1000 ? 2 * m->txn_took_ms : 1000;
    if (ms > RATE_BUCKET_MAX_MS) ms = RATE_BUCKET_MAX_MS;
    return m->rate * ms / 1000;
}

/* Record bytes one transaction may take: with a cap, what the bucket
 * holds (at least 1 KiB; the batches' framing and the last record may
 * overdraw it a little, the next transaction waits for that). */
static int64_t txn_cap(const ed_mirror *m)
{
    if (!m->rate) return m->txn_max_len;
    int64_t b = m->tokens > 1024 ? m->tokens : 1024;
    return b < m->txn_max_len ? b : m->txn_max_len;
}

static void refill(ed_mirror *m)
{
    uint64_t now = ed_plat_loop_now_ms(m->b->loop);
    uint64_t dt_ms = now - m->tokens_ms;
    int64_t add =
        (int64_t)(dt_ms < RATE_BUCKET_MAX_MS ? dt_ms : RATE_BUCKET_MAX_MS) * m->rate / 1000;
    if (add <= 0) return;
    int64_t full = bucket(m);
    m->tokens = m->tokens + add > full ? full : m->tokens + add;
    m->tokens_ms = now;
}

/* ms until the next transaction may go, 0 = now: once nothing is owed;
 * after a transaction that filled its limit (a backlog), once a second's
 * worth has gathered, so that transactions stay large. */
uint32_t ed_mirror_rate_wait_ms(ed_mirror *m)
{
    if (!m->rate) return 0;
    refill(m);
    int64_t want = 0;
    if (m->txn_filled) {
        want = m->rate < m->txn_max_len ? m->rate : m->txn_max_len;
        if (want > bucket(m)) want = bucket(m);
    }
    if (m->tokens >= want) return 0;
    return (uint32_t)(((want - m->tokens) * 1000 + m->rate - 1) / m->rate);
}

static int rbuf_room(ed_mirror *m, size_t len)
{
    if (len <= m->rbuf_cap) return ED_OK;
    uint8_t *nb = ed_realloc(m->rbuf, len);
    if (!nb) return ED_ERR_NOMEM;
    m->rbuf = nb;
    m->rbuf_cap = len;
    return ED_OK;
}

/* Reads local batches of log from pos into m->rbuf, as
 * ed_mirror_read_local; with pieces, a zstd batch larger than
 * READ_CHUNK_LEN on its own stays on flash but for its header (m->rslice
 * holds it): its records are decompressed as it is read, a piece at a
 * time, so that no whole copy of it is held beside its records. */
static int read_local(ed_mirror *m, ed_log *log, int64_t pos, size_t *len, bool pieces)
{
    *len = 0;
    m->kept.log = NULL; /* an uncompressed batch kept would point into rbuf */
    ed_log_slice_release(&m->rslice);
    struct ed_log_slice s;
    int rc = ed_log_read(log, pos, ED_MIN((size_t)m->batch_len, READ_CHUNK_LEN), &s);
    if (rc != ED_OK || !s.seg) return rc;
    struct ed_batch_info bi;
    size_t got = 0;
    if (pieces && s.len > READ_CHUNK_LEN && rbuf_room(m, ED_BATCH_HEADER_LEN) == ED_OK &&
        ed_plat_file_pread(s.file, m->rbuf, ED_BATCH_HEADER_LEN, s.pos, &got) == ED_OK &&
        got == ED_BATCH_HEADER_LEN &&
        ed_batch_parse_header(m->rbuf, ED_BATCH_HEADER_LEN, &bi) == ED_OK &&
        ed_batch_total_len(&bi) == s.len && ed_batch_compression(&bi) == ED_COMPRESSION_ZSTD &&
        bi.record_count > 0) {
        m->rslice = s;
        *len = ED_BATCH_HEADER_LEN;
        return ED_OK;
    }
    rc = rbuf_room(m, s.len);
    if (rc == ED_OK) rc = ed_log_slice_copy(&s, m->rbuf, m->rbuf_cap);
    if (rc == ED_OK) *len = s.len;
    ed_log_slice_release(&s);
    return rc;
}

int ed_mirror_read_local(ed_mirror *m, ed_log *log, int64_t pos, size_t *len)
{
    return read_local(m, log, pos, len, false);
}

static int read_piece(void *arg, size_t at, uint8_t *buf, size_t len)
{
    const ed_mirror *m = arg;
    size_t got = 0;
    int rc = ed_plat_file_pread(m->rslice.file, buf, len, m->rslice.pos + at, &got);
    return rc != ED_OK ? rc : got == len ? ED_OK : ED_ERR_CORRUPT;
}

/* Makes the batch at m->rbuf + off (len bytes read) ready in m->it: read in
 * pieces when rbuf holds its header only. */
static int begin_batch(ed_mirror *m, size_t off, size_t len)
{
    if (!m->rslice.seg) return ed_batch_iter_begin(&m->it, m->rbuf + off, len - off);
    int rc = ed_batch_iter_begin_read(&m->it, m->rbuf, m->rslice.len, read_piece, m);
    ed_log_slice_release(&m->rslice);
    return rc;
}

void ed_mirror_txn_trim(ed_mirror *m)
{
    if (!m->rbuf) return; /* nothing copied since the last trim */
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++)
            if (m->ut[i].bld[p]) ed_batch_builder_trim(m->ut[i].bld[p]);
    ed_free(m->rbuf);
    m->rbuf = NULL;
    m->rbuf_cap = 0;
    ed_log_slice_release(&m->rslice);
    ed_batch_iter_release(&m->it);
    m->kept.log = NULL;
    ed_codec_release(&m->codec);
    m->codec.zstd_table_log = ZSTD_TABLE_LOG;
    ed_plat_mem_trim();
}

/* ---- priorities ---- */

/* Walks mirror.priority ("pattern:priority,..."): every item must be
 * well formed; *prio gets the priority of the first pattern matching all
 * of topic (NULL: none), else 0. */
static int walk_priority(const char *cfg, const char *topic, int32_t *prio, char *why,
                         size_t why_len)
{
    bool found = false;
    *prio = 0;
    for (const char *p = cfg; *p;) {
        size_t n = strcspn(p, ",");
        char item[300];
        size_t a = 0, z = n;
        while (a < z && p[a] == ' ')
            a++;
        while (z > a && p[z - 1] == ' ')
            z--;
        if (z > a) {
            snprintf(item, sizeof item, "%.*s", (int)(z - a), p + a);
            char *colon = strrchr(item, ':'), *end = NULL;
            long v = colon && colon[1] ? strtol(colon + 1, &end, 10) : 0;
            if (z - a >= sizeof item || !colon || colon == item || !end || *end || v < -1000000 ||
                v > 1000000) {
                snprintf(why, why_len,
                         "mirror.priority: '%s' is not pattern:priority (an integer from "
                         "-1000000 to 1000000)",
                         item);
                return ED_ERR_INVAL;
            }
            *colon = 0;
            if (topic && !found && ed_mirror_match(item, topic)) {
                *prio = (int32_t)v;
                found = true;
            }
        }
        p += n;
        if (*p == ',') p++;
    }
    return ED_OK;
}

int ed_mirror_priority_check(const char *cfg, char *why, size_t why_len)
{
    int32_t prio;
    return walk_priority(cfg, NULL, &prio, why, why_len);
}

int32_t ed_mirror_priority_of(const ed_mirror *m, const char *topic)
{
    int32_t prio = 0;
    char why[8];
    walk_priority(m->prio_cfg, topic, &prio, why, sizeof why); /* checked at start */
    return prio;
}

/* The iterator's place in the batch it reads. */
static struct ed_mirror_kept_at iter_at(const struct ed_batch_iter *it)
{
    return (struct ed_mirror_kept_at){it->pos, it->end, it->n_left, it->prev_delta};
}

/* A round stops inside the batch in m->it, at offset at (the iterator at
 * that record): a compressed batch is kept for the next round, which goes
 * on there rather than read and decompress it again. */
static void keep_batch(ed_mirror *m, const ed_log *log, int64_t at, struct ed_mirror_kept_at where)
{
    m->kept.log = NULL;
    if (ed_batch_compression(&m->it.info) == ED_COMPRESSION_NONE || !where.n_left) return;
    m->kept.log = log;
    m->kept.at = at;
    m->kept.base_offset = m->it.info.base_offset;
    m->kept.length = m->it.info.length;
    m->kept.crc = m->it.info.crc;
    m->kept.buf = m->it.buf;
    m->kept.where = where;
}

/* Puts m->it back where a round stopped, when p resumes there and the
 * iterator still holds that batch (the checkpoint reading and the gap
 * count use it too: then it is read again). */
static bool kept_at(const ed_mirror *m, const ed_log *log, int64_t pos)
{
    const struct ed_mirror_kept *k = &m->kept;
    return k->log && k->log == log && k->at == pos && m->it.err == ED_OK && m->it.buf == k->buf &&
           m->it.info.base_offset == k->base_offset && m->it.info.length == k->length &&
           m->it.info.crc == k->crc;
}

static bool resume_batch(ed_mirror *m, const ed_log *log, int64_t pos)
{
    const struct ed_mirror_kept *k = &m->kept;
    bool same = kept_at(m, log, pos);
    m->kept.log = NULL;
    if (!same) return false;
    m->it.pos = k->where.pos;
    m->it.end = k->where.end;
    m->it.n_left = k->where.n_left;
    m->it.prev_delta = k->where.prev_delta;
    return true;
}

/* When the transaction stopped inside a batch the iterator still holds,
 * the CreateTime of p's next record goes to the status from there, read
 * through a copy of the iterator (sharing its buffers, never freed), so
 * that the status does not read and decompress that batch again. */
static void note_oldest(ed_mirror *m, struct mpart *p)
{
    const ed_log *log = ed_mirror_part_log(m, p);
    if (!log || !kept_at(m, log, p->next)) return;
    struct ed_batch_iter c = m->it;
    const struct ed_mirror_kept_at *w = &m->kept.where;
    c.pos = w->pos;
    c.end = w->end;
    c.n_left = w->n_left;
    c.prev_delta = w->prev_delta;
    struct ed_record rec;
    while (ed_batch_iter_next(&c, &rec) == 1)
        if (rec.offset >= p->next) {
            p->oldest_ts = rec.timestamp;
            p->oldest_off = p->next;
            return;
        }
}

/* Copies the records of the batch in m->it from *pos on (below durable)
 * into the round's batches. False when the round stops (p->txn_next set,
 * the batch kept). */
static bool copy_records(ed_mirror *m, struct mpart *p, const ed_log *log, int64_t *pos,
                         int64_t durable)
{
    struct utopic *u = &m->ut[p->ut];
    char src[ED_TOPIC_NAME_MAX + 64];
    struct ed_record rec;
    struct ed_mirror_kept_at before = iter_at(&m->it);
    for (; ed_batch_iter_next(&m->it, &rec) == 1; before = iter_at(&m->it)) {
        if (rec.offset < *pos || rec.offset >= durable) continue;
        if (ensure_hdrs(m, (size_t)rec.n_headers + 2) != ED_OK) {
            p->txn_next = *pos;
            return false;
        }
        size_t n_h = 0, cur = 0;
        struct ed_record_header h;
        while (n_h < (size_t)rec.n_headers && ed_record_next_header(&rec, &cur, &h) == 1)
            m->hdrs[n_h++] = h;
        int sl =
            snprintf(src, sizeof src, "%s/%d/%" PRId64, p->topic, (int)p->partition, rec.offset);
        m->hdrs[n_h++] = (struct ed_record_header){
            (const uint8_t *)"eddy.site", 9, (const uint8_t *)m->site, (int32_t)strlen(m->site)};
        m->hdrs[n_h++] =
            (struct ed_record_header){(const uint8_t *)"eddy.src", 8, (const uint8_t *)src, sl};
        int32_t up = ed_mirror_map(p, rec.key, rec.key_len);
        if (add_record(m, u, up, &rec, m->hdrs, n_h) != ED_OK) {
            p->txn_next = *pos;
            keep_batch(m, log, *pos, before); /* that batch is full: the rest goes next time */
            return false;
        }
        m->txn_len += (rec.key_len > 0 ? rec.key_len : 0) +
                      (rec.value_len > 0 ? rec.value_len : 0) + (int64_t)rec.headers_len;
        *pos = rec.offset + 1;
        p->n_copied++;
        if (m->txn_len >= m->txn_limit) {
            p->txn_next = *pos;
            keep_batch(m, log, *pos, iter_at(&m->it));
            return false;
        }
    }
    return true;
}

/* Copies records of p from p->txn_next on into the round's batches.
 * Returns false when a batch or the transaction is full. A later round
 * (more) only continues partitions the transaction already moved, each to
 * its own upstream partition (already in the transaction), and none that
 * announces a gap or lost records since the transaction began. */
static bool take_part(ed_mirror *m, struct mpart *p, bool more)
{
    ed_log *log = ed_mirror_part_log(m, p);
    struct utopic *u = &m->ut[p->ut];
    if (!log || !u->n_parts || !p->map_n || p->next < 0) return true; /* no checkpoint yet */
    if (u->refused) return true;                                      /* LogAppendTime upstream */
    int64_t durable = ed_log_durable_offset(log);
    int64_t start = ed_log_start_offset(log);
    if (more && (p->txn_next <= p->next || p->gap_last >= 0 || p->txn_next < start ||
                 p->partition >= p->map_n))
        return true;
    p->lag = durable > p->next ? durable - p->next : 0;
    if (p->next < start) {
        /* dropped before it was mirrored (ed_mirror_check_start let only
         * drop-oldest come here): this transaction announces the gap */
        p->gap_last = start - 1;
        p->txn_next = start;
    }
    if (p->txn_next >= durable) return true;
    int64_t pos = p->txn_next;
    if (resume_batch(m, log, pos)) {
        if (!copy_records(m, p, log, &pos, durable)) return false;
        int64_t last = m->it.info.base_offset + m->it.info.last_offset_delta;
        if (last + 1 > pos && last + 1 <= durable) pos = last + 1; /* compaction gaps */
    }
    for (int64_t before = -1; pos < durable && pos != before;) {
        before = pos;
        size_t len = 0;
        if (read_local(m, log, pos, &len, true) != ED_OK || len == 0) break;
        size_t off = 0;
        while (off + ED_BATCH_HEADER_LEN <= len && pos < durable) {
            if (begin_batch(m, off, len) != ED_OK) {
                ED_LOG_WARN_RL("%s-%d: batch at offset %" PRId64 " cannot be read; mirror stalls",
                               p->topic, (int)p->partition, pos);
                p->txn_next = pos;
                return false;
            }
            struct ed_batch_info bi = m->it.info;
            off += ed_batch_total_len(&bi);
            int64_t last = bi.base_offset + bi.last_offset_delta;
            if (last < pos) continue;
            if (!copy_records(m, p, log, &pos, durable)) return false;
            if (last + 1 > pos && last + 1 <= durable) pos = last + 1; /* compaction gaps */
        }
        if (off == 0) break;
    }
    p->txn_next = pos;
    return true;
}

void ed_mirror_txn_failed(ed_mirror *m, const char *why)
{
    ed_mirror_restart(m, why);
}

/* Closes the round's batches; false when one cannot be (out of memory):
 * the round is then not whole, and its checkpoint records must not go. */
static bool finish_batches(ed_mirror *m)
{
    bool ok = true;
    for (int i = 0; i < m->n_ut; i++) {
        struct utopic *u = &m->ut[i];
        for (int32_t p = 0; p < u->n_parts; p++) {
            u->batch[p] = NULL; /* the last round's, sent */
            u->acked[p] = false;
            if (!u->n_added[p]) continue;
            uint8_t *out = NULL;
            size_t len = 0;
            if (ed_mirror_fault_point(m, "nomem-finish") ||
                ed_batch_builder_finish(u->bld[p], &out, &len) != ED_OK) {
                ok = false;
                continue;
            }
            /* transactional: attributes bit 4, inside the CRC (bytes 21..) */
            ed_put_be16(out + 21, (uint16_t)(ed_get_be16(out + 21) | 16u));
            ed_put_be32(out + 17, ed_crc32c(0, out + 21, len - 21));
            u->batch[p] = out;
            u->batch_len[p] = len;
            u->seq[p] += u->n_added[p]; /* the next round's batch follows it */
        }
    }
    return ok;
}

/* Builds a round: one batch per upstream partition, from the priority
 * levels down (round robin within one); a lower level takes at most a
 * quarter of the transaction once a higher one has data in it, so live
 * data of a higher partition never waits long behind a lower one's
 * backlog. Every round carries the checkpoint records of the partitions
 * the transaction has moved so far (the last one read wins), the first
 * one the gap records too. False if it took nothing. */
static bool build_round(ed_mirror *m, bool more)
{
    /* what the last round freed goes back to the OS before this one
     * allocates: without it glibc keeps the freed batch-sized blocks in
     * its heap (it raises its mapping threshold after the first large
     * free), and they count as resident while mirroring */
    ed_plat_mem_trim();
    reset_round(m);
    m->build_failed = false;
    int64_t moved = 0;
    for (int i = 0; i < m->n_mp; i++)
        moved += m->mp[i].txn_next;
    bool any = more, go_on = true;
    for (int64_t level = INT64_MAX; go_on;) {
        int64_t next = INT64_MIN;
        for (int i = 0; i < m->n_mp; i++)
            if (m->mp[i].prio < level && m->mp[i].prio > next) next = m->mp[i].prio;
        if (next == INT64_MIN) break;
        if (any && level != INT64_MAX) {
            int64_t lower = m->txn_len + txn_cap(m) / 4;
            if (lower < m->txn_limit) m->txn_limit = lower;
        }
        level = next;
        for (int k = 0; k < m->n_mp && go_on; k++) {
            struct mpart *p = &m->mp[(m->rr + k) % m->n_mp];
            if (p->prio != level) continue;
            go_on = take_part(m, p, more);
            if (p->txn_next > p->next) any = true;
        }
    }
    m->txn_filled = m->txn_len >= m->txn_limit;
    for (int i = 0; i < m->n_mp; i++)
        moved -= m->mp[i].txn_next;
    if (!any || (more && moved == 0)) return false;
    struct utopic *ck = &m->ut[m->ck_ut];
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        if (p->txn_next <= p->next) continue;
        char key[400], val[600];
        int kl = 0, vl = 0;
        struct ed_record rec;
        memset(&rec, 0, sizeof rec);
        rec.key = (const uint8_t *)key;
        rec.value = (const uint8_t *)val;
        rec.timestamp = ed_plat_clock_wall_ms();
        /* the gap first, then the resume point that moves past it */
        if (p->gap_last >= 0 && !more) {
            if (ed_mirror_gap_record(m, p, key, sizeof key, val, sizeof val, &kl, &vl) != ED_OK ||
                (rec.key_len = kl, rec.value_len = vl,
                 add_record(m, ck, m->ck_part, &rec, NULL, 0) != ED_OK)) {
                m->build_failed = true;
                return false;
            }
        }
        kl = snprintf(key, sizeof key, "%s|%s|%d", m->site, p->topic, (int)p->partition);
        vl = snprintf(val, sizeof val, "%" PRId64, p->txn_next);
        rec.key_len = kl;
        rec.value_len = vl;
        if (add_record(m, ck, m->ck_part, &rec, NULL, 0) != ED_OK) {
            m->build_failed = true;
            return false;
        }
    }
    if (!finish_batches(m)) {
        m->build_failed = true;
        return false;
    }
    return true;
}

/* Builds the first round of the next transaction; false if there is
 * nothing to copy. The upstream partition counts are taken here only:
 * every round of one transaction maps a source partition the same way. */
bool ed_mirror_build_txn(ed_mirror *m)
{
    ed_mirror_remap(m);
    clear_batches(m);
    for (int i = 0; i < m->n_mp; i++) {
        m->mp[i].txn_next = m->mp[i].next;
        m->mp[i].gap_last = -1;
    }
    m->txn_len = 0;
    m->txn_limit = txn_cap(m);
    m->n_produce_out = 0;
    m->n_rounds = 0;
    for (int k = 0; k <= ROUNDS_IN_FLIGHT; k++)
        m->rounds[k] = (struct ed_mirror_round){m, 0, 0, 0};
    m->moved = m->moved_lost = false;
    m->n_move_tries = m->n_coord_tries = 0;
    bool any = build_round(m, false);
    if (m->build_failed) { /* nothing sent yet: the next try starts over */
        ED_LOG_WARN_RL("upstream: cannot build a transaction (out of memory); trying again");
        for (int i = 0; i < m->n_mp; i++)
            m->mp[i].txn_next = m->mp[i].next;
    }
    m->rr = m->n_mp ? (m->rr + 1) % m->n_mp : 0;
    m->round_ready = m->txn_more = any;
    return any;
}

/* Another round may be built: the transaction is below its limit and,
 * by the last measured round trip, will still end well inside the
 * transaction timeout (a slow link keeps one round per transaction). */
static bool may_grow(const ed_mirror *m)
{
    if (m->txn_len >= m->txn_limit) return false;
    uint64_t open_ms = ed_plat_loop_now_ms(m->b->loop) - m->txn_start_ms;
    return open_ms + 2 * (uint64_t)m->round_ms <= (uint64_t)m->txn_max_ms / 4;
}

/* Sends the built round: one Produce per leader, each link with fewer than
 * ROUNDS_IN_FLIGHT requests outstanding. False when it has to wait (a link
 * coming up steps again, an answer pumps again) or the transaction failed.
 * After a leader moved, the round is what the new leaders have not
 * acknowledged of the last one, byte for byte (the same sequences). */
static bool send_round(ed_mirror *m)
{
    int32_t leaders[MAX_NODES];
    int n_leaders = 0, n_parts = 0;
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++) {
            if (!ed_mirror_unsent(&m->ut[i], p)) continue; /* or written before a leader moved */
            n_parts++;
            int32_t l = m->ut[i].leader[p];
            bool seen = false;
            for (int k = 0; k < n_leaders; k++)
                seen |= leaders[k] == l;
            if (!seen && n_leaders < MAX_NODES) leaders[n_leaders++] = l;
        }
    for (int k = 0; k < n_leaders; k++) {
        ed_klink *l = ed_mirror_link_to(m, leaders[k]);
        if (!l || ed_klink_in_flight(l) >= ROUNDS_IN_FLIGHT) return false;
    }
    struct ed_mirror_round *rd = &m->rounds[m->n_rounds % (ROUNDS_IN_FLIGHT + 1)];
    if (rd->n_out > 0) return false; /* an answer pumps again */
    if (m->n_rounds == 0) {
        ed_mirror_crash_point(m, "before-produce");
        m->round_sent_ms = ed_plat_loop_now_ms(m->b->loop);
        m->txn_t_ns[2] = ed_plat_clock_mono_ns();
    }
    for (int i = 0; m->rate && i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++)
            if (ed_mirror_unsent(&m->ut[i], p)) m->tokens -= (int64_t)m->ut[i].batch_len[p];
    *rd = (struct ed_mirror_round){m, m->n_rounds + 1, 0, n_parts};
    for (int k = 0; k < n_leaders; k++) {
        struct produce_arg pa = {m, leaders[k]};
        int rc = ed_klink_send(ed_mirror_link_to(m, leaders[k]), ED_KMSG_PRODUCE,
                               ed_mirror_enc_produce, &pa, 0, ed_mirror_on_produce, rd);
        if (rc) {
            ed_mirror_txn_failed(m, "cannot send Produce");
            return false;
        }
        rd->n_out++;
        m->n_produce_out++;
    }
    ed_mirror_crash_point(m, "after-produce");
    m->n_rounds++;
    ed_plat_mem_trim(); /* the requests' copies the socket took at once */
    return true;
}

void ed_mirror_txn_pump(ed_mirror *m)
{
    if (m->moved) {
        /* a leader moved: no further round; every Produce of every round
         * answered first (nothing of the transaction in flight) */
        m->txn_more = false;
        if (m->n_produce_out > 0) return;
        if (m->moved_lost || m->round_ready) {
            /* a refused batch was an earlier round's, no longer held (and
             * a later round may follow it): abort, resume from the
             * checkpoints under a new epoch */
            ed_mirror_txn_failed(m, "a leader moved under a transaction of several rounds");
            return;
        }
        ed_mirror_leaders_moved(m); /* the last round's refused batches, once more */
        return;
    }
    if (m->round_ready) {
        if (!send_round(m)) return;
        m->round_ready = false;
    }
    /* the next round is built while this one is on its way (the local
     * reading and compressing overlap the upstream's work) */
    if (m->txn_more && may_grow(m)) {
        m->round_ready = build_round(m, true);
        if (m->build_failed) {
            /* records of this round moved its partitions on: committing
             * the rounds before it would skip them */
            ed_mirror_txn_failed(m, "cannot build the next round (out of memory)");
            return;
        }
        if (m->round_ready) {
            ed_mirror_later(m, 0); /* sent from the loop, answers read first */
            return;
        }
    }
    m->txn_more = false;
    if (m->n_produce_out > 0) return;
    for (int i = 0; i < m->n_ut; i++)
        for (int32_t p = 0; p < m->ut[i].n_parts; p++)
            if (ed_mirror_unsent(&m->ut[i], p)) {
                ed_mirror_txn_failed(m, "a Produce answer left a partition out");
                return;
            }
    ed_mirror_crash_point(m, "before-endtxn");
    /* a send armed from an earlier round must not step P_END twice */
    ed_plat_timer_stop(m->b->loop, &m->timer);
    m->phase = P_END;
    ed_mirror_step(m);
}

void ed_mirror_on_add_parts(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_ADD) return;
    struct ed_kmsg_add_partitions_to_txn_response a;
    struct ed_kc_mem mem;
    if (!ed_mirror_decode(m, r, key, ver, &mem, &a, "AddPartitionsToTxn")) return;
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
        ed_mirror_kafka_error(m, "AddPartitionsToTxn", err);
        return;
    }
    m->phase = P_PRODUCE;
    ed_mirror_step(m);
}

void ed_mirror_on_produce(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ED_UNUSED(key);
    struct ed_mirror_round *rd = arg;
    ed_mirror *m = rd->m;
    if (m->phase != P_PRODUCE) return;
    struct ed_kc_produce pr;
    memset(&pr, 0, sizeof pr);
    if (ed_kc_dec_produce(r, ver, &pr) != ED_OK) {
        ed_kc_free(&pr.mem);
        ed_mirror_txn_failed(m, "malformed Produce response");
        return;
    }
    /* the batches in ut are this answer's while its round is the last
     * one sent and no later one is built */
    bool current = rd->round == m->n_rounds && !m->round_ready;
    int16_t err = ed_mirror_produce_results(m, &pr, current);
    rd->n_out--;
    rd->n_parts -= pr.n;
    ed_kc_free(&pr.mem);
    if (err) {
        /* whatever this transaction wrote is aborted by the new epoch */
        char why[160];
        snprintf(why, sizeof why, "Produce failed: %s", ed_kc_errname(err));
        if (err == K_PRODUCER_FENCED || err == K_INVALID_PRODUCER_EPOCH)
            ed_mirror_kafka_error(m, "Produce", err);
        else
            ed_mirror_txn_failed(m, why);
        return;
    }
    if ((rd->n_out == 0) != (rd->n_parts == 0)) { /* its answers and its partitions differ */
        ed_mirror_txn_failed(m, "a Produce answer left a partition out");
        return;
    }
    if (m->round_sent_ms) { /* the transaction's first answer: the round trip */
        m->round_ms = (int64_t)(ed_plat_loop_now_ms(m->b->loop) - m->round_sent_ms);
        m->round_sent_ms = 0;
    }
    m->n_produce_out--;
    ed_mirror_txn_pump(m);
}

void ed_mirror_on_end_txn(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ed_mirror *m = arg;
    if (m->phase != P_END) return;
    struct ed_kmsg_end_txn_response e;
    struct ed_kc_mem mem;
    if (!ed_mirror_decode(m, r, key, ver, &mem, &e, "EndTxn")) return;
    ed_kc_free(&mem);
    if (e.error_code) {
        if (e.error_code == K_CONCURRENT_TXNS || e.error_code == K_COORD_LOADING) {
            ed_mirror_later(m,
                            e.error_code == K_CONCURRENT_TXNS ? CONCURRENT_RETRY_MS : RETRY_MS / 4);
            return;
        }
        if (e.error_code == K_PRODUCER_FENCED || e.error_code == K_INVALID_PRODUCER_EPOCH ||
            e.error_code == K_NOT_COORD || e.error_code == K_COORD_NOT_AVAILABLE) {
            ed_mirror_kafka_error(m, "EndTxn", e.error_code);
            return;
        }
        /* the outcome is the coordinator's to finish: InitProducerId waits
         * for it, and the checkpoints then say what was committed */
        char why[160];
        snprintf(why, sizeof why, "EndTxn failed: %s", ed_kc_errname(e.error_code));
        ed_mirror_txn_failed(m, why);
        return;
    }
    ed_mirror_crash_point(m, "after-endtxn");
    /* committed (the sequences moved on as each round was built): the
     * local marks */
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        p->next = p->txn_next;
        p->mark = p->next;
        note_oldest(m, p);
    }
    m->n_bytes += (uint64_t)m->txn_len;
    const uint64_t *t = m->txn_t_ns;
    uint64_t gap = t[4] && t[0] > t[4] ? t[0] - t[4] : 0;
    m->txn_t_ns[4] = ed_plat_clock_mono_ns();
    ED_LOG_DBG("txn %" PRIu64 ": %" PRId64 " record bytes; since last %" PRIu64
               " us, build %" PRIu64 " us, add %" PRIu64 " us, produce %" PRIu64 " us, end %" PRIu64
               " us",
               m->n_txns + 1, m->txn_len, gap / 1000, (t[1] - t[0]) / 1000, (t[2] - t[1]) / 1000,
               (t[3] - t[2]) / 1000, (t[4] - t[3]) / 1000);
    m->txn_took_ms = (int64_t)(ed_plat_loop_now_ms(m->b->loop) - m->txn_start_ms);
    clear_batches(m);
    m->txn_len = 0;
    m->n_txns++;
    ed_mirror_save_state_soon(m);
    ed_mirror_gap_committed(m);
    m->phase = P_IDLE;
    ed_mirror_later(m, 0);
}
