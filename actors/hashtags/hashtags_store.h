/* hashtags_store: keeps the latest hashtags report in Redis.
 *
 *   hashtags:top     sorted set   tag -> count, the report's top tags (normalized,
 *                                 without '#'); absent when the window had no tags
 *   hashtags:window  hash         start_ms, end_ms (the window, wall clock ms since
 *                                 the epoch), tweets, tags (distinct), mentions,
 *                                 duplicates (tweets skipped as already counted)
 *
 * Both keys are replaced together in one MULTI/EXEC, so a reader never sees the
 * top of one window with the bounds of another.
 *
 * Redis being away never stops the reports: a write that cannot be made is given up
 * (the next report replaces it anyway), the connection is retried at the next
 * report, and the outage is logged once when it starts (with a reminder every
 * minute) and once when it ends.
 */
#ifndef RTP_HASHTAGS_STORE_H
#define RTP_HASHTAGS_STORE_H

#include "hashtag_window.h"

#include <stddef.h>

typedef struct hashtags_store_t hashtags_store_t;

/* A store for the Redis at url (redis://[:password@]host:port[/db]); connects
 * lazily, with timeout_ms for connecting and for each reply. NULL (logged) when
 * the URL does not parse. */
hashtags_store_t *hashtags_store_new(const char *url, int timeout_ms);
/* Closes the connection; safe on NULL and twice. */
void hashtags_store_destroy(hashtags_store_t **self_p);

/* Where it stores, for logs (the URL without its password). */
const char *hashtags_store_where(const hashtags_store_t *self);

/* Replaces the two keys with this report. 0 when stored, -1 when not (logged as
 * said above). */
int hashtags_store_put(hashtags_store_t *self, const rtp_hashtag_window_stats_t *stats,
                       const rtp_hashtag_count_t *top, size_t n);

#endif
