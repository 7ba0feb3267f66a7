/*
 * io/nodeinfo.h — the machine facts a kubelet reports in its Node object:
 * capacity (cpu, memory, hugepages, ephemeral storage), addresses, the
 * kubelet's endpoint and nodeInfo (ids, kernel, OS image, versions, arch).
 *
 * The facts are read the way the kubelet (pkg/kubelet/nodestatus) and cAdvisor
 * (machine/) read them, and come out as one compact JSON document whose keys
 * are in a fixed order, so equal facts give equal bytes: the daemon journals
 * the document only when it changes.
 *
 *   {"hostIP":IP,
 *    "node":{"capacity":{"cpu":"2","ephemeral-storage":"..","hugepages-1Gi":"0",
 *                        "hugepages-2Mi":"0","memory":".."},
 *            "addresses":[{"type":"InternalIP","address":IP},
 *                         {"type":"Hostname","address":NODE}],
 *            "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},
 *            "nodeInfo":{"machineID","systemUUID","bootID","kernelVersion","osImage",
 *                        "containerRuntimeVersion","kubeletVersion",
 *                        "kubeProxyVersion":"","operatingSystem":"linux",
 *                        "architecture"}}}
 *
 * Quantities are written in Kubernetes' canonical binary form (what
 * resource.NewQuantity(n, BinarySI).String() gives, and what the API server
 * stores): below 1024 a plain number, else the largest power of 1024 that
 * divides the value exactly ("6Mi", "1Gi", "16318756Ki"). Capacity keys come in
 * byte order, as Go's encoder writes a map.
 *
 * The node IP, when not given, is the first global IPv4 address of the default
 * route's interface (/proc/net/route), else the first global IPv4 address of an
 * up, non-loopback interface, else 127.0.0.1. Unlike the kubelet this does not
 * resolve the node name in DNS first: collecting facts never waits on the
 * network.
 *
 * Only file reads are redirected by opts.root (tests build a fake /proc, /sys
 * and /etc); uname(2), statfs(2) and getifaddrs(3) always see the real machine.
 */
#ifndef LEDGERLET_IO_NODEINFO_H
#define LEDGERLET_IO_NODEINFO_H

#include <stddef.h>
#include <stdint.h>

#define IO_NODEINFO_KUBELET_PORT       10250
#define IO_NODEINFO_HUGEPAGE_SIZES_MAX 16          /* page sizes reported; more is an error */
#define IO_NODEINFO_FILE_BYTES_MAX     (64 * 1024) /* per file read; longer files are cut */
#define IO_NODEINFO_QUANTITY_LEN       32          /* enough for any uint64 quantity */

struct io_nodeinfo_opts {
	const char *node_name;       /* the Hostname address; required, non-empty */
	const char *node_ip;         /* NULL or "": detect */
	const char *runtime_version; /* "containerd://1.6.20", or NULL/"" when unknown */
	const char *kubelet_version; /* e.g. "v1.34.0+ledgerlet"; NULL: "" */
	const char *ephemeral_path;  /* statfs'd for ephemeral-storage capacity; NULL: "/" */
	const char *root;            /* prefix for /proc, /sys, /etc, /usr reads; NULL: "" */
	int kubelet_port;            /* daemonEndpoints.kubeletEndpoint.Port; 0: 10250 */
};

/*
 * Builds the facts as JSON into *out (NUL-terminated, malloc'd; the caller
 * frees it). Returns 0, or -1 with *out NULL and err naming what could not be
 * read or what is wrong ("/proc/meminfo: No such file or directory",
 * "node IP \"10.0.0.300\": not an IPv4 or IPv6 address").
 *
 * Errors: an unreadable /etc/machine-id (and /var/lib/dbus/machine-id),
 * /proc/sys/kernel/random/boot_id or /proc/meminfo, a meminfo without
 * MemTotal, an unreadable nr_hugepages, statfs or uname failing, a node_ip that
 * is not an IP literal (or is unspecified or multicast). Not errors: a missing
 * product_uuid (systemUUID ""), a missing os-release (osImage "Unknown"; one
 * without PRETTY_NAME gives "Linux", as cAdvisor does), a missing hugepages
 * directory (no hugepages-* keys).
 */
int io_nodeinfo_collect(const struct io_nodeinfo_opts *o, char **out, char *err, size_t err_len);

/*
 * Writes bytes as a canonical binary-SI Kubernetes quantity into buf
 * (IO_NODEINFO_QUANTITY_LEN bytes suffice): 0 → "0", 1000 → "1000",
 * 6291456 → "6Mi", 1536 → "1536". Returns buf.
 */
char *io_nodeinfo_quantity(uint64_t bytes, char *buf, size_t len);

#endif
