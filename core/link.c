/* link.c - a forwarded channel that carries a link from the edge (its web
 * proxy's, or its federation gateway's: common/mux.h): many connections to
 * the target over one channel (a federation stream's target is the node's
 * XMPP link-listen, splice.c).
 *
 * The channel's splice (splice.c) stays the unit the tunnel pumps: it reads
 * the channel into link__feed() and writes what link__out() holds. Each
 * stream the edge opens becomes a splice of its own, joined to its own
 * connection to the target (the guest account client URI, as for a plain
 * forwarded connection); those move in their callbacks, never in the pump.
 * Frames that the streams queue during a loop turn go into the channel on
 * the next pump (on_output asks for one), so they share SSH packets. */
#include "core/tunnel_int.h"

#include "common/log.h"

#include <stdlib.h>

static struct splice *splice_of(struct cw_mux_stream *ms)
{
    return cw_mux_stream_data(ms);
}

static int on_open(struct cw_mux_stream *ms, void *arg)
{
    return splice__stream_start(arg, ms);
}

static void on_data(struct cw_mux_stream *ms, const uint8_t *p, size_t n)
{
    splice__stream_data(splice_of(ms), p, n);
}

static void on_fin(struct cw_mux_stream *ms)
{
    splice__stream_fin(splice_of(ms));
}

static void on_reset(struct cw_mux_stream *ms, uint32_t code)
{
    struct splice *s = splice_of(ms);

    if (code != CW_MUX_RST_CANCEL && code != CW_MUX_RST_LOST)
        CW_DEBUG("tunnel", "link stream %u reset by the edge (code %u)", cw_mux_stream_id(ms),
                 code);
    splice__stream_reset(s);
}

static void on_writable(struct cw_mux_stream *ms)
{
    splice__stream_writable(splice_of(ms));
}

static void on_output(struct cw_mux *m, void *arg)
{
    struct core_link *l = arg;

    (void)m;
    tunnel__kick(l->s->t);
}

static const struct cw_mux_cbs link_cbs = {
    .on_open = on_open,
    .on_data = on_data,
    .on_fin = on_fin,
    .on_reset = on_reset,
    .on_writable = on_writable,
    .on_output = on_output,
};

int link__start(struct splice *s)
{
    struct core_link *l = calloc(1, sizeof(*l));

    if (!l || !(l->mux = cw_mux_create(0, &link_cbs, l))) {
        free(l);
        CW_ERROR("tunnel", "out of memory for a link from the edge");
        return -1;
    }
    l->s = s;
    s->link = l;
    s->t->links++;
    CW_INFO("tunnel", "tunnel to %s: the edge opened a link (connections multiplexed on one "
            "channel)", s->t->target);
    return 0;
}

void link__feed(struct splice *s, const uint8_t *p, size_t n)
{
    struct core_link *l = s->link;
    int rc;

    if (!l || s->failed)
        return;
    rc = cw_mux_feed(l->mux, p, n);
    if (rc < 0) {
        CW_WARN("tunnel", "tunnel to %s: closing the edge's link: %s", s->t->target,
                cw_mux_why(l->mux));
        s->failed = 1;
    }
}

const uint8_t *link__out(struct splice *s, size_t *n)
{
    return cw_mux_out(s->link->mux, n);
}

void link__out_done(struct splice *s, size_t n)
{
    cw_mux_out_done(s->link->mux, n);
}

void link__end(struct splice *s)
{
    struct core_link *l = s->link;

    if (!l)
        return;
    s->link = NULL;
    cw_mux_destroy(l->mux);     /* each stream hears CW_MUX_RST_LOST and lets go */
    free(l);
}
