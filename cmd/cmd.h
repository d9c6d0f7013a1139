/*
 * What the two mains share: option parsing for `-c FILE` and printing a
 * configuration's diagnostics. Everything else lives in the modules.
 */
#ifndef BW_CMD_H
#define BW_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"

struct cmd_subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

/* Run the subcommand named argv[1] (or `dflt` when argv[1] is an option such as
 * -c, as frp's `frps -c frps.toml` does). Prints usage on error. */
int cmd_dispatch(const char *prog, const struct cmd_subcommand *cmds, size_t n,
		 const char *dflt, int argc, char **argv);

/* Parse `-c FILE` / `--config FILE` / `--config=FILE` (and -h). Returns 0 and
 * sets *path, or prints a usage error and returns 2. */
int cmd_config_path(const char *prog, int argc, char **argv, const char **path);

/* Print every diagnostic to stderr, prefixed "warning: " or "error: ". */
void cmd_print_diag(const struct conf_diag *diag);

/* After conf_*_load: print the diagnostics (and rc's text when no error
 * explains it), free them, and return rc. */
int cmd_load_done(const char *path, int rc, struct conf_diag *diag);

/* What `verify` prints for a loaded file: its description (freed here) and
 * the verdict. Returns the exit code. */
int cmd_verify_done(const char *prog, const char *path, int rc, char *text);

/* SIGINT and SIGTERM end base's loop, with one log line. */
struct event;
struct cmd_signals {
	struct event_base *base;
	const char *prog;
	struct event *ev[2];
};
void cmd_signals_add(struct cmd_signals *s, struct event_base *base, const char *prog);
void cmd_signals_free(struct cmd_signals *s);

/* The admin API (admin.c): GET /api/status answers what fill appends with
 * json set, GET /api/status.txt what it appends as a table. */
struct event_base;
struct evbuffer;
struct cmd_admin;
typedef int (*cmd_admin_fill_fn)(void *arg, struct evbuffer *out, bool json);
/* NULL (logged, as "PROG: cannot open the admin API on ADDR:PORT") on failure. */
struct cmd_admin *cmd_admin_open(const char *prog, struct event_base *base, const char *addr,
				 uint16_t port, const char *user, const char *pass,
				 cmd_admin_fill_fn fill, void *arg);
void cmd_admin_close(struct cmd_admin *a);
/* Fetch http://addr:port/api/status (json) or /api/status.txt and print it;
 * 0 on a 200 answer. */
int cmd_admin_get(const char *prog, const char *addr, uint16_t port, const char *user,
		  const char *pass, bool json);

#endif
