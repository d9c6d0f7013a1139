/*
 * crypto/: stream records and datagrams, on sessions from real handshakes,
 * for every suite this CPU runs.
 */
#include "test_crypto.h"

#include <stdlib.h>

#define EPOCH (UINT64_C(1) << BW_CRYPTO_EPOCH_SHIFT)

static uint8_t suites[BW_CRYPTO_SUITES_MAX];
static size_t nsuites;

static int setup(void **state)
{
	(void)state;
	if (bw_crypto_init() < 0)
		return -1;
	nsuites = bw_crypto_suites_local(suites);
	return 0;
}

struct rec {
	uint8_t b[256];
	size_t len;
};

static void seal_str(struct bw_crypto_session *s, const char *pt, struct rec *r)
{
	assert_rc(bw_crypto_seal(s, NULL, 0, (const uint8_t *)pt, strlen(pt), r->b, sizeof(r->b),
				 &r->len), 0);
}

static int open_rec(struct bw_crypto_session *s, const struct rec *r, const char *want)
{
	uint8_t pt[256];
	size_t n = 12345;
	int rc = bw_crypto_open(s, NULL, 0, r->b, r->len, pt, sizeof(pt), &n);

	if (rc == 0 && want) {
		assert_int_equal(n, strlen(want));
		assert_memory_equal(pt, want, n);
	}
	if (rc < 0)
		assert_int_equal(n, 12345); /* untouched on failure */
	return rc;
}

/* --- Stream records ---------------------------------------------------------- */

static void test_seal_open_round_trip(void **state)
{
	static uint8_t pt[BW_CRYPTO_RECORD_MAX], ct[BW_CRYPTO_RECORD_MAX + 16];
	static uint8_t got[BW_CRYPTO_RECORD_MAX];
	const size_t sizes[] = {0, 1, 15, 16, 17, 1200, 16384, BW_CRYPTO_RECORD_MAX};
	const uint8_t ad[] = {0x00, 0x00, 0x40, 0x10};
	size_t len, n;
	struct hs_pair p;

	(void)state;
	for (size_t k = 0; k < sizeof(pt); k++)
		pt[k] = (uint8_t)(k * 31 + 7);
	for (size_t si = 0; si < nsuites; si++) {
		hs_pair_run(&p, suites[si], BW_CRYPTO_STREAM);
		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			/* Both directions, with and without associated data. */
			assert_rc(bw_crypto_seal(p.si, ad, sizeof(ad), pt, sizes[z], ct, sizeof(ct),
						 &len), 0);
			assert_int_equal(len, sizes[z] + BW_CRYPTO_RECORD_OVERHEAD);
			if (sizes[z] >= 16)
				assert_memory_not_equal(ct, pt, 16);
			assert_rc(bw_crypto_open(p.sr, ad, sizeof(ad), ct, len, got, sizeof(got), &n),
				  0);
			assert_int_equal(n, sizes[z]);
			assert_memory_equal(got, pt, n);
			assert_rc(bw_crypto_seal(p.sr, NULL, 0, pt, sizes[z], ct, sizeof(ct), &len), 0);
			assert_rc(bw_crypto_open(p.si, NULL, 0, ct, len, got, sizeof(got), &n), 0);
			assert_memory_equal(got, pt, n);
			/* In place: the buffer holds plaintext, then ciphertext,
			 * then plaintext again. */
			memcpy(ct, pt, sizes[z]);
			assert_rc(bw_crypto_seal(p.si, NULL, 0, ct, sizes[z], ct, sizeof(ct), &len), 0);
			assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, len, ct, sizeof(ct), &n), 0);
			assert_int_equal(n, sizes[z]);
			assert_memory_equal(ct, pt, n);
		}
		/* Same plaintext twice: different ciphertext (fresh nonce). */
		assert_rc(bw_crypto_seal(p.si, NULL, 0, pt, 64, ct, sizeof(ct), &len), 0);
		assert_rc(bw_crypto_seal(p.si, NULL, 0, pt, 64, got, sizeof(got), &len), 0);
		assert_memory_not_equal(ct, got, len);
		hs_pair_free(&p);
	}
}

/* Flip each byte (and the associated data): always BW_E_DECRYPT, and the
 * failed attempts leave the receiver ready for the genuine record. */
static void test_open_tampered_every_position(void **state)
{
	static uint8_t pt[16384], ct[16384 + 16], got[16384];
	uint8_t ad[4] = {1, 2, 3, 4};
	size_t len, n;
	struct hs_pair p;

	(void)state;
	for (size_t si = 0; si < nsuites; si++) {
		hs_pair_run(&p, suites[si], BW_CRYPTO_STREAM);
		/* A small record: every byte, two bit positions. */
		assert_rc(bw_crypto_seal(p.si, ad, sizeof(ad), pt, 100, ct, sizeof(ct), &len), 0);
		for (size_t k = 0; k < len; k++) {
			for (int bit = 0; bit < 8; bit += 7) {
				ct[k] ^= (uint8_t)(1u << bit);
				assert_rc(bw_crypto_open(p.sr, ad, sizeof(ad), ct, len, got,
							 sizeof(got), &n), BW_E_DECRYPT);
				ct[k] ^= (uint8_t)(1u << bit);
			}
		}
		for (size_t k = 0; k < sizeof(ad); k++) {
			ad[k] ^= 0x20;
			assert_rc(bw_crypto_open(p.sr, ad, sizeof(ad), ct, len, got, sizeof(got), &n),
				  BW_E_DECRYPT);
			ad[k] ^= 0x20;
		}
		assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, len, got, sizeof(got), &n),
			  BW_E_DECRYPT);
		assert_rc(bw_crypto_open(p.sr, ad, sizeof(ad), ct, len, got, sizeof(got), &n), 0);

		/* A 16 KiB record: a sample, the first and last 48 bytes and a
		 * stride through the middle; and the failed plaintext is zeroed. */
		assert_rc(bw_crypto_seal(p.si, NULL, 0, pt, sizeof(pt), ct, sizeof(ct), &len), 0);
		for (size_t k = 0; k < len; k += (k < 48 || k >= len - 48) ? 1 : 211) {
			ct[k] ^= 0x04;
			memset(got, 0xaa, sizeof(got));
			assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, len, got, sizeof(got), &n),
				  BW_E_DECRYPT);
			for (size_t j = 0; j < sizeof(got); j += 512)
				assert_true(got[j] == 0 || got[j] == 0xaa);
			ct[k] ^= 0x04;
		}
		assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, len, got, sizeof(got), &n), 0);
		hs_pair_free(&p);
	}
}

static void test_open_truncated_extended(void **state)
{
	uint8_t pt[64] = {0}, ct[128], got[128];
	size_t len, n;
	struct hs_pair p;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_STREAM);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, pt, sizeof(pt), ct, sizeof(ct), &len), 0);
	for (size_t k = 0; k < len; k++)
		assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, k, got, sizeof(got), &n), BW_E_DECRYPT);
	ct[len] = 0;
	assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, len + 1, got, sizeof(got), &n), BW_E_DECRYPT);
	assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, len, got, sizeof(got), &n), 0);
	hs_pair_free(&p);
}

static void test_open_reordered_replayed_dropped(void **state)
{
	struct rec r0, r1, r2, r3;
	struct hs_pair p;

	(void)state;
	for (size_t si = 0; si < nsuites; si++) {
		hs_pair_run(&p, suites[si], BW_CRYPTO_STREAM);
		seal_str(p.si, "zero", &r0);
		seal_str(p.si, "one", &r1);
		seal_str(p.si, "two", &r2);
		seal_str(p.si, "three", &r3);
		/* Reordered: r1 before r0 fails; then both in order succeed. */
		assert_rc(open_rec(p.sr, &r1, NULL), BW_E_DECRYPT);
		assert_rc(open_rec(p.sr, &r0, "zero"), 0);
		/* Replayed. */
		assert_rc(open_rec(p.sr, &r0, NULL), BW_E_DECRYPT);
		assert_rc(open_rec(p.sr, &r1, "one"), 0);
		assert_rc(open_rec(p.sr, &r1, NULL), BW_E_DECRYPT);
		/* Dropped: r2 never arrives, r3 cannot open. */
		assert_rc(open_rec(p.sr, &r3, NULL), BW_E_DECRYPT);
		assert_rc(open_rec(p.sr, &r2, "two"), 0);
		assert_rc(open_rec(p.sr, &r3, "three"), 0);
		/* Spliced: the same bytes under a neighbour's counter. */
		seal_str(p.si, "four", &r0);
		seal_str(p.si, "five", &r1);
		assert_rc(open_rec(p.sr, &r1, NULL), BW_E_DECRYPT);
		hs_pair_free(&p);
	}
}

/* The configurable limit, then the hard one at 2^64 - 1: the counter is
 * refused before it could ever be reused. */
static void test_seal_counter_exhausted(void **state)
{
	struct rec r;
	uint8_t out[64];
	size_t n;
	struct hs_pair p;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_STREAM);
	assert_rc(bw_crypto_session_set_limit(p.si, 3), 0);
	for (int k = 0; k < 3; k++) {
		seal_str(p.si, "x", &r);
		assert_rc(open_rec(p.sr, &r, "x"), 0);
	}
	assert_rc(bw_crypto_seal(p.si, NULL, 0, (const uint8_t *)"x", 1, r.b, sizeof(r.b), &r.len),
		  BW_E_NONCE_EXHAUSTED);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, (const uint8_t *)"x", 1, r.b, sizeof(r.b), &r.len),
		  BW_E_NONCE_EXHAUSTED);
	assert_rc(bw_crypto_session_set_limit(NULL, 3), BW_E_INVAL);
	/* The other direction is not limited. */
	seal_str(p.sr, "y", &r);
	assert_rc(open_rec(p.si, &r, "y"), 0);

	assert_rc(bw_crypto_session_set_limit(p.si, UINT64_MAX), 0);
	bw_crypto__session_set_counters(p.si, UINT64_MAX - 2, 0);
	bw_crypto__session_set_counters(p.sr, 0, UINT64_MAX - 2);
	for (int k = 0; k < 2; k++) {
		seal_str(p.si, "last", &r);
		assert_rc(open_rec(p.sr, &r, "last"), 0);
	}
	assert_int_equal(p.si->tx_counter, UINT64_MAX);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, (const uint8_t *)"x", 1, r.b, sizeof(r.b), &r.len),
		  BW_E_NONCE_EXHAUSTED);
	assert_rc(bw_crypto_open(p.sr, NULL, 0, r.b, r.len, out, sizeof(out), &n),
		  BW_E_NONCE_EXHAUSTED);
	hs_pair_free(&p);
}

/* Keys change every 2^20 records without a message; both sides follow. */
static void test_seal_epoch_change(void **state)
{
	struct rec r;
	struct hs_pair p;

	(void)state;
	for (size_t si = 0; si < nsuites; si++) {
		hs_pair_run(&p, suites[si], BW_CRYPTO_STREAM);
		bw_crypto__session_set_counters(p.si, EPOCH - 2, 3 * EPOCH - 2);
		bw_crypto__session_set_counters(p.sr, 3 * EPOCH - 2, EPOCH - 2);
		for (int k = 0; k < 4; k++) {
			seal_str(p.si, "across", &r);
			assert_rc(open_rec(p.sr, &r, "across"), 0);
			seal_str(p.sr, "back", &r);
			assert_rc(open_rec(p.si, &r, "back"), 0);
		}
		assert_int_equal(p.si->tx.epoch, 1);
		assert_int_equal(p.sr->tx.epoch, 3);
		/* A record from epoch 1 does not open under epoch 0's counter. */
		seal_str(p.si, "e1", &r);
		bw_crypto__session_set_counters(p.sr, 3 * EPOCH + 2, EPOCH + 1);
		assert_rc(open_rec(p.sr, &r, NULL), BW_E_DECRYPT);
		bw_crypto__session_set_counters(p.sr, 3 * EPOCH + 2, EPOCH + 2);
		assert_rc(open_rec(p.sr, &r, "e1"), 0);
		hs_pair_free(&p);
	}
}

static void test_seal_open_bad_arguments(void **state)
{
	static uint8_t big[BW_CRYPTO_RECORD_MAX + 17];
	uint8_t out[64];
	size_t n;
	struct rec r;
	struct hs_pair p, d;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_STREAM);
	hs_pair_run(&d, suites[0], BW_CRYPTO_DGRAM);
	assert_rc(bw_crypto_seal(NULL, NULL, 0, out, 1, out, sizeof(out), &n), BW_E_INVAL);
	assert_rc(bw_crypto_seal(p.si, NULL, 1, out, 1, out, sizeof(out), &n), BW_E_INVAL);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, NULL, 1, out, sizeof(out), &n), BW_E_INVAL);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, out, 1, NULL, sizeof(out), &n), BW_E_INVAL);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, out, 1, out, sizeof(out), NULL), BW_E_INVAL);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, big, BW_CRYPTO_RECORD_MAX + 1, big, sizeof(big),
				 &n), BW_E_TOO_BIG);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, out, 8, out, 8 + 15, &n), BW_E_RANGE);
	/* Stream calls on a datagram session and the reverse. */
	assert_rc(bw_crypto_seal(d.si, NULL, 0, out, 1, out, sizeof(out), &n), BW_E_INVAL);
	assert_rc(bw_crypto_open(d.sr, NULL, 0, out, 17, out, sizeof(out), &n), BW_E_INVAL);
	assert_rc(bw_crypto_dgram_seal(p.si, out, 1, out, sizeof(out), &n), BW_E_INVAL);
	assert_rc(bw_crypto_dgram_open(p.sr, out, 26, out, sizeof(out), &n), BW_E_INVAL);
	/* None of the refusals used a counter. */
	assert_int_equal(p.si->tx_counter, 0);
	seal_str(p.si, "fine", &r);
	assert_rc(bw_crypto_open(p.sr, NULL, 0, r.b, r.len, out, 3, &n), BW_E_RANGE);
	assert_rc(bw_crypto_open(p.sr, NULL, 0, big, sizeof(big), big, sizeof(big), &n),
		  BW_E_TOO_BIG);
	assert_rc(open_rec(p.sr, &r, "fine"), 0);
	hs_pair_free(&p);
	hs_pair_free(&d);
}

/* --- Datagrams --------------------------------------------------------------- */

struct dg {
	uint8_t b[64];
	size_t len;
};

static void dseal(struct bw_crypto_session *s, uint64_t counter, struct dg *d)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "dgram %llu", (unsigned long long)counter);

	s->tx_counter = counter; /* white box: any counter the sender would reach */
	assert_rc(bw_crypto_dgram_seal(s, (const uint8_t *)text, (size_t)n, d->b, sizeof(d->b),
				       &d->len), 0);
}

static int dopen(struct bw_crypto_session *s, const struct dg *d)
{
	uint8_t pt[64];
	size_t n;
	uint64_t c = 0;
	int rc = bw_crypto_dgram_open(s, d->b, d->len, pt, sizeof(pt), &n);

	if (rc == 0) {
		char text[32];

		for (int i = 1; i < 9; i++)
			c = c << 8 | d->b[i];
		snprintf(text, sizeof(text), "dgram %llu", (unsigned long long)c);
		assert_int_equal(n, strlen(text));
		assert_memory_equal(pt, text, n);
	}
	return rc;
}

static void test_dgram_in_order(void **state)
{
	struct dg d;
	struct hs_pair p;

	(void)state;
	for (size_t si = 0; si < nsuites; si++) {
		hs_pair_run(&p, suites[si], BW_CRYPTO_DGRAM);
		for (uint64_t c = 0; c < 100; c++) {
			assert_rc(bw_crypto_dgram_seal(p.si, (const uint8_t *)"dgram", 5, d.b,
						       sizeof(d.b), &d.len), 0);
			assert_int_equal(d.len, 5 + BW_CRYPTO_DGRAM_OVERHEAD);
			assert_int_equal(d.b[0], BW_CRYPTO_MSG_DATA);
			assert_int_equal(d.b[8], (uint8_t)c); /* explicit big-endian counter */
			assert_rc(bw_crypto_dgram_open(p.sr, d.b, d.len, d.b, sizeof(d.b), &d.len), 0);
			assert_memory_equal(d.b, "dgram", 5);
		}
		dseal(p.sr, 7, &d);
		assert_rc(dopen(p.si, &d), 0);
		assert_int_equal(bw_crypto_session_confirmed(p.si), 1);
		hs_pair_free(&p);
	}
}

/* Every order of a window's worth, lost ones included, then every duplicate. */
static void test_dgram_reordered_within_window(void **state)
{
	enum { N = 1500 };
	static struct dg d[N];
	static unsigned order[N];
	struct hs_pair p;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_DGRAM);
	for (unsigned k = 0; k < N; k++) {
		dseal(p.si, k, &d[k]);
		order[k] = k;
	}
	for (unsigned k = N - 1; k > 0; k--) { /* Fisher-Yates */
		unsigned j = randombytes_uniform(k + 1), t = order[k];

		order[k] = order[j];
		order[j] = t;
	}
	for (unsigned k = 0; k < N; k++)
		if (order[k] % 10 != 3) /* one in ten lost */
			assert_rc(dopen(p.sr, &d[order[k]]), 0);
	for (unsigned k = 0; k < N; k++)
		assert_rc(dopen(p.sr, &d[k]), k % 10 != 3 ? BW_E_REPLAY : 0);
	hs_pair_free(&p);
}

static void test_dgram_duplicate(void **state)
{
	struct dg a, b;
	struct hs_pair p;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_DGRAM);
	dseal(p.si, 0, &a);
	dseal(p.si, 1, &b);
	assert_rc(dopen(p.sr, &a), 0);
	assert_rc(dopen(p.sr, &a), BW_E_REPLAY);
	assert_rc(dopen(p.sr, &b), 0);
	assert_rc(dopen(p.sr, &b), BW_E_REPLAY);
	assert_rc(dopen(p.sr, &a), BW_E_REPLAY);
	hs_pair_free(&p);
}

static void test_dgram_too_old(void **state)
{
	struct dg top, edge, past, old;
	struct hs_pair p;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_DGRAM);
	dseal(p.si, 0, &old);
	dseal(p.si, 3000 - BW_CRYPTO_REPLAY_WINDOW, &past);
	dseal(p.si, 3000 - BW_CRYPTO_REPLAY_WINDOW + 1, &edge);
	dseal(p.si, 3000, &top);
	assert_rc(dopen(p.sr, &top), 0);
	assert_rc(dopen(p.sr, &old), BW_E_REPLAY);
	assert_rc(dopen(p.sr, &past), BW_E_REPLAY);
	assert_rc(dopen(p.sr, &edge), 0);
	hs_pair_free(&p);
}

/* A long loss burst: the window jumps, everything behind it is too old. */
static void test_dgram_far_jump_forward(void **state)
{
	struct dg a, b, far, later;
	struct hs_pair p;

	(void)state;
	for (size_t si = 0; si < nsuites; si++) {
		hs_pair_run(&p, suites[si], BW_CRYPTO_DGRAM);
		dseal(p.si, 0, &a);
		dseal(p.si, 1, &b);
		dseal(p.si, 10 * EPOCH + 5, &far); /* ten epochs ahead */
		dseal(p.si, 10 * EPOCH + 6, &later);
		assert_rc(dopen(p.sr, &a), 0);
		assert_rc(dopen(p.sr, &far), 0);
		assert_rc(dopen(p.sr, &b), BW_E_REPLAY);
		assert_rc(dopen(p.sr, &later), 0);
		assert_int_equal(p.sr->rx.epoch, 10);
		hs_pair_free(&p);
	}
}

/* Reordering across an epoch change: both keys stay usable. */
static void test_dgram_epoch_change_reordered(void **state)
{
	struct dg d[6];
	const unsigned order[6] = {2, 0, 3, 5, 1, 4};
	struct hs_pair p;

	(void)state;
	for (size_t si = 0; si < nsuites; si++) {
		hs_pair_run(&p, suites[si], BW_CRYPTO_DGRAM);
		for (unsigned k = 0; k < 6; k++)
			dseal(p.si, EPOCH - 3 + k, &d[k]);
		for (unsigned k = 0; k < 6; k++)
			assert_rc(dopen(p.sr, &d[order[k]]), 0);
		for (unsigned k = 0; k < 6; k++)
			assert_rc(dopen(p.sr, &d[k]), BW_E_REPLAY);
		assert_int_equal(p.sr->rx.epoch, 1);
		assert_int_equal(p.sr->rx_prev.epoch, 0);
		hs_pair_free(&p);
	}
}

/* Forged counters are rejected by the tag and move nothing: a forgery far
 * ahead would otherwise make every genuine datagram "too old", and one on an
 * unseen counter would otherwise block the genuine one. */
static void test_dgram_forged_counter_does_not_advance(void **state)
{
	struct dg g0, g7, forged;
	struct hs_pair p;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_DGRAM);
	dseal(p.si, 0, &g0);
	dseal(p.si, 7, &g7);
	forged = g7;
	forged.b[1] = 0x40; /* counter 2^62 + 7 */
	assert_rc(dopen(p.sr, &forged), BW_E_DECRYPT);
	assert_int_equal(p.sr->window.top, 0);
	assert_int_equal(p.sr->rx.epoch, 0);
	forged = g7;
	forged.b[forged.len - 1] ^= 1; /* counter 7, bad tag */
	assert_rc(dopen(p.sr, &forged), BW_E_DECRYPT);
	assert_rc(dopen(p.sr, &g0), 0);
	assert_rc(dopen(p.sr, &g7), 0);
	/* The one counter no sender uses. */
	memset(forged.b + 1, 0xff, 8);
	assert_rc(dopen(p.sr, &forged), BW_E_DECRYPT);
	hs_pair_free(&p);
}

static void test_dgram_tampered_truncated(void **state)
{
	struct dg d, t;
	uint8_t out[64];
	size_t n;
	struct hs_pair p;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_DGRAM);
	dseal(p.si, 5, &d);
	for (size_t k = 0; k < d.len; k++) {
		t = d;
		t.b[k] ^= 0x02;
		assert_rc(dopen(p.sr, &t), k == 0 ? BW_E_MSG_UNKNOWN : BW_E_DECRYPT);
	}
	for (size_t k = 0; k < d.len; k++)
		assert_rc(bw_crypto_dgram_open(p.sr, d.b, k, out, sizeof(out), &n),
			  k < BW_CRYPTO_DGRAM_OVERHEAD ? BW_E_TRUNCATED : BW_E_DECRYPT);
	assert_rc(bw_crypto_dgram_open(p.sr, d.b, d.len, out, d.len - 26, &n), BW_E_RANGE);
	assert_rc(dopen(p.sr, &d), 0);
	hs_pair_free(&p);
}

static void test_dgram_limits(void **state)
{
	static uint8_t big[BW_CRYPTO_DGRAM_MAX + BW_CRYPTO_DGRAM_OVERHEAD + 1];
	size_t n;
	struct dg d;
	struct hs_pair p;

	(void)state;
	hs_pair_run(&p, suites[0], BW_CRYPTO_DGRAM);
	assert_rc(bw_crypto_dgram_seal(p.si, big, BW_CRYPTO_DGRAM_MAX + 1, big, sizeof(big), &n),
		  BW_E_TOO_BIG);
	assert_rc(bw_crypto_dgram_seal(p.si, big, BW_CRYPTO_DGRAM_MAX, big, sizeof(big) - 2, &n),
		  BW_E_RANGE);
	/* In place: plaintext already at out + header. */
	assert_rc(bw_crypto_dgram_seal(p.si, big + BW_CRYPTO_DGRAM_HEADER, BW_CRYPTO_DGRAM_MAX, big,
				       sizeof(big), &n), 0);
	assert_int_equal(n, BW_CRYPTO_DGRAM_MAX + BW_CRYPTO_DGRAM_OVERHEAD);
	assert_rc(bw_crypto_dgram_open(p.sr, big, n, big + BW_CRYPTO_DGRAM_HEADER, sizeof(big), &n),
		  0);
	assert_rc(bw_crypto_dgram_open(p.sr, big, sizeof(big), big, sizeof(big), &n),
		  BW_E_TOO_BIG);
	assert_rc(bw_crypto_dgram_open(NULL, big, 30, big, sizeof(big), &n), BW_E_INVAL);
	assert_rc(bw_crypto_dgram_seal(p.si, NULL, 3, big, sizeof(big), &n), BW_E_INVAL);
	/* Limit and the hard ceiling, as for streams. */
	assert_rc(bw_crypto_session_set_limit(p.si, 2), 0); /* one sent, one left */
	assert_rc(bw_crypto_dgram_seal(p.si, NULL, 0, d.b, sizeof(d.b), &d.len), 0);
	assert_rc(bw_crypto_dgram_seal(p.si, NULL, 0, d.b, sizeof(d.b), &d.len),
		  BW_E_NONCE_EXHAUSTED);
	assert_rc(bw_crypto_session_set_limit(p.si, UINT64_MAX), 0);
	bw_crypto__session_set_counters(p.si, UINT64_MAX - 1, 0);
	assert_rc(bw_crypto_dgram_seal(p.si, NULL, 0, d.b, sizeof(d.b), &d.len), 0);
	assert_rc(bw_crypto_dgram_open(p.sr, d.b, d.len, big, sizeof(big), &n), 0);
	assert_rc(bw_crypto_dgram_seal(p.si, NULL, 0, d.b, sizeof(d.b), &d.len),
		  BW_E_NONCE_EXHAUSTED);
	hs_pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open_round_trip),
		cmocka_unit_test(test_open_tampered_every_position),
		cmocka_unit_test(test_open_truncated_extended),
		cmocka_unit_test(test_open_reordered_replayed_dropped),
		cmocka_unit_test(test_seal_counter_exhausted),
		cmocka_unit_test(test_seal_epoch_change),
		cmocka_unit_test(test_seal_open_bad_arguments),
		cmocka_unit_test(test_dgram_in_order),
		cmocka_unit_test(test_dgram_reordered_within_window),
		cmocka_unit_test(test_dgram_duplicate),
		cmocka_unit_test(test_dgram_too_old),
		cmocka_unit_test(test_dgram_far_jump_forward),
		cmocka_unit_test(test_dgram_epoch_change_reordered),
		cmocka_unit_test(test_dgram_forged_counter_does_not_advance),
		cmocka_unit_test(test_dgram_tampered_truncated),
		cmocka_unit_test(test_dgram_limits),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
