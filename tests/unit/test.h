/*
 * tests/unit/test.h — the unit test harness.
 *
 * A test file defines tests with TEST(name) { ... } and ends with
 * TEST_MAIN(suite, test1, test2, ...). Each test prints one line, "pass suite/name"
 * or "fail suite/name: file:line: what", which scripts/run-tests.sh counts.
 * CHECK keeps going after a failure (so one run shows every broken check of a
 * test); REQUIRE returns from the test.
 *
 * Seeded tests take their seed from LEDGERLET_SEED when set, else from the time,
 * and print it on failure so the run can be reproduced.
 */
#ifndef LEDGERLET_TEST_H
#define LEDGERLET_TEST_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

extern int test_failed;        /* set by a failing check in the current test */
extern const char *test_name;  /* current test */
extern uint64_t test_seed;     /* for seeded tests */

void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int test_run(const char *suite, const struct test_case *cases, size_t n);
/* A temporary directory for this test (removed at exit unless the test failed). */
const char *test_tmpdir(void);
/* xorshift64* on test_seed. */
uint64_t test_rand(void);

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                \
	do {                                                                       \
		if (!(cond))                                                       \
			test_fail(__FILE__, __LINE__, "%s", #cond);                \
	} while (0)
#define CHECKF(cond, ...)                                                          \
	do {                                                                       \
		if (!(cond))                                                       \
			test_fail(__FILE__, __LINE__, __VA_ARGS__);                \
	} while (0)
#define REQUIRE(cond)                                                              \
	do {                                                                       \
		if (!(cond)) {                                                     \
			test_fail(__FILE__, __LINE__, "%s", #cond);                \
			return;                                                    \
		}                                                                  \
	} while (0)
#define CHECK_EQ_INT(a, b)                                                         \
	do {                                                                       \
		long long va_ = (long long)(a), vb_ = (long long)(b);              \
		if (va_ != vb_)                                                    \
			test_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, \
				  va_, vb_);                                       \
	} while (0)
#define CHECK_EQ_STR(a, b)                                                         \
	do {                                                                       \
		const char *sa_ = (a), *sb_ = (b);                                 \
		if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0)           \
			test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, \
				  #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");  \
	} while (0)

#define T(fn) {#fn, fn}
#define TEST_MAIN(suite, ...)                                                      \
	int main(void)                                                             \
	{                                                                          \
		static const struct test_case cases_[] = {__VA_ARGS__};            \
		return test_run(suite, cases_, sizeof(cases_) / sizeof(cases_[0])); \
	}

#endif
