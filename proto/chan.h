/*
 * A message channel: proto frames over a libevent bufferevent, encrypted with
 * a crypto session once the handshake is done. Used by both ends of control
 * connections and by work and visitor connections until their first frames are
 * exchanged (then proto_chan_detach hands the raw bufferevent over).
 */
#ifndef BW_PROTO_CHAN_H
#define BW_PROTO_CHAN_H

#include <event2/bufferevent.h>

#include "proto/proto.h"

struct bw_crypto_session;
struct proto_chan;

struct proto_chan_cbs {
	/* The connect started with bufferevent_socket_connect* completed. */
	void (*on_connect)(struct proto_chan *ch, void *arg);
	/*
	 * One decoded message (freed by the channel after the call: copy what you
	 * keep). Return 0 to go on reading, non-zero when the callback freed or
	 * detached the channel: it then touches nothing more.
	 */
	int (*on_msg)(struct proto_chan *ch, struct proto_msg *m, void *arg);
	/*
	 * The channel is dead: BW_E_CLOSED (EOF, or close_after_flush done),
	 * BW_E_TIMEOUT (no frame within the read timeout), -errno, BW_E_DECRYPT,
	 * or a decode error with *err saying which message and field. The owner
	 * logs once and frees the channel, from inside the callback if it likes.
	 */
	void (*on_error)(struct proto_chan *ch, int rc, const struct proto_err *err, void *arg);
};

/* Take ownership of bev (freed with the channel) and start reading frames. */
struct proto_chan *proto_chan_new(struct bufferevent *bev, enum proto_side side,
				  const struct proto_chan_cbs *cbs, void *arg, int *rc);
/* Hand the channel to another owner: later events go to cbs/arg, starting
 * with frames already received (delivered from the loop, not this call). */
void proto_chan_set_cbs(struct proto_chan *ch, const struct proto_chan_cbs *cbs, void *arg);
/* Free the channel, its bufferevent (closing the socket) and its session. NULL ok. */
void proto_chan_free(struct proto_chan *ch);

/* Frames sent and received from now on are sealed/opened with s (owned now). */
void proto_chan_set_session(struct proto_chan *ch, struct bw_crypto_session *s);
struct bw_crypto_session *proto_chan_session(struct proto_chan *ch);
/* The session, now owned by the caller (for a connection about to be detached). */
struct bw_crypto_session *proto_chan_take_session(struct proto_chan *ch);

/* The connection state decides which messages are accepted and the frame limit. */
void proto_chan_set_state(struct proto_chan *ch, enum proto_state st);
enum proto_state proto_chan_state(const struct proto_chan *ch);

/* Fail with BW_E_TIMEOUT when no byte arrives for ms milliseconds (0 = never). */
void proto_chan_set_read_timeout(struct proto_chan *ch, int ms);

/* Encode, seal (when a session is set) and queue one message. */
int proto_chan_send(struct proto_chan *ch, const struct proto_msg *m, struct proto_err *err);

/* The same for a bare evbuffer (a connection without a channel). */
struct evbuffer;
int proto_frame_send(struct evbuffer *out, struct bw_crypto_session *s,
		     const struct proto_msg *m, struct proto_err *err);

/* Stop reading; once everything queued is written, report BW_E_CLOSED. */
void proto_chan_close_after_flush(struct proto_chan *ch);

/* Stop framing and return the bufferevent (with any bytes already received
 * still in its input); the channel is freed, callbacks are cleared. */
struct bufferevent *proto_chan_detach(struct proto_chan *ch);

struct bufferevent *proto_chan_bev(struct proto_chan *ch);

/*
 * What a ticket's MAC covers: kind ("work", "visit"), the run id, the counter
 * (8 bytes, big-endian) and, for visits, the proxy's name, each length-
 * prefixed so that no two inputs collide. Returns the length (at most
 * PROTO_TICKET_INPUT_MAX).
 */
#define PROTO_TICKET_INPUT_MAX (3 * 2 + 8 + PROTO_RUN_ID_MAX + 8 + PROTO_PROXY_NAME_MAX)
size_t proto_ticket_input(const char *kind, const char *run_id, uint64_t counter,
			  const char *name, uint8_t out[PROTO_TICKET_INPUT_MAX]);

/*
 * The handshake prologue both ends derive from a HELLO's plaintext fields, so
 * that a changed version range or suite list (a downgrade) fails the
 * handshake. Returns the length written to out (at most PROTO_HELLO_PROLOGUE_MAX).
 */
#define PROTO_HELLO_PROLOGUE_MAX (16 + 3 + PROTO_SUITES_MAX)
size_t proto_hello_prologue(const struct proto_hello *h, uint8_t out[PROTO_HELLO_PROLOGUE_MAX]);

#endif
