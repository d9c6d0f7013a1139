/*
 * The sctp engine's streams (tp_sctp.c describes the design): events to
 * the session, the FIN and RST markers, per-stream credit (SETTINGS and
 * WINDOW on sid 0), and when a sid may be used again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"
#include "peer/tp_sctp_int.h"

/* --- Events: callbacks run only from input() and timeout() ------------------ */

static void ev_queue(struct sstream *s)
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

static void chunks_free(struct sstream *s)
{
	while (s->rq_head) {
		struct chunk *c = s->rq_head;
		s->rq_head = c->next;
		free(c);
	}
	s->rq_tail = NULL;
}

static void stream_maybe_free(struct sstream *s)
{
	struct peer_tp *tp = s->tp;

	if (s->in_slot || !s->app_done || s->queued)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		tp->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	chunks_free(s);
	free(s);
}

/* The application loses the id: closed(rc) at the next dispatch. */
static void stream_app_close(struct sstream *s, int rc)
{
	if (s->app_done)
		return;
	s->app_done = true;
	if (!s->visible)
		return;                /* never told: nothing to report */
	s->ev_closed = rc == 0 ? 1 : rc;
	ev_queue(s);
}

static void slot_maybe_release(struct sstream *s)
{
	struct peer_tp *tp = s->tp;

	if (!s->in_slot || s->tx != TX_DONE || !s->rx_done || s->win_pending)
		return;
	tp->slots[s->sid] = NULL;
	tp->gen[s->sid]++;
	s->in_slot = false;
	stream_maybe_free(s);
}

static void stream_maybe_closed(struct sstream *s)
{
	if (s->tx == TX_DONE && s->tx_by_fin && s->eof_read)
		stream_app_close(s, 0);
}

void tps_die(struct peer_tp *tp, int rc)
{
	if (tp->state == TP_DEAD)
		return;
	tp->state = TP_DEAD;
	tp->dead_rc = rc;
	for (struct sstream *s = tp->all; s; s = s->next)
		stream_app_close(s, rc);
	tp->ev_ready = true;
}

void tps_dispatch(struct peer_tp *tp)
{
	if (tp->dispatching || tp->freeing)
		return;
	tp->dispatching = true;
	while (tp->evq) {
		struct sstream *s = tp->evq;
		tp->evq = s->evnext;
		if (!tp->evq)
			tp->evq_tail = NULL;
		s->queued = false;
		uint64_t id = s->id;
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
			continue;      /* a callback queued more: it comes round again */
		if (s->ev_closed) {
			int rc = s->ev_closed == 1 ? 0 : s->ev_closed;
			s->ev_closed = 0;
			s->ev_readable = s->ev_writable = false;
			if (tp->cbs.stream_closed)
				tp->cbs.stream_closed(tp->arg, id, rc);
		}
		stream_maybe_free(s);
	}
	if (tp->ev_ready) {
		tp->ev_ready = false;
		if (tp->cbs.ready)
			tp->cbs.ready(tp->arg, tp->state == TP_DEAD ? tp->dead_rc : 0);
	}
	tp->dispatching = false;
}

/* --- Sending ------------------------------------------------------------------ */

/* 1 sent, 0 socket full, < 0 error. */
static int send_msg(struct peer_tp *tp, uint16_t sid, uint32_t ppid, const void *data, size_t len,
		    bool unordered)
{
	struct sctp_sndinfo si = {
		.snd_sid = sid,
		.snd_flags = unordered ? SCTP_UNORDERED : 0,
		.snd_ppid = htonl(ppid),
	};

	if (tp->sock_full)
		return 0;
	if (usrsctp_sendv(tp->so, data, len, NULL, 0, &si, sizeof(si), SCTP_SENDV_SNDINFO, 0) < 0) {
		if (errno == EWOULDBLOCK || errno == EAGAIN || errno == ENOBUFS) {
			tp->sock_full = true;
			return 0;
		}
		return -errno;
	}
	return 1;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int send_window(struct sstream *s)
{
	struct peer_tp *tp = s->tp;
	uint8_t m[CTRL_WINDOW_LEN];
	uint64_t limit = s->rx_read + tp->window;
	int rc;

	m[0] = CTRL_WINDOW;
	put_be(m + 1, s->sid, 2);
	put_be(m + 3, tp->gen[s->sid], 4);
	put_be(m + 7, limit, 8);
	rc = send_msg(tp, 0, PPID_CTRL, m, sizeof(m), true);
	if (rc > 0)
		s->rx_limit = limit;
	return rc;
}

static void ctl_set(struct sstream *s, bool *flag)
{
	if (!*flag) {
		*flag = true;
		s->tp->ctl_pending++;
	}
}

/* Sends what the stream owes the peer: a WINDOW update, then FIN or RST.
 * Returns < 0 on a socket error. */
static int stream_flush(struct sstream *s)
{
	struct peer_tp *tp = s->tp;
	static const uint8_t one = 0;
	int rc;

	if (s->win_pending) {
		if ((rc = send_window(s)) <= 0)
			return rc;
		s->win_pending = false;
		tp->ctl_pending--;
	}
	if (s->tx == TX_FIN_PENDING || s->tx == TX_RST_PENDING) {
		bool fin = s->tx == TX_FIN_PENDING;
		if ((rc = send_msg(tp, s->sid, fin ? PPID_FIN : PPID_RST, &one, 1, false)) <= 0)
			return rc;
		s->tx = TX_DONE;
		s->tx_by_fin = fin;
		tp->ctl_pending--;
		stream_maybe_closed(s);
	}
	slot_maybe_release(s);
	return 0;
}

static void tx_finish(struct sstream *s, enum tx_state how)
{
	if (s->tx == TX_DONE)
		return;
	if (s->tx == TX_OPEN)
		s->tp->ctl_pending++;
	s->tx = how;           /* an RST replaces a FIN not yet sent */
}

int tps_send_settings(struct peer_tp *tp)
{
	uint8_t m[CTRL_SETTINGS_LEN];
	int rc;

	m[0] = CTRL_SETTINGS;
	put_be(m + 1, tp->window, 4);
	rc = send_msg(tp, 0, PPID_CTRL, m, sizeof(m), false);
	if (rc > 0)
		tp->settings_pending = false;
	return rc;
}

/* After the socket was full: owed control messages first, then writers. */
void tps_flush_all(struct peer_tp *tp)
{
	struct sstream *s, *next;

	if (tp->sock_full && (usrsctp_get_events(tp->so) & SCTP_EVENT_WRITE))
		tp->sock_full = false;
	if (tp->sock_full)
		return;
	if (tp->settings_pending && tps_send_settings(tp) < 0)
		return tps_die(tp, BW_E_CLOSED);
	for (s = tp->all; s && tp->ctl_pending && !tp->sock_full; s = next) {
		next = s->next;
		if (stream_flush(s) < 0)
			return tps_die(tp, BW_E_CLOSED);
	}
	if (tp->sock_full)
		return;
	for (s = tp->all; s; s = s->next) {
		if (s->want_writable && s->tx == TX_OPEN && s->tx_sent < s->tx_limit) {
			s->want_writable = false;
			s->ev_writable = true;
			ev_queue(s);
		}
	}
}

/* --- Receiving ---------------------------------------------------------------- */

static struct sstream *stream_new(struct peer_tp *tp, uint16_t sid)
{
	struct sstream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->tp = tp;
	s->sid = sid;
	s->id = (uint64_t)tp->gen[sid] << 16 | sid;
	s->in_slot = true;
	s->rx_limit = tp->window;
	s->tx_limit = tp->peer_window;
	tp->slots[sid] = s;
	s->next = tp->all;
	if (tp->all)
		tp->all->prev = s;
	tp->all = s;
	return s;
}

static bool sid_is_mine(const struct peer_tp *tp, uint16_t sid)
{
	return (sid & 1) == (tp->conf.initiator ? 0 : 1);
}

int tps_on_ctrl(struct peer_tp *tp, const uint8_t *m, size_t len)
{
	if (len == CTRL_SETTINGS_LEN && m[0] == CTRL_SETTINGS) {
		uint32_t w = (uint32_t)get_be(m + 1, 4);
		if (w < SCTP_WINDOW_MIN)
			return BW_E_MSG_MALFORMED;
		tp->peer_window = w;
		/* Offsets start at 0 in each incarnation and the peer granted its
		 * window from the start: every stream may go that far. */
		for (struct sstream *s = tp->all; s; s = s->next) {
			if (s->tx_limit >= w)
				continue;
			s->tx_limit = w;
			if (s->want_writable && s->tx == TX_OPEN && !tp->sock_full) {
				s->want_writable = false;
				s->ev_writable = true;
				ev_queue(s);
			}
		}
		return 0;
	}
	if (len == CTRL_WINDOW_LEN && m[0] == CTRL_WINDOW) {
		uint16_t sid = (uint16_t)get_be(m + 1, 2);
		uint32_t gen = (uint32_t)get_be(m + 3, 4);
		uint64_t limit = get_be(m + 7, 8);
		struct sstream *s;
		if (sid == 0 || sid >= tp->nstreams)
			return BW_E_MSG_MALFORMED;
		s = tp->slots[sid];
		/* Unordered: an update for a finished incarnation is stale. */
		if (!s || tp->gen[sid] != gen || limit <= s->tx_limit)
			return 0;
		s->tx_limit = limit;
		if (s->want_writable && s->tx == TX_OPEN && !tp->sock_full) {
			s->want_writable = false;
			s->ev_writable = true;
			ev_queue(s);
		}
		return 0;
	}
	return BW_E_MSG_MALFORMED;
}

int tps_on_msg(struct peer_tp *tp, uint16_t sid, uint32_t ppid, const uint8_t *data,
			 size_t len, bool eor)
{
	struct sstream *s;

	if (sid >= tp->nstreams)
		return BW_E_MSG_MALFORMED;
	s = tp->slots[sid];
	if (!s) {
		/* A message on a free sid opens the next incarnation; only the
		 * peer opens its own parity. */
		if (sid_is_mine(tp, sid))
			return BW_E_MSG_MALFORMED;
		if (!(s = stream_new(tp, sid)))
			return BW_E_NOMEM;
		if (ppid == PPID_RST) {
			s->app_done = true;        /* opened and aborted unseen */
		} else {
			s->visible = true;
			s->ev_opened = true;
			ev_queue(s);
		}
	}
	if (s->rx_done)
		return BW_E_MSG_MALFORMED;
	switch (ppid) {
	case PPID_DATA:
		if (s->rx_recv + len > s->rx_limit)
			return BW_E_TOO_BIG;       /* beyond the credit we gave */
		s->rx_recv += len;
		if (s->rx_discard || len == 0)
			return 0;
		struct chunk *c = malloc(sizeof(*c) + len);
		if (!c)
			return BW_E_NOMEM;
		c->next = NULL;
		c->len = len;
		c->off = 0;
		memcpy(c->data, data, len);
		if (s->rq_tail)
			s->rq_tail->next = c;
		else
			s->rq_head = c;
		s->rq_tail = c;
		tp->st.bytes_recv += len;
		s->ev_readable = true;
		ev_queue(s);
		return 0;
	case PPID_FIN:
	case PPID_RST:
		if (len != 1 || !eor)
			return BW_E_MSG_MALFORMED;
		s->rx_done = true;
		if (s->win_pending) {          /* no more credit needed */
			s->win_pending = false;
			tp->ctl_pending--;
		}
		if (ppid == PPID_FIN) {
			s->rx_fin = true;
			if (!s->rx_discard && !s->app_done) {
				s->ev_readable = true;
				ev_queue(s);
			}
		} else {
			chunks_free(s);
			s->rx_discard = true;
			tx_finish(s, TX_RST_PENDING);   /* end our direction too */
			stream_app_close(s, -ECONNRESET);
		}
		if (stream_flush(s) < 0)
			return BW_E_CLOSED;
		return 0;
	default:
		return BW_E_MSG_UNKNOWN;
	}
}

/* --- The stream operations ------------------------------------------------------ */

static struct sstream *lookup(struct peer_tp *tp, uint64_t id)
{
	uint16_t sid = (uint16_t)id;
	struct sstream *s = sid < SCTP_NSTREAMS ? tp->slots[sid] : NULL;

	if (s && s->id == id)
		return s->app_done ? NULL : s;
	for (s = tp->all; s; s = s->next)
		if (s->id == id)
			return s->app_done ? NULL : s;
	return NULL;
}

int tps_stream_open(struct peer_tp *tp, uint64_t *id)
{
	struct sstream *s;

	if (tp->state != TP_UP)
		return tp->state == TP_DEAD ? BW_E_CLOSED : BW_E_AGAIN;
	for (uint16_t i = 0; i < tp->nstreams / 2; i++) {
		uint16_t sid = tp->next_sid;
		tp->next_sid += 2;
		if (tp->next_sid >= tp->nstreams)
			tp->next_sid = tp->conf.initiator ? 2 : 1;
		if (tp->slots[sid])
			continue;
		if (!(s = stream_new(tp, sid)))
			return BW_E_NOMEM;
		s->visible = true;
		*id = s->id;
		return 0;
	}
	return BW_E_BUSY;
}

ssize_t tps_stream_write(struct peer_tp *tp, uint64_t id, const uint8_t *buf, size_t len)
{
	struct sstream *s;
	size_t done = 0;

	if (tp->state == TP_DEAD)
		return BW_E_CLOSED;
	if (!(s = lookup(tp, id)))
		return BW_E_NOT_FOUND;
	if (s->tx != TX_OPEN)
		return -EPIPE;
	while (done < len && s->tx_sent < s->tx_limit) {
		size_t n = len - done;
		uint64_t credit = s->tx_limit - s->tx_sent;
		int rc;
		if (n > credit)
			n = (size_t)credit;
		if (n > tp->msg_max)
			n = tp->msg_max;
		rc = send_msg(tp, s->sid, PPID_DATA, buf + done, n, false);
		if (rc < 0) {
			tps_die(tp, rc);
			return rc;
		}
		if (rc == 0)
			break;
		s->tx_sent += n;
		done += n;
	}
	if (done < len)
		s->want_writable = true;
	tp->st.bytes_sent += done;
	return (ssize_t)done;
}

int tps_stream_shutdown(struct peer_tp *tp, uint64_t id)
{
	struct sstream *s;

	if (tp->state == TP_DEAD)
		return BW_E_CLOSED;
	if (!(s = lookup(tp, id)))
		return BW_E_NOT_FOUND;
	if (s->tx != TX_OPEN)
		return 0;
	tx_finish(s, TX_FIN_PENDING);
	if (stream_flush(s) < 0)
		tps_die(tp, BW_E_CLOSED);
	return 0;
}

ssize_t tps_stream_read(struct peer_tp *tp, uint64_t id, uint8_t *buf, size_t cap)
{
	struct sstream *s;
	size_t done = 0;

	if (tp->state == TP_DEAD)
		return BW_E_CLOSED;
	if (!(s = lookup(tp, id)))
		return BW_E_NOT_FOUND;
	while (done < cap && s->rq_head) {
		struct chunk *c = s->rq_head;
		size_t n = c->len - c->off;
		if (n > cap - done)
			n = cap - done;
		memcpy(buf + done, c->data + c->off, n);
		c->off += n;
		done += n;
		if (c->off == c->len) {
			s->rq_head = c->next;
			if (!s->rq_head)
				s->rq_tail = NULL;
			free(c);
		}
	}
	if (done > 0) {
		s->rx_read += done;
		/* Grant more once a quarter of the window was read. */
		if (!s->rx_done && s->rx_read + tp->window - s->rx_limit >= tp->window / 4) {
			ctl_set(s, &s->win_pending);
			if (stream_flush(s) < 0)
				tps_die(tp, BW_E_CLOSED);
		}
		return (ssize_t)done;
	}
	if (!s->rx_fin)
		return cap == 0 ? 0 : -EAGAIN;
	s->eof_read = true;
	stream_maybe_closed(s);
	return 0;
}

int tps_stream_reset(struct peer_tp *tp, uint64_t id)
{
	struct sstream *s;

	if (tp->state == TP_DEAD)
		return BW_E_CLOSED;
	if (!(s = lookup(tp, id)))
		return BW_E_NOT_FOUND;
	chunks_free(s);
	s->rx_discard = true;
	if (s->win_pending) {
		s->win_pending = false;
		tp->ctl_pending--;
	}
	tx_finish(s, TX_RST_PENDING);
	stream_app_close(s, -ECONNRESET);
	if (stream_flush(s) < 0)
		tps_die(tp, BW_E_CLOSED);
	return 0;
}

void tps_streams_free(struct peer_tp *tp)
{
	while (tp->all) {
		struct sstream *s = tp->all;
		tp->all = s->next;
		chunks_free(s);
		free(s);
	}
}
