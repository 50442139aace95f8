/* batch_print: the batcher's summary lines on stdout, at a pace a person can read.
 *
 * With per_second 0 every batch gets its own line:
 *   batch 7: 100 records: 98 new tweets, 0 already stored, 2 dead letters; written in 1.25 ms
 * With per_second > 0 lines are at least 1/per_second s apart. A batch that comes
 * when a line is due is printed as above if it is the only one since the last line;
 * otherwise the batches since the last line are summed into one line that starts
 * the same way (so a parser summing "batch N: R records: ..." lines still gets
 * every record once) and says what it covers and the totals so far:
 *   batch 412: 2160 records: 2100 new tweets, 50 already stored, 10 dead letters;
 *   12 batches (401-412) since the last line, written in 1.20 ms on average, 3.10 ms
 *   at most; 74160 records in 412 batches so far
 * Batches held back are printed once the interval has passed (batch_print_due) or
 * at exit (batch_print_flush), so no record is left out of the lines.
 * Pure: the caller passes the time and prints the lines. */
#ifndef BATCHER_BATCH_PRINT_H
#define BATCHER_BATCH_PRINT_H

#include <stddef.h>
#include <stdint.h>

#define BATCH_PRINT_LINE_MAX 400

typedef struct {
    int64_t interval_ms; /* 0: every batch */
    int64_t next_ms;     /* no line before this */
    /* since the last line */
    uint64_t batches, records, stored, duplicates, deadletters, first, last;
    double ms_sum, ms_max;
    /* all lines so far */
    uint64_t total_batches, total_records;
} batch_print_t;

/* At most per_second lines a second (0: one per batch; negative is taken as 0). */
void batch_print_init(batch_print_t *self, double per_second);

/* Batch number `batch` of n records is written (counts as in the store), in ms.
 * Returns 1 and fills line when a line is to be printed now, else 0. */
int batch_print_batch(batch_print_t *self, uint64_t batch, size_t n, size_t stored, size_t duplicates,
                      size_t deadletters, double ms, int64_t now_ms, char *line, size_t cap);

/* Batches are held back and their line is due at now_ms: 1 and the line, else 0. */
int batch_print_due(batch_print_t *self, int64_t now_ms, char *line, size_t cap);

/* The line of every batch held back, due or not (at exit): 1 and the line, else 0. */
int batch_print_flush(batch_print_t *self, char *line, size_t cap);

/* The batch's own line (the format of every line with per_second 0). */
void batch_print_format_one(char *line, size_t cap, uint64_t batch, size_t n, size_t stored, size_t duplicates,
                            size_t deadletters, double ms);

#endif
