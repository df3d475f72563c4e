/* xmpp_import.c - a node alone's XMPP state into the cluster (see
 * xmpp_import.h). */
#include "core/xmpp_import.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "core/cluster.h"
#include "core/xmpp_store.h"
#include "xmpp/state.h"

/* Bytes of commands per log entry: well under the links' frame limit, and
 * a few milliseconds to apply on every node. */
#define BATCH_BYTES (128u * 1024)
/* A batch the log could not take (no leader for a moment) is offered again
 * this often, until the import has made no progress for GIVE_UP_MS. */
#define RETRY_MS 250
#define GIVE_UP_MS 30000

/* What is imported, by the command prefix of a state file's lines. */
static const struct { const char *prefix, *name; } kinds[] = {
    { "domain-set ", "domains" },
    { "user-set ", "users" },
    { "comp-set ", "call bridges" },
    { "roster-set ", "roster items" },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

struct core_import {
    struct core_cluster *cl;
    uv_loop_t *loop;
    void (*done)(void *arg, int rc, const char *msg);
    void *arg;
    char *ok;                   /* the answer's summary, filled once read */
    size_t oklen;
    uv_work_t work;             /* reads the state off the loop */
    uv_timer_t retry;
    int busy;                   /* the read or a batch in flight */
    int abandoned;
    struct cw_sb text;          /* the commands, one per line */
    size_t off;                 /* the next batch's first byte */
    size_t batch_off;           /* the batch in flight's */
    unsigned total, applied, inflight, next_note;
    unsigned refused;           /* batches with commands the state refused */
    unsigned counts[NKINDS];
    uint64_t stalled_since;     /* 0, or when the log first refused the batch */
    char err[1024];             /* the read's failure */
    char dir[512];
};

static void import_closed(uv_handle_t *h)
{
    struct core_import *im = h->data;

    cw_sb_free(&im->text);
    free(im);
}

/* The end: the answer (unless the daemon stops), and the memory once the
 * timer is closed. Nothing may be in flight. */
static void import_end(struct core_import *im, int rc, const char *msg)
{
    if (!im->abandoned)
        im->done(im->arg, rc, msg);
    uv_close((uv_handle_t *)&im->retry, import_closed);
}

static int send_batch(struct core_import *im, const char **msg);
static void retry_cb(uv_timer_t *t);

/* The log did not take the batch: again in a moment, or give up. */
static void stalled(struct core_import *im, const char *reason)
{
    char why[1024];
    uint64_t now = uv_now(im->loop);

    if (!im->stalled_since)
        im->stalled_since = now;
    if (now - im->stalled_since < GIVE_UP_MS) {
        CW_INFO("xmpp", "import from %s: %s: the batch goes again in %u ms", im->dir, reason,
                RETRY_MS);
        uv_timer_start(&im->retry, retry_cb, RETRY_MS, 0);
        return;
    }
    snprintf(why, sizeof(why), "import from %s stopped after %u of %u commands: %s; run it again "
             "(what is in already is replaced by the same)", im->dir, im->applied, im->total,
             reason);
    CW_WARN("xmpp", "%s", why);
    import_end(im, -1, why);
}

static void batch_done(void *arg, int rc, const char *msg)
{
    struct core_import *im = arg;
    const char *why;
    char end[1024];

    im->busy = 0;
    if (im->abandoned) {
        import_end(im, -1, NULL);
        return;
    }
    if (rc == CLUSTER_EAGAIN) {     /* not in the log: the same batch again */
        im->off = im->batch_off;
        stalled(im, msg ? msg : "not in the log");
        return;
    }
    im->stalled_since = 0;
    im->applied += im->inflight;
    if (rc < 0) {   /* in the log; some lines refused (the same on every node) */
        CW_WARN("xmpp", "import from %s: %s", im->dir, msg ? msg : "refused");
        im->refused++;
    }
    if (im->off >= im->text.len) {
        CW_NOTICE("xmpp", "import from %s: done, %u commands", im->dir, im->total);
        if (im->refused) {
            snprintf(end, sizeof(end), "import from %s: done, but %u of its batches had commands "
                     "the shared state refused: the log's warnings say which", im->dir,
                     im->refused);
            import_end(im, -1, end);
        } else {
            import_end(im, 0, NULL);
        }
        return;
    }
    if (im->applied >= im->next_note) {
        CW_NOTICE("xmpp", "import from %s: %u of %u commands in the shared state", im->dir,
                  im->applied, im->total);
        im->next_note += im->total / 10 + 1;
    }
    if (send_batch(im, &why) < 0)
        stalled(im, why);
}

/* Proposes the next batch: 0, or -1 with why it could not. */
static int send_batch(struct core_import *im, const char **msg)
{
    const char *start = im->text.s + im->off, *end = start;
    struct cw_sb b;
    unsigned lines = 0;

    /* Whole lines, at least one, up to BATCH_BYTES. */
    while (end < im->text.s + im->text.len &&
           (lines == 0 || (size_t)(end - start) < BATCH_BYTES)) {
        end = strchr(end, '\n') + 1;
        lines++;
    }
    cw_sb_init(&b);
    cw_sb_str_add(&b, CLUSTER_BATCH);
    cw_sb_add(&b, start, (size_t)(end - start));
    if (b.failed) {
        *msg = "out of memory";
        cw_sb_free(&b);
        return -1;
    }
    if (core_cluster_propose(im->cl, b.s, batch_done, im, msg) < 0) {
        cw_sb_free(&b);
        return -1;
    }
    cw_sb_free(&b);
    im->batch_off = im->off;
    im->off += (size_t)(end - start);
    im->inflight = lines;
    im->busy = 1;
    return 0;
}

static void retry_cb(uv_timer_t *t)
{
    struct core_import *im = t->data;
    const char *why;

    if (send_batch(im, &why) < 0)
        stalled(im, why);
}

/* In the thread pool: the state in im->dir, the lines of the kinds
 * imported, counted. A large state takes a second to read: the loop (and
 * with it the node's part in the cluster) goes on meanwhile. */
static void read_work(uv_work_t *w)
{
    struct core_import *im = w->data;
    struct xmpp_state *st = xmpp_state_new();
    struct core_store *store = core_store_create(im->dir);
    struct cw_sb dump;

    cw_sb_init(&dump);
    if (!st || !store) {
        snprintf(im->err, sizeof(im->err), "out of memory");
        goto out;
    }
    if (core_store_load(store, st) < 0) {
        snprintf(im->err, sizeof(im->err), "cannot read the XMPP state in %s (the log says why)",
                 im->dir);
        goto out;
    }
    xmpp_state_dump(st, &dump);
    for (const char *p = dump.s, *e; p && (e = strchr(p, '\n')); p = e + 1)
        for (size_t k = 0; k < NKINDS; k++)
            if (!strncmp(p, kinds[k].prefix, strlen(kinds[k].prefix))) {
                cw_sb_add(&im->text, p, (size_t)(e + 1 - p));
                im->counts[k]++;
                im->total++;
            }
    if (dump.failed || im->text.failed)
        snprintf(im->err, sizeof(im->err), "out of memory");
    else if (!im->total)
        snprintf(im->err, sizeof(im->err), "nothing to import in %s: no domains, users, call "
                 "bridges or roster items", im->dir);
out:
    cw_sb_free(&dump);
    core_store_destroy(store);
    xmpp_state_free(st);
}

static void read_done(uv_work_t *w, int status)
{
    struct core_import *im = w->data;
    const char *why;
    size_t n;

    im->busy = 0;
    if (im->abandoned || status < 0 || im->err[0]) {
        import_end(im, -1, im->err[0] ? im->err : "cancelled");
        return;
    }
    n = (size_t)snprintf(im->ok, im->oklen, "imported from %s:", im->dir);
    for (size_t k = 0; k < NKINDS && n < im->oklen; k++)
        n += (size_t)snprintf(im->ok + n, im->oklen - n, "%s %u %s", k ? "," : "",
                              im->counts[k], kinds[k].name);
    if (n < im->oklen)
        snprintf(im->ok + n, im->oklen - n, "\n");
    CW_NOTICE("xmpp", "import from %s: %u commands (%u domains, %u users, %u call bridges, %u "
              "roster items)", im->dir, im->total, im->counts[0], im->counts[1], im->counts[2],
              im->counts[3]);
    im->next_note = im->total / 10 + 1;
    if (send_batch(im, &why) < 0)
        stalled(im, why);
}

struct core_import *core_import_start(struct core_cluster *cl, uv_loop_t *loop, const char *dir,
                                      void (*done)(void *arg, int rc, const char *msg),
                                      void *arg, char *ok, size_t oklen, struct cw_sb *out)
{
    struct core_import *im;
    struct stat sb;

    if (stat(dir, &sb) < 0) {
        cw_sb_printf(out, "%s: %s\n", dir, strerror(errno));
        return NULL;
    }
    if (!(im = calloc(1, sizeof(*im)))) {
        cw_sb_printf(out, "out of memory\n");
        return NULL;
    }
    /* The state directory, or the state file in it. */
    snprintf(im->dir, sizeof(im->dir), "%s", dir);
    if (!S_ISDIR(sb.st_mode) && strrchr(im->dir, '/'))
        *strrchr(im->dir, '/') = 0;
    im->cl = cl;
    im->loop = loop;
    im->done = done;
    im->arg = arg;
    im->ok = ok;
    im->oklen = oklen;
    cw_sb_init(&im->text);
    uv_timer_init(loop, &im->retry);
    im->retry.data = im->work.data = im;
    im->busy = 1;
    if (uv_queue_work(loop, &im->work, read_work, read_done) < 0) {
        cw_sb_printf(out, "cannot start the import\n");
        im->abandoned = 1;
        im->busy = 0;
        import_end(im, -1, NULL);
        return NULL;
    }
    return im;
}

void core_import_progress(const struct core_import *im, struct cw_sb *out)
{
    if (!im->total)
        cw_sb_printf(out, "reading %s", im->dir);
    else
        cw_sb_printf(out, "%u of %u commands from %s", im->applied, im->total, im->dir);
}

void core_import_abandon(struct core_import *im)
{
    im->abandoned = 1;
    if (!im->busy) {    /* waiting for the retry timer only */
        uv_timer_stop(&im->retry);
        import_end(im, -1, NULL);
    }
}
