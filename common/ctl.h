/* ctl.h - the control socket: a unix stream socket (mode 0600) on which the
 * `causeway` CLI sends one command line and reads one reply.
 *
 * Request: words separated by single spaces, ending in "\n", at most
 * CW_CTL_LINE_MAX bytes. Reply: "ok\n" or "error\n", then text; the daemon
 * closes the connection after the reply. */
#ifndef CW_CTL_H
#define CW_CTL_H

#include <uv.h>

#include "strbuf.h"

#define CW_CTL_LINE_MAX 4096
#define CW_CTL_ARGS_MAX 32

/* argv holds the words after the registered command words. Returns 0 for
 * "ok", non-zero for "error"; the text goes to out. */
typedef int (*cw_ctl_handler)(void *arg, int argc, char **argv, struct cw_sb *out);

struct cw_ctl;

/* Binds and listens on path (an old socket file that nobody answers on is
 * replaced). Returns NULL with a message in err. */
struct cw_ctl *cw_ctl_create(uv_loop_t *loop, const char *path, char *err, size_t errlen);
/* cmd: one or more words ("turn status"); the longest registered match wins. */
int cw_ctl_register(struct cw_ctl *ctl, const char *cmd, cw_ctl_handler fn, void *arg);
/* Stops listening, unlinks the socket; open client connections are closed. */
void cw_ctl_close(struct cw_ctl *ctl);

/* A reply that comes later (a cluster write): called from inside a
 * handler, it returns a token and the handler's own return value and text
 * are ignored; the daemon answers when cw_ctl_finish() is called, exactly
 * once, with the token. The CLI waits (its own timeout applies). */
struct cw_ctl_pending;
struct cw_ctl_pending *cw_ctl_defer(struct cw_ctl *ctl);
void cw_ctl_finish(struct cw_ctl_pending *p, int rc, const char *text);

/* In-process: runs a command as if it came over the socket (the admin API
 * does). cb gets the answer exactly once, maybe before cw_ctl_exec returns,
 * maybe later for a deferred command: the caller keeps arg alive until
 * then. rc as for handlers (0 ok). -1 (and no call) only when out of
 * memory. argv's strings are not kept after the handler returns. */
typedef void (*cw_ctl_done)(void *arg, int rc, const char *text, size_t len);
int cw_ctl_exec(struct cw_ctl *ctl, int argc, char **argv, cw_ctl_done cb, void *arg);

/* Client side, blocking (for the CLI): sends the words, returns the reply
 * body in out and 0 for "ok", 1 for "error", -1 if the daemon could not be
 * reached (err says why). */
int cw_ctl_call(const char *path, int argc, char **argv, struct cw_sb *out, char *err,
                size_t errlen);

#endif
