/*
 * Inside proto/ only: the descriptors generated from messages.def that drive
 * the one encoder (encode.c) and the one decoder (decode.c).
 */
#ifndef BW_PROTO_INT_H
#define BW_PROTO_INT_H

#include "proto/proto.h"

enum proto_ftype {
	PROTO_FT_UINT, PROTO_FT_BOOL, PROTO_FT_STR, PROTO_FT_BIN, PROTO_FT_FIXBIN,
	PROTO_FT_UINT_ARRAY, PROTO_FT_STR_ARRAY, PROTO_FT_STR_MAP,
};

#define PROTO_NO_HAS ((size_t)-1)

struct proto_fdesc {
	const char *name;   /* wire name = struct member */
	size_t name_len;
	enum proto_ftype type;
	bool required;
	uint64_t min, max;  /* value range (UINT), length or count range otherwise */
	uint64_t elem;      /* arrays: largest element; STR_MAP: longest value */
	size_t off;         /* offset of the member in struct proto_<lname> */
	size_t has_off;     /* offset of has_<member>, PROTO_NO_HAS for REQ */
};

struct proto_mdesc {
	const char *name;
	enum proto_msg_type type;
	unsigned dir, states;
	size_t max_size;
	/* The field array lives in a generated function because its offsets
	 * need the message's struct type, which is only known per entry. */
	const struct proto_fdesc *(*fields)(size_t *n);
};

/* Descriptor of a type, or NULL when the id is not in the table. */
const struct proto_mdesc *proto__mdesc(uint64_t type);

/* The message's struct (every union member starts at the same address). */
static inline void *proto__body(struct proto_msg *m)
{
	return &m->hello;
}

static inline const void *proto__cbody(const struct proto_msg *m)
{
	return &m->hello;
}

/* Fill e (if any) and return code. */
int proto__fail(struct proto_err *e, int code, enum proto_msg_type t, const char *field,
                size_t field_len);

#endif
