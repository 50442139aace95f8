/* pool: least connected within each worker's capacity and the pool's credit limit,
 * which follows how long tasks take; the waiting-task deque keeps its order. */
#include "../../broker/pool.c"
#include "check.h"

static void test_credit_limit_follows_service_time(void)
{
    pool_t *p = pool_new(0);
    CHECK_INT(pool_credit_limit(p), 2);   /* nothing timed yet: careful */
    for (int i = 0; i < 200; i++)
        pool_note_service(p, 0.02);   /* simulated work off: 20 us a task */
    CHECK_INT(pool_credit_limit(p), RTP_BUNDLE_MAX);
    for (int i = 0; i < 200; i++)
        pool_note_service(p, 20.0);   /* the lab's slow work */
    CHECK_INT(pool_credit_limit(p), 2);
    for (int i = 0; i < 400; i++)
        pool_note_service(p, 2.5);
    CHECK_INT(pool_credit_limit(p), 4);
    pool_note_service(p, -1.0);   /* ignored */
    pool_note_service(p, 0.0 / 0.0);
    CHECK_INT(pool_credit_limit(p), 4);
    /* one slow task does not swing it */
    pool_note_service(p, 500.0);
    CHECK(pool_credit_limit(p) >= 2);
    pool_destroy(&p);
}

static void test_least_loaded_within_limits(void)
{
    pool_t *p = pool_new(0);
    rtp_peer_t peer = {{1}, 1};
    pool_worker_t *a = pool_add(p, 1, &peer, "a", 64, 0);
    peer.data[0] = 2;
    pool_worker_t *b = pool_add(p, 2, &peer, "b", 3, 0);
    CHECK(a && b);
    for (int i = 0; i < 200; i++)
        pool_note_service(p, 0.01);
    /* least connected, one task at a time: they alternate until b is full */
    int to_a = 0, to_b = 0;
    for (int i = 0; i < 40; i++) {
        pool_worker_t *w = pool_least_loaded(p, NULL, 0);
        CHECK(w != NULL);
        if (!w)
            break;
        w->in_flight++;
        w == a ? to_a++ : to_b++;
    }
    CHECK_INT(to_b, 3);   /* its own capacity */
    CHECK_INT(to_a, 37);
    /* slow tasks: the limit falls to 2, so a (at 37) takes no more; nor does b */
    for (int i = 0; i < 300; i++)
        pool_note_service(p, 50.0);
    CHECK(pool_least_loaded(p, NULL, 0) == NULL);
    a->in_flight = 1;
    b->in_flight = 1;
    uint32_t not_a[1] = {1};
    CHECK(pool_least_loaded(p, not_a, 1) == b);
    b->in_flight = 2;
    CHECK(pool_least_loaded(p, NULL, 0) == a);
    CHECK(pool_least_loaded(p, not_a, 1) == NULL);
    pool_destroy(&p);
}

static void test_deque_order(void)
{
    pool_t *p = pool_new(0);
    for (uint64_t k = 1; k <= 3000; k++)
        CHECK_INT(pool_push_back(p, k), 0);
    CHECK_INT(pool_push_front(p, 9999), 0);
    CHECK(pool_pop_front(p) == 9999);
    for (uint64_t k = 1; k <= 3000; k++)
        if (pool_pop_front(p) != k) {
            CHECK(0);
            break;
        }
    CHECK(pool_pop_front(p) == 0);
    pool_destroy(&p);
}

int main(void)
{
    test_credit_limit_follows_service_time();
    test_least_loaded_within_limits();
    test_deque_order();
    return CHECK_DONE();
}
