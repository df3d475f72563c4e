/* webproxy.h - the edge's HTTPS reverse proxy: guests' browsers reach the
 * webbridge inside through it (TLS here, then the core's SSH tunnel). */
#ifndef WEBPROXY_H
#define WEBPROXY_H

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

#include "common/strbuf.h"

#define WP_MAX_LISTEN 8
#define WP_MAX_HOSTS 32
#define WP_MAX_CERTS 16
#define WP_HOST_MAX 253

/* One guest account client URI the proxy serves, and where its requests go:
 * the loopback port a core's remote forward holds, or a direct address. */
struct wp_host {
    char name[WP_HOST_MAX + 1];         /* lower case, no port */
    struct sockaddr_storage backend;
    int link;                           /* backend is a core's forward: carry its connections
                                         * on one link (common/mux.h) when the core speaks it */
};

struct wp_options {
    struct sockaddr_storage listen[WP_MAX_LISTEN];      /* HTTPS */
    int nlisten;
    struct sockaddr_storage http_listen[WP_MAX_LISTEN]; /* plain HTTP: 301 to https */
    int nhttp_listen;
    char cert[WP_MAX_CERTS][1024], key[WP_MAX_CERTS][1024];
    int ncert;
    struct wp_host host[WP_MAX_HOSTS];
    int nhost;
    unsigned header_timeout_ms;         /* a request head must arrive whole within this */
    unsigned idle_timeout_ms;           /* keep-alive connection with no request */
    unsigned connect_timeout_ms;        /* to the backend */
    unsigned response_timeout_ms;       /* nothing moved either way during an exchange */
    unsigned max_connections, max_per_ip;
    uint64_t max_body;                  /* request body bytes; 0: no limit */
    unsigned hsts_max_age;              /* seconds; 0: no Strict-Transport-Security */
    char access_log[1024];              /* empty: access lines go to the log at info */
    int io_uring;                       /* batch each loop turn's socket writes (wbatch.h) */
};

void wp_options_init(struct wp_options *o);

struct webproxy;
struct cw_tls_ctx;

/* Starts listening. tls: the server context for the HTTPS listeners (the
 * proxy takes a reference of its own). NULL with a message in err. */
struct webproxy *webproxy_create(uv_loop_t *loop, const struct wp_options *o, struct cw_tls_ctx *tls,
                                 char *err, size_t errlen);
/* New connections use tls from now on; open ones keep theirs. */
void webproxy_set_tls(struct webproxy *wp, struct cw_tls_ctx *tls);
/* Reopens the access log (SIGHUP, after rotation). */
void webproxy_reopen_log(struct webproxy *wp);
/* Stops accepting, lets exchanges in progress finish (at most grace_ms),
 * then frees everything and calls done(arg). */
void webproxy_close(struct webproxy *wp, unsigned grace_ms, void (*done)(void *), void *arg);
/* `causeway webproxy status`. */
void webproxy_status(struct webproxy *wp, struct cw_sb *out);

/* Section "webproxy" of the status document: listeners, hosts, the
 * certificates with their names and expiry, connections, requests and
 * errors, the tunnel links. */
struct cw_report;
void webproxy_report(struct webproxy *wp, struct cw_report *r);

/* Registers the proxy's counters and gauges (webproxy_*) for the metrics;
 * st must not be dumped after the proxy is closed. */
struct cw_stats;
void webproxy_register_stats(struct webproxy *wp, struct cw_stats *st);

/* The certificates in use now (borrowed: valid until the next reload). */
const struct cw_tls_ctx *webproxy_tls_ctx(const struct webproxy *wp);

/* A tunnel link to a core (one per backend address that speaks the mux). */
struct webproxy_link_info {
    char name[64];              /* the backend address */
    const char *state;          /* "up", "down", "connecting", ... */
    int up;
    time_t since;               /* came up, or went down */
    char why[200];              /* why not up */
    unsigned streams_open;
    uint64_t streams;
};
/* The i-th link, 0.. ; -1 past the last. */
int webproxy_link_info(const struct webproxy *wp, int i, struct webproxy_link_info *info);

#endif
