/* print_budget: how many censored tweets the censor pool prints, in all. However
 * many censor workers run, on whatever hosts or containers, the broker hands out
 * the marks: at most `per_second` tasks a second (a burst of up to half a second's
 * worth) carry a print mark, the others are counted, and at most once a second a
 * mark also carries the count of the tweets left unprinted since the last such
 * count, for the worker that prints it to report. Plain data, no I/O; times are
 * the caller's monotonic milliseconds. */
#ifndef RTP_BROKER_PRINT_BUDGET_H
#define RTP_BROKER_PRINT_BUDGET_H

#include <stdint.h>

/* The marks a TASK carries in its `credit` (common/proto.h). */
#define PRINT_NOT 0u /* count the tweet, do not print it */
#define PRINT_IT 1u  /* print it; a mark N > 1: print "N - 1 more not printed" first */

typedef struct print_budget_t print_budget_t;

/* per_second 0: every tweet is printed (and none counted). NULL without memory. */
print_budget_t *print_budget_new(int64_t per_second, int64_t now_ms);
void print_budget_destroy(print_budget_t **self_p);

/* The mark for the next censored tweet (PRINT_NOT, PRINT_IT, or a count + 1). */
uint32_t print_budget_mark(print_budget_t *self, int64_t now_ms);

#endif
