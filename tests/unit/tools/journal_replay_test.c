/*
 * journal_replay_test.c — the operator's tool, run as a program on journals this
 * test writes: verify finds a decision that the fold no longer makes, damage is
 * named by seq, bad input names its file and line, export/import round-trips.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "fsm/fsm.h"
#include "journal/journal.h"
#include "test.h"

#define TOOL "build/journal-replay"

/* Runs a shell command; returns its exit status and its output in out. */
static int sh(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t cap, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void put_events(const char *dir, int n, const struct fsm_command *bogus_at_5)
{
	struct jnl *j;
	REQUIRE(jnl_open(&j, dir, NULL, NULL) == 0);
	struct jnl_batch *b;
	REQUIRE(jnl_batch_new(j, &b) == 0);
	struct fsm_state s;
	fsm_state_init(&s);
	struct fsm_out out = {0};
	for (int i = 1; i <= n; i++) {
		char key[32];
		snprintf(key, sizeof(key), "t-%d", i);
		struct fsm_event e = {.kind = FSM_EV_TIMER, .ts_ms = (uint64_t)i * 10, .u.timer.key = key};
		REQUIRE(jnl_batch_add(b, &e) == 0);
		fsm_out_reset(&out);
		REQUIRE(fsm_fold(&s, &e, &out) == 0);
		if (i == 5 && bogus_at_5 != NULL)
			REQUIRE(jnl_batch_decide(b, bogus_at_5, 1) == 0);
		else
			REQUIRE(jnl_batch_decide(b, out.cmds, out.n) == 0);
	}
	REQUIRE(jnl_batch_commit(b) == 0);
	jnl_batch_free(b);
	fsm_out_free(&out);
	fsm_state_free(&s);
	jnl_close(j);
}

TEST(verify_passes_an_honest_journal)
{
	char out[4096];
	put_events(test_tmpdir(), 20, NULL);
	int rc = sh(out, sizeof(out), TOOL " %s --verify 2>&1", test_tmpdir());
	CHECKF(rc == 0, "exit %d: %s", rc, out);
	CHECKF(strstr(out, "seq 20 reached by re-folding") != NULL, "%s", out);
}

TEST(verify_names_the_first_decision_that_differs)
{
	char out[4096];
	struct fsm_command bogus = {.kind = FSM_CMD_CRI_START_CONTAINER, .id = "start/x",
				    .pod_uid = "u1", .container = "web", .key = "", .image = ""};
	put_events(test_tmpdir(), 20, &bogus);
	int rc = sh(out, sizeof(out), TOOL " %s --verify 2>&1", test_tmpdir());
	CHECKF(rc == 1, "exit %d: %s", rc, out);
	CHECKF(strstr(out, "seq 5: command 0 differs") != NULL, "%s", out);
	CHECKF(strstr(out, "cri.start_container") != NULL, "%s", out);
}

TEST(import_export_round_trip_is_byte_exact)
{
	char out[4096];
	char src[600], dir[600], back[600];
	snprintf(src, sizeof(src), "%s/in.jsonl", test_tmpdir());
	snprintf(dir, sizeof(dir), "%s/j", test_tmpdir());
	snprintf(back, sizeof(back), "%s/out.jsonl", test_tmpdir());
	FILE *f = fopen(src, "w");
	REQUIRE(f != NULL);
	fputs("{\"seq\":1,\"ts_ms\":5,\"kind\":\"api.pod\",\"type\":\"ADDED\",\"object\":{\"kind\": \"Pod\" ,"
	      "\"metadata\":{\"name\":\"a\\u003cb\"}}}\n"
	      "{\"seq\":2,\"ts_ms\":6,\"wall_ms\":99,\"kind\":\"timer\",\"key\":\"k\"}\n",
	      f);
	fclose(f);
	int rc = sh(out, sizeof(out), TOOL " --import %s --journal %s 2>&1", src, dir);
	CHECKF(rc == 0, "import exit %d: %s", rc, out);
	rc = sh(out, sizeof(out), TOOL " %s --export %s 2>&1 && cmp %s %s 2>&1", dir, back, src, back);
	CHECKF(rc == 0, "export differs: %s", out);
	/* Importing into a journal that holds entries is refused. */
	rc = sh(out, sizeof(out), TOOL " --import %s --journal %s 2>&1", src, dir);
	CHECK_EQ_INT(rc, 2);
	CHECKF(strstr(out, "already holds seq 1..2") != NULL, "%s", out);
}

TEST(bad_input_names_file_and_line)
{
	char out[4096], src[600], dir[600];
	snprintf(src, sizeof(src), "%s/bad.jsonl", test_tmpdir());
	snprintf(dir, sizeof(dir), "%s/j", test_tmpdir());
	FILE *f = fopen(src, "w");
	REQUIRE(f != NULL);
	fputs("{\"ts_ms\":1,\"kind\":\"clock\"}\n\n{\"ts_ms\":2,\"kind\":\"cri.container\",\"state\":\"runing\"}\n", f);
	fclose(f);
	int rc = sh(out, sizeof(out), TOOL " --import %s --journal %s 2>&1", src, dir);
	CHECK_EQ_INT(rc, 2);
	CHECKF(strstr(out, "bad.jsonl:3:") != NULL && strstr(out, "runing") != NULL, "%s", out);
	rc = sh(out, sizeof(out), TOOL " --events %s --commands 2>&1", src);
	CHECK_EQ_INT(rc, 2);
	rc = sh(out, sizeof(out), TOOL " %s/nowhere --info 2>&1", test_tmpdir());
	CHECK_EQ_INT(rc, 2);
}

TEST(damage_is_exit_1_and_named)
{
	char out[4096];
	put_events(test_tmpdir(), 50, NULL);
	/* Flip a byte of every copy of entry 30's key string in the file. */
	int rc = sh(out, sizeof(out),
		    "/usr/bin/python3 -c \"import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); "
		    "i=b.find(b't-30');\nwhile i>=0: b[i+2]^=1; i=b.find(b't-30',i+1)\n"
		    "open(p,'wb').write(b)\" %s/data.mdb 2>&1",
		    test_tmpdir());
	REQUIRE(rc == 0);
	rc = sh(out, sizeof(out), TOOL " %s --verify 2>&1", test_tmpdir());
	CHECK_EQ_INT(rc, 1);
	CHECKF(strstr(out, "seq 30") != NULL, "%s", out);
	rc = sh(out, sizeof(out), TOOL " %s --export 2>&1 >/dev/null", test_tmpdir());
	CHECKF(strstr(out, "seq 30") != NULL, "export: %s", out);
}

/* Two pods; web crashes once. The tool's views of it. */
static const char *two_pods =
	"{\"ts_ms\":0,\"wall_ms\":1795795200000,\"kind\":\"node.config\",\"config\":{\"nodeName\":\"n1\"}}\n"
	"{\"ts_ms\":10,\"wall_ms\":1795795200010,\"kind\":\"api.pod\",\"type\":\"ADDED\",\"object\":"
	"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"u1\"},"
	"\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":\"busybox:1\"}]}}}\n"
	"{\"ts_ms\":11,\"wall_ms\":1795795200011,\"kind\":\"api.pod\",\"type\":\"ADDED\",\"object\":"
	"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"db\",\"namespace\":\"prod\",\"uid\":\"u2\"},"
	"\"spec\":{\"containers\":[{\"name\":\"db\",\"image\":\"busybox:1\"}]}}}\n"
	"{\"ts_ms\":20,\"wall_ms\":1795795200020,\"kind\":\"effect\",\"cmd\":\"sandbox/u1/0\",\"ok\":true,\"result\":\"sb1\"}\n"
	"{\"ts_ms\":21,\"wall_ms\":1795795200021,\"kind\":\"cri.sandbox\",\"pod_uid\":\"u1\",\"attempt\":0,\"id\":\"sb1\",\"state\":\"ready\",\"ip\":\"10.244.77.5\"}\n"
	"{\"ts_ms\":30,\"wall_ms\":1795795200030,\"kind\":\"effect\",\"cmd\":\"pull/u1/web/1\",\"ok\":true,\"result\":\"sha256:a\"}\n"
	"{\"ts_ms\":40,\"wall_ms\":1795795200040,\"kind\":\"effect\",\"cmd\":\"create/u1/web/0\",\"ok\":true,\"result\":\"c1\"}\n"
	"{\"ts_ms\":50,\"wall_ms\":1795795200050,\"kind\":\"effect\",\"cmd\":\"start/u1/web/0\",\"ok\":true}\n"
	"{\"ts_ms\":9000,\"wall_ms\":1795795209000,\"kind\":\"cri.container\",\"pod_uid\":\"u1\",\"name\":\"web\","
	"\"attempt\":0,\"id\":\"c1\",\"state\":\"exited\",\"exit_code\":2}\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

TEST(timeline_shows_one_pod_with_its_decisions)
{
	char out[16384], src[600];
	snprintf(src, sizeof(src), "%s/two.jsonl", test_tmpdir());
	write_file(src, two_pods);
	int rc = sh(out, sizeof(out), TOOL " %s --timeline --pod default/web 2>&1", src);
	CHECKF(rc == 0, "exit %d: %s", rc, out);
	CHECKF(strstr(out, "cri.run_sandbox sandbox/u1/0") != NULL, "%s", out);
	CHECKF(strstr(out, "web attempt 0 is exited (exit 2)") != NULL, "%s", out);
	CHECKF(strstr(out, "create/u1/web/1") != NULL, "restart decided: %s", out);
	CHECKF(strstr(out, "u2") == NULL, "the other pod leaks in: %s", out);
}

TEST(explain_names_the_event_behind_a_command)
{
	char out[16384], src[600];
	snprintf(src, sizeof(src), "%s/two.jsonl", test_tmpdir());
	write_file(src, two_pods);
	int rc = sh(out, sizeof(out), TOOL " %s --explain create/u1/web/1 2>&1", src);
	CHECKF(rc == 0, "exit %d: %s", rc, out);
	CHECKF(strstr(out, "issued by the fold of seq 9") != NULL, "%s", out);
	CHECKF(strstr(out, "=> seq 9") != NULL && strstr(out, "\"exit_code\":2") != NULL, "%s", out);
	CHECKF(strstr(out, "\"uid\":\"u2\"") == NULL, "the other pod leaks in: %s", out);
	rc = sh(out, sizeof(out), TOOL " %s --explain create/u9/x/0 2>&1", src);
	CHECK_EQ_INT(rc, 2);
}

TEST(until_and_pod_select_what_is_printed)
{
	char out[16384], src[600];
	snprintf(src, sizeof(src), "%s/two.jsonl", test_tmpdir());
	write_file(src, two_pods);
	int rc = sh(out, sizeof(out), TOOL " %s --commands --until 2 2>&1", src);
	CHECKF(rc == 0, "exit %d: %s", rc, out);
	CHECKF(strstr(out, "sandbox/u1/0") != NULL && strstr(out, "sandbox/u2/0") == NULL, "%s", out);
	rc = sh(out, sizeof(out), TOOL " %s --status --until-ts 45 --pod u1 2>&1", src);
	CHECKF(rc == 0, "exit %d: %s", rc, out);
	CHECKF(strstr(out, "\"uid\":\"u1\"") != NULL && strstr(out, "\"uid\":\"u2\"") == NULL, "%s", out);
	CHECKF(strstr(out, "\"phase\":\"Pending\"") != NULL, "before the start: %s", out);
	rc = sh(out, sizeof(out), TOOL " %s --status 2>&1", src);
	/* sorted by namespace then name: default/web before prod/db */
	char *a = strstr(out, "\"name\":\"web\""), *b = strstr(out, "\"name\":\"db\"");
	CHECKF(a != NULL && b != NULL && a < b, "%s", out);
	rc = sh(out, sizeof(out), TOOL " %s --commands --until nope 2>&1", src);
	CHECK_EQ_INT(rc, 2);
}

TEST_MAIN("tools/journal_replay", T(timeline_shows_one_pod_with_its_decisions),
	  T(explain_names_the_event_behind_a_command), T(until_and_pod_select_what_is_printed), T(verify_passes_an_honest_journal),
	  T(verify_names_the_first_decision_that_differs), T(import_export_round_trip_is_byte_exact),
	  T(bad_input_names_file_and_line), T(damage_is_exit_1_and_named))
