/* turn.c - one worker's TURN server: options, start-up (listeners, the
 * receive batch), the expiry sweep, the flush after each loop iteration's
 * I/O, and shutdown. relay.c makes one per worker. */
#include "turn/turn_int.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MS 1000

void turn_options_init(struct turn_options *o)
{
    memset(o, 0, sizeof(*o));
    o->port_min = 24000;
    o->port_max = 29999;
    o->realm = "causeway";
    o->lifetime_default = 600;     /* RFC 8656 7.2 */
    o->lifetime_max = 3600;
    o->perm_lifetime = 300;        /* RFC 8656 9 */
    o->channel_lifetime = 600;     /* RFC 8656 12 */
    o->nonce_lifetime = 600;
    o->max_allocations_per_user = 0;
    o->max_permissions = 64;
    o->max_channels = 64;
    o->auth_fail_limit = 20;
    o->auth_fail_window = 60;
    o->max_tcp_clients = 10000;
    o->software = 1;
}

static void on_sweep(uv_timer_t *t)
{
    struct turn_server *s = t->data;
    uint64_t now = turn__now(s);

    turn__alloc_sweep(s, now);
    turn__conn_sweep(s, now);
}

/* After every loop iteration's I/O: send what was queued to clients. */
static void on_check(uv_check_t *c)
{
    turn__relay_flush(c->data);
    turn__udp_flush_all(c->data);
}

static void server_free(struct turn_server *s)
{
    void (*cb)(void *) = s->close_cb;
    void *arg = s->close_arg;

    free(s->rx_buf);
    free(s->peerq);
    free(s);
    if (cb)
        cb(arg);
}

void turn__server_maybe_free(struct turn_server *s)
{
    if (s->closing && s->pending_closes == 0 && !s->conns)
        server_free(s);
}

void turn__handle_close_pending(struct turn_server *s)
{
    s->pending_closes--;
    turn__server_maybe_free(s);
}

static void handle_closed(uv_handle_t *h)
{
    turn__handle_close_pending(h->data);
}

void turn__server_close(struct turn_server *s, void (*cb)(void *), void *arg)
{
    s->closing = 1;
    s->close_cb = cb;
    s->close_arg = arg;
    turn__relay_flush(s);
    while (s->allocs)
        turn__alloc_destroy(s->allocs, "server shutting down");
    turn__udp_flush_all(s);
    for (int i = 0; i < s->nudp; i++)
        turn__udp_close(s->udp[i]);
    s->nudp = 0;
    turn__tcp_close_all(s);
    s->pending_closes += 2;
    uv_close((uv_handle_t *)&s->sweep, handle_closed);
    uv_close((uv_handle_t *)&s->flush, handle_closed);
}

struct turn_server *turn__server_create(uv_loop_t *loop, const struct turn_options *o,
                                        struct turn_shared *sh, unsigned idx, char *err,
                                        size_t errlen)
{
    struct turn_server *s = calloc(1, sizeof(*s));

    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->o = *o;
    s->sh = sh;
    s->idx = idx;
    s->hash_seed = sh->hash_seed;
    uv_timer_init(loop, &s->sweep);
    uv_check_init(loop, &s->flush);
    s->sweep.data = s->flush.data = s;
    s->rx_buf = calloc(TURN_UDP_BATCH, TURN_PKT_MAX);
    s->peerq = calloc(1, sizeof(*s->peerq));
    if (!s->rx_buf || !s->peerq) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (RAND_bytes(s->tid_prefix, sizeof(s->tid_prefix)) != 1) {
        snprintf(err, errlen, "no randomness from OpenSSL");
        goto fail;
    }
    for (int i = 0; i < s->o.nlisten; i++)
        if (turn__udp_listen(s, (struct sockaddr *)&s->o.listen[i], err, errlen) < 0 ||
            turn__tcp_listen(s, (struct sockaddr *)&s->o.listen[i], 0, err, errlen) < 0)
            goto fail;
    for (int i = 0; i < s->o.ntls_listen; i++)
        if (!s->o.tls ||
            turn__tcp_listen(s, (struct sockaddr *)&s->o.tls_listen[i], 1, err, errlen) < 0) {
            if (!s->o.tls)
                snprintf(err, errlen, "TLS listener without a certificate");
            goto fail;
        }
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_check_start(&s->flush, on_check);
    return s;
fail:
    /* The loop frees the rest when the handles have closed. */
    turn__server_close(s, NULL, NULL);
    return NULL;
}
