/*
 * Virtual hosts of the relay (internal to relay/): the route table that maps
 * a Host or TLS server name (and, for http, a path) to the proxy that serves
 * it; the TLS ClientHello reader that finds the server name without
 * terminating TLS; and the HTTP/1.x head reader and rewriter, built on
 * http-parser, that lets one keep-alive connection be routed per request.
 * Nothing here does I/O or logs: the relay feeds bytes and acts on the result.
 */
#ifndef BW_RELAY_VHOST_H
#define BW_RELAY_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* --- Route table (vhost.c) ---------------------------------------------- */

#define RELAY_VHOST_HOST_MAX 253   /* a DNS name; longer Host values never route */
#define RELAY_VHOST_LOCATION_MAX 256

/* One route, owned by the table. Fields are read-only for callers; user and
 * password are NULL when the route has no basic auth. */
struct relay_vhost_route {
	char *domain;      /* lowercase: "www.example.com", "*.example.com" or "*" */
	char *location;    /* http: a path prefix ("/" when none was given); https: "/" */
	char *user, *password;
	void *owner;       /* the proxy */
	char *owner_name;  /* its name, for conflict messages */
};

/* Everything one http or https proxy registers, added and removed as a whole.
 * Domains are customDomains plus subdomain.subDomainHost (frp's rules: a
 * custom domain may not lie under subDomainHost, a subdomain is one label). */
struct relay_vhost_proxy {
	const char *name;
	void *owner;
	const char *const *domains; size_t n_domains;   /* empty strings skipped */
	const char *subdomain;                           /* NULL or "" if none */
	const char *subdomain_host;                      /* the server's; NULL or "" */
	const char *const *locations; size_t n_locations; /* http only; none = "/" */
	const char *user, *password;                     /* http only; NULL = none */
};

struct relay_vhost;

/* A table for one vhost port; with_locations is true for http, false for
 * https (routes by name only). */
struct relay_vhost *relay_vhost_new(bool with_locations, int *rc);
void relay_vhost_free(struct relay_vhost *v);   /* NULL ok */

/* Register every (domain, location) of p, or none: on failure nothing of p is
 * left in the table and err says why, ready to follow "proxy NAME: "
 * ("domain www.example.com location /api already used by proxy \"web2\"").
 * Returns 0, BW_E_EXISTS (a pair is taken), BW_E_CONF_VALUE (bad domain,
 * subdomain or location), BW_E_INVAL (no domain at all) or BW_E_NOMEM.
 * The owner must have no routes yet. */
int relay_vhost_add_proxy(struct relay_vhost *v, const struct relay_vhost_proxy *p,
			  char *err, size_t errlen);

/* Remove every route of owner; returns how many were removed. */
size_t relay_vhost_remove_owner(struct relay_vhost *v, const void *owner);

/* The route for a Host value (any case, port and trailing dot allowed) and a
 * request path (NULL for https): the exact domain first, then wildcards from
 * the most specific suffix ("*.b.example.com", "*.example.com"), then "*";
 * within a domain the longest location that prefixes path ("/api" takes
 * "/apix" too, as in frp). NULL when nothing matches. Valid until the table
 * changes. */
const struct relay_vhost_route *relay_vhost_lookup(const struct relay_vhost *v,
						   const char *host, const char *path);

size_t relay_vhost_count(const struct relay_vhost *v);

/* Canonical host for routing: lowercase, port and one trailing dot removed,
 * "[v6]" kept in brackets. Writes a NUL-terminated string of at most
 * RELAY_VHOST_HOST_MAX bytes to out (size > RELAY_VHOST_HOST_MAX) and returns
 * its length, or BW_E_HTTP_MALFORMED when in is not a valid host[:port]
 * (BW_E_INVAL when outsz is too small). */
int relay_vhost_host_canon(const char *in, size_t len, char *out, size_t outsz);

/* --- TLS ClientHello server name (sni.c) --------------------------------- */

#define RELAY_SNI_INPUT_MAX (16u << 10)  /* bytes read before giving up */
#define RELAY_SNI_NAME_MAX 255

/* Read the host_name of the server_name extension from the first len bytes a
 * TLS client sent (the ClientHello may span several handshake records).
 * Never reads past p + len. Returns 0 with the name, lowercased and
 * NUL-terminated, in name[RELAY_SNI_NAME_MAX + 1]; BW_E_AGAIN when more bytes
 * are needed; BW_E_TOO_BIG past RELAY_SNI_INPUT_MAX; BW_E_SNI_NOT_TLS when the
 * bytes are not a TLS handshake; BW_E_SNI_MISSING for a valid ClientHello
 * without a server name; BW_E_SNI_MALFORMED otherwise. */
int relay_sni_parse(const uint8_t *p, size_t len, char *name);

/* --- HTTP/1.x heads (http_head.c) ---------------------------------------- */

#define RELAY_HTTP_HEAD_MAX (16u << 10)       /* request line + headers */
#define RELAY_HTTP_HEADERS_MAX 100
#define RELAY_HTTP_RESP_HEAD_MAX (64u << 10)  /* responses are not stored */

/* What feed and body calls report (errors are negative BW_E_ codes). */
enum relay_http_ev {
	RELAY_HTTP_NEED_MORE = 0,  /* all bytes consumed; call again with more */
	RELAY_HTTP_HEAD_DONE = 1,  /* *consumed ends the head; accessors are valid */
	RELAY_HTTP_MSG_DONE = 2,   /* *consumed ends the message; the next starts after */
	RELAY_HTTP_UPGRADE = 3,    /* message done; what follows is a tunnel */
};

struct relay_http_req;

struct relay_http_req *relay_http_req_new(int *rc);
void relay_http_req_free(struct relay_http_req *req);   /* NULL ok */

/* Feed bytes of a client connection until the head of the next request is
 * complete. Returns RELAY_HTTP_NEED_MORE (*consumed = len), RELAY_HTTP_HEAD_DONE
 * (*consumed = head bytes in p; the rest is body or the next request, for
 * relay_http_req_body), or an error: BW_E_TOO_BIG (head over
 * RELAY_HTTP_HEAD_MAX or over RELAY_HTTP_HEADERS_MAX headers: answer 431),
 * BW_E_HTTP_MALFORMED (answer 400), BW_E_CLOSED (bytes after a request that
 * closes the connection). Errors are final for the connection. */
int relay_http_req_feed(struct relay_http_req *req, const uint8_t *p, size_t len,
			size_t *consumed);

/* Feed the bytes after the head (len may be 0, for a request without body).
 * Returns RELAY_HTTP_NEED_MORE (all len bytes belong to this body),
 * RELAY_HTTP_MSG_DONE or RELAY_HTTP_UPGRADE (*consumed bytes end it), or
 * BW_E_HTTP_MALFORMED (bad chunked framing). Content-Length bodies cost O(1)
 * per call; chunked bodies are scanned. */
int relay_http_req_body(struct relay_http_req *req, const uint8_t *p, size_t len,
			size_t *consumed);

/* Accessors, valid from HEAD_DONE until the next relay_http_req_feed(). */
const char *relay_http_req_method(const struct relay_http_req *req);  /* "GET" */
const char *relay_http_req_url(const struct relay_http_req *req);     /* as sent */
const char *relay_http_req_path(const struct relay_http_req *req);    /* decoded, no query */
const char *relay_http_req_host(const struct relay_http_req *req);    /* canonical; "" if none */
const char *relay_http_req_header(const struct relay_http_req *req, const char *name);
bool relay_http_req_keep_alive(const struct relay_http_req *req);
bool relay_http_req_is_upgrade(const struct relay_http_req *req);     /* Upgrade or CONNECT */
int relay_http_req_method_id(const struct relay_http_req *req);       /* enum http_method */

/* True when the request carries Basic credentials equal to user and password
 * (compared in constant time), or when both are NULL or empty. */
bool relay_http_req_auth_ok(const struct relay_http_req *req, const char *user,
			    const char *password);

struct relay_http_header { const char *name, *value; };

/* How the head is rewritten for the proxy's backend. */
struct relay_http_rewrite {
	const char *host;        /* hostHeaderRewrite; NULL or "" keeps Host */
	const struct relay_http_header *set; size_t n_set;  /* requestHeaders.set */
	const char *client_ip;   /* visitor address: X-Forwarded-For (appended),
				  * X-Real-IP, X-Forwarded-Host/-Proto; NULL: none */
	const char *proto;       /* X-Forwarded-Proto; NULL = "http" */
	bool close;              /* ask the backend to close after its response */
};

/* Append the rewritten head to out: hop-by-hop headers (Keep-Alive,
 * Proxy-Connection, Proxy-Authorization, those named by Connection) dropped,
 * Connection rebuilt, framing headers untouched. Set headers that would
 * change framing or routing (Host, Content-Length, Transfer-Encoding,
 * Connection, Upgrade...) are ignored, as frp does. BW_E_INVAL when rw holds
 * a name or value that cannot go in a header (nothing written). */
int relay_http_req_write_head(const struct relay_http_req *req,
			      const struct relay_http_rewrite *rw, struct evbuffer *out);

/* True when name and value can be sent as a header (for checking
 * requestHeaders.set when a proxy registers). */
bool relay_http_header_valid(const char *name, const char *value);

/* Response framing of a backend connection: where each response ends, so a
 * keep-alive client connection can carry the next one. Heads are not kept;
 * the relay forwards the consumed bytes unchanged. */
struct relay_http_resp;

struct relay_http_resp *relay_http_resp_new(int *rc);
void relay_http_resp_free(struct relay_http_resp *resp);   /* NULL ok */
/* As relay_http_req_feed; req_method (relay_http_req_method_id) is the
 * request being answered: HEAD has no body, CONNECT 2xx is a tunnel. A 1xx
 * response is a whole message: the final one follows. */
int relay_http_resp_feed(struct relay_http_resp *resp, int req_method, const uint8_t *p,
			 size_t len, size_t *consumed);
int relay_http_resp_body(struct relay_http_resp *resp, const uint8_t *p, size_t len,
			 size_t *consumed);
/* The backend closed: RELAY_HTTP_MSG_DONE if that ended a body read to EOF,
 * RELAY_HTTP_NEED_MORE between responses, BW_E_TRUNCATED mid-response. */
int relay_http_resp_eof(struct relay_http_resp *resp);
/* Ready for a new connection's responses, as if new (keeps its memory). */
void relay_http_resp_reset(struct relay_http_resp *resp);
int relay_http_resp_status(const struct relay_http_resp *resp);
bool relay_http_resp_keep_alive(const struct relay_http_resp *resp);

/* The proxy's own answers: 400, 401 (with WWW-Authenticate), 404 (a page
 * naming host), 431, 502 (the client behind host is gone), 504. host may be
 * NULL. BW_E_INVAL for another status. */
int relay_http_reply(struct evbuffer *out, int status, const char *host, bool close);

/* 431 for BW_E_TOO_BIG, 400 for any other feed error. */
int relay_http_status_for(int rc);

#endif
