/*
 * The one encoder: walks the message's field descriptors and writes msgpack
 * with msgpack-c's packer into a caller's fixed buffer. The packer always
 * picks the shortest form, which is what the size limits in messages.def are
 * computed for.
 *
 * Every field is checked against the limits the decoder enforces before a byte
 * is written, so a bug or a bad configuration surfaces here, naming the field,
 * rather than as a refusal at the peer.
 */
#include "proto/proto_int.h"

#include <errno.h>
#include <string.h>

#include <msgpack.h>

#include "common/err.h"

/* A bounded sink for the packer: refuses to grow past cap. */
struct sink {
	uint8_t *p;
	size_t cap, len;
};

static int sink_write(void *data, const char *buf, size_t len)
{
	struct sink *s = data;

	if (len > s->cap - s->len)
		return -1;
	if (len > 0)
		memcpy(s->p + s->len, buf, len);
	s->len += len;
	return 0;
}

static const void *field_ptr(const void *body, const struct proto_fdesc *f)
{
	return (const uint8_t *)body + f->off;
}

static bool field_present(const void *body, const struct proto_fdesc *f)
{
	return f->required || *(const bool *)((const uint8_t *)body + f->has_off);
}

static int check_len(size_t len, uint64_t min, uint64_t max)
{
	if (len > max)
		return BW_E_MSG_TOO_LONG;
	if (len < min)
		return BW_E_MSG_TOO_SMALL;
	return 0;
}

static int check_str(const char *s, uint64_t min, uint64_t max)
{
	/* strnlen: never read far past the limit of a string the caller forgot
	 * to terminate. NULL stands for "". */
	return check_len(s ? strnlen(s, max + 1) : 0, min, max);
}

/* The decoder's rules, applied to a message about to be sent. */
static int check_field(const void *body, const struct proto_fdesc *f)
{
	const void *v = field_ptr(body, f);
	size_t i, j;
	int rc;

	switch (f->type) {
	case PROTO_FT_UINT: {
		uint64_t u = *(const uint64_t *)v;

		return u > f->max ? BW_E_MSG_TOO_LONG : u < f->min ? BW_E_MSG_TOO_SMALL : 0;
	}
	case PROTO_FT_BOOL:
	case PROTO_FT_FIXBIN:
		return 0;
	case PROTO_FT_STR:
		return check_str(*(const char *const *)v, f->min, f->max);
	case PROTO_FT_BIN: {
		const struct proto_bin *b = v;

		if (!b->data && b->len > 0)
			return BW_E_INVAL;
		return check_len(b->len, f->min, f->max);
	}
	case PROTO_FT_UINT_ARRAY: {
		const struct proto_uint_array *a = v;

		if ((rc = check_len(a->n, f->min, f->max)) < 0)
			return rc;
		if (!a->v && a->n > 0)
			return BW_E_INVAL;
		for (i = 0; i < a->n; i++)
			if (a->v[i] > f->elem)
				return BW_E_MSG_TOO_LONG;
		return 0;
	}
	case PROTO_FT_STR_ARRAY: {
		const struct proto_str_array *a = v;

		if ((rc = check_len(a->n, f->min, f->max)) < 0)
			return rc;
		if (!a->v && a->n > 0)
			return BW_E_INVAL;
		for (i = 0; i < a->n; i++)
			if ((rc = check_str(a->v[i], 0, f->elem)) < 0)
				return rc;
		return 0;
	}
	case PROTO_FT_STR_MAP: {
		const struct proto_str_map *mp = v;

		if ((rc = check_len(mp->n, f->min, f->max)) < 0)
			return rc;
		if (!mp->kv && mp->n > 0)
			return BW_E_INVAL;
		for (i = 0; i < mp->n; i++) {
			if (!mp->kv[i].key)
				return BW_E_INVAL;
			if ((rc = check_str(mp->kv[i].key, 1, PROTO_MAP_KEY_MAX)) < 0 ||
			    (rc = check_str(mp->kv[i].value, 0, f->elem)) < 0)
				return rc;
			for (j = 0; j < i; j++)
				if (strcmp(mp->kv[i].key, mp->kv[j].key) == 0)
					return BW_E_MSG_FIELD_DUP;
		}
		return 0;
	}
	}
	return BW_E_INVAL;
}

static int pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return msgpack_pack_str(pk, n) || (n > 0 && msgpack_pack_str_body(pk, s, n)) ? -1 : 0;
}

static int pack_bin(msgpack_packer *pk, const uint8_t *p, size_t n)
{
	return msgpack_pack_bin(pk, n) || (n > 0 && msgpack_pack_bin_body(pk, p, n)) ? -1 : 0;
}

static int pack_field(msgpack_packer *pk, const void *body, const struct proto_fdesc *f)
{
	const void *v = field_ptr(body, f);
	size_t i;

	if (pack_str(pk, f->name) < 0)
		return -1;
	switch (f->type) {
	case PROTO_FT_UINT:
		return msgpack_pack_uint64(pk, *(const uint64_t *)v);
	case PROTO_FT_BOOL:
		return *(const bool *)v ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
	case PROTO_FT_STR:
		return pack_str(pk, *(const char *const *)v);
	case PROTO_FT_BIN:
		return pack_bin(pk, ((const struct proto_bin *)v)->data,
		                ((const struct proto_bin *)v)->len);
	case PROTO_FT_FIXBIN:
		return pack_bin(pk, v, f->max);
	case PROTO_FT_UINT_ARRAY: {
		const struct proto_uint_array *a = v;

		if (msgpack_pack_array(pk, a->n) < 0)
			return -1;
		for (i = 0; i < a->n; i++)
			if (msgpack_pack_uint64(pk, a->v[i]) < 0)
				return -1;
		return 0;
	}
	case PROTO_FT_STR_ARRAY: {
		const struct proto_str_array *a = v;

		if (msgpack_pack_array(pk, a->n) < 0)
			return -1;
		for (i = 0; i < a->n; i++)
			if (pack_str(pk, a->v[i]) < 0)
				return -1;
		return 0;
	}
	case PROTO_FT_STR_MAP: {
		const struct proto_str_map *mp = v;

		if (msgpack_pack_map(pk, mp->n) < 0)
			return -1;
		for (i = 0; i < mp->n; i++)
			if (pack_str(pk, mp->kv[i].key) < 0 || pack_str(pk, mp->kv[i].value) < 0)
				return -1;
		return 0;
	}
	}
	return -1;
}

int proto_encode(const struct proto_msg *m, uint8_t *out, size_t cap, size_t *len,
                 struct proto_err *err)
{
	const struct proto_mdesc *d = proto__mdesc((uint64_t)m->type);
	const struct proto_fdesc *f;
	const void *body = proto__cbody(m);
	struct sink s = { out, cap, 0 };
	msgpack_packer pk;
	size_t nf, i, present = 0;
	int rc;

	proto__fail(err, 0, m->type, NULL, 0);
	*len = 0;
	if (!d)
		return proto__fail(err, BW_E_MSG_UNKNOWN, PROTO_MSG_NONE, NULL, 0);
	f = d->fields(&nf);
	for (i = 0; i < nf; i++) {
		if (!field_present(body, &f[i]))
			continue;
		if ((rc = check_field(body, &f[i])) < 0)
			return proto__fail(err, rc, m->type, f[i].name, f[i].name_len);
		present++;
	}

	msgpack_packer_init(&pk, &s, sink_write);
	if (msgpack_pack_array(&pk, 2) < 0 || msgpack_pack_uint64(&pk, (uint64_t)m->type) < 0 ||
	    msgpack_pack_map(&pk, present) < 0)
		return proto__fail(err, -ENOBUFS, m->type, NULL, 0);
	for (i = 0; i < nf; i++) {
		if (field_present(body, &f[i]) && pack_field(&pk, body, &f[i]) < 0)
			return proto__fail(err, -ENOBUFS, m->type, f[i].name, f[i].name_len);
	}
	/* Cannot happen while proto.c's compile-time size checks hold; kept so
	 * that an encoder bug shows here rather than as a refusal at the peer. */
	if (s.len > d->max_size)
		return proto__fail(err, BW_E_MSG_TOO_LONG, m->type, NULL, 0);
	*len = s.len;
	return 0;
}

int proto_encode_frame(const struct proto_msg *m, uint8_t *out, size_t cap, size_t *len,
                       struct proto_err *err)
{
	size_t n;
	int rc;

	*len = 0;
	if (cap < PROTO_FRAME_HDR)
		return proto__fail(err, -ENOBUFS, m->type, NULL, 0);
	rc = proto_encode(m, out + PROTO_FRAME_HDR, cap - PROTO_FRAME_HDR, &n, err);
	if (rc < 0)
		return rc;
	if ((rc = proto_frame_header_write(out, n)) < 0)
		return proto__fail(err, rc, m->type, NULL, 0);
	*len = PROTO_FRAME_HDR + n;
	return 0;
}
