/*
 * nodeinfo_test.c — the Node's machine facts: sane on the real machine and the
 * same bytes each time; exact, key for key, over a fake /proc, /sys and /etc;
 * quantities in Kubernetes' canonical form; refusals that name what is wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "io/nodeinfo.h"
#include "test.h"

/* Writes root/rel (making its directories), or fails the test. */
static void put(const char *root, const char *rel, const char *text)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			test_fail(__FILE__, __LINE__, "mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		test_fail(__FILE__, __LINE__, "fopen %s: %s", path, strerror(errno));
		return;
	}
	fputs(text, f);
	fclose(f);
}

/* A fresh fake root under the test's tmpdir, holding every file collect reads. */
static const char *fake_root(const char *name)
{
	static char root[1024];
	snprintf(root, sizeof(root), "%s/%s", test_tmpdir(), name);
	mkdir(root, 0755);
	put(root, "proc/meminfo",
	    "MemTotal:        2041220 kB\nMemFree:          123456 kB\nHugePages_Total: 3\n");
	put(root, "proc/sys/kernel/random/boot_id", "8f2c1d6e-0b6a-4a57-9a43-2d1c5e7f9a10\n");
	put(root, "etc/machine-id", "  0123456789abcdef0123456789abcdef\n");
	put(root, "etc/os-release",
	    "NAME=\"Debian GNU/Linux\"\nID=debian\n"
	    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm) \\\"x\\\"\"\nVERSION_ID=\"12\"\n");
	put(root, "sys/class/dmi/id/product_uuid", "4C4C4544-0042-3510-8052-B4C04F4E4B32\n");
	put(root, "sys/devices/system/cpu/online", "0-3,6\n");
	put(root, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "3\n");
	put(root, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n");
	put(root, "proc/net/route",
	    "Iface\tDestination\tGateway "
	    "\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n");
	return root;
}

static struct io_nodeinfo_opts opts_for(const char *root)
{
	struct io_nodeinfo_opts o = {
	        .node_name = "node-a",
	        .node_ip = "10.0.2.15",
	        .runtime_version = "containerd://1.6.20",
	        .kubelet_version = "v1.34.0+ledgerlet",
	        .ephemeral_path = NULL,
	        .root = root,
	};
	return o;
}

static const char *get_str(struct json_object *o, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	struct json_object *cur = o;
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k != NULL;
	     k = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(cur, k, &cur))
			return NULL;
	return json_object_get_string(cur);
}

/* The keys of an object, joined by ',' in the order they appear. */
static const char *keys_of(struct json_object *o)
{
	static char buf[1024];
	buf[0] = '\0';
	json_object_object_foreach(o, k, v)
	{
		(void)v;
		size_t n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "," : "", k);
	}
	return buf;
}

static uint64_t real_memtotal_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	if (f == NULL)
		return 0;
	char line[256];
	unsigned long long kb = 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

TEST(quantities_are_canonical_binary_si)
{
	char q[IO_NODEINFO_QUANTITY_LEN];
	CHECK_EQ_STR(io_nodeinfo_quantity(0, q, sizeof(q)), "0");
	CHECK_EQ_STR(io_nodeinfo_quantity(1000, q, sizeof(q)), "1000");
	CHECK_EQ_STR(io_nodeinfo_quantity(1023, q, sizeof(q)), "1023");
	CHECK_EQ_STR(io_nodeinfo_quantity(1024, q, sizeof(q)), "1Ki");
	CHECK_EQ_STR(io_nodeinfo_quantity(1536, q, sizeof(q)), "1536");
	CHECK_EQ_STR(io_nodeinfo_quantity(1536 * 1024, q, sizeof(q)), "1536Ki");
	CHECK_EQ_STR(io_nodeinfo_quantity(3 * 2097152ull, q, sizeof(q)), "6Mi");
	CHECK_EQ_STR(io_nodeinfo_quantity(1ull << 30, q, sizeof(q)), "1Gi");
	CHECK_EQ_STR(io_nodeinfo_quantity(2041220ull * 1024, q, sizeof(q)), "2041220Ki");
	CHECK_EQ_STR(io_nodeinfo_quantity(1ull << 60, q, sizeof(q)), "1Ei");
	CHECK_EQ_STR(io_nodeinfo_quantity(1ull << 62, q, sizeof(q)), "4Ei");
	CHECK_EQ_STR(io_nodeinfo_quantity(UINT64_MAX, q, sizeof(q)), "18446744073709551615");
}

TEST(real_machine_is_sane_and_stable)
{
	struct io_nodeinfo_opts o = {
	        .node_name = "node-a",
	        .runtime_version = "containerd://1.6.20",
	        .kubelet_version = "v1.34.0+ledgerlet",
	};
	char err[256] = "";
	char *a = NULL, *b = NULL;
	REQUIRE(io_nodeinfo_collect(&o, &a, err, sizeof(err)) == 0);
	CHECKF(io_nodeinfo_collect(&o, &b, err, sizeof(err)) == 0, "%s", err);
	CHECKF(b != NULL && strcmp(a, b) == 0, "two collects differ:\n%s\n%s", a, b ? b : "");
	CHECK(strchr(a, '\n') == NULL && strstr(a, "\": ") == NULL); /* compact */
	CHECK(strstr(a, "\"containerd://1.6.20\"") != NULL);         /* no "\/" */

	struct json_object *j = json_tokener_parse(a);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(keys_of(j), "hostIP,node");
	struct json_object *node = NULL, *cap = NULL, *info = NULL;
	json_object_object_get_ex(j, "node", &node);
	json_object_object_get_ex(node, "capacity", &cap);
	json_object_object_get_ex(node, "nodeInfo", &info);
	REQUIRE(node != NULL && cap != NULL && info != NULL);
	CHECK_EQ_STR(keys_of(node), "capacity,addresses,daemonEndpoints,nodeInfo");
	CHECK_EQ_STR(keys_of(info), "machineID,systemUUID,bootID,kernelVersion,osImage,"
	                            "containerRuntimeVersion,kubeletVersion,kubeProxyVersion,"
	                            "operatingSystem,architecture");
	/* Capacity keys in byte order, cpu first and memory last. */
	const char *prev = "";
	json_object_object_foreach(cap, k, v)
	{
		(void)v;
		CHECKF(strcmp(prev, k) < 0, "capacity key %s after %s", k, prev);
		prev = k;
	}
	CHECK(strncmp(keys_of(cap), "cpu,ephemeral-storage,", 22) == 0);
	CHECK_EQ_STR(prev, "memory");

	const char *cpu = get_str(j, "node.capacity.cpu");
	CHECK(cpu != NULL && atol(cpu) >= 1);
	const char *mem = get_str(j, "node.capacity.memory");
	REQUIRE(mem != NULL);
	uint64_t kb = real_memtotal_kb();
	char want[IO_NODEINFO_QUANTITY_LEN];
	CHECK_EQ_STR(mem, io_nodeinfo_quantity(kb * 1024, want, sizeof(want)));
	if (kb % 1024 != 0) /* a MemTotal of whole MiB is written as Mi */
		CHECK(strlen(mem) > 2 && strcmp(mem + strlen(mem) - 2, "Ki") == 0 &&
		      atoll(mem) > 0);
	const char *eph = get_str(j, "node.capacity.ephemeral-storage");
	CHECK(eph != NULL && atoll(eph) > 0);

	const char *ip = get_str(j, "hostIP");
	struct in_addr a4;
	CHECK(ip != NULL && inet_pton(AF_INET, ip, &a4) == 1);
	struct json_object *addrs = NULL;
	json_object_object_get_ex(node, "addresses", &addrs);
	REQUIRE(addrs != NULL && json_object_array_length(addrs) == 2);
	CHECK_EQ_STR(get_str(json_object_array_get_idx(addrs, 0), "type"), "InternalIP");
	CHECK_EQ_STR(get_str(json_object_array_get_idx(addrs, 0), "address"), ip);
	CHECK_EQ_STR(get_str(json_object_array_get_idx(addrs, 1), "type"), "Hostname");
	CHECK_EQ_STR(get_str(json_object_array_get_idx(addrs, 1), "address"), "node-a");
	CHECK_EQ_STR(get_str(j, "node.daemonEndpoints.kubeletEndpoint.Port"), "10250");

	struct utsname u;
	uname(&u);
	CHECK_EQ_STR(get_str(info, "kernelVersion"), u.release);
	CHECK_EQ_STR(get_str(info, "operatingSystem"), "linux");
	if (strcmp(u.machine, "x86_64") == 0)
		CHECK_EQ_STR(get_str(info, "architecture"), "amd64");
	if (strcmp(u.machine, "aarch64") == 0)
		CHECK_EQ_STR(get_str(info, "architecture"), "arm64");
	const char *mid = get_str(info, "machineID");
	CHECK(mid != NULL && mid[0] != '\0' && strchr(mid, '\n') == NULL);
	const char *bid = get_str(info, "bootID");
	CHECK(bid != NULL && strlen(bid) == 36);
	CHECK_EQ_STR(get_str(info, "containerRuntimeVersion"), "containerd://1.6.20");
	CHECK_EQ_STR(get_str(info, "kubeletVersion"), "v1.34.0+ledgerlet");
	CHECK_EQ_STR(get_str(info, "kubeProxyVersion"), "");
	json_object_put(j);
	free(a);
	free(b);
}

TEST(fake_root_gives_exact_facts)
{
	const char *root = fake_root("exact");
	struct io_nodeinfo_opts o = opts_for(root);
	char err[256] = "";
	char *out = NULL;
	REQUIRE(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == 0);

	/* uname and statfs stay real: the expected document takes them from the machine. */
	struct utsname u;
	struct statfs s;
	REQUIRE(uname(&u) == 0 && statfs("/", &s) == 0);
	char eph[IO_NODEINFO_QUANTITY_LEN];
	io_nodeinfo_quantity((uint64_t)s.f_blocks * (uint64_t)s.f_frsize, eph, sizeof(eph));
	const char *arch = strcmp(u.machine, "x86_64") == 0    ? "amd64"
	                   : strcmp(u.machine, "aarch64") == 0 ? "arm64"
	                                                       : u.machine;
	char want[2048];
	snprintf(want, sizeof(want),
	         "{\"hostIP\":\"10.0.2.15\",\"node\":{\"capacity\":{\"cpu\":\"5\","
	         "\"ephemeral-storage\":\"%s\",\"hugepages-1Gi\":\"0\",\"hugepages-2Mi\":\"6Mi\","
	         "\"memory\":\"2041220Ki\"},"
	         "\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.0.2.15\"},"
	         "{\"type\":\"Hostname\",\"address\":\"node-a\"}],"
	         "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10250}},"
	         "\"nodeInfo\":{\"machineID\":\"0123456789abcdef0123456789abcdef\","
	         "\"systemUUID\":\"4c4c4544-0042-3510-8052-b4c04f4e4b32\","
	         "\"bootID\":\"8f2c1d6e-0b6a-4a57-9a43-2d1c5e7f9a10\","
	         "\"kernelVersion\":\"%s\","
	         "\"osImage\":\"Debian GNU/Linux 12 (bookworm) \\\"x\\\"\","
	         "\"containerRuntimeVersion\":\"containerd://1.6.20\","
	         "\"kubeletVersion\":\"v1.34.0+ledgerlet\",\"kubeProxyVersion\":\"\","
	         "\"operatingSystem\":\"linux\",\"architecture\":\"%s\"}}}",
	         eph, u.release, arch);
	CHECK_EQ_STR(out, want);
	free(out);
}

TEST(optional_files_missing_are_not_errors)
{
	const char *root = fake_root("optional");
	char path[1100];
	snprintf(path, sizeof(path), "%s/sys/class/dmi/id/product_uuid", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/etc/os-release", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
	         root);
	unlink(path);
	*strrchr(path, '/') = '\0';
	rmdir(path);
	struct io_nodeinfo_opts o = opts_for(root);
	o.runtime_version = NULL;
	o.kubelet_port = 10255;
	char err[256] = "";
	char *out = NULL;
	REQUIRE(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == 0);
	struct json_object *j = json_tokener_parse(out);
	REQUIRE(j != NULL);
	CHECK_EQ_STR(get_str(j, "node.nodeInfo.systemUUID"), "");
	CHECK_EQ_STR(get_str(j, "node.nodeInfo.osImage"), "Unknown");
	CHECK_EQ_STR(get_str(j, "node.nodeInfo.containerRuntimeVersion"), "");
	CHECK_EQ_STR(get_str(j, "node.capacity.hugepages-1Gi"), "0");
	CHECK(get_str(j, "node.capacity.hugepages-2Mi") == NULL);
	CHECK_EQ_STR(get_str(j, "node.daemonEndpoints.kubeletEndpoint.Port"), "10255");
	json_object_put(j);
	free(out);

	/* An os-release that does not name itself: "Linux", as cAdvisor says. */
	put(root, "etc/os-release", "ID=custom\n");
	REQUIRE(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == 0);
	CHECK(strstr(out, "\"osImage\":\"Linux\"") != NULL);
	free(out);
	/* Single quotes, and the /usr/lib copy when /etc has none. */
	snprintf(path, sizeof(path), "%s/etc/os-release", root);
	unlink(path);
	put(root, "usr/lib/os-release", "PRETTY_NAME='Clear Linux OS'\n");
	REQUIRE(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == 0);
	CHECK(strstr(out, "\"osImage\":\"Clear Linux OS\"") != NULL);
	free(out);
}

TEST(node_ip_is_checked_and_written_as_go_writes_it)
{
	const char *root = fake_root("ip");
	struct io_nodeinfo_opts o = opts_for(root);
	char err[256];
	char *out = (char *)1;
	static const char *const bad[] = {"10.0.0.300", "eth0",      "10.0.2",       "0.0.0.0",
	                                  "::",         "224.0.0.1", "fe80::1%eth0", " 10.0.2.15"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.node_ip = bad[i];
		err[0] = '\0';
		CHECKF(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == -1, "%s accepted",
		       bad[i]);
		CHECK(out == NULL);
		CHECKF(strstr(err, bad[i]) != NULL && strstr(err, "node IP") != NULL,
		       "err \"%s\" does not name %s", err, bad[i]);
	}
	o.node_ip = "FD00:0:0::1";
	REQUIRE(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == 0);
	CHECK(strstr(out, "{\"hostIP\":\"fd00::1\",") == out);
	CHECK(strstr(out, "{\"type\":\"InternalIP\",\"address\":\"fd00::1\"}") != NULL);
	free(out);
	o.node_ip = "::ffff:10.1.2.3";
	REQUIRE(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == 0);
	CHECK(strstr(out, "{\"hostIP\":\"10.1.2.3\",") == out);
	free(out);
}

TEST(node_ip_is_detected_without_a_default_route)
{
	/* The fake route table has no default route: the interface scan or 127.0.0.1 answers. */
	const char *root = fake_root("detect");
	struct io_nodeinfo_opts o = opts_for(root);
	o.node_ip = NULL;
	char err[256] = "";
	char *out = NULL;
	REQUIRE(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == 0);
	struct json_object *j = json_tokener_parse(out);
	REQUIRE(j != NULL);
	const char *ip = get_str(j, "hostIP");
	struct in_addr a4;
	CHECK(ip != NULL && inet_pton(AF_INET, ip, &a4) == 1);
	/* A default route through an interface that does not exist changes nothing. */
	put(root, "proc/net/route",
	    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	    "nosuch0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n");
	char *again = NULL;
	REQUIRE(io_nodeinfo_collect(&o, &again, err, sizeof(err)) == 0);
	CHECK_EQ_STR(again, out);
	json_object_put(j);
	free(out);
	free(again);
}

TEST(missing_required_files_are_named)
{
	struct {
		const char *rel, *named;
	} cases[] = {
	        {"etc/machine-id", "/etc/machine-id"},
	        {"proc/sys/kernel/random/boot_id", "/proc/sys/kernel/random/boot_id"},
	        {"proc/meminfo", "/proc/meminfo"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "missing%zu", i);
		const char *root = fake_root(name);
		char path[1100];
		snprintf(path, sizeof(path), "%s/%s", root, cases[i].rel);
		REQUIRE(unlink(path) == 0);
		struct io_nodeinfo_opts o = opts_for(root);
		char err[256] = "";
		char *out = (char *)1;
		CHECKF(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == -1, "%s", cases[i].rel);
		CHECK(out == NULL);
		CHECKF(strstr(err, cases[i].named) != NULL, "err \"%s\" does not name %s", err,
		       cases[i].named);
	}
}

TEST(machine_id_falls_back_to_dbus_and_meminfo_needs_memtotal)
{
	const char *root = fake_root("fallback");
	char path[1100];
	snprintf(path, sizeof(path), "%s/etc/machine-id", root);
	REQUIRE(unlink(path) == 0);
	put(root, "var/lib/dbus/machine-id", "fedcba9876543210fedcba9876543210\n");
	struct io_nodeinfo_opts o = opts_for(root);
	char err[256] = "";
	char *out = NULL;
	REQUIRE(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == 0);
	CHECK(strstr(out, "\"machineID\":\"fedcba9876543210fedcba9876543210\"") != NULL);
	free(out);

	put(root, "proc/meminfo", "MemFree: 12 kB\n");
	CHECK(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "/proc/meminfo") != NULL && strstr(err, "MemTotal") != NULL, "%s", err);
	put(root, "proc/meminfo", "MemTotal: lots kB\n");
	CHECK(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "MemTotal") != NULL, "%s", err);
}

TEST(bad_ephemeral_path_and_empty_node_name_are_refused)
{
	const char *root = fake_root("refused");
	struct io_nodeinfo_opts o = opts_for(root);
	o.ephemeral_path = "/no/such/dir/for/ledgerlet";
	char err[256] = "";
	char *out = NULL;
	CHECK(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "/no/such/dir/for/ledgerlet") != NULL, "%s", err);
	o = opts_for(root);
	o.node_name = "";
	CHECK(io_nodeinfo_collect(&o, &out, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "node name") != NULL, "%s", err);
}

TEST_MAIN("io/nodeinfo", T(quantities_are_canonical_binary_si), T(real_machine_is_sane_and_stable),
          T(fake_root_gives_exact_facts), T(optional_files_missing_are_not_errors),
          T(node_ip_is_checked_and_written_as_go_writes_it),
          T(node_ip_is_detected_without_a_default_route), T(missing_required_files_are_named),
          T(machine_id_falls_back_to_dbus_and_meminfo_needs_memtotal),
          T(bad_ephemeral_path_and_empty_node_name_are_refused))
