/*
 * ICE (RFC 8445) for the direct UDP path between two peers: libnice 0.1.21
 * behind a libevent API. One struct peer_ice is one agent with one stream of
 * one component: a datagram path. All agents of a process share one struct
 * peer_ice_glib: libnice's GLib main context, folded into the libevent loop,
 * so everything runs on one thread (docs/decisions/ice-glib.md says why).
 *
 * Every function is called on the thread that runs the event_base given to
 * peer_ice_glib_new; every callback runs on that thread from the event loop,
 * never from inside a call into this API. Functions return 0 or a negative
 * BW_E_* / -errno; constructors return NULL and set *rc.
 */
#ifndef BW_PEER_ICE_H
#define BW_PEER_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define PEER_ICE_UFRAG_MAX 256     /* RFC 8839: ufrag 4..256, pwd 22..256 ice-chars */
#define PEER_ICE_PWD_MAX 256
#define PEER_ICE_LINE_MAX 256      /* a candidate line, without its NUL */
#define PEER_ICE_REMOTE_MAX 32     /* remote candidates accepted per agent */
#define PEER_ICE_DGRAM_MAX 1500    /* largest datagram sent or delivered */
#define PEER_ICE_BATCH_MAX 64      /* datagrams per peer_ice_sendv */

struct event_base;
struct peer_ice;
struct peer_ice_glib;

/* libnice's GLib main context, iterated by this event_base, for every agent
 * of the process; owned by struct peer. Free it after every agent (it
 * destroys what peer_ice_free left for later), never from a callback. */
struct peer_ice_glib *peer_ice_glib_new(struct event_base *base, int *rc);
void peer_ice_glib_free(struct peer_ice_glib *g);

enum peer_ice_type { PEER_ICE_HOST, PEER_ICE_SRFLX, PEER_ICE_PRFLX, PEER_ICE_RELAY };
const char *peer_ice_type_name(enum peer_ice_type t);  /* "host", ... */

/* One candidate line, as peer_ice_cand_parse reads it. */
struct peer_ice_cand {
	char foundation[33];
	uint32_t priority;
	enum peer_ice_type type;
	struct sockaddr_storage addr;
	bool has_raddr;
	struct sockaddr_storage raddr;   /* raddr/rport when has_raddr */
};

/*
 * Strictly parse an SDP candidate attribute value, exactly the form the
 * candidate callback gives: "candidate:F 1 UDP PRIO ADDR PORT typ T
 * [raddr A rport P]", single spaces, numeric addresses, component 1, UDP,
 * no extensions, at most PEER_ICE_LINE_MAX bytes. BW_E_ICE_CANDIDATE if not.
 */
int peer_ice_cand_parse(const char *line, size_t len, struct peer_ice_cand *c);

struct peer_ice_conf {
	bool controlling;              /* the visitor controls and nominates */
	int family;                    /* AF_UNSPEC (both), AF_INET or AF_INET6 */
	const char *const *local_addrs;/* NULL-terminated numeric addresses to gather
	                                  on; NULL = every non-loopback interface */
	struct sockaddr_storage stun;  /* STUN server (numeric); AF_UNSPEC = none */
	uint16_t port_min, port_max;   /* local UDP port range; 0, 0 = any */
	unsigned check_timeout_ms;     /* start to selected, else failed; 0 = 15,000 */
	unsigned keepalive_s;          /* extra keepalive when idle this long, 1..60;
	                                  0 = libnice's own only (every 4-6 s) */
};

struct peer_ice_pair {
	struct sockaddr_storage local, remote;
	enum peer_ice_type local_type, remote_type;
	int64_t elapsed_ms;            /* from peer_ice_start (0 if selected before) */
	unsigned n_local, n_remote;    /* candidates gathered / added so far */
};

struct peer_ice_cbs {
	/* A local candidate to trickle to the peer (host, srflx). */
	void (*candidate)(void *arg, const char *line);
	/* No more local candidates. */
	void (*gathering_done)(void *arg);
	/* A pair was nominated; sending works from now on. Runs again if libnice
	 * later switches to a better pair. */
	void (*selected)(void *arg, const struct peer_ice_pair *pair);
	/* Terminal: no pair within the check timeout (BW_E_TIMEOUT), checks
	 * failed, or the selected pair stopped answering keepalives for 50 s
	 * (BW_E_ICE_FAILED). Only peer_ice_free is useful afterwards. */
	void (*failed)(void *arg, int rc, const char *why);
	/* A datagram from the peer's validated address; never STUN. May come
	 * just before selected (the peer nominated first). */
	void (*recv)(void *arg, const uint8_t *pkt, size_t len);
};

/* A new agent (not gathering yet). Callbacks may free any agent, their own
 * included, with peer_ice_free; never the peer_ice_glib. */
struct peer_ice *peer_ice_new(struct peer_ice_glib *g, const struct peer_ice_conf *conf,
			      const struct peer_ice_cbs *cbs, void *arg, int *rc);

/* Our credentials, to send to the peer before any candidate. */
int peer_ice_local_credentials(struct peer_ice *ice, char ufrag[PEER_ICE_UFRAG_MAX + 1],
			       char pwd[PEER_ICE_PWD_MAX + 1]);

/* Start gathering: candidate callbacks follow. Idempotent. */
int peer_ice_gather(struct peer_ice *ice);

/* The peer's credentials arrived: gather if not yet, add the buffered remote
 * candidates, start checks and the check timeout. Once only. */
int peer_ice_start(struct peer_ice *ice, const char *remote_ufrag, const char *remote_pwd);

/* A trickled remote candidate line (peer_ice_cand_parse). Buffered until
 * peer_ice_start. BW_E_ICE_CANDIDATE (malformed), BW_E_TOO_BIG (more than
 * PEER_ICE_REMOTE_MAX), BW_E_INVAL (after peer_ice_remote_done), BW_E_CLOSED
 * (after failed). A candidate of a family not gathered is ignored (0). */
int peer_ice_add_remote(struct peer_ice *ice, const char *line);

/* The peer has no more candidates: libnice may now declare failure. */
int peer_ice_remote_done(struct peer_ice *ice);

/* Send one datagram (1..PEER_ICE_DGRAM_MAX bytes) on the selected pair, best
 * effort. BW_E_AGAIN before selected, -EAGAIN if the socket buffer is full,
 * BW_E_CLOSED after failed. Safe from callbacks. */
int peer_ice_send(struct peer_ice *ice, const uint8_t *pkt, size_t len);

/* Send up to n (at most PEER_ICE_BATCH_MAX) datagrams, in order, in one
 * system call: runs of equal size go as one UDP GSO buffer where the kernel
 * allows it. Returns how many went (fewer if the socket buffer filled),
 * -EAGAIN if none did, or the codes of peer_ice_send. */
int peer_ice_sendv(struct peer_ice *ice, const struct iovec *pkts, size_t n);

struct peer_ice_stats {
	uint64_t sent, recv;           /* datagrams */
	uint64_t recv_dropped;         /* larger than PEER_ICE_DGRAM_MAX */
	uint64_t keepalives;           /* our extra keepalives (conf.keepalive_s) */
	uint64_t gso_sends;            /* UDP GSO buffers of several datagrams */
};
void peer_ice_stats(const struct peer_ice *ice, struct peer_ice_stats *st);

/* Free the agent; allowed from its own callbacks. No callback for it runs
 * after this returns, even for events libnice had already queued; the
 * NiceAgent itself goes from a deferred event. NULL is a no-op. */
void peer_ice_free(struct peer_ice *ice);

#endif
