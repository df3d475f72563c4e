/* fuzz_http.c - libFuzzer harness for the HTTP/1.1 head parsers and the chunked framer (webproxy/http.c). */
#include "webproxy/http.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct wp_http_limits tight = { 64, 24, 3 };

static void check(int ok)
{
    if (!ok)
        __builtin_trap();
}

static int known(int rc)
{
    return rc >= 0 || rc == WP_HTTP_E400 || rc == WP_HTTP_E414 || rc == WP_HTTP_E431 ||
           rc == WP_HTTP_E501 || rc == WP_HTTP_E505;
}

/* q[0..n) lies inside the head data[0..len). */
static void inside(const uint8_t *data, int len, const char *q, size_t n)
{
    const uint8_t *u = (const uint8_t *)q;

    check(u != NULL && u >= data && n <= (size_t)len && (size_t)(u - data) <= (size_t)len - n);
}

static void fields(const uint8_t *data, int len, const struct wp_http_field *f, unsigned nf,
                   unsigned max)
{
    unsigned i;

    check(nf <= max);
    for (i = 0; i < nf; i++) {
        inside(data, len, f[i].name, f[i].name_len);
        inside(data, len, f[i].value, f[i].value_len);
        check(f[i].name_len > 0);
    }
}

/* A complete head parses the same at its own length; every shorter prefix
 * is incomplete. An error is found again in any prefix that holds it. */
static void request(const uint8_t *data, size_t size, const struct wp_http_limits *lim)
{
    static struct wp_http_req req;
    const char *why = NULL;
    int rc, rk;

    rc = wp_http_parse_request(data, size, lim, &req, &why);
    check(known(rc) && (rc <= 0 || (size_t)rc <= size) && (rc >= 0 || why != NULL));
    check(rc != 0 || size < lim->max_head);
    rk = wp_http_parse_request(data, size / 2, lim, &req, &why);
    check(rc > 0 ? rk == ((size_t)rc <= size / 2 ? rc : 0) : (rk == 0 || rk == rc));
    if (rc <= 0)
        return;
    check(wp_http_parse_request(data, (size_t)rc - 1, lim, &req, &why) == 0);
    check(wp_http_parse_request(data, (size_t)rc, lim, &req, &why) == rc);
    check((size_t)rc <= lim->max_head);
    inside(data, rc, req.method, req.method_len);
    inside(data, rc, req.target, req.target_len);
    check(req.method_len > 0 && req.target_len > 0);
    check(req.minor == 0 || req.minor == 1);
    check(req.host != NULL || req.minor == 0);
    if (req.host)
        inside(data, rc, req.host, req.host_len);
    fields(data, rc, req.field, req.nfield, lim->max_headers);
    check(req.body == WP_BODY_NONE || req.body == WP_BODY_LENGTH || req.body == WP_BODY_CHUNKED);
    check(req.body == WP_BODY_LENGTH || req.content_length == 0);
    check(req.content_length < UINT64_C(1000000000000000000));
}

static void response(const uint8_t *data, size_t size, const struct wp_http_limits *lim,
                     int head)
{
    static struct wp_http_resp resp;
    const char *why = NULL;
    int rc;

    rc = wp_http_parse_response(data, size, lim, head, &resp, &why);
    check(known(rc) && (rc <= 0 || (size_t)rc <= size) && (rc >= 0 || why != NULL));
    check(rc != 0 || size < lim->max_head);
    if (rc <= 0)
        return;
    check(wp_http_parse_response(data, (size_t)rc - 1, lim, head, &resp, &why) == 0);
    check(wp_http_parse_response(data, (size_t)rc, lim, head, &resp, &why) == rc);
    check(resp.status >= 100 && resp.status <= 599);
    check(resp.minor == 0 || resp.minor == 1);
    fields(data, rc, resp.field, resp.nfield, lim->max_headers);
    check(!head || resp.body == WP_BODY_NONE);
    check(resp.body != WP_BODY_CLOSE || !resp.keep_alive);
}

/* Feeds in pieces of step bytes (0: all at once): the bytes taken, or the error. */
static long chunked(const uint8_t *data, size_t size, size_t step, int *done)
{
    struct wp_chunked ck;
    const char *why = NULL;
    size_t off = 0, n;
    long total = 0, rc;

    wp_chunked_init(&ck);
    *done = 0;
    do {
        n = step && size - off > step ? step : size - off;
        rc = wp_chunked_feed(&ck, data + off, n, done, &why);
        if (rc < 0) {
            check(rc == WP_HTTP_E400 && why != NULL && !*done);
            return rc;
        }
        check((size_t)rc <= n && ((size_t)rc == n || *done));
        total += rc;
        off += n;
    } while (off < size);
    return total;
}

static void chunked_all(const uint8_t *data, size_t size)
{
    long whole, bytes, odd;
    int d1, d2, d3;

    whole = chunked(data, size, 0, &d1);
    bytes = chunked(data, size, 1, &d2);
    odd = chunked(data, size, size / 3 + 1, &d3);
    check(whole == bytes && whole == odd);
    check(whole < 0 || (d1 == d2 && d1 == d3));
    check(whole < 0 || (size_t)whole <= size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct wp_http_req req;
    struct wp_http_limits def;
    const char *why = NULL;
    int rc;

    wp_http_limits_default(&def);
    request(data, size, &def);
    request(data, size, &tight);
    response(data, size, &def, 0);
    response(data, size, &tight, 1);
    chunked_all(data, size);
    /* a request and the chunked body after it, as the proxy reads them */
    rc = wp_http_parse_request(data, size, &def, &req, &why);
    if (rc > 0 && req.body == WP_BODY_CHUNKED)
        chunked_all(data + rc, size - (size_t)rc);
    (void)wp_http_has_token((const char *)data, size, "close");
    check(wp_http_reason((int)size) != NULL);
    return 0;
}
