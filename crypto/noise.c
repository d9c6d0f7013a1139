/*
 * The Noise SymmetricState for Noise_*_25519_ChaChaPoly_BLAKE2b, written from
 * the Noise Protocol Framework specification (revision 34, sections 4-5):
 * HASH = BLAKE2b-512, HMAC-BLAKE2b with a 128-byte block, Noise's HKDF, and
 * ChaChaPoly with a nonce of 32 zero bits and the 64-bit counter in little
 * endian. The cacophony test vector in tests/unit/test_crypto.c checks it.
 */
#include <string.h>

#include "crypto/crypto_int.h"

#define BLOCKLEN 128

static void hash2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
		  uint8_t out[BW_NOISE_HASHLEN])
{
	crypto_generichash_blake2b_state st;

	crypto_generichash_blake2b_init(&st, NULL, 0, BW_NOISE_HASHLEN);
	crypto_generichash_blake2b_update(&st, a, alen);
	if (blen > 0)
		crypto_generichash_blake2b_update(&st, b, blen);
	crypto_generichash_blake2b_final(&st, out, BW_NOISE_HASHLEN);
	sodium_memzero(&st, sizeof(st));
}

/* HMAC (RFC 2104) over BLAKE2b; key is at most BLOCKLEN bytes here (the
 * chaining key or an HKDF temporary key, both HASHLEN). Data is d1 || d2. */
static void hmac(const uint8_t *key, size_t keylen, const uint8_t *d1, size_t l1,
		 const uint8_t *d2, size_t l2, uint8_t out[BW_NOISE_HASHLEN])
{
	crypto_generichash_blake2b_state st;
	uint8_t pad[BLOCKLEN];
	uint8_t inner[BW_NOISE_HASHLEN];

	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	crypto_generichash_blake2b_init(&st, NULL, 0, BW_NOISE_HASHLEN);
	crypto_generichash_blake2b_update(&st, pad, sizeof(pad));
	if (l1 > 0)
		crypto_generichash_blake2b_update(&st, d1, l1);
	if (l2 > 0)
		crypto_generichash_blake2b_update(&st, d2, l2);
	crypto_generichash_blake2b_final(&st, inner, sizeof(inner));

	memset(pad, 0x5c, sizeof(pad));
	for (size_t i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	hash2(pad, sizeof(pad), inner, sizeof(inner), out);

	sodium_memzero(&st, sizeof(st));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

/* Noise HKDF(chaining_key, ikm, 3); o2 and o3 may be NULL when not needed.
 * Outputs never alias ck's storage during the computation. */
static void hkdf(const uint8_t ck[BW_NOISE_HASHLEN], const uint8_t *ikm, size_t len,
		 uint8_t o1[BW_NOISE_HASHLEN], uint8_t *o2, uint8_t *o3)
{
	uint8_t tk[BW_NOISE_HASHLEN], t1[BW_NOISE_HASHLEN], t2[BW_NOISE_HASHLEN];
	uint8_t t3[BW_NOISE_HASHLEN];
	const uint8_t one = 1, two = 2, three = 3;

	hmac(ck, BW_NOISE_HASHLEN, ikm, len, NULL, 0, tk);
	hmac(tk, sizeof(tk), &one, 1, NULL, 0, t1);
	hmac(tk, sizeof(tk), t1, sizeof(t1), &two, 1, t2);
	if (o3)
		hmac(tk, sizeof(tk), t2, sizeof(t2), &three, 1, t3);
	memcpy(o1, t1, sizeof(t1));
	if (o2)
		memcpy(o2, t2, sizeof(t2));
	if (o3)
		memcpy(o3, t3, sizeof(t3));
	sodium_memzero(tk, sizeof(tk));
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
	sodium_memzero(t3, sizeof(t3));
}

void bw_crypto__ss_init(struct bw_noise_ss *ss, const char *protocol_name)
{
	size_t len = strlen(protocol_name);

	memset(ss, 0, sizeof(*ss));
	if (len <= BW_NOISE_HASHLEN)
		memcpy(ss->h, protocol_name, len);
	else
		hash2((const uint8_t *)protocol_name, len, NULL, 0, ss->h);
	memcpy(ss->ck, ss->h, BW_NOISE_HASHLEN);
}

void bw_crypto__ss_mix_hash(struct bw_noise_ss *ss, const uint8_t *data, size_t len)
{
	uint8_t h[BW_NOISE_HASHLEN];

	hash2(ss->h, sizeof(ss->h), data, len, h);
	memcpy(ss->h, h, sizeof(h));
}

static void set_key(struct bw_noise_ss *ss, const uint8_t tk[BW_NOISE_HASHLEN])
{
	/* HASHLEN 64 > 32: the cipher key is the first 32 bytes. */
	memcpy(ss->k, tk, sizeof(ss->k));
	ss->n = 0;
	ss->has_k = 1;
}

void bw_crypto__ss_mix_key(struct bw_noise_ss *ss, const uint8_t *ikm, size_t len)
{
	uint8_t tk[BW_NOISE_HASHLEN];

	hkdf(ss->ck, ikm, len, ss->ck, tk, NULL);
	set_key(ss, tk);
	sodium_memzero(tk, sizeof(tk));
}

void bw_crypto__ss_mix_key_and_hash(struct bw_noise_ss *ss, const uint8_t *ikm, size_t len)
{
	uint8_t th[BW_NOISE_HASHLEN], tk[BW_NOISE_HASHLEN];

	hkdf(ss->ck, ikm, len, ss->ck, th, tk);
	bw_crypto__ss_mix_hash(ss, th, sizeof(th));
	set_key(ss, tk);
	sodium_memzero(th, sizeof(th));
	sodium_memzero(tk, sizeof(tk));
}

static void nonce_of(uint64_t n, uint8_t nonce[12])
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

int bw_crypto__ss_encrypt_and_hash(struct bw_noise_ss *ss, const uint8_t *pt, size_t len,
				   uint8_t *out)
{
	uint8_t nonce[12];
	size_t outlen = len;

	if (ss->has_k) {
		/* 2^64 - 1 is reserved by Noise; a handshake uses n = 0 only. */
		if (ss->n == UINT64_MAX)
			return -1;
		nonce_of(ss->n++, nonce);
		crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ss->h,
							  sizeof(ss->h), NULL, nonce, ss->k);
		outlen += BW_NOISE_TAGLEN;
	} else if (len > 0) {
		memcpy(out, pt, len);
	}
	bw_crypto__ss_mix_hash(ss, out, outlen);
	return 0;
}

int bw_crypto__ss_decrypt_and_hash(struct bw_noise_ss *ss, const uint8_t *ct, size_t len,
				   uint8_t *out)
{
	uint8_t nonce[12];

	if (ss->has_k) {
		if (len < BW_NOISE_TAGLEN || ss->n == UINT64_MAX)
			return -1;
		nonce_of(ss->n, nonce);
		if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len, ss->h,
							      sizeof(ss->h), nonce, ss->k) != 0)
			return -1;
		ss->n++;
	} else if (len > 0) {
		memcpy(out, ct, len);
	}
	bw_crypto__ss_mix_hash(ss, ct, len);
	return 0;
}

void bw_crypto__ss_split(const struct bw_noise_ss *ss, uint8_t c1[32], uint8_t c2[32],
			 uint8_t exporter[BW_NOISE_HASHLEN])
{
	uint8_t t1[BW_NOISE_HASHLEN], t2[BW_NOISE_HASHLEN];

	/* HKDF's outputs are a chain, so asking for three leaves the first two
	 * exactly Noise's Split() keys. */
	hkdf(ss->ck, NULL, 0, t1, t2, exporter);
	memcpy(c1, t1, 32);
	memcpy(c2, t2, 32);
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
}
