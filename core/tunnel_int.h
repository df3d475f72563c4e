/* tunnel_int.h - internals of the core's SSH tunnel client, shared by
 * tunnel.c (the SSH connection), splice.c (forwarded connections) and
 * guest.c (the inside target's addresses). */
#ifndef CORE_TUNNEL_INT_H
#define CORE_TUNNEL_INT_H

#include "common/addr.h"
#include "common/dns.h"
#include "common/mux.h"
#include "common/report.h"
#include "common/strbuf.h"
#include "common/wbatch.h"
#include "core/config.h"
#include "core/tunnel.h"

#include <libssh2.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

/* Bytes read from a local connection per libssh2 write batch, and the most
 * bytes queued towards a local connection before we stop reading its SSH
 * channel (the channel window then holds the edge back). */
#define SPLICE_UP_BUF (64 * 1024)
#define SPLICE_DOWN_MAX (256 * 1024)
#define SPLICE_SCRATCH (64 * 1024)
/* SSH packets up to TUN_TX_SMALL bytes are gathered (TUN_TX_CAP at most)
 * and sent together once per loop turn (tunnel.c, send_cb). */
#define TUN_TX_SMALL (8 * 1024)
#define TUN_TX_CAP (64 * 1024)
/* A connection to the target (with webbridge-tls, its handshake too) must
 * be made within this long; the doctor's TLS probe keeps the same limit. */
#define TARGET_CONNECT_TIMEOUT_MS 5000
#define TARGET_TLS_TIMEOUT_WHY "TLS: no handshake within 5 s"

enum tun_state { TUN_CONNECTING, TUN_ACTIVE, TUN_FAILED, TUN_STOPPED };

enum tun_phase {
    PH_IDLE,        /* waiting for the next attempt */
    PH_CONNECT,     /* TCP connect in progress */
    PH_HANDSHAKE,
    PH_AUTH,
    PH_SESSION,     /* a session channel: makes sshd set TCP_NODELAY */
    PH_EXEC,
    PH_LISTEN,      /* remote forward requested */
    PH_READY,
};

/* The libssh2 operation whose packet is half sent: libssh2 1.10 accepts no
 * other outgoing packet until exactly that call is repeated and completes. */
enum pend_op { PEND_NONE, PEND_WRITE, PEND_READ, PEND_EOF, PEND_CLOSE, PEND_ACCEPT };

struct splice;

/* Where forwarded connections go: the guest account client URI's addresses
 * in the inside DNS, refreshed on TTL and on failure. */
struct guest {
    struct cw_dns_query *q;
    uv_timer_t timer;                   /* next refresh */
    struct cw_dns_result addrs;         /* last good answer (kept on errors); n 0: none */
    int literal;                        /* guest-uri is an address: no DNS */
    int status;                         /* last lookup: 0 or a CW_DNS_E* code */
    time_t resolved_at, fault_since;
    uint64_t last_lookup_ms;
    unsigned next;                      /* first address for the next connection */
    char last_connect_err[400];         /* why the last target connect failed */
    time_t last_connect_err_at;
    time_t unreachable_since;           /* a connection found no address to take it, and
                                         * none has connected since; 0: fine */
};

struct core_tunnel {
    uv_loop_t *loop;
    struct cw_wbatch *wbatch;           /* the process's write batch; NULL: none */
    const struct core_tunnel_config *cfg;
    const char *key_file;
    char pubkey_file[1100];
    char target[CW_ADDR_STRLEN];        /* the edge, for status and logs */

    enum tun_state state;
    char reason[300];                   /* why FAILED, or the connecting step */
    char last_fail[300];                /* the failure last logged */
    const char *step;                   /* connecting step now */
    time_t since;
    unsigned attempt;                   /* failed attempts since the last ACTIVE */

    enum tun_phase phase;
    int fd;
    uv_poll_t *poll;                    /* one per connection, freed in its close cb */
    int poll_events;
    LIBSSH2_SESSION *ssh;
    LIBSSH2_LISTENER *listener;
    LIBSSH2_CHANNEL *session_ch;
    uint64_t phase_start_ms, last_rx_ms;
    uint64_t last_tick_ms;              /* the timer's last run while ready */
    uv_timer_t timer;                   /* backoff, connect deadline, keepalives */

    enum pend_op pend;
    struct splice *pend_splice;
    int pumping;
    int dead;                           /* a libssh2 call saw the session die */
    uint64_t moved;                     /* bumped whenever the pump got something done */
    uint64_t rx_reads;                  /* socket reads that returned bytes */
    int rx_dry;                         /* the socket said EAGAIN; not readable since */
    int tx_half;                        /* a packet is half sent (see send_cb) */
    uint8_t *tx;                        /* gathered packets, TUN_TX_CAP bytes */
    size_t tx_off, tx_len;              /* tx[tx_off..tx_len) not sent yet */
    int tx_stuck;                       /* the socket took not all of tx: wait until writable */
    uv_prepare_t flush;                 /* sends tx before the loop polls */
    int at_limit;                       /* max-connections reached (logged once) */
    uv_idle_t kick;                     /* a pump on the next loop turn */

    struct splice *splices;             /* forwarded connections (channels) */
    unsigned nsplices;
    unsigned nstreams;                  /* streams of links, alive (link.c) */
    uint64_t links, streams_opened;
    uint8_t *scratch;                   /* channel -> local reads */

    struct guest guest;
    struct cw_dns *dns;                 /* shared, owned by the daemon */
    /* The edge's federation streams (CW_MUX_SVC_XMPP) go to the node's
     * [xmpp] link-listen; ss_family 0: refused. */
    struct sockaddr_storage xmpp_link;
    char xmpp_link_text[CW_ADDR_STRLEN];
    uint64_t xmpp_streams, xmpp_failures;
    int xmpp_off_logged;                /* "no link-listen" was said */
    uint64_t xmpp_fail_logged_ms;       /* last connect failure logged (once a minute) */
    unsigned xmpp_fail_quiet;           /* failures not logged since */
    int svc_logged;                     /* an unknown service was logged */

    uint64_t accepted, target_failures, bytes_to_edge, bytes_from_edge;
    /* webbridge-tls: the client context, the session to resume, the buffer
     * (SPLICE_UP_BUF, made with the context) that a TLS target's socket is
     * read into and that is emptied into OpenSSL at once. */
    SSL_CTX *web_tls;
    SSL_SESSION *web_session;
    uint8_t *tls_in;
    uint64_t web_handshakes, web_resumed;
    time_t web_not_after;               /* the webbridge's certificate, at the last full
                                         * handshake; 0: none seen yet */
    int closing;
    void (*close_cb)(void *);
    void *close_arg;
    int pending_handles;
};

/* link.c: a channel that began with the link preface (common/mux.h)
 * carries many streams, each joined to its own connection to the target. */
struct core_link {
    struct splice *s;                   /* the channel's splice */
    struct cw_mux *mux;                 /* holds the streams; each one's data is its splice */
    size_t buffered;                    /* bytes of all streams not yet taken by their targets */
};

/* splice.c */
struct splice {
    struct splice *next, *prev;         /* in t->splices (channels only) */
    struct core_tunnel *t;
    LIBSSH2_CHANNEL *ch;                /* NULL once freed (or the session went) */
    /* A channel: its first bytes decide whether it carries a link. */
    struct core_link *link;             /* it does */
    size_t sniff_len;                   /* first bytes held back: they match the preface so far */
    int sniffed;
    int target_gone;                    /* no target answered, but the first bytes may
                                         * still make it a link, which needs none */
    /* A stream of a link: the remote side is ms, not an SSH channel. */
    int stream;
    int xmpp;                           /* a federation stream: to t->xmpp_link */
    struct cw_mux_stream *ms;           /* NULL once released */
    struct core_link *owner;            /* NULL once the link is gone */
    struct cw_sb early;                 /* the edge's bytes that came before the target
                                         * answered (a channel's: its first few, sniffed) */
    uv_tcp_t tcp;                       /* to the inside target */
    uv_connect_t conn;
    uv_shutdown_t shutreq;
    uv_timer_t timer;                   /* connect deadline */
    struct sockaddr_storage target;     /* the address being tried */
    unsigned target_start, target_idx, tries;
    int handles;                        /* open uv handles */
    int tcp_open, local_closed, connected, reading;
    int local_eof, remote_eof, eof_sent, shut_started, shut_done;
    int failed, ch_closing;
    struct webtls *tls;                 /* TLS to the target (webbridge-tls); NULL: plain */
    int delivering;                     /* handing on what TLS decrypted (no re-entry) */
    uint8_t *up;                        /* local -> channel */
    size_t up_len, up_off;
    size_t down_queued;                 /* bytes handed to uv_write, not yet done */
    struct cw_wb wb;                    /* tcp's writes in the loop turn's batch */
};

/* Takes a freshly accepted channel: connects to the inside target. */
void splice__start(struct core_tunnel *t, LIBSSH2_CHANNEL *ch);
/* Moves bytes both ways as far as possible. Returns 0, or 1 when a libssh2
 * call left a packet half sent (t->pend is set; nothing else may run). */
int splice__service(struct splice *s);
/* Repeats the half-sent operation; 0 when done, 1 if still blocked. */
int splice__resume(struct splice *s, enum pend_op op);
/* The SSH connection is gone: local sides are shut down and closed. */
void splice__abort(struct splice *s);
/* Streams of a link (the mux callbacks of link.c): a new one, connected to
 * the target (0, or a CW_MUX_RST_* code to refuse it); the edge's bytes;
 * the edge ended its side; the stream was reset or lost; the link takes
 * more of the stream's bytes again. */
int splice__stream_start(struct core_link *l, struct cw_mux_stream *ms);
void splice__stream_data(struct splice *s, const uint8_t *p, size_t n);
void splice__stream_fin(struct splice *s);
void splice__stream_reset(struct splice *s);
void splice__stream_writable(struct splice *s);

/* webtls.c: HTTPS to the webbridge. A forwarded connection's TLS client
 * on memory BIOs: splice.c feeds it the socket's bytes, writes what
 * webtls__out holds after every call, and reads the plaintext. */
enum { WEBTLS_AGAIN, WEBTLS_UP, WEBTLS_FAIL };
struct webtls;
/* The tunnel's client context: TLS 1.2 and up, the webbridge's certificate
 * checked against webbridge-ca (or the system's store). NULL with err. */
SSL_CTX *webtls__ctx_create(const struct core_tunnel_config *cfg, char *err, size_t errlen);
/* A client for one connection to the target, its ClientHello in the output
 * (resuming t->web_session when there is one). NULL when out of memory. */
struct webtls *webtls__new(struct core_tunnel *t);
void webtls__free(struct webtls *w);
/* Bytes from the socket. Until the handshake is done it moves on: AGAIN,
 * UP (done, the certificate checked), or FAIL with the reason in why. */
int webtls__feed(struct webtls *w, const uint8_t *p, size_t n, char *why, size_t whylen);
/* The reason for a connection that ended before the handshake did. */
void webtls__closed_why(const struct webtls *w, char *why, size_t whylen);
/* Whether fed bytes may hold plaintext not read yet. */
int webtls__pending(const struct webtls *w);
/* Plaintext, up to cap bytes: how many (0: wait for more), or -1 on a TLS
 * error; *eof when the webbridge sent close_notify. */
ssize_t webtls__read(struct webtls *w, uint8_t *buf, size_t cap, int *eof);
/* Plaintext to send; 0, or -1 on a TLS error. */
int webtls__write(struct webtls *w, const uint8_t *p, size_t n);
void webtls__close_notify(struct webtls *w);
/* TLS bytes to write to the socket, and forgetting them once taken. */
const uint8_t *webtls__out(struct webtls *w, size_t *n);
void webtls__out_clear(struct webtls *w);

/* link.c */
/* s's channel began with the preface: it carries a link from now on (the
 * caller closed its connection to the target). -1 when out of memory. */
int link__start(struct splice *s);
/* Bytes read from the link's channel. */
void link__feed(struct splice *s, const uint8_t *p, size_t n);
/* The channel's output: what the link queued. */
const uint8_t *link__out(struct splice *s, size_t *n);
void link__out_done(struct splice *s, size_t n);
/* The link's channel is done: every stream is lost. */
void link__end(struct splice *s);
/* The most bytes a link holds for its streams' targets before it stops
 * reading its channel (a stream's own window bounds it much sooner). */
#define LINK_BUFFER_MAX (32u * 1024 * 1024)

/* tunnel.c */
void tunnel__pump(struct core_tunnel *t);
/* Asks for a pump on the next loop turn (from splice callbacks). */
void tunnel__kick(struct core_tunnel *t);
/* 1 when a small packet (keepalive, EOF: built on libssh2's stack) will
 * be taken whole. */
int tunnel__room(struct core_tunnel *t);
/* A libssh2 call on s returned EAGAIN: records it when a packet is half sent. */
int tunnel__blocked(struct core_tunnel *t, struct splice *s, enum pend_op op);
void tunnel__handle_closed(struct core_tunnel *t);
/* Frees a closing tunnel once its handles, splices and streams are gone. */
void tunnel__maybe_free(struct core_tunnel *t);
uint64_t tunnel__now_ms(struct core_tunnel *t);

/* guest.c */
void guest__start(struct core_tunnel *t);
void guest__stop(struct core_tunnel *t);
/* Where a new connection starts in the address list (the last address
 * that worked). */
unsigned guest__first(struct core_tunnel *t);
/* The address for a connection's try number `try` (0-based) from start, its
 * index in *idx; NULL when none is left to try (or none is known). */
const struct sockaddr *guest__target(struct core_tunnel *t, unsigned start, unsigned try,
                                     unsigned *idx);
void guest__connect_ok(struct core_tunnel *t, unsigned idx);
/* Connecting to address a (index idx) failed: the next connection starts
 * with the next address; a re-resolve is asked when all failed. */
void guest__connect_failed(struct core_tunnel *t, unsigned idx, const struct sockaddr *a,
                           const char *why, int all_failed);
void guest__status(struct core_tunnel *t, struct cw_sb *out);

/* guest.c: a row of the "Guest account client URI" table; its health. */
void guest__report_row(struct core_tunnel *t, struct cw_report *r);
void guest__health(const struct core_tunnel *t, struct core_tunnel_health *h);

#endif
