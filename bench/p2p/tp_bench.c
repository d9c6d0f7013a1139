/*
 * bench_tp: one stream transport engine (peer/tp.h) between two processes
 * over a real UDP socket, every packet sealed with the session's datagram
 * crypto exactly as peer/session.c does it (a kind byte, then the engine's
 * packet, sealed with bw_crypto_dgram_seal), driven by libevent with one
 * timer at the engine's deadline. `--engine tcp` moves the same bytes over a
 * kernel TCP connection instead: the baseline, measured by the same tool.
 *
 *   bench_tp --engine E --listen ADDR:PORT --seconds S   receives for S s
 *   bench_tp --engine E --connect ADDR:PORT
 *
 * The connecting side is the initiator and the sender: it opens one stream
 * and writes as fast as the engine takes bytes. The listener reads for S
 * seconds from the stream's opening, then resets the stream (kernel TCP:
 * closes the socket), which ends the sender. Counting at the receiver over a
 * fixed time is what iperf3 does; draining whatever the sender had buffered
 * would take minutes on a lossy path. Each side prints one JSON line on
 * stdout: engine, role, bytes, seconds, Mbit/s (the receiver's figure is the
 * goodput), CPU seconds (user + sys) of this process over the transfer, RTT,
 * packets lost or retransmitted, and what the engine and the socket counted.
 *
 * Options: --mtu N (engine packet limit, default 1350 as the session),
 * --window BYTES (per-stream receive window), --conn-window BYTES,
 * --cc NAME, --quiet (no progress on stderr). A listener given port 0
 * prints "listening on PORT" on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "peer/tp.h"

#define KIND_TP 1                   /* peer/session_int.h: SESSION_TP */
#define DGRAM_MAX 1500
#define SOCK_BUF (8 << 20)
#define RECV_BATCH 256
#define GUARD_EXTRA_S 60            /* give up this long after the sending time */
#define LINGER_US 1000000           /* the receiver answers a moment after its reset */

struct bench {
	const char *engine;
	const struct peer_tp_ops *ops;
	struct peer_tp *tp;
	struct bw_crypto_session *cs;
	struct event_base *base;
	struct event *ev_rd, *ev_tmr, *ev_stop, *ev_guard, *ev_linger, *ev_term;
	int fd;
	bool listen, peer_known;
	double seconds;
	struct peer_tp_conf conf;
	uint64_t sid;
	bool have_stream, eof, closed, finished;
	int result;
	uint64_t bytes, t0, t1;
	struct rusage ru0;
	uint64_t udp_drops, open_fail;
	uint8_t buf[65536];
};

static uint64_t now_us(void)
{
	return peer_tp_now_us();
}

static double cpu_s(const struct rusage *a, const struct rusage *b)
{
	return (double)(b->ru_utime.tv_sec - a->ru_utime.tv_sec) +
	       (double)(b->ru_utime.tv_usec - a->ru_utime.tv_usec) / 1e6 +
	       (double)(b->ru_stime.tv_sec - a->ru_stime.tv_sec) +
	       (double)(b->ru_stime.tv_usec - a->ru_stime.tv_usec) / 1e6;
}

static void report(const char *engine, const char *role, uint64_t bytes, double secs, double cpu,
		   double rtt_ms, uint64_t lost, const char *extra)
{
	printf("{\"engine\":\"%s\",\"role\":\"%s\",\"bytes\":%llu,\"seconds\":%.3f,"
	       "\"mbit_s\":%.1f,\"cpu_s\":%.3f,\"rtt_ms\":%.2f,\"lost\":%llu%s}\n",
	       engine, role, (unsigned long long)bytes, secs,
	       secs > 0 ? (double)bytes * 8 / secs / 1e6 : 0.0, cpu, rtt_ms,
	       (unsigned long long)lost, extra ? extra : "");
	fflush(stdout);
}

static int parse_addr(const char *s, int socktype, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype}, *ai;

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
}

/* Large socket buffers; as root beyond net.core.*mem_max. */
static void sock_bufs(int fd)
{
	int v = SOCK_BUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
}

/* --- Engine mode -------------------------------------------------------------- */

static void kick(struct bench *b)
{
	uint64_t d, now;
	struct timeval tv = {0};

	if (!b->tp)
		return;
	d = b->ops->deadline(b->tp);
	if (d == PEER_TP_NONE) {
		evtimer_del(b->ev_tmr);
		return;
	}
	now = now_us();
	if (d > now) {
		tv.tv_sec = (time_t)((d - now) / 1000000u);
		tv.tv_usec = (suseconds_t)((d - now) % 1000000u);
	}
	evtimer_add(b->ev_tmr, &tv);
}

static void finish(struct bench *b)
{
	struct rusage ru;
	struct peer_tp_stats st;
	char extra[320];

	if (b->finished)
		return;
	b->finished = true;
	getrusage(RUSAGE_SELF, &ru);
	b->ops->stats(b->tp, &st);
	snprintf(extra, sizeof(extra),
		 ",\"pkts_sent\":%llu,\"pkts_recv\":%llu,\"cwnd\":%llu,\"udp_drops\":%llu,"
		 "\"open_fail\":%llu,\"mtu\":%zu,\"window\":%zu",
		 (unsigned long long)st.pkts_sent, (unsigned long long)st.pkts_recv,
		 (unsigned long long)st.cwnd, (unsigned long long)b->udp_drops,
		 (unsigned long long)b->open_fail, b->conf.mtu, b->conf.stream_window);
	report(b->engine, b->listen ? "recv" : "send", b->bytes,
	       (double)(b->t1 - b->t0) / 1e6, cpu_s(&b->ru0, &ru), (double)st.rtt_us / 1000.0,
	       st.pkts_lost, extra);
	if (b->listen) {
		/* Our reset may be lost: keep answering a moment. */
		struct timeval tv = {LINGER_US / 1000000, LINGER_US % 1000000};
		evtimer_add(b->ev_linger, &tv);
	} else {
		event_base_loopbreak(b->base);
	}
}

static void fail(struct bench *b, const char *why, int rc)
{
	fprintf(stderr, "bench_tp: %s: %s\n", why, bw_strerror(rc));
	b->result = 1;
	event_base_loopbreak(b->base);
}

static void cb_output(void *arg, const uint8_t *pkt, size_t len)
{
	struct bench *b = arg;
	uint8_t pt[DGRAM_MAX], ct[DGRAM_MAX + BW_CRYPTO_DGRAM_OVERHEAD];
	size_t n;

	if (!b->peer_known || 1 + len > sizeof(pt))
		return;
	pt[0] = KIND_TP;
	memcpy(pt + 1, pkt, len);
	if (bw_crypto_dgram_seal(b->cs, pt, 1 + len, ct, sizeof(ct), &n) < 0)
		return;
	if (send(b->fd, ct, n, 0) < 0)
		b->udp_drops++;        /* a full socket drops, like a router */
}

static void pump(struct bench *b)
{
	while (b->have_stream && !b->closed) {
		ssize_t r = b->ops->stream_write(b->tp, b->sid, b->buf, sizeof(b->buf));
		if (r < 0)
			return fail(b, "write", (int)r);
		b->bytes += (uint64_t)r;
		if ((size_t)r < sizeof(b->buf))
			return;
	}
}

static void drain(struct bench *b)
{
	while (!b->finished) {
		ssize_t r = b->ops->stream_read(b->tp, b->sid, b->buf, sizeof(b->buf));
		if (r == -EAGAIN)
			return;
		if (r < 0)
			return fail(b, "read", (int)r);
		if (r == 0) {
			/* The sender stops only when reset: EOF is early. */
			b->eof = true;
			b->t1 = now_us();
			finish(b);
			return;
		}
		b->bytes += (uint64_t)r;
	}
}

static void cb_ready(void *arg, int rc)
{
	struct bench *b = arg;

	if (rc < 0 && b->have_stream && !b->listen && !b->finished) {
		/* The receiver went away without our seeing its reset. */
		b->t1 = now_us();
		finish(b);
		return;
	}
	if (rc < 0)
		return fail(b, "association", rc);
	if (b->listen)
		return;
	if ((rc = b->ops->stream_open(b->tp, &b->sid)) < 0)
		return fail(b, "stream_open", rc);
	b->have_stream = true;
	b->t0 = now_us();
	getrusage(RUSAGE_SELF, &b->ru0);
	pump(b);
}

static void cb_opened(void *arg, uint64_t id)
{
	struct bench *b = arg;

	if (b->have_stream || !b->listen)
		return (void)b->ops->stream_reset(b->tp, id);
	struct timeval tv = {(time_t)b->seconds,
			     (suseconds_t)((b->seconds - (double)(time_t)b->seconds) * 1e6)};

	b->sid = id;
	b->have_stream = true;
	b->t0 = now_us();
	getrusage(RUSAGE_SELF, &b->ru0);
	evtimer_add(b->ev_stop, &tv);
}

static void cb_readable(void *arg, uint64_t id)
{
	struct bench *b = arg;

	if (b->have_stream && id == b->sid && b->listen)
		drain(b);
}

static void cb_writable(void *arg, uint64_t id)
{
	struct bench *b = arg;

	if (b->have_stream && id == b->sid)
		pump(b);
}

static void cb_closed(void *arg, uint64_t id, int rc)
{
	struct bench *b = arg;

	if (!b->have_stream || id != b->sid)
		return;
	b->closed = true;
	if (b->listen)
		return;            /* our own reset */
	/* The receiver's reset is the end of the sender's run. */
	b->t1 = now_us();
	finish(b);
}

/* The receiver's S seconds are over: count, then reset the stream. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	if (b->finished)
		return;
	b->t1 = now_us();
	finish(b);
	if (!b->closed)
		b->ops->stream_reset(b->tp, b->sid);
	kick(b);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	b->ops->timeout(b->tp, now_us());
	kick(b);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	uint8_t ct[DGRAM_MAX + BW_CRYPTO_DGRAM_OVERHEAD + 64], pt[DGRAM_MAX + 64];

	for (int i = 0; i < RECV_BATCH; i++) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		size_t n;
		ssize_t r = recvfrom(b->fd, ct, sizeof(ct), 0, (struct sockaddr *)&from, &flen);
		if (r < 0)
			break;
		if (bw_crypto_dgram_open(b->cs, ct, (size_t)r, pt, sizeof(pt), &n) < 0 || n < 1 ||
		    pt[0] != KIND_TP) {
			b->open_fail++;
			continue;
		}
		if (!b->peer_known) {
			/* The listener answers whoever sent the first good packet. */
			if (connect(b->fd, (struct sockaddr *)&from, flen) < 0)
				continue;
			b->peer_known = true;
		}
		b->ops->input(b->tp, pt + 1, n - 1, now_us());
	}
	kick(b);
}

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	fprintf(stderr, "bench_tp: no end after %.0f s\n", b->seconds + GUARD_EXTRA_S);
	b->result = 1;
	event_base_loopbreak(b->base);
}

static void on_linger(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(((struct bench *)arg)->base);
}

/* SIGTERM ends a sender at once (transport.sh sends it when the receiver is
 * done): whatever the engine does with the receiver's reset, the run ends
 * and reports. */
static void on_term(evutil_socket_t sig, short what, void *arg)
{
	struct bench *b = arg;

	if (!b->finished && b->have_stream && !b->listen) {
		b->t1 = now_us();
		finish(b);
		return;
	}
	b->result = b->finished ? b->result : 1;
	event_base_loopbreak(b->base);
}

static int run_engine(struct bench *b, const char *addr)
{
	static const uint8_t key[BW_CRYPTO_KEY_LEN] = "burrow bench_tp fixed test key!";
	static const struct peer_tp_cbs cbs = {
		.output = cb_output,
		.ready = cb_ready,
		.stream_opened = cb_opened,
		.stream_readable = cb_readable,
		.stream_writable = cb_writable,
		.stream_closed = cb_closed,
	};
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t suites[BW_CRYPTO_SUITES_MAX];
	struct timeval guard = {(time_t)b->seconds + GUARD_EXTRA_S, 0};  /* sender */
	int rc;

	if (!(b->ops = peer_tp_find(b->engine))) {
		fprintf(stderr, "bench_tp: engine %s is not compiled in\n", b->engine);
		return 2;
	}
	if (parse_addr(addr, SOCK_DGRAM, &ss, &sl) < 0) {
		fprintf(stderr, "bench_tp: bad address %s\n", addr);
		return 2;
	}
	/* Both ends run on one kind of machine: the same fastest suite. */
	if (bw_crypto_suites_local(suites) == 0)
		return 2;
	b->cs = bw_crypto_session_from_key(key, "bench_tp", b->listen ? BW_CRYPTO_RESPONDER
								      : BW_CRYPTO_INITIATOR,
					   suites[0], BW_CRYPTO_DGRAM, &rc);
	if (!b->cs) {
		fprintf(stderr, "bench_tp: crypto: %s\n", bw_strerror(rc));
		return 2;
	}
	b->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->fd < 0)
		return 2;
	sock_bufs(b->fd);
	if (b->listen) {
		if (bind(b->fd, (struct sockaddr *)&ss, sl) < 0) {
			perror("bench_tp: bind");
			return 2;
		}
		fprintf(stderr, "listening on %d\n", sock_port(b->fd));
	} else {
		if (connect(b->fd, (struct sockaddr *)&ss, sl) < 0) {
			perror("bench_tp: connect");
			return 2;
		}
		b->peer_known = true;
	}
	b->base = event_base_new();
	b->ev_rd = event_new(b->base, b->fd, EV_READ | EV_PERSIST, on_read, b);
	b->ev_tmr = evtimer_new(b->base, on_timer, b);
	b->ev_stop = evtimer_new(b->base, on_stop, b);
	b->ev_guard = evtimer_new(b->base, on_guard, b);
	b->ev_linger = evtimer_new(b->base, on_linger, b);
	b->ev_term = evsignal_new(b->base, SIGTERM, on_term, b);
	evsignal_add(b->ev_term, NULL);
	b->conf.initiator = !b->listen;
	b->tp = b->ops->new(&b->conf, &cbs, b, now_us(), &rc);
	if (!b->tp) {
		fprintf(stderr, "bench_tp: %s: %s\n", b->engine, bw_strerror(rc));
		return 2;
	}
	event_add(b->ev_rd, NULL);
	if (!b->listen)
		evtimer_add(b->ev_guard, &guard);
	kick(b);
	event_base_dispatch(b->base);

	b->ops->free(b->tp);
	event_free(b->ev_rd);
	event_free(b->ev_tmr);
	event_free(b->ev_stop);
	event_free(b->ev_guard);
	event_free(b->ev_linger);
	event_free(b->ev_term);
	event_base_free(b->base);
	bw_crypto_session_free(b->cs);
	close(b->fd);
	return b->result;
}

/* --- Kernel TCP: the baseline ------------------------------------------------------- */

static volatile sig_atomic_t tcp_term;

static void tcp_on_term(int sig)
{
	tcp_term = 1;
}

static void tcp_info_of(int fd, double *rtt_ms, uint64_t *lost)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
		*rtt_ms = ti.tcpi_rtt / 1000.0;
		*lost = ti.tcpi_total_retrans;
	}
}

static int run_tcp(struct bench *b, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct rusage ru0, ru1;
	double rtt = 0;
	uint64_t lost = 0, bytes = 0, t0, t1, end;
	int fd, one = 1;

	if (parse_addr(addr, SOCK_STREAM, &ss, &sl) < 0) {
		fprintf(stderr, "bench_tp: bad address %s\n", addr);
		return 2;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 2;
	if (b->listen) {
		int c;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1) < 0) {
			perror("bench_tp: listen");
			return 2;
		}
		fprintf(stderr, "listening on %d\n", sock_port(fd));
		if ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			return 2;
		close(fd);
		fd = c;
		t0 = now_us();
		end = t0 + (uint64_t)(b->seconds * 1e6);
		getrusage(RUSAGE_SELF, &ru0);
		for (uint64_t now = t0; now < end; now = now_us()) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			ssize_t r;
			if (poll(&p, 1, (int)((end - now) / 1000 + 1)) <= 0)
				continue;
			r = read(fd, b->buf, sizeof(b->buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			bytes += (uint64_t)r;
		}
		t1 = now_us();
		getrusage(RUSAGE_SELF, &ru1);
		tcp_info_of(fd, &rtt, &lost);
		report("tcp", "recv", bytes, (double)(t1 - t0) / 1e6, cpu_s(&ru0, &ru1), rtt, lost, NULL);
	} else {
		/* Congestion control is the sender's: --cc picks Linux's module. */
		if (b->conf.cc && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, b->conf.cc,
					     (socklen_t)strlen(b->conf.cc)) < 0) {
			perror("bench_tp: TCP_CONGESTION");
			return 2;
		}
		/* The listener may still be starting: retry for a few seconds. */
		for (int i = 0; connect(fd, (struct sockaddr *)&ss, sl) < 0; i++) {
			if (i == 50) {
				perror("bench_tp: connect");
				return 2;
			}
			close(fd);
			usleep(100000);
			if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
				return 2;
			if (b->conf.cc)
				(void)setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, b->conf.cc,
						 (socklen_t)strlen(b->conf.cc));
		}
		t0 = now_us();
		end = t0 + (uint64_t)(b->seconds + GUARD_EXTRA_S) * 1000000u;
		getrusage(RUSAGE_SELF, &ru0);
		/* Until the receiver closes (EPIPE, ECONNRESET) or SIGTERM: no
		 * SA_RESTART, so a blocked write returns EINTR. */
		struct sigaction sa = {.sa_handler = tcp_on_term};
		sigaction(SIGTERM, &sa, NULL);
		while (now_us() < end && !tcp_term) {
			ssize_t r = write(fd, b->buf, sizeof(b->buf));
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				break;
			bytes += (uint64_t)r;
		}
		t1 = now_us();
		tcp_info_of(fd, &rtt, &lost);
		getrusage(RUSAGE_SELF, &ru1);
		report("tcp", "send", bytes, (double)(t1 - t0) / 1e6, cpu_s(&ru0, &ru1), rtt, lost, NULL);
	}
	close(fd);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_tp --engine quic|sctp|pseudotcp|tcp (--listen|--connect) ADDR:PORT\n"
		   "                [--seconds S] [--mtu N] [--window BYTES] [--conn-window BYTES]\n"
		   "                [--cc NAME]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"engine", required_argument, NULL, 'e'},   {"listen", required_argument, NULL, 'l'},
		{"connect", required_argument, NULL, 'c'},  {"seconds", required_argument, NULL, 's'},
		{"mtu", required_argument, NULL, 'm'},      {"window", required_argument, NULL, 'w'},
		{"conn-window", required_argument, NULL, 'W'}, {"cc", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	static struct bench b;
	const char *addr = NULL;
	int c;

	b.seconds = 10;
	b.conf.mtu = 1350;
	b.fd = -1;
	for (size_t i = 0; i < sizeof(b.buf); i++)
		b.buf[i] = (uint8_t)(i * 7 + 3);
	while ((c = getopt_long(argc, argv, "e:l:c:s:m:w:W:C:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': b.engine = optarg; break;
		case 'l': addr = optarg; b.listen = true; break;
		case 'c': addr = optarg; b.listen = false; break;
		case 's': b.seconds = atof(optarg); break;
		case 'm': b.conf.mtu = strtoul(optarg, NULL, 10); break;
		case 'w': b.conf.stream_window = strtoul(optarg, NULL, 10); break;
		case 'W': b.conf.conn_window = strtoul(optarg, NULL, 10); break;
		case 'C': b.conf.cc = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!b.engine || !addr || b.seconds <= 0 || b.seconds > 3600) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(b.engine, "tcp") == 0)
		return run_tcp(&b, addr);
	return run_engine(&b, addr);
}
