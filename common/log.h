/*
 * Logging. One line per event: "2026-11-25 04:10:00.123 [I] relay: ...".
 *
 * The sink is the one piece of process-wide state in Burrow (as OpenSSH's
 * log.c): every module may log, and threading a logger through every call
 * would buy nothing. It is set once at startup by the main and read after.
 */
#ifndef BW_LOG_H
#define BW_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Parse frp's level names ("trace", "debug", "info", "warn", "error"). */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/*
 * Send logs to `path` ("console" or NULL for stderr) from `level` up.
 * max_days > 0 rotates the file daily to path.YYYYMMDD and deletes rotated
 * files older than that many days, as frp's log.maxDays does.
 */
int log_open(const char *path, enum log_level level, int max_days);
void log_close(void);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#define log_trace(...) log_msg(LOG_TRACE, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/*
 * For anything a remote party can trigger: at most `burst` lines per 5 s per
 * call site, then one "N lines suppressed" summary (WireGuard's
 * net_dbg_ratelimited). The state lives in the call site's static struct,
 * which is the reason this is a macro.
 */
struct log_ratelimit {
	int64_t window_start_ms;
	unsigned printed;
	unsigned suppressed;
};
int log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst);
#define log_ratelimited(level, ...)                                     \
	do {                                                            \
		static struct log_ratelimit log_rl_;                    \
		if (log_enabled(level) && log_ratelimit_allow(&log_rl_, 10)) \
			log_msg(level, __VA_ARGS__);                    \
	} while (0)

#endif
