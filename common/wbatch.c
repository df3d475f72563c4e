/* wbatch.c - socket writes gathered over one loop turn and sent with one
 * io_uring_enter (see wbatch.h).
 *
 * For maintainers:
 * - Why: on the VMs this runs on a system call costs about a microsecond
 *   before it does anything, and a proxy's keep-alive request takes two
 *   writes (the request to the backend, the answer to the guest). A loop
 *   turn of a loaded proxy makes dozens of them; here they become one
 *   io_uring_enter with a send per socket.
 * - A writer's bytes are copied into the batch's buffer (its owner reuses
 *   its own, OpenSSL's record buffer among them). Two writes to one socket
 *   in a turn join into one send: a socket never has two sends in flight,
 *   so a short send cannot reorder bytes. Past WRITER_MAX bytes in a turn
 *   the writer's bytes go out at once and the owner writes on its own way:
 *   a bulk transfer gains nothing from the batch, and its owner must see
 *   its queue grow to apply back-pressure.
 * - Sends carry MSG_DONTWAIT: the kernel runs each one inline during the
 *   submit and never parks it. A socket that takes only part gets the rest
 *   back through the owner's sent callback, and the owner queues it with
 *   uv_write, where libuv waits for room as it does for any write.
 * - The flush runs in a check handle (right after the I/O callbacks that
 *   wrote) and in a prepare handle (before the loop blocks, for writes from
 *   timers and close callbacks). While anything is batched an idle handle
 *   is started, which makes the loop poll without blocking: bytes batched
 *   by a prepare callback that runs after ours go out at the check.
 * - The batch has two stores: the one being filled and the one whose sends
 *   just completed. Callbacks run while the second is walked; what they
 *   write goes into the first, for the next flush. A writer in the walked
 *   store has slot -2 - index until its callback has run.
 * - If a submit ever fails, the ring is left alone from then on (unsent
 *   entries could otherwise go out twice) and every later flush writes
 *   one send per socket.
 */
#include "wbatch.h"

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

#define RING_ENTRIES 256
#define BUF_MIN 65536
#define WRITER_MAX 65536        /* a writer's bytes in one batch, at most */
#define BUF_KEEP (4u << 20)     /* a buffer grown past this is let go after use */
#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)
#define RES_UNSENT INT_MIN      /* an entry's res before its send */

struct ent {
    struct cw_wb *w;            /* NULL: settled or delivered */
    size_t off, len;
    int res;                    /* what the send returned (-errno) */
};

struct store {
    struct ent *e;
    size_t n, cap;
    uint8_t *buf;
    size_t used, size;
};

struct cw_wbatch {
    struct io_uring ring;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;             /* started while anything is batched */
    int open_handles;
    int broken;                 /* a submit failed: plain sends from now on */
    struct store cur;           /* this turn's writes */
    struct store done;          /* the flushed entries, while their callbacks run */
    int walking;                /* done's callbacks are running */
    struct cw_wbatch_stats st;
};

static int reserve(struct store *s, size_t n)
{
    size_t size;
    uint8_t *p;

    if (s->size - s->used >= n)
        return 0;
    size = s->size ? s->size : BUF_MIN;
    while (size - s->used < n)
        size *= 2;
    p = realloc(s->buf, size);
    if (!p)
        return -1;
    s->buf = p;
    s->size = size;
    return 0;
}

static void idle_cb(uv_idle_t *h);

/* Whether n more bytes of w may join the batch. Not when w was flushed and
 * its callback has not run (its rest goes first), nor for a bulk transfer
 * (its bytes go now, and if the socket is full the owner's queue grows and
 * its back-pressure works as without us). */
static int batchable(const struct cw_wb *w, size_t n)
{
    return w->slot > -2 && cw_wb_pending(w) + n <= WRITER_MAX;
}

void cw_wb_init(struct cw_wb *w, uv_stream_t *h, cw_wb_sent_fn *sent, struct cw_wbatch *b)
{
    w->h = h;
    w->sent = sent;
    w->b = b;
    w->slot = -1;
}

/* Copies n bytes of w into this turn's store (batchable): 0, or -1. */
static int copy_in(struct cw_wb *w, const void *p, size_t n)
{
    struct store *s = &w->b->cur;
    struct ent *e;

    if (w->slot >= 0) {
        e = &s->e[w->slot];
        if (e->off + e->len != s->used) {
            /* Not the last bytes in the buffer: move them to its end. */
            if (reserve(s, e->len + n) < 0)
                return -1;
            memcpy(s->buf + s->used, s->buf + e->off, e->len);
            e->off = s->used;
            s->used += e->len;
        } else if (reserve(s, n) < 0) {
            return -1;
        }
        memcpy(s->buf + s->used, p, n);
        s->used += n;
        e->len += n;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct ent *ne = realloc(s->e, cap * sizeof(*ne));

        if (!ne)
            return -1;
        s->e = ne;
        s->cap = cap;
    }
    if (reserve(s, n) < 0)
        return -1;
    if (s->n == 0)
        uv_idle_start(&w->b->idle, idle_cb);
    e = &s->e[s->n];
    e->w = w;
    e->off = s->used;
    e->len = n;
    e->res = 0;
    memcpy(s->buf + s->used, p, n);
    s->used += n;
    w->slot = (long)s->n++;
    return 0;
}

int cw_wb_send(struct cw_wb *w, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (!batchable(w, n)) {
        cw_wb_settle(w);
        return 1;
    }
    return copy_in(w, p, n);
}

size_t cw_wb_pending(const struct cw_wb *w)
{
    return w->b && w->slot >= 0 ? w->b->cur.e[w->slot].len : 0;
}

/* Tells w's owner what a send of p[0..len) that returned res did not do:
 * its error, or the bytes the socket had no room for. 1 when sent was
 * called. */
static int hand_back(struct cw_wbatch *b, struct cw_wb *w, int res, const uint8_t *p,
                     size_t len)
{
    size_t took;

    if (res == (int)len)
        return 0;
    if (res < 0 && res != -EAGAIN && res != RES_UNSENT) {
        w->sent(w, res, NULL, 0);
        return 1;
    }
    took = res > 0 ? (size_t)res : 0;
    b->st.short_sends++;
    w->sent(w, 0, p + took, len - took);
    return 1;
}

/* Done's entry i is over: its owner hears what its send did not do. */
static int deliver(struct cw_wbatch *b, size_t i)
{
    struct ent *e = &b->done.e[i];
    struct cw_wb *w = e->w;

    if (!w)
        return 0;
    e->w = NULL;
    w->slot = -1;
    return hand_back(b, w, e->res, b->done.buf + e->off, e->len);
}

static int fd_of(const struct cw_wb *w)
{
    uv_os_fd_t fd;

    return uv_fileno((const uv_handle_t *)w->h, &fd) == 0 ? fd : -1;
}

static int plain_send(int fd, const uint8_t *p, size_t n)
{
    ssize_t r = send(fd, p, n, SEND_FLAGS);

    return r < 0 ? -errno : (int)r;
}

int cw_wb_settle(struct cw_wb *w)
{
    struct cw_wbatch *b = w->b;
    struct ent *e;
    const uint8_t *p;

    if (!b || w->slot == -1)
        return 0;
    if (w->slot <= -2)
        return deliver(b, (size_t)(-2 - w->slot));
    e = &b->cur.e[w->slot];
    e->w = NULL;
    w->slot = -1;
    p = b->cur.buf + e->off;
    b->st.settled++;
    /* sent copies the rest before it could write anything into cur. */
    return hand_back(b, w, plain_send(fd_of(w), p, e->len), p, e->len);
}

ssize_t cw_wb_write(struct cw_wb *w, const void *p, size_t n)
{
    uv_buf_t b;
    int r;

    if (n == 0)
        return 0;
    if (w->b) {
        if (batchable(w, n))
            return copy_in(w, p, n) < 0 ? UV_ENOMEM : (ssize_t)n;
        if (cw_wb_settle(w))
            return 0;
    }
    /* Not uv_buf_init(): its length is an unsigned int. */
    b.base = (char *)p;
    b.len = n;
    r = uv_try_write(w->h, &b, 1);
    return r == UV_EAGAIN ? 0 : r;
}

/* Sends done's entries [from, to) through the ring; -1 if it failed. */
static int submit(struct cw_wbatch *b, size_t from, size_t to)
{
    struct io_uring_cqe *cqe;
    unsigned k = 0, got = 0, head, seen;
    size_t i;
    int r;

    for (i = from; i < to; i++) {
        struct ent *e = &b->done.e[i];
        struct io_uring_sqe *sqe;

        if (!e->w)
            continue;
        sqe = io_uring_get_sqe(&b->ring);
        io_uring_prep_send(sqe, fd_of(e->w), b->done.buf + e->off, e->len, SEND_FLAGS);
        io_uring_sqe_set_data64(sqe, i);
        k++;
    }
    if (!k)
        return 0;
    r = io_uring_submit(&b->ring);
    if (r != (int)k) {
        CW_ERROR("wbatch", "io_uring submit of %u sends returned %d (%s): "
                 "writes go one system call each from now on",
                 k, r, r < 0 ? strerror(-r) : "some not taken");
        b->broken = 1;
        if (r <= 0)
            return -1;
        k = (unsigned)r;   /* collect the ones taken; the caller sends the rest */
    }
    b->st.submits++;
    b->st.sends += k;
    while (got < k) {
        seen = 0;
        io_uring_for_each_cqe(&b->ring, head, cqe) {
            b->done.e[io_uring_cqe_get_data64(cqe)].res = cqe->res;
            seen++;
        }
        io_uring_cq_advance(&b->ring, seen);
        got += seen;
        if (got < k && (r = io_uring_wait_cqe(&b->ring, &cqe)) < 0 && r != -EINTR) {
            CW_ERROR("wbatch", "io_uring wait returned %d (%s): "
                     "writes go one system call each from now on", r, strerror(-r));
            b->broken = 1;
            /* Taken, outcome unknown: the sockets' streams cannot go on. */
            for (i = from, seen = 0; i < to && seen < k; i++) {
                if (!b->done.e[i].w)
                    continue;
                if (b->done.e[i].res == RES_UNSENT)
                    b->done.e[i].res = -EIO;
                seen++;
            }
            break;
        }
    }
    return b->broken ? -1 : 0;
}

void cw_wbatch_flush(struct cw_wbatch *b)
{
    struct store t;
    size_t i, step;

    if (!b || b->walking)
        return;
    if (b->cur.n == 0) {
        uv_idle_stop(&b->idle);
        return;
    }
    t = b->done;
    b->done = b->cur;
    b->cur = t;
    b->cur.n = b->cur.used = 0;
    for (i = 0; i < b->done.n; i++) {
        b->done.e[i].res = RES_UNSENT;
        if (b->done.e[i].w)
            b->done.e[i].w->slot = -2 - (long)i;
    }
    for (i = 0; i < b->done.n; i += step) {
        step = b->done.n - i < RING_ENTRIES ? b->done.n - i : RING_ENTRIES;
        if (!b->broken && submit(b, i, i + step) == 0)
            continue;
        /* The ring failed: the entries it did not send go one by one. */
        for (size_t j = i; j < i + step; j++) {
            struct ent *e = &b->done.e[j];

            if (e->w && e->res == RES_UNSENT)
                e->res = plain_send(fd_of(e->w), b->done.buf + e->off, e->len);
        }
    }
    b->walking = 1;
    for (i = 0; i < b->done.n; i++)
        deliver(b, i);
    b->walking = 0;
    b->done.n = b->done.used = 0;
    if (b->done.size > BUF_KEEP) {
        /* A burst of many connections at once: do not hold its peak. */
        free(b->done.buf);
        b->done.buf = NULL;
        b->done.size = 0;
    }
    if (b->cur.n == 0)
        uv_idle_stop(&b->idle);
}

static void prepare_cb(uv_prepare_t *h)
{
    cw_wbatch_flush(h->data);
}

static void check_cb(uv_check_t *h)
{
    cw_wbatch_flush(h->data);
}

static void idle_cb(uv_idle_t *h)
{
    cw_wbatch_flush(h->data);
}

struct cw_wbatch *cw_wbatch_new(uv_loop_t *loop, char *why, size_t whylen)
{
    struct cw_wbatch *b = calloc(1, sizeof(*b));
    int r;

    if (!b) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    r = io_uring_queue_init(RING_ENTRIES, &b->ring, 0);
    if (r < 0) {
        snprintf(why, whylen, "io_uring_setup: %s", strerror(-r));
        free(b);
        return NULL;
    }
    uv_prepare_init(loop, &b->prepare);
    uv_check_init(loop, &b->check);
    uv_idle_init(loop, &b->idle);
    b->prepare.data = b->check.data = b->idle.data = b;
    uv_prepare_start(&b->prepare, prepare_cb);
    uv_check_start(&b->check, check_cb);
    /* They flush; they do not keep the loop running. */
    uv_unref((uv_handle_t *)&b->prepare);
    uv_unref((uv_handle_t *)&b->check);
    uv_unref((uv_handle_t *)&b->idle);
    b->open_handles = 3;
    return b;
}

static void handle_closed(uv_handle_t *h)
{
    struct cw_wbatch *b = h->data;

    if (--b->open_handles)
        return;
    io_uring_queue_exit(&b->ring);
    free(b->cur.e);
    free(b->cur.buf);
    free(b->done.e);
    free(b->done.buf);
    free(b);
}

void cw_wbatch_free(struct cw_wbatch *b)
{
    if (!b)
        return;
    cw_wbatch_flush(b);
    uv_close((uv_handle_t *)&b->prepare, handle_closed);
    uv_close((uv_handle_t *)&b->check, handle_closed);
    uv_close((uv_handle_t *)&b->idle, handle_closed);
}

void cw_wbatch_stats(const struct cw_wbatch *b, struct cw_wbatch_stats *st)
{
    if (b)
        *st = b->st;
    else
        memset(st, 0, sizeof(*st));
}

const char *cw_wbatch_text(const struct cw_wbatch *b, const char *off, char *buf, size_t len)
{
    if (!b)
        snprintf(buf, len, "one system call each: %s", off);
    else
        snprintf(buf, len, "batched (io_uring): %llu sends in %llu system calls, %llu short",
                 (unsigned long long)(b->st.sends + b->st.settled),
                 (unsigned long long)(b->st.submits + b->st.settled),
                 (unsigned long long)b->st.short_sends);
    return buf;
}
