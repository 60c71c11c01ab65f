/* Shared inside the connection engine (core/conn.c, conn_budget.c,
 * conn_in.c, conn_out.c): the structures of budgets, listeners, sets and
 * connections, and the calls the engine's files make of one another. */
#ifndef ED_CORE_CONN_INT_H
#define ED_CORE_CONN_INT_H

#include "core/conn.h"
#include "platform/log.h"

#include <stdalign.h>
#include <stddef.h>

struct ed_conn_budget {
    size_t max_len, used, peak;
    ed_conn *waiters; /* connections whose next frame did not fit */
};

/* A listening socket and what its connections get. */
struct conn_listener {
    ed_conn_set *set;
    ed_listener *ls;
    ed_tls_conf *tls; /* NULL: plaintext */
    char name[32];
    bool sasl;
};

struct ed_conn_set {
    ed_loop *loop;
    const struct ed_conn_proto *proto;
    void *arg;
    struct ed_conn_limits lim;
    ed_conn_budget *budget;
    struct conn_listener *listeners[8];
    int n_listeners;
    ed_conn *conns, *dead;
    ed_conn *kicks;   /* connections to read again, see the top */
    ed_conn *kicking; /* those being read again now */
    int32_t n_conns;
    ed_timer reap_timer, kick_timer, scan_timer;
    struct ed_log_rl log_rl; /* refusal and bad-input lines, rate-limited per set */
    struct ed_conn_stats stats;
};

struct ed_conn {
    ed_conn_set *set;
    ed_stream *stream; /* NULL once closed */
    ed_conn *prev, *next;
    ed_conn *wprev, *wnext; /* budget waiters */
    ed_conn *kick_next;
    uint8_t *rbuf;
    size_t rlen, rcap;
    size_t frame_len;        /* of the frame at the buffer start, once known (0: not yet) */
    size_t charged;          /* budget charged for that frame */
    const uint8_t *handing;  /* the frame being handed to on_frame */
    bool kept;               /* on_frame kept it */
    uint64_t frame_start_ms; /* first byte of an unfinished frame (0: none) */
    uint64_t last_active_ms;
    /* when reading last resumed after a pause (0: never paused) */
    uint64_t resumed_ms;
    struct ed_conn_out *oh, *ot; /* ordered output items */
    uint8_t *bq;                 /* the byte queue (NULL while empty) */
    size_t bq_pos, bq_len, bq_cap;
    size_t out_len; /* bytes ready and not sent (items and byte queue) */
    bool paused, waiting, closing, want_write, in_input, kicked;
    bool reserved; /* a byte queue region reserved, not yet committed: the queue stays */
    bool sent;     /* bytes written since on_readable began (they carry the TCP ACK) */
    char peer[64];
    char host[48];
    char listener[32]; /* the name of the listener it came in on ("" when adopted) */
    bool sasl;         /* that listener requires SASL */
    alignas(max_align_t) unsigned char data[];
};

/* The loop's clock (0 in a set without a loop). */
static inline uint64_t now_ms(const ed_conn_set *s)
{
    return s->loop ? ed_plat_loop_now_ms(s->loop) : 0;
}

/* ---- the budget (conn_budget.c) ---- */

/* Charges n bytes (b may be NULL: no budget). */
void ed_conn_budget_charge(ed_conn_budget *b, size_t n);
/* Takes c off its budget's waiters, if it waits. */
void ed_conn_budget_unwait(ed_conn *c);
/* Gives n bytes back; every waiter tries again. */
void ed_conn_budget_release(ed_conn_budget *b, size_t n);
/* Charges a frame of len bytes, or queues c as a waiter (false). */
bool ed_conn_budget_reserve(ed_conn *c, size_t len);

/* ---- reading (conn_in.c) ---- */

/* Re-evaluates whether c is read (pauses or resumes it). */
void ed_conn_in_update(ed_conn *c);
/* Takes c off its set's list of connections to read again. */
void ed_conn_in_unkick(ed_conn *c);
/* The stream's readable callback (arg: the connection). */
void ed_conn_in_on_readable(void *arg);

#endif
