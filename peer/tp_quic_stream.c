/*
 * The quic engine's streams (peer/tp_quic.c has the overview): byte queues,
 * the stream table, each stream's life from open to free, and the receive
 * windows.
 *
 * A stream is known to two parties, and freed when both are done with it:
 * the session ("app", until stream_closed has been delivered) and ngtcp2
 * ("ng", until its stream_close callback). ngtcp2 keeps pointers into the
 * send buffer until the peer acknowledges the bytes, so a stream the session
 * has given up stays, detached from the id table, until ngtcp2 lets go.
 * Closing cleanly (stream_closed rc 0) needs both directions finished: our
 * FIN acknowledged (ngtcp2 closes the stream) and the peer's FIN read by the
 * session. An abort, by either side, resets both directions at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "peer/tp_quic_int.h"

/* --- Byte queues ------------------------------------------------------------- */

struct q_chunk *q_bq_room(struct q_bq *q)
{
	struct q_chunk *c;

	if (q->tail && q->tail->len < Q_CHUNK)
		return q->tail;
	c = malloc(sizeof(*c));
	if (!c)
		return NULL;
	c->next = NULL;
	c->len = 0;
	if (q->tail)
		q->tail->next = c;
	else {
		q->head = c;
		q->off = 0;
	}
	q->tail = c;
	return c;
}

size_t q_bq_append(struct q_bq *q, const uint8_t *p, size_t n)
{
	size_t done = 0;

	while (done < n) {
		struct q_chunk *c = q_bq_room(q);
		size_t k;

		if (!c)
			break;
		k = n - done < Q_CHUNK - c->len ? n - done : Q_CHUNK - c->len;
		memcpy(c->data + c->len, p + done, k);
		c->len += k;
		done += k;
	}
	q->len += done;
	return done;
}

/* Drop n <= q->len bytes from the front, freeing chunks as they empty. */
static void bq_consume(struct q_bq *q, uint64_t n)
{
	q->len -= n;
	while (n) {
		struct q_chunk *c = q->head;
		size_t k = c->len - q->off < n ? c->len - q->off : (size_t)n;

		q->off += k;
		n -= k;
		if (q->off == c->len) {
			q->head = c->next;
			if (!q->head)
				q->tail = NULL;
			free(c);
			q->off = 0;
		}
	}
}

size_t q_bq_read(struct q_bq *q, uint8_t *buf, size_t cap)
{
	size_t done = 0;

	while (done < cap && q->head) {
		struct q_chunk *c = q->head;
		size_t k = c->len - q->off;

		if (k > cap - done)
			k = cap - done;
		memcpy(buf + done, c->data + q->off, k);
		done += k;
		bq_consume(q, k);
	}
	return done;
}

void q_bq_clear(struct q_bq *q)
{
	while (q->head) {
		struct q_chunk *c = q->head;

		q->head = c->next;
		free(c);
	}
	memset(q, 0, sizeof(*q));
}

/* --- Events ------------------------------------------------------------------ */

void q_stream_opened(struct q_stream *s)
{
	q_ev_push(s->tp, Q_EV_OPENED, (uint64_t)s->id, 0);
}

static void ev_readable(struct q_stream *s)
{
	if (!s->ev_readable && !s->closing) {
		s->ev_readable = true;
		q_ev_push(s->tp, Q_EV_READABLE, (uint64_t)s->id, 0);
	}
}

/* --- The stream table and each stream's life ----------------------------------- */

static size_t bucket(int64_t id)
{
	return ((uint64_t)id >> 2) % Q_NBUCKETS;
}

struct q_stream *q_stream_find(const struct peer_tp *tp, uint64_t id)
{
	struct q_stream *s;

	if (id > (uint64_t)INT64_MAX)
		return NULL;
	for (s = tp->map[bucket((int64_t)id)]; s; s = s->hnext)
		if (s->id == (int64_t)id)
			return s;
	return NULL;
}

struct q_stream *q_stream_new(struct peer_tp *tp, int64_t id, bool local)
{
	struct q_stream *s = calloc(1, sizeof(*s));
	size_t b = bucket(id);

	if (!s)
		return NULL;
	s->tp = tp;
	s->id = id;
	s->local = local;
	s->app = s->ng = true;
	s->hnext = tp->map[b];
	tp->map[b] = s;
	s->lnext = tp->all;
	if (tp->all)
		tp->all->lprev = s;
	tp->all = s;
	return s;
}

void q_ring_add(struct q_stream *s)
{
	struct peer_tp *tp = s->tp;

	if (s->in_ring)
		return;
	s->in_ring = true;
	if (!tp->ring) {
		s->anext = s->aprev = s;
		tp->ring = s;
		return;
	}
	/* Insert before the head: the newcomer goes last in this round. */
	s->anext = tp->ring;
	s->aprev = tp->ring->aprev;
	s->aprev->anext = s;
	tp->ring->aprev = s;
}

void q_ring_remove(struct q_stream *s)
{
	struct peer_tp *tp = s->tp;

	if (!s->in_ring)
		return;
	s->in_ring = false;
	if (s->anext == s)
		tp->ring = NULL;
	else {
		s->aprev->anext = s->anext;
		s->anext->aprev = s->aprev;
		if (tp->ring == s)
			tp->ring = s->anext;
	}
	s->anext = s->aprev = NULL;
}

void q_stream_unmap(struct q_stream *s)
{
	struct q_stream **pp = &s->tp->map[bucket(s->id)];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	s->hnext = NULL;
}

/* The connection window: credit what arrived, minus whatever unread bytes
 * exceed twice the connection window W (see the top of the file). ngtcp2
 * 0.12 advertises more credit only once the increment exceeds W/2, so the
 * peer stalls when the withheld excess reaches W/2: other streams run at full
 * speed until 2.5 W is unread, and at most 3 W is ever buffered. */
void q_conn_credit(struct peer_tp *tp)
{
	uint64_t allow = 2 * tp->conn_window;
	uint64_t excess = tp->rx_unread > allow ? tp->rx_unread - allow : 0;
	uint64_t target = tp->rx_total > excess ? tp->rx_total - excess : 0;

	if (tp->conn && target > tp->rx_credited) {
		ngtcp2_conn_extend_max_offset(tp->conn, target - tp->rx_credited);
		tp->rx_credited = target;
	}
}

static void stream_drop_rx(struct q_stream *s)
{
	s->tp->rx_unread -= s->rcv.len;
	q_bq_clear(&s->rcv);
	q_conn_credit(s->tp);
}

/* Free once neither the session nor ngtcp2 knows the stream. */
void q_stream_maybe_free(struct q_stream *s)
{
	struct peer_tp *tp = s->tp;

	if (s->app || s->ng)
		return;
	q_ring_remove(s);
	stream_drop_rx(s);
	q_bq_clear(&s->snd);
	if (s->lprev)
		s->lprev->lnext = s->lnext;
	else
		tp->all = s->lnext;
	if (s->lnext)
		s->lnext->lprev = s->lprev;
	/* The peer may open another stream in its place. */
	if (!s->local && tp->conn && !tp->dead)
		ngtcp2_conn_extend_max_streams_bidi(tp->conn, 1);
	free(s);
}

/* Tell the session the stream is gone (rc 0: both directions finished). */
void q_stream_closing(struct q_stream *s, int rc)
{
	if (s->closing)
		return;
	s->closing = true;
	q_ring_remove(s);
	q_ev_push(s->tp, Q_EV_CLOSED, (uint64_t)s->id, rc);
}

/* Abort both directions: from the session, or because the peer reset or
 * stopped the stream. Runs at top level, outside ngtcp2's callbacks. */
static void stream_abort_now(struct q_stream *s)
{
	struct peer_tp *tp = s->tp;

	if (s->ng && tp->conn && !tp->dead)
		ngtcp2_conn_shutdown_stream(tp->conn, s->id, Q_APP_ERROR);
	stream_drop_rx(s);
	q_stream_closing(s, -ECONNRESET);
}

void q_stream_abort(struct q_stream *s)
{
	if (s->abort_pending || s->closing)
		return;
	s->abort_pending = true;
	s->abnext = s->tp->aborts;
	s->tp->aborts = s;
}

void q_process_aborts(struct peer_tp *tp)
{
	while (tp->aborts) {
		struct q_stream *s = tp->aborts;

		tp->aborts = s->abnext;
		s->abnext = NULL;
		s->abort_pending = false;
		stream_abort_now(s);
	}
}

/* ngtcp2 is done with the stream. */
void q_stream_ng_closed(struct q_stream *s, bool reset)
{
	struct peer_tp *tp = s->tp;

	tp->lost_closed += ngtcp2_conn_get_stream_loss_count(tp->conn, s->id);
	s->ng = false;
	q_bq_clear(&s->snd);
	s->unsent = 0;
	q_ring_remove(s);
	if (s->app) {
		if (reset)
			q_stream_abort(s);
		else if (s->eof_read)
			q_stream_closing(s, 0);
	}
	q_stream_maybe_free(s);
}

void q_stream_acked(struct q_stream *s, uint64_t len)
{
	uint64_t room;

	bq_consume(&s->snd, len);
	room = s->tp->sndbuf - s->snd.len;
	if (s->want_writable && room >= s->tp->sndbuf / 2 && !s->closing && !s->fin_queued) {
		s->want_writable = false;
		q_ev_push(s->tp, Q_EV_WRITABLE, (uint64_t)s->id, 0);
	}
}

int q_stream_recv(struct q_stream *s, const uint8_t *data, size_t len, bool fin)
{
	struct peer_tp *tp = s->tp;

	if (s->closing)
		return 0; /* aborted: discard, the window is credited below */
	if (len && q_bq_append(&s->rcv, data, len) != len)
		return BW_E_NOMEM;
	tp->rx_unread += len;
	tp->bytes_recv += len;
	if (fin)
		s->fin_recv = true;
	ev_readable(s);
	return 0;
}
