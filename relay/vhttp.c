/*
 * The http vhost port (frp's vhostHTTPPort), and its user connections: each
 * request is routed on its own, by Host and path, to the proxy that
 * registered them. This file reads the user's requests, answers those
 * burrowd answers itself, and logs; vhttp_work.c carries a request to its
 * proxy's client over a work connection and the response back; http_io.c
 * does the socket I/O of both connections.
 *
 * A user connection (struct relay_vconn) reads one request head, routes it,
 * and either answers itself (404, 401, 400, 431) or takes a work connection
 * of the route's owner, sends the rewritten head and the body, and streams
 * the response back. Then the next request on the user connection is read
 * and routed again: keep-alive is per request, pipelined requests wait until
 * the previous response is done. An Upgrade answered with 101 turns the two
 * connections into a plain relayed pair.
 *
 *   phase:  HEAD --route--> WAIT --attach--> EXCHANGE --response done--> HEAD
 *             \--own answer--> DISCARD (drop the body) --------------------^
 *   any phase --error or close--> CLOSING (flush, half-close, drain) --> freed
 *
 * Backpressure: at most about RELAY_PAIR_HIGH_WM is queued per direction;
 * the side that feeds a full output stops until it drained. Writes go out
 * in the pass that queued them (relay_hconn_flush), reading stays on in
 * every phase (bounded by a read watermark): a kept-alive request costs one
 * read and one write on each side, and no epoll_ctl.
 *
 * Logs: a line per request at debug level, as frp logs requests (at info,
 * rate-limited, when it failed or burrowd answered it), and a line per user
 * connection when it closes, with its requests, bytes, duration and reason.
 *
 * Lifetime: relay_vconn_close marks the connection and frees it from a
 * deferred event, never under a caller: a waiter's attach and on_free
 * callbacks run inside relay_client_take_work, called from the middle of
 * relay_vconn_user_process.
 */
#include "relay/relay_int.h"
#include "relay/vhost.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <http_parser.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"

#define HIGH_WM RELAY_PAIR_HIGH_WM
#define DISCARD_MAX (1u << 20)  /* body dropped after burrowd's own answer */
#define LINGER_MS 2000          /* reading what the user still sends, at close */

/* --- logging and freeing ------------------------------------------------- */

/* One line per request, once, when it ends: at debug level, as frp logs
 * requests; a request that failed (burrowd answered it, or it broke) at
 * info, rate-limited, since any visitor can cause one. The connection's
 * totals are logged when it closes (conn_log). */
void relay_vconn_req_log(struct relay_vconn *v, const char *why)
{
	struct relay *r = v->vh->relay;
	enum log_level level = LOG_DEBUG;
	char st[8] = "-";

	if (v->logged || !v->method[0])
		return;
	v->logged = true;
	v->n_req++;
	v->total_up += v->up;
	v->total_down += v->down;
	r->stats.bytes_in += v->up;
	r->stats.bytes_out += v->down;
	if (why || !v->proxy[0] || v->status >= 500)
		level = LOG_INFO;
	if (!log_enabled(level))
		return;
	if (v->status)
		snprintf(st, sizeof(st), "%d", v->status);
	if (level == LOG_DEBUG)
		log_debug("relay: http proxy %s: %s \"%s %s%s\" %s (%llu B in, %llu B out, %.3f s)",
			  v->proxy, v->who, v->method, v->host, v->path, st,
			  (unsigned long long)v->up, (unsigned long long)v->down,
			  (bw_now_ms() - v->t0) / 1000.0);
	else if (v->proxy[0])
		log_ratelimited(LOG_INFO, "relay: http proxy %s: %s \"%s %s%s\" %s%s%s (%llu B in, "
				"%llu B out, %.3f s)", v->proxy, v->who, v->method, v->host,
				v->path, st, why ? ": " : "", why ? why : "",
				(unsigned long long)v->up, (unsigned long long)v->down,
				(bw_now_ms() - v->t0) / 1000.0);
	else
		log_ratelimited(LOG_INFO, "relay: http %s \"%s %s%s\" %s%s%s", v->who, v->method,
				v->host, v->path, st, why ? ": " : "", why ? why : "");
}

/* One line per user connection, when it closes, with its totals (a tunnel
 * is logged by its pair instead). Connections that carried no request are
 * rate-limited: anyone can open them. */
static void conn_log(struct relay_vconn *v, const char *why)
{
	const char *reason = why ? why : v->user_eof ? "the user closed" : "done";

	if (v->tunneled) {
		log_debug("relay: http %s: handed over as a tunnel", v->who);
		return;
	}
	if (v->n_req == 0) {
		log_ratelimited(LOG_INFO, "relay: http %s closed: %s (no request, %.1f s)", v->who,
				reason, (bw_now_ms() - v->opened) / 1000.0);
		return;
	}
	log_info("relay: http %s closed: %s (%u request%s, last proxy %s, %llu B in, %llu B out, "
		 "%.1f s)", v->who, reason, v->n_req, v->n_req == 1 ? "" : "s",
		 v->proxy[0] ? v->proxy : "-", (unsigned long long)v->total_up,
		 (unsigned long long)v->total_down, (bw_now_ms() - v->opened) / 1000.0);
}

static void vconn_free(struct relay_vconn *v)
{
	struct relay_vhttp *vh = v->vh;

	if (v->prev)
		v->prev->next = v->next;
	else
		vh->conns = v->next;
	if (v->next)
		v->next->prev = v->prev;
	if (v->waiter) {
		struct relay_waiter *w = v->waiter;

		v->waiter = NULL;   /* its on_free sees it is let go */
		relay_waiter_free(w);
	}
	relay_vconn_work_release(v);
	if (v->wplain)
		evbuffer_free(v->wplain);
	relay_hconn_free(v->user);
	relay_http_req_free(v->req);
	relay_http_resp_free(v->resp);
	if (v->timer)
		event_free(v->timer);
	if (v->kill)
		event_free(v->kill);
	free(v);
}

static void on_kill(evutil_socket_t fd, short what, void *arg)
{
	vconn_free(arg);
}

/* The only way a connection ends: the request in progress is logged, the
 * work connection dropped, and the rest freed from the loop. */
void relay_vconn_close(struct relay_vconn *v, const char *why)
{
	if (v->closing)
		return;
	v->closing = true;
	relay_vconn_req_log(v, why);
	conn_log(v, why);
	if (v->waiter) {
		struct relay_waiter *w = v->waiter;

		v->waiter = NULL;
		relay_waiter_free(w);
	}
	relay_vconn_work_release(v);
	if (v->user) {
		relay_hconn_read(v->user, false);
		relay_hconn_setcb(v->user, NULL, NULL, NULL, NULL);
	}
	event_active(v->kill, EV_TIMEOUT, 1);
}

/* Write what is queued for the user, then close (see on_user_write). */
void relay_vconn_closing_start(struct relay_vconn *v)
{
	relay_vconn_work_release(v);
	v->phase = RELAY_VCONN_CLOSING;
	relay_hconn_read(v->user, false);
	if (evbuffer_get_length(v->user->out) == 0) {
		relay_vconn_close(v, NULL);
		return;
	}
	relay_hconn_write_notify(v->user);
}

/* Everything was written: half-close, and read what the user still sends
 * for a moment, so that closing with unread bytes (a reset) does not
 * destroy the answer before the user reads it. */
static void linger_start(struct relay_vconn *v)
{
	struct timeval tv = { LINGER_MS / 1000, (LINGER_MS % 1000) * 1000 };

	if (v->user_eof || v->lingering) {
		relay_vconn_close(v, NULL);
		return;
	}
	v->lingering = true;
	relay_hconn_shutdown(v->user);
	evbuffer_drain(v->user->in, evbuffer_get_length(v->user->in));
	relay_hconn_set_timeouts(v->user, &tv, NULL);
	relay_hconn_read(v->user, true);
}

/* --- burrowd's own answers ------------------------------------------------- */

static void own_reply(struct relay_vconn *v, int status, const char *why)
{
	/* A HEAD request expects no body: never reuse the connection after
	 * a page it did not ask for. After Expect: 100-continue the client
	 * may or may not send the body now: the next bytes cannot be told
	 * apart, so the connection closes (as Go's server does). */
	bool keep = relay_http_req_keep_alive(v->req) && !relay_http_req_is_upgrade(v->req) &&
		    v->method_id != HTTP_HEAD && !relay_http_req_header(v->req, "expect") &&
		    !v->user_eof;

	v->status = status;
	if (relay_http_reply(v->user->out, status, v->host, !keep) < 0) {
		relay_vconn_close(v, "out of memory");
		return;
	}
	relay_vconn_req_log(v, why);
	if (!keep) {
		relay_vconn_closing_start(v);
		return;
	}
	v->phase = RELAY_VCONN_DISCARD;
	v->kick = true;
	v->discarded = 0;
}

/* In RELAY_VCONN_HEAD: the head did not complete in time (read timeouts restart
 * with every byte, so a slow sender could hold the connection for ever).
 * In RELAY_VCONN_EXCHANGE: the response head did not come after the request. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct relay_vconn *v = arg;

	if (v->closing)
		return;
	if (v->phase == RELAY_VCONN_HEAD)
		relay_vconn_close(v, "request head not complete within vhostHTTPTimeout");
	else if (v->phase == RELAY_VCONN_EXCHANGE)
		relay_vconn_exchange_fail(v, 504, RELAY_HTTP_502_CLIENT,
					  "no response within vhostHTTPTimeout");
}

/* --- the user connection ----------------------------------------------------- */

/* The first len bytes of src (at most: it stops at its NUL), cut to fit
 * dst of size bytes, NUL-terminated. For what every request copies, where
 * snprintf would parse a format each time. */
static void copy_cut(char *dst, size_t size, const char *src, size_t len)
{
	len = strnlen(src, len < size - 1 ? len : size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A request head is complete: route it. */
static void request_begin(struct relay_vconn *v)
{
	const struct relay_vhost_route *rt;
	const char *url = relay_http_req_url(v->req);
	struct relay_proxy *p;

	v->logged = false;
	v->status = 0;
	v->up = v->down = 0;
	v->t0 = bw_now_ms();
	v->proxy[0] = '\0';
	v->req_done = v->resp_head = v->resp_sent = v->work_end = false;
	v->kick = v->resp_kick = false;
	v->reused = v->retried = false;
	v->body_up = 0;
	v->method_id = relay_http_req_method_id(v->req);
	copy_cut(v->method, sizeof(v->method), relay_http_req_method(v->req), SIZE_MAX);
	copy_cut(v->host, sizeof(v->host), relay_http_req_host(v->req), SIZE_MAX);
	/* The URL as sent (checked printable), without its query. */
	copy_cut(v->path, sizeof(v->path), url, strcspn(url, "?"));
	rt = relay_vhost_lookup(v->vh->routes, v->host, relay_http_req_path(v->req));
	if (!rt) {
		own_reply(v, 404, "no proxy for this host");
		return;
	}
	if (!relay_http_req_auth_ok(v->req, rt->user, rt->password)) {
		own_reply(v, 401, "wrong or missing credentials");
		return;
	}
	p = rt->owner;
	copy_cut(v->proxy, sizeof(v->proxy), p->name, SIZE_MAX);
	if (!p->http_id)
		p->http_id = ++v->vh->next_proxy_id;
	v->px_id = p->http_id;
	relay_vconn_work_find(v, p, false);
}

static bool user_step_phase(struct relay_vconn *v, struct evbuffer *in, struct evbuffer *out,
			    struct evbuffer_iovec *vec, size_t len);

/* One step of reading the user's bytes; false when there is nothing more
 * to do until the next event. */
static bool user_step(struct relay_vconn *v, struct evbuffer *in, struct evbuffer *out)
{
	struct evbuffer_iovec vec = { NULL, 0 };
	size_t len = evbuffer_get_length(in);
	enum relay_vphase before = v->phase;
	bool more;

	if (len > 0 && evbuffer_peek(in, -1, NULL, &vec, 1) < 1)
		return false;
	more = user_step_phase(v, in, out, &vec, len);
	/* A step that asks for more consumed bytes or changed the phase; one
	 * that did neither would spin here. */
	if (more && !v->closing && len > 0 && evbuffer_get_length(in) == len &&
	    v->phase == before && !v->kick) {
		relay_vconn_close(v, "request reader made no progress");
		return false;
	}
	return more;
}

static bool user_step_phase(struct relay_vconn *v, struct evbuffer *in, struct evbuffer *out,
			    struct evbuffer_iovec *vecp, size_t len)
{
	struct evbuffer_iovec vec = *vecp;
	size_t used = 0;
	int rc;

	switch (v->phase) {
	case RELAY_VCONN_HEAD:
		if (len == 0 || evbuffer_get_length(out) >= HIGH_WM)
			return false;
		if (!v->head_started) {
			v->head_started = true;
			evtimer_add(v->timer, &v->vh->timeout);
		}
		rc = relay_http_req_feed(v->req, vec.iov_base, vec.iov_len, &used);
		evbuffer_drain(in, used);
		if (rc == RELAY_HTTP_HEAD_DONE) {
			v->head_started = false;
			evtimer_del(v->timer);
			request_begin(v);
			return true;
		}
		if (rc < 0) {
			snprintf(v->method, sizeof(v->method), "-");
			v->host[0] = v->path[0] = '\0';
			v->proxy[0] = '\0';
			v->logged = false;
			v->status = relay_http_status_for(rc);
			relay_http_reply(out, v->status, NULL, true);
			relay_vconn_req_log(v, bw_strerror(rc));
			relay_vconn_closing_start(v);
			return false;
		}
		return true;
	case RELAY_VCONN_DISCARD:
		if (len == 0 && !v->kick)
			return false;
		v->kick = false;
		rc = relay_http_req_body(v->req, vec.iov_base, vec.iov_len, &used);
		evbuffer_drain(in, used);
		v->discarded += used;
		if (rc == RELAY_HTTP_MSG_DONE && relay_http_req_keep_alive(v->req)) {
			v->phase = RELAY_VCONN_HEAD;
			return true;
		}
		if (rc != RELAY_HTTP_NEED_MORE || v->discarded > DISCARD_MAX) {
			relay_vconn_closing_start(v);
			return false;
		}
		return len > 0;
	case RELAY_VCONN_EXCHANGE:
		if (v->req_done || v->up_paused || (len == 0 && !v->kick))
			return false;
		v->kick = false;
		rc = relay_http_req_body(v->req, vec.iov_base, vec.iov_len, &used);
		if (used > 0) {
			if (relay_vconn_work_send(v, in, used) < 0) {
				relay_vconn_close(v, "cannot forward the request body");
				return false;
			}
			v->up += used;
			v->body_up += used;
		}
		if (rc < 0) {
			relay_vconn_close(v, "malformed request body");
			return false;
		}
		if (rc == RELAY_HTTP_MSG_DONE || rc == RELAY_HTTP_UPGRADE) {
			v->req_done = true;
			if (!v->resp_sent)
				evtimer_add(v->timer, &v->vh->timeout);
			return false;
		}
		if (evbuffer_get_length(v->work->out) >= HIGH_WM) {
			v->up_paused = true;
			return false;
		}
		return len > 0;
	case RELAY_VCONN_WAIT:
	case RELAY_VCONN_CLOSING:
		return false;
	}
	return false;
}

/* Read the user's bytes as far as the phase allows, then write what that
 * queued. The user's connection keeps reading in every phase: what the
 * phase cannot take yet waits in its input, which stops growing at HIGH_WM
 * (its read watermark), so reading is never switched off and on per
 * request (two epoll_ctl calls each). */
void relay_vconn_user_process(struct relay_vconn *v)
{
	struct evbuffer *in, *out;

	if (v->in_user || v->closing)
		return;
	v->in_user = true;
	in = v->user->in;
	out = v->user->out;
	while (!v->closing && user_step(v, in, out))
		;
	v->in_user = false;
	if (v->closing)
		return;
	if (v->work)
		relay_hconn_flush(v->work);
	if (v->phase != RELAY_VCONN_CLOSING)
		relay_hconn_flush(v->user);
}

static void on_user_read(struct relay_hconn *h, void *arg)
{
	struct relay_vconn *v = arg;
	struct evbuffer *in = h->in;

	if (v->closing)
		return;
	if (v->phase == RELAY_VCONN_CLOSING) {
		v->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (v->discarded > DISCARD_MAX)
			relay_vconn_close(v, NULL);
		return;
	}
	relay_vconn_user_process(v);
}

static void on_user_write(struct relay_hconn *h, void *arg)
{
	struct relay_vconn *v = arg;

	if (v->closing)
		return;
	if (v->phase == RELAY_VCONN_CLOSING) {
		linger_start(v);
		return;
	}
	if (v->down_paused) {
		v->down_paused = false;
		relay_hconn_read(v->work, true);
		relay_vconn_work_process(v);
		if (v->closing)
			return;
	}
	relay_vconn_user_process(v);    /* our own pages may have filled the output */
}

static void on_user_event(struct relay_hconn *h, short what, void *arg)
{
	struct relay_vconn *v = arg;

	if (v->closing)
		return;
	if (what & BEV_EVENT_EOF) {
		v->user_eof = true;
		if (v->phase == RELAY_VCONN_HEAD || v->phase == RELAY_VCONN_DISCARD)
			relay_vconn_closing_start(v);     /* answers already queued still go out */
		else if (v->phase == RELAY_VCONN_EXCHANGE && !v->req_done)
			relay_vconn_close(v, "the user closed mid-request");
		else if (v->phase == RELAY_VCONN_CLOSING)
			relay_vconn_close(v, NULL);
		return;
	}
	if ((what & (BEV_EVENT_TIMEOUT | BEV_EVENT_READING)) ==
	    (BEV_EVENT_TIMEOUT | BEV_EVENT_READING) &&
	    (v->phase == RELAY_VCONN_WAIT || (v->phase == RELAY_VCONN_EXCHANGE && v->req_done))) {
		/* A user waiting for its answer sends nothing: the exchange
		 * has its own timers. Reading stopped: go on. */
		relay_hconn_read(h, true);
		return;
	}
	if (v->lingering) {
		relay_vconn_close(v, NULL);   /* the answer went out: a normal end */
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    v->phase == RELAY_VCONN_HEAD && !v->head_started) {
		relay_vconn_close(v, "idle for vhostHTTPTimeout");
		return;
	}
	relay_vconn_close(v, (what & BEV_EVENT_TIMEOUT) ? "user timed out" :
			  h->err == ECONNRESET ? "the user reset the connection" :
			  "user connection failed");
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct relay_vhttp *vh = arg;
	struct relay *r = vh->relay;
	struct relay_vconn *v = calloc(1, sizeof(*v));
	int one = 1, rc;

	if (!v) {
		evutil_closesocket(fd);
		return;
	}
	v->vh = vh;
	v->next = vh->conns;
	if (vh->conns)
		vh->conns->prev = v;
	vh->conns = v;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	v->user = relay_hconn_new(r->base, fd, &rc);
	if (!v->user)
		evutil_closesocket(fd);
	v->req = relay_http_req_new(&rc);
	v->kill = event_new(r->base, -1, 0, on_kill, v);
	v->timer = evtimer_new(r->base, on_timer, v);
	if (!v->user || !v->req || !v->kill || !v->timer) {
		vconn_free(v);
		return;
	}
	v->opened = bw_now_ms();
	relay_peer_split(sa, v->ip, sizeof(v->ip), &v->port);
	{
		struct sockaddr_storage local;
		socklen_t ll = sizeof(local);

		v->dst_port = vh->port;
		if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
			relay_peer_split((struct sockaddr *)&local, v->dst, sizeof(v->dst),
					 &v->dst_port);
	}
	snprintf(v->who, sizeof(v->who), strchr(v->ip, ':') ? "[%s]:%u" : "%s:%u", v->ip, v->port);
	relay_hconn_setcb(v->user, on_user_read, on_user_write, on_user_event, v);
	relay_hconn_set_read_high(v->user, HIGH_WM);
	/* Idle keep-alive connections, slow heads and bodies, and users that
	 * stop reading all end after vhostHTTPTimeout. */
	relay_hconn_set_timeouts(v->user, &vh->timeout, &vh->timeout);
	relay_hconn_read(v->user, true);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct relay_vhttp *vh = arg;

	relay_listener_on_error(l, &vh->resume, "relay: http vhost");
}

/* --- the port and the proxies ------------------------------------------------ */

int relay_vhttp_listen(struct relay *r)
{
	const struct conf_server *conf = r->conf;
	struct relay_vhttp *vh;
	int rc, t = conf->vhost_http_timeout_s > 0 ? conf->vhost_http_timeout_s : 60;

	if (!conf->vhost_http_port || r->vhttp)
		return 0;
	vh = calloc(1, sizeof(*vh));
	if (!vh)
		return BW_E_NOMEM;
	vh->relay = r;
	vh->port = conf->vhost_http_port;
	vh->timeout.tv_sec = t;
	vh->routes = relay_vhost_new(true, &rc);
	if (vh->routes)
		vh->listener = relay_vhost_listen(r, "http", vh->port, on_accept, vh, &rc);
	if (!vh->listener) {
		relay_vhost_free(vh->routes);
		free(vh);
		return rc;
	}
	evconnlistener_set_error_cb(vh->listener, on_accept_error);
	r->vhttp = vh;
	return 0;
}

void relay_vhttp_free(struct relay *r)
{
	struct relay_vhttp *vh = r->vhttp;

	if (!vh)
		return;
	while (vh->conns) {
		relay_vconn_req_log(vh->conns, "server shutting down");
		conn_log(vh->conns, "server shutting down");
		vconn_free(vh->conns);
	}
	evconnlistener_free(vh->listener);
	if (vh->resume)
		event_free(vh->resume);
	relay_vhost_free(vh->routes);
	free(vh);
	r->vhttp = NULL;
}
