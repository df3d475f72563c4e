/* link.c - the edge's federation link on this node (xmpp/fedlink.h): the
 * handshake that proves the shared link key both ways, the domains this
 * node serves (<domains/>, sent again whenever they change), stanzas from
 * foreign domains in, and stanzas for foreign domains out on the first
 * link that is up.
 *
 * The link arrives through the core's SSH tunnel (core/splice.c connects
 * the edge's federation stream to link-listen), so its peer address is
 * always loopback: the key, not the address, says that it is the edge.
 * What comes in is checked as an s2s stream's would be: a stanza must come
 * from outside our domains and go to an address inside them; anything else
 * is dropped and logged (once a minute at most: a peer must not be able to
 * fill the log). */
#include "xmpp/xmpp_int.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "xmpp/fedlink.h"

#define NONCE_LEN FEDLINK_NONCE_LEN
#define PROOF_LEN FEDLINK_PROOF_LEN
#define LOG_EVERY_MS 60000          /* lines about dropped or bounced stanzas */

int xmpp__is_served_domain(const struct xmpp_server *srv, const char *domain)
{
    return xmpp_state_has_domain(srv->st, domain) || xmpp__comp_secret(srv->st, domain) != NULL;
}

static int is_hex(const char *s, size_t len)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return 0;
    return i == len;
}

/* ---- the domains this node serves ------------------------------------------- */

struct dom_list {
    const struct xmpp_server *srv;
    struct cw_sb *sb;
    const char *comp;           /* a call bridge's one-label name, while its domains are added */
    unsigned n;
};

static void dom_add(struct dom_list *d, const char *dom)
{
    char item[JID_PART_MAX + 40];

    snprintf(item, sizeof(item), "<domain>%s</domain>", dom);
    if (d->sb->s && strstr(d->sb->s, item))
        return;     /* a call bridge named like a domain of ours */
    cw_sb_str_add(d->sb, item);
    d->n++;
}

static int each_domain(void *arg, const char *dom)
{
    dom_add(arg, dom);
    return 0;
}

/* A call bridge named with one label ("cb1") connects as that label under
 * any of our domains (component.c): each of those is served. */
static int each_comp_domain(void *arg, const char *dom)
{
    struct dom_list *d = arg;
    char full[JID_PART_MAX + 1];

    if ((size_t)snprintf(full, sizeof(full), "%s.%s", d->comp, dom) < sizeof(full))
        dom_add(d, full);
    return 0;
}

static int each_comp(void *arg, const char *name)
{
    struct dom_list *d = arg;

    if (strchr(name, '.')) {
        dom_add(d, name);
    } else {
        d->comp = name;
        xmpp_state_domains(d->srv->st, each_comp_domain, d);
        d->comp = NULL;
    }
    return 0;
}

/* <domains/> as it stands into sb (cleared first); the number of domains. */
static unsigned domains_build(const struct xmpp_server *srv, struct cw_sb *sb)
{
    struct dom_list d = { srv, sb, NULL, 0 };

    cw_sb_clear(sb);
    CW_SB_LIT(sb, "<domains xmlns='" FEDLINK_NS "'>");
    xmpp_state_domains(srv->st, each_domain, &d);
    xmpp_state_components(srv->st, each_comp, &d);
    CW_SB_LIT(sb, "</domains>");
    return d.n;
}

static unsigned domains_count(const struct cw_sb *sb)
{
    unsigned n = 0;

    for (const char *p = sb->s; p && (p = strstr(p, "<domain>")); p++)
        n++;
    return n;
}

void xmpp__link_applied(struct xmpp_server *srv, const char *cmd)
{
    struct cw_sb now;
    struct cw_sb was;

    if (strncmp(cmd, "domain-", 7) && strncmp(cmd, "comp-", 5) && strcmp(cmd, "restore"))
        return;
    if (!srv->nlinks)
        return;     /* a link that comes up gets the list as it is then */
    cw_sb_init(&now);
    domains_build(srv, &now);
    if (now.failed || (srv->link_domains.s && now.len == srv->link_domains.len &&
                       !memcmp(now.s, srv->link_domains.s, now.len))) {
        cw_sb_free(&now);
        return;     /* a secret changed, or a call bridge named like a domain: same list */
    }
    was = srv->link_domains;
    srv->link_domains = now;    /* transferred */
    cw_sb_free(&was);
    for (struct xconn *c = srv->links; c; c = c->hnext)
        if (!c->closing)
            xmpp__write(c, srv->link_domains.s, srv->link_domains.len);
    CW_INFO("xmpp", "federation: the domains of this node changed (%s): %u announced to %u "
            "link%s", cmd, domains_count(&srv->link_domains), srv->nlinks,
            srv->nlinks == 1 ? "" : "s");
}

/* ---- set-up ----------------------------------------------------------------- */

int xmpp__link_open(struct xconn *c, const struct xml_node *head)
{
    const char *nonce = xml_node_attr(head, "nonce"), *ver = xml_node_attr(head, "version");
    struct cw_sb *sb = &c->srv->scratch;

    /* fedlink.h: our header answers with the stream id the proofs use. */
    cw_sb_clear(sb);
    CW_SB_LIT(sb, "<?xml version='1.0'?><stream:stream xmlns='" NS_SERVER "' xmlns:stream='"
                  XML_NS_STREAM "' id='");
    cw_sb_str_add(sb, c->id);
    CW_SB_LIT(sb, "' from='");
    xml_escape(sb, c->srv->node, strlen(c->srv->node));
    CW_SB_LIT(sb, "' version='1.0'>");
    c->header_sent = 1;
    xmpp__write(c, sb->s, sb->len);
    if (!ver || strncmp(ver, "1.", 2) != 0) {
        CW_NOTICE("xmpp", "federation link from %s: stream header without version='1.0': "
                  "closing (is it a causeway edge?)", c->peer);
        xmpp__stream_error(c, "unsupported-version", NULL);
        return XML_STOP;
    }
    if (!nonce || !is_hex(nonce, NONCE_LEN)) {
        CW_NOTICE("xmpp", "federation link from %s: stream header without a nonce of %d hex "
                  "digits: closing (is it a causeway edge?)", c->peer, NONCE_LEN);
        xmpp__stream_error(c, "bad-format", "a nonce of 32 hex digits is required");
        return XML_STOP;
    }
    snprintf(c->nonce, sizeof(c->nonce), "%s", nonce);
    c->phase = PH_HANDSHAKE;
    return 0;
}

/* The edge's proof: right, and ours goes back with the domains; wrong,
 * and the link ends with <not-authorized/>. */
static int handshake(struct xconn *c, const struct xml_node *n)
{
    struct xmpp_server *srv = c->srv;
    char want[PROOF_LEN + 1], got[PROOF_LEN + 2], ours[PROOF_LEN + 1];
    struct cw_sb text, *sb = &srv->scratch;
    int ok;

    if (!n->name || strcmp(n->name, "handshake") || strcmp(n->ns, FEDLINK_NS)) {
        CW_NOTICE("xmpp", "federation link from %s: <%s/> before the handshake: closing",
                  c->peer, n->name ? n->name : "text");
        xmpp__stream_error(c, "not-authorized", "handshake first");
        return XML_STOP;
    }
    cw_sb_init(&text);
    snprintf(got, sizeof(got), "%s", xml_node_text(n, &text));
    cw_sb_free(&text);
    for (char *p = got; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p + 32);
    if (fedlink_proof(srv->link_key, srv->link_key_len, FEDLINK_LABEL_EDGE, c->id, c->nonce,
                      want) < 0 ||
        fedlink_proof(srv->link_key, srv->link_key_len, FEDLINK_LABEL_CORE, c->nonce, c->id,
                      ours) < 0) {
        CW_ERROR("xmpp", "federation link from %s: HMAC-SHA256 failed (OpenSSL): closing",
                 c->peer);
        xmpp__stream_error(c, "internal-server-error", NULL);
        return XML_STOP;
    }
    ok = strlen(got) == PROOF_LEN && CRYPTO_memcmp(want, got, PROOF_LEN) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    if (!ok) {
        OPENSSL_cleanse(ours, sizeof(ours));
        CW_WARN("xmpp", "federation link from %s: handshake refused (wrong proof): check that "
                "link-key-file holds the same key on the edge and on this node", c->peer);
        snprintf(c->why, sizeof(c->why), "handshake refused (wrong proof)");
        xmpp__stream_error(c, "not-authorized", NULL);
        return XML_STOP;
    }
    c->phase = PH_READY;
    c->since = time(NULL);
    c->stanzas_in = 0;      /* stanzas, from now on: not the handshake */
    uv_timer_stop(&c->timer);
    /* Oldest first: stanzas go out on the link that has been up longest. */
    c->hnext = NULL;
    {
        struct xconn **p = &srv->links;
        while (*p)
            p = &(*p)->hnext;
        *p = c;
    }
    srv->nlinks++;
    cw_sb_clear(sb);
    CW_SB_LIT(sb, "<handshake xmlns='" FEDLINK_NS "' node='");
    xml_escape(sb, srv->node, strlen(srv->node));
    CW_SB_LIT(sb, "' proof='");
    cw_sb_str_add(sb, ours);
    CW_SB_LIT(sb, "'/>");
    xmpp__write(c, sb->s, sb->len);
    OPENSSL_cleanse(ours, sizeof(ours));
    domains_build(srv, &srv->link_domains);
    xmpp__write(c, srv->link_domains.s, srv->link_domains.len);
    CW_NOTICE("xmpp", "federation link from %s up (edge): %u domains announced; %u link%s up",
              c->peer, domains_count(&srv->link_domains), srv->nlinks,
              srv->nlinks == 1 ? "" : "s");
    return 0;
}

/* ---- stanzas ------------------------------------------------------------------ */

/* A stanza from the edge that must not be routed: dropped, and said (the
 * first, then a line a minute at most with how many more there were). */
static void drop(struct xconn *c, const struct xml_node *n, const char *why)
{
    uint64_t now = uv_now(c->srv->loop);
    const char *from = xml_node_attr(n, "from"), *to = xml_node_attr(n, "to");
    char more[96] = "";

    c->dropped++;
    CW_DEBUG("xmpp", "federation link from %s: dropped <%s/> from %s to %s: %s", c->peer,
             n->name, from ? from : "(none)", to ? to : "(none)", why);
    if (c->drop_logged_ms && now - c->drop_logged_ms < LOG_EVERY_MS) {
        c->drops_quiet++;
        return;
    }
    if (c->drops_quiet)
        snprintf(more, sizeof(more), " (and %lu more since the last such line, a minute ago "
                 "or more)", c->drops_quiet);
    CW_NOTICE("xmpp", "federation link from %s: dropped <%s/> from %s to %s: %s%s", c->peer,
              n->name, from ? from : "(none)", to ? to : "(none)", why, more);
    c->drop_logged_ms = now;
    c->drops_quiet = 0;
}

int xmpp__link_stanza(struct xconn *c, struct xml_node *n)
{
    struct xmpp_server *srv = c->srv;
    const char *from, *to, *why = NULL;
    struct jid f, t;
    int r;

    if (c->phase == PH_HANDSHAKE) {
        r = handshake(c, n);
        xml_node_free(n);
        return r;
    }
    if (c->phase != PH_READY) {
        xml_node_free(n);
        xmpp__stream_error(c, "not-authorized", NULL);
        return XML_STOP;
    }
    if (!strcmp(n->ns, FEDLINK_NS)) {
        /* Link control from a newer edge: nothing this node needs. */
        CW_DEBUG("xmpp", "federation link from %s: <%s/> of %s ignored", c->peer, n->name,
                 FEDLINK_NS);
        xml_node_free(n);
        return 0;
    }
    if (strcmp(n->ns, NS_SERVER) != 0 ||
        (strcmp(n->name, "message") && strcmp(n->name, "presence") && strcmp(n->name, "iq"))) {
        int bad_ns = strcmp(n->ns, NS_SERVER) != 0;
        CW_NOTICE("xmpp", "federation link from %s: <%s/> in \"%s\" is not a stanza: closing",
                  c->peer, n->name, n->ns);
        xml_node_free(n);
        xmpp__stream_error(c, bad_ns ? "invalid-namespace" : "unsupported-stanza-type", NULL);
        return XML_STOP;
    }
    from = xml_node_attr(n, "from");
    to = xml_node_attr(n, "to");
    /* fedlink.h: from a foreign domain (the edge authenticated it), to an
     * address of ours; what claims to be us, or is not for us, goes no
     * further. */
    if (!from || jid_parse(from, &f) < 0)
        why = "no valid from";
    else if (xmpp__is_served_domain(srv, f.domain))
        why = "its from is in one of this node's domains";
    else if (!to || jid_parse(to, &t) < 0)
        why = "no valid to";
    else if (!xmpp__is_served_domain(srv, t.domain))
        why = "its to is not in this node's domains";
    if (why) {
        drop(c, n, why);
        xml_node_free(n);
        return 0;
    }
    xmpp__route(srv, n);
    return 0;
}

int xmpp__link_send(struct xmpp_server *srv, const struct xml_node *n)
{
    const char *from = xml_node_attr(n, "from");
    struct xconn *c = srv->links;
    struct jid f;

    while (c && c->closing)
        c = c->hnext;
    if (!c)
        return -1;
    /* The edge refuses (and logs) a stanza that is not from our domains:
     * none should come here, and none goes. */
    if (!from || jid_parse(from, &f) < 0 || !xmpp__is_served_domain(srv, f.domain)) {
        CW_DEBUG("xmpp", "<%s> from %s to %s not sent to the federation link: its from is not "
                 "in this node's domains", n->name, from ? from : "(none)",
                 xml_node_attr(n, "to") ? xml_node_attr(n, "to") : "(none)");
        return 0;
    }
    xmpp__send(c, n);
    srv->federated++;
    return 0;
}

void xmpp__link_missing(struct xmpp_server *srv, const char *domain)
{
    uint64_t now = uv_now(srv->loop);
    char more[96] = "";

    if (srv->nolink_logged_ms && now - srv->nolink_logged_ms < LOG_EVERY_MS) {
        srv->nolink_quiet++;
        return;
    }
    if (srv->nolink_quiet)
        snprintf(more, sizeof(more), "; and %lu more since the last such line, a minute ago or "
                 "more", srv->nolink_quiet);
    CW_NOTICE("xmpp", "a stanza to %s bounced (remote-server-not-found): no federation link from "
              "the edge is up on this node (%s%s)", domain,
              srv->link_listening ? "the edge's [federation] core must name this node's tunnel "
                                    "forward; `causeway xmpp status` lists the links"
                                  : "federation is off here: no [xmpp] link-listen in core.conf",
              more);
    srv->nolink_logged_ms = now;
    srv->nolink_quiet = 0;
}

/* ---- the end of a link --------------------------------------------------------- */

void xmpp__link_gone(struct xconn *c, int err)
{
    struct xmpp_server *srv = c->srv;
    const char *why = c->why[0] ? c->why : err ? cw_stream_strerror(err)
                                               : "the edge closed the connection";

    if (srv->closing)
        why = "this node's XMPP service is stopping";
    if (c->phase != PH_READY) {
        CW_INFO("xmpp", "federation link from %s: closed before its handshake: %s", c->peer, why);
        return;
    }
    for (struct xconn **p = &srv->links; *p; p = &(*p)->hnext)
        if (*p == c) {
            *p = c->hnext;
            break;
        }
    c->hnext = NULL;
    srv->nlinks--;
    c->phase = PH_HEADER;
    CW_NOTICE("xmpp", "federation link from %s down: %s (%lu stanzas in, %lu out; %u link%s up)",
              c->peer, why, c->stanzas_in, c->stanzas_out, srv->nlinks,
              srv->nlinks == 1 ? "" : "s");
}

void xmpp__link_status(const struct xmpp_server *srv, struct cw_sb *out)
{
    char since[32];
    unsigned negotiating = 0;

    if (!srv->link_listening) {
        cw_sb_printf(out, "federation  off on this node (no [xmpp] link-listen)\n");
        return;
    }
    for (const struct xconn *c = srv->conns; c; c = c->next)
        negotiating += c->kind == XC_LINK && c->phase != PH_READY && !c->closing;
    cw_sb_printf(out, "federation  %u link%s from the edge up (%u negotiating), %s\n",
                 srv->nlinks, srv->nlinks == 1 ? "" : "s", negotiating,
                 srv->nlinks ? "stanzas for other domains go to the first"
                             : "stanzas for other domains are bounced");
    for (const struct xconn *c = srv->links; c; c = c->hnext) {
        struct tm tm;
        gmtime_r(&c->since, &tm);
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
        cw_sb_printf(out, "  link      from %-21s node %s, proof ok, since %s, in %lu out %lu, "
                     "dropped %lu\n", c->peer, srv->node, since, c->stanzas_in, c->stanzas_out,
                     c->dropped);
    }
}
