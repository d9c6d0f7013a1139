/*
 * The message table expanded into descriptors, with compile-time checks of its
 * limits; framing; version negotiation; error codes; dispatch.
 */
#include "proto/proto_int.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"

/* Field descriptors: one generated function per message, because the offsets
 * need the message's struct type and a PROTO_FIELD entry does not name it; a
 * block-scope typedef does. */
#define FD_REQ_REQ true
#define FD_REQ_OPT false
#define FD_HAS_REQ(m) PROTO_NO_HAS
#define FD_HAS_OPT(m) offsetof(cur, has_##m)
#define PROTO_FIELD(m, type, req, min, max, elem)                                  \
	{ #m, sizeof(#m) - 1, PROTO_FT_##type, FD_REQ_##req, (min), (max), (elem), \
	  offsetof(cur, m), FD_HAS_##req(m) },
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields)            \
	static const struct proto_fdesc *fields_##lname(size_t *n)                \
	{                                                                          \
		typedef struct proto_##lname cur;                                  \
		static const struct proto_fdesc f[] = { fields };                  \
		*n = BW_ARRAY_LEN(f);                                              \
		return f;                                                          \
	}
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD

/* Indexed by wire id. A repeated id is a repeated designated initializer,
 * which -Woverride-init (part of -Wextra, hence -Werror) refuses to build. */
static const struct proto_mdesc by_type[PROTO_MSG_SLOTS] = {
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields) \
	[id] = { #NAME, PROTO_MSG_##NAME, PROTO_DIR_##dir, (states), (size), fields_##lname },
#include "proto/messages.def"
#undef PROTO_MSG
};

/*
 * Compile-time checks of the table. Largest canonical encoding of each field
 * (key + value, msgpack's shortest forms, as msgpack-c's packer writes them),
 * summed per message: max_size must cover it, and max_size plus the AEAD tag
 * must fit the frame limit of the states that accept the message.
 */
#define HDR_STR(n) ((n) < 32 ? 1 : (n) < 256 ? 2 : (n) < 65536 ? 3 : 5)
#define HDR_BIN(n) ((n) < 256 ? 2 : (n) < 65536 ? 3 : 5)
#define HDR_ARR(n) ((n) < 16 ? 1 : (n) < 65536 ? 3 : 5)
#define UINT_SZ(v) ((v) < 128 ? 1 : (v) < 256 ? 2 : (v) < 65536 ? 3 : (v) <= 0xffffffffu ? 5 : 9)
#define W_UINT(max, elem) UINT_SZ(max)
#define W_BOOL(max, elem) 1
#define W_STR(max, elem) (HDR_STR(max) + (max))
#define W_BIN(max, elem) (HDR_BIN(max) + (max))
#define W_FIXBIN(max, elem) (HDR_BIN(max) + (max))
#define W_UINT_ARRAY(max, elem) (HDR_ARR(max) + (max) * UINT_SZ(elem))
#define W_STR_ARRAY(max, elem) (HDR_ARR(max) + (max) * (HDR_STR(elem) + (elem)))
#define W_STR_MAP(max, elem) \
	(HDR_ARR(max) + (max) * (HDR_STR(PROTO_MAP_KEY_MAX) + PROTO_MAP_KEY_MAX + HDR_STR(elem) + (elem)))
#define PRELOGIN_STATES (PROTO_ST_NEW | PROTO_ST_HANDSHAKE)

#define PROTO_FIELD(m, type, req, min, max, elem) \
	+(HDR_STR(sizeof(#m) - 1) + sizeof(#m) - 1 + W_##type(max, elem))
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields)                    \
	_Static_assert((id) > 0 && (id) < PROTO_MSG_SLOTS, #NAME ": id out of range");     \
	_Static_assert((size) >= 1 + UINT_SZ(id) + 3 fields,                                \
	               #NAME ": max_size is below its largest encoding");                  \
	_Static_assert((size) + PROTO_AEAD_OVERHEAD <=                                      \
	                       (((states) & PRELOGIN_STATES) ? PROTO_FRAME_MAX_PRELOGIN     \
	                                                     : PROTO_FRAME_MAX),            \
	               #NAME ": max_size exceeds the frame limit of its states");
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD

#define CHECK_FIXBIN(m, min, max) _Static_assert((min) == (max), #m ": FIXBIN needs min == max");
#define CHECK_UINT(m, min, max)
#define CHECK_BOOL(m, min, max)
#define CHECK_STR(m, min, max)
#define CHECK_BIN(m, min, max)
#define CHECK_UINT_ARRAY(m, min, max)
#define CHECK_STR_ARRAY(m, min, max)
#define CHECK_STR_MAP(m, min, max)
#define PROTO_FIELD(m, type, req, min, max, elem)                                          \
	_Static_assert(sizeof(#m) - 1 <= PROTO_FIELD_NAME_MAX, #m ": wire name too long"); \
	_Static_assert((uint64_t)(max) - (min) <= (uint64_t)(max), #m ": min above max"); \
	CHECK_##type(m, min, max)
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields) fields
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD

/* The decoder tracks the fields seen in a 64-bit mask. */
#define PROTO_FIELD(m, type, req, min, max, elem) +1
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields) \
	_Static_assert(0 fields <= 64, #NAME ": more than 64 fields");
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD

const struct proto_mdesc *proto__mdesc(uint64_t type)
{
	if (type >= PROTO_MSG_SLOTS || by_type[type].name == NULL)
		return NULL;
	return &by_type[type];
}

const char *proto_msg_name(enum proto_msg_type t)
{
	const struct proto_mdesc *d = proto__mdesc((uint64_t)t);

	return d ? d->name : NULL;
}

size_t proto_msg_max_size(enum proto_msg_type t)
{
	const struct proto_mdesc *d = proto__mdesc((uint64_t)t);

	return d ? d->max_size : 0;
}

unsigned proto_msg_states(enum proto_msg_type t)
{
	const struct proto_mdesc *d = proto__mdesc((uint64_t)t);

	return d ? d->states : 0;
}

unsigned proto_msg_dir(enum proto_msg_type t)
{
	const struct proto_mdesc *d = proto__mdesc((uint64_t)t);

	return d ? d->dir : 0;
}

const char *proto_state_name(enum proto_state st)
{
	static const char *const names[] = { "new", "handshake", "control", "work" };

	return (unsigned)st < BW_ARRAY_LEN(names) ? names[st] : "invalid";
}

int proto__fail(struct proto_err *e, int code, enum proto_msg_type t, const char *field,
                size_t field_len)
{
	size_t i;

	if (!e)
		return code;
	e->code = code;
	e->type = t;
	if (field_len > PROTO_FIELD_NAME_MAX)
		field_len = PROTO_FIELD_NAME_MAX;
	/* The name may come from the peer (an unknown field): keep it printable
	 * so that it can go into a log line as it is. */
	for (i = 0; field && i < field_len; i++) {
		unsigned char c = (unsigned char)field[i];

		e->field[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	e->field[i] = '\0';
	return code;
}

const char *proto_err_format(const struct proto_err *e, char *buf, size_t len)
{
	const char *name = proto_msg_name(e->type);

	if (name && e->field[0])
		snprintf(buf, len, "%s: field %s: %s", name, e->field, bw_strerror(e->code));
	else if (name)
		snprintf(buf, len, "%s: %s", name, bw_strerror(e->code));
	else
		snprintf(buf, len, "%s", bw_strerror(e->code));
	return buf;
}

size_t proto_frame_limit(enum proto_state st)
{
	return (st == PROTO_STATE_NEW || st == PROTO_STATE_HANDSHAKE) ? PROTO_FRAME_MAX_PRELOGIN
	                                                              : PROTO_FRAME_MAX;
}

int proto_frame_parse(const uint8_t *buf, size_t avail, size_t limit, size_t *payload_len)
{
	uint32_t n;

	if (avail < PROTO_FRAME_HDR)
		return BW_E_AGAIN;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	/* Decided from the header alone, before the caller buffers the payload. */
	if (n > limit)
		return BW_E_FRAME_TOO_BIG;
	/* The smallest message is a few bytes; an empty frame is never valid and
	 * would otherwise let a peer spin the reader for free. */
	if (n == 0)
		return BW_E_MSG_MALFORMED;
	*payload_len = n;
	if (avail - PROTO_FRAME_HDR < n)
		return BW_E_AGAIN;
	return 0;
}

int proto_frame_header_write(uint8_t hdr[PROTO_FRAME_HDR], size_t len)
{
	if (len > PROTO_FRAME_MAX)
		return BW_E_FRAME_TOO_BIG;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	return 0;
}

int proto_version_pick(uint64_t ver_min, uint64_t ver_max, uint64_t *chosen)
{
	uint64_t lo = ver_min > PROTO_VERSION_MIN ? ver_min : PROTO_VERSION_MIN;
	uint64_t hi = ver_max < PROTO_VERSION_MAX ? ver_max : PROTO_VERSION_MAX;

	if (ver_min > ver_max || lo > hi)
		return BW_E_VERSION;
	*chosen = hi;
	return 0;
}

const char *proto_errcode_name(uint64_t code)
{
	switch (code) {
#define PROTO_ERRCODE(NAME, num, text) \
	case num:                      \
		return #NAME;
#include "proto/errcodes.def"
#undef PROTO_ERRCODE
	}
	return "UNKNOWN";
}

enum proto_errcode proto_errcode_from_err(int rc)
{
	switch (rc) {
	case BW_E_AUTH_FAILED:
	case BW_E_WRONG_TOKEN:
		return PROTO_ERRCODE_AUTH_FAILED;
	case BW_E_VERSION:
		return PROTO_ERRCODE_VERSION;
	case BW_E_FRAME_TOO_BIG:
	case BW_E_MSG_TOO_LONG:
	case BW_E_TOO_BIG:
		return PROTO_ERRCODE_LIMIT;
	case BW_E_MSG_MALFORMED:
	case BW_E_MSG_UNKNOWN:
	case BW_E_MSG_TRAILING:
	case BW_E_MSG_MISSING:
	case BW_E_MSG_FIELD_TYPE:
	case BW_E_MSG_STATE:
	case BW_E_MSG_FIELD_UNKNOWN:
	case BW_E_MSG_FIELD_DUP:
	case BW_E_MSG_TOO_SMALL:
	case BW_E_DECRYPT:
	case BW_E_REPLAY:
		return PROTO_ERRCODE_MALFORMED;
	case BW_E_NOT_FOUND:
		return PROTO_ERRCODE_NOT_FOUND;
	case BW_E_TIMEOUT:
		return PROTO_ERRCODE_TIMEOUT;
	case BW_E_UNSUPPORTED:
		return PROTO_ERRCODE_UNSUPPORTED;
	default:
		return PROTO_ERRCODE_INTERNAL;
	}
}

int proto_dispatch(const proto_handler_fn table[PROTO_MSG_SLOTS], void *ctx, struct proto_msg *m)
{
	/* The type of a decoded message is always in range; the check keeps a
	 * hand-built message from indexing outside the table. */
	if ((unsigned)m->type >= PROTO_MSG_SLOTS || table[m->type] == NULL)
		return BW_E_UNSUPPORTED;
	return table[m->type](ctx, m);
}
