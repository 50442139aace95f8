#include "pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pool_t *pool_new(int pool)
{
    pool_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pool = pool;
    self->cap = 1024;
    self->queue = malloc(self->cap * sizeof *self->queue);
    if (!self->queue) {
        free(self);
        return NULL;
    }
    return self;
}

void pool_destroy(pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pool_t *self = *self_p;
    for (int i = 0; i < self->count; i++)
        free(self->workers[i]);
    free(self->queue);
    free(self);
    *self_p = NULL;
}

pool_worker_t *pool_find_peer(pool_t *self, const rtp_peer_t *peer)
{
    for (int i = 0; i < self->count; i++) {
        pool_worker_t *w = self->workers[i];
        if (w->peer.len == peer->len && memcmp(w->peer.data, peer->data, peer->len) == 0)
            return w;
    }
    return NULL;
}

pool_worker_t *pool_find_id(pool_t *self, uint32_t id)
{
    for (int i = 0; i < self->count; i++)
        if (self->workers[i]->id == id)
            return self->workers[i];
    return NULL;
}

pool_worker_t *pool_add(pool_t *self, uint32_t id, const rtp_peer_t *peer, const char *name, int capacity,
                        int64_t expires_ms)
{
    if (self->count >= POOL_MAX_WORKERS)
        return NULL;
    pool_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->id = id;
    w->peer = *peer;
    snprintf(w->name, sizeof w->name, "%s", name && *name ? name : "?");
    w->pool = self->pool;
    w->capacity = capacity > 0 ? capacity : 1;
    w->expires_ms = expires_ms;
    self->workers[self->count++] = w;
    return w;
}

void pool_remove(pool_t *self, pool_worker_t *worker)
{
    for (int i = 0; i < self->count; i++)
        if (self->workers[i] == worker) {
            self->workers[i] = self->workers[--self->count];
            free(worker);
            return;
        }
}

void pool_note_service(pool_t *self, double ms)
{
    if (!(ms >= 0))
        return;   /* NaN or negative: a confused worker */
    /* a moving average over roughly the last 20 tasks: follows a change of load
     * within a fraction of a second, yet one slow task does not swing it */
    self->service_ms = self->service_ms > 0 ? self->service_ms + (ms - self->service_ms) / 20.0 : ms;
}

int pool_credit_limit(const pool_t *self)
{
    if (!(self->service_ms > 0))
        return 2;
    double limit = POOL_QUEUE_BUDGET_MS / self->service_ms;
    return limit >= RTP_BUNDLE_MAX ? RTP_BUNDLE_MAX : limit > 2 ? (int) (limit + 0.5) : 2;
}

pool_worker_t *pool_least_loaded(pool_t *self, const uint32_t *exclude, int n_exclude)
{
    pool_worker_t *best = NULL;
    int n = self->count;
    int limit = pool_credit_limit(self);
    for (int k = 0; k < n; k++) {
        pool_worker_t *w = self->workers[(self->rotate + (uint32_t) k) % (uint32_t) n];
        if (w->in_flight >= w->capacity || w->in_flight >= limit)
            continue;
        int excluded = 0;
        for (int e = 0; e < n_exclude; e++)
            excluded |= exclude[e] == w->id;
        if (excluded)
            continue;
        if (!best || w->in_flight < best->in_flight)
            best = w;
    }
    if (best)
        self->rotate++;
    return best;
}

int pool_in_flight(const pool_t *self)
{
    int n = 0;
    for (int i = 0; i < self->count; i++)
        n += self->workers[i]->in_flight;
    return n;
}

static int s_grow(pool_t *self)
{
    if (self->len < self->cap)
        return 0;
    size_t cap = self->cap * 2;
    uint64_t *q = malloc(cap * sizeof *q);
    if (!q)
        return -1;
    for (size_t i = 0; i < self->len; i++)
        q[i] = self->queue[(self->head + i) % self->cap];
    free(self->queue);
    self->queue = q;
    self->head = 0;
    self->cap = cap;
    return 0;
}

int pool_push_back(pool_t *self, uint64_t key)
{
    if (s_grow(self) != 0)
        return -1;
    self->queue[(self->head + self->len) % self->cap] = key;
    self->len++;
    return 0;
}

int pool_push_front(pool_t *self, uint64_t key)
{
    if (s_grow(self) != 0)
        return -1;
    self->head = (self->head + self->cap - 1) % self->cap;
    self->queue[self->head] = key;
    self->len++;
    return 0;
}

uint64_t pool_pop_front(pool_t *self)
{
    if (!self->len)
        return 0;
    uint64_t key = self->queue[self->head];
    self->head = (self->head + 1) % self->cap;
    self->len--;
    return key;
}
