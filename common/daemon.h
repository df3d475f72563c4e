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
    /* What can change without a restart is read again; out is the `reload`
     * command's answer (NULL on SIGHUP). The number of parts that failed. */
    int (*reload)(void *data, struct cw_sb *out);
    void (*stop)(void *data, const char *why);
    void *data;
    struct cw_conf_snap *snap;  /* the file as this process started with it */
    const char *numbered;       /* its section whose headers each start one more */
};

/* Parses argv into d (name, version and the default conf already set).
 * Returns -1 to go on, or the status to exit with (after -h or bad usage). */
int cw_daemon_args(struct cw_daemon *d, int argc, char **argv);
/* SIGTERM and SIGINT call stop(data, "SIGTERM"|"SIGINT"); SIGHUP reopens the
 * log file, then calls reload(data, NULL). */
void cw_daemon_signals_start(struct cw_daemon *d, uv_loop_t *loop,
                             int (*reload)(void *data, struct cw_sb *out),
                             void (*stop)(void *data, const char *why), void *data);
void cw_daemon_signals_close(struct cw_daemon *d);
/* Opens the log file (when set) and sets the level; -1 after saying why on
 * stderr. */
int cw_daemon_log(const struct cw_daemon *d, const struct cw_daemon_conf *dc);
/* The `version` control command; arg is the struct cw_daemon. */
int cw_daemon_ctl_version(void *arg, int argc, char **argv, struct cw_sb *out);
/* The `reload` control command: what SIGHUP does, answering with the lines
 * below (errors, then the summary); status 1 when a part failed. arg is the
 * struct cw_daemon. */
int cw_daemon_ctl_reload(void *arg, int argc, char **argv, struct cw_sb *out);
/* A reload's error and its closing summary: logged for comp (error,
 * notice), and added to out, the `reload` command's answer, unless NULL. */
void cw_daemon_reload_error(struct cw_sb *out, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cw_daemon_reload_notice(struct cw_sb *out, const char *comp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Keeps what the configuration file d->conf says now (see cw_conf_snap_file;
 * numbered: "tunnel" for core.conf), so that reloads can tell which of its
 * settings changed since; says why on failure (reloads then cannot tell). */
void cw_daemon_conf_snap(struct cw_daemon *d, const char *numbered);
void cw_daemon_conf_snap_free(struct cw_daemon *d);
/* A reload's settings that wait for a restart: those of the file now that
 * differ from the start's and are not in live, the ones the reload applies
 * ("section key", or "section *" for all of a section's). Said in one
 * warning (logged for comp and added to out unless NULL) and kept as the
 * fault config.restart in faults, which goes once none is left (a change
 * undone). Returns how many, or -1 when it cannot tell. */
struct cw_faults;
int cw_daemon_reload_pending(struct cw_daemon *d, struct cw_sb *out, const char *comp,
                             const char *const *live, struct cw_faults *faults);
/* The reload summary's closing words for what that returned. */
const char *cw_daemon_pending_words(int pending);
#endif
