/*
 * curl_glue_test.c — libcurl's multi handle driven by the reactor, against
 * servers on loopback started here: a tiny HTTP/1.1 responder and a tiny
 * HTTP/2 (prior knowledge, h2c) responder, each a forked child that forks per
 * connection and stops by itself (alarm). Bodies are sized by the path, so a
 * large one proves the socket polls are level-triggered (libcurl reads a
 * buffer per call and expects to be told again).
 */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/curl_glue.h"
#include "io/reactor.h"
#include "test.h"

#define SERVER_LIFE_S 30 /* every server process exits by then, whatever happens */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void curl_ready(void)
{
	static int done;
	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		atexit(curl_global_cleanup);
		done = 1;
	}
}

/* ---- servers (child processes; they only _exit) ---- */

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	char *c = p;
	while (n > 0) {
		ssize_t got = read(fd, c, n);
		if (got <= 0)
			return -1;
		c += got;
		n -= (size_t)got;
	}
	return 0;
}

/* The body for "GET /<n>": n bytes of a pattern the client checks. */
static char body_byte(size_t i)
{
	return (char)('a' + i % 26);
}

/* HTTP/1.1 with keep-alive: answers each request on the connection until EOF. */
static void serve_http1(int c)
{
	char req[8192];
	size_t have = 0;
	for (;;) {
		char *end = memmem(req, have, "\r\n\r\n", 4);
		if (end == NULL) {
			ssize_t got =
			        have < sizeof(req) ? read(c, req + have, sizeof(req) - have) : -1;
			if (got <= 0)
				return;
			have += (size_t)got;
			continue;
		}
		size_t n = 5;
		(void)sscanf(req, "GET /%zu", &n);
		char head[128];
		int hl = snprintf(head, sizeof(head),
		                  "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
		char *body = malloc(n ? n : 1);
		for (size_t i = 0; i < n; i++)
			body[i] = body_byte(i);
		int bad = write_all(c, head, (size_t)hl) || write_all(c, body, n);
		free(body);
		if (bad)
			return;
		size_t used = (size_t)(end + 4 - req);
		memmove(req, req + used, have - used);
		have -= used;
	}
}

static void frame_head(unsigned char *h, size_t len, int type, int flags, uint32_t stream)
{
	h[0] = (unsigned char)(len >> 16);
	h[1] = (unsigned char)(len >> 8);
	h[2] = (unsigned char)len;
	h[3] = (unsigned char)type;
	h[4] = (unsigned char)flags;
	h[5] = (unsigned char)(stream >> 24);
	h[6] = (unsigned char)(stream >> 16);
	h[7] = (unsigned char)(stream >> 8);
	h[8] = (unsigned char)stream;
}

/*
 * HTTP/2 over cleartext, prior knowledge (RFC 9113 §3.3), just enough for GETs:
 * settings exchanged, each request stream answered with ":status: 200" (HPACK
 * static index 8, one byte 0x88) and a DATA frame ending the stream. The
 * request's header block is not decoded.
 */
static void serve_h2(int c)
{
	enum { DATA = 0, HEADERS = 1, SETTINGS = 4, PING = 6, GOAWAY = 7, CONTINUATION = 9 };
	enum { END_STREAM = 1, ACK = 1, END_HEADERS = 4 };
	static const char body[] = "hello h2";
	char preface[24];
	unsigned char h[9], payload[16384];
	if (read_full(c, preface, sizeof(preface)) || memcmp(preface, "PRI * HTTP/2.0", 14) != 0)
		return;
	frame_head(h, 0, SETTINGS, 0, 0);
	if (write_all(c, h, 9))
		return;
	for (;;) {
		if (read_full(c, h, 9))
			return;
		size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
		uint32_t stream =
		        ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) &
		        0x7fffffffu;
		if (len > sizeof(payload) || read_full(c, payload, len))
			return;
		int type = h[3], flags = h[4];
		if (type == SETTINGS && !(flags & ACK)) {
			frame_head(h, 0, SETTINGS, ACK, 0);
			if (write_all(c, h, 9))
				return;
		} else if (type == PING && !(flags & ACK)) {
			frame_head(h, 8, PING, ACK, 0);
			if (write_all(c, h, 9) || write_all(c, payload, 8))
				return;
		} else if ((type == HEADERS || type == CONTINUATION) && (flags & END_HEADERS)) {
			unsigned char status = 0x88;
			frame_head(h, 1, HEADERS, END_HEADERS, stream);
			if (write_all(c, h, 9) || write_all(c, &status, 1))
				return;
			frame_head(h, sizeof(body) - 1, DATA, END_STREAM, stream);
			if (write_all(c, h, 9) || write_all(c, body, sizeof(body) - 1))
				return;
		} else if (type == GOAWAY) {
			return;
		}
	}
}

struct server {
	pid_t pid;
	int port;
};

/* Listens on 127.0.0.1 (port chosen by the kernel), forks a server for it. */
static struct server server_start(void (*serve)(int fd))
{
	struct server s = {.pid = -1};
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int one = 1;
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&a, al) || getsockname(l, (struct sockaddr *)&a, &al) ||
	    listen(l, 128)) {
		if (l >= 0)
			close(l);
		return s;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGCHLD, SIG_IGN); /* connection children reap themselves */
		alarm(SERVER_LIFE_S);
		for (;;) {
			int c = accept(l, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				close(l);
				alarm(SERVER_LIFE_S);
				serve(c);
				_exit(0);
			}
			close(c);
		}
	}
	close(l);
	s.pid = pid;
	s.port = ntohs(a.sin_port);
	return s;
}

static void server_stop(struct server *s)
{
	if (s->pid > 0) {
		kill(-s->pid, SIGKILL); /* the server's group: its connection children too */
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = -1;
}

/* ---- the client side ---- */

#define XFERS_MAX 64

struct xfer {
	CURL *easy; /* until done */
	size_t want_bytes;
	size_t got_bytes;
	size_t bad_bytes; /* bytes that differ from the pattern */
	CURLcode result;
	long code;
	long http_version;
	int done;
	char h2_body[32];
};

struct run {
	CURLM *multi;
	struct io_curl *glue;
	int done;
	int detach_at; /* done_cb detaches when done reaches this (0: never) */
	struct xfer x[XFERS_MAX];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;
	for (size_t i = 0; i < len; i++) {
		if (x->got_bytes + i < sizeof(x->h2_body) - 1)
			x->h2_body[x->got_bytes + i] = p[i];
		if (p[i] != body_byte(x->got_bytes + i))
			x->bad_bytes++;
	}
	x->got_bytes += len;
	return len;
}

static void on_done(void *arg, CURLMsg *msg)
{
	struct run *run = arg;
	struct xfer *x = NULL;
	CURL *easy = msg->easy_handle;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	CHECK(x != NULL);
	if (x == NULL)
		return;
	CHECK_EQ_INT(x->done, 0);
	x->result = msg->data.result; /* msg dies with the handle: read it first */
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->code);
	curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &x->http_version);
	x->done = 1;
	run->done++;
	curl_multi_remove_handle(run->multi, easy);
	curl_easy_cleanup(easy);
	x->easy = NULL;
	if (run->detach_at > 0 && run->done == run->detach_at) {
		io_curl_detach(run->glue);
		run->glue = NULL;
	}
}

static CURL *easy_get(struct xfer *x, int port, size_t bytes, long http_version)
{
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%zu", port, bytes);
	x->want_bytes = bytes;
	CURL *e = curl_easy_init();
	if (e == NULL)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, http_version);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L); /* a hang fails, it does not stall */
	x->easy = e;
	return e;
}

/* Turns the reactor until `want` transfers are done or ms_max passes. */
static void run_until_done(struct io_reactor *r, struct run *run, int want, uint64_t ms_max)
{
	uint64_t end = mono_ms() + ms_max;
	while (run->done < want && mono_ms() < end) {
		int rc = io_reactor_run_once(r, 50);
		CHECKF(rc >= 0, "run_once: %d", rc);
		if (rc < 0)
			return;
	}
}

static struct io_reactor *reactor(void)
{
	struct io_reactor *r = NULL;
	int rc = io_reactor_new(&r, 0);
	CHECKF(rc == 0, "io_reactor_new: %d", rc);
	return r;
}

/* Sets up a reactor, a multi handle and the glue over them. */
static int setup(struct io_reactor **r, struct run *run)
{
	curl_ready();
	memset(run, 0, sizeof(*run));
	*r = reactor();
	if (*r == NULL)
		return -1;
	run->multi = curl_multi_init();
	if (run->multi == NULL)
		return -1;
	int rc = io_curl_attach(*r, run->multi, on_done, run, &run->glue);
	CHECKF(rc == 0, "io_curl_attach: %d", rc);
	return rc;
}

static void teardown(struct io_reactor *r, struct run *run)
{
	io_curl_detach(run->glue);
	run->glue = NULL;
	for (int i = 0; i < XFERS_MAX; i++) {
		if (run->x[i].easy == NULL)
			continue;
		if (run->multi != NULL)
			curl_multi_remove_handle(run->multi, run->x[i].easy);
		curl_easy_cleanup(run->x[i].easy);
		run->x[i].easy = NULL;
	}
	if (run->multi != NULL)
		curl_multi_cleanup(run->multi);
	io_reactor_free(r);
}

static void check_xfer(const struct xfer *x, int i, long http_version)
{
	CHECKF(x->done, "transfer %d not done", i);
	CHECKF(x->result == CURLE_OK, "transfer %d: %s", i, curl_easy_strerror(x->result));
	CHECKF(x->code == 200, "transfer %d: status %ld", i, x->code);
	CHECKF(x->http_version == http_version, "transfer %d: http version %ld", i,
	       x->http_version);
}

TEST(http1_get_completes_through_the_glue)
{
	struct server s = server_start(serve_http1);
	REQUIRE(s.pid > 0);
	struct io_reactor *r;
	struct run run;
	if (setup(&r, &run) == 0) {
		CURL *e = easy_get(&run.x[0], s.port, 5, CURL_HTTP_VERSION_1_1);
		REQUIRE(e != NULL);
		CHECK_EQ_INT(curl_multi_add_handle(run.multi, e), CURLM_OK);
		CHECK_EQ_INT(run.done, 0); /* nothing runs outside a turn */
		run_until_done(r, &run, 1, 5000);
		check_xfer(&run.x[0], 0, CURL_HTTP_VERSION_1_1);
		CHECK_EQ_INT(run.x[0].got_bytes, 5);
		CHECK_EQ_INT(run.x[0].bad_bytes, 0);
	}
	teardown(r, &run);
	server_stop(&s);
}

TEST(fifty_concurrent_http1_gets_all_complete_large_bodies_too)
{
	enum { N = 50 };
	struct server s = server_start(serve_http1);
	REQUIRE(s.pid > 0);
	struct io_reactor *r;
	struct run run;
	if (setup(&r, &run) == 0) {
		for (int i = 0; i < N; i++) {
			/* Every tenth is 2 MiB: many reads, which only level-triggering finishes.
			 */
			size_t bytes = i % 10 == 0 ? (size_t)2 << 20 : 100 + (size_t)i * 37;
			CURL *e = easy_get(&run.x[i], s.port, bytes, CURL_HTTP_VERSION_1_1);
			REQUIRE(e != NULL);
			CHECK_EQ_INT(curl_multi_add_handle(run.multi, e), CURLM_OK);
		}
		run_until_done(r, &run, N, 20000);
		CHECK_EQ_INT(run.done, N);
		for (int i = 0; i < N; i++) {
			check_xfer(&run.x[i], i, CURL_HTTP_VERSION_1_1);
			CHECKF(run.x[i].got_bytes == run.x[i].want_bytes,
			       "transfer %d: %zu of %zu bytes", i, run.x[i].got_bytes,
			       run.x[i].want_bytes);
			CHECK_EQ_INT(run.x[i].bad_bytes, 0);
		}
		/* All done, connections kept alive: the loop sleeps. */
		uint64_t cpu0 = cpu_ms(), t0 = mono_ms();
		while (mono_ms() - t0 < 200)
			(void)io_reactor_run_once(r, 50);
		uint64_t cpu = cpu_ms() - cpu0;
		CHECKF(cpu < 30, "idle glue used %" PRIu64 " ms of CPU in 200 ms", cpu);
	}
	teardown(r, &run);
	server_stop(&s);
}

/*
 * libcurl 7.88.1 (Debian 12) fails any transfer that reuses an HTTP/2
 * prior-knowledge connection with CURLE_HTTP2 ("Error in the HTTP2 framing
 * layer"), serially or multiplexed: curl issue #10634, fixed after 7.88.1 by
 * pull request #10643. So each transfer here forbids reuse and gets its own
 * connection; a client of this libcurl (the CRI client) must do the same.
 */
TEST(http2_prior_knowledge_gets_complete)
{
	enum { N = 10 };
	struct server s = server_start(serve_h2);
	REQUIRE(s.pid > 0);
	struct io_reactor *r;
	struct run run;
	if (setup(&r, &run) == 0) {
		for (int i = 0; i < N; i++) {
			CURL *e =
			        easy_get(&run.x[i], s.port, 0, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
			REQUIRE(e != NULL);
			curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
			CHECK_EQ_INT(curl_multi_add_handle(run.multi, e), CURLM_OK);
		}
		run_until_done(r, &run, N, 10000);
		CHECK_EQ_INT(run.done, N);
		/* And one more after them, on the same multi handle. */
		CURL *e = easy_get(&run.x[N], s.port, 0, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
		REQUIRE(e != NULL);
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
		CHECK_EQ_INT(curl_multi_add_handle(run.multi, e), CURLM_OK);
		run_until_done(r, &run, N + 1, 10000);
		for (int i = 0; i <= N; i++) {
			check_xfer(&run.x[i], i, CURL_HTTP_VERSION_2_0);
			CHECK_EQ_STR(run.x[i].h2_body, "hello h2");
		}
	}
	teardown(r, &run);
	server_stop(&s);
}

/*
 * libcurl reads a bounded number of buffers per call (7.88: 100, then it
 * schedules itself again) and otherwise relies on being told again while the
 * socket stays readable, which the level-triggered polls do. A 1 KiB buffer
 * and a 4 MiB body take thousands of reads over many turns.
 */
TEST(large_body_with_a_small_buffer_completes_level_triggered)
{
	struct server s = server_start(serve_http1);
	REQUIRE(s.pid > 0);
	struct io_reactor *r;
	struct run run;
	if (setup(&r, &run) == 0) {
		CURL *e = easy_get(&run.x[0], s.port, (size_t)4 << 20, CURL_HTTP_VERSION_1_1);
		REQUIRE(e != NULL);
		curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 1024L);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
		CHECK_EQ_INT(curl_multi_add_handle(run.multi, e), CURLM_OK);
		run_until_done(r, &run, 1, 8000);
		check_xfer(&run.x[0], 0, CURL_HTTP_VERSION_1_1);
		CHECK_EQ_INT(run.x[0].got_bytes, (size_t)4 << 20);
		CHECK_EQ_INT(run.x[0].bad_bytes, 0);
	}
	teardown(r, &run);
	server_stop(&s);
}

TEST(timeout_against_a_server_that_never_answers)
{
	/* A listener that never accepts: the kernel completes the handshake, nobody reads. */
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(l >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	REQUIRE(bind(l, (struct sockaddr *)&a, al) == 0);
	REQUIRE(getsockname(l, (struct sockaddr *)&a, &al) == 0);
	REQUIRE(listen(l, 16) == 0);
	struct io_reactor *r;
	struct run run;
	if (setup(&r, &run) == 0) {
		CURL *e = easy_get(&run.x[0], ntohs(a.sin_port), 5, CURL_HTTP_VERSION_1_1);
		REQUIRE(e != NULL);
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 300L);
		uint64_t t0 = mono_ms();
		CHECK_EQ_INT(curl_multi_add_handle(run.multi, e), CURLM_OK);
		run_until_done(r, &run, 1, 5000);
		uint64_t took = mono_ms() - t0;
		CHECK_EQ_INT(run.done, 1);
		CHECKF(run.x[0].result == CURLE_OPERATION_TIMEDOUT, "result: %s",
		       curl_easy_strerror(run.x[0].result));
		CHECKF(took >= 290 && took < 1500, "CURLOPT_TIMEOUT_MS 300, took %" PRIu64 " ms",
		       took);
	}
	teardown(r, &run);
	close(l);
}

TEST(handles_added_before_attach_start_on_the_first_turn)
{
	curl_ready();
	struct server s = server_start(serve_http1);
	REQUIRE(s.pid > 0);
	struct run run;
	memset(&run, 0, sizeof(run));
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	run.multi = curl_multi_init();
	REQUIRE(run.multi != NULL);
	CURL *e = easy_get(&run.x[0], s.port, 1000, CURL_HTTP_VERSION_1_1);
	REQUIRE(e != NULL);
	CHECK_EQ_INT(curl_multi_add_handle(run.multi, e), CURLM_OK);
	CHECK_EQ_INT(io_curl_attach(r, run.multi, on_done, &run, &run.glue), 0);
	run_until_done(r, &run, 1, 5000);
	check_xfer(&run.x[0], 0, CURL_HTTP_VERSION_1_1);
	CHECK_EQ_INT(run.x[0].got_bytes, 1000);
	teardown(r, &run);
	server_stop(&s);
}

TEST(detach_from_done_cb_stops_every_glue_callback)
{
	enum { N = 6 };
	struct server s = server_start(serve_http1);
	REQUIRE(s.pid > 0);
	struct io_reactor *r;
	struct run run;
	if (setup(&r, &run) == 0) {
		run.detach_at = 1;
		for (int i = 0; i < N; i++) {
			/* One small transfer, the others large enough to be mid-flight. */
			CURL *e = easy_get(&run.x[i], s.port, i == 0 ? 5 : (size_t)8 << 20,
			                   CURL_HTTP_VERSION_1_1);
			REQUIRE(e != NULL);
			CHECK_EQ_INT(curl_multi_add_handle(run.multi, e), CURLM_OK);
		}
		run_until_done(r, &run, 1, 5000);
		CHECK(run.done >= 1);
		CHECK(run.glue == NULL);
		int done = run.done;
		/* Sockets and timer are gone from the reactor: turns run no glue callback. */
		for (int i = 0; i < 5; i++)
			CHECK_EQ_INT(io_reactor_run_once(r, 20), 0);
		CHECK_EQ_INT(run.done, done);
	}
	teardown(r, &run);
	server_stop(&s);
}

TEST(attach_rejects_bad_arguments)
{
	curl_ready();
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	CURLM *m = curl_multi_init();
	REQUIRE(m != NULL);
	struct io_curl *g = NULL;
	CHECK_EQ_INT(io_curl_attach(NULL, m, on_done, NULL, &g), -EINVAL);
	CHECK_EQ_INT(io_curl_attach(r, NULL, on_done, NULL, &g), -EINVAL);
	CHECK_EQ_INT(io_curl_attach(r, m, NULL, NULL, &g), -EINVAL);
	CHECK(g == NULL);
	io_curl_detach(NULL);
	curl_multi_cleanup(m);
	io_reactor_free(r);
}

TEST_MAIN("io/curl_glue", T(http1_get_completes_through_the_glue),
          T(fifty_concurrent_http1_gets_all_complete_large_bodies_too),
          T(http2_prior_knowledge_gets_complete),
          T(large_body_with_a_small_buffer_completes_level_triggered),
          T(timeout_against_a_server_that_never_answers),
          T(handles_added_before_attach_start_on_the_first_turn),
          T(detach_from_done_cb_stops_every_glue_callback), T(attach_rejects_bad_arguments))
