#include "peer/peer_int.h"

#include <stdlib.h>

#include "common/err.h"

struct peer *peer_new(struct event_base *base, const struct conf_client *conf,
		      const struct peer_hooks *hooks, int *rc)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (!p) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	p->base = base;
	p->conf = conf;
	p->hooks = *hooks;
	*rc = peer_ctl_init(p);
	if (*rc == 0 && !hooks->nat_only)
		*rc = peer_proxies_init(p);
	if (*rc == 0 && !hooks->nat_only)
		*rc = peer_visitors_init(p);
	if (*rc < 0) {
		peer_free(p);
		return NULL;
	}
	return p;
}

void peer_free(struct peer *p)
{
	if (!p)
		return;
	peer_nat_stop(p);
	peer_conns_close(p); /* before the visitors they count bytes for */
	peer_visitors_fini(p);
	peer_sessions_fini(p);
	peer_proxies_fini(p);
	peer_ctl_fini(p);
	free(p);
}

void peer_start(struct peer *p)
{
	peer_ctl_start(p);
}
