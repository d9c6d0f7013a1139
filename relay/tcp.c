/* tcp proxies: a public port on burrowd whose connections go to the client. */
#include "relay/relay_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "common/err.h"
#include "common/log.h"

#include <sodium.h>


static void on_user(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		    int salen, void *arg)
{
	struct relay_proxy *p = arg;
	struct relay_client *c = p->client;
	struct relay_waiter *w = calloc(1, sizeof(*w));
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);

	if (!w) {
		evutil_closesocket(fd);
		return;
	}
	/* The pair sets TCP_NODELAY: nothing is written before it. */
	w->bev = bufferevent_socket_new(c->relay->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!w->bev) {
		evutil_closesocket(fd);
		free(w);
		return;
	}
	w->proxy = p;
	/* START_WORK_CONN carries the user's address and the one it connected
	 * to, as frp's does. */
	relay_peer_split(sa, w->src, sizeof(w->src), &w->src_port);
	if (getsockname(fd, (struct sockaddr *)&local, &ll) == 0)
		relay_peer_split((struct sockaddr *)&local, w->dst, sizeof(w->dst), &w->dst_port);
	w->dst_port = p->port;
	relay_client_take_work(c, w);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct relay_proxy *p = arg;

	relay_listener_on_error(l, &p->resume, "relay: tcp proxy");
}

static struct evconnlistener *listen_on(struct relay *r, struct relay_proxy *p,
					uint16_t port, int *err)
{
	const char *addr = r->conf->proxy_bind_addr && *r->conf->proxy_bind_addr ?
			   r->conf->proxy_bind_addr : r->conf->bind_addr;
	struct evutil_addrinfo hints = {0}, *ai = NULL;
	struct evconnlistener *l;
	char ps[8];

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
	snprintf(ps, sizeof(ps), "%u", port);
	if (evutil_getaddrinfo(addr, ps, &hints, &ai) != 0) {
		*err = EINVAL;
		return NULL;
	}
	l = evconnlistener_new_bind(r->base, on_user, p,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
				    511, ai->ai_addr, (int)ai->ai_addrlen);
	*err = l ? 0 : errno;
	evutil_freeaddrinfo(ai);
	if (l)
		evconnlistener_set_error_cb(l, on_accept_error);
	return l;
}

static uint16_t listener_port(struct evconnlistener *l)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
		     ((struct sockaddr_in *)&ss)->sin_port);
}

int relay_tcp_open(struct relay_proxy *p, uint16_t want, char *err, size_t errlen)
{
	struct relay *r = p->client->relay;
	int rc = relay_port_check(r, p->client, want, err, errlen), e = 0;

	if (rc < 0)
		return rc;
	if (want) {
		p->listener = listen_on(r, p, want, &e);
	} else {
		/* frp picks a random allowed port; so does burrowd. */
		uint32_t seed = randombytes_random();

		for (uint32_t i = 0; i < RELAY_PICK_TRIES && !p->listener; i++) {
			uint16_t port = relay_port_candidate(r->conf, i, seed);

			if (!port)
				break;
			p->listener = listen_on(r, p, port, &e);
		}
		if (!p->listener && r->conf->n_allow_ports == 0)
			p->listener = listen_on(r, p, 0, &e);
	}
	if (!p->listener) {
		if (e == EADDRINUSE)
			snprintf(err, errlen, "port %u already in use", want);
		else if (!want)
			snprintf(err, errlen, "no free port among the allowed ports");
		else
			snprintf(err, errlen, "cannot listen on port %u: %s", want, strerror(e));
		return -e ? -e : BW_E_RANGE;
	}
	p->port = listener_port(p->listener);
	p->client->n_ports++;
	return 0;
}

void relay_tcp_close(struct relay_proxy *p)
{
	if (p->listener) {
		evconnlistener_free(p->listener);
		p->listener = NULL;
		p->client->n_ports--;
	}
	if (p->resume) {
		event_free(p->resume);
		p->resume = NULL;
	}
}
