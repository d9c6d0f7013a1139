/*
 * The one decoder: a small bounded msgpack pull reader driven by the
 * message's field descriptors.
 *
 * Why not msgpack-c's unpacker (msgpack_unpack_next + msgpack_zone)? It builds
 * a whole object tree first, of whatever shape the peer sent, in a zone that
 * grows with the input (24 bytes per msgpack object on 64-bit, so a payload of
 * one-byte integers costs 24x its size), and the schema check would then run
 * over that tree. Reading against the schema instead means: a value of the
 * wrong shape is refused at its first byte; nesting can never go deeper than
 * the schema (top array -> field map -> array or map of strings), so there is
 * no recursion or depth to bound; each length is checked against the field's
 * limit and against the bytes left before anything is allocated; and the only
 * allocations are the decoded fields themselves, at most 9 bytes requested per
 * payload byte (an empty string in a str-array costs 1 byte on the wire, an
 * 8-byte pointer and a 1-byte copy), and never more than the message's
 * max_size allows.
 */
#include "proto/proto_int.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct rd {
	const uint8_t *p, *end;
};

static size_t rd_left(const struct rd *r)
{
	return (size_t)(r->end - r->p);
}

static uint64_t be_read(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/* A byte that is not the type we want: 0xc1 is never valid msgpack, anything
 * else is valid msgpack of another type. */
static int wrong_tag(uint8_t t)
{
	return t == 0xc1 ? BW_E_MSG_MALFORMED : BW_E_MSG_FIELD_TYPE;
}

/* Any non-negative integer, in any of msgpack's integer forms. */
static int rd_uint(struct rd *r, uint64_t *v)
{
	uint8_t t;
	size_t n;
	bool is_signed = false;

	if (rd_left(r) < 1)
		return BW_E_MSG_MALFORMED;
	t = r->p[0];
	if (t <= 0x7f) {
		*v = t;
		r->p++;
		return 0;
	}
	switch (t) {
	case 0xcc: n = 1; break;
	case 0xcd: n = 2; break;
	case 0xce: n = 4; break;
	case 0xcf: n = 8; break;
	case 0xd0: n = 1; is_signed = true; break;
	case 0xd1: n = 2; is_signed = true; break;
	case 0xd2: n = 4; is_signed = true; break;
	case 0xd3: n = 8; is_signed = true; break;
	default:
		return wrong_tag(t); /* negative fixints land here too */
	}
	if (rd_left(r) < 1 + n)
		return BW_E_MSG_MALFORMED;
	if (is_signed && (r->p[1] & 0x80))
		return BW_E_MSG_FIELD_TYPE; /* a negative number is not a uint */
	*v = be_read(r->p + 1, n);
	r->p += 1 + n;
	return 0;
}

static int rd_bool(struct rd *r, bool *v)
{
	if (rd_left(r) < 1)
		return BW_E_MSG_MALFORMED;
	if (r->p[0] != 0xc2 && r->p[0] != 0xc3)
		return wrong_tag(r->p[0]);
	*v = r->p[0] == 0xc3;
	r->p++;
	return 0;
}

enum kind { K_STR, K_BIN, K_ARR, K_MAP };

/* The header of a string, binary, array or map: its length or count. */
static int rd_hdr(struct rd *r, enum kind k, uint64_t *len)
{
	/* Length bytes after the tag for each long form, by kind. */
	static const uint8_t tags[4][3] = {
		[K_STR] = { 0xd9, 0xda, 0xdb },
		[K_BIN] = { 0xc4, 0xc5, 0xc6 },
		[K_ARR] = { 0x00, 0xdc, 0xdd }, /* no 8-bit form */
		[K_MAP] = { 0x00, 0xde, 0xdf },
	};
	static const size_t widths[3] = { 1, 2, 4 };
	uint8_t t;
	int i;

	if (rd_left(r) < 1)
		return BW_E_MSG_MALFORMED;
	t = r->p[0];
	if ((k == K_STR && (t & 0xe0) == 0xa0) || (k == K_ARR && (t & 0xf0) == 0x90) ||
	    (k == K_MAP && (t & 0xf0) == 0x80)) {
		*len = t & (k == K_STR ? 0x1f : 0x0f);
		r->p++;
		return 0;
	}
	for (i = 0; i < 3; i++) {
		if (tags[k][i] == 0 || tags[k][i] != t)
			continue;
		if (rd_left(r) < 1 + widths[i])
			return BW_E_MSG_MALFORMED;
		*len = be_read(r->p + 1, widths[i]);
		r->p += 1 + widths[i];
		return 0;
	}
	return wrong_tag(t);
}

/* Length checks in the order that gives the most useful error: against the
 * field's limits first, then against the bytes actually left. */
static int check_len(const struct rd *r, uint64_t len, uint64_t min, uint64_t max,
                     size_t min_bytes_each)
{
	if (len > max)
		return BW_E_MSG_TOO_LONG;
	if (len < min)
		return BW_E_MSG_TOO_SMALL;
	if (len > rd_left(r) / min_bytes_each)
		return BW_E_MSG_MALFORMED; /* announces more than the payload holds */
	return 0;
}

/* A string of min..max bytes without NUL, copied and terminated. */
static int rd_str(struct rd *r, uint64_t min, uint64_t max, const char **out)
{
	uint64_t len;
	char *s;
	int rc;

	if ((rc = rd_hdr(r, K_STR, &len)) < 0 || (rc = check_len(r, len, min, max, 1)) < 0)
		return rc;
	/* An embedded NUL would make "a\0b" and "a" the same name. */
	if (memchr(r->p, 0, len))
		return BW_E_MSG_MALFORMED;
	s = malloc(len + 1);
	if (!s)
		return BW_E_NOMEM;
	memcpy(s, r->p, len);
	s[len] = '\0';
	r->p += len;
	*out = s;
	return 0;
}

static int rd_bin(struct rd *r, uint64_t min, uint64_t max, uint64_t *len)
{
	int rc;

	if ((rc = rd_hdr(r, K_BIN, len)) < 0 || (rc = check_len(r, *len, min, max, 1)) < 0)
		return rc;
	return 0;
}

/* Read one field's value into the message body. Whatever it allocates is
 * stored in the body at once, so proto_msg_free() releases it on failure. */
static int rd_field(struct rd *r, const struct proto_fdesc *f, void *body)
{
	void *v = (uint8_t *)body + f->off;
	uint64_t n, i, j;
	int rc;

	switch (f->type) {
	case PROTO_FT_UINT: {
		uint64_t u;

		if ((rc = rd_uint(r, &u)) < 0)
			return rc;
		if (u > f->max)
			return BW_E_MSG_TOO_LONG;
		if (u < f->min)
			return BW_E_MSG_TOO_SMALL;
		*(uint64_t *)v = u;
		return 0;
	}
	case PROTO_FT_BOOL:
		return rd_bool(r, v);
	case PROTO_FT_STR:
		return rd_str(r, f->min, f->max, v);
	case PROTO_FT_BIN: {
		struct proto_bin *b = v;
		uint8_t *data;

		if ((rc = rd_bin(r, f->min, f->max, &n)) < 0)
			return rc;
		if (n > 0) {
			if (!(data = malloc(n)))
				return BW_E_NOMEM;
			memcpy(data, r->p, n);
			b->data = data;
			b->len = n;
			r->p += n;
		}
		return 0;
	}
	case PROTO_FT_FIXBIN:
		if ((rc = rd_bin(r, f->min, f->max, &n)) < 0)
			return rc;
		memcpy(v, r->p, n); /* n == min == max */
		r->p += n;
		return 0;
	case PROTO_FT_UINT_ARRAY: {
		struct proto_uint_array *a = v;
		uint64_t *e;

		if ((rc = rd_hdr(r, K_ARR, &n)) < 0 || (rc = check_len(r, n, f->min, f->max, 1)) < 0)
			return rc;
		if (n == 0)
			return 0;
		if (!(e = calloc(n, sizeof(*e))))
			return BW_E_NOMEM;
		a->v = e;
		for (i = 0; i < n; i++, a->n++) {
			if ((rc = rd_uint(r, &e[i])) < 0)
				return rc;
			if (e[i] > f->elem)
				return BW_E_MSG_TOO_LONG;
		}
		return 0;
	}
	case PROTO_FT_STR_ARRAY: {
		struct proto_str_array *a = v;
		const char **e;

		if ((rc = rd_hdr(r, K_ARR, &n)) < 0 || (rc = check_len(r, n, f->min, f->max, 1)) < 0)
			return rc;
		if (n == 0)
			return 0;
		if (!(e = calloc(n, sizeof(*e))))
			return BW_E_NOMEM;
		a->v = e;
		for (i = 0; i < n; i++, a->n++)
			if ((rc = rd_str(r, 0, f->elem, &e[i])) < 0)
				return rc;
		return 0;
	}
	case PROTO_FT_STR_MAP: {
		struct proto_str_map *mp = v;
		struct proto_kv *kv;

		/* An entry takes at least 2 bytes: a 1-byte key and a value. */
		if ((rc = rd_hdr(r, K_MAP, &n)) < 0 || (rc = check_len(r, n, f->min, f->max, 2)) < 0)
			return rc;
		if (n == 0)
			return 0;
		if (!(kv = calloc(n, sizeof(*kv))))
			return BW_E_NOMEM;
		mp->kv = kv;
		for (i = 0; i < n; i++) {
			if ((rc = rd_str(r, 1, PROTO_MAP_KEY_MAX, &kv[i].key)) < 0)
				return rc;
			mp->n++;
			for (j = 0; j < i; j++)
				if (strcmp(kv[i].key, kv[j].key) == 0)
					return BW_E_MSG_FIELD_DUP;
			if ((rc = rd_str(r, 0, f->elem, &kv[i].value)) < 0)
				return rc;
		}
		return 0;
	}
	}
	return BW_E_MSG_FIELD_TYPE;
}

static const struct proto_fdesc *find_field(const struct proto_fdesc *f, size_t nf,
                                            const uint8_t *name, size_t len, size_t *idx)
{
	for (size_t i = 0; i < nf; i++) {
		if (f[i].name_len == len && memcmp(f[i].name, name, len) == 0) {
			*idx = i;
			return &f[i];
		}
	}
	return NULL;
}

int proto_decode(const uint8_t *p, size_t len, enum proto_side side, enum proto_state st,
                 struct proto_msg *m, struct proto_err *err)
{
	struct rd r = { p, len ? p + len : p }; /* no arithmetic on a NULL p */
	const struct proto_mdesc *d;
	const struct proto_fdesc *fields, *f;
	unsigned want_dir = side == PROTO_SIDE_SERVER ? PROTO_DIR_C2S : PROTO_DIR_S2C;
	uint64_t n, type, klen, seen = 0;
	size_t nf, i, idx;
	void *body;
	int rc;

	memset(m, 0, sizeof(*m));
	proto__fail(err, 0, PROTO_MSG_NONE, NULL, 0);

	/* [type, {fields}]: any fault before the type is known is MALFORMED. */
	if (len == 0 || rd_hdr(&r, K_ARR, &n) < 0 || n != 2 || rd_uint(&r, &type) < 0)
		return proto__fail(err, BW_E_MSG_MALFORMED, PROTO_MSG_NONE, NULL, 0);
	if (!(d = proto__mdesc(type)))
		return proto__fail(err, BW_E_MSG_UNKNOWN, PROTO_MSG_NONE, NULL, 0);
	/* Refuse a message that has no business here before reading any of it. */
	if (!(d->dir & want_dir) || (unsigned)st > PROTO_STATE_WORK || !(d->states & (1u << st)))
		return proto__fail(err, BW_E_MSG_STATE, d->type, NULL, 0);
	if (len > d->max_size)
		return proto__fail(err, BW_E_MSG_TOO_LONG, d->type, NULL, 0);
	if (rd_hdr(&r, K_MAP, &n) < 0 || n > rd_left(&r) / 2)
		return proto__fail(err, BW_E_MSG_MALFORMED, d->type, NULL, 0);

	m->type = d->type;
	body = proto__body(m);
	fields = d->fields(&nf);
	for (; n > 0; n--) {
		if (rd_hdr(&r, K_STR, &klen) < 0 || klen > rd_left(&r)) {
			rc = BW_E_MSG_MALFORMED; /* keys are field names, strings */
			goto fail;
		}
		f = find_field(fields, nf, r.p, klen, &idx);
		if (!f) {
			proto__fail(err, BW_E_MSG_FIELD_UNKNOWN, d->type, (const char *)r.p, klen);
			rc = BW_E_MSG_FIELD_UNKNOWN;
			goto fail_named;
		}
		r.p += klen;
		if (seen & (UINT64_C(1) << idx)) {
			rc = BW_E_MSG_FIELD_DUP;
			goto fail_field;
		}
		seen |= UINT64_C(1) << idx;
		if ((rc = rd_field(&r, f, body)) < 0)
			goto fail_field;
		if (!f->required)
			*(bool *)((uint8_t *)body + f->has_off) = true;
	}
	for (i = 0; i < nf; i++) {
		if (fields[i].required && !(seen & (UINT64_C(1) << i))) {
			f = &fields[i];
			rc = BW_E_MSG_MISSING;
			goto fail_field;
		}
	}
	if (r.p != r.end) {
		rc = BW_E_MSG_TRAILING;
		goto fail;
	}
	return 0;

fail_field:
	proto__fail(err, rc, d->type, f->name, f->name_len);
	goto fail_named;
fail:
	proto__fail(err, rc, d->type, NULL, 0);
fail_named:
	proto_msg_free(m);
	return rc;
}

static void free_field(const struct proto_fdesc *f, void *body)
{
	void *v = (uint8_t *)body + f->off;
	size_t i;

	switch (f->type) {
	case PROTO_FT_STR:
		free((void *)*(const char **)v);
		break;
	case PROTO_FT_BIN:
		free((void *)((struct proto_bin *)v)->data);
		break;
	case PROTO_FT_UINT_ARRAY:
		free((void *)((struct proto_uint_array *)v)->v);
		break;
	case PROTO_FT_STR_ARRAY: {
		struct proto_str_array *a = v;

		for (i = 0; i < a->n; i++)
			free((void *)a->v[i]);
		free((void *)a->v);
		break;
	}
	case PROTO_FT_STR_MAP: {
		struct proto_str_map *mp = v;

		for (i = 0; i < mp->n; i++) {
			free((void *)mp->kv[i].key);
			free((void *)mp->kv[i].value);
		}
		free((void *)mp->kv);
		break;
	}
	case PROTO_FT_UINT:
	case PROTO_FT_BOOL:
	case PROTO_FT_FIXBIN:
		break;
	}
}

void proto_msg_free(struct proto_msg *m)
{
	const struct proto_mdesc *d;
	const struct proto_fdesc *f;
	size_t nf, i;

	if (!m)
		return;
	if ((d = proto__mdesc((uint64_t)m->type)) != NULL) {
		f = d->fields(&nf);
		for (i = 0; i < nf; i++)
			free_field(&f[i], proto__body(m));
	}
	memset(m, 0, sizeof(*m));
}
