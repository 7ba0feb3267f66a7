/*
 * effects/cri.c — the CRI client (see cri.h): gRPC over HTTP/2 over a unix socket,
 * carried by libcurl's multi interface.
 *
 * A call owns one easy handle, its encoded request and a response decoder (struct
 * cri_wire). curl hands the decoder header lines (the status line, headers and the
 * trailers that carry grpc-status) and body bytes in pieces of any size; the decoder
 * reassembles the length-prefixed messages and unpacks each with protobuf-c as soon
 * as it is whole. When the transfer ends, the caller's loop gives it back through
 * cri_client_on_done, which settles one gRPC status from what arrived and runs the
 * callback.
 *
 * Calls live in a fixed table of CRI_CALLS_MAX slots; an easy handle's CURLOPT_PRIVATE
 * points at its slot, so a finished transfer is known to be ours by an address
 * comparison, without reading memory that another owner of the multi handle set.
 *
 * One connection, and libcurl 7.88's prior-knowledge bug. A transfer that asks for
 * HTTP/2 with prior knowledge and is handed an existing HTTP/2 connection switches
 * that connection to HTTP/2 a second time, which breaks it and every stream on it
 * ("Error in the HTTP2 framing layer"; curl/curl#10634, fixed in 8.0.0; Debian 12
 * ships 7.88.1). A transfer that asks for plain HTTP/2 reuses an HTTP/2 connection
 * correctly, but opens a new one as HTTP/1.1 with an h2c Upgrade, which a gRPC
 * server drops. So each call is routed (route()):
 *   - when the client knows of no connection, the call is the opener: prior
 *     knowledge on a fresh connection (CURLOPT_FRESH_CONNECT, never a reused one);
 *   - otherwise plain HTTP/2 with CURLOPT_PIPEWAIT, which multiplexes on the open
 *     connection or waits for the opener's; its CURLOPT_OPENSOCKETFUNCTION refuses
 *     to open a socket, so it can never start an HTTP/1.1 connection. A refused
 *     call (the connection died, or curl dropped it when idle) is routed again,
 *     at most CONNECT_ATTEMPTS_MAX times, and becomes the next opener.
 * Every call of a client thus shares one connection, the bug never triggers, and on
 * a fixed libcurl the same routing is merely careful.
 */
#include "effects/cri.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

/* A call id is (generation << 8) | slot. */
_Static_assert(CRI_CALLS_MAX <= 256, "a call id keeps the slot in 8 bits");
#define SLOT_BITS            8
/* cri_call_sync gives up this long after the call's own deadline (curl enforces
 * the deadline; this only bounds the loop should it ever fail to). */
#define SYNC_GUARD_MS        5000
#define USER_AGENT           "grpc-c-ledgerlet/1"
/* Routings of one call when its connection is refused (see route()). */
#define CONNECT_ATTEMPTS_MAX 3
/*
 * Each transfer's receive buffer (CURLOPT_BUFFERSIZE; curl's default is 16 KiB).
 * libcurl 7.88's HTTP/2 code copies a stream's DATA into that stream's buffer; once
 * a stream has more unread DATA than its buffer holds, it pauses nghttp2 for the
 * whole connection (pause_stream_id) until that stream's transfer runs again. While
 * the connection is so paused, any other stream that has already closed is ended
 * by cf_h2_recv's "closed overrides paused" branch with a 0-byte read, without
 * http2_handle_stream_close: the trailers that hold its grpc-status are dropped
 * ("the response ended without grpc-status"), and the paused stream itself can be
 * left unrun with 16384 bytes received until its deadline. Fixed by the HTTP/2
 * rewrite of curl 8.x; Debian 12 ships 7.88.1. A buffer larger than an answer
 * keeps that stream's unread DATA within its buffer, so answers up to this size
 * never pause the connection (a 50-pod node's lists answer ~21 KiB, just over the
 * default; tests/unit/effects/cri_test.c runtime_bursts_* lost 70% of its calls with
 * 16 KiB and none with this). Larger answers can still trigger it. 512 KiB also
 * fixed the bursts but made a_closed_connection_is_reopened_by_the_next_call flaky
 * under ASan (cause not found), so the buffer stays moderate.
 */
#define RECV_BUFFER_BYTES    (64L * 1024)

/* ---- methods ------------------------------------------------------------------- */

struct method_info {
	const char *name;
	const char *path;
	const ProtobufCServiceDescriptor *service;
	const ProtobufCMessageDescriptor *request;
	const ProtobufCMessageDescriptor *response;
	bool streaming;
};

/* One method a line: its name, path, service, request and response types. */
/* clang-format off */
#define MSGS(snake) &runtime__v1__##snake##_request__descriptor, \
		    &runtime__v1__##snake##_response__descriptor
#define RT(Name, snake) {#Name, "/runtime.v1.RuntimeService/" #Name, \
			 &runtime__v1__runtime_service__descriptor, MSGS(snake), false}
#define IMG(Name, snake) {#Name, "/runtime.v1.ImageService/" #Name, \
			  &runtime__v1__image_service__descriptor, MSGS(snake), false}

static const struct method_info methods[CRI_METHOD_COUNT] = {
	[CRI_VERSION]              = RT(Version, version),
	[CRI_STATUS]               = RT(Status, status),
	[CRI_RUN_POD_SANDBOX]      = RT(RunPodSandbox, run_pod_sandbox),
	[CRI_STOP_POD_SANDBOX]     = RT(StopPodSandbox, stop_pod_sandbox),
	[CRI_REMOVE_POD_SANDBOX]   = RT(RemovePodSandbox, remove_pod_sandbox),
	[CRI_POD_SANDBOX_STATUS]   = RT(PodSandboxStatus, pod_sandbox_status),
	[CRI_LIST_POD_SANDBOX]     = RT(ListPodSandbox, list_pod_sandbox),
	[CRI_CREATE_CONTAINER]     = RT(CreateContainer, create_container),
	[CRI_START_CONTAINER]      = RT(StartContainer, start_container),
	[CRI_STOP_CONTAINER]       = RT(StopContainer, stop_container),
	[CRI_REMOVE_CONTAINER]     = RT(RemoveContainer, remove_container),
	[CRI_CONTAINER_STATUS]     = RT(ContainerStatus, container_status),
	[CRI_LIST_CONTAINERS]      = RT(ListContainers, list_containers),
	[CRI_EXEC_SYNC]            = RT(ExecSync, exec_sync),
	/* The one stream; its messages are not named after it. */
	[CRI_GET_CONTAINER_EVENTS] = {"GetContainerEvents",
				      "/runtime.v1.RuntimeService/GetContainerEvents",
				      &runtime__v1__runtime_service__descriptor,
				      &runtime__v1__get_events_request__descriptor,
				      &runtime__v1__container_event_response__descriptor, true},
	[CRI_LIST_IMAGES]          = IMG(ListImages, list_images),
	[CRI_IMAGE_STATUS]         = IMG(ImageStatus, image_status),
	[CRI_PULL_IMAGE]           = IMG(PullImage, pull_image),
	[CRI_REMOVE_IMAGE]         = IMG(RemoveImage, remove_image),
};

#undef RT
#undef IMG
#undef MSGS
/* clang-format on */

const char *cri_method_name(enum cri_method m)
{
	assert((unsigned)m < CRI_METHOD_COUNT);
	return methods[m].name;
}

const char *cri_method_path(enum cri_method m)
{
	assert((unsigned)m < CRI_METHOD_COUNT);
	return methods[m].path;
}

const ProtobufCMessageDescriptor *cri_method_request(enum cri_method m)
{
	assert((unsigned)m < CRI_METHOD_COUNT);
	return methods[m].request;
}

const ProtobufCMessageDescriptor *cri_method_response(enum cri_method m)
{
	assert((unsigned)m < CRI_METHOD_COUNT);
	return methods[m].response;
}

bool cri_method_streaming(enum cri_method m)
{
	assert((unsigned)m < CRI_METHOD_COUNT);
	return methods[m].streaming;
}

/* The table must say what schemas/cri.proto says: same rpc, same types, same path. */
static void methods_check(void)
{
	for (unsigned i = 0; i < CRI_METHOD_COUNT; i++) {
		const struct method_info *mi = &methods[i];
		assert(mi->name != NULL);
		const ProtobufCMethodDescriptor *md =
		        protobuf_c_service_descriptor_get_method_by_name(mi->service, mi->name);
		assert(md != NULL);
		assert(md->input == mi->request);
		assert(md->output == mi->response);
		char path[128];
		snprintf(path, sizeof(path), "/%s/%s", mi->service->name, mi->name);
		assert(strcmp(path, mi->path) == 0);
		(void)md;
	}
}

/* ---- statuses and classes -------------------------------------------------------- */

static const char *const status_names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
};

const char *cri_grpc_status_name(int status)
{
	static char other[32]; /* only for numbers outside the list: not reentrant */
	if (status >= 0 && (size_t)status < sizeof(status_names) / sizeof(status_names[0]))
		return status_names[status];
	snprintf(other, sizeof(other), "CODE_%d", status);
	return other;
}

enum cri_error_class cri_error_class_of(int grpc_status)
{
	switch (grpc_status) {
	case CRI_GRPC_OK:
		return CRI_CLASS_OK;
	case CRI_GRPC_NOT_FOUND:
		return CRI_CLASS_NOT_FOUND;
	case CRI_GRPC_UNAVAILABLE:
	case CRI_GRPC_DEADLINE_EXCEEDED:
	case CRI_GRPC_RESOURCE_EXHAUSTED:
	case CRI_GRPC_ABORTED:
	case CRI_GRPC_CANCELLED:
		return CRI_CLASS_TRANSIENT;
	default:
		return CRI_CLASS_PERMANENT;
	}
}

const char *cri_error_class_name(enum cri_error_class cls)
{
	switch (cls) {
	case CRI_CLASS_OK:
		return "ok";
	case CRI_CLASS_TRANSIENT:
		return "transient";
	case CRI_CLASS_PERMANENT:
		return "permanent";
	case CRI_CLASS_NOT_FOUND:
		return "not-found";
	}
	return "?";
}

const char *cri_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case CRI_EENDPOINT:
		return "CRI endpoint is not unix:// and an absolute socket path of at most 107 "
		       "bytes";
	case CRI_ELIMIT:
		return "too many CRI calls in flight";
	case CRI_ECURL:
		return "libcurl refused the transfer";
	case CRI_ETOOBIG:
		return "CRI request larger than the message limit";
	case CRI_ENOCALL:
		return "no CRI call in flight has that id";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "unknown error";
}

int cri_grpc_status_of_curl(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return CRI_GRPC_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return CRI_GRPC_DEADLINE_EXCEEDED;
	/* The socket is missing, refuses, or the connection broke: the runtime is
	 * down or restarting, which is what UNAVAILABLE means to a gRPC client. */
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_AGAIN:
		return CRI_GRPC_UNAVAILABLE;
	case CURLE_OUT_OF_MEMORY:
		return CRI_GRPC_RESOURCE_EXHAUSTED;
	case CURLE_ABORTED_BY_CALLBACK:
		return CRI_GRPC_CANCELLED;
	default:
		/* A setup error of ours or a peer that is not a gRPC server. */
		return CRI_GRPC_INTERNAL;
	}
}

/* grpc/doc/http-grpc-status-mapping.md */
int cri_grpc_status_of_http(int http_status)
{
	switch (http_status) {
	case 400:
		return CRI_GRPC_INTERNAL;
	case 401:
		return CRI_GRPC_UNAUTHENTICATED;
	case 403:
		return CRI_GRPC_PERMISSION_DENIED;
	case 404:
		return CRI_GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return CRI_GRPC_UNAVAILABLE;
	default:
		return CRI_GRPC_UNKNOWN;
	}
}

/* ---- the response decoder ---------------------------------------------------------- */

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

size_t cri_percent_decode(char *out, size_t out_size, const char *in, size_t len)
{
	assert(out != NULL);
	assert(out_size > 0);
	size_t o = 0;
	size_t i = 0;
	while (i < len && o + 1 < out_size) {
		if (in[i] == '%' && i + 2 < len && hex_value(in[i + 1]) >= 0 &&
		    hex_value(in[i + 2]) >= 0) {
			out[o++] = (char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
			i += 3;
			continue;
		}
		out[o++] = in[i++];
	}
	out[o] = '\0';
	assert(o < out_size);
	return o;
}

void cri_wire_init(struct cri_wire *w, size_t bytes_max)
{
	assert(w != NULL);
	memset(w, 0, sizeof(*w));
	w->bytes_max = bytes_max;
	w->grpc_status = -1;
}

void cri_wire_free(struct cri_wire *w)
{
	free(w->frame);
	w->frame = NULL;
	w->frame_cap = 0;
}

static void wire_vset_message(struct cri_wire *w, const char *fmt, va_list ap)
{
	vsnprintf(w->message, sizeof(w->message), fmt, ap);
}

static void wire_set_message(struct cri_wire *w, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void wire_set_message(struct cri_wire *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wire_vset_message(w, fmt, ap);
	va_end(ap);
}

int cri_wire_fail(struct cri_wire *w, int status, const char *fmt, ...)
{
	assert(status != CRI_GRPC_OK);
	if (w->error != 0)
		return w->error;
	w->error = status;
	va_list ap;
	va_start(ap, fmt);
	wire_vset_message(w, fmt, ap);
	va_end(ap);
	return status;
}

/* If line is "name: value" (name in any case), the value without surrounding blanks. */
static bool header_value(const char *line, size_t len, const char *name, const char **value,
                         size_t *value_len)
{
	size_t n = strlen(name);
	if (len < n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	const char *v = line + n + 1;
	const char *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = v;
	*value_len = (size_t)(end - v);
	return true;
}

/* A non-negative decimal of at most 9 digits, else -1. */
static int parse_small_uint(const char *s, size_t len)
{
	if (len == 0 || len > 9)
		return -1;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

void cri_wire_header(struct cri_wire *w, const char *line, size_t len)
{
	assert(w != NULL);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0)
		return;
	const char *v;
	size_t vlen;
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		const char *sp = memchr(line, ' ', len);
		if (sp != NULL) {
			size_t rest = len - (size_t)(sp + 1 - line);
			size_t digits = 0;
			while (digits < rest && digits < 3 && sp[1 + digits] >= '0' &&
			       sp[1 + digits] <= '9')
				digits++;
			w->http_status = parse_small_uint(sp + 1, digits);
		}
		return;
	}
	if (header_value(line, len, "grpc-status", &v, &vlen)) {
		int s = parse_small_uint(v, vlen);
		if (s < 0) {
			w->grpc_status = CRI_GRPC_UNKNOWN;
			wire_set_message(w, "malformed grpc-status \"%.*s\"",
			                 (int)(vlen > 64 ? 64 : vlen), v);
		} else {
			w->grpc_status = s;
		}
		return;
	}
	if (header_value(line, len, "grpc-message", &v, &vlen)) {
		if (w->error == 0)
			cri_percent_decode(w->message, sizeof(w->message), v, vlen);
		return;
	}
	if (header_value(line, len, "content-type", &v, &vlen)) {
		const char *want = "application/grpc";
		size_t n = strlen(want);
		w->grpc_content = vlen >= n && strncasecmp(v, want, n) == 0 &&
		                  (vlen == n || v[n] == '+' || v[n] == ';');
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void frame_reset(struct cri_wire *w)
{
	w->prefix_len = 0;
	w->frame_len = 0;
	w->frame_have = 0;
}

static int frame_deliver(struct cri_wire *w, const uint8_t *data, size_t len,
                         cri_wire_message_cb cb, void *arg)
{
	assert(len == w->frame_len);
	w->messages++;
	frame_reset(w);
	if (cb == NULL)
		return 0;
	int rc = cb(arg, data, len);
	if (rc != 0)
		return cri_wire_fail(w, rc, "message %" PRIu32 " refused", w->messages);
	return 0;
}

/* The 5-byte prefix is whole: check it. */
static int frame_begin(struct cri_wire *w)
{
	uint8_t flags = w->prefix[0];
	if (flags & 1)
		return cri_wire_fail(w, CRI_GRPC_INTERNAL,
		                     "compressed message, but no compression was offered");
	if (flags != 0)
		return cri_wire_fail(w, CRI_GRPC_INTERNAL, "frame flags 0x%02x unknown", flags);
	w->frame_len = be32(w->prefix + 1);
	w->frame_have = 0;
	if (w->frame_len > w->bytes_max)
		return cri_wire_fail(
		        w, CRI_GRPC_RESOURCE_EXHAUSTED,
		        "response message of %zu bytes is larger than the %zu-byte limit",
		        w->frame_len, w->bytes_max);
	return 0;
}

int cri_wire_body(struct cri_wire *w, const uint8_t *data, size_t len, cri_wire_message_cb cb,
                  void *arg)
{
	static const uint8_t empty[1];
	assert(w != NULL);
	assert(data != NULL || len == 0);
	if (w->error != 0)
		return w->error;
	size_t i = 0;
	/* Each turn consumes at least one byte or delivers a message, so the loop ends
	 * after at most len turns plus one per zero-length message (5 bytes each). */
	while (i < len) {
		if (w->prefix_len < sizeof(w->prefix)) {
			size_t take = sizeof(w->prefix) - w->prefix_len;
			if (take > len - i)
				take = len - i;
			memcpy(w->prefix + w->prefix_len, data + i, take);
			w->prefix_len += take;
			i += take;
			if (w->prefix_len < sizeof(w->prefix))
				break;
			int rc = frame_begin(w);
			if (rc != 0)
				return rc;
			if (w->frame_len == 0) {
				rc = frame_deliver(w, empty, 0, cb, arg);
				if (rc != 0)
					return rc;
				continue;
			}
		}
		size_t want = w->frame_len - w->frame_have;
		if (w->frame_have == 0 && len - i >= want) {
			/* The whole payload is in this piece: no copy. */
			int rc = frame_deliver(w, data + i, want, cb, arg);
			i += want;
			if (rc != 0)
				return rc;
			continue;
		}
		if (w->frame_cap < w->frame_len) {
			uint8_t *p = realloc(w->frame, w->frame_len);
			if (p == NULL)
				return cri_wire_fail(w, CRI_GRPC_RESOURCE_EXHAUSTED,
				                     "out of memory for a %zu-byte message",
				                     w->frame_len);
			w->frame = p;
			w->frame_cap = w->frame_len;
		}
		size_t take = want < len - i ? want : len - i;
		memcpy(w->frame + w->frame_have, data + i, take);
		w->frame_have += take;
		i += take;
		if (w->frame_have == w->frame_len) {
			int rc = frame_deliver(w, w->frame, w->frame_len, cb, arg);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

int cri_wire_status(struct cri_wire *w, CURLcode curl_code, const char *curl_detail,
                    const char **message)
{
	assert(w != NULL);
	assert(message != NULL);
	int status;
	if (w->error != 0) {
		status = w->error;
	} else if (w->grpc_status >= 0) {
		status = w->grpc_status;
		bool partial = w->prefix_len != 0;
		if (status == CRI_GRPC_OK && partial)
			status = cri_wire_fail(w, CRI_GRPC_INTERNAL,
			                       "the response ended inside a message");
	} else if (curl_code != CURLE_OK) {
		status = cri_grpc_status_of_curl(curl_code);
		if (status == CRI_GRPC_OK)
			status = CRI_GRPC_INTERNAL;
		wire_set_message(w, "transport: %s",
		                 curl_detail != NULL && curl_detail[0] != '\0'
		                         ? curl_detail
		                         : curl_easy_strerror(curl_code));
	} else if (w->http_status != 200 && w->http_status != 0) {
		status = cri_grpc_status_of_http(w->http_status);
		wire_set_message(w, "HTTP status %d and no grpc-status", w->http_status);
	} else if (w->grpc_content) {
		/* A gRPC answer cut before its status. grpc-go says INTERNAL when a server
		 * ends a stream so, but here it is the connection's doing: libcurl 7.88
		 * drops the trailers that share a read with the GOAWAY of a server shutting
		 * down gracefully. The call's outcome is unknown: look again, later. */
		status = CRI_GRPC_UNAVAILABLE;
		wire_set_message(w, "the response ended without grpc-status");
	} else {
		status = CRI_GRPC_INTERNAL;
		wire_set_message(w, "not a gRPC response (no application/grpc content-type, "
		                    "no grpc-status)");
	}
	*message = w->message;
	return status;
}

/* ---- the client ------------------------------------------------------------------- */

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct call {
	struct cri_client *client;
	CURL *easy;
	struct curl_slist *headers;
	uint8_t *body; /* 5-byte prefix and the packed request */
	struct cri_wire wire;
	enum cri_method method;
	unsigned slot;
	uint64_t id;
	cri_message_cb on_message;
	cri_done_cb on_done;
	void *arg;
	ProtobufCMessage *response; /* a unary call's answer, once decoded */
	struct cri_reply *reply;    /* cri_call_sync: where the outcome goes */
	bool *sync_done;
	uint64_t deadline_ms; /* monotonic; 0: none */
	unsigned attempts;    /* routings so far, 1..CONNECT_ATTEMPTS_MAX */
	bool opener;          /* may open the connection (prior knowledge, fresh) */
	bool socket_refused;  /* the guard refused it a new connection */
	char errbuf[CURL_ERROR_SIZE];
};

struct cri_client {
	CURLM *multi;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t generation;
	unsigned in_flight;
	bool conn_open;      /* a connection is open or being opened by `opener` */
	struct call *opener; /* the call opening the connection, while in flight */
	unsigned free_top;
	unsigned free_slots[CRI_CALLS_MAX];
	struct call *slots[CRI_CALLS_MAX];
};

static int parse_endpoint(const char *endpoint, char *path, size_t path_size)
{
	if (endpoint == NULL)
		return CRI_EENDPOINT;
	const char *p = endpoint;
	if (strncmp(p, "unix://", 7) == 0)
		p += 7;
	if (p[0] != '/')
		return CRI_EENDPOINT;
	size_t n = strlen(p);
	if (n >= path_size)
		return CRI_EENDPOINT;
	memcpy(path, p, n + 1);
	return 0;
}

int cri_client_new(struct cri_client **out, const char *endpoint, CURLM *multi)
{
	assert(out != NULL);
	assert(multi != NULL);
	*out = NULL;
	methods_check();
	struct cri_client *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	int rc = parse_endpoint(endpoint, c->path, sizeof(c->path));
	if (rc != 0) {
		free(c);
		return rc;
	}
	/* One connection for all calls: multiplexing on, and enough streams for every
	 * call we allow in flight (containerd's gRPC server sets no lower limit). */
	if (curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) != CURLM_OK ||
	    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)CRI_CALLS_MAX) !=
	            CURLM_OK) {
		free(c);
		return CRI_ECURL;
	}
	c->multi = multi;
	for (unsigned i = 0; i < CRI_CALLS_MAX; i++)
		c->free_slots[i] = CRI_CALLS_MAX - 1 - i;
	c->free_top = CRI_CALLS_MAX;
	*out = c;
	return 0;
}

const char *cri_client_socket_path(const struct cri_client *c)
{
	return c->path;
}

unsigned cri_client_calls_in_flight(const struct cri_client *c)
{
	return c->in_flight;
}

static void call_free(struct cri_client *c, struct call *k)
{
	assert(c->slots[k->slot] == k);
	assert(c->in_flight > 0);
	if (k->easy != NULL)
		curl_easy_cleanup(k->easy);
	curl_slist_free_all(k->headers);
	free(k->body);
	cri_wire_free(&k->wire);
	if (k->response != NULL)
		protobuf_c_message_free_unpacked(k->response, NULL);
	if (c->opener == k) {
		/* An opener that heard nothing back opened nothing. */
		if (k->wire.http_status == 0)
			c->conn_open = false;
		c->opener = NULL;
	}
	c->slots[k->slot] = NULL;
	c->free_slots[c->free_top++] = k->slot;
	c->in_flight--;
	assert(c->free_top <= CRI_CALLS_MAX);
	free(k);
}

void cri_client_free(struct cri_client *c)
{
	if (c == NULL)
		return;
	for (unsigned i = 0; i < CRI_CALLS_MAX; i++) {
		struct call *k = c->slots[i];
		if (k == NULL)
			continue;
		curl_multi_remove_handle(c->multi, k->easy);
		call_free(c, k);
	}
	assert(c->in_flight == 0);
	free(c);
}

/* The call easy belongs to, or NULL when it is someone else's. */
static struct call *call_of(const struct cri_client *c, CURL *easy)
{
	char *priv = NULL;
	if (easy == NULL || curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK)
		return NULL;
	uintptr_t p = (uintptr_t)priv;
	uintptr_t lo = (uintptr_t)&c->slots[0];
	uintptr_t hi = (uintptr_t)&c->slots[CRI_CALLS_MAX];
	if (p < lo || p >= hi || (p - lo) % sizeof(c->slots[0]) != 0)
		return NULL;
	struct call *k = c->slots[(p - lo) / sizeof(c->slots[0])];
	if (k == NULL || k->easy != easy)
		return NULL;
	return k;
}

bool cri_client_owns(const struct cri_client *c, CURL *easy)
{
	return call_of(c, easy) != NULL;
}

/* The decoder found a whole message: unpack it, keep it (unary) or hand it over. */
static int call_message(void *arg, const uint8_t *data, size_t len)
{
	struct call *k = arg;
	const struct method_info *mi = &methods[k->method];
	if (!mi->streaming && k->response != NULL)
		return cri_wire_fail(&k->wire, CRI_GRPC_INTERNAL,
		                     "%s answered more than one message", mi->name);
	ProtobufCMessage *msg = protobuf_c_message_unpack(mi->response, NULL, len, data);
	if (msg == NULL)
		return cri_wire_fail(&k->wire, CRI_GRPC_INTERNAL,
		                     "%s: a %zu-byte answer does not decode as %s", mi->name, len,
		                     mi->response->name);
	if (!mi->streaming) {
		k->response = msg;
		return 0;
	}
	int stop = k->on_message(k->arg, msg);
	protobuf_c_message_free_unpacked(msg, NULL);
	if (stop != 0)
		return cri_wire_fail(&k->wire, CRI_GRPC_CANCELLED, "stream ended by its reader");
	return 0;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct call *k = arg;
	size_t n = size * nmemb;
	if (cri_wire_body(&k->wire, (const uint8_t *)ptr, n, call_message, k) != 0)
		return n == 0 ? 1 : 0; /* anything but n makes curl end the transfer */
	return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct call *k = arg;
	size_t n = size * nitems;
	cri_wire_header(&k->wire, buf, n);
	return n;
}

/* Only an opener may open a connection (see the file comment). */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct call *k = arg;
	(void)purpose;
	if (!k->opener) {
		k->socket_refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* Chooses how the call gets its connection, and the time left to its deadline. */
static int route(struct cri_client *c, struct call *k)
{
	assert(c->opener != k); /* an opener is never refused a socket */
	k->attempts++;
	k->socket_refused = false;
	k->errbuf[0] = '\0';
	k->opener = !c->conn_open;
	if (k->opener) {
		assert(c->opener == NULL);
		c->conn_open = true;
		c->opener = k;
	}
	CURLcode rc = curl_easy_setopt(k->easy, CURLOPT_HTTP_VERSION,
	                               k->opener ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
	                                         : (long)CURL_HTTP_VERSION_2_0);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(k->easy, CURLOPT_FRESH_CONNECT, k->opener ? 1L : 0L);
	if (rc == CURLE_OK && k->deadline_ms != 0) {
		uint64_t now = monotonic_ms();
		uint64_t left = k->deadline_ms > now ? k->deadline_ms - now : 1;
		rc = curl_easy_setopt(k->easy, CURLOPT_TIMEOUT_MS,
		                      (long)(left > (uint64_t)LONG_MAX ? LONG_MAX : left));
	}
	return rc == CURLE_OK ? 0 : CRI_ECURL;
}

/* grpc-timeout: at most 8 digits and a unit. */
static void format_grpc_timeout(char *out, size_t size, uint64_t timeout_ms)
{
	if (timeout_ms <= 99999999u)
		snprintf(out, size, "grpc-timeout: %" PRIu64 "m", timeout_ms);
	else if (timeout_ms / 1000 <= 99999999u)
		snprintf(out, size, "grpc-timeout: %" PRIu64 "S", timeout_ms / 1000);
	else
		snprintf(out, size, "grpc-timeout: 99999999S");
}

static int easy_setup(struct cri_client *c, struct call *k, uint64_t timeout_ms, size_t body_len)
{
	char url[160];
	snprintf(url, sizeof(url), "http://localhost%s", methods[k->method].path);
	char timeout_header[48];
	format_grpc_timeout(timeout_header, sizeof(timeout_header), timeout_ms);

	const char *lines[] = {
	        "content-type: application/grpc",
	        "te: trailers",
	        "Accept:", /* curl's default "*" "/" "*" means nothing to gRPC */
	        "Expect:",
	        timeout_ms > 0 ? timeout_header : NULL,
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (lines[i] == NULL)
			continue;
		struct curl_slist *h = curl_slist_append(k->headers, lines[i]);
		if (h == NULL)
			return -ENOMEM;
		k->headers = h;
	}
	k->easy = curl_easy_init();
	if (k->easy == NULL)
		return CRI_ECURL;
	CURL *e = k->easy;
	CURLcode rc = CURLE_OK;
	/* Each setopt's result is kept if it is the first failure. */
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		CURLcode r_ = curl_easy_setopt(e, opt, val);                                       \
		if (rc == CURLE_OK)                                                                \
			rc = r_;                                                                   \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_UNIX_SOCKET_PATH, c->path);
	/* Wait for the shared connection rather than open a second one beside it. */
	SET(CURLOPT_PIPEWAIT, 1L);
	SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	SET(CURLOPT_OPENSOCKETDATA, k);
	SET(CURLOPT_NOSIGNAL, 1L);
	if (getenv("LEDGERLET_CRI_DEBUG") != NULL)
		SET(CURLOPT_VERBOSE, 1L);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDS, (const char *)k->body);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	SET(CURLOPT_HTTPHEADER, k->headers);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, k);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, k);
	SET(CURLOPT_ERRORBUFFER, k->errbuf);
	/* Room for a whole answer, so libcurl 7.88 does not pause the connection (see
	 * RECV_BUFFER_BYTES). */
	SET(CURLOPT_BUFFERSIZE, RECV_BUFFER_BYTES);
	SET(CURLOPT_PRIVATE, (void *)&c->slots[k->slot]);
#undef SET
	return rc == CURLE_OK ? 0 : CRI_ECURL;
}

static int call_start(struct cri_client *c, enum cri_method m, const ProtobufCMessage *req,
                      uint64_t timeout_ms, cri_message_cb on_message, cri_done_cb on_done,
                      void *arg, struct call **out)
{
	assert(c != NULL);
	assert((unsigned)m < CRI_METHOD_COUNT);
	assert(req != NULL);
	assert(req->descriptor == methods[m].request);
	assert(methods[m].streaming == (on_message != NULL));
	*out = NULL;
	if (c->free_top == 0)
		return CRI_ELIMIT;
	size_t n = protobuf_c_message_get_packed_size(req);
	if (n > CRI_MESSAGE_BYTES_MAX)
		return CRI_ETOOBIG;
	struct call *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	k->body = malloc(5 + n);
	if (k->body == NULL) {
		free(k);
		return -ENOMEM;
	}
	k->body[0] = 0; /* not compressed */
	k->body[1] = (uint8_t)(n >> 24);
	k->body[2] = (uint8_t)(n >> 16);
	k->body[3] = (uint8_t)(n >> 8);
	k->body[4] = (uint8_t)n;
	size_t packed = protobuf_c_message_pack(req, k->body + 5);
	assert(packed == n);
	assert(be32(k->body + 1) == packed);
	k->client = c;
	k->method = m;
	k->on_message = on_message;
	k->on_done = on_done;
	k->arg = arg;
	cri_wire_init(&k->wire, CRI_MESSAGE_BYTES_MAX);

	k->slot = c->free_slots[--c->free_top];
	assert(c->slots[k->slot] == NULL);
	c->slots[k->slot] = k;
	c->in_flight++;
	c->generation++;
	k->id = c->generation << SLOT_BITS | k->slot;

	k->deadline_ms = timeout_ms > 0 ? monotonic_ms() + timeout_ms : 0;
	int rc = easy_setup(c, k, timeout_ms, 5 + n);
	if (rc == 0)
		rc = route(c, k);
	if (rc == 0 && curl_multi_add_handle(c->multi, k->easy) != CURLM_OK)
		rc = CRI_ECURL;
	if (rc != 0) {
		call_free(c, k);
		return rc;
	}
	*out = k;
	return 0;
}

int cri_call(struct cri_client *c, enum cri_method m, const ProtobufCMessage *req,
             uint64_t timeout_ms, cri_done_cb on_done, void *arg)
{
	assert(on_done != NULL);
	assert(!cri_method_streaming(m));
	struct call *k;
	return call_start(c, m, req, timeout_ms, NULL, on_done, arg, &k);
}

int cri_stream(struct cri_client *c, enum cri_method m, const ProtobufCMessage *req,
               uint64_t timeout_ms, cri_message_cb on_message, cri_done_cb on_done, void *arg,
               uint64_t *id_out)
{
	assert(on_message != NULL);
	assert(on_done != NULL);
	assert(cri_method_streaming(m));
	struct call *k;
	int rc = call_start(c, m, req, timeout_ms, on_message, on_done, arg, &k);
	if (rc == 0 && id_out != NULL)
		*id_out = k->id;
	return rc;
}

int cri_cancel(struct cri_client *c, uint64_t id)
{
	struct call *k = c->slots[id & ((1u << SLOT_BITS) - 1)];
	if (k == NULL || k->id != id)
		return CRI_ENOCALL;
	curl_multi_remove_handle(c->multi, k->easy);
	call_free(c, k);
	return 0;
}

/* Settles the call's outcome, tells whoever waits for it, frees the call. */
static void call_finish(struct cri_client *c, struct call *k, CURLcode code)
{
	const struct method_info *mi = &methods[k->method];
	struct cri_result res = {.method = k->method, .curl_code = code};
	const char *detail = k->errbuf[0] != '\0' ? k->errbuf : NULL;
	res.grpc_status = cri_wire_status(&k->wire, code, detail, &res.message);
	bool local = k->wire.grpc_status < 0 && k->wire.error == 0; /* no status from the server */
	if (local && res.grpc_status != CRI_GRPC_OK && k->deadline_ms != 0 &&
	    monotonic_ms() >= k->deadline_ms && res.grpc_status != CRI_GRPC_DEADLINE_EXCEEDED) {
		/* The server may give up first (grpc-timeout) and reset the stream before
		 * curl's own timer fires; past the deadline, that is what happened. */
		char was[CRI_STATUS_MESSAGE_MAX / 2];
		snprintf(was, sizeof(was), "%s", res.message); /* it is in k->wire.message */
		res.grpc_status = cri_wire_fail(&k->wire, CRI_GRPC_DEADLINE_EXCEEDED,
		                                "the call's deadline passed (%s)", was);
		res.message = k->wire.message;
	}
	if (res.grpc_status == CRI_GRPC_OK && !mi->streaming && k->response == NULL) {
		res.grpc_status = cri_wire_fail(&k->wire, CRI_GRPC_INTERNAL,
		                                "%s answered OK without a message", mi->name);
		res.message = k->wire.message;
	}
	if (res.grpc_status != CRI_GRPC_OK && k->response != NULL) {
		protobuf_c_message_free_unpacked(k->response, NULL);
		k->response = NULL;
	}
	res.error_class = cri_error_class_of(res.grpc_status);
	res.response = k->response;
	res.messages = k->wire.messages;
	curl_off_t total_us = 0;
	if (curl_easy_getinfo(k->easy, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK &&
	    total_us > 0)
		res.elapsed_us = (uint64_t)total_us;
	curl_easy_getinfo(k->easy, CURLINFO_NUM_CONNECTS, &res.connects);
	assert(res.message != NULL);
	assert((res.response != NULL) == (res.grpc_status == CRI_GRPC_OK && !mi->streaming));

	if (k->reply != NULL) {
		struct cri_reply *r = k->reply;
		r->grpc_status = res.grpc_status;
		r->error_class = res.error_class;
		r->curl_code = res.curl_code;
		snprintf(r->message, sizeof(r->message), "%s", res.message);
		r->response = k->response; /* now the caller's */
		k->response = NULL;
		r->elapsed_us = res.elapsed_us;
		r->connects = res.connects;
		*k->sync_done = true;
	} else {
		k->on_done(k->arg, &res);
	}
	call_free(c, k);
}

void cri_client_on_done(struct cri_client *c, CURLMsg *msg)
{
	assert(c != NULL);
	assert(msg != NULL);
	if (msg->msg != CURLMSG_DONE)
		return;
	struct call *k = call_of(c, msg->easy_handle);
	if (k == NULL)
		return;
	/* msg does not survive curl_multi_remove_handle: read it first. */
	CURLcode code = msg->data.result;
	curl_multi_remove_handle(c->multi, k->easy);
	if (k->socket_refused && k->wire.http_status == 0 && k->attempts < CONNECT_ATTEMPTS_MAX) {
		/* Nothing was sent: the connection this call expected is gone. Unless an
		 * opener is on its way, this call opens the next one. */
		if (c->opener == NULL)
			c->conn_open = false;
		if (route(c, k) == 0 && curl_multi_add_handle(c->multi, k->easy) == CURLM_OK)
			return;
		code = CURLE_FAILED_INIT;
	}
	call_finish(c, k, code);
}

/* ---- the synchronous helper --------------------------------------------------------- */

static void reply_fail(struct cri_reply *out, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void reply_fail(struct cri_reply *out, int status, const char *fmt, ...)
{
	out->grpc_status = status;
	out->error_class = cri_error_class_of(status);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->message, sizeof(out->message), fmt, ap);
	va_end(ap);
}

int cri_call_sync(struct cri_client *c, enum cri_method m, const ProtobufCMessage *req,
                  uint64_t timeout_ms, struct cri_reply *out)
{
	assert(out != NULL);
	assert(!cri_method_streaming(m));
	memset(out, 0, sizeof(*out));
	if (timeout_ms == 0) {
		reply_fail(out, CRI_GRPC_INVALID_ARGUMENT, "cri_call_sync needs a deadline");
		return -EINVAL;
	}
	struct call *k;
	int rc = call_start(c, m, req, timeout_ms, NULL, NULL, NULL, &k);
	if (rc != 0) {
		reply_fail(out, CRI_GRPC_INTERNAL, "not started: %s", cri_strerror(rc));
		return rc;
	}
	bool done = false;
	k->reply = out;
	k->sync_done = &done;
	uint64_t id = k->id;
	uint64_t guard_ms = monotonic_ms() + timeout_ms + SYNC_GUARD_MS;
	while (!done) {
		int running = 0;
		CURLMcode mc = curl_multi_perform(c->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(c->multi, &left)) != NULL)
			cri_client_on_done(c, msg);
		if (done)
			break;
		if (mc == CURLM_OK)
			mc = curl_multi_poll(c->multi, NULL, 0, 100, NULL);
		if (mc != CURLM_OK || monotonic_ms() > guard_ms) {
			cri_cancel(c, id);
			if (mc != CURLM_OK) {
				reply_fail(out, CRI_GRPC_INTERNAL, "curl multi: %s",
				           curl_multi_strerror(mc));
				return CRI_ECURL;
			}
			reply_fail(out, CRI_GRPC_DEADLINE_EXCEEDED,
			           "no answer %d ms after the deadline", SYNC_GUARD_MS);
			return 0;
		}
	}
	assert(out->grpc_status >= 0);
	return 0;
}

void cri_reply_clear(struct cri_reply *r)
{
	if (r == NULL)
		return;
	if (r->response != NULL)
		protobuf_c_message_free_unpacked(r->response, NULL);
	r->response = NULL;
}
