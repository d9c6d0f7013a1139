/*
 * The "quic" stream transport engine (peer/tp.h): ngtcp2 0.12, sans I/O.
 *
 * Streams are QUIC bidirectional streams; either side may open them. QUIC
 * gives each stream its own flow control, half-close and reset, and gives the
 * association SACK-style loss recovery, pacing and CUBIC or BBR congestion
 * control, which is what holds up on lossy internet paths.
 *
 * Security: QUIC's packet protection and TLS handshake are replaced by null
 * ones (tp_quic_crypto.c explains why that is safe). In short, every packet
 * this engine emits or accepts travels inside the session's datagram crypto,
 * which provides confidentiality, integrity, replay protection and forward
 * secrecy; QUIC here provides reliability, flow and congestion control only.
 *
 * Files: this one has the operations, the callbacks to the session, output
 * and pacing; tp_quic_stream.c the buffers and the life of a stream;
 * tp_quic_crypto.c the connection, the null packet protection and the
 * handshake.
 *
 * Buffers, and why each is bounded:
 * - send: per stream, the bytes written and not yet acknowledged, in 16 KiB
 *   chunks that never move (ngtcp2 keeps pointers into them until the ACK).
 *   At most max(stream window, 256 KiB) per stream: no more can be in flight
 *   than the peer's window (the same size), which is what a long fat path
 *   needs; the session refills it as stream_writable reports room.
 * - receive: per stream, bytes delivered by ngtcp2 and not yet read, at most
 *   the stream window (QUIC flow control enforces it). Reading extends the
 *   stream's window. The connection window W is extended when bytes arrive,
 *   not when they are read, as long as the unread total stays under 2 W: a
 *   stream nobody reads then stalls only itself (up to five stalled streams at
 *   the default windows), and at most 3 W is ever buffered (q_conn_credit).
 *
 * Callbacks to the session are queued while inside ngtcp2 and delivered when
 * the engine is back at its top level (settle()), so the session may call
 * back into the engine from any callback.
 *
 * Known limit of ngtcp2 0.12.1: a peer whose packet numbers go backwards in
 * a way no network reordering produces (a lower-numbered packet
 * acknowledging one of ours sent in reply to a higher-numbered packet) makes
 * it abort on an assertion in its ACK encoder. Only a peer holding the
 * session's keys can send such packets (found by, and avoided in,
 * tests/fuzz/fuzz_peer_tp_quic.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"
#include "peer/tp_quic_int.h"

#define Q_DEFAULT_STREAM_WINDOW (8u << 20)
#define Q_DEFAULT_CONN_WINDOW (16u << 20)
#define Q_DEFAULT_IDLE_US (30ull * 1000000u)
#define Q_MIN_SNDBUF (256u << 10)
#define Q_MAX_STREAMS 256      /* concurrent bidi streams each side may open */
#define Q_SETTLE_ROUNDS 64     /* bound on callback ping-pong per call */
#define Q_PACE_CATCHUP (4 * NGTCP2_MILLISECONDS) /* most a late pacer makes up */
/* Congestion control by default: BBR v2. bench/p2p/transport.sh (medians,
 * Mbit/s): at 20 ms RTT and 1 % loss, kernel TCP CUBIC 6.9 and BBR 527;
 * quic with cubic 9.0 (loss-based control collapses on lossy paths), bbr
 * 525, bbr2 449; at 80 ms and 1 %, TCP BBR 136, quic bbr 180, bbr2 222.
 * BBR v2 also queued less (smoothed RTT 21.5 against 23-28 ms at 20 ms)
 * and, over a one-BDP drop-tail buffer in simulation, dropped ~8 times
 * fewer of its own packets (test_bench_sim_path). */
#define Q_DEFAULT_CC "bbr2"

/* --- Events to the session ---------------------------------------------------- */

void q_ev_push(struct peer_tp *tp, uint8_t type, uint64_t id, int rc)
{
	if (tp->nev == tp->evcap) {
		size_t cap = tp->evcap ? tp->evcap * 2 : 16;
		struct q_ev *ev = realloc(tp->ev, cap * sizeof(*ev));

		if (!ev) {
			/* Losing an event would hang a stream: treat as fatal. */
			q_die(tp, BW_E_NOMEM);
			return;
		}
		tp->ev = ev;
		tp->evcap = cap;
	}
	tp->ev[tp->nev++] = (struct q_ev){.type = type, .id = id, .rc = rc};
}

void q_die(struct peer_tp *tp, int rc)
{
	if (tp->dead)
		return;
	tp->dead = true;
	tp->dead_rc = rc;
}

void q_ready(struct peer_tp *tp)
{
	if (!tp->up) {
		tp->up = true;
		q_ev_push(tp, Q_EV_READY, 0, 0);
	}
}

/* --- Output ---------------------------------------------------------------------- */

/* Up to max vectors of the unsent bytes; *all says whether they cover all. */
static size_t send_vecs(const struct q_stream *s, ngtcp2_vec *v, size_t max, bool *all)
{
	const struct q_chunk *c = s->sc;
	size_t off = s->soff, n = 0;
	uint64_t left = s->unsent;

	while (left && c && n < max) {
		size_t avail = c->len - off;

		if (avail > left)
			avail = (size_t)left;
		if (avail) {
			v[n].base = (uint8_t *)c->data + off;
			v[n].len = avail;
			n++;
			left -= avail;
		}
		c = c->next;
		off = 0;
	}
	*all = left == 0;
	return n;
}

static void sent_advance(struct q_stream *s, size_t k)
{
	s->unsent -= k;
	s->tp->bytes_sent += k;
	while (k) {
		size_t avail = s->sc->len - s->soff;

		if (k < avail) {
			s->soff += k;
			break;
		}
		k -= avail;
		s->soff = s->sc->len;
		if (s->sc->next) {
			s->sc = s->sc->next;
			s->soff = 0;
		}
	}
}

static void sent_account(struct q_stream *s, ngtcp2_ssize pdl, bool fin_offered)
{
	if (pdl > 0)
		sent_advance(s, (size_t)pdl);
	if (fin_offered && pdl >= 0 && s->unsent == 0)
		s->fin_sent = true;
	if (s->unsent == 0 && (!s->fin_queued || s->fin_sent))
		q_ring_remove(s);
}

static struct q_stream *next_sender(struct peer_tp *tp, uint32_t round)
{
	struct q_stream *s = tp->ring;

	if (!s)
		return NULL;
	do {
		if (s->skip_round != round)
			return s;
		s = s->anext;
	} while (s != tp->ring);
	return NULL;
}

/* The congestion controller's pacing rate in bytes per ns, or, when it sets
 * none, RFC 9002's 1.25 cwnd / srtt, as ngtcp2 itself computes it. */
static double pace_rate(struct peer_tp *tp)
{
	ngtcp2_conn_stat cs;

	ngtcp2_conn_get_conn_stat(tp->conn, &cs);
	if (cs.pacing_rate > 0)
		return cs.pacing_rate;
	return cs.smoothed_rtt ? (double)cs.cwnd * 1.25 / (double)cs.smoothed_rtt : 0;
}

/*
 * Emit packets until ngtcp2 has nothing more, the congestion window says
 * stop, or the pacer's credit is spent; streams take turns, one packet each.
 *
 * Pacing: ngtcp2 0.12 computes a pacing rate but does not enforce it
 * (writev_stream writes whenever asked, and every arriving ACK would release
 * another burst), so the engine paces with a token bucket: credit accrues at
 * the pacing rate, up to one send quantum plus Q_PACE_CATCHUP of sending;
 * any wakeup (ACK, timer, the session writing) spends what has accrued, and
 * while data waits the deadline is when a quantum's worth will have. A token
 * bucket keeps the rate whatever the timer's granularity: libevent's epoll
 * backend rounds timers up to whole milliseconds, and a pacer that only
 * waits for "the next send time" then falls below its rate, which BBR
 * measures as the path's rate and paces lower still (seen in the lab: 90
 * instead of 300 Mbit/s). With no credit, a due ngtcp2 timer (ACK, loss,
 * PTO) still sends one packet, carrying stream data if any waits: a packet
 * without stream data while data waits would make ngtcp2 count the sender as
 * application-limited, and BBR would never leave STARTUP.
 */
static void flush(struct peer_tp *tp)
{
	size_t maxpk, npk = 0, quantum;
	uint32_t round;
	double rate, cap;
	ngtcp2_pkt_info pi;

	if (!tp->conn || tp->dead)
		return;
	rate = pace_rate(tp);
	quantum = ngtcp2_conn_get_send_quantum(tp->conn);
	cap = (double)quantum + rate * (double)Q_PACE_CATCHUP;
	if (tp->ts > tp->credit_ts) {
		tp->credit += rate * (double)(tp->ts - tp->credit_ts);
		tp->credit_ts = tp->ts;
	}
	if (tp->credit > cap || rate <= 0)
		tp->credit = cap > (double)quantum ? cap : (double)quantum;
	maxpk = (size_t)(tp->credit / (double)tp->mtu);
	if (!maxpk) {
		if (ngtcp2_conn_get_expiry(tp->conn) > tp->ts)
			return;
		maxpk = 1;
	}
	round = ++tp->round;
	for (;;) {
		struct q_stream *s = next_sender(tp, round);
		ngtcp2_vec v[4];
		size_t nv = 0;
		bool all = true, fin = false;
		uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_NONE;
		int64_t sid = -1;
		ngtcp2_ssize pdl = -1, n;

		if (s) {
			sid = s->id;
			nv = send_vecs(s, v, BW_ARRAY_LEN(v), &all);
			fin = s->fin_queued && all;
			flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
		}
		n = ngtcp2_conn_writev_stream(tp->conn, NULL, &pi, tp->pkt, tp->mtu, &pdl, flags, sid,
					      nv ? v : NULL, nv, tp->ts);
		if (n == NGTCP2_ERR_WRITE_MORE) {
			sent_account(s, pdl, fin);
			continue;
		}
		if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
			s->skip_round = round;
			continue;
		}
		if (n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND) {
			/* The peer stopped the stream (STOP_SENDING) or it is gone. */
			q_ring_remove(s);
			s->unsent = 0;
			q_stream_abort(s);
			continue;
		}
		if (n < 0) {
			q_die(tp, q_liberr((int)n));
			return;
		}
		if (n == 0)
			break;
		if (s && pdl >= 0) {
			sent_account(s, pdl, fin);
			if (s->in_ring && tp->ring == s)
				tp->ring = s->anext;
		}
		tp->pkts_sent++;
		tp->credit -= (double)n;
		tp->cbs.output(tp->arg, tp->pkt, (size_t)n);
		if (++npk >= maxpk)
			break;
	}
	if (npk)
		ngtcp2_conn_update_pkt_tx_time(tp->conn, tp->ts);
	/* While data waits, come back when a quantum's worth has accrued. */
	tp->pace_ts = 0;
	if (tp->ring && rate > 0 && tp->credit < (double)quantum)
		tp->pace_ts = tp->ts + (ngtcp2_tstamp)(((double)quantum - tp->credit) / rate);
}

/* --- Top level: aborts, output, then callbacks ------------------------------ */

static void dispatch(struct peer_tp *tp)
{
	size_t i;

	for (i = 0; i < tp->nev && !tp->dead; i++) {
		struct q_ev ev = tp->ev[i];
		struct q_stream *s = ev.type == Q_EV_READY ? NULL : q_stream_find(tp, ev.id);

		switch (ev.type) {
		case Q_EV_READY:
			tp->cbs.ready(tp->arg, 0);
			break;
		case Q_EV_OPENED:
			if (s && tp->cbs.stream_opened)
				tp->cbs.stream_opened(tp->arg, ev.id);
			break;
		case Q_EV_READABLE:
			if (s && !s->closing && !s->abort_pending) {
				s->ev_readable = false;
				tp->cbs.stream_readable(tp->arg, ev.id);
			}
			break;
		case Q_EV_WRITABLE:
			if (s && !s->closing && !s->abort_pending && tp->cbs.stream_writable)
				tp->cbs.stream_writable(tp->arg, ev.id);
			break;
		case Q_EV_CLOSED:
			if (!s)
				break;
			q_stream_unmap(s);
			s->app = false;
			if (tp->cbs.stream_closed)
				tp->cbs.stream_closed(tp->arg, ev.id, ev.rc);
			q_stream_maybe_free(s);
			break;
		}
	}
	/* Events queued by the callbacks above go in the next round. */
	memmove(tp->ev, tp->ev + i, (tp->nev - i) * sizeof(*tp->ev));
	tp->nev -= i;
}

static void settle(struct peer_tp *tp)
{
	for (int i = 0; i < Q_SETTLE_ROUNDS && !tp->dead_told; i++) {
		if (tp->dead) {
			tp->dead_told = true;
			tp->nev = 0;
			tp->cbs.ready(tp->arg, tp->dead_rc);
			return;
		}
		q_process_aborts(tp);
		flush(tp);
		if (tp->dead)
			continue;
		if (!tp->nev && !tp->aborts)
			return;
		dispatch(tp);
	}
}

static void enter(struct peer_tp *tp)
{
	tp->depth++;
}

static void leave(struct peer_tp *tp)
{
	if (tp->depth == 1)
		settle(tp);
	tp->depth--;
}

/* --- Operations -------------------------------------------------------------------- */

static void quic_free(struct peer_tp *tp)
{
	if (!tp)
		return;
	while (tp->all) {
		struct q_stream *s = tp->all;

		tp->all = s->lnext;
		q_bq_clear(&s->snd);
		q_bq_clear(&s->rcv);
		free(s);
	}
	ngtcp2_conn_del(tp->conn); /* no key material anywhere: nothing to wipe */
	free(tp->ev);
	free(tp->pkt);
	free(tp);
}

/* conf.cc names; "bbr" is BBR v1, "bbr2" BBR v2 (ngtcp2 0.12 has both). */
static const struct {
	const char *name;
	ngtcp2_cc_algo algo;
} cc_algos[] = {
	{"cubic", NGTCP2_CC_ALGO_CUBIC},
	{"bbr", NGTCP2_CC_ALGO_BBR},
	{"bbr2", NGTCP2_CC_ALGO_BBR2},
	{"reno", NGTCP2_CC_ALGO_RENO},
};

static struct peer_tp *quic_new(const struct peer_tp_conf *conf, const struct peer_tp_cbs *cbs,
				void *arg, uint64_t now_us, int *rc)
{
	struct peer_tp *tp;

	if (!conf || !cbs || !cbs->output || !cbs->ready || !cbs->stream_readable ||
	    conf->mtu < NGTCP2_MAX_UDP_PAYLOAD_SIZE || conf->mtu > 65527) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	if (sodium_init() < 0) {
		*rc = BW_E_CRYPTO_INIT;
		return NULL;
	}
	tp = calloc(1, sizeof(*tp));
	if (tp)
		tp->pkt = malloc(conf->mtu);
	if (!tp || !tp->pkt) {
		if (tp)
			free(tp);
		*rc = BW_E_NOMEM;
		return NULL;
	}
	tp->cbs = *cbs;
	tp->arg = arg;
	tp->server = !conf->initiator;
	tp->mtu = conf->mtu;
	tp->stream_window = conf->stream_window ? conf->stream_window : Q_DEFAULT_STREAM_WINDOW;
	tp->conn_window = conf->conn_window ? conf->conn_window : Q_DEFAULT_CONN_WINDOW;
	tp->sndbuf = tp->stream_window > Q_MIN_SNDBUF ? tp->stream_window : Q_MIN_SNDBUF;
	tp->idle_us = conf->idle_timeout_us ? conf->idle_timeout_us : Q_DEFAULT_IDLE_US;
	tp->max_streams = Q_MAX_STREAMS;
	tp->cc = -1;
	for (size_t i = 0; i < BW_ARRAY_LEN(cc_algos); i++)
		if (strcmp(conf->cc ? conf->cc : Q_DEFAULT_CC, cc_algos[i].name) == 0)
			tp->cc = (int)cc_algos[i].algo;
	if (tp->cc < 0) {
		quic_free(tp);
		*rc = BW_E_INVAL;
		return NULL;
	}
	tp->now_us = now_us;
	tp->ts = now_us * 1000u;
	tp->start_us = now_us;
	if (!tp->server) {
		*rc = q_conn_client_new(tp);
		if (*rc) {
			quic_free(tp);
			return NULL;
		}
		tp->kick = true; /* the client speaks first, from the first timeout */
	}
	*rc = 0;
	return tp;
}

static void set_time(struct peer_tp *tp, uint64_t now_us)
{
	if (now_us > tp->now_us) {
		tp->now_us = now_us;
		tp->ts = now_us * 1000u;
	}
}

/* Outside a hold, each datagram settles at once (output, then callbacks). */
static int quic_input(struct peer_tp *tp, const uint8_t *pkt, size_t len, uint64_t now_us)
{
	int rc = 0, rv;

	if (tp->dead)
		return BW_E_CLOSED;
	enter(tp);
	set_time(tp, now_us);
	if (!tp->conn)
		rc = q_conn_server_new(tp, pkt, len);
	if (rc == 0) {
		rv = ngtcp2_conn_read_pkt(tp->conn, &tp->path.path, NULL, pkt, len, tp->ts);
		tp->pkts_recv++;
		if (rv != 0) {
			rc = q_liberr(rv);
			q_close(tp, rv);
		}
	}
	leave(tp);
	return rc;
}

static void quic_hold(struct peer_tp *tp)
{
	enter(tp);
}

static void quic_release(struct peer_tp *tp, uint64_t now_us)
{
	set_time(tp, now_us);
	leave(tp);
}

static uint64_t quic_deadline(const struct peer_tp *tp)
{
	ngtcp2_tstamp exp;
	uint64_t d;

	if (tp->dead_told)
		return PEER_TP_NONE;
	if (tp->kick || tp->dead || tp->nev || tp->aborts)
		return tp->now_us;
	if (!tp->conn) /* the owner waits for the visitor's first packet */
		return tp->start_us + tp->idle_us;
	exp = ngtcp2_conn_get_expiry(tp->conn);
	if (tp->ring && tp->pace_ts > tp->ts && tp->pace_ts < exp)
		exp = tp->pace_ts; /* stream data waits for the pacer */
	if (exp == UINT64_MAX)
		return PEER_TP_NONE;
	d = (exp + 999u) / 1000u; /* round up: at d, ngtcp2 sees it expired */
	return d;
}

static int quic_timeout(struct peer_tp *tp, uint64_t now_us)
{
	int rv;

	if (tp->dead_told)
		return BW_E_CLOSED;
	enter(tp);
	set_time(tp, now_us);
	tp->kick = false;
	if (!tp->conn) {
		if (now_us >= tp->start_us + tp->idle_us)
			q_die(tp, BW_E_TIMEOUT);
	} else if (!tp->dead) {
		rv = ngtcp2_conn_handle_expiry(tp->conn, tp->ts);
		if (rv != 0)
			q_close(tp, rv);
	}
	leave(tp);
	return 0;
}

static int quic_stream_open(struct peer_tp *tp, uint64_t *id)
{
	struct q_stream *s;
	int64_t sid;
	int rv;

	if (tp->dead)
		return BW_E_CLOSED;
	if (!tp->up)
		return -ENOTCONN;
	if (ngtcp2_conn_get_streams_bidi_left(tp->conn) == 0)
		return BW_E_BUSY;
	rv = ngtcp2_conn_open_bidi_stream(tp->conn, &sid, NULL);
	if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED)
		return BW_E_BUSY;
	if (rv != 0)
		return q_liberr(rv);
	s = q_stream_new(tp, sid, true);
	if (!s) {
		ngtcp2_conn_shutdown_stream(tp->conn, sid, Q_APP_ERROR);
		return BW_E_NOMEM;
	}
	ngtcp2_conn_set_stream_user_data(tp->conn, sid, s);
	*id = (uint64_t)sid;
	return 0;
}

/* The stream the session may use, or NULL with *rc set. */
static struct q_stream *stream_get(struct peer_tp *tp, uint64_t id, int *rc)
{
	struct q_stream *s;

	if (tp->dead) {
		*rc = BW_E_CLOSED;
		return NULL;
	}
	s = q_stream_find(tp, id);
	if (!s) {
		*rc = BW_E_NOT_FOUND;
		return NULL;
	}
	if (s->closing || s->abort_pending) {
		*rc = -ECONNRESET;
		return NULL;
	}
	return s;
}

static ssize_t quic_stream_write(struct peer_tp *tp, uint64_t id, const uint8_t *buf, size_t len)
{
	int rc;
	struct q_stream *s = stream_get(tp, id, &rc);
	uint64_t room;
	size_t n;

	if (!s)
		return rc;
	if (s->fin_queued || !s->ng)
		return -EPIPE;
	room = tp->sndbuf - s->snd.len;
	n = len < room ? len : (size_t)room;
	if (n < len)
		s->want_writable = true;
	if (!n)
		return 0;
	if (s->unsent == 0) {
		/* The cursor goes where the first new byte will land. */
		s->sc = q_bq_room(&s->snd);
		if (!s->sc)
			return BW_E_NOMEM;
		s->soff = s->sc->len;
	}
	n = q_bq_append(&s->snd, buf, n);
	if (!n)
		return BW_E_NOMEM;
	s->unsent += n;
	enter(tp);
	q_ring_add(s);
	leave(tp);
	return (ssize_t)n;
}

static int quic_stream_shutdown(struct peer_tp *tp, uint64_t id)
{
	int rc;
	struct q_stream *s = stream_get(tp, id, &rc);

	if (!s)
		return rc;
	if (s->fin_queued)
		return 0;
	if (!s->ng)
		return -EPIPE;
	s->fin_queued = true;
	s->want_writable = false;
	enter(tp);
	q_ring_add(s);
	leave(tp);
	return 0;
}

static ssize_t quic_stream_read(struct peer_tp *tp, uint64_t id, uint8_t *buf, size_t cap)
{
	int rc;
	struct q_stream *s = stream_get(tp, id, &rc);
	size_t n;

	if (!s)
		return rc;
	if (s->rcv.len == 0) {
		if (!s->fin_recv)
			return -EAGAIN;
		if (!s->eof_read) {
			s->eof_read = true;
			enter(tp);
			if (!s->ng)
				q_stream_closing(s, 0);
			leave(tp);
		}
		return 0;
	}
	n = q_bq_read(&s->rcv, buf, cap);
	tp->rx_unread -= n;
	enter(tp);
	if (s->ng)
		ngtcp2_conn_extend_max_stream_offset(tp->conn, s->id, n);
	q_conn_credit(tp);
	leave(tp);
	return (ssize_t)n;
}

static int quic_stream_reset(struct peer_tp *tp, uint64_t id)
{
	int rc;
	struct q_stream *s = stream_get(tp, id, &rc);

	if (!s)
		return rc;
	enter(tp);
	q_stream_abort(s);
	leave(tp);
	return 0;
}

static void quic_stats(const struct peer_tp *tp, struct peer_tp_stats *out)
{
	ngtcp2_conn_stat cs;
	const struct q_stream *s;

	memset(out, 0, sizeof(*out));
	out->pkts_sent = tp->pkts_sent;
	out->pkts_recv = tp->pkts_recv;
	out->bytes_sent = tp->bytes_sent;
	out->bytes_recv = tp->bytes_recv;
	out->pkts_lost = tp->lost_closed;
	if (!tp->conn)
		return;
	ngtcp2_conn_get_conn_stat(tp->conn, &cs);
	out->rtt_us = cs.smoothed_rtt / 1000u;
	out->cwnd = cs.cwnd;
	for (s = tp->all; s; s = s->lnext)
		if (s->ng)
			out->pkts_lost += ngtcp2_conn_get_stream_loss_count(tp->conn, s->id);
}

const struct peer_tp_ops peer_tp_quic_ops = {
	.name = "quic",
	.new = quic_new,
	.free = quic_free,
	.input = quic_input,
	.deadline = quic_deadline,
	.timeout = quic_timeout,
	.stream_open = quic_stream_open,
	.stream_write = quic_stream_write,
	.stream_shutdown = quic_stream_shutdown,
	.stream_read = quic_stream_read,
	.stream_reset = quic_stream_reset,
	.stats = quic_stats,
	.hold = quic_hold,
	.release = quic_release,
};
