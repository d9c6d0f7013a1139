/*
 * Authenticated encryption for Burrow: bytes in, bytes out, no I/O.
 * Design, wire formats and limits: docs/CRYPTO.md.
 *
 * Handshake: Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b (ephemeral X25519 both
 * sides, the 32-byte PSK mixed in first, the caller's prologue bound into the
 * transcript). The responder's cipher suite rides encrypted in msg2. Split
 * gives a session: per-direction keys, records with implicit counters
 * (stream, TCP) or explicit counters and a replay window (datagram, UDP).
 *
 * Every function returns 0 or a negative BW_E_* (common/err.def). Outputs go
 * to (out, cap) and their length to *outlen; a too-small cap is BW_E_RANGE
 * and changes nothing. Inputs and outputs must not overlap unless a function
 * says so. An object is used by one thread at a time. Key material is wiped
 * with sodium_memzero.
 */
#ifndef BW_CRYPTO_H
#define BW_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define BW_CRYPTO_KEY_LEN          32   /* PSK, verifier, MAC key */
#define BW_CRYPTO_MAC_LEN          32
#define BW_CRYPTO_PROLOGUE_MAX     65536
#define BW_CRYPTO_HS_PAYLOAD_MAX   1024 /* a handshake fits one 1,200-byte datagram */
#define BW_CRYPTO_MSG1_OVERHEAD    49   /* type, e, tag */
#define BW_CRYPTO_MSG2_OVERHEAD    50   /* type, e, suite, tag */
#define BW_CRYPTO_RECORD_OVERHEAD  16   /* tag */
#define BW_CRYPTO_RECORD_MAX       (1u << 17) /* above proto's largest frame payload */
#define BW_CRYPTO_DGRAM_HEADER     9    /* type, 64-bit big-endian counter */
#define BW_CRYPTO_DGRAM_OVERHEAD   25   /* header, tag */
#define BW_CRYPTO_DGRAM_MAX        (65507 - BW_CRYPTO_DGRAM_OVERHEAD)
#define BW_CRYPTO_EXPORT_MIN       16
#define BW_CRYPTO_EXPORT_MAX       64
#define BW_CRYPTO_SUITES_MAX       3
#define BW_CRYPTO_OFFER_MAX        16

/* First byte of every message, so that one UDP socket can demultiplex. */
enum bw_crypto_msg { BW_CRYPTO_MSG_HS1 = 1, BW_CRYPTO_MSG_HS2 = 2, BW_CRYPTO_MSG_DATA = 3 };

/* Wire values (HELLO offers, msg2); never renumber. */
enum bw_crypto_suite {
	BW_CRYPTO_AES256GCM = 1,         /* only where crypto_aead_aes256gcm_is_available() */
	BW_CRYPTO_CHACHA20POLY1305 = 2,  /* IETF, 96-bit nonce */
	BW_CRYPTO_XCHACHA20POLY1305 = 3,
};
enum bw_crypto_role { BW_CRYPTO_INITIATOR, BW_CRYPTO_RESPONDER };
enum bw_crypto_mode { BW_CRYPTO_STREAM = 1, BW_CRYPTO_DGRAM = 2 };

struct bw_crypto_hs;
struct bw_crypto_session;

/* sodium_init() once per process (idempotent, thread-safe); BW_E_CRYPTO_INIT
 * if libsodium cannot start. Other entry points call it themselves. */
int bw_crypto_init(void);

/* --- Key sources: BLAKE2b, a distinct personalisation for each. -------- */
/* Client <-> server control connections. Any token (even empty: a valid but
 * worthless key) maps to a PSK; its strength is the token's (CRYPTO.md). */
int bw_crypto_psk_from_token(const char *token, size_t len, uint8_t psk[32]);
/* Peer-to-peer (stcp/sudp/xtcp) between owner and visitor; the server never
 * sees it. server_user may be NULL or ""; proxy_name must be non-empty. */
int bw_crypto_psk_from_secret(const char *secret, size_t len, const char *server_user,
			      const char *proxy_name, uint8_t psk[32]);
/* What the owner registers so the server can authorise visitors (they send
 * bw_crypto_mac(verifier, challenge)) without learning the secret or the PSK. */
int bw_crypto_verifier_from_secret(const char *secret, size_t len, const char *server_user,
				   const char *proxy_name, uint8_t verifier[32]);
/* Keyed BLAKE2b-256 (proofs, work-connection tickets). verify compares in
 * constant time: 0 or BW_E_AUTH_FAILED. */
int bw_crypto_mac(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t out[32]);
int bw_crypto_mac_verify(const uint8_t key[32], const uint8_t *msg, size_t len,
			 const uint8_t tag[32]);

/* --- Suites --------------------------------------------------------------- */
/* This CPU's suites, fastest first (docs/BENCHMARKS.md); returns the count. */
size_t bw_crypto_suites_local(uint8_t out[BW_CRYPTO_SUITES_MAX]);
/* The first local suite present in the peer's offer (unknown ids ignored).
 * BW_E_UNSUPPORTED if none; BW_E_TOO_BIG above BW_CRYPTO_OFFER_MAX entries. */
int bw_crypto_suite_pick(const uint8_t *offered, size_t n, uint8_t *suite);
const char *bw_crypto_suite_name(int suite); /* "aes256gcm", ...; "?" if unknown */

/* --- Handshake -------------------------------------------------------------
 * I: new, write_msg1 .......... read_msg2, split
 * R: new, ......... read_msg1, write_msg2, split
 * A step out of order is BW_E_HS_STATE (nothing changes). Argument errors
 * (INVAL, RANGE, TOO_BIG on a write) change nothing. Any failure reading the
 * peer's message (TRUNCATED, TOO_BIG, MSG_UNKNOWN, AUTH_FAILED, UNSUPPORTED)
 * is final: the state is wiped and later steps return BW_E_HS_STATE.
 * The prologue (the plaintext HELLO: versions, offered suites) must be
 * byte-identical on both sides or msg1 fails: a downgrade fails. */
struct bw_crypto_hs *bw_crypto_hs_new(enum bw_crypto_role role, const uint8_t psk[32],
				      const uint8_t *prologue, size_t plen, int *rc);
void bw_crypto_hs_free(struct bw_crypto_hs *hs); /* wipes; NULL is a no-op */
/* msg1 = len + BW_CRYPTO_MSG1_OVERHEAD bytes. Its payload is encrypted under
 * the PSK only (no forward secrecy) and can be replayed: put no secrets or
 * state-changing requests in it. */
int bw_crypto_hs_write_msg1(struct bw_crypto_hs *hs, const uint8_t *payload, size_t len,
			    uint8_t *out, size_t cap, size_t *outlen);
/* BW_E_AUTH_FAILED: different PSK or prologue, or tampered. Success proves
 * only that a PSK holder made msg1 once: it may be a replay. */
int bw_crypto_hs_read_msg1(struct bw_crypto_hs *hs, const uint8_t *in, size_t len,
			   uint8_t *payload, size_t cap, size_t *plen);
/* suite: chosen with bw_crypto_suite_pick (BW_E_UNSUPPORTED if not local).
 * msg2 = len + BW_CRYPTO_MSG2_OVERHEAD; its payload is forward-secret and
 * readable only by the initiator that made msg1. */
int bw_crypto_hs_write_msg2(struct bw_crypto_hs *hs, uint8_t suite, const uint8_t *payload,
			    size_t len, uint8_t *out, size_t cap, size_t *outlen);
/* BW_E_AUTH_FAILED: the responder does not hold the PSK, or tampering.
 * BW_E_UNSUPPORTED: the suite it chose is not local. */
int bw_crypto_hs_read_msg2(struct bw_crypto_hs *hs, const uint8_t *in, size_t len,
			   uint8_t *payload, size_t cap, size_t *plen);
int bw_crypto_hs_suite(const struct bw_crypto_hs *hs); /* after msg2, else 0 */
/* Derive the session and wipe the handshake's secrets. Both sides must pass
 * the same mode (it is bound into the keys). The hs is still freed by the
 * caller. */
int bw_crypto_hs_split(struct bw_crypto_hs *hs, enum bw_crypto_mode mode,
		       struct bw_crypto_session **out);

/* --- Session ---------------------------------------------------------------- */
void bw_crypto_session_free(struct bw_crypto_session *s); /* wipes; NULL ok */
int bw_crypto_session_suite(const struct bw_crypto_session *s);
/* 1 once a record from the peer opened. A responder must not treat the peer
 * as authenticated (msg1 may be a replay) before this is 1. */
int bw_crypto_session_confirmed(const struct bw_crypto_session *s);
/* Same bytes on both sides for the same label (NUL-terminated, non-empty);
 * len in [BW_CRYPTO_EXPORT_MIN, BW_CRYPTO_EXPORT_MAX]. */
int bw_crypto_session_export(const struct bw_crypto_session *s, const char *label,
			     uint8_t *out, size_t len);
/*
 * A session from a 32-byte key both sides already hold (one exported from an
 * authenticated session, say), for connections that need no handshake of
 * their own: burrow's work connections. `label` separates uses; both sides
 * pass the same key, label, suite and mode, and opposite roles (the
 * initiator's tx is the responder's rx). No forward secrecy beyond the key's.
 */
struct bw_crypto_session *bw_crypto_session_from_key(const uint8_t key[32], const char *label,
						     enum bw_crypto_role role, uint8_t suite,
						     enum bw_crypto_mode mode, int *rc);
/* Send at most max_records records over the session's life (default and
 * ceiling 2^64 - 1): then seal returns BW_E_NONCE_EXHAUSTED and the caller
 * must re-handshake. A policy knob; keys already change every 2^20 records. */
int bw_crypto_session_set_limit(struct bw_crypto_session *s, uint64_t max_records);

/* Stream records (TCP, STREAM mode): out = ciphertext || tag, len +
 * BW_CRYPTO_RECORD_OVERHEAD bytes; len <= BW_CRYPTO_RECORD_MAX. The nonce is
 * an implicit per-direction counter, so open accepts only the next record:
 * tampered, truncated, reordered, dropped or replayed records are
 * BW_E_DECRYPT, and a failed open changes nothing (close the connection).
 * ad (may be NULL with adlen 0) is authenticated, not sent: the frame
 * header, say. out may equal the input (in place); no other overlap. */
int bw_crypto_seal(struct bw_crypto_session *s, const uint8_t *ad, size_t adlen,
		   const uint8_t *pt, size_t len, uint8_t *out, size_t cap, size_t *outlen);
int bw_crypto_open(struct bw_crypto_session *s, const uint8_t *ad, size_t adlen,
		   const uint8_t *ct, size_t len, uint8_t *out, size_t cap, size_t *outlen);

/* Datagrams (UDP, DGRAM mode): type || counter || ciphertext || tag, each
 * on its own. Lost and reordered datagrams are fine; duplicates and those
 * older than the window (1,984 behind the newest) are BW_E_REPLAY; forged
 * ones BW_E_DECRYPT. Only an authentic datagram moves the window. */
int bw_crypto_dgram_seal(struct bw_crypto_session *s, const uint8_t *pt, size_t len,
			 uint8_t *out, size_t cap, size_t *outlen);
int bw_crypto_dgram_open(struct bw_crypto_session *s, const uint8_t *in, size_t len,
			 uint8_t *out, size_t cap, size_t *outlen);

#endif
