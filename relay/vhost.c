/*
 * The virtual-host route table of one vhost port, with frp's routing rules
 * (pkg/util/vhost/router.go and http.go getVhost): a Host is tried as is,
 * then as wildcards from the most specific suffix while at least two labels
 * remain ("a.b.example.com" tries "*.b.example.com", then "*.example.com",
 * never "*.com"), then "*". Within a domain the longest location that is a
 * plain string prefix of the path wins, so "/api" also takes "/apix".
 *
 * Domains are kept in an array sorted by name (binary search); each holds its
 * few routes in a small array scanned for the longest prefix. Tables hold at
 * most a few thousand routes, and registration is rare next to lookups.
 */
#include "relay/vhost.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/err.h"

struct dom {
	char *name;
	struct relay_vhost_route **r;
	size_t n;
};

struct relay_vhost {
	bool with_locations;
	struct dom *doms;        /* sorted by name */
	size_t n, cap;
	size_t n_routes;
};

struct relay_vhost *relay_vhost_new(bool with_locations, int *rc)
{
	struct relay_vhost *v = calloc(1, sizeof(*v));

	if (!v) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	v->with_locations = with_locations;
	*rc = 0;
	return v;
}

static void route_free(struct relay_vhost_route *r)
{
	if (!r)
		return;
	if (r->password) {
		sodium_memzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->user);
	free(r->domain);
	free(r->location);
	free(r->owner_name);
	free(r);
}

void relay_vhost_free(struct relay_vhost *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		for (size_t j = 0; j < v->doms[i].n; j++)
			route_free(v->doms[i].r[j]);
		free(v->doms[i].r);
		free(v->doms[i].name);
	}
	free(v->doms);
	free(v);
}

size_t relay_vhost_count(const struct relay_vhost *v)
{
	return v->n_routes;
}

/* Index of name in v->doms, or -(insertion point) - 1. */
static long dom_find(const struct relay_vhost *v, const char *name)
{
	size_t lo = 0, hi = v->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, v->doms[mid].name);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -(long)lo - 1;
}

static bool host_char(int c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.';
}

int relay_vhost_host_canon(const char *in, size_t len, char *out, size_t outsz)
{
	size_t hl = len, o = 0;
	const char *port = NULL;

	if (outsz <= RELAY_VHOST_HOST_MAX)
		return BW_E_INVAL;
	if (len > 0 && in[0] == '[') {
		/* An IPv6 literal: the brackets stay, a port may follow. */
		const char *close = memchr(in, ']', len);

		if (!close)
			return BW_E_HTTP_MALFORMED;
		hl = (size_t)(close - in) + 1;
		for (size_t i = 1; i + 1 < hl; i++)
			if (!isxdigit((unsigned char)in[i]) && in[i] != ':' && in[i] != '.')
				return BW_E_HTTP_MALFORMED;
		if (hl < len) {
			if (in[hl] != ':')
				return BW_E_HTTP_MALFORMED;
			port = in + hl + 1;
		}
	} else {
		const char *colon = memchr(in, ':', len);

		if (colon) {
			hl = (size_t)(colon - in);
			port = colon + 1;
		}
		for (size_t i = 0; i < hl; i++)
			if (!host_char((unsigned char)in[i]))
				return BW_E_HTTP_MALFORMED;
		if (hl > 0 && in[hl - 1] == '.')
			hl--;        /* "example.com." names the same host */
	}
	if (port) {
		/* An empty port is allowed (RFC 3986 3.2.3); otherwise digits. */
		size_t pl = (size_t)(in + len - port);

		if (pl > 5)
			return BW_E_HTTP_MALFORMED;
		for (size_t i = 0; i < pl; i++)
			if (!isdigit((unsigned char)port[i]))
				return BW_E_HTTP_MALFORMED;
	}
	if (hl > RELAY_VHOST_HOST_MAX)
		return BW_E_HTTP_MALFORMED;
	for (o = 0; o < hl; o++)
		out[o] = (char)tolower((unsigned char)in[o]);
	out[o] = '\0';
	return (int)o;
}

/* A registered domain: "name", "*.name" or "*", labels of [a-z0-9_-]. */
static int domain_canon(const char *in, char *out, char *err, size_t errlen)
{
	size_t len = strlen(in), start = 0;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 1 && in[0] == '*') {
		strcpy(out, "*");
		return 0;
	}
	if (len >= 2 && in[0] == '*' && in[1] == '.')
		start = 2;
	if (len == start || len > RELAY_VHOST_HOST_MAX)
		goto bad;
	for (size_t i = start; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '.' ? (i == start || in[i - 1] == '.' || i + 1 == len)
			     : !(isalnum(c) || c == '-' || c == '_'))
			goto bad;
	}
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	return 0;
bad:
	snprintf(err, errlen, "invalid domain \"%.*s\"", 64, in);
	return BW_E_CONF_VALUE;
}

static bool location_valid(const char *loc)
{
	size_t len = strlen(loc);

	if (len == 0 || len > RELAY_VHOST_LOCATION_MAX || loc[0] != '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)loc[i] <= ' ' || loc[i] == 0x7f)
			return false;
	return true;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* Add one route; on BW_E_EXISTS *clash is the route holding the pair. */
static int route_add(struct relay_vhost *v, const char *domain, const char *location,
		     const struct relay_vhost_proxy *p, const struct relay_vhost_route **clash)
{
	long at = dom_find(v, domain);
	struct dom *d;
	struct relay_vhost_route *r, **nr;
	bool oom = false;

	if (at >= 0) {
		d = &v->doms[at];
		for (size_t i = 0; i < d->n; i++) {
			if (strcmp(d->r[i]->location, location) == 0) {
				*clash = d->r[i];
				return BW_E_EXISTS;
			}
		}
	} else {
		size_t pos = (size_t)(-at - 1);

		if (v->n == v->cap) {
			size_t cap = v->cap ? v->cap * 2 : 8;
			struct dom *nd = realloc(v->doms, cap * sizeof(*nd));

			if (!nd)
				return BW_E_NOMEM;
			v->doms = nd;
			v->cap = cap;
		}
		memmove(&v->doms[pos + 1], &v->doms[pos], (v->n - pos) * sizeof(*v->doms));
		d = &v->doms[pos];
		memset(d, 0, sizeof(*d));
		d->name = strdup(domain);
		v->n++;
		if (!d->name)
			goto nomem;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		goto nomem;
	r->domain = strdup(domain);
	r->location = strdup(location);
	r->owner_name = strdup(p->name ? p->name : "");
	r->user = v->with_locations ? dup_or_null(p->user, &oom) : NULL;
	r->password = v->with_locations ? dup_or_null(p->password, &oom) : NULL;
	r->owner = p->owner;
	nr = realloc(d->r, (d->n + 1) * sizeof(*nr));
	if (oom || !r->domain || !r->location || !r->owner_name || !nr) {
		if (nr)
			d->r = nr;
		route_free(r);
		goto nomem;
	}
	d->r = nr;
	d->r[d->n++] = r;
	v->n_routes++;
	return 0;
nomem:
	/* A domain just created stays empty; relay_vhost_remove_owner (the
	 * caller's rollback) drops empty domains. */
	return BW_E_NOMEM;
}

static void dom_drop_empty(struct relay_vhost *v)
{
	size_t o = 0;

	for (size_t i = 0; i < v->n; i++) {
		if (v->doms[i].n == 0) {
			free(v->doms[i].r);
			free(v->doms[i].name);
			continue;
		}
		v->doms[o++] = v->doms[i];
	}
	v->n = o;
}

size_t relay_vhost_remove_owner(struct relay_vhost *v, const void *owner)
{
	size_t removed = 0;

	for (size_t i = 0; i < v->n; i++) {
		struct dom *d = &v->doms[i];
		size_t o = 0;

		for (size_t j = 0; j < d->n; j++) {
			if (d->r[j]->owner == owner) {
				route_free(d->r[j]);
				removed++;
				continue;
			}
			d->r[o++] = d->r[j];
		}
		d->n = o;
	}
	dom_drop_empty(v);
	v->n_routes -= removed;
	return removed;
}

/* True when domain lies under subhost, wildcards included (frp refuses such
 * custom domains: those names belong to subdomains). Both are canonical. */
static bool under_subhost(const char *domain, const char *subhost)
{
	size_t dl = strlen(domain), sl = strlen(subhost);

	return dl > sl && domain[dl - sl - 1] == '.' && strcmp(domain + dl - sl, subhost) == 0;
}

static int add_domain(struct relay_vhost *v, const struct relay_vhost_proxy *p, const char *dom,
		      const char *const *locs, size_t n_locs, char *err, size_t errlen)
{
	static const char *const root[] = {"/"};
	const struct relay_vhost_route *clash = NULL;

	if (n_locs == 0) {
		locs = root;
		n_locs = 1;
	}
	for (size_t i = 0; i < n_locs; i++) {
		/* frp registers "" when no location is given; here "" and "/"
		 * are the same default route, so two proxies cannot both claim
		 * a whole domain. */
		const char *loc = locs[i][0] ? locs[i] : "/";
		int rc;

		if (!location_valid(loc)) {
			snprintf(err, errlen, "invalid location \"%.*s\": a path starting with \"/\"",
				 64, locs[i]);
			return BW_E_CONF_VALUE;
		}
		rc = route_add(v, dom, loc, p, &clash);
		if (rc == BW_E_EXISTS) {
			if (v->with_locations)
				snprintf(err, errlen, "domain %s location %s already used by proxy \"%s\"",
					 dom, loc, clash->owner_name);
			else
				snprintf(err, errlen, "domain %s already used by proxy \"%s\"", dom,
					 clash->owner_name);
		} else if (rc < 0) {
			snprintf(err, errlen, "%s", bw_strerror(rc));
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_all(struct relay_vhost *v, const struct relay_vhost_proxy *p, char *err,
		   size_t errlen)
{
	char dom[RELAY_VHOST_HOST_MAX + 1], subhost[RELAY_VHOST_HOST_MAX + 1] = "";
	const char *const *locs = v->with_locations ? p->locations : NULL;
	size_t n_locs = v->with_locations ? p->n_locations : 0, added = 0;
	int rc;

	if (p->subdomain_host && *p->subdomain_host) {
		rc = domain_canon(p->subdomain_host, subhost, err, errlen);
		if (rc < 0 || subhost[0] == '*')
			return BW_E_CONF_VALUE;
	}
	for (size_t i = 0; i < p->n_domains; i++) {
		if (!p->domains[i] || !p->domains[i][0])
			continue;   /* frp skips empty entries */
		rc = domain_canon(p->domains[i], dom, err, errlen);
		if (rc < 0)
			return rc;
		if (subhost[0] && under_subhost(dom, subhost)) {
			snprintf(err, errlen,
				 "custom domain %s should not belong to subDomainHost %s (use subdomain)",
				 dom, subhost);
			return BW_E_CONF_VALUE;
		}
		rc = add_domain(v, p, dom, locs, n_locs, err, errlen);
		if (rc < 0)
			return rc;
		added++;
	}
	if (p->subdomain && *p->subdomain) {
		size_t sl = strlen(p->subdomain);

		if (!subhost[0]) {
			snprintf(err, errlen, "subdomain is not supported: the server has no subDomainHost");
			return BW_E_CONF_VALUE;
		}
		if (strchr(p->subdomain, '.') || strchr(p->subdomain, '*') ||
		    sl + 1 + strlen(subhost) > RELAY_VHOST_HOST_MAX) {
			snprintf(err, errlen, "subdomain \"%.*s\": one label, without '.' or '*'", 64,
				 p->subdomain);
			return BW_E_CONF_VALUE;
		}
		memcpy(dom, p->subdomain, sl);
		dom[sl] = '.';
		strcpy(dom + sl + 1, subhost);
		rc = domain_canon(dom, dom, err, errlen);
		if (rc < 0)
			return rc;
		rc = add_domain(v, p, dom, locs, n_locs, err, errlen);
		if (rc < 0)
			return rc;
		added++;
	}
	if (added == 0) {
		snprintf(err, errlen, "customDomains and subdomain are both empty");
		return BW_E_INVAL;
	}
	return 0;
}

int relay_vhost_add_proxy(struct relay_vhost *v, const struct relay_vhost_proxy *p, char *err,
			  size_t errlen)
{
	int rc = add_all(v, p, err, errlen);

	if (rc < 0)
		relay_vhost_remove_owner(v, p->owner);
	return rc;
}

/* Longest location of domain name that prefixes path. */
static const struct relay_vhost_route *dom_match(const struct relay_vhost *v, const char *name,
						 const char *path)
{
	long at = dom_find(v, name);
	const struct relay_vhost_route *best = NULL;
	size_t best_len = 0;

	if (at < 0)
		return NULL;
	for (size_t i = 0; i < v->doms[at].n; i++) {
		const struct relay_vhost_route *r = v->doms[at].r[i];
		size_t l = strlen(r->location);

		if (l > best_len && strncmp(path, r->location, l) == 0) {
			best = r;
			best_len = l;
		}
	}
	return best;
}

const struct relay_vhost_route *relay_vhost_lookup(const struct relay_vhost *v, const char *host,
						   const char *path)
{
	char name[RELAY_VHOST_HOST_MAX + 1], wild[RELAY_VHOST_HOST_MAX + 3];
	const struct relay_vhost_route *r;
	const char *s;
	size_t labels = 1;

	if (!host || relay_vhost_host_canon(host, strlen(host), name, sizeof(name)) < 0)
		return NULL;
	/* Requests whose target is not a path ("OPTIONS *") go to the
	 * domain's default route. */
	if (!path || path[0] != '/')
		path = "/";
	if (name[0] && (r = dom_match(v, name, path)) != NULL)
		return r;
	for (s = name; *s; s++)
		labels += *s == '.';
	for (s = name; name[0] && labels >= 3; labels--) {
		s = strchr(s, '.') + 1;
		snprintf(wild, sizeof(wild), "*.%s", s);
		if ((r = dom_match(v, wild, path)) != NULL)
			return r;
	}
	return dom_match(v, "*", path);
}
