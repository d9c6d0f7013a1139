/*
 * The lexical half of the TOML reader (toml.c has the structure): comments
 * and line ends, the four kinds of strings with their escapes, numbers, and
 * the UTF-8 check of the whole file. Each function reads at ps->p, moves past
 * what it read, and reports the first problem through toml_fail_at().
 */
#include "conf/toml_int.h"
#include "common/err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int toml_fail_at(struct parser *ps, int line, int c, const char *fmt, ...)
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


struct toml_node *toml_node_new(struct parser *ps, enum toml_kind kind, int line, int c)
{
	struct toml_node *n;

	if (++ps->nodes > TOML_VALUES_MAX) {
		toml_fail_at(ps, line, c, "more than %d values in one file", TOML_VALUES_MAX);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		toml_fail_at(ps, line, c, "out of memory");
		return NULL;
	}
	n->kind = kind;
	n->line = line;
	n->col = c;
	return n;
}

/* ---- comments and line ends ------------------------------------------------- */

/* A comment runs to the end of the line; control characters are not allowed. */
int toml_skip_comment(struct parser *ps)
{
	if (toml_peek(ps, 0) != '#')
		return 0;
	for (ps->p++; !toml_at_end(ps) && !toml_at_newline(ps); ps->p++) {
		unsigned char c = (unsigned char)*ps->p;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return toml_fail(ps, "control character 0x%02x in a comment", c);
	}
	return 0;
}

/* Whitespace, newlines and comments, as allowed inside arrays. */
int toml_skip_blank(struct parser *ps)
{
	for (;;) {
		toml_skip_ws(ps);
		if (toml_peek(ps, 0) == '#') {
			if (toml_skip_comment(ps) < 0)
				return BW_E_CONF_SYNTAX;
		} else if (toml_at_newline(ps)) {
			toml_newline(ps);
		} else if (toml_peek(ps, 0) == '\r') {
			return toml_fail(ps, "carriage return without a line feed");
		} else {
			return 0;
		}
	}
}

/* After a key/value pair or a header: optional comment, then end of line. */
int toml_end_of_line(struct parser *ps)
{
	toml_skip_ws(ps);
	if (toml_skip_comment(ps) < 0)
		return BW_E_CONF_SYNTAX;
	if (toml_at_end(ps))
		return 0;
	if (toml_at_newline(ps)) {
		toml_newline(ps);
		return 0;
	}
	if (*ps->p == '\r')
		return toml_fail(ps, "carriage return without a line feed");
	return toml_fail(ps, "unexpected '%c' after the value; one key = value per line", *ps->p);
}

/* ---- strings --------------------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_put(struct parser *ps, struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n > TOML_STRING_MAX)
		return toml_fail(ps, "string longer than %d bytes", TOML_STRING_MAX);
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 32;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->p, cap);
		if (!grown)
			return toml_fail(ps, "out of memory");
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
		int c = toml_peek(ps, 0);

		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned long)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = v * 16 + (unsigned long)((c | 0x20) - 'a' + 10);
		else
			return toml_fail(ps, "\\%c escape needs %d hex digits", digits == 4 ? 'u' : 'U',
				    digits);
		ps->p++;
	}
	if (v == 0)
		return toml_fail(ps, "\\u0000 (NUL) is not allowed in a string");
	if ((v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return toml_fail(ps, "escape U+%04lX is not a Unicode scalar value", v);
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
	int c = toml_peek(ps, 0);
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
		return toml_fail(ps, "invalid escape sequence");
	return toml_fail(ps, "invalid escape sequence \\%c", c);
}

/*
 * A string of any of the four kinds; ps->p is at the opening quote. Multi-line
 * strings drop a newline right after the opening delimiter, and in basic ones
 * a backslash at the end of a line swallows the newline and the indentation.
 */
int toml_string(struct parser *ps, bool multi_ok, char **out)
{
	char q = *ps->p;
	bool multi = multi_ok && toml_peek(ps, 1) == q && toml_peek(ps, 2) == q;
	int line = ps->line, c0 = toml_col(ps, ps->p);
	struct sbuf b = { NULL, 0, 0 };
	int rc = 0;

	ps->p += multi ? 3 : 1;
	if (multi && toml_at_newline(ps))
		toml_newline(ps);
	for (;;) {
		int c = toml_peek(ps, 0);

		if (c < 0) {
			rc = toml_fail_at(ps, line, c0, "unterminated string");
			break;
		}
		if (c == q) {
			size_t run = 1;

			if (!multi) {
				ps->p++;
				break;
			}
			while (toml_peek(ps, run) == q)
				run++;
			if (run >= 3) {
				if (run > 5) {
					rc = toml_fail(ps, "too many quotes closing a string");
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
		if (toml_at_newline(ps)) {
			if (!multi) {
				rc = toml_fail(ps, "newline in a string (use \"\"\" for multi-line strings)");
				break;
			}
			toml_newline(ps);
			if ((rc = sb_put(ps, &b, "\n", 1)) < 0)
				break;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			rc = toml_fail(ps, "control character 0x%02x in a string", c);
			break;
		}
		if (c == '\\' && q == '"') {
			const char *save = ps->p++;

			if (multi) {
				/* Line-ending backslash: only whitespace may follow it. */
				toml_skip_ws(ps);
				if (toml_at_newline(ps)) {
					while (!toml_at_end(ps) && (toml_at_newline(ps) || *ps->p == ' ' ||
							       *ps->p == '\t')) {
						if (toml_at_newline(ps))
							toml_newline(ps);
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
		return toml_fail(ps, "out of memory");
	*out = b.p;
	return 0;
}

/* ---- numbers ---------------------------------------------------------------- */

bool toml_value_end(int c)
{
	return c < 0 || c == ' ' || c == '\t' || c == ',' || c == ']' || c == '}' || c == '#' ||
	       c == '\n' || c == '\r';
}

bool toml_is_digit(int c)
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
		if (toml_is_digit(c))
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

struct toml_node *toml_number(struct parser *ps)
{
	const char *s = ps->p, *t;
	int line = ps->line, c0 = toml_col(ps, s);
	char buf[128];
	size_t n;
	struct toml_node *node;

	while (!toml_value_end(toml_peek(ps, 0)))
		ps->p++;
	n = (size_t)(ps->p - s);
	/* 1979-05-27, 07:32:00: TOML dates and times. */
	if ((n >= 5 && toml_is_digit(s[0]) && toml_is_digit(s[1]) && toml_is_digit(s[2]) && toml_is_digit(s[3]) &&
	     s[4] == '-') || (n >= 3 && toml_is_digit(s[0]) && toml_is_digit(s[1]) && s[2] == ':')) {
		toml_fail_at(ps, line, c0, "%s: dates and times are not supported (no frp key takes one)",
			ps->key);
		return NULL;
	}
	t = s;
	if (*t == '+' || *t == '-')
		t++;
	if (s + n == t + 3 && (memcmp(t, "inf", 3) == 0 || memcmp(t, "nan", 3) == 0)) {
		if (!(node = toml_node_new(ps, TOML_FLOAT, line, c0)))
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
			toml_fail_at(ps, line, c0, "%s: integer %.*s is out of range", ps->key, (int)n, s);
			return NULL;
		}
		if (!(node = toml_node_new(ps, TOML_INTEGER, line, c0)))
			return NULL;
		node->u.i = (int64_t)v;
		return node;
	}
	/* Decimal: split into integer part, fraction and exponent. */
	{
		const char *ip = t, *dot = NULL, *exp = NULL, *e = s + n;
		char clean[sizeof(buf) + 1]; /* sign + digits */
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
			toml_fail_at(ps, line, c0, "%s: leading zeros are not allowed in %.*s", ps->key,
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
				toml_fail_at(ps, line, c0, "%s: integer %.*s is out of range", ps->key,
					(int)n, s);
				return NULL;
			}
			if (!(node = toml_node_new(ps, TOML_INTEGER, line, c0)))
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
		if (!(node = toml_node_new(ps, TOML_FLOAT, line, c0)))
			return NULL;
		node->u.f = strtod(clean, NULL);
		return node;
	}
bad:
	toml_fail_at(ps, line, c0, "%s: \"%.*s\" is not a valid number", ps->key, (int)(n > 40 ? 40 : n), s);
	return NULL;
}

int toml_check_utf8(struct parser *ps)
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
			return toml_fail_at(ps, line, (int)(s - ls) + 1, "NUL byte in the file");
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
	return toml_fail_at(ps, line, (int)(s - ls) + 1, "invalid UTF-8 (TOML files are UTF-8)");
}
