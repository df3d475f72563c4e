/* federation.h - the edge's XMPP federation gateway (xmpp/s2s.h) built from
 * [federation] in edge.conf: its certificates, the peers' trust store, the
 * external DNS resolver and the link key. */
#ifndef EDGE_FEDERATION_H
#define EDGE_FEDERATION_H

#include <stddef.h>
#include <uv.h>

#include "common/strbuf.h"
#include "edge/config.h"

struct edge_federation;

/* NULL with the reason in err. */
struct edge_federation *edge_federation_start(uv_loop_t *loop, struct edge_federation_config *f,
                                              char *err, size_t errlen);
void edge_federation_stop(struct edge_federation *ef);
/* Reads f's certificate and trust files again: new streams use them,
 * established ones keep theirs. 0, or -1 with the reason in err (the
 * running ones stay). */
int edge_federation_reload_tls(struct edge_federation *ef, const struct edge_federation_config *f,
                               char *err, size_t errlen);
/* The certificates served now (for the expiry faults). */
const struct cw_tls_ctx *edge_federation_tls(const struct edge_federation *ef);
void edge_federation_status(const struct edge_federation *ef, struct cw_sb *out);
struct cw_report;
void edge_federation_report(const struct edge_federation *ef, struct cw_report *r);
int edge_federation_links_down(const struct edge_federation *ef, char *why, size_t len);
/* The domains the linked cores serve (s2s_domains); 0 when none is linked. */
int edge_federation_domains(const struct edge_federation *ef,
                            int (*fn)(void *arg, const char *domain), void *arg);

#endif
