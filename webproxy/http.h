/* http.h - strict HTTP/1.1 message heads (RFC 9110/9112) and chunked body
 * framing for the web proxy. Zero-copy: names, values and the target point
 * into the caller's buffer.
 *
 * Why our own and not Debian's libhttp-parser (2.9.4, Node's former
 * parser): it is archived upstream, so smuggling fixes no longer come; its
 * default, non-strict build is lenient where a proxy at the internet's edge
 * must refuse (line folding, LF-only line ends), so the checks would sit on
 * top of it anyway; and its callback style would copy every field to
 * rewrite the head. Heads are small and
 * their grammar is short: this parser reads them through cw_rbuf, refuses
 * whatever is ambiguous, and is fuzzed (tests/fuzz/fuzz_http.c).
 *
 * The parsers are stateless: call them again with the whole head so far each
 * time more bytes arrive. They read every byte from the start, so a caller
 * should call again only when the new bytes hold a '\n' (a head can only end
 * on one); that bounds the work per head to about max_headers passes.
 */
#ifndef WP_HTTP_H
#define WP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define WP_HTTP_MAX_HEADERS 100

struct wp_http_limits {
    size_t max_head;        /* request/status line + headers + CRLF, bytes (431 beyond; default 16384) */
    size_t max_line;        /* request line alone, bytes (414 beyond; default 8192) */
    unsigned max_headers;   /* header fields (431 beyond; default 100, <= WP_HTTP_MAX_HEADERS) */
};
void wp_http_limits_default(struct wp_http_limits *l);

/* Field names that the parser or the proxy acts on, recognised once per field (case-insensitive). */
enum wp_http_fid {
    WP_F_OTHER, WP_F_HOST, WP_F_CONTENT_LENGTH, WP_F_TRANSFER_ENCODING, WP_F_CONNECTION,
    WP_F_KEEP_ALIVE, WP_F_PROXY_CONNECTION, WP_F_TE, WP_F_UPGRADE, WP_F_EXPECT,
    WP_F_X_FORWARDED_FOR, WP_F_X_FORWARDED_PROTO, WP_F_X_FORWARDED_HOST, WP_F_FORWARDED,
    WP_F_STRICT_TRANSPORT_SECURITY
};

struct wp_http_field { const char *name; size_t name_len; const char *value; size_t value_len; /* value without leading/trailing OWS */
                       enum wp_http_fid id; };

enum wp_http_body { WP_BODY_NONE, WP_BODY_LENGTH, WP_BODY_CHUNKED, WP_BODY_CLOSE /* response only: until the connection closes */ };

struct wp_http_req {
    const char *method; size_t method_len;
    const char *target; size_t target_len;
    int minor;                      /* HTTP/1.<minor>: 0 or 1 */
    unsigned nfield;                /* field[0..nfield) (the array comes last: parsing clears all before it) */
    const char *host; size_t host_len;   /* the Host field value, port included as sent; NULL if absent (only allowed for HTTP/1.0) */
    enum wp_http_body body; uint64_t content_length;   /* LENGTH also for "Content-Length: 0" */
    int keep_alive;                 /* 1.1 without "Connection: close", or 1.0 with "Connection: keep-alive" */
    int websocket;                  /* GET, Connection has token "upgrade", Upgrade has token "websocket" (case-insensitive) */
    int expect_continue;            /* "Expect: 100-continue" */
    int is_head;                    /* method HEAD */
    int is_connect;                 /* method CONNECT (the proxy refuses it) */
    int conn_names;                 /* Connection lists options besides close, keep-alive and upgrade:
                                     * fields it names are hop-by-hop (RFC 9110 7.6.1) */
    struct wp_http_field field[WP_HTTP_MAX_HEADERS];
};

struct wp_http_resp {
    int status; int minor;
    unsigned nfield;                /* field[0..nfield), as in wp_http_req */
    enum wp_http_body body; uint64_t content_length;   /* content_length: the field's value when sent, whatever body says */
    int keep_alive;
    int conn_names;                 /* as in wp_http_req */
    int strip_content_length;       /* both Content-Length and Transfer-Encoding were sent: the coding wins and
                                     * a proxy forwarding it must drop Content-Length (RFC 9112 6.3 rule 3) */
    struct wp_http_field field[WP_HTTP_MAX_HEADERS];
};

/* Results: > 0 the head's length in bytes (through the blank line) - the message head is complete and valid;
 * 0 incomplete (need more bytes; only returned while n is below the limits);
 * < 0 an error: one of */
#define WP_HTTP_E400 (-400)   /* malformed: bad request line, bad field name/value, bare CR or LF, obs-fold, CL+TE together, duplicate or invalid Content-Length, missing Host in 1.1, two Host fields, invalid chunk, whitespace before colon, etc. */
#define WP_HTTP_E414 (-414)   /* request line longer than max_line */
#define WP_HTTP_E431 (-431)   /* head longer than max_head, or more than max_headers fields */
#define WP_HTTP_E501 (-501)   /* Transfer-Encoding other than exactly "chunked" (any other coding, a list, or chunked not last) */
#define WP_HTTP_E505 (-505)   /* HTTP version not 1.0/1.1 */

/* Parses a request head from p[0..n). lim may be NULL (the defaults). Up to two
 * empty lines before the request line are skipped and counted in the length.
 * The request-target must be origin-form, "*" with OPTIONS, or authority-form
 * (host:port) with CONNECT; absolute-form is refused (400).
 * On an error *req is partly filled and must not be used. */
int wp_http_parse_request(const uint8_t *p, size_t n, const struct wp_http_limits *lim, struct wp_http_req *req, const char **why);
/* why: set on error to a short static phrase for the log, e.g. "both Content-Length and Transfer-Encoding", "obs-fold in a header", "invalid header name", "bare LF", "duplicate Content-Length", "invalid Content-Length", "missing Host", "two Host headers", "header too large", "too many headers", "request line too long", "unsupported transfer coding", "unsupported HTTP version", "invalid request line", "invalid method" */

/* Response heads from the backend (trusted more, but still parsed strictly: a bad one becomes 502).
 * request_method_head: the request was HEAD (no body whatever the headers say); request_was_connect not needed.
 * Body framing per RFC 9112 6.3: 1xx, 204, 304 and responses to HEAD have no body; chunked; Content-Length; else WP_BODY_CLOSE (and keep_alive = 0). 101 Switching Protocols: body NONE (caller switches to a raw splice).
 * Transfer-Encoding with chunked last: CHUNKED; without chunked: CLOSE. Only max_head and max_headers apply. */
int wp_http_parse_response(const uint8_t *p, size_t n, const struct wp_http_limits *lim, int request_method_head, struct wp_http_resp *resp, const char **why);

/* Case-insensitive helpers the proxy uses when rewriting heads. */
int wp_http_name_is(const struct wp_http_field *f, const char *name);           /* field name equals name, ASCII case-insensitive */
int wp_http_has_token(const char *v, size_t n, const char *token);             /* comma-separated list contains token (case-insensitive, OWS allowed) */

/* Chunked body framing (RFC 9112 7.1), streaming: finds where a chunked body ends without changing it (the proxy forwards it as is). */
struct wp_chunked { int state; uint64_t left; unsigned line; unsigned trailer_bytes; /* ... private */ };
void wp_chunked_init(struct wp_chunked *c);
/* Feeds n bytes; returns how many belong to the body (all n, or fewer when the body ended inside the buffer: the rest is the next message), < 0 (WP_HTTP_E400) on a framing error (bad hex, chunk size over 2^62, missing CRLF after data, chunk-ext or size line over 4096 bytes, trailers over 16384 bytes). *done is set to 1 once the last-chunk and trailer section (ending CRLF) have been consumed.
 * After an error every later call fails too; after the end every later call returns 0 with *done = 1. */
long wp_chunked_feed(struct wp_chunked *c, const uint8_t *p, size_t n, int *done, const char **why);
const char *wp_http_reason(int status);  /* "OK", "Bad Request", "Request Header Fields Too Large", "Bad Gateway", ... for the statuses the proxy emits: 100 101 200 301 400 404 408 413 414 421 431 500 501 502 503 504 505 */

#endif
