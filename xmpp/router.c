/* router.c - where a stanza goes (RFC 6120 10, RFC 6121 8.5): local
 * sessions by full or bare JID, components by domain, other domains to the
 * edge's federation link (link.c); stanza errors back to the sender;
 * presence broadcast and the subscription state machine of RFC 6121 3 on
 * the shared rosters. */
#include "xmpp/xmpp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int xmpp__is_local_domain(const struct xmpp_server *srv, const char *domain)
{
    return xmpp_state_has_domain(srv->st, domain);
}

struct xml_node *xmpp__error_reply(const struct xml_node *req, const char *type,
                                   const char *cond)
{
    const char *t = xml_node_attr(req, "type"), *from = xml_node_attr(req, "from"),
               *to = xml_node_attr(req, "to"), *id = xml_node_attr(req, "id");
    struct xml_node *r, *e, *x;

    /* RFC 6120 8.3.1: never answer an error with an error; a result needs
     * no answer either. */
    if (t && (!strcmp(t, "error") || (!strcmp(req->name, "iq") && !strcmp(t, "result"))))
        return NULL;
    r = xml_node_new(req->name, req->ns);
    if (!r)
        return NULL;
    if ((id && xml_node_set_attr(r, "id", id) < 0) ||
        (from && xml_node_set_attr(r, "to", from) < 0) ||
        (to && xml_node_set_attr(r, "from", to) < 0) || xml_node_set_attr(r, "type", "error") < 0 ||
        !(e = xml_node_add_child(r, "error", NULL)) || xml_node_set_attr(e, "type", type) < 0 ||
        !(x = xml_node_add_child(e, cond, NS_STANZAS))) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

void xmpp__bounce(struct xmpp_server *srv, struct xml_node *stanza, const char *type,
                  const char *cond)
{
    struct xml_node *r = xmpp__error_reply(stanza, type, cond);

    CW_DEBUG("xmpp", "<%s> from %s to %s bounced: %s", stanza->name,
             xml_node_attr(stanza, "from") ? xml_node_attr(stanza, "from") : "?",
             xml_node_attr(stanza, "to") ? xml_node_attr(stanza, "to") : "?", cond);
    xml_node_free(stanza);
    if (!r)
        return;
    srv->bounced++;
    xmpp__route(srv, r);
}

/* Sends a copy of n to every available session of bare (to unchanged).
 * Returns how many got it. */
static int to_available(struct xmpp_server *srv, const char *bare, const struct xml_node *n)
{
    int k = 0;

    for (struct xconn *c = xmpp__bare_first(srv, bare); c; c = xmpp__bare_next(c))
        if (c->available && !c->closing) {
            xmpp__send(c, n);
            k++;
        }
    return k;
}

static void inbound_subscription(struct xmpp_server *srv, struct xml_node *p,
                                 const char *contact, const char *user);

/* ---- other nodes of the cluster ------------------------------------------------ */

struct remote_ctx {
    struct xmpp_server *srv;
    const struct xml_node *n;
    char done[8][64];           /* nodes already sent to */
    int ndone;
};

static int to_node(void *arg, const char *full, const char *node)
{
    struct remote_ctx *r = arg;

    (void)full;
    if (!strcmp(node, r->srv->node))
        return 0;
    for (int i = 0; i < r->ndone; i++)
        if (!strcmp(r->done[i], node))
            return 0;
    if (r->ndone < 8)
        snprintf(r->done[r->ndone++], sizeof(r->done[0]), "%s", node);
    if (r->srv->o.forward(r->srv->o.forward_arg, node, r->n) == 0)
        r->srv->forwarded++;
    return 0;
}

/* Sends n to every other node holding a session of bare (or of the full
 * JID when full is set); the number of nodes it went to. Stanzas that came
 * from another node never go on. */
static int to_remote(struct xmpp_server *srv, const char *bare, const char *full,
                     const struct xml_node *n)
{
    struct remote_ctx r = { srv, n, { { 0 } }, 0 };
    const char *node;

    if (!srv->o.forward || srv->from_peer)
        return 0;
    if (full) {
        node = xmpp_state_session_node(srv->st, full);
        if (!node)
            node = xmpp__hint(srv, full);
        if (node)
            to_node(&r, full, node);
    } else {
        xmpp_state_sessions(srv->st, bare, to_node, &r);
    }
    return r.ndone;
}

/* A stanza for an address in one of our domains. */
static void route_local(struct xmpp_server *srv, struct xml_node *n, const struct jid *j)
{
    char bare[JID_MAX + 1], full[JID_MAX + 1];
    const char *type = xml_node_attr(n, "type");
    struct xconn *c;
    int msg = !strcmp(n->name, "message"), pres = !strcmp(n->name, "presence");
    int local, remote;

    if (!j->local[0]) {
        /* The domain itself: only the server's own iq goes there, and that
         * is answered before routing. */
        xmpp__bounce(srv, n, "cancel", "service-unavailable");
        return;
    }
    jid_bare(j, bare, sizeof(bare));
    if (j->resource[0]) {
        c = xmpp__session_find(srv, jid_full(j, full, sizeof(full)));
        if (c && !c->closing) {
            xmpp__send(c, n);
            xml_node_free(n);
            return;
        }
        if (to_remote(srv, NULL, full, n)) {
            xml_node_free(n);
            return;
        }
        if (!pres && xmpp__park(srv, n))
            return;
        /* RFC 6121 8.5.3.2: a message to a gone resource goes to the
         * account; an iq gets an error; presence is dropped. */
        if (!msg) {
            if (!pres)
                xmpp__bounce(srv, n, "cancel", "service-unavailable");
            else
                xml_node_free(n);
            return;
        }
    }
    if (!xmpp_state_user_cred(srv->st, j->domain, j->local, 256)) {
        /* RFC 6121 8.5.2.2: no such account. */
        if (pres)
            xml_node_free(n);
        else
            xmpp__bounce(srv, n, "cancel", "service-unavailable");
        return;
    }
    if (pres && type && (!strcmp(type, "subscribe") || !strcmp(type, "subscribed") ||
                         !strcmp(type, "unsubscribe") || !strcmp(type, "unsubscribed"))) {
        struct jid f;
        char user[JID_MAX + 1];
        /* The node that routed it did the roster work; here it is shown. */
        if (srv->from_peer || jid_parse(xml_node_attr(n, "from"), &f) < 0) {
            if (srv->from_peer)
                to_available(srv, bare, n);
            xml_node_free(n);
            return;
        }
        inbound_subscription(srv, n, bare, jid_bare(&f, user, sizeof(user)));
        return;
    }
    if (pres && type && !strcmp(type, "probe")) {
        struct jid f;
        struct xmpp_roster_item it;
        char user[JID_MAX + 1];
        int answered = 0;
        /* RFC 6121 4.3.2: answer for the account if the prober may see it. */
        if (jid_parse(xml_node_attr(n, "from"), &f) == 0 &&
            xmpp_state_roster_item(srv->st, bare, jid_bare(&f, user, sizeof(user)), &it) &&
            (it.sub == XMPP_SUB_FROM || it.sub == XMPP_SUB_BOTH)) {
            int peer = srv->from_peer;
            /* The answers are new stanzas: they may go to another node. */
            srv->from_peer = 0;
            for (c = xmpp__bare_first(srv, bare); c; c = xmpp__bare_next(c))
                if (c->available && c->presence) {
                    struct xml_node *cp = xml_node_copy(c->presence);
                    answered++;
                    if (cp && xml_node_set_attr(cp, "to", xml_node_attr(n, "from")) == 0)
                        xmpp__route(srv, cp);
                    else
                        xml_node_free(cp);
                }
            srv->from_peer = peer;
            /* The contact's sessions on other nodes answer there. */
            answered += to_remote(srv, bare, NULL, n);
        }
        /* On a cluster the roster or the directory may not be here yet. */
        if (!answered && xmpp__park(srv, n))
            return;
        xml_node_free(n);
        return;
    }
    if (!strcmp(n->name, "iq")) {
        xmpp__bounce(srv, n, "cancel", "service-unavailable");
        return;
    }
    local = to_available(srv, bare, n);
    remote = to_remote(srv, bare, NULL, n);
    if (!local && !remote && (msg || pres) && xmpp__park(srv, n))
        return;
    if (!local && !remote && msg && !srv->from_peer &&
        !(type && (!strcmp(type, "groupchat") || !strcmp(type, "headline") ||
                   !strcmp(type, "error")))) {
        /* No offline storage here: the sender learns it did not arrive. */
        xmpp__bounce(srv, n, "cancel", "service-unavailable");
        return;
    }
    xml_node_free(n);
}

void xmpp__route(struct xmpp_server *srv, struct xml_node *n)
{
    const char *to = xml_node_attr(n, "to"), *node;
    struct xconn *comp;
    struct jid j;

    srv->routed++;
    if (!to || jid_parse(to, &j) < 0) {
        xml_node_free(n);
        return;
    }
    if (xmpp__is_local_domain(srv, j.domain)) {
        route_local(srv, n, &j);
        return;
    }
    comp = xmpp__component_find(srv, j.domain);
    if (comp && !comp->closing) {
        xmpp__send(comp, n);
        xml_node_free(n);
        return;
    }
    /* A component connected to another node of the cluster. */
    if (srv->o.forward && !srv->from_peer && (node = xmpp_state_comp_node(srv->st, j.domain)) &&
        strcmp(node, srv->node) != 0 && srv->o.forward(srv->o.forward_arg, node, n) == 0) {
        srv->forwarded++;
        xml_node_free(n);
        return;
    }
    /* A registered component that is not connected. */
    if (xmpp__comp_secret(srv->st, j.domain)) {
        xmpp__bounce(srv, n, "cancel", "service-unavailable");
        return;
    }
    /* A foreign domain: the edge's federation gateway takes it over the
     * link, and answers with the stanza error itself when it cannot
     * deliver. A stanza another node forwarded here may go too. */
    if (xmpp__link_send(srv, n) == 0) {
        xml_node_free(n);
        return;
    }
    xmpp__link_missing(srv, j.domain);
    xmpp__bounce(srv, n, "cancel", "remote-server-not-found");
}

/* ---- presence -------------------------------------------------------------- */

struct bcast {
    struct xmpp_server *srv;
    const struct xml_node *pres;
    struct xconn *c;
    int probe;
};

static int bcast_item(void *arg, const struct xmpp_roster_item *it)
{
    struct bcast *b = arg;
    struct xml_node *cp;

    if (b->probe) {
        if (it->sub != XMPP_SUB_TO && it->sub != XMPP_SUB_BOTH)
            return 0;
        cp = xml_node_new("presence", NS_CLIENT);
        if (cp && xml_node_set_attr(cp, "type", "probe") == 0 &&
            xml_node_set_attr(cp, "from", b->c->bare) == 0 &&
            xml_node_set_attr(cp, "to", it->contact) == 0)
            xmpp__route(b->srv, cp);
        else
            xml_node_free(cp);
        return 0;
    }
    if (it->sub != XMPP_SUB_FROM && it->sub != XMPP_SUB_BOTH)
        return 0;
    cp = xml_node_copy(b->pres);
    if (cp && xml_node_set_attr(cp, "to", it->contact) == 0)
        xmpp__route(b->srv, cp);
    else
        xml_node_free(cp);
    return 0;
}

void xmpp__presence_broadcast(struct xconn *c, struct xml_node *pres)
{
    struct xmpp_server *srv = c->srv;
    struct bcast b = { srv, pres, c, 0 };
    int first = 0, avail = !xml_node_attr(pres, "type");

    /* RFC 6121 4.2.2 and 4.5.2: to the contacts subscribed to the user, and
     * to the user's own available resources (this one included). */
    xmpp_state_roster(srv->st, c->bare, bcast_item, &b);
    for (struct xconn *o = xmpp__bare_first(srv, c->bare); o; o = xmpp__bare_next(o))
        if ((o->available || o == c) && !o->closing) {
            struct xml_node *cp = xml_node_copy(pres);
            if (cp && xml_node_set_attr(cp, "to", o->full) == 0)
                xmpp__send(o, cp);
            xml_node_free(cp);
        }
    if (avail) {
        first = !c->available;
        c->available = 1;
        xml_node_free(c->presence);
        c->presence = pres;   /* transferred */
        pres = NULL;
        if (first) {
            /* RFC 6121 4.2.2: the initial presence makes the server probe
             * the contacts the user is subscribed to. */
            b.probe = 1;
            xmpp_state_roster(srv->st, c->bare, bcast_item, &b);
        }
    } else {
        c->available = 0;
        xml_node_free(c->presence);
        c->presence = NULL;
    }
    xml_node_free(pres);
}

/* ---- subscriptions (RFC 6121 3) ------------------------------------------- */

/* A subscription event for owner's item about contact, as a command the
 * state applies in log order (state.c works out the new item); the owner's
 * resources get the roster push when it is applied. */
static void roster_event(struct xmpp_server *srv, const char *owner, const char *contact,
                         const char *dir, const char *event)
{
    struct cw_sb cmd;

    cw_sb_init(&cmd);
    cw_sb_printf(&cmd, "roster-event %s %s %s %s", owner, contact, dir, event);
    xmpp__propose(srv, cmd.s);
    cw_sb_free(&cmd);
}

/* Sends each available resource's presence of user to contact (after a
 * subscription was approved), or unavailable from each (after one ended). */
static void presence_to(struct xmpp_server *srv, const char *user, const char *contact,
                        int available)
{
    for (struct xconn *c = xmpp__bare_first(srv, user); c; c = xmpp__bare_next(c)) {
        struct xml_node *p;
        if (!c->available || !c->presence)
            continue;
        p = available ? xml_node_copy(c->presence) : xml_node_new("presence", NS_CLIENT);
        if (p && (available || (xml_node_set_attr(p, "type", "unavailable") == 0 &&
                                xml_node_set_attr(p, "from", c->full) == 0)) &&
            xml_node_set_attr(p, "to", contact) == 0)
            xmpp__route(srv, p);
        else
            xml_node_free(p);
    }
}

/* A subscription stanza arriving for local account contact from user. */
static void inbound_subscription(struct xmpp_server *srv, struct xml_node *p,
                                 const char *contact, const char *user)
{
    const char *type = xml_node_attr(p, "type");
    struct xmpp_roster_item it;

    if (!strcmp(type, "subscribe")) {
        /* RFC 6121 3.1.3: already approved: answer for the contact. */
        if (xmpp_state_roster_item(srv->st, contact, user, &it) &&
            (it.sub == XMPP_SUB_FROM || it.sub == XMPP_SUB_BOTH)) {
            struct xml_node *r = xml_node_new("presence", NS_CLIENT);
            if (r && xml_node_set_attr(r, "type", "subscribed") == 0 &&
                xml_node_set_attr(r, "from", contact) == 0 && xml_node_set_attr(r, "to", user) == 0)
                xmpp__route(srv, r);
            else
                xml_node_free(r);
            xml_node_free(p);
            return;
        }
        if (!to_available(srv, contact, p) && !to_remote(srv, contact, NULL, p)) {
            if (xmpp__park(srv, p))
                return;
            CW_INFO("xmpp", "subscription request from %s to %s: no resource of %s is online "
                    "to approve it (requests are not stored)", user, contact, contact);
        }
        xml_node_free(p);
        return;
    }
    /* An approval for a full roster would change nothing (XMPP_ROSTER_MAX):
     * not even a log entry for it. */
    if (!strcmp(type, "subscribed") && xmpp_state_roster_full(srv->st, contact, user)) {
        CW_DEBUG("xmpp", "subscription approval from %s to %s dropped: %s's roster is full",
                 user, contact, contact);
        xml_node_free(p);
        return;
    }
    roster_event(srv, contact, user, "in", type);
    to_available(srv, contact, p);
    to_remote(srv, contact, NULL, p);
    xml_node_free(p);
}

void xmpp__presence_subscription(struct xmpp_server *srv, struct xconn *from, struct xml_node *p)
{
    struct jid j;
    char contact[JID_MAX + 1], type[16];

    /* A copy: p goes to the router below. */
    snprintf(type, sizeof(type), "%s", xml_node_attr(p, "type"));
    if (jid_parse(xml_node_attr(p, "to"), &j) < 0) {
        xml_node_free(p);
        return;
    }
    jid_bare(&j, contact, sizeof(contact));
    /* RFC 6121 3.1.2: subscription stanzas carry bare JIDs. */
    xml_node_set_attr(p, "to", contact);
    xml_node_set_attr(p, "from", from->bare);
    roster_event(srv, from->bare, contact, "out", type);
    xmpp__route(srv, p);
    if (!strcmp(type, "subscribed"))
        presence_to(srv, from->bare, contact, 1);
    else if (!strcmp(type, "unsubscribed"))
        presence_to(srv, from->bare, contact, 0);
}
