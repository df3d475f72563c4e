/* xmpp_import.h - `causeway xmpp cluster import DIR`: what a node that ran
 * alone kept (domains, users with their SCRAM keys, call bridges, rosters:
 * its state file and journal in DIR) put into the cluster's shared state,
 * in batches through the log. What the cluster has under the same names
 * is replaced; nothing is removed; so an import cut short by a change of
 * leader can be run again. Sessions and cluster members are not imported. */
#ifndef CW_CORE_XMPP_IMPORT_H
#define CW_CORE_XMPP_IMPORT_H

#include <stddef.h>

#include <uv.h>

#include "common/strbuf.h"

struct core_cluster;
struct core_import;

/* Starts the import of DIR (or of the state file in it): read in the
 * thread pool, then proposed batch by batch; a batch the log cannot take
 * (no leader for a moment) goes again until the import has made no
 * progress for 30 s. done(arg, rc, msg) is called once at the end: rc 0,
 * with what was imported written to ok, or -1 with why in msg. NULL, with
 * why in out, when DIR is not there. */
struct core_import *core_import_start(struct core_cluster *cl, uv_loop_t *loop, const char *dir,
                                      void (*done)(void *arg, int rc, const char *msg),
                                      void *arg, char *ok, size_t oklen, struct cw_sb *out);
/* "N of M commands from DIR", for the status. */
void core_import_progress(const struct core_import *im, struct cw_sb *out);
/* The daemon stops: done is never called; the import ends with what is in
 * flight. */
void core_import_abandon(struct core_import *im);

#endif
