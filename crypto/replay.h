/*
 * Sliding replay window for datagram counters (RFC 6479's bitmap, as
 * WireGuard uses it). crypto/ uses it for datagrams; burrowd uses it for the
 * counters of work-connection tickets.
 *
 * The window remembers the highest counter accepted (top) and a ring of
 * BW_CRYPTO_REPLAY_BITS bits. A counter above top is new; one at most
 * BW_CRYPTO_REPLAY_WINDOW - 1 below top is new if its bit is clear; anything
 * older is refused. One 64-bit word of the ring is the block being filled,
 * hence WINDOW = BITS - 64: whole words are cleared as top moves, never bits.
 *
 * Callers check before the AEAD and update only after the tag verified, so
 * that a forged counter never moves the window.
 */
#ifndef BW_CRYPTO_REPLAY_H
#define BW_CRYPTO_REPLAY_H

#include <stdint.h>

#define BW_CRYPTO_REPLAY_BITS   2048
#define BW_CRYPTO_REPLAY_WORDS  (BW_CRYPTO_REPLAY_BITS / 64)
#define BW_CRYPTO_REPLAY_WINDOW (BW_CRYPTO_REPLAY_BITS - 64)

struct bw_crypto_replay {
	uint64_t top;
	uint64_t bits[BW_CRYPTO_REPLAY_WORDS];
};

/* Nothing received: every counter is new. */
void bw_crypto_replay_init(struct bw_crypto_replay *r);
/* 0 if counter would be accepted, BW_E_REPLAY if seen or too old. */
int bw_crypto_replay_check(const struct bw_crypto_replay *r, uint64_t counter);
/* Check, then record counter as seen (moving top forward if it is newer). */
int bw_crypto_replay_update(struct bw_crypto_replay *r, uint64_t counter);

#endif
