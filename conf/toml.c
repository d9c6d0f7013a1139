/*
 * A small strict TOML 1.0 reader for the files frp users write.
 *
 * Why our own: Debian 12 packages no C TOML library (only C++ ones and other
 * languages'), and frp's files need only the core of TOML. Everything TOML
 * 1.0 defines is accepted except dates and times, which are refused with a
 * clear message because no frp key takes one. Every node remembers its line
 * and column so the loader can point at the exact place of a problem.
 *
 * Bounded (STYLE.md 9): the caller limits the file size; here the nesting
 * depth, string length, array and table size and the total number of nodes
 * are capped (conf_int.h). Any violation is an error, never a truncation.
 */
#include "conf/conf_int.h"
#include "common/err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p, *end;
	const char *line_start;
	int line;
	int depth;
	size_t nodes;
	struct toml_node *root, *cur;
	struct toml_error *err;
	const char *key;           /* key whose value is being read, for messages */
};

struct key_part {
	char *s;
	int line, col;
};

struct key_path {
	struct key_part part[TOML_DEPTH_MAX];
	size_t n;
	char text[256];            /* as written, for messages */
};

static int col(const struct parser *ps, const char *at)
{
	return (int)(at - ps->line_start) + 1;
}

static int fail_at(struct parser *ps, int line, int c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_at(struct parser *ps, int line, int c, const char *fmt, ...)
{
	va_list ap;

	if (ps->err->msg[0])
		return BW_E_CONF_SYNTAX; /* keep the first */
	ps->err->line = line;
	ps->err->col = c;
	va_start(ap, fmt);
	vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
	va_end(ap);
	return BW_E_CONF_SYNTAX;
}

#define fail(ps, ...) fail_at(ps, (ps)->line, col(ps, (ps)->p), __VA_ARGS__)

const char *toml_kind_name(enum toml_kind k)
{
	static const char *const names[] = { "string", "integer", "float", "boolean",
					      "array", "table" };

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* ---- nodes ---------------------------------------------------------------- */

static struct toml_node *node_new(struct parser *ps, enum toml_kind kind, int line, int c)
{
	struct toml_node *n;

	if (++ps->nodes > TOML_VALUES_MAX) {
		fail_at(ps, line, c, "more than %d values in one file", TOML_VALUES_MAX);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		fail_at(ps, line, c, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = line;
	n->col = c;
	return n;
}

void toml_free(struct toml_node *n)
{
	if (!n)
		return;
	if (n->kind == TOML_ARRAY || n->kind == TOML_TABLE) {
		for (size_t i = 0; i < n->u.kids.n; i++)
			toml_free(n->u.kids.v[i]);
		free(n->u.kids.v);
	} else if (n->kind == TOML_STRING) {
		free(n->u.str);
	}
	free(n->key);
	free(n);
}

static int kid_add(struct parser *ps, struct toml_node *parent, struct toml_node *kid)
{
	struct toml_node **grown;

	if (parent->u.kids.n >= TOML_ARRAY_MAX)
		return fail_at(ps, kid->line, kid->col, "more than %d %s", TOML_ARRAY_MAX,
			       parent->kind == TOML_ARRAY ? "items in one array"
							  : "keys in one table");
	if (parent->u.kids.n == parent->u.kids.cap) {
		size_t cap = parent->u.kids.cap ? parent->u.kids.cap * 2 : 8;

		grown = realloc(parent->u.kids.v, cap * sizeof(*grown));
		if (!grown)
			return fail_at(ps, kid->line, kid->col, "out of memory");
		parent->u.kids.v = grown;
		parent->u.kids.cap = cap;
	}
	parent->u.kids.v[parent->u.kids.n++] = kid;
	return 0;
}

const struct toml_node *toml_get(const struct toml_node *table, const char *key)
{
	if (!table || table->kind != TOML_TABLE)
		return NULL;
	for (size_t i = 0; i < table->u.kids.n; i++)
		if (strcmp(table->u.kids.v[i]->key, key) == 0)
			return table->u.kids.v[i];
	return NULL;
}

static struct toml_node *child(struct toml_node *table, const char *key)
{
	return (struct toml_node *)toml_get(table, key);
}

/* A new table named by `part` inside `parent`. */
static struct toml_node *table_add(struct parser *ps, struct toml_node *parent,
				   const struct key_part *part, enum toml_origin origin)
{
	struct toml_node *t = node_new(ps, TOML_TABLE, part->line, part->col);

	if (!t)
		return NULL;
	t->origin = origin;
	t->key = strdup(part->s);
	if (!t->key) {
		fail_at(ps, part->line, part->col, "out of memory");
		free(t);
		return NULL;
	}
	if (kid_add(ps, parent, t) < 0) {
		toml_free(t);
		return NULL;
	}
	return t;
}

/* Mark a finished inline table and everything in it as sealed. */
static void seal(struct toml_node *n)
{
	if (n->kind == TOML_TABLE)
		n->origin = TOML_INLINE;
	if (n->kind == TOML_TABLE || n->kind == TOML_ARRAY)
		for (size_t i = 0; i < n->u.kids.n; i++)
			seal(n->u.kids.v[i]);
}

/* ---- characters ------------------------------------------------------------ */

static bool at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static int peek(const struct parser *ps, size_t ahead)
{
	return ps->p + ahead < ps->end ? (unsigned char)ps->p[ahead] : -1;
}

static void skip_ws(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

static bool at_newline(const struct parser *ps)
{
	return peek(ps, 0) == '\n' || (peek(ps, 0) == '\r' && peek(ps, 1) == '\n');
}

static void newline(struct parser *ps)
{
	ps->p += *ps->p == '\r' ? 2 : 1;
	ps->line++;
	ps->line_start = ps->p;
}

/* A comment runs to the end of the line; control characters are not allowed. */
static int skip_comment(struct parser *ps)
{
	if (peek(ps, 0) != '#')
		return 0;
	for (ps->p++; !at_end(ps) && !at_newline(ps); ps->p++) {
		unsigned char c = (unsigned char)*ps->p;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(ps, "control character 0x%02x in a comment", c);
	}
	return 0;
}

/* Whitespace, newlines and comments, as allowed inside arrays. */
static int skip_blank(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		if (peek(ps, 0) == '#') {
			if (skip_comment(ps) < 0)
				return BW_E_CONF_SYNTAX;
		} else if (at_newline(ps)) {
			newline(ps);
		} else if (peek(ps, 0) == '\r') {
			return fail(ps, "carriage return without a line feed");
		} else {
			return 0;
		}
	}
}

/* After a key/value pair or a header: optional comment, then end of line. */
static int end_of_line(struct parser *ps)
{
	skip_ws(ps);
	if (skip_comment(ps) < 0)
		return BW_E_CONF_SYNTAX;
	if (at_end(ps))
		return 0;
	if (at_newline(ps)) {
		newline(ps);
		return 0;
	}
	if (*ps->p == '\r')
		return fail(ps, "carriage return without a line feed");
	return fail(ps, "unexpected '%c' after the value; one key = value per line", *ps->p);
}

/* ---- strings --------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_put(struct parser *ps, struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n > TOML_STRING_MAX)
		return fail(ps, "string longer than %d bytes", TOML_STRING_MAX);
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 32;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->p, cap);
		if (!grown)
			return fail(ps, "out of memory");
		b->p = grown;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int hex_escape(struct parser *ps, struct sbuf *b, int digits)
{
	unsigned long v = 0;
	char utf8[4];
	size_t n;

	for (int i = 0; i < digits; i++) {
		int c = peek(ps, 0);

		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned long)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = v * 16 + (unsigned long)((c | 0x20) - 'a' + 10);
		else
			return fail(ps, "\\%c escape needs %d hex digits", digits == 4 ? 'u' : 'U',
				    digits);
		ps->p++;
	}
	if (v == 0)
		return fail(ps, "\\u0000 (NUL) is not allowed in a string");
	if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return fail(ps, "escape U+%04lX is not a Unicode scalar value", v);
	if (v < 0x80) {
		utf8[0] = (char)v;
		n = 1;
	} else if (v < 0x800) {
		utf8[0] = (char)(0xc0 | (v >> 6));
		utf8[1] = (char)(0x80 | (v & 0x3f));
		n = 2;
	} else if (v < 0x10000) {
		utf8[0] = (char)(0xe0 | (v >> 12));
		utf8[1] = (char)(0x80 | ((v >> 6) & 0x3f));
		utf8[2] = (char)(0x80 | (v & 0x3f));
		n = 3;
	} else {
		utf8[0] = (char)(0xf0 | (v >> 18));
		utf8[1] = (char)(0x80 | ((v >> 12) & 0x3f));
		utf8[2] = (char)(0x80 | ((v >> 6) & 0x3f));
		utf8[3] = (char)(0x80 | (v & 0x3f));
		n = 4;
	}
	return sb_put(ps, b, utf8, n);
}

static int escape(struct parser *ps, struct sbuf *b)
{
	static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
	int c = peek(ps, 0);
	const char *hit = c > 0 ? strchr(from, c) : NULL;

	if (hit && c) {
		ps->p++;
		return sb_put(ps, b, &to[hit - from], 1);
	}
	if (c == 'u' || c == 'U') {
		ps->p++;
		return hex_escape(ps, b, c == 'u' ? 4 : 8);
	}
	if (c < 0x20 || c > 0x7e)
		return fail(ps, "invalid escape sequence");
	return fail(ps, "invalid escape sequence \\%c", c);
}

/*
 * A string of any of the four kinds; ps->p is at the opening quote. Multi-line
 * strings drop a newline right after the opening delimiter, and in basic ones
 * a backslash at the end of a line swallows the newline and the indentation.
 */
static int string(struct parser *ps, bool multi_ok, char **out)
{
	char q = *ps->p;
	bool multi = multi_ok && peek(ps, 1) == q && peek(ps, 2) == q;
	int line = ps->line, c0 = col(ps, ps->p);
	struct sbuf b = { NULL, 0, 0 };
	int rc = 0;

	ps->p += multi ? 3 : 1;
	if (multi && at_newline(ps))
		newline(ps);
	for (;;) {
		int c = peek(ps, 0);

		if (c < 0) {
			rc = fail_at(ps, line, c0, "unterminated string");
			break;
		}
		if (c == q) {
			size_t run = 1;

			if (!multi) {
				ps->p++;
				break;
			}
			while (peek(ps, run) == q)
				run++;
			if (run >= 3) {
				if (run > 5) {
					rc = fail(ps, "too many quotes closing a string");
					break;
				}
				if ((rc = sb_put(ps, &b, ps->p, run - 3)) < 0)
					break;
				ps->p += run;
				break;
			}
			if ((rc = sb_put(ps, &b, ps->p, run)) < 0)
				break;
			ps->p += run;
			continue;
		}
		if (at_newline(ps)) {
			if (!multi) {
				rc = fail(ps, "newline in a string (use \"\"\" for multi-line strings)");
				break;
			}
			newline(ps);
			if ((rc = sb_put(ps, &b, "\n", 1)) < 0)
				break;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			rc = fail(ps, "control character 0x%02x in a string", c);
			break;
		}
		if (c == '\\' && q == '"') {
			const char *save = ps->p++;

			if (multi) {
				/* Line-ending backslash: only whitespace may follow it. */
				skip_ws(ps);
				if (at_newline(ps)) {
					while (!at_end(ps) && (at_newline(ps) || *ps->p == ' ' ||
							       *ps->p == '\t')) {
						if (at_newline(ps))
							newline(ps);
						else
							ps->p++;
					}
					continue;
				}
				ps->p = save + 1;
			}
			if ((rc = escape(ps, &b)) < 0)
				break;
			continue;
		}
		if ((rc = sb_put(ps, &b, ps->p, 1)) < 0)
			break;
		ps->p++;
	}
	if (rc < 0) {
		free(b.p);
		return rc;
	}
	if (!b.p && !(b.p = strdup("")))
		return fail(ps, "out of memory");
	*out = b.p;
	return 0;
}

/* ---- keys -------------------------------------------------------------------- */

static bool bare_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static void path_free(struct key_path *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->part[i].s);
	k->n = 0;
}

/* A dotted key: a.b."c d".'e'. Whitespace around the dots is allowed. */
static int key(struct parser *ps, struct key_path *k)
{
	const char *start = ps->p;
	int rc;

	k->n = 0;
	for (;;) {
		struct key_part *part;
		int c = peek(ps, 0);

		if (k->n == TOML_DEPTH_MAX)
			return fail(ps, "key has more than %d parts", TOML_DEPTH_MAX);
		part = &k->part[k->n];
		part->line = ps->line;
		part->col = col(ps, ps->p);
		if (c == '"' || c == '\'') {
			if ((rc = string(ps, false, &part->s)) < 0)
				return rc;
		} else if (bare_char(c)) {
			const char *s = ps->p;

			while (bare_char(peek(ps, 0)))
				ps->p++;
			part->s = strndup(s, (size_t)(ps->p - s));
			if (!part->s)
				return fail(ps, "out of memory");
		} else if (c == '=' || c == ']' || c < 0 || at_newline(ps)) {
			return fail(ps, "expected a key");
		} else {
			return fail(ps, "'%c' cannot start a key (quote keys with other characters)", c);
		}
		k->n++;
		skip_ws(ps);
		if (peek(ps, 0) != '.')
			break;
		ps->p++;
		skip_ws(ps);
	}
	snprintf(k->text, sizeof(k->text), "%.*s", (int)(ps->p - start), start);
	for (size_t n = strlen(k->text); n && (k->text[n - 1] == ' ' || k->text[n - 1] == '\t'); n--)
		k->text[n - 1] = '\0';
	return 0;
}

/* ---- values ----------------------------------------------------------------- */

static struct toml_node *value(struct parser *ps);

static bool value_end(int c)
{
	return c < 0 || c == ' ' || c == '\t' || c == ',' || c == ']' || c == '}' || c == '#' ||
	       c == '\n' || c == '\r';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Digits of `base` with single underscores between them; copies digits out. */
static bool digits(const char *s, size_t n, int base, char *out, size_t outlen)
{
	size_t o = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i], v;

		if (c == '_') {
			if (i == 0 || i + 1 == n || s[i + 1] == '_')
				return false;
			continue;
		}
		if (is_digit(c))
			v = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = (c | 0x20) - 'a' + 10;
		else
			return false;
		if (v >= base || o + 1 >= outlen)
			return false;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return true;
}

static struct toml_node *number(struct parser *ps)
{
	const char *s = ps->p, *t;
	int line = ps->line, c0 = col(ps, s);
	char buf[128];
	size_t n;
	struct toml_node *node;

	while (!value_end(peek(ps, 0)))
		ps->p++;
	n = (size_t)(ps->p - s);
	/* 1979-05-27, 07:32:00: TOML dates and times. */
	if ((n >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) &&
	     s[4] == '-') || (n >= 3 && is_digit(s[0]) && is_digit(s[1]) && s[2] == ':')) {
		fail_at(ps, line, c0, "%s: dates and times are not supported (no frp key takes one)",
			ps->key);
		return NULL;
	}
	t = s;
	if (*t == '+' || *t == '-')
		t++;
	if (s + n == t + 3 && (memcmp(t, "inf", 3) == 0 || memcmp(t, "nan", 3) == 0)) {
		if (!(node = node_new(ps, TOML_FLOAT, line, c0)))
			return NULL;
		node->u.f = t[0] == 'i' ? (*s == '-' ? -INFINITY : INFINITY) : NAN;
		return node;
	}
	if (t == s && n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
		int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		unsigned long long v;
		char *end;

		if (!digits(s + 2, n - 2, base, buf, sizeof(buf)))
			goto bad;
		errno = 0;
		v = strtoull(buf, &end, base);
		if (errno || v > INT64_MAX) {
			fail_at(ps, line, c0, "%s: integer %.*s is out of range", ps->key, (int)n, s);
			return NULL;
		}
		if (!(node = node_new(ps, TOML_INTEGER, line, c0)))
			return NULL;
		node->u.i = (int64_t)v;
		return node;
	}
	/* Decimal: split into integer part, fraction and exponent. */
	{
		const char *ip = t, *dot = NULL, *exp = NULL, *e = s + n;
		char clean[128];
		size_t o = 0;

		for (const char *q = t; q < e; q++) {
			if (*q == '.' && !dot && !exp)
				dot = q;
			else if ((*q == 'e' || *q == 'E') && !exp)
				exp = q;
		}
		const char *ie = dot ? dot : exp ? exp : e;
		if (!digits(ip, (size_t)(ie - ip), 10, buf, sizeof(buf)))
			goto bad;
		if (ie - ip > 1 && ip[0] == '0') {
			fail_at(ps, line, c0, "%s: leading zeros are not allowed in %.*s", ps->key,
				(int)n, s);
			return NULL;
		}
		if (!dot && !exp) {
			long long v;
			char *end;

			errno = 0;
			snprintf(clean, sizeof(clean), "%s%s", *s == '-' ? "-" : "", buf);
			v = strtoll(clean, &end, 10);
			if (errno) {
				fail_at(ps, line, c0, "%s: integer %.*s is out of range", ps->key,
					(int)n, s);
				return NULL;
			}
			if (!(node = node_new(ps, TOML_INTEGER, line, c0)))
				return NULL;
			node->u.i = v;
			return node;
		}
		o = (size_t)snprintf(clean, sizeof(clean), "%s%s", *s == '-' ? "-" : "", buf);
		if (dot) {
			const char *fe = exp ? exp : e;

			if (!digits(dot + 1, (size_t)(fe - dot - 1), 10, buf, sizeof(buf)))
				goto bad;
			o += (size_t)snprintf(clean + o, sizeof(clean) - o, ".%s", buf);
		}
		if (exp) {
			const char *es = exp + 1;
			char sign[2] = "";

			if (es < e && (*es == '+' || *es == '-'))
				sign[0] = *es++;
			if (!digits(es, (size_t)(e - es), 10, buf, sizeof(buf)))
				goto bad;
			o += (size_t)snprintf(clean + o, sizeof(clean) - o, "e%s%s", sign, buf);
		}
		if (o >= sizeof(clean))
			goto bad;
		if (!(node = node_new(ps, TOML_FLOAT, line, c0)))
			return NULL;
		node->u.f = strtod(clean, NULL);
		return node;
	}
bad:
	fail_at(ps, line, c0, "%s: \"%.*s\" is not a valid number", ps->key, (int)(n > 40 ? 40 : n), s);
	return NULL;
}

static int insert(struct parser *ps, struct toml_node *table, struct key_path *k,
		  struct toml_node *v, bool in_inline);

static struct toml_node *array(struct parser *ps)
{
	struct toml_node *arr = node_new(ps, TOML_ARRAY, ps->line, col(ps, ps->p));

	if (!arr)
		return NULL;
	ps->p++;
	for (;;) {
		struct toml_node *item;

		if (skip_blank(ps) < 0)
			goto err;
		if (peek(ps, 0) == ']') {
			ps->p++;
			return arr;
		}
		if (!(item = value(ps)))
			goto err;
		if (kid_add(ps, arr, item) < 0) {
			toml_free(item);
			goto err;
		}
		if (skip_blank(ps) < 0)
			goto err;
		if (peek(ps, 0) == ',') {
			ps->p++;
		} else if (peek(ps, 0) != ']') {
			fail(ps, "%s", at_end(ps) ? "unterminated array"
						  : "expected ',' or ']' in an array");
			goto err;
		}
	}
err:
	toml_free(arr);
	return NULL;
}

static struct toml_node *inline_table(struct parser *ps)
{
	struct toml_node *t = node_new(ps, TOML_TABLE, ps->line, col(ps, ps->p));
	struct key_path k;
	const char *outer = ps->key;

	if (!t)
		return NULL;
	t->origin = TOML_DOTTED;
	ps->p++;
	skip_ws(ps);
	if (peek(ps, 0) == '}') {
		ps->p++;
		seal(t);
		return t;
	}
	for (;;) {
		struct toml_node *v;

		skip_ws(ps);
		if (at_newline(ps)) {
			fail(ps, "newline in an inline table (TOML 1.0 keeps { ... } on one line)");
			goto err;
		}
		if (peek(ps, 0) == '}') {
			fail(ps, "trailing comma in an inline table");
			goto err;
		}
		if (key(ps, &k) < 0) {
			path_free(&k);
			goto err;
		}
		skip_ws(ps);
		if (peek(ps, 0) != '=') {
			fail(ps, "expected '=' after key %s", k.text);
			path_free(&k);
			goto err;
		}
		ps->p++;
		skip_ws(ps);
		ps->key = k.text;
		v = value(ps);
		ps->key = outer;
		if (!v || insert(ps, t, &k, v, true) < 0) {
			path_free(&k);
			goto err;
		}
		path_free(&k);
		skip_ws(ps);
		if (peek(ps, 0) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps, 0) == '}') {
			ps->p++;
			seal(t);
			return t;
		}
		fail(ps, "%s", at_end(ps) ? "unterminated inline table"
			 : at_newline(ps) ? "newline in an inline table (TOML 1.0 keeps { ... } on one line)"
			 : "expected ',' or '}' in an inline table");
		goto err;
	}
err:
	toml_free(t);
	return NULL;
}

static struct toml_node *value(struct parser *ps)
{
	int c = peek(ps, 0), line = ps->line, c0 = col(ps, ps->p);
	struct toml_node *n;

	if (ps->depth >= TOML_DEPTH_MAX) {
		fail(ps, "values nested deeper than %d", TOML_DEPTH_MAX);
		return NULL;
	}
	if (c == '"' || c == '\'') {
		char *s;

		if (string(ps, true, &s) < 0)
			return NULL;
		if (!(n = node_new(ps, TOML_STRING, line, c0))) {
			free(s);
			return NULL;
		}
		n->u.str = s;
		return n;
	}
	if (c == '[' || c == '{') {
		ps->depth++;
		n = c == '[' ? array(ps) : inline_table(ps);
		ps->depth--;
		return n;
	}
	if (c == 't' || c == 'f') {
		const char *word = c == 't' ? "true" : "false";
		size_t len = strlen(word);

		if ((size_t)(ps->end - ps->p) >= len && memcmp(ps->p, word, len) == 0 &&
		    value_end(peek(ps, len))) {
			ps->p += len;
			if (!(n = node_new(ps, TOML_BOOLEAN, line, c0)))
				return NULL;
			n->u.b = c == 't';
			return n;
		}
	}
	if (is_digit(c) || c == '+' || c == '-' ||
	    (ps->end - ps->p >= 3 && (memcmp(ps->p, "inf", 3) == 0 || memcmp(ps->p, "nan", 3) == 0)))
		return number(ps);
	if (c == '<') {
		const char *gt = ps->p;

		while (gt < ps->end && *gt != '>' && *gt != '\n')
			gt++;
		if (gt < ps->end && *gt == '>') {
			fail(ps, "%s: \"%.*s\" looks like a placeholder; put the real value here",
			     ps->key, (int)(gt - ps->p + 1), ps->p);
			return NULL;
		}
	}
	if (c < 0 || at_newline(ps) || c == '#') {
		fail(ps, "%s: missing value after '='", ps->key);
		return NULL;
	}
	{
		const char *e = ps->p;

		while (e < ps->end && !value_end((unsigned char)*e) && e - ps->p < 40)
			e++;
		fail(ps, "%s: %.*s is not a TOML value (strings need quotes: \"%.*s\")", ps->key,
		     (int)(e - ps->p), ps->p, (int)(e - ps->p), ps->p);
	}
	return NULL;
}

/* ---- tables and keys --------------------------------------------------------- */

static const char *what(const struct toml_node *n)
{
	if (n->kind == TOML_ARRAY)
		return n->aot ? "an array of tables" : "an array";
	if (n->kind != TOML_TABLE)
		return "a value";
	switch (n->origin) {
	case TOML_INLINE: return "an inline table";
	case TOML_DOTTED: return "a table defined by dotted keys";
	case TOML_HEADER: return "a table";
	case TOML_IMPLICIT: break;
	}
	return "a table";
}

/*
 * Put value v at dotted key k inside `table`: parents are created as dotted
 * tables, and only such tables (or, inside an inline table, its own) may be
 * extended; a table defined by a [header] elsewhere may not (TOML 1.0).
 * Takes ownership of v.
 */
static int insert(struct parser *ps, struct toml_node *table, struct key_path *k,
		  struct toml_node *v, bool in_inline)
{
	struct toml_node *t = table, *c;
	struct key_part *last = &k->part[k->n - 1];

	for (size_t i = 0; i + 1 < k->n; i++) {
		c = child(t, k->part[i].s);
		if (!c) {
			if (!(c = table_add(ps, t, &k->part[i], TOML_DOTTED)))
				goto err;
		} else if (c->kind != TOML_TABLE || c->origin != TOML_DOTTED) {
			fail_at(ps, k->part[i].line, k->part[i].col,
				"%s: cannot add keys to \"%s\", already %s at line %d", k->text,
				k->part[i].s, what(c), c->line);
			goto err;
		}
		t = c;
	}
	(void)in_inline;
	if ((c = child(t, last->s)) != NULL) {
		fail_at(ps, last->line, last->col, "%s: duplicate key (first set at line %d)",
			k->text, c->line);
		goto err;
	}
	v->key = strdup(last->s);
	if (!v->key) {
		fail_at(ps, last->line, last->col, "out of memory");
		goto err;
	}
	v->line = k->part[0].line;
	v->col = k->part[0].col;
	if (kid_add(ps, t, v) < 0)
		goto err;
	return 0;
err:
	toml_free(v);
	return BW_E_CONF_SYNTAX;
}

/* [a.b.c] or [[a.b.c]] */
static int header(struct parser *ps)
{
	bool aot = peek(ps, 1) == '[';
	int line = ps->line, c0 = col(ps, ps->p);
	struct key_path k;
	struct toml_node *t = ps->root, *c;
	int rc = BW_E_CONF_SYNTAX;

	ps->p += aot ? 2 : 1;
	skip_ws(ps);
	if (key(ps, &k) < 0)
		goto out;
	skip_ws(ps);
	if (peek(ps, 0) != ']' || (aot && peek(ps, 1) != ']')) {
		fail(ps, "expected '%s' to close the table header", aot ? "]]" : "]");
		goto out;
	}
	ps->p += aot ? 2 : 1;
	for (size_t i = 0; i + 1 < k.n; i++) {
		c = child(t, k.part[i].s);
		if (!c) {
			if (!(c = table_add(ps, t, &k.part[i], TOML_IMPLICIT)))
				goto out;
		} else if (c->kind == TOML_ARRAY && c->aot) {
			c = c->u.kids.v[c->u.kids.n - 1];
		} else if (c->kind != TOML_TABLE || c->origin == TOML_INLINE) {
			fail_at(ps, line, c0, "[%s]: \"%s\" is already %s at line %d", k.text,
				k.part[i].s, what(c), c->line);
			goto out;
		}
		t = c;
	}
	c = child(t, k.part[k.n - 1].s);
	if (aot) {
		struct toml_node *elem;

		if (!c) {
			if (!(c = node_new(ps, TOML_ARRAY, line, c0)))
				goto out;
			c->aot = true;
			c->key = strdup(k.part[k.n - 1].s);
			if (!c->key || kid_add(ps, t, c) < 0) {
				if (!c->key)
					fail_at(ps, line, c0, "out of memory");
				toml_free(c);
				goto out;
			}
		} else if (c->kind != TOML_ARRAY || !c->aot) {
			fail_at(ps, line, c0, "[[%s]]: already %s at line %d", k.text, what(c),
				c->line);
			goto out;
		}
		if (!(elem = node_new(ps, TOML_TABLE, line, c0)))
			goto out;
		elem->origin = TOML_HEADER;
		if (kid_add(ps, c, elem) < 0) {
			toml_free(elem);
			goto out;
		}
		ps->cur = elem;
	} else if (!c) {
		if (!(c = table_add(ps, t, &k.part[k.n - 1], TOML_HEADER)))
			goto out;
		c->line = line;
		c->col = c0;
		ps->cur = c;
	} else if (c->kind == TOML_TABLE && c->origin == TOML_IMPLICIT) {
		c->origin = TOML_HEADER;
		c->line = line;
		c->col = c0;
		ps->cur = c;
	} else {
		fail_at(ps, line, c0, "[%s]: already %s at line %d%s", k.text, what(c), c->line,
			c->kind == TOML_ARRAY && c->aot ? " (use [[...]] to add one)" : "");
		goto out;
	}
	rc = end_of_line(ps);
out:
	path_free(&k);
	return rc;
}

static int keyval(struct parser *ps)
{
	struct key_path k;
	struct toml_node *v;
	int rc;

	if ((rc = key(ps, &k)) < 0) {
		path_free(&k);
		return rc;
	}
	skip_ws(ps);
	if (peek(ps, 0) != '=') {
		rc = fail(ps, "%s: expected '=' after the key%s", k.text,
			  at_newline(ps) || at_end(ps) ? ", then a value" : "");
		path_free(&k);
		return rc;
	}
	ps->p++;
	skip_ws(ps);
	ps->key = k.text;
	v = value(ps);
	ps->key = "value";
	rc = v ? insert(ps, ps->cur, &k, v, false) : BW_E_CONF_SYNTAX;
	path_free(&k);
	if (rc < 0)
		return rc;
	return end_of_line(ps);
}

/* Reject what is not UTF-8 (overlong forms and surrogates included) and NUL. */
static int check_utf8(struct parser *ps)
{
	const unsigned char *s = (const unsigned char *)ps->p, *e = (const unsigned char *)ps->end;
	const unsigned char *ls = s;
	int line = 1;

	while (s < e) {
		unsigned c = *s;
		size_t n;
		unsigned min, cp;

		if (c == '\n') {
			line++;
			ls = ++s;
			continue;
		}
		if (c == 0)
			return fail_at(ps, line, (int)(s - ls) + 1, "NUL byte in the file");
		if (c < 0x80) {
			s++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1; min = 0x80; cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2; min = 0x800; cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; min = 0x10000; cp = c & 0x07;
		} else {
			goto bad;
		}
		if ((size_t)(e - s) <= n)
			goto bad;
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		s += n + 1;
	}
	return 0;
bad:
	return fail_at(ps, line, (int)(s - ls) + 1, "invalid UTF-8 (TOML files are UTF-8)");
}

int toml_parse(const char *text, size_t len, struct toml_node **root, struct toml_error *err)
{
	struct parser ps = {
		.p = text, .end = text + len, .line_start = text, .line = 1,
		.err = err, .key = "value",
	};
	int rc;

	*root = NULL;
	memset(err, 0, sizeof(*err));
	if ((rc = check_utf8(&ps)) < 0)
		return rc;
	/* A UTF-8 byte order mark is allowed and skipped. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ps.p = ps.line_start = text + 3;
	if (!(ps.root = node_new(&ps, TOML_TABLE, 1, 1)))
		return BW_E_NOMEM;
	ps.root->origin = TOML_HEADER;
	ps.cur = ps.root;
	while (!at_end(&ps)) {
		skip_ws(&ps);
		if (at_end(&ps))
			break;
		if (at_newline(&ps)) {
			newline(&ps);
			continue;
		}
		if (peek(&ps, 0) == '#')
			rc = skip_comment(&ps);
		else if (peek(&ps, 0) == '[')
			rc = header(&ps);
		else if (peek(&ps, 0) == '\r')
			rc = fail(&ps, "carriage return without a line feed");
		else
			rc = keyval(&ps);
		if (rc < 0) {
			toml_free(ps.root);
			return strstr(err->msg, "out of memory") ? BW_E_NOMEM : rc;
		}
	}
	*root = ps.root;
	return 0;
}
