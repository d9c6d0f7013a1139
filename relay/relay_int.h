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
#include "relay/vhost.h"

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
	struct relay_http_opts *http;      /* http: how requests are rewritten */
	uint64_t http_id;                  /* http: tags its kept work connections (vhttp.c) */
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
	uint64_t sid;                        /* visitors: the P2P session it carries, or 0 */
};

struct relay_pooled {
	struct relay_pooled *next;
	struct bufferevent *bev;
	struct bw_crypto_session *session;
};

/* An http work connection kept for the proxy's next request (client.c keeps
 * them, vhttp.c decides which): the exchange on it completed and both ends
 * kept it alive. It hangs on the
 * proxy's client, tagged with the proxy's http_id: a proxy can close without
 * vhttp.c hearing of it, so an entry may outlive its proxy (never handed to
 * another) until its idle timeout or its client goes. */
struct relay_http_idle {
	struct relay_http_idle *next, *prev;   /* in client->http_idle, newest first */
	struct relay_client *client;
	uint64_t proxy_id;
	struct bufferevent *bev;
	struct bw_crypto_session *s;           /* useEncryption, else NULL */
	unsigned uses;                         /* requests it carried */
	char proxy[PROTO_PROXY_NAME_MAX + 1];  /* for the log */
};
#define RELAY_HTTP_IDLE_PER_PROXY 32
#define RELAY_HTTP_IDLE_PER_CLIENT 128

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
	struct relay_http_idle *http_idle; /* kept http work connections, newest first */
	struct relay_http_idle *http_idle_tail;
	unsigned n_http_idle;
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
	struct relay_vhttp *vhttp;         /* the http vhost port, when open */
	struct relay_vhttps *vhttps;       /* the https vhost port, when open */
	struct relay_stats stats;
};

/* What an http proxy asked for its requests (vhttps.c fills it when the
 * proxy registers, vhttp.c applies it to each request). */
struct relay_http_opts {
	char *host;                        /* hostHeaderRewrite; NULL: keep */
	struct relay_http_header *set;     /* requestHeaders.set */
	size_t n_set;
};

/* The http vhost port (vhttp.c). */
struct relay_vhttp {
	struct relay *relay;
	struct relay_vhost *routes;        /* every http proxy's routes */
	struct evconnlistener *listener;
	struct event *resume;
	struct vconn *conns;               /* user connections */
	uint16_t port;
	struct timeval timeout;            /* vhostHTTPTimeout; also kept work connections' idle */
	uint64_t next_proxy_id;            /* for relay_proxy.http_id */
};

/* relay.c: relay a user connection (a) and a work connection (b, sealed
 * with s when s is not NULL); takes all three; logs one line at close. */
void relay_conn_start(struct relay *r, const char *proxy, const char *who,
		      struct bufferevent *a, struct bufferevent *b, struct bw_crypto_session *s);

/* client.c */
void relay_client_take_work(struct relay_client *c, struct relay_waiter *w);
void relay_waiter_free(struct relay_waiter *w);

/* client.c: http work connections kept for their proxy's next request
 * (vhttp.c decides what to keep; see struct relay_http_idle). keep takes
 * bev and s (NULL when plain) for at most `idle`, or returns false and takes
 * nothing when the proxy already has RELAY_HTTP_IDLE_PER_PROXY; the oldest
 * of the client goes past RELAY_HTTP_IDLE_PER_CLIENT. take hands back the
 * newest kept for proxy_id, with the requests it carried. drop_all closes
 * them all (the client is going). */
bool relay_client_http_keep(struct relay_client *c, uint64_t proxy_id, const char *proxy,
			    struct bufferevent *bev, struct bw_crypto_session *s, unsigned uses,
			    const struct timeval *idle);
bool relay_client_http_take(struct relay_client *c, uint64_t proxy_id, struct bufferevent **bev,
			    struct bw_crypto_session **s, unsigned *uses);
void relay_client_http_drop_all(struct relay_client *c);
/* client.c: end a sealed work connection's direction with its end record,
 * now and only if nothing is queued on it (best effort: it is about to be
 * freed, and the client's pair would otherwise log a truncation). */
void relay_work_send_end(struct bufferevent *bev, struct bw_crypto_session *s);

/* tcp.c */
int relay_tcp_open(struct relay_proxy *p, uint16_t want, char *err, size_t errlen);
void relay_tcp_close(struct relay_proxy *p);

/* udp.c */
int relay_udp_open(struct relay_proxy *p, uint16_t want, char *err, size_t errlen);
void relay_udp_close(struct relay_proxy *p);

/* vhttp.c: the http vhost port. listen opens it when vhostHTTPPort is set;
 * free closes it and every connection in progress (nothing when not open). */
int relay_vhttp_listen(struct relay *r);
void relay_vhttp_free(struct relay *r);
/* vhttps.c: the same for the https vhost port (routing by TLS SNI). */
int relay_vhttps_listen(struct relay *r);
void relay_vhttps_free(struct relay *r);

/* http_head.c: burrowd's 502 pages, by what went wrong. relay_http_reply's
 * 502 is RELAY_HTTP_502_CLIENT. BW_E_NOMEM, or 0. */
enum relay_http_502 {
	RELAY_HTTP_502_CLIENT,    /* no work connection: the client is gone or silent */
	RELAY_HTTP_502_SERVICE,   /* the client could not reach its service */
};
int relay_http_reply_502(struct evbuffer *out, enum relay_http_502 why, const char *host,
			 bool close);

/* vhttps.c: register an http or https proxy's routes (refused when its port
 * is not open) and fill remote_addr with its domains; close removes them. */
int relay_vhttp_open(struct relay_proxy *p, const struct proto_new_proxy *req,
		     char *remote_addr, size_t ralen, char *err, size_t errlen);
void relay_vhttp_close(struct relay_proxy *p);
int relay_vhttps_open(struct relay_proxy *p, const struct proto_new_proxy *req,
		      char *remote_addr, size_t ralen, char *err, size_t errlen);
void relay_vhttps_close(struct relay_proxy *p);

/* vhttps.c: shared by both vhost ports. Listen on proxyBindAddr (else
 * bindAddr) and port for `what` ("http"); logs where, or why not (then
 * NULL with *rc set). */
struct evconnlistener *relay_vhost_listen(struct relay *r, const char *what, uint16_t port,
					  evconnlistener_cb cb, void *arg, int *rc);
/* "www.example.com:8080,web.example.com:8080" (the port left out when it is
 * the scheme's default), the NEW_PROXY_RESP remote address of a vhost proxy;
 * entries that do not fit are left out. */
void relay_vhost_remote_addr(const struct proto_new_proxy *req, const char *subdomain_host,
			     uint16_t port, uint16_t default_port, char *out, size_t outlen);
/* "ADDR:PORT" of a client connection into ip (no brackets) and *port. */
void relay_peer_split(const struct sockaddr *sa, char *ip, size_t iplen, uint16_t *port);

/* ports.c */
int relay_port_check(struct relay *r, struct relay_client *c, uint16_t port, char *err,
		     size_t errlen);
bool relay_port_allowed(const struct conf_server *conf, uint16_t port);
/* The attempt-th port to try when the client leaves the choice to the server
 * (remotePort 0), from a random seed; 0 when every allowed port was tried. */
#define RELAY_PICK_LO 10000
#define RELAY_PICK_HI 60000
#define RELAY_PICK_TRIES 4096
uint16_t relay_port_candidate(const struct conf_server *conf, uint32_t attempt, uint32_t seed);

#endif
