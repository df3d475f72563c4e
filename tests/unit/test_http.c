/* test_http.c - HTTP/1.1 heads and chunked framing (webproxy/http.c): request, response and chunked cases as data, fed whole, by prefixes and in splits. */
#include "test.h"

#include "webproxy/http.h"

#include <stdint.h>

#define IN(s) .in = s, .len = sizeof(s) - 1
#define WHOLE 1     /* expected result: the head is the whole input */

enum { F_WS = 1, F_EXPECT = 2, F_HEAD = 4, F_CONNECT = 8, F_MINOR0 = 16, F_STRIP = 32 };

static const struct wp_http_limits tiny = { 64, 24, 3 };

struct req_case {
    const char *in;
    size_t len;
    int want;                   /* WHOLE, a head length, 0 or an error */
    const char *why;            /* the phrase for an error */
    const struct wp_http_limits *lim;   /* NULL: the defaults */
    enum wp_http_body body;
    uint64_t cl;
    int ka;
    const char *host;           /* NULL: no Host */
    int flags;
};

static const struct req_case req_cases[] = {
    /* valid requests */
    { IN("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), .want = WHOLE, .ka = 1,
      .host = "example.com" },
    { IN("GET /index.html HTTP/1.0\r\n\r\n"), .want = WHOLE, .flags = F_MINOR0 },
    { IN("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), .want = WHOLE, .ka = 1,
      .flags = F_MINOR0 },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), .want = WHOLE,
      .host = "a" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive , CLOSE\r\n\r\n"),
      .want = WHOLE, .host = "a" },
    { IN("POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"), .want = WHOLE,
      .body = WP_BODY_LENGTH, .cl = 5, .ka = 1, .host = "a" },
    { IN("POST /f HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n"), .want = WHOLE,
      .body = WP_BODY_LENGTH, .cl = 0, .ka = 1, .host = "a" },
    { IN("PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n"),
      .want = WHOLE, .body = WP_BODY_LENGTH, .cl = 999999999999999999ull, .ka = 1,
      .host = "a" },
    { IN("POST /f HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
      .want = WHOLE, .body = WP_BODY_CHUNKED, .ka = 1, .host = "a" },
    { IN("POST /f HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING:  Chunked \r\n\r\n"),
      .want = WHOLE, .body = WP_BODY_CHUNKED, .ka = 1, .host = "a" },
    { IN("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Version: 13\r\n\r\n"), .want = WHOLE, .ka = 1, .host = "a",
      .flags = F_WS },
    { IN("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: h2c, WebSocket\r\n"
         "Connection: keep-alive, upgrade\r\n\r\n"), .want = WHOLE, .ka = 1, .host = "a",
      .flags = F_WS },
    { IN("POST /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
      .want = WHOLE, .ka = 1, .host = "a" },
    { IN("GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"), .want = WHOLE,
      .ka = 1, .host = "a" },
    { IN("PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"),
      .want = WHOLE, .body = WP_BODY_LENGTH, .cl = 3, .ka = 1, .host = "a",
      .flags = F_EXPECT },
    { IN("PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
      .want = WHOLE, .body = WP_BODY_LENGTH, .cl = 3, .flags = F_MINOR0 },
    { IN("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WHOLE, .ka = 1, .host = "a",
      .flags = F_HEAD },
    { IN("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WHOLE, .ka = 1, .host = "a" },
    { IN("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
      .want = WHOLE, .ka = 1, .host = "example.com:443", .flags = F_CONNECT },
    { IN("GET / HTTP/1.1\r\nHost: 192.0.2.1:8080\r\n\r\n"), .want = WHOLE, .ka = 1,
      .host = "192.0.2.1:8080" },
    { IN("GET / HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n"), .want = WHOLE, .ka = 1,
      .host = "[2001:db8::1]:443" },
    { IN("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n"), .want = WHOLE, .ka = 1, .host = "[::1]" },
    /* RFC 9112 2.2: up to two empty lines first, counted in the length */
    { IN("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WHOLE, .ka = 1, .host = "a" },
    { IN("GET / HTTP/1.1\r\nHost: \t a.example \t \r\nX-Empty:\r\nX-Sp:   \r\n\r\n"),
      .want = WHOLE, .ka = 1, .host = "a.example" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\xc3\xa9 \x80\xff\r\n\r\n"), .want = WHOLE,
      .ka = 1, .host = "a" },
    { IN("GET /a/b?c=%20&d=[x]|{y}~!$'()*+,;=:@ HTTP/1.1\r\nHost: a\r\n\r\n"),
      .want = WHOLE, .ka = 1, .host = "a" },
    { IN("M-SEARCH! / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WHOLE, .ka = 1, .host = "a" },
    /* a pipelined request or body after the head is not part of it */
    { IN("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), .want = 27,
      .ka = 1, .host = "a" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"), .want = 47,
      .body = WP_BODY_LENGTH, .cl = 5, .ka = 1, .host = "a" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\n"), .want = 0 },
    { IN(""), .want = 0 },

    /* framing attacks (RFC 9112 6.3, 11.2) */
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "both Content-Length and Transfer-Encoding" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "both Content-Length and Transfer-Encoding" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "duplicate Content-Length" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "invalid Content-Length" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "invalid Content-Length" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "invalid Content-Length" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "invalid Content-Length" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "invalid Content-Length" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "invalid Content-Length" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
      .want = WP_HTTP_E501, .why = "unsupported transfer coding" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
      .want = WP_HTTP_E501, .why = "unsupported transfer coding" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
      .want = WP_HTTP_E501, .why = "unsupported transfer coding" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"),
      .want = WP_HTTP_E501, .why = "unsupported transfer coding" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
         "Transfer-Encoding: chunked\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "two Transfer-Encoding headers" },
    { IN("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "Transfer-Encoding in HTTP/1.0" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "whitespace before colon" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "whitespace before colon" },
    { IN("POST / HTTP/1.1\r\nHost: a\r\nX: 1\r\n Transfer-Encoding: chunked\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "obs-fold in a header" },
    { IN("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "obs-fold in a header" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\tcontinued\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "obs-fold in a header" },

    /* line endings (RFC 9112 2.2) */
    { IN("GET / HTTP/1.1\nHost: a\n\n"), .want = WP_HTTP_E400, .why = "bare LF" },
    { IN("GET / HTTP/1.1\r\nHost: a\n\r\n"), .want = WP_HTTP_E400, .why = "bare LF" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\n\n"), .want = WP_HTTP_E400, .why = "bare LF" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "bare CR" },
    { IN("GET / HTTP/1.1\rHost: a\r\n\r\n"), .want = WP_HTTP_E400, .why = "bare CR" },
    { IN("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400, .why = "bare LF" },
    { IN("\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request line" },

    /* field names and values (RFC 9110 5.1, 5.5) */
    { IN("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid header name" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid header name" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid header name" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid header value" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01" "b\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid header value" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid header value" },

    /* Host (RFC 9112 3.2) */
    { IN("GET / HTTP/1.1\r\n\r\n"), .want = WP_HTTP_E400, .why = "missing Host" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "two Host headers" },
    { IN("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost:\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },
    { IN("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid Host" },

    /* request line (RFC 9112 3) */
    { IN("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E505,
      .why = "unsupported HTTP version" },
    { IN("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E505,
      .why = "unsupported HTTP version" },
    { IN("GET / HTTP/0.9\r\n\r\n"), .want = WP_HTTP_E505, .why = "unsupported HTTP version" },
    { IN("GET / http/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request line" },
    { IN("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request line" },
    { IN("GET / HTTP/11\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request line" },
    { IN("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request line" },
    { IN("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid method" },
    { IN(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request line" },
    { IN("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid method" },
    { IN("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), .want = WP_HTTP_E400,
      .why = "invalid method" },
    { IN("GET /\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid request line" },
    { IN("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },
    { IN("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },
    { IN("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },
    { IN("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },
    { IN("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },
    { IN("GET a.com:80 HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },
    { IN("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },
    { IN("GET /a\\..\\b HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },
    { IN("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "invalid request target" },

    /* limits: tiny = 64-byte head, 24-byte request line, 3 fields */
    { IN("GET /5678901234 HTTP/1.1\r\nHost: a\r\n\r\n"), .lim = &tiny, .want = WHOLE,
      .ka = 1, .host = "a" },          /* request line exactly 24 bytes */
    { IN("GET /56789012345 HTTP/1.1\r\nHost: a\r\n\r\n"), .lim = &tiny,
      .want = WP_HTTP_E414, .why = "request line too long" },
    { IN("GET /5678901234567890123"), .lim = &tiny, .want = 0 },
    { IN("GET /56789012345678901234"), .lim = &tiny, .want = WP_HTTP_E414,
      .why = "request line too long" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"), .lim = &tiny, .want = WHOLE,
      .ka = 1, .host = "a" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC"), .lim = &tiny,
      .want = WP_HTTP_E431, .why = "too many headers" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: 67890123456789012345678901234567\r\n\r\n"),
      .lim = &tiny, .want = WHOLE, .ka = 1, .host = "a" },     /* head exactly 64 bytes */
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: 678901234567890123456789012345678\r\n\r\n"),
      .lim = &tiny, .want = WP_HTTP_E431, .why = "header too large" },
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: 678901234567890123456789012345678901"),
      .lim = &tiny, .want = WP_HTTP_E431, .why = "header too large" },   /* 64 bytes, open */
    { IN("GET / HTTP/1.1\r\nHost: a\r\nX: 67890123456789012345678901234567890"),
      .lim = &tiny, .want = 0 },                                          /* 63 bytes */
};

/* Every pointer the parser returned lies inside the head. */
static void check_inside(const char *p, size_t len, const char *q, size_t qlen)
{
    CHECK(q != NULL);
    CHECK(q >= p && q + qlen <= p + len);
}

static void check_req(const struct req_case *c, size_t i)
{
    const uint8_t *p = (const uint8_t *)c->in;
    struct wp_http_req req;
    const char *why = NULL;
    int want = c->want == WHOLE ? (int)c->len : c->want;
    int rc, rk;
    unsigned j;
    size_t k;

    rc = wp_http_parse_request(p, c->len, c->lim, &req, &why);
    if (rc != want)
        FAIL("request case %zu: got %d, want %d (%s): %.60s", i, rc, want,
             why ? why : "-", c->in);
    if (rc < 0 && c->why && strcmp(why, c->why) != 0)
        FAIL("request case %zu: why \"%s\", want \"%s\"", i, why, c->why);
    /* A prefix is incomplete until the head is, then the head's length; an
     * error found before the end is found in the prefixes that hold it. */
    for (k = 0; k < c->len; k++) {
        rk = wp_http_parse_request(p, k, c->lim, &req, &why);
        if (rc > 0 ? rk != ((int)k >= rc ? rc : 0) : (rk != 0 && rk != rc))
            FAIL("request case %zu: prefix %zu gave %d (whole: %d)", i, k, rk, rc);
    }
    if (rc <= 0)
        return;
    rc = wp_http_parse_request(p, c->len, c->lim, &req, &why);
    CHECK_EQ(req.body, c->body);
    CHECK_EQ(req.content_length, c->cl);
    CHECK_EQ(req.keep_alive, c->ka);
    CHECK_EQ(req.minor, c->flags & F_MINOR0 ? 0 : 1);
    CHECK_EQ(req.websocket, !!(c->flags & F_WS));
    CHECK_EQ(req.expect_continue, !!(c->flags & F_EXPECT));
    CHECK_EQ(req.is_head, !!(c->flags & F_HEAD));
    CHECK_EQ(req.is_connect, !!(c->flags & F_CONNECT));
    if (c->host) {
        CHECK(req.host != NULL);
        CHECK_EQ(req.host_len, strlen(c->host));
        CHECK_MEM(req.host, c->host, req.host_len);
    } else {
        CHECK(req.host == NULL);
    }
    check_inside(c->in, (size_t)rc, req.method, req.method_len);
    check_inside(c->in, (size_t)rc, req.target, req.target_len);
    for (j = 0; j < req.nfield; j++) {
        check_inside(c->in, (size_t)rc, req.field[j].name, req.field[j].name_len);
        check_inside(c->in, (size_t)rc, req.field[j].value, req.field[j].value_len);
        CHECK(req.field[j].name_len > 0);
        if (req.field[j].value_len)     /* OWS trimmed */
            CHECK(req.field[j].value[0] != ' ' && req.field[j].value[0] != '\t' &&
                  req.field[j].value[req.field[j].value_len - 1] != ' ' &&
                  req.field[j].value[req.field[j].value_len - 1] != '\t');
    }
}

TEST(http_request_cases)
{
    size_t i;

    CHECK(sizeof(req_cases) / sizeof(req_cases[0]) >= 40);
    for (i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++)
        check_req(&req_cases[i], i);
}

TEST(http_request_fields)
{
    static const char in[] = "POST /up?x=1 HTTP/1.1\r\nHost: a.example:8443\r\n"
                             "X-A:b\r\nX-Empty: \t\r\nContent-Length: 12\r\n\r\n";
    struct wp_http_req req;
    const char *why = NULL;
    int rc;

    rc = wp_http_parse_request((const uint8_t *)in, sizeof(in) - 1, NULL, &req, &why);
    CHECK_EQ(rc, sizeof(in) - 1);
    CHECK_EQ(req.method_len, 4);
    CHECK_MEM(req.method, "POST", 4);
    CHECK_EQ(req.target_len, 7);
    CHECK_MEM(req.target, "/up?x=1", 7);
    CHECK_EQ(req.nfield, 4);
    CHECK(wp_http_name_is(&req.field[0], "host"));
    CHECK(wp_http_name_is(&req.field[1], "X-A"));
    CHECK(!wp_http_name_is(&req.field[1], "X-AB"));
    CHECK(!wp_http_name_is(&req.field[1], "X-"));
    CHECK_EQ(req.field[1].value_len, 1);
    CHECK_MEM(req.field[1].value, "b", 1);
    CHECK_EQ(req.field[2].value_len, 0);
    CHECK(wp_http_name_is(&req.field[3], "CONTENT-LENGTH"));
    CHECK_EQ(req.content_length, 12);
}

TEST(http_request_limits)
{
    static const char big[] = "GET / HTTP/1.1\r\nHost: a\r\n";
    struct wp_http_limits lim;
    struct wp_http_req req;
    const char *why = NULL;
    char buf[20000];
    size_t n;
    unsigned i;

    wp_http_limits_default(&lim);
    CHECK_EQ(lim.max_head, 16384);
    CHECK_EQ(lim.max_line, 8192);
    CHECK_EQ(lim.max_headers, 100);

    /* 100 fields pass, the 101st is 431; max_headers is capped at 100 */
    memcpy(buf, big, sizeof(big) - 1);
    n = sizeof(big) - 1;
    for (i = 1; i < 100; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%u: v\r\n", i);
    memcpy(buf + n, "\r\n", 2);
    CHECK_EQ(wp_http_parse_request((uint8_t *)buf, n + 2, NULL, &req, &why), n + 2);
    CHECK_EQ(req.nfield, 100);
    memcpy(buf + n, "Y: v\r\n\r\n", 8);
    lim.max_headers = 1000;
    CHECK_EQ(wp_http_parse_request((uint8_t *)buf, n + 8, &lim, &req, &why), WP_HTTP_E431);
    CHECK_STR(why, "too many headers");

    /* a 16 KB head with no end: 431 at 16384 bytes, 0 just below */
    memcpy(buf, big, sizeof(big) - 1);
    memcpy(buf + sizeof(big) - 1, "X: ", 3);
    memset(buf + sizeof(big) + 2, 'v', sizeof(buf) - sizeof(big) - 2);
    CHECK_EQ(wp_http_parse_request((uint8_t *)buf, 16383, NULL, &req, &why), 0);
    CHECK_EQ(wp_http_parse_request((uint8_t *)buf, 16384, NULL, &req, &why), WP_HTTP_E431);
    CHECK_EQ(wp_http_parse_request((uint8_t *)buf, sizeof(buf), NULL, &req, &why),
             WP_HTTP_E431);
    CHECK_STR(why, "header too large");

    /* an 8 KB request line: 414 past 8192 bytes */
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', sizeof(buf) - 5);
    CHECK_EQ(wp_http_parse_request((uint8_t *)buf, 8192, NULL, &req, &why), 0);
    CHECK_EQ(wp_http_parse_request((uint8_t *)buf, 8193, NULL, &req, &why), WP_HTTP_E414);
    CHECK_STR(why, "request line too long");
}

TEST(http_request_pipelined)
{
    static const char in[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                             "POST /2 HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc"
                             "\r\nGET /3 HTTP/1.0\r\n\r\n";
    const uint8_t *p = (const uint8_t *)in;
    size_t n = sizeof(in) - 1;
    struct wp_http_req req;
    const char *why = NULL;
    int rc;

    rc = wp_http_parse_request(p, n, NULL, &req, &why);
    CHECK_EQ(rc, 28);
    CHECK_MEM(req.target, "/1", 2);
    p += rc, n -= (size_t)rc;
    rc = wp_http_parse_request(p, n, NULL, &req, &why);
    CHECK_EQ(rc, 48);
    CHECK_MEM(req.target, "/2", 2);
    CHECK_MEM(req.host, "b", 1);
    CHECK_EQ(req.body, WP_BODY_LENGTH);
    p += rc + req.content_length, n -= (size_t)rc + req.content_length;
    /* the stray CRLF before the third request is skipped and counted */
    rc = wp_http_parse_request(p, n, NULL, &req, &why);
    CHECK_EQ(rc, (int)n);
    CHECK_MEM(req.target, "/3", 2);
    CHECK_EQ(req.minor, 0);
}

TEST(http_tokens)
{
    CHECK(wp_http_has_token("close", 5, "close"));
    CHECK(wp_http_has_token("Keep-Alive, CLOSE", 17, "close"));
    CHECK(wp_http_has_token(" ,\t, upgrade \t,", 15, "Upgrade"));
    CHECK(!wp_http_has_token("closed, x", 9, "close"));
    CHECK(!wp_http_has_token("clo se", 6, "close"));
    CHECK(!wp_http_has_token("", 0, "close"));
    CHECK(!wp_http_has_token(", ,", 3, "close"));
    CHECK(wp_http_has_token("a,b,c", 5, "c"));
    CHECK(!wp_http_has_token("a,b,c", 4, "c"));     /* n is respected */
    CHECK(wp_http_has_token("a ,  b", 6, "a"));
    CHECK_STR(wp_http_reason(200), "OK");
    CHECK_STR(wp_http_reason(400), "Bad Request");
    CHECK_STR(wp_http_reason(431), "Request Header Fields Too Large");
    CHECK_STR(wp_http_reason(502), "Bad Gateway");
    CHECK_STR(wp_http_reason(505), "HTTP Version Not Supported");
    CHECK(wp_http_reason(799) != NULL);
}

/* --- responses -------------------------------------------------------------- */

struct resp_case {
    const char *in;
    size_t len;
    int head;                   /* the request was HEAD */
    int want;
    const char *why;
    int status;
    enum wp_http_body body;
    uint64_t cl;
    int ka;
    int flags;
};

static const struct resp_case resp_cases[] = {
    { IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), .want = WHOLE, .status = 200,
      .body = WP_BODY_LENGTH, .cl = 5, .ka = 1 },
    { IN("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), .want = 38, .status = 200,
      .body = WP_BODY_LENGTH, .cl = 5, .ka = 1 },
    { IN("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), .head = 1, .want = WHOLE,
      .status = 200, .body = WP_BODY_NONE, .cl = 100, .ka = 1 },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), .head = 1, .want = WHOLE,
      .status = 200, .body = WP_BODY_NONE, .ka = 1 },
    { IN("HTTP/1.1 204 No Content\r\n\r\n"), .want = WHOLE, .status = 204, .ka = 1 },
    { IN("HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n"), .want = WHOLE,
      .status = 304, .cl = 42, .ka = 1 },
    { IN("HTTP/1.1 100 Continue\r\n\r\n"), .want = WHOLE, .status = 100, .ka = 1 },
    { IN("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"), .want = WHOLE,
      .status = 103, .ka = 1 },
    { IN("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
      .want = WHOLE, .status = 101, .ka = 1 },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), .want = WHOLE,
      .status = 200, .body = WP_BODY_CHUNKED, .ka = 1 },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"), .want = WHOLE,
      .status = 200, .body = WP_BODY_CHUNKED, .ka = 1 },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), .want = WHOLE,
      .status = 200, .body = WP_BODY_CLOSE },
    { IN("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
      .want = WHOLE, .status = 200, .body = WP_BODY_CHUNKED, .cl = 3, .flags = F_STRIP },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
      .want = WHOLE, .status = 200, .body = WP_BODY_CHUNKED, .cl = 3, .flags = F_STRIP },
    { IN("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"), .want = WHOLE, .status = 200,
      .body = WP_BODY_CLOSE },
    { IN("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n"), .want = WHOLE,
      .status = 200, .body = WP_BODY_LENGTH, .cl = 1 },
    { IN("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"), .want = WHOLE, .status = 200,
      .body = WP_BODY_LENGTH, .cl = 1, .flags = F_MINOR0 },
    { IN("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n"),
      .want = WHOLE, .status = 200, .body = WP_BODY_LENGTH, .cl = 1, .ka = 1,
      .flags = F_MINOR0 },
    { IN("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"), .want = WHOLE, .status = 404,
      .body = WP_BODY_LENGTH, .ka = 1 },
    { IN("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"), .want = WHOLE, .status = 404,
      .body = WP_BODY_LENGTH, .ka = 1 },
    { IN("HTTP/1.1 599 Odd \t reason \xe9\r\nContent-Length: 0\r\n\r\n"), .want = WHOLE,
      .status = 599, .body = WP_BODY_LENGTH, .ka = 1 },
    { IN("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"), .want = 0 },
    { IN("HTTP/1.1 099 Low\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid status code" },
    { IN("HTTP/1.1 600 High\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid status code" },
    { IN("HTTP/1.1 2000 OK\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid status line" },
    { IN("HTTP/1.1 20 OK\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid status line" },
    { IN("HTTP/1.1  200 OK\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid status line" },
    { IN("HTTP/2.0 200 OK\r\n\r\n"), .want = WP_HTTP_E505, .why = "unsupported HTTP version" },
    { IN("ICY 200 OK\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid status line" },
    { IN("\r\nHTTP/1.1 200 OK\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid status line" },
    { IN("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "bare LF" },
    { IN("HTTP/1.1 200 O\x01K\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid reason phrase" },
    { IN("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "duplicate Content-Length" },
    { IN("HTTP/1.1 200 OK\r\nContent-Length: 1 \r\nX : y\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "whitespace before colon" },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "chunked applied twice" },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "chunked is not the final coding" },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: , \r\n\r\n"), .want = WP_HTTP_E400,
      .why = "empty Transfer-Encoding" },
    { IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
      .want = WP_HTTP_E400, .why = "two Transfer-Encoding headers" },
    { IN("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "Transfer-Encoding in HTTP/1.0" },
    { IN("HTTP/1.1 200 OK\r\nX: 1\r\n folded\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "obs-fold in a header" },
};

TEST(http_response_cases)
{
    const struct resp_case *c;
    struct wp_http_resp resp;
    const char *why = NULL;
    int rc, rk, want;
    size_t i, k;
    unsigned j;

    for (i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]); i++) {
        c = &resp_cases[i];
        want = c->want == WHOLE ? (int)c->len : c->want;
        rc = wp_http_parse_response((const uint8_t *)c->in, c->len, NULL, c->head, &resp, &why);
        if (rc != want)
            FAIL("response case %zu: got %d, want %d (%s): %.60s", i, rc, want,
                 why ? why : "-", c->in);
        if (rc < 0 && c->why && strcmp(why, c->why) != 0)
            FAIL("response case %zu: why \"%s\", want \"%s\"", i, why, c->why);
        if (rc > 0) {
            CHECK_EQ(resp.status, c->status);
            CHECK_EQ(resp.body, c->body);
            CHECK_EQ(resp.content_length, c->cl);
            CHECK_EQ(resp.keep_alive, c->ka);
            CHECK_EQ(resp.minor, c->flags & F_MINOR0 ? 0 : 1);
            CHECK_EQ(resp.strip_content_length, !!(c->flags & F_STRIP));
            for (j = 0; j < resp.nfield; j++) {
                check_inside(c->in, (size_t)rc, resp.field[j].name, resp.field[j].name_len);
                check_inside(c->in, (size_t)rc, resp.field[j].value, resp.field[j].value_len);
            }
        }
        for (k = 0; k < c->len; k++) {
            rk = wp_http_parse_response((const uint8_t *)c->in, k, NULL, c->head, &resp, &why);
            if (rc > 0 ? rk != ((int)k >= rc ? rc : 0) : (rk != 0 && rk != rc))
                FAIL("response case %zu: prefix %zu gave %d (whole: %d)", i, k, rk, rc);
        }
    }
}

/* --- chunked bodies --------------------------------------------------------- */

struct chunk_case {
    const char *in;
    size_t len;
    long want;                  /* WHOLE, a body length, or WP_HTTP_E400 */
    int done;
    const char *why;
};

static const struct chunk_case chunk_cases[] = {
    { IN("5\r\nhello\r\n0\r\n\r\n"), .want = WHOLE, .done = 1 },
    { IN("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), .want = 26, .done = 1 },
    { IN("0\r\n\r\n"), .want = WHOLE, .done = 1 },
    { IN("000\r\n\r\n"), .want = WHOLE, .done = 1 },
    { IN("A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"), .want = WHOLE, .done = 1 },
    { IN("0005\r\nhello\r\n0\r\n\r\n"), .want = WHOLE, .done = 1 },
    { IN("5;name=value;flag\r\nhello\r\n0;last=\"a \\\"q\\\" b\"\r\n\r\n"), .want = WHOLE,
      .done = 1 },
    { IN("5 ; a = b ;c\r\nhello\r\n0\t;x=\"\"\r\n\r\n"), .want = WHOLE, .done = 1 },
    { IN("3\r\nabc\r\n0\r\nX-Sum: 1\r\nY:\r\nZ:  z z \r\n\r\n"), .want = WHOLE, .done = 1 },
    { IN("5\r\nhel"), .want = WHOLE, .done = 0 },
    { IN("5\r\nhello\r\n0\r\nX: 1\r\n"), .want = WHOLE, .done = 0 },
    { IN("4000000000000000\r\nab"), .want = WHOLE, .done = 0 },       /* 2^62 */
    { IN(""), .want = WHOLE, .done = 0 },
    { IN("g\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk size" },
    { IN("\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk size" },
    { IN("-5\r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk size" },
    { IN(" 5\r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk size" },
    { IN("0x5\r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk extension" },
    { IN("5\nhello\r\n0\r\n\r\n"), .want = WP_HTTP_E400, .why = "bare LF in chunked body" },
    { IN("5\rhello\r\n0\r\n\r\n"), .want = WP_HTTP_E400, .why = "bare CR in chunked body" },
    { IN("5\r\nhelloX\r\n0\r\n\r\n"), .want = WP_HTTP_E400,
      .why = "missing CRLF after chunk data" },
    { IN("5\r\nhello\n0\r\n\r\n"), .want = WP_HTTP_E400, .why = "missing CRLF after chunk data" },
    { IN("5\r\nhello\r0\r\n\r\n"), .want = WP_HTTP_E400, .why = "missing CRLF after chunk data" },
    { IN("4000000000000001\r\n"), .want = WP_HTTP_E400, .why = "chunk size too large" },
    { IN("10000000000000000\r\n"), .want = WP_HTTP_E400, .why = "chunk size too large" },
    { IN("5 \r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk extension" },
    { IN("5;\r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk extension" },
    { IN("5;a=\r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk extension" },
    { IN("5;a \r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk extension" },
    { IN("5;a=\"x\r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk extension" },
    { IN("5;a=\"x\"y\r\nhello\r\n"), .want = WP_HTTP_E400, .why = "invalid chunk extension" },
    { IN("5;a=b\nhello\r\n"), .want = WP_HTTP_E400, .why = "bare LF in chunked body" },
    { IN("0\r\nX: a\r\n b\r\n\r\n"), .want = WP_HTTP_E400, .why = "obs-fold in a trailer" },
    { IN("0\r\nNoColon\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid trailer field" },
    { IN("0\r\nX : 1\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid trailer field" },
    { IN("0\r\nX: a\0\r\n\r\n"), .want = WP_HTTP_E400, .why = "invalid trailer field" },
    { IN("0\r\nX: 1\n\r\n"), .want = WP_HTTP_E400, .why = "invalid trailer field" },
    { IN("0\r\nX: 1\r\r\n"), .want = WP_HTTP_E400, .why = "bare CR in chunked body" },
    { IN("0\r\n\rX"), .want = WP_HTTP_E400, .why = "bare CR in chunked body" },
};

/* Feeds in pieces of `step` bytes (0: all at once); returns the bytes taken
 * or the first error. */
static long feed_split(const struct chunk_case *c, size_t step, int *done, const char **why)
{
    struct wp_chunked ck;
    size_t off = 0, n;
    long total = 0, rc;

    wp_chunked_init(&ck);
    *done = 0;
    do {
        n = step && c->len - off > step ? step : c->len - off;
        rc = wp_chunked_feed(&ck, (const uint8_t *)c->in + off, n, done, why);
        if (rc < 0)
            return rc;
        if ((size_t)rc > n || (rc < (long)n && !*done))
            FAIL("chunked: took %ld of %zu without ending", rc, n);
        total += rc;
        off += n;
    } while (off < c->len);
    return total;
}

TEST(http_chunked_cases)
{
    static const size_t steps[] = { 0, 1, 2, 3, 7, 13 };
    const struct chunk_case *c;
    const char *why;
    size_t i, s;
    long rc, want;
    int done;

    for (i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]); i++) {
        c = &chunk_cases[i];
        want = c->want == WHOLE ? (long)c->len : c->want;
        for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            why = NULL;
            rc = feed_split(c, steps[s], &done, &why);
            if (rc != want || (rc >= 0 && done != c->done))
                FAIL("chunked case %zu step %zu: got %ld done %d, want %ld done %d (%s)", i,
                     steps[s], rc, done, want, c->done, why ? why : "-");
            if (rc < 0 && strcmp(why, c->why) != 0)
                FAIL("chunked case %zu: why \"%s\", want \"%s\"", i, why, c->why);
        }
    }
}

TEST(http_chunked_state)
{
    static const char body[] = "3\r\nabc\r\n0\r\n\r\n";
    struct wp_chunked ck;
    const char *why = NULL;
    char line[5000];
    int done = 0;
    unsigned i;

    /* once ended, nothing more belongs to the body */
    wp_chunked_init(&ck);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)body, sizeof(body) - 1, &done, &why),
             sizeof(body) - 1);
    CHECK_EQ(done, 1);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"GET", 3, &done, &why), 0);
    CHECK_EQ(done, 1);
    /* once failed, it stays failed */
    wp_chunked_init(&ck);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"z", 1, &done, &why), WP_HTTP_E400);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)body, sizeof(body) - 1, &done, &why),
             WP_HTTP_E400);
    CHECK_EQ(done, 0);

    /* size line: 4096 bytes pass, 4097 fail */
    memset(line, '0', sizeof(line));
    wp_chunked_init(&ck);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)line, 4095, &done, &why), 4095);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"1\r\nx\r\n", 6, &done, &why), 6);
    wp_chunked_init(&ck);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)line, 4097, &done, &why), WP_HTTP_E400);
    CHECK_STR(why, "chunk size line too long");
    wp_chunked_init(&ck);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"1;", 2, &done, &why), 2);
    memset(line, 'e', sizeof(line));
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)line, 4094, &done, &why), 4094);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"e", 1, &done, &why), WP_HTTP_E400);

    /* trailers: 16384 bytes pass, more fail */
    wp_chunked_init(&ck);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"0\r\n", 3, &done, &why), 3);
    for (i = 0; i < 16384 / 8; i++)
        CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"X:2345\r\n", 8, &done, &why), 8);
    CHECK_EQ(ck.trailer_bytes, 16384);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"\r\n", 2, &done, &why), 2);
    CHECK_EQ(done, 1);
    wp_chunked_init(&ck);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"0\r\n", 3, &done, &why), 3);
    for (i = 0; i < 16384 / 8; i++)
        CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"X:2345\r\n", 8, &done, &why), 8);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"X", 1, &done, &why), WP_HTTP_E400);
    CHECK_STR(why, "trailers too large");

    /* a large chunk is skipped in one step, not byte by byte */
    wp_chunked_init(&ck);
    CHECK_EQ(wp_chunked_feed(&ck, (const uint8_t *)"3FFFFFFFFFFFFFFF\r\n", 18, &done, &why), 18);
    CHECK_EQ(ck.left, 0x3FFFFFFFFFFFFFFFull);
}

/* A request head and its chunked body, as the proxy walks them. */
TEST(http_request_then_chunked)
{
    static const char in[] = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "4;x=y\r\nWiki\r\n0\r\nExpires: never\r\n\r\n"
                             "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
    const uint8_t *p = (const uint8_t *)in;
    size_t n = sizeof(in) - 1;
    struct wp_http_req req;
    struct wp_chunked ck;
    const char *why = NULL;
    long body;
    int rc, done = 0;

    rc = wp_http_parse_request(p, n, NULL, &req, &why);
    CHECK(rc > 0);
    CHECK_EQ(req.body, WP_BODY_CHUNKED);
    wp_chunked_init(&ck);
    body = wp_chunked_feed(&ck, p + rc, n - (size_t)rc, &done, &why);
    CHECK_EQ(done, 1);
    CHECK_EQ(body, 34);
    rc += (int)body;
    CHECK_EQ(wp_http_parse_request(p + rc, n - (size_t)rc, NULL, &req, &why), n - (size_t)rc);
    CHECK_MEM(req.target, "/next", 5);
}
