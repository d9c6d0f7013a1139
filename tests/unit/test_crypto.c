/*
 * crypto/: key sources, suites and the handshake. Records and datagrams are
 * in test_crypto_record.c, the replay window in test_crypto_replay.c.
 */
#include "test_crypto.h"

#include <stdlib.h>

/* --- Known answers ----------------------------------------------------------- */

/* cacophony's published vector for Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b: the
 * bare Noise messages, the handshake hash, and Split()'s keys checked through
 * the first transport messages each way. */
static void test_hs_noise_vector_cacophony(void **state)
{
	static const char *const payload[6] = {
		"4c756477696720766f6e204d69736573",
		"4d757272617920526f746862617264",
		"462e20412e20486179656b",
		"4361726c204d656e676572",
		"4a65616e2d426170746973746520536179",
		"457567656e2042f6686d20766f6e2042617765726b",
	};
	static const char *const cipher[6] = {
		"ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
		"ed63df2f5a12aee1185ee9c50305f2ecf12421dcb53c047a63b784cf7c54a105",
		"95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
		"0e0fe7d5c0c9b92f7478716c8852f1b4f389edb75e3ebe546fafafd5b6f0f7",
		"0fe04b26dcfbb69f8a6a94c61f1a26ef88769218d32f5d17c068a6",
		"2239e0c540c01f09eb1f4cc5258fd5acfefff18a5a3773f21b7bfe",
		"f216cb03d30fb8af1e561fe02a07552d09b416e27a75e62c77d193718b0bdaae9f",
		"6e8baf98b944184dd7dc5ef14d8108cbeca626de118a5460f3308e294d61e17238bce29bd9",
	};
	uint8_t prologue[16], psk[32], ei[32], er[32], pt[64], want[128], out[128], got[128];
	uint8_t hi[64], hr[64], hash[64], c1[32], c2[32], c1r[32], c2r[32], nonce[12] = {0};
	size_t plen, n, wn;
	struct bw_crypto_hs *i, *r;
	int rc;

	(void)state;
	plen = unhex("4a6f686e2047616c74", prologue, sizeof(prologue));
	unhex("54686973206973206d7920417573747269616e20706572737065637469766521", psk, 32);
	unhex("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a", ei, 32);
	unhex("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b", er, 32);
	i = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, psk, prologue, plen, &rc);
	r = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, psk, prologue, plen, &rc);
	assert_non_null(i);
	assert_non_null(r);
	bw_crypto__hs_set_ephemeral(i, ei, NULL);
	bw_crypto__hs_set_ephemeral(r, er, NULL);

	for (int m = 0; m < 2; m++) {
		struct bw_crypto_hs *w = m == 0 ? i : r, *rd = m == 0 ? r : i;

		n = unhex(payload[m], pt, sizeof(pt));
		wn = unhex(cipher[m], want, sizeof(want));
		assert_int_equal(wn, 32 + n + 16);
		assert_rc(bw_crypto__hs_write(w, pt, n, out), 0);
		assert_memory_equal(out, want, wn);
		assert_rc(bw_crypto__hs_read(rd, out, wn, got), 0);
		assert_memory_equal(got, pt, n);
	}
	unhex("ed5e9692d0ab507b6c2beec3f584fd5b127817a9d20b26cd50aa72c507260fa3"
	      "1aa7d88dd3723316338af37ce0b4cfb2923aeb848bbf2b934911306f01ffc963", hash, 64);
	bw_crypto__hs_hash(i, hi);
	bw_crypto__hs_hash(r, hr);
	assert_memory_equal(hi, hash, 64);
	assert_memory_equal(hr, hash, 64);

	bw_crypto__hs_noise_split(i, c1, c2);
	bw_crypto__hs_noise_split(r, c1r, c2r);
	assert_memory_equal(c1, c1r, 32);
	assert_memory_equal(c2, c2r, 32);
	for (int m = 2; m < 6; m++) {
		/* Even: initiator sends with c1; odd: responder with c2; each
		 * cipher's nonce counts 0, 1. */
		nonce[4] = (uint8_t)((m - 2) / 2);
		n = unhex(payload[m], pt, sizeof(pt));
		wn = unhex(cipher[m], want, sizeof(want));
		crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, n, NULL, 0, NULL, nonce,
							  m % 2 == 0 ? c1 : c2);
		assert_memory_equal(out, want, wn);
	}
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

/* Expected values computed with Python's hashlib.blake2b (an independent
 * BLAKE2b), so the personalisations and length framing are pinned. */
static void test_psk_from_token_known_answer(void **state)
{
	uint8_t psk[32], want[32];

	(void)state;
	assert_rc(bw_crypto_psk_from_token("", 0, psk), 0);
	unhex("2134d2bf9cd5d2bd60696e4bd36f54375f7ce31c37ebf76df8d33123ae5d2d8e", want, 32);
	assert_memory_equal(psk, want, 32);
	assert_rc(bw_crypto_psk_from_token(NULL, 0, psk), 0); /* empty, spelt NULL */
	assert_memory_equal(psk, want, 32);
	assert_rc(bw_crypto_psk_from_token("secret", 6, psk), 0);
	unhex("b6ecb6224937a43733b41b6ed92ee6eafa6b86913a712b58d725ebc7e955ba0e", want, 32);
	assert_memory_equal(psk, want, 32);
}

static void test_psk_from_secret_known_answer(void **state)
{
	uint8_t psk[32], ver[32], want[32];

	(void)state;
	assert_rc(bw_crypto_psk_from_secret("abc", 3, "alice", "ssh", psk), 0);
	unhex("7f490a703fa5ee561d9e2b63d325467a3bda3e7d929ceb5467808e98a33da862", want, 32);
	assert_memory_equal(psk, want, 32);
	assert_rc(bw_crypto_verifier_from_secret("abc", 3, "alice", "ssh", ver), 0);
	unhex("a3291e891156598b4df4df27d79b2244db56f87db9ad85fec8e3037c63c412f5", want, 32);
	assert_memory_equal(ver, want, 32);
}

static void test_psk_from_secret_domain_separated(void **state)
{
	uint8_t a[32], b[32], tok[32];

	(void)state;
	/* The verifier the server holds is not the PSK. */
	assert_rc(bw_crypto_psk_from_secret("abc", 3, "alice", "ssh", a), 0);
	assert_rc(bw_crypto_verifier_from_secret("abc", 3, "alice", "ssh", b), 0);
	assert_memory_not_equal(a, b, 32);
	/* Field boundaries count: ("alice", "ssh") != ("alic", "essh"). */
	assert_rc(bw_crypto_psk_from_secret("abc", 3, "alic", "essh", b), 0);
	assert_memory_not_equal(a, b, 32);
	/* One secret, two proxies: unrelated keys. */
	assert_rc(bw_crypto_psk_from_secret("abc", 3, "alice", "web", b), 0);
	assert_memory_not_equal(a, b, 32);
	/* NULL and "" users are the same (no user). */
	assert_rc(bw_crypto_psk_from_secret("abc", 3, NULL, "ssh", a), 0);
	assert_rc(bw_crypto_psk_from_secret("abc", 3, "", "ssh", b), 0);
	assert_memory_equal(a, b, 32);
	/* Same string as a token: a different key. */
	assert_rc(bw_crypto_psk_from_token("abc", 3, tok), 0);
	assert_memory_not_equal(a, tok, 32);

	assert_rc(bw_crypto_psk_from_secret("abc", 3, "alice", NULL, a), BW_E_INVAL);
	assert_rc(bw_crypto_psk_from_secret("abc", 3, "alice", "", a), BW_E_INVAL);
	assert_rc(bw_crypto_psk_from_secret(NULL, 3, "alice", "ssh", a), BW_E_INVAL);
	assert_rc(bw_crypto_verifier_from_secret("abc", 3, "alice", "ssh", NULL), BW_E_INVAL);
	assert_rc(bw_crypto_psk_from_token("abc", 3, NULL), BW_E_INVAL);
}

static void test_mac_verify(void **state)
{
	uint8_t key[32], key2[32], tag[32], want[32];
	const uint8_t msg[] = "ticket";

	(void)state;
	for (int i = 0; i < 32; i++) {
		key[i] = (uint8_t)i;
		key2[i] = (uint8_t)(i + 1);
	}
	assert_rc(bw_crypto_mac(key, msg, 6, tag), 0);
	unhex("c986b1f5ab492ceb6506adc65a0a42ac5fca74cb81679cb0bc7f74b432502420", want, 32);
	assert_memory_equal(tag, want, 32);
	assert_rc(bw_crypto_mac_verify(key, msg, 6, tag), 0);
	assert_rc(bw_crypto_mac_verify(key2, msg, 6, tag), BW_E_AUTH_FAILED);
	assert_rc(bw_crypto_mac_verify(key, msg, 5, tag), BW_E_AUTH_FAILED);
	for (int i = 0; i < 32; i++) {
		tag[i] ^= 0x80;
		assert_rc(bw_crypto_mac_verify(key, msg, 6, tag), BW_E_AUTH_FAILED);
		tag[i] ^= 0x80;
	}
	assert_rc(bw_crypto_mac(key, NULL, 0, tag), 0);
	assert_rc(bw_crypto_mac(NULL, msg, 6, tag), BW_E_INVAL);
	assert_rc(bw_crypto_mac(key, NULL, 6, tag), BW_E_INVAL);
	assert_rc(bw_crypto_mac_verify(key, msg, 6, NULL), BW_E_INVAL);
}

/* --- Suites ------------------------------------------------------------------ */

static void test_suites_local_order(void **state)
{
	uint8_t s[BW_CRYPTO_SUITES_MAX];
	size_t n = bw_crypto_suites_local(s), k = 0;

	(void)state;
	if (crypto_aead_aes256gcm_is_available()) {
		assert_int_equal(n, 3);
		assert_int_equal(s[k++], BW_CRYPTO_AES256GCM);
	} else {
		assert_int_equal(n, 2);
	}
	assert_int_equal(s[k++], BW_CRYPTO_CHACHA20POLY1305);
	assert_int_equal(s[k++], BW_CRYPTO_XCHACHA20POLY1305);
}

static void test_suite_pick(void **state)
{
	uint8_t local[BW_CRYPTO_SUITES_MAX], big[BW_CRYPTO_OFFER_MAX + 1] = {0}, s = 0;
	const uint8_t rev[] = {3, 2, 1}, x[] = {3}, unknown[] = {0, 9, 200}, mixed[] = {9, 2, 9};

	(void)state;
	bw_crypto_suites_local(local);
	/* The picker's preference wins over the offer's order. */
	assert_rc(bw_crypto_suite_pick(rev, 3, &s), 0);
	assert_int_equal(s, local[0]);
	assert_rc(bw_crypto_suite_pick(x, 1, &s), 0);
	assert_int_equal(s, BW_CRYPTO_XCHACHA20POLY1305);
	assert_rc(bw_crypto_suite_pick(mixed, 3, &s), 0);
	assert_int_equal(s, BW_CRYPTO_CHACHA20POLY1305);
	assert_rc(bw_crypto_suite_pick(unknown, 3, &s), BW_E_UNSUPPORTED);
	assert_rc(bw_crypto_suite_pick(NULL, 0, &s), BW_E_UNSUPPORTED);
	big[BW_CRYPTO_OFFER_MAX - 1] = 2;
	assert_rc(bw_crypto_suite_pick(big, BW_CRYPTO_OFFER_MAX, &s), 0);
	assert_rc(bw_crypto_suite_pick(big, BW_CRYPTO_OFFER_MAX + 1, &s), BW_E_TOO_BIG);
	assert_rc(bw_crypto_suite_pick(NULL, 1, &s), BW_E_INVAL);
	assert_rc(bw_crypto_suite_pick(rev, 3, NULL), BW_E_INVAL);
	assert_string_equal(bw_crypto_suite_name(BW_CRYPTO_AES256GCM), "aes256gcm");
	assert_string_equal(bw_crypto_suite_name(BW_CRYPTO_CHACHA20POLY1305), "chacha20poly1305");
	assert_string_equal(bw_crypto_suite_name(BW_CRYPTO_XCHACHA20POLY1305),
			    "xchacha20poly1305");
	assert_string_equal(bw_crypto_suite_name(0), "?");
}

/* --- Handshake: success ------------------------------------------------------ */

static void check_session_pair(struct bw_crypto_session *a, struct bw_crypto_session *b)
{
	uint8_t ct[64], pt[64];
	size_t n;

	/* a's tx is b's rx and the other way round. */
	assert_rc(bw_crypto_seal(a, NULL, 0, (const uint8_t *)"a to b", 6, ct, sizeof(ct), &n), 0);
	assert_rc(bw_crypto_open(b, NULL, 0, ct, n, pt, sizeof(pt), &n), 0);
	assert_memory_equal(pt, "a to b", 6);
	assert_rc(bw_crypto_seal(b, NULL, 0, (const uint8_t *)"b to a", 6, ct, sizeof(ct), &n), 0);
	assert_rc(bw_crypto_open(a, NULL, 0, ct, n, pt, sizeof(pt), &n), 0);
	assert_memory_equal(pt, "b to a", 6);
}

static void test_hs_success_payloads_both_ways(void **state)
{
	uint8_t msg1[256], msg2[256], pl[64], s[BW_CRYPTO_SUITES_MAX];
	uint8_t ei[32], er[32];
	size_t len1, len2, n;
	struct bw_crypto_hs *i, *r;
	struct bw_crypto_session *si, *sr;
	int rc;

	(void)state;
	bw_crypto_suites_local(s);
	i = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, test_psk, test_prologue, sizeof(test_prologue),
			     &rc);
	assert_rc(rc, 0);
	r = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, test_psk, test_prologue, sizeof(test_prologue),
			     &rc);
	assert_rc(rc, 0);
	assert_rc(bw_crypto_hs_write_msg1(i, (const uint8_t *)"hello, server", 13, msg1,
					  sizeof(msg1), &len1), 0);
	assert_int_equal(len1, 13 + BW_CRYPTO_MSG1_OVERHEAD);
	assert_int_equal(msg1[0], BW_CRYPTO_MSG_HS1);
	/* The payload is not sent in the clear. */
	assert_null(memmem(msg1, len1, "hello", 5));
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), 0);
	assert_int_equal(n, 13);
	assert_memory_equal(pl, "hello, server", 13);
	assert_int_equal(bw_crypto_hs_suite(r), 0);

	assert_rc(bw_crypto_hs_write_msg2(r, s[0], (const uint8_t *)"hello, client", 13, msg2,
					  sizeof(msg2), &len2), 0);
	assert_int_equal(len2, 13 + BW_CRYPTO_MSG2_OVERHEAD);
	assert_int_equal(msg2[0], BW_CRYPTO_MSG_HS2);
	assert_null(memmem(msg2, len2, "hello", 5));
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, pl, 13, &n), 0);
	assert_int_equal(n, 13);
	assert_memory_equal(pl, "hello, client", 13);
	assert_int_equal(bw_crypto_hs_suite(i), s[0]);
	assert_int_equal(bw_crypto_hs_suite(r), s[0]);

	/* Fresh ephemerals each time. */
	memcpy(ei, msg1 + 1, 32);
	memcpy(er, msg2 + 1, 32);
	assert_memory_not_equal(ei, er, 32);

	assert_rc(bw_crypto_hs_split(i, BW_CRYPTO_STREAM, &si), 0);
	assert_rc(bw_crypto_hs_split(r, BW_CRYPTO_STREAM, &sr), 0);
	assert_int_equal(bw_crypto_session_suite(si), s[0]);
	assert_int_equal(bw_crypto_session_suite(sr), s[0]);
	/* Per-direction keys: the initiator's tx is the responder's rx, and
	 * the two directions differ. */
	assert_memory_equal(si->tx_base, sr->rx_base, 32);
	assert_memory_equal(si->rx_base, sr->tx_base, 32);
	assert_memory_equal(si->tx_iv, sr->rx_iv, 24);
	assert_memory_not_equal(si->tx_base, si->rx_base, 32);
	/* The handshake's secrets are gone after split. */
	for (size_t k = 0; k < sizeof(i->ss); k++)
		assert_int_equal(((uint8_t *)&i->ss)[k], 0);
	for (size_t k = 0; k < 32; k++)
		assert_int_equal(r->e_priv[k] | i->e_priv[k], 0);
	assert_int_equal(bw_crypto_hs_suite(i), s[0]);

	assert_int_equal(bw_crypto_session_confirmed(sr), 0);
	check_session_pair(si, sr);
	assert_int_equal(bw_crypto_session_confirmed(sr), 1);
	assert_int_equal(bw_crypto_session_confirmed(si), 1);
	bw_crypto_session_free(si);
	bw_crypto_session_free(sr);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

static void test_hs_success_every_suite_and_mode(void **state)
{
	uint8_t s[BW_CRYPTO_SUITES_MAX], ct[64], pt[64];
	size_t n = bw_crypto_suites_local(s), len;
	struct hs_pair p;

	(void)state;
	for (size_t k = 0; k < n; k++) {
		hs_pair_run(&p, s[k], BW_CRYPTO_STREAM);
		check_session_pair(p.si, p.sr);
		hs_pair_free(&p);

		hs_pair_run(&p, s[k], BW_CRYPTO_DGRAM);
		assert_rc(bw_crypto_dgram_seal(p.sr, (const uint8_t *)"dgram", 5, ct, sizeof(ct),
					       &len), 0);
		assert_rc(bw_crypto_dgram_open(p.si, ct, len, pt, sizeof(pt), &len), 0);
		assert_int_equal(len, 5);
		assert_memory_equal(pt, "dgram", 5);
		hs_pair_free(&p);
	}
}

/* Empty payloads may come with NULL buffers on both sides. */
static void test_hs_empty_payloads_null_buffers(void **state)
{
	uint8_t msg1[BW_CRYPTO_MSG1_OVERHEAD], msg2[BW_CRYPTO_MSG2_OVERHEAD];
	size_t len1, len2, n = 99;
	struct bw_crypto_hs *i, *r;
	struct bw_crypto_session *si, *sr;
	int rc;

	(void)state;
	i = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, test_psk, NULL, 0, &rc);
	r = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, test_psk, NULL, 0, &rc);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
	assert_int_equal(len1, BW_CRYPTO_MSG1_OVERHEAD);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_XCHACHA20POLY1305, NULL, 0, msg2,
					  sizeof(msg2), &len2), 0);
	assert_int_equal(len2, BW_CRYPTO_MSG2_OVERHEAD);
	n = 99;
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bw_crypto_hs_suite(i), BW_CRYPTO_XCHACHA20POLY1305);
	assert_rc(bw_crypto_hs_split(i, BW_CRYPTO_DGRAM, &si), 0);
	assert_rc(bw_crypto_hs_split(r, BW_CRYPTO_DGRAM, &sr), 0);
	bw_crypto_session_free(si);
	bw_crypto_session_free(sr);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

static void test_hs_payload_limits(void **state)
{
	static uint8_t big[BW_CRYPTO_HS_PAYLOAD_MAX + 1], got[BW_CRYPTO_HS_PAYLOAD_MAX];
	static uint8_t msg1[BW_CRYPTO_HS_PAYLOAD_MAX + BW_CRYPTO_MSG1_OVERHEAD + 1];
	static uint8_t msg2[BW_CRYPTO_HS_PAYLOAD_MAX + BW_CRYPTO_MSG2_OVERHEAD + 1];
	size_t len1, len2, n;
	struct bw_crypto_hs *i, *r;
	int rc;

	(void)state;
	for (size_t k = 0; k < sizeof(big); k++)
		big[k] = (uint8_t)(k * 7);
	i = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, test_psk, NULL, 0, &rc);
	r = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, test_psk, NULL, 0, &rc);
	/* One byte too many changes nothing; the maximum then goes through. */
	assert_rc(bw_crypto_hs_write_msg1(i, big, sizeof(big), msg1, sizeof(msg1), &len1),
		  BW_E_TOO_BIG);
	assert_rc(bw_crypto_hs_write_msg1(i, big, BW_CRYPTO_HS_PAYLOAD_MAX, msg1, sizeof(msg1),
					  &len1), 0);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, got, sizeof(got), &n), 0);
	assert_int_equal(n, BW_CRYPTO_HS_PAYLOAD_MAX);
	assert_memory_equal(got, big, n);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, big, sizeof(big), msg2,
					  sizeof(msg2), &len2), BW_E_TOO_BIG);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, big,
					  BW_CRYPTO_HS_PAYLOAD_MAX, msg2, sizeof(msg2), &len2), 0);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, got, sizeof(got), &n), 0);
	assert_int_equal(n, BW_CRYPTO_HS_PAYLOAD_MAX);
	assert_memory_equal(got, big, n);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

/* --- Handshake: failures ----------------------------------------------------- */

static struct bw_crypto_hs *new_hs(enum bw_crypto_role role, const uint8_t *psk,
				   const uint8_t *prologue, size_t plen)
{
	int rc = 1;
	struct bw_crypto_hs *hs = bw_crypto_hs_new(role, psk, prologue, plen, &rc);

	assert_non_null(hs);
	assert_rc(rc, 0);
	return hs;
}

/* After a final failure every step, split included, is out of order. */
static void assert_dead(struct bw_crypto_hs *hs)
{
	uint8_t buf[128];
	size_t n;
	struct bw_crypto_session *s = NULL;

	assert_rc(bw_crypto_hs_write_msg1(hs, NULL, 0, buf, sizeof(buf), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_read_msg1(hs, buf, 60, buf, sizeof(buf), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_write_msg2(hs, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, buf,
					  sizeof(buf), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_read_msg2(hs, buf, 60, buf, sizeof(buf), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_split(hs, BW_CRYPTO_STREAM, &s), BW_E_HS_STATE);
	assert_null(s);
	assert_int_equal(bw_crypto_hs_suite(hs), 0);
}

static void test_read_msg1_wrong_psk(void **state)
{
	uint8_t other[32], msg1[128], pl[16];
	size_t len1, n;
	struct bw_crypto_hs *i, *r;

	(void)state;
	memcpy(other, test_psk, 32);
	other[31] ^= 1;
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, test_prologue, sizeof(test_prologue));
	r = new_hs(BW_CRYPTO_RESPONDER, other, test_prologue, sizeof(test_prologue));
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), BW_E_AUTH_FAILED);
	assert_dead(r);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

/* A responder without the PSK cannot answer msg1 so that the initiator
 * accepts. Give the impostor every advantage: it even uses the initiator's
 * own ephemeral (a test hook), so that only the PSK differs. */
static void test_read_msg2_responder_without_psk(void **state)
{
	uint8_t other[32], eph[32], msg1[128], fake1[128], msg2[128], pl[16];
	size_t len1, flen, len2, n;
	struct bw_crypto_hs *i, *fake_i, *fake_r;

	(void)state;
	memcpy(other, test_psk, 32);
	other[0] ^= 1;
	randombytes_buf(eph, sizeof(eph));
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, test_prologue, sizeof(test_prologue));
	bw_crypto__hs_set_ephemeral(i, eph, NULL);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);

	fake_i = new_hs(BW_CRYPTO_INITIATOR, other, test_prologue, sizeof(test_prologue));
	bw_crypto__hs_set_ephemeral(fake_i, eph, NULL);
	assert_rc(bw_crypto_hs_write_msg1(fake_i, NULL, 0, fake1, sizeof(fake1), &flen), 0);
	fake_r = new_hs(BW_CRYPTO_RESPONDER, other, test_prologue, sizeof(test_prologue));
	assert_rc(bw_crypto_hs_read_msg1(fake_r, fake1, flen, pl, sizeof(pl), &n), 0);
	assert_rc(bw_crypto_hs_write_msg2(fake_r, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, msg2,
					  sizeof(msg2), &len2), 0);
	/* Same e on the wire, so only the PSK tells them apart. */
	assert_memory_equal(msg1 + 1, fake1 + 1, 32);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, pl, sizeof(pl), &n), BW_E_AUTH_FAILED);
	assert_dead(i);
	bw_crypto_hs_free(i);

	/* And plain noise of the right shape fails the same way. */
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, test_prologue, sizeof(test_prologue));
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
	randombytes_buf(msg2, sizeof(msg2));
	msg2[0] = BW_CRYPTO_MSG_HS2;
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, BW_CRYPTO_MSG2_OVERHEAD + 4, pl, sizeof(pl), &n),
		  BW_E_AUTH_FAILED);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(fake_i);
	bw_crypto_hs_free(fake_r);
}

/* The prologue carries the plaintext HELLO: an attacker who strips AES-GCM
 * from the offer changes the responder's prologue, and msg1 fails. */
static void test_read_msg1_prologue_mismatch(void **state)
{
	const uint8_t offered[] = "burrow/1 hello v=1 suites=1,2,3";
	const uint8_t stripped[] = "burrow/1 hello v=1 suites=3";
	uint8_t msg1[128], pl[16];
	size_t len1, n;
	struct bw_crypto_hs *i, *r;

	(void)state;
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, offered, sizeof(offered));
	r = new_hs(BW_CRYPTO_RESPONDER, test_psk, stripped, sizeof(stripped));
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), BW_E_AUTH_FAILED);
	bw_crypto_hs_free(r);
	/* Even an empty prologue against a non-empty one. */
	r = new_hs(BW_CRYPTO_RESPONDER, test_psk, NULL, 0);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), BW_E_AUTH_FAILED);
	bw_crypto_hs_free(r);
	bw_crypto_hs_free(i);
}

/* Expected code for msg with one byte changed, cut or added. */
static int read1(const uint8_t *msg, size_t len)
{
	uint8_t pl[BW_CRYPTO_HS_PAYLOAD_MAX];
	size_t n;
	struct bw_crypto_hs *r = new_hs(BW_CRYPTO_RESPONDER, test_psk, test_prologue,
					sizeof(test_prologue));
	int rc = bw_crypto_hs_read_msg1(r, msg, len, pl, sizeof(pl), &n);

	bw_crypto_hs_free(r);
	return rc;
}

static void test_read_msg1_tampered_truncated_extended(void **state)
{
	uint8_t msg1[64 + BW_CRYPTO_MSG1_OVERHEAD + 1];
	size_t len1;
	struct bw_crypto_hs *i;

	(void)state;
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, test_prologue, sizeof(test_prologue));
	assert_rc(bw_crypto_hs_write_msg1(i, (const uint8_t *)"payload!", 8, msg1, sizeof(msg1),
					  &len1), 0);
	assert_rc(read1(msg1, len1), 0);
	for (size_t k = 0; k < len1; k++) {
		for (int bit = 0; bit < 8; bit += 7) {
			msg1[k] ^= (uint8_t)(1u << bit);
			assert_rc(read1(msg1, len1), k == 0 ? BW_E_MSG_UNKNOWN : BW_E_AUTH_FAILED);
			msg1[k] ^= (uint8_t)(1u << bit);
		}
	}
	for (size_t k = 0; k < len1; k++)
		assert_rc(read1(msg1, k), k < BW_CRYPTO_MSG1_OVERHEAD ? BW_E_TRUNCATED
								       : BW_E_AUTH_FAILED);
	msg1[len1] = 0;
	assert_rc(read1(msg1, len1 + 1), BW_E_AUTH_FAILED);
	assert_rc(read1(msg1, BW_CRYPTO_MSG1_OVERHEAD + BW_CRYPTO_HS_PAYLOAD_MAX + 1),
		  BW_E_TOO_BIG);
	assert_rc(read1(msg1, len1), 0);
	bw_crypto_hs_free(i);
}

/* msg2 against the initiator that made msg1: rebuilt from a fixed ephemeral
 * for every attempt, since each failure is final. */
static int read2(const uint8_t eph[32], const uint8_t *msg2, size_t len)
{
	uint8_t msg1[128], pl[BW_CRYPTO_HS_PAYLOAD_MAX];
	size_t n;
	struct bw_crypto_hs *i = new_hs(BW_CRYPTO_INITIATOR, test_psk, test_prologue,
					sizeof(test_prologue));
	int rc;

	bw_crypto__hs_set_ephemeral(i, eph, NULL);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &n), 0);
	rc = bw_crypto_hs_read_msg2(i, msg2, len, pl, sizeof(pl), &n);
	bw_crypto_hs_free(i);
	return rc;
}

static void test_read_msg2_tampered_truncated_extended(void **state)
{
	uint8_t eph[32], msg1[128], msg2[64 + BW_CRYPTO_MSG2_OVERHEAD + 1], pl[16];
	size_t len1, len2, n;
	struct bw_crypto_hs *i, *r;

	(void)state;
	randombytes_buf(eph, sizeof(eph));
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, test_prologue, sizeof(test_prologue));
	bw_crypto__hs_set_ephemeral(i, eph, NULL);
	r = new_hs(BW_CRYPTO_RESPONDER, test_psk, test_prologue, sizeof(test_prologue));
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), 0);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, (const uint8_t *)"ok", 2,
					  msg2, sizeof(msg2), &len2), 0);
	assert_rc(read2(eph, msg2, len2), 0);
	for (size_t k = 0; k < len2; k++) {
		msg2[k] ^= 0x01;
		assert_rc(read2(eph, msg2, len2), k == 0 ? BW_E_MSG_UNKNOWN : BW_E_AUTH_FAILED);
		msg2[k] ^= 0x01;
	}
	for (size_t k = 0; k < len2; k++)
		assert_rc(read2(eph, msg2, k), k < BW_CRYPTO_MSG2_OVERHEAD ? BW_E_TRUNCATED
									: BW_E_AUTH_FAILED);
	msg2[len2] = 0;
	assert_rc(read2(eph, msg2, len2 + 1), BW_E_AUTH_FAILED);
	assert_rc(read2(eph, msg2, BW_CRYPTO_MSG2_OVERHEAD + BW_CRYPTO_HS_PAYLOAD_MAX + 1),
		  BW_E_TOO_BIG);
	/* The genuine one still works, and its payload comes out. */
	assert_rc(read2(eph, msg2, len2), 0);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

/* An attacker replays a recorded msg1 to a second responder. That responder
 * accepts it (NNpsk0 cannot tell) and answers, but its session is useless to
 * the attacker and never confirmed: records from the real initiator's
 * session do not open, nor do forged ones. */
static void test_read_msg1_replayed(void **state)
{
	uint8_t msg2b[128], pl[16], ct[64], pt[64];
	size_t len2b, n, len;
	struct hs_pair p;
	struct bw_crypto_hs *r2;
	struct bw_crypto_session *s2;

	(void)state;
	hs_pair_run(&p, BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM);
	r2 = new_hs(BW_CRYPTO_RESPONDER, test_psk, test_prologue, sizeof(test_prologue));
	assert_rc(bw_crypto_hs_read_msg1(r2, p.msg1, p.len1, pl, sizeof(pl), &n), 0);
	assert_rc(bw_crypto_hs_write_msg2(r2, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, msg2b,
					  sizeof(msg2b), &len2b), 0);
	assert_rc(bw_crypto_hs_split(r2, BW_CRYPTO_STREAM, &s2), 0);
	/* A fresh responder ephemeral: different keys from the real session. */
	assert_memory_not_equal(msg2b + 1, p.msg2 + 1, 32);
	assert_memory_not_equal(s2->rx_base, p.sr->rx_base, 32);

	/* The real initiator's record, meant for the real responder. */
	assert_rc(bw_crypto_seal(p.si, NULL, 0, (const uint8_t *)"login", 5, ct, sizeof(ct), &len),
		  0);
	assert_rc(bw_crypto_open(s2, NULL, 0, ct, len, pt, sizeof(pt), &n), BW_E_DECRYPT);
	randombytes_buf(ct, len);
	assert_rc(bw_crypto_open(s2, NULL, 0, ct, len, pt, sizeof(pt), &n), BW_E_DECRYPT);
	assert_int_equal(bw_crypto_session_confirmed(s2), 0);
	/* What the replayed responder sends, the initiator cannot read either. */
	assert_rc(bw_crypto_seal(s2, NULL, 0, (const uint8_t *)"welcome", 7, ct, sizeof(ct), &len),
		  0);
	assert_rc(bw_crypto_open(p.si, NULL, 0, ct, len, pt, sizeof(pt), &n), BW_E_DECRYPT);
	/* The real pair is unaffected, and confirms on its first record. */
	assert_int_equal(bw_crypto_session_confirmed(p.sr), 0);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, (const uint8_t *)"login", 5, ct, sizeof(ct), &len),
		  0);
	assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, len, pt, sizeof(pt), &n), BW_E_DECRYPT);
	bw_crypto__session_set_counters(p.si, 0, 0); /* reseal counter 0 for the real one */
	assert_rc(bw_crypto_seal(p.si, NULL, 0, (const uint8_t *)"login", 5, ct, sizeof(ct), &len),
		  0);
	assert_rc(bw_crypto_open(p.sr, NULL, 0, ct, len, pt, sizeof(pt), &n), 0);
	assert_memory_equal(pt, "login", 5);
	assert_int_equal(bw_crypto_session_confirmed(p.sr), 1);
	check_session_pair(p.si, p.sr);
	assert_int_equal(bw_crypto_session_confirmed(p.sr), 1);
	bw_crypto_session_free(s2);
	bw_crypto_hs_free(r2);
	hs_pair_free(&p);
}

/* An ephemeral of small order makes the DH all zero: refused on both sides. */
static void test_hs_low_order_point(void **state)
{
	static const char *const points[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	uint8_t bad[32], priv[32], msg1[128], msg2[128], pl[16];
	size_t len1, len2, n;
	struct bw_crypto_hs *i, *r;

	(void)state;
	randombytes_buf(priv, sizeof(priv));
	for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
		unhex(points[k], bad, sizeof(bad));
		/* A PSK holder sends a low-order e in msg1: the responder's DH. */
		i = new_hs(BW_CRYPTO_INITIATOR, test_psk, NULL, 0);
		r = new_hs(BW_CRYPTO_RESPONDER, test_psk, NULL, 0);
		bw_crypto__hs_set_ephemeral(i, priv, bad);
		assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
		assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), 0);
		assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, msg2,
						  sizeof(msg2), &len2), BW_E_AUTH_FAILED);
		assert_dead(r);
		bw_crypto_hs_free(i);
		bw_crypto_hs_free(r);

		/* ... and in msg2 from a PSK-holding responder: the initiator's DH. */
		i = new_hs(BW_CRYPTO_INITIATOR, test_psk, NULL, 0);
		r = new_hs(BW_CRYPTO_RESPONDER, test_psk, NULL, 0);
		bw_crypto__hs_set_ephemeral(r, priv, bad);
		assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
		assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), 0);
		assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, msg2,
						  sizeof(msg2), &len2), 0);
		assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, pl, sizeof(pl), &n),
			  BW_E_AUTH_FAILED);
		assert_dead(i);
		bw_crypto_hs_free(i);
		bw_crypto_hs_free(r);
	}
}

/* The responder picks a suite the initiator cannot run. */
static void test_read_msg2_unsupported_suite(void **state)
{
	uint8_t msg1[128], msg2[128], pl[16];
	const uint8_t bogus[] = {0x7f, 'x'};
	size_t len1, n;
	struct bw_crypto_hs *i, *r;

	(void)state;
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, NULL, 0);
	r = new_hs(BW_CRYPTO_RESPONDER, test_psk, NULL, 0);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), 0);
	/* The public call refuses, changing nothing ... */
	assert_rc(bw_crypto_hs_write_msg2(r, 0x7f, NULL, 0, msg2, sizeof(msg2), &n),
		  BW_E_UNSUPPORTED);
	assert_rc(bw_crypto_hs_write_msg2(r, 0, NULL, 0, msg2, sizeof(msg2), &n), BW_E_UNSUPPORTED);
	/* ... so write the authentic msg2 through the internal step. */
	msg2[0] = BW_CRYPTO_MSG_HS2;
	assert_rc(bw_crypto__hs_write(r, bogus, sizeof(bogus), msg2 + 1), 0);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, 1 + 32 + sizeof(bogus) + 16, pl, sizeof(pl), &n),
		  BW_E_UNSUPPORTED);
	assert_dead(i);
	/* The responder went through the internal step, which sets no suite:
	 * split refuses rather than run an unknown one. */
	{
		struct bw_crypto_session *s = NULL;

		assert_rc(bw_crypto_hs_split(r, BW_CRYPTO_STREAM, &s), BW_E_UNSUPPORTED);
		assert_null(s);
	}
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

/* Messages sent back to their author fail: the type, then the keys. */
static void test_hs_reflection(void **state)
{
	uint8_t msg1[128], pl[16] = {0}, ct[64], pt[64];
	size_t len1, n, len;
	struct bw_crypto_hs *i;
	struct hs_pair p;

	(void)state;
	/* One payload byte, so that msg1 is as long as a msg2. */
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, NULL, 0);
	assert_rc(bw_crypto_hs_write_msg1(i, pl, 1, msg1, sizeof(msg1), &len1), 0);
	assert_rc(bw_crypto_hs_read_msg2(i, msg1, len1, pl, sizeof(pl), &n), BW_E_MSG_UNKNOWN);
	bw_crypto_hs_free(i);
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, NULL, 0);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
	msg1[0] = BW_CRYPTO_MSG_HS2;
	msg1[len1] = 0; /* msg2 is one byte longer */
	assert_rc(bw_crypto_hs_read_msg2(i, msg1, len1 + 1, pl, sizeof(pl), &n), BW_E_AUTH_FAILED);
	bw_crypto_hs_free(i);

	hs_pair_run(&p, BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM);
	assert_rc(bw_crypto_seal(p.si, NULL, 0, (const uint8_t *)"echo", 4, ct, sizeof(ct), &len),
		  0);
	assert_rc(bw_crypto_open(p.si, NULL, 0, ct, len, pt, sizeof(pt), &n), BW_E_DECRYPT);
	hs_pair_free(&p);
}

static void test_hs_out_of_order_calls(void **state)
{
	uint8_t msg1[128], msg2[128], pl[16];
	size_t len1, len2, n;
	struct bw_crypto_hs *i, *r;
	struct bw_crypto_session *s = NULL;

	(void)state;
	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, NULL, 0);
	r = new_hs(BW_CRYPTO_RESPONDER, test_psk, NULL, 0);
	/* Wrong role, or too early: nothing changes. */
	assert_rc(bw_crypto_hs_read_msg1(i, msg1, 60, pl, sizeof(pl), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_write_msg2(i, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, msg2,
					  sizeof(msg2), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, 60, pl, sizeof(pl), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_split(i, BW_CRYPTO_STREAM, &s), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_write_msg1(r, NULL, 0, msg1, sizeof(msg1), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, msg2,
					  sizeof(msg2), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_read_msg2(r, msg2, 60, pl, sizeof(pl), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_split(r, BW_CRYPTO_STREAM, &s), BW_E_HS_STATE);

	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &len1), 0);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_split(i, BW_CRYPTO_STREAM, &s), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), 0);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_split(r, BW_CRYPTO_STREAM, &s), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, msg2,
					  sizeof(msg2), &len2), 0);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, NULL, 0, msg2,
					  sizeof(msg2), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, pl, sizeof(pl), &n), 0);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, pl, sizeof(pl), &n), BW_E_HS_STATE);
	assert_null(s);

	/* Split once; after it, every step is out of order. */
	assert_rc(bw_crypto_hs_split(i, BW_CRYPTO_STREAM, &s), 0);
	bw_crypto_session_free(s);
	s = NULL;
	assert_rc(bw_crypto_hs_split(i, BW_CRYPTO_STREAM, &s), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, pl, sizeof(pl), &n), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_split(r, BW_CRYPTO_STREAM, &s), 0);
	bw_crypto_session_free(s);
	s = NULL;
	assert_rc(bw_crypto_hs_split(r, BW_CRYPTO_STREAM, &s), BW_E_HS_STATE);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, sizeof(pl), &n), BW_E_HS_STATE);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

static void test_hs_bad_arguments(void **state)
{
	uint8_t msg1[128], msg2[128], pl[16];
	size_t len1, len2, n;
	struct bw_crypto_hs *i, *r;
	struct bw_crypto_session *s = NULL;
	int rc = 0;

	(void)state;
	assert_null(bw_crypto_hs_new((enum bw_crypto_role)7, test_psk, NULL, 0, &rc));
	assert_rc(rc, BW_E_INVAL);
	assert_null(bw_crypto_hs_new(BW_CRYPTO_INITIATOR, NULL, NULL, 0, &rc));
	assert_rc(rc, BW_E_INVAL);
	assert_null(bw_crypto_hs_new(BW_CRYPTO_INITIATOR, test_psk, NULL, 5, &rc));
	assert_rc(rc, BW_E_INVAL);
	assert_null(bw_crypto_hs_new(BW_CRYPTO_INITIATOR, test_psk, test_prologue,
				     BW_CRYPTO_PROLOGUE_MAX + 1, &rc));
	assert_rc(rc, BW_E_TOO_BIG);
	assert_null(bw_crypto_hs_new(BW_CRYPTO_INITIATOR, NULL, NULL, 0, NULL)); /* rc optional */

	i = new_hs(BW_CRYPTO_INITIATOR, test_psk, NULL, 0);
	r = new_hs(BW_CRYPTO_RESPONDER, test_psk, NULL, 0);
	/* Argument errors change nothing: the same step then succeeds. */
	assert_rc(bw_crypto_hs_write_msg1(NULL, NULL, 0, msg1, sizeof(msg1), &n), BW_E_INVAL);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 3, msg1, sizeof(msg1), &n), BW_E_INVAL);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, NULL, sizeof(msg1), &n), BW_E_INVAL);
	assert_rc(bw_crypto_hs_write_msg1(i, NULL, 0, msg1, sizeof(msg1), NULL), BW_E_INVAL);
	assert_rc(bw_crypto_hs_write_msg1(i, pl, 2, msg1, 2 + BW_CRYPTO_MSG1_OVERHEAD - 1, &n),
		  BW_E_RANGE);
	memset(pl, 'p', sizeof(pl));
	assert_rc(bw_crypto_hs_write_msg1(i, pl, 2, msg1, 2 + BW_CRYPTO_MSG1_OVERHEAD, &len1), 0);
	assert_rc(bw_crypto_hs_read_msg1(r, NULL, len1, pl, sizeof(pl), &n), BW_E_INVAL);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, 1, &n), BW_E_RANGE);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, NULL, 0, &n), BW_E_RANGE);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, 2, NULL), BW_E_INVAL);
	assert_rc(bw_crypto_hs_read_msg1(r, msg1, len1, pl, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, pl, 3, msg2,
					  3 + BW_CRYPTO_MSG2_OVERHEAD - 1, &n), BW_E_RANGE);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, pl, 3, NULL, 100, &n),
		  BW_E_INVAL);
	assert_rc(bw_crypto_hs_write_msg2(r, BW_CRYPTO_CHACHA20POLY1305, pl, 3, msg2,
					  3 + BW_CRYPTO_MSG2_OVERHEAD, &len2), 0);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, pl, 2, &n), BW_E_RANGE);
	assert_rc(bw_crypto_hs_read_msg2(i, msg2, len2, pl, 3, &n), 0);
	assert_rc(bw_crypto_hs_split(i, (enum bw_crypto_mode)0, &s), BW_E_INVAL);
	assert_rc(bw_crypto_hs_split(i, BW_CRYPTO_STREAM, NULL), BW_E_INVAL);
	assert_rc(bw_crypto_hs_split(NULL, BW_CRYPTO_STREAM, &s), BW_E_INVAL);
	assert_rc(bw_crypto_hs_split(i, BW_CRYPTO_STREAM, &s), 0);
	bw_crypto_session_free(s);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

/* The mode and the suite are in the record keys: two sides that disagree
 * on either fail their first record instead of misreading it. */
static void test_hs_split_mode_and_suite_bound(void **state)
{
	uint8_t c1[32], c2[32], x[64];
	struct bw_crypto_session *a, *b;

	(void)state;
	randombytes_buf(c1, sizeof(c1));
	randombytes_buf(c2, sizeof(c2));
	randombytes_buf(x, sizeof(x));
	a = bw_crypto__session_new(BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM, c1, c2, x);
	b = bw_crypto__session_new(BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_DGRAM, c1, c2, x);
	assert_memory_not_equal(a->tx_base, b->tx_base, 32);
	assert_memory_not_equal(a->rx_base, b->rx_base, 32);
	assert_memory_not_equal(a->tx_iv, b->tx_iv, 12);
	bw_crypto_session_free(b);
	b = bw_crypto__session_new(BW_CRYPTO_XCHACHA20POLY1305, BW_CRYPTO_STREAM, c1, c2, x);
	assert_memory_not_equal(a->tx_base, b->tx_base, 32);
	assert_memory_not_equal(a->tx_iv, b->tx_iv, 12);
	bw_crypto_session_free(b);
	bw_crypto_session_free(a);
}

static void test_session_export(void **state)
{
	uint8_t a[64], b[64], c[64];
	struct hs_pair p, q;

	(void)state;
	hs_pair_run(&p, BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM);
	hs_pair_run(&q, BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM);
	assert_rc(bw_crypto_session_export(p.si, "work-ticket", a, 32), 0);
	assert_rc(bw_crypto_session_export(p.sr, "work-ticket", b, 32), 0);
	assert_memory_equal(a, b, 32);
	assert_rc(bw_crypto_session_export(p.si, "work-tickets", c, 32), 0);
	assert_memory_not_equal(a, c, 32);
	assert_rc(bw_crypto_session_export(q.si, "work-ticket", c, 32), 0);
	assert_memory_not_equal(a, c, 32);
	/* A shorter export is not a prefix of a longer one. */
	assert_rc(bw_crypto_session_export(p.si, "work-ticket", c, 16), 0);
	assert_memory_not_equal(a, c, 16);
	assert_rc(bw_crypto_session_export(p.si, "work-ticket", c, 64), 0);
	assert_rc(bw_crypto_session_export(p.si, "work-ticket", c, 15), BW_E_RANGE);
	assert_rc(bw_crypto_session_export(p.si, "work-ticket", c, 65), BW_E_RANGE);
	assert_rc(bw_crypto_session_export(p.si, "", c, 32), BW_E_INVAL);
	assert_rc(bw_crypto_session_export(p.si, NULL, c, 32), BW_E_INVAL);
	assert_rc(bw_crypto_session_export(NULL, "x", c, 32), BW_E_INVAL);
	assert_rc(bw_crypto_session_export(p.si, "x", NULL, 32), BW_E_INVAL);
	hs_pair_free(&p);
	hs_pair_free(&q);
}

static void test_free_null(void **state)
{
	(void)state;
	bw_crypto_hs_free(NULL);
	bw_crypto_session_free(NULL);
	assert_int_equal(bw_crypto_hs_suite(NULL), 0);
	assert_int_equal(bw_crypto_session_suite(NULL), 0);
	assert_int_equal(bw_crypto_session_confirmed(NULL), 0);
	assert_rc(bw_crypto_init(), 0);
	assert_rc(bw_crypto_init(), 0);
}

/* Work connections: both ends build a session from the same exported key;
 * records cross in both directions, and a different label or role does not
 * interoperate. */
static void test_session_from_key(void **state)
{
	uint8_t key[32], pt[64], ct[64 + BW_CRYPTO_RECORD_OVERHEAD], out[64];
	size_t n, m;
	int rc;
	struct bw_crypto_session *i, *r, *other;

	(void)state;
	memset(key, 7, sizeof(key));
	memset(pt, 'x', sizeof(pt));
	i = bw_crypto_session_from_key(key, "burrow work 1", BW_CRYPTO_INITIATOR,
				       BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM, &rc);
	r = bw_crypto_session_from_key(key, "burrow work 1", BW_CRYPTO_RESPONDER,
				       BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM, &rc);
	other = bw_crypto_session_from_key(key, "burrow work 2", BW_CRYPTO_RESPONDER,
					   BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM, &rc);
	assert_non_null(i);
	assert_non_null(r);
	assert_non_null(other);
	assert_int_equal(bw_crypto_seal(i, NULL, 0, pt, sizeof(pt), ct, sizeof(ct), &n), 0);
	assert_int_equal(bw_crypto_open(other, NULL, 0, ct, n, out, sizeof(out), &m), BW_E_DECRYPT);
	assert_int_equal(bw_crypto_open(r, NULL, 0, ct, n, out, sizeof(out), &m), 0);
	assert_memory_equal(out, pt, sizeof(pt));
	assert_int_equal(bw_crypto_seal(r, NULL, 0, pt, sizeof(pt), ct, sizeof(ct), &n), 0);
	assert_int_equal(bw_crypto_open(i, NULL, 0, ct, n, out, sizeof(out), &m), 0);
	assert_null(bw_crypto_session_from_key(key, "", BW_CRYPTO_INITIATOR,
					       BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	assert_null(bw_crypto_session_from_key(key, "x", BW_CRYPTO_INITIATOR, 99,
					       BW_CRYPTO_STREAM, &rc));
	assert_int_equal(rc, BW_E_UNSUPPORTED);
	bw_crypto_session_free(i);
	bw_crypto_session_free(r);
	bw_crypto_session_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hs_noise_vector_cacophony),
		cmocka_unit_test(test_psk_from_token_known_answer),
		cmocka_unit_test(test_psk_from_secret_known_answer),
		cmocka_unit_test(test_psk_from_secret_domain_separated),
		cmocka_unit_test(test_mac_verify),
		cmocka_unit_test(test_suites_local_order),
		cmocka_unit_test(test_suite_pick),
		cmocka_unit_test(test_hs_success_payloads_both_ways),
		cmocka_unit_test(test_hs_success_every_suite_and_mode),
		cmocka_unit_test(test_hs_empty_payloads_null_buffers),
		cmocka_unit_test(test_hs_payload_limits),
		cmocka_unit_test(test_read_msg1_wrong_psk),
		cmocka_unit_test(test_read_msg2_responder_without_psk),
		cmocka_unit_test(test_read_msg1_prologue_mismatch),
		cmocka_unit_test(test_read_msg1_tampered_truncated_extended),
		cmocka_unit_test(test_read_msg2_tampered_truncated_extended),
		cmocka_unit_test(test_read_msg1_replayed),
		cmocka_unit_test(test_hs_low_order_point),
		cmocka_unit_test(test_read_msg2_unsupported_suite),
		cmocka_unit_test(test_hs_reflection),
		cmocka_unit_test(test_hs_out_of_order_calls),
		cmocka_unit_test(test_hs_bad_arguments),
		cmocka_unit_test(test_hs_split_mode_and_suite_bound),
		cmocka_unit_test(test_session_export),
		cmocka_unit_test(test_session_from_key),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, test_crypto_setup, NULL);
}
