/*
 * HTTP/1.x request heads for the http vhost port, and response framing for
 * the backends behind it, on Debian's http-parser (2.9, built non-strict):
 * reading and checking heads, their accessors, and basic auth. What burrowd
 * writes (the head rewritten for the backend, its own pages) is in
 * http_write.c; the message struct both use is in http_int.h.
 *
 * The parser is paused in on_headers_complete, so feed() stops exactly at
 * the end of a head. It pauses on the head's last LF without consuming it:
 * feed() reports that byte as consumed (it is part of the head) and body()
 * hands the parser a "\n" first. The parser is paused again in
 * on_message_complete, so body() stops at the end of each message and the
 * next request is routed on its own (keep-alive, pipelining).
 *
 * A request head is copied into a per-connection arena (at most twice
 * RELAY_HTTP_HEAD_MAX: the raw strings, then the derived host and path) and
 * rebuilt for the backend from its parts. Because the parser was built
 * without strict checks, the bytes it accepts too easily are refused here:
 * bare CR, obs-fold, header names that are not tokens, control bytes in the
 * URL, HTTP versions other than 1.0 and 1.1. Framing is left to the parser
 * (duplicate Content-Length, Content-Length with chunked, chunked not last).
 */
#include "relay/http_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>
#include <sodium.h>

#include "common/err.h"

#define ARENA_MAX (2 * RELAY_HTTP_HEAD_MAX)   /* offsets fit in uint16_t */
#define ARENA_KEEP 4096                       /* kept between requests */
#define AUTH_B64_MAX 1024

static int on_url(http_parser *hp, const char *at, size_t len);
static int on_header_field(http_parser *hp, const char *at, size_t len);
static int on_header_value(http_parser *hp, const char *at, size_t len);
static int on_headers_complete(http_parser *hp);
static int on_message_complete(http_parser *hp);

static const http_parser_settings settings = {
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

/* --- arena ---------------------------------------------------------------- */

static int arena_put(struct relay_http_req *r, const char *p, size_t n)
{
	if (n > ARENA_MAX || r->alen + n > ARENA_MAX)
		return BW_E_TOO_BIG;
	if (r->alen + n > r->acap) {
		size_t cap = r->acap ? r->acap : 512;
		char *na;

		while (cap < r->alen + n)
			cap *= 2;
		if (cap > ARENA_MAX)
			cap = ARENA_MAX;
		na = realloc(r->a, cap);
		if (!na)
			return BW_E_NOMEM;
		r->a = na;
		r->acap = cap;
	}
	memcpy(r->a + r->alen, p, n);
	r->alen += n;
	return 0;
}

/* Start a new string of kind cb, closing the previous one. */
static int begin(struct relay_http_req *r, enum cb_kind cb)
{
	int rc;

	if (r->cb == cb)
		return 0;
	if (r->cb != CB_NONE && (rc = arena_put(r, "", 1)) < 0)
		return rc;
	if (cb == CB_FIELD) {
		if (r->nh == RELAY_HTTP_HEADERS_MAX)
			return BW_E_TOO_BIG;
		r->h[r->nh++] = (struct hdr){(uint16_t)r->alen, 0, NO_VALUE, 0};
	} else if (cb == CB_VALUE) {
		r->h[r->nh - 1].value = (uint16_t)r->alen;
	}
	r->cb = cb;
	return 0;
}

/* Fail the parser from a callback, remembering why. */
static int cb_fail(struct relay_http_req *r, int rc)
{
	r->err = rc;
	return -1;
}

/* --- parser callbacks (heads only; trailers of chunked bodies are ignored) */

static int on_url(http_parser *hp, const char *at, size_t len)
{
	struct relay_http_req *r = hp->data;
	int rc;

	if (r->response || r->st != ST_HEAD)
		return 0;
	if ((rc = begin(r, CB_URL)) < 0 || (rc = arena_put(r, at, len)) < 0)
		return cb_fail(r, rc);
	r->url_len = (uint16_t)(r->url_len + len);
	return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
	struct relay_http_req *r = hp->data;
	int rc;

	if (r->response || r->st != ST_HEAD)
		return 0;
	if ((rc = begin(r, CB_FIELD)) < 0 || (rc = arena_put(r, at, len)) < 0)
		return cb_fail(r, rc);
	r->h[r->nh - 1].name_len = (uint16_t)(r->h[r->nh - 1].name_len + len);
	return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
	struct relay_http_req *r = hp->data;
	int rc;

	if (r->response || r->st != ST_HEAD)
		return 0;
	if ((rc = begin(r, CB_VALUE)) < 0 || (rc = arena_put(r, at, len)) < 0)
		return cb_fail(r, rc);
	r->h[r->nh - 1].value_len = (uint16_t)(r->h[r->nh - 1].value_len + len);
	return 0;
}

static bool tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool relay_http_token_valid(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!tchar((unsigned char)s[i]))
			return false;
	return true;
}

/* Field content (RFC 9110 5.5): no control bytes but HT. */
bool relay_http_value_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

bool relay_http_name_is(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode the path for routing, as Go's URL.Path (frp matches
 * locations against it). A NUL or a broken escape is an error. */
static int path_put(struct relay_http_req *r, const char *p, size_t len)
{
	size_t start = r->alen;
	int rc;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (c == '%') {
			int hi = i + 2 < len ? unhex((unsigned char)p[i + 1]) : -1;
			int lo = hi >= 0 ? unhex((unsigned char)p[i + 2]) : -1;

			if (lo < 0 || (hi == 0 && lo == 0))
				return BW_E_HTTP_MALFORMED;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if ((rc = arena_put(r, &c, 1)) < 0)
			return rc;
	}
	if (r->alen == start && (rc = arena_put(r, "/", 1)) < 0)
		return rc;
	r->path = (uint16_t)start;
	return arena_put(r, "", 1);
}

/* Host for routing and X-Forwarded-Host: the absolute URL's authority
 * overrides the Host header (RFC 9112 3.2.2). */
static int host_derive(struct relay_http_req *r, const struct http_parser_url *u)
{
	char canon[RELAY_VHOST_HOST_MAX + 1];
	const char *raw;
	size_t raw_len;
	int n, rc;

	if (u->field_set & (1 << UF_HOST)) {
		/* The authority as sent, with port and IPv6 brackets. */
		size_t end = u->field_data[UF_HOST].off + u->field_data[UF_HOST].len;

		raw = r->a + u->field_data[UF_HOST].off;
		if (raw > r->a && raw[-1] == '[')
			raw--, end++;
		if (u->field_set & (1 << UF_PORT))
			end = u->field_data[UF_PORT].off + u->field_data[UF_PORT].len;
		raw_len = r->a + end - raw;
	} else if (r->host_hdr >= 0) {
		raw = astr(r, r->h[r->host_hdr].value);
		raw_len = r->h[r->host_hdr].value_len;
	} else {
		raw = "";
		raw_len = 0;
	}
	n = relay_vhost_host_canon(raw, raw_len, canon, sizeof(canon));
	if (n < 0)
		return BW_E_HTTP_MALFORMED;
	/* raw points into the arena, which may move: copy it first. */
	{
		char keep[RELAY_VHOST_HOST_MAX + 8];

		if (raw_len >= sizeof(keep))
			return BW_E_HTTP_MALFORMED;
		memcpy(keep, raw, raw_len);
		r->orig_host = (uint16_t)r->alen;
		if ((rc = arena_put(r, keep, raw_len)) < 0 || (rc = arena_put(r, "", 1)) < 0)
			return rc;
	}
	r->host = (uint16_t)r->alen;
	if ((rc = arena_put(r, canon, (size_t)n + 1)) < 0)
		return rc;
	return 0;
}

/* Check and derive what the relay needs once a request head is complete. */
static int head_finish(struct relay_http_req *r)
{
	http_parser *hp = &r->parser;
	struct http_parser_url u;
	const char *url;
	int rc, hosts = 0;

	if (r->cb != CB_NONE && (rc = arena_put(r, "", 1)) < 0)
		return rc;
	r->cb = CB_NONE;
	url = r->a;     /* only now: arena_put may move the arena */
	if (hp->http_major != 1 || hp->http_minor > 1 || r->url_len == 0)
		return BW_E_HTTP_MALFORMED;
	for (size_t i = 0; i < r->url_len; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return BW_E_HTTP_MALFORMED;
	r->host_hdr = -1;
	for (unsigned i = 0; i < r->nh; i++) {
		struct hdr *h = &r->h[i];

		if (h->value == NO_VALUE) {
			h->value = (uint16_t)(h->name + h->name_len);  /* its NUL */
			h->value_len = 0;
		}
		/* The parser keeps trailing whitespace; RFC 9110 5.5 drops it. */
		while (h->value_len > 0 && (r->a[h->value + h->value_len - 1] == ' ' ||
					    r->a[h->value + h->value_len - 1] == '\t'))
			r->a[h->value + --h->value_len] = '\0';
		/* The lenient parser lets a control byte (even NUL) start a
		 * value. */
		if (!relay_http_token_valid(astr(r, h->name), h->name_len) ||
		    !relay_http_value_valid(astr(r, h->value), h->value_len))
			return BW_E_HTTP_MALFORMED;
		if (relay_http_name_is(astr(r, h->name), h->name_len, "host")) {
			hosts++;
			r->host_hdr = (int)i;
		}
	}
	/* A request may not carry two Hosts; HTTP/1.1 must carry one. */
	if (hosts > 1 || (hosts == 0 && hp->http_minor == 1 && hp->method != HTTP_CONNECT))
		return BW_E_HTTP_MALFORMED;
	/* Transfer-Encoding without chunked last cannot be framed (RFC 9112 6.3). */
	if (hp->uses_transfer_encoding && !(hp->flags & F_CHUNKED))
		return BW_E_HTTP_MALFORMED;
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, r->url_len, hp->method == HTTP_CONNECT, &u) != 0)
		return BW_E_HTTP_MALFORMED;
	if ((rc = host_derive(r, &u)) < 0)
		return rc;
	if (hp->method == HTTP_CONNECT || !(u.field_set & (1 << UF_PATH))) {
		rc = path_put(r, "/", 1);
	} else {
		/* Copy first: path_put appends to the arena the URL lives in
		 * (host_derive may already have moved it). */
		char *tmp = malloc(u.field_data[UF_PATH].len);

		if (!tmp)
			return BW_E_NOMEM;
		memcpy(tmp, r->a + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
		rc = path_put(r, tmp, u.field_data[UF_PATH].len);
		free(tmp);
	}
	if (rc < 0)
		return rc;
	r->keep_alive = http_should_keep_alive(hp);
	r->upgrade = hp->upgrade;
	return 0;
}

static int on_headers_complete(http_parser *hp)
{
	struct relay_http_req *r = hp->data;
	int rc;

	if (r->st != ST_HEAD)
		return 0;
	if (!r->response) {
		if ((rc = head_finish(r)) < 0)
			return cb_fail(r, rc);
		http_parser_pause(hp, 1);
		return 0;
	}
	if (hp->http_major != 1)
		return cb_fail(r, BW_E_HTTP_MALFORMED);
	http_parser_pause(hp, 1);
	/* No body, whatever the headers say (RFC 9112 6.3); the parser
	 * would wait for a 304's Content-Length. */
	if (r->req_method == HTTP_HEAD || hp->status_code / 100 == 1 || hp->status_code == 204 ||
	    hp->status_code == 304)
		return 1;
	if (r->req_method == HTTP_CONNECT && hp->status_code / 100 == 2)
		return 2;                /* the connection is now a tunnel */
	return 0;
}

static int on_message_complete(http_parser *hp)
{
	struct relay_http_req *r = hp->data;

	r->msg_done = true;
	http_parser_pause(hp, 1);
	return 0;
}

/* --- feeding ------------------------------------------------------------- */

static int fail(struct relay_http_req *r, int rc)
{
	r->st = ST_ERROR;
	r->err = rc;
	return rc;
}

static int parser_err(const struct relay_http_req *r)
{
	switch (HTTP_PARSER_ERRNO(&r->parser)) {
	case HPE_HEADER_OVERFLOW:
		return BW_E_TOO_BIG;
	case HPE_CLOSED_CONNECTION:
		return BW_E_CLOSED;
	case HPE_INVALID_EOF_STATE:
		return BW_E_TRUNCATED;
	default:
		return r->err ? r->err : BW_E_HTTP_MALFORMED;
	}
}

/* Bytes the lenient parser accepts but a proxy must refuse: a CR not
 * followed by LF, a line starting with whitespace (obs-fold), and in a
 * request line anything but single spaces between its three parts. */
static int head_scan(struct relay_http_req *r, const uint8_t *p, size_t n)
{
	uint8_t last = r->last;
	unsigned line = r->line;

	/* In locals: stores through r could alias p, and every head byte
	 * comes here (most of them printable: only the last check applies). */
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c > ' ' && last != '\r' && line != 0) {
			last = c;
			continue;
		}
		if ((last == '\r' && c != '\n') || (last == '\n' && (c == ' ' || c == '\t')))
			return BW_E_HTTP_MALFORMED;
		if (line == 1 && !r->response && (c == '\t' || (c == ' ' && last == ' ')))
			return BW_E_HTTP_MALFORMED;
		if (c == '\n')
			line += line > 0;     /* CRLFs before the start line are skipped */
		else if (c != '\r' && line == 0)
			line = 1;
		last = c;
	}
	r->last = last;
	r->line = line;
	return 0;
}

static void msg_reset(struct relay_http_req *r)
{
	if (r->acap > ARENA_KEEP) {
		sodium_memzero(r->a, r->acap);
		free(r->a);
		r->a = NULL;
		r->acap = 0;
	}
	r->alen = 0;
	r->url_len = 0;
	r->nh = 0;
	r->cb = CB_NONE;
	r->head_len = 0;
	r->last = 0;
	r->line = 0;
	r->msg_done = false;
	r->keep_alive = false;
	r->upgrade = false;
	r->pending_lf = false;
	r->host_hdr = -1;
	r->host = r->path = r->orig_host = 0;
	r->st = ST_HEAD;
}

static int msg_feed(struct relay_http_req *r, const uint8_t *p, size_t len, size_t *consumed,
		    size_t max)
{
	size_t n, np;
	enum http_errno e;
	int rc;

	*consumed = 0;
	switch (r->st) {
	case ST_ERROR:
		return r->err;
	case ST_BODY:
		return BW_E_INVAL;
	case ST_CLOSED:
		return len ? BW_E_CLOSED : RELAY_HTTP_NEED_MORE;
	case ST_IDLE:
		if (len == 0)
			return RELAY_HTTP_NEED_MORE;
		msg_reset(r);
		break;
	case ST_HEAD:
		break;
	}
	if (len == 0)
		return RELAY_HTTP_NEED_MORE;
	n = len < max - r->head_len ? len : max - r->head_len;
	http_parser_pause(&r->parser, 0);
	np = http_parser_execute(&r->parser, &settings, (const char *)p, n);
	e = HTTP_PARSER_ERRNO(&r->parser);
	if (e == HPE_PAUSED)
		np++;    /* the head's last LF, not consumed by the parser */
	else if (e != HPE_OK)
		return fail(r, parser_err(r));
	if ((rc = head_scan(r, p, np)) < 0)
		return fail(r, rc);
	r->head_len += np;
	*consumed = np;
	if (e == HPE_PAUSED) {
		r->pending_lf = true;
		r->st = ST_BODY;
		if (r->response) {
			r->keep_alive = http_should_keep_alive(&r->parser);
			r->upgrade = r->parser.status_code == 101;
		}
		return RELAY_HTTP_HEAD_DONE;
	}
	if (r->head_len >= max)
		return fail(r, BW_E_TOO_BIG);
	return RELAY_HTTP_NEED_MORE;
}

static int msg_end(struct relay_http_req *r)
{
	bool up = r->upgrade || r->parser.upgrade;

	r->keep_alive = r->keep_alive && http_should_keep_alive(&r->parser);
	r->st = up || !r->keep_alive ? ST_CLOSED : ST_IDLE;
	return up ? RELAY_HTTP_UPGRADE : RELAY_HTTP_MSG_DONE;
}

static int msg_body(struct relay_http_req *r, const uint8_t *p, size_t len, size_t *consumed)
{
	enum http_errno e;
	size_t np;

	*consumed = 0;
	if (r->st == ST_ERROR)
		return r->err;
	if (r->st != ST_BODY)
		return BW_E_INVAL;
	if (r->pending_lf) {
		r->pending_lf = false;
		http_parser_pause(&r->parser, 0);
		http_parser_execute(&r->parser, &settings, "\n", 1);
		e = HTTP_PARSER_ERRNO(&r->parser);
		if (e != HPE_OK && e != HPE_PAUSED)
			return fail(r, parser_err(r));
	}
	if (!r->msg_done && len > 0) {
		http_parser_pause(&r->parser, 0);
		np = http_parser_execute(&r->parser, &settings, (const char *)p, len);
		e = HTTP_PARSER_ERRNO(&r->parser);
		if (e != HPE_OK && e != HPE_PAUSED)
			return fail(r, parser_err(r));
		*consumed = np;
	}
	return r->msg_done ? msg_end(r) : RELAY_HTTP_NEED_MORE;
}

static struct relay_http_req *msg_new(bool response, int *rc)
{
	struct relay_http_req *r = calloc(1, sizeof(*r));

	if (!r) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	http_parser_init(&r->parser, response ? HTTP_RESPONSE : HTTP_REQUEST);
	r->parser.data = r;
	r->response = response;
	r->host_hdr = -1;
	r->st = ST_HEAD;
	*rc = 0;
	return r;
}

static void msg_free(struct relay_http_req *r)
{
	if (!r)
		return;
	if (r->a) {
		/* Heads carry credentials (Authorization, cookies). */
		sodium_memzero(r->a, r->acap);
		free(r->a);
	}
	free(r);
}

/* --- requests ------------------------------------------------------------ */

struct relay_http_req *relay_http_req_new(int *rc)
{
	return msg_new(false, rc);
}

void relay_http_req_free(struct relay_http_req *req)
{
	msg_free(req);
}

int relay_http_req_feed(struct relay_http_req *req, const uint8_t *p, size_t len,
			size_t *consumed)
{
	return msg_feed(req, p, len, consumed, RELAY_HTTP_HEAD_MAX);
}

int relay_http_req_body(struct relay_http_req *req, const uint8_t *p, size_t len,
			size_t *consumed)
{
	return msg_body(req, p, len, consumed);
}

const char *relay_http_req_method(const struct relay_http_req *req)
{
	return http_method_str((enum http_method)req->parser.method);
}

int relay_http_req_method_id(const struct relay_http_req *req)
{
	return req->parser.method;
}

const char *relay_http_req_url(const struct relay_http_req *req)
{
	return req->a ? req->a : "";
}

const char *relay_http_req_path(const struct relay_http_req *req)
{
	return req->a ? astr(req, req->path) : "/";
}

const char *relay_http_req_host(const struct relay_http_req *req)
{
	return req->a ? astr(req, req->host) : "";
}

const char *relay_http_req_header(const struct relay_http_req *req, const char *name)
{
	for (unsigned i = 0; i < req->nh; i++)
		if (relay_http_name_is(astr(req, req->h[i].name), req->h[i].name_len, name))
			return astr(req, req->h[i].value);
	return NULL;
}

bool relay_http_req_keep_alive(const struct relay_http_req *req)
{
	return req->keep_alive;
}

bool relay_http_req_is_upgrade(const struct relay_http_req *req)
{
	return req->upgrade;
}

/* --- responses ----------------------------------------------------------- */

struct relay_http_resp *relay_http_resp_new(int *rc)
{
	return (struct relay_http_resp *)msg_new(true, rc);
}

void relay_http_resp_free(struct relay_http_resp *resp)
{
	msg_free(resp ? &resp->m : NULL);
}

int relay_http_resp_feed(struct relay_http_resp *resp, int req_method, const uint8_t *p,
			 size_t len, size_t *consumed)
{
	if (resp->m.st == ST_HEAD || resp->m.st == ST_IDLE)
		resp->m.req_method = req_method;
	return msg_feed(&resp->m, p, len, consumed, RELAY_HTTP_RESP_HEAD_MAX);
}

int relay_http_resp_body(struct relay_http_resp *resp, const uint8_t *p, size_t len,
			 size_t *consumed)
{
	return msg_body(&resp->m, p, len, consumed);
}

int relay_http_resp_eof(struct relay_http_resp *resp)
{
	struct relay_http_req *r = &resp->m;
	size_t unused;
	int rc;

	switch (r->st) {
	case ST_ERROR:
		return r->err;
	case ST_IDLE:
	case ST_CLOSED:
		return RELAY_HTTP_NEED_MORE;
	case ST_HEAD:
		return r->head_len == 0 ? RELAY_HTTP_NEED_MORE : fail(r, BW_E_TRUNCATED);
	case ST_BODY:
		break;
	}
	rc = msg_body(r, NULL, 0, &unused);
	if (rc != RELAY_HTTP_NEED_MORE)
		return rc;
	http_parser_pause(&r->parser, 0);
	http_parser_execute(&r->parser, &settings, NULL, 0);
	if (!r->msg_done)
		return fail(r, BW_E_TRUNCATED);
	msg_end(r);
	r->st = ST_CLOSED;
	return RELAY_HTTP_MSG_DONE;
}

void relay_http_resp_reset(struct relay_http_resp *resp)
{
	struct relay_http_req *r = &resp->m;

	msg_reset(r);
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
	r->err = 0;
	r->req_method = 0;
}

int relay_http_resp_status(const struct relay_http_resp *resp)
{
	return resp->m.parser.status_code;
}

bool relay_http_resp_keep_alive(const struct relay_http_resp *resp)
{
	return resp->m.keep_alive;
}

/* --- basic auth ----------------------------------------------------------- */

/* Equal in time independent of contents and lengths: compare hashes. */
static bool ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char ha[crypto_generichash_BYTES], hb[crypto_generichash_BYTES];

	crypto_generichash(ha, sizeof(ha), (const unsigned char *)a, alen, NULL, 0);
	crypto_generichash(hb, sizeof(hb), (const unsigned char *)b, blen, NULL, 0);
	return sodium_memcmp(ha, hb, sizeof(ha)) == 0;
}

bool relay_http_req_auth_ok(const struct relay_http_req *req, const char *user,
			    const char *password)
{
	unsigned char dec[AUTH_B64_MAX];
	const char *v, *b64, *colon;
	size_t dlen = 0, ulen;
	bool ok;

	if (!user)
		user = "";
	if (!password)
		password = "";
	if (!*user && !*password)
		return true;
	v = relay_http_req_header(req, "authorization");
	/* "Basic" is case-insensitive; one space, then standard base64. */
	if (!v || strncasecmp(v, "Basic ", 6) != 0)
		return false;
	b64 = v + 6;
	if (strlen(b64) > AUTH_B64_MAX ||
	    sodium_base642bin(dec, sizeof(dec), b64, strlen(b64), NULL, &dlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return false;
	colon = memchr(dec, ':', dlen);
	if (!colon) {
		sodium_memzero(dec, sizeof(dec));
		return false;
	}
	ulen = (size_t)(colon - (const char *)dec);
	/* Both compared, whatever the first gives. */
	ok = ct_equal((const char *)dec, ulen, user, strlen(user));
	ok &= ct_equal(colon + 1, dlen - ulen - 1, password, strlen(password));
	sodium_memzero(dec, sizeof(dec));
	return ok;
}
