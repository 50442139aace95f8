/* status: the one-line status `rtp up` prints every few seconds, so that a person
 * watching its output sees what the system does without reading the actors' own
 * stats lines: tweets in and stored per second, events in flight, each pool's
 * workers and backlog, the hosts and their workers, dead letters, workers lost,
 * Redis and the journal. The
 * numbers come from the broker's and the batcher's /metrics (the same pages `rtp
 * top` reads), scraped with a short timeout; rates are between two scrapes. */
#ifndef RTP_TOOLS_STATUS_H
#define RTP_TOOLS_STATUS_H

#include <stddef.h>

typedef struct up_status_t up_status_t;

/* URLs may be NULL (that part of the line is left out); interval_ms <= 0: never
 * prints. NULL only when out of memory. */
up_status_t *up_status_new(const char *broker_url, const char *batcher_url, int interval_ms);
void up_status_destroy(up_status_t **self_p);

/* Scrapes and prints the line when its interval has passed; otherwise returns at
 * once. At most about 2 x 300 ms when a page does not answer. */
void up_status_tick(up_status_t *self);

/* The readers' metrics pages (up to UP_STATUS_READERS; NULL or "" entries skipped),
 * for the drain's progress line: the records they hold not yet stored. */
#define UP_STATUS_READERS 8
void up_status_set_readers(up_status_t *self, const char *const urls[], int n);

/* Scrapes now and prints the drain's progress line ("draining: 3,400 events in
 * flight, 1,200/s stored; 2 readers waiting"), whatever the interval; the first call
 * with no scrape before only scrapes (a rate needs two). */
void up_status_drain_line(up_status_t *self, int readers);

/* The line from the scrapes so far (for the tests), into buf; "" before two scrapes. */
void up_status_format(const up_status_t *self, char *buf, size_t cap);

#endif
