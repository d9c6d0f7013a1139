/*
 * The vhost route table: frp's lookup order (exact, wildcard from the most
 * specific suffix, "*"), longest location prefix, Host normalisation,
 * conflicts with their message, all-or-nothing registration and removal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "relay/vhost.h"

/* Owners are just distinct addresses. */
static int web, api, wild, deep, all, sub, other;

static int add(struct relay_vhost *v, const char *name, void *owner, const char *domains,
	       const char *locations, char *err, size_t errlen)
{
	/* domains and locations: space-separated lists ("" = none). */
	char dbuf[512], lbuf[512];
	const char *d[16], *l[16];
	size_t nd = 0, nl = 0;
	struct relay_vhost_proxy p = {.name = name, .owner = owner};

	snprintf(dbuf, sizeof(dbuf), "%s", domains);
	snprintf(lbuf, sizeof(lbuf), "%s", locations);
	for (char *t = strtok(dbuf, " "); t; t = strtok(NULL, " "))
		d[nd++] = t;
	for (char *t = strtok(lbuf, " "); t; t = strtok(NULL, " "))
		l[nl++] = t;
	p.domains = d;
	p.n_domains = nd;
	p.locations = l;
	p.n_locations = nl;
	return relay_vhost_add_proxy(v, &p, err, errlen);
}

static struct relay_vhost *table(void)
{
	struct relay_vhost *v;
	char err[256];
	int rc;

	v = relay_vhost_new(true, &rc);
	assert_non_null(v);
	assert_int_equal(add(v, "web", &web, "www.example.com", "", err, sizeof(err)), 0);
	assert_int_equal(add(v, "api", &api, "www.example.com", "/api /api/v2", err, sizeof(err)),
			 0);
	assert_int_equal(add(v, "wild", &wild, "*.example.com", "", err, sizeof(err)), 0);
	assert_int_equal(add(v, "deep", &deep, "*.b.example.com", "", err, sizeof(err)), 0);
	return v;
}

static void *lookup(const struct relay_vhost *v, const char *host, const char *path)
{
	const struct relay_vhost_route *r = relay_vhost_lookup(v, host, path);

	return r ? r->owner : NULL;
}

static void test_relay_vhost_lookup_table(void **state)
{
	static const struct {
		const char *host, *path;
		void *want;
	} cases[] = {
		{"www.example.com", "/", &web},
		{"www.example.com", "/index.html", &web},
		{"www.example.com", "/api", &api},
		{"www.example.com", "/api/users", &api},
		{"www.example.com", "/apix", &api},          /* plain prefix, as frp */
		{"www.example.com", "/api/v2/x", &api},
		{"www.example.com", "/ap", &web},
		{"www.example.com", "/API", &web},           /* paths are case-sensitive */
		{"WWW.Example.COM", "/", &web},              /* hosts are not */
		{"www.example.com:8080", "/", &web},
		{"www.example.com.", "/", &web},
		{"www.example.com.:80", "/api", &api},
		{"www.example.com:", "/", &web},
		{"a.example.com", "/", &wild},
		{"x.a.example.com", "/", &wild},
		{"a.b.example.com", "/", &deep},             /* most specific wildcard */
		{"x.y.b.example.com", "/", &deep},
		{"b.example.com", "/", &wild},
		{"example.com", "/", NULL},                  /* "*." needs a label */
		{"www.example.org", "/", NULL},
		{"", "/", NULL},
		{"www.example.com", "*", &web},              /* OPTIONS * */
		{"www.example.com", NULL, &web},
		{"www.example.com:http", "/", NULL},         /* invalid host */
		{"www example.com", "/", NULL},
		{"[::1]:80", "/", NULL},
	};
	struct relay_vhost *v = table();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *got = lookup(v, cases[i].host, cases[i].path);

		if (got != cases[i].want)
			fail_msg("case %zu: %s %s", i, cases[i].host,
				 cases[i].path ? cases[i].path : "(null)");
	}
	assert_int_equal(relay_vhost_count(v), 5);
	relay_vhost_free(v);
}

static void test_relay_vhost_lookup_catch_all(void **state)
{
	struct relay_vhost *v = table();
	char err[256];

	assert_null(lookup(v, "nothing.test", "/"));
	assert_int_equal(add(v, "all", &all, "*", "", err, sizeof(err)), 0);
	assert_ptr_equal(lookup(v, "nothing.test", "/"), &all);
	assert_ptr_equal(lookup(v, "", "/"), &all);               /* HTTP/1.0, no Host */
	assert_ptr_equal(lookup(v, "www.example.com", "/api"), &api);
	assert_ptr_equal(lookup(v, "a.example.com", "/"), &wild);
	relay_vhost_free(v);
}

static void test_relay_vhost_lookup_exact_falls_through(void **state)
{
	/* An exact domain without a matching location falls through to the
	 * wildcard, as frp's getVhost does. */
	struct relay_vhost *v;
	char err[256];
	int rc;

	v = relay_vhost_new(true, &rc);
	assert_int_equal(add(v, "api", &api, "www.example.com", "/api", err, sizeof(err)), 0);
	assert_int_equal(add(v, "wild", &wild, "*.example.com", "", err, sizeof(err)), 0);
	assert_ptr_equal(lookup(v, "www.example.com", "/api/x"), &api);
	assert_ptr_equal(lookup(v, "www.example.com", "/other"), &wild);
	relay_vhost_free(v);
}

static void test_relay_vhost_add_proxy_duplicate(void **state)
{
	struct relay_vhost *v = table();
	char err[256];

	assert_int_equal(add(v, "web2", &other, "WWW.example.com", "/api", err, sizeof(err)),
			 BW_E_EXISTS);
	assert_string_equal(err, "domain www.example.com location /api already used by proxy \"api\"");
	/* "" and "/" are the same default route. */
	assert_int_equal(add(v, "web2", &other, "www.example.com.", "/", err, sizeof(err)),
			 BW_E_EXISTS);
	assert_string_equal(err, "domain www.example.com location / already used by proxy \"web\"");
	assert_int_equal(add(v, "web3", &other, "*.EXAMPLE.com", "", err, sizeof(err)), BW_E_EXISTS);
	assert_string_equal(err, "domain *.example.com location / already used by proxy \"wild\"");
	/* A new location on a taken domain is fine. */
	assert_int_equal(add(v, "web4", &other, "www.example.com", "/static", err, sizeof(err)), 0);
	assert_ptr_equal(lookup(v, "www.example.com", "/static/a.css"), &other);
	relay_vhost_free(v);
}

static void test_relay_vhost_add_proxy_all_or_nothing(void **state)
{
	struct relay_vhost *v = table();
	char err[256];
	size_t before = relay_vhost_count(v);

	/* new.example.com is free, www.example.com /api is not: neither stays. */
	assert_int_equal(add(v, "late", &other, "new.example.com www.example.com", "/x /api", err,
			     sizeof(err)),
			 BW_E_EXISTS);
	assert_int_equal(relay_vhost_count(v), before);
	assert_ptr_equal(lookup(v, "new.example.com", "/x"), &wild);
	assert_ptr_equal(lookup(v, "www.example.com", "/x"), &web);
	relay_vhost_free(v);
}

static void test_relay_vhost_add_proxy_subdomain(void **state)
{
	struct relay_vhost *v;
	struct relay_vhost_proxy p = {.name = "sub", .owner = &sub, .subdomain = "Blog",
				      .subdomain_host = "frps.com"};
	const char *custom[] = {"", "blog.example.org"};
	char err[256];
	int rc;

	v = relay_vhost_new(true, &rc);
	p.domains = custom;
	p.n_domains = 2;
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), 0);
	assert_ptr_equal(lookup(v, "blog.frps.com", "/"), &sub);
	assert_ptr_equal(lookup(v, "BLOG.FRPS.COM:80", "/x"), &sub);
	assert_ptr_equal(lookup(v, "blog.example.org", "/"), &sub);
	assert_int_equal(relay_vhost_count(v), 2);

	/* frp's rules for the server side. */
	p.owner = &other;
	p.n_domains = 0;
	p.subdomain = "a.b";
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), BW_E_CONF_VALUE);
	assert_non_null(strstr(err, "one label"));
	p.subdomain = "a*";
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), BW_E_CONF_VALUE);
	p.subdomain = "x";
	p.subdomain_host = NULL;
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), BW_E_CONF_VALUE);
	assert_string_equal(err, "subdomain is not supported: the server has no subDomainHost");
	p.subdomain = NULL;
	p.subdomain_host = "frps.com";
	custom[0] = "x.FRPS.com";
	p.n_domains = 1;
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), BW_E_CONF_VALUE);
	assert_non_null(strstr(err, "should not belong to subDomainHost frps.com"));
	custom[0] = "*.frps.com";
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), BW_E_CONF_VALUE);
	custom[0] = "frps.com";                      /* the host itself is allowed */
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), 0);
	custom[0] = "";
	p.owner = &all;
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), BW_E_INVAL);
	assert_string_equal(err, "customDomains and subdomain are both empty");
	assert_int_equal(relay_vhost_count(v), 3);
	relay_vhost_free(v);
}

static void test_relay_vhost_add_proxy_invalid(void **state)
{
	static const struct {
		const char *domains, *locations;
	} bad[] = {
		{"a..example.com", ""}, {".example.com", ""}, {"ex!ample.com", ""},
		{"a.*.example.com", ""}, {"**.example.com", ""}, {"exa/mple.com", ""},
		{"*.*", ""}, {"www.example.com", "api"}, {"www.example.com", "/a\x01"},
	};
	struct relay_vhost *v;
	char err[256];
	int rc;

	v = relay_vhost_new(true, &rc);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = add(v, "bad", &other, bad[i].domains, bad[i].locations, err, sizeof(err));
		if (rc != BW_E_CONF_VALUE)
			fail_msg("case %zu: %d", i, rc);
	}
	assert_int_equal(relay_vhost_count(v), 0);
	relay_vhost_free(v);
}

static void test_relay_vhost_remove_owner(void **state)
{
	struct relay_vhost *v = table();
	char err[256];

	assert_int_equal(relay_vhost_remove_owner(v, &api), 2);
	assert_ptr_equal(lookup(v, "www.example.com", "/api/v2"), &web);
	assert_int_equal(relay_vhost_remove_owner(v, &web), 1);
	assert_ptr_equal(lookup(v, "www.example.com", "/"), &wild);
	assert_int_equal(relay_vhost_remove_owner(v, &web), 0);
	/* The names are free again. */
	assert_int_equal(add(v, "web2", &other, "www.example.com", "/api", err, sizeof(err)), 0);
	assert_int_equal(relay_vhost_count(v), 3);
	relay_vhost_free(v);
	relay_vhost_free(NULL);
}

static void test_relay_vhost_https_by_name(void **state)
{
	struct relay_vhost *v;
	struct relay_vhost_proxy p = {.name = "tls", .owner = &web, .user = "u", .password = "p"};
	const char *d[] = {"secure.example.com"};
	const char *l[] = {"/ignored"};
	const struct relay_vhost_route *r;
	char err[256];
	int rc;

	v = relay_vhost_new(false, &rc);
	p.domains = d;
	p.n_domains = 1;
	p.locations = l;
	p.n_locations = 1;
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), 0);
	r = relay_vhost_lookup(v, "Secure.Example.com", NULL);
	assert_non_null(r);
	assert_string_equal(r->location, "/");
	assert_null(r->user);      /* no basic auth on https */
	p.owner = &other;
	p.name = "tls2";
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), BW_E_EXISTS);
	assert_string_equal(err, "domain secure.example.com already used by proxy \"tls\"");
	relay_vhost_free(v);
}

static void test_relay_vhost_route_auth_fields(void **state)
{
	struct relay_vhost *v;
	struct relay_vhost_proxy p = {.name = "web", .owner = &web, .user = "alice",
				      .password = "s3cret"};
	const char *d[] = {"www.example.com"};
	const struct relay_vhost_route *r;
	char err[256];
	int rc;

	v = relay_vhost_new(true, &rc);
	p.domains = d;
	p.n_domains = 1;
	assert_int_equal(relay_vhost_add_proxy(v, &p, err, sizeof(err)), 0);
	r = relay_vhost_lookup(v, "www.example.com", "/");
	assert_string_equal(r->user, "alice");
	assert_string_equal(r->password, "s3cret");
	assert_string_equal(r->owner_name, "web");
	assert_string_equal(r->domain, "www.example.com");
	relay_vhost_free(v);
}

static void test_relay_vhost_host_canon_table(void **state)
{
	static const struct {
		const char *in;
		const char *want;   /* NULL: malformed */
	} cases[] = {
		{"Example.COM", "example.com"}, {"example.com:443", "example.com"},
		{"example.com.", "example.com"}, {"example.com:", "example.com"},
		{"[2001:DB8::1]:8080", "[2001:db8::1]"}, {"[::1]", "[::1]"},
		{"127.0.0.1:80", "127.0.0.1"}, {"", ""}, {"my_host", "my_host"},
		{"example.com:123456", NULL}, {"example.com:8o", NULL}, {"a:b:c", NULL},
		{"[::1", NULL}, {"[::1]x", NULL}, {"[::g]", NULL}, {"exa mple", NULL},
		{"a/b", NULL}, {"user@host", NULL}, {"h\xc3\xa9", NULL},
	};
	char out[RELAY_VHOST_HOST_MAX + 1], big[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = relay_vhost_host_canon(cases[i].in, strlen(cases[i].in), out, sizeof(out));

		if (cases[i].want == NULL) {
			if (n != BW_E_HTTP_MALFORMED)
				fail_msg("case %zu (%s): %d", i, cases[i].in, n);
		} else if (n < 0 || strcmp(out, cases[i].want) != 0) {
			fail_msg("case %zu (%s): %d %s", i, cases[i].in, n, out);
		}
	}
	memset(big, 'a', sizeof(big));
	assert_int_equal(relay_vhost_host_canon(big, 253, out, sizeof(out)), 253);
	assert_int_equal(relay_vhost_host_canon(big, 254, out, sizeof(out)), BW_E_HTTP_MALFORMED);
	assert_int_equal(relay_vhost_host_canon(big, 3, out, 10), BW_E_INVAL);
}

static void test_relay_vhost_lookup_many(void **state)
{
	enum { N = 2000 };
	static char owners[N];
	struct relay_vhost *v;
	char err[256], name[64];
	int rc;

	v = relay_vhost_new(true, &rc);
	for (int i = N - 1; i >= 0; i--) {
		snprintf(name, sizeof(name), "h%d.example.net", (i * 7919) % N);
		assert_int_equal(add(v, name, &owners[i], name, "/ /a", err, sizeof(err)), 0);
	}
	assert_int_equal(relay_vhost_count(v), 2 * N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "H%d.example.net:80", (i * 7919) % N);
		assert_ptr_equal(lookup(v, name, "/a/b"), &owners[i]);
	}
	for (int i = 0; i < N; i += 2)
		assert_int_equal(relay_vhost_remove_owner(v, &owners[i]), 2);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "h%d.example.net", (i * 7919) % N);
		assert_ptr_equal(lookup(v, name, "/"), i % 2 ? &owners[i] : NULL);
	}
	relay_vhost_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_vhost_lookup_table),
		cmocka_unit_test(test_relay_vhost_lookup_catch_all),
		cmocka_unit_test(test_relay_vhost_lookup_exact_falls_through),
		cmocka_unit_test(test_relay_vhost_add_proxy_duplicate),
		cmocka_unit_test(test_relay_vhost_add_proxy_all_or_nothing),
		cmocka_unit_test(test_relay_vhost_add_proxy_subdomain),
		cmocka_unit_test(test_relay_vhost_add_proxy_invalid),
		cmocka_unit_test(test_relay_vhost_remove_owner),
		cmocka_unit_test(test_relay_vhost_https_by_name),
		cmocka_unit_test(test_relay_vhost_route_auth_fields),
		cmocka_unit_test(test_relay_vhost_host_canon_table),
		cmocka_unit_test(test_relay_vhost_lookup_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
