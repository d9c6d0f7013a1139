/*
 * The tools inside test_peer_ice (included once, by test_peer_ice.c):
 *
 * bench: A->B datagrams through peer/ice.h on loopback, sent by the libevent
 * thread either one call per datagram (peer_ice_send) or in batches
 * (peer_ice_sendv, sendmmsg), with at most WINDOW datagrams outstanding (a
 * transport's congestion window, so that the figure is the sustained rate
 * and not the loss of an overrun socket buffer); beside the same over two
 * plain UDP sockets, a receiver thread on recvmmsg (the ceiling of the
 * kernel path on this machine). Medians of REPEAT runs.
 *
 * probe: one agent talking to a peer probe through two FIFOs, for the lab.
 */
#define BENCH_WINDOW 512
#define BENCH_REPEAT 5
#define SOCKBUF_BENCH (4 << 20)

struct bench {
	struct event_base *base;
	struct peer_ice_glib *g;
	struct peer_ice *ice[2];
	char ufrag[2][PEER_ICE_UFRAG_MAX + 1], pwd[2][PEER_ICE_PWD_MAX + 1];
	unsigned selected;
	struct sockaddr_storage remote;  /* of A's selected pair */
	bool vec;
	size_t size, batch;
	uint64_t n, sent, recv, written_off, last_recv;
	struct event *pump, *stall;
	int64_t t_end_us;
};

struct bench_arg {
	struct bench *b;
	int idx;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void b_candidate(void *arg, const char *line)
{
	struct bench_arg *ba = arg;

	peer_ice_add_remote(ba->b->ice[1 - ba->idx], line);
}

static void b_gathered(void *arg)
{
	struct bench_arg *ba = arg;

	peer_ice_remote_done(ba->b->ice[1 - ba->idx]);
}

static void b_selected(void *arg, const struct peer_ice_pair *pair)
{
	struct bench_arg *ba = arg;

	ba->b->selected++;
	if (ba->idx == 0)
		ba->b->remote = pair->remote;
}

static void b_failed(void *arg, int rc, const char *why)
{
	fprintf(stderr, "bench: failed: %s\n", why);
	exit(1);
}

static void b_recv(void *arg, const uint8_t *pkt, size_t len)
{
	struct bench_arg *ba = arg;
	struct bench *b = ba->b;

	b->recv++;
	if (b->written_off && b->recv + b->written_off > b->sent)
		b->written_off--;      /* late, not lost */
	if (!b->pump)
		return;   /* send_cost: count only */
	if (b->recv + b->written_off >= b->n) {
		b->t_end_us = now_us();
		event_base_loopbreak(b->base);
	} else if (!event_pending(b->pump, EV_TIMEOUT, NULL)) {
		event_active(b->pump, EV_TIMEOUT, 0);
	}
}

static void b_pump(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	static uint8_t buf[64][PEER_ICE_DGRAM_MAX];
	struct iovec v[64];
	uint64_t inflight = b->sent - b->recv - b->written_off;

	while (b->sent < b->n && inflight < BENCH_WINDOW) {
		size_t k = b->batch;
		int rc;

		if (k > b->n - b->sent)
			k = b->n - b->sent;
		if (k > BENCH_WINDOW - inflight)
			k = BENCH_WINDOW - inflight;
		if (b->vec) {
			for (size_t i = 0; i < k; i++) {
				memcpy(buf[i], &b->sent, sizeof(b->sent));
				v[i].iov_base = buf[i];
				v[i].iov_len = b->size;
			}
			rc = peer_ice_sendv(b->ice[0], v, k);
			if (rc <= 0)
				break;
			b->sent += (uint64_t)rc;
			inflight += (uint64_t)rc;
		} else {
			for (size_t i = 0; i < k; i++) {
				memcpy(buf[0], &b->sent, sizeof(b->sent));
				if (peer_ice_send(b->ice[0], buf[0], b->size) != 0)
					return;
				b->sent++;
				inflight++;
			}
		}
		/* One batch per loop turn, so deliveries interleave. */
		event_active(b->pump, EV_TIMEOUT, 0);
		return;
	}
}

/* No progress for 50 ms: what is outstanding was lost. */
static void b_stall(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	if (b->recv == b->last_recv && b->sent > b->recv + b->written_off) {
		b->written_off = b->sent - b->recv;
		if (b->recv + b->written_off >= b->n) {
			b->t_end_us = now_us();
			event_base_loopbreak(b->base);
			return;
		}
		event_active(b->pump, EV_TIMEOUT, 0);
	}
	b->last_recv = b->recv;
}

/* ns per datagram spent in the sending call alone: libnice's send path
 * (agent lock, lookups, then sendmsg / sendmmsg on the selected socket)
 * against the same system calls on a plain socket. The receiver is left to
 * drop what it cannot take. */
static void send_cost(size_t size)
{
	static const struct peer_ice_cbs bcbs = {
		.candidate = b_candidate, .gathering_done = b_gathered,
		.selected = b_selected, .failed = b_failed, .recv = b_recv,
	};
	struct bench b = { .n = UINT64_MAX, .size = size };
	struct bench_arg args[2] = { { &b, 0 }, { &b, 1 } };
	static uint8_t buf[32][PEER_ICE_DGRAM_MAX];
	struct iovec v[32];
	struct mmsghdr m[32];
	const int rounds = 100000;
	double ns[4];
	int rc, fd;

	b.base = event_base_new();
	b.g = peer_ice_glib_new(b.base, &rc);
	for (int i = 0; i < 2; i++) {
		struct peer_ice_conf c = conf_lo(i == 0);

		b.ice[i] = peer_ice_new(b.g, &c, &bcbs, &args[i], &rc);
		peer_ice_local_credentials(b.ice[i], b.ufrag[i], b.pwd[i]);
	}
	for (int i = 0; i < 2; i++)
		peer_ice_start(b.ice[i], b.ufrag[1 - i], b.pwd[1 - i]);
	while (b.selected < 2)
		event_base_loop(b.base, EVLOOP_ONCE);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	connect(fd, (struct sockaddr *)&b.remote, sizeof(struct sockaddr_in));
	for (int i = 0; i < 32; i++) {
		v[i].iov_base = buf[i];
		v[i].iov_len = size;
		memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
		m[i].msg_hdr.msg_iov = &v[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	for (int k = 0; k < 4; k++) {
		int64_t t0 = now_us();

		for (int i = 0; i < rounds; i += (k & 1) ? 32 : 1) {
			switch (k) {
			case 0: peer_ice_send(b.ice[0], buf[0], size); break;
			case 1: peer_ice_sendv(b.ice[0], v, 32); break;
			case 2: if (send(fd, buf[0], size, 0) < 0) i = rounds; break;
			case 3: if (sendmmsg(fd, m, 32, 0) < 0) i = rounds; break;
			}
		}
		ns[k] = (double)(now_us() - t0) * 1000 / rounds;
		event_base_loop(b.base, EVLOOP_NONBLOCK);
	}
	printf("send call cost per datagram: peer_ice_send %.0f ns, send() %.0f ns; "
	       "peer_ice_sendv(32) %.0f ns, sendmmsg(32) %.0f ns\n", ns[0], ns[2], ns[1], ns[3]);
	close(fd);
	for (int i = 0; i < 2; i++)
		peer_ice_free(b.ice[i]);
	peer_ice_glib_free(b.g);
	event_base_free(b.base);
}

struct bench_result {
	double pps, mbps, loss, cpu_per_gbit;
	double us_loop, us_glib;   /* CPU per datagram: event loop thread, GLib thread */
};

/* CPU seconds of this thread, and of the thread named bw-ice-glib. */
static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double glib_cpu_s(void)
{
	char path[300], comm[64], buf[1024];
	double total = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");

		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f) || strncmp(comm, "bw-ice-glib", 11) != 0) {
			fclose(f);
			continue;
		}
		fclose(f);
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (f && fgets(buf, sizeof(buf), f)) {
			unsigned long ut, st;
			char *p = strrchr(buf, ')');

			if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
					&ut, &st) == 2)
				total += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

static int bench_ice(uint64_t n, size_t size, size_t batch, bool vec, struct bench_result *r)
{
	static const struct peer_ice_cbs bcbs = {
		.candidate = b_candidate, .gathering_done = b_gathered,
		.selected = b_selected, .failed = b_failed, .recv = b_recv,
	};
	struct bench b = { .n = n, .size = size, .batch = batch, .vec = vec };
	struct bench_arg args[2] = { { &b, 0 }, { &b, 1 } };
	struct timeval tv = { 0, 50000 };
	int rc;

	b.base = event_base_new();
	b.g = peer_ice_glib_new(b.base, &rc);
	if (!b.g)
		return rc;
	for (int i = 0; i < 2; i++) {
		struct peer_ice_conf c = conf_lo(i == 0);

		b.ice[i] = peer_ice_new(b.g, &c, &bcbs, &args[i], &rc);
		if (!b.ice[i])
			return rc;
		peer_ice_local_credentials(b.ice[i], b.ufrag[i], b.pwd[i]);
	}
	for (int i = 0; i < 2; i++)
		peer_ice_start(b.ice[i], b.ufrag[1 - i], b.pwd[1 - i]);
	while (b.selected < 2)
		event_base_loop(b.base, EVLOOP_ONCE);
	b.pump = event_new(b.base, -1, 0, b_pump, &b);
	b.stall = event_new(b.base, -1, EV_PERSIST, b_stall, &b);
	event_add(b.stall, &tv);

	double c0 = cpu_s(), l0 = thread_cpu_s(), g0 = glib_cpu_s();
	int64_t t0 = now_us();

	event_active(b.pump, EV_TIMEOUT, 0);
	event_base_dispatch(b.base);
	double secs = (double)(b.t_end_us - t0) / 1e6, cpu = cpu_s() - c0;

	r->us_loop = (thread_cpu_s() - l0) * 1e6 / (double)b.recv;
	r->us_glib = (glib_cpu_s() - g0) * 1e6 / (double)b.recv;

	r->pps = (double)b.recv / secs;
	r->mbps = r->pps * (double)size * 8 / 1e6;
	r->loss = (double)b.written_off / (double)n;
	r->cpu_per_gbit = cpu / secs / (r->mbps / 1000);
	event_free(b.pump);
	event_free(b.stall);
	for (int i = 0; i < 2; i++)
		peer_ice_free(b.ice[i]);
	peer_ice_glib_free(b.g);
	event_base_free(b.base);
	return 0;
}

/* The baseline: kernel UDP on loopback, sendmmsg from this thread, recvmmsg
 * on a second one, the same window. */
struct raw_rx {
	int fd;
	uint64_t n;
	_Atomic uint64_t recv;
	uint8_t sink[PEER_ICE_DGRAM_MAX];
};

static void *raw_rx_main(void *arg)
{
	struct raw_rx *rx = arg;
	static uint8_t bufs[64][2048];
	struct mmsghdr m[64];
	struct iovec v[64];

	for (int i = 0; i < 64; i++) {
		v[i].iov_base = bufs[i];
		v[i].iov_len = sizeof(bufs[i]);
		memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
		m[i].msg_hdr.msg_iov = &v[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	while (atomic_load(&rx->recv) < rx->n) {
		int k = recvmmsg(rx->fd, m, 64, 0, NULL);

		for (int i = 0; i < k; i++)   /* one copy, as the hand-off does */
			memcpy(rx->sink, bufs[i], m[i].msg_len < sizeof(rx->sink) ?
			       m[i].msg_len : sizeof(rx->sink));
		if (k > 0)
			atomic_fetch_add(&rx->recv, (uint64_t)k);
	}
	return NULL;
}

static int bench_raw(uint64_t n, size_t size, size_t batch, struct bench_result *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct raw_rx rx = { .n = n };
	static uint8_t buf[64][PEER_ICE_DGRAM_MAX];
	struct mmsghdr m[64];
	struct iovec v[64];
	struct timeval to = { 0, 50000 };
	int sfd, big = SOCKBUF_BENCH;
	uint64_t sent = 0, written_off = 0, last = 0;
	int64_t last_progress;
	pthread_t t;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rx.fd = socket(AF_INET, SOCK_DGRAM, 0);
	sfd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(rx.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(rx.fd, SOL_SOCKET, SO_RCVTIMEO, &to, sizeof(to));
	if (bind(rx.fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(rx.fd, (struct sockaddr *)&a, &alen) != 0 ||
	    connect(sfd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return -errno;
	for (int i = 0; i < 64; i++) {
		v[i].iov_base = buf[i];
		v[i].iov_len = size;
		memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
		m[i].msg_hdr.msg_iov = &v[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	pthread_create(&t, NULL, raw_rx_main, &rx);

	double c0 = cpu_s();
	int64_t t0 = now_us();

	last_progress = t0;
	while (atomic_load(&rx.recv) + written_off < n) {
		uint64_t got = atomic_load(&rx.recv);
		uint64_t inflight;

		if (got + written_off > sent)
			written_off = sent - got;   /* late, not lost */
		inflight = sent - got - written_off;
		size_t k = batch;

		if (got != last) {
			last = got;
			last_progress = now_us();
		} else if (now_us() - last_progress > 50000 && sent > got + written_off) {
			written_off = sent - got;
			last_progress = now_us();
		}
		if (sent >= n || inflight >= BENCH_WINDOW) {
			sched_yield();
			continue;
		}
		if (k > n - sent)
			k = n - sent;
		if (k > BENCH_WINDOW - inflight)
			k = BENCH_WINDOW - inflight;
		int s = sendmmsg(sfd, m, (unsigned)k, 0);

		if (s > 0)
			sent += (uint64_t)s;
	}
	int64_t t1 = now_us();
	double cpu = cpu_s() - c0, secs = (double)(t1 - t0) / 1e6;

	atomic_store(&rx.recv, n);   /* let the receiver leave at its next timeout */
	pthread_join(t, NULL);
	close(sfd);
	close(rx.fd);
	r->pps = (double)(n - written_off) / secs;
	r->mbps = r->pps * (double)size * 8 / 1e6;
	r->loss = (double)written_off / (double)n;
	r->cpu_per_gbit = cpu / secs / (r->mbps / 1000);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, struct bench_result *rs, int k)
{
	double pps[BENCH_REPEAT], mbps[BENCH_REPEAT], loss[BENCH_REPEAT], cpu[BENCH_REPEAT];
	double ul[BENCH_REPEAT], ug[BENCH_REPEAT];

	for (int i = 0; i < k; i++) {
		ul[i] = rs[i].us_loop;
		ug[i] = rs[i].us_glib;
		pps[i] = rs[i].pps;
		mbps[i] = rs[i].mbps;
		loss[i] = rs[i].loss;
		cpu[i] = rs[i].cpu_per_gbit;
	}
	qsort(pps, (size_t)k, sizeof(double), cmp_double);
	qsort(mbps, (size_t)k, sizeof(double), cmp_double);
	qsort(loss, (size_t)k, sizeof(double), cmp_double);
	qsort(cpu, (size_t)k, sizeof(double), cmp_double);
	qsort(ul, (size_t)k, sizeof(double), cmp_double);
	qsort(ug, (size_t)k, sizeof(double), cmp_double);
	printf("%-22s median %8.0f datagrams/s %7.0f Mbit/s  loss %.3f%%  %.2f CPU-s per Gbit"
	       "  (Mbit/s min %.0f max %.0f)", name, pps[k / 2], mbps[k / 2],
	       loss[k / 2] * 100, cpu[k / 2], mbps[0], mbps[k - 1]);
	if (ul[k / 2] > 0)
		printf("  CPU us/datagram: event loop thread %.2f", ul[k / 2]);
	if (ug[k / 2] > 0)
		printf(", GLib thread %.2f", ug[k / 2]);
	printf("\n");
}

int bench_main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 300000;
	size_t size = argc > 2 ? strtoul(argv[2], NULL, 10) : PKT;
	size_t batch = argc > 3 ? strtoul(argv[3], NULL, 10) : 32;
	struct bench_result raw[BENCH_REPEAT], one[BENCH_REPEAT], vec[BENCH_REPEAT];

	if (n == 0 || size < 8 || size > PEER_ICE_DGRAM_MAX || batch == 0 || batch > 64) {
		fprintf(stderr, "usage: test_peer_ice bench [N [SIZE [BATCH<=64]]]\n");
		return 2;
	}
	printf("%llu datagrams of %zu bytes A->B on loopback, window %d, batch %zu, "
	       "%d runs interleaved\n", (unsigned long long)n, size, BENCH_WINDOW, batch,
	       BENCH_REPEAT);
	for (int i = 0; i < BENCH_REPEAT; i++) {
		if (bench_raw(n, size, batch, &raw[i]) || bench_ice(n, size, batch, false, &one[i]) ||
		    bench_ice(n, size, batch, true, &vec[i]))
			return 1;
	}
	report("raw UDP (recvmmsg)", raw, BENCH_REPEAT);
	report("peer_ice_send", one, BENCH_REPEAT);
	report("peer_ice_sendv", vec, BENCH_REPEAT);
	send_cost(size);
	return 0;
}

/*
 * probe
 */
struct probe {
	struct event_base *base;
	struct peer_ice_glib *g;
	struct peer_ice *ice;
	FILE *out;
	struct evbuffer *inbuf;
	struct event *in_ev, *send_ev, *deadline;
	unsigned count, sent, recv;
	bool selected;
	int status;
	int64_t sent_done_ms;
};

static void p_candidate(void *arg, const char *line)
{
	struct probe *p = arg;

	printf("local %s\n", line);
	fprintf(p->out, "cand %s\n", line);
}

static void p_gathered(void *arg)
{
	struct probe *p = arg;

	printf("gathered\n");
	fprintf(p->out, "gathered\n");
}

static void p_finish(struct probe *p, int status)
{
	p->status = status;
	event_base_loopbreak(p->base);
}

static void p_selected(void *arg, const struct peer_ice_pair *pair)
{
	struct probe *p = arg;
	char l[BW_ADDR_STRLEN], r[BW_ADDR_STRLEN];
	struct timeval tv = { 0, 5000 };

	bw_addr_format((const struct sockaddr *)&pair->local, l, sizeof(l));
	bw_addr_format((const struct sockaddr *)&pair->remote, r, sizeof(r));
	printf("selected %s %s %s %s %lld\n", l, peer_ice_type_name(pair->local_type), r,
	       peer_ice_type_name(pair->remote_type), (long long)pair->elapsed_ms);
	if (!p->selected)
		event_add(p->send_ev, &tv);
	p->selected = true;
}

static void p_failed(void *arg, int rc, const char *why)
{
	struct probe *p = arg;

	printf("failed %s: %s\n", bw_errname(rc) ? bw_errname(rc) : "errno", why);
	p_finish(p, 2);
}

static void p_check_done(struct probe *p)
{
	if (p->sent == p->count && p->recv >= p->count) {
		printf("recv %u\n", p->recv);
		p_finish(p, 0);
	}
}

static void p_recv(void *arg, const uint8_t *pkt, size_t len)
{
	struct probe *p = arg;

	p->recv++;
	p_check_done(p);
}

static void p_send(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	uint8_t buf[PKT] = { 0 };

	if (p->sent < p->count && peer_ice_send(p->ice, buf, sizeof(buf)) == 0)
		p->sent++;
	if (p->sent < p->count) {
		struct timeval tv = { 0, 5000 };

		event_add(p->send_ev, &tv);
		return;
	}
	if (!p->sent_done_ms)
		p->sent_done_ms = bw_now_ms();
	p_check_done(p);
	if (p->status < 0) {
		/* The peer may still be sending: linger, then report what came. */
		struct timeval tv = { 0, 100000 };

		if (bw_now_ms() - p->sent_done_ms > 3000) {
			printf("recv %u\n", p->recv);
			p_finish(p, p->recv * 10 >= p->count * 9 ? 0 : 1);
			return;
		}
		event_add(p->send_ev, &tv);
	}
}

static void p_input(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	char *line;
	size_t len;

	if (evbuffer_read(p->inbuf, fd, 4096) <= 0)
		return;
	while ((line = evbuffer_readln(p->inbuf, &len, EVBUFFER_EOL_LF))) {
		char u[PEER_ICE_UFRAG_MAX + 1], w[PEER_ICE_PWD_MAX + 1];
		int rc = 0;

		if (strncmp(line, "cred ", 5) == 0 && sscanf(line + 5, "%256s %256s", u, w) == 2)
			rc = peer_ice_start(p->ice, u, w);
		else if (strncmp(line, "cand ", 5) == 0)
			rc = peer_ice_add_remote(p->ice, line + 5);
		else if (strcmp(line, "gathered") == 0)
			rc = peer_ice_remote_done(p->ice);
		printf("remote %s -> %s\n", line, rc ? bw_strerror(rc) : "ok");
		free(line);
	}
}

static void p_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	printf("timeout (selected %d, sent %u, recv %u)\n", p->selected, p->sent, p->recv);
	p_finish(p, 3);
}

int probe_main(int argc, char **argv)
{
	static const struct peer_ice_cbs pcbs = {
		.candidate = p_candidate, .gathering_done = p_gathered,
		.selected = p_selected, .failed = p_failed, .recv = p_recv,
	};
	struct probe p = { .count = 100, .status = -1 };
	struct peer_ice_conf c = { 0 };
	const char *in = NULL, *out = NULL;
	const char *locals[2] = { NULL, NULL };
	char u[PEER_ICE_UFRAG_MAX + 1], w[PEER_ICE_PWD_MAX + 1];
	struct timeval dl;
	int rc, in_fd, out_fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);   /* the peer probe may be gone first */
	c.check_timeout_ms = 10000;
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			goto usage;
		if (strcmp(argv[i], "--role") == 0)
			c.controlling = strcmp(v, "controlling") == 0;
		else if (strcmp(argv[i], "--in") == 0)
			in = v;
		else if (strcmp(argv[i], "--out") == 0)
			out = v;
		else if (strcmp(argv[i], "--stun") == 0) {
			if (bw_addr_parse(v, &c.stun) < 0)
				goto usage;
		} else if (strcmp(argv[i], "--local") == 0) {
			locals[0] = v;
			c.local_addrs = locals;
		} else if (strcmp(argv[i], "--timeout") == 0)
			c.check_timeout_ms = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(argv[i], "--count") == 0)
			p.count = (unsigned)strtoul(v, NULL, 10);
		else
			goto usage;
	}
	if (!in || !out)
		goto usage;
	/* The read end first and without blocking, so two probes opening each
	 * other's FIFOs cannot wait for each other. */
	in_fd = open(in, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	out_fd = in_fd < 0 ? -1 : open(out, O_WRONLY | O_CLOEXEC);
	if (in_fd < 0 || out_fd < 0) {
		perror("probe: open");
		return 1;
	}
	p.out = fdopen(out_fd, "w");
	setvbuf(p.out, NULL, _IOLBF, 0);
	p.base = event_base_new();
	p.g = peer_ice_glib_new(p.base, &rc);
	p.ice = p.g ? peer_ice_new(p.g, &c, &pcbs, &p, &rc) : NULL;
	if (!p.ice) {
		printf("failed to start: %s\n", bw_strerror(rc));
		return 1;
	}
	p.inbuf = evbuffer_new();
	p.in_ev = event_new(p.base, in_fd, EV_READ | EV_PERSIST, p_input, &p);
	p.send_ev = evtimer_new(p.base, p_send, &p);
	p.deadline = evtimer_new(p.base, p_deadline, &p);
	event_add(p.in_ev, NULL);
	dl.tv_sec = c.check_timeout_ms / 1000 + 15;
	dl.tv_usec = 0;
	event_add(p.deadline, &dl);
	peer_ice_local_credentials(p.ice, u, w);
	fprintf(p.out, "cred %s %s\n", u, w);
	printf("role %s\n", c.controlling ? "controlling" : "controlled");
	peer_ice_gather(p.ice);
	event_base_dispatch(p.base);
	printf("exit %d\n", p.status);

	peer_ice_free(p.ice);
	peer_ice_glib_free(p.g);
	event_free(p.in_ev);
	event_free(p.send_ev);
	event_free(p.deadline);
	evbuffer_free(p.inbuf);
	event_base_free(p.base);
	fclose(p.out);
	close(in_fd);
	return p.status < 0 ? 3 : p.status;
usage:
	fprintf(stderr, "usage: test_peer_ice probe --role controlling|controlled --in FIFO "
		"--out FIFO [--stun IP:PORT] [--local IP] [--timeout MS] [--count N]\n");
	return 2;
}
