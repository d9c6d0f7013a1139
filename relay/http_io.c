/*
 * The sockets of the http vhost port (struct relay_hconn): the user
 * connections and the work connections that carry their requests, read and
 * written by burrowd itself instead of through bufferevents.
 *
 * A socket bufferevent costs two system calls per read (ioctl(FIONREAD) to
 * size the read, then readv) and writes only on the loop pass after the
 * bytes were queued, arming and disarming its write event around it. An
 * hconn reads once per wakeup straight into its input buffer, and writes
 * when its owner calls relay_hconn_flush, in the same pass: a kept-alive
 * request costs one read and one write on each socket, and no epoll_ctl.
 *
 * The interface follows the subset of bufferevents the vhost port used, so
 * its logic did not change: a read callback after new bytes came, a drained
 * callback when the write event emptied the output, an event callback with
 * BEV_EVENT_* flags for EOF, errors and timeouts (reading stops on each, as
 * a bufferevent's does), a read watermark, and a timeout for each direction
 * that restarts with every read or write.
 *
 * Callbacks may free the hconn: nothing here touches it after calling one.
 */
#include "relay/relay_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/err.h"

#define READ_MAX (16u << 10)   /* bytes asked for per read */
#define WRITE_IOV 16           /* buffer pieces per sendmsg */

/* Whether the read event should be pending: reading is on, the input is
 * below its watermark, and EOF has not come. */
static bool rd_wanted(const struct relay_hconn *h)
{
	return h->reading && !h->eof &&
	       (!h->read_high || evbuffer_get_length(h->in) < h->read_high);
}

/* Add or delete the read event as rd_wanted says. Deleting and adding
 * again costs two epoll_ctl calls, so neither happens without a change. */
static void rd_update(struct relay_hconn *h)
{
	bool want = rd_wanted(h);

	if (want == h->rd_on)
		return;
	h->rd_on = want;
	if (want)
		event_add(h->rd, h->has_rto ? &h->rto : NULL);
	else
		event_del(h->rd);
}

static void wr_set(struct relay_hconn *h, bool on)
{
	if (on == h->wr_on)
		return;
	h->wr_on = on;
	if (on)
		event_add(h->wr, h->has_wto ? &h->wto : NULL);
	else
		event_del(h->wr);
}

/* The input buffer changed: a read filled it to its watermark, or the owner
 * drained it below. */
static void on_input_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct relay_hconn *h = arg;

	if (h->read_high)
		rd_update(h);
}

/* Write as much of the output as the socket takes: 1 all of it, 0 some is
 * left, or -errno. */
static int out_write(struct relay_hconn *h)
{
	while (evbuffer_get_length(h->out) > 0) {
		struct evbuffer_iovec v[WRITE_IOV];
		struct iovec iov[WRITE_IOV];
		struct msghdr mh = { .msg_iov = iov };
		int n = evbuffer_peek(h->out, -1, NULL, v, WRITE_IOV);
		size_t want = 0;
		ssize_t w;

		if (n > WRITE_IOV)
			n = WRITE_IOV;
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
			want += v[i].iov_len;
		}
		mh.msg_iovlen = (size_t)n;
		w = sendmsg(h->fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		evbuffer_drain(h->out, (size_t)w);
		if ((size_t)w < want)
			return 0;   /* a short write: the socket is full */
	}
	return 1;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct relay_hconn *h = arg;
	struct evbuffer_iovec v[2];
	struct iovec iov[2];
	ssize_t n;
	int nv;

	if (what & EV_TIMEOUT) {
		h->reading = false;
		rd_update(h);
		h->on_event(h, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, h->arg);
		return;
	}
	/* Past the watermark by at most one read: on_input_changed stops
	 * reading once it is reached. */
	nv = evbuffer_reserve_space(h->in, READ_MAX, v, 2);
	if (nv < 1) {
		h->reading = false;
		rd_update(h);
		h->on_event(h, BEV_EVENT_READING | BEV_EVENT_ERROR, h->arg);
		return;
	}
	for (int i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	do
		n = readv(fd, iov, nv);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		evbuffer_commit_space(h->in, v, 0);
		return;
	}
	if (n <= 0) {
		short ev = n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR;

		h->err = n == 0 ? 0 : errno;
		evbuffer_commit_space(h->in, v, 0);
		h->eof = n == 0;
		h->reading = false;
		rd_update(h);
		h->on_event(h, BEV_EVENT_READING | ev, h->arg);
		return;
	}
	/* Commit what readv filled: the first extent, then the second. */
	for (int i = 0; i < nv; i++) {
		size_t k = (size_t)n < v[i].iov_len ? (size_t)n : v[i].iov_len;

		v[i].iov_len = k;
		n -= (ssize_t)k;
		if (k == 0) {
			nv = i;
			break;
		}
	}
	evbuffer_commit_space(h->in, v, nv);
	h->on_read(h, h->arg);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct relay_hconn *h = arg;
	int rc;

	if (what & EV_TIMEOUT) {
		wr_set(h, false);
		h->on_event(h, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT, h->arg);
		return;
	}
	rc = out_write(h);
	if (rc == 0)
		return;
	wr_set(h, false);
	if (rc < 0) {
		h->err = -rc;
		h->reading = false;
		rd_update(h);
		h->on_event(h, BEV_EVENT_WRITING | BEV_EVENT_ERROR, h->arg);
		return;
	}
	if (h->on_drained)
		h->on_drained(h, h->arg);
}

static void noop(struct relay_hconn *h, void *arg)
{
}

static void noop_event(struct relay_hconn *h, short what, void *arg)
{
}

/* Everything but the socket: events, buffers, callbacks that do nothing. */
static struct relay_hconn *hconn_alloc(struct event_base *base, evutil_socket_t fd, int *rc)
{
	struct relay_hconn *h = calloc(1, sizeof(*h));

	if (!h) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	h->fd = fd;
	h->on_read = noop;
	h->on_event = noop_event;
	h->rd = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, h);
	h->wr = event_new(base, fd, EV_WRITE | EV_PERSIST, on_writable, h);
	h->in = evbuffer_new();
	h->out = evbuffer_new();
	if (!h->rd || !h->wr || !h->in || !h->out || !evbuffer_add_cb(h->in, on_input_changed, h)) {
		h->fd = -1;
		relay_hconn_free(h);
		*rc = BW_E_NOMEM;
		return NULL;
	}
	*rc = 0;
	return h;
}

struct relay_hconn *relay_hconn_new(struct event_base *base, evutil_socket_t fd, int *rc)
{
	return hconn_alloc(base, fd, rc);
}

struct relay_hconn *relay_hconn_take_bev(struct bufferevent *bev, int *rc)
{
	struct relay_hconn *h;

	if (bufferevent_getfd(bev) < 0 || bufferevent_get_underlying(bev)) {
		*rc = BW_E_INVAL;
		return NULL;
	}
	h = hconn_alloc(bufferevent_get_base(bev), bufferevent_getfd(bev), rc);
	if (!h)
		return NULL;
	/* Reading first, as relay_pair does: while the bufferevent still
	 * reads, the socket stays registered with epoll and neither step
	 * costs a system call. */
	h->reading = true;
	rd_update(h);
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bufferevent_setfd(bev, -1);    /* also unfreezes its output */
	evbuffer_add_buffer(h->in, bufferevent_get_input(bev));
	evbuffer_add_buffer(h->out, bufferevent_get_output(bev));
	bufferevent_free(bev);
	return h;
}

struct bufferevent *relay_hconn_give_bev(struct relay_hconn *h, int *rc)
{
	struct bufferevent *bev;
	struct evbuffer *in;

	bev = bufferevent_socket_new(event_get_base(h->rd), h->fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		*rc = BW_E_NOMEM;
		return NULL;
	}
	h->reading = false;
	rd_update(h);
	wr_set(h, false);
	/* A socket bufferevent's input only takes bytes from its socket: this
	 * is the read the socket had already made. */
	in = bufferevent_get_input(bev);
	evbuffer_unfreeze(in, 0);
	evbuffer_remove_cb(h->in, on_input_changed, h);
	evbuffer_add_buffer(in, h->in);
	evbuffer_freeze(in, 0);
	evbuffer_add_buffer(bufferevent_get_output(bev), h->out);
	h->fd = -1;
	relay_hconn_free(h);
	*rc = 0;
	return bev;
}

void relay_hconn_free(struct relay_hconn *h)
{
	if (!h)
		return;
	if (h->rd)
		event_free(h->rd);
	if (h->wr)
		event_free(h->wr);
	if (h->in)
		evbuffer_free(h->in);
	if (h->out)
		evbuffer_free(h->out);
	if (h->fd >= 0)
		evutil_closesocket(h->fd);
	free(h);
}

void relay_hconn_setcb(struct relay_hconn *h, relay_hconn_cb on_read, relay_hconn_cb on_drained,
		       relay_hconn_event_cb on_event, void *arg)
{
	h->on_read = on_read ? on_read : noop;
	h->on_drained = on_drained;
	h->on_event = on_event ? on_event : noop_event;
	h->arg = arg;
}

void relay_hconn_set_timeouts(struct relay_hconn *h, const struct timeval *rd,
			      const struct timeval *wr)
{
	h->has_rto = rd != NULL;
	if (rd)
		h->rto = *rd;
	h->has_wto = wr != NULL;
	if (wr)
		h->wto = *wr;
	/* A pending event takes its new timeout now (no system call). Adding
	 * it again without one would keep the old timeout: remove it. */
	if (h->rd_on && h->has_rto)
		event_add(h->rd, &h->rto);
	else if (h->rd_on)
		event_remove_timer(h->rd);
	if (h->wr_on && h->has_wto)
		event_add(h->wr, &h->wto);
	else if (h->wr_on)
		event_remove_timer(h->wr);
}

void relay_hconn_set_read_high(struct relay_hconn *h, size_t high)
{
	h->read_high = high;
	rd_update(h);
}

void relay_hconn_read(struct relay_hconn *h, bool on)
{
	h->reading = on;
	rd_update(h);
}

void relay_hconn_flush(struct relay_hconn *h)
{
	int rc;

	if (h->wr_on || evbuffer_get_length(h->out) == 0)
		return;
	rc = out_write(h);
	/* A remainder, or an error the write event reports from the loop
	 * (the socket is writable once it failed): never a callback under
	 * the caller. */
	if (rc <= 0)
		wr_set(h, true);
}

void relay_hconn_write_notify(struct relay_hconn *h)
{
	wr_set(h, true);
}

void relay_hconn_shutdown(struct relay_hconn *h)
{
	shutdown(h->fd, SHUT_WR);
}
