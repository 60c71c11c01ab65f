/* The upstream changing under a running mirror: a partition leader that
 * moves in the middle of a transaction (the refused batches wait for the
 * answers still out, then go to the new leader within the same
 * transaction, same producer id, epoch and sequences), the Metadata
 * refresh between transactions, and the mapping of source partitions to
 * upstream partitions when an upstream topic gains partitions. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ED_LOG_MODULE "mirror"
#include "platform/log.h"
#include "platform/mem.h"
#include "platform/platform.h"
#include "core/kafka/mirror_int.h"
#include "core/partitioner.h"

/* Grows (or shrinks) one array of n_old elements of size len to n, the
 * new elements zeroed. */
static bool resize_one(void **arr, size_t len, int32_t n_old, int32_t n)
{
    void *a = ed_realloc(*arr, len * (size_t)(n > 0 ? n : 1));
    if (!a) return false;
    if (n > n_old) memset((uint8_t *)a + len * (size_t)n_old, 0, len * (size_t)(n - n_old));
    *arr = a;
    return true;
}

int ed_mirror_ut_resize(struct utopic *u, int32_t n)
{
    int32_t o = u->n_parts;
    for (int32_t p = n; u->bld && p < o; p++) {
        ed_batch_builder_free(u->bld[p]);
        u->bld[p] = NULL;
    }
    if (!resize_one((void **)&u->leader, sizeof *u->leader, o, n) ||
        !resize_one((void **)&u->seq, sizeof *u->seq, o, n) ||
        !resize_one((void **)&u->n_added, sizeof *u->n_added, o, n) ||
        !resize_one((void **)&u->bld, sizeof *u->bld, o, n) ||
        !resize_one((void **)&u->batch, sizeof *u->batch, o, n) ||
        !resize_one((void **)&u->batch_len, sizeof *u->batch_len, o, n) ||
        !resize_one((void **)&u->acked, sizeof *u->acked, o, n))
        return ED_ERR_NOMEM; /* the arrays hold at least n_parts still */
    u->n_parts = n;
    return ED_OK;
}

/* ---- a leader moved in the middle of a transaction ---- */

static bool leader_moved_error(int16_t err)
{
    return err == K_NOT_LEADER || err == K_LEADER_NOT_AVAILABLE;
}

/* NOT_ENOUGH_REPLICAS is answered before the append: the batch was not
 * written. Besides an in-sync replica set below min.insync.replicas, a
 * partition leader that verifies transactions (Kafka 3.6+) answers it to
 * a Produce whose transaction it could not verify with a coordinator that
 * moved (seen with 4.3 and Produce v9). Sent again as a moved leader's
 * batch is, the same bytes and sequence. */
static bool not_written_error(int16_t err)
{
    return leader_moved_error(err) || err == K_NOT_ENOUGH_REPLICAS;
}

int16_t ed_mirror_produce_results(ed_mirror *m, const struct ed_kc_produce *pr, bool current)
{
    int16_t other = 0;
    for (int32_t i = 0; i < pr->n; i++) {
        const struct ed_kc_produce_result *r = &pr->parts[i];
        char name[ED_TOPIC_NAME_MAX + 1];
        int ui = ed_kstr_copy(r->topic, name, sizeof name) ? ed_mirror_find_ut(m, name) : -1;
        struct utopic *u = ui >= 0 ? &m->ut[ui] : NULL;
        bool ours = u && r->partition >= 0 && r->partition < u->n_parts &&
                    (!current || u->batch[r->partition]);
        if (!ours) {
            if (!other) other = r->error ? r->error : -1; /* an answer for nothing we sent */
            continue;
        }
        if (r->error == 0) {
            if (current) u->acked[r->partition] = true;
        } else if (not_written_error(r->error)) {
            /* not written by that broker (or, written and replicated before
             * it stepped down, known to the new leader by its sequence) */
            if (!m->moved)
                ED_LOG_WARN("upstream %s-%d: %s from node %d: %s; the transaction waits for its "
                            "other answers, then sends the batch %s",
                            name, (int)r->partition, ed_kc_errname(r->error),
                            (int)u->leader[r->partition],
                            leader_moved_error(r->error)
                                ? "the leader moved"
                                : "not written (too few in-sync replicas, or the transaction "
                                  "not verified with a coordinator that moved)",
                            leader_moved_error(r->error) ? "to the new leader" : "again");
            m->moved = true;
            m->moved_lost |= !current; /* an earlier round's batch: not held any more */
        } else if (!other) {
            other = r->error;
        }
    }
    return other;
}

void ed_mirror_leaders_moved(ed_mirror *m)
{
    /* every answer of the transaction is in (nothing is in flight to the
     * old leader any more): Metadata next, after a backoff while the
     * cluster settles */
    m->moved = false;
    if (++m->n_move_tries > MOVE_TRIES) {
        ed_mirror_txn_failed(m, "a leader moved and no new leader took the batches");
        return;
    }
    uint32_t wait = MOVE_BACKOFF_MS << (m->n_move_tries < 5 ? m->n_move_tries - 1 : 4);
    m->phase = P_LEADERS;
    m->round_ready = true; /* then P_PRODUCE sends what is not acknowledged */
    ed_mirror_later(m, wait < 1000 ? wait : 1000);
}

/* ---- the transaction coordinator moved ---- */

/* The refused AddPartitionsToTxn or EndTxn either did nothing or did it
 * at the old coordinator, whose log the new one reads: sent again there
 * with the same producer id and epoch it is answered as the first would
 * have been (partitions already in the transaction stay added; a commit
 * already written completes, CONCURRENT_TRANSACTIONS until then). A new
 * InitProducerId instead would abort what the transaction wrote. */
void ed_mirror_coord_moved(ed_mirror *m, const char *why)
{
    if (m->phase != P_RECOORD) m->coord_back = m->phase;
    if (++m->n_coord_tries > MOVE_TRIES) {
        ed_mirror_txn_failed(m, "the transaction coordinator moved and no new one answered");
        return;
    }
    if (m->n_coord_tries == 1)
        ED_LOG_WARN("upstream coordinator node %d: %s: the coordinator moved; looking it up "
                    "again, the transaction goes on",
                    (int)m->coord, why);
    uint32_t wait = MOVE_BACKOFF_MS << (m->n_coord_tries < 5 ? m->n_coord_tries - 1 : 4);
    m->phase = P_RECOORD;
    ed_mirror_later(m, wait < 1000 ? wait : 1000);
}

void ed_mirror_coord_found(ed_mirror *m, int32_t id)
{
    if (id != m->coord)
        ED_LOG_INFO("upstream coordinator moved to node %d: the transaction goes on (producer "
                    "id %" PRId64 " epoch %d)",
                    (int)id, m->pid, (int)m->epoch);
    m->coord = id;
    m->phase = m->coord_back;
    ed_mirror_step(m);
}

/* ---- the mapping of source partitions ---- */

int32_t ed_mirror_map(const struct mpart *p, const uint8_t *key, int32_t key_len)
{
    int32_t n = p->map_n;
    if (p->partition < n) return p->partition;
    return key ? ed_partitioner_pick(key, (size_t)key_len, n) : p->partition % n;
}

void ed_mirror_remap(ed_mirror *m)
{
    for (int i = 0; i < m->n_mp; i++) {
        struct mpart *p = &m->mp[i];
        int32_t n = m->ut[p->ut].n_parts;
        if (n <= 0) continue;
        if (p->map_n == n) {
            p->remap_from = -1; /* (one read from mirror.state for a count gone since) */
            continue;
        }
        if (p->map_n && n > p->map_n) {
            /* more partitions: what the site holds now goes on the old
             * way; the new mapping starts once it is all upstream. The
             * switch offset is in mirror.state before any record takes
             * the new mapping, so a restart switches at the same offset
             * (not at the checkpoint it resumes from). */
            ed_log *log = ed_mirror_part_log(m, p);
            if (p->remap_from < 0) {
                p->remap_from = log ? ed_log_durable_offset(log) : 0;
                ED_LOG_INFO("%s-%d: mapped by %d upstream partitions up to offset %" PRId64
                            ", by the new count after it",
                            p->topic, (int)p->partition, (int)p->map_n, p->remap_from);
                ed_mirror_save_state(m);
            }
            if (p->next < p->remap_from) continue;
            if (m->state_dirty && ed_mirror_save_state(m) != ED_OK) continue; /* not yet */
        }
        /* (a recreated topic with fewer partitions leaves no choice) */
        p->remap_from = -1;
        if (p->map_n && p->partition >= p->map_n)
            ED_LOG_INFO("%s-%d: upstream %s has %d partitions now (was %d): records from offset "
                        "%" PRId64 " on go to %s",
                        p->topic, (int)p->partition, m->ut[p->ut].name, (int)n, (int)p->map_n,
                        p->next,
                        p->partition < n ? "the same partition number" : "murmur2 of their key");
        p->map_n = n;
        m->state_dirty = true; /* saved with the transaction's marks */
    }
}

/* ---- Metadata between transactions and after a leader moved ---- */

bool ed_mirror_dec_metadata(ed_mirror *m, ed_krd *r, int16_t ver, struct ed_kc_metadata *md)
{
    memset(md, 0, sizeof *md);
    if (ed_kc_dec_metadata(r, ver, md) != ED_OK) {
        ed_kc_free(&md->mem);
        ed_mirror_restart(m, "malformed Metadata response");
        return false;
    }
    for (int32_t i = 0; i < md->n_brokers; i++)
        ed_mirror_note_node(m, md->brokers[i].node_id, md->brokers[i].host, md->brokers[i].port);
    return true;
}

ed_klink *ed_mirror_meta_link(ed_mirror *m)
{
    if (ed_klink_up(m->boot)) return m->boot;
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].link && ed_klink_up(m->nodes[i].link)) return m->nodes[i].link;
    m->blocked = true;
    return NULL;
}

int32_t ed_mirror_md_parts(const struct ed_kc_topic_md *t)
{
    int32_t n = 0;
    for (int32_t k = 0; k < t->n_partitions; k++)
        if (t->partitions[k].index >= n) n = t->partitions[k].index + 1;
    return n;
}

void ed_mirror_on_refresh(void *arg, int16_t key, int16_t ver, ed_krd *r)
{
    ED_UNUSED(key);
    ed_mirror *m = arg;
    if (m->phase != P_REFRESH && m->phase != P_LEADERS) return;
    struct ed_kc_metadata md;
    if (!ed_mirror_dec_metadata(m, r, ver, &md)) return;
    for (int32_t i = 0; i < md.n_topics; i++) {
        const struct ed_kc_topic_md *t = &md.topics[i];
        char name[ED_TOPIC_NAME_MAX + 1];
        int ui = ed_kstr_copy(t->name, name, sizeof name) ? ed_mirror_find_ut(m, name) : -1;
        if (ui < 0 || t->error || !m->ut[ui].n_parts) continue;
        struct utopic *u = &m->ut[ui];
        int32_t n = ed_mirror_md_parts(t);
        /* more partitions: taken between transactions only (a source
         * partition moves to them once its backlog is upstream) */
        if (n > u->n_parts && m->phase == P_REFRESH) {
            int32_t was = u->n_parts;
            if (ed_mirror_ut_resize(u, n) != ED_OK) continue;
            ED_LOG_INFO("upstream %s has %d partitions now (was %d): each source partition "
                        "mapped by the old count moves once what it holds now is upstream",
                        u->name, (int)n, (int)was);
        }
        for (int32_t k = 0; k < t->n_partitions; k++) {
            const struct ed_kc_part_md *pm = &t->partitions[k];
            if (pm->index >= 0 && pm->index < u->n_parts && !pm->error && pm->leader >= 0)
                u->leader[pm->index] = pm->leader;
        }
    }
    ed_kc_free(&md.mem);
    m->next_meta_ms = ed_plat_loop_now_ms(m->b->loop) + (uint64_t)m->meta_age_ms;
    if (m->phase == P_REFRESH) {
        m->phase = P_IDLE;
        ed_mirror_step(m);
        return;
    }
    ED_LOG_INFO("upstream leaders refreshed: the transaction goes on (producer id %" PRId64
                " epoch %d, the same sequences)",
                m->pid, (int)m->epoch);
    m->phase = P_PRODUCE;
    ed_mirror_step(m);
}
