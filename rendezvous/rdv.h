/*
 * The rendezvous: burrowd's control listener. It accepts control connections,
 * authenticates them with the handshake keyed by the token, logs clients in
 * and keeps them alive with heartbeats.
 */
#ifndef BW_RDV_H
#define BW_RDV_H

#include <stdint.h>

#include <event2/event.h>

#include "conf/conf.h"

struct rdv;

struct relay;

/* conf and relay must outlive the rendezvous. */
struct rdv *rdv_new(struct event_base *base, const struct conf_server *conf,
		    struct relay *relay, int *rc);
/* Frees every connection and the listener. NULL is a no-op. */
void rdv_free(struct rdv *r);

/* Listen on bindAddr:bindPort and log the address ("burrowd: control listening
 * on 127.0.0.1:7000", the ready line tests wait for). bindPort 0 lets the
 * system pick a port. */
int rdv_listener_open(struct rdv *r);
uint16_t rdv_listener_port(const struct rdv *r);

struct rdv_stats {
	uint64_t clients;        /* logged in now */
	uint64_t logins;         /* since start */
	uint64_t auth_failures;  /* wrong token or tampered handshake */
};
void rdv_stats(const struct rdv *r, struct rdv_stats *out);

/* The logged-in clients (address, run id, user, NAT report) and the relay's
 * counters, as one JSON object appended to out: what `burrowd status` shows. */
struct evbuffer;
int rdv_status_json(const struct rdv *r, struct evbuffer *out);

#endif
