/* The simulated network: pairs of in-memory streams on the event loop, so
 * tests and fuzzers drive real connections (partial reads and writes, a
 * full peer, EOF, resets) without sockets. Each end buffers at most cap
 * bytes written by the other end: a writer sees short writes when it is
 * full, which is how backpressure is exercised. Events are level-triggered
 * like epoll's and delivered from zero-delay timers of the loop, never from
 * inside the call that caused them. Works on any port that has the loop's
 * timers; single-threaded. */
#ifndef ED_PLATFORM_MEMNET_H
#define ED_PLATFORM_MEMNET_H

#include "platform/net.h"

/* Two connected ends; peer_a is what ed_plat_stream_peer(*a) reports (the
 * address of b), likewise peer_b. Close each end with
 * ed_plat_stream_close; the pair is freed with its last end. */
int ed_memnet_pair(ed_loop *l, size_t cap, const char *peer_a, const char *peer_b, ed_stream **a,
                   ed_stream **b);
/* Bytes waiting to be read at end s. */
size_t ed_memnet_pending(const ed_stream *s);
/* Whether the other end of s has been closed (s reads EOF once drained). */
bool ed_memnet_peer_closed(const ed_stream *s);
/* Whether the owner of end s wants to read (is not holding it back). */
bool ed_memnet_reading(const ed_stream *s);
/* Whether the owner of end s wants to be told when it can write. */
bool ed_memnet_writing(const ed_stream *s);
/* How often the owner of end s asked to acknowledge what it read at once
 * (ed_plat_stream_set_quickack on; an in-memory pair has none to delay). */
uint32_t ed_memnet_quickacks(const ed_stream *s);
/* How many reads of end s found nothing to read (ED_ERR_AGAIN). */
uint32_t ed_memnet_empty_reads(const ed_stream *s);

#endif
