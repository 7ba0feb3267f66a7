/*
 * io/reactor.c — the io_uring event loop: fd polls, timers, connects with a deadline.
 *
 * Role in the data flow: every source of events (libcurl's sockets through
 * curl_glue, inotify for static manifests, signalfd, pidfds, the fold's
 * timers, tcpSocket probes) waits here; callbacks turn readiness into events
 * for the journal. The loop owns no policy.
 *
 * How a turn goes: the requests queued since the last turn (poll arms and
 * removals, the kernel timeout for the earliest timer, connects) ride on the
 * one io_uring_enter() that also waits, so re-arming costs no syscall. After
 * the wait the clock is read once; due timers fire, then completions are
 * dispatched.
 *
 * Polls: io_uring's multishot poll posts a CQE per wakeup of the fd, not
 * while it stays ready (edge-triggered), and the kernel refuses it together
 * with IORING_POLL_ADD_LEVEL (-EINVAL, seen on 6.18). So the default,
 * poll(2)-like level-triggered poll is a one-shot IORING_OP_POLL_ADD re-armed
 * after each callback (the re-arm rides on the next turn's enter), and
 * IO_POLL_EDGE asks for multishot, re-armed when a CQE comes without
 * IORING_CQE_F_MORE. A kernel without multishot (before 5.13) gets one-shot
 * polls throughout: more callbacks than edge promises, never fewer.
 *
 * Stale completions: every request's user_data carries a kind, a slot index
 * and the slot's generation. Deleting or modifying a poll, cancelling a timer
 * or finishing a connect bumps the generation, so a CQE the kernel posted for
 * the old registration (already in the ring, or arriving after the removal)
 * no longer matches and is dropped without touching a callback.
 *
 * Timers live in a min-heap keyed by (due_ms, id) and a hash table by id,
 * all preallocated to IO_TIMERS_MAX; one IORING_OP_TIMEOUT with an absolute
 * CLOCK_MONOTONIC deadline wakes the loop for the earliest, so computing the
 * wait needs no clock reading.
 */
#include "io/reactor.h"

#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* user_data: gen (32 bits) | slot index (28 bits) | kind (4 bits). 0: ignore. */
enum ud_kind { UD_NONE = 0, UD_POLL = 1, UD_TMO = 2, UD_CONNECT = 3 };

#define POLL_HASH_SIZE  (2 * IO_POLLS_MAX)  /* power of two, load <= 1/2 */
#define TIMER_HASH_SIZE (2 * IO_TIMERS_MAX) /* power of two, load <= 1/2 */
#define CQ_ENTRIES      8192                /* IORING_SETUP_CQSIZE; overflow is kept (NODROP) */
#define CQE_BATCH       64
#define POLL_EVENTS_OK  (POLLIN | POLLOUT | POLLPRI | POLLRDHUP)
#define NONE            UINT32_MAX

static_assert((POLL_HASH_SIZE & (POLL_HASH_SIZE - 1)) == 0, "poll hash size is a power of two");
static_assert((TIMER_HASH_SIZE & (TIMER_HASH_SIZE - 1)) == 0, "timer hash size is a power of two");
static_assert(IO_TIMERS_MAX < (1u << 28), "timer index fits user_data");
static_assert((IO_POLL_EDGE & POLL_EVENTS_OK) == 0, "IO_POLL_EDGE is not a poll bit");

struct poll_slot {
	int fd;          /* -1: free */
	uint32_t events; /* poll bits | IO_POLL_EDGE */
	uint32_t gen;
	uint32_t next_free;
	bool armed;       /* a request of this gen is queued or in the kernel */
	bool multishot;   /* ... and it is multishot */
	bool arm_pending; /* re-arm found the submission ring full: retry next turn */
	bool broken;      /* the kernel refused the poll: wait for mod or del */
	io_poll_cb cb;
	void *arg;
};

enum timer_state { TIMER_FREE = 0, TIMER_ARMED, TIMER_FIRING };

struct timer {
	uint64_t id;
	uint64_t due_ms;
	io_timer_cb cb;
	void *arg;
	uint32_t heap_pos; /* ARMED: index in heap; FREE: next free */
	uint32_t gen;
	uint8_t state;
};

struct fired {
	uint32_t idx;
	uint32_t gen;
};

struct connect_slot {
	struct sockaddr_storage addr;
	struct __kernel_timespec ts;
	io_connect_cb cb;
	void *arg;
	int fd;
	uint32_t gen;
	uint32_t next_free;
	bool busy;
};

struct io_reactor {
	struct io_uring ring;
	uint64_t now_ms;
	bool in_turn;
	bool multishot_ok; /* cleared if the kernel refuses multishot polls */
	bool skip_ok;      /* IOSQE_CQE_SKIP_SUCCESS is available */
	unsigned cqe_per_turn_max;

	/* polls: slots, a free list, and fd -> slot (index + 1, 0: empty) */
	uint32_t poll_count, poll_free, poll_used, polls_arm_pending;
	/* removals the full submission ring could not take: queued next turn */
	uint32_t removes_pending;
	uint64_t remove_pending[IO_POLLS_MAX];
	uint32_t poll_hash[POLL_HASH_SIZE];
	struct poll_slot polls[IO_POLLS_MAX];

	/* timers: slots (high-water mark + free list), id -> slot, heap, fire list */
	uint32_t timer_count, timer_free, timer_used, heap_len;
	uint64_t timer_id_next;
	uint32_t timer_hash[TIMER_HASH_SIZE];
	uint32_t heap[IO_TIMERS_MAX];
	struct fired fired[IO_TIMERS_MAX];
	struct timer timers[IO_TIMERS_MAX];

	/* the one kernel timeout that wakes the loop for the earliest timer */
	bool tmo_armed;
	uint32_t tmo_gen;
	uint64_t tmo_due_ms;
	struct __kernel_timespec tmo_ts;

	/* connects in flight */
	uint32_t connect_count, connect_free, connect_used;
	struct connect_slot connects[IO_CONNECTS_MAX];
};

static uint64_t ud_make(enum ud_kind kind, uint32_t idx, uint32_t gen)
{
	assert(idx < (1u << 28));
	return (uint64_t)gen << 32 | (uint64_t)idx << 4 | (uint64_t)kind;
}

static uint64_t clock_ms(void)
{
	struct timespec ts;
	int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
	assert(rc == 0);
	(void)rc;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct __kernel_timespec ms_to_ts(uint64_t ms)
{
	struct __kernel_timespec ts = {.tv_sec = (long long)(ms / 1000),
	                               .tv_nsec = (long long)(ms % 1000) * 1000000};
	return ts;
}

/*
 * Makes room for n SQEs that must go out in one batch (a connect and its link
 * timeout). A full ring is flushed first; that only submits, it runs no callback.
 */
static int sq_reserve(struct io_reactor *r, unsigned n)
{
	if (io_uring_sq_space_left(&r->ring) >= n)
		return 0;
	int rc = io_uring_submit(&r->ring);
	if (rc < 0)
		return rc;
	return io_uring_sq_space_left(&r->ring) >= n ? 0 : -EBUSY;
}

/* Only after sq_reserve(). */
static struct io_uring_sqe *sqe_get(struct io_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
	assert(sqe != NULL);
	return sqe;
}

/*
 * Queues the removal of a poll request; its own CQE, if any, is ignored. With
 * the ring full it is parked for the next turn: the request's CQEs are stale
 * already (its gen is gone), only the kernel's hold on the file waits.
 */
static void poll_remove(struct io_reactor *r, uint64_t ud)
{
	if (sq_reserve(r, 1) != 0) {
		assert(r->removes_pending < IO_POLLS_MAX);
		r->remove_pending[r->removes_pending++] = ud;
		return;
	}
	struct io_uring_sqe *sqe = sqe_get(r);
	io_uring_prep_poll_remove(sqe, ud);
	io_uring_sqe_set_data64(sqe, 0);
	if (r->skip_ok)
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
}

static void poll_removes_flush(struct io_reactor *r)
{
	uint32_t n = r->removes_pending;
	r->removes_pending = 0;
	for (uint32_t i = 0; i < n; i++)
		poll_remove(r, r->remove_pending[i]);
}

/* ---- polls ---- */

static uint32_t fd_home(int fd)
{
	return ((uint32_t)fd * 2654435761u) & (POLL_HASH_SIZE - 1);
}

/* Slot index of fd, or NONE. Probes at most the table's size. */
static uint32_t poll_find(const struct io_reactor *r, int fd)
{
	uint32_t i = fd_home(fd);
	for (uint32_t n = 0; n < POLL_HASH_SIZE; n++, i = (i + 1) & (POLL_HASH_SIZE - 1)) {
		uint32_t v = r->poll_hash[i];
		if (v == 0)
			return NONE;
		if (r->polls[v - 1].fd == fd)
			return v - 1;
	}
	return NONE;
}

static void poll_hash_insert(struct io_reactor *r, uint32_t idx)
{
	uint32_t i = fd_home(r->polls[idx].fd);
	while (r->poll_hash[i] != 0)
		i = (i + 1) & (POLL_HASH_SIZE - 1);
	r->poll_hash[i] = idx + 1;
}

/* Linear probing deletion by backward shift: no tombstones, probes stay short. */
static void poll_hash_remove(struct io_reactor *r, int fd)
{
	const uint32_t mask = POLL_HASH_SIZE - 1;
	uint32_t i = fd_home(fd);
	while (r->polls[r->poll_hash[i] - 1].fd != fd)
		i = (i + 1) & mask;
	r->poll_hash[i] = 0;
	for (uint32_t j = (i + 1) & mask; r->poll_hash[j] != 0; j = (j + 1) & mask) {
		uint32_t k = fd_home(r->polls[r->poll_hash[j] - 1].fd);
		bool stays = (j > i) ? (k > i && k <= j) : (k > i || k <= j);
		if (stays)
			continue;
		r->poll_hash[i] = r->poll_hash[j];
		r->poll_hash[j] = 0;
		i = j;
	}
}

/* Queues the poll request for the slot's current gen. Needs one reserved SQE. */
static void poll_arm(struct io_reactor *r, uint32_t idx)
{
	struct poll_slot *p = &r->polls[idx];
	assert(p->fd >= 0);
	assert(!p->armed);
	bool ms = (p->events & IO_POLL_EDGE) && r->multishot_ok;
	uint32_t mask = p->events & POLL_EVENTS_OK;
	struct io_uring_sqe *sqe = sqe_get(r);
	if (ms)
		io_uring_prep_poll_multishot(sqe, p->fd, mask);
	else
		io_uring_prep_poll_add(sqe, p->fd, mask);
	io_uring_sqe_set_data64(sqe, ud_make(UD_POLL, idx, p->gen));
	p->armed = true;
	p->multishot = ms;
	p->broken = false;
	if (p->arm_pending) {
		p->arm_pending = false;
		r->polls_arm_pending--;
	}
}

/* Re-arm after a completion; a full ring defers it to the next turn's start. */
static void poll_arm_or_defer(struct io_reactor *r, uint32_t idx)
{
	if (sq_reserve(r, 1) == 0) {
		poll_arm(r, idx);
	} else if (!r->polls[idx].arm_pending) {
		r->polls[idx].arm_pending = true;
		r->polls_arm_pending++;
	}
}

static void polls_arm_pending(struct io_reactor *r)
{
	for (uint32_t i = 0; i < r->poll_used && r->polls_arm_pending > 0; i++) {
		if (!r->polls[i].arm_pending)
			continue;
		if (sq_reserve(r, 1) != 0)
			return;
		poll_arm(r, i);
	}
}

static bool poll_events_valid(uint32_t events)
{
	uint32_t mask = events & ~IO_POLL_EDGE;
	return mask != 0 && (mask & ~(uint32_t)POLL_EVENTS_OK) == 0;
}

int io_poll_add(struct io_reactor *r, int fd, uint32_t events, io_poll_cb cb, void *arg)
{
	if (fd < 0 || cb == NULL || !poll_events_valid(events))
		return -EINVAL;
	if (poll_find(r, fd) != NONE)
		return -EEXIST;
	if (r->poll_count == IO_POLLS_MAX)
		return -ENOSPC;
	uint32_t idx;
	if (r->poll_free != NONE) {
		idx = r->poll_free;
		r->poll_free = r->polls[idx].next_free;
	} else {
		assert(r->poll_used < IO_POLLS_MAX);
		idx = r->poll_used++;
	}
	struct poll_slot *p = &r->polls[idx];
	assert(p->fd == -1);
	uint32_t gen = p->gen;
	*p = (struct poll_slot){.fd = fd, .events = events, .gen = gen, .cb = cb, .arg = arg};
	poll_hash_insert(r, idx);
	r->poll_count++;
	poll_arm_or_defer(r, idx);
	assert(poll_find(r, fd) == idx);
	return 0;
}

int io_poll_mod(struct io_reactor *r, int fd, uint32_t events)
{
	if (fd < 0 || !poll_events_valid(events))
		return -EINVAL;
	uint32_t idx = poll_find(r, fd);
	if (idx == NONE)
		return -ENOENT;
	struct poll_slot *p = &r->polls[idx];
	if (p->armed) {
		if (r->removes_pending == IO_POLLS_MAX)
			return -EBUSY;
		poll_remove(r, ud_make(UD_POLL, idx, p->gen));
	}
	/* A new gen: whatever the old request posts from now on is stale. */
	p->gen++;
	p->armed = false;
	p->events = events;
	poll_arm_or_defer(r, idx);
	return 0;
}

int io_poll_del(struct io_reactor *r, int fd)
{
	if (fd < 0)
		return -EINVAL;
	uint32_t idx = poll_find(r, fd);
	if (idx == NONE)
		return -ENOENT;
	struct poll_slot *p = &r->polls[idx];
	if (p->armed) {
		if (r->removes_pending == IO_POLLS_MAX)
			return -EBUSY;
		poll_remove(r, ud_make(UD_POLL, idx, p->gen));
	}
	if (p->arm_pending)
		r->polls_arm_pending--;
	poll_hash_remove(r, fd);
	uint32_t gen = p->gen + 1;
	*p = (struct poll_slot){.fd = -1, .gen = gen, .next_free = r->poll_free};
	r->poll_free = idx;
	r->poll_count--;
	assert(poll_find(r, fd) == NONE);
	return 0;
}

/* A poll CQE. Returns the number of callbacks run (0 or 1). */
static int poll_complete(struct io_reactor *r, uint32_t idx, uint32_t gen, int res, uint32_t flags)
{
	if (idx >= r->poll_used)
		return 0;
	struct poll_slot *p = &r->polls[idx];
	if (p->fd < 0 || p->gen != gen)
		return 0; /* deleted or modified since: stale */
	if (!(flags & IORING_CQE_F_MORE))
		p->armed = false;
	uint32_t revents;
	if (res >= 0) {
		revents = (uint32_t)res;
	} else if (res == -EINVAL && p->multishot) {
		/* A kernel without multishot polls (before 5.13): one-shot from now on. */
		r->multishot_ok = false;
		if (!p->armed)
			poll_arm_or_defer(r, idx);
		return 0;
	} else if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
		if (!p->armed)
			poll_arm_or_defer(r, idx);
		return 0;
	} else {
		/* Not re-armed: a refused poll would come straight back. */
		revents = res == -EBADF ? POLLNVAL : POLLERR;
		p->broken = true;
	}
	int fd = p->fd;
	p->cb(p->arg, fd, revents);
	/* The callback may have deleted, modified or re-added the fd: then gen moved on. */
	if (p->fd == fd && p->gen == gen && !p->armed && !p->broken && !p->arm_pending)
		poll_arm_or_defer(r, idx);
	return 1;
}

/* ---- timers ---- */

static uint32_t id_home(uint64_t id)
{
	/* splitmix64's finaliser: ids are often sequential, the table wants them spread. */
	id ^= id >> 30;
	id *= 0xbf58476d1ce4e5b9ULL;
	id ^= id >> 27;
	id *= 0x94d049bb133111ebULL;
	id ^= id >> 31;
	return (uint32_t)id & (TIMER_HASH_SIZE - 1);
}

static uint32_t timer_find(const struct io_reactor *r, uint64_t id)
{
	uint32_t i = id_home(id);
	for (uint32_t n = 0; n < TIMER_HASH_SIZE; n++, i = (i + 1) & (TIMER_HASH_SIZE - 1)) {
		uint32_t v = r->timer_hash[i];
		if (v == 0)
			return NONE;
		if (r->timers[v - 1].id == id)
			return v - 1;
	}
	return NONE;
}

static void timer_hash_insert(struct io_reactor *r, uint32_t idx)
{
	uint32_t i = id_home(r->timers[idx].id);
	while (r->timer_hash[i] != 0)
		i = (i + 1) & (TIMER_HASH_SIZE - 1);
	r->timer_hash[i] = idx + 1;
}

static void timer_hash_remove(struct io_reactor *r, uint64_t id)
{
	const uint32_t mask = TIMER_HASH_SIZE - 1;
	uint32_t i = id_home(id);
	while (r->timers[r->timer_hash[i] - 1].id != id)
		i = (i + 1) & mask;
	r->timer_hash[i] = 0;
	for (uint32_t j = (i + 1) & mask; r->timer_hash[j] != 0; j = (j + 1) & mask) {
		uint32_t k = id_home(r->timers[r->timer_hash[j] - 1].id);
		bool stays = (j > i) ? (k > i && k <= j) : (k > i || k <= j);
		if (stays)
			continue;
		r->timer_hash[i] = r->timer_hash[j];
		r->timer_hash[j] = 0;
		i = j;
	}
}

static bool timer_before(const struct io_reactor *r, uint32_t a, uint32_t b)
{
	const struct timer *ta = &r->timers[a], *tb = &r->timers[b];
	if (ta->due_ms != tb->due_ms)
		return ta->due_ms < tb->due_ms;
	return ta->id < tb->id;
}

static void heap_place(struct io_reactor *r, uint32_t pos, uint32_t idx)
{
	r->heap[pos] = idx;
	r->timers[idx].heap_pos = pos;
}

static void heap_up(struct io_reactor *r, uint32_t pos)
{
	uint32_t idx = r->heap[pos];
	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;
		if (!timer_before(r, idx, r->heap[parent]))
			break;
		heap_place(r, pos, r->heap[parent]);
		pos = parent;
	}
	heap_place(r, pos, idx);
}

static void heap_down(struct io_reactor *r, uint32_t pos)
{
	uint32_t idx = r->heap[pos];
	for (;;) {
		uint32_t child = 2 * pos + 1;
		if (child >= r->heap_len)
			break;
		if (child + 1 < r->heap_len && timer_before(r, r->heap[child + 1], r->heap[child]))
			child++;
		if (!timer_before(r, r->heap[child], idx))
			break;
		heap_place(r, pos, r->heap[child]);
		pos = child;
	}
	heap_place(r, pos, idx);
}

static void heap_push(struct io_reactor *r, uint32_t idx)
{
	assert(r->heap_len < IO_TIMERS_MAX);
	r->heap[r->heap_len] = idx;
	r->timers[idx].heap_pos = r->heap_len;
	r->heap_len++;
	heap_up(r, r->heap_len - 1);
}

static void heap_remove(struct io_reactor *r, uint32_t pos)
{
	assert(pos < r->heap_len);
	r->heap_len--;
	if (pos == r->heap_len)
		return;
	uint32_t moved = r->heap[r->heap_len];
	heap_place(r, pos, moved);
	heap_up(r, pos);
	heap_down(r, r->timers[moved].heap_pos);
}

/* Back to the free list; the gen bump makes a pending fire of it stale. */
static void timer_release(struct io_reactor *r, uint32_t idx)
{
	struct timer *t = &r->timers[idx];
	assert(t->state != TIMER_FREE);
	if (t->state == TIMER_ARMED)
		heap_remove(r, t->heap_pos);
	timer_hash_remove(r, t->id);
	uint32_t gen = t->gen + 1;
	*t = (struct timer){.gen = gen, .heap_pos = r->timer_free, .state = TIMER_FREE};
	r->timer_free = idx;
	r->timer_count--;
}

int io_timer_set(struct io_reactor *r, uint64_t id, uint64_t due_ms, io_timer_cb cb, void *arg)
{
	if (cb == NULL)
		return -EINVAL;
	uint32_t idx = timer_find(r, id);
	if (idx != NONE) {
		struct timer *t = &r->timers[idx];
		t->due_ms = due_ms;
		t->cb = cb;
		t->arg = arg;
		if (t->state == TIMER_ARMED) {
			heap_up(r, t->heap_pos);
			heap_down(r, t->heap_pos);
		} else {
			/* Firing this turn: moving it wins, the pending fire goes stale. */
			assert(t->state == TIMER_FIRING);
			t->gen++;
			t->state = TIMER_ARMED;
			heap_push(r, idx);
		}
		return 0;
	}
	if (r->timer_count == IO_TIMERS_MAX)
		return -ENOSPC;
	if (r->timer_free != NONE) {
		idx = r->timer_free;
		r->timer_free = r->timers[idx].heap_pos;
	} else {
		assert(r->timer_used < IO_TIMERS_MAX);
		idx = r->timer_used++;
	}
	struct timer *t = &r->timers[idx];
	assert(t->state == TIMER_FREE);
	t->id = id;
	t->due_ms = due_ms;
	t->cb = cb;
	t->arg = arg;
	t->state = TIMER_ARMED;
	timer_hash_insert(r, idx);
	heap_push(r, idx);
	r->timer_count++;
	assert(timer_find(r, id) == idx);
	return 0;
}

int io_timer_cancel(struct io_reactor *r, uint64_t id)
{
	uint32_t idx = timer_find(r, id);
	if (idx == NONE)
		return -ENOENT;
	timer_release(r, idx);
	assert(timer_find(r, id) == NONE);
	return 0;
}

uint64_t io_timer_id_alloc(struct io_reactor *r)
{
	assert(r->timer_id_next >= IO_TIMER_ID_ALLOC_BASE);
	return r->timer_id_next++;
}

/*
 * Fires the timers due at now, in (due_ms, id) order. They are taken off the
 * heap first, so a timer set from a callback for now or earlier waits for the
 * next turn: a turn is bounded by the timers it started with.
 */
static int timers_fire(struct io_reactor *r)
{
	uint32_t n = 0;
	while (r->heap_len > 0 && r->timers[r->heap[0]].due_ms <= r->now_ms) {
		uint32_t idx = r->heap[0];
		heap_remove(r, 0);
		r->timers[idx].state = TIMER_FIRING;
		assert(n < IO_TIMERS_MAX);
		r->fired[n++] = (struct fired){.idx = idx, .gen = r->timers[idx].gen};
	}
	int ran = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = r->fired[i].idx;
		struct timer *t = &r->timers[idx];
		if (t->state != TIMER_FIRING || t->gen != r->fired[i].gen)
			continue; /* cancelled or moved by an earlier callback */
		io_timer_cb cb = t->cb;
		void *arg = t->arg;
		uint64_t id = t->id;
		timer_release(r, idx);
		cb(arg, id);
		ran++;
	}
	return ran;
}

/* Points the kernel timeout at the earliest timer (or removes it). Needs 2 SQEs. */
static void tmo_arm(struct io_reactor *r)
{
	bool want = r->heap_len > 0;
	uint64_t due_ms = want ? r->timers[r->heap[0]].due_ms : 0;
	if (r->tmo_armed && want && r->tmo_due_ms == due_ms)
		return;
	if (r->tmo_armed) {
		struct io_uring_sqe *sqe = sqe_get(r);
		io_uring_prep_timeout_remove(sqe, ud_make(UD_TMO, 0, r->tmo_gen), 0);
		io_uring_sqe_set_data64(sqe, 0);
		if (r->skip_ok)
			sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		r->tmo_armed = false;
	}
	if (!want)
		return;
	r->tmo_gen++;
	r->tmo_ts = ms_to_ts(due_ms);
	struct io_uring_sqe *sqe = sqe_get(r);
	io_uring_prep_timeout(sqe, &r->tmo_ts, 0, IORING_TIMEOUT_ABS);
	io_uring_sqe_set_data64(sqe, ud_make(UD_TMO, 0, r->tmo_gen));
	r->tmo_armed = true;
	r->tmo_due_ms = due_ms;
}

static void tmo_complete(struct io_reactor *r, uint32_t gen)
{
	if (gen == r->tmo_gen)
		r->tmo_armed = false;
}

/* ---- connects ---- */

int io_connect(struct io_reactor *r, int fd, const struct sockaddr *addr, unsigned addrlen,
               uint64_t timeout_ms, io_connect_cb cb, void *arg)
{
	if (fd < 0 || addr == NULL || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage) ||
	    timeout_ms == 0 || cb == NULL)
		return -EINVAL;
	if (r->connect_count == IO_CONNECTS_MAX)
		return -ENOSPC;
	/* Both SQEs in one batch: the link must not be split by a flush. */
	int rc = sq_reserve(r, 2);
	if (rc < 0)
		return rc;
	uint32_t idx;
	if (r->connect_free != NONE) {
		idx = r->connect_free;
		r->connect_free = r->connects[idx].next_free;
	} else {
		assert(r->connect_used < IO_CONNECTS_MAX);
		idx = r->connect_used++;
	}
	struct connect_slot *c = &r->connects[idx];
	assert(!c->busy);
	c->busy = true;
	c->fd = fd;
	c->cb = cb;
	c->arg = arg;
	memcpy(&c->addr, addr, addrlen);
	c->ts = ms_to_ts(timeout_ms);
	r->connect_count++;

	struct io_uring_sqe *sqe = sqe_get(r);
	io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&c->addr, addrlen);
	io_uring_sqe_set_data64(sqe, ud_make(UD_CONNECT, idx, c->gen));
	sqe->flags |= IOSQE_IO_LINK;
	sqe = sqe_get(r);
	io_uring_prep_link_timeout(sqe, &c->ts, 0);
	io_uring_sqe_set_data64(sqe, 0);
	return 0;
}

static int connect_complete(struct io_reactor *r, uint32_t idx, uint32_t gen, int res)
{
	if (idx >= r->connect_used)
		return 0;
	struct connect_slot *c = &r->connects[idx];
	if (!c->busy || c->gen != gen)
		return 0;
	/* Only the linked timeout cancels a connect: that is the deadline. */
	if (res == -ECANCELED)
		res = -ETIMEDOUT;
	io_connect_cb cb = c->cb;
	void *arg = c->arg;
	int fd = c->fd;
	uint32_t next_gen = c->gen + 1;
	*c = (struct connect_slot){.gen = next_gen, .next_free = r->connect_free, .fd = -1};
	r->connect_free = idx;
	r->connect_count--;
	cb(arg, fd, res);
	return 1;
}

/* ---- the loop ---- */

static int cqe_dispatch_one(struct io_reactor *r, uint64_t ud, int res, uint32_t flags)
{
	uint32_t kind = (uint32_t)(ud & 0xf);
	uint32_t idx = (uint32_t)(ud >> 4) & ((1u << 28) - 1);
	uint32_t gen = (uint32_t)(ud >> 32);
	switch (kind) {
	case UD_POLL:
		return poll_complete(r, idx, gen, res, flags);
	case UD_TMO:
		tmo_complete(r, gen);
		return 0;
	case UD_CONNECT:
		return connect_complete(r, idx, gen, res);
	default:
		return 0; /* removals and link timeouts: nothing to report */
	}
}

/*
 * Dispatches the completions in the ring. Each batch is copied out and the ring
 * advanced before any callback runs, so callbacks can submit freely. Bounded per
 * turn; what is left is picked up by the next turn without blocking.
 */
static int cqes_dispatch(struct io_reactor *r)
{
	int ran = 0;
	unsigned seen = 0;
	while (seen < r->cqe_per_turn_max) {
		struct io_uring_cqe *cqes[CQE_BATCH];
		struct {
			uint64_t ud;
			int res;
			uint32_t flags;
		} batch[CQE_BATCH];
		unsigned n = io_uring_peek_batch_cqe(&r->ring, cqes, CQE_BATCH);
		if (n == 0)
			break;
		for (unsigned i = 0; i < n; i++) {
			batch[i].ud = cqes[i]->user_data;
			batch[i].res = cqes[i]->res;
			batch[i].flags = cqes[i]->flags;
		}
		io_uring_cq_advance(&r->ring, n);
		for (unsigned i = 0; i < n; i++)
			ran += cqe_dispatch_one(r, batch[i].ud, batch[i].res, batch[i].flags);
		seen += n;
	}
	return ran;
}

/* Submits what is queued and sleeps until a completion, the earliest timer or wait_ms_max. */
static int turn_wait(struct io_reactor *r, int wait_ms_max)
{
	if (r->removes_pending > 0)
		poll_removes_flush(r);
	if (r->polls_arm_pending > 0)
		polls_arm_pending(r);
	/* Due already (set for "now" by the last turn): look, but do not sleep. */
	bool due_now = r->heap_len > 0 && r->timers[r->heap[0]].due_ms <= r->now_ms;
	int rc = sq_reserve(r, 2);
	if (rc < 0)
		return rc;
	if (!due_now)
		tmo_arm(r);
	struct __kernel_timespec ts = {0, 0};
	struct __kernel_timespec *tsp = NULL;
	if (due_now || wait_ms_max == 0)
		tsp = &ts;
	else if (wait_ms_max > 0) {
		ts = ms_to_ts((uint64_t)wait_ms_max);
		tsp = &ts;
	}
	struct io_uring_cqe *cqe;
	rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, tsp, NULL);
	if (rc >= 0 || rc == -ETIME || rc == -EINTR)
		return 0;
	return rc;
}

int io_reactor_run_once(struct io_reactor *r, int wait_ms_max)
{
	assert(!r->in_turn); /* not from a callback */
	if (wait_ms_max < -1)
		return -EINVAL;
	r->in_turn = true;
	int rc = turn_wait(r, wait_ms_max);
	if (rc < 0) {
		r->in_turn = false;
		return rc;
	}
	uint64_t now_ms = clock_ms();
	assert(now_ms >= r->now_ms);
	r->now_ms = now_ms;
	int ran = timers_fire(r);
	ran += cqes_dispatch(r);
	r->in_turn = false;
	return ran;
}

uint64_t io_reactor_now_ms(const struct io_reactor *r)
{
	return r->now_ms;
}

int io_reactor_new(struct io_reactor **out, unsigned entries)
{
	if (entries == 0)
		entries = 256;
	/* ~5 MiB, almost all of it untouched until used (calloc maps it zeroed). */
	struct io_reactor *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	/* The completion ring holds at least twice the submission ring. */
	unsigned cq_entries = entries > CQ_ENTRIES / 2 ? 2 * entries : CQ_ENTRIES;
	struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL,
	                            .cq_entries = cq_entries};
	int rc = io_uring_queue_init_params(entries, &r->ring, &p);
	if (rc == -EINVAL) {
		/* Before 5.18 there is no SUBMIT_ALL: a failed SQE then stops the batch. */
		p = (struct io_uring_params){.flags = IORING_SETUP_CQSIZE,
		                             .cq_entries = cq_entries};
		rc = io_uring_queue_init_params(entries, &r->ring, &p);
	}
	if (rc < 0) {
		free(r);
		return rc;
	}
	/* RSRC_TAGS came in 5.13 with multishot polls; a refusal is also handled at run time. */
	r->multishot_ok = (p.features & IORING_FEAT_RSRC_TAGS) != 0;
	r->skip_ok = (p.features & IORING_FEAT_CQE_SKIP) != 0;
	r->cqe_per_turn_max = 2 * p.cq_entries;
	r->poll_free = NONE;
	r->timer_free = NONE;
	r->connect_free = NONE;
	r->timer_id_next = IO_TIMER_ID_ALLOC_BASE;
	for (uint32_t i = 0; i < IO_POLLS_MAX; i++)
		r->polls[i].fd = -1;
	r->now_ms = clock_ms();
	*out = r;
	return 0;
}

void io_reactor_free(struct io_reactor *r)
{
	if (r == NULL)
		return;
	assert(!r->in_turn);
	/* The kernel cancels what is in flight; it copied addresses and timespecs at submit. */
	io_uring_queue_exit(&r->ring);
	free(r);
}
