/* xmpp_int.h - what the XMPP service's files share: the server, its
 * connections and the routing entry points. */
#ifndef CW_XMPP_INT_H
#define CW_XMPP_INT_H

#include "common/stream.h"
#include "xmpp/jid.h"
#include "xmpp/sasl.h"
#include "xmpp/xmpp.h"

#define NS_CLIENT "jabber:client"
#define NS_COMPONENT "jabber:component:accept"
#define NS_SERVER "jabber:server"
#define NS_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_ROSTER "jabber:iq:roster"
#define NS_PING "urn:xmpp:ping"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"

#define SESSION_BUCKETS 4096
#define OUT_MAX (4u << 20)   /* bytes queued to one connection before it is cut */
#define PING_DEFAULT_MS 60000

enum xconn_kind {
    XC_C2S,
    XC_COMP,
    XC_LINK,        /* the edge's federation link (link.c, xmpp/fedlink.h) */
};

enum xconn_phase {
    PH_HEADER,      /* waiting for the stream header */
    PH_TLS,         /* c2s: features sent, waiting for <starttls/> */
    PH_AUTH,        /* c2s: over TLS, waiting for <auth/> or <response/> */
    PH_BIND,        /* c2s: authenticated, waiting for the bind request */
    PH_HANDSHAKE,   /* component, link: waiting for <handshake/> */
    PH_READY,       /* stanzas flow */
};

struct xconn {
    struct xmpp_server *srv;
    struct cw_stream *st;
    struct xml_stream *xs;
    enum xconn_kind kind;
    enum xconn_phase phase;
    unsigned header_sent : 1;   /* our stream header is out */
    unsigned closing : 1;
    unsigned available : 1;     /* c2s: sent available presence */
    unsigned interested : 1;    /* c2s: asked for the roster (gets pushes) */
    unsigned restart : 1;       /* xml stream must be reset after feed returns */
    unsigned tls_next : 1;      /* start TLS after feed returns */
    unsigned pinged : 1;        /* c2s: a ping went out since it last sent anything */
    char id[33];                /* our stream id */
    char domain[JID_PART_MAX + 1];   /* the stream's to: our domain / the component's */
    char peer[64];
    struct sasl_server *sasl;
    enum sasl_mech mech;
    unsigned auth_failures;
    struct jid jid;             /* c2s: the bound address */
    char full[JID_MAX + 1], bare[JID_MAX + 1];
    struct xml_node *presence;  /* c2s: last broadcast available presence */
    struct xconn *hnext;        /* session (by full JID) or component hash chain; the
                                 * server's list of links that are up */
    struct xconn *bnext;        /* c2s: sessions by bare JID */
    struct xconn *prev, *next;  /* all connections */
    uv_timer_t timer;           /* negotiation deadline; then, for a client, its pings */
    uint64_t last_rx;           /* uv_now when it last sent anything */
    struct cw_sb outq;          /* written while the server is corked */
    struct xconn *dnext;        /* in the server's list of connections with outq */
    unsigned dirty : 1;
    unsigned long stanzas_in, stanzas_out;
    /* link: since when it is up, why it ends (for the log line), and the
     * stanzas it brought that were dropped (logged once a minute at most) */
    time_t since;
    char nonce[33];             /* the edge's, from its stream header */
    char why[160];
    unsigned long dropped, drops_quiet;
    uint64_t drop_logged_ms;
};

struct xmpp_listener {
    uv_tcp_t tcp;
    struct xmpp_server *srv;
    enum xconn_kind kind;
    char addr[64];
};

/* Where a sender on another node was seen last: answers can reach it before
 * the session directory entry is applied here (it lags the leader). */
#define HINTS 1024
#define HINT_TTL_MS 60000
struct peer_hint {
    char full[JID_MAX + 1];
    char node[64];
    uint64_t at;                /* uv_now */
};

/* A stanza for a session the session directory does not show here yet (its
 * entry lags the leader by a heartbeat or so): routed again once, later. */
#define PARK_MS 1000
#define PARK_MAX 1000
struct parked {
    struct parked *next;
    struct xml_node *n;
    uint64_t due;               /* uv_now */
};

struct xmpp_server {
    uv_loop_t *loop;
    struct xmpp_server_opts o;
    char node[64];
    const struct xmpp_state *st;
    struct xmpp_listener lis[3];
    int nlis;
    struct xconn *conns;        /* list of all */
    unsigned nconn, nsessions, ncomponents;
    struct xconn *sessions[SESSION_BUCKETS];    /* by full JID, c2s in PH_READY */
    struct xconn *by_bare[SESSION_BUCKETS];     /* c2s in PH_READY, by bare JID */
    struct xconn *components[SESSION_BUCKETS];  /* by component domain */
    unsigned long routed, bounced, pushes, forwarded;
    int from_peer;              /* routing a stanza another node forwarded */
    struct peer_hint *hints;    /* HINTS entries, by hash of the full JID */
    struct parked *parked, **parked_tail;
    unsigned nparked;
    int no_park;                /* routing a parked stanza for the last time */
    /* While a read is handled, what it makes for each connection is
     * gathered and written once at the end: one TLS record and one
     * system call for many stanzas. */
    int corked;
    struct xconn *dirty;
    uv_timer_t park_timer;
    /* Federation (link.c): the link key, the links that are up (oldest
     * first), the <domains/> they were last sent, and the once-a-minute
     * line about stanzas bounced for want of a link. */
    unsigned char *link_key;
    size_t link_key_len;
    int link_listening;
    struct xconn *links;
    unsigned nlinks;
    struct cw_sb link_domains;
    unsigned long federated;
    uint64_t nolink_logged_ms;
    unsigned long nolink_quiet;
    int closing;
    unsigned live;              /* listeners and connections not yet freed */
    struct cw_sb scratch;
};

/* server.c */
/* "client", "component" or "federation link from": the log's word for c. */
const char *xmpp__kind_name(const struct xconn *c);
void xmpp__write(struct xconn *c, const char *p, size_t n);
void xmpp__cork(struct xmpp_server *srv);
void xmpp__uncork(struct xmpp_server *srv);
void xmpp__send(struct xconn *c, const struct xml_node *stanza);
void xmpp__stream_error(struct xconn *c, const char *cond, const char *text);
void xmpp__stream_header(struct xconn *c, const char *ns, const char *from);
void xmpp__close(struct xconn *c);
unsigned xmpp__hash(const char *s);
void xmpp__session_add(struct xmpp_server *srv, struct xconn *c);
void xmpp__c2s_session_remove(struct xconn *c);
void xmpp__component_add(struct xmpp_server *srv, struct xconn *c);
struct xconn *xmpp__session_find(const struct xmpp_server *srv, const char *full);
/* The first session of bare, and the next after c (NULL at the end). */
struct xconn *xmpp__bare_first(const struct xmpp_server *srv, const char *bare);
struct xconn *xmpp__bare_next(const struct xconn *c);
struct xconn *xmpp__component_find(const struct xmpp_server *srv, const char *domain);
int xmpp__propose(struct xmpp_server *srv, const char *cmd);

const char *xmpp__hint(const struct xmpp_server *srv, const char *full);
/* Keeps n (ownership taken) to route again in PARK_MS, on a cluster node
 * where the directory may lag: 1, or 0 when it is not kept (alone, from
 * another node, already retried, too many kept). */
int xmpp__park(struct xmpp_server *srv, struct xml_node *n);

/* c2s.c */
int xmpp__c2s_open(struct xconn *c, const struct xml_node *head);
int xmpp__c2s_stanza(struct xconn *c, struct xml_node *n);
void xmpp__c2s_gone(struct xconn *c);
void xmpp__roster_push(struct xmpp_server *srv, const char *owner, const char *contact);

/* component.c */
int xmpp__comp_open(struct xconn *c, const struct xml_node *head);
int xmpp__comp_stanza(struct xconn *c, struct xml_node *n);
const char *xmpp__comp_secret(const struct xmpp_state *st, const char *domain);

/* link.c */
int xmpp__link_open(struct xconn *c, const struct xml_node *head);
int xmpp__link_stanza(struct xconn *c, struct xml_node *n);
/* c's stream closed (err as on_close's): it leaves the links; logged. */
void xmpp__link_gone(struct xconn *c, int err);
/* Sends n (for a foreign domain; not taken) on this node's first link
 * that is up: 0, or -1 when none is (the caller bounces). */
int xmpp__link_send(struct xmpp_server *srv, const struct xml_node *n);
/* The caller bounces a stanza for domain for want of a link: logged once
 * a minute at most. */
void xmpp__link_missing(struct xmpp_server *srv, const char *domain);
/* cmd was applied: when the domains changed, the links hear it. */
void xmpp__link_applied(struct xmpp_server *srv, const char *cmd);
void xmpp__link_status(const struct xmpp_server *srv, struct cw_sb *out);
/* Whether domain is one of this node's: an XMPP domain or a call bridge's. */
int xmpp__is_served_domain(const struct xmpp_server *srv, const char *domain);

/* router.c */
/* Routes stanza (ownership taken) from its sender; from is set already. */
void xmpp__route(struct xmpp_server *srv, struct xml_node *stanza);
/* Answers stanza with a stanza error (unless it is an error or a result);
 * takes ownership. */
void xmpp__bounce(struct xmpp_server *srv, struct xml_node *stanza, const char *type,
                  const char *cond);
/* A stanza error reply to req, to send to its sender (NULL for errors). */
struct xml_node *xmpp__error_reply(const struct xml_node *req, const char *type,
                                   const char *cond);
void xmpp__presence_broadcast(struct xconn *c, struct xml_node *pres);
void xmpp__presence_subscription(struct xmpp_server *srv, struct xconn *from, struct xml_node *p);
int xmpp__is_local_domain(const struct xmpp_server *srv, const char *domain);

#endif
