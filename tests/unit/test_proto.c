/*
 * proto/: round trips of every message in the table, the table walk, framing,
 * version negotiation, error codes, dispatch. Rejections of bad input are in
 * test_proto_decode.c, the check of docs/PROTOCOL.md in test_proto_docs.c.
 *
 * `test_proto --write-corpus DIR` writes the fuzz seed corpora
 * (DIR/proto_frame, DIR/proto_msg) instead of running the tests:
 *   ./build/tests/test_proto --write-corpus tests/fuzz/corpus
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/util.h"
#include "proto/proto.h"

/* Every message of the table, in table order. */
static const enum proto_msg_type all_types[] = {
#define PROTO_MSG(NAME, ...) PROTO_MSG_##NAME,
#include "proto/messages.def"
#undef PROTO_MSG
};

/* Test-owned memory that filled messages point at, freed after each test. */
static void *arena[4096];
static size_t arena_n;

static void *arena_alloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	assert_non_null(p);
	assert_true(arena_n < BW_ARRAY_LEN(arena));
	arena[arena_n++] = p;
	return p;
}

static void arena_free(void)
{
	while (arena_n > 0)
		free(arena[--arena_n]);
}

/* A string of exactly n bytes, its content varied by seed so that map keys
 * and fields differ. */
static const char *text(size_t n, unsigned seed)
{
	char *s = arena_alloc(n + 1);

	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + (i * 7 + seed * 3) % 26);
	if (n >= 2) { /* unique prefix for keys */
		s[0] = (char)('A' + seed % 26);
		s[1] = (char)('A' + seed / 26 % 26);
	}
	return s;
}

static unsigned seed;

/* How to fill a message: every value at its minimum, a small middle value
 * (short strings, two elements), or at its maximum (every length and count). */
enum fill { FILL_MIN, FILL_MID, FILL_MAX };

static uint64_t pick(enum fill how, uint64_t min, uint64_t max, uint64_t mid)
{
	if (how == FILL_MIN)
		return min;
	if (how == FILL_MAX)
		return max;
	return mid < min ? min : mid > max ? max : mid;
}

static void fill_UINT(uint64_t *v, uint64_t min, uint64_t max, uint64_t elem, enum fill how)
{
	*v = pick(how, min, max, min + (max - min) / 3);
}

static void fill_BOOL(bool *v, uint64_t min, uint64_t max, uint64_t elem, enum fill how)
{
	*v = how != FILL_MIN;
}

static void fill_STR(const char **v, uint64_t min, uint64_t max, uint64_t elem, enum fill how)
{
	*v = text(pick(how, min, max, 5), seed++);
}

static void fill_BIN(struct proto_bin *v, uint64_t min, uint64_t max, uint64_t elem, enum fill how)
{
	uint8_t *p = arena_alloc(max);

	v->len = pick(how, min, max, 3);
	for (size_t i = 0; i < v->len; i++)
		p[i] = (uint8_t)(i * 13 + seed);
	v->data = p;
	seed++;
}

static void fill_FIXBIN(uint8_t *v, uint64_t min, uint64_t max, uint64_t elem, enum fill how)
{
	for (size_t i = 0; i < max; i++)
		v[i] = (uint8_t)(0xff - i - seed);
	seed++;
}

static void fill_UINT_ARRAY(struct proto_uint_array *v, uint64_t min, uint64_t max, uint64_t elem,
                            enum fill how)
{
	uint64_t *e = arena_alloc(max * sizeof(*e));

	v->n = pick(how, min, max, 2);
	for (size_t i = 0; i < v->n; i++)
		e[i] = how == FILL_MAX ? elem - i : i;
	v->v = e;
}

static void fill_STR_ARRAY(struct proto_str_array *v, uint64_t min, uint64_t max, uint64_t elem,
                           enum fill how)
{
	const char **e = arena_alloc(max * sizeof(*e));

	v->n = pick(how, min, max, 2);
	for (size_t i = 0; i < v->n; i++)
		e[i] = text(pick(how, 0, elem, 5), seed++);
	v->v = e;
}

static void fill_STR_MAP(struct proto_str_map *v, uint64_t min, uint64_t max, uint64_t elem,
                         enum fill how)
{
	struct proto_kv *kv = arena_alloc(max * sizeof(*kv));

	v->n = pick(how, min, max, 2);
	for (size_t i = 0; i < v->n; i++) {
		kv[i].key = text(pick(how, 2, PROTO_MAP_KEY_MAX, 4), (unsigned)i);
		kv[i].value = text(pick(how, 0, elem, 5), seed++);
	}
	v->kv = kv;
}

/* The fill functions take the member's address; an array is its own address. */
#define ADDR_UINT(x) &(x)
#define ADDR_BOOL(x) &(x)
#define ADDR_STR(x) &(x)
#define ADDR_BIN(x) &(x)
#define ADDR_FIXBIN(x) (x)
#define ADDR_UINT_ARRAY(x) &(x)
#define ADDR_STR_ARRAY(x) &(x)
#define ADDR_STR_MAP(x) &(x)
#define SET_HAS_REQ(b, m) ((void)0)
#define SET_HAS_OPT(b, m) ((b)->has_##m = true)
#define IS_REQ_REQ true
#define IS_REQ_OPT false

/*
 * Fill the fields of a message of type t. Generated from the table, so that a
 * new message is covered without touching this test. `opt`: include the
 * optional fields.
 */
static void fill_msg(struct proto_msg *m, enum proto_msg_type t, enum fill how, bool opt)
{
	memset(m, 0, sizeof(*m));
	m->type = t;
	switch (t) {
#define PROTO_FIELD(m, type, req, min, max, elem)                                 \
	if (IS_REQ_##req || opt) {                                                \
		fill_##type(ADDR_##type(b->m), (min), (max), (elem), how);        \
		SET_HAS_##req(b, m);                                              \
	}
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields) \
	case PROTO_MSG_##NAME: {                                       \
		struct proto_##lname *b = &m->lname;                   \
		fields                                                  \
	} break;
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD
	default:
		break;
	}
}

/* Number of optional fields of m's type, and how many m marks present. */
#define COUNT_HAS_REQ(b, m) 0
#define COUNT_HAS_OPT(b, m) ((b)->has_##m ? 1 : 0)
#define COUNT_OPT_REQ 0
#define COUNT_OPT_OPT 1
static void count_optional(const struct proto_msg *m, int *total, int *present)
{
	*total = *present = 0;
	switch (m->type) {
#define PROTO_FIELD(m, type, req, min, max, elem) \
	*total += COUNT_OPT_##req;                \
	*present += COUNT_HAS_##req(b, m);
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields) \
	case PROTO_MSG_##NAME: {                                       \
		const struct proto_##lname *b = &m->lname;             \
		(void)b;                                                \
		fields                                                  \
	} break;
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD
	default:
		break;
	}
}

static enum proto_side receiver(enum proto_msg_type t)
{
	return (proto_msg_dir(t) & PROTO_DIR_C2S) ? PROTO_SIDE_SERVER : PROTO_SIDE_CLIENT;
}

static enum proto_state first_state(enum proto_msg_type t)
{
	for (unsigned st = PROTO_STATE_NEW; st <= PROTO_STATE_WORK; st++)
		if (proto_msg_states(t) & (1u << st))
			return (enum proto_state)st;
	fail_msg("%s accepted in no state", proto_msg_name(t));
	return PROTO_STATE_NEW;
}

/*
 * Encode m, decode it in every state and on every side that accepts it,
 * re-encode each result and compare bytes: the encoding is a deterministic
 * function of the fields, so equal bytes mean equal messages. Returns the
 * encoded size.
 */
static size_t roundtrip(const struct proto_msg *m)
{
	size_t cap = proto_msg_max_size(m->type), la, lb;
	uint8_t *a = malloc(cap), *b = malloc(cap);
	struct proto_msg d;
	struct proto_err e;
	char why[128];
	int rc, decoded = 0;

	assert_non_null(a);
	assert_non_null(b);
	rc = proto_encode(m, a, cap, &la, &e);
	if (rc != 0)
		fail_msg("encode: %s", proto_err_format(&e, why, sizeof(why)));
	assert_true(la <= cap);
	for (unsigned side = PROTO_SIDE_SERVER; side <= PROTO_SIDE_CLIENT; side++) {
		unsigned want = side == PROTO_SIDE_SERVER ? PROTO_DIR_C2S : PROTO_DIR_S2C;

		for (unsigned st = PROTO_STATE_NEW; st <= PROTO_STATE_WORK; st++) {
			bool ok = (proto_msg_dir(m->type) & want) && (proto_msg_states(m->type) & (1u << st));

			rc = proto_decode(a, la, side, st, &d, &e);
			if (!ok) {
				assert_int_equal(rc, BW_E_MSG_STATE);
				continue;
			}
			if (rc != 0)
				fail_msg("decode: %s", proto_err_format(&e, why, sizeof(why)));
			assert_int_equal(d.type, m->type);
			assert_int_equal(proto_encode(&d, b, cap, &lb, NULL), 0);
			assert_int_equal(lb, la);
			assert_memory_equal(a, b, la);
			proto_msg_free(&d);
			decoded++;
		}
	}
	assert_true(decoded > 0);
	free(a);
	free(b);
	return la;
}

static void test_proto_encode_roundtrip_every_message(void **state)
{
	static const enum fill hows[] = { FILL_MIN, FILL_MID, FILL_MAX };

	for (size_t i = 0; i < BW_ARRAY_LEN(all_types); i++) {
		for (size_t h = 0; h < BW_ARRAY_LEN(hows); h++) {
			for (int opt = 0; opt <= 1; opt++) {
				struct proto_msg m;

				fill_msg(&m, all_types[i], hows[h], opt);
				roundtrip(&m);
				arena_free();
			}
		}
	}
}

/* Optional fields: sent only when has_<member> is set, and has_<member> is
 * set by the decoder exactly for those present. */
static void test_proto_decode_optional_presence(void **state)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(all_types); i++) {
		for (int opt = 0; opt <= 1; opt++) {
			struct proto_msg m, d;
			static uint8_t buf[PROTO_PAYLOAD_MAX];
			size_t len;
			int total, present;

			fill_msg(&m, all_types[i], FILL_MID, opt);
			assert_int_equal(proto_encode(&m, buf, sizeof(buf), &len, NULL), 0);
			assert_int_equal(proto_decode(buf, len, receiver(m.type), first_state(m.type),
			                              &d, NULL), 0);
			count_optional(&d, &total, &present);
			assert_int_equal(present, opt ? total : 0);
			proto_msg_free(&d);
			arena_free();
		}
	}
}

/* The API as a caller uses it: build a LOGIN, encode, decode on the server
 * in HANDSHAKE state, read the values back. */
static void test_proto_decode_login_values(void **state)
{
	static const struct proto_kv metas[] = { { "team", "infra" }, { "site", "" } };
	struct proto_msg m = {
		.type = PROTO_MSG_LOGIN,
		.login = {
			.version = "0.1.0", .user = "alice", .run_id = NULL /* first login */,
			.hostname = "nas", .os = "linux", .arch = "amd64", .pool_count = 5,
			.metas = { metas, 2 }, .has_metas = true,
		},
	};
	uint8_t buf[PROTO_FRAME_MAX_PRELOGIN];
	struct proto_msg d;
	struct proto_err e;
	size_t len, plen;

	assert_int_equal(proto_encode_frame(&m, buf, sizeof(buf), &len, &e), 0);
	assert_int_equal(proto_frame_parse(buf, len, proto_frame_limit(PROTO_STATE_HANDSHAKE), &plen), 0);
	assert_int_equal(plen + PROTO_FRAME_HDR, len);
	assert_int_equal(proto_decode(buf + PROTO_FRAME_HDR, plen, PROTO_SIDE_SERVER,
	                              PROTO_STATE_HANDSHAKE, &d, &e), 0);
	assert_int_equal(d.type, PROTO_MSG_LOGIN);
	assert_string_equal(d.login.version, "0.1.0");
	assert_string_equal(d.login.user, "alice");
	assert_string_equal(d.login.run_id, "");
	assert_string_equal(d.login.hostname, "nas");
	assert_int_equal(d.login.pool_count, 5);
	assert_true(d.login.has_metas);
	assert_int_equal(d.login.metas.n, 2);
	assert_string_equal(d.login.metas.kv[0].key, "team");
	assert_string_equal(d.login.metas.kv[0].value, "infra");
	assert_string_equal(d.login.metas.kv[1].key, "site");
	assert_string_equal(d.login.metas.kv[1].value, "");
	proto_msg_free(&d);
	assert_int_equal(d.type, PROTO_MSG_NONE);
	proto_msg_free(&d); /* zeroed: a second free is harmless */
	proto_msg_free(NULL);

	/* The same frame is refused once logged in, and by a client. */
	assert_int_equal(proto_decode(buf + PROTO_FRAME_HDR, plen, PROTO_SIDE_SERVER,
	                              PROTO_STATE_CONTROL, &d, &e), BW_E_MSG_STATE);
	assert_int_equal(e.type, PROTO_MSG_LOGIN);
	assert_int_equal(proto_decode(buf + PROTO_FRAME_HDR, plen, PROTO_SIDE_CLIENT,
	                              PROTO_STATE_HANDSHAKE, &d, &e), BW_E_MSG_STATE);
}

static bool is_upper_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Walk the table (tinc test_protocol.c): ids and names unique, limits sane,
 * every field well formed. Much of it also holds at compile time (proto.c). */
static void test_proto_table_walk(void **state)
{
	bool seen_id[PROTO_MSG_SLOTS] = { false };
	size_t n = BW_ARRAY_LEN(all_types);

	assert_true(n >= 16);
	for (size_t i = 0; i < n; i++) {
		enum proto_msg_type t = all_types[i];
		const char *name = proto_msg_name(t);
		unsigned states = proto_msg_states(t), dir = proto_msg_dir(t);
		size_t max = proto_msg_max_size(t);

		assert_true(t > 0 && t < PROTO_MSG_SLOTS);
		assert_false(seen_id[t]);
		seen_id[t] = true;
		assert_non_null(name);
		assert_true(is_upper_name(name));
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(name, proto_msg_name(all_types[j]));
		assert_true(states != 0 && (states & ~PROTO_ST_ANY) == 0);
		assert_true(dir == PROTO_DIR_C2S || dir == PROTO_DIR_S2C || dir == PROTO_DIR_BOTH);
		assert_true(max >= 16 && max <= PROTO_PAYLOAD_MAX);
		if (states & (PROTO_ST_NEW | PROTO_ST_HANDSHAKE))
			assert_true(max + PROTO_AEAD_OVERHEAD <= PROTO_FRAME_MAX_PRELOGIN);
		assert_true(max + PROTO_AEAD_OVERHEAD <= PROTO_FRAME_MAX);
	}
	/* Fields: a valid type, a short wire name, min <= max. */
#define TYPE_OK_UINT 1
#define TYPE_OK_BOOL 1
#define TYPE_OK_STR 1
#define TYPE_OK_BIN 1
#define TYPE_OK_FIXBIN 1
#define TYPE_OK_UINT_ARRAY 1
#define TYPE_OK_STR_ARRAY 1
#define TYPE_OK_STR_MAP 1
#define PROTO_FIELD(m, type, req, min, max, elem)                       \
	assert_int_equal(TYPE_OK_##type, 1);                            \
	assert_true(strlen(#m) > 0 && strlen(#m) <= PROTO_FIELD_NAME_MAX); \
	assert_true((uint64_t)(max) - (min) <= (uint64_t)(max));        \
	nfields++;
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields) \
	{                                                              \
		int nfields = 0;                                       \
		fields                                                  \
		assert_true(nfields > 0 && nfields <= 64);             \
		assert_true(strlen(summary) > 10);                     \
	}
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD

	/* Lookups outside the table. */
	assert_null(proto_msg_name(PROTO_MSG_NONE));
	assert_null(proto_msg_name((enum proto_msg_type)(PROTO_MSG_SLOTS - 1)));
	assert_null(proto_msg_name((enum proto_msg_type)1000));
	assert_int_equal(proto_msg_max_size((enum proto_msg_type)1000), 0);
	assert_int_equal(proto_msg_states(PROTO_MSG_NONE), 0);
	assert_string_equal(proto_msg_name(PROTO_MSG_NEW_PROXY), "NEW_PROXY");
	assert_int_equal(PROTO_MSG_HELLO, 1);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void test_proto_frame_parse_incomplete(void **state)
{
	uint8_t buf[16] = { 0, 0, 0, 5, 'a', 'b' };
	size_t plen = 99;

	/* Header incomplete: nothing known yet. */
	for (size_t avail = 0; avail < PROTO_FRAME_HDR; avail++) {
		assert_int_equal(proto_frame_parse(buf, avail, PROTO_FRAME_MAX, &plen), BW_E_AGAIN);
		assert_int_equal(plen, 99);
	}
	/* Payload incomplete: the length is known, so the caller can wait for it. */
	for (size_t avail = PROTO_FRAME_HDR; avail < PROTO_FRAME_HDR + 5; avail++) {
		assert_int_equal(proto_frame_parse(buf, avail, PROTO_FRAME_MAX, &plen), BW_E_AGAIN);
		assert_int_equal(plen, 5);
	}
	assert_int_equal(proto_frame_parse(buf, PROTO_FRAME_HDR + 5, PROTO_FRAME_MAX, &plen), 0);
	assert_int_equal(plen, 5);
	/* Bytes of the next frame after it do not matter. */
	assert_int_equal(proto_frame_parse(buf, sizeof(buf), PROTO_FRAME_MAX, &plen), 0);
	assert_int_equal(plen, 5);
}

static void test_proto_frame_parse_over_limit(void **state)
{
	uint8_t hdr[PROTO_FRAME_HDR];
	size_t plen = 0;

	/* Refused from the 4-byte header alone, before any payload arrives. */
	put_be32(hdr, PROTO_FRAME_MAX_PRELOGIN + 1);
	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), proto_frame_limit(PROTO_STATE_NEW), &plen),
	                 BW_E_FRAME_TOO_BIG);
	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), proto_frame_limit(PROTO_STATE_HANDSHAKE),
	                                   &plen), BW_E_FRAME_TOO_BIG);
	/* The same length is fine once logged in. */
	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), proto_frame_limit(PROTO_STATE_CONTROL),
	                                   &plen), BW_E_AGAIN);
	assert_int_equal(plen, PROTO_FRAME_MAX_PRELOGIN + 1);
	/* Exactly at the limit is allowed. */
	put_be32(hdr, PROTO_FRAME_MAX_PRELOGIN);
	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), proto_frame_limit(PROTO_STATE_NEW), &plen),
	                 BW_E_AGAIN);
	/* After login. */
	put_be32(hdr, PROTO_FRAME_MAX + 1);
	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), proto_frame_limit(PROTO_STATE_CONTROL),
	                                   &plen), BW_E_FRAME_TOO_BIG);
	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), proto_frame_limit(PROTO_STATE_WORK), &plen),
	                 BW_E_FRAME_TOO_BIG);
	put_be32(hdr, 0xffffffffu);
	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), PROTO_FRAME_MAX, &plen),
	                 BW_E_FRAME_TOO_BIG);
	assert_int_equal(proto_frame_limit(PROTO_STATE_NEW), PROTO_FRAME_MAX_PRELOGIN);
	assert_int_equal(proto_frame_limit(PROTO_STATE_WORK), PROTO_FRAME_MAX);
}

static void test_proto_frame_parse_zero_length(void **state)
{
	uint8_t hdr[PROTO_FRAME_HDR] = { 0 };
	size_t plen;

	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), PROTO_FRAME_MAX, &plen),
	                 BW_E_MSG_MALFORMED);
}

static void test_proto_frame_header_write_limits(void **state)
{
	uint8_t hdr[PROTO_FRAME_HDR];
	size_t plen;

	assert_int_equal(proto_frame_header_write(hdr, 0x010203), 0);
	assert_memory_equal(hdr, "\x00\x01\x02\x03", 4);
	assert_int_equal(proto_frame_header_write(hdr, PROTO_FRAME_MAX), 0);
	assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), PROTO_FRAME_MAX, &plen), BW_E_AGAIN);
	assert_int_equal(plen, PROTO_FRAME_MAX);
	assert_int_equal(proto_frame_header_write(hdr, PROTO_FRAME_MAX + 1), BW_E_FRAME_TOO_BIG);
}

static void test_proto_encode_frame_small_buffer(void **state)
{
	struct proto_msg m = { .type = PROTO_MSG_PING, .ping = { .seq = 1 } };
	uint8_t buf[64];
	size_t len, plen;

	assert_int_equal(proto_encode_frame(&m, buf, 3, &len, NULL), -ENOBUFS);
	assert_int_equal(proto_encode_frame(&m, buf, 8, &len, NULL), -ENOBUFS);
	assert_int_equal(len, 0);
	assert_int_equal(proto_encode_frame(&m, buf, sizeof(buf), &len, NULL), 0);
	/* [14, {"seq": 1}] */
	assert_int_equal(len, 12);
	assert_memory_equal(buf, "\x00\x00\x00\x08\x92\x0e\x81\xa3seq\x01", 12);
	assert_int_equal(proto_frame_parse(buf, len, PROTO_FRAME_MAX, &plen), 0);
	assert_int_equal(plen, 8);
}

static void test_proto_version_pick_ranges(void **state)
{
	uint64_t v = 0;

	assert_int_equal(proto_version_pick(PROTO_VERSION_MIN, PROTO_VERSION_MAX, &v), 0);
	assert_int_equal(v, PROTO_VERSION_MAX);
	assert_int_equal(proto_version_pick(0, 200, &v), 0); /* highest in common */
	assert_int_equal(v, PROTO_VERSION_MAX);
	v = 77;
	assert_int_equal(proto_version_pick(PROTO_VERSION_MAX + 1, PROTO_VERSION_MAX + 5, &v),
	                 BW_E_VERSION);
	assert_int_equal(v, 77);
	assert_int_equal(proto_version_pick(0, PROTO_VERSION_MIN - 1, &v), BW_E_VERSION);
	assert_int_equal(proto_version_pick(3, 1, &v), BW_E_VERSION); /* inverted */
}

static void test_proto_errcode_table(void **state)
{
	assert_int_equal(PROTO_ERRCODE_AUTH_FAILED, 1);
	assert_string_equal(proto_errcode_name(PROTO_ERRCODE_AUTH_FAILED), "AUTH_FAILED");
	assert_string_equal(proto_errcode_name(PROTO_ERRCODE_INTERNAL), "INTERNAL");
	assert_string_equal(proto_errcode_name(0), "UNKNOWN");
	assert_string_equal(proto_errcode_name(1u << 20), "UNKNOWN");
	assert_int_equal(proto_errcode_from_err(BW_E_WRONG_TOKEN), PROTO_ERRCODE_AUTH_FAILED);
	assert_int_equal(proto_errcode_from_err(BW_E_VERSION), PROTO_ERRCODE_VERSION);
	assert_int_equal(proto_errcode_from_err(BW_E_MSG_FIELD_TYPE), PROTO_ERRCODE_MALFORMED);
	assert_int_equal(proto_errcode_from_err(BW_E_MSG_STATE), PROTO_ERRCODE_MALFORMED);
	assert_int_equal(proto_errcode_from_err(BW_E_FRAME_TOO_BIG), PROTO_ERRCODE_LIMIT);
	assert_int_equal(proto_errcode_from_err(BW_E_TIMEOUT), PROTO_ERRCODE_TIMEOUT);
	assert_int_equal(proto_errcode_from_err(-ENOMEM), PROTO_ERRCODE_INTERNAL);
	/* Every code fits the ERROR message's code field. */
#define PROTO_ERRCODE(NAME, code, text) assert_true(code > 0 && code <= PROTO_ERROR_CODE_MAX);
#include "proto/errcodes.def"
#undef PROTO_ERRCODE
}

static int on_ping_calls;

static int on_ping(void *ctx, struct proto_msg *m)
{
	assert_ptr_equal(ctx, &on_ping_calls);
	on_ping_calls++;
	return (int)m->ping.seq;
}

static void test_proto_dispatch_by_type(void **state)
{
	static const proto_handler_fn table[PROTO_MSG_SLOTS] = { [PROTO_MSG_PING] = on_ping };
	struct proto_msg m = { .type = PROTO_MSG_PING, .ping = { .seq = 3 } };

	on_ping_calls = 0;
	assert_int_equal(proto_dispatch(table, &on_ping_calls, &m), 3);
	assert_int_equal(on_ping_calls, 1);
	m.type = PROTO_MSG_PONG;
	assert_int_equal(proto_dispatch(table, &on_ping_calls, &m), BW_E_UNSUPPORTED);
	m.type = (enum proto_msg_type)PROTO_MSG_SLOTS;
	assert_int_equal(proto_dispatch(table, &on_ping_calls, &m), BW_E_UNSUPPORTED);
	assert_int_equal(on_ping_calls, 1);
}

static void test_proto_err_format_names_field(void **state)
{
	/* NEW_PROXY whose remote_port is a string. */
	static const uint8_t p[] = "\x92\x06\x83\xa4name\xa1p\xa4type\xa3tcp\xabremote_port\xa2no";
	struct proto_msg m;
	struct proto_err e;
	char buf[128];

	assert_int_equal(proto_decode(p, sizeof(p) - 1, PROTO_SIDE_SERVER, PROTO_STATE_CONTROL, &m, &e),
	                 BW_E_MSG_FIELD_TYPE);
	assert_string_equal(proto_err_format(&e, buf, sizeof(buf)),
	                    "NEW_PROXY: field remote_port: message field has the wrong type");
	assert_int_equal(proto_decode(p, 2, PROTO_SIDE_SERVER, PROTO_STATE_CONTROL, &m, &e),
	                 BW_E_MSG_MALFORMED);
	assert_string_equal(proto_err_format(&e, buf, sizeof(buf)), "NEW_PROXY: malformed message");
	assert_int_equal(proto_decode(p, 1, PROTO_SIDE_SERVER, PROTO_STATE_CONTROL, &m, &e),
	                 BW_E_MSG_MALFORMED);
	assert_string_equal(proto_err_format(&e, buf, sizeof(buf)), "malformed message");
	assert_int_equal(proto_decode(p, 3, PROTO_SIDE_SERVER, PROTO_STATE_NEW, &m, &e), BW_E_MSG_STATE);
	assert_string_equal(proto_err_format(&e, buf, sizeof(buf)),
	                    "NEW_PROXY: message not allowed in this state");
	assert_string_equal(proto_state_name(PROTO_STATE_HANDSHAKE), "handshake");
	assert_string_equal(proto_state_name((enum proto_state)9), "invalid");
}

/* --write-corpus: seeds for tests/fuzz/corpus/proto_{frame,msg}. */
static void write_file(const char *dir, const char *name, const uint8_t *p, size_t len)
{
	char path[4096];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
		fprintf(stderr, "path too long: %s/%s\n", dir, name);
		exit(1);
	}
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
}

static void lower(char *dst, const char *src, size_t cap)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < cap; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] - 'A' + 'a' : src[i]);
	dst[i] = '\0';
}

static int write_corpus(const char *root)
{
	static uint8_t frame[PROTO_FRAME_HDR + PROTO_PAYLOAD_MAX], stream[8192];
	static const char *const variants[] = { "min", "mid", "mid-required", "max" };
	char fdir[4096], mdir[4096], name[128], lname[64];
	size_t len, slen = 0;

	snprintf(fdir, sizeof(fdir), "%s/proto_frame", root);
	snprintf(mdir, sizeof(mdir), "%s/proto_msg", root);
	mkdir(fdir, 0755);
	mkdir(mdir, 0755);
	for (size_t i = 0; i < BW_ARRAY_LEN(all_types); i++) {
		lower(lname, proto_msg_name(all_types[i]), sizeof(lname));
		for (size_t v = 0; v < BW_ARRAY_LEN(variants); v++) {
			struct proto_msg m;
			enum fill how = v == 0 ? FILL_MIN : v == 3 ? FILL_MAX : FILL_MID;

			int total, present;

			fill_msg(&m, all_types[i], how, v != 2);
			count_optional(&m, &total, &present);
			if (v == 2 && total == 0) {
				arena_free();
				continue; /* the same bytes as "mid" */
			}
			if (proto_encode_frame(&m, frame, sizeof(frame), &len, NULL) != 0)
				return 1;
			arena_free();
			if (v == 3 && len > 4096)
				continue; /* keep the seeds small */
			snprintf(name, sizeof(name), "%s-%s", lname, variants[v]);
			write_file(fdir, name, frame, len);
			write_file(mdir, name, frame + PROTO_FRAME_HDR, len - PROTO_FRAME_HDR);
			if (v == 1 && slen + len <= sizeof(stream)) {
				memcpy(stream + slen, frame, len);
				slen += len;
			}
			/* Damaged copies of a few messages; the fuzzer finds the rest. */
			if (v == 1 && (all_types[i] == PROTO_MSG_LOGIN || all_types[i] == PROTO_MSG_NEW_PROXY ||
			               all_types[i] == PROTO_MSG_UDP_PACKET)) {
				size_t plen = len - PROTO_FRAME_HDR;

				snprintf(name, sizeof(name), "%s-truncated", lname);
				write_file(mdir, name, frame + PROTO_FRAME_HDR, plen - 1);
				put_be32(frame, (uint32_t)(plen - 1));
				write_file(fdir, name, frame, len - 1);
				snprintf(name, sizeof(name), "%s-trailing", lname);
				frame[len] = 0;
				put_be32(frame, (uint32_t)(plen + 1));
				write_file(fdir, name, frame, len + 1);
				write_file(mdir, name, frame + PROTO_FRAME_HDR, plen + 1);
			}
		}
	}
	write_file(fdir, "stream-every-message", stream, slen);
	write_file(fdir, "zero-length", (const uint8_t *)"\0\0\0\0", 4);
	write_file(fdir, "over-prelogin-limit", (const uint8_t *)"\x00\x00\x08\x01\x92\x0e\x80", 7);
	write_file(fdir, "over-limit", (const uint8_t *)"\x00\x01\x02\x10", 4);
	write_file(mdir, "unknown-type", (const uint8_t *)"\x92\x3f\x80", 3);
	write_file(mdir, "wrong-outer", (const uint8_t *)"\x81\xa3seq\x05", 5);
	write_file(mdir, "duplicate-field", (const uint8_t *)"\x92\x0e\x82\xa3seq\x05\xa3seq\x06", 14);
	write_file(mdir, "nested", (const uint8_t *)"\x92\x0e\x81\xa3seq\x91\x91\x91\x91\x90", 11);
	return 0;
}

static int teardown(void **state)
{
	arena_free();
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_proto_encode_roundtrip_every_message, teardown),
		cmocka_unit_test_teardown(test_proto_decode_optional_presence, teardown),
		cmocka_unit_test(test_proto_decode_login_values),
		cmocka_unit_test(test_proto_table_walk),
		cmocka_unit_test(test_proto_frame_parse_incomplete),
		cmocka_unit_test(test_proto_frame_parse_over_limit),
		cmocka_unit_test(test_proto_frame_parse_zero_length),
		cmocka_unit_test(test_proto_frame_header_write_limits),
		cmocka_unit_test(test_proto_encode_frame_small_buffer),
		cmocka_unit_test(test_proto_version_pick_ranges),
		cmocka_unit_test(test_proto_errcode_table),
		cmocka_unit_test(test_proto_dispatch_by_type),
		cmocka_unit_test(test_proto_err_format_names_field),
	};

	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
