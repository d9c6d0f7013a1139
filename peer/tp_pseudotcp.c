/*
 * Stream transport engine "pseudotcp": libnice's PseudoTcpSocket behind
 * peer/tp.h. A PROTOTYPE for the comparison in
 * docs/decisions/stream-transport.md, not a transport to ship: PseudoTcp has
 * no SACK, a 1 s minimum RTO and NewReno, and keeps its out-of-order segments
 * in a linked list searched per packet.
 *
 * PseudoTcp carries one byte stream per socket, so this engine multiplexes:
 * one PseudoTcpSocket per stream, each packet prefixed with a 5-byte header
 * (type, 32-bit stream id). The initiator opens even ids, the responder odd
 * ones. Packet types:
 *   HELLO / HELLO_ACK  the association: the initiator repeats HELLO until
 *                      answered; both sides are then ready
 *   SEG                a PseudoTcp segment of stream id (its SYN opens it)
 *   RST                stream id is gone: sent on a local reset and in answer
 *                      to a SEG for a stream that no longer exists
 *   PING               keeps the peer's idle timer fed when nothing else goes
 *
 * Half-close. PseudoTcp's FIN (its "FIN-ACK" extension) cannot carry a
 * half-close: once it received a FIN a socket cannot send any more. So each
 * stream's bytes are framed as records, a 16-bit big-endian length and the
 * bytes; a record of length 0 is this engine's FIN. When both FIN records
 * went (ours written, theirs read) the stream is closed for the application
 * and its socket is closed with PseudoTcp's own FIN exchange, then reaped.
 *
 * Time. PseudoTcp reads CLOCK_MONOTONIC itself (g_get_monotonic_time(), in
 * 32-bit milliseconds); Debian's libnice 0.1.21 does not export
 * pseudo_tcp_socket_set_time(). peer/tp.h's times are on the same clock, so
 * the deadlines this engine converts from PseudoTcp's agree with the
 * session's. The GLib object needs no main loop.
 *
 * Debian's libnice does not export pseudo_tcp_socket_get_available_send_space
 * either, so a write cannot know whether a record fits: when PseudoTcp takes
 * part of one, the rest waits in the stream's tail buffer (at most one
 * record) and goes first when PseudoTcp has room, so records stay whole.
 *
 * Windows. libnice's default is 60 KiB (a stream then runs at 60 KiB per
 * RTT: 23 Mbit/s at 20 ms). PseudoTcp's "rcv-buf" and "snd-buf" properties,
 * set before the SYN, give larger ones with window scaling; this engine uses
 * 256 KiB (conf.stream_window changes it). PseudoTcp allocates both buffers
 * whole when the socket is made, so a stream costs twice its window in
 * memory from the start; more CPU per byte showed only on the loopback-fast
 * path (4 MiB: +27 % CPU per Gbit), see the decision record.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nice/pseudotcp.h>

#include "common/err.h"
#include "peer/tp.h"

#define PT_HDR 5
#define PT_MTU_SLACK 92              /* PseudoTcp's assumed IP + UDP + Jingle bytes */
#define PT_WINDOW_DEFAULT (256u << 10)
#define PT_WINDOW_MIN 4096u
#define PT_WINDOW_MAX (64u << 20)
#define PT_RECORD_MAX 16384          /* payload of one record */
#define PT_IDLE_DEFAULT_US 30000000ull
#define PT_HELLO_RTX_US 250000u      /* HELLO resent, doubling up to 2 s */
#define PT_HELLO_RTX_MAX_US 2000000u
#define PT_ZOMBIE_MAX_US 60000000ull /* a closing socket's PseudoTcp FIN exchange */
#define PT_BUCKETS 64
#define PT_SEEN 4096                 /* peer ids remembered as used */
#define PT_SEG_HDR 24                /* PseudoTcp's header */
#define PT_SEG_FLAGS 13              /* its flags byte: 0x02 = control */

enum { PKT_HELLO = 1, PKT_HELLO_ACK = 2, PKT_SEG = 3, PKT_RST = 4, PKT_PING = 5 };
enum pt_state { PT_NEW, PT_HELLO, PT_UP, PT_DEAD };

struct pstream {
	struct peer_tp *tp;
	struct pstream *hnext;         /* hash bucket */
	struct pstream *evnext;
	uint32_t id;
	PseudoTcpSocket *sock;
	uint64_t clock_us;             /* the socket's next clock */
	bool local;                    /* we opened it */
	bool established;
	bool visible, app_done, queued;
	bool ev_opened, ev_readable, ev_writable;
	int ev_closed;                 /* 1 = closed(0), < 0 = closed(rc) */
	bool want_writable;
	/* records in */
	uint8_t hdr[2];
	unsigned hdr_have;
	uint32_t rec_left;
	bool rx_fin, eof_read;
	/* records out */
	uint8_t *tail;                 /* the part of a record PseudoTcp did not take */
	size_t tail_len, tail_off;
	bool fin_pending, fin_sent;
	bool closing;                  /* pseudo_tcp_socket_close() called */
	bool dead;                     /* reset or failed: reap */
	uint64_t closing_since;
};

struct peer_tp {
	struct peer_tp_conf conf;
	struct peer_tp_cbs cbs;
	void *arg;
	enum pt_state state;
	int dead_rc;
	bool ev_ready, dispatching, freeing, reap;
	uint64_t now_us, last_rx_us, last_tx_us, idle_us;
	uint64_t hello_at, hello_rtx;
	uint32_t window;
	uint32_t next_id;
	/* Which peer ids were used: max index (id / 2) and a bitmap of the
	 * PT_SEEN below it, so a late segment of a finished stream never opens
	 * it again and SYNs may arrive out of order. */
	uint32_t seen_max;
	bool peer_seen;
	uint64_t seen[PT_SEEN / 64];
	size_t nstreams;               /* streams with a socket, zombies too */
	struct pstream *buckets[PT_BUCKETS];
	struct pstream *evq, *evq_tail;
	struct peer_tp_stats st;
	uint8_t pkt[65536 + PT_HDR];
};

/* PseudoTcp's clock: CLOCK_MONOTONIC in milliseconds, cut to 32 bits. */
static uint32_t now_ms(const struct peer_tp *tp)
{
	return (uint32_t)(tp->now_us / 1000u);
}

static PseudoTcpSocket *sock_at(struct pstream *s)
{
	return s->sock;
}

static void send_pkt(struct peer_tp *tp, uint8_t type, uint32_t id, const void *body, size_t len)
{
	if (tp->freeing || PT_HDR + len > tp->conf.mtu)
		return;
	tp->pkt[0] = type;
	tp->pkt[1] = (uint8_t)(id >> 24);
	tp->pkt[2] = (uint8_t)(id >> 16);
	tp->pkt[3] = (uint8_t)(id >> 8);
	tp->pkt[4] = (uint8_t)id;
	if (len)
		memcpy(tp->pkt + PT_HDR, body, len);
	tp->st.pkts_sent++;
	tp->last_tx_us = tp->now_us;
	tp->cbs.output(tp->arg, tp->pkt, PT_HDR + len);
}

/* --- Streams ------------------------------------------------------------------ */

static struct pstream *find(struct peer_tp *tp, uint32_t id)
{
	for (struct pstream *s = tp->buckets[id % PT_BUCKETS]; s; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void ev_queue(struct pstream *s)
{
	struct peer_tp *tp = s->tp;

	if (s->queued)
		return;
	s->queued = true;
	s->evnext = NULL;
	if (tp->evq_tail)
		tp->evq_tail->evnext = s;
	else
		tp->evq = s;
	tp->evq_tail = s;
}

static void app_close(struct pstream *s, int rc)
{
	if (s->app_done)
		return;
	s->app_done = true;
	if (!s->visible)
		return;
	s->ev_closed = rc == 0 ? 1 : rc;
	ev_queue(s);
}

static void stream_free(struct pstream *s)
{
	struct peer_tp *tp = s->tp;
	struct pstream **pp = &tp->buckets[s->id % PT_BUCKETS];

	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	tp->nstreams--;
	g_object_unref(s->sock);
	free(s->tail);
	free(s);
}

/* Sends what the tail holds; true when it is empty. */
static bool tail_flush(struct pstream *s)
{
	gint r;

	if (s->tail_off == s->tail_len)
		return true;
	r = pseudo_tcp_socket_send(s->sock, (const char *)s->tail + s->tail_off,
				   (guint32)(s->tail_len - s->tail_off));
	if (r > 0)
		s->tail_off += (size_t)r;
	return s->tail_off == s->tail_len;
}

/* One whole record (len <= 2 + PT_RECORD_MAX) into the stream: true if
 * taken (what PseudoTcp did not take waits in the tail), false if nothing
 * was taken. */
static bool record_send(struct pstream *s, const uint8_t *rec, size_t len)
{
	gint r;

	if (!tail_flush(s))
		return false;
	r = pseudo_tcp_socket_send(s->sock, (const char *)rec, (guint32)len);
	if (r <= 0)
		return false;
	if ((size_t)r < len) {
		if (!s->tail && !(s->tail = malloc(2 + PT_RECORD_MAX)))
			return false;  /* cannot happen twice: the caller stops */
		memcpy(s->tail, rec + r, len - (size_t)r);
		s->tail_len = len - (size_t)r;
		s->tail_off = 0;
	}
	return true;
}

/* PseudoTcp's callbacks: note, act after the call returns. */
static void on_opened(PseudoTcpSocket *sock, gpointer data)
{
	struct pstream *s = data;

	s->established = true;
	if (!s->local && !s->app_done) {
		s->visible = true;
		s->ev_opened = true;
		ev_queue(s);
	}
	if (s->local && s->want_writable) {
		s->want_writable = false;
		s->ev_writable = true;
		ev_queue(s);
	}
}

static void on_readable(PseudoTcpSocket *sock, gpointer data)
{
	struct pstream *s = data;

	if (!s->app_done) {
		s->ev_readable = true;
		ev_queue(s);
	}
}

static void on_writable(PseudoTcpSocket *sock, gpointer data)
{
	struct pstream *s = data;

	if (s->want_writable && !s->app_done) {
		s->want_writable = false;
		s->ev_writable = true;
		ev_queue(s);
	}
	if (s->fin_pending)
		s->tp->reap = true;    /* flush it from the next pass */
}

static void on_closed(PseudoTcpSocket *sock, guint32 err, gpointer data)
{
	struct pstream *s = data;

	/* RST received (ECONNRESET), too many retransmissions (ETIMEDOUT),
	 * or our own forced close. */
	s->dead = true;
	s->tp->reap = true;
	app_close(s, -(int)(err ? err : ECONNRESET));
}

static PseudoTcpWriteResult on_write(PseudoTcpSocket *sock, const gchar *buf, guint32 len,
				     gpointer data)
{
	struct pstream *s = data;
	struct peer_tp *tp = s->tp;

	if (PT_HDR + (size_t)len > tp->conf.mtu)
		return WR_TOO_LARGE;
	send_pkt(tp, PKT_SEG, s->id, buf, len);
	return WR_SUCCESS;
}

static struct pstream *stream_new(struct peer_tp *tp, uint32_t id, bool local)
{
	PseudoTcpCallbacks cb = {
		.PseudoTcpOpened = on_opened,
		.PseudoTcpReadable = on_readable,
		.PseudoTcpWritable = on_writable,
		.PseudoTcpClosed = on_closed,
		.WritePacket = on_write,
	};
	struct pstream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	cb.user_data = s;
	s->sock = pseudo_tcp_socket_new(id, &cb);
	if (!s->sock) {
		free(s);
		return NULL;
	}
	s->tp = tp;
	s->id = id;
	s->local = local;
	/* Windows must be set before the SYN: PseudoTcp scales them then. No
	 * Nagle: the session forwards what the application wrote. */
	g_object_set(s->sock, "rcv-buf", (guint)tp->window, "snd-buf", (guint)tp->window,
		     "no-delay", TRUE, NULL);
	/* PseudoTcp sizes segments as the advised MTU less 92 bytes of IP, UDP
	 * and Jingle headers; ask for what our packet limit allows. */
	pseudo_tcp_socket_notify_mtu(s->sock,
				     (guint16)(tp->conf.mtu - PT_HDR + PT_MTU_SLACK > 65535
						       ? 65535
						       : tp->conf.mtu - PT_HDR + PT_MTU_SLACK));
	s->hnext = tp->buckets[id % PT_BUCKETS];
	tp->buckets[id % PT_BUCKETS] = s;
	tp->nstreams++;
	return s;
}

/* Writes the FIN record once the stream has room. */
static void fin_flush(struct pstream *s)
{
	static const uint8_t fin[2] = {0, 0};

	if (!s->fin_pending || !s->established || s->dead)
		return;
	if (!record_send(s, fin, sizeof(fin)))
		return;
	s->fin_pending = false;
	s->fin_sent = true;
}

/* Closed for the application, then PseudoTcp's own close; reap later. */
static void stream_progress(struct pstream *s)
{
	if (s->established && !s->dead)
		tail_flush(s);
	fin_flush(s);
	if (s->fin_sent && s->tail_off == s->tail_len && s->eof_read && !s->closing && !s->dead) {
		app_close(s, 0);
		s->closing = true;
		s->closing_since = s->tp->now_us;
		pseudo_tcp_socket_close(sock_at(s), FALSE);
	}
}

/* Next clock of every socket; reaps the finished ones. */
static void streams_sweep(struct peer_tp *tp, bool run_clocks)
{
	for (int b = 0; b < PT_BUCKETS; b++) {
		struct pstream *s = tp->buckets[b], *next;
		for (; s; s = next) {
			guint64 t = 0;
			next = s->hnext;
			if (run_clocks && !s->dead && s->clock_us <= tp->now_us)
				pseudo_tcp_socket_notify_clock(sock_at(s));
			stream_progress(s);
			if (s->closing && tp->now_us - s->closing_since > PT_ZOMBIE_MAX_US)
				s->dead = true;
			if (s->dead || !pseudo_tcp_socket_get_next_clock(sock_at(s), &t)) {
				if (s->app_done && !s->queued) {
					stream_free(s);
					continue;
				}
				s->dead = true;
				s->clock_us = PEER_TP_NONE;
				continue;
			}
			/* PseudoTcp's clock is 32-bit milliseconds. */
			int32_t d = (int32_t)((uint32_t)t - now_ms(tp));
			s->clock_us = d <= 0 ? tp->now_us : tp->now_us + (uint64_t)d * 1000u;
		}
	}
	tp->reap = false;
}

/* --- The association ------------------------------------------------------------ */

static void die(struct peer_tp *tp, int rc)
{
	if (tp->state == PT_DEAD)
		return;
	tp->state = PT_DEAD;
	tp->dead_rc = rc;
	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pstream *s = tp->buckets[b]; s; s = s->hnext)
			app_close(s, rc);
	tp->ev_ready = true;
}

static void set_up(struct peer_tp *tp)
{
	if (tp->state == PT_HELLO || tp->state == PT_NEW) {
		tp->state = PT_UP;
		tp->ev_ready = true;
	}
}

static void dispatch(struct peer_tp *tp)
{
	if (tp->dispatching || tp->freeing)
		return;
	tp->dispatching = true;
	while (tp->evq) {
		struct pstream *s = tp->evq;
		uint64_t id = s->id;
		tp->evq = s->evnext;
		if (!tp->evq)
			tp->evq_tail = NULL;
		s->queued = false;
		if (s->ev_opened) {
			s->ev_opened = false;
			if (tp->cbs.stream_opened)
				tp->cbs.stream_opened(tp->arg, id);
		}
		if (s->ev_readable && !s->ev_closed && !s->eof_read) {
			s->ev_readable = false;
			if (tp->cbs.stream_readable)
				tp->cbs.stream_readable(tp->arg, id);
		}
		if (s->ev_writable && !s->ev_closed) {
			s->ev_writable = false;
			if (tp->cbs.stream_writable)
				tp->cbs.stream_writable(tp->arg, id);
		}
		if (s->queued)
			continue;
		if (s->ev_closed) {
			int rc = s->ev_closed == 1 ? 0 : s->ev_closed;
			s->ev_closed = 0;
			s->ev_readable = s->ev_writable = false;
			tp->reap = true;
			if (tp->cbs.stream_closed)
				tp->cbs.stream_closed(tp->arg, id, rc);
		}
	}
	if (tp->ev_ready) {
		tp->ev_ready = false;
		if (tp->cbs.ready)
			tp->cbs.ready(tp->arg, tp->state == PT_DEAD ? tp->dead_rc : 0);
	}
	tp->dispatching = false;
}

static bool id_is_mine(const struct peer_tp *tp, uint32_t id)
{
	return (id & 1) == (tp->conf.initiator ? 0 : 1);
}

static bool peer_id_fresh(const struct peer_tp *tp, uint32_t id)
{
	uint32_t i = id >> 1;

	if (!tp->peer_seen || i > tp->seen_max)
		return true;
	if (tp->seen_max - i >= PT_SEEN)
		return false;
	return !(tp->seen[i % PT_SEEN / 64] >> (i % 64) & 1);
}

static void peer_id_mark(struct peer_tp *tp, uint32_t id)
{
	uint32_t i = id >> 1;

	if (tp->peer_seen && i > tp->seen_max) {
		for (uint32_t k = tp->seen_max + 1; k <= i && k - tp->seen_max <= PT_SEEN; k++)
			tp->seen[k % PT_SEEN / 64] &= ~(1ull << (k % 64));
	}
	if (!tp->peer_seen || i > tp->seen_max)
		tp->seen_max = i;
	tp->peer_seen = true;
	tp->seen[i % PT_SEEN / 64] |= 1ull << (i % 64);
}

static bool seg_is_syn(const uint8_t *seg, size_t len)
{
	return len > PT_SEG_HDR && (seg[PT_SEG_FLAGS] & 0x02) && seg[PT_SEG_HDR] == 0;
}

static void on_seg(struct peer_tp *tp, uint32_t id, const uint8_t *seg, size_t len)
{
	struct pstream *s = find(tp, id);

	if (!s) {
		/* Only the peer's SYN opens a stream, once; anything else is
		 * for a stream that is gone. */
		if (id_is_mine(tp, id) || !peer_id_fresh(tp, id) || !seg_is_syn(seg, len)) {
			send_pkt(tp, PKT_RST, id, NULL, 0);
			return;
		}
		if (!(s = stream_new(tp, id, false)))
			return die(tp, BW_E_NOMEM);
		peer_id_mark(tp, id);
	}
	if (s->dead)
		return;
	pseudo_tcp_socket_notify_packet(sock_at(s), (const gchar *)seg, (guint32)len);
	tp->reap = true;
}

static void on_rst(struct peer_tp *tp, uint32_t id)
{
	struct pstream *s = find(tp, id);

	if (!s || s->dead)
		return;
	s->dead = true;
	app_close(s, -ECONNRESET);
	tp->reap = true;
}

/* --- The operations ---------------------------------------------------------------- */

static struct peer_tp *pt_new(const struct peer_tp_conf *conf, const struct peer_tp_cbs *cbs,
			      void *arg, uint64_t now_us, int *rc)
{
	struct peer_tp *tp;
	size_t w;

	if (!conf || !cbs || !cbs->output || conf->mtu < 1200 || conf->mtu > 65535) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	/* PseudoTcp has one congestion control: NewReno. */
	if (conf->cc && strcmp(conf->cc, "reno") != 0) {
		*rc = BW_E_UNSUPPORTED;
		return NULL;
	}
	w = conf->stream_window ? conf->stream_window : PT_WINDOW_DEFAULT;
	if (w < PT_WINDOW_MIN || w > PT_WINDOW_MAX) {
		*rc = BW_E_RANGE;
		return NULL;
	}
	if (!(tp = calloc(1, sizeof(*tp)))) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	tp->conf = *conf;
	tp->conf.cc = NULL;
	tp->cbs = *cbs;
	tp->arg = arg;
	tp->window = (uint32_t)w;
	tp->now_us = tp->last_rx_us = tp->last_tx_us = now_us;
	tp->idle_us = conf->idle_timeout_us ? conf->idle_timeout_us : PT_IDLE_DEFAULT_US;
	tp->next_id = conf->initiator ? 0 : 1;
	tp->state = PT_NEW;        /* HELLO from the first timeout(), not from here */
	tp->hello_at = now_us;
	tp->hello_rtx = PT_HELLO_RTX_US;
	*rc = 0;
	return tp;
}

static void pt_free(struct peer_tp *tp)
{
	if (!tp)
		return;
	tp->freeing = true;
	for (int b = 0; b < PT_BUCKETS; b++)
		while (tp->buckets[b])
			stream_free(tp->buckets[b]);
	free(tp);
}

static void after(struct peer_tp *tp)
{
	if (tp->reap && tp->state != PT_DEAD)
		streams_sweep(tp, false);
	dispatch(tp);
	if (tp->reap && tp->state != PT_DEAD)
		streams_sweep(tp, false);
}

static int pt_input(struct peer_tp *tp, const uint8_t *pkt, size_t len, uint64_t now_us)
{
	uint32_t id;

	if (tp->state == PT_DEAD)
		return BW_E_CLOSED;
	if (now_us > tp->now_us)
		tp->now_us = now_us;
	if (len < PT_HDR)
		return BW_E_TRUNCATED;
	id = (uint32_t)pkt[1] << 24 | (uint32_t)pkt[2] << 16 | (uint32_t)pkt[3] << 8 | pkt[4];
	tp->last_rx_us = tp->now_us;
	tp->st.pkts_recv++;
	switch (pkt[0]) {
	case PKT_HELLO:
		if (tp->conf.initiator || len != PT_HDR)
			return BW_E_MSG_MALFORMED;
		set_up(tp);
		send_pkt(tp, PKT_HELLO_ACK, 0, NULL, 0);
		break;
	case PKT_HELLO_ACK:
		if (!tp->conf.initiator || len != PT_HDR)
			return BW_E_MSG_MALFORMED;
		set_up(tp);
		break;
	case PKT_SEG:
		if (tp->conf.initiator)
			set_up(tp);    /* the HELLO_ACK was lost; the peer is there */
		if (tp->state == PT_UP)
			on_seg(tp, id, pkt + PT_HDR, len - PT_HDR);
		break;
	case PKT_RST:
		if (len != PT_HDR)
			return BW_E_MSG_MALFORMED;
		on_rst(tp, id);
		break;
	case PKT_PING:
		break;
	default:
		return BW_E_MSG_UNKNOWN;
	}
	after(tp);
	return 0;
}

static int pt_timeout(struct peer_tp *tp, uint64_t now_us)
{
	if (now_us > tp->now_us)
		tp->now_us = now_us;
	if (tp->state != PT_DEAD) {
		if (tp->now_us - tp->last_rx_us >= tp->idle_us) {
			die(tp, BW_E_TIMEOUT);
		} else if (tp->state == PT_NEW || tp->state == PT_HELLO) {
			if (tp->conf.initiator && tp->now_us >= tp->hello_at) {
				send_pkt(tp, PKT_HELLO, 0, NULL, 0);
				tp->hello_at = tp->now_us + tp->hello_rtx;
				if (tp->hello_rtx < PT_HELLO_RTX_MAX_US)
					tp->hello_rtx *= 2;
			}
			if (tp->state == PT_NEW)
				tp->state = PT_HELLO;
		} else {
			streams_sweep(tp, true);
			if (tp->now_us - tp->last_tx_us >= tp->idle_us / 3)
				send_pkt(tp, PKT_PING, 0, NULL, 0);
		}
	}
	after(tp);
	return 0;
}

static uint64_t pt_deadline(const struct peer_tp *tp)
{
	uint64_t t;

	if (tp->evq || tp->ev_ready || tp->reap || tp->state == PT_NEW)
		return tp->now_us;
	if (tp->state == PT_DEAD)
		return PEER_TP_NONE;
	t = tp->last_rx_us + tp->idle_us;
	if (tp->state == PT_HELLO) {
		if (tp->conf.initiator && tp->hello_at < t)
			t = tp->hello_at;
		return t;
	}
	if (tp->last_tx_us + tp->idle_us / 3 < t)
		t = tp->last_tx_us + tp->idle_us / 3;
	for (int b = 0; b < PT_BUCKETS; b++)
		for (const struct pstream *s = tp->buckets[b]; s; s = s->hnext)
			if (s->clock_us < t)
				t = s->clock_us;
	return t;
}

static struct pstream *lookup(struct peer_tp *tp, uint64_t id)
{
	struct pstream *s = id > UINT32_MAX ? NULL : find(tp, (uint32_t)id);

	return s && !s->app_done ? s : NULL;
}

static int pt_stream_open(struct peer_tp *tp, uint64_t *id)
{
	struct pstream *s;

	if (tp->state != PT_UP)
		return tp->state == PT_DEAD ? BW_E_CLOSED : BW_E_AGAIN;
	if (tp->next_id > UINT32_MAX - 2)
		return BW_E_BUSY;  /* 2^31 streams in one association */
	if (!(s = stream_new(tp, tp->next_id, true)))
		return BW_E_NOMEM;
	tp->next_id += 2;
	s->visible = true;
	pseudo_tcp_socket_connect(sock_at(s));
	tp->reap = true;           /* its clock */
	*id = s->id;
	return 0;
}

static ssize_t pt_stream_write(struct peer_tp *tp, uint64_t id, const uint8_t *buf, size_t len)
{
	uint8_t rec[2 + PT_RECORD_MAX];
	struct pstream *s;
	size_t done = 0;

	if (tp->state == PT_DEAD)
		return BW_E_CLOSED;
	if (!(s = lookup(tp, id)))
		return BW_E_NOT_FOUND;
	if (s->fin_pending || s->fin_sent || s->dead)
		return -EPIPE;
	while (done < len && s->established) {
		size_t n = len - done > PT_RECORD_MAX ? PT_RECORD_MAX : len - done;
		rec[0] = (uint8_t)(n >> 8);
		rec[1] = (uint8_t)n;
		memcpy(rec + 2, buf + done, n);
		if (!record_send(s, rec, n + 2))
			break;
		done += n;
		if (s->tail_off != s->tail_len)
			break;         /* PseudoTcp is full: wait for writable */
	}
	if (done < len)
		s->want_writable = true;
	tp->st.bytes_sent += done;
	tp->reap = true;
	return (ssize_t)done;
}

static int pt_stream_shutdown(struct peer_tp *tp, uint64_t id)
{
	struct pstream *s;

	if (tp->state == PT_DEAD)
		return BW_E_CLOSED;
	if (!(s = lookup(tp, id)))
		return BW_E_NOT_FOUND;
	if (s->fin_pending || s->fin_sent)
		return 0;
	s->fin_pending = true;
	stream_progress(s);
	tp->reap = true;
	return 0;
}

static ssize_t pt_stream_read(struct peer_tp *tp, uint64_t id, uint8_t *buf, size_t cap)
{
	struct pstream *s;
	size_t done = 0;

	if (tp->state == PT_DEAD)
		return BW_E_CLOSED;
	if (!(s = lookup(tp, id)))
		return BW_E_NOT_FOUND;
	if (s->rx_fin) {
		if (!s->eof_read) {
			s->eof_read = true;
			stream_progress(s);
			tp->reap = true;
		}
		return 0;
	}
	while (done < cap && s->established && !s->dead) {
		gint r;
		if (s->rec_left == 0) {
			r = pseudo_tcp_socket_recv(sock_at(s), (char *)s->hdr + s->hdr_have,
						   2 - s->hdr_have);
			if (r <= 0)
				break;
			s->hdr_have += (unsigned)r;
			if (s->hdr_have < 2)
				continue;
			s->hdr_have = 0;
			s->rec_left = (uint32_t)s->hdr[0] << 8 | s->hdr[1];
			if (s->rec_left == 0) {
				s->rx_fin = true;
				s->ev_readable = true;   /* EOF after these bytes */
				ev_queue(s);
				break;
			}
			continue;
		}
		r = pseudo_tcp_socket_recv(sock_at(s), (char *)buf + done,
					   cap - done < s->rec_left ? cap - done : s->rec_left);
		if (r <= 0)
			break;
		s->rec_left -= (uint32_t)r;
		done += (size_t)r;
	}
	tp->reap = true;           /* reading opens the window: an ACK may be due */
	if (done > 0) {
		tp->st.bytes_recv += done;
		return (ssize_t)done;
	}
	if (s->rx_fin) {
		s->eof_read = true;
		stream_progress(s);
		return 0;
	}
	return cap == 0 ? 0 : -EAGAIN;
}

static int pt_stream_reset(struct peer_tp *tp, uint64_t id)
{
	struct pstream *s;

	if (tp->state == PT_DEAD)
		return BW_E_CLOSED;
	if (!(s = lookup(tp, id)))
		return BW_E_NOT_FOUND;
	app_close(s, -ECONNRESET);
	/* PseudoTcp sends its RST once; ours answers any later segment too. */
	if (!s->dead) {
		s->dead = true;
		pseudo_tcp_socket_close(sock_at(s), TRUE);
	}
	send_pkt(tp, PKT_RST, s->id, NULL, 0);
	tp->reap = true;
	return 0;
}

static void pt_stats(const struct peer_tp *tp, struct peer_tp_stats *out)
{
	*out = tp->st;
	/* PseudoTcp keeps its RTT, window and retransmissions private. */
}

const struct peer_tp_ops peer_tp_pseudotcp_ops = {
	.name = "pseudotcp",
	.new = pt_new,
	.free = pt_free,
	.input = pt_input,
	.deadline = pt_deadline,
	.timeout = pt_timeout,
	.stream_open = pt_stream_open,
	.stream_write = pt_stream_write,
	.stream_shutdown = pt_stream_shutdown,
	.stream_read = pt_stream_read,
	.stream_reset = pt_stream_reset,
	.stats = pt_stats,
};
