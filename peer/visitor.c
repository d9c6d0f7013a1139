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
#include <stdlib.h>
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

struct peer_visitor {
	struct peer *peer;
	const struct conf_visitor *conf;
	struct evconnlistener *listener;
	char wire_name[PROTO_PROXY_NAME_MAX + 1];  /* the owner's proxy as burrowd names it */
	char label[PROTO_PROXY_NAME_MAX + 16];      /* "visitor ssh-home", for logs */
	const char *server_user;                   /* the owner's user */
	uint8_t psk[BW_CRYPTO_KEY_LEN];
	uint8_t verifier[BW_CRYPTO_KEY_LEN];
};

/* One visiting connection, from accept until it is relayed or dropped. */
struct peer_visit {
	struct peer_visitor *v;
	struct peer_visit *next, *prev;   /* in peer->visits */
	struct bufferevent *user;
	struct proto_chan *chan;          /* to burrowd, until the response */
	char who[BW_ADDR_STRLEN];
};

static void visit_free(struct peer_visit *x)
{
	struct peer *p = x->v->peer;

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

static void on_e2e_done(void *arg, int rc, struct bufferevent *bev, struct bw_crypto_session *s)
{
	struct peer_visit *x = arg;
	struct peer_visitor *v = x->v;

	if (rc < 0) {
		log_warn("burrow: visitor %s: %s: end-to-end handshake with the owner failed: %s%s",
			 v->conf->name, x->who, bw_strerror(rc),
			 rc == BW_E_AUTH_FAILED || rc == BW_E_CLOSED ? " (wrong secretKey?)" : "");
		visit_free(x);
		return;
	}
	peer_conn_start(v->peer, v->label, x->who, x->user, bev, s);
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
	uint8_t input[PROTO_TICKET_INPUT_MAX];
	size_t len;

	nv->run_id = p->run_id;
	nv->counter = ++p->work_counter;
	nv->proxy_name = v->wire_name;
	nv->server_user = v->server_user;
	nv->use_encryption = true;
	nv->use_compression = false;
	len = proto_ticket_input("work", p->run_id, nv->counter, NULL, input);
	bw_crypto_mac(p->work_key, input, len, nv->mac);
	len = proto_ticket_input("visit", p->run_id, nv->counter, v->wire_name, input);
	bw_crypto_mac(v->verifier, input, len, nv->proof);
	if (proto_chan_send(ch, &m, NULL) < 0) {
		visit_free(x);
		return;
	}
	proto_chan_set_state(ch, PROTO_STATE_WORK);
}

static const struct proto_chan_cbs visit_cbs = {
	.on_connect = on_visit_connect,
	.on_msg = on_visit_msg,
	.on_error = on_visit_error,
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct peer_visitor *v = arg;
	struct peer *p = v->peer;
	struct peer_visit *x;
	struct bufferevent *bev;
	int one = 1, rc;

	if (p->ctl_state != PEER_CTL_LOGGED_IN) {
		log_ratelimited(LOG_WARN, "burrow: visitor %s: not logged in to burrowd yet; "
				"connection refused", v->conf->name);
		evutil_closesocket(fd);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		evutil_closesocket(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	x->v = v;
	bw_addr_format(sa, x->who, sizeof(x->who));
	x->next = p->visits;
	if (p->visits)
		p->visits->prev = x;
	p->visits = x;
	x->user = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	x->chan = bev ? proto_chan_new(bev, PROTO_SIDE_CLIENT, &visit_cbs, x, &rc) : NULL;
	if (!x->user || !x->chan) {
		if (bev && !x->chan)
			bufferevent_free(bev);
		visit_free(x);
		return;
	}
	proto_chan_set_read_timeout(x->chan, 10000);
	if (bufferevent_socket_connect_hostname(bev, p->dns, AF_UNSPEC, p->conf->server_addr,
						p->conf->server_port) < 0)
		log_warn("burrow: visitor %s: cannot connect to burrowd", v->conf->name);
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
		if (cv->type == CONF_PROXY_SUDP) {
			log_warn("burrow: visitor %s: sudp visitors are not supported yet; skipped",
				 cv->name);
			continue;
		}
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
			rc = visitor_listen(p, v);
		if (rc < 0) {
			log_error("burrow: visitor %s: cannot listen on %s:%d: %s", cv->name,
				  cv->bind_addr, cv->bind_port, bw_strerror(rc));
			return rc;
		}
		p->n_visitors++;
	}
	return 0;
}

void peer_visitors_fini(struct peer *p)
{
	while (p->visits)
		visit_free(p->visits);
	for (size_t i = 0; p->visitors && i < p->conf->n_visitors; i++) {
		if (p->visitors[i].listener)
			evconnlistener_free(p->visitors[i].listener);
		sodium_memzero(p->visitors[i].psk, sizeof(p->visitors[i].psk));
		sodium_memzero(p->visitors[i].verifier, sizeof(p->visitors[i].verifier));
	}
	free(p->visitors);
	p->visitors = NULL;
}
