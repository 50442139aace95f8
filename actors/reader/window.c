#include "window.h"

#include "u64map.h"

#include <stdlib.h>
#include <string.h>

/* Delays double from timeout_ms: 2^62 times any positive delay overflows, so the
 * cap is always reached well within this many steps. */
#define MAX_STEPS 64

typedef struct {
    reader_record_t *head, *tail; /* oldest deadline first */
} list_t;

struct reader_window_t {
    rtp_u64map_t *by_seq;
    size_t capacity;
    int steps;                /* delay[steps - 1] is the cap */
    int64_t delay[MAX_STEPS]; /* ms a record waits at each step */
    list_t list[MAX_STEPS];
};

reader_record_t *reader_record_new(uint64_t seq, const uint8_t hdr[4], const uint8_t *body, size_t body_len)
{
    reader_record_t *self = malloc(sizeof *self + 4 + body_len);
    if (!self)
        return NULL;
    memset(self, 0, sizeof *self);
    self->seq = seq;
    self->len = 4 + body_len;
    memcpy(self->data, hdr, 4);
    if (body_len)
        memcpy(self->data + 4, body, body_len);
    return self;
}

void reader_record_destroy(reader_record_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

static void s_append(list_t *list, reader_record_t *r)
{
    r->next = NULL;
    r->prev = list->tail;
    if (list->tail)
        list->tail->next = r;
    else
        list->head = r;
    list->tail = r;
}

static void s_unlink(list_t *list, reader_record_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        list->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        list->tail = r->prev;
    r->prev = r->next = NULL;
}

/* Puts r at the end of its step's list, due one delay of that step after now_ms. */
static void s_arm(reader_window_t *self, reader_record_t *r, int64_t now_ms)
{
    r->due_ms = now_ms + self->delay[r->step];
    s_append(&self->list[r->step], r);
}

reader_window_t *reader_window_new(size_t capacity, int64_t timeout_ms, int64_t max_timeout_ms)
{
    if (capacity < 1 || timeout_ms < 1)
        return NULL;
    reader_window_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    /* The table grows by doubling as the window fills; start small. */
    self->by_seq = rtp_u64map_new(capacity < 1024 ? capacity : 1024);
    if (!self->by_seq) {
        free(self);
        return NULL;
    }
    self->capacity = capacity;
    if (max_timeout_ms < timeout_ms)
        max_timeout_ms = timeout_ms;
    int64_t d = timeout_ms;
    self->steps = 0;
    while (self->steps < MAX_STEPS - 1 && d < max_timeout_ms) {
        self->delay[self->steps++] = d;
        d = d > max_timeout_ms / 2 ? max_timeout_ms : d * 2;
    }
    self->delay[self->steps++] = max_timeout_ms;
    return self;
}

void reader_window_destroy(reader_window_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reader_window_t *self = *self_p;
    for (int s = 0; s < self->steps; s++)
        while (self->list[s].head) {
            reader_record_t *r = self->list[s].head;
            s_unlink(&self->list[s], r);
            free(r);
        }
    rtp_u64map_destroy(&self->by_seq);
    free(self);
    *self_p = NULL;
}

size_t reader_window_size(const reader_window_t *self)
{
    return rtp_u64map_size(self->by_seq);
}

int reader_window_full(const reader_window_t *self)
{
    return rtp_u64map_size(self->by_seq) >= self->capacity;
}

int reader_window_add(reader_window_t *self, reader_record_t *record, int64_t now_ms)
{
    if (rtp_u64map_put(self->by_seq, record->seq, record) != 0)
        return -1;
    record->step = 0;
    s_arm(self, record, now_ms);
    return 0;
}

int reader_window_ack(reader_window_t *self, uint64_t seq)
{
    reader_record_t *r = seq ? rtp_u64map_remove(self->by_seq, seq) : NULL;
    if (!r)
        return 0;
    s_unlink(&self->list[r->step], r);
    free(r);
    return 1;
}

const reader_record_t *reader_window_find(const reader_window_t *self, uint64_t seq)
{
    return seq ? rtp_u64map_get(self->by_seq, seq) : NULL;
}

void reader_window_each(const reader_window_t *self, void (*fn)(reader_record_t *record, void *arg),
                        void *arg)
{
    for (int s = 0; s < self->steps; s++)
        for (reader_record_t *r = self->list[s].head; r; r = r->next)
            fn(r, arg);
}

/* The record with the earliest deadline: the earliest of the lists' heads. */
static reader_record_t *s_first(const reader_window_t *self)
{
    reader_record_t *first = NULL;
    for (int s = 0; s < self->steps; s++) {
        reader_record_t *r = self->list[s].head;
        if (r && (!first || r->due_ms < first->due_ms))
            first = r;
    }
    return first;
}

reader_record_t *reader_window_overdue(const reader_window_t *self, int64_t now_ms)
{
    reader_record_t *first = s_first(self);
    return first && first->due_ms <= now_ms ? first : NULL;
}

void reader_window_resent(reader_window_t *self, reader_record_t *record, int64_t now_ms)
{
    s_unlink(&self->list[record->step], record);
    if (record->step < self->steps - 1)
        record->step++;
    s_arm(self, record, now_ms);
}

int64_t reader_window_next_ms(const reader_window_t *self, int64_t now_ms)
{
    const reader_record_t *first = s_first(self);
    if (!first)
        return -1;
    return first->due_ms > now_ms ? first->due_ms - now_ms : 0;
}
