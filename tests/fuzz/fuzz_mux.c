/* fuzz_mux.c - libFuzzer harness for the tunnel link engine (common/mux.c),
 * the parser of what an edge sends a core and a core sends back. The first
 * input byte picks the side and the consumer's habits; the rest is fed in
 * pieces whose sizes come from the input too. Callbacks use every call a
 * real owner makes (answering, crediting, ending, releasing), so stream
 * lifetimes are exercised along with the framing; ASan and the engine's own
 * bookkeeping must hold whatever the bytes are. */
#include "common/mux.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned habits;

static int on_open(struct cw_mux_stream *s, void *arg)
{
    (void)arg;
    /* As the core does: a service it does not know is refused. */
    if (cw_mux_stream_service(s) > CW_MUX_SVC_XMPP)
        return CW_MUX_RST_CONNECT;
    if ((habits & 1) && cw_mux_stream_id(s) % 5 == 0)
        return CW_MUX_RST_CONNECT;
    return 0;
}

static void on_data(struct cw_mux_stream *s, const uint8_t *p, size_t n)
{
    if (habits & 2)
        cw_mux_consumed(s, n);
    if ((habits & 4) && n)
        (void)cw_mux_send(s, p, n);     /* echo */
    if ((habits & 8) && n && p[0] == 'R')
        cw_mux_release(s, CW_MUX_RST_ERROR);
}

static void on_fin(struct cw_mux_stream *s)
{
    cw_mux_fin(s);
    if (habits & 16)
        cw_mux_release(s, 0);
}

static void on_reset(struct cw_mux_stream *s, uint32_t code)
{
    (void)code;
    cw_mux_release(s, 0);
}

static void on_writable(struct cw_mux_stream *s)
{
    (void)cw_mux_send(s, "w", 1);
}

static const struct cw_mux_cbs cbs = {
    .on_open = on_open, .on_data = on_data, .on_fin = on_fin, .on_reset = on_reset,
    .on_writable = on_writable,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cw_mux *m;
    size_t off = 1, k, n;
    int opener;

    if (size < 2)
        return 0;
    habits = data[0];
    opener = (habits & 32) != 0;
    m = cw_mux_create(opener, &cbs, NULL);
    if (!m)
        return 0;
    /* Without the preface everything stops at once: usually give it. */
    if (!(habits & 64))
        (void)cw_mux_feed(m, (const uint8_t *)CW_MUX_PREFACE, CW_MUX_PREFACE_LEN);
    if (opener) {
        (void)cw_mux_open(m, NULL);
        (void)cw_mux_open(m, NULL);
        (void)cw_mux_open_service(m, CW_MUX_SVC_XMPP, NULL);
    }
    while (off < size) {
        k = 1 + data[off] % 64;
        off++;
        if (k > size - off)
            k = size - off;
        if (cw_mux_feed(m, data + off, k) < 0)
            break;
        off += k;
        if (cw_mux_out(m, &n) && (habits & 128))
            cw_mux_out_done(m, n / 2 + 1);
    }
    cw_mux_destroy(m);
    return 0;
}
