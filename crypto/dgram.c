/*
 * Datagrams: each sealed on its own, for the UDP path where packets are lost
 * and reordered.
 *
 *   0      1                9                       len
 *   | type | counter (BE64) | ciphertext ... | tag16 |
 *
 * The 9-byte header is the AEAD's associated data: a changed counter or type
 * fails the tag. The receiver checks the replay window before the AEAD (cheap
 * rejection of duplicates) and records the counter only after the tag
 * verified, so a forged datagram never moves the window.
 *
 * Epoch keys (crypto_int.h) change every 2^20 counters. Reordering can mix
 * two epochs near a boundary, so the receiver keeps the previous epoch's key
 * beside the current one; any other epoch (a long loss burst, or a forgery)
 * is derived on the fly and kept only if the datagram proves authentic.
 */
#include <string.h>

#include "common/err.h"
#include "crypto/crypto_int.h"

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int bw_crypto_dgram_seal(struct bw_crypto_session *s, const uint8_t *pt, size_t len,
			 uint8_t *out, size_t cap, size_t *outlen)
{
	uint64_t c;

	if (!s || !out || !outlen || (!pt && len) || s->mode != BW_CRYPTO_DGRAM)
		return BW_E_INVAL;
	if (len > BW_CRYPTO_DGRAM_MAX)
		return BW_E_TOO_BIG;
	if (cap < len + BW_CRYPTO_DGRAM_OVERHEAD)
		return BW_E_RANGE;
	c = s->tx_counter;
	if (c >= s->tx_limit || c == UINT64_MAX)
		return BW_E_NONCE_EXHAUSTED;
	if (s->tx.epoch != c >> BW_CRYPTO_EPOCH_SHIFT)
		bw_crypto__key_derive(s, s->tx_base, c >> BW_CRYPTO_EPOCH_SHIFT, &s->tx);
	/* pt may sit at out + BW_CRYPTO_DGRAM_HEADER (in place): the header is
	 * written before it and does not overlap. */
	out[0] = BW_CRYPTO_MSG_DATA;
	put_be64(out + 1, c);
	bw_crypto__aead_seal(s, &s->tx, s->tx_iv, c, out, BW_CRYPTO_DGRAM_HEADER, pt, len,
			     out + BW_CRYPTO_DGRAM_HEADER);
	s->tx_counter = c + 1;
	*outlen = len + BW_CRYPTO_DGRAM_OVERHEAD;
	return 0;
}

int bw_crypto_dgram_open(struct bw_crypto_session *s, const uint8_t *in, size_t len,
			 uint8_t *out, size_t cap, size_t *outlen)
{
	struct bw_crypto_key tmp;
	const struct bw_crypto_key *k;
	uint8_t hdr[BW_CRYPTO_DGRAM_HEADER];
	uint64_t c, epoch;
	int rc;

	if (!s || !out || !outlen || (!in && len) || s->mode != BW_CRYPTO_DGRAM)
		return BW_E_INVAL;
	if (len < BW_CRYPTO_DGRAM_OVERHEAD)
		return BW_E_TRUNCATED;
	if (len > BW_CRYPTO_DGRAM_MAX + BW_CRYPTO_DGRAM_OVERHEAD)
		return BW_E_TOO_BIG;
	if (in[0] != BW_CRYPTO_MSG_DATA)
		return BW_E_MSG_UNKNOWN;
	if (cap < len - BW_CRYPTO_DGRAM_OVERHEAD)
		return BW_E_RANGE;
	c = get_be64(in + 1);
	/* A sender never uses UINT64_MAX, so only a forgery carries it. */
	if (c == UINT64_MAX)
		return BW_E_DECRYPT;
	rc = bw_crypto_replay_check(&s->window, c);
	if (rc < 0)
		return rc;

	epoch = c >> BW_CRYPTO_EPOCH_SHIFT;
	if (s->rx.ready && s->rx.epoch == epoch) {
		k = &s->rx;
	} else if (s->rx_prev.ready && s->rx_prev.epoch == epoch) {
		k = &s->rx_prev;
	} else {
		bw_crypto__key_derive(s, s->rx_base, epoch, &tmp);
		k = &tmp;
	}
	/* Copy the header: out may overlap in (in place at in + 9). */
	memcpy(hdr, in, sizeof(hdr));
	rc = bw_crypto__aead_open(s, k, s->rx_iv, c, hdr, sizeof(hdr), in + sizeof(hdr),
				  len - sizeof(hdr), out);
	if (rc == 0 && k == &tmp && epoch > s->rx.epoch) {
		/* Authentic and newer: it becomes current, current becomes
		 * previous for stragglers. */
		s->rx_prev = s->rx;
		s->rx = tmp;
	}
	if (k == &tmp)
		bw_crypto__key_wipe(&tmp);
	if (rc < 0)
		return rc;
	/* Cannot fail: checked above, and nothing ran in between. */
	bw_crypto_replay_update(&s->window, c);
	s->confirmed = 1;
	*outlen = len - BW_CRYPTO_DGRAM_OVERHEAD;
	return 0;
}
