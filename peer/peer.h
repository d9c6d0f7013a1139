/*
 * The peer: burrow's side of everything. It keeps the control connection to
 * burrowd (login with the handshake keyed by the token, heartbeats, reconnect
 * with backoff) and runs the configured proxies and visitors.
 */
#ifndef BW_PEER_H
#define BW_PEER_H

#include <stdbool.h>

#include <event2/event.h>

#include "conf/conf.h"

struct peer;
struct nat_result;

struct peer_hooks {
	/* The peer gave up for good (a failed first login with loginFailExit):
	 * the process should exit non-zero. rc says why. */
	void (*fatal)(void *arg, int rc);
	/* The NAT probe after login finished (optional; `burrow nat`). */
	void (*nat_done)(void *arg, const struct nat_result *r);
	/* peer_stop finished: the control connection is closed (optional). */
	void (*stopped)(void *arg);
	void *arg;
	/* Only log in and probe the NAT: no proxies, no visitors. */
	int nat_only;
};

/* conf must outlive the peer. */
struct peer *peer_new(struct event_base *base, const struct conf_client *conf,
		      const struct peer_hooks *hooks, int *rc);
/* Closes every connection. NULL is a no-op. */
void peer_free(struct peer *p);

/* Connect and log in; failures are retried on the loop with backoff. */
void peer_start(struct peer *p);

/* Close the control connection for good once everything queued on it has
 * been written (`burrow nat` must not exit before its NAT_REPORT is out), or
 * after timeout_ms if the socket does not drain; then call hooks.stopped,
 * always from the loop, never from inside peer_stop. No reconnection
 * follows. Proxies and visitors are left to peer_free. */
void peer_stop(struct peer *p, int timeout_ms);

/* Control connection state, for status and tests. */
enum peer_ctl_state {
	PEER_CTL_IDLE,        /* waiting to (re)connect */
	PEER_CTL_CONNECTING,  /* TCP connect in progress */
	PEER_CTL_HANDSHAKE,   /* HELLO sent, or LOGIN sent */
	PEER_CTL_LOGGED_IN,
};
enum peer_ctl_state peer_ctl_state(const struct peer *p);
const char *peer_ctl_state_name(enum peer_ctl_state st);


/* What `burrow status` shows, appended to out: JSON (one object) or a table.
 * Every proxy with its state and public address, every visitor and P2P
 * session with its path (direct or relayed), the remote address, RTT, bytes
 * each way and how long it has been up. */
struct evbuffer;
int peer_status(struct peer *p, struct evbuffer *out, bool json);

#endif
