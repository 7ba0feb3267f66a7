/*
 * bench/journal_bench.c — durable appends and sequential reads of the journal.
 *
 * Appends: ~400-byte events (an api.pod with a Pod JSON) at batch sizes 1, 64
 * and 1024, each committed durably, beside raw mdb_put of the same frame bytes
 * into a bare LMDB environment with the same key scheme and the same commit
 * cadence. Rounds alternate ours/raw so drift on a noisy machine hits both; the
 * ratio is of the summed times. Reads: a 1 M-entry journal iterated and decoded
 * into fsm events (checksum, chain and decoding included), on one core.
 *
 * Prints "bench <name> <value> <unit>" lines only.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/codec.h"
#include "journal/journal.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "journal_bench: %s: %s\n", what, jnl_strerror(rc));
	exit(1);
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		die("rm", -EIO);
}

/* A Pod JSON of about 330 bytes: with the envelope the entry is ~400 bytes. */
static char pod_json[512];
static size_t pod_len;

static void make_event(struct fsm_event *e, uint64_t i)
{
	memset(e, 0, sizeof(*e));
	e->kind = FSM_EV_API_POD;
	e->ts_ms = 1000 + i;
	e->wall_ms = 1700000000000ULL + i;
	e->u.api_pod.type = FSM_WATCH_MODIFIED;
	e->u.api_pod.object = pod_json;
	e->u.api_pod.object_len = pod_len;
}

/* Our journal: n events in batches of `batch`, each committed. Seconds. */
static double run_ours(const char *dir, size_t n, size_t batch)
{
	rm_rf(dir);
	struct jnl *j;
	struct jnl_damage d;
	int rc = jnl_open(&j, dir, NULL, &d);
	if (rc != 0)
		die(d.what, rc);
	struct jnl_batch *b;
	if ((rc = jnl_batch_new(j, &b)) != 0)
		die("batch", rc);
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		struct fsm_event e;
		make_event(&e, i);
		if ((rc = jnl_batch_add(b, &e)) != 0)
			die("add", rc);
		if (jnl_batch_count(b) == batch && (rc = jnl_batch_commit(b)) != 0)
			die("commit", rc);
	}
	if ((rc = jnl_batch_commit(b)) != 0)
		die("commit", rc);
	double t = now_s() - t0;
	jnl_batch_free(b);
	jnl_close(j);
	return t;
}

/* Bare LMDB: the same frames, put with MDB_APPEND, one commit per batch. */
static double run_raw(const char *dir, size_t n, size_t batch, const struct jnl_buf *frame)
{
	rm_rf(dir);
	mkdir(dir, 0700);
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *txn;
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 4);
	mdb_env_set_mapsize(env, (size_t)1 << 30);
	int rc = mdb_env_open(env, dir, MDB_NOTLS, 0600);
	if (rc != 0)
		die("raw open", -rc);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "log", MDB_CREATE, &dbi);
	mdb_txn_commit(txn);
	double t0 = now_s();
	for (size_t i = 0; i < n; i += batch) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			die("raw begin", rc);
		for (size_t k = i; k < i + batch && k < n; k++) {
			unsigned char key[8];
			uint64_t seq = k + 1;
			for (int x = 7; x >= 0; x--, seq >>= 8)
				key[x] = (unsigned char)seq;
			MDB_val kv = {8, key}, vv = {frame->len, frame->p};
			if ((rc = mdb_put(txn, dbi, &kv, &vv, MDB_APPEND)) != 0)
				die("raw put", rc);
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			die("raw commit", rc);
	}
	double t = now_s() - t0;
	mdb_env_close(env);
	return t;
}

static void bench_appends(const char *base)
{
	char ours[512], raw[512];
	snprintf(ours, sizeof(ours), "%s/ours", base);
	snprintf(raw, sizeof(raw), "%s/raw", base);
	struct jnl_buf frame = {0};
	struct fsm_event e;
	make_event(&e, 0);
	e.seq = 1;
	uint64_t h;
	jnl_codec_entry_encode(&frame, 1, 0, &e, NULL, 0, &h);
	printf("bench journal_entry_bytes %zu bytes\n", frame.len);

	static const size_t batches[] = {1, 64, 1024};
	static const size_t counts[] = {1500, 40000, 300000};
	for (int bi = 0; bi < 3; bi++) {
		size_t batch = batches[bi], n = counts[bi];
		double t_ours = 0, t_raw = 0;
		for (int round = 0; round < 3; round++) {
			t_ours += run_ours(ours, n, batch);
			t_raw += run_raw(raw, n, batch, &frame);
		}
		printf("bench journal_append_b%zu_per_s %.0f events/s\n", batch, 3.0 * (double)n / t_ours);
		printf("bench journal_append_b%zu_raw_per_s %.0f events/s\n", batch,
		       3.0 * (double)n / t_raw);
		printf("bench journal_append_b%zu_vs_raw %.2f x\n", batch, t_raw / t_ours);
		fflush(stdout);
	}
	jnl_buf_free(&frame);
	rm_rf(ours);
	rm_rf(raw);
}

static void bench_reads(const char *base)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/read", base);
	const size_t n = 1000000;
	run_ours(dir, n, 4096);
	struct jnl *j;
	struct jnl_damage d;
	struct jnl_options ro = {.readonly = true};
	int rc = jnl_open(&j, dir, &ro, &d);
	if (rc != 0)
		die(d.what, rc);
	double best = 0;
	for (int round = 0; round < 3; round++) {
		struct jnl_iter *it;
		if ((rc = jnl_iter_open(j, 1, &it)) != 0)
			die("iter", rc);
		struct jnl_entry e;
		size_t got = 0;
		uint64_t sum = 0;
		double t0 = now_s();
		while ((rc = jnl_iter_next(it, &e, &d)) == 0) {
			got++;
			sum += e.ev.u.api_pod.object_len;
		}
		double t = now_s() - t0;
		jnl_iter_close(it);
		if (rc != JNL_EEND || got != n || sum != n * pod_len)
			die("read back", rc);
		double rate = (double)n / t;
		if (rate > best)
			best = rate;
	}
	printf("bench journal_read_per_s %.0f records/s\n", best);
	jnl_close(j);
	rm_rf(dir);
}

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : "/var/tmp/ledgerlet-bench";
	mkdir(base, 0700);
	pod_len = (size_t)snprintf(
		pod_json, sizeof(pod_json),
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-7d9f\","
		"\"namespace\":\"default\",\"uid\":\"0b6f3a52-6c1e-4f7e-9b39-2d2b7f0c9a11\","
		"\"resourceVersion\":\"123456\"},\"spec\":{\"nodeName\":\"node-1\",\"containers\":"
		"[{\"name\":\"web\",\"image\":\"127.0.0.1:5000/busybox:1\",\"command\":[\"/bin/httpd\","
		"\"-f\"]}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.88.0.7\"}}");
	bench_appends(base);
	bench_reads(base);
	rm_rf(base);
	return 0;
}
