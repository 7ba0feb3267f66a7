/*
 * io/backoff.c — see backoff.h.
 */
#include "io/backoff.h"

#include <stdlib.h>
#include <sys/random.h>
#include <sys/types.h>

uint32_t io_random_u32(void)
{
	uint32_t v;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)rand();
	return v;
}

uint64_t io_backoff_next(uint64_t *backoff_ms, uint64_t retry_after_ms)
{
	uint64_t b = *backoff_ms == 0 ? IO_BACKOFF_FIRST_MS : *backoff_ms * 2;
	if (b > IO_BACKOFF_MAX_MS)
		b = IO_BACKOFF_MAX_MS;
	*backoff_ms = b;
	uint64_t span = b / 2; /* ±25 % */
	uint64_t delay = b - b / 4 + (span ? io_random_u32() % span : 0);
	return delay < retry_after_ms ? retry_after_ms : delay;
}
