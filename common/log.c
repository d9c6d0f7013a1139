#include "log.h"
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/stat.h>

/* The process-wide sink; see log.h for why this one is global. */
static struct {
	FILE *fp;           /* NULL means stderr */
	char *path;
	enum log_level level;
	int max_days;
	int day;            /* yyyymmdd the open file belongs to */
} sink = { NULL, NULL, LOG_INFO, 0, 0 };

static const char *const level_names[] = { "trace", "debug", "info", "warn", "error", "off" };
static const char level_letters[] = "TDIWE-";

int log_level_parse(const char *name, enum log_level *out)
{
	for (int i = 0; i <= LOG_OFF; i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(name, "warning") == 0) {
		*out = LOG_WARN;
		return 0;
	}
	return BW_E_CONF_VALUE;
}

const char *log_level_name(enum log_level level)
{
	return (level >= LOG_TRACE && level <= LOG_OFF) ? level_names[level] : "?";
}

static int today(const struct tm *tm)
{
	return (tm->tm_year + 1900) * 10000 + (tm->tm_mon + 1) * 100 + tm->tm_mday;
}

/* Delete path.YYYYMMDD files older than max_days. Errors are ignored: a
 * failed clean-up must never stop logging. */
static void prune_rotated(void)
{
	char *dir, *base, *slash;
	DIR *d;
	struct dirent *de;
	time_t cutoff = time(NULL) - (time_t)sink.max_days * 86400;

	dir = strdup(sink.path);
	if (!dir)
		return;
	slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		base = slash + 1;
	} else {
		base = dir;
	}
	d = opendir(slash ? (dir[0] ? dir : "/") : ".");
	if (!d) {
		free(dir);
		return;
	}
	size_t blen = strlen(base);
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		char full[4096];

		if (strncmp(de->d_name, base, blen) != 0 || de->d_name[blen] != '.' ||
		    strlen(de->d_name + blen + 1) != 8 ||
		    strspn(de->d_name + blen + 1, "0123456789") != 8)
			continue; /* only <file>.YYYYMMDD is ours to delete */
		snprintf(full, sizeof(full), "%s/%s", slash ? (dir[0] ? dir : "") : ".", de->d_name);
		if (stat(full, &st) == 0 && st.st_mtime < cutoff)
			unlink(full);
	}
	closedir(d);
	free(dir);
}

static void rotate_if_new_day(const struct tm *tm)
{
	char old[4096];
	FILE *fp;

	if (!sink.path || sink.max_days <= 0 || today(tm) == sink.day)
		return;
	if (sink.day != 0) {
		snprintf(old, sizeof(old), "%s.%08d", sink.path, sink.day);
		fclose(sink.fp);
		sink.fp = NULL;
		rename(sink.path, old);
		fp = fopen(sink.path, "a");
		if (!fp)
			return; /* falls back to stderr */
		setvbuf(fp, NULL, _IOLBF, 0);
		sink.fp = fp;
		prune_rotated();
	}
	sink.day = today(tm);
}

int log_open(const char *path, enum log_level level, int max_days)
{
	FILE *fp;
	char *copy;

	log_close();
	sink.level = level;
	if (!path || !*path || strcmp(path, "console") == 0)
		return 0;
	copy = strdup(path);
	if (!copy)
		return BW_E_NOMEM;
	fp = fopen(path, "a");
	if (!fp) {
		int rc = -errno;
		free(copy);
		return rc;
	}
	setvbuf(fp, NULL, _IOLBF, 0);
	sink.fp = fp;
	sink.path = copy;
	sink.max_days = max_days;
	sink.day = 0;
	return 0;
}

void log_close(void)
{
	if (sink.fp)
		fclose(sink.fp);
	free(sink.path);
	sink.fp = NULL;
	sink.path = NULL;
	sink.day = 0;
}

void log_set_level(enum log_level level)
{
	sink.level = level;
}

int log_enabled(enum log_level level)
{
	return level >= sink.level && level < LOG_OFF;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char line[2048];
	int n;
	FILE *out;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	rotate_if_new_day(&tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ld [%c] ",
		      ts.tv_nsec / 1000000, level_letters[level]);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	out = sink.fp ? sink.fp : stderr;
	/* One fputs per line so concurrent writers never interleave mid-line. */
	size_t len = strlen(line);
	if (len < sizeof(line) - 1) {
		line[len] = '\n';
		line[len + 1] = '\0';
	} else {
		line[sizeof(line) - 2] = '\n';
	}
	fputs(line, out);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_ratelimit_allow(struct log_ratelimit *rl, unsigned burst)
{
	struct timespec ts;
	int64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (now - rl->window_start_ms >= 5000) {
		if (rl->suppressed)
			log_msg(LOG_WARN, "(%u similar log lines suppressed)", rl->suppressed);
		rl->window_start_ms = now;
		rl->printed = 0;
		rl->suppressed = 0;
	}
	if (rl->printed < burst) {
		rl->printed++;
		return 1;
	}
	rl->suppressed++;
	return 0;
}
