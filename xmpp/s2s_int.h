/* s2s_int.h - what the federation gateway's files share: s2s.c (the
 * gateway, streams and the inbound side), s2s_out.c (routes to foreign
 * domains and the outbound side) and s2s_link.c (the links to the cores). */
#ifndef CW_XMPP_S2S_INT_H
#define CW_XMPP_S2S_INT_H

#include <time.h>

#include "common/dns.h"
#include "common/mux.h"
#include "common/stream.h"
#include "xmpp/s2s.h"

#define NS_SERVER "jabber:server"
#define NS_DB "jabber:server:dialback"
#define NS_DB_FEATURE "urn:xmpp:features:dialback"
#define NS_BIDI_FEATURE "urn:xmpp:features:bidi"
#define NS_BIDI "urn:xmpp:bidi"
#define NS_S2S_STREAMS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_S2S_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_S2S_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_S2S_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

#define S2S_OUT_MAX (4u << 20)      /* bytes queued to one stream before it is cut */
#define S2S_LINK_PEND_MAX (16u << 20)
/* Receive back-pressure: above this much waiting for the core link, the
 * streams from foreign servers are not read until it is below a quarter of
 * it (s2s__hold), so a fast sender is slowed down, not the link cut at
 * S2S_LINK_PEND_MAX for every domain. */
#define S2S_LINK_PEND_HIGH (1u << 20)
#define S2S_AUTHED_MAX 8            /* domains one inbound stream may speak for */
#define S2S_RETRY_MS 30000          /* a failed domain is not dialled again before */
#define S2S_VERIFY_MS 30000         /* a dialback check unanswered this long fails */
#define S2S_VERIFY_MAX 256          /* dialback checks in progress, all streams together */

enum s2s_dir { S2S_IN, S2S_OUT };

enum s2s_phase {
    SP_HEADER,      /* waiting for the peer's stream header */
    SP_NEGOTIATE,   /* features: TLS, then authentication */
    SP_READY,       /* authenticated: stanzas flow */
};

struct s2s_route;

/* One s2s stream, either way. */
struct s2s_conn {
    struct s2s_gateway *gw;
    struct cw_stream *st;
    struct xml_stream *xs;
    enum s2s_dir dir;
    enum s2s_phase phase;
    uint64_t serial;                /* names the stream in pending dialback checks */
    unsigned header_sent : 1;
    unsigned closing : 1;
    unsigned restart : 1;           /* reset the parser after this read */
    unsigned tls_next : 1;          /* inbound: server TLS after this read */
    unsigned tls_client_next : 1;   /* outbound: client TLS after this read */
    unsigned direct_tls : 1;        /* came in on (or went out to) a direct TLS port */
    unsigned bidi : 1;              /* XEP-0288: stanzas may flow both ways */
    unsigned sasl_done : 1;
    unsigned wants_db : 1;          /* outbound: the peer offers dialback */
    unsigned db_sent : 1;           /* outbound: our db:result is out */
    unsigned verify_ok : 1;         /* outbound: past TLS, dialback checks may go */
    unsigned cert_ok : 1;           /* the peer's certificate validated for remote */
    char id[128];                   /* the stream id: ours (in) or the peer's (out) */
    char local[S2S_DOMAIN_MAX + 1];     /* our domain on this stream */
    char remote[S2S_DOMAIN_MAX + 1];    /* the peer's (its from, or where we dialled) */
    char authed[S2S_AUTHED_MAX][S2S_DOMAIN_MAX + 1];   /* inbound: domains it proved */
    int nauthed;
    unsigned ndb_pending;           /* inbound: dialback checks asked, not yet answered */
    char auth[16];                  /* "sasl-external", "dialback" */
    char peer[64];                  /* address, for logs */
    char cert_why[300];             /* why the certificate did not validate */
    struct s2s_route *route;        /* outbound: the route it serves */
    time_t since;
    uint64_t last_used;             /* uv_now of the last stanza */
    unsigned long stanzas_in, stanzas_out;
    uv_timer_t timer;               /* negotiation deadline, then idle */
    struct s2s_conn *prev, *next;
};

/* A dialback key the receiving side of an inbound stream asked us to
 * check with the authoritative server (XEP-0220 2.3). */
struct s2s_verify {
    struct s2s_verify *next;
    uint64_t conn;                  /* the inbound stream's serial */
    char id[128];                   /* its stream id */
    char key[65];
    int sent;
    uint64_t due;                   /* uv_now: failed when not answered by then */
};

/* A queued stanza for a foreign domain. */
struct s2s_queued {
    struct s2s_queued *next;
    struct xml_node *n;
};

enum route_state { RT_IDLE, RT_RESOLVING, RT_CONNECTING, RT_READY, RT_FAILED };

/* Where to try next: a host and port from SRV (direct TLS or not), or the
 * domain itself on 5269. */
struct s2s_target {
    char host[S2S_DOMAIN_MAX + 1];
    uint16_t port;
    int direct_tls;
};

#define S2S_TARGETS 16

/* Outbound: our domain local to the foreign domain remote. */
struct s2s_route {
    struct s2s_gateway *gw;
    struct s2s_route *next;
    char local[S2S_DOMAIN_MAX + 1], remote[S2S_DOMAIN_MAX + 1];
    enum route_state state;
    struct cw_dns_query *q;
    struct s2s_target target[S2S_TARGETS];
    int ntarget, ti;                /* targets and the one being tried */
    int srv_phase;                  /* 0: _xmpps-server, 1: _xmpp-server, 2: done */
    int srv_status;                 /* worst SRV answer (for "no SRV record") */
    struct cw_dns_result addrs;
    int ai;                         /* address being tried in addrs */
    struct s2s_conn *c;             /* the stream (connecting or ready) */
    struct s2s_queued *q_head, **q_tail;
    unsigned nqueued;
    struct s2s_verify *verify;      /* dialback checks to send on the stream */
    char last_error[700];
    const char *bounce_cond;        /* the stanza error for a failure */
    uint64_t failed_at;             /* uv_now */
    time_t since;
};

/* A core node's federation link. */
enum link_state { LK_DOWN, LK_CONNECTING, LK_HANDSHAKE, LK_READY };

struct s2s_link {
    struct s2s_gateway *gw;
    int idx;
    struct sockaddr_storage addr;
    char addr_str[64];
    enum link_state state;
    struct cw_stream *st;
    struct cw_mux *mux;
    struct cw_mux_stream *ms;
    struct xml_stream *xs;
    struct cw_sb pend;              /* stanzas the mux stream did not take yet */
    char nonce[33], core_id[33], node[64];
    char (*domains)[S2S_DOMAIN_MAX + 1];
    int ndomains;
    time_t since;
    char last_error[700];
    int logged_down;                /* the current outage was logged */
    unsigned long stanzas_in, stanzas_out;
    uv_timer_t retry;
};

struct s2s_listener {
    uv_tcp_t tcp;
    struct s2s_gateway *gw;
    int direct_tls;
    char addr[64];
};

struct s2s_gateway {
    uv_loop_t *loop;
    struct s2s_opts o;
    char db_hmac_key[65];           /* dialback keys (XEP-0185): hex SHA-256 of a secret
                                     * drawn at start */
    struct s2s_listener lis[2 * S2S_MAX_LISTEN];
    int nlis;
    struct s2s_conn *conns;
    unsigned nconns;
    uint64_t next_serial;
    struct s2s_route *routes;
    unsigned nverify;               /* dialback checks in progress (on the routes) */
    struct s2s_link link[S2S_MAX_CORES];
    uv_timer_t tick;                /* routes: retries and clean-up */
    unsigned long bounced, refused_streams;
    int held;                       /* streams not read: the core link is behind */
    unsigned long holds;            /* times that happened */
    struct cw_sb scratch;
    int closing;
    unsigned live;                  /* handles and streams not yet gone */
};

/* s2s.c */
/* One of the gateway's handles or streams is gone; the last frees it once
 * it is closing. */
void s2s__unlive(struct s2s_gateway *gw);
void s2s__write(struct s2s_conn *c, const char *p, size_t n);
#define S2S_LIT(c, lit) s2s__write((c), "" lit, sizeof(lit) - 1)
/* The callbacks every s2s stream uses (its data is the s2s_conn). */
const struct cw_stream_cbs *s2s__stream_cbs(void);
void s2s__send(struct s2s_conn *c, const struct xml_node *n);
void s2s__header(struct s2s_conn *c);
void s2s__stream_error(struct s2s_conn *c, const char *cond, const char *text);
void s2s__close(struct s2s_conn *c);
struct s2s_conn *s2s__conn_new(struct s2s_gateway *gw, enum s2s_dir dir);
void s2s__conn_attach(struct s2s_conn *c, struct cw_stream *st);
struct s2s_conn *s2s__conn_find(struct s2s_gateway *gw, uint64_t serial);
/* c is authenticated: stanzas flow, and idle-timeout applies from now. */
void s2s__conn_ready(struct s2s_conn *c);
/* Stops (hold) or restarts reading the inbound streams: the core link is
 * behind, or has caught up (or gone). */
void s2s__hold(struct s2s_gateway *gw, int hold, size_t waiting);
/* Frees a stream object that never got its cw_stream. */
void s2s__conn_drop(struct s2s_conn *c);
/* The client TLS context presenting our certificate for local (the first
 * one when none covers it). */
struct cw_tls_ctx *s2s__client_ctx(const struct s2s_gateway *gw, const char *local);
const struct s2s_policy *s2s__policy(const struct s2s_gateway *gw, const char *domain);
int s2s__allowed(const struct s2s_gateway *gw, const char *domain);
/* "YYYY-MM-DD HH:MM:SS" (local time) for status. */
void s2s__time_fmt(time_t t, char *buf, size_t len);
/* 1 when inbound stream c proved domain. */
int s2s__is_authed(const struct s2s_conn *c, const char *domain);
/* The dialback key for a stream id from originating to receiving, in key. */
void s2s__db_key(const struct s2s_gateway *gw, const char *receiving, const char *originating,
                 const char *id, char key[65]);
/* The domain of a JID ("" when it has none that parses). */
const char *s2s__domain_of(const char *jid, char *buf, size_t len);
/* An error reply to stanza from its recipient (NULL for errors/results). */
struct xml_node *s2s__error_reply(const struct xml_node *n, const char *cond, const char *text);
/* A stanza in from a foreign server on c (from authenticated already). */
void s2s__stanza_in(struct s2s_conn *c, struct xml_node *n);
/* A dialback verdict from the authoritative server for inbound stream serial. */
void s2s__db_verdict(struct s2s_gateway *gw, uint64_t serial, const char *local,
                     const char *remote, int valid);
/* Handles <db:verify/> requests (a peer checks a key we gave it): 1 if n was one. */
int s2s__db_verify_request(struct s2s_conn *c, struct xml_node *n);

/* s2s_out.c */
/* A stanza for a foreign domain from the core (ownership taken). */
void s2s__route_out(struct s2s_gateway *gw, struct xml_node *n, const char *local,
                    const char *remote);
/* Asks remote's authoritative server whether key is right (for inbound stream serial). */
void s2s__route_verify(struct s2s_gateway *gw, const char *local, const char *remote,
                       uint64_t serial, const char *id, const char *key);
int s2s__out_open(struct s2s_conn *c, const struct xml_node *head);
int s2s__out_element(struct s2s_conn *c, struct xml_node *n);
/* The stream of a route ended (err: why, for the log; NULL when fine). */
void s2s__out_gone(struct s2s_conn *c, const char *why);
/* A stream that may carry stanzas from local to remote (outbound, or bidi inbound). */
struct s2s_conn *s2s__route_stream(struct s2s_gateway *gw, const char *local, const char *remote);
void s2s__routes_tick(struct s2s_gateway *gw);
void s2s__routes_free(struct s2s_gateway *gw);
void s2s__routes_status(const struct s2s_gateway *gw, struct cw_sb *out);

/* s2s_link.c */
void s2s__links_start(struct s2s_gateway *gw);
void s2s__links_stop(struct s2s_gateway *gw);
/* 1 when domain is served by a core (a ready link listed it). */
int s2s__is_ours(const struct s2s_gateway *gw, const char *domain);
/* Sends a stanza from a foreign domain to the cores: 0, or -1 when no link is up. */
int s2s__to_core(struct s2s_gateway *gw, const struct xml_node *n);
void s2s__links_status(const struct s2s_gateway *gw, struct cw_sb *out);

#endif
