/* The simulated port has no event loop: a simulation that runs the topic
 * registry or the ingest path without one (so they never start a timer)
 * still links their timer calls; these stand in and abort if called.
 * Include from one file of a program only. */
#ifndef ED_TESTS_CRASH_SIM_NOLOOP_H
#define ED_TESTS_CRASH_SIM_NOLOOP_H

#include <stdlib.h>

#include "platform/net.h"

void ed_plat_timer_start(ed_loop *l, ed_timer *t, uint32_t delay_ms, ed_timer_cb cb, void *arg)
{
    (void)l, (void)t, (void)delay_ms, (void)cb, (void)arg;
    abort();
}

void ed_plat_timer_stop(ed_loop *l, ed_timer *t)
{
    (void)l, (void)t;
    abort();
}

#endif
