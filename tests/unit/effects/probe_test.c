/*
 * tests/unit/effects/probe_test.c — the prober on a real reactor, against loopback.
 *
 * Servers are forked children on 127.0.0.1 (one process per connection, each
 * stopping by itself): an HTTP/1.1 server whose paths answer 200, 500, slowly,
 * by a flag file, with redirects, or with a large body; and an HTTP/2 (prior
 * knowledge) server that speaks just enough gRPC for grpc.health.v1.Health/Check.
 * tcpSocket probes use a listener of the test's and a port nobody listens on.
 * Exec probes and hooks run ExecSync in a container of the real containerd
 * (scripts/runtime.sh, as tests/unit/effects/runtime_env.h sets it up); without it
 * those tests fail with "runtime not available: <why>".
 *
 * Probes here use the test-only body members "period_ms", "timeout_ms" and
 * "initial_delay_ms" (see probe.h) to run many periods in a second; one test
 * keeps the API's seconds.
 */
#include "effects/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/curl_glue.h"
#include "io/reactor.h"
#include "test.h"

#define SUITE            "effects/probe"
#define SERVER_LIFE_S    60
#define TEST_LABEL_KEY   "ledgerlet.io/test"
#define TEST_LABEL_VALUE "effects-probe"

#include "effects/runtime_env.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ==== servers (children; they only _exit) ========================================= */

static int http_port, grpc_port;
static pid_t http_pid = -1, grpc_pid = -1;
static char flag_path[600];

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

static void reply(int c, int status, const char *extra, const char *body)
{
	char head[600];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
	                 status, strlen(body), extra);
	if (write_all(c, head, (size_t)n) == 0)
		(void)write_all(c, body, strlen(body));
}

/*
 * /ok 200; /fail 500; /slow 200 after 3 s; /flag 200 while the flag file exists,
 * else 500; /same redirects to /fail; /other redirects to /fail on 127.0.0.2;
 * /loop redirects to itself; /headers 200 only with "X-Probe: yes" and the
 * kube-probe user agent; /big promises 100 MiB, sends 64 KiB and stalls.
 */
static void serve_http(int c)
{
	char req[8192];
	size_t have = 0;
	while (memmem(req, have, "\r\n\r\n", 4) == NULL) {
		if (have > 0 && req[0] == 0x16) {
			/* A TLS ClientHello: what a plain HTTP server answers to one. */
			reply(c, 400, "", "Client sent an HTTPS request to an HTTP server");
			return;
		}
		ssize_t got =
		        have < sizeof(req) - 1 ? read(c, req + have, sizeof(req) - 1 - have) : -1;
		if (got <= 0)
			return;
		have += (size_t)got;
	}
	req[have] = '\0';
	char path[256] = "";
	if (sscanf(req, "GET %255s", path) != 1)
		return;
	char loc[300];
	if (strcmp(path, "/ok") == 0) {
		reply(c, 200, "", "fine");
	} else if (strcmp(path, "/fail") == 0) {
		reply(c, 500, "", "broken");
	} else if (strcmp(path, "/slow") == 0) {
		sleep(3);
		reply(c, 200, "", "late");
	} else if (strcmp(path, "/flag") == 0) {
		reply(c, access(flag_path, F_OK) == 0 ? 200 : 500, "", "flag");
	} else if (strcmp(path, "/same") == 0) {
		reply(c, 302, "Location: /fail\r\n", "");
	} else if (strcmp(path, "/other") == 0) {
		snprintf(loc, sizeof(loc), "Location: http://127.0.0.2:%d/fail\r\n", http_port);
		reply(c, 302, loc, "");
	} else if (strcmp(path, "/loop") == 0) {
		reply(c, 302, "Location: /loop\r\n", "");
	} else if (strcmp(path, "/headers") == 0) {
		bool good = strstr(req, "\r\nX-Probe: yes\r\n") != NULL &&
		            strstr(req, "\r\nUser-Agent: kube-probe/") != NULL;
		reply(c, good ? 200 : 400, "", "headers");
	} else if (strcmp(path, "/big") == 0) {
		static char chunk[65536];
		memset(chunk, 'b', sizeof(chunk));
		const char *head = "HTTP/1.1 200 X\r\nContent-Length: 104857600\r\n\r\n";
		if (write_all(c, head, strlen(head)) == 0)
			(void)write_all(c, chunk, sizeof(chunk));
		sleep(10);
	} else {
		reply(c, 404, "", "no");
	}
}

static void frame_head(uint8_t *h, size_t len, int type, int flags, uint32_t stream)
{
	h[0] = (uint8_t)(len >> 16);
	h[1] = (uint8_t)(len >> 8);
	h[2] = (uint8_t)len;
	h[3] = (uint8_t)type;
	h[4] = (uint8_t)flags;
	h[5] = (uint8_t)(stream >> 24);
	h[6] = (uint8_t)(stream >> 16);
	h[7] = (uint8_t)(stream >> 8);
	h[8] = (uint8_t)stream;
}

static int send_frame(int c, int type, int flags, uint32_t stream, const void *p, size_t len)
{
	uint8_t h[9];
	frame_head(h, len, type, flags, stream);
	return write_all(c, h, 9) || (len > 0 && write_all(c, p, len));
}

/* HPACK, literal without indexing, new name (RFC 7541 §6.2.2); short strings only. */
static size_t hpack_literal(uint8_t *out, const char *name, const char *value)
{
	size_t n = 0, nl = strlen(name), vl = strlen(value);
	out[n++] = 0x00;
	out[n++] = (uint8_t)nl;
	memcpy(out + n, name, nl);
	n += nl;
	out[n++] = (uint8_t)vl;
	memcpy(out + n, value, vl);
	return n + vl;
}

/*
 * gRPC health over h2c with prior knowledge: the service "" and "ok" are
 * SERVING, "down" is NOT_SERVING, "unimpl" gets UNIMPLEMENTED (trailers only),
 * "slow" answers after 3 s.
 */
static void serve_grpc(int c)
{
	enum { DATA = 0, HEADERS = 1, SETTINGS = 4, PING = 6, GOAWAY = 7 };
	enum { END_STREAM = 1, ACK = 1, END_HEADERS = 4 };
	char preface[24];
	uint8_t h[9], payload[16384], body[1024];
	size_t body_len = 0;
	if (read_full(c, preface, sizeof(preface)) || memcmp(preface, "PRI * HTTP/2.0", 14) != 0)
		return;
	if (send_frame(c, SETTINGS, 0, 0, NULL, 0))
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
			if (send_frame(c, SETTINGS, ACK, 0, NULL, 0))
				return;
		} else if (type == PING && !(flags & ACK)) {
			if (send_frame(c, PING, ACK, 0, payload, 8))
				return;
		} else if (type == GOAWAY) {
			return;
		} else if (type == DATA || (type == HEADERS && (flags & END_STREAM))) {
			if (type == DATA && body_len + len <= sizeof(body)) {
				memcpy(body + body_len, payload, len);
				body_len += len;
			}
			if (!(flags & END_STREAM))
				continue;
			char service[128] = "";
			if (body_len > 7 && body[5] == 0x0a && body[6] < 120 &&
			    (size_t)body[6] + 7 <= body_len)
				snprintf(service, sizeof(service), "%.*s", body[6],
				         (char *)body + 7);
			if (strcmp(service, "slow") == 0)
				sleep(3);
			uint8_t hb[256];
			size_t n = 0;
			hb[n++] = 0x88; /* :status 200 */
			n += hpack_literal(hb + n, "content-type", "application/grpc");
			if (strcmp(service, "unimpl") == 0) {
				n += hpack_literal(hb + n, "grpc-status", "12");
				n += hpack_literal(hb + n, "grpc-message", "unknown service");
				(void)send_frame(c, HEADERS, END_HEADERS | END_STREAM, stream, hb,
				                 n);
				continue;
			}
			if (send_frame(c, HEADERS, END_HEADERS, stream, hb, n))
				return;
			uint8_t msg[7] = {
			        0, 0, 0, 0, 2, 0x08, strcmp(service, "down") == 0 ? 2 : 1};
			if (send_frame(c, DATA, 0, stream, msg, sizeof(msg)))
				return;
			n = hpack_literal(hb, "grpc-status", "0");
			if (send_frame(c, HEADERS, END_HEADERS | END_STREAM, stream, hb, n))
				return;
			body_len = 0;
		}
	}
}

/* A listener on 127.0.0.1 and a child that forks a server per connection. */
static pid_t server_start(void (*serve)(int fd), int *port_out)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int one = 1;
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&a, al) || getsockname(l, (struct sockaddr *)&a, &al) ||
	    listen(l, 512)) {
		if (l >= 0)
			close(l);
		return -1;
	}
	*port_out = ntohs(a.sin_port);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGCHLD, SIG_IGN);
		alarm(SERVER_LIFE_S);
		for (;;) {
			int c = accept(l, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				close(l);
				alarm(15);
				serve(c);
				_exit(0);
			}
			close(c);
		}
	}
	close(l);
	return pid;
}

static void servers_stop(void)
{
	pid_t pids[2] = {http_pid, grpc_pid};
	for (int i = 0; i < 2; i++) {
		if (pids[i] <= 0)
			continue;
		kill(-pids[i], SIGKILL);
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	http_pid = grpc_pid = -1;
}

static bool servers_up(void)
{
	if (http_pid > 0 && grpc_pid > 0)
		return true;
	snprintf(flag_path, sizeof(flag_path), "/tmp/ledgerlet-probe-test-flag-%d", (int)getpid());
	http_pid = server_start(serve_http, &http_port);
	grpc_pid = server_start(serve_grpc, &grpc_port);
	static bool registered;
	if (!registered) {
		atexit(servers_stop);
		registered = true;
	}
	CHECKF(http_pid > 0 && grpc_pid > 0, "servers did not start");
	return http_pid > 0 && grpc_pid > 0;
}

/* A port nobody listens on: bound for a moment, then let go. */
static int closed_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, al) ||
	    getsockname(s, (struct sockaddr *)&a, &al))
		return 1;
	close(s);
	return ntohs(a.sin_port);
}

/* A listener that never accepts: connects succeed (or wait in the backlog), no answer. */
static int mute_listener(int *port)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	if (l < 0 || bind(l, (struct sockaddr *)&a, al) ||
	    getsockname(l, (struct sockaddr *)&a, &al) || listen(l, 16)) {
		if (l >= 0)
			close(l);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return l;
}

/* ==== the prober's environment ====================================================== */

#define REC_MAX 256

struct rec_ev {
	enum fsm_event_kind kind;
	char cmd[200];
	bool ok;
	enum fsm_error_class cls;
	char text[FX_PROBE_MESSAGE_MAX]; /* error or message */
	char pod_uid[64];
	char container[64];
	enum fsm_probe_type probe;
	uint64_t at_ms;
};

struct rec {
	int n; /* events seen (all of them) */
	int effects_ok, effects_failed, probes;
	bool in_dispatch;
	int during_dispatch; /* events sent from inside fx_probe_dispatch: must stay 0 */
	struct rec_ev ev[REC_MAX];
};

struct env {
	struct io_reactor *r;
	CURLM *multi;
	struct io_curl *glue;
	struct cri_client *cri;
	struct fx_probe *x;
	struct rec rec;
};

static void on_event(void *arg, const struct fsm_event *ev)
{
	struct rec *rc = arg;
	if (rc->in_dispatch)
		rc->during_dispatch++;
	if (ev->kind == FSM_EV_EFFECT) {
		if (ev->u.effect.ok)
			rc->effects_ok++;
		else
			rc->effects_failed++;
	} else if (ev->kind == FSM_EV_PROBE) {
		rc->probes++;
	}
	if (rc->n < REC_MAX) {
		struct rec_ev *e = &rc->ev[rc->n];
		memset(e, 0, sizeof(*e));
		e->kind = ev->kind;
		e->at_ms = mono_ms();
		if (ev->kind == FSM_EV_EFFECT) {
			snprintf(e->cmd, sizeof(e->cmd), "%s", ev->u.effect.cmd);
			e->ok = ev->u.effect.ok;
			e->cls = ev->u.effect.error_class;
			snprintf(e->text, sizeof(e->text), "%s", ev->u.effect.error);
		} else if (ev->kind == FSM_EV_PROBE) {
			e->ok = ev->u.probe.ok;
			e->probe = ev->u.probe.probe;
			snprintf(e->text, sizeof(e->text), "%s", ev->u.probe.message);
			snprintf(e->pod_uid, sizeof(e->pod_uid), "%s", ev->u.probe.pod_uid);
			snprintf(e->container, sizeof(e->container), "%s", ev->u.probe.container);
		}
	}
	rc->n++;
}

/* As the loop does: every finished transfer to whoever owns it. */
static void on_done(void *arg, CURLMsg *msg)
{
	struct env *e = arg;
	if (fx_probe_owns(e->x, msg->easy_handle)) {
		CHECK(e->cri == NULL || !cri_client_owns(e->cri, msg->easy_handle));
		fx_probe_on_done(e->x, msg);
	} else if (e->cri != NULL && cri_client_owns(e->cri, msg->easy_handle)) {
		cri_client_on_done(e->cri, msg);
	} else {
		CHECKF(false, "a finished transfer nobody owns");
	}
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

/* A reactor, a multi handle on it, a CRI client when endpoint is given, a prober. */
static bool env_init(struct env *e, const char *endpoint)
{
	curl_ready();
	memset(e, 0, sizeof(*e));
	int rc = io_reactor_new(&e->r, 0);
	CHECKF(rc == 0, "io_reactor_new: %d", rc);
	if (rc != 0)
		return false;
	e->multi = curl_multi_init();
	if (e->multi == NULL)
		return false;
	rc = io_curl_attach(e->r, e->multi, on_done, e, &e->glue);
	CHECKF(rc == 0, "io_curl_attach: %d", rc);
	if (endpoint != NULL) {
		rc = cri_client_new(&e->cri, endpoint, e->multi);
		CHECKF(rc == 0, "cri_client_new: %s", cri_strerror(rc));
	}
	struct fx_sink sink = {.event = on_event, .arg = &e->rec};
	rc = fx_probe_new(&e->x, e->r, e->multi, e->cri, sink);
	CHECKF(rc == 0, "fx_probe_new: %d", rc);
	return rc == 0;
}

static void env_free(struct env *e)
{
	io_curl_detach(e->glue);
	cri_client_free(e->cri); /* first: ExecSync calls end without their callbacks */
	fx_probe_free(e->x);
	if (e->multi != NULL)
		curl_multi_cleanup(e->multi);
	io_reactor_free(e->r);
	memset(e, 0, sizeof(*e));
}

static void turn_ms(struct env *e, uint64_t ms)
{
	uint64_t end = mono_ms() + ms;
	while (mono_ms() < end) {
		uint64_t left = end - mono_ms();
		int rc = io_reactor_run_once(e->r, left < 20 ? (int)left + 1 : 20);
		if (rc < 0) {
			CHECKF(rc >= 0, "run_once: %d", rc);
			return;
		}
	}
}

/* Turns until the sink has seen `n` events in all, or ms_max passes. */
static bool turn_until_events(struct env *e, int n, uint64_t ms_max)
{
	uint64_t end = mono_ms() + ms_max;
	while (e->rec.n < n && mono_ms() < end)
		if (io_reactor_run_once(e->r, 20) < 0)
			return false;
	return e->rec.n >= n;
}

static int dispatch(struct env *e, enum fsm_cmd_kind kind, const char *id, uint32_t timeout_s,
                    const char *body)
{
	struct fsm_command c = {.kind = kind,
	                        .id = id,
	                        .pod_uid = "pod-uid-1",
	                        .container = "app",
	                        .key = "",
	                        .image = "",
	                        .timeout_s = timeout_s,
	                        .body = body,
	                        .body_len = body != NULL ? strlen(body) : 0};
	e->rec.in_dispatch = true;
	int before = e->rec.n;
	int rc = fx_probe_dispatch(e->x, &c);
	e->rec.in_dispatch = false;
	CHECKF(e->rec.n == before, "%d events sent from inside fx_probe_dispatch",
	       e->rec.n - before);
	return rc;
}

/* probe.start of a liveness probe: spec is the probe object's members. */
static int probe_start(struct env *e, const char *id, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int probe_start(struct env *e, const char *id, const char *fmt, ...)
{
	char body[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	return dispatch(e, FSM_CMD_PROBE_START, id, 0, body);
}

static int count_probe(const struct env *e, int ok) /* ok: 1, 0, or -1 for both */
{
	int n = 0;
	for (int i = 0; i < e->rec.n && i < REC_MAX; i++)
		if (e->rec.ev[i].kind == FSM_EV_PROBE && (ok < 0 || e->rec.ev[i].ok == (ok == 1)))
			n++;
	return n;
}

static const struct rec_ev *find_effect(const struct env *e, const char *cmd)
{
	for (int i = 0; i < e->rec.n && i < REC_MAX; i++)
		if (e->rec.ev[i].kind == FSM_EV_EFFECT && strcmp(e->rec.ev[i].cmd, cmd) == 0)
			return &e->rec.ev[i];
	return NULL;
}

static const struct rec_ev *last_probe(const struct env *e)
{
	for (int i = (e->rec.n < REC_MAX ? e->rec.n : REC_MAX) - 1; i >= 0; i--)
		if (e->rec.ev[i].kind == FSM_EV_PROBE)
			return &e->rec.ev[i];
	return NULL;
}

static int count_effects_for(const struct env *e, const char *cmd)
{
	int n = 0;
	for (int i = 0; i < e->rec.n && i < REC_MAX; i++)
		if (e->rec.ev[i].kind == FSM_EV_EFFECT && strcmp(e->rec.ev[i].cmd, cmd) == 0)
			n++;
	return n;
}

/* An HTTP liveness probe of path on the test server, period and timeout in ms. */
#define HTTP_PROBE(path, period_ms, timeout_ms)                                                    \
	"{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":\"127.0.0.1\","                \
	"\"spec\":{\"httpGet\":{\"path\":\"" path "\",\"port\":%d},\"failureThreshold\":3},"       \
	"\"period_ms\":" #period_ms ",\"timeout_ms\":" #timeout_ms "}"

/* ==== probes =========================================================================== */

TEST(healthy_http_probe_reports_once_then_stays_quiet)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	CHECK_EQ_INT(probe_start(&e, "probe-liveness/pod-uid-1/app/0", HTTP_PROBE("/ok", 100, 1000),
	                         http_port),
	             0);
	CHECK_EQ_INT(e.rec.n, 0);
	turn_ms(&e, 1150); /* runs at 0, 100, ..., 1100 ms: 12 runs */
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECKF(st.runs >= 10, "%" PRIu64 " runs", st.runs);
	CHECK_EQ_INT(count_probe(&e, -1), 1);
	CHECK_EQ_INT(count_probe(&e, 1), 1);
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK_EQ_STR(p->pod_uid, "pod-uid-1");
	CHECK_EQ_STR(p->container, "app");
	CHECK_EQ_INT(p->probe, FSM_PROBE_LIVENESS);
	CHECK_EQ_INT(st.reported, 1);
	CHECK(st.quiet >= 9);
	/* probe.start's own effect, ok, exactly once. */
	const struct rec_ev *eff = find_effect(&e, "probe-liveness/pod-uid-1/app/0");
	REQUIRE(eff != NULL);
	CHECK(eff->ok);
	CHECK_EQ_INT(count_effects_for(&e, "probe-liveness/pod-uid-1/app/0"), 1);
	CHECK_EQ_INT(e.rec.during_dispatch, 0);
	env_free(&e);
}

TEST(failing_http_probe_reports_up_to_the_failure_threshold)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	CHECK_EQ_INT(probe_start(&e, "p500", HTTP_PROBE("/fail", 100, 1000), http_port), 0);
	turn_ms(&e, 1150);
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECKF(st.runs >= 10, "%" PRIu64 " runs", st.runs);
	CHECK_EQ_INT(count_probe(&e, 0), 3);
	CHECK_EQ_INT(count_probe(&e, 1), 0);
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK_EQ_STR(p->text, "HTTP probe failed with statuscode: 500");
	env_free(&e);
}

TEST(flip_from_healthy_to_failing_and_back)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	int fd = open(flag_path, O_CREAT | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	CHECK_EQ_INT(probe_start(&e, "flip", HTTP_PROBE("/flag", 100, 1000), http_port), 0);
	turn_ms(&e, 650);
	CHECK_EQ_INT(count_probe(&e, 1), 1);
	CHECK_EQ_INT(count_probe(&e, 0), 0);
	unlink(flag_path);
	turn_ms(&e, 900); /* nine failing runs: three reported */
	CHECK_EQ_INT(count_probe(&e, 1), 1);
	CHECK_EQ_INT(count_probe(&e, 0), 3);
	fd = open(flag_path, O_CREAT | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	turn_ms(&e, 600);
	CHECK_EQ_INT(count_probe(&e, 1), 2);
	CHECK_EQ_INT(count_probe(&e, 0), 3);
	/* The order: ok, fail, fail, fail, ok. */
	int seq[5], n = 0;
	for (int i = 0; i < e.rec.n && i < REC_MAX && n < 5; i++)
		if (e.rec.ev[i].kind == FSM_EV_PROBE)
			seq[n++] = e.rec.ev[i].ok;
	CHECK_EQ_INT(n, 5);
	CHECK(n == 5 && seq[0] && !seq[1] && !seq[2] && !seq[3] && seq[4]);
	unlink(flag_path);
	env_free(&e);
}

TEST(readiness_success_threshold_reports_each_success_up_to_it)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	CHECK_EQ_INT(
	        probe_start(&e, "ready",
	                    "{\"probe\":\"readiness\",\"container_id\":\"c1\",\"pod_ip\":"
	                    "\"127.0.0.1\",\"spec\":{\"httpGet\":{\"path\":\"/ok\",\"port\":%d},"
	                    "\"successThreshold\":3,\"failureThreshold\":2},\"period_ms\":100}",
	                    http_port),
	        0);
	turn_ms(&e, 950);
	CHECK_EQ_INT(count_probe(&e, 1), 3);
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK_EQ_INT(p->probe, FSM_PROBE_READINESS);
	env_free(&e);
}

TEST(timeout_is_a_failure_that_names_the_timeout)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(probe_start(&e, "slow", HTTP_PROBE("/slow", 5000, 200), http_port), 0);
	REQUIRE(turn_until_events(&e, 2, 3000));
	uint64_t took = mono_ms() - t0;
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK(!p->ok);
	CHECKF(strstr(p->text, "timeout") != NULL && strstr(p->text, "200ms") != NULL,
	       "message: %s", p->text);
	CHECKF(took >= 190 && took < 1500, "timed out after %" PRIu64 " ms", took);
	env_free(&e);
}

TEST(seconds_of_the_spec_set_the_delay_and_the_period)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(probe_start(&e, "secs",
	                         "{\"probe\":\"startup\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"httpGet\":{\"path\":\"/fail\",\"port\":"
	                         "\"%d\"},\"initialDelaySeconds\":1,\"periodSeconds\":1}}",
	                         http_port),
	             0);
	REQUIRE(turn_until_events(&e, 2, 3000)); /* effect, first failure */
	uint64_t first = mono_ms() - t0;
	REQUIRE(turn_until_events(&e, 3, 3000));
	uint64_t second = mono_ms() - t0;
	CHECKF(first >= 990 && first < 1800, "first run after %" PRIu64 " ms", first);
	CHECKF(second - first >= 700 && second - first < 1500, "period %" PRIu64 " ms",
	       second - first);
	CHECK_EQ_INT(count_probe(&e, 0), 2);
	env_free(&e);
}

TEST(redirects_followed_on_the_same_host_only)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	/* /same → /fail on this host: followed, fails. */
	CHECK_EQ_INT(probe_start(&e, "same", HTTP_PROBE("/same", 5000, 1000), http_port), 0);
	REQUIRE(turn_until_events(&e, 2, 3000));
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK(!p->ok);
	CHECK_EQ_STR(p->text, "HTTP probe failed with statuscode: 500");
	/* /other → 127.0.0.2: not followed, a success. */
	CHECK_EQ_INT(probe_start(&e, "other", HTTP_PROBE("/other", 5000, 1000), http_port), 0);
	REQUIRE(turn_until_events(&e, 4, 3000));
	p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECKF(p->ok, "message: %s", p->text);
	CHECK(strstr(p->text, "redirect") != NULL);
	/* /loop → itself: ten redirects, then a failure. */
	CHECK_EQ_INT(probe_start(&e, "loop", HTTP_PROBE("/loop", 5000, 3000), http_port), 0);
	REQUIRE(turn_until_events(&e, 6, 4000));
	p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK(!p->ok);
	CHECKF(strstr(p->text, "stopped after 10 redirects") != NULL, "message: %s", p->text);
	env_free(&e);
}

TEST(http_headers_and_user_agent_are_sent)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	CHECK_EQ_INT(probe_start(&e, "hdr",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"httpGet\":{\"path\":\"headers\","
	                         "\"port\":%d,\"scheme\":\"HTTP\",\"httpHeaders\":[{\"name\":"
	                         "\"X-Probe\",\"value\":\"yes\"}]}},\"period_ms\":5000}",
	                         http_port),
	             0);
	REQUIRE(turn_until_events(&e, 2, 3000));
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECKF(p->ok, "message: %s", p->text);
	env_free(&e);
}

TEST(a_large_body_is_not_waited_for)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(probe_start(&e, "big", HTTP_PROBE("/big", 5000, 3000), http_port), 0);
	REQUIRE(turn_until_events(&e, 2, 4000));
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECKF(p->ok, "message: %s", p->text);
	CHECKF(mono_ms() - t0 < 1500, "took %" PRIu64 " ms", mono_ms() - t0);
	env_free(&e);
}

TEST(tcp_probe_open_and_closed_ports)
{
	struct env e;
	if (!env_init(&e, NULL))
		return;
	int port;
	int l = mute_listener(&port);
	REQUIRE(l >= 0);
	int closed = closed_port();
	CHECK_EQ_INT(probe_start(&e, "open",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"tcpSocket\":{\"port\":%d}},"
	                         "\"period_ms\":100}",
	                         port),
	             0);
	turn_ms(&e, 550);
	CHECK_EQ_INT(count_probe(&e, 1), 1);
	CHECK_EQ_INT(count_probe(&e, 0), 0);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "open", 0, NULL), 0);
	CHECK_EQ_INT(probe_start(&e, "closed",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"10.0.0.9\",\"spec\":{\"tcpSocket\":{\"port\":%d,\"host\":"
	                         "\"127.0.0.1\"}},\"period_ms\":100}",
	                         closed),
	             0);
	turn_ms(&e, 650);
	CHECK_EQ_INT(count_probe(&e, 1), 1);
	CHECK_EQ_INT(count_probe(&e, 0), 3);
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	char want[100];
	snprintf(want, sizeof(want), "dial tcp 127.0.0.1:%d: connect: connection refused", closed);
	CHECK_EQ_STR(p->text, want);
	close(l);
	env_free(&e);
}

TEST(grpc_health_serving_not_serving_unimplemented_and_refused)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	static const struct {
		const char *service;
		bool ok;
		const char *text;
	} cases[] = {
	        {"", true, ""},
	        {"down", false, "service unhealthy (responded with \"NOT_SERVING\")"},
	        {"unimpl", false,
	         "this server does not implement the grpc health protocol "
	         "(grpc.health.v1.Health): unknown service"},
	};
	int events = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char id[32];
		snprintf(id, sizeof(id), "grpc-%zu", i);
		CHECK_EQ_INT(
		        probe_start(&e, id,
		                    "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
		                    "\"127.0.0.1\",\"spec\":{\"grpc\":{\"port\":%d,\"service\":"
		                    "\"%s\"}},\"period_ms\":5000}",
		                    grpc_port, cases[i].service),
		        0);
		events += 2;
		REQUIRE(turn_until_events(&e, events, 3000));
		const struct rec_ev *p = last_probe(&e);
		REQUIRE(p != NULL);
		CHECKF(p->ok == cases[i].ok, "service \"%s\": %s", cases[i].service, p->text);
		CHECK_EQ_STR(p->text, cases[i].text);
	}
	/* Nobody there. */
	CHECK_EQ_INT(
	        probe_start(&e, "grpc-refused",
	                    "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                    "\"127.0.0.1\",\"spec\":{\"grpc\":{\"port\":%d}},\"period_ms\":5000}",
	                    closed_port()),
	        0);
	REQUIRE(turn_until_events(&e, events + 2, 3000));
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK(!p->ok);
	CHECKF(strstr(p->text, "failed to connect service") != NULL, "%s", p->text);
	/* An answer slower than the timeout. */
	CHECK_EQ_INT(
	        probe_start(&e, "grpc-slow",
	                    "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                    "\"127.0.0.1\",\"spec\":{\"grpc\":{\"port\":%d,\"service\":\"slow\"}},"
	                    "\"period_ms\":5000,\"timeout_ms\":300}",
	                    grpc_port),
	        0);
	REQUIRE(turn_until_events(&e, events + 4, 3000));
	p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK(!p->ok);
	CHECKF(strstr(p->text, "timeout") != NULL && strstr(p->text, "300ms") != NULL, "%s",
	       p->text);
	env_free(&e);
}

TEST(probe_stop_ends_the_events_and_drops_a_run_in_flight)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	CHECK_EQ_INT(probe_start(&e, "stopme", HTTP_PROBE("/fail", 100, 1000), http_port), 0);
	REQUIRE(turn_until_events(&e, 3, 2000)); /* effect and two failures */
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "stopme", 0, NULL), 0);
	int probes = e.rec.probes;
	turn_ms(&e, 600);
	CHECK_EQ_INT(e.rec.probes, probes);
	CHECK_EQ_INT(count_effects_for(&e, "stopme"), 2); /* start's and stop's */
	/* A run in flight when the stop comes: its answer is never reported. */
	CHECK_EQ_INT(probe_start(&e, "stopslow", HTTP_PROBE("/slow", 5000, 4000), http_port), 0);
	turn_ms(&e, 300);
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.runs_in_flight, 1);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "stopslow", 0, NULL), 0);
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.runs_in_flight, 0);
	CHECK_EQ_INT(st.probes, 0);
	CHECK(st.dropped >= 1);
	turn_ms(&e, 300);
	CHECK_EQ_INT(e.rec.probes, probes);
	CHECK_EQ_INT(count_effects_for(&e, "stopslow"), 2);
	/* A stop of something never started still answers. */
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "never-started", 0, NULL), 0);
	turn_ms(&e, 50);
	const struct rec_ev *eff = find_effect(&e, "never-started");
	REQUIRE(eff != NULL);
	CHECK(eff->ok);
	env_free(&e);
}

TEST(a_second_start_restarts_the_counters)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	CHECK_EQ_INT(probe_start(&e, "again", HTTP_PROBE("/ok", 100, 1000), http_port), 0);
	turn_ms(&e, 450);
	CHECK_EQ_INT(count_probe(&e, 1), 1);
	CHECK_EQ_INT(probe_start(&e, "again", HTTP_PROBE("/ok", 100, 1000), http_port), 0);
	turn_ms(&e, 450);
	CHECK_EQ_INT(count_probe(&e, 1), 2); /* the fold reset its counters too */
	CHECK_EQ_INT(count_effects_for(&e, "again"), 2);
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.probes, 1);
	env_free(&e);
}

TEST(bodies_that_cannot_run_fail_permanent_and_named_ports_need_ports)
{
	struct env e;
	if (!env_init(&e, NULL))
		return;
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_START, "nobody", 0, NULL), 0);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_START, "garbage", 0, "{\"probe\":"), 0);
	CHECK_EQ_INT(probe_start(&e, "named",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"httpGet\":{\"path\":\"/ok\",\"port\":"
	                         "\"http\"}}}"),
	             0);
	CHECK_EQ_INT(probe_start(&e, "nohandler",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"periodSeconds\":1}}"),
	             0);
	CHECK_EQ_INT(probe_start(&e, "exec-without-cri",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"exec\":{\"command\":[\"true\"]}}}"),
	             0);
	CHECK_EQ_INT(probe_start(&e, "tcp-name",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"tcpSocket\":{\"port\":80,\"host\":"
	                         "\"example.invalid\"}}}"),
	             0);
	CHECK_EQ_INT(e.rec.n, 0);
	turn_ms(&e, 50);
	const char *ids[] = {"nobody",    "garbage",          "named",
	                     "nohandler", "exec-without-cri", "tcp-name"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const struct rec_ev *eff = find_effect(&e, ids[i]);
		CHECKF(eff != NULL, "no effect for %s", ids[i]);
		if (eff == NULL)
			continue;
		CHECKF(!eff->ok && eff->cls == FSM_ERR_PERMANENT, "%s: ok %d class %d", ids[i],
		       eff->ok, eff->cls);
	}
	const struct rec_ev *named = find_effect(&e, "named");
	REQUIRE(named != NULL);
	CHECKF(strstr(named->text, "port \"http\"") != NULL, "%s", named->text);
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.probes, 0);
	/* With the container's ports in the body the name resolves. */
	int port;
	int l = mute_listener(&port);
	REQUIRE(l >= 0);
	CHECK_EQ_INT(probe_start(&e, "named-ok",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"tcpSocket\":{\"port\":\"web\"}},"
	                         "\"ports\":[{\"name\":\"web\",\"containerPort\":%d}],"
	                         "\"period_ms\":5000}",
	                         port),
	             0);
	turn_ms(&e, 200);
	const struct rec_ev *ok = find_effect(&e, "named-ok");
	REQUIRE(ok != NULL);
	CHECK(ok->ok);
	CHECK_EQ_INT(count_probe(&e, 1), 1);
	/* Not ours. */
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_CRI_START_CONTAINER, "start/x", 0, "{}"), -ENOTSUP);
	close(l);
	env_free(&e);
}

/* ==== hooks ============================================================================== */

static int hook_run(struct env *e, const char *id, uint32_t timeout_s, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int hook_run(struct env *e, const char *id, uint32_t timeout_s, const char *fmt, ...)
{
	char body[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	return dispatch(e, FSM_CMD_HOOK_RUN, id, timeout_s, body);
}

#define HOOK_HTTP(path)                                                                            \
	"{\"hook\":\"postStart\",\"container_id\":\"c1\",\"pod_ip\":\"127.0.0.1\",\"spec\":"       \
	"{\"httpGet\":{\"path\":\"" path "\",\"port\":%d}}}"

TEST(http_hooks_answer_with_their_effect)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	CHECK_EQ_INT(hook_run(&e, "poststart/pod-uid-1/app/0", 0, HOOK_HTTP("/ok"), http_port), 0);
	/* Any HTTP answer is success for a hook (the kubelet's runner). */
	CHECK_EQ_INT(hook_run(&e, "hook-500", 0, HOOK_HTTP("/fail"), http_port), 0);
	CHECK_EQ_INT(hook_run(&e, "hook-closed", 0, HOOK_HTTP("/ok"), closed_port()), 0);
	CHECK_EQ_INT(e.rec.n, 0);
	REQUIRE(turn_until_events(&e, 3, 3000));
	const struct rec_ev *ok = find_effect(&e, "poststart/pod-uid-1/app/0");
	REQUIRE(ok != NULL);
	CHECK(ok->ok);
	const struct rec_ev *h500 = find_effect(&e, "hook-500");
	REQUIRE(h500 != NULL);
	CHECK(h500->ok);
	const struct rec_ev *closed = find_effect(&e, "hook-closed");
	REQUIRE(closed != NULL);
	CHECK(!closed->ok);
	CHECK_EQ_INT(closed->cls, FSM_ERR_PERMANENT);
	CHECKF(strncmp(closed->text,
	               "HTTP lifecycle hook (/ok) for Container \"app\" in Pod \"pod-uid-1\" "
	               "failed "
	               "- error: Get \"http://127.0.0.1:",
	               90) == 0,
	       "%s", closed->text);
	/* A hook that outlives its timeout is a transient failure. */
	CHECK_EQ_INT(hook_run(&e, "hook-slow", 1, HOOK_HTTP("/slow"), http_port), 0);
	REQUIRE(turn_until_events(&e, 4, 3000));
	const struct rec_ev *slow = find_effect(&e, "hook-slow");
	REQUIRE(slow != NULL);
	CHECK(!slow->ok);
	CHECK_EQ_INT(slow->cls, FSM_ERR_TRANSIENT);
	CHECKF(strstr(slow->text, "timeout") != NULL, "%s", slow->text);
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.hooks, 4);
	CHECK_EQ_INT(st.hooks_in_flight, 0);
	env_free(&e);
}

TEST(https_against_plain_http_fails_a_probe_and_falls_back_for_a_hook)
{
	struct env e;
	if (!servers_up() || !env_init(&e, NULL))
		return;
	CHECK_EQ_INT(
	        probe_start(&e, "tls",
	                    "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                    "\"127.0.0.1\",\"spec\":{\"httpGet\":{\"path\":\"/ok\",\"port\":%d,"
	                    "\"scheme\":\"HTTPS\"}},\"period_ms\":5000}",
	                    http_port),
	        0);
	REQUIRE(turn_until_events(&e, 2, 3000));
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK(!p->ok);
	char want[100];
	snprintf(want, sizeof(want), "Get \"https://127.0.0.1:%d/ok\": ", http_port);
	CHECKF(strncmp(p->text, want, strlen(want)) == 0 && strstr(p->text, "timeout") == NULL,
	       "%s", p->text);
	printf("# https probe of a plain HTTP server: %s\n", p->text);
	/* The kubelet's hook runner retries such a request in plain HTTP. */
	CHECK_EQ_INT(hook_run(&e, "hook-tls", 0,
	                      "{\"hook\":\"postStart\",\"container_id\":\"c1\",\"pod_ip\":"
	                      "\"127.0.0.1\",\"spec\":{\"httpGet\":{\"path\":\"/ok\",\"port\":%d,"
	                      "\"scheme\":\"HTTPS\",\"httpHeaders\":[{\"name\":\"Authorization\","
	                      "\"value\":\"Bearer x\"}]}}}",
	                      http_port),
	             0);
	REQUIRE(turn_until_events(&e, 3, 3000));
	const struct rec_ev *h = find_effect(&e, "hook-tls");
	REQUIRE(h != NULL);
	CHECKF(h->ok, "%s", h->text);
	env_free(&e);
}

TEST(sleep_hooks_wait_on_the_reactor)
{
	struct env e;
	if (!env_init(&e, NULL))
		return;
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(hook_run(&e, "sleep1", 0,
	                      "{\"hook\":\"preStop\",\"container_id\":\"c1\",\"pod_ip\":\"\","
	                      "\"spec\":{\"sleep\":{\"seconds\":1}}}"),
	             0);
	CHECK_EQ_INT(hook_run(&e, "sleep0", 0,
	                      "{\"hook\":\"preStop\",\"container_id\":\"c1\",\"pod_ip\":\"\","
	                      "\"spec\":{\"sleep\":{\"seconds\":0}}}"),
	             0);
	/* Longer than its time (the preStop's grace): cut short, transient. */
	CHECK_EQ_INT(hook_run(&e, "sleep2", 1,
	                      "{\"hook\":\"preStop\",\"container_id\":\"c1\",\"pod_ip\":\"\","
	                      "\"spec\":{\"sleep\":{\"seconds\":2}}}"),
	             0);
	REQUIRE(turn_until_events(&e, 1, 1000));
	CHECK(e.rec.ev[0].ok);
	CHECK_EQ_STR(e.rec.ev[0].cmd, "sleep0");
	CHECKF(mono_ms() - t0 < 200, "a 0 s sleep took %" PRIu64 " ms", mono_ms() - t0);
	REQUIRE(turn_until_events(&e, 3, 3000));
	uint64_t took = e.rec.ev[2].at_ms - t0;
	const struct rec_ev *s1 = find_effect(&e, "sleep1");
	const struct rec_ev *s2 = find_effect(&e, "sleep2");
	REQUIRE(s1 != NULL);
	REQUIRE(s2 != NULL);
	CHECK(s1->ok);
	CHECKF(s1->at_ms - t0 >= 990 && s1->at_ms - t0 < 1600, "1 s sleep took %" PRIu64 " ms",
	       s1->at_ms - t0);
	CHECK(!s2->ok);
	CHECK_EQ_INT(s2->cls, FSM_ERR_TRANSIENT);
	CHECKF(strstr(s2->text, "Sleep lifecycle hook (2)") != NULL &&
	               strstr(s2->text, "timeout") != NULL,
	       "%s", s2->text);
	CHECKF(took < 1600, "the 1 s timeout of a 2 s sleep took %" PRIu64 " ms", took);
	env_free(&e);
}

TEST(tcp_hooks_and_unrunnable_hooks_fail_permanent)
{
	struct env e;
	if (!env_init(&e, NULL))
		return;
	CHECK_EQ_INT(hook_run(&e, "hook-tcp", 0,
	                      "{\"hook\":\"postStart\",\"container_id\":\"c1\",\"pod_ip\":"
	                      "\"127.0.0.1\",\"spec\":{\"tcpSocket\":{\"port\":80}}}"),
	             0);
	CHECK_EQ_INT(hook_run(&e, "hook-exec-no-cri", 0,
	                      "{\"hook\":\"postStart\",\"container_id\":\"c1\",\"pod_ip\":"
	                      "\"127.0.0.1\",\"spec\":{\"exec\":{\"command\":[\"true\"]}}}"),
	             0);
	CHECK_EQ_INT(hook_run(&e, "hook-named", 0,
	                      "{\"hook\":\"postStart\",\"container_id\":\"c1\",\"pod_ip\":"
	                      "\"127.0.0.1\",\"spec\":{\"httpGet\":{\"port\":\"web\"}}}"),
	             0);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_HOOK_RUN, "hook-nobody", 0, NULL), 0);
	REQUIRE(turn_until_events(&e, 4, 1000));
	const char *ids[] = {"hook-tcp", "hook-exec-no-cri", "hook-named", "hook-nobody"};
	for (size_t i = 0; i < 4; i++) {
		const struct rec_ev *eff = find_effect(&e, ids[i]);
		CHECKF(eff != NULL, "no effect for %s", ids[i]);
		if (eff != NULL)
			CHECKF(!eff->ok && eff->cls == FSM_ERR_PERMANENT, "%s: ok %d class %d: %s",
			       ids[i], eff->ok, eff->cls, eff->text);
	}
	const struct rec_ev *tcp = find_effect(&e, "hook-tcp");
	REQUIRE(tcp != NULL);
	CHECKF(strstr(tcp->text, "Cannot run handler") != NULL, "%s", tcp->text);
	env_free(&e);
}

/* ==== bounds ============================================================================= */

TEST(at_most_4096_probes)
{
	struct env e;
	if (!env_init(&e, NULL))
		return;
	char id[64];
	for (int i = 0; i <= FX_PROBES_MAX; i++) {
		snprintf(id, sizeof(id), "many-%d", i);
		/* Never due within the test: they only take room. */
		int rc = probe_start(&e, id,
		                     "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
		                     "\"127.0.0.1\",\"spec\":{\"tcpSocket\":{\"port\":9}},"
		                     "\"initial_delay_ms\":3600000}");
		if (rc != 0) {
			CHECKF(rc == 0, "start %d: %d", i, rc);
			break;
		}
	}
	turn_ms(&e, 100);
	CHECK_EQ_INT(e.rec.effects_ok, FX_PROBES_MAX);
	CHECK_EQ_INT(e.rec.effects_failed, 1);
	const struct rec_ev *last = NULL;
	for (int i = 0; i < e.rec.n && i < REC_MAX; i++)
		if (!e.rec.ev[i].ok)
			last = &e.rec.ev[i];
	if (e.rec.n > REC_MAX) {
		/* The refused one is the last event; only its count is kept. */
		struct fx_probe_stats st;
		fx_probe_stats(e.x, &st);
		CHECK_EQ_INT(st.probes, FX_PROBES_MAX);
	} else if (last != NULL) {
		CHECK_EQ_INT(last->cls, FSM_ERR_TRANSIENT);
	}
	/* A stop makes room again. */
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "many-0", 0, NULL), 0);
	CHECK_EQ_INT(probe_start(&e, "many-again",
	                         "{\"probe\":\"liveness\",\"container_id\":\"c1\",\"pod_ip\":"
	                         "\"127.0.0.1\",\"spec\":{\"tcpSocket\":{\"port\":9}},"
	                         "\"initial_delay_ms\":3600000}"),
	             0);
	turn_ms(&e, 50);
	CHECK_EQ_INT(e.rec.effects_ok, FX_PROBES_MAX + 2);
	CHECK_EQ_INT(e.rec.effects_failed, 1);
	env_free(&e);
}

TEST(at_most_256_runs_in_flight_the_rest_skipped)
{
	struct env e;
	if (!env_init(&e, NULL))
		return;
	int port;
	int l = mute_listener(&port);
	REQUIRE(l >= 0);
	enum { N = FX_PROBE_RUNS_MAX + 44 };
	char id[64];
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "busy-%d", i);
		CHECK_EQ_INT(probe_start(&e, id, HTTP_PROBE("/never", 10000, 3000), port), 0);
	}
	turn_ms(&e, 300);
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.probes, N);
	CHECK_EQ_INT(st.runs_in_flight, FX_PROBE_RUNS_MAX);
	CHECK_EQ_INT(st.runs, FX_PROBE_RUNS_MAX);
	CHECK_EQ_INT(st.runs_skipped, N - FX_PROBE_RUNS_MAX);
	CHECK_EQ_INT(e.rec.probes, 0); /* skipped runs report nothing */
	close(l);
	env_free(&e);
}

/* ==== exec, against the real runtime ===================================================== */

/* The runtime is runtime_env.h's; the running container is ours. */
static struct {
	char sandbox[100];
	char container[100];
} pod;

static bool call_ok(enum cri_method m, const void *req, uint64_t timeout_ms, struct cri_reply *r)
{
	cri_call_sync(rt.client, m, req, timeout_ms, r);
	printf("# cri %-18s %8.2f ms  %s\n", cri_method_name(m), (double)r->elapsed_us / 1000.0,
	       cri_grpc_status_name(r->grpc_status));
	if (r->grpc_status != CRI_GRPC_OK)
		rt_unavailable("%s: %s: %s", cri_method_name(m),
		               cri_grpc_status_name(r->grpc_status), r->message);
	return r->grpc_status == CRI_GRPC_OK;
}

/* A host-network pod with one busybox container running /bin/sleep 3600. */
static bool pod_up(void)
{
	char uid[80], log_dir[600], sub[700];
	snprintf(uid, sizeof(uid), "probe-test-%d-%" PRIu64, (int)getpid(), mono_ms());
	snprintf(log_dir, sizeof(log_dir), "%s/pod-logs", test_tmpdir());
	mkdir(log_dir, 0755);
	snprintf(sub, sizeof(sub), "%s/app", log_dir);
	mkdir(sub, 0755);
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	md.name = "probe-test";
	md.uid = uid;
	md.namespace_ = "ledgerlet-test";
	Runtime__V1__PodSandboxConfig__LabelsEntry label =
	        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
	label.key = TEST_LABEL_KEY;
	label.value = TEST_LABEL_VALUE;
	Runtime__V1__PodSandboxConfig__LabelsEntry *labels[] = {&label};
	Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	Runtime__V1__LinuxSandboxSecurityContext sc =
	        RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	sc.namespace_options = &ns;
	Runtime__V1__LinuxPodSandboxConfig linux = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	linux.security_context = &sc;
	Runtime__V1__PodSandboxConfig config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	config.metadata = &md;
	config.log_directory = log_dir;
	config.n_labels = 1;
	config.labels = labels;
	config.linux = &linux;

	struct cri_reply r;
	Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
	image.image = rt.busybox;
	Runtime__V1__PullImageRequest pull = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	pull.image = &image;
	bool ok = call_ok(CRI_PULL_IMAGE, &pull.base, 120000, &r);
	cri_reply_clear(&r);
	if (!ok)
		return false;
	Runtime__V1__RunPodSandboxRequest run = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	run.config = &config;
	ok = call_ok(CRI_RUN_POD_SANDBOX, &run.base, 60000, &r) && r.response != NULL;
	if (ok)
		snprintf(pod.sandbox, sizeof(pod.sandbox), "%s",
		         ((Runtime__V1__RunPodSandboxResponse *)r.response)->pod_sandbox_id);
	cri_reply_clear(&r);
	if (!ok)
		return false;

	Runtime__V1__ContainerMetadata cmd = RUNTIME__V1__CONTAINER_METADATA__INIT;
	cmd.name = "app";
	char *argv[] = {"/bin/sleep", "3600"};
	Runtime__V1__ContainerConfig__LabelsEntry clabel =
	        RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
	clabel.key = TEST_LABEL_KEY;
	clabel.value = TEST_LABEL_VALUE;
	Runtime__V1__ContainerConfig__LabelsEntry *clabels[] = {&clabel};
	Runtime__V1__NamespaceOption cns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	cns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	cns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	Runtime__V1__LinuxContainerSecurityContext csc =
	        RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
	csc.namespace_options = &cns;
	Runtime__V1__LinuxContainerConfig clinux = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
	clinux.security_context = &csc;
	Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	cc.metadata = &cmd;
	cc.image = &image;
	cc.n_command = 2;
	cc.command = argv;
	cc.n_labels = 1;
	cc.labels = clabels;
	cc.log_path = "app/0.log";
	cc.linux = &clinux;
	Runtime__V1__CreateContainerRequest create = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	create.pod_sandbox_id = pod.sandbox;
	create.config = &cc;
	create.sandbox_config = &config;
	/* Other suites share the runtime and may remove the image they pulled between
	 * our pull and our create: pull again then. */
	for (int attempt = 0;; attempt++) {
		ok = call_ok(CRI_CREATE_CONTAINER, &create.base, 60000, &r) && r.response != NULL;
		if (ok || attempt == 2 || r.grpc_status != CRI_GRPC_NOT_FOUND)
			break;
		cri_reply_clear(&r);
		rt.ok = true;
		if (!call_ok(CRI_PULL_IMAGE, &pull.base, 120000, &r))
			break;
		cri_reply_clear(&r);
	}
	if (ok)
		snprintf(pod.container, sizeof(pod.container), "%s",
		         ((Runtime__V1__CreateContainerResponse *)r.response)->container_id);
	cri_reply_clear(&r);
	if (!ok)
		return false;
	Runtime__V1__StartContainerRequest start = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
	start.container_id = pod.container;
	ok = call_ok(CRI_START_CONTAINER, &start.base, 60000, &r);
	cri_reply_clear(&r);
	return ok;
}

static void pod_down(void)
{
	if (rt.client == NULL)
		return;
	/* stopping the sandbox kills the container */
	rt_remove_sandboxes_labelled(TEST_LABEL_KEY, TEST_LABEL_VALUE, NULL);
	if (pod.container[0] != '\0') {
		struct cri_reply r;
		Runtime__V1__RemoveContainerRequest rm =
		        RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
		rm.container_id = pod.container;
		cri_call_sync(rt.client, CRI_REMOVE_CONTAINER, &rm.base, 30000, &r);
		cri_reply_clear(&r);
	}
	pod.sandbox[0] = pod.container[0] = '\0';
}

static void rt_cleanup(void)
{
	pod_down();
	rt_close();
}

/* Held shared while we use the runtime, so that no one stops it under us (a minute at
 * most); a client; this suite's sandboxes of a run that died removed; the pod up. */
static void rt_setup(void)
{
	rt_lock_shared(60000);
	if (!rt_connect(false))
		return;
	rt_remove_sandboxes_labelled(TEST_LABEL_KEY, TEST_LABEL_VALUE, NULL);
	if (pod_up())
		atexit(rt_cleanup);
}

/* The runtime and a running container, set up by the first test that needs them. */
static bool runtime_up(void)
{
	curl_ready();
	return rt_up(rt_setup);
}

#define EXEC_PROBE(cmd_json)                                                                       \
	"{\"probe\":\"liveness\",\"container_id\":\"%s\",\"pod_ip\":\"127.0.0.1\",\"spec\":"       \
	"{\"exec\":{\"command\":" cmd_json "},\"timeoutSeconds\":1},\"period_ms\":5000}"

TEST(runtime_exec_probes_through_execsync)
{
	if (!runtime_up())
		return;
	struct env e;
	if (!env_init(&e, rt.endpoint))
		return;
	CHECK_EQ_INT(probe_start(&e, "exec-true", EXEC_PROBE("[\"/bin/true\"]"), pod.container), 0);
	REQUIRE(turn_until_events(&e, 2, 10000));
	const struct rec_ev *p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECKF(p->ok, "%s", p->text);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "exec-true", 0, NULL), 0);

	CHECK_EQ_INT(probe_start(&e, "exec-false",
	                         EXEC_PROBE("[\"/bin/sh\",\"-c\",\"echo not well; exit 3\"]"),
	                         pod.container),
	             0);
	REQUIRE(turn_until_events(&e, 5, 10000)); /* stop's effect, start's, the result */
	p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK(!p->ok);
	CHECK_EQ_STR(p->text, "not well");
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "exec-false", 0, NULL), 0);

	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(
	        probe_start(&e, "exec-slow", EXEC_PROBE("[\"/bin/sleep\",\"5\"]"), pod.container),
	        0);
	REQUIRE(turn_until_events(&e, 8, 10000));
	uint64_t took = mono_ms() - t0;
	p = last_probe(&e);
	REQUIRE(p != NULL);
	CHECK(!p->ok);
	CHECKF(strstr(p->text, "timed out after 1s") != NULL, "%s", p->text);
	CHECKF(took >= 900 && took < 4000, "the 1 s timeout took %" PRIu64 " ms", took);
	printf("# exec probe timeout after %" PRIu64 " ms: %s\n", took, p->text);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "exec-slow", 0, NULL), 0);

	/* A container the runtime does not know: no result at all (the kubelet's Unknown). */
	CHECK_EQ_INT(probe_start(&e, "exec-ghost", EXEC_PROBE("[\"/bin/true\"]"),
	                         "0000000000ledgerletghost"),
	             0);
	turn_ms(&e, 1000);
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.unknown, 1);
	CHECK_EQ_INT(e.rec.probes, 3);
	env_free(&e);
}

TEST(runtime_exec_hooks_and_a_stop_during_execsync)
{
	if (!runtime_up())
		return;
	struct env e;
	if (!env_init(&e, rt.endpoint))
		return;
	char body[600];
	snprintf(body, sizeof(body),
	         "{\"hook\":\"postStart\",\"container_id\":\"%s\",\"pod_ip\":\"\",\"spec\":"
	         "{\"exec\":{\"command\":[\"/bin/sh\",\"-c\",\"echo hi > /tmp/hooked\"]}}}",
	         pod.container);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_HOOK_RUN, "hook-exec-ok", 0, body), 0);
	snprintf(body, sizeof(body),
	         "{\"hook\":\"preStop\",\"container_id\":\"%s\",\"pod_ip\":\"\",\"spec\":"
	         "{\"exec\":{\"command\":[\"/bin/sh\",\"-c\",\"echo no; exit 2\"]}}}",
	         pod.container);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_HOOK_RUN, "hook-exec-fail", 5, body), 0);
	REQUIRE(turn_until_events(&e, 2, 10000));
	const struct rec_ev *ok = find_effect(&e, "hook-exec-ok");
	const struct rec_ev *bad = find_effect(&e, "hook-exec-fail");
	REQUIRE(ok != NULL);
	REQUIRE(bad != NULL);
	CHECKF(ok->ok, "%s", ok->text);
	CHECK(!bad->ok);
	CHECK_EQ_INT(bad->cls, FSM_ERR_PERMANENT);
	CHECKF(strstr(bad->text, "Exec lifecycle hook ([/bin/sh -c echo no; exit 2]) for Container "
	                         "\"app\" in Pod \"pod-uid-1\" failed - error: command") != NULL &&
	               strstr(bad->text, "exited with 2") != NULL,
	       "%s", bad->text);

	/* A probe stopped while its ExecSync runs: the call's end is dropped. */
	CHECK_EQ_INT(
	        probe_start(&e, "exec-orphan", EXEC_PROBE("[\"/bin/sleep\",\"1\"]"), pod.container),
	        0);
	turn_ms(&e, 200);
	struct fx_probe_stats st;
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.runs_in_flight, 1);
	CHECK_EQ_INT(dispatch(&e, FSM_CMD_PROBE_STOP, "exec-orphan", 0, NULL), 0);
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.probes, 0);
	CHECK_EQ_INT(st.runs_in_flight, 1); /* the call cannot be withdrawn */
	turn_ms(&e, 1800);
	fx_probe_stats(e.x, &st);
	CHECK_EQ_INT(st.runs_in_flight, 0);
	CHECK_EQ_INT(st.dropped, 1);
	CHECK_EQ_INT(e.rec.probes, 0);
	/* And one left in flight when everything is freed (the client goes first). */
	CHECK_EQ_INT(probe_start(&e, "exec-at-free", EXEC_PROBE("[\"/bin/sleep\",\"1\"]"),
	                         pod.container),
	             0);
	turn_ms(&e, 100);
	env_free(&e);
}

TEST_MAIN(SUITE, T(healthy_http_probe_reports_once_then_stays_quiet),
          T(failing_http_probe_reports_up_to_the_failure_threshold),
          T(flip_from_healthy_to_failing_and_back),
          T(readiness_success_threshold_reports_each_success_up_to_it),
          T(timeout_is_a_failure_that_names_the_timeout),
          T(seconds_of_the_spec_set_the_delay_and_the_period),
          T(redirects_followed_on_the_same_host_only), T(http_headers_and_user_agent_are_sent),
          T(a_large_body_is_not_waited_for), T(tcp_probe_open_and_closed_ports),
          T(grpc_health_serving_not_serving_unimplemented_and_refused),
          T(probe_stop_ends_the_events_and_drops_a_run_in_flight),
          T(a_second_start_restarts_the_counters),
          T(bodies_that_cannot_run_fail_permanent_and_named_ports_need_ports),
          T(http_hooks_answer_with_their_effect),
          T(https_against_plain_http_fails_a_probe_and_falls_back_for_a_hook),
          T(sleep_hooks_wait_on_the_reactor), T(tcp_hooks_and_unrunnable_hooks_fail_permanent),
          T(at_most_4096_probes), T(at_most_256_runs_in_flight_the_rest_skipped),
          T(runtime_exec_probes_through_execsync), T(runtime_exec_hooks_and_a_stop_during_execsync))
