/* stream: the event source behind one SSE route: the tweets of one file, in
 * order, looped, with panics inserted, paced (see pace.h).
 *
 * A stream has ONE cursor, shared by every connection to its route: each event is
 * handed out once, so a reader that reconnects goes on where the last connection
 * stopped. An event a connection took but could not deliver whole (cut by
 * --drop-every, or still unsent when the client went away) is given back and is
 * handed out again, before any new event: given-back events go out in stream
 * order. So a reader that reconnects after a drop sees every event exactly once.
 *
 * The choice of panics depends only on the seed and the position in the stream,
 * never on timing or on how the events are spread over connections.
 */
#ifndef REPLAY_STREAM_H
#define REPLAY_STREAM_H

#include "rtp_err.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { REPLAY_EV_TWEET = 0, REPLAY_EV_PANIC } replay_ev_kind_t;

typedef struct {
    uint64_t seq;  /* position in the stream, from 0 */
    uint32_t line; /* the tweet's line in the file, from 0 (tweets only) */
    uint8_t kind;  /* replay_ev_kind_t */
    uint8_t cut;   /* --drop-every chose it: send part of it, then close */
} replay_event_t;

typedef struct {
    double rate;          /* events per second, 0 = as fast as readers read */
    const char *schedule; /* NULL or "RATE:SECONDS,..." (see pace.h) */
    int burst;
    double panic_rate;  /* probability of a panic after each tweet */
    int64_t loops;      /* passes over the file, 0 = forever */
    int64_t drop_every; /* cut every Nth new event, 0 = never */
    uint64_t seed;
} replay_stream_cfg_t;

typedef struct replay_stream_t replay_stream_t;

/* Loads the file (one tweet JSON object a line; empty lines skipped, a trailing
 * CR dropped). NULL with a reason when the file cannot be read, holds no tweet,
 * or the settings are bad. */
replay_stream_t *replay_stream_new(const char *name, const char *path, const replay_stream_cfg_t *cfg,
                                   int64_t now_us, rtp_err_t *err);
void replay_stream_destroy(replay_stream_t **self_p);

const char *replay_stream_name(replay_stream_t *self);
size_t replay_stream_tweets(replay_stream_t *self);
/* The size of the largest event this stream can format, in bytes. */
size_t replay_stream_max_event(replay_stream_t *self);

/* Hands out the next event: 1 with *ev filled; 0 when the rate allows none now
 * (see replay_stream_due_us); -1 when the stream is over (its loops are done and
 * nothing is left to resend). */
int replay_stream_next(replay_stream_t *self, int64_t now_us, replay_event_t *ev);
/* When replay_stream_next may next return an event (now_us if it would now). */
int64_t replay_stream_due_us(replay_stream_t *self, int64_t now_us);
/* Gives back an event that was handed out but not delivered whole. */
void replay_stream_give_back(replay_stream_t *self, const replay_event_t *ev);

/* An upper bound of the event's size in bytes (at most replay_stream_max_event). */
size_t replay_stream_event_size(replay_stream_t *self, const replay_event_t *ev);
/* Writes the event's SSE bytes into buf, which has room for
 * replay_stream_event_size bytes; wall_us is the send time. Returns the length. */
size_t replay_stream_format(replay_stream_t *self, const replay_event_t *ev, int64_t wall_us, char *buf);

/* Counters for logs and tests: new events handed out, events resent. */
uint64_t replay_stream_sent(replay_stream_t *self);
uint64_t replay_stream_resent(replay_stream_t *self);

#endif
