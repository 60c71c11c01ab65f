/* Internals shared by the POSIX port's files. */
#ifndef ED_PLATFORM_POSIX_POSIX_INT_H
#define ED_PLATFORM_POSIX_POSIX_INT_H

#include "platform/net.h"

#include <stdint.h>

/* Translates an errno value into an ed_err. */
int ed_posix_err(int e);

/* One file descriptor watched by the loop's epoll (level-triggered). The
 * struct is the first member of its owner (listener, stream, wakeup), which
 * is freed by the loop after the current batch of events once closed, so an
 * event already fetched for a closed descriptor is skipped, never run. */
struct ed_posix_io {
    int fd;          /* -1 once closed */
    uint32_t events; /* EPOLL* mask currently registered */
    bool registered; /* present in the epoll set */
    void (*on_event)(struct ed_posix_io *io, uint32_t events);
    struct ed_posix_io *next_dead; /* graveyard link after close */
};

/* Registers io->fd with the given mask (or changes the mask). */
int ed_posix_io_set(ed_loop *l, struct ed_posix_io *io, uint32_t events);
/* Removes io from the epoll set (kept open); io_set re-adds it. */
void ed_posix_io_unwatch(ed_loop *l, struct ed_posix_io *io);
/* Removes io from epoll, closes io->fd and frees io (its owner, since io is
 * the owner's first member) after the current batch. */
void ed_posix_io_close(ed_loop *l, struct ed_posix_io *io);

#endif
