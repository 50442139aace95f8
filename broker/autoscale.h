/* autoscale: the pool manager's decision, as a pure function of measured load.
 * No sockets, no clock of its own: the broker feeds it one sample a tick.
 *
 * Needed workers = arrival rate x service time / target utilisation (the load,
 * Little's law) + backlog x service time / drain time (enough to drain the queue in
 * drain_s), rounded up, within [min, max].
 *   - Grow: when more are needed and the last change is older than
 *     up_cooldown_ms, straight to what is needed (a step in the load is met in one
 *     decision, not by doubling tick after tick): at once when a queue is forming
 *     (the backlog is not gone, see below), else after up_ticks ticks in a row.
 *   - Shrink: only once the backlog is gone (at most 10 tasks + 0.1 s of arrivals
 *     queued) and at least one whole worker is spare (needed <= current - 1), for
 *     down_ticks ticks in a row, and the last change is older than
 *     down_cooldown_ms; to what is needed plus a quarter of headroom, so that a
 *     load right at a whole number of workers does not shrink and grow back.
 * The gap between the two thresholds (a whole worker plus the headroom), the
 * consecutive ticks and the cool-downs are the hysteresis that keeps a steady or
 * wobbling load from flapping.
 */
#ifndef RTP_BROKER_AUTOSCALE_H
#define RTP_BROKER_AUTOSCALE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int min, max;
    double target_utilisation;   /* e.g. 0.7 */
    double drain_s;              /* e.g. 5 */
    int up_ticks, down_ticks;
    int up_cooldown_ms, down_cooldown_ms;
} scale_policy_t;

typedef struct {
    double arrival_per_s;   /* tasks entering the pool's queue per second */
    double service_ms;      /* mean time a worker spends on one task */
    size_t backlog;         /* tasks waiting for a worker */
    int workers;            /* the pool's size now (what was last decided) */
} scale_load_t;

typedef struct {
    int over, under;          /* consecutive ticks above / below */
    int64_t last_change_ms;
    double needed;            /* the last computed need (for logs) */
} scale_state_t;

/* Parses "MIN:MAX" or "N" (fixed) into policy->min/max; 0 or -1. */
int scale_parse_bounds(const char *text, scale_policy_t *policy);

/* A policy with the defaults above and the given bounds. */
scale_policy_t scale_policy_default(int min, int max);

/* The pool size to have from now on (== load->workers when nothing changes).
 * `why` gets one line with the numbers behind the decision. */
int scale_decide(scale_state_t *state, const scale_policy_t *policy, const scale_load_t *load, int64_t now_ms,
                 char *why, size_t why_cap);

#endif
