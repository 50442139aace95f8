/* autoscale: the pool manager grows under load within its bounds, shrinks back when
 * the load is gone, and does not flap around a threshold. */
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
    /* 200 tweets/s at 20 ms: 4 busy workers, 5.7 at 70 % utilisation */
    scale_load_t load = {200, 20, 0, 2};
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 2);   /* one tick is not enough */
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 4);   /* grows, at most doubling */
    CHECK_INT(s_run(&st, &p, &load, &now, 2, &changes), 4);   /* cool-down */
    CHECK_INT(s_run(&st, &p, &load, &now, 5, &changes), 6);   /* then to what is needed */
    CHECK_INT(s_run(&st, &p, &load, &now, 30, &changes), 6);  /* and stays: steady load */
    CHECK_INT(changes, 2);
    /* 3000/s: far more than the maximum */
    load.arrival_per_s = 3000;
    load.backlog = 5000;
    CHECK_INT(s_run(&st, &p, &load, &now, 20, &changes), 12);
    /* back to 50/s, no backlog: shrinks to the minimum after the down delay */
    load.arrival_per_s = 50;
    load.backlog = 0;
    changes = 0;
    CHECK_INT(s_run(&st, &p, &load, &now, 9, &changes), 12);
    CHECK_INT(s_run(&st, &p, &load, &now, 1, &changes), 2);
    CHECK_INT(changes, 1);
    /* a load wobbling around 4 workers' worth never flaps */
    changes = 0;
    load.workers = 4;
    for (int i = 0; i < 60; i++) {
        load.arrival_per_s = i % 2 ? 130 : 150;   /* needs 3.7 then 4.3: within the band */
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
