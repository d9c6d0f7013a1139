/*
 * Key sources, MACs and cipher suites.
 *
 * Every derivation is BLAKE2b with its own 16-byte personalisation ("bw1-..."),
 * so no two purposes can ever produce the same key from the same input: the
 * control PSK, the peer-to-peer PSK and the verifier differ even for equal
 * strings. Variable-length inputs are length-prefixed (see bw_crypto__kdf) so
 * that ("ab", "c") and ("a", "bc") hash differently.
 */
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"
#include "crypto/crypto_int.h"

int bw_crypto_init(void)
{
	static atomic_int ready;

	if (atomic_load(&ready))
		return 0;
	/* sodium_init() is itself idempotent and thread-safe; the flag only
	 * spares its lock on every handshake. 1 means "already done". */
	if (sodium_init() < 0)
		return BW_E_CRYPTO_INIT;
	atomic_store(&ready, 1);
	return 0;
}

void bw_crypto__kdf(const char *personal, const uint8_t *key, size_t keylen,
		    const struct bw_kdf_field *fields, size_t n, uint8_t *out, size_t outlen)
{
	crypto_generichash_blake2b_state st;
	uint8_t pers[crypto_generichash_blake2b_PERSONALBYTES] = {0};

	memcpy(pers, personal, strnlen(personal, sizeof(pers)));
	/* Cannot fail: keylen <= 64 and outlen in [16, 64] are the callers'
	 * fixed sizes. */
	crypto_generichash_blake2b_init_salt_personal(&st, key, keylen, outlen, NULL, pers);
	for (size_t i = 0; i < n; i++) {
		uint8_t len[4] = {(uint8_t)fields[i].len, (uint8_t)(fields[i].len >> 8),
				  (uint8_t)(fields[i].len >> 16), (uint8_t)(fields[i].len >> 24)};

		crypto_generichash_blake2b_update(&st, len, sizeof(len));
		if (fields[i].len > 0)
			crypto_generichash_blake2b_update(&st, fields[i].p, fields[i].len);
	}
	crypto_generichash_blake2b_final(&st, out, outlen);
	sodium_memzero(&st, sizeof(st));
}

int bw_crypto_psk_from_token(const char *token, size_t len, uint8_t psk[32])
{
	struct bw_kdf_field f = {token, len};

	if (!psk || (!token && len) || len > UINT32_MAX)
		return BW_E_INVAL;
	bw_crypto__kdf("bw1-token-psk", NULL, 0, &f, 1, psk, 32);
	return 0;
}

/* Both secret-derived keys bind the proxy's identity, so one secret reused
 * for two proxies (or two users) gives unrelated keys. */
static int from_secret(const char *personal, const char *secret, size_t len,
		       const char *server_user, const char *proxy_name, uint8_t out[32])
{
	const char *user = server_user ? server_user : "";
	struct bw_kdf_field f[3];

	if (!out || (!secret && len) || len > UINT32_MAX || !proxy_name || !*proxy_name)
		return BW_E_INVAL;
	f[0] = (struct bw_kdf_field){user, strlen(user)};
	f[1] = (struct bw_kdf_field){proxy_name, strlen(proxy_name)};
	f[2] = (struct bw_kdf_field){secret, len};
	bw_crypto__kdf(personal, NULL, 0, f, BW_ARRAY_LEN(f), out, 32);
	return 0;
}

int bw_crypto_psk_from_secret(const char *secret, size_t len, const char *server_user,
			      const char *proxy_name, uint8_t psk[32])
{
	return from_secret("bw1-p2p-psk", secret, len, server_user, proxy_name, psk);
}

int bw_crypto_verifier_from_secret(const char *secret, size_t len, const char *server_user,
				   const char *proxy_name, uint8_t verifier[32])
{
	return from_secret("bw1-p2p-verifier", secret, len, server_user, proxy_name, verifier);
}

int bw_crypto_mac(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t out[32])
{
	struct bw_kdf_field f = {msg, len};

	if (!key || !out || (!msg && len) || len > UINT32_MAX)
		return BW_E_INVAL;
	bw_crypto__kdf("bw1-mac", key, 32, &f, 1, out, 32);
	return 0;
}

int bw_crypto_mac_verify(const uint8_t key[32], const uint8_t *msg, size_t len,
			 const uint8_t tag[32])
{
	uint8_t want[32];
	int rc;

	if (!tag)
		return BW_E_INVAL;
	rc = bw_crypto_mac(key, msg, len, want);
	if (rc == 0 && sodium_memcmp(want, tag, sizeof(want)) != 0)
		rc = BW_E_AUTH_FAILED;
	sodium_memzero(want, sizeof(want));
	return rc;
}

/*
 * Preference order, fastest first, as measured by bench/bench_crypto on the
 * build machine (docs/BENCHMARKS.md, per core): AES-256-GCM where the CPU has
 * AES-NI and PCLMUL (1.8 GB/s on 16 KiB records, 1.5 GB/s on 1,200-byte
 * datagrams), then ChaCha20-Poly1305 (1.5 and 0.97 GB/s); XChaCha20-Poly1305
 * last (1.5 and 0.90 GB/s): counter nonces make its 192-bit nonce useless and
 * it costs one more HChaCha20 per record.
 */
static const uint8_t preference[BW_CRYPTO_SUITES_MAX] = {
	BW_CRYPTO_AES256GCM,
	BW_CRYPTO_CHACHA20POLY1305,
	BW_CRYPTO_XCHACHA20POLY1305,
};

int bw_crypto__suite_local(int suite)
{
	switch (suite) {
	case BW_CRYPTO_AES256GCM:
		return bw_crypto_init() == 0 && crypto_aead_aes256gcm_is_available();
	case BW_CRYPTO_CHACHA20POLY1305:
	case BW_CRYPTO_XCHACHA20POLY1305:
		return 1;
	default:
		return 0;
	}
}

size_t bw_crypto_suites_local(uint8_t out[BW_CRYPTO_SUITES_MAX])
{
	size_t n = 0;

	for (size_t i = 0; i < BW_ARRAY_LEN(preference); i++)
		if (bw_crypto__suite_local(preference[i]))
			out[n++] = preference[i];
	return n;
}

int bw_crypto_suite_pick(const uint8_t *offered, size_t n, uint8_t *suite)
{
	uint8_t local[BW_CRYPTO_SUITES_MAX];
	size_t nlocal;

	if (!suite || (!offered && n))
		return BW_E_INVAL;
	if (n > BW_CRYPTO_OFFER_MAX)
		return BW_E_TOO_BIG;
	/* Our order decides: both sides only offer suites they run fast, and
	 * the responder (the server, usually) is the busier one. */
	nlocal = bw_crypto_suites_local(local);
	for (size_t i = 0; i < nlocal; i++)
		for (size_t j = 0; j < n; j++)
			if (offered[j] == local[i]) {
				*suite = local[i];
				return 0;
			}
	return BW_E_UNSUPPORTED;
}

const char *bw_crypto_suite_name(int suite)
{
	switch (suite) {
	case BW_CRYPTO_AES256GCM:
		return "aes256gcm";
	case BW_CRYPTO_CHACHA20POLY1305:
		return "chacha20poly1305";
	case BW_CRYPTO_XCHACHA20POLY1305:
		return "xchacha20poly1305";
	default:
		return "?";
	}
}
