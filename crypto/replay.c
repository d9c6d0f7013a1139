/*
 * Replay window (see replay.h). Constant work per datagram: one word test,
 * and at most BW_CRYPTO_REPLAY_WORDS word clears when the top jumps ahead.
 */
#include "crypto/replay.h"

#include <stddef.h>
#include <string.h>

#include "common/err.h"

void bw_crypto_replay_init(struct bw_crypto_replay *r)
{
	memset(r, 0, sizeof(*r));
}

static size_t word_of(uint64_t counter)
{
	return (size_t)((counter >> 6) % BW_CRYPTO_REPLAY_WORDS);
}

int bw_crypto_replay_check(const struct bw_crypto_replay *r, uint64_t counter)
{
	if (counter > r->top)
		return 0;
	/* Below the window, the bit's word may already hold a newer block. */
	if (r->top - counter >= BW_CRYPTO_REPLAY_WINDOW)
		return BW_E_REPLAY;
	if (r->bits[word_of(counter)] & (UINT64_C(1) << (counter & 63)))
		return BW_E_REPLAY;
	return 0;
}

int bw_crypto_replay_update(struct bw_crypto_replay *r, uint64_t counter)
{
	int rc = bw_crypto_replay_check(r, counter);

	if (rc < 0)
		return rc;
	if (counter > r->top) {
		uint64_t cur = r->top >> 6;
		uint64_t diff = (counter >> 6) - cur;

		/* Clear the words between the old top's block and the new one;
		 * a jump of a whole ring or more clears every word. */
		if (diff > BW_CRYPTO_REPLAY_WORDS)
			diff = BW_CRYPTO_REPLAY_WORDS;
		for (uint64_t i = 1; i <= diff; i++)
			r->bits[(cur + i) % BW_CRYPTO_REPLAY_WORDS] = 0;
		r->top = counter;
	}
	r->bits[word_of(counter)] |= UINT64_C(1) << (counter & 63);
	return 0;
}
