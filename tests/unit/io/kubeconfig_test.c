/*
 * kubeconfig_test.c — kubeconfig files as kubectl reads them: the current
 * context's cluster and user, -data forms decoded, file paths taken from the
 * kubeconfig's directory, and refusals that name what is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/kubeconfig.h"
#include "test.h"

static const char *write_file(const char *name, const char *text)
{
	static char path[8][512];
	static int k;
	char *p = path[k++ % 8];
	snprintf(p, 512, "%s/%s", test_tmpdir(), name);
	FILE *f = fopen(p, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

TEST(base64_round)
{
	struct io_blob b;
	REQUIRE(io_base64_decode("aGVsbG8gd29ybGQ=", 16, &b) == 0);
	CHECK(b.len == 11 && memcmp(b.data, "hello world", 11) == 0);
	free(b.data);
	REQUIRE(io_base64_decode("aGVs\nbG8", 8, &b) == 0);
	CHECK(b.len == 5 && memcmp(b.data, "hello", 5) == 0);
	free(b.data);
	CHECK(io_base64_decode("aGV*", 4, &b) != 0);
	CHECK(io_base64_decode("a", 1, &b) != 0);
	CHECK(io_base64_decode("aG=V", 4, &b) != 0);
}

TEST(data_forms_and_the_current_context)
{
	const char *path = write_file("kc",
				      "apiVersion: v1\nkind: Config\ncurrent-context: node\n"
				      "clusters:\n"
				      "- name: other\n  cluster: {server: 'https://10.0.0.1:6443'}\n"
				      "- name: local\n  cluster:\n    server: https://127.0.0.1:6443/\n"
				      "    certificate-authority-data: Q0EgUEVN\n"
				      "contexts:\n"
				      "- name: admin\n  context: {cluster: other, user: admin}\n"
				      "- name: node\n  context: {cluster: local, user: node, namespace: kube-system}\n"
				      "users:\n"
				      "- name: admin\n  user: {token: nope}\n"
				      "- name: node\n  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}\n");
	struct io_kubeconfig k;
	char err[512];
	REQUIRE(io_kubeconfig_load(path, &k, err, sizeof(err)) == 0);
	CHECK_EQ_STR(k.context, "node");
	CHECK_EQ_STR(k.server, "https://127.0.0.1:6443");
	CHECK(k.ca.len == 6 && memcmp(k.ca.data, "CA PEM", 6) == 0);
	CHECK(k.cert.len == 4 && memcmp(k.cert.data, "CERT", 4) == 0);
	CHECK(k.key.len == 3 && memcmp(k.key.data, "KEY", 3) == 0);
	CHECK(k.token == NULL && k.ca_file == NULL);
	CHECK_EQ_STR(k.namespace_, "kube-system");
	io_kubeconfig_free(&k);
}

TEST(files_are_relative_to_the_kubeconfig)
{
	write_file("ca.crt", "x");
	write_file("token", "t0k3n\n");
	const char *path = write_file("kc2",
				      "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
				      "clusters: [{name: k, cluster: {server: 'https://h:1', certificate-authority: ca.crt}}]\n"
				      "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
				      "users: [{name: u, user: {tokenFile: token}}]\n");
	struct io_kubeconfig k;
	char err[512];
	REQUIRE(io_kubeconfig_load(path, &k, err, sizeof(err)) == 0);
	char want[600];
	snprintf(want, sizeof(want), "%s/ca.crt", test_tmpdir());
	CHECK_EQ_STR(k.ca_file, want);
	snprintf(want, sizeof(want), "%s/token", test_tmpdir());
	CHECK_EQ_STR(k.token_file, want);
	io_kubeconfig_free(&k);
}

TEST(refusals_name_the_problem)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"kind: Config\nclusters: []\n", "no current-context"},
		{"kind: Config\ncurrent-context: x\ncontexts: []\n", "current-context \"x\" is not among the contexts"},
		{"kind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n",
		 "cluster \"k\" is not among the clusters"},
		{"kind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		 "clusters: [{name: k, cluster: {server: 'http://h:80'}}]\n",
		 "is not https://HOST[:PORT] (TLS is required)"},
		{"kind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		 "clusters: [{name: k, cluster: {server: 'https://h', insecure-skip-tls-verify: true}}]\n",
		 "insecure-skip-tls-verify is refused"},
		{"kind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		 "clusters: [{name: k, cluster: {server: 'https://h', certificate-authority-data: '**'}}]\n",
		 "cluster \"k\": certificate-authority-data: not base64"},
		{"kind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		 "clusters: [{name: k, cluster: {server: 'https://h', certificate-authority: /nonexistent/ca}}]\n",
		 "certificate-authority /nonexistent/ca: No such file or directory"},
		{"kind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
		 "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
		 "users: [{name: u, user: {exec: {command: aws}}}]\n",
		 "user \"u\": exec credential plugins are not supported"},
		{"kind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
		 "clusters: [{name: k, cluster: {server: 'https://h'}}]\n"
		 "users: [{name: u, user: {client-certificate-data: Q0VSVA==}}]\n",
		 "a client certificate needs its key"},
		{"kind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
		 "clusters: [{name: k, cluster: {server: 'https://h', certificate-authority: a, "
		 "certificate-authority-data: Q0E=}}]\n",
		 "both certificate-authority and certificate-authority-data are given"},
		{"kind: Pod\n", "kind is \"Pod\", want Config"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = write_file("bad", cases[i].text);
		struct io_kubeconfig k;
		char err[512];
		CHECKF(io_kubeconfig_load(path, &k, err, sizeof(err)) != 0, "case %zu accepted", i);
		CHECKF(strstr(err, path) != NULL && strstr(err, cases[i].want) != NULL, "case %zu: %s", i, err);
	}
}

TEST_MAIN("io/kubeconfig", T(base64_round), T(data_forms_and_the_current_context),
	  T(files_are_relative_to_the_kubeconfig), T(refusals_name_the_problem))
