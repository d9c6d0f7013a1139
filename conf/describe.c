/*
 * What `burrowd verify` and `burrow verify` print: one line per listener,
 * proxy and visitor, saying where bytes will come from and go to.
 */
#include "conf/conf_int.h"

#include <stdlib.h>
#include <string.h>

static char *done(struct conf_buf *b)
{
	if (b->oom) {
		free(b->p);
		return NULL;
	}
	if (!b->p)
		return calloc(1, 1);
	return b->p;
}

/* ":8080" on every address, "10.0.0.1:8080" on one. */
static void listen_addr(struct conf_buf *b, const char *addr, unsigned port)
{
	if (!addr || !*addr || strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0)
		conf_buf_printf(b, ":%u", port);
	else if (strchr(addr, ':'))
		conf_buf_printf(b, "[%s]:%u", addr, port);
	else
		conf_buf_printf(b, "%s:%u", addr, port);
}

static void host_port(struct conf_buf *b, const char *host, unsigned port)
{
	conf_buf_printf(b, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
}

char *conf_server_describe(const struct conf_server *c)
{
	struct conf_buf b = { NULL, 0, 0, false };

	conf_buf_printf(&b, "server: control ");
	host_port(&b, c->bind_addr ? c->bind_addr : "0.0.0.0", c->bind_port);
	if (c->vhost_http_port) {
		conf_buf_printf(&b, ", http vhost ");
		listen_addr(&b, c->proxy_bind_addr, c->vhost_http_port);
	}
	if (c->vhost_https_port) {
		conf_buf_printf(&b, ", https vhost ");
		listen_addr(&b, c->proxy_bind_addr, c->vhost_https_port);
	}
	if (c->bind_udp_port) {
		conf_buf_printf(&b, ", udp/stun ");
		listen_addr(&b, c->bind_addr, c->bind_udp_port);
	}
	conf_buf_printf(&b, "\n");
	conf_buf_printf(&b, "auth: token (%s)\n",
			c->token && *c->token ? "set" : "EMPTY: any client can log in");
	if (c->n_allow_ports || c->max_ports_per_client) {
		conf_buf_printf(&b, "ports: ");
		if (!c->n_allow_ports)
			conf_buf_printf(&b, "any");
		for (size_t i = 0; i < c->n_allow_ports; i++) {
			conf_buf_printf(&b, "%s%u", i ? "," : "", c->allow_ports[i].lo);
			if (c->allow_ports[i].hi != c->allow_ports[i].lo)
				conf_buf_printf(&b, "-%u", c->allow_ports[i].hi);
		}
		if (c->max_ports_per_client)
			conf_buf_printf(&b, ", at most %d per client", c->max_ports_per_client);
		conf_buf_printf(&b, "\n");
	}
	if (c->subdomain_host && *c->subdomain_host)
		conf_buf_printf(&b, "subdomains: *.%s\n", c->subdomain_host);
	return done(&b);
}

static void proxy_line(struct conf_buf *b, const struct conf_client *c, const struct conf_proxy *p)
{
	conf_buf_printf(b, "proxy %s: %s ", p->name, conf_proxy_type_name(p->type));
	if (p->plugin) {
		conf_buf_printf(b, "plugin %s (not supported; will not run)\n", p->plugin);
		return;
	}
	host_port(b, p->local_ip, p->local_port);
	conf_buf_printf(b, " -> ");
	switch (p->type) {
	case CONF_PROXY_TCP:
	case CONF_PROXY_UDP:
		if (p->remote_port)
			conf_buf_printf(b, "server port %u", p->remote_port);
		else
			conf_buf_printf(b, "a server port burrowd picks");
		break;
	case CONF_PROXY_HTTP:
	case CONF_PROXY_HTTPS:
	case CONF_PROXY_TCPMUX: {
		const char *scheme = p->type == CONF_PROXY_HTTPS ? "https" : "http";
		size_t n = 0;

		for (size_t i = 0; i < p->n_custom_domains; i++, n++)
			conf_buf_printf(b, "%s%s://%s", n ? ", " : "", scheme, p->custom_domains[i]);
		if (p->subdomain && *p->subdomain)
			conf_buf_printf(b, "%s%s://%s.<subDomainHost>", n++ ? ", " : "", scheme,
					p->subdomain);
		if (p->n_locations) {
			conf_buf_printf(b, " (locations");
			for (size_t i = 0; i < p->n_locations; i++)
				conf_buf_printf(b, "%s %s", i ? "," : "", p->locations[i]);
			conf_buf_printf(b, ")");
		}
		if (p->http_user && *p->http_user)
			conf_buf_printf(b, " (basic auth)");
		break;
	}
	case CONF_PROXY_STCP:
	case CONF_PROXY_SUDP:
	case CONF_PROXY_XTCP:
		conf_buf_printf(b, "visitors with the secret key%s",
				p->secret_key && *p->secret_key ? "" : " (EMPTY)");
		break;
	}
	if (p->type == CONF_PROXY_TCPMUX)
		conf_buf_printf(b, " (tcpmux not supported; will not run)");
	else if (!p->enabled)
		conf_buf_printf(b, " (disabled)");
	else if (!conf_proxy_runs(c, p))
		conf_buf_printf(b, " (not in start; will not run)");
	conf_buf_printf(b, "\n");
}

static void visitor_line(struct conf_buf *b, const struct conf_client *c,
			 const struct conf_visitor *v)
{
	conf_buf_printf(b, "visitor %s: %s ", v->name, conf_proxy_type_name(v->type));
	if (v->bind_port < 0)
		conf_buf_printf(b, "(no listener)");
	else
		host_port(b, v->bind_addr, (unsigned)v->bind_port);
	if (v->server_user && *v->server_user)
		conf_buf_printf(b, " -> %s's \"%s\"", v->server_user, v->server_name);
	else
		conf_buf_printf(b, " -> owner's \"%s\"", v->server_name);
	if (v->type == CONF_PROXY_STCP)
		conf_buf_printf(b, " (via relay)");
	else if (v->fallback_to && *v->fallback_to)
		conf_buf_printf(b, " (fallback: visitor \"%s\" after %d ms)", v->fallback_to,
				v->fallback_timeout_ms);
	else if (v->relay_fallback)
		conf_buf_printf(b, " (fallback: relay)");
	else
		conf_buf_printf(b, " (direct only)");
	if (!v->enabled)
		conf_buf_printf(b, " (disabled)");
	else if (!conf_visitor_runs(c, v))
		conf_buf_printf(b, " (not in start; will not run)");
	conf_buf_printf(b, "\n");
}

char *conf_client_describe(const struct conf_client *c)
{
	struct conf_buf b = { NULL, 0, 0, false };

	conf_buf_printf(&b, "client: server ");
	host_port(&b, c->server_addr, c->server_port);
	if (c->user && *c->user)
		conf_buf_printf(&b, ", user %s", c->user);
	conf_buf_printf(&b, ", %d pooled connection%s\n", c->pool_count,
			c->pool_count == 1 ? "" : "s");
	for (size_t i = 0; i < c->n_proxies; i++)
		proxy_line(&b, c, &c->proxies[i]);
	for (size_t i = 0; i < c->n_visitors; i++)
		visitor_line(&b, c, &c->visitors[i]);
	return done(&b);
}
