/*
 * What rides on a P2P session: xtcp connections as streams of the session's
 * transport (peer/tp.h), and sudp datagrams as datagrams.
 *
 * A stream joins one local TCP connection (the visitor's user, or the owner's
 * connection to its local service) to one transport stream. Bytes move only
 * when the other side has room: a full transport stops reading the local
 * socket (stream_writable resumes it), and a local socket whose output queue
 * passes SESSION_STREAM_HIGH_WM stops reading the stream, which closes that
 * stream's window and stalls that stream alone. An EOF is passed on once
 * everything before it was: local EOF -> stream_shutdown; stream EOF ->
 * shutdown(SHUT_WR) of the local socket after its queue drains. The stream
 * is freed when the transport says it is closed and the local queue is empty.
 */
#include "peer/session_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "common/err.h"
#include "common/log.h"

#define STREAM_CHUNK (64u << 10)
#define UDP_IDLE_S 60

struct session_stream {
	struct peer_session *s;
	struct session_stream *next, *prev;
	uint64_t id;
	bool has_id;          /* the transport knows it */
	bool gone;            /* the transport closed it */
	bool connecting;      /* owner: local connect in progress */
	bool eof_pending;     /* local EOF seen; shut the stream once input is sent */
	bool local_eof;       /* stream_shutdown done */
	bool remote_eof;      /* the stream's EOF was read */
	bool wr_shut;         /* local socket's write side shut */
	struct bufferevent *local;
	char who[BW_ADDR_STRLEN];
	uint64_t up, down;    /* local -> stream, stream -> local */
	int64_t started_ms;
	char reason[64];
};

static struct session_stream *stream_by_id(struct peer_session *s, uint64_t id)
{
	for (struct session_stream *st = s->streams; st; st = st->next)
		if (st->has_id && !st->gone && st->id == id)
			return st;
	return NULL;
}

static void stream_free(struct session_stream *st)
{
	struct peer_session *s = st->s;

	log_info("burrow: %s: connection %s closed: %llu bytes out, %llu in, %lld ms, %s",
		 s->label, st->who, (unsigned long long)st->up, (unsigned long long)st->down,
		 (long long)(bw_now_ms() - st->started_ms), st->reason[0] ? st->reason : "done");
	if (st->has_id && !st->gone && s->tp) {
		/* The engine may call stream_closed from inside the reset: mark
		 * the stream gone first, so that it is not found and freed twice. */
		st->gone = true;
		s->tpo->stream_reset(s->tp, st->id);
	}
	if (st->local)
		bufferevent_free(st->local);
	if (st->prev)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	s->n_streams--;
	free(st);
}

static void stream_abort(struct session_stream *st, const char *why)
{
	struct peer_session *s = st->s;

	if (!st->reason[0])
		snprintf(st->reason, sizeof(st->reason), "%s", why);
	stream_free(st);
	session_tp_kick(s);
}

/* Free once both directions are done and the local queue is empty. */
static bool stream_maybe_done(struct session_stream *st)
{
	if (!st->gone || (st->local && evbuffer_get_length(bufferevent_get_output(st->local))))
		return false;
	stream_free(st);
	return true;
}

/* local -> stream: straight from the socket's input chains, no pullup. */
static void pump_up(struct session_stream *st)
{
	struct peer_session *s = st->s;
	struct evbuffer *in;
	uint64_t id;

	if (!st->has_id || st->gone || st->local_eof || st->connecting)
		return;
	in = bufferevent_get_input(st->local);
	id = st->id;
	for (;;) {
		struct evbuffer_iovec v[4];
		int nv = evbuffer_peek(in, STREAM_CHUNK, NULL, v, BW_ARRAY_LEN(v));
		size_t took = 0;
		bool full = false;

		if (nv <= 0 || !evbuffer_get_length(in))
			break;
		if (nv > (int)BW_ARRAY_LEN(v))
			nv = BW_ARRAY_LEN(v);
		for (int i = 0; i < nv && !full; i++) {
			ssize_t w = s->tpo->stream_write(s->tp, id, v[i].iov_base, v[i].iov_len);

			/* The write may have settled the engine and closed the
			 * stream (the peer stopped it): st may be gone. */
			if (stream_by_id(s, id) != st) {
				session_tp_kick(s);
				return;
			}
			if (w < 0) {
				stream_abort(st, "stream write failed");
				return;
			}
			took += (size_t)w;
			full = (size_t)w < v[i].iov_len;
		}
		if (!took && !full) {
			/* Only empty chains in front (evbuffer_peek reports
			 * them): make the data contiguous once. */
			if (!evbuffer_pullup(in, -1))
				break;
			continue;
		}
		evbuffer_drain(in, took);
		st->up += took;
		s->tx_bytes += took;
		if (full) {
			bufferevent_disable(st->local, EV_READ); /* stream_writable resumes */
			break;
		}
	}
	if (st->eof_pending && !evbuffer_get_length(in)) {
		st->local_eof = true;
		s->tpo->stream_shutdown(s->tp, st->id);
	}
	session_tp_kick(s);
}

/* stream -> local */
static void pump_down(struct session_stream *st)
{
	struct peer_session *s = st->s;
	struct evbuffer *out;

	if (!st->has_id || st->gone || st->remote_eof || st->connecting || !st->local)
		return;
	out = bufferevent_get_output(st->local);
	while (evbuffer_get_length(out) < SESSION_STREAM_HIGH_WM) {
		/* Read straight into the socket's output buffer: no bounce copy. */
		struct evbuffer_iovec v;
		ssize_t r;

		if (evbuffer_reserve_space(out, STREAM_CHUNK, &v, 1) < 1)
			break;
		r = s->tpo->stream_read(s->tp, st->id, v.iov_base,
					v.iov_len < STREAM_CHUNK ? v.iov_len : STREAM_CHUNK);
		v.iov_len = r > 0 ? (size_t)r : 0;
		evbuffer_commit_space(out, &v, 1);
		if (r > 0) {
			st->down += (uint64_t)r;
			s->rx_bytes += (uint64_t)r;
			continue;
		}
		if (r == 0) {
			st->remote_eof = true;
			if (!evbuffer_get_length(out) && !st->wr_shut) {
				shutdown(bufferevent_getfd(st->local), SHUT_WR);
				st->wr_shut = true;
			}
		}
		break;
	}
	session_tp_kick(s);
}

static void on_local_read(struct bufferevent *bev, void *arg)
{
	pump_up(arg);
}

static void on_local_write(struct bufferevent *bev, void *arg)
{
	struct session_stream *st = arg;

	if (st->remote_eof && !st->wr_shut && !evbuffer_get_length(bufferevent_get_output(bev))) {
		shutdown(bufferevent_getfd(bev), SHUT_WR);
		st->wr_shut = true;
	}
	if (stream_maybe_done(st))
		return;
	pump_down(st);
}

static void stream_local_go(struct session_stream *st)
{
	bufferevent_setwatermark(st->local, EV_WRITE, SESSION_STREAM_HIGH_WM / 2, 0);
	bufferevent_enable(st->local, EV_READ | EV_WRITE);
	pump_up(st);
	pump_down(st);
}

static void on_local_event(struct bufferevent *bev, short what, void *arg)
{
	struct session_stream *st = arg;
	struct peer_session *s = st->s;
	int one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		st->connecting = false;
		bufferevent_set_timeouts(bev, NULL, NULL);
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		stream_local_go(st);
		return;
	}
	if (st->connecting) {
		log_ratelimited(LOG_WARN, "burrow: %s: local service %s:%u: %s", s->label,
				s->proxy->conf->local_ip, s->proxy->conf->local_port,
				(what & BEV_EVENT_TIMEOUT) ? "connect timed out" : "connection failed");
		stream_abort(st, "local service unreachable");
		return;
	}
	if (what & BEV_EVENT_EOF) {
		st->eof_pending = true;
		bufferevent_disable(bev, EV_READ);
		pump_up(st);
		return;
	}
	stream_abort(st, (what & BEV_EVENT_ERROR) ? "local connection reset" : "local timeout");
}

static struct session_stream *stream_new(struct peer_session *s, struct bufferevent *bev,
					 const char *who)
{
	struct session_stream *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->s = s;
	st->local = bev;
	st->started_ms = bw_now_ms();
	snprintf(st->who, sizeof(st->who), "%s", who);
	st->next = s->streams;
	if (s->streams)
		s->streams->prev = st;
	s->streams = st;
	s->n_streams++;
	bufferevent_setcb(bev, on_local_read, on_local_write, on_local_event, st);
	/* libevent's default is 16 KiB per read and per write: a system call
	 * per 16 KiB of a bulk stream. */
	bufferevent_set_max_single_read(bev, SESSION_STREAM_HIGH_WM);
	bufferevent_set_max_single_write(bev, SESSION_STREAM_HIGH_WM);
	return st;
}

/* Visitor: give a waiting local connection its stream. */
static void stream_open(struct session_stream *st)
{
	struct peer_session *s = st->s;
	int rc = s->tpo->stream_open(s->tp, &st->id);

	if (rc == BW_E_BUSY)
		return; /* opened when another stream closes */
	if (rc < 0) {
		stream_abort(st, "cannot open a stream");
		return;
	}
	st->has_id = true;
	stream_local_go(st);
}

void peer_session_stream_add(struct peer_session *s, struct bufferevent *bev, const char *who)
{
	struct session_stream *st = stream_new(s, bev, who);

	if (!st) {
		bufferevent_free(bev);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	if (s->tp_up)
		stream_open(st);
}

static void streams_open_waiting(struct peer_session *s)
{
	struct session_stream *st, *next;

	for (st = s->streams; st && s->tp_up; st = next) {
		next = st->next;
		if (!st->has_id)
			stream_open(st);
	}
}

void session_tp_ready(void *arg, int rc)
{
	struct peer_session *s = arg;

	if (rc < 0) {
		session_close(s, rc, s->tp_up ? "the peer stopped answering" :
			      "the stream transport could not start", true);
		return;
	}
	s->tp_up = true;
	log_info("burrow: %s: session up over the %s path (%lld ms)", s->label,
		 peer_path_name(s->path), (long long)(bw_now_ms() - s->opened_ms));
	streams_open_waiting(s);
}

/* Owner: the visitor opened a stream; connect it to the local service. */
void session_stream_opened(void *arg, uint64_t id)
{
	struct peer_session *s = arg;
	struct peer *p = s->peer;
	const struct conf_proxy *pc = s->proxy ? s->proxy->conf : NULL;
	struct bufferevent *bev;
	struct session_stream *st;
	struct timeval tv = { PROTO_CONNECT_TIMEOUT_MS / 1000, 0 };
	char who[BW_ADDR_STRLEN];

	if (!pc) {
		s->tpo->stream_reset(s->tp, id);
		return;
	}
	bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	snprintf(who, sizeof(who), "stream %llu", (unsigned long long)id);
	st = bev ? stream_new(s, bev, who) : NULL;
	if (!st) {
		if (bev)
			bufferevent_free(bev);
		s->tpo->stream_reset(s->tp, id);
		return;
	}
	st->id = id;
	st->has_id = true;
	st->connecting = true;
	bufferevent_set_timeouts(bev, NULL, &tv);
	if (bufferevent_socket_connect_hostname(bev, p->dns, AF_UNSPEC, pc->local_ip,
						pc->local_port) < 0)
		stream_abort(st, "cannot connect to the local service");
}

void session_stream_readable(void *arg, uint64_t id)
{
	struct session_stream *st = stream_by_id(arg, id);

	if (st)
		pump_down(st);
}

void session_stream_writable(void *arg, uint64_t id)
{
	struct session_stream *st = stream_by_id(arg, id);

	if (st && !st->connecting && st->local) {
		if (!st->eof_pending) /* after EOF only the rest goes */
			bufferevent_enable(st->local, EV_READ);
		pump_up(st);
	}
}

void session_stream_closed(void *arg, uint64_t id, int rc)
{
	struct peer_session *s = arg;
	struct session_stream *st = stream_by_id(s, id);

	if (!st) {
		streams_open_waiting(s);
		return;
	}
	if (rc == 0)
		pump_down(st); /* whatever the engine still holds */
	st->gone = true;
	if (rc < 0) {
		snprintf(st->reason, sizeof(st->reason), "reset by the peer");
		stream_free(st);
	} else {
		stream_maybe_done(st);
	}
	streams_open_waiting(s);
}

void session_streams_fall_back(struct peer_session *s)
{
	struct session_stream *st, *next;

	for (st = s->streams; st; st = next) {
		struct bufferevent *bev = st->local;

		next = st->next;
		if (st->has_id || !bev)
			continue;
		st->local = NULL;
		bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
		s->fallback_cb(s->cb_arg, bev, st->who);
		snprintf(st->reason, sizeof(st->reason), "handed to the fallback visitor");
		stream_free(st);
	}
}

void session_streams_fini(struct peer_session *s)
{
	while (s->streams) {
		struct session_stream *st = s->streams;

		st->gone = true; /* the engine goes with the session */
		if (!st->reason[0])
			snprintf(st->reason, sizeof(st->reason), "session closed");
		stream_free(st);
	}
}

/* --- sudp ----------------------------------------------------------------- */

/* Owner: one UDP socket per local app address on the visitor's side,
 * connected to the local service, so replies find their way back. */
struct session_udp {
	struct peer_session *s;
	struct session_udp *next;
	char addr[PROTO_ADDR_MAX + 1];
	evutil_socket_t fd;
	struct event *ev;
	int64_t last_ms;
};

static void udp_free(struct session_udp *u)
{
	event_free(u->ev);
	close(u->fd);
	free(u);
}

static void on_udp_reply(evutil_socket_t fd, short what, void *arg)
{
	struct session_udp *u = arg;
	uint8_t buf[SESSION_DGRAM_MAX];

	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0)
			return;
		u->last_ms = bw_now_ms();
		session_datagram_out(u->s, u->addr, buf, (size_t)n);
	}
}

static void on_udp_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct peer_session *s = arg;
	int64_t now = bw_now_ms();

	for (struct session_udp **up = &s->udps; *up;) {
		struct session_udp *u = *up;

		if (now - u->last_ms > UDP_IDLE_S * 1000) {
			*up = u->next;
			s->n_udps--;
			udp_free(u);
		} else {
			up = &u->next;
		}
	}
}

static struct session_udp *udp_get(struct peer_session *s, const char *addr)
{
	const struct conf_proxy *pc = s->proxy->conf;
	struct sockaddr_storage local;
	char spec[BW_ADDR_STRLEN + 8];
	struct session_udp *u;
	int len;

	for (u = s->udps; u; u = u->next)
		if (strcmp(u->addr, addr) == 0)
			return u;
	if (s->n_udps >= PROTO_UDP_SESSIONS_PER_PROXY_MAX)
		return NULL;
	snprintf(spec, sizeof(spec), strchr(pc->local_ip, ':') ? "[%s]:%u" : "%s:%u",
		 pc->local_ip, pc->local_port);
	len = bw_addr_parse(spec, &local);
	if (len < 0)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->s = s;
	snprintf(u->addr, sizeof(u->addr), "%s", addr);
	u->fd = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd < 0 || connect(u->fd, (struct sockaddr *)&local, (socklen_t)len) < 0 ||
	    !(u->ev = event_new(s->peer->base, u->fd, EV_READ | EV_PERSIST, on_udp_reply, u)) ||
	    event_add(u->ev, NULL) < 0) {
		if (u->ev)
			event_free(u->ev);
		if (u->fd >= 0)
			close(u->fd);
		free(u);
		return NULL;
	}
	if (!s->udp_sweep) {
		struct timeval tv = { 10, 0 };

		s->udp_sweep = event_new(s->peer->base, -1, EV_PERSIST, on_udp_sweep, s);
		if (s->udp_sweep)
			event_add(s->udp_sweep, &tv);
	}
	u->next = s->udps;
	s->udps = u;
	s->n_udps++;
	return u;
}

void session_datagram_in(struct peer_session *s, const char *addr, const uint8_t *data,
			 size_t len)
{
	struct session_udp *u;

	if (!s->sudp)
		return;
	if (s->initiator) {
		if (s->datagram_cb)
			s->datagram_cb(s->cb_arg, addr, data, len);
		return;
	}
	u = udp_get(s, addr);
	if (!u) {
		log_ratelimited(LOG_WARN, "burrow: %s: no UDP session for %s", s->label, addr);
		return;
	}
	u->last_ms = bw_now_ms();
	if (send(u->fd, data, len, 0) < 0)
		log_ratelimited(LOG_DEBUG, "burrow: %s: send to the local service: %s", s->label,
				strerror(errno));
}

static bool sudp_can_send(const struct peer_session *s)
{
	return s->cs && (s->path == PEER_PATH_DIRECT || (s->path == PEER_PATH_RELAYED && s->relay));
}

void peer_session_datagram(struct peer_session *s, const char *from, const uint8_t *data,
			   size_t len)
{
	struct session_early *e;

	if (s->closing)
		return;
	if (sudp_can_send(s)) {
		session_datagram_out(s, from, data, len);
		return;
	}
	if (s->n_early == SESSION_EARLY_MAX || len > SESSION_DGRAM_MAX)
		return; /* dropped, as a full router queue would */
	e = malloc(sizeof(*e) + len);
	if (!e)
		return;
	snprintf(e->from, sizeof(e->from), "%s", from);
	e->len = len;
	memcpy(e->data, data, len);
	s->early[s->n_early++] = e;
}

void session_sudp_ready(struct peer_session *s)
{
	if (!s->initiator || !sudp_can_send(s))
		return;
	for (unsigned i = 0; i < s->n_early; i++) {
		session_datagram_out(s, s->early[i]->from, s->early[i]->data, s->early[i]->len);
		free(s->early[i]);
	}
	s->n_early = 0;
}

void session_udp_fini(struct peer_session *s)
{
	while (s->udps) {
		struct session_udp *u = s->udps;

		s->udps = u->next;
		udp_free(u);
	}
	if (s->udp_sweep)
		event_free(s->udp_sweep);
	s->udp_sweep = NULL;
}
