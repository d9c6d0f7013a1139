/*
 * Every frp snippet from the seed articles (tests/data/conf/seeds/, made by
 * extract.py) loads with the right loader. A snippet with placeholders
 * (`<port>`, `<设置你的token>`) or empty values where a value is needed must
 * fail with an error at exactly those lines, naming the key, and load once the
 * test fills them with plausible values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "conf/conf_int.h"

#define SEEDS BW_SOURCE_DIR "/tests/data/conf/seeds"
#define LINES_MAX 512

struct seed_line {
	char key[128];
	enum conf_scope scope;
	bool placeholder, empty;
};

static bool has(const char *text, const char *const *words)
{
	for (; *words; words++)
		if (strstr(text, *words))
			return true;
	return false;
}

/* Which loaders a snippet is for: 1 server, 2 client, 3 both. */
static int roles(const char *name, const char *text)
{
	static const char *const client[] = { "server_addr", "serverAddr", "[[proxies]]",
					       "[[visitors]]", "local_port", "localPort", NULL };
	static const char *const server[] = { "bind_port", "bindPort", "vhost_", "vhostHTTP",
					       "dashboard_", "webServer", NULL };
	bool c = has(text, client), s = has(text, server);

	if (c && s)
		fail_msg("%s: both server and client keys", name);
	return c ? 2 : s ? 1 : 3;
}

/*
 * Split a snippet into lines and note, for each `key = value`, whether the
 * value is a placeholder or empty (comments stripped the way the INI reader
 * does: a # or ; after a blank).
 */
static size_t scan(const char *text, bool toml, struct seed_line *out, enum conf_scope common)
{
	size_t n = 0;
	enum conf_scope scope = common;

	for (const char *p = text; *p && n < LINES_MAX; n++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[1024], *eq, *v, *end;
		struct seed_line *sl = &out[n];

		memset(sl, 0, sizeof(*sl));
		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		p = nl ? nl + 1 : p + len;
		if (line[0] == '[') {
			scope = strncmp(line, "[common]", 8) == 0 || (toml && strncmp(line, "[[", 2))
				? common : SCOPE_PROXY;
			continue;
		}
		if (line[0] == '#' || line[0] == ';' || !(eq = strchr(line, '=')))
			continue;
		*eq = '\0';
		sscanf(line, "%127s", sl->key);
		sl->scope = scope;
		v = eq + 1;
		for (char *c = v + 1; *c; c++)
			if ((*c == '#' || *c == ';') && (c[-1] == ' ' || c[-1] == '\t'))
				*c = '\0';
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v == '#')
			*v = '\0';
		end = v + strlen(v);
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (toml && *v == '"' && end - v >= 2) {
			*--end = '\0';
			v++;
		}
		sl->empty = !*v;
		sl->placeholder = conf_is_placeholder(v);
	}
	return n;
}

static const struct conf_key *key_of(const struct seed_line *sl, bool toml)
{
	const char *sub;

	return toml ? conf_key_toml(sl->scope, sl->key) : conf_key_ini(sl->scope, sl->key, &sub);
}

/* Would the loader refuse this line? Only supported keys are checked. */
static bool must_fail(const struct seed_line *sl, bool toml)
{
	const struct conf_key *k = key_of(sl, toml);

	if (!k || k->status != ST_SUP)
		return false;
	return sl->placeholder || (sl->empty && k->type != T_STR && k->type != T_LIST &&
				   k->type != T_MAP);
}

static const char *plausible(const struct seed_line *sl, bool toml)
{
	const struct conf_key *k = key_of(sl, toml);

	if (k->type == T_PORT || k->type == T_INT)
		return strstr(sl->key, "remote") ? "6000" : strstr(sl->key, "local") ? "8080" : "7000";
	if (strstr(sl->key, "addr") || strstr(sl->key, "Addr") || strstr(sl->key, "ip"))
		return toml ? "\"192.0.2.10\"" : "192.0.2.10";
	return toml ? "\"filled-secret\"" : "filled-secret";
}

/* The snippet with every refused value replaced by a plausible one. */
static char *fill(const char *text, const struct seed_line *sl, size_t n, bool toml)
{
	size_t cap = strlen(text) + 64 * n + 1, o = 0;
	char *out = malloc(cap);
	const char *p = text;

	assert_non_null(out);
	for (size_t i = 0; *p; i++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);

		if (i < n && must_fail(&sl[i], toml))
			o += (size_t)snprintf(out + o, cap - o, "%s = %s\n", sl[i].key,
					      plausible(&sl[i], toml));
		else
			o += (size_t)snprintf(out + o, cap - o, "%.*s", (int)len, p);
		p += len;
	}
	return out;
}

static int load_as(int role, const char *label, const char *text, struct conf_diag *d)
{
	int rc;

	if (role == 1) {
		struct conf_server s;

		rc = conf_server_parse(label, text, strlen(text), CONF_FORMAT_AUTO, &s, d);
		conf_server_free(&s);
	} else {
		struct conf_client c;

		rc = conf_client_parse(label, text, strlen(text), CONF_FORMAT_AUTO, &c, d);
		conf_client_free(&c);
	}
	return rc;
}

static void dump(const struct conf_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		print_message("  %s\n", d->entries[i].text);
}

static void check_seed(const char *name, const char *text, int role)
{
	bool toml = strstr(name, ".toml") != NULL;
	struct seed_line *sl = calloc(LINES_MAX, sizeof(*sl));
	size_t n;
	unsigned expected = 0;
	struct conf_diag d = { 0 };
	int rc;

	assert_non_null(sl);
	n = scan(text, toml, sl, role == 1 ? SCOPE_SERVER : SCOPE_CLIENT);
	for (size_t i = 0; i < n; i++)
		expected += must_fail(&sl[i], toml);
	rc = load_as(role, name, text, &d);
	if ((rc < 0) != (expected > 0)) {
		dump(&d);
		fail_msg("%s as %s: rc %d, expected %u refused lines", name,
			 role == 1 ? "server" : "client", rc, expected);
	}
	for (size_t i = 0; i < d.n; i++) {
		const struct conf_diag_entry *e = &d.entries[i];
		int line = e->line;

		if (e->severity != CONF_ERROR)
			continue;
		if (line < 1 || (size_t)line > n || !must_fail(&sl[line - 1], toml) ||
		    !strstr(e->text, sl[line - 1].key)) {
			dump(&d);
			fail_msg("%s: unexpected error \"%s\"", name, e->text);
		}
	}
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		if (!must_fail(&sl[i], toml))
			continue;
		for (size_t j = 0; j < d.n; j++)
			found |= d.entries[j].severity == CONF_ERROR && d.entries[j].line == (int)i + 1;
		if (!found)
			fail_msg("%s:%zu: %s: no error", name, i + 1, sl[i].key);
	}
	conf_diag_free(&d);
	if (expected) {
		char *filled = fill(text, sl, n, toml);

		rc = load_as(role, name, filled, &d);
		if (rc < 0 || d.n_errors) {
			dump(&d);
			fail_msg("%s: still refused once filled:\n%s", name, filled);
		}
		free(filled);
		conf_diag_free(&d);
	}
	free(sl);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_snippet(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return (n > 4 && strcmp(e->d_name + n - 4, ".ini") == 0) ||
	       (n > 5 && strcmp(e->d_name + n - 5, ".toml") == 0);
}

static void test_conf_seeds_load(void **state)
{
	struct dirent **list;
	int n = scandir(SEEDS, &list, is_snippet, by_name);
	unsigned refused = 0;

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		char path[1024], *text;
		size_t len;
		int role;

		snprintf(path, sizeof(path), "%s/%s", SEEDS, list[i]->d_name);
		assert_int_equal(bw_file_read(path, CONF_FILE_MAX, &text, &len), 0);
		role = roles(list[i]->d_name, text);
		if (role & 1)
			check_seed(list[i]->d_name, text, 1);
		if (role & 2)
			check_seed(list[i]->d_name, text, 2);
		refused += strchr(text, '<') != NULL;
		free(text);
		free(list[i]);
	}
	free(list);
	/* The articles do have placeholders; the test must have seen some. */
	assert_true(refused > 0);
}

/* When the articles are next to the repository, the snippets match them. */
static void test_conf_seeds_match_articles(void **state)
{
	const char *articles = BW_SOURCE_DIR "/../shared/seeds";
	struct stat st;
	char cmd[2048];

	if (stat(articles, &st) < 0 || !S_ISDIR(st.st_mode) ||
	    system("command -v python3 >/dev/null 2>&1") != 0)
		skip();
	snprintf(cmd, sizeof(cmd), "python3 '%s/extract.py' --check '%s'", SEEDS, articles);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_seeds_load),
		cmocka_unit_test(test_conf_seeds_match_articles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
