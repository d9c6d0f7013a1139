/*
 * Configuration: frp's files, both formats (legacy INI and TOML), read into
 * plain structs through the one key table in conf/keys.def.
 *
 * Loading never opens a socket and never exits: it fills a struct and a list
 * of diagnostics ("frpc.toml:12: localPort: 70000 is above 65535"), and the
 * caller prints them and decides.
 */
#ifndef BW_CONF_H
#define BW_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conf_format { CONF_FORMAT_AUTO, CONF_FORMAT_INI, CONF_FORMAT_TOML };

enum conf_proxy_type {
	CONF_PROXY_TCP, CONF_PROXY_UDP, CONF_PROXY_HTTP, CONF_PROXY_HTTPS,
	CONF_PROXY_STCP, CONF_PROXY_SUDP, CONF_PROXY_XTCP, CONF_PROXY_TCPMUX,
};
const char *conf_proxy_type_name(enum conf_proxy_type t);

/* One line of `allowPorts`: a single port has lo == hi. */
struct conf_port_range {
	uint16_t lo, hi;
};

/* A string-to-string map (requestHeaders.set, metadatas), in file order. */
struct conf_kv {
	char *key;
	char *value;
};

struct conf_log {
	char *to;               /* "console" or a file path */
	char *level;            /* trace, debug, info, warn, error */
	int max_days;
	bool disable_print_color;
};

struct conf_server {
	char *bind_addr;
	uint16_t bind_port;
	uint16_t bind_udp_port;     /* STUN / NAT probing; 0 = off */
	char *nat_probe_addr;       /* STUN's A1 when bindAddr is a wildcard */
	char *nat_probe_alt_addr;   /* RFC 5780 A2; empty = none */
	uint16_t nat_probe_alt_port;/* RFC 5780 P2; 0 = bindUDPPort + 1 */
	char *proxy_bind_addr;
	uint16_t vhost_http_port;   /* 0 = http proxies refused */
	uint16_t vhost_https_port;
	int vhost_http_timeout_s;
	char *subdomain_host;
	char *auth_method;          /* "token" only */
	char *token;
	struct conf_port_range *allow_ports;
	size_t n_allow_ports;
	int max_ports_per_client;   /* 0 = unlimited */
	int heartbeat_timeout_s;
	int max_pool_count;
	int user_conn_timeout_s;
	bool tcp_mux;
	bool detailed_errors_to_client;
	struct conf_log log;
	char *web_addr;             /* admin API (webServer.*) */
	uint16_t web_port;          /* 0 = off */
	char *web_user;
	char *web_password;
};

struct conf_proxy {
	char *name;
	enum conf_proxy_type type;
	char *local_ip;
	uint16_t local_port;
	uint16_t remote_port;       /* tcp/udp; 0 = server picks */
	char **custom_domains;
	size_t n_custom_domains;
	char *subdomain;
	char **locations;
	size_t n_locations;
	char *host_header_rewrite;
	char *http_user;
	char *http_password;
	struct conf_kv *request_headers;
	size_t n_request_headers;
	char *secret_key;           /* stcp, sudp, xtcp */
	char **allow_users;
	size_t n_allow_users;
	bool use_encryption;
	bool use_compression;
	struct conf_kv *metadatas;
	size_t n_metadatas;
	bool enabled;               /* frp's `enabled`; false: not run */
	char *plugin;               /* frp plugin type, NULL if none: Burrow runs
				     * no plugins, so such a proxy does not run */
	int line;                   /* where the proxy was declared */
};

struct conf_visitor {
	char *name;
	enum conf_proxy_type type;  /* stcp, sudp or xtcp */
	char *server_name;
	char *server_user;
	char *secret_key;
	char *bind_addr;
	int bind_port;              /* -1: no listener (frp: only for fallback) */
	bool use_encryption;
	bool use_compression;
	char *fallback_to;
	int fallback_timeout_ms;
	bool keep_tunnel_open;
	bool relay_fallback;        /* Burrow: fall back to its relay on its own */
	bool enabled;               /* frp's `enabled`; false: not run */
	int line;
};

struct conf_client {
	char *server_addr;
	uint16_t server_port;
	char *user;
	char *auth_method;
	char *token;
	bool login_fail_exit;
	int pool_count;
	int heartbeat_interval_s;
	int heartbeat_timeout_s;
	int dial_server_timeout_s;
	char **start;               /* frp's `start`: only these proxies; empty = all */
	size_t n_start;
	char **p2p_local_addrs;     /* ICE host candidates only on these; empty = all */
	size_t n_p2p_local_addrs;
	int p2p_keepalive_s;
	bool p2p_disable_direct;
	char *web_addr;             /* admin API (webServer.*), for burrow status */
	uint16_t web_port;          /* 0 = off */
	char *web_user;
	char *web_password;
	struct conf_log log;
	struct conf_proxy *proxies;
	size_t n_proxies;
	struct conf_visitor *visitors;
	size_t n_visitors;
};

/* Diagnostics: every error and warning of one load, in file order. */
enum conf_severity { CONF_WARNING, CONF_ERROR };
struct conf_diag_entry {
	enum conf_severity severity;
	int line;                   /* 0 when about the whole file */
	char *text;                 /* "frpc.toml:12: localPort: 70000 is above 65535" */
};
struct conf_diag {
	struct conf_diag_entry *entries;
	size_t n;
	size_t n_errors;
};
void conf_diag_free(struct conf_diag *d);

/*
 * Load a file (at most CONF_FILE_MAX bytes). Returns 0, or a negative code when
 * any error was found (the struct is then freed and zeroed). Warnings and
 * errors are appended to *diag either way, sorted by line, at most about 50.
 * `label` is the name used in messages (usually the path as given).
 *
 * The format: .toml is TOML, .ini is INI, .yaml/.yml/.json are refused;
 * otherwise a [common] line means INI and anything else TOML. The _parse
 * functions take the format (CONF_FORMAT_AUTO applies the same rules to
 * `label`). {{ .Envs.NAME }} templates are rendered first, as frp does.
 * Keys, defaults and rules: docs/CONFIG.md.
 */
#define CONF_FILE_MAX (1u << 20)
int conf_server_load(const char *path, struct conf_server *out, struct conf_diag *diag);
int conf_client_load(const char *path, struct conf_client *out, struct conf_diag *diag);
int conf_server_parse(const char *label, const char *text, size_t len, enum conf_format fmt,
		      struct conf_server *out, struct conf_diag *diag);
int conf_client_parse(const char *label, const char *text, size_t len, enum conf_format fmt,
		      struct conf_client *out, struct conf_diag *diag);
void conf_server_free(struct conf_server *c);
void conf_client_free(struct conf_client *c);

/* Defaults as frp has them, for a struct the caller fills by hand (tests). */
void conf_server_defaults(struct conf_server *c);
void conf_client_defaults(struct conf_client *c);

/*
 * Whether the client runs this proxy / visitor: enabled, no frp plugin, a type
 * Burrow implements (not tcpmux), and named in `start` when start is set.
 */
bool conf_proxy_runs(const struct conf_client *c, const struct conf_proxy *p);
bool conf_visitor_runs(const struct conf_client *c, const struct conf_visitor *v);

/* One line per listener, proxy and visitor: what `verify` prints. Returns a
 * malloc'd string (NULL when out of memory). */
char *conf_server_describe(const struct conf_server *c);
char *conf_client_describe(const struct conf_client *c);

#endif
