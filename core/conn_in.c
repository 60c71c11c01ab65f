/* The connection engine's reading (see conn.h): the read buffer, framing
 * by the protocol's frame_len, handing whole frames over, and pausing and
 * resuming reads.
 *
 * Bytes go into the connection's read buffer (16 KiB, allocated at
 * a read and freed again once every whole frame in it was handled and no
 * byte is left over, so an idle connection holds none). The protocol's frame_len says how long the
 * frame at the start of the buffer is; a frame longer than the buffer is charged to the memory
 * budget first (or the connection waits), then the buffer grows for it: at once up to 1 MiB, beyond
 * that doubling as bytes arrive, so a peer that announces 16 MiB and sends one byte costs a charge,
 * not 16 MiB. Whole frames are handed over in place; a protocol that keeps one takes the buffer
 * itself when the frame fills it (large frames always start at its beginning), so large requests
 * are never copied.
 *
 * Reading a connection again after a pause with frames already buffered
 * happens from a zero-delay timer ("kick"): never inside the completion
 * that lifted the pause. */
#include "core/conn_int.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

#define RBUF_LEN        16384
#define WHOLE_MAX       (1u << 20) /* frames up to this get their buffer at once */
#define READS_PER_EVENT 8

static void process_input(ed_conn *c);

static bool must_pause(ed_conn *c)
{
    const struct ed_conn_proto *p = c->set->proto;
    return c->waiting || c->out_len > c->set->lim.out_ceiling_len ||
           (p->can_take && !p->can_take(c));
}

static void on_kick(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    ed_conn_set *s = arg;
    /* Kicks made meanwhile wait for the next round; a connection closed
     * meanwhile has left the list (ed_conn_in_unkick). */
    s->kicking = s->kicks;
    s->kicks = NULL;
    while (s->kicking) {
        ed_conn *c = s->kicking;
        s->kicking = c->kick_next;
        c->kick_next = NULL;
        c->kicked = false;
        process_input(c);
        ed_conn_flush(c);
    }
}

void ed_conn_in_unkick(ed_conn *c)
{
    if (!c->kicked) return;
    ed_conn_set *s = c->set;
    for (ed_conn **pp = &s->kicks; *pp; pp = &(*pp)->kick_next)
        if (*pp == c) {
            *pp = c->kick_next;
            break;
        }
    for (ed_conn **pp = &s->kicking; *pp; pp = &(*pp)->kick_next)
        if (*pp == c) {
            *pp = c->kick_next;
            break;
        }
    c->kick_next = NULL;
    c->kicked = false;
}

static void kick(ed_conn *c)
{
    ed_conn_set *s = c->set;
    if (c->kicked || c->closing) return;
    c->kicked = true;
    c->kick_next = s->kicks;
    s->kicks = c;
    if (s->loop && !ed_plat_timer_armed(&s->kick_timer))
        ed_plat_timer_start(s->loop, &s->kick_timer, 0, on_kick, s);
}

void ed_conn_in_update(ed_conn *c)
{
    if (c->closing) return;
    bool pause = must_pause(c);
    if (pause == c->paused) return;
    c->paused = pause;
    if (pause) {
        c->set->stats.n_pauses++;
    } else {
        c->resumed_ms = now_ms(c->set);
        /* Time spent held back by Eddy does not count against the peer. */
        if (c->frame_start_ms) c->frame_start_ms = c->resumed_ms;
    }
    ed_plat_stream_want_read(c->stream, !pause);
    if (!pause && c->rlen > 0) kick(c);
}

void ed_conn_update(ed_conn *c)
{
    if (c->closing) return;
    ed_conn_in_update(c);
    if (!c->paused && c->rlen > 0) kick(c);
}

uint8_t *ed_conn_frame_keep(ed_conn *c, const struct ed_conn_frame *f)
{
    ED_ASSERT(f->p == c->handing && !c->kept);
    uint8_t *p;
    if (f->p == c->rbuf && f->len == c->rlen && f->len == c->rcap) {
        p = c->rbuf; /* the buffer holds just this frame: hand it over */
        c->rbuf = NULL;
        c->rcap = c->rlen = 0;
    } else {
        p = ed_malloc(f->len);
        if (!p) return NULL;
        memcpy(p, f->p, f->len);
    }
    c->kept = true;
    if (c->charged)
        c->charged = 0; /* the charge goes with the bytes */
    else
        ed_conn_budget_charge(c->set->budget, f->len);
    return p;
}

void ed_conn_frame_free(ed_conn *c, uint8_t *p, size_t len)
{
    if (!p) return;
    ed_free(p);
    ed_conn_budget_release(c->set->budget, len);
}

/* An empty read buffer goes back: an idle connection holds none (the next
 * read allocates one again). */
static void drop_empty_rbuf(ed_conn *c)
{
    if (c->rbuf && c->rlen == 0 && !c->in_input) {
        ed_free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

/* Handles every whole frame in the buffer while reading is allowed. */
static void process_input(ed_conn *c)
{
    ed_conn_set *s = c->set;
    if (c->in_input) return;
    c->in_input = true;
    size_t pos = 0;
    while (!c->closing && c->rbuf && pos < c->rlen) {
        if (must_pause(c)) break;
        const uint8_t *p = c->rbuf + pos;
        size_t have = c->rlen - pos;
        if (c->frame_len == 0) {
            char why[160] = "malformed frame";
            size_t len = 0;
            int rc = s->proto->frame_len(c, p, have, &len, why, sizeof why);
            if (rc == ED_ERR_AGAIN) break;
            if (rc == ED_OK && len > s->lim.frame_max_len) {
                snprintf(why, sizeof why, "frame of %zu bytes over the limit of %zu", len,
                         s->lim.frame_max_len);
                rc = ED_ERR_TOOBIG;
            }
            if (rc != ED_OK || len == 0) {
                ed_conn_close_bad(c, why);
                break;
            }
            if (len > RBUF_LEN && len > have) {
                if (!ed_conn_budget_reserve(c, len)) break;
                c->charged = len;
            }
            c->frame_len = len;
        }
        if (have < c->frame_len) break;
        /* A whole frame. */
        struct ed_conn_frame f = {p, c->frame_len};
        size_t len = c->frame_len;
        c->frame_len = 0;
        c->handing = p;
        c->kept = false;
        s->proto->on_frame(c, &f);
        c->handing = NULL;
        if (c->charged) {
            ed_conn_budget_release(s->budget, c->charged);
            c->charged = 0;
        }
        if (!c->rbuf) { /* kept whole: the buffer went with it */
            pos = 0;
            c->frame_start_ms = 0;
            break;
        }
        pos += len;
    }
    if (c->rbuf && !c->closing) {
        if (pos > 0 && pos < c->rlen) memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= ED_MIN(pos, c->rlen);
        if (pos > 0) c->frame_start_ms = c->rlen > 0 ? now_ms(s) : 0;
    }
    c->in_input = false;
    if (!c->closing) drop_empty_rbuf(c);
    if (!c->closing) ed_conn_in_update(c);
}

/* Room to read into: the base buffer, or more of the frame being read. */
static bool make_room(ed_conn *c)
{
    if (!c->rbuf) {
        size_t cap = ED_MAX((size_t)RBUF_LEN, c->frame_len);
        c->rbuf = ed_malloc(cap);
        if (!c->rbuf) return false;
        c->rcap = cap;
    }
    if (c->rlen < c->rcap) return true;
    if (c->frame_len <= c->rlen) return true; /* nothing more wanted now */
    size_t cap = c->frame_len <= WHOLE_MAX ? c->frame_len : ED_MIN(c->frame_len, c->rcap * 2);
    if (c->rcap < WHOLE_MAX && c->frame_len > WHOLE_MAX) cap = WHOLE_MAX;
    uint8_t *nb = ed_realloc(c->rbuf, cap);
    if (!nb) return false;
    c->rbuf = nb;
    c->rcap = cap;
    return true;
}

/* A protocol whose replies wait (conn.h quickack) has the transport
 * acknowledge a burst of reads at once, unless a reply written meanwhile
 * carried the acknowledgement: once per readable event, not per read, so
 * that the peer's next small packets gather while the burst is handled. */
static void ack_reads(ed_conn *c, bool read_any)
{
    if (c->set->lim.quickack && read_any && !c->sent && !c->closing)
        ed_plat_stream_set_quickack(c->stream, true);
}

void ed_conn_in_on_readable(void *arg)
{
    ed_conn *c = arg;
    bool read_any = false;
    c->sent = false;
    for (int i = 0; i < READS_PER_EVENT && !c->closing && !c->paused; i++) {
        if (!make_room(c)) {
            ed_conn_close_bad(c, "out of memory for a frame");
            return;
        }
        if (c->rlen == c->rcap) break; /* whole frames wait to be handled */
        size_t n, room = c->rcap - c->rlen;
        int rc = ed_plat_stream_read(c->stream, c->rbuf + c->rlen, room, &n);
        if (rc == ED_ERR_AGAIN) {
            /* The stream's own unit (a TLS handshake or record) under way
             * counts as an unfinished frame from its first bytes; once the
             * stream has none, the clock stops (a handshake done). */
            if (c->rlen == 0) {
                bool busy = ed_plat_stream_busy(c->stream);
                if (busy && !c->frame_start_ms)
                    c->frame_start_ms = ED_MAX(now_ms(c->set), (uint64_t)1);
                else if (!busy)
                    c->frame_start_ms = 0;
            }
            break;
        }
        if (rc != ED_OK) {
            ed_conn_close(c, "closed by peer");
            return;
        }
        read_any = true;
        uint64_t now = now_ms(c->set);
        if (c->rlen == 0) c->frame_start_ms = now ? now : 1;
        c->rlen += n;
        c->last_active_ms = now;
        /* Less than asked: the stream is empty for now, and the poller
         * reports it again when more comes (no read just to meet "again"). */
        bool drained = n < room && ed_plat_stream_short_read_drains(c->stream);
        process_input(c);
        if (drained) break;
    }
    if (!c->closing) drop_empty_rbuf(c);
    if (!c->closing) ed_conn_flush(c);
    ack_reads(c, read_any);
}
