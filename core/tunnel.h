/* tunnel.h - the core's SSH tunnel client: one SSH connection (libssh2 on the
 * libuv loop) to an edge's sshd, holding a remote forward on the edge's
 * loopback; every connection the edge opens on it is spliced to the guest
 * account client URI's addresses inside (the edge's federation link, a
 * stream of service CW_MUX_SVC_XMPP, to the node's XMPP link-listen).
 * Reconnects by itself. */
#ifndef CORE_TUNNEL_H
#define CORE_TUNNEL_H

#include "common/dns.h"
#include "common/strbuf.h"
#include "core/config.h"

#include <uv.h>

struct core_tunnel;

/* Starts connecting at once. key_file is the private ed25519 key (its
 * public half at key_file.pub); cfg, key_file and dns must outlive the
 * tunnel. xmpp_link: where the edge's federation streams (CW_MUX_SVC_XMPP)
 * go, the node's [xmpp] link-listen (copied; NULL or ss_family 0: they are
 * refused). NULL when out of memory. */
struct core_tunnel *core_tunnel_create(uv_loop_t *loop, const struct core_tunnel_config *cfg,
                                       const char *key_file, struct cw_dns *dns,
                                       const struct sockaddr_storage *xmpp_link);
/* Ends forwarded connections and the SSH connection; cb(arg) runs once
 * every handle is closed and the memory is freed. */
void core_tunnel_close(struct core_tunnel *t, void (*cb)(void *), void *arg);
/* One table row: Target, Domain, Status, since (header: core_tunnel_header). */
void core_tunnel_header(struct cw_sb *out);
void core_tunnel_row(struct core_tunnel *t, struct cw_sb *out);
/* 1 when the tunnel is up (Active); else 0 with the state and its reason
 * ("Failed: ...", "Connecting: ...") in why. target: the edge as shown in
 * status. For checks (the doctor). */
int core_tunnel_up(const struct core_tunnel *t, const char **target, char *why, size_t whylen);
/* Forwards and the guest account client URI's resolved targets. */
void core_tunnel_detail(struct core_tunnel *t, struct cw_sb *out);

#endif
