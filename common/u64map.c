#include "u64map.h"

#include <stdlib.h>

typedef struct {
    uint64_t key;   /* 0 = empty slot */
    void *value;
} slot_t;

struct rtp_u64map_t {
    slot_t *slots;
    size_t mask;    /* capacity - 1; capacity is a power of two */
    size_t size;
};

/* A 64-bit mixer (splitmix64 finaliser) so sequential keys spread over the table. */
static size_t s_hash(uint64_t k)
{
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ULL;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebULL;
    k ^= k >> 31;
    return (size_t) k;
}

rtp_u64map_t *rtp_u64map_new(size_t initial)
{
    rtp_u64map_t *self = calloc(1, sizeof *self);
    size_t cap = 16;
    while (cap < initial * 2)
        cap *= 2;
    if (self)
        self->slots = calloc(cap, sizeof *self->slots);
    if (!self || !self->slots) {
        free(self);
        return NULL;
    }
    self->mask = cap - 1;
    return self;
}

void rtp_u64map_destroy(rtp_u64map_t **self_p)
{
    if (self_p && *self_p) {
        free((*self_p)->slots);
        free(*self_p);
        *self_p = NULL;
    }
}

static int s_grow(rtp_u64map_t *self)
{
    size_t cap = (self->mask + 1) * 2;
    slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i <= self->mask; i++) {
        slot_t s = self->slots[i];
        if (!s.key)
            continue;
        size_t j = s_hash(s.key) & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = s;
    }
    free(self->slots);
    self->slots = slots;
    self->mask = cap - 1;
    return 0;
}

int rtp_u64map_put(rtp_u64map_t *self, uint64_t key, void *value)
{
    if (!key)
        return -1;
    if ((self->size + 1) * 4 > (self->mask + 1) * 3 && s_grow(self) != 0)
        return -1;   /* keep the load under 3/4 */
    size_t i = s_hash(key) & self->mask;
    while (self->slots[i].key && self->slots[i].key != key)
        i = (i + 1) & self->mask;
    if (!self->slots[i].key)
        self->size++;
    self->slots[i].key = key;
    self->slots[i].value = value;
    return 0;
}

void *rtp_u64map_get(const rtp_u64map_t *self, uint64_t key)
{
    if (!key)
        return NULL;
    for (size_t i = s_hash(key) & self->mask; self->slots[i].key; i = (i + 1) & self->mask)
        if (self->slots[i].key == key)
            return self->slots[i].value;
    return NULL;
}

void *rtp_u64map_remove(rtp_u64map_t *self, uint64_t key)
{
    if (!key)
        return NULL;
    size_t i = s_hash(key) & self->mask;
    while (self->slots[i].key && self->slots[i].key != key)
        i = (i + 1) & self->mask;
    if (!self->slots[i].key)
        return NULL;
    void *value = self->slots[i].value;
    /* Backward shift: pull later entries of the probe run into the hole so that
     * lookups never stop early at an emptied slot. */
    size_t hole = i;
    for (size_t j = (i + 1) & self->mask; self->slots[j].key; j = (j + 1) & self->mask) {
        size_t home = s_hash(self->slots[j].key) & self->mask;
        /* entry j may move to the hole if its home is not in (hole, j] cyclically */
        int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            self->slots[hole] = self->slots[j];
            hole = j;
        }
    }
    self->slots[hole].key = 0;
    self->slots[hole].value = NULL;
    self->size--;
    return value;
}

size_t rtp_u64map_size(const rtp_u64map_t *self) { return self->size; }

void rtp_u64map_each(const rtp_u64map_t *self, void (*fn)(uint64_t key, void *value, void *arg), void *arg)
{
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots[i].key)
            fn(self->slots[i].key, self->slots[i].value, arg);
}
