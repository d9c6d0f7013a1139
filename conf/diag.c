/*
 * Diagnostics: every error and warning of a load, as "label:line: key: why".
 * Collected rather than printed, so the caller decides where they go and
 * whether to stop (STYLE.md 4).
 */
#include "conf/conf_int.h"
#include "common/err.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entry that says the list was cut sorts after everything else. */
#define LINE_LAST INT_MAX

static void add(struct conf_ctx *ctx, enum conf_severity sev, int line, int col,
		const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static void add(struct conf_ctx *ctx, enum conf_severity sev, int line, int col,
		const char *fmt, va_list ap)
{
	struct conf_diag *d = ctx->diag;
	struct conf_diag_entry *grown;
	char text[1024];
	int head;

	if (sev == CONF_ERROR)
		d->n_errors++;
	if (d->n > CONF_DIAG_MAX)
		return;
	if (d->n == CONF_DIAG_MAX) {
		snprintf(text, sizeof(text), "%s: too many problems; only the first %d are shown",
			 ctx->label, CONF_DIAG_MAX);
		line = LINE_LAST;
	} else {
		if (line > 0 && col > 0)
			head = snprintf(text, sizeof(text), "%s:%d:%d: ", ctx->label, line, col);
		else if (line > 0)
			head = snprintf(text, sizeof(text), "%s:%d: ", ctx->label, line);
		else
			head = snprintf(text, sizeof(text), "%s: ", ctx->label);
		if (head < 0 || (size_t)head >= sizeof(text))
			head = 0;
		vsnprintf(text + head, sizeof(text) - (size_t)head, fmt, ap);
	}
	grown = realloc(d->entries, (d->n + 1) * sizeof(*d->entries));
	if (!grown) {
		ctx->oom = true;
		return;
	}
	d->entries = grown;
	grown[d->n].severity = sev;
	grown[d->n].line = line;
	grown[d->n].text = strdup(text);
	if (!grown[d->n].text) {
		ctx->oom = true;
		return;
	}
	d->n++;
}

static void note_error(struct conf_ctx *ctx, int code)
{
	if (!ctx->rc)
		ctx->rc = code < 0 ? code : BW_E_CONF_VALUE;
	if (code == BW_E_NOMEM)
		ctx->oom = true;
}

void conf_err(struct conf_ctx *ctx, int code, int line, const char *fmt, ...)
{
	va_list ap;

	note_error(ctx, code);
	va_start(ap, fmt);
	add(ctx, CONF_ERROR, line, 0, fmt, ap);
	va_end(ap);
}

void conf_err_at(struct conf_ctx *ctx, int code, int line, int col, const char *fmt, ...)
{
	va_list ap;

	note_error(ctx, code);
	va_start(ap, fmt);
	add(ctx, CONF_ERROR, line, col, fmt, ap);
	va_end(ap);
}

void conf_warn(struct conf_ctx *ctx, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add(ctx, CONF_WARNING, line, 0, fmt, ap);
	va_end(ap);
}

void conf_diag_sort(struct conf_ctx *ctx)
{
	struct conf_diag_entry *e = ctx->diag->entries;

	/* Insertion sort: stable, and there are at most CONF_DIAG_MAX + 1. */
	for (size_t i = ctx->first + 1; i < ctx->diag->n; i++) {
		struct conf_diag_entry cur = e[i];
		size_t j = i;

		while (j > ctx->first && e[j - 1].line > cur.line) {
			e[j] = e[j - 1];
			j--;
		}
		e[j] = cur;
	}
}

void conf_diag_free(struct conf_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->entries[i].text);
	free(d->entries);
	memset(d, 0, sizeof(*d));
}

void conf_buf_printf(struct conf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *grown = realloc(b->p, cap);
		if (!grown) {
			b->oom = true;
			return;
		}
		b->p = grown;
		b->cap = cap;
	}
}
