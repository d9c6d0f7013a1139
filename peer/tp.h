/*
 * The peer session's stream transport: reliable, flow-controlled, half-closable
 * byte streams multiplexed over one datagram channel. An engine does no I/O
 * and owns no timers: the session feeds it the datagrams it received (already
 * opened by the session's crypto), sends the packets it emits (the session
 * seals them and puts them on the current path: direct ICE pair or relay), and
 * calls it back at the deadline it asks for. That is what lets a live session
 * move from one path to another without the streams noticing.
 *
 * Engines (docs/decisions/stream-transport.md says which one Burrow uses and
 * why): "quic" (ngtcp2), "sctp" (usrsctp in AF_CONN mode), "pseudotcp"
 * (libnice's PseudoTcp). All share this one table of operations, so the
 * benchmark (bench/p2p/) runs each behind the same interface.
 *
 * Times are microseconds on CLOCK_MONOTONIC (peer_tp_now_us()). Functions
 * return 0 or a negative BW_E_* / -errno; constructors return NULL and set
 * *rc. Callbacks may call back into the engine except free; they must not
 * free it (the session defers that).
 */
#ifndef BW_PEER_TP_H
#define BW_PEER_TP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PEER_TP_NONE UINT64_MAX       /* no deadline */

struct peer_tp;                        /* one engine instance = one association */

struct peer_tp_conf {
	bool initiator;            /* the visitor: opens streams first, sends first */
	size_t mtu;                /* largest packet the engine may emit (bytes, >= 1200) */
	size_t stream_window;      /* receive window per stream (bytes); 0 = engine default */
	size_t conn_window;        /* receive window for the association; 0 = default */
	const char *cc;            /* congestion control: "cubic", "bbr", "reno"; NULL = default */
	uint64_t idle_timeout_us;  /* no packet from the peer for this long = dead; 0 = default */
};

struct peer_tp_stats {
	uint64_t rtt_us;           /* smoothed */
	uint64_t cwnd;             /* bytes */
	uint64_t pkts_sent, pkts_recv, pkts_lost; /* lost = declared lost / retransmitted */
	uint64_t bytes_sent, bytes_recv;          /* stream payload */
};

struct peer_tp_cbs {
	/* A packet to send (len <= conf.mtu). Valid for the call only. Sending is
	 * best effort: a dropped packet is the engine's to recover. */
	void (*output)(void *arg, const uint8_t *pkt, size_t len);
	/* The association is up (rc 0) or could not be set up / died (rc < 0).
	 * Streams may be opened after rc 0. After rc < 0 only free is allowed. */
	void (*ready)(void *arg, int rc);
	/* The peer opened stream id. */
	void (*stream_opened)(void *arg, uint64_t id);
	/* id has bytes to read, or its peer finished sending (read returns 0). */
	void (*stream_readable)(void *arg, uint64_t id);
	/* A write on id was short; there is room again. */
	void (*stream_writable)(void *arg, uint64_t id);
	/* id is gone: both directions finished (rc 0) or it was reset (rc < 0).
	 * The id must not be used after this call. */
	void (*stream_closed)(void *arg, uint64_t id, int rc);
};

struct peer_tp_ops {
	const char *name;
	struct peer_tp *(*new)(const struct peer_tp_conf *conf, const struct peer_tp_cbs *cbs,
			       void *arg, uint64_t now_us, int *rc);
	void (*free)(struct peer_tp *tp);          /* NULL is a no-op; no callbacks */
	/* A datagram from the peer, already opened by the session. */
	int (*input)(struct peer_tp *tp, const uint8_t *pkt, size_t len, uint64_t now_us);
	/* When to call timeout next (absolute), or PEER_TP_NONE. Ask again after
	 * every call into the engine. */
	uint64_t (*deadline)(const struct peer_tp *tp);
	int (*timeout)(struct peer_tp *tp, uint64_t now_us);
	/* Open a new stream (after ready). BW_E_BUSY when the peer's stream limit
	 * is reached: retry after a stream closes. */
	int (*stream_open)(struct peer_tp *tp, uint64_t *id);
	/* Queue bytes; returns how many were taken (0 = full: wait for
	 * stream_writable) or < 0. */
	ssize_t (*stream_write)(struct peer_tp *tp, uint64_t id, const uint8_t *buf, size_t len);
	/* Finish sending (FIN after the queued bytes): half-close. */
	int (*stream_shutdown)(struct peer_tp *tp, uint64_t id);
	/* Bytes read (> 0); 0 = the peer finished; -EAGAIN = nothing yet. Reading
	 * is what opens the receive window again: an unread stream stalls only
	 * itself. */
	ssize_t (*stream_read)(struct peer_tp *tp, uint64_t id, uint8_t *buf, size_t cap);
	/* Abort both directions now; stream_closed follows with rc < 0. */
	int (*stream_reset)(struct peer_tp *tp, uint64_t id);
	void (*stats)(const struct peer_tp *tp, struct peer_tp_stats *out);
	/* Optional (NULL: the engine answers each input at once). Between hold
	 * and release, input only takes datagrams in: no output, no callbacks;
	 * release answers for all of them at once, e.g. one acknowledgement for
	 * a burst instead of one per two packets. Holds do not nest. */
	void (*hold)(struct peer_tp *tp);
	void (*release)(struct peer_tp *tp, uint64_t now_us);
};

/* The engines this build has, by name ("quic", "sctp", "pseudotcp"); NULL if
 * unknown. */
const struct peer_tp_ops *peer_tp_find(const char *name);
uint64_t peer_tp_now_us(void);

#endif
