/* u64map: a hash map from non-zero 64-bit keys to pointers, open addressing with
 * linear probing and backward-shift deletion (no tombstones), grown by doubling.
 * Lookups and inserts allocate nothing unless the table grows. */
#ifndef RTP_U64MAP_H
#define RTP_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct rtp_u64map_t rtp_u64map_t;

rtp_u64map_t *rtp_u64map_new(size_t initial);
void rtp_u64map_destroy(rtp_u64map_t **self_p);
/* Inserts or replaces; key must not be 0. 0, or -1 when out of memory. */
int rtp_u64map_put(rtp_u64map_t *self, uint64_t key, void *value);
void *rtp_u64map_get(const rtp_u64map_t *self, uint64_t key);
/* Removes and returns the value, or NULL when absent. */
void *rtp_u64map_remove(rtp_u64map_t *self, uint64_t key);
size_t rtp_u64map_size(const rtp_u64map_t *self);
/* Calls fn for every entry; fn must not change the map. */
void rtp_u64map_each(const rtp_u64map_t *self, void (*fn)(uint64_t key, void *value, void *arg), void *arg);

#endif
