/*
 * io/kubeconfig.c — a kubeconfig read (see kubeconfig.h).
 */
#include "io/kubeconfig.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/yaml.h"

#define KUBECONFIG_BYTES_MAX (1u << 20)

struct ctx {
	const char *path;
	char *err;
	size_t err_len;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
	int n = snprintf(c->err, c->err_len, "kubeconfig %s: ", c->path);
	if (n < 0 || (size_t)n >= c->err_len)
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->err_len - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

int io_base64_decode(const char *in, size_t in_len, struct io_blob *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	out->data = malloc(in_len / 4 * 3 + 3);
	out->len = 0;
	if (out->data == NULL)
		return -1;
	uint32_t acc = 0;
	int bits = 0;
	bool padding = false;
	for (size_t i = 0; i < in_len; i++) {
		char ch = in[i];
		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			padding = true;
			continue;
		}
		const char *p = ch ? strchr(alphabet, ch) : NULL;
		if (p == NULL || padding) {
			free(out->data);
			out->data = NULL;
			return -1;
		}
		acc = acc << 6 | (uint32_t)(p - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out->data[out->len++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits >= 6) { /* a lone sixth: not base64 */
		free(out->data);
		out->data = NULL;
		return -1;
	}
	return 0;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;
	if (o == NULL || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The entry of list (clusters, users, contexts) named name: its `field` object. */
static json_object *named(json_object *root, const char *list, const char *name, const char *field)
{
	json_object *arr, *v;
	if (!json_object_object_get_ex(root, list, &arr) || !json_object_is_type(arr, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		const char *n = str_of(e, "name");
		if (n != NULL && strcmp(n, name) == 0 && json_object_object_get_ex(e, field, &v) &&
		    json_object_is_type(v, json_type_object))
			return v;
	}
	return NULL;
}

/* A path from the file, relative to the kubeconfig's directory. */
static char *resolve(const char *kubeconfig, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	const char *slash = strrchr(kubeconfig, '/');
	if (slash == NULL)
		return strdup(p);
	size_t n = (size_t)(slash - kubeconfig) + 1 + strlen(p) + 1;
	char *out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%.*s/%s", (int)(slash - kubeconfig), kubeconfig, p);
	return out;
}

/* One credential: a file path (resolved) or -data (decoded); the file must exist. */
static int file_or_data(struct ctx *c, const char *what, json_object *o, const char *file_key,
			const char *data_key, char **file, struct io_blob *data)
{
	const char *f = str_of(o, file_key), *d = str_of(o, data_key);
	if (f != NULL && d != NULL)
		return fail(c, "%s: both %s and %s are given; want one", what, file_key, data_key);
	if (d != NULL) {
		if (io_base64_decode(d, strlen(d), data) != 0)
			return fail(c, "%s: %s: not base64", what, data_key);
		return 0;
	}
	if (f == NULL)
		return 0;
	*file = resolve(c->path, f);
	if (*file == NULL)
		return fail(c, "out of memory");
	if (access(*file, R_OK) != 0)
		return fail(c, "%s: %s %s: %s", what, file_key, *file, strerror(errno));
	return 0;
}

static int read_all(struct ctx *c, char **text, size_t *len)
{
	FILE *f = fopen(c->path, "re");
	if (f == NULL)
		return fail(c, "%s", strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > KUBECONFIG_BYTES_MAX) {
		fclose(f);
		return fail(c, "not a regular file of at most %u bytes", KUBECONFIG_BYTES_MAX);
	}
	*text = malloc((size_t)st.st_size + 1);
	*len = *text ? fread(*text, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (*text == NULL)
		return fail(c, "out of memory");
	(*text)[*len] = '\0';
	return 0;
}

static int decode(struct ctx *c, json_object *root, struct io_kubeconfig *k)
{
	const char *kind = str_of(root, "kind");
	if (kind != NULL && strcmp(kind, "Config") != 0)
		return fail(c, "kind is \"%s\", want Config", kind);
	const char *cur = str_of(root, "current-context");
	if (cur == NULL || *cur == '\0')
		return fail(c, "no current-context");
	json_object *context = named(root, "contexts", cur, "context");
	if (context == NULL)
		return fail(c, "current-context \"%s\" is not among the contexts", cur);
	const char *cluster_name = str_of(context, "cluster"), *user_name = str_of(context, "user");
	if (cluster_name == NULL)
		return fail(c, "context \"%s\": no cluster", cur);
	json_object *cluster = named(root, "clusters", cluster_name, "cluster");
	if (cluster == NULL)
		return fail(c, "context \"%s\": cluster \"%s\" is not among the clusters", cur, cluster_name);
	k->context = strdup(cur);
	const char *ns = str_of(context, "namespace");
	if (ns != NULL)
		k->namespace_ = strdup(ns);

	char what[300];
	snprintf(what, sizeof(what), "cluster \"%s\"", cluster_name);
	const char *server = str_of(cluster, "server");
	if (server == NULL || strncmp(server, "https://", 8) != 0 || server[8] == '\0')
		return fail(c, "%s: server \"%s\" is not https://HOST[:PORT] (TLS is required)", what,
			    server ? server : "");
	k->server = strdup(server);
	if (k->server != NULL) {
		size_t n = strlen(k->server);
		while (n > 8 && k->server[n - 1] == '/')
			k->server[--n] = '\0';
	}
	json_object *v;
	if (json_object_object_get_ex(cluster, "insecure-skip-tls-verify", &v) && json_object_get_boolean(v))
		return fail(c, "%s: insecure-skip-tls-verify is refused: ledgerlet always verifies the server",
			    what);
	const char *tsn = str_of(cluster, "tls-server-name");
	if (tsn != NULL)
		k->tls_server_name = strdup(tsn);
	if (file_or_data(c, what, cluster, "certificate-authority", "certificate-authority-data", &k->ca_file,
			 &k->ca) != 0)
		return -1;

	if (user_name != NULL) {
		json_object *user = named(root, "users", user_name, "user");
		snprintf(what, sizeof(what), "user \"%s\"", user_name);
		if (user == NULL)
			return fail(c, "context \"%s\": user \"%s\" is not among the users", cur, user_name);
		if (json_object_object_get_ex(user, "exec", &v))
			return fail(c, "%s: exec credential plugins are not supported", what);
		if (json_object_object_get_ex(user, "auth-provider", &v))
			return fail(c, "%s: auth-provider plugins are not supported", what);
		if (file_or_data(c, what, user, "client-certificate", "client-certificate-data", &k->cert_file,
				 &k->cert) != 0 ||
		    file_or_data(c, what, user, "client-key", "client-key-data", &k->key_file, &k->key) != 0)
			return -1;
		bool has_cert = k->cert_file || k->cert.data, has_key = k->key_file || k->key.data;
		if (has_cert != has_key)
			return fail(c, "%s: a client certificate needs its key and a key its certificate", what);
		const char *tok = str_of(user, "token"), *tokf = str_of(user, "tokenFile");
		if (tok != NULL)
			k->token = strdup(tok);
		else if (tokf != NULL) {
			k->token_file = resolve(c->path, tokf);
			if (k->token_file != NULL && access(k->token_file, R_OK) != 0)
				return fail(c, "%s: tokenFile %s: %s", what, k->token_file, strerror(errno));
		}
		if (str_of(user, "username") != NULL)
			return fail(c, "%s: basic authentication (username/password) is not supported", what);
	}
	if (k->context == NULL || k->server == NULL)
		return fail(c, "out of memory");
	return 0;
}

int io_kubeconfig_load(const char *path, struct io_kubeconfig *out, char *err, size_t err_len)
{
	*out = (struct io_kubeconfig){0};
	struct ctx c = {.path = path, .err = err, .err_len = err_len};
	char *text = NULL;
	size_t len = 0;
	if (read_all(&c, &text, &len) != 0) {
		free(text);
		return -1;
	}
	struct io_yaml_docs docs;
	char yerr[256];
	int rc = io_yaml_to_json(text, len, &docs, yerr, sizeof(yerr));
	explicit_bzero(text, len);
	free(text);
	if (rc != 0)
		return fail(&c, "%s", yerr);
	if (docs.n != 1) {
		fail(&c, "want one document, found %zu", docs.n);
		io_yaml_docs_free(&docs);
		return -1;
	}
	json_object *root = json_tokener_parse(docs.doc[0].json);
	explicit_bzero(docs.doc[0].json, docs.doc[0].len);
	io_yaml_docs_free(&docs);
	if (root == NULL || !json_object_is_type(root, json_type_object))
		rc = fail(&c, "not a mapping");
	else
		rc = decode(&c, root, out);
	json_object_put(root);
	if (rc != 0)
		io_kubeconfig_free(out);
	return rc;
}

static void blob_free(struct io_blob *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->len);
	free(b->data);
	*b = (struct io_blob){0};
}

void io_kubeconfig_free(struct io_kubeconfig *k)
{
	free(k->context);
	free(k->server);
	free(k->tls_server_name);
	free(k->ca_file);
	blob_free(&k->ca);
	free(k->cert_file);
	blob_free(&k->cert);
	free(k->key_file);
	blob_free(&k->key);
	if (k->token != NULL)
		explicit_bzero(k->token, strlen(k->token));
	free(k->token);
	free(k->token_file);
	free(k->namespace_);
	*k = (struct io_kubeconfig){0};
}
