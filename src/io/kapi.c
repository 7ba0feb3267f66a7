/*
 * io/kapi.c — the API client's transport (see kapi.h).
 *
 * A call is a curl easy handle with its headers, its body and what arrived. It
 * waits in a FIFO until the token bucket lets it start; kapi_on_done ends it.
 */
#include "io/kapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct call {
	struct call *next; /* the wait queue, or the in-flight list */
	struct kapi *k;
	uint64_t id;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	size_t body_len;
	char *in; /* what arrived: the body, or a watch's partial line */
	size_t in_len, in_cap;
	bool watch, too_long;
	uint64_t retry_after_ms;
	kapi_line_cb on_line;
	kapi_done_cb done;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
};

struct kapi {
	CURLM *multi;
	struct io_reactor *r;
	uint64_t timer_id;
	bool timer_armed;
	char *server;
	char *tls_server_name;
	char *ca_file, *cert_file, *key_file;
	struct io_blob ca, cert, key;
	char *token, *token_file;
	struct timespec token_mtime;
	char *user_agent;
	double qps;
	double tokens;
	uint64_t refill_ms;
	int32_t burst;
	struct call *waiting, **waiting_tail;
	struct call *flying;
	size_t ncalls;
	uint64_t next_id;
	uint64_t started;
};

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int blob_copy(struct io_blob *dst, const struct io_blob *src)
{
	*dst = (struct io_blob){0};
	if (src->data == NULL)
		return 0;
	dst->data = malloc(src->len ? src->len : 1);
	if (dst->data == NULL)
		return -ENOMEM;
	memcpy(dst->data, src->data, src->len);
	dst->len = src->len;
	return 0;
}

int kapi_new(struct kapi **out, const struct kapi_config *cfg)
{
	const struct io_kubeconfig *kc = cfg->kubeconfig;
	if (kc == NULL || kc->server == NULL || cfg->multi == NULL || cfg->reactor == NULL)
		return -EINVAL;
	struct kapi *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	k->multi = cfg->multi;
	k->r = cfg->reactor;
	k->timer_id = cfg->timer_id;
	k->qps = cfg->qps;
	k->burst = cfg->burst > 0 ? cfg->burst : 1;
	k->tokens = k->burst;
	k->refill_ms = io_reactor_now_ms(k->r);
	k->waiting_tail = &k->waiting;
	k->server = strdup(kc->server);
	k->tls_server_name = dup_or_null(kc->tls_server_name);
	k->ca_file = dup_or_null(kc->ca_file);
	k->cert_file = dup_or_null(kc->cert_file);
	k->key_file = dup_or_null(kc->key_file);
	k->token = dup_or_null(kc->token);
	k->token_file = dup_or_null(kc->token_file);
	k->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "ledgerlet");
	int rc = blob_copy(&k->ca, &kc->ca) | blob_copy(&k->cert, &kc->cert) | blob_copy(&k->key, &kc->key);
	if (rc != 0 || k->server == NULL || k->user_agent == NULL ||
	    (kc->tls_server_name && !k->tls_server_name) || (kc->ca_file && !k->ca_file) ||
	    (kc->cert_file && !k->cert_file) || (kc->key_file && !k->key_file) || (kc->token && !k->token) ||
	    (kc->token_file && !k->token_file)) {
		kapi_free(k);
		return -ENOMEM;
	}
	*out = k;
	return 0;
}

static void call_free(struct call *c)
{
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	curl_slist_free_all(c->headers);
	free(c->body);
	/* What was received may be a Secret (DESIGN.md contract 8): its bytes do
	 * not stay behind in freed memory. */
	if (c->in != NULL)
		explicit_bzero(c->in, c->in_cap);
	free(c->in);
	free(c);
}

static void wipe(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

void kapi_free(struct kapi *k)
{
	if (k == NULL)
		return;
	if (k->timer_armed)
		io_timer_cancel(k->r, k->timer_id);
	for (struct call *c = k->flying, *n; c != NULL; c = n) {
		n = c->next;
		curl_multi_remove_handle(k->multi, c->easy);
		call_free(c);
	}
	for (struct call *c = k->waiting, *n; c != NULL; c = n) {
		n = c->next;
		call_free(c);
	}
	free(k->server);
	free(k->tls_server_name);
	free(k->ca_file);
	free(k->cert_file);
	free(k->key_file);
	struct io_blob *blobs[] = {&k->ca, &k->cert, &k->key};
	for (size_t i = 0; i < 3; i++) {
		if (blobs[i]->data != NULL)
			explicit_bzero(blobs[i]->data, blobs[i]->len);
		free(blobs[i]->data);
	}
	wipe(k->token);
	free(k->token_file);
	free(k->user_agent);
	free(k);
}

/* The bearer token: the kubeconfig's, or the token file's, read again when it
 * changed (projected tokens rotate). */
static const char *bearer(struct kapi *k)
{
	if (k->token_file == NULL)
		return k->token;
	struct stat st;
	if (stat(k->token_file, &st) != 0)
		return k->token; /* the last one read */
	if (k->token != NULL && st.st_mtim.tv_sec == k->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == k->token_mtime.tv_nsec)
		return k->token;
	FILE *f = fopen(k->token_file, "re");
	char buf[16384];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f != NULL)
		fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	char *t = n > 0 ? strdup(buf) : NULL;
	explicit_bzero(buf, sizeof(buf));
	if (t != NULL) {
		wipe(k->token);
		k->token = t;
		k->token_mtime = st.st_mtim;
	}
	return k->token;
}

/* ---- receiving ---- */

static int grow(struct call *c, size_t need)
{
	if (need <= c->in_cap)
		return 0;
	size_t cap = c->in_cap ? c->in_cap : 4096;
	while (cap < need)
		cap *= 2;
	/* Not realloc: the old buffer is wiped before it is freed (call_free). */
	char *p = malloc(cap);
	if (p == NULL)
		return -1;
	if (c->in != NULL) {
		memcpy(p, c->in, c->in_len);
		explicit_bzero(c->in, c->in_cap);
		free(c->in);
	}
	c->in = p;
	c->in_cap = cap;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct call *c = arg;
	size_t n = size * nmemb;
	size_t limit = c->watch ? KAPI_LINE_MAX : KAPI_BODY_MAX;
	if (c->in_len + n > limit) {
		c->too_long = true;
		return 0; /* ends the transfer: CURLE_WRITE_ERROR */
	}
	if (grow(c, c->in_len + n + 1) != 0)
		return 0;
	memcpy(c->in + c->in_len, data, n);
	c->in_len += n;
	if (!c->watch)
		return n;
	/* Hand over every whole line; keep the partial one. Lines are handed over
	 * here, in libcurl's callback: on_line must not call into libcurl. */
	size_t start = 0;
	for (size_t i = 0; i < c->in_len; i++) {
		if (c->in[i] != '\n')
			continue;
		if (i > start && c->on_line != NULL)
			c->on_line(c->arg, c->in + start, i - start);
		start = i + 1;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	explicit_bzero(c->in + c->in_len, start); /* the lines handed over */
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct call *c = arg;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";
	if (n > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		long s = strtol(data + sizeof(name) - 1, NULL, 10);
		if (s > 0 && s < 86400)
			c->retry_after_ms = (uint64_t)s * 1000;
	}
	return n;
}

/* ---- sending ---- */

static int setup(struct kapi *k, struct call *c, const char *method, const char *path, const char *content_type,
		 uint32_t timeout_ms)
{
	c->easy = curl_easy_init();
	if (c->easy == NULL)
		return -ENOMEM;
	size_t ul = strlen(k->server) + strlen(path) + 1;
	char *url = malloc(ul);
	if (url == NULL)
		return -ENOMEM;
	snprintf(url, ul, "%s%s", k->server, path);
	CURLcode e = curl_easy_setopt(c->easy, CURLOPT_URL, url);
	free(url);
	c->headers = curl_slist_append(NULL, "Accept: application/json");
	if (content_type != NULL) {
		char h[256];
		snprintf(h, sizeof(h), "Content-Type: %s", content_type);
		c->headers = curl_slist_append(c->headers, h);
	}
	const char *tok = bearer(k);
	if (tok != NULL) {
		size_t hl = strlen(tok) + 32;
		char *h = malloc(hl);
		if (h == NULL)
			return -ENOMEM;
		snprintf(h, hl, "Authorization: Bearer %s", tok);
		c->headers = curl_slist_append(c->headers, h);
		explicit_bzero(h, hl);
		free(h);
	}
	if (c->headers == NULL)
		return -ENOMEM;
#define SET(opt, val) e |= curl_easy_setopt(c->easy, opt, val)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_PIPEWAIT, 1L);
	SET(CURLOPT_USERAGENT, k->user_agent);
	SET(CURLOPT_HTTPHEADER, c->headers);
	SET(CURLOPT_CUSTOMREQUEST, method);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, c);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_PRIVATE, c);
	SET(CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (timeout_ms > 0)
		SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	if (c->watch) {
		/* A stream: no overall timeout, but a dead peer is noticed. */
		SET(CURLOPT_TCP_KEEPALIVE, 1L);
		SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SET(CURLOPT_LOW_SPEED_TIME, 300L);
	}
	if (strcmp(method, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	if (c->body != NULL) {
		SET(CURLOPT_POSTFIELDS, c->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
	}
	if (k->ca.data != NULL) {
		struct curl_blob b = {k->ca.data, k->ca.len, CURL_BLOB_COPY};
		SET(CURLOPT_CAINFO_BLOB, &b);
	} else if (k->ca_file != NULL) {
		SET(CURLOPT_CAINFO, k->ca_file);
	}
	if (k->cert.data != NULL) {
		struct curl_blob b = {k->cert.data, k->cert.len, CURL_BLOB_COPY};
		SET(CURLOPT_SSLCERT_BLOB, &b);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
	} else if (k->cert_file != NULL) {
		SET(CURLOPT_SSLCERT, k->cert_file);
	}
	if (k->key.data != NULL) {
		struct curl_blob b = {k->key.data, k->key.len, CURL_BLOB_COPY};
		SET(CURLOPT_SSLKEY_BLOB, &b);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
	} else if (k->key_file != NULL) {
		SET(CURLOPT_SSLKEY, k->key_file);
	}
#undef SET
	return e == CURLE_OK ? 0 : -EINVAL;
}

static void refill(struct kapi *k)
{
	uint64_t now = io_reactor_now_ms(k->r);
	if (now > k->refill_ms) {
		k->tokens += k->qps * (double)(now - k->refill_ms) / 1000.0;
		if (k->tokens > k->burst)
			k->tokens = k->burst;
	}
	k->refill_ms = now;
}

static void on_limit_timer(void *arg, uint64_t id);

/* Starts the waiting calls the bucket allows; arms the timer for the rest. */
static void pump(struct kapi *k)
{
	if (k->qps > 0)
		refill(k);
	while (k->waiting != NULL && (k->qps <= 0 || k->tokens >= 1.0)) {
		struct call *c = k->waiting;
		k->waiting = c->next;
		if (k->waiting == NULL)
			k->waiting_tail = &k->waiting;
		if (k->qps > 0)
			k->tokens -= 1.0;
		if (curl_multi_add_handle(k->multi, c->easy) != CURLM_OK) {
			/* Back to the head of the queue; the timer tries again. */
			c->next = k->waiting;
			if (k->waiting == NULL)
				k->waiting_tail = &c->next;
			k->waiting = c;
			k->tokens = 0;
			break;
		}
		c->next = k->flying;
		k->flying = c;
		k->started++;
	}
	if (k->waiting != NULL && !k->timer_armed) {
		uint64_t wait = k->qps > 0 ? (uint64_t)((1.0 - k->tokens) * 1000.0 / k->qps) + 1 : 1000;
		if (io_timer_set(k->r, k->timer_id, io_reactor_now_ms(k->r) + wait, on_limit_timer, k) == 0)
			k->timer_armed = true;
	}
}

static void on_limit_timer(void *arg, uint64_t id)
{
	struct kapi *k = arg;
	(void)id;
	k->timer_armed = false;
	pump(k);
}

static int enqueue(struct kapi *k, const char *method, const char *path, const char *content_type,
		   const char *body, size_t body_len, uint32_t timeout_ms, bool watch, kapi_line_cb on_line,
		   kapi_done_cb done, void *arg, uint64_t *id)
{
	if (k->ncalls >= KAPI_CALLS_MAX)
		return -EAGAIN;
	struct call *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->k = k;
	c->watch = watch;
	c->on_line = on_line;
	c->done = done;
	c->arg = arg;
	if (body != NULL) {
		c->body = malloc(body_len ? body_len : 1);
		if (c->body == NULL) {
			free(c);
			return -ENOMEM;
		}
		memcpy(c->body, body, body_len);
		c->body_len = body_len;
	}
	int rc = setup(k, c, method, path, content_type, timeout_ms);
	if (rc != 0) {
		call_free(c);
		return rc;
	}
	c->id = ++k->next_id;
	if (id != NULL)
		*id = c->id;
	k->ncalls++;
	*k->waiting_tail = c;
	k->waiting_tail = &c->next;
	/* Started here when the bucket allows: libcurl runs it on a later turn,
	 * so no callback runs from inside this call. */
	pump(k);
	return 0;
}

int kapi_request(struct kapi *k, const char *method, const char *path, const char *content_type,
		 const char *body, size_t body_len, uint32_t timeout_ms, kapi_done_cb done, void *arg,
		 uint64_t *id)
{
	return enqueue(k, method, path, content_type, body, body_len, timeout_ms, false, NULL, done, arg, id);
}

int kapi_watch(struct kapi *k, const char *path, kapi_line_cb on_line, kapi_done_cb done, void *arg,
	       uint64_t *id)
{
	return enqueue(k, "GET", path, NULL, NULL, 0, 0, true, on_line, done, arg, id);
}

static bool unlink_call(struct call **list, struct call *c)
{
	for (struct call **p = list; *p != NULL; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return true;
		}
	return false;
}

int kapi_cancel(struct kapi *k, uint64_t id)
{
	for (struct call *c = k->flying; c != NULL; c = c->next)
		if (c->id == id) {
			unlink_call(&k->flying, c);
			curl_multi_remove_handle(k->multi, c->easy);
			call_free(c);
			k->ncalls--;
			return 0;
		}
	for (struct call *c = k->waiting; c != NULL; c = c->next)
		if (c->id == id) {
			unlink_call(&k->waiting, c);
			k->waiting_tail = &k->waiting;
			while (*k->waiting_tail != NULL)
				k->waiting_tail = &(*k->waiting_tail)->next;
			call_free(c);
			k->ncalls--;
			return 0;
		}
	return -ENOENT;
}

bool kapi_owns(const struct kapi *k, CURL *easy)
{
	for (const struct call *c = k->flying; c != NULL; c = c->next)
		if (c->easy == easy)
			return true;
	return false;
}

void kapi_on_done(struct kapi *k, CURLMsg *msg)
{
	struct call *c = NULL;
	curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
	if (c == NULL || !unlink_call(&k->flying, c))
		return;
	curl_multi_remove_handle(k->multi, c->easy);
	k->ncalls--;
	struct kapi_response r = {.curl_code = msg->data.result, .error = "", .body = "",
				  .retry_after_ms = c->retry_after_ms};
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r.http_status);
	curl_off_t us = 0;
	curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME_T, &us);
	r.elapsed_ms = (uint64_t)us / 1000;
	if (r.curl_code != CURLE_OK)
		r.error = c->too_long ? (c->watch ? "a watch event is too long" : "the response is too long")
				      : (c->errbuf[0] ? c->errbuf : curl_easy_strerror(r.curl_code));
	if (c->too_long)
		r.curl_code = CURLE_FILESIZE_EXCEEDED;
	if (!c->watch && c->in != NULL) {
		c->in[c->in_len] = '\0';
		r.body = c->in;
		r.body_len = c->in_len;
	}
	if (c->done != NULL)
		c->done(c->arg, &r);
	call_free(c);
	pump(k);
}

uint64_t kapi_started(const struct kapi *k)
{
	return k->started;
}
