#include "forward.h"

#include "curve.h"
#include "log.h"
#include "proto.h"
#include "spool.h"
#include "sse.h"
#include "tweet.h"
#include "util.h"
#include "window.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RAW_MAX 4096        /* bytes of a bad event's data kept in its EVENT */
#define LOG_BURST 5         /* bad-event lines per second before suppressing */
#define RECV_BATCH 1000     /* incoming messages read per service call */
#define RESEND_LOG_MS 1000  /* at most one line about resends this often */
#define FULL_LOG_MS 10000   /* at most one line about a full window this often */
#define BLOCKED_RETRY_MS 10 /* ZeroMQ refused a send: its descriptor signals room, this is the fallback */
#define DRAIN_POLL_MS 100   /* longest sleep while draining */
#define SEND_BUNDLE 32      /* records a message to the broker at most (one bundle) */

struct reader_forward_t {
    reader_stats_t *stats;
    char *name;
    char *broker;
    int linger_ms;
    zsock_t *sock;
    rtp_sse_parser_t *parser;

    /* The message being built: reused for every EVENT, encoded at once into
     * body, so with acknowledgement off the hot path allocates nothing but the
     * decoded record. */
    rtp_msg_t *msg;
    int64_t received_us; /* of the event being forwarded */
    uint64_t next_seq;
    uint8_t *body;
    size_t body_cap;

    /* Records not handed to ZeroMQ yet (ZeroMQ or the window could not take
     * them), oldest first (a ring). */
    reader_record_t **outbox;
    size_t out_head, out_count, out_cap;
    uint8_t *pack; /* a packed bundle's body being built, reused */
    size_t pack_cap;
    int blocked; /* the last send was refused by ZeroMQ: retry on a short tick */

    /* Records sent and not acknowledged; NULL when acknowledgement is off. */
    reader_window_t *window;
    size_t window_cap;    /* its capacity: records sent and not acknowledged at most */
    int closing; /* at exit: the window no longer holds records back */

    /* Every record in the outbox or the window is in the spool (NULL: none). */
    reader_spool_t *spool;
    uint64_t live_bytes; /* spool bytes of the records in the outbox and the window */
    int64_t sync_ms, next_sync_ms;
    uint64_t spool_max;
    int spool_failed; /* the last spool write failed: nothing is sent until one succeeds */
    int64_t spool_log_ms;
    pid_t parent; /* at start: a drain ends when the launcher is gone (it cannot forward ACKs then) */

    /* Stream bytes taken but not parsed yet (parsing stopped at a line end). */
    char *held;
    size_t held_pos, held_len, held_cap;
    int end_pending; /* the connection ended behind the held bytes */

    /* Rate limit of the bad-event log lines */
    int64_t log_window_ms;
    int log_lines;
    uint64_t log_suppressed;
    /* ... and of the notes on resends and a full window */
    int64_t resend_log_ms;
    uint64_t resent_unlogged;
    int64_t full_log_ms;
};

/* Starts a new one-second window of bad-event lines once the last one is over,
 * first saying how many lines it suppressed. */
static void s_log_tick(reader_forward_t *self)
{
    int64_t now = rtp_mono_ms();
    if (now - self->log_window_ms < 1000)
        return;
    if (self->log_suppressed)
        rtp_warn("%llu more bad-event lines suppressed", (unsigned long long) self->log_suppressed);
    self->log_window_ms = now;
    self->log_lines = 0;
    self->log_suppressed = 0;
}

/* 1 if one more bad-event line may be logged in this window. */
static int s_may_log(reader_forward_t *self)
{
    s_log_tick(self);
    if (self->log_lines < LOG_BURST) {
        self->log_lines++;
        return 1;
    }
    self->log_suppressed++;
    return 0;
}

/* Says how many records were resent since the last such line, at most once per
 * RESEND_LOG_MS (or now, when forced). */
static void s_resend_log(reader_forward_t *self, int force)
{
    int64_t now = rtp_mono_ms();
    if (!self->resent_unlogged || (!force && now - self->resend_log_ms < RESEND_LOG_MS))
        return;
    rtp_warn("resent %llu records not acknowledged in time (%zu in the window, %llu resent in all)",
             (unsigned long long) self->resent_unlogged, reader_window_size(self->window),
             (unsigned long long) self->stats->resent);
    self->resend_log_ms = now;
    self->resent_unlogged = 0;
}

static int s_window_full(const reader_forward_t *self)
{
    return self->window && !self->closing && reader_window_full(self->window);
}

/* How many more records the window takes (SIZE_MAX: no limit now). */
static size_t s_window_room(const reader_forward_t *self)
{
    if (!self->window || self->closing)
        return SIZE_MAX;
    size_t size = reader_window_size(self->window);
    return size < self->window_cap ? self->window_cap - size : 0;
}

/* 1 while the stream's bytes may be parsed: fewer than a bundle wait to go out, and
 * the window has room for them and one more. */
static int s_may_parse(const reader_forward_t *self)
{
    if (self->closing)
        return 1;
    if (self->spool && (self->spool_failed || reader_spool_full(self->spool)))
        return 0;
    return self->out_count < SEND_BUNDLE && self->out_count < s_window_room(self);
}

/* At most one line about the spool every FULL_LOG_MS. */
static int s_spool_may_log(reader_forward_t *self)
{
    int64_t now = rtp_mono_ms();
    if (self->spool_log_ms && now - self->spool_log_ms < FULL_LOG_MS)
        return 0;
    self->spool_log_ms = now;
    return 1;
}

/* Writes the spool's buffered entries: before any record is sent, so that nothing
 * reaches the broker that a SIGKILL right after could lose. 0, or -1 (logged). */
static int s_spool_write(reader_forward_t *self)
{
    if (!self->spool)
        return 0;
    rtp_err_t err = {{0}};
    if (reader_spool_write(self->spool, &err) == 0) {
        if (self->spool_failed)
            rtp_info("the spool is written again: taking events again");
        self->spool_failed = 0;
        return 0;
    }
    if (!self->spool_failed || s_spool_may_log(self))
        rtp_error("%s; the stream waits until the spool can be written (events taken so far are held)",
                  err.msg);
    self->spool_failed = 1;
    return -1;
}

static int s_outbox_push(reader_forward_t *self, reader_record_t *record)
{
    if (self->out_count == self->out_cap) {
        size_t cap = self->out_cap ? self->out_cap * 2 : 16;
        reader_record_t **grown = malloc(cap * sizeof *grown);
        if (!grown)
            return -1;
        for (size_t i = 0; i < self->out_count; i++)
            grown[i] = self->outbox[(self->out_head + i) % self->out_cap];
        free(self->outbox);
        self->outbox = grown;
        self->out_cap = cap;
        self->out_head = 0;
    }
    self->outbox[(self->out_head + self->out_count) % self->out_cap] = record;
    self->out_count++;
    return 0;
}

/* Queues one encoded EVENT's two frames in ZeroMQ: `first` for the first pair of a
 * message (never blocks: ZeroMQ then takes all of the message or none of it), `more`
 * when further pairs of the same message (a bundle) follow. 0, or -1 with errno. */
static int s_send_pair(void *handle, const uint8_t *hdr, const uint8_t *body, size_t body_len, int first, int more)
{
    if (zmq_send(handle, hdr, 4, (first ? ZMQ_DONTWAIT : 0) | ZMQ_SNDMORE) < 0)
        return -1;
    return zmq_send(handle, body_len ? (const void *) body : (const void *) "", body_len, more ? ZMQ_SNDMORE : 0) < 0
               ? -1
               : 0;
}

/* Sends the outbox's first n (> 1) records as one packed bundle (proto.h) without
 * blocking; 0, or -1 with errno. */
static int s_send_packed(reader_forward_t *self, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const reader_record_t *record = self->outbox[(self->out_head + i) % self->out_cap];
        if (rtp_packed_append(&self->pack, &self->pack_cap, &len, record->data, record->data + 4, record->len - 4) !=
            0) {
            errno = ENOMEM;
            return -1;
        }
    }
    uint8_t hdr[4];
    rtp_packed_header(hdr);
    return s_send_pair(zsock_resolve(self->sock), hdr, self->pack, len, 1, 0);
}

/* Sends one encoded EVENT as a message of its own without blocking; 0, or -1 with errno. */
static int s_send(reader_forward_t *self, const uint8_t *hdr, const uint8_t *body, size_t body_len)
{
    if (s_send_pair(zsock_resolve(self->sock), hdr, body, body_len, 1, 0) != 0)
        return -1;
    self->blocked = 0;
    return 0;
}

static int s_send_record(reader_forward_t *self, const reader_record_t *record)
{
    return s_send(self, record->data, record->data + 4, record->len - 4);
}

/* ZeroMQ did not take the record of seq: it stays where it is, to retry. */
static void s_refused(reader_forward_t *self, uint64_t seq)
{
    self->blocked = 1;
    if (errno != EAGAIN && errno != EINTR && s_may_log(self))
        rtp_error("sending EVENT seq %llu: %s; keeping it to retry", (unsigned long long) seq,
                  zmq_strerror(errno));
}

/* Moves the outbox into ZeroMQ, oldest first, up to SEND_BUNDLE records a message
 * (one bundle: the broker takes them in one wake-up), while ZeroMQ takes them and
 * the window has room; a record sent enters the window. 0 when the outbox is empty. */
static int s_outbox_flush(reader_forward_t *self)
{
    if (self->out_count > 0 && s_spool_write(self) != 0 && !self->closing)
        return -1;
    while (self->out_count > 0) {
        size_t n = self->out_count < SEND_BUNDLE ? self->out_count : SEND_BUNDLE;
        size_t room = s_window_room(self);
        if (room == 0)
            return -1;
        if (n > room)
            n = room;
        int failed;
        if (n == 1) {
            const reader_record_t *record = self->outbox[self->out_head];
            failed = s_send_pair(zsock_resolve(self->sock), record->data, record->data + 4, record->len - 4, 1, 0) != 0;
        } else
            failed = s_send_packed(self, n) != 0;
        if (failed) {
            s_refused(self, self->outbox[self->out_head]->seq);
            return -1;
        }
        self->blocked = 0;
        int64_t now = rtp_mono_ms();
        for (size_t i = 0; i < n; i++) {
            reader_record_t *record = self->outbox[self->out_head];
            self->outbox[self->out_head] = NULL;
            self->stats->sent++;
            self->out_head = (self->out_head + 1) % self->out_cap;
            self->out_count--;
            if (!self->window)
                reader_record_destroy(&record);
            else if (reader_window_add(self->window, record, now) != 0) {
                rtp_error("out of memory: EVENT seq %llu sent but will not be resent",
                          (unsigned long long) record->seq);
                reader_record_destroy(&record);
            }
        }
    }
    return 0;
}

/* Sends the overdue records of the window again, earliest deadline first, while
 * ZeroMQ takes them. */
static void s_resend_overdue(reader_forward_t *self)
{
    if (!self->window)
        return;
    int64_t now = rtp_mono_ms();
    reader_record_t *record;
    while ((record = reader_window_overdue(self->window, now)) != NULL) {
        if (s_send_record(self, record) != 0) {
            s_refused(self, record->seq);
            return;
        }
        reader_window_resent(self->window, record, now);
        self->stats->resent++;
        self->resent_unlogged++;
    }
}

/* Empties the message being built (keeps its origin). */
static void s_msg_reset(rtp_msg_t *msg)
{
    rtp_tweet_clear(&msg->tweet);
    free(msg->text);
    msg->text = NULL;
    free(msg->raw);
    msg->raw = NULL;
    msg->raw_len = 0;
}

/* Numbers and encodes the message being built (its kind, tweet, text and raw
 * set), then sends it: straight to ZeroMQ when nothing is kept, else through
 * the outbox, which holds it while ZeroMQ or the window cannot take it. */
static void s_emit(reader_forward_t *self, rtp_event_kind_t kind)
{
    rtp_msg_t *msg = self->msg;
    msg->seq = self->next_seq++;
    msg->kind = (uint8_t) kind;
    msg->received_us = self->received_us;
    self->stats->records++;
    uint8_t hdr[4];
    size_t len = 0;
    int rc = rtp_msg_encode(msg, hdr, &self->body, &self->body_cap, &len);
    s_msg_reset(msg);
    if (rc != 0) {
        rtp_error("cannot encode EVENT seq %llu: lost", (unsigned long long) msg->seq);
        return;
    }
    if (!self->window && self->out_count == 0) {
        if (s_send(self, hdr, self->body, len) == 0) {
            self->stats->sent++;
            return;
        }
        s_refused(self, msg->seq);
    }
    reader_record_t *record = reader_record_new(msg->seq, hdr, self->body, len);
    /* (a record spooled but not kept is sent again at the next start: harmless) */
    if (!record || (self->spool && reader_spool_add(self->spool, record) != 0) ||
        s_outbox_push(self, record) != 0) {
        rtp_error("out of memory: EVENT seq %llu lost", (unsigned long long) msg->seq);
        reader_record_destroy(&record);
        return;
    }
    if (self->spool)
        self->live_bytes += reader_spool_entry_bytes(record);
    /* the outbox goes out a bundle at a time, or in reader_forward_flush after a round of feeding */
    if (self->out_count >= SEND_BUNDLE)
        s_outbox_flush(self);
}

/* A bad event: forwarded as MALFORMED with the reason and the start of its data. */
static void s_emit_malformed(reader_forward_t *self, const char *reason, const char *data, size_t len)
{
    rtp_msg_set_str(&self->msg->text, reason);
    rtp_msg_set_raw(self->msg, data, len < RAW_MAX ? len : RAW_MAX);
    s_emit(self, RTP_EVENT_MALFORMED);
}

static void s_on_event(const rtp_sse_event_t *event, void *arg)
{
    reader_forward_t *self = arg;
    if (strcmp(event->type, "message") != 0) {
        self->stats->other_types++;
        rtp_debug("ignored an SSE event of type \"%.64s\" (%zu bytes)", event->type, event->data_len);
        return;
    }
    self->stats->events++;
    self->received_us = rtp_wall_us();
    rtp_decoded_t decoded;
    rtp_err_t err = {{0}};
    rtp_tweet_decode(event->data, event->data_len, &decoded, &err);
    if (decoded.kind == RTP_EVENT_TWEET) {
        self->stats->tweets++;
        if (decoded.count == 2)
            self->stats->retweets++;
        for (int i = 0; i < decoded.count; i++) {
            self->msg->tweet = decoded.tweets[i];
            memset(&decoded.tweets[i], 0, sizeof decoded.tweets[i]);
            s_emit(self, RTP_EVENT_TWEET);
        }
    } else if (decoded.kind == RTP_EVENT_PANIC) {
        self->stats->panics++;
        rtp_msg_set_str(&self->msg->text, "panic");
        rtp_msg_set_raw(self->msg, event->data, event->data_len < RAW_MAX ? event->data_len : RAW_MAX);
        s_emit(self, RTP_EVENT_PANIC);
        if (s_may_log(self))
            rtp_info("panic event forwarded as seq %llu", (unsigned long long) (self->next_seq - 1));
    } else {
        reader_stats_malformed(self->stats, err.msg);
        s_emit_malformed(self, err.msg, event->data, event->data_len);
        if (s_may_log(self))
            rtp_warn("malformed event (%zu bytes) forwarded as seq %llu: %s", event->data_len,
                     (unsigned long long) (self->next_seq - 1), err.msg);
    }
    rtp_decoded_clear(&decoded);
}

static void s_on_oversized(const char *reason, void *arg)
{
    reader_forward_t *self = arg;
    self->stats->oversized++;
    self->received_us = rtp_wall_us();
    s_emit_malformed(self, reason, "", 0);
    if (s_may_log(self))
        rtp_warn("oversized event forwarded as seq %llu: %s", (unsigned long long) (self->next_seq - 1),
                 reason);
}

/* Feeds the parser line by line while it may parse, so it stops right after the
 * event that filled the window or left a record waiting. Returns the bytes used. */
static size_t s_parse(reader_forward_t *self, const char *buf, size_t len)
{
    size_t pos = 0;
    /* where the next CR is (len: none), found once per piece: CRs are rare, and
     * searching the rest of the piece for one at every line would be quadratic */
    size_t cr = 0;
    int cr_known = 0;
    while (pos < len) {
        if (!s_may_parse(self) && !(self->out_count > 0 && s_outbox_flush(self) == 0 && s_may_parse(self)))
            break;
        if (!cr_known || (cr < pos && cr < len)) {
            const char *at = memchr(buf + pos, '\r', len - pos);
            cr = at ? (size_t) (at - buf) : len;
            cr_known = 1;
        }
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t) (nl - buf) : len;
        if (cr < end)
            end = cr;
        if (end < len)
            end++; /* the line end goes with its line; a CR's LF may follow in the next piece */
        rtp_sse_parser_feed(self->parser, buf + pos, end - pos);
        pos = end;
    }
    return pos;
}

/* Keeps bytes taken from the stream but not parsed yet (none are held now). */
static void s_hold(reader_forward_t *self, const char *buf, size_t len)
{
    if (len > self->held_cap) {
        char *grown = realloc(self->held, len);
        if (!grown) {
            rtp_error("out of memory: %zu bytes of the stream dropped", len);
            rtp_sse_parser_reset(self->parser);
            return;
        }
        self->held = grown;
        self->held_cap = len;
    }
    memcpy(self->held, buf, len);
    self->held_pos = 0;
    self->held_len = len;
}

static void s_end(reader_forward_t *self)
{
    if (rtp_sse_parser_in_event(self->parser)) {
        self->stats->truncated++;
        if (s_may_log(self))
            rtp_warn("an event was cut off by the end of the connection: discarded");
    }
    rtp_sse_parser_reset(self->parser);
}

/* Parses held bytes while it may; once they are all parsed, ends the connection
 * they came from if it has ended. */
static void s_parse_held(reader_forward_t *self)
{
    if (self->held_len > 0) {
        size_t used = s_parse(self, self->held + self->held_pos, self->held_len);
        self->held_pos += used;
        self->held_len -= used;
    }
    if (self->held_len == 0 && self->end_pending) {
        self->end_pending = 0;
        s_end(self);
    }
}

typedef struct {
    reader_record_t **list;
    size_t n;
} collect_t;

static void s_collect(reader_record_t *record, void *arg)
{
    collect_t *c = arg;
    c->list[c->n++] = record;
}

/* The spool's upkeep once a service round: writes the buffered acknowledgements,
 * compacts the file when it has grown well past its live records, syncs on its timer. */
static void s_spool_tick(reader_forward_t *self)
{
    if (!self->spool)
        return;
    rtp_err_t err = {{0}};
    if (s_spool_write(self) != 0)
        return;
    if (reader_spool_wants_rewrite(self->spool, self->live_bytes)) {
        collect_t c = {malloc((self->out_count + reader_window_size(self->window) + 1) * sizeof *c.list), 0};
        if (c.list) {
            reader_window_each(self->window, s_collect, &c);
            for (size_t i = 0; i < self->out_count; i++)
                c.list[c.n++] = self->outbox[(self->out_head + i) % self->out_cap];
            if (reader_spool_rewrite(self->spool, c.list, c.n, &err) != 0 && s_spool_may_log(self))
                rtp_error("%s", err.msg);
            free(c.list);
        }
    }
    if (reader_spool_full(self->spool) && s_spool_may_log(self))
        rtp_warn("spool full: %s holds %llu bytes (bound %llu); the stream waits for acknowledgements",
                 reader_spool_path(self->spool), (unsigned long long) reader_spool_file_bytes(self->spool),
                 (unsigned long long) self->spool_max);
    int64_t now = rtp_mono_ms();
    if (self->sync_ms > 0 && now >= self->next_sync_ms) {
        if (reader_spool_sync(self->spool, &err) != 0 && s_spool_may_log(self))
            rtp_error("%s", err.msg);
        self->next_sync_ms = now + self->sync_ms;
    }
}

/* Opens the spool and queues what it kept from the last run to go out first. */
static int s_spool_open(reader_forward_t *self, const reader_forward_config_t *config, rtp_err_t *err)
{
    reader_record_t **kept = NULL;
    size_t n = 0;
    self->spool = reader_spool_new(config->spool_dir, config->name, config->spool_max_bytes, &kept, &n, err);
    if (!self->spool)
        return -1;
    self->spool_max = config->spool_max_bytes;
    self->sync_ms = config->spool_sync_ms;
    self->next_sync_ms = rtp_mono_ms() + self->sync_ms;
    reader_spool_stats_t st;
    reader_spool_stats(self->spool, &st);
    if (st.dropped_bytes)
        rtp_warn("spool %s: its last %llu bytes were cut short or damaged (a torn write): dropped; the %zu "
                 "records before them are kept",
                 reader_spool_path(self->spool), (unsigned long long) st.dropped_bytes, n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && s_outbox_push(self, kept[i]) == 0) {
            self->live_bytes += reader_spool_entry_bytes(kept[i]);
            if (kept[i]->seq >= self->next_seq)
                self->next_seq = kept[i]->seq + 1;
        } else {
            reader_record_destroy(&kept[i]);
            rc = rtp_err_set(err, "out of memory");
        }
    }
    free(kept);
    self->stats->spooled += n;
    if (n > 0)
        rtp_info("spool %s: %zu records taken by the last run and not acknowledged: sending them again first",
                 reader_spool_path(self->spool), n);
    else
        rtp_info("spool %s: empty", reader_spool_path(self->spool));
    return rc;
}

reader_forward_t *reader_forward_new(const reader_forward_config_t *config, reader_stats_t *stats,
                                     rtp_err_t *err)
{
    reader_forward_t *self = calloc(1, sizeof *self);
    if (!self) {
        rtp_err_set(err, "out of memory");
        return NULL;
    }
    self->stats = stats;
    self->linger_ms = config->linger_ms;
    self->next_seq = (uint64_t) rtp_wall_us();
    self->parent = getppid();
    self->name = strdup(config->name);
    self->broker = strdup(config->broker);
    self->msg = rtp_msg_new(RTP_MSG_EVENT);
    rtp_sse_handler_t handler = {s_on_event, s_on_oversized, self};
    self->parser = rtp_sse_parser_new(config->max_event_bytes, handler);
    self->window_cap = config->window;
    if (config->window > 0)
        self->window = reader_window_new(config->window, config->ack_timeout_ms, config->ack_backoff_max_ms);
    if (!self->name || !self->broker || !self->msg || !self->parser ||
        (config->window > 0 && !self->window) || rtp_msg_set_str(&self->msg->origin, config->name) != 0) {
        rtp_err_set(err, "out of memory");
        reader_forward_destroy(&self);
        return NULL;
    }
    if (config->spool_dir && *config->spool_dir && !self->window)
        rtp_warn("--spool-dir is ignored with --window 0: nothing is acknowledged, so nothing is kept");
    if (config->spool_dir && *config->spool_dir && self->window && s_spool_open(self, config, err) != 0) {
        reader_forward_destroy(&self);
        return NULL;
    }
    self->sock = zsock_new(ZMQ_DEALER);
    if (!self->sock) {
        rtp_err_set(err, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
        reader_forward_destroy(&self);
        return NULL;
    }
    zsock_set_sndhwm(self->sock, config->send_hwm);
    zsock_set_linger(self->sock, config->linger_ms);
    if (rtp_curve_client(self->sock, err) != 0) {
        reader_forward_destroy(&self);
        return NULL;
    }
    if (zsock_connect(self->sock, "%s", config->broker) != 0) {
        rtp_err_set(err, "cannot connect to the broker at %s: %s", config->broker, zmq_strerror(errno));
        reader_forward_destroy(&self);
        return NULL;
    }
    return self;
}

void reader_forward_destroy(reader_forward_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reader_forward_t *self = *self_p;
    if (self->sock) {
        /* What was taken from the stream goes to the broker rather than nowhere,
         * whether or not it can still be acknowledged; with a spool it goes there,
         * and the next start sends it: no waiting for the broker (linger 0). */
        self->closing = 1;
        s_parse_held(self);
        s_spool_write(self);
        int64_t deadline = rtp_mono_ms() + (self->spool ? 0 : self->linger_ms);
        while (!self->spool && s_outbox_flush(self) != 0 && rtp_mono_ms() < deadline) {
            zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLOUT, 0};
            zmq_poll(&item, 1, (long) (deadline - rtp_mono_ms()));
        }
        if (self->out_count > 0 && !self->spool)
            rtp_warn("%zu events could not be handed to the broker at %s before exit", self->out_count,
                     self->broker);
        /* What ZeroMQ still queues may take the rest of the linger time, no more. */
        int64_t left = deadline - rtp_mono_ms();
        zsock_set_linger(self->sock, left > 0 ? (int) left : 0);
        zsock_destroy(&self->sock);
    }
    if (self->log_suppressed)
        rtp_warn("%llu more bad-event lines suppressed", (unsigned long long) self->log_suppressed);
    if (self->window)
        s_resend_log(self, 1);
    if (self->spool) {
        reader_spool_stats_t st;
        reader_spool_stats(self->spool, &st);
        rtp_info("spool: %llu writes, %llu bytes written, %llu syncs, %llu compactions",
                 (unsigned long long) st.writes, (unsigned long long) st.bytes_written,
                 (unsigned long long) st.syncs, (unsigned long long) st.compactions);
        size_t kept = self->out_count + reader_window_size(self->window);
        if (kept > 0)
            rtp_warn(
                "%zu records not acknowledged stay in the spool %s: they are sent again at the next start",
                kept, reader_spool_path(self->spool));
        reader_spool_destroy(&self->spool, kept == 0);
    }
    while (self->out_count > 0) {
        reader_record_destroy(&self->outbox[self->out_head]);
        self->out_head = (self->out_head + 1) % self->out_cap;
        self->out_count--;
    }
    free(self->outbox);
    free(self->pack);
    reader_window_destroy(&self->window);
    free(self->held);
    free(self->body);
    rtp_msg_destroy(&self->msg);
    rtp_sse_parser_destroy(&self->parser);
    free(self->name);
    free(self->broker);
    free(self);
    *self_p = NULL;
}

int reader_forward_feed(reader_forward_t *self, const char *buf, size_t len)
{
    if (self->held_len > 0 || !s_may_parse(self)) {
        if (s_window_full(self)) {
            self->stats->window_full_pauses++;
            int64_t now = rtp_mono_ms();
            if (now - self->full_log_ms >= FULL_LOG_MS || !self->full_log_ms) {
                self->full_log_ms = now;
                rtp_warn("window full: %zu records sent and not acknowledged; the stream waits for "
                         "acknowledgements",
                         reader_window_size(self->window));
            }
        }
        return 0;
    }
    size_t used = s_parse(self, buf, len);
    if (used < len)
        s_hold(self, buf + used, len - used);
    return 1;
}

void reader_forward_flush(reader_forward_t *self)
{
    s_outbox_flush(self);
}

void reader_forward_end(reader_forward_t *self)
{
    if (self->held_len > 0) {
        rtp_debug("the connection ended with %zu bytes still to parse", self->held_len);
        self->end_pending = 1;
    } else
        s_end(self);
}

int reader_forward_ready(const reader_forward_t *self)
{
    return self->held_len == 0 && s_may_parse(self);
}

int reader_forward_fd(reader_forward_t *self)
{
    return zsock_fd(self->sock);
}

/* ACK: the records of these seqs are persisted; they leave the window. */
static void s_on_ack(reader_forward_t *self, const rtp_msg_t *msg)
{
    if (strcmp(msg->origin ? msg->origin : "", self->name) != 0) {
        self->stats->unknown_acks += msg->ack_count;
        if (s_may_log(self))
            rtp_warn("an ACK for origin \"%.64s\", not \"%s\": its %u seqs ignored",
                     msg->origin ? msg->origin : "", self->name, msg->ack_count);
        return;
    }
    for (uint32_t i = 0; i < msg->ack_count; i++) {
        const reader_record_t *record = reader_window_find(self->window, msg->acks[i]);
        if (record && self->spool) {
            self->live_bytes -= reader_spool_entry_bytes(record);
            if (reader_spool_ack(self->spool, msg->acks[i]) != 0)
                rtp_warn("out of memory: the acknowledgement of seq %llu is not spooled (it may be resent)",
                         (unsigned long long) msg->acks[i]);
        }
        if (reader_window_ack(self->window, msg->acks[i]))
            self->stats->acked++;
        else
            self->stats->unknown_acks++;
    }
}

void reader_forward_service(reader_forward_t *self)
{
    for (int i = 0; i < RECV_BATCH && (zsock_events(self->sock) & ZMQ_POLLIN); i++) {
        rtp_err_t err = {{0}};
        rtp_msg_t *msg = rtp_msg_recv(self->sock, NULL, ZMQ_DONTWAIT, &err);
        if (msg && msg->type == RTP_MSG_ACK && self->window)
            s_on_ack(self, msg);
        else if (msg) {
            self->stats->ignored_in++;
            rtp_debug("ignored a %s message from the broker", rtp_msg_type_name(msg->type));
        } else if (strncmp(err.msg, "receive:", 8) == 0)
            break; /* nothing more to read now */
        else if (s_may_log(self))
            rtp_warn("dropped a bad message from the broker: %s", err.msg);
        rtp_msg_destroy(&msg);
    }
    s_resend_overdue(self);
    s_outbox_flush(self);
    s_parse_held(self);
    s_outbox_flush(self);
    s_spool_tick(self);
    s_log_tick(self);
    if (self->window) {
        s_resend_log(self, 0);
        self->stats->window = reader_window_size(self->window);
    }
    /* Reading ZMQ_EVENTS last re-arms the edge-triggered descriptor. */
    zsock_events(self->sock);
}

int64_t reader_forward_wait_ms(const reader_forward_t *self)
{
    int64_t next = self->window ? reader_window_next_ms(self->window, rtp_mono_ms()) : -1;
    if (self->blocked && (self->out_count > 0 || next == 0))
        return BLOCKED_RETRY_MS;
    return next;
}

size_t reader_forward_drain(reader_forward_t *self, int64_t drain_ms, void (*tick)(void *arg), void *arg)
{
    if (!self->window)
        return 0;
    int64_t start = rtp_mono_ms();
    reader_forward_service(self);
    size_t waiting = reader_window_size(self->window) + self->out_count;
    if (waiting == 0 && self->held_len == 0)
        return 0;
    rtp_info("waiting up to %lld ms for %zu records to be acknowledged%s", (long long) drain_ms, waiting,
             self->held_len ? " (and the rest of the last read)" : "");
    /* a second SIGINT/SIGTERM ends the wait: the spool keeps what is left */
    while ((reader_window_size(self->window) > 0 || self->out_count > 0 || self->held_len > 0) &&
           rtp_mono_ms() - start < drain_ms && rtp_stop_signals() < 2 &&
           (!self->spool || getppid() == self->parent)) {
        int64_t wait = drain_ms - (rtp_mono_ms() - start);
        int64_t due = reader_forward_wait_ms(self);
        if (due >= 0 && due < wait)
            wait = due;
        if (wait > DRAIN_POLL_MS)
            wait = DRAIN_POLL_MS;
        zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0};
        zmq_poll(&item, 1, (long) (wait > 0 ? wait : 0));
        reader_forward_service(self);
        if (tick)
            tick(arg);
    }
    size_t left = reader_window_size(self->window) + self->out_count;
    int64_t took = rtp_mono_ms() - start;
    if (left > 0 || self->held_len > 0)
        rtp_warn(
            "gave up waiting for acknowledgements after %lld ms: %zu records unacknowledged (%zu of them "
            "not sent yet)%s%s",
            (long long) took, left, self->out_count,
            self->held_len ? ", and part of the last read not parsed" : "",
            self->spool ? "; the spool keeps them" : "");
    else
        rtp_info("every record acknowledged after %lld ms", (long long) took);
    return left;
}

uint64_t reader_forward_next_seq(const reader_forward_t *self)
{
    return self->next_seq;
}
