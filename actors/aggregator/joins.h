/* joins: the aggregator's table of events being joined. Pure: no sockets, no clock
 * (times are passed in), so every rule below is plain data handling.
 *
 * An event is complete when four PARTs with its key have arrived: the record
 * (RTP_PART_RECORD) and the censor, sentiment and engagement results, in any
 * order. The complete join is the record's own message turned into a JOINED (text =
 * censored text, number = sentiment, number2 = engagement), so nothing is copied.
 *
 * - A second copy of a part already held is a duplicate: the first one wins.
 * - The keys of finished events (complete or reported incomplete) are remembered, the
 *   last `memory` of them, so that a part arriving after its event finished is
 *   recognised (a duplicate, or late after a timeout) instead of opening a new join
 *   that could only time out.
 * - Pending joins are kept oldest first, so the timeout check looks at one join.
 */
#ifndef RTP_JOINS_H
#define RTP_JOINS_H

#include "proto.h"

#include <stddef.h>
#include <stdint.h>

typedef struct joins_t joins_t;

typedef enum {
    JOIN_PENDING = 0, /* kept; the event waits for more parts */
    JOIN_COMPLETE,    /* the event is complete: *out is its JOINED */
    JOIN_DUPLICATE,   /* a copy of a part already held, or of a completed event: dropped */
    JOIN_LATE,        /* a part of an event already reported incomplete: dropped */
    JOIN_INVALID,     /* not a part kind we know, or an unusable key: dropped */
} join_result_t;

/* What an expired (incomplete) join was, for the log line. */
typedef struct {
    uint64_t key;
    char id[72];      /* the tweet id, "?" when the record part never came */
    char missing[64]; /* e.g. "sentiment,engagement" */
    int64_t age_ms;
} join_report_t;

/* memory: how many finished keys to remember (at least 1). NULL if out of memory. */
joins_t *joins_new(size_t memory);
void joins_destroy(joins_t **self_p);

/* Takes the PART *part_p (always: *part_p is NULL afterwards) and returns what
 * became of it; on JOIN_COMPLETE *out gets the JOINED message (the caller's). now_ms
 * stamps a new join for the timeout. */
join_result_t joins_add(joins_t *self, rtp_msg_t **part_p, int64_t now_ms, rtp_msg_t **out);

/* 1 when a part with this key would not open a new join (the key is pending, or
 * its event finished recently), else 0. */
int joins_known(const joins_t *self, uint64_t key);

/* Joins waiting for parts. */
size_t joins_pending(const joins_t *self);

/* When the oldest pending join started (the now_ms of its first part), or -1. */
int64_t joins_oldest_ms(const joins_t *self);

/* Ends the oldest pending join if it started at or before `started_by` (any age
 * when started_by is INT64_MAX): returns a DEADLETTER (the caller's) with reason
 * "incomplete join: missing <parts><suffix>", the key, seq, origin and received time
 * of the event, and as raw a JSON object with what did arrive; fills *report. NULL
 * when there is no such join. */
rtp_msg_t *joins_expire(joins_t *self, int64_t started_by, int64_t now_ms, const char *suffix,
                        join_report_t *report);

/* The broker gave up on event `key` (it sent a dead letter for it): drops its
 * pending join, if any, and remembers the key as finished so its late parts are
 * dropped too. Returns 1 when a pending join was dropped. */
int joins_abandon(joins_t *self, uint64_t key);

/* The name of a part kind in logs and reasons: record, censor, sentiment, engagement. */
const char *joins_part_name(int kind);

#endif
