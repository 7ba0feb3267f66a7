/*
 * io/nodeinfo.c — the machine facts of the Node object (see nodeinfo.h).
 *
 * Each fact is read into a fixed-size field of struct facts first, and the JSON
 * is built from that struct only once everything was read, so a failure leaves
 * nothing half-built behind and the key order lives in one function (emit).
 */
#include "io/nodeinfo.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#define ID_LEN      256 /* machine-id, boot_id, product_uuid: 32–36 chars in practice */
#define TEXT_LEN    512 /* kernel release, PRETTY_NAME, architecture */
#define IP_LEN      INET6_ADDRSTRLEN
#define HP_NAME_LEN 48
#define CPUS_MAX    (1 << 20) /* a bound on the online list's ranges, far above any machine */
#define ROUTES_MAX  4096      /* lines of /proc/net/route looked at */

struct hugepage {
	char name[HP_NAME_LEN]; /* "hugepages-2Mi" */
	uint64_t bytes;         /* nr_hugepages × page size */
};

struct facts {
	long cpus;
	uint64_t memory_bytes;
	uint64_t ephemeral_bytes;
	struct hugepage hp[IO_NODEINFO_HUGEPAGE_SIZES_MAX];
	size_t hp_len;
	char ip[IP_LEN];
	char machine_id[ID_LEN];
	char system_uuid[ID_LEN];
	char boot_id[ID_LEN];
	char kernel[TEXT_LEN];
	char os_image[TEXT_LEN];
	char arch[TEXT_LEN];
};

struct ctx {
	const char *root;
	char *err;
	size_t err_len;
};

static int fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ctx *c, const char *fmt, ...)
{
	if (c->err_len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err, c->err_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Reads root+path into buf (NUL-terminated, at most cap-1 bytes; the rest of a
 * longer file is ignored). Returns 0 or -errno.
 */
static int read_file(const struct ctx *c, const char *path, char *buf, size_t cap)
{
	assert(cap > 0);
	char full[PATH_MAX];
	int n = snprintf(full, sizeof(full), "%s%s", c->root, path);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -ENAMETOOLONG;
	int fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	assert(len < cap);
	return 0;
}

/* Copies the first line of src, without surrounding whitespace, into dst. */
static void trim_into(char *dst, size_t cap, const char *src)
{
	while (isspace((unsigned char)*src))
		src++;
	size_t n = strcspn(src, "\n");
	while (n > 0 && isspace((unsigned char)src[n - 1]))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

char *io_nodeinfo_quantity(uint64_t bytes, char *buf, size_t len)
{
	static const char *const suffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
	size_t exp = 0;
	/* Below 1024 Kubernetes writes the plain number, whatever divides it. */
	if (bytes >= 1024) {
		while (exp + 1 < sizeof(suffix) / sizeof(suffix[0]) && bytes % 1024 == 0) {
			bytes /= 1024;
			exp++;
		}
	}
	snprintf(buf, len, "%" PRIu64 "%s", bytes, suffix[exp]);
	return buf;
}

/* Counts the CPUs of a kernel cpu list ("0-3,6,8-9"); 0 when it does not parse. */
static long cpu_list_count(const char *s)
{
	long count = 0;
	while (*s != '\0' && *s != '\n') {
		char *end;
		errno = 0;
		unsigned long lo = strtoul(s, &end, 10);
		if (end == s || errno != 0)
			return 0;
		unsigned long hi = lo;
		s = end;
		if (*s == '-') {
			hi = strtoul(s + 1, &end, 10);
			if (end == s + 1 || errno != 0 || hi < lo)
				return 0;
			s = end;
		}
		if (hi - lo >= CPUS_MAX || count + (long)(hi - lo + 1) > CPUS_MAX)
			return 0;
		count += (long)(hi - lo + 1);
		if (*s == ',')
			s++;
		else if (*s != '\0' && *s != '\n')
			return 0;
	}
	return count;
}

/*
 * Logical CPUs online: the kernel's online list (cAdvisor counts the CPUs of
 * the topology in sysfs), else sysconf.
 */
static int read_cpus(struct ctx *c, struct facts *f)
{
	char buf[4096];
	f->cpus = 0;
	if (read_file(c, "/sys/devices/system/cpu/online", buf, sizeof(buf)) == 0)
		f->cpus = cpu_list_count(buf);
	if (f->cpus <= 0)
		f->cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (f->cpus <= 0)
		return fail(c, "cannot count online CPUs");
	assert(f->cpus >= 1);
	return 0;
}

static int read_memory(struct ctx *c, struct facts *f)
{
	char buf[IO_NODEINFO_FILE_BYTES_MAX];
	int rc = read_file(c, "/proc/meminfo", buf, sizeof(buf));
	if (rc < 0)
		return fail(c, "/proc/meminfo: %s", strerror(-rc));
	for (const char *line = buf; line != NULL && *line != '\0';) {
		if (strncmp(line, "MemTotal:", 9) == 0) {
			char *end;
			errno = 0;
			unsigned long long kb = strtoull(line + 9, &end, 10);
			while (*end == ' ' || *end == '\t')
				end++;
			if (errno != 0 || end == line + 9 || strncmp(end, "kB", 2) != 0 ||
			    kb == 0 || kb > UINT64_MAX / 1024)
				return fail(c, "/proc/meminfo: MemTotal does not parse");
			f->memory_bytes = (uint64_t)kb * 1024;
			return 0;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
	return fail(c, "/proc/meminfo: no MemTotal");
}

static int hugepage_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hugepage *)a)->name, ((const struct hugepage *)b)->name);
}

/*
 * One capacity entry per page size the kernel offers, named as the kubelet
 * names it (hugepages-<page size as a quantity>), sorted by name.
 */
static int read_hugepages(struct ctx *c, struct facts *f)
{
	static const char dir_path[] = "/sys/kernel/mm/hugepages";
	char full[PATH_MAX];
	snprintf(full, sizeof(full), "%s%s", c->root, dir_path);
	f->hp_len = 0;
	DIR *d = opendir(full);
	if (d == NULL)
		return 0; /* a kernel without hugetlbfs: no hugepages-* resources */
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		unsigned long long kb = 0;
		int end_pos = -1;
		if (sscanf(e->d_name, "hugepages-%llukB%n", &kb, &end_pos) != 1 || end_pos < 0 ||
		    e->d_name[end_pos] != '\0' || kb == 0 || kb > UINT64_MAX / 1024)
			continue;
		if (f->hp_len == IO_NODEINFO_HUGEPAGE_SIZES_MAX) {
			rc = fail(c, "%s: more than %d page sizes", dir_path,
			          IO_NODEINFO_HUGEPAGE_SIZES_MAX);
			break;
		}
		char path[PATH_MAX], buf[64];
		snprintf(path, sizeof(path), "%s/%s/nr_hugepages", dir_path, e->d_name);
		int r = read_file(c, path, buf, sizeof(buf));
		if (r < 0) {
			rc = fail(c, "%s: %s", path, strerror(-r));
			break;
		}
		char *end;
		errno = 0;
		unsigned long long pages = strtoull(buf, &end, 10);
		uint64_t page_bytes = (uint64_t)kb * 1024;
		if (errno != 0 || end == buf || (pages > 0 && page_bytes > UINT64_MAX / pages)) {
			rc = fail(c, "%s: does not parse", path);
			break;
		}
		struct hugepage *h = &f->hp[f->hp_len++];
		char q[IO_NODEINFO_QUANTITY_LEN];
		snprintf(h->name, sizeof(h->name), "hugepages-%s",
		         io_nodeinfo_quantity(page_bytes, q, sizeof(q)));
		h->bytes = page_bytes * pages;
	}
	closedir(d);
	if (rc == 0)
		qsort(f->hp, f->hp_len, sizeof(f->hp[0]), hugepage_cmp);
	assert(f->hp_len <= IO_NODEINFO_HUGEPAGE_SIZES_MAX);
	return rc;
}

static int read_ephemeral(struct ctx *c, struct facts *f, const char *path)
{
	struct statfs s;
	if (statfs(path, &s) != 0)
		return fail(c, "statfs %s: %s", path, strerror(errno));
	f->ephemeral_bytes = (uint64_t)s.f_blocks * (uint64_t)s.f_frsize;
	return 0;
}

/* The first file of paths that can be read, trimmed; -errno of the last one if none. */
static int read_id(struct ctx *c, const char *const *paths, size_t n, char *dst, size_t cap)
{
	char buf[ID_LEN];
	int rc = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		rc = read_file(c, paths[i], buf, sizeof(buf));
		if (rc == 0) {
			trim_into(dst, cap, buf);
			return 0;
		}
	}
	return rc;
}

static int read_ids(struct ctx *c, struct facts *f)
{
	/* cAdvisor's --machine_id_file default: the D-Bus copy serves older systems. */
	static const char *const machine_id[] = {"/etc/machine-id", "/var/lib/dbus/machine-id"};
	static const char *const boot_id[] = {"/proc/sys/kernel/random/boot_id"};
	static const char *const uuid[] = {"/sys/class/dmi/id/product_uuid"};
	int rc = read_id(c, machine_id, 2, f->machine_id, sizeof(f->machine_id));
	if (rc < 0)
		return fail(c, "/etc/machine-id: %s", strerror(-rc));
	if (f->machine_id[0] == '\0')
		return fail(c, "/etc/machine-id: empty");
	rc = read_id(c, boot_id, 1, f->boot_id, sizeof(f->boot_id));
	if (rc < 0)
		return fail(c, "%s: %s", boot_id[0], strerror(-rc));
	if (f->boot_id[0] == '\0')
		return fail(c, "%s: empty", boot_id[0]);
	/* product_uuid is root-only and absent on many VMs and boards: "" then. */
	if (read_id(c, uuid, 1, f->system_uuid, sizeof(f->system_uuid)) < 0)
		f->system_uuid[0] = '\0';
	for (char *p = f->system_uuid; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

/*
 * PRETTY_NAME of os-release, unquoted, as cAdvisor's getOperatingSystem gives
 * it: /etc/os-release, else /usr/lib/os-release; "Linux" when neither names
 * itself, "Unknown" when neither can be read.
 */
static void read_os_image(struct ctx *c, struct facts *f)
{
	char buf[IO_NODEINFO_FILE_BYTES_MAX];
	if (read_file(c, "/etc/os-release", buf, sizeof(buf)) < 0 &&
	    read_file(c, "/usr/lib/os-release", buf, sizeof(buf)) < 0) {
		snprintf(f->os_image, sizeof(f->os_image), "Unknown");
		return;
	}
	snprintf(f->os_image, sizeof(f->os_image), "Linux");
	for (const char *line = buf; line != NULL && *line != '\0';) {
		if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
			const char *v = line + 12;
			size_t n = strcspn(v, "\n");
			char q = (n > 0 && (v[0] == '"' || v[0] == '\'')) ? v[0] : '\0';
			size_t o = 0;
			for (size_t i = q ? 1 : 0; i < n && o + 1 < sizeof(f->os_image); i++) {
				if (q != '\0' && v[i] == q)
					break;
				/* Shell escapes inside double quotes (os-release(5)). */
				if (q == '"' && v[i] == '\\' && i + 1 < n &&
				    strchr("\"\\$`", v[i + 1]) != NULL)
					i++;
				f->os_image[o++] = v[i];
			}
			f->os_image[o] = '\0';
			return;
		}
		line = strchr(line, '\n');
		if (line != NULL)
			line++;
	}
}

/* uname's machine as Go's GOARCH, which is what the kubelet reports. */
static const char *goarch(const char *machine)
{
	static const struct {
		const char *uname, *go;
	} map[] = {
	        {"x86_64", "amd64"},       {"amd64", "amd64"},
	        {"aarch64", "arm64"},      {"arm64", "arm64"},
	        {"aarch64_be", "arm64be"}, {"i386", "386"},
	        {"i486", "386"},           {"i586", "386"},
	        {"i686", "386"},           {"ppc64le", "ppc64le"},
	        {"ppc64", "ppc64"},        {"s390x", "s390x"},
	        {"riscv64", "riscv64"},    {"loongarch64", "loong64"},
	        {"mips64", "mips64"},      {"mips", "mips"},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(machine, map[i].uname) == 0)
			return map[i].go;
	if (strncmp(machine, "armv", 4) == 0 || strcmp(machine, "arm") == 0)
		return "arm";
	return machine;
}

static int read_uname(struct ctx *c, struct facts *f)
{
	struct utsname u;
	if (uname(&u) != 0)
		return fail(c, "uname: %s", strerror(errno));
	snprintf(f->kernel, sizeof(f->kernel), "%s", u.release);
	snprintf(f->arch, sizeof(f->arch), "%s", goarch(u.machine));
	return 0;
}

/*
 * Go's IP.IsGlobalUnicast for IPv4 (host order): not 0/8, loopback, link-local,
 * multicast or broadcast.
 */
static bool ipv4_global(uint32_t a)
{
	return (a >> 24) != 0 && (a >> 24) != 127 && (a >> 16) != 0xa9fe && (a >> 28) != 0xe &&
	       a != 0xffffffffu;
}

/* Whether ifa_name is the interface name, or one of its labels ("eth0:1"). */
static bool ifname_is(const char *ifa_name, const char *name)
{
	size_t n = strlen(name);
	return strncmp(ifa_name, name, n) == 0 && (ifa_name[n] == '\0' || ifa_name[n] == ':');
}

/*
 * The first global IPv4 address of interface name (NULL: of any up,
 * non-loopback interface), in getifaddrs' order. false when there is none.
 */
static bool ifaddr_ipv4(const struct ifaddrs *list, const char *name, char *ip, size_t cap)
{
	for (const struct ifaddrs *i = list; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (name != NULL ? !ifname_is(i->ifa_name, name)
		                 : (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)))
			continue;
		const struct in_addr *a =
		        &((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr;
		if (!ipv4_global(ntohl(a->s_addr)))
			continue;
		return inet_ntop(AF_INET, a, ip, (socklen_t)cap) != NULL;
	}
	return false;
}

/* The interface of the default IPv4 route with the lowest metric; false when there is none. */
static bool default_route_ifname(struct ctx *c, char *name, size_t cap)
{
	char buf[IO_NODEINFO_FILE_BYTES_MAX];
	if (read_file(c, "/proc/net/route", buf, sizeof(buf)) < 0)
		return false;
	bool found = false;
	unsigned long best_metric = 0;
	const char *line = strchr(buf, '\n'); /* skip the header */
	for (int k = 0; line != NULL && k < ROUTES_MAX; k++) {
		line++;
		char ifname[IF_NAMESIZE + 1];
		unsigned long dest, flags, metric, mask;
		int refcnt, use;
		unsigned long gw;
		if (sscanf(line, "%16s %lx %lx %lx %d %d %lu %lx", ifname, &dest, &gw, &flags,
		           &refcnt, &use, &metric, &mask) == 8 &&
		    dest == 0 && mask == 0 && (flags & RTF_UP) &&
		    (!found || metric < best_metric)) {
			snprintf(name, cap, "%s", ifname);
			best_metric = metric;
			found = true;
		}
		line = strchr(line, '\n');
	}
	return found;
}

static int detect_ip(struct ctx *c, struct facts *f)
{
	struct ifaddrs *list = NULL;
	if (getifaddrs(&list) != 0)
		list = NULL; /* then only the fallback is left */
	char ifname[IF_NAMESIZE + 1];
	bool ok = false;
	if (list != NULL && default_route_ifname(c, ifname, sizeof(ifname)))
		ok = ifaddr_ipv4(list, ifname, f->ip, sizeof(f->ip));
	if (!ok && list != NULL)
		ok = ifaddr_ipv4(list, NULL, f->ip, sizeof(f->ip));
	if (!ok)
		snprintf(f->ip, sizeof(f->ip), "127.0.0.1");
	freeifaddrs(list);
	return 0;
}

/*
 * A given node IP, checked and written as Go's net.IP.String() would (an
 * IPv4-mapped IPv6 address as IPv4), since the kubelet parses it.
 */
static int given_ip(struct ctx *c, struct facts *f, const char *s)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, s, &a4) == 1) {
		uint32_t h = ntohl(a4.s_addr);
		if (h == 0 || (h >> 28) == 0xe)
			return fail(c, "node IP \"%s\": unspecified or multicast", s);
		inet_ntop(AF_INET, &a4, f->ip, sizeof(f->ip));
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6) != 1)
		return fail(c, "node IP \"%s\": not an IPv4 or IPv6 address", s);
	if (IN6_IS_ADDR_UNSPECIFIED(&a6) || IN6_IS_ADDR_MULTICAST(&a6))
		return fail(c, "node IP \"%s\": unspecified or multicast", s);
	if (IN6_IS_ADDR_V4MAPPED(&a6))
		inet_ntop(AF_INET, &a6.s6_addr[12], f->ip, sizeof(f->ip));
	else
		inet_ntop(AF_INET6, &a6, f->ip, sizeof(f->ip));
	return 0;
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

static void add_qty(struct json_object *o, const char *key, uint64_t bytes)
{
	char q[IO_NODEINFO_QUANTITY_LEN];
	add_str(o, key, io_nodeinfo_quantity(bytes, q, sizeof(q)));
}

static struct json_object *address(const char *type, const char *addr)
{
	struct json_object *a = json_object_new_object();
	add_str(a, "type", type);
	add_str(a, "address", addr);
	return a;
}

/* The document, keys in the order nodeinfo.h shows (json-c keeps insertion order). */
static char *emit(const struct io_nodeinfo_opts *o, const struct facts *f)
{
	struct json_object *root = json_object_new_object();
	struct json_object *node = json_object_new_object();
	struct json_object *cap = json_object_new_object();
	struct json_object *addrs = json_object_new_array();
	struct json_object *ep = json_object_new_object();
	struct json_object *kep = json_object_new_object();
	struct json_object *info = json_object_new_object();

	char cpus[24];
	snprintf(cpus, sizeof(cpus), "%ld", f->cpus);
	add_str(cap, "cpu", cpus);
	add_qty(cap, "ephemeral-storage", f->ephemeral_bytes);
	/* Sorted; every hugepages-* name sorts between ephemeral-storage and memory. */
	for (size_t i = 0; i < f->hp_len; i++)
		add_qty(cap, f->hp[i].name, f->hp[i].bytes);
	add_qty(cap, "memory", f->memory_bytes);

	json_object_array_add(addrs, address("InternalIP", f->ip));
	json_object_array_add(addrs, address("Hostname", o->node_name));

	json_object_object_add(
	        kep, "Port",
	        json_object_new_int(o->kubelet_port ? o->kubelet_port : IO_NODEINFO_KUBELET_PORT));
	json_object_object_add(ep, "kubeletEndpoint", kep);

	add_str(info, "machineID", f->machine_id);
	add_str(info, "systemUUID", f->system_uuid);
	add_str(info, "bootID", f->boot_id);
	add_str(info, "kernelVersion", f->kernel);
	add_str(info, "osImage", f->os_image);
	add_str(info, "containerRuntimeVersion", o->runtime_version ? o->runtime_version : "");
	add_str(info, "kubeletVersion", o->kubelet_version ? o->kubelet_version : "");
	add_str(info, "kubeProxyVersion", "");
	add_str(info, "operatingSystem", "linux");
	add_str(info, "architecture", f->arch);

	json_object_object_add(node, "capacity", cap);
	json_object_object_add(node, "addresses", addrs);
	json_object_object_add(node, "daemonEndpoints", ep);
	json_object_object_add(node, "nodeInfo", info);
	add_str(root, "hostIP", f->ip);
	json_object_object_add(root, "node", node);

	const char *s = json_object_to_json_string_ext(
	        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *out = s ? strdup(s) : NULL;
	json_object_put(root);
	return out;
}

int io_nodeinfo_collect(const struct io_nodeinfo_opts *o, char **out, char *err, size_t err_len)
{
	assert(o != NULL);
	assert(out != NULL);
	*out = NULL;
	struct ctx c = {.root = o->root ? o->root : "", .err = err, .err_len = err_len};
	if (o->node_name == NULL || o->node_name[0] == '\0')
		return fail(&c, "node name is empty");
	struct facts *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return fail(&c, "out of memory");
	int rc = 0;
	if (rc == 0)
		rc = (o->node_ip && o->node_ip[0]) ? given_ip(&c, f, o->node_ip) : detect_ip(&c, f);
	if (rc == 0)
		rc = read_cpus(&c, f);
	if (rc == 0)
		rc = read_memory(&c, f);
	if (rc == 0)
		rc = read_hugepages(&c, f);
	if (rc == 0)
		rc = read_ephemeral(&c, f, o->ephemeral_path ? o->ephemeral_path : "/");
	if (rc == 0)
		rc = read_ids(&c, f);
	if (rc == 0)
		rc = read_uname(&c, f);
	if (rc == 0) {
		read_os_image(&c, f);
		*out = emit(o, f);
		if (*out == NULL)
			rc = fail(&c, "out of memory");
	}
	free(f);
	assert(rc == 0 || *out == NULL);
	assert(rc != 0 || (*out)[0] == '{');
	return rc;
}
