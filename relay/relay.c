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
	while (r->conns)
		relay_pair_close(r->conns->pair, "server shutting down");
	free(r);
}

int relay_listeners_open(struct relay *r)
{
	return 0;
}

void relay_stats(const struct relay *r, struct relay_stats *out)
{
	*out = r->stats;
}

static struct relay_proxy *proxy_find(struct relay_client *c, const char *name)
{
	for (struct relay_proxy *p = c->proxies; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
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
	if (proxy_find(c, req->name)) {
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
		free(p->name);
		free(p);
		return rc;
	}
	p->next = c->proxies;
	c->proxies = p;
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
	r->stats.proxies--;
	free(p->name);
	free(p);
	return 0;
}

void relay_visitor_conn(struct relay *r, struct bufferevent *bev, const char *visitor_user,
			const struct proto_new_visitor_conn *req, const char *peer_name)
{
	bufferevent_free(bev);
}
