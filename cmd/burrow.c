/*
 * burrow: the peer behind NAT (frpc's role, plus P2P). A thin main: a table of
 * subcommands, each loading what it needs and handing over to the modules.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cmd/cmd.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"
#include "crypto/crypto.h"
#include "nat/nat.h"
#include "peer/peer.h"

/* The one context of the burrow process (STYLE.md 3). */
struct bw_client {
	struct event_base *base;
	struct conf_client conf;
	struct peer *peer;
	struct cmd_signals signals;
	int exit_code;
	int json;               /* burrow nat --json */
	struct nat_probe *probe;/* burrow nat --server */
	struct cmd_admin *admin;/* webServer.port: burrow status */
};

static int load(const char *path, struct conf_client *conf)
{
	struct conf_diag diag = {0};

	return cmd_load_done(path, conf_client_load(path, conf, &diag), &diag);
}

static int verify_main(int argc, char **argv)
{
	struct conf_client conf;
	const char *path;
	int rc = cmd_config_path("burrow", argc, argv, &path);

	if (rc)
		return rc;
	rc = load(path, &conf);
	rc = cmd_verify_done("burrow", path, rc, rc < 0 ? NULL : conf_client_describe(&conf));
	conf_client_free(&conf);
	return rc;
}

static int admin_fill(void *arg, struct evbuffer *out, bool json)
{
	return peer_status(arg, out, json);
}

/* burrow status -c FILE [--json]: ask the running burrow's admin API
 * (webServer.port) for its proxies, visitors and P2P sessions. */
static int status_main(int argc, char **argv)
{
	struct conf_client conf;
	const char *path, *args[8];
	int n = 0, rc;
	bool json = false;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (n < (int)BW_ARRAY_LEN(args) - 1)
			args[n++] = argv[i];
	}
	args[n] = NULL;
	rc = cmd_config_path("burrow", n, (char **)args, &path);
	if (rc)
		return rc;
	if (load(path, &conf) < 0)
		return 1;
	rc = cmd_admin_get("burrow", conf.web_addr, conf.web_port, conf.web_user,
			   conf.web_password, json);
	conf_client_free(&conf);
	return rc;
}

/* The peer gave up for good (loginFailExit): stop the loop, exit non-zero. */
static void on_fatal(void *arg, int rc)
{
	struct bw_client *cli = arg;

	cli->exit_code = 1;
	event_base_loopexit(cli->base, NULL);
}

static int run_main(int argc, char **argv)
{
	struct bw_client cli = {0};
	struct peer_hooks hooks = { .fatal = on_fatal, .arg = &cli };
	const char *path;
	enum log_level level = LOG_INFO;
	int rc = cmd_config_path("burrow", argc, argv, &path);

	if (rc)
		return rc;
	if (load(path, &cli.conf) < 0)
		return 1;
	log_level_parse(cli.conf.log.level, &level);
	rc = log_open(cli.conf.log.to, level, cli.conf.log.max_days);
	if (rc < 0) {
		fprintf(stderr, "burrow: log file %s: %s\n", cli.conf.log.to, bw_strerror(rc));
		goto err_conf;
	}
	rc = bw_crypto_init();
	if (rc < 0) {
		log_error("burrow: crypto init: %s", bw_strerror(rc));
		goto err_log;
	}
	signal(SIGPIPE, SIG_IGN);
	cli.base = event_base_new();
	if (!cli.base) {
		rc = BW_E_NOMEM;
		log_error("burrow: cannot create the event loop");
		goto err_log;
	}
	cli.peer = peer_new(cli.base, &cli.conf, &hooks, &rc);
	if (!cli.peer) {
		log_error("burrow: %s", bw_strerror(rc));
		goto err_base;
	}
	if (cli.conf.web_port) {
		cli.admin = cmd_admin_open("burrow", cli.base, cli.conf.web_addr,
					   cli.conf.web_port, cli.conf.web_user,
					   cli.conf.web_password, admin_fill, cli.peer);
		if (!cli.admin) {
			rc = BW_E_CONF_VALUE;
			goto err_peer;
		}
	}
	cmd_signals_add(&cli.signals, cli.base, "burrow");
	peer_start(cli.peer);
	event_base_dispatch(cli.base);
	rc = 0;
	cmd_signals_free(&cli.signals);
err_peer:
	cmd_admin_close(cli.admin);
	peer_free(cli.peer);
err_base:
	event_base_free(cli.base);
err_log:
	log_close();
err_conf:
	conf_client_free(&cli.conf);
	return rc < 0 ? 1 : cli.exit_code;
}

/* How long `burrow nat` waits for its NAT_REPORT to reach the socket. */
#define NAT_FLUSH_MS 2000

static void print_nat(struct bw_client *cli, const struct nat_result *r)
{
	char buf[NAT_FORMAT_MAX];

	if (cli->json)
		nat_result_format_json(r, buf, sizeof(buf));
	else
		nat_result_format_text(r, buf, sizeof(buf));
	fputs(buf, stdout);
	if (buf[0] && buf[strlen(buf) - 1] != '\n')
		fputc('\n', stdout);
	fflush(stdout);
	cli->exit_code = r->udp == NAT_UDP_OK ? 0 : 1;
}

/* Logged in: the NAT_REPORT is queued on the control connection; exit once
 * it is written (on_nat_stopped), or burrowd would never see it. */
static void on_nat_logged_in_done(void *arg, const struct nat_result *r)
{
	struct bw_client *cli = arg;

	print_nat(cli, r);
	peer_stop(cli->peer, NAT_FLUSH_MS);
}

static void on_nat_stopped(void *arg)
{
	struct bw_client *cli = arg;

	event_base_loopexit(cli->base, NULL);
}

static void on_nat_direct_done(const struct nat_result *r, void *arg)
{
	struct bw_client *cli = arg;

	print_nat(cli, r);
	event_base_loopexit(cli->base, NULL);
}

/*
 * burrow nat -c FILE [--json]: log in to the configured burrowd, probe its
 * STUN server, print what the NAT does. burrow nat --server HOST:PORT
 * [--json]: probe a STUN server directly (numeric address), no login.
 */
static int nat_main(int argc, char **argv)
{
	struct bw_client cli = {0};
	struct peer_hooks hooks = { .fatal = on_fatal, .nat_done = on_nat_logged_in_done,
				    .stopped = on_nat_stopped, .arg = &cli, .nat_only = 1 };
	const char *path = NULL, *server = NULL;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			cli.json = 1;
		else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
			 i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--server") == 0 && i + 1 < argc)
			server = argv[++i];
		else {
			fprintf(stderr, "usage: burrow nat (-c FILE | --server HOST:PORT) [--json]\n");
			return 2;
		}
	}
	if (!path == !server) {
		fprintf(stderr, "usage: burrow nat (-c FILE | --server HOST:PORT) [--json]\n");
		return 2;
	}
	if (bw_crypto_init() < 0)
		return 1;
	log_open(NULL, LOG_WARN, 0);
	cli.base = event_base_new();
	if (!cli.base)
		return 1;
	if (server) {
		struct nat_probe_conf pc = {0};
		char host[256], *colon;

		snprintf(host, sizeof(host), "%s", server);
		colon = strrchr(host, ':');
		if (colon)
			*colon = '\0';
		if (!colon || nat_addr_parse(host[0] == '[' ? host + 1 : host,
					     (uint16_t)atoi(colon + 1), &pc.server) < 0) {
			fprintf(stderr, "burrow nat: --server wants a numeric HOST:PORT, not \"%s\"\n",
				server);
			event_base_free(cli.base);
			return 2;
		}
		cli.probe = nat_probe_start(cli.base, &pc, on_nat_direct_done, &cli, &rc);
		if (!cli.probe) {
			fprintf(stderr, "burrow nat: %s\n", bw_strerror(rc));
			event_base_free(cli.base);
			return 1;
		}
		event_base_dispatch(cli.base);
		nat_probe_free(cli.probe);
		event_base_free(cli.base);
		return cli.exit_code;
	}
	if (load(path, &cli.conf) < 0) {
		event_base_free(cli.base);
		return 1;
	}
	cli.conf.login_fail_exit = true; /* a probe that cannot log in gives up */
	cli.peer = peer_new(cli.base, &cli.conf, &hooks, &rc);
	if (!cli.peer) {
		fprintf(stderr, "burrow nat: %s\n", bw_strerror(rc));
		cli.exit_code = 1;
	} else {
		peer_start(cli.peer);
		event_base_dispatch(cli.base);
		peer_free(cli.peer);
	}
	event_base_free(cli.base);
	conf_client_free(&cli.conf);
	log_close();
	return cli.exit_code;
}

static int version_main(int argc, char **argv)
{
	printf("burrow %s\n", BW_VERSION);
	return 0;
}

static const struct cmd_subcommand commands[] = {
	{ "run", run_main, "run the peer: burrow run -c frpc.toml (or burrow -c frpc.toml)" },
	{ "verify", verify_main, "check a configuration file and print what would run" },
	{ "nat", nat_main, "tell what the NAT in front of this machine does: burrow nat -c FILE [--json]" },
	{ "status", status_main, "show a running burrow's proxies, visitors and their paths: burrow status -c FILE [--json]" },
	{ "version", version_main, "print the version" },
};

int main(int argc, char **argv)
{
	return cmd_dispatch("burrow", commands, BW_ARRAY_LEN(commands), "run", argc, argv);
}
