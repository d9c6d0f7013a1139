/*
 * Stream transport engine "sctp": usrsctp 0.9.5 in AF_CONN mode behind
 * peer/tp.h. A prototype for docs/decisions/stream-transport.md. This file:
 * the process-wide stack, the association's socket, the operations;
 * tp_sctp_stream.c: the streams over it.
 *
 * usrsctp runs without threads (usrsctp_init_nothreads): nothing happens
 * unless this file calls in. Packets leave through conn_output() (called
 * inside usrsctp, with its locks held: the output callback must not call back
 * into this engine), arrive through usrsctp_conninput(), and the stack's
 * timers advance by usrsctp_handle_timers(elapsed). usrsctp has one global
 * timer wheel and one global set of sockets, so the stack is process-wide and
 * reference-counted (init with the first engine, usrsctp_finish with the
 * last); NOT thread-safe in this mode: every engine of a process must be used
 * from one thread. A call into one engine may run another engine's timers
 * and so emit that engine's packets through its own output callback.
 *
 * usrsctp exposes no "next timer" query, so the deadline is the next tick:
 * every 10 ms while the association is busy (set up, packets sent or received
 * in the last second), every 100 ms when idle (heartbeats are seconds apart).
 * usrsctp also reads the wall clock itself (RTTs; which chunks a T3 timeout
 * resends), so the times given must be real: the conformance test, which
 * runs on a virtual clock, gives the process a virtual gettimeofday.
 *
 * Tuning: SO_SNDBUF and SO_RCVBUF 8 MiB (conf.conn_window) and 4 MiB of
 * credit per stream (conf.stream_window), enough for one stream on an 80 ms
 * path at 400 Mbit/s; NewReno congestion control (cc_module()); RTO 200 ms
 * to 5 s; SACK delay 20 ms; no retransmission limit (the idle timeout ends a
 * dead association); path MTU conf.mtu - 16 (set_paddr()).
 *
 * One association per engine: a one-to-one SOCK_STREAM socket, bound and
 * connected to the engine's own address token on both sides (AF_CONN
 * addresses are opaque pointers; usrsctp_conninput uses the same token as
 * source and destination). Both sides connect(): SCTP resolves the INIT
 * collision, as WebRTC data channels do. CRC32c is off on both sides (the
 * session's AEAD authenticates every packet).
 *
 * Streams. A peer_tp stream is one SCTP stream (sid); sid 0 carries control
 * messages, the initiator opens even sids, the responder odd ones, so each
 * side allocates without asking. Messages on a sid, by PPID:
 *   DATA   stream bytes (at most SCTP_MSG_MAX per message)
 *   FIN    1 byte: the sender finished (half-close). SCTP has no per-stream
 *          FIN; this in-band marker is ordered after the data on its sid.
 *   RST    1 byte: the sender aborted the stream (also ordered: everything it
 *          queued before arrives first and is discarded).
 * A sid is reused only after both directions ended (FIN or RST sent and
 * received), so the ordered delivery of each sid separates incarnations: a
 * message on a free sid opens a new stream. Both sides count incarnations
 * per sid; the API id is (incarnation << 16) | sid.
 *
 * Flow control. SCTP's window is per association, so a reader that does not
 * read would stall every stream if its bytes stayed in the socket. This
 * engine always drains the socket into per-stream queues and adds credit per
 * stream: the receiver grants offsets (WINDOW control messages, unordered on
 * sid 0, larger offsets win), the sender never sends beyond its grant.
 * SETTINGS (once, at start) tells the peer our per-stream window.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/err.h"
#include "peer/tp_sctp_int.h"

/* --- The process-wide stack ------------------------------------------------ */

static struct {
	unsigned refs;
	uint64_t last_tick_us;
	struct peer_tp **live;         /* conn_output() checks its token here */
	size_t nlive, caplive;
} g;

static bool tp_live(const void *addr)
{
	for (size_t i = 0; i < g.nlive; i++)
		if (g.live[i] == addr)
			return true;
	return false;
}

static int conn_output(void *addr, void *buf, size_t len, uint8_t tos, uint8_t set_df)
{
	struct peer_tp *tp = addr;

	/* A timer of an association being torn down may still send: only live,
	 * not freeing engines get packets out. */
	if (!tp_live(addr) || tp->freeing)
		return 0;
	tp->st.pkts_sent++;
	tp->last_io_us = tp->now_us;
	tp->cbs.output(tp->arg, buf, len);
	return 0;
}

/* usrsctp counts per process: exact with one association per process (the
 * benchmark), a sum over all of them otherwise. */
static uint32_t retrans_count(void)
{
	struct sctpstat s;

	usrsctp_get_stat(&s);
	return s.sctps_sendretransdata + s.sctps_sendfastretrans;
}

static int stack_ref(struct peer_tp *tp, uint64_t now_us)
{
	if (g.nlive == g.caplive) {
		size_t cap = g.caplive ? 2 * g.caplive : 8;
		struct peer_tp **n = realloc(g.live, cap * sizeof(*n));
		if (!n)
			return BW_E_NOMEM;
		g.live = n;
		g.caplive = cap;
	}
	if (g.refs++ == 0) {
		usrsctp_init_nothreads(0, conn_output, NULL);
		/* The session's AEAD authenticates every packet: no CRC32c (both
		 * sides), no SCTP-AUTH, no ASCONF, no ECN (no IP header to mark). */
		usrsctp_enable_crc32c_offload();
		usrsctp_sysctl_set_sctp_auth_enable(0);
		usrsctp_sysctl_set_sctp_asconf_enable(0);
		usrsctp_sysctl_set_sctp_ecn_enable(0);
		g.last_tick_us = now_us;
	}
	g.live[g.nlive++] = tp;
	return 0;
}

static void stack_unref(struct peer_tp *tp)
{
	for (size_t i = 0; i < g.nlive; i++) {
		if (g.live[i] == tp) {
			g.live[i] = g.live[--g.nlive];
			break;
		}
	}
	if (--g.refs > 0)
		return;
	/* usrsctp_finish fails while sockets linger; aborted associations go
	 * at once, but give the timer wheel a few turns to be sure. */
	for (int i = 0; i < 50 && usrsctp_finish() != 0; i++)
		usrsctp_handle_timers(100);
	free(g.live);
	g.live = NULL;
	g.nlive = g.caplive = 0;
}

/* The timer wheel moves in whole steps of 10 ms, as usrsctp's own timer
 * thread moves it, whatever the rhythm of the calls: a remainder waits for
 * the next call instead of being rounded away. (usrsctp also reads the wall
 * clock, for RTTs and to pick what a T3 timeout retransmits, so the time
 * given here must be real time.) */
static void stack_tick(uint64_t now_us)
{
	uint64_t n;

	if (now_us < g.last_tick_us + SCTP_TICK_US)
		return;
	n = (now_us - g.last_tick_us) / SCTP_TICK_US;
	if (n > UINT32_MAX / 10)
		n = UINT32_MAX / 10;
	g.last_tick_us += n * SCTP_TICK_US;
	usrsctp_handle_timers((uint32_t)n * (SCTP_TICK_US / 1000));
}

static void upcall(struct socket *so, void *arg, int flags)
{
	struct peer_tp *tp = arg;

	/* Inside usrsctp: only note it; the engine reads after the call. */
	tp->kick = true;
}

/* --- The association's socket ------------------------------------------------ */

static void set_paddr(struct peer_tp *tp)
{
	struct sctp_paddrparams pp;
	struct sockaddr_conn *a = (struct sockaddr_conn *)&pp.spp_address;
	uint64_t hb = tp->idle_us / 3000;

	memset(&pp, 0, sizeof(pp));
	a->sconn_family = AF_CONN;
	a->sconn_port = htons(SCTP_PORT);
	a->sconn_addr = tp;
	/* The session's path decides the size: no PMTU discovery. usrsctp's
	 * AF_CONN packets come out up to 10 bytes above the path MTU it is
	 * given (a bundled SACK), hence the margin. Heartbeats
	 * keep the peer's idle timer fed on a quiet association. */
	pp.spp_flags = SPP_PMTUD_DISABLE | SPP_HB_ENABLE;
	pp.spp_pathmtu = (uint32_t)(tp->conf.mtu - SCTP_MTU_MARGIN);
	pp.spp_hbinterval = (uint32_t)(hb < 1000 ? 1000 : hb);
	/* The only path never "fails": a failed path stops retransmissions
	 * until a heartbeat gets through. The idle timeout decides. */
	pp.spp_pathmaxrxt = SCTP_MAXRXT;
	(void)usrsctp_setsockopt(tp->so, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof(pp));
}

/* A message that is a whole number of DATA chunks fills every packet: 16 KiB
 * cut at a 1,252-byte fragment point would leave a small last chunk. */
static void set_msg_max(struct peer_tp *tp)
{
	struct sctp_assoc_value av = {0};
	socklen_t len = sizeof(av);

	tp->msg_max = SCTP_MSG_MAX;
	if (usrsctp_getsockopt(tp->so, IPPROTO_SCTP, SCTP_MAXSEG, &av, &len) == 0 &&
	    av.assoc_value >= 512 && av.assoc_value < SCTP_MSG_MAX)
		tp->msg_max = SCTP_MSG_MAX / av.assoc_value * av.assoc_value;
}

static void on_notification(struct peer_tp *tp, const uint8_t *buf, size_t len)
{
	struct sctp_assoc_change ac;

	/* The buffer has no alignment: copy what is read. */
	if (len < sizeof(ac))
		return;
	memcpy(&ac, buf, sizeof(ac));
	if (ac.sac_type != SCTP_ASSOC_CHANGE)
		return;
	switch (ac.sac_state) {
	case SCTP_COMM_UP:
		if (tp->state != TP_CONNECTING)
			return;
		tp->nstreams = ac.sac_outbound_streams;
		if (ac.sac_inbound_streams < tp->nstreams)
			tp->nstreams = ac.sac_inbound_streams;
		if (tp->nstreams > SCTP_NSTREAMS)
			tp->nstreams = SCTP_NSTREAMS;
		set_paddr(tp);
		set_msg_max(tp);
		tp->state = TP_UP;
		tp->settings_pending = true;
		if (tps_send_settings(tp) < 0)
			return tps_die(tp, BW_E_CLOSED);
		tp->ev_ready = true;
		return;
	case SCTP_COMM_LOST:
	case SCTP_CANT_STR_ASSOC:
	case SCTP_SHUTDOWN_COMP:
	case SCTP_RESTART:          /* the peer lost every stream */
		return tps_die(tp, BW_E_CLOSED);
	default:
		return;
	}
}

/* Drains the socket: every message goes to its stream's queue now, so the
 * association's window never closes on an unread stream. */
static void sock_process(struct peer_tp *tp)
{
	while (tp->kick && tp->state != TP_DEAD && tp->so) {
		tp->kick = false;
		for (;;) {
			struct sctp_rcvinfo ri;
			struct sockaddr_conn from;
			socklen_t fromlen = sizeof(from), infolen = sizeof(ri);
			unsigned int infotype = 0;
			int flags = 0, rc;
			ssize_t n;

			n = usrsctp_recvv(tp->so, tp->rbuf, sizeof(tp->rbuf), (struct sockaddr *)&from,
					  &fromlen, &ri, &infolen, &infotype, &flags);
			if (n < 0) {
				if (errno != EWOULDBLOCK && errno != EAGAIN && errno != ENOTCONN &&
				    tp->state == TP_UP)
					tps_die(tp, -errno);
				break;
			}
			if (n == 0) {
				if (tp->state == TP_UP)
					tps_die(tp, BW_E_CLOSED);
				break;
			}
			if (flags & MSG_NOTIFICATION) {
				on_notification(tp, tp->rbuf, (size_t)n);
				continue;
			}
			if (tp->state != TP_UP || infotype != SCTP_RECVV_RCVINFO)
				continue;
			if (ri.rcv_sid == 0) {
				rc = ntohl(ri.rcv_ppid) == PPID_CTRL && (flags & MSG_EOR)
					     ? tps_on_ctrl(tp, tp->rbuf, (size_t)n)
					     : BW_E_MSG_MALFORMED;
			} else {
				rc = tps_on_msg(tp, ri.rcv_sid, ntohl(ri.rcv_ppid), tp->rbuf,
						   (size_t)n, flags & MSG_EOR);
			}
			if (rc < 0) {
				tps_die(tp, rc);
				break;
			}
		}
	}
	if (tp->state == TP_UP)
		tps_flush_all(tp);
}

/* --- The operations ------------------------------------------------------------ */

static int sockopts(struct peer_tp *tp, size_t buf)
{
	const int on = 1;
	const struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close = ABORT */
	const int ibuf = (int)buf;
	struct sctp_initmsg im = {
		.sinit_num_ostreams = SCTP_NSTREAMS,
		.sinit_max_instreams = SCTP_NSTREAMS,
		.sinit_max_attempts = 0,                 /* idle_timeout decides */
		.sinit_max_init_timeo = SCTP_RTO_MAX_MS,
	};
	struct sctp_rtoinfo rto = {
		.srto_initial = SCTP_RTO_INITIAL_MS,
		.srto_max = SCTP_RTO_MAX_MS,
		.srto_min = SCTP_RTO_MIN_MS,
	};
	struct sctp_sack_info sack = {.sack_delay = SCTP_SACK_DELAY_MS, .sack_freq = 2};
	struct sctp_assocparams ap = {.sasoc_asocmaxrxt = SCTP_MAXRXT};
	struct sctp_event ev = {.se_assoc_id = SCTP_FUTURE_ASSOC, .se_type = SCTP_ASSOC_CHANGE,
				.se_on = 1};
	struct sockaddr_conn sc = {.sconn_family = AF_CONN, .sconn_port = htons(SCTP_PORT),
				   .sconn_addr = tp};

	if (usrsctp_set_non_blocking(tp->so, 1) < 0 ||
	    usrsctp_setsockopt(tp->so, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0 ||
	    usrsctp_setsockopt(tp->so, SOL_SOCKET, SO_SNDBUF, &ibuf, sizeof(ibuf)) < 0 ||
	    usrsctp_setsockopt(tp->so, SOL_SOCKET, SO_RCVBUF, &ibuf, sizeof(ibuf)) < 0 ||
	    usrsctp_setsockopt(tp->so, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof(on)) < 0 ||
	    usrsctp_setsockopt(tp->so, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof(on)) < 0 ||
	    usrsctp_setsockopt(tp->so, IPPROTO_SCTP, SCTP_INITMSG, &im, sizeof(im)) < 0 ||
	    usrsctp_setsockopt(tp->so, IPPROTO_SCTP, SCTP_RTOINFO, &rto, sizeof(rto)) < 0 ||
	    usrsctp_setsockopt(tp->so, IPPROTO_SCTP, SCTP_DELAYED_SACK, &sack, sizeof(sack)) < 0 ||
	    usrsctp_setsockopt(tp->so, IPPROTO_SCTP, SCTP_ASSOCINFO, &ap, sizeof(ap)) < 0 ||
	    usrsctp_setsockopt(tp->so, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof(ev)) < 0)
		return -errno;
	if (usrsctp_bind(tp->so, (struct sockaddr *)&sc, sizeof(sc)) < 0)
		return -errno;
	return 0;
}

/* conf.cc: usrsctp's modules (no CUBIC, no BBR). The default is NewReno
 * (RFC 2581/4960): over 3 x 10 s runs per condition in the lab, RTCC (NewReno
 * with RTT-based adjustments) was no better under loss and half as fast at
 * 80 ms without loss, and H-TCP fell to a third of NewReno's rate at 1 % loss
 * (docs/decisions/stream-transport.md). */
static int cc_module(const char *cc, uint32_t *out)
{
	static const struct { const char *name; uint32_t id; } ccs[] = {
		{"reno", SCTP_CC_RFC2581}, {"rtcc", SCTP_CC_RTCC},
		{"htcp", SCTP_CC_HTCP}, {"hstcp", SCTP_CC_HSTCP},
	};

	if (!cc) {
		*out = SCTP_CC_RFC2581;
		return 0;
	}
	for (size_t i = 0; i < sizeof(ccs) / sizeof(ccs[0]); i++) {
		if (strcmp(cc, ccs[i].name) == 0) {
			*out = ccs[i].id;
			return 0;
		}
	}
	return BW_E_UNSUPPORTED;
}

static void sctp_free(struct peer_tp *tp);

static struct peer_tp *sctp_new(const struct peer_tp_conf *conf, const struct peer_tp_cbs *cbs,
				void *arg, uint64_t now_us, int *rc)
{
	struct peer_tp *tp;
	uint32_t cc;
	int r;

	if (!conf || !cbs || !cbs->output || conf->mtu < 1200 || conf->mtu > 65535) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	if ((r = cc_module(conf->cc, &cc)) < 0) {
		*rc = r;
		return NULL;
	}
	if (!(tp = calloc(1, sizeof(*tp)))) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	tp->conf = *conf;
	tp->conf.cc = NULL;
	tp->cbs = *cbs;
	tp->arg = arg;
	tp->now_us = tp->last_rx_us = tp->last_io_us = now_us;
	tp->idle_us = conf->idle_timeout_us ? conf->idle_timeout_us : SCTP_IDLE_DEFAULT_US;
	tp->window = conf->stream_window ? (uint32_t)conf->stream_window : SCTP_WINDOW_DEFAULT;
	if (conf->stream_window > UINT32_MAX || tp->window < SCTP_WINDOW_MIN) {
		free(tp);
		*rc = BW_E_RANGE;
		return NULL;
	}
	tp->peer_window = SCTP_WINDOW_MIN;
	tp->next_sid = conf->initiator ? 2 : 1;
	if ((r = stack_ref(tp, now_us)) < 0) {
		free(tp);
		*rc = r;
		return NULL;
	}
	tp->retrans_base = retrans_count();
	usrsctp_register_address(tp);
	/* The module is taken from this sysctl when the socket is made. */
	usrsctp_sysctl_set_sctp_default_cc_module(cc);
	tp->so = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
	if (!tp->so) {
		r = -errno;
		goto fail;
	}
	if ((r = sockopts(tp, conf->conn_window ? conf->conn_window : SCTP_BUF_DEFAULT)) < 0)
		goto fail;
	usrsctp_set_upcall(tp->so, upcall, tp);
	/* connect() emits the INIT: from the first timeout(), not from here. */
	tp->state = TP_NEW;
	*rc = 0;
	return tp;
fail:
	sctp_free(tp);
	*rc = r;
	return NULL;
}

static void sctp_free(struct peer_tp *tp)
{
	if (!tp)
		return;
	tp->freeing = true;
	if (tp->so) {
		usrsctp_set_upcall(tp->so, NULL, NULL);
		usrsctp_close(tp->so);
	}
	usrsctp_deregister_address(tp);
	tps_streams_free(tp);
	stack_unref(tp);
	free(tp);
}

static void sctp_connect(struct peer_tp *tp)
{
	struct sockaddr_conn sc = {.sconn_family = AF_CONN, .sconn_port = htons(SCTP_PORT),
				   .sconn_addr = tp};

	tp->state = TP_CONNECTING;
	if (usrsctp_connect(tp->so, (struct sockaddr *)&sc, sizeof(sc)) < 0 &&
	    errno != EINPROGRESS)
		tps_die(tp, -errno);
}

static int sctp_input(struct peer_tp *tp, const uint8_t *pkt, size_t len, uint64_t now_us)
{
	if (tp->state == TP_DEAD)
		return BW_E_CLOSED;
	if (now_us > tp->now_us)
		tp->now_us = now_us;
	if (len < 12 || len > 65535)
		return BW_E_MSG_MALFORMED;   /* not even an SCTP common header */
	tp->last_rx_us = tp->last_io_us = tp->now_us;
	tp->st.pkts_recv++;
	stack_tick(tp->now_us);
	usrsctp_conninput(tp, pkt, len, 0);
	sock_process(tp);
	tps_dispatch(tp);
	return 0;
}

static int sctp_timeout(struct peer_tp *tp, uint64_t now_us)
{
	if (now_us > tp->now_us)
		tp->now_us = now_us;
	if (tp->state == TP_DEAD) {
		tps_dispatch(tp);
		return 0;
	}
	if (tp->state == TP_NEW)
		sctp_connect(tp);
	stack_tick(tp->now_us);
	if (tp->state != TP_DEAD && tp->now_us - tp->last_rx_us >= tp->idle_us)
		tps_die(tp, BW_E_TIMEOUT);
	sock_process(tp);
	tps_dispatch(tp);
	return 0;
}

static uint64_t sctp_deadline(const struct peer_tp *tp)
{
	uint64_t t, idle;

	if (tp->evq || tp->ev_ready || tp->kick || tp->state == TP_NEW)
		return tp->now_us;
	if (tp->state == TP_DEAD)
		return PEER_TP_NONE;
	t = g.last_tick_us +
	    (tp->state != TP_UP || tp->now_us - tp->last_io_us < SCTP_BUSY_US ? SCTP_TICK_BUSY_US
									  : SCTP_TICK_IDLE_US);
	idle = tp->last_rx_us + tp->idle_us;
	return idle < t ? idle : t;
}

static void sctp_stats(const struct peer_tp *tp, struct peer_tp_stats *out)
{
	struct sctp_status ss;
	socklen_t len = sizeof(ss);

	*out = tp->st;
	out->pkts_lost = retrans_count() - tp->retrans_base;
	memset(&ss, 0, sizeof(ss));
	if (tp->so && tp->state == TP_UP &&
	    usrsctp_getsockopt(tp->so, IPPROTO_SCTP, SCTP_STATUS, &ss, &len) == 0) {
		out->rtt_us = (uint64_t)ss.sstat_primary.spinfo_srtt * 1000u;
		out->cwnd = ss.sstat_primary.spinfo_cwnd;
	}
}

const struct peer_tp_ops peer_tp_sctp_ops = {
	.name = "sctp",
	.new = sctp_new,
	.free = sctp_free,
	.input = sctp_input,
	.deadline = sctp_deadline,
	.timeout = sctp_timeout,
	.stream_open = tps_stream_open,
	.stream_write = tps_stream_write,
	.stream_shutdown = tps_stream_shutdown,
	.stream_read = tps_stream_read,
	.stream_reset = tps_stream_reset,
	.stats = sctp_stats,
};
