/*
 * The STUN server over loopback, in process: crafted requests go out of a
 * client socket, the server's event base is stepped, and the answer (or its
 * absence) is checked with a decoder written here, independent of libnice:
 * RFC 5389 and 3489 Binding, RFC 5780 CHANGE-REQUEST from every socket,
 * RESPONSE-PORT, 420 for unknown comprehension-required attributes and for
 * CHANGE-REQUEST on a one-address server, malformed and oversized datagrams
 * dropped, non-STUN datagrams handed to the hook. Then libnice's own clients
 * (stun_usage_bind_run, RFC 3489, in a child process; the RFC 5389 bind
 * usage in process) against it. 127.0.0.1 and 127.0.0.2 are both usable on
 * Linux loopback without root; nothing leaves loopback.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <event2/event.h>
#include <stun/stunagent.h>
#include <stun/usages/bind.h>

#include "common/err.h"
#include "nat/nat.h"

#define COOKIE 0x2112a442u
#define SOFTWARE "burrow-test"

struct fx {
	struct event_base *base;
	struct nat_stun_server *srv;
	struct sockaddr_storage a[4];   /* A1:P1 A1:P2 A2:P1 A2:P2 */
	int fd, fd2;                    /* client sockets on 127.0.0.1 */
	struct sockaddr_storage me, me2;
	unsigned others;                /* on_other calls */
	uint8_t other_buf[64];
	size_t other_len;
};

/* Message building (independent of the code under test) ----------------- */

struct msg {
	uint8_t b[2048];
	size_t len;
};

static void msg_init(struct msg *m, uint16_t type, bool cookie, uint8_t fill)
{
	memset(m, 0, sizeof(*m));
	m->b[0] = (uint8_t)(type >> 8);
	m->b[1] = (uint8_t)type;
	if (cookie) {
		m->b[4] = 0x21, m->b[5] = 0x12, m->b[6] = 0xa4, m->b[7] = 0x42;
	} else {
		m->b[4] = fill, m->b[5] = 0x55, m->b[6] = fill, m->b[7] = 0x77;
	}
	for (int i = 8; i < 20; i++)
		m->b[i] = (uint8_t)(fill + i);
	m->len = 20;
}

static void msg_attr(struct msg *m, uint16_t type, const void *val, uint16_t len)
{
	uint8_t *p = m->b + m->len;
	size_t padded = (len + 3u) & ~3u;

	p[0] = (uint8_t)(type >> 8), p[1] = (uint8_t)type;
	p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len;
	if (len)
		memcpy(p + 4, val, len);
	memset(p + 4 + len, 0, padded - len);
	m->len += 4 + padded;
	m->b[2] = (uint8_t)((m->len - 20) >> 8);
	m->b[3] = (uint8_t)(m->len - 20);
}

static void msg_attr32(struct msg *m, uint16_t type, uint32_t v)
{
	uint32_t be = htonl(v);

	msg_attr(m, type, &be, 4);
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static void msg_fingerprint(struct msg *m, bool corrupt)
{
	uint32_t fp;

	/* The length must already count the FINGERPRINT attribute. */
	m->b[2] = (uint8_t)((m->len + 8 - 20) >> 8);
	m->b[3] = (uint8_t)(m->len + 8 - 20);
	fp = crc32_ieee(m->b, m->len) ^ 0x5354554eu;
	msg_attr32(m, 0x8028, corrupt ? fp ^ 1 : fp);
}

/* Response decoding ------------------------------------------------------ */

static const uint8_t *find_attr(const uint8_t *b, size_t len, uint16_t type, uint16_t *alen)
{
	size_t off = 20;

	while (off + 4 <= len) {
		uint16_t t = (uint16_t)(b[off] << 8 | b[off + 1]);
		uint16_t l = (uint16_t)(b[off + 2] << 8 | b[off + 3]);

		assert_true(off + 4 + l <= len);
		if (t == type) {
			*alen = l;
			return b + off + 4;
		}
		off += 4 + ((l + 3u) & ~3u);
	}
	return NULL;
}

/* An address attribute, XOR-ed per RFC 5389 15.2 when xor. */
static bool get_addr(const uint8_t *b, size_t len, uint16_t type, bool xor,
		     struct sockaddr_storage *out)
{
	uint16_t alen;
	const uint8_t *v = find_attr(b, len, type, &alen);
	uint8_t mask[16];
	uint16_t port;

	memset(out, 0, sizeof(*out));
	if (!v)
		return false;
	memcpy(mask, b + 4, 16); /* cookie, then the transaction id */
	port = (uint16_t)(v[2] << 8 | v[3]);
	if (xor)
		port ^= 0x2112;
	if (v[1] == 1) {
		struct sockaddr_in *in = (struct sockaddr_in *)out;

		assert_int_equal(alen, 8);
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, v + 4, 4);
		if (xor)
			for (int i = 0; i < 4; i++)
				((uint8_t *)&in->sin_addr)[i] ^= mask[i];
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

		assert_int_equal(v[1], 2);
		assert_int_equal(alen, 20);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		memcpy(&in6->sin6_addr, v + 4, 16);
		if (xor)
			for (int i = 0; i < 16; i++)
				in6->sin6_addr.s6_addr[i] ^= mask[i];
	}
	return true;
}

static bool same(const struct sockaddr_storage *x, const struct sockaddr_storage *y)
{
	if (x->ss_family != y->ss_family)
		return false;
	if (x->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)x, *b = (const void *)y;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *a = (const void *)x, *b = (const void *)y;
	return a->sin6_port == b->sin6_port &&
	       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
}

static uint16_t rtype(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }

static int error_code(const uint8_t *b, size_t len)
{
	uint16_t alen;
	const uint8_t *v = find_attr(b, len, 0x0009, &alen);

	assert_non_null(v);
	return (v[2] & 7) * 100 + v[3];
}

/* Plumbing --------------------------------------------------------------- */

static int client_socket(const char *ip, struct sockaddr_storage *me)
{
	socklen_t len = sizeof(*me);
	int fd;

	assert_int_equal(nat_addr_parse(ip, 0, me), 0);
	fd = socket(me->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)me, me->ss_family == AF_INET ?
			      sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)me, &len), 0);
	return fd;
}

static socklen_t slen(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

/* Step the server until fd has a datagram; -1 after wait_ms. */
static ssize_t wait_recv(struct fx *f, int fd, uint8_t *buf, size_t cap,
			 struct sockaddr_storage *from, int wait_ms)
{
	for (int waited = 0; waited <= wait_ms; waited += 5) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		socklen_t fl = sizeof(*from);

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 5) == 1)
			return recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, &fl);
	}
	return -1;
}

static ssize_t exchange(struct fx *f, const struct msg *m, unsigned to, uint8_t *buf,
			size_t cap, struct sockaddr_storage *from)
{
	assert_int_equal(sendto(f->fd, m->b, m->len, 0, (const struct sockaddr *)&f->a[to],
				slen(&f->a[to])), (ssize_t)m->len);
	return wait_recv(f, f->fd, buf, cap, from, 1000);
}

static void on_other(const uint8_t *data, size_t len, const struct sockaddr *from, void *arg)
{
	struct fx *f = arg;

	f->others++;
	f->other_len = len < sizeof(f->other_buf) ? len : sizeof(f->other_buf);
	memcpy(f->other_buf, data, f->other_len);
}

static struct fx *fx_new(bool alt)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct nat_stun_server_conf conf = { .software = SOFTWARE, .on_other = on_other };
	int rc;

	assert_non_null(f);
	conf.other_arg = f;
	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(nat_addr_parse("127.0.0.1", 0, &conf.addr), 0);
	if (alt)
		assert_int_equal(nat_addr_parse("127.0.0.2", 0, &conf.alt_addr), 0);
	f->srv = nat_stun_server_new(f->base, &conf, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(f->srv);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(nat_stun_server_addr(f->srv, i, &f->a[i]),
				 alt || i == 0 ? 0 : BW_E_NOT_FOUND);
	f->fd = client_socket("127.0.0.1", &f->me);
	f->fd2 = client_socket("127.0.0.1", &f->me2);
	return f;
}

static int fx_setup_alt(void **state) { *state = fx_new(true); return 0; }
static int fx_setup_one(void **state) { *state = fx_new(false); return 0; }

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	close(f->fd);
	close(f->fd2);
	nat_stun_server_free(f->srv);
	event_base_free(f->base);
	free(f);
	return 0;
}

static void binding(struct msg *m, bool cookie, uint8_t fill)
{
	msg_init(m, 0x0001, cookie, fill);
}

/* Tests ------------------------------------------------------------------ */

static void test_nat_stun_handle_binding_rfc5389(void **state)
{
	struct fx *f = *state;
	struct msg m;
	uint8_t r[1500];
	struct sockaddr_storage from, got;
	uint16_t alen;
	const uint8_t *v;
	ssize_t n;
	struct nat_stun_stats st;

	binding(&m, true, 1);
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_true(n > 20);
	assert_int_equal(rtype(r), 0x0101);
	assert_memory_equal(r + 4, m.b + 4, 16);
	assert_int_equal((r[2] << 8 | r[3]) + 20, n);
	assert_true(same(&from, &f->a[0]));
	assert_true(get_addr(r, (size_t)n, 0x0020, true, &got));
	assert_true(same(&got, &f->me));
	assert_true(get_addr(r, (size_t)n, 0x0001, false, &got));
	assert_true(same(&got, &f->me));
	assert_true(get_addr(r, (size_t)n, 0x802b, false, &got));  /* RESPONSE-ORIGIN */
	assert_true(same(&got, &f->a[0]));
	assert_true(get_addr(r, (size_t)n, 0x802c, false, &got));  /* OTHER-ADDRESS */
	assert_true(same(&got, &f->a[3]));
	v = find_attr(r, (size_t)n, 0x8022, &alen);
	assert_non_null(v);
	assert_int_equal(alen, strlen(SOFTWARE));
	assert_memory_equal(v, SOFTWARE, alen);
	/* FINGERPRINT last and right. */
	v = find_attr(r, (size_t)n, 0x8028, &alen);
	assert_non_null(v);
	assert_int_equal(v + 4 - r, n);
	{
		uint32_t fp;
		memcpy(&fp, v, 4);
		assert_int_equal(ntohl(fp), crc32_ieee(r, (size_t)n - 8) ^ 0x5354554eu);
	}
	assert_null(find_attr(r, (size_t)n, 0x0004, &alen)); /* no RFC 3489 names */

	/* With a correct FINGERPRINT in the request, the same answer. */
	binding(&m, true, 2);
	msg_fingerprint(&m, false);
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_int_equal(rtype(r), 0x0101);
	nat_stun_server_stats(f->srv, &st);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.dropped, 0);
}

/* RFC 5780 table 1, from each of the four sockets with each flag set. */
static void test_nat_stun_handle_change_request_table(void **state)
{
	struct fx *f = *state;
	static const uint32_t flags[] = { 0, 2, 4, 6 };

	for (unsigned to = 0; to < 4; to++) {
		for (unsigned i = 0; i < 4; i++) {
			unsigned expect = to ^ (flags[i] & 4 ? 2u : 0) ^ (flags[i] & 2 ? 1u : 0);
			struct msg m;
			uint8_t r[1500];
			struct sockaddr_storage from, got;
			ssize_t n;

			binding(&m, true, (uint8_t)(to * 4 + i));
			msg_attr32(&m, 0x0003, flags[i]);
			n = exchange(f, &m, to, r, sizeof(r), &from);
			assert_true(n > 20);
			assert_int_equal(rtype(r), 0x0101);
			assert_true(same(&from, &f->a[expect]));
			assert_true(get_addr(r, (size_t)n, 0x802b, false, &got));
			assert_true(same(&got, &f->a[expect]));
			assert_true(get_addr(r, (size_t)n, 0x802c, false, &got));
			assert_true(same(&got, &f->a[to ^ 3]));
			assert_true(get_addr(r, (size_t)n, 0x0020, true, &got));
			assert_true(same(&got, &f->me));
		}
	}
}

static void expect_420(struct fx *f, const struct msg *m, uint16_t unknown)
{
	uint8_t r[1500];
	struct sockaddr_storage from;
	uint16_t alen;
	const uint8_t *v;
	ssize_t n = exchange(f, m, 0, r, sizeof(r), &from);

	assert_true(n > 20);
	assert_int_equal(rtype(r), 0x0111);
	assert_memory_equal(r + 4, m->b + 4, 16);
	assert_int_equal(error_code(r, (size_t)n), 420);
	v = find_attr(r, (size_t)n, 0x000a, &alen);
	assert_non_null(v);
	assert_true(alen >= 2);
	assert_int_equal(v[0] << 8 | v[1], unknown);
}

static void test_nat_stun_handle_one_address(void **state)
{
	struct fx *f = *state;
	struct msg m;
	uint8_t r[1500];
	struct sockaddr_storage from, got;
	uint16_t alen;
	ssize_t n;

	binding(&m, true, 3);
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_int_equal(rtype(r), 0x0101);
	assert_null(find_attr(r, (size_t)n, 0x802c, &alen));     /* no OTHER-ADDRESS */
	assert_true(get_addr(r, (size_t)n, 0x802b, false, &got));
	assert_true(same(&got, &f->a[0]));

	/* RFC 5780 section 6: any CHANGE-REQUEST, even without a flag, is 420. */
	for (uint32_t fl = 0; fl <= 6; fl += 2) {
		binding(&m, true, (uint8_t)(10 + fl));
		msg_attr32(&m, 0x0003, fl);
		expect_420(f, &m, 0x0003);
	}
	/* The same for an RFC 3489 client. */
	binding(&m, false, 20);
	msg_attr32(&m, 0x0003, 6);
	expect_420(f, &m, 0x0003);
}

static void test_nat_stun_handle_unknown_attributes(void **state)
{
	struct fx *f = *state;
	struct msg m;
	uint8_t r[1500], pad[8] = { 0 };
	struct sockaddr_storage from;

	binding(&m, true, 4);
	msg_attr32(&m, 0x7777, 1);
	expect_420(f, &m, 0x7777);

	binding(&m, true, 5);
	msg_attr(&m, 0x0026, pad, sizeof(pad));       /* PADDING: not supported */
	expect_420(f, &m, 0x0026);

	binding(&m, true, 6);
	msg_attr(&m, 0x0002, pad, 8);                 /* RESPONSE-ADDRESS: refused */
	expect_420(f, &m, 0x0002);

	/* Comprehension-optional: ignored. */
	binding(&m, true, 7);
	msg_attr32(&m, 0x8777, 1);
	assert_true(exchange(f, &m, 0, r, sizeof(r), &from) > 20);
	assert_int_equal(rtype(r), 0x0101);
}

static void test_nat_stun_handle_rfc3489(void **state)
{
	struct fx *f = *state;
	struct msg m;
	uint8_t r[1500];
	struct sockaddr_storage from, got;
	uint16_t alen;
	ssize_t n;
	size_t off;

	binding(&m, false, 8);
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_true(n > 20);
	assert_int_equal(rtype(r), 0x0101);
	assert_memory_equal(r + 4, m.b + 4, 16);            /* the whole 128-bit id */
	assert_true(get_addr(r, (size_t)n, 0x0001, false, &got));
	assert_true(same(&got, &f->me));
	assert_true(get_addr(r, (size_t)n, 0x0004, false, &got)); /* SOURCE-ADDRESS */
	assert_true(same(&got, &f->a[0]));
	assert_true(get_addr(r, (size_t)n, 0x0005, false, &got)); /* CHANGED-ADDRESS */
	assert_true(same(&got, &f->a[3]));
	/* Nothing an RFC 3489 client would refuse or misparse. */
	assert_null(find_attr(r, (size_t)n, 0x0020, &alen));
	assert_null(find_attr(r, (size_t)n, 0x8028, &alen));
	for (off = 20; off < (size_t)n;) {
		uint16_t l = (uint16_t)(r[off + 2] << 8 | r[off + 3]);
		assert_int_equal(l % 4, 0);
		off += 4 + l;
	}

	/* CHANGE-REQUEST from an RFC 3489 client. */
	binding(&m, false, 9);
	msg_attr32(&m, 0x0003, 6);
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_int_equal(rtype(r), 0x0101);
	assert_true(same(&from, &f->a[3]));
}

static void test_nat_stun_handle_wrong_cookie_is_rfc3489(void **state)
{
	struct fx *f = *state;
	struct msg m;
	uint8_t r[1500];
	struct sockaddr_storage from, got;
	uint16_t alen;
	ssize_t n;

	/* A cookie off by one bit is no cookie: the request is RFC 3489's. */
	binding(&m, true, 10);
	m.b[7] ^= 1;
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_int_equal(rtype(r), 0x0101);
	assert_true(get_addr(r, (size_t)n, 0x0001, false, &got));
	assert_true(same(&got, &f->me));
	assert_null(find_attr(r, (size_t)n, 0x0020, &alen));
}

/* Each bad datagram goes unanswered: the next good request's answer is the
 * first thing the client receives, and the drop counter moves. */
static void test_nat_stun_handle_malformed_dropped(void **state)
{
	struct fx *f = *state;
	struct nat_stun_stats before, after;
	static const struct {
		const char *name;
		int kind;
	} cases[] = {
		{ "10-byte header", 0 }, { "length field beyond datagram", 1 },
		{ "length not a multiple of 4", 2 }, { "attribute overruns message", 3 },
		{ "trailing bytes", 4 }, { "indication", 5 }, { "success response", 6 },
		{ "2000-byte datagram", 7 }, { "1400-byte STUN message", 8 },
		{ "bad FINGERPRINT", 9 }, { "empty datagram", 10 }, { "error response", 11 },
		{ "non-STUN on an alternate socket", 12 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct msg bad, good;
		uint8_t r[1500];
		struct sockaddr_storage from;
		unsigned to = 0;
		ssize_t n;

		binding(&bad, true, (uint8_t)(100 + i));
		switch (cases[i].kind) {
		case 0: bad.len = 10; break;
		case 1: bad.b[3] = 40; break;
		case 2: msg_attr32(&bad, 0x8777, 1); bad.b[3] = 6; bad.len = 26; break;
		case 3: msg_attr32(&bad, 0x8777, 1); bad.b[23] = 200; break;
		case 4: bad.len += 4; break;
		case 5: bad.b[1] = 0x11; break;
		case 6: bad.b[1] = 0x01, bad.b[0] = 0x01; break;
		case 7: bad.len = 2000; break;
		case 8: {
			uint8_t big[1380] = { 0 };
			msg_attr(&bad, 0x8777, big, sizeof(big));
			break;
		}
		case 9: msg_fingerprint(&bad, true); break;
		case 10: bad.len = 0; break;
		case 11: bad.b[0] = 0x01, bad.b[1] = 0x11; break;
		case 12: bad.b[0] = 0x80; to = 3; break;
		}
		nat_stun_server_stats(f->srv, &before);
		assert_int_equal(sendto(f->fd, bad.b, bad.len, 0,
					(const struct sockaddr *)&f->a[to], slen(&f->a[to])),
				 (ssize_t)bad.len);
		binding(&good, true, (uint8_t)(200 + i));
		n = exchange(f, &good, to, r, sizeof(r), &from);
		print_message("%s: answered %zd bytes\n", cases[i].name, n);
		assert_true(n > 20);
		assert_memory_equal(r + 4, good.b + 4, 16);
		nat_stun_server_stats(f->srv, &after);
		assert_int_equal(after.dropped, before.dropped + 1);
		assert_int_equal(after.requests, before.requests + 1);
	}
	assert_int_equal(f->others, 0);
}

static void test_nat_stun_handle_bad_request(void **state)
{
	struct fx *f = *state;
	struct msg m;
	uint8_t r[1500], three[3] = { 0 };
	struct sockaddr_storage from;
	ssize_t n;

	msg_init(&m, 0x0003, true, 30);                  /* an Allocate request */
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_int_equal(rtype(r), 0x0113);
	assert_int_equal(error_code(r, (size_t)n), 400);

	binding(&m, true, 31);
	msg_attr(&m, 0x0003, three, 3);                  /* CHANGE-REQUEST of 3 bytes */
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_int_equal(rtype(r), 0x0111);
	assert_int_equal(error_code(r, (size_t)n), 400);

	binding(&m, true, 32);
	msg_attr32(&m, 0x0027, 0);                       /* RESPONSE-PORT 0 */
	n = exchange(f, &m, 0, r, sizeof(r), &from);
	assert_int_equal(error_code(r, (size_t)n), 400);
}

static void test_nat_stun_handle_response_port(void **state)
{
	struct fx *f = *state;
	struct msg m;
	uint8_t r[1500];
	struct sockaddr_storage from, got;
	uint16_t port = ntohs(((struct sockaddr_in *)&f->me2)->sin_port);
	ssize_t n;

	binding(&m, true, 40);
	msg_attr32(&m, 0x0027, (uint32_t)port << 16);
	assert_int_equal(sendto(f->fd, m.b, m.len, 0, (const struct sockaddr *)&f->a[0],
				slen(&f->a[0])), (ssize_t)m.len);
	n = wait_recv(f, f->fd2, r, sizeof(r), &from, 1000);
	assert_true(n > 20);
	assert_memory_equal(r + 4, m.b + 4, 16);
	/* The mapped address is still where the request came from. */
	assert_true(get_addr(r, (size_t)n, 0x0020, true, &got));
	assert_true(same(&got, &f->me));
}

static void test_nat_stun_server_other_hook(void **state)
{
	struct fx *f = *state;
	const char hello[] = "\x80rendezvous";
	struct sockaddr_storage from;
	uint8_t r[64];
	struct nat_stun_stats st;

	assert_int_equal(sendto(f->fd, hello, sizeof(hello) - 1, 0,
				(const struct sockaddr *)&f->a[0], slen(&f->a[0])),
			 (ssize_t)sizeof(hello) - 1);
	for (int i = 0; i < 200 && f->others == 0; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(2000);
	}
	assert_int_equal(f->others, 1);
	assert_int_equal(f->other_len, sizeof(hello) - 1);
	assert_memory_equal(f->other_buf, hello, f->other_len);
	nat_stun_server_stats(f->srv, &st);
	assert_int_equal(st.other, 1);

	/* And the rendezvous can answer from the same socket. */
	assert_int_equal(nat_stun_server_sendto(f->srv, "pong", 4,
						(const struct sockaddr *)&f->me), 0);
	assert_int_equal(wait_recv(f, f->fd, r, sizeof(r), &from, 1000), 4);
	assert_true(same(&from, &f->a[0]));
}

/* libnice's own RFC 3489 client (blocking), from a child process. */
static void test_nat_stun_server_libnice_bind_run(void **state)
{
	struct fx *f = *state;
	int pipefd[2];
	pid_t pid;
	struct sockaddr_storage got;
	int status;
	ssize_t n = -1;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_storage mapped;
		socklen_t mlen = sizeof(mapped);
		StunUsageBindReturn rc = stun_usage_bind_run(
			(const struct sockaddr *)&f->a[0], slen(&f->a[0]), &mapped, &mlen);

		if (rc == STUN_USAGE_BIND_RETURN_SUCCESS &&
		    write(pipefd[1], &mapped, sizeof(mapped)) != (ssize_t)sizeof(mapped))
			_exit(2);
		_exit(rc == STUN_USAGE_BIND_RETURN_SUCCESS ? 0 : 1);
	}
	close(pipefd[1]);
	for (int i = 0; i < 1000; i++) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };

		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 5) == 1) {
			n = read(pipefd[0], &got, sizeof(got));
			break;
		}
	}
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(n, (ssize_t)sizeof(got));
	assert_int_equal(got.ss_family, AF_INET);
	assert_int_equal(((struct sockaddr_in *)&got)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
}

/* libnice's RFC 5389 bind usage (FINGERPRINT required on responses). */
static void test_nat_stun_server_libnice_bind_usage(void **state)
{
	struct fx *f = *state;
	static const uint16_t known[] = { STUN_ATTRIBUTE_MAPPED_ADDRESS,
					  STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, 0 };
	StunAgent agent;
	StunMessage req, resp;
	uint8_t buf[512], r[1500];
	struct sockaddr_storage from, mapped, alt;
	socklen_t mlen = sizeof(mapped), alen = sizeof(alt);
	size_t len;
	ssize_t n;

	stun_agent_init(&agent, known, STUN_COMPATIBILITY_RFC5389,
			STUN_AGENT_USAGE_USE_FINGERPRINT | STUN_AGENT_USAGE_ADD_SOFTWARE);
	len = stun_usage_bind_create(&agent, &req, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(sendto(f->fd, buf, len, 0, (const struct sockaddr *)&f->a[0],
				slen(&f->a[0])), (ssize_t)len);
	n = wait_recv(f, f->fd, r, sizeof(r), &from, 1000);
	assert_true(n > 0);
	assert_int_equal(stun_agent_validate(&agent, &resp, r, (size_t)n, NULL, NULL),
			 STUN_VALIDATION_SUCCESS);
	assert_int_equal(stun_usage_bind_process(&resp, (struct sockaddr *)&mapped, &mlen,
						 (struct sockaddr *)&alt, &alen),
			 STUN_USAGE_BIND_RETURN_SUCCESS);
	assert_true(same(&mapped, &f->me));
}

static void test_nat_stun_server_new_bad_conf(void **state)
{
	struct event_base *base = event_base_new();
	struct nat_stun_server_conf c;
	struct nat_stun_server *srv, *srv2;
	struct sockaddr_storage a;
	int rc;

	/* An alternate address needs a specific primary... */
	memset(&c, 0, sizeof(c));
	nat_addr_parse("0.0.0.0", 0, &c.addr);
	nat_addr_parse("127.0.0.2", 0, &c.alt_addr);
	assert_null(nat_stun_server_new(base, &c, &rc));
	assert_int_equal(rc, BW_E_NAT_ALT_CONF);
	/* ...of the same family, and a different one. */
	nat_addr_parse("::1", 0, &c.addr);
	assert_null(nat_stun_server_new(base, &c, &rc));
	assert_int_equal(rc, BW_E_NAT_ALT_CONF);
	nat_addr_parse("127.0.0.2", 0, &c.addr);
	assert_null(nat_stun_server_new(base, &c, &rc));
	assert_int_equal(rc, BW_E_NAT_ALT_CONF);
	/* An alternate port alone means nothing (RFC 5780 needs two IPs). */
	memset(&c, 0, sizeof(c));
	nat_addr_parse("127.0.0.1", 0, &c.addr);
	c.alt_port = 3479;
	assert_null(nat_stun_server_new(base, &c, &rc));
	assert_int_equal(rc, BW_E_NAT_ALT_CONF);
	/* No address at all. */
	memset(&c, 0, sizeof(c));
	assert_null(nat_stun_server_new(base, &c, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	/* A port already taken. */
	nat_addr_parse("127.0.0.1", 0, &c.addr);
	srv = nat_stun_server_new(base, &c, &rc);
	assert_non_null(srv);
	assert_int_equal(nat_stun_server_addr(srv, 0, &a), 0);
	c.addr = a;
	srv2 = nat_stun_server_new(base, &c, &rc);
	assert_null(srv2);
	assert_int_equal(rc, -EADDRINUSE);
	nat_stun_server_free(srv);
	nat_stun_server_free(NULL);
	event_base_free(base);
}

/* A wildcard bind answers from the address each request was sent to. */
static void test_nat_stun_server_wildcard_origin(void **state)
{
	struct fx f;
	struct nat_stun_server_conf c = { 0 };
	int rc;

	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	nat_addr_parse("0.0.0.0", 0, &c.addr);
	f.srv = nat_stun_server_new(f.base, &c, &rc);
	assert_non_null(f.srv);
	f.fd = client_socket("127.0.0.1", &f.me);
	nat_stun_server_addr(f.srv, 0, &f.a[0]);
	for (int i = 0; i < 2; i++) {
		const char *ip = i ? "127.0.0.2" : "127.0.0.1";
		struct msg m;
		uint8_t r[1500];
		struct sockaddr_storage from, got, want;
		ssize_t n;

		nat_addr_parse(ip, ntohs(((struct sockaddr_in *)&f.a[0])->sin_port), &want);
		f.a[1] = want;
		binding(&m, true, (uint8_t)(50 + i));
		n = exchange(&f, &m, 1, r, sizeof(r), &from);
		assert_true(n > 20);
		assert_true(same(&from, &want));
		assert_true(get_addr(r, (size_t)n, 0x802b, false, &got));
		assert_true(same(&got, &want));
	}
	close(f.fd);
	nat_stun_server_free(f.srv);
	event_base_free(f.base);
}

static void test_nat_stun_server_ipv6(void **state)
{
	struct fx f;
	struct nat_stun_server_conf c = { 0 };
	struct msg m;
	uint8_t r[1500];
	struct sockaddr_storage from, got;
	ssize_t n;
	int rc;

	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	nat_addr_parse("::1", 0, &c.addr);
	f.srv = nat_stun_server_new(f.base, &c, &rc);
	if (!f.srv) {
		event_base_free(f.base);
		skip();
	}
	f.fd = client_socket("::1", &f.me);
	nat_stun_server_addr(f.srv, 0, &f.a[0]);
	binding(&m, true, 60);
	n = exchange(&f, &m, 0, r, sizeof(r), &from);
	assert_true(n > 20);
	assert_true(get_addr(r, (size_t)n, 0x0020, true, &got));
	assert_true(same(&got, &f.me));
	close(f.fd);
	nat_stun_server_free(f.srv);
	event_base_free(f.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_binding_rfc5389,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_change_request_table,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_one_address,
						fx_setup_one, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_unknown_attributes,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_rfc3489,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_wrong_cookie_is_rfc3489,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_malformed_dropped,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_bad_request,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_handle_response_port,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_server_other_hook,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_server_libnice_bind_run,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test_setup_teardown(test_nat_stun_server_libnice_bind_usage,
						fx_setup_alt, fx_teardown),
		cmocka_unit_test(test_nat_stun_server_new_bad_conf),
		cmocka_unit_test(test_nat_stun_server_wildcard_origin),
		cmocka_unit_test(test_nat_stun_server_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
