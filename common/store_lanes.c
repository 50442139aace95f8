#include "store_lanes.h"

#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* How long a waiting recv polls the lanes before it blocks on one (which applies the
 * link's command timeout). */
#define POLL_MS 1000

/* One lane's part of a batch. */
typedef struct {
    int sent; /* the lane's store has it */
    int done; /* its outcome is in */
    int rc;   /* once done: 1 written, -1 failed */
    rtp_store_counts_t counts;
    rtp_err_t err;
    char blocking[64];
    size_t *idx;     /* idx[i]: the index in the batch of the part's i-th message */
    size_t *refused; /* the batch indices of its refused rows (counts.refused) */
    size_t idx_bytes, refused_bytes;
} part_t;

typedef struct {
    part_t part[RTP_STORE_LANES_MAX];
    rtp_msg_t **msgs; /* the batch's messages (the caller keeps them until its recv) */
    unsigned char *lane_of;
    size_t count, msgs_bytes, lane_bytes;
} batch_t;

/* Tweet ids in flight and their lanes: open addressing, rebuilt at every send. */
typedef struct {
    const char *id;
    uint64_t hash;
    size_t lane;
} slot_t;

struct rtp_store_lanes_t {
    size_t n;
    rtp_store_t *lane[RTP_STORE_LANES_MAX];
    batch_t batches[RTP_STORE_PIPELINE]; /* in flight, the oldest at head */
    size_t head, pending;
    int broken;      /* a batch in flight failed: the ones behind it fail too (order) */
    rtp_msg_t **sub; /* a part's messages, handed to its lane */
    size_t sub_bytes;
    size_t *refused; /* of the last completed batch, in batch order */
    size_t refused_bytes;
    char blocking[64];
    slot_t *ids; /* tweet id -> lane, of the batches in flight (two lanes or more) */
    size_t ids_bytes, idcap;
};

static uint64_t s_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

/* The lane the table holds for id, else lane, entered for id. */
static size_t s_id_lane(rtp_store_lanes_t *self, const char *id, size_t lane)
{
    uint64_t h = s_hash(id);
    for (size_t i = h & (self->idcap - 1);; i = (i + 1) & (self->idcap - 1)) {
        slot_t *e = &self->ids[i];
        if (!e->id) {
            *e = (slot_t){id, h, lane};
            return lane;
        }
        if (e->hash == h && strcmp(e->id, id) == 0)
            return e->lane;
    }
}

size_t rtp_store_lane_of(const rtp_msg_t *m, size_t n)
{
    const char *key = m->tweet.user_id && *m->tweet.user_id ? m->tweet.user_id : m->tweet.id;
    return n ? (size_t) (s_hash(key) % n) : 0;
}

rtp_store_lanes_t *rtp_store_lanes_new(rtp_redis_link_t *const *links, size_t n)
{
    if (n < 1 || n > RTP_STORE_LANES_MAX)
        return NULL;
    rtp_store_lanes_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->n = n;
    for (size_t k = 0; k < n; k++)
        if (!(self->lane[k] = rtp_store_new(links[k]))) {
            rtp_store_lanes_destroy(&self);
            return NULL;
        }
    return self;
}

void rtp_store_lanes_destroy(rtp_store_lanes_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    rtp_store_lanes_t *self = *self_p;
    for (size_t k = 0; k < self->n; k++) {
        rtp_store_destroy(&self->lane[k]);
        for (size_t b = 0; b < RTP_STORE_PIPELINE; b++) {
            free(self->batches[b].part[k].idx);
            free(self->batches[b].part[k].refused);
        }
    }
    for (size_t b = 0; b < RTP_STORE_PIPELINE; b++) {
        free(self->batches[b].msgs);
        free(self->batches[b].lane_of);
    }
    free(self->ids);
    free(self->sub);
    free(self->refused);
    free(self);
    *self_p = NULL;
}

static batch_t *s_at(rtp_store_lanes_t *self, size_t i)
{
    return &self->batches[(self->head + i) % RTP_STORE_PIPELINE];
}

/* *buf with room for need bytes (rtp_reserve, growing *bytes). 0, or -1 when out of
 * memory (*buf as it was). */
static int s_room(void **buf, size_t *bytes, size_t need)
{
    void *grown = rtp_reserve(*buf, bytes, need, need > 64 ? need : 64);
    if (!grown)
        return -1;
    *buf = grown;
    return 0;
}

/* Room for count messages in b and its parts and in sub, and, with two lanes or more,
 * for the tweet ids of the batches in flight and count more in the table (emptied).
 * 0 or -1. */
static int s_reserve(rtp_store_lanes_t *self, batch_t *b, size_t count)
{
    void *msgs = b->msgs, *lane_of = b->lane_of, *sub = self->sub;
    int rc = s_room(&msgs, &b->msgs_bytes, count * sizeof *b->msgs);
    b->msgs = msgs;
    rc |= s_room(&lane_of, &b->lane_bytes, count);
    b->lane_of = lane_of;
    rc |= s_room(&sub, &self->sub_bytes, count * sizeof *self->sub);
    self->sub = sub;
    for (size_t k = 0; k < self->n; k++) {
        part_t *p = &b->part[k];
        void *idx = p->idx, *refused = p->refused;
        rc |= s_room(&idx, &p->idx_bytes, count * sizeof *p->idx);
        p->idx = idx;
        rc |= s_room(&refused, &p->refused_bytes, count * sizeof *p->refused);
        p->refused = refused;
    }
    if (rc || self->n == 1)
        return rc;
    size_t ids = count;
    for (size_t i = 0; i < self->pending; i++)
        ids += s_at(self, i)->count;
    size_t slots = 64; /* a power of two, twice the ids at least */
    while (slots < 2 * ids)
        slots *= 2;
    void *table = self->ids;
    if (s_room(&table, &self->ids_bytes, slots * sizeof *self->ids) != 0)
        return -1;
    self->ids = table;
    self->idcap = slots;
    memset(self->ids, 0, slots * sizeof *self->ids);
    return 0;
}

int rtp_store_lanes_send(rtp_store_lanes_t *self, rtp_msg_t *const *msgs, size_t count, rtp_err_t *err)
{
    if (self->pending == RTP_STORE_PIPELINE)
        return rtp_err_set(err, "%d batches already in flight", RTP_STORE_PIPELINE);
    batch_t *b = s_at(self, self->pending);
    if (s_reserve(self, b, count) != 0)
        return rtp_err_set(err, "out of memory");
    int by_id = self->n > 1; /* one lane: every row goes to it */
    for (size_t i = 0; by_id && i < self->pending; i++) { /* the tweet ids in flight, where they went */
        const batch_t *f = s_at(self, i);
        for (size_t j = 0; j < f->count; j++)
            if (f->msgs[j]->type == RTP_MSG_JOINED && f->msgs[j]->tweet.id)
                s_id_lane(self, f->msgs[j]->tweet.id, f->lane_of[j]);
    }
    for (size_t k = 0; k < self->n; k++) {
        b->part[k].sent = b->part[k].done = 0;
        b->part[k].rc = 0;
    }
    size_t lane_n[RTP_STORE_LANES_MAX] = {0};
    for (size_t i = 0; i < count; i++) {
        const rtp_msg_t *m = msgs[i];
        /* a dead letter goes with lane 0: its batch takes the script there. A tweet goes
         * with its user, unless the same tweet id is on its way in another lane (with
         * another user: not from Twitter), where it goes too, so that it is stored
         * once; its user's WATCH then keeps the two lanes' totals right */
        size_t k = 0;
        if (m->type == RTP_MSG_JOINED && by_id) {
            k = rtp_store_lane_of(m, self->n);
            if (m->tweet.id)
                k = s_id_lane(self, m->tweet.id, k);
        }
        b->msgs[i] = msgs[i];
        b->lane_of[i] = (unsigned char) k;
        b->part[k].idx[lane_n[k]++] = i;
    }
    b->count = count;
    int sent_any = 0;
    for (size_t k = 0; k < self->n; k++) {
        part_t *p = &b->part[k];
        if (!lane_n[k])
            continue;
        for (size_t i = 0; i < lane_n[k]; i++)
            self->sub[i] = msgs[p->idx[i]];
        rtp_err_t e = {{0}};
        if (rtp_store_send(self->lane[k], self->sub, lane_n[k], &e) == 0) {
            p->sent = 1;
            sent_any = 1;
            continue;
        }
        if (!sent_any) {
            rtp_err_set(err, "%s", e.msg);
            return -1; /* nothing of the batch was sent */
        }
        /* an earlier lane has its part: the batch is in flight, and fails at its recv */
        p->done = 1;
        p->rc = -1;
        p->err = e;
        break;
    }
    self->pending++;
    return 0;
}

/* Takes the outcome of the oldest part lane k has in flight, if it is in (waiting for
 * it when wait). 1 when one was taken, else 0. */
static int s_lane_recv(rtp_store_lanes_t *self, size_t k, int wait)
{
    part_t *p = NULL;
    for (size_t i = 0; i < self->pending && !p; i++) {
        part_t *q = &s_at(self, i)->part[k];
        if (q->sent && !q->done)
            p = q;
    }
    if (!p)
        return 0;
    rtp_store_counts_t counts;
    rtp_err_t err = {{0}};
    int rc = rtp_store_recv(self->lane[k], wait, &counts, &err);
    if (rc == 0)
        return 0;
    p->done = 1;
    p->rc = rc;
    p->err = err;
    p->counts = counts;
    const char *key = rtp_store_blocking_key(self->lane[k]);
    snprintf(p->blocking, sizeof p->blocking, "%s", key ? key : "");
    const size_t *refused = rtp_store_refused(self->lane[k]);
    for (size_t j = 0; rc == 1 && j < counts.refused; j++)
        p->refused[j] = p->idx[refused[j]];
    return 1;
}

/* The first lane whose part of b is still on its way, or self->n. */
static size_t s_waiting_lane(const rtp_store_lanes_t *self, const batch_t *b)
{
    for (size_t k = 0; k < self->n; k++)
        if (b->part[k].sent && !b->part[k].done)
            return k;
    return self->n;
}

static int s_cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *) a, y = *(const size_t *) b;
    return x < y ? -1 : x > y;
}

/* The outcome of b, every part of it in: counts summed, refused rows merged. 1 or -1. */
static int s_outcome(rtp_store_lanes_t *self, const batch_t *b, rtp_store_counts_t *counts, rtp_err_t *err)
{
    int rc = 1, parts = 0, fast = 1;
    size_t refused = 0;
    for (size_t k = 0; k < self->n; k++) {
        const part_t *p = &b->part[k];
        if (!p->done)
            continue;
        parts++;
        if (p->rc != 1) {
            if (rc == 1) {
                rtp_err_set(err, "%s", p->err.msg);
                snprintf(self->blocking, sizeof self->blocking, "%s", p->blocking);
            }
            rc = -1;
            continue;
        }
        counts->stored += p->counts.stored;
        counts->duplicates += p->counts.duplicates;
        counts->deadletters += p->counts.deadletters;
        counts->deadletter_duplicates += p->counts.deadletter_duplicates;
        counts->retries += p->counts.retries;
        fast &= p->counts.fast != 0;
        refused += p->counts.refused;
    }
    if (rc == 1 && self->broken)
        rc = rtp_err_set(err, "a batch sent before this one failed; this one is retried after it");
    if (rc != 1) {
        memset(counts, 0, sizeof *counts);
        return -1;
    }
    counts->fast = parts && fast;
    void *room = self->refused;
    if (refused && s_room(&room, &self->refused_bytes, refused * sizeof *self->refused) != 0) {
        memset(counts, 0, sizeof *counts);
        return rtp_err_set(err, "out of memory"); /* written: a retry changes nothing */
    }
    self->refused = room;
    counts->refused = 0;
    for (size_t k = 0; k < self->n; k++) {
        const part_t *p = &b->part[k];
        if (p->done && p->rc == 1 && p->counts.refused) {
            memcpy(self->refused + counts->refused, p->refused, p->counts.refused * sizeof *p->refused);
            counts->refused += p->counts.refused;
        }
    }
    if (counts->refused > 1)
        qsort(self->refused, counts->refused, sizeof *self->refused, s_cmp_size);
    return 1;
}

int rtp_store_lanes_recv(rtp_store_lanes_t *self, int wait, rtp_store_counts_t *counts, rtp_err_t *err)
{
    rtp_store_counts_t local;
    if (!counts)
        counts = &local;
    memset(counts, 0, sizeof *counts);
    self->blocking[0] = 0;
    if (!self->pending)
        return rtp_err_set(err, "no batch in flight");
    batch_t *b = s_at(self, 0);
    for (;;) {
        for (size_t k = 0; k < self->n; k++)
            while (s_lane_recv(self, k, 0))
                ;
        size_t k = s_waiting_lane(self, b);
        if (k == self->n)
            break;
        if (!wait)
            return 0;
        int fds[RTP_STORE_LANES_MAX];
        struct pollfd p[RTP_STORE_LANES_MAX];
        size_t n = rtp_store_lanes_fds(self, fds, RTP_STORE_LANES_MAX);
        for (size_t i = 0; i < n; i++)
            p[i] = (struct pollfd){fds[i], POLLIN, 0};
        int ready = n ? poll(p, (nfds_t) n, POLL_MS) : 0;
        if (ready == 0 || (ready < 0 && errno != EINTR))
            s_lane_recv(self, k, 1); /* applies the command timeout */
    }
    int rc = s_outcome(self, b, counts, err);
    self->head = (self->head + 1) % RTP_STORE_PIPELINE;
    self->pending--;
    if (rc != 1 && self->pending)
        self->broken = 1;
    if (!self->pending)
        self->broken = 0;
    return rc;
}

int rtp_store_lanes_write(rtp_store_lanes_t *self, rtp_msg_t *const *msgs, size_t count,
                          rtp_store_counts_t *counts, rtp_err_t *err)
{
    rtp_store_counts_t local;
    if (!counts)
        counts = &local;
    memset(counts, 0, sizeof *counts);
    self->blocking[0] = 0;
    if (self->pending)
        return rtp_err_set(err, "%zu batches in flight: receive their replies first", self->pending);
    if (count == 0)
        return 0;
    if (rtp_store_lanes_send(self, msgs, count, err) != 0)
        return -1;
    return rtp_store_lanes_recv(self, 1, counts, err) == 1 ? 0 : -1;
}

size_t rtp_store_lanes_pending(const rtp_store_lanes_t *self)
{
    return self->pending;
}

size_t rtp_store_lanes_fds(rtp_store_lanes_t *self, int *fds, size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < self->n && n < cap; k++) {
        int fd = rtp_store_fd(self->lane[k]);
        if (fd >= 0)
            fds[n++] = fd;
    }
    return n;
}

const size_t *rtp_store_lanes_refused(const rtp_store_lanes_t *self)
{
    return self->refused;
}

const char *rtp_store_lanes_blocking_key(const rtp_store_lanes_t *self)
{
    return self->blocking[0] ? self->blocking : NULL;
}

void rtp_store_lanes_set_fast(rtp_store_lanes_t *self, int on)
{
    for (size_t k = 0; k < self->n; k++)
        rtp_store_set_fast(self->lane[k], on);
}
