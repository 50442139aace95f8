/* store_rows: writes rows into a Redis through common/store.c itself, as the batcher
 * does (rtp_store_send / rtp_store_recv, RTP_STORE_PIPELINE batches in flight), so
 * that tests/bench/redis_rows.py measures what the real code costs Redis.
 *
 *   store_rows REDIS_URL ROWS_FILE [BATCH [script]]
 *
 * ROWS_FILE: 14 NUL-terminated strings per row, in the order of store.c's script
 * ARGV (id, user_id, text, censored, sentiment, engagement, created_at, lang,
 * hashtags, retweet_of, time_ms, name, screen_name, followers). Prints one line:
 * "rows N batches B fast F retries R stored S duplicates D seconds T". Exit 1 when
 * a write fails. With `script`, every batch goes through the batch script
 * (rtp_store_set_fast off): the same code without its fast path. */
#include "proto.h"
#include "redis_link.h"
#include "store.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FIELDS = 14 };

static rtp_msg_t *s_row(const char **s, uint64_t seq)
{
    rtp_msg_t *m = rtp_msg_new(RTP_MSG_JOINED);
    if (!m)
        return NULL;
    rtp_tweet_set(&m->tweet, s[0], s[1], s[11], s[12], s[2], s[8], s[6], s[7], s[9]);
    rtp_msg_set_str(&m->text, s[3]);
    rtp_msg_set_str(&m->origin, "bench");
    m->number = strtod(s[4], NULL);
    m->number2 = strtod(s[5], NULL);
    m->tweet.time_ms = strtoll(s[10], NULL, 10);
    m->tweet.followers = strtoll(s[13], NULL, 10);
    m->received_us = rtp_wall_us();
    m->seq = seq;
    return m;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: store_rows REDIS_URL ROWS_FILE [BATCH [script]]\n");
        return 2;
    }
    size_t batch = argc > 3 ? (size_t) atol(argv[3]) : 500, len;
    char *buf = rtp_read_file(argv[2], &len);
    if (!buf || batch == 0) {
        fprintf(stderr, "store_rows: cannot read %s\n", argv[2]);
        return 2;
    }
    size_t n = 0, cap = 1024;
    rtp_msg_t **rows = malloc(cap * sizeof *rows);
    for (char *p = buf; p < buf + len;) {
        const char *s[FIELDS];
        for (int k = 0; k < FIELDS; k++) {
            s[k] = p;
            p += strlen(p) + 1;
        }
        if (n == cap)
            rows = realloc(rows, (cap *= 2) * sizeof *rows);
        rows[n] = s_row(s, n);
        n++;
    }
    rtp_err_t err = {{0}};
    rtp_redis_link_t *link = rtp_redis_link_new(argv[1], 2000, 60000, &err);
    if (!link) {
        fprintf(stderr, "store_rows: %s\n", err.msg);
        return 2;
    }
    rtp_store_t *store = rtp_store_new(link);
    rtp_store_set_fast(store, !(argc > 4 && strcmp(argv[4], "script") == 0));
    uint64_t batches = 0, fast = 0, retries = 0, stored = 0, dups = 0;
    int failed = 0;
    int64_t t0 = rtp_mono_us();
    for (size_t at = 0; at < n || rtp_store_pending(store);) {
        if (at < n && rtp_store_pending(store) < RTP_STORE_PIPELINE) {
            size_t k = n - at < batch ? n - at : batch;
            if (rtp_store_send(store, rows + at, k, &err) != 0) {
                fprintf(stderr, "store_rows: send: %s\n", err.msg);
                failed = 1;
                break;
            }
            at += k;
            continue;
        }
        rtp_store_counts_t c;
        if (rtp_store_recv(store, 1, &c, &err) != 1) {
            fprintf(stderr, "store_rows: %s\n", err.msg);
            failed = 1;
            break;
        }
        batches++;
        fast += c.fast;
        retries += c.retries;
        stored += c.stored;
        dups += c.duplicates;
    }
    double secs = (double) (rtp_mono_us() - t0) / 1e6;
    printf("rows %zu batches %" PRIu64 " fast %" PRIu64 " retries %" PRIu64 " stored %" PRIu64
           " duplicates %" PRIu64 " seconds %.3f\n",
           n, batches, fast, retries, stored, dups, secs);
    rtp_store_destroy(&store);
    rtp_redis_link_destroy(&link);
    for (size_t i = 0; i < n; i++)
        rtp_msg_destroy(&rows[i]);
    free(rows);
    free(buf);
    return failed;
}
