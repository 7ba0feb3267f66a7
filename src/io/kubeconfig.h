/*
 * io/kubeconfig.h — a kubeconfig file (--kubeconfig) read into what the API
 * client needs: the server, how to trust it, and who we are.
 *
 * The file is YAML (or JSON), kind Config, as kubectl reads it: current-context
 * names a context, which names a cluster (server, certificate-authority or
 * certificate-authority-data, tls-server-name) and a user (client-certificate
 * and client-key, or their -data forms; token or tokenFile). Relative file paths
 * are taken from the kubeconfig's directory, as kubectl does. The -data forms
 * are base64 and are decoded here.
 *
 * TLS is always verified: insecure-skip-tls-verify is refused, and so is a
 * server that is not https://. Exec and auth-provider plugins are refused by
 * name. What is read stays in memory (PEM blobs for libcurl); nothing of it is
 * ever written anywhere (DESIGN.md contract 8). tokenFile is read again by the
 * client when it changes (projected tokens rotate); this module only keeps the
 * path.
 *
 * Ownership: every field is owned by the struct (io_kubeconfig_free, which
 * also wipes the key and the token).
 */
#ifndef LEDGERLET_IO_KUBECONFIG_H
#define LEDGERLET_IO_KUBECONFIG_H

#include <stddef.h>

struct io_blob {
	unsigned char *data;
	size_t len;
};

struct io_kubeconfig {
	char *context;         /* the context used */
	char *server;          /* https://host:port, without a trailing '/' */
	char *tls_server_name; /* NULL: the server's host */
	char *ca_file;         /* one of ca_file, ca: NULL both = the system's store */
	struct io_blob ca;
	char *cert_file; /* client certificate: a file, or cert (PEM) */
	struct io_blob cert;
	char *key_file;
	struct io_blob key;
	char *token;      /* a bearer token, or NULL */
	char *token_file; /* read by the client, or NULL */
	char *namespace_; /* the context's namespace, or NULL */
};

/*
 * Reads path. Returns 0, or -1 with err naming what is wrong ("kubeconfig
 * /etc/k.yaml: user \"node\": client-key-data: not base64").
 */
int io_kubeconfig_load(const char *path, struct io_kubeconfig *out, char *err, size_t err_len);
void io_kubeconfig_free(struct io_kubeconfig *k);

/* Standard base64 (with or without padding, whitespace ignored). 0 or -1. */
int io_base64_decode(const char *in, size_t in_len, struct io_blob *out);

#endif
