/* admin.h - the HTTPS admin interface of both daemons: status pages, a
 * JSON API, Prometheus metrics, behind accounts with hashed passwords,
 * sessions and lockout.
 *
 * The daemon parses its [admin] section with cw_admin_conf_key (defaults
 * from cw_admin_conf_init), then creates the server with its status
 * document, counters and control socket. The library knows nothing else
 * of the daemon: the status comes from a callback, actions are control
 * commands run in-process (cw_ctl_exec), and only the commands the daemon
 * lists may be run. See docs/admin.md for what an operator sees. */
#ifndef CW_ADMIN_H
#define CW_ADMIN_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/report.h"

struct cw_stats;
struct cw_ctl;

/* [admin] of edge.conf / core.conf. */
struct cw_admin_conf {
    int enabled;                    /* an [admin] section is present */
    struct sockaddr_storage listen;
    char cert[1024], key[1024];     /* PEM files, required */
    char users[1024];               /* the accounts file, "name:$y$..." lines, mode 0600 */
    unsigned lockout_failures;      /* failed logins before an account is locked (5) */
    unsigned lockout_seconds;       /* how long it stays locked (300) */
    unsigned session_timeout;       /* idle seconds before a session ends (900) */
};

/* Defaults: listen on 0.0.0.0:port, the accounts file users. */
void cw_admin_conf_init(struct cw_admin_conf *ac, int port, const char *users);
/* One key of [admin]: 0, or -1 with a message in err (unknown key too). */
int cw_admin_conf_key(struct cw_admin_conf *ac, const char *key, const char *v, char *err,
                      size_t errlen);
/* After the file: what is missing. 0, or -1 with "path: what" in err. */
int cw_admin_conf_check(const struct cw_admin_conf *ac, const char *path, char *err,
                        size_t errlen);

/* Fills r with the daemon's whole status document. */
typedef void (*cw_admin_report_fn)(void *arg, struct cw_report *r);

struct cw_admin_opts {
    const struct cw_admin_conf *conf;   /* copied */
    const char *product;                /* "causeway-edge", shown in the page header */
    cw_admin_report_fn report;
    void *report_arg;
    struct cw_stats *stats;             /* /metrics; the server adds its own counters */
    struct cw_ctl *ctl;                 /* actions; `admin unlock|status` are registered on it */
    /* The control commands that may be run from the pages and the API,
     * NULL-terminated: lowercase words, then an upper-case placeholder when
     * the command takes an argument ("admin unlock NAME"). */
    const char *const *actions;
};

struct cw_admin;

/* Reads the accounts file and the certificate, listens. NULL with a
 * message in err (the file's mode is refused when group or others may
 * read or write it). stats and ctl must outlive the server. */
struct cw_admin *cw_admin_create(uv_loop_t *loop, const struct cw_admin_opts *o, char *err,
                                 size_t errlen);
/* A daemon's start-up: creates the server into *out when conf has an
 * [admin] section, else says once (at notice) that there is none. Failures
 * are logged under the daemon's component comp. 0, or -1 when [admin] is
 * there and the server could not start. */
int cw_admin_start(uv_loop_t *loop, const struct cw_admin_opts *o, const char *comp,
                   const char *conf_path, struct cw_admin **out);
/* SIGHUP: reads the accounts file and the certificate again; on an error
 * the old ones stay (0, or -1 with err). Locks and sessions of accounts
 * that remain are kept; sessions of removed accounts end. */
int cw_admin_reload(struct cw_admin *a, char *err, size_t errlen);
/* Stops listening and closes every connection; the memory goes once the
 * last handle is closed and password checks in flight are done. */
void cw_admin_close(struct cw_admin *a);

/* The accounts file for the CLI (the daemon may be stopped). */
/* 0 and the hash in out (yescrypt, /etc/shadow's format), or -1. */
int cw_admin_hash_password(const char *password, char *out, size_t outlen);
/* Adds or replaces (hash non-NULL) or deletes (hash NULL) name in the file,
 * atomically (temporary file, rename), mode 0600. 0, 1 when deleting a name
 * that is not there, -1 with err. */
int cw_admin_users_put(const char *path, const char *name, const char *hash, char *err,
                       size_t errlen);
/* Calls fn for every name; 0, or -1 with err. */
int cw_admin_users_list(const char *path, void (*fn)(const char *name, void *arg), void *arg,
                        char *err, size_t errlen);
/* 1 when name is a valid account name: 1-64 of [A-Za-z0-9._-]. */
int cw_admin_name_valid(const char *name);

#endif
