/* POSIX clocks, threads, randomness, the log sink (stderr) and abort. */
#define _GNU_SOURCE
#include "platform/platform.h"
#include "platform/mem.h"
#include "platform/posix/posix_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int ed_plat_proc_usage(uint64_t *rss_len, uint64_t *cpu_ns)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return ED_ERR_IO;
    *cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    /* /proc/self/statm: size resident ... in pages (Linux). */
    *rss_len = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ED_ERR_UNSUPPORTED;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return ED_ERR_UNSUPPORTED;
    buf[n] = '\0';
    const char *p = strchr(buf, ' ');
    if (!p) return ED_ERR_UNSUPPORTED;
    *rss_len = strtoull(p + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE);
    return ED_OK;
}

void ed_plat_mem_trim(void)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

int64_t ed_plat_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ed_plat_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct ed_thread {
    pthread_t t;
    void (*fn)(void *);
    void *arg;
};
struct ed_mutex {
    pthread_mutex_t m;
};
struct ed_cond {
    pthread_cond_t c;
};

bool ed_plat_has_threads(void)
{
    return true;
}

static void *trampoline(void *p)
{
    ed_thread *t = p;
    t->fn(t->arg);
    return NULL;
}

int ed_plat_thread_start(ed_thread **out, void (*fn)(void *), void *arg)
{
    ed_thread *t = ed_malloc(sizeof *t);
    if (!t) return ED_ERR_NOMEM;
    t->fn = fn;
    t->arg = arg;
    int e = pthread_create(&t->t, NULL, trampoline, t);
    if (e) {
        ed_free(t);
        return ed_posix_err(e);
    }
    *out = t;
    return ED_OK;
}

void ed_plat_thread_join(ed_thread *t)
{
    if (!t) return;
    pthread_join(t->t, NULL);
    ed_free(t);
}

int ed_plat_mutex_new(ed_mutex **out)
{
    ed_mutex *m = ed_malloc(sizeof *m);
    if (!m) return ED_ERR_NOMEM;
    pthread_mutex_init(&m->m, NULL);
    *out = m;
    return ED_OK;
}

void ed_plat_mutex_free(ed_mutex *m)
{
    if (!m) return;
    pthread_mutex_destroy(&m->m);
    ed_free(m);
}

void ed_plat_mutex_lock(ed_mutex *m)
{
    pthread_mutex_lock(&m->m);
}

void ed_plat_mutex_unlock(ed_mutex *m)
{
    pthread_mutex_unlock(&m->m);
}

int ed_plat_cond_new(ed_cond **out)
{
    ed_cond *c = ed_malloc(sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&c->c, &a);
    pthread_condattr_destroy(&a);
    *out = c;
    return ED_OK;
}

void ed_plat_cond_free(ed_cond *c)
{
    if (!c) return;
    pthread_cond_destroy(&c->c);
    ed_free(c);
}

void ed_plat_cond_wait(ed_cond *c, ed_mutex *m)
{
    pthread_cond_wait(&c->c, &m->m);
}

int ed_plat_cond_timedwait(ed_cond *c, ed_mutex *m, uint32_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int e = pthread_cond_timedwait(&c->c, &m->m, &ts);
    return e == ETIMEDOUT ? ED_ERR_TIMEOUT : ED_OK;
}

void ed_plat_cond_signal(ed_cond *c)
{
    pthread_cond_signal(&c->c);
}

void ed_plat_cond_broadcast(ed_cond *c)
{
    pthread_cond_broadcast(&c->c);
}

void ed_plat_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            /* no entropy source: fall back to time-seeded bytes (not secret) */
            uint64_t x = ed_plat_clock_mono_ns() ^ (uint64_t)getpid() << 32;
            for (size_t i = 0; i < len; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                p[i] = (unsigned char)x;
            }
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

void ed_plat_log_write(int level, const char *line, size_t len)
{
    (void)level;
    while (len > 0) {
        ssize_t n = write(2, line, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        line += n;
        len -= (size_t)n;
    }
}

const char *ed_plat_last_os_error(void)
{
    return strerror(errno);
}

void ed_plat_abort(void)
{
    abort();
}

int ed_plat_io_written(uint64_t *out)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return ED_ERR_UNSUPPORTED;
    char line[128];
    int rc = ED_ERR_UNSUPPORTED;
    unsigned long long v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %llu", &v) == 1) {
            *out = (uint64_t)v;
            rc = ED_OK;
            break;
        }
    fclose(f);
    return rc;
}
