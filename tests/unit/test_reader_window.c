/* The reader's window of unacknowledged records (actors/reader/window.c, built
 * into this test since it is not part of librtp): deadlines, the per-record
 * doubling delay and its cap, acknowledgement of known and unknown seqs, the
 * bound, and order among many records. */
#include "../../actors/reader/window.c"

#include "check.h"

static reader_record_t *s_record(uint64_t seq)
{
    const uint8_t hdr[4] = {'R', 'T', 1, 1};
    char body[32];
    int n = snprintf(body, sizeof body, "body of %llu", (unsigned long long) seq);
    return reader_record_new(seq, hdr, (const uint8_t *) body, (size_t) n);
}

static void test_record(void)
{
    reader_record_t *r = s_record(42);
    CHECK(r != NULL);
    CHECK_INT(r->seq, 42);
    CHECK_INT(r->len, 4 + strlen("body of 42"));
    CHECK(memcmp(r->data, "RT\1\1body of 42", r->len) == 0);
    reader_record_destroy(&r);
    reader_record_destroy(&r);
    CHECK(r == NULL);
}

/* One record: overdue at 100, 200 (doubled), 400, then every 400 (the cap). */
static void test_backoff(void)
{
    reader_window_t *w = reader_window_new(10, 100, 400);
    CHECK(w != NULL);
    CHECK_INT(reader_window_next_ms(w, 0), -1);
    CHECK(reader_window_overdue(w, 1000000) == NULL);
    reader_record_t *r = s_record(7);
    CHECK_INT(reader_window_add(w, r, 1000), 0);
    CHECK_INT(reader_window_size(w), 1);
    CHECK_INT(reader_window_next_ms(w, 1000), 100);
    CHECK(reader_window_overdue(w, 1099) == NULL);
    int64_t expect[] = {1100, 1300, 1700, 2100, 2500};
    int64_t now = 1000;
    for (int i = 0; i < 5; i++) {
        CHECK(reader_window_overdue(w, expect[i] - 1) == NULL);
        CHECK(reader_window_overdue(w, expect[i]) == r);
        CHECK_INT(reader_window_next_ms(w, expect[i] + 5), 0);
        now = expect[i];
        reader_window_resent(w, r, now);
    }
    CHECK_INT(reader_window_next_ms(w, now), 400);
    CHECK_INT(reader_window_size(w), 1);
    CHECK_INT(reader_window_ack(w, 7), 1);
    CHECK_INT(reader_window_ack(w, 7), 0);
    CHECK_INT(reader_window_size(w), 0);
    CHECK_INT(reader_window_next_ms(w, now), -1);
    reader_window_destroy(&w);
    reader_window_destroy(&w);
    CHECK(w == NULL);
}

/* A cap below the timeout means no backoff; a cap not a power-of-two multiple is
 * reached exactly. */
static void test_caps(void)
{
    reader_window_t *w = reader_window_new(1, 50, 10);
    reader_record_t *r = s_record(1);
    reader_window_add(w, r, 0);
    reader_window_resent(w, r, 50);
    CHECK_INT(reader_window_next_ms(w, 50), 50);
    reader_window_destroy(&w);

    w = reader_window_new(1, 40, 100);
    r = s_record(1);
    reader_window_add(w, r, 0);
    int64_t delays[] = {80, 100, 100};
    int64_t now = 40;
    for (int i = 0; i < 3; i++) {
        reader_window_resent(w, r, now);
        CHECK_INT(reader_window_next_ms(w, now), delays[i]);
        now += delays[i];
    }
    reader_window_destroy(&w); /* frees the record still in it */
}

static void test_bound_and_unknown(void)
{
    reader_window_t *w = reader_window_new(3, 1000, 60000);
    CHECK(!reader_window_full(w));
    for (uint64_t s = 100; s < 103; s++)
        reader_window_add(w, s_record(s), 0);
    CHECK(reader_window_full(w));
    CHECK_INT(reader_window_ack(w, 99), 0);
    CHECK_INT(reader_window_ack(w, 0), 0);
    CHECK_INT(reader_window_ack(w, 101), 1);
    CHECK(!reader_window_full(w));
    CHECK_INT(reader_window_size(w), 2);
    reader_window_destroy(&w);
    CHECK(reader_window_new(0, 1000, 1000) == NULL);
    CHECK(reader_window_new(1, 0, 1000) == NULL);
}

/* Many records sent over time, some resent, some acknowledged: overdue ones come
 * out in deadline order, each exactly when due, and acknowledged ones never. */
static void test_order(void)
{
    enum { N = 5000 };
    reader_window_t *w = reader_window_new(N, 30, 240);
    int64_t due[N + 1];
    int acked[N + 1];
    memset(acked, 0, sizeof acked);
    for (uint64_t s = 1; s <= N; s++) {
        reader_window_add(w, s_record(s), (int64_t) s / 10);
        due[s] = (int64_t) s / 10 + 30;
    }
    for (uint64_t s = 3; s <= N; s += 3) {
        CHECK_INT(reader_window_ack(w, s), 1);
        acked[s] = 1;
    }
    int64_t delay_of[N + 1];
    for (int s = 0; s <= N; s++)
        delay_of[s] = 30;
    long resends = 0, bad = 0;
    int64_t last_due = 0;
    for (int64_t now = 0; now <= 3000; now++) {
        reader_record_t *r;
        while ((r = reader_window_overdue(w, now)) != NULL) {
            uint64_t s = r->seq;
            if (acked[s] || due[s] > now || due[s] < last_due)
                bad++;
            last_due = due[s];
            if (s % 3 == 1 && resends % 2 == 0) {
                CHECK_INT(reader_window_ack(w, s), 1);
                acked[s] = 1;
            } else {
                reader_window_resent(w, r, now);
                delay_of[s] = delay_of[s] * 2 > 240 ? 240 : delay_of[s] * 2;
                due[s] = now + delay_of[s];
            }
            resends++;
        }
        if (now < 3000 && reader_window_next_ms(w, now) == 0)
            bad++; /* nothing may be left overdue */
    }
    CHECK_INT(bad, 0);
    CHECK(resends > N);
    size_t left = 0;
    for (int s = 1; s <= N; s++)
        left += !acked[s];
    CHECK_INT(reader_window_size(w), left);
    printf("  %ld overdue records handled in deadline order, %zu left\n", resends, left);
    reader_window_destroy(&w);
}

int main(void)
{
    test_record();
    test_backoff();
    test_caps();
    test_bound_and_unknown();
    test_order();
    return CHECK_DONE();
}
