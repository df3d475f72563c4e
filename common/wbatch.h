/* wbatch.h - socket writes gathered over one loop turn and sent with one
 * io_uring_enter (see wbatch.c). */
#ifndef CW_WBATCH_H
#define CW_WBATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

struct cw_wbatch;

struct cw_wb;
/* The batch sent a writer's bytes and the kernel did not take them all:
 * status < 0 is the socket's error (the bytes are lost, as with a failed
 * write); else rest/n are the bytes the socket had no room for, which the
 * owner queues (uv_write) ahead of anything it writes next. */
typedef void cw_wb_sent_fn(struct cw_wb *w, int status, const uint8_t *rest, size_t n);

/* A writer: one socket's place in a batch, embedded in its owner, set up by
 * cw_wb_init; b may change later (NULL: the owner writes as before). */
struct cw_wb {
    uv_stream_t *h;
    cw_wb_sent_fn *sent;
    struct cw_wbatch *b;
    long slot;                  /* entry in the batch, or -1 */
};

/* w writes to h through batch b (NULL: straight to the socket); sent hears
 * what a batched send did not do. */
void cw_wb_init(struct cw_wb *w, uv_stream_t *h, cw_wb_sent_fn *sent, struct cw_wbatch *b);

/* A batch on loop: NULL (and why) when this kernel has no io_uring for us. */
struct cw_wbatch *cw_wbatch_new(uv_loop_t *loop, char *why, size_t whylen);
/* Sends what is batched, then frees the batch once its handles are closed
 * (the loop must run on). */
void cw_wbatch_free(struct cw_wbatch *b);

/* Copies n bytes into this turn's batch: 0; -1 when out of memory; 1 when
 * w's batched bytes were just given to the kernel (a flush's callbacks are
 * running and w's own has not, or w has a lot batched): sent was called
 * for what the socket did not take, and the owner writes these bytes its
 * own way, behind that. */
int cw_wb_send(struct cw_wb *w, const void *p, size_t n);
/* An owner's write when nothing of its own is queued: into the batch when
 * w has one (b set), else straight to the socket. Returns how many bytes
 * were taken (all when batched; 0 when the socket is full, or when sent
 * has just handed the owner a rest to queue first), or a negative libuv
 * error; the owner queues the rest. w->h and w->sent are set. */
ssize_t cw_wb_write(struct cw_wb *w, const void *p, size_t n);
/* Bytes w has in the batch, not yet given to the kernel. */
size_t cw_wb_pending(const struct cw_wb *w);
/* Gives w's batched bytes to the kernel now (one write), calling sent for
 * what it did not take: before the owner closes or shuts down its socket.
 * 1 when sent was called, else 0. */
int cw_wb_settle(struct cw_wb *w);
/* Sends the whole batch now (the loop does it at the end of each turn). */
void cw_wbatch_flush(struct cw_wbatch *b);

struct cw_wbatch_stats {
    uint64_t submits;           /* io_uring_enter calls */
    uint64_t sends;             /* socket writes they carried */
    uint64_t settled;           /* writes made one by one (cw_wb_settle) */
    uint64_t short_sends;       /* sends the socket did not take whole */
};
void cw_wbatch_stats(const struct cw_wbatch *b, struct cw_wbatch_stats *st);
/* For status: "batched (io_uring): N sends in M system calls, K short", or
 * without a batch "one system call each: " and off (why there is none). */
const char *cw_wbatch_text(const struct cw_wbatch *b, const char *off, char *buf, size_t len);

#endif
