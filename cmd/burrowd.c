/*
 * burrowd: the public server (rendezvous + relay). A thin main: a table of
 * subcommands, each loading what it needs and handing over to the modules.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "cmd/cmd.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "nat/nat.h"
#include "relay/relay.h"
#include "rendezvous/rdv.h"

/* The one context of the burrowd process (STYLE.md 3). */
struct bw_server {
	struct event_base *base;
	struct conf_server conf;
	struct relay *relay;
	struct rdv *rdv;
	struct nat_stun_server *stun;
	struct cmd_admin *admin;
	struct cmd_signals signals;
};

static int load(const char *path, struct conf_server *conf)
{
	struct conf_diag diag = {0};

	return cmd_load_done(path, conf_server_load(path, conf, &diag), &diag);
}

static int verify_main(int argc, char **argv)
{
	struct conf_server conf;
	const char *path;
	int rc = cmd_config_path("burrowd", argc, argv, &path);

	if (rc)
		return rc;
	rc = load(path, &conf);
	rc = cmd_verify_done("burrowd", path, rc, rc < 0 ? NULL : conf_server_describe(&conf));
	conf_server_free(&conf);
	return rc;
}

/* STUN on bindUDPPort for NAT probing, with RFC 5780's second address and
 * port when natProbeAltAddr is set. */
static int stun_start(struct bw_server *srv)
{
	const struct conf_server *c = &srv->conf;
	struct nat_stun_server_conf sc = {0};
	const char *a1 = c->nat_probe_addr && *c->nat_probe_addr ? c->nat_probe_addr : c->bind_addr;
	struct sockaddr_storage ss;
	char addr[BW_ADDR_STRLEN];
	int rc;

	if (c->bind_udp_port == 0)
		return 0;
	rc = nat_addr_parse(a1, c->bind_udp_port, &sc.addr);
	if (rc == 0 && c->nat_probe_alt_addr && *c->nat_probe_alt_addr) {
		rc = nat_addr_parse(c->nat_probe_alt_addr, 0, &sc.alt_addr);
		sc.alt_port = c->nat_probe_alt_port ? c->nat_probe_alt_port :
			      (uint16_t)(c->bind_udp_port + 1);
	}
	if (rc == 0)
		srv->stun = nat_stun_server_new(srv->base, &sc, &rc);
	if (!srv->stun) {
		log_error("burrowd: STUN on %s:%u: %s", a1, c->bind_udp_port, bw_strerror(rc));
		return rc < 0 ? rc : BW_E_INVAL;
	}
	for (unsigned i = 0; nat_stun_server_addr(srv->stun, i, &ss) == 0; i++)
		log_info("burrowd: STUN listening on udp %s",
			 bw_addr_format((struct sockaddr *)&ss, addr, sizeof(addr)));
	return 0;
}

/* burrowd's status is JSON either way (`burrowd status` prints it). */
static int admin_fill(void *arg, struct evbuffer *out, bool json)
{
	return rdv_status_json(arg, out);
}

/* burrowd status -c FILE: ask the running burrowd's admin API. */
static int status_main(int argc, char **argv)
{
	struct conf_server conf;
	const char *path;
	int rc = cmd_config_path("burrowd", argc, argv, &path);

	if (rc)
		return rc;
	if (load(path, &conf) < 0)
		return 1;
	rc = cmd_admin_get("burrowd", conf.web_addr, conf.web_port, conf.web_user,
			   conf.web_password, true);
	conf_server_free(&conf);
	return rc;
}

static int run_main(int argc, char **argv)
{
	struct bw_server srv = {0};
	const char *path;
	enum log_level level = LOG_INFO;
	int rc = cmd_config_path("burrowd", argc, argv, &path);

	if (rc)
		return rc;
	if (load(path, &srv.conf) < 0)
		return 1;
	log_level_parse(srv.conf.log.level, &level);
	rc = log_open(srv.conf.log.to, level, srv.conf.log.max_days);
	if (rc < 0) {
		fprintf(stderr, "burrowd: log file %s: %s\n", srv.conf.log.to, bw_strerror(rc));
		goto err_conf;
	}
	rc = bw_crypto_init();
	if (rc < 0) {
		log_error("burrowd: crypto init: %s", bw_strerror(rc));
		goto err_log;
	}
	signal(SIGPIPE, SIG_IGN);
	srv.base = event_base_new();
	if (!srv.base) {
		rc = BW_E_NOMEM;
		log_error("burrowd: cannot create the event loop");
		goto err_log;
	}
	srv.relay = relay_new(srv.base, &srv.conf, &rc);
	if (!srv.relay) {
		log_error("burrowd: %s", bw_strerror(rc));
		goto err_base;
	}
	srv.rdv = rdv_new(srv.base, &srv.conf, srv.relay, &rc);
	if (!srv.rdv) {
		log_error("burrowd: %s", bw_strerror(rc));
		goto err_relay;
	}
	rc = rdv_listener_open(srv.rdv);
	if (rc < 0) {
		log_error("burrowd: cannot listen on %s:%u: %s", srv.conf.bind_addr,
			  srv.conf.bind_port, bw_strerror(rc));
		goto err_rdv;
	}
	rc = relay_listeners_open(srv.relay);
	if (rc < 0) {
		log_error("burrowd: cannot open the vhost listeners: %s", bw_strerror(rc));
		goto err_rdv;
	}
	rc = stun_start(&srv);
	if (rc < 0)
		goto err_rdv;
	if (srv.conf.web_port) {
		srv.admin = cmd_admin_open("burrowd", srv.base, srv.conf.web_addr,
					   srv.conf.web_port, srv.conf.web_user,
					   srv.conf.web_password, admin_fill, srv.rdv);
		if (!srv.admin) {
			rc = BW_E_INVAL;
			goto err_rdv;
		}
	}
	cmd_signals_add(&srv.signals, srv.base, "burrowd");
	event_base_dispatch(srv.base);
	rc = 0;
	cmd_signals_free(&srv.signals);
err_rdv:
	cmd_admin_close(srv.admin);
	nat_stun_server_free(srv.stun);
	rdv_free(srv.rdv);
err_relay:
	relay_free(srv.relay);
err_base:
	event_base_free(srv.base);
err_log:
	log_close();
err_conf:
	conf_server_free(&srv.conf);
	return rc < 0 ? 1 : 0;
}

static int version_main(int argc, char **argv)
{
	printf("burrowd %s\n", BW_VERSION);
	return 0;
}

static const struct cmd_subcommand commands[] = {
	{ "run", run_main, "run the server: burrowd run -c frps.toml (or burrowd -c frps.toml)" },
	{ "verify", verify_main, "check a configuration file and print what would run" },
	{ "status", status_main, "show a running burrowd's clients and their NATs (webServer.port)" },
	{ "version", version_main, "print the version" },
};

int main(int argc, char **argv)
{
	return cmd_dispatch("burrowd", commands, BW_ARRAY_LEN(commands), "run", argc, argv);
}
