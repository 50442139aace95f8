#include "batch_print.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void batch_print_init(batch_print_t *self, double per_second)
{
    memset(self, 0, sizeof *self);
    self->interval_ms = per_second > 0 ? (int64_t) (1000.0 / per_second + 0.5) : 0;
    if (per_second > 0 && self->interval_ms < 1)
        self->interval_ms = 1;
}

void batch_print_format_one(char *line, size_t cap, uint64_t batch, size_t n, size_t stored, size_t duplicates,
                            size_t deadletters, double ms)
{
    snprintf(line, cap,
             "batch %" PRIu64 ": %zu records: %zu new tweets, %zu already stored, %zu dead letters; written in "
             "%.2f ms",
             batch, n, stored, duplicates, deadletters, ms);
}

/* The line of the batches held back (at least one), and a fresh start. */
static void s_emit(batch_print_t *self, char *line, size_t cap)
{
    uint64_t last = self->last;
    if (self->batches == 1)
        batch_print_format_one(line, cap, last, (size_t) self->records, (size_t) self->stored,
                               (size_t) self->duplicates, (size_t) self->deadletters, self->ms_sum);
    else
        snprintf(line, cap,
                 "batch %" PRIu64 ": %" PRIu64 " records: %" PRIu64 " new tweets, %" PRIu64
                 " already stored, %" PRIu64 " dead letters; %" PRIu64 " batches (%" PRIu64 "-%" PRIu64
                 ") since the last line, written in %.2f ms on average, %.2f ms at most; %" PRIu64
                 " records in %" PRIu64 " batches so far",
                 last, self->records, self->stored, self->duplicates, self->deadletters, self->batches,
                 self->first, last, self->ms_sum / (double) self->batches, self->ms_max,
                 self->total_records, self->total_batches);
    self->batches = self->records = self->stored = self->duplicates = self->deadletters = 0;
    self->ms_sum = self->ms_max = 0;
}

int batch_print_batch(batch_print_t *self, uint64_t batch, size_t n, size_t stored, size_t duplicates,
                      size_t deadletters, double ms, int64_t now_ms, char *line, size_t cap)
{
    if (self->batches == 0)
        self->first = batch;
    self->last = batch;
    self->batches++;
    self->records += n;
    self->stored += stored;
    self->duplicates += duplicates;
    self->deadletters += deadletters;
    self->ms_sum += ms;
    if (ms > self->ms_max)
        self->ms_max = ms;
    self->total_batches++;
    self->total_records += n;
    return batch_print_due(self, now_ms, line, cap);
}

int batch_print_due(batch_print_t *self, int64_t now_ms, char *line, size_t cap)
{
    if (self->batches == 0 || now_ms < self->next_ms)
        return 0;
    s_emit(self, line, cap);
    self->next_ms = now_ms + self->interval_ms;
    return 1;
}

int batch_print_flush(batch_print_t *self, char *line, size_t cap)
{
    if (self->batches == 0)
        return 0;
    s_emit(self, line, cap);
    return 1;
}
