/*
 * Arbitrary first bytes of an https connection into the ClientHello reader:
 * the whole input, then every prefix the relay could have buffered along the
 * way (a prefix of an input that parses must ask for more, never decide
 * otherwise). Invariants: a defined code, a name only on success, lowercase
 * and bounded.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "relay/vhost.h"

static int check(const uint8_t *data, size_t size)
{
	char name[RELAY_SNI_NAME_MAX + 1];
	int rc = relay_sni_parse(data, size, name);
	size_t n = strlen(name);

	if (rc != 0 && rc != BW_E_AGAIN && rc != BW_E_TOO_BIG && rc != BW_E_SNI_NOT_TLS &&
	    rc != BW_E_SNI_MISSING && rc != BW_E_SNI_MALFORMED && rc != BW_E_NOMEM)
		abort();
	if ((rc == 0) != (n > 0) || n > RELAY_SNI_NAME_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (isupper((unsigned char)name[i]) || !isgraph((unsigned char)name[i]))
			abort();
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int rc = check(data, size);

	/* The relay parses again as bytes arrive: earlier prefixes of a hello
	 * it accepts must all have asked for more. Checked on a few cuts. */
	if (rc == 0) {
		static const size_t cuts[] = {0, 1, 5, 9, 43};

		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			if (cuts[i] >= size)
				continue;
			uint8_t *copy = malloc(cuts[i] ? cuts[i] : 1);

			if (!copy)
				return 0;
			memcpy(copy, data, cuts[i]);
			if (check(copy, cuts[i]) != BW_E_AGAIN)
				abort();
			free(copy);
		}
	}
	return 0;
}
