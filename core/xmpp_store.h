/* xmpp_store.h - a standalone core node's XMPP state on disk: the state file
 * (the commands that rebuild the state, written whole) and a journal of the
 * lasting changes made since, each appended and synced as it is applied.
 *
 * A change costs one short append, whatever the state's size; the journal
 * is folded into a new state file once it outgrows the last one (and at a
 * start that found changes in it), so the two together stay within about
 * twice the state.
 * Both files carry a generation: a journal whose generation is not the
 * state file's is already in it (a stop between writing the state file and
 * starting the new journal) and is skipped. A last line cut short by a
 * crash is dropped with a notice. Session lines are never journaled: a
 * restart clears this node's sessions anyway.
 *
 * A cluster node has none of this: the cluster's log is its store. */
#ifndef CW_CORE_XMPP_STORE_H
#define CW_CORE_XMPP_STORE_H

#include <stddef.h>

struct xmpp_state;
struct core_store;

/* The store in dir (xmpp.state, xmpp.journal); NULL when out of memory. */
struct core_store *core_store_create(const char *dir);
void core_store_destroy(struct core_store *s);
/* Fills st from the files (none: st stays empty). 0, or -1 with the reason
 * logged. */
int core_store_load(struct core_store *s, struct xmpp_state *st);
/* After load (and whatever the caller changes in st before it records
 * changes): folds the journal into a new state file when it held changes,
 * was cut short or does not belong to the state file; else goes on
 * appending to it. 0 or -1 (logged; the next change tries again). */
int core_store_begin(struct core_store *s, const struct xmpp_state *st);
/* Records cmd, just applied to st. 0, or -1 (logged: the change stays in
 * memory only, and the next one tries a whole state file again). */
int core_store_append(struct core_store *s, const struct xmpp_state *st, const char *cmd);
/* Writes st whole as a new generation and starts an empty journal. 0 or -1
 * (logged). */
int core_store_save(struct core_store *s, const struct xmpp_state *st);
/* Bytes in the journal now, and in the state file when it was written. */
size_t core_store_journal_bytes(const struct core_store *s);
size_t core_store_state_bytes(const struct core_store *s);

#endif
