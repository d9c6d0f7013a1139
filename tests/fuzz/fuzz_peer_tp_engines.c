/*
 * libFuzzer harness for the sctp and pseudotcp stream transport engines
 * (peer/tp_sctp.c, peer/tp_pseudotcp.c): datagrams as an engine gets them
 * from the session, after the session's crypto (only the genuine peer
 * passes it; this checks that even a broken peer cannot crash or wedge the
 * engine or the library under it).
 *
 * Input: one mode byte, then records (2-byte big-endian length, bytes).
 * - mode bit 1: 0 = pseudotcp, 1 = sctp.
 * - mode bit 0 clear: the records go to a fresh owner (responder) engine:
 *   the multiplexing header, HELLO, PseudoTcp's or SCTP's first packets.
 * - mode bit 0 set: a visitor and an owner first come up over a perfect
 *   link, open a stream and move a few bytes both ways; then each record
 *   goes to the owner as a packet from the visitor. For sctp the owner's
 *   verification tag (what the visitor's packets carry) is patched into
 *   records of 12 bytes or more, so the fuzzer reaches the chunks (DATA with
 *   this engine's FIN, RST and control messages) rather than the lookup.
 * Time advances 10 ms per record and every deadline runs; everything
 * received is read, and both engines are freed at the end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "peer/tp.h"

#define MTU 1350
#define MAXQ 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct end {
	const struct peer_tp_ops *ops;
	struct peer_tp *tp;
	int idx;
	bool up;
};

static struct {
	uint8_t pkt[MAXQ][MTU];
	size_t len[MAXQ];
	int to[MAXQ];
	size_t n;
	bool sctp;
	uint8_t vtag[4];
	bool have_vtag;
} q;

static void on_output(void *arg, const uint8_t *pkt, size_t len)
{
	struct end *e = arg;

	/* SCTP: the visitor's packets carry the owner's verification tag. */
	if (q.sctp && e->idx == 0 && len >= 12) {
		memcpy(q.vtag, pkt + 4, 4);
		q.have_vtag = true;
	}
	if (q.n < MAXQ && len <= MTU) {
		memcpy(q.pkt[q.n], pkt, len);
		q.len[q.n] = len;
		q.to[q.n] = !e->idx;
		q.n++;
	}
}

static void on_ready(void *arg, int rc)
{
	((struct end *)arg)->up = rc == 0;
}

static void drain(struct end *e, uint64_t id)
{
	uint8_t buf[4096];

	for (int i = 0; i < 64; i++)
		if (e->ops->stream_read(e->tp, id, buf, sizeof(buf)) <= 0)
			break;
}

static void on_opened(void *arg, uint64_t id)
{
	struct end *e = arg;
	static const uint8_t hello[] = "reply";

	(void)e->ops->stream_write(e->tp, id, hello, sizeof(hello));
}

static void on_readable(void *arg, uint64_t id)
{
	drain(arg, id);
}

static void on_writable(void *arg, uint64_t id)
{
}

static void on_closed(void *arg, uint64_t id, int rc)
{
}

static const struct peer_tp_cbs cbs = {
	.output = on_output,
	.ready = on_ready,
	.stream_opened = on_opened,
	.stream_readable = on_readable,
	.stream_writable = on_writable,
	.stream_closed = on_closed,
};

/* Delivers what is queued (a bounded number of rounds) and runs timers. */
static void pump(struct end *ends, uint64_t *now, int rounds)
{
	for (int r = 0; r < rounds; r++) {
		size_t n = q.n;
		static uint8_t pkt[MAXQ][MTU];
		static size_t len[MAXQ];
		static int to[MAXQ];

		memcpy(pkt, q.pkt, sizeof(pkt[0]) * n);
		memcpy(len, q.len, sizeof(len[0]) * n);
		memcpy(to, q.to, sizeof(to[0]) * n);
		q.n = 0;
		*now += 10000;
		for (size_t i = 0; i < n; i++)
			if (ends[to[i]].tp)
				ends[to[i]].ops->input(ends[to[i]].tp, pkt[i], len[i], *now);
		for (int k = 0; k < 2; k++)
			if (ends[k].tp && ends[k].ops->deadline(ends[k].tp) <= *now)
				ends[k].ops->timeout(ends[k].tp, *now);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct end ends[2] = {{.idx = 0}, {.idx = 1}};
	uint64_t now = 1000000, id;
	size_t off = 1;
	bool paired;
	int rc;

	if (size < 1)
		return 0;
	memset(&q, 0, sizeof(q));
	q.sctp = data[0] & 2;
	paired = data[0] & 1;
	for (int i = 0; i < 2; i++) {
		struct peer_tp_conf conf = {.initiator = i == 0, .mtu = MTU,
					    .idle_timeout_us = 5000000};
		ends[i].ops = peer_tp_find(q.sctp ? "sctp" : "pseudotcp");
		if (!ends[i].ops)
			return 0;
		if (i == 0 && !paired)
			continue;
		ends[i].tp = ends[i].ops->new(&conf, &cbs, &ends[i], now, &rc);
		if (!ends[i].tp)
			goto out;
	}
	if (paired) {
		static const uint8_t msg[] = "hello owner";
		pump(ends, &now, 40);
		if (ends[0].up && ends[0].ops->stream_open(ends[0].tp, &id) == 0) {
			(void)ends[0].ops->stream_write(ends[0].tp, id, msg, sizeof(msg));
			pump(ends, &now, 20);
		}
		q.n = 0;
	}
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		uint8_t pkt[MTU];
		off += 2;
		if (len > size - off)
			len = size - off;
		if (len > MTU)
			len = MTU;
		memcpy(pkt, data + off, len);
		off += len;
		if (q.sctp && q.have_vtag && len >= 12)
			memcpy(pkt + 4, q.vtag, 4);
		now += 10000;
		ends[1].ops->input(ends[1].tp, pkt, len, now);
		/* The owner's answers go nowhere; its timers run. */
		q.n = 0;
		if (ends[1].ops->deadline(ends[1].tp) <= now)
			ends[1].ops->timeout(ends[1].tp, now);
		q.n = 0;
	}
out:
	for (int i = 0; i < 2; i++)
		if (ends[i].ops)
			ends[i].ops->free(ends[i].tp);
	return 0;
}
