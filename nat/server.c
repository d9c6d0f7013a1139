/*
 * burrowd's STUN server: up to four UDP sockets (A1:P1, A1:P2, A2:P1, A2:P2)
 * on the caller's event base. Each readable socket is drained a bounded number
 * of datagrams at a time; every datagram goes through nat_stun_handle() and
 * the answer leaves from the socket it names. Nothing a remote party sends can
 * make the server allocate: buffers are fixed and on the stack.
 */
#include "nat/nat_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* Datagrams read per wake-up, so that one busy socket cannot starve the loop. */
#define NAT_SERVER_BURST 32

struct nat_stun_sock {
	int fd;
	struct event *ev;
	struct nat_stun_server *srv;
	unsigned idx;
	bool pktinfo;           /* wildcard bind: learn each request's destination */
};

struct nat_stun_server {
	struct event_base *base;
	struct nat_stun_sock sock[NAT_SOCK_MAX];
	unsigned n_sock;
	nat_stun_other_cb on_other;
	void *other_arg;
	struct nat_stun_stats stats;
	struct nat_stun_ctx ctx;        /* last: large (libnice agents) */
};

static void log_drop(const struct sockaddr_storage *from, size_t len, const char *why)
{
	char a[BW_ADDR_STRLEN];

	log_ratelimited(LOG_DEBUG, "nat: stun: dropped %zu bytes from %s: %s", len,
			bw_addr_format((const struct sockaddr *)from, a, sizeof(a)), why);
}

/* The destination address of a datagram, from IP_PKTINFO / IPV6_PKTINFO. */
static bool pktinfo_dst(struct msghdr *mh, int family, struct sockaddr_storage *dst)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (family == AF_INET && c->cmsg_level == IPPROTO_IP &&
		    c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			struct sockaddr_in *in = (struct sockaddr_in *)dst;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(dst, 0, sizeof(*dst));
			in->sin_family = AF_INET;
			in->sin_addr = pi.ipi_addr;
			return true;
		}
		if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)dst;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			memset(dst, 0, sizeof(*dst));
			in6->sin6_family = AF_INET6;
			in6->sin6_addr = pi.ipi6_addr;
			return true;
		}
	}
	return false;
}

/*
 * Send from socket s; with a wildcard bind, from the address the request was
 * sent to (`src`), so that a multi-homed host answers from the right address.
 */
static int send_from(struct nat_stun_sock *s, const void *buf, size_t len,
		     const struct sockaddr_storage *to, const struct sockaddr_storage *src)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_name = (void *)to, .msg_namelen = nat_addr_len(to),
			     .msg_iov = &iov, .msg_iovlen = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} cm;

	if (s->pktinfo && src && src->ss_family == to->ss_family) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		c = (struct cmsghdr *)cm.buf;
		if (src->ss_family == AF_INET) {
			struct in_pktinfo pi = { 0 };

			pi.ipi_spec_dst = ((const struct sockaddr_in *)src)->sin_addr;
			c->cmsg_level = IPPROTO_IP;
			c->cmsg_type = IP_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		} else {
			struct in6_pktinfo pi = { 0 };

			pi.ipi6_addr = ((const struct sockaddr_in6 *)src)->sin6_addr;
			c->cmsg_level = IPPROTO_IPV6;
			c->cmsg_type = IPV6_PKTINFO;
			c->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(c), &pi, sizeof(pi));
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		}
	}
	if (sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		return -errno;
	return 0;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct nat_stun_sock *s = arg;
	struct nat_stun_server *srv = s->srv;

	for (int i = 0; i < NAT_SERVER_BURST; i++) {
		uint8_t buf[NAT_DGRAM_MAX];
		struct nat_stun_reply reply;
		struct sockaddr_storage from, dst;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		union {
			char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
			struct cmsghdr align;
		} cm;
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
		bool have_dst;
		ssize_t n;
		int rc;

		memset(&from, 0, sizeof(from));
		/* MSG_TRUNC returns the real length, so oversize is detected. */
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_ratelimited(LOG_DEBUG, "nat: stun: recvmsg: %s",
						bw_strerror(-errno));
			return;
		}
		if ((size_t)n > sizeof(buf) || (mh.msg_flags & MSG_TRUNC)) {
			srv->stats.dropped++;
			log_drop(&from, (size_t)n, "datagram above 1500 bytes");
			continue;
		}
		have_dst = s->pktinfo && pktinfo_dst(&mh, from.ss_family, &dst);
		switch (nat_stun_handle(&srv->ctx, buf, (size_t)n, &from, s->idx,
					have_dst ? &dst : NULL, &reply)) {
		case NAT_STUN_OTHER:
			if (srv->on_other && s->idx == 0) {
				srv->stats.other++;
				srv->on_other(buf, (size_t)n, (const struct sockaddr *)&from,
					      srv->other_arg);
			} else {
				srv->stats.dropped++;
				log_drop(&from, (size_t)n, "not STUN");
			}
			break;
		case NAT_STUN_DROP:
			srv->stats.dropped++;
			log_drop(&from, (size_t)n, reply.why);
			break;
		case NAT_STUN_REPLY:
			rc = send_from(&srv->sock[reply.sock], reply.buf, reply.len, &reply.to,
				       reply.sock == s->idx && have_dst ? &dst : NULL);
			if (rc < 0) {
				srv->stats.dropped++;
				log_drop(&reply.to, reply.len, bw_strerror(rc));
			} else if (reply.code) {
				srv->stats.errors++;
			} else {
				srv->stats.requests++;
			}
			break;
		}
	}
}

static int open_socket(struct nat_stun_server *srv, unsigned idx,
		       const struct sockaddr_storage *addr)
{
	struct nat_stun_sock *s = &srv->sock[idx];
	socklen_t len = sizeof(srv->ctx.addr[idx]);
	int one = 1;

	s->srv = srv;
	s->idx = idx;
	s->fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	if (addr->ss_family == AF_INET6)
		setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (nat_addr_is_any(addr)) {
		int rc = addr->ss_family == AF_INET
			 ? setsockopt(s->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
			 : setsockopt(s->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		if (rc < 0)
			return -errno;
		s->pktinfo = true;
	}
	if (bind(s->fd, (const struct sockaddr *)addr, nat_addr_len(addr)) < 0)
		return -errno;
	if (getsockname(s->fd, (struct sockaddr *)&srv->ctx.addr[idx], &len) < 0)
		return -errno;
	s->ev = event_new(srv->base, s->fd, EV_READ | EV_PERSIST, on_readable, s);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		return BW_E_NOMEM;
	srv->n_sock = idx + 1;
	return 0;
}

static int check_conf(const struct nat_stun_server_conf *conf)
{
	if (nat_addr_len(&conf->addr) == 0)
		return BW_E_INVAL;
	if (conf->alt_addr.ss_family == AF_UNSPEC)
		return conf->alt_port ? BW_E_NAT_ALT_CONF : 0;
	/* The other sockets share A1's ports: A1 must be A1, not "any". */
	if (conf->alt_addr.ss_family != conf->addr.ss_family || nat_addr_is_any(&conf->addr) ||
	    nat_addr_is_any(&conf->alt_addr) || nat_addr_same_ip(&conf->addr, &conf->alt_addr))
		return BW_E_NAT_ALT_CONF;
	return 0;
}

struct nat_stun_server *nat_stun_server_new(struct event_base *base,
					    const struct nat_stun_server_conf *conf, int *rc)
{
	struct nat_stun_server *srv;
	struct sockaddr_storage a;
	int err;

	err = base ? check_conf(conf) : BW_E_INVAL;
	if (err < 0) {
		*rc = err;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	srv->base = base;
	srv->on_other = conf->on_other;
	srv->other_arg = conf->other_arg;
	for (unsigned i = 0; i < NAT_SOCK_MAX; i++)
		srv->sock[i].fd = -1;

	/* Binding order lets port 0 work: P1 and P2 are learnt on A1 first,
	 * then reused on A2. */
	err = open_socket(srv, 0, &conf->addr);
	if (err == 0 && conf->alt_addr.ss_family != AF_UNSPEC) {
		a = conf->addr;
		nat_addr_set_port(&a, conf->alt_port);
		err = open_socket(srv, 1, &a);
		if (err == 0) {
			a = conf->alt_addr;
			nat_addr_set_port(&a, nat_addr_port(&srv->ctx.addr[0]));
			err = open_socket(srv, 2, &a);
		}
		if (err == 0) {
			a = conf->alt_addr;
			nat_addr_set_port(&a, nat_addr_port(&srv->ctx.addr[1]));
			err = open_socket(srv, 3, &a);
		}
	}
	if (err < 0) {
		nat_stun_server_free(srv);
		*rc = err;
		return NULL;
	}
	srv->ctx.n_addr = srv->n_sock;
	nat_stun_ctx_init(&srv->ctx, conf->software);
	*rc = 0;
	return srv;
}

void nat_stun_server_free(struct nat_stun_server *srv)
{
	if (!srv)
		return;
	for (unsigned i = 0; i < NAT_SOCK_MAX; i++) {
		if (srv->sock[i].ev)
			event_free(srv->sock[i].ev);
		if (srv->sock[i].fd >= 0)
			close(srv->sock[i].fd);
	}
	free(srv);
}

int nat_stun_server_addr(const struct nat_stun_server *srv, unsigned i,
			 struct sockaddr_storage *out)
{
	if (i >= srv->n_sock)
		return BW_E_NOT_FOUND;
	*out = srv->ctx.addr[i];
	return 0;
}

int nat_stun_server_sendto(struct nat_stun_server *srv, const void *buf, size_t len,
			   const struct sockaddr *to)
{
	struct sockaddr_storage ss;
	socklen_t tl;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = to->sa_family;
	tl = nat_addr_len(&ss);
	if (tl == 0 || len > NAT_DGRAM_MAX)
		return BW_E_INVAL;
	memcpy(&ss, to, tl);
	return send_from(&srv->sock[0], buf, len, &ss, NULL);
}

void nat_stun_server_stats(const struct nat_stun_server *srv, struct nat_stun_stats *out)
{
	*out = srv->stats;
}
