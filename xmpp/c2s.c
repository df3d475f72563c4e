/* c2s.c - client connections (RFC 6120 5-7, RFC 6121): stream set-up with
 * STARTTLS required, SASL, resource binding; then the client's stanzas: the
 * server's own iq (roster, ping, disco, session), presence broadcast, and
 * everything else handed to the router. */
#include "common/base64.h"
#include "xmpp/xmpp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"

#define AUTH_TRIES_MAX 3

static int is(const struct xml_node *n, const char *name, const char *ns)
{
    return n->name && !strcmp(n->name, name) && (!ns || !strcmp(n->ns, ns));
}

/* ---- stream set-up ---------------------------------------------------------- */

static void send_features(struct xconn *c)
{
    struct cw_sb sb;

    cw_sb_init(&sb);
    CW_SB_LIT(&sb, "<stream:features>");
    if (!cw_stream_is_tls(c->st)) {
        /* RFC 6120 5.3.1: TLS is mandatory here, so it is the only feature. */
        CW_SB_LIT(&sb, "<starttls xmlns='" NS_TLS "'><required/></starttls>");
        c->phase = PH_TLS;
    } else if (!c->jid.local[0]) {
        CW_SB_LIT(&sb, "<mechanisms xmlns='" NS_SASL "'><mechanism>SCRAM-SHA-256</mechanism>"
                       "<mechanism>SCRAM-SHA-1</mechanism>");
        if (c->srv->o.allow_plain)
            CW_SB_LIT(&sb, "<mechanism>PLAIN</mechanism>");
        CW_SB_LIT(&sb, "</mechanisms>");
        c->phase = PH_AUTH;
    } else {
        CW_SB_LIT(&sb, "<bind xmlns='" NS_BIND "'/><session xmlns='" NS_SESSION
                       "'><optional/></session>");
        c->phase = PH_BIND;
    }
    CW_SB_LIT(&sb, "</stream:features>");
    xmpp__write(c, sb.s, sb.len);
    cw_sb_free(&sb);
}

int xmpp__c2s_open(struct xconn *c, const struct xml_node *head)
{
    const char *to = xml_node_attr(head, "to"), *ver = xml_node_attr(head, "version");
    char dom[JID_PART_MAX + 1];

    if (!to || !jid_domain_ok(to, dom, sizeof(dom)) || !xmpp__is_local_domain(c->srv, dom)) {
        CW_INFO("xmpp", "client %s asked for domain \"%s\", which is not served here "
                "(`causeway xmpp domain list`)", c->peer, to ? to : "");
        xmpp__stream_error(c, "host-unknown", NULL);
        return XML_STOP;
    }
    if (c->domain[0] && strcmp(c->domain, dom) != 0) {
        xmpp__stream_error(c, "host-unknown", "the domain changed on a stream restart");
        return XML_STOP;
    }
    snprintf(c->domain, sizeof(c->domain), "%s", dom);
    xmpp__stream_header(c, NS_CLIENT, c->domain);
    /* RFC 6120 4.7.5: without version='1.0' there are no stream features. */
    if (!ver || strncmp(ver, "1.", 2) != 0) {
        xmpp__stream_error(c, "unsupported-version", NULL);
        return XML_STOP;
    }
    send_features(c);
    return 0;
}

/* ---- SASL ------------------------------------------------------------------- */

static int cred_lookup(void *arg, const char *user, enum sasl_hash hash, struct sasl_cred *out)
{
    struct xconn *c = arg;
    char local[JID_PART_MAX + 1];
    const char *t;

    /* Accounts are stored case-folded (RFC 7622 3.3): "Alice" is alice. */
    snprintf(local, sizeof(local), "%s", user);
    for (char *p = local; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    t = xmpp_state_user_cred(c->srv->st, c->domain, local, hash == SASL_SHA256 ? 256 : 1);

    return t ? sasl_cred_parse(t, out) : -1;
}

static void sasl_reply(struct xconn *c, const char *el, const struct cw_sb *raw)
{
    struct cw_sb sb;

    cw_sb_init(&sb);
    cw_sb_printf(&sb, "<%s xmlns='" NS_SASL "'>", el);
    /* RFC 6120 6.4.6: no additional data makes an empty element. */
    if (raw && raw->len)
        cw_b64_encode((const uint8_t *)raw->s, raw->len, &sb);
    cw_sb_printf(&sb, "</%s>", el);
    xmpp__write(c, sb.s, sb.len);
    cw_sb_free(&sb);
}

static void sasl_failure(struct xconn *c, const char *cond)
{
    struct cw_sb sb;

    cw_sb_init(&sb);
    cw_sb_printf(&sb, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
    xmpp__write(c, sb.s, sb.len);
    cw_sb_free(&sb);
}

static int sasl_step(struct xconn *c, const struct xml_node *n)
{
    const char *mech = sasl_mech_name(c->mech);
    struct cw_sb text, out;
    uint8_t *raw = NULL;
    long len = 0;
    enum sasl_result r;
    const char *cond, *why;
    int ret = 0;

    cw_sb_init(&text);
    cw_sb_init(&out);
    xml_node_text(n, &text);
    /* RFC 6120 6.4.2: "=" is an empty response; no text is "none yet". */
    if (text.len && strcmp(text.s, "=") != 0) {
        raw = malloc(text.len * 3 / 4 + 3);
        len = raw ? sasl_b64_decode(text.s, text.len, raw) : -1;
        if (len < 0) {
            sasl_failure(c, "incorrect-encoding");
            goto done;
        }
    }
    r = sasl_server_step(c->sasl, raw, (size_t)len, &out);
    if (r == SASL_CONTINUE) {
        sasl_reply(c, "challenge", &out);
    } else if (r == SASL_OK) {
        /* sasl_username_ok() admitted only [A-Za-z0-9._-]: fold the case
         * as the account's localpart is stored (RFC 7622 3.3). */
        snprintf(c->jid.local, sizeof(c->jid.local), "%s", sasl_server_user(c->sasl));
        for (char *p = c->jid.local; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        snprintf(c->jid.domain, sizeof(c->jid.domain), "%s", c->domain);
        CW_INFO("xmpp", "client %s authenticated as %s@%s (%s)", c->peer, c->jid.local,
                c->domain, mech);
        sasl_reply(c, "success", &out);
        c->restart = 1;   /* RFC 6120 6.4.6: the client opens a new stream */
        ret = XML_STOP;
    } else {
        cond = sasl_server_error(c->sasl, &why);
        CW_NOTICE("xmpp", "client %s: authentication failed for \"%s\" in %s: %s", c->peer,
                  sasl_server_user(c->sasl) ? sasl_server_user(c->sasl) : "?", c->domain, why);
        sasl_failure(c, cond);
        if (++c->auth_failures >= AUTH_TRIES_MAX) {
            xmpp__stream_error(c, "policy-violation", "too many failed authentications");
            ret = XML_STOP;
        }
    }
    if (r != SASL_CONTINUE) {
        sasl_server_free(c->sasl);
        c->sasl = NULL;
    }
done:
    free(raw);
    cw_sb_free(&text);
    cw_sb_free(&out);
    return ret;
}

static int on_auth(struct xconn *c, struct xml_node *n)
{
    const char *mech;
    int m;

    if (is(n, "auth", NS_SASL)) {
        mech = xml_node_attr(n, "mechanism");
        m = mech ? sasl_mech_parse(mech) : -1;
        if (m < 0 || (m == SASL_MECH_PLAIN && !c->srv->o.allow_plain)) {
            sasl_failure(c, "invalid-mechanism");
            return 0;
        }
        sasl_server_free(c->sasl);
        c->sasl = sasl_server_new((enum sasl_mech)m, cred_lookup, c);
        if (!c->sasl) {
            sasl_failure(c, "temporary-auth-failure");
            return 0;
        }
        c->mech = (enum sasl_mech)m;
        return sasl_step(c, n);
    }
    if (is(n, "response", NS_SASL) && c->sasl)
        return sasl_step(c, n);
    if (is(n, "abort", NS_SASL)) {
        sasl_server_free(c->sasl);
        c->sasl = NULL;
        sasl_failure(c, "aborted");
        return 0;
    }
    xmpp__stream_error(c, "not-authorized", "authenticate first");
    return XML_STOP;
}

/* ---- binding ----------------------------------------------------------------- */

static struct xml_node *result_for(const struct xml_node *iq)
{
    struct xml_node *r = xml_node_new("iq", NS_CLIENT);
    const char *id = xml_node_attr(iq, "id"), *from = xml_node_attr(iq, "from"),
               *to = xml_node_attr(iq, "to");

    if (!r || xml_node_set_attr(r, "type", "result") < 0 ||
        (id && xml_node_set_attr(r, "id", id) < 0) ||
        (from && xml_node_set_attr(r, "to", from) < 0) ||
        (to && xml_node_set_attr(r, "from", to) < 0)) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

static void send_free(struct xconn *c, struct xml_node *n)
{
    if (n)
        xmpp__send(c, n);
    xml_node_free(n);
}

/* A bound client's liveness: one that has sent nothing (not even the
 * whitespace clients send to keep connections open) for ping-interval is
 * pinged (XEP-0199; any answer will do, an error too), and one still silent
 * half an interval later is closed: its host went away without a word
 * (a laptop closed, a network gone), and its session would otherwise show
 * it available, and take its messages, for good. */
static unsigned ping_interval(const struct xconn *c)
{
    return c->srv->o.ping_interval_ms ? c->srv->o.ping_interval_ms : PING_DEFAULT_MS;
}

static void ping_cb(uv_timer_t *t)
{
    struct xconn *c = t->data;
    uint64_t quiet = uv_now(c->srv->loop) - c->last_rx;
    unsigned iv = ping_interval(c);
    struct xml_node *iq;

    if (c->closing || c->phase != PH_READY)
        return;
    if (c->pinged && quiet >= iv + iv / 2) {
        CW_INFO("xmpp", "client %s: closing: it sent nothing for %llu s and did not answer a "
                "ping (a dead connection)", c->full, (unsigned long long)(quiet / 1000));
        snprintf(c->why, sizeof(c->why), "silent for %llu s, a ping unanswered",
                 (unsigned long long)(quiet / 1000));
        xmpp__stream_error(c, "connection-timeout", NULL);
        return;
    }
    if (!c->pinged && quiet >= iv) {
        iq = xml_node_new("iq", NS_CLIENT);
        if (iq && xml_node_set_attr(iq, "type", "get") == 0 &&
            xml_node_set_attr(iq, "id", "cw-ping") == 0 &&
            xml_node_set_attr(iq, "from", c->domain) == 0 &&
            xml_node_set_attr(iq, "to", c->full) == 0 && xml_node_add_child(iq, "ping", NS_PING))
            xmpp__send(c, iq);
        xml_node_free(iq);
        c->pinged = 1;
    }
}

static void ping_watch(struct xconn *c)
{
    unsigned tick = ping_interval(c) / 4;

    c->last_rx = uv_now(c->srv->loop);
    uv_timer_start(&c->timer, ping_cb, tick, tick);
}

static int on_bind(struct xconn *c, struct xml_node *n)
{
    struct xml_node *b = xml_node_find(n, "bind", NS_BIND), *res, *r, *j;
    struct cw_sb text, cmd;
    struct xconn *old;

    if (!is(n, "iq", NS_CLIENT) || !b) {
        xmpp__stream_error(c, "not-authorized", "bind a resource first");
        return XML_STOP;
    }
    cw_sb_init(&text);
    res = xml_node_find(b, "resource", NS_BIND);
    if (res && xml_node_text(res, &text)[0] && strlen(text.s) <= JID_PART_MAX &&
        !strpbrk(text.s, "\t\r\n")) {
        snprintf(c->jid.resource, sizeof(c->jid.resource), "%s", text.s);
    } else {
        /* RFC 6120 7.6: no (usable) resource: the server makes one. */
        if (cw_random_hex(c->jid.resource, 8) < 0)
            snprintf(c->jid.resource, sizeof(c->jid.resource), "0000000000000000");
    }
    cw_sb_free(&text);
    jid_full(&c->jid, c->full, sizeof(c->full));
    jid_bare(&c->jid, c->bare, sizeof(c->bare));
    /* RFC 6120 7.7.2.2: the new session wins; the old one is told why. */
    old = xmpp__session_find(c->srv, c->full);
    if (old) {
        CW_INFO("xmpp", "client %s: %s logged in again from %s: closing the old session",
                old->peer, c->full, c->peer);
        xmpp__c2s_gone(old);
        xmpp__stream_error(old, "conflict", "replaced by a new connection");
    }
    c->phase = PH_READY;
    ping_watch(c);
    xmpp__session_add(c->srv, c);
    cw_sb_init(&cmd);
    cw_sb_printf(&cmd, "session-add %s %s", c->full, c->srv->node);
    xmpp__propose(c->srv, cmd.s);
    cw_sb_free(&cmd);
    r = result_for(n);
    if (r) {
        xml_node_set_attr(r, "to", NULL);
        xml_node_set_attr(r, "from", NULL);
        j = xml_node_add_child(xml_node_add_child(r, "bind", NS_BIND), "jid", NULL);
        if (j)
            xml_node_add_text(j, c->full, strlen(c->full));
    }
    send_free(c, r);
    CW_INFO("xmpp", "client %s bound %s", c->peer, c->full);
    xml_node_free(n);
    return 0;
}

/* ---- the server's own iq ---------------------------------------------------- */

struct roster_out {
    struct xml_node *query;
};

static int roster_item_xml(void *arg, const struct xmpp_roster_item *it)
{
    struct roster_out *ro = arg;
    struct xml_node *i = xml_node_add_child(ro->query, "item", NULL);

    if (!i)
        return -1;
    xml_node_set_attr(i, "jid", it->contact);
    xml_node_set_attr(i, "subscription", xmpp_sub_name(it->sub));
    if (it->ask)
        xml_node_set_attr(i, "ask", "subscribe");
    if (it->name)
        xml_node_set_attr(i, "name", it->name);
    return 0;
}

/* RFC 6121 2.1.6: a roster push of item to every interested resource. */
void xmpp__roster_push(struct xmpp_server *srv, const char *owner, const char *contact)
{
    struct xmpp_roster_item it;
    struct roster_out ro;
    struct xml_node *iq = xml_node_new("iq", NS_CLIENT), *i;
    char id[32];

    if (!iq)
        return;
    xml_node_set_attr(iq, "type", "set");
    snprintf(id, sizeof(id), "push%lu", ++srv->pushes);
    xml_node_set_attr(iq, "id", id);
    ro.query = xml_node_add_child(iq, "query", NS_ROSTER);
    if (!ro.query)
        goto out;
    if (xmpp_state_roster_item(srv->st, owner, contact, &it)) {
        roster_item_xml(&ro, &it);
    } else if ((i = xml_node_add_child(ro.query, "item", NULL))) {
        xml_node_set_attr(i, "jid", contact);
        xml_node_set_attr(i, "subscription", "remove");
    }
    for (struct xconn *c = xmpp__bare_first(srv, owner); c; c = xmpp__bare_next(c))
        if (c->interested && !c->closing) {
            xml_node_set_attr(iq, "to", c->full);
            xmpp__send(c, iq);
        }
out:
    xml_node_free(iq);
}

static void roster_iq(struct xconn *c, struct xml_node *n, struct xml_node *q)
{
    const char *type = xml_node_attr(n, "type");
    struct xml_node *item, *r;
    struct xmpp_roster_item cur;
    struct roster_out ro;
    struct cw_sb cmd;
    struct jid j;
    char contact[JID_MAX + 1];

    if (!strcmp(type, "get")) {
        r = result_for(n);
        if (r && (ro.query = xml_node_add_child(r, "query", NS_ROSTER))) {
            c->interested = 1;
            xmpp_state_roster(c->srv->st, c->bare, roster_item_xml, &ro);
        }
        xml_node_set_attr(r, "to", c->full);
        xml_node_set_attr(r, "from", NULL);
        send_free(c, r);
        return;
    }
    /* RFC 6121 2.3.3: a set holds exactly one item. */
    item = xml_node_find(q, "item", NS_ROSTER);
    if (!item || xml_node_find_next(item, "item", NS_ROSTER) || !xml_node_attr(item, "jid") ||
        jid_parse(xml_node_attr(item, "jid"), &j) < 0 || j.resource[0]) {
        send_free(c, xmpp__error_reply(n, "modify", "bad-request"));
        return;
    }
    jid_bare(&j, contact, sizeof(contact));
    cw_sb_init(&cmd);
    if (xml_node_attr(item, "subscription") &&
        !strcmp(xml_node_attr(item, "subscription"), "remove")) {
        if (!xmpp_state_roster_item(c->srv->st, c->bare, contact, &cur)) {
            send_free(c, xmpp__error_reply(n, "cancel", "item-not-found"));
            cw_sb_free(&cmd);
            return;
        }
        cw_sb_printf(&cmd, "roster-del %s %s", c->bare, contact);
    } else if (xmpp_state_roster_full(c->srv->st, c->bare, contact)) {
        CW_INFO("xmpp", "%s: roster set refused: the roster holds %d items, the most it may",
                c->full, XMPP_ROSTER_MAX);
        send_free(c, xmpp__error_reply(n, "cancel", "not-allowed"));
        cw_sb_free(&cmd);
        return;
    } else {
        /* RFC 6121 2.1.2.5: the client sets the name, never the subscription. */
        xmpp_state_roster_name_cmd(c->bare, contact, xml_node_attr(item, "name"), &cmd);
    }
    if (xmpp__propose(c->srv, cmd.s) < 0) {
        send_free(c, xmpp__error_reply(n, "wait", "service-unavailable"));
    } else {
        r = result_for(n);
        xml_node_set_attr(r, "to", c->full);
        xml_node_set_attr(r, "from", NULL);
        send_free(c, r);   /* the push follows when the change is applied */
    }
    cw_sb_free(&cmd);
}

static void disco_info(struct xconn *c, struct xml_node *n)
{
    struct xml_node *r = result_for(n), *q, *x;
    static const char *const features[] = { NS_DISCO_INFO, NS_PING, NS_ROSTER };

    if (!r || !(q = xml_node_add_child(r, "query", NS_DISCO_INFO))) {
        xml_node_free(r);
        return;
    }
    if ((x = xml_node_add_child(q, "identity", NULL))) {
        xml_node_set_attr(x, "category", "server");
        xml_node_set_attr(x, "type", "im");
        xml_node_set_attr(x, "name", "Causeway");
    }
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        if ((x = xml_node_add_child(q, "feature", NULL)))
            xml_node_set_attr(x, "var", features[i]);
    send_free(c, r);
}

/* An iq addressed to the server or the user's own account. */
static void server_iq(struct xconn *c, struct xml_node *n, int to_account)
{
    const char *type = xml_node_attr(n, "type");
    struct xml_node *q = n->child;

    while (q && !q->name)
        q = q->next;
    if (strcmp(type, "get") && strcmp(type, "set"))
        return;   /* a result or error for us: nothing waits for it */
    if (q && is(q, "query", NS_ROSTER)) {
        roster_iq(c, n, q);
    } else if (q && is(q, "ping", NS_PING)) {
        send_free(c, result_for(n));
    } else if (q && is(q, "session", NS_SESSION) && !to_account) {
        send_free(c, result_for(n));   /* RFC 3921 3: kept for old clients */
    } else if (q && is(q, "query", NS_DISCO_INFO) && !strcmp(type, "get") && !to_account) {
        disco_info(c, n);
    } else {
        send_free(c, xmpp__error_reply(n, "cancel", "service-unavailable"));
    }
}

/* ---- stanzas of a bound client --------------------------------------------- */

static int on_ready(struct xconn *c, struct xml_node *n)
{
    const char *to, *type;
    struct jid j;
    char bare[JID_MAX + 1];

    if (strcmp(n->ns, NS_CLIENT) != 0 ||
        (!is(n, "message", NULL) && !is(n, "presence", NULL) && !is(n, "iq", NULL))) {
        int bad_ns = strcmp(n->ns, NS_CLIENT) != 0;
        CW_NOTICE("xmpp", "client %s: <%s xmlns='%s'> is not a stanza: closing", c->full,
                  n->name, n->ns);
        xml_node_free(n);
        xmpp__stream_error(c, bad_ns ? "invalid-namespace" : "unsupported-stanza-type", NULL);
        return XML_STOP;
    }
    /* RFC 6120 8.1.2.1: the server stamps the sender's full JID. */
    if (xml_node_set_attr(n, "from", c->full) < 0) {
        xml_node_free(n);
        return 0;
    }
    to = xml_node_attr(n, "to");
    type = xml_node_attr(n, "type");
    if (to && jid_parse(to, &j) < 0) {
        xmpp__bounce(c->srv, n, "modify", "jid-malformed");
        return 0;
    }
    if (is(n, "iq", NULL)) {
        if (!xml_node_attr(n, "id") || !type ||
            (strcmp(type, "get") && strcmp(type, "set") && strcmp(type, "result") &&
             strcmp(type, "error"))) {
            xmpp__bounce(c->srv, n, "modify", "bad-request");
            return 0;
        }
        if (!to || !strcmp(jid_bare(&j, bare, sizeof(bare)), c->bare) ||
            !strcmp(to, c->domain)) {
            server_iq(c, n, to && strcmp(to, c->domain) != 0);
            xml_node_free(n);
            return 0;
        }
    } else if (is(n, "presence", NULL)) {
        if (!type || !strcmp(type, "unavailable")) {
            if (!to) {
                xmpp__presence_broadcast(c, n);
                return 0;
            }
        } else if (!strcmp(type, "subscribe") || !strcmp(type, "subscribed") ||
                   !strcmp(type, "unsubscribe") || !strcmp(type, "unsubscribed")) {
            if (!to) {
                xml_node_free(n);
                return 0;
            }
            xmpp__presence_subscription(c->srv, c, n);
            return 0;
        } else if (!strcmp(type, "probe")) {
            xml_node_free(n);   /* probes are the server's business */
            return 0;
        }
    } else if (!to) {
        /* RFC 6121 8.5.1: a message without to is for the sender's account. */
        xml_node_set_attr(n, "to", c->bare);
    }
    xmpp__route(c->srv, n);
    return 0;
}

int xmpp__c2s_stanza(struct xconn *c, struct xml_node *n)
{
    switch (c->phase) {
    case PH_TLS:
        if (is(n, "starttls", NS_TLS) && c->srv->o.tls) {
            xml_node_free(n);
            xmpp__write(c, "<proceed xmlns='" NS_TLS "'/>", sizeof("<proceed xmlns='" NS_TLS "'/>") - 1);
            c->tls_next = 1;
            return XML_STOP;
        }
        CW_NOTICE("xmpp", "client %s sent <%s/> before STARTTLS: closing (TLS is required)",
                  c->peer, n->name);
        xml_node_free(n);
        xmpp__stream_error(c, "policy-violation", "STARTTLS is required");
        return XML_STOP;
    case PH_AUTH: {
        int r = on_auth(c, n);
        xml_node_free(n);
        return r;
    }
    case PH_BIND:
        if (is(n, "iq", NS_CLIENT) && xml_node_find(n, "bind", NS_BIND))
            return on_bind(c, n);
        xml_node_free(n);
        xmpp__stream_error(c, "not-authorized", "bind a resource first");
        return XML_STOP;
    case PH_READY:
        return on_ready(c, n);
    default:
        xml_node_free(n);
        xmpp__stream_error(c, "not-authorized", NULL);
        return XML_STOP;
    }
}

void xmpp__c2s_gone(struct xconn *c)
{
    struct xml_node *p;
    struct cw_sb cmd;

    if (c->phase != PH_READY || !c->full[0])
        return;
    if (c->available && (p = xml_node_new("presence", NS_CLIENT))) {
        /* RFC 6121 4.6: the server says unavailable for a vanished client. */
        xml_node_set_attr(p, "type", "unavailable");
        xml_node_set_attr(p, "from", c->full);
        xmpp__presence_broadcast(c, p);
    }
    xmpp__c2s_session_remove(c);
    c->phase = PH_HEADER;
    if (!c->srv->closing) {
        cw_sb_init(&cmd);
        cw_sb_printf(&cmd, "session-del %s %s", c->full, c->srv->node);
        xmpp__propose(c->srv, cmd.s);
        cw_sb_free(&cmd);
    }
    CW_INFO("xmpp", "client %s: session %s ended", c->peer, c->full);
}
