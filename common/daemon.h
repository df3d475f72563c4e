/* daemon.h - what both Causeway daemons do the same way: the command line
 * (-c FILE, -t, -h), the signals (SIGTERM and SIGINT stop, SIGHUP
 * reloads), the log sink and the `version` control command. */
#ifndef CW_DAEMON_H
#define CW_DAEMON_H
#include <uv.h>
#include "strbuf.h"

struct cw_daemon {
    const char *name;           /* "causeway-edge" */
    const char *version;
    const char *conf;           /* -c FILE, or the default */
    int check;                  /* -t: check the configuration and exit */
    uv_signal_t sigterm, sigint, sighup;
};

/* Parses argv into d (name, version and the default conf already set).
 * Returns -1 to go on, or the status to exit with (after -h or bad usage). */
int cw_daemon_args(struct cw_daemon *d, int argc, char **argv);
/* Starts the three signal handlers; cb gets data in h->data. */
void cw_daemon_signals_start(struct cw_daemon *d, uv_loop_t *loop,
                             void (*cb)(uv_signal_t *h, int sig), void *data);
void cw_daemon_signals_close(struct cw_daemon *d);
/* Opens log_file (when not empty) and sets the level; -1 after saying why
 * on stderr. */
int cw_daemon_log(const struct cw_daemon *d, const char *log_file, int level);
/* The `version` control command; arg is the struct cw_daemon. */
int cw_daemon_ctl_version(void *arg, int argc, char **argv, struct cw_sb *out);
#endif
