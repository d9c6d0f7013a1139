/* burrowd's status as JSON: what `burrowd status` prints (rdv.h). */
#include "rendezvous/rdv_int.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "nat/nat.h"
#include "relay/relay.h"

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20)
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, &c, 1);
	}
	evbuffer_add(b, "\"", 1);
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
