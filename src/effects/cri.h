/*
 * effects/cri.h — the CRI client: gRPC to the container runtime over its unix socket.
 *
 * The executors of cri.* commands (sandboxes, containers, images) and the CRI
 * relist source talk to containerd through this client. A call is a gRPC request
 * over HTTP/2 over the runtime's unix socket, carried by libcurl: POST
 * /runtime.v1.<Service>/<Method> with content-type application/grpc and te: trailers,
 * a body of one length-prefixed protobuf message (schemas/cri.proto), and an answer
 * of length-prefixed messages followed by grpc-status and grpc-message trailers.
 *
 * Asynchronous and driver-agnostic, as curl is: the caller owns the CURLM and drives
 * it (the daemon through src/io's curl glue; tools and tests with curl_multi_perform
 * and curl_multi_poll), and hands every finished transfer to cri_client_on_done(),
 * which runs the call's callback. Callbacks never run from inside the call that
 * started them. All calls of a client share one HTTP/2 connection (multiplexed
 * streams); each has its own deadline, sent as grpc-timeout and enforced by curl.
 *
 * Every outcome is a gRPC status and an error class (DESIGN.md contract 4: ok,
 * transient, permanent, not-found). Transport failures get the status a gRPC library
 * would give them: a socket that refuses or is missing is UNAVAILABLE, a deadline
 * that passes is DEADLINE_EXCEEDED.
 *
 * Errors: functions return 0, a negative errno (-ENOMEM, -EINVAL) or a CRI_E* code
 * below; cri_strerror() names any of them. A call that returned an error was not
 * started and its callbacks never run.
 *
 * Bounds: at most CRI_CALLS_MAX calls in flight per client (CRI_ELIMIT past it);
 * messages of at most CRI_MESSAGE_BYTES_MAX bytes each way (a larger answer ends
 * the call with RESOURCE_EXHAUSTED, as gRPC's own limit does); grpc-message kept to
 * CRI_STATUS_MESSAGE_MAX - 1 bytes.
 *
 * Not thread-safe: one thread drives the multi handle and makes the calls.
 *
 * Debugging: with LEDGERLET_CRI_DEBUG in the environment, libcurl traces every call
 * on stderr (CURLOPT_VERBOSE).
 */
#ifndef LEDGERLET_EFFECTS_CRI_H
#define LEDGERLET_EFFECTS_CRI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <protobuf-c/protobuf-c.h>

#include "schemas/cri.pb-c.h"

#define CRI_CALLS_MAX          256
/* The kubelet's and containerd's limit: relists of a full node fit under it. */
#define CRI_MESSAGE_BYTES_MAX  (16u * 1024 * 1024)
#define CRI_STATUS_MESSAGE_MAX 1024

/* Reserved range, clear of errno values and of the journal's (-40001..). */
enum cri_error {
	CRI_EENDPOINT = -41001, /* endpoint is not unix:///absolute/path, or the path is too long */
	CRI_ELIMIT = -41002,    /* CRI_CALLS_MAX calls already in flight */
	CRI_ECURL = -41003,     /* libcurl refused to set up or add the transfer */
	CRI_ETOOBIG = -41004,   /* the request is larger than CRI_MESSAGE_BYTES_MAX */
	CRI_ENOCALL = -41005,   /* cri_cancel: no call in flight has that id */
};
const char *cri_strerror(int err);

/* The methods of schemas/cri.proto; GetContainerEvents is server streaming. */
enum cri_method {
	CRI_VERSION,
	CRI_STATUS,
	CRI_RUN_POD_SANDBOX,
	CRI_STOP_POD_SANDBOX,
	CRI_REMOVE_POD_SANDBOX,
	CRI_POD_SANDBOX_STATUS,
	CRI_LIST_POD_SANDBOX,
	CRI_CREATE_CONTAINER,
	CRI_START_CONTAINER,
	CRI_STOP_CONTAINER,
	CRI_REMOVE_CONTAINER,
	CRI_CONTAINER_STATUS,
	CRI_LIST_CONTAINERS,
	CRI_EXEC_SYNC,
	CRI_GET_CONTAINER_EVENTS,
	CRI_LIST_IMAGES,
	CRI_IMAGE_STATUS,
	CRI_PULL_IMAGE,
	CRI_REMOVE_IMAGE,
	CRI_METHOD_COUNT
};

/* "RunPodSandbox"; the request path is "/runtime.v1.RuntimeService/RunPodSandbox". */
const char *cri_method_name(enum cri_method m);
const char *cri_method_path(enum cri_method m);
const ProtobufCMessageDescriptor *cri_method_request(enum cri_method m);
const ProtobufCMessageDescriptor *cri_method_response(enum cri_method m);
bool cri_method_streaming(enum cri_method m);

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum cri_grpc_status {
	CRI_GRPC_OK = 0,
	CRI_GRPC_CANCELLED = 1,
	CRI_GRPC_UNKNOWN = 2,
	CRI_GRPC_INVALID_ARGUMENT = 3,
	CRI_GRPC_DEADLINE_EXCEEDED = 4,
	CRI_GRPC_NOT_FOUND = 5,
	CRI_GRPC_ALREADY_EXISTS = 6,
	CRI_GRPC_PERMISSION_DENIED = 7,
	CRI_GRPC_RESOURCE_EXHAUSTED = 8,
	CRI_GRPC_FAILED_PRECONDITION = 9,
	CRI_GRPC_ABORTED = 10,
	CRI_GRPC_OUT_OF_RANGE = 11,
	CRI_GRPC_UNIMPLEMENTED = 12,
	CRI_GRPC_INTERNAL = 13,
	CRI_GRPC_UNAVAILABLE = 14,
	CRI_GRPC_DATA_LOSS = 15,
	CRI_GRPC_UNAUTHENTICATED = 16,
};
/* "DEADLINE_EXCEEDED"; "CODE_<n>" for a number outside the list. */
const char *cri_grpc_status_name(int status);

/*
 * What the fold is told (an effect event's error_class). Transient: the same call
 * may succeed later (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED,
 * CANCELLED, and every transport failure, which arrives as UNAVAILABLE). Not found:
 * NOT_FOUND. Permanent: everything else — note that containerd answers UNKNOWN for
 * most runtime failures (runc errors, registry errors), so a permanent CRI failure
 * still deserves the fold's back-off, not a verdict.
 */
enum cri_error_class {
	CRI_CLASS_OK = 0,
	CRI_CLASS_TRANSIENT,
	CRI_CLASS_PERMANENT,
	CRI_CLASS_NOT_FOUND,
};
enum cri_error_class cri_error_class_of(int grpc_status);
/* "ok", "transient", "permanent", "not-found": the journal's spelling. */
const char *cri_error_class_name(enum cri_error_class cls);

/*
 * How a call ended. Every pointer in it is the client's and lives until the
 * callback returns: copy what must outlive it.
 */
struct cri_result {
	enum cri_method method;
	int grpc_status; /* enum cri_grpc_status, or a server's own number */
	enum cri_error_class error_class;
	const char *message; /* grpc-message, decoded, or the transport's error; "" */
	CURLcode curl_code;  /* CURLE_OK unless the transport failed */
	/* Unary calls with grpc_status OK: the answer, of cri_method_response(method)'s
	 * type (cast to Runtime__V1__<Method>Response). NULL otherwise. */
	const ProtobufCMessage *response;
	uint32_t messages;   /* messages received (a stream's count) */
	uint64_t elapsed_us; /* from the transfer's start to its end */
	long connects;       /* new connections this call opened (0: it shared one) */
};

typedef void (*cri_done_cb)(void *arg, const struct cri_result *res);
/*
 * One message of a stream, of cri_method_response(m)'s type, valid until the
 * callback returns. It runs inside libcurl's write callback, so it must not call
 * into this client or the multi handle (libcurl refuses recursive calls): queue
 * what it learns for the loop. Return 0 to go on, non-zero to end the stream (its
 * done callback then reports CANCELLED).
 */
typedef int (*cri_message_cb)(void *arg, const ProtobufCMessage *msg);

struct cri_client;

/*
 * A client for endpoint ("unix:///run/containerd/containerd.sock", or the bare
 * absolute path) whose transfers run on multi. The socket is not touched until the
 * first call. The caller keeps owning multi and must outlive the client with it.
 * Sets CURLMOPT_PIPELINING to CURLPIPE_MULTIPLEX and CURLMOPT_MAX_CONCURRENT_STREAMS
 * to CRI_CALLS_MAX on multi, so that every call shares one connection. (How a call
 * finds that connection despite libcurl 7.88's prior-knowledge bug: see cri.c.)
 */
int cri_client_new(struct cri_client **out, const char *endpoint, CURLM *multi);
/* Ends every call in flight without running its callbacks, then frees the client.
 * Not from inside one of its callbacks. */
void cri_client_free(struct cri_client *c);
/* The socket path the endpoint named. */
const char *cri_client_socket_path(const struct cri_client *c);
unsigned cri_client_calls_in_flight(const struct cri_client *c);

/*
 * Whether easy is a transfer of this client. cri_client_on_done ignores transfers
 * that are not, so a loop may hand every finished transfer to every client.
 */
bool cri_client_owns(const struct cri_client *c, CURL *easy);
/*
 * For each CURLMSG_DONE message curl_multi_info_read returns: removes the transfer
 * from the multi handle, runs the call's done callback, frees the call. The callback
 * may start new calls.
 */
void cri_client_on_done(struct cri_client *c, CURLMsg *msg);

/*
 * Starts a unary call: req (of cri_method_request(m)'s type) is encoded before this
 * returns, so the caller may free it at once. on_done runs exactly once, later,
 * from cri_client_on_done. timeout_ms: the call's deadline from now (0: none —
 * only for calls that may legitimately wait, which unary CRI calls never should).
 */
int cri_call(struct cri_client *c, enum cri_method m, const ProtobufCMessage *req,
             uint64_t timeout_ms, cri_done_cb on_done, void *arg);

/*
 * Starts a server-streaming call (CRI_GET_CONTAINER_EVENTS): on_message runs for
 * each message as it arrives, on_done once when the stream ends (the server's
 * status; CANCELLED if on_message asked to stop). timeout_ms 0: no deadline. *id_out
 * (may be NULL) names the call for cri_cancel.
 */
int cri_stream(struct cri_client *c, enum cri_method m, const ProtobufCMessage *req,
               uint64_t timeout_ms, cri_message_cb on_message, cri_done_cb on_done, void *arg,
               uint64_t *id_out);
/* Ends a call in flight at once; neither of its callbacks runs afterwards. Not
 * from inside a callback of that call. CRI_ENOCALL if id is not in flight. */
int cri_cancel(struct cri_client *c, uint64_t id);

/*
 * A synchronous call for tools and tests. It drives the client's multi handle
 * itself (curl_multi_perform, curl_multi_poll) until the call ends, also running
 * the callbacks of this client's other calls that end meanwhile; transfers of
 * anyone else on the same multi would be lost, so use it only on a multi that
 * nothing else drives. timeout_ms must be > 0. Returns 0 when the call ran (out
 * says how it went) or a negative code when it could not be started or the
 * multi handle failed; out is set either way and must be cleared with
 * cri_reply_clear.
 */
struct cri_reply {
	int grpc_status;
	enum cri_error_class error_class;
	CURLcode curl_code;
	char message[CRI_STATUS_MESSAGE_MAX];
	ProtobufCMessage *response; /* the caller's until cri_reply_clear; NULL unless OK */
	uint64_t elapsed_us;
	long connects;
};
int cri_call_sync(struct cri_client *c, enum cri_method m, const ProtobufCMessage *req,
                  uint64_t timeout_ms, struct cri_reply *out);
void cri_reply_clear(struct cri_reply *r);

/*
 * ---- The gRPC response decoder, without curl -------------------------------------
 *
 * One per call: it is fed the response's header lines (status line, headers and
 * trailers alike, as curl's header callback hands them over) and its body bytes in
 * whatever pieces they arrive, and says the call's final status. Exposed so that
 * tests can feed it byte buffers.
 */
struct cri_wire {
	size_t bytes_max;  /* largest message accepted */
	int http_status;   /* from the status line; 0 before it */
	int grpc_status;   /* from grpc-status, in headers or trailers; -1 until seen */
	bool grpc_content; /* content-type is application/grpc[+proto] */
	int error;         /* the first decoding error, as a gRPC status; 0: none */
	uint32_t messages; /* complete messages seen */
	char message[CRI_STATUS_MESSAGE_MAX]; /* decoded grpc-message, or the error's text */
	/* frame assembly */
	uint8_t prefix[5];
	size_t prefix_len; /* bytes of prefix[] held, 0..5 */
	size_t frame_len;  /* the current frame's payload length, once prefix is whole */
	size_t frame_have; /* payload bytes held in frame[] */
	uint8_t *frame;    /* payload of a frame split across pieces; malloc'd */
	size_t frame_cap;
};

/* A complete message: return 0, or a gRPC status to fail the call with (the
 * callback sets the text with cri_wire_fail). */
typedef int (*cri_wire_message_cb)(void *arg, const uint8_t *data, size_t len);

void cri_wire_init(struct cri_wire *w, size_t bytes_max);
void cri_wire_free(struct cri_wire *w);
/* One header line, with or without its CRLF. */
void cri_wire_header(struct cri_wire *w, const char *line, size_t len);
/* Body bytes. Returns 0, or the gRPC status of the first error (then also in
 * w->error; later calls return it at once and read nothing). */
int cri_wire_body(struct cri_wire *w, const uint8_t *data, size_t len, cri_wire_message_cb cb,
                  void *arg);
/* Records an error (the first one wins) and returns status. */
int cri_wire_fail(struct cri_wire *w, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/*
 * The call's final status, once the transfer ended with curl_code: a decoding error
 * first, then grpc-status, then the transport's failure, then the HTTP status (as
 * gRPC maps it); a gRPC answer without grpc-status is UNAVAILABLE (cut short: its
 * outcome is unknown), anything else INTERNAL (not a gRPC server). *message: the
 * text for it, valid while w is (transport failures: curl_detail when not NULL or
 * empty).
 */
int cri_wire_status(struct cri_wire *w, CURLcode curl_code, const char *curl_detail,
                    const char **message);
/* The gRPC status a transport failure counts as. */
int cri_grpc_status_of_curl(CURLcode code);
/* The gRPC status an HTTP status counts as when the response has no grpc-status. */
int cri_grpc_status_of_http(int http_status);
/*
 * grpc-message's percent-decoding: %XX (either case) becomes the byte; anything
 * else, a malformed escape included, is kept as it is. Writes at most out_size - 1
 * bytes and a NUL; returns the bytes written.
 */
size_t cri_percent_decode(char *out, size_t out_size, const char *in, size_t len);

#endif
