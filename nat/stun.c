/*
 * STUN messages, without sockets: the server's answer to one datagram
 * (RFC 5389 Binding with RFC 3489 compatibility, RFC 5780 CHANGE-REQUEST,
 * RESPONSE-PORT, RESPONSE-ORIGIN and OTHER-ADDRESS), and the probe's request
 * builder and response parser. libnice's STUN library does the encoding, the
 * framing checks, FINGERPRINT and the unknown-attribute bookkeeping.
 */
#include "nat/nat_int.h"

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "common/err.h"

/*
 * Comprehension-required attributes the server understands. Credentials are
 * ignored (the server has none; IGNORE_CREDENTIALS), so USERNAME and
 * MESSAGE-INTEGRITY are tolerated rather than refused. RESPONSE-ADDRESS,
 * PADDING and the rest get a 420, as RFC 5389 section 7.3.1 wants.
 */
static const uint16_t server_known[] = {
	STUN_ATTRIBUTE_CHANGE_REQUEST, STUN_ATTRIBUTE_USERNAME,
	STUN_ATTRIBUTE_MESSAGE_INTEGRITY, NAT_ATTR_RESPONSE_PORT, 0
};

/* What the probe accepts in responses (and in its own hairpinned request). */
static const uint16_t client_known[] = {
	STUN_ATTRIBUTE_MAPPED_ADDRESS, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS,
	STUN_ATTRIBUTE_SOURCE_ADDRESS, STUN_ATTRIBUTE_CHANGED_ADDRESS,
	STUN_ATTRIBUTE_ERROR_CODE, STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
	STUN_ATTRIBUTE_CHANGE_REQUEST, STUN_ATTRIBUTE_USERNAME,
	STUN_ATTRIBUTE_MESSAGE_INTEGRITY, 0
};

static const uint8_t magic_cookie[4] = { 0x21, 0x12, 0xa4, 0x42 };

void nat_stun_ctx_init(struct nat_stun_ctx *ctx, const char *software)
{
	const StunAgentUsageFlags flags = STUN_AGENT_USAGE_IGNORE_CREDENTIALS;

	snprintf(ctx->software, sizeof(ctx->software), "%s",
		 software ? software : "burrow " BW_VERSION);
	stun_agent_init(&ctx->rfc5389, server_known, STUN_COMPATIBILITY_RFC5389, flags);
	stun_agent_init(&ctx->rfc5389_fp, server_known, STUN_COMPATIBILITY_RFC5389,
			flags | STUN_AGENT_USAGE_USE_FINGERPRINT);
	/* The agent keeps the pointer: ctx must not move once initialised. */
	stun_agent_set_software(&ctx->rfc5389_fp, ctx->software);
	stun_agent_init(&ctx->rfc3489, server_known, STUN_COMPATIBILITY_RFC3489, flags);
}

static enum nat_stun_verdict drop(struct nat_stun_reply *reply, const char *why)
{
	reply->why = why;
	reply->len = 0;
	return NAT_STUN_DROP;
}

static enum nat_stun_verdict finish(StunAgent *agent, StunMessage *resp,
				    struct nat_stun_reply *reply)
{
	size_t n = stun_agent_finish_message(agent, resp, NULL, 0);

	if (n == 0)
		return drop(reply, "response does not fit");
	reply->len = n;
	return NAT_STUN_REPLY;
}

/* An error response; `unknown` (host order) fills UNKNOWN-ATTRIBUTES for 420. */
static enum nat_stun_verdict error_reply(StunAgent *agent, const StunMessage *req,
					 StunError code, uint16_t unknown,
					 struct nat_stun_reply *reply)
{
	StunMessage resp;

	reply->code = (int)code;
	if (!stun_agent_init_error(agent, &resp, reply->buf, sizeof(reply->buf), req, code))
		return drop(reply, "error response does not fit");
	if (unknown) {
		/* RFC 3489 wants attribute lengths in 4-byte units: repeat the
		 * entry, as libnice does for its own 420s. */
		uint16_t ids[2] = { htons(unknown), htons(unknown) };
		size_t n = stun_message_has_cookie(req) ? 2 : 4;

		if (stun_message_append_bytes(&resp, STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES, ids, n) !=
		    STUN_MESSAGE_RETURN_SUCCESS)
			return drop(reply, "error response does not fit");
	}
	return finish(agent, &resp, reply);
}

static bool append_addr(StunMessage *m, uint16_t type, const struct sockaddr_storage *a)
{
	return stun_message_append_addr(m, (StunAttribute)type, (const struct sockaddr *)a,
					nat_addr_len(a)) == STUN_MESSAGE_RETURN_SUCCESS;
}

/* Validate with the right agent: RFC 3489 without the magic cookie; for RFC
 * 5389, FINGERPRINT is optional but checked whenever it is present. */
static StunValidationStatus validate(struct nat_stun_ctx *ctx, StunMessage *msg,
				     const uint8_t *req, size_t len, StunAgent **out_agent)
{
	StunValidationStatus st;

	if (memcmp(req + 4, magic_cookie, sizeof(magic_cookie)) != 0) {
		*out_agent = &ctx->rfc3489;
		return stun_agent_validate(&ctx->rfc3489, msg, req, len, NULL, NULL);
	}
	*out_agent = &ctx->rfc5389_fp;
	st = stun_agent_validate(&ctx->rfc5389, msg, req, len, NULL, NULL);
	if ((st == STUN_VALIDATION_SUCCESS || st == STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE) &&
	    stun_message_has_attribute(msg, STUN_ATTRIBUTE_FINGERPRINT)) {
		StunValidationStatus fp =
			stun_agent_validate(&ctx->rfc5389_fp, msg, req, len, NULL, NULL);
		if (fp == STUN_VALIDATION_BAD_REQUEST)
			return fp;
	}
	return st;
}

enum nat_stun_verdict nat_stun_handle(struct nat_stun_ctx *ctx, const uint8_t *req, size_t len,
				      const struct sockaddr_storage *from, unsigned sock,
				      const struct sockaddr_storage *dst,
				      struct nat_stun_reply *reply)
{
	StunMessage msg, resp;
	StunAgent *agent;
	StunValidationStatus st;
	StunMessageReturn r;
	struct sockaddr_storage origin;
	uint32_t flags = 0;
	bool change = false, cookie;
	const uint8_t *rp;
	uint16_t rplen = 0;

	reply->sock = sock;
	reply->to = *from;
	reply->code = 0;
	reply->why = NULL;
	reply->len = 0;
	if (len == 0)
		return drop(reply, "empty datagram");
	if (req[0] > 3)
		return NAT_STUN_OTHER;
	if (sock >= ctx->n_addr || nat_addr_len(from) == 0)
		return drop(reply, "unexpected socket or address family");
	if (len < NAT_STUN_REQ_MIN)
		return drop(reply, "shorter than a STUN header");
	if (len > NAT_STUN_MSG_MAX)
		return drop(reply, "STUN message above 1280 bytes");

	st = validate(ctx, &msg, req, len, &agent);
	cookie = agent != &ctx->rfc3489;
	switch (st) {
	case STUN_VALIDATION_SUCCESS:
		break;
	case STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE: {
		size_t n = stun_agent_build_unknown_attributes_error(agent, &resp, reply->buf,
								     sizeof(reply->buf), &msg);
		if (n == 0)
			return drop(reply, "error response does not fit");
		reply->code = STUN_ERROR_UNKNOWN_ATTRIBUTE;
		reply->len = n;
		return NAT_STUN_REPLY;
	}
	case STUN_VALIDATION_UNMATCHED_RESPONSE:
	case STUN_VALIDATION_UNKNOWN_ATTRIBUTE:
		return drop(reply, "a response or indication, not a request");
	case STUN_VALIDATION_BAD_REQUEST:
		return drop(reply, "bad FINGERPRINT");
	default:
		return drop(reply, "malformed STUN message");
	}
	if (stun_message_get_class(&msg) != STUN_REQUEST)
		return drop(reply, "not a request");
	if (stun_message_get_method(&msg) != STUN_BINDING)
		return error_reply(agent, &msg, STUN_ERROR_BAD_REQUEST, 0, reply);

	r = stun_message_find32(&msg, STUN_ATTRIBUTE_CHANGE_REQUEST, &flags);
	if (r == STUN_MESSAGE_RETURN_INVALID)
		return error_reply(agent, &msg, STUN_ERROR_BAD_REQUEST, 0, reply);
	change = r == STUN_MESSAGE_RETURN_SUCCESS;
	/* RFC 5780 section 6: without an alternate address and port, any
	 * CHANGE-REQUEST (even with no flag set) gets a 420. */
	if (change && ctx->n_addr < NAT_SOCK_MAX)
		return error_reply(agent, &msg, STUN_ERROR_UNKNOWN_ATTRIBUTE,
				   STUN_ATTRIBUTE_CHANGE_REQUEST, reply);

	rp = stun_message_find(&msg, (StunAttribute)NAT_ATTR_RESPONSE_PORT, &rplen);
	if (rp) {
		uint16_t port;

		if (rplen != 4)
			return error_reply(agent, &msg, STUN_ERROR_BAD_REQUEST, 0, reply);
		port = (uint16_t)(rp[0] << 8 | rp[1]);
		if (port == 0)
			return error_reply(agent, &msg, STUN_ERROR_BAD_REQUEST, 0, reply);
		nat_addr_set_port(&reply->to, port);
	}

	if (change) {
		if (flags & NAT_CHANGE_IP)
			reply->sock ^= 2u;
		if (flags & NAT_CHANGE_PORT)
			reply->sock ^= 1u;
	}
	origin = ctx->addr[reply->sock];
	if (nat_addr_is_any(&origin) && dst && dst->ss_family == origin.ss_family) {
		uint16_t port = nat_addr_port(&origin);

		origin = *dst;
		nat_addr_set_port(&origin, port);
	}

	if (!stun_agent_init_response(agent, &resp, reply->buf, sizeof(reply->buf), &msg))
		return drop(reply, "response does not fit");
	if (cookie) {
		/* RFC 5780 section 6.1 wants MAPPED-ADDRESS beside XOR-MAPPED-ADDRESS
		 * (the pair also exposes address-rewriting ALGs). */
		if (stun_message_append_xor_addr(&resp, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, from,
						 nat_addr_len(from)) != STUN_MESSAGE_RETURN_SUCCESS ||
		    !append_addr(&resp, STUN_ATTRIBUTE_MAPPED_ADDRESS, from) ||
		    !append_addr(&resp, NAT_ATTR_RESPONSE_ORIGIN, &origin) ||
		    (ctx->n_addr == NAT_SOCK_MAX &&
		     !append_addr(&resp, NAT_ATTR_OTHER_ADDRESS, &ctx->addr[sock ^ 3u])))
			return drop(reply, "response does not fit");
	} else {
		/* An RFC 3489 client refuses comprehension-required attributes it
		 * does not know (XOR-MAPPED-ADDRESS is 0x0020): send only its own. */
		if (!append_addr(&resp, STUN_ATTRIBUTE_MAPPED_ADDRESS, from) ||
		    !append_addr(&resp, STUN_ATTRIBUTE_SOURCE_ADDRESS, &origin) ||
		    (ctx->n_addr == NAT_SOCK_MAX &&
		     !append_addr(&resp, STUN_ATTRIBUTE_CHANGED_ADDRESS, &ctx->addr[sock ^ 3u])))
			return drop(reply, "response does not fit");
	}
	return finish(agent, &resp, reply);
}

/* Client side ------------------------------------------------------------ */

void nat_stun_client_agent_init(StunAgent *agent)
{
	/* No USE_FINGERPRINT: the agent would then refuse responses without
	 * one, which RFC 5389 allows; UDP's checksum covers corruption. */
	stun_agent_init(agent, client_known, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_IGNORE_CREDENTIALS);
}

size_t nat_stun_request(StunAgent *agent, uint8_t *buf, size_t len, unsigned change_flags,
			StunTransactionId id)
{
	StunMessage m;
	size_t n;

	if (!stun_agent_init_request(agent, &m, buf, len, STUN_BINDING))
		return 0;
	if (change_flags &&
	    stun_message_append32(&m, STUN_ATTRIBUTE_CHANGE_REQUEST, change_flags) !=
		    STUN_MESSAGE_RETURN_SUCCESS)
		return 0;
	n = stun_agent_finish_message(agent, &m, NULL, 0);
	if (n)
		stun_message_id(&m, id);
	return n;
}

/* An address attribute of a family we store, or false. */
static bool find_addr(const StunMessage *m, uint16_t type, bool xor,
		      struct sockaddr_storage *out)
{
	socklen_t alen = sizeof(*out);
	StunMessageReturn r;

	if (xor)
		r = stun_message_find_xor_addr(m, (StunAttribute)type, out, &alen);
	else
		r = stun_message_find_addr(m, (StunAttribute)type, out, &alen);
	if (r != STUN_MESSAGE_RETURN_SUCCESS || nat_addr_len(out) == 0) {
		memset(out, 0, sizeof(*out));
		return false;
	}
	return true;
}

enum nat_parse nat_stun_parse(StunAgent *agent, const uint8_t *buf, size_t len,
			      struct nat_stun_answer *out)
{
	StunMessage msg;
	StunValidationStatus st;

	memset(out, 0, sizeof(*out));
	if (len < NAT_STUN_REQ_MIN || len > NAT_STUN_MSG_MAX || buf[0] > 3)
		return NAT_PARSE_NOT_STUN;
	st = stun_agent_validate(agent, &msg, buf, len, NULL, NULL);
	switch (st) {
	case STUN_VALIDATION_SUCCESS:
		break;
	case STUN_VALIDATION_UNMATCHED_RESPONSE:
		return NAT_PARSE_UNMATCHED;
	case STUN_VALIDATION_UNKNOWN_ATTRIBUTE:
	case STUN_VALIDATION_UNKNOWN_REQUEST_ATTRIBUTE:
		/* The agent has already retired the transaction: say which. */
		stun_message_id(&msg, out->id);
		out->cls = stun_message_get_class(&msg);
		return NAT_PARSE_INVALID;
	default:
		return NAT_PARSE_NOT_STUN;
	}
	stun_message_id(&msg, out->id);
	out->cls = stun_message_get_class(&msg);
	if (stun_message_get_method(&msg) != STUN_BINDING)
		return NAT_PARSE_INVALID;
	switch (out->cls) {
	case STUN_REQUEST:
		return NAT_PARSE_OK;
	case STUN_ERROR:
		if (stun_message_find_error(&msg, &out->error) != STUN_MESSAGE_RETURN_SUCCESS)
			return NAT_PARSE_INVALID;
		return NAT_PARSE_OK;
	case STUN_RESPONSE:
		break;
	default:
		return NAT_PARSE_INVALID;
	}
	out->has_mapped = find_addr(&msg, STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, true, &out->mapped) ||
			  find_addr(&msg, STUN_ATTRIBUTE_MAPPED_ADDRESS, false, &out->mapped);
	if (!out->has_mapped)
		return NAT_PARSE_INVALID;
	/* OTHER-ADDRESS took over CHANGED-ADDRESS's meaning (RFC 5780 7.4). */
	out->has_other = find_addr(&msg, NAT_ATTR_OTHER_ADDRESS, false, &out->other) ||
			 find_addr(&msg, STUN_ATTRIBUTE_CHANGED_ADDRESS, false, &out->other);
	out->has_origin = find_addr(&msg, NAT_ATTR_RESPONSE_ORIGIN, false, &out->origin) ||
			  find_addr(&msg, STUN_ATTRIBUTE_SOURCE_ADDRESS, false, &out->origin);
	return NAT_PARSE_OK;
}
