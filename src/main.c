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

#define DEFAULT_JOURNAL_DIR "/var/lib/ledgerlet/journal"

struct flags {
	const char *journal_dir;
	const char *node_name;
	const char *manifest_dir;
	const char *runtime_endpoint;
	const char *cgroup_parent;
	bool recover;
	bool once; /* report and exit, without waiting for a signal */
	bool show_pods;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ledgerlet [options]\n"
		"  --journal-dir DIR     where the journal lives (default %s)\n"
		"  --hostname-override N the node's name (default: the host name)\n"
		"  --pod-manifest-path DIR      run the static pods of DIR (JSON or YAML)\n"
		"  --container-runtime-endpoint unix:///PATH  the CRI runtime (containerd)\n"
		"  --cgroup-parent PATH  the pods' cgroup parent (cgroupfs driver)\n"
		"  --show-pods           print each pod's state changes as they happen\n"
		"  --recover-journal     keep what verifies of a damaged journal, set the rest\n"
		"                        aside under DIR/damaged-<ms>/, and start\n"
		"  --once                report the journal's state and exit\n"
		"  -h, --help\n",
		DEFAULT_JOURNAL_DIR);
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
			f->node_name = optarg;
			break;
		case 'r':
			f->recover = true;
			break;
		case 'o':
			f->once = true;
			break;
		case 'm':
			f->manifest_dir = optarg;
			break;
		case 'c':
			f->runtime_endpoint = optarg;
			break;
		case 'g':
			f->cgroup_parent = optarg;
			break;
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

/* The effective configuration, as the fold reads it. */
static int config_json(const struct flags *f, char *buf, size_t len)
{
	char host[256] = "";
	const char *name = f->node_name;
	if (name == NULL) {
		if (gethostname(host, sizeof(host) - 1) != 0)
			snprintf(host, sizeof(host), "localhost");
		/* The kubelet lower-cases the host name it uses as the node name. */
		for (char *c = host; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		name = host;
	}
	/* A node name is a DNS subdomain: lower-case letters, digits, '-' and '.'
	 * (which also keeps it safe to write into JSON as it is). */
	size_t k = strlen(name);
	if (k == 0 || k > 253 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") != k) {
		logf_("node name \"%s\" is not a DNS subdomain (lower-case letters, digits, '-', '.')",
		      name);
		return -1;
	}
	int n = snprintf(buf, len, "{\"nodeName\":\"%s\"}", name);
	return n > 0 && (size_t)n < len ? n : -1;
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

	char cfg[512];
	if (config_json(&f, cfg, sizeof(cfg)) < 0)
		return 2;
	struct jnl *j = NULL;
	if (open_journal(&f, &j) != 0)
		return 1;
	struct agent_config ac = {
		.journal_dir = f.journal_dir,
		.manifest_dir = f.manifest_dir,
		.runtime_endpoint = f.runtime_endpoint,
		.cgroup_parent = f.cgroup_parent,
		.config_json = cfg,
		.once = f.once,
		.show_pods = f.show_pods,
	};
	int rc = agent_run(j, &ac);
	jnl_close(j);
	logf_("stopped");
	return rc;
}
