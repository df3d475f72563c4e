/* daemon.h - what both Causeway daemons do the same way: the command line
 * (-c FILE, -t, -h), the signals (SIGTERM and SIGINT stop, SIGHUP
 * reloads), the log sink and the `version` control command. */
#ifndef CW_DAEMON_H
#define CW_DAEMON_H
#include <uv.h>
#include "strbuf.h"

/* The keys of a daemon's own section: control-socket, log-file, log-level. */
struct cw_daemon_conf {
    char control_socket[108];
    char log_file[1024];        /* "" = standard error */
    int log_level;
    int io_uring;               /* io-uring: batch each loop turn's socket writes */
};

/* Defaults: the given socket, standard error, level info. */
void cw_daemon_conf_init(struct cw_daemon_conf *dc, const char *control_socket);
/* 1 when key is not one of those keys; else 0, or -1 with err. */
int cw_daemon_conf_key(struct cw_daemon_conf *dc, const char *key, const char *v, char *err,
                       size_t errlen);

struct cw_daemon {
    const char *name;           /* "causeway-edge" */
    const char *version;
    const char *conf;           /* -c FILE, or the default */
    int check;                  /* -t: check the configuration and exit */
    uv_signal_t sigterm, sigint, sighup;
    void (*reload)(void *data);
    void (*stop)(void *data, const char *why);
    void *data;
};

/* Parses argv into d (name, version and the default conf already set).
 * Returns -1 to go on, or the status to exit with (after -h or bad usage). */
int cw_daemon_args(struct cw_daemon *d, int argc, char **argv);
/* SIGTERM and SIGINT call stop(data, "SIGTERM"|"SIGINT"); SIGHUP reopens the
 * log file, then calls reload(data). */
void cw_daemon_signals_start(struct cw_daemon *d, uv_loop_t *loop, void (*reload)(void *data),
                             void (*stop)(void *data, const char *why), void *data);
void cw_daemon_signals_close(struct cw_daemon *d);
/* Opens the log file (when set) and sets the level; -1 after saying why on
 * stderr. */
int cw_daemon_log(const struct cw_daemon *d, const struct cw_daemon_conf *dc);
/* The `version` control command; arg is the struct cw_daemon. */
int cw_daemon_ctl_version(void *arg, int argc, char **argv, struct cw_sb *out);
#endif
