/*
 * The table of stream transport engines (peer/tp.h). Each engine lives in its
 * own file, tp_<name>.c, and exports one `const struct peer_tp_ops`.
 *
 * QUIC is burrow's engine. The prototypes that lost to it (SCTP, PseudoTcp)
 * are weak references: present in the programs that link the
 * bw_peer_tp_proto object library (tests, bench_tp), absent from burrow.
 */
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "peer/tp.h"

extern const struct peer_tp_ops peer_tp_quic_ops;
extern const struct peer_tp_ops peer_tp_sctp_ops __attribute__((weak));
extern const struct peer_tp_ops peer_tp_pseudotcp_ops __attribute__((weak));

const struct peer_tp_ops *peer_tp_find(const char *name)
{
	const struct peer_tp_ops *const engines[] = {
		&peer_tp_quic_ops,
		&peer_tp_sctp_ops,
		&peer_tp_pseudotcp_ops,
	};

	for (size_t i = 0; name && i < BW_ARRAY_LEN(engines); i++)
		if (engines[i] && strcmp(engines[i]->name, name) == 0)
			return engines[i];
	return NULL;
}

uint64_t peer_tp_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
