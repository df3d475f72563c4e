/* server.c - TURN request handling: Binding, Allocate, Refresh,
 * CreatePermission, ChannelBind, Send indications and ChannelData from
 * clients (RFC 8656 over RFC 8489), with long-term and REST credentials. */
#include "turn/turn_int.h"

#include "common/addr.h"
#include "common/log.h"
#include "turn/policy.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#define RESP_MAX 1024

/* One request being answered. */
struct req {
    struct turn_server *s;
    const struct turn_client *cl;
    const struct stun_msg *m;
    uint64_t now;
    int authed;                     /* responses carry integrity */
    int sha256;                     /* ... MESSAGE-INTEGRITY-SHA256 */
    struct turn_key key;
    const uint8_t *mikey;           /* the key that checked, for responses */
    size_t mikeylen;
    const char *user;               /* USERNAME as sent */
    size_t userlen;
    const char *qname;              /* the name quotas and status count: */
    size_t qnamelen;                /* ... USERNAME, or a REST name's part after ':' */
};

static const char *proto_name(uint8_t proto)
{
    return proto == TURN_TLS ? "tls" : proto == TURN_TCP ? "tcp" : "udp";
}

void turn__client_send(struct turn_server *s, const struct turn_client *cl, const uint8_t *p,
                       size_t n)
{
    if (cl->conn) {
        if (turn__conn_send(cl->conn, p, n) < 0)
            s->st.dropped++;
        return;
    }
    memcpy(turn__udp_slot(cl->ul, &cl->addr.sa), p, n);
    turn__udp_commit(cl->ul, n);
}

static void resp_start(struct req *r, struct stun_enc *e, uint8_t *buf, uint8_t cls)
{
    stun_enc_start(e, buf, RESP_MAX, r->m->method, cls, r->m->tid);
}

/* SOFTWARE, integrity and FINGERPRINT, then send. */
static void resp_send(struct req *r, struct stun_enc *e)
{
    static const char software[] = "Causeway";
    size_t n;

    if (r->s->o.software)
        stun_enc_attr(e, STUN_A_SOFTWARE, software, sizeof(software) - 1);
    if (r->authed) {
        if (r->sha256)
            stun_enc_integrity_sha256(e, r->mikey, r->mikeylen);
        else
            stun_enc_integrity(e, r->mikey, r->mikeylen);
    }
    if (r->m->i_fp >= 0)
        stun_enc_fingerprint(e);
    n = stun_enc_finish(e);
    if (n)
        turn__client_send(r->s, r->cl, e->w.data, n);
}

static void send_error(struct req *r, int code)
{
    struct stun_enc e;
    uint8_t buf[RESP_MAX];
    char cb[CW_ADDR_STRLEN];

    CW_DEBUG(TURN_LOG, "%d %s to method 0x%03x from %s", code, stun_reason(code),
             r->m->method, cw_addr_fmt(&r->cl->addr.sa, cb, sizeof(cb), 1));
    resp_start(r, &e, buf, STUN_ERROR);
    stun_enc_error(&e, code, NULL);
    resp_send(r, &e);
}

/* 401 and 438 carry REALM and a fresh NONCE bound to the client. */
static void send_challenge(struct req *r, int code)
{
    struct stun_enc e;
    uint8_t buf[RESP_MAX];
    char nonce[TURN_NONCE_LEN + 1];

    turn_nonce_make(r->s->sh->nonce_secret, &r->cl->addr.sa,
                    (uint64_t)time(NULL) + r->s->o.nonce_lifetime, nonce);
    r->authed = 0;
    resp_start(r, &e, buf, STUN_ERROR);
    stun_enc_error(&e, code, NULL);
    stun_enc_attr(&e, STUN_A_REALM, r->s->o.realm, strlen(r->s->o.realm));
    stun_enc_attr(&e, STUN_A_NONCE, nonce, TURN_NONCE_LEN);
    resp_send(r, &e);
}

/* ---- failed authentications per source address --------------------------- */

/* The table is 4-way set associative under a secret hash seed: an
 * attacker cannot pick source addresses that evict each other's counts. */
static uint32_t user_hash(const struct turn_server *s, const char *user, size_t len)
{
    uint32_t h = s->sh->hash_seed ^ 2166136261u;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)user[i]) * 16777619u;
    return h;
}

/* Failures are counted per source IP and user name: a client guessing one
 * user's password is stopped, while other users behind the same NAT go on.
 * The table is the relay's (a client's requests may reach several workers
 * from several ports): called with sh->mu held. */
static struct turn_authfail *authfail_find(struct turn_server *s, const struct req *r,
                                           int create)
{
    const struct sockaddr *src = &r->cl->addr.sa;
    uint32_t uh = user_hash(s, r->qname, r->qnamelen);
    uint64_t now = r->now;
    union turn_sa ip;
    struct turn_authfail *set, *victim;
    uint64_t window = s->o.auth_fail_window * 1000ull;

    memcpy(&ip, src, cw_addr_len(src));
    cw_addr_set_port(&ip.sa, 0);
    set = &s->sh->authfail[((cw_addr_hash(&ip.sa, s->sh->hash_seed) ^ uh) %
                            (TURN_AUTHFAIL_SLOTS / 4)) * 4];
    victim = &set[0];
    for (int i = 0; i < 4; i++) {
        if (set[i].count && set[i].user_hash == uh && cw_addr_equal(&set[i].src.sa, src, 0)) {
            if (now - set[i].window_start < window)
                return &set[i];
            victim = &set[i];     /* its window is over: start a new one */
            break;
        }
        if (set[i].window_start < victim->window_start)
            victim = &set[i];
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    memcpy(&victim->src, src, cw_addr_len(src));
    victim->user_hash = uh;
    victim->window_start = now;
    return victim;
}

static int authfail_limited(struct turn_server *s, const struct req *r)
{
    struct turn_authfail *f;
    unsigned count = 0;
    int first = 0;

    if (!s->o.auth_fail_window)
        return 0;
    turn__lock(s->sh);
    f = authfail_find(s, r, 0);
    if (f && f->count >= s->o.auth_fail_limit) {
        count = f->count;
        first = !f->logged;
        f->logged = 1;
    }
    turn__unlock(s->sh);
    if (!count)
        return 0;
    if (first) {
        char buf[CW_ADDR_STRLEN];
        CW_WARN(TURN_LOG, "too many failed authentications for user \"%.*s\" from %s (%u in "
                "%us): ignoring its requests for the rest of the window", (int)r->qnamelen,
                r->qname, cw_addr_fmt(&r->cl->addr.sa, buf, sizeof(buf), 0), count,
                s->o.auth_fail_window);
    }
    s->st.auth_ratelimited++;
    return 1;
}

static void authfail_count(struct turn_server *s, const struct req *r)
{
    s->st.auth_failures++;
    if (!s->o.auth_fail_window)
        return;
    turn__lock(s->sh);
    authfail_find(s, r, 1)->count++;
    turn__unlock(s->sh);
}

/* ---- long-term credentials (RFC 8489 9.2.4) ------------------------------- */

static void auth_fail_log(struct req *r, int code, const char *what)
{
    char buf[CW_ADDR_STRLEN];

    CW_WARN(TURN_LOG, "%d for user \"%.*s\" realm \"%s\" from %s: %s", code, (int)r->userlen,
            r->user, r->s->o.realm, cw_addr_fmt(&r->cl->addr.sa, buf, sizeof(buf), 1), what);
}

/* Returns 0 when the request is authenticated (r->key set); otherwise the
 * answer (401, 438, 400) has been sent or the request dropped. */
static int auth_check(struct req *r)
{
    const struct stun_msg *m = r->m;
    struct turn_server *s = r->s;
    const struct stun_attr *au, *an;
    const struct turn_key *k = NULL;
    struct turn_shared *sh = s->sh;
    char user[TURN_NAME_MAX + 1];
    int64_t expiry = 0;
    int rc, rest = 0;

    if (m->i_mi < 0 && m->i_mi256 < 0) {
        send_challenge(r, 401);               /* the usual first round trip */
        return -1;
    }
    au = stun_msg_find(m, STUN_A_USERNAME);
    an = stun_msg_find(m, STUN_A_NONCE);
    if (!au || !an || !stun_msg_find(m, STUN_A_REALM) || au->len > TURN_NAME_MAX) {
        send_error(r, 400);
        return -1;
    }
    memcpy(user, stun_attr_value(m, au), au->len);
    user[au->len] = 0;
    r->user = (const char *)stun_attr_value(m, au);
    r->userlen = au->len;
    if (memchr(user, 0, au->len)) {
        send_error(r, 400);
        return -1;
    }
    /* A local user of that exact name wins; otherwise a REST-form name
     * ("expiry:name") is checked against the shared secret, and quotas and
     * the failed-auth limit count the guest ("name"), not each credential. */
    r->qname = r->user;
    r->qnamelen = r->userlen;
    turn__lock(sh);                 /* a reload may swap the users and the secret */
    if (sh->users && (k = turn_userdb_find(sh->users, user, au->len, s->o.realm)) != NULL) {
        r->key = *k;
        k = &r->key;
    } else if (sh->rest_secret_len && turn_rest_expiry(user, au->len, &expiry) == 0) {
        const char *colon = memchr(user, ':', au->len);
        rest = 1;
        if (colon && colon + 1 < user + au->len) {
            r->qname = r->user + (colon + 1 - user);
            r->qnamelen = au->len - (size_t)(colon + 1 - user);
        }
        turn_rest_key(sh->rest_secret, sh->rest_secret_len, user, au->len, s->o.realm,
                      &r->key);
    }
    turn__unlock(sh);
    if (authfail_limited(s, r))
        return -1;
    rc = turn_nonce_check(sh->nonce_secret, &r->cl->addr.sa, stun_attr_value(m, an), an->len,
                          (uint64_t)time(NULL));
    if (rc != TURN_NONCE_OK) {
        char buf[CW_ADDR_STRLEN];
        s->st.stale_nonces++;
        CW_INFO(TURN_LOG, "438 for user \"%s\" from %s: %s", user,
                cw_addr_fmt(&r->cl->addr.sa, buf, sizeof(buf), 1),
                rc == TURN_NONCE_STALE ? "stale nonce (expired; client will retry)"
                                       : "nonce not issued to this client address");
        send_challenge(r, 438);
        return -1;
    }
    if (rest) {
        if (expiry <= (int64_t)time(NULL)) {
            auth_fail_log(r, 401, "REST credential expired (check the clocks of the "
                                  "webbridge and the edge)");
            authfail_count(s, r);
            send_challenge(r, 401);
            return -1;
        }
        k = &r->key;
    }
    if (!k) {
        auth_fail_log(r, 401, "unknown user");
        authfail_count(s, r);
        send_challenge(r, 401);
        return -1;
    }
    /* PASSWORD-ALGORITHM SHA-256 selects the SHA-256 key (RFC 8489 14.12);
     * without it MESSAGE-INTEGRITY-SHA256 is keyed with the MD5 key. */
    if (m->i_mi256 >= 0) {
        const struct stun_attr *pa = stun_msg_find(m, STUN_A_PASSWORD_ALGORITHM);
        const uint8_t *v = pa ? stun_attr_value(m, pa) : NULL;
        int use256 = v && pa->len >= 2 && v[0] == 0 && v[1] == 2;
        r->mikey = use256 ? r->key.sha256 : r->key.md5;
        r->mikeylen = use256 ? sizeof(r->key.sha256) : sizeof(r->key.md5);
        r->sha256 = 1;
    } else {
        r->mikey = r->key.md5;
        r->mikeylen = sizeof(r->key.md5);
    }
    rc = stun_msg_check_integrity(m, r->mikey, r->mikeylen, r->sha256);
    if (rc != 0) {
        auth_fail_log(r, 401, "integrity check failed (wrong password?)");
        authfail_count(s, r);
        send_challenge(r, 401);
        return -1;
    }
    r->authed = 1;
    return 0;
}

/* The allocation of this 5-tuple, checked against the request's user:
 * 437 without one, 441 for another user (RFC 8656 5). */
static struct turn_alloc *req_alloc(struct req *r)
{
    struct turn_alloc *a = turn__alloc_find(r->s, r->cl);

    if (!a) {
        send_error(r, 437);
        return NULL;
    }
    if (strlen(a->user->name) != r->qnamelen || memcmp(a->user->name, r->qname, r->qnamelen)) {
        send_error(r, 441);
        return NULL;
    }
    return a;
}

/* LIFETIME as RFC 8656 7.2/8 computes it: absent gives the default, 0 stays
 * 0 (delete), others are capped at the maximum and raised to the default. */
static unsigned lifetime_of(struct req *r)
{
    const struct stun_attr *la = stun_msg_find(r->m, TURN_A_LIFETIME);
    uint32_t v = 0;
    const struct turn_options *o = &r->s->o;

    if (!la || stun_attr_u32(r->m, la, &v) < 0)
        return o->lifetime_default;
    if (v == 0)
        return 0;
    if (v > o->lifetime_max)
        v = o->lifetime_max;
    return v < o->lifetime_default ? o->lifetime_default : v;
}

static const char *peer_str(const struct sockaddr *sa, char *buf, size_t len)
{
    return cw_addr_fmt(sa, buf, len, 1);
}

/* Another allocation on this server: the relay address with a port of the
 * relay range. Two browsers that both force relay through one edge talk
 * this way, so it is allowed although the address is the edge's own. */
static int is_own_relay(const struct turn_server *s, const struct sockaddr *peer)
{
    const struct sockaddr *relay = peer->sa_family == AF_INET6 ? (const void *)&s->o.relay6
                                                                : (const void *)&s->o.relay4;
    int has = peer->sa_family == AF_INET6 ? s->o.has_relay6 : s->o.has_relay4;
    uint16_t port = cw_addr_port(peer);

    return has && port >= s->o.port_min && port <= s->o.port_max &&
           cw_addr_equal(peer, relay, 0);
}

/* Static NAT: a peer that names another allocation by its public address
 * (as its client was told) is that allocation's relay address; relaying to
 * the public address would need the NAT to hairpin. */
static void peer_inward(const struct turn_server *s, struct sockaddr_storage *peer)
{
    int v6 = peer->ss_family == AF_INET6;
    const struct sockaddr *pub = v6 ? (const void *)&s->o.public6 : (const void *)&s->o.public4;
    uint16_t port = cw_addr_port((struct sockaddr *)peer);

    if ((v6 ? s->o.has_public6 && s->o.has_relay6 : s->o.has_public4 && s->o.has_relay4) &&
        port >= s->o.port_min && port <= s->o.port_max &&
        cw_addr_equal((struct sockaddr *)peer, pub, 0)) {
        memcpy(peer, v6 ? &s->o.relay6 : &s->o.relay4, sizeof(union turn_sa));
        cw_addr_set_port((struct sockaddr *)peer, port);
    }
}

void turn__peer_outward(const struct turn_server *s, const struct sockaddr *peer,
                        union turn_sa *out)
{
    memcpy(out, peer, cw_addr_len(peer));
    if (is_own_relay(s, peer) &&
        (peer->sa_family == AF_INET6 ? s->o.has_public6 : s->o.has_public4)) {
        memcpy(out, peer->sa_family == AF_INET6 ? &s->o.public6 : &s->o.public4, sizeof(*out));
        cw_addr_set_port(&out->sa, cw_addr_port(peer));
    }
}

/* The peer policy, with this server's own relays let through. */
static int peer_allowed(const struct turn_server *s, const struct sockaddr *peer,
                        const char **why)
{
    return is_own_relay(s, peer) ? 0 : turn_policy_check(s->o.policy, peer, why);
}

/* Peer checks shared by CreatePermission, ChannelBind and Send: family of
 * the relay (443) and policy (403, logged). Returns 0 or the error code. */
static int peer_check(struct req *r, struct turn_alloc *a, const struct sockaddr *peer)
{
    const char *why;
    char pb[CW_ADDR_STRLEN], cb[CW_ADDR_STRLEN];

    if (peer->sa_family != a->relay.sa.sa_family)
        return 443;
    if (peer_allowed(r->s, peer, &why) == 0)
        return 0;
    r->s->st.peer_denied++;
    CW_WARN(TURN_LOG, "403 for user \"%s\" from %s: peer %s refused (%s)", a->user->name,
            cw_addr_fmt(&r->cl->addr.sa, cb, sizeof(cb), 1), peer_str(peer, pb, sizeof(pb)),
            why);
    return 403;
}

/* ---- Binding (RFC 8489 3) --------------------------------------------------- */

static void on_binding(struct req *r)
{
    struct stun_enc e;
    uint8_t buf[RESP_MAX];

    r->s->st.bindings++;
    resp_start(r, &e, buf, STUN_SUCCESS);
    stun_enc_xaddr(&e, STUN_A_XOR_MAPPED_ADDRESS, &r->cl->addr.sa);
    resp_send(r, &e);
}

/* ---- Allocate (RFC 8656 7.2) ---------------------------------------------- */

static void allocate_reply(struct req *r, struct turn_alloc *a, const uint8_t *token,
                           int addr_error)
{
    struct turn_server *s = r->s;
    struct stun_enc e;
    uint8_t buf[RESP_MAX];
    union turn_sa adv = a->relay;
    int v6 = a->relay.sa.sa_family == AF_INET6;

    /* Static NAT: advertise the public address, with the relay's port. */
    if (v6 ? s->o.has_public6 : s->o.has_public4) {
        memcpy(&adv, v6 ? &s->o.public6 : &s->o.public4, sizeof(adv));
        cw_addr_set_port(&adv.sa, cw_addr_port(&a->relay.sa));
    }
    resp_start(r, &e, buf, STUN_SUCCESS);
    stun_enc_xaddr(&e, TURN_A_XOR_RELAYED_ADDRESS, &adv.sa);
    stun_enc_u32(&e, TURN_A_LIFETIME, (uint32_t)((a->expires - r->now + 500) / 1000));
    if (token)
        stun_enc_attr(&e, TURN_A_RESERVATION_TOKEN, token, 8);
    if (addr_error) {
        uint8_t ae[4 + 28];
        /* ADDRESS-ERROR-CODE (RFC 8656 18.13): family, reserved, class,
         * number, reason. */
        ae[0] = STUN_FAMILY_IPV6;
        ae[1] = 0;
        ae[2] = (uint8_t)(addr_error / 100);
        ae[3] = (uint8_t)(addr_error % 100);
        memcpy(ae + 4, "Address Family not Supported", 28);
        stun_enc_attr(&e, TURN_A_ADDRESS_ERROR_CODE, ae, 32);
    }
    stun_enc_xaddr(&e, STUN_A_XOR_MAPPED_ADDRESS, &r->cl->addr.sa);
    resp_send(r, &e);
}

static void on_allocate(struct req *r)
{
    struct turn_server *s = r->s;
    const struct stun_msg *m = r->m;
    const struct stun_attr *rt, *ep, *tok, *raf, *aaf;
    struct turn_alloc *a;
    struct turn_shared *sh = s->sh;
    struct turn_ports *ports;
    uint8_t token[8];
    int family = AF_INET, port = -1, even = 0, reserve = 0, addr_error = 0, code;
    unsigned lifetime;
    char cb[CW_ADDR_STRLEN], rb[CW_ADDR_STRLEN];

    a = turn__alloc_find(s, r->cl);
    if (a) {
        /* A retransmission of the Allocate that made it is answered again. */
        if (!memcmp(a->tid, m->tid, STUN_TID_LEN) && strlen(a->user->name) == r->qnamelen &&
            !memcmp(a->user->name, r->qname, r->qnamelen))
            allocate_reply(r, a, a->has_token ? a->token : NULL, a->addr_error);
        else
            send_error(r, 437);
        return;
    }
    rt = stun_msg_find(m, TURN_A_REQUESTED_TRANSPORT);
    if (!rt || rt->len != 4) {
        send_error(r, 400);
        return;
    }
    if (stun_attr_value(m, rt)[0] != IPPROTO_UDP) {
        send_error(r, 442);
        return;
    }
    ep = stun_msg_find(m, TURN_A_EVEN_PORT);
    tok = stun_msg_find(m, TURN_A_RESERVATION_TOKEN);
    raf = stun_msg_find(m, TURN_A_REQUESTED_ADDRESS_FAMILY);
    aaf = stun_msg_find(m, TURN_A_ADDITIONAL_ADDRESS_FAMILY);
    if ((tok && (ep || raf || aaf)) || (raf && aaf) || (ep && ep->len < 1) ||
        (tok && tok->len != 8)) {
        send_error(r, 400);
        return;
    }
    if (raf) {
        const uint8_t *v = stun_attr_value(m, raf);
        if (raf->len != 4 || (v[0] != STUN_FAMILY_IPV4 && v[0] != STUN_FAMILY_IPV6)) {
            send_error(r, raf->len != 4 ? 400 : 440);
            return;
        }
        family = v[0] == STUN_FAMILY_IPV6 ? AF_INET6 : AF_INET;
    }
    if (aaf) {
        const uint8_t *v = stun_attr_value(m, aaf);
        if (aaf->len != 4 || v[0] != STUN_FAMILY_IPV6) {
            send_error(r, 400);
            return;
        }
        addr_error = 440;   /* dual allocation is not offered: IPv4 only */
    }
    if (family == AF_INET6 ? !s->o.has_relay6 : !s->o.has_relay4) {
        send_error(r, 440);
        return;
    }
    ports = family == AF_INET6 ? &sh->ports6 : &sh->ports4;
    if (ep) {
        even = 1;
        reserve = (stun_attr_value(m, ep)[0] & 0x80) != 0;
    }
    a = turn__alloc_create(s, r->cl, r->qname, r->qnamelen, &code);
    if (!a && code == 486) {
        s->st.quota_rejects++;
        CW_WARN(TURN_LOG, "486 for user \"%.*s\" from %s: allocation quota of %u reached",
                (int)r->qnamelen, r->qname, cw_addr_fmt(&r->cl->addr.sa, cb, sizeof(cb), 1),
                s->o.max_allocations_per_user);
        send_error(r, 486);
        return;
    }
    if (!a)
        goto capacity;
    if (tok) {
        /* The token, not REQUESTED-ADDRESS-FAMILY, names the family. It may
         * come from another client port, so another worker: the reservations
         * are the relay's. */
        turn__lock(sh);
        port = turn__ports_redeem(&sh->ports4, stun_attr_value(m, tok));
        if (port < 0 && (port = turn__ports_redeem(&sh->ports6, stun_attr_value(m, tok))) >= 0) {
            family = AF_INET6;
            ports = &sh->ports6;
        }
        turn__unlock(sh);
        if (port < 0 || turn__relay_open(a, family, (uint16_t)port, 0) < 0) {
            if (port >= 0) {
                turn__lock(sh);
                turn__ports_release(ports, (uint16_t)port);
                turn__unlock(sh);
            }
            turn__alloc_destroy(a, "reservation token unknown or expired");
            send_error(r, 508);
            return;
        }
    } else {
        /* Ports in use by another program are skipped (bind fails). */
        for (int tries = 0; tries < 64; tries++) {
            turn__lock(sh);
            port = turn__ports_take(ports, even, reserve);
            turn__unlock(sh);
            if (port < 0)
                break;
            int rc = turn__relay_open(a, family, (uint16_t)port,
                                      stun_msg_find(m, TURN_A_DONT_FRAGMENT) != NULL);
            if (rc == 0)
                break;
            turn__lock(sh);
            turn__ports_release(ports, (uint16_t)port);
            turn__unlock(sh);
            port = -1;
            if (rc == -2)
                break;
        }
        if (port < 0) {
            turn__alloc_destroy(a, "no free relay port");
            goto capacity;
        }
        if (reserve) {
            turn__lock(sh);
            turn__ports_reserve(ports, (uint16_t)(port + 1), r->now, token);
            turn__unlock(sh);
        }
    }
    memcpy(a->tid, m->tid, STUN_TID_LEN);
    if (reserve) {
        memcpy(a->token, token, sizeof(a->token));
        a->has_token = 1;
    }
    a->addr_error = (uint16_t)addr_error;
    lifetime = lifetime_of(r);
    if (lifetime == 0)
        lifetime = s->o.lifetime_default;
    a->expires = r->now + lifetime * 1000ull;
    if (a->client.conn)
        turn__conn_set_alloc(a->client.conn, a);
    CW_INFO(TURN_LOG, "allocation %s for user \"%s\" from %s over %s, lifetime %us",
            cw_addr_fmt(&a->relay.sa, rb, sizeof(rb), 1), a->user->name,
            cw_addr_fmt(&r->cl->addr.sa, cb, sizeof(cb), 1), proto_name(r->cl->proto),
            lifetime);
    allocate_reply(r, a, reserve ? token : NULL, addr_error);
    return;
capacity:
    s->st.capacity_rejects++;
    /* One line per second at most: a full range can meet thousands of
     * Allocates a second, and one line says all there is to say. */
    if (!s->log508_at || r->now - s->log508_at >= 1000) {
        unsigned nallocs, resv;
        turn__lock(sh);
        nallocs = sh->allocs;
        resv = sh->ports4.used + sh->ports6.used;
        resv = resv > nallocs ? resv - nallocs : 0;
        turn__unlock(sh);
        CW_WARN(TURN_LOG, "508 for user \"%.*s\" from %s: no capacity (%u allocations, "
                "%u ports held by EVEN-PORT reservations, max %u, relay ports %u-%u)%s",
                (int)r->qnamelen, r->qname, cw_addr_fmt(&r->cl->addr.sa, cb, sizeof(cb), 1),
                nallocs, resv, s->o.max_allocations, s->o.port_min, s->o.port_max,
                s->log508_quiet ? "; more 508s since the last line" : "");
        s->log508_at = r->now;
        s->log508_quiet = 0;
    } else {
        s->log508_quiet = 1;
    }
    send_error(r, 508);
}

/* ---- Refresh (RFC 8656 8) ------------------------------------------------- */

static void on_refresh(struct req *r)
{
    struct turn_alloc *a = req_alloc(r);
    struct stun_enc e;
    uint8_t buf[RESP_MAX];
    const struct stun_attr *raf;
    unsigned lifetime;

    if (!a)
        return;
    raf = stun_msg_find(r->m, TURN_A_REQUESTED_ADDRESS_FAMILY);
    if (raf && (raf->len != 4 ||
                (stun_attr_value(r->m, raf)[0] == STUN_FAMILY_IPV6) !=
                    (a->relay.sa.sa_family == AF_INET6))) {
        send_error(r, 443);
        return;
    }
    lifetime = lifetime_of(r);
    if (lifetime == 0)
        turn__alloc_destroy(a, "deleted by the client (Refresh lifetime 0)");
    else
        a->expires = r->now + lifetime * 1000ull;
    resp_start(r, &e, buf, STUN_SUCCESS);
    stun_enc_u32(&e, TURN_A_LIFETIME, lifetime);
    resp_send(r, &e);
}

/* ---- CreatePermission (RFC 8656 10) ----------------------------------------- */

#define PERMS_PER_REQUEST 16

static void on_create_permission(struct req *r)
{
    struct turn_alloc *a = req_alloc(r);
    const struct stun_msg *m = r->m;
    struct sockaddr_storage peers[PERMS_PER_REQUEST];
    struct stun_enc e;
    uint8_t buf[RESP_MAX];
    unsigned np = 0, fresh = 0;
    int code;

    if (!a)
        return;
    for (unsigned i = 0; i < m->nattrs; i++) {
        if (m->attrs[i].type != TURN_A_XOR_PEER_ADDRESS)
            continue;
        if (np == PERMS_PER_REQUEST || stun_attr_xaddr(m, &m->attrs[i], &peers[np]) < 0) {
            send_error(r, 400);
            return;
        }
        peer_inward(r->s, &peers[np]);
        if ((code = peer_check(r, a, (struct sockaddr *)&peers[np])) != 0) {
            send_error(r, code);
            return;
        }
        if (!turn__perm_has(a, (struct sockaddr *)&peers[np], 0))
            fresh++;
        np++;
    }
    if (!np) {
        send_error(r, 400);
        return;
    }
    /* All or nothing (RFC 8656 10.2): check the cap before installing. */
    if (a->nperms + fresh > r->s->o.max_permissions) {
        r->s->st.capacity_rejects++;
        send_error(r, 508);
        return;
    }
    for (unsigned i = 0; i < np; i++)
        turn__perm_add(a, (struct sockaddr *)&peers[i], r->now);
    resp_start(r, &e, buf, STUN_SUCCESS);
    resp_send(r, &e);
}

/* ---- ChannelBind (RFC 8656 11.2) -------------------------------------------- */

static void on_channel_bind(struct req *r)
{
    struct turn_alloc *a = req_alloc(r);
    const struct stun_msg *m = r->m;
    const struct stun_attr *cn, *pa;
    struct sockaddr_storage peer;
    struct stun_enc e;
    uint8_t buf[RESP_MAX];
    uint32_t v;
    uint16_t num;
    int code;

    if (!a)
        return;
    cn = stun_msg_find(m, TURN_A_CHANNEL_NUMBER);
    pa = stun_msg_find(m, TURN_A_XOR_PEER_ADDRESS);
    if (!cn || !pa || stun_attr_u32(m, cn, &v) < 0 || stun_attr_xaddr(m, pa, &peer) < 0) {
        send_error(r, 400);
        return;
    }
    peer_inward(r->s, &peer);
    num = (uint16_t)(v >> 16);
    if (num < TURN_CHANNEL_MIN || num > TURN_CHANNEL_MAX) {
        send_error(r, 400);
        return;
    }
    if ((code = peer_check(r, a, (struct sockaddr *)&peer)) != 0) {
        send_error(r, code);
        return;
    }
    if (!turn__perm_has(a, (struct sockaddr *)&peer, 0) &&
        a->nperms >= r->s->o.max_permissions) {
        send_error(r, 508);
        return;
    }
    if (turn__chan_bind(a, num, (struct sockaddr *)&peer, r->now, &code) < 0) {
        send_error(r, code);
        return;
    }
    turn__perm_add(a, (struct sockaddr *)&peer, r->now);
    resp_start(r, &e, buf, STUN_SUCCESS);
    resp_send(r, &e);
}

/* ---- data from the client ------------------------------------------------ */

static void relay_to_peer(struct turn_server *s, struct turn_alloc *a,
                          const struct sockaddr *peer, const uint8_t *p, size_t n)
{
    if (turn__relay_send(a, peer, p, n) < 0) {
        s->st.dropped++;
        return;
    }
    a->pkts_to_peer++;
    a->bytes_to_peer += n;
    s->st.pkts_to_peer++;
    s->st.bytes_to_peer += n;
}

/* Send indication (RFC 8656 11.2): no answer is ever sent; refused peers are
 * dropped and logged. */
static void on_send(struct turn_server *s, const struct turn_client *cl,
                    const struct stun_msg *m)
{
    struct turn_alloc *a = turn__alloc_find(s, cl);
    const struct stun_attr *pa, *da;
    struct sockaddr_storage peer;
    const char *why;

    if (!a)
        goto drop;
    pa = stun_msg_find(m, TURN_A_XOR_PEER_ADDRESS);
    da = stun_msg_find(m, TURN_A_DATA);
    if (!pa || !da || stun_attr_xaddr(m, pa, &peer) < 0 ||
        peer.ss_family != a->relay.sa.sa_family)
        goto drop;
    peer_inward(s, &peer);
    if (peer_allowed(s, (struct sockaddr *)&peer, &why) < 0) {
        char pb[CW_ADDR_STRLEN], cb[CW_ADDR_STRLEN];
        s->st.peer_denied++;
        CW_INFO(TURN_LOG, "Send from user \"%s\" at %s to peer %s refused (%s)",
                a->user->name, cw_addr_fmt(&cl->addr.sa, cb, sizeof(cb), 1),
                peer_str((struct sockaddr *)&peer, pb, sizeof(pb)), why);
        goto drop;
    }
    if (!turn__perm_has(a, (struct sockaddr *)&peer, turn__now(s)))
        goto drop;
    relay_to_peer(s, a, (struct sockaddr *)&peer, stun_attr_value(m, da), da->len);
    return;
drop:
    s->st.dropped++;
}

static void on_channel_data(struct turn_server *s, const struct turn_client *cl,
                            const uint8_t *p, size_t n)
{
    struct turn_alloc *a;
    struct turn_chan *ch;
    const uint8_t *data;
    size_t dlen;
    uint16_t num;

    if (turn_channeldata_parse(p, n, &num, &data, &dlen) < 0) {
        s->st.malformed++;
        return;
    }
    a = turn__alloc_find(s, cl);
    if (!a || !(ch = turn__chan_by_num(a, num)) || ch->expires <= turn__now(s)) {
        s->st.dropped++;
        return;
    }
    relay_to_peer(s, a, &ch->peer.sa, data, dlen);
}

/* ---- dispatch -------------------------------------------------------------- */

void turn__handle(struct turn_server *s, const struct turn_client *cl,
                  const struct sockaddr *local, const uint8_t *p, size_t n)
{
    struct stun_msg m;
    struct req r;
    int rc;

    (void)local;
    if (n >= 4 && (p[0] & 0xC0) == 0x40) {
        on_channel_data(s, cl, p, n);
        return;
    }
    rc = stun_msg_parse(&m, p, n);
    if (rc == STUN_E_NOT_STUN || rc == STUN_E_FINGERPRINT) {
        s->st.malformed++;
        return;
    }
    memset(&r, 0, sizeof(r));
    r.s = s;
    r.cl = cl;
    r.m = &m;
    r.now = turn__now(s);
    if (rc == STUN_E_MALFORMED) {
        s->st.malformed++;
        if (m.cls == STUN_REQUEST) {
            m.i_fp = -1;
            send_error(&r, 400);
        }
        return;
    }
    if (m.cls == STUN_INDICATION) {
        if (m.method == TURN_SEND && !m.nunknown)
            on_send(s, cl, &m);
        return;
    }
    if (m.cls != STUN_REQUEST)
        return;                 /* responses are not for us */
    s->st.requests++;
    switch (m.method) {
    case STUN_BINDING:
        break;
    case TURN_ALLOCATE:
    case TURN_REFRESH:
    case TURN_CREATE_PERMISSION:
    case TURN_CHANNEL_BIND:
        if (auth_check(&r) < 0)
            return;
        break;
    default:
        send_error(&r, 400);
        return;
    }
    if (m.nunknown) {
        /* RFC 8489 6.3.1: once authenticated, 420 with UNKNOWN-ATTRIBUTES. */
        struct stun_enc e;
        uint8_t buf[RESP_MAX];
        resp_start(&r, &e, buf, STUN_ERROR);
        stun_enc_error(&e, 420, NULL);
        stun_enc_unknown(&e, m.unknown, m.nunknown < 8 ? m.nunknown : 8);
        resp_send(&r, &e);
        return;
    }
    switch (m.method) {
    case STUN_BINDING:
        on_binding(&r);
        break;
    case TURN_ALLOCATE:
        on_allocate(&r);
        break;
    case TURN_REFRESH:
        on_refresh(&r);
        break;
    case TURN_CREATE_PERMISSION:
        on_create_permission(&r);
        break;
    case TURN_CHANNEL_BIND:
        on_channel_bind(&r);
        break;
    }
}
