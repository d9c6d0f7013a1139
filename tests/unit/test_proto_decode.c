/*
 * proto/: every way a payload is refused (curl unit1650 style: a table of
 * bytes, the side and state that receive them, the exact code, message type
 * and field expected), and the encoder's refusals of what a peer would refuse.
 *
 * Bytes are written in a small notation: hex bytes ("92 0e"), quoted text
 * ('seq'), and a repeat count after either ('x'*129, 00*60).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/util.h"
#include "proto/proto.h"

#define S PROTO_SIDE_SERVER
#define C PROTO_SIDE_CLIENT
#define NEW PROTO_STATE_NEW
#define HS PROTO_STATE_HANDSHAKE
#define CTL PROTO_STATE_CONTROL
#define WORK PROTO_STATE_WORK

/* Message prefixes: type id, field map header, and fields that are fine. */
#define PING "92 0e 81 a3'seq' "
#define NP(n) "92 06 8" #n " a4'name' a1'p' a4'type' a3'tcp' " /* NEW_PROXY, n fields */
#define CLOSE "92 08 81 a4'name' "                           /* CLOSE_PROXY */
#define HELLO3 "92 01 84 a7'ver_min' 01 a7'ver_max' 01 a2'hs' c4 00 " /* + suites */
#define HELLO_SUITES HELLO3 "a6'suites' "
#define NWC "92 0a 83 a6'run_id' a1'r' a7'counter' 01 a3'mac' "   /* NEW_WORK_CONN */
#define HEADERS NP(3) "a7'headers' "

struct dcase {
	const char *what;
	const char *bytes;
	enum proto_side side;
	enum proto_state st;
	int rc;
	enum proto_msg_type type; /* decoded type, or err.type on failure */
	const char *field;        /* err.field on failure */
};

#define M(x) PROTO_MSG_##x
#define E(x) BW_E_##x

static const struct dcase cases[] = {
	/* Accepted, including msgpack's longer forms of the same values. */
	{ "ping", PING "05", S, CTL, 0, M(PING), "" },
	{ "outer array16", "dc 00 02 0e 81 a3'seq' 05", S, CTL, 0, M(PING), "" },
	{ "type id as int8", "92 d0 0e 81 a3'seq' 05", S, CTL, 0, M(PING), "" },
	{ "map16 body", "92 0e de 00 01 a3'seq' 05", S, CTL, 0, M(PING), "" },
	{ "key as str8", "92 0e 81 d9 03 'seq' 05", S, CTL, 0, M(PING), "" },
	{ "uint as uint64", PING "cf 00 00 00 00 00 00 00 05", S, CTL, 0, M(PING), "" },
	{ "uint as positive int64", PING "d3 00 00 00 00 00 00 00 05", S, CTL, 0, M(PING), "" },
	{ "uint at UINT64_MAX", PING "cf ff*8", S, CTL, 0, M(PING), "" },
	{ "str at max", CLOSE "d9 80 'x'*128", S, CTL, 0, M(CLOSE_PROXY), "" },
	{ "str as str32", CLOSE "db 00 00 00 01 'p'", S, CTL, 0, M(CLOSE_PROXY), "" },
	{ "fields in any order", NP(3) "a9'subdomain' a3'www'", S, CTL, 0, M(NEW_PROXY), "" },
	{ "hello", HELLO_SUITES "92 01 02", S, NEW, 0, M(HELLO), "" },
	{ "error received in every state", "92 03 82 a4'code' 01 a7'message' a0", C, WORK, 0,
	  M(ERROR), "" },
	{ "error received by the server before login", "92 03 82 a4'code' 01 a7'message' a0", S,
	  NEW, 0, M(ERROR), "" },
	{ "udp_packet both ways", "92 10 83 a7'content' c4 01 00 aa'local_addr' a0 ab'remote_addr' a0",
	  C, WORK, 0, M(UDP_PACKET), "" },
	{ "new_work_conn", NWC "c4 20 00*32", S, NEW, 0, M(NEW_WORK_CONN), "" },

	/* Not a [type, {fields}] pair. */
	{ "empty payload", "", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "outer is a map", "81 a3'seq' 05", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "outer is an int", "0e", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "outer is nil", "c0", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "outer is 0xc1", "c1", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "outer array of 1", "91 0e", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "outer array of 3", "93 0e 81 a3'seq' 05 c0", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "outer array16 truncated", "dc 00", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "outer nested too deep", "91*300", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "type id a string", "92 a1'x' 80", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "type id negative", "92 ff 80", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "type id truncated", "92 cd 00", S, CTL, E(MSG_MALFORMED), M(NONE), "" },
	{ "type id 0", "92 00 80", S, CTL, E(MSG_UNKNOWN), M(NONE), "" },
	{ "type id unassigned", "92 3f 80", S, CTL, E(MSG_UNKNOWN), M(NONE), "" },
	{ "type id beyond the table", "92 cf 00 00 00 01 00 00 00 0e 80", S, CTL, E(MSG_UNKNOWN),
	  M(NONE), "" },
	{ "body missing", "92 0e", S, CTL, E(MSG_MALFORMED), M(PING), "" },
	{ "body an array", "92 0e 91 05", S, CTL, E(MSG_MALFORMED), M(PING), "" },
	{ "map count beyond payload", "92 0e 8f a3'seq' 05", S, CTL, E(MSG_MALFORMED), M(PING), "" },
	{ "key truncated", "92 0e 81 a3'se'", S, CTL, E(MSG_MALFORMED), M(PING), "" },
	{ "key an int", "92 0e 81 01 05", S, CTL, E(MSG_MALFORMED), M(PING), "" },
	{ "key a bin", "92 0e 81 c4 03 'seq' 05", S, CTL, E(MSG_MALFORMED), M(PING), "" },

	/* Fields: unknown, duplicate, missing. */
	{ "unknown field", "92 0e 82 a3'seq' 05 a3'foo' 01", S, CTL, E(MSG_FIELD_UNKNOWN), M(PING),
	  "foo" },
	{ "unknown field made printable", "92 0e 81 a2 01 ff 05", S, CTL, E(MSG_FIELD_UNKNOWN),
	  M(PING), "??" },
	{ "unknown field name cut", "92 0e 81 d9 28 'x'*40 05", S, CTL, E(MSG_FIELD_UNKNOWN), M(PING),
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" },
	{ "duplicate field", "92 0e 82 a3'seq' 05 a3'seq' 06", S, CTL, E(MSG_FIELD_DUP), M(PING),
	  "seq" },
	{ "duplicate after allocations", NP(3) "a4'name' a1'q'", S, CTL, E(MSG_FIELD_DUP),
	  M(NEW_PROXY), "name" },
	{ "missing required field", "92 0e 80", S, CTL, E(MSG_MISSING), M(PING), "seq" },
	{ "missing the second required field", "92 01 81 a7'ver_min' 01", S, NEW, E(MSG_MISSING),
	  M(HELLO), "ver_max" },
	{ "value missing", PING, S, CTL, E(MSG_MALFORMED), M(PING), "seq" },
	{ "value truncated", PING "cd 01", S, CTL, E(MSG_MALFORMED), M(PING), "seq" },

	/* uint fields. */
	{ "uint given a string", PING "a1'5'", S, CTL, E(MSG_FIELD_TYPE), M(PING), "seq" },
	{ "uint given a bool", PING "c3", S, CTL, E(MSG_FIELD_TYPE), M(PING), "seq" },
	{ "uint given nil", PING "c0", S, CTL, E(MSG_FIELD_TYPE), M(PING), "seq" },
	{ "uint given a float", PING "ca 00 00 00 00", S, CTL, E(MSG_FIELD_TYPE), M(PING), "seq" },
	{ "uint given a negative fixint", PING "ff", S, CTL, E(MSG_FIELD_TYPE), M(PING), "seq" },
	{ "uint given a negative int8", PING "d0 80", S, CTL, E(MSG_FIELD_TYPE), M(PING), "seq" },
	{ "uint given 0xc1", PING "c1", S, CTL, E(MSG_MALFORMED), M(PING), "seq" },
	{ "uint below its minimum", "92 09 81 a5'count' 00", C, CTL, E(MSG_TOO_SMALL),
	  M(REQ_WORK_CONN), "count" },
	{ "uint above its maximum", "92 09 81 a5'count' 41", C, CTL, E(MSG_TOO_LONG),
	  M(REQ_WORK_CONN), "count" },
	{ "port above 65535", NP(3) "ab'remote_port' ce 00 01 00 00", S, CTL, E(MSG_TOO_LONG),
	  M(NEW_PROXY), "remote_port" },
	{ "port a string", NP(3) "ab'remote_port' a4'6000'", S, CTL, E(MSG_FIELD_TYPE), M(NEW_PROXY),
	  "remote_port" },

	/* bool, str, bin fields. */
	{ "bool given an int", NP(3) "ae'use_encryption' 01", S, CTL, E(MSG_FIELD_TYPE), M(NEW_PROXY),
	  "use_encryption" },
	{ "str given a bin", CLOSE "c4 01 'p'", S, CTL, E(MSG_FIELD_TYPE), M(CLOSE_PROXY), "name" },
	{ "str too long", CLOSE "d9 81 'x'*129", S, CTL, E(MSG_TOO_LONG), M(CLOSE_PROXY), "name" },
	{ "str below its minimum", CLOSE "a0", S, CTL, E(MSG_TOO_SMALL), M(CLOSE_PROXY), "name" },
	{ "str longer than the payload", CLOSE "a5 'ab'", S, CTL, E(MSG_MALFORMED), M(CLOSE_PROXY),
	  "name" },
	{ "str with a NUL", CLOSE "a3 61 00 62", S, CTL, E(MSG_MALFORMED), M(CLOSE_PROXY), "name" },
	{ "bin given a str", "92 01 81 a2'hs' a1'x'", S, NEW, E(MSG_FIELD_TYPE), M(HELLO), "hs" },
	{ "bin too long", "92 01 81 a2'hs' c5 01 01 00*257", S, NEW, E(MSG_TOO_LONG), M(HELLO), "hs" },
	{ "bin longer than the payload", "92 01 81 a2'hs' c4 09 00", S, NEW, E(MSG_MALFORMED), M(HELLO),
	  "hs" },
	{ "fixed bin short", NWC "c4 1f 00*31", S, NEW, E(MSG_TOO_SMALL), M(NEW_WORK_CONN), "mac" },
	{ "fixed bin long", NWC "c4 21 00*33", S, NEW, E(MSG_TOO_LONG), M(NEW_WORK_CONN), "mac" },

	/* Arrays and maps. */
	{ "uint array too long", HELLO_SUITES "99 01*9", S, NEW, E(MSG_TOO_LONG), M(HELLO), "suites" },
	{ "uint array empty", HELLO_SUITES "90", S, NEW, E(MSG_TOO_SMALL), M(HELLO), "suites" },
	{ "uint array element too big", HELLO_SUITES "91 cd 01 00", S, NEW, E(MSG_TOO_LONG), M(HELLO),
	  "suites" },
	{ "uint array element a string", HELLO_SUITES "92 01 a1'x'", S, NEW, E(MSG_FIELD_TYPE),
	  M(HELLO), "suites" },
	{ "uint array given a map", HELLO_SUITES "80", S, NEW, E(MSG_FIELD_TYPE), M(HELLO), "suites" },
	{ "array count beyond payload", HELLO_SUITES "95 01", S, NEW, E(MSG_MALFORMED), M(HELLO),
	  "suites" },
	{ "str array too long", NP(3) "ae'custom_domains' dc 00 11 a0*17", S, CTL, E(MSG_TOO_LONG),
	  M(NEW_PROXY), "custom_domains" },
	{ "str array element too long", NP(3) "ae'custom_domains' 91 d9 fe 'x'*254", S, CTL,
	  E(MSG_TOO_LONG), M(NEW_PROXY), "custom_domains" },
	{ "str array element nested", NP(3) "ae'custom_domains' 91 91 a1'x'", S, CTL,
	  E(MSG_FIELD_TYPE), M(NEW_PROXY), "custom_domains" },
	{ "str array fails after allocations", NP(3) "ae'custom_domains' 93 a1'a' a1'b' 01", S, CTL,
	  E(MSG_FIELD_TYPE), M(NEW_PROXY), "custom_domains" },
	{ "value nested too deep", NP(3) "ab'remote_port' 91*300 00", S, CTL, E(MSG_FIELD_TYPE),
	  M(NEW_PROXY), "remote_port" },
	{ "map too big", HEADERS "de 00 11 a1'k' a0 a1'l' a0 a1'm' a0*15", S, CTL, E(MSG_TOO_LONG),
	  M(NEW_PROXY), "headers" },
	{ "map duplicate key", HEADERS "82 a1'k' a1'v' a1'k' a1'w'", S, CTL, E(MSG_FIELD_DUP),
	  M(NEW_PROXY), "headers" },
	{ "map empty key", HEADERS "81 a0 a1'v'", S, CTL, E(MSG_TOO_SMALL), M(NEW_PROXY), "headers" },
	{ "map key too long", HEADERS "81 d9 41 'k'*65 a0", S, CTL, E(MSG_TOO_LONG), M(NEW_PROXY),
	  "headers" },
	{ "map value too long", HEADERS "81 a1'k' da 02 01 'v'*513", S, CTL, E(MSG_TOO_LONG),
	  M(NEW_PROXY), "headers" },
	{ "map key an int", HEADERS "81 01 a1'v'", S, CTL, E(MSG_FIELD_TYPE), M(NEW_PROXY), "headers" },
	{ "map value nil", HEADERS "81 a1'k' c0", S, CTL, E(MSG_FIELD_TYPE), M(NEW_PROXY), "headers" },
	{ "map count beyond payload", HEADERS "85 a1'k' a0", S, CTL, E(MSG_MALFORMED), M(NEW_PROXY),
	  "headers" },

	/* After the message. */
	{ "trailing byte", PING "05 00", S, CTL, E(MSG_TRAILING), M(PING), "" },
	{ "two messages in one payload", PING "05" PING "06", S, CTL, E(MSG_TRAILING), M(PING), "" },
	{ "over the type's max size", PING "05 00*60", S, CTL, E(MSG_TOO_LONG), M(PING), "" },

	/* State and direction. */
	{ "ping before login", PING "05", S, NEW, E(MSG_STATE), M(PING), "" },
	{ "ping on a work connection", PING "05", S, WORK, E(MSG_STATE), M(PING), "" },
	{ "ping received by a client", PING "05", C, CTL, E(MSG_STATE), M(PING), "" },
	{ "pong received by the server", "92 0f 81 a3'seq' 05", S, CTL, E(MSG_STATE), M(PONG), "" },
	{ "login after login", "92 04 80", S, CTL, E(MSG_STATE), M(LOGIN), "" },
	{ "login before hello", "92 04 80", S, NEW, E(MSG_STATE), M(LOGIN), "" },
	{ "login in handshake, empty", "92 04 80", S, HS, E(MSG_MISSING), M(LOGIN), "version" },
	{ "hello twice", "92 01 80", S, HS, E(MSG_STATE), M(HELLO), "" },
	{ "new_proxy before login", NP(2), S, HS, E(MSG_STATE), M(NEW_PROXY), "" },
	{ "state out of range", PING "05", S, (enum proto_state)7, E(MSG_STATE), M(PING), "" },
};

/* Parse the byte notation into a new buffer. */
static uint8_t *parse_bytes(const char *s, size_t *len)
{
	uint8_t *out = malloc(70000), tok[1024];
	size_t n = 0, tn;

	assert_non_null(out);
	while (*s) {
		if (*s == ' ') {
			s++;
			continue;
		}
		tn = 0;
		if (*s == '\'') {
			for (s++; *s && *s != '\''; s++)
				tok[tn++] = (uint8_t)*s;
			assert_int_equal(*s, '\'');
			s++;
		} else {
			unsigned v;

			assert_int_equal(sscanf(s, "%2x", &v), 1);
			tok[tn++] = (uint8_t)v;
			s += 2;
		}
		unsigned long rep = 1;
		if (*s == '*')
			rep = strtoul(s + 1, (char **)&s, 10);
		for (unsigned long r = 0; r < rep; r++) {
			assert_true(n + tn <= 70000);
			memcpy(out + n, tok, tn);
			n += tn;
		}
	}
	*len = n;
	return out;
}

static void test_proto_decode_table(void **state)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(cases); i++) {
		const struct dcase *c = &cases[i];
		size_t len;
		uint8_t *p = parse_bytes(c->bytes, &len);
		struct proto_msg m;
		struct proto_err e;
		int rc;

		memset(&e, 0x5a, sizeof(e));
		rc = proto_decode(p, len, c->side, c->st, &m, &e);
		if (rc != c->rc || e.code != c->rc)
			fail_msg("%s: got %s, want %s", c->what, bw_errname(rc) ? bw_errname(rc) : "0",
			         bw_errname(c->rc) ? bw_errname(c->rc) : "0");
		if (rc == 0) {
			if (m.type != c->type)
				fail_msg("%s: decoded type %d", c->what, m.type);
			assert_string_equal(e.field, "");
		} else {
			if (e.type != c->type)
				fail_msg("%s: err.type %d, want %d", c->what, e.type, c->type);
			if (strcmp(e.field, c->field) != 0)
				fail_msg("%s: err.field \"%s\", want \"%s\"", c->what, e.field, c->field);
			/* A refused message holds nothing. */
			assert_int_equal(m.type, PROTO_MSG_NONE);
		}
		proto_msg_free(&m);
		/* err is optional. */
		assert_int_equal(proto_decode(p, len, c->side, c->st, &m, NULL), c->rc);
		proto_msg_free(&m);
		free(p);
	}
}

/* Every prefix of a valid message is refused without a crash or a leak. */
static void test_proto_decode_every_truncation(void **state)
{
	static const char *const valid[] = {
		NP(5) "ae'custom_domains' 92 a1'a' a1'b' a7'headers' 81 a1'k' a1'v' "
		      "ab'sk_verifier' c4 20 00*32",
		HELLO_SUITES "92 01 02",
	};

	for (size_t v = 0; v < BW_ARRAY_LEN(valid); v++) {
		size_t len;
		uint8_t *p = parse_bytes(valid[v], &len);
		struct proto_msg m;
		enum proto_state st = v == 0 ? CTL : NEW;

		assert_int_equal(proto_decode(p, len, S, st, &m, NULL), 0);
		proto_msg_free(&m);
		for (size_t cut = 0; cut < len; cut++) {
			int rc = proto_decode(p, cut, S, st, &m, NULL);

			/* The map header announces more entries than a prefix
			 * holds, so even a cut between two fields is malformed. */
			assert_int_equal(rc, BW_E_MSG_MALFORMED);
		}
		free(p);
	}
}

/* The encoder refuses what the decoder would, naming the field. */
static void test_proto_encode_refuses_out_of_limits(void **state)
{
	static uint8_t buf[PROTO_PAYLOAD_MAX];
	char long_name[PROTO_PROXY_NAME_MAX + 2];
	const char *domains[PROTO_DOMAINS_MAX + 1] = { NULL };
	struct proto_kv dup[] = { { "k", "v" }, { "k", "w" } }, nokey[] = { { NULL, "v" } };
	struct proto_err e;
	size_t len;
	struct {
		struct proto_msg m;
		int rc;
		const char *field;
	} t[] = {
		{ { .type = PROTO_MSG_CLOSE_PROXY, .close_proxy = { .name = long_name } },
		  BW_E_MSG_TOO_LONG, "name" },
		{ { .type = PROTO_MSG_CLOSE_PROXY, .close_proxy = { .name = "" } },
		  BW_E_MSG_TOO_SMALL, "name" },
		{ { .type = PROTO_MSG_CLOSE_PROXY }, BW_E_MSG_TOO_SMALL, "name" }, /* NULL is "" */
		{ { .type = PROTO_MSG_REQ_WORK_CONN, .req_work_conn = { .count = 65 } },
		  BW_E_MSG_TOO_LONG, "count" },
		{ { .type = PROTO_MSG_HELLO_REPLY, .hello_reply = { .ver = 1, .hs = { NULL, 5 } } },
		  BW_E_INVAL, "hs" },
		{ { .type = PROTO_MSG_NEW_PROXY,
		    .new_proxy = { .name = "p", .type = "tcp", .headers = { dup, 2 }, .has_headers = true } },
		  BW_E_MSG_FIELD_DUP, "headers" },
		{ { .type = PROTO_MSG_NEW_PROXY,
		    .new_proxy = { .name = "p", .type = "tcp", .metas = { nokey, 1 }, .has_metas = true } },
		  BW_E_INVAL, "metas" },
		{ { .type = PROTO_MSG_NEW_PROXY,
		    .new_proxy = { .name = "p", .type = "tcp",
		                   .custom_domains = { domains, PROTO_DOMAINS_MAX + 1 },
		                   .has_custom_domains = true } },
		  BW_E_MSG_TOO_LONG, "custom_domains" },
		{ { .type = PROTO_MSG_NONE }, BW_E_MSG_UNKNOWN, "" },
		{ { .type = (enum proto_msg_type)63 }, BW_E_MSG_UNKNOWN, "" },
	};

	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	for (size_t i = 0; i < BW_ARRAY_LEN(t); i++) {
		assert_int_equal(proto_encode(&t[i].m, buf, sizeof(buf), &len, &e), t[i].rc);
		assert_int_equal(e.code, t[i].rc);
		assert_string_equal(e.field, t[i].field);
		assert_int_equal(len, 0);
	}
	/* An optional field without has_ is not sent, whatever it holds. */
	t[0].m = (struct proto_msg){ .type = PROTO_MSG_NEW_PROXY,
	                             .new_proxy = { .name = "p", .type = "tcp", .remote_port = 99999 } };
	assert_int_equal(proto_encode(&t[0].m, buf, sizeof(buf), &len, &e), 0);
	/* Too small a buffer. */
	assert_int_equal(proto_encode(&t[0].m, buf, 5, &len, &e), -ENOBUFS);
	assert_int_equal(e.code, -ENOBUFS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_decode_table),
		cmocka_unit_test(test_proto_decode_every_truncation),
		cmocka_unit_test(test_proto_encode_refuses_out_of_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
