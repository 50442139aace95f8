#include "pace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BURST_MIN_US 500000
#define BURST_SPAN_US 1000000
#define BURST_RANGE 4.0
/* The bucket holds at most this many seconds' worth of events (and at least one),
 * so a reader that was slow or absent does not get a flood when it catches up. */
#define BUCKET_SECONDS 0.02

typedef struct {
    double rate;
    int64_t end_us; /* end of the phase, from the start of the cycle */
} phase_t;

struct replay_pace_t {
    double rate;
    phase_t *phases;
    int nphases;
    int64_t cycle_us;
    int64_t start_us;
    int burst;
    uint64_t rng;
    double burst_factor;
    int64_t burst_end_us;
    double tokens;
    int64_t last_us;
};

double replay_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double) (z >> 11) / 9007199254740992.0; /* 53 bits */
}

static int s_parse_schedule(replay_pace_t *self, const char *text, rtp_err_t *err)
{
    int n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    self->phases = calloc((size_t) n, sizeof *self->phases);
    if (!self->phases)
        return rtp_err_set(err, "out of memory");
    const char *p = text;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        char *end;
        double rate = strtod(p, &end);
        if (end == p || *end != ':' || !(rate >= 0) || isinf(rate))
            return rtp_err_set(err, "bad --rate-schedule entry %d: want RATE:SECONDS with RATE >= 0", i + 1);
        p = end + 1;
        double secs = strtod(p, &end);
        if (end == p || (*end != ',' && *end != 0) || !(secs > 0) || secs > 1e6)
            return rtp_err_set(err, "bad --rate-schedule entry %d: want SECONDS > 0", i + 1);
        at += (int64_t) llround(secs * 1e6);
        self->phases[i].rate = rate;
        self->phases[i].end_us = at;
        p = *end ? end + 1 : end;
    }
    self->nphases = n;
    self->cycle_us = at;
    return 0;
}

replay_pace_t *replay_pace_new(double rate, const char *schedule, int burst, uint64_t seed, int64_t start_us,
                               rtp_err_t *err)
{
    if (!(rate >= 0) || isinf(rate)) {
        rtp_err_set(err, "--rate must be a number >= 0");
        return NULL;
    }
    replay_pace_t *self = calloc(1, sizeof *self);
    if (!self) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    self->rate = rate;
    self->burst = burst;
    self->rng = seed;
    self->burst_factor = 1;
    self->burst_end_us = start_us;
    self->start_us = start_us;
    self->last_us = start_us;
    if (schedule && *schedule && s_parse_schedule(self, schedule, err) != 0) {
        replay_pace_destroy(&self);
        return NULL;
    }
    return self;
}

void replay_pace_destroy(replay_pace_t **self_p)
{
    if (self_p && *self_p) {
        free((*self_p)->phases);
        free(*self_p);
        *self_p = NULL;
    }
}

/* The scheduled (or fixed) rate at now_us, and when it next changes (INT64_MAX if
 * never). */
static double s_base_rate(replay_pace_t *self, int64_t now_us, int64_t *change_us)
{
    *change_us = INT64_MAX;
    if (self->nphases == 0)
        return self->rate;
    int64_t since = now_us > self->start_us ? now_us - self->start_us : 0;
    int64_t pos = since % self->cycle_us;
    int i = 0;
    while (i < self->nphases - 1 && pos >= self->phases[i].end_us)
        i++;
    *change_us = now_us - pos + self->phases[i].end_us;
    return self->phases[i].rate;
}

static double s_rate(replay_pace_t *self, int64_t now_us, int64_t *change_us)
{
    double rate = s_base_rate(self, now_us, change_us);
    if (!self->burst)
        return rate;
    if (now_us >= self->burst_end_us) {
        double u = 2 * replay_rand(&self->rng) - 1;
        self->burst_factor = pow(BURST_RANGE, u);
        self->burst_end_us = now_us + BURST_MIN_US + (int64_t) (replay_rand(&self->rng) * BURST_SPAN_US);
    }
    if (self->burst_end_us < *change_us)
        *change_us = self->burst_end_us;
    return rate * self->burst_factor;
}

double replay_pace_rate(replay_pace_t *self, int64_t now_us)
{
    int64_t change;
    return s_rate(self, now_us, &change);
}

/* Refills the bucket up to now_us at the rate in force; returns that rate. */
static double s_refill(replay_pace_t *self, int64_t now_us, int64_t *change_us)
{
    double rate = s_rate(self, now_us, change_us);
    if (now_us > self->last_us && rate > 0) {
        double cap = fmax(1.0, rate * BUCKET_SECONDS);
        self->tokens = fmin(cap, self->tokens + rate * (double) (now_us - self->last_us) / 1e6);
    }
    if (now_us > self->last_us)
        self->last_us = now_us;
    return rate;
}

int replay_pace_take(replay_pace_t *self, int64_t now_us)
{
    int64_t change;
    if (s_refill(self, now_us, &change) == 0)
        return 1;
    if (self->tokens < 1)
        return 0;
    self->tokens -= 1;
    return 1;
}

int64_t replay_pace_due_us(replay_pace_t *self, int64_t now_us)
{
    int64_t change;
    double rate = s_refill(self, now_us, &change);
    if (rate == 0 || self->tokens >= 1)
        return now_us;
    int64_t due = now_us + (int64_t) ceil((1 - self->tokens) / rate * 1e6);
    return due < change ? due : change;
}
