/* The connection engine's memory budget (Kafka: queued.max.request.bytes):
 * bytes of request frames being read or held, shared by every connection
 * set given it, and the connections waiting for room. */
#include "core/conn_int.h"
#include "platform/mem.h"

int ed_conn_budget_new(size_t max_len, ed_conn_budget **out)
{
    ed_conn_budget *b = ed_calloc(1, sizeof *b);
    if (!b) return ED_ERR_NOMEM;
    b->max_len = max_len;
    *out = b;
    return ED_OK;
}

void ed_conn_budget_free(ed_conn_budget *b)
{
    ed_free(b);
}

size_t ed_conn_budget_used(const ed_conn_budget *b)
{
    return b->used;
}

size_t ed_conn_budget_peak(const ed_conn_budget *b)
{
    return b->peak;
}

void ed_conn_budget_charge(ed_conn_budget *b, size_t n)
{
    if (!b) return;
    b->used += n;
    b->peak = ED_MAX(b->peak, b->used);
}

void ed_conn_budget_unwait(ed_conn *c)
{
    ed_conn_budget *b = c->set->budget;
    if (!c->waiting) return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        b->waiters = c->wnext;
    if (c->wnext) c->wnext->wprev = c->wprev;
    c->wprev = c->wnext = NULL;
    c->waiting = false;
}

void ed_conn_budget_release(ed_conn_budget *b, size_t n)
{
    if (!b || n == 0) return;
    ED_ASSERT(b->used >= n);
    b->used -= n;
    /* Everyone waiting tries again (from its set's kick timer). */
    while (b->waiters && b->used < b->max_len) {
        ed_conn *c = b->waiters;
        ed_conn_budget_unwait(c);
        ed_conn_update(c);
    }
}

/* Charges a frame of len bytes, or queues c as a waiter. */
bool ed_conn_budget_reserve(ed_conn *c, size_t len)
{
    ed_conn_budget *b = c->set->budget;
    if (!b || b->used == 0 || b->used + len <= b->max_len) {
        ed_conn_budget_charge(b, len);
        return true;
    }
    if (!c->waiting) {
        c->waiting = true;
        c->wnext = b->waiters;
        if (b->waiters) b->waiters->wprev = c;
        b->waiters = c;
        c->set->stats.n_mem_waits++;
    }
    return false;
}
