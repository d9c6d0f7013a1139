/* Shared between peer/ice.c and peer/ice_glib.c; never included elsewhere. */
#ifndef BW_PEER_ICE_INT_H
#define BW_PEER_ICE_INT_H

#include <stdbool.h>

#include <glib.h>

#include "peer/ice.h"

struct event;
struct ice_watch;

/*
 * libnice's GLib main context, iterated by the libevent loop (ice_glib.c).
 * Everything here, like every struct peer_ice, belongs to the libevent
 * thread.
 */
struct peer_ice_glib {
	struct event_base *base;
	GMainContext *ctx;          /* acquired by the libevent thread for life */
	struct event *run;          /* a GLib iteration: at GLib's timeout, or now */
	struct event *later;        /* ice.c's deferred work, outside any call */

	GPollFD *fds;               /* from the last g_main_context_query */
	unsigned n_fds, cap_fds;
	gint max_prio;
	bool queried, rebuild;
	struct ice_watch *watch;    /* one libevent event per entry of fds */
	unsigned n_watch;

	struct peer_ice *agents;    /* live agents (ice.c) */
	struct peer_ice *pending, **pending_tail; /* with queued control events */
	struct peer_ice *graveyard; /* freed by the user, NiceAgent not yet destroyed */
};

/* Run a GLib iteration soon: after any libnice call that may have added a
 * source or changed a timeout (libnice attaches them from our thread, so
 * GLib has no reason to wake anyone). rebuild: sockets are about to close
 * or were created; every descriptor is dropped now and watched again from
 * the next iteration (a closed one's number may come back as another
 * socket). */
void ice_glib_kick(struct peer_ice_glib *g, bool rebuild);

/* ice.c: runs from g->later (event_active), never inside an API call or a
 * GLib dispatch: delivers queued control events, destroys freed agents. */
void ice_deferred(struct peer_ice_glib *g);

#endif
