/*
 * bench_rtt: the load tool of bench/relay.sh. One program, four roles, so
 * that a direct connection and a relayed one are measured by the same code
 * and the tool's own overhead cancels out of the comparison.
 *
 *   serve [PORT [MSG]]           echo server on 127.0.0.1 (0: the OS picks);
 *                                logs "serve: listening on 127.0.0.1:PORT";
 *                                holds any number of idle connections. With
 *                                MSG, it answers only whole MSG-byte
 *                                requests, each in two writes (its halves)
 *   ping HOST PORT COUNT SIZE [split]
 *                                one connection, COUNT round trips of SIZE
 *                                bytes; prints p50/p99 in microseconds;
 *                                split sends each request in two writes
 *   connect HOST PORT COUNT SIZE COUNT times: connect, one round trip, close
 *   hold HOST PORT COUNT [PAR]   opens COUNT connections (at most PAR in
 *                                progress), checks each one echoes a byte,
 *                                then holds them; SIGUSR1 checks them all
 *                                again, SIGTERM closes them and exits
 *
 * Every echo is compared byte for byte: a relay that loses or corrupts bytes
 * fails the run instead of producing a figure. Exit status: 0 when every
 * operation succeeded, 1 otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#define SIZE_MAX_MSG 65536      /* largest request of ping and connect */
#define COUNT_MAX 10000000      /* round trips or connections per run */
#define WARMUP 100              /* round trips not counted (ping) */
#define IO_TIMEOUT_S 10         /* a reply later than this is a failure */
#define HOLD_TIMEOUT_MS 120000  /* all connections echoed within this */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static long parse_num(const char *s, long lo, long hi, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "bench_rtt: %s: %s is not a number in [%ld, %ld]\n", what, s, lo,
			hi);
		exit(2);
	}
	return v;
}

static void addr_make(struct sockaddr_in *sa, const char *host, long port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
		fprintf(stderr, "bench_rtt: %s: not an IPv4 address\n", host);
		exit(2);
	}
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int nonblock(int fd)
{
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Open as many descriptors as the hard limit allows: a holder of 10,000
 * connections needs more than the usual 1,024. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- serve ---------------------------------------------------------------- */

/* Per descriptor: bytes read but not yet echoed (NULL when none: an echo of a
 * small message is written whole), and in message mode the part of the
 * current request received so far. */
struct pending {
	char *buf;
	size_t len;
	char *msg;
	size_t have;
};

struct server {
	int ep;
	size_t msg;            /* 0: echo each read; else answer whole requests */
	struct pending *pend;  /* indexed by descriptor */
};

static void serve_close(struct server *sv, int fd)
{
	struct pending *p = &sv->pend[fd];

	epoll_ctl(sv->ep, EPOLL_CTL_DEL, fd, NULL);
	free(p->buf);
	free(p->msg);
	memset(p, 0, sizeof(*p));
	close(fd);
}

/* Write data now, or queue it behind what is already queued and wait for
 * EPOLLOUT when the peer reads slowly. Returns -1 when fd must close. */
static int serve_send(struct server *sv, int fd, const char *data, size_t len)
{
	struct pending *p = &sv->pend[fd];
	struct epoll_event e = { .events = EPOLLOUT, .data.fd = fd };
	ssize_t w = 0;
	char *nb;

	if (!p->len) {
		w = write(fd, data, len);
		if (w < 0 && errno != EAGAIN)
			return -1;
		if (w < 0)
			w = 0;
		if ((size_t)w == len)
			return 0;
	}
	nb = realloc(p->buf, p->len + len - (size_t)w);
	if (!nb)
		return -1;
	memcpy(nb + p->len, data + w, len - (size_t)w);
	p->buf = nb;
	p->len += len - (size_t)w;
	epoll_ctl(sv->ep, EPOLL_CTL_MOD, fd, &e);
	return 0;
}

/* The echo of n bytes just read: as they are, or in message mode each whole
 * request of sv->msg bytes answered in two writes (its two halves), the way
 * a server writes a header and then a body. */
static int serve_answer(struct server *sv, int fd, const char *data, size_t n)
{
	struct pending *p = &sv->pend[fd];

	if (!sv->msg)
		return serve_send(sv, fd, data, n);
	if (!p->msg && !(p->msg = malloc(sv->msg)))
		return -1;
	while (n > 0) {
		size_t k = sv->msg - p->have < n ? sv->msg - p->have : n;

		memcpy(p->msg + p->have, data, k);
		p->have += k;
		data += k;
		n -= k;
		if (p->have < sv->msg)
			break;
		p->have = 0;
		if (serve_send(sv, fd, p->msg, sv->msg / 2) < 0 ||
		    serve_send(sv, fd, p->msg + sv->msg / 2, sv->msg - sv->msg / 2) < 0)
			return -1;
	}
	return 0;
}

static void serve_io(struct server *sv, int fd, uint32_t ev)
{
	static char buf[SIZE_MAX_MSG];
	struct epoll_event e = { .events = EPOLLIN, .data.fd = fd };
	struct pending *p = &sv->pend[fd];
	ssize_t n, w;

	if (p->len) {
		/* Stop reading until what is queued is written. */
		w = write(fd, p->buf, p->len);
		if (w < 0 && errno != EAGAIN) {
			serve_close(sv, fd);
			return;
		}
		if (w > 0) {
			memmove(p->buf, p->buf + w, p->len - (size_t)w);
			p->len -= (size_t)w;
		}
		if (p->len)
			return;
		free(p->buf);
		p->buf = NULL;
		epoll_ctl(sv->ep, EPOLL_CTL_MOD, fd, &e);
		return;
	}
	if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = read(fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		serve_close(sv, fd);
		return;
	}
	if (n > 0 && serve_answer(sv, fd, buf, (size_t)n) < 0)
		serve_close(sv, fd);
}

static int serve_main(int argc, char **argv)
{
	long port = argc > 0 ? parse_num(argv[0], 0, 65535, "port") : 0;
	struct server sv = {0};
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct epoll_event e, evs[256];
	struct rlimit rl;
	int lfd, ep, one = 1;
	int64_t emfile_until = 0;

	if (argc > 1)
		sv.msg = (size_t)parse_num(argv[1], 2, SIZE_MAX_MSG, "message size");
	raise_nofile();
	getrlimit(RLIMIT_NOFILE, &rl);
	sv.pend = calloc(rl.rlim_cur, sizeof(*sv.pend));
	addr_make(&sa, "127.0.0.1", port);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (!sv.pend || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, "serve: cannot listen on 127.0.0.1:%ld: %s\n", port,
			strerror(errno));
		return 1;
	}
	nonblock(lfd);
	ep = sv.ep = epoll_create1(0);
	e.events = EPOLLIN;
	e.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
	printf("serve: listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, emfile_until ? 100 : -1);

		if (emfile_until && now_ns() >= emfile_until) {
			/* Out of descriptors earlier: try accepting again. */
			emfile_until = 0;
			e.events = EPOLLIN;
			e.data.fd = lfd;
			epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd != lfd) {
				serve_io(&sv, fd, evs[i].events);
				continue;
			}
			for (;;) {
				int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

				if (c < 0) {
					if (errno == EMFILE || errno == ENFILE) {
						/* Stop polling the listener for 100 ms
						 * instead of spinning on it. */
						fprintf(stderr, "serve: accept: %s\n",
							strerror(errno));
						epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
						emfile_until = now_ns() + 100000000;
					}
					break;
				}
				nodelay(c);
				e.events = EPOLLIN;
				e.data.fd = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
			}
		}
	}
}

/* ---- ping and connect ------------------------------------------------------ */

static int connect_to(const struct sockaddr_in *sa)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		close(fd);
		return -1;
	}
	nodelay(fd);
	return fd;
}

/* Send size bytes of a pattern that changes with round, read the echo and
 * compare. Returns 0, or -1 with a reason on stderr. */
static int round_trip(int fd, long round, size_t size, int split)
{
	static char out[SIZE_MAX_MSG], in[SIZE_MAX_MSG];
	size_t got = 0, first = split ? size / 2 : size;

	memset(out, 'a' + (int)(round % 26), size);
	out[0] = (char)(round & 0xff);
	/* split: the request in two writes, as a header and a body would go. */
	if (write(fd, out, first) != (ssize_t)first ||
	    (first < size && write(fd, out + first, size - first) != (ssize_t)(size - first))) {
		fprintf(stderr, "bench_rtt: round %ld: write: %s\n", round, strerror(errno));
		return -1;
	}
	while (got < size) {
		ssize_t n = read(fd, in + got, size - got);

		if (n <= 0) {
			fprintf(stderr, "bench_rtt: round %ld: %s after %zu of %zu bytes\n", round,
				n == 0 ? "connection closed" : strerror(errno), got, size);
			return -1;
		}
		got += (size_t)n;
	}
	if (memcmp(in, out, size) != 0) {
		fprintf(stderr, "bench_rtt: round %ld: the echo differs from what was sent\n",
			round);
		return -1;
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile of sorted samples. */
static double pct_us(const int64_t *s, long n, double p)
{
	long i = (long)(p / 100.0 * (double)n + 0.999999) - 1;

	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return (double)s[i] / 1000.0;
}

static void report(const char *what, int64_t *s, long n, size_t size)
{
	double sum = 0;

	qsort(s, (size_t)n, sizeof(*s), cmp_i64);
	for (long i = 0; i < n; i++)
		sum += (double)s[i];
	printf("%s: n=%ld size=%zu p50_us=%.1f p99_us=%.1f min_us=%.1f mean_us=%.1f "
	       "max_us=%.1f\n", what, n, size, pct_us(s, n, 50), pct_us(s, n, 99),
	       (double)s[0] / 1000.0, sum / (double)n / 1000.0, (double)s[n - 1] / 1000.0);
}

static int ping_main(int argc, char **argv)
{
	struct sockaddr_in sa;
	long count;
	size_t size;
	int64_t *s;
	int fd, split = 0;

	if (argc == 5 && strcmp(argv[4], "split") == 0)
		split = 1;
	else if (argc != 4)
		return 2;
	addr_make(&sa, argv[0], parse_num(argv[1], 1, 65535, "port"));
	count = parse_num(argv[2], 1, COUNT_MAX, "count");
	size = (size_t)parse_num(argv[3], 1, SIZE_MAX_MSG, "size");
	s = malloc((size_t)count * sizeof(*s));
	fd = connect_to(&sa);
	if (!s || fd < 0) {
		fprintf(stderr, "bench_rtt: ping: cannot connect to %s:%s: %s\n", argv[0],
			argv[1], strerror(errno));
		return 1;
	}
	for (long i = 0; i < (split ? 2 : WARMUP); i++)
		if (round_trip(fd, i, size, split) < 0)
			return 1;
	for (long i = 0; i < count; i++) {
		int64_t t0 = now_ns();

		if (round_trip(fd, WARMUP + i, size, split) < 0)
			return 1;
		s[i] = now_ns() - t0;
	}
	close(fd);
	report(split ? "split" : "ping", s, count, size);
	free(s);
	return 0;
}

/* Each sample: socket, connect, one round trip, close. The pool of work
 * connections in burrowd decides most of it. */
static int connect_main(int argc, char **argv)
{
	struct sockaddr_in sa;
	long count;
	size_t size;
	int64_t *s;

	if (argc != 4)
		return 2;
	addr_make(&sa, argv[0], parse_num(argv[1], 1, 65535, "port"));
	count = parse_num(argv[2], 1, COUNT_MAX, "count");
	size = (size_t)parse_num(argv[3], 1, SIZE_MAX_MSG, "size");
	s = malloc((size_t)count * sizeof(*s));
	if (!s)
		return 1;
	for (long i = -10; i < count; i++) {   /* 10 not counted */
		int64_t t0 = now_ns();
		int fd = connect_to(&sa);

		if (fd < 0) {
			fprintf(stderr, "bench_rtt: connect %ld: %s\n", i, strerror(errno));
			return 1;
		}
		if (round_trip(fd, i + 10, size, 0) < 0)
			return 1;
		close(fd);
		if (i >= 0)
			s[i] = now_ns() - t0;
	}
	report("connect", s, count, size);
	free(s);
	return 0;
}

/* ---- hold ------------------------------------------------------------------ */

enum hold_state { H_FREE, H_CONNECTING, H_WAIT_ECHO, H_HELD, H_FAILED };

struct holder {
	struct sockaddr_in sa;
	int ep, sig;
	long count, par;
	int *fd;                 /* per connection */
	unsigned char *state;    /* enum hold_state, per connection */
	long next, busy, held, failed, round;
	long fail_refused, fail_closed, fail_wrong, fail_other;
};

static void hold_fail(struct holder *h, long i, int why)
{
	if (why == ECONNREFUSED)
		h->fail_refused++;
	else if (why == 0)
		h->fail_closed++;
	else if (why == -1)
		h->fail_wrong++;
	else
		h->fail_other++;
	epoll_ctl(h->ep, EPOLL_CTL_DEL, h->fd[i], NULL);
	close(h->fd[i]);
	h->fd[i] = -1;
	h->state[i] = H_FAILED;
	h->failed++;
	h->busy--;
}

/* Start connections until PAR are in progress. */
static void hold_fill(struct holder *h)
{
	while (h->busy < h->par && h->next < h->count) {
		long i = h->next++;
		struct epoll_event e = { .events = EPOLLOUT, .data.u64 = (uint64_t)i };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

		h->fd[i] = fd;
		if (fd < 0) {
			h->fail_other++;
			h->state[i] = H_FAILED;
			h->failed++;
			continue;
		}
		h->busy++;
		nodelay(fd);
		if (connect(fd, (struct sockaddr *)&h->sa, sizeof(h->sa)) < 0 &&
		    errno != EINPROGRESS) {
			hold_fail(h, i, errno);
			continue;
		}
		h->state[i] = H_CONNECTING;
		epoll_ctl(h->ep, EPOLL_CTL_ADD, fd, &e);
	}
}

static unsigned char hold_byte(long i, long round)
{
	return (unsigned char)((i * 7 + round) & 0xff);
}

static void hold_event(struct holder *h, long i, uint32_t ev)
{
	int fd = h->fd[i], err = 0;
	socklen_t el = sizeof(err);
	unsigned char b;
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
	ssize_t n;

	if (h->state[i] == H_CONNECTING) {
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			hold_fail(h, i, err);
			return;
		}
		b = hold_byte(i, h->round);
		if (write(fd, &b, 1) != 1) {
			hold_fail(h, i, errno);
			return;
		}
		h->state[i] = H_WAIT_ECHO;
		epoll_ctl(h->ep, EPOLL_CTL_MOD, fd, &e);
		return;
	}
	if (h->state[i] != H_WAIT_ECHO)
		return;
	n = read(fd, &b, 1);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		hold_fail(h, i, n == 0 ? 0 : errno);
		return;
	}
	if (b != hold_byte(i, h->round)) {
		hold_fail(h, i, -1);
		return;
	}
	/* Echoed: idle from now on, out of the poll set. */
	epoll_ctl(h->ep, EPOLL_CTL_DEL, fd, NULL);
	h->state[i] = H_HELD;
	h->held++;
	h->busy--;
}

/* Run the loop until every connection is held or failed; returns 1 when a
 * signal asked to stop, 0 otherwise. */
static int hold_run(struct holder *h, const char *what)
{
	struct epoll_event evs[256];
	int64_t t0 = now_ns();

	hold_fill(h);
	while (h->held + h->failed < h->count) {
		int n = epoll_wait(h->ep, evs, 256, 1000);

		if ((now_ns() - t0) / 1000000 > HOLD_TIMEOUT_MS) {
			printf("hold: %s: timeout: %ld held, %ld failed, %ld still waiting after "
			       "%d s\n", what, h->held, h->failed,
			       h->count - h->held - h->failed, HOLD_TIMEOUT_MS / 1000);
			fflush(stdout);
			return 0;
		}
		for (int k = 0; k < n; k++) {
			if (evs[k].data.u64 == UINT64_MAX)
				return 1;
			hold_event(h, (long)evs[k].data.u64, evs[k].events);
		}
		hold_fill(h);
	}
	printf("hold: %s: %ld/%ld echoed in %.0f ms (failed: %ld refused, %ld closed, "
	       "%ld wrong byte, %ld other)\n", what, h->held, h->count,
	       (double)(now_ns() - t0) / 1e6, h->fail_refused, h->fail_closed, h->fail_wrong,
	       h->fail_other);
	fflush(stdout);
	return 0;
}

/* Send one more byte on every held connection and wait for all echoes: the
 * connections are still relayed, not merely open. */
static void hold_verify(struct holder *h)
{
	h->round++;
	h->fail_refused = h->fail_closed = h->fail_wrong = h->fail_other = 0;
	h->held = 0;
	h->failed = 0;
	h->busy = 0;
	h->next = h->count; /* nothing new to open */
	for (long i = 0; i < h->count; i++) {
		struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
		unsigned char b = hold_byte(i, h->round);

		if (h->state[i] != H_HELD) {
			h->failed++;
			continue;
		}
		h->busy++;
		h->state[i] = H_WAIT_ECHO;
		epoll_ctl(h->ep, EPOLL_CTL_ADD, h->fd[i], &e);
		if (write(h->fd[i], &b, 1) != 1)
			hold_fail(h, i, errno);
	}
	hold_run(h, "verify");
}

static int hold_main(int argc, char **argv)
{
	struct holder h = {0};
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	struct signalfd_siginfo si;
	sigset_t ss;

	if (argc < 3 || argc > 4)
		return 2;
	raise_nofile();
	addr_make(&h.sa, argv[0], parse_num(argv[1], 1, 65535, "port"));
	h.count = parse_num(argv[2], 1, 1000000, "count");
	h.par = argc > 3 ? parse_num(argv[3], 1, 100000, "parallel") : 256;
	h.fd = calloc((size_t)h.count, sizeof(*h.fd));
	h.state = calloc((size_t)h.count, 1);
	if (!h.fd || !h.state)
		return 1;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGUSR1);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	h.sig = signalfd(-1, &ss, SFD_NONBLOCK);
	h.ep = epoll_create1(0);
	epoll_ctl(h.ep, EPOLL_CTL_ADD, h.sig, &e);
	if (hold_run(&h, "open"))
		goto out;
	for (;;) {
		struct epoll_event ev;

		if (epoll_wait(h.ep, &ev, 1, -1) <= 0)
			continue;
		if (read(h.sig, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGUSR1)
			break;
		hold_verify(&h);
	}
out:
	for (long i = 0; i < h.count; i++)
		if (h.state[i] == H_HELD || h.state[i] == H_WAIT_ECHO ||
		    h.state[i] == H_CONNECTING)
			close(h.fd[i]);
	printf("hold: closed\n");
	free(h.fd);
	free(h.state);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_rtt serve [PORT [MSG]]\n"
			"       bench_rtt ping HOST PORT COUNT SIZE [split]\n"
			"       bench_rtt connect HOST PORT COUNT SIZE\n"
			"       bench_rtt hold HOST PORT COUNT [PARALLEL]\n");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "serve", serve_main },
		{ "ping", ping_main },
		{ "connect", connect_main },
		{ "hold", hold_main },
	};

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			int rc = cmds[i].fn(argc - 2, argv + 2);

			if (rc == 2)
				usage();
			return rc;
		}
	}
	usage();
	return 2;
}
