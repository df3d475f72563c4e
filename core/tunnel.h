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
 * refused). NULL with the reason in err (out of memory, or webbridge-ca
 * cannot be read). */
struct core_tunnel *core_tunnel_create(uv_loop_t *loop, const struct core_tunnel_config *cfg,
                                       const char *key_file, struct cw_dns *dns,
                                       const struct sockaddr_storage *xmpp_link, char *err,
                                       size_t errlen);
/* With webbridge-tls on: whether webbridge-ca can be used, as the start
 * checks it (causeway-core -t). 0, or -1 with the reason in err. */
int core_tunnel_check_tls(const struct core_tunnel_config *cfg, char *err, size_t errlen);
struct cw_wbatch;
/* From now on the connections to the inside targets write through b
 * (common/wbatch.h), which must outlive the tunnel. */
void core_tunnel_set_wbatch(struct core_tunnel *t, struct cw_wbatch *b);
/* With webbridge-tls on: reads webbridge-ca again (SIGHUP), for the
 * connections made from now on. 1 when it did, 0 when TLS is off, -1 with
 * the reason in err (the CAs read before stay in use). */
int core_tunnel_reload_tls(struct core_tunnel *t, char *err, size_t errlen);
/* With webbridge-tls on: connects to addr and makes the TLS handshake a
 * guest's connection would make, the webbridge's certificate checked the
 * same way (core/webtls.c); done(arg, 0, NULL) when it passed, else a
 * negative uv status (no TCP connection), or CW_DOCTOR_EPROTO with the
 * reason in why. 0, or -1 (TLS is off, or out of memory: done is not
 * called). */
int core_tunnel_probe_tls(struct core_tunnel *t, const struct sockaddr *addr,
                          void (*done)(void *arg, int status, const char *why), void *arg);
/* Ends forwarded connections and the SSH connection; cb(arg) runs once
 * every handle is closed and the memory is freed. */
void core_tunnel_close(struct core_tunnel *t, void (*cb)(void *), void *arg);
/* One table row: Target, Domain, Status, since (header: core_tunnel_header). */
void core_tunnel_header(struct cw_sb *out);
void core_tunnel_row(struct core_tunnel *t, struct cw_sb *out);
/* Forwards and the guest account client URI's resolved targets. */
void core_tunnel_detail(struct core_tunnel *t, struct cw_sb *out);

/* The status document: one row of the "SSH tunnels" table (Target,
 * Domain, Status, Since, Why, Connections open, Connections) and one of the
 * "Guest account client URI" table (Domain, Resolved to, Answer of, DNS
 * fault, Last target failure, at). */
struct cw_report;
void core_tunnel_report_row(struct core_tunnel *t, struct cw_report *r);
void core_tunnel_report_guest(struct core_tunnel *t, struct cw_report *r);

/* What the fault conditions look at. Strings point into the tunnel. */
struct core_tunnel_health {
    const char *target, *guest_uri, *state, *reason;
    int active;
    time_t since;
    time_t guest_fault_since;           /* 0: the guest URI resolves */
    const char *guest_why;
    int guest_naddrs;
    unsigned edge_port;
    time_t unreachable_since;           /* 0: the last connection to the webbridge was made */
    time_t webbridge_not_after;         /* its certificate's end; 0: not known (or plain) */
    const char *unreachable_why;        /* the last target failure */
};
void core_tunnel_health(const struct core_tunnel *t, struct core_tunnel_health *h);

#endif
