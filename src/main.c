/*
 * main.c — the ledgerlet daemon: flags, journal, replay, and the loop.
 *
 * Start = open the journal (one writer), verify it, rebuild the fold's state
 * from the newest snapshot and the tail, journal the effective configuration if
 * it changed, and report. The daemon then waits for signals: SIGTERM and SIGINT
 * stop it in order (a snapshot at the tip, then close). The pod machinery, the
 * io_uring reactor and the executors attach to this loop in later issues.
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
#include "replay.h"

#define DEFAULT_JOURNAL_DIR "/var/lib/ledgerlet/journal"

struct flags {
	const char *journal_dir;
	const char *node_name;
	bool recover;
	bool once; /* report and exit, without waiting for a signal */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ledgerlet [options]\n"
		"  --journal-dir DIR     where the journal lives (default %s)\n"
		"  --hostname-override N the node's name (default: the host name)\n"
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

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The event clock: ts_ms continues from the journal's floor. Across a restart it
 * advances by the wall-clock time that passed (so back-offs keep counting while
 * the daemon is down), and never goes back when the wall clock does.
 */
struct evclock {
	uint64_t base_ts_ms;
	uint64_t mono_at_base_ms;
};

static void evclock_init(struct evclock *c, const struct jnl *j)
{
	uint64_t floor = jnl_tip_ts_ms(j), last_wall = jnl_tip_wall_ms(j);
	uint64_t wall = clock_ms(CLOCK_REALTIME);
	c->base_ts_ms = floor + (last_wall != 0 && wall > last_wall ? wall - last_wall : 0);
	c->mono_at_base_ms = clock_ms(CLOCK_MONOTONIC);
}

static uint64_t evclock_now(const struct evclock *c)
{
	return c->base_ts_ms + (clock_ms(CLOCK_MONOTONIC) - c->mono_at_base_ms);
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
		name = host;
	}
	int n = snprintf(buf, len, "{\"nodeName\":\"%s\"}", name);
	return n > 0 && (size_t)n < len ? n : -1;
}

/* Journals and folds one event (group commit of one). */
static int record(struct jnl *j, struct fsm_state *s, struct fsm_event *ev)
{
	struct jnl_batch *b;
	int rc = jnl_batch_new(j, &b);
	if (rc != 0)
		return rc;
	struct fsm_out out = {0};
	rc = jnl_batch_add(b, ev);
	rc = rc ? rc : fsm_fold(s, ev, &out);
	rc = rc ? rc : jnl_batch_decide(b, out.cmds, out.n);
	rc = rc ? rc : jnl_batch_commit(b);
	fsm_out_free(&out);
	jnl_batch_free(b);
	return rc;
}

int main(int argc, char **argv)
{
	struct flags f;
	if (parse_flags(argc, argv, &f) != 0)
		return 2;

	/* Signals are read from a signalfd, never handled asynchronously. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		logf_("signalfd: %s", strerror(errno));
		return 1;
	}

	struct jnl *j = NULL;
	if (open_journal(&f, &j) != 0)
		return 1;

	uint64_t t0 = clock_ms(CLOCK_MONOTONIC);
	struct fsm_state s;
	struct replay_stats st;
	struct jnl_damage d = {0};
	int rc = replay_state(j, true, &s, &st, &d);
	if (rc != 0) {
		logf_("replay of %s failed: %s", f.journal_dir, d.what[0] ? d.what : jnl_strerror(rc));
		jnl_close(j);
		return 1;
	}
	uint64_t replay_ms = clock_ms(CLOCK_MONOTONIC) - t0;

	struct evclock clk;
	evclock_init(&clk, j);
	char cfg[512];
	int cfg_len = config_json(&f, cfg, sizeof(cfg));
	if (cfg_len < 0) {
		logf_("the node name is too long");
		return 2;
	}
	/* Quiet when healthy: an unchanged configuration is not journaled again. */
	if (s.node_config == NULL || s.node_config_len != (size_t)cfg_len ||
	    memcmp(s.node_config, cfg, (size_t)cfg_len) != 0) {
		struct fsm_event ev = {.kind = FSM_EV_NODE_CONFIG,
				       .ts_ms = evclock_now(&clk),
				       .wall_ms = clock_ms(CLOCK_REALTIME),
				       .u.node_config = {cfg, (size_t)cfg_len}};
		rc = record(j, &s, &ev);
		if (rc != 0) {
			logf_("cannot journal the configuration: %s", jnl_strerror(rc));
			jnl_close(j);
			return 1;
		}
	}
	logf_("journal %s: seq %llu..%llu, state at seq %llu (snapshot %llu + %llu folded in %llu "
	      "ms), map %zu MiB",
	      f.journal_dir, (unsigned long long)jnl_base_seq(j), (unsigned long long)jnl_tip_seq(j),
	      (unsigned long long)s.last_seq, (unsigned long long)st.snapshot_seq,
	      (unsigned long long)st.folded, (unsigned long long)replay_ms,
	      jnl_map_bytes(j) >> 20);
	logf_("ready");

	while (!f.once) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(si)) {
			logf_("signalfd read: %s", strerror(errno));
			break;
		}
		if (si.ssi_signo == SIGHUP) {
			logf_("SIGHUP: nothing to reload yet");
			continue;
		}
		logf_("%s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}

	/* A snapshot at the tip makes the next start fold nothing. */
	rc = 0;
	if (s.last_seq > st.snapshot_seq && s.last_seq == jnl_tip_seq(j)) {
		rc = jnl_snapshot_put(j, &s);
		if (rc != 0)
			logf_("snapshot at seq %llu failed: %s", (unsigned long long)s.last_seq,
			      jnl_strerror(rc));
	}
	fsm_state_free(&s);
	jnl_close(j);
	close(sfd);
	logf_("stopped");
	return rc == 0 ? 0 : 1;
}
