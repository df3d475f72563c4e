/* webproxy_int.h - what the proxy's listener side (proxy.c) and its HTTP
 * exchanges (exchange.c) share. */
#ifndef WEBPROXY_INT_H
#define WEBPROXY_INT_H

#include "common/wbatch.h"
#include "webproxy/http.h"
#include "webproxy/webproxy.h"

#include <stdio.h>

struct cw_stream;

/* Client bytes held at most: one request head, plus what arrives with it
 * (and a response head split over reads, on the backend side). */
#define WP_IN_CAP (64 * 1024)
/* Pipelined bytes held while an exchange is in progress before the client
 * is paused; one more delivery (at most 16 KB) still fits in WP_IN_CAP.
 * Below it the client stays readable, so an exchange costs no pause and
 * resume (two epoll_ctl calls each). */
#define WP_IN_PIPELINED (32 * 1024)
/* Queued bytes toward one side at which the other side stops being read. */
#define WP_HIGH_WATER (256 * 1024)
#define WP_UP_BUF (64 * 1024)
#define WP_IP_BUCKETS 1024

enum wp_state {
    WP_IDLE,        /* between requests: waiting for the first byte */
    WP_HEAD,        /* a request head is arriving */
    WP_EXCHANGE,    /* request sent or being sent; response awaited or arriving */
    WP_WEBSOCKET,   /* after 101: raw bytes both ways */
    WP_CLOSING      /* an answer is flushing; then the connection closes */
};

/* backend.c: a connection to a backend (see there). */
struct up_ops;
struct cw_mux_stream;
struct wp_upstream {
    const struct up_ops *ops;           /* TCP, or a stream of the route's link */
    const struct wp_host *route;
    struct wp_conn *c;                  /* its exchange; NULL once let go or idle in the pool */
    struct webproxy *pool;              /* set while idle in wp's pool */
    struct wp_upstream *next_idle;
    uint64_t idle_since;
    int connected, read_paused, reusable;
    size_t pending;                     /* written, not yet taken (by the kernel or the link) */
    uint8_t *head;                      /* a response head split over reads (exchange.c) */
    size_t head_len;
    /* A TCP connection ... */
    uv_tcp_t tcp;
    uv_connect_t creq;
    uint8_t *rbuf;
    struct cw_wb wb;                    /* its writes in the loop turn's batch */
    /* ... or a stream of the route's link. */
    struct cw_mux_stream *ms;           /* NULL once reset or released */
    struct cw_sb held;                  /* the core's bytes that came while paused */
    struct cw_sb wq;                    /* bytes for the core beyond the stream's window */
    int fin, busy, doomed;
};

/* wp__up_end's error when the core could not connect to the webbridge. */
#define WP_UP_ECONNECT (-20001)

struct wp_link;

struct wp_conn {
    struct webproxy *wp;
    struct wp_conn *prev, *next;
    struct cw_stream *cs;
    int tls;                            /* accepted on an HTTPS listener */
    struct sockaddr_storage peer;
    char peer_ip[64];                   /* for logs and X-Forwarded-For */
    enum wp_state state;
    uv_timer_t timer;
    int timer_kind;                     /* what the deadline is for (exchange.c) */
    uint64_t deadline, timer_due;       /* ms: the deadline; when the timer fires */
    int client_paused;
    int client_eof;                     /* the guest ended its side */
    /* Bytes for each side gathered during one callback, sent in one write
     * (a response head and its body in one TLS record and one syscall). */
    struct cw_sb out, up_out;
    int corked, up_corked;
    int counted;                        /* in the per-address count */

    struct cw_sb in;                    /* client bytes not yet handled (at most WP_IN_CAP) */
    size_t scanned;                     /* in[0..scanned) held no complete head */

    /* The exchange in progress. */
    const struct wp_host *route;
    char method[16], target[256], host[WP_HOST_MAX + 1];
    int minor, is_head, websocket, keep_alive;
    enum wp_http_body req_body;
    uint64_t req_left, req_seen;
    struct wp_chunked req_chunked;
    int req_done;
    struct wp_upstream *up;
    int up_reused;                      /* the request went on a kept-alive connection */
    struct cw_sb req_head;              /* its head, for one retry (bodiless, reused backend) */
    int resp_started, resp_done, status;
    int upstream_error;                 /* the backend failed this exchange */
    enum wp_http_body resp_body;
    uint64_t resp_left;
    struct wp_chunked resp_chunked;
    uint64_t bytes_out;
    uint64_t t_start, t_upstream;       /* ms: request head complete, response head */
};

/* The listener side. */
struct webproxy {
    uv_loop_t *loop;
    struct wp_options o;
    struct wp_http_limits lim;
    struct cw_tls_ctx *tls;
    struct wp_listener *lst[2 * WP_MAX_LISTEN];
    int nlst;
    uint16_t https_port;                /* for redirects: the first HTTPS listener's port */
    struct wp_conn *conns;
    unsigned nconns;
    struct wp_ipcount *ips[WP_IP_BUCKETS];  /* connections per client address */
    struct wp_upstream *idle;           /* backend connections kept for reuse */
    unsigned nidle;
    struct wp_link *links[WP_MAX_HOSTS];/* per route (o.host index): its link, or NULL */
    struct wp_link *link_list[WP_MAX_HOSTS];    /* each link once */
    int nlinks;
    FILE *access;
    struct cw_sb line;                  /* an access log line being built */
    time_t when_t;                      /* the second that when[] shows */
    char when[32];
    uv_timer_t *flush_timer;            /* flushes the access log every second */
    uv_prepare_t *pace;                 /* each loop turn: deferred accepts (proxy.c) */
    struct cw_wbatch *wbatch;           /* the loop turn's socket writes; NULL: one by one */
    char wbatch_off[96];                /* why there is none (status) */
    uint64_t m_sends, m_submits;        /* the batch's counters, for the metrics */
    int closing;
    uv_timer_t close_timer;
    void (*close_done)(void *);
    void *close_arg;
    int at_limit_logged;
    /* Counters for status. */
    uint64_t accepted, refused, requests, by_class[6], upstream_errors;
    uint64_t m_conns, m_links_up, m_links;  /* gauges for the metrics, set when they are read */
};

/* backend.c */
/* A backend connection for c's exchange on route: a stream of route's link
 * when it is up, else a TCP connection (wp__up_connected follows). NULL
 * when none could be started. */
struct wp_upstream *wp__up_open(struct webproxy *wp, const struct wp_host *route,
                                struct wp_conn *c);
/* Sends n bytes (queued beyond what the transport takes now; u->pending
 * says how many wait). 0, or -1 when the connection failed. */
int wp__up_write(struct wp_upstream *u, const void *p, size_t n);
/* Stop / restart handing the backend's bytes to the exchange. */
void wp__up_pause(struct wp_upstream *u);
void wp__up_resume(struct wp_upstream *u);
/* Lets go of u: nothing more is said of it. */
void wp__up_close(struct wp_upstream *u);
/* Keeps u idle for another exchange: 0 when kept (u->c is then NULL). */
int wp__pool_put(struct wp_upstream *u, struct webproxy *wp);
/* An idle connection to route, now c's, or NULL. */
struct wp_upstream *wp__pool_get(struct webproxy *wp, const struct wp_host *route,
                                 struct wp_conn *c);
/* Closes the idle backend connections (stopping). */
void wp__pool_close(struct webproxy *wp);
/* A link stream's events (link.c). */
void wp__up_stream_data(struct wp_upstream *u, const uint8_t *p, size_t n);
void wp__up_stream_fin(struct wp_upstream *u);
void wp__up_stream_reset(struct wp_upstream *u, uint32_t code);
void wp__up_stream_writable(struct wp_upstream *u);

/* link.c: one link to the core behind a tunnel forward (common/mux.h). */
/* Starts connecting to backend, and keeps connected. NULL out of memory. */
struct wp_link *wp__link_create(struct webproxy *wp, const struct sockaddr *backend);
/* Ends it (its streams are lost); the memory goes once its handles closed. */
void wp__link_close(struct wp_link *l);
int wp__link_up(const struct wp_link *l);
/* A new stream on an up link, for u. NULL when none can be opened. */
struct cw_mux_stream *wp__link_open(struct wp_link *l, struct wp_upstream *u);
void wp__link_info(const struct wp_link *l, struct webproxy_link_info *info);
void wp__link_status(const struct wp_link *l, struct cw_sb *out);
/* proxy.c: the listeners, "ADDR (https)SEPADDR (http, redirects to https)". */
void wp__listeners_text(const struct webproxy *wp, struct cw_sb *out, const char *sep);
/* proxy.c: the route's link, or NULL. */
struct wp_link *wp__route_link(struct webproxy *wp, const struct wp_host *route);

/* exchange.c: what a backend connection tells its exchange. */
/* The TCP connect finished: 0, or a uv error code. */
void wp__up_connected(struct wp_upstream *u, int status);
void wp__up_data(struct wp_upstream *u, const uint8_t *p, size_t n);
/* The backend ended (UV_EOF) or failed (a uv error code, WP_UP_ECONNECT). */
void wp__up_end(struct wp_upstream *u, int err);
/* What waited for the backend fell below a quarter of WP_HIGH_WATER. */
void wp__up_drained(struct wp_upstream *u);

/* exchange.c */
/* Accepts a connection from server. NULL if accept failed. */
struct wp_conn *wp__conn_start(struct webproxy *wp, uv_stream_t *server, int tls);
void wp__conn_close(struct wp_conn *c);
/* Ends the connection after the exchange in progress (closing: drain). */
void wp__conn_drain(struct wp_conn *c);

/* proxy.c */
void wp__conn_gone(struct webproxy *wp, struct wp_conn *c);
void wp__access(struct webproxy *wp, struct wp_conn *c);
const struct wp_host *wp__route(const struct webproxy *wp, const char *host);

#endif
