/*
 * reactor_test.c — the io_uring reactor against the real kernel: timers (order,
 * moves, cancels, 10k, the bound), fd polls (level and edge, del with a
 * completion already posted, mod), signalfd, inotify, connects with a deadline
 * (loopback only), and that an idle loop sleeps.
 *
 * Time is the real monotonic clock here (the reactor reads it), so waits are
 * short and every loop has a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "io/reactor.h"
#include "test.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static struct io_reactor *reactor(void)
{
	struct io_reactor *r = NULL;
	int rc = io_reactor_new(&r, 0);
	CHECKF(rc == 0, "io_reactor_new: %d", rc);
	return r;
}

/* Runs turns until *count reaches want or ms_max passes. */
static void run_until(struct io_reactor *r, const int *count, int want, uint64_t ms_max)
{
	uint64_t end = mono_ms() + ms_max;
	while (*count < want && mono_ms() < end) {
		int rc = io_reactor_run_once(r, 20);
		CHECKF(rc >= 0, "run_once: %d", rc);
		if (rc < 0)
			return;
	}
}

/* ---- timers ---- */

#define FIRED_MAX 16

struct fire_log {
	struct io_reactor *r;
	int n;
	uint64_t ids[FIRED_MAX];
	uint64_t at_ms[FIRED_MAX]; /* the turn's now when it fired */
};

static void log_fire(void *arg, uint64_t id)
{
	struct fire_log *log = arg;
	if (log->n < FIRED_MAX) {
		log->ids[log->n] = id;
		log->at_ms[log->n] = io_reactor_now_ms(log->r);
	}
	log->n++;
}

TEST(timers_fire_in_due_order_ties_by_id)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct fire_log log = {.r = r};
	uint64_t now = io_reactor_now_ms(r);
	CHECK_EQ_INT(io_timer_set(r, 30, now + 60, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_set(r, 10, now + 20, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_set(r, 21, now + 40, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_set(r, 20, now + 40, log_fire, &log), 0);
	/* Registering never runs a callback, even for a timer already due. */
	CHECK_EQ_INT(io_timer_set(r, 5, now, log_fire, &log), 0);
	CHECK_EQ_INT(log.n, 0);
	run_until(r, &log.n, 5, 2000);
	REQUIRE(log.n == 5);
	uint64_t want[] = {5, 10, 20, 21, 30};
	uint64_t due[] = {now, now + 20, now + 40, now + 40, now + 60};
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(log.ids[i], want[i]);
		CHECKF(log.at_ms[i] >= due[i], "timer %d fired at %" PRIu64 " before due %" PRIu64,
		       i, log.at_ms[i], due[i]);
	}
	io_reactor_free(r);
}

TEST(timer_moved_fires_at_its_new_time_only)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct fire_log log = {.r = r};
	uint64_t now = io_reactor_now_ms(r);
	CHECK_EQ_INT(io_timer_set(r, 1, now + 20, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_set(r, 2, now + 50, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_set(r, 1, now + 90, log_fire, &log), 0); /* later */
	CHECK_EQ_INT(io_timer_set(r, 3, now + 200, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_set(r, 3, now + 10, log_fire, &log), 0); /* earlier */
	run_until(r, &log.n, 3, 2000);
	REQUIRE(log.n == 3);
	CHECK_EQ_INT(log.ids[0], 3);
	CHECK_EQ_INT(log.ids[1], 2);
	CHECK_EQ_INT(log.ids[2], 1);
	CHECK(log.at_ms[2] >= now + 90);
	/* Each fired once: nothing is left. */
	CHECK_EQ_INT(io_reactor_run_once(r, 100), 0);
	CHECK_EQ_INT(log.n, 3);
	io_reactor_free(r);
}

TEST(timer_cancelled_never_fires)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct fire_log log = {.r = r};
	uint64_t now = io_reactor_now_ms(r);
	CHECK_EQ_INT(io_timer_set(r, 1, now + 20, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_set(r, 2, now + 30, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_cancel(r, 1), 0);
	CHECK_EQ_INT(io_timer_cancel(r, 1), -ENOENT);
	CHECK_EQ_INT(io_timer_cancel(r, 77), -ENOENT);
	run_until(r, &log.n, 1, 2000);
	CHECK_EQ_INT(log.n, 1);
	CHECK_EQ_INT(log.ids[0], 2);
	CHECK_EQ_INT(io_reactor_run_once(r, 60), 0);
	CHECK_EQ_INT(log.n, 1);
	/* A fired timer is gone: cancelling it is -ENOENT. */
	CHECK_EQ_INT(io_timer_cancel(r, 2), -ENOENT);
	io_reactor_free(r);
}

struct same_turn {
	struct io_reactor *r;
	int fired_a, fired_b, fired_c;
};

static void cb_b(void *arg, uint64_t id)
{
	(void)id;
	((struct same_turn *)arg)->fired_b++;
}

static void cb_c(void *arg, uint64_t id)
{
	(void)id;
	((struct same_turn *)arg)->fired_c++;
}

/* Due with b and c in one turn: cancels b, moves c to later, sets d for now. */
static void cb_a(void *arg, uint64_t id)
{
	(void)id;
	struct same_turn *s = arg;
	s->fired_a++;
	uint64_t now = io_reactor_now_ms(s->r);
	CHECK_EQ_INT(io_timer_cancel(s->r, 2), 0);
	CHECK_EQ_INT(io_timer_set(s->r, 3, now + 30, cb_c, s), 0);
	CHECK_EQ_INT(io_timer_set(s->r, 4, now, cb_b, s), 0);
}

TEST(timer_cancelled_or_moved_by_a_callback_of_its_turn_does_not_fire)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct same_turn s = {.r = r};
	uint64_t now = io_reactor_now_ms(r);
	CHECK_EQ_INT(io_timer_set(r, 1, now - 5, cb_a, &s), 0);
	CHECK_EQ_INT(io_timer_set(r, 2, now - 4, cb_b, &s), 0);
	CHECK_EQ_INT(io_timer_set(r, 3, now - 3, cb_c, &s), 0);
	/* One turn: only a runs (b cancelled, c moved, d waits for the next turn). */
	CHECK_EQ_INT(io_reactor_run_once(r, 0), 1);
	CHECK_EQ_INT(s.fired_a, 1);
	CHECK_EQ_INT(s.fired_b, 0);
	CHECK_EQ_INT(s.fired_c, 0);
	/* Next turn: d (set for "now" from a callback), without blocking. */
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK(mono_ms() - t0 < 20);
	CHECK_EQ_INT(s.fired_b, 1);
	run_until(r, &s.fired_c, 1, 2000);
	CHECK_EQ_INT(s.fired_c, 1);
	io_reactor_free(r);
}

struct many {
	struct io_reactor *r;
	int n;
	uint64_t last_due, last_id;
	uint64_t *due_of; /* by id */
	int out_of_order, early;
};

static void many_fire(void *arg, uint64_t id)
{
	struct many *m = arg;
	uint64_t due = m->due_of[id];
	if (m->n > 0 && (due < m->last_due || (due == m->last_due && id <= m->last_id)))
		m->out_of_order++;
	if (io_reactor_now_ms(m->r) < due)
		m->early++;
	m->last_due = due;
	m->last_id = id;
	m->n++;
}

TEST(ten_thousand_timers_fire_once_each_in_order)
{
	enum { N = 10000 };
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct many m = {.r = r, .due_of = calloc(N, sizeof(uint64_t))};
	REQUIRE(m.due_of != NULL);
	uint64_t now = io_reactor_now_ms(r);
	/* Ids in a scrambled order, dues within 150 ms, many ties. */
	for (uint64_t i = 0; i < N; i++) {
		uint64_t id = (i * 7919) % N;
		m.due_of[id] = now + test_rand() % 150;
		CHECK_EQ_INT(io_timer_set(r, id, m.due_of[id], many_fire, &m), 0);
	}
	/* Cancel every tenth and move them back in, 10 ms later. */
	for (uint64_t id = 0; id < N; id += 10) {
		CHECK_EQ_INT(io_timer_cancel(r, id), 0);
		m.due_of[id] += 10;
		CHECK_EQ_INT(io_timer_set(r, id, m.due_of[id], many_fire, &m), 0);
	}
	run_until(r, &m.n, N, 5000);
	CHECK_EQ_INT(m.n, N);
	CHECK_EQ_INT(m.out_of_order, 0);
	CHECK_EQ_INT(m.early, 0);
	free(m.due_of);
	io_reactor_free(r);
}

static void never(void *arg, uint64_t id)
{
	(void)id;
	(*(int *)arg)++;
}

TEST(timers_are_bounded_by_io_timers_max)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int fired = 0;
	uint64_t far = io_reactor_now_ms(r) + 3600 * 1000;
	int bad = 0;
	for (uint64_t id = 0; id < IO_TIMERS_MAX; id++)
		bad += io_timer_set(r, id, far + id % 97, never, &fired) != 0;
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(io_timer_set(r, IO_TIMERS_MAX, far, never, &fired), -ENOSPC);
	/* At the limit an existing timer still moves, and a cancel makes room. */
	CHECK_EQ_INT(io_timer_set(r, 5, far + 1000, never, &fired), 0);
	CHECK_EQ_INT(io_timer_cancel(r, 6), 0);
	CHECK_EQ_INT(io_timer_set(r, IO_TIMERS_MAX, far, never, &fired), 0);
	CHECK_EQ_INT(io_timer_set(r, IO_TIMERS_MAX + 1, far, never, &fired), -ENOSPC);
	CHECK_EQ_INT(io_reactor_run_once(r, 0), 0);
	CHECK_EQ_INT(fired, 0);
	CHECK_EQ_INT(io_timer_set(r, 1, far, NULL, NULL), -EINVAL);
	io_reactor_free(r);
}

TEST(timer_ids_allocated_are_distinct_and_above_the_base)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	uint64_t a = io_timer_id_alloc(r), b = io_timer_id_alloc(r);
	CHECK(a >= IO_TIMER_ID_ALLOC_BASE);
	CHECK(b >= IO_TIMER_ID_ALLOC_BASE);
	CHECK(a != b);
	io_reactor_free(r);
}

/* ---- polls ---- */

struct pollrec {
	struct io_reactor *r;
	int n;
	int fd;
	uint32_t revents;
	int drain; /* read what is there in the callback */
};

static void on_ready(void *arg, int fd, uint32_t revents)
{
	struct pollrec *p = arg;
	p->n++;
	p->fd = fd;
	p->revents = revents;
	if (p->drain) {
		char buf[256];
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	}
}

static int pipe_nb(int p[2])
{
	return pipe2(p, O_NONBLOCK | O_CLOEXEC);
}

TEST(poll_pipe_readable_after_a_write)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct pollrec rec = {.r = r, .drain = 1};
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, on_ready, &rec), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 30), 0);
	CHECK_EQ_INT(rec.n, 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK_EQ_INT(rec.n, 1);
	CHECK_EQ_INT(rec.fd, p[0]);
	CHECK(rec.revents & POLLIN);
	/* Drained: quiet again. */
	CHECK_EQ_INT(io_reactor_run_once(r, 30), 0);
	CHECK_EQ_INT(rec.n, 1);
	/* And again on the next write: the poll was re-armed. */
	CHECK_EQ_INT(write(p[1], "y", 1), 1);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK_EQ_INT(rec.n, 2);
	CHECK_EQ_INT(io_poll_del(r, p[0]), 0);
	io_reactor_free(r);
	close(p[0]);
	close(p[1]);
}

TEST(poll_is_level_triggered_until_the_fd_is_drained)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, on_ready, &rec), 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK_EQ_INT(rec.n, 3);
	char c;
	CHECK_EQ_INT(read(p[0], &c, 1), 1);
	/* At most the one completion already in flight, then quiet. */
	(void)io_reactor_run_once(r, 0);
	int n = rec.n;
	CHECK_EQ_INT(io_reactor_run_once(r, 50), 0);
	CHECK_EQ_INT(rec.n, n);
	io_reactor_free(r);
	close(p[0]);
	close(p[1]);
}

TEST(poll_edge_calls_back_once_per_wakeup)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN | IO_POLL_EDGE, on_ready, &rec), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 0), 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	/* Not drained, but no new data: no new callback. */
	CHECK_EQ_INT(io_reactor_run_once(r, 50), 0);
	CHECK_EQ_INT(rec.n, 1);
	CHECK_EQ_INT(write(p[1], "y", 1), 1);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK_EQ_INT(rec.n, 2);
	io_reactor_free(r);
	close(p[0]);
	close(p[1]);
}

TEST(poll_del_stops_callbacks)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, on_ready, &rec), 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK_EQ_INT(io_poll_del(r, p[0]), 0);
	CHECK_EQ_INT(io_poll_del(r, p[0]), -ENOENT);
	CHECK_EQ_INT(io_poll_mod(r, p[0], POLLIN), -ENOENT);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(io_reactor_run_once(r, 20), 0);
	CHECK_EQ_INT(rec.n, 1);
	/* The fd can be registered again, with another callback argument. */
	struct pollrec rec2 = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, on_ready, &rec2), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK_EQ_INT(rec2.n, 1);
	CHECK_EQ_INT(rec.n, 1);
	io_reactor_free(r);
	close(p[0]);
	close(p[1]);
}

static int poisoned_calls;

static void on_ready_heap(void *arg, int fd, uint32_t revents)
{
	(void)fd;
	(void)revents;
	/* arg was freed after io_poll_del: ASan reports this read, the counter fails the test. */
	poisoned_calls += *(int *)arg;
}

TEST(poll_del_with_a_completion_already_posted_never_calls_back)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	int *arg = malloc(sizeof(int));
	REQUIRE(arg != NULL);
	*arg = 1;
	poisoned_calls = 0;
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, on_ready_heap, arg), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 0), 0); /* the poll is in the kernel now */
	/* The write completes the poll: its CQE is posted before write() returns. */
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(io_poll_del(r, p[0]), 0);
	free(arg);
	/* Same fd, new registration: the old CQE must not reach the new callback either. */
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLOUT, on_ready, &rec), 0);
	for (int i = 0; i < 3; i++)
		(void)io_reactor_run_once(r, 20);
	CHECK_EQ_INT(poisoned_calls, 0);
	CHECK_EQ_INT(rec.n, 0); /* a read end is never writable */
	io_reactor_free(r);
	close(p[0]);
	close(p[1]);
}

struct pair {
	struct io_reactor *r;
	int fd[2];
	int *alive[2];
	int calls;
};

static void on_pair(void *arg, int fd, uint32_t revents);

/* Whichever of two ready fds is dispatched first deletes the other: the other's
 * completion is in the same batch, and must be dropped. */
static void on_pair(void *arg, int fd, uint32_t revents)
{
	(void)revents;
	struct pair *pr = arg;
	int me = fd == pr->fd[0] ? 0 : 1;
	CHECK(pr->alive[me] != NULL && *pr->alive[me] == 1);
	pr->calls++;
	if (pr->alive[1 - me] != NULL) {
		CHECK_EQ_INT(io_poll_del(pr->r, pr->fd[1 - me]), 0);
		free(pr->alive[1 - me]);
		pr->alive[1 - me] = NULL;
	}
	CHECK_EQ_INT(io_poll_del(pr->r, fd), 0);
}

TEST(poll_del_from_a_callback_drops_the_other_completion_of_the_batch)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int a[2], b[2];
	REQUIRE(pipe_nb(a) == 0);
	REQUIRE(pipe_nb(b) == 0);
	struct pair pr = {.r = r, .fd = {a[0], b[0]}};
	for (int i = 0; i < 2; i++) {
		pr.alive[i] = malloc(sizeof(int));
		REQUIRE(pr.alive[i] != NULL);
		*pr.alive[i] = 1;
	}
	CHECK_EQ_INT(io_poll_add(r, a[0], POLLIN, on_pair, &pr), 0);
	CHECK_EQ_INT(io_poll_add(r, b[0], POLLIN, on_pair, &pr), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 0), 0);
	CHECK_EQ_INT(write(a[1], "x", 1), 1);
	CHECK_EQ_INT(write(b[1], "x", 1), 1);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(io_reactor_run_once(r, 20), 0);
	CHECK_EQ_INT(pr.calls, 1);
	for (int i = 0; i < 2; i++)
		free(pr.alive[i]);
	io_reactor_free(r);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* Deletes and re-adds its own fd from its callback, as libcurl's socket callback may. */
static void on_readd(void *arg, int fd, uint32_t revents)
{
	(void)revents;
	struct pollrec *p = arg;
	p->n++;
	CHECK_EQ_INT(io_poll_del(p->r, fd), 0);
	if (p->n == 1)
		CHECK_EQ_INT(io_poll_add(p->r, fd, POLLIN, on_readd, p), 0);
}

TEST(poll_del_and_add_from_its_own_callback)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, on_readd, &rec), 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	run_until(r, &rec.n, 2, 2000);
	CHECK_EQ_INT(rec.n, 2);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(io_reactor_run_once(r, 20), 0);
	CHECK_EQ_INT(rec.n, 2);
	io_reactor_free(r);
	close(p[0]);
	close(p[1]);
}

TEST(poll_mod_from_in_to_out)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int sv[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, sv[0], POLLIN, on_ready, &rec), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 50), 0); /* nothing to read */
	CHECK_EQ_INT(io_poll_mod(r, sv[0], POLLOUT), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK(rec.revents & POLLOUT);
	CHECK(!(rec.revents & POLLIN));
	/* Back to IN: the writable socket stops calling back. */
	CHECK_EQ_INT(io_poll_mod(r, sv[0], POLLIN), 0);
	(void)io_reactor_run_once(r, 0); /* a completion of the OUT poll may be in flight */
	int n = rec.n;
	CHECK_EQ_INT(io_reactor_run_once(r, 50), 0);
	CHECK_EQ_INT(rec.n, n);
	CHECK_EQ_INT(write(sv[1], "x", 1), 1);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	CHECK(rec.revents & POLLIN);
	io_reactor_free(r);
	close(sv[0]);
	close(sv[1]);
}

TEST(poll_rejects_bad_arguments_and_a_second_registration)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	int p[2];
	REQUIRE(pipe_nb(p) == 0);
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, -1, POLLIN, on_ready, &rec), -EINVAL);
	CHECK_EQ_INT(io_poll_add(r, p[0], 0, on_ready, &rec), -EINVAL);
	CHECK_EQ_INT(io_poll_add(r, p[0], IO_POLL_EDGE, on_ready, &rec), -EINVAL);
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, NULL, &rec), -EINVAL);
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, on_ready, &rec), 0);
	CHECK_EQ_INT(io_poll_add(r, p[0], POLLIN, on_ready, &rec), -EEXIST);
	CHECK_EQ_INT(io_poll_mod(r, p[0], 0), -EINVAL);
	io_reactor_free(r);
	close(p[0]);
	close(p[1]);
}

TEST(polls_are_bounded_by_io_polls_max)
{
	struct rlimit rl;
	REQUIRE(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	rlim_t need = IO_POLLS_MAX + 64;
	if (rl.rlim_cur < need) {
		struct rlimit more = {.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need,
		                      .rlim_max = rl.rlim_max};
		(void)setrlimit(RLIMIT_NOFILE, &more);
	}
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	static int fds[IO_POLLS_MAX + 1];
	struct pollrec rec = {.r = r};
	int made = 0, bad = 0;
	for (; made < IO_POLLS_MAX + 1; made++) {
		fds[made] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fds[made] < 0)
			break;
	}
	CHECKF(made == IO_POLLS_MAX + 1, "only %d fds (RLIMIT_NOFILE %lu)", made,
	       (unsigned long)rl.rlim_max);
	if (made == IO_POLLS_MAX + 1) {
		for (int i = 0; i < IO_POLLS_MAX; i++)
			bad += io_poll_add(r, fds[i], POLLIN, on_ready, &rec) != 0;
		CHECK_EQ_INT(bad, 0);
		CHECK_EQ_INT(io_poll_add(r, fds[IO_POLLS_MAX], POLLIN, on_ready, &rec), -ENOSPC);
		/* All armed in the kernel (the ring flushes as it fills), none ready. */
		CHECK_EQ_INT(io_reactor_run_once(r, 20), 0);
		/* One ready among them is found; a del makes room. */
		uint64_t one = 1;
		CHECK_EQ_INT(write(fds[1234], &one, sizeof(one)), (int)sizeof(one));
		CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
		CHECK_EQ_INT(rec.fd, fds[1234]);
		CHECK_EQ_INT(io_poll_del(r, fds[1234]), 0);
		CHECK_EQ_INT(io_poll_add(r, fds[IO_POLLS_MAX], POLLIN, on_ready, &rec), 0);
		for (int i = 0; i < IO_POLLS_MAX + 1; i++)
			if (i != 1234)
				CHECK_EQ_INT(io_poll_del(r, fds[i]), 0);
		CHECK_EQ_INT(io_reactor_run_once(r, 20), 0);
	}
	io_reactor_free(r);
	for (int i = 0; i < made; i++)
		close(fds[i]);
}

/* ---- signalfd, inotify ---- */

TEST(signalfd_is_readable_after_raise)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	REQUIRE(sigprocmask(SIG_BLOCK, &mask, &old) == 0);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	REQUIRE(sfd >= 0);
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, sfd, POLLIN | IO_POLL_EDGE, on_ready, &rec), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 20), 0);
	CHECK_EQ_INT(raise(SIGUSR1), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 1000), 1);
	struct signalfd_siginfo si;
	CHECK_EQ_INT(read(sfd, &si, sizeof(si)), (int)sizeof(si));
	CHECK_EQ_INT(si.ssi_signo, SIGUSR1);
	CHECK_EQ_INT(io_poll_del(r, sfd), 0);
	io_reactor_free(r);
	close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

TEST(inotify_is_readable_after_a_file_is_created)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	const char *dir = test_tmpdir();
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	REQUIRE(ifd >= 0);
	REQUIRE(inotify_add_watch(ifd, dir, IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO) >= 0);
	struct pollrec rec = {.r = r};
	CHECK_EQ_INT(io_poll_add(r, ifd, POLLIN | IO_POLL_EDGE, on_ready, &rec), 0);
	CHECK_EQ_INT(io_reactor_run_once(r, 20), 0);
	char path[600];
	snprintf(path, sizeof(path), "%s/pod.yaml", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	run_until(r, &rec.n, 1, 1000);
	CHECK(rec.n >= 1);
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(ifd, buf, sizeof(buf));
	REQUIRE(n >= (ssize_t)sizeof(struct inotify_event));
	const struct inotify_event *ev = (const struct inotify_event *)buf;
	CHECK(ev->mask & IN_CREATE);
	CHECK_EQ_STR(ev->name, "pod.yaml");
	io_reactor_free(r);
	close(ifd);
}

/* ---- connects (loopback only) ---- */

struct conn {
	int n;
	int fd;
	int res;
	uint64_t at_ms;
};

static void on_connect(void *arg, int fd, int res)
{
	struct conn *c = arg;
	c->n++;
	c->fd = fd;
	c->res = res;
	c->at_ms = mono_ms();
}

/* A loopback TCP socket bound to an ephemeral port; listening with `backlog` unless -1. */
static int tcp_bound(struct sockaddr_in *addr, int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	*addr = (struct sockaddr_in){.sin_family = AF_INET,
	                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(*addr);
	if (bind(fd, (struct sockaddr *)addr, len) != 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) != 0 ||
	    (backlog >= 0 && listen(fd, backlog) != 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int tcp_client(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

TEST(connect_to_a_loopback_listener_succeeds)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct sockaddr_in addr;
	int l = tcp_bound(&addr, 16);
	REQUIRE(l >= 0);
	int c = tcp_client();
	REQUIRE(c >= 0);
	struct conn res = {0};
	CHECK_EQ_INT(
	        io_connect(r, c, (struct sockaddr *)&addr, sizeof(addr), 1000, on_connect, &res),
	        0);
	CHECK_EQ_INT(res.n, 0); /* never inline */
	run_until(r, &res.n, 1, 2000);
	CHECK_EQ_INT(res.n, 1);
	CHECK_EQ_INT(res.fd, c);
	CHECK_EQ_INT(res.res, 0);
	/* The linked timeout was cancelled: nothing more arrives. */
	CHECK_EQ_INT(io_reactor_run_once(r, 30), 0);
	CHECK_EQ_INT(res.n, 1);
	io_reactor_free(r);
	close(c);
	close(l);
}

TEST(connect_to_a_port_nobody_listens_on_is_refused)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct sockaddr_in addr;
	int b = tcp_bound(&addr, -1); /* holds the port, does not listen */
	REQUIRE(b >= 0);
	int c = tcp_client();
	REQUIRE(c >= 0);
	struct conn res = {0};
	CHECK_EQ_INT(
	        io_connect(r, c, (struct sockaddr *)&addr, sizeof(addr), 1000, on_connect, &res),
	        0);
	run_until(r, &res.n, 1, 2000);
	CHECK_EQ_INT(res.n, 1);
	CHECK_EQ_INT(res.res, -ECONNREFUSED);
	io_reactor_free(r);
	close(c);
	close(b);
}

TEST(connect_past_its_deadline_is_etimedout)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct sockaddr_in addr;
	/* backlog 0 holds one connection; once it is taken, SYNs are dropped. */
	int l = tcp_bound(&addr, 0);
	REQUIRE(l >= 0);
	int fillers[4];
	for (int i = 0; i < 4; i++) {
		fillers[i] = tcp_client();
		REQUIRE(fillers[i] >= 0);
		(void)connect(fillers[i], (struct sockaddr *)&addr, sizeof(addr));
	}
	usleep(50 * 1000); /* let the accept queue fill */
	int c = tcp_client();
	REQUIRE(c >= 0);
	struct conn res = {0};
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(
	        io_connect(r, c, (struct sockaddr *)&addr, sizeof(addr), 200, on_connect, &res), 0);
	run_until(r, &res.n, 1, 3000);
	CHECK_EQ_INT(res.n, 1);
	CHECK_EQ_INT(res.res, -ETIMEDOUT);
	uint64_t took = res.at_ms - t0;
	CHECKF(took >= 190 && took < 700, "deadline 200 ms, took %" PRIu64 " ms", took);
	CHECK_EQ_INT(io_reactor_run_once(r, 30), 0);
	CHECK_EQ_INT(res.n, 1);
	io_reactor_free(r);
	close(c);
	for (int i = 0; i < 4; i++)
		close(fillers[i]);
	close(l);
}

TEST(connect_rejects_bad_arguments)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct sockaddr_in addr = {.sin_family = AF_INET};
	struct conn res = {0};
	CHECK_EQ_INT(
	        io_connect(r, -1, (struct sockaddr *)&addr, sizeof(addr), 10, on_connect, &res),
	        -EINVAL);
	CHECK_EQ_INT(io_connect(r, 0, (struct sockaddr *)&addr, sizeof(addr), 0, on_connect, &res),
	             -EINVAL);
	CHECK_EQ_INT(io_connect(r, 0, (struct sockaddr *)&addr, sizeof(addr), 10, NULL, &res),
	             -EINVAL);
	CHECK_EQ_INT(io_connect(r, 0, NULL, 0, 10, on_connect, &res), -EINVAL);
	io_reactor_free(r);
}

/* ---- idleness ---- */

TEST(idle_turn_sleeps_for_its_wait_without_spinning)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	uint64_t cpu0 = cpu_ms(), t0 = mono_ms();
	CHECK_EQ_INT(io_reactor_run_once(r, 200), 0);
	uint64_t took = mono_ms() - t0, cpu = cpu_ms() - cpu0;
	CHECKF(took >= 195 && took < 400, "waited %" PRIu64 " ms for 200", took);
	CHECKF(cpu < 20, "used %" PRIu64 " ms of CPU idling", cpu);
	CHECK(io_reactor_now_ms(r) >= t0 + 195);
	io_reactor_free(r);
}

TEST(idle_turn_with_no_limit_wakes_for_the_earliest_timer)
{
	struct io_reactor *r = reactor();
	REQUIRE(r != NULL);
	struct fire_log log = {.r = r};
	uint64_t now = io_reactor_now_ms(r);
	CHECK_EQ_INT(io_timer_set(r, 1, now + 150, log_fire, &log), 0);
	CHECK_EQ_INT(io_timer_set(r, 2, now + 100000, log_fire, &log), 0);
	uint64_t cpu0 = cpu_ms();
	/* -1 waits for good; the kernel timeout for timer 1 ends the wait. */
	CHECK_EQ_INT(io_reactor_run_once(r, -1), 1);
	uint64_t cpu = cpu_ms() - cpu0;
	CHECK_EQ_INT(log.n, 1);
	CHECK_EQ_INT(log.ids[0], 1);
	CHECK(log.at_ms[0] >= now + 150);
	CHECK(log.at_ms[0] < now + 400);
	CHECKF(cpu < 20, "used %" PRIu64 " ms of CPU idling", cpu);
	/* Cancelling the earliest moves the wake-up: a short wait now ends with nothing. */
	CHECK_EQ_INT(io_timer_cancel(r, 2), 0);
	uint64_t t0 = mono_ms();
	CHECK_EQ_INT(io_reactor_run_once(r, 50), 0);
	CHECK(mono_ms() - t0 >= 45);
	io_reactor_free(r);
}

TEST_MAIN("io/reactor", T(timers_fire_in_due_order_ties_by_id),
          T(timer_moved_fires_at_its_new_time_only), T(timer_cancelled_never_fires),
          T(timer_cancelled_or_moved_by_a_callback_of_its_turn_does_not_fire),
          T(ten_thousand_timers_fire_once_each_in_order), T(timers_are_bounded_by_io_timers_max),
          T(timer_ids_allocated_are_distinct_and_above_the_base),
          T(poll_pipe_readable_after_a_write), T(poll_is_level_triggered_until_the_fd_is_drained),
          T(poll_edge_calls_back_once_per_wakeup), T(poll_del_stops_callbacks),
          T(poll_del_with_a_completion_already_posted_never_calls_back),
          T(poll_del_from_a_callback_drops_the_other_completion_of_the_batch),
          T(poll_del_and_add_from_its_own_callback), T(poll_mod_from_in_to_out),
          T(poll_rejects_bad_arguments_and_a_second_registration),
          T(polls_are_bounded_by_io_polls_max), T(signalfd_is_readable_after_raise),
          T(inotify_is_readable_after_a_file_is_created),
          T(connect_to_a_loopback_listener_succeeds),
          T(connect_to_a_port_nobody_listens_on_is_refused),
          T(connect_past_its_deadline_is_etimedout), T(connect_rejects_bad_arguments),
          T(idle_turn_sleeps_for_its_wait_without_spinning),
          T(idle_turn_with_no_limit_wakes_for_the_earliest_timer))
