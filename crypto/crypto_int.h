/*
 * Internal to crypto/ (and its tests and benchmark): the structures behind
 * the opaque handles, the Noise symmetric state, and test hooks. Nothing
 * outside crypto/, tests/ and bench/ includes this file.
 */
#ifndef BW_CRYPTO_INT_H
#define BW_CRYPTO_INT_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "crypto/replay.h"

#define BW_NOISE_PROTOCOL "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b"
#define BW_NOISE_HASHLEN  64 /* BLAKE2b-512 */
#define BW_NOISE_DHLEN    32
#define BW_NOISE_TAGLEN   16

/*
 * Record keys change every 2^20 records (an epoch) without a message: each
 * side derives the key for counter c from c >> BW_CRYPTO_EPOCH_SHIFT, so an
 * AES-GCM key never protects more than 2^20 records (64 GiB at the largest
 * record size) however long the session lives. See docs/CRYPTO.md.
 */
#define BW_CRYPTO_EPOCH_SHIFT 20

/* Noise SymmetricState (Noise spec rev. 34, section 5.2) with its CipherState. */
struct bw_noise_ss {
	uint8_t ck[BW_NOISE_HASHLEN];
	uint8_t h[BW_NOISE_HASHLEN];
	uint8_t k[32];
	uint64_t n;
	int has_k;
};

void bw_crypto__ss_init(struct bw_noise_ss *ss, const char *protocol_name);
void bw_crypto__ss_mix_hash(struct bw_noise_ss *ss, const uint8_t *data, size_t len);
void bw_crypto__ss_mix_key(struct bw_noise_ss *ss, const uint8_t *ikm, size_t len);
void bw_crypto__ss_mix_key_and_hash(struct bw_noise_ss *ss, const uint8_t *ikm, size_t len);
/* out receives len (+ 16 once a key is set) bytes; out must not overlap pt. */
int bw_crypto__ss_encrypt_and_hash(struct bw_noise_ss *ss, const uint8_t *pt, size_t len,
				   uint8_t *out);
/* out receives len (- 16 once a key is set) bytes; -1 if the tag is wrong. */
int bw_crypto__ss_decrypt_and_hash(struct bw_noise_ss *ss, const uint8_t *ct, size_t len,
				   uint8_t *out);
/* Noise Split() gives c1 (initiator to responder) and c2; the third HKDF
 * output, which Noise leaves unused, is the session's exporter secret. */
void bw_crypto__ss_split(const struct bw_noise_ss *ss, uint8_t c1[32], uint8_t c2[32],
			 uint8_t exporter[BW_NOISE_HASHLEN]);

/* Domain-separated BLAKE2b: personal (<= 16 chars, zero-padded) names the
 * purpose; each field is hashed as a 32-bit little-endian length and bytes so
 * that field boundaries are unambiguous. key may be NULL (keylen 0). */
struct bw_kdf_field {
	const void *p;
	size_t len;
};
void bw_crypto__kdf(const char *personal, const uint8_t *key, size_t keylen,
		    const struct bw_kdf_field *fields, size_t n, uint8_t *out, size_t outlen);
int bw_crypto__suite_local(int suite);

enum bw_hs_state { HS_INIT, HS_SENT1, HS_GOT1, HS_READY, HS_DONE, HS_FAILED };

struct bw_crypto_hs {
	enum bw_crypto_role role;
	enum bw_hs_state state;
	uint8_t suite;
	int fixed_e; /* test hook: use e_priv/e_pub as set */
	struct bw_noise_ss ss;
	uint8_t e_priv[32];
	uint8_t e_pub[32];
	uint8_t re[32];
};

/* One record key: an epoch's AEAD key, expanded for AES-GCM. */
struct bw_crypto_key {
	union {
		crypto_aead_aes256gcm_state aes; /* 16-byte aligned by its type */
		uint8_t raw[32];
	} k;
	uint64_t epoch;
	int ready;
};

struct bw_crypto_session {
	struct bw_crypto_key tx, rx, rx_prev; /* rx_prev: datagrams across an epoch change */
	struct bw_crypto_replay window;
	uint8_t tx_base[32], rx_base[32];     /* epoch keys derive from these */
	uint8_t tx_iv[24], rx_iv[24];         /* XORed with the counter: the nonce */
	uint8_t exporter[BW_NOISE_HASHLEN];
	uint64_t tx_counter;                  /* next counter to send */
	uint64_t rx_counter;                  /* stream: next counter expected */
	uint64_t tx_limit;
	uint8_t suite;
	uint8_t mode;
	int confirmed;
};

/* record.c, for handshake.c and dgram.c */
struct bw_crypto_session *bw_crypto__session_new(uint8_t suite, enum bw_crypto_mode mode,
						 const uint8_t tx[32], const uint8_t rx[32],
						 const uint8_t exporter[BW_NOISE_HASHLEN]);
void bw_crypto__key_derive(const struct bw_crypto_session *s, const uint8_t base[32],
			   uint64_t epoch, struct bw_crypto_key *k);
void bw_crypto__key_wipe(struct bw_crypto_key *k);
void bw_crypto__aead_seal(const struct bw_crypto_session *s, const struct bw_crypto_key *k,
			  const uint8_t *iv, uint64_t counter, const uint8_t *ad, size_t adlen,
			  const uint8_t *pt, size_t len, uint8_t *out);
int bw_crypto__aead_open(const struct bw_crypto_session *s, const struct bw_crypto_key *k,
			 const uint8_t *iv, uint64_t counter, const uint8_t *ad, size_t adlen,
			 const uint8_t *ct, size_t len, uint8_t *out);

/* --- Handshake internals, used by the public wrappers and the tests. ------
 * The bare Noise message for this side's turn: no type byte, no suite byte,
 * so that the Noise test vectors apply. Writes 32 + len + 16 bytes. */
int bw_crypto__hs_write(struct bw_crypto_hs *hs, const uint8_t *payload, size_t len,
			uint8_t *out);
/* Reads a bare Noise message of len >= 48 bytes into len - 48 payload bytes. */
int bw_crypto__hs_read(struct bw_crypto_hs *hs, const uint8_t *in, size_t len,
		       uint8_t *payload);

/* --- Test hooks (never used by the program) --------------------------------- */
/* Fix the ephemeral key pair: pub NULL derives it from priv; a given pub
 * (a low-order point, say) is sent as is. */
void bw_crypto__hs_set_ephemeral(struct bw_crypto_hs *hs, const uint8_t priv[32],
				 const uint8_t *pub);
void bw_crypto__hs_hash(const struct bw_crypto_hs *hs, uint8_t h[BW_NOISE_HASHLEN]);
/* Noise's own Split() output, for the test vectors; changes nothing. */
void bw_crypto__hs_noise_split(const struct bw_crypto_hs *hs, uint8_t c1[32], uint8_t c2[32]);
/* Jump the counters (exhaustion, epoch changes, benchmarks); resets the
 * replay window as if nothing had been received. */
void bw_crypto__session_set_counters(struct bw_crypto_session *s, uint64_t tx, uint64_t rx);

#endif
