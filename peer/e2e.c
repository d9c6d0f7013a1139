/*
 * The end-to-end handshake between a visitor and an owner, over whatever
 * carries their bytes (a relayed TCP connection today). Both hold the
 * proxy's secret; burrowd, which relays the bytes, does not. The two
 * handshake messages travel as proto frames; the session that comes out seals
 * everything after them (relay_pair's sealed side).
 */
#include "peer/peer_int.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sodium.h>

#include "common/err.h"
#include "proto/proto.h"

#define E2E_TIMEOUT_S 10
#define E2E_MSG_MAX 256

struct peer_e2e {
	struct bufferevent *bev;
	struct bw_crypto_hs *hs;
	enum bw_crypto_role role;
	peer_e2e_done_fn done;
	void *arg;
};

static void e2e_finish(struct peer_e2e *e, int rc, struct bw_crypto_session *s)
{
	struct bufferevent *bev = e->bev;
	peer_e2e_done_fn done = e->done;
	void *arg = e->arg;

	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bw_crypto_hs_free(e->hs);
	free(e);
	done(arg, rc, rc == 0 ? bev : NULL, s);
	if (rc != 0)
		bufferevent_free(bev);
}

static int send_frame(struct bufferevent *bev, const uint8_t *msg, size_t len)
{
	uint8_t hdr[PROTO_FRAME_HDR];

	proto_frame_header_write(hdr, len);
	if (bufferevent_write(bev, hdr, sizeof(hdr)) < 0 || bufferevent_write(bev, msg, len) < 0)
		return BW_E_NOMEM;
	return 0;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct peer_e2e *e = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[PROTO_FRAME_HDR], msg[E2E_MSG_MAX], out[E2E_MSG_MAX], payload[16];
	size_t plen = 0, n, olen;
	struct bw_crypto_session *s = NULL;
	int rc;

	if (evbuffer_get_length(in) < PROTO_FRAME_HDR)
		return;
	evbuffer_copyout(in, hdr, sizeof(hdr));
	rc = proto_frame_parse(hdr, sizeof(hdr), E2E_MSG_MAX, &plen);
	if (rc != 0 && rc != BW_E_AGAIN) {
		e2e_finish(e, rc, NULL);
		return;
	}
	if (evbuffer_get_length(in) < PROTO_FRAME_HDR + plen)
		return;
	evbuffer_drain(in, PROTO_FRAME_HDR);
	evbuffer_remove(in, msg, plen);
	if (e->role == BW_CRYPTO_RESPONDER) {
		uint8_t suites[BW_CRYPTO_SUITES_MAX];

		rc = bw_crypto_hs_read_msg1(e->hs, msg, plen, payload, sizeof(payload), &n);
		/* The initiator's payload is its suite list, fastest first. */
		if (rc == 0)
			rc = bw_crypto_suite_pick(payload, n, suites);
		if (rc == 0)
			rc = bw_crypto_hs_write_msg2(e->hs, suites[0], NULL, 0, out, sizeof(out),
						     &olen);
		if (rc == 0)
			rc = send_frame(bev, out, olen);
	} else {
		rc = bw_crypto_hs_read_msg2(e->hs, msg, plen, payload, sizeof(payload), &n);
	}
	if (rc == 0)
		rc = bw_crypto_hs_split(e->hs, BW_CRYPTO_STREAM, &s);
	e2e_finish(e, rc, s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct peer_e2e *e = arg;

	e2e_finish(e, what & BEV_EVENT_TIMEOUT ? BW_E_TIMEOUT : BW_E_CLOSED, NULL);
}

void peer_e2e_start(struct bufferevent *bev, enum bw_crypto_role role, const uint8_t psk[32],
		    const char *proxy_name, peer_e2e_done_fn done, void *arg)
{
	struct peer_e2e *e = calloc(1, sizeof(*e));
	struct timeval tv = { E2E_TIMEOUT_S, 0 };
	uint8_t prologue[16 + PROTO_PROXY_NAME_MAX], msg1[E2E_MSG_MAX], suites[BW_CRYPTO_SUITES_MAX];
	size_t plen = strlen(proxy_name), len, n;
	int rc = BW_E_NOMEM;

	if (!e) {
		done(arg, rc, NULL, NULL);
		bufferevent_free(bev);
		return;
	}
	e->bev = bev;
	e->role = role;
	e->done = done;
	e->arg = arg;
	/* The proxy's name is bound into the transcript: a visitor of one proxy
	 * cannot be spliced onto another that shares the secret. */
	memcpy(prologue, "burrow e2e v1\0\0\0", 16);
	if (plen > PROTO_PROXY_NAME_MAX)
		plen = PROTO_PROXY_NAME_MAX;
	memcpy(prologue + 16, proxy_name, plen);
	e->hs = bw_crypto_hs_new(role, psk, prologue, 16 + plen, &rc);
	if (e->hs && role == BW_CRYPTO_INITIATOR) {
		n = bw_crypto_suites_local(suites);
		rc = bw_crypto_hs_write_msg1(e->hs, suites, n, msg1, sizeof(msg1), &len);
		if (rc == 0)
			rc = send_frame(bev, msg1, len);
	}
	if (!e->hs || rc < 0) {
		e2e_finish(e, rc ? rc : BW_E_NOMEM, NULL);
		return;
	}
	bufferevent_setcb(bev, on_read, NULL, on_event, e);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}
