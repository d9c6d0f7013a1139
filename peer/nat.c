/*
 * NAT detection at login: once logged in, burrow probes burrowd's STUN server
 * (LOGIN_RESP's udp_port on the control connection's address) and sends the
 * result to the rendezvous in NAT_REPORT, for the P2P planner.
 */
#include "peer/peer_int.h"

#include <stdio.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "common/err.h"
#include "common/log.h"
#include "nat/nat.h"
#include "proto/chan.h"

static void on_probe_done(const struct nat_result *r, void *arg)
{
	struct peer *p = arg;
	struct proto_msg m = { .type = PROTO_MSG_NAT_REPORT };
	struct nat_report rep;
	char buf[256];

	nat_report_from_result(r, &rep);
	p->nat_type = rep.type; /* the P2P planner's view of our side */
	nat_report_format(&rep, buf, sizeof(buf));
	if (r->udp == NAT_UDP_OK)
		log_info("burrow: NAT %s", buf);
	else
		log_warn("burrow: NAT probe: %s", r->error);
	if (p->ctl_state == PEER_CTL_LOGGED_IN) {
		m.nat_report.nat_type = rep.type;
		m.nat_report.udp = rep.udp;
		m.nat_report.mapping = rep.mapping;
		m.nat_report.filtering = rep.filtering;
		m.nat_report.port_alloc = rep.alloc;
		m.nat_report.port_delta = (uint16_t)rep.port_delta;
		m.nat_report.hairpin = rep.hairpin;
		m.nat_report.port_preserving = rep.port_preserving;
		m.nat_report.untested = rep.untested;
		proto_chan_send(p->ctl, &m, NULL);
	}
	if (p->hooks.nat_done)
		p->hooks.nat_done(p->hooks.arg, r); /* may free the peer */
	else
		peer_nat_stop(p);
}

void peer_nat_start(struct peer *p)
{
	struct nat_probe_conf pc = {0};
	socklen_t sl = sizeof(pc.server);
	int rc;

	peer_nat_stop(p);
	if (p->udp_port == 0) {
		log_info("burrow: NAT probe skipped: burrowd has no bindUDPPort");
		if (p->hooks.nat_done) {
			struct nat_result r = { .udp = NAT_UDP_NO_RESPONSE };

			snprintf(r.error, sizeof(r.error),
				 "burrowd has no UDP port for NAT probing (its bindUDPPort is 0)");
			p->hooks.nat_done(p->hooks.arg, &r);
		}
		return;
	}
	if (getpeername(bufferevent_getfd(proto_chan_bev(p->ctl)), (struct sockaddr *)&pc.server,
			&sl) < 0)
		return;
	if (pc.server.ss_family == AF_INET)
		((struct sockaddr_in *)&pc.server)->sin_port = htons(p->udp_port);
	else
		((struct sockaddr_in6 *)&pc.server)->sin6_port = htons(p->udp_port);
	p->nat = nat_probe_start(p->base, &pc, on_probe_done, p, &rc);
	if (!p->nat)
		log_warn("burrow: NAT probe: %s", bw_strerror(rc));
}

void peer_nat_stop(struct peer *p)
{
	nat_probe_free(p->nat);
	p->nat = NULL;
}
