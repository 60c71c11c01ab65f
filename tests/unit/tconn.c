/* Test clients on the simulated network (see tconn.h). */
#include "tconn.h"

#include <stdlib.h>
#include <string.h>

#define ROUNDS 6

static struct tconn *all;

struct tconn *tc_open_from(ed_loop *loop, void (*adopt)(void *arg, ed_stream *s), void *arg,
                           size_t cap, const char *peer)
{
    struct tconn *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->loop = loop;
    t->next = all;
    all = t;
    if (ed_memnet_pair(loop, cap, "listener:0", peer, &t->client, &t->server) != ED_OK) abort();
    adopt(arg, t->server);
    tc_pump(t);
    return t;
}

struct tconn *tc_open(ed_loop *loop, void (*adopt)(void *arg, ed_stream *s), void *arg)
{
    return tc_open_from(loop, adopt, arg, 64u << 20, "127.0.0.1:40000");
}

void tc_pump(struct tconn *t)
{
    for (int i = 0; i < ROUNDS; i++)
        ed_plat_loop_run_once(t->loop, 0);
}

int tc_feed(struct tconn *t, const void *p, size_t n)
{
    const uint8_t *b = p;
    int idle = 0;
    while (n > 0) {
        if (ed_memnet_peer_closed(t->client)) return ED_ERR_CLOSED;
        struct ed_iovec v = {b, n};
        size_t k = 0;
        if (ed_plat_stream_writev(t->client, &v, 1, &k) != ED_OK) return ED_ERR_CLOSED;
        b += k;
        n -= k;
        tc_pump(t);
        idle = k ? 0 : idle + 1;
        if (idle > 20) return ED_ERR_AGAIN;
    }
    return ed_memnet_peer_closed(t->client) ? ED_ERR_CLOSED : ED_OK;
}

const uint8_t *tc_output(struct tconn *t, size_t *len)
{
    for (;;) {
        size_t want = ed_memnet_pending(t->client);
        if (want == 0) break;
        if (t->out_cap - t->out_len < want) {
            t->out_cap = (t->out_len + want) * 2;
            t->out = realloc(t->out, t->out_cap);
            if (!t->out) abort();
        }
        size_t k = 0;
        if (ed_plat_stream_read(t->client, t->out + t->out_len, want, &k) != ED_OK) break;
        t->out_len += k;
        tc_pump(t); /* room for more of what the listener has queued */
    }
    *len = t->out_len;
    return t->out ? t->out : (const uint8_t *)"";
}

void tc_output_clear(struct tconn *t)
{
    size_t len;
    tc_output(t, &len);
    t->out_len = 0;
}

bool tc_closed(struct tconn *t)
{
    return ed_memnet_peer_closed(t->client);
}

bool tc_reading(struct tconn *t)
{
    return ed_memnet_reading(t->server);
}

unsigned tc_empty_reads(struct tconn *t)
{
    return ed_memnet_empty_reads(t->server);
}

unsigned tc_quickacks(struct tconn *t)
{
    return ed_memnet_quickacks(t->server);
}

void tc_close(struct tconn *t)
{
    for (struct tconn **pp = &all; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    ed_plat_stream_close(t->client);
    tc_pump(t);
    free(t->out);
    free(t);
}

void tc_close_all(void)
{
    while (all)
        tc_close(all);
}
