#include "proto/chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/err.h"
#include "crypto/crypto.h"

struct proto_chan {
	struct bufferevent *bev;
	enum proto_side side;
	enum proto_state state;
	struct bw_crypto_session *session;
	struct proto_chan_cbs cbs;
	void *arg;
	struct event *closed_ev;   /* reports BW_E_CLOSED outside the caller's stack */
	int closing;
};

static void chan_fail(struct proto_chan *ch, int rc, const struct proto_err *err)
{
	/* Writing stays on, so the owner can still send an ERROR and close
	 * after the flush. */
	bufferevent_disable(ch->bev, EV_READ);
	ch->cbs.on_error(ch, rc, err, ch->arg);
}

/* Parse, open and dispatch every whole frame in the input buffer. */
static void chan_read_frames(struct proto_chan *ch)
{
	struct evbuffer *in = bufferevent_get_input(ch->bev);

	while (!ch->closing) {
		uint8_t hdr[PROTO_FRAME_HDR];
		size_t avail = evbuffer_get_length(in), plen = 0, mlen;
		struct proto_msg msg;
		struct proto_err err;
		uint8_t *frame;
		int rc;

		if (avail < PROTO_FRAME_HDR)
			return;
		evbuffer_copyout(in, hdr, sizeof(hdr));
		rc = proto_frame_parse(hdr, sizeof(hdr), proto_frame_limit(ch->state), &plen);
		if (rc != 0 && rc != BW_E_AGAIN) {
			memset(&err, 0, sizeof(err));
			err.code = rc;
			chan_fail(ch, rc, &err);
			return;
		}
		if (avail < PROTO_FRAME_HDR + plen)
			return;
		frame = evbuffer_pullup(in, (ev_ssize_t)(PROTO_FRAME_HDR + plen));
		if (!frame) {
			chan_fail(ch, BW_E_NOMEM, NULL);
			return;
		}
		mlen = plen;
		if (ch->session) {
			/* Open in place: the evbuffer's memory is ours until drained. */
			rc = bw_crypto_open(ch->session, NULL, 0, frame + PROTO_FRAME_HDR, plen,
					    frame + PROTO_FRAME_HDR, plen, &mlen);
			if (rc < 0) {
				chan_fail(ch, rc, NULL);
				return;
			}
		}
		rc = proto_decode(frame + PROTO_FRAME_HDR, mlen, ch->side, ch->state, &msg, &err);
		evbuffer_drain(in, PROTO_FRAME_HDR + plen);
		if (rc < 0) {
			chan_fail(ch, rc, &err);
			return;
		}
		rc = ch->cbs.on_msg(ch, &msg, ch->arg);
		proto_msg_free(&msg);
		if (rc)
			return; /* the channel may be gone */
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	chan_read_frames(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct proto_chan *ch = arg;

	if (ch->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		chan_fail(ch, BW_E_CLOSED, NULL);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct proto_chan *ch = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (ch->cbs.on_connect)
			ch->cbs.on_connect(ch, ch->arg);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		chan_fail(ch, BW_E_TIMEOUT, NULL);
	} else if (what & BEV_EVENT_ERROR) {
		int e = EVUTIL_SOCKET_ERROR();
		int dns = bufferevent_socket_get_dns_error(bev);

		chan_fail(ch, dns ? BW_E_NOT_FOUND : (e ? -e : BW_E_CLOSED), NULL);
	} else if (what & BEV_EVENT_EOF) {
		chan_fail(ch, BW_E_CLOSED, NULL);
	}
}

static void on_closed(evutil_socket_t fd, short what, void *arg)
{
	struct proto_chan *ch = arg;

	chan_fail(ch, BW_E_CLOSED, NULL);
}

struct proto_chan *proto_chan_new(struct bufferevent *bev, enum proto_side side,
				  const struct proto_chan_cbs *cbs, void *arg, int *rc)
{
	struct proto_chan *ch = calloc(1, sizeof(*ch));

	if (!ch) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	ch->closed_ev = event_new(bufferevent_get_base(bev), -1, 0, on_closed, ch);
	if (!ch->closed_ev) {
		free(ch);
		*rc = BW_E_NOMEM;
		return NULL;
	}
	ch->bev = bev;
	ch->side = side;
	ch->state = PROTO_STATE_NEW;
	ch->cbs = *cbs;
	ch->arg = arg;
	bufferevent_setcb(bev, on_read, on_write, on_event, ch);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	*rc = 0;
	return ch;
}

void proto_chan_set_cbs(struct proto_chan *ch, const struct proto_chan_cbs *cbs, void *arg)
{
	ch->cbs = *cbs;
	ch->arg = arg;
	/* The previous owner stopped reading mid-buffer when it handed the
	 * channel over: have the loop deliver what is already there. */
	if (evbuffer_get_length(bufferevent_get_input(ch->bev)) > 0)
		bufferevent_trigger(ch->bev, EV_READ,
				    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void proto_chan_free(struct proto_chan *ch)
{
	if (!ch)
		return;
	if (ch->bev)
		bufferevent_free(ch->bev);
	event_free(ch->closed_ev);
	bw_crypto_session_free(ch->session);
	free(ch);
}

void proto_chan_set_session(struct proto_chan *ch, struct bw_crypto_session *s)
{
	bw_crypto_session_free(ch->session);
	ch->session = s;
}

struct bw_crypto_session *proto_chan_session(struct proto_chan *ch)
{
	return ch->session;
}

void proto_chan_set_state(struct proto_chan *ch, enum proto_state st)
{
	ch->state = st;
}

enum proto_state proto_chan_state(const struct proto_chan *ch)
{
	return ch->state;
}

void proto_chan_set_read_timeout(struct proto_chan *ch, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	bufferevent_set_timeouts(ch->bev, ms > 0 ? &tv : NULL, NULL);
}

int proto_frame_send(struct evbuffer *out, struct bw_crypto_session *s,
		     const struct proto_msg *m, struct proto_err *err)
{
	size_t cap = proto_msg_max_size(m->type), len = 0, sealed;
	struct evbuffer_iovec v;
	uint8_t *p;
	int rc;

	if (cap == 0)
		return BW_E_MSG_UNKNOWN;
	cap += BW_CRYPTO_RECORD_OVERHEAD;
	if (evbuffer_reserve_space(out, (ev_ssize_t)(PROTO_FRAME_HDR + cap), &v, 1) < 1)
		return BW_E_NOMEM;
	p = v.iov_base;
	rc = proto_encode(m, p + PROTO_FRAME_HDR, cap, &len, err);
	if (rc < 0)
		return rc; /* nothing committed */
	sealed = len;
	if (s) {
		/* Seal in place: the reserved space is ours until committed. */
		rc = bw_crypto_seal(s, NULL, 0, p + PROTO_FRAME_HDR, len, p + PROTO_FRAME_HDR, cap,
				    &sealed);
		if (rc < 0)
			return rc;
	}
	rc = proto_frame_header_write(p, sealed);
	if (rc < 0)
		return rc;
	v.iov_len = PROTO_FRAME_HDR + sealed;
	return evbuffer_commit_space(out, &v, 1) == 0 ? 0 : BW_E_NOMEM;
}

int proto_chan_send(struct proto_chan *ch, const struct proto_msg *m, struct proto_err *err)
{
	return proto_frame_send(bufferevent_get_output(ch->bev), ch->session, m, err);
}

struct bw_crypto_session *proto_chan_take_session(struct proto_chan *ch)
{
	struct bw_crypto_session *s = ch->session;

	ch->session = NULL;
	return s;
}

void proto_chan_close_after_flush(struct proto_chan *ch)
{
	if (ch->closing)
		return;
	ch->closing = 1;
	bufferevent_disable(ch->bev, EV_READ);
	bufferevent_set_timeouts(ch->bev, NULL, NULL);
	if (evbuffer_get_length(bufferevent_get_output(ch->bev)) == 0)
		event_active(ch->closed_ev, 0, 0);
}

struct bufferevent *proto_chan_detach(struct proto_chan *ch)
{
	struct bufferevent *bev = ch->bev;

	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	ch->bev = NULL;
	proto_chan_free(ch);
	return bev;
}

struct bufferevent *proto_chan_bev(struct proto_chan *ch)
{
	return ch->bev;
}

size_t proto_hello_prologue(const struct proto_hello *h, uint8_t out[PROTO_HELLO_PROLOGUE_MAX])
{
	static const char label[16] = "burrow hello v1";
	size_t n = 0;

	memcpy(out, label, sizeof(label));
	n += sizeof(label);
	out[n++] = (uint8_t)h->ver_min;
	out[n++] = (uint8_t)h->ver_max;
	out[n++] = (uint8_t)h->suites.n;
	for (size_t i = 0; i < h->suites.n && i < PROTO_SUITES_MAX; i++)
		out[n++] = (uint8_t)h->suites.v[i];
	return n;
}

static size_t put_field(uint8_t *out, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max)
		n = max;
	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	if (n)
		memcpy(out + 2, s, n);
	return 2 + n;
}

size_t proto_ticket_input(const char *kind, const char *run_id, uint64_t counter,
			  const char *name, uint8_t out[PROTO_TICKET_INPUT_MAX])
{
	size_t n = 0;

	n += put_field(out + n, kind, 8);
	n += put_field(out + n, run_id, PROTO_RUN_ID_MAX);
	for (int i = 0; i < 8; i++)
		out[n++] = (uint8_t)(counter >> (56 - 8 * i));
	n += put_field(out + n, name, PROTO_PROXY_NAME_MAX);
	return n;
}
