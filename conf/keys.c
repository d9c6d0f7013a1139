/*
 * The key table and the only code that turns a configuration value into a
 * struct field. Both readers call conf_key_set_text (INI) or conf_key_set_node
 * (TOML); the checks (placeholders, empty values, ranges, types) live here so
 * the two formats cannot drift apart.
 */
#include "conf/conf_int.h"
#include "common/err.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CS_SERVER struct conf_server
#define CS_CLIENT struct conf_client
#define CS_PROXY struct conf_proxy
#define CS_VISITOR struct conf_visitor

/* Field offsets exist only for SUP rows; list-like types also have n_<field>. */
#define FOFF_SUP(S, f) offsetof(S, f)
#define FOFF_UNSUP(S, f) 0
#define FOFF_READER(S, f) 0
#define NOFF_SUP(S, f, t) NOFF_T_##t(S, f)
#define NOFF_UNSUP(S, f, t) 0
#define NOFF_READER(S, f, t) 0
#define NOFF_T_STR(S, f) 0
#define NOFF_T_STR1(S, f) 0
#define NOFF_T_INT(S, f) 0
#define NOFF_T_PORT(S, f) 0
#define NOFF_T_BOOL(S, f) 0
#define NOFF_T_PTYPE(S, f) 0
#define NOFF_T_PLUGIN(S, f) 0
#define NOFF_T_TABLE(S, f) 0
#define NOFF_T_LIST(S, f) offsetof(S, n_##f)
#define NOFF_T_PORTS(S, f) offsetof(S, n_##f)
#define NOFF_T_MAP(S, f) offsetof(S, n_##f)

const struct conf_key conf_keys[] = {
#define CONF_KEY(scope, status, toml, ini, type, min, max, def, field, types, doc) \
	{ SCOPE_##scope, ST_##status, toml, ini, T_##type, min, max, def,         \
	  FOFF_##status(CS_##scope, field), NOFF_##status(CS_##scope, field, type), \
	  types, doc },
#include "conf/keys.def"
#undef CONF_KEY
};
const size_t conf_keys_n = BW_ARRAY_LEN(conf_keys);

static const char *const proxy_type_names[] = {
	[CONF_PROXY_TCP] = "tcp", [CONF_PROXY_UDP] = "udp", [CONF_PROXY_HTTP] = "http",
	[CONF_PROXY_HTTPS] = "https", [CONF_PROXY_STCP] = "stcp", [CONF_PROXY_SUDP] = "sudp",
	[CONF_PROXY_XTCP] = "xtcp", [CONF_PROXY_TCPMUX] = "tcpmux",
};

const char *conf_proxy_type_name(enum conf_proxy_type t)
{
	if ((unsigned)t < BW_ARRAY_LEN(proxy_type_names))
		return proxy_type_names[t];
	return "?";
}

bool conf_proxy_type_parse(const char *s, enum conf_proxy_type *t)
{
	for (size_t i = 0; i < BW_ARRAY_LEN(proxy_type_names); i++) {
		if (strcmp(s, proxy_type_names[i]) == 0) {
			*t = (enum conf_proxy_type)i;
			return true;
		}
	}
	return false;
}

const char *conf_scope_name(enum conf_scope s)
{
	static const char *const names[] = { "server", "client", "proxy", "visitor" };

	return (unsigned)s < BW_ARRAY_LEN(names) ? names[s] : "?";
}

const char *conf_type_name(enum conf_type t)
{
	static const char *const names[] = {
		[T_STR] = "string", [T_STR1] = "string", [T_INT] = "integer",
		[T_PORT] = "port", [T_BOOL] = "boolean", [T_LIST] = "string list",
		[T_PORTS] = "port ranges", [T_MAP] = "map", [T_PTYPE] = "proxy type",
		[T_PLUGIN] = "table", [T_TABLE] = "table",
	};

	return (unsigned)t < BW_ARRAY_LEN(names) ? names[t] : "?";
}

/* ---- lookups ------------------------------------------------------------ */

const struct conf_key *conf_key_toml(enum conf_scope s, const char *name)
{
	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->scope == s && k->toml[0] && strcmp(k->toml, name) == 0)
			return k;
	}
	return NULL;
}

bool conf_key_toml_prefix(enum conf_scope s, const char *prefix)
{
	size_t n = strlen(prefix);

	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->scope == s && strncmp(k->toml, prefix, n) == 0 && k->toml[n] == '.')
			return true;
	}
	return false;
}

static bool ini_is_prefix(const struct conf_key *k)
{
	size_t n = strlen(k->ini);

	return k->type == T_MAP && n > 0 && k->ini[n - 1] == '_';
}

const struct conf_key *conf_key_ini(enum conf_scope s, const char *name, const char **sub)
{
	*sub = NULL;
	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->scope == s && k->ini[0] && !ini_is_prefix(k) && strcmp(k->ini, name) == 0)
			return k;
	}
	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->scope == s && ini_is_prefix(k) &&
		    strncmp(k->ini, name, strlen(k->ini)) == 0) {
			*sub = name + strlen(k->ini);
			return k;
		}
	}
	return NULL;
}

/* ---- values --------------------------------------------------------------- */

static void *field(void *base, size_t off)
{
	return (char *)base + off;
}

bool conf_is_placeholder(const char *s)
{
	size_t n = strlen(s);

	if (n < 3 || s[0] != '<' || s[n - 1] != '>')
		return false;
	for (size_t i = 1; i + 1 < n; i++)
		if (s[i] == '<' || s[i] == '>')
			return false;
	return true;
}

static const char *expected(const struct conf_key *k)
{
	switch (k->type) {
	case T_PORT: return "a port number";
	case T_INT: return "an integer";
	case T_BOOL: return "true or false";
	case T_LIST: return "a list of strings";
	case T_PORTS: return "ports such as 2000-3000,3001";
	case T_MAP: return "a table of strings";
	case T_PTYPE: return "a proxy type";
	case T_PLUGIN: return "a plugin table";
	case T_TABLE: return "a table";
	case T_STR1: return "a non-empty string";
	case T_STR: break;
	}
	return "a string";
}

static int set_str(struct conf_ctx *ctx, char **dst, const char *s)
{
	char *copy = strdup(s);

	if (!copy) {
		if (ctx)
			conf_err(ctx, BW_E_NOMEM, 0, "out of memory");
		return BW_E_NOMEM;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

static int check_range(struct conf_ctx *ctx, const struct conf_key *k, const char *name,
		       long long v, int line)
{
	if (v < k->min) {
		if (ctx)
			conf_err(ctx, BW_E_RANGE, line, "%s: %lld is below the minimum %lld",
				 name, v, k->min);
		return BW_E_RANGE;
	}
	if (v > k->max) {
		if (ctx)
			conf_err(ctx, BW_E_RANGE, line, "%s: %lld is above the maximum %lld",
				 name, v, k->max);
		return BW_E_RANGE;
	}
	return 0;
}

static int set_number(struct conf_ctx *ctx, const struct conf_key *k, void *base,
		      const char *name, long long v, int line)
{
	int rc = check_range(ctx, k, name, v, line);

	if (rc < 0)
		return rc;
	if (k->type == T_PORT)
		*(uint16_t *)field(base, k->off) = (uint16_t)v;
	else
		*(int *)field(base, k->off) = (int)v;
	return 0;
}

static bool parse_int(const char *s, long long *v)
{
	char *end;

	if (!*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* go-ini's boolean words, which frp accepts. */
static bool parse_bool(const char *s, bool *b)
{
	static const char *const yes[] = { "1", "t", "true", "y", "yes", "on" };
	static const char *const no[] = { "0", "f", "false", "n", "no", "off" };

	for (size_t i = 0; i < BW_ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*b = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*b = false;
			return true;
		}
	}
	return false;
}

static int list_add(struct conf_ctx *ctx, void *base, const struct conf_key *k,
		    const char *s, size_t len)
{
	char ***v = field(base, k->off);
	size_t *n = field(base, k->n_off);
	char **grown, *copy;

	if (*n >= TOML_ARRAY_MAX) {
		if (ctx)
			conf_err(ctx, BW_E_TOO_BIG, 0, "list longer than %d items", TOML_ARRAY_MAX);
		return BW_E_TOO_BIG;
	}
	copy = bw_strndup(s, len);
	grown = copy ? realloc(*v, (*n + 1) * sizeof(**v)) : NULL;
	if (!grown) {
		free(copy);
		if (ctx)
			conf_err(ctx, BW_E_NOMEM, 0, "out of memory");
		return BW_E_NOMEM;
	}
	grown[(*n)++] = copy;
	*v = grown;
	return 0;
}

static void list_clear(void *base, const struct conf_key *k)
{
	char ***v = field(base, k->off);
	size_t *n = field(base, k->n_off);

	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

static int map_set(struct conf_ctx *ctx, void *base, const struct conf_key *k,
		   const char *key, const char *value)
{
	struct conf_kv **v = field(base, k->off), *grown;
	size_t *n = field(base, k->n_off);
	char *kc, *vc;

	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].key, key) == 0)
			return set_str(ctx, &(*v)[i].value, value);
	if (*n >= TOML_ARRAY_MAX) {
		if (ctx)
			conf_err(ctx, BW_E_TOO_BIG, 0, "map larger than %d entries", TOML_ARRAY_MAX);
		return BW_E_TOO_BIG;
	}
	kc = strdup(key);
	vc = strdup(value);
	grown = kc && vc ? realloc(*v, (*n + 1) * sizeof(**v)) : NULL;
	if (!grown) {
		free(kc);
		free(vc);
		if (ctx)
			conf_err(ctx, BW_E_NOMEM, 0, "out of memory");
		return BW_E_NOMEM;
	}
	grown[*n].key = kc;
	grown[*n].value = vc;
	(*n)++;
	*v = grown;
	return 0;
}

static int ports_add(struct conf_ctx *ctx, void *base, const struct conf_key *k,
		     const char *name, long long lo, long long hi, int line)
{
	struct conf_port_range **v = field(base, k->off), *grown;
	size_t *n = field(base, k->n_off);
	int rc;

	if ((rc = check_range(ctx, k, name, lo, line)) < 0 ||
	    (rc = check_range(ctx, k, name, hi, line)) < 0)
		return rc;
	if (lo > hi) {
		if (ctx)
			conf_err(ctx, BW_E_CONF_VALUE, line,
				 "%s: range %lld-%lld starts above its end", name, lo, hi);
		return BW_E_CONF_VALUE;
	}
	if (*n >= TOML_ARRAY_MAX) {
		if (ctx)
			conf_err(ctx, BW_E_TOO_BIG, line, "%s: more than %d ranges", name, TOML_ARRAY_MAX);
		return BW_E_TOO_BIG;
	}
	grown = realloc(*v, (*n + 1) * sizeof(**v));
	if (!grown) {
		if (ctx)
			conf_err(ctx, BW_E_NOMEM, line, "out of memory");
		return BW_E_NOMEM;
	}
	grown[*n].lo = (uint16_t)lo;
	grown[*n].hi = (uint16_t)hi;
	(*n)++;
	*v = grown;
	return 0;
}

/* One item of a port list: "2000-3000" or "3001" (len bytes at s). */
static int port_item(struct conf_ctx *ctx, void *base, const struct conf_key *k,
		     const char *name, const char *s, size_t len, int line)
{
	char item[32];
	char *dash;
	long long lo, hi;

	if (len >= sizeof(item))
		goto bad;
	memcpy(item, s, len);
	item[len] = '\0';
	dash = strchr(item + 1, '-');
	if (dash)
		*dash++ = '\0';
	if (!parse_int(item, &lo) || (dash && !parse_int(dash, &hi)))
		goto bad;
	return ports_add(ctx, base, k, name, lo, dash ? hi : lo, line);
bad:
	if (ctx)
		conf_err(ctx, BW_E_CONF_VALUE, line,
			 "%s: \"%.*s\" is not a port or a range (expected ports such as 2000-3000,3001)",
			 name, (int)(len > 40 ? 40 : len), s);
	return BW_E_CONF_VALUE;
}

/* "2000-3000, 3001,3003": frp's ParseRangeNumbers syntax; empty items skipped. */
static int ports_parse(struct conf_ctx *ctx, void *base, const struct conf_key *k,
		       const char *name, const char *s, int line)
{
	for (;;) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		int rc;

		while (len && isspace((unsigned char)*s)) {
			s++;
			len--;
		}
		while (len && isspace((unsigned char)s[len - 1]))
			len--;
		if (len && (rc = port_item(ctx, base, k, name, s, len, line)) < 0)
			return rc;
		if (!end)
			return 0;
		s = end + 1;
	}
}

int conf_ports_parse(struct conf_ctx *ctx, const char *name, const char *text, int line,
		     struct conf_port_range **v, size_t *n)
{
	struct {
		struct conf_port_range *v;
		size_t n;
	} tmp = { NULL, 0 };
	struct conf_key k = *conf_key_toml(SCOPE_SERVER, "allowPorts");
	int rc;

	/* The same parser as allowPorts, on a scratch struct of the same shape. */
	k.off = offsetof(__typeof__(tmp), v);
	k.n_off = offsetof(__typeof__(tmp), n);
	rc = ports_parse(ctx, &tmp, &k, name, text ? text : "", line);
	*v = tmp.v;
	*n = tmp.n;
	return rc;
}

static int type_error(struct conf_ctx *ctx, const struct conf_key *k, const char *name,
		      const struct toml_node *n)
{
	if (n->kind == TOML_STRING && conf_is_placeholder(n->u.str)) {
		conf_err(ctx, BW_E_CONF_PLACEHOLDER, n->line,
			 "%s: \"%s\" looks like a placeholder; put the real value here", name, n->u.str);
		return BW_E_CONF_PLACEHOLDER;
	}
	conf_err(ctx, BW_E_CONF_TYPE, n->line, "%s: expected %s, got %s %s", name, expected(k),
		 n->kind == TOML_INTEGER || n->kind == TOML_ARRAY ? "an" : "a",
		 toml_kind_name(n->kind));
	return BW_E_CONF_TYPE;
}

static int set_ptype(struct conf_ctx *ctx, const struct conf_key *k, void *base,
		     const char *name, const char *s, int line)
{
	enum conf_proxy_type t;
	bool visitor = k->scope == SCOPE_VISITOR;

	if (conf_proxy_type_parse(s, &t) &&
	    (!visitor || t == CONF_PROXY_STCP || t == CONF_PROXY_SUDP || t == CONF_PROXY_XTCP)) {
		*(enum conf_proxy_type *)field(base, k->off) = t;
		return 0;
	}
	if (ctx)
		conf_err(ctx, BW_E_CONF_VALUE, line, "%s: unknown %s type \"%s\"; valid types: %s",
			 name, visitor ? "visitor" : "proxy", s,
			 visitor ? "stcp, sudp, xtcp"
				 : "tcp, udp, http, https, stcp, sudp, xtcp, tcpmux");
	return BW_E_CONF_VALUE;
}

int conf_key_set_text(struct conf_ctx *ctx, const struct conf_key *k, void *base,
		      const char *name, const char *sub, const char *text, int line)
{
	long long v;
	bool b;

	if (!text) {
		if (k->type == T_BOOL) {
			*(bool *)field(base, k->off) = true;
			return 0;
		}
		if (ctx)
			conf_err(ctx, BW_E_CONF_SYNTAX, line, "%s: no value; expected %s = value",
				 name, name);
		return BW_E_CONF_SYNTAX;
	}
	if (ctx && conf_is_placeholder(text)) {
		conf_err(ctx, BW_E_CONF_PLACEHOLDER, line,
			 "%s: \"%s\" looks like a placeholder; put the real value here", name, text);
		return BW_E_CONF_PLACEHOLDER;
	}
	if (!*text && k->type != T_STR && k->type != T_LIST && k->type != T_MAP &&
	    k->type != T_PORTS && k->type != T_PLUGIN) {
		if (ctx && k->type == T_STR1)
			conf_err(ctx, BW_E_CONF_VALUE, line, "%s: empty value; a value is required",
				 name);
		else if (ctx)
			conf_err(ctx, BW_E_CONF_VALUE, line, "%s: empty value; expected %s",
				 name, expected(k));
		return BW_E_CONF_VALUE;
	}
	switch (k->type) {
	case T_STR:
		return set_str(ctx, field(base, k->off), *text || !k->def ? text : k->def);
	case T_STR1:
		return set_str(ctx, field(base, k->off), text);
	case T_PLUGIN:
		if (!*text)
			return 0;
		return set_str(ctx, field(base, k->off), text);
	case T_INT:
	case T_PORT:
		if (!parse_int(text, &v)) {
			if (ctx)
				conf_err(ctx, BW_E_CONF_TYPE, line, "%s: \"%s\" is not %s",
					 name, text, expected(k));
			return BW_E_CONF_TYPE;
		}
		return set_number(ctx, k, base, name, v, line);
	case T_BOOL:
		if (!parse_bool(text, &b)) {
			if (ctx)
				conf_err(ctx, BW_E_CONF_TYPE, line, "%s: \"%s\" is not true or false",
					 name, text);
			return BW_E_CONF_TYPE;
		}
		*(bool *)field(base, k->off) = b;
		return 0;
	case T_LIST:
		list_clear(base, k);
		for (const char *s = text; *s;) {
			const char *end = strchr(s, ',');
			size_t len = end ? (size_t)(end - s) : strlen(s);
			int rc;

			while (len && isspace((unsigned char)*s)) {
				s++;
				len--;
			}
			while (len && isspace((unsigned char)s[len - 1]))
				len--;
			if (len && (rc = list_add(ctx, base, k, s, len)) < 0)
				return rc;
			if (!end)
				break;
			s = end + 1;
		}
		return 0;
	case T_PORTS: {
		struct conf_port_range **pv = field(base, k->off);

		free(*pv);
		*pv = NULL;
		*(size_t *)field(base, k->n_off) = 0;
		return ports_parse(ctx, base, k, name, text, line);
	}
	case T_MAP:
		if (!sub || !*sub) {
			if (ctx)
				conf_err(ctx, BW_E_CONF_KEY, line, "%s: missing the name after %s",
					 name, k->ini);
			return BW_E_CONF_KEY;
		}
		return map_set(ctx, base, k, sub, text);
	case T_PTYPE:
		return set_ptype(ctx, k, base, name, text, line);
	case T_TABLE:
		break;
	}
	return 0;
}

static int set_ports_node(struct conf_ctx *ctx, const struct conf_key *k, void *base,
			  const char *name, const struct toml_node *n)
{
	if (n->kind == TOML_STRING)
		return conf_key_set_text(ctx, k, base, name, NULL, n->u.str, n->line);
	if (n->kind != TOML_ARRAY)
		return type_error(ctx, k, name, n);
	for (size_t i = 0; i < n->u.kids.n; i++) {
		const struct toml_node *it = n->u.kids.v[i], *single, *start, *end;
		int rc;

		if (it->kind == TOML_INTEGER) {
			rc = ports_add(ctx, base, k, name, it->u.i, it->u.i, it->line);
		} else if (it->kind == TOML_STRING) {
			rc = ports_parse(ctx, base, k, name, it->u.str, it->line);
		} else if (it->kind == TOML_TABLE) {
			single = toml_get(it, "single");
			start = toml_get(it, "start");
			end = toml_get(it, "end");
			if (single && !start && !end && single->kind == TOML_INTEGER &&
			    it->u.kids.n == 1) {
				rc = ports_add(ctx, base, k, name, single->u.i, single->u.i, it->line);
			} else if (!single && start && end && start->kind == TOML_INTEGER &&
				   end->kind == TOML_INTEGER && it->u.kids.n == 2) {
				rc = ports_add(ctx, base, k, name, start->u.i, end->u.i, it->line);
			} else {
				conf_err(ctx, BW_E_CONF_VALUE, it->line,
					 "%s: expected { start = N, end = M } or { single = N }", name);
				rc = BW_E_CONF_VALUE;
			}
		} else {
			rc = type_error(ctx, k, name, it);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int conf_key_set_node(struct conf_ctx *ctx, const struct conf_key *k, void *base,
		      const char *name, const struct toml_node *n)
{
	switch (k->type) {
	case T_STR:
	case T_STR1:
	case T_PTYPE:
		if (n->kind != TOML_STRING)
			return type_error(ctx, k, name, n);
		return conf_key_set_text(ctx, k, base, name, NULL, n->u.str, n->line);
	case T_INT:
	case T_PORT:
		if (n->kind != TOML_INTEGER)
			return type_error(ctx, k, name, n);
		return set_number(ctx, k, base, name, n->u.i, n->line);
	case T_BOOL:
		if (n->kind != TOML_BOOLEAN)
			return type_error(ctx, k, name, n);
		*(bool *)field(base, k->off) = n->u.b;
		return 0;
	case T_LIST:
		if (n->kind != TOML_ARRAY)
			return type_error(ctx, k, name, n);
		list_clear(base, k);
		for (size_t i = 0; i < n->u.kids.n; i++) {
			const struct toml_node *it = n->u.kids.v[i];
			int rc;

			if (it->kind != TOML_STRING)
				return type_error(ctx, k, name, it);
			if (conf_is_placeholder(it->u.str))
				return type_error(ctx, k, name, it);
			if ((rc = list_add(ctx, base, k, it->u.str, strlen(it->u.str))) < 0)
				return rc;
		}
		return 0;
	case T_PORTS: {
		struct conf_port_range **pv = field(base, k->off);

		free(*pv);
		*pv = NULL;
		*(size_t *)field(base, k->n_off) = 0;
		return set_ports_node(ctx, k, base, name, n);
	}
	case T_MAP:
		if (n->kind != TOML_TABLE)
			return type_error(ctx, k, name, n);
		for (size_t i = 0; i < n->u.kids.n; i++) {
			const struct toml_node *it = n->u.kids.v[i];
			int rc;

			if (it->kind != TOML_STRING) {
				conf_err(ctx, BW_E_CONF_TYPE, it->line, "%s.%s: expected a string, got %s",
					 name, it->key, toml_kind_name(it->kind));
				return BW_E_CONF_TYPE;
			}
			if ((rc = map_set(ctx, base, k, it->key, it->u.str)) < 0)
				return rc;
		}
		return 0;
	case T_PLUGIN: {
		const struct toml_node *t = n->kind == TOML_TABLE ? toml_get(n, "type") : NULL;

		if (!t || t->kind != TOML_STRING || !*t->u.str) {
			conf_err(ctx, BW_E_CONF_VALUE, n->line, "%s: expected a table with a type", name);
			return BW_E_CONF_VALUE;
		}
		return set_str(ctx, field(base, k->off), t->u.str);
	}
	case T_TABLE:
		break;
	}
	return 0;
}

/* Does the value ask for frp's default? Then ignoring the key changes nothing. */
static bool is_default(const struct conf_key *k, const char *text, const struct toml_node *n)
{
	long long v, dv;
	bool b, d;

	if (!k->def)
		return false;
	if (n) {
		switch (n->kind) {
		case TOML_STRING:
			text = n->u.str;
			break;
		case TOML_INTEGER:
			return (k->type == T_INT || k->type == T_PORT) && parse_int(k->def, &dv) &&
			       dv == n->u.i;
		case TOML_BOOLEAN:
			return k->type == T_BOOL && parse_bool(k->def, &d) && d == n->u.b;
		default:
			return false;
		}
	}
	if (!text)
		return false;
	switch (k->type) {
	case T_STR:
		return !*text || strcmp(text, k->def) == 0;
	case T_INT:
	case T_PORT:
		return parse_int(text, &v) && parse_int(k->def, &dv) && v == dv;
	case T_BOOL:
		return parse_bool(text, &b) && parse_bool(k->def, &d) && b == d;
	default:
		return false;
	}
}

void conf_key_unsupported(struct conf_ctx *ctx, const struct conf_key *k, const char *name,
			  const char *text, const struct toml_node *n, int line)
{
	if (is_default(k, text, n))
		return;
	conf_warn(ctx, line, "%s: not supported by Burrow yet; ignored", name);
}

/* ---- defaults and free ---------------------------------------------------- */

int conf_keys_defaults(enum conf_scope s, void *base)
{
	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];
		int rc;

		if (k->scope != s || k->status != ST_SUP || !k->def)
			continue;
		rc = conf_key_set_text(NULL, k, base, k->toml, NULL, k->def, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void conf_keys_free(enum conf_scope s, void *base)
{
	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->scope != s || k->status != ST_SUP)
			continue;
		switch (k->type) {
		case T_STR:
		case T_STR1:
		case T_PLUGIN: {
			char **p = field(base, k->off);

			free(*p);
			*p = NULL;
			break;
		}
		case T_LIST:
			list_clear(base, k);
			break;
		case T_PORTS: {
			struct conf_port_range **p = field(base, k->off);

			free(*p);
			*p = NULL;
			*(size_t *)field(base, k->n_off) = 0;
			break;
		}
		case T_MAP: {
			struct conf_kv **p = field(base, k->off);
			size_t *n = field(base, k->n_off);

			for (size_t j = 0; j < *n; j++) {
				free((*p)[j].key);
				free((*p)[j].value);
			}
			free(*p);
			*p = NULL;
			*n = 0;
			break;
		}
		default:
			break;
		}
	}
}
