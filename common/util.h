/*
 * Small helpers every module needs: bounded file reads, clocks, address text.
 */
#ifndef BW_UTIL_H
#define BW_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Read a whole file of at most `max` bytes into a new NUL-terminated buffer
 * (*data, freed by the caller with free()). A larger file is BW_E_TOO_BIG;
 * nothing is allocated beyond max + 1.
 */
int bw_file_read(const char *path, size_t max, char **data, size_t *len);

/* Milliseconds on the monotonic clock. */
int64_t bw_now_ms(void);

/* "203.0.113.7:51000" or "[2001:db8::1]:51000" into buf (at least
 * BW_ADDR_STRLEN bytes); returns buf. */
#define BW_ADDR_STRLEN 64
char *bw_addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Parse what bw_addr_format writes ("203.0.113.7:51000", "[2001:db8::1]:51000",
 * numeric only) into *ss; returns the address length, or BW_E_INVAL. */
struct sockaddr_storage;
int bw_addr_parse(const char *s, struct sockaddr_storage *ss);

/* Duplicate at most n bytes of s into a NUL-terminated string (NULL on OOM). */
char *bw_strndup(const char *s, size_t n);

/* s as the inside of a JSON string (quotes, backslashes and control bytes
 * escaped), NUL-terminated in out; cut short (never mid-escape) if cap is too
 * small. Returns out. */
char *bw_json_escape(const char *s, char *out, size_t cap);

#endif
