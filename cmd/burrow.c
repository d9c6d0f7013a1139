/*
 * burrow: the peer behind NAT (frpc's role, plus P2P). A thin main: a table of
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
#include "peer/peer.h"

/* The one context of the burrow process (STYLE.md 3). */
struct bw_client {
	struct event_base *base;
	struct conf_client conf;
	struct peer *peer;
	struct event *sigint, *sigterm;
	int exit_code;
};

static int load(const char *path, struct conf_client *conf)
{
	struct conf_diag diag = {0};
	int rc = conf_client_load(path, conf, &diag);

	cmd_print_diag(&diag);
	if (rc < 0 && diag.n_errors == 0)
		fprintf(stderr, "error: %s: %s\n", path, bw_strerror(rc));
	conf_diag_free(&diag);
	return rc;
}

static int verify_main(int argc, char **argv)
{
	struct conf_client conf;
	const char *path;
	char *text;
	int rc = cmd_config_path("burrow", argc, argv, &path);

	if (rc)
		return rc;
	if (load(path, &conf) < 0) {
		fprintf(stderr, "burrow: %s: configuration is not valid\n", path);
		return 1;
	}
	text = conf_client_describe(&conf);
	if (text)
		fputs(text, stdout);
	printf("burrow: %s: configuration is valid\n", path);
	free(text);
	conf_client_free(&conf);
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct bw_client *cli = arg;

	log_info("burrow: %s received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopexit(cli->base, NULL);
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
	cli.sigint = evsignal_new(cli.base, SIGINT, on_signal, &cli);
	cli.sigterm = evsignal_new(cli.base, SIGTERM, on_signal, &cli);
	evsignal_add(cli.sigint, NULL);
	evsignal_add(cli.sigterm, NULL);
	peer_start(cli.peer);
	event_base_dispatch(cli.base);
	rc = 0;
	event_free(cli.sigint);
	event_free(cli.sigterm);
	peer_free(cli.peer);
err_base:
	event_base_free(cli.base);
err_log:
	log_close();
err_conf:
	conf_client_free(&cli.conf);
	return rc < 0 ? 1 : cli.exit_code;
}

static int version_main(int argc, char **argv)
{
	printf("burrow %s\n", BW_VERSION);
	return 0;
}

static const struct cmd_subcommand commands[] = {
	{ "run", run_main, "run the peer: burrow run -c frpc.toml (or burrow -c frpc.toml)" },
	{ "verify", verify_main, "check a configuration file and print what would run" },
	{ "version", version_main, "print the version" },
};

int main(int argc, char **argv)
{
	return cmd_dispatch("burrow", commands, BW_ARRAY_LEN(commands), "run", argc, argv);
}
