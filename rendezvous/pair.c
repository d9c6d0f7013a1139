/*
 * P2P sessions: burrowd pairs the visitor of an xtcp or sudp proxy with its
 * owner and carries, over their control connections, what they need to set up
 * a session of their own: the handshake messages (keyed by the proxy's secret,
 * opaque here), ICE credentials and candidates, and each side's NAT type and
 * address as burrowd sees them. Sequence: docs/PROTOCOL.md, "P2P session".
 *
 * burrowd authorises the visitor exactly as for a relayed visitor connection
 * (a proof keyed with the verifier the owner registered, bound to the
 * visitor's ticket counter so that it cannot be replayed) and never learns the
 * secret or the session keys.
 */
#include "rendezvous/rdv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/chan.h"
#include "relay/relay.h"

static const char *const side_name[2] = { "visitor", "owner" };

static struct rdv_pair *pair_find(struct rdv *r, uint64_t sid)
{
	for (struct rdv_pair *p = r->pairs; p; p = p->next)
		if (p->sid == sid)
			return p;
	return NULL;
}

/* The pair sid in which c is a side, and which side. */
static struct rdv_pair *pair_of(struct rdv_conn *c, uint64_t sid, int *side)
{
	struct rdv_pair *p = pair_find(c->rdv, sid);

	if (!p)
		return NULL;
	for (int i = 0; i < 2; i++)
		if (p->side[i] == c) {
			*side = i;
			return p;
		}
	return NULL;
}

static void pair_free(struct rdv_pair *p, const char *why)
{
	struct rdv *r = p->side[RDV_VISITOR]->rdv;

	log_info("rdv: p2p %016llx (%s): %s <-> %s closed after %lld ms: %s",
		 (unsigned long long)p->sid, p->proxy, p->side[RDV_VISITOR]->addr,
		 p->side[RDV_OWNER]->addr, (long long)(bw_now_ms() - p->opened_ms), why);
	if (p->prev)
		p->prev->next = p->next;
	else
		r->pairs = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->side[RDV_VISITOR]->n_pairs--;
	p->side[RDV_OWNER]->n_pairs--;
	free(p);
}

/* Send to a side; a side that cannot take it is left to its own heartbeat
 * (its queue is full or it is closing), so this never closes anything. */
static void send_to(struct rdv_conn *c, struct proto_msg *m)
{
	if (proto_chan_send(c->chan, m, NULL) < 0)
		log_ratelimited(LOG_WARN, "rdv: client %s: cannot queue %s", c->addr,
				proto_msg_name(m->type));
}

static void send_refusal(struct rdv_conn *c, uint64_t sid, const char *error)
{
	struct proto_msg m = { .type = PROTO_MSG_P2P_ANSWER };

	m.p2p_answer.sid = sid;
	m.p2p_answer.error = error;
	m.p2p_answer.ufrag = "";
	m.p2p_answer.pwd = "";
	send_to(c, &m);
}

static void send_close(struct rdv_conn *c, uint64_t sid, const char *reason)
{
	struct proto_msg m = { .type = PROTO_MSG_P2P_CLOSE };

	m.p2p_close.sid = sid;
	m.p2p_close.reason = reason;
	send_to(c, &m);
}

static int on_open(struct rdv_conn *c, const struct proto_p2p_open *o)
{
	struct rdv *r = c->rdv;
	struct proto_msg m = { .type = PROTO_MSG_P2P_OFFER };
	char err[PROTO_ERROR_TEXT_MAX];
	void *arg = NULL;
	struct rdv_conn *owner;
	struct rdv_pair *p;
	int rc;

	if (bw_crypto_replay_check(&c->work_counters, o->counter) < 0) {
		log_ratelimited(LOG_WARN, "rdv: client %s: P2P_OPEN with a replayed counter",
				c->addr);
		return rdv_conn_refuse(c, PROTO_ERRCODE_AUTH_FAILED, "replayed ticket");
	}
	bw_crypto_replay_update(&c->work_counters, o->counter);
	rc = relay_secret_authorize(r->relay, c->user, c->run_id, o->counter, o->proxy_name,
				    o->proof, true, &arg, err, sizeof(err));
	owner = arg;
	if (rc == 0 && pair_find(r, o->sid)) {
		snprintf(err, sizeof(err), "session id in use");
		rc = BW_E_EXISTS;
	}
	if (rc == 0 && (c->n_pairs >= PROTO_P2P_SESSIONS_PER_CLIENT_MAX ||
			owner->n_pairs >= PROTO_P2P_SESSIONS_PER_CLIENT_MAX)) {
		snprintf(err, sizeof(err), "too many P2P sessions (at most %u per client)",
			 PROTO_P2P_SESSIONS_PER_CLIENT_MAX);
		rc = BW_E_RANGE;
	}
	if (rc == 0 && owner == c) {
		snprintf(err, sizeof(err), "a client cannot visit its own proxy");
		rc = -EINVAL;
	}
	if (rc < 0) {
		log_ratelimited(LOG_WARN, "rdv: client %s: p2p to %s refused: %s", c->addr,
				o->proxy_name, err);
		send_refusal(c, o->sid, err);
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		send_refusal(c, o->sid, "server out of memory");
		return 0;
	}
	p->sid = o->sid;
	p->side[RDV_VISITOR] = c;
	p->side[RDV_OWNER] = owner;
	snprintf(p->proxy, sizeof(p->proxy), "%s", o->proxy_name);
	p->opened_ms = bw_now_ms();
	p->next = r->pairs;
	if (r->pairs)
		r->pairs->prev = p;
	r->pairs = p;
	c->n_pairs++;
	owner->n_pairs++;

	m.p2p_offer.sid = o->sid;
	m.p2p_offer.proxy_name = o->proxy_name;
	m.p2p_offer.peer_user = c->user;
	m.p2p_offer.peer_addr = c->addr;
	m.p2p_offer.peer_nat = c->has_nat ? c->nat.type : 0;
	m.p2p_offer.ufrag = o->ufrag;
	m.p2p_offer.pwd = o->pwd;
	m.p2p_offer.hs = o->hs;
	send_to(owner, &m);
	log_info("rdv: p2p %016llx (%s): visitor %s (NAT %s) -> owner %s (NAT %s)",
		 (unsigned long long)p->sid, p->proxy, c->addr,
		 nat_type_name(c->has_nat ? (enum nat_type)c->nat.type : NAT_TYPE_UNKNOWN),
		 owner->addr,
		 nat_type_name(owner->has_nat ? (enum nat_type)owner->nat.type : NAT_TYPE_UNKNOWN));
	return 0;
}

static int on_answer(struct rdv_conn *c, struct proto_p2p_answer *a)
{
	int side;
	struct rdv_pair *p = pair_of(c, a->sid, &side);
	struct rdv_conn *owner = c;
	struct proto_msg m = { .type = PROTO_MSG_P2P_ANSWER };

	if (!p || side != RDV_OWNER || p->answered) {
		log_ratelimited(LOG_DEBUG, "rdv: client %s: P2P_ANSWER for no open session",
				c->addr);
		return 0;
	}
	p->answered = true;
	m.p2p_answer = *a;
	m.p2p_answer.has_peer_addr = true;
	m.p2p_answer.peer_addr = owner->addr;
	m.p2p_answer.has_peer_nat = true;
	m.p2p_answer.peer_nat = owner->has_nat ? owner->nat.type : 0;
	send_to(p->side[RDV_VISITOR], &m);
	if (a->error[0])
		pair_free(p, a->error);
	return 0;
}

static int on_candidate(struct rdv_conn *c, const struct proto_p2p_candidate *x)
{
	int side;
	struct rdv_pair *p = pair_of(c, x->sid, &side);
	struct proto_msg m = { .type = PROTO_MSG_P2P_CANDIDATE };

	if (!p)
		return 0; /* the session just ended; candidates can cross a close */
	if (p->candidates[side] >= PROTO_P2P_CANDIDATES_MAX) {
		log_ratelimited(LOG_WARN, "rdv: p2p %016llx: %s %s sent more than %u candidates",
				(unsigned long long)p->sid, side_name[side], c->addr,
				PROTO_P2P_CANDIDATES_MAX);
		return 0;
	}
	p->candidates[side]++;
	m.p2p_candidate = *x;
	send_to(p->side[!side], &m);
	return 0;
}

static int on_close(struct rdv_conn *c, const struct proto_p2p_close *x)
{
	int side;
	struct rdv_pair *p = pair_of(c, x->sid, &side);
	char why[PROTO_ERROR_TEXT_MAX + 32];

	if (!p)
		return 0;
	send_close(p->side[!side], p->sid, x->reason);
	snprintf(why, sizeof(why), "closed by the %s: %s", side_name[side], x->reason);
	pair_free(p, why);
	return 0;
}

static int on_status(struct rdv_conn *c, const struct proto_p2p_status *st)
{
	int side;
	struct rdv_pair *p = pair_of(c, st->sid, &side);
	struct rdv_pair_view *v;

	if (!p)
		return 0;
	v = &p->view[side];
	v->known = true;
	v->path = (uint8_t)st->path;
	snprintf(v->remote, sizeof(v->remote), "%s", st->remote);
	v->rtt_us = st->rtt_us;
	v->tx_bytes = st->tx_bytes;
	v->rx_bytes = st->rx_bytes;
	return 0;
}

int rdv_pair_msg(struct rdv_conn *c, struct proto_msg *m)
{
	switch (m->type) {
	case PROTO_MSG_P2P_OPEN:
		return on_open(c, &m->p2p_open);
	case PROTO_MSG_P2P_ANSWER:
		return on_answer(c, &m->p2p_answer);
	case PROTO_MSG_P2P_CANDIDATE:
		return on_candidate(c, &m->p2p_candidate);
	case PROTO_MSG_P2P_CLOSE:
		return on_close(c, &m->p2p_close);
	case PROTO_MSG_P2P_STATUS:
		return on_status(c, &m->p2p_status);
	default:
		return 0;
	}
}

void rdv_pairs_drop(struct rdv_conn *c)
{
	struct rdv_pair *p = c->rdv->pairs, *next;
	char why[64];

	for (; p && c->n_pairs; p = next) {
		next = p->next;
		for (int i = 0; i < 2; i++) {
			if (p->side[i] != c)
				continue;
			send_close(p->side[!i], p->sid, i == RDV_VISITOR ? "the visitor is gone" :
				   "the owner is gone");
			snprintf(why, sizeof(why), "the %s's control connection closed",
				 side_name[i]);
			pair_free(p, why);
			break;
		}
	}
}
