/* sys_tput: one TCP stream of bulk data for bench/p2p.sh, closed gracefully.
 *
 *   sys_tput sink PORT
 *       Listens on 0.0.0.0:PORT and serves one connection at a time: reads
 *       until EOF, then answers "bytes=N ns=T\n" (T: first byte to EOF, in
 *       nanoseconds) and closes. Prints "sink ready PORT" once listening,
 *       and "conn N bytes=B ns=T" (or "conn N failed ...") for connection N
 *       (1, 2, ...) as soon as it has read it, before answering: the figure
 *       survives a forwarder that dies while the answer travels back.
 *   sys_tput send HOST PORT SECONDS
 *       Connects, writes for SECONDS, shuts its write side, reads the sink's
 *       answer and prints one line:
 *         bytes=N recv_s=S gbit=G sent=N retrans=R cpu_s=C wall_s=W
 *       bytes/recv_s/gbit are the sink's (what arrived), retrans the sending
 *       socket's TCP retransmissions, cpu_s this process's user+system time.
 *       Exit status 0 when the sink answered.
 *
 * Why not iperf3 for the Burrow paths: iperf3's server closes its data socket
 * at the end of a test while data is still queued to it, so the connection
 * ends with a reset; both ends here end with FIN only, and every byte sent is
 * read. Blocking sockets, one thread: the figures are the path's, not the
 * tool's (a core moves tens of Gbit/s this way on loopback).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (128u * 1024u)
#define IO_TIMEOUT_S 20 /* a stalled path fails the run instead of hanging it */

static char buf[CHUNK];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void sink_one(int fd, unsigned long conn)
{
	uint64_t bytes = 0, first = 0, last;
	char answer[96];
	ssize_t n;

	set_timeouts(fd);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (!first)
			first = now_ns();
		bytes += (uint64_t)n;
	}
	last = now_ns();
	if (n == 0) {
		snprintf(answer, sizeof(answer), "bytes=%llu ns=%llu\n", (unsigned long long)bytes,
			 (unsigned long long)(first ? last - first : 0));
		printf("conn %lu %s", conn, answer);
		fflush(stdout);
		if (write_all(fd, answer, strlen(answer)) == 0) {
			shutdown(fd, SHUT_WR);
			while (read(fd, buf, sizeof(buf)) > 0)
				; /* until the sender closes: no reset */
		}
	} else {
		printf("conn %lu failed after %llu bytes: %s\n", conn, (unsigned long long)bytes,
		       strerror(errno));
		fflush(stdout);
	}
	close(fd);
}

static int sink(const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_port = htons((uint16_t)atoi(port));
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 16) < 0) {
		fprintf(stderr, "sink: cannot listen on port %s: %s\n", port, strerror(errno));
		return 1;
	}
	printf("sink ready %s\n", port);
	fflush(stdout);
	for (unsigned long conn = 1;; conn++) {
		int fd = accept(ls, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED) {
				conn--;
				continue;
			}
			fprintf(stderr, "sink: accept: %s\n", strerror(errno));
			return 1;
		}
		sink_one(fd, conn);
	}
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int send_run(const char *host, const char *port, double secs)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	uint64_t sent = 0, t0, deadline, bytes = 0, ns = 0;
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	char answer[128];
	size_t alen = 0;
	ssize_t n;
	int fd, rc;

	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "send: %s:%s: %s\n", host, port, gai_strerror(rc));
		return 1;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		fprintf(stderr, "send: connect %s:%s: %s\n", host, port, strerror(errno));
		freeaddrinfo(ai);
		return 1;
	}
	freeaddrinfo(ai);
	set_timeouts(fd);
	memset(buf, 0x5a, sizeof(buf));
	t0 = now_ns();
	deadline = t0 + (uint64_t)(secs * 1e9);
	while (now_ns() < deadline) {
		n = write(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "send: write failed after %llu bytes: %s\n",
				(unsigned long long)sent, n < 0 ? strerror(errno) : "closed");
			close(fd);
			return 1;
		}
		sent += (uint64_t)n;
	}
	shutdown(fd, SHUT_WR);
	while (alen < sizeof(answer) - 1) {
		n = read(fd, answer + alen, sizeof(answer) - 1 - alen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		alen += (size_t)n;
	}
	answer[alen] = '\0';
	memset(&ti, 0, sizeof(ti));
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl);
	close(fd);
	if (sscanf(answer, "bytes=%llu ns=%llu", (unsigned long long *)&bytes,
		   (unsigned long long *)&ns) != 2 || ns == 0) {
		fprintf(stderr, "send: no answer from the sink after %llu bytes sent (%s)\n",
			(unsigned long long)sent, alen ? answer : "connection closed");
		return 1;
	}
	printf("bytes=%llu recv_s=%.6f gbit=%.6f sent=%llu retrans=%u cpu_s=%.3f wall_s=%.3f\n",
	       (unsigned long long)bytes, (double)ns / 1e9, (double)bytes * 8 / (double)ns,
	       (unsigned long long)sent, ti.tcpi_total_retrans, cpu_s(),
	       (double)(now_ns() - t0) / 1e9);
	return bytes == sent ? 0 : 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "sink") == 0)
		return sink(argv[2]);
	if (argc == 5 && strcmp(argv[1], "send") == 0)
		return send_run(argv[2], argv[3], atof(argv[4]));
	fprintf(stderr, "usage: sys_tput sink PORT | sys_tput send HOST PORT SECONDS\n");
	return 2;
}
