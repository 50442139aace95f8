/* u64map: agrees with a plain array model through a long random run of puts,
 * replaces and removes (which exercises growth and backward-shift deletion). */
#include "check.h"
#include "u64map.h"

#include <stdlib.h>

#define N 5000

static void s_count(uint64_t key, void *value, void *arg)
{
    (void) key;
    (void) value;
    (*(size_t *) arg)++;
}

int main(void)
{
    rtp_u64map_t *m = rtp_u64map_new(4);
    static intptr_t model[N];   /* 0 = absent */
    srand(1);
    int mismatches = 0;
    for (int step = 0; step < 200000; step++) {
        uint64_t k = (uint64_t) (rand() % N);
        int op = rand() % 3;
        if (k == 0)
            continue;
        if (op < 2) {
            intptr_t v = step + 1;
            CHECK_INT(rtp_u64map_put(m, k, (void *) v), 0);
            model[k] = v;
        } else {
            intptr_t got = (intptr_t) rtp_u64map_remove(m, k);
            if (got != model[k])
                mismatches++;
            model[k] = 0;
        }
    }
    size_t present = 0;
    for (uint64_t k = 1; k < N; k++) {
        if ((intptr_t) rtp_u64map_get(m, k) != model[k])
            mismatches++;
        present += model[k] != 0;
    }
    CHECK_INT(mismatches, 0);
    CHECK_INT(rtp_u64map_size(m), present);
    size_t seen = 0;
    rtp_u64map_each(m, s_count, &seen);
    CHECK_INT(seen, present);
    CHECK_INT(rtp_u64map_put(m, 0, NULL), -1);
    CHECK(rtp_u64map_get(m, 0) == NULL);
    /* sequential keys with a random high part, as the broker makes them */
    rtp_u64map_t *seq = rtp_u64map_new(0);
    uint64_t base = 0xabcdefULL << 40;
    for (uint64_t i = 1; i <= 100000; i++)
        rtp_u64map_put(seq, base | i, (void *) (uintptr_t) i);
    for (uint64_t i = 1; i <= 100000; i += 2)
        CHECK((uintptr_t) rtp_u64map_remove(seq, base | i) == i);
    int wrong = 0;
    for (uint64_t i = 2; i <= 100000; i += 2)
        wrong += (uintptr_t) rtp_u64map_get(seq, base | i) != i;
    CHECK_INT(wrong, 0);
    CHECK_INT(rtp_u64map_size(seq), 50000);
    rtp_u64map_destroy(&seq);
    rtp_u64map_destroy(&m);
    CHECK(m == NULL);
    return CHECK_DONE();
}
