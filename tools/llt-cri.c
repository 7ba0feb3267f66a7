/*
 * tools/llt-cri.c — a small CRI command-line tool on ledgerlet's own CRI client
 * (effects/cri.h): what the runtime holds, and a bench client that starts pods the
 * way ledgerlet's executor does, without the agent around it.
 *
 *   llt-cri [--endpoint unix:///PATH] sandboxes  [--prefix P]
 *       ListPodSandbox; one line each: <id> <SANDBOX_READY|SANDBOX_NOTREADY>
 *       <namespace>/<name> <uid> attempt=<n>
 *   llt-cri containers [--prefix P]
 *       ListContainers; one line each: <id> <CONTAINER_CREATED|..RUNNING|..EXITED|
 *       ..UNKNOWN> <sandbox id> <name> attempt=<n> <pod uid, label io.kubernetes.pod.uid>
 *       (--prefix: only pods whose name, label io.kubernetes.pod.name, starts with P)
 *   llt-cri pull IMAGE
 *       PullImage; prints the image's ref
 *   llt-cri start-pods N --prefix P --image IMG [--concurrency C] [--host-network]
 *                        [--command 'ARGV'] [--container-name NAME] [--executor-calls]
 *       starts N one-container pods <P><i> (i = 1..N), at most C in progress at once,
 *       and prints the wall time from the first call to the last answer
 *   llt-cri remove-pods --prefix P [--timeout S]
 *       stops and removes every sandbox whose pod name starts with P, its containers
 *       first, and the pod's log directory (cleanup)
 * The endpoint defaults to $LEDGERLET_CRI_ENDPOINT. Errors name the call and its gRPC
 * status; the exit code is 1 on any failure, 2 on bad usage.
 *
 * start-pods makes, for each pod, the CRI calls that src/effects/exec.c makes for the
 * commands the fold (src/fsm/pod.c) issues for a one-container pod, with requests of
 * the same shape, and nothing else:
 *   RunPodSandbox    PodSandboxConfig as sb_msg_build(): metadata (attempt 0), labels
 *                    managed / cmd "sandbox/<uid>/0" / pod uid, name, namespace, the
 *                    attempt annotation, log directory <log root>/<ns>_<name>_<uid>
 *                    (made first, as the executor does), a hostname for pod-network
 *                    pods only, no DNSConfig (the daemon configures none), the linux
 *                    namespace options (network POD or NODE, pid CONTAINER, ipc POD)
 *                    and the cgroup parent when one is given (the daemon: --cgroup-parent)
 *   PullImage        the fold's rule: the fold learns an image only from a pull's
 *                    answer and never asks ImageStatus, so on an empty journal every
 *                    container that begins before the first PullImage has answered
 *                    pulls; later ones are created from that answer's ref
 *   CreateContainer  ContainerConfig as cc_msg_build(): metadata, image (the pull's ref,
 *                    the name as user_specified_image), the six labels, the attempt
 *                    annotation, command, log path <name>/0.log (directory made
 *                    first), cpu shares 2 (no requests), the namespace options; the
 *                    sandbox's config again (without the cmd label)
 *   StartContainer
 * With --executor-calls it also makes the executor's look-before-act and observation
 * calls (ListPodSandbox and ListContainers by the cmd label, PodSandboxStatus after the
 * run and before the create, ContainerStatus before and after the start), which
 * separates their cost from the agent's own. The daemon's 1 s relist is not made.
 *
 * Pods made here carry io.ledgerlet.managed=llt-cri where ledgerlet writes its node's
 * name: the same labels, and no ledgerlet's relist (which selects its own node name)
 * takes them for orphans of its own while a bench runs beside ledgerlets.
 *
 * Concurrency, as ledgerlet has it. The fold issues every pod's commands at once: all
 * manifests of the directory are folded in the first turn, committed, and their
 * cri.run_sandbox commands dispatched together; each later step (pull, create, start)
 * is issued when the previous one's effect is folded. Nothing limits pods: the one
 * bound is the executor's, at most FX_EXEC_CALLS_MAX (64) CRI calls in flight
 * (src/effects/exec.h; src/agent.c sets no calls_max), further calls wait in FIFO
 * order. A one-container pod has one op, hence at most one call, in flight at a time,
 * so ledgerlet has min(pods, 64) pods in progress — less when its relist (every
 * second: two lists and a status call for each sandbox or container that changed)
 * holds slots. The default --concurrency is therefore FX_EXEC_CALLS_MAX.
 *
 * Deadlines are the executor's (FX_EXEC_*_TIMEOUT_MS). All calls share one HTTP/2
 * connection, as the daemon's do; the tool drives the client's multi handle itself
 * (curl_multi_perform and curl_multi_poll), as cri.h allows tools to.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "effects/cri.h"
#include "effects/effects.h"
#include "effects/exec.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* What start-pods and remove-pods accept at most. */
#define PODS_MAX          10000
#define ARGV_MAX          64
/* The value of FX_LABEL_MANAGED on what this tool makes (see the file comment). */
#define MANAGED_VALUE     "llt-cri"
#define DEFAULT_NAMESPACE "default"
#define DEFAULT_CONTAINER "main"
#define DEFAULT_COMMAND   "/bin/sleep 3600"
/* Deadline of the listing commands' calls. */
#define LIST_TIMEOUT_MS   FX_EXEC_CALL_TIMEOUT_MS
/* curl_multi_poll's wait when nothing happens; the loop re-checks its guard then. */
#define POLL_MS           200
/* A run of start-pods or remove-pods gives up this long after it began. Every call has
 * its own deadline that curl enforces; this only bounds the loop should that fail. */
#define RUN_GUARD_MS      (30u * 60 * 1000)
/* Stop timeout of remove-pods (seconds): 0 kills at once. */
#define REMOVE_TIMEOUT_S  0
/* A pod's uid: 16 random bytes in hex, like ledgerlet's static pod uids (32 hex). */
#define UID_BYTES         16
#define SB_LABELS         5
#define CC_LABELS         6

struct opts {
	const char *endpoint;
	const char *prefix;
	const char *image;
	const char *namespace_;
	const char *container;
	const char *command;
	const char *log_root;
	const char *cgroup_parent;
	unsigned concurrency;
	unsigned timeout_s;
	bool host_network;
	bool executor_calls;
	bool verbose;
};

/* The client and the multi handle it runs on; the tool is their one driver. */
struct tool {
	CURLM *multi;
	struct cri_client *cri;
};

/* Per method: calls made and their times (what start-pods reports on stderr). */
struct call_stats {
	unsigned calls;
	unsigned failed;
	uint64_t total_us;
	uint64_t max_us;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: llt-cri [--endpoint unix:///PATH] sandboxes [--prefix P]\n"
	        "       llt-cri [--endpoint unix:///PATH] containers [--prefix P]\n"
	        "       llt-cri [--endpoint unix:///PATH] pull IMAGE\n"
	        "       llt-cri [--endpoint unix:///PATH] start-pods N --prefix P --image IMG\n"
	        "               [--concurrency C] [--host-network] [--command 'ARGV']\n"
	        "               [--container-name NAME] [--namespace NS] [--log-root DIR]\n"
	        "               [--cgroup-parent PATH] [--executor-calls] [--verbose]\n"
	        "       llt-cri [--endpoint unix:///PATH] remove-pods --prefix P [--timeout S]\n"
	        "The endpoint defaults to $LEDGERLET_CRI_ENDPOINT; --concurrency to %u\n"
	        "(ledgerlet's executor: at most that many CRI calls in flight).\n",
	        FX_EXEC_CALLS_MAX);
}

/* "llt-cri: RunPodSandbox p3: UNKNOWN: failed to ..." */
static void call_failed(enum cri_method m, const char *what, int grpc_status, const char *message)
{
	fprintf(stderr, "llt-cri: %s%s%s: %s: %s\n", cri_method_name(m), what ? " " : "",
	        what ? what : "", cri_grpc_status_name(grpc_status),
	        message && message[0] ? message : "(no message)");
}

static int tool_open(struct tool *t, const char *endpoint)
{
	memset(t, 0, sizeof(*t));
	if (endpoint == NULL || endpoint[0] == '\0') {
		fprintf(stderr, "llt-cri: no endpoint: give --endpoint unix:///PATH or set "
		                "LEDGERLET_CRI_ENDPOINT\n");
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (t->multi = curl_multi_init()) == NULL) {
		fprintf(stderr, "llt-cri: cannot set up libcurl\n");
		return -1;
	}
	int rc = cri_client_new(&t->cri, endpoint, t->multi);
	if (rc != 0) {
		fprintf(stderr, "llt-cri: endpoint %s: %s\n", endpoint, cri_strerror(rc));
		curl_multi_cleanup(t->multi);
		t->multi = NULL;
		return -1;
	}
	return 0;
}

static void tool_close(struct tool *t)
{
	if (t->cri != NULL)
		cri_client_free(t->cri);
	if (t->multi != NULL)
		curl_multi_cleanup(t->multi);
	curl_global_cleanup();
	memset(t, 0, sizeof(*t));
}

/*
 * Runs the multi handle until *finished, handing every finished transfer to the
 * client (whose callbacks may start calls). -1 when the multi handle fails or the
 * run's guard passes; calls still in flight are then dropped by tool_close.
 */
static int drive(struct tool *t, const bool *finished)
{
	uint64_t guard_us = now_us() + (uint64_t)RUN_GUARD_MS * 1000;
	while (!*finished) {
		int running = 0;
		CURLMcode mc = curl_multi_perform(t->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(t->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				cri_client_on_done(t->cri, msg);
		if (*finished)
			break;
		if (mc == CURLM_OK)
			mc = curl_multi_poll(t->multi, NULL, 0, POLL_MS, NULL);
		if (mc != CURLM_OK) {
			fprintf(stderr, "llt-cri: curl multi: %s\n", curl_multi_strerror(mc));
			return -1;
		}
		if (now_us() > guard_us) {
			fprintf(stderr, "llt-cri: gave up after %u ms with calls in flight\n",
			        RUN_GUARD_MS);
			return -1;
		}
	}
	return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return prefix == NULL || (s != NULL && strncmp(s, prefix, strlen(prefix)) == 0);
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
	return v != NULL ? v->name : "UNKNOWN_STATE";
}

/* ---- sandboxes, containers, pull ----------------------------------------------------- */

static int cmd_sandboxes(struct tool *t, const struct opts *o)
{
	Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	struct cri_reply r;
	int rc = cri_call_sync(t->cri, CRI_LIST_POD_SANDBOX, &req.base, LIST_TIMEOUT_MS, &r);
	if (rc != 0 || r.grpc_status != CRI_GRPC_OK) {
		call_failed(CRI_LIST_POD_SANDBOX, NULL, r.grpc_status, r.message);
		cri_reply_clear(&r);
		return EXIT_FAIL;
	}
	const Runtime__V1__ListPodSandboxResponse *l = (const void *)r.response;
	assert(l != NULL);
	for (size_t i = 0; i < l->n_items; i++) {
		const Runtime__V1__PodSandbox *s = l->items[i];
		const Runtime__V1__PodSandboxMetadata *md = s->metadata;
		if (!has_prefix(md != NULL ? md->name : NULL, o->prefix))
			continue;
		printf("%s %s %s/%s %s attempt=%" PRIu32 "\n", s->id,
		       enum_name(&runtime__v1__pod_sandbox_state__descriptor, (int)s->state),
		       md != NULL ? md->namespace_ : "-", md != NULL ? md->name : "-",
		       md != NULL ? md->uid : "-", md != NULL ? md->attempt : 0);
	}
	cri_reply_clear(&r);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static const char *ctr_label(const Runtime__V1__Container *c, const char *key)
{
	for (size_t i = 0; i < c->n_labels; i++)
		if (c->labels[i] != NULL && strcmp(c->labels[i]->key, key) == 0)
			return c->labels[i]->value;
	return NULL;
}

static int cmd_containers(struct tool *t, const struct opts *o)
{
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	struct cri_reply r;
	int rc = cri_call_sync(t->cri, CRI_LIST_CONTAINERS, &req.base, LIST_TIMEOUT_MS, &r);
	if (rc != 0 || r.grpc_status != CRI_GRPC_OK) {
		call_failed(CRI_LIST_CONTAINERS, NULL, r.grpc_status, r.message);
		cri_reply_clear(&r);
		return EXIT_FAIL;
	}
	const Runtime__V1__ListContainersResponse *l = (const void *)r.response;
	assert(l != NULL);
	for (size_t i = 0; i < l->n_containers; i++) {
		const Runtime__V1__Container *c = l->containers[i];
		if (!has_prefix(ctr_label(c, FX_LABEL_POD_NAME), o->prefix))
			continue;
		const char *uid = ctr_label(c, FX_LABEL_POD_UID);
		printf("%s %s %s %s attempt=%" PRIu32 " %s\n", c->id,
		       enum_name(&runtime__v1__container_state__descriptor, (int)c->state),
		       c->pod_sandbox_id, c->metadata != NULL ? c->metadata->name : "-",
		       c->metadata != NULL ? c->metadata->attempt : 0,
		       uid != NULL && uid[0] != '\0' ? uid : "-");
	}
	cri_reply_clear(&r);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static int cmd_pull(struct tool *t, const char *image)
{
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	spec.image = (char *)image;
	Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	req.image = &spec;
	struct cri_reply r;
	int rc = cri_call_sync(t->cri, CRI_PULL_IMAGE, &req.base, FX_EXEC_PULL_TIMEOUT_MS, &r);
	if (rc != 0 || r.grpc_status != CRI_GRPC_OK) {
		call_failed(CRI_PULL_IMAGE, image, r.grpc_status, r.message);
		cri_reply_clear(&r);
		return EXIT_FAIL;
	}
	const Runtime__V1__PullImageResponse *p = (const void *)r.response;
	printf("%s\n", p->image_ref);
	cri_reply_clear(&r);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

/* ---- the filesystem: the pods' log directories, as the executor makes them -------- */

/* A name that may be a path component of the log directory (the executor's rule). */
static bool path_safe(const char *s)
{
	return s != NULL && s[0] != '\0' && s[0] != '.' && strchr(s, '/') == NULL;
}

/*
 * Removes <log root>/<ns>_<name>_<uid>: its files, its directories of files, itself
 * (what the executor does when it removes a sandbox). Deeper trees are not ours.
 */
static void remove_pod_logs(const char *log_root, const char *ns, const char *name, const char *uid)
{
	if (!path_safe(ns) || !path_safe(name) || !path_safe(uid))
		return;
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/%s_%s_%s", log_root, ns, name, uid) >= (int)sizeof(dir))
		return;
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	int fd = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			unlinkat(fd, e->d_name, 0);
			continue;
		}
		DIR *sub = fdopendir(openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
		if (sub != NULL) {
			struct dirent *f;
			while ((f = readdir(sub)) != NULL)
				if (strcmp(f->d_name, ".") != 0 && strcmp(f->d_name, "..") != 0)
					unlinkat(dirfd(sub), f->d_name, 0);
			closedir(sub);
		}
		unlinkat(fd, e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
	rmdir(dir);
}

/* ---- start-pods: requests of the executor's shape ------------------------------------ */

/* One pod of start-pods. Strings are the pod's own; nothing points into a reply. */
struct pod {
	struct starter *s;
	unsigned index; /* 1..N */
	int step;       /* enum step */
	char name[254];
	char uid[UID_BYTES * 2 + 1];
	char sb_cmd[128]; /* "sandbox/<uid>/0": the sandbox's cmd label */
	char cc_cmd[384]; /* "create/<uid>/<container>/0" */
	char log_dir[PATH_MAX];
	char hostname[64];
	char sandbox_id[128];
	char container_id[128];
	uint64_t began_us, ended_us;
};

/*
 * The steps of a pod, in order. Those marked (x) are made only with --executor-calls;
 * S_PULL only while no pull has answered (the fold's rule).
 */
enum step {
	S_LIST_SANDBOX, /* (x) ListPodSandbox by the cmd label */
	S_RUN,          /* RunPodSandbox */
	S_SB_STATUS,    /* (x) PodSandboxStatus: the observation */
	S_PULL,         /* PullImage */
	S_LIST_CTR,     /* (x) ListContainers by the cmd label and sandbox */
	S_SB_STATUS2,   /* (x) PodSandboxStatus: the sandbox's network mode */
	S_CREATE,       /* CreateContainer */
	S_CTR_STATUS,   /* (x) ContainerStatus: look before the start */
	S_START,        /* StartContainer */
	S_CTR_STATUS2,  /* (x) ContainerStatus: the observation */
	S_DONE,
};

struct starter {
	const struct opts *o;
	struct tool *t;
	struct pod *pods;
	unsigned n;
	unsigned next;   /* the next pod to begin, 0-based */
	unsigned active; /* pods begun and not ended */
	unsigned ended;
	unsigned pulls;
	bool failed;     /* a pod failed: begin no more */
	bool finished;   /* nothing in flight and nothing more to begin */
	char *image_ref; /* the first pull's answer; NULL before it */
	char *argv[ARGV_MAX];
	size_t argc;
	struct call_stats stats[CRI_METHOD_COUNT];
};

static bool step_optional(enum step s)
{
	return s == S_LIST_SANDBOX || s == S_SB_STATUS || s == S_LIST_CTR || s == S_SB_STATUS2 ||
	       s == S_CTR_STATUS || s == S_CTR_STATUS2;
}

/* The pod's next step after `from` (-1: before the first). */
static enum step step_next(const struct starter *s, int from)
{
	enum step n = (enum step)(from + 1);
	while (n < S_DONE) {
		if (step_optional(n) && !s->o->executor_calls)
			n++;
		else if (n == S_PULL && s->image_ref != NULL)
			n++;
		else
			break;
	}
	return n;
}

/* PodSandboxConfig and what it points to; built on the stack for one call. */
struct sb_msg {
	Runtime__V1__PodSandboxMetadata md;
	Runtime__V1__PodSandboxConfig__LabelsEntry lab[SB_LABELS];
	Runtime__V1__PodSandboxConfig__LabelsEntry *labp[SB_LABELS];
	Runtime__V1__PodSandboxConfig__AnnotationsEntry ann;
	Runtime__V1__PodSandboxConfig__AnnotationsEntry *annp[1];
	Runtime__V1__NamespaceOption ns;
	Runtime__V1__LinuxSandboxSecurityContext sc;
	Runtime__V1__LinuxPodSandboxConfig linux;
	Runtime__V1__PodSandboxConfig config;
};

static void sb_label(struct sb_msg *m, size_t *n, const char *key, const char *value)
{
	assert(*n < SB_LABELS);
	m->lab[*n] = (Runtime__V1__PodSandboxConfig__LabelsEntry)
	        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
	m->lab[*n].key = (char *)key;
	m->lab[*n].value = (char *)value;
	m->labp[*n] = &m->lab[*n];
	(*n)++;
}

/* As sb_msg_build() in src/effects/exec.c (keep the two in step). with_cmd: the cmd
 * label, which CreateContainer's copy of the config leaves out. */
static void sb_msg_build(struct sb_msg *m, const struct pod *p, bool with_cmd)
{
	const struct opts *o = p->s->o;
	memset(m, 0, sizeof(*m));
	m->md = (Runtime__V1__PodSandboxMetadata)RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	m->md.name = (char *)p->name;
	m->md.namespace_ = (char *)o->namespace_;
	m->md.uid = (char *)p->uid;
	m->md.attempt = 0;
	size_t n = 0;
	sb_label(m, &n, FX_LABEL_MANAGED, MANAGED_VALUE);
	if (with_cmd)
		sb_label(m, &n, FX_LABEL_CMD, p->sb_cmd);
	sb_label(m, &n, FX_LABEL_POD_UID, p->uid);
	sb_label(m, &n, FX_LABEL_POD_NAME, p->name);
	sb_label(m, &n, FX_LABEL_POD_NAMESPACE, o->namespace_);
	m->ann = (Runtime__V1__PodSandboxConfig__AnnotationsEntry)
	        RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT;
	m->ann.key = FX_ANNOTATION_ATTEMPT;
	m->ann.value = "0";
	m->annp[0] = &m->ann;
	m->ns = (Runtime__V1__NamespaceOption)RUNTIME__V1__NAMESPACE_OPTION__INIT;
	m->ns.network = o->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE
	                                : RUNTIME__V1__NAMESPACE_MODE__POD;
	m->ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	m->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	m->sc = (Runtime__V1__LinuxSandboxSecurityContext)
	        RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	m->sc.namespace_options = &m->ns;
	m->linux = (Runtime__V1__LinuxPodSandboxConfig)RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	m->linux.security_context = &m->sc;
	if (o->cgroup_parent != NULL)
		m->linux.cgroup_parent = (char *)o->cgroup_parent;
	m->config = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	m->config.metadata = &m->md;
	m->config.log_directory = (char *)p->log_dir;
	/* runc refuses a hostname without a UTS namespace of the sandbox's own. */
	if (!o->host_network)
		m->config.hostname = (char *)p->hostname;
	m->config.n_labels = n;
	m->config.labels = m->labp;
	m->config.n_annotations = 1;
	m->config.annotations = m->annp;
	m->config.linux = &m->linux;
}

struct cc_msg {
	Runtime__V1__ContainerMetadata md;
	Runtime__V1__ImageSpec image;
	Runtime__V1__ContainerConfig__LabelsEntry lab[CC_LABELS];
	Runtime__V1__ContainerConfig__LabelsEntry *labp[CC_LABELS];
	Runtime__V1__ContainerConfig__AnnotationsEntry ann;
	Runtime__V1__ContainerConfig__AnnotationsEntry *annp[1];
	Runtime__V1__LinuxContainerResources res;
	Runtime__V1__NamespaceOption ns;
	Runtime__V1__LinuxContainerSecurityContext sc;
	Runtime__V1__LinuxContainerConfig linux;
	char log_path[PATH_MAX];
	Runtime__V1__ContainerConfig config;
};

static void cc_label(struct cc_msg *m, size_t *n, const char *key, const char *value)
{
	assert(*n < CC_LABELS);
	m->lab[*n] = (Runtime__V1__ContainerConfig__LabelsEntry)
	        RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
	m->lab[*n].key = (char *)key;
	m->lab[*n].value = (char *)value;
	m->labp[*n] = &m->lab[*n];
	(*n)++;
}

/* As cc_msg_build() in src/effects/exec.c for a container with a command and nothing
 * else: no env, mounts, resources (cpu shares 2), tty or stdin. */
static void cc_msg_build(struct cc_msg *m, const struct pod *p)
{
	const struct starter *s = p->s;
	const struct opts *o = s->o;
	memset(m, 0, sizeof(*m));
	m->md = (Runtime__V1__ContainerMetadata)RUNTIME__V1__CONTAINER_METADATA__INIT;
	m->md.name = (char *)o->container;
	m->md.attempt = 0;
	m->image = (Runtime__V1__ImageSpec)RUNTIME__V1__IMAGE_SPEC__INIT;
	m->image.image = s->image_ref != NULL ? s->image_ref : (char *)o->image;
	m->image.user_specified_image = (char *)o->image;
	size_t n = 0;
	cc_label(m, &n, FX_LABEL_MANAGED, MANAGED_VALUE);
	cc_label(m, &n, FX_LABEL_CMD, p->cc_cmd);
	cc_label(m, &n, FX_LABEL_POD_UID, p->uid);
	cc_label(m, &n, FX_LABEL_POD_NAME, p->name);
	cc_label(m, &n, FX_LABEL_POD_NAMESPACE, o->namespace_);
	cc_label(m, &n, FX_LABEL_CONTAINER, o->container);
	m->ann = (Runtime__V1__ContainerConfig__AnnotationsEntry)
	        RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT;
	m->ann.key = FX_ANNOTATION_ATTEMPT;
	m->ann.value = "0";
	m->annp[0] = &m->ann;
	m->res = (Runtime__V1__LinuxContainerResources)RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	m->res.cpu_shares = 2; /* MilliCPUToShares of no request */
	m->ns = (Runtime__V1__NamespaceOption)RUNTIME__V1__NAMESPACE_OPTION__INIT;
	m->ns.network = o->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE
	                                : RUNTIME__V1__NAMESPACE_MODE__POD;
	m->ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
	m->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
	m->sc = (Runtime__V1__LinuxContainerSecurityContext)
	        RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
	m->sc.namespace_options = &m->ns;
	m->linux = (Runtime__V1__LinuxContainerConfig)RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
	m->linux.resources = &m->res;
	m->linux.security_context = &m->sc;
	m->config = (Runtime__V1__ContainerConfig)RUNTIME__V1__CONTAINER_CONFIG__INIT;
	m->config.metadata = &m->md;
	m->config.image = &m->image;
	m->config.n_command = s->argc;
	m->config.command = (char **)s->argv;
	m->config.n_labels = n;
	m->config.labels = m->labp;
	m->config.n_annotations = 1;
	m->config.annotations = m->annp;
	snprintf(m->log_path, sizeof(m->log_path), "%s/0.log", o->container);
	m->config.log_path = m->log_path;
	m->config.linux = &m->linux;
}

/* ---- start-pods: the pods' steps ------------------------------------------------------ */

static void pod_on_result(void *arg, const struct cri_result *r);

static void stats_add(struct call_stats *st, const struct cri_result *r)
{
	st->calls++;
	if (r->grpc_status != CRI_GRPC_OK)
		st->failed++;
	st->total_us += r->elapsed_us;
	if (r->elapsed_us > st->max_us)
		st->max_us = r->elapsed_us;
}

static enum cri_method step_method(enum step st)
{
	switch (st) {
	case S_LIST_SANDBOX:
		return CRI_LIST_POD_SANDBOX;
	case S_RUN:
		return CRI_RUN_POD_SANDBOX;
	case S_SB_STATUS:
	case S_SB_STATUS2:
		return CRI_POD_SANDBOX_STATUS;
	case S_PULL:
		return CRI_PULL_IMAGE;
	case S_LIST_CTR:
		return CRI_LIST_CONTAINERS;
	case S_CREATE:
		return CRI_CREATE_CONTAINER;
	case S_CTR_STATUS:
	case S_CTR_STATUS2:
		return CRI_CONTAINER_STATUS;
	case S_START:
		return CRI_START_CONTAINER;
	case S_DONE:
		break;
	}
	assert(!"no call for this step");
	return CRI_METHOD_COUNT;
}

/* The request of a list by the cmd label, as the executor's call_list_*(). */
static int issue_list(struct pod *p, enum step st)
{
	struct cri_client *cri = p->s->t->cri;
	if (st == S_LIST_SANDBOX) {
		Runtime__V1__PodSandboxFilter__LabelSelectorEntry sel =
		        RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
		sel.key = FX_LABEL_CMD;
		sel.value = p->sb_cmd;
		Runtime__V1__PodSandboxFilter__LabelSelectorEntry *sels[] = {&sel};
		Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
		filter.n_label_selector = 1;
		filter.label_selector = sels;
		Runtime__V1__ListPodSandboxRequest req =
		        RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
		req.filter = &filter;
		return cri_call(cri, CRI_LIST_POD_SANDBOX, &req.base, FX_EXEC_CALL_TIMEOUT_MS,
		                pod_on_result, p);
	}
	Runtime__V1__ContainerFilter__LabelSelectorEntry sel =
	        RUNTIME__V1__CONTAINER_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	sel.key = FX_LABEL_CMD;
	sel.value = p->cc_cmd;
	Runtime__V1__ContainerFilter__LabelSelectorEntry *sels[] = {&sel};
	Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
	filter.n_label_selector = 1;
	filter.label_selector = sels;
	filter.pod_sandbox_id = p->sandbox_id;
	Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	req.filter = &filter;
	return cri_call(cri, CRI_LIST_CONTAINERS, &req.base, FX_EXEC_CALL_TIMEOUT_MS, pod_on_result,
	                p);
}

/* Starts the pod's current step's call: 0, or why it could not start. */
static int pod_issue(struct pod *p)
{
	struct starter *s = p->s;
	struct cri_client *cri = s->t->cri;
	switch ((enum step)p->step) {
	case S_LIST_SANDBOX:
	case S_LIST_CTR:
		return issue_list(p, (enum step)p->step);
	case S_RUN: {
		int rc = fx_mkdir_p(p->log_dir, 0755);
		if (rc != 0) {
			fprintf(stderr, "llt-cri: pod %s: create log directory %s: %s\n", p->name,
			        p->log_dir, strerror(-rc));
			return rc;
		}
		struct sb_msg m;
		sb_msg_build(&m, p, true);
		Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
		req.config = &m.config;
		return cri_call(cri, CRI_RUN_POD_SANDBOX, &req.base, FX_EXEC_RUN_TIMEOUT_MS,
		                pod_on_result, p);
	}
	case S_SB_STATUS:
	case S_SB_STATUS2: {
		Runtime__V1__PodSandboxStatusRequest req =
		        RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
		req.pod_sandbox_id = p->sandbox_id;
		return cri_call(cri, CRI_POD_SANDBOX_STATUS, &req.base, FX_EXEC_CALL_TIMEOUT_MS,
		                pod_on_result, p);
	}
	case S_PULL: {
		Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
		spec.image = (char *)s->o->image;
		Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
		req.image = &spec;
		s->pulls++;
		return cri_call(cri, CRI_PULL_IMAGE, &req.base, FX_EXEC_PULL_TIMEOUT_MS,
		                pod_on_result, p);
	}
	case S_CREATE: {
		char dir[PATH_MAX];
		int rc = -ENAMETOOLONG;
		int len = snprintf(dir, sizeof(dir), "%s/%s", p->log_dir, s->o->container);
		if (len > 0 && (size_t)len < sizeof(dir))
			rc = fx_mkdir_p(dir, 0755);
		if (rc != 0) {
			fprintf(stderr, "llt-cri: pod %s: create log directory %s: %s\n", p->name,
			        dir, strerror(-rc));
			return rc;
		}
		struct sb_msg sm;
		struct cc_msg cm;
		sb_msg_build(&sm, p, false);
		cc_msg_build(&cm, p);
		Runtime__V1__CreateContainerRequest req =
		        RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
		req.pod_sandbox_id = p->sandbox_id;
		req.config = &cm.config;
		req.sandbox_config = &sm.config;
		return cri_call(cri, CRI_CREATE_CONTAINER, &req.base, FX_EXEC_RUN_TIMEOUT_MS,
		                pod_on_result, p);
	}
	case S_CTR_STATUS:
	case S_CTR_STATUS2: {
		Runtime__V1__ContainerStatusRequest req =
		        RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
		req.container_id = p->container_id;
		return cri_call(cri, CRI_CONTAINER_STATUS, &req.base, FX_EXEC_CALL_TIMEOUT_MS,
		                pod_on_result, p);
	}
	case S_START: {
		Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
		req.container_id = p->container_id;
		return cri_call(cri, CRI_START_CONTAINER, &req.base, FX_EXEC_RUN_TIMEOUT_MS,
		                pod_on_result, p);
	}
	case S_DONE:
		break;
	}
	assert(!"no call for this step");
	return -EINVAL;
}

static void starter_begin_more(struct starter *s);

/* The pod has ended, well or not: make room for the next. */
static void pod_end(struct pod *p, bool ok)
{
	struct starter *s = p->s;
	assert(s->active > 0);
	p->ended_us = now_us();
	s->active--;
	s->ended++;
	if (!ok)
		s->failed = true;
	else if (s->o->verbose)
		fprintf(stderr, "llt-cri: pod %s started in %.3f s\n", p->name,
		        (double)(p->ended_us - p->began_us) / 1e6);
	starter_begin_more(s);
}

/* Moves the pod to its next step and starts that step's call. */
static void pod_advance(struct pod *p)
{
	p->step = step_next(p->s, p->step);
	if (p->step == S_DONE) {
		pod_end(p, true);
		return;
	}
	int rc = pod_issue(p);
	if (rc != 0) {
		if (rc < -40000)
			fprintf(stderr, "llt-cri: %s %s: not started: %s\n",
			        cri_method_name(step_method((enum step)p->step)), p->name,
			        cri_strerror(rc));
		pod_end(p, false);
	}
}

static bool copy_id(char *dst, size_t size, const char *src)
{
	if (src == NULL || src[0] == '\0' || strlen(src) >= size)
		return false;
	memcpy(dst, src, strlen(src) + 1);
	return true;
}

static void pod_on_result(void *arg, const struct cri_result *r)
{
	struct pod *p = arg;
	struct starter *s = p->s;
	enum step st = (enum step)p->step;
	assert(r->method == step_method(st));
	stats_add(&s->stats[r->method], r);
	if (r->grpc_status != CRI_GRPC_OK || r->response == NULL) {
		call_failed(r->method, p->name, r->grpc_status, r->message);
		pod_end(p, false);
		return;
	}
	bool ok = true;
	switch (st) {
	case S_RUN: {
		const Runtime__V1__RunPodSandboxResponse *x = (const void *)r->response;
		ok = copy_id(p->sandbox_id, sizeof(p->sandbox_id), x->pod_sandbox_id);
		break;
	}
	case S_PULL: {
		const Runtime__V1__PullImageResponse *x = (const void *)r->response;
		if (s->image_ref == NULL && x->image_ref != NULL && x->image_ref[0] != '\0')
			s->image_ref = strdup(x->image_ref);
		ok = s->image_ref != NULL;
		break;
	}
	case S_CREATE: {
		const Runtime__V1__CreateContainerResponse *x = (const void *)r->response;
		ok = copy_id(p->container_id, sizeof(p->container_id), x->container_id);
		break;
	}
	default:
		/* Look and observe: the executor acts on what it sees; a fresh pod has
		 * nothing to find, so the answers change nothing here. */
		break;
	}
	if (!ok) {
		fprintf(stderr, "llt-cri: %s %s: the answer carries no id or ref\n",
		        cri_method_name(r->method), p->name);
		pod_end(p, false);
		return;
	}
	pod_advance(p);
}

static void starter_begin_more(struct starter *s)
{
	while (!s->failed && s->next < s->n && s->active < s->o->concurrency) {
		struct pod *p = &s->pods[s->next++];
		s->active++;
		p->began_us = now_us();
		p->step = -1; /* step_next() of nothing: the first step */
		pod_advance(p);
	}
	if (s->active == 0 && (s->failed || s->next == s->n))
		s->finished = true;
}

static int random_uid(char *out, size_t size)
{
	uint8_t b[UID_BYTES];
	assert(size >= sizeof(b) * 2 + 1);
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* The kubelet's hostname of a pod-network pod: its name, 63 characters at most, no
 * trailing '-' or '.' (as pod_hostname() in exec.c). */
static void pod_hostname(const char *name, char *out, size_t size)
{
	assert(size >= 64);
	size_t len = strnlen(name, 63); /* truncation is the rule here */
	memcpy(out, name, len);
	out[len] = '\0';
	while (len > 0 && (out[len - 1] == '-' || out[len - 1] == '.'))
		out[--len] = '\0';
}

static int pods_prepare(struct starter *s)
{
	const struct opts *o = s->o;
	for (unsigned i = 0; i < s->n; i++) {
		struct pod *p = &s->pods[i];
		p->s = s;
		p->index = i + 1;
		int n = snprintf(p->name, sizeof(p->name), "%s%u", o->prefix, p->index);
		if (n < 0 || (size_t)n >= sizeof(p->name) || random_uid(p->uid, sizeof(p->uid)))
			return -1;
		snprintf(p->sb_cmd, sizeof(p->sb_cmd), "sandbox/%s/0", p->uid);
		n = snprintf(p->cc_cmd, sizeof(p->cc_cmd), "create/%s/%s/0", p->uid, o->container);
		if (n < 0 || (size_t)n >= sizeof(p->cc_cmd))
			return -1;
		n = snprintf(p->log_dir, sizeof(p->log_dir), "%s/%s_%s_%s", o->log_root,
		             o->namespace_, p->name, p->uid);
		if (n < 0 || (size_t)n >= sizeof(p->log_dir))
			return -1;
		pod_hostname(p->name, p->hostname, sizeof(p->hostname));
	}
	return 0;
}

/* Splits o->command at blanks (no quoting) into s->argv. */
static int split_command(struct starter *s, char *buf)
{
	for (char *tok = strtok(buf, " \t"); tok != NULL; tok = strtok(NULL, " \t")) {
		if (s->argc == ARGV_MAX)
			return -1;
		s->argv[s->argc++] = tok;
	}
	return s->argc > 0 ? 0 : -1;
}

static void print_stats(const struct starter *s)
{
	for (int m = 0; m < CRI_METHOD_COUNT; m++) {
		const struct call_stats *st = &s->stats[m];
		if (st->calls == 0)
			continue;
		fprintf(stderr, "llt-cri:   %-17s %4u calls%s mean %7.1f ms  max %7.1f ms\n",
		        cri_method_name((enum cri_method)m), st->calls,
		        st->failed ? " (failed)" : "", (double)st->total_us / st->calls / 1000.0,
		        (double)st->max_us / 1000.0);
	}
}

static int cmd_start_pods(struct tool *t, const struct opts *o, unsigned n)
{
	struct starter s = {.o = o, .t = t, .n = n};
	char *cmdbuf = strdup(o->command);
	s.pods = calloc(n, sizeof(*s.pods));
	int result = EXIT_FAIL;
	if (cmdbuf == NULL || s.pods == NULL) {
		fprintf(stderr, "llt-cri: out of memory\n");
		goto out;
	}
	if (split_command(&s, cmdbuf) != 0) {
		fprintf(stderr, "llt-cri: --command: want 1..%d words\n", ARGV_MAX);
		result = EXIT_USAGE;
		goto out;
	}
	if (pods_prepare(&s) != 0) {
		fprintf(stderr,
		        "llt-cri: pod names, uids or log paths: too long or no randomness\n");
		goto out;
	}
	uint64_t t0 = now_us();
	starter_begin_more(&s);
	if (drive(t, &s.finished) != 0)
		s.failed = true;
	uint64_t t1 = now_us();
	fprintf(stderr, "llt-cri: %u pods, concurrency %u, %s network, PullImage %u times%s:\n",
	        s.ended, o->concurrency, o->host_network ? "host" : "pod", s.pulls,
	        o->executor_calls ? ", with the executor's look and observe calls" : "");
	print_stats(&s);
	if (s.failed) {
		fprintf(stderr,
		        "llt-cri: start-pods failed; `llt-cri remove-pods --prefix %s` "
		        "removes what was made\n",
		        o->prefix);
		goto out;
	}
	printf("started %u pods in %.3f s\n", n, (double)(t1 - t0) / 1e6);
	result = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	free(s.image_ref);
	free(s.pods);
	free(cmdbuf);
	return result;
}

/* ---- remove-pods ------------------------------------------------------------------------ */

struct victim {
	struct remover *rm;
	char *id;
	char *ns, *name, *uid;
	char **ctrs; /* its containers' ids */
	size_t n_ctrs;
	size_t ctr; /* the container being stopped or removed */
	int step;   /* enum rm_step */
};

enum rm_step { R_STOP_CTR, R_REMOVE_CTR, R_STOP_SB, R_REMOVE_SB, R_DONE };

struct remover {
	const struct opts *o;
	struct tool *t;
	struct victim *v;
	size_t n;
	size_t next;
	unsigned active;
	bool failed;
	bool finished;
};

static void victim_on_result(void *arg, const struct cri_result *r);
static void remover_begin_more(struct remover *rm);

static int victim_issue(struct victim *v)
{
	struct cri_client *cri = v->rm->t->cri;
	uint32_t timeout_s = v->rm->o->timeout_s;
	/* The executor's deadline for a stop: its grace plus FX_EXEC_STOP_EXTRA_MS. */
	uint64_t stop_ms = (uint64_t)timeout_s * 1000 + FX_EXEC_STOP_EXTRA_MS;
	switch ((enum rm_step)v->step) {
	case R_STOP_CTR: {
		Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
		req.container_id = v->ctrs[v->ctr];
		req.timeout = timeout_s;
		return cri_call(cri, CRI_STOP_CONTAINER, &req.base, stop_ms, victim_on_result, v);
	}
	case R_REMOVE_CTR: {
		Runtime__V1__RemoveContainerRequest req =
		        RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
		req.container_id = v->ctrs[v->ctr];
		return cri_call(cri, CRI_REMOVE_CONTAINER, &req.base, stop_ms, victim_on_result, v);
	}
	case R_STOP_SB: {
		Runtime__V1__StopPodSandboxRequest req =
		        RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
		req.pod_sandbox_id = v->id;
		return cri_call(cri, CRI_STOP_POD_SANDBOX, &req.base, stop_ms, victim_on_result, v);
	}
	case R_REMOVE_SB: {
		Runtime__V1__RemovePodSandboxRequest req =
		        RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
		req.pod_sandbox_id = v->id;
		return cri_call(cri, CRI_REMOVE_POD_SANDBOX, &req.base, stop_ms, victim_on_result,
		                v);
	}
	case R_DONE:
		break;
	}
	assert(!"no call for this step");
	return -EINVAL;
}

static void victim_end(struct victim *v, bool ok)
{
	struct remover *rm = v->rm;
	assert(rm->active > 0);
	rm->active--;
	if (!ok)
		rm->failed = true;
	else
		remove_pod_logs(rm->o->log_root, v->ns, v->name, v->uid);
	remover_begin_more(rm);
}

/* The next step: each container stopped then removed, then the sandbox. */
static void victim_advance(struct victim *v)
{
	switch ((enum rm_step)v->step) {
	case R_STOP_CTR:
		v->step = R_REMOVE_CTR;
		break;
	case R_REMOVE_CTR:
		v->ctr++;
		v->step = v->ctr < v->n_ctrs ? R_STOP_CTR : R_STOP_SB;
		break;
	case R_STOP_SB:
		v->step = R_REMOVE_SB;
		break;
	case R_REMOVE_SB:
	case R_DONE:
		v->step = R_DONE;
		break;
	}
	if (v->step == R_DONE) {
		victim_end(v, true);
		return;
	}
	int rc = victim_issue(v);
	if (rc != 0) {
		fprintf(stderr, "llt-cri: sandbox %s (%s): call not started: %s\n", v->id, v->name,
		        cri_strerror(rc));
		victim_end(v, false);
	}
}

static void victim_on_result(void *arg, const struct cri_result *r)
{
	struct victim *v = arg;
	/* Gone already is what we want. */
	if (r->grpc_status != CRI_GRPC_OK && r->grpc_status != CRI_GRPC_NOT_FOUND) {
		call_failed(r->method, v->name, r->grpc_status, r->message);
		/* A stop that failed (containerd's own kill deadline passes on a loaded
		 * machine) is not the end: the removals stop what still runs (the CRI's
		 * removal is forcible), and their outcome is the pod's. */
		bool stop = v->step == R_STOP_CTR || v->step == R_STOP_SB;
		if (!stop) {
			victim_end(v, false);
			return;
		}
		fprintf(stderr, "llt-cri: %s: going on with the removal\n", v->name);
	}
	victim_advance(v);
}

static void remover_begin_more(struct remover *rm)
{
	while (rm->next < rm->n && rm->active < rm->o->concurrency) {
		struct victim *v = &rm->v[rm->next++];
		rm->active++;
		/* Go on with the others after a failure: cleanup removes what it can. */
		v->step = v->n_ctrs > 0 ? R_STOP_CTR : R_STOP_SB;
		int rc = victim_issue(v);
		if (rc != 0) {
			fprintf(stderr, "llt-cri: sandbox %s (%s): call not started: %s\n", v->id,
			        v->name, cri_strerror(rc));
			victim_end(v, false);
			return; /* victim_end began the next ones */
		}
	}
	if (rm->active == 0 && rm->next == rm->n)
		rm->finished = true;
}

static void victims_free(struct victim *v, size_t n)
{
	for (size_t i = 0; i < n && v != NULL; i++) {
		free(v[i].id);
		free(v[i].ns);
		free(v[i].name);
		free(v[i].uid);
		for (size_t k = 0; k < v[i].n_ctrs; k++)
			free(v[i].ctrs[k]);
		free(v[i].ctrs);
	}
	free(v);
}

/* The sandboxes of pods named P*, and their containers' ids, into rm->v. */
static int victims_find(struct remover *rm)
{
	Runtime__V1__ListPodSandboxRequest lreq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	struct cri_reply sr, cr;
	int rc = cri_call_sync(rm->t->cri, CRI_LIST_POD_SANDBOX, &lreq.base, LIST_TIMEOUT_MS, &sr);
	if (rc != 0 || sr.grpc_status != CRI_GRPC_OK) {
		call_failed(CRI_LIST_POD_SANDBOX, NULL, sr.grpc_status, sr.message);
		cri_reply_clear(&sr);
		return -1;
	}
	Runtime__V1__ListContainersRequest creq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	rc = cri_call_sync(rm->t->cri, CRI_LIST_CONTAINERS, &creq.base, LIST_TIMEOUT_MS, &cr);
	if (rc != 0 || cr.grpc_status != CRI_GRPC_OK) {
		call_failed(CRI_LIST_CONTAINERS, NULL, cr.grpc_status, cr.message);
		cri_reply_clear(&sr);
		cri_reply_clear(&cr);
		return -1;
	}
	const Runtime__V1__ListPodSandboxResponse *sl = (const void *)sr.response;
	const Runtime__V1__ListContainersResponse *cl = (const void *)cr.response;
	int result = 0;
	rm->v = calloc(sl->n_items + 1, sizeof(*rm->v));
	if (rm->v == NULL)
		result = -1;
	for (size_t i = 0; result == 0 && i < sl->n_items; i++) {
		const Runtime__V1__PodSandbox *s = sl->items[i];
		if (s->metadata == NULL || !has_prefix(s->metadata->name, rm->o->prefix))
			continue;
		struct victim *v = &rm->v[rm->n++];
		v->rm = rm;
		v->id = strdup(s->id);
		v->ns = strdup(s->metadata->namespace_);
		v->name = strdup(s->metadata->name);
		v->uid = strdup(s->metadata->uid);
		v->ctrs = calloc(cl->n_containers + 1, sizeof(*v->ctrs));
		if (v->id == NULL || v->ns == NULL || v->name == NULL || v->uid == NULL ||
		    v->ctrs == NULL) {
			result = -1;
			break;
		}
		for (size_t k = 0; k < cl->n_containers; k++) {
			if (strcmp(cl->containers[k]->pod_sandbox_id, s->id) != 0)
				continue;
			if ((v->ctrs[v->n_ctrs++] = strdup(cl->containers[k]->id)) == NULL) {
				result = -1;
				break;
			}
		}
	}
	if (result != 0)
		fprintf(stderr, "llt-cri: out of memory\n");
	cri_reply_clear(&sr);
	cri_reply_clear(&cr);
	return result;
}

static int cmd_remove_pods(struct tool *t, const struct opts *o)
{
	struct remover rm = {.o = o, .t = t};
	int result = EXIT_FAIL;
	if (victims_find(&rm) != 0)
		goto out;
	uint64_t t0 = now_us();
	remover_begin_more(&rm);
	if (drive(t, &rm.finished) != 0)
		rm.failed = true;
	if (rm.failed)
		goto out;
	fprintf(stderr, "llt-cri: removed %zu pods named %s* in %.3f s\n", rm.n, o->prefix,
	        (double)(now_us() - t0) / 1e6);
	result = EXIT_OK;
out:
	victims_free(rm.v, rm.n);
	return result;
}

/* ---- the command line ------------------------------------------------------------------- */

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* A pod name prefix that, with a number, makes a DNS label (what a pod name must be). */
static bool prefix_ok(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > 50 || !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= '0' && p[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
			return false;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"endpoint", required_argument, NULL, 'e'},
	        {"prefix", required_argument, NULL, 'p'},
	        {"concurrency", required_argument, NULL, 'c'},
	        {"image", required_argument, NULL, 'i'},
	        {"host-network", no_argument, NULL, 'H'},
	        {"namespace", required_argument, NULL, 'n'},
	        {"container-name", required_argument, NULL, 'N'},
	        {"command", required_argument, NULL, 'C'},
	        {"log-root", required_argument, NULL, 'l'},
	        {"cgroup-parent", required_argument, NULL, 'g'},
	        {"executor-calls", no_argument, NULL, 'x'},
	        {"timeout", required_argument, NULL, 't'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct opts o = {
	        .endpoint = getenv("LEDGERLET_CRI_ENDPOINT"),
	        .namespace_ = DEFAULT_NAMESPACE,
	        .container = DEFAULT_CONTAINER,
	        .command = DEFAULT_COMMAND,
	        .log_root = FX_EXEC_LOG_ROOT,
	        .concurrency = FX_EXEC_CALLS_MAX,
	        .timeout_s = REMOVE_TIMEOUT_S,
	};
	int c;
	while ((c = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			o.endpoint = optarg;
			break;
		case 'p':
			o.prefix = optarg;
			break;
		case 'i':
			o.image = optarg;
			break;
		case 'H':
			o.host_network = true;
			break;
		case 'n':
			o.namespace_ = optarg;
			break;
		case 'N':
			o.container = optarg;
			break;
		case 'C':
			o.command = optarg;
			break;
		case 'l':
			o.log_root = optarg;
			break;
		case 'g':
			o.cgroup_parent = optarg;
			break;
		case 'x':
			o.executor_calls = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'c':
			/* Each pod has one call in flight: the client's bound is the limit. */
			if (parse_uint(optarg, 1, CRI_CALLS_MAX, &o.concurrency) != 0) {
				fprintf(stderr, "llt-cri: --concurrency wants 1..%d, not '%s'\n",
				        CRI_CALLS_MAX, optarg);
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (parse_uint(optarg, 0, 3600, &o.timeout_s) != 0) {
				fprintf(stderr,
				        "llt-cri: --timeout wants 0..3600 seconds, not '%s'\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind++];
	const char *arg = optind < argc ? argv[optind++] : NULL;
	if (optind < argc) {
		fprintf(stderr, "llt-cri: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	bool listing = strcmp(cmd, "sandboxes") == 0 || strcmp(cmd, "containers") == 0;
	bool start = strcmp(cmd, "start-pods") == 0, removing = strcmp(cmd, "remove-pods") == 0;
	bool pull = strcmp(cmd, "pull") == 0;
	if (!listing && !start && !removing && !pull) {
		fprintf(stderr, "llt-cri: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((arg != NULL) != (start || pull)) {
		fprintf(stderr, "llt-cri: %s %s\n", cmd,
		        arg != NULL ? "takes no argument"
		        : start     ? "wants N"
		                    : "wants IMAGE");
		return EXIT_USAGE;
	}
	unsigned n = 0;
	if (start && parse_uint(arg, 1, PODS_MAX, &n) != 0) {
		fprintf(stderr, "llt-cri: start-pods wants N in 1..%d, not '%s'\n", PODS_MAX, arg);
		return EXIT_USAGE;
	}
	if ((start || removing) && (o.prefix == NULL || !prefix_ok(o.prefix))) {
		fprintf(stderr,
		        "llt-cri: %s wants --prefix P: 1..50 of a-z, 0-9 and '-', not "
		        "starting with '-'\n",
		        cmd);
		return EXIT_USAGE;
	}
	if (start && (o.image == NULL || o.image[0] == '\0')) {
		fprintf(stderr, "llt-cri: start-pods wants --image IMG\n");
		return EXIT_USAGE;
	}
	if ((start || removing) && (!path_safe(o.namespace_) || !path_safe(o.container))) {
		fprintf(stderr, "llt-cri: --namespace and --container-name must be path-safe\n");
		return EXIT_USAGE;
	}
	struct tool t;
	if (tool_open(&t, o.endpoint) != 0)
		return EXIT_FAIL;
	int rc;
	if (strcmp(cmd, "sandboxes") == 0)
		rc = cmd_sandboxes(&t, &o);
	else if (strcmp(cmd, "containers") == 0)
		rc = cmd_containers(&t, &o);
	else if (pull)
		rc = cmd_pull(&t, arg);
	else if (start)
		rc = cmd_start_pods(&t, &o, n);
	else
		rc = cmd_remove_pods(&t, &o);
	tool_close(&t);
	return rc;
}
