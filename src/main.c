/*
 * main.c — the ledgerlet daemon: flags, journal, replay, and the loop.
 *
 * Start = open the journal (one writer) and verify it; agent.c then rebuilds
 * the fold's state from the newest snapshot and the tail, journals the
 * effective configuration if it changed, reconciles with the runtime and the
 * manifests, and runs the loop until SIGTERM or SIGINT (a snapshot at the tip,
 * then close).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "fsm/fsm.h"
#include "journal/journal.h"
#include "agent.h"
#include "config.h"

#define DEFAULT_JOURNAL_DIR "/var/lib/ledgerlet/journal"

struct flags {
	const char *journal_dir;
	struct ll_flags ll;
	bool recover;
	bool once; /* report and exit, without waiting for a signal */
	bool show_pods;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ledgerlet [options]\n"
		"  --journal-dir DIR     where the journal lives (default %s)\n"
		"  --config FILE         a KubeletConfiguration (YAML or JSON); flags win over it;\n"
		"                        SIGHUP reads it again\n"
		"  --hostname-override N the node's name (default: the host name)\n"
		"  --pod-manifest-path DIR      run the static pods of DIR (JSON or YAML)\n"
		"  --container-runtime-endpoint unix:///PATH  the CRI runtime (containerd)\n"
		"  --cgroup-parent PATH  the pods' cgroup parent (cgroupfs driver)\n"
		"  --max-pods N          pods this node admits (default 110)\n"
		"  --kubeconfig FILE     join the cluster of FILE's API server\n"
		"  --node-labels k=v,... labels of the node, beside the kubelet's own\n"
		"  --register-with-taints k=v:Effect,...  taints of the node\n"
		"  --node-ip IP          the node's address (default: of the default route)\n"
		"  --root-dir DIR        where pods' volumes live (default: the journal's parent\n"
		"                        directory, %s with the default journal)\n"
		"  --show-pods           print each pod's state changes as they happen\n"
		"  --recover-journal     keep what verifies of a damaged journal, set the rest\n"
		"                        aside under DIR/damaged-<ms>/, and start\n"
		"  --once                report the journal's state and exit\n"
		"  -h, --help\n",
		DEFAULT_JOURNAL_DIR, LL_DEFAULT_ROOT_DIR);
}

static int parse_flags(int argc, char **argv, struct flags *f)
{
	static const struct option opts[] = {
		{"journal-dir", required_argument, NULL, 'j'},
		{"hostname-override", required_argument, NULL, 'n'},
		{"recover-journal", no_argument, NULL, 'r'},
		{"once", no_argument, NULL, 'o'},
		{"pod-manifest-path", required_argument, NULL, 'm'},
		{"container-runtime-endpoint", required_argument, NULL, 'c'},
		{"cgroup-parent", required_argument, NULL, 'g'},
		{"config", required_argument, NULL, 'C'},
		{"kubeconfig", required_argument, NULL, 'K'},
		{"node-labels", required_argument, NULL, 'L'},
		{"register-with-taints", required_argument, NULL, 'T'},
		{"node-ip", required_argument, NULL, 'I'},
		{"root-dir", required_argument, NULL, 'R'},
		{"max-pods", required_argument, NULL, 'P'},
		{"show-pods", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*f = (struct flags){.journal_dir = DEFAULT_JOURNAL_DIR};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			f->journal_dir = optarg;
			break;
		case 'n':
			f->ll.node_name = optarg;
			break;
		case 'r':
			f->recover = true;
			break;
		case 'o':
			f->once = true;
			break;
		case 'm':
			f->ll.manifest_dir = optarg;
			break;
		case 'c':
			f->ll.runtime_endpoint = optarg;
			break;
		case 'g':
			f->ll.cgroup_parent = optarg;
			break;
		case 'C':
			f->ll.config_path = optarg;
			break;
		case 'K':
			f->ll.kubeconfig = optarg;
			break;
		case 'L':
			f->ll.node_labels = optarg;
			break;
		case 'T':
			f->ll.taints = optarg;
			break;
		case 'I':
			f->ll.node_ip = optarg;
			break;
		case 'R':
			f->ll.root_dir = optarg;
			break;
		case 'P': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 10000) {
				fprintf(stderr, "ledgerlet: --max-pods: \"%s\" is not a number 1..10000\n", optarg);
				return -1;
			}
			f->ll.max_pods = (int32_t)v;
			break;
		}
		case 's':
			f->show_pods = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ledgerlet: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "ledgerlet: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}


static int open_journal(const struct flags *f, struct jnl **j)
{
	struct jnl_damage d;
	int rc = jnl_open(j, f->journal_dir, NULL, &d);
	if (rc == 0) {
		rc = jnl_verify(*j, &d);
		if (rc != 0) {
			jnl_close(*j);
			*j = NULL;
		}
	}
	if (rc == 0)
		return 0;
	bool damage = jnl_is_damage(rc);
	logf_("journal %s: %s", f->journal_dir, d.what[0] ? d.what : jnl_strerror(rc));
	if (!damage || !f->recover) {
		if (damage)
			logf_("refusing to start on a damaged journal; start once with "
			      "--recover-journal to keep what verifies and set the rest aside");
		return rc;
	}
	struct jnl_recovery rep;
	rc = jnl_recover(f->journal_dir, &rep, &d);
	if (rc != 0) {
		logf_("recovery of %s failed: %s", f->journal_dir, jnl_strerror(rc));
		return rc;
	}
	if (rep.kept_last >= rep.kept_first)
		logf_("recovery: kept seq %llu..%llu", (unsigned long long)rep.kept_first,
		      (unsigned long long)rep.kept_last);
	else
		logf_("recovery: kept no entries");
	logf_("recovery: set aside %llu entries (from seq %llu) and %llu snapshots in %s "
	      "(the damaged file is there too)",
	      (unsigned long long)rep.aside_entries, (unsigned long long)rep.aside_first,
	      (unsigned long long)rep.aside_snapshots, rep.aside_dir);
	if (d.what[0])
		logf_("recovery: first fault: %s", d.what);
	rc = jnl_open(j, f->journal_dir, NULL, &d);
	if (rc == 0)
		rc = jnl_verify(*j, &d);
	if (rc != 0)
		logf_("journal %s after recovery: %s", f->journal_dir, d.what);
	return rc;
}

static void config_warn(void *arg, const char *line)
{
	(void)arg;
	logf_("%s", line);
}

/* SIGHUP: the same flags over the file as it is now. */
static int config_reload(void *arg, struct ll_config *next, char *err, size_t err_len)
{
	const struct flags *f = arg;
	return ll_config_load(&f->ll, next, config_warn, NULL, err, err_len);
}

int main(int argc, char **argv)
{
	struct flags f;
	if (parse_flags(argc, argv, &f) != 0)
		return 2;
	/* Signals are blocked before anything else, and read from a signalfd. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	struct ll_config conf;
	char err[512];
	if (ll_config_load(&f.ll, &conf, config_warn, NULL, err, sizeof(err)) != 0) {
		logf_("%s", err);
		return 2;
	}
	struct jnl *j = NULL;
	if (open_journal(&f, &j) != 0) {
		ll_config_free(&conf);
		return 1;
	}
	/* Without --root-dir, the pods' directories live beside the journal: in its
	 * parent directory (/var/lib/ledgerlet for the default journal). */
	static char root[PATH_MAX];
	if (f.ll.root_dir == NULL && realpath(f.journal_dir, root) != NULL) {
		char *slash = strrchr(root, '/');
		if (slash != NULL)
			*(slash == root ? slash + 1 : slash) = '\0';
		f.ll.root_dir = root;
		char *dup = strdup(root);
		if (dup != NULL) {
			free(conf.root_dir);
			conf.root_dir = dup;
		}
	}
	struct agent_config ac = {
		.journal_dir = f.journal_dir,
		.conf = &conf,
		.once = f.once,
		.show_pods = f.show_pods,
		.reload = f.ll.config_path != NULL ? config_reload : NULL,
		.reload_arg = &f,
	};
	int rc = agent_run(j, &ac);
	jnl_close(j);
	ll_config_free(&conf);
	logf_("stopped");
	return rc;
}
