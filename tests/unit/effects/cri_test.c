/*
 * tests/unit/effects/cri_test.c — the CRI client.
 *
 * Three layers: the gRPC response decoder fed byte buffers (frames split at every
 * byte, trailers, percent-encoded messages, malformed input); the client against a
 * tiny HTTP/2 server forked by the test (streams delivered as they arrive, trailers
 * through libcurl, hang-ups, deadlines, cancellation, the in-flight bound); and the
 * client against a real containerd started by scripts/runtime.sh with the images of
 * scripts/images.sh. When that runtime cannot be had, each runtime test fails with
 * "runtime not available: <why>" — it never skips quietly.
 *
 * The runtime tests print "# cri <Method> <ms>" lines with each call's time.
 */
#include "effects/cri.h"
#include "io/curl_glue.h"
#include "io/reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define SUITE            "effects/cri"
#define TEST_LABEL_KEY   "ledgerlet.io/test"
#define TEST_LABEL_VALUE "effects-cri"

#include "effects/runtime_env.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ==== (a) the decoder on byte buffers ============================================= */

/* Appends one gRPC frame (flag 0, big-endian length, payload) to out. */
static size_t put_frame(uint8_t *out, const void *payload, size_t len)
{
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	memcpy(out + 5, payload, len);
	return 5 + len;
}

struct seen {
	int n;
	size_t len[8];
	uint8_t data[8][64];
};

static int collect(void *arg, const uint8_t *data, size_t len)
{
	struct seen *s = arg;
	if (s->n < 8 && len <= sizeof(s->data[0])) {
		s->len[s->n] = len;
		memcpy(s->data[s->n], data, len);
	}
	s->n++;
	return 0;
}

static void header(struct cri_wire *w, const char *line)
{
	cri_wire_header(w, line, strlen(line));
}

/* Three messages (3 bytes, empty, 40 bytes) as one byte stream. */
static size_t three_messages(uint8_t *buf)
{
	uint8_t big[40];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 1);
	size_t n = put_frame(buf, "abc", 3);
	n += put_frame(buf + n, "", 0);
	n += put_frame(buf + n, big, sizeof(big));
	return n;
}

static void check_three(const struct seen *s)
{
	CHECK_EQ_INT(s->n, 3);
	CHECK_EQ_INT(s->len[0], 3);
	CHECK(memcmp(s->data[0], "abc", 3) == 0);
	CHECK_EQ_INT(s->len[1], 0);
	CHECK_EQ_INT(s->len[2], 40);
	CHECK_EQ_INT(s->data[2][39], (uint8_t)(39 * 7 + 1));
}

TEST(wire_frames_split_at_every_byte)
{
	uint8_t buf[128];
	size_t n = three_messages(buf);
	for (size_t cut = 0; cut <= n; cut++) {
		struct cri_wire w;
		struct seen s = {0};
		cri_wire_init(&w, 1024);
		CHECK_EQ_INT(cri_wire_body(&w, buf, cut, collect, &s), 0);
		CHECK_EQ_INT(cri_wire_body(&w, buf + cut, n - cut, collect, &s), 0);
		check_three(&s);
		CHECK_EQ_INT(w.messages, 3);
		CHECK_EQ_INT(w.prefix_len, 0);
		cri_wire_free(&w);
	}
}

TEST(wire_frames_in_random_pieces)
{
	uint8_t buf[128];
	size_t n = three_messages(buf);
	for (int round = 0; round < 500; round++) {
		struct cri_wire w;
		struct seen s = {0};
		cri_wire_init(&w, 1024);
		size_t at = 0;
		while (at < n) {
			size_t piece = 1 + test_rand() % 9;
			if (piece > n - at)
				piece = n - at;
			REQUIRE(cri_wire_body(&w, buf + at, piece, collect, &s) == 0);
			at += piece;
		}
		check_three(&s);
		cri_wire_free(&w);
	}
}

TEST(wire_trailers_give_status_and_decoded_message)
{
	struct cri_wire w;
	uint8_t buf[64];
	cri_wire_init(&w, 1024);
	header(&w, "HTTP/2 200 \r\n");
	header(&w, "content-type: application/grpc\r\n");
	header(&w, "\r\n");
	size_t n = put_frame(buf, "", 0);
	CHECK_EQ_INT(cri_wire_body(&w, buf, n, NULL, NULL), 0);
	header(&w, "grpc-status: 5\r\n");
	header(&w, "grpc-message: container%20%22abc%22%20not%20found%3A%20100%25\r\n");
	const char *msg = NULL;
	int status = cri_wire_status(&w, CURLE_OK, NULL, &msg);
	CHECK_EQ_INT(status, CRI_GRPC_NOT_FOUND);
	CHECK_EQ_STR(msg, "container \"abc\" not found: 100%");
	CHECK_EQ_INT(cri_error_class_of(status), CRI_CLASS_NOT_FOUND);
	CHECK_EQ_INT(w.http_status, 200);
	CHECK(w.grpc_content);
	cri_wire_free(&w);
}

TEST(wire_header_names_in_any_case_and_blanks_around_values)
{
	struct cri_wire w;
	cri_wire_init(&w, 1024);
	header(&w, "HTTP/2 200");
	header(&w, "Content-Type: application/grpc+proto");
	header(&w, "GRPC-STATUS: \t 3 \r\n");
	header(&w, "Grpc-Message:  bad%20name \r\n");
	const char *msg;
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_OK, NULL, &msg), CRI_GRPC_INVALID_ARGUMENT);
	CHECK_EQ_STR(msg, "bad name");
	CHECK(w.grpc_content);
	cri_wire_free(&w);

	/* A malformed grpc-status is UNKNOWN, as gRPC reads it. */
	cri_wire_init(&w, 1024);
	header(&w, "HTTP/2 200");
	header(&w, "grpc-status: 1x");
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_OK, NULL, &msg), CRI_GRPC_UNKNOWN);
	cri_wire_free(&w);
}

TEST(wire_percent_decoding_keeps_malformed_escapes)
{
	char out[64];
	const char *in = "100%";
	CHECK_EQ_INT(cri_percent_decode(out, sizeof(out), in, strlen(in)), 4);
	CHECK_EQ_STR(out, "100%");
	in = "%zz%4%2a%2A";
	cri_percent_decode(out, sizeof(out), in, strlen(in));
	CHECK_EQ_STR(out, "%zz%4**");
	in = "ok %E2%9C%93";
	cri_percent_decode(out, sizeof(out), in, strlen(in));
	CHECK_EQ_STR(out, "ok \xE2\x9C\x93");
	in = "%4";
	cri_percent_decode(out, sizeof(out), in, strlen(in));
	CHECK_EQ_STR(out, "%4");
	/* Cut to the buffer, always terminated. */
	char small[4];
	in = "abcdef";
	CHECK_EQ_INT(cri_percent_decode(small, sizeof(small), in, strlen(in)), 3);
	CHECK_EQ_STR(small, "abc");
}

TEST(wire_trailers_only_response)
{
	/* What containerd 1.6 answers for GetContainerEvents: one HEADERS frame. */
	struct cri_wire w;
	cri_wire_init(&w, 1024);
	header(&w, "HTTP/2 200 \r\n");
	header(&w, "content-type: application/grpc\r\n");
	header(&w, "grpc-status: 12\r\n");
	header(&w, "grpc-message: method GetContainerEvents not implemented\r\n");
	header(&w, "\r\n");
	const char *msg;
	int status = cri_wire_status(&w, CURLE_OK, NULL, &msg);
	CHECK_EQ_INT(status, CRI_GRPC_UNIMPLEMENTED);
	CHECK_EQ_STR(msg, "method GetContainerEvents not implemented");
	CHECK_EQ_INT(cri_error_class_of(status), CRI_CLASS_PERMANENT);
	CHECK_EQ_INT(w.messages, 0);
	cri_wire_free(&w);
}

TEST(wire_http_errors_without_grpc_status_map_as_grpc_does)
{
	static const struct {
		const char *line;
		int status;
	} cases[] = {
	        {"HTTP/2 503", CRI_GRPC_UNAVAILABLE},
	        {"HTTP/2 404", CRI_GRPC_UNIMPLEMENTED},
	        {"HTTP/2 400", CRI_GRPC_INTERNAL},
	        {"HTTP/2 401", CRI_GRPC_UNAUTHENTICATED},
	        {"HTTP/2 403", CRI_GRPC_PERMISSION_DENIED},
	        {"HTTP/2 418", CRI_GRPC_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cri_wire w;
		cri_wire_init(&w, 1024);
		header(&w, cases[i].line);
		const char *msg;
		CHECKF(cri_wire_status(&w, CURLE_OK, NULL, &msg) == cases[i].status, "%s",
		       cases[i].line);
		CHECK(strstr(msg, "HTTP status") != NULL);
		cri_wire_free(&w);
	}
}

TEST(wire_missing_grpc_status)
{
	/* A gRPC answer cut before its trailers: the outcome is unknown, so transient. */
	struct cri_wire w;
	uint8_t buf[32];
	cri_wire_init(&w, 1024);
	header(&w, "HTTP/2 200");
	header(&w, "content-type: application/grpc");
	size_t n = put_frame(buf, "x", 1);
	CHECK_EQ_INT(cri_wire_body(&w, buf, n, NULL, NULL), 0);
	const char *msg;
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_OK, NULL, &msg), CRI_GRPC_UNAVAILABLE);
	CHECK(strstr(msg, "without grpc-status") != NULL);
	cri_wire_free(&w);

	/* Not gRPC at all (an HTTP/2 server of something else). */
	cri_wire_init(&w, 1024);
	header(&w, "HTTP/2 200");
	header(&w, "content-type: text/html");
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_OK, NULL, &msg), CRI_GRPC_INTERNAL);
	CHECK(strstr(msg, "not a gRPC response") != NULL);
	cri_wire_free(&w);
}

TEST(wire_ok_status_after_a_partial_message_is_internal)
{
	struct cri_wire w;
	uint8_t buf[32];
	cri_wire_init(&w, 1024);
	header(&w, "HTTP/2 200");
	size_t n = put_frame(buf, "hello", 5);
	CHECK_EQ_INT(cri_wire_body(&w, buf, n - 2, NULL, NULL), 0);
	header(&w, "grpc-status: 0");
	const char *msg;
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_OK, NULL, &msg), CRI_GRPC_INTERNAL);
	CHECK(strstr(msg, "inside a message") != NULL);
	cri_wire_free(&w);
}

TEST(wire_refuses_oversized_and_compressed_messages)
{
	struct cri_wire w;
	uint8_t buf[64];
	cri_wire_init(&w, 16);
	uint8_t big[17] = {0};
	size_t n = put_frame(buf, big, sizeof(big));
	CHECK_EQ_INT(cri_wire_body(&w, buf, 3, NULL, NULL), 0);
	CHECK_EQ_INT(cri_wire_body(&w, buf + 3, n - 3, NULL, NULL), CRI_GRPC_RESOURCE_EXHAUSTED);
	/* Sticky: nothing more is read, and the error wins over a later trailer. */
	CHECK_EQ_INT(cri_wire_body(&w, buf, n, NULL, NULL), CRI_GRPC_RESOURCE_EXHAUSTED);
	header(&w, "grpc-status: 0");
	header(&w, "grpc-message: fine");
	const char *msg;
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_WRITE_ERROR, NULL, &msg),
	             CRI_GRPC_RESOURCE_EXHAUSTED);
	CHECK(strstr(msg, "larger than the 16-byte limit") != NULL);
	CHECK_EQ_INT(cri_error_class_of(CRI_GRPC_RESOURCE_EXHAUSTED), CRI_CLASS_TRANSIENT);
	cri_wire_free(&w);

	cri_wire_init(&w, 1024);
	n = put_frame(buf, "z", 1);
	buf[0] = 1; /* compressed */
	CHECK_EQ_INT(cri_wire_body(&w, buf, n, NULL, NULL), CRI_GRPC_INTERNAL);
	cri_wire_free(&w);
}

static int refuse_second(void *arg, const uint8_t *data, size_t len)
{
	(void)data;
	(void)len;
	int *n = arg;
	return ++*n == 2 ? CRI_GRPC_CANCELLED : 0;
}

TEST(wire_a_refused_message_ends_the_body)
{
	struct cri_wire w;
	uint8_t buf[128];
	size_t n = three_messages(buf);
	int count = 0;
	cri_wire_init(&w, 1024);
	CHECK_EQ_INT(cri_wire_body(&w, buf, n, refuse_second, &count), CRI_GRPC_CANCELLED);
	CHECK_EQ_INT(count, 2);
	const char *msg;
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_WRITE_ERROR, NULL, &msg), CRI_GRPC_CANCELLED);
	cri_wire_free(&w);
}

TEST(wire_transport_failures_are_transient)
{
	struct cri_wire w;
	const char *msg;
	cri_wire_init(&w, 1024);
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_COULDNT_CONNECT, "no socket here", &msg),
	             CRI_GRPC_UNAVAILABLE);
	CHECK_EQ_STR(msg, "transport: no socket here");
	cri_wire_free(&w);
	cri_wire_init(&w, 1024);
	CHECK_EQ_INT(cri_wire_status(&w, CURLE_OPERATION_TIMEDOUT, NULL, &msg),
	             CRI_GRPC_DEADLINE_EXCEEDED);
	cri_wire_free(&w);
	static const CURLcode transient[] = {
	        CURLE_COULDNT_CONNECT, CURLE_SEND_ERROR,         CURLE_RECV_ERROR,
	        CURLE_GOT_NOTHING,     CURLE_PARTIAL_FILE,       CURLE_HTTP2,
	        CURLE_HTTP2_STREAM,    CURLE_OPERATION_TIMEDOUT,
	};
	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		CHECKF(cri_error_class_of(cri_grpc_status_of_curl(transient[i])) ==
		               CRI_CLASS_TRANSIENT,
		       "curl code %d", (int)transient[i]);
	CHECK_EQ_INT(cri_error_class_of(cri_grpc_status_of_curl(CURLE_UNSUPPORTED_PROTOCOL)),
	             CRI_CLASS_PERMANENT);
}

TEST(error_classes_follow_the_grpc_status)
{
	static const struct {
		int status;
		enum cri_error_class cls;
	} cases[] = {
	        {CRI_GRPC_OK, CRI_CLASS_OK},
	        {CRI_GRPC_UNAVAILABLE, CRI_CLASS_TRANSIENT},
	        {CRI_GRPC_DEADLINE_EXCEEDED, CRI_CLASS_TRANSIENT},
	        {CRI_GRPC_RESOURCE_EXHAUSTED, CRI_CLASS_TRANSIENT},
	        {CRI_GRPC_ABORTED, CRI_CLASS_TRANSIENT},
	        {CRI_GRPC_CANCELLED, CRI_CLASS_TRANSIENT},
	        {CRI_GRPC_NOT_FOUND, CRI_CLASS_NOT_FOUND},
	        {CRI_GRPC_INVALID_ARGUMENT, CRI_CLASS_PERMANENT},
	        {CRI_GRPC_FAILED_PRECONDITION, CRI_CLASS_PERMANENT},
	        {CRI_GRPC_UNIMPLEMENTED, CRI_CLASS_PERMANENT},
	        {CRI_GRPC_ALREADY_EXISTS, CRI_CLASS_PERMANENT},
	        {CRI_GRPC_UNKNOWN, CRI_CLASS_PERMANENT},
	        {CRI_GRPC_INTERNAL, CRI_CLASS_PERMANENT},
	        {99, CRI_CLASS_PERMANENT},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECKF(cri_error_class_of(cases[i].status) == cases[i].cls, "status %d",
		       cases[i].status);
	CHECK_EQ_STR(cri_error_class_name(CRI_CLASS_NOT_FOUND), "not-found");
	CHECK_EQ_STR(cri_grpc_status_name(CRI_GRPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
	CHECK_EQ_STR(cri_grpc_status_name(42), "CODE_42");
}

TEST(methods_match_the_schema)
{
	for (int m = 0; m < CRI_METHOD_COUNT; m++) {
		const ProtobufCServiceDescriptor *svc =
		        strstr(cri_method_path(m), "ImageService")
		                ? &runtime__v1__image_service__descriptor
		                : &runtime__v1__runtime_service__descriptor;
		const ProtobufCMethodDescriptor *md =
		        protobuf_c_service_descriptor_get_method_by_name(svc, cri_method_name(m));
		REQUIRE(md != NULL);
		CHECK(md->input == cri_method_request(m));
		CHECK(md->output == cri_method_response(m));
		CHECK_EQ_INT(cri_method_streaming(m), m == CRI_GET_CONTAINER_EVENTS);
	}
	CHECK_EQ_STR(cri_method_path(CRI_RUN_POD_SANDBOX),
	             "/runtime.v1.RuntimeService/RunPodSandbox");
	CHECK_EQ_STR(cri_method_path(CRI_PULL_IMAGE), "/runtime.v1.ImageService/PullImage");
	CHECK_EQ_STR(runtime__v1__runtime_service__descriptor.name, "runtime.v1.RuntimeService");
	/* Every rpc of the schema has a method. */
	CHECK_EQ_INT(runtime__v1__runtime_service__descriptor.n_methods +
	                     runtime__v1__image_service__descriptor.n_methods,
	             CRI_METHOD_COUNT);
}

TEST(endpoint_forms)
{
	CURLM *multi = curl_multi_init();
	REQUIRE(multi != NULL);
	struct cri_client *c = NULL;
	CHECK_EQ_INT(cri_client_new(&c, "unix:///run/x/containerd.sock", multi), 0);
	if (c != NULL)
		CHECK_EQ_STR(cri_client_socket_path(c), "/run/x/containerd.sock");
	cri_client_free(c);
	CHECK_EQ_INT(cri_client_new(&c, "/run/y.sock", multi), 0);
	if (c != NULL)
		CHECK_EQ_STR(cri_client_socket_path(c), "/run/y.sock");
	cri_client_free(c);
	CHECK_EQ_INT(cri_client_new(&c, "tcp://127.0.0.1:1", multi), CRI_EENDPOINT);
	CHECK_EQ_INT(cri_client_new(&c, "unix://relative.sock", multi), CRI_EENDPOINT);
	char longer[200] = "unix:///";
	memset(longer + 8, 'a', 150);
	CHECK_EQ_INT(cri_client_new(&c, longer, multi), CRI_EENDPOINT);
	CHECK(c == NULL);
	curl_multi_cleanup(multi);
}

/* ==== (b) the client against a forked HTTP/2 server ================================= */

/*
 * Just enough HTTP/2 to answer libcurl: the preface, SETTINGS and their ACK, request
 * frames read and ignored (HPACK decoding is not needed: the scenario is fixed per
 * server), and answers encoded with static-table and literal header fields only.
 */
enum scenario {
	SC_STREAM,       /* three messages, split across DATA frames, a pause after the first */
	SC_STATUS_ONLY,  /* trailers-only: grpc-status 9 and a percent-encoded message */
	SC_TWO_MESSAGES, /* two messages to a unary call */
	SC_HANG_UP,      /* half a message, then the connection closes */
	SC_SILENT,       /* reads requests, never answers */
	SC_ONE_PER_CONN, /* answers one Version, then closes the connection (GOAWAY later) */
	SC_GOAWAY_RACE,  /* the same, with GOAWAY right behind the trailers */
};

struct h2_server {
	pid_t pid;
	char path[200];
	char endpoint[220];
};

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int h2_frame(int fd, uint8_t type, uint8_t flags, uint32_t stream, const void *payload,
                    size_t len)
{
	uint8_t h[9] = {(uint8_t)(len >> 16),
	                (uint8_t)(len >> 8),
	                (uint8_t)len,
	                type,
	                flags,
	                (uint8_t)(stream >> 24),
	                (uint8_t)(stream >> 16),
	                (uint8_t)(stream >> 8),
	                (uint8_t)stream};
	if (write_all(fd, h, 9) != 0)
		return -1;
	return len > 0 ? write_all(fd, payload, len) : 0;
}

/* HPACK "literal header field without indexing, new name", lengths under 127. */
static size_t hpack_literal(uint8_t *out, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	out[0] = 0;
	out[1] = (uint8_t)nl;
	memcpy(out + 2, name, nl);
	out[2 + nl] = (uint8_t)vl;
	memcpy(out + 3 + nl, value, vl);
	return 3 + nl + vl;
}

#define H2_DATA       0
#define H2_HEADERS    1
#define H2_SETTINGS   4
#define H2_PING       6
#define H2_GOAWAY     7
#define F_END_STREAM  1
#define F_ACK         1
#define F_END_HEADERS 4

static size_t event_frame(uint8_t *out, const char *id, Runtime__V1__ContainerEventType type)
{
	Runtime__V1__ContainerEventResponse ev = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
	ev.container_id = (char *)id;
	ev.container_event_type = type;
	ev.created_at = 1700000000000000000;
	uint8_t payload[128];
	size_t n = protobuf_c_message_pack(&ev.base, payload);
	return put_frame(out, payload, n);
}

static void h2_answer(int fd, uint32_t stream, enum scenario sc)
{
	uint8_t hb[256];
	size_t hn = 0;
	hb[hn++] = 0x88; /* :status 200, static table index 8 */
	hn += hpack_literal(hb + hn, "content-type", "application/grpc");
	uint8_t tb[256];
	size_t tn = 0;
	switch (sc) {
	case SC_STREAM: {
		h2_frame(fd, H2_HEADERS, F_END_HEADERS, stream, hb, hn);
		uint8_t body[512];
		size_t n1 = event_frame(body, "c1",
		                        RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
		size_t n = n1;
		n += event_frame(body + n, "c2",
		                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
		n += event_frame(body + n, "c3",
		                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
		/* The first message in two DATA frames (cut inside its prefix), then a pause,
		 * then the other two cut mid-payload. */
		h2_frame(fd, H2_DATA, 0, stream, body, 3);
		h2_frame(fd, H2_DATA, 0, stream, body + 3, n1 - 3);
		usleep(300 * 1000);
		h2_frame(fd, H2_DATA, 0, stream, body + n1, 9);
		h2_frame(fd, H2_DATA, 0, stream, body + n1 + 9, n - n1 - 9);
		tn += hpack_literal(tb + tn, "grpc-status", "0");
		h2_frame(fd, H2_HEADERS, F_END_HEADERS | F_END_STREAM, stream, tb, tn);
		break;
	}
	case SC_STATUS_ONLY:
		hn += hpack_literal(hb + hn, "grpc-status", "9");
		hn += hpack_literal(hb + hn, "grpc-message",
		                    "sandbox%20%22x%22%20is%20not%20ready%3A%20100%25%20%E2%9C%93");
		h2_frame(fd, H2_HEADERS, F_END_HEADERS | F_END_STREAM, stream, hb, hn);
		break;
	case SC_TWO_MESSAGES: {
		Runtime__V1__VersionResponse v = RUNTIME__V1__VERSION_RESPONSE__INIT;
		v.runtime_name = "fake";
		uint8_t payload[64], body[160];
		size_t pn = protobuf_c_message_pack(&v.base, payload);
		size_t n = put_frame(body, payload, pn);
		n += put_frame(body + n, payload, pn);
		h2_frame(fd, H2_HEADERS, F_END_HEADERS, stream, hb, hn);
		h2_frame(fd, H2_DATA, 0, stream, body, n);
		tn += hpack_literal(tb + tn, "grpc-status", "0");
		h2_frame(fd, H2_HEADERS, F_END_HEADERS | F_END_STREAM, stream, tb, tn);
		break;
	}
	case SC_HANG_UP: {
		uint8_t body[64];
		size_t n = event_frame(body, "c1",
		                       RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
		h2_frame(fd, H2_HEADERS, F_END_HEADERS, stream, hb, hn);
		h2_frame(fd, H2_DATA, 0, stream, body, n / 2);
		shutdown(fd, SHUT_RDWR);
		break;
	}
	case SC_ONE_PER_CONN:
	case SC_GOAWAY_RACE: {
		Runtime__V1__VersionResponse v = RUNTIME__V1__VERSION_RESPONSE__INIT;
		v.runtime_name = "fake";
		uint8_t payload[64], body[80];
		size_t n = put_frame(body, payload, protobuf_c_message_pack(&v.base, payload));
		h2_frame(fd, H2_HEADERS, F_END_HEADERS, stream, hb, hn);
		h2_frame(fd, H2_DATA, 0, stream, body, n);
		tn += hpack_literal(tb + tn, "grpc-status", "0");
		h2_frame(fd, H2_HEADERS, F_END_HEADERS | F_END_STREAM, stream, tb, tn);
		break;
	}
	case SC_SILENT:
		break;
	}
}

/* One connection: frames until the peer closes or a hang-up scenario closes. */
static void h2_serve_connection(int fd, enum scenario sc)
{
	char preface[24];
	if (read_all(fd, preface, sizeof(preface)) != 0 ||
	    memcmp(preface, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24) != 0)
		return;
	if (h2_frame(fd, H2_SETTINGS, 0, 0, NULL, 0) != 0)
		return;
	uint8_t payload[1 << 16];
	for (int frames = 0; frames < 100000; frames++) {
		uint8_t h[9];
		if (read_all(fd, h, 9) != 0)
			return;
		size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
		uint8_t type = h[3], flags = h[4];
		uint32_t stream =
		        ((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) &
		        0x7fffffffu;
		if (len > sizeof(payload) || read_all(fd, payload, len) != 0)
			return;
		if (type == H2_SETTINGS && !(flags & F_ACK))
			h2_frame(fd, H2_SETTINGS, F_ACK, 0, NULL, 0);
		else if (type == H2_PING && !(flags & F_ACK))
			h2_frame(fd, H2_PING, F_ACK, 0, payload, len);
		else if (type == H2_GOAWAY)
			return;
		else if ((type == H2_DATA || type == H2_HEADERS) && (flags & F_END_STREAM)) {
			h2_answer(fd, stream, sc);
			if (sc == SC_HANG_UP)
				return;
			if (sc == SC_ONE_PER_CONN || sc == SC_GOAWAY_RACE) {
				/* A graceful close: GOAWAY (last stream, NO_ERROR), then drain
				 * until the client closes, as a server going away does. */
				if (sc == SC_ONE_PER_CONN)
					usleep(100 * 1000);
				uint8_t ga[8] = {(uint8_t)(stream >> 24), (uint8_t)(stream >> 16),
				                 (uint8_t)(stream >> 8), (uint8_t)stream};
				h2_frame(fd, H2_GOAWAY, 0, 0, ga, sizeof(ga));
				shutdown(fd, SHUT_WR);
				while (read(fd, payload, sizeof(payload)) > 0)
					;
				return;
			}
		}
	}
}

static int h2_server_start(struct h2_server *s, enum scenario sc)
{
	/* Not under test_tmpdir(): a socket path must fit in 108 bytes. */
	snprintf(s->path, sizeof(s->path), "/tmp/ledgerlet-cri-h2-%d.sock", (int)getpid());
	snprintf(s->endpoint, sizeof(s->endpoint), "unix://%s", s->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(s->path) >= sizeof(a.sun_path)) {
		close(fd);
		return -1;
	}
	memcpy(a.sun_path, s->path, strlen(s->path) + 1);
	unlink(s->path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
		close(fd);
		return -1;
	}
	fflush(stdout);
	s->pid = fork();
	if (s->pid < 0) {
		close(fd);
		return -1;
	}
	if (s->pid == 0) {
		alarm(30); /* bound the child's life whatever the parent does */
		for (int conns = 0; conns < 64; conns++) {
			int cfd = accept(fd, NULL, NULL);
			if (cfd < 0)
				_exit(1);
			h2_serve_connection(cfd, sc);
			close(cfd);
		}
		_exit(0);
	}
	close(fd);
	return 0;
}

static void h2_server_stop(struct h2_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	unlink(s->path);
}

/* What a done callback saw. */
struct outcome {
	int calls;
	int status;
	enum cri_error_class cls;
	CURLcode curl_code;
	char message[CRI_STATUS_MESSAGE_MAX];
	uint32_t messages;
	long connects;
	uint64_t elapsed_us;
	uint64_t at_ms;
	size_t bytes; /* a unary answer's packed size */
};

static void record(void *arg, const struct cri_result *r)
{
	struct outcome *o = arg;
	o->calls++;
	o->status = r->grpc_status;
	o->cls = r->error_class;
	o->curl_code = r->curl_code;
	snprintf(o->message, sizeof(o->message), "%s", r->message);
	o->messages = r->messages;
	o->connects = r->connects;
	o->elapsed_us = r->elapsed_us;
	o->at_ms = now_ms();
	o->bytes = r->response != NULL ? protobuf_c_message_get_packed_size(r->response) : 0;
}

/* Drives multi until *count reaches want or ms_max pass; false on time-out. */
static bool drive(CURLM *multi, struct cri_client *c, const int *count, int want, int ms_max)
{
	uint64_t end = now_ms() + (uint64_t)ms_max;
	while (*count < want) {
		int running;
		curl_multi_perform(multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(multi, &left)) != NULL)
			cri_client_on_done(c, m);
		if (*count >= want)
			break;
		if (now_ms() > end)
			return false;
		curl_multi_poll(multi, NULL, 0, 50, NULL);
	}
	return true;
}

struct events {
	int n;
	char ids[8][16];
	int types[8];
	uint64_t at_ms[8];
	int stop_after; /* 0: never */
};

static int on_event(void *arg, const ProtobufCMessage *msg)
{
	struct events *e = arg;
	const Runtime__V1__ContainerEventResponse *ev = (const void *)msg;
	if (e->n < 8) {
		snprintf(e->ids[e->n], sizeof(e->ids[0]), "%s", ev->container_id);
		e->types[e->n] = ev->container_event_type;
		e->at_ms[e->n] = now_ms();
	}
	e->n++;
	return e->stop_after > 0 && e->n >= e->stop_after;
}

struct stream_ctx {
	struct events ev;
	struct outcome done;
};

static int on_stream_event(void *arg, const ProtobufCMessage *msg)
{
	return on_event(&((struct stream_ctx *)arg)->ev, msg);
}

static void on_stream_done(void *arg, const struct cri_result *r)
{
	record(&((struct stream_ctx *)arg)->done, r);
}

TEST(stream_delivers_each_message_as_it_arrives)
{
	struct h2_server s = {0};
	REQUIRE(h2_server_start(&s, SC_STREAM) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, s.endpoint, multi) == 0);
	struct stream_ctx ctx = {0};
	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	uint64_t id = 0;
	CHECK_EQ_INT(cri_stream(c, CRI_GET_CONTAINER_EVENTS, &req.base, 0, on_stream_event,
	                        on_stream_done, &ctx, &id),
	             0);
	CHECK(id != 0);
	CHECK(drive(multi, c, &ctx.done.calls, 1, 5000));
	CHECK_EQ_INT(ctx.done.calls, 1);
	CHECK_EQ_INT(ctx.done.status, CRI_GRPC_OK);
	CHECK_EQ_INT(ctx.done.messages, 3);
	CHECK_EQ_INT(ctx.ev.n, 3);
	CHECK_EQ_STR(ctx.ev.ids[0], "c1");
	CHECK_EQ_STR(ctx.ev.ids[1], "c2");
	CHECK_EQ_STR(ctx.ev.ids[2], "c3");
	CHECK_EQ_INT(ctx.ev.types[1], RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
	/* The first event came before the server's pause, not with the end. */
	CHECKF(ctx.done.at_ms >= ctx.ev.at_ms[0] + 200, "first event %" PRIu64 " ms before the end",
	       ctx.done.at_ms - ctx.ev.at_ms[0]);
	CHECK_EQ_INT(cri_client_calls_in_flight(c), 0);
	CHECK_EQ_INT(cri_cancel(c, id), CRI_ENOCALL);
	cri_client_free(c);
	curl_multi_cleanup(multi);
	h2_server_stop(&s);
}

TEST(stream_reader_can_stop_it)
{
	struct h2_server s = {0};
	REQUIRE(h2_server_start(&s, SC_STREAM) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, s.endpoint, multi) == 0);
	struct stream_ctx ctx = {.ev = {.stop_after = 2}};
	Runtime__V1__GetEventsRequest req = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	CHECK_EQ_INT(cri_stream(c, CRI_GET_CONTAINER_EVENTS, &req.base, 0, on_stream_event,
	                        on_stream_done, &ctx, NULL),
	             0);
	CHECK(drive(multi, c, &ctx.done.calls, 1, 5000));
	CHECK_EQ_INT(ctx.ev.n, 2);
	CHECK_EQ_INT(ctx.done.status, CRI_GRPC_CANCELLED);
	CHECK_EQ_INT(ctx.done.cls, CRI_CLASS_TRANSIENT);
	cri_client_free(c);
	curl_multi_cleanup(multi);
	h2_server_stop(&s);
}

TEST(trailers_only_status_and_message_through_curl)
{
	struct h2_server s = {0};
	REQUIRE(h2_server_start(&s, SC_STATUS_ONLY) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, s.endpoint, multi) == 0);
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	req.pod_sandbox_id = "x";
	struct cri_reply r;
	CHECK_EQ_INT(cri_call_sync(c, CRI_POD_SANDBOX_STATUS, &req.base, 2000, &r), 0);
	CHECK_EQ_INT(r.grpc_status, CRI_GRPC_FAILED_PRECONDITION);
	CHECK_EQ_INT(r.error_class, CRI_CLASS_PERMANENT);
	CHECK_EQ_STR(r.message, "sandbox \"x\" is not ready: 100% \xE2\x9C\x93");
	CHECK(r.response == NULL);
	cri_reply_clear(&r);
	cri_client_free(c);
	curl_multi_cleanup(multi);
	h2_server_stop(&s);
}

TEST(unary_answer_with_two_messages_is_internal)
{
	struct h2_server s = {0};
	REQUIRE(h2_server_start(&s, SC_TWO_MESSAGES) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, s.endpoint, multi) == 0);
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct cri_reply r;
	CHECK_EQ_INT(cri_call_sync(c, CRI_VERSION, &req.base, 2000, &r), 0);
	CHECK_EQ_INT(r.grpc_status, CRI_GRPC_INTERNAL);
	CHECK(strstr(r.message, "more than one message") != NULL);
	CHECK(r.response == NULL);
	cri_reply_clear(&r);
	cri_client_free(c);
	curl_multi_cleanup(multi);
	h2_server_stop(&s);
}

TEST(connection_closed_mid_answer_is_transient)
{
	struct h2_server s = {0};
	REQUIRE(h2_server_start(&s, SC_HANG_UP) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, s.endpoint, multi) == 0);
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct cri_reply r;
	CHECK_EQ_INT(cri_call_sync(c, CRI_VERSION, &req.base, 2000, &r), 0);
	CHECKF(r.grpc_status == CRI_GRPC_UNAVAILABLE, "status %d curl %d: %s", r.grpc_status,
	       (int)r.curl_code, r.message);
	CHECK_EQ_INT(r.error_class, CRI_CLASS_TRANSIENT);
	cri_reply_clear(&r);
	cri_client_free(c);
	curl_multi_cleanup(multi);
	h2_server_stop(&s);
}

TEST(deadline_passes_as_deadline_exceeded_and_cancel_is_silent)
{
	struct h2_server s = {0};
	REQUIRE(h2_server_start(&s, SC_SILENT) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, s.endpoint, multi) == 0);
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct outcome o = {0};
	uint64_t t0 = now_ms();
	CHECK_EQ_INT(cri_call(c, CRI_VERSION, &req.base, 200, record, &o), 0);
	/* A stream on the same connection, cancelled while it waits. */
	struct stream_ctx ctx = {0};
	Runtime__V1__GetEventsRequest ereq = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	uint64_t id;
	CHECK_EQ_INT(cri_stream(c, CRI_GET_CONTAINER_EVENTS, &ereq.base, 0, on_stream_event,
	                        on_stream_done, &ctx, &id),
	             0);
	CHECK_EQ_INT(o.calls, 0); /* never from inside the call */
	CHECK(drive(multi, c, &o.calls, 1, 5000));
	uint64_t took = now_ms() - t0;
	CHECK_EQ_INT(o.status, CRI_GRPC_DEADLINE_EXCEEDED);
	CHECK_EQ_INT(o.cls, CRI_CLASS_TRANSIENT);
	CHECK_EQ_INT(o.curl_code, CURLE_OPERATION_TIMEDOUT);
	CHECKF(took >= 190 && took < 2000, "took %" PRIu64 " ms", took);
	CHECK_EQ_INT(cri_client_calls_in_flight(c), 1);
	CHECK_EQ_INT(cri_cancel(c, id), 0);
	CHECK_EQ_INT(cri_client_calls_in_flight(c), 0);
	int none = 0;
	drive(multi, c, &none, 1, 100);
	CHECK_EQ_INT(ctx.done.calls, 0);
	CHECK_EQ_INT(ctx.ev.n, 0);
	cri_client_free(c);
	curl_multi_cleanup(multi);
	h2_server_stop(&s);
}

TEST(a_closed_connection_is_reopened_by_the_next_call)
{
	struct h2_server s = {0};
	REQUIRE(h2_server_start(&s, SC_ONE_PER_CONN) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, s.endpoint, multi) == 0);
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	for (int i = 0; i < 4; i++) {
		struct cri_reply r;
		CHECK_EQ_INT(cri_call_sync(c, CRI_VERSION, &req.base, 2000, &r), 0);
		CHECKF(r.grpc_status == CRI_GRPC_OK, "call %d: %s: %s", i,
		       cri_grpc_status_name(r.grpc_status), r.message);
		CHECKF(r.connects == 1, "call %d opened %ld connections", i, r.connects);
		if (r.response != NULL)
			CHECK_EQ_STR(((Runtime__V1__VersionResponse *)r.response)->runtime_name,
			             "fake");
		cri_reply_clear(&r);
		/* The server says GOAWAY 100 ms after its answer and closes; nothing drives
		 * curl meanwhile, so the next call finds a connection that died. */
		usleep(200 * 1000);
	}
	cri_client_free(c);
	curl_multi_cleanup(multi);
	h2_server_stop(&s);
}

/*
 * libcurl 7.88 drops the trailers of a stream when the connection's GOAWAY arrives
 * in the same read (a server stopping gracefully), so the call ends with its answer
 * but without grpc-status. It must then count as transient, not as a verdict.
 */
TEST(goaway_behind_the_trailers_is_ok_or_transient)
{
	struct h2_server s = {0};
	REQUIRE(h2_server_start(&s, SC_GOAWAY_RACE) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, s.endpoint, multi) == 0);
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	for (int i = 0; i < 3; i++) {
		struct cri_reply r;
		CHECK_EQ_INT(cri_call_sync(c, CRI_VERSION, &req.base, 2000, &r), 0);
		CHECKF(r.error_class == CRI_CLASS_OK || r.error_class == CRI_CLASS_TRANSIENT,
		       "call %d: %s: %s", i, cri_grpc_status_name(r.grpc_status), r.message);
		if (i == 0)
			printf("# cri GOAWAY right behind the trailers: %s \"%s\"\n",
			       cri_grpc_status_name(r.grpc_status), r.message);
		cri_reply_clear(&r);
	}
	cri_client_free(c);
	curl_multi_cleanup(multi);
	h2_server_stop(&s);
}

TEST(missing_socket_is_a_transient_connection_error)
{
	char ep[300];
	snprintf(ep, sizeof(ep), "unix://%s/no-such.sock", test_tmpdir());
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, ep, multi) == 0);
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct cri_reply r;
	CHECK_EQ_INT(cri_call_sync(c, CRI_VERSION, &req.base, 2000, &r), 0);
	CHECK_EQ_INT(r.grpc_status, CRI_GRPC_UNAVAILABLE);
	CHECK_EQ_INT(r.error_class, CRI_CLASS_TRANSIENT);
	CHECK_EQ_INT(r.curl_code, CURLE_COULDNT_CONNECT);
	CHECK(strncmp(r.message, "transport: ", 11) == 0);
	cri_reply_clear(&r);
	cri_client_free(c);
	curl_multi_cleanup(multi);
}

struct tally {
	int done;
	int unavailable;
};

static void count_done(void *arg, const struct cri_result *r)
{
	struct tally *t = arg;
	t->done++;
	t->unavailable += r->grpc_status == CRI_GRPC_UNAVAILABLE;
}

TEST(calls_in_flight_are_bounded)
{
	char ep[300];
	snprintf(ep, sizeof(ep), "unix://%s/no-such.sock", test_tmpdir());
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, ep, multi) == 0);
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct tally t = {0};
	for (int i = 0; i < CRI_CALLS_MAX; i++)
		REQUIRE(cri_call(c, CRI_VERSION, &req.base, 5000, count_done, &t) == 0);
	CHECK_EQ_INT(cri_client_calls_in_flight(c), CRI_CALLS_MAX);
	CHECK_EQ_INT(cri_call(c, CRI_VERSION, &req.base, 5000, count_done, &t), CRI_ELIMIT);
	CHECK(drive(multi, c, &t.done, CRI_CALLS_MAX, 20000));
	CHECK_EQ_INT(t.done, CRI_CALLS_MAX); /* each callback once; the refused call none */
	CHECK_EQ_INT(t.unavailable, CRI_CALLS_MAX);
	CHECK_EQ_INT(cri_client_calls_in_flight(c), 0);
	CHECK_EQ_INT(cri_call(c, CRI_VERSION, &req.base, 5000, count_done, &t), 0);
	CHECK(drive(multi, c, &t.done, CRI_CALLS_MAX + 1, 5000));
	cri_client_free(c);
	curl_multi_cleanup(multi);
}

/* ==== (c) the client against a real containerd ===================================== */

/* The runtime (runtime_env.h) with a client that answers Version; sandboxes labelled
 * as this suite's, from a run that died, removed; the images noted. */
static void rt_setup(void)
{
	if (!rt_connect(true))
		return;
	rt_remove_sandboxes_labelled(TEST_LABEL_KEY, TEST_LABEL_VALUE, "cri");
	rt_note_images();
}

static bool runtime_up(void)
{
	return rt_up(rt_setup);
}

/* A synchronous call on the runtime's client, timed. */
static void call(enum cri_method m, const void *req, uint64_t timeout_ms, struct cri_reply *r)
{
	cri_call_sync(rt.client, m, req, timeout_ms, r);
	printf("# cri %-18s %8.2f ms  %s\n", cri_method_name(m), (double)r->elapsed_us / 1000.0,
	       cri_grpc_status_name(r->grpc_status));
}

#define CALL_OK(m, req, timeout_ms, r)                                                             \
	do {                                                                                       \
		call(m, req, timeout_ms, r);                                                       \
		CHECKF((r)->grpc_status == CRI_GRPC_OK, "%s: %s: %s", cri_method_name(m),          \
		       cri_grpc_status_name((r)->grpc_status), (r)->message);                      \
	} while (0)

TEST(runtime_version)
{
	if (!runtime_up())
		return;
	Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
	req.version = "v1";
	struct cri_reply r;
	CALL_OK(CRI_VERSION, &req.base, 5000, &r);
	const Runtime__V1__VersionResponse *v = (const void *)r.response;
	REQUIRE(v != NULL);
	CHECK_EQ_STR(v->runtime_name, "containerd");
	CHECK_EQ_STR(v->runtime_api_version, "v1");
	printf("# cri runtime %s %s, API %s\n", v->runtime_name, v->runtime_version,
	       v->runtime_api_version);
	cri_reply_clear(&r);

	Runtime__V1__StatusRequest sreq = RUNTIME__V1__STATUS_REQUEST__INIT;
	CALL_OK(CRI_STATUS, &sreq.base, 5000, &r);
	const Runtime__V1__StatusResponse *st = (const void *)r.response;
	bool runtime_ready = false;
	for (size_t i = 0; st != NULL && st->status != NULL && i < st->status->n_conditions; i++)
		if (strcmp(st->status->conditions[i]->type, "RuntimeReady") == 0)
			runtime_ready = st->status->conditions[i]->status;
	CHECK(runtime_ready);
	cri_reply_clear(&r);
}

TEST(runtime_image_pull_status_list)
{
	if (!runtime_up())
		return;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	spec.image = rt.busybox;
	Runtime__V1__PullImageRequest pull = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	pull.image = &spec;
	struct cri_reply r;
	CALL_OK(CRI_PULL_IMAGE, &pull.base, 120000, &r);
	const Runtime__V1__PullImageResponse *pr = (const void *)r.response;
	REQUIRE(pr != NULL);
	char ref[200];
	snprintf(ref, sizeof(ref), "%s", pr->image_ref);
	CHECK(strncmp(ref, "sha256:", 7) == 0);
	cri_reply_clear(&r);

	Runtime__V1__ImageStatusRequest sreq = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	sreq.image = &spec;
	CALL_OK(CRI_IMAGE_STATUS, &sreq.base, 5000, &r);
	const Runtime__V1__ImageStatusResponse *sr = (const void *)r.response;
	REQUIRE(sr != NULL);
	REQUIRE(sr->image != NULL);
	CHECK_EQ_STR(sr->image->id, ref);
	bool tagged = false;
	for (size_t i = 0; i < sr->image->n_repo_tags; i++)
		tagged |= strcmp(sr->image->repo_tags[i], rt.busybox) == 0;
	CHECK(tagged);
	CHECK(sr->image->size > 0);
	cri_reply_clear(&r);

	/* An image that is not there is an answer without an image, not an error. */
	Runtime__V1__ImageSpec none = RUNTIME__V1__IMAGE_SPEC__INIT;
	none.image = "127.0.0.1:5000/ledgerlet-no-such-image:0";
	sreq.image = &none;
	CALL_OK(CRI_IMAGE_STATUS, &sreq.base, 5000, &r);
	CHECK(r.response != NULL &&
	      ((Runtime__V1__ImageStatusResponse *)r.response)->image == NULL);
	cri_reply_clear(&r);

	Runtime__V1__ListImagesRequest lreq = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	CALL_OK(CRI_LIST_IMAGES, &lreq.base, 5000, &r);
	const Runtime__V1__ListImagesResponse *lr = (const void *)r.response;
	bool listed = false;
	for (size_t i = 0; lr != NULL && i < lr->n_images; i++)
		listed |= strcmp(lr->images[i]->id, ref) == 0;
	CHECK(listed);
	cri_reply_clear(&r);
}

/* A host-network pod of this suite, its config in one place for Run and Create. */
struct pod {
	char uid[80];
	char log_dir[400];
	Runtime__V1__PodSandboxMetadata md;
	Runtime__V1__PodSandboxConfig__LabelsEntry label;
	Runtime__V1__PodSandboxConfig__LabelsEntry *labels[1];
	Runtime__V1__NamespaceOption ns;
	Runtime__V1__LinuxSandboxSecurityContext sc;
	Runtime__V1__LinuxPodSandboxConfig linux;
	Runtime__V1__PodSandboxConfig config;
};

static void pod_init(struct pod *p)
{
	snprintf(p->uid, sizeof(p->uid), "cri-test-%d-%" PRIu64, (int)getpid(), now_ms());
	snprintf(p->log_dir, sizeof(p->log_dir), "%s/pod-logs", test_tmpdir());
	mkdir(p->log_dir, 0755);
	p->md = (Runtime__V1__PodSandboxMetadata)RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	p->md.name = "cri-test";
	p->md.uid = p->uid;
	p->md.namespace_ = "ledgerlet-test";
	p->label = (Runtime__V1__PodSandboxConfig__LabelsEntry)
	        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
	p->label.key = TEST_LABEL_KEY;
	p->label.value = TEST_LABEL_VALUE;
	p->labels[0] = &p->label;
	p->ns = (Runtime__V1__NamespaceOption)RUNTIME__V1__NAMESPACE_OPTION__INIT;
	p->ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	p->sc = (Runtime__V1__LinuxSandboxSecurityContext)
	        RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	p->sc.namespace_options = &p->ns;
	p->linux = (Runtime__V1__LinuxPodSandboxConfig)RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	p->linux.security_context = &p->sc;
	p->config = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	p->config.metadata = &p->md;
	/* No hostname: a host-network sandbox may not set one (runc refuses). */
	p->config.log_directory = p->log_dir;
	p->config.n_labels = 1;
	p->config.labels = p->labels;
	p->config.linux = &p->linux;
}

static int sandbox_state(const char *id, struct cri_reply *r)
{
	Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	req.pod_sandbox_id = (char *)id;
	CALL_OK(CRI_POD_SANDBOX_STATUS, &req.base, 5000, r);
	const Runtime__V1__PodSandboxStatusResponse *s = (const void *)r->response;
	return s != NULL && s->status != NULL ? (int)s->status->state : -1;
}

static int container_state(const char *id, struct cri_reply *r)
{
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	req.container_id = (char *)id;
	call(CRI_CONTAINER_STATUS, &req.base, 5000, r);
	const Runtime__V1__ContainerStatusResponse *s = (const void *)r->response;
	return s != NULL && s->status != NULL ? (int)s->status->state : -1;
}

static size_t count_our_sandboxes(const char *want_id, bool *found)
{
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry sel =
	        RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	sel.key = TEST_LABEL_KEY;
	sel.value = TEST_LABEL_VALUE;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry *sels[] = {&sel};
	Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	filter.n_label_selector = 1;
	filter.label_selector = sels;
	Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	req.filter = &filter;
	struct cri_reply r;
	CALL_OK(CRI_LIST_POD_SANDBOX, &req.base, 5000, &r);
	const Runtime__V1__ListPodSandboxResponse *l = (const void *)r.response;
	size_t n = l != NULL ? l->n_items : 0;
	*found = false;
	for (size_t i = 0; i < n; i++)
		*found |= strcmp(l->items[i]->id, want_id) == 0;
	cri_reply_clear(&r);
	return n;
}

TEST(runtime_pod_lifecycle)
{
	if (!runtime_up())
		return;
	struct cri_reply r;

	/* Container events, streamed while the rest runs (containerd 1.6 has none). */
	struct stream_ctx events = {0};
	Runtime__V1__GetEventsRequest ereq = RUNTIME__V1__GET_EVENTS_REQUEST__INIT;
	uint64_t events_id = 0;
	CHECK_EQ_INT(cri_stream(rt.client, CRI_GET_CONTAINER_EVENTS, &ereq.base, 0, on_stream_event,
	                        on_stream_done, &events, &events_id),
	             0);

	struct pod pod;
	pod_init(&pod);
	Runtime__V1__RunPodSandboxRequest run = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	run.config = &pod.config;
	CALL_OK(CRI_RUN_POD_SANDBOX, &run.base, 60000, &r);
	REQUIRE(r.response != NULL);
	char sandbox[100];
	snprintf(sandbox, sizeof(sandbox), "%s",
	         ((Runtime__V1__RunPodSandboxResponse *)r.response)->pod_sandbox_id);
	cri_reply_clear(&r);
	CHECK_EQ_INT(sandbox_state(sandbox, &r), RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY);
	cri_reply_clear(&r);

	/* The container: /bin/sleep 3600, labelled like its pod. */
	Runtime__V1__ContainerMetadata cmd = RUNTIME__V1__CONTAINER_METADATA__INIT;
	cmd.name = "sleeper";
	Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
	image.image = rt.busybox;
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
	cc.log_path = "sleeper/0.log";
	cc.linux = &clinux;
	char sub[500];
	snprintf(sub, sizeof(sub), "%s/sleeper", pod.log_dir);
	mkdir(sub, 0755);
	Runtime__V1__CreateContainerRequest create = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	create.pod_sandbox_id = sandbox;
	create.config = &cc;
	create.sandbox_config = &pod.config;
	CALL_OK(CRI_CREATE_CONTAINER, &create.base, 60000, &r);
	char container[100] = "";
	if (r.response != NULL)
		snprintf(container, sizeof(container), "%s",
		         ((Runtime__V1__CreateContainerResponse *)r.response)->container_id);
	cri_reply_clear(&r);
	if (container[0] != '\0') {
		Runtime__V1__StartContainerRequest start =
		        RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
		start.container_id = container;
		CALL_OK(CRI_START_CONTAINER, &start.base, 60000, &r);
		cri_reply_clear(&r);
		CHECK_EQ_INT(container_state(container, &r),
		             RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
		cri_reply_clear(&r);

		/* Both lists, by our label. */
		bool found = false;
		CHECK_EQ_INT(count_our_sandboxes(sandbox, &found), 1);
		CHECK(found);
		Runtime__V1__ContainerFilter__LabelSelectorEntry csel =
		        RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
		csel.key = TEST_LABEL_KEY;
		csel.value = TEST_LABEL_VALUE;
		Runtime__V1__ContainerFilter__LabelSelectorEntry *csels[] = {&csel};
		Runtime__V1__ContainerFilter cfilter = RUNTIME__V1__CONTAINER_FILTER__INIT;
		cfilter.n_label_selector = 1;
		cfilter.label_selector = csels;
		Runtime__V1__ListContainersRequest lc = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
		lc.filter = &cfilter;
		CALL_OK(CRI_LIST_CONTAINERS, &lc.base, 5000, &r);
		const Runtime__V1__ListContainersResponse *cl = (const void *)r.response;
		REQUIRE(cl != NULL);
		CHECK_EQ_INT(cl->n_containers, 1);
		if (cl->n_containers == 1) {
			CHECK_EQ_STR(cl->containers[0]->id, container);
			CHECK_EQ_STR(cl->containers[0]->pod_sandbox_id, sandbox);
			CHECK_EQ_INT(cl->containers[0]->state,
			             RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
		}
		cri_reply_clear(&r);

		/* ExecSync. */
		char *echo[] = {"/bin/echo", "hi"};
		Runtime__V1__ExecSyncRequest ex = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
		ex.container_id = container;
		ex.n_cmd = 2;
		ex.cmd = echo;
		ex.timeout = 10;
		CALL_OK(CRI_EXEC_SYNC, &ex.base, 15000, &r);
		const Runtime__V1__ExecSyncResponse *er = (const void *)r.response;
		REQUIRE(er != NULL);
		CHECK_EQ_INT(er->exit_code, 0);
		CHECK_EQ_INT(er->stdout.len, 3);
		CHECK(er->stdout.len == 3 && memcmp(er->stdout.data, "hi\n", 3) == 0);
		cri_reply_clear(&r);

		/* Stop with a 1 s grace (sleep as PID 1 ignores SIGTERM: killed at 1 s). */
		Runtime__V1__StopContainerRequest stop = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
		stop.container_id = container;
		stop.timeout = 1;
		CALL_OK(CRI_STOP_CONTAINER, &stop.base, 30000, &r);
		cri_reply_clear(&r);
		CHECK_EQ_INT(container_state(container, &r),
		             RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
		const Runtime__V1__ContainerStatusResponse *cs = (const void *)r.response;
		if (cs != NULL && cs->status != NULL)
			printf("# cri stopped container: exit %d, reason %s\n",
			       cs->status->exit_code, cs->status->reason);
		cri_reply_clear(&r);

		Runtime__V1__RemoveContainerRequest rmc =
		        RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
		rmc.container_id = container;
		CALL_OK(CRI_REMOVE_CONTAINER, &rmc.base, 30000, &r);
		cri_reply_clear(&r);
		container_state(container, &r);
		CHECK_EQ_INT(r.grpc_status, CRI_GRPC_NOT_FOUND);
		cri_reply_clear(&r);
	}

	Runtime__V1__StopPodSandboxRequest stops = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
	stops.pod_sandbox_id = sandbox;
	CALL_OK(CRI_STOP_POD_SANDBOX, &stops.base, 30000, &r);
	cri_reply_clear(&r);
	CHECK_EQ_INT(sandbox_state(sandbox, &r), RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY);
	cri_reply_clear(&r);
	Runtime__V1__RemovePodSandboxRequest rms = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
	rms.pod_sandbox_id = sandbox;
	CALL_OK(CRI_REMOVE_POD_SANDBOX, &rms.base, 30000, &r);
	cri_reply_clear(&r);
	bool found = true;
	CHECK_EQ_INT(count_our_sandboxes(sandbox, &found), 0);
	CHECK(!found);

	/* The event stream: the runtime's events for our container, or UNIMPLEMENTED. */
	int none = 0;
	drive(rt.multi, rt.client, &none, 1, 200);
	if (events.done.calls == 1) {
		CHECKF(events.done.status == CRI_GRPC_UNIMPLEMENTED, "events ended with %s: %s",
		       cri_grpc_status_name(events.done.status), events.done.message);
		CHECK_EQ_INT(events.done.cls, CRI_CLASS_PERMANENT);
		CHECK_EQ_INT(events.ev.n, 0);
		printf("# cri GetContainerEvents: %s (%s)\n",
		       cri_grpc_status_name(events.done.status), events.done.message);
	} else {
		bool created = false;
		for (int i = 0; i < events.ev.n && i < 8; i++)
			created |= strcmp(events.ev.ids[i], container) == 0;
		CHECK(created);
		printf("# cri GetContainerEvents: %d events while the pod lived\n", events.ev.n);
		CHECK_EQ_INT(cri_cancel(rt.client, events_id), 0);
	}
}

TEST(runtime_sixteen_calls_share_one_connection)
{
	if (!runtime_up())
		return;
	/* A fresh multi handle and client: no connection yet. */
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, rt.endpoint, multi) == 0);
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	spec.image = rt.busybox;
	Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
	req.image = &spec;
	struct outcome o[16];
	memset(o, 0, sizeof(o));
	uint64_t t0 = now_ms();
	for (int i = 0; i < 16; i++)
		REQUIRE(cri_call(c, CRI_IMAGE_STATUS, &req.base, 10000, record, &o[i]) == 0);
	CHECK_EQ_INT(cri_client_calls_in_flight(c), 16);
	int done = 0;
	uint64_t end = now_ms() + 15000;
	while (done < 16 && now_ms() < end) {
		int running;
		curl_multi_perform(multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(multi, &left)) != NULL)
			cri_client_on_done(c, m);
		done = 0;
		for (int i = 0; i < 16; i++)
			done += o[i].calls;
		if (done < 16)
			curl_multi_poll(multi, NULL, 0, 50, NULL);
	}
	uint64_t took = now_ms() - t0;
	CHECK_EQ_INT(done, 16);
	long connects = 0;
	int ok = 0;
	for (int i = 0; i < 16; i++) {
		connects += o[i].connects;
		ok += o[i].status == CRI_GRPC_OK;
	}
	CHECK_EQ_INT(ok, 16);
	CHECK_EQ_INT(connects, 1);
	printf("# cri 16 ImageStatus in flight at once: %" PRIu64 " ms, %ld connection(s)\n", took,
	       connects);
	/* And the connection stays for the next call. */
	Runtime__V1__VersionRequest vreq = RUNTIME__V1__VERSION_REQUEST__INIT;
	struct cri_reply r;
	cri_call_sync(c, CRI_VERSION, &vreq.base, 5000, &r);
	CHECK_EQ_INT(r.grpc_status, CRI_GRPC_OK);
	CHECK_EQ_INT(r.connects, 0);
	cri_reply_clear(&r);
	cri_client_free(c);
	curl_multi_cleanup(multi);
}

static void glue_done(void *arg, CURLMsg *msg)
{
	cri_client_on_done(arg, msg);
}

/*
 * The daemon's way: the reactor and the multi_socket glue. Bursts of concurrent
 * calls with answers of several sizes on one HTTP/2 connection; every call must get
 * its grpc-status, none may hang. With curl's default 16 KiB receive buffer and a
 * runtime whose lists answer more than that (the shared runtime with pods on it),
 * libcurl 7.88 dropped the trailers of most calls and stalled some (see
 * RECV_BUFFER_BYTES in cri.c); multi_perform fared no better.
 */
TEST(runtime_bursts_through_the_reactor_glue_lose_nothing)
{
	if (!runtime_up())
		return;
	struct io_reactor *r = NULL;
	REQUIRE(io_reactor_new(&r, 256) == 0);
	CURLM *multi = curl_multi_init();
	struct cri_client *c = NULL;
	REQUIRE(cri_client_new(&c, rt.endpoint, multi) == 0);
	struct io_curl *g = NULL;
	REQUIRE(io_curl_attach(r, multi, glue_done, c, &g) == 0);
	enum { BURSTS = 8, PER = 60 };
	static struct outcome o[BURSTS * PER];
	memset(o, 0, sizeof(o));
	Runtime__V1__VersionRequest vreq = RUNTIME__V1__VERSION_REQUEST__INIT;
	Runtime__V1__ListContainersRequest lc = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	Runtime__V1__ListPodSandboxRequest lp = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__ListImagesRequest li = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
	int bad = 0, done = 0;
	for (int b = 0; b < BURSTS; b++) {
		for (int i = 0; i < PER; i++) {
			struct outcome *x = &o[b * PER + i];
			int rc;
			switch (i % 4) {
			case 0: rc = cri_call(c, CRI_VERSION, &vreq.base, 10000, record, x); break;
			case 1: rc = cri_call(c, CRI_LIST_CONTAINERS, &lc.base, 10000, record, x); break;
			case 2: rc = cri_call(c, CRI_LIST_POD_SANDBOX, &lp.base, 10000, record, x); break;
			default: rc = cri_call(c, CRI_LIST_IMAGES, &li.base, 10000, record, x); break;
			}
			REQUIRE(rc == 0);
		}
		uint64_t end = now_ms() + 15000;
		int want = (b + 1) * PER;
		for (;;) {
			done = 0;
			for (int i = 0; i < want; i++)
				done += o[i].calls;
			if (done >= want || now_ms() > end)
				break;
			io_reactor_run_once(r, 100);
		}
		for (int i = b * PER; i < want; i++) {
			if (o[i].calls == 1 && o[i].status == CRI_GRPC_OK)
				continue;
			bad++;
			printf("# burst %d call %d: calls %d %s: %s\n", b, i, o[i].calls,
			       cri_grpc_status_name(o[i].status), o[i].message);
		}
		if (done < want)
			break;
	}
	size_t biggest = 0;
	for (int i = 0; i < BURSTS * PER; i++)
		biggest = o[i].bytes > biggest ? o[i].bytes : biggest;
	printf("# cri %d calls in %d bursts through the glue: %d done, %d bad, biggest answer "
	       "%zu bytes\n",
	       BURSTS * PER, BURSTS, done, bad, biggest);
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(done, BURSTS * PER);
	io_curl_detach(g);
	cri_client_free(c);
	curl_multi_cleanup(multi);
	io_reactor_free(r);
}

TEST(runtime_deadline_is_transient_and_spares_the_connection)
{
	if (!runtime_up())
		return;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	spec.image = rt.busybox;
	Runtime__V1__PullImageRequest pull = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	pull.image = &spec;
	struct cri_reply r;
	/* PullImage asks the registry, so it cannot answer within 1 ms. */
	call(CRI_PULL_IMAGE, &pull.base, 1, &r);
	CHECKF(r.grpc_status == CRI_GRPC_DEADLINE_EXCEEDED, "%s: %s",
	       cri_grpc_status_name(r.grpc_status), r.message);
	CHECK_EQ_INT(r.error_class, CRI_CLASS_TRANSIENT);
	printf("# cri 1 ms deadline: %s, curl %d, \"%s\"\n", cri_grpc_status_name(r.grpc_status),
	       (int)r.curl_code, r.message);
	cri_reply_clear(&r);
	Runtime__V1__VersionRequest vreq = RUNTIME__V1__VERSION_REQUEST__INIT;
	CALL_OK(CRI_VERSION, &vreq.base, 5000, &r);
	CHECK_EQ_INT(r.connects, 0);
	cri_reply_clear(&r);
}

TEST(runtime_not_found_is_classed_not_found)
{
	if (!runtime_up())
		return;
	struct cri_reply r;
	Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	req.container_id = "0000000000ledgerletbogus";
	call(CRI_CONTAINER_STATUS, &req.base, 5000, &r);
	CHECK_EQ_INT(r.grpc_status, CRI_GRPC_NOT_FOUND);
	CHECK_EQ_INT(r.error_class, CRI_CLASS_NOT_FOUND);
	CHECK(r.message[0] != '\0');
	printf("# cri ContainerStatus of a bogus id: \"%s\"\n", r.message);
	cri_reply_clear(&r);
	Runtime__V1__PodSandboxStatusRequest sreq = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	sreq.pod_sandbox_id = "0000000000ledgerletbogus";
	call(CRI_POD_SANDBOX_STATUS, &sreq.base, 5000, &r);
	CHECK_EQ_INT(r.error_class, CRI_CLASS_NOT_FOUND);
	cri_reply_clear(&r);
}

/* Last: images this suite pulled are removed; the client goes. */
TEST(runtime_cleanup)
{
	if (!runtime_up())
		return;
	const char *images[2] = {rt.busybox_was_present ? NULL : rt.busybox,
	                         rt.pause_was_present ? NULL : rt.pause};
	for (int i = 0; i < 2; i++) {
		if (images[i] == NULL)
			continue;
		Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
		spec.image = (char *)images[i];
		Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
		req.image = &spec;
		struct cri_reply r;
		CALL_OK(CRI_REMOVE_IMAGE, &req.base, 30000, &r);
		cri_reply_clear(&r);
		CHECK(!rt_image_present(images[i]));
	}
	bool found;
	CHECK_EQ_INT(count_our_sandboxes("", &found), 0);
	rt_close();
}

TEST_MAIN(SUITE, T(wire_frames_split_at_every_byte), T(wire_frames_in_random_pieces),
          T(wire_trailers_give_status_and_decoded_message),
          T(wire_header_names_in_any_case_and_blanks_around_values),
          T(wire_percent_decoding_keeps_malformed_escapes), T(wire_trailers_only_response),
          T(wire_http_errors_without_grpc_status_map_as_grpc_does), T(wire_missing_grpc_status),
          T(wire_ok_status_after_a_partial_message_is_internal),
          T(wire_refuses_oversized_and_compressed_messages),
          T(wire_a_refused_message_ends_the_body), T(wire_transport_failures_are_transient),
          T(error_classes_follow_the_grpc_status), T(methods_match_the_schema), T(endpoint_forms),
          T(stream_delivers_each_message_as_it_arrives), T(stream_reader_can_stop_it),
          T(trailers_only_status_and_message_through_curl),
          T(unary_answer_with_two_messages_is_internal),
          T(connection_closed_mid_answer_is_transient),
          T(deadline_passes_as_deadline_exceeded_and_cancel_is_silent),
          T(a_closed_connection_is_reopened_by_the_next_call),
          T(goaway_behind_the_trailers_is_ok_or_transient),
          T(missing_socket_is_a_transient_connection_error), T(calls_in_flight_are_bounded),
          T(runtime_version), T(runtime_image_pull_status_list), T(runtime_pod_lifecycle),
          T(runtime_sixteen_calls_share_one_connection),
          T(runtime_bursts_through_the_reactor_glue_lose_nothing),
          T(runtime_deadline_is_transient_and_spares_the_connection),
          T(runtime_not_found_is_classed_not_found), T(runtime_cleanup))
