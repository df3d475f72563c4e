/* s2s.h - the edge's XMPP federation gateway (RFC 6120 server-to-server).
 *
 * Foreign servers connect on the listeners (STARTTLS, and XEP-0368 direct
 * TLS), authenticate with SASL EXTERNAL when their certificate validates
 * for their domain, else with server dialback (XEP-0220) when the policy
 * allows it; their stanzas go to a core node over the federation link
 * (fedlink.h). Stanzas from the core for foreign domains leave on outbound
 * streams: _xmpps-server._tcp and _xmpp-server._tcp SRV records (RFC 6120
 * 3.2, XEP-0368), else the domain's A/AAAA on 5269; queued while the stream
 * is set up, bounced with a stanza error when the domain cannot be reached.
 * Streams idle for idle_timeout_ms close. XEP-0288 bidirectional streams
 * are used when the peer offers them. */
#ifndef CW_XMPP_S2S_H
#define CW_XMPP_S2S_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "common/strbuf.h"
#include "xmpp/xml.h"

#define S2S_MAX_LISTEN 8
#define S2S_MAX_CERTS 16
#define S2S_MAX_CORES 8
#define S2S_MAX_PEERS 64
#define S2S_MAX_LIST 64
#define S2S_DOMAIN_MAX 255

struct cw_tls_ctx;
struct cw_dns;

struct s2s_policy {
    int tls_optional;       /* 0: TLS is required (the default) */
    int cert_required;      /* 1: only SASL EXTERNAL / a valid certificate; 0: dialback allowed */
};

struct s2s_peer {
    char domain[S2S_DOMAIN_MAX + 1];
    struct s2s_policy policy;
};

struct s2s_opts {
    struct sockaddr_storage listen[S2S_MAX_LISTEN];      /* STARTTLS */
    int nlisten;
    struct sockaddr_storage tls_listen[S2S_MAX_LISTEN];  /* direct TLS */
    int ntls_listen;
    /* Our certificates: tls serves them (SNI picks) and asks peers for
     * theirs (cw_tls_ctx_verify_peers); client[i] presents certificate i on
     * outbound streams and validates the peers'. Borrowed. */
    struct cw_tls_ctx *tls;
    struct cw_tls_ctx *client[S2S_MAX_CERTS];
    int nclient;
    struct cw_dns *dns;                     /* the external DNS; borrowed */
    struct sockaddr_storage core[S2S_MAX_CORES];   /* the cores' tunnel forwards */
    int ncore;
    const uint8_t *link_key;                /* fedlink.h; borrowed */
    size_t link_key_len;
    struct s2s_policy policy;               /* for domains without a peer line */
    struct s2s_peer peer[S2S_MAX_PEERS];
    int npeer;
    char allow[S2S_MAX_LIST][S2S_DOMAIN_MAX + 1];   /* any: only these federate */
    int nallow;
    char deny[S2S_MAX_LIST][S2S_DOMAIN_MAX + 1];
    int ndeny;
    unsigned idle_timeout_ms;               /* 0: 600000 */
    unsigned connect_timeout_ms;            /* 0: 10000 */
    unsigned negotiation_timeout_ms;        /* 0: 30000 */
    unsigned max_streams;                   /* inbound and outbound (0: 1000) */
    unsigned max_queue;                     /* stanzas queued per domain (0: 1000) */
    struct xml_limits limits;               /* zero fields: xml.h's defaults */
};

struct s2s_gateway;

/* Binds the listeners and starts dialling the cores. NULL with the reason
 * in err. */
struct s2s_gateway *s2s_create(uv_loop_t *loop, const struct s2s_opts *o, char *err,
                               size_t errlen);
/* Closes everything (streams get </stream:stream>); memory goes once the
 * handles are closed. */
void s2s_close(struct s2s_gateway *gw);
/* New streams use tls and client[0..nclient) from now on (borrowed, as in
 * s2s_opts; renewed certificates); streams already in TLS keep theirs. */
void s2s_set_tls(struct s2s_gateway *gw, struct cw_tls_ctx *tls, struct cw_tls_ctx *const *client,
                 int nclient);
/* The domains the linked cores serve (from their <domains/>), each once;
 * fn's non-zero return stops and is returned. 0 when no link is up. */
int s2s_domains(const struct s2s_gateway *gw, int (*fn)(void *arg, const char *domain),
                void *arg);
/* `causeway xmpp federation status`. */
void s2s_status(const struct s2s_gateway *gw, struct cw_sb *out);
/* Section "federation" of the status document. */
struct cw_report;
void s2s_report(const struct s2s_gateway *gw, struct cw_report *r);
/* How many links to the core nodes are not up; why names the first. */
int s2s_core_links_down(const struct s2s_gateway *gw, char *why, size_t len);

#endif
