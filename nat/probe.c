/*
 * The NAT probe: RFC 5780 behaviour discovery against burrowd's STUN server,
 * asynchronous on libevent. Every test is one STUN transaction on its own
 * socket (or on the mapping socket for mapping tests II and III), with a
 * shortened RFC 5389 retransmission schedule; independent tests run at once,
 * so a responsive server and a cone NAT give a verdict in about the time one
 * negative test needs (timeout_ms). docs/NAT-DETECTION.md draws the sequence.
 */
#include "nat/nat_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>

#include <event2/event.h>

#include "common/err.h"
#include "common/util.h"

#define PROBE_TIMEOUT_MS 1500
#define PROBE_RTO_MS 100
#define PROBE_SEQ_SAMPLES 4
#define PROBE_BURST 16          /* datagrams read per wake-up */

/* Sockets: the mapping socket, one fresh socket per filtering test, the
 * hairpin sender, and the fresh sockets of the port-allocation samples. */
enum { SOCK_MAP, SOCK_FILTER_IP_PORT, SOCK_FILTER_PORT, SOCK_HAIRPIN, SOCK_SEQ };
#define PROBE_SOCK_MAX (SOCK_SEQ + NAT_SEQ_MAX)

enum tx_kind { TX_MAP1, TX_MAP2, TX_MAP3, TX_FILTER, TX_HAIRPIN, TX_SEQ };
#define PROBE_TX_MAX (6 + NAT_SEQ_MAX)

struct probe_sock {
	int fd;
	struct event *ev;
	struct nat_probe *p;
	unsigned idx;
	struct sockaddr_storage local;
};

struct probe_tx {
	struct nat_probe *p;
	enum tx_kind kind;
	unsigned sock;
	struct nat_sample *sample;      /* where the outcome goes; NULL for hairpin */
	struct sockaddr_storage dst;
	StunTransactionId id;
	uint8_t req[128];
	size_t len;
	struct event *timer;
	int64_t start_ms;
	int timeout_ms, rto_ms;
	unsigned sends;
	int send_errno;
	bool active;
};

struct nat_probe {
	struct event_base *base;
	nat_probe_done_cb done;
	void *arg;
	int timeout_ms, rto_ms;
	bool no_hairpin, finished;
	int64_t start_ms;
	struct probe_sock sock[PROBE_SOCK_MAX];
	struct probe_tx tx[PROBE_TX_MAX];
	unsigned n_tx, pending;
	struct event *done_ev;
	struct nat_observations obs;
	struct nat_result result;
	StunAgent agent;
};

static void probe_finish(struct nat_probe *p);

static void tx_send(struct probe_tx *t)
{
	struct probe_sock *s = &t->p->sock[t->sock];

	t->sends++;
	if (sendto(s->fd, t->req, t->len, MSG_DONTWAIT | MSG_NOSIGNAL,
		   (const struct sockaddr *)&t->dst, nat_addr_len(&t->dst)) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK)
		t->send_errno = errno;
}

/* Next timer: RFC 5389's doubling RTO, the last wait cut at the deadline. */
static void tx_arm(struct probe_tx *t, int64_t now)
{
	unsigned k = t->sends < 20 ? t->sends : 20;
	int64_t next = t->start_ms + (int64_t)t->rto_ms * ((1ll << k) - 1);
	int64_t deadline = t->start_ms + t->timeout_ms;
	int64_t ms = (next < deadline ? next : deadline) - now;
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
	evtimer_add(t->timer, &tv);
}

static void tx_finish(struct probe_tx *t, enum nat_answer answer);

static void on_tx_timer(evutil_socket_t fd, short what, void *arg)
{
	struct probe_tx *t = arg;
	int64_t now = bw_now_ms();

	if (now - t->start_ms >= t->timeout_ms) {
		tx_finish(t, NAT_ANS_NONE);
		return;
	}
	tx_send(t);
	tx_arm(t, now);
}

static int tx_start(struct nat_probe *p, enum tx_kind kind, unsigned sock,
		    const struct sockaddr_storage *dst, unsigned change, int timeout_ms,
		    struct nat_sample *sample)
{
	struct probe_tx *t;

	if (p->n_tx >= PROBE_TX_MAX)
		return BW_E_RANGE;
	t = &p->tx[p->n_tx];
	t->p = p;
	t->kind = kind;
	t->sock = sock;
	t->sample = sample;
	t->dst = *dst;
	t->timeout_ms = timeout_ms;
	/* A few ms apart per transaction, so that retransmissions of parallel
	 * tests do not leave in lockstep (RFC 5780 section 5). */
	t->rto_ms = p->rto_ms + 3 * (int)p->n_tx;
	t->len = nat_stun_request(&p->agent, t->req, sizeof(t->req), change, t->id);
	if (t->len == 0)
		return BW_E_NOMEM;
	t->timer = evtimer_new(p->base, on_tx_timer, t);
	if (!t->timer)
		return BW_E_NOMEM;
	p->n_tx++;
	if (sample)
		sample->local = p->sock[sock].local;
	t->start_ms = bw_now_ms();
	t->active = true;
	p->pending++;
	tx_send(t);
	tx_arm(t, t->start_ms);
	return 0;
}

/* Mapping tests II and III and the hairpin test need test I's answer. */
static void start_dependent_tests(struct nat_probe *p)
{
	struct nat_observations *o = &p->obs;

	/* OTHER-ADDRESS must name a second IP (RFC 5780 7.4); anything else
	 * would make every mapping look endpoint-independent. */
	if (o->other.ss_family == o->server.ss_family && !nat_addr_same_ip(&o->other, &o->server) &&
	    nat_addr_port(&o->other) != 0) {
		struct sockaddr_storage dst2 = o->other;

		nat_addr_set_port(&dst2, nat_addr_port(&o->server));
		tx_start(p, TX_MAP2, SOCK_MAP, &dst2, 0, p->timeout_ms, &o->map[1]);
		tx_start(p, TX_MAP3, SOCK_MAP, &o->other, 0, p->timeout_ms, &o->map[2]);
	} else {
		memset(&o->other, 0, sizeof(o->other));
	}
	/* The request travels to the NAT and back, never to the server:
	 * two thirds of the server timeout is ample. */
	if (!p->no_hairpin)
		tx_start(p, TX_HAIRPIN, SOCK_HAIRPIN, &o->map[0].mapped, 0,
			 p->timeout_ms * 2 / 3, NULL);
}

static void tx_finish(struct probe_tx *t, enum nat_answer answer)
{
	struct nat_probe *p = t->p;

	if (!t->active)
		return;
	t->active = false;
	evtimer_del(t->timer);
	stun_agent_forget_transaction(&p->agent, t->id);
	p->pending--;
	if (t->sample)
		t->sample->answer = answer;
	switch (t->kind) {
	case TX_MAP1:
		if (answer != NAT_ANS_OK) {
			p->obs.send_errno = t->send_errno;
			probe_finish(p);
			return;
		}
		p->obs.rtt_ms = bw_now_ms() - t->start_ms;
		start_dependent_tests(p);
		break;
	case TX_HAIRPIN:
		p->obs.hairpin = answer;
		break;
	default:
		break;
	}
	if (p->pending == 0)
		probe_finish(p);
}

static struct probe_tx *tx_find(struct nat_probe *p, const StunTransactionId id)
{
	for (unsigned i = 0; i < p->n_tx; i++)
		if (p->tx[i].active && memcmp(p->tx[i].id, id, sizeof(StunTransactionId)) == 0)
			return &p->tx[i];
	return NULL;
}

static void on_datagram(struct probe_sock *s, const uint8_t *buf, size_t len)
{
	struct nat_probe *p = s->p;
	struct nat_stun_answer ans;
	enum nat_parse rc = nat_stun_parse(&p->agent, buf, len, &ans);
	struct probe_tx *t;

	if (rc != NAT_PARSE_OK && rc != NAT_PARSE_INVALID)
		return;
	t = tx_find(p, ans.id);
	if (!t)
		return;
	if (ans.cls == STUN_REQUEST) {
		/* Our own hairpin request, arriving on the mapping socket. */
		if (rc == NAT_PARSE_OK && t->kind == TX_HAIRPIN && s->idx == SOCK_MAP)
			tx_finish(t, NAT_ANS_OK);
		return;
	}
	if (t->sock != s->idx || t->kind == TX_HAIRPIN)
		return;
	if (rc == NAT_PARSE_INVALID || ans.cls == STUN_ERROR) {
		/* error 0: an answer that is not a usable Binding response. */
		if (t->sample)
			t->sample->error = rc == NAT_PARSE_OK ? ans.error : 0;
		tx_finish(t, NAT_ANS_ERROR);
		return;
	}
	if (t->sample)
		t->sample->mapped = ans.mapped;
	if (t->kind == TX_MAP1 && ans.has_other)
		p->obs.other = ans.other;
	tx_finish(t, NAT_ANS_OK);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct probe_sock *s = arg;

	for (int i = 0; i < PROBE_BURST && !s->p->finished; i++) {
		uint8_t buf[NAT_STUN_MSG_MAX];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0)
			return;
		if ((size_t)n <= sizeof(buf))
			on_datagram(s, buf, (size_t)n);
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	struct nat_probe *p = arg;

	/* Last statement: the callback may free the probe. */
	p->done(&p->result, p->arg);
}

static void probe_finish(struct nat_probe *p)
{
	if (p->finished)
		return;
	p->finished = true;
	for (unsigned i = 0; i < p->n_tx; i++) {
		if (p->tx[i].active) {
			p->tx[i].active = false;
			evtimer_del(p->tx[i].timer);
			stun_agent_forget_transaction(&p->agent, p->tx[i].id);
		}
	}
	for (unsigned i = 0; i < PROBE_SOCK_MAX; i++)
		if (p->sock[i].ev)
			event_del(p->sock[i].ev);
	p->obs.elapsed_ms = bw_now_ms() - p->start_ms;
	nat_classify(&p->obs, &p->result);
	/* Never call back from inside nat_probe_start or a tx callback chain. */
	event_active(p->done_ev, 0, 0);
}

/* The source address the kernel would use towards the server. */
static int route_source(const struct sockaddr_storage *server, struct sockaddr_storage *out)
{
	socklen_t len = sizeof(*out);
	int fd = socket(server->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)server, nat_addr_len(server)) < 0 ||
	    getsockname(fd, (struct sockaddr *)out, &len) < 0)
		rc = -errno;
	close(fd);
	nat_addr_set_port(out, 0);
	return rc;
}

static int sock_open(struct nat_probe *p, unsigned idx, const struct sockaddr_storage *local)
{
	struct probe_sock *s = &p->sock[idx];
	socklen_t len = sizeof(s->local);

	s->p = p;
	s->idx = idx;
	s->fd = socket(local->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -errno;
	if (bind(s->fd, (const struct sockaddr *)local, nat_addr_len(local)) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&s->local, &len) < 0)
		return -errno;
	s->ev = event_new(p->base, s->fd, EV_READ | EV_PERSIST, on_readable, s);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		return BW_E_NOMEM;
	return 0;
}

static int probe_setup(struct nat_probe *p, const struct nat_probe_conf *conf)
{
	struct nat_observations *o = &p->obs;
	struct sockaddr_storage local, any;
	unsigned n_seq = conf->seq_samples ? conf->seq_samples : PROBE_SEQ_SAMPLES;
	int rc;

	if (n_seq > NAT_SEQ_MAX)
		n_seq = NAT_SEQ_MAX;
	if (conf->local.ss_family != AF_UNSPEC) {
		if (conf->local.ss_family != conf->server.ss_family)
			return BW_E_INVAL;
		local = conf->local;
		/* A wildcard would make "mapped == local" (no NAT) unprovable. */
		if (nat_addr_is_any(&local)) {
			if ((rc = route_source(&conf->server, &local)) < 0)
				return rc;
			nat_addr_set_port(&local, nat_addr_port(&conf->local));
		}
	} else if ((rc = route_source(&conf->server, &local)) < 0) {
		return rc;
	}
	/* Only the mapping socket takes the caller's port: RFC 5780 4.1 wants
	 * the application's own port tested when there is one. */
	any = local;
	nat_addr_set_port(&any, 0);
	if ((rc = sock_open(p, SOCK_MAP, &local)) < 0 ||
	    (rc = sock_open(p, SOCK_FILTER_IP_PORT, &any)) < 0 ||
	    (rc = sock_open(p, SOCK_FILTER_PORT, &any)) < 0 ||
	    (!p->no_hairpin && (rc = sock_open(p, SOCK_HAIRPIN, &any)) < 0))
		return rc;
	for (unsigned i = 0; i < n_seq; i++)
		if ((rc = sock_open(p, SOCK_SEQ + i, &any)) < 0)
			return rc;
	p->done_ev = event_new(p->base, -1, 0, on_done, p);
	if (!p->done_ev)
		return BW_E_NOMEM;

	o->server = conf->server;
	o->timeout_ms = p->timeout_ms;
	o->n_seq = n_seq;
	o->hairpin = NAT_ANS_NOT_RUN;
	p->start_ms = bw_now_ms();
	/* The allocation samples first and back to back, so that nothing else
	 * of ours takes a NAT port between them. */
	for (unsigned i = 0; i < n_seq; i++)
		if ((rc = tx_start(p, TX_SEQ, SOCK_SEQ + i, &o->server, 0, p->timeout_ms,
				   &o->seq[i])) < 0)
			return rc;
	if ((rc = tx_start(p, TX_MAP1, SOCK_MAP, &o->server, 0, p->timeout_ms, &o->map[0])) < 0 ||
	    (rc = tx_start(p, TX_FILTER, SOCK_FILTER_IP_PORT, &o->server,
			   NAT_CHANGE_IP | NAT_CHANGE_PORT, p->timeout_ms, &o->filter[0])) < 0 ||
	    (rc = tx_start(p, TX_FILTER, SOCK_FILTER_PORT, &o->server, NAT_CHANGE_PORT,
			   p->timeout_ms, &o->filter[1])) < 0)
		return rc;
	return 0;
}

struct nat_probe *nat_probe_start(struct event_base *base, const struct nat_probe_conf *conf,
				  nat_probe_done_cb done, void *arg, int *rc)
{
	struct nat_probe *p;
	int err;

	if (!base || !done || nat_addr_len(&conf->server) == 0 ||
	    nat_addr_port(&conf->server) == 0 || conf->timeout_ms < 0 || conf->rto_ms < 0) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	p->base = base;
	p->done = done;
	p->arg = arg;
	p->timeout_ms = conf->timeout_ms ? conf->timeout_ms : PROBE_TIMEOUT_MS;
	p->rto_ms = conf->rto_ms ? conf->rto_ms : PROBE_RTO_MS;
	p->no_hairpin = conf->no_hairpin;
	for (unsigned i = 0; i < PROBE_SOCK_MAX; i++)
		p->sock[i].fd = -1;
	nat_stun_client_agent_init(&p->agent);
	err = probe_setup(p, conf);
	if (err < 0) {
		nat_probe_free(p);
		*rc = err;
		return NULL;
	}
	*rc = 0;
	return p;
}

void nat_probe_free(struct nat_probe *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n_tx; i++)
		if (p->tx[i].timer)
			event_free(p->tx[i].timer);
	for (unsigned i = 0; i < PROBE_SOCK_MAX; i++) {
		if (p->sock[i].ev)
			event_free(p->sock[i].ev);
		if (p->sock[i].fd >= 0)
			close(p->sock[i].fd);
	}
	if (p->done_ev)
		event_free(p->done_ev);
	free(p);
}

const struct nat_observations *nat_probe_observations(const struct nat_probe *p)
{
	return &p->obs;
}
