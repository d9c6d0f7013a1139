/*
 * Arbitrary bytes as one message payload (no frame header, so every input
 * reaches the decoder), decoded by a server and by a client in every
 * connection state. Whatever decodes must re-encode, decode again and
 * re-encode to the same bytes, and never be longer than the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t a[PROTO_PAYLOAD_MAX], b[PROTO_PAYLOAD_MAX];

	for (unsigned side = PROTO_SIDE_SERVER; side <= PROTO_SIDE_CLIENT; side++) {
		for (unsigned st = PROTO_STATE_NEW; st <= PROTO_STATE_WORK; st++) {
			struct proto_msg m, again;
			struct proto_err e;
			size_t la, lb;
			int rc = proto_decode(data, size, side, st, &m, &e);

			/* A refusal always names a code of proto's section,
			 * and leaves nothing allocated. */
			if (rc != e.code || (rc != 0 && m.type != PROTO_MSG_NONE))
				abort();
			if (rc != 0)
				continue;
			if (proto_encode(&m, a, sizeof(a), &la, NULL) != 0 || la > size)
				abort();
			if (proto_decode(a, la, side, st, &again, NULL) != 0)
				abort();
			if (proto_encode(&again, b, sizeof(b), &lb, NULL) != 0 || lb != la ||
			    memcmp(a, b, la) != 0)
				abort();
			proto_msg_free(&again);
			proto_msg_free(&m);
		}
	}
	return 0;
}
