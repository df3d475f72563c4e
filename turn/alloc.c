/* alloc.c - TURN allocations (RFC 8656 6), their permissions (9) and
 * channels (12): lookup by the client's 5-tuple, expiry, quotas per user,
 * and the peer-to-client direction of the relay. */
#include "turn/turn_int.h"

#include "common/addr.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t client_bucket(const struct turn_server *s, const struct turn_client *cl)
{
    uintptr_t via = cl->conn ? (uintptr_t)cl->conn : (uintptr_t)cl->ul;
    uint32_t h = cw_addr_hash(&cl->addr.sa, s->hash_seed) ^ (uint32_t)(via >> 4);

    return h % TURN_HASH_BUCKETS;
}

static int client_equal(const struct turn_client *a, const struct turn_client *b)
{
    return a->ul == b->ul && a->conn == b->conn && cw_addr_equal(&a->addr.sa, &b->addr.sa, 1);
}

struct turn_alloc *turn__alloc_find(struct turn_server *s, const struct turn_client *cl)
{
    for (struct turn_alloc *a = s->hash[client_bucket(s, cl)]; a; a = a->hnext)
        if (!a->closing && client_equal(&a->client, cl))
            return a;
    return NULL;
}

static uint32_t user_bucket(const char *name, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)name[i]) * 16777619u;
    return h % 256;
}

/* Counts one more allocation for user, unless the user's quota or the
 * relay's capacity is reached (*code 486 or 508). Called with sh->mu held. */
static struct turn_ucount *user_ref(struct turn_server *s, const char *user, size_t len,
                                    int *code)
{
    struct turn_shared *sh = s->sh;
    struct turn_ucount **head = &sh->ucounts[user_bucket(user, len)], *u;

    for (u = *head; u; u = u->next)
        if (strlen(u->name) == len && memcmp(u->name, user, len) == 0)
            break;
    if (u && s->o.max_allocations_per_user && u->n >= s->o.max_allocations_per_user) {
        *code = 486;
        return NULL;
    }
    if (sh->allocs >= s->o.max_allocations) {
        *code = 508;
        return NULL;
    }
    if (!u) {
        u = calloc(1, sizeof(*u) + len + 1);
        if (!u) {
            *code = 508;
            return NULL;
        }
        memcpy(u->name, user, len);
        u->next = *head;
        *head = u;
    }
    u->n++;
    sh->allocs++;
    return u;
}

/* Called with sh->mu held. */
static void user_unref(struct turn_shared *sh, struct turn_ucount *u)
{
    struct turn_ucount **pp;

    sh->allocs--;
    if (--u->n)
        return;
    for (pp = &sh->ucounts[user_bucket(u->name, strlen(u->name))]; *pp; pp = &(*pp)->next)
        if (*pp == u) {
            *pp = u->next;
            free(u);
            return;
        }
}

struct turn_alloc *turn__alloc_create(struct turn_server *s, const struct turn_client *cl,
                                      const char *user, size_t userlen, int *code)
{
    struct turn_alloc *a = calloc(1, sizeof(*a));
    uint32_t b;

    *code = 508;
    if (!a)
        return NULL;
    turn__lock(s->sh);
    a->user = user_ref(s, user, userlen, code);
    turn__unlock(s->sh);
    if (!a->user) {
        free(a);
        return NULL;
    }
    a->srv = s;
    a->client = *cl;
    a->fd = -1;
    b = client_bucket(s, cl);
    a->hnext = s->hash[b];
    s->hash[b] = a;
    a->next = s->allocs;
    if (s->allocs)
        s->allocs->prev = a;
    s->allocs = a;
    s->st.allocs_active++;
    s->st.allocs_total++;
    s->st.allocs_by_proto[cl->proto]++;
    return a;
}

void turn__alloc_destroy(struct turn_alloc *a, const char *why)
{
    struct turn_server *s = a->srv;
    struct turn_alloc **pp;
    char cbuf[CW_ADDR_STRLEN], rbuf[CW_ADDR_STRLEN];

    if (a->closing)
        return;
    a->closing = 1;
    if (a->fd >= 0)
        CW_INFO(TURN_LOG, "allocation %s for user \"%s\" from %s ended: %s",
                cw_addr_fmt(&a->relay.sa, rbuf, sizeof(rbuf), 1), a->user->name,
                cw_addr_fmt(&a->client.addr.sa, cbuf, sizeof(cbuf), 1), why);
    for (pp = &s->hash[client_bucket(s, &a->client)]; *pp; pp = &(*pp)->hnext)
        if (*pp == a) {
            *pp = a->hnext;
            break;
        }
    if (a->prev)
        a->prev->next = a->next;
    else
        s->allocs = a->next;
    if (a->next)
        a->next->prev = a->prev;
    s->st.allocs_active--;
    s->st.allocs_by_proto[a->client.proto]--;
    s->st.perms_active -= a->nperms;
    s->st.chans_active -= a->nchans;
    if (a->client.conn)
        turn__conn_detach_alloc(a->client.conn);
    turn__lock(s->sh);
    user_unref(s->sh, a->user);
    turn__unlock(s->sh);
    a->user = NULL;
    free(a->perms);
    free(a->chans);
    a->perms = NULL;
    a->chans = NULL;
    /* The relay port is free at once; the memory goes when the poll handle
     * has closed (turn__relay_close). */
    turn__relay_close(a);
}

static int same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    return cw_addr_equal(a, b, 0);
}

int turn__perm_add(struct turn_alloc *a, const struct sockaddr *peer, uint64_t now)
{
    uint64_t exp = now + a->srv->o.perm_lifetime * 1000ull;

    for (unsigned i = 0; i < a->nperms; i++)
        if (same_ip(&a->perms[i].peer.sa, peer)) {
            a->perms[i].expires = exp;
            return 0;
        }
    if (a->nperms >= a->srv->o.max_permissions)
        return -1;
    if (a->nperms == a->capperms) {
        unsigned cap = a->capperms ? a->capperms * 2u : 4u;
        struct turn_perm *v = realloc(a->perms, cap * sizeof(*v));
        if (!v)
            return -1;
        a->perms = v;
        a->capperms = (uint16_t)cap;
    }
    memset(&a->perms[a->nperms], 0, sizeof(a->perms[0]));
    memcpy(&a->perms[a->nperms].peer, peer, cw_addr_len(peer));
    a->perms[a->nperms].expires = exp;
    a->nperms++;
    a->srv->st.perms_active++;
    return 0;
}

int turn__perm_has(const struct turn_alloc *a, const struct sockaddr *peer, uint64_t now)
{
    for (unsigned i = 0; i < a->nperms; i++)
        if (a->perms[i].expires > now && same_ip(&a->perms[i].peer.sa, peer))
            return 1;
    return 0;
}

struct turn_chan *turn__chan_by_num(struct turn_alloc *a, uint16_t num)
{
    for (unsigned i = 0; i < a->nchans; i++)
        if (a->chans[i].num == num)
            return &a->chans[i];
    return NULL;
}

struct turn_chan *turn__chan_by_peer(struct turn_alloc *a, const struct sockaddr *peer)
{
    for (unsigned i = 0; i < a->nchans; i++)
        if (cw_addr_equal(&a->chans[i].peer.sa, peer, 1))
            return &a->chans[i];
    return NULL;
}

int turn__chan_bind(struct turn_alloc *a, uint16_t num, const struct sockaddr *peer,
                    uint64_t now, int *code)
{
    struct turn_chan *byn = turn__chan_by_num(a, num);
    struct turn_chan *byp = turn__chan_by_peer(a, peer);
    uint64_t exp = now + a->srv->o.channel_lifetime * 1000ull;

    /* RFC 8656 12.2: a channel number is bound to one peer and a peer to one
     * channel, also during the 5 minutes after the binding expired. */
    if (byn != byp) {
        *code = 400;
        return -1;
    }
    if (byn) {
        byn->expires = exp;
        return 0;
    }
    if (a->nchans >= a->srv->o.max_channels) {
        *code = 508;
        return -1;
    }
    if (a->nchans == a->capchans) {
        unsigned cap = a->capchans ? a->capchans * 2u : 4u;
        struct turn_chan *v = realloc(a->chans, cap * sizeof(*v));
        if (!v) {
            *code = 508;
            return -1;
        }
        a->chans = v;
        a->capchans = (uint16_t)cap;
    }
    memset(&a->chans[a->nchans], 0, sizeof(a->chans[0]));
    memcpy(&a->chans[a->nchans].peer, peer, cw_addr_len(peer));
    a->chans[a->nchans].num = num;
    a->chans[a->nchans].expires = exp;
    a->nchans++;
    a->srv->st.chans_active++;
    return 0;
}

/* Drops expired permissions and channels past their cool-down. */
static void alloc_expire_parts(struct turn_alloc *a, uint64_t now)
{
    unsigned i = 0;

    while (i < a->nperms) {
        if (a->perms[i].expires <= now) {
            a->perms[i] = a->perms[--a->nperms];
            a->srv->st.perms_active--;
        } else {
            i++;
        }
    }
    i = 0;
    while (i < a->nchans) {
        if (a->chans[i].expires + TURN_CHANNEL_COOLDOWN_S * 1000ull <= now) {
            a->chans[i] = a->chans[--a->nchans];
            a->srv->st.chans_active--;
        } else {
            i++;
        }
    }
}

void turn__alloc_sweep(struct turn_server *s, uint64_t now)
{
    struct turn_alloc *a = s->allocs, *next;

    for (; a; a = next) {
        next = a->next;
        if (a->expires <= now)
            turn__alloc_destroy(a, "lifetime expired");
        else if (a->nperms || a->nchans)
            alloc_expire_parts(a, now);
    }
    if (s->idx == 0) {              /* reservations are the relay's, not a worker's */
        turn__lock(s->sh);
        turn__ports_sweep(&s->sh->ports4, now);
        turn__ports_sweep(&s->sh->ports6, now);
        turn__unlock(s->sh);
    }
}

/* Builds the frame for the client: ChannelData when a live channel is bound
 * to the peer, else a Data indication when a permission exists (RFC 8656
 * 11.6, 12.6); nothing otherwise. Returns the length written into out, 0 to
 * drop. */
static size_t frame_to_client(struct turn_alloc *a, const struct sockaddr *peer,
                              const uint8_t *p, size_t n, uint8_t *out, size_t cap,
                              uint64_t now)
{
    struct turn_chan *ch = a->nchans ? turn__chan_by_peer(a, peer) : NULL;
    struct stun_enc e;
    uint8_t tid[STUN_TID_LEN];
    union turn_sa shown;
    uint64_t ctr;

    if (ch && ch->expires > now) {
        if (n + 4 > cap)
            return 0;
        turn_channeldata_header(out, ch->num, (uint16_t)n);
        memcpy(out + 4, p, n);
        return n + 4;
    }
    if (!turn__perm_has(a, peer, now))
        return 0;
    /* Indications need a fresh transaction id: a random per-server prefix
     * and a counter give uniqueness, which is all that matters. */
    ctr = ++a->srv->tid_ctr;
    memcpy(tid, a->srv->tid_prefix, 4);
    memcpy(tid + 4, &ctr, 8);
    turn__peer_outward(a->srv, peer, &shown);
    stun_enc_start(&e, out, cap, TURN_DATA, STUN_INDICATION, tid);
    stun_enc_xaddr(&e, TURN_A_XOR_PEER_ADDRESS, &shown.sa);
    stun_enc_attr(&e, TURN_A_DATA, p, n);
    return stun_enc_finish(&e);
}

void turn__alloc_from_peer(struct turn_alloc *a, const struct sockaddr *peer,
                           const uint8_t *p, size_t n)
{
    struct turn_server *s = a->srv;
    uint64_t now = turn__now(s);
    size_t len;

    if (a->client.conn) {
        uint8_t buf[TURN_PKT_MAX + 64];
        len = frame_to_client(a, peer, p, n, buf, sizeof(buf), now);
        if (!len || turn__conn_send(a->client.conn, buf, len) < 0)
            goto drop;
    } else {
        uint8_t *slot;
        if (n + 64 > TURN_PKT_MAX)
            goto drop;             /* larger than any client MTU: RFC 8656 11.6 */
        slot = turn__udp_slot(a->client.ul, &a->client.addr.sa);
        len = frame_to_client(a, peer, p, n, slot, TURN_PKT_MAX, now);
        if (!len)
            goto drop;
        turn__udp_commit(a->client.ul, len);
    }
    a->pkts_to_client++;
    a->bytes_to_client += n;
    s->st.pkts_to_client++;
    s->st.bytes_to_client += n;
    return;
drop:
    s->st.dropped++;
}
