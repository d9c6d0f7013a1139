/*
 * Wire protocol: msgpack messages in length-prefixed frames. No I/O here: bytes
 * in, messages out, and back. Every message is one entry of proto/messages.def;
 * every limit is in proto/limits.h; docs/PROTOCOL.md describes both.
 *
 * Frame:   4-byte big-endian payload length, then the payload.
 * Payload: msgpack [type id, {field name: value, ...}] (encrypted by the crypto
 *          layer once the control session is up; this module sees plaintext).
 */
#ifndef BW_PROTO_H
#define BW_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

/* Protocol versions this build speaks (small integers, negotiated in HELLO). */
#define PROTO_VERSION_MIN 1
#define PROTO_VERSION_MAX 1

/* State of the connection a message arrives on; decides what is accepted. */
enum proto_state {
	PROTO_STATE_NEW,       /* fresh TCP connection, nothing received yet */
	PROTO_STATE_HANDSHAKE, /* control: HELLO exchanged, awaiting LOGIN(_RESP) */
	PROTO_STATE_CONTROL,   /* control: logged in */
	PROTO_STATE_WORK,      /* work or visitor connection after its first frame */
};
#define PROTO_ST_NEW (1u << PROTO_STATE_NEW)
#define PROTO_ST_HANDSHAKE (1u << PROTO_STATE_HANDSHAKE)
#define PROTO_ST_CONTROL (1u << PROTO_STATE_CONTROL)
#define PROTO_ST_WORK (1u << PROTO_STATE_WORK)
#define PROTO_ST_ANY 0xfu
const char *proto_state_name(enum proto_state st); /* "new", ...; never NULL */

/* The receiving end: a server accepts C2S and BOTH messages, a client S2C and BOTH. */
enum proto_side { PROTO_SIDE_SERVER, PROTO_SIDE_CLIENT };
#define PROTO_DIR_C2S 1u
#define PROTO_DIR_S2C 2u
#define PROTO_DIR_BOTH 3u

/* Field value types (see messages.def). Decoded pointers are owned by the message. */
struct proto_bin { const uint8_t *data; size_t len; };
struct proto_uint_array { const uint64_t *v; size_t n; };
struct proto_str_array { const char **v; size_t n; };
struct proto_kv { const char *key, *value; };
struct proto_str_map { const struct proto_kv *kv; size_t n; };

#define PROTO__DECL_UINT(m, max) uint64_t m;
#define PROTO__DECL_BOOL(m, max) bool m;
#define PROTO__DECL_STR(m, max) const char *m;
#define PROTO__DECL_BIN(m, max) struct proto_bin m;
#define PROTO__DECL_FIXBIN(m, max) uint8_t m[max];
#define PROTO__DECL_UINT_ARRAY(m, max) struct proto_uint_array m;
#define PROTO__DECL_STR_ARRAY(m, max) struct proto_str_array m;
#define PROTO__DECL_STR_MAP(m, max) struct proto_str_map m;
#define PROTO__HAS_REQ(m)
#define PROTO__HAS_OPT(m) bool has_##m;

/* enum proto_msg_type: PROTO_MSG_HELLO = 1, ... (the wire ids). */
#define PROTO_MSG_SLOTS 64 /* every id is below this; dispatch tables have this size */
enum proto_msg_type {
	PROTO_MSG_NONE = 0,
#define PROTO_MSG(NAME, lname, id, ...) PROTO_MSG_##NAME = id,
#include "proto/messages.def"
#undef PROTO_MSG
};

/* struct proto_<lname> per message, members in table order. */
#define PROTO_FIELD(m, type, req, min, max, elem) PROTO__DECL_##type(m, max) PROTO__HAS_##req(m)
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields) struct proto_##lname { fields };
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD

/* A message: set .type and the member of the same name, e.g.
 *   struct proto_msg m = { .type = PROTO_MSG_PING, .ping = { .seq = 7 } }; */
struct proto_msg {
	enum proto_msg_type type;
	union {
#define PROTO_MSG(NAME, lname, ...) struct proto_##lname lname;
#include "proto/messages.def"
#undef PROTO_MSG
	};
};

/* Why a message was refused, for one log line (proto_err_format). */
struct proto_err {
	int code;                 /* the value returned, a BW_E_* code */
	enum proto_msg_type type; /* PROTO_MSG_NONE until the type was read */
	char field[PROTO_FIELD_NAME_MAX + 1]; /* failing field, "" if none; an
	                                       * unknown name is copied, made printable */
};
/* "NEW_PROXY: field remote_port: message field has the wrong type" into buf; returns buf. */
const char *proto_err_format(const struct proto_err *e, char *buf, size_t len);

/* Table lookups; NULL / 0 for a type not in the table. */
const char *proto_msg_name(enum proto_msg_type t);
size_t proto_msg_max_size(enum proto_msg_type t);  /* largest encoded payload */
unsigned proto_msg_states(enum proto_msg_type t);  /* PROTO_ST_* bits */
unsigned proto_msg_dir(enum proto_msg_type t);     /* PROTO_DIR_* */

/*
 * Encode m into out[0..cap) and set *len. Fields are checked against the same
 * limits the decoder applies (errors name the field in *err, which may be
 * NULL): a message that encodes is one the peer accepts. OPT fields are sent
 * when has_<member> is set; a NULL string is sent as "". -ENOBUFS if cap is too
 * small (proto_msg_max_size(m->type) always suffices).
 */
int proto_encode(const struct proto_msg *m, uint8_t *out, size_t cap, size_t *len,
                 struct proto_err *err);

/* proto_encode after a frame header: out holds a whole plaintext frame. */
int proto_encode_frame(const struct proto_msg *m, uint8_t *out, size_t cap, size_t *len,
                       struct proto_err *err);

/*
 * Decode one payload (exactly len bytes) received by `side` on a connection in
 * state `st`. Strict: known type allowed for that side and state
 * (BW_E_MSG_STATE), every required field, no unknown or duplicate field, every
 * value of its type and within its limits, nothing after the message. On
 * success *m owns copies of its strings and binaries (proto_msg_free). On
 * failure *m is empty and *err (may be NULL) names the field. Each allocation
 * follows a length check; at most 9 bytes of heap per payload byte.
 */
int proto_decode(const uint8_t *p, size_t len, enum proto_side side, enum proto_state st,
                 struct proto_msg *m, struct proto_err *err);

/* Free what proto_decode() allocated and zero *m; only for decoded messages. */
void proto_msg_free(struct proto_msg *m);

/*
 * Look at buf[0..avail) for one frame. 0: a whole frame is there, the payload
 * is buf[PROTO_FRAME_HDR .. PROTO_FRAME_HDR + *payload_len). BW_E_AGAIN: more
 * bytes needed (*payload_len is set once the header is complete).
 * BW_E_FRAME_TOO_BIG: the header announces more than `limit`, decided from
 * the header alone. BW_E_MSG_MALFORMED: a zero-length frame.
 */
int proto_frame_parse(const uint8_t *buf, size_t avail, size_t limit, size_t *payload_len);

/* Frame payload limit for a connection state (smaller before login). */
size_t proto_frame_limit(enum proto_state st);

/* Write the header for a payload of `len` bytes; BW_E_FRAME_TOO_BIG above PROTO_FRAME_MAX. */
int proto_frame_header_write(uint8_t hdr[PROTO_FRAME_HDR], size_t len);

/* Pick the highest version in both [ver_min, ver_max] and ours; BW_E_VERSION if none. */
int proto_version_pick(uint64_t ver_min, uint64_t ver_max, uint64_t *chosen);

/* ERROR message codes (proto/errcodes.def): PROTO_ERRCODE_AUTH_FAILED, ... */
enum proto_errcode {
#define PROTO_ERRCODE(NAME, code, text) PROTO_ERRCODE_##NAME = code,
#include "proto/errcodes.def"
#undef PROTO_ERRCODE
};
const char *proto_errcode_name(uint64_t code); /* "AUTH_FAILED"; "UNKNOWN" otherwise */
enum proto_errcode proto_errcode_from_err(int rc); /* BW_E_MSG_* -> MALFORMED, ... */

/* A receiver's handlers, indexed by type: `= { [PROTO_MSG_LOGIN] = on_login }`.
 * Returns the handler's result, or BW_E_UNSUPPORTED when there is none. */
typedef int (*proto_handler_fn)(void *ctx, struct proto_msg *m);
int proto_dispatch(const proto_handler_fn table[PROTO_MSG_SLOTS], void *ctx, struct proto_msg *m);

#endif
