/* test_mux.c - the tunnel link engine (common/mux.c): two ends joined in
 * memory, streams opened, carried, ended and reset, flow control, and every
 * rule a peer can break. */
#include "test.h"

#include "common/mux.h"

#include <stdint.h>

/* What one end saw, per stream (ids are small in these tests). */
struct seen {
    uint8_t data[8][1 << 21];
    size_t len[8];
    int fin[8], reset[8], writable[8], opened[8];
    uint32_t code[8];
    int refuse;                 /* on_open answers this */
    uint32_t woken[16];         /* on_writable's streams, in order */
    int nwoken;
    int consume;                /* give credit back at once */
    int release_on_reset;
    int outputs;
};

static struct seen *seen_of(struct cw_mux_stream *s)
{
    return cw_mux_stream_data(s);
}

static int on_open(struct cw_mux_stream *s, void *arg)
{
    struct seen *w = arg;

    w->opened[cw_mux_stream_id(s) % 8]++;
    cw_mux_stream_set_data(s, w);
    return w->refuse;
}

static void on_data(struct cw_mux_stream *s, const uint8_t *p, size_t n)
{
    struct seen *w = seen_of(s);
    unsigned i = cw_mux_stream_id(s) % 8;

    CHECK(w->len[i] + n <= sizeof(w->data[i]));
    memcpy(w->data[i] + w->len[i], p, n);
    w->len[i] += n;
    if (w->consume)
        cw_mux_consumed(s, n);
}

static void on_fin(struct cw_mux_stream *s)
{
    seen_of(s)->fin[cw_mux_stream_id(s) % 8]++;
}

static void on_reset(struct cw_mux_stream *s, uint32_t code)
{
    struct seen *w = seen_of(s);

    w->reset[cw_mux_stream_id(s) % 8]++;
    w->code[cw_mux_stream_id(s) % 8] = code;
    if (w->release_on_reset)
        cw_mux_release(s, 0);
}

static void on_writable(struct cw_mux_stream *s)
{
    struct seen *w = seen_of(s);

    w->writable[cw_mux_stream_id(s) % 8]++;
    if (w->nwoken < 16)
        w->woken[w->nwoken++] = cw_mux_stream_id(s);
}

static void on_output(struct cw_mux *m, void *arg)
{
    (void)m;
    ((struct seen *)arg)->outputs++;
}

static const struct cw_mux_cbs cbs = {
    .on_open = on_open, .on_data = on_data, .on_fin = on_fin, .on_reset = on_reset,
    .on_writable = on_writable, .on_output = on_output,
};

/* Moves everything from's output to to, in pieces of step bytes (0: all at
 * once). Returns to's feed result. */
static int carry(struct cw_mux *from, struct cw_mux *to, size_t step)
{
    const uint8_t *p;
    size_t n, k;
    int rc = 0;

    while ((p = cw_mux_out(from, &n)) != NULL) {
        k = step && step < n ? step : n;
        rc = cw_mux_feed(to, p, k);
        cw_mux_out_done(from, k);
        if (rc < 0)
            return rc;
    }
    return rc;
}

static struct seen *new_seen(void)
{
    struct seen *w = calloc(1, sizeof(*w));

    CHECK(w != NULL);
    w->consume = 1;
    return w;
}

/* The acceptor's streams, found by id through on_open's record. */
static struct cw_mux_stream *accepted[16];
static int on_open_keep(struct cw_mux_stream *s, void *arg)
{
    accepted[cw_mux_stream_id(s) % 16] = s;
    return on_open(s, arg);
}

static const struct cw_mux_cbs cbs_keep = {
    .on_open = on_open_keep, .on_data = on_data, .on_fin = on_fin, .on_reset = on_reset,
    .on_writable = on_writable, .on_output = on_output,
};

/* Two ends: a opens streams, b (which keeps them in accepted[]) takes them. */
struct pair {
    struct seen *ea, *eb;
    struct cw_mux *a, *b;
};

static void pair_open(struct pair *p)
{
    p->ea = new_seen();
    p->eb = new_seen();
    p->a = cw_mux_create(1, &cbs, p->ea);
    p->b = cw_mux_create(0, &cbs_keep, p->eb);
    CHECK(p->a && p->b);
    memset(accepted, 0, sizeof(accepted));
}

static void pair_close(struct pair *p)
{
    cw_mux_destroy(p->a);
    cw_mux_destroy(p->b);
    free(p->ea);
    free(p->eb);
    cw_test_done();
}

TEST(mux_streams_both_ways)
{
    struct pair p;
    struct cw_mux_stream *s1, *s2;

    pair_open(&p);
    CHECK(cw_mux_streams(p.a) == 0);
    CHECK(!cw_mux_ready(p.a) && !cw_mux_ready(p.b));
    s1 = cw_mux_open(p.a, p.ea);
    s2 = cw_mux_open(p.a, p.ea);
    CHECK(s1 && s2 && cw_mux_stream_id(s1) == 1 && cw_mux_stream_id(s2) == 2);
    CHECK_EQ(cw_mux_send(s1, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    CHECK_EQ(cw_mux_send(s2, "second", 6), 6);
    cw_mux_fin(s2);
    CHECK_EQ(carry(p.a, p.b, 0), 0);
    CHECK_EQ(carry(p.b, p.a, 0), 0);
    CHECK(cw_mux_ready(p.a) && cw_mux_ready(p.b));
    CHECK_EQ(p.eb->opened[1], 1);
    CHECK_EQ(p.eb->opened[2], 1);
    CHECK_EQ(p.eb->len[1], 18);
    CHECK_MEM(p.eb->data[1], "GET / HTTP/1.1\r\n\r\n", 18);
    CHECK_EQ(p.eb->len[2], 6);
    CHECK_EQ(p.eb->fin[2], 1);
    CHECK_EQ(p.eb->fin[1], 0);
    CHECK_EQ(cw_mux_streams(p.b), 2);
    CHECK_EQ(p.ea->outputs, 0);       /* the preface made the output non-empty from the start */
    CHECK_EQ(cw_mux_send(s1, "x", 1), 1);
    CHECK_EQ(p.ea->outputs, 1);       /* empty again, then not: the owner is told to send */
    pair_close(&p);
}

/* What on_open saw of each stream's service (by id). */
static unsigned svc_seen[16];
static int on_open_svc(struct cw_mux_stream *s, void *arg)
{
    unsigned svc = cw_mux_stream_service(s);

    svc_seen[cw_mux_stream_id(s) % 16] = svc + 100;
    accepted[cw_mux_stream_id(s) % 16] = s;
    on_open(s, arg);
    /* As the core does: a service it does not know is refused. */
    return svc == CW_MUX_SVC_WEB || svc == CW_MUX_SVC_XMPP ? 0 : CW_MUX_RST_CONNECT;
}

static const struct cw_mux_cbs cbs_svc = {
    .on_open = on_open_svc, .on_data = on_data, .on_fin = on_fin, .on_reset = on_reset,
    .on_writable = on_writable, .on_output = on_output,
};

/* OPEN carries a service byte; web streams keep the OPEN of length 0 that
 * an older core understands; an unknown service is refused by the
 * acceptor, not a protocol error. */
TEST(mux_services)
{
    struct seen *ea = new_seen(), *eb = new_seen();
    struct cw_mux *a = cw_mux_create(1, &cbs, ea), *b = cw_mux_create(0, &cbs_svc, eb);
    struct cw_mux_stream *s1, *s2, *s3, *s4;
    const uint8_t *p;
    size_t n;

    memset(accepted, 0, sizeof(accepted));
    memset(svc_seen, 0, sizeof(svc_seen));
    ea->release_on_reset = 1;
    CHECK(a && b);
    CHECK(cw_mux_open_service(a, 256, ea) == NULL);
    CHECK(cw_mux_open_service(b, CW_MUX_SVC_XMPP, eb) == NULL);    /* the acceptor opens none */
    /* The bytes on the wire: after the preface, OPEN 1 with no payload. */
    cw_mux_out_done(a, CW_MUX_PREFACE_LEN);
    s1 = cw_mux_open(a, ea);
    CHECK(s1 && cw_mux_stream_service(s1) == CW_MUX_SVC_WEB);
    p = cw_mux_out(a, &n);
    CHECK_EQ(n, 8);
    CHECK_MEM(p, ((const uint8_t[]){ CW_MUX_OPEN, 0, 0, 0, 1, 0, 0, 0 }), 8);
    s2 = cw_mux_open_service(a, CW_MUX_SVC_XMPP, ea);
    CHECK(s2 && cw_mux_stream_service(s2) == CW_MUX_SVC_XMPP);
    p = cw_mux_out(a, &n);
    CHECK_EQ(n, 17);
    CHECK_MEM(p + 8, ((const uint8_t[]){ CW_MUX_OPEN, 0, 0, 0, 2, 0, 0, 1, CW_MUX_SVC_XMPP }), 9);
    s3 = cw_mux_open_service(a, CW_MUX_SVC_WEB, ea);
    CHECK(s3 && cw_mux_stream_service(s3) == CW_MUX_SVC_WEB);
    p = cw_mux_out(a, &n);
    CHECK_EQ(n, 25);
    CHECK_EQ(p[24], 0);     /* length 0 again */
    s4 = cw_mux_open_service(a, 77, ea);
    CHECK(s4 != NULL);
    CHECK_EQ(cw_mux_send(s2, "<stream>", 8), 8);
    /* Byte by byte: the service byte may arrive on its own. */
    CHECK_EQ(cw_mux_feed(b, (const uint8_t *)CW_MUX_PREFACE, CW_MUX_PREFACE_LEN), 0);
    CHECK_EQ(carry(a, b, 1), 0);
    CHECK_EQ(svc_seen[1], 100 + CW_MUX_SVC_WEB);
    CHECK_EQ(svc_seen[2], 100 + CW_MUX_SVC_XMPP);
    CHECK_EQ(svc_seen[3], 100 + CW_MUX_SVC_WEB);
    CHECK_EQ(svc_seen[4], 100 + 77);
    CHECK(accepted[2] && cw_mux_stream_service(accepted[2]) == CW_MUX_SVC_XMPP);
    CHECK_EQ(eb->len[2], 8);
    CHECK_EQ(cw_mux_streams(b), 3);        /* the unknown service was refused */
    CHECK_EQ(carry(b, a, 0), 0);
    CHECK_EQ(ea->reset[4], 1);
    CHECK_EQ(ea->code[4], CW_MUX_RST_CONNECT);
    CHECK_EQ(ea->reset[2], 0);
    CHECK_EQ(cw_mux_streams(a), 3);
    cw_mux_destroy(a);
    cw_mux_destroy(b);
    free(ea);
    free(eb);
    cw_test_done();
}

TEST(mux_answer_fin_release)
{
    struct pair p;
    struct cw_mux_stream *s1;
    int step;

    pair_open(&p);
    /* Every split of the bytes gives the same result. */
    for (step = 1; step <= 9; step += 8) {
        memset(accepted, 0, sizeof(accepted));
        s1 = cw_mux_open(p.a, p.ea);
        CHECK(s1);
        CHECK_EQ(cw_mux_send(s1, "ping", 4), 4);
        cw_mux_fin(s1);
        CHECK_EQ(carry(p.a, p.b, (size_t)step), 0);
        CHECK(accepted[cw_mux_stream_id(s1) % 16] != NULL);
        CHECK_EQ(cw_mux_send(accepted[cw_mux_stream_id(s1) % 16], "pong", 4), 4);
        cw_mux_fin(accepted[cw_mux_stream_id(s1) % 16]);
        CHECK_EQ(carry(p.b, p.a, (size_t)step), 0);
        CHECK_MEM(p.ea->data[cw_mux_stream_id(s1) % 8], "pong", 4);
        CHECK_EQ(p.ea->fin[cw_mux_stream_id(s1) % 8], 1);
        /* Ended both ways: releasing sends nothing more. */
        cw_mux_release(accepted[cw_mux_stream_id(s1) % 16], 0);
        cw_mux_release(s1, 0);
        CHECK(cw_mux_out(p.a, &(size_t){0}) == NULL);
        CHECK(cw_mux_out(p.b, &(size_t){0}) == NULL);
        CHECK_EQ(cw_mux_streams(p.a), 0);
        CHECK_EQ(cw_mux_streams(p.b), 0);
    }
    pair_close(&p);
}

TEST(mux_flow_control)
{
    struct pair p;
    static uint8_t big[CW_MUX_WINDOW + 100000];
    struct cw_mux_stream *s;
    size_t took, total;

    pair_open(&p);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    p.eb->consume = 0;    /* b's consumer holds everything back at first */
    s = cw_mux_open(p.a, p.ea);
    took = cw_mux_send(s, big, sizeof(big));
    CHECK_EQ(took, CW_MUX_WINDOW);     /* the window and no more */
    CHECK_EQ(cw_mux_send(s, big, 1), 0);
    CHECK_EQ(carry(p.a, p.b, 0), 0);
    CHECK_EQ(p.eb->len[1], CW_MUX_WINDOW);
    CHECK_EQ(carry(p.b, p.a, 0), 0);
    CHECK_EQ(p.ea->writable[1], 0);     /* no credit yet */
    /* b's consumer takes it: credit goes back, a may send again. */
    cw_mux_consumed(accepted[1], CW_MUX_WINDOW);
    CHECK_EQ(carry(p.b, p.a, 0), 0);
    CHECK_EQ(p.ea->writable[1], 1);
    total = took;
    while (total < sizeof(big)) {
        took = cw_mux_send(s, big + total, sizeof(big) - total);
        CHECK(took > 0);
        total += took;
        CHECK_EQ(carry(p.a, p.b, 3), 0);
        cw_mux_consumed(accepted[1], took);
        CHECK_EQ(carry(p.b, p.a, 0), 0);
    }
    CHECK_EQ(p.eb->len[1], sizeof(big));
    CHECK_MEM(p.eb->data[1], big, sizeof(big));
    pair_close(&p);
}

TEST(mux_refusal_and_reset)
{
    struct pair p;
    struct cw_mux_stream *s1, *s2;

    pair_open(&p);
    p.ea->release_on_reset = 1;
    p.eb->refuse = CW_MUX_RST_CONNECT;
    s1 = cw_mux_open(p.a, p.ea);
    CHECK_EQ(cw_mux_send(s1, "x", 1), 1);
    CHECK_EQ(carry(p.a, p.b, 0), 0);
    CHECK_EQ(cw_mux_streams(p.b), 0);     /* refused: not kept */
    CHECK_EQ(carry(p.b, p.a, 0), 0);
    CHECK_EQ(p.ea->reset[1], 1);
    CHECK_EQ(p.ea->code[1], CW_MUX_RST_CONNECT);
    CHECK_EQ(cw_mux_streams(p.a), 0);     /* released from on_reset */

    /* a gives a stream up while b's answer is under way: b hears a RESET,
     * and the answer's frames, crossing it, are dropped by a. */
    p.eb->refuse = 0;
    p.eb->release_on_reset = 1;
    s2 = cw_mux_open(p.a, p.ea);
    CHECK_EQ(carry(p.a, p.b, 0), 0);
    CHECK_EQ(cw_mux_send(accepted[2], "late answer", 11), 11);
    cw_mux_release(s2, 0);
    CHECK_EQ(carry(p.a, p.b, 0), 0);
    CHECK_EQ(p.eb->reset[2], 1);
    CHECK_EQ(p.eb->code[2], CW_MUX_RST_CANCEL);
    CHECK_EQ(carry(p.b, p.a, 0), 0);
    CHECK_EQ(p.ea->len[2], 0);
    CHECK_EQ(cw_mux_streams(p.a), 0);
    CHECK_EQ(cw_mux_streams(p.b), 0);
    pair_close(&p);
}

TEST(mux_destroy_resets_streams)
{
    struct seen *ea = new_seen();
    struct cw_mux *a = cw_mux_create(1, &cbs, ea);

    ea->release_on_reset = 1;
    CHECK(cw_mux_open(a, ea) && cw_mux_open(a, ea) && cw_mux_open(a, ea));
    cw_mux_destroy(a);
    CHECK_EQ(ea->reset[1] + ea->reset[2] + ea->reset[3], 3);
    CHECK_EQ(ea->code[2], CW_MUX_RST_LOST);
    free(ea);
    cw_test_done();
}

/* Bytes that follow a good preface, fed to a fresh acceptor (opener 0) or
 * opener (1): the expected error. */
static void expect_error(int opener, const uint8_t *p, size_t n, int err, const char *why_part)
{
    struct seen *w = new_seen();
    struct cw_mux *m = cw_mux_create(opener, &cbs, w);
    int rc;

    CHECK_EQ(cw_mux_feed(m, (const uint8_t *)CW_MUX_PREFACE, CW_MUX_PREFACE_LEN), 0);
    if (opener)
        CHECK(cw_mux_open(m, w) != NULL);   /* stream 1 exists on the opener */
    rc = cw_mux_feed(m, p, n);
    if (rc != err)
        FAIL("expected %d, got %d (%s)", err, rc, cw_mux_why(m));
    if (why_part && !strstr(cw_mux_why(m), why_part))
        FAIL("reason \"%s\" lacks \"%s\"", cw_mux_why(m), why_part);
    CHECK_EQ(cw_mux_feed(m, (const uint8_t *)"", 0), err);   /* sticky */
    cw_mux_destroy(m);
    free(w);
}

#define F(type, id, len) type, 0, 0, 0, id, 0, (len) >> 8, (len) & 0xff

TEST(mux_protocol_errors)
{
    struct cw_mux *m;
    struct seen *w = new_seen();
    uint8_t data_over[8 + 1] = { F(CW_MUX_DATA, 1, 1), 'x' };

    m = cw_mux_create(0, &cbs, w);
    CHECK_EQ(cw_mux_feed(m, (const uint8_t *)"GET / HTTP/1.1\r\n", 16), CW_MUX_EPREFACE);
    cw_mux_destroy(m);
    free(w);
    expect_error(0, (const uint8_t[]){ F(9, 1, 0) }, 8, CW_MUX_EPROTO, "unknown frame type");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 0, 0) }, 8, CW_MUX_EPROTO, "does not grow");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 2, 0), F(CW_MUX_OPEN, 2, 0) }, 16,
                 CW_MUX_EPROTO, "does not grow");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 2), 1, 0 }, 10, CW_MUX_EPROTO,
                 "longer than its service byte");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 0), F(CW_MUX_FIN, 1, 1), 0 }, 17,
                 CW_MUX_EPROTO, "FIN frame with a payload");
    expect_error(0, data_over, sizeof(data_over), CW_MUX_EPROTO, "never opened");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_FIN, 7, 0) }, 8, CW_MUX_EPROTO, "never opened");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 0), F(CW_MUX_DATA, 1, 0) }, 16,
                 CW_MUX_EPROTO, "0 bytes");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 0), F(CW_MUX_FIN, 1, 0),
                                       F(CW_MUX_FIN, 1, 0) }, 24, CW_MUX_EPROTO, "second FIN");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 0), F(CW_MUX_FIN, 1, 0),
                                       F(CW_MUX_DATA, 1, 1), 'x' }, 25, CW_MUX_EPROTO, "after");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 0), F(CW_MUX_RESET, 1, 3), 0, 0, 1 },
                 19, CW_MUX_EPROTO, "not 4 bytes");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 0), F(CW_MUX_WINDOW_UPDATE, 1, 4),
                                       0, 0, 0, 0 }, 20, CW_MUX_EPROTO, "WINDOW of 0");
    expect_error(0, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 0), F(CW_MUX_WINDOW_UPDATE, 1, 4),
                                       0x7f, 0xff, 0xff, 0xff }, 20, CW_MUX_EPROTO, "2^31");
    expect_error(1, (const uint8_t[]){ F(CW_MUX_OPEN, 2, 0) }, 8, CW_MUX_EPROTO, "core opened");
    expect_error(1, (const uint8_t[]){ F(CW_MUX_DATA, 2, 1), 'x' }, 9, CW_MUX_EPROTO,
                 "never opened");
    expect_error(0, (const uint8_t[]){ 2, 0x80, 0, 0, 1, 0, 0, 1 }, 8, CW_MUX_EPROTO, "2^31");
    cw_test_done();
}

TEST(mux_data_beyond_window)
{
    struct seen *w = new_seen();
    struct cw_mux *m = cw_mux_create(0, &cbs, w);
    uint8_t frame[8 + CW_MUX_FRAME_MAX];
    int rc = 0;

    w->consume = 0;
    CHECK_EQ(cw_mux_feed(m, (const uint8_t *)CW_MUX_PREFACE, CW_MUX_PREFACE_LEN), 0);
    CHECK_EQ(cw_mux_feed(m, (const uint8_t[]){ F(CW_MUX_OPEN, 1, 0) }, 8), 0);
    memset(frame, 'd', sizeof(frame));
    memcpy(frame, (const uint8_t[]){ CW_MUX_DATA, 0, 0, 0, 1, 0, 0x40, 0 }, 8);
    for (int i = 0; i < CW_MUX_WINDOW / CW_MUX_FRAME_MAX && rc == 0; i++)
        rc = cw_mux_feed(m, frame, sizeof(frame));
    CHECK_EQ(rc, 0);
    CHECK_EQ(cw_mux_feed(m, frame, sizeof(frame)), CW_MUX_EPROTO);
    CHECK(strstr(cw_mux_why(m), "window") != NULL);
    cw_mux_destroy(m);
    free(w);
    cw_test_done();
}

TEST(mux_too_many_streams_refused)
{
    struct seen *w = new_seen();
    struct cw_mux *m = cw_mux_create(0, &cbs, w);
    uint8_t open[8];
    const uint8_t *p;
    size_t n;

    CHECK_EQ(cw_mux_feed(m, (const uint8_t *)CW_MUX_PREFACE, CW_MUX_PREFACE_LEN), 0);
    for (uint32_t id = 1; id <= CW_MUX_STREAMS_MAX + 1; id++) {
        memcpy(open, (const uint8_t[]){ CW_MUX_OPEN, (uint8_t)(id >> 24), (uint8_t)(id >> 16),
                                        (uint8_t)(id >> 8), (uint8_t)id, 0, 0, 0 }, 8);
        CHECK_EQ(cw_mux_feed(m, open, 8), 0);
    }
    CHECK_EQ(cw_mux_streams(m), CW_MUX_STREAMS_MAX);
    /* The output ends with a RESET (REFUSED) for the last one. */
    p = cw_mux_out(m, &n);
    CHECK(n >= 12);
    CHECK_EQ(p[n - 12], CW_MUX_RESET);
    CHECK_EQ(p[n - 1], CW_MUX_RST_REFUSED);
    cw_mux_destroy(m);
    free(w);
    cw_test_done();
}

/* Sends that the output limit (4 MB queued) cut short resume in the order
 * they were cut, once the transport took the output. */
TEST(mux_output_limit_fifo)
{
    struct seen *w = new_seen();
    struct cw_mux *m = cw_mux_create(1, &cbs, w);
    static uint8_t chunk[CW_MUX_WINDOW];
    struct cw_mux_stream *st[12];
    const uint8_t *p;
    size_t n, total = 0;

    for (int i = 0; i < 12; i++) {
        st[i] = cw_mux_open(m, w);
        CHECK(st[i] != NULL);
        total += cw_mux_send(st[i], chunk, sizeof(chunk));
    }
    CHECK(total < 12 * sizeof(chunk));      /* the limit took effect */
    CHECK_EQ(w->nwoken, 0);
    p = cw_mux_out(m, &n);
    CHECK(p != NULL && n > total);
    cw_mux_out_done(m, n);                  /* the transport took it all */
    CHECK(w->nwoken >= 2);
    for (int i = 1; i < w->nwoken; i++)
        CHECK(w->woken[i] > w->woken[i - 1]);   /* oldest first */
    cw_mux_destroy(m);
    free(w);
    cw_test_done();
}
