/* json_arena: cJSON's allocations during a parse come from a per-thread arena
 * instead of malloc, and the whole tree is dropped at once afterwards.
 *
 * cJSON allocates every node and every string of a tree on its own, and frees them
 * one by one: for a tweet of ~4 KB that is a few hundred malloc/free pairs, which
 * cost about as much as the parse itself. Between rtp_json_arena_begin() and
 * rtp_json_arena_end() on a thread, cJSON's allocations on that thread are carved
 * from a few large chunks; cJSON_Delete of such a tree is not needed (and is a
 * no-op), and end() makes all of it invalid at once. Outside that window (other
 * threads, other uses of cJSON) allocations go to malloc as before: the hooks
 * installed here tell the two apart by address.
 *
 * Nothing parsed inside the window may be used after end(): copy what you keep.
 */
#ifndef RTP_JSON_ARENA_H
#define RTP_JSON_ARENA_H

#include <stddef.h>

/* Starts the window on this thread (installs cJSON's hooks on first use). */
void rtp_json_arena_begin(void);
/* size bytes from the arena, aligned for any object: for parsers other than
 * cJSON's that build trees into the same window. NULL outside the window or when
 * out of memory. */
void *rtp_json_arena_alloc(size_t size);
/* Ends it: every allocation made inside is gone. Chunks beyond the first are
 * released, so a rare huge document does not keep its memory. */
void rtp_json_arena_end(void);

#endif
