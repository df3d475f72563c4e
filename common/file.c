/* file.c - files replaced whole (see file.h). */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

FILE *cw_file_begin(const char *path, char *tmp, size_t tmplen, char *err, size_t errlen)
{
    FILE *f;
    int fd;

    snprintf(tmp, tmplen, "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    return f;
}

int cw_file_commit(FILE *f, const char *tmp, const char *path, char *err, size_t errlen)
{
    /* A write that failed before (ferror) fails the commit: the old file stays. */
    int ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;

    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    cw_file_sync_dir(path);
    return 0;
}

void cw_file_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int fd;

    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}
