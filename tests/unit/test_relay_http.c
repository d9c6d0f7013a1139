/*
 * HTTP/1.x heads for the vhost port: requests split into heads and bodies
 * (Content-Length, chunked, pipelined, keep-alive, upgrade) at every feeding
 * granularity, the limits and malformed inputs and the status they map to,
 * the rewritten head, basic auth, response framing, and the proxy's pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <http_parser.h>

#include "common/err.h"
#include "relay/vhost.h"

#define MSGS_MAX 8

/* What a connection's bytes turned into. */
struct transcript {
	int n;                            /* messages whose head was read */
	char line[MSGS_MAX][160];         /* "METHOD host path" of each */
	size_t body[MSGS_MAX];            /* body bytes of each */
	int end[MSGS_MAX];                /* MSG_DONE, UPGRADE, or 0 if unfinished */
	size_t rest;                      /* bytes left after an upgrade */
	int rc;                           /* the last error, or 0 */
};

/* Feed data in chunks of `chunk` bytes, as a relay would. */
static void run(const char *data, size_t len, size_t chunk, struct transcript *t)
{
	struct relay_http_req *req;
	bool in_body = false, tunnel = false;
	int rc;

	memset(t, 0, sizeof(*t));
	req = relay_http_req_new(&rc);
	assert_non_null(req);
	for (size_t pos = 0; pos < len && !t->rc; pos += chunk) {
		const uint8_t *p = (const uint8_t *)data + pos;
		size_t n = len - pos < chunk ? len - pos : chunk, off = 0, c;

		while (!t->rc) {
			if (tunnel) {
				t->rest += n - off;
				break;
			}
			if (!in_body) {
				if (off == n)
					break;
				rc = relay_http_req_feed(req, p + off, n - off, &c);
				off += c;
				if (rc < 0) {
					t->rc = rc;
				} else if (rc == RELAY_HTTP_HEAD_DONE) {
					assert_true(t->n < MSGS_MAX);
					snprintf(t->line[t->n], sizeof(t->line[0]), "%s %s %s",
						 relay_http_req_method(req), relay_http_req_host(req),
						 relay_http_req_path(req));
					t->n++;
					in_body = true;
				} else {
					assert_int_equal(rc, RELAY_HTTP_NEED_MORE);
					assert_int_equal(off, n);
				}
				continue;
			}
			rc = relay_http_req_body(req, p + off, n - off, &c);
			off += c;
			t->body[t->n - 1] += c;
			if (rc < 0) {
				t->rc = rc;
			} else if (rc == RELAY_HTTP_NEED_MORE) {
				assert_int_equal(off, n);
				break;
			} else {
				t->end[t->n - 1] = rc;
				in_body = false;
				tunnel = rc == RELAY_HTTP_UPGRADE;
			}
		}
	}
	relay_http_req_free(req);
}

static const size_t chunks[] = {1, 2, 3, 7, 64, 100000};

/* The same transcript at every chunk size. */
static void run_all(const char *data, size_t len, struct transcript *t)
{
	struct transcript first;

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		run(data, len, chunks[i], t);
		if (i == 0) {
			first = *t;
			continue;
		}
		if (t->n != first.n || t->rc != first.rc || t->rest != first.rest ||
		    memcmp(t->body, first.body, sizeof(t->body)) != 0 ||
		    memcmp(t->end, first.end, sizeof(t->end)) != 0)
			fail_msg("chunk %zu differs from byte at a time", chunks[i]);
		for (int m = 0; m < t->n; m++)
			assert_string_equal(t->line[m], first.line[m]);
	}
}

#define RUN(s, t) run_all((s), sizeof(s) - 1, (t))

static void test_relay_http_req_feed_simple_get(void **state)
{
	static const char in[] = "GET /index.html?q=1 HTTP/1.1\r\nHost: WWW.Example.com:8080\r\n"
				 "User-Agent: t\r\nX-Empty:\r\nX-Pad: v \t\r\n\r\n";
	struct relay_http_req *req;
	size_t c;
	int rc;

	req = relay_http_req_new(&rc);
	assert_int_equal(relay_http_req_feed(req, (const uint8_t *)in, sizeof(in) - 1, &c),
			 RELAY_HTTP_HEAD_DONE);
	assert_int_equal(c, sizeof(in) - 1);
	assert_string_equal(relay_http_req_method(req), "GET");
	assert_int_equal(relay_http_req_method_id(req), HTTP_GET);
	assert_string_equal(relay_http_req_url(req), "/index.html?q=1");
	assert_string_equal(relay_http_req_path(req), "/index.html");
	assert_string_equal(relay_http_req_host(req), "www.example.com");
	assert_string_equal(relay_http_req_header(req, "user-agent"), "t");
	assert_string_equal(relay_http_req_header(req, "x-empty"), "");
	assert_string_equal(relay_http_req_header(req, "X-PAD"), "v");
	assert_null(relay_http_req_header(req, "cookie"));
	assert_true(relay_http_req_keep_alive(req));
	assert_false(relay_http_req_is_upgrade(req));
	/* No body: the message ends with no more bytes. */
	assert_int_equal(relay_http_req_body(req, NULL, 0, &c), RELAY_HTTP_MSG_DONE);
	assert_int_equal(c, 0);
	/* Misuse is refused, not crashed on. */
	assert_int_equal(relay_http_req_body(req, NULL, 0, &c), BW_E_INVAL);
	relay_http_req_free(req);
	relay_http_req_free(NULL);
}

static void test_relay_http_req_feed_keep_alive_bodies(void **state)
{
	static const char in[] =
		"POST /api/upload HTTP/1.1\r\nHost: a.example\r\nContent-Length: 11\r\n\r\n"
		"hello world"
		"GET /second HTTP/1.1\r\nHost: b.example\r\n\r\n"
		"PUT /chunked HTTP/1.1\r\nHost: c.example\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-A: x\r\n\r\n"
		"\r\nDELETE /x%20y HTTP/1.1\r\nHost: d.example\r\n\r\n";
	struct transcript t;

	RUN(in, &t);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.n, 4);
	assert_string_equal(t.line[0], "POST a.example /api/upload");
	assert_int_equal(t.body[0], 11);
	assert_string_equal(t.line[1], "GET b.example /second");
	assert_int_equal(t.body[1], 0);
	assert_string_equal(t.line[2], "PUT c.example /chunked");
	assert_int_equal(t.body[2], strlen("5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer-A: x\r\n\r\n"));
	assert_string_equal(t.line[3], "DELETE d.example /x y");  /* decoded for routing */
	for (int i = 0; i < 4; i++)
		assert_int_equal(t.end[i], RELAY_HTTP_MSG_DONE);
}

static void test_relay_http_req_feed_pipelined(void **state)
{
	static const char in[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
				 "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
				 "HEAD /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
	struct relay_http_req *req;
	const uint8_t *p = (const uint8_t *)in;
	size_t len = sizeof(in) - 1, c;
	int rc;

	/* One buffer: each call stops where its part ends. */
	req = relay_http_req_new(&rc);
	for (int i = 1; i <= 3; i++) {
		char want[8];

		assert_int_equal(relay_http_req_feed(req, p, len, &c), RELAY_HTTP_HEAD_DONE);
		p += c;
		len -= c;
		snprintf(want, sizeof(want), "/%d", i);
		assert_string_equal(relay_http_req_path(req), want);
		assert_int_equal(relay_http_req_body(req, p, len, &c), RELAY_HTTP_MSG_DONE);
		assert_int_equal(c, 0);
	}
	assert_int_equal(len, 0);
	assert_int_equal(relay_http_req_feed(req, p, 0, &c), RELAY_HTTP_NEED_MORE);
	relay_http_req_free(req);
}

static void test_relay_http_req_feed_connection_close(void **state)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
				 "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char in10[] = "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n";
	static const char in10ka[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
				     "GET /b HTTP/1.0\r\n\r\n";
	struct transcript t;

	RUN(in, &t);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.rc, BW_E_CLOSED);
	RUN(in10, &t);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.line[0], "GET  /");   /* HTTP/1.0 without Host: no host */
	assert_int_equal(t.rc, BW_E_CLOSED);
	RUN(in10ka, &t);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.rc, 0);
}

static void test_relay_http_req_feed_upgrade(void **state)
{
	static const char ws[] = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
				 "Connection: keep-alive, Upgrade\r\n\r\n\x81\x05hello";
	static const char conn[] = "CONNECT Target.example:443 HTTP/1.1\r\nHost: other\r\n\r\n"
				   "\x16\x03\x01";
	struct transcript t;

	RUN(ws, &t);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.end[0], RELAY_HTTP_UPGRADE);
	assert_int_equal(t.rest, 7);
	RUN(conn, &t);
	assert_int_equal(t.rc, 0);
	assert_string_equal(t.line[0], "CONNECT target.example /");
	assert_int_equal(t.end[0], RELAY_HTTP_UPGRADE);
	assert_int_equal(t.rest, 3);
}

static void test_relay_http_req_feed_absolute_form(void **state)
{
	static const char in[] = "GET http://User@Proxy.Example:81/p/q?x HTTP/1.1\r\nHost: ignored\r\n\r\n"
				 "GET http://[2001:db8::1]:8080 HTTP/1.1\r\nHost: h\r\n\r\n"
				 "OPTIONS * HTTP/1.1\r\nHost: star.example\r\n\r\n";
	struct transcript t;

	RUN(in, &t);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.n, 3);
	assert_string_equal(t.line[0], "GET proxy.example /p/q");
	assert_string_equal(t.line[1], "GET [2001:db8::1] /");
	assert_string_equal(t.line[2], "OPTIONS star.example *");
}

static void test_relay_http_req_feed_malformed(void **state)
{
	static const struct {
		const char *what, *in;
	} cases[] = {
		{"no version", "GET /\r\n\r\n"},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n"},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: h\r\n\r\n"},
		{"lower-case method", "get / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"unknown method", "BREW / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"no target", "GET HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"bad escape", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"short escape", "GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"NUL escape", "GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"},
		{"bad name", "GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"},
		{"bare CR", "GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n"},
		{"control in value", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"},
		{"control starts value", "GET / HTTP/1.1\r\nHost: h\r\nX: \x01a\r\n\r\n"},
		{"no Host in 1.1", "GET / HTTP/1.1\r\nX: 1\r\n\r\n"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
		{"Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"},
		{"Host bad port", "GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n"},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"chunked not last", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"},
		{"gzip only", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"},
		{"negative length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
		{"binary", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct transcript t;

		run_all(cases[i].in, strlen(cases[i].in), &t);
		if (t.rc != BW_E_HTTP_MALFORMED)
			fail_msg("%s: %d (%s)", cases[i].what, t.rc, bw_strerror(t.rc));
		assert_int_equal(relay_http_status_for(t.rc), 400);
	}
}

/* A request whose head is exactly len bytes, padded with one header. */
static char *sized_head(size_t len)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	char *s = malloc(len + 1);
	size_t pad = len - (sizeof(start) - 1) - 4;

	assert_non_null(s);
	memcpy(s, start, sizeof(start) - 1);
	memset(s + sizeof(start) - 1, 'p', pad);
	memcpy(s + sizeof(start) - 1 + pad, "\r\n\r\n", 5);
	return s;
}

static void test_relay_http_req_feed_head_limit(void **state)
{
	char *ok = sized_head(RELAY_HTTP_HEAD_MAX), *big = sized_head(RELAY_HTTP_HEAD_MAX + 1);
	struct transcript t;

	assert_int_equal(strlen(ok), RELAY_HTTP_HEAD_MAX);
	run_all(ok, strlen(ok), &t);
	assert_int_equal(t.rc, 0);
	assert_int_equal(t.n, 1);
	run_all(big, strlen(big), &t);
	assert_int_equal(t.rc, BW_E_TOO_BIG);
	assert_int_equal(relay_http_status_for(t.rc), 431);
	/* Endless header bytes are refused at the limit, not buffered. */
	memset(big, 'x', RELAY_HTTP_HEAD_MAX + 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	run(big, RELAY_HTTP_HEAD_MAX + 1, 4096, &t);
	assert_int_equal(t.rc, BW_E_TOO_BIG);
	free(ok);
	free(big);
}

static void test_relay_http_req_feed_every_arena_size(void **state)
{
	/* Heads of every size around the arena's growth steps, so the copy
	 * moves at each point of the head (a move once went unnoticed). */
	char buf[2400];
	struct transcript t;

	for (size_t pad = 0; pad < 2100; pad++) {
		size_t o = (size_t)snprintf(buf, sizeof(buf), "GET /%.*s HTTP/1.1\r\nHost: h\r\n",
					    (int)(pad % 7), "abcdefg");

		memset(buf + o, 'v', pad);
		memcpy(buf + o, "X: ", 3);
		o += pad > 3 ? pad : 3;
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\r\n\r\n");
		run(buf, o, 100000, &t);
		assert_int_equal(t.rc, 0);
		assert_int_equal(t.n, 1);
	}
}

static void test_relay_http_req_feed_header_count(void **state)
{
	char buf[4096];
	struct transcript t;

	for (int n = RELAY_HTTP_HEADERS_MAX; n <= RELAY_HTTP_HEADERS_MAX + 1; n++) {
		size_t o = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");

		for (int i = 1; i < n; i++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "X%d: %d\r\n", i, i);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\r\n");
		run_all(buf, o, &t);
		assert_int_equal(t.rc, n == RELAY_HTTP_HEADERS_MAX ? 0 : BW_E_TOO_BIG);
	}
}

/* --- rewriting ------------------------------------------------------------ */

static char *head_of(const char *in, const struct relay_http_rewrite *rw, int *rc)
{
	struct relay_http_req *req = relay_http_req_new(rc);
	struct evbuffer *out = evbuffer_new();
	size_t c, len;
	char *s;

	assert_int_equal(relay_http_req_feed(req, (const uint8_t *)in, strlen(in), &c),
			 RELAY_HTTP_HEAD_DONE);
	*rc = relay_http_req_write_head(req, rw, out);
	len = evbuffer_get_length(out);
	s = malloc(len + 1);
	evbuffer_remove(out, s, len);
	s[len] = '\0';
	evbuffer_free(out);
	relay_http_req_free(req);
	return s;
}

static void test_relay_http_req_write_head_unchanged(void **state)
{
	static const char in[] = "GET /a?b HTTP/1.1\r\nHost: www.example.com\r\nAccept: */*\r\n"
				 "X-Forwarded-For: 1.2.3.4\r\n\r\n";
	int rc;
	char *s = head_of(in, NULL, &rc);

	assert_int_equal(rc, 0);
	assert_string_equal(s, in);
	free(s);
}

/* An HTTP/1.0 request keeps its version, and asks the backend to close
 * unless it asked for keep-alive. */
static void test_relay_http_req_write_head_http10(void **state)
{
	int rc;
	char *s = head_of("OPTIONS * HTTP/1.0\r\n\r\n", NULL, &rc);

	assert_int_equal(rc, 0);
	assert_string_equal(s, "OPTIONS * HTTP/1.0\r\nConnection: close\r\n\r\n");
	free(s);
	s = head_of("GET /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", NULL, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(s, "GET /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
	free(s);
}

static void test_relay_http_req_write_head_rewrite(void **state)
{
	static const char in[] =
		"POST /api HTTP/1.1\r\n"
		"Host: www.example.com:8080\r\n"
		"Connection: keep-alive, X-Hop, Content-Length\r\n"
		"Keep-Alive: timeout=5\r\n"
		"Proxy-Connection: keep-alive\r\n"
		"Proxy-Authorization: Basic eDp5\r\n"
		"X-Hop: 1\r\n"
		"X-Forwarded-For: 10.0.0.1\r\n"
		"x-forwarded-for: 10.0.0.2\r\n"
		"X-Real-IP: 6.6.6.6\r\n"
		"X-App: old\r\n"
		"Upgrade: h2c\r\n"
		"Content-Length: 3\r\n\r\n";
	static const struct relay_http_header set[] = {
		{"X-App", "new"}, {"X-Extra", "v a l"}, {"Host", "evil"}, {"Content-Length", "99"},
	};
	struct relay_http_rewrite rw = {.host = "backend.local", .set = set, .n_set = 4,
					.client_ip = "203.0.113.7"};
	int rc;
	char *s = head_of(in, &rw, &rc);

	assert_int_equal(rc, 0);
	assert_string_equal(s,
			    "POST /api HTTP/1.1\r\n"
			    "Host: backend.local\r\n"
			    "Content-Length: 3\r\n"
			    "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 203.0.113.7\r\n"
			    "X-Forwarded-Host: www.example.com:8080\r\n"
			    "X-Forwarded-Proto: http\r\n"
			    "X-Real-IP: 203.0.113.7\r\n"
			    "X-App: new\r\n"
			    "X-Extra: v a l\r\n"
			    "\r\n");
	free(s);
	/* Asking the backend to close; an HTTP/1.0 keep-alive kept. */
	rw = (struct relay_http_rewrite){.close = true};
	s = head_of("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &rw, &rc);
	assert_string_equal(s, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
	free(s);
	s = head_of("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", NULL, &rc);
	assert_string_equal(s, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	free(s);
	s = head_of("GET / HTTP/1.0\r\n\r\n", &(struct relay_http_rewrite){.host = "b"}, &rc);
	assert_string_equal(s, "GET / HTTP/1.0\r\nHost: b\r\nConnection: close\r\n\r\n");
	free(s);
}

static void test_relay_http_req_write_head_upgrade(void **state)
{
	static const char in[] = "GET /ws HTTP/1.1\r\nHost: h\r\nconnection: upgrade\r\n"
				 "upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n";
	int rc;
	char *s = head_of(in, &(struct relay_http_rewrite){.close = true}, &rc);

	assert_int_equal(rc, 0);
	assert_string_equal(s, "GET /ws HTTP/1.1\r\nHost: h\r\nupgrade: websocket\r\n"
			       "Sec-WebSocket-Key: k\r\nConnection: Upgrade\r\n\r\n");
	free(s);
}

static void test_relay_http_req_write_head_invalid_rewrite(void **state)
{
	static const struct relay_http_header bad_name[] = {{"X Y", "v"}};
	static const struct relay_http_header bad_value[] = {{"X", "a\r\nInjected: 1"}};
	const struct relay_http_rewrite cases[] = {
		{.host = "a\r\nb"},
		{.set = bad_name, .n_set = 1},
		{.set = bad_value, .n_set = 1},
		{.client_ip = "1.2.3.4\n"},
		{.client_ip = ""},
		{.client_ip = "1.2.3.4", .proto = "ht tp"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;
		char *s = head_of("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &cases[i], &rc);

		assert_int_equal(rc, BW_E_INVAL);
		assert_string_equal(s, "");
		free(s);
	}
	assert_true(relay_http_header_valid("X-Ok", "fine \t value"));
	assert_false(relay_http_header_valid("", "v"));
	assert_false(relay_http_header_valid("X:", "v"));
	assert_false(relay_http_header_valid("X", "\x7f"));
}

/* --- basic auth ----------------------------------------------------------- */

static void test_relay_http_req_auth_ok_table(void **state)
{
	static const struct {
		const char *auth;   /* Authorization value, NULL: none */
		bool ok;
	} cases[] = {
		{"Basic YWxpY2U6czNjcmV0", true},        /* alice:s3cret */
		{"basic YWxpY2U6czNjcmV0", true},        /* scheme is case-insensitive */
		{"BASIC YWxpY2U6czNjcmV0", true},
		{"Basic YWxpY2U6czNjcmV1", false},       /* alice:s3creu */
		{"Basic Ym9iOnMzY3JldA==", false},       /* bob:s3cret */
		{"Basic YWxpY2U6czNjcmV0Cg==", false},   /* alice:s3cret\n */
		{"Basic YWxpY2U=", false},               /* alice (no colon) */
		{"Basic YWxpY2U6czNjcmV0=", false},      /* bad padding */
		{"Basic !!!!", false},
		{"Basic", false},
		{"Basic ", false},
		{"Bearer YWxpY2U6czNjcmV0", false},
		{"Basic  YWxpY2U6czNjcmV0", false},      /* two spaces */
		{NULL, false},
	};
	char in[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct relay_http_req *req;
		size_t c;
		int rc;

		if (cases[i].auth)
			snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: %s\r\n\r\n",
				 cases[i].auth);
		else
			snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
		req = relay_http_req_new(&rc);
		assert_int_equal(relay_http_req_feed(req, (const uint8_t *)in, strlen(in), &c),
				 RELAY_HTTP_HEAD_DONE);
		if (relay_http_req_auth_ok(req, "alice", "s3cret") != cases[i].ok)
			fail_msg("case %zu: %s", i, cases[i].auth ? cases[i].auth : "(none)");
		/* A route without credentials lets everything through. */
		assert_true(relay_http_req_auth_ok(req, NULL, NULL));
		assert_true(relay_http_req_auth_ok(req, "", ""));
		relay_http_req_free(req);
	}
}

static void test_relay_http_req_auth_ok_password_only(void **state)
{
	/* frp checks the pair when either is set: ":pw" for an empty user. */
	static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic OnB3\r\n\r\n";
	struct relay_http_req *req;
	size_t c;
	int rc;

	req = relay_http_req_new(&rc);
	assert_int_equal(relay_http_req_feed(req, (const uint8_t *)in, sizeof(in) - 1, &c),
			 RELAY_HTTP_HEAD_DONE);
	assert_true(relay_http_req_auth_ok(req, NULL, "pw"));
	assert_false(relay_http_req_auth_ok(req, "u", "pw"));
	relay_http_req_free(req);
}

/* --- responses ------------------------------------------------------------ */

struct resp_case {
	const char *what;
	int method;
	const char *in;
	int statuses[4];   /* each response's status, 0-terminated */
	int last;          /* event of the last one; MSG_DONE after EOF if eof */
	bool eof;
};

static void test_relay_http_resp_framing(void **state)
{
	static const struct resp_case cases[] = {
		{"length", HTTP_GET, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", {200, 404}, RELAY_HTTP_MSG_DONE, false},
		{"reason with spaces", HTTP_GET, "HTTP/1.1 200 Very  OK\t!\r\nContent-Length: 0\r\n\r\n",
		 {200}, RELAY_HTTP_MSG_DONE, false},
		{"chunked", HTTP_GET, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "2\r\nok\r\n0\r\n\r\n", {200}, RELAY_HTTP_MSG_DONE, false},
		{"head", HTTP_HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", {200},
		 RELAY_HTTP_MSG_DONE, false},
		{"204", HTTP_GET, "HTTP/1.1 204 No Content\r\n\r\n", {204}, RELAY_HTTP_MSG_DONE, false},
		{"304", HTTP_GET, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", {304},
		 RELAY_HTTP_MSG_DONE, false},
		{"continue", HTTP_POST, "HTTP/1.1 100 Continue\r\n\r\n"
		 "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", {100, 201}, RELAY_HTTP_MSG_DONE, false},
		{"to eof", HTTP_GET, "HTTP/1.1 200 OK\r\n\r\nuntil the end", {200}, RELAY_HTTP_MSG_DONE,
		 true},
		{"switching", HTTP_GET, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\n\r\n\x81\x00", {101}, RELAY_HTTP_UPGRADE, false},
		{"connect", HTTP_CONNECT, "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03",
		 {200}, RELAY_HTTP_UPGRADE, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			const struct resp_case *rc_ = &cases[i];
			struct relay_http_resp *resp;
			const uint8_t *p = (const uint8_t *)rc_->in;
			size_t len = strlen(rc_->in), c, fed = 0;
			int n = 0, ev = 0, rc;
			bool body = false;

			resp = relay_http_resp_new(&rc);
			/* Hand bytes over in chunks; stop at a tunnel. */
			while (ev != RELAY_HTTP_UPGRADE) {
				size_t avail = len - fed < chunks[k] ? len - fed : chunks[k];

				if (!body) {
					if (avail == 0)
						break;
					rc = relay_http_resp_feed(resp, rc_->method, p + fed, avail, &c);
					fed += c;
					assert_true(rc >= 0);
					if (rc == RELAY_HTTP_HEAD_DONE) {
						assert_int_equal(relay_http_resp_status(resp),
								 rc_->statuses[n]);
						n++;
						body = true;
					}
					continue;
				}
				rc = relay_http_resp_body(resp, p + fed, avail, &c);
				fed += c;
				assert_true(rc >= 0);
				if (rc == RELAY_HTTP_NEED_MORE && avail == 0)
					break;
				if (rc != RELAY_HTTP_NEED_MORE) {
					ev = rc;
					body = false;
				}
			}
			if (rc_->eof) {
				assert_int_equal(ev, 0);
				assert_int_equal(fed, len);
				ev = relay_http_resp_eof(resp);
				assert_false(relay_http_resp_keep_alive(resp));
			}
			if (ev != rc_->last || rc_->statuses[n] != 0)
				fail_msg("%s, chunk %zu: event %d after %d responses", rc_->what,
					 chunks[k], ev, n);
			if (ev == RELAY_HTTP_MSG_DONE && !rc_->eof)
				assert_int_equal(relay_http_resp_eof(resp), RELAY_HTTP_NEED_MORE);
			relay_http_resp_free(resp);
		}
	}
}

static void test_relay_http_resp_eof_truncated(void **state)
{
	static const char *const cut[] = {
		"HTTP/1.1 200 OK\r\nContent-Le",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
	};

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		struct relay_http_resp *resp;
		size_t c, len = strlen(cut[i]);
		int rc;

		resp = relay_http_resp_new(&rc);
		rc = relay_http_resp_feed(resp, HTTP_GET, (const uint8_t *)cut[i], len, &c);
		if (rc == RELAY_HTTP_HEAD_DONE)
			relay_http_resp_body(resp, (const uint8_t *)cut[i] + c, len - c, &c);
		assert_int_equal(relay_http_resp_eof(resp), BW_E_TRUNCATED);
		relay_http_resp_free(resp);
	}
	relay_http_resp_free(NULL);
}

/* A reset parser frames the next connection's responses as a new one
 * would, whatever state the last one ended in. */
static void test_relay_http_resp_reset_reuses(void **state)
{
	static const char *const first[] = {
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Le",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
	};
	static const char next[] = "HTTP/1.1 204 No Content\r\nX: y\r\n\r\n";
	int rc;
	struct relay_http_resp *resp = relay_http_resp_new(&rc);

	assert_non_null(resp);
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		size_t c, len = strlen(first[i]);

		rc = relay_http_resp_feed(resp, HTTP_GET, (const uint8_t *)first[i], len, &c);
		if (rc == RELAY_HTTP_HEAD_DONE)
			relay_http_resp_body(resp, (const uint8_t *)first[i] + c, len - c, &c);
		relay_http_resp_reset(resp);
		rc = relay_http_resp_feed(resp, HTTP_HEAD, (const uint8_t *)next, strlen(next), &c);
		if (rc != RELAY_HTTP_HEAD_DONE || c != strlen(next))
			fail_msg("after case %zu: %d, %zu bytes", i, rc, c);
		assert_int_equal(relay_http_resp_status(resp), 204);
		assert_int_equal(relay_http_resp_body(resp, NULL, 0, &c), RELAY_HTTP_MSG_DONE);
		assert_true(relay_http_resp_keep_alive(resp));
		relay_http_resp_reset(resp);
	}
	relay_http_resp_free(resp);
}

static void test_relay_http_resp_feed_malformed(void **state)
{
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n", "SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct relay_http_resp *resp;
		size_t c;
		int rc;

		resp = relay_http_resp_new(&rc);
		rc = relay_http_resp_feed(resp, HTTP_GET, (const uint8_t *)bad[i], strlen(bad[i]), &c);
		if (rc != BW_E_HTTP_MALFORMED)
			fail_msg("case %zu: %d", i, rc);
		relay_http_resp_free(resp);
	}
}

/* --- the proxy's pages ------------------------------------------------------ */

static char *reply(int status, const char *host, bool close, int *rc)
{
	struct evbuffer *out = evbuffer_new();
	size_t len;
	char *s;

	*rc = relay_http_reply(out, status, host, close);
	len = evbuffer_get_length(out);
	s = malloc(len + 1);
	evbuffer_remove(out, s, len);
	s[len] = '\0';
	evbuffer_free(out);
	return s;
}

static void test_relay_http_reply_pages(void **state)
{
	static const int statuses[] = {400, 401, 404, 431, 502, 504};
	int rc;

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		char *s = reply(statuses[i], "www.example.com", i % 2, &rc), *body;
		char want[32];
		long clen;

		assert_int_equal(rc, 0);
		snprintf(want, sizeof(want), "HTTP/1.1 %d ", statuses[i]);
		assert_memory_equal(s, want, strlen(want));
		body = strstr(s, "\r\n\r\n");
		assert_non_null(body);
		clen = strtol(strstr(s, "Content-Length: ") + 16, NULL, 10);
		assert_int_equal(clen, strlen(body + 4));
		assert_int_equal(strstr(s, "Connection: close") != NULL, i % 2);
		assert_int_equal(strstr(s, "WWW-Authenticate: Basic realm=") != NULL,
				 statuses[i] == 401);
		free(s);
	}
	{
		char *s = reply(404, "<script>&\"'", false, &rc);

		assert_non_null(strstr(s, "for host &lt;script&gt;&amp;&quot;&#39;."));
		assert_null(strstr(s, "<script>"));
		free(s);
		s = reply(502, "app.example.com", true, &rc);
		assert_non_null(strstr(s, "The service for host app.example.com is not reachable"));
		free(s);
		s = reply(404, NULL, false, &rc);
		assert_non_null(strstr(s, "for host (none)"));
		free(s);
		s = reply(200, "x", false, &rc);
		assert_int_equal(rc, BW_E_INVAL);
		free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_http_req_feed_simple_get),
		cmocka_unit_test(test_relay_http_req_feed_keep_alive_bodies),
		cmocka_unit_test(test_relay_http_req_feed_pipelined),
		cmocka_unit_test(test_relay_http_req_feed_connection_close),
		cmocka_unit_test(test_relay_http_req_feed_upgrade),
		cmocka_unit_test(test_relay_http_req_feed_absolute_form),
		cmocka_unit_test(test_relay_http_req_feed_malformed),
		cmocka_unit_test(test_relay_http_req_feed_head_limit),
		cmocka_unit_test(test_relay_http_req_feed_every_arena_size),
		cmocka_unit_test(test_relay_http_req_feed_header_count),
		cmocka_unit_test(test_relay_http_req_write_head_unchanged),
		cmocka_unit_test(test_relay_http_req_write_head_http10),
		cmocka_unit_test(test_relay_http_req_write_head_rewrite),
		cmocka_unit_test(test_relay_http_req_write_head_upgrade),
		cmocka_unit_test(test_relay_http_req_write_head_invalid_rewrite),
		cmocka_unit_test(test_relay_http_req_auth_ok_table),
		cmocka_unit_test(test_relay_http_req_auth_ok_password_only),
		cmocka_unit_test(test_relay_http_resp_framing),
		cmocka_unit_test(test_relay_http_resp_eof_truncated),
		cmocka_unit_test(test_relay_http_resp_reset_reuses),
		cmocka_unit_test(test_relay_http_resp_feed_malformed),
		cmocka_unit_test(test_relay_http_reply_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
