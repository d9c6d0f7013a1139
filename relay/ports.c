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
