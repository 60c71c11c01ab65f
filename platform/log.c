/* Log formatting, level filtering and rate limiting of repeated lines; the
 * port's sink does the writing; the last warning and error lines are kept
 * in a small ring for the dashboard. */
#include "platform/log.h"
#include "platform/platform.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

int ed_log_threshold = ED_LOG_LEVEL_INFO;
static int global_level = ED_LOG_LEVEL_INFO;
static ed_log_hook hook;

#define N_OVERRIDES 16
static struct {
    char module[24];
    int level;
} overrides[N_OVERRIDES];

static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static void recompute(void)
{
    int t = global_level;
    for (int i = 0; i < N_OVERRIDES; i++)
        if (overrides[i].module[0] && overrides[i].level > t) t = overrides[i].level;
    ed_log_threshold = t;
}

int ed_log_set_level(int level)
{
    if (level < ED_LOG_LEVEL_ERR || level > ED_LOG_LEVEL_DBG) return ED_ERR_INVAL;
    global_level = level;
    recompute();
    return ED_OK;
}

int ed_log_set_module_level(const char *module, int level)
{
    if (level > ED_LOG_LEVEL_DBG || strlen(module) >= sizeof overrides[0].module)
        return ED_ERR_INVAL;
    int free_slot = -1;
    for (int i = 0; i < N_OVERRIDES; i++) {
        if (strcmp(overrides[i].module, module) == 0) {
            if (level < 0)
                overrides[i].module[0] = '\0';
            else
                overrides[i].level = level;
            recompute();
            return ED_OK;
        }
        if (!overrides[i].module[0] && free_slot < 0) free_slot = i;
    }
    if (level < 0) return ED_OK;
    if (free_slot < 0) return ED_ERR_TOOBIG;
    snprintf(overrides[free_slot].module, sizeof overrides[0].module, "%s", module);
    overrides[free_slot].level = level;
    recompute();
    return ED_OK;
}

int ed_log_level_parse(const char *name)
{
    static const char *const lower[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, lower[i]) == 0) return i;
    return -1;
}

void ed_log_set_hook(ed_log_hook h)
{
    hook = h;
}

static int module_level(const char *module)
{
    for (int i = 0; i < N_OVERRIDES; i++)
        if (overrides[i].module[0] && strcmp(overrides[i].module, module) == 0)
            return overrides[i].level;
    return global_level;
}

static uint64_t n_suppressed_total;
static uint32_t rl_epoch;

uint64_t ed_log_now_ms(void)
{
    return ed_plat_clock_mono_ms() + 1;
}

bool ed_log_rl_admit(struct ed_log_rl *rl, uint64_t now_ms, uint64_t *n_suppressed)
{
    *n_suppressed = 0;
    if (rl->window_start_ms == 0 || now_ms - rl->window_start_ms >= ED_LOG_RL_WINDOW_MS ||
        now_ms < rl->window_start_ms || rl->epoch != rl_epoch) {
        rl->window_start_ms = now_ms ? now_ms : 1;
        rl->n_in_window = 0;
        rl->epoch = rl_epoch;
    }
    if (rl->n_in_window >= ED_LOG_RL_BURST) {
        rl->n_suppressed++;
        n_suppressed_total++;
        return false;
    }
    rl->n_in_window++;
    *n_suppressed = rl->n_suppressed;
    rl->n_suppressed = 0;
    return true;
}

uint64_t ed_log_rl_suppressed_total(void)
{
    return n_suppressed_total;
}

void ed_log_rl_reset_all(void)
{
    rl_epoch++;
}

/* The recent warnings: a ring written by whichever thread logs (the loop
 * or the flusher), under a spin lock held for one copy of a line. */
static struct ed_log_recent recent[ED_LOG_RECENT_N];
static uint64_t n_recent; /* lines ever kept; the next goes to n_recent % N */
static atomic_flag recent_lock = ATOMIC_FLAG_INIT;

static void recent_keep(int level, int64_t ms, const char *line)
{
    while (atomic_flag_test_and_set_explicit(&recent_lock, memory_order_acquire)) {
    }
    struct ed_log_recent *r = &recent[n_recent++ % ED_LOG_RECENT_N];
    r->time_ms = ms;
    r->level = level;
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n') n--;
    if (n > sizeof r->line - 1) n = sizeof r->line - 1; /* cut */
    memcpy(r->line, line, n);
    r->line[n] = '\0';
    atomic_flag_clear_explicit(&recent_lock, memory_order_release);
}

int ed_log_recent_get(struct ed_log_recent *out, int max)
{
    while (atomic_flag_test_and_set_explicit(&recent_lock, memory_order_acquire)) {
    }
    uint64_t n = n_recent < ED_LOG_RECENT_N ? n_recent : ED_LOG_RECENT_N;
    if (max >= 0 && n > (uint64_t)max) n = (uint64_t)max;
    for (uint64_t i = 0; i < n; i++)
        out[i] = recent[(n_recent - n + i) % ED_LOG_RECENT_N];
    atomic_flag_clear_explicit(&recent_lock, memory_order_release);
    return (int)n;
}

static void vemit(int level, const char *module, const char *file, int line, uint64_t n_sup,
                  const char *fmt, va_list ap)
{
    if (level > module_level(module)) return;
    char buf[1024];
    int64_t ms = ed_plat_clock_wall_ms();
    int64_t s = ms / 1000;
    int64_t days = s / 86400, rem = s % 86400;
    /* civil-from-days (proleptic Gregorian), so no OS time functions here */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n =
        snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ %-5s [%s] ",
                 (long long)y, (long long)m, (long long)d, (long long)(rem / 3600),
                 (long long)(rem / 60 % 60), (long long)(rem % 60), (long long)(ms % 1000),
                 names[level < 0   ? 0
                       : level > 3 ? 3
                                   : level],
                 module);
    if (n < 0) return;
    int k = vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    if (k < 0) return;
    n = (int)strlen(buf);
    if (n_sup)
        snprintf(buf + n, sizeof buf - (size_t)n, " (%llu similar suppressed)",
                 (unsigned long long)n_sup);
    n = (int)strlen(buf);
    if (level <= ED_LOG_LEVEL_WARN || level == ED_LOG_LEVEL_DBG)
        snprintf(buf + n, sizeof buf - (size_t)n, " (%s:%d)", base, line);
    n = (int)strlen(buf);
    if (n >= (int)sizeof buf - 1) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    buf[n] = '\0';
    if (level <= ED_LOG_LEVEL_WARN) {
        const char *msg = strchr(buf, '[');
        recent_keep(level, ms, msg ? msg : buf);
    }
    if (hook) hook(level, buf);
    ed_plat_log_write(level, buf, (size_t)n);
}

void ed_log_emit(int level, const char *module, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(level, module, file, line, 0, fmt, ap);
    va_end(ap);
}

void ed_log_emit_rl(int level, const char *module, const char *file, int line,
                    uint64_t n_suppressed, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vemit(level, module, file, line, n_suppressed, fmt, ap);
    va_end(ap);
}
