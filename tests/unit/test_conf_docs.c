/*
 * docs/CONFIG.md documents every row of conf/keys.def (TOML name, INI name,
 * type, default, status) and nothing else (curl's tests/data/test1477 idea).
 * The tables sit under headings "## Keys: <scope>".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "conf/conf_int.h"

#define DOC BW_SOURCE_DIR "/docs/CONFIG.md"
#define CELLS 6

/* Split "| a | b |" into trimmed cells without backticks; returns the count. */
static int cells(char *line, char **out, int max)
{
	int n = 0;
	char *p = strchr(line, '|');

	while (p && n < max) {
		char *end = strchr(p + 1, '|'), *s, *e;

		while (end && end[-1] == '\\')
			end = strchr(end + 1, '|');
		if (!end)
			break;
		*end = '\0';
		s = p + 1;
		while (*s == ' ')
			s++;
		e = s + strlen(s);
		while (e > s && e[-1] == ' ')
			*--e = '\0';
		if (*s == '`' && e > s + 1 && e[-1] == '`') {
			e[-1] = '\0';
			s++;
		}
		out[n++] = s;
		p = end;
	}
	return n;
}

static const char *name_cell(const char *s)
{
	return strcmp(s, "—") == 0 ? "" : s;
}

static void expect_row(enum conf_scope scope, char **c, bool *seen, int lineno)
{
	const char *toml = name_cell(c[0]), *ini = name_cell(c[1]);
	char type[64], def[256];

	for (size_t i = 0; i < conf_keys_n; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->scope != scope || strcmp(k->toml, toml) || strcmp(k->ini, ini))
			continue;
		if (seen[i])
			fail_msg("CONFIG.md:%d: %s/%s listed twice", lineno, toml, ini);
		seen[i] = true;
		if (k->status == ST_SUP && (k->type == T_INT || k->type == T_PORT))
			snprintf(type, sizeof(type), "%s %lld..%lld", conf_type_name(k->type), k->min,
				 k->max);
		else
			snprintf(type, sizeof(type), "%s", conf_type_name(k->type));
		if (!k->def)
			snprintf(def, sizeof(def), "—");
		else if (!*k->def)
			snprintf(def, sizeof(def), "\"\"");
		else
			snprintf(def, sizeof(def), "%s", k->def);
		if (strcmp(c[2], type))
			fail_msg("CONFIG.md:%d: %s: type \"%s\", table says \"%s\"", lineno, toml, c[2], type);
		if (strcmp(c[3], def))
			fail_msg("CONFIG.md:%d: %s: default \"%s\", table says \"%s\"", lineno, toml,
				 c[3], def);
		if (strcmp(c[4], k->status == ST_UNSUP ? "not supported" : "supported"))
			fail_msg("CONFIG.md:%d: %s: status \"%s\"", lineno, toml, c[4]);
		if (!*c[5])
			fail_msg("CONFIG.md:%d: %s: no description", lineno, toml);
		return;
	}
	fail_msg("CONFIG.md:%d: %s scope: key %s / %s is not in conf/keys.def", lineno,
		 conf_scope_name(scope), toml[0] ? toml : "—", ini[0] ? ini : "—");
}

static void test_conf_docs_match_key_table(void **state)
{
	char *text, *save, *line;
	size_t len;
	bool *seen = calloc(conf_keys_n, sizeof(*seen));
	int scope = -1, lineno = 0, tables = 0;

	assert_non_null(seen);
	assert_int_equal(bw_file_read(DOC, 1 << 20, &text, &len), 0);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c[CELLS + 1];
		int n;

		lineno++;
		if (strncmp(line, "## ", 3) == 0) {
			scope = -1;
			for (int s = 0; s < SCOPE_N; s++) {
				char want[64];

				snprintf(want, sizeof(want), "## Keys: %s", conf_scope_name((enum conf_scope)s));
				if (strcmp(line, want) == 0) {
					scope = s;
					tables++;
				}
			}
			continue;
		}
		if (scope < 0 || line[0] != '|')
			continue;
		n = cells(line, c, CELLS + 1);
		if (n != CELLS)
			fail_msg("CONFIG.md:%d: %d cells, want %d", lineno, n, CELLS);
		if (strcmp(c[0], "TOML") == 0 || strncmp(c[0], "---", 3) == 0)
			continue;
		expect_row((enum conf_scope)scope, c, seen, lineno);
	}
	assert_int_equal(tables, SCOPE_N);
	for (size_t i = 0; i < conf_keys_n; i++)
		if (!seen[i])
			fail_msg("CONFIG.md does not document %s key %s / %s",
				 conf_scope_name(conf_keys[i].scope), conf_keys[i].toml, conf_keys[i].ini);
	free(seen);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_docs_match_key_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
