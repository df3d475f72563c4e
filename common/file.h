/* file.h - files replaced whole: written to PATH.tmp, synced, renamed over
 * PATH, and the rename synced, so that a stop at any moment leaves the old
 * file or the new one, never part of either. */
#ifndef CW_COMMON_FILE_H
#define CW_COMMON_FILE_H

#include <stddef.h>
#include <stdio.h>

/* A new file of mode 0600 at PATH.tmp (its name in tmp), to be put in place
 * with cw_file_commit; NULL with err. */
FILE *cw_file_begin(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen);
/* Flushes, syncs, closes and renames tmp over path, then syncs the
 * directory; -1 with err (tmp is removed, path untouched) when any of it
 * or an earlier write to f failed. */
int cw_file_commit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen);
/* fsyncs the directory holding path, so that a rename into it lasts; a
 * failure is ignored (the data is in place already). */
void cw_file_sync_dir(const char *path);

#endif
