/* The batcher's summary lines (actors/batcher/batch_print.c, built into this test
 * since it is not part of librtp): one line per batch with 0 lines a second; with
 * a rate, at most one line per interval, a lone batch in its own format, several
 * summed into one line that starts the same way, held-back batches printed when
 * due and at exit, and every record in exactly one line. */
#include "../../actors/batcher/batch_print.c"

#include "check.h"

#include <regex.h>
#include <stdlib.h>

static void test_every_batch(void)
{
    batch_print_t p;
    char line[BATCH_PRINT_LINE_MAX];
    batch_print_init(&p, 0);
    for (uint64_t i = 1; i <= 5; i++) {
        CHECK(batch_print_batch(&p, i, 100, 97, 1, 2, 1.25, 1000, line, sizeof line) == 1);
        char want[BATCH_PRINT_LINE_MAX];
        snprintf(want, sizeof want,
                 "batch %llu: 100 records: 97 new tweets, 1 already stored, 2 dead letters; written in 1.25 ms",
                 (unsigned long long) i);
        CHECK_STR(line, want);
    }
    CHECK(batch_print_due(&p, 1000, line, sizeof line) == 0);
    CHECK(batch_print_flush(&p, line, sizeof line) == 0);
    batch_print_init(&p, -3); /* negative: every batch too */
    CHECK_INT(p.interval_ms, 0);
}

static void test_sampled(void)
{
    batch_print_t p;
    char line[BATCH_PRINT_LINE_MAX];
    batch_print_init(&p, 2); /* a line every 500 ms at most */
    CHECK_INT(p.interval_ms, 500);
    /* the first batch is printed at once, alone */
    CHECK(batch_print_batch(&p, 1, 10, 10, 0, 0, 2.0, 1000, line, sizeof line) == 1);
    CHECK_STR(line, "batch 1: 10 records: 10 new tweets, 0 already stored, 0 dead letters; written in 2.00 ms");
    /* three more within the interval: held back */
    CHECK(batch_print_batch(&p, 2, 20, 18, 1, 1, 1.0, 1100, line, sizeof line) == 0);
    CHECK(batch_print_batch(&p, 3, 30, 30, 0, 0, 3.0, 1200, line, sizeof line) == 0);
    CHECK(batch_print_due(&p, 1499, line, sizeof line) == 0);
    CHECK(batch_print_batch(&p, 4, 40, 37, 0, 3, 2.0, 1499, line, sizeof line) == 0);
    /* due at 1500: one line summing 2-4 */
    CHECK(batch_print_due(&p, 1500, line, sizeof line) == 1);
    CHECK_STR(line, "batch 4: 90 records: 85 new tweets, 1 already stored, 4 dead letters; 3 batches (2-4) since "
                    "the last line, written in 2.00 ms on average, 3.00 ms at most; 100 records in 4 batches so far");
    CHECK(batch_print_due(&p, 1600, line, sizeof line) == 0); /* nothing held */
    /* a lone batch after a quiet spell is printed at once, in its own format */
    CHECK(batch_print_batch(&p, 5, 5, 5, 0, 0, 0.5, 5000, line, sizeof line) == 1);
    CHECK_STR(line, "batch 5: 5 records: 5 new tweets, 0 already stored, 0 dead letters; written in 0.50 ms");
    /* held back at exit: flushed even though not due */
    CHECK(batch_print_batch(&p, 6, 7, 7, 0, 0, 0.5, 5001, line, sizeof line) == 0);
    CHECK(batch_print_flush(&p, line, sizeof line) == 1);
    CHECK_STR(line, "batch 6: 7 records: 7 new tweets, 0 already stored, 0 dead letters; written in 0.50 ms");
    CHECK(batch_print_flush(&p, line, sizeof line) == 0);
}

/* Many batches at random times: lines never closer than the interval, and the
 * records summed over the lines (as a parser of "batch N: R records: ..." does)
 * are every record once. */
static void test_totals_and_pace(void)
{
    regex_t rx;
    CHECK(regcomp(&rx, "^batch [0-9]+: ([0-9]+) records: ([0-9]+) new tweets, ([0-9]+) already stored, "
                       "([0-9]+) dead letters; ",
                  REG_EXTENDED) == 0);
    batch_print_t p;
    char line[BATCH_PRINT_LINE_MAX];
    batch_print_init(&p, 4); /* 250 ms */
    srand(7);
    uint64_t records = 0, summed = 0, new_summed = 0, lines = 0, too_close = 0;
    int64_t now = 0, last_line = -1000000;
    for (uint64_t i = 1; i <= 5000; i++) {
        now += rand() % 20;
        size_t n = 1 + (size_t) (rand() % 100);
        records += n;
        int printed = batch_print_batch(&p, i, n, n, 0, 0, 1.0, now, line, sizeof line);
        if (!printed && rand() % 3 == 0) {
            now += rand() % 5;
            printed = batch_print_due(&p, now, line, sizeof line);
        }
        if (i == 5000 && !printed)
            printed = batch_print_flush(&p, line, sizeof line);
        if (printed) {
            regmatch_t m[5];
            CHECK(regexec(&rx, line, 5, m, 0) == 0);
            summed += strtoull(line + m[1].rm_so, NULL, 10);
            new_summed += strtoull(line + m[2].rm_so, NULL, 10);
            if (i != 5000 && now - last_line < 250)
                too_close++;
            last_line = now;
            lines++;
        }
    }
    CHECK(batch_print_flush(&p, line, sizeof line) == 0);
    CHECK_INT(summed, records);
    CHECK_INT(new_summed, records);
    CHECK_INT(too_close, 0);
    CHECK((int64_t) lines >= now / 275 - 1 && (int64_t) lines <= now / 250 + 2); /* ~ one per interval */
    printf("5000 batches, %llu records, %llu lines over %lld ms\n", (unsigned long long) records,
           (unsigned long long) lines, (long long) now);
    regfree(&rx);
}

int main(void)
{
    test_every_batch();
    test_sampled();
    test_totals_and_pace();
    return CHECK_DONE();
}
