/* component.c - call bridges and other external components (XEP-0114):
 * the stream header names the component's domain, the component proves it
 * knows the shared secret with SHA-1(stream id + secret), and then its
 * stanzas are routed like anyone's, from its own domain only. */
#include "xmpp/xmpp_int.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"

/* The secret a component connecting as domain must know: the call bridge
 * registered under that name, or under its first label when the rest is
 * one of our domains ("cb1" with example.com served: cb1.example.com).
 * NULL if none. */
const char *xmpp__comp_secret(const struct xmpp_state *st, const char *domain)
{
    const char *dot = strchr(domain, '.');
    const char *s = xmpp_state_component_secret(st, domain);
    char name[JID_PART_MAX + 1];

    if (s || !dot)
        return s;
    snprintf(name, sizeof(name), "%.*s", (int)(dot - domain), domain);
    if (!xmpp_state_has_domain(st, dot + 1))
        return NULL;
    return xmpp_state_component_secret(st, name);
}

int xmpp__comp_open(struct xconn *c, const struct xml_node *head)
{
    const char *to = xml_node_attr(head, "to");
    char dom[JID_PART_MAX + 1];

    if (!to || !jid_domain_ok(to, dom, sizeof(dom))) {
        xmpp__stream_error(c, "improper-addressing", "the stream must name the component");
        return XML_STOP;
    }
    snprintf(c->domain, sizeof(c->domain), "%s", dom);
    xmpp__stream_header(c, NS_COMPONENT, c->domain);
    if (!xmpp__comp_secret(c->srv->st, c->domain)) {
        CW_NOTICE("xmpp", "component %s from %s: authentication failure: no call bridge of that "
                  "name (`causeway xmpp callbridge list`)", c->domain, c->peer);
        xmpp__stream_error(c, "host-unknown", NULL);
        return XML_STOP;
    }
    c->phase = PH_HANDSHAKE;
    return 0;
}

static int handshake(struct xconn *c, struct xml_node *n)
{
    const char *secret = xmpp__comp_secret(c->srv->st, c->domain);
    unsigned char md[SHA_DIGEST_LENGTH];
    char want[2 * SHA_DIGEST_LENGTH], got[64], in[sizeof(c->id) + 257];
    struct cw_sb text;
    int ok;

    cw_sb_init(&text);
    xml_node_text(n, &text);
    snprintf(got, sizeof(got), "%s", text.s ? text.s : "");
    cw_sb_free(&text);
    for (char *p = got; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p + 32);
    /* XEP-0114 3: hex(SHA-1(stream id || secret)); secrets are at most 256. */
    ok = secret && (size_t)snprintf(in, sizeof(in), "%s%s", c->id, secret) < sizeof(in);
    if (ok) {
        SHA1((const unsigned char *)in, strlen(in), md);
        cw_hex_encode(md, sizeof(md), want);
        ok = strlen(got) == sizeof(want) && CRYPTO_memcmp(want, got, sizeof(want)) == 0;
    }
    OPENSSL_cleanse(in, sizeof(in));
    if (!ok) {
        CW_NOTICE("xmpp", "component %s from %s: authentication failure: wrong handshake "
                  "(the secret differs from the one `causeway xmpp callbridge add` made)",
                  c->domain, c->peer);
        xmpp__stream_error(c, "not-authorized", NULL);
        return XML_STOP;
    }
    if (xmpp__component_find(c->srv, c->domain)) {
        /* XEP-0114 leaves it open; the newer connection wins, as for clients. */
        struct xconn *old = xmpp__component_find(c->srv, c->domain);
        CW_INFO("xmpp", "component %s connected again from %s: closing the older connection",
                c->domain, c->peer);
        xmpp__stream_error(old, "conflict", NULL);
    }
    c->phase = PH_READY;
    uv_timer_stop(&c->timer);
    xmpp__component_add(c->srv, c);
    if (c->srv->o.forward) {
        /* The other nodes route to it through this one. */
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "comproute-set %s %s", c->domain, c->srv->node);
        xmpp__propose(c->srv, cmd);
    }
    xmpp__write(c, "<handshake/>", 12);
    CW_NOTICE("xmpp", "component %s connected from %s", c->domain, c->peer);
    return 0;
}

int xmpp__comp_stanza(struct xconn *c, struct xml_node *n)
{
    const char *from;
    struct jid j;

    if (c->phase == PH_HANDSHAKE) {
        int r = -1;
        if (n->name && !strcmp(n->name, "handshake") && !strcmp(n->ns, NS_COMPONENT))
            r = handshake(c, n);
        else
            xmpp__stream_error(c, "not-authorized", "handshake first");
        xml_node_free(n);
        return r < 0 ? XML_STOP : r;
    }
    if (strcmp(n->ns, NS_COMPONENT) != 0 ||
        (strcmp(n->name, "message") && strcmp(n->name, "presence") && strcmp(n->name, "iq"))) {
        int bad_ns = strcmp(n->ns, NS_COMPONENT) != 0;
        xml_node_free(n);
        xmpp__stream_error(c, bad_ns ? "invalid-namespace" : "unsupported-stanza-type", NULL);
        return XML_STOP;
    }
    /* XEP-0114 3: a component speaks only for addresses in its domain. */
    from = xml_node_attr(n, "from");
    if (!from || jid_parse(from, &j) < 0 || strcmp(j.domain, c->domain) != 0) {
        CW_NOTICE("xmpp", "component %s sent a stanza from \"%s\": closing (invalid-from)",
                  c->domain, from ? from : "");
        xml_node_free(n);
        xmpp__stream_error(c, "invalid-from", NULL);
        return XML_STOP;
    }
    if (!xml_node_attr(n, "to")) {
        xmpp__bounce(c->srv, n, "modify", "jid-malformed");
        return 0;
    }
    xmpp__route(c->srv, n);
    return 0;
}
