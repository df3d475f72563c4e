/* turncheck.c - the TURN reachability check on the loop: the periodic
 * timer, one check at a time on a thread of its own, its result brought back
 * through a uv_async, the last result and its report section.
 *
 * A check is the STUN probe (core/turncheck_probe.c) and, when the probe got
 * a relay, the libnice gathering (core/turncheck_nice.c). Both block, so the
 * thread runs them one after the other and hands one result over under a
 * lock. The loop joins the thread when the result arrives (it has finished
 * by then), and at close after setting the cancel flag that both parts look
 * at every 100 ms. */
#include "core/turncheck_int.h"

#include "common/addr.h"
#include "common/log.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_CHECK_MS 3000     /* after start: let the daemon settle, then look */
#define TC_LOG "turn-check"

struct tc_waiter {
    core_turncheck_cb cb;
    void *arg;
    struct tc_waiter *next;
};

struct core_turncheck {
    uv_loop_t *loop;
    struct core_turncheck_config cfg;
    char server[CW_ADDR_STRLEN + 8];        /* "ip:port (udp)" for every line */
    core_turncheck_cb on_result;
    void *arg;
    uv_timer_t timer;
    uv_async_t async;
    int handles;                /* open uv handles; freed when the last one closed */
    int closing;
    /* the check running now */
    GThread *thread;
    atomic_int cancel;
    struct tc_waiter *waiters;  /* who asked for this check, newest first */
    /* handed over from the thread to the loop */
    GMutex lock;
    int done;
    struct core_turncheck_result result;
    /* the last finished check */
    struct core_turncheck_result last;
    /* settings from a reload that came while a check ran: taken after it */
    struct core_turncheck_config next;
    int reload;
};

/* ---- the check's thread ----------------------------------------------------- */

static void check_finish(const struct core_turncheck__probe *pr,
                         int nice_rc, const char *relay, const char *nice_err,
                         struct core_turncheck_result *res)
{
    memset(res, 0, sizeof(*res));
    res->verdict = pr->verdict;
    res->rtt_ms = pr->rtt_ms;
    snprintf(res->mapped, sizeof(res->mapped), "%s", pr->mapped);
    snprintf(res->why, sizeof(res->why), "%s", pr->why);
    if (pr->verdict != CORE_TURNCHECK_OK)
        goto out;
    if (nice_rc == 0) {
        snprintf(res->relay, sizeof(res->relay), "%s", relay);
        goto out;
    }
    /* The probe got a relay with the same credential, so the server and the
     * credential work: what failed is the ICE agent's allocation. */
    res->verdict = CORE_TURNCHECK_NO_RELAY;
    snprintf(res->why, sizeof(res->why), "the server answered but no relay candidate was "
             "created (the CMS \"relay candidate creation timeout\"): the probe got relay %s "
             "in %.1f ms, then %s", pr->relay[0] ? pr->relay : "?", pr->rtt_ms, nice_err);
out:
    res->when = time(NULL);
}

static gpointer check_main(gpointer data)
{
    struct core_turncheck *tc = data;
    struct core_turncheck__cred cred;
    struct core_turncheck__probe pr;
    struct core_turncheck_result res;
    char relay[64] = "", nice_err[160] = "";
    int nice_rc = -1;

    if (core_turncheck__cred_make(&tc->cfg, time(NULL), &cred) < 0) {
        memset(&pr, 0, sizeof(pr));
        pr.verdict = CORE_TURNCHECK_ERROR;
        pr.rtt_ms = -1;
        snprintf(pr.why, sizeof(pr.why), "cannot compute the REST credential from rest-secret");
    } else {
        core_turncheck__probe_run(&tc->cfg, &cred, &tc->cancel, &pr);
        if (pr.verdict == CORE_TURNCHECK_OK && !atomic_load(&tc->cancel))
            nice_rc = core_turncheck__nice_run(&tc->cfg, &cred,
                                               (const struct sockaddr *)&pr.local, &tc->cancel,
                                               relay, sizeof(relay), nice_err,
                                               sizeof(nice_err));
    }
    core_turncheck__cred_wipe(&cred);
    check_finish(&pr, nice_rc, relay, nice_err, &res);
    g_mutex_lock(&tc->lock);
    tc->result = res;
    tc->done = 1;
    g_mutex_unlock(&tc->lock);
    uv_async_send(&tc->async);
    return NULL;
}

/* ---- on the loop ---------------------------------------------------------------- */

static void result_log(struct core_turncheck *tc, const struct core_turncheck_result *res,
                       const struct core_turncheck_result *prev)
{
    if (prev->when && prev->verdict == res->verdict)
        return;
    if (res->verdict == CORE_TURNCHECK_OK)
        CW_NOTICE(TC_LOG, "%s reachable: relay %s, mapped %s, rtt %.1f ms", tc->server,
                  res->relay, res->mapped[0] ? res->mapped : "?", res->rtt_ms);
    else
        CW_WARN(TC_LOG, "%s NOT usable: %s", tc->server, res->why);
}

static void on_timer(uv_timer_t *t);

/* The check's settings from now on; the thread is not running. With a
 * periodic check, the first with the new settings comes soon. */
static void apply(struct core_turncheck *tc, const struct core_turncheck_config *cfg)
{
    tc->cfg = *cfg;
    core_turncheck__server_name(cfg, tc->server, sizeof(tc->server));
    uv_timer_stop(&tc->timer);
    if (cfg->enabled && cfg->interval_s)
        uv_timer_start(&tc->timer, on_timer, FIRST_CHECK_MS, (uint64_t)cfg->interval_s * 1000);
}

static void on_async(uv_async_t *a)
{
    struct core_turncheck *tc = a->data;
    struct core_turncheck_result res, prev = tc->last;
    struct tc_waiter *w;
    int done;

    g_mutex_lock(&tc->lock);
    done = tc->done;
    res = tc->result;
    tc->done = 0;
    g_mutex_unlock(&tc->lock);
    if (!done || tc->closing)
        return;
    g_thread_join(tc->thread);      /* it has returned: it sent this wake-up last */
    tc->thread = NULL;
    if (tc->reload) {
        tc->reload = 0;
        apply(tc, &tc->next);
    }
    tc->last = res;
    result_log(tc, &res, &prev);
    /* Detached first: a callback may ask for the next check at once. */
    w = tc->waiters;
    tc->waiters = NULL;
    if (tc->on_result)
        tc->on_result(tc->arg, &res);
    while (w) {
        struct tc_waiter *next = w->next;
        w->cb(w->arg, &res);
        free(w);
        w = next;
    }
}

static void on_timer(uv_timer_t *t)
{
    struct core_turncheck *tc = t->data;

    if (core_turncheck_run(tc, NULL, NULL) < 0)
        CW_WARN(TC_LOG, "%s: the periodic check could not start (out of memory?)", tc->server);
}

int core_turncheck_run(struct core_turncheck *tc, core_turncheck_cb cb, void *arg)
{
    struct tc_waiter *w = NULL;
    GError *gerr = NULL;

    if (!tc || tc->closing || !tc->cfg.enabled)
        return -1;
    if (cb) {
        if (!(w = malloc(sizeof(*w))))
            return -1;
        *w = (struct tc_waiter){ cb, arg, NULL };
    }
    if (!tc->thread) {
        atomic_store(&tc->cancel, 0);
        tc->thread = g_thread_try_new("turn-check", check_main, tc, &gerr);
        if (!tc->thread) {
            CW_ERROR(TC_LOG, "cannot start the check's thread: %s", gerr ? gerr->message : "?");
            g_clear_error(&gerr);
            free(w);
            return -1;
        }
    }
    if (w) {
        w->next = tc->waiters;      /* joins the check that runs */
        tc->waiters = w;
    }
    return 0;
}

static int cfg_usable(const struct core_turncheck_config *cfg, char *err, size_t errlen)
{
    if (cfg->enabled && (!cfg->server.ss_family || !cfg->timeout_ms ||
                         (!cfg->rest_secret[0] && !cfg->username[0]))) {
        snprintf(err, errlen, "[turn] needs server, a timeout and a credential");
        return 0;
    }
    return 1;
}

int core_turncheck_reload(struct core_turncheck *tc, const struct core_turncheck_config *cfg,
                          char *err, size_t errlen)
{
    if (!cfg_usable(cfg, err, errlen))
        return -1;
    if (tc->thread) {
        tc->next = *cfg;    /* the running check reads tc->cfg: after it */
        tc->reload = 1;
    } else {
        apply(tc, cfg);
    }
    return 0;
}

struct core_turncheck *core_turncheck_create(uv_loop_t *loop, const struct core_turncheck_config *cfg,
                                             core_turncheck_cb on_result, void *arg, char *err,
                                             size_t errlen)
{
    struct core_turncheck *tc = calloc(1, sizeof(*tc));

    if (!tc) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!cfg_usable(cfg, err, errlen)) {
        free(tc);
        return NULL;
    }
    tc->loop = loop;
    tc->on_result = on_result;
    tc->arg = arg;
    tc->last.rtt_ms = -1;
    g_mutex_init(&tc->lock);
    uv_timer_init(loop, &tc->timer);
    uv_async_init(loop, &tc->async, on_async);
    tc->timer.data = tc->async.data = tc;
    tc->handles = 2;
    apply(tc, cfg);
    return tc;
}

const struct core_turncheck_result *core_turncheck_last(const struct core_turncheck *tc)
{
    return &tc->last;
}

void core_turncheck_report(const struct core_turncheck *tc, struct cw_report *r)
{
    const struct core_turncheck_result *l;
    char user[200];

    if (!tc || !tc->cfg.enabled) {
        cw_report_section(r, "turn_check", "TURN reachability", CW_REPORT_OFF);
        cw_report_str(r, "server", "Server", "not configured");
        return;
    }
    l = &tc->last;
    cw_report_section(r, "turn_check", "TURN reachability",
                      !l->when || l->verdict == CORE_TURNCHECK_OK ? CW_REPORT_OK
                                                                  : CW_REPORT_ERROR);
    cw_report_strf(r, "server", "Server", "%s", tc->server);
    cw_report_str(r, "transport", "Transport", tc->cfg.tcp ? "tcp" : "udp");
    /* The name only: never the password or the secret. */
    if (tc->cfg.rest_secret[0])
        snprintf(user, sizeof(user), "EXPIRY:%s (REST credential)", CORE_TURNCHECK_REST_NAME);
    else
        snprintf(user, sizeof(user), "%s", tc->cfg.username);
    cw_report_str(r, "user", "User", user);
    cw_report_time(r, "last_check", "Last check", l->when);
    cw_report_bool(r, "running", "Check running", tc->thread != NULL);
    cw_report_str(r, "verdict", "Verdict", l->when ? core_turncheck_verdict_name(l->verdict)
                                                   : "not checked yet");
    if (l->rtt_ms >= 0)
        cw_report_real(r, "rtt_ms", "Round trip (ms)", l->rtt_ms, 2);
    else
        cw_report_str(r, "rtt_ms", "Round trip (ms)", "");
    cw_report_str(r, "mapped", "Mapped address", l->mapped);
    cw_report_str(r, "relay", "Relay address", l->relay);
    cw_report_str(r, "why", "Why", l->why);
    cw_report_int(r, "interval_s", "Checked every (seconds; 0: only on demand)",
                  tc->cfg.interval_s);
}

static void on_closed(uv_handle_t *h)
{
    struct core_turncheck *tc = h->data;

    if (--tc->handles)
        return;
    g_mutex_clear(&tc->lock);
    free(tc);
}

void core_turncheck_close(struct core_turncheck *tc)
{
    struct tc_waiter *w, *next;

    if (!tc || tc->closing)
        return;
    tc->closing = 1;
    atomic_store(&tc->cancel, 1);
    if (tc->thread)
        g_thread_join(tc->thread);  /* soon: both parts watch cancel; the release
                                     * of libnice's relay waits 2 s at most */
    tc->thread = NULL;
    for (w = tc->waiters; w; w = next) {
        next = w->next;
        free(w);                    /* abandoned: not called */
    }
    tc->waiters = NULL;
    uv_close((uv_handle_t *)&tc->timer, on_closed);
    uv_close((uv_handle_t *)&tc->async, on_closed);
}
