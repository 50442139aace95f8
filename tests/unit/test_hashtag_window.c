/* hashtag_window: counting, case folding, duplicates, top-N order and ties, rollover,
 * the caps, the report line and window alignment. */
#include "check.h"
#include "hashtag_window.h"

#include <stdlib.h>

/* The count of tag in the window's full top list, or -1 when absent. */
static long long s_count_of(rtp_hashtag_window_t *w, const char *tag)
{
    rtp_hashtag_count_t top[64];
    size_t n = rtp_hashtag_window_top(w, top, 64);
    for (size_t i = 0; i < n; i++)
        if (strcmp(top[i].tag, tag) == 0)
            return (long long) top[i].count;
    return -1;
}

static void s_test_counting(void)
{
    rtp_hashtag_window_t *w = rtp_hashtag_window_new(100, 100);
    CHECK(w != NULL);
    rtp_hashtag_count_t none[1];
    CHECK_INT(rtp_hashtag_window_top(w, none, 1), 0);   /* a new window is empty */
    rtp_hashtag_window_reset(w, 1000, 6000);
    CHECK_INT(rtp_hashtag_window_add(w, "1", "Love music"), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "2", "LOVE #love\tlove"), 1);   /* once per tweet */
    CHECK_INT(rtp_hashtag_window_add(w, "3", "lOvE  Music\n"), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "4", ""), 1);                   /* a tweet without tags */
    CHECK_INT(rtp_hashtag_window_add(w, "5", NULL), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "6", "# ## Ünï"), 1);            /* non-ASCII kept as is */
    CHECK_INT(s_count_of(w, "love"), 3);
    CHECK_INT(s_count_of(w, "music"), 2);
    CHECK_INT(s_count_of(w, "Ünï"), 1);
    CHECK_INT(s_count_of(w, "ünï"), -1);
    CHECK_INT(s_count_of(w, "Love"), -1);
    CHECK_INT(s_count_of(w, ""), -1);
    const rtp_hashtag_window_stats_t *st = rtp_hashtag_window_stats(w);
    CHECK_INT(st->tweets, 6);
    CHECK_INT(st->tags, 3);
    CHECK_INT(st->mentions, 6);
    CHECK_INT(st->duplicates, 0);
    CHECK_INT(st->start_ms, 1000);
    CHECK_INT(st->end_ms, 6000);

    /* Ids that cannot be counted: nothing changes. */
    CHECK_INT(rtp_hashtag_window_add(w, "", "love"), -1);
    CHECK_INT(rtp_hashtag_window_add(w, NULL, "love"), -1);
    char long_id[RTP_HASHTAG_MAX_ID + 2];
    memset(long_id, '7', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    CHECK_INT(rtp_hashtag_window_add(w, long_id, "love"), -1);
    long_id[RTP_HASHTAG_MAX_ID] = '\0';   /* exactly the limit is fine */
    CHECK_INT(rtp_hashtag_window_add(w, long_id, "x"), 1);
    CHECK_INT(s_count_of(w, "love"), 3);
    CHECK_INT(st->tweets, 7);

    /* A tag too long is dropped and counted as such. */
    char *huge = malloc(RTP_HASHTAG_MAX_BYTES + 2);
    memset(huge, 'a', RTP_HASHTAG_MAX_BYTES + 1);
    huge[RTP_HASHTAG_MAX_BYTES + 1] = '\0';
    CHECK_INT(rtp_hashtag_window_add(w, "8", huge), 1);
    CHECK_INT(st->tags_dropped, 1);
    huge[RTP_HASHTAG_MAX_BYTES] = '\0';
    CHECK_INT(rtp_hashtag_window_add(w, "9", huge), 1);
    CHECK_INT(st->tags_dropped, 1);
    CHECK_INT(st->tags, 5);
    free(huge);
    rtp_hashtag_window_destroy(&w);
    CHECK(w == NULL);
    rtp_hashtag_window_destroy(&w);   /* safe twice */
    CHECK(rtp_hashtag_window_new(0, 10) == NULL);
}

static void s_test_duplicates(void)
{
    rtp_hashtag_window_t *w = rtp_hashtag_window_new(100, 100);
    rtp_hashtag_window_reset(w, 0, 5000);
    CHECK_INT(rtp_hashtag_window_add(w, "42", "rtp"), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "42", "rtp"), 0);
    CHECK_INT(rtp_hashtag_window_add(w, "42", "other"), 0);   /* the id decides, not the tags */
    CHECK_INT(rtp_hashtag_window_add(w, "43", "RTP"), 1);
    CHECK_INT(s_count_of(w, "rtp"), 2);
    CHECK_INT(s_count_of(w, "other"), -1);
    const rtp_hashtag_window_stats_t *st = rtp_hashtag_window_stats(w);
    CHECK_INT(st->tweets, 2);
    CHECK_INT(st->duplicates, 2);
    CHECK_INT(st->mentions, 2);

    /* Rollover: the next window forgets counts and ids, so the id counts again. */
    rtp_hashtag_window_reset(w, 5000, 10000);
    CHECK_INT(st->tweets, 0);
    CHECK_INT(st->duplicates, 0);
    CHECK_INT(st->tags, 0);
    CHECK_INT(st->start_ms, 5000);
    rtp_hashtag_count_t top[4];
    CHECK_INT(rtp_hashtag_window_top(w, top, 4), 0);
    CHECK_INT(rtp_hashtag_window_add(w, "42", "rtp new"), 1);
    CHECK_INT(s_count_of(w, "rtp"), 1);
    CHECK_INT(s_count_of(w, "new"), 1);
    CHECK_INT(s_count_of(w, "other"), -1);
    CHECK_INT(st->tweets, 1);
    rtp_hashtag_window_destroy(&w);
}

static void s_test_top(void)
{
    rtp_hashtag_window_t *w = rtp_hashtag_window_new(1000, 1000);
    rtp_hashtag_window_reset(w, 0, 5000);
    /* c x3, then a, b, d x2 (a tie broken by name), e x1 */
    const char *tweets[] = {"c a", "C b", "c D", "a", "b", "d E", NULL};
    char id[16];
    for (int i = 0; tweets[i]; i++) {
        snprintf(id, sizeof id, "%d", 100 + i);
        CHECK_INT(rtp_hashtag_window_add(w, id, tweets[i]), 1);
    }
    rtp_hashtag_count_t top[10];
    size_t n = rtp_hashtag_window_top(w, top, 3);
    CHECK_INT(n, 3);
    CHECK_STR(top[0].tag, "c");
    CHECK_INT(top[0].count, 3);
    CHECK_STR(top[1].tag, "a");
    CHECK_INT(top[1].count, 2);
    CHECK_STR(top[2].tag, "b");
    CHECK_INT(top[2].count, 2);
    n = rtp_hashtag_window_top(w, top, 10);
    CHECK_INT(n, 5);
    CHECK_STR(top[3].tag, "d");
    CHECK_STR(top[4].tag, "e");
    CHECK_INT(top[4].count, 1);

    char *line = rtp_hashtag_window_report(w, top, 3);
    CHECK_STR(line, "top hashtags 00:00:00-00:00:05 UTC (6 tweets, 5 tags): #c 3, #a 2, #b 2");
    free(line);
    rtp_hashtag_window_reset(w, 1479923400500, 1479923401500);   /* 2016-11-23T17:50:00.5Z */
    line = rtp_hashtag_window_report(w, top, 0);
    CHECK_STR(line, "top hashtags 17:50:00.500-17:50:01.500 UTC (0 tweets, 0 tags): none");
    free(line);

    /* Many tags, many ties: the order is total and deterministic. */
    for (int i = 0; i < 500; i++) {
        char tags[64];
        snprintf(id, sizeof id, "%d", i);
        snprintf(tags, sizeof tags, "t%03d t%03d", i % 50, 100 + i % 7);
        rtp_hashtag_window_add(w, id, tags);
    }
    n = rtp_hashtag_window_top(w, top, 10);
    CHECK_INT(n, 10);
    CHECK_STR(top[0].tag, "t100");   /* 500 = 7*71 + 3: t100..t102 get 72, the others 71 */
    CHECK_INT(top[0].count, 72);
    CHECK_STR(top[1].tag, "t101");
    CHECK_STR(top[2].tag, "t102");
    CHECK_INT(top[2].count, 72);
    CHECK_STR(top[3].tag, "t103");
    CHECK_INT(top[3].count, 71);
    CHECK_STR(top[6].tag, "t106");
    CHECK_STR(top[7].tag, "t000");   /* then 50 tags of 10, by name */
    CHECK_INT(top[7].count, 10);
    CHECK_STR(top[9].tag, "t002");
    CHECK_INT(rtp_hashtag_window_stats(w)->tags, 57);
    rtp_hashtag_window_destroy(&w);
}

static void s_test_caps(void)
{
    /* 3 ids remembered: the 4th and 5th tweets are counted but not remembered, so a
     * resend of the 4th counts again; the first three still dedupe. */
    rtp_hashtag_window_t *w = rtp_hashtag_window_new(3, 2);
    rtp_hashtag_window_reset(w, 0, 1000);
    CHECK_INT(rtp_hashtag_window_add(w, "1", "a"), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "2", "b"), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "3", "a"), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "4", "a c"), 1);   /* c: past the 2-tag cap */
    CHECK_INT(rtp_hashtag_window_add(w, "4", "b"), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "1", "a"), 0);
    const rtp_hashtag_window_stats_t *st = rtp_hashtag_window_stats(w);
    CHECK_INT(st->tweets, 5);
    CHECK_INT(st->ids_overflow, 2);
    CHECK_INT(st->duplicates, 1);
    CHECK_INT(st->tags, 2);
    CHECK_INT(st->tags_dropped, 1);
    CHECK_INT(s_count_of(w, "a"), 3);
    CHECK_INT(s_count_of(w, "b"), 2);
    CHECK_INT(s_count_of(w, "c"), -1);
    /* The caps are per window. */
    rtp_hashtag_window_reset(w, 1000, 2000);
    CHECK_INT(rtp_hashtag_window_add(w, "4", "c"), 1);
    CHECK_INT(rtp_hashtag_window_add(w, "4", "c"), 0);
    CHECK_INT(s_count_of(w, "c"), 1);
    CHECK_INT(st->ids_overflow, 0);
    rtp_hashtag_window_destroy(&w);

    /* Growth past the first table size, and counts that stay exact. */
    w = rtp_hashtag_window_new(200000, 200000);
    st = rtp_hashtag_window_stats(w);
    rtp_hashtag_window_reset(w, 0, 1000);
    char id[16], tag[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "%d", i);
        snprintf(tag, sizeof tag, "T%d", i % 5000);
        rtp_hashtag_window_add(w, id, tag);
    }
    int dups = 0;
    for (int i = 0; i < 20000; i += 3) {
        snprintf(id, sizeof id, "%d", i);
        dups += rtp_hashtag_window_add(w, id, "again") == 0;
    }
    CHECK_INT(dups, 6667);
    CHECK_INT(st->duplicates, 6667);
    CHECK_INT(st->tweets, 20000);
    CHECK_INT(st->tags, 5000);
    CHECK_INT(s_count_of(w, "again"), -1);
    rtp_hashtag_count_t top[1];
    CHECK_INT(rtp_hashtag_window_top(w, top, 1), 1);
    CHECK_STR(top[0].tag, "t0");
    CHECK_INT(top[0].count, 4);
    rtp_hashtag_window_destroy(&w);
}

static void s_test_align(void)
{
    CHECK_INT(rtp_hashtag_window_align(0, 5000), 0);
    CHECK_INT(rtp_hashtag_window_align(4999, 5000), 0);
    CHECK_INT(rtp_hashtag_window_align(5000, 5000), 5000);
    CHECK_INT(rtp_hashtag_window_align(1479923403217, 5000), 1479923400000);
    CHECK_INT(rtp_hashtag_window_align(1479923403217, 1000), 1479923403000);
    CHECK_INT(rtp_hashtag_window_align(-1, 1000), -1000);
}

int main(void)
{
    s_test_counting();
    s_test_duplicates();
    s_test_top();
    s_test_caps();
    s_test_align();
    return CHECK_DONE();
}
