/*
 * One logged-in client as the relay sees it: its proxies, its pool of idle
 * work connections, the user connections waiting for one, and the http work
 * connections kept for their proxy's next request.
 *
 * A user connection takes a pooled work connection when there is one (and the
 * pool is refilled with REQ_WORK_CONN); otherwise it waits, oldest first, for
 * the next work connection to arrive, at most userConnTimeout.
 */
#include "relay/relay_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"

static void pooled_free(struct relay_pooled *pw)
{
	bufferevent_free(pw->bev);
	bw_crypto_session_free(pw->session);
	free(pw);
}

static void ask_for_work(struct relay_client *c, unsigned n)
{
	if (n == 0)
		return;
	if (n > PROTO_WORK_CONN_REQ_MAX)
		n = PROTO_WORK_CONN_REQ_MAX;
	c->requested += n;
	c->ops.want_work_conns(c->arg, n);
}

void relay_waiter_free(struct relay_waiter *w)
{
	struct relay_client *c = w->client;

	if (w->queued) {
		if (w->prev)
			w->prev->next = w->next;
		else
			c->waiting = w->next;
		if (w->next)
			w->next->prev = w->prev;
		else
			c->waiting_tail = w->prev;
		c->n_waiting--;
	}
	if (w->on_free)
		w->on_free(w);
	if (w->timer)
		event_free(w->timer);
	if (w->bev)
		bufferevent_free(w->bev);
	free(w);
}

static void on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct relay_waiter *w = arg;

	log_info("relay: proxy %s: user %s:%u closed: no work connection from the client "
		 "within %d s (userConnTimeout)", w->proxy->name, w->src, w->src_port,
		 w->client->relay->conf->user_conn_timeout_s);
	relay_waiter_free(w);
}

/* A user connection closed while it waited. */
static void on_waiter_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay_waiter *w = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("relay: proxy %s: user %s:%u left before a work connection came",
			  w->proxy->name, w->src, w->src_port);
		relay_waiter_free(w);
	}
}

/* Bind a waiting user connection to a work connection: START_WORK_CONN,
 * then relay. Takes both. */
static void attach(struct relay_waiter *w, struct bufferevent *work, struct bw_crypto_session *s)
{
	struct relay_proxy *p = w->proxy;
	struct proto_msg m = { .type = PROTO_MSG_START_WORK_CONN };
	struct bufferevent *user = w->bev;
	char who[BW_ADDR_STRLEN + 16];
	uint16_t port;
	int rc;

	if (!w->dst[0] && user) {
		/* frp sends the address the user connected to: the https vhost
		 * leaves it to us. */
		struct sockaddr_storage local;
		socklen_t ll = sizeof(local);

		if (getsockname(bufferevent_getfd(user), (struct sockaddr *)&local, &ll) == 0)
			relay_peer_split((struct sockaddr *)&local, w->dst, sizeof(w->dst), &port);
	}
	m.start_work_conn.proxy_name = p->name;
	m.start_work_conn.src_addr = w->src;
	m.start_work_conn.src_port = w->src_port;
	m.start_work_conn.dst_addr = w->dst;
	m.start_work_conn.dst_port = w->dst_port;
	rc = proto_frame_send(bufferevent_get_output(work), s, &m, NULL);
	w->bev = NULL;
	if (rc < 0) {
		bufferevent_free(user);
		bufferevent_free(work);
		bw_crypto_session_free(s);
		return;
	}
	if (!p->use_encryption) {
		bw_crypto_session_free(s);
		s = NULL;
	}
	snprintf(who, sizeof(who), "%s:%u", w->src, w->src_port);
	p->conns++;
	relay_conn_start(w->client->relay, p->name, who, user, work, s);
}

void relay_client_take_work(struct relay_client *c, struct relay_waiter *w)
{
	struct relay_pooled *pw = c->pool;
	struct timeval tv = { c->relay->conf->user_conn_timeout_s > 0 ?
			      c->relay->conf->user_conn_timeout_s : 10, 0 };

	w->client = c;
	if (pw) {
		c->pool = pw->next;
		c->n_pool--;
		c->relay->stats.work_conns_pooled--;
		/* Keep the pool full for the next user. */
		ask_for_work(c, 1);
		w->attach ? w->attach(w, pw->bev, pw->session) : attach(w, pw->bev, pw->session);
		free(pw);
		relay_waiter_free(w);
		return;
	}
	if (c->n_waiting >= PROTO_WAITING_USERS_MAX) {
		log_ratelimited(LOG_WARN, "relay: proxy %s: %u users already wait for work "
				"connections from %s; refusing %s:%u", w->proxy->name,
				c->n_waiting, c->name, w->src, w->src_port);
		relay_waiter_free(w);
		return;
	}
	w->queued = true;
	w->prev = c->waiting_tail;
	if (c->waiting_tail)
		c->waiting_tail->next = w;
	else
		c->waiting = w;
	c->waiting_tail = w;
	c->n_waiting++;
	w->timer = evtimer_new(c->relay->base, on_waiter_timeout, w);
	if (w->timer)
		evtimer_add(w->timer, &tv);
	if (w->bev) {
		bufferevent_setcb(w->bev, NULL, NULL, on_waiter_event, w);
		bufferevent_enable(w->bev, EV_READ);
	}
	/* One request per waiting user beyond those already on their way. */
	if (c->n_waiting > c->requested)
		ask_for_work(c, c->n_waiting - c->requested);
}

/* A pooled work connection went away (the client closed it). */
static void on_pooled_event(struct bufferevent *bev, short what, void *arg)
{
	struct relay_client *c = arg;
	struct relay_pooled **pp;

	for (pp = &c->pool; *pp; pp = &(*pp)->next) {
		if ((*pp)->bev == bev) {
			struct relay_pooled *dead = *pp;

			*pp = dead->next;
			c->n_pool--;
			c->relay->stats.work_conns_pooled--;
			pooled_free(dead);
			return;
		}
	}
}

void relay_client_work_conn(struct relay_client *c, struct bufferevent *bev,
			    struct bw_crypto_session *s)
{
	struct relay_waiter *w = c->waiting;
	struct relay_pooled *pw;

	if (c->requested)
		c->requested--;
	if (w) {
		/* The oldest waiter gets it. */
		if (w->attach)
			w->attach(w, bev, s);
		else
			attach(w, bev, s);
		relay_waiter_free(w);
		return;
	}
	if (c->n_pool >= c->pool_target + 1 || c->n_pool >= PROTO_POOL_COUNT_MAX) {
		/* Nobody asked for this one: more than the pool holds. */
		bufferevent_free(bev);
		bw_crypto_session_free(s);
		return;
	}
	pw = calloc(1, sizeof(*pw));
	if (!pw) {
		bufferevent_free(bev);
		bw_crypto_session_free(s);
		return;
	}
	pw->bev = bev;
	pw->session = s;
	bufferevent_setcb(bev, NULL, NULL, on_pooled_event, c);
	/* Only read while pooled (to see it close). Not writing: START_WORK_CONN
	 * goes into its output for the pair to send, and would otherwise arm a
	 * write event the pair removes at once. */
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_enable(bev, EV_READ);
	pw->next = c->pool;
	c->pool = pw;
	c->n_pool++;
	c->relay->stats.work_conns_pooled++;
}

/* --- kept http work connections (vhttp.c decides what to keep) ----------- */

void relay_work_send_end(struct relay_hconn *conn, struct bw_crypto_session *s)
{
	uint8_t buf[PROTO_FRAME_HDR + BW_CRYPTO_RECORD_OVERHEAD];
	size_t sealed;

	/* The record is tiny and sent only when nothing is queued, so it goes
	 * straight out; the connection is freed next, so it could not write
	 * it later. */
	if (!conn || !s || evbuffer_get_length(conn->out) > 0)
		return;
	if (bw_crypto_seal(s, NULL, 0, buf, 0, buf + PROTO_FRAME_HDR,
			   sizeof(buf) - PROTO_FRAME_HDR, &sealed) == 0) {
		proto_frame_header_write(buf, sealed);
		(void)!send(conn->fd, buf, PROTO_FRAME_HDR + sealed, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
}

static void http_idle_unlink(struct relay_http_idle *e)
{
	struct relay_client *c = e->client;

	if (e->prev)
		e->prev->next = e->next;
	else
		c->http_idle = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->http_idle_tail = e->prev;
	c->n_http_idle--;
}

/* Close a kept work connection: the client's pair then ends too, and with
 * it the client's kept-alive connection to the service. */
static void http_idle_drop(struct relay_http_idle *e, const char *why)
{
	log_debug("relay: http proxy %s: kept work connection closed after %u requests: %s",
		  e->proxy, e->uses, why);
	http_idle_unlink(e);
	relay_work_send_end(e->conn, e->s);
	relay_hconn_free(e->conn);
	bw_crypto_session_free(e->s);
	free(e);
}

/* Nothing is asked of a kept connection: bytes from it are the end of the
 * client's direction (the service closed its side), or garbage. */
static void on_http_idle_read(struct relay_hconn *conn, void *arg)
{
	http_idle_drop(arg, "the client ended it (the service closed its side)");
}

static void on_http_idle_event(struct relay_hconn *conn, short what, void *arg)
{
	http_idle_drop(arg, (what & BEV_EVENT_TIMEOUT) ? "idle for vhostHTTPTimeout" :
		       (what & BEV_EVENT_EOF) ? "the client closed it" : "connection failed");
}

void relay_client_http_drop_all(struct relay_client *c)
{
	while (c->http_idle)
		http_idle_drop(c->http_idle, "the client is gone");
}

bool relay_client_http_take(struct relay_client *c, uint64_t proxy_id,
			    struct relay_hconn **conn, struct bw_crypto_session **s,
			    unsigned *uses)
{
	/* Newest first: the least likely to have been closed by the service
	 * meanwhile. */
	for (struct relay_http_idle *e = c->http_idle; e; e = e->next) {
		if (e->proxy_id != proxy_id)
			continue;
		http_idle_unlink(e);
		*conn = e->conn;
		*s = e->s;
		*uses = e->uses;
		free(e);
		return true;
	}
	return false;
}

bool relay_client_http_keep(struct relay_client *c, uint64_t proxy_id, const char *proxy,
			    struct relay_hconn *conn, struct bw_crypto_session *s, unsigned uses,
			    const struct timeval *idle)
{
	struct relay_http_idle *e;
	unsigned n = 0;

	for (e = c->http_idle; e; e = e->next)
		n += e->proxy_id == proxy_id;
	if (n >= RELAY_HTTP_IDLE_PER_PROXY || !(e = calloc(1, sizeof(*e))))
		return false;
	if (c->n_http_idle >= RELAY_HTTP_IDLE_PER_CLIENT)
		http_idle_drop(c->http_idle_tail, "the client keeps too many");
	e->client = c;
	e->proxy_id = proxy_id;
	e->conn = conn;
	e->s = s;
	e->uses = uses;
	snprintf(e->proxy, sizeof(e->proxy), "%s", proxy);
	e->next = c->http_idle;
	if (c->http_idle)
		c->http_idle->prev = e;
	else
		c->http_idle_tail = e;
	c->http_idle = e;
	c->n_http_idle++;
	/* It goes on reading (no epoll_ctl between requests): bytes or EOF
	 * from an idle connection end it. */
	relay_hconn_setcb(conn, on_http_idle_read, NULL, on_http_idle_event, e);
	relay_hconn_set_read_high(conn, 0);
	relay_hconn_set_timeouts(conn, idle, NULL);
	relay_hconn_flush(conn);
	relay_hconn_read(conn, true);
	return true;
}

struct relay_client *relay_client_new(struct relay *r, const char *user, const char *name,
				      unsigned pool_count, const struct relay_client_ops *ops,
				      void *arg, int *rc)
{
	struct relay_client *c = calloc(1, sizeof(*c));

	if (!c || !(c->user = strdup(user ? user : "")) || !(c->name = strdup(name))) {
		if (c)
			free(c->user);
		free(c);
		*rc = BW_E_NOMEM;
		return NULL;
	}
	c->relay = r;
	c->ops = *ops;
	c->arg = arg;
	c->pool_target = pool_count;
	if (r->conf->max_pool_count > 0 && c->pool_target > (unsigned)r->conf->max_pool_count)
		c->pool_target = (unsigned)r->conf->max_pool_count;
	c->next = r->clients;
	if (r->clients)
		r->clients->prev = c;
	r->clients = c;
	*rc = 0;
	return c;
}

void relay_client_free(struct relay_client *c)
{
	struct relay *r;

	if (!c)
		return;
	r = c->relay;
	while (c->proxies)
		relay_proxy_close(c, c->proxies->name);
	while (c->waiting)
		relay_waiter_free(c->waiting);
	relay_client_http_drop_all(c);
	while (c->pool) {
		struct relay_pooled *pw = c->pool;

		c->pool = pw->next;
		r->stats.work_conns_pooled--;
		pooled_free(pw);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		r->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->user);
	free(c->name);
	free(c);
}
