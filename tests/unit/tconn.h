/* A test client on the simulated network (platform/memnet.h): opens an
 * in-memory stream pair, hands one end to a listener as if accepted, and
 * drives the loop step by step while the test writes requests and reads
 * what the listener sent. */
#ifndef ED_TESTS_TCONN_H
#define ED_TESTS_TCONN_H

#include "platform/memnet.h"

struct tconn {
    ed_loop *loop;
    ed_stream *client, *server;
    uint8_t *out;
    size_t out_len, out_cap;
    struct tconn *next; /* every open test client, for tc_close_all */
};

/* Connects from peer ("host:port") with each direction buffering up to cap
 * bytes; adopt(arg, stream) is the listener's (ed_server_adopt...). */
struct tconn *tc_open_from(ed_loop *loop, void (*adopt)(void *arg, ed_stream *s), void *arg,
                           size_t cap, const char *peer);
struct tconn *tc_open(ed_loop *loop, void (*adopt)(void *arg, ed_stream *s), void *arg);
/* Runs a few loop rounds (due timers and stream events). */
void tc_pump(struct tconn *t);
/* Writes all of p (pumping while the listener's side is full, a bounded
 * number of times): ED_OK, ED_ERR_CLOSED once the listener has closed, or
 * ED_ERR_AGAIN if it stopped reading with bytes left unwritten. */
int tc_feed(struct tconn *t, const void *p, size_t n);
/* Everything the listener sent so far (read from the stream). */
const uint8_t *tc_output(struct tconn *t, size_t *len);
/* Forgets what was read so far (and reads nothing more). */
void tc_output_clear(struct tconn *t);
/* Whether the listener closed the connection. */
bool tc_closed(struct tconn *t);
/* Whether the listener is reading the connection (not paused). */
bool tc_reading(struct tconn *t);
/* How often the listener asked to acknowledge at the transport level at
 * once (0: never). */
unsigned tc_quickacks(struct tconn *t);
/* How many of the listener's reads found nothing to read. */
unsigned tc_empty_reads(struct tconn *t);
/* Closes the client end (the listener sees EOF) and frees t. */
void tc_close(struct tconn *t);
/* Closes every test client still open (a fixture's teardown, while the
 * loop still exists). */
void tc_close_all(void);

#endif
