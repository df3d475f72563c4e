/* log.h - leveled, per-component log lines with stable, greppable text.
 *
 * One line per event:  2026-11-23T10:00:00.123Z warn turn: <message>
 * The sink (stderr or a file) and the level are set once at start-up by the
 * daemon; libraries only call the macros. Never pass a secret to a log call. */
#ifndef CW_LOG_H
#define CW_LOG_H

#include <stdarg.h>

enum cw_log_level {
    CW_LOG_ERROR = 0,
    CW_LOG_WARN = 1,
    CW_LOG_NOTICE = 2,
    CW_LOG_INFO = 3,
    CW_LOG_DEBUG = 4,
};

/* Sets the threshold; lines above it are not formatted at all. */
void cw_log_set_level(enum cw_log_level level);
enum cw_log_level cw_log_get_level(void);
/* Appends to path (created 0640), or stderr when path is NULL. -1 on error. */
int cw_log_open(const char *path);
/* Reopens the file after rotation (SIGHUP). */
int cw_log_reopen(void);
/* "error", "warn", ... -> level; -1 if unknown. */
int cw_log_level_parse(const char *name);
const char *cw_log_level_name(enum cw_log_level level);

void cw_log(enum cw_log_level level, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cw_vlog(enum cw_log_level level, const char *comp, const char *fmt, va_list ap);

#define cw_log_enabled(l) ((int)(l) <= (int)cw_log_get_level())
#define CW_ERROR(comp, ...) cw_log(CW_LOG_ERROR, comp, __VA_ARGS__)
#define CW_WARN(comp, ...) cw_log(CW_LOG_WARN, comp, __VA_ARGS__)
#define CW_NOTICE(comp, ...) cw_log(CW_LOG_NOTICE, comp, __VA_ARGS__)
#define CW_INFO(comp, ...)                                                   \
    do {                                                                     \
        if (cw_log_enabled(CW_LOG_INFO))                                     \
            cw_log(CW_LOG_INFO, comp, __VA_ARGS__);                          \
    } while (0)
#define CW_DEBUG(comp, ...)                                                  \
    do {                                                                     \
        if (cw_log_enabled(CW_LOG_DEBUG))                                    \
            cw_log(CW_LOG_DEBUG, comp, __VA_ARGS__);                         \
    } while (0)

#endif
