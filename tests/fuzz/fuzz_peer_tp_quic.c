/*
 * libFuzzer harness for the quic stream transport engine (peer/tp_quic*.c):
 * datagrams as the engine would get them from the session, after the
 * session's crypto (which only the genuine peer passes; this checks that
 * even a broken peer cannot crash or wedge the engine).
 *
 * Input: one mode byte, then records (2-byte big-endian length, bytes).
 * - mode bit 0 clear: each record goes to a fresh owner engine, the first
 *   one as the visitor's first packet: ngtcp2's header parser, Initial
 *   processing and the handshake messages (tp_quic_crypto.c).
 * - mode bit 0 set: a visitor and an owner first complete the handshake over
 *   a perfect link and open a stream; then each record goes to the owner as
 *   a packet from the visitor. Short-header records get the owner's
 *   connection id patched in, so that the fuzzer reaches the frames (STREAM,
 *   RESET_STREAM, MAX_DATA, ACK ...) rather than the routing.
 * Packet numbers are rewritten to rise in each packet number space, as an
 * honest peer's do whatever the network reorders: ngtcp2 0.12.1 aborts (an
 * assertion in its ACK encoder) when a lower-numbered packet acknowledges a
 * packet sent in reply to a higher-numbered one, which only a peer holding
 * the session keys can arrange (see the quic engine's notes for the lead).
 * Time advances 1 ms per record and every deadline runs; everything received
 * is read, and both engines are freed at the end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "peer/tp.h"

#define MTU 1350
#define MAXQ 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct end {
	const struct peer_tp_ops *ops;
	struct peer_tp *tp;
	int idx;
	bool up, dead;
};

static struct {
	uint8_t pkt[MAXQ][MTU];
	size_t len[MAXQ];
	int to[MAXQ];
	size_t n;
	uint8_t owner_cid[20];
	size_t owner_cidlen;
} q;

static void on_output(void *arg, const uint8_t *pkt, size_t len)
{
	struct end *e = arg;

	/* The owner's connection id: the source id of its long-header packets. */
	if (e->idx == 1 && !q.owner_cidlen && len > 7 && (pkt[0] & 0x80)) {
		size_t dlen = pkt[5];

		if (6 + dlen < len && pkt[6 + dlen] <= 20 && 7 + dlen + pkt[6 + dlen] <= len) {
			q.owner_cidlen = pkt[6 + dlen];
			memcpy(q.owner_cid, pkt + 7 + dlen, q.owner_cidlen);
		}
	}
	if (q.n < MAXQ && len <= MTU) {
		memcpy(q.pkt[q.n], pkt, len);
		q.len[q.n] = len;
		q.to[q.n++] = !e->idx;
	}
}

static void on_ready(void *arg, int rc)
{
	struct end *e = arg;

	e->up = rc == 0;
	e->dead = rc < 0;
}

static void on_readable(void *arg, uint64_t id)
{
	struct end *e = arg;
	uint8_t buf[4096];

	while (e->ops->stream_read(e->tp, id, buf, sizeof(buf)) > 0)
		;
}

static void on_opened(void *arg, uint64_t id)
{
	on_readable(arg, id);
}

static const struct peer_tp_cbs cbs = {
	.output = on_output,
	.ready = on_ready,
	.stream_opened = on_opened,
	.stream_readable = on_readable,
};

/* RFC 9000 16: the length of the variable-length integer at p, 0 if short. */
static size_t varint_len(const uint8_t *p, size_t n, uint64_t *v)
{
	size_t len = (size_t)1 << (p[0] >> 6);

	if (n < len)
		return 0;
	*v = p[0] & 0x3f;
	for (size_t i = 1; i < len; i++)
		*v = *v << 8 | p[i];
	return len;
}

/* Give each packet in the datagram the next number of its space (Initial,
 * Handshake, 1-RTT), in the length of number the fuzzer chose. */
static void renumber(uint8_t *pkt, size_t len, uint64_t next[3], size_t cidlen)
{
	size_t off = 0;

	while (off < len) {
		uint8_t *p = pkt + off;
		size_t n = len - off, i, pnlen = (p[0] & 3) + 1, used;
		uint64_t plen = 0, tok, pn;
		int space;

		if (!(p[0] & 0x80)) {             /* short header: the rest */
			i = 1 + cidlen;
			space = 2;
			plen = n > i ? n - i : 0;
		} else {
			unsigned type = (p[0] >> 4) & 3;

			if (n < 7 || (type != 0 && type != 2))
				return;
			space = type == 2;
			i = 6 + p[5];
			if (i >= n)
				return;
			i += 1 + p[i];
			if (type == 0) {
				if (i >= n || !(used = varint_len(p + i, n - i, &tok)) || tok > n)
					return;
				i += used + (size_t)tok;
			}
			if (i >= n || !(used = varint_len(p + i, n - i, &plen)))
				return;
			i += used;
		}
		if (i + pnlen > n || plen < pnlen || plen > n - i)
			return;
		pn = next[space]++;
		for (size_t k = 0; k < pnlen; k++)
			p[i + k] = (uint8_t)(pn >> (8 * (pnlen - 1 - k)));
		off += i + (size_t)plen;
	}
}

/* Deliver queued packets and due timers until nothing moves (bounded). */
static void pump(struct end *e, uint64_t now)
{
	for (int round = 0; round < 64; round++) {
		size_t n = q.n;
		uint8_t pkt[MTU];

		q.n = 0;
		for (size_t i = 0; i < n; i++) {
			struct end *to = &e[q.to[i]];

			memcpy(pkt, q.pkt[i], q.len[i]);
			if (to->tp && !to->dead)
				to->ops->input(to->tp, pkt, q.len[i], now);
		}
		for (int i = 0; i < 2; i++)
			if (e[i].tp && !e[i].dead && e[i].ops->deadline(e[i].tp) <= now)
				e[i].ops->timeout(e[i].tp, now);
		if (!q.n)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct peer_tp_ops *ops = peer_tp_find("quic");
	struct peer_tp_conf conf = {.mtu = MTU, .stream_window = 65536, .conn_window = 131072};
	struct end e[2] = {{.ops = ops, .idx = 0}, {.ops = ops, .idx = 1}};
	uint64_t now = 1000000, id, next_pn[3] = {0, 0, 1000};
	bool pair;
	int rc;

	if (!ops || size < 1)
		return 0;
	memset(&q, 0, sizeof(q));
	pair = data[0] & 1;
	data++, size--;
	conf.initiator = false;
	e[1].tp = ops->new(&conf, &cbs, &e[1], now, &rc);
	if (pair) {
		conf.initiator = true;
		e[0].tp = ops->new(&conf, &cbs, &e[0], now, &rc);
		for (int i = 0; i < 20 && !(e[0].up && e[1].up); i++)
			pump(e, now += 1000);
		if (e[0].up && ops->stream_open(e[0].tp, &id) == 0) {
			ops->stream_write(e[0].tp, id, (const uint8_t *)"hello", 5);
			pump(e, now += 1000);
		}
		q.n = 0; /* from here on, only the fuzzer speaks to the owner */
	}
	while (size >= 2 && e[1].tp && !e[1].dead) {
		size_t len = (size_t)data[0] << 8 | data[1];
		uint8_t pkt[MTU];

		data += 2, size -= 2;
		if (len > size)
			len = size;
		if (len > MTU)
			break;
		memcpy(pkt, data, len);
		data += len, size -= len;
		if (pair && len > 1 + q.owner_cidlen && !(pkt[0] & 0x80))
			memcpy(pkt + 1, q.owner_cid, q.owner_cidlen);
		renumber(pkt, len, next_pn, pair ? q.owner_cidlen : 8);
		ops->input(e[1].tp, pkt, len, now += 1000);
		q.n = 0; /* the owner's answers go nowhere */
		if (!e[1].dead && ops->deadline(e[1].tp) <= now)
			ops->timeout(e[1].tp, now);
		q.n = 0;
	}
	ops->free(e[0].tp);
	ops->free(e[1].tp);
	return 0;
}
