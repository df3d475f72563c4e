/* mux.h - the tunnel link: many byte streams, each standing for one TCP
 * connection, carried over one ordered byte connection between the edge's
 * web proxy and a core (through the core's SSH remote forward).
 *
 * Why: with a forwarded connection per guest connection, every request
 * crosses sshd as its own channel socket: a read, a write, a packet and a
 * wake-up each way, and sshd polls every channel at every wake-up. Over one
 * link, a loop turn's requests go to sshd as one write and one packet, and
 * its answers come back the same way; the edge writes no backend socket per
 * request at all.
 *
 * Wire format. Each side first sends the 8-byte preface CW_MUX_PREFACE (a
 * core that does not speak the link answers something else, and the edge
 * then uses a forwarded connection per guest connection as before). Then
 * frames, each an 8-byte header and a payload:
 *
 *     type (1 byte) | stream id (4 bytes, big-endian) | length (3 bytes, big-endian)
 *
 *     OPEN   1  length 0 or 1: the opener (the edge) starts stream id; ids
 *               grow. The payload is the stream's service, one byte; none
 *               means CW_MUX_SVC_WEB (what every edge sent before services)
 *     DATA   2  length 1..CW_MUX_FRAME_MAX: bytes of the stream
 *     FIN    3  length 0: the sender's side of the stream ended (half-close)
 *     RESET  4  length 4: the stream is aborted; a CW_MUX_RST_* code
 *     WINDOW 5  length 4: the receiver took that many more bytes of the stream
 *
 * Flow control is per stream, as in HTTP/2: a sender may have at most
 * CW_MUX_WINDOW bytes of a stream unacknowledged, and the receiver gives
 * credit back (WINDOW) as its consumer takes the bytes. So a receiver can
 * always read the link on: one slow guest or webbridge holds back its own
 * stream and no other. Frames for a stream that is gone are ignored (they
 * may cross a RESET); anything else out of these rules is a protocol error,
 * and the link is closed.
 *
 * The engine does no I/O: the owner feeds it what the link's transport
 * read, and sends what it queues (cw_mux_out), once per loop turn so that
 * the frames of many streams share one write. Callbacks run from cw_mux_feed
 * and cw_mux_out_done, and may call any function here but cw_mux_destroy. */
#ifndef CW_MUX_H
#define CW_MUX_H

#include <stddef.h>
#include <stdint.h>

#define CW_MUX_PREFACE "CWMUX/1\n"
#define CW_MUX_PREFACE_LEN 8
#define CW_MUX_HEADER_LEN 8
#define CW_MUX_FRAME_MAX 16384          /* DATA payload per frame */
#define CW_MUX_WINDOW (512 * 1024)      /* per stream, each way */
#define CW_MUX_STREAMS_MAX 8192         /* open at once on one link */

/* Services: what a stream is for, so the core knows where to connect it. An
 * accepting side refuses a service it does not know (on_open returns
 * CW_MUX_RST_CONNECT): a newer edge and an older core still agree. */
#define CW_MUX_SVC_WEB 0                /* the web proxy's guest connections */
#define CW_MUX_SVC_XMPP 1               /* the federation link (xmpp/fedlink.h) */

enum cw_mux_type { CW_MUX_OPEN = 1, CW_MUX_DATA, CW_MUX_FIN, CW_MUX_RESET, CW_MUX_WINDOW_UPDATE };

/* Why a stream was reset (RESET payload; LOST never goes on the wire). */
enum cw_mux_reset {
    CW_MUX_RST_CANCEL = 1,      /* the sender let the stream go */
    CW_MUX_RST_CONNECT = 2,     /* the core could not connect to the target */
    CW_MUX_RST_REFUSED = 3,     /* too many streams on the link */
    CW_MUX_RST_ERROR = 4,       /* the sender's side of the stream failed */
    CW_MUX_RST_LOST = 100,      /* local: the link itself went away */
};

/* cw_mux_feed errors: the link must be closed. */
#define CW_MUX_EPREFACE (-1)    /* the peer does not speak the link protocol */
#define CW_MUX_EPROTO (-2)      /* the peer broke a framing or flow control rule */
#define CW_MUX_ENOMEM (-3)

struct cw_mux;
struct cw_mux_stream;

struct cw_mux_cbs {
    /* The peer opened s (the accepting side only). Return 0 to take it
     * (cw_mux_stream_set_data), or a CW_MUX_RST_* code to refuse it. */
    int (*on_open)(struct cw_mux_stream *s, void *arg);
    /* n bytes of s. The consumer takes them all; credit goes back to the
     * peer with cw_mux_consumed() as they are really used. */
    void (*on_data)(struct cw_mux_stream *s, const uint8_t *p, size_t n);
    /* The peer ended its side of s (no more data will come). */
    void (*on_fin)(struct cw_mux_stream *s);
    /* s is aborted (code from the peer, or CW_MUX_RST_LOST from
     * cw_mux_destroy): nothing more moves on it; release it. */
    void (*on_reset)(struct cw_mux_stream *s, uint32_t code);
    /* s could not send all it wanted (cw_mux_send took less) and can
     * take more now. */
    void (*on_writable)(struct cw_mux_stream *s);
    /* Optional: the output went from empty to not empty (schedule a send). */
    void (*on_output)(struct cw_mux *m, void *arg);
};

/* A link end. opener: this side opens streams (the edge); the other side
 * accepts them. Queues the preface. NULL when out of memory. */
struct cw_mux *cw_mux_create(int opener, const struct cw_mux_cbs *cbs, void *arg);
/* Every stream not yet released gets on_reset(CW_MUX_RST_LOST) (it may be
 * released from there), then everything is freed. Not from a callback. */
void cw_mux_destroy(struct cw_mux *m);

/* Bytes read from the transport. 0, or a CW_MUX_E* error (the same one for
 * every later call; cw_mux_why() says what was wrong, for the log). */
int cw_mux_feed(struct cw_mux *m, const uint8_t *p, size_t n);
const char *cw_mux_why(const struct cw_mux *m);
/* 1 once the peer's preface has arrived. */
int cw_mux_ready(const struct cw_mux *m);

/* Queued output: the bytes to send next (NULL and 0 when none), then how
 * many of them the transport took. */
const uint8_t *cw_mux_out(const struct cw_mux *m, size_t *n);
void cw_mux_out_done(struct cw_mux *m, size_t n);

/* Opens a stream (opener side), with user data. NULL when the link has as
 * many streams as it may, its ids ran out, or memory did. The stream is of
 * service CW_MUX_SVC_WEB (its OPEN carries no payload). */
struct cw_mux_stream *cw_mux_open(struct cw_mux *m, void *data);
/* The same for service svc (a CW_MUX_SVC_*, at most 255): its OPEN carries
 * the service byte, except for CW_MUX_SVC_WEB, sent as cw_mux_open does.
 * NULL also for svc over 255. */
struct cw_mux_stream *cw_mux_open_service(struct cw_mux *m, unsigned svc, void *data);
/* Queues up to n bytes of s; returns how many were taken (fewer, even 0,
 * when the peer's window or the output is full: on_writable follows). */
size_t cw_mux_send(struct cw_mux_stream *s, const void *p, size_t n);
/* Ends this side of s (after the bytes queued so far). */
void cw_mux_fin(struct cw_mux_stream *s);
/* The consumer used n more bytes of s: the peer may send that many more. */
void cw_mux_consumed(struct cw_mux_stream *s, size_t n);
/* The user is done with s. A stream not ended both ways is reset (code, or
 * CW_MUX_RST_CANCEL when 0). s is freed: no callback mentions it again. */
void cw_mux_release(struct cw_mux_stream *s, uint32_t code);

void *cw_mux_stream_data(const struct cw_mux_stream *s);
void cw_mux_stream_set_data(struct cw_mux_stream *s, void *data);
uint32_t cw_mux_stream_id(const struct cw_mux_stream *s);
/* The stream's service: what its OPEN said (CW_MUX_SVC_WEB when nothing). */
unsigned cw_mux_stream_service(const struct cw_mux_stream *s);
struct cw_mux *cw_mux_of(const struct cw_mux_stream *s);
/* Streams open on the link (not yet released). */
unsigned cw_mux_streams(const struct cw_mux *m);

#endif
