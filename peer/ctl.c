/*
 * burrow's control connection: connect, handshake keyed by the token, LOGIN,
 * heartbeats, and reconnection with capped exponential backoff and jitter.
 */
#include "peer/peer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "proto/chan.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000

static const char *const ctl_state_names[] = { "idle", "connecting", "handshake", "logged in" };

const char *peer_ctl_state_name(enum peer_ctl_state st)
{
	return (unsigned)st < BW_ARRAY_LEN(ctl_state_names) ? ctl_state_names[st] : "?";
}

enum peer_ctl_state peer_ctl_state(const struct peer *p)
{
	return p->ctl_state;
}

static void ctl_state_set(struct peer *p, enum peer_ctl_state next)
{
	log_debug("peer: control %s -> %s", peer_ctl_state_name(p->ctl_state),
		  peer_ctl_state_name(next));
	p->ctl_state = next;
}

static void ctl_teardown(struct peer *p)
{
	peer_nat_stop(p);
	proto_chan_free(p->ctl);
	p->ctl = NULL;
	bw_crypto_hs_free(p->hs);
	p->hs = NULL;
	if (p->heartbeat)
		evtimer_del(p->heartbeat);
}

/* Next delay: doubles from 1 s up to 30 s, with +-20% jitter so that many
 * clients cut off together do not come back in lockstep. */
static int backoff_next_ms(struct peer *p)
{
	int base = p->backoff_ms ? p->backoff_ms : BACKOFF_FIRST_MS;
	int jitter = (int)randombytes_uniform((uint32_t)(base * 2 / 5 + 1)) - base / 5;

	p->backoff_ms = base * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base * 2;
	return base + jitter;
}

/* peer_stop's end: the output drained, the connection failed, or the
 * deadline passed. */
static void ctl_stopped(struct peer *p)
{
	evtimer_del(p->retry);
	ctl_teardown(p);
	ctl_state_set(p, PEER_CTL_IDLE);
	log_debug("burrow: control connection closed (stopped)");
	if (p->hooks.stopped)
		p->hooks.stopped(p->hooks.arg);
}

/* The one place a control connection ends: log once, then exit or retry. */
static void ctl_failed(struct peer *p, int rc, const char *why)
{
	int was_logged_in = p->ctl_state == PEER_CTL_LOGGED_IN;
	struct timeval tv;
	int ms;

	if (p->stopping) {
		ctl_stopped(p); /* BW_E_CLOSED once flushed, or any error */
		return;
	}
	ctl_teardown(p);
	ctl_state_set(p, PEER_CTL_IDLE);
	if (!p->ever_logged_in && p->conf->login_fail_exit) {
		log_error("burrow: login to %s:%u failed: %s; exiting (loginFailExit)",
			  p->conf->server_addr, p->conf->server_port, why);
		p->hooks.fatal(p->hooks.arg, rc);
		return;
	}
	ms = backoff_next_ms(p);
	if (was_logged_in)
		log_warn("burrow: connection to %s:%u lost: %s; reconnecting in %.1f s",
			 p->conf->server_addr, p->conf->server_port, why, ms / 1000.0);
	else
		log_warn("burrow: login to %s:%u failed: %s; retrying in %.1f s",
			 p->conf->server_addr, p->conf->server_port, why, ms / 1000.0);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(p->retry, &tv);
}

static void on_connect(struct proto_chan *ch, void *arg)
{
	struct peer *p = arg;
	struct proto_msg m = { .type = PROTO_MSG_HELLO };
	uint8_t suites[BW_CRYPTO_SUITES_MAX], prologue[PROTO_HELLO_PROLOGUE_MAX];
	uint64_t suite_ids[BW_CRYPTO_SUITES_MAX];
	uint8_t msg1[PROTO_HS_MAX];
	size_t n = bw_crypto_suites_local(suites), len;
	int rc;

	for (size_t i = 0; i < n; i++)
		suite_ids[i] = suites[i];
	m.hello.ver_min = PROTO_VERSION_MIN;
	m.hello.ver_max = PROTO_VERSION_MAX;
	m.hello.suites.v = suite_ids;
	m.hello.suites.n = n;
	p->hs = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, p->psk, prologue,
				 proto_hello_prologue(&m.hello, prologue), &rc);
	if (p->hs)
		rc = bw_crypto_hs_write_msg1(p->hs, NULL, 0, msg1, sizeof(msg1), &len);
	if (rc == 0) {
		m.hello.hs.data = msg1;
		m.hello.hs.len = len;
		rc = proto_chan_send(ch, &m, NULL);
	}
	if (rc < 0) {
		ctl_failed(p, rc, bw_strerror(rc));
		return;
	}
	ctl_state_set(p, PEER_CTL_HANDSHAKE);
}

static int on_hello_reply(struct peer *p, const struct proto_hello_reply *r)
{
	struct proto_msg login = { .type = PROTO_MSG_LOGIN };
	struct bw_crypto_session *s = NULL;
	struct utsname uts;
	char host[PROTO_HOSTNAME_MAX + 1] = "";
	uint8_t payload[8];
	size_t plen;
	int rc;

	rc = bw_crypto_hs_read_msg2(p->hs, r->hs.data, r->hs.len, payload, sizeof(payload), &plen);
	if (rc == BW_E_AUTH_FAILED) {
		ctl_failed(p, BW_E_WRONG_TOKEN,
			   "authentication failed: the server does not know our token (wrong token)");
		return 1;
	}
	/* The authenticated copies of the server's choice must match the
	 * plaintext ones: anything else was changed in flight. */
	if (rc == 0 && (bw_crypto_hs_suite(p->hs) != (int)r->suite || plen != 1 ||
			payload[0] != r->ver))
		rc = BW_E_AUTH_FAILED;
	if (rc == 0)
		rc = bw_crypto_hs_split(p->hs, BW_CRYPTO_STREAM, &s);
	if (rc < 0) {
		ctl_failed(p, rc, bw_strerror(rc));
		return 1;
	}
	bw_crypto_hs_free(p->hs);
	p->hs = NULL;
	proto_chan_set_session(p->ctl, s);
	proto_chan_set_state(p->ctl, PROTO_STATE_HANDSHAKE);

	gethostname(host, sizeof(host) - 1);
	uname(&uts);
	login.login.version = BW_VERSION;
	login.login.user = p->conf->user ? p->conf->user : "";
	login.login.run_id = p->run_id;
	login.login.hostname = host;
	login.login.os = "linux";
	login.login.arch = uts.machine;
	login.login.pool_count = (uint64_t)(p->conf->pool_count > 0 ? p->conf->pool_count : 0);
	rc = proto_chan_send(p->ctl, &login, NULL);
	if (rc < 0) {
		ctl_failed(p, rc, bw_strerror(rc));
		return 1;
	}
	return 0;
}

static int on_login_resp(struct peer *p, const struct proto_login_resp *r)
{
	struct timeval tv = { p->conf->heartbeat_interval_s, 0 };

	struct bw_crypto_session *s = proto_chan_session(p->ctl);

	snprintf(p->run_id, sizeof(p->run_id), "%s", r->run_id);
	p->udp_port = (uint16_t)r->udp_port;
	p->suite = (uint8_t)bw_crypto_session_suite(s);
	p->work_counter = 0;
	if (bw_crypto_session_export(s, "burrow work-conn", p->work_key, sizeof(p->work_key)) < 0) {
		ctl_failed(p, BW_E_INVAL, "cannot derive the work-connection key");
		return 1;
	}
	p->ever_logged_in = 1;
	p->backoff_ms = 0;
	proto_chan_set_state(p->ctl, PROTO_STATE_CONTROL);
	ctl_state_set(p, PEER_CTL_LOGGED_IN);
	if (p->conf->heartbeat_timeout_s > 0)
		proto_chan_set_read_timeout(p->ctl, p->conf->heartbeat_timeout_s * 1000);
	else
		proto_chan_set_read_timeout(p->ctl, 0);
	if (p->conf->heartbeat_interval_s > 0)
		evtimer_add(p->heartbeat, &tv);
	log_info("burrow: logged in to %s:%u (run id %s, burrowd %s, cipher %s)",
		 p->conf->server_addr, p->conf->server_port, p->run_id, r->server_version,
		 bw_crypto_suite_name(p->suite));
	peer_proxies_register(p);
	peer_visitors_logged_in(p);
	peer_nat_start(p);
	return 0;
}

static int on_msg(struct proto_chan *ch, struct proto_msg *m, void *arg)
{
	struct peer *p = arg;
	char why[PROTO_ERROR_TEXT_MAX + 64];

	switch (m->type) {
	case PROTO_MSG_HELLO_REPLY:
		return on_hello_reply(p, &m->hello_reply);
	case PROTO_MSG_LOGIN_RESP:
		return on_login_resp(p, &m->login_resp);
	case PROTO_MSG_PONG:
		return 0; /* any frame resets the read timeout */
	case PROTO_MSG_NEW_PROXY_RESP:
		peer_proxy_registered(p, &m->new_proxy_resp);
		return 0;
	case PROTO_MSG_REQ_WORK_CONN:
		peer_work_open(p, (unsigned)m->req_work_conn.count);
		return 0;
	case PROTO_MSG_P2P_OFFER:
	case PROTO_MSG_P2P_ANSWER:
	case PROTO_MSG_P2P_CANDIDATE:
	case PROTO_MSG_P2P_CLOSE:
		return peer_sessions_ctl_msg(p, m);
	case PROTO_MSG_ERROR:
		snprintf(why, sizeof(why), "%s", m->error.message);
		ctl_failed(p, m->error.code == PROTO_ERRCODE_AUTH_FAILED ? BW_E_WRONG_TOKEN :
			   BW_E_LOGIN_REFUSED, why);
		return 1;
	default:
		snprintf(why, sizeof(why), "unexpected %s from the server", proto_msg_name(m->type));
		ctl_failed(p, BW_E_MSG_STATE, why);
		return 1;
	}
}

static void on_error(struct proto_chan *ch, int rc, const struct proto_err *err, void *arg)
{
	struct peer *p = arg;
	char why[200];

	if (err && err->code)
		proto_err_format(err, why, sizeof(why));
	else if (rc == BW_E_TIMEOUT && p->ctl_state == PEER_CTL_LOGGED_IN)
		snprintf(why, sizeof(why), "no heartbeat answer for %d s", p->conf->heartbeat_timeout_s);
	else if (rc == BW_E_CLOSED && p->ctl_state == PEER_CTL_HANDSHAKE)
		snprintf(why, sizeof(why), "server closed the connection during login");
	else
		snprintf(why, sizeof(why), "%s", bw_strerror(rc));
	ctl_failed(p, rc, why);
}

static const struct proto_chan_cbs ctl_cbs = {
	.on_connect = on_connect,
	.on_msg = on_msg,
	.on_error = on_error,
};

static void ctl_connect(struct peer *p)
{
	struct bufferevent *bev;
	int rc;

	bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		ctl_failed(p, BW_E_NOMEM, bw_strerror(BW_E_NOMEM));
		return;
	}
	p->ctl = proto_chan_new(bev, PROTO_SIDE_CLIENT, &ctl_cbs, p, &rc);
	if (!p->ctl) {
		bufferevent_free(bev);
		ctl_failed(p, rc, bw_strerror(rc));
		return;
	}
	ctl_state_set(p, PEER_CTL_CONNECTING);
	/* Covers the TCP connect, the handshake and the login. */
	proto_chan_set_read_timeout(p->ctl, (p->conf->dial_server_timeout_s > 0 ?
					     p->conf->dial_server_timeout_s : 10) * 1000);
	if (bufferevent_socket_connect_hostname(bev, p->dns, AF_UNSPEC, p->conf->server_addr,
						p->conf->server_port) < 0) {
		/* The error event already fired and tore the channel down, or
		 * the request could not even start. */
		if (p->ctl)
			ctl_failed(p, BW_E_NOT_FOUND, "cannot resolve or connect");
	}
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;

	if (p->stopping)
		ctl_stopped(p); /* the flush deadline */
	else
		ctl_connect(p);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	struct proto_msg ping = { .type = PROTO_MSG_PING };
	struct timeval tv = { p->conf->heartbeat_interval_s, 0 };

	if (p->ctl_state != PEER_CTL_LOGGED_IN)
		return;
	ping.ping.seq = ++p->ping_seq;
	if (proto_chan_send(p->ctl, &ping, NULL) < 0) {
		ctl_failed(p, BW_E_NOMEM, "cannot queue heartbeat");
		return;
	}
	evtimer_add(p->heartbeat, &tv);
}

int peer_ctl_init(struct peer *p)
{
	const char *token = p->conf->token ? p->conf->token : "";
	int rc = bw_crypto_psk_from_token(token, strlen(token), p->psk);

	if (rc < 0)
		return rc;
	p->dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
				EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!p->dns)
		p->dns = evdns_base_new(p->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	p->retry = evtimer_new(p->base, on_retry, p);
	p->heartbeat = evtimer_new(p->base, on_heartbeat, p);
	if (!p->dns || !p->retry || !p->heartbeat)
		return BW_E_NOMEM;
	return 0;
}

void peer_ctl_start(struct peer *p)
{
	ctl_connect(p);
}

void peer_stop(struct peer *p, int timeout_ms)
{
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	if (p->stopping)
		return;
	p->stopping = 1;
	peer_nat_stop(p);
	evtimer_del(p->heartbeat);
	/* Between connections, or already closing: only the deadline (made
	 * zero) is left to end it, on the loop. */
	if (!p->ctl)
		tv.tv_sec = tv.tv_usec = 0;
	evtimer_add(p->retry, &tv);
	if (p->ctl)
		proto_chan_close_after_flush(p->ctl); /* reports BW_E_CLOSED later */
}

void peer_ctl_fini(struct peer *p)
{
	ctl_teardown(p);
	if (p->retry)
		event_free(p->retry);
	if (p->heartbeat)
		event_free(p->heartbeat);
	if (p->dns)
		evdns_base_free(p->dns, 0);
	sodium_memzero(p->psk, sizeof(p->psk));
	sodium_memzero(p->work_key, sizeof(p->work_key));
}
