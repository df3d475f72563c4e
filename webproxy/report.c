/* report.c - the web proxy's section of the status document: what it
 * listens on, the hosts it serves and where they go, the certificates with
 * their names and expiry, and the tunnel links to the cores. */
#include "webproxy/webproxy_int.h"

#include "common/addr.h"
#include "common/report.h"
#include "common/stats.h"
#include "common/stream.h"
#include "common/status.h"

#include <stdio.h>

int webproxy_link_info(const struct webproxy *wp, int i, struct webproxy_link_info *info)
{
    if (i < 0 || i >= wp->nlinks)
        return -1;
    wp__link_info(wp->link_list[i], info);
    return 0;
}

const struct cw_tls_ctx *webproxy_tls_ctx(const struct webproxy *wp)
{
    return wp->tls;
}

void webproxy_report(struct webproxy *wp, struct cw_report *r)
{
    char a[128];
    struct cw_sb l;

    cw_sb_init(&l);
    cw_report_section(r, "webproxy", "Web proxy", CW_REPORT_OK);
    wp__listeners_text(wp, &l, ", ");
    cw_report_str(r, "listening", "Listening", cw_sb_str(&l));
    cw_sb_free(&l);
    cw_report_int(r, "connections", "Connections open", wp->nconns);
    cw_report_int(r, "max_connections", "Most connections", wp->o.max_connections);
    cw_report_int(r, "accepted", "Connections accepted", (int64_t)wp->accepted);
    cw_report_int(r, "refused", "Connections refused (limits)", (int64_t)wp->refused);
    cw_report_int(r, "requests", "Requests", (int64_t)wp->requests);
    cw_report_int(r, "responses_2xx", "Answers 2xx", (int64_t)wp->by_class[2]);
    cw_report_int(r, "responses_3xx", "Answers 3xx", (int64_t)wp->by_class[3]);
    cw_report_int(r, "responses_4xx", "Answers 4xx", (int64_t)wp->by_class[4]);
    cw_report_int(r, "responses_5xx", "Answers 5xx", (int64_t)wp->by_class[5]);
    cw_report_int(r, "backend_failures", "Backend failures", (int64_t)wp->upstream_errors);
    cw_report_str(r, "socket_writes", "Socket writes", cw_wbatch_text(wp->wbatch, wp->wbatch_off, a, sizeof(a)));
    cw_report_table(r, "hosts", "Hosts (guest account client URIs)", "host,backend,covered",
                    "Host,Backend,Certificate covers it");
    for (int i = 0; i < wp->o.nhost; i++) {
        int covered = wp->tls && cw_tls_ctx_covers(wp->tls, wp->o.host[i].name);

        cw_report_row(r);
        cw_report_cell_str(r, wp->o.host[i].name);
        cw_report_cell_str(r, cw_addr_fmt((const struct sockaddr *)&wp->o.host[i].backend, a,
                                          sizeof(a), 1));
        cw_report_cell_str(r, covered ? "yes" : "NO (browsers say \"Not secure\")");
        if (!covered)
            cw_report_state(r, CW_REPORT_WARN);
    }
    cw_status_cert_table(r, wp->tls);
    cw_report_table(r, "links", "Tunnel links to the cores", "backend,state,since,why,streams_open,streams",
                    "Backend,State,Since,Why not up,Streams open,Streams opened");
    for (int i = 0; i < wp->nlinks; i++) {
        struct webproxy_link_info li;

        wp__link_info(wp->link_list[i], &li);
        cw_report_row(r);
        cw_report_cell_str(r, li.name);
        cw_report_cell_str(r, li.state);
        cw_report_cell_time(r, li.since);
        cw_report_cell_str(r, li.why);
        cw_report_cell_int(r, li.streams_open);
        cw_report_cell_int(r, (int64_t)li.streams);
        if (!li.up)
            cw_report_state(r, CW_REPORT_ERROR);
    }
}

static void refresh_stats(void *arg)
{
    struct webproxy *wp = arg;
    int up = 0;

    for (int i = 0; i < wp->nlinks; i++)
        up += wp__link_up(wp->link_list[i]);
    wp->m_conns = wp->nconns;
    wp->m_links_up = (uint64_t)up;
    wp->m_links = (uint64_t)wp->nlinks;
    if (wp->wbatch) {
        struct cw_wbatch_stats bs;

        cw_wbatch_stats(wp->wbatch, &bs);
        wp->m_sends = bs.sends + bs.settled;
        wp->m_submits = bs.submits + bs.settled;
    }
}

void webproxy_register_stats(struct webproxy *wp, struct cw_stats *st)
{
    static const char *const cls[6] = { NULL, "1xx", "2xx", "3xx", "4xx", "5xx" };
    static const char *const names[6] = { NULL, "webproxy_responses_1xx_total",
                                          "webproxy_responses_2xx_total",
                                          "webproxy_responses_3xx_total",
                                          "webproxy_responses_4xx_total",
                                          "webproxy_responses_5xx_total" };

    cw_stats_add_refresh(st, refresh_stats, wp);
    cw_stats_add(st, "webproxy_connections", "client connections open now", CW_STAT_GAUGE, &wp->m_conns);
    cw_stats_add(st, "webproxy_accepted_total", "client connections accepted", CW_STAT_COUNTER,
                 &wp->accepted);
    cw_stats_add(st, "webproxy_refused_total", "client connections refused by the limits",
                 CW_STAT_COUNTER, &wp->refused);
    cw_stats_add(st, "webproxy_requests_total", "requests", CW_STAT_COUNTER, &wp->requests);
    for (int i = 1; i < 6; i++)
        cw_stats_add(st, names[i], cls[i], CW_STAT_COUNTER, &wp->by_class[i]);
    cw_stats_add(st, "webproxy_backend_failures_total", "backend connections that failed",
                 CW_STAT_COUNTER, &wp->upstream_errors);
    cw_stats_add(st, "webproxy_links_up", "tunnel links to the cores up now", CW_STAT_GAUGE,
                 &wp->m_links_up);
    cw_stats_add(st, "webproxy_links", "tunnel links to the cores", CW_STAT_GAUGE, &wp->m_links);
    cw_stats_add(st, "webproxy_batched_writes_total", "socket writes to guests and backends "
                 "sent through the io_uring batch", CW_STAT_COUNTER, &wp->m_sends);
    cw_stats_add(st, "webproxy_batch_syscalls_total", "system calls that sent them",
                 CW_STAT_COUNTER, &wp->m_submits);
}
