/*
 * config.h — the daemon's effective configuration: defaults, then the
 * KubeletConfiguration file (--config), then the command line, as the kubelet
 * layers them (a flag given on the command line wins over the file).
 *
 * The file is YAML or JSON, kind KubeletConfiguration, apiVersion
 * kubelet.config.k8s.io/v1beta1. The fields ledgerlet honours:
 *
 *   staticPodPath               the static pod directory (--pod-manifest-path)
 *   containerRuntimeEndpoint    unix:///PATH (--container-runtime-endpoint)
 *   cgroupRoot                  the pods' cgroup parent (--cgroup-parent)
 *   cgroupDriver                cgroupfs only (systemd is refused)
 *   maxPods                     admission limit, and the node's pods capacity
 *   evictionHard                {signal: quantity or percent}
 *   kubeReserved, systemReserved  subtracted from capacity for allocatable
 *   registerWithTaints          the node's taints at registration
 *   kubeAPIQPS, kubeAPIBurst    the API client's rate limit
 *   nodeStatusUpdateFrequency   how often node status is computed (duration)
 *   nodeStatusReportFrequency   how often an unchanged status is still sent
 *   nodeLeaseDurationSeconds    the Lease's duration
 *
 * A field of the wrong form is an error naming it; a field ledgerlet does not
 * know or implement is reported (one line each) and ignored, as the kubelet's
 * lenient decoding does. Errors name the file and the field.
 *
 * Ownership: every string of struct ll_config is owned by it (ll_config_free).
 */
#ifndef LEDGERLET_CONFIG_H
#define LEDGERLET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the command line said; NULL (or 0) for what it did not say. */
struct ll_flags {
	const char *config_path; /* --config */
	const char *node_name;   /* --hostname-override */
	const char *manifest_dir;
	const char *runtime_endpoint;
	const char *cgroup_parent;
	const char *kubeconfig;
	const char *node_labels;  /* --node-labels k=v,k2=v2 */
	const char *taints;       /* --register-with-taints k=v:Effect,... */
	const char *node_ip;      /* --node-ip */
	const char *root_dir;     /* --root-dir */
	int32_t max_pods;         /* --max-pods */
};

struct ll_config {
	char *node_name;
	char *static_pod_path; /* NULL: no static pods */
	char *runtime_endpoint;
	char *cgroup_root;
	char *kubeconfig; /* NULL: standalone */
	char *node_ip;    /* NULL: found from the routes */
	char *root_dir;   /* pods' volumes: <root_dir>/pods/<uid>/volumes (LL_DEFAULT_ROOT_DIR) */
	double api_qps;
	int32_t api_burst;
	uint32_t node_status_update_ms;
	uint32_t node_status_report_ms;
	uint32_t lease_duration_s;
	/* The fold's node.config (JSON): nodeName, maxPods, evictionHard, labels,
	 * taints, reserved. */
	char *fold_json;
};

#define LL_DEFAULT_MAX_PODS 110
#define LL_DEFAULT_ROOT_DIR "/var/lib/ledgerlet"
/* The Kubernetes release whose kubelet ledgerlet behaves as (nodeInfo.kubeletVersion). */
#define LL_KUBELET_VERSION "v1.34.0+ledgerlet"

/*
 * Builds the effective configuration. Returns 0, or -1 with err naming what is
 * wrong ("config /etc/ll.yaml: evictionHard: \"memory.available\": ...").
 * warn (may be NULL) receives one line per ignored field.
 */
int ll_config_load(const struct ll_flags *f, struct ll_config *out,
		   void (*warn)(void *arg, const char *line), void *warn_arg, char *err, size_t err_len);
void ll_config_free(struct ll_config *c);

/* Parses a Go duration ("10s", "1m30s", "250ms", "1h"). 0 or -1. */
int ll_parse_duration_ms(const char *s, uint64_t *ms);

#endif
