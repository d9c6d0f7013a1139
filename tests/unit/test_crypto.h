/*
 * Helpers shared by the crypto unit tests (test_crypto*.c): exact error-code
 * assertions with names, hex decoding, and a complete handshake.
 */
#ifndef BW_TEST_CRYPTO_H
#define BW_TEST_CRYPTO_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

/* Assert an exact return code and name both sides when it differs. */
#define assert_rc(expr, want)                                                        \
	do {                                                                         \
		int rc_ = (expr);                                                    \
		if (rc_ != (want))                                                   \
			fail_msg("%s = %d (%s), want %s", #expr, rc_,                \
				 bw_errname(rc_) ? bw_errname(rc_) : "errno", #want); \
	} while (0)

static inline size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static const uint8_t test_psk[32] = "0123456789abcdef0123456789abcde";
static const uint8_t test_prologue[] = "burrow/1 hello v=1 suites=1,2,3";

struct hs_pair {
	struct bw_crypto_hs *i, *r;
	struct bw_crypto_session *si, *sr;
	uint8_t msg1[BW_CRYPTO_HS_PAYLOAD_MAX + BW_CRYPTO_MSG1_OVERHEAD];
	uint8_t msg2[BW_CRYPTO_HS_PAYLOAD_MAX + BW_CRYPTO_MSG2_OVERHEAD];
	size_t len1, len2;
};

/* A complete handshake with empty payloads; both sessions in mode. */
static inline void hs_pair_run(struct hs_pair *p, uint8_t suite, enum bw_crypto_mode mode)
{
	uint8_t pl[8];
	size_t n;
	int rc;

	memset(p, 0, sizeof(*p));
	p->i = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, test_psk, test_prologue,
				sizeof(test_prologue), &rc);
	assert_non_null(p->i);
	p->r = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, test_psk, test_prologue,
				sizeof(test_prologue), &rc);
	assert_non_null(p->r);
	assert_rc(bw_crypto_hs_write_msg1(p->i, NULL, 0, p->msg1, sizeof(p->msg1), &p->len1), 0);
	assert_rc(bw_crypto_hs_read_msg1(p->r, p->msg1, p->len1, pl, sizeof(pl), &n), 0);
	assert_rc(bw_crypto_hs_write_msg2(p->r, suite, NULL, 0, p->msg2, sizeof(p->msg2),
					  &p->len2), 0);
	assert_rc(bw_crypto_hs_read_msg2(p->i, p->msg2, p->len2, pl, sizeof(pl), &n), 0);
	assert_rc(bw_crypto_hs_split(p->i, mode, &p->si), 0);
	assert_rc(bw_crypto_hs_split(p->r, mode, &p->sr), 0);
}

static inline void hs_pair_free(struct hs_pair *p)
{
	bw_crypto_session_free(p->si);
	bw_crypto_session_free(p->sr);
	bw_crypto_hs_free(p->i);
	bw_crypto_hs_free(p->r);
	memset(p, 0, sizeof(*p));
}

static inline int test_crypto_setup(void **state)
{
	(void)state;
	return bw_crypto_init();
}

#endif
