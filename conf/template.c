/*
 * frp renders its config files as Go templates before parsing them, so users
 * write `serverAddr = "{{ .Envs.FRP_SERVER_ADDR }}"`. Burrow renders the one
 * form frp documents for configs, {{ .Envs.NAME }}, in both formats and in the
 * whole file (comments included, as frp does). Anything else between {{ and }}
 * is an error naming the line: a config that half-renders would be worse.
 *
 * Differences from frp, on purpose: an unset variable is an error (Go prints
 * "<no value>"), and a value may not contain a newline, so every line keeps
 * its number for the messages that follow.
 */
#include "conf/conf_int.h"
#include "common/err.h"

#include <stdlib.h>
#include <string.h>

#define ENV_NAME_MAX 128

static bool ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9');
}

/* Parse " .Envs.NAME " between the braces; returns the name's length or 0. */
static size_t env_name(const char *s, size_t n, const char **name)
{
	size_t i = 0, start, len;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (n - i < 6 || memcmp(s + i, ".Envs.", 6) != 0)
		return 0;
	i += 6;
	start = i;
	if (i >= n || !ident_start(s[i]))
		return 0;
	while (i < n && ident_char(s[i]))
		i++;
	len = i - start;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	*name = s + start;
	return i == n ? len : 0;
}

int conf_template_render(struct conf_ctx *ctx, const char *text, size_t len,
			 char **out, size_t *out_len)
{
	struct conf_buf b = { NULL, 0, 0, false };
	const char *p = text, *end = text + len;
	int line = 1, errors = 0;

	*out = NULL;
	*out_len = 0;
	while (p < end) {
		const char *open = NULL, *close, *name = NULL;
		char var[ENV_NAME_MAX + 1];
		const char *val;
		size_t n;

		for (const char *q = p; q + 1 < end; q++) {
			if (q[0] == '{' && q[1] == '{') {
				open = q;
				break;
			}
		}
		if (!open) {
			conf_buf_printf(&b, "%.*s", (int)(end - p), p);
			break;
		}
		for (const char *q = p; q < open; q++)
			line += *q == '\n';
		conf_buf_printf(&b, "%.*s", (int)(open - p), p);
		close = NULL;
		for (const char *q = open + 2; q + 1 < end && *q != '\n'; q++) {
			if (q[0] == '}' && q[1] == '}') {
				close = q;
				break;
			}
		}
		if (!close) {
			conf_err(ctx, BW_E_CONF_SYNTAX, line, "template: '{{' without '}}' on the same line");
			errors++;
			p = open + 2;
			continue;
		}
		n = env_name(open + 2, (size_t)(close - open - 2), &name);
		if (n == 0 || n > ENV_NAME_MAX) {
			conf_err(ctx, BW_E_CONF_SYNTAX, line,
				 "template %.*s: not supported; Burrow renders only {{ .Envs.NAME }}",
				 (int)(close - open + 2 > 60 ? 60 : close - open + 2), open);
			errors++;
			p = close + 2;
			continue;
		}
		memcpy(var, name, n);
		var[n] = '\0';
		val = getenv(var);
		if (!val) {
			conf_err(ctx, BW_E_CONF_VALUE, line,
				 "template {{ .Envs.%s }}: environment variable %s is not set", var, var);
			errors++;
		} else if (strchr(val, '\n') || strlen(val) > TOML_STRING_MAX) {
			conf_err(ctx, BW_E_CONF_VALUE, line,
				 "template {{ .Envs.%s }}: the value is %s", var,
				 strchr(val, '\n') ? "more than one line" : "too long");
			errors++;
		} else {
			conf_buf_printf(&b, "%s", val);
		}
		p = close + 2;
	}
	if (b.oom || (b.len > CONF_FILE_MAX && !errors)) {
		free(b.p);
		if (b.oom) {
			conf_err(ctx, BW_E_NOMEM, 0, "out of memory");
			return BW_E_NOMEM;
		}
		conf_err(ctx, BW_E_TOO_BIG, 0, "larger than %u bytes once templates are rendered",
			 CONF_FILE_MAX);
		return BW_E_TOO_BIG;
	}
	if (errors) {
		free(b.p);
		return BW_E_CONF_VALUE;
	}
	if (!b.p) {
		b.p = calloc(1, 1);
		if (!b.p) {
			conf_err(ctx, BW_E_NOMEM, 0, "out of memory");
			return BW_E_NOMEM;
		}
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}
