/* federation.c - builds the federation gateway from [federation] (see
 * federation.h). */
#include "edge/federation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/stream.h"
#include "xmpp/fedlink.h"
#include "xmpp/s2s.h"

struct edge_federation {
    struct s2s_gateway *gw;
    struct cw_tls_ctx *tls;
    struct cw_tls_ctx *client[S2S_MAX_CERTS];
    int nclient;
    struct cw_dns *dns;
    uint8_t key[FEDLINK_KEY_MAX];
    size_t key_len;
};

static void drop_tls(struct cw_tls_ctx *tls, struct cw_tls_ctx **client, int nclient)
{
    cw_tls_ctx_destroy(tls);
    for (int i = 0; i < nclient; i++)
        cw_tls_ctx_destroy(client[i]);
}

/* The certificates (served, and presented on outbound streams) and the
 * peers' trust store, read from their files (again on a reload, so that
 * renewed files are picked up). The number of client contexts (one per
 * certificate), or -1 with the reason in err and nothing kept. */
static int fed_tls(const struct edge_federation_config *f, struct cw_tls_ctx **tls,
                   struct cw_tls_ctx **client, char *err, size_t errlen)
{
    char e2[600];
    int n = 0;

    *tls = cw_tls_ctx_create_server_n(f->cert[0], f->key[0], sizeof(f->cert[0]), f->ncert, e2,
                                      sizeof(e2));
    if (!*tls) {
        snprintf(err, errlen, "[federation] certificate: %s", e2);
        goto fail;
    }
    if (cw_tls_ctx_verify_peers(*tls, f->trust, e2, sizeof(e2)) < 0) {
        snprintf(err, errlen, "[federation] %s", e2);
        goto fail;
    }
    for (; n < f->ncert; n++)
        if (!(client[n] = cw_tls_ctx_create_client(f->trust, f->cert[n], f->key[n], e2,
                                                   sizeof(e2)))) {
            snprintf(err, errlen, "[federation] %s", e2);
            goto fail;
        }
    return n;
fail:
    drop_tls(*tls, client, n);
    *tls = NULL;
    return -1;
}

void edge_federation_stop(struct edge_federation *ef)
{
    if (!ef)
        return;
    s2s_close(ef->gw);
    if (ef->dns)
        cw_dns_close(ef->dns);
    drop_tls(ef->tls, ef->client, ef->nclient);
    memset(ef->key, 0, sizeof(ef->key));
    free(ef);
}

struct edge_federation *edge_federation_start(uv_loop_t *loop, struct edge_federation_config *f,
                                              char *err, size_t errlen)
{
    struct edge_federation *ef = calloc(1, sizeof(*ef));
    struct s2s_opts *o = &f->o;
    char e2[600];

    if (!ef) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (fedlink_key_read(f->link_key_file, ef->key, &ef->key_len, e2, sizeof(e2)) < 0) {
        snprintf(err, errlen, "[federation] link-key-file %s: %s", f->link_key_file, e2);
        goto fail;
    }
    if ((ef->nclient = fed_tls(f, &ef->tls, ef->client, err, errlen)) < 0) {
        ef->nclient = 0;
        goto fail;
    }
    ef->dns = cw_dns_create(loop, f->dns[0] ? f->dns : NULL, 0, 0, e2, sizeof(e2));
    if (!ef->dns) {
        snprintf(err, errlen, "[federation] dns-server: %s", e2);
        goto fail;
    }
    o->tls = ef->tls;
    for (int i = 0; i < ef->nclient; i++)
        o->client[i] = ef->client[i];
    o->nclient = ef->nclient;
    o->dns = ef->dns;
    o->link_key = ef->key;
    o->link_key_len = ef->key_len;
    ef->gw = s2s_create(loop, o, err, errlen);
    if (!ef->gw)
        goto fail;
    return ef;
fail:
    edge_federation_stop(ef);
    return NULL;
}

int edge_federation_reload_tls(struct edge_federation *ef, const struct edge_federation_config *f,
                               char *err, size_t errlen)
{
    struct cw_tls_ctx *tls, *client[S2S_MAX_CERTS];
    int n = fed_tls(f, &tls, client, err, errlen);

    if (n < 0)
        return -1;
    s2s_set_tls(ef->gw, tls, client, n);
    drop_tls(ef->tls, ef->client, ef->nclient);   /* streams in TLS hold their own */
    ef->tls = tls;
    memcpy(ef->client, client, sizeof(client[0]) * (size_t)n);
    ef->nclient = n;
    CW_NOTICE("federation", "certificates (%d) and the trust store %s reloaded; new streams "
              "use them", n, f->trust);
    return 0;
}

const struct cw_tls_ctx *edge_federation_tls(const struct edge_federation *ef)
{
    return ef->tls;
}

void edge_federation_status(const struct edge_federation *ef, struct cw_sb *out)
{
    s2s_status(ef->gw, out);
}

void edge_federation_report(const struct edge_federation *ef, struct cw_report *r)
{
    s2s_report(ef->gw, r);
}

int edge_federation_links_down(const struct edge_federation *ef, char *why, size_t len)
{
    return s2s_core_links_down(ef->gw, why, len);
}

int edge_federation_domains(const struct edge_federation *ef,
                            int (*fn)(void *arg, const char *domain), void *arg)
{
    return ef && ef->gw ? s2s_domains(ef->gw, fn, arg) : 0;
}
