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
	struct relay_hconn *conn;
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
	struct relay_vconn *conns;         /* user connections (vhttp.c) */
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

/* http_io.c: a socket of the http vhost port (user or work connection)
 * with burrowd's own I/O, in place of a socket bufferevent: one read per
 * wakeup into `in`, writes when the owner flushes, in the same pass. The
 * callbacks are those of a bufferevent; what carries BEV_EVENT_* flags. */
struct relay_hconn;
typedef void (*relay_hconn_cb)(struct relay_hconn *h, void *arg);
typedef void (*relay_hconn_event_cb)(struct relay_hconn *h, short what, void *arg);
struct relay_hconn {
	evutil_socket_t fd;
	struct evbuffer *in, *out;      /* the owner reads in and fills out */
	struct event *rd, *wr;
	relay_hconn_cb on_read;         /* bytes were added to in */
	relay_hconn_cb on_drained;      /* the write event emptied out */
	relay_hconn_event_cb on_event;  /* EOF, error or timeout: reading stopped */
	void *arg;
	struct timeval rto, wto;
	bool has_rto, has_wto;
	size_t read_high;               /* no reading while in holds this much; 0: none */
	bool reading, eof;
	bool rd_on, wr_on;              /* the events are pending */
	int err;                        /* errno of the last BEV_EVENT_ERROR */
};
/* new takes fd (closed by free; the caller keeps it on failure), not
 * reading yet. take_bev takes a socket bufferevent's socket and the bytes
 * it held, frees it, and reads (BW_E_INVAL for a bufferevent without its
 * own socket; the caller keeps it on failure). give_bev is the reverse, for
 * relay_pair_new: the hconn is freed on success. Callbacks may free the
 * hconn. */
struct relay_hconn *relay_hconn_new(struct event_base *base, evutil_socket_t fd, int *rc);
struct relay_hconn *relay_hconn_take_bev(struct bufferevent *bev, int *rc);
struct bufferevent *relay_hconn_give_bev(struct relay_hconn *h, int *rc);
void relay_hconn_free(struct relay_hconn *h);   /* closes the socket; NULL ok */
void relay_hconn_setcb(struct relay_hconn *h, relay_hconn_cb on_read, relay_hconn_cb on_drained,
		       relay_hconn_event_cb on_event, void *arg);
/* A timeout per direction (NULL: none), restarted by each read or write;
 * the write timeout runs only while bytes wait for the socket. */
void relay_hconn_set_timeouts(struct relay_hconn *h, const struct timeval *rd,
			      const struct timeval *wr);
void relay_hconn_set_read_high(struct relay_hconn *h, size_t high);
void relay_hconn_read(struct relay_hconn *h, bool on);
/* Write out now, in this pass; what the socket does not take (or an error)
 * goes through the write event: never a callback under the caller. */
void relay_hconn_flush(struct relay_hconn *h);
/* Have the write event write what is left and call on_drained once out is
 * empty (at once, from the loop, when it is empty already). */
void relay_hconn_write_notify(struct relay_hconn *h);
void relay_hconn_shutdown(struct relay_hconn *h);   /* SHUT_WR */

/* client.c: http work connections kept for their proxy's next request
 * (vhttp.c decides what to keep; see struct relay_http_idle). keep takes
 * conn and s (NULL when plain) for at most `idle`, or returns false and
 * takes nothing when the proxy already has RELAY_HTTP_IDLE_PER_PROXY; the
 * oldest of the client goes past RELAY_HTTP_IDLE_PER_CLIENT. take hands
 * back the newest kept for proxy_id, with the requests it carried, still
 * reading (its callbacks are the taker's to set). drop_all closes them all
 * (the client is going). */
bool relay_client_http_keep(struct relay_client *c, uint64_t proxy_id, const char *proxy,
			    struct relay_hconn *conn, struct bw_crypto_session *s, unsigned uses,
			    const struct timeval *idle);
bool relay_client_http_take(struct relay_client *c, uint64_t proxy_id,
			    struct relay_hconn **conn, struct bw_crypto_session **s,
			    unsigned *uses);
void relay_client_http_drop_all(struct relay_client *c);
/* client.c: end a sealed work connection's direction with its end record,
 * now and only if nothing is queued on it (best effort: it is about to be
 * freed, and the client's pair would otherwise log a truncation). */
void relay_work_send_end(struct relay_hconn *conn, struct bw_crypto_session *s);

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

/* --- The http vhost port's user connections (vhttp.c, vhttp_work.c) ------ */

#define RELAY_VCONN_PATH_MAX 128   /* of a request's path, in its log line */

enum relay_vphase {
	RELAY_VCONN_HEAD,      /* reading a request head */
	RELAY_VCONN_DISCARD,   /* answered by burrowd: dropping the request's body */
	RELAY_VCONN_WAIT,      /* waiting for a work connection */
	RELAY_VCONN_EXCHANGE,  /* request to the work connection, response back */
	RELAY_VCONN_CLOSING,   /* writing what is queued, then half-close and drain */
};

struct relay_vconn {
	struct relay_vhttp *vh;
	struct relay_vconn *next, *prev;   /* in vh->conns */
	struct relay_hconn *user, *work;
	struct bw_crypto_session *s;       /* the work connection is sealed */
	struct evbuffer *wplain;           /* sealed: opened, not yet forwarded */
	struct relay_http_req *req;
	struct relay_http_resp *resp;
	struct relay_waiter *waiter;
	struct event *timer;               /* head deadline, then 504 (on_timer) */
	struct event *kill;                /* the deferred free */
	enum relay_vphase phase;
	bool closing, in_user, user_eof, lingering;
	bool head_started;                 /* bytes of a request head were read */
	bool kick;                         /* call the body reader once, even empty */
	bool resp_kick;
	bool req_done;                     /* the whole request went to the backend */
	bool resp_head;                    /* in a response's body */
	bool resp_sent;                    /* response bytes went to the user */
	bool work_end;                     /* the backend's direction ended */
	bool up_paused, down_paused, logged;
	bool tunneled;                     /* handed to a relayed pair */
	bool reused;                       /* the work connection was kept from before */
	bool retried;                      /* this request was sent again once */
	int method_id, status;
	unsigned work_uses;                /* requests the work connection carried */
	uint64_t px_id;                    /* the route's proxy (relay_proxy.http_id) */
	uint64_t up, down;                 /* this request's bytes each way */
	uint64_t body_up;                  /* of up, the body's */
	size_t discarded;
	int64_t t0;
	int64_t opened;                    /* when the user connected */
	unsigned n_req;                    /* requests logged */
	uint64_t total_up, total_down;     /* all requests' bytes */
	uint16_t port, dst_port;
	char ip[BW_ADDR_STRLEN];
	char dst[BW_ADDR_STRLEN];          /* the address the user connected to */
	char who[BW_ADDR_STRLEN + 8];
	char proxy[PROTO_PROXY_NAME_MAX + 1];
	char method[16];
	char host[RELAY_VHOST_HOST_MAX + 1];
	char path[RELAY_VCONN_PATH_MAX + 1];  /* for the log */
};

/* vhttp.c: the user connection. req_log logs the request in progress,
 * once; close is the only way a connection ends (freed from a deferred
 * event, never under a caller); closing_start writes what is queued for the
 * user, then closes; user_process reads the user's bytes as far as the
 * phase allows and writes what that queued. */
void relay_vconn_req_log(struct relay_vconn *v, const char *why);
void relay_vconn_close(struct relay_vconn *v, const char *why);
void relay_vconn_closing_start(struct relay_vconn *v);
void relay_vconn_user_process(struct relay_vconn *v);

/* vhttp_work.c: the request's exchange with its work connection. work_find
 * sends v's request on a kept work connection of p, else a fresh one (only
 * a fresh one when fresh_only); work_send moves n bytes of src to the work
 * connection (sealed when it is); work_process forwards the response as far
 * as it goes; work_release drops the work connection, if any; exchange_fail
 * answers 502 or 504 if the user has seen nothing of the response yet, else
 * cuts the connection (a failed kept connection may send the request again
 * instead). */
void relay_vconn_work_find(struct relay_vconn *v, struct relay_proxy *p, bool fresh_only);
int relay_vconn_work_send(struct relay_vconn *v, struct evbuffer *src, size_t n);
void relay_vconn_work_process(struct relay_vconn *v);
void relay_vconn_work_release(struct relay_vconn *v);
void relay_vconn_exchange_fail(struct relay_vconn *v, int status, enum relay_http_502 page,
			       const char *why);

#endif
