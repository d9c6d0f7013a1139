/*
 * Shared inside nat/ (and by its tests and fuzz harness): the STUN request
 * handler and response parser as pure functions over bytes, and the address
 * helpers. No sockets here.
 */
#ifndef BW_NAT_INT_H
#define BW_NAT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <stun/stunagent.h>

#include "nat/nat.h"

/*
 * Size limits. A Binding request needs a few dozen bytes; RFC 5389 keeps STUN
 * over UDP under the path MTU, and 1280 is IPv6's minimum, so a larger request
 * is refused unread. Any datagram above NAT_DGRAM_MAX (non-STUN ones for the
 * rendezvous included) is dropped. Responses are under 200 bytes, except a 420
 * listing many unknown attributes, which stays under 800.
 */
#define NAT_STUN_MSG_MAX 1280
#define NAT_DGRAM_MAX 1500
#define NAT_STUN_REQ_MIN 20          /* the header alone */

/* RFC 5780 attributes libnice's enum does not name. */
#define NAT_ATTR_RESPONSE_PORT 0x0027
#define NAT_ATTR_RESPONSE_ORIGIN 0x802b
#define NAT_ATTR_OTHER_ADDRESS 0x802c
#define NAT_CHANGE_IP 0x4u
#define NAT_CHANGE_PORT 0x2u

/* A port delta above this between consecutive fresh sockets is not
 * "sequential": a random allocator jumps anywhere. */
#define NAT_SEQ_DELTA_MAX 64

/* Socket indexes of the server: bit 0 = alternate port, bit 1 = alternate IP. */
#define NAT_SOCK_MAX 4

/* The server's answering logic: two libnice agents and the addresses. */
struct nat_stun_ctx {
	StunAgent rfc5389;       /* validates requests that carry no FINGERPRINT */
	StunAgent rfc5389_fp;    /* checks FINGERPRINT; builds every 5389 response */
	StunAgent rfc3489;       /* requests without the magic cookie */
	struct sockaddr_storage addr[NAT_SOCK_MAX];
	unsigned n_addr;         /* 1 or 4 */
	char software[128];
};

/* ctx->addr[] must be filled (bound ports known) before calling. */
void nat_stun_ctx_init(struct nat_stun_ctx *ctx, const char *software);

enum nat_stun_verdict {
	NAT_STUN_REPLY,          /* send reply->buf from socket reply->sock to reply->to */
	NAT_STUN_DROP,           /* malformed, oversized, or nothing to answer */
	NAT_STUN_OTHER,          /* not STUN (RFC 7983): the rendezvous's business */
};

struct nat_stun_reply {
	unsigned sock;                  /* index into ctx->addr */
	struct sockaddr_storage to;
	int code;                       /* 0 = success response, else the STUN error */
	const char *why;                /* for the debug log when dropped */
	size_t len;
	uint8_t buf[NAT_STUN_MSG_MAX];
};

/*
 * Answer one datagram `req` that arrived from `from` on socket `sock`. `dst`
 * is the address it was sent to when the socket is bound to a wildcard (from
 * IP_PKTINFO), else NULL. Never reads beyond len, never writes beyond the
 * reply buffer.
 */
enum nat_stun_verdict nat_stun_handle(struct nat_stun_ctx *ctx, const uint8_t *req, size_t len,
				      const struct sockaddr_storage *from, unsigned sock,
				      const struct sockaddr_storage *dst,
				      struct nat_stun_reply *reply);

/* What the probe learns from one datagram. */
struct nat_stun_answer {
	StunClass cls;                  /* STUN_RESPONSE, STUN_ERROR or STUN_REQUEST */
	StunTransactionId id;
	int error;                      /* ERROR-CODE of STUN_ERROR */
	bool has_mapped, has_other, has_origin;
	struct sockaddr_storage mapped, other, origin;
};

enum nat_parse {
	NAT_PARSE_OK,
	NAT_PARSE_NOT_STUN,             /* framing, cookie, fingerprint */
	NAT_PARSE_UNMATCHED,            /* a response to nothing we sent (or a duplicate) */
	NAT_PARSE_INVALID,              /* a Binding response without a mapped address, ... */
};

/* Build a Binding request with the client agent (RFC 5389, registers the
 * transaction for matching). Returns the length, 0 if it does not fit. */
size_t nat_stun_request(StunAgent *agent, uint8_t *buf, size_t len, unsigned change_flags,
			StunTransactionId id);
/* Parse a datagram received by the probe: Binding responses and error
 * responses to our requests, and Binding requests (hairpinning). */
enum nat_parse nat_stun_parse(StunAgent *agent, const uint8_t *buf, size_t len,
			      struct nat_stun_answer *out);
void nat_stun_client_agent_init(StunAgent *agent);

/* Address helpers (addr.c). */
socklen_t nat_addr_len(const struct sockaddr_storage *ss);
uint16_t nat_addr_port(const struct sockaddr_storage *ss);
void nat_addr_set_port(struct sockaddr_storage *ss, uint16_t port);
bool nat_addr_same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
bool nat_addr_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
bool nat_addr_is_any(const struct sockaddr_storage *ss);

/* Stable names (JSON values; format.c). Never NULL. */
const char *nat_behaviour_name(enum nat_behaviour b);
const char *nat_udp_name(enum nat_udp u);
const char *nat_alloc_name(enum nat_alloc a);
const char *nat_test_name(enum nat_test t);

#endif
