/*
 * Shared by toml.c (document structure) and toml_lex.c (strings, numbers,
 * comments) only.
 */
#ifndef BW_CONF_TOML_INT_H
#define BW_CONF_TOML_INT_H

#include "conf/conf_int.h"

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

static inline int toml_col(const struct parser *ps, const char *at)
{
	return (int)(at - ps->line_start) + 1;
}

static inline bool toml_at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

/* The byte `ahead` bytes on, or -1 past the end. */
static inline int toml_peek(const struct parser *ps, size_t ahead)
{
	return ps->p + ahead < ps->end ? (unsigned char)ps->p[ahead] : -1;
}

static inline void toml_skip_ws(struct parser *ps)
{
	while (!toml_at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* LF or CRLF; a lone CR is not a newline in TOML. */
static inline bool toml_at_newline(const struct parser *ps)
{
	return toml_peek(ps, 0) == '\n' || (toml_peek(ps, 0) == '\r' && toml_peek(ps, 1) == '\n');
}

static inline void toml_newline(struct parser *ps)
{
	ps->p += *ps->p == '\r' ? 2 : 1;
	ps->line++;
	ps->line_start = ps->p;
}

/* Record the first error (later ones are dropped); returns BW_E_CONF_SYNTAX. */
int toml_fail_at(struct parser *ps, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define toml_fail(ps, ...) toml_fail_at(ps, (ps)->line, toml_col(ps, (ps)->p), __VA_ARGS__)

/* A new node, counted against TOML_VALUES_MAX; NULL (and an error) if not. */
struct toml_node *toml_node_new(struct parser *ps, enum toml_kind kind, int line, int col);

int toml_skip_comment(struct parser *ps);
int toml_skip_blank(struct parser *ps);     /* blanks, newlines, comments */
int toml_end_of_line(struct parser *ps);    /* optional comment, then EOL */
bool toml_value_end(int c);
bool toml_is_digit(int c);

/* A string of any kind at ps->p (multi-line ones only if multi_ok). */
int toml_string(struct parser *ps, bool multi_ok, char **out);
/* An integer or float (or a refused date) at ps->p. */
struct toml_node *toml_number(struct parser *ps);
/* The whole input is UTF-8 without NUL. */
int toml_check_utf8(struct parser *ps);

#endif
