/*
 * peer/ice.h: two agents in one process on one event_base, exchanging
 * credentials and candidates through their callbacks with small delays
 * (trickle: candidates reach one side before its peer's credentials), reach
 * `selected` on loopback and move 10,000 datagrams each way intact; freeing
 * with events in flight; strict candidate lines; failure within the check
 * timeout; our keepalives never reach the peer as data.
 *
 * The same executable is the measuring and lab tool:
 *   test_peer_ice bench [N [SIZE [BATCH]]]   A->B through the API on loopback,
 *                                            beside raw UDP sockets (baseline)
 *   test_peer_ice probe --role controlling|controlled --in FIFO --out FIFO
 *                 [--stun IP:PORT] [--local IP] [--timeout MS] [--count N]
 *     one agent; its credentials and candidates go to --out, the peer's are
 *     read from --in (lines "cred U P", "cand LINE", "gathered"); prints
 *     "selected LOCAL LTYPE REMOTE RTYPE MS" and "recv N" (netns-lab/tests/ice_srflx.sh)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "common/err.h"
#include "common/util.h"
#include "nat/nat.h"
#include "peer/ice.h"

#define PKT 1200
#define MAX_CANDS 64

struct run;

struct side {
	struct run *run;
	int idx;
	struct peer_ice *ice;
	char ufrag[PEER_ICE_UFRAG_MAX + 1], pwd[PEER_ICE_PWD_MAX + 1];
	char *cands[MAX_CANDS];
	unsigned n_cands, n_fwd;
	bool gathered, remote_done_sent, started;
	unsigned n_selected, n_failed;
	int fail_rc;
	int64_t fail_ms;
	struct peer_ice_pair pair;
	uint64_t sent, recv, bad, recv_after_free;
	uint8_t *seen;               /* one byte per expected sequence number */
	bool freed;
	uint64_t free_after;         /* free own agent from recv after this many */
	size_t got_len[256];         /* run->capture: what arrived, in order */
	uint8_t got_first[256];
	unsigned n_got, got_bad;
};

struct run {
	struct event_base *base;
	struct peer_ice_glib *g;
	struct side s[2];
	struct event *tick;
	int64_t t0;
	int start_ms[2];             /* when each side learns its peer's credentials */
	bool wrong_pwd;              /* side 0 gets a wrong password for side 1 */
	bool no_cands;               /* forward no candidates */
	uint64_t total, window;      /* datagrams each way, outstanding at most */
	bool exchanging;
	bool capture;                /* recv records datagrams (sendv test) */
};

static struct side *peer_of(struct side *s)
{
	return &s->run->s[1 - s->idx];
}

static void fill(uint8_t *p, size_t len, uint64_t seq, int dir)
{
	memcpy(p, &seq, sizeof(seq));
	for (size_t i = sizeof(seq); i < len; i++)
		p[i] = (uint8_t)(seq * 31 + i * 7 + (size_t)dir);
}

static bool check(const uint8_t *p, size_t len, uint64_t *seq, int dir)
{
	if (len != PKT)
		return false;
	memcpy(seq, p, sizeof(*seq));
	for (size_t i = sizeof(*seq); i < len; i++)
		if (p[i] != (uint8_t)(*seq * 31 + i * 7 + (size_t)dir))
			return false;
	return true;
}

/* Send while the peer has fewer than `window` of ours outstanding. */
static void pump(struct side *s)
{
	struct side *o = peer_of(s);
	uint8_t buf[PKT];

	if (!s->run->exchanging || s->freed)
		return;
	while (s->sent < s->run->total && s->sent - o->recv < s->run->window) {
		fill(buf, sizeof(buf), s->sent, s->idx);
		int rc = peer_ice_send(s->ice, buf, sizeof(buf));

		if (rc == -EAGAIN)
			return;
		assert_int_equal(rc, 0);
		s->sent++;
	}
}

static void on_candidate(void *arg, const char *line)
{
	struct side *s = arg;

	assert_false(s->freed);
	assert_true(s->n_cands < MAX_CANDS);
	s->cands[s->n_cands++] = strdup(line);
}

static void on_gathering_done(void *arg)
{
	struct side *s = arg;

	assert_false(s->freed);
	s->gathered = true;
}

static void on_selected(void *arg, const struct peer_ice_pair *pair)
{
	struct side *s = arg;

	assert_false(s->freed);
	s->n_selected++;
	s->pair = *pair;
}

static void on_failed(void *arg, int rc, const char *why)
{
	struct side *s = arg;

	assert_false(s->freed);
	assert_non_null(why);
	s->n_failed++;
	s->fail_rc = rc;
	s->fail_ms = bw_now_ms() - s->run->t0;
}

static void on_recv(void *arg, const uint8_t *pkt, size_t len)
{
	struct side *s = arg;
	uint64_t seq;

	if (s->freed) {
		s->recv_after_free++;
		return;
	}
	if (s->run->capture) {
		/* Datagram k: byte 0 is k, byte i is k + i. */
		if (s->n_got < BW_ARRAY_LEN(s->got_len)) {
			s->got_len[s->n_got] = len;
			s->got_first[s->n_got++] = pkt[0];
		}
		for (size_t i = 1; i < len; i++)
			if (pkt[i] != (uint8_t)(pkt[0] + i))
				s->got_bad++;
		return;
	}
	if (!check(pkt, len, &seq, 1 - s->idx) || !s->seen || seq >= s->run->total ||
	    s->seen[seq]++)
		s->bad++;
	s->recv++;
	if (s->free_after && s->recv == s->free_after) {
		peer_ice_free(s->ice);
		s->freed = true;
		return;
	}
	pump(peer_of(s));
}

static const struct peer_ice_cbs cbs = {
	.candidate = on_candidate, .gathering_done = on_gathering_done,
	.selected = on_selected, .failed = on_failed, .recv = on_recv,
};

/* Every 10 ms: hand over credentials when due and one candidate each way
 * (trickle), then end-of-candidates; keep the datagrams moving. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct run *run = arg;
	int64_t now = bw_now_ms() - run->t0;

	for (int i = 0; i < 2; i++) {
		struct side *s = &run->s[i], *o = &run->s[1 - i];

		if (s->freed || o->freed)
			continue;
		if (!s->started && now >= run->start_ms[i]) {
			char pwd[PEER_ICE_PWD_MAX + 1];

			snprintf(pwd, sizeof(pwd), "%s", o->pwd);
			if (run->wrong_pwd && i == 0)
				pwd[0] = pwd[0] == 'A' ? 'B' : 'A';
			assert_int_equal(peer_ice_start(s->ice, o->ufrag, pwd), 0);
			s->started = true;
		}
		/* o's candidates go to s, possibly before s has o's credentials. */
		if (!run->no_cands && o->n_fwd < o->n_cands)
			assert_int_equal(peer_ice_add_remote(s->ice, o->cands[o->n_fwd++]), 0);
		if (o->gathered && o->n_fwd == o->n_cands && !o->remote_done_sent) {
			assert_int_equal(peer_ice_remote_done(s->ice), 0);
			o->remote_done_sent = true;
		}
		pump(s);
	}
}

/* Two new agents on run's GLib side; the tick starts them. */
static void sides_new(struct run *run, const struct peer_ice_conf *conf0,
		      const struct peer_ice_conf *conf1)
{
	int rc;

	for (int i = 0; i < 2; i++) {
		struct side *s = &run->s[i];

		memset(s, 0, sizeof(*s));
		s->run = run;
		s->idx = i;
		s->ice = peer_ice_new(run->g, i ? conf1 : conf0, &cbs, s, &rc);
		assert_int_equal(rc, 0);
		assert_non_null(s->ice);
		assert_int_equal(peer_ice_local_credentials(s->ice, s->ufrag, s->pwd), 0);
		assert_true(strlen(s->ufrag) >= 4 && strlen(s->pwd) >= 22);
	}
	run->t0 = bw_now_ms();
	run->exchanging = false;
	for (int i = 0; i < 2; i++)
		assert_int_equal(peer_ice_gather(run->s[i].ice), 0);
}

static void sides_free(struct run *run)
{
	for (int i = 0; i < 2; i++) {
		struct side *s = &run->s[i];

		if (!s->freed)
			peer_ice_free(s->ice);
		s->freed = true;
		for (unsigned j = 0; j < s->n_cands; j++)
			free(s->cands[j]);
		s->n_cands = 0;
		free(s->seen);
		s->seen = NULL;
	}
}

static void run_init(struct run *run, const struct peer_ice_conf *conf0,
		     const struct peer_ice_conf *conf1)
{
	struct timeval tv = { 0, 10000 };
	int rc;

	memset(run, 0, sizeof(*run));
	run->base = event_base_new();
	assert_non_null(run->base);
	run->g = peer_ice_glib_new(run->base, &rc);
	assert_non_null(run->g);
	assert_int_equal(rc, 0);
	run->start_ms[0] = 50;    /* after gathering started */
	run->start_ms[1] = 150;   /* after some of side 0's candidates arrived */
	run->window = 256;
	sides_new(run, conf0, conf1);
	run->tick = event_new(run->base, -1, EV_PERSIST, on_tick, run);
	event_add(run->tick, &tv);
}

static void run_free(struct run *run)
{
	sides_free(run);
	event_free(run->tick);
	peer_ice_glib_free(run->g);
	event_base_free(run->base);
}

static bool run_until(struct run *run, bool (*done)(struct run *), int64_t ms)
{
	int64_t end = bw_now_ms() + ms;

	while (!done(run)) {
		if (bw_now_ms() > end)
			return false;
		event_base_loop(run->base, EVLOOP_ONCE);
	}
	return true;
}

static bool both_selected(struct run *run)
{
	return run->s[0].n_selected && run->s[1].n_selected;
}

static bool both_failed(struct run *run)
{
	return run->s[0].n_failed && run->s[1].n_failed;
}

static bool exchanged(struct run *run)
{
	return run->s[0].recv == run->total && run->s[1].recv == run->total;
}

static bool never(struct run *run)
{
	return false;
}

static const char *const loopback[] = { "127.0.0.1", NULL };

static struct peer_ice_conf conf_lo(bool controlling)
{
	struct peer_ice_conf c = { .controlling = controlling, .local_addrs = loopback,
				   .check_timeout_ms = 5000 };
	return c;
}

static void start_exchange(struct run *run, uint64_t total)
{
	run->total = total;
	for (int i = 0; i < 2; i++) {
		run->s[i].seen = calloc(total, 1);
		assert_non_null(run->s[i].seen);
	}
	run->exchanging = true;
	pump(&run->s[0]);
	pump(&run->s[1]);
}

static void test_peer_ice_selected_loopback(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;
	struct peer_ice_stats st;

	run_init(&run, &c0, &c1);
	assert_true(run_until(&run, both_selected, 5000));
	for (int i = 0; i < 2; i++) {
		struct side *s = &run.s[i];
		char l[BW_ADDR_STRLEN], r[BW_ADDR_STRLEN];

		bw_addr_format((struct sockaddr *)&s->pair.local, l, sizeof(l));
		bw_addr_format((struct sockaddr *)&s->pair.remote, r, sizeof(r));
		print_message("side %d: %s %s <-> %s %s after %lld ms (%u local, %u remote)\n", i,
			      peer_ice_type_name(s->pair.local_type), l,
			      peer_ice_type_name(s->pair.remote_type), r,
			      (long long)s->pair.elapsed_ms, s->pair.n_local, s->pair.n_remote);
		assert_true(s->gathered);
		assert_true(s->n_cands >= 1);
		assert_true(s->pair.elapsed_ms >= 0 && s->pair.elapsed_ms < 5000);
		assert_int_equal(s->pair.local.ss_family, AF_INET);
		assert_int_equal(s->pair.local_type, PEER_ICE_HOST);
		assert_int_equal(s->n_failed, 0);
	}
	start_exchange(&run, 10000);
	assert_true(run_until(&run, exchanged, 20000));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(run.s[i].bad, 0);
		assert_int_equal(run.s[i].sent, 10000);
		peer_ice_stats(run.s[i].ice, &st);
		assert_int_equal(st.sent, 10000);
		assert_int_equal(st.recv, 10000);
		assert_int_equal(st.recv_dropped, 0);
	}
	run_free(&run);
}

/* peer_ice_sendv: runs of equal sizes (sent as UDP GSO buffers where the
 * kernel allows), shorter datagrams ending a run, and single ones all arrive
 * as the datagrams they were, in order. */
static void test_peer_ice_sendv_batches(void **state)
{
	static const size_t sizes[] = {
		1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 1200, 700, 1200, 1200, 1200,
		100, 100, 1500, 1, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500,
		1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500,
		1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500, 1500,
		1500, 1500, 1500, 1500, 1500, 1499, 64,
	};
	static uint8_t bufs[BW_ARRAY_LEN(sizes)][PEER_ICE_DGRAM_MAX];
	struct iovec v[BW_ARRAY_LEN(sizes)];
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct peer_ice_stats st;
	struct side *rx;
	struct run run;
	size_t k = 0;
	int rc;

	assert_true(BW_ARRAY_LEN(sizes) <= PEER_ICE_BATCH_MAX);
	for (size_t i = 0; i < BW_ARRAY_LEN(sizes); i++) {
		for (size_t j = 0; j < sizes[i]; j++)
			bufs[i][j] = (uint8_t)(i + j);
		v[i].iov_base = bufs[i];
		v[i].iov_len = sizes[i];
	}
	run_init(&run, &c0, &c1);
	assert_true(run_until(&run, both_selected, 5000));
	run.capture = true;
	rx = &run.s[1];
	while (k < BW_ARRAY_LEN(sizes)) {
		rc = peer_ice_sendv(run.s[0].ice, v + k, BW_ARRAY_LEN(sizes) - k);
		assert_true(rc > 0 || rc == -EAGAIN);
		if (rc > 0)
			k += (size_t)rc;
		event_base_loop(run.base, EVLOOP_NONBLOCK);
	}
	for (int i = 0; i < 200 && rx->n_got < BW_ARRAY_LEN(sizes); i++)
		event_base_loop(run.base, EVLOOP_ONCE);
	assert_int_equal(rx->n_got, BW_ARRAY_LEN(sizes));
	assert_int_equal(rx->got_bad, 0);
	for (size_t i = 0; i < BW_ARRAY_LEN(sizes); i++) {
		assert_int_equal(rx->got_len[i], sizes[i]);
		assert_int_equal(rx->got_first[i], (uint8_t)i);
	}
	peer_ice_stats(run.s[0].ice, &st);
	assert_int_equal(st.sent, BW_ARRAY_LEN(sizes));
	print_message("%llu GSO buffers\n", (unsigned long long)st.gso_sends);
	/* Loopback takes GSO on every kernel since 4.18: the runs above went
	 * as GSO buffers, not through libnice one by one. */
	assert_true(st.gso_sends >= 3);
	/* Too big, and empty, are refused whole. */
	v[0].iov_len = PEER_ICE_DGRAM_MAX + 1;
	assert_int_equal(peer_ice_sendv(run.s[0].ice, v, 2), BW_E_TOO_BIG);
	v[0].iov_len = 0;
	assert_int_equal(peer_ice_sendv(run.s[0].ice, v, 2), BW_E_TOO_BIG);
	run_free(&run);
}

/* Free one agent from inside its own recv callback, with libnice still in
 * its receive loop and more datagrams in the socket, and the other while the
 * peer's last batch is in flight: no callback after free, no leak. */
static void test_peer_ice_free_with_events_in_flight(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;

	run_init(&run, &c0, &c1);
	assert_true(run_until(&run, both_selected, 5000));
	run.s[0].free_after = 300;          /* side 0 frees itself mid-batch */
	start_exchange(&run, 1000);
	assert_true(run_until(&run, exchanged, 200) == false);
	assert_true(run.s[0].freed);
	/* Side 1 frees itself while side 0's last batch is still in flight. */
	peer_ice_free(run.s[1].ice);
	run.s[1].freed = true;
	run_until(&run, never, 300);
	assert_int_equal(run.s[0].recv_after_free, 0);
	assert_int_equal(run.s[1].recv_after_free, 0);
	run_free(&run);
}

/* Free agents while they gather (candidate events queued) and right after
 * creation; then free the GLib side with nothing pending. */
static void test_peer_ice_free_while_gathering(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;

	run_init(&run, &c0, &c1);
	for (int i = 0; i < 2; i++) {
		peer_ice_free(run.s[i].ice);
		run.s[i].freed = true;
	}
	run_until(&run, never, 100);
	assert_int_equal(run.s[0].n_cands + run.s[1].n_cands, 0);
	run_free(&run);
	peer_ice_free(NULL);
	peer_ice_glib_free(NULL);
}

static void test_peer_ice_cand_parse_table(void **state)
{
	static const struct { const char *line; int rc; } cases[] = {
		{ "candidate:1 1 UDP 2013266431 192.0.2.7 40112 typ host", 0 },
		{ "candidate:2 1 udp 1677721855 203.0.113.6 40112 typ srflx raddr 10.1.0.2 rport 5000", 0 },
		{ "candidate:a+/Z 1 UDP 1 2001:db8::1 9 typ prflx", 0 },
		{ "candidate:3 1 UDP 4294967295 198.51.100.1 65535 typ relay raddr 0.0.0.0 rport 0", 0 },
		{ "a=candidate:1 1 UDP 2013266431 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 2 UDP 2013266431 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 TCP 2013266431 192.0.2.7 40112 typ host tcptype passive", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 4294967296 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 0 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 01 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP -1 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 0 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 65536 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 host.example 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 abcd.local 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 0.0.0.0 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 224.0.0.1 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 [2001:db8::1] 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 fe80::1%eth0 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 40112 typ foo", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 40112 typ", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 40112", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 40112 typ host ", BW_E_ICE_CANDIDATE },
		{ "candidate:1  1 UDP 1 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ " candidate:1 1 UDP 1 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 40112 typ host generation 0", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 40112 typ host raddr 10.0.0.1 rport 1", BW_E_ICE_CANDIDATE },
		{ "candidate:2 1 UDP 1 192.0.2.7 40112 typ srflx raddr 10.0.0.1", BW_E_ICE_CANDIDATE },
		{ "candidate:2 1 UDP 1 192.0.2.7 40112 typ srflx rport 1 raddr 10.0.0.1", BW_E_ICE_CANDIDATE },
		{ "candidate:2 1 UDP 1 192.0.2.7 40112 typ srflx raddr 10.0.0.1 rport 1 x", BW_E_ICE_CANDIDATE },
		{ "candidate:1-2 1 UDP 1 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:123456789012345678901234567890123 1 UDP 1 192.0.2.7 1 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate: 1 UDP 1 192.0.2.7 40112 typ host", BW_E_ICE_CANDIDATE },
		{ "candidate:1 1 UDP 1 192.0.2.7 40112 typ host\r", BW_E_ICE_CANDIDATE },
		{ "garbage", BW_E_ICE_CANDIDATE },
		{ "", BW_E_ICE_CANDIDATE },
	};
	struct peer_ice_cand c;
	char longline[PEER_ICE_LINE_MAX + 2];

	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		int rc = peer_ice_cand_parse(cases[i].line, strlen(cases[i].line), &c);

		if (rc != cases[i].rc)
			fail_msg("case %zu \"%s\": %d, expected %d", i, cases[i].line, rc, cases[i].rc);
	}
	const char *srflx = "candidate:2 1 UDP 7 203.0.113.6 40112 typ srflx raddr 10.1.0.2 rport 5000";

	assert_int_equal(peer_ice_cand_parse(srflx, strlen(srflx), &c), 0);
	assert_int_equal(c.type, PEER_ICE_SRFLX);
	assert_int_equal(c.priority, 7);
	assert_true(c.has_raddr);
	assert_int_equal(ntohs(((struct sockaddr_in *)&c.addr)->sin_port), 40112);
	assert_int_equal(ntohs(((struct sockaddr_in *)&c.raddr)->sin_port), 5000);
	/* A NUL inside the given length, and a line over the limit. */
	assert_int_equal(peer_ice_cand_parse("candidate:1\0 1 UDP", 19, &c), BW_E_ICE_CANDIDATE);
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "candidate:", 10);
	assert_int_equal(peer_ice_cand_parse(longline, strlen(longline), &c), BW_E_ICE_CANDIDATE);
	assert_int_equal(peer_ice_cand_parse(NULL, 0, &c), BW_E_INVAL);
}

/* Garbage through the agent is refused and changes nothing. */
static void test_peer_ice_add_remote_garbage(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;
	char line[64];

	run_init(&run, &c0, &c1);
	assert_int_equal(peer_ice_add_remote(run.s[0].ice, "candidate:1 1 UDP 1 x 1 typ host"),
			 BW_E_ICE_CANDIDATE);
	assert_int_equal(peer_ice_add_remote(run.s[0].ice, "\x01\x02garbage"), BW_E_ICE_CANDIDATE);
	assert_int_equal(peer_ice_add_remote(run.s[0].ice, NULL), BW_E_INVAL);
	/* A family not gathered on is ignored, not an error. */
	c0.family = AF_INET;
	assert_int_equal(peer_ice_start(run.s[0].ice, "bad", "short"), BW_E_INVAL);
	assert_int_equal(peer_ice_start(run.s[0].ice, "abcd", "abcdefghijklmnopqrstu!"), BW_E_INVAL);
	/* The cap on remote candidates. */
	for (int i = 0; i < PEER_ICE_REMOTE_MAX; i++) {
		snprintf(line, sizeof(line), "candidate:%d 1 UDP 1 192.0.2.%d 1000 typ host", i, i + 1);
		assert_int_equal(peer_ice_add_remote(run.s[1].ice, line), 0);
	}
	assert_int_equal(peer_ice_add_remote(run.s[1].ice, line), BW_E_TOO_BIG);
	assert_int_equal(peer_ice_send(run.s[0].ice, (const uint8_t *)"x", 1), BW_E_AGAIN);
	assert_int_equal(peer_ice_remote_done(run.s[1].ice), 0);
	assert_int_equal(peer_ice_add_remote(run.s[0].ice, NULL), BW_E_INVAL);
	run_free(&run);
}

/* Side 0 has a wrong password for side 1: its checks are refused (401) and
 * it never nominates; both end in failed by the check timeout. */
static void test_peer_ice_failed_wrong_credentials(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;

	c0.check_timeout_ms = c1.check_timeout_ms = 2000;
	run_init(&run, &c0, &c1);
	run.wrong_pwd = true;
	assert_true(run_until(&run, both_failed, 4000));
	for (int i = 0; i < 2; i++) {
		print_message("side %d failed after %lld ms: %s\n", i, (long long)run.s[i].fail_ms,
			      bw_strerror(run.s[i].fail_rc));
		assert_int_equal(run.s[i].n_selected, 0);
		assert_true(run.s[i].fail_rc == BW_E_TIMEOUT || run.s[i].fail_rc == BW_E_ICE_FAILED);
		assert_true(run.s[i].fail_ms <= run.start_ms[i] + 2000 + 300);
		/* Terminal: late trickle and sends are refused. */
		assert_int_equal(peer_ice_add_remote(run.s[i].ice,
				"candidate:9 1 UDP 1 192.0.2.9 1000 typ host"), BW_E_CLOSED);
		assert_int_equal(peer_ice_send(run.s[i].ice, (const uint8_t *)"x", 1), BW_E_CLOSED);
	}
	run_until(&run, never, 200);
	assert_int_equal(run.s[0].n_failed + run.s[1].n_failed, 2);
	run_free(&run);
}

static void test_peer_ice_failed_no_remote_candidates(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;

	c0.check_timeout_ms = c1.check_timeout_ms = 1000;
	run_init(&run, &c0, &c1);
	run.no_cands = true;
	assert_true(run_until(&run, both_failed, 3000));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(run.s[i].fail_rc, BW_E_TIMEOUT);
		assert_true(run.s[i].fail_ms >= run.start_ms[i] + 1000 - 20);
		assert_true(run.s[i].fail_ms <= run.start_ms[i] + 1000 + 300);
	}
	run_free(&run);
}

/* keepalive_s = 1 on an idle selected pair: our Binding indications go out
 * and the peer's libnice consumes them (no datagram reaches recv). */
static void test_peer_ice_keepalive_idle(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct peer_ice_stats st[2];
	struct run run;

	c0.keepalive_s = c1.keepalive_s = 1;
	run_init(&run, &c0, &c1);
	assert_true(run_until(&run, both_selected, 5000));
	run_until(&run, never, 2600);
	for (int i = 0; i < 2; i++) {
		peer_ice_stats(run.s[i].ice, &st[i]);
		assert_true(st[i].keepalives >= 2);
		assert_int_equal(run.s[i].recv, 0);
		assert_int_equal(run.s[i].n_failed, 0);
	}
	run_free(&run);
}

/* With a STUN server (nat/'s, on loopback) gathering asks it and finishes;
 * the reflexive address equals the host one there, so libnice drops it. */
static void test_peer_ice_gather_with_stun(void **state)
{
	struct nat_stun_server_conf sc = { 0 };
	struct nat_stun_server *srv;
	struct nat_stun_stats st;
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct sockaddr_in *a = (struct sockaddr_in *)&sc.addr;
	struct run run;
	int rc;

	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	run_init(&run, &c0, &c1);   /* agents made without STUN: replace side 0 */
	peer_ice_free(run.s[0].ice);
	srv = nat_stun_server_new(run.base, &sc, &rc);
	assert_non_null(srv);
	assert_int_equal(nat_stun_server_addr(srv, 0, &c0.stun), 0);
	run.s[0].ice = peer_ice_new(run.g, &c0, &cbs, &run.s[0], &rc);
	assert_non_null(run.s[0].ice);
	assert_int_equal(peer_ice_local_credentials(run.s[0].ice, run.s[0].ufrag, run.s[0].pwd), 0);
	assert_int_equal(peer_ice_gather(run.s[0].ice), 0);
	assert_true(run_until(&run, both_selected, 5000));
	nat_stun_server_stats(srv, &st);
	assert_true(st.requests >= 1);
	assert_true(run.s[0].gathered);
	run_free(&run);
	nat_stun_server_free(srv);
}

static void test_peer_ice_new_invalid(void **state)
{
	struct event_base *base = event_base_new();
	struct peer_ice_glib *g;
	struct peer_ice_conf c = conf_lo(true);
	const char *const bad_addr[] = { "not-an-address", NULL };
	int rc;

	assert_null(peer_ice_glib_new(NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	g = peer_ice_glib_new(base, &rc);
	assert_non_null(g);
	c.family = AF_UNIX;
	assert_null(peer_ice_new(g, &c, &cbs, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	c = conf_lo(true);
	c.port_min = 2000;
	c.port_max = 1000;
	assert_null(peer_ice_new(g, &c, &cbs, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	c = conf_lo(true);
	c.keepalive_s = 61;
	assert_null(peer_ice_new(g, &c, &cbs, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	c = conf_lo(true);
	c.local_addrs = bad_addr;
	assert_null(peer_ice_new(g, &c, &cbs, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	c = conf_lo(true);
	c.stun.ss_family = AF_INET;  /* port 0 */
	assert_null(peer_ice_new(g, &c, &cbs, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	peer_ice_glib_free(g);
	event_base_free(base);
}

static const char *const loopback6[] = { "::1", NULL };

static void test_peer_ice_selected_ipv6(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;

	c0.local_addrs = c1.local_addrs = loopback6;
	run_init(&run, &c0, &c1);
	assert_true(run_until(&run, both_selected, 5000));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(run.s[i].pair.local.ss_family, AF_INET6);
		assert_int_equal(run.s[i].pair.remote.ss_family, AF_INET6);
	}
	start_exchange(&run, 1000);
	assert_true(run_until(&run, exchanged, 10000));
	assert_int_equal(run.s[0].bad + run.s[1].bad, 0);
	run_free(&run);
}

/* A pair freed and a new one made on the same GLib side: its sockets (maybe
 * with the old ones' descriptor numbers) are watched, it selects and moves
 * datagrams. */
static void test_peer_ice_new_pair_after_free(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;

	run_init(&run, &c0, &c1);
	assert_true(run_until(&run, both_selected, 5000));
	start_exchange(&run, 1000);
	assert_true(run_until(&run, exchanged, 10000));
	for (int round = 0; round < 3; round++) {
		sides_free(&run);
		sides_new(&run, &c0, &c1);
		assert_true(run_until(&run, both_selected, 5000));
		start_exchange(&run, 1000);
		assert_true(run_until(&run, exchanged, 10000));
		assert_int_equal(run.s[0].bad + run.s[1].bad, 0);
	}
	run_free(&run);
}

/* The controlled side learns its peer's credentials 1 s late. The
 * controlling side is selected as soon as the controlled one answers its
 * checks (with its own password); the controlled side once it can run its
 * own triggered check. Both then move datagrams. */
static void test_peer_ice_start_late_controlled(void **state)
{
	struct peer_ice_conf c0 = conf_lo(true), c1 = conf_lo(false);
	struct run run;

	run_init(&run, &c0, &c1);
	run.start_ms[1] = 1000;
	assert_true(run_until(&run, both_selected, 5000));
	run_until(&run, never, 1100);   /* past side 1's start */
	assert_true(run.s[1].started);
	print_message("controlled side selected %s its start\n",
		      run.s[1].pair.elapsed_ms == 0 ? "before" : "after");
	assert_int_equal(run.s[0].n_failed + run.s[1].n_failed, 0);
	start_exchange(&run, 1000);
	assert_true(run_until(&run, exchanged, 10000));
	run_free(&run);
}

int bench_main(int argc, char **argv);
int probe_main(int argc, char **argv);

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peer_ice_cand_parse_table),
		cmocka_unit_test(test_peer_ice_new_invalid),
		cmocka_unit_test(test_peer_ice_selected_loopback),
		cmocka_unit_test(test_peer_ice_sendv_batches),
		cmocka_unit_test(test_peer_ice_free_with_events_in_flight),
		cmocka_unit_test(test_peer_ice_free_while_gathering),
		cmocka_unit_test(test_peer_ice_add_remote_garbage),
		cmocka_unit_test(test_peer_ice_failed_wrong_credentials),
		cmocka_unit_test(test_peer_ice_failed_no_remote_candidates),
		cmocka_unit_test(test_peer_ice_keepalive_idle),
		cmocka_unit_test(test_peer_ice_gather_with_stun),
		cmocka_unit_test(test_peer_ice_selected_ipv6),
		cmocka_unit_test(test_peer_ice_new_pair_after_free),
		cmocka_unit_test(test_peer_ice_start_late_controlled),
	};

	if (argc > 1 && strcmp(argv[1], "bench") == 0)
		return bench_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "probe") == 0)
		return probe_main(argc - 1, argv + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "test_peer_ice_tools.h"
