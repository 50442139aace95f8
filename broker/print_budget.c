#include "print_budget.h"

#include <stdlib.h>

/* Tokens are counted in thousandths, so that a rate of a few a second refills by
 * whole units every millisecond. */
struct print_budget_t {
    int64_t per_second;
    int64_t tokens_milli, burst_milli;
    int64_t refilled_ms;
    int64_t reported_ms; /* when a mark last carried the count */
    uint64_t unreported; /* unprinted since then */
};

print_budget_t *print_budget_new(int64_t per_second, int64_t now_ms)
{
    print_budget_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->per_second = per_second > 0 ? per_second : 0;
    self->burst_milli = (self->per_second + 1) / 2 * 1000;
    self->tokens_milli = self->burst_milli;
    self->refilled_ms = now_ms;
    self->reported_ms = now_ms;
    return self;
}

void print_budget_destroy(print_budget_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

uint32_t print_budget_mark(print_budget_t *self, int64_t now_ms)
{
    if (self->per_second == 0)
        return PRINT_IT;
    if (now_ms > self->refilled_ms) {
        int64_t add = (now_ms - self->refilled_ms) * self->per_second;
        self->tokens_milli =
            add >= self->burst_milli - self->tokens_milli ? self->burst_milli : self->tokens_milli + add;
        self->refilled_ms = now_ms;
    }
    if (self->tokens_milli < 1000) {
        self->unreported++;
        return PRINT_NOT;
    }
    self->tokens_milli -= 1000;
    if (self->unreported == 0 || now_ms - self->reported_ms < 1000)
        return PRINT_IT;
    /* a mark is a u32: a larger count (50 days at 1,000/s) is reported in parts */
    uint64_t n = self->unreported < UINT32_MAX - 1 ? self->unreported : UINT32_MAX - 1;
    self->unreported -= n;
    self->reported_ms = now_ms;
    return (uint32_t) n + 1;
}
