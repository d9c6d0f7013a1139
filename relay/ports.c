/* Which public ports a client may take: allowPorts and maxPortsPerClient. */
#include "relay/relay_int.h"

#include <stdio.h>

#include "common/err.h"

bool relay_port_allowed(const struct conf_server *conf, uint16_t port)
{
	if (conf->n_allow_ports == 0)
		return true;
	for (size_t i = 0; i < conf->n_allow_ports; i++)
		if (port >= conf->allow_ports[i].lo && port <= conf->allow_ports[i].hi)
			return true;
	return false;
}

int relay_port_check(struct relay *r, struct relay_client *c, uint16_t port, char *err,
		     size_t errlen)
{
	const struct conf_server *conf = r->conf;

	if (conf->max_ports_per_client > 0 && c->n_ports >= (unsigned)conf->max_ports_per_client) {
		snprintf(err, errlen, "client already uses its %d ports (maxPortsPerClient)",
			 conf->max_ports_per_client);
		return BW_E_RANGE;
	}
	if (port && !relay_port_allowed(conf, port)) {
		snprintf(err, errlen, "port %u not allowed by server", port);
		return BW_E_RANGE;
	}
	return 0;
}

/* The i-th allowed port, counting through the ranges in order. */
static uint16_t allowed_nth(const struct conf_server *conf, uint32_t i)
{
	for (size_t k = 0; k < conf->n_allow_ports; k++) {
		uint32_t n = (uint32_t)conf->allow_ports[k].hi - conf->allow_ports[k].lo + 1;

		if (i < n)
			return (uint16_t)(conf->allow_ports[k].lo + i);
		i -= n;
	}
	return 0;
}

uint16_t relay_port_candidate(const struct conf_server *conf, uint32_t attempt, uint32_t seed)
{
	uint32_t total = 0;

	if (conf->n_allow_ports == 0)
		return (uint16_t)(RELAY_PICK_LO + (seed + attempt * 7919u) % (RELAY_PICK_HI - RELAY_PICK_LO));
	for (size_t k = 0; k < conf->n_allow_ports; k++)
		total += (uint32_t)conf->allow_ports[k].hi - conf->allow_ports[k].lo + 1;
	if (attempt >= total)
		return 0;
	/* Walk the allowed ports from a random start, as frps picks from its
	 * allowed set: every one is tried once. */
	return allowed_nth(conf, (seed + attempt) % total);
}
