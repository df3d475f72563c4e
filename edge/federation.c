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

void edge_federation_stop(struct edge_federation *ef)
{
    if (!ef)
        return;
    s2s_close(ef->gw);
    if (ef->dns)
        cw_dns_close(ef->dns);
    cw_tls_ctx_destroy(ef->tls);
    for (int i = 0; i < ef->nclient; i++)
        cw_tls_ctx_destroy(ef->client[i]);
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
    ef->tls = cw_tls_ctx_create_server(f->cert[0], f->key[0], e2, sizeof(e2));
    for (int i = 1; ef->tls && i < f->ncert; i++)
        if (cw_tls_ctx_add_cert(ef->tls, f->cert[i], f->key[i], e2, sizeof(e2)) < 0) {
            snprintf(err, errlen, "[federation] certificate: %s", e2);
            goto fail;
        }
    if (!ef->tls || cw_tls_ctx_verify_peers(ef->tls, f->trust, e2, sizeof(e2)) < 0) {
        snprintf(err, errlen, "[federation] %s", e2);
        goto fail;
    }
    for (int i = 0; i < f->ncert; i++) {
        ef->client[i] = cw_tls_ctx_create_client(f->trust, f->cert[i], f->key[i], e2, sizeof(e2));
        if (!ef->client[i]) {
            snprintf(err, errlen, "[federation] %s", e2);
            goto fail;
        }
        ef->nclient++;
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
