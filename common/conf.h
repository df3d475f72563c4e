/* conf.h - INI-style configuration files:
 *
 *     # comment
 *     [section]
 *     key = value            (a key may repeat where the daemon allows it)
 *
 * The parser knows no keys: it hands each (section, key, value) to the
 * daemon's callback and turns every error into "file:line: what". */
#ifndef CW_CONF_H
#define CW_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Called with key and value NULL when a [section] header is read (so an
 * unknown section is reported at its header), then once per key. Returns 0,
 * or -1 with a message (without file:line) written to err. */
typedef int (*cw_conf_cb)(void *arg, const char *section, const char *key,
                          const char *value, char *err, size_t errlen);

/* Parses a file. On error returns -1 and err holds "path:line: what". */
int cw_conf_parse_file(const char *path, cw_conf_cb cb, void *arg, char *err, size_t errlen);
/* Parses text in memory (embedded defaults); name stands in for the path. */
int cw_conf_parse_text(const char *name, const char *text, cw_conf_cb cb, void *arg,
                       char *err, size_t errlen);

/* Value parsers for callbacks: 0 on success, -1 with a message in err. */
int cw_conf_uint(const char *v, unsigned long min, unsigned long max, unsigned long *out,
                 char *err, size_t errlen);
int cw_conf_bool(const char *v, int *out, char *err, size_t errlen);
/* "a-b" with min <= a <= b <= max. */
int cw_conf_range(const char *v, unsigned long min, unsigned long max, unsigned long *lo,
                  unsigned long *hi, char *err, size_t errlen);
/* Copies a non-empty value that fits in cap (with its NUL) into dst. */
int cw_conf_str(char *dst, size_t cap, const char *v, char *err, size_t errlen);
/* "error", "warn", "notice", "info", "debug" -> the cw_log level. */
int cw_conf_log_level(const char *v, int *out, char *err, size_t errlen);
/* Address with optional port (see cw_addr_parse). */
int cw_conf_addr(const char *v, int default_port, struct sockaddr_storage *out, char *err,
                 size_t errlen);
/* Duration: "30", "30s", "5m", "1h" -> seconds in [min, max]. */
int cw_conf_duration(const char *v, unsigned long min, unsigned long max, unsigned long *out,
                     char *err, size_t errlen);
/* The same two into an unsigned field. */
int cw_conf_unsigned(const char *v, unsigned long min, unsigned long max, unsigned *out,
                     char *err, size_t errlen);
int cw_conf_seconds(const char *v, unsigned long min, unsigned long max, unsigned *out,
                    char *err, size_t errlen);

/* What a file says, setting by setting, kept to tell later which settings
 * a new version of the file changes (a reload names those that wait for a
 * restart). A setting is a section's key with all its values in file
 * order; every header of the section named numbered (core.conf's
 * "tunnel") starts a new one, "[tunnel] number 2", as the daemon counts
 * them. Values are kept but never shown (they may be secrets). */
struct cw_conf_snap;

/* NULL with "path: why" in err (cannot open, or not the format). */
struct cw_conf_snap *cw_conf_snap_file(const char *path, const char *numbered, char *err,
                                       size_t errlen);
void cw_conf_snap_destroy(struct cw_conf_snap *s);
/* Calls fn for each setting whose values in b differ from a's (changed,
 * added or removed), by section, then number, then key; number is 0 but
 * in a numbered section. Returns how many. */
int cw_conf_snap_diff(const struct cw_conf_snap *a, const struct cw_conf_snap *b,
                      void (*fn)(void *arg, const char *section, unsigned number,
                                 const char *key),
                      void *arg);

#endif
