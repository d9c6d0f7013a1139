/*
 * ICE candidate lines: the strict reader of what the peer trickles through
 * burrowd. libnice's own reader (nice_agent_parse_remote_candidate_sdp)
 * ignores unknown tokens and reads numbers with strtoull unchecked, so a
 * remote party could slip anything past it; this one accepts exactly the
 * form ice.c writes and nothing else.
 *
 *   candidate:<foundation> 1 UDP <priority> <addr> <port> typ <type>
 *             [raddr <addr> rport <port>]
 */
#include "peer/ice.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"

static const char *const type_names[] = { "host", "srflx", "prflx", "relay" };

const char *peer_ice_type_name(enum peer_ice_type t)
{
	if ((unsigned)t >= sizeof(type_names) / sizeof(type_names[0]))
		return "?";
	return type_names[t];
}

/* A cursor over the line: next() cuts the token up to the next single space. */
struct cursor {
	const char *p, *end;
};

static int next(struct cursor *c, const char **tok, size_t *len)
{
	const char *s = c->p, *sp;

	if (s >= c->end)
		return -1;
	sp = memchr(s, ' ', (size_t)(c->end - s));
	if (!sp)
		sp = c->end;
	if (sp == s)
		return -1;               /* empty token: double or leading space */
	*tok = s;
	*len = (size_t)(sp - s);
	if (sp < c->end) {
		if (sp + 1 == c->end)
			return -1;       /* trailing space */
		c->p = sp + 1;
	} else {
		c->p = sp;
	}
	return 0;
}

static bool tok_is(const char *tok, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(tok, word, len) == 0;
}

/* Decimal, no sign, no leading zero (except "0"), at most max. */
static int read_uint(const char *tok, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;

	if (len == 0 || len > 10 || (len > 1 && tok[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		n = n * 10 + (uint64_t)(tok[i] - '0');
	}
	if (n > max)
		return -1;
	*v = n;
	return 0;
}

static int read_addr(const char *tok, size_t len, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (memchr(buf, ':', len)) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		return inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	return inet_pton(AF_INET, buf, &s4->sin_addr) == 1 ? 0 : -1;
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* Nobody can be reached at an unspecified or multicast address. */
static bool addr_usable(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_MULTICAST(a);
	}
	uint32_t a = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);

	return a != 0 && a != 0xffffffffu && (a >> 28) != 0xe;
}

static bool ice_chars(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
			return false;
	}
	return true;
}

int peer_ice_cand_parse(const char *line, size_t len, struct peer_ice_cand *c)
{
	static const char prefix[] = "candidate:";
	struct cursor cur;
	const char *tok;
	size_t tl;
	uint64_t v;
	int t;

	if (!line || !c)
		return BW_E_INVAL;
	if (len > PEER_ICE_LINE_MAX || len < sizeof(prefix) - 1 ||
	    memcmp(line, prefix, sizeof(prefix) - 1) != 0 || memchr(line, '\0', len))
		return BW_E_ICE_CANDIDATE;
	memset(c, 0, sizeof(*c));
	cur.p = line + sizeof(prefix) - 1;
	cur.end = line + len;

	if (next(&cur, &tok, &tl) || tl >= sizeof(c->foundation) || !ice_chars(tok, tl))
		return BW_E_ICE_CANDIDATE;
	memcpy(c->foundation, tok, tl);
	if (next(&cur, &tok, &tl) || !tok_is(tok, tl, "1"))
		return BW_E_ICE_CANDIDATE;          /* one component: a datagram path */
	if (next(&cur, &tok, &tl) || tl != 3 || strncasecmp(tok, "UDP", 3) != 0)
		return BW_E_ICE_CANDIDATE;          /* ICE-TCP is off */
	if (next(&cur, &tok, &tl) || read_uint(tok, tl, UINT32_MAX, &v) || v == 0)
		return BW_E_ICE_CANDIDATE;
	c->priority = (uint32_t)v;
	if (next(&cur, &tok, &tl) || read_addr(tok, tl, &c->addr) || !addr_usable(&c->addr))
		return BW_E_ICE_CANDIDATE;
	if (next(&cur, &tok, &tl) || read_uint(tok, tl, 65535, &v) || v == 0)
		return BW_E_ICE_CANDIDATE;
	set_port(&c->addr, (uint16_t)v);
	if (next(&cur, &tok, &tl) || !tok_is(tok, tl, "typ") || next(&cur, &tok, &tl))
		return BW_E_ICE_CANDIDATE;
	for (t = 0; t < 4; t++)
		if (tok_is(tok, tl, type_names[t]))
			break;
	if (t == 4)
		return BW_E_ICE_CANDIDATE;
	c->type = (enum peer_ice_type)t;
	if (cur.p == cur.end)
		return 0;

	/* raddr and rport, both or neither; a host candidate has no base. */
	if (c->type == PEER_ICE_HOST)
		return BW_E_ICE_CANDIDATE;
	if (next(&cur, &tok, &tl) || !tok_is(tok, tl, "raddr") || next(&cur, &tok, &tl) ||
	    read_addr(tok, tl, &c->raddr))
		return BW_E_ICE_CANDIDATE;
	if (next(&cur, &tok, &tl) || !tok_is(tok, tl, "rport") || next(&cur, &tok, &tl) ||
	    read_uint(tok, tl, 65535, &v))
		return BW_E_ICE_CANDIDATE;
	set_port(&c->raddr, (uint16_t)v);
	c->has_raddr = true;
	if (cur.p != cur.end)
		return BW_E_ICE_CANDIDATE;          /* extensions are refused */
	return 0;
}
