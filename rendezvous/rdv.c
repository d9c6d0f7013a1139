#include "rendezvous/rdv_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "crypto/replay.h"
#include "nat/nat.h"
#include "proto/chan.h"
#include "proto/proto.h"
#include "relay/relay.h"

/* A client has this long from TCP accept to LOGIN (frp: 10 s, not configurable). */
#define RDV_LOGIN_TIMEOUT_MS 10000

static void conn_close(struct rdv_conn *c, const char *why)
{
	struct rdv *r = c->rdv;

	if (c->n_pairs)
		rdv_pairs_drop(c);
	if (c->logged_in) {
		log_info("rdv: client %s (run id %s) closed: %s", c->addr, c->run_id,
			 why ? why : "server shutting down");
		r->stats.clients--;
	} else if (why) {
		log_debug("rdv: connection %s closed before login: %s", c->addr, why);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		r->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	relay_client_free(c->rc);
	proto_chan_free(c->chan);
	bw_crypto_hs_free(c->hs);
	sodium_memzero(c->work_key, sizeof(c->work_key));
	free(c);
}

/* Tell the client why it is refused, then close once that is written. */
int rdv_conn_refuse(struct rdv_conn *c, enum proto_errcode code, const char *text)
{
	struct proto_msg m = { .type = PROTO_MSG_ERROR };

	m.error.code = code;
	m.error.message = text;
	if (proto_chan_send(c->chan, &m, NULL) < 0) {
		conn_close(c, text);
		return 1;
	}
	proto_chan_close_after_flush(c->chan);
	return 1;
}

static int on_hello(struct rdv_conn *c, const struct proto_hello *h)
{
	struct rdv *r = c->rdv;
	uint8_t prologue[PROTO_HELLO_PROLOGUE_MAX], offered[PROTO_SUITES_MAX];
	uint8_t msg2[PROTO_HS_MAX], payload[8], suite;
	size_t plen, n2;
	uint64_t ver;
	struct proto_msg reply = { .type = PROTO_MSG_HELLO_REPLY };
	struct bw_crypto_session *s = NULL;
	int rc;

	if (proto_version_pick(h->ver_min, h->ver_max, &ver) < 0) {
		log_ratelimited(LOG_WARN, "rdv: login from %s: no common protocol version "
				"(client %u-%u, server %u-%u)", c->addr, (unsigned)h->ver_min,
				(unsigned)h->ver_max, PROTO_VERSION_MIN, PROTO_VERSION_MAX);
		return rdv_conn_refuse(c, PROTO_ERRCODE_VERSION, "no common protocol version");
	}
	for (size_t i = 0; i < h->suites.n; i++)
		offered[i] = (uint8_t)h->suites.v[i];
	if (bw_crypto_suite_pick(offered, h->suites.n, &suite) < 0) {
		log_ratelimited(LOG_WARN, "rdv: login from %s: no cipher suite in common", c->addr);
		return rdv_conn_refuse(c, PROTO_ERRCODE_VERSION, "no cipher suite in common");
	}
	c->hs = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, r->psk, prologue,
				 proto_hello_prologue(h, prologue), &rc);
	if (!c->hs) {
		conn_close(c, bw_strerror(rc));
		return 1;
	}
	rc = bw_crypto_hs_read_msg1(c->hs, h->hs.data, h->hs.len, payload, sizeof(payload), &plen);
	if (rc == BW_E_AUTH_FAILED) {
		r->stats.auth_failures++;
		log_ratelimited(LOG_WARN, "rdv: login from %s: authentication failed: wrong token",
				c->addr);
		return rdv_conn_refuse(c, PROTO_ERRCODE_AUTH_FAILED, "authentication failed: wrong token");
	}
	if (rc == 0) {
		/* The chosen version rides in msg2, authenticated (PROTOCOL.md). */
		payload[0] = (uint8_t)ver;
		rc = bw_crypto_hs_write_msg2(c->hs, suite, payload, 1, msg2, sizeof(msg2), &n2);
	}
	if (rc == 0)
		rc = bw_crypto_hs_split(c->hs, BW_CRYPTO_STREAM, &s);
	if (rc < 0) {
		log_ratelimited(LOG_WARN, "rdv: login from %s: handshake failed: %s", c->addr,
				bw_strerror(rc));
		return rdv_conn_refuse(c, PROTO_ERRCODE_MALFORMED, "handshake failed");
	}
	bw_crypto_hs_free(c->hs);
	c->hs = NULL;
	reply.hello_reply.ver = ver;
	reply.hello_reply.suite = suite;
	reply.hello_reply.hs.data = msg2;
	reply.hello_reply.hs.len = n2;
	rc = proto_chan_send(c->chan, &reply, NULL);
	/* Everything after HELLO_REPLY is sealed. The client counts as
	 * authenticated only when its first record opens (msg1 may be a replay). */
	proto_chan_set_session(c->chan, s);
	proto_chan_set_state(c->chan, PROTO_STATE_HANDSHAKE);
	if (rc < 0) {
		conn_close(c, bw_strerror(rc));
		return 1;
	}
	return 0;
}

/* The relay asks for work connections: REQ_WORK_CONN on the control connection. */
static void want_work_conns(void *arg, unsigned n)
{
	struct rdv_conn *c = arg;
	struct proto_msg m = { .type = PROTO_MSG_REQ_WORK_CONN };

	m.req_work_conn.count = n;
	if (proto_chan_send(c->chan, &m, NULL) < 0)
		log_warn("rdv: client %s: cannot queue REQ_WORK_CONN", c->addr);
}

static const struct relay_client_ops relay_ops = { .want_work_conns = want_work_conns };

static struct rdv_conn *client_find(struct rdv *r, const char *run_id)
{
	for (struct rdv_conn *c = r->conns; c; c = c->next)
		if (c->logged_in && strcmp(c->run_id, run_id) == 0)
			return c;
	return NULL;
}

static int on_login(struct rdv_conn *c, const struct proto_login *l)
{
	struct rdv *r = c->rdv;
	struct proto_msg resp = { .type = PROTO_MSG_LOGIN_RESP };
	struct rdv_conn *old;
	char name[BW_ADDR_STRLEN + 32];
	uint8_t rnd[8];
	int rc;

	if (l->run_id[0] && strlen(l->run_id) < sizeof(c->run_id)) {
		/* A reconnecting client keeps its run id, so its proxies keep
		 * their identity across a server or network hiccup. */
		snprintf(c->run_id, sizeof(c->run_id), "%s", l->run_id);
	} else {
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(c->run_id, sizeof(c->run_id), rnd, sizeof(rnd));
	}
	snprintf(c->user, sizeof(c->user), "%s", l->user);
	old = client_find(r, c->run_id);
	if (old) {
		/* The same client is back (its old connection has not timed out
		 * yet): the new session replaces the old one, as frp does. */
		conn_close(old, "replaced by a new login of the same client");
	}
	snprintf(name, sizeof(name), "%s", c->addr);
	c->rc = relay_client_new(r->relay, c->user, name, (unsigned)l->pool_count, &relay_ops, c,
				 &rc);
	if (c->rc)
		rc = bw_crypto_session_export(proto_chan_session(c->chan), "burrow work-conn",
					      c->work_key, sizeof(c->work_key));
	if (rc < 0) {
		conn_close(c, bw_strerror(rc));
		return 1;
	}
	bw_crypto_replay_init(&c->work_counters);
	resp.login_resp.run_id = c->run_id;
	resp.login_resp.udp_port = r->conf->bind_udp_port;
	resp.login_resp.server_version = BW_VERSION;
	rc = proto_chan_send(c->chan, &resp, NULL);
	if (rc < 0) {
		conn_close(c, bw_strerror(rc));
		return 1;
	}
	c->logged_in = 1;
	r->stats.clients++;
	r->stats.logins++;
	proto_chan_set_state(c->chan, PROTO_STATE_CONTROL);
	proto_chan_set_read_timeout(c->chan, r->conf->heartbeat_timeout_s > 0 ?
				    r->conf->heartbeat_timeout_s * 1000 : 0);
	log_info("rdv: client %s logged in (run id %s, user \"%s\", host \"%s\", burrow %s, %s/%s)",
		 c->addr, c->run_id, l->user, l->hostname, l->version, l->os, l->arch);
	return 0;
}

static int on_new_proxy(struct rdv_conn *c, const struct proto_new_proxy *np)
{
	struct proto_msg resp = { .type = PROTO_MSG_NEW_PROXY_RESP };
	char remote[PROTO_HOST_MAX + 16] = "", err[PROTO_ERROR_TEXT_MAX] = "";
	int rc = relay_proxy_open(c->rc, np, remote, sizeof(remote), err, sizeof(err));

	if (rc < 0)
		log_warn("rdv: client %s: proxy %s (%s) refused: %s", c->addr, np->name, np->type,
			 err);
	else
		log_info("rdv: client %s: proxy %s (%s) started%s%s", c->addr, np->name,
			 np->type, remote[0] ? " at " : "", remote);
	resp.new_proxy_resp.name = np->name;
	resp.new_proxy_resp.remote_addr = remote;
	resp.new_proxy_resp.error = err;
	if (proto_chan_send(c->chan, &resp, NULL) < 0) {
		conn_close(c, "cannot queue NEW_PROXY_RESP");
		return 1;
	}
	return 0;
}

/* First frame of a work connection: check the ticket, hand it to the relay. */
static int on_new_work_conn(struct rdv_conn *c, const struct proto_new_work_conn *w)
{
	struct rdv *r = c->rdv;
	struct rdv_conn *owner = client_find(r, w->run_id);
	uint8_t input[PROTO_TICKET_INPUT_MAX];
	char label[48];
	size_t len;
	struct bw_crypto_session *s;
	struct bufferevent *bev;
	int rc;

	if (!owner) {
		log_ratelimited(LOG_WARN, "rdv: work connection from %s: unknown run id", c->addr);
		return rdv_conn_refuse(c, PROTO_ERRCODE_NOT_FOUND, "unknown run id");
	}
	len = proto_ticket_input("work", w->run_id, w->counter, NULL, input);
	if (bw_crypto_replay_check(&owner->work_counters, w->counter) < 0 ||
	    bw_crypto_mac_verify(owner->work_key, input, len, w->mac) < 0) {
		log_ratelimited(LOG_WARN, "rdv: work connection from %s for client %s: bad or "
				"replayed ticket", c->addr, owner->addr);
		return rdv_conn_refuse(c, PROTO_ERRCODE_AUTH_FAILED, "authentication failed");
	}
	bw_crypto_replay_update(&owner->work_counters, w->counter);
	snprintf(label, sizeof(label), "burrow work %llu", (unsigned long long)w->counter);
	s = bw_crypto_session_from_key(owner->work_key, label, BW_CRYPTO_RESPONDER,
				       (uint8_t)bw_crypto_session_suite(proto_chan_session(owner->chan)),
				       BW_CRYPTO_STREAM, &rc);
	if (!s) {
		conn_close(c, bw_strerror(rc));
		return 1;
	}
	bev = proto_chan_detach(c->chan);
	c->chan = NULL;
	conn_close(c, NULL);
	relay_client_work_conn(owner->rc, bev, s);
	return 1;
}

/* First frame of a visitor connection: check the visitor's ticket, then let
 * the relay check the proof of the secret and join it to the owner. */
static int on_new_visitor_conn(struct rdv_conn *c, const struct proto_new_visitor_conn *v)
{
	struct rdv_conn *visitor = client_find(c->rdv, v->run_id);
	uint8_t input[PROTO_TICKET_INPUT_MAX];
	struct bufferevent *bev;
	size_t len;

	if (!visitor) {
		log_ratelimited(LOG_WARN, "rdv: visitor connection from %s: unknown run id", c->addr);
		return rdv_conn_refuse(c, PROTO_ERRCODE_NOT_FOUND, "unknown run id");
	}
	len = proto_ticket_input("work", v->run_id, v->counter, NULL, input);
	if (bw_crypto_replay_check(&visitor->work_counters, v->counter) < 0 ||
	    bw_crypto_mac_verify(visitor->work_key, input, len, v->mac) < 0) {
		log_ratelimited(LOG_WARN, "rdv: visitor connection from %s for client %s: bad or "
				"replayed ticket", c->addr, visitor->addr);
		return rdv_conn_refuse(c, PROTO_ERRCODE_AUTH_FAILED, "authentication failed");
	}
	bw_crypto_replay_update(&visitor->work_counters, v->counter);
	bev = proto_chan_detach(c->chan);
	c->chan = NULL;
	relay_visitor_conn(c->rdv->relay, bev, visitor->user, v, c->addr);
	conn_close(c, NULL);
	return 1;
}

static int on_nat_report(struct rdv_conn *c, const struct proto_nat_report *n)
{
	struct nat_report rep = {
		.type = (uint8_t)n->nat_type, .udp = (uint8_t)n->udp,
		.mapping = (uint8_t)n->mapping, .filtering = (uint8_t)n->filtering,
		.alloc = (uint8_t)n->port_alloc, .hairpin = (uint8_t)n->hairpin,
		.port_preserving = (uint8_t)n->port_preserving, .untested = (uint8_t)n->untested,
		.port_delta = (int16_t)(uint16_t)n->port_delta,
	};
	char buf[256];

	if (nat_report_check(&rep) < 0) {
		log_ratelimited(LOG_WARN, "rdv: client %s: NAT report out of range", c->addr);
		return 0;
	}
	c->nat = rep;
	c->has_nat = true;
	nat_report_format(&rep, buf, sizeof(buf));
	log_info("rdv: client %s: NAT %s", c->addr, buf);
	return 0;
}

static int on_msg(struct proto_chan *ch, struct proto_msg *m, void *arg)
{
	struct rdv_conn *c = arg;
	struct proto_msg pong = { .type = PROTO_MSG_PONG };

	switch (m->type) {
	case PROTO_MSG_HELLO:
		return on_hello(c, &m->hello);
	case PROTO_MSG_LOGIN:
		return on_login(c, &m->login);
	case PROTO_MSG_NEW_PROXY:
		return on_new_proxy(c, &m->new_proxy);
	case PROTO_MSG_CLOSE_PROXY:
		if (relay_proxy_close(c->rc, m->close_proxy.name) == 0)
			log_info("rdv: client %s: proxy %s closed", c->addr, m->close_proxy.name);
		return 0;
	case PROTO_MSG_NEW_WORK_CONN:
		return on_new_work_conn(c, &m->new_work_conn);
	case PROTO_MSG_NEW_VISITOR_CONN:
		return on_new_visitor_conn(c, &m->new_visitor_conn);
	case PROTO_MSG_NAT_REPORT:
		return on_nat_report(c, &m->nat_report);
	case PROTO_MSG_P2P_OPEN:
	case PROTO_MSG_P2P_ANSWER:
	case PROTO_MSG_P2P_CANDIDATE:
	case PROTO_MSG_P2P_CLOSE:
	case PROTO_MSG_P2P_STATUS:
		return rdv_pair_msg(c, m);
	case PROTO_MSG_PING:
		pong.pong.seq = m->ping.seq;
		if (proto_chan_send(ch, &pong, NULL) < 0) {
			conn_close(c, "cannot queue PONG");
			return 1;
		}
		return 0;
	case PROTO_MSG_ERROR:
		log_info("rdv: %s: client reports error %s: %s", c->addr,
			 proto_errcode_name(m->error.code), m->error.message);
		conn_close(c, "client gave up");
		return 1;
	default:
		log_ratelimited(LOG_WARN, "rdv: %s: %s not supported by this server", c->addr,
				proto_msg_name(m->type));
		return rdv_conn_refuse(c, PROTO_ERRCODE_UNSUPPORTED, "message not supported");
	}
}

static void on_error(struct proto_chan *ch, int rc, const struct proto_err *err, void *arg)
{
	struct rdv_conn *c = arg;
	char buf[160];

	if (rc == BW_E_TIMEOUT) {
		conn_close(c, c->logged_in ? "heartbeat timeout" : "no login within 10 s");
	} else if (err && err->code) {
		/* A malformed, unexpected or oversized frame: say why, then close. */
		proto_err_format(err, buf, sizeof(buf));
		log_ratelimited(LOG_WARN, "rdv: %s: %s", c->addr, buf);
		rdv_conn_refuse(c, rc == BW_E_FRAME_TOO_BIG ? PROTO_ERRCODE_LIMIT :
			    PROTO_ERRCODE_MALFORMED, buf);
	} else if (rc == BW_E_DECRYPT) {
		if (!c->logged_in)
			c->rdv->stats.auth_failures++;
		log_ratelimited(LOG_WARN, "rdv: %s: %s", c->addr, bw_strerror(rc));
		conn_close(c, bw_strerror(rc));
	} else {
		conn_close(c, rc == BW_E_CLOSED ? "connection closed" : bw_strerror(rc));
	}
}

static const struct proto_chan_cbs conn_cbs = {
	.on_msg = on_msg,
	.on_error = on_error,
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct rdv *r = arg;
	struct rdv_conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev;
	int one = 1, rc;

	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->chan = proto_chan_new(bev, PROTO_SIDE_SERVER, &conn_cbs, c, &rc);
	if (!c->chan) {
		bufferevent_free(bev);
		free(c);
		return;
	}
	c->rdv = r;
	c->id = ++r->next_id;
	bw_addr_format(sa, c->addr, sizeof(c->addr));
	proto_chan_set_read_timeout(c->chan, RDV_LOGIN_TIMEOUT_MS);
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct rdv *r = arg;

	relay_listener_on_error(l, &r->resume, "rdv: control port");
}

struct rdv *rdv_new(struct event_base *base, const struct conf_server *conf,
		    struct relay *relay, int *rc)
{
	struct rdv *r = calloc(1, sizeof(*r));

	if (!r) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	r->base = base;
	r->conf = conf;
	r->relay = relay;
	*rc = bw_crypto_psk_from_token(conf->token ? conf->token : "",
				       conf->token ? strlen(conf->token) : 0, r->psk);
	if (*rc < 0) {
		free(r);
		return NULL;
	}
	return r;
}

void rdv_free(struct rdv *r)
{
	if (!r)
		return;
	while (r->conns)
		conn_close(r->conns, NULL);
	if (r->listener)
		evconnlistener_free(r->listener);
	if (r->resume)
		event_free(r->resume);
	sodium_memzero(r->psk, sizeof(r->psk));
	free(r);
}

int rdv_listener_open(struct rdv *r)
{
	struct evutil_addrinfo hints = {0}, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8], addr[BW_ADDR_STRLEN];
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
	snprintf(port, sizeof(port), "%u", r->conf->bind_port);
	rc = evutil_getaddrinfo(r->conf->bind_addr, port, &hints, &ai);
	if (rc != 0)
		return BW_E_CONF_VALUE;
	r->listener = evconnlistener_new_bind(r->base, on_accept, r,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					      LEV_OPT_CLOSE_ON_EXEC, 511, ai->ai_addr,
					      (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (!r->listener)
		return -errno;
	evconnlistener_set_error_cb(r->listener, on_accept_error);
	getsockname(evconnlistener_get_fd(r->listener), (struct sockaddr *)&ss, &sl);
	r->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	log_info("burrowd: control listening on %s",
		 bw_addr_format((struct sockaddr *)&ss, addr, sizeof(addr)));
	return 0;
}

uint16_t rdv_listener_port(const struct rdv *r)
{
	return r->port;
}

void rdv_stats(const struct rdv *r, struct rdv_stats *out)
{
	*out = r->stats;
}
