/*
 * Shared by the quic engine's files, and included by no other:
 *   tp_quic.c         operations, callbacks to the session, output and pacing
 *   tp_quic_stream.c  byte queues, the stream table, stream lifecycle, windows
 *   tp_quic_crypto.c  the ngtcp2 connection and its callbacks, the null packet
 *                     protection and the handshake that replaces TLS
 */
#ifndef BW_PEER_TP_QUIC_INT_H
#define BW_PEER_TP_QUIC_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

#include "common/util.h"
#include "peer/tp.h"

#define Q_CHUNK 16384          /* send/receive buffer chunk */
#define Q_NBUCKETS 64          /* stream id hash */
#define Q_HS_MAX 1024          /* handshake bytes buffered per level */
#define Q_CIDLEN 8             /* every connection id */
#define Q_APP_ERROR 1          /* application error code of our resets */

struct q_chunk {
	struct q_chunk *next;
	size_t len;                 /* bytes used */
	uint8_t data[Q_CHUNK];
};

/* Bytes in chunks that never move: appended at the tail, consumed at the
 * head (offset off into head). */
struct q_bq {
	struct q_chunk *head, *tail;
	size_t off;
	uint64_t len;
};

struct q_stream {
	struct peer_tp *tp;
	int64_t id;
	struct q_stream *hnext;         /* id hash chain (while app) */
	struct q_stream *lnext, *lprev; /* every stream, for free */
	struct q_stream *anext, *aprev; /* ring of streams with bytes or FIN to send */
	struct q_stream *abnext;        /* aborts to run at top level */
	struct q_bq snd;                /* written, not yet acknowledged */
	const struct q_chunk *sc;       /* first unsent byte: chunk and offset */
	size_t soff;
	uint64_t unsent;
	struct q_bq rcv;                /* received, not yet read */
	uint32_t skip_round;            /* flow-control blocked in this flush */
	bool local;                     /* we opened it */
	bool app;                       /* the session knows it (until CLOSED is delivered) */
	bool ng;                        /* ngtcp2 knows it (until its stream_close) */
	bool closing;                   /* CLOSED queued */
	bool in_ring, abort_pending;
	bool fin_queued, fin_sent, fin_recv, eof_read;
	bool want_writable, ev_readable;
};

enum { Q_EV_READY, Q_EV_OPENED, Q_EV_READABLE, Q_EV_WRITABLE, Q_EV_CLOSED };

struct q_ev {
	uint8_t type;
	int rc;
	uint64_t id;
};

struct peer_tp {
	struct peer_tp_cbs cbs;
	void *arg;
	ngtcp2_conn *conn;             /* the owner's appears with the first packet */
	bool server;
	int cc;                        /* ngtcp2_cc_algo */
	size_t mtu;
	uint64_t stream_window, conn_window, sndbuf, idle_us;
	uint64_t max_streams;
	uint64_t now_us, start_us;
	ngtcp2_tstamp ts;              /* now, in ngtcp2's nanoseconds */
	double credit;                 /* the pacer's tokens, bytes (flush) */
	ngtcp2_tstamp credit_ts;       /* when they were last added */
	ngtcp2_tstamp pace_ts;         /* when a quantum will have accrued, or 0 */
	/* Fixed placeholder addresses: the session owns the real path. */
	struct {
		ngtcp2_path path;
		struct sockaddr_in local, remote;
	} path;

	/* Handshake (tp_quic_crypto.c). */
	uint8_t hs_rx[2][Q_HS_MAX];    /* per level: initial, handshake */
	size_t hs_len[2];
	uint8_t hs_state;

	/* Streams. */
	struct q_stream *map[Q_NBUCKETS];
	struct q_stream *all, *ring, *aborts;
	uint32_t round;

	/* Connection window (see tp_quic.c). */
	uint64_t rx_total, rx_unread, rx_credited;

	/* Events for the session, delivered at top level. */
	struct q_ev *ev;
	size_t nev, evcap;
	unsigned depth;
	bool up, kick, dead, dead_told;
	int dead_rc;

	uint64_t pkts_sent, pkts_recv, bytes_sent, bytes_recv, lost_closed;
	uint8_t *pkt;                  /* mtu bytes */
};

/* tp_quic.c */
void q_ev_push(struct peer_tp *tp, uint8_t type, uint64_t id, int rc);
void q_die(struct peer_tp *tp, int rc);       /* fatal: ready(rc) follows, then nothing */
void q_ready(struct peer_tp *tp);             /* the handshake is complete */

/* tp_quic_stream.c */
struct q_chunk *q_bq_room(struct q_bq *q);    /* the tail chunk, with room */
size_t q_bq_append(struct q_bq *q, const uint8_t *p, size_t n);
size_t q_bq_read(struct q_bq *q, uint8_t *buf, size_t cap);
void q_bq_clear(struct q_bq *q);
struct q_stream *q_stream_new(struct peer_tp *tp, int64_t id, bool local);
struct q_stream *q_stream_find(const struct peer_tp *tp, uint64_t id);
void q_stream_unmap(struct q_stream *s);      /* the session is done with it */
void q_stream_maybe_free(struct q_stream *s);
void q_stream_opened(struct q_stream *s);     /* the peer opened it */
int q_stream_recv(struct q_stream *s, const uint8_t *data, size_t len, bool fin);
void q_stream_acked(struct q_stream *s, uint64_t len);
void q_stream_closing(struct q_stream *s, int rc);
void q_stream_abort(struct q_stream *s);      /* reset both ways, at top level */
void q_process_aborts(struct peer_tp *tp);
void q_stream_ng_closed(struct q_stream *s, bool reset);
void q_ring_add(struct q_stream *s);          /* has bytes or FIN to send */
void q_ring_remove(struct q_stream *s);
void q_conn_credit(struct peer_tp *tp);

/* tp_quic_crypto.c */
int q_conn_client_new(struct peer_tp *tp);
int q_conn_server_new(struct peer_tp *tp, const uint8_t *pkt, size_t len);
/* A fatal ngtcp2 error: send CONNECTION_CLOSE where that makes sense, die. */
void q_close(struct peer_tp *tp, int liberr);
int q_liberr(int liberr);

#endif
