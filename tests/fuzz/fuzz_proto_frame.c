/*
 * Arbitrary bytes as a stream of frames, read by a server and by a client in
 * every connection state: frame parsing with the state's limit, then decoding
 * of each whole frame. Whatever decodes must re-encode, decode again and
 * re-encode to the same bytes, and never be longer than what came in (the
 * encoder writes msgpack's shortest forms).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/proto.h"

static void check_roundtrip(const struct proto_msg *m, size_t in_len, enum proto_side side,
                            enum proto_state st)
{
	static uint8_t a[PROTO_PAYLOAD_MAX], b[PROTO_PAYLOAD_MAX];
	struct proto_msg again;
	size_t la, lb;

	if (proto_encode(m, a, sizeof(a), &la, NULL) != 0 || la > in_len)
		abort();
	if (proto_decode(a, la, side, st, &again, NULL) != 0)
		abort();
	if (proto_encode(&again, b, sizeof(b), &lb, NULL) != 0 || lb != la || memcmp(a, b, la) != 0)
		abort();
	proto_msg_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (unsigned side = PROTO_SIDE_SERVER; side <= PROTO_SIDE_CLIENT; side++) {
		for (unsigned st = PROTO_STATE_NEW; st <= PROTO_STATE_WORK; st++) {
			size_t off = 0, plen = 0;
			int rc;

			while ((rc = proto_frame_parse(data + off, size - off, proto_frame_limit(st),
			                               &plen)) == 0) {
				const uint8_t *payload = data + off + PROTO_FRAME_HDR;
				struct proto_msg m;

				if (proto_decode(payload, plen, side, st, &m, NULL) == 0) {
					check_roundtrip(&m, plen, side, st);
					proto_msg_free(&m);
				}
				off += PROTO_FRAME_HDR + plen;
			}
			if (rc != BW_E_AGAIN && rc != BW_E_FRAME_TOO_BIG && rc != BW_E_MSG_MALFORMED)
				abort();
		}
	}
	return 0;
}
