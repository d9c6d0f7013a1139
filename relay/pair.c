/*
 * A relayed pair: two connected sockets whose bytes are moved to each other.
 *
 * One struct relay_pair owns both sockets (STYLE.md 5); each half points at
 * its pair and at the other half. The pair takes the sockets out of the two
 * bufferevents it is given, with what they still held (bytes read before the
 * pairing, a START_WORK_CONN not yet written), and frees them: from then on
 * it reads and writes the sockets itself, because libevent 2.1's bufferevent
 * reads at most 4 KiB per call and writes only on the loop pass after the
 * data came, which made the relay cost six system calls and two loop passes
 * per 4 KiB (docs/BENCHMARKS.md, "Relay").
 *
 * Direction src -> dst: what src sends is read, up to PAIR_BUF bytes per
 * call, into dst's output buffer, and written to dst at once, in the same
 * callback. The buffer exists only while it holds bytes (or while the stream
 * is busy), so an idle pair costs no buffer. When dst's socket cannot take
 * everything, reading src stops and dst's write event is armed; once dst has
 * taken the rest, reading src resumes: a slow reader holds at most one
 * buffer per direction in user space (backpressure). A read that filled the
 * buffer is followed by another one, at most PAIR_ROUNDS times per wakeup; a
 * short read ends the turn, which saves the read that would say EAGAIN.
 *
 * Zero-copy: once a plain direction is busy (a read filled the buffer), its
 * bytes go src -> pipe -> dst with splice(2) instead, never entering user
 * space; a pipe nothing went through for PIPE_IDLE_MS is closed, so a quiet
 * pair holds no extra descriptor. Measured on the benchmark machine, this
 * takes about a third off the CPU per GB relayed (docs/BENCHMARKS.md).
 * Small messages, sealed pairs and what the bufferevents held keep the
 * buffer.
 *
 * When side b is sealed, bytes for b are cut into records of at most
 * RELAY_SEAL_RECORD_MAX bytes, read straight into their place in b's buffer
 * (one readv) and sealed in place; bytes from b are read into a staging
 * buffer and opened record by record into a's buffer.
 *
 * Half-close: EOF on src (or, sealed, the end record) stops reading src and,
 * once its bytes are written, shuts dst down for writing (after an end record
 * when dst is sealed). When both directions are done the pair closes.
 * Errors, forged records, a sealed stream cut without its end record and the
 * idle timeout close it at once. relay_pair_close is the only code that
 * frees a pair; after any call that may close it, callers return at once.
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/err.h"
#include "common/util.h"
#include "proto/proto.h"

#define PAIR_BUF (64u << 10)    /* most bytes read per call */
#define PAIR_ROUNDS 4           /* full buffers per wakeup before yielding */
#define SEAL_FRAME_MAX (RELAY_SEAL_RECORD_MAX + BW_CRYPTO_RECORD_OVERHEAD)
#define SEAL_SLOT (PROTO_FRAME_HDR + SEAL_FRAME_MAX)   /* a whole record on the wire */
#define SEAL_SLOTS (PAIR_BUF / RELAY_SEAL_RECORD_MAX)
#define OUT_CAP (SEAL_SLOTS * SEAL_SLOT)               /* >= PAIR_BUF */
#define RAW_CAP (PAIR_BUF + SEAL_SLOT)                 /* always room for a record */
#define EARLY_IOV 16
#define PIPE_IDLE_MS 1000       /* a pipe unused this long goes back */

struct relay_half {
	struct relay_pair *pair;
	struct relay_half *other;
	struct bufferevent *bev;   /* until relay_pair_start takes its socket */
	evutil_socket_t fd;
	struct event *rd, *wr;
	bool rd_on, wr_on;
	/* Bytes for this half's socket: what its bufferevent still held, then
	 * out[off, len). */
	struct evbuffer *early_out;
	uint8_t *out;
	size_t off, len;
	/* Plain pairs, once busy: bytes for this half's socket spliced into a
	 * pipe, plen of them, written after out. */
	int pipe_r, pipe_w;
	size_t plen;
	bool pipe_used;   /* spliced into since the last reap */
	bool no_splice;   /* no pipe for this half (none left, or few fds) */
	/* Bytes from this half's socket that its bufferevent had read; when
	 * sealed, records read but not yet opened, raw[roff, rlen). */
	struct evbuffer *early_in;
	uint8_t *raw;
	size_t roff, rlen;
	uint64_t bytes;   /* plaintext read from this half and queued to the other */
	bool eof;         /* this half will send no more (EOF, or its end record) */
	bool shut;        /* we shut this half down for writing */
	bool sealed;      /* this half carries sealed records */
	bool end_queued;  /* the end record for this half is in out */
	bool hot;         /* the last read from this half filled its buffer */
};

struct relay_pair {
	struct relay_half h[2];
	struct bw_crypto_session *s;   /* for the sealed half */
	relay_pair_closed_fn closed;
	void *arg;
	size_t cap;                    /* bytes read per call, plain */
	/* Pumps the loop owes halves whose input sits in user space, where
	 * epoll cannot see it (never event_active on rd or wr: libevent does
	 * not insert an event that is active, so a later event_add would be
	 * lost). Bit i: pump half i. */
	struct event *kick;
	unsigned kick_mask;
	struct event *reap;            /* closes idle pipes; NULL until one opens */
	struct event *idle;            /* NULL without an idle timeout */
	int idle_ms;
	int64_t active_ms;
	int64_t started_ms;
	bool closing;
};

/* Free both halves, report once, and forget the pair. Safe from any callback
 * of the pair: libevent allows freeing an event from its own callback. */
void relay_pair_close(struct relay_pair *p, const char *reason)
{
	struct relay_pair_stats st;

	if (p->closing)
		return;
	p->closing = true;
	relay_pair_stats_get(p, &st);
	st.reason = reason;
	for (int i = 0; i < 2; i++) {
		struct relay_half *h = &p->h[i];

		event_free(h->rd);
		event_free(h->wr);
		if (h->bev)
			bufferevent_free(h->bev);   /* never started: it owns the socket */
		else
			evutil_closesocket(h->fd);
		if (h->early_out)
			evbuffer_free(h->early_out);
		if (h->early_in)
			evbuffer_free(h->early_in);
		free(h->out);
		free(h->raw);
		if (h->pipe_r >= 0) {
			close(h->pipe_r);
			close(h->pipe_w);
		}
	}
	event_free(p->kick);
	if (p->reap)
		event_free(p->reap);
	if (p->idle)
		event_free(p->idle);
	bw_crypto_session_free(p->s);
	if (p->closed)
		p->closed(p->arg, &st);
	free(p);
}

void relay_pair_stats_get(const struct relay_pair *p, struct relay_pair_stats *st)
{
	st->bytes_a_to_b = p->h[0].bytes;
	st->bytes_b_to_a = p->h[1].bytes;
	st->duration_ms = bw_now_ms() - p->started_ms;
	st->reason = NULL;
}

static const char *side(const struct relay_half *h)
{
	return h == &h->pair->h[0] ? "a" : "b";
}

/* A system call on h failed with e: close the pair, saying why. */
static void fail(struct relay_half *h, int e)
{
	char why[96];

	if (e == ECONNRESET) {
		relay_pair_close(h->pair, "connection reset");
		return;
	}
	snprintf(why, sizeof(why), "%s side: %s", side(h), strerror(e));
	relay_pair_close(h->pair, why);
}

/* Add or delete ev as `on` says; *state remembers, so that nothing changes
 * (no epoll_ctl) when the wish is already true. */
static void ev_want(struct event *ev, bool *state, bool on)
{
	if (*state == on)
		return;
	*state = on;
	if (on)
		event_add(ev, NULL);
	else
		event_del(ev);
}

static void set_rd(struct relay_half *h, bool on)
{
	ev_want(h->rd, &h->rd_on, on);
}

static void set_wr(struct relay_half *h, bool on)
{
	ev_want(h->wr, &h->wr_on, on);
}

/* Have the loop pump h in this pass. */
static void kick(struct relay_half *h)
{
	struct relay_pair *p = h->pair;

	p->kick_mask |= 1u << (h == &p->h[1]);
	event_active(p->kick, EV_TIMEOUT, 1);
}

static void touch(struct relay_pair *p)
{
	if (p->idle)
		p->active_ms = bw_now_ms();
}

/* Give back buffers that hold nothing, unless the stream is busy: an idle
 * pair keeps no buffer. */
static void half_trim(struct relay_half *h)
{
	if (h->out && h->off == h->len && !h->other->hot) {
		free(h->out);
		h->out = NULL;
		h->off = h->len = 0;
	}
	if (h->raw && h->roff == h->rlen && !h->hot) {
		free(h->raw);
		h->raw = NULL;
		h->roff = h->rlen = 0;
	}
}

/* Write what is queued for h. 1: all written; 0: h's socket is full (its
 * write event is armed); -1: the pair closed. */
static int flush(struct relay_half *h)
{
	while (h->early_out) {
		struct evbuffer_iovec v[EARLY_IOV];
		struct iovec iov[EARLY_IOV];
		struct msghdr mh = { .msg_iov = iov };
		int n = evbuffer_peek(h->early_out, -1, NULL, v, EARLY_IOV);
		ssize_t w;

		if (n > EARLY_IOV)
			n = EARLY_IOV;
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		mh.msg_iovlen = (size_t)n;
		w = n > 0 ? sendmsg(h->fd, &mh, MSG_NOSIGNAL) : 0;
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				goto blocked;
			fail(h, errno);
			return -1;
		}
		evbuffer_drain(h->early_out, (size_t)w);
		if (evbuffer_get_length(h->early_out) > 0)
			goto blocked;
		evbuffer_free(h->early_out);
		h->early_out = NULL;
	}
	while (h->off < h->len) {
		ssize_t w = send(h->fd, h->out + h->off, h->len - h->off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				goto blocked;
			fail(h, errno);
			return -1;
		}
		h->off += (size_t)w;
		touch(h->pair);
		if (h->off < h->len)
			goto blocked;   /* a short write: the socket is full */
	}
	h->off = h->len = 0;
	while (h->plen > 0) {
		ssize_t w = splice(h->pipe_r, NULL, h->fd, NULL, h->plen,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				goto blocked;
			fail(h, errno);
			return -1;
		}
		h->plen -= (size_t)w;
		touch(h->pair);
		if (h->plen > 0)
			goto blocked;
	}
	set_wr(h, false);
	return 1;
blocked:
	set_wr(h, true);
	return 0;
}

/* Read from src into iov: first what its bufferevent had read. */
static ssize_t src_readv(struct relay_half *src, struct iovec *iov, int n)
{
	ssize_t got = 0;

	if (!src->early_in) {
		ssize_t r;

		do
			r = readv(src->fd, iov, n);
		while (r < 0 && errno == EINTR);
		return r;
	}
	for (int i = 0; i < n && evbuffer_get_length(src->early_in) > 0; i++)
		got += evbuffer_remove(src->early_in, iov[i].iov_base, iov[i].iov_len);
	if (evbuffer_get_length(src->early_in) == 0) {
		evbuffer_free(src->early_in);
		src->early_in = NULL;
	}
	return got;
}

static bool alloc_out(struct relay_half *dst)
{
	if (!dst->out)
		dst->out = malloc(OUT_CAP);
	return dst->out != NULL;
}

/* A read returned r (< 0 with errno, 0 at EOF). 1: go on with r bytes;
 * 0: nothing now (EAGAIN) or EOF (src->eof set); -1: the pair closed. */
static int read_result(struct relay_half *src, ssize_t r)
{
	if (r > 0) {
		touch(src->pair);
		return 1;
	}
	if (r == 0) {
		if (src->sealed) {
			/* The peer's end record never came: cut, not ended. */
			relay_pair_close(src->pair, "sealed stream truncated");
			return -1;
		}
		src->eof = true;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return 0;
	fail(src, errno);
	return -1;
}

/* Plain to plain: one read into dst's buffer. */
static void on_reap(evutil_socket_t fd, short what, void *arg);

/* A pipe for the bytes that go to dst. Only with room to spare for file
 * descriptors: descriptors are handed out lowest first, so a pipe numbered
 * past three quarters of the limit means the process is filling up, and
 * new connections need them more than this one needs zero-copy. */
static bool pipe_open(struct relay_half *dst)
{
	struct relay_pair *p = dst->pair;
	struct rlimit rl;
	int fd[2];

	if (!p->reap && !(p->reap = evtimer_new(event_get_base(dst->rd), on_reap, p)))
		goto no;
	if (pipe2(fd, O_NONBLOCK | O_CLOEXEC) < 0)
		goto no;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)fd[1] >= rl.rlim_cur / 4 * 3) {
		close(fd[0]);
		close(fd[1]);
		goto no;
	}
	dst->pipe_r = fd[0];
	dst->pipe_w = fd[1];
	if (!evtimer_pending(p->reap, NULL)) {
		struct timeval tv = { PIPE_IDLE_MS / 1000, (PIPE_IDLE_MS % 1000) * 1000 };

		evtimer_add(p->reap, &tv);
	}
	return true;
no:
	dst->no_splice = true;
	return false;
}

/* Close the pipes nothing went through since the last look: a pair that
 * went quiet after a burst gives its descriptors back. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct relay_pair *p = arg;
	bool left = false;

	for (int i = 0; i < 2; i++) {
		struct relay_half *h = &p->h[i];

		if (h->pipe_r < 0)
			continue;
		if (h->plen == 0 && !h->pipe_used) {
			close(h->pipe_r);
			close(h->pipe_w);
			h->pipe_r = h->pipe_w = -1;
			continue;
		}
		h->pipe_used = false;
		left = true;
	}
	if (left) {
		struct timeval tv = { PIPE_IDLE_MS / 1000, (PIPE_IDLE_MS % 1000) * 1000 };

		evtimer_add(p->reap, &tv);
	}
}

/* Plain to plain: one read into dst's buffer; once the stream is busy (the
 * last read filled the buffer), splice(2) through a pipe instead, so the
 * bytes are not copied into user space and back (measured: about a third
 * less CPU per GB relayed, docs/BENCHMARKS.md). Small messages keep the
 * buffer: a pipe costs two descriptors and three system calls to open. */
static int fill_plain(struct relay_half *src, struct relay_half *dst)
{
	size_t want = src->pair->cap;
	struct iovec iov = { NULL, want };
	ssize_t r;
	int rc;

	if (!src->early_in && (dst->pipe_r >= 0 || (src->hot && !dst->no_splice &&
						    pipe_open(dst)))) {
		if (dst->out) {
			free(dst->out);   /* empty: fill runs after a full flush */
			dst->out = NULL;
			dst->off = dst->len = 0;
		}
		do
			r = splice(src->fd, NULL, dst->pipe_w, NULL, want,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		while (r < 0 && errno == EINTR);
		rc = read_result(src, r);
		if (rc <= 0)
			return rc;
		dst->plen = (size_t)r;
		dst->pipe_used = true;
		src->bytes += (size_t)r;
		src->hot = (size_t)r == want;
		return 1;
	}
	if (!alloc_out(dst)) {
		relay_pair_close(src->pair, "out of memory");
		return -1;
	}
	iov.iov_base = dst->out;
	r = src_readv(src, &iov, 1);
	rc = read_result(src, r);
	if (rc <= 0)
		return rc;
	dst->len = (size_t)r;
	src->bytes += (size_t)r;
	src->hot = (size_t)r == want;
	return 1;
}

/* Plain to sealed: one readv into the payload slots of dst's buffer, each
 * slot then sealed in place behind its frame header. */
static int fill_seal(struct relay_half *src, struct relay_half *dst)
{
	struct relay_pair *p = src->pair;
	struct iovec iov[SEAL_SLOTS];
	size_t left, n;
	ssize_t r;
	int rc;

	for (int i = 0; i < (int)SEAL_SLOTS; i++) {
		iov[i].iov_base = dst->out + i * SEAL_SLOT + PROTO_FRAME_HDR;
		iov[i].iov_len = RELAY_SEAL_RECORD_MAX;
	}
	r = src_readv(src, iov, SEAL_SLOTS);
	rc = read_result(src, r);
	if (rc <= 0)
		return rc;
	src->bytes += (size_t)r;
	src->hot = (size_t)r == SEAL_SLOTS * RELAY_SEAL_RECORD_MAX;
	for (left = (size_t)r, n = 0; left > 0; n++) {
		uint8_t *slot = dst->out + n * SEAL_SLOT;
		size_t k = left < RELAY_SEAL_RECORD_MAX ? left : RELAY_SEAL_RECORD_MAX, sealed;

		if (bw_crypto_seal(p->s, NULL, 0, slot + PROTO_FRAME_HDR, k, slot + PROTO_FRAME_HDR,
				   SEAL_FRAME_MAX, &sealed) < 0) {
			relay_pair_close(p, "cannot seal");
			return -1;
		}
		proto_frame_header_write(slot, sealed);
		/* Only the last slot is short, so the frames lie end to end. */
		dst->len = n * SEAL_SLOT + PROTO_FRAME_HDR + sealed;
		left -= k;
	}
	return 1;
}

/* Sealed to plain: open the whole records staged from src into dst's buffer
 * while they fit; read more when none is whole. */
static int fill_open(struct relay_half *src, struct relay_half *dst)
{
	struct relay_pair *p = src->pair;

	if (!src->raw && !(src->raw = malloc(RAW_CAP))) {
		relay_pair_close(p, "out of memory");
		return -1;
	}
	for (;;) {
		bool opened = false;
		struct iovec iov;
		ssize_t r;
		int rc;

		while (src->rlen - src->roff >= PROTO_FRAME_HDR) {
			uint8_t *f = src->raw + src->roff;
			size_t plen = 0, len;

			rc = proto_frame_parse(f, src->rlen - src->roff, SEAL_FRAME_MAX, &plen);
			if (rc == BW_E_AGAIN)
				break;
			if (rc < 0)
				goto forged;
			/* dst's buffer is empty on entry, so the first record fits. */
			if (dst->len + plen > OUT_CAP)
				return 1;
			if (bw_crypto_open(p->s, NULL, 0, f + PROTO_FRAME_HDR, plen,
					   dst->out + dst->len, OUT_CAP - dst->len, &len) < 0)
				goto forged;
			src->roff += PROTO_FRAME_HDR + plen;
			opened = true;
			if (len == 0) {
				src->eof = true;   /* the end record */
				return 1;
			}
			dst->len += len;
			src->bytes += len;
		}
		if (opened)
			return 1;
		/* No whole record: keep the partial one at the start and read. */
		if (src->roff > 0) {
			memmove(src->raw, src->raw + src->roff, src->rlen - src->roff);
			src->rlen -= src->roff;
			src->roff = 0;
		}
		iov.iov_base = src->raw + src->rlen;
		iov.iov_len = RAW_CAP - src->rlen;
		r = src_readv(src, &iov, 1);
		rc = read_result(src, r);
		if (rc <= 0)
			return rc;
		src->rlen += (size_t)r;
		src->hot = (size_t)r == iov.iov_len;
	}
forged:
	relay_pair_close(p, "record failed authentication");
	return -1;
}

/* Fill dst's empty buffer from src. 1: bytes for dst (or src's end came);
 * 0: src has nothing now; -1: the pair closed. */
static int fill(struct relay_half *src, struct relay_half *dst)
{
	/* fill_plain needs the buffer only when it does not splice. */
	if ((src->sealed || dst->sealed) && !alloc_out(dst)) {
		relay_pair_close(src->pair, "out of memory");
		return -1;
	}
	if (src->sealed)
		return fill_open(src, dst);
	if (dst->sealed)
		return fill_seal(src, dst);
	return fill_plain(src, dst);
}

/* Input src holds in user space (not in its socket, so epoll will not say). */
static bool src_buffered(const struct relay_half *src)
{
	return src->early_in || (src->raw && src->rlen - src->roff >= PROTO_FRAME_HDR);
}

/* src will send no more and its bytes are written: end dst's direction, an
 * end record first when dst is sealed. */
static void direction_end(struct relay_half *src)
{
	struct relay_half *dst = src->other;
	struct relay_pair *p = src->pair;

	set_rd(src, false);
	if (dst->shut)
		return;
	if (dst->sealed && !dst->end_queued) {
		size_t sealed;

		if (!alloc_out(dst) ||
		    bw_crypto_seal(p->s, NULL, 0, dst->out + PROTO_FRAME_HDR, 0,
				   dst->out + PROTO_FRAME_HDR, SEAL_FRAME_MAX, &sealed) < 0) {
			relay_pair_close(p, "cannot seal");
			return;
		}
		proto_frame_header_write(dst->out, sealed);
		dst->off = 0;
		dst->len = PROTO_FRAME_HDR + sealed;
		dst->end_queued = true;
		if (flush(dst) <= 0)
			return;   /* dst's write event brings us back here */
	}
	dst->shut = true;
	shutdown(dst->fd, SHUT_WR);
	src->hot = false;
	half_trim(dst);
	half_trim(src);
	if (p->h[0].eof && p->h[1].eof && p->h[0].shut && p->h[1].shut)
		relay_pair_close(p, "done");
}

/* Move bytes from src to the other half until src has nothing more now, the
 * other half's socket is full, or PAIR_ROUNDS buffers went through. */
static void pump(struct relay_half *src)
{
	struct relay_half *dst = src->other;

	for (int round = 0;; round++) {
		int rc = flush(dst);

		if (rc < 0)
			return;
		if (rc == 0) {
			set_rd(src, false);   /* resumed by dst's write event */
			return;
		}
		if (src->eof) {
			direction_end(src);
			return;
		}
		if (round > 0 && !src->hot && !src_buffered(src))
			break;   /* the last read was short: src is drained */
		if (round == PAIR_ROUNDS) {
			/* Let the others run; epoll cannot say what is buffered here. */
			if (src_buffered(src))
				kick(src);
			break;
		}
		rc = fill(src, dst);
		if (rc < 0)
			return;
		if (rc == 0 && !src->eof) {
			src->hot = false;
			break;
		}
	}
	set_rd(src, true);
	half_trim(dst);
	half_trim(src);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	pump(arg);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct relay_half *h = arg;

	pump(h->other);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct relay_pair *p = arg;
	unsigned mask = p->kick_mask;

	p->kick_mask = 0;
	if (mask == 3) {
		/* One at a time: the pump of h[0] may close the pair, which
		 * also cancels the kick left for h[1]. */
		kick(&p->h[1]);
		mask = 1;
	}
	if (mask)
		pump(&p->h[mask == 2]);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct relay_pair *p = arg;
	int64_t quiet = bw_now_ms() - p->active_ms;
	struct timeval tv;

	if (quiet >= p->idle_ms) {
		relay_pair_close(p, "idle timeout");
		return;
	}
	tv.tv_sec = (p->idle_ms - quiet) / 1000;
	tv.tv_usec = ((p->idle_ms - quiet) % 1000) * 1000;
	evtimer_add(p->idle, &tv);
}

/* Only a bufferevent on a socket of its own can give its socket away. */
static bool is_socket_bev(struct bufferevent *bev)
{
	return bufferevent_getfd(bev) >= 0 && bufferevent_get_underlying(bev) == NULL;
}

struct relay_pair *relay_pair_new(struct bufferevent *a, struct bufferevent *b,
				  const struct relay_pair_opts *opts, int *rc)
{
	struct bufferevent *bev[2] = { a, b };
	struct event_base *base = bufferevent_get_base(a);
	struct relay_pair *p;

	if (!is_socket_bev(a) || !is_socket_bev(b)) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	p->idle_ms = opts->idle_timeout_ms;
	for (int i = 0; i < 2; i++) {
		struct relay_half *h = &p->h[i];

		h->pair = p;
		h->other = &p->h[1 - i];
		h->pipe_r = h->pipe_w = -1;
		h->fd = bufferevent_getfd(bev[i]);
		h->rd = event_new(base, h->fd, EV_READ | EV_PERSIST, on_readable, h);
		h->wr = event_new(base, h->fd, EV_WRITE | EV_PERSIST, on_writable, h);
		if (evbuffer_get_length(bufferevent_get_input(bev[i])) > 0)
			h->early_in = evbuffer_new();
		if (evbuffer_get_length(bufferevent_get_output(bev[i])) > 0)
			h->early_out = evbuffer_new();
		if (!h->rd || !h->wr ||
		    (!h->early_in && evbuffer_get_length(bufferevent_get_input(bev[i])) > 0) ||
		    (!h->early_out && evbuffer_get_length(bufferevent_get_output(bev[i])) > 0))
			goto nomem;
	}
	if (!(p->kick = event_new(base, -1, 0, on_kick, p)))
		goto nomem;
	if (p->idle_ms > 0 && !(p->idle = evtimer_new(base, on_idle, p)))
		goto nomem;
	/* The bufferevents are taken apart in relay_pair_start: until then
	 * they still own their sockets. */
	for (int i = 0; i < 2; i++) {
		p->h[i].bev = bev[i];
		bufferevent_setcb(bev[i], NULL, NULL, NULL, NULL);
	}
	p->s = opts->seal_b;
	p->h[1].sealed = p->s != NULL;
	p->closed = opts->closed;
	p->arg = opts->arg;
	p->cap = opts->high_watermark && opts->high_watermark < PAIR_BUF ? opts->high_watermark :
		 PAIR_BUF;
	p->started_ms = p->active_ms = bw_now_ms();
	*rc = 0;
	return p;
nomem:
	for (int i = 0; i < 2; i++) {
		struct relay_half *h = &p->h[i];

		if (h->rd)
			event_free(h->rd);
		if (h->wr)
			event_free(h->wr);
		if (h->early_in)
			evbuffer_free(h->early_in);
		if (h->early_out)
			evbuffer_free(h->early_out);
	}
	if (p->kick)
		event_free(p->kick);
	free(p);
	*rc = BW_E_NOMEM;
	return NULL;
}

/* Take h's socket and what its bufferevent held, and free the bufferevent
 * without closing the socket (setfd -1 also unfreezes the output, so it can
 * be drained). h's read event is added first: while the bufferevent still
 * reads, the socket stays registered with epoll and neither step costs a
 * system call. */
static void half_take(struct relay_half *h)
{
	struct bufferevent *bev = h->bev;

	set_rd(h, true);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bufferevent_setfd(bev, -1);
	if (h->early_in)
		evbuffer_add_buffer(h->early_in, bufferevent_get_input(bev));
	if (h->early_out)
		evbuffer_add_buffer(h->early_out, bufferevent_get_output(bev));
	bufferevent_free(bev);
	h->bev = NULL;
}

void relay_pair_start(struct relay_pair *p)
{
	for (int i = 0; i < 2; i++) {
		struct relay_half *h = &p->h[i];
		int one = 1;

		half_take(h);
		/* Each read is written at once: Nagle would hold a small write
		 * back until the previous one is acknowledged (40 ms against a
		 * delayed ACK). A no-op where the owner already set it; fails
		 * harmlessly on a socket that is not TCP. */
		setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* What the bufferevents held goes out from the loop, in this
		 * pass, never from inside this call: h's input by pumping h,
		 * its output by pumping the other half. */
		if (h->early_in)
			kick(h);
		if (h->early_out)
			kick(h->other);
	}
	if (p->idle) {
		struct timeval tv = { p->idle_ms / 1000, (p->idle_ms % 1000) * 1000 };

		evtimer_add(p->idle, &tv);
	}
}
