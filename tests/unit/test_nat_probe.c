/*
 * The asynchronous probe against the in-process STUN server on loopback:
 * with 127.0.0.1 and 127.0.0.2 every test runs and the verdict is "open
 * internet"; with one address it names what it could not test; with nothing
 * listening it gives up with the clear message in bounded time. Also: freeing
 * a running probe, freeing from the callback, bad configurations.
 *
 * The same executable is the test tool of tests/e2e/nat_stun_client.sh:
 *   test_nat_probe serve A1 [A2] [P1 [P2]]   run the STUN server; prints
 *                                            "ready A1:P1 [A2:P2]"; SIGTERM ends
 *   test_nat_probe probe HOST PORT [--json] [--local IP]
 *                                            run the probe, print the verdict
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/err.h"
#include "common/util.h"
#include "nat/nat.h"

struct run {
	struct event_base *base;
	struct nat_stun_server *srv;
	struct nat_probe *probe;
	struct nat_result result;
	unsigned calls;
	bool free_in_callback;
	int64_t took_ms;
};

static void on_done(const struct nat_result *r, void *arg)
{
	struct run *run = arg;

	run->calls++;
	run->result = *r;
	if (run->free_in_callback) {
		nat_probe_free(run->probe);
		run->probe = NULL;
	}
	event_base_loopbreak(run->base);
}

static void server_start(struct run *run, bool alt)
{
	struct nat_stun_server_conf c = { 0 };
	int rc;

	assert_int_equal(nat_addr_parse("127.0.0.1", 0, &c.addr), 0);
	if (alt)
		assert_int_equal(nat_addr_parse("127.0.0.2", 0, &c.alt_addr), 0);
	run->srv = nat_stun_server_new(run->base, &c, &rc);
	assert_non_null(run->srv);
}

/* Run a probe to `server` until its callback (or 5 s, a test failure). */
static void probe_run(struct run *run, const struct sockaddr_storage *server, int timeout_ms)
{
	struct nat_probe_conf pc = { 0 };
	struct timeval limit = { 5, 0 };
	char text[NAT_FORMAT_MAX];
	int64_t t0;
	int rc;

	pc.server = *server;
	pc.timeout_ms = timeout_ms;
	t0 = bw_now_ms();
	run->probe = nat_probe_start(run->base, &pc, on_done, run, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(run->probe);
	assert_int_equal(run->calls, 0); /* never from inside nat_probe_start */
	event_base_loopexit(run->base, &limit);
	event_base_dispatch(run->base);
	run->took_ms = bw_now_ms() - t0;
	assert_int_equal(run->calls, 1);
	assert_int_equal(nat_result_format_text(&run->result, text, sizeof(text)), 0);
	print_message("%s(wall clock %lld ms)\n", text, (long long)run->took_ms);
}

static void run_free(struct run *run)
{
	nat_probe_free(run->probe);
	nat_stun_server_free(run->srv);
	event_base_free(run->base);
}

static void test_nat_probe_start_two_addresses(void **state)
{
	struct run run = { .base = event_base_new() };
	struct sockaddr_storage server;
	const struct nat_observations *o;

	server_start(&run, true);
	nat_stun_server_addr(run.srv, 0, &server);
	probe_run(&run, &server, 0);
	assert_int_equal(run.result.type, NAT_TYPE_OPEN);
	assert_int_equal(run.result.udp, NAT_UDP_OK);
	assert_int_equal(run.result.nat, NAT_TRI_NO);
	assert_int_equal(run.result.mapping, NAT_BEH_ENDPOINT_INDEPENDENT);
	assert_int_equal(run.result.filtering, NAT_BEH_ENDPOINT_INDEPENDENT);
	assert_int_equal(run.result.hairpin, NAT_TRI_YES);
	assert_int_equal(run.result.port_preserving, NAT_TRI_YES);
	assert_int_equal(run.result.alloc, NAT_ALLOC_PRESERVING);
	assert_int_equal(run.result.untested, 0);
	/* Every test ran and was answered. */
	o = nat_probe_observations(run.probe);
	for (int i = 0; i < 3; i++)
		assert_int_equal(o->map[i].answer, NAT_ANS_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(o->filter[i].answer, NAT_ANS_OK);
	assert_int_equal(o->n_seq, 4);
	for (unsigned i = 0; i < o->n_seq; i++)
		assert_int_equal(o->seq[i].answer, NAT_ANS_OK);
	assert_int_equal(o->other.ss_family, AF_INET);
	/* All positive: no timeout to wait for. */
	assert_true(run.result.elapsed_ms < 500);
	run_free(&run);
}

static void test_nat_probe_start_one_address(void **state)
{
	struct run run = { .base = event_base_new() };
	struct sockaddr_storage server;

	server_start(&run, false);
	nat_stun_server_addr(run.srv, 0, &server);
	probe_run(&run, &server, 0);
	/* No NAT on loopback, so mapping is known; filtering needs RFC 5780. */
	assert_int_equal(run.result.type, NAT_TYPE_OPEN);
	assert_int_equal(run.result.mapping, NAT_BEH_ENDPOINT_INDEPENDENT);
	assert_int_equal(run.result.filtering, NAT_BEH_UNKNOWN);
	assert_int_equal(run.result.untested, 1u << NAT_TEST_FILTERING);
	assert_non_null(strstr(run.result.why[NAT_TEST_FILTERING], "server has one address"));
	assert_int_equal(run.result.other.ss_family, AF_UNSPEC);
	/* The server answered the CHANGE-REQUESTs with 420 at once. */
	assert_int_equal(nat_probe_observations(run.probe)->filter[0].answer, NAT_ANS_ERROR);
	assert_int_equal(nat_probe_observations(run.probe)->filter[0].error, 420);
	assert_true(run.result.elapsed_ms < 500);
	run_free(&run);
}

static uint16_t free_port(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	nat_addr_parse("127.0.0.1", 0, &ss);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	close(fd);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void test_nat_probe_start_nothing_listening(void **state)
{
	struct run run = { .base = event_base_new() };
	struct sockaddr_storage server;
	char want[160], json[NAT_FORMAT_MAX];
	uint16_t port = free_port();

	nat_addr_parse("127.0.0.1", port, &server);
	probe_run(&run, &server, 0);
	assert_int_equal(run.result.type, NAT_TYPE_UDP_BLOCKED);
	assert_int_equal(run.result.udp, NAT_UDP_NO_RESPONSE);
	snprintf(want, sizeof(want), "no answer from 127.0.0.1:%u after 1.5 s: UDP blocked or "
		 "server not answering STUN", port);
	assert_string_equal(run.result.error, want);
	/* Bounded: the give-up comes at the timeout, not at RFC 5389's 39.5 s. */
	assert_true(run.took_ms >= 1450 && run.took_ms < 2000);
	assert_int_equal(nat_result_format_json(&run.result, json, sizeof(json)), 0);
	assert_non_null(strstr(json, "\"udp\":\"no-response\""));
	run_free(&run);

	/* A shorter timeout is honoured and named. */
	run = (struct run){ .base = event_base_new() };
	probe_run(&run, &server, 300);
	assert_true(run.took_ms >= 280 && run.took_ms < 700);
	assert_non_null(strstr(run.result.error, "after 0.3 s"));
	run_free(&run);
}

static void test_nat_probe_free_while_running(void **state)
{
	struct run run = { .base = event_base_new() };
	struct nat_probe_conf pc = { 0 };
	struct timeval t = { 0, 50000 };
	int rc;

	nat_addr_parse("127.0.0.1", free_port(), &pc.server);
	run.probe = nat_probe_start(run.base, &pc, on_done, &run, &rc);
	assert_non_null(run.probe);
	event_base_loopexit(run.base, &t);
	event_base_dispatch(run.base);
	nat_probe_free(run.probe); /* mid-way: timers and sockets released */
	run.probe = NULL;
	assert_int_equal(run.calls, 0);
	nat_probe_free(NULL);
	run_free(&run);
}

static void test_nat_probe_free_in_callback(void **state)
{
	struct run run = { .base = event_base_new(), .free_in_callback = true };
	struct sockaddr_storage server;

	server_start(&run, true);
	nat_stun_server_addr(run.srv, 0, &server);
	probe_run(&run, &server, 0);
	assert_null(run.probe);
	assert_int_equal(run.result.type, NAT_TYPE_OPEN);
	run_free(&run);
}

static void test_nat_probe_start_bad_conf(void **state)
{
	struct event_base *base = event_base_new();
	struct nat_probe_conf pc = { 0 };
	int rc;

	assert_null(nat_probe_start(base, &pc, on_done, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	nat_addr_parse("127.0.0.1", 0, &pc.server);     /* port 0 */
	assert_null(nat_probe_start(base, &pc, on_done, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	nat_addr_parse("127.0.0.1", 3478, &pc.server);
	nat_addr_parse("::1", 0, &pc.local);             /* family mismatch */
	assert_null(nat_probe_start(base, &pc, on_done, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	memset(&pc.local, 0, sizeof(pc.local));
	assert_null(nat_probe_start(base, &pc, NULL, NULL, &rc));
	assert_int_equal(rc, BW_E_INVAL);
	event_base_free(base);
}

/* Tool mode for the e2e script ------------------------------------------ */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static int tool_serve(int argc, char **argv)
{
	struct nat_stun_server_conf c = { 0 };
	struct event_base *base = event_base_new();
	struct nat_stun_server *srv;
	struct event *sig_term, *sig_int;
	struct sockaddr_storage a;
	char s1[BW_ADDR_STRLEN], s2[BW_ADDR_STRLEN];
	int rc;

	if (argc < 3 || nat_addr_parse(argv[2], argc > 4 ? (uint16_t)atoi(argv[4]) : 0,
				       &c.addr) < 0)
		return 2;
	if (argc > 3 && strcmp(argv[3], "-") != 0) {
		if (nat_addr_parse(argv[3], 0, &c.alt_addr) < 0)
			return 2;
		c.alt_port = argc > 5 ? (uint16_t)atoi(argv[5]) : 0;
	}
	srv = nat_stun_server_new(base, &c, &rc);
	if (!srv) {
		fprintf(stderr, "serve: %s\n", bw_strerror(rc));
		return 1;
	}
	nat_stun_server_addr(srv, 0, &a);
	bw_addr_format((struct sockaddr *)&a, s1, sizeof(s1));
	if (nat_stun_server_addr(srv, 3, &a) == 0)
		printf("ready %s %s\n", s1, bw_addr_format((struct sockaddr *)&a, s2, sizeof(s2)));
	else
		printf("ready %s\n", s1);
	fflush(stdout);
	sig_term = evsignal_new(base, SIGTERM, on_signal, base);
	sig_int = evsignal_new(base, SIGINT, on_signal, base);
	event_add(sig_term, NULL);
	event_add(sig_int, NULL);
	event_base_dispatch(base);
	event_free(sig_term);
	event_free(sig_int);
	nat_stun_server_free(srv);
	event_base_free(base);
	return 0;
}

static int tool_probe(int argc, char **argv)
{
	struct run run = { .base = event_base_new() };
	struct nat_probe_conf pc = { 0 };
	char out[NAT_FORMAT_MAX];
	bool json = false;
	int rc;

	if (argc < 4 || nat_addr_parse(argv[2], (uint16_t)atoi(argv[3]), &pc.server) < 0)
		return 2;
	for (int i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--local") == 0 && i + 1 < argc &&
			 nat_addr_parse(argv[i + 1], 0, &pc.local) == 0)
			i++;
		else
			return 2;
	}
	run.probe = nat_probe_start(run.base, &pc, on_done, &run, &rc);
	if (!run.probe) {
		fprintf(stderr, "probe: %s\n", bw_strerror(rc));
		return 1;
	}
	event_base_dispatch(run.base);
	if (json)
		nat_result_format_json(&run.result, out, sizeof(out));
	else
		nat_result_format_text(&run.result, out, sizeof(out));
	printf("%s%s", out, json ? "\n" : "");
	run_free(&run);
	return run.result.udp == NAT_UDP_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nat_probe_start_two_addresses),
		cmocka_unit_test(test_nat_probe_start_one_address),
		cmocka_unit_test(test_nat_probe_start_nothing_listening),
		cmocka_unit_test(test_nat_probe_free_while_running),
		cmocka_unit_test(test_nat_probe_free_in_callback),
		cmocka_unit_test(test_nat_probe_start_bad_conf),
	};

	if (argc > 1 && strcmp(argv[1], "serve") == 0)
		return tool_serve(argc, argv);
	if (argc > 1 && strcmp(argv[1], "probe") == 0)
		return tool_probe(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
