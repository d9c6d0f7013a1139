/*
 * The verdict for people (text), for programs (JSON with stable keys and
 * values) and for the rendezvous (struct nat_report). The names here are the
 * JSON values; changing one breaks every consumer, so they are in tables.
 */
#include "nat/nat_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/util.h"

static const char *const type_names[NAT_TYPE_COUNT] = {
	[NAT_TYPE_UNKNOWN] = "unknown",
	[NAT_TYPE_OPEN] = "open-internet",
	[NAT_TYPE_FIREWALL] = "symmetric-udp-firewall",
	[NAT_TYPE_FULL_CONE] = "full-cone",
	[NAT_TYPE_RESTRICTED] = "restricted-cone",
	[NAT_TYPE_PORT_RESTRICTED] = "port-restricted-cone",
	[NAT_TYPE_SYMMETRIC] = "symmetric",
	[NAT_TYPE_UDP_BLOCKED] = "udp-blocked",
};

static const char *const type_words[NAT_TYPE_COUNT] = {
	[NAT_TYPE_UNKNOWN] = "unknown",
	[NAT_TYPE_OPEN] = "open internet (no NAT)",
	[NAT_TYPE_FIREWALL] = ("no NAT, but a firewall filters inbound UDP "
			       "(RFC 3489 symmetric UDP firewall)"),
	[NAT_TYPE_FULL_CONE] = "full cone",
	[NAT_TYPE_RESTRICTED] = "restricted cone",
	[NAT_TYPE_PORT_RESTRICTED] = "port-restricted cone",
	[NAT_TYPE_SYMMETRIC] = "symmetric",
	[NAT_TYPE_UDP_BLOCKED] = "UDP blocked",
};

static const char *const behaviour_names[NAT_BEH_COUNT] = {
	[NAT_BEH_UNKNOWN] = "unknown",
	[NAT_BEH_ENDPOINT_INDEPENDENT] = "endpoint-independent",
	[NAT_BEH_ADDRESS_DEPENDENT] = "address-dependent",
	[NAT_BEH_ADDRESS_PORT_DEPENDENT] = "address-and-port-dependent",
	[NAT_BEH_DEPENDENT] = "dependent",
};

static const char *const udp_names[NAT_UDP_COUNT] = {
	[NAT_UDP_OK] = "ok",
	[NAT_UDP_NO_RESPONSE] = "no-response",
	[NAT_UDP_ERROR] = "error",
};

static const char *const alloc_names[NAT_ALLOC_COUNT] = {
	[NAT_ALLOC_UNKNOWN] = "unknown",
	[NAT_ALLOC_PRESERVING] = "preserving",
	[NAT_ALLOC_SEQUENTIAL] = "sequential",
	[NAT_ALLOC_RANDOM] = "random",
};

static const char *const test_names[NAT_TEST_COUNT] = {
	[NAT_TEST_MAPPING] = "mapping",
	[NAT_TEST_FILTERING] = "filtering",
	[NAT_TEST_HAIRPIN] = "hairpin",
	[NAT_TEST_ALLOC] = "port-allocation",
};

static const char *const tri_words[NAT_TRI_COUNT] = { "unknown", "no", "yes" };
static const char *const tri_json[NAT_TRI_COUNT] = { "null", "false", "true" };

#define NAME(table, v) ((unsigned)(v) < BW_ARRAY_LEN(table) ? table[v] : "unknown")

const char *nat_type_name(enum nat_type t) { return NAME(type_names, t); }
const char *nat_behaviour_name(enum nat_behaviour b) { return NAME(behaviour_names, b); }
const char *nat_udp_name(enum nat_udp u) { return NAME(udp_names, u); }
const char *nat_alloc_name(enum nat_alloc a) { return NAME(alloc_names, a); }
const char *nat_test_name(enum nat_test t) { return NAME(test_names, t); }

/* An appending writer that remembers truncation. */
struct out {
	char *buf;
	size_t len, pos;
	bool truncated;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->truncated)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->len - o->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->pos) {
		o->truncated = true;
		return;
	}
	o->pos += (size_t)n;
}

static int out_init(struct out *o, char *buf, size_t len)
{
	o->buf = buf;
	o->len = len;
	o->pos = 0;
	o->truncated = false;
	if (len == 0)
		return BW_E_TOO_BIG;
	buf[0] = '\0';
	return 0;
}

static int out_done(const struct out *o)
{
	return o->truncated ? BW_E_TOO_BIG : 0;
}

static const char *addr(const struct sockaddr_storage *ss, char *buf)
{
	return bw_addr_format((const struct sockaddr *)ss, buf, BW_ADDR_STRLEN);
}

static void put_ports(struct out *o, enum nat_alloc alloc, int delta)
{
	if (alloc == NAT_ALLOC_SEQUENTIAL)
		put(o, "sequential, delta %+d (predictable)", delta);
	else if (alloc == NAT_ALLOC_RANDOM)
		put(o, "random (unpredictable)");
	else if (alloc == NAT_ALLOC_PRESERVING)
		put(o, "preserving (public port = local port)");
	else
		put(o, "unknown");
}

int nat_result_format_text(const struct nat_result *r, char *buf, size_t len)
{
	struct out o;
	char a[BW_ADDR_STRLEN], b[BW_ADDR_STRLEN];

	if (out_init(&o, buf, len) < 0)
		return BW_E_TOO_BIG;
	put(&o, "NAT type:     %s\n", NAME(type_words, r->type));
	if (r->udp != NAT_UDP_OK) {
		put(&o, "UDP:          %s\n", r->error);
	} else {
		put(&o, "UDP:          works (%s answered in %lld ms)\n", addr(&r->server, a),
		    (long long)r->rtt_ms);
		put(&o, "Address:      local %s, public %s (%s)\n", addr(&r->local, a),
		    addr(&r->mapped, b), r->nat == NAT_TRI_NO ? "no NAT" : "behind NAT");
		put(&o, "Mapping:      %s\n", NAME(behaviour_names, r->mapping));
		put(&o, "Filtering:    %s\n", NAME(behaviour_names, r->filtering));
		put(&o, "Ports:        ");
		put_ports(&o, r->alloc, r->port_delta);
		put(&o, "\nHairpinning:  %s\n", NAME(tri_words, r->hairpin));
	}
	for (int t = 0; t < NAT_TEST_COUNT; t++)
		if (r->untested & (1u << t))
			put(&o, "Not tested:   %s: %s\n", test_names[t], r->why[t]);
	put(&o, "Server:       %s", addr(&r->server, a));
	if (r->other.ss_family != AF_UNSPEC)
		put(&o, ", alternate %s (RFC 5780)", addr(&r->other, a));
	else if (r->udp == NAT_UDP_OK)
		put(&o, " (one address: no RFC 5780 tests)");
	put(&o, "\nProbe took:   %lld ms\n", (long long)r->elapsed_ms);
	return out_done(&o);
}

/* A JSON string; our strings are printable ASCII, but escape anyway. */
static void put_json_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static void put_json_addr(struct out *o, const char *key, const struct sockaddr_storage *ss)
{
	char a[BW_ADDR_STRLEN];

	put(o, ",\"%s\":", key);
	if (ss->ss_family == AF_UNSPEC)
		put(o, "null");
	else
		put_json_str(o, addr(ss, a));
}

int nat_result_format_json(const struct nat_result *r, char *buf, size_t len)
{
	struct out o;
	bool first = true;

	if (out_init(&o, buf, len) < 0)
		return BW_E_TOO_BIG;
	put(&o, "{\"nat_type\":\"%s\",\"udp\":\"%s\",\"nat\":%s", nat_type_name(r->type),
	    nat_udp_name(r->udp), NAME(tri_json, r->nat));
	put(&o, ",\"mapping\":\"%s\",\"filtering\":\"%s\"", nat_behaviour_name(r->mapping),
	    nat_behaviour_name(r->filtering));
	put(&o, ",\"port_preserving\":%s,\"port_allocation\":\"%s\",\"port_delta\":",
	    NAME(tri_json, r->port_preserving), nat_alloc_name(r->alloc));
	if (r->alloc == NAT_ALLOC_SEQUENTIAL)
		put(&o, "%d", r->port_delta);
	else
		put(&o, "null");
	put(&o, ",\"hairpin\":%s", NAME(tri_json, r->hairpin));
	put_json_addr(&o, "server", &r->server);
	put_json_addr(&o, "other_address", &r->other);
	put_json_addr(&o, "local", &r->local);
	put_json_addr(&o, "mapped", &r->mapped);
	put(&o, ",\"rtt_ms\":%lld,\"elapsed_ms\":%lld,\"untested\":[", (long long)r->rtt_ms,
	    (long long)r->elapsed_ms);
	for (int t = 0; t < NAT_TEST_COUNT; t++) {
		if (!(r->untested & (1u << t)))
			continue;
		put(&o, "%s{\"test\":\"%s\",\"reason\":", first ? "" : ",", test_names[t]);
		put_json_str(&o, r->why[t]);
		put(&o, "}");
		first = false;
	}
	put(&o, "],\"error\":");
	if (r->udp == NAT_UDP_OK)
		put(&o, "null");
	else
		put_json_str(&o, r->error);
	put(&o, "}");
	return out_done(&o);
}

void nat_report_from_result(const struct nat_result *r, struct nat_report *out)
{
	memset(out, 0, sizeof(*out));
	out->type = (uint8_t)r->type;
	out->udp = (uint8_t)r->udp;
	out->mapping = (uint8_t)r->mapping;
	out->filtering = (uint8_t)r->filtering;
	out->alloc = (uint8_t)r->alloc;
	out->hairpin = (uint8_t)r->hairpin;
	out->port_preserving = (uint8_t)r->port_preserving;
	out->untested = (uint8_t)(r->untested & ((1u << NAT_TEST_COUNT) - 1));
	out->port_delta = r->alloc == NAT_ALLOC_SEQUENTIAL ? (int16_t)r->port_delta : 0;
}

int nat_report_check(const struct nat_report *rep)
{
	if (rep->type >= NAT_TYPE_COUNT || rep->udp >= NAT_UDP_COUNT ||
	    rep->mapping >= NAT_BEH_COUNT || rep->filtering >= NAT_BEH_COUNT ||
	    rep->alloc >= NAT_ALLOC_COUNT || rep->hairpin >= NAT_TRI_COUNT ||
	    rep->port_preserving >= NAT_TRI_COUNT || rep->untested >> NAT_TEST_COUNT)
		return BW_E_RANGE;
	/* A delta only means something for sequential allocation. */
	if ((rep->alloc == NAT_ALLOC_SEQUENTIAL) !=
	    (rep->port_delta != 0 && rep->port_delta >= -NAT_SEQ_DELTA_MAX &&
	     rep->port_delta <= NAT_SEQ_DELTA_MAX))
		return BW_E_RANGE;
	return 0;
}

int nat_report_format(const struct nat_report *rep, char *buf, size_t len)
{
	struct out o;
	bool first = true;

	if (out_init(&o, buf, len) < 0)
		return BW_E_TOO_BIG;
	put(&o, "%s (udp %s, mapping %s, filtering %s, ports %s", NAME(type_names, rep->type),
	    NAME(udp_names, rep->udp), NAME(behaviour_names, rep->mapping),
	    NAME(behaviour_names, rep->filtering), NAME(alloc_names, rep->alloc));
	if (rep->alloc == NAT_ALLOC_SEQUENTIAL)
		put(&o, " %+d", rep->port_delta);
	put(&o, ", hairpin %s", NAME(tri_words, rep->hairpin));
	for (int t = 0; t < NAT_TEST_COUNT; t++) {
		if (rep->untested & (1u << t)) {
			put(&o, "%s%s", first ? "; untested: " : ", ", test_names[t]);
			first = false;
		}
	}
	put(&o, ")");
	return out_done(&o);
}
