/*
 * crypto/replay.c: the datagram replay window, alone. A table of steps with
 * exact expectations at every edge, then a long random run against a naive
 * model (a flag per counter) that states the rule directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/replay.h"

#define W BW_CRYPTO_REPLAY_WINDOW
#define B BW_CRYPTO_REPLAY_BITS

struct step {
	uint64_t counter;
	int want;
};

static void run(const struct step *steps, size_t n)
{
	struct bw_crypto_replay r;

	bw_crypto_replay_init(&r);
	for (size_t i = 0; i < n; i++) {
		int rc = bw_crypto_replay_update(&r, steps[i].counter);

		if (rc != steps[i].want)
			fail_msg("step %zu: counter %llu: got %d, want %d", i,
				 (unsigned long long)steps[i].counter, rc, steps[i].want);
	}
}

static void test_replay_update_sequence(void **state)
{
	const struct step steps[] = {
		{0, 0},          /* the first counter is 0 */
		{1, 0},
		{1, BW_E_REPLAY},
		{0, BW_E_REPLAY},
		{9, 0},          /* a gap: 2..8 lost so far */
		{8, 0},          /* late ones are fine */
		{7, 0},
		{7, BW_E_REPLAY},
		{W, 0},          /* top = W */
		{0, BW_E_REPLAY}, /* exactly W behind: too old */
		{1, BW_E_REPLAY}, /* W - 1 behind and seen */
		{2, 0},          /* W - 2 behind, unseen */
		{W + 1, 0},
		{1, BW_E_REPLAY}, /* now too old */
		{2, BW_E_REPLAY}, /* seen */
		{3, 0},          /* W - 2 behind */
		{W + 1, BW_E_REPLAY},
		{3 * B, 0},      /* far jump: the whole ring is cleared */
		{3 * B - W, BW_E_REPLAY},
		{3 * B - W + 1, 0},
		{3 * B - 1, 0},
		{3 * B, BW_E_REPLAY},
		{3 * B - 64, 0}, /* same word as the top's, one ring behind */
		{3 * B + 64, 0}, /* the next word: clears only that word */
		{3 * B - 64, BW_E_REPLAY},
		{3 * B - 1, BW_E_REPLAY},
		{3 * B + 63, 0},
		{UINT64_MAX - 1, 0},
		{UINT64_MAX - 2, 0},
		{UINT64_MAX - 1, BW_E_REPLAY},
		{UINT64_MAX, 0}, /* the window itself has no ceiling; dgram.c does */
		{3 * B + 63, BW_E_REPLAY},
	};

	(void)state;
	run(steps, sizeof(steps) / sizeof(steps[0]));
}

/* Stale bits must not survive a wrap of the ring: after moving forward by
 * exactly one ring, the same bit positions are new counters. */
static void test_replay_update_ring_wrap(void **state)
{
	struct bw_crypto_replay r;

	(void)state;
	bw_crypto_replay_init(&r);
	for (uint64_t c = 0; c < B; c++)
		assert_int_equal(bw_crypto_replay_update(&r, c), 0);
	for (uint64_t c = B; c < 2 * B; c++) {
		assert_int_equal(bw_crypto_replay_check(&r, c), 0);
		assert_int_equal(bw_crypto_replay_update(&r, c), 0);
		assert_int_equal(bw_crypto_replay_update(&r, c), BW_E_REPLAY);
	}
	/* Every counter of the window is seen; below it, too old. */
	for (uint64_t c = 2 * B - W; c < 2 * B; c++)
		assert_int_equal(bw_crypto_replay_check(&r, c), BW_E_REPLAY);
	assert_int_equal(bw_crypto_replay_check(&r, 2 * B), 0);
}

/* check never records anything. */
static void test_replay_check_is_pure(void **state)
{
	struct bw_crypto_replay r, copy;

	(void)state;
	bw_crypto_replay_init(&r);
	assert_int_equal(bw_crypto_replay_update(&r, 100), 0);
	copy = r;
	assert_int_equal(bw_crypto_replay_check(&r, 50), 0);
	assert_int_equal(bw_crypto_replay_check(&r, 5000), 0);
	assert_int_equal(bw_crypto_replay_check(&r, 100), BW_E_REPLAY);
	assert_memory_equal(&r, &copy, sizeof(r));
	assert_int_equal(bw_crypto_replay_update(&r, 50), 0);
}

/* The rule, stated naively: accepted iff newer than everything, or less
 * than W behind the newest and never accepted before. */
static void test_replay_update_matches_model(void **state)
{
	enum { MAXC = 1 << 20, OPS = 300000 };
	uint8_t *seen = calloc(MAXC, 1);
	struct bw_crypto_replay r;
	uint64_t top = 0, c;
	int any = 0;
	unsigned rnd = 12345;

	(void)state;
	assert_non_null(seen);
	bw_crypto_replay_init(&r);
	for (int i = 0; i < OPS; i++) {
		int want, got;

		rnd = rnd * 1103515245u + 12345u; /* fixed seed: reproducible */
		switch ((rnd >> 16) % 8) {
		case 0: /* far ahead, past the ring */
			c = top + B + (rnd >> 8) % (2 * B);
			break;
		case 1: /* around the window's lower edge */
			c = top - W - 2 + (rnd >> 8) % 5;
			break;
		case 2:
		case 3: /* a little ahead */
			c = top + (rnd >> 8) % 70;
			break;
		default: /* inside the window */
			c = top - (rnd >> 8) % (W + 64);
			break;
		}
		if (c > top + 10 * B || c >= MAXC) /* wrapped below zero, or out of the model */
			continue;
		want = (!any || c > top || (top - c < W && !seen[c])) ? 0 : BW_E_REPLAY;
		got = bw_crypto_replay_update(&r, c);
		if (got != want)
			fail_msg("op %d: counter %llu top %llu: got %d want %d", i,
				 (unsigned long long)c, (unsigned long long)top, got, want);
		if (want == 0) {
			seen[c] = 1;
			if (!any || c > top)
				top = c;
			any = 1;
		}
	}
	free(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_update_sequence),
		cmocka_unit_test(test_replay_update_ring_wrap),
		cmocka_unit_test(test_replay_check_is_pure),
		cmocka_unit_test(test_replay_update_matches_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
