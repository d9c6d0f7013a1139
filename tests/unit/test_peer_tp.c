/*
 * Conformance of every stream transport engine (peer/tp.h): two engines
 * joined by an in-memory link (delay, jitter that reorders, random loss from
 * a fixed seed) with a virtual clock. Nothing sleeps: time jumps to the
 * earliest of the next packet's arrival and the engines' deadlines. Runs
 * repeat exactly but for the libraries' own random numbers (SCTP's tags and
 * heartbeat jitter, QUIC's connection ids).
 *
 * Cases: the association comes up; 0 B, 1 B, 64 KiB and 4 MiB each way on
 * one stream; eight streams at once, opened by both sides; half-close;
 * reset by either side, then a new stream; a reader that never reads stalls
 * only its stream; 1 % and 5 % loss with reordering; the idle timeout when
 * the peer vanishes or never answers. Every case ends with everything freed
 * (ASan/LSan) and no packet above the MTU.
 *
 * Every stream direction carries a pattern: 4 bytes naming the pattern's
 * seed, then bytes that depend on the seed and the offset, so a byte lost,
 * repeated, reordered or crossed from another stream is caught.
 *
 * Every engine must be there: quic is burrow's, and this test links the
 * prototypes (bw_peer_tp_proto).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "peer/tp.h"

#define MTU 1350
#define MAX_JOBS 32
#define CHUNK 65536

struct pkt {
	struct pkt *next, *prev;
	uint64_t at;
	size_t len;
	uint8_t data[];
};

struct job {
	bool used;
	int side;
	uint64_t id;
	/* sending */
	uint64_t tx_total, tx_off;
	uint32_t tx_seed;
	bool shut;
	bool reply_after_eof;          /* half-close: send only after EOF */
	/* receiving */
	uint64_t rx_got, rx_expect;
	uint32_t rx_seed;
	uint8_t seed_bytes[4];
	bool eof, no_read, readable_seen;
	int bad;                       /* pattern mismatches */
	/* end */
	bool closed;
	int closed_rc;
};

struct harness;

struct side {
	struct harness *h;
	int idx;
	struct peer_tp *tp;
	bool gone;                     /* vanished: never called again */
	int ready_calls, ready_rc;
	bool ready;
};

struct harness {
	const struct peer_tp_ops *ops;
	uint64_t now;
	struct side s[2];
	struct pkt *head[2], *tail[2]; /* towards side i, by arrival time */
	unsigned loss_ppm;             /* per million */
	uint64_t delay_us, jitter_us;
	uint64_t rng;
	bool cut;                      /* drop everything */
	uint64_t mtu_violations, pkts;
	struct job jobs[MAX_JOBS];
	/* what an accepted stream does */
	uint64_t accept_tx, accept_rx;
	bool accept_after_eof, accept_no_read, accept_reset;
	uint32_t next_seed;
};

static const struct peer_tp_ops *ops;   /* the engine under test */
static uint64_t vclock = 1000000;       /* virtual time only moves forward */
static const uint64_t *vnow;            /* the running harness's clock */

/*
 * The engines get the time with every call, but the libraries under them
 * also read clocks of their own. libnice's PseudoTcp reads CLOCK_MONOTONIC
 * (g_get_monotonic_time; peer/tp.h's clock too, so the two agree in real
 * use). usrsctp reads the wall clock (gettimeofday) beside the ticks it is
 * given: to measure RTTs and, on a T3 timeout, to pick the chunks
 * "outstanding for longer than the RTO"; under a virtual clock nothing
 * would ever be old enough and a lost chunk would never be sent again. This
 * executable's gettimeofday and clock_gettime(CLOCK_MONOTONIC), which the
 * dynamic linker prefers to libc's, follow the virtual clock while a harness
 * runs, so every engine and library sees one time.
 */
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	if (!vnow)
		return (int)syscall(SYS_gettimeofday, tv, tz);
	uint64_t t = 1700000000000000ull + *vnow;
	tv->tv_sec = (time_t)(t / 1000000u);
	tv->tv_usec = (suseconds_t)(t % 1000000u);
	return 0;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	if (!vnow || clk != CLOCK_MONOTONIC)
		return (int)syscall(SYS_clock_gettime, clk, ts);
	ts->tv_sec = (time_t)(*vnow / 1000000u);
	ts->tv_nsec = (long)(*vnow % 1000000u * 1000u);
	return 0;
}

/* --- Pattern ---------------------------------------------------------------- */

static uint8_t pat(uint32_t seed, uint64_t i)
{
	uint64_t x = (i >> 6) * 0x9e3779b97f4a7c15ull ^ seed;
	x ^= x >> 29;
	return (uint8_t)(x + i);
}

static uint8_t pat_at(uint32_t seed, uint64_t i)
{
	return i < 4 ? (uint8_t)(seed >> (8 * i)) : pat(seed, i);
}

static uint64_t rnd(struct harness *h)
{
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return h->rng;
}

/* --- Jobs ------------------------------------------------------------------- */

static struct job *job_find(struct harness *h, int side, uint64_t id)
{
	for (int i = 0; i < MAX_JOBS; i++)
		if (h->jobs[i].used && h->jobs[i].side == side && h->jobs[i].id == id)
			return &h->jobs[i];
	return NULL;
}

static struct job *job_new(struct harness *h, int side, uint64_t id, uint64_t tx, uint64_t rx)
{
	for (int i = 0; i < MAX_JOBS; i++) {
		struct job *j = &h->jobs[i];
		if (j->used)
			continue;
		memset(j, 0, sizeof(*j));
		j->used = true;
		j->side = side;
		j->id = id;
		j->tx_total = tx;
		j->rx_expect = rx;
		j->tx_seed = h->next_seed++ * 2654435761u + 17;
		return j;
	}
	fail_msg("too many jobs");
	return NULL;
}

static void job_pump(struct harness *h, struct job *j)
{
	static uint8_t buf[CHUNK];
	struct side *sd = &h->s[j->side];

	if (j->closed || (j->reply_after_eof && !j->eof))
		return;
	while (j->tx_off < j->tx_total) {
		size_t n = j->tx_total - j->tx_off > CHUNK ? CHUNK : (size_t)(j->tx_total - j->tx_off);
		ssize_t r;
		for (size_t i = 0; i < n; i++)
			buf[i] = pat_at(j->tx_seed, j->tx_off + i);
		r = h->ops->stream_write(sd->tp, j->id, buf, n);
		assert_true(r >= 0);
		j->tx_off += (uint64_t)r;
		if ((size_t)r < n)
			return;          /* wait for stream_writable */
	}
	if (!j->shut) {
		j->shut = true;
		assert_int_equal(h->ops->stream_shutdown(sd->tp, j->id), 0);
	}
}

static void job_drain(struct harness *h, struct job *j)
{
	static uint8_t buf[CHUNK];
	struct side *sd = &h->s[j->side];

	if (j->no_read || j->closed || j->eof)
		return;
	for (;;) {
		ssize_t r = h->ops->stream_read(sd->tp, j->id, buf, sizeof(buf));
		if (r == -EAGAIN)
			return;
		assert_true(r >= 0);
		if (r == 0) {
			assert_false(j->eof);
			j->eof = true;
			job_pump(h, j);  /* a half-closed reply goes now */
			return;
		}
		for (ssize_t i = 0; i < r; i++, j->rx_got++) {
			if (j->rx_got < 4) {
				j->seed_bytes[j->rx_got] = buf[i];
				if (j->rx_got == 3)
					j->rx_seed = (uint32_t)j->seed_bytes[0] |
						     (uint32_t)j->seed_bytes[1] << 8 |
						     (uint32_t)j->seed_bytes[2] << 16 |
						     (uint32_t)j->seed_bytes[3] << 24;
			} else if (buf[i] != pat(j->rx_seed, j->rx_got)) {
				j->bad++;
			}
		}
	}
}

/* --- Callbacks ---------------------------------------------------------------- */

static void cb_output(void *arg, const uint8_t *pkt, size_t len)
{
	struct side *sd = arg;
	struct harness *h = sd->h;
	int to = !sd->idx;
	struct pkt *p, *q;

	h->pkts++;
	if (len > MTU)
		h->mtu_violations++;
	if (h->cut || h->s[to].gone)
		return;
	if (h->loss_ppm && rnd(h) % 1000000 < h->loss_ppm)
		return;
	p = malloc(sizeof(*p) + len);
	assert_non_null(p);
	memcpy(p->data, pkt, len);
	p->len = len;
	p->at = h->now + h->delay_us + (h->jitter_us ? rnd(h) % (2 * h->jitter_us + 1) : 0);
	/* Insert by arrival time; most packets go last. */
	for (q = h->tail[to]; q && q->at > p->at; q = q->prev)
		;
	p->prev = q;
	p->next = q ? q->next : h->head[to];
	if (p->next)
		p->next->prev = p;
	else
		h->tail[to] = p;
	if (q)
		q->next = p;
	else
		h->head[to] = p;
}

static void cb_ready(void *arg, int rc)
{
	struct side *sd = arg;

	sd->ready_calls++;
	sd->ready_rc = rc;
	sd->ready = rc == 0;
}

static void cb_opened(void *arg, uint64_t id)
{
	struct side *sd = arg;
	struct harness *h = sd->h;
	struct job *j;

	assert_null(job_find(h, sd->idx, id));
	j = job_new(h, sd->idx, id, h->accept_tx, h->accept_rx);
	j->reply_after_eof = h->accept_after_eof;
	j->no_read = h->accept_no_read;
	if (h->accept_reset) {
		assert_int_equal(h->ops->stream_reset(sd->tp, id), 0);
		return;
	}
	job_pump(h, j);
}

static void cb_readable(void *arg, uint64_t id)
{
	struct side *sd = arg;
	struct job *j = job_find(sd->h, sd->idx, id);

	assert_non_null(j);
	assert_false(j->closed);
	j->readable_seen = true;
	job_drain(sd->h, j);
}

static void cb_writable(void *arg, uint64_t id)
{
	struct side *sd = arg;
	struct job *j = job_find(sd->h, sd->idx, id);

	assert_non_null(j);
	assert_false(j->closed);
	job_pump(sd->h, j);
}

static void cb_closed(void *arg, uint64_t id, int rc)
{
	struct side *sd = arg;
	struct job *j = job_find(sd->h, sd->idx, id);

	assert_non_null(j);
	assert_false(j->closed);
	j->closed = true;
	j->closed_rc = rc;
}

static const struct peer_tp_cbs cbs = {
	.output = cb_output,
	.ready = cb_ready,
	.stream_opened = cb_opened,
	.stream_readable = cb_readable,
	.stream_writable = cb_writable,
	.stream_closed = cb_closed,
};

/* --- The link and the clock --------------------------------------------------- */

static void h_init(struct harness *h, size_t window, uint64_t idle_us, bool responder)
{
	memset(h, 0, sizeof(*h));
	h->ops = ops;
	h->now = vclock;
	vnow = &h->now;
	h->rng = 0x853c49e6748fea9bull;
	h->delay_us = 5000;  /* 10 ms RTT */
	for (int i = 0; i < 2; i++) {
		struct peer_tp_conf conf = {
			.initiator = i == 0,
			.mtu = MTU,
			.stream_window = window,
			.idle_timeout_us = idle_us,
		};
		int rc = -1;
		h->s[i].h = h;
		h->s[i].idx = i;
		if (i == 1 && !responder) {
			h->s[i].gone = true;
			continue;
		}
		h->s[i].tp = ops->new(&conf, &cbs, &h->s[i], h->now, &rc);
		assert_non_null(h->s[i].tp);
		assert_int_equal(rc, 0);
	}
}

static void h_free(struct harness *h)
{
	for (int i = 0; i < 2; i++) {
		ops->free(h->s[i].tp);
		h->s[i].tp = NULL;
		while (h->head[i]) {
			struct pkt *p = h->head[i];
			h->head[i] = p->next;
			free(p);
		}
	}
	vclock = h->now + 1000000;
	vnow = NULL;
	assert_int_equal(h->mtu_violations, 0);
}

/* One step: deliver what has arrived by the earliest event, run timers. */
static bool h_step(struct harness *h, uint64_t limit)
{
	uint64_t t = PEER_TP_NONE;

	for (int i = 0; i < 2; i++) {
		if (h->head[i] && h->head[i]->at < t)
			t = h->head[i]->at;
		if (!h->s[i].gone) {
			uint64_t d = ops->deadline(h->s[i].tp);
			if (d < t)
				t = d;
		}
	}
	if (t == PEER_TP_NONE || t > limit)
		return false;
	if (t > h->now)
		h->now = t;
	for (int i = 0; i < 2; i++) {
		while (h->head[i] && h->head[i]->at <= h->now) {
			struct pkt *p = h->head[i];
			h->head[i] = p->next;
			if (h->head[i])
				h->head[i]->prev = NULL;
			else
				h->tail[i] = NULL;
			if (!h->s[i].gone)
				ops->input(h->s[i].tp, p->data, p->len, h->now);
			free(p);
		}
	}
	for (int i = 0; i < 2; i++)
		if (!h->s[i].gone && ops->deadline(h->s[i].tp) <= h->now)
			ops->timeout(h->s[i].tp, h->now);
	return true;
}

typedef bool (*cond_fn)(struct harness *h);

static bool h_run(struct harness *h, cond_fn cond, uint64_t max_us)
{
	uint64_t limit = h->now + max_us;

	while (!cond(h))
		if (!h_step(h, limit))
			return false;
	return true;
}

static bool both_ready(struct harness *h)
{
	return h->s[0].ready && h->s[1].ready;
}

static bool jobs_done(struct harness *h)
{
	for (int i = 0; i < MAX_JOBS; i++)
		if (h->jobs[i].used && !h->jobs[i].closed)
			return false;
	return true;
}

static void h_up(struct harness *h)
{
	assert_true(h_run(h, both_ready, 10000000));
	assert_int_equal(h->s[0].ready_calls, 1);
	assert_int_equal(h->s[1].ready_calls, 1);
}

static struct job *h_open(struct harness *h, int side, uint64_t tx, uint64_t rx)
{
	uint64_t id;
	struct job *j;

	assert_int_equal(ops->stream_open(h->s[side].tp, &id), 0);
	j = job_new(h, side, id, tx, rx);
	job_pump(h, j);
	return j;
}

/* Every job closed cleanly with every byte where it should be. */
static void jobs_check(struct harness *h)
{
	int n = 0;

	for (int i = 0; i < MAX_JOBS; i++) {
		struct job *j = &h->jobs[i];
		if (!j->used)
			continue;
		n++;
		assert_true(j->closed);
		assert_int_equal(j->closed_rc, 0);
		assert_true(j->eof);
		assert_int_equal(j->bad, 0);
		assert_int_equal(j->tx_off, j->tx_total);
		assert_int_equal(j->rx_got, j->rx_expect);
		j->used = false;
	}
	assert_true(n > 0 && n % 2 == 0);
}

/* --- Tests ---------------------------------------------------------------------- */

static void test_find_unknown(void **state)
{
	assert_null(peer_tp_find("nope"));
	assert_null(peer_tp_find(NULL));
	assert_ptr_equal(peer_tp_find(ops->name), ops);
}

static void test_ready_both_sides(void **state)
{
	struct harness h;
	uint64_t id;

	h_init(&h, 0, 0, true);
	assert_int_not_equal(ops->stream_open(h.s[0].tp, &id), 0); /* not before ready */
	h_up(&h);
	assert_int_equal(h.s[0].ready_rc, 0);
	h_free(&h);
}

/* 0 B, 1 B, 64 KiB and 4 MiB, each way on one stream, one after another. */
static void test_stream_sizes_both_ways(void **state)
{
	static const uint64_t sizes[] = {0, 1, 65536, 4u << 20};
	struct harness h;

	h_init(&h, 0, 0, true);
	h_up(&h);
	for (size_t k = 0; k < 4; k++) {
		h.accept_tx = h.accept_rx = sizes[k];
		h_open(&h, 0, sizes[k], sizes[k]);
		assert_true(h_run(&h, jobs_done, 120000000));
		jobs_check(&h);
	}
	h_free(&h);
}

/* Eight streams at once, four opened by each side. */
static void test_streams_concurrent(void **state)
{
	struct harness h;

	h_init(&h, 0, 0, true);
	h_up(&h);
	h.accept_tx = h.accept_rx = 256u << 10;
	for (int k = 0; k < 8; k++)
		h_open(&h, k % 2, 256u << 10, 256u << 10);
	assert_true(h_run(&h, jobs_done, 120000000));
	jobs_check(&h);
	h_free(&h);
}

/* One side finishes; the other reads EOF, still sends, then finishes. */
static void test_half_close(void **state)
{
	struct harness h;
	struct job *a;

	h_init(&h, 0, 0, true);
	h_up(&h);
	h.accept_tx = 300000;
	h.accept_rx = 100000;
	h.accept_after_eof = true;
	a = h_open(&h, 0, 100000, 300000);
	assert_true(h_run(&h, jobs_done, 120000000));
	assert_true(a->eof);
	jobs_check(&h);
	h_free(&h);
}

static bool first_job_reset(struct harness *h)
{
	return h->jobs[0].closed && h->jobs[1].used && h->jobs[1].closed;
}

static bool accepted_got_bytes(struct harness *h)
{
	return h->jobs[1].used && h->jobs[1].rx_got > 0;
}

/* Reset by the opener mid-transfer, then by the acceptor at once; the
 * association carries a new stream afterwards. */
static void test_stream_reset(void **state)
{
	struct harness h;
	struct job *a;
	uint8_t b;

	h_init(&h, 0, 0, true);
	h_up(&h);
	h.accept_tx = 1u << 20;
	h.accept_rx = 1u << 20;
	a = h_open(&h, 0, 64u << 20, 1u << 20);
	assert_true(h_run(&h, accepted_got_bytes, 30000000));
	assert_int_equal(ops->stream_reset(h.s[0].tp, a->id), 0);
	assert_true(h_run(&h, first_job_reset, 30000000));
	assert_true(h.jobs[0].closed_rc < 0);
	assert_true(h.jobs[1].closed_rc < 0);
	assert_true(ops->stream_write(h.s[0].tp, a->id, &b, 1) < 0);
	h.jobs[0].used = h.jobs[1].used = false;

	h.accept_reset = true;
	a = h_open(&h, 0, 1u << 20, 0);
	assert_true(h_run(&h, jobs_done, 30000000));
	assert_true(a->closed_rc < 0);
	memset(h.jobs, 0, sizeof(h.jobs));

	h.accept_reset = false;
	h.accept_tx = h.accept_rx = 65536;
	h_open(&h, 0, 65536, 65536);
	assert_true(h_run(&h, jobs_done, 60000000));
	jobs_check(&h);
	h_free(&h);
}

static bool accepted_readable(struct harness *h)
{
	return h->jobs[1].used && h->jobs[1].readable_seen;
}

static bool second_done(struct harness *h)
{
	return h->jobs[2].closed && h->jobs[3].closed;
}

/* A reader that never reads stalls its own stream only. */
static void test_flow_control_per_stream(void **state)
{
	struct harness h;
	struct job *a1, *a2, *b1;

	h_init(&h, 65536, 0, true);
	h_up(&h);
	h.accept_tx = 0;
	h.accept_rx = 1u << 20;
	h.accept_no_read = true;
	a1 = h_open(&h, 0, 1u << 20, 0);
	assert_true(h_run(&h, accepted_readable, 10000000));
	h.accept_no_read = false;
	a2 = h_open(&h, 0, 1u << 20, 0);
	assert_true(h_run(&h, second_done, 120000000));
	b1 = &h.jobs[1];
	assert_true(b1->used && b1->no_read);
	assert_int_equal(h.jobs[3].rx_got, 1u << 20);
	assert_true(a2->closed);
	/* The stalled stream holds no more than its window and buffers. */
	assert_false(a1->closed);
	assert_true(a1->tx_off < (1u << 20));
	b1->no_read = false;
	job_drain(&h, b1);
	assert_true(h_run(&h, jobs_done, 120000000));
	jobs_check(&h);
	h_free(&h);
}

static void loss_run(unsigned ppm)
{
	struct harness h;

	h_init(&h, 0, 0, true);
	h.loss_ppm = ppm;
	h.delay_us = 10000;   /* 20 ms RTT, +-4 ms: reordered */
	h.jitter_us = 4000;
	h_up(&h);
	h.accept_tx = h.accept_rx = 512u << 10;
	for (int k = 0; k < 2; k++)
		h_open(&h, k, 512u << 10, 512u << 10);
	assert_true(h_run(&h, jobs_done, 600000000));
	jobs_check(&h);
	h_free(&h);
}

static void test_loss_1pct_reordered(void **state)
{
	loss_run(10000);
}

static void test_loss_5pct_reordered(void **state)
{
	loss_run(50000);
}

static bool a_died(struct harness *h)
{
	return h->s[0].ready_rc < 0 || (h->jobs[0].used && h->jobs[0].closed_rc < 0);
}

/* The peer vanishes mid-transfer: the survivor gives up after its idle
 * timeout; and a peer that never answers fails the setup. */
static void test_idle_timeout_peer_vanishes(void **state)
{
	struct harness h;
	uint64_t t0;

	h_init(&h, 0, 3000000, true);
	h_up(&h);
	h.accept_tx = h.accept_rx = 8u << 20;
	h_open(&h, 0, 8u << 20, 8u << 20);
	h_run(&h, accepted_got_bytes, 10000000);
	h.cut = true;
	h.s[1].gone = true;
	t0 = h.now;
	assert_true(h_run(&h, a_died, 30000000));
	assert_true(h.now - t0 >= 2000000);
	h_free(&h);

	h_init(&h, 0, 3000000, false);
	t0 = h.now;
	assert_true(h_run(&h, a_died, 30000000));
	assert_true(h.s[0].ready_rc < 0);
	assert_int_equal(h.s[0].ready_calls, 1);
	h_free(&h);
}

int main(void)
{
	static const char *const names[] = {"quic", "sctp", "pseudotcp"};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_unknown),
		cmocka_unit_test(test_ready_both_sides),
		cmocka_unit_test(test_stream_sizes_both_ways),
		cmocka_unit_test(test_streams_concurrent),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_stream_reset),
		cmocka_unit_test(test_flow_control_per_stream),
		cmocka_unit_test(test_loss_1pct_reordered),
		cmocka_unit_test(test_loss_5pct_reordered),
		cmocka_unit_test(test_idle_timeout_peer_vanishes),
	};
	const char *only = getenv("BW_TP_ENGINE");  /* run one engine by hand */
	int rc = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct peer_tp_ops *o = peer_tp_find(names[i]);
		if (only && strcmp(only, names[i]) != 0)
			continue;
		if (!o) {
			fprintf(stderr, "engine %s is not linked in\n", names[i]);
			return 1;
		}
		ops = o;
		rc |= _cmocka_run_group_tests(names[i], tests, sizeof(tests) / sizeof(tests[0]),
					      NULL, NULL);
	}
	return rc;
}
