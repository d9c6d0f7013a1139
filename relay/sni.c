/*
 * The server name of a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3), read
 * from the first bytes of an https connection so the relay can route it
 * without terminating TLS; the bytes are forwarded unchanged afterwards.
 *
 * The ClientHello may be fragmented over several handshake records (RFC 8446
 * 5.1): records are walked first, and only a fragmented hello is copied into
 * one buffer (at most RELAY_SNI_INPUT_MAX bytes) before it is parsed. Every
 * length is checked against the bytes that hold it, and the whole hello must
 * be consumed exactly by its fields.
 */
#include "relay/vhost.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define TLS_CT_HANDSHAKE 22
#define TLS_RECORD_MAX 16384      /* TLSPlaintext.length limit, 2^14 */
#define TLS_HS_CLIENT_HELLO 1
#define TLS_EXT_SERVER_NAME 0
#define TLS_SNI_HOST_NAME 0
#define SNI_RECORDS_MAX 32        /* fragments of one hello; real ones use 1-3 */

/* A bounds-checked cursor over one length-delimited field. */
struct rd {
	const uint8_t *p;
	size_t n, pos;
};

static bool rd_u8(struct rd *r, size_t *v)
{
	if (r->n - r->pos < 1)
		return false;
	*v = r->p[r->pos++];
	return true;
}

static bool rd_u16(struct rd *r, size_t *v)
{
	if (r->n - r->pos < 2)
		return false;
	*v = (size_t)r->p[r->pos] << 8 | r->p[r->pos + 1];
	r->pos += 2;
	return true;
}

/* A sub-cursor over the next len bytes. */
static bool rd_sub(struct rd *r, size_t len, struct rd *sub)
{
	if (r->n - r->pos < len)
		return false;
	sub->p = r->p + r->pos;
	sub->n = len;
	sub->pos = 0;
	r->pos += len;
	return true;
}

static bool rd_skip(struct rd *r, size_t len)
{
	struct rd unused;

	return rd_sub(r, len, &unused);
}

/* RFC 6066: an ASCII DNS name without trailing dot. */
static int name_copy(const struct rd *h, char *name)
{
	if (h->n == 0 || h->n > RELAY_SNI_NAME_MAX || h->p[h->n - 1] == '.' || h->p[0] == '.')
		return BW_E_SNI_MALFORMED;
	for (size_t i = 0; i < h->n; i++) {
		unsigned char c = h->p[i];

		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return BW_E_SNI_MALFORMED;
		name[i] = (char)tolower(c);
	}
	name[h->n] = '\0';
	return 0;
}

/* ServerNameList: at most one host_name; other name types are skipped. */
static int server_name_ext(struct rd *ext, char *name)
{
	struct rd list;
	size_t list_len;
	bool found = false;

	if (!rd_u16(ext, &list_len) || list_len == 0 || !rd_sub(ext, list_len, &list) ||
	    ext->pos != ext->n)
		return BW_E_SNI_MALFORMED;
	while (list.pos < list.n) {
		struct rd h;
		size_t type, len;
		int rc;

		if (!rd_u8(&list, &type) || !rd_u16(&list, &len) || !rd_sub(&list, len, &h))
			return BW_E_SNI_MALFORMED;
		if (type != TLS_SNI_HOST_NAME)
			continue;
		if (found)
			return BW_E_SNI_MALFORMED;
		rc = name_copy(&h, name);
		if (rc < 0)
			return rc;
		found = true;
	}
	return found ? 0 : BW_E_SNI_MISSING;
}

/* The ClientHello body (after the 4-byte handshake header). */
static int client_hello(const uint8_t *p, size_t n, char *name)
{
	struct rd r = {p, n, 0}, exts;
	size_t version, sid_len, cs_len, cm_len, ext_len;
	bool found = false;
	int rc = BW_E_SNI_MISSING;

	if (!rd_u16(&r, &version) || version >> 8 != 3 || !rd_skip(&r, 32) ||
	    !rd_u8(&r, &sid_len) || sid_len > 32 || !rd_skip(&r, sid_len) ||
	    !rd_u16(&r, &cs_len) || cs_len < 2 || cs_len % 2 != 0 || !rd_skip(&r, cs_len) ||
	    !rd_u8(&r, &cm_len) || cm_len < 1 || !rd_skip(&r, cm_len))
		return BW_E_SNI_MALFORMED;
	if (r.pos == r.n)
		return BW_E_SNI_MISSING;   /* no extensions at all (TLS 1.0 style) */
	if (!rd_u16(&r, &ext_len) || !rd_sub(&r, ext_len, &exts) || r.pos != r.n)
		return BW_E_SNI_MALFORMED;
	while (exts.pos < exts.n) {
		struct rd ext;
		size_t type, len;

		if (!rd_u16(&exts, &type) || !rd_u16(&exts, &len) || !rd_sub(&exts, len, &ext))
			return BW_E_SNI_MALFORMED;
		if (type != TLS_EXT_SERVER_NAME)
			continue;
		/* RFC 8446 4.2: one extension of a type at most. */
		if (found)
			return BW_E_SNI_MALFORMED;
		found = true;
		rc = server_name_ext(&ext, name);
		if (rc == BW_E_SNI_MALFORMED)
			return rc;
	}
	return rc;
}

/* Check the record header at p (avail bytes of it present). */
static int record_header(const uint8_t *p, size_t avail, bool first, size_t *rlen)
{
	int bad = first ? BW_E_SNI_NOT_TLS : BW_E_SNI_MALFORMED;

	if (avail >= 1 && p[0] != TLS_CT_HANDSHAKE)
		return bad;
	if (avail >= 2 && p[1] != 3)
		return bad;
	if (avail < 5)
		return BW_E_AGAIN;
	*rlen = (size_t)p[3] << 8 | p[4];
	if (*rlen == 0 || *rlen > TLS_RECORD_MAX)
		return BW_E_SNI_MALFORMED;
	return 0;
}

int relay_sni_parse(const uint8_t *p, size_t len, char *name)
{
	uint8_t hh[4];
	size_t off = 0, total = 0, need = 0, hh_n = 0, nrec = 0, rlen = 0;
	uint8_t *buf;
	int rc;

	name[0] = '\0';
	/* Walk the records until they hold the whole handshake message. */
	while (need == 0 || total < need) {
		size_t avail = len - off, have;

		if (off >= RELAY_SNI_INPUT_MAX)
			return BW_E_TOO_BIG;
		if (avail == 0)
			return BW_E_AGAIN;
		rc = record_header(p + off, avail, off == 0, &rlen);
		if (rc < 0)
			return rc;
		if (++nrec > SNI_RECORDS_MAX)
			return BW_E_SNI_MALFORMED;
		if (off + 5 + rlen > RELAY_SNI_INPUT_MAX)
			return BW_E_TOO_BIG;
		have = avail - 5 < rlen ? avail - 5 : rlen;
		for (size_t i = 0; i < have && hh_n < 4; i++)
			hh[hh_n++] = p[off + 5 + i];
		if (hh_n >= 1 && hh[0] != TLS_HS_CLIENT_HELLO)
			return BW_E_SNI_MALFORMED;
		if (hh_n == 4 && need == 0) {
			need = 4 + ((size_t)hh[1] << 16 | (size_t)hh[2] << 8 | hh[3]);
			if (need == 4)
				return BW_E_SNI_MALFORMED;
			if (need > RELAY_SNI_INPUT_MAX)
				return BW_E_TOO_BIG;
		}
		/* Nothing may follow the hello in its records. */
		if (need != 0 && total + rlen > need)
			return BW_E_SNI_MALFORMED;
		if (have < rlen)
			return BW_E_AGAIN;
		total += rlen;
		off += 5 + rlen;
	}
	if (nrec == 1) {
		rc = client_hello(p + 9, need - 4, name);
	} else {
		buf = malloc(need);
		if (!buf)
			return BW_E_NOMEM;
		total = 0;
		for (off = 0; total < need; off += 5 + rlen) {
			rlen = (size_t)p[off + 3] << 8 | p[off + 4];
			memcpy(buf + total, p + off + 5, rlen);
			total += rlen;
		}
		rc = client_hello(buf + 4, need - 4, name);
		free(buf);
	}
	if (rc < 0)
		name[0] = '\0';
	return rc;
}
