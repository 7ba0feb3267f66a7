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
 * turn starts; io_reactor_now_ms() returns it, so every callback of a turn sees
 * the same "now" (curl's lesson on mixing fresh clock reads with a passed-in now).
 *
 * Bounds: at most IO_POLLS_MAX polled fds and IO_TIMERS_MAX timers; past them
 * the add calls return -ENOSPC.
 *
 * Ownership: the reactor keeps the callback and its argument until the poll or
 * timer is removed (or, for a timer, has fired); the caller owns the fds.
 */
#ifndef LEDGERLET_IO_REACTOR_H
#define LEDGERLET_IO_REACTOR_H

#include <stdbool.h>
#include <stdint.h>

#define IO_POLLS_MAX 4096
#define IO_TIMERS_MAX 65536

struct io_reactor;

/* Poll events, as poll(2): POLLIN, POLLOUT; revents may add POLLERR, POLLHUP. */
typedef void (*io_poll_cb)(void *arg, int fd, uint32_t revents);
typedef void (*io_timer_cb)(void *arg, uint64_t timer_id);
/* res: 0 when connected, or a negative errno (-ETIMEDOUT at the deadline). */
typedef void (*io_connect_cb)(void *arg, int fd, int res);

/* 0 or a negative errno. entries: the ring's size (0: 256). */
int io_reactor_new(struct io_reactor **out, unsigned entries);
void io_reactor_free(struct io_reactor *r);

/* The loop turn's clock reading, CLOCK_MONOTONIC in ms. */
uint64_t io_reactor_now_ms(const struct io_reactor *r);

/*
 * Polls fd for `events` until io_poll_del, calling cb on each readiness (a
 * multishot poll where the kernel offers it, re-armed otherwise). One
 * registration per fd; io_poll_mod changes the events.
 */
int io_poll_add(struct io_reactor *r, int fd, uint32_t events, io_poll_cb cb, void *arg);
int io_poll_mod(struct io_reactor *r, int fd, uint32_t events);
int io_poll_del(struct io_reactor *r, int fd);

/* Sets (or moves) the timer `id` to fire once at due_ms (monotonic ms). */
int io_timer_set(struct io_reactor *r, uint64_t id, uint64_t due_ms, io_timer_cb cb, void *arg);
int io_timer_cancel(struct io_reactor *r, uint64_t id);

/* Connects fd (non-blocking socket) to addr with a deadline; cb gets the result. */
struct sockaddr;
int io_connect(struct io_reactor *r, int fd, const struct sockaddr *addr, unsigned addrlen,
	       uint64_t timeout_ms, io_connect_cb cb, void *arg);

/*
 * Runs one loop turn: reads the clock, fires due timers, waits (at most
 * wait_ms_max, or until the next timer; -1: no limit) for completions, and
 * dispatches their callbacks. Returns the number of callbacks run, or a
 * negative errno.
 */
int io_reactor_run_once(struct io_reactor *r, int wait_ms_max);

#endif
