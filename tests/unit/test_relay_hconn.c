/*
 * The http vhost port's sockets (relay/http_io.c, struct relay_hconn) on
 * real loopback TCP connections:
 *
 *   u ==tcp== [h]    the test writes and reads u; burrowd's side is h
 *
 * bytes in (read callback) and out (flush writes at once, the write event
 * the rest, then the drained callback), EOF, a read timeout, the read
 * watermark stopping and resuming reads, and a socket bufferevent taken
 * apart and rebuilt with the bytes it held. The loop runs without blocking
 * between the test's own reads and writes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/err.h"
#include "relay/relay_int.h"

#include "test_relay.h"

/* What the callbacks saw. */
struct seen {
	int reads, drained, events;
	short what;
};

static void on_read(struct relay_hconn *h, void *arg)
{
	((struct seen *)arg)->reads++;
}

static void on_drained(struct relay_hconn *h, void *arg)
{
	((struct seen *)arg)->drained++;
}

static void on_event(struct relay_hconn *h, short what, void *arg)
{
	struct seen *s = arg;

	s->events++;
	s->what = what;
}

struct rig {
	struct event_base *base;
	struct relay_hconn *h;
	int u;
	struct seen seen;
};

static void rig_open(struct rig *r)
{
	int fd[2], rc = -1;

	memset(r, 0, sizeof(*r));
	r->base = event_base_new();
	assert_non_null(r->base);
	tcp_pair(fd);
	r->u = fd[0];
	r->h = relay_hconn_new(r->base, fd[1], &rc);
	assert_int_equal(rc, 0);
	assert_non_null(r->h);
	relay_hconn_setcb(r->h, on_read, on_drained, on_event, &r->seen);
}

static void rig_close(struct rig *r)
{
	relay_hconn_free(r->h);
	if (r->u >= 0)
		close(r->u);
	event_base_free(r->base);
}

/* Run the loop until *counter passes `above`, for at most 5 s. */
static void run_until(struct rig *r, const int *counter, int above)
{
	for (int i = 0; i < 5000 && *counter <= above; i++) {
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		if (*counter <= above)
			usleep(1000);
	}
	assert_true(*counter > above);
}

/* Read exactly n bytes from the test's end, looping the base meanwhile. */
static void u_read(struct rig *r, char *buf, size_t n)
{
	size_t got = 0;

	for (int i = 0; i < 5000 && got < n; i++) {
		ssize_t k = read(r->u, buf + got, n - got);

		if (k > 0)
			got += (size_t)k;
		else if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
		event_base_loop(r->base, EVLOOP_NONBLOCK);
		if (got < n && k <= 0)
			usleep(1000);
	}
	assert_int_equal(got, n);
}

static void test_relay_hconn_read_and_flush(void **state)
{
	struct rig r;
	char buf[16];

	rig_open(&r);
	relay_hconn_read(r.h, true);
	assert_int_equal(write(r.u, "hello", 5), 5);
	run_until(&r, &r.seen.reads, 0);
	assert_int_equal(evbuffer_get_length(r.h->in), 5);
	assert_memory_equal(evbuffer_pullup(r.h->in, 5), "hello", 5);
	/* flush writes in the call: the bytes are there without a loop pass. */
	evbuffer_add(r.h->out, "world", 5);
	relay_hconn_flush(r.h);
	assert_int_equal(evbuffer_get_length(r.h->out), 0);
	assert_false(r.h->wr_on);
	u_read(&r, buf, 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(r.seen.drained, 0);
	assert_int_equal(r.seen.events, 0);
	rig_close(&r);
}

/* An output the socket cannot take at once goes through the write event,
 * then the drained callback says it is empty. */
static void test_relay_hconn_flush_rest_then_drained(void **state)
{
	size_t n = 8u << 20, got = 0;
	char *big = malloc(n), *back = malloc(n);
	struct rig r;

	assert_non_null(big);
	assert_non_null(back);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)(i * 7);
	rig_open(&r);
	evbuffer_add(r.h->out, big, n);
	relay_hconn_flush(r.h);
	assert_true(evbuffer_get_length(r.h->out) > 0);
	assert_true(r.h->wr_on);
	for (int i = 0; i < 20000 && got < n; i++) {
		ssize_t k = read(r.u, back + got, n - got);

		if (k > 0)
			got += (size_t)k;
		event_base_loop(r.base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(got, n);
	assert_memory_equal(back, big, n);
	run_until(&r, &r.seen.drained, 0);
	assert_false(r.h->wr_on);
	/* write_notify on an empty output calls drained from the loop. */
	relay_hconn_write_notify(r.h);
	assert_int_equal(r.seen.drained, 1);
	run_until(&r, &r.seen.drained, 1);
	rig_close(&r);
	free(big);
	free(back);
}

static void test_relay_hconn_eof_stops_reading(void **state)
{
	struct rig r;

	rig_open(&r);
	relay_hconn_read(r.h, true);
	assert_int_equal(write(r.u, "bye", 3), 3);
	shutdown(r.u, SHUT_WR);
	run_until(&r, &r.seen.events, 0);
	assert_int_equal(r.seen.what, BEV_EVENT_READING | BEV_EVENT_EOF);
	assert_int_equal(evbuffer_get_length(r.h->in), 3);
	assert_false(r.h->reading);
	assert_false(r.h->rd_on);
	/* Asking to read again after EOF arms nothing. */
	relay_hconn_read(r.h, true);
	assert_false(r.h->rd_on);
	rig_close(&r);
}

static void test_relay_hconn_read_timeout(void **state)
{
	struct timeval tv = { 0, 50000 };
	struct rig r;

	rig_open(&r);
	relay_hconn_set_timeouts(r.h, &tv, NULL);
	relay_hconn_read(r.h, true);
	run_until(&r, &r.seen.events, 0);
	assert_int_equal(r.seen.what, BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
	assert_false(r.h->reading);
	/* The owner may read on, and the timeout runs again. */
	relay_hconn_read(r.h, true);
	run_until(&r, &r.seen.events, 1);
	assert_int_equal(r.seen.what, BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
	/* Cleared while the read event is pending: it never fires again. */
	relay_hconn_read(r.h, true);
	relay_hconn_set_timeouts(r.h, NULL, NULL);
	for (int i = 0; i < 150; i++) {
		event_base_loop(r.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(r.seen.events, 2);
	assert_true(r.h->rd_on);
	rig_close(&r);
}

/* Past the watermark reading stops, so a peer that sends without end holds
 * a bounded input; draining below it resumes reading. */
static void test_relay_hconn_read_high_watermark(void **state)
{
	static char chunk[64 << 10];
	struct rig r;
	size_t high = 4096;

	rig_open(&r);
	relay_hconn_set_read_high(r.h, high);
	relay_hconn_read(r.h, true);
	assert_int_equal(write(r.u, chunk, sizeof(chunk)), (ssize_t)sizeof(chunk));
	run_until(&r, &r.seen.reads, 0);
	for (int i = 0; i < 50; i++) {
		event_base_loop(r.base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_true(evbuffer_get_length(r.h->in) >= high);
	assert_true(evbuffer_get_length(r.h->in) < high + (32u << 10));
	assert_false(r.h->rd_on);
	assert_true(r.h->reading);
	evbuffer_drain(r.h->in, evbuffer_get_length(r.h->in));
	assert_true(r.h->rd_on);
	run_until(&r, &r.seen.reads, r.seen.reads);
	rig_close(&r);
}

/* A socket bufferevent's socket and the bytes it held move into an hconn
 * and back. */
static void test_relay_hconn_take_and_give_bev(void **state)
{
	struct rig r;
	struct bufferevent *bev;
	struct relay_hconn *h;
	int fd[2], rc = -1;
	char buf[16];

	memset(&r, 0, sizeof(r));
	r.base = event_base_new();
	tcp_pair(fd);
	r.u = fd[0];
	bev = bufferevent_socket_new(r.base, fd[1], BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	bufferevent_enable(bev, EV_READ);
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_write(bev, "queued", 6);
	h = relay_hconn_take_bev(bev, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(h);
	assert_true(h->reading);
	assert_int_equal(evbuffer_get_length(h->out), 6);
	r.h = h;
	relay_hconn_setcb(h, on_read, on_drained, on_event, &r.seen);
	relay_hconn_flush(h);
	u_read(&r, buf, 6);
	assert_memory_equal(buf, "queued", 6);
	assert_int_equal(write(r.u, "in", 2), 2);
	run_until(&r, &r.seen.reads, 0);
	evbuffer_add(h->out, "out", 3);
	bev = relay_hconn_give_bev(h, &rc);
	r.h = NULL;
	assert_int_equal(rc, 0);
	assert_non_null(bev);
	assert_int_equal(evbuffer_get_length(bufferevent_get_input(bev)), 2);
	assert_int_equal(evbuffer_get_length(bufferevent_get_output(bev)), 3);
	bufferevent_free(bev);
	/* Not a socket bufferevent: refused, the caller keeps it. */
	{
		struct bufferevent *bp[2];

		assert_int_equal(bufferevent_pair_new(r.base, 0, bp), 0);
		assert_null(relay_hconn_take_bev(bp[0], &rc));
		assert_int_equal(rc, BW_E_INVAL);
		bufferevent_free(bp[0]);
		bufferevent_free(bp[1]);
	}
	relay_hconn_free(NULL);
	rig_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_hconn_read_and_flush),
		cmocka_unit_test(test_relay_hconn_flush_rest_then_drained),
		cmocka_unit_test(test_relay_hconn_eof_stops_reading),
		cmocka_unit_test(test_relay_hconn_read_timeout),
		cmocka_unit_test(test_relay_hconn_read_high_watermark),
		cmocka_unit_test(test_relay_hconn_take_and_give_bev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
