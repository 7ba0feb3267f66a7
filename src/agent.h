/*
 * agent.h — the daemon's loop: the one place that knows the journal, the fold,
 * the io sources and the executors (DESIGN.md, "Modules").
 *
 * Each loop turn: the reactor runs the callbacks of what became ready; every
 * event they report goes through the sink, which stamps it, adds it to the
 * turn's batch and folds it; at the end of the turn the batch is committed (one
 * transaction, one durable commit) and only then are the commands it produced
 * dispatched (contract 1, group commit). Start is replay + reconcile
 * (contract 5): the newest snapshot and the tail are folded, the commands in
 * flight are issued again with their ids, the runtime is relisted and the
 * manifest directory scanned.
 */
#ifndef LEDGERLET_AGENT_H
#define LEDGERLET_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "fsm/fsm.h"
#include "journal/journal.h"
#include "config.h"

struct agent_config {
	const char *journal_dir;
	/* The effective configuration at start: static_pod_path (NULL: no static
	 * pods), runtime_endpoint (NULL: the journal alone), cgroup_root, fold_json
	 * (node.config). */
	const struct ll_config *conf;
	/* SIGHUP: the configuration built again (0), or -1 with err; NULL: SIGHUP
	 * only logs. What can change live: the static pod directory and the fold's
	 * node.config; the rest takes effect at the next start. */
	int (*reload)(void *arg, struct ll_config *next, char *err, size_t err_len);
	void *reload_arg;
	uint64_t relist_period_ms;    /* 0: 1000 */
	bool once;                    /* start, reconcile, report, stop */
	bool show_pods;               /* print each pod's changes as they happen */
};

/*
 * Runs the daemon on an open, verified journal until SIGTERM/SIGINT (or, with
 * once, after the start). Returns 0 on an orderly stop, else 1 after logging why.
 */
int agent_run(struct jnl *j, const struct agent_config *cfg);

#endif
