/* Test-only control of the simulated port (PORT=sim): an in-memory file
 * system with a controllable clock, fault injection (the Nth write, datasync,
 * reserve, open... fails), a disk size limit, counters, and power cuts.
 *
 * Durability model. Every file keeps a durable image plus the ordered list of
 * its writes and truncations since its last datasync; every folder keeps its
 * durable entries plus the ordered log of creates, unlinks and renames since
 * the folder was last synced. A crash (ed_sim_crash_now, or the Nth mutating
 * call after ed_sim_crash_at) rebuilds the file system from the durable state
 * and replays each unsynced operation at random: kept, dropped, or for writes
 * torn per 512-byte sector (new bytes, old bytes or random garbage), in the
 * manner of SQLite's crash tests; a dropped extending write may still leave
 * the file longer, filled with zeros. Renames are atomic per operation but
 * only durable once a folder they touch is synced. Datasync of a file does
 * not make its folder entry durable.
 *
 * After a crash the machine is "down": every port call fails with ED_ERR_IO
 * (so the dead process's objects can be closed and freed without touching the
 * disk) until ed_sim_reboot(). Handles opened before the crash stay invalid
 * forever: every call on them but close fails with ED_ERR_IO.
 *
 * Everything here is single-threaded, like the port itself. */
#ifndef ED_PLATFORM_SIM_SIM_H
#define ED_PLATFORM_SIM_SIM_H

#include "platform/base.h"

/* Empties the file system, seeds every random stream (ed_plat_random and the
 * crash choices) with seed, clears faults, limits, counters and the crash
 * trigger, resets the clocks and the log sink to stderr. Handles still open
 * become invalid (close them to free them). */
void ed_sim_reset(uint64_t seed);
/* Frees every byte the simulation holds (end of a test, for leak checks). */
void ed_sim_shutdown(void);

/* ---- faults ---- */
enum ed_sim_op {
    ED_SIM_OP_WRITE,    /* pwrite and pwritev */
    ED_SIM_OP_DATASYNC, /* file datasync */
    ED_SIM_OP_RESERVE,  /* file reserve (fallocate) */
    ED_SIM_OP_OPEN,     /* every file open */
    ED_SIM_OP_TRUNCATE, /* file truncate */
    ED_SIM_OP_RENAME,
    ED_SIM_OP_UNLINK,
    ED_SIM_OP_MKDIR,
    ED_SIM_OP_RMDIR,
    ED_SIM_OP_DIRSYNC,
    ED_SIM_OP__COUNT
};
/* The n-th call of op from now (n >= 1) fails with err (e.g. ED_ERR_IO or
 * ED_ERR_NOSPC); with sticky every later call fails too. n = 0 clears. A
 * failed write may have written a random prefix of its bytes first (the
 * contract says they are unspecified). A failed datasync behaves like Linux
 * after a writeback error: the writes it should have made durable stay
 * readable but are never written by a later datasync (which succeeds), so a
 * crash may lose them. Other failed calls change nothing. */
void ed_sim_fail_nth(enum ed_sim_op op, uint64_t n, int err, bool sticky);
/* Clears every injected fault. */
void ed_sim_fail_clear(void);
/* Disk size in bytes (0 = unlimited). Files are charged by 4 KiB blocks
 * covering max(size, reserved end). A write that does not fit writes as much
 * as fits (or nothing) and fails with ED_ERR_NOSPC; a reserve that does not
 * fit reserves nothing and fails with ED_ERR_NOSPC. */
void ed_sim_set_disk_limit(uint64_t len);
uint64_t ed_sim_disk_usage(void);

/* ---- power cuts ---- */
enum ed_sim_crash_mode {
    ED_SIM_CRASH_RANDOM,   /* every unsynced operation kept/dropped/torn at random */
    ED_SIM_CRASH_KEEP_ALL, /* everything written survives (a clean OS reboot) */
    ED_SIM_CRASH_DROP_ALL  /* only what was synced survives */
};
void ed_sim_set_crash_mode(enum ed_sim_crash_mode mode);
/* Mutating calls made so far (writes, truncates, reserves, datasyncs, opens
 * that create or truncate, renames, unlinks, mkdirs, rmdirs, folder syncs). */
uint64_t ed_sim_op_count(void);
/* The n-th mutating call from now (n >= 1) does not happen: the power is cut
 * just before it and it returns ED_ERR_IO. n = 0 disarms. */
void ed_sim_crash_at(uint64_t n);
/* Cuts the power now. */
void ed_sim_crash_now(void);
/* Kills the process, not the machine: open handles become invalid and every
 * call fails until ed_sim_reboot() (the restart), but nothing is lost and
 * nothing unsynced becomes durable: the page cache outlives the process. */
void ed_sim_kill(void);
/* True between a crash (or kill) and ed_sim_reboot(). */
bool ed_sim_crashed(void);
/* Brings the machine (or process) back up: the file system shows the
 * post-crash state. */
void ed_sim_reboot(void);

/* ---- counters ---- */
struct ed_sim_stats {
    uint64_t n_writes;    /* pwrite/pwritev calls that wrote */
    uint64_t len_written; /* bytes written by them */
    uint64_t n_datasyncs; /* successful file datasyncs */
    uint64_t n_dirsyncs;  /* successful folder syncs */
    uint64_t n_ops;       /* mutating calls, as ed_sim_op_count() */
    uint64_t n_crashes;
    uint64_t n_faults; /* injected failures returned */
    uint64_t n_nospc;  /* ED_ERR_NOSPC from the disk limit */
};
void ed_sim_stats_get(struct ed_sim_stats *out);

/* ---- helpers for tests ---- */
/* Creates or replaces path with len bytes and makes file and folder entry
 * durable, as if it had been on disk for long. */
int ed_sim_file_put(const char *path, const void *buf, size_t len);
/* Reads a whole file into a buffer from malloc (free() it); NULL if missing. */
uint8_t *ed_sim_file_get(const char *path, size_t *len);

/* ---- clock ---- */
/* Both clocks advance only through these (wall starts at 2023-11-14). */
void ed_sim_clock_advance_ms(int64_t ms);
void ed_sim_clock_set_wall_ms(int64_t wall_ms);

/* ---- random ---- */
/* The next value of the seeded random stream behind ed_plat_random. */
uint64_t ed_sim_random_u64(void);

/* ---- log sink ---- */
enum ed_sim_log_sink {
    ED_SIM_LOG_STDERR, /* default */
    ED_SIM_LOG_BUFFER, /* kept in memory (the last 1 MiB), see ed_sim_log_text */
    ED_SIM_LOG_NONE
};
void ed_sim_log_to(enum ed_sim_log_sink sink);
/* The captured lines (NUL-terminated; "" when none). */
const char *ed_sim_log_text(void);
void ed_sim_log_clear(void);

#endif
