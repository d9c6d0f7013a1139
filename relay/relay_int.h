/* Shared between the files of relay/; never included from outside. */
#ifndef BW_RELAY_INT_H
#define BW_RELAY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "relay/relay.h"

/* A user connection waits this long for a work connection (frp's
 * userConnTimeout default, 10 s, when the configuration gives 0). */
#define RELAY_USER_CONN_TIMEOUT_MS 10000

enum relay_proxy_kind {
	RELAY_PROXY_TCP, RELAY_PROXY_UDP, RELAY_PROXY_HTTP, RELAY_PROXY_HTTPS,
	RELAY_PROXY_STCP, RELAY_PROXY_SUDP, RELAY_PROXY_XTCP,
};

struct relay_proxy {
	struct relay_client *client;
	struct relay_proxy *next;          /* in client->proxies */
	struct relay_proxy *reg_next;      /* in relay->secret (secret kinds) */
	enum relay_proxy_kind kind;
	char *name;                        /* as registered (with the user prefix) */
	uint16_t port;                     /* tcp, udp: the public port */
	struct evconnlistener *listener;   /* tcp */
	struct event *resume;              /* tcp: after an EMFILE pause */
	struct relay_udp *udp;             /* udp */
	uint8_t verifier[32];              /* secret kinds */
	bool has_verifier;
	bool use_encryption;
	char **allow_users;                /* secret kinds: other users allowed */
	size_t n_allow_users;
	uint64_t conns;
};

/* A user connection (or a visitor's) waiting for a work connection. */
struct relay_waiter {
	struct relay_waiter *next, *prev;    /* in client->waiting, when queued */
	bool queued;
	struct relay_client *client;
	struct relay_proxy *proxy;
	struct bufferevent *bev;
	struct event *timer;
	char src[BW_ADDR_STRLEN];
	char dst[BW_ADDR_STRLEN];
	uint16_t src_port, dst_port;
	/* Called instead of the plain tcp pairing (udp, visitors). */
	void (*attach)(struct relay_waiter *w, struct bufferevent *work,
		       struct bw_crypto_session *s);
	void (*on_free)(struct relay_waiter *w);  /* told when the waiter goes */
	void *ctx;
};

struct relay_pooled {
	struct relay_pooled *next;
	struct bufferevent *bev;
	struct bw_crypto_session *session;
};

struct relay_client {
	struct relay *relay;
	struct relay_client *next, *prev;  /* in relay->clients */
	char *user;
	char *name;
	struct relay_client_ops ops;
	void *arg;
	struct relay_proxy *proxies;
	unsigned n_proxies;
	unsigned n_ports;
	struct relay_pooled *pool;
	unsigned n_pool, pool_target;
	struct relay_waiter *waiting;      /* oldest first */
	struct relay_waiter *waiting_tail;
	unsigned n_waiting;
	unsigned requested;                /* asked for, not yet arrived */
};

/* A relayed user connection: what is logged when its pair closes. */
struct relay_conn {
	struct relay *relay;
	struct relay_conn *next, *prev;   /* in relay->conns */
	struct relay_pair *pair;
	char *proxy;
	char *who;
};

struct relay {
	struct event_base *base;
	struct relay_conn *conns;
	const struct conf_server *conf;
	struct relay_client *clients;
	struct relay_proxy *secret;        /* stcp/sudp/xtcp registry */
	struct relay_stats stats;
};

/* relay.c: relay a user connection (a) and a work connection (b, sealed
 * with s when s is not NULL); takes all three; logs one line at close. */
void relay_conn_start(struct relay *r, const char *proxy, const char *who,
		      struct bufferevent *a, struct bufferevent *b, struct bw_crypto_session *s);

/* client.c */
void relay_client_take_work(struct relay_client *c, struct relay_waiter *w);
void relay_waiter_free(struct relay_waiter *w);

/* tcp.c */
int relay_tcp_open(struct relay_proxy *p, uint16_t want, char *err, size_t errlen);
void relay_tcp_close(struct relay_proxy *p);

/* udp.c */
int relay_udp_open(struct relay_proxy *p, uint16_t want, char *err, size_t errlen);
void relay_udp_close(struct relay_proxy *p);

/* ports.c */
int relay_port_check(struct relay *r, struct relay_client *c, uint16_t port, char *err,
		     size_t errlen);
bool relay_port_allowed(const struct conf_server *conf, uint16_t port);

#endif
