/*
 * io/curl_glue.c — libcurl's multi_socket API on the io_uring reactor.
 *
 * Data flow: the reactor reports a socket ready (or the curl timer due) →
 * curl_multi_socket_action() moves the transfers on → curl_multi_info_read()
 * yields finished transfers → done_cb, which turns them into events or
 * effect completions. libcurl's own callbacks (socket, timer) only record
 * what to wait for; they never call back into libcurl.
 *
 * Each socket libcurl hands us gets a small record, attached to the socket
 * with curl_multi_assign() so the socket callback finds it, and kept on a
 * list so io_curl_detach() can drop every poll.
 *
 * done_cb may detach the glue; the glue is then freed when the callback that
 * ran done_cb unwinds (depth counts the glue's frames on the stack).
 */
#include "io/curl_glue.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>

struct sock {
	struct sock *prev, *next;
	curl_socket_t fd;
	bool polled; /* registered with the reactor (not for CURL_POLL_NONE) */
};

struct io_curl {
	struct io_reactor *r;
	CURLM *multi;
	void (*done_cb)(void *arg, CURLMsg *msg);
	void *arg;
	uint64_t timer_id;
	struct sock *socks;
	unsigned depth; /* glue frames on the stack: free only at 0 */
	bool detached;
};

static void sock_unlink(struct io_curl *g, struct sock *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		g->socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
}

static uint32_t poll_events(int what)
{
	uint32_t events = 0;
	if (what & CURL_POLL_IN)
		events |= POLLIN;
	if (what & CURL_POLL_OUT)
		events |= POLLOUT;
	return events;
}

/* Hands finished transfers to done_cb. Bounded by what libcurl has queued. */
static void info_drain(struct io_curl *g)
{
	CURLMsg *msg;
	int left;
	while (!g->detached && (msg = curl_multi_info_read(g->multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			g->done_cb(g->arg, msg);
	}
}

static void action(struct io_curl *g, curl_socket_t fd, int ev_bitmask)
{
	g->depth++;
	int running;
	CURLMcode mc = curl_multi_socket_action(g->multi, fd, ev_bitmask, &running);
	/* A failure here concerns the multi handle as a whole (out of memory);
	 * transfers that failed still arrive as CURLMSG_DONE with their code. */
	(void)mc;
	info_drain(g);
	g->depth--;
	if (g->detached && g->depth == 0)
		free(g);
}

static void on_poll(void *arg, int fd, uint32_t revents)
{
	struct io_curl *g = arg;
	assert(!g->detached);
	int ev = 0;
	/* A hang-up is read as EOF; libcurl learns of it by reading. */
	if (revents & (POLLIN | POLLHUP | POLLRDHUP))
		ev |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		ev |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLNVAL))
		ev |= CURL_CSELECT_ERR;
	action(g, fd, ev);
}

static void on_timer(void *arg, uint64_t timer_id)
{
	struct io_curl *g = arg;
	assert(!g->detached);
	assert(timer_id == g->timer_id);
	action(g, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: returns 0, or -1 when the reactor refuses the fd. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	(void)easy;
	struct io_curl *g = userp;
	struct sock *s = socketp;
	assert(!g->detached);
	if (what == CURL_POLL_REMOVE) {
		if (s == NULL)
			return 0;
		if (s->polled)
			(void)io_poll_del(g->r, fd);
		sock_unlink(g, s);
		free(s);
		return 0;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return -1;
		s->fd = fd;
		s->next = g->socks;
		if (g->socks != NULL)
			g->socks->prev = s;
		g->socks = s;
		curl_multi_assign(g->multi, fd, s);
	}
	assert(s->fd == fd);
	uint32_t events = poll_events(what);
	int rc = 0;
	if (events == 0) {
		if (s->polled) {
			rc = io_poll_del(g->r, fd);
			s->polled = rc != 0;
		}
	} else if (s->polled) {
		rc = io_poll_mod(g->r, fd, events);
	} else {
		rc = io_poll_add(g->r, fd, events, on_poll, g);
		s->polled = rc == 0;
	}
	return rc == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 means the next turn, not now. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct io_curl *g = userp;
	assert(!g->detached);
	if (timeout_ms < 0) {
		(void)io_timer_cancel(g->r, g->timer_id);
		return 0;
	}
	/*
	 * Relative to the turn's now: called between turns, that is a little in the
	 * past, so the timer may fire early. libcurl allows for it: a premature
	 * CURL_SOCKET_TIMEOUT makes it ask for the timer again.
	 */
	uint64_t due_ms = io_reactor_now_ms(g->r) + (uint64_t)timeout_ms;
	return io_timer_set(g->r, g->timer_id, due_ms, on_timer, g) == 0 ? 0 : -1;
}

int io_curl_attach(struct io_reactor *r, CURLM *multi, void (*done_cb)(void *arg, CURLMsg *msg),
                   void *arg, struct io_curl **out)
{
	if (r == NULL || multi == NULL || done_cb == NULL || out == NULL)
		return -EINVAL;
	struct io_curl *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->r = r;
	g->multi = multi;
	g->done_cb = done_cb;
	g->arg = arg;
	g->timer_id = io_timer_id_alloc(r);
	if (curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb) != CURLM_OK ||
	    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, g) != CURLM_OK ||
	    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
	    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, g) != CURLM_OK) {
		free(g);
		return -EINVAL;
	}
	/* Handles added before attaching: kick them on the next turn. */
	int rc = io_timer_set(r, g->timer_id, io_reactor_now_ms(r), on_timer, g);
	if (rc < 0) {
		io_curl_detach(g);
		return rc;
	}
	*out = g;
	return 0;
}

void io_curl_detach(struct io_curl *g)
{
	if (g == NULL)
		return;
	assert(!g->detached);
	curl_multi_setopt(g->multi, CURLMOPT_SOCKETFUNCTION, NULL);
	curl_multi_setopt(g->multi, CURLMOPT_SOCKETDATA, NULL);
	curl_multi_setopt(g->multi, CURLMOPT_TIMERFUNCTION, NULL);
	curl_multi_setopt(g->multi, CURLMOPT_TIMERDATA, NULL);
	(void)io_timer_cancel(g->r, g->timer_id);
	struct sock *s = g->socks;
	while (s != NULL) {
		struct sock *next = s->next;
		if (s->polled)
			(void)io_poll_del(g->r, s->fd);
		curl_multi_assign(g->multi, s->fd, NULL);
		free(s);
		s = next;
	}
	g->socks = NULL;
	g->detached = true;
	if (g->depth == 0)
		free(g);
}
