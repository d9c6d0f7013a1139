#include "cmd.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/log.h"

int cmd_dispatch(const char *prog, const struct cmd_subcommand *cmds, size_t n,
		 const char *dflt, int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (name && (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 ||
		     strcmp(name, "help") == 0))
		goto usage;
	if (name && (strcmp(name, "-v") == 0 || strcmp(name, "--version") == 0))
		name = "version";
	if (name && name[0] == '-' && dflt) {
		/* `burrowd -c frps.toml`: frp's spelling of `burrowd run -c ...`. */
		for (size_t i = 0; i < n; i++)
			if (strcmp(cmds[i].name, dflt) == 0)
				return cmds[i].main(argc, argv);
	}
	for (size_t i = 0; name && i < n; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return cmds[i].main(argc - 1, argv + 1);
	if (name)
		fprintf(stderr, "%s: unknown command \"%s\"\n\n", prog, name);
usage:
	fprintf(stderr, "usage: %s <command> [options]\n\ncommands:\n", prog);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	return 2;
}

int cmd_config_path(const char *prog, int argc, char **argv, const char **path)
{
	*path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && i + 1 < argc) {
			*path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			*path = a + 9;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fprintf(stderr, "usage: %s %s -c FILE\n", prog, argv[0]);
			return 2;
		} else {
			fprintf(stderr, "%s: unexpected argument \"%s\" (usage: %s %s -c FILE)\n",
				prog, a, prog, argv[0]);
			return 2;
		}
	}
	if (!*path) {
		fprintf(stderr, "%s: no configuration file (usage: %s %s -c FILE)\n",
			prog, prog, argv[0]);
		return 2;
	}
	return 0;
}

void cmd_print_diag(const struct conf_diag *diag)
{
	for (size_t i = 0; i < diag->n; i++)
		fprintf(stderr, "%s: %s\n",
			diag->entries[i].severity == CONF_ERROR ? "error" : "warning",
			diag->entries[i].text);
}

int cmd_load_done(const char *path, int rc, struct conf_diag *diag)
{
	cmd_print_diag(diag);
	if (rc < 0 && diag->n_errors == 0)
		fprintf(stderr, "error: %s: %s\n", path, bw_strerror(rc));
	conf_diag_free(diag);
	return rc;
}

int cmd_verify_done(const char *prog, const char *path, int rc, char *text)
{
	if (rc < 0) {
		fprintf(stderr, "%s: %s: configuration is not valid\n", prog, path);
		return 1;
	}
	if (text)
		fputs(text, stdout);
	free(text);
	printf("%s: %s: configuration is valid\n", prog, path);
	return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct cmd_signals *s = arg;

	log_info("%s: %s received, shutting down", s->prog, sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopexit(s->base, NULL);
}

void cmd_signals_add(struct cmd_signals *s, struct event_base *base, const char *prog)
{
	static const int sigs[2] = { SIGINT, SIGTERM };

	s->base = base;
	s->prog = prog;
	for (int i = 0; i < 2; i++) {
		s->ev[i] = evsignal_new(base, sigs[i], on_signal, s);
		if (s->ev[i])
			evsignal_add(s->ev[i], NULL);
	}
}

void cmd_signals_free(struct cmd_signals *s)
{
	for (int i = 0; i < 2; i++) {
		if (s->ev[i])
			event_free(s->ev[i]);
		s->ev[i] = NULL;
	}
}
