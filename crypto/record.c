/*
 * Sessions and stream records.
 *
 * Key schedule after the handshake (docs/CRYPTO.md has the picture):
 *   c (Noise Split, one per direction)
 *     base = BLAKE2b("bw1-rec-base", key c, suite, mode)
 *     iv   = BLAKE2b("bw1-rec-iv",   key c, suite, mode)   nonce-sized
 *     key(epoch) = BLAKE2b("bw1-epoch-key", key base, epoch)
 *   nonce(counter) = iv XOR counter (big endian, in the last 8 bytes)
 * Suite and mode are in every key, so two sides that disagree on either
 * fail their first record instead of misreading each other. The secret IV
 * (as TLS 1.3 does) keeps nonces unpredictable across sessions, which
 * matters for AES-GCM's multi-key bounds. Counters never repeat within a
 * direction, so no (key, nonce) pair is ever used twice.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto_int.h"

static size_t nonce_len(uint8_t suite)
{
	return suite == BW_CRYPTO_XCHACHA20POLY1305 ? crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
						    : crypto_aead_chacha20poly1305_ietf_NPUBBYTES;
}

static void derive_dir(uint8_t suite, uint8_t mode, const uint8_t c[32], uint8_t base[32],
		       uint8_t iv[24])
{
	const struct bw_kdf_field f[2] = {{&suite, 1}, {&mode, 1}};

	bw_crypto__kdf("bw1-rec-base", c, 32, f, 2, base, 32);
	/* BLAKE2b's shortest output is 16 bytes: derive 24 and use the nonce's
	 * length of it. */
	bw_crypto__kdf("bw1-rec-iv", c, 32, f, 2, iv, 24);
}

void bw_crypto__key_derive(const struct bw_crypto_session *s, const uint8_t base[32],
			   uint64_t epoch, struct bw_crypto_key *k)
{
	uint8_t e[8], key[32];
	const struct bw_kdf_field f = {e, sizeof(e)};

	for (int i = 0; i < 8; i++)
		e[i] = (uint8_t)(epoch >> (56 - 8 * i));
	bw_crypto__kdf("bw1-epoch-key", base, 32, &f, 1, key, sizeof(key));
	bw_crypto__key_wipe(k);
	if (s->suite == BW_CRYPTO_AES256GCM)
		crypto_aead_aes256gcm_beforenm(&k->k.aes, key); /* expands the key once */
	else
		memcpy(k->k.raw, key, sizeof(key));
	k->epoch = epoch;
	k->ready = 1;
	sodium_memzero(key, sizeof(key));
}

void bw_crypto__key_wipe(struct bw_crypto_key *k)
{
	sodium_memzero(k, sizeof(*k));
}

struct bw_crypto_session *bw_crypto__session_new(uint8_t suite, enum bw_crypto_mode mode,
						 const uint8_t tx[32], const uint8_t rx[32],
						 const uint8_t exporter[BW_NOISE_HASHLEN])
{
	struct bw_crypto_session *s;
	/* aligned_alloc wants a size that is a multiple of the alignment. */
	size_t align = alignof(struct bw_crypto_session);
	size_t size = (sizeof(*s) + align - 1) / align * align;

	s = aligned_alloc(align, size);
	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->suite = suite;
	s->mode = (uint8_t)mode;
	s->tx_limit = UINT64_MAX;
	derive_dir(suite, s->mode, tx, s->tx_base, s->tx_iv);
	derive_dir(suite, s->mode, rx, s->rx_base, s->rx_iv);
	memcpy(s->exporter, exporter, BW_NOISE_HASHLEN);
	bw_crypto_replay_init(&s->window);
	bw_crypto__key_derive(s, s->tx_base, 0, &s->tx);
	bw_crypto__key_derive(s, s->rx_base, 0, &s->rx);
	return s;
}

void bw_crypto_session_free(struct bw_crypto_session *s)
{
	if (!s)
		return;
	sodium_memzero(s, sizeof(*s));
	free(s);
}

int bw_crypto_session_suite(const struct bw_crypto_session *s)
{
	return s ? s->suite : 0;
}

int bw_crypto_session_confirmed(const struct bw_crypto_session *s)
{
	return s ? s->confirmed : 0;
}

int bw_crypto_session_export(const struct bw_crypto_session *s, const char *label,
			     uint8_t *out, size_t len)
{
	struct bw_kdf_field f;

	if (!s || !label || !*label || !out)
		return BW_E_INVAL;
	if (len < BW_CRYPTO_EXPORT_MIN || len > BW_CRYPTO_EXPORT_MAX)
		return BW_E_RANGE;
	f = (struct bw_kdf_field){label, strlen(label)};
	/* The output length is part of BLAKE2b's parameter block, so a 16-byte
	 * export is not a prefix of a 32-byte one under the same label. */
	bw_crypto__kdf("bw1-export", s->exporter, sizeof(s->exporter), &f, 1, out, len);
	return 0;
}

int bw_crypto_session_set_limit(struct bw_crypto_session *s, uint64_t max_records)
{
	if (!s)
		return BW_E_INVAL;
	s->tx_limit = max_records;
	return 0;
}

static void make_nonce(const struct bw_crypto_session *s, const uint8_t *iv, uint64_t counter,
		       uint8_t nonce[24])
{
	size_t n = nonce_len(s->suite);

	memcpy(nonce, iv, n);
	for (int i = 0; i < 8; i++)
		nonce[n - 1 - i] ^= (uint8_t)(counter >> (8 * i));
}

void bw_crypto__aead_seal(const struct bw_crypto_session *s, const struct bw_crypto_key *k,
			  const uint8_t *iv, uint64_t counter, const uint8_t *ad, size_t adlen,
			  const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t nonce[24];

	make_nonce(s, iv, counter, nonce);
	/* Encryption cannot fail for lengths within the records' limits. */
	switch (s->suite) {
	case BW_CRYPTO_AES256GCM:
		crypto_aead_aes256gcm_encrypt_afternm(out, NULL, pt, len, ad, adlen, NULL, nonce,
						      &k->k.aes);
		break;
	case BW_CRYPTO_CHACHA20POLY1305:
		crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, adlen, NULL,
							  nonce, k->k.raw);
		break;
	default: /* BW_CRYPTO_XCHACHA20POLY1305: split admits no other */
		crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad, adlen, NULL,
							   nonce, k->k.raw);
		break;
	}
}

int bw_crypto__aead_open(const struct bw_crypto_session *s, const struct bw_crypto_key *k,
			 const uint8_t *iv, uint64_t counter, const uint8_t *ad, size_t adlen,
			 const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t nonce[24];
	int rc;

	make_nonce(s, iv, counter, nonce);
	switch (s->suite) {
	case BW_CRYPTO_AES256GCM:
		rc = crypto_aead_aes256gcm_decrypt_afternm(out, NULL, NULL, ct, len, ad, adlen,
							   nonce, &k->k.aes);
		break;
	case BW_CRYPTO_CHACHA20POLY1305:
		rc = crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, ad, adlen,
							       nonce, k->k.raw);
		break;
	default: /* BW_CRYPTO_XCHACHA20POLY1305 */
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, ad,
								adlen, nonce, k->k.raw);
		break;
	}
	if (rc != 0) {
		/* Never hand out unauthenticated plaintext, whatever the suite. */
		if (len > BW_NOISE_TAGLEN)
			sodium_memzero(out, len - BW_NOISE_TAGLEN);
		return BW_E_DECRYPT;
	}
	return 0;
}

static int args_check(const struct bw_crypto_session *s, enum bw_crypto_mode mode,
		      const uint8_t *ad, size_t adlen, const uint8_t *in, size_t len,
		      const uint8_t *out, const size_t *outlen)
{
	if (!s || !out || !outlen || (!ad && adlen) || (!in && len))
		return BW_E_INVAL;
	return s->mode == mode ? 0 : BW_E_INVAL;
}

int bw_crypto_seal(struct bw_crypto_session *s, const uint8_t *ad, size_t adlen,
		   const uint8_t *pt, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	uint64_t c;
	int rc = args_check(s, BW_CRYPTO_STREAM, ad, adlen, pt, len, out, outlen);

	if (rc < 0)
		return rc;
	if (len > BW_CRYPTO_RECORD_MAX)
		return BW_E_TOO_BIG;
	if (cap < len + BW_CRYPTO_RECORD_OVERHEAD)
		return BW_E_RANGE;
	/* UINT64_MAX is never used, so the counter cannot wrap. */
	c = s->tx_counter;
	if (c >= s->tx_limit || c == UINT64_MAX)
		return BW_E_NONCE_EXHAUSTED;
	if (s->tx.epoch != c >> BW_CRYPTO_EPOCH_SHIFT)
		bw_crypto__key_derive(s, s->tx_base, c >> BW_CRYPTO_EPOCH_SHIFT, &s->tx);
	bw_crypto__aead_seal(s, &s->tx, s->tx_iv, c, ad, adlen, pt, len, out);
	s->tx_counter = c + 1;
	*outlen = len + BW_CRYPTO_RECORD_OVERHEAD;
	return 0;
}

int bw_crypto_open(struct bw_crypto_session *s, const uint8_t *ad, size_t adlen,
		   const uint8_t *ct, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	uint64_t c;
	int rc = args_check(s, BW_CRYPTO_STREAM, ad, adlen, ct, len, out, outlen);

	if (rc < 0)
		return rc;
	/* Shorter than a tag: a truncated record, like any other bad one. */
	if (len < BW_CRYPTO_RECORD_OVERHEAD)
		return BW_E_DECRYPT;
	if (len > BW_CRYPTO_RECORD_MAX + BW_CRYPTO_RECORD_OVERHEAD)
		return BW_E_TOO_BIG;
	if (cap < len - BW_CRYPTO_RECORD_OVERHEAD)
		return BW_E_RANGE;
	c = s->rx_counter;
	if (c == UINT64_MAX)
		return BW_E_NONCE_EXHAUSTED;
	/* Re-deriving the epoch key is a cache refill: a failed open below
	 * still leaves the session exactly as it was. */
	if (s->rx.epoch != c >> BW_CRYPTO_EPOCH_SHIFT)
		bw_crypto__key_derive(s, s->rx_base, c >> BW_CRYPTO_EPOCH_SHIFT, &s->rx);
	rc = bw_crypto__aead_open(s, &s->rx, s->rx_iv, c, ad, adlen, ct, len, out);
	if (rc < 0)
		return rc;
	s->rx_counter = c + 1;
	s->confirmed = 1;
	*outlen = len - BW_CRYPTO_RECORD_OVERHEAD;
	return 0;
}

void bw_crypto__session_set_counters(struct bw_crypto_session *s, uint64_t tx, uint64_t rx)
{
	s->tx_counter = tx;
	s->rx_counter = rx;
	bw_crypto_replay_init(&s->window);
}

struct bw_crypto_session *bw_crypto_session_from_key(const uint8_t key[32], const char *label,
						     enum bw_crypto_role role, uint8_t suite,
						     enum bw_crypto_mode mode, int *rc)
{
	uint8_t c1[32], c2[32], exporter[BW_NOISE_HASHLEN];
	struct bw_kdf_field f;
	struct bw_crypto_session *s;

	if (!key || !label || !*label || (mode != BW_CRYPTO_STREAM && mode != BW_CRYPTO_DGRAM)) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	if (!bw_crypto__suite_local(suite)) {
		*rc = BW_E_UNSUPPORTED;
		return NULL;
	}
	f = (struct bw_kdf_field){label, strlen(label)};
	bw_crypto__kdf("bw1-fromkey-c1", key, 32, &f, 1, c1, sizeof(c1));
	bw_crypto__kdf("bw1-fromkey-c2", key, 32, &f, 1, c2, sizeof(c2));
	bw_crypto__kdf("bw1-fromkey-exp", key, 32, &f, 1, exporter, sizeof(exporter));
	s = role == BW_CRYPTO_INITIATOR ? bw_crypto__session_new(suite, mode, c1, c2, exporter)
					: bw_crypto__session_new(suite, mode, c2, c1, exporter);
	sodium_memzero(c1, sizeof(c1));
	sodium_memzero(c2, sizeof(c2));
	sodium_memzero(exporter, sizeof(exporter));
	*rc = s ? 0 : BW_E_NOMEM;
	return s;
}
