#include "keytab.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a over the case-folded bytes, so a key hashes the same in any case. */
static uint64_t s_hash(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= rtp_ascii_lower((unsigned char) key[i]);
        h *= 1099511628211ULL;
    }
    return h;
}

/* Whether the query equals a stored (lowercase) key, ignoring the query's ASCII case. */
static int s_equal(const char *query, const char *stored, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (rtp_ascii_lower((unsigned char) query[i]) != (unsigned char) stored[i])
            return 0;
    return 1;
}

int rtp_keytab_init(rtp_keytab_t *t, size_t max_keys, size_t max_key_bytes)
{
    memset(t, 0, sizeof *t);
    /* At most half full, so probe runs stay short. */
    size_t slots = 16;
    while (slots < 2 * max_keys) {
        if (slots > SIZE_MAX / 4)
            return -1;
        slots *= 2;
    }
    if (max_key_bytes > UINT32_MAX)
        return -1;
    t->slots = calloc(slots, sizeof *t->slots);
    t->pool = malloc(max_key_bytes ? max_key_bytes : 1);
    if (!t->slots || !t->pool) {
        rtp_keytab_free(t);
        return -1;
    }
    t->mask = slots - 1;
    t->pool_cap = max_key_bytes;
    t->max_keys = max_keys;
    return 0;
}

void rtp_keytab_free(rtp_keytab_t *t)
{
    free(t->slots);
    free(t->pool);
    memset(t, 0, sizeof *t);
}

int *rtp_keytab_put(rtp_keytab_t *t, const char *key, size_t len, int value, int *added_p)
{
    *added_p = 0;
    if (len == 0 || !t->slots)
        return NULL;
    uint64_t h = s_hash(key, len);
    size_t i = (size_t) h & t->mask;
    for (;; i = (i + 1) & t->mask) {
        rtp_keytab_slot_t *slot = &t->slots[i];
        if (slot->len == 0)
            break;
        if (slot->hash == h && slot->len == len && memcmp(t->pool + slot->off, key, len) == 0)
            return &slot->value;
    }
    if (t->count >= t->max_keys || len > t->pool_cap - t->pool_len)
        return NULL;
    rtp_keytab_slot_t *slot = &t->slots[i];
    memcpy(t->pool + t->pool_len, key, len);
    slot->hash = h;
    slot->off = (uint32_t) t->pool_len;
    slot->len = (uint32_t) len;
    slot->value = value;
    t->pool_len += len;
    t->count++;
    *added_p = 1;
    return &slot->value;
}

const int *rtp_keytab_get(const rtp_keytab_t *t, const char *key, size_t len)
{
    if (len == 0 || !t->slots)
        return NULL;
    uint64_t h = s_hash(key, len);
    for (size_t i = (size_t) h & t->mask;; i = (i + 1) & t->mask) {
        const rtp_keytab_slot_t *slot = &t->slots[i];
        if (slot->len == 0)
            return NULL;
        if (slot->hash == h && slot->len == len && s_equal(key, t->pool + slot->off, len))
            return &slot->value;
    }
}
