/* mux.c - the tunnel link's framing and flow control (see mux.h).
 *
 * Input is a byte state machine that never needs a whole frame: a header
 * is gathered (8 bytes), a control payload too (at most 4 bytes), and DATA
 * payloads go to the stream's consumer in the pieces they arrive in. Every
 * read of the peer's bytes goes through a cw_rbuf.
 *
 * A stream lives until its user releases it. A released stream that has
 * not ended both ways is reset on the wire; its id is then unknown, and
 * frames still in flight for it are dropped. Ids only grow, so "unknown and
 * not above the last id opened" means "gone", and anything above it that
 * is not an OPEN is a protocol error. */
#include "mux.h"

#include "buf.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024                    /* stream table, by id */
#define OUT_MAX (4u * 1024 * 1024)      /* queued DATA beyond which sends wait */
#define OUT_LOW (OUT_MAX / 4)           /* ... until the output is this low */
#define CREDIT_STEP (CW_MUX_WINDOW / 4) /* credit is returned in steps this big */
#define ID_MAX 0x7fffffffu
#define WINDOW_LIMIT 0x7fffffff         /* a send window never exceeds this */

struct cw_mux_stream {
    struct cw_mux *m;
    struct cw_mux_stream *hnext;        /* table chain */
    struct cw_mux_stream *wnext, *wprev;/* in m->room: waiting for output room */
    void *data;
    uint32_t id;
    int64_t send_window;                /* bytes we may still send */
    uint32_t recv_window;               /* bytes the peer may still send */
    uint32_t unacked;                   /* consumed, credit not yet returned */
    uint8_t svc;                        /* CW_MUX_SVC_*: what its OPEN said */
    unsigned fin_sent : 1, fin_recv : 1, reset : 1;
    unsigned waiting : 1;               /* a send was cut short: on_writable is due */
    unsigned in_room : 1;               /* ... by the output limit (on m->room) */
};

struct cw_mux {
    int opener;
    struct cw_mux_cbs cbs;
    void *arg;
    struct cw_mux_stream *tab[BUCKETS];
    unsigned nstreams;
    uint32_t last_id;                   /* the highest stream id opened */
    struct cw_mux_stream *room, *room_tail; /* streams waiting for output room, oldest first */

    /* input */
    int err;
    const char *why;
    size_t preface_got;
    uint8_t hdr[CW_MUX_HEADER_LEN];
    size_t hdr_got;
    uint8_t type;
    uint32_t sid, left;                 /* the frame's stream and payload still to come */
    uint8_t ctl[4];
    size_t ctl_got;
    struct cw_mux_stream *cur;          /* DATA: the stream it goes to (NULL: drop) */

    /* output */
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    size_t out_data;                    /* DATA bytes among them */
};

/* ---- the stream table ---- */

static struct cw_mux_stream **bucket(struct cw_mux *m, uint32_t id)
{
    return &m->tab[id % BUCKETS];
}

static struct cw_mux_stream *find(struct cw_mux *m, uint32_t id)
{
    struct cw_mux_stream *s;

    for (s = *bucket(m, id); s; s = s->hnext)
        if (s->id == id)
            return s;
    return NULL;
}

static struct cw_mux_stream *stream_new(struct cw_mux *m, uint32_t id, void *data)
{
    struct cw_mux_stream *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->m = m;
    s->id = id;
    s->data = data;
    s->send_window = CW_MUX_WINDOW;
    s->recv_window = CW_MUX_WINDOW;
    s->hnext = *bucket(m, id);
    *bucket(m, id) = s;
    m->nstreams++;
    if (id > m->last_id)
        m->last_id = id;
    return s;
}

static void room_remove(struct cw_mux_stream *s)
{
    if (!s->in_room)
        return;
    if (s->wprev)
        s->wprev->wnext = s->wnext;
    else
        s->m->room = s->wnext;
    if (s->wnext)
        s->wnext->wprev = s->wprev;
    else
        s->m->room_tail = s->wprev;
    s->wnext = s->wprev = NULL;
    s->in_room = 0;
}

static void room_add(struct cw_mux_stream *s)
{
    struct cw_mux *m = s->m;

    if (s->in_room)
        return;
    s->in_room = 1;
    s->wnext = NULL;
    s->wprev = m->room_tail;
    if (m->room_tail)
        m->room_tail->wnext = s;
    else
        m->room = s;
    m->room_tail = s;
}

/* s may send again: it hears so (once per short send). */
static void wake(struct cw_mux_stream *s)
{
    room_remove(s);
    s->waiting = 0;
    if (s->m->cbs.on_writable)
        s->m->cbs.on_writable(s);
}

static void stream_free(struct cw_mux_stream *s)
{
    struct cw_mux *m = s->m;
    struct cw_mux_stream **pp;

    for (pp = bucket(m, s->id); *pp; pp = &(*pp)->hnext)
        if (*pp == s) {
            *pp = s->hnext;
            break;
        }
    room_remove(s);
    if (m->cur == s)
        m->cur = NULL;
    m->nstreams--;
    free(s);
}

/* ---- output ---- */

static int out_reserve(struct cw_mux *m, size_t n)
{
    size_t cap;
    uint8_t *p;

    if (m->out_off && m->out_off == m->out_len)
        m->out_off = m->out_len = 0;
    if (m->out_cap - m->out_len >= n)
        return 0;
    if (m->out_off) {
        memmove(m->out, m->out + m->out_off, m->out_len - m->out_off);
        m->out_len -= m->out_off;
        m->out_off = 0;
        if (m->out_cap - m->out_len >= n)
            return 0;
    }
    cap = m->out_cap ? m->out_cap : 16384;
    while (cap - m->out_len < n)
        cap *= 2;
    p = realloc(m->out, cap);
    if (!p)
        return -1;
    m->out = p;
    m->out_cap = cap;
    return 0;
}

static void put_header(uint8_t *h, uint8_t type, uint32_t id, size_t len)
{
    h[0] = type;
    h[1] = (uint8_t)(id >> 24);
    h[2] = (uint8_t)(id >> 16);
    h[3] = (uint8_t)(id >> 8);
    h[4] = (uint8_t)id;
    h[5] = (uint8_t)(len >> 16);
    h[6] = (uint8_t)(len >> 8);
    h[7] = (uint8_t)len;
}

/* Queues raw bytes. A control frame that finds no memory is lost, and the
 * link with it: the owner sees the error at its next feed. */
static int out_add(struct cw_mux *m, const void *p, size_t n)
{
    int was_empty = m->out_len == m->out_off;

    if (out_reserve(m, n) < 0) {
        if (!m->err) {
            m->err = CW_MUX_ENOMEM;
            m->why = "out of memory for the link's output";
        }
        return -1;
    }
    memcpy(m->out + m->out_len, p, n);
    m->out_len += n;
    if (was_empty && m->cbs.on_output)
        m->cbs.on_output(m, m->arg);
    return 0;
}

static void out_frame(struct cw_mux *m, uint8_t type, uint32_t id, const void *p, size_t len)
{
    uint8_t h[CW_MUX_HEADER_LEN + 4];

    put_header(h, type, id, len);
    if (len)
        memcpy(h + CW_MUX_HEADER_LEN, p, len);   /* control payloads: at most 4 bytes */
    (void)out_add(m, h, CW_MUX_HEADER_LEN + len);
}

static void out_u32(struct cw_mux *m, uint8_t type, uint32_t id, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

    out_frame(m, type, id, b, 4);
}

const uint8_t *cw_mux_out(const struct cw_mux *m, size_t *n)
{
    *n = m->out_len - m->out_off;
    return *n ? m->out + m->out_off : NULL;
}

/* Streams that waited for output room get it, while it lasts. Each one
 * is taken off the list before it hears, so what its callback does (send
 * more, release itself or another) leaves the list consistent. */
static void wake_room(struct cw_mux *m)
{
    while (m->room && m->out_data < OUT_LOW && !m->err)
        wake(m->room);
}

void cw_mux_out_done(struct cw_mux *m, size_t n)
{
    size_t pending = m->out_len - m->out_off;

    if (n > pending)
        n = pending;
    m->out_off += n;
    /* DATA and control bytes are not told apart once queued: count the
     * data down as if it went first, which only errs towards waking early. */
    m->out_data = m->out_data > n ? m->out_data - n : 0;
    if (m->out_off == m->out_len)
        m->out_off = m->out_len = m->out_data = 0;
    if (m->room && m->out_data < OUT_LOW)
        wake_room(m);
}

/* ---- life cycle ---- */

struct cw_mux *cw_mux_create(int opener, const struct cw_mux_cbs *cbs, void *arg)
{
    struct cw_mux *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->opener = opener;
    m->cbs = *cbs;
    m->arg = arg;
    if (out_reserve(m, CW_MUX_PREFACE_LEN) < 0) {
        free(m);
        return NULL;
    }
    memcpy(m->out, CW_MUX_PREFACE, CW_MUX_PREFACE_LEN);
    m->out_len = CW_MUX_PREFACE_LEN;
    return m;
}

void cw_mux_destroy(struct cw_mux *m)
{
    struct cw_mux_stream *s;

    if (!m)
        return;
    m->err = m->err ? m->err : CW_MUX_EPROTO;   /* nothing more is fed or sent */
    if (!m->why)
        m->why = "the link is closed";
    for (unsigned b = 0; b < BUCKETS; b++)
        while ((s = m->tab[b])) {
            if (!s->reset) {
                s->reset = 1;
                if (m->cbs.on_reset) {
                    m->cbs.on_reset(s, CW_MUX_RST_LOST);
                    continue;   /* released from there, or not: look again */
                }
            }
            stream_free(s);
        }
    free(m->out);
    free(m);
}

/* ---- input ---- */

static int proto_error(struct cw_mux *m, const char *why)
{
    m->err = CW_MUX_EPROTO;
    m->why = why;
    return m->err;
}

/* The stream a frame names, or NULL for one that is gone (ignore the
 * frame); *bad is set for an id no stream ever had. */
static struct cw_mux_stream *frame_stream(struct cw_mux *m, uint32_t id, int *bad)
{
    struct cw_mux_stream *s = find(m, id);

    *bad = !s && (id == 0 || id > m->last_id);
    return s && !s->reset ? s : NULL;
}

static uint32_t be32(const uint8_t *p)
{
    struct cw_rbuf r;

    cw_rbuf_init(&r, p, 4);
    return cw_rbuf_u32(&r);
}

/* A peer's OPEN: a new stream, or a refusal that costs nothing more. */
static int frame_open(struct cw_mux *m)
{
    struct cw_mux_stream *s;
    int code;

    if (m->opener)
        return proto_error(m, "the core opened a stream");
    if (m->sid == 0 || m->sid <= m->last_id)
        return proto_error(m, "a stream id that does not grow");
    if (m->nstreams >= CW_MUX_STREAMS_MAX) {
        m->last_id = m->sid;
        out_u32(m, CW_MUX_RESET, m->sid, CW_MUX_RST_REFUSED);
        return 0;
    }
    s = stream_new(m, m->sid, NULL);
    if (!s) {
        m->last_id = m->sid;
        out_u32(m, CW_MUX_RESET, m->sid, CW_MUX_RST_REFUSED);
        return 0;
    }
    s->svc = m->ctl_got ? m->ctl[0] : CW_MUX_SVC_WEB;   /* the service byte, when sent */
    code = m->cbs.on_open ? m->cbs.on_open(s, m->arg) : CW_MUX_RST_REFUSED;
    if (code) {
        out_u32(m, CW_MUX_RESET, s->id, (uint32_t)code);
        stream_free(s);
    }
    return 0;
}

/* A whole header arrived: check it against the rules and the streams. */
static int frame_begin(struct cw_mux *m)
{
    struct cw_rbuf r;
    struct cw_mux_stream *s;
    int bad;

    cw_rbuf_init(&r, m->hdr, sizeof(m->hdr));
    m->type = cw_rbuf_u8(&r);
    m->sid = cw_rbuf_u32(&r);
    m->left = (uint32_t)cw_rbuf_u8(&r) << 16;
    m->left |= cw_rbuf_u16(&r);
    m->ctl_got = 0;
    m->cur = NULL;
    if (m->sid > ID_MAX)
        return proto_error(m, "a stream id over 2^31");
    switch (m->type) {
    case CW_MUX_OPEN:
        if (m->left > 1)
            return proto_error(m, "an OPEN frame with a payload longer than its service byte");
        break;
    case CW_MUX_FIN:
        if (m->left != 0)
            return proto_error(m, "a FIN frame with a payload");
        break;
    case CW_MUX_RESET:
    case CW_MUX_WINDOW_UPDATE:
        if (m->left != 4)
            return proto_error(m, "a RESET or WINDOW frame whose payload is not 4 bytes");
        break;
    case CW_MUX_DATA:
        if (m->left == 0 || m->left > CW_MUX_FRAME_MAX)
            return proto_error(m, "a DATA frame of 0 bytes or over 16 KB");
        s = frame_stream(m, m->sid, &bad);
        if (bad)
            return proto_error(m, "DATA for a stream never opened");
        if (!s)
            break;      /* gone: its bytes are dropped */
        if (s->fin_recv)
            return proto_error(m, "DATA after the stream's FIN");
        if (m->left > s->recv_window)
            return proto_error(m, "DATA beyond the stream's window");
        s->recv_window -= m->left;
        m->cur = s;
        break;
    default:
        return proto_error(m, "an unknown frame type");
    }
    return 0;
}

/* A control frame is complete (its payload, if any, is in m->ctl). */
static int frame_end(struct cw_mux *m)
{
    struct cw_mux_stream *s;
    uint32_t v;
    int bad;

    if (m->type == CW_MUX_OPEN)
        return frame_open(m);
    s = frame_stream(m, m->sid, &bad);
    if (bad)
        return proto_error(m, "a frame for a stream never opened");
    if (!s)
        return 0;
    switch (m->type) {
    case CW_MUX_FIN:
        if (s->fin_recv)
            return proto_error(m, "a second FIN for a stream");
        s->fin_recv = 1;
        if (m->cbs.on_fin)
            m->cbs.on_fin(s);
        break;
    case CW_MUX_RESET:
        s->reset = 1;
        room_remove(s);
        if (m->cbs.on_reset)
            m->cbs.on_reset(s, be32(m->ctl));
        break;
    case CW_MUX_WINDOW_UPDATE:
        v = be32(m->ctl);
        if (v == 0 || s->send_window + v > WINDOW_LIMIT)
            return proto_error(m, "a WINDOW of 0, or one past 2^31");
        s->send_window += v;
        /* A send cut short by the window: room now, or when the output has. */
        if (s->waiting && !s->in_room) {
            if (m->out_data < OUT_LOW)
                wake(s);
            else
                room_add(s);
        }
        break;
    }
    return 0;
}

int cw_mux_feed(struct cw_mux *m, const uint8_t *p, size_t n)
{
    struct cw_rbuf in;
    const uint8_t *chunk;
    size_t k;
    int rc;

    if (m->err)
        return m->err;
    cw_rbuf_init(&in, p, n);
    while (cw_rbuf_left(&in)) {
        if (m->preface_got < CW_MUX_PREFACE_LEN) {
            if (cw_rbuf_u8(&in) != (uint8_t)CW_MUX_PREFACE[m->preface_got++]) {
                m->err = CW_MUX_EPREFACE;
                m->why = "the peer does not speak the tunnel link protocol";
                return m->err;
            }
            continue;
        }
        if (m->hdr_got < CW_MUX_HEADER_LEN) {
            k = sizeof(m->hdr) - m->hdr_got;
            if (k > cw_rbuf_left(&in))
                k = cw_rbuf_left(&in);
            (void)cw_rbuf_copy(&in, m->hdr + m->hdr_got, k);
            m->hdr_got += k;
            if (m->hdr_got < CW_MUX_HEADER_LEN)
                break;
            if ((rc = frame_begin(m)) < 0)
                return rc;
        } else if (m->type == CW_MUX_DATA) {
            k = m->left < cw_rbuf_left(&in) ? m->left : cw_rbuf_left(&in);
            chunk = cw_rbuf_take(&in, k);
            m->left -= (uint32_t)k;
            if (m->cur && m->cbs.on_data)
                m->cbs.on_data(m->cur, chunk, k);   /* may release the stream (cur = NULL) */
        } else {
            k = m->left < cw_rbuf_left(&in) ? m->left : cw_rbuf_left(&in);
            (void)cw_rbuf_copy(&in, m->ctl + m->ctl_got, k);
            m->ctl_got += k;
            m->left -= (uint32_t)k;
        }
        if (m->left == 0) {
            m->hdr_got = 0;
            if (m->type != CW_MUX_DATA && (rc = frame_end(m)) < 0)
                return rc;
            m->cur = NULL;
        }
        if (m->err)
            return m->err;  /* out of memory while answering */
    }
    return 0;
}

const char *cw_mux_why(const struct cw_mux *m)
{
    return m->why ? m->why : "no error";
}

int cw_mux_ready(const struct cw_mux *m)
{
    return m->preface_got == CW_MUX_PREFACE_LEN && !m->err;
}

/* ---- streams ---- */

struct cw_mux_stream *cw_mux_open_service(struct cw_mux *m, unsigned svc, void *data)
{
    struct cw_mux_stream *s;
    uint8_t b = (uint8_t)svc;

    if (!m->opener || m->err || m->nstreams >= CW_MUX_STREAMS_MAX || m->last_id >= ID_MAX ||
        svc > 0xff)
        return NULL;
    s = stream_new(m, m->last_id + 1, data);
    if (!s)
        return NULL;
    s->svc = b;
    /* The web proxy's streams keep the OPEN an older core understands. */
    out_frame(m, CW_MUX_OPEN, s->id, &b, svc == CW_MUX_SVC_WEB ? 0 : 1);
    return s;
}

struct cw_mux_stream *cw_mux_open(struct cw_mux *m, void *data)
{
    return cw_mux_open_service(m, CW_MUX_SVC_WEB, data);
}

size_t cw_mux_send(struct cw_mux_stream *s, const void *p, size_t n)
{
    struct cw_mux *m = s->m;
    const uint8_t *b = p;
    uint8_t h[CW_MUX_HEADER_LEN];
    size_t sent = 0, k;

    if (s->reset || s->fin_sent || m->err)
        return 0;
    while (sent < n && s->send_window > 0 && m->out_data < OUT_MAX) {
        k = n - sent;
        if (k > CW_MUX_FRAME_MAX)
            k = CW_MUX_FRAME_MAX;
        if ((int64_t)k > s->send_window)
            k = (size_t)s->send_window;
        if (out_reserve(m, sizeof(h) + k) < 0) {
            m->err = CW_MUX_ENOMEM;
            m->why = "out of memory for the link's output";
            return sent;
        }
        put_header(h, CW_MUX_DATA, s->id, k);
        (void)out_add(m, h, sizeof(h));
        (void)out_add(m, b + sent, k);
        m->out_data += k;
        s->send_window -= (int64_t)k;
        sent += k;
    }
    if (sent < n) {
        s->waiting = 1;
        if (s->send_window > 0)
            room_add(s);    /* the output limit: out_done wakes it */
    }
    return sent;
}

void cw_mux_fin(struct cw_mux_stream *s)
{
    if (s->reset || s->fin_sent)
        return;
    s->fin_sent = 1;
    out_frame(s->m, CW_MUX_FIN, s->id, NULL, 0);
}

void cw_mux_consumed(struct cw_mux_stream *s, size_t n)
{
    if (s->reset || s->fin_recv)
        return;     /* nothing more will come: no credit needed */
    s->unacked += (uint32_t)(n > CW_MUX_WINDOW ? CW_MUX_WINDOW : n);
    if (s->unacked < CREDIT_STEP)
        return;
    out_u32(s->m, CW_MUX_WINDOW_UPDATE, s->id, s->unacked);
    s->recv_window += s->unacked;
    s->unacked = 0;
}

void cw_mux_release(struct cw_mux_stream *s, uint32_t code)
{
    if (!s->reset && !(s->fin_sent && s->fin_recv))
        out_u32(s->m, CW_MUX_RESET, s->id, code ? code : CW_MUX_RST_CANCEL);
    stream_free(s);
}

void *cw_mux_stream_data(const struct cw_mux_stream *s)
{
    return s->data;
}

void cw_mux_stream_set_data(struct cw_mux_stream *s, void *data)
{
    s->data = data;
}

uint32_t cw_mux_stream_id(const struct cw_mux_stream *s)
{
    return s->id;
}

unsigned cw_mux_stream_service(const struct cw_mux_stream *s)
{
    return s->svc;
}

struct cw_mux *cw_mux_of(const struct cw_mux_stream *s)
{
    return s->m;
}

unsigned cw_mux_streams(const struct cw_mux *m)
{
    return m->nstreams;
}
