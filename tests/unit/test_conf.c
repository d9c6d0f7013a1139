/*
 * The loader: both formats into the structs, every diagnostic path, defaults,
 * describe() and the key table itself. The TOML reader has its own file
 * (test_conf_toml.c), the seed snippets theirs (test_conf_seeds.c), the docs
 * check is test_conf_docs.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf_int.h"

enum who { SERVER, CLIENT };

/* Parse with either loader; returns rc, leaves *diag for inspection. */
static int parse(enum who w, const char *label, const char *doc, struct conf_diag *diag,
		 struct conf_server *s, struct conf_client *c)
{
	static const unsigned char zero[sizeof(struct conf_client) > sizeof(struct conf_server)
					? sizeof(struct conf_client) : sizeof(struct conf_server)];
	int rc;

	if (w == SERVER) {
		rc = conf_server_parse(label, doc, strlen(doc), CONF_FORMAT_AUTO, s, diag);
		if (rc < 0)
			assert_memory_equal(s, zero, sizeof(*s));
	} else {
		rc = conf_client_parse(label, doc, strlen(doc), CONF_FORMAT_AUTO, c, diag);
		if (rc < 0)
			assert_memory_equal(c, zero, sizeof(*c));
	}
	return rc;
}

static const struct conf_diag_entry *find(const struct conf_diag *d, enum conf_severity sev,
					  int line, const char *text)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->entries[i].severity == sev && d->entries[i].line == line &&
		    strstr(d->entries[i].text, text))
			return &d->entries[i];
	return NULL;
}

static void dump(const struct conf_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		print_message("  %s %s\n", d->entries[i].severity == CONF_ERROR ? "E" : "W",
			      d->entries[i].text);
}

struct diag_case {
	enum who who;
	const char *label;
	const char *doc;
	enum conf_severity sev;
	int line;
	const char *text;
};

#define PROXY_TOML "[[proxies]]\nname = \"p\"\ntype = \"tcp\"\nlocalPort = 22\n"

static const struct diag_case diag_cases[] = {
	/* ranges and types */
	{ CLIENT, "c.toml", "[[proxies]]\nname = \"ssh\"\ntype = \"tcp\"\nlocalPort = 70000\n",
	  CONF_ERROR, 4, "c.toml:4: localPort: 70000 is above the maximum 65535" },
	{ CLIENT, "c.toml", "serverPort = 0\n", CONF_ERROR, 1, "serverPort: 0 is below the minimum 1" },
	{ CLIENT, "c.toml", "serverPort = \"7000\"\n", CONF_ERROR, 1,
	  "serverPort: expected a port number, got a string" },
	{ CLIENT, "c.toml", "serverPort = 7000.0\n", CONF_ERROR, 1, "got a float" },
	{ CLIENT, "c.toml", "loginFailExit = \"yes\"\n", CONF_ERROR, 1, "expected true or false" },
	{ CLIENT, "c.toml", "start = \"ssh\"\n", CONF_ERROR, 1, "expected a list of strings" },
	{ CLIENT, "c.toml", "start = [1]\n", CONF_ERROR, 1, "expected a list of strings, got an integer" },
	{ CLIENT, "c.ini", "[common]\nlogin_fail_exit = maybe\n", CONF_ERROR, 2,
	  "login_fail_exit: \"maybe\" is not true or false" },
	{ CLIENT, "c.ini", "[common]\nserver_port = 70x\n", CONF_ERROR, 2,
	  "server_port: \"70x\" is not a port number" },
	{ CLIENT, "c.ini", "[common]\nserver_port = 99999 # comment\n", CONF_ERROR, 2,
	  "server_port: 99999 is above the maximum 65535" },
	{ CLIENT, "c.ini", "[common]\n\n[ssh]\nlocal_port =\n", CONF_ERROR, 4,
	  "local_port: empty value; expected a port number" },
	{ CLIENT, "c.ini", "[common]\nserver_addr = # where\n", CONF_ERROR, 2,
	  "server_addr: empty value; a value is required" },
	{ CLIENT, "c.ini", "[common]\nheartbeat_interval = -2\n", CONF_ERROR, 2, "below the minimum -1" },
	/* placeholders */
	{ CLIENT, "c.toml", "serverAddr = \"<server_ip>\"\n", CONF_ERROR, 1,
	  "serverAddr: \"<server_ip>\" looks like a placeholder; put the real value here" },
	{ CLIENT, "c.toml", "\nserverPort = <port>\n", CONF_ERROR, 2,
	  "c.toml:2:14: serverPort: \"<port>\" looks like a placeholder" },
	{ CLIENT, "c.ini", "[common]\nserver_port = <port>\n", CONF_ERROR, 2,
	  "c.ini:2: server_port: \"<port>\" looks like a placeholder; put the real value here" },
	{ SERVER, "s.ini", "[common]\ntoken = <设置你的token>\n", CONF_ERROR, 2,
	  "token: \"<设置你的token>\" looks like a placeholder" },
	/* required keys and semantics */
	{ CLIENT, "c.toml", "[[proxies]]\nname = \"ssh\"\ntype = \"tcp\"\n", CONF_ERROR, 1,
	  "proxy ssh: localPort is required" },
	{ CLIENT, "c.ini", "[common]\n[ssh]\ntype = udp\n", CONF_ERROR, 2,
	  "proxy ssh: local_port is required" },
	{ CLIENT, "c.toml", "[[proxies]]\nname = \"ssh\"\nlocalPort = 22\n", CONF_ERROR, 1,
	  "proxy ssh: type is required; valid types: tcp, udp" },
	{ CLIENT, "c.toml", "[[proxies]]\ntype = \"tcp\"\nlocalPort = 22\n", CONF_ERROR, 1,
	  "name is required" },
	{ CLIENT, "c.toml", "[[proxies]]\nname = \"x\"\ntype = \"htp\"\nlocalPort = 22\n", CONF_ERROR, 3,
	  "type: unknown proxy type \"htp\"; valid types: tcp, udp, http, https, stcp, sudp, xtcp" },
	{ CLIENT, "c.toml", "[[proxies]]\nname = \"web\"\ntype = \"http\"\nlocalPort = 80\n",
	  CONF_ERROR, 1, "proxy web: http proxies need customDomains or subdomain" },
	{ CLIENT, "c.ini", "[common]\n[web]\ntype = https\nlocal_port = 443\n", CONF_ERROR, 2,
	  "proxy web: https proxies need custom_domains or subdomain" },
	{ CLIENT, "c.toml", "[[visitors]]\nname = \"v\"\ntype = \"xtcp\"\nbindPort = 6000\n", CONF_ERROR, 1,
	  "visitor v: serverName is required" },
	{ CLIENT, "c.toml", "[[visitors]]\nname = \"v\"\ntype = \"tcp\"\nserverName = \"s\"\n", CONF_ERROR, 3,
	  "unknown visitor type \"tcp\"; valid types: stcp, sudp, xtcp" },
	{ CLIENT, "c.toml", "[[visitors]]\nname = \"v\"\nserverName = \"s\"\nbindPort = 1\n", CONF_ERROR, 1,
	  "visitor v: type is required" },
	{ CLIENT, "c.toml", "[[visitors]]\nname = \"v\"\ntype = \"stcp\"\nserverName = \"s\"\n", CONF_ERROR, 1,
	  "visitor v: bindPort is required (-1: no local listener)" },
	{ CLIENT, "c.ini", "[common]\n[v]\nrole = visitor\nserver_name = s\nbind_port = 9000\n", CONF_ERROR, 2,
	  "visitor v: type is required" },
	{ CLIENT, "c.ini", "[common]\n[v]\nrole = client\n", CONF_ERROR, 3, "role: \"client\" is not a role" },
	{ CLIENT, "c.toml", PROXY_TOML PROXY_TOML, CONF_ERROR, 5,
	  "proxy p: name already used by the proxy at line 1" },
	{ CLIENT, "c.toml",
	  "[[visitors]]\nname = \"v\"\ntype = \"stcp\"\nserverName = \"s\"\nsecretKey = \"k\"\nbindPort = 1\n"
	  "[[visitors]]\nname = \"v\"\ntype = \"stcp\"\nserverName = \"s\"\nsecretKey = \"k\"\nbindPort = 2\n",
	  CONF_ERROR, 7, "visitor v: name already used by the visitor at line 1" },
	{ CLIENT, "c.toml",
	  "[[visitors]]\nname = \"v\"\ntype = \"xtcp\"\nserverName = \"s\"\nsecretKey = \"k\"\nbindPort = 1\n"
	  "fallbackTo = \"nope\"\n", CONF_ERROR, 1, "visitor v: fallbackTo \"nope\" names no other visitor" },
	{ CLIENT, "c.toml", "auth.method = \"oidc\"\n", CONF_ERROR, 1,
	  "auth.method: \"oidc\" (oidc) is not supported; Burrow authenticates with a token only" },
	{ SERVER, "s.ini", "[common]\nauthentication_method = ldap\n", CONF_ERROR, 2,
	  "authentication_method: \"ldap\" is not an authentication method" },
	{ SERVER, "s.toml", "log.level = \"loud\"\n", CONF_ERROR, 1, "log.level: \"loud\" is not a level" },
	/* allowPorts */
	{ SERVER, "s.ini", "[common]\nallow_ports = 2000-x,3001\n", CONF_ERROR, 2,
	  "allow_ports: \"2000-x\" is not a port or a range (expected ports such as 2000-3000,3001)" },
	{ SERVER, "s.ini", "[common]\nallow_ports = 3000-2000\n", CONF_ERROR, 2,
	  "allow_ports: range 3000-2000 starts above its end" },
	{ SERVER, "s.ini", "[common]\nallow_ports = 1-70000\n", CONF_ERROR, 2,
	  "allow_ports: 70000 is above the maximum 65535" },
	{ SERVER, "s.toml", "allowPorts = [ { start = 1 } ]\n", CONF_ERROR, 1,
	  "allowPorts: expected { start = N, end = M } or { single = N }" },
	{ SERVER, "s.toml", "allowPorts = [ true ]\n", CONF_ERROR, 1, "allowPorts: expected ports" },
	/* unknown and unsupported keys */
	{ CLIENT, "c.toml", "\n\n\nserverPrt = 7000\n", CONF_WARNING, 4,
	  "c.toml:4: serverPrt: unknown key; did you mean \"serverPort\"?" },
	{ CLIENT, "c.toml", "ServerAddr = \"x\"\n", CONF_WARNING, 1, "did you mean \"serverAddr\"?" },
	{ CLIENT, "c.toml", "server_addr = \"x\"\n", CONF_WARNING, 1,
	  "server_addr: unknown key; did you mean \"serverAddr\"? (server_addr is the INI spelling)" },
	{ CLIENT, "c.ini", "[common]\nserverAddr = x\n", CONF_WARNING, 2,
	  "serverAddr: unknown key; did you mean \"server_addr\"? (serverAddr is the TOML spelling)" },
	{ CLIENT, "c.toml", "heartbeatInterval = 10\n", CONF_WARNING, 1,
	  "did you mean \"transport.heartbeatInterval\"?" },
	{ CLIENT, "c.toml", "[webserver]\nport = 1\n", CONF_WARNING, 1, "did you mean \"webServer\"?" },
	{ CLIENT, "c.ini", "[common]\nserver-port = 7000\n", CONF_WARNING, 2, "did you mean \"server_port\"?" },
	{ CLIENT, "c.toml", "bindPort = 7000\n", CONF_WARNING, 1,
	  "bindPort: burrowd (frps) key; ignored by burrow (frpc)" },
	{ SERVER, "s.toml", "serverAddr = \"x\"\n", CONF_WARNING, 1,
	  "serverAddr: burrow (frpc) key; ignored by burrowd (frps)" },
	{ CLIENT, "c.toml", "localPort = 22\n", CONF_WARNING, 1, "proxy key; it belongs in a [[proxies]] table" },
	{ CLIENT, "c.toml", PROXY_TOML "serverName = \"x\"\n", CONF_WARNING, 5, "visitor key; this is a proxy" },
	{ CLIENT, "c.toml", "zzzzzz = 1\n", CONF_WARNING, 1, "zzzzzz: unknown key; ignored" },
	{ SERVER, "s.ini", "[common]\nenable_prometheus = true\n", CONF_WARNING, 2,
	  "s.ini:2: enable_prometheus: not supported by Burrow yet; ignored" },
	{ SERVER, "s.toml", "enablePrometheus = true\n", CONF_WARNING, 1,
	  "enablePrometheus: not supported by Burrow yet; ignored" },
	{ SERVER, "s.toml", "[[httpPlugins]]\nname = \"x\"\n", CONF_WARNING, 1,
	  "httpPlugins: not supported by Burrow yet" },
	{ SERVER, "s.ini", "[common]\n[plugin.user]\naddr = x\n", CONF_WARNING, 2,
	  "[plugin.user]: server plugins are not supported by Burrow yet" },
	{ CLIENT, "c.toml", PROXY_TOML "transport.bandwidthLimit = \"1MB\"\n", CONF_WARNING, 5,
	  "transport.bandwidthLimit: not supported by Burrow yet; ignored" },
	{ CLIENT, "c.toml", PROXY_TOML "customDomains = [\"a\"]\n", CONF_WARNING, 5,
	  "customDomains: not used by tcp proxies; ignored" },
	{ CLIENT, "c.toml", PROXY_TOML "[proxies.plugin]\ntype = \"socks5\"\n", CONF_WARNING, 5,
	  "proxy p: plugin \"socks5\" is not supported by Burrow yet; the proxy will not run" },
	{ CLIENT, "c.toml", "[[proxies]]\nname = \"m\"\ntype = \"tcpmux\"\nlocalPort = 1\n"
	  "customDomains = [\"a\"]\n", CONF_WARNING, 3, "tcpmux proxies are not supported by Burrow yet" },
	{ CLIENT, "c.toml", "[[proxies]]\nname = \"s\"\ntype = \"stcp\"\nlocalPort = 22\n", CONF_WARNING, 1,
	  "proxy s: secretKey is empty" },
	{ CLIENT, "c.toml", "start = [\"ghost\"]\n", CONF_WARNING, 1, "start: no proxy or visitor named \"ghost\"" },
	{ SERVER, "s.toml", "bindPort = 7000\n", CONF_WARNING, 0, "auth.token is empty: any client can log in" },
	/* INI syntax */
	{ CLIENT, "c.ini", "[common\nserver_port = 1\n", CONF_ERROR, 1, "missing ']'" },
	{ CLIENT, "c.ini", "[common]\n[a]\nlocal_port = 1\n[a]\n", CONF_ERROR, 4,
	  "[a]: section appears twice (first at line 2)" },
	{ CLIENT, "c.ini", "[common]\nserver port = 1\n", CONF_ERROR, 2, "expected key = value" },
	{ CLIENT, "c.ini", "[common]\n= 1\n", CONF_ERROR, 2, "missing key before '='" },
	{ CLIENT, "c.ini", "[common]\nuser = a\nuser = b\n", CONF_WARNING, 3,
	  "user: set again in [common]; replaces the value from line 2" },
	{ CLIENT, "c.ini", "user = a\n[common]\n", CONF_WARNING, 1, "user: outside any section; ignored" },
	{ CLIENT, "c.ini", "[common]\nserver_port\n", CONF_ERROR, 2, "server_port: no value" },
	{ CLIENT, "c.ini", "[common]\n[range:web]\nlocal_port = 6000-6001\nremote_port = 7000\n",
	  CONF_ERROR, 4, "local_port has 2 ports but remote_port has 1" },
	{ CLIENT, "c.ini", "[common]\n[range:web]\nlocal_port = 6000\n", CONF_ERROR, 2,
	  "range sections need local_port and remote_port" },
	{ CLIENT, "c.ini", "[common]\n[x]\nlocal_port = 1\nname = y\n", CONF_WARNING, 4,
	  "name: ignored; in INI files the section name [x] is the name" },
	/* formats and templates */
	{ CLIENT, "frpc.yaml", "serverAddr: x\n", CONF_ERROR, 0,
	  "frpc.yaml: frp's YAML and JSON formats are not supported; convert the file to TOML" },
	{ CLIENT, "frpc", "{\"serverAddr\": \"x\"}\n", CONF_ERROR, 0, "looks like JSON" },
	{ CLIENT, "c.toml", "\nserverAddr = \"{{ .Envs.BW_TEST_UNSET_VAR }}\"\n", CONF_ERROR, 2,
	  "environment variable BW_TEST_UNSET_VAR is not set" },
	{ CLIENT, "c.toml", "{{- range $i := parseNumberRange \"1-2\" }}\n", CONF_ERROR, 1,
	  "not supported; Burrow renders only {{ .Envs.NAME }}" },
	{ CLIENT, "c.toml", "a = \"{{ .Envs.X\"\n", CONF_ERROR, 1, "'{{' without '}}'" },
	{ CLIENT, "c.toml", "x = 1979-05-27\n", CONF_ERROR, 1, "c.toml:1:5: x: dates and times are not supported" },
	{ CLIENT, "c.toml", "a = 1\n\0b = 2\n", CONF_ERROR, 2, "NUL byte" },
};

static void test_conf_parse_diagnostics(void **state)
{
	for (size_t i = 0; i < sizeof(diag_cases) / sizeof(diag_cases[0]); i++) {
		const struct diag_case *dc = &diag_cases[i];
		struct conf_diag d = { 0 };
		struct conf_server s;
		struct conf_client c;
		size_t len = strlen(dc->doc);
		int rc;

		/* The NUL case needs the length past the NUL. */
		if (strstr(dc->text, "NUL"))
			len = 13;
		if (dc->who == SERVER)
			rc = conf_server_parse(dc->label, dc->doc, len, CONF_FORMAT_AUTO, &s, &d);
		else
			rc = conf_client_parse(dc->label, dc->doc, len, CONF_FORMAT_AUTO, &c, &d);
		if (!find(&d, dc->sev, dc->line, dc->text)) {
			dump(&d);
			fail_msg("case %zu: no %s at line %d with \"%s\"", i,
				 dc->sev == CONF_ERROR ? "error" : "warning", dc->line, dc->text);
		}
		if ((dc->sev == CONF_ERROR) != (rc < 0) || (rc < 0) != (d.n_errors > 0)) {
			dump(&d);
			fail_msg("case %zu: rc %d with %zu errors", i, rc, d.n_errors);
		}
		if (rc == 0) {
			if (dc->who == SERVER)
				conf_server_free(&s);
			else
				conf_client_free(&c);
		}
		conf_diag_free(&d);
	}
}

static const char client_toml[] =
	"serverAddr = \"frps.example.com\"\n"
	"serverPort = 7001\n"
	"user = \"alice\"\n"
	"auth.method = \"token\"\n"
	"auth.token = \"s3cret#1\"\n"
	"loginFailExit = false\n"
	"transport.poolCount = 5\n"
	"transport.heartbeatInterval = 10\n"
	"transport.heartbeatTimeout = 40\n"
	"transport.dialServerTimeout = 5\n"
	"start = [\"ssh\", \"web\", \"ssh-visitor\"]\n"
	"log.to = \"/var/log/frpc.log\"\n"
	"log.level = \"debug\"\n"
	"log.maxDays = 7\n"
	"log.disablePrintColor = true\n"
	"\n"
	"[[proxies]]\n"
	"name = \"ssh\"\n"
	"type = \"tcp\"\n"
	"localIP = \"192.168.1.2\"\n"
	"localPort = 22\n"
	"remotePort = 6000\n"
	"transport.useEncryption = true\n"
	"transport.useCompression = true\n"
	"metadatas.owner = \"alice\"\n"
	"\n"
	"[[proxies]]\n"
	"name = \"web\"\n"
	"type = \"http\"\n"
	"localPort = 80\n"
	"customDomains = [\"www.example.com\", \"example.com\"]\n"
	"subdomain = \"web\"\n"
	"locations = [\"/\", \"/api\"]\n"
	"hostHeaderRewrite = \"internal\"\n"
	"httpUser = \"u\"\n"
	"httpPassword = \"p\"\n"
	"requestHeaders.set.x-from-where = \"frp\"\n"
	"requestHeaders.set.X-Two = \"2\"\n"
	"\n"
	"[[proxies]]\n"
	"name = \"secret\"\n"
	"type = \"xtcp\"\n"
	"localPort = 22\n"
	"secretKey = \"abc\"\n"
	"allowUsers = [\"*\"]\n"
	"\n"
	"[[visitors]]\n"
	"name = \"ssh-visitor\"\n"
	"type = \"xtcp\"\n"
	"serverName = \"secret\"\n"
	"serverUser = \"bob\"\n"
	"secretKey = \"abc\"\n"
	"bindAddr = \"0.0.0.0\"\n"
	"bindPort = 6022\n"
	"fallbackTo = \"stcp-visitor\"\n"
	"fallbackTimeoutMs = 500\n"
	"keepTunnelOpen = true\n"
	"relayFallback = false\n"
	"\n"
	"[[visitors]]\n"
	"name = \"stcp-visitor\"\n"
	"type = \"stcp\"\n"
	"serverName = \"secret2\"\n"
	"secretKey = \"abc\"\n"
	"bindPort = -1\n";

static const char client_ini[] =
	"[common]\n"
	"server_addr = frps.example.com\n"
	"server_port = 7001\n"
	"user = alice\n"
	"authentication_method = token\n"
	"token = s3cret#1   ; inline comment\n"
	"login_fail_exit = false\n"
	"pool_count = 5\n"
	"heartbeat_interval = 10\n"
	"heartbeat_timeout = 40\n"
	"dial_server_timeout = 5\n"
	"start = ssh, web,ssh-visitor\n"
	"log_file = /var/log/frpc.log\n"
	"log_level = debug\n"
	"log_max_days = 7\n"
	"disable_log_color = true\n"
	"\n"
	"[ssh]\n"
	"type = tcp\n"
	"local_ip = 192.168.1.2\n"
	"local_port = 22\n"
	"remote_port = 6000\n"
	"use_encryption\n"
	"use_compression = true\n"
	"meta_owner = alice\n"
	"\n"
	"[web]\n"
	"type = http\n"
	"local_port = 80\n"
	"custom_domains = www.example.com, example.com\n"
	"subdomain = web\n"
	"locations = /,/api\n"
	"host_header_rewrite = internal\n"
	"http_user = u\n"
	"http_pwd = p\n"
	"header_x-from-where = frp\n"
	"header_X-Two = \"2\"\n"
	"\n"
	"[secret]\n"
	"type = xtcp\n"
	"local_port = 22\n"
	"sk = abc\n"
	"allow_users = *\n"
	"\n"
	"[ssh-visitor]\n"
	"role = visitor\n"
	"type = xtcp\n"
	"server_name = secret\n"
	"server_user = bob\n"
	"sk = abc\n"
	"bind_addr = 0.0.0.0\n"
	"bind_port = 6022\n"
	"fallback_to = stcp-visitor\n"
	"fallback_timeout_ms = 500\n"
	"keep_tunnel_open = true\n"
	"relay_fallback = false\n"
	"\n"
	"[stcp-visitor]\n"
	"role = visitor\n"
	"type = stcp\n"
	"server_name = secret2\n"
	"sk = abc\n"
	"bind_port = -1\n";

/* Field by field through the key table, so a new key is compared too. */
static void expect_same(enum conf_scope s, const void *a, const void *b)
{
	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;

		if (k->scope != s || k->status != ST_SUP)
			continue;
		switch (k->type) {
		case T_STR:
		case T_STR1:
		case T_PLUGIN: {
			const char *x = *(char *const *)fa, *y = *(char *const *)fb;

			if ((x == NULL) != (y == NULL) || (x && strcmp(x, y)))
				fail_msg("%s: \"%s\" != \"%s\"", k->toml, x ? x : "(null)", y ? y : "(null)");
			break;
		}
		case T_INT:
			assert_int_equal(*(const int *)fa, *(const int *)fb);
			break;
		case T_PORT:
			assert_int_equal(*(const uint16_t *)fa, *(const uint16_t *)fb);
			break;
		case T_BOOL:
			if (*(const bool *)fa != *(const bool *)fb)
				fail_msg("%s differs", k->toml);
			break;
		case T_PTYPE:
			assert_int_equal(*(const enum conf_proxy_type *)fa,
					 *(const enum conf_proxy_type *)fb);
			break;
		case T_LIST: {
			size_t n = *(const size_t *)((const char *)a + k->n_off);

			assert_int_equal(n, *(const size_t *)((const char *)b + k->n_off));
			for (size_t j = 0; j < n; j++)
				assert_string_equal((*(char **const *)fa)[j], (*(char **const *)fb)[j]);
			break;
		}
		case T_MAP: {
			size_t n = *(const size_t *)((const char *)a + k->n_off);
			const struct conf_kv *x = *(struct conf_kv *const *)fa;
			const struct conf_kv *y = *(struct conf_kv *const *)fb;

			assert_int_equal(n, *(const size_t *)((const char *)b + k->n_off));
			for (size_t j = 0; j < n; j++) {
				assert_string_equal(x[j].key, y[j].key);
				assert_string_equal(x[j].value, y[j].value);
			}
			break;
		}
		case T_PORTS: {
			size_t n = *(const size_t *)((const char *)a + k->n_off);

			assert_int_equal(n, *(const size_t *)((const char *)b + k->n_off));
			assert_memory_equal(*(void *const *)fa, *(void *const *)fb,
					    n * sizeof(struct conf_port_range));
			break;
		}
		case T_TABLE:
			break;
		}
	}
}

static void test_conf_client_parse_ini_equals_toml(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_client t, i;

	assert_int_equal(parse(CLIENT, "frpc.toml", client_toml, &d, NULL, &t), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(parse(CLIENT, "frpc.ini", client_ini, &d, NULL, &i), 0);
	if (d.n)
		dump(&d);
	assert_int_equal(d.n, 0);
	expect_same(SCOPE_CLIENT, &t, &i);
	assert_int_equal(t.n_proxies, 3);
	assert_int_equal(i.n_proxies, 3);
	assert_int_equal(t.n_visitors, 2);
	assert_int_equal(i.n_visitors, 2);
	for (size_t k = 0; k < t.n_proxies; k++)
		expect_same(SCOPE_PROXY, &t.proxies[k], &i.proxies[k]);
	for (size_t k = 0; k < t.n_visitors; k++)
		expect_same(SCOPE_VISITOR, &t.visitors[k], &i.visitors[k]);

	/* And the values are the ones written. */
	assert_string_equal(t.server_addr, "frps.example.com");
	assert_int_equal(t.server_port, 7001);
	assert_string_equal(t.token, "s3cret#1");
	assert_false(t.login_fail_exit);
	assert_int_equal(t.pool_count, 5);
	assert_int_equal(t.heartbeat_interval_s, 10);
	assert_int_equal(t.n_start, 3);
	assert_string_equal(t.log.level, "debug");
	assert_true(t.log.disable_print_color);
	assert_int_equal(t.proxies[0].line, 17);
	assert_int_equal(i.proxies[0].line, 18);
	assert_true(t.proxies[0].use_encryption);
	assert_string_equal(t.proxies[0].metadatas[0].key, "owner");
	assert_int_equal(t.proxies[1].type, CONF_PROXY_HTTP);
	assert_string_equal(t.proxies[1].custom_domains[1], "example.com");
	assert_string_equal(t.proxies[1].request_headers[0].key, "x-from-where");
	assert_string_equal(t.proxies[1].request_headers[1].value, "2");
	assert_string_equal(t.proxies[2].allow_users[0], "*");
	assert_int_equal(t.visitors[0].fallback_timeout_ms, 500);
	assert_false(t.visitors[0].relay_fallback);
	assert_int_equal(t.visitors[1].bind_port, -1);
	assert_true(conf_proxy_runs(&t, &t.proxies[0]));
	assert_false(conf_proxy_runs(&t, &t.proxies[2])); /* not in start */
	assert_false(conf_visitor_runs(&t, &t.visitors[1]));
	conf_client_free(&t);
	conf_client_free(&i);
	conf_diag_free(&d);
}

static const char server_toml[] =
	"bindAddr = \"10.0.0.1\"\n"
	"bindPort = 7100\n"
	"bindUDPPort = 7101\n"
	"vhostHTTPPort = 8080\n"
	"vhostHTTPSPort = 8443\n"
	"vhostHTTPTimeout = 30\n"
	"subDomainHost = \"frps.com\"\n"
	"auth.token = \"tok\"\n"
	"allowPorts = [ { start = 2000, end = 3000 }, { single = 3001 }, { single = 3003 } ]\n"
	"maxPortsPerClient = 10\n"
	"transport.heartbeatTimeout = 60\n"
	"transport.maxPoolCount = 3\n"
	"transport.tcpMux = false\n"
	"userConnTimeout = 20\n"
	"detailedErrorsToClient = false\n"
	"log.to = \"console\"\n"
	"log.level = \"warn\"\n"
	"log.maxDays = 1\n";

static const char server_ini[] =
	"[common]\n"
	"bind_addr = 10.0.0.1\n"
	"bind_port = 7100\n"
	"bind_udp_port = 7101\n"
	"vhost_http_port = 8080\n"
	"vhost_https_port = 8443\n"
	"vhost_http_timeout = 30\n"
	"subdomain_host = frps.com\n"
	"token = tok\n"
	"allow_ports = 2000-3000,3001,3003\n"
	"max_ports_per_client = 10\n"
	"heartbeat_timeout = 60\n"
	"max_pool_count = 3\n"
	"tcp_mux = false\n"
	"user_conn_timeout = 20\n"
	"detailed_errors_to_client = false\n"
	"log_file = console\n"
	"log_level = warn\n"
	"log_max_days = 1\n";

static void test_conf_server_parse_ini_equals_toml(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_server t, i;

	assert_int_equal(parse(SERVER, "frps.toml", server_toml, &d, &t, NULL), 0);
	assert_int_equal(parse(SERVER, "frps.ini", server_ini, &d, &i, NULL), 0);
	if (d.n)
		dump(&d);
	assert_int_equal(d.n, 0);
	expect_same(SCOPE_SERVER, &t, &i);
	assert_int_equal(t.n_allow_ports, 3);
	assert_int_equal(t.allow_ports[0].lo, 2000);
	assert_int_equal(t.allow_ports[0].hi, 3000);
	assert_int_equal(t.allow_ports[2].lo, 3003);
	assert_string_equal(t.proxy_bind_addr, "10.0.0.1");
	assert_false(t.tcp_mux);
	conf_server_free(&t);
	conf_server_free(&i);
	conf_diag_free(&d);
}

static void test_conf_defaults_follow_frp(void **state)
{
	struct conf_server s;
	struct conf_client c;
	struct conf_diag d = { 0 };

	conf_server_defaults(&s);
	assert_string_equal(s.bind_addr, "0.0.0.0");
	assert_int_equal(s.bind_port, 7000);
	assert_int_equal(s.bind_udp_port, 0);
	assert_int_equal(s.vhost_http_port, 0);
	assert_int_equal(s.vhost_http_timeout_s, 60);
	assert_string_equal(s.auth_method, "token");
	assert_int_equal(s.max_pool_count, 5);
	assert_int_equal(s.heartbeat_timeout_s, 90);
	assert_int_equal(s.user_conn_timeout_s, 10);
	assert_true(s.tcp_mux);
	assert_true(s.detailed_errors_to_client);
	assert_string_equal(s.log.to, "console");
	assert_string_equal(s.log.level, "info");
	assert_int_equal(s.log.max_days, 3);
	conf_server_free(&s);

	conf_client_defaults(&c);
	assert_string_equal(c.server_addr, "0.0.0.0");
	assert_int_equal(c.server_port, 7000);
	assert_true(c.login_fail_exit);
	assert_int_equal(c.pool_count, 1);
	assert_int_equal(c.heartbeat_interval_s, 30);
	assert_int_equal(c.heartbeat_timeout_s, 90);
	assert_int_equal(c.dial_server_timeout_s, 10);
	conf_client_free(&c);

	{
		const char *doc = PROXY_TOML "[[visitors]]\nname = \"v\"\ntype = \"xtcp\"\n"
				  "serverName = \"p\"\nsecretKey = \"k\"\nbindPort = 1\n";

		assert_int_equal(conf_client_parse("c.toml", doc, strlen(doc), CONF_FORMAT_TOML,
						   &c, &d), 0);
	}
	assert_string_equal(c.proxies[0].local_ip, "127.0.0.1");
	assert_true(c.proxies[0].enabled);
	assert_null(c.proxies[0].plugin);
	assert_string_equal(c.visitors[0].bind_addr, "127.0.0.1");
	assert_int_equal(c.visitors[0].fallback_timeout_ms, 1000);
	assert_true(c.visitors[0].relay_fallback);
	assert_true(c.visitors[0].enabled);
	conf_client_free(&c);
	conf_diag_free(&d);
}

static void test_conf_ini_values(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_client c;
	const char *doc =
		"; comment\n"
		"[common]\n"
		"token = ab#cd   # the token keeps its #\n"
		"user = \"a # b\"  ; quoted keeps it\n"
		"server_addr: 192.0.2.1\n"
		"server_port = 7000;no space: kept, then rejected? no: 7000;no is not a port\n";

	assert_true(conf_client_parse("c.ini", doc, strlen(doc), CONF_FORMAT_AUTO, &c, &d) < 0);
	assert_non_null(find(&d, CONF_ERROR, 6, "is not a port number"));
	conf_diag_free(&d);

	doc = "[common]\n"
	      "token = ab#cd   # the token keeps its #\n"
	      "user = \"a # b\"  ; quoted keeps it\n"
	      "server_addr: 192.0.2.1\n"
	      "dns_server = 8.8.8.8\t# tab before the comment\n"
	      "[range:game]\n"
	      "type = udp\n"
	      "local_port = 6000-6002,6005\n"
	      "remote_port = 7000-7003\n";
	assert_int_equal(conf_client_parse("c", doc, strlen(doc), CONF_FORMAT_AUTO, &c, &d), 0);
	assert_string_equal(c.token, "ab#cd");
	assert_string_equal(c.user, "a # b");
	assert_string_equal(c.server_addr, "192.0.2.1");
	assert_non_null(find(&d, CONF_WARNING, 5, "dns_server: not supported"));
	assert_int_equal(c.n_proxies, 4);
	assert_string_equal(c.proxies[0].name, "game_0");
	assert_string_equal(c.proxies[3].name, "game_3");
	assert_int_equal(c.proxies[3].local_port, 6005);
	assert_int_equal(c.proxies[3].remote_port, 7003);
	assert_int_equal(c.proxies[1].type, CONF_PROXY_UDP);
	conf_client_free(&c);
	conf_diag_free(&d);
}

static void test_conf_unsupported_default_is_silent(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_client c;
	const char *doc = "transport.tls.enable = true\ntransport.protocol = \"tcp\"\n"
			  "webServer.port = 0\n[[proxies]]\nname = \"a\"\ntype = \"tcp\"\nlocalPort = 1\n"
			  "transport.bandwidthLimitMode = \"client\"\n";

	assert_int_equal(conf_client_parse("c.toml", doc, strlen(doc), CONF_FORMAT_AUTO, &c, &d), 0);
	if (d.n)
		dump(&d);
	assert_int_equal(d.n, 0);
	conf_client_free(&c);
}

/*
 * Files in the style of frp's full examples, with every kind of key Burrow
 * does not support: they load, and every message is a warning about one.
 */
static const char kitchen_toml[] =
	"user = \"me\"\nserverAddr = \"192.0.2.1\"\nnatHoleStunServer = \"stun.example.net:3478\"\n"
	"dnsServer = \"8.8.8.8\"\nwebServer.addr = \"0.0.0.0\"\nwebServer.port = 7400\n"
	"transport.protocol = \"kcp\"\ntransport.tls.enable = false\ntransport.quic.keepalivePeriod = 5\n"
	"auth.additionalScopes = [\"HeartBeats\"]\nauth.oidc.clientID = \"x\"\nincludes = [\"./confd/*.toml\"]\n"
	"featureGates = { VirtualNet = true }\nmetadatas.team = \"a\"\nudpPacketSize = 1400\n"
	"[[proxies]]\nname = \"db\"\ntype = \"tcp\"\nlocalPort = 5432\nremotePort = 15432\n"
	"transport.bandwidthLimit = \"2MB\"\nloadBalancer.group = \"g\"\nloadBalancer.groupKey = \"k\"\n"
	"healthCheck.type = \"tcp\"\nhealthCheck.intervalSeconds = 5\n[proxies.annotations]\nowner = \"me\"\n"
	"[[proxies]]\nname = \"site\"\ntype = \"http\"\nlocalPort = 8080\ncustomDomains = [\"a.example\"]\n"
	"responseHeaders.set.x-a = \"b\"\nrouteByHTTPUser = \"u\"\ntransport.proxyProtocolVersion = \"v1\"\n"
	"healthCheck.httpHeaders = [ { name = \"a\", value = \"b\" } ]\n"
	"[[proxies]]\nname = \"sock\"\ntype = \"tcp\"\nremotePort = 1080\n[proxies.plugin]\ntype = \"socks5\"\n"
	"[[visitors]]\nname = \"v\"\ntype = \"xtcp\"\nserverName = \"x\"\nsecretKey = \"k\"\nbindPort = 6000\n"
	"protocol = \"kcp\"\nmaxRetriesAnHour = 4\nnatTraversal.disableAssistedAddrs = true\n";

static const char kitchen_ini[] =
	"[common]\nserver_addr = 192.0.2.1\nadmin_addr = 0.0.0.0\nadmin_port = 7400\nadmin_user = a\n"
	"admin_pwd = b\ntls_enable = false\nprotocol = websocket\nhttp_proxy = http://proxy:3128\n"
	"authenticate_heartbeats = true\noidc_client_id = x\noidc_additional_audience = y\n"
	"oidc_additional_var = z\nmeta_team = a\nincludes = ./confd/*.ini\nlog_way = file\n"
	"[db]\ntype = tcp\nlocal_port = 5432\nremote_port = 15432\nbandwidth_limit = 2MB\ngroup = g\n"
	"group_key = k\nhealth_check_type = tcp\nhealth_check_interval_s = 5\nproxy_protocol_version = v2\n"
	"[sock]\ntype = tcp\nremote_port = 1080\nplugin = socks5\nplugin_user = u\nplugin_passwd = p\n"
	"[v]\nrole = visitor\ntype = xtcp\nserver_name = x\nsk = k\nbind_port = 6000\nprotocol = kcp\n"
	"max_retries_an_hour = 4\n";

static void test_conf_parse_frp_kitchen_sink(void **state)
{
	const char *docs[] = { kitchen_toml, kitchen_ini };
	const char *labels[] = { "frpc.toml", "frpc.ini" };

	for (int f = 0; f < 2; f++) {
		struct conf_diag d = { 0 };
		struct conf_client c;

		assert_int_equal(conf_client_parse(labels[f], docs[f], strlen(docs[f]),
						   CONF_FORMAT_AUTO, &c, &d), 0);
		assert_true(d.n >= 10);
		for (size_t i = 0; i < d.n; i++)
			if (!strstr(d.entries[i].text, "not supported by Burrow yet"))
				fail_msg("%s", d.entries[i].text);
		/* One warning for the plugin, none for its parameters. */
		assert_non_null(find(&d, CONF_WARNING, f ? 30 : 41, "plugin \"socks5\""));
		assert_null(find(&d, CONF_WARNING, 31, "plugin_user"));
		if (f)
			assert_null(find(&d, CONF_WARNING, 13, "oidc_additional_var"));
		assert_false(conf_proxy_runs(&c, &c.proxies[c.n_proxies - 1]));
		assert_true(conf_proxy_runs(&c, &c.proxies[0]));
		conf_client_free(&c);
		conf_diag_free(&d);
	}
}

static void test_conf_parse_templates(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_client c;
	const char *doc = "serverAddr = \"{{ .Envs.BW_TEST_ADDR }}\"\nserverPort = {{.Envs.BW_TEST_PORT}}\n";

	setenv("BW_TEST_ADDR", "203.0.113.9", 1);
	setenv("BW_TEST_PORT", "7123", 1);
	assert_int_equal(conf_client_parse("c.toml", doc, strlen(doc), CONF_FORMAT_AUTO, &c, &d), 0);
	assert_string_equal(c.server_addr, "203.0.113.9");
	assert_int_equal(c.server_port, 7123);
	conf_client_free(&c);
	doc = "[common]\nserver_port = {{ .Envs.BW_TEST_PORT }}\n";
	assert_int_equal(conf_client_parse("c.ini", doc, strlen(doc), CONF_FORMAT_AUTO, &c, &d), 0);
	assert_int_equal(c.server_port, 7123);
	conf_client_free(&c);
	setenv("BW_TEST_PORT", "1\n2", 1);
	assert_true(conf_client_parse("c.ini", doc, strlen(doc), CONF_FORMAT_AUTO, &c, &d) < 0);
	assert_non_null(find(&d, CONF_ERROR, 2, "more than one line"));
	unsetenv("BW_TEST_ADDR");
	unsetenv("BW_TEST_PORT");
	conf_diag_free(&d);
}

static void test_conf_parse_format_detection(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_client c;
	const char *ini = "# frpc\n[common]  # yes\nserver_port = 7001\n";
	const char *toml = "serverPort = 7002\n";

	assert_int_equal(conf_client_parse("frpc.conf", ini, strlen(ini), CONF_FORMAT_AUTO, &c, &d), 0);
	assert_int_equal(c.server_port, 7001);
	conf_client_free(&c);
	assert_int_equal(conf_client_parse("frpc.conf", toml, strlen(toml), CONF_FORMAT_AUTO, &c, &d), 0);
	assert_int_equal(c.server_port, 7002);
	conf_client_free(&c);
	/* The extension wins over the content; an explicit format over both. */
	assert_true(conf_client_parse("frpc.toml", ini, strlen(ini), CONF_FORMAT_AUTO, &c, &d) < 0);
	assert_non_null(find(&d, CONF_ERROR, 2, "[common] is frp's INI layout"));
	assert_int_equal(conf_client_parse("frpc.toml", ini, strlen(ini), CONF_FORMAT_INI, &c, &d), 0);
	conf_client_free(&c);
	conf_diag_free(&d);
}

static void test_conf_diag_sorted_and_capped(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_client c;
	char doc[8192];
	size_t n = 0;

	/* Errors found after the walk (line 1) come before key errors (line 4). */
	n = (size_t)snprintf(doc, sizeof(doc),
			     "[[proxies]]\nname = \"x\"\ntype = \"tcp\"\nlocalPort = 0\n");
	assert_true(conf_client_parse("c.toml", doc, n, CONF_FORMAT_AUTO, &c, &d) < 0);
	for (size_t i = 1; i < d.n; i++)
		assert_true(d.entries[i - 1].line <= d.entries[i].line);
	conf_diag_free(&d);

	n = 0;
	for (int i = 0; i < 80; i++)
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "serverPort%d = 1\n", i);
	n += (size_t)snprintf(doc + n, sizeof(doc) - n, "serverPort = -1\n");
	assert_true(conf_client_parse("c.toml", doc, n, CONF_FORMAT_AUTO, &c, &d) < 0);
	assert_int_equal(d.n, CONF_DIAG_MAX + 1);
	assert_int_equal(d.n_errors, 1);
	assert_non_null(strstr(d.entries[d.n - 1].text, "too many problems"));
	conf_diag_free(&d);
}

static void test_conf_load_missing_file(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_server s;

	assert_true(conf_server_load("/nonexistent/frps.toml", &s, &d) < 0);
	assert_int_equal(d.n_errors, 1);
	assert_non_null(strstr(d.entries[0].text, "/nonexistent/frps.toml: cannot read"));
	conf_diag_free(&d);
}

static void test_conf_describe(void **state)
{
	struct conf_diag d = { 0 };
	struct conf_server s;
	struct conf_client c;
	char *text;
	const char *sdoc = "[common]\nbind_port = 7000\nbind_udp_port = 7001\nvhost_http_port = 8080\n"
			   "vhost_https_port = 4433\ntoken = t\nallow_ports = 2000-3000,3001\n"
			   "max_ports_per_client = 5\nsubdomain_host = frps.com\n";
	const char *cdoc =
		"serverAddr = \"1.2.3.4\"\nauth.token = \"t\"\n"
		"[[proxies]]\nname = \"ssh\"\ntype = \"tcp\"\nlocalPort = 22\nremotePort = 6000\n"
		"[[proxies]]\nname = \"any\"\ntype = \"udp\"\nlocalPort = 53\n"
		"[[proxies]]\nname = \"web\"\ntype = \"http\"\nlocalIP = \"127.0.0.1\"\nlocalPort = 80\n"
		"customDomains = [\"www.example.com\"]\nlocations = [\"/\", \"/api\"]\n"
		"[[proxies]]\nname = \"tls\"\ntype = \"https\"\nlocalPort = 443\nsubdomain = \"x\"\n"
		"[[proxies]]\nname = \"sock\"\ntype = \"tcp\"\nremotePort = 6005\n"
		"[proxies.plugin]\ntype = \"socks5\"\n"
		"[[proxies]]\nname = \"off\"\ntype = \"stcp\"\nlocalPort = 22\nsecretKey = \"k\"\n"
		"enabled = false\n"
		"[[visitors]]\nname = \"ssh-visitor\"\ntype = \"xtcp\"\nserverName = \"ssh\"\n"
		"secretKey = \"k\"\nbindPort = 6000\n"
		"[[visitors]]\nname = \"v2\"\ntype = \"xtcp\"\nserverName = \"ssh\"\nserverUser = \"bob\"\n"
		"secretKey = \"k\"\nbindPort = 6001\nfallbackTo = \"v3\"\nfallbackTimeoutMs = 500\n"
		"[[visitors]]\nname = \"v3\"\ntype = \"stcp\"\nserverName = \"ssh\"\nsecretKey = \"k\"\n"
		"bindPort = -1\n"
		"[[visitors]]\nname = \"v4\"\ntype = \"sudp\"\nserverName = \"dns\"\nsecretKey = \"k\"\n"
		"bindPort = 5353\nrelayFallback = false\n";

	assert_int_equal(conf_server_parse("frps.ini", sdoc, strlen(sdoc), CONF_FORMAT_AUTO, &s, &d), 0);
	text = conf_server_describe(&s);
	assert_string_equal(text,
		"server: control 0.0.0.0:7000, http vhost :8080, https vhost :4433, udp/stun :7001\n"
		"auth: token (set)\n"
		"ports: 2000-3000,3001, at most 5 per client\n"
		"subdomains: *.frps.com\n");
	free(text);
	conf_server_free(&s);

	assert_int_equal(conf_client_parse("frpc.toml", cdoc, strlen(cdoc), CONF_FORMAT_AUTO, &c, &d), 0);
	text = conf_client_describe(&c);
	assert_string_equal(text,
		"client: server 1.2.3.4:7000, 1 pooled connection\n"
		"proxy ssh: tcp 127.0.0.1:22 -> server port 6000\n"
		"proxy any: udp 127.0.0.1:53 -> a server port burrowd picks\n"
		"proxy web: http 127.0.0.1:80 -> http://www.example.com (locations /, /api)\n"
		"proxy tls: https 127.0.0.1:443 -> https://x.<subDomainHost>\n"
		"proxy sock: tcp plugin socks5 (not supported; will not run)\n"
		"proxy off: stcp 127.0.0.1:22 -> visitors with the secret key (disabled)\n"
		"visitor ssh-visitor: xtcp 127.0.0.1:6000 -> owner's \"ssh\" (fallback: relay)\n"
		"visitor v2: xtcp 127.0.0.1:6001 -> bob's \"ssh\" (fallback: visitor \"v3\" after 500 ms)\n"
		"visitor v3: stcp (no listener) -> owner's \"ssh\" (via relay)\n"
		"visitor v4: sudp 127.0.0.1:5353 -> owner's \"dns\" (direct only)\n");
	free(text);
	conf_client_free(&c);
	conf_diag_free(&d);
}

/* The table itself: names unique per scope and format, defaults valid. */
static void test_conf_keys_table(void **state)
{
	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *a = &conf_keys[i];

		if (!a->toml[0] && !a->ini[0])
			fail_msg("row %zu has no name", i);
		if (!a->doc[0])
			fail_msg("%s: no doc", a->toml);
		if (a->status == ST_SUP && (a->type == T_INT || a->type == T_PORT) && a->min > a->max)
			fail_msg("%s: min above max", a->toml);
		for (size_t j = i + 1; j < conf_keys_n; j++) {
			const struct conf_key *b = &conf_keys[j];

			if (a->scope != b->scope)
				continue;
			if (a->toml[0] && strcmp(a->toml, b->toml) == 0)
				fail_msg("%s twice in scope %s", a->toml, conf_scope_name(a->scope));
			if (a->ini[0] && strcmp(a->ini, b->ini) == 0)
				fail_msg("%s twice in scope %s", a->ini, conf_scope_name(a->scope));
		}
	}
	for (int s = 0; s < SCOPE_N; s++) {
		union { struct conf_server s; struct conf_client c; struct conf_proxy p;
			struct conf_visitor v; } u;

		memset(&u, 0, sizeof(u));
		assert_int_equal(conf_keys_defaults((enum conf_scope)s, &u), 0);
		conf_keys_free((enum conf_scope)s, &u);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_parse_diagnostics),
		cmocka_unit_test(test_conf_client_parse_ini_equals_toml),
		cmocka_unit_test(test_conf_server_parse_ini_equals_toml),
		cmocka_unit_test(test_conf_defaults_follow_frp),
		cmocka_unit_test(test_conf_ini_values),
		cmocka_unit_test(test_conf_unsupported_default_is_silent),
		cmocka_unit_test(test_conf_parse_frp_kitchen_sink),
		cmocka_unit_test(test_conf_parse_templates),
		cmocka_unit_test(test_conf_parse_format_detection),
		cmocka_unit_test(test_conf_diag_sorted_and_capped),
		cmocka_unit_test(test_conf_load_missing_file),
		cmocka_unit_test(test_conf_describe),
		cmocka_unit_test(test_conf_keys_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
