/* batcher: the rtp-batcher actor.
 *
 * A DEALER connected to the aggregator receives JOINED and DEADLETTER messages; they
 * are written to Redis (common/store) in batches of batch_size, or batch_ms after
 * the first record of a batch arrived, whichever comes first, with summary lines on
 * stdout: one per batch, or at most --print-per-second lines a second that sum up the
 * batches since the last line (batch_print.h).
 *
 * Pipelined: while Redis runs one batch, the next one (once due) is already sent
 * (RTP_STORE_PIPELINE batches on their way at most), so Redis never waits for the
 * batcher between batches; the batcher keeps taking records meanwhile and completes
 * the batches in the order sent when their replies arrive. A batch's records are
 * acknowledged only when its reply says they are stored. When a batch fails, the
 * ones sent after it fail too, whatever Redis did with them (writing them again is
 * safe), so the failed batches go to the journal, or stay held, in their order.
 *
 * Credit (reactive pull): the batcher holds at most `window` = 4 x batch_size
 * records (room for the batch being written, the next one sent behind it or filling,
 * and two more on the way, so a Redis round trip never leaves the aggregator without
 * credit). It grants the aggregator credit for exactly the room it has (window -
 * held - credit already granted), when it connects and again after each batch is
 * written; the aggregator never sends more than it was granted, so the batcher never
 * holds more than its window. A (re)connection voids the old credit on both sides
 * (the aggregator sees a new peer), so the whole free window is granted again.
 *
 * A row Redis cannot take because a key of its own is in the way (common/store.h)
 * is a dead letter naming the key, logged one line a row and counted (refused=); the
 * rest of its batch is stored as usual.
 *
 * When Redis is unreachable or answers an error, or a global key of the wrong type
 * blocks every write (logged with the key's name), the batcher keeps taking records
 * into an on-disk journal (common/journal: append-only segment files, each record the
 * codec's bytes with a length and a CRC-32C, one fdatasync per appended batch), so the
 * pipeline keeps flowing while Redis is away:
 *   - the batch that failed is appended to the journal, and from then on every batch
 *     goes to the journal behind it (never straight to Redis while the journal holds
 *     records: the order is kept);
 *   - the journal is replayed from its front in batches through the same idempotent
 *     store write, first after retry_min_ms and then with capped exponential backoff
 *     and jitter while Redis keeps failing; as fast as Redis takes them once it answers;
 *   - a record is acknowledged (ACK to the broker) when it is written to Redis, from
 *     memory or from the journal, never when it is only journaled;
 *   - when the journal is drained its files are deleted and batches go straight to
 *     Redis again. A log line marks the switch to the journal and its drain.
 * The journal is bounded (journal_max_bytes): when it is full, the batch stays in
 * memory and no credit is granted (the aggregator holds records and pushes back on the
 * broker) until the replay frees a segment; memory and disk both stay bounded.
 * A batcher that dies (even SIGKILL) finds its journal again at start: a torn tail of
 * an append cut short is discarded (logged and counted; its records were never
 * acknowledged, so the readers resend them), the rest is replayed once Redis answers.
 * Records held in memory and not yet journaled are lost with the process, unacked;
 * the readers resend those. journal_max_bytes 0 turns the journal off: a failed batch
 * is then kept in memory, no credit is granted, and it is retried with backoff.
 *
 * Stopping (SIGINT/SIGTERM): the batcher keeps receiving and writing (still granting
 * credit) for up to drain_ms, or until the aggregator has been quiet for quiet_ms
 * (nothing received since the last record or the last credit we sent, whichever is
 * later: while our window is full and we write, the silence is ours);
 * then it says DISCONNECT (the aggregator voids its credit), takes what was already
 * in flight, writes everything it holds and replays the journal (retrying for up to
 * finish_timeout_ms), and exits. What Redis did not take by then stays in the journal
 * for the next start (a warning says how much and where); records that could be
 * neither written nor journaled are reported as an error with their count.
 */
#ifndef RTP_BATCHER_H
#define RTP_BATCHER_H

#include <stdint.h>

typedef struct {
    const char *aggregator; /* DEALER connects here */
    const char *broker;     /* the broker's readers endpoint, for ACKs; NULL or "": none sent */
    const char *redis_url;
    int redis_lanes; /* connections to Redis, a batch's rows split among them by user (store_lanes.h) */
    int batch_size;
    int batch_ms;
    int retry_min_ms, retry_max_ms;
    int connect_timeout_ms, command_timeout_ms;
    int drain_ms, quiet_ms, finish_timeout_ms;
    int stats_ms;
    int write_delay_ms;        /* test hook: sleep this long before each write (a slow Redis) */
    const char *latency_log;   /* debug: append "received_us stored_us" per stored record here (NULL: off) */
    const char *journal_dir;   /* NULL or "": $TMPDIR/rtp-batcher-journal-HOST-PORT-DB */
    int64_t journal_max_bytes; /* 0: no journal */
    double print_per_second;   /* summary lines on stdout at most this often (0: one per batch) */
    int metrics_port;          /* serve /metrics here (0: a free port); -1: off */
} batcher_config_t;

/* Runs until SIGINT/SIGTERM (rtp_signals_install first), then stops as above.
 * Returns the exit status: 0, 1 when records were lost (or the journal cannot be
 * opened), 2 on a bad URL. */
int batcher_run(const batcher_config_t *cfg);

#endif
