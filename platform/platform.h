/* The port contract: everything Eddy needs from an OS, implemented once per
 * port under platform/<port>/ (posix, sim, later lwip). Files and folders,
 * clocks, threads for the flusher, randomness, the log sink and abort.
 * Sockets and the event loop are in platform/net.h. Paths are UTF-8, '/'
 * separated. Every function returns an ed_err (ED_OK or negative) unless it
 * says otherwise; the OS's raw error is logged by the port, not returned. */
#ifndef ED_PLATFORM_PLATFORM_H
#define ED_PLATFORM_PLATFORM_H

#include "platform/base.h"

/* ---- files ---- */
typedef struct ed_file ed_file;

enum ed_file_flags {
    ED_FILE_READ = 1,   /* open for reading */
    ED_FILE_WRITE = 2,  /* open for writing (implies reading) */
    ED_FILE_CREATE = 4, /* create if missing */
    ED_FILE_EXCL = 8,   /* with CREATE: fail with ED_ERR_EXIST if present */
    ED_FILE_TRUNC = 16  /* truncate to zero on open */
};

struct ed_iovec {
    const void *base;
    size_t len;
};

/* Opens path; *out is set only on ED_OK. ED_ERR_NOENT when missing. */
int ed_plat_file_open(const char *path, int flags, ed_file **out);
/* Closes and frees f (NULL is a no-op). Does not sync. */
int ed_plat_file_close(ed_file *f);
/* Reads up to len bytes at off; *n_read < len only at end of file. */
int ed_plat_file_pread(ed_file *f, void *buf, size_t len, uint64_t off, size_t *n_read);
/* Writes all len bytes at off or returns an error (ED_ERR_NOSPC on a full
 * disk); after an error the bytes at [off, off+len) are unspecified and the
 * caller must truncate them away before anyone reads them. */
int ed_plat_file_pwrite(ed_file *f, const void *buf, size_t len, uint64_t off);
/* Same contract as pwrite for a gather list of n_iov buffers. */
int ed_plat_file_pwritev(ed_file *f, const struct ed_iovec *iov, int n_iov, uint64_t off);
int ed_plat_file_size(ed_file *f, uint64_t *size);
int ed_plat_file_truncate(ed_file *f, uint64_t size);
/* Makes every completed write of f durable (fdatasync). */
int ed_plat_file_datasync(ed_file *f);
/* Reserves disk blocks for [off, off+len) without changing the visible file
 * size, so later writes there cannot fail for lack of space. Ports or file
 * systems without support return ED_OK and reserve nothing. */
int ed_plat_file_reserve(ed_file *f, uint64_t off, uint64_t len);
/* The OS handle for zero-copy sends (see net.h); -1 if the port has none. */
int ed_plat_file_handle(const ed_file *f);

/* ---- paths and folders ---- */
int ed_plat_path_rename(const char *from, const char *to); /* atomic replace */
int ed_plat_path_unlink(const char *path);
/* stat: ED_ERR_NOENT when missing; is_dir/size may be NULL. */
int ed_plat_path_stat(const char *path, bool *is_dir, uint64_t *size);
/* Whether a file holding secrets is kept from group and others: ED_OK,
 * ED_ERR_PERM when they may read or write it (ED_ERR_NOENT: missing). */
int ed_plat_path_private(const char *path);
/* Creates one folder level; ED_OK if it already exists as a folder. */
int ed_plat_dir_make(const char *path);
int ed_plat_dir_remove(const char *path); /* must be empty */
/* Makes the folder's entries (creates, renames, unlinks) durable. */
int ed_plat_dir_sync(const char *path);
/* Calls cb for every entry except "." and "..", in no particular order.
 * A non-zero return from cb stops the walk and is returned. */
typedef int (*ed_dir_cb)(void *arg, const char *name, bool is_dir);
int ed_plat_dir_list(const char *path, ed_dir_cb cb, void *arg);
/* Free and total bytes of the file system holding path. */
int ed_plat_fs_space(const char *path, uint64_t *free_len, uint64_t *total_len);

/* ---- clocks ---- */
int64_t ed_plat_clock_wall_ms(void);  /* Unix epoch milliseconds */
uint64_t ed_plat_clock_mono_ns(void); /* monotonic, arbitrary origin */
static inline uint64_t ed_plat_clock_mono_ms(void)
{
    return ed_plat_clock_mono_ns() / 1000000u;
}

/* ---- threads (the flusher); a port without threads returns false from
 * has_threads and ED_ERR_UNSUPPORTED from thread_start ---- */
typedef struct ed_thread ed_thread;
typedef struct ed_mutex ed_mutex;
typedef struct ed_cond ed_cond;
bool ed_plat_has_threads(void);
int ed_plat_thread_start(ed_thread **out, void (*fn)(void *), void *arg);
void ed_plat_thread_join(ed_thread *t); /* joins and frees */
int ed_plat_mutex_new(ed_mutex **out);
void ed_plat_mutex_free(ed_mutex *m);
void ed_plat_mutex_lock(ed_mutex *m);
void ed_plat_mutex_unlock(ed_mutex *m);
int ed_plat_cond_new(ed_cond **out);
void ed_plat_cond_free(ed_cond *c);
void ed_plat_cond_wait(ed_cond *c, ed_mutex *m);
/* Returns ED_ERR_TIMEOUT when timeout_ms passed without a signal. */
int ed_plat_cond_timedwait(ed_cond *c, ed_mutex *m, uint32_t timeout_ms);
void ed_plat_cond_signal(ed_cond *c);
void ed_plat_cond_broadcast(ed_cond *c);

/* ---- service manager (systemd's notify protocol; ports without one
 * implement both as no-ops) ---- */
/* Sends state lines ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...")
 * to the manager named by $NOTIFY_SOCKET without blocking. ED_OK when sent
 * or when no manager asked for it (variable unset). */
int ed_plat_notify(const char *state);
/* The watchdog interval in ms from $WATCHDOG_USEC (0: no watchdog, or it is
 * meant for another process per $WATCHDOG_PID). Send "WATCHDOG=1" at about
 * half this interval. */
uint64_t ed_plat_watchdog_interval_ms(void);

/* ---- this process ---- */
/* Resident memory in bytes and CPU time (user + system) in ns used so far.
 * ED_ERR_UNSUPPORTED where the port cannot tell. */
int ed_plat_proc_usage(uint64_t *rss_len, uint64_t *cpu_ns);
/* Hands memory the allocator keeps after large frees back to the OS (glibc:
 * malloc_trim); a no-op where the C library does so by itself. */
void ed_plat_mem_trim(void);
/* Drops the pages of the read-only segments (code, constants) of the
 * program and its libraries from this process's resident set, once
 * start-up is over; they come back from the page cache as they are used.
 * Returns the bytes of address space released (0 where the port keeps
 * code resident anyway, or under a debugger). */
size_t ed_plat_mem_release_code(void);

/* ---- misc ---- */
/* Bytes this process has caused to be written to storage since it started
 * (Linux: /proc/self/io write_bytes, page-cache pages dirtied);
 * ED_ERR_UNSUPPORTED where the OS does not count them. */
int ed_plat_io_written(uint64_t *out);
void ed_plat_random(void *buf, size_t len); /* unpredictable bytes */
/* Writes one finished log line (with its newline) to the port's sink. */
void ed_plat_log_write(int level, const char *line, size_t len);
/* Text of the OS error last seen by this thread, for logs only. */
const char *ed_plat_last_os_error(void);
void ed_plat_abort(void);

#endif
