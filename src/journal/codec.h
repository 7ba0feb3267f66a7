/*
 * journal/codec.h — records <-> the fold's plain C structs (internal to journal).
 *
 * The protobuf-c types of schemas/journal.proto stop here: above this file the
 * journal speaks fsm_event, fsm_command and fsm_state; below it, frames of bytes.
 * A frame is an 8-byte little-endian checksum (jnl_hash64 of the message bytes,
 * seed 0) followed by the message.
 */
#ifndef LEDGERLET_JOURNAL_CODEC_H
#define LEDGERLET_JOURNAL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "fsm/arena.h"
#include "fsm/fsm.h"
#include "journal/journal.h"

#define JNL_FRAME_HDR 8

/* A growable byte buffer owned by its user. */
struct jnl_buf {
	unsigned char *p;
	size_t len, cap;
};
int jnl_buf_reserve(struct jnl_buf *b, size_t more);
void jnl_buf_free(struct jnl_buf *b);

/* The plain form of the Meta record. */
struct jnl_meta {
	uint32_t format_version;
	uint64_t created_wall_ms;
	uint64_t base_seq;
	uint64_t base_hash;
	uint64_t tip_seq;
	uint64_t tip_hash;
	uint64_t tip_ts_ms;
	uint64_t tip_wall_ms;
};

/* The plain form of a Snapshot record's header; the state goes to fsm_state. */
struct jnl_snap_hdr {
	uint64_t seq;
	uint64_t entry_hash;
	uint64_t ts_ms;
	uint64_t wall_ms;
	uint32_t fsm_version;
};

/* 0 and *hash when the frame's checksum matches its bytes, else JNL_ECHECKSUM. */
int jnl_frame_check(const void *frame, size_t len, uint64_t *hash);
uint64_t jnl_frame_hash(const void *frame);

/* Appends frame(Entry) to out; *hash is the frame's checksum. */
int jnl_codec_entry_encode(struct jnl_buf *out, uint64_t seq, uint64_t prev_hash,
			   const struct fsm_event *ev, const struct fsm_command *cmds, size_t ncmd,
			   uint64_t *hash);
/*
 * Decodes a frame whose checksum was checked. e->ev, e->cmds and their strings
 * live in arena; *seq and *prev_hash are the entry's own. JNL_EDECODE with `why`
 * when the bytes are not an Entry this build understands.
 */
int jnl_codec_entry_decode(const void *frame, size_t len, struct fsm_arena *arena,
			   struct jnl_entry *e, uint64_t *seq, uint64_t *prev_hash, char *why,
			   size_t why_len);

int jnl_codec_meta_encode(struct jnl_buf *out, const struct jnl_meta *m);
int jnl_codec_meta_decode(const void *frame, size_t len, struct jnl_meta *m);

int jnl_codec_snapshot_encode(struct jnl_buf *out, const struct jnl_snap_hdr *h,
			      const struct fsm_state *s);
/* s may be NULL to read the header only. s is initialised by the callee. */
int jnl_codec_snapshot_decode(const void *frame, size_t len, struct jnl_snap_hdr *h,
			      struct fsm_state *s);

/* Deep copies into arena (for the batch, which outlives the caller's strings). */
int jnl_codec_event_copy(struct fsm_arena *a, struct fsm_event *dst, const struct fsm_event *src);
int jnl_codec_commands_copy(struct fsm_arena *a, struct fsm_command **dst,
			    const struct fsm_command *src, size_t n);

#endif
