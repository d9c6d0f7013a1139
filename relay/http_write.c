/*
 * What burrowd writes of HTTP/1.x for the http vhost port: a request head
 * rewritten for the proxy's backend (hop-by-hop headers dropped, Host,
 * X-Forwarded-* and requestHeaders.set applied, Connection rebuilt), and
 * burrowd's own answers (400, 401, 404, 431, 502, 504 pages). Heads are
 * read and checked by http_head.c.
 */
#include "relay/http_int.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/err.h"

#define CONN_TOKENS_MAX 32

/* --- rewriting ------------------------------------------------------------ */

/* Headers a proxy's requestHeaders.set may not touch: they frame or route
 * the message (Go's request writer ignores them too). */
static const char *const protected_names[] = {
	"host", "content-length", "transfer-encoding", "connection", "keep-alive",
	"proxy-connection", "upgrade", "te", "trailer",
};

static bool is_protected(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(protected_names) / sizeof(protected_names[0]); i++)
		if (relay_http_name_is(name, len, protected_names[i]))
			return true;
	return false;
}

bool relay_http_header_valid(const char *name, const char *value)
{
	return name && value && relay_http_token_valid(name, strlen(name)) &&
	       strlen(value) <= RELAY_HTTP_HEAD_MAX && relay_http_value_valid(value, strlen(value));
}

struct conn_tokens {
	struct { const char *p; size_t len; } t[CONN_TOKENS_MAX];
	size_t n;
};

/* The comma-separated tokens of every Connection header. */
static void conn_tokens(const struct relay_http_req *r, struct conn_tokens *ct)
{
	ct->n = 0;
	for (unsigned i = 0; i < r->nh; i++) {
		const char *s = astr(r, r->h[i].value);

		if (!relay_http_name_is(astr(r, r->h[i].name), r->h[i].name_len, "connection"))
			continue;
		while (*s && ct->n < CONN_TOKENS_MAX) {
			size_t len;

			while (*s == ' ' || *s == '\t' || *s == ',')
				s++;
			len = strcspn(s, ", \t");
			if (len > 0) {
				ct->t[ct->n].p = s;
				ct->t[ct->n++].len = len;
			}
			s += len;
		}
	}
}

/* Whether header i stays in the forwarded head. */
static bool header_kept(const struct relay_http_req *r, const struct relay_http_rewrite *rw,
			const struct conn_tokens *ct, unsigned i)
{
	static const char *const hop[] = {"connection", "keep-alive", "proxy-connection",
					  "proxy-authorization"};
	static const char *const fwd[] = {"x-forwarded-for", "x-real-ip", "x-forwarded-host",
					  "x-forwarded-proto"};
	const char *name = astr(r, r->h[i].name);
	size_t len = r->h[i].name_len;

	for (size_t k = 0; k < sizeof(hop) / sizeof(hop[0]); k++)
		if (relay_http_name_is(name, len, hop[k]))
			return false;
	if (relay_http_name_is(name, len, "upgrade"))
		return r->upgrade;
	for (size_t k = 0; rw->client_ip && k < sizeof(fwd) / sizeof(fwd[0]); k++)
		if (relay_http_name_is(name, len, fwd[k]))
			return false;
	for (size_t k = 0; k < rw->n_set; k++)
		if (!is_protected(rw->set[k].name, strlen(rw->set[k].name)) &&
		    relay_http_name_is(name, len, rw->set[k].name))
			return false;
	/* Headers named by Connection are hop-by-hop, except those that
	 * frame or route the message: dropping them would change it. */
	if (relay_http_name_is(name, len, "host") || relay_http_name_is(name, len, "content-length") ||
	    relay_http_name_is(name, len, "transfer-encoding") || (r->upgrade && relay_http_name_is(name, len, "upgrade")))
		return true;
	for (size_t k = 0; k < ct->n; k++)
		if (ct->t[k].len == len && strncasecmp(ct->t[k].p, name, len) == 0)
			return false;
	return true;
}

static bool rewrite_valid(const struct relay_http_rewrite *rw)
{
	if (rw->host && *rw->host && !relay_http_header_valid("Host", rw->host))
		return false;
	if (rw->client_ip && (!*rw->client_ip || !relay_http_header_valid("X", rw->client_ip)))
		return false;
	if (rw->proto && !relay_http_token_valid(rw->proto, strlen(rw->proto)))
		return false;
	for (size_t k = 0; k < rw->n_set; k++)
		if (!relay_http_header_valid(rw->set[k].name, rw->set[k].value))
			return false;
	return true;
}

static void put_header(struct evbuffer *out, const char *name, size_t nlen, const char *value,
		       int *bad)
{
	*bad |= evbuffer_add(out, name, nlen);
	*bad |= evbuffer_add(out, ": ", 2);
	*bad |= evbuffer_add(out, value, strlen(value));
	*bad |= evbuffer_add(out, "\r\n", 2);
}

static void put_forwarded(const struct relay_http_req *r, const struct relay_http_rewrite *rw,
			  struct evbuffer *out, int *bad)
{
	/* As Go's ProxyRequest.SetXForwarded, which frp uses: earlier
	 * X-Forwarded-For values joined, then the visitor's address. */
	*bad |= evbuffer_add(out, "X-Forwarded-For: ", 17);
	for (unsigned i = 0; i < r->nh; i++) {
		const char *v = astr(r, r->h[i].value);

		if (relay_http_name_is(astr(r, r->h[i].name), r->h[i].name_len, "x-forwarded-for")) {
			*bad |= evbuffer_add(out, v, strlen(v));
			*bad |= evbuffer_add(out, ", ", 2);
		}
	}
	*bad |= evbuffer_add(out, rw->client_ip, strlen(rw->client_ip));
	*bad |= evbuffer_add(out, "\r\n", 2);
	if (astr(r, r->orig_host)[0])
		put_header(out, "X-Forwarded-Host", 16, astr(r, r->orig_host), bad);
	put_header(out, "X-Forwarded-Proto", 17, rw->proto ? rw->proto : "http", bad);
	put_header(out, "X-Real-IP", 9, rw->client_ip, bad);
}

int relay_http_req_write_head(const struct relay_http_req *req,
			      const struct relay_http_rewrite *rw, struct evbuffer *out)
{
	static const struct relay_http_rewrite none;
	const http_parser *hp = &req->parser;
	const char *host = NULL;
	struct conn_tokens ct;
	int bad = 0;

	if (req->response || !req->a || (req->st != ST_BODY && req->st != ST_IDLE &&
					 req->st != ST_CLOSED))
		return BW_E_INVAL;
	if (!rw)
		rw = &none;
	if (!rewrite_valid(rw))
		return BW_E_INVAL;
	if (rw->host && *rw->host)
		host = rw->host;
	conn_tokens(req, &ct);
	{
		const char *m = relay_http_req_method(req), *url = relay_http_req_url(req);

		bad |= evbuffer_add(out, m, strlen(m));
		bad |= evbuffer_add(out, " ", 1);
		bad |= evbuffer_add(out, url, strlen(url));
		bad |= evbuffer_add(out, hp->http_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
	}
	for (unsigned i = 0; i < req->nh; i++) {
		const struct hdr *h = &req->h[i];

		if (!header_kept(req, rw, &ct, i))
			continue;
		if (host && (int)i == req->host_hdr)
			put_header(out, astr(req, h->name), h->name_len, host, &bad);
		else
			put_header(out, astr(req, h->name), h->name_len, astr(req, h->value), &bad);
	}
	if (host && req->host_hdr < 0)
		put_header(out, "Host", 4, host, &bad);
	if (rw->client_ip)
		put_forwarded(req, rw, out, &bad);
	for (size_t k = 0; k < rw->n_set; k++)
		if (!is_protected(rw->set[k].name, strlen(rw->set[k].name)))
			put_header(out, rw->set[k].name, strlen(rw->set[k].name), rw->set[k].value,
				   &bad);
	/* Connection is rebuilt: the tunnel an upgrade asks for, or the
	 * persistence this hop wants. */
	if (req->upgrade && hp->method != HTTP_CONNECT)
		put_header(out, "Connection", 10, "Upgrade", &bad);
	else if (rw->close || !req->keep_alive)
		put_header(out, "Connection", 10, "close", &bad);
	else if (hp->http_minor == 0)
		put_header(out, "Connection", 10, "keep-alive", &bad);
	bad |= evbuffer_add(out, "\r\n", 2);
	return bad ? BW_E_NOMEM : 0;
}

/* --- the proxy's own pages ------------------------------------------------ */

static const struct {
	int status;
	const char *reason;
	const char *pre, *post;   /* the page's text, around the host (if post) */
} replies[] = {
	{400, "Bad Request", "The request could not be understood.", NULL},
	{401, "Unauthorized", "This site needs a user name and password.", NULL},
	{404, "Not Found",
	 "The page you requested was not found: no service is registered for host ", "."},
	{431, "Request Header Fields Too Large", "The request head is too large.", NULL},
	/* In the order of enum relay_http_502. */
	{502, "Bad Gateway", "The service for host ",
	 " is not reachable: its client is not connected or did not answer. "
	 "Please try again later."},
	{502, "Bad Gateway", "The service for host ",
	 " is not reachable: its client is connected, but the service behind it refused "
	 "or dropped the connection. Please try again later."},
	{504, "Gateway Timeout", "The service for host ",
	 " did not answer in time. Please try again later."},
};

/* HTML-escape at most 255 bytes of s into out (6 bytes per input byte). */
static void html_escape(const char *s, char *out)
{
	for (size_t i = 0; s[i] && i < RELAY_SNI_NAME_MAX; i++) {
		switch (s[i]) {
		case '&': out = stpcpy(out, "&amp;"); break;
		case '<': out = stpcpy(out, "&lt;"); break;
		case '>': out = stpcpy(out, "&gt;"); break;
		case '"': out = stpcpy(out, "&quot;"); break;
		case '\'': out = stpcpy(out, "&#39;"); break;
		default: *out++ = s[i]; break;
		}
	}
	*out = '\0';
}

/* The page of replies[i]. */
static int reply_page(struct evbuffer *out, size_t i, const char *host, bool close)
{
	char esc[RELAY_SNI_NAME_MAX * 6 + 1], body[sizeof(esc) + 512];
	int status = replies[i].status, len, bad = 0;

	html_escape(host && *host ? host : "(none)", esc);
	len = snprintf(body, sizeof(body),
		       "<!DOCTYPE html>\n<html>\n<head>\n<title>%d %s</title>\n</head>\n"
		       "<body>\n<h1>%s</h1>\n<p>%s%s%s</p>\n<hr><p><em>burrow</em></p>\n"
		       "</body>\n</html>\n",
		       status, replies[i].reason, replies[i].reason, replies[i].pre,
		       replies[i].post ? esc : "", replies[i].post ? replies[i].post : "");
	if (len < 0 || (size_t)len >= sizeof(body))
		return BW_E_INVAL;
	bad |= evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nServer: burrow\r\n"
				   "Content-Type: text/html; charset=utf-8\r\n"
				   "Content-Length: %d\r\n%s%s\r\n",
				   status, replies[i].reason, len,
				   status == 401 ? "WWW-Authenticate: Basic realm=\"Restricted\"\r\n" : "",
				   close ? "Connection: close\r\n" : "") < 0;
	bad |= evbuffer_add(out, body, (size_t)len);
	return bad ? BW_E_NOMEM : 0;
}

int relay_http_reply(struct evbuffer *out, int status, const char *host, bool close)
{
	/* The first page of a status is its default. */
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		if (replies[i].status == status)
			return reply_page(out, i, host, close);
	return BW_E_INVAL;
}

int relay_http_reply_502(struct evbuffer *out, enum relay_http_502 why, const char *host,
			 bool close)
{
	for (size_t i = 0, n = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		if (replies[i].status == 502 && n++ == (size_t)why)
			return reply_page(out, i, host, close);
	return BW_E_INVAL;
}

int relay_http_status_for(int rc)
{
	return rc == BW_E_TOO_BIG ? 431 : 400;
}
