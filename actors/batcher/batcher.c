#include "batcher.h"

#include "batch_print.h"
#include "batcher_metrics.h"
#include "journal.h"
#include "curve.h"
#include "log.h"
#include "proto.h"
#include "redis_link.h"
#include "store_lanes.h"
#include "util.h"

#include <czmq.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TICK_MS 100
#define GRANT_RETRY_MS 10    /* a CREDIT that found no connection is tried again this soon */
#define FINISH_LINGER_MS 200 /* after DISCONNECT, how long messages already in flight may take */
#define WARN_BUDGET 20

typedef enum { RUNNING, DRAINING, FINISHING } phase_t;

typedef struct {
    const batcher_config_t *cfg;
    zsock_t *dealer, *monitor;
    zsock_t *acks; /* DEALER to the broker: which records are safe in Redis */
    rtp_redis_link_t *links[RTP_STORE_LANES_MAX]; /* one connection a lane; links[0] names Redis */
    rtp_store_lanes_t *store;
    /* held records, oldest first, at items[start .. start+count) (contiguous, so a
     * batch is a plain array); arrived_ms[i] is when items[i]'s time window started
     * (see s_window_start) */
    rtp_msg_t **items;
    int64_t *arrived_ms;
    double write_ms; /* moving average of a successful Redis write, ms */
    size_t start, count, cap, window, max_held;
    uint64_t outstanding; /* credit granted and not yet used */
    int connected, healthy;
    int failures; /* consecutive failed writes of the oldest batch */
    int64_t next_attempt_ms, failing_since_ms, next_grant_ms;
    phase_t phase;
    int64_t phase_until_ms, drain_started_ms, last_msg_ms, linger_until_ms;
    int64_t last_grant_ms; /* when credit was last sent: the aggregator's silence counts from then */
    int warnings;
    uint64_t rng;
    uint64_t batches, records, stored, duplicates, deadletters, deadletter_duplicates, failed_writes, malformed,
        unexpected, unsolicited, reconnects, acks_sent, received;
    uint64_t refused; /* rows Redis could not take for a key in the way: dead letters now */
    uint64_t fast, retries; /* batches by plain commands; reads done again (rtp_store_counts_t) */
    int64_t next_stats_ms;
    FILE *latency; /* --latency-log, or NULL */
    /* the journal (NULL when off); records go there while it holds any */
    rtp_journal_t *journal;
    char journal_dir[PATH_MAX];
    rtp_msg_t **replay;      /* batch_size messages read back from the journal */
    int journal_full;        /* the last append found no room; cleared when a replay frees some */
    int journal_errors;      /* consecutive failed appends */
    int64_t next_journal_ms; /* after a failed append, the next try */
    int64_t journal_since_ms;
    uint64_t consumed_at_switch;
    batch_print_t print;         /* the summary lines on stdout */
    batcher_metrics_t *metrics;  /* NULL unless --metrics-port */
    int64_t next_metrics_ms;     /* the next service of the metrics listener without a wake-up */
    int redis_up;                /* 0 after a failed write until one succeeds */
    /* batches sent to Redis and not yet answered (rtp_store_send): the oldest held
     * records, in_flight_records of them, oldest batch first */
    size_t in_flight, in_flight_records;
    size_t flight_n[RTP_STORE_PIPELINE];
    int64_t flight_t0_us[RTP_STORE_PIPELINE];
    uint64_t acked;              /* records named in the ACKs sent */
} batcher_t;

static uint64_t s_random(uint64_t *state)
{
    uint64_t x = *state; /* xorshift64*: enough for jitter */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void s_warn_input(batcher_t *b, const char *what, const char *detail)
{
    if (b->warnings++ < WARN_BUDGET)
        rtp_warn("%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

static void s_stats(batcher_t *b, const char *label)
{
    rtp_journal_stats_t j = {0};
    if (b->journal)
        rtp_journal_stats(b->journal, &j);
    rtp_info("%s held=%zu max_held=%zu window=%zu outstanding=%" PRIu64 " received=%" PRIu64
             " batches=%" PRIu64 " records=%" PRIu64 " new=%" PRIu64 " duplicates=%" PRIu64
             " deadletters=%" PRIu64 " deadletter_duplicates=%" PRIu64 " refused=%" PRIu64
             " fast=%" PRIu64 " retries=%" PRIu64 " failed_writes=%" PRIu64
             " malformed=%" PRIu64 " unexpected=%" PRIu64 " unsolicited=%" PRIu64
             " connected=%d healthy=%d journal_records=%" PRIu64
             " journal_bytes=%" PRIu64 " journal_segments=%" PRIu64 " journaled=%" PRIu64 " replayed=%" PRIu64
             " recovered=%" PRIu64 " torn=%" PRIu64 " torn_bytes=%" PRIu64 " corrupt=%" PRIu64
             " undecodable=%" PRIu64 " journal_full=%d fsyncs=%" PRIu64 " fsync_avg_us=%" PRIu64
             " fsync_max_us=%" PRIu64,
             label, b->count, b->max_held, b->window, b->outstanding, b->received, b->batches, b->records,
             b->stored, b->duplicates, b->deadletters, b->deadletter_duplicates, b->refused, b->fast, b->retries,
             b->failed_writes,
             b->malformed,
             b->unexpected, b->unsolicited, b->connected, b->healthy, j.records, j.bytes, j.segments, j.appended,
             j.consumed, j.recovered, j.torn, j.torn_bytes, j.corrupt, j.undecodable, b->journal_full, j.syncs,
             j.syncs ? j.sync_us_total / j.syncs : 0, j.sync_us_max);
}

/* --- holding records ---------------------------------------------------------- */

/* --batch-ms is the longest a record waits from its reader to Redis, not only in
 * here: its window starts when its reader received it (the time it has spent on the
 * way is taken off, read from the wall clocks, at most a quarter of the window so
 * that clocks of other hosts cannot make it much shorter), and the batch leaves early
 * by the time a Redis write has been taking (also at most a quarter). */
static int64_t s_window_start(const batcher_t *b, const rtp_msg_t *msg, int64_t now)
{
    int64_t cap = b->cfg->batch_ms / 4;
    int64_t transit = msg->received_us > 0 ? rtp_wall_ms() - msg->received_us / 1000 : 0;
    transit = transit < 0 ? 0 : transit > cap ? cap : transit;
    int64_t write = (int64_t) (b->write_ms + 0.5);
    write = write > cap ? cap : write;
    return now - transit - write;
}

static int s_hold(batcher_t *b, rtp_msg_t *msg, int64_t now)
{
    if (b->start + b->count == b->cap) {
        if (b->start > 0) {
            memmove(b->items, b->items + b->start, b->count * sizeof *b->items);
            memmove(b->arrived_ms, b->arrived_ms + b->start, b->count * sizeof *b->arrived_ms);
            b->start = 0;
        } else {
            /* more than the window: only when an aggregator ignores our credit, or
             * messages of a dead connection arrive after a new grant. Hold them anyway. */
            size_t cap = b->cap * 2;
            rtp_msg_t **items = realloc(b->items, cap * sizeof *items);
            if (items)
                b->items = items;
            int64_t *arrived = realloc(b->arrived_ms, cap * sizeof *arrived);
            if (arrived)
                b->arrived_ms = arrived;
            if (!items || !arrived)
                return -1;
            b->cap = cap;
        }
    }
    b->items[b->start + b->count] = msg;
    b->arrived_ms[b->start + b->count] = s_window_start(b, msg, now);
    b->count++;
    if (b->count > b->max_held)
        b->max_held = b->count;
    return 0;
}

static void s_release(batcher_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rtp_msg_destroy(&b->items[b->start + i]);
    b->start += n;
    b->count -= n;
    if (b->count == 0)
        b->start = 0;
}

/* --- credit ------------------------------------------------------------------- */

static void s_grant(batcher_t *b, int64_t now)
{
    if (!b->dealer || !b->connected || !b->healthy || b->phase == FINISHING || now < b->next_grant_ms)
        return;
    uint64_t used = b->count + b->outstanding;
    if (used >= b->window)
        return;
    rtp_msg_t *credit = rtp_msg_new(RTP_MSG_CREDIT);
    credit->credit = (uint32_t) (b->window - used);
    if (rtp_msg_send(credit, b->dealer, NULL, ZMQ_DONTWAIT) == 0) {
        b->outstanding += credit->credit;
        b->last_grant_ms = now;
    } else
        b->next_grant_ms = now + GRANT_RETRY_MS; /* the connection is not ready yet */
    rtp_msg_destroy(&credit);
}

static void s_read_dealer(batcher_t *b);
static int s_open(batcher_t *b);
static void s_close(batcher_t *b);

/* Connection events of the DEALER. A new connection starts with no credit on
 * either side (the aggregator sees a new peer). When the connection is lost, what
 * already arrived is taken, and the socket is replaced by a fresh one: so a CREDIT
 * queued for the dead connection cannot reach the next one and grant twice. */
static void s_read_monitor(batcher_t *b)
{
    if (!b->monitor)
        return;
    void *handle = zsock_resolve(b->monitor);
    while (1) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&frame) >= 2)
            memcpy(&event, zmq_msg_data(&frame), 2);
        int more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
        while (more) {
            zmq_msg_init(&frame);
            if (zmq_msg_recv(&frame, handle, 0) < 0)
                more = 0;
            else
                more = zmq_msg_more(&frame);
            zmq_msg_close(&frame);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            if (b->reconnects++)
                rtp_info("connected to the aggregator again");
            else
                rtp_info("connected to the aggregator at %s", b->cfg->aggregator);
            b->connected = 1;
            b->outstanding = 0;
            b->next_grant_ms = 0;
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            rtp_warn("lost the aggregator (%" PRIu64 " credits void)%s", b->outstanding,
                     b->phase == FINISHING ? "" : "; reconnecting");
            s_read_dealer(b);
            b->connected = 0;
            b->outstanding = 0;
            s_close(b);
            if (b->phase != FINISHING && s_open(b) != 0)
                rtp_error("cannot reconnect to the aggregator");
            return; /* the monitor socket was replaced */
        }
    }
}

/* --- writing ------------------------------------------------------------------ */

/* A successful write that began at t0_us: its time into the histogram and the
 * moving average. */
static void s_note_write_time(batcher_t *b, int64_t t0_us)
{
    double ms = (double) (rtp_mono_us() - t0_us) / 1000.0;
    batcher_metrics_write_time(b->metrics, ms / 1000.0);
    b->write_ms = b->write_ms > 0 ? b->write_ms + (ms - b->write_ms) / 8.0 : ms;
}

/* A batch written in one round trip: the journal's replay (held records are
 * pipelined: s_flush sends, s_complete takes the reply). 0 when it is written, -1
 * with the reason otherwise. */

static int s_write_batch(batcher_t *b, rtp_msg_t *const *msgs, size_t n, rtp_store_counts_t *counts,
                         rtp_err_t *err)
{
    int64_t t0 = rtp_mono_us();
    if (b->cfg->write_delay_ms > 0)
        usleep((useconds_t) b->cfg->write_delay_ms * 1000); /* test hook: a slow Redis */
    int rc = rtp_store_lanes_write(b->store, msgs, n, counts, err);
    b->redis_up = rc == 0;
    if (rc == 0)
        s_note_write_time(b, t0);
    return rc;
}

/* Tells the readers, through the broker, which of their records are now safe in
 * Redis: one ACK per origin with the seqs of that origin's records in the batch.
 * Every record ends here (a tweet or a dead letter), so every record is acked. */
static void s_send_acks(batcher_t *b, rtp_msg_t *const *msgs, size_t n)
{
    if (!b->acks || n == 0)
        return;
    uint64_t *seqs = malloc(n * sizeof *seqs);
    char *done = calloc(n, 1);
    if (!seqs || !done) {
        free(seqs);
        free(done);
        return; /* the readers resend after their timeout: nothing is lost */
    }
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *origin = msgs[i]->origin ? msgs[i]->origin : "";
        uint32_t count = 0;
        for (size_t j = i; j < n; j++) {
            const char *o = msgs[j]->origin ? msgs[j]->origin : "";
            if (!done[j] && strcmp(o, origin) == 0) {
                done[j] = 1;
                seqs[count++] = msgs[j]->seq;
            }
        }
        if (!*origin)
            continue;
        rtp_msg_t *ack = rtp_msg_new(RTP_MSG_ACK);
        rtp_msg_set_str(&ack->origin, origin);
        rtp_msg_set_acks(ack, seqs, count);
        if (rtp_msg_send(ack, b->acks, NULL, ZMQ_DONTWAIT) == 0) {
            b->acks_sent++;
            b->acked += count;
        }
        rtp_msg_destroy(&ack);
    }
    free(seqs);
    free(done);
}

/* The reader-to-Redis latency of every tweet of a batch just written: observed in
 * the metrics' histogram, and (--latency-log, for benchmarks) one line per record
 * with the wall clock when its reader received the event and when the write returned. */
static void s_note_latency(batcher_t *b, rtp_msg_t *const *msgs, size_t n)
{
    if (!b->latency && !b->metrics)
        return;
    int64_t now = rtp_wall_us();
    for (size_t i = 0; i < n; i++) {
        const rtp_msg_t *m = msgs[i];
        if (m->type != RTP_MSG_JOINED || m->received_us <= 0)
            continue;
        batcher_metrics_record_latency(b->metrics, (double) (now - m->received_us) / 1e6);
        if (b->latency)
            fprintf(b->latency, "%" PRId64 " %" PRId64 "\n", m->received_us, now);
    }
    if (b->latency)
        fflush(b->latency);
}

/* 1 while the journal holds records: every batch then goes there, behind them. */
static int s_journaling(const batcher_t *b)
{
    return b->journal && rtp_journal_records(b->journal) > 0;
}

/* Schedules the next Redis attempt with capped exponential backoff and jitter. */
static int64_t s_backoff(batcher_t *b, int64_t now)
{
    b->failed_writes++;
    if (b->failures++ == 0)
        b->failing_since_ms = now;
    int64_t delay = b->cfg->retry_min_ms;
    for (int i = 1; i < b->failures && delay < b->cfg->retry_max_ms; i++)
        delay *= 2;
    if (delay > b->cfg->retry_max_ms)
        delay = b->cfg->retry_max_ms;
    delay = delay / 2 + (int64_t) (s_random(&b->rng) % (uint64_t) (delay / 2 + 1)); /* jitter */
    b->next_attempt_ms = now + delay;
    return delay;
}

/* One line per row Redis could not take (a key in the way): the reason names the key. */
static void s_note_refused(batcher_t *b, rtp_msg_t *const *msgs, const rtp_store_counts_t *counts)
{
    const size_t *refused = rtp_store_lanes_refused(b->store);
    for (size_t k = 0; k < counts->refused; k++) {
        const rtp_msg_t *m = msgs[refused[k]];
        rtp_warn("refused row: %s; written to the deadletter list instead (from %s, seq %" PRIu64 ")",
                 m->text, m->origin && *m->origin ? m->origin : "-", m->seq);
    }
    b->refused += counts->refused;
}

/* A batch is in Redis: counts, the summary line, the ACKs. */
static void s_written(batcher_t *b, rtp_msg_t *const *msgs, size_t n, const rtp_store_counts_t *counts,
                      int64_t t0_us, int64_t now)
{
    double ms = (double) (rtp_mono_us() - t0_us) / 1000.0;
    s_note_refused(b, msgs, counts);
    s_note_latency(b, msgs, n);
    b->batches++;
    b->records += n;
    b->stored += counts->stored;
    b->duplicates += counts->duplicates;
    b->deadletters += counts->deadletters;
    b->deadletter_duplicates += counts->deadletter_duplicates;
    b->fast += counts->fast;
    b->retries += counts->retries;
    char line[BATCH_PRINT_LINE_MAX];
    if (b->print.interval_ms > 0) {
        batch_print_format_one(line, sizeof line, b->batches, n, counts->stored, counts->duplicates,
                               counts->deadletters, ms);
        rtp_debug("%s", line); /* every batch, at debug level, when stdout only gets samples */
    }
    if (batch_print_batch(&b->print, b->batches, n, counts->stored, counts->duplicates, counts->deadletters, ms,
                          now, line, sizeof line))
        printf("%s\n", line);
    if (b->failures)
        rtp_info("Redis is back: the batch went through after %d failed attempts over %" PRId64 " ms",
                 b->failures, now - b->failing_since_ms);
    b->failures = 0;
    b->next_attempt_ms = 0;
    b->journal_full = 0;
    s_send_acks(b, msgs, n);
}

/* Appends the n oldest held records to the journal and lets go of those it took.
 * Returns how many it took (0: full), or -1 when the append failed. */
static int s_to_journal(batcher_t *b, size_t n, int64_t now)
{
    rtp_msg_t **msgs = b->items + b->start;
    for (size_t i = 0; i < n; i++)
        if (msgs[i]->type == RTP_MSG_DEADLETTER && msgs[i]->received_us == 0)
            msgs[i]->received_us = rtp_wall_us(); /* as the store would stamp it: every replay
                                                     then writes the same entry */
    rtp_err_t err = {{0}};
    int k = rtp_journal_append(b->journal, msgs, n, &err);
    if (k < 0) {
        int64_t delay = b->cfg->retry_min_ms << (b->journal_errors < 6 ? b->journal_errors : 6);
        if (delay > b->cfg->retry_max_ms)
            delay = b->cfg->retry_max_ms;
        if (b->journal_errors++ < 3 || b->journal_errors % 20 == 0)
            rtp_error(
                "cannot append %zu records to the journal (attempt %d): %s; holding %zu records, no new "
                "credit, retrying in %" PRId64 " ms",
                n, b->journal_errors, err.msg, b->count, delay);
        b->next_journal_ms = now + delay;
        b->healthy = 0;
        return -1;
    }
    if (b->journal_errors)
        rtp_info("the journal takes records again after %d failed appends", b->journal_errors);
    b->journal_errors = 0;
    if ((size_t) k < n) {
        if (!b->journal_full)
            rtp_warn("journal full (%" PRIu64 " of %" PRIu64 " bytes, %" PRIu64
                     " records): holding %zu records in memory, no new credit until the replay frees room",
                     rtp_journal_bytes(b->journal), rtp_journal_max_bytes(b->journal),
                     rtp_journal_records(b->journal), b->count - (size_t) k);
        b->journal_full = 1;
        b->healthy = 0;
    } else
        b->healthy = 1;
    s_release(b, (size_t) k); /* safe on disk; acknowledged once it is in Redis */
    return k;
}

/* The n oldest held records could not be written (err): to the journal, or, without
 * one, they stay held and no credit is granted until a retry succeeds. */
static void s_write_failed(batcher_t *b, size_t n, const rtp_err_t *err_in, int64_t now)
{
    rtp_err_t err = *err_in;
    int journaling = s_journaling(b); /* a batch sent before this one failed already */
    int64_t delay = s_backoff(b, now);
    if (b->journal && s_to_journal(b, n, now) > 0) {
        if (journaling)
            return;
        if (rtp_store_lanes_blocking_key(b->store))
            rtp_error("Redis takes no write: %s. Journaling records to %s (bound %" PRIu64
                      " bytes); replaying them, in order, once the key is fixed (next try in %" PRId64 " ms)",
                      err.msg, b->journal_dir, rtp_journal_max_bytes(b->journal), delay);
        else
            rtp_warn("Redis is away (%s): journaling records to %s (bound %" PRIu64
                     " bytes); replaying them, in order, once it answers (first try in %" PRId64 " ms)",
                     err.msg, b->journal_dir, rtp_journal_max_bytes(b->journal), delay);
        b->journal_since_ms = now;
        rtp_journal_stats_t st;
        rtp_journal_stats(b->journal, &st);
        b->consumed_at_switch = st.consumed;
        return;
    }
    b->healthy = 0;
    rtp_warn("cannot write a batch of %zu to Redis (attempt %d): %s; holding %zu records, no new credit, "
             "retrying in %" PRId64 " ms",
             n, b->failures, err.msg, b->count, delay);
}

/* Completes the oldest batch in flight (waiting for its reply if wait): written, or
 * failed (journaled or held, as any failed write). 1 when it completed, 0 when its
 * reply has not arrived yet. Batches complete in the order they were sent, and every
 * batch behind a failed one fails too (rtp_store_recv), so the records stay in order:
 * the held ones in front, then the journal. */
static int s_complete(batcher_t *b, int wait)
{
    if (!b->in_flight)
        return 0;
    rtp_store_counts_t counts;
    rtp_err_t err = {{0}};
    int rc = rtp_store_lanes_recv(b->store, wait, &counts, &err);
    if (rc == 0)
        return 0;
    size_t n = b->flight_n[0];
    int64_t t0 = b->flight_t0_us[0];
    b->in_flight--;
    b->in_flight_records -= n;
    memmove(b->flight_n, b->flight_n + 1, b->in_flight * sizeof *b->flight_n);
    memmove(b->flight_t0_us, b->flight_t0_us + 1, b->in_flight * sizeof *b->flight_t0_us);
    int64_t now = rtp_mono_ms();
    b->redis_up = rc == 1;
    if (rc == 1) {
        s_note_write_time(b, t0);
        s_written(b, b->items + b->start, n, &counts, t0, now);
        b->healthy = 1;
        s_release(b, n);
    } else
        s_write_failed(b, n, &err, now);
    return 1;
}

/* Writes the n oldest held records not yet in flight: to the journal while it holds
 * records (order), else sends them to Redis (s_complete takes the reply). */
static void s_flush(batcher_t *b, size_t n)
{
    int64_t now = rtp_mono_ms();
    if (s_journaling(b)) {
        s_to_journal(b, n, now);
        return;
    }
    if (b->cfg->write_delay_ms > 0) {
        /* test hook: a slow Redis. The sleep stops the loop, so the replies already in
         * are taken first: their room is granted as soon as a slow Redis would allow */
        uint64_t failed = b->failed_writes;
        while (s_complete(b, 0))
            s_grant(b, rtp_mono_ms());
        if (b->failed_writes != failed)
            return; /* the batch before failed: s_due decides again (order) */
        usleep((useconds_t) b->cfg->write_delay_ms * 1000);
    }
    rtp_err_t err = {{0}};
    int64_t t0 = rtp_mono_us();
    if (rtp_store_lanes_send(b->store, b->items + b->start + b->in_flight_records, n, &err) == 0) {
        b->flight_n[b->in_flight] = n;
        b->flight_t0_us[b->in_flight] = t0;
        b->in_flight++;
        b->in_flight_records += n;
        return;
    }
    while (b->in_flight)
        s_complete(b, 1); /* they fail too now (order): this batch goes behind them */
    b->redis_up = 0;
    s_write_failed(b, n, &err, rtp_mono_ms());
}

/* Writes the oldest journaled records (up to a batch) to Redis, then acknowledges and
 * consumes them; on failure, backs off. */
static void s_replay(batcher_t *b)
{
    rtp_err_t err = {{0}};
    int64_t now = rtp_mono_ms();
    int n = rtp_journal_peek(b->journal, b->replay, (size_t) b->cfg->batch_size, &err);
    if (n < 0) {
        int64_t delay = s_backoff(b, now);
        rtp_error("cannot read the journal: %s; retrying in %" PRId64 " ms", err.msg, delay);
        return;
    }
    if (n > 0) {
        rtp_store_counts_t counts;
        int64_t t0 = rtp_mono_us();
        int rc = s_write_batch(b, b->replay, (size_t) n, &counts, &err);
        now = rtp_mono_ms();
        if (rc == 0) {
            s_written(b, b->replay, (size_t) n, &counts, t0, now);
            if (rtp_journal_consume(b->journal, (size_t) n, &err) != 0)
                rtp_error("cannot consume journal records: %s", err.msg);
            b->journal_full = 0; /* a segment may have gone: the next append tries again */
        } else {
            int64_t delay = s_backoff(b, now);
            rtp_warn("cannot replay the journal to Redis (attempt %d): %s; %" PRIu64 " records (%" PRIu64
                     " bytes) journaled, %zu held; retrying in %" PRId64 " ms",
                     b->failures, err.msg, rtp_journal_records(b->journal), rtp_journal_bytes(b->journal),
                     b->count, delay);
        }
        for (int i = 0; i < n; i++)
            rtp_msg_destroy(&b->replay[i]);
    }
    if (!s_journaling(b)) {
        rtp_journal_stats_t st;
        rtp_journal_stats(b->journal, &st);
        rtp_info("journal drained: %" PRIu64 " records replayed to Redis in the %" PRId64
                 " ms since records went to the journal; writing straight to Redis again",
                 st.consumed - b->consumed_at_switch, now - b->journal_since_ms);
        b->journal_full = 0;
        b->healthy = 1;
    }
}

/* 1 when the journal's front is due for a replay. */
static int s_replay_due(const batcher_t *b, int64_t now)
{
    return s_journaling(b) && !b->in_flight && now >= b->next_attempt_ms;
}

/* When the oldest batch in flight has waited for its reply as long as a command may
 * take (the link's command timeout): then it is waited for, and fails if it times
 * out as a plain round trip would. */
static int64_t s_overdue_at(const batcher_t *b)
{
    if (!b->in_flight)
        return INT64_MAX;
    int timeout = b->cfg->command_timeout_ms > 0 ? b->cfg->command_timeout_ms : 5000;
    return b->flight_t0_us[0] / 1000 + timeout;
}

/* Before when held records may not leave: the next Redis attempt after a failure, or,
 * while the journal holds records, the next append (never while it is full). */
static int64_t s_gate(const batcher_t *b)
{
    if (!s_journaling(b))
        return b->next_attempt_ms;
    return b->journal_full ? INT64_MAX : b->next_journal_ms;
}

/* When the oldest held records are due to leave by time (INT64_MAX: not by time). */
static int64_t s_due_at(const batcher_t *b)
{
    if (b->count == b->in_flight_records || b->in_flight == RTP_STORE_PIPELINE ||
        (b->in_flight && s_journaling(b)))
        return INT64_MAX;
    int64_t at = b->arrived_ms[b->start + b->in_flight_records] + b->cfg->batch_ms, gate = s_gate(b);
    return gate > at ? gate : at;
}

/* How many held records are due to leave now (0: none): a batch for Redis, or all
 * of them for the journal. */
static size_t s_due(const batcher_t *b, int64_t now)
{
    size_t held = b->count - b->in_flight_records; /* not yet on their way */
    if (held == 0 || now < s_gate(b) || b->in_flight == RTP_STORE_PIPELINE ||
        (b->in_flight && s_journaling(b)))
        return 0;
    size_t n = held < (size_t) b->cfg->batch_size ? held : (size_t) b->cfg->batch_size;
    if (s_journaling(b))
        n = held; /* one append, one fdatasync, for all of them */
    if (held >= (size_t) b->cfg->batch_size || b->phase != RUNNING ||
        now >= b->arrived_ms[b->start + b->in_flight_records] + b->cfg->batch_ms)
        return n;
    return 0;
}

/* --- input -------------------------------------------------------------------- */

/* One JOINED or DEADLETTER from the aggregator: held for its batch. */
static void s_on_aggregator_msg(batcher_t *b, rtp_msg_t *msg, int64_t now)
{
    if (msg->type != RTP_MSG_JOINED && msg->type != RTP_MSG_DEADLETTER) {
        b->unexpected++;
        s_warn_input(b, "dropped an unexpected message from the aggregator", rtp_msg_type_name(msg->type));
        rtp_msg_destroy(&msg);
        return;
    }
    b->last_msg_ms = now;
    b->received++;
    if (b->outstanding)
        b->outstanding--;
    else
        b->unsolicited++;
    if (s_hold(b, msg, now) != 0) {
        rtp_error("out of memory: cannot hold a %s message (key %" PRIu64 ")", rtp_msg_type_name(msg->type),
                  msg->key);
        rtp_msg_destroy(&msg);
    }
}

static void s_read_dealer(batcher_t *b)
{
    if (!b->dealer)
        return;
    int64_t now = rtp_mono_ms();
    for (size_t i = 0; i < b->window + 64;) {
        rtp_err_t err = {{0}};
        rtp_msg_t *bundle[RTP_BUNDLE_MAX];
        /* the aggregator sends what we credited in bundles */
        size_t n = rtp_msg_recv_bundle(b->dealer, NULL, ZMQ_DONTWAIT, bundle, RTP_BUNDLE_MAX, &err);
        if (!n) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            b->malformed++;
            s_warn_input(b, "dropped a malformed message from the aggregator", err.msg);
            i++;
            continue;
        }
        i += n;
        for (size_t k = 0; k < n; k++)
            s_on_aggregator_msg(b, bundle[k], now);
    }
}

/* --- stopping ----------------------------------------------------------------- */

static void s_phases(batcher_t *b, int64_t now)
{
    if (b->phase == RUNNING && rtp_stop_requested()) {
        b->phase = DRAINING;
        b->drain_started_ms = now;
        b->phase_until_ms = now + b->cfg->drain_ms;
        rtp_info("stopping: taking what the aggregator still sends (up to %d ms), holding %zu",
                 b->cfg->drain_ms, b->count);
    }
    if (b->phase == DRAINING) {
        /* quiet: nothing came since the later of the last record and the last
         * credit, so that our own writes (no credit while the window is full) never
         * count as the aggregator's silence */
        int64_t quiet_from = b->last_msg_ms > b->drain_started_ms ? b->last_msg_ms : b->drain_started_ms;
        if (b->last_grant_ms > quiet_from)
            quiet_from = b->last_grant_ms;
        if (now >= b->phase_until_ms || now - quiet_from >= b->cfg->quiet_ms) {
            b->phase = FINISHING;
            b->phase_until_ms = now + b->cfg->finish_timeout_ms;
            b->linger_until_ms = now + FINISH_LINGER_MS;
            if (b->dealer) {
                rtp_msg_t *bye = rtp_msg_new(RTP_MSG_DISCONNECT);
                rtp_msg_send(bye, b->dealer, NULL, ZMQ_DONTWAIT);
                rtp_msg_destroy(&bye);
            }
            rtp_info("stopping: no more credit; writing the %zu records held", b->count);
        }
    }
}

/* A DEALER connected to the aggregator, and the PAIR that hears its connection
 * events (set up before connecting, so no event is missed). 0 or -1. */
static int s_open(batcher_t *b)
{
    static int generation = 0;
    b->dealer = zsock_new(ZMQ_DEALER);
    b->monitor = zsock_new(ZMQ_PAIR);
    if (!b->dealer || !b->monitor) {
        rtp_error("cannot create sockets");
        return -1;
    }
    /* Not ZMQ_IMMEDIATE: with it, messages received but not yet read are dropped
     * when the connection goes. A CREDIT sent before the handshake just waits. */
    zsock_set_linger(b->dealer, 0);
    zsock_set_rcvhwm(b->dealer, 0); /* bounded by our credit instead */
    char monitor_ep[80];
    snprintf(monitor_ep, sizeof monitor_ep, "inproc://rtp-batcher-monitor-%d-%d", (int) getpid(),
             generation++);
    if (zmq_socket_monitor(zsock_resolve(b->dealer), monitor_ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        zsock_connect(b->monitor, "%s", monitor_ep) != 0) {
        rtp_error("cannot monitor the aggregator connection: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    rtp_err_t err;
    if (rtp_curve_client(b->dealer, &err) != 0) {
        rtp_error("%s", err.msg);
        return -1;
    }
    if (zsock_connect(b->dealer, "%s", b->cfg->aggregator) != 0) {
        rtp_error("cannot connect to the aggregator at %s: %s", b->cfg->aggregator,
                  zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static void s_close(batcher_t *b)
{
    if (b->dealer)
        zmq_socket_monitor(zsock_resolve(b->dealer), NULL, 0);
    zsock_destroy(&b->monitor);
    zsock_destroy(&b->dealer);
}

/* The default journal folder: one per Redis target, so a journal left behind is only
 * ever replayed into the database it was meant for. */
static void s_default_journal_dir(batcher_t *b)
{
    const rtp_redis_url_t *url = rtp_redis_link_url(b->links[0]);
    const char *tmp = getenv("TMPDIR");
    char host[sizeof url->host];
    size_t i = 0;
    for (; url->host[i] && i + 1 < sizeof host; i++) {
        char c = url->host[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-';
        host[i] = plain ? c : '_';
    }
    host[i] = 0;
    snprintf(b->journal_dir, sizeof b->journal_dir, "%s/rtp-batcher-journal-%s-%d-%d",
             tmp && *tmp ? tmp : "/tmp", host, url->port, url->db);
}

static int s_open_journal(batcher_t *b)
{
    if (b->cfg->journal_dir && *b->cfg->journal_dir)
        snprintf(b->journal_dir, sizeof b->journal_dir, "%s", b->cfg->journal_dir);
    else
        s_default_journal_dir(b);
    rtp_err_t err = {{0}};
    b->journal = rtp_journal_new(b->journal_dir, (uint64_t) b->cfg->journal_max_bytes, 0, &err);
    b->replay = calloc((size_t) b->cfg->batch_size, sizeof *b->replay);
    if (!b->journal || !b->replay) {
        rtp_error("cannot open the journal: %s (--journal-max-bytes 0 runs without one)",
                  b->journal ? "out of memory" : err.msg);
        return -1;
    }
    rtp_journal_stats_t st;
    rtp_journal_stats(b->journal, &st);
    if (st.torn)
        rtp_warn("journal %s: discarded %" PRIu64 " torn bytes at its end (an append cut short by a crash; "
                 "those records were never acknowledged)",
                 b->journal_dir, st.torn_bytes);
    if (st.corrupt)
        rtp_error("journal %s: %" PRIu64 " damaged stretches (%" PRIu64 " bytes) discarded", b->journal_dir,
                  st.corrupt, st.corrupt_bytes);
    if (st.records) {
        rtp_warn(
            "journal %s holds %" PRIu64 " records (%" PRIu64 " bytes in %" PRIu64
            " segments) from an earlier run: replaying them once Redis answers; new records go behind them",
            b->journal_dir, st.records, st.bytes, st.segments);
        b->journal_since_ms = rtp_mono_ms();
    }
    return 0;
}

static int s_setup(batcher_t *b)
{
    rtp_err_t err = {{0}};
    int lanes = b->cfg->redis_lanes < 1 ? 1 : b->cfg->redis_lanes;
    for (int k = 0; k < lanes; k++) {
        b->links[k] = rtp_redis_link_new(b->cfg->redis_url, b->cfg->connect_timeout_ms,
                                         b->cfg->command_timeout_ms, &err);
        if (!b->links[k]) {
            rtp_error("bad --redis-url: %s", err.msg);
            return 2;
        }
    }
    b->store = rtp_store_lanes_new(b->links, (size_t) lanes);
    b->window = (size_t) b->cfg->batch_size * 4; /* see batcher.h: credit */
    b->cap = b->window;
    b->items = calloc(b->cap, sizeof *b->items);
    b->arrived_ms = calloc(b->cap, sizeof *b->arrived_ms);
    if (!b->store || !b->items || !b->arrived_ms) {
        rtp_error("out of memory");
        return 1;
    }
    if (b->cfg->latency_log && !(b->latency = fopen(b->cfg->latency_log, "a"))) {
        rtp_error("cannot open --latency-log %s: %s", b->cfg->latency_log, strerror(errno));
        return 2;
    }
    if (b->cfg->journal_max_bytes > 0 && s_open_journal(b) != 0)
        return 1;
    batch_print_init(&b->print, b->cfg->print_per_second);
    batcher_view_t view = {&b->received,    &b->batches,     &b->records,
                           &b->stored,      &b->duplicates,  &b->deadletters,
                           &b->deadletter_duplicates,        &b->refused,
                           &b->fast,        &b->retries,     &b->failed_writes,
                           &b->acks_sent,   &b->acked,       &b->count,
                           &b->redis_up,    &b->journal};
    b->metrics = batcher_metrics_new(b->cfg->metrics_port, &view);
    if (s_open(b) != 0)
        return 1;
    if (b->cfg->broker && *b->cfg->broker) {
        b->acks = zsock_new(ZMQ_DEALER);
        zsock_set_linger(b->acks, 2000);
        zsock_set_sndhwm(b->acks, 100000);
        rtp_err_t curve_err;
        if (b->acks && rtp_curve_client(b->acks, &curve_err) != 0) {
            rtp_error("%s", curve_err.msg);
            return 1;
        }
        if (!b->acks || zsock_connect(b->acks, "%s", b->cfg->broker) != 0) {
            rtp_error("cannot connect to the broker at %s for acknowledgements", b->cfg->broker);
            return 1;
        }
    }
    rtp_info(
        "taking records from %s; writing to %s (%d connections) in batches of %d or every %d ms "
        "(window %zu); journal %s%s",
        b->cfg->aggregator, rtp_redis_link_display(b->links[0]), lanes, b->cfg->batch_size, b->cfg->batch_ms,
        b->window, b->journal ? b->journal_dir : "off",
        b->cfg->write_delay_ms ? " [test hook: slow writes]" : "");
    return 0;
}

static void s_teardown(batcher_t *b)
{
    if (b->items)
        s_release(b, b->count);
    free(b->items);
    free(b->arrived_ms);
    s_close(b);
    zsock_destroy(&b->acks);
    batcher_metrics_destroy(&b->metrics); /* before the journal its gauges read */
    rtp_journal_destroy(&b->journal);
    free(b->replay);
    rtp_store_lanes_destroy(&b->store);
    for (int k = 0; k < RTP_STORE_LANES_MAX; k++)
        rtp_redis_link_destroy(&b->links[k]);
    if (b->latency)
        fclose(b->latency);
    b->latency = NULL;
}

int batcher_run(const batcher_config_t *cfg)
{
    batcher_t b;
    memset(&b, 0, sizeof b);
    b.cfg = cfg;
    b.healthy = 1;
    b.redis_up = 1;
    b.rng = (uint64_t) rtp_wall_us() ^ ((uint64_t) getpid() << 32) ^ 0x9E3779B97F4A7C15ULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int status = s_setup(&b);
    if (status != 0) {
        s_teardown(&b);
        return status;
    }
    b.next_stats_ms = rtp_mono_ms() + cfg->stats_ms;
    while (1) {
        int64_t now = rtp_mono_ms();
        s_phases(&b, now);
        s_read_monitor(&b);
        s_grant(&b, now);
        if (s_replay_due(&b, now)) {
            s_replay(&b);
            s_grant(&b, rtp_mono_ms());
        }
        size_t due = s_due(&b, rtp_mono_ms());
        if (due)
            s_flush(&b, due);
        /* the replies that are in: without waiting, unless the oldest is overdue (the
         * socket's timeout then fails it) */
        int completed = 0;
        while (s_complete(&b, b.in_flight && rtp_mono_ms() >= s_overdue_at(&b)))
            completed = 1;
        if (due || completed)
            s_grant(&b, rtp_mono_ms());
        now = rtp_mono_ms();
        if (b.phase == FINISHING) {
            int journaled = s_journaling(&b);
            if (b.count == 0 && !journaled && now >= b.linger_until_ms)
                break;
            if (now >= b.phase_until_ms) {
                while (b.in_flight)
                    s_complete(&b, 1);
                if (b.count) {
                    rtp_error(
                        "stopping: %zu records could be neither written to Redis nor journaled within %d "
                        "ms: lost",
                        b.count, cfg->finish_timeout_ms);
                    status = 1;
                }
                if (journaled)
                    rtp_warn(
                        "stopping with %" PRIu64 " records (%" PRIu64
                        " bytes) in the journal %s: Redis did not "
                        "take them within %d ms; they are replayed when a batcher starts on this journal",
                        rtp_journal_records(b.journal), rtp_journal_bytes(b.journal), b.journal_dir,
                        cfg->finish_timeout_ms);
                break;
            }
        }
        char line[BATCH_PRINT_LINE_MAX];
        if (batch_print_due(&b.print, now, line, sizeof line))
            printf("%s\n", line);
        if (now >= b.next_stats_ms) {
            s_stats(&b, "stats");
            b.warnings = 0;
            b.next_stats_ms = now + cfg->stats_ms;
        }
        if (s_due(&b, now))
            continue; /* another batch is ready: write it before sleeping */

        int64_t wake = now + MAX_TICK_MS;
        if (b.next_stats_ms < wake)
            wake = b.next_stats_ms;
        int64_t at = s_due_at(&b);
        if (at < wake)
            wake = at;
        if (s_journaling(&b) && b.next_attempt_ms < wake)
            wake = b.next_attempt_ms; /* the replay: now, while Redis takes it */
        if (b.print.batches && b.print.next_ms < wake)
            wake = b.print.next_ms; /* the line of the batches held back */
        if (b.next_grant_ms > now && b.next_grant_ms < wake)
            wake = b.next_grant_ms;
        if (b.phase != RUNNING && b.phase_until_ms < wake)
            wake = b.phase_until_ms;
        if (b.phase == FINISHING && b.linger_until_ms > now && b.linger_until_ms < wake)
            wake = b.linger_until_ms;
        if (b.in_flight && s_overdue_at(&b) < wake)
            wake = s_overdue_at(&b);
        zmq_pollitem_t items[2 + RTP_STORE_LANES_MAX + RTP_METRICS_POLL_MAX] = {
            {b.dealer ? zsock_resolve(b.dealer) : NULL, 0, ZMQ_POLLIN, 0},
            {b.monitor ? zsock_resolve(b.monitor) : NULL, 0, ZMQ_POLLIN, 0}};
        int first_redis = b.dealer ? 2 : 0, first_metrics = first_redis;
        int redis_fds[RTP_STORE_LANES_MAX];
        size_t n_redis = rtp_store_lanes_fds(b.store, redis_fds, RTP_STORE_LANES_MAX);
        for (size_t k = 0; k < n_redis; k++) /* the replies of the batches in flight */
            items[first_metrics++] = (zmq_pollitem_t) {NULL, redis_fds[k], ZMQ_POLLIN, 0};
        rtp_metrics_t *metrics = batcher_metrics_registry(b.metrics);
        int n_items = first_metrics + rtp_metrics_poll_items(metrics, items + first_metrics, RTP_METRICS_POLL_MAX);
        int rc = zmq_poll(items, n_items, wake > now ? (long) (wake - now) : 0);
        if (rc < 0 && errno != EINTR) {
            rtp_error("poll: %s", zmq_strerror(errno));
            status = 1;
            break;
        }
        int scraped = 0;
        int replies = 0;
        for (int i = first_redis; rc > 0 && i < first_metrics; i++)
            replies |= items[i].revents != 0;
        if (replies)
            while (s_complete(&b, 0))
                s_grant(&b, rtp_mono_ms());
        for (int i = first_metrics; rc > 0 && i < n_items; i++)
            scraped |= items[i].revents != 0;
        /* a scrape is answered when its socket is ready; once a tick, clients past
         * their deadline are dropped */
        if (metrics && (scraped || rtp_mono_ms() >= b.next_metrics_ms)) {
            rtp_metrics_service(metrics);
            b.next_metrics_ms = rtp_mono_ms() + MAX_TICK_MS;
        }
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
            s_read_monitor(&b);
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            s_read_dealer(&b);
    }
    char line[BATCH_PRINT_LINE_MAX];
    if (batch_print_flush(&b.print, line, sizeof line))
        printf("%s\n", line);
    s_stats(&b, "final stats");
    s_teardown(&b);
    return status;
}
