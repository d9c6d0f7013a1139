/*
 * udp proxies: a public UDP port on burrowd. Datagrams from every user travel
 * to the client over one work connection, as UDP_PACKET frames naming the
 * user's address (sealed when the proxy asked for encryption); the client
 * answers the same way and burrowd sends each answer from the public port
 * to the address it names, as frp does.
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"

/* Datagrams kept while the work connection is on its way. */
#define UDP_PENDING_MAX 64
/* Datagrams read per wake-up, so one busy port cannot starve the loop. */
#define UDP_READ_BATCH 64

struct udp_pending {
	struct sockaddr_storage from;
	size_t len;
	uint8_t data[];
};

struct relay_udp {
	struct relay_proxy *p;
	evutil_socket_t fd;
	struct event *ev;
	struct proto_chan *chan;           /* the work connection, once attached */
	struct relay_waiter *waiter;       /* asked for, not yet attached */
	struct udp_pending *pending[UDP_PENDING_MAX];
	unsigned n_pending;
};

static void pending_clear(struct relay_udp *u)
{
	for (unsigned i = 0; i < u->n_pending; i++)
		free(u->pending[i]);
	u->n_pending = 0;
}

static int send_packet(struct relay_udp *u, const struct sockaddr_storage *from,
		       const uint8_t *data, size_t len)
{
	struct proto_msg m = { .type = PROTO_MSG_UDP_PACKET };
	char addr[BW_ADDR_STRLEN];

	m.udp_packet.content.data = data;
	m.udp_packet.content.len = len;
	m.udp_packet.local_addr = "";
	m.udp_packet.remote_addr = bw_addr_format((const struct sockaddr *)from, addr, sizeof(addr));
	return proto_chan_send(u->chan, &m, NULL);
}

static int on_work_msg(struct proto_chan *ch, struct proto_msg *m, void *arg)
{
	struct relay_udp *u = arg;
	struct sockaddr_storage to;
	int len;

	if (m->type != PROTO_MSG_UDP_PACKET)
		return 0;
	len = bw_addr_parse(m->udp_packet.remote_addr, &to);
	if (len < 0) {
		log_ratelimited(LOG_WARN, "relay: proxy %s: client sent a datagram for \"%s\"",
				u->p->name, m->udp_packet.remote_addr);
		return 0;
	}
	if (sendto(u->fd, m->udp_packet.content.data, m->udp_packet.content.len, 0,
		   (struct sockaddr *)&to, (socklen_t)len) < 0)
		log_ratelimited(LOG_DEBUG, "relay: proxy %s: sendto %s: %s", u->p->name,
				m->udp_packet.remote_addr, strerror(errno));
	else
		u->p->client->relay->stats.bytes_out += m->udp_packet.content.len;
	return 0;
}

static void on_work_error(struct proto_chan *ch, int rc, const struct proto_err *err, void *arg)
{
	struct relay_udp *u = arg;

	log_info("relay: proxy %s: udp work connection closed: %s", u->p->name, bw_strerror(rc));
	proto_chan_free(u->chan);
	u->chan = NULL; /* the next datagram asks for a new one */
}

static const struct proto_chan_cbs work_cbs = {
	.on_msg = on_work_msg,
	.on_error = on_work_error,
};

static void udp_attach(struct relay_waiter *w, struct bufferevent *work,
		       struct bw_crypto_session *s)
{
	struct relay_udp *u = w->ctx;
	struct proto_msg m = { .type = PROTO_MSG_START_WORK_CONN };
	int rc;

	u->waiter = NULL;
	m.start_work_conn.proxy_name = u->p->name;
	m.start_work_conn.src_addr = "";
	m.start_work_conn.dst_addr = "";
	m.start_work_conn.dst_port = u->p->port;
	if (proto_frame_send(bufferevent_get_output(work), s, &m, NULL) < 0)
		goto fail;
	u->chan = proto_chan_new(work, PROTO_SIDE_SERVER, &work_cbs, u, &rc);
	if (!u->chan)
		goto fail;
	proto_chan_set_state(u->chan, PROTO_STATE_WORK);
	if (u->p->use_encryption)
		proto_chan_set_session(u->chan, s);
	else
		bw_crypto_session_free(s);
	for (unsigned i = 0; i < u->n_pending; i++)
		send_packet(u, &u->pending[i]->from, u->pending[i]->data, u->pending[i]->len);
	pending_clear(u);
	return;
fail:
	bufferevent_free(work);
	bw_crypto_session_free(s);
	pending_clear(u);
}

static void waiter_gone(struct relay_waiter *w)
{
	struct relay_udp *u = w->ctx;

	if (u->waiter == w)
		u->waiter = NULL;
}

static void on_datagram(evutil_socket_t fd, short what, void *arg)
{
	struct relay_udp *u = arg;
	uint8_t buf[PROTO_UDP_DATAGRAM_MAX];

	for (int i = 0; i < UDP_READ_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		struct udp_pending *pk;

		if (n < 0)
			return;
		u->p->client->relay->stats.bytes_in += (uint64_t)n;
		if (u->chan) {
			send_packet(u, &from, buf, (size_t)n);
			continue;
		}
		if (u->n_pending == UDP_PENDING_MAX)
			continue; /* dropped, as a full queue in a router would */
		pk = malloc(sizeof(*pk) + (size_t)n);
		if (!pk)
			continue;
		pk->from = from;
		pk->len = (size_t)n;
		memcpy(pk->data, buf, (size_t)n);
		u->pending[u->n_pending++] = pk;
		if (!u->waiter) {
			struct relay_waiter *w = calloc(1, sizeof(*w));

			if (!w)
				continue;
			w->proxy = u->p;
			w->attach = udp_attach;
			w->on_free = waiter_gone;
			w->ctx = u;
			snprintf(w->src, sizeof(w->src), "udp");
			u->waiter = w;
			relay_client_take_work(u->p->client, w);
		}
	}
}

/* Bind a UDP socket on addr:port; returns the fd or -errno. */
static int udp_bind(const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	char spec[BW_ADDR_STRLEN + 8];
	int len, fd;

	snprintf(spec, sizeof(spec), strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
	len = bw_addr_parse(spec, &ss);
	if (len < 0)
		return len;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

int relay_udp_open(struct relay_proxy *p, uint16_t want, char *err, size_t errlen)
{
	struct relay *r = p->client->relay;
	const char *addr = r->conf->proxy_bind_addr && *r->conf->proxy_bind_addr ?
			   r->conf->proxy_bind_addr : r->conf->bind_addr;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct relay_udp *u;
	int rc = relay_port_check(r, p->client, want, err, errlen), fd = -EADDRINUSE;

	if (rc < 0)
		return rc;
	if (want || r->conf->n_allow_ports == 0) {
		fd = udp_bind(addr, want);
	} else {
		uint32_t seed = randombytes_random();

		for (uint32_t i = 0; i < RELAY_PICK_TRIES && fd == -EADDRINUSE; i++) {
			uint16_t port = relay_port_candidate(r->conf, i, seed);

			if (!port)
				break;
			fd = udp_bind(addr, port);
		}
	}
	if (fd < 0) {
		if (fd == -EADDRINUSE)
			snprintf(err, errlen, want ? "port %u already in use" :
				 "no free port among the allowed ports", want);
		else
			snprintf(err, errlen, "cannot bind udp %s:%u: %s", addr, want,
				 bw_strerror(fd));
		return fd;
	}
	u = calloc(1, sizeof(*u));
	if (!u) {
		close(fd);
		return BW_E_NOMEM;
	}
	u->p = p;
	u->fd = fd;
	getsockname(u->fd, (struct sockaddr *)&ss, &sl);
	p->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
			((struct sockaddr_in *)&ss)->sin_port);
	u->ev = event_new(r->base, u->fd, EV_READ | EV_PERSIST, on_datagram, u);
	if (!u->ev || event_add(u->ev, NULL) < 0) {
		if (u->ev)
			event_free(u->ev);
		close(u->fd);
		free(u);
		return BW_E_NOMEM;
	}
	p->udp = u;
	p->client->n_ports++;
	return 0;
}

void relay_udp_close(struct relay_proxy *p)
{
	struct relay_udp *u = p->udp;

	if (!u)
		return;
	event_free(u->ev);
	close(u->fd);
	proto_chan_free(u->chan);
	pending_clear(u);
	free(u);
	p->udp = NULL;
	p->client->n_ports--;
}
