/*
 * Loading: pick the format, render templates, parse, then walk the document
 * through the key table into the structs and check what no single key can
 * (required keys, duplicate names, cross references).
 *
 * Every problem becomes a diagnostic and the walk goes on, so one run of
 * `burrow verify` shows them all; the struct is handed back only when there
 * is no error at all.
 */
#include "conf/conf_int.h"
#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OBJ_KEYS_MAX 128

/* One struct being filled: the common part, a proxy or a visitor. */
struct obj {
	enum conf_scope scope;
	void *base;
	unsigned mask;                 /* P_* bit of its type; P_ALL until known */
	const struct conf_key *k[OBJ_KEYS_MAX];
	int line[OBJ_KEYS_MAX];        /* where each key was given */
	bool ok[OBJ_KEYS_MAX];         /* and whether its value was accepted */
	size_t n;
	const struct conf_key *warned[16]; /* INI prefix maps warned about */
	size_t n_warned;
	bool type_given;               /* proxies and visitors: a type key exists */
};

/* A copy made from a [range:] section: its two ports and their lines. */
struct range_copy {
	uint16_t local, remote;
	int local_line, remote_line;
};

static const char *kname(const struct conf_ctx *ctx, const struct conf_key *k)
{
	const char *n = ctx->toml ? k->toml : k->ini;

	return n[0] ? n : (ctx->toml ? k->ini : k->toml);
}

static const struct conf_key *key_named(enum conf_scope s, const char *toml)
{
	return conf_key_toml(s, toml);
}

/* Line where key `toml` was set in obj, or `dflt`. */
static int line_of(const struct obj *o, const char *toml, int dflt)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->k[i]->toml, toml) == 0)
			return o->line[i];
	return dflt;
}

/* Was the key given (whatever its value)? Was it given a valid value? */
static bool given(const struct obj *o, const char *toml)
{
	return line_of(o, toml, -1) >= 0;
}

static bool was_set(const struct obj *o, const char *toml)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->k[i]->toml, toml) == 0)
			return o->ok[i];
	return false;
}

static void record(struct obj *o, const struct conf_key *k, int line, bool ok)
{
	size_t i;

	for (i = 0; i < o->n && o->k[i] != k; i++)
		;
	if (i == OBJ_KEYS_MAX)
		return;
	if (i == o->n)
		o->n++;
	o->k[i] = k;
	o->line[i] = line;
	o->ok[i] = ok;
}

static const char *type_plural(unsigned mask)
{
	for (int t = 0; t <= CONF_PROXY_TCPMUX; t++)
		if (mask == (1u << t))
			return conf_proxy_type_name((enum conf_proxy_type)t);
	return "this type of";
}

/* Shared by both formats: one key, known to the table, with its value. */
static void apply(struct conf_ctx *ctx, struct obj *o, const struct conf_key *k, const char *name,
		  const char *sub, const char *text, const struct toml_node *n, int line)
{
	if (k->status == ST_READER)
		return;
	if (k->status == ST_UNSUP) {
		if (sub) {
			for (size_t i = 0; i < o->n_warned; i++)
				if (o->warned[i] == k)
					return;
			if (o->n_warned < BW_ARRAY_LEN(o->warned))
				o->warned[o->n_warned++] = k;
		}
		conf_key_unsupported(ctx, k, name, text, n, line);
		return;
	}
	if (o->mask != P_ALL && !(k->types & o->mask)) {
		conf_warn(ctx, line, "%s: not used by %s %ss; ignored", name, type_plural(o->mask),
			  o->scope == SCOPE_VISITOR ? "visitor" : "proxie");
		return;
	}
	record(o, k, line, (n ? conf_key_set_node(ctx, k, o->base, name, n)
			      : conf_key_set_text(ctx, k, o->base, name, sub, text, line)) == 0);
}

static void unknown(struct conf_ctx *ctx, enum conf_scope s, const char *name, int line)
{
	char why[256];

	/* Past the cap the message is dropped: skip the search for a suggestion. */
	if (ctx->diag->n > CONF_DIAG_MAX)
		return;

	conf_key_unknown_why(s, ctx->toml, name, why, sizeof(why));
	conf_warn(ctx, line, "%s: %s", name, why);
}

/* ---- TOML ----------------------------------------------------------------- */

static void walk_toml(struct conf_ctx *ctx, struct obj *o, const struct toml_node *t,
		      const char *prefix)
{
	for (size_t i = 0; i < t->u.kids.n; i++) {
		const struct toml_node *kid = t->u.kids.v[i];
		const struct conf_key *k;
		char path[256];

		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", kid->key);
		if (!prefix[0] && o->scope <= SCOPE_CLIENT && strcmp(kid->key, "common") == 0 &&
		    kid->kind == TOML_TABLE) {
			conf_err(ctx, BW_E_CONF_SYNTAX, kid->line,
				 "[common] is frp's INI layout, but this file is read as TOML; "
				 "name it .ini (or convert it to TOML)");
			continue;
		}
		if ((k = conf_key_toml(o->scope, path)) != NULL) {
			if (strcmp(path, "type") == 0 && o->scope >= SCOPE_PROXY)
				continue; /* read first, by the caller */
			apply(ctx, o, k, path, NULL, NULL, kid, kid->line);
		} else if (kid->kind == TOML_TABLE && conf_key_toml_prefix(o->scope, path)) {
			walk_toml(ctx, o, kid, path);
		} else {
			unknown(ctx, o->scope, path, kid->line);
		}
	}
}

static void check_proxy(struct conf_ctx *ctx, const struct obj *o, struct conf_proxy *p);
static void check_visitor(struct conf_ctx *ctx, const struct obj *o, struct conf_visitor *v);

static void *grow(struct conf_ctx *ctx, void **arr, size_t *n, size_t size, int line)
{
	char *grown;

	if (*n >= CONF_PROXIES_MAX) {
		conf_err(ctx, BW_E_TOO_BIG, line, "more than %d proxies and visitors", CONF_PROXIES_MAX);
		return NULL;
	}
	grown = realloc(*arr, (*n + 1) * size);
	if (!grown) {
		conf_err(ctx, BW_E_NOMEM, line, "out of memory");
		return NULL;
	}
	*arr = grown;
	memset(grown + *n * size, 0, size);
	return grown + (*n)++ * size;
}

static void *new_object(struct conf_ctx *ctx, struct conf_client *c, enum conf_scope s, int line)
{
	void *obj = s == SCOPE_PROXY
		? grow(ctx, (void **)&c->proxies, &c->n_proxies, sizeof(struct conf_proxy), line)
		: grow(ctx, (void **)&c->visitors, &c->n_visitors, sizeof(struct conf_visitor), line);

	if (obj && conf_keys_defaults(s, obj) < 0)
		conf_err(ctx, BW_E_NOMEM, line, "out of memory");
	return obj;
}

static void toml_objects(struct conf_ctx *ctx, struct conf_client *c, const struct toml_node *arr,
			 enum conf_scope s)
{
	const char *what = s == SCOPE_PROXY ? "proxies" : "visitors";

	if (arr->kind != TOML_ARRAY) {
		conf_err(ctx, BW_E_CONF_TYPE, arr->line, "%s: expected [[%s]] tables, got %s", what,
			 what, toml_kind_name(arr->kind));
		return;
	}
	for (size_t i = 0; i < arr->u.kids.n; i++) {
		const struct toml_node *t = arr->u.kids.v[i], *type;
		struct obj o = { .scope = s, .mask = P_ALL };

		if (t->kind != TOML_TABLE) {
			conf_err(ctx, BW_E_CONF_TYPE, t->line, "%s: expected [[%s]] tables, got %s",
				 what, what, toml_kind_name(t->kind));
			continue;
		}
		if (!(o.base = new_object(ctx, c, s, t->line)))
			return;
		if (s == SCOPE_PROXY)
			((struct conf_proxy *)o.base)->line = t->line;
		else
			((struct conf_visitor *)o.base)->line = t->line;
		if ((type = toml_get(t, "type")) != NULL) {
			const struct conf_key *k = key_named(s, "type");

			o.type_given = true;
			apply(ctx, &o, k, "type", NULL, NULL, type, type->line);
			if (was_set(&o, "type"))
				o.mask = 1u << (s == SCOPE_PROXY ? ((struct conf_proxy *)o.base)->type
								: ((struct conf_visitor *)o.base)->type);
		}
		walk_toml(ctx, &o, t, "");
		if (s == SCOPE_PROXY)
			check_proxy(ctx, &o, o.base);
		else
			check_visitor(ctx, &o, o.base);
	}
}

/* ---- INI ------------------------------------------------------------------ */

static const struct ini_entry *ini_get(const struct ini_section *sec, const char *key)
{
	for (size_t i = 0; i < sec->n; i++)
		if (strcmp(sec->e[i].key, key) == 0)
			return &sec->e[i];
	return NULL;
}

static void ini_entries(struct conf_ctx *ctx, struct obj *o, const struct ini_section *sec,
			const char *skip1, const char *skip2)
{
	for (size_t i = 0; i < sec->n; i++) {
		const struct ini_entry *e = &sec->e[i];
		const struct conf_key *k;
		const char *sub;

		if ((skip1 && strcmp(e->key, skip1) == 0) || (skip2 && strcmp(e->key, skip2) == 0))
			continue;
		/* The warning that the plugin will not run covers its parameters. */
		if (o->scope == SCOPE_PROXY && strncmp(e->key, "plugin_", 7) == 0 &&
		    ini_get(sec, "plugin"))
			continue;
		if (o->scope >= SCOPE_PROXY && strcmp(e->key, "name") == 0) {
			if (!e->value || strcmp(e->value, sec->name) != 0)
				conf_warn(ctx, e->line, "name: ignored; in INI files the section name [%s] "
					  "is the name", sec->name);
			continue;
		}
		if ((k = conf_key_ini(o->scope, e->key, &sub)) != NULL)
			apply(ctx, o, k, e->key, sub, e->value, NULL, e->line);
		else
			unknown(ctx, o->scope, e->key, e->line);
	}
}


/* A proxy or visitor section; name overrides the section name ([range:]). */
static void ini_object(struct conf_ctx *ctx, struct conf_client *c, const struct ini_section *sec,
		       enum conf_scope s, const char *name, const struct range_copy *rc)
{
	struct obj o = { .scope = s, .mask = P_ALL };
	const struct ini_entry *type = ini_get(sec, "type");
	const struct conf_key *k;

	if (!(o.base = new_object(ctx, c, s, sec->line)))
		return;
	if (s == SCOPE_PROXY)
		((struct conf_proxy *)o.base)->line = sec->line;
	else
		((struct conf_visitor *)o.base)->line = sec->line;
	apply(ctx, &o, key_named(s, "name"), "name", NULL, name, NULL, sec->line);
	k = key_named(s, "type");
	o.type_given = type || s == SCOPE_PROXY;
	if (type)
		apply(ctx, &o, k, "type", NULL, type->value, NULL, type->line);
	else if (s == SCOPE_PROXY)
		apply(ctx, &o, k, "type", NULL, "tcp", NULL, sec->line); /* frp's INI default */
	if (was_set(&o, "type"))
		o.mask = 1u << (s == SCOPE_PROXY ? ((struct conf_proxy *)o.base)->type
						: ((struct conf_visitor *)o.base)->type);
	if (rc) {
		char num[8];

		/* The two port ranges were read by ini_range; set this copy's pair. */
		ini_entries(ctx, &o, sec, "type", "local_port");
		snprintf(num, sizeof(num), "%u", rc->local);
		apply(ctx, &o, key_named(s, "localPort"), "local_port", NULL, num, NULL,
		      rc->local_line);
		snprintf(num, sizeof(num), "%u", rc->remote);
		apply(ctx, &o, key_named(s, "remotePort"), "remote_port", NULL, num, NULL,
		      rc->remote_line);
	} else {
		ini_entries(ctx, &o, sec, "type", NULL);
	}
	if (s == SCOPE_PROXY)
		check_proxy(ctx, &o, o.base);
	else
		check_visitor(ctx, &o, o.base);
}

/* Ports of a [range:] key, as frp's ParseRangeNumbers: "6000-6005,6007". */
static size_t range_ports(struct conf_ctx *ctx, const struct ini_entry *e, uint16_t *out,
			  size_t max)
{
	struct conf_port_range *r = NULL;
	size_t nr = 0, n = 0;

	if (conf_ports_parse(ctx, e->key, e->value, e->line, &r, &nr) < 0)
		goto out;
	for (size_t i = 0; i < nr; i++) {
		for (unsigned p = r[i].lo; p <= r[i].hi; p++) {
			if (n == max) {
				conf_err(ctx, BW_E_TOO_BIG, e->line, "%s: more than %zu ports in a range",
					 e->key, max);
				n = 0;
				goto out;
			}
			out[n++] = (uint16_t)p;
		}
	}
out:
	free(r);
	return n;
}

static void ini_range(struct conf_ctx *ctx, struct conf_client *c, const struct ini_section *sec)
{
	const char *prefix = sec->name + strlen("range:");
	const struct ini_entry *lp = ini_get(sec, "local_port"), *rp = ini_get(sec, "remote_port");
	uint16_t *local = NULL, *remote = NULL;
	size_t nl, nr;

	while (*prefix == ' ')
		prefix++;
	if (!*prefix) {
		conf_err(ctx, BW_E_CONF_VALUE, sec->line, "[%s]: missing the name after range:",
			 sec->name);
		return;
	}
	if (!lp || !rp || !lp->value || !rp->value) {
		conf_err(ctx, BW_E_CONF_MISSING, sec->line,
			 "[%s]: range sections need local_port and remote_port", sec->name);
		return;
	}
	local = calloc(CONF_PROXIES_MAX, sizeof(*local));
	remote = calloc(CONF_PROXIES_MAX, sizeof(*remote));
	if (!local || !remote) {
		conf_err(ctx, BW_E_NOMEM, sec->line, "out of memory");
		goto out;
	}
	nl = range_ports(ctx, lp, local, CONF_PROXIES_MAX);
	nr = range_ports(ctx, rp, remote, CONF_PROXIES_MAX);
	if (!nl || !nr)
		goto out;
	if (nl != nr) {
		conf_err(ctx, BW_E_CONF_VALUE, rp->line,
			 "[%s]: local_port has %zu ports but remote_port has %zu", sec->name, nl, nr);
		goto out;
	}
	if (nl * (sec->n + 1) > TOML_VALUES_MAX) {
		conf_err(ctx, BW_E_TOO_BIG, sec->line,
			 "[%s]: %zu copies of %zu keys is more than %d values", sec->name, nl, sec->n,
			 TOML_VALUES_MAX);
		goto out;
	}
	for (size_t i = 0; i < nl; i++) {
		char name[300];
		struct range_copy rc = { local[i], remote[i], lp->line, rp->line };
		struct ini_section copy = *sec;
		struct ini_entry *e = calloc(sec->n ? sec->n : 1, sizeof(*e));
		size_t ne = 0;

		if (!e) {
			conf_err(ctx, BW_E_NOMEM, sec->line, "out of memory");
			goto out;
		}
		for (size_t j = 0; j < sec->n; j++)
			if (strcmp(sec->e[j].key, "remote_port") != 0)
				e[ne++] = sec->e[j];
		copy.e = e;
		copy.n = ne;
		snprintf(name, sizeof(name), "%s_%zu", prefix, i);
		ini_object(ctx, c, &copy, SCOPE_PROXY, name, &rc);
		free(e);
		if (ctx->oom)
			break;
	}
out:
	free(local);
	free(remote);
}

/* ---- checks --------------------------------------------------------------- */

static void check_common(struct conf_ctx *ctx, const struct obj *o, const char *method,
			 const char *level)
{
	enum log_level lv;

	if (strcmp(method, "token") != 0)
		conf_err(ctx, BW_E_UNSUPPORTED, line_of(o, "auth.method", 0),
			 "%s: \"%s\" %s; Burrow authenticates with a token only",
			 kname(ctx, key_named(o->scope, "auth.method")), method,
			 strcmp(method, "oidc") == 0 ? "(oidc) is not supported"
						     : "is not an authentication method");
	if (log_level_parse(level, &lv) < 0)
		conf_err(ctx, BW_E_CONF_VALUE, line_of(o, "log.level", 0),
			 "%s: \"%s\" is not a level; use trace, debug, info, warn or error",
			 kname(ctx, key_named(o->scope, "log.level")), level);
}

static void check_proxy(struct conf_ctx *ctx, const struct obj *o, struct conf_proxy *p)
{
	const char *name = p->name ? p->name : "";

	if (!p->name) {
		conf_err(ctx, BW_E_CONF_MISSING, p->line, "proxy at line %d: name is required",
			 p->line);
		name = "?";
	}
	if (!was_set(o, "type")) {
		if (!o->type_given)
			conf_err(ctx, BW_E_CONF_MISSING, p->line,
				 "proxy %s: type is required; valid types: tcp, udp, http, https, "
				 "stcp, sudp, xtcp, tcpmux", name);
		return; /* an invalid type was reported where it was set */
	}
	if (p->plugin)
		conf_warn(ctx, line_of(o, "plugin", p->line),
			  "proxy %s: plugin \"%s\" is not supported by Burrow yet; the proxy will "
			  "not run", name, p->plugin);
	else if (!p->local_port && !given(o, "localPort"))
		conf_err(ctx, BW_E_CONF_MISSING, p->line, "proxy %s: %s is required", name,
			 kname(ctx, key_named(SCOPE_PROXY, "localPort")));
	if (p->type == CONF_PROXY_TCPMUX)
		conf_warn(ctx, line_of(o, "type", p->line),
			  "proxy %s: tcpmux proxies are not supported by Burrow yet; the proxy will "
			  "not run", name);
	if ((p->type == CONF_PROXY_HTTP || p->type == CONF_PROXY_HTTPS ||
	     p->type == CONF_PROXY_TCPMUX) && !p->n_custom_domains &&
	    (!p->subdomain || !*p->subdomain))
		conf_err(ctx, BW_E_CONF_MISSING, p->line, "proxy %s: %s proxies need %s or %s", name,
			 conf_proxy_type_name(p->type),
			 kname(ctx, key_named(SCOPE_PROXY, "customDomains")),
			 kname(ctx, key_named(SCOPE_PROXY, "subdomain")));
	if ((p->type == CONF_PROXY_STCP || p->type == CONF_PROXY_SUDP ||
	     p->type == CONF_PROXY_XTCP) && (!p->secret_key || !*p->secret_key))
		conf_warn(ctx, line_of(o, "secretKey", p->line),
			  "proxy %s: %s is empty; any visitor that knows the name can connect", name,
			  kname(ctx, key_named(SCOPE_PROXY, "secretKey")));
}

static void check_visitor(struct conf_ctx *ctx, const struct obj *o, struct conf_visitor *v)
{
	const char *name = v->name ? v->name : "?";

	if (!v->name)
		conf_err(ctx, BW_E_CONF_MISSING, v->line, "visitor at line %d: name is required",
			 v->line);
	if (!was_set(o, "type")) {
		if (!o->type_given)
			conf_err(ctx, BW_E_CONF_MISSING, v->line,
				 "visitor %s: type is required (stcp, sudp or xtcp)", name);
		return;
	}
	if (!v->server_name && !given(o, "serverName"))
		conf_err(ctx, BW_E_CONF_MISSING, v->line, "visitor %s: %s is required", name,
			 kname(ctx, key_named(SCOPE_VISITOR, "serverName")));
	if (v->bind_port == 0 && !(given(o, "bindPort") && !was_set(o, "bindPort")))
		conf_err(ctx, BW_E_CONF_MISSING, line_of(o, "bindPort", v->line),
			 "visitor %s: %s is required (-1: no local listener)", name,
			 kname(ctx, key_named(SCOPE_VISITOR, "bindPort")));
	if (!v->secret_key || !*v->secret_key)
		conf_warn(ctx, line_of(o, "secretKey", v->line), "visitor %s: %s is empty", name,
			  kname(ctx, key_named(SCOPE_VISITOR, "secretKey")));
}

static void check_client(struct conf_ctx *ctx, struct conf_client *c)
{
	for (size_t i = 0; i < c->n_proxies; i++) {
		const struct conf_proxy *p = &c->proxies[i];

		for (size_t j = 0; p->name && j < i; j++) {
			if (c->proxies[j].name && strcmp(c->proxies[j].name, p->name) == 0) {
				conf_err(ctx, BW_E_CONF_DUPLICATE, p->line,
					 "proxy %s: name already used by the proxy at line %d",
					 p->name, c->proxies[j].line);
				break;
			}
		}
	}
	for (size_t i = 0; i < c->n_visitors; i++) {
		const struct conf_visitor *v = &c->visitors[i];
		bool found = false;

		for (size_t j = 0; v->name && j < i; j++) {
			if (c->visitors[j].name && strcmp(c->visitors[j].name, v->name) == 0) {
				conf_err(ctx, BW_E_CONF_DUPLICATE, v->line,
					 "visitor %s: name already used by the visitor at line %d",
					 v->name, c->visitors[j].line);
				break;
			}
		}
		if (!v->fallback_to || !*v->fallback_to)
			continue;
		for (size_t j = 0; j < c->n_visitors; j++)
			if (j != i && c->visitors[j].name &&
			    strcmp(c->visitors[j].name, v->fallback_to) == 0)
				found = true;
		if (!found)
			conf_err(ctx, BW_E_CONF_VALUE, v->line,
				 "visitor %s: %s \"%s\" names no other visitor in this file",
				 v->name ? v->name : "?",
				 kname(ctx, key_named(SCOPE_VISITOR, "fallbackTo")), v->fallback_to);
	}
}

static void check_start(struct conf_ctx *ctx, const struct obj *o, const struct conf_client *c)
{
	for (size_t i = 0; i < c->n_start; i++) {
		bool found = false;

		for (size_t j = 0; j < c->n_proxies && !found; j++)
			found = c->proxies[j].name && strcmp(c->proxies[j].name, c->start[i]) == 0;
		for (size_t j = 0; j < c->n_visitors && !found; j++)
			found = c->visitors[j].name && strcmp(c->visitors[j].name, c->start[i]) == 0;
		if (!found)
			conf_warn(ctx, line_of(o, "start", 0), "start: no proxy or visitor named \"%s\"",
				  c->start[i]);
	}
}

/* ---- formats -------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* A line that is exactly [common] (comments allowed): frp's INI. */
static bool has_common(const char *text, size_t len)
{
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;

		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(e - p) >= 8 && memcmp(p, "[common]", 8) == 0) {
			p += 8;
			while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
				p++;
			if (p == e || *p == '#' || *p == ';')
				return true;
		}
		p = nl ? nl + 1 : end;
	}
	return false;
}

static int pick_format(struct conf_ctx *ctx, const char *text, size_t len, enum conf_format fmt,
		       enum conf_format *out)
{
	const char *p = text;

	*out = fmt;
	if (fmt != CONF_FORMAT_AUTO)
		return 0;
	if (ends_with(ctx->label, ".yaml") || ends_with(ctx->label, ".yml") ||
	    ends_with(ctx->label, ".json")) {
		conf_err(ctx, BW_E_UNSUPPORTED, 0,
			 "frp's YAML and JSON formats are not supported; convert the file to TOML");
		return BW_E_UNSUPPORTED;
	}
	if (ends_with(ctx->label, ".toml")) {
		*out = CONF_FORMAT_TOML;
		return 0;
	}
	if (ends_with(ctx->label, ".ini")) {
		*out = CONF_FORMAT_INI;
		return 0;
	}
	while (p < text + len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p < text + len && *p == '{') {
		conf_err(ctx, BW_E_UNSUPPORTED, 0,
			 "looks like JSON, which Burrow does not read; convert the file to TOML");
		return BW_E_UNSUPPORTED;
	}
	*out = has_common(text, len) ? CONF_FORMAT_INI : CONF_FORMAT_TOML;
	return 0;
}

/* NUL check and template rendering; *buf is NULL when the text is used as is. */
static int prepare(struct conf_ctx *ctx, const char **text, size_t *len, char **buf)
{
	const char *nul = memchr(*text, '\0', *len);

	*buf = NULL;
	if (*len > CONF_FILE_MAX) {
		conf_err(ctx, BW_E_TOO_BIG, 0, "larger than %u bytes", CONF_FILE_MAX);
		return BW_E_TOO_BIG;
	}
	if (nul) {
		int line = 1;

		for (const char *p = *text; p < nul; p++)
			line += *p == '\n';
		conf_err(ctx, BW_E_CONF_SYNTAX, line, "NUL byte in the file (is it a text file?)");
		return BW_E_CONF_SYNTAX;
	}
	if (!memmem(*text, *len, "{{", 2))
		return 0;
	if (conf_template_render(ctx, *text, *len, buf, len) < 0)
		return ctx->rc;
	*text = *buf;
	return 0;
}

/* ---- server --------------------------------------------------------------- */

static void server_ini(struct conf_ctx *ctx, struct obj *o, const struct ini_doc *doc)
{
	bool common = false;

	for (size_t i = 0; i < doc->n; i++) {
		const struct ini_section *s = &doc->s[i];

		if (i == 0) {
			for (size_t j = 0; j < s->n; j++)
				conf_warn(ctx, s->e[j].line, "%s: outside any section; ignored (frp reads "
					  "[common])", s->e[j].key);
		} else if (strcmp(s->name, "common") == 0) {
			common = true;
			ini_entries(ctx, o, s, NULL, NULL);
		} else if (strncmp(s->name, "plugin.", 7) == 0) {
			conf_warn(ctx, s->line, "[%s]: server plugins are not supported by Burrow yet; "
				  "section ignored", s->name);
		} else {
			conf_warn(ctx, s->line, "[%s]: proxy sections belong in burrow's (frpc's) file; "
				  "ignored by burrowd", s->name);
		}
	}
	if (!common)
		conf_warn(ctx, 0, "no [common] section; using the defaults");
}

static void finish(struct conf_ctx *ctx)
{
	if (ctx->oom && ctx->rc != BW_E_NOMEM)
		ctx->rc = BW_E_NOMEM;
	conf_diag_sort(ctx);
}

static void ctx_init(struct conf_ctx *ctx, const char *label, struct conf_diag *diag,
		     enum conf_scope s)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->label = label && *label ? label : "config";
	ctx->diag = diag;
	ctx->first = diag->n;
	ctx->scope = s;
}

static void toml_failed(struct conf_ctx *ctx, int rc, const struct toml_error *err)
{
	if (rc == BW_E_NOMEM)
		conf_err(ctx, rc, 0, "out of memory");
	else
		conf_err_at(ctx, rc, err->line, err->col, "%s", err->msg);
}

int conf_server_parse(const char *label, const char *text, size_t len, enum conf_format fmt,
		      struct conf_server *out, struct conf_diag *diag)
{
	struct conf_ctx ctx;
	struct obj o = { .scope = SCOPE_SERVER, .base = out, .mask = P_ALL };
	char *buf;

	ctx_init(&ctx, label, diag, SCOPE_SERVER);
	conf_server_defaults(out);
	if (prepare(&ctx, &text, &len, &buf) == 0 && pick_format(&ctx, text, len, fmt, &fmt) == 0) {
		ctx.toml = fmt == CONF_FORMAT_TOML;
		if (ctx.toml) {
			struct toml_node *root;
			struct toml_error err;
			int rc = toml_parse(text, len, &root, &err);

			if (rc < 0) {
				toml_failed(&ctx, rc, &err);
			} else {
				walk_toml(&ctx, &o, root, "");
				toml_free(root);
			}
		} else {
			struct ini_doc doc;

			if (ini_parse(&ctx, text, len, &doc) == 0)
				server_ini(&ctx, &o, &doc);
			ini_free(&doc);
		}
		if (!ctx.oom) {
			check_common(&ctx, &o, out->auth_method, out->log.level);
			if (!out->proxy_bind_addr[0]) {
				char *copy = strdup(out->bind_addr);

				if (copy) {
					free(out->proxy_bind_addr);
					out->proxy_bind_addr = copy;
				} else {
					conf_err(&ctx, BW_E_NOMEM, 0, "out of memory");
				}
			}
			if (!out->token[0] && !ctx.rc)
				conf_warn(&ctx, line_of(&o, "auth.token", 0),
					  "%s is empty: any client can log in",
					  kname(&ctx, key_named(SCOPE_SERVER, "auth.token")));
		}
	}
	free(buf);
	finish(&ctx);
	if (ctx.rc) {
		conf_server_free(out);
		return ctx.rc;
	}
	return 0;
}

/* ---- client --------------------------------------------------------------- */

static void client_toml(struct conf_ctx *ctx, struct obj *o, struct conf_client *c,
			const struct toml_node *root)
{
	const struct toml_node *px = toml_get(root, "proxies"), *vs = toml_get(root, "visitors");

	walk_toml(ctx, o, root, "");
	check_common(ctx, o, c->auth_method, c->log.level);
	if (px)
		toml_objects(ctx, c, px, SCOPE_PROXY);
	if (vs)
		toml_objects(ctx, c, vs, SCOPE_VISITOR);
}

static void client_ini(struct conf_ctx *ctx, struct obj *o, struct conf_client *c,
		       const struct ini_doc *doc)
{
	bool common = false;

	for (size_t i = 1; i < doc->n; i++) {
		if (strcmp(doc->s[i].name, "common") == 0) {
			common = true;
			ini_entries(ctx, o, &doc->s[i], NULL, NULL);
		}
	}
	if (!common && doc->n > 1)
		conf_warn(ctx, 0, "no [common] section (frp requires one); using the defaults");
	check_common(ctx, o, c->auth_method, c->log.level);
	for (size_t j = 0; j < doc->s[0].n; j++)
		conf_warn(ctx, doc->s[0].e[j].line, "%s: outside any section; ignored",
			  doc->s[0].e[j].key);
	for (size_t i = 1; i < doc->n && !ctx->oom; i++) {
		const struct ini_section *s = &doc->s[i];
		const struct ini_entry *role = ini_get(s, "role");

		if (strcmp(s->name, "common") == 0)
			continue;
		if (strncmp(s->name, "range:", 6) == 0) {
			ini_range(ctx, c, s);
		} else if (!role || !role->value || !*role->value || strcmp(role->value, "server") == 0) {
			ini_object(ctx, c, s, SCOPE_PROXY, s->name, NULL);
		} else if (strcmp(role->value, "visitor") == 0) {
			ini_object(ctx, c, s, SCOPE_VISITOR, s->name, NULL);
		} else {
			conf_err(ctx, BW_E_CONF_VALUE, role->line,
				 "role: \"%s\" is not a role; use server (a proxy) or visitor",
				 role->value);
		}
	}
}

int conf_client_parse(const char *label, const char *text, size_t len, enum conf_format fmt,
		      struct conf_client *out, struct conf_diag *diag)
{
	struct conf_ctx ctx;
	struct obj o = { .scope = SCOPE_CLIENT, .base = out, .mask = P_ALL };
	char *buf;

	ctx_init(&ctx, label, diag, SCOPE_CLIENT);
	conf_client_defaults(out);
	if (prepare(&ctx, &text, &len, &buf) == 0 && pick_format(&ctx, text, len, fmt, &fmt) == 0) {
		ctx.toml = fmt == CONF_FORMAT_TOML;
		if (ctx.toml) {
			struct toml_node *root;
			struct toml_error err;
			int rc = toml_parse(text, len, &root, &err);

			if (rc < 0) {
				toml_failed(&ctx, rc, &err);
			} else {
				client_toml(&ctx, &o, out, root);
				toml_free(root);
			}
		} else {
			struct ini_doc doc;

			if (ini_parse(&ctx, text, len, &doc) == 0)
				client_ini(&ctx, &o, out, &doc);
			ini_free(&doc);
		}
		if (!ctx.oom) {
			check_client(&ctx, out);
			check_start(&ctx, &o, out);
		}
	}
	free(buf);
	finish(&ctx);
	if (ctx.rc) {
		conf_client_free(out);
		return ctx.rc;
	}
	return 0;
}

/* ---- files and the rest of the public API ---------------------------------- */

static int load(const char *path, void *out, struct conf_diag *diag, bool server)
{
	struct conf_ctx ctx;
	char *text;
	size_t len;
	int rc;

	rc = bw_file_read(path, CONF_FILE_MAX, &text, &len);
	if (rc < 0) {
		ctx_init(&ctx, path, diag, server ? SCOPE_SERVER : SCOPE_CLIENT);
		if (rc == BW_E_TOO_BIG)
			conf_err(&ctx, rc, 0, "larger than %u bytes", CONF_FILE_MAX);
		else
			conf_err(&ctx, rc, 0, "cannot read: %s", bw_strerror(rc));
		if (server)
			memset(out, 0, sizeof(struct conf_server));
		else
			memset(out, 0, sizeof(struct conf_client));
		return rc;
	}
	rc = server ? conf_server_parse(path, text, len, CONF_FORMAT_AUTO, out, diag)
		    : conf_client_parse(path, text, len, CONF_FORMAT_AUTO, out, diag);
	free(text);
	return rc;
}

int conf_server_load(const char *path, struct conf_server *out, struct conf_diag *diag)
{
	return load(path, out, diag, true);
}

int conf_client_load(const char *path, struct conf_client *out, struct conf_diag *diag)
{
	return load(path, out, diag, false);
}

void conf_server_defaults(struct conf_server *c)
{
	memset(c, 0, sizeof(*c));
	if (conf_keys_defaults(SCOPE_SERVER, c) < 0)
		conf_server_free(c);
}

void conf_client_defaults(struct conf_client *c)
{
	memset(c, 0, sizeof(*c));
	if (conf_keys_defaults(SCOPE_CLIENT, c) < 0)
		conf_client_free(c);
}

void conf_server_free(struct conf_server *c)
{
	if (!c)
		return;
	conf_keys_free(SCOPE_SERVER, c);
	memset(c, 0, sizeof(*c));
}

void conf_client_free(struct conf_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_proxies; i++)
		conf_keys_free(SCOPE_PROXY, &c->proxies[i]);
	for (size_t i = 0; i < c->n_visitors; i++)
		conf_keys_free(SCOPE_VISITOR, &c->visitors[i]);
	free(c->proxies);
	free(c->visitors);
	conf_keys_free(SCOPE_CLIENT, c);
	memset(c, 0, sizeof(*c));
}

static bool started(const struct conf_client *c, const char *name)
{
	if (!c->n_start)
		return true;
	for (size_t i = 0; i < c->n_start; i++)
		if (name && strcmp(c->start[i], name) == 0)
			return true;
	return false;
}

bool conf_proxy_runs(const struct conf_client *c, const struct conf_proxy *p)
{
	return p->enabled && !p->plugin && p->type != CONF_PROXY_TCPMUX && started(c, p->name);
}

bool conf_visitor_runs(const struct conf_client *c, const struct conf_visitor *v)
{
	return v->enabled && started(c, v->name);
}
