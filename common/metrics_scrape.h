/* metrics_scrape: reading the Prometheus text format (0.0.4) back: what `rtp top`
 * does with a scraped /metrics page, and what the metrics unit test checks the
 * renderer against. No I/O. */
#ifndef RTP_METRICS_SCRAPE_H
#define RTP_METRICS_SCRAPE_H

#include "rtp_err.h"

#include <stddef.h>

#define RTP_SAMPLE_NAME_MAX 128
#define RTP_SAMPLE_LABELS_MAX 8
#define RTP_SAMPLE_LABEL_MAX 256

/* One sample line: a name, its label pairs (values unescaped) and its value. */
typedef struct {
    char name[RTP_SAMPLE_NAME_MAX];
    int n_labels;
    char label_name[RTP_SAMPLE_LABELS_MAX][RTP_SAMPLE_NAME_MAX];
    char label_value[RTP_SAMPLE_LABELS_MAX][RTP_SAMPLE_LABEL_MAX];
    double value;
} rtp_sample_t;

typedef struct rtp_scrape_t rtp_scrape_t;

/* Parses a whole page: comments and blank lines are skipped; a sample line is
 * name[{label="value",...}] value [timestamp]. NULL, with the line number and what
 * is wrong with it, when a line is not in the format (or a name or label is longer
 * than the limits above). */
rtp_scrape_t *rtp_scrape_parse(const char *text, size_t len, rtp_err_t *err);
void rtp_scrape_destroy(rtp_scrape_t **self_p);

size_t rtp_scrape_count(const rtp_scrape_t *self);
const rtp_sample_t *rtp_scrape_sample(const rtp_scrape_t *self, size_t index);
/* The value of label `name` of a sample, or NULL. */
const char *rtp_sample_label(const rtp_sample_t *sample, const char *name);

/* The first sample named name whose labels include every pair of `labels` (NULL or
 * a NULL-terminated name, value, ... list), or NULL. */
const rtp_sample_t *rtp_scrape_find(const rtp_scrape_t *self, const char *name, const char *const *labels);
/* Its value, or NaN when there is none. */
double rtp_scrape_value(const rtp_scrape_t *self, const char *name, const char *const *labels);

/* The q-quantile (0..1) of histogram `name` (its name_bucket series whose labels
 * include `labels`), over the observations made between `prev` and `now` (prev
 * NULL: all of them), interpolated linearly inside the bucket it falls in as
 * Prometheus's histogram_quantile does; in the +Inf bucket, the highest finite
 * bound. NaN when there are no such observations. */
double rtp_scrape_quantile(const rtp_scrape_t *now, const rtp_scrape_t *prev, const char *name,
                           const char *const *labels, double q);

#endif
