/*
 * io/backoff.h — the API sources' back-off (io/podwatch, io/objwatch), as
 * client-go's reflector backs off: 0.8 s doubling to 30 s, each delay drawn
 * with ±25 % jitter here in io (the daemon journals the delay it drew), and at
 * least as long as a Retry-After says.
 */
#ifndef LEDGERLET_IO_BACKOFF_H
#define LEDGERLET_IO_BACKOFF_H

#include <stdint.h>

#define IO_BACKOFF_FIRST_MS 800
#define IO_BACKOFF_MAX_MS   30000

/* A random number from the kernel (rand() when it has none at once). */
uint32_t io_random_u32(void);

/* Moves *backoff_ms (0: none yet) to the next step and returns the delay to
 * wait: the step with its jitter, at least retry_after_ms. Reset *backoff_ms to
 * 0 after a success. */
uint64_t io_backoff_next(uint64_t *backoff_ms, uint64_t retry_after_ms);

#endif
