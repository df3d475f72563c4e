/* http.c - strict HTTP/1.1 message heads (RFC 9110/9112) and chunked body framing for the web proxy. */
/*
 * Request smuggling lives in the gaps between two parsers' readings of one
 * byte stream: the proxy's and the backend's. The proxy therefore accepts
 * only one reading of every message and refuses anything another parser
 * could frame differently: bare CR or LF, obs-fold, whitespace before a
 * colon, Content-Length lists or duplicates, Content-Length together with
 * Transfer-Encoding, transfer codings other than a lone "chunked".
 *
 * The head parsers make one pass over the bytes through a cw_rbuf and
 * decide on each byte, so an invalid prefix fails at once and 0 ("need
 * more") means a valid prefix below the limits. Each complete field line is
 * handed to a per-message note function (request or response) that applies
 * the framing rules as soon as a field can break them.
 *
 * The chunked framer is a byte state machine that keeps no bytes: it only
 * finds where the body ends, because the proxy forwards the body unchanged.
 */
#include "webproxy/http.h"

#include "common/buf.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>

#define DEFAULT_MAX_HEAD 16384
#define DEFAULT_MAX_LINE 8192
#define CHUNK_LINE_MAX 4096
#define CHUNK_TRAILER_MAX 16384
#define CHUNK_SIZE_MAX (UINT64_C(1) << 62)

/* scan_byte() results besides a byte value */
#define SCAN_MORE (-1)      /* the bytes so far are a valid prefix */
#define SCAN_LIMIT (-2)     /* the head would pass max_head */
#define SCAN_LONG (-3)      /* the request line would pass max_line */

static int fail(const char **why, int err, const char *msg)
{
    if (why)
        *why = msg;
    return err;
}

/* --- character classes (RFC 9110 5.6.2, 5.5; RFC 9112 2.2) ----------------- */

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
 * A table: every byte of every field name is checked against it. */
static const uint8_t tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,
    ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static int is_tchar(int c)
{
    return c >= 0 && c <= 255 && tchar_table[c];
}

/* field-vchar = VCHAR / obs-text (RFC 9110 5.5) */
static int is_field_vchar(int c)
{
    return (c >= 0x21 && c <= 0x7e) || (c >= 0x80 && c <= 0xff);
}

static int is_ows(int c)
{
    return c == ' ' || c == '\t';
}

/* Request-target bytes (RFC 9112 3.2): visible ASCII. Never '#' (a fragment
 * is not sent, RFC 9110 7.1) nor '\', which some backends read as '/' and so
 * route differently from the proxy. Other characters RFC 3986 wants escaped
 * are let through, as common servers do: they cannot change the framing. */
static int is_target_char(int c)
{
    return c >= 0x21 && c <= 0x7e && c != '#' && c != '\\';
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* A bounds-checked view of len bytes at off within the reader's data. */
static const char *slice(const struct cw_rbuf *r, size_t off, size_t len)
{
    struct cw_rbuf t;

    cw_rbuf_init(&t, r->data, r->len);
    if (cw_rbuf_skip(&t, off) < 0)
        return NULL;
    return (const char *)cw_rbuf_take(&t, len);
}

/* a[0..alen) equals b[0..blen), ASCII case-insensitive. */
static int equal_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
    struct cw_rbuf ra;
    size_t i;

    if (alen != blen)
        return 0;
    cw_rbuf_init(&ra, a, alen);
    for (i = 0; i < blen; i++)
        if (lower(cw_rbuf_u8(&ra)) != lower((unsigned char)b[i]))
            return 0;
    return !cw_rbuf_failed(&ra);
}

/* The same against a string literal. */
#define EQUAL_LIT(a, alen, lit) equal_nocase((a), (alen), (lit), sizeof(lit) - 1)

/* --- list and value helpers ------------------------------------------------- */

/* Next element of a comma-separated list (RFC 9110 5.6.1) with OWS trimmed;
 * empty elements are skipped, as recipients must accept them. Returns 0 at
 * the end of the list. */
static int list_next(struct cw_rbuf *r, const char **elem, size_t *len)
{
    size_t start, end;
    int c;

    while (cw_rbuf_left(r)) {
        start = end = r->off;
        while (cw_rbuf_left(r)) {
            c = cw_rbuf_u8(r);
            if (c == ',')
                break;
            if (!is_ows(c))
                end = r->off;
            else if (end == start)      /* still in the leading OWS */
                start = end = r->off;
        }
        if (end > start) {
            *elem = slice(r, start, end - start);
            *len = end - start;
            return *elem != NULL;
        }
    }
    return 0;
}

int wp_http_has_token(const char *v, size_t n, const char *token)
{
    size_t tlen = strlen(token);
    struct cw_rbuf r;
    const char *e;
    size_t len;

    cw_rbuf_init(&r, v, n);
    while (list_next(&r, &e, &len))
        if (equal_nocase(e, len, token, tlen))
            return 1;
    return 0;
}

int wp_http_name_is(const struct wp_http_field *f, const char *name)
{
    return equal_nocase(f->name, f->name_len, name, strlen(name));
}

/* The enum wp_http_fid of a field name: by length first, then the few
 * names of that length (every field of every message passes here). */
static enum wp_http_fid field_id(const char *name, size_t len)
{
#define IS(lit) EQUAL_LIT(name, len, lit)
    switch (len) {
    case 2:
        return IS("TE") ? WP_F_TE : WP_F_OTHER;
    case 4:
        return IS("Host") ? WP_F_HOST : WP_F_OTHER;
    case 6:
        return IS("Expect") ? WP_F_EXPECT : WP_F_OTHER;
    case 7:
        return IS("Upgrade") ? WP_F_UPGRADE : WP_F_OTHER;
    case 9:
        return IS("Forwarded") ? WP_F_FORWARDED : WP_F_OTHER;
    case 10:
        return IS("Connection") ? WP_F_CONNECTION : IS("Keep-Alive") ? WP_F_KEEP_ALIVE : WP_F_OTHER;
    case 14:
        return IS("Content-Length") ? WP_F_CONTENT_LENGTH : WP_F_OTHER;
    case 15:
        return IS("X-Forwarded-For") ? WP_F_X_FORWARDED_FOR : WP_F_OTHER;
    case 16:
        return IS("Proxy-Connection") ? WP_F_PROXY_CONNECTION
               : IS("X-Forwarded-Host") ? WP_F_X_FORWARDED_HOST : WP_F_OTHER;
    case 17:
        return IS("Transfer-Encoding") ? WP_F_TRANSFER_ENCODING
               : IS("X-Forwarded-Proto") ? WP_F_X_FORWARDED_PROTO : WP_F_OTHER;
    case 25:
        return IS("Strict-Transport-Security") ? WP_F_STRICT_TRANSPORT_SECURITY : WP_F_OTHER;
    default:
        return WP_F_OTHER;
    }
#undef IS
}

/* Content-Length = 1*DIGIT (RFC 9110 8.6): no sign, no list, no OWS inside.
 * 18 digits always fit in 63 bits. */
static int parse_length(const char *v, size_t n, uint64_t *out)
{
    struct cw_rbuf r;
    uint64_t x = 0;
    int c;

    if (n == 0 || n > 18)
        return -1;
    cw_rbuf_init(&r, v, n);
    while (cw_rbuf_left(&r)) {
        c = cw_rbuf_u8(&r);
        if (!is_digit(c))
            return -1;
        x = x * 10 + (uint64_t)(c - '0');
    }
    *out = x;
    return 0;
}

/* uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2-3.2.3), stricter than
 * RFC 3986: a reg-name is ALPHA / DIGIT / "-" / "." / "_" / "~" only. The
 * sub-delims it also allows (",", ";", ...) name no DNS host and read as
 * lists to some backends; a percent-escape names no host we serve. An
 * IP-literal is HEXDIG / ":" / "." between brackets. A port is 1-5 digits
 * up to 65535; need_port (CONNECT, RFC 9112 3.2.3) makes it mandatory. */
static int authority_ok(const char *p, size_t n, int need_port)
{
    enum { A_START, A_NAME, A_V6, A_V6_END, A_PORT } st = A_START;
    struct cw_rbuf r;
    unsigned long port = 0;
    unsigned v6len = 0, plen = 0;
    int c, colon = 0;

    cw_rbuf_init(&r, p, n);
    while (cw_rbuf_left(&r)) {
        c = cw_rbuf_u8(&r);
        switch (st) {
        case A_START:
        case A_NAME:
            if (st == A_START && c == '[') {
                st = A_V6;
            } else if (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~') {
                st = A_NAME;
            } else if (st == A_NAME && c == ':') {
                st = A_PORT;
            } else {
                return 0;
            }
            break;
        case A_V6:
            if (c == ']') {
                if (v6len < 2 || !colon)
                    return 0;
                st = A_V6_END;
            } else if (cw_hex_value(c) >= 0 || c == ':' || c == '.') {
                colon |= c == ':';
                if (++v6len > 45)
                    return 0;
            } else {
                return 0;
            }
            break;
        case A_V6_END:
            if (c != ':')
                return 0;
            st = A_PORT;
            break;
        case A_PORT:
            if (!is_digit(c) || ++plen > 5)
                return 0;
            port = port * 10 + (unsigned long)(c - '0');
            if (port > 65535)
                return 0;
            break;
        }
    }
    if (st == A_PORT)
        return plen > 0;
    return !need_port && (st == A_NAME || st == A_V6_END);
}

/* --- the head scanner, shared by requests and responses ------------------- */

struct scan {
    struct cw_rbuf r;       /* over the caller's bytes; off = bytes read */
    size_t max_head;
    const char **why;
};

struct limits {
    size_t max_head, max_line;
    unsigned max_fields;
};

static void limits_get(const struct wp_http_limits *lim, struct limits *out)
{
    struct wp_http_limits d;

    if (!lim) {
        wp_http_limits_default(&d);
        lim = &d;
    }
    out->max_head = lim->max_head > INT_MAX ? INT_MAX : lim->max_head;
    out->max_line = lim->max_line;
    out->max_fields = lim->max_headers > WP_HTTP_MAX_HEADERS ? WP_HTTP_MAX_HEADERS
                                                             : lim->max_headers;
}

void wp_http_limits_default(struct wp_http_limits *l)
{
    l->max_head = DEFAULT_MAX_HEAD;
    l->max_line = DEFAULT_MAX_LINE;
    l->max_headers = WP_HTTP_MAX_HEADERS;
}

/* The next byte, or SCAN_MORE at the end of the bytes so far, or SCAN_LIMIT
 * if reading it would make the head longer than max_head. */
static int scan_byte(struct scan *s)
{
    if (s->r.off >= s->max_head)
        return SCAN_LIMIT;
    if (!cw_rbuf_left(&s->r))
        return SCAN_MORE;
    return cw_rbuf_u8(&s->r);
}

/* A byte of the request line begun at start: SCAN_LONG once the line
 * (without its CRLF) would pass max_line (RFC 9112 3: 414). */
static int line_byte(struct scan *s, size_t start, size_t max_line)
{
    int c = scan_byte(s);

    if (c >= 0 && c != '\r' && s->r.off - start > max_line)
        return SCAN_LONG;
    return c;
}

/* Maps a negative scan_byte()/line_byte() result to the parser's result. */
static int scan_stop(struct scan *s, int c)
{
    if (c == SCAN_MORE)
        return 0;
    if (c == SCAN_LONG)
        return fail(s->why, WP_HTTP_E414, "request line too long");
    return fail(s->why, WP_HTTP_E431, "header too large");
}

/* After a CR: the LF that must follow (RFC 9112 2.2: a bare CR is invalid). */
static int scan_lf(struct scan *s)
{
    int c = scan_byte(s);

    if (c < 0)
        return scan_stop(s, c);
    if (c != '\n')
        return fail(s->why, WP_HTTP_E400, "bare CR");
    return 1;
}

typedef int (*note_fn)(void *ctx, const struct wp_http_field *f, const char **why);

/* The unread bytes that the head limit still allows, and how many. */
static const uint8_t *scan_window(const struct scan *s, size_t *n)
{
    size_t left = cw_rbuf_left(&s->r);
    size_t room = s->max_head > s->r.off ? s->max_head - s->r.off : 0;

    *n = left < room ? left : room;
    return cw_rbuf_peek(&s->r);
}

/* The window ran out after n bytes: more are needed, or the head is over
 * its limit. */
static int scan_window_end(struct scan *s, size_t n)
{
    (void)cw_rbuf_skip(&s->r, n);
    return scan_stop(s, s->r.off >= s->max_head ? SCAN_LIMIT : SCAN_MORE);
}

/* field-vchar = VCHAR / obs-text; a byte of a field value besides OWS. */
static int is_value_byte(int c)
{
    return c > 0x20 && c != 0x7f;
}

/* Reads field lines up to and including the empty line (RFC 9112 5):
 * field-line = field-name ":" OWS field-value OWS, CRLF-terminated.
 * Each complete field is stored and handed to note(). Returns the head's
 * length, 0 for a valid prefix, or an error. A line is scanned as a span
 * of the window (every byte of a head passes here, so no call per byte). */
static int scan_fields(struct scan *s, struct wp_http_field *field, unsigned *nfield,
                       unsigned max_fields, note_fn note, void *ctx)
{
    struct wp_http_field *f;
    const uint8_t *p;
    size_t n, i, v_start, v_end;
    int rc;

    for (;;) {
        p = scan_window(s, &n);
        if (!n)
            return scan_window_end(s, 0);
        if (p[0] == '\r') {
            if (n < 2)
                return scan_window_end(s, n);
            if (p[1] != '\n')
                return fail(s->why, WP_HTTP_E400, "bare CR");
            (void)cw_rbuf_skip(&s->r, 2);
            return (int)s->r.off;
        }
        if (p[0] == '\n')
            return fail(s->why, WP_HTTP_E400, "bare LF");
        /* RFC 9112 5.2: obs-fold is refused with 400 (also right after the
         * start line, which RFC 9112 2.2 makes the same kind of error). */
        if (is_ows(p[0]))
            return fail(s->why, WP_HTTP_E400, "obs-fold in a header");
        if (!is_tchar(p[0]))
            return fail(s->why, WP_HTTP_E400, "invalid header name");
        if (*nfield >= max_fields)
            return fail(s->why, WP_HTTP_E431, "too many headers");
        for (i = 1; i < n && is_tchar(p[i]); i++)
            ;
        if (i == n)
            return scan_window_end(s, n);
        /* RFC 9112 5.1: no whitespace between field name and colon: 400. */
        if (is_ows(p[i]))
            return fail(s->why, WP_HTTP_E400, "whitespace before colon");
        if (p[i] != ':')
            return fail(s->why, WP_HTTP_E400, "invalid header name");
        f = &field[*nfield];
        f->name = (const char *)p;
        f->name_len = i;
        v_start = v_end = 0;
        for (i++; i < n; i++) {
            if (is_value_byte(p[i])) {
                if (!v_end)
                    v_start = i;
                v_end = i + 1;
            } else if (!is_ows(p[i])) {
                break;
            }
        }
        if (i == n)
            return scan_window_end(s, n);
        if (p[i] == '\n')
            return fail(s->why, WP_HTTP_E400, "bare LF");
        /* RFC 9110 5.5: NUL, CR, LF and other CTLs are invalid here. */
        if (p[i] != '\r')
            return fail(s->why, WP_HTTP_E400, "invalid header value");
        if (i + 1 == n)
            return scan_window_end(s, n);
        if (p[i + 1] != '\n')
            return fail(s->why, WP_HTTP_E400, "bare CR");
        if (!v_end)
            v_start = v_end = i;     /* empty: at the CR */
        f->value = (const char *)p + v_start;
        f->value_len = v_end - v_start;
        f->id = field_id(f->name, f->name_len);
        (*nfield)++;
        (void)cw_rbuf_skip(&s->r, i + 2);
        rc = note(ctx, f, s->why);
        if (rc < 0)
            return rc;
    }
}

/* What the fields common to both directions said about framing. */
struct framing {
    int minor;
    int cl, te;                 /* field seen */
    uint64_t length;
    int te_chunked;             /* response: chunked is the final coding */
    int conn_close, conn_keep_alive, conn_upgrade;
    int conn_other;             /* Connection names another option (a field, say) */
};

/* Content-Length and Connection, identical in both directions. Returns 1 if
 * the field was one of them, 0 if not, or an error. */
static int note_common(struct framing *fr, const struct wp_http_field *f, const char **why)
{
    struct cw_rbuf r;
    const char *e;
    size_t len;

    if (f->id == WP_F_CONTENT_LENGTH) {
        /* RFC 9112 6.3 rule 5: an invalid Content-Length is unrecoverable.
         * We treat a repeated one as invalid even when equal: recipients
         * that merge duplicates into a list would then disagree. */
        if (fr->cl)
            return fail(why, WP_HTTP_E400, "duplicate Content-Length");
        if (parse_length(f->value, f->value_len, &fr->length) < 0)
            return fail(why, WP_HTTP_E400, "invalid Content-Length");
        fr->cl = 1;
        return 1;
    }
    if (f->id == WP_F_CONNECTION) {
        /* RFC 9112 9.3: close ends persistence; keep-alive is HTTP/1.0's opt-in. */
        cw_rbuf_init(&r, f->value, f->value_len);
        while (list_next(&r, &e, &len)) {
            fr->conn_close |= EQUAL_LIT(e, len, "close");
            fr->conn_keep_alive |= EQUAL_LIT(e, len, "keep-alive");
            fr->conn_upgrade |= EQUAL_LIT(e, len, "upgrade");
            fr->conn_other |= !EQUAL_LIT(e, len, "close") && !EQUAL_LIT(e, len, "keep-alive") &&
                              !EQUAL_LIT(e, len, "upgrade");
        }
        return 1;
    }
    return 0;
}

static int keep_alive(const struct framing *fr)
{
    if (fr->conn_close)
        return 0;
    return fr->minor == 1 || fr->conn_keep_alive;
}

/* --- requests --------------------------------------------------------------- */

struct req_ctx {
    struct wp_http_req *req;
    struct framing fr;
    int upgrade_ws;
    int expect_100;
};

static int req_note(void *arg, const struct wp_http_field *f, const char **why)
{
    struct req_ctx *x = arg;
    struct wp_http_req *req = x->req;
    int rc;

    if (f->id == WP_F_CONTENT_LENGTH && x->fr.te)
        return fail(why, WP_HTTP_E400, "both Content-Length and Transfer-Encoding");
    rc = note_common(&x->fr, f, why);
    if (rc != 0)
        return rc;
    if (f->id == WP_F_TRANSFER_ENCODING) {
        /* RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
         * framing. RFC 9112 6.3 rule 3: a request with both is a smuggling
         * attempt, and we answer 400 rather than guess. A second field would
         * make a list out of two lines. */
        if (x->fr.minor == 0)
            return fail(why, WP_HTTP_E400, "Transfer-Encoding in HTTP/1.0");
        if (x->fr.cl)
            return fail(why, WP_HTTP_E400, "both Content-Length and Transfer-Encoding");
        if (x->fr.te)
            return fail(why, WP_HTTP_E400, "two Transfer-Encoding headers");
        /* RFC 9112 6.1: 501 for a coding we do not understand; we forward
         * bodies unchanged, so the only coding we frame is a lone chunked. */
        if (!EQUAL_LIT(f->value, f->value_len, "chunked"))
            return fail(why, WP_HTTP_E501, "unsupported transfer coding");
        x->fr.te = 1;
    } else if (f->id == WP_F_HOST) {
        /* RFC 9112 3.2: 400 for more than one Host or an invalid one. */
        if (req->host)
            return fail(why, WP_HTTP_E400, "two Host headers");
        if (!authority_ok(f->value, f->value_len, 0))
            return fail(why, WP_HTTP_E400, "invalid Host");
        req->host = f->value;
        req->host_len = f->value_len;
    } else if (f->id == WP_F_UPGRADE) {
        x->upgrade_ws |= wp_http_has_token(f->value, f->value_len, "websocket");
    } else if (f->id == WP_F_EXPECT) {
        x->expect_100 |= wp_http_has_token(f->value, f->value_len, "100-continue");
    }
    return 0;
}

/* request-target forms (RFC 9112 3.2): origin-form; asterisk-form with
 * OPTIONS only (3.2.4); authority-form with CONNECT only (3.2.3).
 * absolute-form (3.2.2) is refused: the proxy routes by Host alone and would
 * otherwise have to reconcile the two. */
static int target_ok(const struct wp_http_req *req)
{
    int first = req->target_len ? (unsigned char)req->target[0] : 0;

    if (req->is_connect)
        return authority_ok(req->target, req->target_len, 1);
    if (first == '/')
        return 1;
    return req->target_len == 1 && first == '*' && req->method_len == 7 &&
           memcmp(req->method, "OPTIONS", 7) == 0;
}

/* request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 3),
 * after up to two empty lines (RFC 9112 2.2). Returns 1 once the line has
 * been read, 0 for a valid prefix, or an error. */
static int scan_request_line(struct scan *s, size_t max_line, struct wp_http_req *req)
{
    static const char version[] = "HTTP/d.d";
    size_t start, mark;
    unsigned empty = 0, i;
    int c, rc, v[2] = { 0, 0 };

    for (;;) {
        start = s->r.off;
        c = line_byte(s, start, max_line);
        if (c < 0)
            return scan_stop(s, c);
        if (c == '\n')
            return fail(s->why, WP_HTTP_E400, "bare LF");
        if (c != '\r')
            break;
        if (++empty > 2)
            return fail(s->why, WP_HTTP_E400, "invalid request line");
        rc = scan_lf(s);
        if (rc <= 0)
            return rc;
    }
    /* method = token (RFC 9110 9.1), case-sensitive */
    while (c != ' ') {
        if (!is_tchar(c))
            return fail(s->why, WP_HTTP_E400,
                        c == '\r' || c == '\n' ? "invalid request line" : "invalid method");
        c = line_byte(s, start, max_line);
        if (c < 0)
            return scan_stop(s, c);
    }
    if (s->r.off - 1 == start)
        return fail(s->why, WP_HTTP_E400, "invalid request line");
    req->method = slice(&s->r, start, s->r.off - 1 - start);
    req->method_len = s->r.off - 1 - start;
    req->is_head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    req->is_connect = req->method_len == 7 && memcmp(req->method, "CONNECT", 7) == 0;

    /* exactly one SP, then the target up to the next SP (RFC 9112 3: no
     * other whitespace, which some parsers would take as a separator) */
    mark = s->r.off;
    for (;;) {
        c = line_byte(s, start, max_line);
        if (c < 0)
            return scan_stop(s, c);
        if (c == ' ')
            break;
        if (!is_target_char(c))
            return fail(s->why, WP_HTTP_E400,
                        c == '\r' || c == '\n' || c == '\t' ? "invalid request line"
                                                            : "invalid request target");
    }
    if (s->r.off - 1 == mark)
        return fail(s->why, WP_HTTP_E400, "invalid request line");
    req->target = slice(&s->r, mark, s->r.off - 1 - mark);
    req->target_len = s->r.off - 1 - mark;
    if (!target_ok(req))
        return fail(s->why, WP_HTTP_E400, "invalid request target");

    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3) */
    for (i = 0; i < sizeof(version) - 1; i++) {
        c = line_byte(s, start, max_line);
        if (c < 0)
            return scan_stop(s, c);
        if (version[i] == 'd' ? !is_digit(c) : c != version[i])
            return fail(s->why, WP_HTTP_E400, "invalid request line");
        if (version[i] == 'd')
            v[i == 5 ? 0 : 1] = c - '0';
    }
    c = line_byte(s, start, max_line);
    if (c < 0)
        return scan_stop(s, c);
    if (c != '\r')
        return fail(s->why, WP_HTTP_E400, c == '\n' ? "bare LF" : "invalid request line");
    rc = scan_lf(s);
    if (rc <= 0)
        return rc;
    if (v[0] != 1 || v[1] > 1)
        return fail(s->why, WP_HTTP_E505, "unsupported HTTP version");
    req->minor = v[1];
    return 1;
}

int wp_http_parse_request(const uint8_t *p, size_t n, const struct wp_http_limits *lim,
                          struct wp_http_req *req, const char **why)
{
    struct req_ctx x;
    struct limits l;
    struct scan s;
    int rc, len;

    limits_get(lim, &l);
    memset(req, 0, offsetof(struct wp_http_req, field));   /* fields are set as they are read */
    cw_rbuf_init(&s.r, p, n);
    s.max_head = l.max_head;
    s.why = why;
    rc = scan_request_line(&s, l.max_line, req);
    if (rc <= 0)
        return rc;

    memset(&x, 0, sizeof(x));
    x.req = req;
    x.fr.minor = req->minor;
    len = scan_fields(&s, req->field, &req->nfield, l.max_fields, req_note, &x);
    if (len <= 0)
        return len;

    /* RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400. */
    if (req->minor == 1 && !req->host)
        return fail(why, WP_HTTP_E400, "missing Host");
    /* RFC 9112 6.3 rules 4, 6, 7 */
    if (x.fr.te) {
        req->body = WP_BODY_CHUNKED;
    } else if (x.fr.cl) {
        req->body = WP_BODY_LENGTH;
        req->content_length = x.fr.length;
    } else {
        req->body = WP_BODY_NONE;
    }
    req->keep_alive = keep_alive(&x.fr);
    req->conn_names = x.fr.conn_other;
    /* RFC 9110 7.8: Upgrade in an HTTP/1.0 request is ignored; RFC 6455 4.1:
     * the handshake is a GET. */
    req->websocket = req->minor == 1 && x.fr.conn_upgrade && x.upgrade_ws &&
                     req->method_len == 3 && memcmp(req->method, "GET", 3) == 0;
    /* RFC 9110 10.1.1: a 100-continue expectation in HTTP/1.0 is ignored. */
    req->expect_continue = req->minor == 1 && x.expect_100;
    return len;
}

/* --- responses -------------------------------------------------------------- */

struct resp_ctx {
    struct framing fr;
};

static int resp_note(void *arg, const struct wp_http_field *f, const char **why)
{
    struct resp_ctx *x = arg;
    struct cw_rbuf r;
    const char *e;
    size_t len;
    int rc, chunked = 0, last = 0, codings = 0;

    rc = note_common(&x->fr, f, why);
    if (rc != 0)
        return rc;
    if (f->id != WP_F_TRANSFER_ENCODING)
        return 0;
    /* RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing. */
    if (x->fr.minor == 0)
        return fail(why, WP_HTTP_E400, "Transfer-Encoding in HTTP/1.0");
    if (x->fr.te)
        return fail(why, WP_HTTP_E400, "two Transfer-Encoding headers");
    /* RFC 9112 6.1: chunked at most once, and only as the final coding; a
     * response whose final coding is another is read until close (6.3 rule 4). */
    cw_rbuf_init(&r, f->value, f->value_len);
    while (list_next(&r, &e, &len)) {
        codings++;
        last = EQUAL_LIT(e, len, "chunked");
        if (last && chunked++)
            return fail(why, WP_HTTP_E400, "chunked applied twice");
    }
    if (chunked && !last)
        return fail(why, WP_HTTP_E400, "chunked is not the final coding");
    if (!codings)
        return fail(why, WP_HTTP_E400, "empty Transfer-Encoding");
    x->fr.te = 1;
    x->fr.te_chunked = chunked;
    return 0;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4);
 * the SP before an empty reason may be missing too, as RFC 9112 4 asks
 * recipients to accept. Returns 1, 0 for a valid prefix, or an error. */
static int scan_status_line(struct scan *s, struct wp_http_resp *resp)
{
    static const char line[] = "HTTP/d.d DDD";
    unsigned i;
    int c, rc, v[2] = { 0, 0 }, status = 0;

    for (i = 0; i < sizeof(line) - 1; i++) {
        c = scan_byte(s);
        if (c < 0)
            return scan_stop(s, c);
        if (line[i] == 'd' || line[i] == 'D' ? !is_digit(c) : c != line[i])
            return fail(s->why, WP_HTTP_E400, "invalid status line");
        if (line[i] == 'd')
            v[i == 5 ? 0 : 1] = c - '0';
        if (line[i] == 'D')
            status = status * 10 + (c - '0');
    }
    c = scan_byte(s);
    if (c == ' ') {
        for (;;) {   /* reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) */
            c = scan_byte(s);
            if (c < 0 || c == '\r')
                break;
            if (!is_ows(c) && !is_field_vchar(c))
                return fail(s->why, WP_HTTP_E400,
                            c == '\n' ? "bare LF" : "invalid reason phrase");
        }
    }
    if (c < 0)
        return scan_stop(s, c);
    if (c != '\r')
        return fail(s->why, WP_HTTP_E400, c == '\n' ? "bare LF" : "invalid status line");
    rc = scan_lf(s);
    if (rc <= 0)
        return rc;
    if (v[0] != 1 || v[1] > 1)
        return fail(s->why, WP_HTTP_E505, "unsupported HTTP version");
    if (status < 100 || status > 599)
        return fail(s->why, WP_HTTP_E400, "invalid status code");
    resp->minor = v[1];
    resp->status = status;
    return 1;
}

int wp_http_parse_response(const uint8_t *p, size_t n, const struct wp_http_limits *lim,
                           int request_method_head, struct wp_http_resp *resp,
                           const char **why)
{
    struct resp_ctx x;
    struct limits l;
    struct scan s;
    int rc, len;

    limits_get(lim, &l);
    memset(resp, 0, offsetof(struct wp_http_resp, field));
    cw_rbuf_init(&s.r, p, n);
    s.max_head = l.max_head;
    s.why = why;
    rc = scan_status_line(&s, resp);
    if (rc <= 0)
        return rc;

    memset(&x, 0, sizeof(x));
    x.fr.minor = resp->minor;
    len = scan_fields(&s, resp->field, &resp->nfield, l.max_fields, resp_note, &x);
    if (len <= 0)
        return len;

    resp->keep_alive = keep_alive(&x.fr);
    resp->conn_names = x.fr.conn_other;
    if (x.fr.cl)
        resp->content_length = x.fr.length;
    /* RFC 9112 6.3, in its order: rule 1 (HEAD, 1xx - 101 included -, 204,
     * 304: no body); rule 3 (Transfer-Encoding overrides Content-Length, but
     * the connection must not be reused); rule 4 (chunked final: chunked,
     * else until close); rule 6 (length); rule 8 (until close). */
    if (request_method_head || resp->status < 200 || resp->status == 204 ||
        resp->status == 304) {
        resp->body = WP_BODY_NONE;
    } else if (x.fr.te) {
        resp->body = x.fr.te_chunked ? WP_BODY_CHUNKED : WP_BODY_CLOSE;
        if (x.fr.cl) {
            resp->strip_content_length = 1;
            resp->keep_alive = 0;
        }
    } else if (x.fr.cl) {
        resp->body = WP_BODY_LENGTH;
    } else {
        resp->body = WP_BODY_CLOSE;
    }
    if (resp->body == WP_BODY_CLOSE)
        resp->keep_alive = 0;
    return len;
}

/* --- chunked framing (RFC 9112 7.1) ---------------------------------------- */

/* chunked-body   = *chunk last-chunk trailer-section CRLF
 * chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 * chunk-ext-val  = token / quoted-string
 * The X_ states walk chunk-ext; those that may end the line accept CR. */
enum {
    CK_SIZE0,       /* first HEXDIG of a size */
    CK_SIZE,        /* more HEXDIG, or ";" / BWS / CR */
    CK_X_WS,        /* BWS after the size or a value: ";" must follow */
    CK_X_NAME0,     /* BWS, then the first tchar of a name */
    CK_X_NAME,      /* tchar, or ";" / "=" / BWS / CR */
    CK_X_WS_NAME,   /* BWS after a name: "=" or ";" must follow */
    CK_X_VAL0,      /* BWS, then a token or a quoted-string */
    CK_X_TOKEN,     /* tchar, or ";" / BWS / CR */
    CK_X_QSTR,      /* inside a quoted-string */
    CK_X_QPAIR,     /* after a backslash */
    CK_X_QEND,      /* after the closing quote: ";" / BWS / CR */
    CK_SIZE_LF,     /* LF ending the size line */
    CK_DATA,
    CK_DATA_CR,
    CK_DATA_LF,
    CK_TR_START,    /* start of a trailer line, or CR of the final CRLF */
    CK_TR_NAME,
    CK_TR_VALUE,
    CK_TR_LF,
    CK_END_LF,
    CK_DONE,
    CK_ERROR
};

void wp_chunked_init(struct wp_chunked *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CK_SIZE0;
}

static long ck_fail(struct wp_chunked *ck, const char **why, const char *msg)
{
    ck->state = CK_ERROR;
    return fail(why, WP_HTTP_E400, msg);
}

/* One byte of the size line after the size: where chunk-ext goes next, or
 * -1 if the byte cannot be there. */
static int ck_ext(int st, int c)
{
    int ws = is_ows(c);

    switch (st) {
    case CK_X_TOKEN:
        if (is_tchar(c))
            return CK_X_TOKEN;
        /* fall through */
    case CK_SIZE:
    case CK_X_QEND:
        return c == ';' ? CK_X_NAME0 : ws ? CK_X_WS : c == '\r' ? CK_SIZE_LF : -1;
    case CK_X_WS:
        return ws ? CK_X_WS : c == ';' ? CK_X_NAME0 : -1;
    case CK_X_NAME0:
        return ws ? CK_X_NAME0 : is_tchar(c) ? CK_X_NAME : -1;
    case CK_X_NAME:
        if (is_tchar(c))
            return CK_X_NAME;
        return c == ';' ? CK_X_NAME0 : c == '=' ? CK_X_VAL0 : ws ? CK_X_WS_NAME
               : c == '\r' ? CK_SIZE_LF : -1;
    case CK_X_WS_NAME:
        return ws ? CK_X_WS_NAME : c == '=' ? CK_X_VAL0 : c == ';' ? CK_X_NAME0 : -1;
    case CK_X_VAL0:
        return ws ? CK_X_VAL0 : c == '"' ? CK_X_QSTR : is_tchar(c) ? CK_X_TOKEN : -1;
    case CK_X_QSTR:
        /* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
        return c == '"' ? CK_X_QEND : c == '\\' ? CK_X_QPAIR
               : ws || is_field_vchar(c) ? CK_X_QSTR : -1;
    case CK_X_QPAIR:
        return ws || is_field_vchar(c) ? CK_X_QSTR : -1;
    }
    return -1;
}

long wp_chunked_feed(struct wp_chunked *ck, const uint8_t *p, size_t n, int *done,
                     const char **why)
{
    struct cw_rbuf r;
    size_t take;
    int c, d, st;

    if (n > LONG_MAX)
        n = LONG_MAX;
    if (done)
        *done = ck->state == CK_DONE;
    if (ck->state == CK_ERROR)
        return fail(why, WP_HTTP_E400, "invalid chunked body");
    cw_rbuf_init(&r, p, n);
    while (ck->state != CK_DONE && cw_rbuf_left(&r)) {
        if (ck->state == CK_DATA) {
            take = cw_rbuf_left(&r);
            if (take > ck->left)
                take = (size_t)ck->left;
            cw_rbuf_skip(&r, take);
            ck->left -= take;
            if (!ck->left)
                ck->state = CK_DATA_CR;
            continue;
        }
        c = cw_rbuf_u8(&r);
        switch (ck->state) {
        case CK_SIZE0:
        case CK_SIZE:
        case CK_X_WS:
        case CK_X_NAME0:
        case CK_X_NAME:
        case CK_X_WS_NAME:
        case CK_X_VAL0:
        case CK_X_TOKEN:
        case CK_X_QSTR:
        case CK_X_QPAIR:
        case CK_X_QEND:
            /* RFC 9112 7.1.1: a limit on chunk-ext is the recipient's to set. */
            if (c != '\r' && ++ck->line > CHUNK_LINE_MAX)
                return ck_fail(ck, why, "chunk size line too long");
            d = cw_hex_value(c);
            if (ck->state == CK_SIZE0 || (ck->state == CK_SIZE && d >= 0)) {
                if (d < 0)
                    return ck_fail(ck, why, "invalid chunk size");
                /* RFC 9112 7.1: guard against overflow in the conversion. */
                if (ck->left > (CHUNK_SIZE_MAX - (uint64_t)d) / 16)
                    return ck_fail(ck, why, "chunk size too large");
                ck->left = ck->left * 16 + (uint64_t)d;
                ck->state = CK_SIZE;
                break;
            }
            st = ck_ext(ck->state, c);
            if (st < 0)
                return ck_fail(ck, why, c == '\n' ? "bare LF in chunked body"
                                                  : "invalid chunk extension");
            ck->state = st;
            break;
        case CK_SIZE_LF:
            if (c != '\n')
                return ck_fail(ck, why, "bare CR in chunked body");
            ck->line = 0;
            ck->state = ck->left ? CK_DATA : CK_TR_START;
            break;
        case CK_DATA_CR:
        case CK_DATA_LF:
            if (c != (ck->state == CK_DATA_CR ? '\r' : '\n'))
                return ck_fail(ck, why, "missing CRLF after chunk data");
            ck->state = ck->state == CK_DATA_CR ? CK_DATA_LF : CK_SIZE0;
            break;
        case CK_TR_START:
        case CK_TR_NAME:
        case CK_TR_VALUE:
        case CK_TR_LF:
            /* RFC 9112 7.1.2: trailer fields are field lines like a head's;
             * the final CRLF is not counted as one. */
            if (ck->state == CK_TR_START && c == '\r') {
                ck->state = CK_END_LF;
                break;
            }
            if (++ck->trailer_bytes > CHUNK_TRAILER_MAX)
                return ck_fail(ck, why, "trailers too large");
            if (ck->state == CK_TR_START && is_ows(c)) {
                return ck_fail(ck, why, "obs-fold in a trailer");
            } else if (ck->state == CK_TR_START || ck->state == CK_TR_NAME) {
                if (c == ':' && ck->state == CK_TR_NAME)
                    ck->state = CK_TR_VALUE;
                else if (is_tchar(c))
                    ck->state = CK_TR_NAME;
                else
                    return ck_fail(ck, why, "invalid trailer field");
            } else if (ck->state == CK_TR_VALUE) {
                if (c == '\r')
                    ck->state = CK_TR_LF;
                else if (!is_ows(c) && !is_field_vchar(c))
                    return ck_fail(ck, why, "invalid trailer field");
            } else {
                if (c != '\n')
                    return ck_fail(ck, why, "bare CR in chunked body");
                ck->state = CK_TR_START;
            }
            break;
        case CK_END_LF:
            if (c != '\n')
                return ck_fail(ck, why, "bare CR in chunked body");
            ck->state = CK_DONE;
            break;
        default:
            return ck_fail(ck, why, "invalid chunked body");
        }
    }
    if (done)
        *done = ck->state == CK_DONE;
    return (long)r.off;
}

/* --- reason phrases (RFC 9110 15) ------------------------------------------ */

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    { 100, "Continue" },
    { 101, "Switching Protocols" },
    { 200, "OK" },
    { 204, "No Content" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 304, "Not Modified" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 408, "Request Timeout" },
    { 413, "Content Too Large" },
    { 414, "URI Too Long" },
    { 417, "Expectation Failed" },
    { 421, "Misdirected Request" },
    { 426, "Upgrade Required" },
    { 431, "Request Header Fields Too Large" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
};

const char *wp_http_reason(int status)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}
