/* Shared by peer/session.c and peer/stream.c only: the session object. */
#ifndef BW_PEER_SESSION_INT_H
#define BW_PEER_SESSION_INT_H

#include "peer/peer_int.h"
#include "peer/ice.h"
#include "peer/tp.h"

#include <event2/event.h>

/* The stream transport (docs/decisions/stream-transport.md). */
#define SESSION_TP_ENGINE "quic"
/* Largest transport packet: with the session's 25 bytes of crypto, a kind
 * byte and IPv6 + UDP headers it stays under 1,420 bytes on the wire, below
 * the 1,500-byte Ethernet MTU with room for PPPoE and tunnels. */
#define SESSION_TP_MTU 1350
#define SESSION_DGRAM_MAX 1500                   /* one plaintext datagram */
#define SESSION_RELAY_QUEUE_MAX (1u << 20)       /* relayed path's send queue */
#define SESSION_FALLBACK_MS 2000                 /* no direct pair by then: relay */
#define SESSION_ANSWER_TIMEOUT_MS 10000          /* no P2P_ANSWER by then: give up */
#define SESSION_KEEPALIVE_S 15                   /* ICE keepalives: NAT timeouts */
#define SESSION_ICE_TIMEOUT_MS 10000             /* ICE gives up (the relay took over) */
#define SESSION_IDLE_TIMEOUT_S 30                /* nothing from the peer: dead */
#define SESSION_STATUS_S 30                      /* P2P_STATUS to burrowd */
#define SESSION_STREAM_HIGH_WM (256u << 10)      /* local socket output queue */
#define SESSION_EARLY_MAX 64                     /* sudp datagrams before the path */
#define SESSION_HELD_MAX 64                      /* sealed datagrams held for ICE */
#define SESSION_PROBE_MS 1000                    /* direct sends unanswered this long: probe */
#define SESSION_DIRECT_DEAD_MS 5000              /* unanswered this long: use the relay */

/* Datagram kinds. PROBE and PROBE_ACK check the direct path (8 bytes of
 * payload, echoed): the visitor probes a direct path that has not answered
 * what it sent for a second, and keeps probing it after falling back to the
 * relay, to come back when it answers again. */
enum { SESSION_TP = 1, SESSION_DGRAM = 2, SESSION_PROBE = 3, SESSION_PROBE_ACK = 4 };

/* Sealed datagrams for the direct path, sent together when this pass of the
 * event loop is done with the session (on_session_io) or the batch is full:
 * one system call per burst (peer_ice_sendv). */
struct session_batch {
	unsigned n;
	struct iovec iov[PEER_ICE_BATCH_MAX];
	uint8_t slot[PEER_ICE_BATCH_MAX][PEER_ICE_DGRAM_MAX];
};

struct session_stream;
struct session_udp;

/* A sealed datagram waiting for this side's ICE agent to select its pair:
 * the owner learns the path from the visitor's first packet, which can come
 * a moment before its own agent selects. */
struct session_held {
	size_t len;
	uint8_t data[];
};

struct session_early {
	char from[PROTO_ADDR_MAX + 1];
	size_t len;
	uint8_t data[];
};

struct peer_session {
	struct peer *peer;
	struct peer_session *next, *prev;   /* in peer->sessions */
	uint64_t sid;
	bool initiator;                     /* the visitor */
	bool sudp;
	bool closing;                       /* freed from free_ev */
	char label[PROTO_PROXY_NAME_MAX + 96];
	char wire_name[PROTO_PROXY_NAME_MAX + 1];
	char server_user[PROTO_USER_MAX + 1];
	uint8_t psk[BW_CRYPTO_KEY_LEN];
	uint8_t verifier[BW_CRYPTO_KEY_LEN];
	struct peer_proxy *proxy;           /* owner: the proxy visited */
	uint8_t peer_nat;                   /* the other side's NAT type */

	struct bw_crypto_hs *hs;            /* visitor: until P2P_ANSWER */
	struct bw_crypto_session *cs;       /* the datagram channel */

	enum peer_path path;                /* session_path_set only */
	int64_t opened_ms, path_since_ms;
	struct peer_ice *ice;
	const char *local_addrs[17];        /* p2p.localAddresses, NULL-terminated */
	char direct_remote[BW_ADDR_STRLEN];
	int64_t direct_wait_ms;             /* oldest direct send not answered yet, or 0 */
	bool direct_lost;                   /* visitor: fell back for silence */
	struct event *probe_timer;          /* visitor: the direct path's watchdog */
	struct bufferevent *relay;          /* the relayed path, once up */
	struct proto_chan *relay_chan;      /* visitor: dialing it */
	int fallback_ms;
	bool relay_fallback;
	char fallback_why[160];
	struct event *fallback_timer;

	const struct peer_tp_ops *tpo;
	struct peer_tp *tp;
	bool tp_up;
	bool tp_held;                       /* a burst of input waits for io_ev */
	struct event *tp_timer;
	struct session_batch *batch;        /* direct path, allocated on first use */
	struct event *io_ev;                /* end of a loop pass: release, send */
	bool io_pending;
	struct session_stream *streams;
	unsigned n_streams;

	/* sudp */
	struct session_udp *udps;           /* owner: per local app address */
	unsigned n_udps;
	struct event *udp_sweep;
	struct session_early *early[SESSION_EARLY_MAX];
	unsigned n_early;
	struct session_held *held[SESSION_HELD_MAX];
	unsigned n_held;

	uint64_t tx_bytes, rx_bytes;
	uint64_t dropped;                   /* datagrams not sent, or not opened */
	struct event *status_timer;
	struct event *free_ev;

	void (*closed_cb)(void *arg, int rc, const char *why);
	void (*datagram_cb)(void *arg, const char *to, const uint8_t *data, size_t len);
	void (*fallback_cb)(void *arg, struct bufferevent *bev, const char *who);
	void *cb_arg;
};

/* session.c */
void session_path_set(struct peer_session *s, enum peer_path next, const char *why);
void session_close(struct peer_session *s, int rc, const char *why, bool tell);
void session_tp_kick(struct peer_session *s);
void session_transport_start(struct peer_session *s);
void session_relay_dial(struct peer_session *s, const char *why);
void session_status_send(struct peer_session *s);
void session_on_status_timer(evutil_socket_t fd, short what, void *arg);
void session_datagram_out(struct peer_session *s, const char *addr, const uint8_t *data,
			  size_t len);

/* stream.c: the transport's callbacks, and sudp */
void session_tp_ready(void *arg, int rc);
void session_stream_opened(void *arg, uint64_t id);
void session_stream_readable(void *arg, uint64_t id);
void session_stream_writable(void *arg, uint64_t id);
void session_stream_closed(void *arg, uint64_t id, int rc);
void session_streams_fini(struct peer_session *s);
/* Hand the streams that never got a stream id to fallback_cb. */
void session_streams_fall_back(struct peer_session *s);
void session_datagram_in(struct peer_session *s, const char *addr, const uint8_t *data,
			 size_t len);
void session_sudp_ready(struct peer_session *s);
void session_udp_fini(struct peer_session *s);

#endif
