/*
 * Visitors: a local port that reaches another peer's secret service (stcp;
 * xtcp until the direct path exists) through burrowd.
 *
 * Each accepted connection opens a visitor connection to burrowd whose first
 * frame, NEW_VISITOR_CONN, carries a ticket from this client's control
 * session and a proof of the proxy's secret (a MAC keyed with the verifier
 * the owner registered). burrowd joins it to a work connection of the owner;
 * the two peers then run the handshake keyed by the secret itself and seal
 * everything end to end, so the relay sees ciphertext only.
 */
#include "peer/peer_int.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"
#include "relay/relay.h"

#define SUDP_PENDING_MAX 64

struct sudp_pending {
	char from[BW_ADDR_STRLEN];
	size_t len;
	uint8_t data[];
};

struct peer_visitor {
	struct peer *peer;
	const struct conf_visitor *conf;
	struct evconnlistener *listener;
	char wire_name[PROTO_PROXY_NAME_MAX + 1];  /* the owner's proxy as burrowd names it */
	char label[PROTO_PROXY_NAME_MAX + 16];      /* "visitor ssh-home", for logs */
	const char *server_user;                   /* the owner's user */
	uint8_t psk[BW_CRYPTO_KEY_LEN];
	uint8_t verifier[BW_CRYPTO_KEY_LEN];
	/* sudp: one UDP socket for the local apps, one tunnel to the owner */
	evutil_socket_t udp_fd;
	struct event *udp_ev;
	struct proto_chan *tunnel;         /* ready: UDP_PACKETs, sealed end to end */
	struct peer_visit *dialing;        /* on its way */
	struct sudp_pending *pending[SUDP_PENDING_MAX];
	unsigned n_pending;
	struct peer_session *session;      /* xtcp, sudp: the P2P session */
	struct peer_visitor *fallback;     /* xtcp: frp's fallbackTo (an stcp visitor) */
	int64_t fallback_until_ms;         /* direct failed: use `fallback` until then */
	struct event *reopen;              /* keepTunnelOpen: reopen the session */
	int reopen_ms;
	struct peer_traffic traffic;       /* stcp connections, sudp tunnel datagrams,
	                                      closed sessions */
};

/* One visiting connection, from accept until it is relayed or dropped. */
struct peer_visit {
	struct peer_visitor *v;
	struct peer_visit *next, *prev;   /* in peer->visits */
	struct bufferevent *user;
	struct proto_chan *chan;          /* to burrowd, until the response */
	char who[BW_ADDR_STRLEN];
	bool sudp;                        /* the visitor's tunnel, not a user connection */
};

static void sudp_pending_clear(struct peer_visitor *v)
{
	for (unsigned i = 0; i < v->n_pending; i++)
		free(v->pending[i]);
	v->n_pending = 0;
}

static void visit_free(struct peer_visit *x)
{
	struct peer *p = x->v->peer;

	if (x->v->dialing == x)
		x->v->dialing = NULL;
	if (x->prev)
		x->prev->next = x->next;
	else
		p->visits = x->next;
	if (x->next)
		x->next->prev = x->prev;
	if (x->user)
		bufferevent_free(x->user);
	proto_chan_free(x->chan);
	free(x);
}

static int sudp_send(struct peer_visitor *v, const char *from, const uint8_t *data, size_t len)
{
	struct proto_msg m = { .type = PROTO_MSG_UDP_PACKET };

	m.udp_packet.content.data = data;
	m.udp_packet.content.len = len;
	m.udp_packet.local_addr = "";
	m.udp_packet.remote_addr = from;
	v->traffic.tx += len;
	return proto_chan_send(v->tunnel, &m, NULL);
}

/* The owner answered a local app: send it from the visitor's port. */
static int on_tunnel_msg(struct proto_chan *ch, struct proto_msg *m, void *arg)
{
	struct peer_visitor *v = arg;
	struct sockaddr_storage to;
	int len;

	if (m->type != PROTO_MSG_UDP_PACKET)
		return 0;
	len = bw_addr_parse(m->udp_packet.remote_addr, &to);
	v->traffic.rx += m->udp_packet.content.len;
	if (len > 0)
		sendto(v->udp_fd, m->udp_packet.content.data, m->udp_packet.content.len, 0,
		       (struct sockaddr *)&to, (socklen_t)len);
	return 0;
}

static void on_tunnel_error(struct proto_chan *ch, int rc, const struct proto_err *err, void *arg)
{
	struct peer_visitor *v = arg;

	log_info("burrow: %s: tunnel to the owner closed: %s", v->label, bw_strerror(rc));
	proto_chan_free(v->tunnel);
	v->tunnel = NULL; /* the next datagram dials again */
}

static const struct proto_chan_cbs tunnel_cbs = {
	.on_msg = on_tunnel_msg,
	.on_error = on_tunnel_error,
};

static void sudp_tunnel_ready(struct peer_visitor *v, struct bufferevent *bev,
			      struct bw_crypto_session *s)
{
	int rc;

	v->tunnel = proto_chan_new(bev, PROTO_SIDE_CLIENT, &tunnel_cbs, v, &rc);
	if (!v->tunnel) {
		bufferevent_free(bev);
		bw_crypto_session_free(s);
		sudp_pending_clear(v);
		return;
	}
	proto_chan_set_state(v->tunnel, PROTO_STATE_WORK);
	proto_chan_set_session(v->tunnel, s);
	log_info("burrow: %s: tunnel to \"%s\" ready (end to end encrypted)", v->label,
		 v->wire_name);
	for (unsigned i = 0; i < v->n_pending; i++)
		sudp_send(v, v->pending[i]->from, v->pending[i]->data, v->pending[i]->len);
	sudp_pending_clear(v);
}

static void on_e2e_done(void *arg, int rc, struct bufferevent *bev, struct bw_crypto_session *s)
{
	struct peer_visit *x = arg;
	struct peer_visitor *v = x->v;

	if (rc < 0) {
		log_warn("burrow: visitor %s: %s: end-to-end handshake with the owner failed: %s%s",
			 v->conf->name, x->who, bw_strerror(rc),
			 rc == BW_E_AUTH_FAILED || rc == BW_E_CLOSED ? " (wrong secretKey?)" : "");
		if (x->sudp)
			sudp_pending_clear(v);
		visit_free(x);
		return;
	}
	if (x->sudp) {
		visit_free(x);
		sudp_tunnel_ready(v, bev, s);
		return;
	}
	peer_conn_start(v->peer, v->label, x->who, x->user, bev, s, &v->traffic);
	x->user = NULL;
	visit_free(x);
}

static int on_visit_msg(struct proto_chan *ch, struct proto_msg *m, void *arg)
{
	struct peer_visit *x = arg;
	struct peer_visitor *v = x->v;
	struct bufferevent *bev;

	if (m->type != PROTO_MSG_NEW_VISITOR_CONN_RESP || m->new_visitor_conn_resp.error[0]) {
		log_warn("burrow: visitor %s: %s refused by burrowd: %s", v->conf->name, x->who,
			 m->type == PROTO_MSG_NEW_VISITOR_CONN_RESP ?
			 m->new_visitor_conn_resp.error : proto_msg_name(m->type));
		visit_free(x);
		return 1;
	}
	bev = proto_chan_detach(x->chan);
	x->chan = NULL;
	peer_e2e_start(bev, BW_CRYPTO_INITIATOR, v->psk, v->wire_name, on_e2e_done, x);
	return 1;
}

static void on_visit_error(struct proto_chan *ch, int rc, const struct proto_err *err, void *arg)
{
	struct peer_visit *x = arg;

	log_warn("burrow: visitor %s: %s: connection to burrowd failed: %s", x->v->conf->name,
		 x->who, bw_strerror(rc));
	visit_free(x);
}

static void on_visit_connect(struct proto_chan *ch, void *arg)
{
	struct peer_visit *x = arg;
	struct peer_visitor *v = x->v;
	struct peer *p = v->peer;
	struct proto_msg m = { .type = PROTO_MSG_NEW_VISITOR_CONN };
	struct proto_new_visitor_conn *nv = &m.new_visitor_conn;

	nv->run_id = p->run_id;
	nv->proxy_name = v->wire_name;
	nv->server_user = v->server_user;
	nv->use_encryption = true;
	nv->use_compression = false;
	nv->counter = peer_visit_ticket(p, v->wire_name, v->verifier, nv->mac, nv->proof);
	if (proto_chan_send(ch, &m, NULL) < 0) {
		visit_free(x);
		return;
	}
	proto_chan_set_state(ch, PROTO_STATE_WORK);
}

uint64_t peer_visit_ticket(struct peer *p, const char *wire_name, const uint8_t verifier[32],
			   uint8_t *mac, uint8_t proof[32])
{
	uint8_t input[PROTO_TICKET_INPUT_MAX];
	uint64_t counter = ++p->work_counter;
	size_t len;

	if (mac) {
		len = proto_ticket_input("work", p->run_id, counter, NULL, input);
		bw_crypto_mac(p->work_key, input, len, mac);
	}
	len = proto_ticket_input("visit", p->run_id, counter, wire_name, input);
	bw_crypto_mac(verifier, input, len, proof);
	return counter;
}

/* --- P2P (xtcp, sudp): one session per visitor, made on first use ------------ */

static struct peer_session *visitor_session(struct peer_visitor *v);

/* keepTunnelOpen: the session is reopened after a delay that doubles up to
 * a minute while it keeps failing. */
#define REOPEN_FIRST_MS 2000
#define REOPEN_MAX_MS 60000
#define FALLBACK_HOLD_MS 60000  /* after a failed direct try, fallbackTo only */

static void on_reopen(evutil_socket_t fd, short what, void *arg)
{
	struct peer_visitor *v = arg;

	if (v->peer->ctl_state == PEER_CTL_LOGGED_IN)
		visitor_session(v);
}

static void on_session_closed(void *arg, int rc, const char *why)
{
	struct peer_visitor *v = arg;
	struct peer_status_row last = {0};
	struct timeval tv;

	/* What it carried stays in the visitor's totals (burrow status). */
	if (v->session)
		peer_session_row(v->session, &last);
	v->traffic.tx += last.tx_bytes;
	v->traffic.rx += last.rx_bytes;
	v->session = NULL; /* the next connection or datagram opens a new one */
	if (v->fallback && rc == BW_E_TIMEOUT)
		v->fallback_until_ms = bw_now_ms() + FALLBACK_HOLD_MS;
	if (v->conf->keep_tunnel_open && v->reopen) {
		v->reopen_ms = v->reopen_ms ? v->reopen_ms * 2 : REOPEN_FIRST_MS;
		if (v->reopen_ms > REOPEN_MAX_MS)
			v->reopen_ms = REOPEN_MAX_MS;
		tv.tv_sec = v->reopen_ms / 1000;
		tv.tv_usec = v->reopen_ms % 1000 * 1000;
		evtimer_add(v->reopen, &tv);
		log_info("burrow: %s: keepTunnelOpen: reopening the session in %d ms", v->label,
			 v->reopen_ms);
	}
}

static void visit_dial(struct peer_visit *x);

/* frp's fallbackTo: a connection the xtcp session could not carry goes
 * through the named stcp visitor instead. */
static void on_session_fallback(void *arg, struct bufferevent *bev, const char *who)
{
	struct peer_visitor *v = arg;
	struct peer_visit *x = calloc(1, sizeof(*x));

	if (!x) {
		bufferevent_free(bev);
		return;
	}
	log_info("burrow: %s: %s goes through fallback visitor %s", v->label, who,
		 v->fallback->conf->name);
	x->v = v->fallback;
	x->user = bev;
	snprintf(x->who, sizeof(x->who), "%s", who);
	visit_dial(x);
}

/* sudp: the owner's service answered local app `to`. */
static void on_session_datagram(void *arg, const char *to, const uint8_t *data, size_t len)
{
	struct peer_visitor *v = arg;
	struct sockaddr_storage ss;
	int sl = bw_addr_parse(to, &ss);

	if (sl > 0)
		sendto(v->udp_fd, data, len, 0, (struct sockaddr *)&ss, (socklen_t)sl);
}

static struct peer_session *visitor_session(struct peer_visitor *v)
{
	struct peer_session_visitor sv = {
		.label = v->label,
		.wire_name = v->wire_name,
		.server_user = v->server_user,
		.psk = v->psk,
		.verifier = v->verifier,
		.sudp = v->conf->type == CONF_PROXY_SUDP,
		.fallback_ms = v->conf->fallback_timeout_ms,
		.relay_fallback = v->conf->relay_fallback,
		.closed = on_session_closed,
		.datagram = on_session_datagram,
		.fallback = v->fallback ? on_session_fallback : NULL,
		.arg = v,
	};
	int rc;

	if (v->session)
		return v->session;
	if (sv.fallback_ms <= 0 && v->fallback)
		sv.fallback_ms = 1000;
	v->session = peer_session_visit(v->peer, &sv, &rc);
	if (!v->session)
		log_ratelimited(LOG_WARN, "burrow: %s: cannot open a session: %s", v->label,
				bw_strerror(rc));
	return v->session;
}

static const struct proto_chan_cbs visit_cbs = {
	.on_connect = on_visit_connect,
	.on_msg = on_visit_msg,
	.on_error = on_visit_error,
};

/* Open a visitor connection to burrowd for x (user connection or sudp tunnel). */
static void visit_dial(struct peer_visit *x)
{
	struct peer_visitor *v = x->v;
	struct peer *p = v->peer;
	struct bufferevent *bev;
	int rc;

	x->next = p->visits;
	if (p->visits)
		p->visits->prev = x;
	p->visits = x;
	bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	x->chan = bev ? proto_chan_new(bev, PROTO_SIDE_CLIENT, &visit_cbs, x, &rc) : NULL;
	if ((!x->sudp && !x->user) || !x->chan) {
		if (bev && !x->chan)
			bufferevent_free(bev);
		visit_free(x);
		return;
	}
	proto_chan_set_read_timeout(x->chan, 10000);
	if (bufferevent_socket_connect_hostname(bev, p->dns, AF_UNSPEC, p->conf->server_addr,
						p->conf->server_port) < 0)
		log_warn("burrow: %s: cannot connect to burrowd", v->label);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct peer_visitor *v = arg;
	struct peer *p = v->peer;
	struct peer_visit *x;
	int one = 1;

	if (p->ctl_state != PEER_CTL_LOGGED_IN) {
		log_ratelimited(LOG_WARN, "burrow: %s: not logged in to burrowd yet; "
				"connection refused", v->label);
		evutil_closesocket(fd);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (v->conf->type == CONF_PROXY_XTCP && v->fallback && !v->session &&
	    bw_now_ms() < v->fallback_until_ms) {
		v = v->fallback; /* the direct try failed a moment ago */
	} else if (v->conf->type == CONF_PROXY_XTCP) {
		struct peer_session *ses = visitor_session(v);
		struct bufferevent *bev;
		char who[BW_ADDR_STRLEN];

		free(x);
		bev = ses ? bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
		if (!bev) {
			evutil_closesocket(fd);
			return;
		}
		peer_session_stream_add(ses, bev, bw_addr_format(sa, who, sizeof(who)));
		return;
	}
	x->v = v;
	bw_addr_format(sa, x->who, sizeof(x->who));
	x->user = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	visit_dial(x);
}

/* A local app sent a datagram to the sudp visitor's port. */
static void on_sudp_datagram(evutil_socket_t fd, short what, void *arg)
{
	struct peer_visitor *v = arg;
	struct peer *p = v->peer;
	uint8_t buf[PROTO_UDP_DATAGRAM_MAX];

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		char who[BW_ADDR_STRLEN];
		struct sudp_pending *pk;

		if (n < 0)
			return;
		bw_addr_format((struct sockaddr *)&from, who, sizeof(who));
		if (p->ctl_state == PEER_CTL_LOGGED_IN && visitor_session(v)) {
			peer_session_datagram(v->session, who, buf, (size_t)n);
			continue;
		}
		if (v->tunnel) {
			sudp_send(v, who, buf, (size_t)n);
			continue;
		}
		if (v->n_pending == SUDP_PENDING_MAX || p->ctl_state != PEER_CTL_LOGGED_IN)
			continue; /* dropped, as a full router queue would */
		pk = malloc(sizeof(*pk) + (size_t)n);
		if (!pk)
			continue;
		snprintf(pk->from, sizeof(pk->from), "%s", who);
		pk->len = (size_t)n;
		memcpy(pk->data, buf, (size_t)n);
		v->pending[v->n_pending++] = pk;
		if (!v->dialing) {
			struct peer_visit *x = calloc(1, sizeof(*x));

			if (!x)
				continue;
			x->v = v;
			x->sudp = true;
			snprintf(x->who, sizeof(x->who), "tunnel");
			v->dialing = x;
			visit_dial(x);
		}
	}
}

static int sudp_listen(struct peer *p, struct peer_visitor *v)
{
	struct sockaddr_storage ss;
	char spec[BW_ADDR_STRLEN + 8], addr[BW_ADDR_STRLEN];
	socklen_t sl = sizeof(ss);
	int len;

	v->udp_fd = -1;
	if (v->conf->bind_port < 0)
		return 0;
	snprintf(spec, sizeof(spec), strchr(v->conf->bind_addr, ':') ? "[%s]:%d" : "%s:%d",
		 v->conf->bind_addr, v->conf->bind_port);
	len = bw_addr_parse(spec, &ss);
	if (len < 0)
		return len;
	v->udp_fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->udp_fd < 0 || bind(v->udp_fd, (struct sockaddr *)&ss, (socklen_t)len) < 0)
		return -errno;
	v->udp_ev = event_new(p->base, v->udp_fd, EV_READ | EV_PERSIST, on_sudp_datagram, v);
	if (!v->udp_ev || event_add(v->udp_ev, NULL) < 0)
		return BW_E_NOMEM;
	getsockname(v->udp_fd, (struct sockaddr *)&ss, &sl);
	log_info("burrow: %s: sudp listening on udp %s for \"%s\"", v->label,
		 bw_addr_format((struct sockaddr *)&ss, addr, sizeof(addr)), v->wire_name);
	return 0;
}

static int visitor_listen(struct peer *p, struct peer_visitor *v)
{
	struct evutil_addrinfo hints = {0}, *ai = NULL;
	char port[16], addr[BW_ADDR_STRLEN];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (v->conf->bind_port < 0)
		return 0; /* frp: a visitor only other visitors fall back to */
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
	snprintf(port, sizeof(port), "%d", v->conf->bind_port);
	if (evutil_getaddrinfo(v->conf->bind_addr, port, &hints, &ai) != 0)
		return BW_E_CONF_VALUE;
	v->listener = evconnlistener_new_bind(p->base, on_accept, v,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					      LEV_OPT_CLOSE_ON_EXEC, 128, ai->ai_addr,
					      (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (!v->listener)
		return -EVUTIL_SOCKET_ERROR();
	getsockname(evconnlistener_get_fd(v->listener), (struct sockaddr *)&ss, &sl);
	log_info("burrow: visitor %s: %s listening on %s for \"%s\"", v->conf->name,
		 conf_proxy_type_name(v->conf->type),
		 bw_addr_format((struct sockaddr *)&ss, addr, sizeof(addr)), v->wire_name);
	return 0;
}

size_t peer_visitors_rows(struct peer *p, struct peer_status_row *rows, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; p->visitors && i < p->conf->n_visitors && n < cap; i++) {
		struct peer_visitor *v = &p->visitors[i];
		struct peer_status_row *r = &rows[n++];

		if (!v->peer) {
			n--;
			continue; /* not run (enabled = false, or not in `start`) */
		}
		memset(r, 0, sizeof(*r));
		r->kind = "visitor";
		r->name = v->conf->name;
		r->type = conf_proxy_type_name(v->conf->type);
		r->up_ms = -1;
		/* Bytes since start: earlier sessions, stcp or fallback
		 * connections (closed and open), the sudp tunnel, and the
		 * session that is up. */
		struct peer_traffic t = peer_conns_traffic(p, &v->traffic);

		if (v->session) {
			peer_session_row(v->session, r);
		} else {
			r->state = v->conf->type == CONF_PROXY_STCP || v->tunnel ? "relayed" : "idle";
			snprintf(r->detail, sizeof(r->detail), "\"%s\"", v->wire_name);
		}
		r->tx_bytes += t.tx;
		r->rx_bytes += t.rx;
	}
	return n;
}

int peer_visitors_init(struct peer *p)
{
	const struct conf_client *conf = p->conf;

	p->visitors = calloc(conf->n_visitors ? conf->n_visitors : 1, sizeof(*p->visitors));
	if (!p->visitors)
		return BW_E_NOMEM;
	for (size_t i = 0; i < conf->n_visitors; i++) {
		const struct conf_visitor *cv = &conf->visitors[i];
		struct peer_visitor *v = &p->visitors[i];
		const char *secret = cv->secret_key ? cv->secret_key : "";
		int rc;

		if (!conf_visitor_runs(conf, cv))
			continue;
		v->peer = p;
		v->conf = cv;
		snprintf(v->label, sizeof(v->label), "visitor %s", cv->name);
		/* frp: the owner's user is serverUser, or this client's own user. */
		v->server_user = cv->server_user && *cv->server_user ? cv->server_user :
				 conf->user ? conf->user : "";
		if (*v->server_user)
			snprintf(v->wire_name, sizeof(v->wire_name), "%s.%s", v->server_user,
				 cv->server_name);
		else
			snprintf(v->wire_name, sizeof(v->wire_name), "%s", cv->server_name);
		rc = bw_crypto_psk_from_secret(secret, strlen(secret), v->server_user,
					       cv->server_name, v->psk);
		if (rc == 0)
			rc = bw_crypto_verifier_from_secret(secret, strlen(secret), v->server_user,
							    cv->server_name, v->verifier);
		if (rc == 0)
			rc = cv->type == CONF_PROXY_SUDP ? sudp_listen(p, v) : visitor_listen(p, v);
		if (rc < 0) {
			log_error("burrow: visitor %s: cannot listen on %s:%d: %s", cv->name,
				  cv->bind_addr, cv->bind_port, bw_strerror(rc));
			return rc;
		}
		p->n_visitors++;
	}
	for (size_t i = 0; i < conf->n_visitors; i++) {
		struct peer_visitor *v = &p->visitors[i];

		if (!v->peer)
			continue;
		if (v->conf->type == CONF_PROXY_XTCP && v->conf->fallback_to &&
		    *v->conf->fallback_to) {
			for (size_t j = 0; j < conf->n_visitors; j++)
				if (p->visitors[j].peer && j != i &&
				    strcmp(p->visitors[j].conf->name, v->conf->fallback_to) == 0)
					v->fallback = &p->visitors[j];
		}
		if (v->conf->keep_tunnel_open &&
		    !(v->reopen = evtimer_new(p->base, on_reopen, v)))
			return BW_E_NOMEM;
	}
	return 0;
}

void peer_visitors_logged_in(struct peer *p)
{
	for (size_t i = 0; p->visitors && i < p->conf->n_visitors; i++) {
		struct peer_visitor *v = &p->visitors[i];

		if (v->peer && v->conf->keep_tunnel_open && !v->session) {
			v->reopen_ms = 0;
			visitor_session(v);
		}
	}
}

void peer_visitors_fini(struct peer *p)
{
	while (p->visits)
		visit_free(p->visits);
	for (size_t i = 0; p->visitors && i < p->conf->n_visitors; i++) {
		struct peer_visitor *v = &p->visitors[i];

		if (v->listener)
			evconnlistener_free(v->listener);
		if (v->udp_ev)
			event_free(v->udp_ev);
		if (v->peer && v->udp_fd >= 0 && v->conf->type == CONF_PROXY_SUDP)
			close(v->udp_fd);
		peer_session_free(v->session);
		v->session = NULL;
		if (v->reopen)
			event_free(v->reopen);
		proto_chan_free(v->tunnel);
		sudp_pending_clear(v);
		sodium_memzero(p->visitors[i].psk, sizeof(p->visitors[i].psk));
		sodium_memzero(p->visitors[i].verifier, sizeof(p->visitors[i].verifier));
	}
	free(p->visitors);
	p->visitors = NULL;
}
