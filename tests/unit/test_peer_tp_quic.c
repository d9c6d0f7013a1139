/*
 * The quic stream transport engine (peer/tp_quic.c) between two instances
 * over a deterministic in-memory link: a virtual clock that jumps to the
 * earliest deadline or packet arrival (no sleeping), a one-way delay, seeded
 * loss, reordering by jitter, and an optional bottleneck rate with a
 * drop-tail queue. Every byte is checked against a pattern.
 *
 * With BW_QUIC_BENCH_MB=<n> set, test_bench_loopback also moves n MiB over
 * a lossless link and prints MB/s and CPU seconds per GB (both engines in
 * this one process); run it from an optimised build. BW_QUIC_SIM runs one
 * stream over a simulated path (see test_bench_sim_path).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/util.h"
#include "peer/tp.h"

#define MAXS 300
#define MTU 1350

struct pkt {
	uint64_t at, seq;
	int to;
	size_t len;
	uint8_t data[MTU];
};

struct sstream {
	bool used;
	uint64_t id;
	uint64_t to_send, sent;   /* bytes this side writes */
	bool shut_when_sent, shut;
	bool no_read;             /* do not read until told */
	uint64_t recvd;
	bool eof;
	bool closed;
	int closed_rc;
	bool reply_on_eof;        /* after EOF: send reply bytes, then FIN */
	uint64_t reply;
};

struct world;

struct side {
	struct world *w;
	int idx;
	struct peer_tp *tp;
	bool ready_called;
	int ready_rc, ready_calls;
	uint64_t ready_at;
	struct sstream st[MAXS];
	int opened, closed;
	uint64_t reply_default;   /* for streams the peer opens */
	bool reply_on_eof_default;
	bool no_read_default;
	uint64_t no_read_bits;    /* bit id/4: do not read the stream the peer opens */
};

struct world {
	const struct peer_tp_ops *ops;
	struct side s[2];
	uint64_t now;
	/* link */
	struct pkt **heap;
	size_t nheap, capheap;
	uint64_t seq;
	uint64_t delay_us, jitter_us;
	uint32_t loss_ppm;
	uint64_t rate_bps;        /* 0 = unlimited */
	uint64_t qlimit_us;       /* drop-tail queue, in time at rate */
	uint64_t busy_until[2];
	uint64_t rng;
	bool cut;
	bool cheap_pattern;       /* benchmarks: a periodic pattern, memcmp */
	uint64_t timer_gran_us;   /* timers fire on multiples of this, as epoll's ms */
	uint64_t delivered, dropped, last_rx_at[2];
	uint64_t burst_at[2], burst[2], max_burst[2]; /* packets sent at one instant */
	uint64_t hold_us;         /* deliver what arrives within this as one held burst */
};

static uint64_t rnd(struct world *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static uint8_t pattern(uint64_t id, uint64_t off)
{
	return (uint8_t)(off * 131u + id * 7u + (off >> 11) + (off >> 17));
}

/* The benchmarks' pattern: period 65521 (prime, so no chunk or packet size
 * lines up with it), checked with memcmp, so that the figure measures the
 * engines rather than this file. */
#define CHEAP_PERIOD 65521u
static uint8_t cheap[CHEAP_PERIOD + 65536];

static const uint8_t *cheap_at(uint64_t off)
{
	if (!cheap[1])
		for (size_t i = 0; i < sizeof(cheap); i++)
			cheap[i] = pattern(1, i % CHEAP_PERIOD);
	return cheap + off % CHEAP_PERIOD;
}

/* --- The link -------------------------------------------------------------- */

static bool pkt_before(const struct pkt *a, const struct pkt *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct world *w, struct pkt *p)
{
	size_t i;

	if (w->nheap == w->capheap) {
		w->capheap = w->capheap ? w->capheap * 2 : 1024;
		w->heap = realloc(w->heap, w->capheap * sizeof(*w->heap));
		assert_non_null(w->heap);
	}
	i = w->nheap++;
	while (i && pkt_before(p, w->heap[(i - 1) / 2])) {
		w->heap[i] = w->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->heap[i] = p;
}

static struct pkt *heap_pop(struct world *w)
{
	struct pkt *top = w->heap[0], *last = w->heap[--w->nheap];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= w->nheap)
			break;
		if (c + 1 < w->nheap && pkt_before(w->heap[c + 1], w->heap[c]))
			c++;
		if (!pkt_before(w->heap[c], last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (w->nheap)
		w->heap[i] = last;
	return top;
}

static void on_output(void *arg, const uint8_t *data, size_t len)
{
	struct side *sd = arg;
	struct world *w = sd->w;
	uint64_t depart = w->now;
	struct pkt *p;

	assert_true(len <= MTU);
	if (w->burst_at[sd->idx] != w->now) {
		w->burst_at[sd->idx] = w->now;
		w->burst[sd->idx] = 0;
	}
	if (++w->burst[sd->idx] > w->max_burst[sd->idx])
		w->max_burst[sd->idx] = w->burst[sd->idx];
	if (w->cut || (w->loss_ppm && rnd(w) % 1000000u < w->loss_ppm)) {
		w->dropped++;
		return;
	}
	if (w->rate_bps) {
		uint64_t start = w->busy_until[sd->idx] > w->now ? w->busy_until[sd->idx] : w->now;

		if (start - w->now > w->qlimit_us) {
			w->dropped++;
			return;
		}
		depart = start + (uint64_t)len * 8u * 1000000u / w->rate_bps;
		w->busy_until[sd->idx] = depart;
	}
	p = malloc(sizeof(*p));
	assert_non_null(p);
	p->at = depart + w->delay_us + (w->jitter_us ? rnd(w) % w->jitter_us : 0);
	p->seq = w->seq++;
	p->to = !sd->idx;
	p->len = len;
	memcpy(p->data, data, len);
	heap_push(w, p);
}

/* --- The application on each side ---------------------------------------- */

static struct sstream *sfind(struct side *sd, uint64_t id)
{
	for (int i = 0; i < MAXS; i++)
		if (sd->st[i].used && sd->st[i].id == id)
			return &sd->st[i];
	return NULL;
}

static struct sstream *sadd(struct side *sd, uint64_t id)
{
	assert_null(sfind(sd, id));
	for (int i = 0; i < MAXS; i++)
		if (!sd->st[i].used) {
			memset(&sd->st[i], 0, sizeof(sd->st[i]));
			sd->st[i].used = true;
			sd->st[i].id = id;
			return &sd->st[i];
		}
	fail_msg("too many streams");
	return NULL;
}

static void pump(struct side *sd, struct sstream *st)
{
	static uint8_t buf[65536];

	while (st->sent < st->to_send && !st->closed) {
		size_t n = st->to_send - st->sent < sizeof(buf) ? st->to_send - st->sent : sizeof(buf);
		const uint8_t *src = buf;
		ssize_t k;

		if (sd->w->cheap_pattern)
			src = cheap_at(st->sent);
		else
			for (size_t i = 0; i < n; i++)
				buf[i] = pattern(st->id, st->sent + i);
		k = sd->w->ops->stream_write(sd->tp, st->id, src, n);
		assert_true(k >= 0);
		if (k == 0)
			return;
		st->sent += (uint64_t)k;
	}
	if (st->sent == st->to_send && st->shut_when_sent && !st->shut && !st->closed) {
		assert_int_equal(sd->w->ops->stream_shutdown(sd->tp, st->id), 0);
		st->shut = true;
	}
}

static void drain(struct side *sd, struct sstream *st)
{
	uint8_t buf[40000];

	while (!st->eof && !st->closed) {
		ssize_t n = sd->w->ops->stream_read(sd->tp, st->id, buf, sizeof(buf));

		if (n == -EAGAIN)
			return;
		assert_true(n >= 0);
		if (n == 0) {
			st->eof = true;
			if (st->reply_on_eof) {
				st->to_send = st->reply;
				st->shut_when_sent = true;
				pump(sd, st);
			}
			return;
		}
		if (sd->w->cheap_pattern) {
			if (memcmp(buf, cheap_at(st->recvd), (size_t)n) != 0)
				fail_msg("side %d stream %llu: bytes wrong near %llu", sd->idx,
					 (unsigned long long)st->id, (unsigned long long)st->recvd);
			st->recvd += (uint64_t)n;
			continue;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(st->id, st->recvd + (uint64_t)i))
				fail_msg("side %d stream %llu: byte %llu is wrong", sd->idx,
					 (unsigned long long)st->id,
					 (unsigned long long)(st->recvd + (uint64_t)i));
		st->recvd += (uint64_t)n;
	}
}

static void on_ready(void *arg, int rc)
{
	struct side *sd = arg;

	sd->ready_called = true;
	sd->ready_rc = rc;
	sd->ready_calls++;
	sd->ready_at = sd->w->now;
}

static void on_opened(void *arg, uint64_t id)
{
	struct side *sd = arg;
	struct sstream *st = sadd(sd, id);

	sd->opened++;
	st->reply_on_eof = sd->reply_on_eof_default;
	st->reply = sd->reply_default;
	st->no_read = sd->no_read_default || (id / 4 < 64 && (sd->no_read_bits >> (id / 4) & 1));
}

static void on_readable(void *arg, uint64_t id)
{
	struct side *sd = arg;
	struct sstream *st = sfind(sd, id);

	assert_non_null(st);
	if (!st->no_read)
		drain(sd, st);
}

static void on_writable(void *arg, uint64_t id)
{
	struct side *sd = arg;
	struct sstream *st = sfind(sd, id);

	assert_non_null(st);
	pump(sd, st);
}

static void on_closed(void *arg, uint64_t id, int rc)
{
	struct side *sd = arg;
	struct sstream *st = sfind(sd, id);

	assert_non_null(st);
	assert_false(st->closed);
	st->closed = true;
	st->closed_rc = rc;
	sd->closed++;
}

static const struct peer_tp_cbs cbs = {
	.output = on_output,
	.ready = on_ready,
	.stream_opened = on_opened,
	.stream_readable = on_readable,
	.stream_writable = on_writable,
	.stream_closed = on_closed,
};

/* --- The world ------------------------------------------------------------- */

static struct world *world_new(const struct peer_tp_conf *base, uint64_t delay_us)
{
	struct world *w = calloc(1, sizeof(*w));
	int rc;

	assert_non_null(w);
	w->ops = peer_tp_find("quic");
	assert_non_null(w->ops);
	w->delay_us = delay_us;
	w->rng = 0x9e3779b97f4a7c15ull;
	w->now = 1000000;
	for (int i = 0; i < 2; i++) {
		struct peer_tp_conf conf = *base;

		conf.initiator = i == 0;
		if (!conf.mtu)
			conf.mtu = MTU;
		w->s[i].w = w;
		w->s[i].idx = i;
		w->s[i].tp = w->ops->new(&conf, &cbs, &w->s[i], w->now, &rc);
		assert_int_equal(rc, 0);
		assert_non_null(w->s[i].tp);
	}
	return w;
}

static void world_free(struct world *w)
{
	for (int i = 0; i < 2; i++)
		w->ops->free(w->s[i].tp);
	while (w->nheap)
		free(heap_pop(w));
	free(w->heap);
	free(w);
}

typedef bool (*done_fn)(struct world *w, void *arg);

/* Advance the clock from event to event until done() or the time limit. */
static void run(struct world *w, done_fn done, void *arg, uint64_t limit_us)
{
	uint64_t end = w->now + limit_us, last = 0, same = 0;

	while (!done(w, arg)) {
		uint64_t t = PEER_TP_NONE;

		for (int i = 0; i < 2; i++) {
			uint64_t d = w->ops->deadline(w->s[i].tp);

			if (w->timer_gran_us && d != PEER_TP_NONE && d > w->now)
				d = w->now + (d - w->now + w->timer_gran_us - 1) / w->timer_gran_us *
						     w->timer_gran_us;
			if (d < t)
				t = d;
		}
		if (w->nheap && w->heap[0]->at < t)
			t = w->heap[0]->at;
		if (t == PEER_TP_NONE)
			fail_msg("nothing left to happen, and not done (t=%llu ready %d/%d rc %d/%d)",
				 (unsigned long long)w->now, w->s[0].ready_calls, w->s[1].ready_calls,
				 w->s[0].ready_rc, w->s[1].ready_rc);
		if (t < w->now)
			t = w->now;
		if (t > end)
			fail_msg("not done after %llu us", (unsigned long long)limit_us);
		same = t == last ? same + 1 : 0;
		if (same > 200000)
			fail_msg("spinning at t=%llu", (unsigned long long)t);
		last = t;
		w->now = t;
		bool held[2] = { false, false };
		uint64_t until = w->now + w->hold_us;

		/* With hold_us, what arrives within it is one burst, as the
		 * session delivers what libnice read in one pass of the loop. */
		while (w->nheap && w->heap[0]->at <= until) {
			struct pkt *p = heap_pop(w);

			if (p->at > w->now)
				w->now = p->at;
			w->delivered++;
			w->last_rx_at[p->to] = w->now;
			if (w->hold_us && !held[p->to] && w->ops->hold) {
				w->ops->hold(w->s[p->to].tp);
				held[p->to] = true;
			}
			if (!w->s[p->to].ready_called || w->s[p->to].ready_rc == 0)
				w->ops->input(w->s[p->to].tp, p->data, p->len, w->now);
			free(p);
		}
		for (int i = 0; i < 2; i++)
			if (held[i])
				w->ops->release(w->s[i].tp, w->now);
		for (int i = 0; i < 2; i++)
			if (w->ops->deadline(w->s[i].tp) <= w->now)
				w->ops->timeout(w->s[i].tp, w->now);
	}
}

static bool both_ready(struct world *w, void *arg)
{
	return w->s[0].ready_called && w->s[1].ready_called;
}

static void handshake(struct world *w)
{
	run(w, both_ready, NULL, 5000000);
	assert_int_equal(w->s[0].ready_rc, 0);
	assert_int_equal(w->s[1].ready_rc, 0);
}

static bool all_closed(struct world *w, void *arg)
{
	int n = *(int *)arg;

	return w->s[0].closed >= n && w->s[1].closed >= n;
}

static struct sstream *open_stream(struct world *w, int side, uint64_t bytes, bool shut)
{
	struct side *sd = &w->s[side];
	struct sstream *st;
	uint64_t id;

	assert_int_equal(w->ops->stream_open(sd->tp, &id), 0);
	st = sadd(sd, id);
	st->to_send = bytes;
	st->shut_when_sent = shut;
	pump(sd, st);
	return st;
}

/* --- Tests ------------------------------------------------------------------ */

static void test_handshake_completes(void **state)
{
	struct peer_tp_conf conf = {0};
	struct world *w = world_new(&conf, 10000);
	struct peer_tp_stats st;
	uint64_t id;

	assert_int_equal(w->ops->stream_open(w->s[0].tp, &id), -ENOTCONN);
	handshake(w);
	/* One round trip for the visitor, one and a half for the owner. */
	assert_true(w->s[0].ready_at - 1000000 <= 25000);
	assert_true(w->s[1].ready_at - 1000000 <= 35000);
	w->ops->stats(w->s[0].tp, &st);
	assert_true(st.rtt_us >= 19000 && st.rtt_us < 60000);
	assert_true(st.pkts_sent > 0 && st.pkts_recv > 0);
	world_free(w);
}

/* One stream visitor -> owner carrying n bytes, the owner answering with
 * reply bytes after the visitor's FIN; both ends close cleanly. */
static void one_stream(const struct peer_tp_conf *conf, uint64_t n, uint64_t reply,
		       uint64_t delay, uint32_t loss_ppm, uint64_t jitter, uint64_t limit_us)
{
	struct world *w = world_new(conf, delay);
	struct sstream *a, *b;
	int one = 1;

	w->loss_ppm = loss_ppm;
	w->jitter_us = jitter;
	if (jitter) {
		/* Reordering needs a link that spaces packets, as real ones do:
		 * 100 Mbit/s, a 20 ms drop-tail queue. */
		w->rate_bps = 100000000;
		w->qlimit_us = 20000;
	}
	w->s[1].reply_on_eof_default = true;
	w->s[1].reply_default = reply;
	handshake(w);
	a = open_stream(w, 0, n, true);
	run(w, all_closed, &one, limit_us);
	b = sfind(&w->s[1], a->id);
	assert_non_null(b);
	assert_int_equal(b->recvd, n);
	assert_true(b->eof);
	assert_int_equal(a->recvd, reply);
	assert_true(a->eof);
	assert_int_equal(a->closed_rc, 0);
	assert_int_equal(b->closed_rc, 0);
	assert_int_equal(w->s[1].opened, 1);
	if (getenv("BW_QUIC_VERBOSE"))
		printf("one_stream %llu B: %.3f s, max burst %llu/%llu pkts, %llu dropped\n",
		       (unsigned long long)n, (double)(w->now - 1000000) / 1e6,
		       (unsigned long long)w->max_burst[0], (unsigned long long)w->max_burst[1],
		       (unsigned long long)w->dropped);
	world_free(w);
}

static void test_stream_sizes_intact(void **state)
{
	struct peer_tp_conf conf = {0};

	one_stream(&conf, 0, 0, 5000, 0, 0, 5000000);
	one_stream(&conf, 1, 1, 5000, 0, 0, 5000000);
	one_stream(&conf, 65536, 65536, 5000, 0, 0, 5000000);
	one_stream(&conf, 16u << 20, 1000, 5000, 0, 0, 60000000);
}

static void test_concurrent_streams(void **state)
{
	struct peer_tp_conf conf = {0};
	struct world *w = world_new(&conf, 10000);
	struct sstream *a[8];
	int n = 8;

	w->s[1].reply_on_eof_default = true;
	w->s[1].reply_default = 1u << 20;
	handshake(w);
	for (int i = 0; i < n; i++)
		a[i] = open_stream(w, 0, (uint64_t)(i + 1) << 19, true);
	run(w, all_closed, &n, 60000000);
	for (int i = 0; i < n; i++) {
		struct sstream *b = sfind(&w->s[1], a[i]->id);

		assert_non_null(b);
		assert_int_equal(b->recvd, (uint64_t)(i + 1) << 19);
		assert_int_equal(a[i]->recvd, 1u << 20);
		assert_int_equal(a[i]->closed_rc, 0);
		assert_int_equal(b->closed_rc, 0);
	}
	world_free(w);
}

/* What run() waits for: stream id on side has recvd bytes (and EOF, and is
 * closed, if asked). */
struct want {
	int side;
	uint64_t id, recvd;
	bool eof, closed;
};

static bool want_met(struct world *w, void *arg)
{
	const struct want *q = arg;
	struct sstream *st = sfind(&w->s[q->side], q->id);

	return st && st->recvd >= q->recvd && (!q->eof || st->eof) && (!q->closed || st->closed);
}

static bool time_reached(struct world *w, void *arg)
{
	return w->now >= *(uint64_t *)arg;
}

/* The visitor finishes first on one stream, the owner on another; each
 * direction keeps flowing after the other is closed. Also a stream opened by
 * the owner. */
static void test_half_close_both_ways(void **state)
{
	struct peer_tp_conf conf = {0};
	struct world *w = world_new(&conf, 5000);
	struct sstream *a, *o, *b, *c;
	int three = 3;

	handshake(w);
	/* a: the visitor sends 100 KiB + FIN; the owner replies 300 KiB + FIN. */
	w->s[1].reply_on_eof_default = true;
	w->s[1].reply_default = 300u << 10;
	a = open_stream(w, 0, 100u << 10, true);
	/* o: opened by the owner, 10 KiB + FIN; the visitor replies 200 KiB + FIN
	 * after reading the owner's FIN. */
	w->s[0].reply_on_eof_default = true;
	w->s[0].reply_default = 200u << 10;
	o = open_stream(w, 1, 10u << 10, true);
	/* c: the visitor sends 50 KiB and keeps its side open; the owner sends
	 * 70 KiB + FIN; then the visitor writes 10 KiB more and finishes. */
	c = open_stream(w, 0, 50u << 10, false);
	run(w, want_met, &(struct want){.side = 1, .id = c->id, .recvd = 50u << 10}, 5000000);
	b = sfind(&w->s[1], c->id);
	b->reply_on_eof = false;
	b->to_send = 70u << 10;
	b->shut_when_sent = true;
	pump(&w->s[1], b);
	run(w, want_met, &(struct want){.side = 0, .id = c->id, .recvd = 70u << 10, .eof = true},
	    5000000);
	assert_false(c->closed); /* our direction is still open */
	assert_false(b->closed);
	c->to_send += 10u << 10;
	c->shut_when_sent = true;
	pump(&w->s[0], c);
	assert_int_equal(w->ops->stream_shutdown(w->s[0].tp, a->id), 0); /* twice is fine */
	run(w, all_closed, &three, 10000000);
	assert_int_equal(sfind(&w->s[1], a->id)->recvd, 100u << 10);
	assert_int_equal(a->recvd, 300u << 10);
	assert_int_equal(sfind(&w->s[0], o->id)->recvd, 10u << 10);
	assert_int_equal(o->recvd, 200u << 10);
	assert_int_equal(b->recvd, 60u << 10);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < MAXS; j++)
			if (w->s[i].st[j].used)
				assert_int_equal(w->s[i].st[j].closed_rc, 0);
	world_free(w);
}

static bool closed_both(struct world *w, void *arg)
{
	uint64_t id = *(uint64_t *)arg;
	struct sstream *a = sfind(&w->s[0], id), *b = sfind(&w->s[1], id);

	return a && b && a->closed && b->closed;
}

static void test_stream_reset(void **state)
{
	struct peer_tp_conf conf = {0};
	struct world *w = world_new(&conf, 5000);
	struct sstream *a, *b;
	uint8_t x = 0;
	uint64_t id;

	handshake(w);
	/* The visitor resets a stream in mid-transfer. */
	a = open_stream(w, 0, 4u << 20, false);
	id = a->id;
	run(w, want_met, &(struct want){.side = 1, .id = id, .recvd = 256u << 10}, 5000000);
	assert_int_equal(w->ops->stream_reset(w->s[0].tp, id), 0);
	run(w, closed_both, &id, 5000000);
	b = sfind(&w->s[1], id);
	assert_true(a->closed_rc < 0);
	assert_true(b->closed_rc < 0);
	/* The id is gone on both sides. */
	assert_int_equal(w->ops->stream_write(w->s[0].tp, id, &x, 1), BW_E_NOT_FOUND);
	assert_int_equal(w->ops->stream_read(w->s[1].tp, id, &x, 1), BW_E_NOT_FOUND);

	/* The owner resets a stream the visitor opened, before reading it. */
	a = open_stream(w, 0, 1u << 20, true);
	id = a->id;
	w->s[1].no_read_bits |= 1ull << (id / 4);
	run(w, want_met, &(struct want){.side = 1, .id = id}, 5000000);
	assert_int_equal(w->ops->stream_reset(w->s[1].tp, id), 0);
	run(w, closed_both, &id, 5000000);
	assert_true(a->closed_rc < 0);
	assert_true(sfind(&w->s[1], id)->closed_rc < 0);

	/* Later streams still work. */
	w->s[1].reply_on_eof_default = true;
	w->s[1].reply_default = 5;
	a = open_stream(w, 0, 100000, true);
	id = a->id;
	run(w, closed_both, &id, 5000000);
	assert_int_equal(a->closed_rc, 0);
	assert_int_equal(a->recvd, 5);
	world_free(w);
}

static void test_unread_stream_does_not_block_others(void **state)
{
	struct peer_tp_conf conf = {.stream_window = 1u << 20, .conn_window = 2u << 20};
	struct world *w = world_new(&conf, 10000);
	struct sstream *stalled, *fast, *ua;

	handshake(w);
	/* Four unread streams fill their windows: 4 MiB unread, twice the
	 * connection window (the engine withholds credit only beyond that). */
	for (int i = 0; i < 4; i++) {
		stalled = open_stream(w, 0, 8u << 20, true);
		w->s[1].no_read_bits |= 1ull << (stalled->id / 4);
	}
	fast = open_stream(w, 0, 8u << 20, true);
	run(w, want_met, &(struct want){.side = 1, .id = fast->id, .recvd = 8u << 20, .eof = true},
	    30000000);
	ua = sfind(&w->s[1], stalled->id);
	assert_non_null(ua);
	assert_int_equal(ua->recvd, 0);
	assert_true(stalled->sent < (8u << 20)); /* it really is stalled */
	/* Now read it: it completes. */
	ua->no_read = false;
	drain(&w->s[1], ua);
	run(w, want_met,
	    &(struct want){.side = 1, .id = stalled->id, .recvd = 8u << 20, .eof = true}, 30000000);
	world_free(w);
}

static void test_loss_1pct_reordered(void **state)
{
	struct peer_tp_conf conf = {0};

	one_stream(&conf, 4u << 20, 1u << 20, 10000, 10000, 3000, 60000000);
}

/* Bursts held and released (tp ops hold/release, as the session does with
 * what one pass of the loop reads): bytes intact both ways, with loss and
 * reordering too, and the receiver answers a burst with fewer packets. */
static uint64_t held_stream(uint64_t hold_us, uint32_t loss_ppm)
{
	struct peer_tp_conf conf = {0};
	struct world *w = world_new(&conf, 5000);
	struct peer_tp_stats st;
	struct sstream *a, *b;
	int one = 1;

	w->hold_us = hold_us;
	w->loss_ppm = loss_ppm;
	w->jitter_us = 300;
	w->rate_bps = 1000000000;
	w->qlimit_us = 20000;
	w->s[1].reply_on_eof_default = true;
	w->s[1].reply_default = 1u << 20;
	handshake(w);
	a = open_stream(w, 0, 16u << 20, true);
	run(w, all_closed, &one, 60000000);
	b = sfind(&w->s[1], a->id);
	assert_non_null(b);
	assert_int_equal(b->recvd, 16u << 20);
	assert_true(b->eof);
	assert_int_equal(a->recvd, 1u << 20);
	assert_true(a->eof);
	assert_int_equal(a->closed_rc, 0);
	assert_int_equal(b->closed_rc, 0);
	w->ops->stats(w->s[1].tp, &st);
	world_free(w);
	return st.pkts_sent;
}

static void test_held_bursts_intact(void **state)
{
	uint64_t each = held_stream(0, 0), held = held_stream(200, 0);

	print_message("receiver sent %llu packets answering each datagram, %llu held\n",
		      (unsigned long long)each, (unsigned long long)held);
	assert_true(held < each);
	held_stream(200, 10000);
}

static void test_loss_5pct_reordered(void **state)
{
	struct peer_tp_conf conf = {0};

	one_stream(&conf, 4u << 20, 1u << 20, 10000, 50000, 3000, 120000000);
	conf.cc = "bbr";
	one_stream(&conf, 2u << 20, 100, 10000, 50000, 3000, 120000000);
	conf.cc = "reno";
	one_stream(&conf, 1u << 20, 100, 10000, 50000, 3000, 120000000);
}

static bool a_dead(struct world *w, void *arg)
{
	return w->s[*(int *)arg].ready_called && w->s[*(int *)arg].ready_rc < 0;
}

static void test_peer_vanishes_idle_timeout(void **state)
{
	struct peer_tp_conf conf = {.idle_timeout_us = 2000000};
	struct world *w = world_new(&conf, 10000);
	int zero = 0, one = 1;
	uint64_t cut_at;

	handshake(w);
	open_stream(w, 0, 1u << 20, false);
	cut_at = w->now + 100000;
	run(w, time_reached, &cut_at, 1000000);
	w->cut = true;
	cut_at = w->now;
	run(w, a_dead, &zero, 30000000);
	assert_int_equal(w->s[0].ready_rc, BW_E_TIMEOUT);
	assert_true(w->now - cut_at >= 1900000);
	assert_true(w->now - cut_at <= 4000000);
	run(w, a_dead, &one, 30000000);
	assert_int_equal(w->s[1].ready_rc, BW_E_TIMEOUT);
	assert_int_equal(w->s[0].ready_calls, 2); /* ready(0) then ready(<0) */
	assert_int_equal(w->ops->deadline(w->s[0].tp), PEER_TP_NONE);
	world_free(w);
}

static void test_idle_association_stays_up(void **state)
{
	struct peer_tp_conf conf = {.idle_timeout_us = 3000000};
	struct world *w = world_new(&conf, 10000);
	uint64_t until;
	int zero = 0, one = 1;

	handshake(w);
	/* 20 s without application data: keep-alives hold it up. */
	until = w->now + 20000000;
	run(w, time_reached, &until, 30000000);
	assert_false(a_dead(w, &zero));
	assert_false(a_dead(w, &one));
	open_stream(w, 0, 1000, true);
	until = w->now + 1000000;
	run(w, time_reached, &until, 30000000);
	assert_int_equal(w->s[1].opened, 1);
	world_free(w);
}

static void test_owner_alone_times_out(void **state)
{
	struct peer_tp_conf conf = {.idle_timeout_us = 1000000};
	struct world *w = world_new(&conf, 10000);
	int one = 1;
	uint8_t junk[1200] = {0x01, 0x02};

	w->cut = true; /* the visitor's packets never arrive */
	/* A first packet that is not a QUIC Initial is refused, not fatal. */
	assert_true(w->ops->input(w->s[1].tp, junk, sizeof(junk), w->now) < 0);
	run(w, a_dead, &one, 5000000);
	assert_int_equal(w->s[1].ready_rc, BW_E_TIMEOUT);
	world_free(w);
}

static void test_stream_limit_busy(void **state)
{
	struct peer_tp_conf conf = {0};
	struct world *w = world_new(&conf, 1000);
	uint64_t id;
	int n = 0, rc;

	handshake(w);
	while ((rc = w->ops->stream_open(w->s[0].tp, &id)) == 0)
		n++;
	assert_int_equal(rc, BW_E_BUSY);
	assert_int_equal(n, 256);
	world_free(w);
}

static void test_bad_conf_refused(void **state)
{
	const struct peer_tp_ops *ops = peer_tp_find("quic");
	struct peer_tp_conf conf = {.mtu = 1000};
	int rc;

	assert_null(ops->new(&conf, &cbs, NULL, 0, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	conf.mtu = 1400;
	conf.cc = "vegas";
	assert_null(ops->new(&conf, &cbs, NULL, 0, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	ops->free(NULL);
}

/* Pacing: over a 100 Mbit/s, 20 ms path with a one-BDP drop-tail queue,
 * BBR (v1 and v2) must leave STARTUP and so neither overflow the queue nor
 * fall below the link rate, with exact timers and with timers that fire on
 * whole milliseconds as libevent's do. (A sender counted application-limited
 * failed this with 27 % drops.) */
static void test_pacing_bbr_fills_link_without_overflow(void **state)
{
	static const char *const ccs[] = {"bbr", "bbr2"};

	for (int g = 0; g < 2; g++)
		for (size_t c = 0; c < BW_ARRAY_LEN(ccs); c++) {
			struct peer_tp_conf conf = {.cc = ccs[c]};
			struct world *w = world_new(&conf, 10000);
			struct sstream *a;
			uint64_t t0, pkts;
			int one = 1;
			double mbit;

			w->cheap_pattern = true;
			w->timer_gran_us = g ? 1000 : 0;
			w->rate_bps = 100000000;
			w->qlimit_us = 20000;
			w->s[1].reply_on_eof_default = true;
			handshake(w);
			t0 = w->now;
			a = open_stream(w, 0, 16u << 20, true);
			run(w, all_closed, &one, 60000000);
			mbit = (double)a->sent * 8 / (double)(w->now - t0);
			pkts = (16u << 20) / 1300;
			/* STARTUP's overshoot costs BBR v1 ~10 % here; stuck in it, 27 %. */
			if (mbit < 70 || w->dropped > pkts * 15 / 100)
				fail_msg("%s, %s timers: %.1f Mbit/s, %llu dropped", ccs[c],
					 g ? "ms" : "exact", mbit, (unsigned long long)w->dropped);
			world_free(w);
		}
}

/* A receiver's ACKs must leave it room to send flow-control credit
 * (docs/BENCHMARKS.md, P2P, problem 2). 300 Mbit/s, 20 ms, a 40 ms drop-tail
 * queue (the relayed path queues that deep: its 1 MiB send queue, then TCP),
 * timers on whole milliseconds, BBR v2. After 5 s the receiver's BBR enters
 * PROBE_RTT and shrinks its window to a few KB. When ngtcp2 padded every
 * ACK-only packet (the null AEAD had a 1-byte tag) and counted it in flight,
 * those ACKs filled that window for good: no MAX_STREAM_DATA could leave,
 * and the stream stopped after about 150 MiB while keepalives went on. */
static void test_deep_queue_stream_does_not_stall(void **state)
{
	struct peer_tp_conf conf = {.cc = "bbr2"};
	struct world *w = world_new(&conf, 10000);
	uint64_t n = 200u << 20;
	struct sstream *a;
	int one = 1;

	w->cheap_pattern = true;
	w->timer_gran_us = 1000;
	w->rate_bps = 300000000;
	w->qlimit_us = 40000;
	w->s[1].reply_on_eof_default = true;
	handshake(w);
	a = open_stream(w, 0, n, true);
	run(w, all_closed, &one, 60000000);
	assert_int_equal(sfind(&w->s[1], a->id)->recvd, n);
	world_free(w);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Raw speed: a lossless link with a bottleneck rate high enough to keep the
 * engines CPU-bound; CPU time for both ends together. */
static void test_bench_loopback(void **state)
{
	const char *mb = getenv("BW_QUIC_BENCH_MB");
	struct peer_tp_conf conf = {.cc = getenv("BW_QUIC_BENCH_CC")};
	struct world *w;
	struct sstream *a;
	uint64_t n;
	int one = 1;
	double c0, c1;
	struct peer_tp_stats st;

	if (!mb)
		skip();
	n = (uint64_t)strtoull(mb, NULL, 10) << 20;
	w = world_new(&conf, 50);
	w->cheap_pattern = true;
	w->s[1].reply_on_eof_default = true; /* the receiver finishes too */
	handshake(w);
	c0 = cpu_s();
	a = open_stream(w, 0, n, true);
	run(w, all_closed, &one, 3600000000ull);
	c1 = cpu_s();
	w->ops->stats(w->s[0].tp, &st);
	printf("quic loopback: %llu MiB in %.3f s CPU: %.0f MB/s, %.2f CPU s/GB "
	       "(both ends; %llu pkts, %llu lost)\n",
	       (unsigned long long)(n >> 20), c1 - c0, (double)n / 1e6 / (c1 - c0),
	       (c1 - c0) / ((double)n / 1e9), (unsigned long long)st.pkts_sent,
	       (unsigned long long)st.pkts_lost);
	assert_int_equal(sfind(&w->s[1], a->id)->recvd, n);
	world_free(w);
}

/* A path in simulation: BW_QUIC_SIM="<Mbit/s>,<RTT ms>,<loss %>,<MiB>[,<cc>]"
 * prints the goodput of one stream (virtual time) and the CPU it took. */
static void test_bench_sim_path(void **state)
{
	const char *spec = getenv("BW_QUIC_SIM");
	char cc[16] = "cubic";
	double mbit, rtt, loss, mb;
	struct peer_tp_conf conf = {0};
	struct world *w;
	struct sstream *a;
	struct peer_tp_stats st;
	uint64_t t0;
	int one = 1;
	double c0;

	if (!spec)
		skip();
	assert_true(sscanf(spec, "%lf,%lf,%lf,%lf,%15s", &mbit, &rtt, &loss, &mb, cc) >= 4);
	conf.cc = cc;
	if (getenv("BW_QUIC_SIM_WIN")) { /* MiB per stream; twice that per association */
		conf.stream_window = (size_t)strtoul(getenv("BW_QUIC_SIM_WIN"), NULL, 10) << 20;
		conf.conn_window = 2 * conf.stream_window;
	}
	w = world_new(&conf, (uint64_t)(rtt * 500));
	w->cheap_pattern = true;
	if (getenv("BW_QUIC_SIM_TIMER_US")) /* e.g. 1000: libevent's epoll rounds to ms */
		w->timer_gran_us = strtoull(getenv("BW_QUIC_SIM_TIMER_US"), NULL, 10);
	w->s[1].reply_on_eof_default = true;
	w->rate_bps = (uint64_t)(mbit * 1e6);
	w->qlimit_us = (uint64_t)(rtt * 1000); /* one RTT of queue */
	w->loss_ppm = (uint32_t)(loss * 10000);
	handshake(w);
	t0 = w->now;
	c0 = cpu_s();
	a = open_stream(w, 0, (uint64_t)(mb * 1048576), true);
	run(w, all_closed, &one, 3600000000ull);
	w->ops->stats(w->s[0].tp, &st);
	printf("sim %s %.0f Mbit/s rtt %.0f ms loss %.1f%%: %.1f Mbit/s goodput, %.2f s CPU, "
	       "srtt %.1f ms, %llu lost, %llu dropped\n",
	       cc, mbit, rtt, loss, (double)a->sent * 8 / ((double)(w->now - t0)), cpu_s() - c0,
	       (double)st.rtt_us / 1000, (unsigned long long)st.pkts_lost,
	       (unsigned long long)w->dropped);
	world_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_completes),
		cmocka_unit_test(test_stream_sizes_intact),
		cmocka_unit_test(test_concurrent_streams),
		cmocka_unit_test(test_half_close_both_ways),
		cmocka_unit_test(test_stream_reset),
		cmocka_unit_test(test_unread_stream_does_not_block_others),
		cmocka_unit_test(test_loss_1pct_reordered),
		cmocka_unit_test(test_held_bursts_intact),
		cmocka_unit_test(test_loss_5pct_reordered),
		cmocka_unit_test(test_peer_vanishes_idle_timeout),
		cmocka_unit_test(test_idle_association_stays_up),
		cmocka_unit_test(test_owner_alone_times_out),
		cmocka_unit_test(test_stream_limit_busy),
		cmocka_unit_test(test_bad_conf_refused),
		cmocka_unit_test(test_pacing_bbr_fills_link_without_overflow),
		cmocka_unit_test(test_deep_queue_stream_does_not_stall),
		cmocka_unit_test(test_bench_loopback),
		cmocka_unit_test(test_bench_sim_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
