/*
 * The table of stream transport engines (peer/tp.h). Each engine lives in its
 * own file, tp_<name>.c, and exports one `const struct peer_tp_ops`.
 */
#include <string.h>
#include <time.h>

#include "peer/tp.h"

#ifdef BW_TP_QUIC
extern const struct peer_tp_ops peer_tp_quic_ops;
#endif
#ifdef BW_TP_SCTP
extern const struct peer_tp_ops peer_tp_sctp_ops;
#endif
#ifdef BW_TP_PSEUDOTCP
extern const struct peer_tp_ops peer_tp_pseudotcp_ops;
#endif

static const struct peer_tp_ops *const engines[] = {
#ifdef BW_TP_QUIC
	&peer_tp_quic_ops,
#endif
#ifdef BW_TP_SCTP
	&peer_tp_sctp_ops,
#endif
#ifdef BW_TP_PSEUDOTCP
	&peer_tp_pseudotcp_ops,
#endif
	NULL,
};

const struct peer_tp_ops *peer_tp_find(const char *name)
{
	for (size_t i = 0; name && engines[i]; i++)
		if (strcmp(engines[i]->name, name) == 0)
			return engines[i];
	return NULL;
}

uint64_t peer_tp_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
