/* daemon.c - command line, signals and log sink shared by the daemons. */
#include "daemon.h"

#include "conf.h"
#include "fault.h"
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

void cw_daemon_conf_snap(struct cw_daemon *d, const char *numbered)
{
    char err[1024];

    d->numbered = numbered;
    cw_conf_snap_destroy(d->snap);
    if (!(d->snap = cw_conf_snap_file(d->conf, numbered, err, sizeof(err))))
        CW_WARN("daemon", "%s; reloads will not say which changes wait for a restart", err);
}

void cw_daemon_conf_snap_free(struct cw_daemon *d)
{
    cw_conf_snap_destroy(d->snap);
    d->snap = NULL;
}

static void reload_warn(struct cw_sb *out, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reload_warn(struct cw_sb *out, const char *comp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    reload_say(out, CW_LOG_WARN, comp, fmt, ap);
    va_end(ap);
}

struct pending {
    const char *const *live;
    struct cw_sb names;
    int n;
};

static int is_live(const char *const *live, const char *section, const char *key)
{
    size_t sl = strlen(section);

    for (; *live; live++)
        if (!strncmp(*live, section, sl) && (*live)[sl] == ' ' &&
            (!strcmp(*live + sl + 1, key) || !strcmp(*live + sl + 1, "*")))
            return 1;
    return 0;
}

static void pending_one(void *arg, const char *section, unsigned number, const char *key)
{
    struct pending *p = arg;

    if (is_live(p->live, section, key))
        return;
    if (p->n++)
        cw_sb_printf(&p->names, ", ");
    if (number)
        cw_sb_printf(&p->names, "[%s] number %u %s", section, number, key);
    else
        cw_sb_printf(&p->names, "[%s] %s", section, key);
}

int cw_daemon_reload_pending(struct cw_daemon *d, struct cw_sb *out, const char *comp,
                             const char *const *live, struct cw_faults *faults)
{
    struct pending p = { .live = live };
    struct cw_conf_snap *now;
    char err[1024];

    if (!d->snap)
        return -1;
    if (!(now = cw_conf_snap_file(d->conf, d->numbered, err, sizeof(err))))
        return -1;      /* the reload itself has just read it: a race with an edit */
    cw_sb_init(&p.names);
    cw_conf_snap_diff(d->snap, now, pending_one, &p);
    cw_conf_snap_destroy(now);
    if (p.n) {
        char msg[2048];

        if (p.n == 1)
            snprintf(msg, sizeof(msg), "1 changed setting of %s waits for a restart of %s: %s",
                     d->conf, d->name, cw_sb_str(&p.names));
        else
            snprintf(msg, sizeof(msg), "%d changed settings of %s wait for a restart of %s: %s",
                     p.n, d->conf, d->name, cw_sb_str(&p.names));
        reload_warn(out, comp, "SIGHUP: %s", msg);
        cw_fault_raise(faults, "config.restart", "%s", msg);
    } else {
        cw_fault_clear(faults, "config.restart");
    }
    cw_sb_free(&p.names);
    return p.n;
}

const char *cw_daemon_pending_words(int pending)
{
    return pending < 0 ? "other changes need a restart"
           : pending ? "the other changes wait for a restart" : "no other setting changed";
}
