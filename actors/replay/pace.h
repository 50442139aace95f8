/* pace: how many events a stream may send, and when (rate, burst, schedule).
 *
 * A token bucket refilled at the current rate. The current rate is --rate, or the
 * phase of --rate-schedule in force, times the burst factor when bursts are on.
 * A rate of 0 means "no limit": every take succeeds and the stream goes as fast as
 * its readers read. Time is passed in by the caller (monotonic microseconds), so
 * the pacing has no clock of its own and is reproducible in a test.
 *
 * Bursts: the real server's rate varies between 100s and 1000s of events per
 * second. With bursts on, time is cut into phases of 0.5 to 1.5 s (uniform); each
 * phase multiplies the base rate by 4^u with u uniform in [-1, 1], so the rate
 * stays between rate/4 and rate*4, log-uniformly: its median is the base rate and
 * its mean about 1.35 times it. The factors come from the seed.
 */
#ifndef REPLAY_PACE_H
#define REPLAY_PACE_H

#include "rtp_err.h"

#include <stdint.h>

typedef struct replay_pace_t replay_pace_t;

/* rate: events per second (0 = unlimited); schedule: NULL or
 * "RATE:SECONDS,RATE:SECONDS,..." which replaces rate and repeats from start_us on;
 * burst: 0 or 1; seed: for the burst factors. NULL with a reason on a bad
 * schedule or a negative rate. */
replay_pace_t *replay_pace_new(double rate, const char *schedule, int burst, uint64_t seed, int64_t start_us,
                               rtp_err_t *err);
void replay_pace_destroy(replay_pace_t **self_p);

/* The rate in force at now_us (0 = unlimited). */
double replay_pace_rate(replay_pace_t *self, int64_t now_us);

/* Takes one event's token: 1 if an event may be sent at now_us, else 0. */
int replay_pace_take(replay_pace_t *self, int64_t now_us);

/* When the next take will succeed (now_us if it would now): the time to wake up
 * at, never later than the next change of rate. */
int64_t replay_pace_due_us(replay_pace_t *self, int64_t now_us);

/* A small seeded generator (splitmix64) the replay server uses for every random
 * choice, so a seed reproduces a run. Returns a double in [0, 1). */
double replay_rand(uint64_t *state);

#endif
