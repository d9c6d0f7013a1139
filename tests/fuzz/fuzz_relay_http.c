/*
 * Arbitrary bytes of an http vhost connection into the head reader, fed as
 * the relay feeds them. The first byte picks the direction (bit 0: a
 * backend's responses, bits 1-3: the request method they answer) and the
 * second the size of the reads (1..256 bytes), so pipelining and every split
 * point are reached. Each request head is routed through a small table,
 * checked for basic auth and rewritten; the rewritten head must parse again
 * to the same method, host and path. Invariants: no call consumes more than
 * it was given, and each call either consumes everything or ends a part.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <http_parser.h>

#include "common/err.h"
#include "relay/vhost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct relay_vhost *table;

static void setup(void)
{
	static int owner1, owner2;
	static const char *const d1[] = {"www.example.com", "*.example.org"};
	static const char *const l1[] = {"/", "/api"};
	static const char *const d2[] = {"*"};
	struct relay_vhost_proxy p1 = {.name = "a", .owner = &owner1, .domains = d1, .n_domains = 2,
				       .locations = l1, .n_locations = 2, .user = "u",
				       .password = "p"};
	struct relay_vhost_proxy p2 = {.name = "b", .owner = &owner2, .domains = d2, .n_domains = 1};
	char err[256];
	int rc;

	table = relay_vhost_new(true, &rc);
	if (!table || relay_vhost_add_proxy(table, &p1, err, sizeof(err)) != 0 ||
	    relay_vhost_add_proxy(table, &p2, err, sizeof(err)) != 0)
		abort();
}

/* The rewritten head must read back as the same request. */
static void round_trip(const struct relay_http_req *req, struct evbuffer *out)
{
	size_t len = evbuffer_get_length(out), c;
	const uint8_t *p = evbuffer_pullup(out, -1);
	struct relay_http_req *again;
	int rc;

	again = relay_http_req_new(&rc);
	if (!again)
		abort();
	rc = relay_http_req_feed(again, p, len, &c);
	if (rc == BW_E_TOO_BIG && len > RELAY_HTTP_HEAD_MAX - 64) {
		relay_http_req_free(again);
		return;   /* grew past the limit by a rebuilt Connection header */
	}
	if (rc != RELAY_HTTP_HEAD_DONE || c != len ||
	    strcmp(relay_http_req_method(req), relay_http_req_method(again)) != 0 ||
	    strcmp(relay_http_req_host(req), relay_http_req_host(again)) != 0 ||
	    strcmp(relay_http_req_path(req), relay_http_req_path(again)) != 0 ||
	    strcmp(relay_http_req_url(req), relay_http_req_url(again)) != 0 ||
	    relay_http_req_is_upgrade(req) != relay_http_req_is_upgrade(again) ||
	    (!relay_http_req_is_upgrade(req) &&
	     relay_http_req_keep_alive(req) != relay_http_req_keep_alive(again)))
		abort();
	relay_http_req_free(again);
}

static void on_head(const struct relay_http_req *req)
{
	static const struct relay_http_header set[] = {{"X-Set", "1"}, {"Content-Length", "7"}};
	const struct relay_http_rewrite plain = {0};
	const struct relay_http_rewrite full = {.host = "backend", .set = set, .n_set = 2,
						.client_ip = "198.51.100.9", .close = true};
	const struct relay_vhost_route *r;
	struct evbuffer *out = evbuffer_new();

	if (!out)
		abort();
	r = relay_vhost_lookup(table, relay_http_req_host(req), relay_http_req_path(req));
	if (r)
		(void)relay_http_req_auth_ok(req, r->user, r->password);
	(void)relay_http_req_header(req, "cookie");
	if (relay_http_req_write_head(req, &plain, out) != 0)
		abort();
	round_trip(req, out);
	evbuffer_drain(out, evbuffer_get_length(out));
	if (relay_http_req_write_head(req, &full, out) != 0)
		abort();
	if (relay_http_reply(out, 404, relay_http_req_host(req), false) != 0)
		abort();
	evbuffer_free(out);
}

static void requests(const uint8_t *data, size_t size, size_t chunk)
{
	struct relay_http_req *req;
	bool body = false;
	int rc;

	req = relay_http_req_new(&rc);
	if (!req)
		abort();
	for (size_t pos = 0; pos < size; pos += chunk) {
		const uint8_t *p = data + pos;
		size_t n = size - pos < chunk ? size - pos : chunk, off = 0, c;

		for (;;) {
			if (!body && off == n)
				break;
			rc = body ? relay_http_req_body(req, p + off, n - off, &c)
				  : relay_http_req_feed(req, p + off, n - off, &c);
			if (c > n - off)
				abort();
			off += c;
			if (rc < 0) {
				(void)relay_http_status_for(rc);
				goto out;
			}
			if (rc == RELAY_HTTP_NEED_MORE) {
				if (off != n)
					abort();
				if (body)
					break;
			} else if (rc == RELAY_HTTP_HEAD_DONE) {
				on_head(req);
				body = true;
			} else if (rc == RELAY_HTTP_UPGRADE) {
				goto out;
			} else {
				body = false;
			}
		}
	}
out:
	relay_http_req_free(req);
}

static void responses(const uint8_t *data, size_t size, size_t chunk, int method)
{
	struct relay_http_resp *resp;
	bool body = false;
	int rc;

	resp = relay_http_resp_new(&rc);
	if (!resp)
		abort();
	for (size_t pos = 0; pos < size; pos += chunk) {
		const uint8_t *p = data + pos;
		size_t n = size - pos < chunk ? size - pos : chunk, off = 0, c;

		for (;;) {
			if (!body && off == n)
				break;
			rc = body ? relay_http_resp_body(resp, p + off, n - off, &c)
				  : relay_http_resp_feed(resp, method, p + off, n - off, &c);
			if (c > n - off)
				abort();
			off += c;
			if (rc < 0 || rc == RELAY_HTTP_UPGRADE)
				goto out;
			if (rc == RELAY_HTTP_NEED_MORE) {
				if (off != n)
					abort();
				if (body)
					break;
			} else if (rc == RELAY_HTTP_HEAD_DONE) {
				(void)relay_http_resp_status(resp);
				body = true;
			} else {
				body = false;
			}
		}
	}
	(void)relay_http_resp_eof(resp);
	(void)relay_http_resp_keep_alive(resp);
out:
	relay_http_resp_free(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int methods[] = {HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_CONNECT};

	if (!table)
		setup();
	if (size < 2)
		return 0;
	if (data[0] & 1)
		responses(data + 2, size - 2, (size_t)data[1] + 1, methods[(data[0] >> 1) & 3]);
	else
		requests(data + 2, size - 2, (size_t)data[1] + 1);
	return 0;
}
