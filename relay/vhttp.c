/*
 * The http vhost port (frp's vhostHTTPPort): each request is routed on its
 * own, by Host and path, to the proxy that registered them.
 *
 * A user connection (struct vconn) reads one request head, routes it, and
 * either answers itself (404, 401, 400, 431) or takes a work connection of
 * the route's owner, sends the rewritten head and the body, and streams the
 * response back. Then the next request on the user connection is read and
 * routed again: keep-alive is per request, pipelined requests wait until the
 * previous response is done. An Upgrade answered with 101 turns the two
 * connections into a plain relayed pair.
 *
 * Work connections are kept, as frp's http.Transport keeps them: once a
 * response ended, the request and the response both kept the connection
 * alive and nothing else came on it, it waits, tagged with its proxy, on the
 * client's list of kept connections (at most RELAY_HTTP_IDLE_PER_PROXY per
 * proxy, RELAY_HTTP_IDLE_PER_CLIENT per client, each for vhostHTTPTimeout)
 * and carries that proxy's next request, from any user, without a new
 * START_WORK_CONN: burrow still relays it to the same kept-alive connection
 * to the service. Otherwise a request takes a fresh work connection (the
 * client's pool, then REQ_WORK_CONN) and starts it with START_WORK_CONN.
 * The service may close a kept connection just as a request goes out on it:
 * a request without a body that fails so before any byte of an answer is
 * sent again once, on a fresh connection (Go's transport retries the same).
 *
 *   phase:  HEAD --route--> WAIT --attach--> EXCHANGE --response done--> HEAD
 *             \--own answer--> DISCARD (drop the body) --------------------^
 *   any phase --error or close--> CLOSING (flush, half-close, drain) --> freed
 *
 * The backend is not asked to close: relay_http_resp_* frames its response
 * without rewriting the head, which burrowd forwards as it is, so a
 * "Connection: close" there would end the user's keep-alive connection too.
 * burrowd knows where each response ends and closes the work connection.
 *
 * useEncryption seals the work connection as for tcp proxies (relay.h,
 * seal_b): records of at most RELAY_SEAL_RECORD_MAX bytes, an empty record
 * ends a direction.
 *
 * Backpressure: at most about RELAY_PAIR_HIGH_WM is queued per direction;
 * the side that feeds a full output stops until it drained. Writes go out
 * in the pass that queued them (flush_now), reading stays on in every phase
 * (bounded by a read watermark): a kept-alive request costs a read and a
 * write on each side and no epoll_ctl.
 *
 * Lifetime: vconn_close marks the connection and frees it from a deferred
 * event, never under a caller: a waiter's attach and on_free callbacks run
 * inside relay_client_take_work, called from the middle of user_process.
 */
#include "relay/relay_int.h"
#include "relay/vhost.h"

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
#define LOG_PATH_MAX 128
#define SEAL_FRAME_MAX (RELAY_SEAL_RECORD_MAX + BW_CRYPTO_RECORD_OVERHEAD)

enum vphase {
	V_HEAD,      /* reading a request head */
	V_DISCARD,   /* answered by burrowd: dropping the request's body */
	V_WAIT,      /* waiting for a work connection */
	V_EXCHANGE,  /* request to the work connection, response back */
	V_CLOSING,   /* writing what is queued, then half-close and drain */
};

struct vconn {
	struct relay_vhttp *vh;
	struct vconn *next, *prev;         /* in vh->conns */
	struct bufferevent *user, *work;
	struct bw_crypto_session *s;       /* the work connection is sealed */
	struct evbuffer *wplain;           /* sealed: opened, not yet forwarded */
	struct relay_http_req *req;
	struct relay_http_resp *resp;
	struct relay_waiter *waiter;
	struct event *timer;               /* head deadline, then 504 (on_timer) */
	struct event *kill;                /* the deferred free */
	enum vphase phase;
	bool closing, in_user, user_eof, lingering;
	bool head_started;                 /* bytes of a request head were read */
	bool kick;                         /* call the body reader once, even empty */
	bool resp_kick;
	bool req_done;                     /* the whole request went to the backend */
	bool resp_head;                    /* in a response's body */
	bool resp_sent;                    /* response bytes went to the user */
	bool work_end;                     /* the backend's direction ended */
	bool up_paused, down_paused, logged;
	bool reused;                       /* the work connection was kept from before */
	bool retried;                      /* this request was sent again once */
	int method_id, status;
	unsigned work_uses;                /* requests the work connection carried */
	uint64_t px_id;                    /* the route's proxy (relay_proxy.http_id) */
	uint64_t up, down;                 /* this request's bytes each way */
	uint64_t body_up;                  /* of up, the body's */
	size_t discarded;
	int64_t t0;
	uint16_t port, dst_port;
	char ip[BW_ADDR_STRLEN];
	char dst[BW_ADDR_STRLEN];          /* the address the user connected to */
	char who[BW_ADDR_STRLEN + 8];
	char proxy[PROTO_PROXY_NAME_MAX + 1];
	char method[16];
	char host[RELAY_VHOST_HOST_MAX + 1];
	char path[LOG_PATH_MAX + 1];
};

static void user_process(struct vconn *v);
static void work_process(struct vconn *v);

/* --- writing ----------------------------------------------------------------- */

/*
 * Write what bev has queued now, in this loop pass. A bufferevent would
 * write it on the next pass, after arming its write event and before
 * disarming it again: one more epoll_wait and two epoll_ctl calls per
 * message. Connections here keep EV_WRITE disabled while their output is
 * empty; only a remainder the socket did not take enables it, and the write
 * callback disables it again once the output drained (its low watermark is
 * 0). A write error is left to the bufferevent, which reports it.
 */
static void flush_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(bev) & EV_WRITE))
		return;
	/* A socket bufferevent freezes the start of its output: only it may
	 * drain it. This is that drain, on its behalf. */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(bev, EV_WRITE);
}

/* The write callback: the output drained (low watermark 0). */
static void write_drained(struct bufferevent *bev)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

/* --- logging and freeing ------------------------------------------------- */

/* One line per request, once, when it ends. */
static void req_log(struct vconn *v, const char *why)
{
	struct relay *r = v->vh->relay;
	char st[8] = "-";

	if (v->logged || !v->method[0])
		return;
	v->logged = true;
	r->stats.bytes_in += v->up;
	r->stats.bytes_out += v->down;
	if (v->status)
		snprintf(st, sizeof(st), "%d", v->status);
	if (v->proxy[0])
		log_info("relay: http proxy %s: %s \"%s %s%s\" %s%s%s (%llu B in, %llu B out, "
			 "%.3f s)", v->proxy, v->who, v->method, v->host, v->path, st,
			 why ? ": " : "", why ? why : "", (unsigned long long)v->up,
			 (unsigned long long)v->down, (bw_now_ms() - v->t0) / 1000.0);
	else
		log_ratelimited(LOG_INFO, "relay: http %s \"%s %s%s\" %s%s%s", v->who, v->method,
				v->host, v->path, st, why ? ": " : "", why ? why : "");
}

/* Drop the work connection of the request in progress, if any. */
static void work_release(struct vconn *v)
{
	if (v->work) {
		bufferevent_free(v->work);
		v->work = NULL;
	}
	bw_crypto_session_free(v->s);
	v->s = NULL;
	if (v->wplain)
		evbuffer_drain(v->wplain, evbuffer_get_length(v->wplain));
	relay_http_resp_free(v->resp);
	v->resp = NULL;
	if (v->timer)
		evtimer_del(v->timer);
	v->up_paused = v->down_paused = false;
}

static void vconn_free(struct vconn *v)
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
	work_release(v);
	if (v->wplain)
		evbuffer_free(v->wplain);
	if (v->user)
		bufferevent_free(v->user);
	relay_http_req_free(v->req);
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
static void vconn_close(struct vconn *v, const char *why)
{
	if (v->closing)
		return;
	v->closing = true;
	req_log(v, why);
	log_debug("relay: http %s closed%s%s", v->who, why ? ": " : "", why ? why : "");
	if (v->waiter) {
		struct relay_waiter *w = v->waiter;

		v->waiter = NULL;
		relay_waiter_free(w);
	}
	work_release(v);
	if (v->user)
		bufferevent_disable(v->user, EV_READ | EV_WRITE);
	event_active(v->kill, EV_TIMEOUT, 1);
}

/* Write what is queued for the user, then close (see on_user_write). */
static void closing_start(struct vconn *v)
{
	work_release(v);
	v->phase = V_CLOSING;
	bufferevent_disable(v->user, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(v->user)) == 0) {
		vconn_close(v, NULL);
		return;
	}
	bufferevent_setwatermark(v->user, EV_WRITE, 0, 0);
	bufferevent_enable(v->user, EV_WRITE);
}

/* Everything was written: half-close, and read what the user still sends
 * for a moment, so that closing with unread bytes (a reset) does not
 * destroy the answer before the user reads it. */
static void linger_start(struct vconn *v)
{
	struct timeval tv = { LINGER_MS / 1000, (LINGER_MS % 1000) * 1000 };

	if (v->user_eof || v->lingering) {
		vconn_close(v, NULL);
		return;
	}
	v->lingering = true;
	shutdown(bufferevent_getfd(v->user), SHUT_WR);
	evbuffer_drain(bufferevent_get_input(v->user), evbuffer_get_length(
			       bufferevent_get_input(v->user)));
	bufferevent_set_timeouts(v->user, &tv, NULL);
	bufferevent_enable(v->user, EV_READ);
}

/* --- burrowd's own answers ------------------------------------------------- */

static void own_reply(struct vconn *v, int status, const char *why)
{
	/* A HEAD request expects no body: never reuse the connection after
	 * a page it did not ask for. After Expect: 100-continue the client
	 * may or may not send the body now: the next bytes cannot be told
	 * apart, so the connection closes (as Go's server does). */
	bool keep = relay_http_req_keep_alive(v->req) && !relay_http_req_is_upgrade(v->req) &&
		    v->method_id != HTTP_HEAD && !relay_http_req_header(v->req, "expect") &&
		    !v->user_eof;

	v->status = status;
	if (relay_http_reply(bufferevent_get_output(v->user), status, v->host, !keep) < 0) {
		vconn_close(v, "out of memory");
		return;
	}
	req_log(v, why);
	if (!keep) {
		closing_start(v);
		return;
	}
	v->phase = V_DISCARD;
	v->kick = true;
	v->discarded = 0;
}

static bool exchange_retry(struct vconn *v, const char *why);

/* The exchange cannot go on: answer 502 (the page says whether the client
 * or its service failed) or 504 when the user has seen nothing of a response
 * yet, otherwise cut the connection. */
static void exchange_fail(struct vconn *v, int status, enum relay_http_502 page, const char *why)
{
	struct evbuffer *out = bufferevent_get_output(v->user);

	if (status == 502 && exchange_retry(v, why))
		return;
	work_release(v);
	if (v->resp_sent || v->phase == V_CLOSING) {
		vconn_close(v, why);
		return;
	}
	v->status = status;
	if (status == 502)
		relay_http_reply_502(out, page, v->host, true);
	else
		relay_http_reply(out, status, v->host, true);
	req_log(v, why);
	closing_start(v);
}

/* --- the proxy of a request ------------------------------------------------- */

/* The proxy of v's request, if it still owns the route: a proxy can close
 * while its request runs, and a pointer alone cannot tell. */
static struct relay_proxy *route_proxy(struct vconn *v)
{
	const struct relay_vhost_route *rt = relay_vhost_lookup(v->vh->routes, v->host,
								relay_http_req_path(v->req));
	struct relay_proxy *p = rt ? rt->owner : NULL;

	return p && p->http_id == v->px_id ? p : NULL;
}

/* --- the work connection --------------------------------------------------- */

/* Move n bytes of src to the work connection, sealed when it is. */
static int work_send(struct vconn *v, struct evbuffer *src, size_t n)
{
	struct evbuffer *out = bufferevent_get_output(v->work);
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

/* Open the whole records of the work connection's input into wplain.
 * 1: the end record came; 0: wait for more; <0: forged or malformed. */
static int work_open(struct vconn *v)
{
	struct evbuffer *in = bufferevent_get_input(v->work);
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
static void exchange_done(struct vconn *v, bool resp_keep)
{
	bool both = resp_keep && v->req_done && relay_http_req_keep_alive(v->req) &&
		    !relay_http_req_is_upgrade(v->req);
	bool keep = both && !v->user_eof;
	/* The work connection is kept when nothing but this response came on
	 * it: anything more would be taken for the next response. */
	bool work_keep = both && v->work && !v->work_end &&
			 evbuffer_get_length(bufferevent_get_input(v->work)) == 0 &&
			 (!v->wplain || evbuffer_get_length(v->wplain) == 0);
	struct relay_proxy *p = work_keep ? route_proxy(v) : NULL;

	if (p && relay_client_http_keep(p->client, p->http_id, p->name, v->work, v->s,
					v->work_uses, &v->vh->timeout)) {
		v->work = NULL;   /* the client's now */
		v->s = NULL;
	} else {
		relay_work_send_end(v->work, v->s);
	}
	work_release(v);
	req_log(v, NULL);
	if (!keep) {
		closing_start(v);
		return;
	}
	v->phase = V_HEAD;
	user_process(v);
}

/* After a 101 (or a 2xx to CONNECT) both sides speak another protocol:
 * relay them as a tcp proxy does. */
static void tunnel(struct vconn *v)
{
	struct bufferevent *user = v->user, *work = v->work;
	struct bw_crypto_session *s = v->s;

	if (v->wplain && evbuffer_get_length(v->wplain) > 0)
		evbuffer_add_buffer(bufferevent_get_output(user), v->wplain);
	req_log(v, "upgraded, relayed as a tunnel");
	v->user = v->work = NULL;
	v->s = NULL;
	bufferevent_set_timeouts(user, NULL, NULL);
	bufferevent_set_timeouts(work, NULL, NULL);
	relay_conn_start(v->vh->relay, v->proxy, v->who, user, work, s);
	vconn_close(v, NULL);
}

/* The backend's direction ended with nothing left to read. */
static void work_eof(struct vconn *v)
{
	int rc = relay_http_resp_eof(v->resp);

	if (rc == RELAY_HTTP_MSG_DONE)
		exchange_done(v, false);    /* a body read to EOF: the user's ends too */
	else
		exchange_fail(v, 502, RELAY_HTTP_502_SERVICE,
			      rc == BW_E_TRUNCATED ? "the service closed mid-response" :
			      "the service closed without answering");
}

static void work_forward(struct vconn *v);

/* Forward the response, as far as it goes and the user's output takes, and
 * write it. */
static void work_process(struct vconn *v)
{
	work_forward(v);
	if (!v->closing && v->user && v->phase != V_CLOSING)
		flush_now(v->user);
}

static void work_forward(struct vconn *v)
{
	struct evbuffer *src, *uout;

	if (v->closing || v->phase != V_EXCHANGE || !v->work || v->down_paused)
		return;
	uout = bufferevent_get_output(v->user);
	src = bufferevent_get_input(v->work);
	if (v->s) {
		int rc = work_open(v);

		if (rc < 0) {
			exchange_fail(v, 502, RELAY_HTTP_502_CLIENT,
				      "sealed record failed authentication");
			return;
		}
		if (rc == 1) {
			v->work_end = true;
			bufferevent_disable(v->work, EV_READ);
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
			exchange_fail(v, 502, RELAY_HTTP_502_SERVICE,
				      "the service sent a malformed response");
			return;
		}
		if (rc == RELAY_HTTP_HEAD_DONE) {
			v->resp_head = true;
			v->resp_kick = true;    /* a response without body ends now */
			v->status = relay_http_resp_status(v->resp);
			evtimer_del(v->timer);
			bufferevent_set_timeouts(v->work, &v->vh->timeout, &v->vh->timeout);
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
			bufferevent_disable(v->work, EV_READ);
			return;
		}
	}
	if (v->work_end && evbuffer_get_length(src) == 0)
		work_eof(v);
}

static void on_work_read(struct bufferevent *bev, void *arg)
{
	work_process(arg);
}

/* The work connection's output drained. */
static void on_work_write(struct bufferevent *bev, void *arg)
{
	struct vconn *v = arg;

	write_drained(bev);
	if (v->closing || !v->up_paused)
		return;
	v->up_paused = false;
	user_process(v);
}

static void on_work_event(struct bufferevent *bev, short what, void *arg)
{
	struct vconn *v = arg;

	if (v->closing)
		return;
	if (what & BEV_EVENT_EOF) {
		if (!v->s)
			v->work_end = true;
		work_process(v);
		/* Sealed: a bare EOF without the end record is a truncation. */
		if (!v->closing && v->work == bev && v->s && !v->work_end)
			exchange_fail(v, 502, RELAY_HTTP_502_CLIENT, "sealed stream truncated");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		exchange_fail(v, 504, RELAY_HTTP_502_CLIENT, "the service timed out");
		return;
	}
	exchange_fail(v, 502, RELAY_HTTP_502_CLIENT, "work connection failed");
}

/* In V_HEAD: the head did not complete in time (read timeouts restart
 * with every byte, so a slow sender could hold the connection for ever).
 * In V_EXCHANGE: the response head did not come after the request. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct vconn *v = arg;

	if (v->closing)
		return;
	if (v->phase == V_HEAD)
		vconn_close(v, "request head not complete within vhostHTTPTimeout");
	else if (v->phase == V_EXCHANGE)
		exchange_fail(v, 504, RELAY_HTTP_502_CLIENT, "no response within vhostHTTPTimeout");
}

/* Send v's request on a work connection of p: a fresh one, started with
 * START_WORK_CONN sealed with s (which stays only with useEncryption), or a
 * kept one (s is its data session, NULL when plain). Then the body follows
 * as the user sends it. */
static void exchange_start(struct vconn *v, struct relay_proxy *p, struct bufferevent *work,
			   struct bw_crypto_session *s, bool fresh)
{
	struct relay_http_rewrite rw = { .client_ip = v->ip, .proto = "http" };
	struct evbuffer *head = NULL;
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
		rc = proto_frame_send(bufferevent_get_output(work), s, &m, NULL);
		if (!p->use_encryption) {
			bw_crypto_session_free(s);
			s = NULL;
		}
	}
	v->s = s;
	if (rc == 0 && v->s && !v->wplain && !(v->wplain = evbuffer_new()))
		rc = BW_E_NOMEM;
	if (rc == 0 && !(v->resp = relay_http_resp_new(&rc)))
		rc = rc < 0 ? rc : BW_E_NOMEM;
	if (rc == 0 && !(head = evbuffer_new()))
		rc = BW_E_NOMEM;
	if (rc == 0 && p->http) {
		rw.host = p->http->host;
		rw.set = p->http->set;
		rw.n_set = p->http->n_set;
	}
	if (rc == 0)
		rc = relay_http_req_write_head(v->req, &rw, head);
	if (rc == 0) {
		size_t n = evbuffer_get_length(head);

		v->up += n;
		rc = work_send(v, head, n);
	}
	if (head)
		evbuffer_free(head);
	v->phase = V_EXCHANGE;
	if (rc < 0) {
		exchange_fail(v, 502, RELAY_HTTP_502_CLIENT, "cannot start the work connection");
		return;
	}
	p->conns++;
	bufferevent_setcb(work, on_work_read, on_work_write, on_work_event, v);
	bufferevent_setwatermark(work, EV_READ, 0, 0);
	bufferevent_setwatermark(work, EV_WRITE, 0, 0);
	/* Until the response head: the 504 timer. The write timeout covers a
	 * service that stops reading the body. */
	bufferevent_set_timeouts(work, NULL, &v->vh->timeout);
	bufferevent_disable(work, EV_WRITE);   /* flush_now writes */
	bufferevent_enable(work, EV_READ);
	if (v->req_done)
		evtimer_add(v->timer, &v->vh->timeout);   /* sent again: no body to read */
	v->kick = true;
	user_process(v);   /* the body (nested in user_process: the loop goes on) */
}

/* A work connection of the route's owner came for this request. */
static void http_attach(struct relay_waiter *w, struct bufferevent *work,
			struct bw_crypto_session *s)
{
	struct vconn *v = w->ctx;

	v->waiter = NULL;
	v->work_uses = 0;
	exchange_start(v, w->proxy, work, s, true);
}

/* The waiter went without a work connection: the client is gone, did not
 * send one in time, or has too many users waiting. */
static void http_waiter_gone(struct relay_waiter *w)
{
	struct vconn *v = w->ctx;

	if (v->waiter != w)
		return;      /* attached, or let go by vconn_close */
	v->waiter = NULL;
	exchange_fail(v, 502, RELAY_HTTP_502_CLIENT, "no work connection from the client");
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
static void work_find(struct vconn *v, struct relay_proxy *p, bool fresh_only)
{
	struct bufferevent *bev;
	struct bw_crypto_session *s;
	struct relay_waiter *w;

	if (!fresh_only && relay_client_http_take(p->client, p->http_id, &bev, &s, &v->work_uses)) {
		log_debug("relay: http proxy %s: %s: request %u on a kept work connection", p->name,
			  v->who, v->work_uses + 1);
		exchange_start(v, p, bev, s, false);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		exchange_fail(v, 502, RELAY_HTTP_502_CLIENT, "out of memory");
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
	v->phase = V_WAIT;
	/* The user's bytes wait in its input meanwhile (user_process). */
	relay_client_take_work(p->client, w);
}

/* A kept work connection failed before the user saw any answer: the service
 * most likely closed it while the request went out. A request without a
 * body is sent again, once, on a fresh connection. */
static bool exchange_retry(struct vconn *v, const char *why)
{
	struct relay_proxy *p;

	if (!v->reused || v->retried || v->resp_sent || !v->req_done || v->body_up > 0 ||
	    v->phase != V_EXCHANGE || v->closing || !replayable(v->method_id))
		return false;
	p = route_proxy(v);
	if (!p)
		return false;
	log_debug("relay: http proxy %s: %s: kept work connection failed (%s): sending the "
		  "request again on a fresh one", p->name, v->who, why);
	work_release(v);
	v->retried = true;
	v->reused = false;
	v->up = 0;
	v->resp_head = v->work_end = false;
	v->kick = v->resp_kick = false;
	work_find(v, p, true);
	return true;
}

/* --- the user connection ----------------------------------------------------- */

/* A request head is complete: route it. */
static void request_begin(struct vconn *v)
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
	snprintf(v->method, sizeof(v->method), "%s", relay_http_req_method(v->req));
	snprintf(v->host, sizeof(v->host), "%s", relay_http_req_host(v->req));
	/* The URL as sent (checked printable), without its query. */
	snprintf(v->path, sizeof(v->path), "%.*s", (int)strcspn(url, "?"), url);
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
	snprintf(v->proxy, sizeof(v->proxy), "%s", p->name);
	if (!p->http_id)
		p->http_id = ++v->vh->next_proxy_id;
	v->px_id = p->http_id;
	work_find(v, p, false);
}

static bool user_step_phase(struct vconn *v, struct evbuffer *in, struct evbuffer *out,
			    struct evbuffer_iovec *vec, size_t len);

/* One step of reading the user's bytes; false when there is nothing more
 * to do until the next event. */
static bool user_step(struct vconn *v, struct evbuffer *in, struct evbuffer *out)
{
	struct evbuffer_iovec vec = { NULL, 0 };
	size_t len = evbuffer_get_length(in);
	enum vphase before = v->phase;
	bool more;

	if (len > 0 && evbuffer_peek(in, -1, NULL, &vec, 1) < 1)
		return false;
	more = user_step_phase(v, in, out, &vec, len);
	/* A step that asks for more consumed bytes or changed the phase; one
	 * that did neither would spin here. */
	if (more && !v->closing && len > 0 && evbuffer_get_length(in) == len &&
	    v->phase == before && !v->kick) {
		vconn_close(v, "request reader made no progress");
		return false;
	}
	return more;
}

static bool user_step_phase(struct vconn *v, struct evbuffer *in, struct evbuffer *out,
			    struct evbuffer_iovec *vecp, size_t len)
{
	struct evbuffer_iovec vec = *vecp;
	size_t used = 0;
	int rc;

	switch (v->phase) {
	case V_HEAD:
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
			req_log(v, bw_strerror(rc));
			closing_start(v);
			return false;
		}
		return true;
	case V_DISCARD:
		if (len == 0 && !v->kick)
			return false;
		v->kick = false;
		rc = relay_http_req_body(v->req, vec.iov_base, vec.iov_len, &used);
		evbuffer_drain(in, used);
		v->discarded += used;
		if (rc == RELAY_HTTP_MSG_DONE && relay_http_req_keep_alive(v->req)) {
			v->phase = V_HEAD;
			return true;
		}
		if (rc != RELAY_HTTP_NEED_MORE || v->discarded > DISCARD_MAX) {
			closing_start(v);
			return false;
		}
		return len > 0;
	case V_EXCHANGE:
		if (v->req_done || v->up_paused || (len == 0 && !v->kick))
			return false;
		v->kick = false;
		rc = relay_http_req_body(v->req, vec.iov_base, vec.iov_len, &used);
		if (used > 0) {
			if (work_send(v, in, used) < 0) {
				vconn_close(v, "cannot forward the request body");
				return false;
			}
			v->up += used;
			v->body_up += used;
		}
		if (rc < 0) {
			vconn_close(v, "malformed request body");
			return false;
		}
		if (rc == RELAY_HTTP_MSG_DONE || rc == RELAY_HTTP_UPGRADE) {
			v->req_done = true;
			if (!v->resp_sent)
				evtimer_add(v->timer, &v->vh->timeout);
			return false;
		}
		if (evbuffer_get_length(bufferevent_get_output(v->work)) >= HIGH_WM) {
			v->up_paused = true;
			return false;
		}
		return len > 0;
	case V_WAIT:
	case V_CLOSING:
		return false;
	}
	return false;
}

/* Read the user's bytes as far as the phase allows, then write what that
 * queued. The user's connection keeps reading in every phase: what the
 * phase cannot take yet waits in its input, which stops growing at HIGH_WM
 * (its read watermark), so reading is never switched off and on per
 * request (two epoll_ctl calls each). */
static void user_process(struct vconn *v)
{
	struct evbuffer *in, *out;

	if (v->in_user || v->closing)
		return;
	v->in_user = true;
	in = bufferevent_get_input(v->user);
	out = bufferevent_get_output(v->user);
	while (!v->closing && user_step(v, in, out))
		;
	v->in_user = false;
	if (v->closing)
		return;
	if (v->work)
		flush_now(v->work);
	if (v->phase != V_CLOSING)
		flush_now(v->user);
}

static void on_user_read(struct bufferevent *bev, void *arg)
{
	struct vconn *v = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (v->closing)
		return;
	if (v->phase == V_CLOSING) {
		v->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (v->discarded > DISCARD_MAX)
			vconn_close(v, NULL);
		return;
	}
	user_process(v);
}

static void on_user_write(struct bufferevent *bev, void *arg)
{
	struct vconn *v = arg;

	if (v->closing)
		return;
	if (v->phase == V_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			linger_start(v);
		return;
	}
	write_drained(bev);
	if (v->down_paused) {
		v->down_paused = false;
		bufferevent_enable(v->work, EV_READ);
		work_process(v);
		if (v->closing)
			return;
	}
	user_process(v);    /* our own pages may have filled the output */
}

static void on_user_event(struct bufferevent *bev, short what, void *arg)
{
	struct vconn *v = arg;

	if (v->closing)
		return;
	if (what & BEV_EVENT_EOF) {
		v->user_eof = true;
		if (v->phase == V_HEAD || v->phase == V_DISCARD)
			closing_start(v);     /* answers already queued still go out */
		else if (v->phase == V_EXCHANGE && !v->req_done)
			vconn_close(v, "the user closed mid-request");
		else if (v->phase == V_CLOSING)
			vconn_close(v, NULL);
		return;
	}
	if ((what & (BEV_EVENT_TIMEOUT | BEV_EVENT_READING)) ==
	    (BEV_EVENT_TIMEOUT | BEV_EVENT_READING) &&
	    (v->phase == V_WAIT || (v->phase == V_EXCHANGE && v->req_done))) {
		/* A user waiting for its answer sends nothing: the exchange
		 * has its own timers. libevent stopped reading: go on. */
		bufferevent_enable(bev, EV_READ);
		return;
	}
	vconn_close(v, (what & BEV_EVENT_TIMEOUT) ? "user timed out" : "user connection failed");
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct relay_vhttp *vh = arg;
	struct relay *r = vh->relay;
	struct vconn *v = calloc(1, sizeof(*v));
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
	v->user = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!v->user)
		evutil_closesocket(fd);
	v->req = relay_http_req_new(&rc);
	v->kill = event_new(r->base, -1, 0, on_kill, v);
	v->timer = evtimer_new(r->base, on_timer, v);
	if (!v->user || !v->req || !v->kill || !v->timer) {
		vconn_free(v);
		return;
	}
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
	bufferevent_setcb(v->user, on_user_read, on_user_write, on_user_event, v);
	bufferevent_setwatermark(v->user, EV_READ, 0, HIGH_WM);
	bufferevent_setwatermark(v->user, EV_WRITE, 0, 0);
	/* Idle keep-alive connections, slow heads and bodies, and users that
	 * stop reading all end after vhostHTTPTimeout. */
	bufferevent_set_timeouts(v->user, &vh->timeout, &vh->timeout);
	bufferevent_disable(v->user, EV_WRITE);   /* flush_now writes */
	bufferevent_enable(v->user, EV_READ);
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
		req_log(vh->conns, "server shutting down");
		vconn_free(vh->conns);
	}
	evconnlistener_free(vh->listener);
	if (vh->resume)
		event_free(vh->resume);
	relay_vhost_free(vh->routes);
	free(vh);
	r->vhttp = NULL;
}
