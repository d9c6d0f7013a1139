/* Shared between the files of rendezvous/; never included from outside. */
#ifndef BW_RDV_INT_H
#define BW_RDV_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/listener.h>

#include "common/util.h"
#include "crypto/crypto.h"
#include "crypto/replay.h"
#include "nat/nat.h"
#include "proto/proto.h"
#include "rendezvous/rdv.h"

/* One accepted connection, from accept until it closes. */
struct rdv_conn {
	struct rdv *rdv;
	struct rdv_conn *prev, *next;
	struct proto_chan *chan;
	struct bw_crypto_hs *hs;    /* between HELLO and LOGIN */
	uint64_t id;
	char addr[BW_ADDR_STRLEN];
	char run_id[PROTO_RUN_ID_MAX + 1];
	char user[PROTO_USER_MAX + 1];
	int logged_in;
	struct relay_client *rc;                /* logged in: proxies, work conns */
	uint8_t work_key[BW_CRYPTO_KEY_LEN];    /* tickets of its work connections */
	struct bw_crypto_replay work_counters;  /* tickets seen */
	struct nat_report nat;                  /* NAT_REPORT, for the P2P planner */
	bool has_nat;
	unsigned n_pairs;                       /* P2P sessions it takes part in */
};

/* One side's view of a P2P session (P2P_STATUS). */
struct rdv_pair_view {
	bool known;
	uint8_t path;                       /* 0 none, 1 relayed, 2 probing, 3 direct */
	char remote[PROTO_ADDR_MAX + 1];
	uint64_t rtt_us, tx_bytes, rx_bytes;
};

/* A P2P session burrowd coordinates, from P2P_OPEN until P2P_CLOSE or until
 * either side's control connection goes (pair.c). */
struct rdv_pair {
	struct rdv_pair *next, *prev;       /* in rdv->pairs */
	uint64_t sid;
	struct rdv_conn *side[2];           /* RDV_VISITOR, RDV_OWNER */
	char proxy[PROTO_PROXY_NAME_MAX + 1];
	int64_t opened_ms;
	bool answered;
	unsigned candidates[2];             /* forwarded from each side */
	struct rdv_pair_view view[2];
};
enum { RDV_VISITOR = 0, RDV_OWNER = 1 };

struct rdv {
	struct event_base *base;
	const struct conf_server *conf;
	struct relay *relay;
	struct evconnlistener *listener;
	struct event *resume;           /* after an EMFILE pause */
	uint16_t port;
	uint8_t psk[BW_CRYPTO_KEY_LEN];
	struct rdv_conn *conns;
	struct rdv_pair *pairs;
	uint64_t next_id;
	struct rdv_stats stats;
};


/* pair.c: P2P_OPEN, P2P_ANSWER, P2P_CANDIDATE, P2P_CLOSE, P2P_STATUS from c.
 * Returns what a proto handler returns (1: c was closed). */
int rdv_pair_msg(struct rdv_conn *c, struct proto_msg *m);
/* c is going away: end its sessions and tell the other sides. */
void rdv_pairs_drop(struct rdv_conn *c);
/* Close c after telling it why (rdv.c). */
int rdv_conn_refuse(struct rdv_conn *c, enum proto_errcode code, const char *text);

#endif
