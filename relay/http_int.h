/*
 * Shared by the http message files of relay/ (http_head.c reads heads,
 * http_write.c writes them); never included from outside relay/. It holds
 * the state behind struct relay_http_req and struct relay_http_resp
 * (vhost.h): the parser, and the head's strings in an arena.
 */
#ifndef BW_RELAY_HTTP_INT_H
#define BW_RELAY_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "relay/relay_int.h"
#include "relay/vhost.h"

#define NO_VALUE UINT16_MAX   /* a header without a value, until head_finish */

enum msg_state {
	ST_HEAD,     /* reading a head */
	ST_BODY,     /* head done; body() until the message ends */
	ST_IDLE,     /* message done; the next feed() starts a new one */
	ST_CLOSED,   /* message done and nothing may follow (close, upgrade) */
	ST_ERROR,    /* err is final */
};

enum cb_kind { CB_NONE, CB_URL, CB_FIELD, CB_VALUE };

struct hdr {
	uint16_t name, name_len, value, value_len;
};

struct relay_http_req {
	http_parser parser;          /* parser.data points back here */
	bool response;
	int req_method;              /* responses: the request answered */
	enum msg_state st;
	int err;
	bool pending_lf;             /* the head's last LF is owed to the parser */
	bool msg_done;
	bool keep_alive, upgrade;
	uint8_t last;                /* previous head byte (bare CR, obs-fold) */
	unsigned line;               /* 1 in the start line, 2+ after, 0 before */
	size_t head_len;
	enum cb_kind cb;
	char *a;                     /* arena: NUL-terminated strings */
	size_t alen, acap;
	uint16_t url_len;            /* the URL starts the arena */
	struct hdr h[RELAY_HTTP_HEADERS_MAX];
	unsigned nh;
	int host_hdr;                /* index of the Host header, or -1 */
	uint16_t host, path, orig_host;  /* derived strings in the arena */
};

struct relay_http_resp {
	struct relay_http_req m;
};

/* The NUL-terminated string at off in r's arena. */
static inline const char *astr(const struct relay_http_req *r, uint16_t off)
{
	return r->a + off;
}

/* A header name is a token (RFC 9110 5.1); a value has no control byte but
 * HT (5.5); name_is compares a name of len bytes with lit, in any case. */
bool relay_http_token_valid(const char *s, size_t len);
bool relay_http_value_valid(const char *s, size_t len);
bool relay_http_name_is(const char *name, size_t len, const char *lit);

#endif
