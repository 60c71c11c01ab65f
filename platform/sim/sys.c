/* The simulated port's clocks (advanced only by the test), threads (none:
 * mutexes and condition variables work for a single thread), seeded
 * randomness, the log sink (stderr, a memory buffer or nothing) and abort. */
#include "platform/platform.h"
#include "platform/mem.h"
#include "platform/sim/sim.h"
#include "platform/sim/sim_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WALL_START_MS 1700000000000LL
#define LOG_KEEP_LEN  (1u << 20)

static int64_t wall_ms = WALL_START_MS;
static uint64_t mono_ns = 1000000000ull;
static struct ed_sim_rng rand_stream;
static bool rand_seeded;
static enum ed_sim_log_sink log_sink = ED_SIM_LOG_STDERR;
static char *log_buf;
static size_t log_len, log_cap;

/* ---- random streams ---- */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ed_sim_rng_seed(struct ed_sim_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ed_sim_rng_next(struct ed_sim_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t ed_sim_rng_below(struct ed_sim_rng *r, uint64_t n)
{
    return n ? ed_sim_rng_next(r) % n : 0;
}

void ed_sim_sys_reset(uint64_t seed)
{
    wall_ms = WALL_START_MS;
    mono_ns = 1000000000ull;
    ed_sim_rng_seed(&rand_stream, seed ^ 0x5eed5eed5eed5eedull);
    rand_seeded = true;
    log_sink = ED_SIM_LOG_STDERR;
    log_len = 0;
    if (log_buf) log_buf[0] = '\0';
}

void ed_sim_sys_shutdown(void)
{
    free(log_buf);
    log_buf = NULL;
    log_len = log_cap = 0;
}

uint64_t ed_sim_random_u64(void)
{
    if (!rand_seeded) ed_sim_sys_reset(0);
    return ed_sim_rng_next(&rand_stream);
}

void ed_plat_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        uint64_t x = ed_sim_random_u64();
        size_t n = ED_MIN(len, sizeof x);
        memcpy(p, &x, n);
        p += n;
        len -= n;
    }
}

/* ---- clocks ---- */
int ed_plat_proc_usage(uint64_t *rss_len, uint64_t *cpu_ns)
{
    *rss_len = 0;
    *cpu_ns = 0;
    return ED_ERR_UNSUPPORTED;
}

void ed_plat_mem_trim(void) {}
size_t ed_plat_mem_release_code(void)
{
    return 0;
}

int64_t ed_plat_clock_wall_ms(void)
{
    return wall_ms;
}

uint64_t ed_plat_clock_mono_ns(void)
{
    return mono_ns;
}

void ed_sim_clock_advance_ms(int64_t ms)
{
    if (ms <= 0) return;
    wall_ms += ms;
    mono_ns += (uint64_t)ms * 1000000u;
}

void ed_sim_clock_set_wall_ms(int64_t ms)
{
    wall_ms = ms;
}

/* ---- threads: none. A mutex is a flag that catches self-deadlock; waiting
 * on a condition without a timeout could never end with one thread. ---- */
struct ed_mutex {
    bool locked;
};
struct ed_cond {
    int unused;
};

bool ed_plat_has_threads(void)
{
    return false;
}

int ed_plat_thread_start(ed_thread **out, void (*fn)(void *), void *arg)
{
    ED_UNUSED(out);
    ED_UNUSED(fn);
    ED_UNUSED(arg);
    return ED_ERR_UNSUPPORTED;
}

void ed_plat_thread_join(ed_thread *t)
{
    ED_ASSERT(t == NULL);
}

int ed_plat_mutex_new(ed_mutex **out)
{
    ed_mutex *m = ed_malloc(sizeof *m);
    if (!m) return ED_ERR_NOMEM;
    m->locked = false;
    *out = m;
    return ED_OK;
}

void ed_plat_mutex_free(ed_mutex *m)
{
    if (!m) return;
    ED_ASSERT(!m->locked);
    ed_free(m);
}

void ed_plat_mutex_lock(ed_mutex *m)
{
    ED_ASSERT(!m->locked); /* one thread locking twice deadlocks */
    m->locked = true;
}

void ed_plat_mutex_unlock(ed_mutex *m)
{
    ED_ASSERT(m->locked);
    m->locked = false;
}

int ed_plat_cond_new(ed_cond **out)
{
    ed_cond *c = ed_malloc(sizeof *c);
    if (!c) return ED_ERR_NOMEM;
    c->unused = 0;
    *out = c;
    return ED_OK;
}

void ed_plat_cond_free(ed_cond *c)
{
    ed_free(c);
}

void ed_plat_cond_wait(ed_cond *c, ed_mutex *m)
{
    ED_UNUSED(c);
    ED_UNUSED(m);
    /* nobody else exists to signal: this would block forever */
    ed_assert_fail("cond_wait without threads", __FILE__, __LINE__);
}

int ed_plat_cond_timedwait(ed_cond *c, ed_mutex *m, uint32_t timeout_ms)
{
    ED_UNUSED(c);
    ED_ASSERT(m->locked);
    ed_sim_clock_advance_ms(timeout_ms);
    return ED_ERR_TIMEOUT;
}

void ed_plat_cond_signal(ed_cond *c)
{
    ED_UNUSED(c);
}

void ed_plat_cond_broadcast(ed_cond *c)
{
    ED_UNUSED(c);
}

/* ---- log sink ---- */
void ed_sim_log_to(enum ed_sim_log_sink sink)
{
    log_sink = sink;
}

const char *ed_sim_log_text(void)
{
    return log_buf ? log_buf : "";
}

void ed_sim_log_clear(void)
{
    log_len = 0;
    if (log_buf) log_buf[0] = '\0';
}

static void log_keep(const char *line, size_t len)
{
    if (len > LOG_KEEP_LEN) {
        line += len - LOG_KEEP_LEN;
        len = LOG_KEEP_LEN;
    }
    if (log_len + len > LOG_KEEP_LEN) { /* drop the oldest bytes */
        size_t drop = log_len + len - LOG_KEEP_LEN;
        memmove(log_buf, log_buf + drop, log_len - drop);
        log_len -= drop;
    }
    if (log_len + len + 1 > log_cap) {
        size_t cap = log_cap ? log_cap : 4096;
        while (cap < log_len + len + 1)
            cap *= 2;
        char *p = realloc(log_buf, cap);
        if (!p) return;
        log_buf = p;
        log_cap = cap;
    }
    memcpy(log_buf + log_len, line, len);
    log_len += len;
    log_buf[log_len] = '\0';
}

void ed_plat_log_write(int level, const char *line, size_t len)
{
    ED_UNUSED(level);
    if (log_sink == ED_SIM_LOG_STDERR) {
        fwrite(line, 1, len, stderr);
    } else if (log_sink == ED_SIM_LOG_BUFFER) {
        log_keep(line, len);
    }
}

const char *ed_plat_last_os_error(void)
{
    return "simulated";
}

void ed_plat_abort(void)
{
    if (log_sink == ED_SIM_LOG_BUFFER && log_len > 0) { /* show why we die */
        size_t n = ED_MIN(log_len, (size_t)4096);
        fwrite(log_buf + log_len - n, 1, n, stderr);
    }
    fflush(stderr);
    abort();
}

int ed_plat_io_written(uint64_t *out)
{
    ED_UNUSED(out);
    return ED_ERR_UNSUPPORTED;
}
