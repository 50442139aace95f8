#include "forward.h"

#include "log.h"
#include "proto.h"
#include "sse.h"
#include "tweet.h"
#include "util.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RAW_MAX 4096    /* bytes of a bad event's data kept in its EVENT */
#define LOG_BURST 5     /* bad-event lines per second before suppressing */
#define RECV_BATCH 1000 /* incoming messages read per service call */

struct reader_forward_t {
    reader_stats_t *stats;
    char *name;
    char *broker;
    int linger_ms;
    zsock_t *sock;
    rtp_sse_parser_t *parser;

    /* The message being built: reused for every EVENT that ZeroMQ takes at once,
     * so the hot path allocates nothing but the decoded record. */
    rtp_msg_t *msg;
    int64_t received_us; /* of the event being forwarded */

    /* Messages ZeroMQ could not take yet, oldest first (a ring). */
    rtp_msg_t **outbox;
    size_t out_head, out_count, out_cap;

    /* Rate limit of the bad-event log lines */
    int64_t log_window_ms;
    int log_lines;
    uint64_t log_suppressed;
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

static int s_outbox_push(reader_forward_t *self, rtp_msg_t *msg)
{
    if (self->out_count == self->out_cap) {
        size_t cap = self->out_cap ? self->out_cap * 2 : 64;
        rtp_msg_t **grown = malloc(cap * sizeof *grown);
        if (!grown)
            return -1;
        for (size_t i = 0; i < self->out_count; i++)
            grown[i] = self->outbox[(self->out_head + i) % self->out_cap];
        free(self->outbox);
        self->outbox = grown;
        self->out_cap = cap;
        self->out_head = 0;
    }
    self->outbox[(self->out_head + self->out_count) % self->out_cap] = msg;
    self->out_count++;
    return 0;
}

/* Moves the outbox into ZeroMQ while it takes messages; 0 when the outbox is empty. */
static int s_outbox_flush(reader_forward_t *self)
{
    while (self->out_count > 0) {
        rtp_msg_t *msg = self->outbox[self->out_head];
        if (rtp_msg_send(msg, self->sock, NULL, ZMQ_DONTWAIT) != 0)
            return -1;
        self->stats->sent++;
        rtp_msg_destroy(&msg);
        self->out_head = (self->out_head + 1) % self->out_cap;
        self->out_count--;
    }
    return 0;
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

/* Moves the message being built into a new outbox entry. */
static void s_park(reader_forward_t *self)
{
    rtp_msg_t *m = rtp_msg_new(RTP_MSG_EVENT);
    if (!m || rtp_msg_set_str(&m->origin, self->name) != 0 || s_outbox_push(self, m) != 0) {
        /* Out of memory with the broker unreachable: nothing left to do but say so. */
        rtp_error("out of memory: event seq %llu lost", (unsigned long long) self->msg->seq);
        rtp_msg_destroy(&m);
        s_msg_reset(self->msg);
        return;
    }
    m->seq = self->msg->seq;
    m->kind = self->msg->kind;
    m->received_us = self->msg->received_us;
    m->tweet = self->msg->tweet;
    memset(&self->msg->tweet, 0, sizeof self->msg->tweet);
    m->text = self->msg->text;
    m->raw = self->msg->raw;
    m->raw_len = self->msg->raw_len;
    self->msg->text = NULL;
    self->msg->raw = NULL;
    self->msg->raw_len = 0;
}

/* Numbers and sends the message being built (its kind, tweet, text and raw set),
 * or parks it in the outbox when ZeroMQ cannot take it now. */
static void s_emit(reader_forward_t *self, rtp_event_kind_t kind)
{
    rtp_msg_t *msg = self->msg;
    msg->seq = ++self->stats->records;
    msg->kind = (uint8_t) kind;
    msg->received_us = self->received_us;
    if (self->out_count == 0 && rtp_msg_send(msg, self->sock, NULL, ZMQ_DONTWAIT) == 0) {
        self->stats->sent++;
        s_msg_reset(msg);
        return;
    }
    if (self->out_count == 0 && errno != EAGAIN && errno != EINTR)
        rtp_error("sending EVENT seq %llu: %s; keeping it to retry", (unsigned long long) msg->seq,
                  zmq_strerror(errno));
    s_park(self);
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
            rtp_info("panic event forwarded as seq %llu", (unsigned long long) self->stats->records);
    } else {
        reader_stats_malformed(self->stats, err.msg);
        s_emit_malformed(self, err.msg, event->data, event->data_len);
        if (s_may_log(self))
            rtp_warn("malformed event (%zu bytes) forwarded as seq %llu: %s", event->data_len,
                     (unsigned long long) self->stats->records, err.msg);
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
        rtp_warn("oversized event forwarded as seq %llu: %s", (unsigned long long) self->stats->records,
                 reason);
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
    self->name = strdup(config->name);
    self->broker = strdup(config->broker);
    self->msg = rtp_msg_new(RTP_MSG_EVENT);
    rtp_sse_handler_t handler = {s_on_event, s_on_oversized, self};
    self->parser = rtp_sse_parser_new(config->max_event_bytes, handler);
    if (!self->name || !self->broker || !self->msg || !self->parser ||
        rtp_msg_set_str(&self->msg->origin, config->name) != 0) {
        rtp_err_set(err, "out of memory");
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
        int64_t deadline = rtp_mono_ms() + self->linger_ms;
        while (s_outbox_flush(self) != 0 && rtp_mono_ms() < deadline) {
            zmq_pollitem_t item = {zsock_resolve(self->sock), 0, ZMQ_POLLOUT, 0};
            zmq_poll(&item, 1, (long) (deadline - rtp_mono_ms()));
        }
        if (self->out_count > 0)
            rtp_warn("%zu events could not be handed to the broker at %s before exit", self->out_count,
                     self->broker);
        /* What ZeroMQ still queues may take the rest of the linger time, no more. */
        int64_t left = deadline - rtp_mono_ms();
        zsock_set_linger(self->sock, left > 0 ? (int) left : 0);
        zsock_destroy(&self->sock);
    }
    if (self->log_suppressed)
        rtp_warn("%llu more bad-event lines suppressed", (unsigned long long) self->log_suppressed);
    while (self->out_count > 0) {
        rtp_msg_destroy(&self->outbox[self->out_head]);
        self->out_head = (self->out_head + 1) % self->out_cap;
        self->out_count--;
    }
    free(self->outbox);
    rtp_msg_destroy(&self->msg);
    rtp_sse_parser_destroy(&self->parser);
    free(self->name);
    free(self->broker);
    free(self);
    *self_p = NULL;
}

int reader_forward_feed(reader_forward_t *self, const char *buf, size_t len)
{
    if (self->out_count > 0 && s_outbox_flush(self) != 0)
        return 0;
    rtp_sse_parser_feed(self->parser, buf, len);
    return 1;
}

void reader_forward_end(reader_forward_t *self)
{
    if (rtp_sse_parser_in_event(self->parser)) {
        self->stats->truncated++;
        if (s_may_log(self))
            rtp_warn("an event was cut off by the end of the connection: discarded");
    }
    rtp_sse_parser_reset(self->parser);
}

int reader_forward_fd(reader_forward_t *self)
{
    return zsock_fd(self->sock);
}

void reader_forward_service(reader_forward_t *self)
{
    for (int i = 0; i < RECV_BATCH && (zsock_events(self->sock) & ZMQ_POLLIN); i++) {
        rtp_err_t err = {{0}};
        rtp_msg_t *msg = rtp_msg_recv(self->sock, NULL, ZMQ_DONTWAIT, &err);
        if (msg) {
            self->stats->ignored_in++;
            rtp_debug("ignored a %s message from the broker", rtp_msg_type_name(msg->type));
            rtp_msg_destroy(&msg);
        } else if (strncmp(err.msg, "receive:", 8) == 0)
            break; /* nothing more to read now */
        else if (s_may_log(self))
            rtp_warn("dropped a bad message from the broker: %s", err.msg);
    }
    s_outbox_flush(self);
    s_log_tick(self);
    /* Reading ZMQ_EVENTS last re-arms the edge-triggered descriptor. */
    zsock_events(self->sock);
}

size_t reader_forward_pending(const reader_forward_t *self)
{
    return self->out_count;
}
