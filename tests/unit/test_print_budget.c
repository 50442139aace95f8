/* print_budget: the censor pool prints at most --print-per-second tweets a second
 * in all, whatever the rate of tweets; everything under the rate is printed; the
 * tweets left unprinted are counted, and the count rides on a printed tweet's mark
 * at most once a second, each one counted exactly once. Time is simulated. */
#include "../../broker/print_budget.c"
#include "check.h"

typedef struct {
    uint64_t printed, unprinted, reported, reports;
    int64_t max_in_a_second; /* prints in any window [t, t + 1000) of whole ms */
    int64_t last_report_ms;
    int64_t min_report_gap_ms;
} tally_t;

/* Offers `per_ms` tweets every millisecond for `ms` milliseconds from *now. */
static void s_offer(print_budget_t *b, int64_t *now, int64_t ms, int per_ms, tally_t *t)
{
    static int64_t prints_at[1 << 20];
    for (int64_t i = 0; i < ms; i++, (*now)++) {
        int64_t printed_now = 0;
        for (int k = 0; k < per_ms; k++) {
            uint32_t mark = print_budget_mark(b, *now);
            if (mark == PRINT_NOT) {
                t->unprinted++;
                continue;
            }
            t->printed++;
            printed_now++;
            if (mark > PRINT_IT) {
                t->reported += mark - 1;
                if (t->reports && *now - t->last_report_ms < t->min_report_gap_ms)
                    t->min_report_gap_ms = *now - t->last_report_ms;
                t->reports++;
                t->last_report_ms = *now;
            }
        }
        prints_at[i] = printed_now;
    }
    /* the most printed in any 1000 ms of this stretch */
    int64_t window = 0;
    for (int64_t i = 0; i < ms; i++) {
        window += prints_at[i];
        if (i >= 1000)
            window -= prints_at[i - 1000];
        if (window > t->max_in_a_second)
            t->max_in_a_second = window;
    }
}

int main(void)
{
    int64_t now = 5000;

    /* a flood: 30 workers' worth (1,500 tweets a second) for a minute */
    print_budget_t *b = print_budget_new(15, now);
    CHECK(b != NULL);
    tally_t t = {.min_report_gap_ms = INT64_MAX};
    for (int s = 0; s < 60; s++)
        s_offer(b, &now, 1000, s % 2 ? 1 : 2, &t); /* 1,000 and 2,000 a second in turn */
    printf("flood: %llu printed, %llu unprinted, %llu reported in %llu reports, at most %lld in a second\n",
           (unsigned long long) t.printed, (unsigned long long) t.unprinted, (unsigned long long) t.reported,
           (unsigned long long) t.reports, (long long) t.max_in_a_second);
    /* 15 a second, and the first burst of half a second's worth on top */
    CHECK(t.printed >= 60 * 15 - 1 && t.printed <= 60 * 15 + 8);
    CHECK(t.max_in_a_second <= 15 + 8);
    CHECK(t.printed + t.unprinted == 90000);
    /* every unprinted tweet is reported once, but the ones since the last report */
    CHECK(t.reported <= t.unprinted && t.unprinted - t.reported <= 2000);
    CHECK(t.reports >= 55 && t.reports <= 60);
    CHECK(t.min_report_gap_ms >= 1000);
    print_budget_destroy(&b);
    CHECK(b == NULL);

    /* a trickle under the rate: 10 a second, one every 100 ms: all printed, no report */
    b = print_budget_new(15, now);
    tally_t q = {.min_report_gap_ms = INT64_MAX};
    for (int i = 0; i < 600; i++) {
        s_offer(b, &now, 1, 1, &q);
        now += 99;
    }
    CHECK(q.printed == 600 && q.unprinted == 0 && q.reports == 0);
    print_budget_destroy(&b);

    /* a bundle of 32 arriving at once on a quiet pool: half a second's worth printed */
    b = print_budget_new(15, now);
    tally_t burst = {.min_report_gap_ms = INT64_MAX};
    s_offer(b, &now, 1, 32, &burst);
    CHECK(burst.printed == 8 && burst.unprinted == 24);
    print_budget_destroy(&b);

    /* 0: every tweet printed, nothing counted */
    b = print_budget_new(0, now);
    tally_t all = {.min_report_gap_ms = INT64_MAX};
    s_offer(b, &now, 1000, 5, &all);
    CHECK(all.printed == 5000 && all.unprinted == 0 && all.reports == 0);
    print_budget_destroy(&b);

    /* a rate of 1: a burst of one */
    b = print_budget_new(1, now);
    tally_t one = {.min_report_gap_ms = INT64_MAX};
    s_offer(b, &now, 10000, 1, &one);
    CHECK(one.printed >= 10 && one.printed <= 11 && one.max_in_a_second <= 2);
    print_budget_destroy(&b);
    return CHECK_DONE();
}
