/* Logging: ED_LOG_ERR/WARN/INFO/DBG with a per-file module name.
 * Define ED_LOG_MODULE "name" before including this header. A board sets a
 * compile-time ceiling (ED_LOG_CEILING); the runtime level is global with
 * optional per-module overrides. Lines go to ed_plat_log_write. */
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

/* Logs "corrupt: <what>" with file:line and evaluates to ED_ERR_CORRUPT. */
#define ED_ERR_CORRUPT_AT(...)                                                                     \
    (ed_log_emit(ED_LOG_LEVEL_ERR, ED_LOG_MODULE, __FILE__, __LINE__, __VA_ARGS__), ED_ERR_CORRUPT)

#endif
