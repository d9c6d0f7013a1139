/*
 * Error codes. Functions return 0 on success or a negative code: either one of
 * enum bw_err below or -errno from the system. Constructors return NULL and
 * set *rc. Helpers never log; whoever acts on an error logs it once.
 */
#ifndef BW_ERR_H
#define BW_ERR_H

enum bw_err {
	BW_OK = 0,
	/* Start well above any errno so the two ranges never meet. */
	BW__ERR_BASE = -100000,
#define BW_E(name, text) BW_E_##name,
#include "err.def"
#undef BW_E
	BW__ERR_END
};

/* Text for a code from either range; never NULL. */
const char *bw_strerror(int rc);

/* Name of a Burrow code ("FRAME_TOO_BIG"), or NULL for -errno codes. */
const char *bw_errname(int rc);

#endif
