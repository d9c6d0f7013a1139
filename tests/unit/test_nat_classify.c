/*
 * nat_classify() from tables of probe observations: every NAT type the lab
 * builds, and the partial cases (one server address, lost answers, UDP
 * blocked, server errors). Then the three renderings of a verdict: text, JSON
 * (golden strings pin the stable keys) and the compact NAT_REPORT record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "nat/nat.h"

#define SERVER "203.0.113.10:3478"
#define OTHER "203.0.113.11:3479"

enum { N = NAT_ANS_NOT_RUN, NONE = NAT_ANS_NONE, OK = NAT_ANS_OK, ERR = NAT_ANS_ERROR };

struct row {
	const char *name;
	const char *local, *other;      /* other NULL: server has one address */
	int m[3];                       /* mapping tests I-III answers */
	const char *mapped[3];
	int f[2];                       /* filtering: change ip+port, change port */
	int hairpin;
	int seq[NAT_SEQ_MAX];           /* mapped ports; -1 = no answer; 0 = end */
	bool seq_preserving;            /* local port = mapped port for samples */
	/* expected */
	enum nat_type type;
	enum nat_udp udp;
	enum nat_tri nat;
	enum nat_behaviour mapping, filtering;
	enum nat_tri pp, hp;
	enum nat_alloc alloc;
	int delta;
	unsigned untested;
	const char *why;                /* substring of some why[] or of error */
};

#define U(t) (1u << NAT_TEST_##t)
#define EIM NAT_BEH_ENDPOINT_INDEPENDENT
#define ADM NAT_BEH_ADDRESS_DEPENDENT
#define APDM NAT_BEH_ADDRESS_PORT_DEPENDENT
#define DEP NAT_BEH_DEPENDENT
#define UNK NAT_BEH_UNKNOWN
#define YES NAT_TRI_YES
#define NO NAT_TRI_NO
#define TUNK NAT_TRI_UNKNOWN

static const struct row rows[] = {
	{ "open internet", "198.51.100.7:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.7:5000", "198.51.100.7:5000", "198.51.100.7:5000" }, { OK, OK }, OK,
	  { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_OPEN, NAT_UDP_OK, NO, EIM, EIM, YES, YES, NAT_ALLOC_PRESERVING, 0, 0, NULL },
	{ "public host behind a stateful firewall", "198.51.100.7:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.7:5000", "198.51.100.7:5000", "198.51.100.7:5000" }, { NONE, NONE }, OK,
	  { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_FIREWALL, NAT_UDP_OK, NO, EIM, APDM, YES, YES, NAT_ALLOC_PRESERVING, 0, 0, NULL },
	{ "full cone", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:5000", "198.51.100.1:5000", "198.51.100.1:5000" }, { OK, OK }, NONE,
	  { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_FULL_CONE, NAT_UDP_OK, YES, EIM, EIM, YES, NO, NAT_ALLOC_PRESERVING, 0, 0, NULL },
	{ "restricted cone", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:5000", "198.51.100.1:5000", "198.51.100.1:5000" }, { NONE, OK }, NONE,
	  { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_RESTRICTED, NAT_UDP_OK, YES, EIM, ADM, YES, NO, NAT_ALLOC_PRESERVING, 0, 0, NULL },
	{ "port-restricted cone (Linux masquerade)", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:5000", "198.51.100.1:5000", "198.51.100.1:5000" }, { NONE, NONE }, NONE,
	  { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_PORT_RESTRICTED, NAT_UDP_OK, YES, EIM, APDM, YES, NO, NAT_ALLOC_PRESERVING, 0,
	  0, NULL },
	{ "port-restricted cone with hairpinning", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:5000", "198.51.100.1:5000", "198.51.100.1:5000" }, { NONE, NONE }, OK,
	  { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_PORT_RESTRICTED, NAT_UDP_OK, YES, EIM, APDM, YES, YES, NAT_ALLOC_PRESERVING, 0,
	  0, NULL },
	{ "cone NAT that does not preserve ports, sequential", "10.0.0.2:5000", OTHER,
	  { OK, OK, OK }, { "198.51.100.1:20005", "198.51.100.1:20005", "198.51.100.1:20005" },
	  { NONE, NONE }, NONE, { 20001, 20002, 20003, 20004 }, false,
	  NAT_TYPE_PORT_RESTRICTED, NAT_UDP_OK, YES, EIM, APDM, NO, NO, NAT_ALLOC_SEQUENTIAL, 1, 0,
	  NULL },
	{ "symmetric, random ports", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:40001", "198.51.100.1:51234", "198.51.100.1:23456" }, { NONE, NONE },
	  NONE, { 61000, 1203, 33333, 45012 }, false,
	  NAT_TYPE_SYMMETRIC, NAT_UDP_OK, YES, APDM, APDM, NO, NO, NAT_ALLOC_RANDOM, 0, 0, NULL },
	{ "symmetric, address-dependent mapping", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:40001", "198.51.100.1:50000", "198.51.100.1:50000" }, { NONE, OK },
	  NONE, { 61000, 1203, 33333, 45012 }, false,
	  NAT_TYPE_SYMMETRIC, NAT_UDP_OK, YES, ADM, ADM, NO, NO, NAT_ALLOC_RANDOM, 0, 0, NULL },
	{ "symmetric with sequential ports", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:30004", "198.51.100.1:30007", "198.51.100.1:30008" }, { NONE, NONE },
	  NONE, { 30000, 30001, 30002, 30003 }, false,
	  NAT_TYPE_SYMMETRIC, NAT_UDP_OK, YES, APDM, APDM, NO, NO, NAT_ALLOC_SEQUENTIAL, 1, 0,
	  NULL },
	{ "symmetric, ports counting down by 2", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:30004", "198.51.100.1:30002", "198.51.100.1:30000" }, { NONE, NONE },
	  NONE, { 30014, 30012, 30010, 30008 }, false,
	  NAT_TYPE_SYMMETRIC, NAT_UDP_OK, YES, APDM, APDM, NO, NO, NAT_ALLOC_SEQUENTIAL, -2, 0,
	  NULL },
	{ "sequential across the port wrap", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:5", "198.51.100.1:7", "198.51.100.1:9" }, { NONE, NONE }, NONE,
	  { 65533, 65535, 0x10001 /* 1 */, 0x10003 /* 3 */ }, false,
	  NAT_TYPE_SYMMETRIC, NAT_UDP_OK, YES, APDM, APDM, NO, NO, NAT_ALLOC_SEQUENTIAL, 2, 0,
	  NULL },
	{ "one server address, behind NAT", "10.0.0.2:5000", NULL, { OK, N, N },
	  { "198.51.100.1:5000" }, { ERR, ERR }, NONE, { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_UNKNOWN, NAT_UDP_OK, YES, UNK, UNK, YES, NO, NAT_ALLOC_PRESERVING, 0,
	  U(MAPPING) | U(FILTERING), "address-dependent vs endpoint-independent untested: "
	  "server has one address" },
	{ "one server address, no NAT", "198.51.100.7:5000", NULL, { OK, N, N },
	  { "198.51.100.7:5000" }, { ERR, ERR }, OK, { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_OPEN, NAT_UDP_OK, NO, EIM, UNK, YES, YES, NAT_ALLOC_PRESERVING, 0,
	  U(FILTERING), "server has one address" },
	{ "one server address, symmetric with sequential ports", "10.0.0.2:5000", NULL,
	  { OK, N, N }, { "198.51.100.1:30004" }, { ERR, ERR }, NONE,
	  { 30000, 30001, 30002, 30003 }, false,
	  NAT_TYPE_UNKNOWN, NAT_UDP_OK, YES, UNK, UNK, NO, NO, NAT_ALLOC_SEQUENTIAL, 1,
	  U(MAPPING) | U(FILTERING), NULL },
	{ "UDP blocked", "10.0.0.2:5000", NULL, { NONE, N, N }, { NULL }, { NONE, NONE }, N,
	  { -1, -1, -1, -1 }, false,
	  NAT_TYPE_UDP_BLOCKED, NAT_UDP_NO_RESPONSE, TUNK, UNK, UNK, TUNK, TUNK, NAT_ALLOC_UNKNOWN,
	  0, U(MAPPING) | U(FILTERING) | U(HAIRPIN) | U(ALLOC),
	  "no answer from 203.0.113.10:3478 after 1.5 s: UDP blocked or server not answering "
	  "STUN" },
	{ "server refuses the Binding request", "10.0.0.2:5000", NULL, { ERR, N, N }, { NULL },
	  { ERR, ERR }, N, { -1, -1, -1, -1 }, false,
	  NAT_TYPE_UNKNOWN, NAT_UDP_ERROR, TUNK, UNK, UNK, TUNK, TUNK, NAT_ALLOC_UNKNOWN, 0,
	  U(MAPPING) | U(FILTERING) | U(HAIRPIN) | U(ALLOC), "STUN error 400" },
	{ "test II lost", "10.0.0.2:5000", OTHER, { OK, NONE, OK },
	  { "198.51.100.1:5000", NULL, "198.51.100.1:5000" }, { NONE, NONE }, NONE,
	  { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_UNKNOWN, NAT_UDP_OK, YES, UNK, UNK, YES, NO, NAT_ALLOC_PRESERVING, 0,
	  U(MAPPING) | U(FILTERING), "no answer from 203.0.113.11:3478" },
	{ "test II lost but filtering positive", "10.0.0.2:5000", OTHER, { OK, NONE, NONE },
	  { "198.51.100.1:5000" }, { OK, OK }, NONE, { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_UNKNOWN, NAT_UDP_OK, YES, UNK, EIM, YES, NO, NAT_ALLOC_PRESERVING, 0,
	  U(MAPPING), "test II" },
	{ "test III lost on a symmetric NAT", "10.0.0.2:5000", OTHER, { OK, OK, NONE },
	  { "198.51.100.1:40001", "198.51.100.1:51234" }, { NONE, NONE }, NONE,
	  { 61000, 1203, 33333, 45012 }, false,
	  NAT_TYPE_SYMMETRIC, NAT_UDP_OK, YES, DEP, APDM, NO, NO, NAT_ALLOC_RANDOM, 0, U(MAPPING),
	  "test III" },
	{ "most port samples lost", "10.0.0.2:5000", OTHER, { OK, OK, OK },
	  { "198.51.100.1:20005", "198.51.100.1:20005", "198.51.100.1:20005" }, { NONE, NONE },
	  NONE, { 20001, -1, 20003, -1 }, false,
	  NAT_TYPE_PORT_RESTRICTED, NAT_UDP_OK, YES, EIM, APDM, NO, NO, NAT_ALLOC_UNKNOWN, 0,
	  U(ALLOC), "only 2 of 4 port samples answered" },
	{ "server refuses CHANGE-REQUEST despite OTHER-ADDRESS", "10.0.0.2:5000", OTHER,
	  { OK, OK, OK }, { "198.51.100.1:5000", "198.51.100.1:5000", "198.51.100.1:5000" },
	  { ERR, ERR }, N, { 41000, 41777, 40123, 52000 }, true,
	  NAT_TYPE_UNKNOWN, NAT_UDP_OK, YES, EIM, UNK, YES, TUNK, NAT_ALLOC_PRESERVING, 0,
	  U(FILTERING) | U(HAIRPIN), "refused CHANGE-REQUEST" },
};

static struct sockaddr_storage A(const char *s)
{
	struct sockaddr_storage ss;
	char host[64];
	const char *colon = strrchr(s, ':');

	assert_non_null(colon);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	assert_int_equal(nat_addr_parse(host, (uint16_t)atoi(colon + 1), &ss), 0);
	return ss;
}

static void build(const struct row *r, struct nat_observations *o)
{
	memset(o, 0, sizeof(*o));
	o->server = A(SERVER);
	if (r->other)
		o->other = A(r->other);
	o->timeout_ms = 1500;
	o->rtt_ms = 12;
	o->elapsed_ms = 1503;
	for (int i = 0; i < 3; i++) {
		o->map[i].answer = (enum nat_answer)r->m[i];
		o->map[i].local = A(r->local);
		if (r->m[i] == ERR)
			o->map[i].error = 400;
		if (r->m[i] == OK)
			o->map[i].mapped = A(r->mapped[i]);
	}
	for (int i = 0; i < 2; i++) {
		o->filter[i].answer = (enum nat_answer)r->f[i];
		o->filter[i].error = r->f[i] == ERR ? 420 : 0;
	}
	o->hairpin = (enum nat_answer)r->hairpin;
	for (unsigned i = 0; i < NAT_SEQ_MAX && r->seq[i]; i++) {
		struct nat_sample *s = &o->seq[i];
		int port = r->seq[i] & 0xffff;

		o->n_seq++;
		/* Local ports are whatever the OS picked: unrelated to each other. */
		nat_addr_parse("10.0.0.2", (uint16_t)(r->seq_preserving ? port : 33000 + 97 * (int)i),
			       &s->local);
		if (r->seq[i] < 0) {
			s->answer = NAT_ANS_NONE;
			continue;
		}
		s->answer = NAT_ANS_OK;
		nat_addr_parse("198.51.100.1", (uint16_t)port, &s->mapped);
	}
}

static bool has_text(const struct nat_result *res, const char *needle)
{
	if (strstr(res->error, needle))
		return true;
	for (int t = 0; t < NAT_TEST_COUNT; t++)
		if (strstr(res->why[t], needle))
			return true;
	return false;
}

static void test_nat_classify_table(void **state)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct nat_observations o;
		struct nat_result res;
		struct nat_report rep;
		char text[NAT_FORMAT_MAX], json[NAT_FORMAT_MAX], line[256];

		build(r, &o);
		nat_classify(&o, &res);
		print_message("row %zu: %s -> %s\n", i, r->name, nat_type_name(res.type));
		assert_int_equal(res.type, r->type);
		assert_int_equal(res.udp, r->udp);
		assert_int_equal(res.nat, r->nat);
		assert_int_equal(res.mapping, r->mapping);
		assert_int_equal(res.filtering, r->filtering);
		assert_int_equal(res.port_preserving, r->pp);
		assert_int_equal(res.hairpin, r->hp);
		assert_int_equal(res.alloc, r->alloc);
		assert_int_equal(res.port_delta, r->delta);
		assert_int_equal(res.untested, r->untested);
		if (r->why && !has_text(&res, r->why))
			fail_msg("row %zu: no reason contains \"%s\"", i, r->why);
		for (int t = 0; t < NAT_TEST_COUNT; t++)
			assert_true(((res.untested >> t) & 1) == (res.why[t][0] != '\0'));

		/* Every rendering fits the documented maximum. */
		assert_int_equal(nat_result_format_text(&res, text, sizeof(text)), 0);
		assert_int_equal(nat_result_format_json(&res, json, sizeof(json)), 0);
		assert_true(json[0] == '{' && json[strlen(json) - 1] == '}');
		nat_report_from_result(&res, &rep);
		assert_int_equal(nat_report_check(&rep), 0);
		assert_int_equal(rep.port_delta, r->delta);
		assert_int_equal(nat_report_format(&rep, line, sizeof(line)), 0);
		assert_non_null(strstr(line, nat_type_name(r->type)));
	}
}

/* The JSON keys and values are an interface: pin two complete documents. */
static void test_nat_result_format_json_golden(void **state)
{
	struct nat_observations o;
	struct nat_result res;
	char json[NAT_FORMAT_MAX];

	build(&rows[4], &o);
	nat_classify(&o, &res);
	assert_int_equal(nat_result_format_json(&res, json, sizeof(json)), 0);
	assert_string_equal(json,
		"{\"nat_type\":\"port-restricted-cone\",\"udp\":\"ok\",\"nat\":true,"
		"\"mapping\":\"endpoint-independent\",\"filtering\":\"address-and-port-dependent\","
		"\"port_preserving\":true,\"port_allocation\":\"preserving\",\"port_delta\":null,"
		"\"hairpin\":false,\"server\":\"203.0.113.10:3478\","
		"\"other_address\":\"203.0.113.11:3479\",\"local\":\"10.0.0.2:5000\","
		"\"mapped\":\"198.51.100.1:5000\",\"rtt_ms\":12,\"elapsed_ms\":1503,"
		"\"untested\":[],\"error\":null}");

	build(&rows[15], &o);
	nat_classify(&o, &res);
	assert_int_equal(nat_result_format_json(&res, json, sizeof(json)), 0);
	assert_string_equal(json,
		"{\"nat_type\":\"udp-blocked\",\"udp\":\"no-response\",\"nat\":null,"
		"\"mapping\":\"unknown\",\"filtering\":\"unknown\",\"port_preserving\":null,"
		"\"port_allocation\":\"unknown\",\"port_delta\":null,\"hairpin\":null,"
		"\"server\":\"203.0.113.10:3478\",\"other_address\":null,"
		"\"local\":\"10.0.0.2:5000\",\"mapped\":null,\"rtt_ms\":12,\"elapsed_ms\":1503,"
		"\"untested\":[{\"test\":\"mapping\",\"reason\":\"no UDP response\"},"
		"{\"test\":\"filtering\",\"reason\":\"no UDP response\"},"
		"{\"test\":\"hairpin\",\"reason\":\"no UDP response\"},"
		"{\"test\":\"port-allocation\",\"reason\":\"no UDP response\"}],"
		"\"error\":\"no answer from 203.0.113.10:3478 after 1.5 s: UDP blocked or "
		"server not answering STUN\"}");
}

static void test_nat_result_format_text_words(void **state)
{
	struct nat_observations o;
	struct nat_result res;
	char text[NAT_FORMAT_MAX];

	build(&rows[9], &o); /* symmetric with sequential ports */
	nat_classify(&o, &res);
	assert_int_equal(nat_result_format_text(&res, text, sizeof(text)), 0);
	print_message("%s", text);
	assert_non_null(strstr(text, "NAT type:     symmetric\n"));
	assert_non_null(strstr(text, "Mapping:      address-and-port-dependent\n"));
	assert_non_null(strstr(text, "Ports:        sequential, delta +1 (predictable)\n"));
	assert_non_null(strstr(text, "public 198.51.100.1:30004 (behind NAT)"));

	build(&rows[12], &o); /* one server address */
	nat_classify(&o, &res);
	assert_int_equal(nat_result_format_text(&res, text, sizeof(text)), 0);
	print_message("%s", text);
	assert_non_null(strstr(text, "Not tested:   mapping: address-dependent vs "
				     "endpoint-independent untested: server has one address"));
	assert_non_null(strstr(text, "(one address: no RFC 5780 tests)"));
}

static void test_nat_result_format_truncated(void **state)
{
	struct nat_observations o;
	struct nat_result res;
	char small[40];

	build(&rows[0], &o);
	nat_classify(&o, &res);
	assert_int_equal(nat_result_format_text(&res, small, sizeof(small)), BW_E_TOO_BIG);
	assert_true(strlen(small) < sizeof(small));
	assert_int_equal(nat_result_format_json(&res, small, sizeof(small)), BW_E_TOO_BIG);
	assert_true(strlen(small) < sizeof(small));
	assert_int_equal(nat_result_format_json(&res, small, 0), BW_E_TOO_BIG);
}

static void test_nat_report_check_ranges(void **state)
{
	struct nat_report ok = { .type = NAT_TYPE_SYMMETRIC, .alloc = NAT_ALLOC_SEQUENTIAL,
				 .port_delta = -3 };
	struct nat_report bad;
	char line[200];

	assert_int_equal(nat_report_check(&ok), 0);
	assert_int_equal(nat_report_format(&ok, line, sizeof(line)), 0);
	assert_string_equal(line, "symmetric (udp ok, mapping unknown, filtering unknown, "
				  "ports sequential -3, hairpin unknown)");
	bad = ok;
	bad.type = NAT_TYPE_COUNT;
	assert_int_equal(nat_report_check(&bad), BW_E_RANGE);
	bad = ok;
	bad.mapping = NAT_BEH_COUNT;
	assert_int_equal(nat_report_check(&bad), BW_E_RANGE);
	bad = ok;
	bad.untested = 1u << NAT_TEST_COUNT;
	assert_int_equal(nat_report_check(&bad), BW_E_RANGE);
	bad = ok;
	bad.port_delta = 0;          /* sequential needs a delta */
	assert_int_equal(nat_report_check(&bad), BW_E_RANGE);
	bad = ok;
	bad.alloc = NAT_ALLOC_RANDOM; /* a delta without sequential allocation */
	assert_int_equal(nat_report_check(&bad), BW_E_RANGE);
	bad = ok;
	bad.port_delta = 1000;
	assert_int_equal(nat_report_check(&bad), BW_E_RANGE);
}

static void test_nat_addr_parse_forms(void **state)
{
	struct sockaddr_storage ss;

	assert_int_equal(nat_addr_parse("127.0.0.2", 3479, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(nat_addr_parse("[2001:db8::1]", 1, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(nat_addr_parse("::1", 1, &ss), 0);
	assert_int_equal(nat_addr_parse("stun.example.org", 1, &ss), BW_E_INVAL);
	assert_int_equal(ss.ss_family, AF_UNSPEC);
	assert_int_equal(nat_addr_parse("", 1, &ss), BW_E_INVAL);
	assert_int_equal(nat_addr_parse(NULL, 1, &ss), BW_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nat_classify_table),
		cmocka_unit_test(test_nat_result_format_json_golden),
		cmocka_unit_test(test_nat_result_format_text_words),
		cmocka_unit_test(test_nat_result_format_truncated),
		cmocka_unit_test(test_nat_report_check_ranges),
		cmocka_unit_test(test_nat_addr_parse_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
