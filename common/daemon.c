/* daemon.c - command line, signals and log sink shared by the daemons. */
#include "daemon.h"

#include "conf.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(const struct cw_daemon *d, FILE *f)
{
    fprintf(f, "usage: %s [-c FILE] [-t] [-V]\n"
               "  -c FILE  configuration (default %s)\n"
               "  -t       check the configuration and exit\n"
               "  -V       print the version and exit\n", d->name, d->conf);
}

int cw_daemon_args(struct cw_daemon *d, int argc, char **argv)
{
    int opt;

    while ((opt = getopt(argc, argv, "c:thV")) != -1) {
        switch (opt) {
        case 'c':
            d->conf = optarg;
            break;
        case 't':
            d->check = 1;
            break;
        case 'h':
            usage(d, stdout);
            return 0;
        case 'V':
            printf("%s %s\n", d->name, d->version);
            return 0;
        default:
            usage(d, stderr);
            return 2;
        }
    }
    return -1;
}

void cw_daemon_conf_init(struct cw_daemon_conf *dc, const char *control_socket)
{
    snprintf(dc->control_socket, sizeof(dc->control_socket), "%s", control_socket);
    dc->log_file[0] = '\0';
    dc->log_level = CW_LOG_INFO;
    dc->io_uring = 1;
}

int cw_daemon_conf_key(struct cw_daemon_conf *dc, const char *key, const char *v, char *err,
                       size_t errlen)
{
    if (!strcmp(key, "control-socket"))
        return cw_conf_str(dc->control_socket, sizeof(dc->control_socket), v, err, errlen);
    if (!strcmp(key, "log-file"))
        return cw_conf_str(dc->log_file, sizeof(dc->log_file), v, err, errlen);
    if (!strcmp(key, "log-level"))
        return cw_conf_log_level(v, &dc->log_level, err, errlen);
    if (!strcmp(key, "io-uring"))
        return cw_conf_bool(v, &dc->io_uring, err, errlen);
    return 1;
}

static void on_signal(uv_signal_t *h, int sig)
{
    struct cw_daemon *d = h->data;

    if (sig == SIGHUP) {
        cw_log_reopen();
        d->reload(d->data, NULL);
        return;
    }
    d->stop(d->data, sig == SIGTERM ? "SIGTERM" : "SIGINT");
}

void cw_daemon_signals_start(struct cw_daemon *d, uv_loop_t *loop,
                             int (*reload)(void *data, struct cw_sb *out),
                             void (*stop)(void *data, const char *why), void *data)
{
    d->reload = reload;
    d->stop = stop;
    d->data = data;
    uv_signal_init(loop, &d->sigterm);
    uv_signal_init(loop, &d->sigint);
    uv_signal_init(loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sighup, on_signal, SIGHUP);
}

void cw_daemon_signals_close(struct cw_daemon *d)
{
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
}

int cw_daemon_log(const struct cw_daemon *d, const struct cw_daemon_conf *dc)
{
    if (dc->log_file[0] && cw_log_open(dc->log_file) < 0) {
        fprintf(stderr, "%s: cannot open log file %s: %s\n", d->name, dc->log_file,
                strerror(errno));
        return -1;
    }
    cw_log_set_level((enum cw_log_level)dc->log_level);
    return 0;
}

int cw_daemon_ctl_version(void *arg, int argc, char **argv, struct cw_sb *out)
{
    const struct cw_daemon *d = arg;

    (void)argc;
    (void)argv;
    cw_sb_printf(out, "%s %s pid %ld\n", d->name, d->version, (long)getpid());
    return 0;
}

int cw_daemon_ctl_reload(void *arg, int argc, char **argv, struct cw_sb *out)
{
    const struct cw_daemon *d = arg;

    (void)argv;
    if (argc != 0) {
        cw_sb_printf(out, "usage: reload\n");
        return 1;
    }
    cw_log_reopen();
    return d->reload(d->data, out) ? 1 : 0;
}

static void reload_say(struct cw_sb *out, enum cw_log_level level, const char *comp,
                       const char *fmt, va_list ap)
{
    char msg[2048];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    cw_log(level, comp, "%s", msg);
    if (out)
        cw_sb_printf(out, "%s\n", msg);
}

void cw_daemon_reload_error(struct cw_sb *out, const char *comp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    reload_say(out, CW_LOG_ERROR, comp, fmt, ap);
    va_end(ap);
}

void cw_daemon_reload_notice(struct cw_sb *out, const char *comp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    reload_say(out, CW_LOG_NOTICE, comp, fmt, ap);
    va_end(ap);
}
