/*
 * A relayed pair: two bufferevents whose bytes are moved to each other.
 *
 * One struct relay_pair owns both bufferevents (STYLE.md 5); each half points
 * at its pair and at the other half. Plain bytes move between evbuffers by
 * reference (evbuffer_add_buffer moves chains, no copy in user space). When
 * side b is sealed, bytes read from b are opened record by record and bytes
 * for b are sealed on the way.
 *
 * Backpressure: when the other half's output passes the high watermark,
 * reading this half stops until that output drains to half of it, so a slow
 * reader never grows memory. Half-close: EOF on one half stops reading it
 * and, once its bytes are written, shuts the other half down for writing
 * (after an end record when that side is sealed); when both directions are
 * done the pair closes. relay_pair_close is the only code that frees a pair.
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/err.h"
#include "common/util.h"
#include "proto/proto.h"

#define SEAL_FRAME_MAX (RELAY_SEAL_RECORD_MAX + BW_CRYPTO_RECORD_OVERHEAD)

struct relay_half {
	struct relay_pair *pair;
	struct bufferevent *bev;
	struct relay_half *other;
	uint64_t bytes;   /* plaintext read from this half and queued to the other */
	int eof;          /* this half's peer will send no more */
	int shut;         /* we shut this half down for writing */
	int paused;       /* reading stopped: the other half's output is full */
	int sealed;       /* this half carries sealed records */
	int end_queued;   /* the end record for the other half is queued */
};

struct relay_pair {
	struct relay_half h[2];
	struct bw_crypto_session *s;  /* for the sealed half */
	relay_pair_closed_fn closed;
	void *arg;
	size_t high_wm;
	int64_t started_ms;
	int closing;
};

static void half_flush_eof(struct relay_half *h);

/* Free both halves, report once, and forget the pair. Safe to call from any
 * callback of either half: libevent defers freeing a bufferevent that is in
 * use, and nothing touches the pair after this returns. */
void relay_pair_close(struct relay_pair *p, const char *reason)
{
	struct relay_pair_stats st;

	if (p->closing)
		return;
	p->closing = 1;
	st.bytes_a_to_b = p->h[0].bytes;
	st.bytes_b_to_a = p->h[1].bytes;
	st.duration_ms = bw_now_ms() - p->started_ms;
	st.reason = reason;
	bufferevent_free(p->h[0].bev);
	bufferevent_free(p->h[1].bev);
	bw_crypto_session_free(p->s);
	if (p->closed)
		p->closed(p->arg, &st);
	free(p);
}

static void pair_check_done(struct relay_pair *p)
{
	if (p->h[0].eof && p->h[1].eof && p->h[0].shut && p->h[1].shut)
		relay_pair_close(p, "done");
}

/* Seal len bytes (0: the end record) into out. */
static int seal_into(struct relay_pair *p, struct evbuffer *out, struct evbuffer *src, size_t len)
{
	uint8_t buf[PROTO_FRAME_HDR + SEAL_FRAME_MAX];
	size_t sealed;

	evbuffer_remove(src, buf + PROTO_FRAME_HDR, len);
	if (bw_crypto_seal(p->s, NULL, 0, buf + PROTO_FRAME_HDR, len, buf + PROTO_FRAME_HDR,
			   SEAL_FRAME_MAX, &sealed) < 0)
		return -1;
	proto_frame_header_write(buf, sealed);
	return evbuffer_add(out, buf, PROTO_FRAME_HDR + sealed);
}

/* Open every whole record in h's input into out. Returns 1 when the end
 * record arrived, 0 otherwise, -1 on a forged or malformed record. */
static int open_into(struct relay_half *h, struct evbuffer *out)
{
	struct evbuffer *in = bufferevent_get_input(h->bev);
	uint8_t buf[PROTO_FRAME_HDR + SEAL_FRAME_MAX];

	for (;;) {
		size_t avail = evbuffer_get_length(in), plen = 0, len;
		int rc;

		if (avail < PROTO_FRAME_HDR)
			return 0;
		evbuffer_copyout(in, buf, PROTO_FRAME_HDR);
		rc = proto_frame_parse(buf, PROTO_FRAME_HDR, SEAL_FRAME_MAX, &plen);
		if (rc != 0 && rc != BW_E_AGAIN)
			return -1;
		if (avail < PROTO_FRAME_HDR + plen) {
			/* Wake up only once the whole record is here. */
			bufferevent_setwatermark(h->bev, EV_READ, PROTO_FRAME_HDR + plen, 0);
			return 0;
		}
		bufferevent_setwatermark(h->bev, EV_READ, 0, 0);
		evbuffer_remove(in, buf, PROTO_FRAME_HDR + plen);
		if (bw_crypto_open(h->pair->s, NULL, 0, buf + PROTO_FRAME_HDR, plen,
				   buf + PROTO_FRAME_HDR, plen, &len) < 0)
			return -1;
		if (len == 0)
			return 1;
		h->bytes += len;
		evbuffer_add(out, buf + PROTO_FRAME_HDR, len);
	}
}

static void half_eof(struct relay_half *h)
{
	h->eof = 1;
	bufferevent_disable(h->bev, EV_READ);
	half_flush_eof(h);
}

/* Move what h read into the other half's output, pausing on a full output. */
static void half_pump(struct relay_half *h)
{
	struct relay_pair *p = h->pair;
	struct evbuffer *in = bufferevent_get_input(h->bev);
	struct evbuffer *out = bufferevent_get_output(h->other->bev);
	size_t n;

	if (h->eof)
		return;
	if (h->sealed) {
		int rc = open_into(h, out);

		if (rc < 0) {
			relay_pair_close(p, "record failed authentication");
			return;
		}
		if (rc == 1) {
			half_eof(h);
			return;
		}
	} else if (h->other->sealed) {
		while ((n = evbuffer_get_length(in)) > 0) {
			if (n > RELAY_SEAL_RECORD_MAX)
				n = RELAY_SEAL_RECORD_MAX;
			h->bytes += n;
			if (seal_into(p, out, in, n) < 0) {
				relay_pair_close(p, "cannot seal");
				return;
			}
		}
	} else if ((n = evbuffer_get_length(in)) > 0) {
		h->bytes += n;
		evbuffer_add_buffer(out, in);
	}
	if (!h->paused && evbuffer_get_length(out) >= p->high_wm) {
		h->paused = 1;
		bufferevent_disable(h->bev, EV_READ);
		/* The other's write callback fires once its output drains to half. */
		bufferevent_setwatermark(h->other->bev, EV_WRITE, p->high_wm / 2, 0);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	half_pump(arg);
}

/* h's output drained to its low watermark. */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct relay_half *h = arg;
	struct relay_half *src = h->other;

	if (src->paused) {
		src->paused = 0;
		bufferevent_setwatermark(h->bev, EV_WRITE, 0, 0);
		if (!src->eof) {
			bufferevent_enable(src->bev, EV_READ);
			half_pump(src); /* records may be waiting in its input */
			if (h->pair->closing)
				return;
		}
	}
	half_flush_eof(src);
}

/* src will send no more: once its bytes are written, end the other half's
 * direction (an end record first when that half is sealed). */
static void half_flush_eof(struct relay_half *src)
{
	struct relay_half *dst = src->other;
	struct evbuffer *out = bufferevent_get_output(dst->bev);

	if (!src->eof || dst->shut)
		return;
	if (dst->sealed && !src->end_queued) {
		/* Queue the end record right behind the data, once. */
		src->end_queued = 1;
		if (seal_into(src->pair, out, out, 0) < 0) {
			relay_pair_close(src->pair, "cannot seal");
			return;
		}
	}
	if (evbuffer_get_length(out) > 0) {
		bufferevent_setwatermark(dst->bev, EV_WRITE, 0, 0);
		return; /* on_write of dst comes back here when drained */
	}
	dst->shut = 1;
	shutdown(bufferevent_getfd(dst->bev), SHUT_WR);
	pair_check_done(src->pair);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay_half *h = arg;
	char why[96];

	/* With deferred callbacks libevent can report EOF and an error (EPIPE
	 * after the peer's reset) in one call: the error wins, or the pair
	 * would wait forever on a side that can no longer be written. */
	if (what & BEV_EVENT_ERROR) {
		int e = EVUTIL_SOCKET_ERROR();

		snprintf(why, sizeof(why), "%s side: %s", h == &h->pair->h[0] ? "a" : "b",
			 e ? strerror(e) : "error");
		relay_pair_close(h->pair, e == ECONNRESET ? "connection reset" : why);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		half_pump(h);
		if (h->pair->closing || h->eof)
			return;
		if (h->sealed) {
			/* The peer's end record never came: cut, not ended. */
			relay_pair_close(h->pair, "sealed stream truncated");
			return;
		}
		half_eof(h);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		relay_pair_close(h->pair, "idle timeout");
}

struct relay_pair *relay_pair_new(struct bufferevent *a, struct bufferevent *b,
				  const struct relay_pair_opts *opts, int *rc)
{
	struct relay_pair *p = calloc(1, sizeof(*p));

	if (!p) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	p->h[0].bev = a;
	p->h[1].bev = b;
	for (int i = 0; i < 2; i++) {
		p->h[i].pair = p;
		p->h[i].other = &p->h[1 - i];
		bufferevent_setcb(p->h[i].bev, on_read, on_write, on_event, &p->h[i]);
		bufferevent_setwatermark(p->h[i].bev, EV_WRITE, 0, 0);
		bufferevent_setwatermark(p->h[i].bev, EV_READ, 0, 0);
	}
	p->s = opts->seal_b;
	p->h[1].sealed = p->s != NULL;
	p->closed = opts->closed;
	p->arg = opts->arg;
	p->high_wm = opts->high_watermark ? opts->high_watermark : RELAY_PAIR_HIGH_WM;
	p->started_ms = bw_now_ms();
	if (opts->idle_timeout_ms > 0) {
		struct timeval tv = { opts->idle_timeout_ms / 1000,
				      (opts->idle_timeout_ms % 1000) * 1000 };
		bufferevent_set_timeouts(a, &tv, NULL);
		bufferevent_set_timeouts(b, &tv, NULL);
	}
	*rc = 0;
	return p;
}

void relay_pair_start(struct relay_pair *p)
{
	for (int i = 0; i < 2; i++) {
		struct relay_half *h = &p->h[i];

		bufferevent_enable(h->bev, EV_READ | EV_WRITE);
		/* Bytes that arrived before pairing (after a work connection's
		 * first frame, say) are already in the input: have the loop call
		 * the read callback for them, never from inside this call. */
		if (evbuffer_get_length(bufferevent_get_input(h->bev)) > 0)
			bufferevent_trigger(h->bev, EV_READ,
					    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	}
}
