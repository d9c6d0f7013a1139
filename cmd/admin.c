/*
 * The admin API both programs can serve on frp's webServer.addr/port:
 * GET /api/status answers JSON, GET /api/status.txt the same as a table;
 * `X status -c FILE [--json]` fetches and prints one of them.
 * Basic auth when webServer.user is set.
 */
#include "cmd/cmd.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "common/log.h"

struct cmd_admin {
	struct evhttp *http;
	char *auth;   /* expected Authorization header value, or NULL */
	cmd_admin_fill_fn fill;
	void *arg;
};

static char *basic_auth(const char *user, const char *pass)
{
	size_t n = strlen(user) + 1 + strlen(pass);
	char *plain = malloc(n + 1);
	size_t b64 = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(6 + b64);

	if (!plain || !out) {
		free(plain);
		free(out);
		return NULL;
	}
	snprintf(plain, n + 1, "%s:%s", user, pass);
	memcpy(out, "Basic ", 6);
	sodium_bin2base64(out + 6, b64, (const unsigned char *)plain, n,
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(plain, n);
	free(plain);
	return out;
}

static void status_reply(struct cmd_admin *a, struct evhttp_request *req, bool json)
{
	struct evbuffer *body;
	const char *got;

	if (a->auth) {
		got = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
		if (!got || strlen(got) != strlen(a->auth) ||
		    sodium_memcmp(got, a->auth, strlen(a->auth)) != 0) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
					  "Basic realm=\"burrow\"");
			evhttp_send_error(req, 401, "Unauthorized");
			return;
		}
	}
	body = evbuffer_new();
	if (!body || a->fill(a->arg, body, json) < 0) {
		evhttp_send_error(req, 500, "Internal Server Error");
		if (body)
			evbuffer_free(body);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  json ? "application/json" : "text/plain; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", body);
	evbuffer_free(body);
}

static void on_status_json(struct evhttp_request *req, void *arg)
{
	status_reply(arg, req, true);
}

static void on_status_text(struct evhttp_request *req, void *arg)
{
	status_reply(arg, req, false);
}

struct cmd_admin *cmd_admin_open(const char *prog, struct event_base *base, const char *addr,
				 uint16_t port, const char *user, const char *pass,
				 cmd_admin_fill_fn fill, void *arg)
{
	struct cmd_admin *a = calloc(1, sizeof(*a));
	struct evhttp_bound_socket *s;

	if (!a)
		return NULL;
	a->fill = fill;
	a->arg = arg;
	a->http = evhttp_new(base);
	if (user && *user)
		a->auth = basic_auth(user, pass ? pass : "");
	if (!a->http || (user && *user && !a->auth))
		goto fail;
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET);
	evhttp_set_cb(a->http, "/api/status", on_status_json, a);
	evhttp_set_cb(a->http, "/api/status.txt", on_status_text, a);
	s = evhttp_bind_socket_with_handle(a->http, addr, port);
	if (!s)
		goto fail;
	log_info("admin API listening on %s:%u (GET /api/status)", addr, port);
	return a;
fail:
	log_error("%s: cannot open the admin API on %s:%u", prog, addr, port);
	cmd_admin_close(a);
	return NULL;
}

void cmd_admin_close(struct cmd_admin *a)
{
	if (!a)
		return;
	if (a->http)
		evhttp_free(a->http);
	free(a->auth);
	free(a);
}

struct fetch {
	int status;
	struct evbuffer *body;
	struct event_base *base;
};

static void on_reply(struct evhttp_request *req, void *arg)
{
	struct fetch *f = arg;

	if (req) {
		f->status = evhttp_request_get_response_code(req);
		evbuffer_add_buffer(f->body, evhttp_request_get_input_buffer(req));
	}
	event_base_loopexit(f->base, NULL);
}

int cmd_admin_get(const char *prog, const char *addr, uint16_t port, const char *user,
		  const char *pass, bool json)
{
	struct fetch f = { 0 };
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	char *auth = NULL;
	int rc = 1;

	if (port == 0) {
		fprintf(stderr, "%s status: webServer.port is not set in the configuration\n", prog);
		return 1;
	}
	f.base = event_base_new();
	f.body = evbuffer_new();
	conn = f.base ? evhttp_connection_base_new(f.base, NULL, addr, port) : NULL;
	req = conn ? evhttp_request_new(on_reply, &f) : NULL;
	if (!req)
		goto out;
	evhttp_connection_set_timeout(conn, 5);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", addr);
	if (user && *user && (auth = basic_auth(user, pass ? pass : "")))
		evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
	if (evhttp_make_request(conn, req, EVHTTP_REQ_GET,
				json ? "/api/status" : "/api/status.txt") < 0)
		goto out;
	event_base_dispatch(f.base);
	if (f.status == 200) {
		fwrite(evbuffer_pullup(f.body, -1), 1, evbuffer_get_length(f.body), stdout);
		rc = 0;
	} else if (f.status) {
		fprintf(stderr, "%s status: %s:%u answered %d\n", prog, addr, port, f.status);
	} else {
		fprintf(stderr, "%s status: no answer from %s:%u (is it running with "
			"webServer.port set?)\n", prog, addr, port);
	}
out:
	free(auth);
	if (conn)
		evhttp_connection_free(conn);
	if (f.body)
		evbuffer_free(f.body);
	if (f.base)
		event_base_free(f.base);
	return rc;
}
