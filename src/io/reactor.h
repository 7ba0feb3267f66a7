/*
 * io/reactor.h — the one io_uring event loop of the daemon (liburing).
 *
 * Everything the daemon waits for goes through here: file descriptors to poll
 * (libcurl's sockets, inotify, signalfd, pidfd), timers, and connects with a
 * deadline (tcpSocket probes). Callbacks run from io_reactor_run_once(), never
 * from inside the call that registered them (TigerBeetle's rule: completions
 * are delivered later, on the loop). Idle means asleep: with nothing ready and
 * no timer due, run_once blocks in the kernel.
 *
 * Time: one clock reading (CLOCK_MONOTONIC, ms) per loop turn, taken when the
 * turn's wait ends; io_reactor_now_ms() returns it, so every callback of a turn
 * sees the same "now" (curl's lesson on mixing fresh clock reads with a
 * passed-in now). Between turns it is the last turn's reading.
 *
 * Bounds: at most IO_POLLS_MAX polled fds, IO_TIMERS_MAX timers and
 * IO_CONNECTS_MAX connects in flight; past them the add calls return -ENOSPC.
 * Everything is allocated by io_reactor_new(); nothing allocates afterwards.
 *
 * Errors: 0 or a negative errno. -EINVAL for a bad argument, -EEXIST for a
 * second registration of an fd, -ENOENT for an fd or timer id not registered,
 * -ENOSPC at a bound, -EBUSY/-EAGAIN when the kernel would not take a
 * submission (retry on a later turn).
 *
 * Ownership: the reactor keeps the callback and its argument until the poll or
 * timer is removed (or, for a timer or a connect, its callback has run); the
 * caller owns the fds and must not close a polled fd before io_poll_del() (the
 * kernel holds the file open until the poll is removed). After io_poll_del()
 * or io_timer_cancel() returns, the callback is never called again, even for a
 * completion the kernel had already posted: the arg may be freed at once.
 *
 * Not thread-safe: one thread owns a reactor and makes every call.
 */
#ifndef LEDGERLET_IO_REACTOR_H
#define LEDGERLET_IO_REACTOR_H

#include <stdbool.h>
#include <stdint.h>

#define IO_POLLS_MAX    4096
#define IO_TIMERS_MAX   65536
#define IO_CONNECTS_MAX 1024

/*
 * Or'd into io_poll_add's events for edge-triggered polling: a multishot
 * IORING_OP_POLL_ADD that calls cb once per wakeup of the fd, not while the fd
 * stays ready. The callback must then drain the fd until EAGAIN (inotify,
 * signalfd, pidfd, accept loops). Without it the poll is level-triggered like
 * poll(2): a one-shot poll re-armed after each callback, so cb runs on every
 * turn while the fd is ready. libcurl is driven level-triggered (as its epoll
 * examples are): it may stop reading before EAGAIN and expect to be told again.
 */
#define IO_POLL_EDGE (1u << 31)

/* Ids from io_timer_id_alloc() start here; ids a caller picks stay below. */
#define IO_TIMER_ID_ALLOC_BASE (UINT64_C(1) << 63)

struct io_reactor;

/*
 * Poll events, as poll(2): POLLIN, POLLOUT, POLLPRI, POLLRDHUP; revents may add
 * POLLERR, POLLHUP. POLLNVAL (bad fd) or POLLERR alone from a failed poll
 * request means the poll is no longer armed: io_poll_mod re-arms it,
 * io_poll_del drops it.
 */
typedef void (*io_poll_cb)(void *arg, int fd, uint32_t revents);
typedef void (*io_timer_cb)(void *arg, uint64_t timer_id);
/* res: 0 when connected, or a negative errno (-ETIMEDOUT at the deadline). */
typedef void (*io_connect_cb)(void *arg, int fd, int res);

/*
 * 0 or a negative errno (-ENOMEM, or the kernel's refusal of io_uring, e.g.
 * -EPERM or -ENOSYS). entries: the submission ring's size (0: 256).
 * *out is the caller's until io_reactor_free().
 */
int io_reactor_new(struct io_reactor **out, unsigned entries);
/* Drops every registration without calling its callback (connects included). */
void io_reactor_free(struct io_reactor *r);

/* The loop turn's clock reading, CLOCK_MONOTONIC in ms. */
uint64_t io_reactor_now_ms(const struct io_reactor *r);

/*
 * Polls fd for `events` until io_poll_del, calling cb on each readiness
 * (level-triggered, or edge-triggered with IO_POLL_EDGE: see above). One
 * registration per fd (-EEXIST); io_poll_mod changes the events (IO_POLL_EDGE
 * included) and re-arms. All three may be called from any callback, including
 * the fd's own.
 */
int io_poll_add(struct io_reactor *r, int fd, uint32_t events, io_poll_cb cb, void *arg);
int io_poll_mod(struct io_reactor *r, int fd, uint32_t events);
int io_poll_del(struct io_reactor *r, int fd);

/*
 * Sets (or moves) the timer `id` to fire once at due_ms (monotonic ms), with
 * this cb and arg. A due_ms at or before now fires on the next turn, never
 * inside the call. Timers due in the same turn fire in (due_ms, id) order.
 * Moving or cancelling a timer from a callback of the turn it is due in still
 * wins: it does not fire.
 */
int io_timer_set(struct io_reactor *r, uint64_t id, uint64_t due_ms, io_timer_cb cb, void *arg);
int io_timer_cancel(struct io_reactor *r, uint64_t id);
/* A timer id no other caller of io_timer_id_alloc() gets (>= IO_TIMER_ID_ALLOC_BASE). */
uint64_t io_timer_id_alloc(struct io_reactor *r);

/*
 * Connects fd (a socket, blocking or not) to addr with a deadline of
 * timeout_ms (> 0) from now; cb gets the result on a later turn, exactly once
 * (unless the reactor is freed first). addr is copied. The caller keeps fd
 * open until cb has run.
 */
struct sockaddr;
int io_connect(struct io_reactor *r, int fd, const struct sockaddr *addr, unsigned addrlen,
               uint64_t timeout_ms, io_connect_cb cb, void *arg);

/*
 * Runs one loop turn: submits what the previous turn and the calls since
 * queued, waits (at most wait_ms_max, or until the earliest timer is due;
 * -1: no limit; 0: does not block) for completions, reads the clock, fires the
 * due timers, then dispatches the completions' callbacks. Returns the number
 * of callbacks run, or a negative errno. With nothing registered and
 * wait_ms_max -1 it blocks for good. Must not be called from a callback.
 */
int io_reactor_run_once(struct io_reactor *r, int wait_ms_max);

#endif
