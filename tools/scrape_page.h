/* scrape_page: one /metrics page scraped again and again, keeping the last two good
 * scrapes, so that counters become rates. What `rtp top` and `rtp up`'s status line
 * read the actors' pages with. */
#ifndef RTP_TOOLS_SCRAPE_PAGE_H
#define RTP_TOOLS_SCRAPE_PAGE_H

#include "metrics_scrape.h"
#include "rtp_err.h"

#include <stdint.h>

typedef struct {
    const char *url;                 /* not owned; NULL: nothing to scrape */
    rtp_scrape_t *cur, *prev;        /* the last two good scrapes (NULL before) */
    int64_t cur_ms, prev_ms;         /* when they were taken (monotonic) */
    char error[RTP_ERR_MAX + 64];    /* the last scrape's failure, "" after a good one */
} scrape_page_t;

/* Scrapes url once (up to timeout_ms): on success the last scrape becomes prev and
 * 0 is returned; on failure only error changes, and -1. */
int scrape_page_fetch(scrape_page_t *p, int timeout_ms);
/* Frees the scrapes (the url is the caller's). */
void scrape_page_clear(scrape_page_t *p);

/* A sample's value in the last scrape (labels: NULL or name, value, ..., NULL); NaN
 * when there is none. */
double scrape_page_value(const scrape_page_t *p, const char *name, const char *const *labels);
/* A counter's rate per second between the last two scrapes; NaN before the second
 * one. A counter that went down belongs to a restarted actor: it counts from zero. */
double scrape_page_rate(const scrape_page_t *p, const char *name, const char *const *labels);
/* A histogram's q-quantile (in its unit: seconds for *_seconds) over the interval
 * between the last two scrapes, over everything before the second; NaN without a
 * scrape or without observations. */
double scrape_page_quantile(const scrape_page_t *p, const char *name, const char *const *labels, double q);

#endif
