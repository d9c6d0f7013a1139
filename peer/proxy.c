/*
 * burrow's proxies: registration with NEW_PROXY after each login, and the work
 * connections that carry user connections to the local services.
 *
 * A work connection is a new TCP connection to burrowd whose first frame,
 * NEW_WORK_CONN, carries a ticket (a MAC under a key exported from the
 * control session, over the run id and a counter). burrowd answers with
 * START_WORK_CONN, sealed under a key derived from the same export, when a
 * user connection needs it; burrow then connects to the local service and
 * relays.
 */
#include "peer/peer_int.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"
#include "relay/relay.h"

/* A work connection from dial until it is relayed or dropped. */
struct peer_work {
	struct peer *peer;
	struct peer_work *next, *prev;     /* in peer->works */
	struct proto_chan *chan;           /* until START_WORK_CONN */
	struct bufferevent *work;          /* after it */
	struct bufferevent *local;         /* connecting to the local service */
	struct bw_crypto_session *session;
	const struct conf_proxy *proxy;
	struct peer_proxy *pp;
	uint64_t counter;
	char who[BW_ADDR_STRLEN + 8];
};

static const struct proto_chan_cbs work_cbs;

/* A relayed connection: what is logged when it closes. */
struct peer_conn {
	struct peer *peer;
	struct peer_conn *next, *prev;
	struct relay_pair *pair;
	char *proxy;
	char *who;
	struct peer_traffic *traffic;  /* counted into at close; may be NULL */
};

static void work_free(struct peer_work *w)
{
	struct peer *p = w->peer;

	if (w->prev)
		w->prev->next = w->next;
	else
		p->works = w->next;
	if (w->next)
		w->next->prev = w->prev;
	proto_chan_free(w->chan);
	if (w->work)
		bufferevent_free(w->work);
	if (w->local)
		bufferevent_free(w->local);
	bw_crypto_session_free(w->session);
	free(w);
}

static void on_conn_closed(void *arg, const struct relay_pair_stats *st)
{
	struct peer_conn *c = arg;
	struct peer *p = c->peer;

	log_info("burrow: %s: %s closed: %s (%llu B in, %llu B out, %.1f s)", c->proxy, c->who,
		 st->reason, (unsigned long long)st->bytes_b_to_a,
		 (unsigned long long)st->bytes_a_to_b, st->duration_ms / 1000.0);
	if (c->traffic) {
		c->traffic->tx += st->bytes_a_to_b;
		c->traffic->rx += st->bytes_b_to_a;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->proxy);
	free(c->who);
	free(c);
}

void peer_conn_start(struct peer *p, const char *label, const char *who,
		     struct bufferevent *a, struct bufferevent *b, struct bw_crypto_session *s,
		     struct peer_traffic *t)
{
	struct relay_pair_opts opts = { .closed = on_conn_closed, .seal_b = s };
	struct peer_conn *c = calloc(1, sizeof(*c));
	int rc;

	if (!c || !(c->proxy = strdup(label)) || !(c->who = strdup(who)))
		goto fail;
	c->peer = p;
	c->traffic = t;
	opts.arg = c;
	c->pair = relay_pair_new(a, b, &opts, &rc);
	if (!c->pair)
		goto fail;
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	log_debug("burrow: %s: %s connected", label, who);
	relay_pair_start(c->pair);
	return;
fail:
	if (c) {
		free(c->proxy);
		free(c->who);
		free(c);
	}
	bufferevent_free(a);
	bufferevent_free(b);
	bw_crypto_session_free(s);
}

struct peer_traffic peer_conns_traffic(const struct peer *p, const struct peer_traffic *t)
{
	struct peer_traffic sum = *t;
	struct relay_pair_stats st;

	for (const struct peer_conn *c = p->conns; c; c = c->next) {
		if (c->traffic != t)
			continue;
		relay_pair_stats_get(c->pair, &st);
		sum.tx += st.bytes_a_to_b;
		sum.rx += st.bytes_b_to_a;
	}
	return sum;
}

void peer_conns_close(struct peer *p)
{
	while (p->conns)
		relay_pair_close(p->conns->pair, "burrow shutting down");
}

/* The owner's end of an end-to-end handshake is done: relay. */
static void on_owner_e2e_done(void *arg, int rc, struct bufferevent *bev,
			      struct bw_crypto_session *s)
{
	struct peer_work *w = arg;

	if (rc < 0) {
		log_warn("burrow: proxy %s: visitor %s: end-to-end handshake failed: %s%s",
			 w->proxy->name, w->who, bw_strerror(rc),
			 rc == BW_E_AUTH_FAILED ? " (the visitor's secretKey differs)" : "");
		w->work = NULL; /* freed by the handshake */
		work_free(w);
		return;
	}
	peer_conn_start(w->peer, w->pp->label, w->who, w->local, bev, s, NULL);
	w->local = NULL;
	w->work = NULL;
	work_free(w);
}

/* sudp, owner side: the visitor proved the secret; datagrams follow, sealed
 * end to end, on the same connection. */
static void on_owner_sudp_done(void *arg, int rc, struct bufferevent *bev,
			       struct bw_crypto_session *s)
{
	struct peer_work *w = arg;
	struct peer *p = w->peer;
	struct peer_proxy *pp = w->pp;
	struct proto_chan *ch;

	w->work = NULL; /* bev is the handshake's now: passed on or freed */
	if (rc < 0) {
		log_warn("burrow: %s: visitor %s: end-to-end handshake failed: %s", pp->label,
			 w->who, bw_strerror(rc));
		work_free(w);
		return;
	}
	work_free(w);
	ch = proto_chan_new(bev, PROTO_SIDE_CLIENT, &work_cbs, NULL, &rc);
	if (!ch) {
		bufferevent_free(bev);
		bw_crypto_session_free(s);
		return;
	}
	proto_chan_set_state(ch, PROTO_STATE_WORK);
	peer_udp_start(p, pp, ch, s);
}

/* Local service connected: relay it with the work connection. */
static void on_local_event(struct bufferevent *bev, short what, void *arg)
{
	struct peer_work *w = arg;
	struct peer_proxy *pp = w->pp;
	struct bw_crypto_session *s = NULL;

	if (!(what & BEV_EVENT_CONNECTED)) {
		int e = EVUTIL_SOCKET_ERROR();

		log_ratelimited(LOG_WARN, "burrow: proxy %s: local service %s:%u: %s",
				w->proxy->name, w->proxy->local_ip, w->proxy->local_port,
				(what & BEV_EVENT_TIMEOUT) ? "connect timed out" :
				bufferevent_socket_get_dns_error(bev) ? "cannot resolve" :
				e ? evutil_socket_error_to_string(e) : "connection failed");
		work_free(w);
		return;
	}
	/* The pair sets TCP_NODELAY on both sockets. */
	bufferevent_disable(w->local, EV_READ);
	bufferevent_set_timeouts(w->local, NULL, NULL);
	if (pp->secret) {
		/* The visitor speaks first: the handshake keyed by the secret. */
		bw_crypto_session_free(w->session);
		w->session = NULL;
		peer_e2e_start(w->work, BW_CRYPTO_RESPONDER, pp->psk, pp->wire_name,
			       on_owner_e2e_done, w);
		return;
	}
	if (w->proxy->use_encryption) {
		s = w->session;
		w->session = NULL;
	}
	peer_conn_start(w->peer, w->pp->label, w->who, w->local, w->work, s, NULL);
	w->local = NULL;
	w->work = NULL;
	work_free(w);
}

static struct peer_proxy *proxy_by_wire_name(struct peer *p, const char *name)
{
	for (size_t i = 0; i < p->n_proxies; i++)
		if (strcmp(p->proxies[i].wire_name, name) == 0)
			return &p->proxies[i];
	return NULL;
}

static int on_start_work_conn(struct peer_work *w, const struct proto_start_work_conn *s)
{
	struct peer *p = w->peer;

	w->pp = proxy_by_wire_name(p, s->proxy_name);
	w->proxy = w->pp ? w->pp->conf : NULL;
	if (!w->proxy) {
		log_warn("burrow: server started a work connection for unknown proxy %s",
			 s->proxy_name);
		work_free(w);
		return 1;
	}
	snprintf(w->who, sizeof(w->who), "%s:%u", s->src_addr, (unsigned)s->src_port);
	log_debug("burrow: %s: work connection %llu starts for %s (to %s:%u)", w->pp->label,
		  (unsigned long long)w->counter, w->who, s->dst_addr, (unsigned)s->dst_port);
	if (s->has_sid) {
		/* The relayed path of a P2P session, not a user connection: the
		 * session seals its own datagrams end to end. */
		struct bufferevent *bev;

		bw_crypto_session_free(proto_chan_take_session(w->chan));
		bev = proto_chan_detach(w->chan);
		w->chan = NULL;
		work_free(w);
		peer_session_relay_attach(p, s->sid, bev);
		return 1;
	}
	if (w->proxy->type == CONF_PROXY_UDP) {
		struct bw_crypto_session *ses = proto_chan_take_session(w->chan);
		struct proto_chan *ch = w->chan;

		w->chan = NULL;
		work_free(w);
		peer_udp_start(p, proxy_by_wire_name(p, s->proxy_name), ch, ses);
		return 1;
	}
	if (w->proxy->type == CONF_PROXY_SUDP) {
		/* No local connection yet: first the handshake keyed by the
		 * secret with the visitor, then datagrams both ways. */
		bw_crypto_session_free(proto_chan_take_session(w->chan));
		w->work = proto_chan_detach(w->chan);
		w->chan = NULL;
		bufferevent_disable(w->work, EV_READ);
		peer_e2e_start(w->work, BW_CRYPTO_RESPONDER, w->pp->psk, w->pp->wire_name,
			       on_owner_sudp_done, w);
		return 1;
	}
	w->session = proto_chan_take_session(w->chan);
	w->work = proto_chan_detach(w->chan);
	w->chan = NULL;
	/* Keep reading what the user sends meanwhile (the pair takes it over,
	 * and the socket's registration with it), up to a bound. */
	bufferevent_setwatermark(w->work, EV_READ, 0, RELAY_PAIR_HIGH_WM);
	/* Not deferred: the pair starts in the same loop pass as the connect
	 * completes (libevent defers an immediate connect failure itself). */
	w->local = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!w->local) {
		work_free(w);
		return 1;
	}
	bufferevent_setcb(w->local, NULL, NULL, on_local_event, w);
	{
		/* The write timeout bounds the connect. */
		struct timeval tv = { PROTO_CONNECT_TIMEOUT_MS / 1000, 0 };

		bufferevent_set_timeouts(w->local, NULL, &tv);
	}
	if (bufferevent_socket_connect_hostname(w->local, p->dns, AF_UNSPEC, w->proxy->local_ip,
						w->proxy->local_port) < 0) {
		log_warn("burrow: proxy %s: cannot connect to %s:%u", w->proxy->name,
			 w->proxy->local_ip, w->proxy->local_port);
		work_free(w);
	}
	return 1;
}

static int on_work_msg(struct proto_chan *ch, struct proto_msg *m, void *arg)
{
	struct peer_work *w = arg;

	if (m->type == PROTO_MSG_START_WORK_CONN)
		return on_start_work_conn(w, &m->start_work_conn);
	log_ratelimited(LOG_WARN, "burrow: unexpected %s on a work connection",
			proto_msg_name(m->type));
	work_free(w);
	return 1;
}

static void on_work_error(struct proto_chan *ch, int rc, const struct proto_err *err, void *arg)
{
	struct peer_work *w = arg;

	if (rc != BW_E_CLOSED)
		log_debug("burrow: work connection %llu: %s", (unsigned long long)w->counter,
			  bw_strerror(rc));
	work_free(w);
}

/* Connected to burrowd: present the ticket. */
static void on_work_connect(struct proto_chan *ch, void *arg)
{
	struct peer_work *w = arg;
	struct peer *p = w->peer;
	struct proto_msg m = { .type = PROTO_MSG_NEW_WORK_CONN };
	uint8_t input[PROTO_TICKET_INPUT_MAX];
	char label[48];
	size_t n;
	struct bw_crypto_session *s;
	int rc;

	n = proto_ticket_input("work", p->run_id, w->counter, NULL, input);
	m.new_work_conn.run_id = p->run_id;
	m.new_work_conn.counter = w->counter;
	bw_crypto_mac(p->work_key, input, n, m.new_work_conn.mac);
	rc = proto_chan_send(ch, &m, NULL);
	snprintf(label, sizeof(label), "burrow work %llu", (unsigned long long)w->counter);
	s = rc < 0 ? NULL : bw_crypto_session_from_key(p->work_key, label, BW_CRYPTO_INITIATOR,
						       p->suite, BW_CRYPTO_STREAM, &rc);
	if (!s) {
		work_free(w);
		return;
	}
	proto_chan_set_session(ch, s);
	proto_chan_set_state(ch, PROTO_STATE_WORK);
	/* A pooled work connection may wait a long time for a user. */
	proto_chan_set_read_timeout(ch, 0);
}

static const struct proto_chan_cbs work_cbs = {
	.on_connect = on_work_connect,
	.on_msg = on_work_msg,
	.on_error = on_work_error,
};

void peer_work_open(struct peer *p, unsigned n)
{
	while (n--) {
		struct peer_work *w = calloc(1, sizeof(*w));
		struct bufferevent *bev;
		int rc;

		if (!w)
			return;
		bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE |
					     BEV_OPT_DEFER_CALLBACKS);
		w->chan = bev ? proto_chan_new(bev, PROTO_SIDE_CLIENT, &work_cbs, w, &rc) : NULL;
		if (!w->chan) {
			if (bev)
				bufferevent_free(bev);
			free(w);
			return;
		}
		w->peer = p;
		w->counter = ++p->work_counter;
		w->next = p->works;
		if (p->works)
			p->works->prev = w;
		p->works = w;
		proto_chan_set_read_timeout(w->chan, 10000);
		if (bufferevent_socket_connect_hostname(bev, p->dns, AF_UNSPEC,
							p->conf->server_addr,
							p->conf->server_port) < 0)
			log_warn("burrow: cannot open a work connection to %s:%u",
				 p->conf->server_addr, p->conf->server_port);
	}
}

/* After each login: register every proxy the configuration starts. */
void peer_proxies_register(struct peer *p)
{
	if (!p->proxies)
		return; /* `burrow nat`: logged in only to probe */
	for (size_t i = 0; i < p->n_proxies; i++) {
		const struct conf_proxy *cp = p->proxies[i].conf;
		struct proto_msg m = { .type = PROTO_MSG_NEW_PROXY };
		struct proto_new_proxy *np = &m.new_proxy;
		struct proto_err err = {0};
		/* One more than allowed: too many headers fail to encode, with
		 * the field named, instead of being cut silently. */
		struct proto_kv headers[PROTO_HEADERS_MAX + 1];
		char buf[160];

		np->name = p->proxies[i].wire_name;
		np->type = conf_proxy_type_name(cp->type);
		np->has_remote_port = true;
		np->remote_port = cp->remote_port;
		np->has_use_encryption = true;
		np->use_encryption = cp->use_encryption;
		np->has_use_compression = true;
		np->use_compression = cp->use_compression;
		if (cp->n_allow_users) {
			np->has_allow_users = true;
			np->allow_users.v = (const char **)cp->allow_users;
			np->allow_users.n = cp->n_allow_users;
		}
		/* http and https: routes and rewrites (frp's names in the comments). */
		if (cp->n_custom_domains) {           /* customDomains */
			np->has_custom_domains = true;
			np->custom_domains.v = (const char **)cp->custom_domains;
			np->custom_domains.n = cp->n_custom_domains;
		}
		if (cp->subdomain && cp->subdomain[0]) {
			np->has_subdomain = true;
			np->subdomain = cp->subdomain;
		}
		if (cp->n_locations) {
			np->has_locations = true;
			np->locations.v = (const char **)cp->locations;
			np->locations.n = cp->n_locations;
		}
		if (cp->host_header_rewrite && cp->host_header_rewrite[0]) {
			np->has_host_header_rewrite = true;
			np->host_header_rewrite = cp->host_header_rewrite;
		}
		if (cp->http_user && cp->http_user[0]) {
			np->has_http_user = true;
			np->http_user = cp->http_user;
		}
		if (cp->http_password && cp->http_password[0]) {
			np->has_http_password = true;
			np->http_password = cp->http_password;
		}
		if (cp->n_request_headers) {          /* requestHeaders.set */
			size_t n = cp->n_request_headers < BW_ARRAY_LEN(headers) ?
				   cp->n_request_headers : BW_ARRAY_LEN(headers);

			for (size_t k = 0; k < n; k++) {
				headers[k].key = cp->request_headers[k].key;
				headers[k].value = cp->request_headers[k].value;
			}
			np->has_headers = true;
			np->headers.kv = headers;
			np->headers.n = n;
		}
		if (p->proxies[i].secret) {
			np->has_sk_verifier = true;
			memcpy(np->sk_verifier, p->proxies[i].verifier, sizeof(np->sk_verifier));
		}
		if (proto_chan_send(p->ctl, &m, &err) < 0) {
			log_error("burrow: proxy %s: cannot register: %s", cp->name,
				  proto_err_format(&err, buf, sizeof(buf)));
			continue;
		}
		p->proxies[i].state = PEER_PROXY_PENDING;
	}
	if (p->conf->pool_count > 0)
		peer_work_open(p, (unsigned)p->conf->pool_count);
}

void peer_proxy_registered(struct peer *p, const struct proto_new_proxy_resp *r)
{
	for (size_t i = 0; i < p->n_proxies; i++) {
		struct peer_proxy *pp = &p->proxies[i];

		if (strcmp(pp->wire_name, r->name) != 0)
			continue;
		if (r->error[0]) {
			pp->state = PEER_PROXY_REFUSED;
			log_error("burrow: proxy %s: start error: %s", pp->conf->name, r->error);
		} else {
			pp->state = PEER_PROXY_RUNNING;
			snprintf(pp->remote, sizeof(pp->remote), "%s", r->remote_addr);
			log_info("burrow: proxy %s: started (%s %s:%u -> %s)", pp->conf->name,
				 conf_proxy_type_name(pp->conf->type), pp->conf->local_ip,
				 pp->conf->local_port, r->remote_addr[0] ? r->remote_addr : "server");
		}
		return;
	}
}

int peer_proxies_init(struct peer *p)
{
	const struct conf_client *conf = p->conf;

	p->proxies = calloc(conf->n_proxies ? conf->n_proxies : 1, sizeof(*p->proxies));
	if (!p->proxies)
		return BW_E_NOMEM;
	for (size_t i = 0; i < conf->n_proxies; i++) {
		const struct conf_proxy *cp = &conf->proxies[i];

		if (!conf_proxy_runs(conf, cp))
			continue;
		struct peer_proxy *pp = &p->proxies[p->n_proxies++];
		pp->conf = cp;
		snprintf(pp->label, sizeof(pp->label), "proxy %s", cp->name);
		/* frp's server-side name: "user.name" when the client has a user. */
		if (conf->user && conf->user[0])
			snprintf(pp->wire_name, sizeof(pp->wire_name), "%s.%s", conf->user, cp->name);
		else
			snprintf(pp->wire_name, sizeof(pp->wire_name), "%s", cp->name);
		pp->secret = cp->type == CONF_PROXY_STCP || cp->type == CONF_PROXY_SUDP ||
			     cp->type == CONF_PROXY_XTCP;
		if (pp->secret) {
			const char *sk = cp->secret_key ? cp->secret_key : "";
			const char *user = conf->user ? conf->user : "";
			int rc = bw_crypto_psk_from_secret(sk, strlen(sk), user, cp->name, pp->psk);

			if (rc == 0)
				rc = bw_crypto_verifier_from_secret(sk, strlen(sk), user, cp->name,
								    pp->verifier);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

void peer_proxies_fini(struct peer *p)
{
	while (p->works)
		work_free(p->works);
	peer_udps_fini(p);
	peer_conns_close(p);
	for (size_t i = 0; i < p->n_proxies; i++) {
		sodium_memzero(p->proxies[i].psk, sizeof(p->proxies[i].psk));
		sodium_memzero(p->proxies[i].verifier, sizeof(p->proxies[i].verifier));
	}
	free(p->proxies);
	p->proxies = NULL;
	p->n_proxies = 0;
}
