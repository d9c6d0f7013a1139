/*
 * The relay's registry: clients, their proxies, the secret proxies visitors
 * can reach, and every relayed connection in progress.
 */
#include "relay/relay_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"

static const struct {
	const char *name;
	enum relay_proxy_kind kind;
} kinds[] = {
	{ "tcp", RELAY_PROXY_TCP },   { "udp", RELAY_PROXY_UDP },
	{ "http", RELAY_PROXY_HTTP }, { "https", RELAY_PROXY_HTTPS },
	{ "stcp", RELAY_PROXY_STCP }, { "sudp", RELAY_PROXY_SUDP },
	{ "xtcp", RELAY_PROXY_XTCP },
};

static void on_conn_closed(void *arg, const struct relay_pair_stats *st)
{
	struct relay_conn *rc = arg;
	struct relay *r = rc->relay;

	log_info("relay: proxy %s: %s closed: %s (%llu B in, %llu B out, %.1f s)", rc->proxy,
		 rc->who, st->reason, (unsigned long long)st->bytes_a_to_b,
		 (unsigned long long)st->bytes_b_to_a, st->duration_ms / 1000.0);
	r->stats.bytes_in += st->bytes_a_to_b;
	r->stats.bytes_out += st->bytes_b_to_a;
	r->stats.pairs_active--;
	if (rc->prev)
		rc->prev->next = rc->next;
	else
		r->conns = rc->next;
	if (rc->next)
		rc->next->prev = rc->prev;
	free(rc->proxy);
	free(rc->who);
	free(rc);
}

void relay_conn_start(struct relay *r, const char *proxy, const char *who,
		      struct bufferevent *a, struct bufferevent *b, struct bw_crypto_session *s)
{
	struct relay_conn *c = calloc(1, sizeof(*c));
	struct relay_pair_opts opts = { .closed = on_conn_closed, .seal_b = s };
	int rc;

	if (!c || !(c->proxy = strdup(proxy)) || !(c->who = strdup(who)))
		goto fail;
	opts.arg = c;
	c->relay = r;
	c->pair = relay_pair_new(a, b, &opts, &rc);
	if (!c->pair)
		goto fail;
	c->next = r->conns;
	if (r->conns)
		r->conns->prev = c;
	r->conns = c;
	r->stats.pairs_active++;
	r->stats.pairs_total++;
	log_debug("relay: proxy %s: %s connected", proxy, who);
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

struct relay *relay_new(struct event_base *base, const struct conf_server *conf, int *rc)
{
	struct relay *r = calloc(1, sizeof(*r));

	if (!r) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	r->base = base;
	r->conf = conf;
	*rc = 0;
	return r;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	while (r->clients)
		relay_client_free(r->clients);
	/* After the clients: their proxies' routes and waiters are gone. */
	relay_vhttp_free(r);
	relay_vhttps_free(r);
	while (r->conns)
		relay_pair_close(r->conns->pair, "server shutting down");
	free(r);
}

int relay_listeners_open(struct relay *r)
{
	int rc = relay_vhttp_listen(r);

	if (rc < 0)
		return rc;
	rc = relay_vhttps_listen(r);
	if (rc < 0)
		relay_vhttp_free(r);
	return rc;
}

void relay_stats(const struct relay *r, struct relay_stats *out)
{
	*out = r->stats;
}

static void proxy_free(struct relay_proxy *p)
{
	for (size_t i = 0; i < p->n_allow_users; i++)
		free(p->allow_users[i]);
	free(p->allow_users);
	free(p->name);
	free(p);
}

static struct relay_proxy *proxy_find(struct relay_client *c, const char *name)
{
	for (struct relay_proxy *p = c->proxies; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

/* frps: proxy names (with the user prefix) are unique per server. */
static struct relay_proxy *proxy_find_any(struct relay *r, const char *name)
{
	for (struct relay_client *c = r->clients; c; c = c->next) {
		struct relay_proxy *p = proxy_find(c, name);

		if (p)
			return p;
	}
	return NULL;
}

static struct relay_proxy *secret_find(struct relay *r, const char *name)
{
	for (struct relay_proxy *p = r->secret; p; p = p->reg_next)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

int relay_proxy_open(struct relay_client *c, const struct proto_new_proxy *req,
		     char *remote_addr, size_t ralen, char *err, size_t errlen)
{
	struct relay *r = c->relay;
	struct relay_proxy *p;
	size_t i;
	int rc;

	remote_addr[0] = '\0';
	for (i = 0; i < BW_ARRAY_LEN(kinds); i++)
		if (strcmp(kinds[i].name, req->type) == 0)
			break;
	if (i == BW_ARRAY_LEN(kinds)) {
		snprintf(err, errlen, "proxy type \"%s\" not supported by this server", req->type);
		return BW_E_UNSUPPORTED;
	}
	if (c->n_proxies >= PROTO_PROXIES_PER_CLIENT_MAX) {
		snprintf(err, errlen, "too many proxies for one client (at most %d)",
			 PROTO_PROXIES_PER_CLIENT_MAX);
		return BW_E_RANGE;
	}
	if (proxy_find_any(r, req->name)) {
		snprintf(err, errlen, "proxy name \"%s\" is already in use", req->name);
		return BW_E_EXISTS;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(req->name))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return BW_E_NOMEM;
	}
	p->client = c;
	p->kind = kinds[i].kind;
	if (req->has_allow_users && req->allow_users.n) {
		p->allow_users = calloc(req->allow_users.n, sizeof(char *));
		for (size_t j = 0; p->allow_users && j < req->allow_users.n; j++)
			if ((p->allow_users[j] = strdup(req->allow_users.v[j])))
				p->n_allow_users++;
	}
	p->use_encryption = req->has_use_encryption && req->use_encryption;
	switch (p->kind) {
	case RELAY_PROXY_TCP:
		rc = relay_tcp_open(p, req->has_remote_port ? (uint16_t)req->remote_port : 0,
				    err, errlen);
		if (rc == 0)
			snprintf(remote_addr, ralen, "%s:%u", r->conf->proxy_bind_addr &&
				 *r->conf->proxy_bind_addr ? r->conf->proxy_bind_addr :
				 r->conf->bind_addr, p->port);
		break;
	case RELAY_PROXY_UDP:
		rc = relay_udp_open(p, req->has_remote_port ? (uint16_t)req->remote_port : 0,
				    err, errlen);
		if (rc == 0)
			snprintf(remote_addr, ralen, "%s:%u", r->conf->proxy_bind_addr &&
				 *r->conf->proxy_bind_addr ? r->conf->proxy_bind_addr :
				 r->conf->bind_addr, p->port);
		break;
	case RELAY_PROXY_HTTP:
		rc = relay_vhttp_open(p, req, remote_addr, ralen, err, errlen);
		break;
	case RELAY_PROXY_HTTPS:
		rc = relay_vhttps_open(p, req, remote_addr, ralen, err, errlen);
		break;
	case RELAY_PROXY_STCP:
	case RELAY_PROXY_SUDP:
	case RELAY_PROXY_XTCP:
		if (!req->has_sk_verifier) {
			snprintf(err, errlen, "a %s proxy needs a secret key", req->type);
			rc = BW_E_MSG_MISSING;
			break;
		}
		if (secret_find(r, p->name)) {
			snprintf(err, errlen, "proxy name \"%s\" is already in use", req->name);
			rc = BW_E_EXISTS;
			break;
		}
		memcpy(p->verifier, req->sk_verifier, sizeof(p->verifier));
		p->has_verifier = true;
		p->reg_next = r->secret;
		r->secret = p;
		rc = 0;
		break;
	default:
		snprintf(err, errlen, "proxy type \"%s\" not supported by this server yet",
			 req->type);
		rc = BW_E_UNSUPPORTED;
		break;
	}
	if (rc < 0) {
		proxy_free(p);
		return rc;
	}
	p->next = c->proxies;
	c->proxies = p;
	c->n_proxies++;
	r->stats.proxies++;
	return 0;
}

int relay_proxy_close(struct relay_client *c, const char *name)
{
	struct relay *r = c->relay;
	struct relay_proxy **pp, *p;

	for (pp = &c->proxies; *pp && strcmp((*pp)->name, name) != 0; pp = &(*pp)->next)
		;
	p = *pp;
	if (!p)
		return BW_E_NOT_FOUND;
	*pp = p->next;
	/* Waiters of this proxy cannot be served any more. */
	for (struct relay_waiter *w = c->waiting, *next; w; w = next) {
		next = w->next;
		if (w->proxy == p)
			relay_waiter_free(w);
	}
	if (p->has_verifier) {
		struct relay_proxy **sp;

		for (sp = &r->secret; *sp && *sp != p; sp = &(*sp)->reg_next)
			;
		if (*sp)
			*sp = p->reg_next;
	}
	if (p->kind == RELAY_PROXY_TCP)
		relay_tcp_close(p);
	if (p->kind == RELAY_PROXY_UDP)
		relay_udp_close(p);
	if (p->kind == RELAY_PROXY_HTTP)
		relay_vhttp_close(p);
	if (p->kind == RELAY_PROXY_HTTPS)
		relay_vhttps_close(p);
	r->stats.proxies--;
	c->n_proxies--;
	proxy_free(p);
	return 0;
}

static void on_flushed(struct bufferevent *bev, void *arg)
{
	bufferevent_free(bev);
}

static void on_flush_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

/* Answer a visitor connection and hand it to the relayed pair, or refuse it
 * (then close once the answer is written). */
static void visitor_answer(struct bufferevent *bev, const char *proxy, const char *error)
{
	struct proto_msg m = { .type = PROTO_MSG_NEW_VISITOR_CONN_RESP };

	m.new_visitor_conn_resp.proxy_name = proxy;
	m.new_visitor_conn_resp.error = error;
	if (proto_frame_send(bufferevent_get_output(bev), NULL, &m, NULL) < 0 || !error[0])
		return;
	bufferevent_setcb(bev, NULL, on_flushed, on_flush_event, NULL);
	bufferevent_disable(bev, EV_READ);
	bufferevent_enable(bev, EV_WRITE);
}

/* An owner's work connection came for a waiting visitor: tell the owner
 * (START_WORK_CONN, sealed for it), accept the visitor, relay as they are. */
static void visitor_attach(struct relay_waiter *w, struct bufferevent *work,
			   struct bw_crypto_session *s)
{
	struct proto_msg m = { .type = PROTO_MSG_START_WORK_CONN };
	struct bufferevent *visitor = w->bev;
	char who[BW_ADDR_STRLEN + 16];

	m.start_work_conn.proxy_name = w->proxy->name;
	m.start_work_conn.src_addr = w->src;
	m.start_work_conn.src_port = w->src_port;
	m.start_work_conn.dst_addr = w->dst;
	m.start_work_conn.dst_port = 0;
	m.start_work_conn.has_sid = w->sid != 0;
	m.start_work_conn.sid = w->sid;
	w->bev = NULL;
	if (proto_frame_send(bufferevent_get_output(work), s, &m, NULL) < 0) {
		bufferevent_free(visitor);
		bufferevent_free(work);
		bw_crypto_session_free(s);
		return;
	}
	bw_crypto_session_free(s); /* the peers seal end to end */
	visitor_answer(visitor, w->proxy->name, "");
	snprintf(who, sizeof(who), "visitor %s:%u", w->src, w->src_port);
	w->proxy->conns++;
	relay_conn_start(w->client->relay, w->proxy->name, who, visitor, work, NULL);
}

static bool visitor_allowed(const struct relay_proxy *p, const char *user)
{
	if (strcmp(p->client->user, user) == 0)
		return true;
	for (size_t i = 0; i < p->n_allow_users; i++)
		if (strcmp(p->allow_users[i], "*") == 0 || strcmp(p->allow_users[i], user) == 0)
			return true;
	return false;
}

int relay_secret_authorize(struct relay *r, const char *visitor_user, const char *run_id,
			   uint64_t counter, const char *proxy_name, const uint8_t proof[32],
			   bool p2p, void **owner_arg, char *err, size_t errlen)
{
	struct relay_proxy *p = secret_find(r, proxy_name);
	uint8_t input[PROTO_TICKET_INPUT_MAX];
	size_t len;

	if (!p) {
		snprintf(err, errlen, "no such proxy");
		return BW_E_NOT_FOUND;
	}
	len = proto_ticket_input("visit", run_id, counter, proxy_name, input);
	if (bw_crypto_mac_verify(p->verifier, input, len, proof) < 0) {
		snprintf(err, errlen, "authentication failed: wrong secret key");
		return BW_E_AUTH_FAILED;
	}
	if (!visitor_allowed(p, visitor_user)) {
		snprintf(err, errlen, "user not allowed by the proxy's allowUsers");
		return -EPERM;
	}
	if (p2p && p->kind != RELAY_PROXY_XTCP && p->kind != RELAY_PROXY_SUDP) {
		snprintf(err, errlen, "proxy %s is not an xtcp or sudp proxy", p->name);
		return BW_E_UNSUPPORTED;
	}
	*owner_arg = p->client->arg;
	return 0;
}

void relay_visitor_conn(struct relay *r, struct bufferevent *bev, const char *visitor_user,
			const struct proto_new_visitor_conn *req, const char *peer_name)
{
	struct relay_proxy *p = secret_find(r, req->proxy_name);
	uint8_t input[PROTO_TICKET_INPUT_MAX];
	struct relay_waiter *w;
	size_t len;
	char *colon;

	if (!p) {
		log_ratelimited(LOG_WARN, "relay: visitor %s: no secret proxy named %s", peer_name,
				req->proxy_name);
		visitor_answer(bev, req->proxy_name, "no such proxy");
		return;
	}
	len = proto_ticket_input("visit", req->run_id, req->counter, req->proxy_name, input);
	if (bw_crypto_mac_verify(p->verifier, input, len, req->proof) < 0) {
		log_ratelimited(LOG_WARN, "relay: visitor %s for proxy %s: wrong secret key",
				peer_name, p->name);
		visitor_answer(bev, p->name, "authentication failed: wrong secret key");
		return;
	}
	if (!visitor_allowed(p, visitor_user)) {
		log_ratelimited(LOG_WARN, "relay: visitor %s (user \"%s\") for proxy %s: user not "
				"allowed", peer_name, visitor_user, p->name);
		visitor_answer(bev, p->name, "user not allowed by the proxy's allowUsers");
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		bufferevent_free(bev);
		return;
	}
	w->bev = bev;
	w->proxy = p;
	w->attach = visitor_attach;
	w->sid = req->has_sid ? req->sid : 0;
	snprintf(w->src, sizeof(w->src), "%s", peer_name);
	colon = strrchr(w->src, ':');
	if (colon) {
		w->src_port = (uint16_t)atoi(colon + 1);
		*colon = '\0';
	}
	relay_client_take_work(p->client, w);
}
