/*
 * P2P sessions: one per visitor/owner pair of an xtcp or sudp proxy.
 *
 * A session is an encrypted datagram channel (crypto/'s datagram form, keyed
 * by a handshake over the proxy's secret: forward secret, replay-protected)
 * that runs over a *path*: the direct pair ICE found (peer/ice.h), or the
 * relay through burrowd (a visitor connection carrying length-prefixed
 * datagrams). The stream transport (peer/tp.h) sits on the session, not on
 * the path, so the path can change under it: the visitor sends on the best
 * path it has, and the owner answers on the path it last heard from.
 *
 *   visitor                      burrowd                        owner
 *   P2P_OPEN (proof, ICE creds, msg1) -->  P2P_OFFER (+ NAT, addr) -->
 *   <-- P2P_ANSWER (+ owner NAT, addr)  <--  P2P_ANSWER (ICE creds, msg2)
 *   <-> P2P_CANDIDATE ... (trickle, both ways)
 *   ICE checks ... direct pair       or   after fallback_ms: NEW_VISITOR_CONN
 *                                          with the sid -> START_WORK_CONN
 *                                          with the sid: the relayed path
 *
 * Datagram payloads (after the session's crypto): one kind byte, then
 *   SESSION_TP    a stream-transport packet
 *   SESSION_DGRAM u8 address length, the local app's address, the datagram
 */
#include "peer/session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "nat/nat.h"
#include "proto/chan.h"

static const char *const path_names[] = { "none", "relayed", "probing", "direct" };

const char *peer_path_name(enum peer_path path)
{
	return (unsigned)path < BW_ARRAY_LEN(path_names) ? path_names[path] : "?";
}

static void send_ctl(struct peer_session *s, struct proto_msg *m)
{
	struct peer *p = s->peer;

	if (p->ctl_state == PEER_CTL_LOGGED_IN && proto_chan_send(p->ctl, m, NULL) < 0)
		log_ratelimited(LOG_WARN, "burrow: %s: cannot queue %s", s->label,
				proto_msg_name(m->type));
}

void session_status_send(struct peer_session *s)
{
	struct proto_msg m = { .type = PROTO_MSG_P2P_STATUS };
	struct peer_tp_stats st = {0};

	if (s->tp)
		s->tpo->stats(s->tp, &st);
	m.p2p_status.sid = s->sid;
	m.p2p_status.path = s->path;
	m.p2p_status.remote = s->path == PEER_PATH_DIRECT ? s->direct_remote :
			      s->path == PEER_PATH_RELAYED ? "burrowd" : "";
	m.p2p_status.rtt_us = st.rtt_us;
	m.p2p_status.tx_bytes = s->tx_bytes;
	m.p2p_status.rx_bytes = s->rx_bytes;
	send_ctl(s, &m);
}

/* The one writer of s->path (STYLE.md 6). */
void session_path_set(struct peer_session *s, enum peer_path next, const char *why)
{
	if (s->path == next)
		return;
	log_info("burrow: %s: path %s -> %s (%s)", s->label, peer_path_name(s->path),
		 peer_path_name(next), why);
	s->path = next;
	if (next == PEER_PATH_DIRECT || next == PEER_PATH_RELAYED)
		s->path_since_ms = bw_now_ms();
	session_status_send(s);
	if (s->sudp)
		session_sudp_ready(s);
}

/* --- Sending on the path -------------------------------------------------- */

/* Sealed datagrams the owner's agent was not ready for, in order; dropped
 * beyond SESSION_HELD_MAX like a full queue (the transport recovers). */
static void session_hold(struct peer_session *s, const struct iovec *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct session_held *h = NULL;

		if (s->n_held < SESSION_HELD_MAX)
			h = malloc(sizeof(*h) + v[i].iov_len);
		if (!h) {
			s->dropped++;
			continue;
		}
		h->len = v[i].iov_len;
		memcpy(h->data, v[i].iov_base, h->len);
		s->held[s->n_held++] = h;
	}
}

static void batch_send(struct peer_session *s)
{
	struct session_batch *b = s->batch;
	unsigned i = 0;

	if (!b || !b->n)
		return;
	while (i < b->n) {
		int rc = s->ice ? peer_ice_sendv(s->ice, b->iov + i, b->n - i) : BW_E_CLOSED;

		if (rc == BW_E_AGAIN) {
			/* Our agent has not selected yet: keep them for
			 * on_ice_selected rather than make the transport wait out
			 * a retransmission. */
			session_hold(s, b->iov + i, b->n - i);
			break;
		}
		if (rc <= 0) {
			s->dropped += b->n - i; /* a full socket buffer: like a full queue */
			break;
		}
		i += (unsigned)rc;
	}
	b->n = 0;
}

/* Come back when this pass of the loop is done with the session. */
static void session_io_soon(struct peer_session *s)
{
	if (!s->io_pending) {
		s->io_pending = true;
		event_active(s->io_ev, EV_TIMEOUT, 0);
	}
}

/* The end of a burst: the transport answers every datagram held since the
 * first (one acknowledgement, not one per two packets), then what it and
 * everything else wrote for the direct path goes in one batch. */
static void on_session_io(evutil_socket_t fd, short what, void *arg)
{
	struct peer_session *s = arg;

	s->io_pending = false;
	if (s->tp_held) {
		s->tp_held = false;
		if (s->tp) {
			s->tpo->release(s->tp, peer_tp_now_us());
			session_tp_kick(s);
		}
	}
	batch_send(s);
}

/* Seal and send on `via` (the session's path, but for probes). */
static void dgram_send_via(struct peer_session *s, enum peer_path via, uint8_t kind,
			   const uint8_t *hdr, size_t hlen, const uint8_t *data, size_t len)
{
	uint8_t pt[SESSION_DGRAM_MAX], ct[SESSION_DGRAM_MAX + BW_CRYPTO_DGRAM_OVERHEAD + 2];
	bool direct = via == PEER_PATH_DIRECT && s->ice;
	uint8_t *out = ct + 2;
	size_t n, cap = sizeof(ct) - 2;

	if (!s->cs || 1 + hlen + len > sizeof(pt))
		return;
	if (direct) {
		if (!s->batch && !(s->batch = calloc(1, sizeof(*s->batch)))) {
			s->dropped++;
			return;
		}
		if (!s->batch->n)
			session_io_soon(s);
		out = s->batch->slot[s->batch->n];
		cap = sizeof(s->batch->slot[0]);
	}
	pt[0] = kind;
	if (hlen)
		memcpy(pt + 1, hdr, hlen);
	if (len)
		memcpy(pt + 1 + hlen, data, len);
	if (bw_crypto_dgram_seal(s->cs, pt, 1 + hlen + len, out, cap, &n) < 0)
		return;
	if (direct) {
		if (!s->direct_wait_ms)
			s->direct_wait_ms = bw_now_ms();
		s->batch->iov[s->batch->n].iov_base = out;
		s->batch->iov[s->batch->n].iov_len = n;
		if (++s->batch->n == PEER_ICE_BATCH_MAX)
			batch_send(s);
	} else if (via == PEER_PATH_RELAYED && s->relay) {
		/* The relayed path is a byte stream: a 16-bit length per datagram. */
		ct[0] = (uint8_t)(n >> 8);
		ct[1] = (uint8_t)n;
		if (evbuffer_get_length(bufferevent_get_output(s->relay)) < SESSION_RELAY_QUEUE_MAX)
			bufferevent_write(s->relay, ct, n + 2);
		else
			s->dropped++; /* like a full router queue: the transport recovers */
	}
}

static void dgram_send(struct peer_session *s, uint8_t kind, const uint8_t *hdr, size_t hlen,
		       const uint8_t *data, size_t len)
{
	dgram_send_via(s, s->path, kind, hdr, hlen, data, len);
}

static void tp_output(void *arg, const uint8_t *pkt, size_t len)
{
	dgram_send(arg, SESSION_TP, NULL, 0, pkt, len);
}

void session_datagram_out(struct peer_session *s, const char *addr, const uint8_t *data,
			  size_t len)
{
	uint8_t hdr[1 + PROTO_ADDR_MAX];
	size_t alen = strlen(addr);

	if (alen > PROTO_ADDR_MAX)
		return;
	hdr[0] = (uint8_t)alen;
	memcpy(hdr + 1, addr, alen);
	s->tx_bytes += len;
	dgram_send(s, SESSION_DGRAM, hdr, 1 + alen, data, len);
}

/* --- The transport's timer ------------------------------------------------- */

static void on_tp_timer(evutil_socket_t fd, short what, void *arg)
{
	struct peer_session *s = arg;

	if (!s->tp)
		return;
	s->tpo->timeout(s->tp, peer_tp_now_us());
	session_tp_kick(s);
}

/* Re-arm the timer at the engine's deadline; call after every call into it. */
void session_tp_kick(struct peer_session *s)
{
	uint64_t d, now;
	struct timeval tv = {0};

	if (!s->tp || s->closing)
		return;
	d = s->tpo->deadline(s->tp);
	if (d == PEER_TP_NONE) {
		evtimer_del(s->tp_timer);
		return;
	}
	now = peer_tp_now_us();
	if (d > now) {
		tv.tv_sec = (time_t)((d - now) / 1000000u);
		tv.tv_usec = (suseconds_t)((d - now) % 1000000u);
	}
	evtimer_add(s->tp_timer, &tv);
}

/* --- Closing ----------------------------------------------------------------- */

static void session_free_now(struct peer_session *s)
{
	struct peer *p = s->peer;

	session_streams_fini(s);
	if (s->tp)
		s->tpo->free(s->tp);
	peer_ice_free(s->ice);
	if (s->io_ev)
		event_free(s->io_ev);
	if (s->probe_timer)
		event_free(s->probe_timer);
	free(s->batch);
	if (s->relay)
		bufferevent_free(s->relay);
	proto_chan_free(s->relay_chan);
	bw_crypto_hs_free(s->hs);
	bw_crypto_session_free(s->cs);
	if (s->tp_timer)
		event_free(s->tp_timer);
	if (s->fallback_timer)
		event_free(s->fallback_timer);
	if (s->status_timer)
		event_free(s->status_timer);
	if (s->free_ev)
		event_free(s->free_ev);
	session_udp_fini(s);
	for (unsigned i = 0; i < s->n_early; i++)
		free(s->early[i]);
	for (unsigned i = 0; i < s->n_held; i++)
		free(s->held[i]);
	if (s->prev)
		s->prev->next = s->next;
	else if (p->sessions == s)
		p->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	sodium_memzero(s->psk, sizeof(s->psk));
	free(s);
}

static void on_free_ev(evutil_socket_t fd, short what, void *arg)
{
	session_free_now(arg);
}

/* End the session: tell burrowd (and so the other side) unless told by it,
 * tell the visitor, free on the next loop pass (we may be deep in a callback
 * of the engine, of ICE or of a bufferevent). */
void session_close(struct peer_session *s, int rc, const char *why, bool tell)
{
	struct proto_msg m = { .type = PROTO_MSG_P2P_CLOSE };

	if (s->closing)
		return;
	s->closing = true;
	log_info("burrow: %s: session %016llx closed after %lld ms (%s path; %llu bytes out, "
		 "%llu in): %s", s->label, (unsigned long long)s->sid,
		 (long long)(bw_now_ms() - s->opened_ms), peer_path_name(s->path),
		 (unsigned long long)s->tx_bytes, (unsigned long long)s->rx_bytes, why);
	if (tell) {
		m.p2p_close.sid = s->sid;
		m.p2p_close.reason = why;
		send_ctl(s, &m);
	}
	if (s->fallback_cb)
		session_streams_fall_back(s);
	if (s->closed_cb)
		s->closed_cb(s->cb_arg, rc, why);
	s->closed_cb = NULL;
	s->free_ev = event_new(s->peer->base, -1, 0, on_free_ev, s);
	if (s->free_ev)
		event_active(s->free_ev, 0, 0);
	else
		log_error("burrow: %s: out of memory; session leaked", s->label);
}

void peer_session_free(struct peer_session *s)
{
	if (!s)
		return;
	if (s->closing)
		return; /* its deferred free is pending */
	s->closed_cb = NULL;
	session_free_now(s);
}

void peer_sessions_fini(struct peer *p)
{
	while (p->sessions) {
		struct peer_session *s = p->sessions;

		s->closed_cb = NULL;
		session_free_now(s);
	}
	peer_ice_glib_free(p->glib);
	p->glib = NULL;
}

/* --- Receiving ------------------------------------------------------------- */

/* --- The direct path's watchdog (visitor) ------------------------------------
 *
 * ICE's own keepalives declare a selected pair dead only after 50 s, and the
 * transport gives up after SESSION_IDLE_TIMEOUT_S: a direct path that stops
 * carrying (a NAT that lost its mapping, a network that changed) would take
 * the session with it. So the visitor watches it: a second without a
 * datagram on it and it probes; SESSION_DIRECT_DEAD_MS without one and the
 * session moves to the relay (dialing it if needed) with its streams; it
 * goes on probing the direct pair, and moves back when it answers.
 */
static void session_probe_in(struct peer_session *s, uint8_t kind, const uint8_t *body,
			     size_t len, enum peer_path from)
{
	if (kind == SESSION_PROBE) {
		/* Answer on the path it came by, whatever ours is. */
		dgram_send_via(s, from, SESSION_PROBE_ACK, NULL, 0, body, len > 8 ? 8 : len);
		return;
	}
	if (s->initiator && from == PEER_PATH_DIRECT && s->direct_lost &&
	    s->path == PEER_PATH_RELAYED) {
		s->direct_lost = false;
		session_path_set(s, PEER_PATH_DIRECT, "the direct path answers again");
		log_info("burrow: %s: direct %s again", s->label, s->direct_remote);
	}
}

static void on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
	struct peer_session *s = arg;
	int64_t waited = s->direct_wait_ms ? bw_now_ms() - s->direct_wait_ms : 0;
	uint8_t token[8];
	char why[96];

	if (s->closing || !s->ice || !s->cs)
		return;
	if (s->path == PEER_PATH_DIRECT && waited >= SESSION_DIRECT_DEAD_MS) {
		snprintf(why, sizeof(why), "direct path silent for %lld.%lld s",
			 (long long)(waited / 1000), (long long)(waited % 1000 / 100));
		s->direct_lost = true;
		log_info("burrow: %s: %s; moving to the relay", s->label, why);
		if (s->relay) {
			session_path_set(s, PEER_PATH_RELAYED, why);
		} else {
			/* Nothing to send on until burrowd answers: the
			 * transport retransmits what it loses meanwhile. */
			session_path_set(s, PEER_PATH_PROBING, why);
			session_relay_dial(s, why);
		}
	}
	if ((s->path == PEER_PATH_DIRECT && waited >= SESSION_PROBE_MS) || s->direct_lost) {
		randombytes_buf(token, sizeof(token));
		dgram_send_via(s, PEER_PATH_DIRECT, SESSION_PROBE, NULL, 0, token, sizeof(token));
	}
}

static void datagram_in(struct peer_session *s, const uint8_t *ct, size_t len,
			enum peer_path from)
{
	uint8_t pt[SESSION_DGRAM_MAX + BW_CRYPTO_DGRAM_OVERHEAD];
	size_t n;

	if (!s->cs || s->closing)
		return;
	if (bw_crypto_dgram_open(s->cs, ct, len, pt, sizeof(pt), &n) < 0 || n < 1) {
		s->dropped++;
		return;
	}
	if (from == PEER_PATH_DIRECT)
		s->direct_wait_ms = 0; /* the direct path answers */
	if (pt[0] == SESSION_PROBE || pt[0] == SESSION_PROBE_ACK) {
		session_probe_in(s, pt[0], pt + 1, n - 1, from);
		return;
	}
	/* The owner answers on the path it last heard from (the visitor
	 * decides which path is best; probes do not count). */
	if (!s->initiator && s->path != from)
		session_path_set(s, from, from == PEER_PATH_DIRECT ? "the visitor sent direct" :
				 "the visitor sent through burrowd");
	switch (pt[0]) {
	case SESSION_TP:
		if (!s->tp)
			break;
		if (!s->tp_held && s->tpo->hold) {
			/* More may be waiting in the socket: answer them all at
			 * the end of this pass (on_session_io). */
			s->tpo->hold(s->tp);
			s->tp_held = true;
			session_io_soon(s);
		}
		s->tpo->input(s->tp, pt + 1, n - 1, peer_tp_now_us());
		if (!s->tp_held)
			session_tp_kick(s);
		break;
	case SESSION_DGRAM:
		if (n >= 2 && (size_t)pt[1] + 2 <= n && pt[1] <= PROTO_ADDR_MAX) {
			char addr[PROTO_ADDR_MAX + 1];

			memcpy(addr, pt + 2, pt[1]);
			addr[pt[1]] = '\0';
			s->rx_bytes += n - 2 - pt[1];
			session_datagram_in(s, addr, pt + 2 + pt[1], n - 2 - pt[1]);
		}
		break;
	default:
		s->dropped++;
	}
}

/* --- The relayed path --------------------------------------------------------- */

static void on_relay_read(struct bufferevent *bev, void *arg)
{
	struct peer_session *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[2], buf[SESSION_DGRAM_MAX + BW_CRYPTO_DGRAM_OVERHEAD];

	while (!s->closing && evbuffer_copyout(in, hdr, 2) == 2) {
		size_t n = (size_t)hdr[0] << 8 | hdr[1];

		if (n == 0 || n > sizeof(buf)) {
			session_close(s, BW_E_MSG_MALFORMED, "malformed datagram on the relayed path",
				      true);
			return;
		}
		if (evbuffer_get_length(in) < n + 2)
			return;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, buf, n);
		datagram_in(s, buf, n, PEER_PATH_RELAYED);
	}
}

static void on_relay_event(struct bufferevent *bev, short what, void *arg)
{
	struct peer_session *s = arg;

	bufferevent_free(s->relay);
	s->relay = NULL;
	if (s->path == PEER_PATH_RELAYED)
		session_close(s, BW_E_CLOSED, "the relayed path through burrowd closed", true);
}

static void relay_path_up(struct peer_session *s, struct bufferevent *bev)
{
	int one = 1;

	if (s->relay)
		bufferevent_free(s->relay);
	s->relay = bev;
	setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bufferevent_setcb(bev, on_relay_read, NULL, on_relay_event, s);
	bufferevent_set_timeouts(bev, NULL, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	on_relay_read(bev, s);
}

void peer_session_relay_attach(struct peer *p, uint64_t sid, struct bufferevent *bev)
{
	struct peer_session *s;

	for (s = p->sessions; s; s = s->next)
		if (s->sid == sid && !s->initiator && !s->closing)
			break;
	if (!s) {
		log_ratelimited(LOG_WARN, "burrow: relayed path for unknown session %016llx",
				(unsigned long long)sid);
		bufferevent_free(bev);
		return;
	}
	relay_path_up(s, bev);
	log_info("burrow: %s: relayed path through burrowd ready", s->label);
}

static int on_relay_chan_msg(struct proto_chan *ch, struct proto_msg *m, void *arg)
{
	struct peer_session *s = arg;
	struct bufferevent *bev;
	char why[PROTO_ERROR_TEXT_MAX + 64];

	if (m->type != PROTO_MSG_NEW_VISITOR_CONN_RESP || m->new_visitor_conn_resp.error[0]) {
		snprintf(why, sizeof(why), "burrowd refused the relayed path: %s",
			 m->type == PROTO_MSG_NEW_VISITOR_CONN_RESP ?
			 m->new_visitor_conn_resp.error : proto_msg_name(m->type));
		proto_chan_free(s->relay_chan);
		s->relay_chan = NULL;
		if (s->path != PEER_PATH_DIRECT)
			session_close(s, BW_E_CLOSED, why, true);
		return 1;
	}
	bev = proto_chan_detach(s->relay_chan);
	s->relay_chan = NULL;
	relay_path_up(s, bev);
	if (s->path != PEER_PATH_DIRECT) {
		session_path_set(s, PEER_PATH_RELAYED, s->fallback_why);
		log_info("burrow: %s: relayed via burrowd (%s)", s->label, s->fallback_why);
		session_transport_start(s);
	}
	return 1;
}

static void on_relay_chan_error(struct proto_chan *ch, int rc, const struct proto_err *err,
				void *arg)
{
	struct peer_session *s = arg;
	char why[128];

	proto_chan_free(s->relay_chan);
	s->relay_chan = NULL;
	snprintf(why, sizeof(why), "cannot open the relayed path through burrowd: %s",
		 bw_strerror(rc));
	if (s->path != PEER_PATH_DIRECT)
		session_close(s, rc, why, true);
}

static void on_relay_chan_connect(struct proto_chan *ch, void *arg)
{
	struct peer_session *s = arg;
	struct peer *p = s->peer;
	struct proto_msg m = { .type = PROTO_MSG_NEW_VISITOR_CONN };
	struct proto_new_visitor_conn *nv = &m.new_visitor_conn;

	nv->run_id = p->run_id;
	nv->proxy_name = s->wire_name;
	nv->server_user = s->server_user;
	nv->counter = peer_visit_ticket(p, s->wire_name, s->verifier, nv->mac, nv->proof);
	nv->use_encryption = true;
	nv->has_sid = true;
	nv->sid = s->sid;
	if (proto_chan_send(ch, &m, NULL) < 0) {
		on_relay_chan_error(ch, BW_E_NOMEM, NULL, s);
		return;
	}
	proto_chan_set_state(ch, PROTO_STATE_WORK);
}

static const struct proto_chan_cbs relay_chan_cbs = {
	.on_connect = on_relay_chan_connect,
	.on_msg = on_relay_chan_msg,
	.on_error = on_relay_chan_error,
};

/* Visitor: open the relayed path (a visitor connection carrying the sid). */
void session_relay_dial(struct peer_session *s, const char *why)
{
	struct peer *p = s->peer;
	struct bufferevent *bev;
	int rc;

	if (s->relay || s->relay_chan || s->closing)
		return;
	snprintf(s->fallback_why, sizeof(s->fallback_why), "%s", why);
	if (!s->relay_fallback) {
		if (s->path != PEER_PATH_DIRECT)
			session_close(s, BW_E_TIMEOUT, why, true);
		return;
	}
	bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	s->relay_chan = bev ? proto_chan_new(bev, PROTO_SIDE_CLIENT, &relay_chan_cbs, s, &rc) : NULL;
	if (!s->relay_chan) {
		if (bev)
			bufferevent_free(bev);
		session_close(s, BW_E_NOMEM, "cannot open the relayed path", true);
		return;
	}
	proto_chan_set_read_timeout(s->relay_chan, PROTO_CONNECT_TIMEOUT_MS);
	if (bufferevent_socket_connect_hostname(bev, p->dns, AF_UNSPEC, p->conf->server_addr,
						p->conf->server_port) < 0)
		on_relay_chan_error(s->relay_chan, -errno, NULL, s);
}

static void on_fallback_timer(evutil_socket_t fd, short what, void *arg)
{
	struct peer_session *s = arg;
	char why[160];

	if (s->path == PEER_PATH_DIRECT || s->closing)
		return;
	if (!s->cs) {
		/* No answer from the owner yet: no keys, so no path can carry
		 * anything. Wait for it a while longer, then give up. */
		struct timeval tv = { 1, 0 };

		if (bw_now_ms() - s->opened_ms >= SESSION_ANSWER_TIMEOUT_MS) {
			session_close(s, BW_E_TIMEOUT, "no answer from the owner (is it logged in?)",
				      true);
			return;
		}
		evtimer_add(s->fallback_timer, &tv);
		return;
	}
	snprintf(why, sizeof(why), "no direct pair after %d.%d s; peer NAT %s", s->fallback_ms / 1000,
		 s->fallback_ms % 1000 / 100, nat_type_name((enum nat_type)s->peer_nat));
	session_relay_dial(s, why);
}

/* --- The transport ------------------------------------------------------------ */

/* Start the stream transport once the session has keys and a path to send
 * on (the visitor) or keys (the owner, who only answers). */
void session_transport_start(struct peer_session *s)
{
	struct peer_tp_conf conf = {
		.initiator = s->initiator,
		.mtu = SESSION_TP_MTU,
		.idle_timeout_us = SESSION_IDLE_TIMEOUT_S * 1000000ull,
	};
	static const struct peer_tp_cbs cbs = {
		.output = tp_output,
		.ready = session_tp_ready,
		.stream_opened = session_stream_opened,
		.stream_readable = session_stream_readable,
		.stream_writable = session_stream_writable,
		.stream_closed = session_stream_closed,
	};
	int rc;

	if (s->tp || s->sudp || s->closing)
		return; /* sudp needs no streams: datagrams go as they are */
	s->tp = s->tpo->new(&conf, &cbs, s, peer_tp_now_us(), &rc);
	if (!s->tp) {
		session_close(s, rc, "cannot start the stream transport", true);
		return;
	}
	session_tp_kick(s);
}

/* --- ICE ------------------------------------------------------------------- */

static void on_ice_candidate(void *arg, const char *line)
{
	struct peer_session *s = arg;
	struct proto_msg m = { .type = PROTO_MSG_P2P_CANDIDATE };

	m.p2p_candidate.sid = s->sid;
	m.p2p_candidate.candidate = line;
	if (strlen(line) <= PROTO_ICE_CANDIDATE_MAX)
		send_ctl(s, &m);
}

static void on_ice_gathering_done(void *arg)
{
	on_ice_candidate(arg, "");
}

static void session_held_flush(struct peer_session *s);

static void on_ice_selected(void *arg, const struct peer_ice_pair *pair)
{
	struct peer_session *s = arg;
	char why[256], local[BW_ADDR_STRLEN];

	bw_addr_format((const struct sockaddr *)&pair->remote, s->direct_remote,
		       sizeof(s->direct_remote));
	bw_addr_format((const struct sockaddr *)&pair->local, local, sizeof(local));
	snprintf(why, sizeof(why), "%s<->%s, %u+%u candidates, %lld ms",
		 peer_ice_type_name(pair->local_type), peer_ice_type_name(pair->remote_type),
		 pair->n_local, pair->n_remote, (long long)(bw_now_ms() - s->opened_ms));
	log_info("burrow: %s: direct %s from %s (%s)", s->label, s->direct_remote, local, why);
	session_held_flush(s);
	if (s->initiator) {
		struct timeval tick = { SESSION_PROBE_MS / 1000, SESSION_PROBE_MS % 1000 * 1000 };

		s->direct_wait_ms = 0;
		s->direct_lost = false;
		event_add(s->probe_timer, &tick);
		session_path_set(s, PEER_PATH_DIRECT, why);
		session_transport_start(s);
	}
}

/* Send (or drop, if the pair went away) what waited for the selection. */
static void session_held_flush(struct peer_session *s)
{
	for (unsigned i = 0; i < s->n_held; i++) {
		if (!s->ice || peer_ice_send(s->ice, s->held[i]->data, s->held[i]->len) < 0)
			s->dropped++;
		free(s->held[i]);
	}
	s->n_held = 0;
}

static void on_ice_failed(void *arg, int rc, const char *why)
{
	struct peer_session *s = arg;
	char buf[256];

	log_info("burrow: %s: no direct path: %s", s->label, why);
	event_del(s->probe_timer);
	s->direct_lost = false;
	if (s->path == PEER_PATH_DIRECT) {
		/* A direct path that dies falls back to the relay. */
		session_path_set(s, s->relay ? PEER_PATH_RELAYED : PEER_PATH_PROBING,
				 "direct path lost");
	}
	if (s->initiator && !s->relay) {
		snprintf(buf, sizeof(buf), "%s; peer NAT %s", why,
			 nat_type_name((enum nat_type)s->peer_nat));
		session_relay_dial(s, buf);
	}
}

static void on_ice_recv(void *arg, const uint8_t *pkt, size_t len)
{
	datagram_in(arg, pkt, len, PEER_PATH_DIRECT);
}

static const struct peer_ice_cbs ice_cbs = {
	.candidate = on_ice_candidate,
	.gathering_done = on_ice_gathering_done,
	.selected = on_ice_selected,
	.failed = on_ice_failed,
	.recv = on_ice_recv,
};

/* burrowd's STUN address: its UDP port on the control connection's address. */
static void stun_server(struct peer *p, struct sockaddr_storage *ss)
{
	socklen_t sl = sizeof(*ss);

	memset(ss, 0, sizeof(*ss));
	if (!p->udp_port || !p->ctl ||
	    getpeername(bufferevent_getfd(proto_chan_bev(p->ctl)), (struct sockaddr *)ss, &sl) < 0) {
		ss->ss_family = AF_UNSPEC;
		return;
	}
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(p->udp_port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(p->udp_port);
}

/* Make the ICE agent; a session without one goes through the relay. */
static void session_ice_new(struct peer_session *s)
{
	struct peer *p = s->peer;
	struct peer_ice_conf conf = {
		.controlling = s->initiator,
		.keepalive_s = p->conf->p2p_keepalive_s > 0 ? (unsigned)p->conf->p2p_keepalive_s :
			       SESSION_KEEPALIVE_S,
		.check_timeout_ms = SESSION_ICE_TIMEOUT_MS,
	};
	size_t n = 0;
	int rc;

	/* The agent wants a NULL-terminated list; the session owns it. */
	for (; n < p->conf->n_p2p_local_addrs && n + 1 < BW_ARRAY_LEN(s->local_addrs); n++)
		s->local_addrs[n] = p->conf->p2p_local_addrs[n];
	s->local_addrs[n] = NULL;
	conf.local_addrs = n ? s->local_addrs : NULL;

	if (p->conf->p2p_disable_direct)
		return;
	if (!p->glib && !(p->glib = peer_ice_glib_new(p->base, &rc))) {
		log_warn("burrow: %s: no ICE: %s", s->label, bw_strerror(rc));
		return;
	}
	stun_server(p, &conf.stun);
	s->ice = peer_ice_new(p->glib, &conf, &ice_cbs, s, &rc);
	if (s->ice)
		rc = peer_ice_gather(s->ice);
	if (rc < 0) {
		log_warn("burrow: %s: no ICE agent: %s", s->label, bw_strerror(rc));
		peer_ice_free(s->ice);
		s->ice = NULL;
	}
}

/* --- Setting up ------------------------------------------------------------------ */

static struct peer_session *session_new(struct peer *p, bool initiator, const char *label,
					const char *wire_name, const uint8_t psk[32], int *rc)
{
	struct peer_session *s = calloc(1, sizeof(*s));

	if (!s) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	s->peer = p;
	s->initiator = initiator;
	s->opened_ms = bw_now_ms();
	snprintf(s->label, sizeof(s->label), "%s", label);
	snprintf(s->wire_name, sizeof(s->wire_name), "%s", wire_name);
	memcpy(s->psk, psk, sizeof(s->psk));
	s->tpo = peer_tp_find(SESSION_TP_ENGINE);
	s->tp_timer = evtimer_new(p->base, on_tp_timer, s);
	s->fallback_timer = evtimer_new(p->base, on_fallback_timer, s);
	s->status_timer = event_new(p->base, -1, EV_PERSIST, session_on_status_timer, s);
	s->io_ev = event_new(p->base, -1, 0, on_session_io, s);
	s->probe_timer = event_new(p->base, -1, EV_PERSIST, on_probe_timer, s);
	if (!s->tpo || !s->tp_timer || !s->fallback_timer || !s->status_timer || !s->io_ev ||
	    !s->probe_timer) {
		*rc = s->tpo ? BW_E_NOMEM : BW_E_UNSUPPORTED;
		session_free_now(s);
		return NULL;
	}
	s->next = p->sessions;
	if (p->sessions)
		p->sessions->prev = s;
	p->sessions = s;
	return s;
}

/* burrowd already checked the visitor's proof of the secret, so a handshake
 * that fails to authenticate most often means the two burrows speak
 * different session versions (the prologue below). */
#define SESSION_AUTH_HINT " (wrong secretKey, or the other burrow speaks another P2P version: " \
			  "update both)"

/* Both sides bind the handshake to the session and the proxy. The number is
 * the session's wire version: 2 since the transport's null tag grew to 16
 * bytes (tp_quic_crypto.c), so that a version-1 peer fails the handshake
 * instead of misreading every packet. */
static size_t session_prologue(const struct peer_session *s, uint8_t *out, size_t cap)
{
	int n = snprintf((char *)out, cap, "burrow p2p 2 %016llx %s", (unsigned long long)s->sid,
			 s->wire_name);

	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

struct peer_session *peer_session_visit(struct peer *p, const struct peer_session_visitor *sv,
					int *rc)
{
	struct peer_session *s = session_new(p, true, sv->label, sv->wire_name, sv->psk, rc);
	struct proto_msg m = { .type = PROTO_MSG_P2P_OPEN };
	struct proto_p2p_open *o = &m.p2p_open;
	uint8_t prologue[PROTO_PROXY_NAME_MAX + 64], msg1[PROTO_HS_MAX];
	uint8_t suites[BW_CRYPTO_SUITES_MAX];
	char ufrag[PEER_ICE_UFRAG_MAX + 1] = "", pwd[PEER_ICE_PWD_MAX + 1] = "";
	size_t n1;
	struct timeval tv;

	if (!s)
		return NULL;
	if (p->ctl_state != PEER_CTL_LOGGED_IN) {
		*rc = BW_E_CLOSED;
		session_free_now(s);
		return NULL;
	}
	randombytes_buf(&s->sid, sizeof(s->sid));
	s->sid |= 1; /* never 0 */
	snprintf(s->server_user, sizeof(s->server_user), "%s", sv->server_user);
	memcpy(s->verifier, sv->verifier, sizeof(s->verifier));
	s->sudp = sv->sudp;
	s->fallback_ms = sv->fallback_ms > 0 ? sv->fallback_ms : SESSION_FALLBACK_MS;
	s->relay_fallback = sv->relay_fallback;
	s->closed_cb = sv->closed;
	s->datagram_cb = sv->datagram;
	s->fallback_cb = sv->fallback;
	if (s->fallback_cb)
		s->relay_fallback = false; /* frp's fallbackTo replaces our relay */
	s->cb_arg = sv->arg;

	s->hs = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, s->psk, prologue,
				 session_prologue(s, prologue, sizeof(prologue)), rc);
	if (!s->hs)
		goto fail;
	/* msg1 offers our suites; the owner picks (as HELLO does for logins). */
	*rc = bw_crypto_hs_write_msg1(s->hs, suites, bw_crypto_suites_local(suites), msg1,
				      sizeof(msg1), &n1);
	if (*rc < 0)
		goto fail;
	session_ice_new(s);
	if (s->ice)
		peer_ice_local_credentials(s->ice, ufrag, pwd);
	o->sid = s->sid;
	o->proxy_name = s->wire_name;
	o->server_user = s->server_user;
	o->counter = peer_visit_ticket(p, s->wire_name, s->verifier, NULL, o->proof);
	o->ufrag = ufrag;
	o->pwd = pwd;
	o->hs.data = msg1;
	o->hs.len = n1;
	*rc = proto_chan_send(p->ctl, &m, NULL);
	if (*rc < 0)
		goto fail;
	session_path_set(s, PEER_PATH_PROBING, "asked burrowd for the owner");
	tv.tv_sec = s->fallback_ms / 1000;
	tv.tv_usec = (s->fallback_ms % 1000) * 1000;
	evtimer_add(s->fallback_timer, &tv);
	tv.tv_sec = SESSION_STATUS_S;
	tv.tv_usec = 0;
	event_add(s->status_timer, &tv);
	log_info("burrow: %s: opening a session with \"%s\"%s", s->label, s->wire_name,
		 s->ice ? "" : " (relayed only: no ICE)");
	return s;
fail:
	session_free_now(s);
	return NULL;
}

/* Owner: a visitor wants a session with one of our xtcp/sudp proxies. */
static int on_offer(struct peer *p, const struct proto_p2p_offer *o)
{
	struct proto_msg m = { .type = PROTO_MSG_P2P_ANSWER };
	struct peer_proxy *pp = NULL;
	struct peer_session *s;
	uint8_t prologue[PROTO_PROXY_NAME_MAX + 64], msg2[PROTO_HS_MAX];
	uint8_t offered[BW_CRYPTO_OFFER_MAX], suite;
	char ufrag[PEER_ICE_UFRAG_MAX + 1] = "", pwd[PEER_ICE_PWD_MAX + 1] = "";
	char label[PROTO_PROXY_NAME_MAX + 80];
	size_t noff = 0, n2 = 0;
	int rc;

	m.p2p_answer.sid = o->sid;
	m.p2p_answer.ufrag = "";
	m.p2p_answer.pwd = "";
	m.p2p_answer.error = "";
	for (size_t i = 0; i < p->n_proxies; i++)
		if (strcmp(p->proxies[i].wire_name, o->proxy_name) == 0 &&
		    (p->proxies[i].conf->type == CONF_PROXY_XTCP ||
		     p->proxies[i].conf->type == CONF_PROXY_SUDP))
			pp = &p->proxies[i];
	if (!pp) {
		m.p2p_answer.error = "no such xtcp or sudp proxy here";
		goto refuse;
	}
	snprintf(label, sizeof(label), "%s <- %s", pp->label, o->peer_addr);
	s = session_new(p, false, label, pp->wire_name, pp->psk, &rc);
	if (!s) {
		m.p2p_answer.error = "cannot start a session";
		goto refuse;
	}
	s->sid = o->sid;
	s->proxy = pp;
	s->sudp = pp->conf->type == CONF_PROXY_SUDP;
	s->peer_nat = (uint8_t)o->peer_nat;
	s->hs = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, s->psk, prologue,
				 session_prologue(s, prologue, sizeof(prologue)), &rc);
	if (s->hs)
		rc = bw_crypto_hs_read_msg1(s->hs, o->hs.data, o->hs.len, offered, sizeof(offered),
					    &noff);
	if (rc == 0)
		rc = bw_crypto_suite_pick(offered, noff, &suite);
	if (rc == 0)
		rc = bw_crypto_hs_write_msg2(s->hs, suite, NULL, 0, msg2, sizeof(msg2), &n2);
	if (rc == 0)
		rc = bw_crypto_hs_split(s->hs, BW_CRYPTO_DGRAM, &s->cs);
	bw_crypto_hs_free(s->hs);
	s->hs = NULL;
	if (rc < 0) {
		log_warn("burrow: %s: handshake with the visitor failed: %s%s", s->label,
			 bw_strerror(rc), rc == BW_E_AUTH_FAILED ? SESSION_AUTH_HINT : "");
		m.p2p_answer.error = rc == BW_E_AUTH_FAILED ?
			"end-to-end handshake failed: wrong secret key, or another P2P version" :
			"end-to-end handshake failed";
		session_free_now(s);
		goto refuse;
	}
	if (o->ufrag[0])
		session_ice_new(s);
	if (s->ice) {
		peer_ice_local_credentials(s->ice, ufrag, pwd);
		peer_ice_start(s->ice, o->ufrag, o->pwd);
	}
	m.p2p_answer.ufrag = ufrag;
	m.p2p_answer.pwd = pwd;
	m.p2p_answer.hs.data = msg2;
	m.p2p_answer.hs.len = n2;
	send_ctl(s, &m);
	{
		struct timeval tv = { SESSION_STATUS_S, 0 };

		event_add(s->status_timer, &tv);
	}
	log_info("burrow: %s: session %016llx with a visitor (user \"%s\", NAT %s)", s->label,
		 (unsigned long long)s->sid, o->peer_user, nat_type_name((enum nat_type)o->peer_nat));
	session_path_set(s, PEER_PATH_PROBING, "answered the visitor");
	session_transport_start(s);
	return 0;
refuse:
	log_warn("burrow: refused a P2P session for %s from %s: %s", o->proxy_name, o->peer_addr,
		 m.p2p_answer.error);
	if (p->ctl_state == PEER_CTL_LOGGED_IN)
		proto_chan_send(p->ctl, &m, NULL);
	return 0;
}

static struct peer_session *session_by_sid(struct peer *p, uint64_t sid)
{
	for (struct peer_session *s = p->sessions; s; s = s->next)
		if (s->sid == sid && !s->closing)
			return s;
	return NULL;
}

/*
 * Hole punching without port prediction cannot work when a symmetric NAT
 * (a new mapping per destination) faces one that filters by port
 * (port-restricted or symmetric), or when UDP is blocked (docs/NAT.md, "P2P
 * matrix"). Unknown types are never hopeless: try.
 */
static bool session_punch_hopeless(uint8_t a, uint8_t b)
{
	bool a_sym = a == NAT_TYPE_SYMMETRIC, b_sym = b == NAT_TYPE_SYMMETRIC;
	bool a_port = a_sym || a == NAT_TYPE_PORT_RESTRICTED;
	bool b_port = b_sym || b == NAT_TYPE_PORT_RESTRICTED;

	return a == NAT_TYPE_UDP_BLOCKED || b == NAT_TYPE_UDP_BLOCKED || (a_sym && b_port) ||
	       (b_sym && a_port);
}

/* Visitor: the owner's answer. */
static int on_answer(struct peer *p, const struct proto_p2p_answer *a)
{
	struct peer_session *s = session_by_sid(p, a->sid);
	char why[PROTO_ERROR_TEXT_MAX + 64];
	int rc;

	if (!s || !s->initiator || !s->hs)
		return 0;
	if (a->error[0]) {
		snprintf(why, sizeof(why), "refused: %s", a->error);
		log_warn("burrow: %s: %s", s->label, why);
		session_close(s, BW_E_CLOSED, why, false);
		return 0;
	}
	s->peer_nat = a->has_peer_nat ? (uint8_t)a->peer_nat : 0;
	uint8_t payload[8];
	size_t plen;

	rc = bw_crypto_hs_read_msg2(s->hs, a->hs.data, a->hs.len, payload, sizeof(payload), &plen);
	if (rc == 0)
		rc = bw_crypto_hs_split(s->hs, BW_CRYPTO_DGRAM, &s->cs);
	bw_crypto_hs_free(s->hs);
	s->hs = NULL;
	if (rc < 0) {
		snprintf(why, sizeof(why), "end-to-end handshake with the owner failed: %s%s",
			 bw_strerror(rc), rc == BW_E_AUTH_FAILED ? SESSION_AUTH_HINT : "");
		log_warn("burrow: %s: %s", s->label, why);
		session_close(s, rc, why, true);
		return 0;
	}
	log_info("burrow: %s: owner %s (NAT %s) answered; end-to-end keys agreed (%s)", s->label,
		 a->has_peer_addr ? a->peer_addr : "?", nat_type_name((enum nat_type)s->peer_nat),
		 bw_crypto_suite_name(bw_crypto_session_suite(s->cs)));
	if (s->ice && a->ufrag[0]) {
		peer_ice_start(s->ice, a->ufrag, a->pwd);
		if (session_punch_hopeless(p->nat_type, s->peer_nat)) {
			/* Waiting out the timeout would only delay the first byte: go
			 * through the relay now, and let ICE upgrade the session to
			 * direct if it finds a pair after all. */
			snprintf(why, sizeof(why), "own NAT %s, peer NAT %s: no direct path expected",
				 nat_type_name((enum nat_type)p->nat_type),
				 nat_type_name((enum nat_type)s->peer_nat));
			session_relay_dial(s, why);
		}
	} else {
		session_relay_dial(s, s->ice ? "the owner tries no direct path" :
				   p->conf->p2p_disable_direct ? "p2p.disableDirect is set" :
				   "no ICE agent here");
	}
	return 0;
}

int peer_sessions_ctl_msg(struct peer *p, struct proto_msg *m)
{
	struct peer_session *s;

	switch (m->type) {
	case PROTO_MSG_P2P_OFFER:
		return on_offer(p, &m->p2p_offer);
	case PROTO_MSG_P2P_ANSWER:
		return on_answer(p, &m->p2p_answer);
	case PROTO_MSG_P2P_CANDIDATE:
		s = session_by_sid(p, m->p2p_candidate.sid);
		if (s && s->ice) {
			if (m->p2p_candidate.candidate[0])
				peer_ice_add_remote(s->ice, m->p2p_candidate.candidate);
			else
				peer_ice_remote_done(s->ice);
		}
		return 0;
	case PROTO_MSG_P2P_CLOSE:
		s = session_by_sid(p, m->p2p_close.sid);
		if (s) {
			char why[PROTO_ERROR_TEXT_MAX + 32];

			snprintf(why, sizeof(why), "closed by the other side: %s",
				 m->p2p_close.reason);
			session_close(s, BW_E_CLOSED, why, false);
		}
		return 0;
	default:
		return 0;
	}
}

void session_on_status_timer(evutil_socket_t fd, short what, void *arg)
{
	session_status_send(arg);
}

void peer_session_row(const struct peer_session *s, struct peer_status_row *r)
{
	struct peer_tp_stats st = {0};

	r->state = peer_path_name(s->path);
	if (s->path == PEER_PATH_DIRECT)
		snprintf(r->remote, sizeof(r->remote), "%s", s->direct_remote);
	else if (s->path == PEER_PATH_RELAYED)
		snprintf(r->remote, sizeof(r->remote), "via burrowd");
	if (s->tp)
		s->tpo->stats(s->tp, &st);
	r->rtt_us = st.rtt_us;
	r->tx_bytes = s->tx_bytes;
	r->rx_bytes = s->rx_bytes;
	r->up_ms = s->path == PEER_PATH_DIRECT || s->path == PEER_PATH_RELAYED ?
		   bw_now_ms() - s->path_since_ms : -1;
	snprintf(r->detail, sizeof(r->detail), "peer NAT %s, %u streams, session %016llx",
		 nat_type_name((enum nat_type)s->peer_nat), s->n_streams,
		 (unsigned long long)s->sid);
}

bool peer_session_is_visitor(const struct peer_session *s)
{
	return s->initiator;
}

bool peer_session_is_sudp(const struct peer_session *s)
{
	return s->sudp;
}

const char *peer_session_label(const struct peer_session *s)
{
	return s->label;
}
