/*
 * From what the probe saw to what the NAT is: a pure function, so that every
 * NAT type and every partial case is a row in a unit-test table. The rules
 * follow RFC 5780 section 4 (mapping tests I-III, filtering tests II-III) and
 * RFC 4787's vocabulary; the classic RFC 3489 name is derived last.
 */
#include "nat/nat_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

__attribute__((format(printf, 3, 4)))
static void untested(struct nat_result *r, enum nat_test t, const char *fmt, ...)
{
	va_list ap;

	r->untested |= 1u << t;
	va_start(ap, fmt);
	vsnprintf(r->why[t], sizeof(r->why[t]), fmt, ap);
	va_end(ap);
}

static const char *fmt_addr(const struct sockaddr_storage *ss, char *buf)
{
	return bw_addr_format((const struct sockaddr *)ss, buf, BW_ADDR_STRLEN);
}

/* Why a test to `dst` gave nothing usable. */
static void untested_sample(struct nat_result *r, enum nat_test t, const char *what,
			    const struct nat_sample *s, const struct sockaddr_storage *dst)
{
	char a[BW_ADDR_STRLEN];

	if (s->answer == NAT_ANS_ERROR && s->error == 0)
		untested(r, t, "%s: %s sent an unusable response", what, fmt_addr(dst, a));
	else if (s->answer == NAT_ANS_ERROR)
		untested(r, t, "%s: %s answered STUN error %d", what, fmt_addr(dst, a), s->error);
	else if (s->answer == NAT_ANS_NONE)
		untested(r, t, "%s: no answer from %s", what, fmt_addr(dst, a));
	else
		untested(r, t, "%s: not run", what);
}

static void classify_udp_failure(const struct nat_observations *obs, struct nat_result *r)
{
	const struct nat_sample *m1 = &obs->map[0];
	char a[BW_ADDR_STRLEN];
	const char *why;

	fmt_addr(&obs->server, a);
	r->type = m1->answer == NAT_ANS_ERROR ? NAT_TYPE_UNKNOWN : NAT_TYPE_UDP_BLOCKED;
	r->udp = m1->answer == NAT_ANS_ERROR ? NAT_UDP_ERROR : NAT_UDP_NO_RESPONSE;
	if (m1->answer == NAT_ANS_ERROR) {
		if (m1->error)
			snprintf(r->error, sizeof(r->error), "%s answered the Binding request "
				 "with STUN error %d", a, m1->error);
		else
			snprintf(r->error, sizeof(r->error), "%s answered the Binding request "
				 "with an unusable response", a);
		why = "the server refused the Binding request";
	} else {
		snprintf(r->error, sizeof(r->error), "no answer from %s after %d.%d s%s%s: "
			 "UDP blocked or server not answering STUN", a, obs->timeout_ms / 1000,
			 obs->timeout_ms % 1000 / 100, obs->send_errno ? ", send: " : "",
			 obs->send_errno ? strerror(obs->send_errno) : "");
		why = "no UDP response";
	}
	for (int t = 0; t < NAT_TEST_COUNT; t++)
		untested(r, (enum nat_test)t, "%s", why);
}

static void classify_mapping(const struct nat_observations *obs, struct nat_result *r)
{
	const struct nat_sample *m = obs->map;
	struct sockaddr_storage dst2;

	if (r->nat == NAT_TRI_NO) {
		/* Nothing translates: every destination sees the same address. */
		r->mapping = NAT_BEH_ENDPOINT_INDEPENDENT;
		return;
	}
	if (obs->other.ss_family == AF_UNSPEC) {
		untested(r, NAT_TEST_MAPPING, "address-dependent vs endpoint-independent "
			 "untested: server has one address (no OTHER-ADDRESS)");
		return;
	}
	dst2 = obs->other;
	nat_addr_set_port(&dst2, nat_addr_port(&obs->server));
	if (m[1].answer != NAT_ANS_OK) {
		untested_sample(r, NAT_TEST_MAPPING, "test II", &m[1], &dst2);
		return;
	}
	if (nat_addr_equal(&m[1].mapped, &m[0].mapped)) {
		r->mapping = NAT_BEH_ENDPOINT_INDEPENDENT;
		return;
	}
	if (m[2].answer != NAT_ANS_OK) {
		/* Dependent for sure (symmetric); which kind needs test III. */
		r->mapping = NAT_BEH_DEPENDENT;
		untested_sample(r, NAT_TEST_MAPPING, "test III (address vs address-and-port)",
				&m[2], &obs->other);
		return;
	}
	r->mapping = nat_addr_equal(&m[2].mapped, &m[1].mapped) ? NAT_BEH_ADDRESS_DEPENDENT
								 : NAT_BEH_ADDRESS_PORT_DEPENDENT;
}

static void classify_filtering(const struct nat_observations *obs, struct nat_result *r)
{
	const struct nat_sample *f = obs->filter;
	char a[BW_ADDR_STRLEN];

	if (obs->other.ss_family == AF_UNSPEC) {
		untested(r, NAT_TEST_FILTERING, "server has one address, so it cannot "
			 "answer from another (CHANGE-REQUEST)");
		return;
	}
	if (f[0].answer == NAT_ANS_OK) {
		r->filtering = NAT_BEH_ENDPOINT_INDEPENDENT;
		return;
	}
	if (f[0].answer == NAT_ANS_ERROR || f[1].answer == NAT_ANS_ERROR) {
		untested(r, NAT_TEST_FILTERING, "server refused CHANGE-REQUEST (STUN error %d)",
			 f[0].answer == NAT_ANS_ERROR ? f[0].error : f[1].error);
		return;
	}
	if (f[0].answer != NAT_ANS_NONE || f[1].answer == NAT_ANS_NOT_RUN) {
		untested(r, NAT_TEST_FILTERING, "not run");
		return;
	}
	/* Silence is the signal here, so it only counts if the alternate
	 * address is known to answer when asked directly (mapping test II). */
	if (obs->map[1].answer != NAT_ANS_OK) {
		untested(r, NAT_TEST_FILTERING, "no answer from the alternate address %s either: "
			 "filtering cannot be told from loss", fmt_addr(&obs->other, a));
		return;
	}
	r->filtering = f[1].answer == NAT_ANS_OK ? NAT_BEH_ADDRESS_DEPENDENT
						 : NAT_BEH_ADDRESS_PORT_DEPENDENT;
}

static int16_t port_diff(uint16_t next, uint16_t prev)
{
	return (int16_t)(uint16_t)(next - prev);
}

static void classify_ports(const struct nat_observations *obs, struct nat_result *r)
{
	const struct nat_sample *m1 = &obs->map[0];
	unsigned n_seq = obs->n_seq < NAT_SEQ_MAX ? obs->n_seq : NAT_SEQ_MAX;
	unsigned answered = 0, n_delta = 0;
	bool preserved = nat_addr_port(&m1->mapped) == nat_addr_port(&m1->local);
	bool same = true;
	int delta = 0;

	for (unsigned i = 0; i < n_seq; i++) {
		const struct nat_sample *s = &obs->seq[i];

		if (s->answer != NAT_ANS_OK)
			continue;
		answered++;
		if (nat_addr_port(&s->mapped) != nat_addr_port(&s->local))
			preserved = false;
		/* Only neighbours both answered: a lost sample still took a port. */
		if (i > 0 && obs->seq[i - 1].answer == NAT_ANS_OK) {
			int d = port_diff(nat_addr_port(&s->mapped),
					  nat_addr_port(&obs->seq[i - 1].mapped));
			if (n_delta > 0 && d != delta)
				same = false;
			delta = d;
			n_delta++;
		}
	}
	r->port_preserving = preserved ? NAT_TRI_YES : NAT_TRI_NO;
	if (preserved) {
		r->alloc = NAT_ALLOC_PRESERVING;
	} else if (n_delta < 2) {
		untested(r, NAT_TEST_ALLOC, "only %u of %u port samples answered", answered, n_seq);
	} else if (same && delta != 0 && delta >= -NAT_SEQ_DELTA_MAX &&
		   delta <= NAT_SEQ_DELTA_MAX) {
		r->alloc = NAT_ALLOC_SEQUENTIAL;
		r->port_delta = delta;
	} else {
		r->alloc = NAT_ALLOC_RANDOM;
	}
}

static enum nat_type classic_name(const struct nat_result *r)
{
	if (r->nat == NAT_TRI_NO)
		return r->filtering == NAT_BEH_ADDRESS_DEPENDENT ||
		       r->filtering == NAT_BEH_ADDRESS_PORT_DEPENDENT
		       ? NAT_TYPE_FIREWALL : NAT_TYPE_OPEN;
	switch (r->mapping) {
	case NAT_BEH_ADDRESS_DEPENDENT:
	case NAT_BEH_ADDRESS_PORT_DEPENDENT:
	case NAT_BEH_DEPENDENT:
		return NAT_TYPE_SYMMETRIC;
	case NAT_BEH_ENDPOINT_INDEPENDENT:
		switch (r->filtering) {
		case NAT_BEH_ENDPOINT_INDEPENDENT:
			return NAT_TYPE_FULL_CONE;
		case NAT_BEH_ADDRESS_DEPENDENT:
			return NAT_TYPE_RESTRICTED;
		case NAT_BEH_ADDRESS_PORT_DEPENDENT:
			return NAT_TYPE_PORT_RESTRICTED;
		default:
			return NAT_TYPE_UNKNOWN;
		}
	default:
		return NAT_TYPE_UNKNOWN;
	}
}

void nat_classify(const struct nat_observations *obs, struct nat_result *r)
{
	const struct nat_sample *m1 = &obs->map[0];

	memset(r, 0, sizeof(*r));
	r->server = obs->server;
	r->other = obs->other;
	r->local = m1->local;
	r->rtt_ms = obs->rtt_ms;
	r->elapsed_ms = obs->elapsed_ms;
	if (m1->answer != NAT_ANS_OK) {
		classify_udp_failure(obs, r);
		return;
	}
	r->udp = NAT_UDP_OK;
	r->mapped = m1->mapped;
	r->nat = nat_addr_equal(&m1->mapped, &m1->local) ? NAT_TRI_NO : NAT_TRI_YES;

	classify_mapping(obs, r);
	classify_filtering(obs, r);
	switch (obs->hairpin) {
	case NAT_ANS_OK:
		r->hairpin = NAT_TRI_YES;
		break;
	case NAT_ANS_NONE:
		r->hairpin = NAT_TRI_NO;
		break;
	default:
		untested(r, NAT_TEST_HAIRPIN, "not run");
		break;
	}
	classify_ports(obs, r);
	r->type = classic_name(r);
}
