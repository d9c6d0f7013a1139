/*
 * What `burrow status` shows: every proxy, visitor and P2P session of this
 * peer, as JSON (/api/status) or as a table (/api/status.txt). Both come from
 * one list of rows, so the two never disagree.
 */
#include "peer/session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/util.h"

#include "common/err.h"

#define STATUS_ROWS_MAX (PROTO_PROXIES_PER_CLIENT_MAX * 2 + 64)

static const char *const proxy_states[] = { "idle", "registering", "running", "refused" };


static size_t rows_collect(struct peer *p, struct peer_status_row *rows, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_proxies && n < cap; i++) {
		const struct peer_proxy *pp = &p->proxies[i];
		struct peer_status_row *r = &rows[n++];

		memset(r, 0, sizeof(*r));
		r->kind = "proxy";
		r->name = pp->conf->name;
		r->type = conf_proxy_type_name(pp->conf->type);
		r->state = proxy_states[pp->state];
		r->up_ms = -1;
		snprintf(r->remote, sizeof(r->remote), "%s", pp->remote);
		snprintf(r->detail, sizeof(r->detail), "local %s:%u", pp->conf->local_ip,
			 pp->conf->local_port);
	}
	n += peer_visitors_rows(p, rows + n, cap - n);
	for (struct peer_session *s = p->sessions; s && n < cap; s = s->next) {
		struct peer_status_row *r;

		if (peer_session_is_visitor(s))
			continue; /* shown on its visitor's row */
		r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->kind = "session";
		r->name = peer_session_label(s);
		r->type = peer_session_is_sudp(s) ? "sudp" : "xtcp";
		peer_session_row(s, r);
	}
	return n;
}

/* A JSON string, escaped (names are bounded well below the buffer). */
static void json_str(struct evbuffer *b, const char *s)
{
	char esc[1024];

	evbuffer_add_printf(b, "\"%s\"", bw_json_escape(s, esc, sizeof(esc)));
}

static void human_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024 && u + 1 < BW_ARRAY_LEN(units)) {
		d /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", d, units[u]);
}

static void human_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms / 1000;

	if (ms < 0)
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
}

int peer_status(struct peer *p, struct evbuffer *out, bool json)
{
	struct peer_status_row *rows = calloc(STATUS_ROWS_MAX, sizeof(*rows));
	size_t n;

	if (!rows)
		return BW_E_NOMEM;
	n = rows_collect(p, rows, STATUS_ROWS_MAX);
	if (json) {
		evbuffer_add_printf(out, "{\"version\":");
		json_str(out, BW_VERSION);
		evbuffer_add_printf(out, ",\"server\":\"%s:%u\",\"control\":", p->conf->server_addr,
				    p->conf->server_port);
		json_str(out, peer_ctl_state_name(p->ctl_state));
		evbuffer_add_printf(out, ",\"run_id\":");
		json_str(out, p->run_id);
		evbuffer_add_printf(out, ",\"entries\":[");
		for (size_t i = 0; i < n; i++) {
			const struct peer_status_row *r = &rows[i];

			evbuffer_add_printf(out, "%s{\"kind\":\"%s\",\"name\":", i ? "," : "", r->kind);
			json_str(out, r->name);
			evbuffer_add_printf(out, ",\"type\":\"%s\",\"state\":\"%s\",\"remote\":",
					    r->type, r->state ? r->state : "");
			json_str(out, r->remote);
			evbuffer_add_printf(out, ",\"rtt_us\":%llu,\"tx_bytes\":%llu,\"rx_bytes\":%llu,"
					    "\"up_ms\":%lld,\"detail\":", (unsigned long long)r->rtt_us,
					    (unsigned long long)r->tx_bytes,
					    (unsigned long long)r->rx_bytes, (long long)r->up_ms);
			json_str(out, r->detail);
			evbuffer_add_printf(out, "}");
		}
		evbuffer_add_printf(out, "]}\n");
	} else {
		evbuffer_add_printf(out, "burrow %s, server %s:%u, control %s\n\n", BW_VERSION,
				    p->conf->server_addr, p->conf->server_port,
				    peer_ctl_state_name(p->ctl_state));
		evbuffer_add_printf(out, "%-8s %-24s %-5s %-11s %-24s %9s %10s %10s %8s  %s\n",
				    "KIND", "NAME", "TYPE", "STATE/PATH", "REMOTE", "RTT", "OUT", "IN",
				    "UP", "DETAIL");
		for (size_t i = 0; i < n; i++) {
			const struct peer_status_row *r = &rows[i];
			char rtt[32] = "-", tx[32], rx[32], up[48];

			if (r->rtt_us)
				snprintf(rtt, sizeof(rtt), "%.1f ms", (double)r->rtt_us / 1000);
			human_bytes(r->tx_bytes, tx, sizeof(tx));
			human_bytes(r->rx_bytes, rx, sizeof(rx));
			human_duration(r->up_ms, up, sizeof(up));
			evbuffer_add_printf(out, "%-8s %-24s %-5s %-11s %-24s %9s %10s %10s %8s  %s\n",
					    r->kind, r->name, r->type, r->state ? r->state : "-",
					    r->remote[0] ? r->remote : "-", rtt, tx, rx, up, r->detail);
		}
	}
	free(rows);
	return 0;
}
