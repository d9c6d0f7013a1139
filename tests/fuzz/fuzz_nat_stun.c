/*
 * Arbitrary bytes into both STUN decoders of nat/, without sockets:
 *   - the server's request handler (nat_stun_handle), as received on each of
 *     the four RFC 5780 sockets from an IPv4 and an IPv6 client, and on a
 *     one-address wildcard server; every reply it builds must itself be a
 *     well-framed STUN message that fits its buffer;
 *   - the probe's response parser (nat_stun_parse), on the input as is and
 *     with its transaction id replaced by one the agent is waiting for, so
 *     that the fuzzer reaches attribute decoding without guessing 96 bits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stun/stunmessage.h>

#include "nat/nat_int.h"

static struct nat_stun_ctx full, single;
static int ready;

static void setup(void)
{
	nat_addr_parse("203.0.113.10", 3478, &full.addr[0]);
	nat_addr_parse("203.0.113.10", 3479, &full.addr[1]);
	nat_addr_parse("203.0.113.11", 3478, &full.addr[2]);
	nat_addr_parse("203.0.113.11", 3479, &full.addr[3]);
	full.n_addr = 4;
	nat_stun_ctx_init(&full, NULL);
	nat_addr_parse("0.0.0.0", 3478, &single.addr[0]);
	single.n_addr = 1;
	nat_stun_ctx_init(&single, "fuzz");
	ready = 1;
}

static void check_reply(const struct nat_stun_reply *r, enum nat_stun_verdict v,
			unsigned n_addr)
{
	if (v != NAT_STUN_REPLY)
		return;
	if (r->len < 20 || r->len > sizeof(r->buf) || r->sock >= n_addr ||
	    stun_message_validate_buffer_length(r->buf, r->len, true) != (int)r->len)
		abort();
}

static void handle(struct nat_stun_ctx *ctx, const uint8_t *data, size_t size, unsigned sock,
		   const struct sockaddr_storage *from, const struct sockaddr_storage *dst)
{
	/* Static: the reply carries a 1280-byte buffer. */
	static struct nat_stun_reply reply;

	check_reply(&reply, nat_stun_handle(ctx, data, size, from, sock, dst, &reply),
		    ctx->n_addr);
}

static void parse(const uint8_t *data, size_t size)
{
	static StunAgent agent;
	static uint8_t copy[NAT_STUN_MSG_MAX];
	struct nat_stun_answer ans;
	StunTransactionId id;
	uint8_t req[128];

	nat_stun_client_agent_init(&agent);
	if (nat_stun_request(&agent, req, sizeof(req), NAT_CHANGE_PORT, id) == 0)
		abort();
	nat_stun_parse(&agent, data, size, &ans);
	if (size >= 20 && size <= sizeof(copy)) {
		memcpy(copy, data, size);
		memcpy(copy + 4, id, sizeof(id));
		nat_stun_parse(&agent, copy, size, &ans);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage v4, v6, dst;

	if (!ready)
		setup();
	nat_addr_parse("198.51.100.7", 40000, &v4);
	nat_addr_parse("2001:db8::7", 40001, &v6);
	nat_addr_parse("203.0.113.12", 0, &dst);
	for (unsigned sock = 0; sock < 4; sock++)
		handle(&full, data, size, sock, sock & 1 ? &v6 : &v4, NULL);
	handle(&single, data, size, 0, &v4, &dst);
	handle(&single, data, size, 0, &v6, NULL);
	parse(data, size);
	return 0;
}
