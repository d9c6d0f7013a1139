/*
 * Arbitrary bytes into the ICE candidate line parser (peer_ice_cand_parse):
 * the one decoder of peer/ that reads what another peer sends (trickled
 * through burrowd as P2P_CANDIDATE). A line it accepts must parse the same a
 * second time, name component 1's types only, and carry a port.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "peer/ice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct peer_ice_cand a, b;
	char *line = malloc(size + 1);

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	/* As received: length given, maybe with NULs inside. */
	if (peer_ice_cand_parse(line, size, &a) == 0) {
		if (a.type > PEER_ICE_RELAY || port_of(&a.addr) == 0 || size > PEER_ICE_LINE_MAX)
			abort();
		if (peer_ice_cand_parse(line, size, &b) != 0 || memcmp(&a.addr, &b.addr, sizeof(a.addr)))
			abort();
	}
	/* And as a C string. */
	(void)peer_ice_cand_parse(line, strlen(line), &a);
	free(line);
	return 0;
}
