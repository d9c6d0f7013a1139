/*
 * bw_lab_delayer: a userspace delay line for the netns lab.
 *
 * The lab's kernel has no netem, so delay, jitter and the reordering that
 * jitter causes are made here: an iptables NFQUEUE rule in a NAT router's
 * namespace hands every packet of one uplink direction to this program, which
 * holds only the packet id (the kernel keeps the packet, we ask for metadata
 * only, never the payload) and issues the ACCEPT verdict when the packet's
 * release time has come. Verdicts may be given in any order, so a packet whose
 * random jitter is smaller than its predecessor's overtakes it, as on a real
 * path with several routes; --keep-order forbids that.
 *
 * One process serves one queue (one direction of one uplink). It prints one
 * "ready" line on stdout once bound, so the lab adds the NFQUEUE rule only
 * when someone listens, and exits on SIGTERM/SIGINT after releasing every
 * held packet. Limits: at most --max packets held (default 65536, the kernel
 * queue is sized to match); a packet beyond that is dropped, like a full
 * router buffer, and counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#define DELAYER_MAX_HELD_DEFAULT 65536u
#define DELAYER_MAX_HELD_LIMIT (1u << 20)
#define DELAYER_MAX_DELAY_MS 10000u
#define DELAYER_RCVBUF (16u << 20)
#define DELAYER_BATCH 256 /* messages read between two release passes */

struct held {
	uint64_t release_ns;
	uint64_t seq; /* arrival order: breaks ties so equal times keep order */
	uint32_t id;
};

struct delayer {
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	struct held *heap; /* binary min-heap on (release_ns, seq) */
	size_t len, cap;
	uint64_t delay_ns, jitter_ns, last_release_ns, seq;
	uint64_t rng;
	int keep_order;
	uint64_t n_in, n_out, n_dropped;
	int error; /* first verdict error, reported at exit */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: jitter needs to be cheap and repeatable with --seed, not
 * cryptographic. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static int held_less(const struct held *a, const struct held *b)
{
	if (a->release_ns != b->release_ns)
		return a->release_ns < b->release_ns;
	return a->seq < b->seq;
}

static void heap_push(struct delayer *d, struct held item)
{
	size_t i = d->len++;

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!held_less(&item, &d->heap[parent]))
			break;
		d->heap[i] = d->heap[parent];
		i = parent;
	}
	d->heap[i] = item;
}

static struct held heap_pop(struct delayer *d)
{
	struct held top = d->heap[0];
	struct held last = d->heap[--d->len];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct held *best = &last;

		if (l < d->len && held_less(&d->heap[l], best)) {
			m = l;
			best = &d->heap[l];
		}
		if (r < d->len && held_less(&d->heap[r], best))
			m = r;
		if (m == i)
			break;
		d->heap[i] = d->heap[m];
		i = m;
	}
	if (d->len > 0)
		d->heap[i] = last;
	return top;
}

static void verdict(struct delayer *d, uint32_t id, uint32_t v)
{
	if (nfq_set_verdict(d->qh, id, v, 0, NULL) < 0 && d->error == 0)
		d->error = errno ? errno : EIO;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
		     struct nfq_data *nfad, void *data)
{
	struct delayer *d = data;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfad);
	struct held item;
	uint64_t t;

	(void)qh;
	(void)msg;
	if (ph == NULL)
		return 0;
	item.id = ntohl(ph->packet_id);
	d->n_in++;
	if (d->len == d->cap) {
		d->n_dropped++;
		verdict(d, item.id, NF_DROP);
		return 0;
	}
	t = now_ns() + d->delay_ns;
	if (d->jitter_ns > 0) {
		/* uniform in [delay - jitter, delay + jitter], never negative */
		uint64_t span = 2 * d->jitter_ns + 1;
		uint64_t off = rng_next(&d->rng) % span;

		t = t + off >= d->jitter_ns ? t + off - d->jitter_ns : 0;
	}
	if (d->keep_order && t < d->last_release_ns)
		t = d->last_release_ns;
	d->last_release_ns = t;
	item.release_ns = t;
	item.seq = d->seq++;
	heap_push(d, item);
	return 0;
}

static void release_due(struct delayer *d, uint64_t now)
{
	while (d->len > 0 && d->heap[0].release_ns <= now) {
		struct held item = heap_pop(d);

		verdict(d, item.id, NF_ACCEPT);
		d->n_out++;
	}
}

/* Reads up to DELAYER_BATCH messages without blocking, so that a flood of
 * arrivals cannot hold back the release of packets already due. */
static int drain_socket(struct delayer *d, int fd, char *buf, size_t buflen)
{
	int i;

	for (i = 0; i < DELAYER_BATCH; i++) {
		ssize_t n = recv(fd, buf, buflen, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR || errno == ENOBUFS)
				continue; /* ENOBUFS: the kernel dropped those packets itself */
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		nfq_handle_packet(d->h, buf, (int)n);
	}
	return 0;
}

/* SIGTERM and SIGINT are blocked except inside ppoll, so a stop request
 * cannot slip in between the check and the wait. */
static int run(struct delayer *d, const sigset_t *waitmask)
{
	static char buf[65536] __attribute__((aligned(8)));
	int fd = nfq_fd(d->h);
	int rc = 0;

	while (!stop_requested) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		int n;

		if (d->len > 0) {
			uint64_t now = now_ns(), due = d->heap[0].release_ns;
			uint64_t wait = due > now ? due - now : 0;

			ts.tv_sec = (time_t)(wait / 1000000000u);
			ts.tv_nsec = (long)(wait % 1000000000u);
			tsp = &ts;
		}
		n = ppoll(&pfd, 1, tsp, waitmask);
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (n > 0 && (pfd.revents & POLLIN)) {
			rc = drain_socket(d, fd, buf, sizeof(buf));
			if (rc < 0)
				break;
		}
		release_due(d, now_ns());
	}
	release_due(d, UINT64_MAX); /* never strand a packet on exit */
	return rc;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bw_lab_delayer --queue N --delay-ms D [--jitter-ms J] [--keep-order]\n"
		   "                      [--max PACKETS] [--seed S]\n");
}

static int setup(struct delayer *d, unsigned long queue, unsigned long max_held)
{
	int one = 1;

	d->h = nfq_open();
	if (d->h == NULL)
		return -1;
	d->qh = nfq_create_queue(d->h, (uint16_t)queue, on_packet, d);
	if (d->qh == NULL)
		return -1;
	if (nfq_set_mode(d->qh, NFQNL_COPY_META, 0) < 0)
		return -1;
	if (nfq_set_queue_maxlen(d->qh, (uint32_t)max_held) < 0)
		return -1;
	nfnl_rcvbufsiz(nfq_nfnlh(d->h), DELAYER_RCVBUF);
	/* Without this a full socket makes recv fail with ENOBUFS; the kernel has
	 * already dropped the packet, so the error carries no information. */
	setsockopt(nfq_fd(d->h), SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "jitter-ms", required_argument, NULL, 'j' },
		{ "keep-order", no_argument, NULL, 'k' },
		{ "max", required_argument, NULL, 'm' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct delayer d;
	unsigned long queue = 0, delay = 0, jitter = 0, max_held = DELAYER_MAX_HELD_DEFAULT;
	unsigned long seed = 0;
	int have_queue = 0, c, rc;
	struct sigaction sa;
	sigset_t stopsigs, waitmask;

	memset(&d, 0, sizeof(d));
	while ((c = getopt_long(argc, argv, "q:d:j:km:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (parse_uint(optarg, 65535, &queue) < 0)
				goto bad;
			have_queue = 1;
			break;
		case 'd':
			if (parse_uint(optarg, DELAYER_MAX_DELAY_MS, &delay) < 0)
				goto bad;
			break;
		case 'j':
			if (parse_uint(optarg, DELAYER_MAX_DELAY_MS, &jitter) < 0)
				goto bad;
			break;
		case 'k':
			d.keep_order = 1;
			break;
		case 'm':
			if (parse_uint(optarg, DELAYER_MAX_HELD_LIMIT, &max_held) < 0 || max_held == 0)
				goto bad;
			break;
		case 's':
			if (parse_uint(optarg, ULONG_MAX, &seed) < 0)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (!have_queue || optind != argc)
		goto bad;

	d.delay_ns = (uint64_t)delay * 1000000u;
	d.jitter_ns = (uint64_t)jitter * 1000000u;
	d.rng = seed ? seed : (now_ns() ^ ((uint64_t)getpid() << 32)) | 1;
	d.cap = max_held;
	d.heap = calloc(d.cap, sizeof(*d.heap));
	if (d.heap == NULL) {
		fprintf(stderr, "bw_lab_delayer: out of memory\n");
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigprocmask(SIG_BLOCK, &stopsigs, &waitmask);

	if (setup(&d, queue, max_held) < 0) {
		fprintf(stderr, "bw_lab_delayer: queue %lu: cannot bind: %s\n", queue,
			strerror(errno ? errno : EIO));
		rc = 1;
		goto out;
	}
	printf("bw_lab_delayer: queue %lu ready (delay %lu ms, jitter %lu ms%s)\n", queue, delay,
	       jitter, d.keep_order ? ", order kept" : "");
	fflush(stdout);

	rc = run(&d, &waitmask);
	fprintf(stderr, "bw_lab_delayer: queue %lu: %llu in, %llu out, %llu dropped (full)%s%s\n",
		queue, (unsigned long long)d.n_in, (unsigned long long)d.n_out,
		(unsigned long long)d.n_dropped, rc < 0 ? ", error: " : "",
		rc < 0 ? strerror(-rc) : "");
	if (d.error != 0)
		fprintf(stderr, "bw_lab_delayer: queue %lu: verdict failed: %s\n", queue,
			strerror(d.error));
	rc = rc < 0 ? 1 : 0;
out:
	if (d.qh != NULL)
		nfq_destroy_queue(d.qh);
	if (d.h != NULL)
		nfq_close(d.h);
	free(d.heap);
	return rc;

bad:
	usage(stderr);
	return 2;
}
