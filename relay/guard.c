/* Listeners that pause on EMFILE instead of spinning (relay.h). */
#include "relay/relay_int.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"

#define GUARD_PAUSE_MS 1000

static void on_resume(evutil_socket_t fd, short ev, void *arg)
{
	evconnlistener_enable(arg);
}

void relay_listener_on_error(struct evconnlistener *l, struct event **resume, const char *what)
{
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { GUARD_PAUSE_MS / 1000, (GUARD_PAUSE_MS % 1000) * 1000 };

	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		log_ratelimited(LOG_WARN, "%s: accept: %s", what, strerror(e));
		return;
	}
	log_ratelimited(LOG_WARN, "%s: accept: %s; pausing new connections for %d ms", what,
			strerror(e), GUARD_PAUSE_MS);
	evconnlistener_disable(l);
	if (!*resume)
		*resume = evtimer_new(evconnlistener_get_base(l), on_resume, l);
	if (*resume)
		evtimer_add(*resume, &tv);
}
