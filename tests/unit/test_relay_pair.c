/*
 * The relayed pair (relay/pair.c) on real loopback TCP connections:
 *
 *   u ==tcp== [a  pair  b] ==tcp== s
 *
 * bytes both ways compared, half-close each way, what the bufferevents held
 * before the pairing, backpressure against a reader that stops, a sealed
 * side (two pairs back to back: plain -> sealed -> plain), truncated and
 * forged sealed streams, a reset, the idle timeout, and refusal of a
 * bufferevent that has no socket of its own. The loop runs without blocking
 * between the test's own reads and writes.
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
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "relay/relay.h"

#include "test_relay.h"

struct closed {
	int n;
	char reason[96];
	struct relay_pair_stats st;
};

static void on_closed(void *arg, const struct relay_pair_stats *st)
{
	struct closed *c = arg;

	c->n++;
	c->st = *st;
	snprintf(c->reason, sizeof(c->reason), "%s", st->reason);
}

struct rig {
	struct event_base *base;
	struct bufferevent *a, *b;
	int u, s;              /* the test's ends */
	struct closed closed;
	struct relay_pair *pair;
};

/* u -- a, b -- s; the bufferevents are created but not paired yet. */
static void rig_open(struct rig *r, struct event_base *base)
{
	int x[2], y[2];

	memset(r, 0, sizeof(*r));
	r->base = base;
	tcp_pair(x);
	tcp_pair(y);
	r->u = x[0];
	r->s = y[1];
	r->a = bufferevent_socket_new(base, x[1], BEV_OPT_CLOSE_ON_FREE);
	r->b = bufferevent_socket_new(base, y[0], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(r->a);
	assert_non_null(r->b);
}

static void rig_pair(struct rig *r, struct bw_crypto_session *seal_b, int idle_ms)
{
	struct relay_pair_opts o = { .closed = on_closed, .arg = &r->closed, .seal_b = seal_b,
				     .idle_timeout_ms = idle_ms };
	int rc = -1;

	r->pair = relay_pair_new(r->a, r->b, &o, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(r->pair);
	r->a = r->b = NULL;
	relay_pair_start(r->pair);
}

static void rig_close(struct rig *r)
{
	if (r->u >= 0)
		close(r->u);
	if (r->s >= 0)
		close(r->s);
	r->u = r->s = -1;
}

static void spin(struct event_base *base)
{
	for (int i = 0; i < 8; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Push `len` bytes of `out` into fd_out and read what arrives at fd_in into
 * `in` (capacity incap), spinning the loop, until everything was sent, the
 * expected number came back (`want`), and fd_in says EOF if want_eof. Gives
 * up after 10 s. Returns the bytes read; *eof says whether EOF was seen.
 */
static size_t move(struct event_base *base, int fd_out, const uint8_t *out, size_t len,
		   int fd_in, uint8_t *in, size_t incap, size_t want, bool want_eof, bool *eof)
{
	size_t sent = 0, got = 0;
	int64_t t0 = now_ms();

	*eof = false;
	while (now_ms() - t0 < 10000) {
		if (sent < len) {
			ssize_t w = send(fd_out, out + sent, len - sent, MSG_NOSIGNAL);

			if (w > 0)
				sent += (size_t)w;
		}
		for (;;) {
			ssize_t r = recv(fd_in, in + got, incap - got, 0);

			if (r > 0) {
				got += (size_t)r;
				if (got == incap)
					break;
				continue;
			}
			if (r == 0)
				*eof = true;
			break;
		}
		if (sent == len && got >= want && (!want_eof || *eof))
			break;
		spin(base);
	}
	return got;
}

static uint8_t *random_bytes(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	randombytes_buf(p, n);
	return p;
}

/* Bytes both ways, then each side ends its direction: the pair ends "done". */
static void test_relay_pair_plain_both_ways_then_done(void **state)
{
	struct event_base *base = event_base_new();
	size_t n1 = 3u << 20, n2 = 200000;
	uint8_t *d1 = random_bytes(n1), *d2 = random_bytes(n2);
	uint8_t *in = malloc(n1 + 1);
	struct rig r;
	bool eof;

	rig_open(&r, base);
	rig_pair(&r, NULL, 0);
	assert_int_equal(move(base, r.u, d1, n1, r.s, in, n1 + 1, n1, false, &eof), n1);
	assert_memory_equal(in, d1, n1);
	assert_int_equal(move(base, r.s, d2, n2, r.u, in, n1 + 1, n2, false, &eof), n2);
	assert_memory_equal(in, d2, n2);
	/* u ends its direction: s sees EOF, and can still answer. */
	shutdown(r.u, SHUT_WR);
	assert_int_equal(move(base, r.u, NULL, 0, r.s, in, n1 + 1, 0, true, &eof), 0);
	assert_true(eof);
	assert_int_equal(r.closed.n, 0);
	assert_int_equal(move(base, r.s, d2, 1000, r.u, in, n1 + 1, 1000, false, &eof), 1000);
	assert_memory_equal(in, d2, 1000);
	shutdown(r.s, SHUT_WR);
	assert_int_equal(move(base, r.s, NULL, 0, r.u, in, n1 + 1, 0, true, &eof), 0);
	assert_true(eof);
	spin(base);
	assert_int_equal(r.closed.n, 1);
	assert_string_equal(r.closed.reason, "done");
	assert_int_equal(r.closed.st.bytes_a_to_b, n1);
	assert_int_equal(r.closed.st.bytes_b_to_a, n2 + 1000);
	rig_close(&r);
	free(d1);
	free(d2);
	free(in);
	event_base_free(base);
}

static int open_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* A busy plain pair splices through pipes; once it is quiet for a second or
 * two, the pipes are closed again (an idle pair holds no extra descriptor). */
static void test_relay_pair_splice_pipes_go_back(void **state)
{
	struct event_base *base = event_base_new();
	size_t n = 8u << 20;
	uint8_t *d = random_bytes(n), *in = malloc(n);
	struct rig r;
	int before, during;
	int64_t t0;
	bool eof;

	rig_open(&r, base);
	rig_pair(&r, NULL, 0);
	before = open_fds();
	assert_int_equal(move(base, r.u, d, n, r.s, in, n, n, false, &eof), n);
	assert_memory_equal(in, d, n);
	during = open_fds();
	assert_int_equal(during, before + 2);   /* one pipe, toward s */
	t0 = now_ms();
	while (now_ms() - t0 < 2600) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(10000);
	}
	assert_int_equal(open_fds(), before);
	/* Still relaying, small messages through the buffer. */
	assert_int_equal(move(base, r.s, d, 1000, r.u, in, n, 1000, false, &eof), 1000);
	assert_memory_equal(in, d, 1000);
	rig_close(&r);
	spin(base);
	assert_int_equal(r.closed.n, 1);
	free(d);
	free(in);
	event_base_free(base);
}

/* Bytes the bufferevents read or were given before the pairing go first. */
static void test_relay_pair_early_bytes_first(void **state)
{
	struct event_base *base = event_base_new();
	uint8_t in[64];
	struct rig r;
	bool eof;

	rig_open(&r, base);
	assert_int_equal(send(r.u, "early", 5, 0), 5);
	bufferevent_enable(r.a, EV_READ);
	for (int i = 0; i < 100 && evbuffer_get_length(bufferevent_get_input(r.a)) < 5; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(evbuffer_get_length(bufferevent_get_input(r.a)), 5);
	assert_int_equal(bufferevent_write(r.b, "START;", 6), 0);  /* never written yet */
	rig_pair(&r, NULL, 0);
	assert_int_equal(move(base, r.u, (const uint8_t *)"late", 4, r.s, in, sizeof(in), 15, false,
			      &eof), 15);
	assert_memory_equal(in, "START;earlylate", 15);
	rig_close(&r);
	spin(base);
	assert_int_equal(r.closed.n, 1);
	assert_int_equal(r.closed.st.bytes_a_to_b, 9);
	event_base_free(base);
}

/* A reader that stops: the pair stops reading the writer, loses nothing. */
static void test_relay_pair_backpressure(void **state)
{
	struct event_base *base = event_base_new();
	size_t cap = 64u << 20, sent = 0, got = 0;
	uint8_t *d = random_bytes(cap), *in = malloc(cap);
	struct rig r;
	bool eof;
	int idle = 0;

	rig_open(&r, base);
	rig_pair(&r, NULL, 0);
	/* Write until nothing more goes in for a while. */
	while (sent < cap && idle < 50) {
		ssize_t w = send(r.u, d + sent, cap - sent, MSG_NOSIGNAL);

		if (w > 0) {
			sent += (size_t)w;
			idle = 0;
		} else {
			idle++;
		}
		spin(base);
	}
	/* Kernel buffers on both connections plus at most the pair's buffer
	 * (64 KiB) per direction: far below what was offered. */
	assert_true(sent < cap);
	assert_true(sent < (24u << 20));
	got = move(base, r.u, NULL, 0, r.s, in, cap, sent, false, &eof);
	assert_int_equal(got, sent);
	assert_memory_equal(in, d, sent);
	rig_close(&r);
	spin(base);
	assert_int_equal(r.closed.n, 1);
	free(d);
	free(in);
	event_base_free(base);
}

static void sessions(struct bw_crypto_session **i, struct bw_crypto_session **r)
{
	uint8_t key[32];
	uint8_t suites[BW_CRYPTO_SUITES_MAX];
	int rc;

	assert_true(bw_crypto_suites_local(suites) > 0);
	randombytes_buf(key, sizeof(key));
	*i = bw_crypto_session_from_key(key, "test pair", BW_CRYPTO_INITIATOR, suites[0],
					BW_CRYPTO_STREAM, &rc);
	*r = bw_crypto_session_from_key(key, "test pair", BW_CRYPTO_RESPONDER, suites[0],
					BW_CRYPTO_STREAM, &rc);
	assert_non_null(*i);
	assert_non_null(*r);
}

/* u -- [pair 1] ==sealed== [pair 2] -- s: plaintext both ways, end records. */
static void test_relay_pair_sealed_both_ways_then_done(void **state)
{
	struct event_base *base = event_base_new();
	size_t n1 = 2u << 20, n2 = 100003;
	uint8_t *d1 = random_bytes(n1), *d2 = random_bytes(n2), *in = malloc(n1 + 1);
	struct bw_crypto_session *si, *sr;
	struct rig r1, r2;
	int tmp;
	bool eof;

	sessions(&si, &sr);
	rig_open(&r1, base);
	rig_open(&r2, base);
	/* Join r1's b with r2's b: the sealed link. */
	close(r1.s);
	close(r2.s);
	{
		int link[2];

		tcp_pair(link);
		bufferevent_free(r1.b);
		bufferevent_free(r2.b);
		r1.b = bufferevent_socket_new(base, link[0], BEV_OPT_CLOSE_ON_FREE);
		r2.b = bufferevent_socket_new(base, link[1], BEV_OPT_CLOSE_ON_FREE);
	}
	tmp = r2.u;
	r1.s = tmp;     /* the far end of the chain, seen from r1's user */
	r2.u = -1;
	rig_pair(&r1, si, 0);
	rig_pair(&r2, sr, 0);
	assert_int_equal(move(base, r1.u, d1, n1, r1.s, in, n1 + 1, n1, false, &eof), n1);
	assert_memory_equal(in, d1, n1);
	assert_int_equal(move(base, r1.s, d2, n2, r1.u, in, n1 + 1, n2, false, &eof), n2);
	assert_memory_equal(in, d2, n2);
	shutdown(r1.u, SHUT_WR);
	assert_int_equal(move(base, r1.u, NULL, 0, r1.s, in, n1 + 1, 0, true, &eof), 0);
	assert_true(eof);
	shutdown(r1.s, SHUT_WR);
	assert_int_equal(move(base, r1.s, NULL, 0, r1.u, in, n1 + 1, 0, true, &eof), 0);
	assert_true(eof);
	spin(base);
	assert_int_equal(r1.closed.n, 1);
	assert_int_equal(r2.closed.n, 1);
	assert_string_equal(r1.closed.reason, "done");
	assert_string_equal(r2.closed.reason, "done");
	assert_int_equal(r1.closed.st.bytes_a_to_b, n1);
	assert_int_equal(r1.closed.st.bytes_b_to_a, n2);
	assert_int_equal(r2.closed.st.bytes_b_to_a, n1);
	assert_int_equal(r2.closed.st.bytes_a_to_b, n2);
	rig_close(&r1);
	free(d1);
	free(d2);
	free(in);
	event_base_free(base);
}

/* Both directions at once, each filling the other's buffers: s echoes what
 * it reads, through plain pairs and through a sealed chain. */
static void test_relay_pair_echo_both_ways_at_once(void **state)
{
	struct event_base *base = event_base_new();
	size_t n = 24u << 20;
	uint8_t *d = random_bytes(n), *in = malloc(n), *mid = malloc(1u << 20);

	for (int sealed = 0; sealed < 2; sealed++) {
		size_t sent = 0, got = 0, held = 0, echoed_in = 0;
		int64_t t0 = now_ms();
		struct rig r1, r2;
		int u, s;

		rig_open(&r1, base);
		if (sealed) {
			struct bw_crypto_session *si, *sr;
			int link[2];

			sessions(&si, &sr);
			rig_open(&r2, base);
			close(r1.s);
			close(r2.s);
			tcp_pair(link);
			bufferevent_free(r1.b);
			bufferevent_free(r2.b);
			r1.b = bufferevent_socket_new(base, link[0], BEV_OPT_CLOSE_ON_FREE);
			r2.b = bufferevent_socket_new(base, link[1], BEV_OPT_CLOSE_ON_FREE);
			rig_pair(&r1, si, 0);
			rig_pair(&r2, sr, 0);
			u = r1.u;
			s = r2.u;
		} else {
			rig_pair(&r1, NULL, 0);
			u = r1.u;
			s = r1.s;
		}
		while (got < n && now_ms() - t0 < 20000) {
			ssize_t k;

			if (sent < n && (k = send(u, d + sent, n - sent, MSG_NOSIGNAL)) > 0)
				sent += (size_t)k;
			if (held == 0 && (k = recv(s, mid, 1u << 20, 0)) > 0) {
				held = (size_t)k;
				echoed_in = 0;
			}
			if (held > 0 && (k = send(s, mid + echoed_in, held - echoed_in,
						  MSG_NOSIGNAL)) > 0) {
				echoed_in += (size_t)k;
				if (echoed_in == held)
					held = 0;
			}
			while ((k = recv(u, in + got, n - got, 0)) > 0)
				got += (size_t)k;
			spin(base);
		}
		assert_int_equal(got, n);
		assert_memory_equal(in, d, n);
		close(u);
		close(s);
		for (int i = 0; i < 2000 && (!r1.closed.n || (sealed && !r2.closed.n)); i++) {
			spin(base);
			usleep(1000);
		}
		assert_int_equal(r1.closed.n, 1);
		assert_string_equal(r1.closed.reason, "done");
		if (sealed) {
			assert_int_equal(r2.closed.n, 1);
			assert_string_equal(r2.closed.reason, "done");
		}
	}
	free(d);
	free(in);
	free(mid);
	event_base_free(base);
}

/* A sealed side that ends without its end record, or sends a forged one. */
static void test_relay_pair_sealed_cut_or_forged(void **state)
{
	static const uint8_t forged[] = { 0, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
					  11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
	struct event_base *base = event_base_new();

	for (int k = 0; k < 2; k++) {
		struct bw_crypto_session *si, *sr;
		struct rig r;

		sessions(&si, &sr);
		bw_crypto_session_free(sr);
		rig_open(&r, base);
		rig_pair(&r, si, 0);
		if (k == 0)
			shutdown(r.s, SHUT_WR);
		else
			assert_int_equal(send(r.s, forged, sizeof(forged), 0),
					 (ssize_t)sizeof(forged));
		for (int i = 0; i < 100 && r.closed.n == 0; i++)
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		assert_int_equal(r.closed.n, 1);
		assert_string_equal(r.closed.reason, k == 0 ? "sealed stream truncated" :
				    "record failed authentication");
		rig_close(&r);
	}
	event_base_free(base);
}

/* A reset on one side closes the pair with that reason. */
static void test_relay_pair_reset(void **state)
{
	struct event_base *base = event_base_new();
	struct linger lg = { 1, 0 };
	struct rig r;

	rig_open(&r, base);
	rig_pair(&r, NULL, 0);
	assert_int_equal(setsockopt(r.s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(r.s);
	r.s = -1;
	for (int i = 0; i < 100 && r.closed.n == 0; i++) {
		usleep(1000);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(r.closed.n, 1);
	assert_string_equal(r.closed.reason, "connection reset");
	rig_close(&r);
	event_base_free(base);
}

/* No byte either way for the idle timeout: closed; bytes put it off. */
static void test_relay_pair_idle_timeout(void **state)
{
	struct event_base *base = event_base_new();
	uint8_t in[8];
	struct rig r;
	int64_t t0;
	bool eof;

	rig_open(&r, base);
	rig_pair(&r, NULL, 150);
	t0 = now_ms();
	for (int i = 0; i < 4; i++) {
		usleep(60 * 1000);
		assert_int_equal(move(base, r.u, (const uint8_t *)"x", 1, r.s, in, sizeof(in), 1,
				      false, &eof), 1);
	}
	assert_int_equal(r.closed.n, 0);
	while (r.closed.n == 0 && now_ms() - t0 < 5000)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(r.closed.n, 1);
	assert_string_equal(r.closed.reason, "idle timeout");
	assert_true(now_ms() - t0 >= 240 + 150);
	rig_close(&r);
	event_base_free(base);
}

/* A bufferevent without a socket of its own cannot be paired; the caller
 * keeps both. */
static void test_relay_pair_new_rejects_non_socket(void **state)
{
	struct event_base *base = event_base_new();
	struct bufferevent *bp[2];
	struct relay_pair_opts o = { .closed = on_closed };
	struct rig r;
	int rc = 0;

	rig_open(&r, base);
	assert_int_equal(bufferevent_pair_new(base, BEV_OPT_CLOSE_ON_FREE, bp), 0);
	assert_null(relay_pair_new(r.a, bp[0], &o, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	bufferevent_free(bp[0]);
	bufferevent_free(bp[1]);
	bufferevent_free(r.a);
	bufferevent_free(r.b);
	rig_close(&r);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_pair_plain_both_ways_then_done),
		cmocka_unit_test(test_relay_pair_splice_pipes_go_back),
		cmocka_unit_test(test_relay_pair_early_bytes_first),
		cmocka_unit_test(test_relay_pair_backpressure),
		cmocka_unit_test(test_relay_pair_sealed_both_ways_then_done),
		cmocka_unit_test(test_relay_pair_echo_both_ways_at_once),
		cmocka_unit_test(test_relay_pair_sealed_cut_or_forged),
		cmocka_unit_test(test_relay_pair_reset),
		cmocka_unit_test(test_relay_pair_idle_timeout),
		cmocka_unit_test(test_relay_pair_new_rejects_non_socket),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
