/* autoscale: the pool manager grows in one step to what the load and the queue
 * need, within its bounds, shrinks back once the queue is gone, and does not flap
 * around a threshold. */
#include "../../broker/autoscale.c"
#include "check.h"

static int s_run(scale_state_t *st, const scale_policy_t *p, scale_load_t *load, int64_t *now, int ticks,
                 int *changes)
{
    char why[256];
    for (int i = 0; i < ticks; i++) {
        *now += 1000;
        int next = scale_decide(st, p, load, *now, why, sizeof why);
        if (next != load->workers)
            (*changes)++;
        load->workers = next;
    }
    return load->workers;
}

int main(void)
{
    scale_policy_t p;
    CHECK_INT(scale_parse_bounds("2:12", &p), 0);
    CHECK_INT(p.min, 2);
    CHECK_INT(p.max, 12);
    CHECK_INT(scale_parse_bounds("3", &p), 0);
    CHECK(p.min == 3 && p.max == 3);
    CHECK_INT(scale_parse_bounds("5:2", &p), -1);
    CHECK_INT(scale_parse_bounds("x", &p), -1);
    CHECK_INT(scale_parse_bounds("1:", &p), -1);
    CHECK_INT(scale_parse_bounds("1:2x", &p), -1);

    p = scale_policy_default(2, 12);
    scale_state_t st = {0, 0, -100000, 0};
    int64_t now = 0;
    int changes = 0;
    /* 200 tweets/s at 20 ms, no queue yet: 4 busy workers, 5.7 at 70 % utilisation */
    scale_load_t load = {200, 20, 0, 2};
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 2);   /* one busier tick without a queue is not enough */
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 6);   /* the second: straight to the need, no doubling */
    CHECK_INT(s_run(&st, &p, &load, &now, 30, &changes), 6);  /* and stays: steady load */
    CHECK_INT(changes, 1);

    /* a step with a queue forming: Little's law plus what drains the queue in drain_s,
     * in one decision: 1000/s x 5 ms / 0.7 = 7.14, + 2000 x 5 ms / 5 s = 2: 10 */
    st = (scale_state_t){0, 0, -100000, 0};
    load = (scale_load_t){1000, 5, 2000, 2};
    changes = 0;
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 10);
    CHECK(st.needed > 9.13 && st.needed < 9.15);
    /* the queue grows on while the new workers start: more at the next tick, once
     * the up cool-down (1 s) has passed */
    load.backlog = 5000;   /* + 5 */
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 12);
    CHECK_INT(changes, 2);
    /* no grow within the cool-down of the last change */
    scale_policy_t slow = p;
    slow.up_cooldown_ms = 3000;
    st = (scale_state_t){0, 0, now, 0};
    load = (scale_load_t){1000, 5, 2000, 2};
    CHECK_INT(s_run(&st, &slow, &load, &now, 2, &changes), 2);
    CHECK_INT(s_run(&st, &slow, &load, &now, 1, &changes), 10);

    /* 3000/s: far more than the maximum */
    st = (scale_state_t){0, 0, -100000, 0};
    load = (scale_load_t){3000, 20, 5000, 2};
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 12);
    CHECK_INT(s_run(&st, &p, &load, &now, 20, &changes), 12);
    /* the load drops to 50/s but the queue is not gone: no shrink, however long */
    load.arrival_per_s = 50;
    load.backlog = 500;
    changes = 0;
    CHECK_INT(s_run(&st, &p, &load, &now, 30, &changes), 12);
    CHECK_INT(changes, 0);
    /* the queue is gone: shrinks to the minimum after down_ticks quiet ticks, at once */
    load.backlog = 3;
    CHECK_INT(s_run(&st, &p, &load, &now, 4, &changes), 12);
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 2);   /* 50/s x 20 ms / 0.7 = 1.43 */
    CHECK_INT(s_run(&st, &p, &load, &now, 30, &changes), 2);
    CHECK_INT(changes, 1);
    /* shrinking keeps a quarter of headroom: 150/s x 20 ms / 0.7 = 4.29 -> 6, not 5 */
    load = (scale_load_t){150, 20, 0, 12};
    changes = 0;
    CHECK_INT(s_run(&st, &p, &load, &now, 5, &changes), 6);
    CHECK_INT(s_run(&st, &p, &load, &now, 30, &changes), 6);
    CHECK_INT(changes, 1);

    /* a load wobbling around 4 workers' worth never flaps */
    changes = 0;
    load.workers = 4;
    for (int i = 0; i < 60; i++) {
        load.arrival_per_s = i % 2 ? 130 : 150;   /* needs 3.7 then 4.3: within the band */
        s_run(&st, &p, &load, &now, 1, &changes);
    }
    CHECK(changes <= 1);
    /* nor does a queue that comes and goes with it, once grown */
    changes = 0;
    for (int i = 0; i < 60; i++) {
        load.arrival_per_s = i % 2 ? 130 : 150;
        load.backlog = i % 2 ? 0 : 200;
        s_run(&st, &p, &load, &now, 1, &changes);
    }
    CHECK(changes <= 1);
    /* bounds apply at once */
    load.workers = 20;
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 12);
    load.workers = 0;
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 2);
    /* the reason names the numbers */
    char why[256];
    load = (scale_load_t){100, 10, 7, 2};
    scale_decide(&st, &p, &load, now, why, sizeof why);
    CHECK(strstr(why, "arrival 100.0/s") && strstr(why, "backlog 7") && strstr(why, "bounds 2..12"));
    return CHECK_DONE();
}
