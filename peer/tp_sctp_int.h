/*
 * Shared by the sctp engine's files, and included by no other:
 *   tp_sctp.c         the process-wide usrsctp stack, the association's
 *                     socket, notifications, the operations table
 *   tp_sctp_stream.c  streams over the association: events to the session,
 *                     FIN/RST markers, per-stream credit, sid reuse
 * The design (markers, credit, incarnations) is described in tp_sctp.c.
 */
#ifndef BW_PEER_TP_SCTP_INT_H
#define BW_PEER_TP_SCTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <usrsctp.h>

#include "peer/tp.h"

#define SCTP_PORT 5000               /* the same on every association: tokens differ */
#define SCTP_NSTREAMS 1024           /* offered in INIT: 511 + 512 concurrent streams */
#define SCTP_MTU_MARGIN 16           /* see set_paddr() */
#define SCTP_MSG_MAX 16384           /* one DATA message (usrsctp fragments it) */
#define SCTP_RECV_BUF 65536          /* holds any whole message */
#define SCTP_WINDOW_DEFAULT (4u << 20)   /* per stream: 80 ms at 400 Mbit/s */
#define SCTP_WINDOW_MIN (64u << 10)      /* credit before SETTINGS arrives */
#define SCTP_BUF_DEFAULT (8u << 20)      /* SO_SNDBUF / SO_RCVBUF */
#define SCTP_IDLE_DEFAULT_US 30000000ull
#define SCTP_TICK_US 10000u          /* the timer wheel's step */
#define SCTP_TICK_BUSY_US 10000u
#define SCTP_TICK_IDLE_US 100000u
#define SCTP_BUSY_US 1000000u
#define SCTP_RTO_MIN_MS 200u          /* Linux TCP's */
#define SCTP_RTO_INITIAL_MS 1000u     /* RFC 6298 */
#define SCTP_RTO_MAX_MS 5000u
#define SCTP_SACK_DELAY_MS 20u        /* usrsctp's 200 ms meets the 200 ms RTO */
#define SCTP_MAXRXT 0xffffu           /* path and association: never give up */

enum { PPID_DATA = 1, PPID_FIN = 2, PPID_RST = 3, PPID_CTRL = 4 };
enum { CTRL_SETTINGS = 1, CTRL_WINDOW = 2 };
#define CTRL_SETTINGS_LEN 5          /* type, u32 window */
#define CTRL_WINDOW_LEN 15           /* type, u16 sid, u32 incarnation, u64 limit */

enum tx_state { TX_OPEN, TX_FIN_PENDING, TX_RST_PENDING, TX_DONE };
enum tp_state { TP_NEW, TP_CONNECTING, TP_UP, TP_DEAD };

struct chunk {           /* received bytes not yet read */
	struct chunk *next;
	size_t len, off;
	uint8_t data[];
};

struct sstream {
	struct peer_tp *tp;
	struct sstream *next, *prev;   /* tp->all */
	struct sstream *evnext;        /* tp->evq */
	uint64_t id;
	uint16_t sid;
	bool in_slot;                  /* tp->slots[sid] == this */
	bool visible;                  /* the application knows the id */
	bool app_done;                 /* closed reported, or never visible */
	bool queued;                   /* in tp->evq */
	bool ev_opened, ev_readable, ev_writable;
	int ev_closed;                 /* 1: closed(0); < 0: closed(rc); 0: none */
	/* receiving */
	struct chunk *rq_head, *rq_tail;
	uint64_t rx_recv, rx_read, rx_limit;
	bool rx_done, rx_fin, rx_discard, eof_read, win_pending;
	/* sending */
	enum tx_state tx;
	bool tx_by_fin;                /* TX_DONE through FIN, not RST */
	bool want_writable;
	uint64_t tx_sent, tx_limit;
};

struct peer_tp {
	struct peer_tp_conf conf;
	struct peer_tp_cbs cbs;
	void *arg;
	struct socket *so;
	enum tp_state state;
	int dead_rc;
	bool kick;                     /* the socket's upcall fired */
	bool freeing;                  /* no more output */
	bool dispatching;
	bool sock_full;                /* a send failed: EWOULDBLOCK */
	bool settings_pending;
	bool ev_ready;
	unsigned ctl_pending;          /* streams with FIN/RST/WINDOW to send */
	uint64_t now_us, last_rx_us, last_io_us, idle_us;
	uint32_t window, peer_window;
	uint32_t msg_max;              /* DATA message: whole DATA chunks */
	uint16_t nstreams, next_sid;
	struct sstream *slots[SCTP_NSTREAMS];
	uint32_t gen[SCTP_NSTREAMS];
	struct sstream *all;
	struct sstream *evq, *evq_tail;
	struct peer_tp_stats st;
	uint32_t retrans_base;
	uint8_t rbuf[SCTP_RECV_BUF];
};

/* tp_sctp_stream.c: events (callbacks run only from input() and timeout()) */
void tps_dispatch(struct peer_tp *tp);
void tps_die(struct peer_tp *tp, int rc);        /* every stream closes with rc, then ready(rc) */
void tps_streams_free(struct peer_tp *tp);        /* from free(): no callbacks */
/* Control messages owed after the socket was full, then stream_writable. */
void tps_flush_all(struct peer_tp *tp);
int tps_send_settings(struct peer_tp *tp);        /* 1 sent, 0 socket full, < 0 */
/* A message read from the socket: sid 0 control, or a stream's. < 0 = the
 * peer broke the protocol: the association dies. */
int tps_on_ctrl(struct peer_tp *tp, const uint8_t *m, size_t len);
int tps_on_msg(struct peer_tp *tp, uint16_t sid, uint32_t ppid, const uint8_t *data, size_t len,
	       bool eor);
/* The stream operations of peer/tp.h. */
int tps_stream_open(struct peer_tp *tp, uint64_t *id);
ssize_t tps_stream_write(struct peer_tp *tp, uint64_t id, const uint8_t *buf, size_t len);
int tps_stream_shutdown(struct peer_tp *tp, uint64_t id);
ssize_t tps_stream_read(struct peer_tp *tp, uint64_t id, uint8_t *buf, size_t cap);
int tps_stream_reset(struct peer_tp *tp, uint64_t id);

#endif
