/* turncheck_nice.c - the TURN check's libnice part: does an ICE agent, as a
 * call bridge runs one, get a relay candidate from the configured server
 * with the configured credential? The STUN probe proves the server and the
 * credential; this proves what media will actually use.
 *
 * Runs on the check's thread with a GMainContext of its own (libnice needs
 * one; the daemon's loop is libuv). A wrong password does not fail
 * gathering in libnice 0.1.21: it finishes with no relay candidate, so the
 * candidates are counted here. */
#include "core/turncheck_int.h"

#include "common/addr.h"

#include <nice/agent.h>
#include <stdio.h>
#include <string.h>

#define NICE_SLICE_MS 100       /* how often the wait looks at the cancel flag */
#define CLOSE_LIMIT_MS 2000     /* the TURN release (Refresh 0) waits no longer */

struct nice_run {
    GMainContext *ctx;
    NiceAgent *agent;
    guint stream;
    int gathered;
    int closed;
};

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
    (void)agent;
    (void)stream;
    ((struct nice_run *)data)->gathered = 1;
}

/* Nothing arrives on the component: there is no peer. libnice wants a
 * receiver attached all the same, or it buffers. */
static void on_recv(NiceAgent *agent, guint stream, guint comp, guint len, gchar *buf,
                    gpointer data)
{
    (void)agent;
    (void)stream;
    (void)comp;
    (void)len;
    (void)buf;
    (void)data;
}

static void on_closed(GObject *agent, GAsyncResult *res, gpointer data)
{
    (void)agent;
    (void)res;
    ((struct nice_run *)data)->closed = 1;
}

/* nice_agent_close_async answers on the thread-default context of its
 * caller: called through the agent's own context, it answers there. */
static gboolean close_on_ctx(gpointer data)
{
    struct nice_run *n = data;

    nice_agent_close_async(n->agent, on_closed, n);
    return G_SOURCE_REMOVE;
}

static gboolean on_slice(gpointer data)
{
    (void)data;
    return G_SOURCE_REMOVE;
}

/* Iterates the context until *flag, limit_ms or (when cancel is given) a
 * cancel. 1 when *flag. */
static int run_until(struct nice_run *n, const int *flag, unsigned limit_ms, atomic_int *cancel)
{
    gint64 end = g_get_monotonic_time() + (gint64)limit_ms * 1000;

    while (!*flag && g_get_monotonic_time() < end && !(cancel && atomic_load(cancel))) {
        /* A timeout source keeps iteration from blocking past the slice. */
        GSource *t = g_timeout_source_new(NICE_SLICE_MS);

        g_source_set_callback(t, on_slice, NULL, NULL);
        g_source_attach(t, n->ctx);
        g_main_context_iteration(n->ctx, TRUE);
        g_source_destroy(t);
        g_source_unref(t);
    }
    return *flag;
}

/* The relay candidate's address, or 1 when there is none. */
static int relay_of(struct nice_run *n, char *relay, size_t relaylen)
{
    GSList *l = nice_agent_get_local_candidates(n->agent, n->stream, 1), *i;
    int rc = 1;

    for (i = l; i && rc; i = i->next) {
        const NiceCandidate *c = i->data;
        char a[NICE_ADDRESS_STRING_LEN];

        if (c->type != NICE_CANDIDATE_TYPE_RELAYED)
            continue;
        nice_address_to_string(&c->addr, a);
        if (nice_address_ip_version(&c->addr) == 6)
            snprintf(relay, relaylen, "[%s]:%u", a, nice_address_get_port(&c->addr));
        else
            snprintf(relay, relaylen, "%s:%u", a, nice_address_get_port(&c->addr));
        rc = 0;
    }
    g_slist_free_full(l, (GDestroyNotify)nice_candidate_free);
    return rc;
}

int core_turncheck__nice_run(const struct core_turncheck_config *cfg,
                             const struct core_turncheck__cred *cred,
                             const struct sockaddr *local, atomic_int *cancel, char *relay,
                             size_t relaylen, char *err, size_t errlen)
{
    struct nice_run n = { 0 };
    char server[CW_ADDR_STRLEN], la[CW_ADDR_STRLEN];
    NiceAddress addr;
    int rc = -1;

    relay[0] = 0;
    n.ctx = g_main_context_new();
    g_main_context_push_thread_default(n.ctx);
    n.agent = nice_agent_new(n.ctx, NICE_COMPATIBILITY_RFC5245);
    if (!n.agent) {
        snprintf(err, errlen, "libnice: cannot make an agent");
        goto out;
    }
    g_object_set(n.agent, "controlling-mode", TRUE, "force-relay", TRUE, "upnp", FALSE,
                 "ice-tcp", FALSE, NULL);
    /* Gather on the address the probe's packets left from: the one the
     * route to the edge picks, not every interface of the host. */
    cw_addr_fmt(local, la, sizeof(la), 0);
    if (!nice_address_set_from_string(&addr, la) || !nice_agent_add_local_address(n.agent, &addr)) {
        snprintf(err, errlen, "libnice: cannot gather on the local address %s", la);
        goto out;
    }
    n.stream = nice_agent_add_stream(n.agent, 1);
    cw_addr_fmt((const struct sockaddr *)&cfg->server, server, sizeof(server), 0);
    if (!n.stream ||
        !nice_agent_set_relay_info(n.agent, n.stream, 1, server,
                                   cw_addr_port((const struct sockaddr *)&cfg->server),
                                   cred->user, cred->pass,
                                   cfg->tcp ? NICE_RELAY_TYPE_TURN_TCP : NICE_RELAY_TYPE_TURN_UDP)) {
        snprintf(err, errlen, "libnice refused the relay %s", server);
        goto out;
    }
    g_signal_connect(n.agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), &n);
    nice_agent_attach_recv(n.agent, n.stream, 1, n.ctx, on_recv, &n);
    if (!nice_agent_gather_candidates(n.agent, n.stream)) {
        snprintf(err, errlen, "libnice could not start gathering on %s", la);
        goto out;
    }
    if (!run_until(&n, &n.gathered, cfg->timeout_ms, cancel)) {
        snprintf(err, errlen, "libnice's candidate gathering did not finish in %u ms",
                 cfg->timeout_ms);
        goto out;
    }
    rc = relay_of(&n, relay, relaylen);
    if (rc)
        snprintf(err, errlen, "libnice finished gathering with no relay candidate");
out:
    if (n.agent) {
        /* Releases the TURN allocation (Refresh 0) before the agent goes. */
        g_main_context_invoke(n.ctx, close_on_ctx, &n);
        run_until(&n, &n.closed, CLOSE_LIMIT_MS, NULL);
        if (n.stream)
            nice_agent_attach_recv(n.agent, n.stream, 1, n.ctx, NULL, NULL);
        g_object_unref(n.agent);
    }
    /* Sources the agent left behind (timers of its sockets) go with it. */
    while (g_main_context_pending(n.ctx))
        g_main_context_iteration(n.ctx, FALSE);
    g_main_context_pop_thread_default(n.ctx);
    g_main_context_unref(n.ctx);
    return rc;
}
