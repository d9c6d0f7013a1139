/*
 * Fuzz what crypto/ reads from a peer: msg1 at a responder, msg2 at an
 * initiator, and sequences of stream records and datagrams at a session.
 *
 * Everything is deterministic (fixed PSK and ephemerals, test hooks), so the
 * seed corpus can hold authentic messages and records that get past the tags;
 * the fuzzer then mutates around them. Input: one selector byte, then
 *   0: msg1        1: msg2
 *   2: stream records   3: datagrams, each as a 16-bit big-endian length
 *                          and its bytes, opened in order.
 * State is copied from templates built once, so each input starts afresh.
 *
 * The seed corpus (tests/fuzz/corpus/crypto_msg/) is written by this file's
 * own generator: cc -DBW_FUZZ_CORPUS_GEN -I. tests/fuzz/fuzz_crypto_msg.c
 * build/crypto/libbw_crypto.a build/common/libbw_common.a -lsodium, then run
 * it with the corpus directory as its argument.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bw_crypto_hs *tpl_r0, *tpl_i1;           /* fresh responder; initiator after msg1 */
static struct bw_crypto_session *tpl_stream, *tpl_dgram; /* responder sessions */
/* The initiator's side, for the corpus generator at the end. */
static struct bw_crypto_session *gen_stream, *gen_dgram;
static uint8_t gen_msg1[64], gen_msg2[64];
static size_t gen_len1, gen_len2;

static void *dup(const void *p, size_t n)
{
	size_t size = (n + 63) / 64 * 64;
	void *q = aligned_alloc(64, size);

	if (!q)
		abort();
	memcpy(q, p, n);
	return q;
}

static void setup_once(void)
{
	static int done;
	uint8_t psk[32], ei[32], er[32], pl[16];
	struct bw_crypto_hs *i, *r, *i2, *r2;
	size_t n;
	int rc;

	if (done)
		return;
	done = 1;
	if (bw_crypto_init() < 0)
		abort();
	for (int k = 0; k < 32; k++) {
		ei[k] = (uint8_t)(k + 1);
		er[k] = (uint8_t)(k + 33);
	}
	bw_crypto_psk_from_token("fuzz", 4, psk);
	tpl_r0 = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, psk, (const uint8_t *)"fuzz", 4, &rc);
	i = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, psk, (const uint8_t *)"fuzz", 4, &rc);
	if (!tpl_r0 || !i)
		abort();
	bw_crypto__hs_set_ephemeral(i, ei, NULL);
	rc = bw_crypto_hs_write_msg1(i, (const uint8_t *)"hello", 5, gen_msg1, sizeof(gen_msg1),
				     &gen_len1);
	tpl_i1 = dup(i, sizeof(*i));
	r = dup(tpl_r0, sizeof(*r));
	bw_crypto__hs_set_ephemeral(r, er, NULL);
	rc |= bw_crypto_hs_read_msg1(r, gen_msg1, gen_len1, pl, sizeof(pl), &n);
	rc |= bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, (const uint8_t *)"welcome", 7,
				      gen_msg2, sizeof(gen_msg2), &gen_len2);
	rc |= bw_crypto_hs_read_msg2(i, gen_msg2, gen_len2, pl, sizeof(pl), &n);
	/* Split a copy of each READY state a second time, for datagrams with
	 * the other ChaCha suite (white box), so both AEAD paths are reached
	 * whatever the CPU. */
	i2 = dup(i, sizeof(*i));
	r2 = dup(r, sizeof(*r));
	i2->suite = r2->suite = BW_CRYPTO_XCHACHA20POLY1305;
	rc |= bw_crypto_hs_split(i, BW_CRYPTO_STREAM, &gen_stream);
	rc |= bw_crypto_hs_split(r, BW_CRYPTO_STREAM, &tpl_stream);
	rc |= bw_crypto_hs_split(i2, BW_CRYPTO_DGRAM, &gen_dgram);
	rc |= bw_crypto_hs_split(r2, BW_CRYPTO_DGRAM, &tpl_dgram);
	if (rc != 0)
		abort();
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
	bw_crypto_hs_free(i2);
	bw_crypto_hs_free(r2);
}

static void fuzz_hs(const struct bw_crypto_hs *tpl, const uint8_t *data, size_t size)
{
	static uint8_t pl[BW_CRYPTO_HS_PAYLOAD_MAX], out[BW_CRYPTO_HS_PAYLOAD_MAX + 64];
	struct bw_crypto_hs *hs = dup(tpl, sizeof(*tpl));
	struct bw_crypto_session *s = NULL;
	size_t n, len;
	int rc;

	if (hs->role == BW_CRYPTO_RESPONDER) {
		rc = bw_crypto_hs_read_msg1(hs, data, size, pl, sizeof(pl), &n);
		if (rc == 0)
			rc = bw_crypto_hs_write_msg2(hs, BW_CRYPTO_CHACHA20POLY1305, pl, n, out,
						     sizeof(out), &len);
	} else {
		rc = bw_crypto_hs_read_msg2(hs, data, size, pl, sizeof(pl), &n);
	}
	if (rc == 0 && bw_crypto_hs_split(hs, BW_CRYPTO_STREAM, &s) != 0)
		abort();
	bw_crypto_session_free(s);
	bw_crypto_hs_free(hs);
}

static void fuzz_records(const struct bw_crypto_session *tpl, const uint8_t *data, size_t size)
{
	static uint8_t out[BW_CRYPTO_RECORD_MAX + 64];
	struct bw_crypto_session *s = dup(tpl, sizeof(*tpl));
	size_t n;

	while (size >= 2) {
		size_t len = (size_t)data[0] << 8 | data[1];

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		if (s->mode == BW_CRYPTO_STREAM)
			bw_crypto_open(s, NULL, 0, data, len, out, sizeof(out), &n);
		else
			bw_crypto_dgram_open(s, data, len, out, sizeof(out), &n);
		data += len;
		size -= len;
	}
	bw_crypto_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_hs(tpl_r0, data + 1, size - 1);
		break;
	case 1:
		fuzz_hs(tpl_i1, data + 1, size - 1);
		break;
	case 2:
		fuzz_records(tpl_stream, data + 1, size - 1);
		break;
	default:
		fuzz_records(tpl_dgram, data + 1, size - 1);
		break;
	}
	return 0;
}

#ifdef BW_FUZZ_CORPUS_GEN
#include <stdio.h>

static FILE *seed;

static void seed_open(const char *dir, const char *name, uint8_t sel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	seed = fopen(path, "wb");
	if (!seed)
		abort();
	fputc(sel, seed);
}

static void put(const uint8_t *p, size_t n, int framed)
{
	if (framed) {
		fputc((int)(n >> 8), seed);
		fputc((int)(n & 0xff), seed);
	}
	fwrite(p, 1, n, seed);
}

int main(int argc, char **argv)
{
	uint8_t rec[4][64], bad[64];
	size_t len[4];
	const char *dir = argc > 1 ? argv[1] : ".";

	setup_once();
	seed_open(dir, "msg1-valid", 0), put(gen_msg1, gen_len1, 0), fclose(seed);
	seed_open(dir, "msg1-truncated", 0), put(gen_msg1, gen_len1 - 1, 0), fclose(seed);
	memcpy(bad, gen_msg1, gen_len1);
	bad[10] ^= 1;
	seed_open(dir, "msg1-tampered", 0), put(bad, gen_len1, 0), fclose(seed);
	seed_open(dir, "msg1-empty", 0), fclose(seed);
	seed_open(dir, "msg2-valid", 1), put(gen_msg2, gen_len2, 0), fclose(seed);
	memcpy(bad, gen_msg2, gen_len2);
	bad[gen_len2 - 1] ^= 1;
	seed_open(dir, "msg2-tampered", 1), put(bad, gen_len2, 0), fclose(seed);
	seed_open(dir, "msg2-is-msg1", 1), put(gen_msg1, gen_len1, 0), fclose(seed);

	for (int k = 0; k < 3; k++)
		bw_crypto_seal(gen_stream, NULL, 0, (const uint8_t *)"record", (size_t)k * 3, rec[k],
			       64, &len[k]);
	seed_open(dir, "stream-in-order", 2);
	for (int k = 0; k < 3; k++)
		put(rec[k], len[k], 1);
	fclose(seed);
	seed_open(dir, "stream-reordered", 2), put(rec[1], len[1], 1), put(rec[0], len[0], 1);
	fclose(seed);
	seed_open(dir, "stream-replayed", 2), put(rec[0], len[0], 1), put(rec[0], len[0], 1);
	fclose(seed);
	seed_open(dir, "stream-short", 2), put(rec[2], 5, 1), fclose(seed);

	for (int k = 0; k < 4; k++)
		bw_crypto_dgram_seal(gen_dgram, (const uint8_t *)"datagram", (size_t)k * 2, rec[k],
				     64, &len[k]);
	seed_open(dir, "dgram-in-order", 3);
	for (int k = 0; k < 4; k++)
		put(rec[k], len[k], 1);
	fclose(seed);
	seed_open(dir, "dgram-reordered-dup", 3);
	put(rec[2], len[2], 1), put(rec[0], len[0], 1), put(rec[3], len[3], 1);
	put(rec[0], len[0], 1), put(rec[1], len[1], 1);
	fclose(seed);
	memcpy(bad, rec[1], len[1]);
	bad[1] = 0x7f; /* counter far ahead, tag no longer matches */
	seed_open(dir, "dgram-forged-counter", 3), put(bad, len[1], 1), put(rec[0], len[0], 1);
	fclose(seed);
	seed_open(dir, "dgram-truncated", 3), put(rec[3], 20, 1), fclose(seed);
	return 0;
}
#endif
