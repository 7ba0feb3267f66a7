/*
 * tests/unit/test.c — runs a file's tests, one line each (see test.h).
 */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int test_failed;
const char *test_name;
uint64_t test_seed;

static const char *suite_name;
static uint64_t seed_start; /* the run's seed: LEDGERLET_SEED reproduces it */
static char tmp_root[256];
static char tmp_dir[512];
static int tmp_dir_made;

void test_fail(const char *file, int line, const char *fmt, ...)
{
	if (!test_failed)
		printf("fail %s/%s: ", suite_name, test_name);
	else
		printf("     %s/%s: ", suite_name, test_name);
	printf("%s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" (LEDGERLET_SEED=%" PRIu64 ")\n", seed_start);
	fflush(stdout);
	test_failed = 1;
}

uint64_t test_rand(void)
{
	uint64_t x = test_seed;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	test_seed = x;
	return x * 0x2545F4914F6CDD1DULL;
}

const char *test_tmpdir(void)
{
	if (!tmp_dir_made) {
		snprintf(tmp_dir, sizeof(tmp_dir), "%s/%s", tmp_root, test_name);
		char cmd[1200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", tmp_dir, tmp_dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "cannot make %s\n", tmp_dir);
			abort();
		}
		tmp_dir_made = 1;
	}
	return tmp_dir;
}

int test_run(const char *suite, const struct test_case *cases, size_t n)
{
	suite_name = suite;
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *base = getenv("LEDGERLET_TEST_TMP");
	snprintf(tmp_root, sizeof(tmp_root), "%s/ledgerlet-test-%d", base ? base : "/tmp",
		 (int)getpid());
	const char *seed_env = getenv("LEDGERLET_SEED");
	uint64_t seed0 = seed_env ? strtoull(seed_env, NULL, 0)
				  : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (seed0 == 0)
		seed0 = 1;
	seed_start = seed0;
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		test_name = cases[i].name;
		test_failed = 0;
		test_seed = seed0 + i; /* each test reproducible on its own */
		tmp_dir_made = 0;
		cases[i].fn();
		if (!test_failed)
			printf("pass %s/%s\n", suite, test_name);
		failed |= test_failed;
	}
	if (!failed) {
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmp_root);
	}
	return failed ? 1 : 0;
}
