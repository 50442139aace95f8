/* batcher: the rtp-batcher actor.
 *
 * A DEALER connected to the aggregator receives JOINED and DEADLETTER messages; they
 * are written to Redis (common/store) in batches of batch_size, or batch_ms after
 * the first record of a batch arrived, whichever comes first, one round trip a batch,
 * with a one-line summary per batch on stdout.
 *
 * Credit (reactive pull): the batcher holds at most `window` = 2 x batch_size
 * records. It grants the aggregator credit for exactly the room it has (window -
 * held - credit already granted), when it connects and again after each batch is
 * written; the aggregator never sends more than it was granted, so the batcher never
 * holds more than its window. A (re)connection voids the old credit on both sides
 * (the aggregator sees a new peer), so the whole free window is granted again.
 *
 * When Redis is unreachable or answers an error, the batch is kept, no credit is
 * granted (so the aggregator holds records, and in turn pushes back on the broker),
 * and the write is retried with capped exponential backoff and jitter. Nothing is
 * dropped. s_write_batch() in batcher.c is the one place a batch leaves the batcher:
 * an on-disk journal slots in there (append when Redis fails, report the batch as
 * safe, replay the journal when Redis is back).
 *
 * Stopping (SIGINT/SIGTERM): the batcher keeps receiving and writing (still granting
 * credit) for up to drain_ms, or until the aggregator has been quiet for quiet_ms;
 * then it says DISCONNECT (the aggregator voids its credit), takes what was already
 * in flight, writes everything it holds (retrying for up to finish_timeout_ms) and
 * exits; records it could not write are reported as an error with their count.
 */
#ifndef RTP_BATCHER_H
#define RTP_BATCHER_H

typedef struct {
    const char *aggregator; /* DEALER connects here */
    const char *broker;     /* the broker's readers endpoint, for ACKs; NULL or "": none sent */
    const char *redis_url;
    int batch_size;
    int batch_ms;
    int retry_min_ms, retry_max_ms;
    int connect_timeout_ms, command_timeout_ms;
    int drain_ms, quiet_ms, finish_timeout_ms;
    int stats_ms;
    int write_delay_ms; /* test hook: sleep this long before each write (a slow Redis) */
    const char *latency_log; /* debug: append "received_us stored_us" per stored record here (NULL: off) */
} batcher_config_t;

/* Runs until SIGINT/SIGTERM (rtp_signals_install first), then stops as above.
 * Returns the exit status: 0, 1 when records were left unwritten, 2 on a bad URL. */
int batcher_run(const batcher_config_t *cfg);

#endif
