/* Shared between the files of peer/; never included from outside. */
#ifndef BW_PEER_INT_H
#define BW_PEER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "peer/peer.h"
#include "proto/proto.h"

struct proto_chan;
struct evdns_base;
struct peer_work;
struct peer_conn;
struct peer_visitor;
struct peer_udp;
struct nat_probe;
struct peer_visit;
struct bufferevent;
struct peer_session;
struct peer_ice_glib;

enum peer_proxy_state { PEER_PROXY_IDLE, PEER_PROXY_PENDING, PEER_PROXY_RUNNING,
			PEER_PROXY_REFUSED };

struct peer_proxy {
	const struct conf_proxy *conf;
	char wire_name[PROTO_PROXY_NAME_MAX + 1];  /* "user.name" or "name" */
	char label[PROTO_PROXY_NAME_MAX + 16];      /* "proxy ssh", for logs */
	enum peer_proxy_state state;
	char remote[PROTO_HOST_MAX + 16];
	bool secret;                        /* stcp, sudp, xtcp: end to end */
	uint8_t psk[BW_CRYPTO_KEY_LEN];     /* from secretKey */
	uint8_t verifier[BW_CRYPTO_KEY_LEN];/* what burrowd gets instead */
};

struct peer {
	struct event_base *base;
	const struct conf_client *conf;
	struct peer_hooks hooks;

	/* control connection (ctl.c) */
	struct evdns_base *dns;
	struct proto_chan *ctl;
	struct bw_crypto_hs *hs;
	enum peer_ctl_state ctl_state;
	uint8_t psk[BW_CRYPTO_KEY_LEN];
	struct event *retry;
	struct event *heartbeat;
	int backoff_ms;
	int ever_logged_in;
	int stopping;                       /* peer_stop: retry is the deadline */
	uint64_t ping_seq;
	char run_id[PROTO_RUN_ID_MAX + 1];
	uint16_t udp_port;
	uint8_t suite;                      /* of the control session */
	uint8_t work_key[BW_CRYPTO_KEY_LEN];/* exported from the control session */
	uint64_t work_counter;

	/* proxies and work connections (proxy.c) */
	struct peer_proxy *proxies;
	size_t n_proxies;
	struct peer_work *works;
	struct peer_conn *conns;

	struct peer_udp *udps;             /* udp.c */
	struct nat_probe *nat;             /* nat.c: running after login */
	uint8_t nat_type;                  /* enum nat_type from the last probe */

	/* visitors (visitor.c) */
	struct peer_visitor *visitors;
	size_t n_visitors;
	struct peer_visit *visits;

	/* P2P sessions (session.c), as visitor and as owner */
	struct peer_session *sessions;
	struct peer_ice_glib *glib;        /* libnice's side, made on first use */
};

int peer_ctl_init(struct peer *p);
void peer_ctl_start(struct peer *p);
void peer_ctl_fini(struct peer *p);

int peer_proxies_init(struct peer *p);
void peer_proxies_fini(struct peer *p);
void peer_proxies_register(struct peer *p);
void peer_proxy_registered(struct peer *p, const struct proto_new_proxy_resp *r);
void peer_work_open(struct peer *p, unsigned n);
/* Bytes moved each way through burrowd for one visitor (tx: from the local
 * side towards the owner), by connections that have closed, or datagrams. */
struct peer_traffic {
	uint64_t tx, rx;
};
/* Relay a and b (b sealed with s when s is not NULL); takes all three and
 * logs one line, prefixed with `label` ("proxy ssh"), when the pair closes.
 * When t is not NULL the pair's bytes (a to b as tx) are added to it at
 * close; t must outlive the pair (peer_conns_close runs before the owners
 * of counters are freed). */
void peer_conn_start(struct peer *p, const char *label, const char *who,
		     struct bufferevent *a, struct bufferevent *b, struct bw_crypto_session *s,
		     struct peer_traffic *t);
/* t's closed totals plus the bytes of the open pairs counting into t. */
struct peer_traffic peer_conns_traffic(const struct peer *p, const struct peer_traffic *t);
/* Close every relayed pair (burrow shutting down). */
void peer_conns_close(struct peer *p);

/* udp.c: a udp proxy's work connection, after START_WORK_CONN; takes chan and s. */
void peer_udp_start(struct peer *p, struct peer_proxy *pp, struct proto_chan *chan,
		    struct bw_crypto_session *s);
void peer_udps_fini(struct peer *p);

/* nat.c: probe burrowd's STUN server, report with NAT_REPORT. */
void peer_nat_start(struct peer *p);
void peer_nat_stop(struct peer *p);

int peer_visitors_init(struct peer *p);
/* Logged in: open the sessions of visitors with keepTunnelOpen. */
void peer_visitors_logged_in(struct peer *p);
void peer_visitors_fini(struct peer *p);

/* e2e.c: the handshake keyed by a proxy's secret over bev. done gets bev and
 * the session (both the callee's) on success, or rc < 0 (bev freed). */
typedef void (*peer_e2e_done_fn)(void *arg, int rc, struct bufferevent *bev,
				 struct bw_crypto_session *s);
void peer_e2e_start(struct bufferevent *bev, enum bw_crypto_role role, const uint8_t psk[32],
		    const char *proxy_name, peer_e2e_done_fn done, void *arg);

/* The relay ticket of a visitor connection or P2P_OPEN (visitor.c): the next
 * counter, the MAC with the control session's work key (32 bytes into mac;
 * NULL when none is sent: P2P_OPEN), and the proof of the proxy's secret
 * keyed with its verifier. */
uint64_t peer_visit_ticket(struct peer *p, const char *wire_name, const uint8_t verifier[32],
			   uint8_t *mac, uint8_t proof[32]);

/* --- P2P sessions (session.c, stream.c) ----------------------------------- */
/* A session's path, with one setter (session.c: path_set) that logs. */
enum peer_path { PEER_PATH_NONE, PEER_PATH_RELAYED, PEER_PATH_PROBING, PEER_PATH_DIRECT };
const char *peer_path_name(enum peer_path path);

/* What a visitor asks of its session. */
struct peer_session_visitor {
	const char *label;          /* "visitor ssh-home" */
	const char *wire_name;      /* the owner's proxy as burrowd names it */
	const char *server_user;
	const uint8_t *psk, *verifier;
	bool sudp;
	int fallback_ms;            /* no direct pair by then: relay */
	bool relay_fallback;        /* false: direct only */
	/* The session ended (rc, why); the visitor drops its pointer. */
	void (*closed)(void *arg, int rc, const char *why);
	/* sudp: a datagram from the owner for local app `to`. */
	void (*datagram)(void *arg, const char *to, const uint8_t *data, size_t len);
	/* xtcp with frp's fallbackTo: when the session ends before it could
	 * carry them, the waiting local connections go here (bev is the
	 * callee's) instead of being closed. */
	void (*fallback)(void *arg, struct bufferevent *bev, const char *who);
	void *arg;
};
struct peer_session *peer_session_visit(struct peer *p, const struct peer_session_visitor *sv,
					int *rc);
/* xtcp: carry a local connection as one stream (queued until the session is
 * up). Takes bev. */
void peer_session_stream_add(struct peer_session *s, struct bufferevent *bev, const char *who);
/* sudp: send a local app's datagram (dropped, like a full queue, if the
 * session is not up yet). */
void peer_session_datagram(struct peer_session *s, const char *from, const uint8_t *data,
			   size_t len);
/* Close without calling `closed`. NULL ok. */
void peer_session_free(struct peer_session *s);
/* P2P_* messages from burrowd (ctl.c). */
int peer_sessions_ctl_msg(struct peer *p, struct proto_msg *m);
/* START_WORK_CONN with a sid: the relayed path of an owner's session. Takes bev. */
void peer_session_relay_attach(struct peer *p, uint64_t sid, struct bufferevent *bev);
void peer_sessions_fini(struct peer *p);

/* --- burrow status (status.c) ---------------------------------------------- */
struct peer_status_row {
	const char *kind;           /* "proxy", "visitor", "session" */
	const char *name, *type;
	const char *state;          /* proxy state, or the session's path */
	char remote[PROTO_HOST_MAX + 16];
	char detail[PROTO_PROXY_NAME_MAX + 96]; /* peer NAT, streams */
	uint64_t rtt_us, tx_bytes, rx_bytes;
	int64_t up_ms;              /* -1: not up */
};
bool peer_session_is_visitor(const struct peer_session *s);
bool peer_session_is_sudp(const struct peer_session *s);
const char *peer_session_label(const struct peer_session *s);
/* Fill r from a session (the path, the other side, the transport's RTT). */
void peer_session_row(const struct peer_session *s, struct peer_status_row *r);
/* One row per visitor (visitor.c); returns how many were written (<= cap). */
size_t peer_visitors_rows(struct peer *p, struct peer_status_row *rows, size_t cap);

#endif
