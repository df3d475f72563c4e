/* webproxy_int.h - what the proxy's listener side (proxy.c) and its HTTP
 * exchanges (exchange.c) share. */
#ifndef WEBPROXY_INT_H
#define WEBPROXY_INT_H

#include "webproxy/http.h"
#include "webproxy/webproxy.h"

#include <stdio.h>

struct cw_stream;

/* Client bytes held at most: one request head, plus what arrives with it. */
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

struct wp_upstream;

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

    uint8_t in[WP_IN_CAP];              /* client bytes not yet handled */
    size_t in_len;
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
    FILE *access;
    struct cw_sb line;                  /* an access log line being built */
    time_t when_t;                      /* the second that when[] shows */
    char when[32];
    uv_timer_t *flush_timer;            /* flushes the access log every second */
    uv_prepare_t *pace;                 /* each loop turn: deferred accepts (proxy.c) */
    int closing;
    uv_timer_t close_timer;
    void (*close_done)(void *);
    void *close_arg;
    int at_limit_logged;
    /* Counters for status. */
    uint64_t accepted, refused, requests, by_class[6], upstream_errors;
};

/* exchange.c */
/* Accepts a connection from server. NULL if accept failed. */
struct wp_conn *wp__conn_start(struct webproxy *wp, uv_stream_t *server, int tls);
void wp__conn_close(struct wp_conn *c);
/* Ends the connection after the exchange in progress (closing: drain). */
void wp__conn_drain(struct wp_conn *c);
/* Closes the idle backend connections (stopping). */
void wp__pool_close(struct webproxy *wp);

/* proxy.c */
void wp__conn_gone(struct webproxy *wp, struct wp_conn *c);
void wp__access(struct webproxy *wp, struct wp_conn *c);
const struct wp_host *wp__route(const struct webproxy *wp, const char *host);

#endif
