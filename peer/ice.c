/*
 * ICE agents on libnice 0.1.21, driven from the libevent loop.
 *
 * Threading (docs/decisions/ice-glib.md has the reasons and the figures):
 * there is one thread. libnice's GLib main context is iterated by the
 * libevent loop (ice_glib.c), so every NiceAgent, every libnice timer and
 * socket read, every signal handler below, and everything the user sees
 * (struct peer_ice, its callbacks and timers) belongs to the libevent
 * thread. libnice still takes its agent mutex in each call; nobody contends
 * for it.
 *
 * When callbacks run: datagrams are handed to the user straight from
 * libnice's receive callback (inside a GLib dispatch, itself inside a
 * libevent callback; no copy). Candidates, gathering-done, selected and
 * failed are queued and delivered from g->later, because libnice emits some
 * of them synchronously inside our own calls (gathering emits the host
 * candidates) and callbacks must never run inside an API call; an agent's
 * queue is also flushed just before its next datagram, to keep the order.
 * peer_ice_free marks the agent dead (handlers drop what comes after) and
 * leaves the NiceAgent to g->later: destroying it from inside libnice's own
 * receive loop is what libnice copes with least well.
 *
 * libnice settings and why: RFC 5245 compatibility (RFC 8445 wire format),
 * aggressive nomination: RFC 8445 deprecates it, but both ends are libnice,
 * and libnice's regular nomination waits until every pair has succeeded or
 * failed (or two succeeded): behind NATs the unreachable host pairs take
 * their 3 retransmissions, so selection came after 2.06 s in the lab
 * instead of 45 ms (libnice may later move to a better pair: `selected` runs
 * again). Trickle (failure waits for peer_ice_remote_done), ICE-TCP and
 * UPnP off (Debian builds libnice with gupnp-igd and turns UPnP on by
 * default), keepalive-conncheck on: a Binding request on the selected pair
 * every 4-6 s (fixed in 0.1.21, no interval property), and the component
 * fails after 50 s without an answer. consent-freshness would fail after
 * 10 s, i.e. two unanswered checks, which a path with a few percent loss hits
 * several times an hour.
 */
#include "peer/ice_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <nice/agent.h>
#include <nice/interfaces.h>
#include <stun/usages/bind.h>

#include "common/err.h"
#include "common/util.h"

#define CHECK_TIMEOUT_DEFAULT_MS 15000
#define CHECK_TIMEOUT_MAX_MS 600000
#define KEEPALIVE_MAX_S 60
#define LOCAL_ADDRS_MAX 64      /* NICE_CANDIDATE_MAX_LOCAL_ADDRESSES */
#define EV_MAX 256              /* queued control events per agent */
#define SOCKBUF (4 << 20)       /* asked for on the selected socket */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103         /* linux/udp.h, Linux 4.18 */
#endif
#define GSO_SEGS_MAX 64         /* UDP_MAX_SEGMENTS before Linux 6.9 */
#define GSO_BYTES_MAX 64000     /* one UDP datagram before segmentation */

enum ev_kind { EV_CAND, EV_GATHERED, EV_SELECTED, EV_FAILED };

struct ice_ev {
	struct ice_ev *next;
	enum ev_kind kind;
	struct peer_ice_pair pair;                 /* EV_SELECTED */
	char text[PEER_ICE_LINE_MAX + 1];          /* EV_CAND line */
};

enum ice_state { ICE_NEW, ICE_CHECKING, ICE_SELECTED, ICE_FAILED };

struct peer_ice {
	struct peer_ice_glib *g;
	struct peer_ice *next;             /* in g->agents, then g->graveyard */
	struct peer_ice *pend_next;        /* in g->pending while evs is not empty */
	NiceAgent *agent;
	guint stream;
	struct peer_ice_cbs cbs;
	void *arg;
	int family;
	unsigned check_timeout_ms, keepalive_s;

	enum ice_state state;
	bool gathering, started, remote_done, sockbuf_done, dead, pending;
	NiceCandidate *held[PEER_ICE_REMOTE_MAX];   /* until peer_ice_start */
	unsigned n_held, n_remote, n_local;
	int64_t start_ms, last_send_ms;
	struct event *timeout, *keepalive;
	StunAgent stun;                    /* builds our keepalives */
	struct ice_ev *evs, **evs_tail;
	unsigned n_evs;
	uint64_t sent, recv, dropped, keepalives;

	/* The selected pair, for peer_ice_sendv's own system calls: libnice
	 * sends one datagram per sendmsg and cannot ask for UDP GSO. Sending on
	 * its socket is safe: libnice only reads it (and sends its STUN on it),
	 * and the socket lives until the stream is removed, after
	 * peer_ice_free drops this reference. */
	GSocket *dsock;
	struct sockaddr_storage dto;
	socklen_t dto_len;
	bool gso_off;                      /* the kernel refused UDP_SEGMENT */
	uint64_t gso_sends;
};

/* The one writer of ice->state: new -> checking -> selected, and failed
 * from anywhere, for good. */
static void state_set(struct peer_ice *ice, enum ice_state next)
{
	if (ice->state == ICE_FAILED)
		return;
	ice->state = next;
}

static void push_ev(struct peer_ice *ice, struct ice_ev *ev)
{
	/* A failure is always queued: it is what the user must not miss. */
	if (ice->dead || (ice->n_evs >= EV_MAX && ev->kind != EV_FAILED)) {
		free(ev);
		return;
	}
	ev->next = NULL;
	*ice->evs_tail = ev;
	ice->evs_tail = &ev->next;
	ice->n_evs++;
	if (!ice->pending) {
		ice->pending = true;
		ice->pend_next = NULL;
		*ice->g->pending_tail = ice;
		ice->g->pending_tail = &ice->pend_next;
	}
	event_active(ice->g->later, EV_TIMEOUT, 0);
}

static struct ice_ev *ev_new(enum ev_kind kind)
{
	struct ice_ev *ev = calloc(1, sizeof(*ev));

	if (ev)
		ev->kind = kind;
	return ev;
}

static enum peer_ice_type type_from_nice(NiceCandidateType t)
{
	switch (t) {
	case NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE: return PEER_ICE_SRFLX;
	case NICE_CANDIDATE_TYPE_PEER_REFLEXIVE: return PEER_ICE_PRFLX;
	case NICE_CANDIDATE_TYPE_RELAYED: return PEER_ICE_RELAY;
	default: return PEER_ICE_HOST;
	}
}

static NiceCandidateType type_to_nice(enum peer_ice_type t)
{
	switch (t) {
	case PEER_ICE_SRFLX: return NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE;
	case PEER_ICE_PRFLX: return NICE_CANDIDATE_TYPE_PEER_REFLEXIVE;
	case PEER_ICE_RELAY: return NICE_CANDIDATE_TYPE_RELAYED;
	default: return NICE_CANDIDATE_TYPE_HOST;
	}
}

/* The one writer of candidate lines; what it writes passes
 * peer_ice_cand_parse (checked before it leaves). */
static int cand_format(const NiceCandidate *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
	enum peer_ice_type t = type_from_nice(c->type);
	struct peer_ice_cand check;
	int n;

	nice_address_to_string(&c->addr, a);
	n = snprintf(buf, len, "candidate:%.32s 1 UDP %u %s %u typ %s", c->foundation,
		     c->priority, a, nice_address_get_port(&c->addr), peer_ice_type_name(t));
	if (n > 0 && (size_t)n < len && t != PEER_ICE_HOST &&
	    nice_address_is_valid(&c->base_addr)) {
		nice_address_to_string(&c->base_addr, r);
		n += snprintf(buf + n, len - (size_t)n, " raddr %s rport %u", r,
			      nice_address_get_port(&c->base_addr));
	}
	if (n <= 0 || (size_t)n >= len)
		return BW_E_TOO_BIG;
	return peer_ice_cand_parse(buf, (size_t)n, &check);
}

/*
 * libnice's signals. They run inside a GLib dispatch or inside one of our
 * calls into libnice, so they only queue.
 */

static void on_new_candidate(NiceAgent *agent, NiceCandidate *c, gpointer data)
{
	struct peer_ice *ice = data;
	struct ice_ev *ev;

	/* Peer-reflexive local candidates are learnt from checks; RFC 8445
	 * 5.1.3 says not to signal them. */
	if (c->stream_id != ice->stream || c->component_id != 1 ||
	    c->transport != NICE_CANDIDATE_TRANSPORT_UDP ||
	    c->type == NICE_CANDIDATE_TYPE_PEER_REFLEXIVE)
		return;
	ev = ev_new(EV_CAND);
	if (!ev)
		return;
	if (cand_format(c, ev->text, sizeof(ev->text)) != 0) {
		free(ev);
		return;
	}
	push_ev(ice, ev);
}

static void on_gathering_done(NiceAgent *agent, guint stream, gpointer data)
{
	struct peer_ice *ice = data;
	struct ice_ev *ev = ev_new(EV_GATHERED);

	if (ev)
		push_ev(ice, ev);
}

static void on_selected_pair(NiceAgent *agent, guint stream, guint component,
			     NiceCandidate *l, NiceCandidate *r, gpointer data)
{
	struct peer_ice *ice = data;
	struct ice_ev *ev = ev_new(EV_SELECTED);

	if (!ev)
		return;
	nice_address_copy_to_sockaddr(&l->addr, (struct sockaddr *)&ev->pair.local);
	nice_address_copy_to_sockaddr(&r->addr, (struct sockaddr *)&ev->pair.remote);
	ev->pair.local_type = type_from_nice(l->type);
	ev->pair.remote_type = type_from_nice(r->type);
	push_ev(ice, ev);
}

static void on_state_changed(NiceAgent *agent, guint stream, guint component,
			     guint state, gpointer data)
{
	struct peer_ice *ice = data;
	struct ice_ev *ev;

	if (state != NICE_COMPONENT_STATE_FAILED)
		return;
	ev = ev_new(EV_FAILED);
	if (ev)
		push_ev(ice, ev);  /* without memory, the check timeout ends it */
}

static void flush(struct peer_ice *ice);

/* libnice's receive callback: every datagram that is not STUN, from a
 * validated remote address, in libnice's receive buffer. */
static void on_recv(NiceAgent *agent, guint stream, guint component, guint len,
		    gchar *buf, gpointer data)
{
	struct peer_ice *ice = data;

	if (ice->evs)
		flush(ice);        /* a selected before its first datagram */
	if (ice->dead || ice->state == ICE_FAILED)
		return;
	if (len == 0 || len > PEER_ICE_DGRAM_MAX) {
		ice->dropped++;
		return;
	}
	ice->recv++;
	ice->cbs.recv(ice->arg, (const uint8_t *)buf, len);
}

/*
 * Delivery of control events, timers.
 */

static void direct_unbind(struct peer_ice *ice)
{
	if (ice->dsock)
		g_object_unref(ice->dsock);
	ice->dsock = NULL;
}

static void fail(struct peer_ice *ice, int rc, const char *why)
{
	if (ice->state == ICE_FAILED)
		return;
	state_set(ice, ICE_FAILED);
	direct_unbind(ice);
	event_del(ice->timeout);
	event_del(ice->keepalive);
	ice->cbs.failed(ice->arg, rc, why);
}

/* Take the selected pair's socket and address for peer_ice_sendv, both from
 * libnice at this moment (a queued `selected` may be older than the pair in
 * use); ask for big socket buffers once. Without a matching pair, libnice
 * sends. */
static void direct_bind(struct peer_ice *ice)
{
	NiceCandidate *l = NULL, *r = NULL;
	GSocket *s;
	int size = SOCKBUF;

	direct_unbind(ice);
	if (!nice_agent_get_selected_pair(ice->agent, ice->stream, 1, &l, &r) || !r)
		return;
	s = nice_agent_get_selected_socket(ice->agent, ice->stream, 1);
	if (!s)
		return;
	memset(&ice->dto, 0, sizeof(ice->dto));
	nice_address_copy_to_sockaddr(&r->addr, (struct sockaddr *)&ice->dto);
	if ((int)g_socket_get_family(s) != ice->dto.ss_family) {
		g_object_unref(s);
		return;
	}
	ice->dsock = s;
	ice->dto_len = ice->dto.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in);
	if (!ice->sockbuf_done) {
		/* Best effort: the kernel caps it at net.core.[rw]mem_max. */
		ice->sockbuf_done = true;
		(void)setsockopt(g_socket_get_fd(s), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		(void)setsockopt(g_socket_get_fd(s), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
}

static void keepalive_arm(struct peer_ice *ice, int64_t now)
{
	int64_t due = ice->last_send_ms + (int64_t)ice->keepalive_s * 1000 - now;
	struct timeval tv;

	if (due < 0)
		due = 0;
	tv.tv_sec = (time_t)(due / 1000);
	tv.tv_usec = (suseconds_t)(due % 1000) * 1000;
	event_add(ice->keepalive, &tv);
}

static void handle_ev(struct peer_ice *ice, struct ice_ev *ev)
{
	switch (ev->kind) {
	case EV_CAND:
		ice->n_local++;
		ice->cbs.candidate(ice->arg, ev->text);
		break;
	case EV_GATHERED:
		ice->cbs.gathering_done(ice->arg);
		break;
	case EV_SELECTED:
		if (ice->state == ICE_FAILED)
			break;
		state_set(ice, ICE_SELECTED);
		event_del(ice->timeout);
		direct_bind(ice);
		ev->pair.elapsed_ms = ice->start_ms ? bw_now_ms() - ice->start_ms : 0;
		ev->pair.n_local = ice->n_local;
		ev->pair.n_remote = ice->n_remote;
		if (ice->keepalive_s && !event_pending(ice->keepalive, EV_TIMEOUT, NULL)) {
			ice->last_send_ms = bw_now_ms();
			keepalive_arm(ice, ice->last_send_ms);
		}
		ice->cbs.selected(ice->arg, &ev->pair);
		break;
	case EV_FAILED:
		fail(ice, BW_E_ICE_FAILED, ice->state == ICE_SELECTED ?
		     "the selected pair stopped answering keepalives" :
		     "connectivity checks failed on every pair");
		break;
	}
}

/* Deliver ice's queued events in order; stop as soon as a callback frees it
 * (the struct lives until the next ice_deferred reaps it). */
static void flush(struct peer_ice *ice)
{
	while (ice->evs && !ice->dead) {
		struct ice_ev *ev = ice->evs;

		ice->evs = ev->next;
		if (!ice->evs)
			ice->evs_tail = &ice->evs;
		ice->n_evs--;
		handle_ev(ice, ev);
		free(ev);
	}
}

static void free_evs(struct peer_ice *ice)
{
	while (ice->evs) {
		struct ice_ev *ev = ice->evs;

		ice->evs = ev->next;
		free(ev);
	}
	ice->evs_tail = &ice->evs;
	ice->n_evs = 0;
}

void ice_deferred(struct peer_ice_glib *g)
{
	struct peer_ice *ice;

	while ((ice = g->pending)) {
		g->pending = ice->pend_next;
		if (!g->pending)
			g->pending_tail = &g->pending;
		ice->pending = false;
		flush(ice);
	}
	/* Nothing can refer to a dead agent once the pending list is empty:
	 * its handlers are disconnected before the NiceAgent goes. */
	if (g->graveyard)
		ice_glib_kick(g, true);   /* before the sockets close */
	while ((ice = g->graveyard)) {
		g->graveyard = ice->next;
		nice_agent_attach_recv(ice->agent, ice->stream, 1, g->ctx, NULL, NULL);
		g_signal_handlers_disconnect_by_data(ice->agent, ice);
		nice_agent_remove_stream(ice->agent, ice->stream);
		g_object_unref(ice->agent);
		free_evs(ice);
		free(ice);
	}
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct peer_ice *ice = arg;
	char why[96];

	snprintf(why, sizeof(why), "no direct pair after %u ms (%u local, %u remote candidates)",
		 ice->check_timeout_ms, ice->n_local, ice->n_remote);
	fail(ice, BW_E_TIMEOUT, why);
}

/* Our own keepalive, for conf.keepalive_s shorter than libnice's 4-6 s: the
 * Binding indication libnice itself sends when keepalive-conncheck is off,
 * which the peer's libnice consumes (never delivered as data). */
static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct peer_ice *ice = arg;
	int64_t now = bw_now_ms();
	uint8_t buf[64];
	StunMessage msg;
	size_t len;

	if (ice->state != ICE_SELECTED)
		return;
	if (now - ice->last_send_ms >= (int64_t)ice->keepalive_s * 1000) {
		len = stun_usage_bind_keepalive(&ice->stun, &msg, buf, sizeof(buf));
		if (len > 0 && nice_agent_send(ice->agent, ice->stream, 1, (guint)len,
					       (const gchar *)buf) > 0)
			ice->keepalives++;
		ice->last_send_ms = now;
	}
	keepalive_arm(ice, now);
}

/*
 * The API.
 */

static int add_local_addresses(struct peer_ice *ice, const struct peer_ice_conf *conf)
{
	NiceAddress a;
	unsigned n = 0;

	if (conf->local_addrs) {
		for (const char *const *s = conf->local_addrs; *s; s++) {
			if (n >= LOCAL_ADDRS_MAX || !nice_address_set_from_string(&a, *s))
				return BW_E_INVAL;
			if (!nice_agent_add_local_address(ice->agent, &a))
				return BW_E_ICE_FAILED;
			n++;
		}
		return n ? 0 : BW_E_INVAL;
	}
	/* Every interface but loopback (libnice's own choice), filtered by
	 * family, without IPv6 link-local addresses (no use across a NAT). */
	GList *ips = nice_interfaces_get_local_ips(FALSE);

	for (GList *i = ips; i; i = i->next) {
		if (!nice_address_set_from_string(&a, i->data) || !nice_address_is_valid(&a))
			continue;
		if (conf->family != AF_UNSPEC && a.s.addr.sa_family != conf->family)
			continue;
		if (a.s.addr.sa_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&a.s.ip6.sin6_addr))
			continue;
		if (n < LOCAL_ADDRS_MAX && nice_agent_add_local_address(ice->agent, &a))
			n++;
	}
	g_list_free_full(ips, g_free);
	return n ? 0 : BW_E_NOT_FOUND;
}

static int make_agent(struct peer_ice *ice, const struct peer_ice_conf *conf)
{
	char stun_ip[INET6_ADDRSTRLEN] = "";
	unsigned stun_port = 0;
	int rc;

	if (conf->stun.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&conf->stun;

		inet_ntop(AF_INET, &s->sin_addr, stun_ip, sizeof(stun_ip));
		stun_port = ntohs(s->sin_port);
	} else if (conf->stun.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&conf->stun;

		inet_ntop(AF_INET6, &s->sin6_addr, stun_ip, sizeof(stun_ip));
		stun_port = ntohs(s->sin6_port);
	} else if (conf->stun.ss_family != AF_UNSPEC) {
		return BW_E_INVAL;
	}
	if (stun_ip[0] && stun_port == 0)
		return BW_E_INVAL;

	ice->agent = g_object_new(NICE_TYPE_AGENT,
		"compatibility", NICE_COMPATIBILITY_RFC5245,
		"main-context", ice->g->ctx,
		"reliable", FALSE,
		"full-mode", TRUE,
		"nomination-mode", NICE_NOMINATION_MODE_AGGRESSIVE,
		"ice-trickle", TRUE,
		"ice-udp", TRUE,
		"ice-tcp", FALSE,
		"upnp", FALSE,
		"keepalive-conncheck", TRUE,
		/* A check that a symmetric NAT's fresh port sends before the
		 * other side opened its filter is lost; libnice's 500 ms first
		 * retransmission then is most of the time to direct. */
		"stun-initial-timeout", 250,
		"controlling-mode", conf->controlling ? TRUE : FALSE,
		NULL);
	if (!ice->agent)
		return BW_E_NOMEM;
	if (stun_ip[0])
		g_object_set(ice->agent, "stun-server", stun_ip, "stun-server-port", stun_port,
			     NULL);
	ice->stream = nice_agent_add_stream(ice->agent, 1);
	if (ice->stream == 0)
		return BW_E_ICE_FAILED;
	if (conf->port_min || conf->port_max)
		nice_agent_set_port_range(ice->agent, ice->stream, 1, conf->port_min,
					  conf->port_max);
	rc = add_local_addresses(ice, conf);
	if (rc)
		return rc;
	g_signal_connect(ice->agent, "new-candidate-full", G_CALLBACK(on_new_candidate), ice);
	g_signal_connect(ice->agent, "candidate-gathering-done",
			 G_CALLBACK(on_gathering_done), ice);
	g_signal_connect(ice->agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair),
			 ice);
	g_signal_connect(ice->agent, "component-state-changed", G_CALLBACK(on_state_changed),
			 ice);
	if (!nice_agent_attach_recv(ice->agent, ice->stream, 1, ice->g->ctx, on_recv, ice))
		return BW_E_ICE_FAILED;
	return 0;
}

struct peer_ice *peer_ice_new(struct peer_ice_glib *g, const struct peer_ice_conf *conf,
			      const struct peer_ice_cbs *cbs, void *arg, int *rc)
{
	struct peer_ice *ice;

	if (!g || !conf || !cbs || !cbs->candidate || !cbs->gathering_done ||
	    !cbs->selected || !cbs->failed || !cbs->recv ||
	    (conf->family != AF_UNSPEC && conf->family != AF_INET && conf->family != AF_INET6) ||
	    conf->port_min > conf->port_max || conf->check_timeout_ms > CHECK_TIMEOUT_MAX_MS ||
	    conf->keepalive_s > KEEPALIVE_MAX_S) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	ice = calloc(1, sizeof(*ice));
	if (!ice) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	ice->g = g;
	ice->cbs = *cbs;
	ice->arg = arg;
	ice->family = conf->family;
	ice->check_timeout_ms = conf->check_timeout_ms ? conf->check_timeout_ms
						       : CHECK_TIMEOUT_DEFAULT_MS;
	ice->keepalive_s = conf->keepalive_s;
	ice->evs_tail = &ice->evs;
	/* The same agent settings as libnice's own keepalive (RFC 5245 mode). */
	stun_agent_init(&ice->stun, STUN_ALL_KNOWN_ATTRIBUTES, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS |
			STUN_AGENT_USAGE_USE_FINGERPRINT);
	ice->timeout = evtimer_new(g->base, on_timeout, ice);
	ice->keepalive = evtimer_new(g->base, on_keepalive, ice);
	if (!ice->timeout || !ice->keepalive) {
		*rc = BW_E_NOMEM;
		goto err;
	}
	*rc = make_agent(ice, conf);
	if (*rc)
		goto err;
	ice->next = g->agents;
	g->agents = ice;
	return ice;
err:
	if (ice->agent) {
		/* Nothing was gathered or emitted: nothing else refers to ice. */
		g_signal_handlers_disconnect_by_data(ice->agent, ice);
		g_object_unref(ice->agent);
	}
	if (ice->timeout)
		event_free(ice->timeout);
	if (ice->keepalive)
		event_free(ice->keepalive);
	free(ice);
	return NULL;
}

int peer_ice_local_credentials(struct peer_ice *ice, char ufrag[PEER_ICE_UFRAG_MAX + 1],
			       char pwd[PEER_ICE_PWD_MAX + 1])
{
	gchar *u = NULL, *p = NULL;
	int rc = 0;

	if (!ice || !ufrag || !pwd)
		return BW_E_INVAL;
	if (!nice_agent_get_local_credentials(ice->agent, ice->stream, &u, &p))
		return BW_E_ICE_FAILED;
	if (strlen(u) > PEER_ICE_UFRAG_MAX || strlen(p) > PEER_ICE_PWD_MAX) {
		rc = BW_E_TOO_BIG;
	} else {
		strcpy(ufrag, u);
		strcpy(pwd, p);
	}
	g_free(u);
	g_free(p);
	return rc;
}

int peer_ice_gather(struct peer_ice *ice)
{
	if (!ice)
		return BW_E_INVAL;
	if (ice->state == ICE_FAILED)
		return BW_E_CLOSED;
	if (ice->gathering)
		return 0;
	if (!nice_agent_gather_candidates(ice->agent, ice->stream))
		return BW_E_ICE_FAILED;   /* no socket could be bound */
	ice->gathering = true;
	ice_glib_kick(ice->g, true);  /* new sockets, STUN timers */
	return 0;
}

/* RFC 8839: ice-char = ALPHA / DIGIT / "+" / "/". */
static bool cred_ok(const char *s, size_t min, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return true;
}

static int add_remote_now(struct peer_ice *ice, NiceCandidate **cands, unsigned n)
{
	GSList *list = NULL;
	int added;

	for (unsigned i = n; i-- > 0;)
		list = g_slist_prepend(list, cands[i]);
	added = nice_agent_set_remote_candidates(ice->agent, ice->stream, 1, list);
	g_slist_free(list);
	ice_glib_kick(ice->g, false);  /* new pairs, the check timer */
	return added < 0 ? BW_E_ICE_FAILED : 0;
}

int peer_ice_start(struct peer_ice *ice, const char *remote_ufrag, const char *remote_pwd)
{
	struct timeval tv;
	int rc;

	if (!ice || !cred_ok(remote_ufrag, 4, PEER_ICE_UFRAG_MAX) ||
	    !cred_ok(remote_pwd, 22, PEER_ICE_PWD_MAX))
		return BW_E_INVAL;
	if (ice->state == ICE_FAILED)
		return BW_E_CLOSED;
	if (ice->started)
		return BW_E_INVAL;
	rc = peer_ice_gather(ice);
	if (rc)
		return rc;
	if (!nice_agent_set_remote_credentials(ice->agent, ice->stream, remote_ufrag, remote_pwd))
		return BW_E_ICE_FAILED;
	ice->started = true;
	ice->start_ms = bw_now_ms();
	/* Robust to a selection before this call (libnice answers the peer's
	 * checks with our own password); in practice the controlled side waits
	 * for these credentials for its triggered check. */
	if (ice->state == ICE_NEW) {
		state_set(ice, ICE_CHECKING);
		tv.tv_sec = ice->check_timeout_ms / 1000;
		tv.tv_usec = (suseconds_t)(ice->check_timeout_ms % 1000) * 1000;
		event_add(ice->timeout, &tv);
	}
	if (ice->n_held) {
		rc = add_remote_now(ice, ice->held, ice->n_held);
		for (unsigned i = 0; i < ice->n_held; i++)
			nice_candidate_free(ice->held[i]);
		ice->n_held = 0;
		if (rc)
			return rc;
	}
	if (ice->remote_done)
		nice_agent_peer_candidate_gathering_done(ice->agent, ice->stream);
	ice_glib_kick(ice->g, false);
	return 0;
}

int peer_ice_add_remote(struct peer_ice *ice, const char *line)
{
	struct peer_ice_cand c;
	NiceCandidate *nc;
	int rc;

	if (!ice || !line)
		return BW_E_INVAL;
	rc = peer_ice_cand_parse(line, strnlen(line, PEER_ICE_LINE_MAX + 1), &c);
	if (rc)
		return rc;
	/* libnice would revive a failed agent on a late candidate (failed ->
	 * connecting -> ready); here failed is final and the caller decides. */
	if (ice->state == ICE_FAILED)
		return BW_E_CLOSED;
	if (ice->remote_done)
		return BW_E_INVAL;
	if (ice->family != AF_UNSPEC && c.addr.ss_family != ice->family)
		return 0;
	if (ice->n_remote >= PEER_ICE_REMOTE_MAX)
		return BW_E_TOO_BIG;

	nc = nice_candidate_new(type_to_nice(c.type));
	if (!nc)
		return BW_E_NOMEM;
	nc->stream_id = ice->stream;
	nc->component_id = 1;
	nc->transport = NICE_CANDIDATE_TRANSPORT_UDP;
	nc->priority = c.priority;
	memcpy(nc->foundation, c.foundation, sizeof(c.foundation));
	nice_address_set_from_sockaddr(&nc->addr, (struct sockaddr *)&c.addr);
	if (c.has_raddr)
		nice_address_set_from_sockaddr(&nc->base_addr, (struct sockaddr *)&c.raddr);
	ice->n_remote++;
	if (!ice->started) {
		/* Without the peer's password libnice would check with an empty
		 * one and fail the pair: hold it until peer_ice_start. */
		ice->held[ice->n_held++] = nc;
		return 0;
	}
	rc = add_remote_now(ice, &nc, 1);
	nice_candidate_free(nc);
	return rc;
}

int peer_ice_remote_done(struct peer_ice *ice)
{
	if (!ice)
		return BW_E_INVAL;
	if (ice->state == ICE_FAILED)
		return BW_E_CLOSED;
	if (ice->remote_done)
		return 0;
	ice->remote_done = true;
	if (ice->started) {
		nice_agent_peer_candidate_gathering_done(ice->agent, ice->stream);
		ice_glib_kick(ice->g, false);
	}
	return 0;
}

static int send_error(GError *err)
{
	int rc = -EIO;

	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
		rc = -EAGAIN;
	else if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
		rc = BW_E_CLOSED;   /* the peer revoked consent */
	g_clear_error(&err);
	return rc;
}

/* Through libnice: one sendmsg per datagram (or sendmmsg). */
static int nice_sendv(struct peer_ice *ice, const struct iovec *pkts, size_t n)
{
	NiceOutputMessage msgs[PEER_ICE_BATCH_MAX];
	GOutputVector vecs[PEER_ICE_BATCH_MAX];
	GError *err = NULL;
	gint sent;

	for (size_t i = 0; i < n; i++) {
		vecs[i].buffer = pkts[i].iov_base;
		vecs[i].size = pkts[i].iov_len;
		msgs[i].buffers = &vecs[i];
		msgs[i].n_buffers = 1;
	}
	/* libnice: agent mutex, the selected pair, then sendmsg on its socket. */
	sent = nice_agent_send_messages_nonblocking(ice->agent, ice->stream, 1, msgs, (guint)n,
						    NULL, &err);
	if (sent < 0)
		return send_error(err);
	return sent ? sent : -EAGAIN;
}

/*
 * On the selected pair's socket ourselves: one sendmmsg for the batch, each
 * message a run of datagrams of one size (the last may be shorter) sent as
 * one UDP GSO buffer, which the kernel cuts into datagrams at the last
 * moment (or never, on loopback and veth, when the receiver asked for GRO):
 * one route lookup and one trip down the stack per run instead of per
 * datagram. A kernel or device without GSO (EIO, EINVAL) gets one message
 * per datagram from then on.
 */
static int direct_sendv(struct peer_ice *ice, const struct iovec *pkts, size_t n, bool gso)
{
	struct mmsghdr mm[PEER_ICE_BATCH_MAX];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} cm[PEER_ICE_BATCH_MAX];
	size_t runs[PEER_ICE_BATCH_MAX], nm = 0, done = 0;
	int fd = g_socket_get_fd(ice->dsock), r;

	memset(mm, 0, sizeof(mm[0]) * n);
	for (size_t i = 0; i < n; nm++) {
		size_t seg = pkts[i].iov_len, j = i + 1, bytes = seg;
		struct msghdr *m = &mm[nm].msg_hdr;

		while (gso && j < n && j - i < GSO_SEGS_MAX &&
		       pkts[j].iov_len <= seg && bytes + pkts[j].iov_len <= GSO_BYTES_MAX) {
			bytes += pkts[j].iov_len;
			if (pkts[j++].iov_len < seg)
				break;      /* only the last may be shorter */
		}
		m->msg_name = &ice->dto;
		m->msg_namelen = ice->dto_len;
		m->msg_iov = (struct iovec *)&pkts[i];
		m->msg_iovlen = j - i;
		if (j - i > 1) {
			struct cmsghdr *c;

			m->msg_control = cm[nm].buf;
			m->msg_controllen = sizeof(cm[nm].buf);
			c = CMSG_FIRSTHDR(m);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)(void *)CMSG_DATA(c) = (uint16_t)seg;
		}
		runs[nm] = j - i;
		i = j;
	}
	r = sendmmsg(fd, mm, (unsigned)nm, MSG_DONTWAIT);
	if (r < 0 && nm < n && (errno == EIO || errno == ENOPROTOOPT)) {
		/* No UDP GSO on this kernel or device: for good. */
		ice->gso_off = true;
		return direct_sendv(ice, pkts, n, false);
	}
	if (r < 0 && nm < n && errno == EINVAL)
		/* A segment above the path MTU (large sudp datagrams): the
		 * kernel fragments single datagrams, so send these so. */
		return direct_sendv(ice, pkts, n, false);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ? -EAGAIN
										    : -errno;
	for (int k = 0; k < r; k++) {
		done += runs[k];
		ice->gso_sends += runs[k] > 1;
	}
	return (int)done;
}

int peer_ice_sendv(struct peer_ice *ice, const struct iovec *pkts, size_t n)
{
	int sent;

	if (!ice || (!pkts && n))
		return BW_E_INVAL;
	if (ice->state == ICE_FAILED)
		return BW_E_CLOSED;
	if (ice->state != ICE_SELECTED)
		return BW_E_AGAIN;
	if (n > PEER_ICE_BATCH_MAX)
		n = PEER_ICE_BATCH_MAX;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pkts[i].iov_len == 0 || pkts[i].iov_len > PEER_ICE_DGRAM_MAX)
			return BW_E_TOO_BIG;
	if (ice->dsock && !g_socket_is_closed(ice->dsock))
		sent = direct_sendv(ice, pkts, n, !ice->gso_off);
	else
		sent = nice_sendv(ice, pkts, n);
	if (sent < 0)
		return sent;
	ice->sent += (uint64_t)sent;
	ice->last_send_ms = bw_now_ms();
	return sent;
}

int peer_ice_send(struct peer_ice *ice, const uint8_t *pkt, size_t len)
{
	struct iovec v = { .iov_base = (void *)pkt, .iov_len = len };
	int rc;

	if (!pkt || len == 0)
		return BW_E_INVAL;
	rc = peer_ice_sendv(ice, &v, 1);
	return rc < 0 ? rc : 0;
}

void peer_ice_stats(const struct peer_ice *ice, struct peer_ice_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!ice)
		return;
	st->sent = ice->sent;
	st->recv = ice->recv;
	st->recv_dropped = ice->dropped;
	st->keepalives = ice->keepalives;
	st->gso_sends = ice->gso_sends;
}

void peer_ice_free(struct peer_ice *ice)
{
	struct peer_ice_glib *g;

	if (!ice)
		return;
	g = ice->g;
	direct_unbind(ice);
	event_free(ice->timeout);
	event_free(ice->keepalive);
	for (unsigned i = 0; i < ice->n_held; i++)
		nice_candidate_free(ice->held[i]);
	free_evs(ice);
	ice->dead = true;
	for (struct peer_ice **p = &g->agents; *p; p = &(*p)->next) {
		if (*p == ice) {
			*p = ice->next;
			break;
		}
	}
	ice->next = g->graveyard;
	g->graveyard = ice;
	event_active(g->later, EV_TIMEOUT, 0);
}
