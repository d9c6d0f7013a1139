/*
 * The https vhost port (frp's vhostHTTPSPort): connections are routed by the
 * server name of the TLS ClientHello, without terminating TLS.
 *
 * A new connection is read until relay_sni_parse finds the name (at most
 * RELAY_SNI_INPUT_MAX bytes, all within SNI_READ_TIMEOUT_MS). A name with a route
 * becomes a waiter of the route's owner, exactly like a tcp proxy's user: the
 * plain attach of client.c sends START_WORK_CONN and relays the connection
 * from its first byte, the ClientHello still in the input. Anything else
 * (not TLS, no server name, no route, too slow) is closed.
 *
 * Also here: registering the proxies of both vhost ports (their routes, and
 * an http proxy's rewrites), and what both ports share (listening,
 * NEW_PROXY_RESP's remote address); vhttp.c serves the http port's requests.
 */
#include "relay/relay_int.h"
#include "relay/vhost.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>

#include "common/err.h"
#include "common/log.h"

#define SNI_READ_TIMEOUT_MS 10000
/* Bytes a routed connection may send before its work connection comes. */
#define WAIT_INPUT_MAX (64u << 10)

struct relay_vhttps {
	struct relay *relay;
	struct relay_vhost *routes;
	struct evconnlistener *listener;
	struct event *resume;
	struct sconn *conns;
	uint16_t port;
};

/* A connection whose ClientHello is being read. */
struct sconn {
	struct relay_vhttps *vs;
	struct sconn *next, *prev;
	struct bufferevent *bev;
	struct event *deadline;            /* the whole ClientHello, from accept */
	uint16_t port;
	char ip[BW_ADDR_STRLEN];
};

static void sconn_free(struct sconn *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->vs->conns = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->bev)
		bufferevent_free(s->bev);
	if (s->deadline)
		event_free(s->deadline);
	free(s);
}

static void sconn_drop(struct sconn *s, const char *why)
{
	log_ratelimited(LOG_INFO, "relay: https %s%s%s:%u closed: %s", strchr(s->ip, ':') ? "[" : "",
			s->ip, strchr(s->ip, ':') ? "]" : "", s->port, why);
	sconn_free(s);
}

static void on_sni_read(struct bufferevent *bev, void *arg)
{
	struct sconn *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	const struct relay_vhost_route *rt;
	char name[RELAY_SNI_NAME_MAX + 1];
	struct relay_proxy *p;
	struct relay_waiter *w;
	char why[RELAY_SNI_NAME_MAX + 64];
	int rc;

	rc = relay_sni_parse(evbuffer_pullup(in, (ssize_t)len), len, name);
	if (rc == BW_E_AGAIN && len < RELAY_SNI_INPUT_MAX)
		return;
	if (rc < 0) {
		sconn_drop(s, rc == BW_E_AGAIN ? bw_strerror(BW_E_TOO_BIG) : bw_strerror(rc));
		return;
	}
	rt = relay_vhost_lookup(s->vs->routes, name, NULL);
	if (!rt) {
		snprintf(why, sizeof(why), "no proxy for server name %s", name);
		sconn_drop(s, why);
		return;
	}
	p = rt->owner;
	w = calloc(1, sizeof(*w));
	if (!w) {
		sconn_drop(s, "out of memory");
		return;
	}
	w->bev = s->bev;
	s->bev = NULL;
	w->proxy = p;
	snprintf(w->src, sizeof(w->src), "%s", s->ip);
	w->src_port = s->port;
	w->dst_port = s->vs->port;
	log_debug("relay: https %s:%u: server name %s, proxy %s", s->ip, s->port, name, p->name);
	sconn_free(s);
	/* The waiter's own timer bounds the wait; what the user sends meanwhile
	 * is bounded by the read watermark (the pair lifts it). */
	bufferevent_setwatermark(w->bev, EV_READ, 0, WAIT_INPUT_MAX);
	relay_client_take_work(p->client, w);
}

static void on_sni_event(struct bufferevent *bev, short what, void *arg)
{
	struct sconn *s = arg;

	sconn_drop(s, (what & BEV_EVENT_EOF) ? "closed before its ClientHello" :
		   "connection failed");
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	sconn_drop(arg, "no whole ClientHello within 10 s");
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct relay_vhttps *vs = arg;
	struct sconn *s = calloc(1, sizeof(*s));
	struct timeval tv = { SNI_READ_TIMEOUT_MS / 1000, (SNI_READ_TIMEOUT_MS % 1000) * 1000 };
	int one = 1;

	if (!s) {
		evutil_closesocket(fd);
		return;
	}
	s->vs = vs;
	s->next = vs->conns;
	if (vs->conns)
		vs->conns->prev = s;
	vs->conns = s;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->bev = bufferevent_socket_new(vs->relay->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!s->bev) {
		evutil_closesocket(fd);
		sconn_free(s);
		return;
	}
	s->deadline = evtimer_new(vs->relay->base, on_deadline, s);
	if (!s->deadline) {
		sconn_free(s);
		return;
	}
	relay_peer_split(sa, s->ip, sizeof(s->ip), &s->port);
	bufferevent_setcb(s->bev, on_sni_read, NULL, on_sni_event, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, RELAY_SNI_INPUT_MAX);
	evtimer_add(s->deadline, &tv);
	bufferevent_enable(s->bev, EV_READ);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct relay_vhttps *vs = arg;

	relay_listener_on_error(l, &vs->resume, "relay: https vhost");
}

int relay_vhttps_listen(struct relay *r)
{
	struct relay_vhttps *vs;
	int rc;

	if (!r->conf->vhost_https_port || r->vhttps)
		return 0;
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return BW_E_NOMEM;
	vs->relay = r;
	vs->port = r->conf->vhost_https_port;
	vs->routes = relay_vhost_new(false, &rc);
	if (vs->routes)
		vs->listener = relay_vhost_listen(r, "https", vs->port, on_accept, vs, &rc);
	if (!vs->listener) {
		relay_vhost_free(vs->routes);
		free(vs);
		return rc;
	}
	evconnlistener_set_error_cb(vs->listener, on_accept_error);
	r->vhttps = vs;
	return 0;
}

void relay_vhttps_free(struct relay *r)
{
	struct relay_vhttps *vs = r->vhttps;

	if (!vs)
		return;
	while (vs->conns)
		sconn_free(vs->conns);
	evconnlistener_free(vs->listener);
	if (vs->resume)
		event_free(vs->resume);
	relay_vhost_free(vs->routes);
	free(vs);
	r->vhttps = NULL;
}

/* --- registering http and https proxies ---------------------------------------- */

static void opts_free(struct relay_http_opts *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_set; i++) {
		free((char *)o->set[i].name);
		free((char *)o->set[i].value);
	}
	free(o->set);
	free(o->host);
	free(o);
}

/* Copy what the proxy's requests need, refusing what cannot go in a head. */
static int opts_new(const struct proto_new_proxy *req, struct relay_http_opts **out, char *err,
		    size_t errlen)
{
	struct relay_http_opts *o = calloc(1, sizeof(*o));
	size_t n = req->has_headers ? req->headers.n : 0;

	if (!o || (n && !(o->set = calloc(n, sizeof(*o->set)))))
		goto nomem;
	if (req->has_host_header_rewrite && req->host_header_rewrite[0]) {
		if (!relay_http_header_valid("Host", req->host_header_rewrite)) {
			snprintf(err, errlen, "invalid hostHeaderRewrite \"%.64s\"",
				 req->host_header_rewrite);
			opts_free(o);
			return BW_E_CONF_VALUE;
		}
		if (!(o->host = strdup(req->host_header_rewrite)))
			goto nomem;
	}
	for (size_t i = 0; i < n; i++) {
		const struct proto_kv *kv = &req->headers.kv[i];

		if (!relay_http_header_valid(kv->key, kv->value)) {
			snprintf(err, errlen, "requestHeaders.set: invalid header \"%.64s\"",
				 kv->key);
			opts_free(o);
			return BW_E_CONF_VALUE;
		}
		o->set[i].name = strdup(kv->key);
		o->set[i].value = strdup(kv->value);
		o->n_set++;
		if (!o->set[i].name || !o->set[i].value)
			goto nomem;
	}
	*out = o;
	return 0;
nomem:
	opts_free(o);
	snprintf(err, errlen, "out of memory");
	return BW_E_NOMEM;
}

int relay_vhttp_open(struct relay_proxy *p, const struct proto_new_proxy *req,
		     char *remote_addr, size_t ralen, char *err, size_t errlen)
{
	struct relay *r = p->client->relay;
	struct relay_vhttp *vh = r->vhttp;
	struct relay_vhost_proxy vp = { .name = p->name, .owner = p };
	struct relay_http_opts *o = NULL;
	int rc;

	if (!vh) {
		snprintf(err, errlen, "http proxies need vhostHTTPPort on the server");
		return BW_E_UNSUPPORTED;
	}
	rc = opts_new(req, &o, err, errlen);
	if (rc < 0)
		return rc;
	if (req->has_custom_domains) {
		vp.domains = req->custom_domains.v;
		vp.n_domains = req->custom_domains.n;
	}
	if (req->has_locations) {
		vp.locations = req->locations.v;
		vp.n_locations = req->locations.n;
	}
	vp.subdomain = req->has_subdomain ? req->subdomain : NULL;
	vp.subdomain_host = r->conf->subdomain_host;
	vp.user = req->has_http_user ? req->http_user : NULL;
	vp.password = req->has_http_password ? req->http_password : NULL;
	rc = relay_vhost_add_proxy(vh->routes, &vp, err, errlen);
	if (rc < 0) {
		opts_free(o);
		return rc;
	}
	p->http = o;
	relay_vhost_remote_addr(req, r->conf->subdomain_host, vh->port, 80, remote_addr, ralen);
	return 0;
}

void relay_vhttp_close(struct relay_proxy *p)
{
	struct relay_vhttp *vh = p->client->relay->vhttp;

	/* Requests of this proxy in progress go on: they hold no pointer to
	 * it. Its waiters were freed by relay_proxy_close (502). */
	if (vh)
		relay_vhost_remove_owner(vh->routes, p);
	opts_free(p->http);
	p->http = NULL;
}

int relay_vhttps_open(struct relay_proxy *p, const struct proto_new_proxy *req,
		      char *remote_addr, size_t ralen, char *err, size_t errlen)
{
	struct relay *r = p->client->relay;
	struct relay_vhttps *vs = r->vhttps;
	struct relay_vhost_proxy vp = { .name = p->name, .owner = p };
	int rc;

	if (!vs) {
		snprintf(err, errlen, "https proxies need vhostHTTPSPort on the server");
		return BW_E_UNSUPPORTED;
	}
	if (req->has_custom_domains) {
		vp.domains = req->custom_domains.v;
		vp.n_domains = req->custom_domains.n;
	}
	vp.subdomain = req->has_subdomain ? req->subdomain : NULL;
	vp.subdomain_host = r->conf->subdomain_host;
	rc = relay_vhost_add_proxy(vs->routes, &vp, err, errlen);
	if (rc < 0)
		return rc;
	relay_vhost_remote_addr(req, r->conf->subdomain_host, vs->port, 443, remote_addr, ralen);
	return 0;
}

void relay_vhttps_close(struct relay_proxy *p)
{
	struct relay_vhttps *vs = p->client->relay->vhttps;

	if (vs)
		relay_vhost_remove_owner(vs->routes, p);
}

/* --- shared by both vhost ports ---------------------------------------------- */

struct evconnlistener *relay_vhost_listen(struct relay *r, const char *what, uint16_t port,
					  evconnlistener_cb cb, void *arg, int *rc)
{
	const char *addr = r->conf->proxy_bind_addr && *r->conf->proxy_bind_addr ?
			   r->conf->proxy_bind_addr : r->conf->bind_addr;
	struct evutil_addrinfo hints = {0}, *ai = NULL;
	struct evconnlistener *l;
	char ps[8], shown[BW_ADDR_STRLEN];
	int e;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
	snprintf(ps, sizeof(ps), "%u", port);
	if (evutil_getaddrinfo(addr && *addr ? addr : NULL, ps, &hints, &ai) != 0) {
		log_error("relay: %s vhost: bad listen address \"%s\"", what, addr ? addr : "");
		*rc = BW_E_INVAL;
		return NULL;
	}
	l = evconnlistener_new_bind(r->base, cb, arg,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
				    511, ai->ai_addr, (int)ai->ai_addrlen);
	e = errno;
	bw_addr_format(ai->ai_addr, shown, sizeof(shown));
	evutil_freeaddrinfo(ai);
	if (!l) {
		log_error("relay: %s vhost: cannot listen on %s: %s", what, shown, strerror(e));
		*rc = e ? -e : BW_E_INVAL;
		return NULL;
	}
	log_info("relay: %s vhost listening on %s", what, shown);
	*rc = 0;
	return l;
}

static void remote_add(char *out, size_t outlen, size_t *n, const char *a, const char *b,
		       uint16_t port, uint16_t default_port)
{
	char entry[RELAY_VHOST_HOST_MAX + 16];
	int len;

	if (port == default_port)
		len = snprintf(entry, sizeof(entry), "%s%s", a, b);
	else
		len = snprintf(entry, sizeof(entry), "%s%s:%u", a, b, port);
	if (len < 0 || (size_t)len >= sizeof(entry) || *n + (*n > 0) + (size_t)len >= outlen)
		return;
	*n += (size_t)snprintf(out + *n, outlen - *n, "%s%s", *n > 0 ? "," : "", entry);
}

void relay_vhost_remote_addr(const struct proto_new_proxy *req, const char *subdomain_host,
			     uint16_t port, uint16_t default_port, char *out, size_t outlen)
{
	size_t n = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; req->has_custom_domains && i < req->custom_domains.n; i++)
		if (req->custom_domains.v[i][0])
			remote_add(out, outlen, &n, req->custom_domains.v[i], "", port, default_port);
	if (req->has_subdomain && req->subdomain[0] && subdomain_host && *subdomain_host) {
		char sub[PROTO_SUBDOMAIN_MAX + 2];

		snprintf(sub, sizeof(sub), "%s.", req->subdomain);
		remote_add(out, outlen, &n, sub, subdomain_host, port, default_port);
	}
}

void relay_peer_split(const struct sockaddr *sa, char *ip, size_t iplen, uint16_t *port)
{
	char buf[BW_ADDR_STRLEN], *colon, *start = buf;

	bw_addr_format(sa, buf, sizeof(buf));
	colon = strrchr(buf, ':');
	*port = colon ? (uint16_t)atoi(colon + 1) : 0;
	if (colon)
		*colon = '\0';
	if (*start == '[') {
		start++;
		if (*start && start[strlen(start) - 1] == ']')
			start[strlen(start) - 1] = '\0';
	}
	snprintf(ip, iplen, "%s", start);
}
