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
};

struct rdv {
	struct event_base *base;
	const struct conf_server *conf;
	struct relay *relay;
	struct evconnlistener *listener;
	struct event *resume;           /* after an EMFILE pause */
	uint16_t port;
	uint8_t psk[BW_CRYPTO_KEY_LEN];
	struct rdv_conn *conns;
	uint64_t next_id;
	struct rdv_stats stats;
};

#endif
