/*
 * The relay: burrowd's frps-style forwarding (public tcp and udp ports, http
 * and https virtual hosts, secret stcp/sudp/xtcp traffic between a visitor
 * and an owner) and the relayed pair both programs use to move bytes between
 * two connections.
 *
 * The rendezvous owns clients and their control connections; for each
 * logged-in client it creates a relay_client, which owns that client's proxies
 * and its pool of work connections. The relay asks for work connections
 * through the ops the rendezvous gives it.
 */
#ifndef BW_RELAY_H
#define BW_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/event.h>

#include "conf/conf.h"
#include "proto/proto.h"

/* --- Relayed pairs (both programs) ----------------------------------------- */

struct relay_pair;

struct relay_pair_stats {
	uint64_t bytes_a_to_b;  /* read from a, written to b */
	uint64_t bytes_b_to_a;
	int64_t duration_ms;
	const char *reason;     /* "done", "idle timeout", "connection reset", ... */
};
typedef void (*relay_pair_closed_fn)(void *arg, const struct relay_pair_stats *st);

#define RELAY_PAIR_HIGH_WM (256u << 10) /* per direction; see pair.c */

struct bw_crypto_session;
struct relay_pair_opts {
	relay_pair_closed_fn closed;   /* called once, after both sides are freed */
	void *arg;
	size_t high_watermark;         /* bytes waiting per direction; 0: RELAY_PAIR_HIGH_WM */
	int idle_timeout_ms;           /* 0: none */
	/* When set, side b carries stream records sealed with this session (owned
	 * by the pair from now on): what b reads is opened, what b is sent is
	 * sealed, in frames of at most RELAY_SEAL_RECORD_MAX plaintext bytes, and
	 * an empty record marks the end of a direction (a bare TCP EOF without it
	 * is a truncation and resets the pair). */
	struct bw_crypto_session *seal_b;
};
#define RELAY_SEAL_RECORD_MAX (16u << 10)

/* Take ownership of a and b (both freed by the pair) and relay between them
 * once relay_pair_start() is called. Both must be socket bufferevents: the
 * pair takes their sockets and the bytes they still hold and does its own
 * I/O. BW_E_INVAL (and the caller keeps both) for one without a socket. */
struct relay_pair *relay_pair_new(struct bufferevent *a, struct bufferevent *b,
				  const struct relay_pair_opts *opts, int *rc);
void relay_pair_start(struct relay_pair *p);
/* The only way a pair is freed; `closed` is called with the reason. */
void relay_pair_close(struct relay_pair *p, const char *reason);
/* The bytes moved so far and the age (reason NULL), for a status page. */
void relay_pair_stats_get(const struct relay_pair *p, struct relay_pair_stats *st);

/*
 * For a listener's error callback: on EMFILE or ENFILE, accepting pauses for
 * a second instead of spinning on a connection it cannot take (the kernel
 * keeps it queued), then resumes on its own through *resume, a timer the
 * caller owns and frees (event_free) with the listener. Other accept errors
 * are only logged. `what` names the listener in the rate-limited log line.
 */
void relay_listener_on_error(struct evconnlistener *l, struct event **resume, const char *what);

/* --- burrowd ------------------------------------------------------------------ */

struct relay;
struct relay_client;

/* conf must outlive the relay. */
struct relay *relay_new(struct event_base *base, const struct conf_server *conf, int *rc);
void relay_free(struct relay *r);   /* closes every client, proxy and pair; NULL ok */

/* Open the http and https vhost listeners the configuration asks for. */
int relay_listeners_open(struct relay *r);

struct relay_client_ops {
	/* Ask the client, over its control connection, for n more work
	 * connections (REQ_WORK_CONN). */
	void (*want_work_conns)(void *arg, unsigned n);
};

/* A logged-in client: `name` is used in logs ("127.0.0.1:51000 run id ab12"). */
struct relay_client *relay_client_new(struct relay *r, const char *user, const char *name,
				      unsigned pool_count, const struct relay_client_ops *ops,
				      void *arg, int *rc);
/* Close its proxies, listeners and pooled work connections (relayed pairs in
 * progress run on until they end). NULL ok. */
void relay_client_free(struct relay_client *c);

/* Register a proxy (NEW_PROXY). On success *remote_addr says where users
 * reach it; on refusal err says why, for NEW_PROXY_RESP and the log. */
int relay_proxy_open(struct relay_client *c, const struct proto_new_proxy *req,
		     char *remote_addr, size_t ralen, char *err, size_t errlen);
int relay_proxy_close(struct relay_client *c, const char *name);

/* A work connection of this client arrived and was authenticated: the relay
 * owns bev and s from now on. s seals START_WORK_CONN (and the data when the
 * proxy asked for encryption). */
struct bw_crypto_session;
void relay_client_work_conn(struct relay_client *c, struct bufferevent *bev,
			    struct bw_crypto_session *s);

/* A visitor connection for secret proxy `proxy_name` of `server_user` (empty:
 * the visitor's own user) arrived: check proof = MAC(verifier, msg) and join
 * it with a work connection of the owner. The relay owns bev from now on and
 * answers NEW_VISITOR_CONN_RESP itself. */
void relay_visitor_conn(struct relay *r, struct bufferevent *bev, const char *visitor_user,
			const struct proto_new_visitor_conn *req, const char *peer_name);

/* P2P_OPEN: is the visitor (its user, control session run id and ticket
 * counter) allowed to open a session with secret proxy `proxy_name`, given
 * proof = MAC(verifier, ticket("visit", ...))? p2p also requires an xtcp or
 * sudp proxy. On success *owner_arg is the owner client's ops arg; on
 * refusal err says why (for the visitor and the log). */
int relay_secret_authorize(struct relay *r, const char *visitor_user, const char *run_id,
			   uint64_t counter, const char *proxy_name, const uint8_t proof[32],
			   bool p2p, void **owner_arg, char *err, size_t errlen);

struct relay_stats {
	uint64_t proxies;
	uint64_t pairs_active;
	uint64_t pairs_total;
	uint64_t bytes_in, bytes_out;  /* user to client, client to user */
	uint64_t work_conns_pooled;
};
void relay_stats(const struct relay *r, struct relay_stats *out);

#endif
