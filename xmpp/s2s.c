/* s2s.c - the federation gateway: listeners, s2s streams (both ways share
 * the plumbing here), the inbound side's negotiation (STARTTLS, SASL
 * EXTERNAL, dialback as the receiving server and as the authoritative one),
 * inbound stanzas to the cores, and status. */
#include "xmpp/s2s_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/log.h"
#include "xmpp/jid.h"
#include "xmpp/sasl.h"

#define XMLNS_NS "http://www.w3.org/2000/xmlns/"

/* ---- small things ------------------------------------------------------------- */

/* How log lines name a stream's direction. */
static const char *dir_word(const struct s2s_conn *c)
{
    return c->dir == S2S_IN ? "inbound from" : "outbound to";
}

const char *s2s__domain_of(const char *jid, char *buf, size_t len)
{
    struct jid j;

    buf[0] = 0;
    if (jid && jid_parse(jid, &j) == 0)
        snprintf(buf, len, "%s", j.domain);
    return buf;
}

static int in_list(const char (*list)[S2S_DOMAIN_MAX + 1], int n, const char *domain)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], domain))
            return 1;
    return 0;
}

int s2s__allowed(const struct s2s_gateway *gw, const char *domain)
{
    if (in_list(gw->o.deny, gw->o.ndeny, domain))
        return 0;
    return !gw->o.nallow || in_list(gw->o.allow, gw->o.nallow, domain);
}

const struct s2s_policy *s2s__policy(const struct s2s_gateway *gw, const char *domain)
{
    for (int i = 0; i < gw->o.npeer; i++)
        if (!strcmp(gw->o.peer[i].domain, domain))
            return &gw->o.peer[i].policy;
    return &gw->o.policy;
}

void s2s__db_key(const struct s2s_gateway *gw, const char *receiving, const char *originating,
                 const char *id, char key[65])
{
    /* XEP-0185: HMAC-SHA256 keyed with the hex SHA-256 of the secret, over
     * "receiving originating stream-id". */
    uint8_t mac[32];
    unsigned len = sizeof(mac);
    struct cw_sb m;

    cw_sb_init(&m);
    cw_sb_printf(&m, "%s %s %s", receiving, originating, id);
    if (m.failed || !HMAC(EVP_sha256(), gw->db_hmac_key, 64, (const uint8_t *)m.s, m.len, mac,
                          &len))
        memset(mac, 0, sizeof(mac));
    cw_sb_free(&m);
    cw_hex_encode(mac, sizeof(mac), key);
    key[64] = 0;
}

struct xml_node *s2s__error_reply(const struct xml_node *n, const char *cond, const char *text)
{
    const char *t = xml_node_attr(n, "type"), *from = xml_node_attr(n, "from"),
               *to = xml_node_attr(n, "to"), *id = xml_node_attr(n, "id");
    struct xml_node *r, *e, *x;

    /* RFC 6120 8.3.1: never an error for an error, nor for a result. */
    if (!from || !to || (t && (!strcmp(t, "error") || (!strcmp(n->name, "iq") &&
                                                       !strcmp(t, "result")))))
        return NULL;
    if (!strcmp(n->name, "presence") && (!t || strcmp(t, "subscribe") != 0))
        return NULL;    /* of presence, only a subscription request waits for an answer */
    r = xml_node_new(n->name, NS_SERVER);
    if (!r)
        return NULL;
    if ((id && xml_node_set_attr(r, "id", id) < 0) || xml_node_set_attr(r, "to", from) < 0 ||
        xml_node_set_attr(r, "from", to) < 0 || xml_node_set_attr(r, "type", "error") < 0 ||
        !(e = xml_node_add_child(r, "error", NS_SERVER)) ||
        xml_node_set_attr(e, "type", strcmp(cond, "remote-server-timeout") ? "cancel" : "wait") < 0 ||
        !(x = xml_node_add_child(e, cond, NS_S2S_STANZAS)) ||
        (text && (!(x = xml_node_add_child(e, "text", NS_S2S_STANZAS)) ||
                  xml_node_add_text(x, text, strlen(text)) < 0))) {
        xml_node_free(r);
        return NULL;
    }
    return r;
}

/* ---- writing -------------------------------------------------------------------- */

void s2s__write(struct s2s_conn *c, const char *p, size_t n)
{
    if (c->closing)
        return;
    if (cw_stream_pending(c->st) > S2S_OUT_MAX) {
        CW_NOTICE("federation", "%s %s (%s): closing: it does not read what is sent to it",
                  dir_word(c), c->remote, c->peer);
        c->closing = 1;
        cw_stream_close(c->st);
        return;
    }
    cw_stream_write(c->st, p, n);
}

void s2s__send(struct s2s_conn *c, const struct xml_node *n)
{
    struct cw_sb *sb = &c->gw->scratch;

    cw_sb_clear(sb);
    /* Stanzas are in jabber:server (or jabber:client from a core's user):
     * written in the stream's default namespace, without xmlns. Anything
     * else (dialback) names its namespace. */
    xml_serialize(n, !strcmp(n->ns, NS_SERVER) || !strcmp(n->ns, "jabber:client") ? n->ns
                                                                                 : NS_SERVER, sb);
    if (sb->failed)
        return;
    if (n->name && (!strcmp(n->name, "message") || !strcmp(n->name, "presence") ||
                    !strcmp(n->name, "iq"))) {
        c->stanzas_out++;
        c->last_used = uv_now(c->gw->loop);
    }
    s2s__write(c, sb->s, sb->len);
}

void s2s__header(struct s2s_conn *c)
{
    struct cw_sb *sb = &c->gw->scratch;

    cw_sb_clear(sb);
    CW_SB_LIT(sb, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                  "xmlns:stream='http://etherx.jabber.org/streams' "
                  "xmlns:db='jabber:server:dialback'");
    if (c->dir == S2S_IN) {
        CW_SB_LIT(sb, " id='");
        cw_sb_str_add(sb, c->id);
        CW_SB_LIT(sb, "'");
    }
    if (c->local[0]) {
        CW_SB_LIT(sb, " from='");
        xml_escape(sb, c->local, strlen(c->local));
        CW_SB_LIT(sb, "'");
    }
    if (c->remote[0]) {
        CW_SB_LIT(sb, " to='");
        xml_escape(sb, c->remote, strlen(c->remote));
        CW_SB_LIT(sb, "'");
    }
    CW_SB_LIT(sb, " version='1.0'>");
    c->header_sent = 1;
    s2s__write(c, sb->s, sb->len);
}

void s2s__stream_error(struct s2s_conn *c, const char *cond, const char *text)
{
    struct cw_sb *sb = &c->gw->scratch;

    if (c->closing)
        return;
    if (!c->header_sent)
        s2s__header(c);
    cw_sb_clear(sb);
    xml_stream_error_append(sb, cond, text);
    s2s__write(c, sb->s, sb->len);
    s2s__close(c);
}

void s2s__close(struct s2s_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    cw_stream_close(c->st);
}

/* ---- the inbound side ---------------------------------------------------------------- */

static void in_features(struct s2s_conn *c)
{
    struct s2s_gateway *gw = c->gw;
    const struct s2s_policy *p = s2s__policy(gw, c->remote);
    struct cw_sb f;

    cw_sb_init(&f);
    CW_SB_LIT(&f, "<stream:features>");
    if (!cw_stream_is_tls(c->st)) {
        CW_SB_LIT(&f, "<starttls xmlns='" NS_S2S_TLS "'>");
        if (!p->tls_optional)
            CW_SB_LIT(&f, "<required/>");
        CW_SB_LIT(&f, "</starttls>");
        if (p->tls_optional && !p->cert_required)
            CW_SB_LIT(&f, "<dialback xmlns='" NS_DB_FEATURE "'><errors/></dialback>");
    } else if (!c->sasl_done) {
        c->cert_ok = c->remote[0] &&
                     cw_stream_peer_cert_check(c->st, c->remote, c->cert_why, sizeof(c->cert_why));
        if (!c->remote[0])
            snprintf(c->cert_why, sizeof(c->cert_why), "its stream header has no from");
        if (c->cert_ok)
            CW_SB_LIT(&f, "<mechanisms xmlns='" NS_S2S_SASL "'><mechanism>EXTERNAL</mechanism>"
                          "</mechanisms>");
        if (!p->cert_required)
            CW_SB_LIT(&f, "<dialback xmlns='" NS_DB_FEATURE "'><errors/></dialback>");
        CW_SB_LIT(&f, "<bidi xmlns='" NS_BIDI_FEATURE "'/>");
    }
    CW_SB_LIT(&f, "</stream:features>");
    s2s__write(c, f.s, f.len);
    cw_sb_free(&f);
}

static int in_open(struct s2s_conn *c, const struct xml_node *head)
{
    const char *to = xml_node_attr(head, "to"), *from = xml_node_attr(head, "from"),
               *ver = xml_node_attr(head, "version"),
               *dns = xml_node_attr_ns(head, XMLNS_NS, "xmlns");
    char dom[S2S_DOMAIN_MAX + 1];

    if (!dns || strcmp(dns, NS_SERVER) != 0) {
        s2s__stream_error(c, "invalid-namespace", "an s2s stream is in jabber:server");
        return XML_STOP;
    }
    if (from && jid_domain_ok(from, dom, sizeof(dom)))
        snprintf(c->remote, sizeof(c->remote), "%s", dom);
    if (!to || !jid_domain_ok(to, dom, sizeof(dom)) || !s2s__is_ours(c->gw, dom)) {
        CW_INFO("federation", "inbound from %s (%s): refused: it asked for domain \"%s\", which "
                "no core serves%s", c->remote[0] ? c->remote : "?", c->peer, to ? to : "",
                c->gw->link[0].state == LK_READY ? "" : " (no federation link to a core is up)");
        s2s__stream_error(c, "host-unknown", NULL);
        return XML_STOP;
    }
    if (c->local[0] && strcmp(c->local, dom) != 0) {
        s2s__stream_error(c, "host-unknown", "the domain changed on a stream restart");
        return XML_STOP;
    }
    snprintf(c->local, sizeof(c->local), "%s", dom);
    /* A fresh id for every stream header (RFC 6120 4.7.3); dialback keys
     * are bound to the one in force. */
    if (cw_random_hex(c->id, 16) < 0) {
        s2s__stream_error(c, "internal-server-error", NULL);
        return XML_STOP;
    }
    if (c->remote[0] && !s2s__allowed(c->gw, c->remote)) {
        CW_NOTICE("federation", "inbound from %s (%s): refused by policy (allow/deny in "
                  "[federation])", c->remote, c->peer);
        s2s__stream_error(c, "policy-violation", NULL);
        return XML_STOP;
    }
    s2s__header(c);
    if (!ver || strncmp(ver, "1.", 2) != 0) {
        s2s__stream_error(c, "unsupported-version", NULL);
        return XML_STOP;
    }
    in_features(c);
    return 0;
}

int s2s__is_authed(const struct s2s_conn *c, const char *domain)
{
    for (int i = 0; i < c->nauthed; i++)
        if (!strcmp(c->authed[i], domain))
            return 1;
    return 0;
}

static void add_authed(struct s2s_conn *c, const char *domain, const char *how)
{
    if (!s2s__is_authed(c, domain) && c->nauthed < S2S_AUTHED_MAX)
        snprintf(c->authed[c->nauthed++], sizeof(c->authed[0]), "%s", domain);
    if (!c->auth[0])
        snprintf(c->auth, sizeof(c->auth), "%s", how);
    s2s__conn_ready(c);
    CW_NOTICE("federation", "inbound from %s (%s): authenticated (%s), %s%s", domain, c->peer,
              how, cw_stream_tls_version(c->st) ? cw_stream_tls_version(c->st) : "no TLS",
              c->bidi ? ", bidirectional" : "");
}

static void in_sasl(struct s2s_conn *c, struct xml_node *n)
{
    struct cw_sb t;
    const char *mech = xml_node_attr(n, "mechanism"), *authz;
    uint8_t dec[S2S_DOMAIN_MAX + 8];
    long len = 0;

    cw_sb_init(&t);
    authz = xml_node_text(n, &t);
    if (strcmp(authz, "=") != 0 && authz[0])
        len = strlen(authz) > 4 * (S2S_DOMAIN_MAX / 3) ? -1
                                                       : sasl_b64_decode(authz, strlen(authz), dec);
    if (strcmp(n->name, "auth") != 0 || !mech || strcmp(mech, "EXTERNAL") != 0 || !c->cert_ok ||
        c->sasl_done || len < 0 ||
        (len > 0 && ((size_t)len != strlen(c->remote) || memcmp(dec, c->remote, (size_t)len)))) {
        CW_INFO("federation", "inbound from %s (%s): SASL %s refused: %s", c->remote[0] ? c->remote : "?",
                c->peer, mech ? mech : "?", !c->cert_ok ? c->cert_why : "bad request");
        S2S_LIT(c, "<failure xmlns='" NS_S2S_SASL "'><not-authorized/></failure>");
        cw_sb_free(&t);
        return;
    }
    cw_sb_free(&t);
    S2S_LIT(c, "<success xmlns='" NS_S2S_SASL "'/>");
    c->sasl_done = 1;
    c->restart = 1;
    add_authed(c, c->remote, "sasl-external");
}

static void db_answer(struct s2s_conn *c, const char *name, const char *from, const char *to,
                      const char *id, const char *type, const char *cond)
{
    struct xml_node *r = xml_node_new(name, NS_DB), *e;

    if (r && xml_node_set_attr(r, "from", from) == 0 && xml_node_set_attr(r, "to", to) == 0 &&
        (!id || xml_node_set_attr(r, "id", id) == 0) && xml_node_set_attr(r, "type", type) == 0 &&
        (!cond || ((e = xml_node_add_child(r, "error", NS_DB)) &&
                   xml_node_set_attr(e, "type", "cancel") == 0 &&
                   xml_node_add_child(e, cond, NS_S2S_STANZAS))))
        s2s__send(c, r);
    xml_node_free(r);
}

/* <db:result from=X to=Y>key</db:result>: X claims to be X. */
static void in_db_result(struct s2s_conn *c, struct xml_node *n)
{
    struct s2s_gateway *gw = c->gw;
    const char *from = xml_node_attr(n, "from"), *to = xml_node_attr(n, "to");
    char x[S2S_DOMAIN_MAX + 1], y[S2S_DOMAIN_MAX + 1], why[300];
    const struct s2s_policy *p;
    struct cw_sb key;

    if (!from || !to || !jid_domain_ok(from, x, sizeof(x)) || !jid_domain_ok(to, y, sizeof(y))) {
        s2s__stream_error(c, "improper-addressing", NULL);
        return;
    }
    if (!s2s__is_ours(gw, y)) {
        db_answer(c, "result", y, x, NULL, "error", "item-not-found");
        return;
    }
    p = s2s__policy(gw, x);
    if (!s2s__allowed(gw, x) || (!p->tls_optional && !cw_stream_is_tls(c->st))) {
        CW_NOTICE("federation", "inbound from %s (%s): dialback refused: %s", x, c->peer,
                  s2s__allowed(gw, x) ? "TLS is required" : "refused by policy (allow/deny)");
        db_answer(c, "result", y, x, NULL, "error", "policy-violation");
        return;
    }
    if (cw_stream_is_tls(c->st) && cw_stream_peer_cert_check(c->st, x, why, sizeof(why))) {
        /* XEP-0344: a certificate that validates for X is proof enough. */
        db_answer(c, "result", y, x, NULL, "valid", NULL);
        add_authed(c, x, "dialback");
        return;
    }
    if (p->cert_required) {
        CW_NOTICE("federation", "inbound from %s (%s): refused: a valid certificate is required "
                  "for it and %s", x, c->peer, cw_stream_is_tls(c->st) ? why : "it did not use TLS");
        db_answer(c, "result", y, x, NULL, "error", "not-authorized");
        return;
    }
    cw_sb_init(&key);
    xml_node_text(n, &key);
    if (key.len == 0 || key.len > 64 || key.failed) {
        cw_sb_free(&key);
        db_answer(c, "result", y, x, NULL, "invalid", NULL);
        return;
    }
    /* Each check costs a lookup and maybe a stream: a few at a time per
     * stream, and a bounded number in all (each fails within S2S_VERIFY_MS),
     * so that streams opened one after another cannot pile them up. */
    if (c->ndb_pending >= S2S_AUTHED_MAX || gw->nverify >= S2S_VERIFY_MAX) {
        if (c->ndb_pending < S2S_AUTHED_MAX)
            CW_NOTICE("federation", "inbound from %s (%s): dialback refused for now: %u checks "
                      "are in progress (resource-constraint)", x, c->peer, gw->nverify);
        cw_sb_free(&key);
        db_answer(c, "result", y, x, NULL, "error", "resource-constraint");
        return;
    }
    c->ndb_pending++;
    CW_INFO("federation", "inbound from %s (%s): dialback: asking %s's authoritative server",
            x, c->peer, x);
    s2s__route_verify(gw, y, x, c->serial, c->id, key.s);
    cw_sb_free(&key);
}

void s2s__db_verdict(struct s2s_gateway *gw, uint64_t serial, const char *local,
                     const char *remote, int valid)
{
    struct s2s_conn *c = s2s__conn_find(gw, serial);

    if (!c || c->closing)
        return;
    if (c->ndb_pending)
        c->ndb_pending--;
    db_answer(c, "result", local, remote, NULL, valid ? "valid" : "invalid", NULL);
    if (valid)
        add_authed(c, remote, "dialback");
    else
        CW_NOTICE("federation", "inbound from %s (%s): dialback failed: %s's authoritative "
                  "server did not confirm the key", remote, c->peer, remote);
}

int s2s__db_verify_request(struct s2s_conn *c, struct xml_node *n)
{
    const char *from = xml_node_attr(n, "from"), *to = xml_node_attr(n, "to"),
               *id = xml_node_attr(n, "id"), *type = xml_node_attr(n, "type");
    char key[65];
    struct cw_sb got;
    int ok;

    if (strcmp(n->name, "verify") != 0 || type)
        return 0;   /* answers are for the outbound side */
    if (!from || !to || !id) {
        s2s__stream_error(c, "improper-addressing", NULL);
        return 1;
    }
    /* The peer (receiving, from) checks a key we (originating, to) gave it. */
    s2s__db_key(c->gw, from, to, id, key);
    cw_sb_init(&got);
    xml_node_text(n, &got);
    ok = got.len == 64 && CRYPTO_memcmp(got.s, key, 64) == 0 && s2s__is_ours(c->gw, to);
    cw_sb_free(&got);
    CW_INFO("federation", "dialback: %s (%s) checked a key we gave it: %s", from, c->peer,
            ok ? "valid" : "invalid");
    db_answer(c, "verify", to, from, id, ok ? "valid" : "invalid", NULL);
    return 1;
}

void s2s__stanza_in(struct s2s_conn *c, struct xml_node *n)
{
    struct s2s_gateway *gw = c->gw;
    char fd[S2S_DOMAIN_MAX + 1], td[S2S_DOMAIN_MAX + 1];
    const char *from = xml_node_attr(n, "from"), *to = xml_node_attr(n, "to");
    struct xml_node *r;

    s2s__domain_of(from, fd, sizeof(fd));
    s2s__domain_of(to, td, sizeof(td));
    if (!fd[0] || (c->dir == S2S_IN ? !s2s__is_authed(c, fd) : strcmp(fd, c->remote) != 0)) {
        CW_NOTICE("federation", "%s %s (%s): stream error <invalid-from/>: a stanza from \"%s\", "
                  "which this stream did not authenticate", c->dir == S2S_IN ? "inbound from" :
                  "outbound to", c->remote, c->peer, from ? from : "");
        xml_node_free(n);
        s2s__stream_error(c, "invalid-from", NULL);
        return;
    }
    if (!td[0] || !s2s__is_ours(gw, td)) {
        CW_NOTICE("federation", "%s %s (%s): stream error <host-unknown/>: a stanza to \"%s\"",
                  dir_word(c), c->remote, c->peer,
                  to ? to : "");
        xml_node_free(n);
        s2s__stream_error(c, "host-unknown", NULL);
        return;
    }
    c->stanzas_in++;
    c->last_used = uv_now(gw->loop);
    if (s2s__to_core(gw, n) < 0 &&
        (r = s2s__error_reply(n, "service-unavailable", "no core is reachable from the edge")))
        s2s__route_out(gw, r, td, fd);
    xml_node_free(n);
}

static int in_element(struct s2s_conn *c, struct xml_node *n)
{
    if (!strcmp(n->ns, XML_NS_STREAM) && !strcmp(n->name, "error")) {
        CW_INFO("federation", "inbound from %s (%s): it sent the stream error <%s/>",
                c->remote[0] ? c->remote : "?", c->peer,
                n->child && n->child->name ? n->child->name : "?");
        xml_node_free(n);
        S2S_LIT(c, "</stream:stream>");
        s2s__close(c);
        return XML_STOP;
    }
    if (!strcmp(n->ns, NS_S2S_TLS) && !strcmp(n->name, "starttls")) {
        xml_node_free(n);
        if (cw_stream_is_tls(c->st)) {
            s2s__stream_error(c, "policy-violation", "TLS is on already");
            return XML_STOP;
        }
        S2S_LIT(c, "<proceed xmlns='" NS_S2S_TLS "'/>");
        c->tls_next = 1;
        return XML_STOP;
    }
    if (!cw_stream_is_tls(c->st) && !s2s__policy(c->gw, c->remote)->tls_optional) {
        xml_node_free(n);
        s2s__stream_error(c, "policy-violation", "STARTTLS first");
        return XML_STOP;
    }
    if (!strcmp(n->ns, NS_S2S_SASL)) {
        in_sasl(c, n);
        xml_node_free(n);
        return c->restart ? XML_STOP : 0;
    }
    if (!strcmp(n->ns, NS_BIDI) && !strcmp(n->name, "bidi")) {
        c->bidi = 1;
        xml_node_free(n);
        return 0;
    }
    if (!strcmp(n->ns, NS_DB)) {
        if (!s2s__db_verify_request(c, n)) {
            if (!strcmp(n->name, "result"))
                in_db_result(c, n);
            else
                s2s__stream_error(c, "unsupported-stanza-type", NULL);
        }
        xml_node_free(n);
        return c->closing ? XML_STOP : 0;
    }
    if (!strcmp(n->ns, NS_SERVER) && (!strcmp(n->name, "message") ||
                                      !strcmp(n->name, "presence") || !strcmp(n->name, "iq"))) {
        if (c->phase != SP_READY) {
            xml_node_free(n);
            s2s__stream_error(c, "not-authorized", NULL);
            return XML_STOP;
        }
        s2s__stanza_in(c, n);
        return c->closing ? XML_STOP : 0;
    }
    CW_INFO("federation", "inbound from %s (%s): stream error <unsupported-stanza-type/>: <%s "
            "xmlns='%s'>", c->remote[0] ? c->remote : "?", c->peer, n->name, n->ns);
    xml_node_free(n);
    s2s__stream_error(c, "unsupported-stanza-type", NULL);
    return XML_STOP;
}

/* ---- streams ------------------------------------------------------------------ */

static int on_open(void *ctx, const struct xml_node *head)
{
    struct s2s_conn *c = ctx;

    return c->dir == S2S_IN ? in_open(c, head) : s2s__out_open(c, head);
}

static int on_element(void *ctx, struct xml_node *n)
{
    struct s2s_conn *c = ctx;

    if (c->closing) {
        xml_node_free(n);
        return XML_STOP;
    }
    return c->dir == S2S_IN ? in_element(c, n) : s2s__out_element(c, n);
}

static int on_stream_close(void *ctx)
{
    struct s2s_conn *c = ctx;

    if (!c->closing) {
        S2S_LIT(c, "</stream:stream>");
        s2s__close(c);
    }
    return XML_STOP;
}

static const struct xml_stream_cbs xml_cbs = {
    .on_open = on_open,
    .on_stanza = on_element,
    .on_close = on_stream_close,
};

struct cw_tls_ctx *s2s__client_ctx(const struct s2s_gateway *gw, const char *local)
{
    for (int i = 0; i < gw->o.nclient; i++)
        if (cw_tls_ctx_covers(gw->o.client[i], local))
            return gw->o.client[i];
    return gw->o.client[0];
}

static void on_data(struct cw_stream *s, const uint8_t *p, size_t n)
{
    struct s2s_conn *c = cw_stream_data(s);
    const char *cond, *why;
    int r;

    if (c->closing)
        return;
    r = xml_stream_feed(c->xs, (const char *)p, n);
    if (r < 0) {
        cond = xml_stream_error(c->xs, &why);
        CW_NOTICE("federation", "%s %s (%s): stream error <%s/>: %s",
                  dir_word(c),
                  c->remote[0] ? c->remote : "?", c->peer, cond, why);
        if (c->dir == S2S_OUT)
            s2s__out_gone(c, why);
        s2s__stream_error(c, cond, NULL);
        return;
    }
    if (c->closing)
        return;
    /* What follows <proceed/>, <starttls/> or <success/> in this read was
     * dropped with the rest of the buffer (XML_STOP). */
    if (c->tls_next) {
        c->tls_next = 0;
        if (cw_stream_start_tls(c->st, c->gw->o.tls) < 0)
            return;
        c->restart = 1;
    }
    if (c->tls_client_next) {
        c->tls_client_next = 0;
        if (cw_stream_start_tls_client(c->st, s2s__client_ctx(c->gw, c->local), c->remote) < 0)
            return;
        c->restart = 1;
    }
    if (c->restart) {
        c->restart = 0;
        c->header_sent = 0;
        if (xml_stream_reset(c->xs) < 0) {
            s2s__stream_error(c, "internal-server-error", NULL);
            return;
        }
        if (c->dir == S2S_OUT)
            s2s__header(c);     /* the initiator speaks first again */
    }
}

static void conn_timer_close_cb(uv_handle_t *h)
{
    struct s2s_conn *c = h->data;
    struct s2s_gateway *gw = c->gw;

    free(c);
    s2s__unlive(gw);
}

static void conn_unlink(struct s2s_conn *c)
{
    struct s2s_gateway *gw = c->gw;

    c->closing = 1;
    if (c->prev)
        c->prev->next = c->next;
    else
        gw->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    gw->nconns--;
    xml_stream_destroy(c->xs);
    uv_close((uv_handle_t *)&c->timer, conn_timer_close_cb);
}

void s2s__conn_drop(struct s2s_conn *c)
{
    conn_unlink(c);
}

static void on_close(struct cw_stream *s, int err)
{
    struct s2s_conn *c = cw_stream_data(s);

    c->closing = 1;
    if (c->dir == S2S_OUT)
        s2s__out_gone(c, err ? cw_stream_strerror(err) : NULL);
    if (c->phase == SP_READY)
        CW_INFO("federation", "%s %s (%s) closed after %lu stanzas in, %lu out%s%s",
                dir_word(c), c->remote, c->peer,
                c->stanzas_in, c->stanzas_out, err ? ": " : "", err ? cw_stream_strerror(err) : "");
    conn_unlink(c);
}

static const struct cw_stream_cbs stream_cbs = {
    .on_data = on_data,
    .on_close = on_close,
};

static void conn_timer_cb(uv_timer_t *t)
{
    struct s2s_conn *c = t->data;
    struct s2s_gateway *gw = c->gw;
    unsigned idle = gw->o.idle_timeout_ms ? gw->o.idle_timeout_ms : 600000;

    if (c->closing)
        return;
    if (c->phase != SP_READY) {
        CW_INFO("federation", "%s %s (%s): stream set-up took too long: closed",
                dir_word(c), c->remote[0] ? c->remote : "?",
                c->peer);
        if (c->dir == S2S_OUT)
            s2s__out_gone(c, "stream set-up took too long");
        s2s__stream_error(c, "connection-timeout", NULL);
        return;
    }
    if (uv_now(gw->loop) - c->last_used >= idle) {
        CW_INFO("federation", "%s %s (%s): idle for %u s: closed",
                dir_word(c), c->remote, c->peer,
                idle / 1000);
        if (c->dir == S2S_OUT)
            s2s__out_gone(c, NULL);
        S2S_LIT(c, "</stream:stream>");
        s2s__close(c);
        return;
    }
    uv_timer_start(&c->timer, conn_timer_cb, idle / 4 + 1, 0);
}

void s2s__conn_ready(struct s2s_conn *c)
{
    unsigned idle = c->gw->o.idle_timeout_ms ? c->gw->o.idle_timeout_ms : 600000;

    c->phase = SP_READY;
    c->last_used = uv_now(c->gw->loop);
    uv_timer_start(&c->timer, conn_timer_cb, idle / 4 + 1, 0);   /* from now: idle checks */
}

struct s2s_conn *s2s__conn_new(struct s2s_gateway *gw, enum s2s_dir dir)
{
    struct s2s_conn *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->gw = gw;
    c->dir = dir;
    c->serial = ++gw->next_serial;
    c->since = time(NULL);
    c->xs = xml_stream_create(&gw->o.limits, &xml_cbs, c);
    if (!c->xs) {
        free(c);
        return NULL;
    }
    uv_timer_init(gw->loop, &c->timer);
    c->timer.data = c;
    gw->live++;
    c->next = gw->conns;
    if (c->next)
        c->next->prev = c;
    gw->conns = c;
    gw->nconns++;
    return c;
}

void s2s__hold(struct s2s_gateway *gw, int hold, size_t waiting)
{
    gw->held = hold;
    gw->holds += hold;
    if (hold)
        CW_INFO("federation", "the link to the core is behind (%zu bytes waiting): reading "
                "from foreign servers paused", waiting);
    else
        CW_INFO("federation", "the link to the core caught up: reading from foreign servers "
                "again");
    /* Inbound streams carry what foreign servers send us (outbound ones
     * are left alone: one may still be connecting, with nothing to read). */
    for (struct s2s_conn *c = gw->conns; c; c = c->next)
        if (c->dir == S2S_IN && c->st && !c->closing)
            (hold ? cw_stream_pause : cw_stream_resume)(c->st);
}

void s2s__conn_attach(struct s2s_conn *c, struct cw_stream *st)
{
    unsigned t = c->gw->o.negotiation_timeout_ms ? c->gw->o.negotiation_timeout_ms : 30000;

    c->st = st;
    if (c->gw->held && c->dir == S2S_IN)
        cw_stream_pause(st);
    cw_stream_set_data(st, c);
    cw_addr_fmt(cw_stream_peer(st), c->peer, sizeof(c->peer), 1);
    uv_timer_start(&c->timer, conn_timer_cb, t, 0);
}

struct s2s_conn *s2s__conn_find(struct s2s_gateway *gw, uint64_t serial)
{
    for (struct s2s_conn *c = gw->conns; c; c = c->next)
        if (c->serial == serial)
            return c;
    return NULL;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct s2s_listener *l = server->data;
    struct s2s_gateway *gw = l->gw;
    struct s2s_conn *c;
    struct cw_stream *st;
    unsigned max = gw->o.max_streams ? gw->o.max_streams : 1000;

    if (status < 0 || gw->closing)
        return;
    if (gw->nconns >= max) {
        uv_tcp_t tmp;
        /* Take it off the backlog and close it. */
        uv_tcp_init(gw->loop, &tmp);
        if (uv_accept(server, (uv_stream_t *)&tmp) == 0)
            gw->refused_streams++;
        CW_WARN("federation", "refused a connection on %s: %u streams open (max-streams)",
                l->addr, gw->nconns);
        uv_close((uv_handle_t *)&tmp, NULL);
        return;
    }
    c = s2s__conn_new(gw, S2S_IN);
    if (!c)
        return;
    st = cw_stream_accept(server, l->direct_tls ? gw->o.tls : NULL, &stream_cbs, c);
    if (!st) {
        s2s__conn_drop(c);
        return;
    }
    c->direct_tls = l->direct_tls;
    (void)cw_random_hex(c->id, 16);     /* for an error before the header; each header gets its own */
    s2s__conn_attach(c, st);
}

const struct cw_stream_cbs *s2s__stream_cbs(void)
{
    return &stream_cbs;
}

/* ---- the gateway ----------------------------------------------------------------- */

static void tick_cb(uv_timer_t *t)
{
    s2s__routes_tick(t->data);
}

void s2s__unlive(struct s2s_gateway *gw)
{
    if (--gw->live == 0 && gw->closing) {
        cw_sb_free(&gw->scratch);
        free(gw);
    }
}

static void lis_close_cb(uv_handle_t *h)
{
    s2s__unlive(((struct s2s_listener *)h->data)->gw);
}

static void tick_close_cb(uv_handle_t *h)
{
    s2s__unlive(h->data);
}

static int listen_on(struct s2s_gateway *gw, const struct sockaddr_storage *a, int direct,
                     char *err, size_t errlen)
{
    struct s2s_listener *l = &gw->lis[gw->nlis];
    int r;

    l->gw = gw;
    l->direct_tls = direct;
    cw_addr_fmt((const struct sockaddr *)a, l->addr, sizeof(l->addr), 1);
    uv_tcp_init(gw->loop, &l->tcp);
    l->tcp.data = l;
    gw->nlis++;
    gw->live++;
    r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)a, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    if (r < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s%s", l->addr, uv_strerror(r),
                 cw_addr_bind_hint((const struct sockaddr *)a, r));
        return -1;
    }
    CW_NOTICE("federation", "listening on %s (%s)", l->addr, direct ? "direct TLS" : "STARTTLS");
    return 0;
}

struct s2s_gateway *s2s_create(uv_loop_t *loop, const struct s2s_opts *o, char *err,
                               size_t errlen)
{
    struct s2s_gateway *gw = calloc(1, sizeof(*gw));
    uint8_t secret[32], h[32];

    if (!gw || RAND_bytes(secret, sizeof(secret)) != 1 ||
        !EVP_Digest(secret, sizeof(secret), h, NULL, EVP_sha256(), NULL)) {
        snprintf(err, errlen, "out of memory or no randomness");
        free(gw);
        return NULL;
    }
    cw_hex_encode(h, sizeof(h), gw->db_hmac_key);
    OPENSSL_cleanse(secret, sizeof(secret));
    gw->loop = loop;
    gw->o = *o;
    cw_sb_init(&gw->scratch);
    uv_timer_init(loop, &gw->tick);
    gw->tick.data = gw;
    gw->live++;
    for (int i = 0; i < o->nlisten; i++)
        if (listen_on(gw, &o->listen[i], 0, err, errlen) < 0)
            goto fail;
    for (int i = 0; i < o->ntls_listen; i++)
        if (listen_on(gw, &o->tls_listen[i], 1, err, errlen) < 0)
            goto fail;
    uv_timer_start(&gw->tick, tick_cb, 1000, 1000);
    s2s__links_start(gw);
    return gw;
fail:
    s2s_close(gw);
    return NULL;
}

void s2s_set_tls(struct s2s_gateway *gw, struct cw_tls_ctx *tls, struct cw_tls_ctx *const *client,
                 int nclient)
{
    gw->o.tls = tls;
    for (int i = 0; i < nclient; i++)
        gw->o.client[i] = client[i];
    gw->o.nclient = nclient;
}

void s2s_close(struct s2s_gateway *gw)
{
    if (!gw || gw->closing)
        return;
    gw->closing = 1;
    for (int i = 0; i < gw->nlis; i++)
        uv_close((uv_handle_t *)&gw->lis[i].tcp, lis_close_cb);
    uv_close((uv_handle_t *)&gw->tick, tick_close_cb);
    s2s__links_stop(gw);
    s2s__routes_free(gw);
    for (struct s2s_conn *c = gw->conns; c; c = c->next)
        if (!c->closing)
            s2s__stream_error(c, "system-shutdown", NULL);
}

void s2s__time_fmt(time_t t, char *buf, size_t len)
{
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

void s2s_status(const struct s2s_gateway *gw, struct cw_sb *out)
{
    char when[32];

    cw_sb_printf(out, "Federation gateway: %u streams", gw->nconns);
    for (int i = 0; i < gw->nlis; i++)
        cw_sb_printf(out, "%s %s (%s)", i ? "," : "; listening on", gw->lis[i].addr,
                     gw->lis[i].direct_tls ? "direct TLS" : "STARTTLS");
    cw_sb_printf(out, "\n\nCore links:\n");
    s2s__links_status(gw, out);
    cw_sb_printf(out, "\nStreams:\n%-28s %-4s %-8s %-14s %-20s %s\n", "REMOTE DOMAIN", "DIR",
                 "TLS", "AUTH", "SINCE", "STANZAS IN/OUT");
    for (const struct s2s_conn *c = gw->conns; c; c = c->next) {
        const char *tls = cw_stream_tls_version(c->st);
        s2s__time_fmt(c->since, when, sizeof(when));
        cw_sb_printf(out, "%-28s %-4s %-8s %-14s %-20s %lu/%lu%s%s\n",
                     c->remote[0] ? c->remote : "?", c->dir == S2S_IN ? "in" : "out",
                     tls ? tls : "none",
                     c->phase == SP_READY ? c->auth : "(setting up)", when, c->stanzas_in,
                     c->stanzas_out, c->bidi ? " bidi" : "", c->closing ? " closing" : "");
        for (int i = 1; i < c->nauthed; i++)
            cw_sb_printf(out, "%-28s (also on this stream)\n", c->authed[i]);
    }
    cw_sb_printf(out, "\nDomains dialled:\n");
    s2s__routes_status(gw, out);
    cw_sb_printf(out, "\nStanzas bounced: %lu\n", gw->bounced);
    cw_sb_printf(out, "Dialback checks waiting for an answer: %u (at most %d, each for %d s)\n",
                 gw->nverify, S2S_VERIFY_MAX, S2S_VERIFY_MS / 1000);
    cw_sb_printf(out, "Reading paused for the core link: %s, %lu times since start\n",
                 gw->held ? "now" : "not now", gw->holds);
}
