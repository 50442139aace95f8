/* hashtag_window: the hashtag counts of one reporting window (SPEC section 2, last
 * bullet), as a pure data structure with no I/O and no clock of its own.
 *
 * What is counted: for each hashtag, the number of distinct tweets of the window that
 * carry it. Tags are compared case-insensitively (ASCII letters folded, as
 * rtp_hashtag_normalize does; other bytes kept) and a leading '#' is dropped, so
 * "Love", "#love" and "LOVE" are one tag, reported as "love". A tweet id already
 * counted in this window (two streams, a retweeted original, a resend) is ignored,
 * and a tag repeated inside one tweet counts once for it.
 *
 * Bounds, so a flood cannot grow the process without limit:
 *  - at most max_ids tweet ids are remembered per window. Past that, a new tweet is
 *    still counted but not remembered (stats.ids_overflow), so a later copy of it in
 *    the same window would be counted again;
 *  - at most max_tags distinct tags per window. A mention of a new tag past that is
 *    dropped (stats.tags_dropped), as is a tag longer than RTP_HASHTAG_MAX_BYTES;
 *  - an id is at most RTP_HASHTAG_MAX_ID bytes (tweet ids have 20 digits at most).
 * Running out of memory while growing a table counts as reaching its cap.
 */
#ifndef RTP_HASHTAG_WINDOW_H
#define RTP_HASHTAG_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define RTP_HASHTAG_MAX_BYTES 512
#define RTP_HASHTAG_MAX_ID 64

typedef struct rtp_hashtag_window_t rtp_hashtag_window_t;

typedef struct {
    const char *tag;   /* normalized, borrowed: valid until the next add or reset */
    uint64_t count;    /* distinct tweets of the window that carry it */
} rtp_hashtag_count_t;

typedef struct {
    int64_t start_ms, end_ms;   /* the window, [start, end), as given to reset */
    uint64_t tweets;            /* distinct tweets counted (with or without tags) */
    uint64_t duplicates;        /* tweets ignored because their id was already counted */
    uint64_t tags;              /* distinct tags */
    uint64_t mentions;          /* (tweet, tag) pairs counted: the sum of all counts */
    uint64_t ids_overflow;      /* tweets counted without being remembered */
    uint64_t tags_dropped;      /* tag mentions not counted (tag cap, or too long) */
} rtp_hashtag_window_stats_t;

/* An empty window [0, 0) that remembers up to max_ids ids and max_tags tags (each at
 * least 1). NULL if out of memory. */
rtp_hashtag_window_t *rtp_hashtag_window_new(size_t max_ids, size_t max_tags);
/* Frees the window and sets *self_p to NULL; safe on NULL and twice. */
void rtp_hashtag_window_destroy(rtp_hashtag_window_t **self_p);

/* Forgets every count and id and starts the window [start_ms, end_ms). Keeps the
 * memory already allocated (bounded by the caps) for the next window. */
void rtp_hashtag_window_reset(rtp_hashtag_window_t *self, int64_t start_ms, int64_t end_ms);

/* Counts tweet `id` carrying `tags` (hashtags separated by ASCII whitespace, as
 * written; NULL or "" for none). Returns 1 when counted, 0 when the id was already
 * counted in this window (nothing changes but stats.duplicates), -1 when the id is
 * NULL, empty or longer than RTP_HASHTAG_MAX_ID (nothing counted). */
int rtp_hashtag_window_add(rtp_hashtag_window_t *self, const char *id, const char *tags);

/* Writes the up to n most counted tags into top, highest count first, ties in
 * ascending byte order of the tag (so reports are deterministic); returns how many
 * were written. */
size_t rtp_hashtag_window_top(rtp_hashtag_window_t *self, rtp_hashtag_count_t *top, size_t n);

/* The window's bounds and counters (borrowed; updated by add and reset). */
const rtp_hashtag_window_stats_t *rtp_hashtag_window_stats(const rtp_hashtag_window_t *self);

/* The report line for the window and its top entries, malloc'd, no newline:
 *   top hashtags 15:40:00-15:40:05 UTC (123 tweets, 45 tags): #love 12, #music 7
 * ("...: none" when top is empty). Times are UTC, with milliseconds only when not
 * whole seconds. NULL if out of memory. */
char *rtp_hashtag_window_report(const rtp_hashtag_window_t *self, const rtp_hashtag_count_t *top, size_t n);

/* The start of the window of length interval_ms (> 0) that holds now_ms, windows
 * being aligned to multiples of interval_ms since the epoch (so reports of a 5 s
 * window fall on :00, :05, ...). */
int64_t rtp_hashtag_window_align(int64_t now_ms, int64_t interval_ms);

#endif
