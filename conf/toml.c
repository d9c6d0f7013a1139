/*
 * A small strict TOML 1.0 reader for the files frp users write.
 *
 * Why our own: Debian 12 packages no C TOML library (only C++ ones and other
 * languages'), and frp's files need only the core of TOML. Everything TOML
 * 1.0 defines is accepted except dates and times, which are refused with a
 * clear message because no frp key takes one. Every node remembers its line
 * and column so the loader can point at the exact place of a problem.
 *
 * This file builds the tree (keys, tables, arrays, the rules on redefining
 * tables); toml_lex.c reads strings, numbers and comments.
 *
 * Bounded (STYLE.md 9): the caller limits the file size; here the nesting
 * depth, string length, array and table size and the total number of nodes
 * are capped (conf_int.h). Any violation is an error, never a truncation.
 */
#include "conf/toml_int.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A dotted key as read: each part with where it starts. */
struct key_part {
	char *s;
	int line, col;
};

struct key_path {
	struct key_part part[TOML_DEPTH_MAX];
	size_t n;
	char text[256];            /* as written, for messages */
};

const char *toml_kind_name(enum toml_kind k)
{
	static const char *const names[] = { "string", "integer", "float", "boolean",
					      "array", "table" };

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

/* ---- nodes ---------------------------------------------------------------- */

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
		return toml_fail_at(ps, kid->line, kid->col, "more than %d %s", TOML_ARRAY_MAX,
			       parent->kind == TOML_ARRAY ? "items in one array"
							  : "keys in one table");
	if (parent->u.kids.n == parent->u.kids.cap) {
		size_t cap = parent->u.kids.cap ? parent->u.kids.cap * 2 : 8;

		grown = realloc(parent->u.kids.v, cap * sizeof(*grown));
		if (!grown)
			return toml_fail_at(ps, kid->line, kid->col, "out of memory");
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
	struct toml_node *t = toml_node_new(ps, TOML_TABLE, part->line, part->col);

	if (!t)
		return NULL;
	t->origin = origin;
	t->key = strdup(part->s);
	if (!t->key) {
		toml_fail_at(ps, part->line, part->col, "out of memory");
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
		int c = toml_peek(ps, 0);

		if (k->n == TOML_DEPTH_MAX)
			return toml_fail(ps, "key has more than %d parts", TOML_DEPTH_MAX);
		part = &k->part[k->n];
		part->line = ps->line;
		part->col = toml_col(ps, ps->p);
		if (c == '"' || c == '\'') {
			if ((rc = toml_string(ps, false, &part->s)) < 0)
				return rc;
		} else if (bare_char(c)) {
			const char *s = ps->p;

			while (bare_char(toml_peek(ps, 0)))
				ps->p++;
			part->s = strndup(s, (size_t)(ps->p - s));
			if (!part->s)
				return toml_fail(ps, "out of memory");
		} else if (c == '=' || c == ']' || c < 0 || toml_at_newline(ps)) {
			return toml_fail(ps, "expected a key");
		} else {
			return toml_fail(ps, "'%c' cannot start a key (quote keys with other characters)", c);
		}
		k->n++;
		toml_skip_ws(ps);
		if (toml_peek(ps, 0) != '.')
			break;
		ps->p++;
		toml_skip_ws(ps);
	}
	snprintf(k->text, sizeof(k->text), "%.*s", (int)(ps->p - start), start);
	for (size_t n = strlen(k->text); n && (k->text[n - 1] == ' ' || k->text[n - 1] == '\t'); n--)
		k->text[n - 1] = '\0';
	return 0;
}

/* ---- values ---------------------------------------------------------------- */

static struct toml_node *value(struct parser *ps);
static int insert(struct parser *ps, struct toml_node *table, struct key_path *k,
		  struct toml_node *v);

static struct toml_node *array(struct parser *ps)
{
	struct toml_node *arr = toml_node_new(ps, TOML_ARRAY, ps->line, toml_col(ps, ps->p));

	if (!arr)
		return NULL;
	ps->p++;
	for (;;) {
		struct toml_node *item;

		if (toml_skip_blank(ps) < 0)
			goto err;
		if (toml_peek(ps, 0) == ']') {
			ps->p++;
			return arr;
		}
		if (!(item = value(ps)))
			goto err;
		if (kid_add(ps, arr, item) < 0) {
			toml_free(item);
			goto err;
		}
		if (toml_skip_blank(ps) < 0)
			goto err;
		if (toml_peek(ps, 0) == ',') {
			ps->p++;
		} else if (toml_peek(ps, 0) != ']') {
			toml_fail(ps, "%s", toml_at_end(ps) ? "unterminated array"
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
	struct toml_node *t = toml_node_new(ps, TOML_TABLE, ps->line, toml_col(ps, ps->p));
	struct key_path k;
	const char *outer = ps->key;

	if (!t)
		return NULL;
	t->origin = TOML_DOTTED;
	ps->p++;
	toml_skip_ws(ps);
	if (toml_peek(ps, 0) == '}') {
		ps->p++;
		seal(t);
		return t;
	}
	for (;;) {
		struct toml_node *v;

		toml_skip_ws(ps);
		if (toml_at_newline(ps)) {
			toml_fail(ps, "newline in an inline table (TOML 1.0 keeps { ... } on one line)");
			goto err;
		}
		if (toml_peek(ps, 0) == '}') {
			toml_fail(ps, "trailing comma in an inline table");
			goto err;
		}
		if (key(ps, &k) < 0) {
			path_free(&k);
			goto err;
		}
		toml_skip_ws(ps);
		if (toml_peek(ps, 0) != '=') {
			toml_fail(ps, "expected '=' after key %s", k.text);
			path_free(&k);
			goto err;
		}
		ps->p++;
		toml_skip_ws(ps);
		ps->key = k.text;
		v = value(ps);
		ps->key = outer;
		if (!v || insert(ps, t, &k, v) < 0) {
			path_free(&k);
			goto err;
		}
		path_free(&k);
		toml_skip_ws(ps);
		if (toml_peek(ps, 0) == ',') {
			ps->p++;
			continue;
		}
		if (toml_peek(ps, 0) == '}') {
			ps->p++;
			seal(t);
			return t;
		}
		toml_fail(ps, "%s", toml_at_end(ps) ? "unterminated inline table"
			 : toml_at_newline(ps) ? "newline in an inline table (TOML 1.0 keeps { ... } on one line)"
			 : "expected ',' or '}' in an inline table");
		goto err;
	}
err:
	toml_free(t);
	return NULL;
}

static struct toml_node *value(struct parser *ps)
{
	int c = toml_peek(ps, 0), line = ps->line, c0 = toml_col(ps, ps->p);
	struct toml_node *n;

	if (ps->depth >= TOML_DEPTH_MAX) {
		toml_fail(ps, "values nested deeper than %d", TOML_DEPTH_MAX);
		return NULL;
	}
	if (c == '"' || c == '\'') {
		char *s;

		if (toml_string(ps, true, &s) < 0)
			return NULL;
		if (!(n = toml_node_new(ps, TOML_STRING, line, c0))) {
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
		    toml_value_end(toml_peek(ps, len))) {
			ps->p += len;
			if (!(n = toml_node_new(ps, TOML_BOOLEAN, line, c0)))
				return NULL;
			n->u.b = c == 't';
			return n;
		}
	}
	if (toml_is_digit(c) || c == '+' || c == '-' ||
	    (ps->end - ps->p >= 3 && (memcmp(ps->p, "inf", 3) == 0 || memcmp(ps->p, "nan", 3) == 0)))
		return toml_number(ps);
	if (c == '<') {
		const char *gt = ps->p;

		while (gt < ps->end && *gt != '>' && *gt != '\n')
			gt++;
		if (gt < ps->end && *gt == '>') {
			toml_fail(ps, "%s: \"%.*s\" looks like a placeholder; put the real value here",
			     ps->key, (int)(gt - ps->p + 1), ps->p);
			return NULL;
		}
	}
	if (c < 0 || toml_at_newline(ps) || c == '#') {
		toml_fail(ps, "%s: missing value after '='", ps->key);
		return NULL;
	}
	{
		const char *e = ps->p;

		while (e < ps->end && !toml_value_end((unsigned char)*e) && e - ps->p < 40)
			e++;
		toml_fail(ps, "%s: %.*s is not a TOML value (strings need quotes: \"%.*s\")", ps->key,
		     (int)(e - ps->p), ps->p, (int)(e - ps->p), ps->p);
	}
	return NULL;
}

/* ---- tables ----------------------------------------------------------------- */

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
		  struct toml_node *v)
{
	struct toml_node *t = table, *c;
	struct key_part *last = &k->part[k->n - 1];

	for (size_t i = 0; i + 1 < k->n; i++) {
		c = child(t, k->part[i].s);
		if (!c) {
			if (!(c = table_add(ps, t, &k->part[i], TOML_DOTTED)))
				goto err;
		} else if (c->kind != TOML_TABLE || c->origin != TOML_DOTTED) {
			toml_fail_at(ps, k->part[i].line, k->part[i].col,
				"%s: cannot add keys to \"%s\", already %s at line %d", k->text,
				k->part[i].s, what(c), c->line);
			goto err;
		}
		t = c;
	}
	if ((c = child(t, last->s)) != NULL) {
		toml_fail_at(ps, last->line, last->col, "%s: duplicate key (first set at line %d)",
			k->text, c->line);
		goto err;
	}
	v->key = strdup(last->s);
	if (!v->key) {
		toml_fail_at(ps, last->line, last->col, "out of memory");
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
	bool aot = toml_peek(ps, 1) == '[';
	int line = ps->line, c0 = toml_col(ps, ps->p);
	struct key_path k;
	struct toml_node *t = ps->root, *c;
	int rc = BW_E_CONF_SYNTAX;

	ps->p += aot ? 2 : 1;
	toml_skip_ws(ps);
	if (key(ps, &k) < 0)
		goto out;
	toml_skip_ws(ps);
	if (toml_peek(ps, 0) != ']' || (aot && toml_peek(ps, 1) != ']')) {
		toml_fail(ps, "expected '%s' to close the table header", aot ? "]]" : "]");
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
			toml_fail_at(ps, line, c0, "[%s]: \"%s\" is already %s at line %d", k.text,
				k.part[i].s, what(c), c->line);
			goto out;
		}
		t = c;
	}
	c = child(t, k.part[k.n - 1].s);
	if (aot) {
		struct toml_node *elem;

		if (!c) {
			if (!(c = toml_node_new(ps, TOML_ARRAY, line, c0)))
				goto out;
			c->aot = true;
			c->key = strdup(k.part[k.n - 1].s);
			if (!c->key || kid_add(ps, t, c) < 0) {
				if (!c->key)
					toml_fail_at(ps, line, c0, "out of memory");
				toml_free(c);
				goto out;
			}
		} else if (c->kind != TOML_ARRAY || !c->aot) {
			toml_fail_at(ps, line, c0, "[[%s]]: already %s at line %d", k.text, what(c),
				c->line);
			goto out;
		}
		if (!(elem = toml_node_new(ps, TOML_TABLE, line, c0)))
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
		toml_fail_at(ps, line, c0, "[%s]: already %s at line %d%s", k.text, what(c), c->line,
			c->kind == TOML_ARRAY && c->aot ? " (use [[...]] to add one)" : "");
		goto out;
	}
	rc = toml_end_of_line(ps);
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
	toml_skip_ws(ps);
	if (toml_peek(ps, 0) != '=') {
		rc = toml_fail(ps, "%s: expected '=' after the key%s", k.text,
			  toml_at_newline(ps) || toml_at_end(ps) ? ", then a value" : "");
		path_free(&k);
		return rc;
	}
	ps->p++;
	toml_skip_ws(ps);
	ps->key = k.text;
	v = value(ps);
	ps->key = "value";
	rc = v ? insert(ps, ps->cur, &k, v) : BW_E_CONF_SYNTAX;
	path_free(&k);
	if (rc < 0)
		return rc;
	return toml_end_of_line(ps);
}

/* Reject what is not UTF-8 (overlong forms and surrogates included) and NUL. */
int toml_parse(const char *text, size_t len, struct toml_node **root, struct toml_error *err)
{
	struct parser ps = {
		.p = text, .end = text + len, .line_start = text, .line = 1,
		.err = err, .key = "value",
	};
	int rc;

	*root = NULL;
	memset(err, 0, sizeof(*err));
	if ((rc = toml_check_utf8(&ps)) < 0)
		return rc;
	/* A UTF-8 byte order mark is allowed and skipped. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ps.p = ps.line_start = text + 3;
	if (!(ps.root = toml_node_new(&ps, TOML_TABLE, 1, 1)))
		return BW_E_NOMEM;
	ps.root->origin = TOML_HEADER;
	ps.cur = ps.root;
	while (!toml_at_end(&ps)) {
		toml_skip_ws(&ps);
		if (toml_at_end(&ps))
			break;
		if (toml_at_newline(&ps)) {
			toml_newline(&ps);
			continue;
		}
		if (toml_peek(&ps, 0) == '#')
			rc = toml_skip_comment(&ps);
		else if (toml_peek(&ps, 0) == '[')
			rc = header(&ps);
		else if (toml_peek(&ps, 0) == '\r')
			rc = toml_fail(&ps, "carriage return without a line feed");
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
