/* log.c - the process-wide log sink (see log.h). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The sink is process-wide on purpose: set by main() before the loop runs,
 * changed afterwards only on SIGHUP, on the main loop, while other threads
 * (the TURN workers) may be logging: the level is atomic, and a reopened
 * file takes the old descriptor's number (dup2), so a write never meets a
 * closed descriptor. */
static atomic_int log_level = CW_LOG_INFO;
static int log_fd = 2;
static char log_path[4096];

static const char *const level_names[] = { "error", "warn", "notice", "info", "debug" };

void cw_log_set_level(enum cw_log_level level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum cw_log_level cw_log_get_level(void)
{
    return (enum cw_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int cw_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *cw_log_level_name(enum cw_log_level level)
{
    return (unsigned)level < 5 ? level_names[level] : "?";
}

int cw_log_open(const char *path)
{
    int fd;

    if (!path) {
        if (log_fd > 2)
            close(log_fd);
        log_fd = 2;
        log_path[0] = 0;
        return 0;
    }
    if (strlen(path) >= sizeof(log_path))
        return -1;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (log_fd > 2) {
        dup2(fd, log_fd);
        close(fd);
    } else {
        log_fd = fd;
    }
    snprintf(log_path, sizeof(log_path), "%s", path);
    return 0;
}

int cw_log_reopen(void)
{
    char path[sizeof(log_path)];

    if (!log_path[0])
        return 0;
    memcpy(path, log_path, sizeof(path));
    return cw_log_open(path);
}

void cw_vlog(enum cw_log_level level, const char *comp, const char *fmt, va_list ap)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    int n, m;

    if (!cw_log_enabled(level))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)(tv.tv_usec / 1000), cw_log_level_name(level), comp);
    if (n < 0)
        return;
    m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    /* One line per event: control characters from the wire never split it. */
    for (int i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20)
            line[i] = '?';
    line[n++] = '\n';
    while (write(log_fd, line, (size_t)n) < 0 && errno == EINTR)
        ;
}

void cw_log(enum cw_log_level level, const char *comp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cw_vlog(level, comp, fmt, ap);
    va_end(ap);
}
