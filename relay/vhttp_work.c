/*
 * The exchange of one request of the http vhost port (vhttp.c) with its
 * proxy's client: a work connection is found (a kept one, else the client's
 * pool, else REQ_WORK_CONN), started with START_WORK_CONN when fresh, sent
 * the rewritten request head and body, and its response is framed and
 * forwarded to the user; then the work connection is kept or closed.
 *
 * Work connections are kept, as frp's http.Transport keeps them: once a
 * response ended, the request and the response both kept the connection
 * alive and nothing else came on it, it waits, tagged with its proxy, on the
 * client's list of kept connections (at most RELAY_HTTP_IDLE_PER_PROXY per
 * proxy, RELAY_HTTP_IDLE_PER_CLIENT per client, each for vhostHTTPTimeout)
 * and carries that proxy's next request, from any user, without a new
 * START_WORK_CONN: burrow still relays it to the same kept-alive connection
 * to the service. Otherwise a request takes a fresh work connection and
 * starts it with START_WORK_CONN. The service may close a kept connection
 * just as a request goes out on it: a request without a body that fails so
 * before any byte of an answer is sent again once, on a fresh connection
 * (Go's transport retries the same).
 *
 * The backend is not asked to close: relay_http_resp_* frames its response
 * without rewriting the head, which burrowd forwards as it is, so a
 * "Connection: close" there would end the user's keep-alive connection too.
 * burrowd knows where each response ends and closes the work connection.
 *
 * useEncryption seals the work connection as for tcp proxies (relay.h,
 * seal_b): records of at most RELAY_SEAL_RECORD_MAX bytes, an empty record
 * ends a direction.
 */
#include "relay/relay_int.h"
#include "relay/vhost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <http_parser.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"

#define HIGH_WM RELAY_PAIR_HIGH_WM
#define SEAL_FRAME_MAX (RELAY_SEAL_RECORD_MAX + BW_CRYPTO_RECORD_OVERHEAD)

static bool exchange_retry(struct relay_vconn *v, const char *why);

/* --- ending an exchange ---------------------------------------------------- */

/* Drop the work connection of the request in progress, if any. */
void relay_vconn_work_release(struct relay_vconn *v)
{
	if (v->work) {
		relay_hconn_free(v->work);
		v->work = NULL;
	}
	bw_crypto_session_free(v->s);
	v->s = NULL;
	if (v->wplain)
		evbuffer_drain(v->wplain, evbuffer_get_length(v->wplain));
	if (v->timer)
		evtimer_del(v->timer);
	v->up_paused = v->down_paused = false;
}

/* The exchange cannot go on: answer 502 (the page says whether the client
 * or its service failed) or 504 when the user has seen nothing of a response
 * yet, otherwise cut the connection. */
void relay_vconn_exchange_fail(struct relay_vconn *v, int status, enum relay_http_502 page,
			       const char *why)
{
	struct evbuffer *out = v->user->out;

	if (status == 502 && exchange_retry(v, why))
		return;
	relay_vconn_work_release(v);
	if (v->resp_sent || v->phase == RELAY_VCONN_CLOSING) {
		relay_vconn_close(v, why);
		return;
	}
	v->status = status;
	if (status == 502)
		relay_http_reply_502(out, page, v->host, true);
	else
		relay_http_reply(out, status, v->host, true);
	relay_vconn_req_log(v, why);
	relay_vconn_closing_start(v);
}

/* --- the proxy of a request ------------------------------------------------- */

/* The proxy of v's request, if it still owns the route: a proxy can close
 * while its request runs, and a pointer alone cannot tell. */
static struct relay_proxy *route_proxy(struct relay_vconn *v)
{
	const struct relay_vhost_route *rt = relay_vhost_lookup(v->vh->routes, v->host,
								relay_http_req_path(v->req));
	struct relay_proxy *p = rt ? rt->owner : NULL;

	return p && p->http_id == v->px_id ? p : NULL;
}

/* --- the work connection --------------------------------------------------- */

/* Move n bytes of src to the work connection, sealed when it is. */
int relay_vconn_work_send(struct relay_vconn *v, struct evbuffer *src, size_t n)
{
	struct evbuffer *out = v->work->out;
	uint8_t buf[PROTO_FRAME_HDR + SEAL_FRAME_MAX];

	if (!v->s)
		return evbuffer_remove_buffer(src, out, n) == (int)n ? 0 : BW_E_NOMEM;
	while (n > 0) {
		size_t k = n < RELAY_SEAL_RECORD_MAX ? n : RELAY_SEAL_RECORD_MAX, sealed;
		int rc;

		evbuffer_remove(src, buf + PROTO_FRAME_HDR, k);
		rc = bw_crypto_seal(v->s, NULL, 0, buf + PROTO_FRAME_HDR, k, buf + PROTO_FRAME_HDR,
				    SEAL_FRAME_MAX, &sealed);
		if (rc < 0)
			return rc;
		proto_frame_header_write(buf, sealed);
		if (evbuffer_add(out, buf, PROTO_FRAME_HDR + sealed) < 0)
			return BW_E_NOMEM;
		n -= k;
	}
	return 0;
}

/* The request's head, rewritten for the service: straight into the work
 * connection's output when it is plain, through a buffer to seal when not. */
static int head_send(struct relay_vconn *v, const struct relay_http_rewrite *rw)
{
	struct evbuffer *out = v->work->out, *head;
	size_t before = evbuffer_get_length(out), n;
	int rc;

	if (!v->s) {
		rc = relay_http_req_write_head(v->req, rw, out);
		v->up += evbuffer_get_length(out) - before;
		return rc;
	}
	if (!(head = evbuffer_new()))
		return BW_E_NOMEM;
	rc = relay_http_req_write_head(v->req, rw, head);
	n = evbuffer_get_length(head);
	if (rc == 0) {
		v->up += n;
		rc = relay_vconn_work_send(v, head, n);
	}
	evbuffer_free(head);
	return rc;
}

/* Open the whole records of the work connection's input into wplain.
 * 1: the end record came; 0: wait for more; <0: forged or malformed. */
static int work_open(struct relay_vconn *v)
{
	struct evbuffer *in = v->work->in;
	uint8_t buf[PROTO_FRAME_HDR + SEAL_FRAME_MAX];

	for (;;) {
		size_t avail = evbuffer_get_length(in), plen = 0, len;
		int rc;

		if (avail < PROTO_FRAME_HDR)
			return 0;
		evbuffer_copyout(in, buf, PROTO_FRAME_HDR);
		rc = proto_frame_parse(buf, PROTO_FRAME_HDR, SEAL_FRAME_MAX, &plen);
		if (rc != 0 && rc != BW_E_AGAIN)
			return rc;
		if (avail < PROTO_FRAME_HDR + plen)
			return 0;
		evbuffer_remove(in, buf, PROTO_FRAME_HDR + plen);
		rc = bw_crypto_open(v->s, NULL, 0, buf + PROTO_FRAME_HDR, plen, buf + PROTO_FRAME_HDR,
				    plen, &len);
		if (rc < 0)
			return rc;
		if (len == 0)
			return 1;
		if (evbuffer_add(v->wplain, buf + PROTO_FRAME_HDR, len) < 0)
			return BW_E_NOMEM;
	}
}

/* The response is over: the work connection goes, and the user
 * connection reads its next request or closes. */
static void exchange_done(struct relay_vconn *v, bool resp_keep)
{
	bool both = resp_keep && v->req_done && relay_http_req_keep_alive(v->req) &&
		    !relay_http_req_is_upgrade(v->req);
	bool keep = both && !v->user_eof;
	/* The work connection is kept when nothing but this response came on
	 * it: anything more would be taken for the next response. */
	bool work_keep = both && v->work && !v->work_end &&
			 evbuffer_get_length(v->work->in) == 0 &&
			 (!v->wplain || evbuffer_get_length(v->wplain) == 0);
	struct relay_proxy *p = work_keep ? route_proxy(v) : NULL;

	if (p && relay_client_http_keep(p->client, p->http_id, p->name, v->work, v->s,
					v->work_uses, &v->vh->timeout)) {
		v->work = NULL;   /* the client's now */
		v->s = NULL;
	} else {
		relay_work_send_end(v->work, v->s);
	}
	relay_vconn_work_release(v);
	relay_vconn_req_log(v, NULL);
	if (!keep) {
		relay_vconn_closing_start(v);
		return;
	}
	v->phase = RELAY_VCONN_HEAD;
	relay_vconn_user_process(v);
}

/* After a 101 (or a 2xx to CONNECT) both sides speak another protocol:
 * relay them as a tcp proxy does. */
static void tunnel(struct relay_vconn *v)
{
	struct bufferevent *user, *work;
	struct bw_crypto_session *s = v->s;
	int rc;

	if (v->wplain && evbuffer_get_length(v->wplain) > 0)
		evbuffer_add_buffer(v->user->out, v->wplain);
	relay_vconn_req_log(v, "upgraded, relayed as a tunnel");
	v->tunneled = true;
	/* The pair takes bufferevents, with the bytes each side holds. */
	if (!(user = relay_hconn_give_bev(v->user, &rc))) {
		relay_vconn_close(v, "out of memory");
		return;
	}
	v->user = NULL;
	if (!(work = relay_hconn_give_bev(v->work, &rc))) {
		bufferevent_free(user);
		relay_vconn_close(v, "out of memory");
		return;
	}
	v->work = NULL;
	v->s = NULL;
	relay_conn_start(v->vh->relay, v->proxy, v->who, user, work, s);
	relay_vconn_close(v, NULL);
}

/* The backend's direction ended with nothing left to read. */
static void work_eof(struct relay_vconn *v)
{
	int rc = relay_http_resp_eof(v->resp);

	if (rc == RELAY_HTTP_MSG_DONE)
		exchange_done(v, false);    /* a body read to EOF: the user's ends too */
	else
		relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_SERVICE,
			      rc == BW_E_TRUNCATED ? "the service closed mid-response" :
			      "the service closed without answering");
}

static void work_forward(struct relay_vconn *v);

/* Forward the response, as far as it goes and the user's output takes, and
 * write it. */
void relay_vconn_work_process(struct relay_vconn *v)
{
	work_forward(v);
	if (!v->closing && v->user && v->phase != RELAY_VCONN_CLOSING)
		relay_hconn_flush(v->user);
}

static void work_forward(struct relay_vconn *v)
{
	struct evbuffer *src, *uout;

	if (v->closing || v->phase != RELAY_VCONN_EXCHANGE || !v->work || v->down_paused)
		return;
	uout = v->user->out;
	src = v->work->in;
	if (v->s) {
		int rc = work_open(v);

		if (rc < 0) {
			relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_CLIENT,
				      "sealed record failed authentication");
			return;
		}
		if (rc == 1) {
			v->work_end = true;
			relay_hconn_read(v->work, false);
		}
		src = v->wplain;
	}
	for (;;) {
		struct evbuffer_iovec vec = { NULL, 0 };
		size_t len = evbuffer_get_length(src), used = 0;
		int rc;

		if (len == 0 && !v->resp_kick)
			break;
		if (len > 0 && evbuffer_peek(src, -1, NULL, &vec, 1) < 1)
			break;
		v->resp_kick = false;
		if (!v->resp_head)
			rc = relay_http_resp_feed(v->resp, v->method_id, vec.iov_base, vec.iov_len,
						  &used);
		else
			rc = relay_http_resp_body(v->resp, vec.iov_base, vec.iov_len, &used);
		if (used > 0) {
			evbuffer_remove_buffer(src, uout, used);
			v->down += used;
			v->resp_sent = true;
		}
		/* NEED_MORE consumes everything it is given: anything else
		 * would spin here. */
		if (rc < 0 || (rc == RELAY_HTTP_NEED_MORE && used < vec.iov_len)) {
			relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_SERVICE,
				      "the service sent a malformed response");
			return;
		}
		if (rc == RELAY_HTTP_HEAD_DONE) {
			v->resp_head = true;
			v->resp_kick = true;    /* a response without body ends now */
			v->status = relay_http_resp_status(v->resp);
			evtimer_del(v->timer);
			relay_hconn_set_timeouts(v->work, &v->vh->timeout, &v->vh->timeout);
		} else if (rc == RELAY_HTTP_MSG_DONE) {
			v->resp_head = false;
			if (v->status / 100 != 1) {
				exchange_done(v, relay_http_resp_keep_alive(v->resp));
				return;
			}
			/* 100 Continue and the like: the final response follows. */
		} else if (rc == RELAY_HTTP_UPGRADE) {
			tunnel(v);
			return;
		}
		if (evbuffer_get_length(uout) >= HIGH_WM) {
			v->down_paused = true;
			relay_hconn_read(v->work, false);
			return;
		}
	}
	if (v->work_end && evbuffer_get_length(src) == 0)
		work_eof(v);
}

static void on_work_read(struct relay_hconn *h, void *arg)
{
	relay_vconn_work_process(arg);
}

/* The work connection's output drained. */
static void on_work_write(struct relay_hconn *h, void *arg)
{
	struct relay_vconn *v = arg;

	if (v->closing || !v->up_paused)
		return;
	v->up_paused = false;
	relay_vconn_user_process(v);
}

static void on_work_event(struct relay_hconn *h, short what, void *arg)
{
	struct relay_vconn *v = arg;

	if (v->closing)
		return;
	if (what & BEV_EVENT_EOF) {
		if (!v->s)
			v->work_end = true;
		relay_vconn_work_process(v);
		/* Sealed: a bare EOF without the end record is a truncation. */
		if (!v->closing && v->work == h && v->s && !v->work_end)
			relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_CLIENT,
							  "sealed stream truncated");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		relay_vconn_exchange_fail(v, 504, RELAY_HTTP_502_CLIENT, "the service timed out");
		return;
	}
	relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_CLIENT, "work connection failed");
}

/* Send v's request on a work connection of p: a fresh one, started with
 * START_WORK_CONN sealed with s (which stays only with useEncryption), or a
 * kept one (s is its data session, NULL when plain). Then the body follows
 * as the user sends it. */
static void exchange_start(struct relay_vconn *v, struct relay_proxy *p,
			   struct relay_hconn *work, struct bw_crypto_session *s, bool fresh)
{
	struct relay_http_rewrite rw = { .client_ip = v->ip, .proto = "http" };
	int rc = 0;

	v->work = work;
	v->reused = !fresh;
	v->work_uses++;
	if (fresh) {
		/* frp's addresses: the user's, and the one it connected to. */
		struct proto_msg m = { .type = PROTO_MSG_START_WORK_CONN };

		m.start_work_conn.proxy_name = p->name;
		m.start_work_conn.src_addr = v->ip;
		m.start_work_conn.src_port = v->port;
		m.start_work_conn.dst_addr = v->dst;
		m.start_work_conn.dst_port = v->dst_port;
		rc = proto_frame_send(work->out, s, &m, NULL);
		if (!p->use_encryption) {
			bw_crypto_session_free(s);
			s = NULL;
		}
	}
	v->s = s;
	if (rc == 0 && v->s && !v->wplain && !(v->wplain = evbuffer_new()))
		rc = BW_E_NOMEM;
	/* One response parser per user connection, reset for each exchange. */
	if (rc == 0 && v->resp)
		relay_http_resp_reset(v->resp);
	else if (rc == 0 && !(v->resp = relay_http_resp_new(&rc)))
		rc = rc < 0 ? rc : BW_E_NOMEM;
	if (rc == 0 && p->http) {
		rw.host = p->http->host;
		rw.set = p->http->set;
		rw.n_set = p->http->n_set;
	}
	if (rc == 0)
		rc = head_send(v, &rw);
	v->phase = RELAY_VCONN_EXCHANGE;
	if (rc < 0) {
		relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_CLIENT,
						  "cannot start the work connection");
		return;
	}
	p->conns++;
	relay_hconn_setcb(work, on_work_read, on_work_write, on_work_event, v);
	/* Until the response head: the 504 timer. The write timeout covers a
	 * service that stops reading the body. */
	relay_hconn_set_timeouts(work, NULL, &v->vh->timeout);
	relay_hconn_read(work, true);
	if (v->req_done)
		evtimer_add(v->timer, &v->vh->timeout);   /* sent again: no body to read */
	v->kick = true;
	relay_vconn_user_process(v);   /* the body (nested in it: the loop goes on) */
}

/* A work connection of the route's owner came for this request. */
static void http_attach(struct relay_waiter *w, struct bufferevent *bev,
			struct bw_crypto_session *s)
{
	struct relay_vconn *v = w->ctx;
	struct relay_hconn *work;
	int rc;

	v->waiter = NULL;
	v->work_uses = 0;
	/* From now on burrowd reads and writes its socket itself. */
	if (!(work = relay_hconn_take_bev(bev, &rc))) {
		bufferevent_free(bev);
		bw_crypto_session_free(s);
		relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_CLIENT,
						  "cannot start the work connection");
		return;
	}
	exchange_start(v, w->proxy, work, s, true);
}

/* The waiter went without a work connection: the client is gone, did not
 * send one in time, or has too many users waiting. */
static void http_waiter_gone(struct relay_waiter *w)
{
	struct relay_vconn *v = w->ctx;

	if (v->waiter != w)
		return;      /* attached, or let go by relay_vconn_close */
	v->waiter = NULL;
	relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_CLIENT,
					  "no work connection from the client");
}

/* Methods a request can be sent again for, when it has no body (Go's
 * http.Transport retries the same ones on a kept connection). */
static bool replayable(int method)
{
	return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
	       method == HTTP_TRACE;
}

/* A kept work connection of p for v's request, else a fresh one: the
 * client's pool, or the next to arrive. */
void relay_vconn_work_find(struct relay_vconn *v, struct relay_proxy *p, bool fresh_only)
{
	struct relay_hconn *conn;
	struct bw_crypto_session *s;
	struct relay_waiter *w;

	if (!fresh_only &&
	    relay_client_http_take(p->client, p->http_id, &conn, &s, &v->work_uses)) {
		log_debug("relay: http proxy %s: %s: request %u on a kept work connection", p->name,
			  v->who, v->work_uses + 1);
		exchange_start(v, p, conn, s, false);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		relay_vconn_exchange_fail(v, 502, RELAY_HTTP_502_CLIENT, "out of memory");
		return;
	}
	w->proxy = p;
	w->attach = http_attach;
	w->on_free = http_waiter_gone;
	w->ctx = v;
	snprintf(w->src, sizeof(w->src), "%s", v->ip);
	w->src_port = v->port;
	snprintf(w->dst, sizeof(w->dst), "%s", v->dst);
	w->dst_port = v->dst_port;
	v->waiter = w;
	v->phase = RELAY_VCONN_WAIT;
	/* The user's bytes wait in its input meanwhile (relay_vconn_user_process). */
	relay_client_take_work(p->client, w);
}

/* A kept work connection failed before the user saw any answer: the service
 * most likely closed it while the request went out. A request without a
 * body is sent again, once, on a fresh connection. */
static bool exchange_retry(struct relay_vconn *v, const char *why)
{
	struct relay_proxy *p;

	if (!v->reused || v->retried || v->resp_sent || !v->req_done || v->body_up > 0 ||
	    v->phase != RELAY_VCONN_EXCHANGE || v->closing || !replayable(v->method_id))
		return false;
	p = route_proxy(v);
	if (!p)
		return false;
	log_debug("relay: http proxy %s: %s: kept work connection failed (%s): sending the "
		  "request again on a fresh one", p->name, v->who, why);
	relay_vconn_work_release(v);
	v->retried = true;
	v->reused = false;
	v->up = 0;
	v->resp_head = v->work_end = false;
	v->kick = v->resp_kick = false;
	relay_vconn_work_find(v, p, true);
	return true;
}
