/* burrowd's status as JSON: what `burrowd status` prints (rdv.h). */
#include "rendezvous/rdv_int.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/util.h"
#include "nat/nat.h"
#include "relay/relay.h"

/* A JSON string, escaped (names are bounded well below the buffer). */
static void json_str(struct evbuffer *b, const char *s)
{
	char esc[1024];

	evbuffer_add_printf(b, "\"%s\"", bw_json_escape(s, esc, sizeof(esc)));
}

int rdv_status_json(const struct rdv *r, struct evbuffer *out)
{
	struct relay_stats rs;
	int first = 1;

	relay_stats(r->relay, &rs);
	evbuffer_add_printf(out, "{\"version\":");
	json_str(out, BW_VERSION);
	evbuffer_add_printf(out, ",\"clients\":[");
	for (const struct rdv_conn *c = r->conns; c; c = c->next) {
		char nat[256];

		if (!c->logged_in)
			continue;
		evbuffer_add_printf(out, "%s{\"addr\":", first ? "" : ",");
		first = 0;
		json_str(out, c->addr);
		evbuffer_add_printf(out, ",\"run_id\":");
		json_str(out, c->run_id);
		evbuffer_add_printf(out, ",\"user\":");
		json_str(out, c->user);
		if (c->has_nat) {
			nat_report_format(&c->nat, nat, sizeof(nat));
			evbuffer_add_printf(out, ",\"nat\":{\"nat_type\":");
			json_str(out, nat_type_name((enum nat_type)c->nat.type));
			evbuffer_add_printf(out, ",\"summary\":");
			json_str(out, nat);
			evbuffer_add_printf(out, "}");
		} else {
			evbuffer_add_printf(out, ",\"nat\":null");
		}
		evbuffer_add_printf(out, "}");
	}
	evbuffer_add_printf(out, "],\"p2p\":[");
	first = 1;
	for (const struct rdv_pair *p = r->pairs; p; p = p->next) {
		static const char *const paths[] = { "none", "relayed", "probing", "direct" };
		static const char *const sides[] = { "visitor", "owner" };

		evbuffer_add_printf(out, "%s{\"sid\":\"%016llx\",\"proxy\":", first ? "" : ",",
				    (unsigned long long)p->sid);
		first = 0;
		json_str(out, p->proxy);
		evbuffer_add_printf(out, ",\"up_ms\":%lld", (long long)(bw_now_ms() - p->opened_ms));
		for (int i = 0; i < 2; i++) {
			const struct rdv_pair_view *v = &p->view[i];

			evbuffer_add_printf(out, ",\"%s\":{\"addr\":", sides[i]);
			json_str(out, p->side[i]->addr);
			evbuffer_add_printf(out, ",\"nat\":");
			json_str(out, nat_type_name(p->side[i]->has_nat ?
						    (enum nat_type)p->side[i]->nat.type :
						    NAT_TYPE_UNKNOWN));
			if (v->known) {
				evbuffer_add_printf(out, ",\"path\":\"%s\",\"remote\":",
						    paths[v->path & 3]);
				json_str(out, v->remote);
				evbuffer_add_printf(out, ",\"rtt_us\":%llu,\"tx_bytes\":%llu,"
						    "\"rx_bytes\":%llu",
						    (unsigned long long)v->rtt_us,
						    (unsigned long long)v->tx_bytes,
						    (unsigned long long)v->rx_bytes);
			}
			evbuffer_add_printf(out, "}");
		}
		evbuffer_add_printf(out, "}");
	}
	evbuffer_add_printf(out, "],\"stats\":{\"clients\":%llu,\"logins\":%llu,"
			    "\"auth_failures\":%llu,\"proxies\":%llu,\"conns_active\":%llu,"
			    "\"conns_total\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu}}\n",
			    (unsigned long long)r->stats.clients,
			    (unsigned long long)r->stats.logins,
			    (unsigned long long)r->stats.auth_failures,
			    (unsigned long long)rs.proxies, (unsigned long long)rs.pairs_active,
			    (unsigned long long)rs.pairs_total, (unsigned long long)rs.bytes_in,
			    (unsigned long long)rs.bytes_out);
	return 0;
}
