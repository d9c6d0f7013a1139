/*
 * libnice's GLib main context folded into the libevent loop: the libevent
 * thread acquires the context for its whole life and runs GLib's iteration
 * in pieces (GLib's "external main loop" API): after each dispatch it asks
 * GLib which descriptors to watch and for how long (prepare + query), keeps
 * one libevent event per descriptor and one timer, and when one of them
 * fires runs check + dispatch. libnice's timers, STUN, connectivity checks,
 * keepalives and reads therefore all run on the libevent thread, between
 * other libevent callbacks, and nothing is shared with another thread.
 * docs/decisions/ice-glib.md compares this with a GLib thread of its own.
 *
 * Descriptors: GLib's list is stable while agents are (one entry per socket,
 * plus GLib's wake-up eventfd), so events are kept while the list is
 * unchanged and all re-registered when it changes or when ice.c says sockets
 * were created or closed (gather, destroy): a closed descriptor leaves epoll
 * by itself, and its number may come back as a new socket.
 */
#include "peer/ice_int.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/err.h"

#define FDS_MAX 1024

struct ice_watch {
	int fd;
	gushort events;
	struct event *ev;
};

static void on_run(evutil_socket_t fd, short what, void *arg);

static void arm(struct peer_ice_glib *g, gint timeout_ms)
{
	struct timeval tv;

	if (timeout_ms < 0) {
		event_del(g->run);
		return;
	}
	/* A zero timeout still goes through libevent's poll first, so that a
	 * GLib source that stays ready cannot starve the other events. */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	event_add(g->run, &tv);
}


static void on_fd(evutil_socket_t fd, short what, void *arg)
{
	struct peer_ice_glib *g = arg;

	/* One iteration for every descriptor ready in this loop turn: it reads
	 * the exact revents with poll(). */
	event_active(g->run, EV_TIMEOUT, 0);
}

static void unwatch(struct peer_ice_glib *g)
{
	for (unsigned i = 0; i < g->n_watch; i++)
		if (g->watch[i].ev)
			event_free(g->watch[i].ev);
	free(g->watch);
	g->watch = NULL;
	g->n_watch = 0;
}

void ice_glib_kick(struct peer_ice_glib *g, bool rebuild)
{
	/* Drop the watchers now, before a closed descriptor's number can come
	 * back to someone else's socket; the next iteration makes new ones. */
	if (rebuild) {
		unwatch(g);
		g->rebuild = true;
	}
	arm(g, 0);
}

static void watch_sync(struct peer_ice_glib *g)
{
	bool same = !g->rebuild && g->n_watch == g->n_fds;

	for (unsigned i = 0; same && i < g->n_fds; i++)
		same = g->watch[i].fd == g->fds[i].fd && g->watch[i].events == g->fds[i].events;
	if (same)
		return;
	unwatch(g);
	g->rebuild = false;
	if (g->n_fds == 0)
		return;
	g->watch = calloc(g->n_fds, sizeof(*g->watch));
	if (!g->watch) {
		/* Retry at the next iteration; GLib's timeouts still run. */
		g->rebuild = true;
		return;
	}
	g->n_watch = g->n_fds;
	for (unsigned i = 0; i < g->n_fds; i++) {
		struct ice_watch *w = &g->watch[i];
		short flags = 0;

		w->fd = g->fds[i].fd;
		w->events = g->fds[i].events;
		if (w->events & (G_IO_IN | G_IO_PRI | G_IO_HUP | G_IO_ERR))
			flags |= EV_READ;
		if (w->events & G_IO_OUT)
			flags |= EV_WRITE;
		if (!flags || w->fd < 0)
			continue;
		w->ev = event_new(g->base, w->fd, flags | EV_PERSIST, on_fd, g);
		if (!w->ev || event_add(w->ev, NULL) != 0)
			g->rebuild = true;
	}
}

/* check + dispatch what the last query asked for, then prepare + query the
 * next round and update the watchers and the timer. */
static void iterate(struct peer_ice_glib *g)
{
	gint timeout = -1, n;

	if (g->queried) {
		if (g->n_fds)
			(void)poll((struct pollfd *)g->fds, g->n_fds, 0);
		if (g_main_context_check(g->ctx, g->max_prio, g->fds, (gint)g->n_fds))
			g_main_context_dispatch(g->ctx);
	}
	g_main_context_prepare(g->ctx, &g->max_prio);
	for (;;) {
		n = g_main_context_query(g->ctx, g->max_prio, &timeout, g->fds, (gint)g->cap_fds);
		if ((unsigned)n <= g->cap_fds)
			break;
		unsigned cap = (unsigned)n > FDS_MAX ? FDS_MAX : (unsigned)n;
		GPollFD *fds = cap > g->cap_fds ? realloc(g->fds, cap * sizeof(*fds)) : NULL;

		if (!fds) {
			n = (gint)g->cap_fds;   /* watch what fits; the rest waits */
			break;
		}
		g->fds = fds;
		g->cap_fds = cap;
	}
	g->n_fds = (unsigned)n;
	g->queried = true;
	watch_sync(g);
	arm(g, g->rebuild ? 0 : timeout);
}

static void on_run(evutil_socket_t fd, short what, void *arg)
{
	iterate(arg);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
	ice_deferred(arg);
}

struct peer_ice_glib *peer_ice_glib_new(struct event_base *base, int *rc)
{
	struct peer_ice_glib *g;

	if (!base) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	g->base = base;
	g->pending_tail = &g->pending;
	g->cap_fds = 16;
	g->fds = calloc(g->cap_fds, sizeof(*g->fds));
	g->run = event_new(base, -1, 0, on_run, g);
	g->later = event_new(base, -1, 0, on_later, g);
	if (!g->fds || !g->run || !g->later) {
		*rc = BW_E_NOMEM;
		goto err;
	}
	g->ctx = g_main_context_new();
	/* A new context has no owner: this cannot fail. Owning it also makes
	 * libnice call our receive callback directly instead of through an
	 * idle source and a copy (nice_component_emit_io_callback). */
	if (!g_main_context_acquire(g->ctx)) {
		g_main_context_unref(g->ctx);
		*rc = BW_E_ICE_FAILED;
		goto err;
	}
	iterate(g);
	*rc = 0;
	return g;
err:
	if (g->run)
		event_free(g->run);
	if (g->later)
		event_free(g->later);
	free(g->fds);
	free(g);
	return NULL;
}

void peer_ice_glib_free(struct peer_ice_glib *g)
{
	if (!g)
		return;
	/* Destroy the agents freed since the last deferred run, then let GLib
	 * finish what they left (a resolver answer, a last timeout) so that
	 * nothing is left allocated. */
	ice_deferred(g);
	unwatch(g);
	while (g_main_context_iteration(g->ctx, FALSE))
		;
	event_free(g->run);
	event_free(g->later);
	free(g->fds);
	g_main_context_release(g->ctx);
	g_main_context_unref(g->ctx);
	free(g);
}
