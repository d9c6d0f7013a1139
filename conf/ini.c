/*
 * frp's legacy INI dialect (what go-ini accepts with frp's options), read by a
 * strict line reader of our own: GLib's GKeyFile rejects frp files (keys
 * before the first group, `:` separators, duplicate keys) and its errors carry
 * no key name.
 *
 * The rules, line by line:
 *   - `[name]` starts a section; text after `]` may only be a comment.
 *   - `#` or `;` as the first non-blank character: a comment line.
 *   - `key = value` or `key: value` (go-ini accepts both separators; the first
 *     of `=` or `:` splits). A bare `key` is go-ini's boolean key (true).
 *   - Inline comments: a `#` or `;` preceded by a space or tab ends the value,
 *     as go-ini does with SpaceBeforeInlineComment. A `#` inside a value, as in
 *     a token `ab#cd`, stays. frp itself loads with IgnoreInlineComment, so
 *     with frp `bind_port = 7000  # port` silently keeps the default port;
 *     Burrow reads 7000, which is what the file's author meant.
 *   - A value wholly in "double", 'single' or `back` quotes loses the quotes
 *     (a comment may follow the closing quote): the way to keep " #" in a value.
 *   - A key twice in one section: the later wins (as go-ini), with a warning.
 *     A section twice is an error (go-ini would silently merge two proxies).
 *
 * Every bad line is reported and skipped, so one run shows every problem.
 */
#include "conf/conf_int.h"
#include "common/err.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
	while (*n && (blank(**s) || **s == '\r')) {
		(*s)++;
		(*n)--;
	}
	while (*n && (blank((*s)[*n - 1]) || (*s)[*n - 1] == '\r'))
		(*n)--;
}

static int section_add(struct conf_ctx *ctx, struct ini_doc *doc, const char *name, size_t n,
		       int line)
{
	struct ini_section *grown, *s;

	if (doc->n >= CONF_PROXIES_MAX + 2) {
		conf_err(ctx, BW_E_TOO_BIG, line, "more than %d sections", CONF_PROXIES_MAX);
		return BW_E_TOO_BIG;
	}
	if (doc->n == doc->cap) {
		size_t cap = doc->cap ? doc->cap * 2 : 8;

		grown = realloc(doc->s, cap * sizeof(*grown));
		if (!grown)
			goto oom;
		doc->s = grown;
		doc->cap = cap;
	}
	s = &doc->s[doc->n];
	memset(s, 0, sizeof(*s));
	s->name = bw_strndup(name, n);
	if (!s->name)
		goto oom;
	s->line = line;
	doc->n++;
	return 0;
oom:
	conf_err(ctx, BW_E_NOMEM, line, "out of memory");
	return BW_E_NOMEM;
}

static int entry_add(struct conf_ctx *ctx, struct ini_section *s, const char *key, size_t kn,
		     const char *val, size_t vn, bool has_value, int line)
{
	struct ini_entry *grown;
	char *k, *v = NULL;

	for (size_t i = 0; i < s->n; i++) {
		if (strlen(s->e[i].key) == kn && memcmp(s->e[i].key, key, kn) == 0) {
			if (has_value && !(v = bw_strndup(val, vn)))
				goto oom;
			conf_warn(ctx, line, "%.*s: set again in [%s]; replaces the value from line %d",
				  (int)kn, key, s->name, s->e[i].line);
			free(s->e[i].value);
			s->e[i].value = v;
			s->e[i].line = line;
			return 0;
		}
	}
	if (s->n >= TOML_ARRAY_MAX) {
		conf_err(ctx, BW_E_TOO_BIG, line, "more than %d keys in [%s]", TOML_ARRAY_MAX,
			 s->name);
		return BW_E_TOO_BIG;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;

		grown = realloc(s->e, cap * sizeof(*grown));
		if (!grown)
			goto oom;
		s->e = grown;
		s->cap = cap;
	}
	k = bw_strndup(key, kn);
	if (!k || (has_value && !(v = bw_strndup(val, vn)))) {
		free(k);
		goto oom;
	}
	s->e[s->n].key = k;
	s->e[s->n].value = v;
	s->e[s->n].line = line;
	s->n++;
	return 0;
oom:
	conf_err(ctx, BW_E_NOMEM, line, "out of memory");
	return BW_E_NOMEM;
}

/* Where an inline comment starts in s[0..n): a # or ; after a blank. */
static size_t comment_start(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if ((s[i] == '#' || s[i] == ';') && blank(s[i - 1]))
			return i;
	return n;
}

/*
 * The value part of a line, starting right after the separator (so that a #
 * right after `=` with no blank is part of the value).
 */
static void value_of(const char *raw, size_t n, const char **v, size_t *vn)
{
	const char *s = raw;
	size_t len = n;

	trim(&s, &len);
	if (len >= 2 && (s[0] == '"' || s[0] == '\'' || s[0] == '`')) {
		const char *close = memchr(s + 1, s[0], len - 1);

		if (close) {
			const char *rest = close + 1;
			size_t rn = len - (size_t)(rest - s);

			trim(&rest, &rn);
			if (rn == 0 || ((rest[0] == '#' || rest[0] == ';') && blank(close[1]))) {
				*v = s + 1;
				*vn = (size_t)(close - s - 1);
				return;
			}
		}
	}
	len = comment_start(raw, n);
	s = raw;
	trim(&s, &len);
	*v = s;
	*vn = len;
}

int ini_parse(struct conf_ctx *ctx, const char *text, size_t len, struct ini_doc *doc)
{
	const char *p = text, *end = text + len;
	int line = 0, rc;

	memset(doc, 0, sizeof(*doc));
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	/* Section 0 holds keys before the first header (frp ignores them). */
	if ((rc = section_add(ctx, doc, "", 0, 1)) < 0)
		return rc;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *sep = NULL, *key, *val;
		size_t n = (nl ? (size_t)(nl - p) : (size_t)(end - p)), kn, vn;

		p = nl ? nl + 1 : end;
		line++;
		if (n > CONF_LINE_MAX) {
			conf_err(ctx, BW_E_TOO_BIG, line, "line longer than %d bytes", CONF_LINE_MAX);
			continue;
		}
		if (memchr(s, '\0', n)) {
			conf_err(ctx, BW_E_CONF_SYNTAX, line, "NUL byte in the line");
			continue;
		}
		trim(&s, &n);
		if (n == 0 || s[0] == '#' || s[0] == ';')
			continue;
		if (s[0] == '[') {
			const char *close = memchr(s, ']', n);
			const char *name = s + 1, *rest;
			size_t nn, rn;

			if (!close) {
				conf_err(ctx, BW_E_CONF_SYNTAX, line, "missing ']' after [%.*s",
					 (int)(n > 40 ? 40 : n - 1), s + 1);
				continue;
			}
			nn = (size_t)(close - name);
			trim(&name, &nn);
			rest = close + 1;
			rn = n - (size_t)(rest - s);
			trim(&rest, &rn);
			if (rn && rest[0] != '#' && rest[0] != ';') {
				conf_err(ctx, BW_E_CONF_SYNTAX, line,
					 "unexpected text after [%.*s]", (int)nn, name);
				continue;
			}
			if (nn == 0) {
				conf_err(ctx, BW_E_CONF_SYNTAX, line, "empty section name []");
				continue;
			}
			for (size_t i = 1; i < doc->n; i++) {
				if (strlen(doc->s[i].name) == nn &&
				    memcmp(doc->s[i].name, name, nn) == 0) {
					conf_err(ctx, BW_E_CONF_DUPLICATE, line,
						 "[%.*s]: section appears twice (first at line %d)",
						 (int)nn, name, doc->s[i].line);
					goto next;
				}
			}
			if ((rc = section_add(ctx, doc, name, nn, line)) < 0)
				return rc == BW_E_NOMEM ? rc : 0;
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '=' || s[i] == ':') {
				sep = s + i;
				break;
			}
		}
		key = s;
		kn = sep ? (size_t)(sep - s) : n;
		trim(&key, &kn);
		if (kn == 0) {
			conf_err(ctx, BW_E_CONF_SYNTAX, line, "missing key before '%c'", *sep);
			continue;
		}
		for (size_t i = 0; i < kn; i++) {
			if (blank(key[i])) {
				conf_err(ctx, BW_E_CONF_SYNTAX, line,
					 "\"%.*s\": expected key = value", (int)(kn > 40 ? 40 : kn), key);
				goto next;
			}
		}
		val = NULL;
		vn = 0;
		if (sep)
			value_of(sep + 1, n - (size_t)(sep + 1 - s), &val, &vn);
		rc = entry_add(ctx, &doc->s[doc->n - 1], key, kn, val, vn, sep != NULL, line);
		if (rc == BW_E_NOMEM)
			return rc;
next:;
	}
	return 0;
}

void ini_free(struct ini_doc *doc)
{
	for (size_t i = 0; i < doc->n; i++) {
		for (size_t j = 0; j < doc->s[i].n; j++) {
			free(doc->s[i].e[j].key);
			free(doc->s[i].e[j].value);
		}
		free(doc->s[i].e);
		free(doc->s[i].name);
	}
	free(doc->s);
	memset(doc, 0, sizeof(*doc));
}
