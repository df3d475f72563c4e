/* xmpp.h - the XMPP service of a core node (RFC 6120/6121 subset): client
 * connections (c2s: STARTTLS required, SASL SCRAM-SHA-256/SHA-1 and
 * optionally PLAIN, resource binding, rosters, presence and subscriptions,
 * messages, ping) and call-bridge components (XEP-0114), routed among the
 * sessions and components of this node; stanzas for other domains go to
 * the edge's federation gateway over the link of xmpp/fedlink.h.
 *
 * The service reads the replicated state (xmpp/state.h: domains, users,
 * components, rosters) and changes it only by proposing commands to its
 * owner, which applies them (at once on a single node; through the cluster
 * log otherwise) and then calls xmpp_server_applied() on every node. */
#ifndef CW_XMPP_H
#define CW_XMPP_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/strbuf.h"
#include "xmpp/state.h"
#include "xmpp/xml.h"

struct cw_tls_ctx;

struct xmpp_server_opts {
    struct sockaddr_storage c2s;        /* ss_family 0: no client listener */
    struct sockaddr_storage component;  /* ss_family 0: no component listener */
    struct sockaddr_storage link;       /* ss_family 0: no federation link (fedlink.h) */
    /* The link key (fedlink.h: FEDLINK_KEY_MIN to FEDLINK_KEY_MAX bytes),
     * required with link; copied, so the caller may wipe its own. */
    const unsigned char *link_key;
    size_t link_key_len;
    struct cw_tls_ctx *tls;             /* STARTTLS certificates (SNI picks); required */
    int allow_plain;                    /* offer SASL PLAIN (over TLS only) */
    const char *node;                   /* this node's id in the session directory */
    struct xml_limits limits;           /* zero fields: xml.h's defaults */
    unsigned max_connections;           /* clients, components, links (0: 10000) */
    unsigned negotiation_timeout_ms;    /* stream set-up deadline (0: 30000) */
    /* A bound client silent this long is pinged (XEP-0199), and closed when
     * it stays silent half as long again (0: 60000). */
    unsigned ping_interval_ms;
    /* Asks the state's owner to apply cmd (state.h). 0 when applied or
     * accepted for the log, -1 when refused (no quorum, say). */
    int (*propose)(void *arg, const char *cmd);
    void *propose_arg;
    /* Sends a stanza to another node (named in the session directory) for
     * its sessions; NULL on a node alone. 0, or -1 (node unknown). */
    int (*forward)(void *arg, const char *node, const struct xml_node *n);
    void *forward_arg;
};

struct xmpp_server;

/* Binds the listeners. NULL with the reason in err. The server keeps a
 * pointer to st (owned by the caller, alive until xmpp_server_close). */
struct xmpp_server *xmpp_server_create(uv_loop_t *loop, const struct xmpp_server_opts *opts,
                                       const struct xmpp_state *st, char *err, size_t errlen);
/* Closes listeners and every connection (with a system-shutdown stream
 * error); the memory goes once all handles are closed. */
void xmpp_server_close(struct xmpp_server *srv);
/* STARTTLS from now on serves tls (renewed certificates), borrowed as
 * opts->tls was; connections already in TLS keep theirs. */
void xmpp_server_set_tls(struct xmpp_server *srv, struct cw_tls_ctx *tls);
/* Command cmd was applied to the state (on every node, in log order):
 * roster changes are pushed to the owner's resources on this node;
 * sessions of deleted users and components whose name or secret went away
 * are closed; the federation links hear of changed domains. */
void xmpp_server_applied(struct xmpp_server *srv, const char *cmd);
/* A stanza node forwarded: delivered to this node's sessions only (never
 * forwarded again, never bounced). Its sender is remembered as being on
 * node for a while, so that answers find it before the session directory
 * entry reaches this node. Takes ownership. */
void xmpp_server_deliver(struct xmpp_server *srv, const char *node, struct xml_node *n);
/* Around many xmpp_server_deliver() calls (begin 1, then 0): what they
 * write to each connection goes out once, at the end. */
void xmpp_server_batch(struct xmpp_server *srv, int begin);
/* Listeners, connections, sessions, components and federation links, for
 * `xmpp status`. */
void xmpp_server_status(const struct xmpp_server *srv, struct cw_sb *out);
/* Sections "xmpp" (listeners, counters, domains) and "callbridges" (each
 * configured component and the node it is connected to) of the status
 * document. */
struct cw_report;
void xmpp_server_report(const struct xmpp_server *srv, struct cw_report *r);
/* 1 when the component domain is connected to this server. */
int xmpp_server_has_component(const struct xmpp_server *srv, const char *domain);

#endif
