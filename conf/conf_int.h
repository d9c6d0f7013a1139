/*
 * Shared between the files of conf/ only; never included from outside (the
 * module's own tests excepted).
 *
 * The pieces: template.c renders frp's {{ .Envs.NAME }} first; toml.c and
 * toml_lex.c parse TOML into a tree of nodes, ini.c parses frp's legacy INI
 * into sections of raw entries; keys.c holds the one key table (keys.def) and
 * turns a value of either format into a struct field, suggest.c words the
 * warning for an unknown key; load.c walks a document through the table and
 * checks the result; diag.c collects the messages; describe.c prints a config.
 */
#ifndef BW_CONF_INT_H
#define BW_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

/* Bounds on what a file may contain (STYLE.md 9). */
#define TOML_DEPTH_MAX 32        /* nested arrays / inline tables / dotted parts */
#define TOML_STRING_MAX 65536    /* bytes in one string or key */
#define TOML_ARRAY_MAX 4096      /* items in one array, keys in one table */
#define TOML_VALUES_MAX 65536    /* nodes in one document */
#define CONF_PROXIES_MAX 1024    /* proxies + visitors in one client file */
#define CONF_DIAG_MAX 50         /* diagnostics kept per conf_diag */
#define CONF_LINE_MAX 65536      /* bytes in one INI line */

/* ---- TOML tree (toml.c) ------------------------------------------------- */

enum toml_kind { TOML_STRING, TOML_INTEGER, TOML_FLOAT, TOML_BOOLEAN, TOML_ARRAY, TOML_TABLE };

/* How a table came to exist; decides whether it may be reopened. */
enum toml_origin {
	TOML_IMPLICIT,   /* named as a parent in a [a.b] header only */
	TOML_HEADER,     /* defined by its own [header] (or the root) */
	TOML_DOTTED,     /* created by a dotted key a.b = 1 */
	TOML_INLINE,     /* an inline table { ... }: sealed */
};

struct toml_node {
	enum toml_kind kind;
	enum toml_origin origin;  /* tables only */
	bool aot;                 /* array created by [[header]] */
	int line, col;            /* where the key (or the value in an array) is */
	char *key;                /* the key in its parent table; NULL in arrays */
	union {
		char *str;            /* NUL-free UTF-8 */
		int64_t i;
		double f;
		bool b;
		struct {
			struct toml_node **v;
			size_t n, cap;
		} kids;               /* array items, or table entries in file order */
	} u;
};

struct toml_error {
	int line, col;
	char msg[256];
};

/*
 * Parse a whole TOML document (len bytes) into a new root table whose nodes
 * remember their line and column. On failure returns a negative code, fills
 * *err (first error only: TOML syntax has no safe place to resume) and sets
 * *root = NULL.
 */
int toml_parse(const char *text, size_t len, struct toml_node **root, struct toml_error *err);
void toml_free(struct toml_node *n);
const struct toml_node *toml_get(const struct toml_node *table, const char *key);
const char *toml_kind_name(enum toml_kind k);

/* ---- INI document (ini.c) ----------------------------------------------- */

struct ini_entry {
	char *key;
	char *value;      /* NULL for a bare key (go-ini's boolean keys) */
	int line;
};

struct ini_section {
	char *name;       /* "" for entries before the first header */
	int line;
	struct ini_entry *e;
	size_t n, cap;
};

struct ini_doc {
	struct ini_section *s;
	size_t n, cap;
};

struct conf_ctx;

/*
 * Parse frp's INI dialect. Syntax problems are reported through ctx (every
 * bad line, not only the first) and the line is skipped; returns a negative
 * code only when memory runs out.
 */
int ini_parse(struct conf_ctx *ctx, const char *text, size_t len, struct ini_doc *doc);
void ini_free(struct ini_doc *doc);

/* ---- {{ .Envs.NAME }} (template.c) -------------------------------------- */

/*
 * Render frp's environment templates into a new buffer (*out, NUL-terminated,
 * freed by the caller). Values may not contain a newline, so lines keep their
 * numbers. Errors are reported through ctx; returns <0 if any.
 */
int conf_template_render(struct conf_ctx *ctx, const char *text, size_t len,
			 char **out, size_t *out_len);

/* ---- the key table (keys.def, keys.c) ----------------------------------- */

enum conf_scope { SCOPE_SERVER, SCOPE_CLIENT, SCOPE_PROXY, SCOPE_VISITOR, SCOPE_N };

enum conf_status {
	ST_SUP,      /* read into a struct field */
	ST_UNSUP,    /* frp has it, Burrow does not (yet): one warning */
	ST_READER,   /* consumed by the loader itself (name, role, proxies) */
};

enum conf_type {
	T_STR,       /* string; empty means the default */
	T_STR1,      /* string that may not be empty */
	T_INT,       /* int in [min, max] */
	T_PORT,      /* uint16_t in [min, max] */
	T_BOOL,
	T_LIST,      /* char ** + size_t n_ (TOML array, INI comma list) */
	T_PORTS,     /* struct conf_port_range * + n_ (allowPorts) */
	T_MAP,       /* struct conf_kv * + n_ (TOML table, INI prefix_<key>) */
	T_PTYPE,     /* enum conf_proxy_type */
	T_PLUGIN,    /* char *: plugin.type (TOML table) or plugin (INI) */
	T_TABLE,     /* structured value Burrow does not read */
};

/* Proxy types a proxy or visitor key applies to (bit = enum conf_proxy_type). */
#define P_TCP    (1u << CONF_PROXY_TCP)
#define P_UDP    (1u << CONF_PROXY_UDP)
#define P_HTTP   (1u << CONF_PROXY_HTTP)
#define P_HTTPS  (1u << CONF_PROXY_HTTPS)
#define P_STCP   (1u << CONF_PROXY_STCP)
#define P_SUDP   (1u << CONF_PROXY_SUDP)
#define P_XTCP   (1u << CONF_PROXY_XTCP)
#define P_TCPMUX (1u << CONF_PROXY_TCPMUX)
#define P_ALL    0xffu

struct conf_key {
	enum conf_scope scope;
	enum conf_status status;
	const char *toml;         /* dotted TOML name, "" if none */
	const char *ini;          /* INI name ("meta_" for a prefix map), "" if none */
	enum conf_type type;
	long long min, max;
	const char *def;          /* default as text; NULL when there is none */
	size_t off, n_off;        /* field and its count (lists), ST_SUP only */
	unsigned types;           /* P_* mask */
	const char *doc;
};

extern const struct conf_key conf_keys[];
extern const size_t conf_keys_n;

const char *conf_scope_name(enum conf_scope s);
const char *conf_type_name(enum conf_type t);

/* Exact lookups. `sub` receives the map key of an INI prefix name. */
const struct conf_key *conf_key_toml(enum conf_scope s, const char *name);
const struct conf_key *conf_key_ini(enum conf_scope s, const char *name, const char **sub);
/* True if some TOML name of the scope starts with "prefix." */
bool conf_key_toml_prefix(enum conf_scope s, const char *prefix);

/*
 * The warning text for a key no entry matches, without the "label:line: key: "
 * head: "unknown key; did you mean "serverPort"?" or "burrowd (server) key;
 * ignored by burrow". Writes into buf.
 */
void conf_key_unknown_why(enum conf_scope s, bool toml, const char *name, char *buf, size_t len);

/* Apply every default of the scope to the struct at `base`. */
int conf_keys_defaults(enum conf_scope s, void *base);
/* Free every table-owned field of the struct at `base`. */
void conf_keys_free(enum conf_scope s, void *base);

/* Set a field from INI text / from a TOML node. Report through ctx. */
int conf_key_set_text(struct conf_ctx *ctx, const struct conf_key *k, void *base,
		      const char *name, const char *sub, const char *text, int line);
int conf_key_set_node(struct conf_ctx *ctx, const struct conf_key *k, void *base,
		      const char *name, const struct toml_node *n);

/* A known-but-unsupported key: warn unless its value is frp's default. */
void conf_key_unsupported(struct conf_ctx *ctx, const struct conf_key *k, const char *name,
			  const char *text, const struct toml_node *n, int line);

bool conf_proxy_type_parse(const char *s, enum conf_proxy_type *t);

/* Parse "2000-3000,3001" into a new array (*v, freed by the caller, even on error). */
int conf_ports_parse(struct conf_ctx *ctx, const char *name, const char *text, int line,
		     struct conf_port_range **v, size_t *n);

/* ---- diagnostics (diag.c) ----------------------------------------------- */

struct conf_ctx {
	const char *label;        /* file name used in messages */
	struct conf_diag *diag;
	size_t first;             /* diag entries before this load */
	int rc;                   /* first error's code, 0 if none */
	bool oom;
	enum conf_scope scope;    /* SERVER or CLIENT: who is loading */
	bool toml;                /* the format being read */
	unsigned warned;          /* once-per-file warnings already given */
};

/* "label:line: text" (line 0: "label: text"). Errors set ctx->rc to `code`. */
void conf_err(struct conf_ctx *ctx, int code, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same with a column: "label:line:col: text" (syntax errors). */
void conf_err_at(struct conf_ctx *ctx, int code, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
void conf_warn(struct conf_ctx *ctx, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sort this load's entries by line, stably, so they read in file order. */
void conf_diag_sort(struct conf_ctx *ctx);

/* "<port>" or "<设置你的token>": a whole value in angle brackets. */
bool conf_is_placeholder(const char *s);

/* Small growable string for describe() and messages. */
struct conf_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void conf_buf_printf(struct conf_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
