/*
 * The handshake: Noise_NNpsk0_25519_ChaChaPoly_BLAKE2b.
 *
 *   NNpsk0:
 *     -> psk, e
 *     <- e, ee
 *
 * On the wire each message is a type byte (BW_CRYPTO_MSG_HS1/HS2, for
 * demultiplexing; a changed type only misroutes the message, which then
 * fails) followed by the bare Noise message. msg2's Noise payload starts with
 * the responder's suite, so the choice is encrypted, authenticated and in the
 * transcript; nobody on the path can change it.
 *
 * Secrets are kept only as long as a later step needs them: the PSK is mixed
 * in by bw_crypto_hs_new and never stored; each ephemeral private key is
 * wiped right after its one DH; the chaining key goes at split.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/crypto_int.h"

static void hs_wipe(struct bw_crypto_hs *hs)
{
	sodium_memzero(&hs->ss, sizeof(hs->ss));
	sodium_memzero(hs->e_priv, sizeof(hs->e_priv));
	sodium_memzero(hs->e_pub, sizeof(hs->e_pub));
	sodium_memzero(hs->re, sizeof(hs->re));
}

/* Every failure on the peer's input ends the handshake (Noise: a failed
 * decryption leaves the HandshakeState unusable). */
static int hs_fail(struct bw_crypto_hs *hs, int rc)
{
	hs_wipe(hs);
	hs->state = HS_FAILED;
	return rc;
}

struct bw_crypto_hs *bw_crypto_hs_new(enum bw_crypto_role role, const uint8_t psk[32],
				      const uint8_t *prologue, size_t plen, int *rc)
{
	struct bw_crypto_hs *hs;
	int err;

	if ((role != BW_CRYPTO_INITIATOR && role != BW_CRYPTO_RESPONDER) || !psk ||
	    (!prologue && plen)) {
		err = BW_E_INVAL;
		goto fail;
	}
	if (plen > BW_CRYPTO_PROLOGUE_MAX) {
		err = BW_E_TOO_BIG;
		goto fail;
	}
	err = bw_crypto_init();
	if (err < 0)
		goto fail;
	hs = calloc(1, sizeof(*hs));
	if (!hs) {
		err = BW_E_NOMEM;
		goto fail;
	}
	hs->role = role;
	hs->state = HS_INIT;
	bw_crypto__ss_init(&hs->ss, BW_NOISE_PROTOCOL);
	bw_crypto__ss_mix_hash(&hs->ss, prologue, plen);
	/* The psk token opens msg1 with nothing before it, so both roles can
	 * process it now and never hold the PSK. */
	bw_crypto__ss_mix_key_and_hash(&hs->ss, psk, 32);
	if (rc)
		*rc = 0;
	return hs;
fail:
	if (rc)
		*rc = err;
	return NULL;
}

void bw_crypto_hs_free(struct bw_crypto_hs *hs)
{
	if (!hs)
		return;
	sodium_memzero(hs, sizeof(*hs));
	free(hs);
}

/* crypto_scalarmult_base cannot fail on a clamped random scalar; its -1 is
 * still handled, as a library failure. */
static int make_ephemeral(struct bw_crypto_hs *hs)
{
	if (hs->fixed_e)
		return 0;
	randombytes_buf(hs->e_priv, sizeof(hs->e_priv));
	return crypto_scalarmult_base(hs->e_pub, hs->e_priv) == 0 ? 0 : -1;
}

/* The ee token. libsodium returns -1 when the result is all zero (the peer
 * sent a low-order point): such a "shared secret" is known to everyone and
 * would void forward secrecy, so the handshake is refused. */
static int mix_ee(struct bw_crypto_hs *hs)
{
	uint8_t dh[BW_NOISE_DHLEN];
	int rc = crypto_scalarmult(dh, hs->e_priv, hs->re);

	sodium_memzero(hs->e_priv, sizeof(hs->e_priv));
	if (rc == 0)
		bw_crypto__ss_mix_key(&hs->ss, dh, sizeof(dh));
	sodium_memzero(dh, sizeof(dh));
	return rc == 0 ? 0 : -1;
}

/* The e token, written: e.pub goes out, into h, and (psk mode) into ck. */
static void write_e(struct bw_crypto_hs *hs, uint8_t *out)
{
	memcpy(out, hs->e_pub, BW_NOISE_DHLEN);
	bw_crypto__ss_mix_hash(&hs->ss, hs->e_pub, BW_NOISE_DHLEN);
	bw_crypto__ss_mix_key(&hs->ss, hs->e_pub, BW_NOISE_DHLEN);
}

static void read_e(struct bw_crypto_hs *hs, const uint8_t *in)
{
	memcpy(hs->re, in, BW_NOISE_DHLEN);
	bw_crypto__ss_mix_hash(&hs->ss, hs->re, BW_NOISE_DHLEN);
	bw_crypto__ss_mix_key(&hs->ss, hs->re, BW_NOISE_DHLEN);
}

int bw_crypto__hs_write(struct bw_crypto_hs *hs, const uint8_t *payload, size_t len,
			uint8_t *out)
{
	int initiator = hs->role == BW_CRYPTO_INITIATOR;

	if (hs->state != (initiator ? HS_INIT : HS_GOT1))
		return BW_E_HS_STATE;
	if (make_ephemeral(hs) < 0)
		return hs_fail(hs, BW_E_CRYPTO_INIT);
	write_e(hs, out);
	if (!initiator && mix_ee(hs) < 0)
		return hs_fail(hs, BW_E_AUTH_FAILED);
	if (bw_crypto__ss_encrypt_and_hash(&hs->ss, payload, len, out + BW_NOISE_DHLEN) < 0)
		return hs_fail(hs, BW_E_NONCE_EXHAUSTED);
	hs->state = initiator ? HS_SENT1 : HS_READY;
	return 0;
}

int bw_crypto__hs_read(struct bw_crypto_hs *hs, const uint8_t *in, size_t len,
		       uint8_t *payload)
{
	int initiator = hs->role == BW_CRYPTO_INITIATOR;

	if (hs->state != (initiator ? HS_SENT1 : HS_INIT))
		return BW_E_HS_STATE;
	if (len < BW_NOISE_DHLEN + BW_NOISE_TAGLEN)
		return hs_fail(hs, BW_E_TRUNCATED);
	read_e(hs, in);
	if (initiator && mix_ee(hs) < 0)
		return hs_fail(hs, BW_E_AUTH_FAILED);
	if (bw_crypto__ss_decrypt_and_hash(&hs->ss, in + BW_NOISE_DHLEN, len - BW_NOISE_DHLEN,
					   payload) < 0)
		return hs_fail(hs, BW_E_AUTH_FAILED);
	hs->state = initiator ? HS_READY : HS_GOT1;
	return 0;
}

/* Checks shared by the four public steps; 0 or an error that changes nothing. */
static int step_check(const struct bw_crypto_hs *hs, enum bw_crypto_role role,
		      enum bw_hs_state state, const void *in, size_t inlen, const size_t *outlen)
{
	if (!hs || !outlen || (!in && inlen))
		return BW_E_INVAL;
	if (hs->role != role || hs->state != state)
		return BW_E_HS_STATE;
	return 0;
}

int bw_crypto_hs_write_msg1(struct bw_crypto_hs *hs, const uint8_t *payload, size_t len,
			    uint8_t *out, size_t cap, size_t *outlen)
{
	int rc = step_check(hs, BW_CRYPTO_INITIATOR, HS_INIT, payload, len, outlen);

	if (rc < 0)
		return rc;
	if (len > BW_CRYPTO_HS_PAYLOAD_MAX)
		return BW_E_TOO_BIG;
	if (!out)
		return BW_E_INVAL;
	if (cap < len + BW_CRYPTO_MSG1_OVERHEAD)
		return BW_E_RANGE;
	out[0] = BW_CRYPTO_MSG_HS1;
	rc = bw_crypto__hs_write(hs, payload, len, out + 1);
	if (rc == 0)
		*outlen = len + BW_CRYPTO_MSG1_OVERHEAD;
	return rc;
}

/* Input checks of a received message: TRUNCATED, TOO_BIG, MSG_UNKNOWN are
 * final; a too-small output buffer is the caller's and changes nothing. */
static int msg_check(struct bw_crypto_hs *hs, const uint8_t *in, size_t len, uint8_t type,
		     size_t overhead, const uint8_t *payload, size_t cap)
{
	if (len < overhead)
		return hs_fail(hs, BW_E_TRUNCATED);
	if (len > overhead + BW_CRYPTO_HS_PAYLOAD_MAX)
		return hs_fail(hs, BW_E_TOO_BIG);
	if (in[0] != type)
		return hs_fail(hs, BW_E_MSG_UNKNOWN);
	if (cap < len - overhead)
		return BW_E_RANGE;
	if (!payload && len > overhead)
		return BW_E_INVAL;
	return 0;
}

int bw_crypto_hs_read_msg1(struct bw_crypto_hs *hs, const uint8_t *in, size_t len,
			   uint8_t *payload, size_t cap, size_t *plen)
{
	int rc = step_check(hs, BW_CRYPTO_RESPONDER, HS_INIT, in, len, plen);

	if (rc == 0)
		rc = msg_check(hs, in, len, BW_CRYPTO_MSG_HS1, BW_CRYPTO_MSG1_OVERHEAD, payload,
			       cap);
	if (rc == 0)
		rc = bw_crypto__hs_read(hs, in + 1, len - 1, payload);
	if (rc == 0)
		*plen = len - BW_CRYPTO_MSG1_OVERHEAD;
	return rc;
}

int bw_crypto_hs_write_msg2(struct bw_crypto_hs *hs, uint8_t suite, const uint8_t *payload,
			    size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	uint8_t buf[1 + BW_CRYPTO_HS_PAYLOAD_MAX];
	int rc = step_check(hs, BW_CRYPTO_RESPONDER, HS_GOT1, payload, len, outlen);

	if (rc < 0)
		return rc;
	if (len > BW_CRYPTO_HS_PAYLOAD_MAX)
		return BW_E_TOO_BIG;
	if (!bw_crypto__suite_local(suite))
		return BW_E_UNSUPPORTED;
	if (!out)
		return BW_E_INVAL;
	if (cap < len + BW_CRYPTO_MSG2_OVERHEAD)
		return BW_E_RANGE;
	buf[0] = suite;
	if (len > 0)
		memcpy(buf + 1, payload, len);
	out[0] = BW_CRYPTO_MSG_HS2;
	rc = bw_crypto__hs_write(hs, buf, len + 1, out + 1);
	sodium_memzero(buf, len + 1);
	if (rc < 0)
		return rc;
	hs->suite = suite;
	*outlen = len + BW_CRYPTO_MSG2_OVERHEAD;
	return 0;
}

int bw_crypto_hs_read_msg2(struct bw_crypto_hs *hs, const uint8_t *in, size_t len,
			   uint8_t *payload, size_t cap, size_t *plen)
{
	uint8_t buf[1 + BW_CRYPTO_HS_PAYLOAD_MAX];
	size_t n;
	int rc = step_check(hs, BW_CRYPTO_INITIATOR, HS_SENT1, in, len, plen);

	if (rc == 0)
		rc = msg_check(hs, in, len, BW_CRYPTO_MSG_HS2, BW_CRYPTO_MSG2_OVERHEAD, payload,
			       cap);
	if (rc == 0)
		rc = bw_crypto__hs_read(hs, in + 1, len - 1, buf);
	if (rc < 0)
		return rc;
	/* An authentic msg2 naming a suite we cannot run: refuse rather than
	 * guess (we only offer local suites, so a correct peer never does). */
	n = len - BW_CRYPTO_MSG2_OVERHEAD;
	if (!bw_crypto__suite_local(buf[0])) {
		sodium_memzero(buf, n + 1);
		return hs_fail(hs, BW_E_UNSUPPORTED);
	}
	hs->suite = buf[0];
	if (n > 0)
		memcpy(payload, buf + 1, n);
	sodium_memzero(buf, n + 1);
	*plen = n;
	return 0;
}

int bw_crypto_hs_suite(const struct bw_crypto_hs *hs)
{
	return hs && (hs->state == HS_READY || hs->state == HS_DONE) ? hs->suite : 0;
}

int bw_crypto_hs_split(struct bw_crypto_hs *hs, enum bw_crypto_mode mode,
		       struct bw_crypto_session **out)
{
	uint8_t c1[32], c2[32], exporter[BW_NOISE_HASHLEN];
	struct bw_crypto_session *s;
	int initiator;

	if (!hs || !out || (mode != BW_CRYPTO_STREAM && mode != BW_CRYPTO_DGRAM))
		return BW_E_INVAL;
	if (hs->state != HS_READY)
		return BW_E_HS_STATE;
	/* Always true through the public steps; the internal ones can skip the
	 * suite, and a session must never run an unknown one. */
	if (!bw_crypto__suite_local(hs->suite))
		return BW_E_UNSUPPORTED;
	initiator = hs->role == BW_CRYPTO_INITIATOR;
	bw_crypto__ss_split(&hs->ss, c1, c2, exporter);
	/* c1 protects initiator -> responder, c2 the other way. */
	s = bw_crypto__session_new(hs->suite, mode, initiator ? c1 : c2, initiator ? c2 : c1,
				   exporter);
	sodium_memzero(c1, sizeof(c1));
	sodium_memzero(c2, sizeof(c2));
	sodium_memzero(exporter, sizeof(exporter));
	if (!s)
		return BW_E_NOMEM;
	hs_wipe(hs);
	hs->state = HS_DONE;
	*out = s;
	return 0;
}

void bw_crypto__hs_set_ephemeral(struct bw_crypto_hs *hs, const uint8_t priv[32],
				 const uint8_t *pub)
{
	memcpy(hs->e_priv, priv, 32);
	if (pub)
		memcpy(hs->e_pub, pub, 32);
	else
		crypto_scalarmult_base(hs->e_pub, hs->e_priv);
	hs->fixed_e = 1;
}

void bw_crypto__hs_hash(const struct bw_crypto_hs *hs, uint8_t h[BW_NOISE_HASHLEN])
{
	memcpy(h, hs->ss.h, BW_NOISE_HASHLEN);
}

void bw_crypto__hs_noise_split(const struct bw_crypto_hs *hs, uint8_t c1[32], uint8_t c2[32])
{
	uint8_t x[BW_NOISE_HASHLEN];

	bw_crypto__ss_split(&hs->ss, c1, c2, x);
	sodium_memzero(x, sizeof(x));
}
