#include "autoscale.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int scale_parse_bounds(const char *text, scale_policy_t *policy)
{
    char *end;
    long min = strtol(text, &end, 10), max = min;
    if (end == text)
        return -1;
    if (*end == ':') {
        const char *rest = end + 1;
        max = strtol(rest, &end, 10);
        if (end == rest)
            return -1;
    }
    if (*end || min < 0 || max < min || max > 256)
        return -1;
    policy->min = (int) min;
    policy->max = (int) max;
    return 0;
}

scale_policy_t scale_policy_default(int min, int max)
{
    scale_policy_t p = {min, max, 0.7, 5.0, 2, 5, 1000, 5000};
    return p;
}

int scale_decide(scale_state_t *st, const scale_policy_t *p, const scale_load_t *load, int64_t now_ms, char *why,
                 size_t why_cap)
{
    double service_s = load->service_ms / 1000.0;
    double needed = load->arrival_per_s * service_s / p->target_utilisation + (double) load->backlog * service_s / p->drain_s;
    st->needed = needed;
    int want = (int) ceil(needed - 1e-9);
    if (want < p->min)
        want = p->min;
    if (want > p->max)
        want = p->max;
    int now = load->workers;
    int target = now;
    int backlog_gone = (double) load->backlog <= 10 + 0.1 * load->arrival_per_s;
    if (now < p->min || now > p->max)
        target = now < p->min ? p->min : p->max;   /* bounds first, no waiting */
    else if (want > now) {
        st->under = 0;
        st->over++;
        /* a queue forming is evidence enough; a busier tick with no queue must last */
        if ((st->over >= p->up_ticks || !backlog_gone) && now_ms - st->last_change_ms >= p->up_cooldown_ms)
            target = want;
    } else if (want < now && needed <= now - 1 && backlog_gone) {
        st->over = 0;
        if (++st->under >= p->down_ticks && now_ms - st->last_change_ms >= p->down_cooldown_ms) {
            /* shrink with a quarter of headroom, so a load right at a whole number of
             * workers does not shrink and grow back at once */
            target = (int) ceil(needed * 1.25 - 1e-9);
            if (target >= now)
                target = now;
        }
    } else
        st->over = st->under = 0;
    if (target < p->min)
        target = p->min;
    if (target > p->max)
        target = p->max;
    snprintf(why, why_cap,
             "arrival %.1f/s x service %.2f ms / %.2f target utilisation + backlog %zu x service / %.0f s drain = "
             "%.2f workers needed; have %d, bounds %d..%d",
             load->arrival_per_s, load->service_ms, p->target_utilisation, load->backlog, p->drain_s, needed, now,
             p->min, p->max);
    if (target != now) {
        st->last_change_ms = now_ms;
        st->over = st->under = 0;
    }
    return target;
}
