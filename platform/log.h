/* Logging: ED_LOG_ERR/WARN/INFO/DBG with a per-file module name, and
 * rate-limited variants (ED_LOG_WARN_RL...) for lines that outside input or
 * a lasting condition can repeat. Define ED_LOG_MODULE "name" before
 * including this header. A board sets a compile-time ceiling
 * (ED_LOG_CEILING); the runtime level is global with optional per-module
 * overrides. Lines go to ed_plat_log_write. */
#ifndef ED_PLATFORM_LOG_H
#define ED_PLATFORM_LOG_H

#include "platform/base.h"

enum ed_log_level { ED_LOG_LEVEL_ERR = 0, ED_LOG_LEVEL_WARN, ED_LOG_LEVEL_INFO, ED_LOG_LEVEL_DBG };

#ifndef ED_LOG_CEILING
#define ED_LOG_CEILING ED_LOG_LEVEL_DBG
#endif
#ifndef ED_LOG_MODULE
#define ED_LOG_MODULE "eddy"
#endif

extern int ed_log_threshold; /* highest level enabled in any module */

void ed_log_emit(int level, const char *module, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Sets the global level; returns ED_ERR_INVAL for an unknown level. */
int ed_log_set_level(int level);
/* Per-module override (up to 16 modules); level -1 removes it. */
int ed_log_set_module_level(const char *module, int level);
/* Parses "error|warn|info|debug" into a level; -1 if unknown. */
int ed_log_level_parse(const char *name);
/* Tests may capture lines: hook gets each formatted line; NULL restores. */
typedef void (*ed_log_hook)(int level, const char *line);
void ed_log_set_hook(ed_log_hook hook);

#define ED_LOG_AT_(lvl, ...)                                                                       \
    do {                                                                                           \
        if ((lvl) <= ED_LOG_CEILING && (lvl) <= ed_log_threshold)                                  \
            ed_log_emit((lvl), ED_LOG_MODULE, __FILE__, __LINE__, __VA_ARGS__);                    \
    } while (0)
#define ED_LOG_ERR(...)  ED_LOG_AT_(ED_LOG_LEVEL_ERR, __VA_ARGS__)
#define ED_LOG_WARN(...) ED_LOG_AT_(ED_LOG_LEVEL_WARN, __VA_ARGS__)
#define ED_LOG_INFO(...) ED_LOG_AT_(ED_LOG_LEVEL_INFO, __VA_ARGS__)
#define ED_LOG_DBG(...)  ED_LOG_AT_(ED_LOG_LEVEL_DBG, __VA_ARGS__)

/* Rate limiting: each call site (or each owner of a struct ed_log_rl) lets
 * ED_LOG_RL_BURST lines through per ED_LOG_RL_WINDOW_MS and counts the rest;
 * the next line that goes out ends with "(N similar suppressed)". */
#ifndef ED_LOG_RL_BURST
#define ED_LOG_RL_BURST 5
#endif
#ifndef ED_LOG_RL_WINDOW_MS
#define ED_LOG_RL_WINDOW_MS 10000
#endif
struct ed_log_rl {
    uint64_t window_start_ms; /* monotonic; 0 = no line yet */
    uint32_t n_in_window;     /* lines let through in this window */
    uint64_t n_suppressed;    /* lines dropped since the last one let through */
    uint32_t epoch;           /* ed_log_rl_reset_all() starts every limiter afresh */
};
/* Decides for a line at now_ms: true lets it through and moves the count of
 * lines suppressed before it into *n_suppressed (0 if none). */
bool ed_log_rl_admit(struct ed_log_rl *rl, uint64_t now_ms, uint64_t *n_suppressed);
/* ed_log_emit with " (N similar suppressed)" appended when n_suppressed > 0. */
void ed_log_emit_rl(int level, const char *module, const char *file, int line,
                    uint64_t n_suppressed, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Total lines suppressed by every limiter since start (for status and tests). */
uint64_t ed_log_rl_suppressed_total(void);
/* Opens a fresh window at every limiter (tests that look for a line). */
void ed_log_rl_reset_all(void);

/* Rate-limited by the state *rlp, e.g. one per listener. */
#define ED_LOG_RL_AT_(lvl, rlp, ...)                                                               \
    do {                                                                                           \
        uint64_t ed_log_sup_;                                                                      \
        if ((lvl) <= ED_LOG_CEILING && (lvl) <= ed_log_threshold &&                                \
            ed_log_rl_admit((rlp), ed_log_now_ms(), &ed_log_sup_))                                 \
            ed_log_emit_rl((lvl), ED_LOG_MODULE, __FILE__, __LINE__, ed_log_sup_, __VA_ARGS__);    \
    } while (0)
#define ED_LOG_WARN_RL_AT(rlp, ...) ED_LOG_RL_AT_(ED_LOG_LEVEL_WARN, (rlp), __VA_ARGS__)
/* Rate-limited per call site. */
#define ED_LOG_SITE_RL_(lvl, ...)                                                                  \
    do {                                                                                           \
        static struct ed_log_rl ed_log_site_rl_;                                                   \
        ED_LOG_RL_AT_((lvl), &ed_log_site_rl_, __VA_ARGS__);                                       \
    } while (0)
#define ED_LOG_ERR_RL(...)  ED_LOG_SITE_RL_(ED_LOG_LEVEL_ERR, __VA_ARGS__)
#define ED_LOG_WARN_RL(...) ED_LOG_SITE_RL_(ED_LOG_LEVEL_WARN, __VA_ARGS__)
#define ED_LOG_INFO_RL(...) ED_LOG_SITE_RL_(ED_LOG_LEVEL_INFO, __VA_ARGS__)
/* The limiter's clock: monotonic milliseconds, never 0. */
uint64_t ed_log_now_ms(void);

/* The last ED_LOG_RECENT_N warning and error lines (any module, whatever
 * the sink), kept for the dashboard: line is "[module] message (file:line)",
 * cut at ED_LOG_RECENT_LEN - 1 bytes. */
#ifndef ED_LOG_RECENT_N
#define ED_LOG_RECENT_N 32
#endif
#define ED_LOG_RECENT_LEN 240
struct ed_log_recent {
    int64_t time_ms; /* wall clock */
    int level;       /* ED_LOG_LEVEL_ERR or ED_LOG_LEVEL_WARN */
    char line[ED_LOG_RECENT_LEN];
};
/* Copies the kept lines, oldest first, at most max: how many. Safe from any
 * thread. */
int ed_log_recent_get(struct ed_log_recent *out, int max);

/* Logs "corrupt: <what>" with file:line and evaluates to ED_ERR_CORRUPT. */
#define ED_ERR_CORRUPT_AT(...)                                                                     \
    (ed_log_emit(ED_LOG_LEVEL_ERR, ED_LOG_MODULE, __FILE__, __LINE__, __VA_ARGS__), ED_ERR_CORRUPT)

#endif
