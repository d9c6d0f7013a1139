/*
 * What to say about a key the table does not know. Users copy keys between
 * frp's two formats, between frps and frpc files, and from memory, so the
 * useful answer is usually "you meant this one": the other format's spelling,
 * another case, the full dotted name, a key that belongs in another section,
 * or the nearest name by edit distance.
 */
#include "conf/conf_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * Optimal string alignment distance (Levenshtein plus swaps of neighbours),
 * case-insensitive, in three rolling rows; long names score as far apart.
 */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t rows[3][65], *pp = rows[0], *p = rows[1], *c = rows[2];

	if (la > 64 || lb > 64)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		p[j] = j;
	for (size_t i = 1; i <= la; i++) {
		int ca = tolower((unsigned char)a[i - 1]);

		c[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			int cb = tolower((unsigned char)b[j - 1]);
			size_t best = p[j - 1] + (ca != cb);

			if (p[j] + 1 < best)
				best = p[j] + 1;
			if (c[j - 1] + 1 < best)
				best = c[j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && pp[j - 2] + 1 < best)
				best = pp[j - 2] + 1;
			c[j] = best;
		}
		size_t *t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[lb];
}

/* Lowercase with '_', '-' and '.' removed: server_Port == serverport. */
static void squash(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 1 < len; s++)
		if (*s != '_' && *s != '-' && *s != '.')
			out[o++] = (char)tolower((unsigned char)*s);
	out[o] = '\0';
}

static const char *own_name(const struct conf_key *k, bool toml)
{
	return toml ? k->toml : k->ini;
}

/*
 * Candidate names of a scope in one format: every key name, and in TOML also
 * every dotted prefix ("webServer" for webServer.port), so that a misspelt
 * table name finds its match. Calls fn for each until it returns true.
 */
static const char *each_candidate(enum conf_scope s, bool toml,
				  bool (*fn)(const char *cand, const char *name, void *arg),
				  const char *name, void *arg)
{
	static char prefix[128];

	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *n = own_name(k, toml);

		if (k->scope != s || !n[0] || k->status == ST_READER)
			continue;
		if (fn(n, name, arg))
			return n;
		if (!toml)
			continue;
		for (const char *dot = strchr(n, '.'); dot; dot = strchr(dot + 1, '.')) {
			size_t len = (size_t)(dot - n);

			if (len >= sizeof(prefix))
				break;
			memcpy(prefix, n, len);
			prefix[len] = '\0';
			if (fn(prefix, name, arg))
				return prefix;
		}
	}
	return NULL;
}

static bool match_case(const char *cand, const char *name, void *arg)
{
	return strcasecmp(cand, name) == 0;
}

static bool match_squash(const char *cand, const char *name, void *arg)
{
	char a[128], b[128];

	squash(cand, a, sizeof(a));
	squash(name, b, sizeof(b));
	return a[0] && strcmp(a, b) == 0;
}

static bool match_last(const char *cand, const char *name, void *arg)
{
	const char *dot = strrchr(cand, '.');

	return dot && strcasecmp(dot + 1, name) == 0;
}

struct near {
	char best[128];
	size_t dist;
};

static bool match_near(const char *cand, const char *name, void *arg)
{
	struct near *nr = arg;
	size_t lc = strlen(cand), ln = strlen(name), d;

	/* The distance is at least the difference in length: skip hopeless ones. */
	if ((lc > ln ? lc - ln : ln - lc) >= nr->dist)
		return false;
	d = edit_distance(cand, name);

	if (d < nr->dist) {
		nr->dist = d;
		snprintf(nr->best, sizeof(nr->best), "%s", cand);
	}
	return false;
}

static const char *other_scope_why(enum conf_scope s, enum conf_scope o, bool toml)
{
	if (s == SCOPE_CLIENT && o == SCOPE_SERVER)
		return "burrowd (frps) key; ignored by burrow (frpc)";
	if (s == SCOPE_SERVER)
		return "burrow (frpc) key; ignored by burrowd (frps)";
	if (s == SCOPE_CLIENT && o == SCOPE_PROXY)
		return toml ? "proxy key; it belongs in a [[proxies]] table"
			    : "proxy key; it belongs in a proxy section";
	if (s == SCOPE_CLIENT && o == SCOPE_VISITOR)
		return toml ? "visitor key; it belongs in a [[visitors]] table"
			    : "visitor key; it belongs in a visitor section";
	if (o == SCOPE_CLIENT || o == SCOPE_SERVER)
		return toml ? "common key; it belongs at the top of the file, before any table"
			    : "common key; it belongs in [common]";
	if (s == SCOPE_PROXY)
		return "visitor key; this is a proxy";
	return "proxy key; this is a visitor";
}

void conf_key_unknown_why(enum conf_scope s, bool toml, const char *name, char *buf, size_t len)
{
	const char *hit;
	struct near nr = { "", 99 };
	size_t n = strlen(name), limit = n <= 4 ? 1 : n <= 12 ? 2 : 3;
	char copy[128];

	/* 1. The other format's spelling: server_addr in TOML, serverAddr in INI. */
	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *other = own_name(k, !toml), *mine = own_name(k, toml);

		if (k->scope != s || !other[0] || strcmp(other, name) != 0)
			continue;
		if (mine[0])
			snprintf(buf, len, "unknown key; did you mean \"%s\"? (%s is the %s spelling)",
				 mine, name, toml ? "INI" : "TOML");
		else
			snprintf(buf, len, "%s-only key; not read from %s files; ignored",
				 toml ? "INI" : "TOML", toml ? "TOML" : "INI");
		return;
	}
	/* 2. Same name, other case. */
	if ((hit = each_candidate(s, toml, match_case, name, NULL)) != NULL)
		goto suggest;
	/* 3. A key of another scope, spelt right. */
	for (int o = 0; o < SCOPE_N; o++) {
		if (o == (int)s)
			continue;
		if (s == SCOPE_SERVER && o != SCOPE_CLIENT && o != SCOPE_PROXY && o != SCOPE_VISITOR)
			continue;
		if ((s == SCOPE_PROXY || s == SCOPE_VISITOR) && o == SCOPE_SERVER)
			continue;
		if (s == SCOPE_CLIENT && o == SCOPE_SERVER && strcmp(name, "log_way") == 0)
			continue;
		for (size_t i = 0; i < conf_keys_n; i++) {
			const struct conf_key *k = &conf_keys[i];

			if ((int)k->scope == o && own_name(k, toml)[0] &&
			    strcmp(own_name(k, toml), name) == 0) {
				snprintf(buf, len, "%s", other_scope_why(s, (enum conf_scope)o, toml));
				return;
			}
		}
	}
	/* 4. The last part of a dotted name: heartbeatInterval. */
	if (toml && !strchr(name, '.') &&
	    (hit = each_candidate(s, toml, match_last, name, NULL)) != NULL)
		goto suggest;
	/* 5. Same letters: server-Port, bindport. */
	if ((hit = each_candidate(s, toml, match_squash, name, NULL)) != NULL)
		goto suggest;
	/* 6. A typo. */
	nr.dist = limit + 1;
	each_candidate(s, toml, match_near, name, &nr);
	if (nr.best[0] && nr.dist <= limit) {
		hit = nr.best;
		goto suggest;
	}
	snprintf(buf, len, "unknown key; ignored");
	return;
suggest:
	/* each_candidate may hand back its static prefix buffer: copy first. */
	snprintf(copy, sizeof(copy), "%s", hit);
	snprintf(buf, len, "unknown key; did you mean \"%s\"?", copy);
}
