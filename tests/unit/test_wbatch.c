/* test_wbatch.c - common/wbatch.c on real sockets: a loop's writes to
 * Unix stream socket pairs, flushed through io_uring, read back at the
 * other ends. */
#include "test.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "common/wbatch.h"

struct end {
    int peer;                   /* the other end, read by the test */
    uv_pipe_t pipe;             /* ours, written through the batch */
    struct cw_wb wb;
    int calls, status;
    uint8_t rest[1 << 16];      /* what sent handed back */
    size_t rest_len;
    struct cw_wb *also;         /* when set: sent writes "late" to it */
};

static void on_sent(struct cw_wb *w, int status, const uint8_t *rest, size_t n)
{
    struct end *e = (struct end *)((char *)w - offsetof(struct end, wb));

    e->calls++;
    e->status = status;
    CHECK(e->rest_len + n <= sizeof(e->rest));
    if (n)
        memcpy(e->rest + e->rest_len, rest, n);
    e->rest_len += n;
    if (e->also)
        CHECK(cw_wb_send(e->also, "late", 4) >= 0);
}

/* A batched socket pair; a small one has room for a few KB only. */
static void end_open(uv_loop_t *loop, struct end *e, struct cw_wbatch *b, int small)
{
    int sv[2], sndbuf = 4096;

    memset(e, 0, sizeof(*e));
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    if (small)
        CHECK_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    e->peer = sv[1];
    CHECK_EQ(uv_pipe_init(loop, &e->pipe, 0), 0);
    CHECK_EQ(uv_pipe_open(&e->pipe, sv[0]), 0);
    cw_wb_init(&e->wb, (uv_stream_t *)&e->pipe, on_sent, b);
}

static void end_close(struct end *e)
{
    cw_wb_settle(&e->wb);
    uv_close((uv_handle_t *)&e->pipe, NULL);
    if (e->peer >= 0)
        close(e->peer);
}

/* What the peer can read now, as a string. */
static const char *drain(struct end *e)
{
    static char buf[256];
    ssize_t n = read(e->peer, buf, sizeof(buf) - 1);

    buf[n > 0 ? n : 0] = 0;
    return buf;
}

/* A new loop and its batch; batch_end runs the loop out and closes it. */
static struct cw_wbatch *batch_start(uv_loop_t *loop)
{
    char why[128];
    struct cw_wbatch *b;

    CHECK_EQ(uv_loop_init(loop), 0);
    b = cw_wbatch_new(loop, why, sizeof(why));

    if (!b)
        FAIL("no io_uring for the write batch: %s", why);
    return b;
}

static void batch_end(uv_loop_t *loop, struct cw_wbatch *b)
{
    cw_wbatch_free(b);
    CHECK_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ(uv_loop_close(loop), 0);
}

/* Two writers, three writes: one send each, one system call for both; a
 * writer's second write joins its first even with another writer's bytes
 * in between; nothing leaves before the flush. */
TEST(wbatch_joins_and_flushes_once)
{
    uv_loop_t loop;
    struct cw_wbatch *b;
    struct cw_wbatch_stats st;
    static struct end a, c;

    b = batch_start(&loop);
    end_open(&loop, &a, b, 0);
    end_open(&loop, &c, b, 0);
    CHECK_EQ(cw_wb_send(&a.wb, "ab", 2), 0);
    CHECK_EQ(cw_wb_send(&c.wb, "xy", 2), 0);
    CHECK_EQ(cw_wb_send(&a.wb, "cd", 2), 0);
    CHECK_EQ(cw_wb_pending(&a.wb), 4);
    CHECK_EQ(read(a.peer, (char[4]){ 0 }, 4), -1);   /* not sent yet */
    CHECK_EQ(errno, EAGAIN);
    cw_wbatch_flush(b);
    CHECK_EQ(cw_wb_pending(&a.wb), 0);
    CHECK_STR(drain(&a), "abcd");
    CHECK_STR(drain(&c), "xy");
    CHECK_EQ(a.calls + c.calls, 0);   /* all taken: nobody hears */
    cw_wbatch_stats(b, &st);
    CHECK_EQ(st.submits, 1);
    CHECK_EQ(st.sends, 2);
    end_close(&a);
    end_close(&c);
    batch_end(&loop, b);
}

/* A socket with little room takes part; the rest comes back, byte for byte
 * what follows what the peer got. */
TEST(wbatch_short_send_hands_back_the_rest)
{
    uv_loop_t loop;
    struct cw_wbatch *b;
    struct cw_wbatch_stats st;
    static struct end a;
    static uint8_t data[60000], got[60000];
    size_t n = 0;
    ssize_t r;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + i / 251);
    b = batch_start(&loop);
    end_open(&loop, &a, b, 1);
    CHECK_EQ(cw_wb_send(&a.wb, data, sizeof(data)), 0);
    cw_wbatch_flush(b);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.status, 0);
    CHECK(a.rest_len > 0 && a.rest_len < sizeof(data));
    while ((r = read(a.peer, got + n, sizeof(got) - n)) > 0)
        n += (size_t)r;
    CHECK_EQ(n + a.rest_len, sizeof(data));
    CHECK_MEM(got, data, n);
    CHECK_MEM(a.rest, data + n, a.rest_len);
    cw_wbatch_stats(b, &st);
    CHECK_EQ(st.short_sends, 1);
    end_close(&a);
    batch_end(&loop, b);
}

/* A socket whose peer is gone: the send's error comes back (no SIGPIPE). */
TEST(wbatch_send_error_reported)
{
    uv_loop_t loop;
    struct cw_wbatch *b;
    static struct end a;

    b = batch_start(&loop);
    end_open(&loop, &a, b, 0);
    close(a.peer);
    a.peer = -1;
    CHECK_EQ(cw_wb_send(&a.wb, "lost", 4), 0);
    cw_wbatch_flush(b);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(a.status, UV_EPIPE);
    CHECK_EQ(a.rest_len, 0);
    end_close(&a);
    batch_end(&loop, b);
}

/* Settle sends one writer's bytes at once (before its owner closes) and
 * leaves the others for the flush. */
TEST(wbatch_settle_sends_one_writer_now)
{
    uv_loop_t loop;
    struct cw_wbatch *b;
    struct cw_wbatch_stats st;
    static struct end a, c;

    b = batch_start(&loop);
    end_open(&loop, &a, b, 0);
    end_open(&loop, &c, b, 0);
    CHECK_EQ(cw_wb_send(&a.wb, "first", 5), 0);
    CHECK_EQ(cw_wb_send(&c.wb, "other", 5), 0);
    cw_wb_settle(&a.wb);
    CHECK_STR(drain(&a), "first");
    CHECK_EQ(cw_wb_pending(&a.wb), 0);
    CHECK_EQ(cw_wb_send(&a.wb, "second", 6), 0);   /* a new entry */
    cw_wbatch_flush(b);
    CHECK_STR(drain(&a), "second");
    CHECK_STR(drain(&c), "other");
    cw_wbatch_stats(b, &st);
    CHECK_EQ(st.settled, 1);
    CHECK_EQ(st.sends, 2);
    end_close(&a);
    end_close(&c);
    batch_end(&loop, b);
}

/* A callback that writes to a writer of the same flush whose own callback
 * has not run: that writer's rest is handed back first, and the new bytes
 * are refused (1) so its owner queues them behind the rest. */
TEST(wbatch_write_during_callbacks_keeps_order)
{
    uv_loop_t loop;
    struct cw_wbatch *b;
    static struct end a, c;
    static uint8_t big[60000];

    b = batch_start(&loop);
    end_open(&loop, &a, b, 1);
    end_open(&loop, &c, b, 1);
    a.also = &c.wb;
    CHECK_EQ(cw_wb_send(&a.wb, big, sizeof(big)), 0);   /* too much: a short send */
    CHECK_EQ(cw_wb_send(&c.wb, big, sizeof(big)), 0);
    cw_wbatch_flush(b);
    CHECK_EQ(a.calls, 1);
    CHECK_EQ(c.calls, 1);   /* once: early, from a's callback */
    CHECK(c.rest_len > 0);
    CHECK_EQ(cw_wb_pending(&c.wb), 0);   /* "late" was not batched */
    end_close(&a);
    end_close(&c);
    batch_end(&loop, b);
}

/* A bulk write (more than a batch holds for one writer) is not batched: the
 * writer's earlier bytes go out at once, and its owner writes this one. */
TEST(wbatch_bulk_write_not_batched)
{
    uv_loop_t loop;
    struct cw_wbatch *b;
    struct cw_wbatch_stats st;
    static struct end a;
    static uint8_t big[100000];

    b = batch_start(&loop);
    end_open(&loop, &a, b, 0);
    CHECK_EQ(cw_wb_send(&a.wb, "head", 4), 0);
    CHECK_EQ(cw_wb_send(&a.wb, big, sizeof(big)), 1);
    CHECK_EQ(cw_wb_pending(&a.wb), 0);
    CHECK_STR(drain(&a), "head");
    cw_wbatch_stats(b, &st);
    CHECK_EQ(st.settled, 1);
    end_close(&a);
    batch_end(&loop, b);
}
