/* xmpp_import.c - a node alone's XMPP state into the cluster (see
 * xmpp_import.h). */
#include "core/xmpp_import.h"

#include <errno.h>
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
    void (*done)(void *arg, int rc, const char *msg);
    void *arg;
    struct cw_sb text;          /* the commands, one per line */
    size_t off;                 /* the next batch's first byte */
    size_t sent;                /* bytes of text in the log or in flight */
    unsigned total, applied, inflight, next_note;
    unsigned refused;           /* batches with commands the state refused */
    int abandoned;
    char dir[512];
};

static void import_end(struct core_import *im, int rc, const char *msg)
{
    if (!im->abandoned)
        im->done(im->arg, rc, msg);
    cw_sb_free(&im->text);
    free(im);
}

static int send_batch(struct core_import *im, char *why, size_t len);

/* Why the import ends early, into why and the log. */
static void stopped(const struct core_import *im, const char *reason, char *why, size_t len)
{
    snprintf(why, len, "import from %s stopped after %u of %u commands: %s; run it again (what "
             "is in already is replaced by the same)", im->dir, im->applied, im->total, reason);
    CW_WARN("xmpp", "%s", why);
}

static void batch_done(void *arg, int rc, const char *msg)
{
    struct core_import *im = arg;
    char why[1024];

    im->applied += im->inflight;
    im->inflight = 0;
    if (im->abandoned) {
        import_end(im, -1, NULL);
        return;
    }
    if (rc == CLUSTER_EAGAIN) {
        stopped(im, msg ? msg : "not in the log", why, sizeof(why));
        import_end(im, -1, why);
        return;
    }
    if (rc < 0) {   /* in the log; some lines refused (the same on every node) */
        CW_WARN("xmpp", "import from %s: %s", im->dir, msg ? msg : "refused");
        im->refused++;
    }
    if (im->applied >= im->next_note && im->off < im->text.len) {
        CW_NOTICE("xmpp", "import from %s: %u of %u commands in the shared state", im->dir,
                  im->applied, im->total);
        im->next_note += im->total / 10 + 1;
    }
    if (im->off >= im->text.len) {
        CW_NOTICE("xmpp", "import from %s: done, %u commands", im->dir, im->total);
        if (im->refused) {
            snprintf(why, sizeof(why), "import from %s: done, but %u of its batches had commands "
                     "the shared state refused: the log's warnings say which", im->dir,
                     im->refused);
            import_end(im, -1, why);
            return;
        }
        import_end(im, 0, NULL);
        return;
    }
    if (send_batch(im, why, sizeof(why)) < 0)
        import_end(im, -1, why);
}

/* Proposes the next batch. -1, with why (also logged), when it could not. */
static int send_batch(struct core_import *im, char *why, size_t len)
{
    const char *start = im->text.s + im->off, *end = start, *msg;
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
    if (b.failed || core_cluster_propose(im->cl, b.s, batch_done, im, &msg) < 0) {
        stopped(im, b.failed ? "out of memory" : msg, why, len);
        cw_sb_free(&b);
        return -1;
    }
    cw_sb_free(&b);
    im->off += (size_t)(end - start);
    im->inflight = lines;
    return 0;
}

/* The state in dir: the lines of the kinds imported, counted. */
static int read_state(struct core_import *im, unsigned counts[NKINDS], struct cw_sb *out)
{
    struct xmpp_state *st = xmpp_state_new();
    struct core_store *store = core_store_create(im->dir);
    struct cw_sb dump;
    int rc = -1;

    cw_sb_init(&dump);
    if (!st || !store) {
        cw_sb_printf(out, "out of memory\n");
        goto out;
    }
    if (core_store_load(store, st) < 0) {
        cw_sb_printf(out, "cannot read the XMPP state in %s (the log says why)\n", im->dir);
        goto out;
    }
    xmpp_state_dump(st, &dump);
    for (const char *p = dump.s, *e; p && (e = strchr(p, '\n')); p = e + 1)
        for (size_t k = 0; k < NKINDS; k++)
            if (!strncmp(p, kinds[k].prefix, strlen(kinds[k].prefix))) {
                cw_sb_add(&im->text, p, (size_t)(e + 1 - p));
                counts[k]++;
                im->total++;
            }
    if (dump.failed || im->text.failed)
        cw_sb_printf(out, "out of memory\n");
    else
        rc = 0;
out:
    cw_sb_free(&dump);
    core_store_destroy(store);
    xmpp_state_free(st);
    return rc;
}

struct core_import *core_import_start(struct core_cluster *cl, const char *dir,
                                      void (*done)(void *arg, int rc, const char *msg),
                                      void *arg, char *ok, size_t oklen, struct cw_sb *out)
{
    struct core_import *im = calloc(1, sizeof(*im));
    unsigned counts[NKINDS] = { 0 };
    char why[1024];
    struct stat sb;
    size_t n;

    if (!im) {
        cw_sb_printf(out, "out of memory\n");
        return NULL;
    }
    /* The state directory, or the state file in it. */
    snprintf(im->dir, sizeof(im->dir), "%s", dir);
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode) && strrchr(im->dir, '/'))
        *strrchr(im->dir, '/') = 0;
    else if (stat(dir, &sb) < 0) {
        cw_sb_printf(out, "%s: %s\n", dir, strerror(errno));
        free(im);
        return NULL;
    }
    im->cl = cl;
    im->done = done;
    im->arg = arg;
    cw_sb_init(&im->text);
    if (read_state(im, counts, out) < 0) {
        cw_sb_free(&im->text);
        free(im);
        return NULL;
    }
    if (!im->total) {
        cw_sb_printf(out, "nothing to import in %s: no domains, users, call bridges or roster "
                     "items\n", im->dir);
        cw_sb_free(&im->text);
        free(im);
        return NULL;
    }
    n = (size_t)snprintf(ok, oklen, "imported from %s:", im->dir);
    for (size_t k = 0; k < NKINDS && n < oklen; k++)
        n += (size_t)snprintf(ok + n, oklen - n, "%s %u %s", k ? "," : "", counts[k],
                              kinds[k].name);
    if (n < oklen)
        snprintf(ok + n, oklen - n, "\n");
    CW_NOTICE("xmpp", "import from %s: %u commands (%u domains, %u users, %u call bridges, %u "
              "roster items)", im->dir, im->total, counts[0], counts[1], counts[2], counts[3]);
    im->next_note = im->total / 10 + 1;
    if (send_batch(im, why, sizeof(why)) < 0) {
        cw_sb_printf(out, "%s\n", why);
        cw_sb_free(&im->text);
        free(im);
        return NULL;
    }
    return im;
}

void core_import_progress(const struct core_import *im, struct cw_sb *out)
{
    cw_sb_printf(out, "%u of %u commands from %s", im->applied, im->total, im->dir);
}

void core_import_abandon(struct core_import *im)
{
    im->abandoned = 1;
}
