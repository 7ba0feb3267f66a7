/*
 * config_test.c — the effective configuration: the KubeletConfiguration file,
 * flags over it, the fold's node.config, and errors that name the file and the
 * field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "test.h"

static char warned[2048];

static void on_warn(void *arg, const char *line)
{
	(void)arg;
	size_t n = strlen(warned);
	snprintf(warned + n, sizeof(warned) - n, "%s\n", line);
}

static const char *write_file(const char *name, const char *text)
{
	static char path[4][512];
	static int k;
	char *p = path[k++ % 4];
	snprintf(p, 512, "%s/%s", test_tmpdir(), name);
	FILE *f = fopen(p, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
	return p;
}

static int load(const struct ll_flags *f, struct ll_config *c, char *err)
{
	warned[0] = '\0';
	return ll_config_load(f, c, on_warn, NULL, err, 512);
}

TEST(defaults_without_a_file)
{
	struct ll_flags f = {.node_name = "n1"};
	struct ll_config c;
	char err[512];
	REQUIRE(load(&f, &c, err) == 0);
	CHECK_EQ_STR(c.node_name, "n1");
	CHECK(c.static_pod_path == NULL);
	CHECK(c.kubeconfig == NULL);
	CHECK(c.api_qps == 50);
	CHECK_EQ_INT(c.api_burst, 100);
	CHECK_EQ_INT(c.lease_duration_s, 40);
	CHECK_EQ_INT(c.node_status_update_ms, 10000);
	CHECK(strstr(c.fold_json, "\"nodeName\":\"n1\",\"maxPods\":110,") == c.fold_json + 1);
	CHECK(strstr(c.fold_json, "\"kubernetes.io/hostname\":\"n1\"") != NULL);
	CHECK(strstr(c.fold_json, "\"kubernetes.io/os\":\"linux\"") != NULL);
	CHECK(strstr(c.fold_json, "taints") == NULL);
	ll_config_free(&c);
}

TEST(the_file_is_read_and_flags_win)
{
	const char *path = write_file("kc.yaml",
				      "apiVersion: kubelet.config.k8s.io/v1beta1\n"
				      "kind: KubeletConfiguration\n"
				      "staticPodPath: /etc/kubernetes/manifests\n"
				      "containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n"
				      "cgroupDriver: cgroupfs\n"
				      "maxPods: 30\n"
				      "evictionHard: {memory.available: 200Mi, nodefs.available: '10%'}\n"
				      "kubeReserved: {cpu: 100m, memory: 256Mi}\n"
				      "registerWithTaints: [{key: dedicated, value: infra, effect: NoSchedule}]\n"
				      "kubeAPIQPS: 5\nkubeAPIBurst: 10\n"
				      "nodeStatusUpdateFrequency: 5s\nnodeLeaseDurationSeconds: 20\n"
				      "clusterDomain: cluster.local\n");
	struct ll_flags f = {.config_path = path, .node_name = "n1", .manifest_dir = "/tmp/m",
			     .node_labels = "zone=a,tier=web"};
	struct ll_config c;
	char err[512];
	REQUIRE(load(&f, &c, err) == 0);
	CHECK_EQ_STR(c.static_pod_path, "/tmp/m");
	CHECK_EQ_STR(c.runtime_endpoint, "unix:///run/containerd/containerd.sock");
	CHECK(c.api_qps == 5);
	CHECK_EQ_INT(c.api_burst, 10);
	CHECK_EQ_INT(c.node_status_update_ms, 5000);
	CHECK_EQ_INT(c.lease_duration_s, 20);
	CHECK(strstr(c.fold_json, "\"maxPods\":30") != NULL);
	CHECK(strstr(c.fold_json, "\"evictionHard\":{\"memory.available\":\"200Mi\",\"nodefs.available\":\"10%\"}") !=
	      NULL);
	CHECK(strstr(c.fold_json, "\"taints\":[{\"key\":\"dedicated\",\"value\":\"infra\",\"effect\":\"NoSchedule\"}]") !=
	      NULL);
	CHECK(strstr(c.fold_json, "\"kubeReserved\":{\"cpu\":\"100m\",\"memory\":\"256Mi\"}") != NULL);
	/* labels sorted: the same configuration is the same bytes */
	CHECK(strstr(c.fold_json, "\"tier\":\"web\",\"zone\":\"a\"") != NULL);
	CHECKF(strstr(warned, "clusterDomain: not used by ledgerlet; ignored") != NULL, "warned: %s", warned);
	ll_config_free(&c);

	struct ll_flags g = {.config_path = path, .node_name = "n1", .max_pods = 7,
			     .taints = "gpu:NoExecute"};
	REQUIRE(load(&g, &c, err) == 0);
	CHECK_EQ_STR(c.static_pod_path, "/etc/kubernetes/manifests");
	CHECK(strstr(c.fold_json, "\"maxPods\":7") != NULL);
	CHECK(strstr(c.fold_json, "\"taints\":[{\"key\":\"gpu\",\"effect\":\"NoExecute\"}]") != NULL);
	ll_config_free(&c);
}

/* Each bad file is refused with a message naming the file and what is wrong. */
TEST(bad_files_are_named)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"kind: Pod\napiVersion: v1\n", "kind is \"Pod\", want KubeletConfiguration"},
		{"kind: KubeletConfiguration\napiVersion: v2\n", "apiVersion is \"v2\""},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nmaxPods: lots\n",
		 "maxPods: want an integer"},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nmaxPods: 0\n",
		 "maxPods: 0 is out of range"},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
		 "evictionHard: {memory.avail: 1Gi}\n",
		 "evictionHard: unknown signal \"memory.avail\""},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
		 "evictionHard: {memory.available: lots}\n",
		 "evictionHard: \"memory.available\": \"lots\" is not a quantity"},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
		 "evictionHard: {nodefs.available: '120%'}\n",
		 "is not a percentage"},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\ncgroupDriver: systemd\n",
		 "cgroupDriver: only \"cgroupfs\""},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
		 "nodeStatusUpdateFrequency: often\n",
		 "nodeStatusUpdateFrequency: want a duration"},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
		 "registerWithTaints: [{key: a, effect: Sometimes}]\n",
		 "effect \"Sometimes\" is not"},
		{"kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n"
		 "kubeReserved: {gpu: 1}\n",
		 "kubeReserved: unknown resource \"gpu\""},
		{"kind: [unclosed\n", "did not find expected"},
		{"a: 1\n---\nb: 2\n", "want one document, found 2"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *path = write_file("bad.yaml", cases[i].text);
		struct ll_flags f = {.config_path = path, .node_name = "n1"};
		struct ll_config c;
		char err[512];
		CHECKF(load(&f, &c, err) != 0, "case %zu accepted", i);
		CHECKF(strstr(err, path) != NULL && strstr(err, cases[i].want) != NULL, "case %zu: %s", i, err);
	}
	struct ll_flags f = {.config_path = "/nonexistent/kc.yaml", .node_name = "n1"};
	struct ll_config c;
	char err[512];
	CHECK(load(&f, &c, err) != 0);
	CHECKF(strstr(err, "/nonexistent/kc.yaml: No such file or directory") != NULL, "%s", err);
}

TEST(bad_flags_are_named)
{
	static const struct {
		struct ll_flags f;
		const char *want;
	} cases[] = {
		{{.node_name = "Bad_Name"}, "node name \"Bad_Name\" is not a DNS subdomain"},
		{{.node_name = "n", .node_labels = "novalue"}, "--node-labels: \"novalue\" is not key=value"},
		{{.node_name = "n", .node_labels = "a=b c"}, "value \"b c\" is not a label value"},
		{{.node_name = "n", .node_labels = "-x=1"}, "key \"-x\" is not a qualified name"},
		{{.node_name = "n", .taints = "a=b"}, "\"a=b\" is not key[=value]:Effect"},
		{{.node_name = "n", .taints = "a=b:Never"}, "effect \"Never\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ll_config c;
		char err[512];
		CHECKF(load(&cases[i].f, &c, err) != 0, "case %zu accepted", i);
		CHECKF(strstr(err, cases[i].want) != NULL, "case %zu: %s", i, err);
	}
}

TEST(go_durations)
{
	static const struct {
		const char *s;
		int ok;
		uint64_t ms;
	} cases[] = {{"10s", 1, 10000}, {"1m30s", 1, 90000}, {"250ms", 1, 250}, {"1h", 1, 3600000},
		     {"1.5s", 1, 1500},  {"0", 1, 0},         {"", 0, 0},        {"10", 0, 0},
		     {"-1s", 0, 0},      {"5x", 0, 0},        {"s", 0, 0}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 0;
		int rc = ll_parse_duration_ms(cases[i].s, &ms);
		CHECKF((rc == 0) == cases[i].ok, "\"%s\": rc %d", cases[i].s, rc);
		if (cases[i].ok)
			CHECKF(ms == cases[i].ms, "\"%s\": %llu ms", cases[i].s, (unsigned long long)ms);
	}
}

TEST_MAIN("daemon/config", T(defaults_without_a_file), T(the_file_is_read_and_flags_win),
	  T(bad_files_are_named), T(bad_flags_are_named), T(go_durations))
