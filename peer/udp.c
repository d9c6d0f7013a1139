/*
 * udp proxies, client side: the work connection carries UDP_PACKET frames,
 * each naming a user's address. Each user address gets its own UDP socket
 * connected to the local service (so replies come back to the right user),
 * kept while it is used and closed after UDP_SESSION_IDLE_S of silence.
 */
#include "peer/peer_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"

#define UDP_SESSION_IDLE_S 60
#define UDP_SWEEP_S 10

struct udp_session {
	struct peer_udp *u;
	struct udp_session *next;
	char remote[PROTO_ADDR_MAX + 1];  /* the user, as burrowd names it */
	evutil_socket_t fd;               /* connected to the local service */
	struct event *ev;
	int64_t last_ms;
};

struct peer_udp {
	struct peer *peer;
	struct peer_udp *next, *prev;     /* in peer->udps */
	struct peer_proxy *pp;
	struct proto_chan *chan;
	struct udp_session *sessions;
	unsigned n_sessions;
	struct event *sweep;
	struct sockaddr_storage local;
	int local_len;
};

static void session_free(struct udp_session *s)
{
	event_free(s->ev);
	close(s->fd);
	free(s);
}

static void udp_free(struct peer_udp *u)
{
	struct peer *p = u->peer;

	while (u->sessions) {
		struct udp_session *s = u->sessions;

		u->sessions = s->next;
		session_free(s);
	}
	if (u->sweep)
		event_free(u->sweep);
	proto_chan_free(u->chan);
	if (u->prev)
		u->prev->next = u->next;
	else
		p->udps = u->next;
	if (u->next)
		u->next->prev = u->prev;
	free(u);
}

/* The local service answered a user: send it back through burrowd. */
static void on_local_reply(evutil_socket_t fd, short what, void *arg)
{
	struct udp_session *s = arg;
	struct peer_udp *u = s->u;
	uint8_t buf[PROTO_UDP_DATAGRAM_MAX];

	for (int i = 0; i < 64; i++) {
		struct proto_msg m = { .type = PROTO_MSG_UDP_PACKET };
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0)
			return;
		s->last_ms = bw_now_ms();
		m.udp_packet.content.data = buf;
		m.udp_packet.content.len = (size_t)n;
		m.udp_packet.local_addr = "";
		m.udp_packet.remote_addr = s->remote;
		if (proto_chan_send(u->chan, &m, NULL) < 0)
			return;
	}
}

static struct udp_session *session_get(struct peer_udp *u, const char *remote)
{
	struct udp_session *s;

	for (s = u->sessions; s; s = s->next)
		if (strcmp(s->remote, remote) == 0)
			return s;
	if (u->n_sessions >= PROTO_UDP_SESSIONS_PER_PROXY_MAX)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->u = u;
	snprintf(s->remote, sizeof(s->remote), "%s", remote);
	s->fd = socket(u->local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&u->local, (socklen_t)u->local_len) < 0 ||
	    !(s->ev = event_new(u->peer->base, s->fd, EV_READ | EV_PERSIST, on_local_reply, s)) ||
	    event_add(s->ev, NULL) < 0) {
		if (s->ev)
			event_free(s->ev);
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		return NULL;
	}
	s->next = u->sessions;
	u->sessions = s;
	u->n_sessions++;
	return s;
}

static int on_msg(struct proto_chan *ch, struct proto_msg *m, void *arg)
{
	struct peer_udp *u = arg;
	struct udp_session *s;

	if (m->type != PROTO_MSG_UDP_PACKET)
		return 0;
	s = session_get(u, m->udp_packet.remote_addr);
	if (!s) {
		log_ratelimited(LOG_WARN, "burrow: %s: no session for %s (limit %d)", u->pp->label,
				m->udp_packet.remote_addr, PROTO_UDP_SESSIONS_PER_PROXY_MAX);
		return 0;
	}
	s->last_ms = bw_now_ms();
	if (send(s->fd, m->udp_packet.content.data, m->udp_packet.content.len, 0) < 0)
		log_ratelimited(LOG_DEBUG, "burrow: %s: send to the local service: %s",
				u->pp->label, strerror(errno));
	return 0;
}

static void on_error(struct proto_chan *ch, int rc, const struct proto_err *err, void *arg)
{
	struct peer_udp *u = arg;

	log_info("burrow: %s: udp work connection closed: %s", u->pp->label, bw_strerror(rc));
	udp_free(u);
}

static const struct proto_chan_cbs udp_cbs = { .on_msg = on_msg, .on_error = on_error };

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct peer_udp *u = arg;
	int64_t now = bw_now_ms();

	for (struct udp_session **sp = &u->sessions; *sp;) {
		struct udp_session *s = *sp;

		if (now - s->last_ms > UDP_SESSION_IDLE_S * 1000) {
			*sp = s->next;
			u->n_sessions--;
			session_free(s);
		} else {
			sp = &s->next;
		}
	}
}

void peer_udp_start(struct peer *p, struct peer_proxy *pp, struct proto_chan *chan,
		    struct bw_crypto_session *s)
{
	struct peer_udp *u = calloc(1, sizeof(*u));
	struct timeval tv = { UDP_SWEEP_S, 0 };
	char spec[BW_ADDR_STRLEN + 8];

	if (!u) {
		proto_chan_free(chan);
		bw_crypto_session_free(s);
		return;
	}
	u->peer = p;
	u->pp = pp;
	u->chan = chan;
	snprintf(spec, sizeof(spec), strchr(pp->conf->local_ip, ':') ? "[%s]:%u" : "%s:%u",
		 pp->conf->local_ip, pp->conf->local_port);
	u->local_len = bw_addr_parse(spec, &u->local);
	u->next = p->udps;
	if (p->udps)
		p->udps->prev = u;
	p->udps = u;
	proto_chan_set_cbs(chan, &udp_cbs, u);
	/* udp: sealed when the proxy asked for it; sudp: always, end to end. */
	if (pp->conf->use_encryption || pp->conf->type == CONF_PROXY_SUDP) {
		proto_chan_set_session(chan, s);
	} else {
		proto_chan_set_session(chan, NULL);
		bw_crypto_session_free(s);
	}
	if (u->local_len < 0) {
		log_error("burrow: %s: localIP %s must be a numeric address for udp", pp->label,
			  pp->conf->local_ip);
		udp_free(u);
		return;
	}
	u->sweep = event_new(p->base, -1, EV_PERSIST, on_sweep, u);
	if (u->sweep)
		event_add(u->sweep, &tv);
	log_info("burrow: %s: udp work connection ready", pp->label);
}

void peer_udps_fini(struct peer *p)
{
	while (p->udps)
		udp_free(p->udps);
}
