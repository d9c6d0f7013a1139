/*
 * The TOML reader on its own: documents it must accept (and what it must
 * build from them) and documents it must refuse, with the line of the error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_int.h"

/* Node at a dotted path of bare keys; "p.1.n" indexes arrays. */
static const struct toml_node *get(const struct toml_node *t, const char *path)
{
	char buf[256], *save, *part;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part && t; part = strtok_r(NULL, ".", &save)) {
		if (t->kind == TOML_ARRAY) {
			size_t i = strtoul(part, NULL, 10);

			t = i < t->u.kids.n ? t->u.kids.v[i] : NULL;
		} else {
			t = toml_get(t, part);
		}
	}
	return t;
}

static struct toml_node *parse_ok(const char *doc)
{
	struct toml_node *root;
	struct toml_error err;
	int rc = toml_parse(doc, strlen(doc), &root, &err);

	if (rc != 0)
		fail_msg("rejected (%d:%d %s):\n%s", err.line, err.col, err.msg, doc);
	return root;
}

static void expect_str(const struct toml_node *root, const char *path, const char *want)
{
	const struct toml_node *n = get(root, path);

	assert_non_null(n);
	assert_int_equal(n->kind, TOML_STRING);
	assert_string_equal(n->u.str, want);
}

static void expect_int(const struct toml_node *root, const char *path, int64_t want)
{
	const struct toml_node *n = get(root, path);

	assert_non_null(n);
	assert_int_equal(n->kind, TOML_INTEGER);
	assert_true(n->u.i == want);
}

static void test_toml_parse_scalars(void **state)
{
	struct toml_node *r = parse_ok(
		"# comment\n"
		"s = \"tab\\t q\\\" b\\\\ \\u00e9 \\U0001F600\"\n"
		"lit = 'C:\\path\\#not-a-comment'\n"
		"i = 42\nneg = -17\nplus = +5\nsep = 1_000\n"
		"hex = 0xdead_BEEF\noct = 0o755\nbin = 0b1101\n"
		"max = 9223372036854775807\nmin = -9223372036854775808\n"
		"f = 3.14\ne = -1e-3\nfe = 6.626E-34\nfu = 1_000.5\n"
		"pinf = inf\nminf = -inf\nn = nan\n"
		"t = true\nf2 = false  # trailing comment\n");

	expect_str(r, "s", "tab\t q\" b\\ \xc3\xa9 \xf0\x9f\x98\x80");
	expect_str(r, "lit", "C:\\path\\#not-a-comment");
	expect_int(r, "i", 42);
	expect_int(r, "neg", -17);
	expect_int(r, "plus", 5);
	expect_int(r, "sep", 1000);
	expect_int(r, "hex", 0xdeadbeef);
	expect_int(r, "oct", 0755);
	expect_int(r, "bin", 13);
	expect_int(r, "max", INT64_MAX);
	expect_int(r, "min", INT64_MIN);
	assert_true(fabs(get(r, "f")->u.f - 3.14) < 1e-9);
	assert_true(fabs(get(r, "e")->u.f + 0.001) < 1e-12);
	assert_int_equal(get(r, "fe")->kind, TOML_FLOAT);
	assert_true(fabs(get(r, "fu")->u.f - 1000.5) < 1e-9);
	assert_true(isinf(get(r, "pinf")->u.f) && get(r, "pinf")->u.f > 0);
	assert_true(isinf(get(r, "minf")->u.f) && get(r, "minf")->u.f < 0);
	assert_true(isnan(get(r, "n")->u.f));
	assert_true(get(r, "t")->u.b);
	assert_false(get(r, "f2")->u.b);
	assert_int_equal(get(r, "f2")->line, 21);
	toml_free(r);
}

static void test_toml_parse_multiline_strings(void **state)
{
	struct toml_node *r = parse_ok(
		"a = \"\"\"\nline one\nline two\"\"\"\n"
		"b = \"\"\"\\\n    joined \\\n    here\"\"\"\n"
		"c = '''\nraw \\n text\n'''\n"
		"d = \"\"\"quote\"\"\"\"\n"
		"e = '''two'''''\n"
		"f = \"\"\"one \"\" two\"\"\"\n"
		"g = 1\n");

	expect_str(r, "a", "line one\nline two");
	expect_str(r, "b", "joined here");
	expect_str(r, "c", "raw \\n text\n");
	expect_str(r, "d", "quote\"");
	expect_str(r, "e", "two''");
	expect_str(r, "f", "one \"\" two");
	assert_int_equal(get(r, "g")->line, 13);
	toml_free(r);
}

static void test_toml_parse_tables(void **state)
{
	struct toml_node *r = parse_ok(
		"top = 1\n"
		"x.y.z = 1\n"
		"x.y.w = 2\n"
		"a . \"b c\" . 'd' = 3\n"
		"\"\" = 4\n"
		"[t.u]\n"
		"k = 1\n"
		"[t]\n"
		"k = 2\n"
		"[d]\n"
		"e.f = 1\n"
		"[d.e.g]\n"
		"h = 1\n"
		"[[p]]\n"
		"name = \"one\"\n"
		"[[p]]\n"
		"name = \"two\"\n"
		"[p.plugin]\n"
		"type = \"x\"\n"
		"[[p.sub]]\n"
		"q = 1\n");

	expect_int(r, "x.y.z", 1);
	expect_int(r, "x.y.w", 2);
	assert_non_null(toml_get(toml_get(get(r, "a"), "b c"), "d"));
	assert_non_null(toml_get(r, ""));
	expect_int(r, "t.u.k", 1);
	expect_int(r, "t.k", 2);
	expect_int(r, "d.e.g.h", 1);
	assert_int_equal(get(r, "p")->kind, TOML_ARRAY);
	assert_int_equal(get(r, "p")->u.kids.n, 2);
	expect_str(r, "p.0.name", "one");
	expect_str(r, "p.1.plugin.type", "x");
	expect_int(r, "p.1.sub.0.q", 1);
	assert_int_equal(get(r, "p.1")->line, 16);
	assert_int_equal(get(r, "t.k")->line, 9);
	toml_free(r);
}

static void test_toml_parse_arrays_and_inline_tables(void **state)
{
	struct toml_node *r = parse_ok(
		"a = [ 1, 2, 3, ]\n"
		"b = [\n  \"x\", # comment\n\n  \"y\",\n]\n"
		"c = [[1, 2], [\"a\"], []]\n"
		"d = { x = 1, y.z = \"s\", e = {}, f = [1] }\n"
		"allowPorts = [\n  { start = 2000, end = 3000 },\n  { single = 3001 },\n]\n"
		"empty = []\n");

	assert_int_equal(get(r, "a")->u.kids.n, 3);
	expect_str(r, "b.1", "y");
	expect_str(r, "c.1.0", "a");
	assert_int_equal(get(r, "c.2")->u.kids.n, 0);
	expect_int(r, "d.x", 1);
	expect_str(r, "d.y.z", "s");
	assert_int_equal(get(r, "d")->origin, TOML_INLINE);
	assert_int_equal(get(r, "d.y")->origin, TOML_INLINE);
	expect_int(r, "allowPorts.1.single", 3001);
	assert_int_equal(get(r, "allowPorts.1")->line, 11);
	toml_free(r);
}

static void test_toml_parse_crlf_bom_and_blank(void **state)
{
	struct toml_node *r = parse_ok("\xef\xbb\xbf# bom\r\na = 1\r\n\r\n[t]\r\nb = \"x\"\r\n");

	expect_int(r, "a", 1);
	expect_str(r, "t.b", "x");
	assert_int_equal(get(r, "t.b")->line, 5);
	toml_free(r);
	r = parse_ok("");
	assert_int_equal(r->u.kids.n, 0);
	toml_free(r);
	r = parse_ok("# only a comment");
	toml_free(r);
}

struct reject {
	const char *doc;
	int line;
	const char *why;
};

static const struct reject rejects[] = {
	{ "a = 1\na = 2\n", 2, "duplicate key" },
	{ "a.b = 1\na = 2\n", 2, "duplicate key" },
	{ "a = 1\na.b = 2\n", 2, "cannot add keys" },
	{ "[a]\n[a]\n", 2, "already" },
	{ "[a]\nb = 1\n[a.b]\n", 3, "already" },
	{ "a = {x = 1}\n[a]\n", 2, "inline table" },
	{ "a = {x = 1}\na.y = 2\n", 2, "cannot add keys" },
	{ "a = {x = 1}\n[a.b]\n", 2, "inline table" },
	{ "[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n", 4, "cannot add keys" },
	{ "[a]\nb.c = 1\n[a.b]\n", 3, "dotted keys" },
	{ "a = [1]\n[[a]]\n", 2, "already an array" },
	{ "[[a]]\n[a]\n", 2, "array of tables" },
	{ "[[a]]\n[a.b]\nc = 1\n[a.b]\n", 4, "already" },
	{ "x = {a = {b = 1}, a.c = 2}\n", 1, "cannot add keys" },
	{ "d = 1979-05-27\n", 1, "dates and times are not supported" },
	{ "t = 07:32:00\n", 1, "dates and times are not supported" },
	{ "\n\ns = \"abc\n", 3, "newline in a string" },
	{ "s = \"abc", 1, "unterminated string" },
	{ "s = \"\"\"abc\n\n", 1, "unterminated string" },
	{ "s = \"\\x41\"\n", 1, "invalid escape" },
	{ "s = \"\\uD800\"\n", 1, "not a Unicode scalar value" },
	{ "s = \"\\U00110000\"\n", 1, "not a Unicode scalar value" },
	{ "s = \"\\u0000\"\n", 1, "NUL" },
	{ "s = \"\\u12\"\n", 1, "hex digits" },
	{ "s = \"\"\"x\"\"\"\"\"\"\n", 1, "too many quotes" },
	{ "s = \"a\tb\x01\"\n", 1, "control character" },
	{ "n = 01\n", 1, "leading zeros" },
	{ "n = 1__0\n", 1, "not a valid number" },
	{ "n = _1\n", 1, "not a TOML value" },
	{ "n = 1_\n", 1, "not a valid number" },
	{ "n = 9223372036854775808\n", 1, "out of range" },
	{ "n = 0x\n", 1, "not a valid number" },
	{ "n = 0x8000000000000000\n", 1, "out of range" },
	{ "n = 0b102\n", 1, "not a valid number" },
	{ "n = +0x1\n", 1, "not a valid number" },
	{ "n = 1.\n", 1, "not a valid number" },
	{ "n = .5\n", 1, "not a TOML value" },
	{ "n = 1e\n", 1, "not a valid number" },
	{ "n = 1.2.3\n", 1, "not a valid number" },
	{ "b = True\n", 1, "strings need quotes" },
	{ "type = tcp\n", 1, "strings need quotes: \"tcp\"" },
	{ "\nlocalPort = <port>\n", 2, "looks like a placeholder" },
	{ "a =\n", 1, "missing value" },
	{ "a = # nothing\n", 1, "missing value" },
	{ "a = 1 b = 2\n", 1, "unexpected 'b'" },
	{ "a = 1\rb = 2\n", 1, "carriage return" },
	{ "a = { b = 1, }\n", 1, "trailing comma" },
	{ "a = { b = 1\n}\n", 1, "newline in an inline table" },
	{ "a = { b = 1 c = 2 }\n", 1, "expected ',' or '}'" },
	{ "a = [1, 2\n", 2, "unterminated array" },
	{ "a = [1 2]\n", 1, "expected ',' or ']'" },
	{ "[a\n", 1, "to close the table header" },
	{ "[[a]\n", 1, "to close the table header" },
	{ "[]\n", 1, "expected a key" },
	{ "= 1\n", 1, "expected a key" },
	{ "a b = 1\n", 1, "expected '='" },
	{ "key\n", 1, "expected '='" },
	{ "a.\n", 1, "expected a key" },
	{ "[a] b = 1\n", 1, "unexpected 'b'" },
	{ "# bad \x01 comment\n", 1, "control character" },
	{ "a = 1\n\xff = 2\n", 2, "invalid UTF-8" },
	{ "a = \"\xc0\xaf\"\n", 1, "invalid UTF-8" },
	{ "a = \"\xed\xa0\x80\"\n", 1, "invalid UTF-8" },
};

static void test_toml_parse_rejects(void **state)
{
	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		const struct reject *r = &rejects[i];
		struct toml_node *root = (void *)1;
		struct toml_error err;
		int rc = toml_parse(r->doc, strlen(r->doc), &root, &err);

		if (rc >= 0 || root || err.line != r->line || !strstr(err.msg, r->why))
			fail_msg("case %zu %s: rc %d line %d (want %d) \"%s\" (want \"%s\")", i,
				 r->doc, rc, err.line, r->line, err.msg, r->why);
	}
}

static void test_toml_parse_nul_byte(void **state)
{
	struct toml_node *root;
	struct toml_error err;

	assert_true(toml_parse("a = 1\n\0", 7, &root, &err) < 0);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.msg, "NUL"));
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1), *p = s;

	assert_non_null(s);
	memcpy(p, head, hl);
	p += hl;
	for (size_t i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

static void expect_reject(const char *doc, const char *why)
{
	struct toml_node *root;
	struct toml_error err;

	assert_true(toml_parse(doc, strlen(doc), &root, &err) < 0);
	assert_null(root);
	if (!strstr(err.msg, why))
		fail_msg("\"%s\", want \"%s\"", err.msg, why);
}

static void test_toml_parse_bounds(void **state)
{
	char *open = repeat("a = ", "[", TOML_DEPTH_MAX + 1, "");
	char *deep = repeat(open, "]", TOML_DEPTH_MAX + 1, "\n");
	char *ok = repeat("a = ", "[", TOML_DEPTH_MAX - 1, "");
	char *okdeep = repeat(ok, "]", TOML_DEPTH_MAX - 1, "\n");
	char *longs = repeat("a = \"", "x", TOML_STRING_MAX + 1, "\"\n");
	char *many = repeat("a = [", "1,", TOML_ARRAY_MAX + 1, "]\n");
	char *dotted = repeat("a", ".a", TOML_DEPTH_MAX, " = 1\n");
	struct toml_node *r;

	expect_reject(deep, "nested deeper");
	r = parse_ok(okdeep);
	toml_free(r);
	expect_reject(longs, "longer than");
	expect_reject(many, "more than");
	expect_reject(dotted, "more than");
	free(open);
	free(deep);
	free(ok);
	free(okdeep);
	free(longs);
	free(many);
	free(dotted);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_toml_parse_scalars),
		cmocka_unit_test(test_toml_parse_multiline_strings),
		cmocka_unit_test(test_toml_parse_tables),
		cmocka_unit_test(test_toml_parse_arrays_and_inline_tables),
		cmocka_unit_test(test_toml_parse_crlf_bom_and_blank),
		cmocka_unit_test(test_toml_parse_rejects),
		cmocka_unit_test(test_toml_parse_nul_byte),
		cmocka_unit_test(test_toml_parse_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
