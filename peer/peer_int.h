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

	/* visitors (visitor.c) */
	struct peer_visitor *visitors;
	size_t n_visitors;
	struct peer_visit *visits;
};

int peer_ctl_init(struct peer *p);
void peer_ctl_start(struct peer *p);
void peer_ctl_fini(struct peer *p);

int peer_proxies_init(struct peer *p);
void peer_proxies_fini(struct peer *p);
void peer_proxies_register(struct peer *p);
void peer_proxy_registered(struct peer *p, const struct proto_new_proxy_resp *r);
void peer_work_open(struct peer *p, unsigned n);
/* Relay a and b (b sealed with s when s is not NULL); takes all three and
 * logs one line, prefixed with `label` ("proxy ssh"), when the pair closes. */
void peer_conn_start(struct peer *p, const char *label, const char *who,
		     struct bufferevent *a, struct bufferevent *b, struct bw_crypto_session *s);

/* udp.c: a udp proxy's work connection, after START_WORK_CONN; takes chan and s. */
void peer_udp_start(struct peer *p, struct peer_proxy *pp, struct proto_chan *chan,
		    struct bw_crypto_session *s);
void peer_udps_fini(struct peer *p);

/* nat.c: probe burrowd's STUN server, report with NAT_REPORT. */
void peer_nat_start(struct peer *p);
void peer_nat_stop(struct peer *p);

int peer_visitors_init(struct peer *p);
void peer_visitors_fini(struct peer *p);

/* e2e.c: the handshake keyed by a proxy's secret over bev. done gets bev and
 * the session (both the callee's) on success, or rc < 0 (bev freed). */
typedef void (*peer_e2e_done_fn)(void *arg, int rc, struct bufferevent *bev,
				 struct bw_crypto_session *s);
void peer_e2e_start(struct bufferevent *bev, enum bw_crypto_role role, const uint8_t psk[32],
		    const char *proxy_name, peer_e2e_done_fn done, void *arg);

#endif
