/* In-memory stream pairs on the loop (see memnet.h). */
#include "platform/memnet.h"
#include "platform/mem.h"

#include <stdio.h>
#include <string.h>

struct pair;

struct end {
    ed_stream base; /* first member */
    struct pair *p;
    struct ed_stream_cbs cbs;
    void *arg;
    bool has_cbs, want_read, want_write, closed;
    uint32_t n_quickacks;   /* asked for, counted for tests */
    uint32_t n_empty_reads; /* reads that found nothing, counted for tests */
    uint8_t *buf;           /* bytes the other end wrote, not yet read here */
    size_t len, cap, alloc;
    ed_timer ev;
    char peer[64];
};

struct pair {
    ed_loop *loop;
    struct end e[2];
    int busy;  /* callbacks running: the pair is freed after them */
    bool dead; /* both ends closed */
};

static void pair_free(struct pair *p)
{
    ed_free(p->e[0].buf);
    ed_free(p->e[1].buf);
    ed_free(p);
}

#define END(s) ((struct end *)(void *)(s))

static struct end *other(struct end *e)
{
    return e == &e->p->e[0] ? &e->p->e[1] : &e->p->e[0];
}

static bool readable(struct end *e)
{
    return e->want_read && (e->len > 0 || other(e)->closed);
}

static bool writable(struct end *e)
{
    struct end *o = other(e);
    return e->want_write && (o->closed || o->len < o->cap);
}

static void on_event(ed_timer *t, void *arg);

/* Schedules e's callbacks if it has something to report (level-triggered). */
static void poke(struct end *e)
{
    if (e->closed || !e->has_cbs || ed_plat_timer_armed(&e->ev)) return;
    if (readable(e) || writable(e)) ed_plat_timer_start(e->p->loop, &e->ev, 0, on_event, e);
}

static void on_event(ed_timer *t, void *arg)
{
    ED_UNUSED(t);
    struct end *e = arg;
    struct pair *p = e->p;
    p->busy++;
    if (writable(e) && e->cbs.on_writable) e->cbs.on_writable(e->arg);
    if (!e->closed && readable(e) && e->cbs.on_readable) e->cbs.on_readable(e->arg);
    if (!e->closed) poke(e);
    if (--p->busy == 0 && p->dead) pair_free(p);
}

static void m_set_cbs(ed_stream *s, const struct ed_stream_cbs *cbs, void *arg)
{
    struct end *e = END(s);
    e->cbs = *cbs;
    e->arg = arg;
    e->has_cbs = true;
    e->want_read = true;
    poke(e);
}

static int m_read(ed_stream *s, void *buf, size_t len, size_t *n)
{
    struct end *e = END(s);
    *n = 0;
    if (e->len == 0) {
        if (other(e)->closed) return ED_ERR_CLOSED;
        e->n_empty_reads++;
        return ED_ERR_AGAIN;
    }
    size_t k = ED_MIN(len, e->len);
    memcpy(buf, e->buf, k);
    memmove(e->buf, e->buf + k, e->len - k);
    e->len -= k;
    *n = k;
    poke(other(e)); /* room for its writes again */
    return ED_OK;
}

/* Room at o for up to want bytes: grows o's buffer up to its cap. */
static size_t room(struct end *o, size_t want)
{
    size_t k = ED_MIN(want, o->cap - ED_MIN(o->cap, o->len));
    if (k == 0) return 0;
    if (o->len + k > o->alloc) {
        size_t a = ED_MAX(ED_MAX(o->len + k, 2 * o->alloc), (size_t)4096);
        a = ED_MIN(a, ED_MAX(o->cap, o->len + k));
        uint8_t *nb = ed_realloc(o->buf, a);
        if (!nb) return 0;
        o->buf = nb;
        o->alloc = a;
    }
    return k;
}

static int m_writev(ed_stream *s, const struct ed_iovec *iov, int n_iov, size_t *n)
{
    struct end *e = END(s), *o = other(e);
    *n = 0;
    if (o->closed) return ED_ERR_CLOSED;
    for (int i = 0; i < n_iov; i++) {
        size_t k = room(o, iov[i].len);
        if (k) memcpy(o->buf + o->len, iov[i].base, k);
        o->len += k;
        *n += k;
        if (k < iov[i].len) break;
    }
    poke(o);
    return ED_OK;
}

static int m_sendfile(ed_stream *s, ed_file *f, uint64_t pos, size_t len, size_t *n)
{
    struct end *e = END(s), *o = other(e);
    *n = 0;
    if (o->closed) return ED_ERR_CLOSED;
    size_t k = room(o, len);
    if (k == 0) return ED_OK;
    size_t got = 0;
    int rc = ed_plat_file_pread(f, o->buf + o->len, k, pos, &got);
    if (rc != ED_OK) return rc;
    if (got == 0) return ED_ERR_IO;
    o->len += got;
    *n = got;
    poke(o);
    return ED_OK;
}

static void m_want_write(ed_stream *s, bool on)
{
    struct end *e = END(s);
    e->want_write = on;
    poke(e);
}

static void m_want_read(ed_stream *s, bool on)
{
    struct end *e = END(s);
    e->want_read = on;
    poke(e);
}

static const char *m_peer(const ed_stream *s)
{
    return ((const struct end *)(const void *)s)->peer;
}

static void m_close(ed_stream *s)
{
    struct end *e = END(s);
    struct pair *p = e->p;
    e->closed = true;
    e->has_cbs = false;
    ed_plat_timer_stop(p->loop, &e->ev);
    if (!other(e)->closed) {
        poke(other(e)); /* it reads EOF, its writes fail */
        return;
    }
    ed_plat_timer_stop(p->loop, &other(e)->ev);
    p->dead = true;
    if (p->busy == 0) pair_free(p);
}

static void m_set_quickack(ed_stream *s, bool on)
{
    if (on) ((struct end *)(void *)s)->n_quickacks++;
}

static const struct ed_stream_ops mem_ops = {
    .set_cbs = m_set_cbs,
    .read = m_read,
    .writev = m_writev,
    .sendfile = m_sendfile,
    .want_write = m_want_write,
    .want_read = m_want_read,
    .peer = m_peer,
    .close = m_close,
    .set_quickack = m_set_quickack,
    .short_read_drains = true,
};

int ed_memnet_pair(ed_loop *l, size_t cap, const char *peer_a, const char *peer_b, ed_stream **a,
                   ed_stream **b)
{
    struct pair *p = ed_calloc(1, sizeof *p);
    if (!p) return ED_ERR_NOMEM;
    p->loop = l;
    for (int i = 0; i < 2; i++) {
        p->e[i].base.ops = &mem_ops;
        p->e[i].p = p;
        p->e[i].cap = cap;
    }
    snprintf(p->e[0].peer, sizeof p->e[0].peer, "%s", peer_a);
    snprintf(p->e[1].peer, sizeof p->e[1].peer, "%s", peer_b);
    *a = &p->e[0].base;
    *b = &p->e[1].base;
    return ED_OK;
}

size_t ed_memnet_pending(const ed_stream *s)
{
    return ((const struct end *)(const void *)s)->len;
}

bool ed_memnet_peer_closed(const ed_stream *s)
{
    struct end *e = (struct end *)(void *)(uintptr_t)s;
    return other(e)->closed;
}

bool ed_memnet_reading(const ed_stream *s)
{
    const struct end *e = (const struct end *)(const void *)s;
    return e->has_cbs && e->want_read;
}

bool ed_memnet_writing(const ed_stream *s)
{
    const struct end *e = (const struct end *)(const void *)s;
    return e->has_cbs && e->want_write;
}

uint32_t ed_memnet_empty_reads(const ed_stream *s)
{
    return ((const struct end *)(const void *)s)->n_empty_reads;
}

uint32_t ed_memnet_quickacks(const ed_stream *s)
{
    return ((const struct end *)(const void *)s)->n_quickacks;
}
