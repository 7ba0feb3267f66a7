/*
 * io/kapi.h — the Kubernetes API client's transport: HTTPS requests and watch
 * streams to the server of a kubeconfig, with libcurl on the daemon's multi
 * handle (driven by io/curl_glue) and client-go's rate limit.
 *
 * TLS is always verified, with the kubeconfig's CA (a file or PEM in memory) or
 * the system's store; the client authenticates with its certificate and key or
 * a bearer token (a tokenFile is read again when it changes). HTTP/2 is used
 * where the server offers it (ALPN), HTTP/1.1 otherwise.
 *
 * Rate limit: a token bucket of qps tokens a second and burst tokens at most
 * (kubeAPIQPS, kubeAPIBurst; 0 qps: none). A request over the limit waits in
 * order and is started by a reactor timer (timer_id, the caller's) when a token
 * is there. Watches take a token to open, as client-go's do.
 *
 * Callbacks run on reactor turns, never from inside kapi_request or
 * kapi_watch. The response's pointers live until the callback returns.
 *
 * Bounds: KAPI_CALLS_MAX requests in flight or waiting; a response body of at
 * most KAPI_BODY_MAX bytes (a larger one ends the call with CURLE_FILESIZE_EXCEEDED);
 * a watch line of at most KAPI_LINE_MAX bytes (a longer one ends the watch).
 */
#ifndef LEDGERLET_IO_KAPI_H
#define LEDGERLET_IO_KAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "io/kubeconfig.h"
#include "io/reactor.h"

#define KAPI_CALLS_MAX 1024
#define KAPI_BODY_MAX ((size_t)256 << 20)
#define KAPI_LINE_MAX ((size_t)16 << 20)

struct kapi;

struct kapi_response {
	long http_status;         /* 0: no answer (curl_code says why) */
	CURLcode curl_code;
	const char *error;        /* the transport's error, or "" */
	const char *body;         /* requests: the whole body ("" for none); watches: "" */
	size_t body_len;
	uint64_t retry_after_ms;  /* from Retry-After (seconds), or 0 */
	uint64_t elapsed_ms;      /* from the start of the transfer (not the wait) */
};

typedef void (*kapi_done_cb)(void *arg, const struct kapi_response *r);
/* A watch's line (one JSON watch event, without the newline). */
typedef void (*kapi_line_cb)(void *arg, const char *line, size_t len);

struct kapi_config {
	const struct io_kubeconfig *kubeconfig; /* read at kapi_new; not kept */
	CURLM *multi;
	struct io_reactor *reactor;
	uint64_t timer_id; /* the rate limit's reactor timer */
	double qps;        /* 0: no limit */
	int32_t burst;
	const char *user_agent;
};

/* 0 or a negative errno. */
int kapi_new(struct kapi **out, const struct kapi_config *cfg);
/* Ends every call without running its callbacks. NULL is a no-op. */
void kapi_free(struct kapi *k);

/*
 * method GET/POST/PUT/PATCH/DELETE on path ("/api/v1/nodes/n1"); body (NULL
 * for none) of content_type. *id (may be NULL) names the call for kapi_cancel.
 * 0, or -EAGAIN past KAPI_CALLS_MAX, -ENOMEM.
 */
int kapi_request(struct kapi *k, const char *method, const char *path, const char *content_type,
		 const char *body, size_t body_len, uint32_t timeout_ms, kapi_done_cb done, void *arg,
		 uint64_t *id);
/* GET path as a stream: each line to on_line, then done once the stream ends. */
int kapi_watch(struct kapi *k, const char *path, kapi_line_cb on_line, kapi_done_cb done, void *arg,
	       uint64_t *id);
/* Ends a call without running its callbacks. 0, or -ENOENT. */
int kapi_cancel(struct kapi *k, uint64_t id);

/* For the multi handle's done callback: whether easy is ours, and its end. */
bool kapi_owns(const struct kapi *k, CURL *easy);
void kapi_on_done(struct kapi *k, CURLMsg *msg);

/* Requests started so far (for write counts in tests and benchmarks). */
uint64_t kapi_started(const struct kapi *k);

#endif
