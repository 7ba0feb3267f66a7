/*
 * journal/hash.h — the 64-bit checksum of journal records.
 *
 * It detects damage and splicing, not an attacker: a fast non-cryptographic
 * hash, four independent lanes of multiply-rotate rounds over 8-byte
 * little-endian words, then an avalanche. The result is the same on every
 * machine (explicit little-endian loads), because it is stored in the journal.
 */
#ifndef LEDGERLET_JOURNAL_HASH_H
#define LEDGERLET_JOURNAL_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t jnl_hash64(uint64_t seed, const void *data, size_t len);

#endif
