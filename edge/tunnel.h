/* tunnel.h - the SSH tunnel endpoint of the edge: Debian's OpenSSH sshd,
 * configured by causeway-edge (its own sshd_config, host key and
 * authorized_keys in the tunnel state directory, never the machine's own
 * sshd), started, restarted with backoff when it dies, stopped on shutdown.
 * Its log lines (sshd -e) become edge log lines of component "sshd". */
#ifndef EDGE_TUNNEL_H
#define EDGE_TUNNEL_H

#include <uv.h>

#include "common/strbuf.h"
#include "edge/config.h"

struct tunnel;

/* Prepares the state directory (host key on first start, sshd_config,
 * authorized_keys with the current restrictions) and starts sshd. NULL with
 * err when the state cannot be prepared; a failing sshd is retried. */
struct tunnel *tunnel_start(uv_loop_t *loop, const struct edge_tunnel_config *t, char *err,
                            size_t errlen);
/* Stops sshd (SIGTERM) and frees everything once it has exited. */
void tunnel_stop(struct tunnel *tn);
/* The `causeway tunnel status` text. */
void tunnel_status(struct tunnel *tn, struct cw_sb *out);

/* Section "tunnel" of the status document. */
struct cw_report;
void tunnel_report(struct tunnel *tn, struct cw_report *r);
/* Whether sshd will let cores log in as t's user: the account exists, can
 * read the authorized_keys file, and its password field is not locked. 1,
 * or 0 with what is wrong and the fix. */
int tunnel_account_usable(const struct edge_tunnel_config *t, char *what, size_t wl, char *fix,
                          size_t fl);
/* 1 when sshd runs; else 0 and why it does not. */
int tunnel_sshd_running(const struct tunnel *tn, char *why, size_t len);

#endif
